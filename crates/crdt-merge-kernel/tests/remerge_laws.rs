//! Re-merging merged outputs (issue "Hardening", finding 14): with only a row clock, a NULL
//! written later than a value raises the merged row's clock past the value's own, so
//! (a ⊔ b) ⊔ c and a ⊔ (b ⊔ c) can differ. With `MergeSpec::cell_clocks` every lww column keeps
//! its winning cell's clock (and replica) as `c__ts` (`c__replica`), read back on the next
//! merge, and re-merging is associative again, NULL cells included.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{Field, Schema};
use crdt_merge_kernel::mergeql::{ColumnRule, MergeSpec, Source};
use crdt_merge_kernel::strategy::StrategyKind;
use crdt_merge_kernel::table::{merge, PlanChoice, Replica};
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

fn replica(name: &str, b: RecordBatch) -> Replica {
    Replica {
        name: name.into(),
        batches: vec![b],
    }
}

/// Rows of the named columns, as values, in key order.
fn table(b: &RecordBatch, columns: &[&str]) -> Vec<Vec<Value>> {
    let cols: Vec<&ArrayRef> = columns
        .iter()
        .map(|c| {
            b.column_by_name(c)
                .unwrap_or_else(|| panic!("no column {c}"))
        })
        .collect();
    (0..b.num_rows())
        .map(|r| {
            cols.iter()
                .map(|c| Value::from_array(c.as_ref(), r).unwrap())
                .collect()
        })
        .collect()
}

fn spec(replica_col: bool) -> MergeSpec {
    let mut s = MergeSpec::new([Source::table("x"), Source::table("y")], ["id"])
        .with_rule(ColumnRule::new("n", StrategyKind::LwwNullable))
        .with_strategy("m", StrategyKind::Max)
        .with_cell_clocks();
    if replica_col {
        s = s.with_replica("site");
    }
    s
}

fn m(parts: &[&Replica], spec: &MergeSpec) -> Replica {
    let owned: Vec<Replica> = parts.iter().map(|r| (*r).clone()).collect();
    let out = merge(&owned, spec, PlanChoice::Auto).unwrap();
    replica("merged", out.batch)
}

#[test]
fn finding_14_null_cells_under_a_row_clock_re_merge_associatively() {
    // The probe's case: a = (i=0, _ts=2), b = (i=NULL, _ts=3), c = (i=-1, _ts=2), LWW on i.
    let row = |i: Option<i64>, ts: i64| {
        replica(
            "r",
            batch(vec![
                ("id", Arc::new(Int64Array::from(vec![1]))),
                ("i", Arc::new(Int64Array::from(vec![i]))),
                ("_ts", Arc::new(Int64Array::from(vec![ts]))),
            ]),
        )
    };
    let (a, b, c) = (row(Some(0), 2), row(None, 3), row(Some(-1), 2));
    let plain = MergeSpec::new([Source::table("x"), Source::table("y")], ["id"]);
    let cells = plain.clone().with_cell_clocks();
    let i_of = |r: &Replica| table(&r.batches[0], &["i"])[0][0].clone();
    // Without cell clocks the groupings disagree (the documented limitation this fixes).
    assert_ne!(
        i_of(&m(&[&m(&[&a, &b], &plain), &c], &plain)),
        i_of(&m(&[&a, &m(&[&b, &c], &plain)], &plain))
    );
    let left = m(&[&m(&[&a, &b], &cells), &c], &cells);
    let right = m(&[&a, &m(&[&b, &c], &cells)], &cells);
    let all = m(&[&a, &b, &c], &cells);
    let cols = ["id", "i", "i__ts", "_ts"];
    assert_eq!(
        table(&left.batches[0], &cols),
        table(&right.batches[0], &cols)
    );
    assert_eq!(
        table(&left.batches[0], &cols),
        table(&all.batches[0], &cols)
    );
    // The kept clock is the winning cell's (2), not the row's (3).
    assert_eq!(
        table(&all.batches[0], &cols),
        vec![vec![
            Value::Int(1),
            Value::Int(0),
            Value::Int(2),
            Value::Int(3)
        ]]
    );
}

