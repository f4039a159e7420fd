//! `crdt-merge delta compute|apply|compose`: deltas as ordinary relations of row states (the
//! Python library's delta commands, done as joins). The maths is the kernel's
//! ([`crdt_merge_kernel::delta`]): `compute` keeps the rows that differ and a tombstone row per
//! deleted key; `apply` and `compose` are the table merge with the tombstone enabled, so they
//! are lawful in any order and grouping, and applying a delta twice changes nothing.

use std::sync::Arc;

use crdt_merge_kernel::delta::{self, DeltaColumns};
use crdt_merge_kernel::mergeql::{self, Source as SpecSource};
use crdt_merge_kernel::table::{self, PlanChoice, Replica};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::DataType;

use crate::digest::Source;
use crate::spec_flags::SpecFlags;
use crate::{kernel_error, sink_for, CliError, Result, StdoutFormat};

/// `crdt-merge delta ...`.
#[derive(clap::Args, Debug)]
pub struct DeltaArgs {
    #[command(subcommand)]
    command: DeltaCommand,
}

#[derive(clap::Subcommand, Debug)]
enum DeltaCommand {
    /// The rows that take OLD to NEW: added and changed rows, and a tombstone row per key only
    /// OLD has.
    Compute(ComputeArgs),
    /// BASE joined with each delta (the table merge with tombstones).
    Apply(ApplyArgs),
    /// One delta equal to the given ones (their join: any order and grouping gives the same).
    Compose(ComposeArgs),
}

/// Where the result goes.
#[derive(clap::Args, Debug)]
struct OutFlags {
    /// Output file (.csv, .parquet, .json/.jsonl); standard output when absent.
    #[arg(long, short = 'o')]
    output: Option<String>,
    /// Format for standard output.
    #[arg(long, value_enum, default_value_t = StdoutFormat::Table)]
    format: StdoutFormat,
    /// No summary line.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct ComputeArgs {
    /// The old version: a DuckDB file, a Parquet file or directory, a CSV or JSON-lines file.
    old: String,
    /// The new version.
    new: String,
    /// The table (DuckDB files).
    #[arg(long, short = 't')]
    table: Option<String>,
    /// Key column(s); repeat the flag or separate with commas.
    #[arg(long, short = 'k', required = true, value_delimiter = ',')]
    key: Vec<String>,
    /// The row clock column.
    #[arg(long, default_value = mergeql::DEFAULT_CLOCK)]
    ts: String,
    /// The tombstone column of the delta.
    #[arg(long, default_value = mergeql::DEFAULT_TOMBSTONE)]
    tombstone: String,
    /// The clock of the tombstone rows (read as the clock column's type); by default the
    /// greater of NEW's greatest clock and the deleted row's own clock.
    #[arg(long)]
    delete_clock: Option<String>,
    #[command(flatten)]
    out: OutFlags,
}

#[derive(clap::Args, Debug)]
struct ApplyArgs {
    /// The table the deltas apply to.
    base: String,
    /// One or more delta files.
    #[arg(required = true, num_args = 1..)]
    deltas: Vec<String>,
    /// The table (DuckDB files).
    #[arg(long, short = 't')]
    table: Option<String>,
    #[command(flatten)]
    merge: SpecFlags,
    /// Leave out deleted rows (and the tombstone column): the table as a reader sees it. Keep
    /// them (the default) for a result that merges again without resurrecting deleted keys.
    #[arg(long)]
    live: bool,
    #[command(flatten)]
    out: OutFlags,
}

#[derive(clap::Args, Debug)]
struct ComposeArgs {
    /// Delta files, one or more.
    #[arg(required = true, num_args = 1..)]
    deltas: Vec<String>,
    #[command(flatten)]
    merge: SpecFlags,
    #[command(flatten)]
    out: OutFlags,
}

async fn rows(name: &str, table: Option<&str>) -> Result<RecordBatch> {
    let (schema, batches) = Source::of(name, table)?.batches().await?;
    concat_batches(&schema, &batches).map_err(|e| CliError::Run(e.to_string()))
}

fn write(out: &OutFlags, batch: &RecordBatch) -> Result<()> {
    let mut sink = sink_for(out.output.as_deref(), out.format)?;
    sink.write(batch)?;
    sink.finish_with_schema(&batch.schema())
}

