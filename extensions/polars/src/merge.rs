//! Table merge as one whole-column plugin call.
//!
//! The Python layer concatenates the replicas diagonally with a source-index column, packs every
//! column into one struct and calls [`crdt_table_merge`] once over the whole column (Polars would
//! call a grouped plugin once per group, which is slow with millions of keys). Here the struct is
//! split back into replicas — zero-copy slices of each run of one source — and handed to the
//! kernel's `table::merge`, whose result (a struct of the merged columns, ordered by key) the
//! Python layer unnests.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType as ArrowType, Schema};
use crdt_merge_kernel::mergeql::{self, MergeSpec, Source};
use crdt_merge_kernel::schema_map::apply_schema_json;
use crdt_merge_kernel::table::{self, PlanChoice, Replica};
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
