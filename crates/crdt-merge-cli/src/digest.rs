//! `crdt-merge digest`: the order-free digest of a table in a DuckDB file, a Parquet directory
//! or a CSV / Parquet / JSON-lines file; the same 16 bytes `crdt_table_digest` gives in every SQL
//! engine for the same rows.

use std::path::Path;
use std::sync::Arc;

use crdt_merge_kernel::digest::{Fingerprint, RowIds};
use crdt_merge_kernel::mergeql;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StructArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::ParquetReadOptions;
use futures::StreamExt;

use crate::duckdb_file::{is_duckdb_file, DuckDb};
use crate::{check_file, context, df_error, kernel_error, quote_ident, CliError, Result};

/// `crdt-merge digest ...`.
#[derive(clap::Args, Debug)]
pub struct DigestArgs {
    /// A DuckDB database file, a Parquet directory, or a CSV / Parquet / JSON-lines file.
    source: String,
    /// The table (DuckDB files; ignored for files and directories).
    #[arg(long, short = 't')]
    table: Option<String>,
    /// Key column(s); repeat the flag or separate with commas.
    #[arg(long, short = 'k', required = true, value_delimiter = ',')]
    key: Vec<String>,
    /// Digest of the values only: leave out the CRDT metadata columns (row clock, tombstone,
    /// replica), as `crdt_content_id` does.
    #[arg(long)]
    content: bool,
    /// The row clock column (left out by --content).
    #[arg(long, default_value = mergeql::DEFAULT_CLOCK)]
    ts: String,
    /// The tombstone column (left out by --content).
    #[arg(long, default_value = mergeql::DEFAULT_TOMBSTONE)]
    tombstone: String,
    /// A replica id column (left out by --content).
    #[arg(long)]
    replica: Option<String>,
}

/// Where rows come from.
pub enum Source {
    /// A DuckDB database file and a table in it.
    DuckDb(String, String),
    /// A Parquet directory, or one file DataFusion reads.
    Files(String),
}

impl Source {
    /// Classifies `source` (`table` is needed for databases).
    pub fn of(source: &str, table: Option<&str>) -> Result<Source> {
        if source.starts_with("postgres://") || source.starts_with("postgresql://") {
            return Err(CliError::Usage(format!(
                "'{source}': Postgres sources are not supported by this build yet; export the \
                 table (COPY ... TO) or use crdt_table_digest in Postgres"
            )));
        }
        let p = Path::new(source);
        if p.is_file() && is_duckdb_file(p) {
            let t = table.ok_or_else(|| {
                CliError::Usage(format!(
                    "'{source}' is a DuckDB database: name the table with --table"
                ))
            })?;
            return Ok(Source::DuckDb(source.to_string(), t.to_string()));
        }
        if !p.exists() {
            return Err(CliError::Input(format!(
                "cannot read '{source}': no such file or directory"
            )));
        }
        if p.is_file() {
            check_file(source)?;
        }
        Ok(Source::Files(source.to_string()))
    }

    /// Every row, as Arrow batches.
    pub async fn batches(&self) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        match self {
            Source::DuckDb(file, table) => {
                let db = DuckDb::open(Path::new(file), true)?;
                db.query(&format!("SELECT * FROM {}", quote_ident(table)))
                    .map_err(|e| match e {
                        CliError::Run(m) if m.contains("does not exist") => CliError::Usage(m),
                        other => other,
                    })
            }
            Source::Files(path) => {
                let ctx = context(false)?;
                if Path::new(path).is_dir() {
                    ctx.register_parquet("input", path, ParquetReadOptions::default())
                        .await
                        .map_err(df_error)?;
                } else {
                    crdt_merge_datafusion::register_file(&ctx, "input", path)
                        .await
                        .map_err(df_error)?;
                }
                let df = ctx.table("input").await.map_err(df_error)?;
                let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
                let mut stream = df.execute_stream().await.map_err(df_error)?;
                let mut out = Vec::new();
                while let Some(b) = stream.next().await {
                    out.push(b.map_err(df_error)?);
                }
                Ok((schema, out))
            }
        }
    }
}

/// The key array of a batch: the key column, or a struct of the key columns (a tuple).
pub fn key_array(batch: &RecordBatch, key: &[String], source: &str) -> Result<ArrayRef> {
    let mut cols = Vec::with_capacity(key.len());
    for k in key {
        let i = batch.schema().index_of(k).map_err(|_| {
            CliError::Usage(format!(
                "'{source}' has no key column '{k}' (columns: {})",
                batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        cols.push((
            Arc::new(batch.schema().field(i).clone()),
            batch.column(i).clone(),
        ));
    }
    Ok(if cols.len() == 1 {
        cols.remove(0).1
    } else {
        Arc::new(StructArray::from(cols))
    })
}

/// Row count and fingerprint of `batches`.
pub fn digest(
    batches: &[RecordBatch],
    key: &[String],
    metadata: Option<&[String]>,
    source: &str,
) -> Result<(u64, Fingerprint)> {
    let mut f = Fingerprint::EMPTY;
    let mut rows = 0u64;
    for b in batches {
        let k = key_array(b, key, source)?;
        let row: ArrayRef = Arc::new(StructArray::from(b.clone()));
        let function = if metadata.is_some() {
            "crdt_content_id"
        } else {
            "crdt_row_id"
        };
        let mut ids = RowIds::new(function, &k, &row, metadata).map_err(kernel_error)?;
        for i in 0..b.num_rows() {
            if let Some(id) = ids.id(i) {
                f.add_id(&id);
                rows += 1;
            }
        }
    }
    Ok((rows, f))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs `crdt-merge digest`.
pub async fn run(a: DigestArgs) -> Result<()> {
    let src = Source::of(&a.source, a.table.as_deref())?;
    let (_schema, batches) = src.batches().await?;
    let meta: Option<Vec<String>> = a.content.then(|| {
        let mut m = vec![a.ts.clone(), a.tombstone.clone()];
        m.extend(a.replica.clone());
        m
    });
    let (rows, f) = digest(&batches, &a.key, meta.as_deref(), &a.source)?;
    println!("rows={rows} digest={}", hex(&f.finish()));
    Ok(())
}