async fn compute(a: ComputeArgs) -> Result<()> {
    let old = rows(&a.old, a.table.as_deref()).await?;
    let new = rows(&a.new, a.table.as_deref()).await?;
    let clock: Option<ArrayRef> = a
        .delete_clock
        .as_ref()
        .map(|c| Arc::new(StringArray::from(vec![c.as_str()])) as ArrayRef);
    let cols = DeltaColumns {
        key: &a.key,
        clock: &a.ts,
        tombstone: &a.tombstone,
    };
    let d = delta::compute(&old, &new, &cols, clock.as_ref()).map_err(|e| {
        let text = e.to_string();
        // The kernel names its sides `old` and `new`; say which files they are.
        CliError::Input(
            text.replace("argument `old`", &format!("'{}' (OLD)", a.old))
                .replace("argument `new`", &format!("'{}' (NEW)", a.new)),
        )
    })?;
    write(&a.out, &d.batch)?;
    if !a.out.quiet {
        eprintln!(
            "crdt-merge: delta of {} rows: +{} added, ~{} modified, -{} removed, ={} unchanged{}",
            d.batch.num_rows(),
            d.added,
            d.modified,
            d.removed,
            d.unchanged,
            a.out
                .output
                .as_deref()
                .map(|o| format!(", written to {o}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// The join of `inputs` under the spec flags, with the tombstone enabled.
async fn join(
    inputs: &[String],
    table: Option<&str>,
    flags: &SpecFlags,
) -> Result<(RecordBatch, String)> {
    let sources = inputs.iter().map(SpecSource::file).collect::<Vec<_>>();
    let mut spec = flags.to_spec(sources)?;
    if spec.tombstone.is_none() {
        spec = spec.with_tombstone(mergeql::DEFAULT_TOMBSTONE.to_string());
    }
    spec.validate().map_err(kernel_error)?;
    let mut replicas = Vec::with_capacity(inputs.len());
    for name in inputs {
        replicas.push(Replica {
            name: name.clone(),
            batches: vec![rows(name, table).await?],
        });
    }
    let out = table::merge(&replicas, &spec, PlanChoice::Auto).map_err(kernel_error)?;
    let tombstone = spec.tombstone.clone().unwrap_or_default();
    Ok((out.batch, tombstone))
}

/// `batch` without its deleted rows and tombstone column.
fn live(batch: &RecordBatch, tombstone: &str) -> Result<RecordBatch> {
    let Ok(i) = batch.schema().index_of(tombstone) else {
        return Ok(batch.clone());
    };
    let t = datafusion::arrow::compute::cast(batch.column(i), &DataType::Boolean)
        .map_err(|e| CliError::Run(e.to_string()))?;
    let t = t.as_boolean();
    let keep: BooleanArray = (0..t.len())
        .map(|r| Some(!(t.is_valid(r) && t.value(r))))
        .collect();
    let mut kept = datafusion::arrow::compute::filter_record_batch(batch, &keep)
        .map_err(|e| CliError::Run(e.to_string()))?;
    kept.remove_column(i);
    Ok(kept)
}

/// Runs `crdt-merge delta`.
pub async fn run(a: DeltaArgs) -> Result<()> {
    match a.command {
        DeltaCommand::Compute(c) => compute(c).await,
        DeltaCommand::Apply(c) => {
            let inputs: Vec<String> = std::iter::once(c.base.clone())
                .chain(c.deltas.iter().cloned())
                .collect();
            let (batch, tombstone) = join(&inputs, c.table.as_deref(), &c.merge).await?;
            let batch = if c.live {
                live(&batch, &tombstone)?
            } else {
                batch
            };
            write(&c.out, &batch)?;
            if !c.out.quiet {
                eprintln!(
                    "crdt-merge: {} applied to '{}': {} rows",
                    match c.deltas.len() {
                        1 => "1 delta".to_string(),
                        n => format!("{n} deltas"),
                    },
                    c.base,
                    batch.num_rows()
                );
            }
            Ok(())
        }
        DeltaCommand::Compose(c) => {
            let (batch, _) = join(&c.deltas, None, &c.merge).await?;
            write(&c.out, &batch)?;
            if !c.out.quiet {
                eprintln!(
                    "crdt-merge: {} deltas composed: {} rows",
                    c.deltas.len(),
                    batch.num_rows()
                );
            }
            Ok(())
        }
    }
}
