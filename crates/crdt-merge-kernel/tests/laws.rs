//! The CRDT laws for every strategy, in both forms.
//!
//! Grouped: rows split over random partitions, each partition aggregated on its own, its states
//! serialised, deserialised and combined in random order, give the same result as one pass — and
//! combining is commutative, associative and idempotent. Pairwise: commutative and idempotent,
//! associative where the output is a complete cell, and equal to the aggregate over two rows.
//! Inputs carry NULLs, NaN, ±0, empty strings and non-ASCII text.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, StringArray};
use crdt_merge_kernel::catalogue::invoke_scalar;
use crdt_merge_kernel::sort_key;
use crdt_merge_kernel::strategy::{pairwise, Aggregate, Columnar, Grouped, PerRow, State};
use crdt_merge_kernel::Value;
use proptest::prelude::*;

fn f64s() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        Just(Some(f64::NAN)),
        Just(Some(-0.0)),
        Just(Some(-f64::NAN)),
        Just(Some(0.0)),
        Just(Some(f64::INFINITY)),
        Just(Some(f64::NEG_INFINITY)),
        (-3i32..3).prop_map(|x| Some(x as f64)),
        any::<f64>().prop_map(Some),
    ]
}

fn texts() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        Just(Some("é".to_string())),
        Just(Some("日本".to_string())),
        Just(Some(" a , b ".to_string())),
        "[a-c ,|]{0,6}".prop_map(Some),
    ]
}

fn i64s() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        Just(None),
        (-2i64..3).prop_map(Some),
        any::<i64>().prop_map(Some)
    ]
}

fn clocks() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![Just(None), (0i64..4).prop_map(Some)]
}

fn replicas() -> impl Strategy<Value = Option<String>> {
    prop_oneof![Just(None), "[xy]".prop_map(Some)]
}

fn text_lists() -> impl Strategy<Value = Option<Vec<Option<String>>>> {
    prop_oneof![
        Just(None),
        proptest::collection::vec(texts(), 0..4).prop_map(Some)
    ]
}

/// A row of every argument column we test with.
#[derive(Debug, Clone)]
struct Row {
    f: Option<f64>,
    i: Option<i64>,
    s: Option<String>,
    ts: Option<i64>,
    r: Option<String>,
    l: Option<Vec<Option<String>>>,
    n: Option<i64>,
    m: Option<i64>,
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec(
        (
            f64s(),
            i64s(),
            texts(),
            clocks(),
            replicas(),
            text_lists(),
            proptest::option::of(0i64..50),
            proptest::option::of(0i64..50),
        )
            .prop_map(|(f, i, s, ts, r, l, n, m)| Row {
                f,
                i,
                s,
                ts,
                r,
                l,
                n,
                m,
            }),
        0..24,
    )
}

fn col(rows: &[Row], which: &str) -> ArrayRef {
    match which {
        "f" => Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.f))),
        "i" => Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.i))),
        "s" => Arc::new(StringArray::from_iter(rows.iter().map(|r| r.s.clone()))),
        "ts" => Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.ts))),
        "r" => Arc::new(StringArray::from_iter(rows.iter().map(|r| r.r.clone()))),
        "n" => Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.n))),
        "m" => Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.m))),
        "l" => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for r in rows {
                match &r.l {
                    None => b.append_null(),
                    Some(items) => {
                        for it in items {
                            b.values().append_option(it.clone());
                        }
                        b.append(true);
                    }
                }
            }
            Arc::new(b.finish())
        }
        "levels" => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for _ in rows {
                for l in ["", "a", "é", "b c"] {
                    b.values().append_value(l);
                }
                b.append(true);
            }
            Arc::new(b.finish())
        }
        "sep" => Arc::new(StringArray::from(vec![","; rows.len()])),
        "bar" => Arc::new(StringArray::from(vec!["|"; rows.len()])),
        other => panic!("no column {other}"),
    }
}

