//! Writing results: a boxed table, CSV, JSON lines or Parquet, to a file or standard output,
//! streamed batch by batch (with a progress spinner on a terminal).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::csv;
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::json::writer::LineDelimited;
use datafusion::arrow::json::{LineDelimitedWriter, WriterBuilder};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::dataframe::DataFrame;
use datafusion::parquet::arrow::ArrowWriter;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use crate::{df_error, CliError, Result};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A boxed table (standard output only).
    Table,
    /// CSV with a header row.
    Csv,
    /// JSON lines.
    JsonLines,
    /// Parquet (files only).
    Parquet,
}

enum Writer {
    Table(Vec<RecordBatch>),
    Csv(csv::Writer<Box<dyn Write>>),
    Json(LineDelimitedWriter<Box<dyn Write>>),
    Parquet(Option<ArrowWriter<File>>),
    Done,
}

/// Where results go.
pub struct Sink {
    format: Format,
    to_file: Option<String>,
    writer: Option<Writer>,
    written: bool,
}

fn write_err(e: impl std::fmt::Display) -> CliError {
    CliError::Run(format!("cannot write the output: {e}"))
}

impl Sink {
    /// Standard output in `format`.
    pub fn stdout(format: Format) -> Sink {
        Sink {
            format,
            to_file: None,
            writer: None,
            written: false,
        }
    }

    /// A file, in the format its extension names.
    pub fn file(path: &str) -> Result<Sink> {
        let ext = Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let format = match ext.as_str() {
            "csv" => Format::Csv,
            "parquet" | "parq" => Format::Parquet,
            "json" | "jsonl" | "ndjson" => Format::JsonLines,
            _ => {
                return Err(CliError::Usage(format!(
                    "cannot tell the output format of '{path}': use .csv, .parquet or .json/.jsonl"
                )))
            }
        };
        Ok(Sink {
            format,
            to_file: Some(path.to_string()),
            writer: None,
            written: false,
        })
    }

    fn open(&mut self, schema: &SchemaRef) -> Result<&mut Writer> {
        if self.writer.is_none() {
            let out: Box<dyn Write> = match &self.to_file {
                Some(p) if self.format != Format::Parquet => {
                    Box::new(BufWriter::new(File::create(p).map_err(write_err)?))
                }
                _ => Box::new(BufWriter::new(std::io::stdout())),
            };
            self.writer = Some(match self.format {
                Format::Table => Writer::Table(Vec::new()),
                Format::Csv => Writer::Csv(csv::WriterBuilder::new().with_header(true).build(out)),
                // Explicit nulls: a reader can tell a NULL from a missing column.
                Format::JsonLines => Writer::Json(
                    WriterBuilder::new()
                        .with_explicit_nulls(true)
                        .build::<_, LineDelimited>(out),
                ),
                Format::Parquet => {
                    let p = self.to_file.clone().unwrap_or_default();
                    let f = File::create(&p).map_err(write_err)?;
                    Writer::Parquet(Some(
                        ArrowWriter::try_new(f, schema.clone(), None).map_err(write_err)?,
                    ))
                }
            });
        }
        self.writer
            .as_mut()
            .ok_or_else(|| CliError::Run("output writer missing".into()))
    }

    /// Writes one batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.written = true;
        match self.open(&batch.schema())? {
            Writer::Table(v) => v.push(batch.clone()),
            Writer::Csv(w) => w.write(batch).map_err(write_err)?,
            Writer::Json(w) => w.write(batch).map_err(write_err)?,
            Writer::Parquet(w) => {
                if let Some(w) = w {
                    w.write(batch).map_err(write_err)?;
                }
            }
            Writer::Done => return Err(CliError::Run("output already finished".into())),
        }
        Ok(())
    }

    /// Flushes and closes; a result with no batch still writes its header (or an empty table).
    pub fn finish_with_schema(&mut self, schema: &SchemaRef) -> Result<()> {
        self.open(schema)?;
        match self.writer.replace(Writer::Done) {
            Some(Writer::Table(batches)) => {
                let text = if batches.is_empty() {
                    pretty_format_batches(&[RecordBatch::new_empty(schema.clone())])
                } else {
                    pretty_format_batches(&batches)
                }
                .map_err(write_err)?;
                let mut out = std::io::stdout().lock();
                writeln!(out, "{text}").map_err(write_err)?;
            }
            Some(Writer::Csv(mut w)) => {
                if !self.written {
                    // The header, for a result without rows.
                    w.write(&RecordBatch::new_empty(schema.clone()))
                        .map_err(write_err)?;
                }
                w.into_inner().flush().map_err(write_err)?;
            }
            Some(Writer::Json(mut w)) => {
                w.finish().map_err(write_err)?;
                w.into_inner().flush().map_err(write_err)?;
            }
            Some(Writer::Parquet(Some(w))) => {
                w.close().map_err(write_err)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// What a run produced.
pub struct Stats {
    /// Rows written.
    pub rows: u64,
    /// Sum of the `__conflicts` column, when the result has one.
    pub conflicts: Option<u64>,
}

/// Runs `df` and writes the columns `keep` of every batch to `sink`, counting rows and
/// conflicts.
pub async fn stream(df: DataFrame, keep: &[String], sink: &mut Sink) -> Result<Stats> {
    let schema = df.schema().inner().clone();
    let indices: Vec<usize> = keep
        .iter()
        .filter_map(|c| schema.index_of(c).ok())
        .collect();
    let conflicts_at = schema
        .index_of(crdt_merge_kernel::mergeql::CONFLICTS_COLUMN)
        .ok();
    let out_schema = std::sync::Arc::new(schema.project(&indices).map_err(write_err)?);
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {human_pos} rows merged ({per_sec}) {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut stream = df.execute_stream().await.map_err(df_error)?;
    let mut stats = Stats {
        rows: 0,
        conflicts: conflicts_at.map(|_| 0),
    };
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(df_error)?;
        if let (Some(i), Some(c)) = (conflicts_at, stats.conflicts.as_mut()) {
            let col = batch.column(i);
            if col.data_type() == &DataType::Int64 {
                let a = col.as_primitive::<Int64Type>();
                *c += a.iter().flatten().map(|x| x.max(0) as u64).sum::<u64>();
            } else if let Ok(cast) = datafusion::arrow::compute::cast(col, &DataType::Int64) {
                let a = cast.as_primitive::<Int64Type>();
                *c += (0..a.len())
                    .filter(|&j| a.is_valid(j))
                    .map(|j| a.value(j).max(0) as u64)
                    .sum::<u64>();
            }
        }
        let projected = batch.project(&indices).map_err(write_err)?;
        stats.rows += projected.num_rows() as u64;
        sink.write(&projected)?;
        bar.set_position(stats.rows);
    }
    bar.finish_and_clear();
    sink.finish_with_schema(&out_schema)?;
    Ok(stats)
}
