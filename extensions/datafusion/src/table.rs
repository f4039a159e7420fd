//! Table-level merges: a [`MergeSpec`] or a MergeQL query run on a [`SessionContext`], and the
//! `crdt_mergeql('MERGE ...')` table function.
//!
//! The kernel renders the merge as one SQL `GROUP BY` query ([`render_sql`]); this module only
//! finds each source's columns, registers file sources, plans the rendered SQL, and adds a
//! guard that fails on a NULL key (as the kernel's table merge and the other engines do: the
//! rendered `GROUP BY` alone would make one group of them).

use std::path::Path;
use std::sync::Arc;

use crdt_merge_kernel::mergeql::{
    check_source_types, parse, render_sql, Dialect, MergeSpec, Source,
};
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_err, Column, DFSchema, ScalarValue, TableReference};
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::parquet::file::metadata::ParquetMetaDataReader;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions};

use crate::error::plan_error;

/// File formats [`register_file`] reads, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// `.csv` (with a header row; types inferred).
    Csv,
    /// `.parquet`, `.parq`.
    Parquet,
    /// JSON lines: `.json`, `.jsonl`, `.ndjson` (one object per line).
    JsonLines,
}

impl FileFormat {
    /// The format of `path` by its extension (case-insensitive).
    ///
    /// # Errors
    /// An extension that is none of the above.
    pub fn of(path: &str) -> Result<FileFormat> {
        let ext = Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => Ok(FileFormat::Csv),
            "parquet" | "parq" => Ok(FileFormat::Parquet),
            "json" | "jsonl" | "ndjson" => Ok(FileFormat::JsonLines),
            _ => plan_err!(
                "cannot tell the format of '{path}': expected a .csv, .parquet or .json/.jsonl/.ndjson (JSON lines) file"
            ),
        }
    }
}

/// Registers the file at `path` as table `name` of `ctx`, in the format its extension names.
///
/// # Errors
/// The file does not exist, its extension is unknown, or its schema cannot be read.
pub async fn register_file(ctx: &SessionContext, name: &str, path: &str) -> Result<()> {
    let format = FileFormat::of(path)?;
    if !path.contains("://") && !Path::new(path).exists() {
        return plan_err!("file not found: '{path}'");
    }
    let ext = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    let name = TableReference::bare(name);
    match format {
        FileFormat::Csv => {
            ctx.register_csv(name, path, CsvReadOptions::new().file_extension(&ext))
                .await
        }
        FileFormat::Parquet => {
            check_parquet_file(path)?;
            ctx.register_parquet(name, path, ParquetReadOptions::new().file_extension(&ext))
                .await
        }
        FileFormat::JsonLines => {
            ctx.register_json(name, path, JsonReadOptions::default().file_extension(&ext))
                .await
        }
    }
}

/// Reads the footer metadata of the local Parquet file `path` once, so that a corrupt one is an
/// error naming the file: the parquet crate's metadata decoder panics on some malformed footers
/// (`PAR1 ff ff ff ff PAR1`), and this catches that panic (the host's panic hook still sees it).
/// Remote paths are left to DataFusion. [`register_file`] calls it before registering a
/// Parquet file; hosts that let DataFusion open files itself (URL tables) can call it first.
///
/// # Errors
/// The file cannot be opened, or its footer is not valid Parquet metadata.
pub fn check_parquet_file(path: &str) -> Result<()> {
    if path.contains("://") {
        return Ok(());
    }
    let invalid = |why: String| {
        DataFusionError::IoError(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("cannot read '{path}': not a valid Parquet file ({why})"),
        ))
    };
    let file = std::fs::File::open(path).map_err(|e| {
        DataFusionError::IoError(std::io::Error::new(
            e.kind(),
            format!("cannot read '{path}': {e}"),
        ))
    })?;
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ParquetMetaDataReader::new().parse_and_finish(&file)
    }));
    match read {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(invalid(e.to_string())),
        Err(panic) => Err(invalid(format!(
            "its footer metadata is corrupt: {}",
            panic_message(panic.as_ref())
        ))),
    }
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

fn reference(source: &Source) -> TableReference {
    match source {
        Source::File(path) => TableReference::bare(path.as_str()),
        Source::Table(parts) => match parts.as_slice() {
            [t] => TableReference::bare(t.as_str()),
            [s, t] => TableReference::partial(s.as_str(), t.as_str()),
            [c, s, t, ..] => TableReference::full(c.as_str(), s.as_str(), t.as_str()),
            [] => TableReference::bare(""),
        },
    }
}

