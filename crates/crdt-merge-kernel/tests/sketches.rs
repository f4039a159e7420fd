//! Sketches: semilattice laws on canonical bytes (proptest), order and grouping independence of
//! the aggregates, accuracy against exact answers, known answers (MurmurHash3, datasketch
//! MinHash, the Python crdt-merge 0.11 frames in `tests/golden/sketch/vectors.json`), and the
//! errors bad parameters and mismatched sketches give.

use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, Int64Array, StringArray};
use arrow_schema::DataType;
use crdt_merge_kernel::catalogue::{aggregate, invoke_scalar};
use crdt_merge_kernel::sketch::hash::murmur3_x64_128;
use crdt_merge_kernel::sketch::minhash;
use crdt_merge_kernel::strategy::Single;
use crdt_merge_kernel::wire;
use proptest::prelude::*;
use serde_json::Value as Json;

/// Builds `name` over `args` (one group) and returns its state bytes.
fn build(name: &str, args: Vec<ArrayRef>) -> Vec<u8> {
    let types: Vec<DataType> = args.iter().map(|a| a.data_type().clone()).collect();
    let agg = aggregate(name, &types).unwrap();
    let mut st = agg.new_state();
    agg.update(&args, &mut Single(&mut st)).unwrap();
    let out = agg.finish(&[&st]).unwrap();
    let b = out.as_any().downcast_ref::<BinaryArray>().unwrap();
    b.value(0).to_vec()
}

fn ints(v: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(v.to_vec()))
}

fn consts(v: i64, n: usize) -> ArrayRef {
    Arc::new(Int64Array::from(vec![v; n]))
}

