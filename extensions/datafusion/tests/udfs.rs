//! Registration, documentation, partial states shipped between contexts, table merges.

use std::sync::Arc;

use crdt_merge_datafusion::{merge, mergeql, register_all};
use crdt_merge_kernel::catalogue::{functions, FunctionKind};
use crdt_merge_kernel::mergeql::{MergeSpec, Source};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::FunctionRegistry;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::{SessionConfig, SessionContext};

fn ctx_with(partitions: usize) -> SessionContext {
    let ctx = SessionContext::new_with_config(
        SessionConfig::new()
            .with_target_partitions(partitions)
            .with_batch_size(64),
    );
    register_all(&ctx).expect("register");
    ctx
}

async fn rows(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let batches = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    lines(&batches)
}

fn lines(batches: &[RecordBatch]) -> Vec<String> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).expect("formatter"))
            .collect();
        for r in 0..b.num_rows() {
            out.push(
                fmts.iter()
                    .map(|f| f.value(r).to_string())
                    .collect::<Vec<_>>()
                    .join(" | "),
            );
        }
    }
    out
}

#[test]
fn registered_names_equal_the_catalogue() {
    let ctx = ctx_with(1);
    let state = ctx.state();
    let mut registered: Vec<String> = state
        .udfs()
        .into_iter()
        .chain(state.udafs())
        .filter(|n| n.starts_with("crdt_"))
        .collect();
    registered.sort();
    crdt_merge_e4::sql::register();
    let mut want: Vec<String> = functions().iter().map(|f| f.name.to_string()).collect();
    want.sort();
    assert!(
        want.iter().any(|n| n == "crdt_verify"),
        "E4's functions are registered"
    );
    assert_eq!(registered, want);
    for f in functions() {
        match f.kind {
            FunctionKind::Scalar => {
                let udf = state.udf(f.name).expect("scalar");
                let doc = udf.documentation().expect("scalar docs");
                assert!(doc.description.contains(f.doc), "{}", f.name);
                assert!(doc.sql_example.as_deref().unwrap_or("").contains(f.example));
            }
            FunctionKind::Aggregate => {
                let udaf = state.udaf(f.name).expect("aggregate");
                let doc = udaf.documentation().expect("aggregate docs");
                assert!(doc.description.contains(f.doc), "{}", f.name);
                assert!(doc.sql_example.as_deref().unwrap_or("").contains(f.example));
            }
        }
    }
    assert!(state
        .table_functions()
        .contains_key(crdt_merge_datafusion::MERGEQL_TABLE_FUNCTION));
}

/// Every catalogue example gives its documented result, on one and on four partitions.
#[tokio::test]
async fn catalogue_examples_run() {
    for partitions in [1, 4] {
        let ctx = ctx_with(partitions);
        crdt_merge_e4::sql::register();
        for f in functions() {
            let got = rows(&ctx, f.example).await;
            let got = got.join("\n");
            let want = f.example_result;
            // ArrayFormatter prints text as is; the corpus renders NULL as NULL too.
            assert_eq!(got, want, "{}: {}", f.name, f.example);
        }
    }
}

const DATA: &str = "SELECT i % 37 AS k, 'v' || CAST(i AS TEXT) AS v, i % 101 AS ts, i % 7 AS r, \
    i % 9973 AS n, 't' || CAST(i % 13 AS TEXT) AS tag, ARRAY[i % 11] AS l \
    FROM generate_series(1, 3000) AS g(i)";

const AGGS: &str = "SELECT k, crdt_lww(v, ts) AS lww, crdt_lww(v, ts, r) AS lww_r, \
    crdt_lww_nullable(v, ts, r) AS lwwn, crdt_max(n) AS mx, crdt_min(v) AS mn, \
    crdt_longest(v, ts, r) AS lng, crdt_concat(tag) AS tags, crdt_union(l) AS u, \
    crdt_union(tag, ',') AS ut, crdt_priority(tag, ARRAY['t3', 't1', 't7']) AS pr, \
    crdt_gcounter(r, n) AS g, crdt_pncounter(r, n, ts) AS pn \
    FROM t GROUP BY k";

fn find_agg(plan: &Arc<dyn ExecutionPlan>, partial: bool) -> Option<Arc<dyn ExecutionPlan>> {
    if let Some(a) = plan.downcast_ref::<AggregateExec>() {
        if !partial || *a.mode() == AggregateMode::Partial {
            return Some(plan.clone());
        }
    }
    plan.children()
        .into_iter()
        .find_map(|c| find_agg(c, partial))
}

