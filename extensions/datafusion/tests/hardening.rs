//! Regression tests for the DataFusion findings of issue 14, named after their findings.

use crdt_merge_datafusion::{mergeql, register_all};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{SessionConfig, SessionContext};

fn ctx_with(partitions: usize) -> SessionContext {
    let ctx = SessionContext::new_with_config(
        SessionConfig::new()
            .with_target_partitions(partitions)
            .with_batch_size(2),
    );
    register_all(&ctx).expect("register");
    ctx
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

async fn create(ctx: &SessionContext, name: &str, sql: &str) {
    ctx.sql(&format!("CREATE TABLE {name} AS {sql}"))
        .await
        .expect("create")
        .collect()
        .await
        .expect("create");
}

/// Finding 6: DataFusion's `max` combined NaN clocks differently per partition; the merged
/// clocks now follow the kernel's order (NaN greatest), like the cells, whatever the
/// partitioning, source order or batch boundaries.
#[tokio::test]
async fn finding_6_nan_clocks_merge_deterministically() {
    let nan = "CAST('NaN' AS DOUBLE)";
    let tables = [
        (
            "n",
            format!(
                "SELECT * FROM (VALUES (1, 'nan', {nan}, 'wn', 5.0), (2, 'n2', 1.0, 'wn2', {nan}), \
                 (3, 'n3', 7.0, 'wn3', 1.0)) AS t(id, v, _ts, w, w_ts)"
            ),
        ),
        (
            "x",
            "SELECT * FROM (VALUES (1, 'thousand', 1000.0, 'wx', 1.0), (2, 'x2', 2.0, 'wx2', 2.0), \
             (3, 'x3', 8.0, 'wx3', 3.0)) AS t(id, v, _ts, w, w_ts)"
                .to_string(),
        ),
        (
            "y",
            format!(
                "SELECT * FROM (VALUES (1, 'fifteen', 1500.0, 'wy', {nan}), (2, 'y2', {nan}, 'wy2', 3.0), \
                 (3, 'y3', {nan}, 'wy3', 2.0)) AS t(id, v, _ts, w, w_ts)"
            ),
        ),
    ];
    let expected = [
        "1 | nan | NaN | wy | NaN",
        "2 | y2 | NaN | wn2 | NaN",
        "3 | y3 | NaN | wx3 | 3.0",
    ];
    for partitions in [1, 2, 3, 4, 8] {
        let ctx = ctx_with(partitions);
        for (name, sql) in &tables {
            create(&ctx, name, sql).await;
        }
        for sources in ["n, x, y", "y, x, n", "x, n, y", "y, n, x"] {
            for _ in 0..3 {
                let q = format!("MERGE {sources} ON id STRATEGY w='lww' CLOCK w_ts");
                let got = mergeql(&ctx, &q)
                    .await
                    .expect("plan")
                    .select_columns(&["id", "v", "_ts", "w", "w_ts"])
                    .expect("select")
                    .collect()
                    .await
                    .expect("collect");
                assert_eq!(lines(&got), expected, "{partitions} partitions: {q}");
            }
        }
    }
}

/// Finding 12: a column that is a number in one source and text in another was merged as text
/// (the union coerces it), so `max` put '9' above '10'.
#[tokio::test]
async fn finding_12_mixed_types_across_sources_are_an_error() {
    let ctx = ctx_with(2);
    create(
        &ctx,
        "a",
        "SELECT * FROM (VALUES (1, 9, 1.0)) AS t(id, score, _ts)",
    )
    .await;
    create(
        &ctx,
        "b",
        "SELECT * FROM (VALUES (1, '10', 1.0)) AS t(id, score, _ts)",
    )
    .await;
    create(
        &ctx,
        "c",
        "SELECT * FROM (VALUES (1, 10.5, 1.0)) AS t(id, score, _ts)",
    )
    .await;
    let e = mergeql(&ctx, "MERGE a, b ON id STRATEGY score='max'")
        .await
        .expect_err("mixed types")
        .to_string();
    assert!(
        e.contains(
            "crdt_merge: argument `score`: expected one type of value in every source (values \
             of different types are not compared), found Int64 in a but Utf8 in b"
        ),
        "{e}"
    );
    let e = ctx
        .sql("SELECT * FROM crdt_mergeql('MERGE c, b ON id')")
        .await
        .expect_err("through the table function")
        .to_string();
    assert!(e.contains("argument `score`"), "{e}");
    // Numbers of different widths merge as numbers.
    let got = mergeql(&ctx, "MERGE a, c ON id STRATEGY score='max'")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("collect");
    assert_eq!(lines(&got), ["1 | 10.5 | 1.0"]);
}

/// Finding 10: a non-boolean tombstone failed with DataFusion's COALESCE type error.
#[tokio::test]
async fn finding_10_tombstone_must_be_boolean() {
    let ctx = ctx_with(1);
    create(
        &ctx,
        "a",
        "SELECT * FROM (VALUES (1, 1.0, 0)) AS t(id, _ts, _deleted)",
    )
    .await;
    create(
        &ctx,
        "b",
        "SELECT * FROM (VALUES (1, 2.0, true)) AS t(id, _ts, _deleted)",
    )
    .await;
    let e = mergeql(&ctx, "MERGE b, a ON id TOMBSTONE")
        .await
        .expect_err("integer tombstone")
        .to_string();
    assert!(
        e.contains(
            "crdt_merge: argument `_deleted`: expected a boolean tombstone column (true marks a \
             deleted row), found Int64 in a"
        ),
        "{e}"
    );
}
