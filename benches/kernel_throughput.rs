//! Kernel throughput on 10M-row inputs, single-threaded, written to `benches/results/kernel.md`.
//!
//! Workload (issue "kernel part 1"): two 5M-row replicas with 50% key overlap, concatenated and
//! shuffled, so 10M rows land on 7.5M groups in random order; i64 keys, utf8 / i64 / f64
//! values, f64 clocks. Grouped: `Aggregate::update` with one group index per row, then finish.
//! Pairwise: the `_join` scalar over two aligned 10M-row arrays.
//!
//! Run: `cargo bench -p crdt-merge-kernel --bench kernel_throughput` (ROWS=... to resize).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use crdt_merge_kernel::catalogue::invoke_scalar;
use crdt_merge_kernel::mergeql::parse;
use crdt_merge_kernel::strategy::{Aggregate, Columnar, Grouped, State};
use crdt_merge_kernel::table::{merge, PlanChoice, Replica};

const BATCH: usize = 8192;

/// Small deterministic generator, so runs are comparable.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn main() {
    let rows: usize = std::env::var("ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let half = rows / 2;
    let mut rng = Lcg(42);
    // Replica A has keys 0..half, replica B has keys half/2..half/2+half: 50% overlap.
    let mut keys: Vec<usize> = (0..half).chain(half / 2..half / 2 + half).collect();
    for i in (1..keys.len()).rev() {
        let j = (rng.next() as usize) % (i + 1);
        keys.swap(i, j);
    }
    let groups = half + half / 2;
    let names: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..rows).map(|i| format!("name-{}", (i * 7919) % 100_000)),
    ));
    let ints: ArrayRef = Arc::new(Int64Array::from_iter_values(
        (0..rows).map(|_| rng.next() as i64),
    ));
    let floats: ArrayRef = Arc::new(Float64Array::from_iter_values(
        (0..rows).map(|_| (rng.next() % 1_000_000) as f64 / 7.0),
    ));
    let ts: ArrayRef = Arc::new(Float64Array::from_iter_values(
        (0..rows).map(|_| (rng.next() % 1_000_000) as f64),
    ));

    let mut report = String::new();
    writeln!(
        report,
        "# Kernel throughput\n\n{rows} rows, {groups} groups in random order, one thread, release build.\n\n| kernel | value type | seconds | rows/s |\n|---|---|---|---|"
    )
    .unwrap();
    let mut record = |label: &str, ty: &str, secs: f64| {
        let line = format!(
            "| {label} | {ty} | {secs:.3} | {:.2}M |",
            rows as f64 / secs / 1e6
        );
        println!("{line}");
        writeln!(report, "{line}").unwrap();
    };

    for (ty, values) in [("utf8", &names), ("i64", &ints), ("f64", &floats)] {
        let agg = Aggregate::new(
            "crdt_lww",
            &[values.data_type().clone(), ts.data_type().clone()],
        )
        .unwrap();
        // Columnar form, fed in 8192-row batches as an engine would.
        let start = Instant::now();
        let mut acc = Columnar::new(agg.clone());
        for off in (0..rows).step_by(BATCH) {
            let len = BATCH.min(rows - off);
            acc.update(
                &[values.slice(off, len), ts.slice(off, len)],
                &keys[off..off + len],
                groups,
            )
            .unwrap();
        }
        std::hint::black_box(acc.finish().unwrap());
        record(
            "grouped crdt_lww, columnar",
            ty,
            start.elapsed().as_secs_f64(),
        );

        // Per-group states (the layout DuckDB and Postgres hand us).
        let start = Instant::now();
        let mut states = vec![State::Empty; groups];
        agg.update(
            &[values.clone(), ts.clone()],
            &mut Grouped {
                states: &mut states,
                groups: &keys,
            },
        )
        .unwrap();
        let refs: Vec<&State> = states.iter().collect();
        std::hint::black_box(agg.finish(&refs).unwrap());
        record(
            "grouped crdt_lww, per-group states",
            ty,
            start.elapsed().as_secs_f64(),
        );

        let max = Aggregate::new("crdt_max", &[values.data_type().clone()]).unwrap();
        let start = Instant::now();
        let mut acc = Columnar::new(max);
        for off in (0..rows).step_by(BATCH) {
            let len = BATCH.min(rows - off);
            acc.update(&[values.slice(off, len)], &keys[off..off + len], groups)
                .unwrap();
        }
        std::hint::black_box(acc.finish().unwrap());
        record(
            "grouped crdt_max, columnar",
            ty,
            start.elapsed().as_secs_f64(),
        );

        // Pairwise: rows/2 aligned pairs, counted as `rows` input cells.
        let (l, r) = (values.slice(0, half), values.slice(half, half));
        let (tl, tr) = (ts.slice(0, half), ts.slice(half, half));
        let start = Instant::now();
        std::hint::black_box(invoke_scalar("crdt_lww_join", &[l, tl, r, tr], half).unwrap());
        record("pairwise crdt_lww_join", ty, start.elapsed().as_secs_f64());
    }
    // Table merge: two replicas of `half` rows each (id, name, score, _ts), 50% key overlap.
    writeln!(
        report,
        "\n## Table merge\n\nTwo replicas of {half} rows (id BIGINT, name utf8 LWW, score BIGINT max, _ts DOUBLE), 50% key overlap, rows/s counted over input rows.\n\n| plan | seconds | input rows/s |\n|---|---|---|"
    )
    .unwrap();
    let replica = |lo: usize, seed: u64| -> Replica {
        let mut rng = Lcg(seed);
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(
            (lo..lo + half).map(|i| i as i64),
        ));
        let b = RecordBatch::try_from_iter(vec![
            ("id", ids),
            ("name", names.slice(0, half)),
            (
                "score",
                Arc::new(Int64Array::from_iter_values(
                    (0..half).map(|_| (rng.next() % 100) as i64),
                )) as ArrayRef,
            ),
            (
                "_ts",
                Arc::new(Float64Array::from_iter_values(
                    (0..half).map(|_| (rng.next() % 1000) as f64),
                )) as ArrayRef,
            ),
        ])
        .unwrap();
        Replica {
            name: format!("r{lo}"),
            batches: (0..b.num_rows())
                .step_by(BATCH)
                .map(|o| b.slice(o, BATCH.min(b.num_rows() - o)))
                .collect(),
        }
    };
    let reps = [replica(0, 1), replica(half / 2, 2)];
    let spec = parse("MERGE a, b ON id STRATEGY name='lww', score='max'").unwrap();
    for (label, choice) in [
        ("join (auto)", PlanChoice::Auto),
        ("grouped", PlanChoice::Grouped),
    ] {
        let start = Instant::now();
        let out = merge(&reps, &spec, choice).unwrap();
        let secs = start.elapsed().as_secs_f64();
        let line = format!(
            "| {label}: {:?}, {} rows out | {secs:.3} | {:.2}M |",
            out.plan,
            out.batch.num_rows(),
            rows as f64 / secs / 1e6
        );
        println!("{line}");
        writeln!(report, "{line}").unwrap();
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../benches/results/kernel.md"
    );
    std::fs::write(path, report).unwrap();
    println!("wrote {path}");
}
