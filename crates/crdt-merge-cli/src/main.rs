//! # `crdt-merge`, the command line
//!
//! Merges CSV, Parquet and JSON-lines files, runs MergeQL and SQL with every `crdt_*` function
//! registered, and decodes state bytes. DataFusion runs every query; the merge itself is the
//! kernel's rendered `GROUP BY` (see `docs/cli.md`).
//!
//! ```text
//! crdt-merge merge a.csv b.csv --key id --strategy score=max -o out.csv
//! crdt-merge query "MERGE 'a.parquet', 'b.csv' ON id STRATEGY score='max'"
//! crdt-merge sql "SELECT crdt_hlc(1, 2) AS h"
//! crdt-merge inspect state.bin
//! crdt-merge sketch build events.parquet --column user_id --kind hll -o day1.hll
//! crdt-merge sketch merge day1.hll day2.hll -o week.hll && crdt-merge sketch query week.hll --count
//! crdt-merge digest replica.duckdb --table people --key id
//! crdt-merge sync a.duckdb b.duckdb --table people --key id --verify
//! crdt-merge dedup people.csv --key id --method minhash --threshold 0.8 -o unique.csv
//! crdt-merge model merge a.safetensors b.safetensors --strategy linear -w a.safetensors=1 -w b.safetensors=1 -o out.safetensors
//! ```
//!
//! Exit codes: 0 success; 1 a query failed while running; 2 a usage error (bad arguments, an
//! unknown strategy, a MergeQL or SQL syntax error); 3 an input file is missing or unreadable.
//! Every error is one line on standard error, starting with `crdt-merge: error:`.

mod clock;
mod delta;
mod diff;
mod digest;
mod duckdb_file;
mod gossip;
mod inspect;
mod json;
mod model;
mod output;
mod sketch;
mod spec_flags;
mod stream;
mod sync;
mod trust;
mod verify;
mod wire_cmd;

use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::error::ErrorKind as ClapErrorKind;
use clap::{Parser, Subcommand, ValueEnum};
use crdt_merge_datafusion::FileFormat;
use crdt_merge_kernel::mergeql::{self, ColumnRule, MergeSpec, Source};
use crdt_merge_kernel::strategy::StrategyKind;
use crdt_merge_kernel::ErrorKind;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::visit_relations;

use output::{Format, Sink};

/// What went wrong, and so which exit code.
#[derive(Debug)]
enum CliError {
    /// Exit 2: bad arguments, an unknown strategy, a syntax error.
    Usage(String),
    /// Exit 3: an input that cannot be read.
    Input(String),
    /// Exit 1: a query failed while running (or writing the output failed).
    Run(String),
}

impl CliError {
    fn code(&self) -> u8 {
        match self {
            CliError::Run(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Input(_) => 3,
        }
    }

    fn message(&self) -> &str {
        match self {
            CliError::Usage(m) | CliError::Input(m) | CliError::Run(m) => m,
        }
    }
}

/// DataFusion's planning and parsing errors are the user's; the rest happened while running.
fn df_error(e: DataFusionError) -> CliError {
    let text = e.strip_backtrace();
    match e.find_root() {
        DataFusionError::Plan(_)
        | DataFusionError::SQL(_, _)
        | DataFusionError::SchemaError(_, _) => CliError::Usage(text),
        DataFusionError::IoError(_) | DataFusionError::ObjectStore(_) => CliError::Input(text),
        _ => CliError::Run(text),
    }
}

fn kernel_error(e: crdt_merge_kernel::Error) -> CliError {
    match e.kind {
        ErrorKind::Internal(_) => CliError::Run(e.to_string()),
        _ => CliError::Usage(e.to_string()),
    }
}

type Result<T, E = CliError> = std::result::Result<T, E>;

#[derive(Parser, Debug)]
#[command(
    name = "crdt-merge",
    version,
    about = "Conflict-free merges of tables and CRDT states (DataFusion inside)",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Merge two or more files (CSV, Parquet or JSON lines, by extension) on a key.
    Merge(MergeArgs),
    /// Run a MergeQL query: MERGE 'a.parquet', 'b.csv' ON id STRATEGY score='max'.
    Query(QueryArgs),
    /// Run SQL with every crdt_* function registered; files are readable as tables ('a.csv').
    Sql(SqlArgs),
    /// Decode state bytes (a wire frame or a batch, raw or hex) and print them as JSON.
    Inspect(InspectArgs),
    /// Merge ML models (safetensors): every mergekit and crdt-merge strategy, order-free.
    Model(model::ModelArgs),
    /// Build, merge and query mergeable sketches (HLL, Theta, Bloom, Count-Min, MinHash).
    Sketch(sketch::SketchArgs),
    /// Drop duplicate and near-duplicate rows (exact or MinHash), keeping the smallest key.
    Dedup(sketch::DedupArgs),
    /// Order-free digest of a table (DuckDB file, Parquet directory or file): rows=N digest=HEX.
    Digest(digest::DigestArgs),
    /// Converge two replicas (DuckDB files, Parquet files or directories) by shipping only the
    /// rows that differ (range-based reconciliation), applied with the CRDT join.
    Sync(sync::SyncArgs),
    /// Lawful deep merge of JSON documents and JSON-lines files (arrays as sets).
    Json(json::JsonArgs),
    /// Rows B adds, removes and changes relative to A (and which columns), by key.
    Diff(diff::DiffArgs),
    /// Check a merge spec's laws (commutativity, associativity, idempotence) on your replicas,
    /// with a minimal counterexample when one fails.
    Verify(verify::VerifyArgs),
    /// E4 trust: keys, the PKI, signed deltas, trust-gated merges, the Byzantine simulator.
    Trust(trust::TrustArgs),
    /// Vector clocks and dotted version vectors: create, increment, merge, compare.
    Clock(clock::ClockArgs),
    /// Table deltas as row states: compute OLD NEW, apply BASE D..., compose D...
    Delta(delta::DeltaArgs),
    /// A lawful gossip store: init, update, delete, get, merge, digest, sync.
    Gossip(gossip::GossipArgs),
    /// Wire frames: serialize (JSON dict form to a frame), deserialize, inspect, size.
    Wire(wire_cmd::WireArgs),
}

