//! # polars-crdt
//!
//! The crdt-merge kernel as a Polars expression plugin (Python package `polars_crdt`). This
//! crate only converts and registers: Polars columns cross to the kernel's arrow-rs arrays
//! through the Arrow C data interface without copying ([`ffi`]), each plugin entry point calls
//! one kernel function, and kernel errors become Polars errors naming the Python function
//! ([`error`]).
//!
//! * [`expressions`]: `crdt_aggregate` (the catalogue's aggregates, one value per group) and
//!   `crdt_scalar` (its scalars: pairwise `_join` forms, state readers, clocks);
//! * [`merge`]: `crdt_table_merge`, the kernel's table merge over a packed struct column.

pub mod error;
// `#[polars_expr]` generates `extern "C"` entry points that cannot carry doc comments.
#[allow(missing_docs)]
pub mod expressions;
pub mod ffi;
#[allow(missing_docs)]
pub mod merge;

use crdt_merge_kernel::catalogue::{FunctionKind, CATALOGUE};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3_polars::{PolarsAllocator, PyDataFrame};

// Allocations must come from Polars' allocator: buffers created here are freed by Polars.
#[global_allocator]
static ALLOC: PolarsAllocator = PolarsAllocator::new();

/// The kernel's version (what `crdt_version()` returns in the SQL engines).
#[pyfunction]
fn kernel_version() -> &'static str {
    crdt_merge_kernel::VERSION
}

/// The catalogue as `(sql_name, is_aggregate, [argument names of each overload])`, so the Python
/// layer can check it exposes every function.
#[pyfunction]
fn catalogue() -> Vec<(&'static str, bool, Vec<Vec<&'static str>>)> {
    CATALOGUE
        .iter()
        .map(|f| {
            (
                f.name,
                f.kind == FunctionKind::Aggregate,
                f.signatures
                    .iter()
                    .map(|s| s.args.iter().map(|a| a.name).collect())
                    .collect(),
            )
        })
        .collect()
}

/// Parses a MergeQL query; returns its source names and its WHERE predicate (raw SQL the caller
/// applies to every input before the merge).
#[pyfunction]
fn parse_mergeql(query: &str) -> PyResult<(Vec<String>, Option<String>)> {
    let spec = crdt_merge_kernel::mergeql::parse(query).map_err(|e| {
        PyValueError::new_err(format!("polars_crdt.mergeql: argument `query`: {e}"))
    })?;
    Ok((spec.sources.iter().map(|s| s.id()).collect(), spec.filter))
}

/// Checks that the columns of `frames` (empty frames carrying each input's schema) widen to one
/// type per name under the kernel's rules ([`crdt_merge_kernel::table::widen`]), before Python
/// stacks them with Polars' relaxed concat, which would cast an integer and a text column to
/// text instead of refusing them.
#[pyfunction]
fn check_types(function: &str, frames: Vec<PyDataFrame>) -> PyResult<()> {
    let fail = |msg: String| PyValueError::new_err(format!("polars_crdt.{function}: {msg}"));
    let mut seen: Vec<(String, arrow_schema::DataType)> = Vec::new();
    for frame in frames {
        let frame: polars::prelude::DataFrame = frame.into();
        for (name, dtype) in frame.schema().iter() {
            let field = polars::prelude::Field::new(name.clone(), dtype.clone());
            let field = ffi::field_to_arrow(&field).map_err(|e| fail(e.to_string()))?;
            if field.data_type() == &arrow_schema::DataType::Null {
                continue;
            }
            match seen.iter_mut().find(|(name, _)| name == field.name()) {
                Some((name, dt)) => {
                    *dt = crdt_merge_kernel::table::widen(name, dt, field.data_type())
                        .map_err(|e| fail(e.to_string()))?;
                }
                None => seen.push((field.name().clone(), field.data_type().clone())),
            }
        }
    }
    Ok(())
}

#[pymodule]
fn _internal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(kernel_version, m)?)?;
    m.add_function(wrap_pyfunction!(catalogue, m)?)?;
    m.add_function(wrap_pyfunction!(parse_mergeql, m)?)?;
    m.add_function(wrap_pyfunction!(check_types, m)?)?;
    Ok(())
}