/// (aggregate, argument columns) for every strategy and value type we test.
const CASES: &[(&str, &[&str])] = &[
    ("crdt_lww", &["s", "ts"]),
    ("crdt_lww", &["f", "ts", "r"]),
    ("crdt_lww", &["i", "ts"]),
    ("crdt_lww", &["s", "f"]),
    ("crdt_max", &["i"]),
    ("crdt_lww_nullable", &["s", "ts", "r"]),
    ("crdt_lww_nullable", &["f", "ts"]),
    ("crdt_max", &["f"]),
    ("crdt_max", &["s"]),
    ("crdt_min", &["f"]),
    ("crdt_min", &["i"]),
    ("crdt_min", &["s"]),
    ("crdt_priority", &["s", "levels"]),
    ("crdt_longest", &["s", "ts", "r"]),
    ("crdt_longest", &["l", "ts"]),
    ("crdt_union", &["l"]),
    ("crdt_union", &["s", "sep"]),
    ("crdt_concat", &["s"]),
    ("crdt_concat", &["s", "bar"]),
    ("crdt_gcounter", &["r", "n"]),
    ("crdt_gcounter", &["i", "n"]),
    ("crdt_pncounter", &["r", "n", "m"]),
];

fn args(rows: &[Row], names: &[&str]) -> Vec<ArrayRef> {
    names.iter().map(|n| col(rows, n)).collect()
}

fn agg(name: &str, names: &[&str]) -> Aggregate {
    let types: Vec<_> = args(&[], names)
        .iter()
        .map(|a| a.data_type().clone())
        .collect();
    Aggregate::new(name, &types).expect("aggregate")
}

fn values(a: &ArrayRef) -> Vec<Value> {
    (0..a.len())
        .map(|i| Value::from_array(a.as_ref(), i).unwrap())
        .collect()
}

/// One pass over all rows, `groups` groups.
fn one_pass(a: &Aggregate, names: &[&str], rows: &[Row], groups: &[usize], g: usize) -> Vec<State> {
    let mut states = vec![State::Empty; g];
    a.update(
        &args(rows, names),
        &mut Grouped {
            states: &mut states,
            groups,
        },
    )
    .unwrap();
    states
}