#[derive(clap::Args, Debug)]
struct MergeArgs {
    /// Input files, two or more (.csv, .parquet, .json/.jsonl/.ndjson).
    #[arg(required = true, num_args = 2..)]
    inputs: Vec<String>,
    /// Key column(s); repeat the flag or separate with commas.
    #[arg(long, short = 'k', required = true, value_delimiter = ',')]
    key: Vec<String>,
    /// A column's strategy, COLUMN=STRATEGY (lww, lww_nullable, max, min, longest,
    /// priority(a,b,c), union, union(,), concat, concat(;), gcounter, pncounter); repeatable.
    #[arg(long, short = 's')]
    strategy: Vec<String>,
    /// The row clock column.
    #[arg(long, default_value = mergeql::DEFAULT_CLOCK)]
    ts: String,
    /// A replica id column (breaks clock ties, reported by provenance).
    #[arg(long)]
    replica: Option<String>,
    /// Enable tombstones, in this column (default `_deleted`).
    #[arg(long, num_args = 0..=1, default_missing_value = mergeql::DEFAULT_TOMBSTONE)]
    tombstone: Option<String>,
    /// Add `<col>__source` provenance columns and a `__conflicts` count.
    #[arg(long)]
    provenance: bool,
    /// Keep each last-writer-wins cell's clock as `<col>__ts` (and replica as `<col>__replica`)
    /// and read such columns back: for an output you will merge again (docs/cli.md).
    #[arg(long)]
    cell_clocks: bool,
    /// Output file (.csv, .parquet, .json/.jsonl); standard output when absent.
    #[arg(long, short = 'o')]
    output: Option<String>,
    /// Format for standard output.
    #[arg(long, value_enum, default_value_t = StdoutFormat::Table)]
    format: StdoutFormat,
    /// No summary line.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Inputs sorted by the key: merge them in one pass with memory for one batch per input
    /// and one chunk of keys, whatever their size (an unsorted input is an error).
    #[arg(long)]
    stream: bool,
}

#[derive(clap::Args, Debug)]
struct QueryArgs {
    /// The MergeQL query.
    query: String,
    /// Output file (.csv, .parquet, .json/.jsonl); standard output when absent.
    #[arg(long, short = 'o')]
    output: Option<String>,
    /// Format for standard output.
    #[arg(long, value_enum, default_value_t = StdoutFormat::Table)]
    format: StdoutFormat,
}

#[derive(clap::Args, Debug)]
struct SqlArgs {
    /// SQL text (one or more statements separated by `;`).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    sql: Option<String>,
    /// Read the SQL from this file.
    #[arg(long, short = 'f')]
    file: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StdoutFormat::Table)]
    format: StdoutFormat,
}