fn texts(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

/// The sketch of `items` for each kind, with small parameters so proptest runs fast.
fn sketch_of(kind: usize, items: &[i64]) -> Vec<u8> {
    let n = items.len();
    match kind {
        0 => build("crdt_hll_agg", vec![ints(items), consts(6, n)]),
        1 => build("crdt_theta_agg", vec![ints(items), consts(5, n)]),
        2 => build(
            "crdt_bloom_agg",
            vec![
                ints(items),
                consts(50, n),
                Arc::new(arrow_array::Float64Array::from(vec![0.05; n])),
            ],
        ),
        3 => {
            let reps: Vec<String> = items
                .iter()
                .map(|i| format!("r{}", i.rem_euclid(3)))
                .collect();
            let reps: Vec<&str> = reps.iter().map(String::as_str).collect();
            build(
                "crdt_cms_agg",
                vec![
                    ints(items),
                    texts(&reps),
                    consts(2, n),
                    consts(16, n),
                    consts(3, n),
                ],
            )
        }
        _ => build("crdt_minhash_agg", vec![ints(items), consts(16, n)]),
    }
}

fn merge(a: &[u8], b: &[u8]) -> Vec<u8> {
    wire::merge_bytes(a, b).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Commutative, associative, idempotent, canonical: on the bytes.
    #[test]
    fn laws_on_canonical_bytes(
        kind in 0usize..5,
        x in proptest::collection::vec(-200i64..200, 1..60),
        y in proptest::collection::vec(-200i64..200, 1..60),
        z in proptest::collection::vec(-200i64..200, 1..60),
    ) {
        let (a, b, c) = (sketch_of(kind, &x), sketch_of(kind, &y), sketch_of(kind, &z));
        prop_assert_eq!(merge(&a, &b), merge(&b, &a));
        prop_assert_eq!(merge(&merge(&a, &b), &c), merge(&a, &merge(&b, &c)));
        prop_assert_eq!(merge(&a, &a), a.clone());
        // Decoding and re-encoding changes nothing.
        prop_assert_eq!(wire::encode(&wire::decode(&a).unwrap()), a.clone());
        // The same multiset in another order gives the same bytes.
        let mut rev = x.clone();
        rev.reverse();
        prop_assert_eq!(sketch_of(kind, &rev), a);
    }

    /// Building over x ++ y equals merging the sketches of x and y (for Count-Min, whose
    /// replicas count disjoint rows here, the aggregate adds and the join takes the max: equal
    /// when each replica's rows are in one part).
    #[test]
    fn aggregate_equals_merge_of_parts(
        kind in 0usize..5,
        x in proptest::collection::vec(-200i64..200, 1..60),
        y in proptest::collection::vec(-200i64..200, 1..60),
    ) {
        prop_assume!(kind != 3);
        let mut xy = x.clone();
        xy.extend(&y);
        prop_assert_eq!(sketch_of(kind, &xy), merge(&sketch_of(kind, &x), &sketch_of(kind, &y)));
    }
}

fn json_of(bytes: &[u8]) -> Json {
    serde_json::from_str(&wire::to_json_bytes(bytes).unwrap()).unwrap()
}

fn scalar_i64(name: &str, args: Vec<ArrayRef>) -> Option<i64> {
    let out = invoke_scalar(name, &args, args[0].len()).unwrap();
    let a = out.as_any().downcast_ref::<Int64Array>().unwrap();
    (!arrow_array::Array::is_null(a, 0)).then(|| a.value(0))
}

fn blob(b: &[u8]) -> ArrayRef {
    Arc::new(BinaryArray::from(vec![b]))
}

#[test]
fn hll_accuracy_over_many_seeds() {
    // 20 disjoint ranges of 100k values at p = 14: every run within 3 standard errors,
    // the mean absolute error under 1%.
    let n = 100_000i64;
    let mut total = 0.0;
    for s in 0..20 {
        let items: Vec<i64> = (s * 10_000_000..s * 10_000_000 + n).collect();
        let st = build("crdt_hll_agg", vec![ints(&items)]);
        let est = scalar_i64("crdt_hll_count", vec![blob(&st)]).unwrap() as f64;
        let err = (est - n as f64).abs() / n as f64;
        assert!(err < 3.0 * 0.0081, "seed {s}: {est}");
        total += err;
    }
    assert!(total / 20.0 < 0.01, "mean error {}", total / 20.0);
}

#[test]
fn bloom_false_positive_rate_is_near_target() {
    let items: Vec<i64> = (0..2000).collect();
    let n = items.len();
    let st = build(
        "crdt_bloom_agg",
        vec![
            ints(&items),
            consts(2000, n),
            Arc::new(arrow_array::Float64Array::from(vec![0.01; n])),
        ],
    );
    let probes: Vec<i64> = (1_000_000..1_020_000).collect();
    let out = invoke_scalar(
        "crdt_bloom_contains",
        &[
            Arc::new(BinaryArray::from(vec![st.as_slice(); probes.len()])),
            ints(&probes),
        ],
        probes.len(),
    )
    .unwrap();
    let hits = out
        .as_any()
        .downcast_ref::<arrow_array::BooleanArray>()
        .unwrap();
    let fp = hits.true_count() as f64 / probes.len() as f64;
    assert!(fp > 0.004 && fp < 0.016, "false-positive rate {fp}");
    // No false negatives.
    let out = invoke_scalar(
        "crdt_bloom_contains",
        &[
            Arc::new(BinaryArray::from(vec![st.as_slice(); n])),
            ints(&items),
        ],
        n,
    )
    .unwrap();
    assert_eq!(
        out.as_any()
            .downcast_ref::<arrow_array::BooleanArray>()
            .unwrap()
            .true_count(),
        n
    );
}

#[test]
fn cms_never_undercounts_after_merges_and_remerges() {
    // Replica a counts x 100 times, replica b 50 times: 150 after any merge sequence,
    // re-merges included (the Python library's max merge says 100).
    let a = build(
        "crdt_cms_agg",
        vec![texts(&["x"]), texts(&["a"]), consts(100, 1)],
    );
    let b = build(
        "crdt_cms_agg",
        vec![texts(&["x"]), texts(&["b"]), consts(50, 1)],
    );
    let ab = merge(&a, &b);
    for s in [ab.clone(), merge(&ab, &a), merge(&merge(&ab, &b), &ab)] {
        assert_eq!(
            scalar_i64("crdt_cms_estimate", vec![blob(&s), texts(&["x"])]),
            Some(150)
        );
    }
    // Within one aggregation a replica's rows add up.
    let one = build(
        "crdt_cms_agg",
        vec![texts(&["x", "x", "y"]), texts(&["a", "a", "a"])],
    );
    assert_eq!(
        scalar_i64("crdt_cms_estimate", vec![blob(&one), texts(&["x"])]),
        Some(2)
    );
}

#[test]
fn minhash_jaccard_within_its_bound() {
    for (overlap, j) in [
        (10, 10.0 / 190.0),
        (100, 100.0 / 100.0 * 0.5 / 1.5),
        (180, 180.0 / 220.0),
    ] {
        let _ = j;
        let a: Vec<i64> = (0..200).collect();
        let b: Vec<i64> = (200 - overlap..400 - overlap).collect();
        let truth = overlap as f64 / (400 - overlap) as f64;
        let (sa, sb) = (
            build("crdt_minhash_agg", vec![ints(&a)]),
            build("crdt_minhash_agg", vec![ints(&b)]),
        );
        let out = invoke_scalar("crdt_jaccard", &[blob(&sa), blob(&sb)], 1).unwrap();
        let est = out
            .as_any()
            .downcast_ref::<arrow_array::Float64Array>()
            .unwrap()
            .value(0);
        let se = (truth * (1.0 - truth) / 128.0).sqrt();
        assert!(
            (est - truth).abs() <= 3.0 * se + 1e-9,
            "overlap {overlap}: {est} vs {truth}"
        );
    }
}

#[test]
fn theta_union_and_intersection_estimates() {
    let a: Vec<i64> = (0..20_000).collect();
    let b: Vec<i64> = (10_000..30_000).collect();
    let (sa, sb) = (
        build("crdt_theta_agg", vec![ints(&a)]),
        build("crdt_theta_agg", vec![ints(&b)]),
    );
    let u = invoke_scalar("crdt_theta_union", &[blob(&sa), blob(&sb)], 1).unwrap();
    let u = u
        .as_any()
        .downcast_ref::<BinaryArray>()
        .unwrap()
        .value(0)
        .to_vec();
    assert_eq!(u, merge(&sa, &sb));
    let est = scalar_i64("crdt_theta_count", vec![blob(&u)]).unwrap() as f64;
    assert!(
        (est - 30_000.0).abs() / 30_000.0 < 3.0 * 0.0156,
        "union {est}"
    );
    let i = invoke_scalar("crdt_theta_intersect", &[blob(&sa), blob(&sb)], 1).unwrap();
    let i = i
        .as_any()
        .downcast_ref::<BinaryArray>()
        .unwrap()
        .value(0)
        .to_vec();
    let est = scalar_i64("crdt_theta_count", vec![blob(&i)]).unwrap() as f64;
    assert!(
        (est - 10_000.0).abs() / 10_000.0 < 0.1,
        "intersection {est}"
    );
    // Small sets are exact.
    let s = build("crdt_theta_agg", vec![ints(&[1, 2, 2, 3])]);
    assert_eq!(scalar_i64("crdt_theta_count", vec![blob(&s)]), Some(3));
}

#[test]
fn integer_widths_hash_alike_and_floats_do_not() {
    let i32s: ArrayRef = Arc::new(arrow_array::Int32Array::from(vec![1, 2, 3]));
    let u8s: ArrayRef = Arc::new(arrow_array::UInt8Array::from(vec![1, 2, 3]));
    let f64s: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![1.0, 2.0, 3.0]));
    let base = build("crdt_hll_agg", vec![ints(&[1, 2, 3])]);
    assert_eq!(build("crdt_hll_agg", vec![i32s]), base);
    assert_eq!(build("crdt_hll_agg", vec![u8s]), base);
    assert_ne!(build("crdt_hll_agg", vec![f64s]), base);
    // −0.0 and +0.0 are one value, as are all NaNs.
    let z1: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![0.0, f64::NAN]));
    let z2: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![-0.0, -f64::NAN]));
    assert_eq!(
        build("crdt_minhash_agg", vec![z1]),
        build("crdt_minhash_agg", vec![z2])
    );
}

