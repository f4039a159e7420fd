//! Table deltas (`crdt_merge_kernel::delta`): applying `compute(old, new)` to `old` gives `new`
//! when `new` is a later version; deltas compose in any order and grouping; applying one twice
//! changes nothing; deleted keys stay deleted; bad input is an error naming the side.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use crdt_merge_kernel::delta::{compute, DeltaColumns};
use crdt_merge_kernel::mergeql::{MergeSpec, Source};
use crdt_merge_kernel::table::{merge, PlanChoice, Replica};
use crdt_merge_kernel::Value;
use proptest::prelude::*;

fn cols() -> DeltaColumns<'static> {
    static K: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    DeltaColumns {
        key: K.get_or_init(|| vec!["id".to_string()]),
        clock: "_ts",
        tombstone: "_deleted",
    }
}

/// A version of the table: id → (name, score, clock).
type Version = BTreeMap<i64, (Option<String>, i64, i64)>;

fn table(v: &Version) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("score", DataType::Int64, true),
        Field::new("_ts", DataType::Int64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(v.keys().copied().collect::<Vec<_>>())),
            Arc::new(StringArray::from(
                v.values().map(|r| r.0.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                v.values().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                v.values().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

fn spec(n: usize) -> MergeSpec {
    MergeSpec::new(
        (0..n).map(|i| Source::file(format!("r{i}"))),
        vec!["id".to_string()],
    )
    // A version may set a name to NULL: that is a write, so the name merges by lww_nullable
    // (under plain lww a NULL cell never wins, and the older name would survive).
    .with_rule(crdt_merge_kernel::mergeql::ColumnRule::new(
        "name",
        crdt_merge_kernel::strategy::StrategyKind::LwwNullable,
    ))
    .with_tombstone("_deleted")
}

fn join(parts: &[&RecordBatch]) -> RecordBatch {
    let replicas: Vec<Replica> = parts
        .iter()
        .enumerate()
        .map(|(i, b)| Replica {
            name: format!("r{i}"),
            batches: vec![(*b).clone()],
        })
        .collect();
    merge(&replicas, &spec(parts.len()), PlanChoice::Auto)
        .unwrap()
        .batch
}

/// The live rows of a merged table, as id → (name, score, clock).
fn live(b: &RecordBatch) -> Version {
    let col = |n: &str| b.column(b.schema().index_of(n).unwrap()).clone();
    let (id, name, score, ts) = (col("id"), col("name"), col("score"), col("_ts"));
    let dead = b
        .schema()
        .index_of("_deleted")
        .ok()
        .map(|i| b.column(i).clone());
    let mut out = Version::new();
    for r in 0..b.num_rows() {
        if let Some(d) = &dead {
            if let Value::Bool(true) = Value::from_array(d.as_ref(), r).unwrap() {
                continue;
            }
        }
        let int = |a: &ArrayRef| match Value::from_array(a.as_ref(), r).unwrap() {
            Value::Int(i) => i,
            other => panic!("{other:?}"),
        };
        let text = match Value::from_array(name.as_ref(), r).unwrap() {
            Value::Str(s) => Some(s),
            _ => None,
        };
        out.insert(int(&id), (text, int(&score), int(&ts)));
    }
    out
}

/// The next version: some rows change (with a later clock), some go, some arrive.
fn next(v: &Version, edits: &[(i64, u8, Option<String>, i64)], clock: i64) -> Version {
    let mut out = v.clone();
    for (k, op, name, score) in edits {
        match op % 3 {
            0 => {
                out.remove(k);
            }
            _ => {
                out.insert(*k, (name.clone(), *score, clock));
            }
        }
    }
    out
}

fn edits() -> impl Strategy<Value = Vec<(i64, u8, Option<String>, i64)>> {
    prop::collection::vec(
        (
            0i64..12,
            any::<u8>(),
            prop::option::of("[a-c]{1,2}"),
            -3i64..3,
        ),
        0..10,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn apply_compose_and_idempotence(e1 in edits(), e2 in edits(), e3 in edits()) {
        let c = cols();
        let v1 = next(&Version::new(), &e1, 1);
        let v2 = next(&v1, &e2, 2);
        let v3 = next(&v2, &e3, 3);
        let (t1, t2, t3) = (table(&v1), table(&v2), table(&v3));
        let d12 = compute(&t1, &t2, &c, None).unwrap().batch;
        let d23 = compute(&t2, &t3, &c, None).unwrap().batch;
        // apply(old, compute(old, new)) = new
        prop_assert_eq!(live(&join(&[&t1, &d12])), v2.clone());
        prop_assert_eq!(live(&join(&[&t2, &d23])), v3.clone());
        // Both deltas, in either order, at once or composed first: v3, the same bytes.
        let ab = join(&[&t1, &d12, &d23]);
        prop_assert_eq!(live(&ab), v3.clone());
        prop_assert_eq!(&join(&[&t1, &d23, &d12]), &ab);
        let c1 = join(&[&d12, &d23]);
        let c2 = join(&[&d23, &d12]);
        prop_assert_eq!(&c1, &c2);
        prop_assert_eq!(live(&join(&[&t1, &c1])), v3.clone());
        // Applying a delta twice, or a composed delta again, changes nothing.
        let once = join(&[&t1, &d12]);
        prop_assert_eq!(&join(&[&once, &d12]), &once);
        prop_assert_eq!(&join(&[&join(&[&t1, &c1]), &d23]), &join(&[&t1, &c1]));
        // Composition is associative.
        let d13 = compute(&t1, &t3, &c, None).unwrap().batch;
        prop_assert_eq!(
            &join(&[&join(&[&d12, &d23]), &d13]),
            &join(&[&d12, &join(&[&d23, &d13])])
        );
        // Equal inputs give equal (empty) deltas.
        prop_assert_eq!(compute(&t2, &t2, &c, None).unwrap().batch.num_rows(), 0);
    }
}

#[test]
fn counts_key_order_tombstone_clocks_and_widths() {
    let c = cols();
    let old = table(&Version::from([
        (1, (Some("a".into()), 1, 5)),
        (2, (Some("b".into()), 2, 9)),
        (3, (Some("c".into()), 3, 1)),
    ]));
    // new: 1 unchanged (as INT32 columns: widths do not make a change), 2 gone, 3 changed, 4 new.
    let schema = Arc::new(Schema::new(vec![
        Field::new("_ts", DataType::Int32, true),
        Field::new("id", DataType::Int32, false),
        Field::new("score", DataType::Int32, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let new = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int32Array::from(vec![7, 5, 6])),
            Arc::new(Int32Array::from(vec![4, 1, 3])),
            Arc::new(Int32Array::from(vec![4, 1, 30])),
            Arc::new(StringArray::from(vec!["d", "a", "c"])),
        ],
    )
    .unwrap();
    let d = compute(&old, &new, &c, None).unwrap();
    assert_eq!((d.added, d.modified, d.removed, d.unchanged), (1, 1, 1, 1));
    let b = &d.batch;
    let ids: Vec<i32> = b
        .column(1)
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap()
        .values()
        .to_vec();
    assert_eq!(ids, vec![2, 3, 4], "key order");
    let ts = b.column(0).as_any().downcast_ref::<Int32Array>().unwrap();
    // Key 2's own clock (9) is above new's greatest (7): the tombstone takes 9.
    assert_eq!(ts.values().to_vec(), vec![9, 6, 7]);
    let dead = b.column(4).as_any().downcast_ref::<BooleanArray>().unwrap();
    assert_eq!(
        (0..3).map(|i| dead.value(i)).collect::<Vec<_>>(),
        vec![true, false, false]
    );
    assert!(b.column(3).is_null(0), "a tombstone row's cells are NULL");
    // An explicit delete clock.
    let at: ArrayRef = Arc::new(StringArray::from(vec!["100"]));
    let d = compute(&old, &new, &c, Some(&at)).unwrap();
    let ts = d
        .batch
        .column(0)
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap();
    assert_eq!(ts.value(0), 100);
}

#[test]
fn bad_input_names_the_side() {
    let c = cols();
    let t = table(&Version::from([(1, (None, 1, 1))]));
    let dup = arrow_select::concat::concat_batches(&t.schema(), [&t, &t]).unwrap();
    let e = compute(&dup, &t, &c, None).unwrap_err().to_string();
    assert!(e.contains("old") && e.contains("one row per key"), "{e}");
    let e = compute(&t, &dup, &c, None).unwrap_err().to_string();
    assert!(e.contains("new"), "{e}");
    let no_clock = t.project(&[0, 1, 2]).unwrap();
    let e = compute(&t, &no_clock, &c, None).unwrap_err().to_string();
    assert!(e.contains("_ts"), "{e}");
    let at: ArrayRef = Arc::new(StringArray::from(vec!["soon"]));
    let gone = table(&Version::new());
    assert!(compute(&t, &gone, &c, Some(&at)).is_err());
}