fn finish(a: &Aggregate, states: &[State]) -> Vec<Value> {
    let refs: Vec<&State> = states.iter().collect();
    values(&a.finish(&refs).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn grouped_partitions_serialised_in_any_order(
        rows in rows(),
        seed in any::<u64>(),
        parts in 1usize..5,
    ) {
        for (name, names) in CASES {
            let a = agg(name, names);
            let g = 3;
            let groups: Vec<usize> = (0..rows.len()).map(|i| (i * 7 + seed as usize) % g).collect();
            let expect = finish(&a, &one_pass(&a, names, &rows, &groups, g));

            // Split rows over partitions, aggregate each alone, ship states as bytes.
            let mut shipped: Vec<Vec<Vec<u8>>> = Vec::new();
            for p in 0..parts {
                let idx: Vec<usize> = (0..rows.len()).filter(|i| (i + seed as usize) % parts == p).collect();
                let part_rows: Vec<Row> = idx.iter().map(|&i| rows[i].clone()).collect();
                let part_groups: Vec<usize> = idx.iter().map(|&i| groups[i]).collect();
                let states = one_pass(&a, names, &part_rows, &part_groups, g);
                shipped.push(states.iter().map(|s| a.encode_state(s)).collect());
            }
            // Combine in a seed-dependent order.
            let mut order: Vec<usize> = (0..parts).collect();
            order.rotate_left((seed as usize) % parts);
            if seed % 2 == 0 { order.reverse(); }
            let mut total = vec![State::Empty; g];
            for p in order {
                for (gi, bytes) in shipped[p].iter().enumerate() {
                    let s = a.decode_state(bytes).unwrap();
                    a.combine(&mut total[gi], &s).unwrap();
                }
            }
            prop_assert_eq!(finish(&a, &total), expect.clone(), "{} {:?}", name, names);

            // Feeding every row twice changes nothing (idempotence of update).
            let mut twice = one_pass(&a, names, &rows, &groups, g);
            a.update(&args(&rows, names), &mut Grouped { states: &mut twice, groups: &groups }).unwrap();
            prop_assert_eq!(finish(&a, &twice), expect, "{} {:?} twice", name, names);
        }
    }

    #[test]
    fn combine_is_a_join(x in rows(), y in rows(), z in rows()) {
        for (name, names) in CASES {
            let a = agg(name, names);
            let s = |r: &[Row]| one_pass(&a, names, r, &vec![0; r.len()], 1).remove(0);
            let (sx, sy, sz) = (s(&x), s(&y), s(&z));
            let join = |p: &State, q: &State| { let mut t = p.clone(); a.combine(&mut t, q).unwrap(); t };
            let f = |st: &State| finish(&a, std::slice::from_ref(st));
            prop_assert_eq!(f(&join(&sx, &sy)), f(&join(&sy, &sx)), "commutative {}", name);
            prop_assert_eq!(f(&join(&join(&sx, &sy), &sz)), f(&join(&sx, &join(&sy, &sz))), "associative {}", name);
            prop_assert_eq!(f(&join(&sx, &sx)), f(&sx), "idempotent {}", name);
            prop_assert_eq!(a.encode_state(&join(&sx, &sy)), a.encode_state(&join(&sy, &sx)), "canonical bytes {}", name);
        }
    }

    #[test]
    fn slim_and_general_cells_join_alike(x in rows(), y in rows()) {
        // Hosts may meet both forms (a state decoded from another host, a Columnar state):
        // joining a slim cell with its general twin must give what slim alone gives.
        for (name, names) in CASES {
            let a = agg(name, names);
            let s = |r: &[Row]| one_pass(&a, names, r, &vec![0; r.len()], 1).remove(0);
            let (sx, sy) = (s(&x), s(&y));
            let general = |st: &State| match st {
                State::Slim(c) => State::Cell(Box::new(c.to_cell())),
                other => other.clone(),
            };
            let join = |p: &State, q: &State| { let mut t = p.clone(); a.combine(&mut t, q).unwrap(); t };
            let f = |st: &State| finish(&a, std::slice::from_ref(st));
            let expect = f(&join(&sx, &sy));
            prop_assert_eq!(f(&join(&sx, &general(&sy))), expect.clone(), "slim into general {}", name);
            prop_assert_eq!(f(&join(&general(&sx), &sy)), expect.clone(), "general into slim {}", name);
            let mut mixed = general(&sx);
            a.update(&args(&y, names), &mut Grouped { states: std::slice::from_mut(&mut mixed), groups: &vec![0; y.len()] }).unwrap();
            prop_assert_eq!(f(&mixed), expect, "rows into a general cell {}", name);
        }
    }

    /// `arg_max(value, crdt_<s>_key(...))` (a host's own aggregate over the kernel's cell keys,
    /// `arg_min` for Min) is the strategy's aggregate, and `crdt_<s>_pick` is its join.
    #[test]
    fn cell_keys_pick_what_the_aggregates_pick(x in rows()) {
        for (name, names) in CASES {
            let kind = name.trim_start_matches("crdt_");
            if !matches!(kind, "lww" | "lww_nullable" | "max" | "min") {
                continue;
            }
            let a = args(&x, names);
            let keys = sort_key::strategy_key(&format!("crdt_{kind}_key"), &a).unwrap();
            let mut best: Option<usize> = None;
            for i in 0..keys.len() {
                if keys.is_null(i) {
                    continue;
                }
                let better = match best {
                    None => true,
                    Some(b) if kind == "min" => keys.value(i) < keys.value(b),
                    Some(b) => keys.value(i) > keys.value(b),
                };
                if better {
                    best = Some(i);
                }
            }
            let got = best.map_or(Value::Null, |i| Value::from_array(a[0].as_ref(), i).unwrap());
            let g = agg(name, names);
            let want = finish(&g, &one_pass(&g, names, &x, &vec![0; x.len()], 1));
            prop_assert_eq!(&got, &want[0], "{} {:?}", name, names);
            if x.len() >= 2 {
                let (l, r) = (args(&x[..1], names), args(&x[1..2], names));
                let both: Vec<ArrayRef> = l.iter().chain(&r).cloned().collect();
                let pick = pairwise::pick(&format!("crdt_{kind}_pick"), &both).unwrap();
                let joined = pairwise::join(&format!("crdt_{kind}_join"), &both).unwrap();
                let picked = if pick.value(0) { &r[0] } else { &l[0] };
                prop_assert_eq!(
                    Value::from_array(picked.as_ref(), 0).unwrap(),
                    Value::from_array(joined.as_ref(), 0).unwrap()
                );
            }
        }
    }

    /// Values equal in the canonical order but stored differently (±0.0, NaN payloads): the
    /// pick and the keys choose one by its stored bits, so the stored result does not depend on
    /// the order the inputs arrive in.
    #[test]
    fn picks_and_keys_ignore_arrival_order_down_to_the_bits(x in rows()) {
        use arrow_array::cast::AsArray;
        use arrow_array::types::Float64Type;
        for (name, names) in CASES {
            let kind = name.trim_start_matches("crdt_");
            if !matches!(kind, "lww" | "lww_nullable" | "max" | "min") || names[0] != "f" {
                continue;
            }
            let bits = |a: &ArrayRef, i: usize| a.as_primitive::<Float64Type>().value(i).to_bits();
            let winner = |rows: &[Row]| -> Option<u64> {
                let a = args(rows, names);
                let keys = sort_key::strategy_key(&format!("crdt_{kind}_key"), &a).unwrap();
                let mut best: Option<usize> = None;
                for i in 0..keys.len() {
                    if keys.is_null(i) || a[0].is_null(i) {
                        continue;
                    }
                    let better = best.is_none_or(|b| if kind == "min" {
                        keys.value(i) < keys.value(b)
                    } else {
                        keys.value(i) > keys.value(b)
                    });
                    if better {
                        best = Some(i);
                    }
                }
                best.map(|i| bits(&a[0], i))
            };
            let mut rev = x.clone();
            rev.reverse();
            prop_assert_eq!(winner(&x), winner(&rev), "{}", name);
            for w in x.windows(2) {
                let (l, r) = (args(&w[..1], names), args(&w[1..], names));
                let pick = |p: &[ArrayRef], q: &[ArrayRef]| -> Option<u64> {
                    let both: Vec<ArrayRef> = p.iter().chain(q).cloned().collect();
                    let second = pairwise::pick(&format!("crdt_{kind}_pick"), &both).unwrap().value(0);
                    let v = if second { &q[0] } else { &p[0] };
                    (!v.is_null(0)).then(|| bits(v, 0))
                };
                prop_assert_eq!(pick(&l, &r), pick(&r, &l), "{}", name);
            }
        }
    }

    #[test]
    fn pairwise_laws(x in rows(), y in rows(), z in rows()) {
        let n = x.len().min(y.len()).min(z.len());
        let (x, y, z) = (&x[..n], &y[..n], &z[..n]);
        // (join function, per-side columns, constants, output is a complete cell)
        let cases: &[(&str, &[&str], &[&str], bool)] = &[
            ("crdt_lww_join", &["s", "ts"], &[], false),
            ("crdt_lww_join", &["f", "ts", "r"], &[], false),
            ("crdt_lww_nullable_join", &["s", "ts"], &[], false),
            ("crdt_longest_join", &["s", "ts", "r"], &[], false),
            ("crdt_max_join", &["f"], &[], true),
            ("crdt_max_join", &["s"], &[], true),
            ("crdt_min_join", &["f"], &[], true),
            ("crdt_min_join", &["i"], &[], true),
            ("crdt_priority_join", &["s"], &["levels"], true),
            ("crdt_union_join", &["l"], &[], true),
            ("crdt_union_join", &["s"], &["sep"], true),
            ("crdt_concat_join", &["s"], &[], true),
        ];
        for (name, side, consts, complete) in cases {
            let call = |p: &[ArrayRef], q: &[ArrayRef]| -> ArrayRef {
                let mut v: Vec<ArrayRef> = p.to_vec();
                v.extend_from_slice(q);
                v.extend(consts.iter().map(|c| col(x, c)));
                invoke_scalar(name, &v, n).unwrap()
            };
            let (ax, ay, az) = (args(x, side), args(y, side), args(z, side));
            let xy = call(&ax, &ay);
            prop_assert_eq!(values(&xy), values(&call(&ay, &ax)), "commutative {}", name);
            // Idempotent: x ⊔ x equals x ⊔ ⊥ (the aggregate of x alone).
            let agg_name = name.trim_end_matches("_join");
            let mut agg_args = side.to_vec();
            agg_args.extend_from_slice(consts);
            let a = agg(agg_name, &agg_args);
            let mut alone = vec![State::Empty; n];
            let mut xa = ax.clone();
            xa.extend(consts.iter().map(|c| col(x, c)));
            a.update(&xa, &mut PerRow(&mut alone)).unwrap();
            prop_assert_eq!(values(&call(&ax, &ax)), finish(&a, &alone), "idempotent {}", name);
            // Equal to the aggregate over the two rows.
            let mut ya = ay.clone();
            ya.extend(consts.iter().map(|c| col(x, c)));
            a.update(&ya, &mut PerRow(&mut alone)).unwrap();
            prop_assert_eq!(values(&xy), finish(&a, &alone), "pairwise = aggregate {}", name);
            if *complete {
                let left = call(&[call(&ax, &ay)], &az);
                let right = call(&ax, &[call(&ay, &az)]);
                prop_assert_eq!(values(&left), values(&right), "associative {}", name);
            }
        }
    }

    #[test]
    fn columnar_equals_per_group_states(batches in proptest::collection::vec(rows(), 1..6), seed in any::<u64>()) {
        for (name, names) in CASES {
            let a = agg(name, names);
            let g = 4;
            // Slack 0 compacts after nearly every batch, so gathering is exercised too.
            let mut col = Columnar::new(a.clone()).with_compaction_slack(if seed % 2 == 0 { 0 } else { 1 << 16 });
            let mut states = vec![State::Empty; g];
            for (bi, rows) in batches.iter().enumerate() {
                let groups: Vec<usize> = (0..rows.len()).map(|i| (i * 5 + bi + seed as usize) % g).collect();
                col.update(&args(rows, names), &groups, g).unwrap();
                a.update(&args(rows, names), &mut Grouped { states: &mut states, groups: &groups }).unwrap();
            }
            prop_assert_eq!(values(&col.finish().unwrap()), finish(&a, &states), "{} {:?}", name, names);
            prop_assert_eq!(finish(&a, &col.to_states().unwrap()), finish(&a, &states), "to_states {}", name);
            // Partial states as columns, shipped into a fresh accumulator twice (idempotent)
            // and into groups numbered differently, give the same result.
            let shipped = col.state_columns().unwrap();
            let mut fin = Columnar::new(a.clone());
            let rev: Vec<usize> = (0..g).rev().collect();
            fin.merge_state_columns(&shipped, &rev, g).unwrap();
            fin.merge_state_columns(&shipped, &rev, g).unwrap();
            let mut want = finish(&a, &states);
            want.reverse();
            prop_assert_eq!(values(&fin.finish().unwrap()), want, "state columns {}", name);
        }
    }
}

#[test]
fn counter_and_state_scalars() {
    let r: ArrayRef = Arc::new(StringArray::from(vec!["a", "a", "b"]));
    let n: ArrayRef = Arc::new(Int64Array::from(vec![3, 5, 2]));
    let g = Aggregate::new(
        "crdt_gcounter",
        &[r.data_type().clone(), n.data_type().clone()],
    )
    .unwrap();
    let mut st = State::Empty;
    g.update(
        &[r.clone(), n.clone()],
        &mut crdt_merge_kernel::strategy::Single(&mut st),
    )
    .unwrap();
    let bytes = g.finish(&[&st]).unwrap();
    let v = invoke_scalar("crdt_counter_value", std::slice::from_ref(&bytes), 1).unwrap();
    assert_eq!(values(&v), vec![Value::Int(7)]);
    let t = invoke_scalar("crdt_typeof", std::slice::from_ref(&bytes), 1).unwrap();
    assert_eq!(values(&t), vec![Value::Str("g_counter".into())]);
    let j = invoke_scalar("crdt_to_json", std::slice::from_ref(&bytes), 1).unwrap();
    assert_eq!(
        values(&j),
        vec![Value::Str(
            r#"{"counts":{"a":5,"b":2},"type":"g_counter"}"#.into()
        )]
    );
    // NULL is bottom for crdt_state_merge; merging with itself changes nothing.
    let null: ArrayRef = arrow_array::new_null_array(&arrow_schema::DataType::Binary, 1);
    let m = invoke_scalar("crdt_state_merge", &[null, bytes.clone()], 1).unwrap();
    assert_eq!(values(&m), values(&bytes));
    let m = invoke_scalar("crdt_state_merge", &[bytes.clone(), bytes.clone()], 1).unwrap();
    assert_eq!(values(&m), values(&bytes));
    // A negative cumulative count is an error naming the function and argument.
    let neg: ArrayRef = Arc::new(Int64Array::from(vec![-1, 0, 0]));
    let e = g
        .update(&[r, neg], &mut crdt_merge_kernel::strategy::Single(&mut st))
        .unwrap_err();
    assert!(
        e.to_string().starts_with("crdt_gcounter: argument `count`"),
        "{e}"
    );
    // Garbage bytes are a decode error, not a panic.
    let junk: ArrayRef = Arc::new(arrow_array::BinaryArray::from(vec![&b"CRDT\x00"[..]]));
    assert!(invoke_scalar("crdt_counter_value", &[junk], 1).is_err());
}

#[test]
fn pairwise_sides_widen_to_a_common_type() {
    // An INTEGER clock on one side and a BIGINT clock on the other (as SQL literals often
    // are) widen instead of failing; text against an integer still fails.
    let v1: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
    let v2: ArrayRef = Arc::new(StringArray::from(vec!["b"]));
    let t1: ArrayRef = Arc::new(arrow_array::Int32Array::from(vec![1]));
    let t2: ArrayRef = Arc::new(Int64Array::from(vec![2]));
    let out = invoke_scalar("crdt_lww_join", &[v1.clone(), t1, v2, t2.clone()], 1).unwrap();
    assert_eq!(values(&out), vec![Value::Str("b".into())]);
    let e = invoke_scalar("crdt_max_join", &[v1, t2], 1).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("crdt_max_join: argument `argument 2`"),
        "{e}"
    );
}