#[derive(clap::Args, Debug)]
struct InspectArgs {
    /// A file of state bytes, or `-` for standard input. Raw bytes or hex text (`\x...`).
    input: String,
}

/// How results are printed on standard output.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StdoutFormat {
    /// A boxed table, as datafusion-cli prints.
    Table,
    /// CSV with a header row.
    Csv,
    /// JSON lines, one object per row.
    Json,
}

/// A context with every crdt_* function; `url_tables` makes files readable as `'path'` tables.
fn context(url_tables: bool) -> Result<SessionContext> {
    let mut ctx =
        SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
    if url_tables {
        ctx = ctx.enable_url_table();
    }
    crdt_merge_datafusion::register_all(&ctx).map_err(df_error)?;
    Ok(ctx)
}

fn check_file(path: &str) -> Result<()> {
    crdt_merge_datafusion::FileFormat::of(path)
        .map_err(|e| CliError::Usage(e.strip_backtrace()))?;
    let p = Path::new(path);
    if !p.exists() {
        return Err(CliError::Input(format!(
            "cannot read '{path}': no such file"
        )));
    }
    if let Err(e) = std::fs::File::open(p) {
        return Err(CliError::Input(format!("cannot read '{path}': {e}")));
    }
    if matches!(FileFormat::of(path), Ok(FileFormat::Parquet)) {
        crdt_merge_datafusion::check_parquet_file(path).map_err(|e| match e {
            DataFusionError::IoError(io) => CliError::Input(io.to_string()),
            other => CliError::Input(other.strip_backtrace()),
        })?;
    }
    Ok(())
}

/// `name` as a double-quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Warns (on standard error) about CSV columns that a `max`/`min` rule orders but that were read
/// as text although most of their values are numbers: one value such as `n/a` makes the whole
/// column text, and text order puts '9' above '10'. (A column that is a number in one input and
/// text in another is an error of the merge itself.) One extra pass over each such column.
async fn warn_numbers_read_as_text(ctx: &SessionContext, spec: &MergeSpec) -> Result<()> {
    for rule in &spec.rules {
        if !matches!(rule.strategy, StrategyKind::Max | StrategyKind::Min) {
            continue;
        }
        for source in &spec.sources {
            let Source::File(path) = source else {
                continue;
            };
            if !matches!(FileFormat::of(path), Ok(FileFormat::Csv)) {
                continue;
            }
            let Ok(provider) = ctx
                .table_provider(TableReference::bare(path.as_str()))
                .await
            else {
                continue;
            };
            let schema = provider.schema();
            let field = schema
                .fields()
                .iter()
                .find(|f| f.name() == &rule.column)
                .or_else(|| {
                    let mut folded = schema
                        .fields()
                        .iter()
                        .filter(|f| f.name().eq_ignore_ascii_case(&rule.column));
                    match (folded.next(), folded.next()) {
                        (Some(one), None) => Some(one),
                        _ => None,
                    }
                });
            let Some(field) = field else { continue };
            if !matches!(
                field.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) {
                continue;
            }
            let c = quote_ident(field.name());
            let sql = format!(
                "SELECT CAST(count(v) AS BIGINT) AS n, CAST(count(num) AS BIGINT) AS numbers, \
                 min(CASE WHEN num IS NULL THEN v END) AS other \
                 FROM (SELECT {c} AS v, TRY_CAST({c} AS DOUBLE) AS num FROM {} \
                 WHERE trim({c}) <> '') AS t",
                quote_ident(path)
            );
            let batches = ctx
                .sql(&sql)
                .await
                .map_err(df_error)?
                .collect()
                .await
                .map_err(df_error)?;
            let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
                continue;
            };
            let int = |i: usize| {
                b.column(i)
                    .as_primitive_opt::<Int64Type>()
                    .filter(|a| a.is_valid(0))
                    .map(|a| a.value(0))
                    .unwrap_or(0)
            };
            let (n, numbers) = (int(0), int(1));
            let other = datafusion::arrow::compute::cast(b.column(2), &DataType::Utf8)
                .ok()
                .and_then(|a| {
                    a.as_string_opt::<i32>()
                        .filter(|s| s.is_valid(0))
                        .map(|s| s.value(0).to_string())
                });
            if let Some(other) = other.filter(|_| numbers > 0 && 2 * numbers >= n) {
                eprintln!(
                    "crdt-merge: warning: '{path}': column `{}` is read as text because of values \
                     such as '{other}' ({numbers} of {n} values are numbers), so `{}` compares \
                     it as text ('9' above '10'); remove or fix those values to merge it as \
                     numbers",
                    field.name(),
                    rule.strategy.name()
                );
            }
        }
    }
    Ok(())
}

