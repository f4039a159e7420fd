//! `table::merge_aligned` (rows aligned by the caller's join) equals `table::merge` on two
//! replicas with unique keys.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use crdt_merge_kernel::mergeql::{ColumnRule, MergeSpec, Source};
use crdt_merge_kernel::strategy::StrategyKind;
use crdt_merge_kernel::table::{merge, merge_aligned, PlanChoice, Replica};
use proptest::prelude::*;

type Row = (
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<f64>,
    Option<bool>,
);

fn batch(ids: Option<Vec<i64>>, rows: &[Option<Row>]) -> RecordBatch {
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    if let Some(ids) = ids {
        fields.push(Field::new("id", DataType::Int64, false));
        cols.push(Arc::new(Int64Array::from(ids)));
    }
    let get = |f: &dyn Fn(&Row) -> Option<String>| -> Vec<Option<String>> {
        rows.iter().map(|r| r.as_ref().and_then(f)).collect()
    };
    fields.push(Field::new("name", DataType::Utf8, true));
    cols.push(Arc::new(StringArray::from(get(&|r| r.0.clone()))));
    fields.push(Field::new("score", DataType::Int64, true));
    cols.push(Arc::new(Int64Array::from(
        rows.iter()
            .map(|r| r.as_ref().and_then(|r| r.1))
            .collect::<Vec<_>>(),
    )));
    fields.push(Field::new("tags", DataType::Utf8, true));
    cols.push(Arc::new(StringArray::from(get(&|r| r.2.clone()))));
    fields.push(Field::new("_ts", DataType::Float64, true));
    cols.push(Arc::new(Float64Array::from(
        rows.iter()
            .map(|r| r.as_ref().and_then(|r| r.3))
            .collect::<Vec<_>>(),
    )));
    fields.push(Field::new("_deleted", DataType::Boolean, true));
    cols.push(Arc::new(BooleanArray::from(
        rows.iter()
            .map(|r| r.as_ref().and_then(|r| r.4))
            .collect::<Vec<_>>(),
    )));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

fn row() -> impl Strategy<Value = Row> {
    (
        proptest::option::of(prop::sample::select(vec!["a", "b", "é", ""]).prop_map(String::from)),
        proptest::option::of(-3i64..3),
        proptest::option::of(prop::sample::select(vec!["x", "y,x", "z"]).prop_map(String::from)),
        proptest::option::of((0i64..3).prop_map(|t| t as f64)),
        proptest::option::of(any::<bool>()),
    )
}

fn side() -> impl Strategy<Value = BTreeMap<i64, Row>> {
    prop::collection::btree_map(0i64..8, row(), 0..8)
}

fn spec() -> MergeSpec {
    MergeSpec::new([Source::table("a"), Source::table("b")], ["id"])
        .with_strategy("score", StrategyKind::Max)
        .with_rule(ColumnRule::new("tags", StrategyKind::Union).with_sep(","))
        .with_default_tombstone()
}

proptest! {
    #[test]
    fn aligned_equals_merge(a in side(), b in side()) {
        let keys: Vec<i64> = a.keys().chain(b.keys()).copied().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let reps = [
            Replica { name: "a".into(), batches: vec![batch(Some(a.keys().copied().collect()), &a.values().cloned().map(Some).collect::<Vec<_>>())] },
            Replica { name: "b".into(), batches: vec![batch(Some(b.keys().copied().collect()), &b.values().cloned().map(Some).collect::<Vec<_>>())] },
        ];
        let whole = merge(&reps, &spec(), PlanChoice::Auto).unwrap().batch;
        let left = batch(None, &keys.iter().map(|k| a.get(k).cloned()).collect::<Vec<_>>());
        let right = batch(None, &keys.iter().map(|k| b.get(k).cloned()).collect::<Vec<_>>());
        let aligned = merge_aligned(&left, &right, &spec()).unwrap();
        prop_assert_eq!(whole.num_rows(), aligned.num_rows());
        for f in aligned.schema().fields() {
            let w = whole.column_by_name(f.name()).unwrap();
            let got = aligned.column_by_name(f.name()).unwrap();
            prop_assert_eq!(w.to_data(), got.to_data(), "column {}", f.name());
        }
        let names: Vec<String> = whole.schema().fields().iter().skip(1).map(|f| f.name().clone()).collect();
        let got: Vec<String> = aligned.schema().fields().iter().map(|f| f.name().clone()).collect();
        prop_assert_eq!(names, got);
    }
}

#[test]
fn aligned_refuses_what_needs_the_full_merge() {
    let b = batch(None, &[]);
    let e = merge_aligned(&b, &b, &spec().with_provenance()).unwrap_err();
    assert!(e.to_string().contains("PROVENANCE"), "{e}");
    let one = batch(None, &[None]);
    let e = merge_aligned(&one, &b, &spec()).unwrap_err();
    assert!(e.to_string().contains("argument `right`"), "{e}");
}
