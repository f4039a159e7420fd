//! `MergeState` laws (proptests), the manifest parser under mutation, and the parts of
//! `StateDir` that need no model I/O. Tests that read and write models are in
//! `tests/state_resolve.rs`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crdt_merge_model::state::{Entry, Manifest, MergeState, StateDir};
use proptest::prelude::*;

const LABELS: &[&str] = &["a", "b", "c", "d"];
const WEIGHTS: &[f64] = &[0.5, 1.0, 2.0, -0.25];

fn empty() -> MergeState {
    MergeState::new("weight_average", &[], 0, None).unwrap()
}

fn entry(label: usize, content: u8, version: u64, weight: usize, fisher: bool) -> Entry {
    Entry {
        label: LABELS[label % LABELS.len()].to_string(),
        content: [content; 32],
        version,
        weight: WEIGHTS[weight % WEIGHTS.len()],
        fisher: fisher.then_some([content ^ 0x80; 32]),
        gram: None,
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(Entry),
    Remove(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..4usize, 1..5u8, 1..4u64, 0..4usize, any::<bool>())
            .prop_map(|(l, c, v, w, f)| Op::Add(entry(l, c, v, w, f))),
        1 => (0..4usize).prop_map(Op::Remove),
    ]
}

/// Applies ops, skipping refused ones (re-adding a tombstoned tag, removing an unknown label):
/// a refused op changes nothing.
fn apply(state: &mut MergeState, ops: &[Op]) {
    for o in ops {
        let before = state.clone();
        let ok = match o {
            Op::Add(e) => state.add(e.clone()).is_ok(),
            Op::Remove(l) => state.remove(LABELS[*l]).is_ok(),
        };
        if !ok {
            assert_eq!(*state, before, "a refused op must not change the state");
        }
    }
}

fn built(ops: &[Op]) -> MergeState {
    let mut s = empty();
    apply(&mut s, ops);
    s
}

fn live_key(s: &MergeState) -> Vec<(String, [u8; 32], u64, u64)> {
    s.live()
        .iter()
        .map(|e| (e.label.clone(), e.content, e.version, e.weight.to_bits()))
        .collect()
}

