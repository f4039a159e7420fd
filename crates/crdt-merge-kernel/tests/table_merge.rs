//! Table merge: the seed demo, both plans agreeing, convergence over many replicas merged in
//! random orders and groupings, schema evolution, tombstones, per-cell clocks, NULL keys.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use crdt_merge_kernel::mergeql::{parse, ColumnRule, MergeSpec, Source};
use crdt_merge_kernel::strategy::StrategyKind;
use crdt_merge_kernel::table::{merge, Plan, PlanChoice, Replica};
use crdt_merge_kernel::Value;
use proptest::prelude::*;

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        cols.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

fn rows(b: &RecordBatch) -> Vec<Vec<Value>> {
    (0..b.num_rows())
        .map(|r| {
            b.columns()
                .iter()
                .map(|c| Value::from_array(c.as_ref(), r).unwrap())
                .collect()
        })
        .collect()
}

fn seed() -> (Replica, Replica) {
    let a = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2]))),
        (
            "name",
            Arc::new(StringArray::from(vec!["Alice", "Charlie"])),
        ),
        ("score", Arc::new(Int64Array::from(vec![80, 70]))),
        ("_ts", Arc::new(Float64Array::from(vec![1000.0, 1000.0]))),
    ]);
    let b = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 3]))),
        ("name", Arc::new(StringArray::from(vec!["Bob", "Diana"]))),
        ("score", Arc::new(Int64Array::from(vec![90, 85]))),
        ("_ts", Arc::new(Float64Array::from(vec![2000.0, 1000.0]))),
    ]);
    (
        Replica {
            name: "a".into(),
            batches: vec![a],
        },
        Replica {
            name: "b".into(),
            batches: vec![b],
        },
    )
}

#[test]
fn seed_demo_both_plans() {
    let (a, b) = seed();
    let spec = parse("MERGE a, b ON id STRATEGY name='lww', score='max'").unwrap();
    let want = vec![
        vec![
            Value::Int(1),
            Value::Str("Bob".into()),
            Value::Int(90),
            Value::Float(2000.0),
        ],
        vec![
            Value::Int(2),
            Value::Str("Charlie".into()),
            Value::Int(70),
            Value::Float(1000.0),
        ],
        vec![
            Value::Int(3),
            Value::Str("Diana".into()),
            Value::Int(85),
            Value::Float(1000.0),
        ],
    ];
    let auto = merge(&[a.clone(), b.clone()], &spec, PlanChoice::Auto).unwrap();
    assert_eq!(auto.plan, Plan::Join);
    assert_eq!(rows(&auto.batch), want);
    let grouped = merge(&[b, a], &spec, PlanChoice::Grouped).unwrap();
    assert_eq!(grouped.plan, Plan::Grouped);
    assert_eq!(rows(&grouped.batch), want);
    assert_eq!(auto.rows_in, 4);
}

#[test]
fn provenance_and_conflicts() {
    let (a, b) = seed();
    let spec = parse("MERGE a, b ON id PROVENANCE STRATEGY score='max'").unwrap();
    let out = merge(&[a, b], &spec, PlanChoice::Auto).unwrap();
    let names: Vec<String> = out
        .batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        ["id", "name", "name__source", "score", "_ts", "__conflicts"]
    );
    let r = rows(&out.batch);
    assert_eq!(r[0][2], Value::Str("b".into()));
    assert_eq!(r[1][2], Value::Str("a".into()));
    // id 1: name and score both conflict; ids 2 and 3 have one row each.
    assert_eq!(r[0][5], Value::UInt(2));
    assert_eq!(r[1][5], Value::UInt(0));
    assert_eq!(
        out.conflicts,
        vec![("name".to_string(), 1), ("score".to_string(), 1)]
    );
}

