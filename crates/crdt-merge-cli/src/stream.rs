//! `crdt-merge merge --stream`: a sorted merge of inputs larger than memory (the Python library's
//! `merge_sorted_stream`). Every input must be sorted by the key (ascending, in the kernel's
//! canonical order: numbers by value, text by bytes). The inputs are read batch by batch; the
//! rows of each key, from every input, are gathered into chunks of whole keys, and each chunk
//! is merged by the kernel's table merge ([`crdt_merge_kernel::table::merge`]) and written at
//! once, so memory holds one batch per input and one chunk, whatever the input size. Because a
//! chunk holds every row of its keys, chunk-by-chunk merging gives the rows the whole merge
//! gives, in key order.

use std::sync::Arc;

use crdt_merge_kernel::mergeql::MergeSpec;
use crdt_merge_kernel::table::{self, PlanChoice, Replica};
use datafusion::arrow::array::{RecordBatch, StructArray, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;

use crate::output::Sink;
use crate::{df_error, kernel_error, CliError, Result};

/// Keys per merged chunk.
const CHUNK_KEYS: usize = 8192;

struct Cursor {
    name: String,
    schema: Arc<datafusion::arrow::datatypes::Schema>,
    stream: SendableRecordBatchStream,
    batch: Option<RecordBatch>,
    keys: Vec<Vec<u8>>,
    row: usize,
    /// The last key seen (to check the order).
    last: Option<Vec<u8>>,
    rows_read: u64,
}

impl Cursor {
    async fn fill(&mut self, key: &[String]) -> Result<()> {
        while self.batch.as_ref().is_none_or(|b| self.row >= b.num_rows()) {
            match self.stream.next().await {
                None => {
                    self.batch = None;
                    return Ok(());
                }
                Some(b) => {
                    let b = b.map_err(df_error)?;
                    self.keys = canonical_keys(&b, key, &self.name)?;
                    self.batch = Some(b);
                    self.row = 0;
                }
            }
        }
        Ok(())
    }

    fn current(&self) -> Option<&[u8]> {
        self.batch.as_ref()?;
        self.keys.get(self.row).map(Vec::as_slice)
    }
}

fn canonical_keys(b: &RecordBatch, key: &[String], name: &str) -> Result<Vec<Vec<u8>>> {
    let k = crate::digest::key_array(b, key, name)?;
    let mut out = Vec::with_capacity(b.num_rows());
    for i in 0..b.num_rows() {
        if k.is_null(i)
            || matches!(k.as_any().downcast_ref::<StructArray>(), Some(s) if (0..s.num_columns()).any(|c| s.column(c).is_null(i)))
        {
            return Err(CliError::Input(format!(
                "'{name}': a NULL key ({}) cannot be merged",
                key.join(", ")
            )));
        }
        let v = crdt_merge_kernel::Value::from_array(k.as_ref(), i).map_err(kernel_error)?;
        let mut bytes = Vec::new();
        crdt_merge_kernel::sort_key::encode(&v, &mut bytes);
        out.push(bytes);
    }
    Ok(out)
}

/// What a streamed merge did.
pub struct StreamStats {
    /// Rows read.
    pub rows_in: u64,
    /// Rows written.
    pub rows_out: u64,
}

/// Merges `streams` (named, each sorted by `spec.key`) into `sink`.
pub async fn merge_sorted(
    streams: Vec<(String, SendableRecordBatchStream)>,
    spec: &MergeSpec,
    sink: &mut Sink,
) -> Result<StreamStats> {
    let mut cursors: Vec<Cursor> = streams
        .into_iter()
        .map(|(name, stream)| Cursor {
            name,
            schema: stream.schema(),
            stream,
            batch: None,
            keys: Vec::new(),
            row: 0,
            last: None,
            rows_read: 0,
        })
        .collect();
    for c in &mut cursors {
        c.fill(&spec.key).await?;
    }
    // Per input, the (batch, row) pairs of the chunk being gathered.
    let mut chunk: Vec<Vec<RecordBatch>> = vec![Vec::new(); cursors.len()];
    let mut pending: Vec<Vec<u32>> = vec![Vec::new(); cursors.len()];
    let mut keys_in_chunk = 0usize;
    let mut schema = None;
    let mut rows_out = 0u64;
    while let Some(min) = cursors
        .iter()
        .filter_map(|c| c.current())
        .min()
        .map(<[u8]>::to_vec)
    {
        for (i, c) in cursors.iter_mut().enumerate() {
            while c.current() == Some(min.as_slice()) {
                c.last = Some(min.clone());
                pending[i].push(c.row as u32);
                c.row += 1;
                c.rows_read += 1;
                if c.row >= c.batch.as_ref().map_or(0, |b| b.num_rows()) {
                    // Keep the finished batch's selected rows before reading the next one.
                    if let Some(b) = &c.batch {
                        flush_rows(&mut chunk[i], &mut pending[i], b)?;
                    }
                    c.fill(&spec.key).await?;
                }
            }
            // A key below `min` next in this input means it is not sorted (checked after every
            // key and every batch read, so it is the only check needed).
            if let (Some(cur), Some(last)) = (c.current(), &c.last) {
                if cur < last.as_slice() {
                    return Err(CliError::Input(format!(
                        "'{}' is not sorted by {} (row {} comes after a greater key): --stream \
                         needs inputs sorted by the key; sort them, or merge without --stream",
                        c.name,
                        spec.key.join(", "),
                        c.rows_read + 1
                    )));
                }
            }
        }
        keys_in_chunk += 1;
        if keys_in_chunk >= CHUNK_KEYS {
            rows_out += emit(
                &mut cursors,
                &mut chunk,
                &mut pending,
                spec,
                sink,
                &mut schema,
            )?;
            keys_in_chunk = 0;
        }
    }
    rows_out += emit(
        &mut cursors,
        &mut chunk,
        &mut pending,
        spec,
        sink,
        &mut schema,
    )?;
    match schema {
        Some(s) => sink.finish_with_schema(&s)?,
        None => {
            return Err(CliError::Input(
                "--stream: the inputs hold no rows, so there is no schema to write".into(),
            ))
        }
    }
    Ok(StreamStats {
        rows_in: cursors.iter().map(|c| c.rows_read).sum(),
        rows_out,
    })
}

fn flush_rows(out: &mut Vec<RecordBatch>, rows: &mut Vec<u32>, batch: &RecordBatch) -> Result<()> {
    if !rows.is_empty() {
        let idx = UInt32Array::from(std::mem::take(rows));
        out.push(take_record_batch(batch, &idx).map_err(|e| CliError::Run(e.to_string()))?);
    }
    Ok(())
}

/// Merges and writes the gathered chunk; returns the rows written.
fn emit(
    cursors: &mut [Cursor],
    chunk: &mut [Vec<RecordBatch>],
    pending: &mut [Vec<u32>],
    spec: &MergeSpec,
    sink: &mut Sink,
    schema: &mut Option<Arc<datafusion::arrow::datatypes::Schema>>,
) -> Result<u64> {
    let mut replicas = Vec::with_capacity(cursors.len());
    for (i, c) in cursors.iter().enumerate() {
        if let Some(b) = &c.batch {
            flush_rows(&mut chunk[i], &mut pending[i], b)?;
        }
        let batches = std::mem::take(&mut chunk[i]);
        replicas.push(Replica {
            name: c.name.clone(),
            batches,
        });
    }
    if replicas.iter().all(|r| r.batches.is_empty()) {
        return Ok(0);
    }
    // An input without rows in this chunk still contributes its schema (as an empty batch), so
    // every chunk has the output columns of the whole merge.
    for (r, c) in replicas.iter_mut().zip(cursors.iter()) {
        if r.batches.is_empty() {
            r.batches.push(RecordBatch::new_empty(c.schema.clone()));
        }
    }
    let out = table::merge(&replicas, spec, PlanChoice::Auto).map_err(kernel_error)?;
    let batch = out.batch;
    if let Some(s) = schema.as_ref() {
        if s.as_ref() != batch.schema().as_ref() {
            return Err(CliError::Input(format!(
                "--stream: the merged columns changed between chunks ({} against {}); merge \
                 without --stream",
                batch.schema(),
                s
            )));
        }
    } else {
        *schema = Some(batch.schema());
    }
    sink.write(&batch)?;
    Ok(batch.num_rows() as u64)
}