fn same(a: &MergeState, b: &MergeState) {
    assert_eq!(a.canonical_bytes(), b.canonical_bytes());
    assert_eq!(live_key(a), live_key(b));
    assert_eq!(a.state_hash(), b.state_hash());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn merge_is_commutative(a in prop::collection::vec(op(), 0..12),
                            b in prop::collection::vec(op(), 0..12)) {
        let (a, b) = (built(&a), built(&b));
        same(&a.merged(&b).unwrap(), &b.merged(&a).unwrap());
    }

    #[test]
    fn merge_is_associative(a in prop::collection::vec(op(), 0..10),
                            b in prop::collection::vec(op(), 0..10),
                            c in prop::collection::vec(op(), 0..10)) {
        let (a, b, c) = (built(&a), built(&b), built(&c));
        let left = a.merged(&b).unwrap().merged(&c).unwrap();
        let right = a.merged(&b.merged(&c).unwrap()).unwrap();
        same(&left, &right);
    }

    #[test]
    fn merge_is_idempotent(a in prop::collection::vec(op(), 0..12),
                           b in prop::collection::vec(op(), 0..12)) {
        let a = built(&a);
        same(&a.merged(&a).unwrap(), &a);
        // Absorption too: merging what is already included changes nothing.
        let ab = a.merged(&built(&b)).unwrap();
        same(&ab.merged(&a).unwrap(), &ab);
    }

    #[test]
    fn live_has_one_maximal_entry_per_label(ops in prop::collection::vec(op(), 0..20)) {
        let s = built(&ops);
        let live = s.live();
        let labels: BTreeSet<&str> = live.iter().map(|e| e.label.as_str()).collect();
        prop_assert_eq!(labels.len(), live.len());
        let all: BTreeSet<&str> = s.set().entries().values().map(|e| e.label.as_str()).collect();
        prop_assert_eq!(&labels, &all);
        for w in &live {
            for (tag, e) in s.set().entries() {
                if e.label == w.label {
                    let wt = w.tag();
                    prop_assert!((w.version, w.content, wt) >= (e.version, e.content, *tag));
                }
            }
        }
        // Sorted by content id: the order the driver merges in.
        let ids: Vec<[u8; 32]> = live.iter().map(|e| e.content).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        prop_assert_eq!(ids, sorted);
    }

    #[test]
    fn manifest_round_trips(ops in prop::collection::vec(op(), 0..20)) {
        let s = built(&ops);
        let bytes = Manifest::encode(&s);
        let back = Manifest::parse(&bytes).unwrap();
        prop_assert_eq!(&back, &s);
        prop_assert_eq!(Manifest::encode(&back), bytes);
    }

    /// Three replicas apply ops and occasionally pull from each other; folding them together in
    /// any of the six orders (and any grouping) gives one state.
    #[test]
    fn replicas_converge(steps in prop::collection::vec((0..3usize, op(), 0..4usize), 0..40)) {
        let mut reps = [empty(), empty(), empty()];
        for (r, o, pull) in &steps {
            if *pull < 3 && *pull != *r {
                let other = reps[*pull].clone();
                reps[*r].merge(&other).unwrap();
            }
            apply(&mut reps[*r], std::slice::from_ref(o));
        }
        let orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
        let fold = |order: &[usize; 3]| {
            let mut s = reps[order[0]].clone();
            for &i in &order[1..] {
                s.merge(&reps[i]).unwrap();
            }
            s
        };
        let first = fold(&orders[0]);
        for order in &orders[1..] {
            same(&fold(order), &first);
        }
        // A pairwise grouping, and through the manifest.
        let bc = Manifest::parse(&Manifest::encode(&reps[1].merged(&reps[2]).unwrap())).unwrap();
        same(&reps[0].merged(&bc).unwrap(), &first);
    }

    /// Ops as deltas (each add or observed remove is a small state) give the same state in any
    /// delivery order.
    #[test]
    fn deltas_in_any_order_converge(ops in prop::collection::vec(op(), 1..16),
                                    perm in any::<u64>()) {
        // The origin applies ops and records each one's delta.
        let mut origin = empty();
        let mut deltas = Vec::new();
        for o in &ops {
            let mut d = empty();
            match o {
                Op::Add(e) => {
                    if origin.add(e.clone()).is_ok() {
                        d.add(e.clone()).unwrap();
                        deltas.push(d);
                    }
                }
                Op::Remove(l) => {
                    // A remove's delta is the tombstones of the tags it observed (built by adding
                    // those entries to an empty state and removing them there).
                    let seen: Vec<Entry> = origin.set().entries().values()
                        .filter(|e| e.label == LABELS[*l]).cloned().collect();
                    if origin.remove(LABELS[*l]).is_ok() {
                        for e in seen {
                            d.add(e).unwrap();
                        }
                        d.remove(LABELS[*l]).unwrap();
                        prop_assert!(d.set().entries().is_empty());
                        deltas.push(d);
                    }
                }
            }
        }
        // A deterministic shuffle from the drawn seed.
        let mut order: Vec<usize> = (0..deltas.len()).collect();
        let mut x = perm | 1;
        for i in (1..order.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut replica = empty();
        for i in order {
            replica.merge(&deltas[i]).unwrap();
        }
        same(&replica, &origin);
    }

    /// A remove wins over a concurrent re-add of the same tag, but not over a higher version.
    #[test]
    fn remove_wins_over_same_tag_not_over_higher_version(l in 0..4usize, c in 1..5u8,
                                                        v in 1..4u64, w in 0..4usize) {
        let e = entry(l, c, v, w, false);
        let mut a = empty();
        a.add(e.clone()).unwrap();
        let mut b = a.clone();
        a.remove(&e.label).unwrap();
        // b re-adds the same entry concurrently (it has not seen the remove): same tag.
        b.add(e.clone()).unwrap();
        let m = a.merged(&b).unwrap();
        prop_assert!(m.live().is_empty());
        // A concurrent add of a higher version survives the remove.
        let higher = Entry { version: v + 1, ..e.clone() };
        b.add(higher.clone()).unwrap();
        let m = a.merged(&b).unwrap();
        prop_assert_eq!(m.live().len(), 1);
        prop_assert_eq!(m.live()[0], &higher);
        // Locally, re-adding the removed tag is refused; a higher version is accepted.
        let err = a.add(e.clone()).unwrap_err().to_string();
        prop_assert!(err.contains("higher version"), "{}", err);
        a.add(higher).unwrap();
        same(&a, &m.merged(&a).unwrap());
    }
}

/// Mutates valid manifests a few hundred ways (byte flips, truncations, splices of JSON
/// fragments); the parser must never panic, and whatever it accepts must re-encode stably.
#[test]
fn mutated_manifests_never_panic() {
    let mut s = MergeState::new("weight_average", &[], 5, Some([9; 32])).unwrap();
    s.add(entry(0, 1, 2, 0, true)).unwrap();
    s.add(entry(1, 2, 1, 3, false)).unwrap();
    s.add(entry(2, 3, 1, 1, false)).unwrap();
    s.remove("c").unwrap();
    let good = Manifest::encode(&s);
    let fragments: &[&[u8]] = &[
        b"null",
        b"{}",
        b"[]",
        b"\"",
        b"-1",
        b"1e999",
        b"\"NaN\"",
        b"\"inf\"",
        b"18446744073709551616",
        b"{\"x\":1}",
        b",",
        b"\\u0000",
        b"\"0303\"",
        b"true",
        b"[[[[[[[[[[[[",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut accepted = 0;
    for round in 0..600 {
        let mut m = good.clone();
        match round % 4 {
            0 => {
                for _ in 0..1 + next() % 3 {
                    let i = (next() as usize) % m.len();
                    m[i] ^= 1 << (next() % 8);
                }
            }
            1 => m.truncate((next() as usize) % m.len()),
            2 => {
                let i = (next() as usize) % m.len();
                let j = (i + (next() as usize) % 40).min(m.len());
                let f = fragments[(next() as usize) % fragments.len()];
                m.splice(i..j, f.iter().copied());
            }
            _ => {
                // Swap two digits: a tag or id changes by one character.
                let digits: Vec<usize> =
                    (0..m.len()).filter(|&i| m[i].is_ascii_hexdigit()).collect();
                let i = digits[(next() as usize) % digits.len()];
                m[i] = if m[i] == b'0' { b'1' } else { b'0' };
            }
        }
        if let Ok(state) = Manifest::parse(&m) {
            accepted += 1;
            let again = Manifest::encode(&state);
            assert_eq!(Manifest::parse(&again).unwrap(), state);
            assert_eq!(Manifest::encode(&Manifest::parse(&again).unwrap()), again);
        }
    }
    // Most mutations break it, but a few (whitespace, inert digits) should survive.
    assert!(accepted < 600, "no mutation was refused");
}

fn write_state(dir: &Path, s: &MergeState) {
    fs::write(dir.join("manifest.json"), Manifest::encode(s)).unwrap();
}

#[test]
fn init_and_open_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("st");
    let made = StateDir::init(&dir, "weight_average", None, &[], 17).unwrap();
    assert_eq!(made.state().seed(), 17);
    assert!(dir.join("blobs").is_dir());
    assert!(!dir.join(".lock").exists(), "the lock is released");
    let opened = StateDir::open(&dir).unwrap();
    assert_eq!(opened.state(), made.state());
    assert_eq!(
        fs::read(dir.join("manifest.json")).unwrap(),
        Manifest::encode(made.state())
    );
    // open(write(s)) == s for a state with entries and tombstones; remove rewrites it stably.
    let mut s = MergeState::new("weight_average", &[], 17, None).unwrap();
    s.add(entry(0, 1, 1, 0, true)).unwrap();
    s.add(entry(0, 2, 2, 1, false)).unwrap();
    s.add(entry(1, 3, 1, 2, false)).unwrap();
    write_state(&dir, &s);
    assert_eq!(StateDir::open(&dir).unwrap().state(), &s);
    assert_eq!(StateDir::remove(&dir, "a").unwrap(), 2);
    s.remove("a").unwrap();
    assert_eq!(
        fs::read(dir.join("manifest.json")).unwrap(),
        Manifest::encode(&s)
    );
    assert_eq!(StateDir::hash(&dir).unwrap(), s.state_hash());
    let shown = StateDir::show(&dir).unwrap();
    for want in [
        "weight_average",
        "seed: 17",
        "tombstones: 2",
        "b  version 1",
        &s.state_hash(),
    ] {
        assert!(shown.contains(want), "{want}: {shown}");
    }
    let e = StateDir::remove(&dir, "zz").unwrap_err().to_string();
    assert!(e.contains("zz"), "{e}");
    // No temporary files are left behind.
    let names: BTreeSet<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["blobs", "manifest.json"].map(String::from).into());
}

