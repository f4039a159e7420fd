//! Table-level merges: a [`MergeSpec`] or a MergeQL query run on a [`SessionContext`], and the
//! `crdt_mergeql('MERGE ...')` table function.
//!
//! The kernel renders the merge as one SQL `GROUP BY` query ([`render_sql`]); this module only
//! finds each source's columns, registers file sources, and plans the rendered SQL.

use std::path::Path;
use std::sync::Arc;

use crdt_merge_kernel::mergeql::{parse, render_sql, Dialect, MergeSpec, Source};
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_err, ScalarValue, TableReference};
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::logical_expr::Expr;
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
            ctx.register_parquet(name, path, ParquetReadOptions::new().file_extension(&ext))
                .await
        }
        FileFormat::JsonLines => {
            ctx.register_json(name, path, JsonReadOptions::default().file_extension(&ext))
                .await
        }
    }
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
    let mut spec = spec.clone();
    let mut columns = Vec::with_capacity(spec.sources.len());
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
        columns.push(
            provider
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect::<Vec<_>>(),
        );
    }
    render_sql(&spec, Dialect::DataFusion, &columns).map_err(plan_error)
}

/// Runs the table merge `spec` on `ctx` and returns the merged rows (one per key, ordered by
/// key) as a [`DataFrame`]. Table sources must be registered in `ctx`; file sources are
/// registered under their path.
///
/// # Errors
/// See [`render`]; execution errors surface when the frame is collected.
pub async fn merge(ctx: &SessionContext, spec: &MergeSpec) -> Result<DataFrame> {
    let sql = render(ctx, spec).await?;
    ctx.sql(&sql).await
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
            Ok::<_, DataFusionError>((plan, sql))
        })?;
        Ok(Arc::new(ViewTable::new(plan.0, Some(plan.1))))
    }
}