/// Renders `spec` as DataFusion SQL for `ctx`: file sources are registered (once) as tables
/// named by their path, and every source's columns are read from its schema.
///
/// # Errors
/// A source that is neither a table of `ctx` nor a readable file, and every error of
/// [`render_sql`] (the kernel's message, unchanged).
pub async fn render(ctx: &SessionContext, spec: &MergeSpec) -> Result<String> {
    let asked = spec;
    let mut spec = spec.clone();
    let mut columns = Vec::with_capacity(spec.sources.len());
    let mut typed = Vec::with_capacity(spec.sources.len());
    for source in spec.sources.iter_mut() {
        if let Source::File(path) = source {
            let r = TableReference::bare(path.as_str());
            if !ctx.table_exist(r)? {
                register_file(ctx, path, path).await?;
            }
            // A table named by the path: quoted as an identifier, and provenance still reports
            // the path.
            *source = Source::Table(vec![path.clone()]);
        }
        let provider = ctx.table_provider(reference(source)).await.map_err(|e| {
            DataFusionError::Plan(format!(
                "mergeql: source {} is not a table: {}",
                source.to_mergeql(),
                e.strip_backtrace()
            ))
        })?;
        let schema = provider.schema();
        columns.push(
            schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect::<Vec<_>>(),
        );
        typed.push(
            schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect::<Vec<_>>(),
        );
    }
    let sql = render_sql(&spec, Dialect::DataFusion, &columns).map_err(plan_error)?;
    // Mixed kinds of values in one column, or a non-boolean tombstone, would otherwise be
    // coerced by the union (text `max` puts '9' above '10') or fail in COALESCE.
    check_source_types(asked, &typed).map_err(plan_error)?;
    Ok(sql)
}

/// Runs the table merge `spec` on `ctx` and returns the merged rows (one per key, ordered by
/// key) as a [`DataFrame`]. Table sources must be registered in `ctx`; file sources are
/// registered under their path.
///
/// # Errors
/// See [`render`]; execution errors surface when the frame is collected.
pub async fn merge(ctx: &SessionContext, spec: &MergeSpec) -> Result<DataFrame> {
    let sql = render(ctx, spec).await?;
    let df = ctx.sql(&sql).await?;
    let guard = null_key_guard(spec, df.schema())?;
    df.filter(guard)
}

/// The merged rows' NULL-key guard: `GROUP BY` makes one group of NULL keys, but NULL never
/// equals itself, so no plan can merge such rows lawfully. A NULL key in any input leaves a
/// NULL key in the output, and the filter this returns fails there with the kernel's wording
/// (one pass over the key columns of the output; no extra scan of the inputs).
fn null_key_guard(spec: &MergeSpec, schema: &DFSchema) -> Result<Expr> {
    let mut keys = Vec::with_capacity(spec.key.len());
    let mut args = Vec::with_capacity(spec.key.len());
    for key in &spec.key {
        // Names resolve case-insensitively, as in the renderer.
        let Some(field) = schema
            .fields()
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(key))
        else {
            return plan_err!(
                "crdt_merge: argument `{key}`: key column missing from the merged rows"
            );
        };
        keys.push(key.clone());
        args.push(Expr::Column(Column::new_unqualified(field.name().as_str())));
    }
    let guard = ScalarUDF::from(NullKeyGuard {
        keys,
        signature: Signature::variadic_any(Volatility::Volatile),
    });
    Ok(guard.call(args))
}

/// See [`null_key_guard`]. Not registered in any context: it exists only inside merge plans.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NullKeyGuard {
    keys: Vec<String>,
    signature: Signature,
}

impl ScalarUDFImpl for NullKeyGuard {
    fn name(&self) -> &str {
        "crdt_merge_null_key_guard"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        for (key, arg) in self.keys.iter().zip(&args.args) {
            let null = match arg {
                ColumnarValue::Array(a) => a.null_count() > 0,
                ColumnarValue::Scalar(v) => v.is_null() && args.number_rows > 0,
            };
            if null {
                return Err(DataFusionError::Execution(format!(
                    "crdt_merge: argument `{key}`: expected a key without NULLs (NULL never equals itself, so it cannot be merged), found NULL"
                )));
            }
        }
        Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
    }
}

/// Parses the MergeQL `query` (`MERGE a, 'b.csv' ON id STRATEGY score='max'`) and runs it like
/// [`merge`].
///
/// # Errors
/// A syntax error or unknown strategy (the kernel's message, with its position), and the
/// errors of [`merge`].
pub async fn mergeql(ctx: &SessionContext, query: &str) -> Result<DataFrame> {
    let spec = parse(query).map_err(plan_error)?;
    merge(ctx, &spec).await
}

/// The table function `crdt_mergeql('MERGE ...')`: the merged rows of a MergeQL query, as a
/// view planned against the calling session's catalog.
#[derive(Debug, Default)]
pub struct MergeQlFunction;

impl TableFunctionImpl for MergeQlFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let query = match args.exprs() {
            [Expr::Literal(ScalarValue::Utf8(Some(q)), _)]
            | [Expr::Literal(ScalarValue::Utf8View(Some(q)), _)]
            | [Expr::Literal(ScalarValue::LargeUtf8(Some(q)), _)] => q.clone(),
            _ => {
                return plan_err!(
                    "crdt_mergeql: argument `query`: expected one text literal (a MergeQL query)"
                )
            }
        };
        let Some(state) = args.session().as_any().downcast_ref::<SessionState>() else {
            return plan_err!("crdt_mergeql: needs a DataFusion SessionState");
        };
        // Same catalog (it is shared by reference), so file sources registered here stay visible.
        let ctx = SessionContext::new_with_state(state.clone());
        let plan = futures::executor::block_on(async {
            let spec = parse(&query).map_err(plan_error)?;
            let sql = render(&ctx, &spec).await?;
            let plan = ctx.state().create_logical_plan(&sql).await?;
            let guard = null_key_guard(&spec, plan.schema())?;
            let plan = LogicalPlanBuilder::from(plan).filter(guard)?.build()?;
            Ok::<_, DataFusionError>((plan, sql))
        })?;
        Ok(Arc::new(ViewTable::new(plan.0, Some(plan.1))))
    }
}