#[test]
fn null_typed_columns_are_bottom_for_every_strategy() {
    // An all-NULL column arrives as Arrow's Null type (Polars' Null dtype, a bare SQL NULL), which
    // has no validity buffer; its rows must still count as NULL, not as empty values.
    let nulls: ArrayRef = Arc::new(arrow_array::NullArray::new(2));
    let text: ArrayRef = Arc::new(StringArray::from(vec![Some("b, a"), None]));
    let sep: ArrayRef = Arc::new(StringArray::from(vec![","; 2]));
    for (f, args, expect) in [
        (
            "crdt_union_join",
            vec![nulls.clone(), nulls.clone(), sep.clone()],
            vec![Value::Null, Value::Null],
        ),
        (
            "crdt_concat_join",
            vec![nulls.clone(), nulls.clone()],
            vec![Value::Null, Value::Null],
        ),
        (
            "crdt_union_join",
            vec![nulls.clone(), text.clone(), sep.clone()],
            vec![Value::Str("a,b".into()), Value::Null],
        ),
        (
            "crdt_max_join",
            vec![nulls.clone(), nulls.clone()],
            vec![Value::Null, Value::Null],
        ),
    ] {
        let out = invoke_scalar(f, &args, 2).unwrap();
        assert_eq!(null_aware(&out), expect, "{f}");
    }
    for (name, args) in [
        ("crdt_union", vec![nulls.clone(), sep.clone()]),
        ("crdt_concat", vec![nulls.clone()]),
        ("crdt_max", vec![nulls.clone()]),
    ] {
        let types: Vec<_> = args.iter().map(|a| a.data_type().clone()).collect();
        let a = Aggregate::new(name, &types).unwrap();
        let mut st = State::Empty;
        a.update(&args, &mut crdt_merge_kernel::strategy::Single(&mut st))
            .unwrap();
        let out = a.finish(&[&st]).unwrap();
        assert_eq!(null_aware(&out), vec![Value::Null], "{name}");
    }
}

/// Values of `a`, where an array of the Null type reads as NULLs.
fn null_aware(a: &ArrayRef) -> Vec<Value> {
    if a.data_type() == &arrow_schema::DataType::Null {
        vec![Value::Null; a.len()]
    } else {
        values(a)
    }
}
