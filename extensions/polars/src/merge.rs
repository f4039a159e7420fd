//! Table merge as one whole-column plugin call.
//!
//! The Python layer concatenates the replicas diagonally with a source-index column, packs every
//! column into one struct and calls [`crdt_table_merge`] once over the whole column (Polars would
//! call a grouped plugin once per group, which is slow with millions of keys). Here the struct is
//! split back into replicas — zero-copy slices of each run of one source — and handed to the
//! kernel's `table::merge`, whose result (a struct of the merged columns, ordered by key) the
//! Python layer unnests.
//!
//! For two DataFrames whose keys are unique within each, the Python layer instead aligns the rows
//! itself (both frames stacked and sorted by key, each row paired with the next one of the same
//! key) and calls [`crdt_aligned_merge`], an elementwise plugin over the two sides packed as
//! structs, which hands them to the kernel's `table::merge_aligned` (the kernel's join plan
//! without its key grouping), on row ranges in parallel.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType as ArrowType, Schema};
use crdt_merge_kernel::mergeql::{self, MergeSpec, Source};
use crdt_merge_kernel::schema_map::apply_schema_json;
use crdt_merge_kernel::table::{self, merge_aligned, PlanChoice, Replica};
use polars::prelude::*;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

use crate::error::{guard, kernel_err};
use crate::ffi::{chunk_to_arrow, field_from_arrow, field_to_arrow, series_from_arrow};

/// What to merge: the Python arguments of `merge()` / `mergeql()`.
#[derive(Deserialize)]
pub struct MergeKwargs {
    /// Python function name for errors (`merge` or `mergeql`).
    py: String,
    /// Replica names, indexed by the source column's values.
    sources: Vec<String>,
    /// The column holding each row's source index (UInt32).
    source_column: String,
    key: Vec<String>,
    /// Strategy map or `MergeSchema.to_dict()`, as JSON.
    strategies: Option<String>,
    ts: Option<String>,
    replica: Option<String>,
    tombstone: Option<String>,
    provenance: bool,
    /// A MergeQL query, used instead of the fields above; its WHERE was applied by the caller.
    mergeql: Option<String>,
}

fn build_spec(k: &MergeKwargs, columns: &[String]) -> PolarsResult<MergeSpec> {
    let err = |e| kernel_err(&k.py, e);
    if let Some(q) = &k.mergeql {
        let mut spec = mergeql::parse(q).map_err(err)?;
        spec.filter = None;
        return Ok(spec);
    }
    let mut spec = MergeSpec::new(k.sources.iter().map(Source::table), k.key.iter().cloned());
    if let Some(ts) = &k.ts {
        spec = spec.with_clock(ts.clone());
    }
    if let Some(r) = &k.replica {
        spec = spec.with_replica(r.clone());
    }
    if let Some(t) = &k.tombstone {
        spec = spec.with_tombstone(t.clone());
    }
    if k.provenance {
        spec = spec.with_provenance();
    }
    match &k.strategies {
        Some(json) => apply_schema_json(spec, json, columns).map_err(err),
        None => {
            spec.validate().map_err(err)?;
            Ok(spec)
        }
    }
}

/// The data columns of the packed struct (everything but the source column).
fn data_schema(k: &MergeKwargs, dt: &ArrowType) -> PolarsResult<(Arc<Schema>, usize)> {
    let ArrowType::Struct(fields) = dt else {
        polars_bail!(ComputeError: "polars_crdt.{}: internal error: expected the packed struct of all columns, found {}", k.py, dt);
    };
    let Some(src) = fields.iter().position(|f| f.name() == &k.source_column) else {
        polars_bail!(ComputeError: "polars_crdt.{}: internal error: source column `{}` missing", k.py, k.source_column);
    };
    let kept: Vec<_> = fields
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != src)
        .map(|(_, f)| f.clone())
        .collect();
    Ok((Arc::new(Schema::new(kept)), src))
}

fn columns_of(schema: &Schema) -> Vec<String> {
    schema.fields().iter().map(|f| f.name().clone()).collect()
}

fn run_merge(
    k: &MergeKwargs,
    replicas: &[Replica],
    columns: &[String],
) -> PolarsResult<StructArray> {
    let spec = build_spec(k, columns)?;
    let out = table::merge(replicas, &spec, PlanChoice::Auto).map_err(|e| kernel_err(&k.py, e))?;
    Ok(StructArray::from(out.batch))
}

fn merge_field(fields: &[Field], kwargs: MergeKwargs) -> PolarsResult<Field> {
    guard(&kwargs.py, || {
        let input = field_to_arrow(&fields[0])?;
        let (schema, _) = data_schema(&kwargs, input.data_type())?;
        // The output schema is whatever the kernel makes of empty replicas of this schema.
        let replicas: Vec<Replica> = kwargs
            .sources
            .iter()
            .map(|n| Replica {
                name: n.clone(),
                batches: vec![RecordBatch::new_empty(schema.clone())],
            })
            .collect();
        let out = run_merge(&kwargs, &replicas, &columns_of(&schema))?;
        let f = arrow_schema::Field::new(fields[0].name().as_str(), out.data_type().clone(), true);
        field_from_arrow(&f)
    })
}

