//! DataFusion: our aggregates and table merge against DataFusion's own GROUP BY and a FULL
//! OUTER JOIN with CASE, on two replicas of N rows with 50% key overlap.
//!
//! ```sh
//! BENCH_N=10000000 cargo bench -p crdt-merge-datafusion --bench datafusion_merge
//! ```
//!
//! Prints a Markdown table (copied into `benches/results/datafusion.md`). `BENCH_N` sets N
//! (default 10,000,000), `BENCH_RUNS` the runs per query (best is reported, default 3).

use std::sync::Arc;
use std::time::Instant;

use crdt_merge_kernel::mergeql::{MergeSpec, Source};
use crdt_merge_kernel::strategy::StrategyKind;
use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;

const BATCH: usize = 8192;

/// A small deterministic generator (splitmix64).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn replica(
    ctx: &SessionContext,
    name: &str,
    first_id: i64,
    n: usize,
    seed: u64,
    parts: usize,
) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("score", DataType::Int32, true),
        Field::new("_ts", DataType::Float64, true),
    ]));
    let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); parts];
    let mut start = 0usize;
    let mut b = 0usize;
    while start < n {
        let len = BATCH.min(n - start);
        let ids: Vec<i64> = (start..start + len).map(|i| first_id + i as i64).collect();
        let r: Vec<u64> = ids.iter().map(|&i| mix(i as u64 ^ seed)).collect();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringArray::from_iter_values(
                r.iter().map(|x| format!("name{}", x % 100_000)),
            )),
            Arc::new(Int32Array::from_iter_values(
                r.iter().map(|x| ((x >> 20) % 1000) as i32),
            )),
            Arc::new(Float64Array::from_iter_values(
                r.iter().map(|x| ((x >> 32) % 1_000_000) as f64),
            )),
        ];
        partitions[b % parts].push(RecordBatch::try_new(schema.clone(), cols)?);
        start += len;
        b += 1;
    }
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, partitions)?))?;
    Ok(())
}

async fn drain(ctx: &SessionContext, sql: &str) -> Result<(usize, f64)> {
    let t = Instant::now();
    let mut stream = ctx.sql(sql).await?.execute_stream().await?;
    let mut rows = 0;
    while let Some(b) = stream.next().await {
        rows += b?.num_rows();
    }
    Ok((rows, t.elapsed().as_secs_f64()))
}

const UNION: &str =
    "(SELECT id, name, score, _ts FROM a UNION ALL SELECT id, name, score, _ts FROM b) AS u";

#[tokio::main]
async fn main() -> Result<()> {
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let parts = std::thread::available_parallelism().map_or(2, |p| p.get());
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(parts));
    crdt_merge_datafusion::register_all(&ctx)?;
    replica(&ctx, "a", 0, n, 1, parts)?;
    replica(&ctx, "b", (n / 2) as i64, n, 2, parts)?;
    let spec = MergeSpec::new(vec![Source::table("a"), Source::table("b")], vec!["id"])
        .with_strategy("score", StrategyKind::Max);
    let merge_sql = crdt_merge_datafusion::render(&ctx, &spec).await?;
    let cases: Vec<(&str, String)> = vec![
        (
            "GROUP BY, ours: crdt_lww + crdt_max",
            format!("SELECT id, crdt_lww(name, _ts) AS name, crdt_max(score) AS score, max(_ts) AS _ts FROM {UNION} GROUP BY id"),
        ),
        (
            "GROUP BY, DataFusion: last_value(ORDER BY _ts) + max",
            format!("SELECT id, last_value(name ORDER BY _ts) AS name, max(score) AS score, max(_ts) AS _ts FROM {UNION} GROUP BY id"),
        ),
        ("table merge, ours: merge() (GROUP BY + ORDER BY id)", merge_sql),
        (
            "GROUP BY + ORDER BY id, DataFusion: last_value + max",
            format!("SELECT id, last_value(name ORDER BY _ts) AS name, max(score) AS score, max(_ts) AS _ts FROM {UNION} GROUP BY id ORDER BY id"),
        ),
        (
            "FULL OUTER JOIN, ours: crdt_lww_join + crdt_max_join",
            "SELECT coalesce(a.id, b.id) AS id, crdt_lww_join(a.name, a._ts, b.name, b._ts) AS name, \
             crdt_max_join(a.score, b.score) AS score, greatest(a._ts, b._ts) AS _ts \
             FROM a FULL OUTER JOIN b ON a.id = b.id".to_string(),
        ),
        (
            "FULL OUTER JOIN, DataFusion: CASE + greatest",
            "SELECT coalesce(a.id, b.id) AS id, \
             CASE WHEN b._ts IS NULL OR (a._ts IS NOT NULL AND (a._ts > b._ts OR (a._ts = b._ts AND a.name >= b.name))) THEN a.name ELSE b.name END AS name, \
             greatest(a.score, b.score) AS score, greatest(a._ts, b._ts) AS _ts \
             FROM a FULL OUTER JOIN b ON a.id = b.id".to_string(),
        ),
    ];
    println!("N = {n} rows per replica, 2 replicas, 50% key overlap ({} keys), {parts} partitions, best of {runs}\n", n + n / 2);
    println!("| query | rows out | seconds | input rows/s |");
    println!("|---|---|---|---|");
    for (label, sql) in cases {
        let mut best = f64::INFINITY;
        let mut rows = 0;
        for _ in 0..runs {
            let (r, s) = drain(&ctx, &sql).await?;
            rows = r;
            best = best.min(s);
        }
        println!(
            "| {label} | {rows} | {best:.3} | {:.2}M |",
            (2 * n) as f64 / best / 1e6
        );
    }
    Ok(())
}
