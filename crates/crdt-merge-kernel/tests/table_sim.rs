//! The simulator of `gossip_sim.rs` for replicas of a table: 3 to 16 replicas of
//! `(id, v, _ts, _deleted)` exchange the rows the other side lacks (by row id, as `crdt-merge
//! sync` does) over a network that loses, duplicates and reorders messages, partitions, and
//! kills replicas while they apply a batch (part of it applied). Rows are applied with the
//! table's CRDT join ([`merge`], LWW on `_ts` with tombstones), never by replacing.
//!
//! After the faults stop, one round over a path through every replica (there and back) leaves
//! every replica with the table digest of the join of all replicas, and a g-set style checker
//! holds: every acknowledged write is in the final table unless a write with a greater clock
//! to the same key (a delete included) superseded it. `SIM_TABLE_SEEDS` overrides the number of
//! seeds (200).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, StructArray,
};
use arrow_schema::{DataType, Field, Schema};
use crdt_merge_kernel::digest::{Fingerprint, RowIds};
use crdt_merge_kernel::mergeql::{MergeSpec, Source};
use crdt_merge_kernel::table::{merge, PlanChoice, Replica};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("v", DataType::Utf8, true),
        Field::new("_ts", DataType::Int64, true),
        Field::new("_deleted", DataType::Boolean, true),
    ]))
}