/// Merges the replicas packed in one struct column; returns the merged rows as a struct column.
#[polars_expr(output_type_func_with_kwargs=merge_field)]
fn crdt_table_merge(inputs: &[Series], kwargs: MergeKwargs) -> PolarsResult<Series> {
    guard(&kwargs.py, || {
        let packed = &inputs[0];
        let input = field_to_arrow(packed.field().as_ref())?;
        let (schema, src) = data_schema(&kwargs, input.data_type())?;
        let mut replicas: Vec<Replica> = kwargs
            .sources
            .iter()
            .map(|n| Replica {
                name: n.clone(),
                batches: Vec::new(),
            })
            .collect();
        for chunk in 0..packed.n_chunks() {
            let array = chunk_to_arrow(packed, chunk)?;
            let Some(st) = array.as_struct_opt() else {
                polars_bail!(ComputeError: "polars_crdt.{}: internal error: packed column is not a struct", kwargs.py);
            };
            let sources = st.column(src).as_primitive::<UInt32Type>();
            let columns: Vec<ArrayRef> = st
                .columns()
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != src)
                .map(|(_, c)| c.clone())
                .collect();
            let batch = RecordBatch::try_new(schema.clone(), columns).map_err(
                |e| polars_err!(ComputeError: "polars_crdt.{}: internal error: {}", kwargs.py, e),
            )?;
            let values = sources.values();
            let mut start = 0;
            while start < values.len() {
                let s = values[start];
                let mut end = start + 1;
                while end < values.len() && values[end] == s {
                    end += 1;
                }
                let Some(r) = replicas.get_mut(s as usize) else {
                    polars_bail!(ComputeError: "polars_crdt.{}: internal error: source index {} out of range", kwargs.py, s);
                };
                r.batches.push(batch.slice(start, end - start));
                start = end;
            }
        }
        for r in replicas.iter_mut().filter(|r| r.batches.is_empty()) {
            r.batches.push(RecordBatch::new_empty(schema.clone()));
        }
        let out = run_merge(&kwargs, &replicas, &columns_of(&schema))?;
        series_from_arrow(packed.name().clone(), &(Arc::new(out) as ArrayRef))
    })
}

/// A packed struct column as a record batch of its fields.
fn struct_batch(py: &str, s: &Series) -> PolarsResult<RecordBatch> {
    let array = crate::ffi::series_to_arrow(s)?;
    let Some(st) = array.as_struct_opt() else {
        polars_bail!(ComputeError: "polars_crdt.{}: internal error: a side is not a packed struct", py);
    };
    let (fields, columns, _) = st.clone().into_parts();
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(st.len())),
    )
    .map_err(|e| polars_err!(ComputeError: "polars_crdt.{}: internal error: {}", py, e))
}

fn side_columns(l: &Schema, r: &Schema) -> Vec<String> {
    let mut names = columns_of(l);
    names.extend(
        columns_of(r)
            .into_iter()
            .filter(|c| l.field_with_name(c).is_err()),
    );
    names
}

fn run_aligned(k: &MergeKwargs, l: &RecordBatch, r: &RecordBatch) -> PolarsResult<StructArray> {
    let spec = build_spec(k, &side_columns(&l.schema(), &r.schema()))?;
    let out = merge_aligned(l, r, &spec).map_err(|e| kernel_err(&k.py, e))?;
    Ok(StructArray::from(out))
}

fn aligned_field(fields: &[Field], kwargs: MergeKwargs) -> PolarsResult<Field> {
    guard(&kwargs.py, || {
        let empty = |f: &Field| -> PolarsResult<RecordBatch> {
            match field_to_arrow(f)?.data_type() {
                ArrowType::Struct(fs) => {
                    Ok(RecordBatch::new_empty(Arc::new(Schema::new(fs.clone()))))
                }
                dt => {
                    polars_bail!(ComputeError: "polars_crdt.{}: internal error: a side is {}, not a packed struct", kwargs.py, dt)
                }
            }
        };
        let out = run_aligned(&kwargs, &empty(&fields[0])?, &empty(&fields[1])?)?;
        let f = arrow_schema::Field::new(fields[0].name().as_str(), out.data_type().clone(), true);
        field_from_arrow(&f)
    })
}

/// Rows per task below which splitting the aligned merge across threads does not pay.
const MIN_ROWS_PER_TASK: usize = 256 * 1024;

/// Merges two replicas already aligned row by row (the Python layer pairs each key's rows);
/// returns the merged non-key columns as a struct column.
///
/// Rows are independent here, so large inputs are cut into one row range per core, merged on
/// scoped threads and returned as that many chunks (no copy to stitch them together).
#[polars_expr(output_type_func_with_kwargs=aligned_field)]
fn crdt_aligned_merge(inputs: &[Series], kwargs: MergeKwargs) -> PolarsResult<Series> {
    guard(&kwargs.py, || {
        let l = struct_batch(&kwargs.py, &inputs[0])?;
        let r = struct_batch(&kwargs.py, &inputs[1])?;
        let n = l.num_rows();
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let tasks = cores.min(n / MIN_ROWS_PER_TASK).max(1);
        let name = inputs[0].name().clone();
        if tasks == 1 {
            let out = run_aligned(&kwargs, &l, &r)?;
            return series_from_arrow(name, &(Arc::new(out) as ArrayRef));
        }
        let step = n.div_ceil(tasks);
        let k = &kwargs;
        let parts: Vec<PolarsResult<StructArray>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let off = t * step;
                    let len = step.min(n - off);
                    let (ls, rs) = (l.slice(off, len), r.slice(off, len));
                    scope.spawn(move || guard(&k.py, || run_aligned(k, &ls, &rs)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(polars_err!(ComputeError: "polars_crdt.{}: internal error: a merge thread panicked", k.py))
                    })
                })
                .collect()
        });
        let chunks = parts
            .into_iter()
            .map(|p| p.map(|a| Arc::new(a) as ArrayRef))
            .collect::<PolarsResult<Vec<_>>>()?;
        crate::ffi::series_from_arrow_chunks(name, &chunks)
    })
}
