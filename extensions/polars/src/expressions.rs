//! The catalogue's functions as Polars expressions: two plugin entry points, one for aggregates
//! and one for scalars (pairwise `_join` forms, state readers, clocks), each told which catalogue
//! function to run through its kwargs. The Python layer (`polars_crdt/__init__.py`) gives each
//! function its own name and signature.

use arrow_array::ArrayRef;
use arrow_schema::DataType as ArrowType;
use crdt_merge_kernel::catalogue::{invoke_scalar, scalar_return_type};
use crdt_merge_kernel::strategy::{Aggregate, Single, State};
use polars::prelude::*;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

use crate::error::{guard, kernel_err};
use crate::ffi::{field_from_arrow, field_to_arrow, series_from_arrow, series_to_arrow};

/// Which catalogue function to run, and the Python name to report in errors.
#[derive(Deserialize)]
pub struct FnKwargs {
    /// Catalogue (SQL) name, e.g. `crdt_lww`.
    name: String,
    /// Python name, e.g. `lww`.
    py: String,
}

fn arrow_types(fields: &[Field]) -> PolarsResult<Vec<ArrowType>> {
    fields
        .iter()
        .map(|f| field_to_arrow(f).map(|f| f.data_type().clone()))
        .collect()
}

/// Constants (priority levels, separators) arrive as one-row literals; stretch them to the
/// length of the columns, or shrink them to an empty group.
fn align(py: &str, inputs: &[Series]) -> PolarsResult<(Vec<ArrayRef>, usize)> {
    let n = inputs.iter().map(|s| s.len()).max().unwrap_or(0);
    let n = if inputs.iter().any(|s| s.is_empty()) {
        0
    } else {
        n
    };
    let mut out = Vec::with_capacity(inputs.len());
    for s in inputs {
        let s = match s.len() {
            l if l == n => s.clone(),
            1 => s.new_from_index(0, n),
            _ if n == 0 => s.slice(0, 0),
            l => {
                polars_bail!(ShapeMismatch: "polars_crdt.{}: argument `{}` has {} rows, expected {} (the other arguments' length) or 1", py, s.name(), l, n)
            }
        };
        out.push(series_to_arrow(&s)?);
    }
    Ok((out, n))
}

fn output_name(inputs: &[Series]) -> PlSmallStr {
    inputs
        .first()
        .map(|s| s.name().clone())
        .unwrap_or_else(|| PlSmallStr::from_static("crdt"))
}

fn aggregate_field(fields: &[Field], kwargs: FnKwargs) -> PolarsResult<Field> {
    guard(&kwargs.py, || {
        let agg = Aggregate::new(&kwargs.name, &arrow_types(fields)?)
            .map_err(|e| kernel_err(&kwargs.py, e))?;
        let f = arrow_schema::Field::new("x", agg.return_type().clone(), true);
        let name = fields
            .first()
            .map(|f| f.name().clone())
            .unwrap_or_else(|| PlSmallStr::from_static("crdt"));
        Ok(Field::new(name, field_from_arrow(&f)?.dtype().clone()))
    })
}

/// A grouped merge: the join of every row of the group (or of the whole column) into one value.
#[polars_expr(output_type_func_with_kwargs=aggregate_field)]
fn crdt_aggregate(inputs: &[Series], kwargs: FnKwargs) -> PolarsResult<Series> {
    guard(&kwargs.py, || {
        let (args, _) = align(&kwargs.py, inputs)?;
        let types: Vec<ArrowType> = args.iter().map(|a| a.data_type().clone()).collect();
        let err = |e| kernel_err(&kwargs.py, e);
        let agg = Aggregate::new(&kwargs.name, &types).map_err(err)?;
        let mut state = State::Empty;
        agg.update(&args, &mut Single(&mut state)).map_err(err)?;
        let out = agg.finish(&[&state]).map_err(err)?;
        series_from_arrow(output_name(inputs), &out)
    })
}

fn scalar_field(fields: &[Field], kwargs: FnKwargs) -> PolarsResult<Field> {
    guard(&kwargs.py, || {
        let dt = scalar_return_type(&kwargs.name, &arrow_types(fields)?)
            .map_err(|e| kernel_err(&kwargs.py, e))?;
        let f = arrow_schema::Field::new("x", dt, true);
        let name = fields
            .first()
            .map(|f| f.name().clone())
            .unwrap_or_else(|| PlSmallStr::from_static("crdt"));
        Ok(Field::new(name, field_from_arrow(&f)?.dtype().clone()))
    })
}

/// A row-by-row function: pairwise joins, state readers and merges, clocks.
#[polars_expr(output_type_func_with_kwargs=scalar_field)]
fn crdt_scalar(inputs: &[Series], kwargs: FnKwargs) -> PolarsResult<Series> {
    guard(&kwargs.py, || {
        let (args, n) = align(&kwargs.py, inputs)?;
        let out = invoke_scalar(&kwargs.name, &args, n).map_err(|e| kernel_err(&kwargs.py, e))?;
        series_from_arrow(output_name(inputs), &out)
    })
}