#[test]
fn hll_precisions_fold_to_the_smaller() {
    let items: Vec<i64> = (0..5000).collect();
    let n = items.len();
    let p14 = build("crdt_hll_agg", vec![ints(&items), consts(14, n)]);
    let p10 = build("crdt_hll_agg", vec![ints(&items), consts(10, n)]);
    assert_eq!(merge(&p14, &p10), p10);
    assert_eq!(json_of(&merge(&p10, &p14))["precision"], 10);
}

fn vectors() -> Json {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/golden/sketch/vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn murmur3_matches_mmh3() {
    let v = vectors();
    let cases = v["murmur3"].as_array().unwrap();
    assert!(cases.len() > 20);
    for c in cases {
        let data = unhex(c["hex"].as_str().unwrap());
        let got = murmur3_x64_128(&data, c["seed"].as_u64().unwrap());
        assert_eq!(
            got,
            (c["h1"].as_u64().unwrap(), c["h2"].as_u64().unwrap()),
            "{c}"
        );
    }
}

#[test]
fn minhash_matches_datasketch() {
    let v = vectors();
    for c in v["minhash"].as_array().unwrap() {
        let n = c["num_perm"].as_i64().unwrap();
        let seed = c["seed"].as_i64().unwrap();
        let items: Vec<Vec<u8>> = c["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| unhex(h.as_str().unwrap()))
            .collect();
        let mut m = crdt_merge_kernel::sketch::MinHash::new("t", n, seed).unwrap();
        for it in &items {
            m.add_hash(minhash::item_hash(it));
        }
        let want: Vec<u32> = c["hashvalues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(m.hashvalues(), want.as_slice(), "num_perm {n} seed {seed}");
        // Through SQL: text values hash as their UTF-8 bytes.
        if let Ok(texts_) = items
            .iter()
            .map(|b| String::from_utf8(b.clone()))
            .collect::<Result<Vec<_>, _>>()
        {
            if !texts_.is_empty() {
                let refs: Vec<&str> = texts_.iter().map(String::as_str).collect();
                let k = refs.len();
                let st = build(
                    "crdt_minhash_agg",
                    vec![texts(&refs), consts(n, k), consts(seed, k)],
                );
                let j = json_of(&st);
                let got: Vec<u32> = j["hashvalues"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect();
                assert_eq!(got, want);
            }
        }
    }
}

#[test]
fn upstream_frames_decode_and_answer_the_same() {
    let v = vectors();
    let up = &v["upstream"];
    // HLL: our registers equal theirs when fed the same ints with family 'upstream'.
    for (p, case) in up["hll"].as_object().unwrap() {
        let frame = unhex(case["wire_hex"].as_str().unwrap());
        let st = wire::decode(&frame).unwrap();
        assert_eq!(st.type_name(), "hll");
        let items: Vec<i64> = (0..1000).collect();
        let p: i64 = p.parse().unwrap();
        let ours = build(
            "crdt_hll_agg",
            vec![
                ints(&items),
                consts(p, 1000),
                Arc::new(StringArray::from(vec!["upstream"; 1000])),
            ],
        );
        assert_eq!(
            json_of(&ours)["registers"],
            json_of(&frame)["registers"],
            "precision {p}"
        );
        // Their frame merged with ours (same family) is lawful.
        assert_eq!(merge(&frame, &ours), merge(&ours, &ours));
    }
    // Bloom: membership answers agree on their frame, and ours built with family upstream
    // has their bits.
    let bl = &up["bloom"];
    let frame = unhex(bl["wire_hex"].as_str().unwrap());
    let contains = |probe: &str| {
        let out =
            invoke_scalar("crdt_bloom_contains", &[blob(&frame), texts(&[probe])], 1).unwrap();
        out.as_any()
            .downcast_ref::<arrow_array::BooleanArray>()
            .unwrap()
            .value(0)
    };
    assert_eq!(contains("k0"), bl["contains_k0"].as_bool().unwrap());
    assert_eq!(contains("zzz"), bl["contains_zzz"].as_bool().unwrap());
    // CMS: an upstream frame is one replica `_upstream`.
    let cms = &up["cms"];
    let frame = unhex(cms["wire_hex"].as_str().unwrap());
    let j = json_of(&frame);
    assert!(j["replicas"].get("_upstream").is_some(), "{j}");
    for (probe, key) in [("a", "estimate_a"), ("b", "estimate_b")] {
        if let Some(want) = cms[key].as_i64() {
            assert_eq!(
                scalar_i64("crdt_cms_estimate", vec![blob(&frame), texts(&[probe])]),
                Some(want)
            );
        }
    }
}

#[test]
fn bad_parameters_and_mismatches_name_the_function_and_both_sides() {
    let err = |name: &str, args: Vec<ArrayRef>| {
        let types: Vec<DataType> = args.iter().map(|a| a.data_type().clone()).collect();
        let agg = aggregate(name, &types).unwrap();
        let mut st = agg.new_state();
        agg.update(&args, &mut Single(&mut st))
            .unwrap_err()
            .to_string()
    };
    let e = err("crdt_hll_agg", vec![ints(&[1]), consts(30, 1)]);
    assert!(
        e.contains("crdt_hll_agg") && e.contains("precision") && e.contains("4 to 18"),
        "{e}"
    );
    let e = err("crdt_theta_agg", vec![ints(&[1]), consts(3, 1)]);
    assert!(e.contains("lg_k") && e.contains("5 to 26"), "{e}");
    let e = err("crdt_hll_agg", vec![ints(&[1, 2]), ints(&[10, 12])]);
    assert!(
        e.contains("precision") && e.contains("same value on every row"),
        "{e}"
    );
    let e = err(
        "crdt_hll_agg",
        vec![
            ints(&[1]),
            consts(10, 1),
            Arc::new(StringArray::from(vec!["sha256"])),
        ],
    );
    assert!(e.contains("family") && e.contains("sha256"), "{e}");
    // Merging different kinds, families or parameters.
    let h = build("crdt_hll_agg", vec![ints(&[1])]);
    let b = build("crdt_bloom_agg", vec![ints(&[1])]);
    let e = wire::merge_bytes(&h, &b).unwrap_err().to_string();
    assert!(
        e.contains("crdt_state_merge") && e.contains("hll") && e.contains("bloom"),
        "{e}"
    );
    let pg = build(
        "crdt_hll_agg",
        vec![
            ints(&[1]),
            consts(14, 1),
            Arc::new(StringArray::from(vec!["pg_hll"])),
        ],
    );
    let e = wire::merge_bytes(&h, &pg).unwrap_err().to_string();
    assert!(e.contains("murmur3") && e.contains("pg_hll"), "{e}");
    let m4 = build("crdt_minhash_agg", vec![ints(&[1]), consts(4, 1)]);
    let m8 = build("crdt_minhash_agg", vec![ints(&[1]), consts(8, 1)]);
    let e = wire::merge_bytes(&m4, &m8).unwrap_err().to_string();
    assert!(e.contains("num_perm 4") && e.contains("num_perm 8"), "{e}");
    let b2 = build(
        "crdt_bloom_agg",
        vec![
            ints(&[1]),
            consts(500, 1),
            Arc::new(arrow_array::Float64Array::from(vec![0.01])),
        ],
    );
    let e = wire::merge_bytes(&b, &b2).unwrap_err().to_string();
    assert!(
        e.contains("capacity 10000") && e.contains("capacity 500"),
        "{e}"
    );
    // Truncated bytes.
    let e = invoke_scalar("crdt_hll_count", &[blob(&h[..h.len() - 3])], 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("crdt_hll_count") && e.contains("truncated"),
        "{e}"
    );
    // A state of the wrong kind.
    let e = invoke_scalar("crdt_hll_count", &[blob(&b)], 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("hll state bytes") && e.contains("bloom"), "{e}");
    let e = invoke_scalar(
        "crdt_minhash_bands",
        &[blob(&m4), consts(3, 1), consts(2, 1)],
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("b × r ≤ num_perm (4)"), "{e}");
}

/// Every sketch decoder (wire frames, postgresql-hll bytes, DataSketches bytes) on mutated and
/// truncated valid input: an error or a state, never a panic; a decoded state re-encodes
/// canonically.
mod hostile_bytes {
    use super::*;
    use crdt_merge_kernel::sketch::{datasketches, pg_hll, Sketch};
    use crdt_merge_kernel::state::AnyState;

    fn seeds() -> Vec<Vec<u8>> {
        let items: Vec<i64> = (0..300).collect();
        let n = items.len();
        let mut out: Vec<Vec<u8>> = (0..5).map(|k| sketch_of(k, &items)).collect();
        let pg = build(
            "crdt_hll_agg",
            vec![
                ints(&items),
                consts(8, n),
                Arc::new(StringArray::from(vec!["pg_hll"; n])),
            ],
        );
        let Ok(AnyState::Sketch(Sketch::Hll(h))) = wire::decode(&pg) else {
            panic!()
        };
        out.push(pg_hll::to_pg_hll(&h).unwrap());
        let m = build("crdt_hll_agg", vec![ints(&items), consts(8, n)]);
        let Ok(AnyState::Sketch(Sketch::Hll(h))) = wire::decode(&m) else {
            panic!()
        };
        out.push(datasketches::to_datasketches(&h).unwrap());
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn mutated_bytes_never_panic(
            which in 0usize..7,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            cut in proptest::option::of(any::<usize>()),
        ) {
            let mut b = seeds()[which].clone();
            for (at, x) in flips {
                let i = at % b.len();
                b[i] ^= x;
            }
            if let Some(c) = cut {
                b.truncate(c % (b.len() + 1));
            }
            if let Ok(s) = wire::decode(&b) {
                let again = wire::encode(&s);
                prop_assert_eq!(wire::encode(&wire::decode(&again).unwrap()), again);
            }
            let _ = pg_hll::from_pg_hll(&b);
            let _ = datasketches::from_datasketches(&b);
        }
    }
}