pub(crate) fn sink_for(output: Option<&str>, format: StdoutFormat) -> Result<Sink> {
    match output {
        Some(path) => Sink::file(path),
        None => Ok(Sink::stdout(match format {
            StdoutFormat::Table => Format::Table,
            StdoutFormat::Csv => Format::Csv,
            StdoutFormat::Json => Format::JsonLines,
        })),
    }
}

/// `--strategy COL=S` (repeatable), `--replica` and `--tombstone` applied to `spec`: the flags
/// every command that merges rows takes alike.
fn with_rule_flags(
    mut spec: MergeSpec,
    strategy: &[String],
    replica: &Option<String>,
    tombstone: &Option<String>,
) -> Result<MergeSpec> {
    for s in strategy {
        let Some((col, strat)) = s.split_once('=') else {
            return Err(CliError::Usage(format!(
                "--strategy expects COLUMN=STRATEGY, found `{s}`"
            )));
        };
        spec = spec.with_rule(ColumnRule::parse(col.trim(), strat.trim()).map_err(kernel_error)?);
    }
    if let Some(r) = replica {
        spec = spec.with_replica(r.clone());
    }
    if let Some(t) = tombstone {
        spec = spec.with_tombstone(t.clone());
    }
    Ok(spec)
}

fn spec_from_flags(a: &MergeArgs) -> Result<MergeSpec> {
    let mut spec = MergeSpec::new(
        a.inputs.iter().map(Source::file).collect::<Vec<_>>(),
        a.key
            .iter()
            .map(|k| k.trim().to_string())
            .collect::<Vec<_>>(),
    )
    .with_clock(a.ts.clone());
    spec = with_rule_flags(spec, &a.strategy, &a.replica, &a.tombstone)?;
    if a.provenance {
        spec = spec.with_provenance();
    }
    if a.cell_clocks {
        spec = spec.with_cell_clocks();
    }
    spec.validate().map_err(kernel_error)?;
    Ok(spec)
}

async fn count_rows(ctx: &SessionContext, path: &str) -> Result<u64> {
    let df = ctx
        .table(datafusion::common::TableReference::bare(path))
        .await
        .map_err(df_error)?;
    Ok(df.count().await.map_err(df_error)? as u64)
}

