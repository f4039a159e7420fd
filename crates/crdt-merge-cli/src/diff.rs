//! `crdt-merge diff A B --key K`: which rows B adds, removes and changes relative to A, and in
//! which columns (the Python library's `diff`), for any two sources `digest` reads (DuckDB
//! files, Parquet files or directories, CSV and JSON-lines files). Cells compare by their
//! canonical bytes (docs/wire-format.md), so an INTEGER in one source and a BIGINT in the other
//! are equal; a column only one side has counts as NULL on the other.
//!
//! Output: one canonical JSON line per differing key, in key order (`{"change":"added","key":...,"row":
//! {...}}`, `removed`, `modified` with `"changes":{"col":{"old":...,"new":...}}`), then the
//! summary `+x added, -y removed, ~z modified, =w unchanged` on standard error.

use std::collections::BTreeMap;
use std::sync::Arc;

use crdt_merge_kernel::digest::canonical::{Encoder, Fields};
use datafusion::arrow::array::{new_null_array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{Field, Schema};
use serde_json::Value as Json;

use crate::digest::{key_array, Source};
use crate::{kernel_error, CliError, Result};

/// `crdt-merge diff ...`.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The old side: a DuckDB file, a Parquet file or directory, a CSV or JSON-lines file.
    a: String,
    /// The new side.
    b: String,
    /// The table (DuckDB files).
    #[arg(long, short = 't')]
    table: Option<String>,
    /// Key column(s); repeat the flag or separate with commas.
    #[arg(long, short = 'k', required = true, value_delimiter = ',')]
    key: Vec<String>,
}

struct Side {
    batch: RecordBatch,
    /// canonical key → row
    rows: BTreeMap<Vec<u8>, usize>,
}

async fn side(name: &str, table: Option<&str>, key: &[String]) -> Result<Side> {
    let (schema, batches) = Source::of(name, table)?.batches().await?;
    let batch = concat_batches(&schema, &batches).map_err(|e| CliError::Run(e.to_string()))?;
    let k = key_array(&batch, key, name)?;
    let mut rows = BTreeMap::new();
    for i in 0..batch.num_rows() {
        // Memcomparable bytes of the key: equal across integer widths, and ordered as the keys.
        let v = crdt_merge_kernel::Value::from_array(k.as_ref(), i).map_err(kernel_error)?;
        let mut b = Vec::new();
        crdt_merge_kernel::sort_key::encode(&v, &mut b);
        if rows.insert(b, i).is_some() {
            return Err(CliError::Usage(format!(
                "'{name}' has two rows with the key of row {} ({}): diff needs unique keys \
                 (merge the file first)",
                i + 1,
                key.join(", ")
            )));
        }
    }
    Ok(Side { batch, rows })
}

/// Every column of `names`, from `batch` or as NULLs where it has none.
fn aligned(batch: &RecordBatch, names: &[String]) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for n in names {
        match batch.schema().index_of(n) {
            Ok(i) => {
                fields.push(batch.schema().field(i).clone().with_nullable(true));
                cols.push(batch.column(i).clone());
            }
            Err(_) => {
                fields.push(Field::new(
                    n,
                    datafusion::arrow::datatypes::DataType::Null,
                    true,
                ));
                cols.push(new_null_array(
                    &datafusion::arrow::datatypes::DataType::Null,
                    batch.num_rows(),
                ));
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| CliError::Run(e.to_string()))
}

/// Each row of `batch` as a JSON object (Arrow's JSON writer: numbers stay numbers).
fn json_rows(batch: &RecordBatch) -> Result<Vec<serde_json::Map<String, Json>>> {
    let mut buf = Vec::new();
    {
        use datafusion::arrow::json::writer::{LineDelimited, WriterBuilder};
        let mut w = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, LineDelimited>(&mut buf);
        w.write(batch).map_err(|e| CliError::Run(e.to_string()))?;
        w.finish().map_err(|e| CliError::Run(e.to_string()))?;
    }
    let text = String::from_utf8_lossy(&buf);
    let mut out: Vec<serde_json::Map<String, Json>> = text
        .lines()
        .map(|l| match serde_json::from_str(l) {
            Ok(Json::Object(m)) => m,
            _ => serde_json::Map::new(),
        })
        .collect();
    out.resize(batch.num_rows(), serde_json::Map::new());
    Ok(out)
}

/// Runs `crdt-merge diff`.
pub async fn run(a: DiffArgs) -> Result<()> {
    let old = side(&a.a, a.table.as_deref(), &a.key).await?;
    let new = side(&a.b, a.table.as_deref(), &a.key).await?;
    let mut names: Vec<String> = old
        .batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for f in new.batch.schema().fields() {
        if !names.contains(f.name()) {
            names.push(f.name().clone());
        }
    }
    let (ob, nb) = (aligned(&old.batch, &names)?, aligned(&new.batch, &names)?);
    let encoders = |b: &RecordBatch| -> Result<Vec<Vec<Vec<u8>>>> {
        b.columns()
            .iter()
            .map(|c| {
                let e = Encoder::new("crdt-merge diff", "cell", c.as_ref(), Fields::ByName)
                    .map_err(kernel_error)?;
                Ok((0..b.num_rows())
                    .map(|i| {
                        let mut v = Vec::new();
                        e.encode(i, &mut v);
                        v
                    })
                    .collect())
            })
            .collect()
    };
    let (oc, nc) = (encoders(&ob)?, encoders(&nb)?);
    let (oj, nj) = (json_rows(&ob)?, json_rows(&nb)?);
    let key_of = |row: &serde_json::Map<String, Json>| -> Json {
        if a.key.len() == 1 {
            row.get(&a.key[0]).cloned().unwrap_or(Json::Null)
        } else {
            Json::Array(
                a.key
                    .iter()
                    .map(|k| row.get(k).cloned().unwrap_or(Json::Null))
                    .collect(),
            )
        }
    };
    let (mut added, mut removed, mut modified, mut same) = (0u64, 0u64, 0u64, 0u64);
    let mut keys: Vec<&Vec<u8>> = old.rows.keys().chain(new.rows.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = String::new();
    for k in keys {
        let line = match (old.rows.get(k), new.rows.get(k)) {
            (None, Some(&j)) => {
                added += 1;
                serde_json::json!({"change": "added", "key": key_of(&nj[j]), "row": Json::Object(nj[j].clone())})
            }
            (Some(&i), None) => {
                removed += 1;
                serde_json::json!({"change": "removed", "key": key_of(&oj[i]), "row": Json::Object(oj[i].clone())})
            }
            (Some(&i), Some(&j)) => {
                let mut changes = serde_json::Map::new();
                for (c, name) in names.iter().enumerate() {
                    if oc[c][i] != nc[c][j] {
                        changes.insert(
                            name.clone(),
                            serde_json::json!({
                                "old": oj[i].get(name).cloned().unwrap_or(Json::Null),
                                "new": nj[j].get(name).cloned().unwrap_or(Json::Null),
                            }),
                        );
                    }
                }
                if changes.is_empty() {
                    same += 1;
                    continue;
                }
                modified += 1;
                serde_json::json!({"change": "modified", "key": key_of(&oj[i]), "changes": Json::Object(changes)})
            }
            (None, None) => continue,
        };
        out.push_str(&crdt_merge_kernel::json_merge::canonical(&line));
        out.push('\n');
    }
    print!("{out}");
    eprintln!("+{added} added, -{removed} removed, ~{modified} modified, ={same} unchanged");
    Ok(())
}