/// The first aggregate of the plan of `AGGS`; with `partial`, the first one in Partial mode.
async fn aggregate_plan(ctx: &SessionContext, partial: bool) -> Arc<dyn ExecutionPlan> {
    let plan = ctx
        .sql(AGGS)
        .await
        .expect("plan")
        .create_physical_plan()
        .await
        .expect("physical plan");
    find_agg(&plan, partial).unwrap_or_else(|| {
        panic!(
            "no (Partial) AggregateExec in\n{}",
            datafusion::physical_plan::displayable(plan.as_ref()).indent(true)
        )
    })
}

fn to_ipc(batches: &[RecordBatch]) -> Vec<u8> {
    let schema = batches[0].schema();
    let mut w = StreamWriter::try_new(Vec::new(), &schema).expect("ipc writer");
    for b in batches {
        w.write(b).expect("ipc write");
    }
    w.into_inner().expect("ipc bytes")
}

fn from_ipc(bytes: &[u8]) -> Vec<RecordBatch> {
    StreamReader::try_new(bytes, None)
        .expect("ipc reader")
        .collect::<Result<Vec<_>, _>>()
        .expect("ipc batches")
}

/// Partial states computed in two separate contexts over disjoint halves of the data, shipped
/// as Arrow IPC bytes and finished in a third context, equal one single-context run.
#[tokio::test]
async fn partial_states_finish_in_another_context() {
    let whole = ctx_with(1);
    whole
        .sql(&format!("CREATE TABLE t AS {DATA}"))
        .await
        .expect("create")
        .collect()
        .await
        .expect("create");
    let mut want = rows(&whole, AGGS).await;
    want.sort();

    let mut shipped: Vec<Vec<u8>> = Vec::new();
    for part in ["k % 3 = 0 OR ts < 20", "NOT (k % 3 = 0 OR ts < 20)"] {
        let ctx = ctx_with(2);
        ctx.sql(&format!(
            "CREATE TABLE t AS SELECT * FROM ({DATA}) AS d WHERE {part}"
        ))
        .await
        .expect("create")
        .collect()
        .await
        .expect("create");
        let partial = aggregate_plan(&ctx, true).await;
        let states = collect(partial, ctx.task_ctx()).await.expect("partial");
        assert!(!states.is_empty());
        shipped.push(to_ipc(&states));
    }

    // The third context only knows the schema (an empty table) and receives the bytes.
    let finisher = ctx_with(2);
    finisher
        .sql(&format!(
            "CREATE TABLE t AS SELECT * FROM ({DATA}) AS d WHERE false"
        ))
        .await
        .expect("create")
        .collect()
        .await
        .expect("create");
    // Its plan over no rows aggregates in one phase; its aggregate expressions are the same.
    let plan = aggregate_plan(&finisher, false).await;
    let agg = plan.downcast_ref::<AggregateExec>().expect("aggregate");
    let received: Vec<RecordBatch> = shipped.iter().flat_map(|b| from_ipc(b)).collect();
    let input = finisher
        .read_batches(received)
        .expect("read batches")
        .create_physical_plan()
        .await
        .expect("input plan");
    // Final mode wants every partial row of a group in one partition.
    let input = Arc::new(CoalescePartitionsExec::new(input));
    let final_agg = AggregateExec::try_new(
        AggregateMode::Final,
        agg.group_expr().as_final(),
        agg.aggr_expr().to_vec(),
        agg.filter_expr().to_vec(),
        input,
        agg.input_schema(),
    )
    .expect("final aggregate");
    let out = collect(Arc::new(final_agg), finisher.task_ctx())
        .await
        .expect("final");
    let mut got = lines(&out);
    got.sort();
    assert_eq!(got.len(), 37);
    assert_eq!(got, want);
}

/// The aggregates honour FILTER (WHERE ...), grouped and ungrouped.
#[tokio::test]
async fn filter_clause_is_honoured() {
    let ctx = ctx_with(2);
    let q = "SELECT k, crdt_max(v) FILTER (WHERE v < 5) AS m, crdt_concat(t) FILTER (WHERE v > 1) AS c \
             FROM (VALUES (1, 1, 'a'), (1, 9, 'b'), (2, 3, 'c'), (2, 4, 'd')) AS x(k, v, t) \
             GROUP BY k ORDER BY k";
    assert_eq!(rows(&ctx, q).await, vec!["1 | 1 | b", "2 | 4 | c | d"]);
    let q = "SELECT crdt_max(v) FILTER (WHERE v < 5) AS m \
             FROM (VALUES (1), (9), (3)) AS x(v)";
    assert_eq!(rows(&ctx, q).await, vec!["3"]);
}