#[test]
fn init_accepts_only_missing_or_empty_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    // An empty existing directory is fine.
    StateDir::init(tmp.path(), "weight_average", None, &[], 0).unwrap();
    // A non-empty one (here: the state just made) is refused, naming it.
    let e = StateDir::init(tmp.path(), "weight_average", None, &[], 0)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not empty") && e.contains(&tmp.path().display().to_string()),
        "{e}"
    );
    let other = tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("x"), b"x").unwrap();
    assert!(StateDir::init(&other, "weight_average", None, &[], 0).is_err());
    // A file is refused.
    let e = StateDir::init(&other.join("x"), "weight_average", None, &[], 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a directory"), "{e}");
    // A bad strategy or parameter leaves nothing behind.
    let fresh = tmp.path().join("fresh");
    let e = StateDir::init(&fresh, "nope", None, &[], 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope"), "{e}");
    assert!(!fresh.exists());
    let e = StateDir::init(
        &fresh,
        "weight_average",
        None,
        &[(
            "fitness_fn".into(),
            crdt_merge_model::params::ParamValue::Text("f".into()),
        )],
        0,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("fitness_fn"), "{e}");
    assert!(!fresh.exists());
    // Opening something that is not a state says so.
    let e = StateDir::open(&other).unwrap_err().to_string();
    assert!(
        e.contains("not a model state") && e.contains("manifest.json"),
        "{e}"
    );
}

#[test]
fn held_lock_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    StateDir::init(dir, "weight_average", None, &[], 0).unwrap();
    let mut s = empty();
    s.add(entry(0, 1, 1, 0, false)).unwrap();
    write_state(dir, &s);
    fs::write(dir.join(".lock"), b"123\n").unwrap();
    let lock = dir.join(".lock").display().to_string();
    let e = StateDir::remove(dir, "a").unwrap_err().to_string();
    assert!(e.contains("locked") && e.contains(&lock), "{e}");
    let e = StateDir::merge(dir, &[dir.to_path_buf()])
        .unwrap_err()
        .to_string();
    assert!(e.contains(&lock), "{e}");
    let e = StateDir::add(dir, &dir.join("m.safetensors"), "x", 1.0, 1, None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&lock), "{e}");
    // Nothing changed, and reads still work.
    assert_eq!(StateDir::open(dir).unwrap().state(), &s);
    fs::remove_file(dir.join(".lock")).unwrap();
    StateDir::remove(dir, "a").unwrap();
}