#[derive(Debug, Clone)]
struct Row {
    id: i64,
    s: Option<String>,
    n: Option<i64>,
    m: Option<i64>,
    ts: i64,
    site: String,
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec(
        (
            0i64..4,
            proptest::option::of("[a-c]{0,2}"),
            proptest::option::of(-2i64..3),
            proptest::option::of(-2i64..3),
            0i64..4,
            "[pq]",
        )
            .prop_map(|(id, s, n, m, ts, site)| Row {
                id,
                s,
                n,
                m,
                ts,
                site,
            }),
        0..6,
    )
}

fn to_replica(name: &str, rows: &[Row]) -> Replica {
    replica(
        name,
        batch(vec![
            (
                "id",
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.id).collect::<Vec<_>>(),
                )),
            ),
            (
                "s",
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.s.clone()).collect::<Vec<_>>(),
                )),
            ),
            (
                "n",
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.n).collect::<Vec<_>>(),
                )),
            ),
            (
                "m",
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.m).collect::<Vec<_>>(),
                )),
            ),
            (
                "_ts",
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.ts).collect::<Vec<_>>(),
                )),
            ),
            (
                "site",
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.site.clone()).collect::<Vec<_>>(),
                )),
            ),
        ]),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Batches merged one by one into a target in any order, or all at once, give one table;
    /// so do both groupings of three, with and without a replica column.
    #[test]
    fn re_merging_outputs_is_associative_and_order_free(
        a in rows(), b in rows(), c in rows(), with_site in any::<bool>()
    ) {
        let spec = spec(with_site);
        let (a, b, c) = (to_replica("a", &a), to_replica("b", &b), to_replica("c", &c));
        let mut cols = vec!["id", "s", "s__ts", "n", "n__ts", "m", "_ts"];
        if with_site {
            cols.extend(["s__replica", "n__replica", "site"]);
        }
        let all = m(&[&a, &b, &c], &spec);
        let expect = table(&all.batches[0], &cols);
        for (x, y, z) in [(&a, &b, &c), (&c, &b, &a), (&b, &a, &c)] {
            let left = m(&[&m(&[x, y], &spec), z], &spec);
            let right = m(&[x, &m(&[y, z], &spec)], &spec);
            prop_assert_eq!(table(&left.batches[0], &cols), expect.clone());
            prop_assert_eq!(table(&right.batches[0], &cols), expect.clone());
        }
        // Idempotent: merging the output with itself, or with an input again, changes nothing.
        prop_assert_eq!(table(&m(&[&all, &all], &spec).batches[0], &cols), expect.clone());
        prop_assert_eq!(table(&m(&[&all, &b], &spec).batches[0], &cols), expect);
    }
}

#[test]
fn cell_clocks_are_off_by_default_and_named_by_the_column() {
    let a = to_replica(
        "a",
        &[Row {
            id: 1,
            s: Some("x".into()),
            n: None,
            m: Some(1),
            ts: 1,
            site: "p".into(),
        }],
    );
    let plain = MergeSpec::new([Source::table("x")], ["id"])
        .with_strategy("m", StrategyKind::Max)
        .with_replica("site");
    let out = m(&[&a], &plain);
    assert!(out.batches[0].column_by_name("s__ts").is_none());
    let out = m(&[&a], &plain.with_cell_clocks());
    let names: Vec<String> = out.batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    // Max has no clock, so `m` keeps none; the row clock and the replica are not data columns.
    for kept in ["s__ts", "s__replica", "n__ts", "n__replica"] {
        assert!(names.contains(&kept.to_string()), "{names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("m__") || n.starts_with("_ts__") || n.starts_with("site__")),
        "{names:?}"
    );
    assert!(out.batches[0].column_by_name("s__ts").unwrap().null_count() == 0);
}