fn rows(r: &[(i64, Option<String>, i64, bool)]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(r.iter().map(|x| x.0).collect::<Vec<_>>())),
            Arc::new(StringArray::from(
                r.iter().map(|x| x.1.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(r.iter().map(|x| x.2).collect::<Vec<_>>())),
            Arc::new(BooleanArray::from(
                r.iter().map(|x| x.3).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

fn spec() -> MergeSpec {
    MergeSpec::new(
        vec![Source::file("a"), Source::file("b")],
        vec!["id".to_string()],
    )
    .with_rule(crdt_merge_kernel::mergeql::ColumnRule::new(
        "v",
        crdt_merge_kernel::strategy::StrategyKind::LwwNullable,
    ))
    .with_tombstone("_deleted")
}

fn join(a: &RecordBatch, b: &RecordBatch) -> RecordBatch {
    let reps = [
        Replica {
            name: "a".into(),
            batches: vec![a.clone()],
        },
        Replica {
            name: "b".into(),
            batches: vec![b.clone()],
        },
    ];
    let out = merge(&reps, &spec(), PlanChoice::Auto).unwrap().batch;
    // Same column order and types as the inputs, so every replica holds one schema.
    let cols: Vec<ArrayRef> = schema()
        .fields()
        .iter()
        .map(|f| {
            let c = out.column(out.schema().index_of(f.name()).unwrap()).clone();
            arrow_cast::cast(&c, f.data_type()).unwrap()
        })
        .collect();
    RecordBatch::try_new(schema(), cols).unwrap()
}

fn ids(b: &RecordBatch) -> Vec<[u8; 32]> {
    let key: ArrayRef = b.column(0).clone();
    let row: ArrayRef = Arc::new(StructArray::from(b.clone()));
    let mut r = RowIds::new("sim", &key, &row, None).unwrap();
    (0..b.num_rows()).map(|i| r.id(i).unwrap()).collect()
}

fn digest(b: &RecordBatch) -> [u8; 16] {
    let mut f = Fingerprint::EMPTY;
    for id in ids(b) {
        f.add_id(&id);
    }
    f.finish()
}

/// The rows of `b` whose ids `other` lacks.
fn missing(b: &RecordBatch, other: &BTreeSet<[u8; 32]>) -> RecordBatch {
    let keep: Vec<u32> = ids(b)
        .iter()
        .enumerate()
        .filter(|(_, id)| !other.contains(*id))
        .map(|(i, _)| i as u32)
        .collect();
    arrow_select::take::take_record_batch(b, &arrow_array::UInt32Array::from(keep)).unwrap()
}

struct Msg {
    to: usize,
    rows: RecordBatch,
}

fn simulate(seed: u64) -> (u64, u64) {
    let mut rng = Rng(seed ^ 0x7AB1E);
    let n = 3 + rng.below(14);
    let keys = 4 + rng.below(400) as i64;
    let mut reps: Vec<RecordBatch> = (0..n).map(|_| rows(&[])).collect();
    let mut down = vec![0u32; n];
    // Acknowledged writes: (key, value, ts, deleted).
    let mut acked: Vec<(i64, Option<String>, i64, bool)> = Vec::new();
    let mut clock = 0i64;
    let (mut messages, mut ops) = (0u64, 0u64);
    for step in 0..10 {
        let partition: Vec<bool> = (0..n).map(|_| rng.chance(0.5)).collect();
        let cut = step % 3 == 1;
        for _ in 0..n + rng.below(2 * n) {
            let i = rng.below(n);
            if down[i] > 0 {
                continue;
            }
            clock += 1 + rng.below(2) as i64;
            let k = rng.below(keys as usize) as i64;
            let w = if rng.chance(0.15) {
                (k, None, clock, true)
            } else {
                (k, Some(format!("v{}", rng.below(5))), clock, false)
            };
            reps[i] = join(&reps[i], &rows(std::slice::from_ref(&w)));
            acked.push(w);
            ops += 1;
        }
        // One round: each replica that is up pushes what a random peer lacks, both ways.
        let mut queue: Vec<Msg> = Vec::new();
        for i in 0..n {
            if down[i] > 0 {
                continue;
            }
            let j = (i + 1 + rng.below(n - 1)) % n;
            let (mine, theirs): (BTreeSet<_>, BTreeSet<_>) = (
                ids(&reps[i]).into_iter().collect(),
                ids(&reps[j]).into_iter().collect(),
            );
            for (from, to, other) in [(i, j, &theirs), (j, i, &mine)] {
                messages += 1;
                if (cut && partition[from] != partition[to]) || rng.chance(0.2) {
                    continue; // lost
                }
                let m = Msg {
                    to,
                    rows: missing(&reps[from], other),
                };
                if rng.chance(0.1) {
                    queue.push(Msg {
                        to,
                        rows: m.rows.clone(),
                    });
                }
                queue.push(m);
            }
        }
        while !queue.is_empty() {
            let m = queue.remove(rng.below(queue.len()));
            if down[m.to] > 0 || m.rows.num_rows() == 0 {
                continue;
            }
            if rng.chance(0.05) {
                // Killed mid-apply: a prefix of the batch was joined, then down for a while.
                let part = m.rows.slice(0, rng.below(m.rows.num_rows()));
                reps[m.to] = join(&reps[m.to], &part);
                down[m.to] = 1 + rng.below(2) as u32;
            } else {
                reps[m.to] = join(&reps[m.to], &m.rows);
            }
        }
        for d in &mut down {
            *d = d.saturating_sub(1);
        }
    }
    // Heal, then one round over a path there and back, without faults.
    let want = reps
        .iter()
        .skip(1)
        .fold(reps[0].clone(), |a, b| join(&a, b));
    let exchange = |reps: &mut Vec<RecordBatch>, a: usize, b: usize| {
        let (ia, ib): (BTreeSet<_>, BTreeSet<_>) = (
            ids(&reps[a]).into_iter().collect(),
            ids(&reps[b]).into_iter().collect(),
        );
        let (to_b, to_a) = (missing(&reps[a], &ib), missing(&reps[b], &ia));
        reps[a] = join(&reps[a], &to_a);
        reps[b] = join(&reps[b], &to_b);
    };
    for i in 0..n - 1 {
        exchange(&mut reps, i, i + 1);
        messages += 2;
    }
    for i in (0..n - 1).rev() {
        exchange(&mut reps, i + 1, i);
        messages += 2;
    }
    let d = digest(&want);
    for (i, r) in reps.iter().enumerate() {
        assert_eq!(
            digest(r),
            d,
            "seed {seed}: replica {i} differs from the join of all"
        );
    }
    // g-set style: the final row of each key is the acknowledged write with the greatest clock
    // (ties: the delete, then the greater value, as the join orders them).
    let mut last: BTreeMap<i64, (i64, bool, Option<String>)> = BTreeMap::new();
    for (k, v, ts, del) in &acked {
        let cand = (*ts, *del, v.clone());
        let e = last.entry(*k).or_insert_with(|| cand.clone());
        if cand > *e {
            *e = cand;
        }
    }
    let t = &reps[0];
    let id = t.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
    let ts = t.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
    let del = t.column(3).as_any().downcast_ref::<BooleanArray>().unwrap();
    let v = t.column(1).as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(
        t.num_rows(),
        last.len(),
        "seed {seed}: one row per written key"
    );
    for r in 0..t.num_rows() {
        let (wts, wdel, wv) = &last[&id.value(r)];
        assert_eq!(ts.value(r), *wts, "seed {seed}: key {}", id.value(r));
        assert_eq!(del.value(r), *wdel, "seed {seed}: key {}", id.value(r));
        if !*wdel {
            assert_eq!(
                v.is_valid(r).then(|| v.value(r).to_string()),
                *wv,
                "seed {seed}"
            );
        }
    }
    (messages, ops)
}

#[test]
fn table_replicas_converge_under_faults() {
    let seeds: u64 = std::env::var("SIM_TABLE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let (mut messages, mut ops) = (0u64, 0u64);
    for seed in 0..seeds {
        let (m, o) = simulate(seed);
        messages += m;
        ops += o;
    }
    eprintln!(
        "table simulator: {seeds} seeds, {ops} writes, {:.2} messages per write",
        messages as f64 / ops.max(1) as f64
    );
}