async fn run_merge(a: MergeArgs) -> Result<()> {
    for p in &a.inputs {
        check_file(p)?;
    }
    let spec = spec_from_flags(&a)?;
    let ctx = context(false)?;
    if a.stream {
        return run_stream_merge(&ctx, &a, &spec).await;
    }
    // The library's merge: the rendered SQL plus its NULL-key guard.
    let wanted = crdt_merge_datafusion::merge(&ctx, &spec)
        .await
        .map_err(df_error)?;
    warn_numbers_read_as_text(&ctx, &spec).await?;
    let wanted_cols: Vec<String> = wanted
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    // Conflicts are counted by provenance; plan it even when not asked for, and keep only the
    // asked-for columns (falls back when a provenance column name is taken).
    let counted = if spec.provenance {
        Some(wanted.clone())
    } else {
        crdt_merge_datafusion::merge(&ctx, &spec.clone().with_provenance())
            .await
            .ok()
    };
    let counting = counted.is_some();
    let df = counted.unwrap_or(wanted);
    let mut rows_in = 0u64;
    for p in &a.inputs {
        rows_in += count_rows(&ctx, p).await?;
    }
    let mut sink = sink_for(a.output.as_deref(), a.format)?;
    let stats = output::stream(df, &wanted_cols, &mut sink).await?;
    if !a.quiet {
        let conflicts = match (counting, stats.conflicts) {
            (true, Some(c)) => c.to_string(),
            _ => "not counted".into(),
        };
        eprintln!(
            "crdt-merge: {} inputs, {rows_in} rows in, {} rows out, {conflicts} conflicting cells{}",
            a.inputs.len(),
            stats.rows,
            a.output
                .as_deref()
                .map(|o| format!(", written to {o}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

async fn run_stream_merge(ctx: &SessionContext, a: &MergeArgs, spec: &MergeSpec) -> Result<()> {
    let mut streams = Vec::new();
    for (i, p) in a.inputs.iter().enumerate() {
        let name = format!("__crdt_stream_{i}");
        crdt_merge_datafusion::register_file(ctx, &name, p)
            .await
            .map_err(df_error)?;
        let df = ctx.table(name.as_str()).await.map_err(df_error)?;
        streams.push((p.clone(), df.execute_stream().await.map_err(df_error)?));
    }
    let mut sink = sink_for(a.output.as_deref(), a.format)?;
    let stats = stream::merge_sorted(streams, spec, &mut sink).await?;
    if !a.quiet {
        eprintln!(
            "crdt-merge: {} inputs, {} rows in, {} rows out (streamed){}",
            a.inputs.len(),
            stats.rows_in,
            stats.rows_out,
            a.output
                .as_deref()
                .map(|o| format!(", written to {o}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

async fn run_query(a: QueryArgs) -> Result<()> {
    let spec = mergeql::parse(&a.query).map_err(kernel_error)?;
    for s in &spec.sources {
        if let Source::File(p) = s {
            check_file(p)?;
        }
    }
    let ctx = context(false)?;
    let df = crdt_merge_datafusion::merge(&ctx, &spec)
        .await
        .map_err(df_error)?;
    warn_numbers_read_as_text(&ctx, &spec).await?;
    let cols: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut sink = sink_for(a.output.as_deref(), a.format)?;
    output::stream(df, &cols, &mut sink).await?;
    Ok(())
}

async fn run_sql(a: SqlArgs) -> Result<()> {
    let text = match (&a.sql, &a.file) {
        (Some(s), _) => s.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map_err(|e| CliError::Input(format!("cannot read '{f}': {e}")))?,
        (None, None) => return Err(CliError::Usage("no SQL given".into())),
    };
    let ctx = context(true)?;
    let statements = datafusion::sql::parser::DFParser::parse_sql(&text).map_err(df_error)?;
    if statements.is_empty() {
        return Err(CliError::Usage("no SQL statement given".into()));
    }
    for path in file_relations(&statements) {
        if Path::new(&path).is_file() && FileFormat::of(&path).is_ok() {
            check_file(&path)?;
        }
    }
    for stmt in statements {
        let plan = ctx
            .state()
            .statement_to_plan(stmt)
            .await
            .map_err(df_error)?;
        let df = ctx.execute_logical_plan(plan).await.map_err(df_error)?;
        if df.schema().fields().is_empty() {
            df.collect().await.map_err(df_error)?;
            continue;
        }
        let cols: Vec<String> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut sink = sink_for(None, a.format)?;
        output::stream(df, &cols, &mut sink).await?;
    }
    Ok(())
}

/// The files and folders `statements` read: tables named by an existing path (`FROM
/// 'a.parquet'`) and `CREATE EXTERNAL TABLE ... LOCATION`s, so that files can be checked before
/// DataFusion opens them and a panic can name what was being read.
fn file_relations(statements: &std::collections::VecDeque<DfStatement>) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    let mut add = |p: &str| {
        if Path::new(p).exists() && !paths.iter().any(|x| x == p) {
            paths.push(p.to_string());
        }
    };
    for s in statements {
        match s {
            DfStatement::Statement(s) => {
                let _ = visit_relations(s.as_ref(), |name| {
                    if let [part] = name.0.as_slice() {
                        if let Some(ident) = part.as_ident() {
                            add(&ident.value);
                        }
                    }
                    ControlFlow::<()>::Continue(())
                });
            }
            DfStatement::CreateExternalTable(t) => t.locations.iter().for_each(|l| add(l)),
            _ => {}
        }
    }
    paths
}

/// The first panic's message, recorded by the panic hook (which prints nothing): a panic is
/// reported as one `crdt-merge: error:` line, never as a raw backtrace.
static PANIC: Mutex<Option<String>> = Mutex::new(None);

fn record_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut slot) = PANIC.lock() {
            slot.get_or_insert(format!("{what}{at}"));
        }
    }));
}

/// The input files a command reads, to name them when a dependency panics.
fn inputs_of(command: &Command) -> Vec<String> {
    match command {
        Command::Merge(a) => a.inputs.clone(),
        Command::Query(a) => mergeql::parse(&a.query)
            .map(|spec| {
                spec.sources
                    .iter()
                    .filter_map(|s| match s {
                        Source::File(p) => Some(p.clone()),
                        Source::Table(_) => None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Command::Sql(a) => a
            .sql
            .as_deref()
            .and_then(|t| datafusion::sql::parser::DFParser::parse_sql(t).ok())
            .map(|st| file_relations(&st))
            .unwrap_or_default(),
        Command::Inspect(a) => vec![a.input.clone()],
        Command::Model(_) | Command::Sketch(_) => Vec::new(),
        Command::Dedup(a) => vec![a.file.clone()],
        Command::Digest(_)
        | Command::Sync(_)
        | Command::Json(_)
        | Command::Diff(_)
        | Command::Verify(_)
        | Command::Trust(_)
        | Command::Clock(_)
        | Command::Delta(_)
        | Command::Gossip(_)
        | Command::Wire(_) => Vec::new(),
    }
}

/// clap's errors as one `crdt-merge: error:` line (exit 2); help and version print as clap
/// prints them.
fn parse_args() -> std::result::Result<Cli, ExitCode> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) => match e.kind() {
            ClapErrorKind::DisplayHelp
            | ClapErrorKind::DisplayVersion
            | ClapErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
            _ => {
                let text = e.render().to_string();
                // The first paragraph (`error: ...` and, for missing arguments, their list).
                let first = text
                    .trim_start()
                    .split("\n\n")
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                let first = first.strip_prefix("error:").unwrap_or(&first).trim();
                let first = if first.is_empty() {
                    "invalid arguments"
                } else {
                    first
                };
                let usage = text
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("Usage:"))
                    .map(|u| format!(" (usage: {}; see --help)", u.trim()))
                    .unwrap_or_else(|| " (see --help)".to_string());
                eprintln!("crdt-merge: error: {first}{usage}");
                Err(ExitCode::from(2))
            }
        },
    }
}

/// Stack for the thread that plans queries. DataFusion's SQL parser and planner recurse once per
/// `UNION ALL` branch and per nested expression, so a merge of thousands of inputs (or hundreds
/// of columns, in a debug build) passes the 8 MiB of a main thread; untouched stack pages cost no
/// memory, only address space (which a caller's `ulimit -v` may bound, hence not more). The
/// runtime's threads keep the default: DataFusion starts many blocking threads for file scans,
/// and each would reserve its stack.
const PLANNER_STACK: usize = 256 << 20;

fn main() -> ExitCode {
    // On a thread of its own, so that it gets [`PLANNER_STACK`]; where no such thread can be
    // made (a tight address-space limit), on this one.
    match std::thread::Builder::new()
        .name("crdt-merge".into())
        .stack_size(PLANNER_STACK)
        .spawn(run_main)
    {
        Ok(t) => t.join().unwrap_or_else(|_| {
            eprintln!("crdt-merge: error: internal error: the command thread stopped");
            ExitCode::from(1)
        }),
        Err(_) => run_main(),
    }
}

fn run_main() -> ExitCode {
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    record_panics();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("crdt-merge: error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let inputs = inputs_of(&cli.command);
    // A panic in any dependency (a malformed file can reach one) stops here, as an error.
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async {
            match cli.command {
                Command::Merge(a) => run_merge(a).await,
                Command::Query(a) => run_query(a).await,
                Command::Sql(a) => run_sql(a).await,
                Command::Inspect(a) => inspect::run(&a.input),
                Command::Model(a) => model::run(a),
                Command::Sketch(a) => sketch::run(a).await,
                Command::Dedup(a) => sketch::run_dedup(a).await,
                Command::Digest(a) => digest::run(a).await,
                Command::Sync(a) => sync::run(a).await,
                Command::Json(a) => json::run(a),
                Command::Clock(a) => clock::run(a),
                Command::Delta(a) => delta::run(a).await,
                Command::Gossip(a) => gossip::run(a),
                Command::Wire(a) => wire_cmd::run(a),
                Command::Diff(a) => diff::run(a).await,
                Command::Verify(a) => verify::run(a).await,
                Command::Trust(a) => trust::run(a).await,
            }
        })
    }));
    let result = outcome.unwrap_or_else(|_| {
        let what = PANIC
            .lock()
            .ok()
            .and_then(|mut p| p.take())
            .unwrap_or_else(|| "a panic without a message".to_string());
        let reading = if inputs.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = inputs.iter().map(|p| format!("'{p}'")).collect();
            format!(" while reading {}", names.join(", "))
        };
        Err(CliError::Run(format!(
            "internal error{reading}: {what} (a malformed input can cause this; please report it)"
        )))
    });
    rt.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let one_line = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("crdt-merge: error: {one_line}");
            ExitCode::from(e.code())
        }
    }
}