#[test]
fn merging_dirs_checks_headers_and_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let c = tmp.path().join("c");
    StateDir::init(&a, "weight_average", None, &[], 0).unwrap();
    StateDir::init(&b, "weight_average", None, &[], 0).unwrap();
    StateDir::init(&c, "weight_average", None, &[], 1).unwrap();
    // A different seed is refused, naming the field and the other directory.
    let e = StateDir::merge(&a, std::slice::from_ref(&c))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("seed") && e.contains(&c.display().to_string()),
        "{e}"
    );
    // An entry whose blob the other state lacks: an error naming the blob and the label.
    let mut s = empty();
    s.add(entry(1, 7, 1, 0, false)).unwrap();
    write_state(&b, &s);
    let before = fs::read(a.join("manifest.json")).unwrap();
    let e = StateDir::merge(&a, std::slice::from_ref(&b))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&"07".repeat(32)) && e.contains("`b`") && e.contains("missing"),
        "{e}"
    );
    assert_eq!(
        fs::read(a.join("manifest.json")).unwrap(),
        before,
        "nothing written"
    );
    // With nothing to copy (the entry was removed in b), the merge unions the sets.
    let mut s2 = s.clone();
    s2.remove("b").unwrap();
    write_state(&b, &s2);
    let out = StateDir::merge(&a, std::slice::from_ref(&b)).unwrap();
    assert!(out.copied.is_empty());
    assert_eq!(StateDir::open(&a).unwrap().state(), &s2);
    assert_eq!(out.state_hash, s2.state_hash());
    // Resolving an empty live set says so.
    let e = StateDir::resolve(
        &a,
        &tmp.path().join("out.safetensors"),
        &crdt_merge_model::merge::NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no live contributions"), "{e}");
}

#[test]
fn corrupt_manifest_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    StateDir::init(tmp.path(), "weight_average", None, &[], 0).unwrap();
    fs::write(tmp.path().join("manifest.json"), b"{\"format\": 3}").unwrap();
    let e = StateDir::open(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("manifest.json") && e.contains("format"), "{e}");
}

/// A committed version-1 manifest: it must parse (its tags pin the tag encoding), re-encode to
/// the same bytes (pins the canonical form) and hash to blake3 of those bytes.
#[test]
fn golden_manifest_v1() {
    let golden = include_bytes!("state_manifest_v1.json");
    let s = Manifest::parse(golden).unwrap();
    assert_eq!(Manifest::encode(&s), golden.to_vec());
    assert_eq!(s.state_hash(), blake3::hash(golden).to_hex().to_string());
    assert_eq!(s.seed(), 3);
    assert_eq!(s.strategy(), "linear");
    let live: Vec<(&str, u64, f64)> = s
        .live()
        .iter()
        .map(|e| (e.label.as_str(), e.version, e.weight))
        .collect();
    assert_eq!(live, [("team-a", 2, 0.5), ("team-b", 1, 1.25)]);
    assert_eq!(s.set().tombstones().len(), 1);
}