#[test]
fn duplicate_keys_schema_evolution_and_null_keys() {
    // Replica a has id 1 twice (merged, not an error); b lacks `note` and has int32 scores.
    let a = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 1, 2]))),
        ("score", Arc::new(Int64Array::from(vec![5, 9, 1]))),
        ("note", Arc::new(StringArray::from(vec!["x", "y", "z"]))),
        ("_ts", Arc::new(Int64Array::from(vec![1, 2, 1]))),
    ]);
    let b = batch(vec![
        ("id", Arc::new(Int32Array::from(vec![2]))),
        ("score", Arc::new(Int32Array::from(vec![7]))),
        ("_ts", Arc::new(Int64Array::from(vec![5]))),
    ]);
    let spec = MergeSpec::new([Source::table("a"), Source::table("b")], ["id"])
        .with_strategy("score", StrategyKind::Max);
    let reps = [
        Replica {
            name: "a".into(),
            batches: vec![a],
        },
        Replica {
            name: "b".into(),
            batches: vec![b],
        },
    ];
    let out = merge(&reps, &spec, PlanChoice::Auto).unwrap();
    assert_eq!(out.plan, Plan::Grouped);
    assert_eq!(
        rows(&out.batch),
        vec![
            vec![
                Value::Int(1),
                Value::Int(9),
                Value::Str("y".into()),
                Value::Int(2)
            ],
            vec![
                Value::Int(2),
                Value::Int(7),
                Value::Str("z".into()),
                Value::Int(5)
            ],
        ]
    );
    assert!(merge(&reps, &spec, PlanChoice::Join).is_err());

    let nul = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![None, Some(1)]))),
        ("_ts", Arc::new(Int64Array::from(vec![1, 1]))),
    ]);
    let e = merge(
        &[Replica {
            name: "n".into(),
            batches: vec![nul],
        }],
        &spec,
        PlanChoice::Auto,
    )
    .unwrap_err();
    assert!(e.to_string().contains("argument `id`"), "{e}");

    let bad = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![3]))),
        ("score", Arc::new(StringArray::from(vec!["high"]))),
    ]);
    let e = merge(
        &[
            reps[0].clone(),
            Replica {
                name: "c".into(),
                batches: vec![bad],
            },
        ],
        &spec,
        PlanChoice::Auto,
    )
    .unwrap_err();
    assert!(e.to_string().contains("score"), "{e}");
}

#[test]
fn tombstones_and_cell_clocks() {
    // Row 1: written at 1, deleted at 2 (hidden), row 2: deleted at 1 then revived at 3;
    // row 3: a delete and a write at the same clock — the delete wins.
    let a = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3]))),
        ("v", Arc::new(StringArray::from(vec!["a1", "a2", "a3"]))),
        (
            "_deleted",
            Arc::new(BooleanArray::from(vec![Some(false), Some(true), None])),
        ),
        ("_ts", Arc::new(Int64Array::from(vec![1, 1, 4]))),
        ("v_ts", Arc::new(Int64Array::from(vec![9, 1, 1]))),
    ]);
    let b = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3]))),
        ("v", Arc::new(StringArray::from(vec!["b1", "b2", "b3"]))),
        (
            "_deleted",
            Arc::new(BooleanArray::from(vec![true, false, true])),
        ),
        ("_ts", Arc::new(Int64Array::from(vec![2, 3, 4]))),
        ("v_ts", Arc::new(Int64Array::from(vec![2, 2, 2]))),
    ]);
    let spec = MergeSpec::new([Source::table("a"), Source::table("b")], ["id"])
        .with_default_tombstone()
        .with_rule(ColumnRule::new("v", StrategyKind::Lww).with_clock("v_ts"));
    let reps = [
        Replica {
            name: "a".into(),
            batches: vec![a],
        },
        Replica {
            name: "b".into(),
            batches: vec![b],
        },
    ];
    for choice in [PlanChoice::Join, PlanChoice::Grouped] {
        let out = merge(&reps, &spec, choice).unwrap();
        let r = rows(&out.batch);
        // Columns: id, v, _deleted, _ts, v_ts. v follows its own clock v_ts.
        assert_eq!(r[0][1], Value::Str("a1".into()));
        assert_eq!(r[0][2], Value::Bool(true));
        assert_eq!(r[1][1], Value::Str("b2".into()));
        assert_eq!(r[1][2], Value::Bool(false));
        assert_eq!(r[2][2], Value::Bool(true));
        assert_eq!(r[2][4], Value::Int(2));
    }
}

/// One row: (id, name, name_ts, score, _ts, tags).
type Row = (i64, Option<String>, i64, Option<i64>, i64, Option<String>);