async fn seed(ctx: &SessionContext) {
    for (name, values) in [
        ("a", "(1, 'Alice', 80, 1000.0), (2, 'Charlie', 70, 1000.0)"),
        ("b", "(1, 'Bob', 90, 2000.0), (3, 'Diana', 85, 1000.0)"),
    ] {
        ctx.sql(&format!(
            "CREATE TABLE {name} AS SELECT * FROM (VALUES {values}) AS t(id, name, score, _ts)"
        ))
        .await
        .expect("create")
        .collect()
        .await
        .expect("create");
    }
}

const SEED_MERGED: [&str; 3] = [
    "1 | Bob | 90 | 2000.0",
    "2 | Charlie | 70 | 1000.0",
    "3 | Diana | 85 | 1000.0",
];

#[tokio::test]
async fn merge_and_mergeql_api() {
    let ctx = ctx_with(4);
    seed(&ctx).await;
    let spec = MergeSpec::new(vec![Source::table("a"), Source::table("b")], vec!["id"])
        .with_strategy("score", crdt_merge_kernel::strategy::StrategyKind::Max);
    let df = merge(&ctx, &spec).await.expect("merge");
    assert_eq!(lines(&df.collect().await.expect("collect")), SEED_MERGED);
    let df = mergeql(&ctx, "MERGE a, b ON id STRATEGY score='max'")
        .await
        .expect("mergeql");
    assert_eq!(lines(&df.collect().await.expect("collect")), SEED_MERGED);
    // The table function plans against the session's tables.
    let got = rows(
        &ctx,
        "SELECT * FROM crdt_mergeql('MERGE a, b ON id STRATEGY score=''max''') ORDER BY id",
    )
    .await;
    assert_eq!(got, SEED_MERGED);
}

#[tokio::test]
async fn null_keys_are_an_error_naming_the_key() {
    let ctx = ctx_with(2);
    seed(&ctx).await;
    ctx.sql("CREATE TABLE c AS SELECT * FROM (VALUES (1, 'x', 1, 1.0), (NULL, 'y', 2, 2.0)) AS t(id, name, score, _ts)")
        .await
        .expect("create")
        .collect()
        .await
        .expect("create");
    // The error comes when the rows are computed (as in DuckDB), not when the merge is planned.
    let df = mergeql(&ctx, "MERGE a, c ON id").await.expect("plan");
    let msg = df.collect().await.expect_err("null key").to_string();
    assert!(
        msg.contains("crdt_merge: argument `id`") && msg.contains("NULL"),
        "{msg}"
    );
    let df = ctx
        .sql("SELECT * FROM crdt_mergeql('MERGE c, b ON ID')")
        .await
        .expect("plan");
    let msg = df
        .collect()
        .await
        .expect_err("null key through the table function")
        .to_string();
    // MergeQL folds the unquoted name to lower case, as SQL does.
    assert!(msg.contains("argument `id`"), "{msg}");
    // Without NULLs the check passes.
    assert_eq!(
        lines(
            &mergeql(&ctx, "MERGE a, b ON id STRATEGY score='max'")
                .await
                .expect("ok")
                .collect()
                .await
                .expect("collect")
        ),
        SEED_MERGED
    );
}

#[tokio::test]
async fn mergeql_errors_name_the_problem() {
    let ctx = ctx_with(1);
    seed(&ctx).await;
    let e = mergeql(&ctx, "MERGE a, b ON id STRATEGY score='maximum'")
        .await
        .expect_err("unknown strategy");
    assert!(e.to_string().contains("unknown strategy"), "{e}");
    let e = mergeql(&ctx, "MERGE a b ON id").await.expect_err("syntax");
    assert!(e.to_string().contains("syntax error"), "{e}");
    let e = mergeql(&ctx, "MERGE a, nope ON id")
        .await
        .expect_err("table");
    assert!(e.to_string().contains("nope"), "{e}");
    let e = ctx
        .sql("SELECT crdt_priority(v, ARRAY[1, 1]) AS p FROM (VALUES (1)) AS t(v)")
        .await;
    let msg = match e {
        Err(e) => e.to_string(),
        Ok(df) => df
            .collect()
            .await
            .expect_err("duplicate levels")
            .to_string(),
    };
    assert!(msg.contains("crdt_priority"), "{msg}");
}