/// Random replicas of one table: name is LWW on its own clock `name_ts`, score max, tags a
/// text union, `_ts` the row clock.
fn replica_strategy() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec(
        (
            0i64..12,
            proptest::option::of("[a-c]{0,2}"),
            0i64..4,
            proptest::option::of(-3i64..4),
            0i64..4,
            proptest::option::of("[xy ,]{0,4}"),
        ),
        0..10,
    )
}

fn to_replica(name: String, rows: &[Row]) -> Replica {
    let b = batch(vec![
        (
            "id",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        ),
        (
            "name",
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1.clone()))),
        ),
        (
            "name_ts",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ),
        (
            "score",
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.3))),
        ),
        (
            "_ts",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.4))),
        ),
        (
            "tags",
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.5.clone()))),
        ),
    ]);
    Replica {
        name,
        batches: vec![b],
    }
}

fn spec_for(n: usize) -> MergeSpec {
    MergeSpec::new((0..n).map(|i| Source::table(format!("r{i}"))), ["id"])
        .with_rule(ColumnRule::new("name", StrategyKind::Lww).with_clock("name_ts"))
        .with_strategy("score", StrategyKind::Max)
        .with_rule(ColumnRule::new("tags", StrategyKind::Union).with_sep(","))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn plans_agree(a in replica_strategy(), b in replica_strategy()) {
        // Unique keys within each replica so the join plan applies.
        let dedup = |v: Vec<_>| { let mut seen = std::collections::HashSet::new(); v.into_iter().filter(|r: &Row| seen.insert(r.0)).collect::<Vec<_>>() };
        let (a, b) = (dedup(a), dedup(b));
        let reps = [to_replica("a".into(), &a), to_replica("b".into(), &b)];
        let spec = spec_for(2);
        let j = merge(&reps, &spec, PlanChoice::Join).unwrap();
        let g = merge(&reps, &spec, PlanChoice::Grouped).unwrap();
        prop_assert_eq!(&j.batch, &g.batch);
    }

    #[test]
    fn replicas_converge_in_any_order_and_grouping(
        reps in proptest::collection::vec(replica_strategy(), 2..16),
        seed in any::<u64>(),
    ) {
        let replicas: Vec<Replica> = reps.iter().enumerate().map(|(i, r)| to_replica(format!("r{i}"), r)).collect();
        let all = merge(&replicas, &spec_for(replicas.len()), PlanChoice::Auto).unwrap().batch;
        // Fold in a seed-dependent order, merging the running result with one replica at a
        // time (join plan whenever keys are unique), and re-merge the result with itself.
        let mut order: Vec<usize> = (0..replicas.len()).collect();
        let mut s = seed;
        for i in (1..order.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            order.swap(i, (s >> 33) as usize % (i + 1));
        }
        let mut acc = replicas[order[0]].clone();
        for &i in &order[1..] {
            let out = merge(&[acc.clone(), replicas[i].clone()], &spec_for(2), PlanChoice::Auto).unwrap();
            acc = Replica { name: "acc".into(), batches: vec![out.batch] };
        }
        let again = merge(&[acc.clone(), acc.clone()], &spec_for(2), PlanChoice::Auto).unwrap().batch;
        prop_assert_eq!(&acc.batches[0], &all);
        prop_assert_eq!(&again, &all);
    }
}

#[test]
fn output_types_follow_widening() {
    let (a, _) = seed();
    let b = batch(vec![
        ("id", Arc::new(Int32Array::from(vec![4]))),
        ("score", Arc::new(Float64Array::from(vec![1.5]))),
        ("_ts", Arc::new(Float64Array::from(vec![1.0]))),
    ]);
    let spec = parse("MERGE a, b ON id STRATEGY score='max'").unwrap();
    let out = merge(
        &[
            a,
            Replica {
                name: "b".into(),
                batches: vec![b],
            },
        ],
        &spec,
        PlanChoice::Auto,
    )
    .unwrap();
    let s = out.batch.schema();
    assert_eq!(
        s.field_with_name("id").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(
        s.field_with_name("score").unwrap().data_type(),
        &DataType::Float64
    );
    assert_eq!(out.batch.num_rows(), 3);
    assert!(out.batch.column(0).null_count() == 0);
}
