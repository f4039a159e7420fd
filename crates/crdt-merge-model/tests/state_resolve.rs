//! `StateDir` with real models: blobs written and verified, merges that copy blobs, and resolves
//! that give byte-identical files whatever the order, grouping or round trips of the adds.
//!
//! Models are written with the `safetensors` crate (an independent writer), so these tests also
//! check that our reader and content ids agree with files made elsewhere.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crdt_merge_model::merge::NoProgress;
use crdt_merge_model::state::StateDir;
use safetensors::tensor::{Dtype, TensorView};

const WEIGHTS: [f64; 4] = [0.5, 1.0, 2.0, 0.25];
const SHAPE_W: [usize; 2] = [3, 5];
const SHAPE_B: [usize; 1] = [5];

/// Values of model `k`: fractions whose f32 sums depend on the order they are added in, so an
/// order-dependent resolve would show.
fn values(k: usize, n: usize, salt: f64) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f64 * 0.37 + k as f64 * 1.3 + salt).sin() * 3.1) as f32)
        .collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes model `k` (two f32 tensors and an i64 tensor equal in every model) to `path`.
fn write_model(path: &Path, k: usize, salt: f64) {
    let w = f32_bytes(&values(k, 15, salt));
    let b = f32_bytes(&values(k + 10, 5, salt));
    let ids: Vec<u8> = (0..4i64).flat_map(|x| x.to_le_bytes()).collect();
    let tensors = vec![
        (
            "layers.0.weight",
            TensorView::new(Dtype::F32, SHAPE_W.to_vec(), &w).unwrap(),
        ),
        (
            "layers.0.bias",
            TensorView::new(Dtype::F32, SHAPE_B.to_vec(), &b).unwrap(),
        ),
        (
            "position_ids",
            TensorView::new(Dtype::I64, vec![4], &ids).unwrap(),
        ),
    ];
    safetensors::serialize_to_file(tensors, None, path).unwrap();
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    models: Vec<PathBuf>,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let models = (0..4)
        .map(|k| {
            let p = root.join(format!("m{k}.safetensors"));
            write_model(&p, k, 0.0);
            p
        })
        .collect();
    Fixture {
        _tmp: tmp,
        root,
        models,
    }
}

fn add(dir: &Path, f: &Fixture, k: usize) {
    StateDir::add(
        dir,
        &f.models[k],
        &format!("m{k}"),
        WEIGHTS[k],
        1,
        None,
        None,
    )
    .unwrap();
}

fn resolve(dir: &Path, out: &Path) -> Vec<u8> {
    StateDir::resolve(dir, out, &NoProgress).unwrap();
    fs::read(out).unwrap()
}

/// Every permutation of 0..n.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

fn read_f32(bytes: &[u8], name: &str) -> Vec<f32> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let t = st.tensor(name).unwrap();
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    t.data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The weighted mean Σ wθ / Σ w in f64, rounded once to f32: an independent re-derivation.
fn expected(name: &str) -> Vec<f32> {
    let (n, shift) = if name == "layers.0.weight" {
        (15, 0)
    } else {
        (5, 10)
    };
    let total: f64 = WEIGHTS.iter().sum();
    (0..n)
        .map(|i| {
            let s: f64 = (0..4)
                .map(|k| WEIGHTS[k] * values(k + shift, n, 0.0)[i] as f64)
                .sum();
            (s / total) as f32
        })
        .collect()
}

fn check_values(bytes: &[u8]) {
    for name in ["layers.0.weight", "layers.0.bias"] {
        let got = read_f32(bytes, name);
        let want = expected(name);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            // One f32 rounding of an f64 value; f64 summation orders differ by far less.
            assert!(
                (g - w).abs() <= w.abs() * 2.0 * f32::EPSILON,
                "{name}[{i}]: {g} vs {w}"
            );
        }
    }
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let ids = st.tensor("position_ids").unwrap();
    assert_eq!(ids.dtype(), Dtype::I64);
    let want: Vec<u8> = (0..4i64).flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(ids.data(), &want[..], "non-float tensors are copied");
}

#[test]
fn resolve_is_bit_identical_across_orders_groupings_and_round_trips() {
    let f = fixture();
    for strategy in ["linear", "weight_average"] {
        let root = f.root.join(strategy);
        fs::create_dir(&root).unwrap();
        let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
        // Every order of the four adds.
        for (i, order) in permutations(4).iter().enumerate() {
            let dir = root.join(format!("perm{i}"));
            StateDir::init(&dir, strategy, None, &[], 0).unwrap();
            for &k in order {
                add(&dir, &f, k);
            }
            let out = root.join(format!("perm{i}.safetensors"));
            outputs.push((format!("order {order:?}"), resolve(&dir, &out)));
        }
        // Groupings: {0,1} ∪ {2,3}, both ways, and overlapping groups {0,1,2} ∪ {1,2,3}.
        for (name, left, right) in [
            ("01+23", vec![0, 1], vec![2, 3]),
            ("23+01", vec![2, 3], vec![0, 1]),
            ("012+123", vec![0, 1, 2], vec![1, 2, 3]),
        ] {
            let a = root.join(format!("{name}-a"));
            let b = root.join(format!("{name}-b"));
            StateDir::init(&a, strategy, None, &[], 0).unwrap();
            StateDir::init(&b, strategy, None, &[], 0).unwrap();
            left.iter().for_each(|&k| add(&a, &f, k));
            right.iter().for_each(|&k| add(&b, &f, k));
            let outcome = StateDir::merge(&a, std::slice::from_ref(&b)).unwrap();
            let fresh: BTreeSet<usize> = right
                .iter()
                .filter(|k| !left.contains(k))
                .copied()
                .collect();
            assert_eq!(outcome.copied.len(), fresh.len(), "{name}: blobs copied");
            let out = root.join(format!("{name}.safetensors"));
            outputs.push((format!("grouping {name}"), resolve(&a, &out)));
        }
        // Round trips: a chain of states, each merging the previous one and adding more.
        let chain: Vec<PathBuf> = (0..3).map(|i| root.join(format!("chain{i}"))).collect();
        for c in &chain {
            StateDir::init(c, strategy, None, &[], 0).unwrap();
        }
        add(&chain[0], &f, 3);
        StateDir::merge(&chain[1], std::slice::from_ref(&chain[0])).unwrap();
        add(&chain[1], &f, 1);
        StateDir::merge(&chain[2], std::slice::from_ref(&chain[1])).unwrap();
        add(&chain[2], &f, 0);
        add(&chain[2], &f, 2);
        // ... and back into the first, then the first merged with itself.
        StateDir::merge(&chain[0], std::slice::from_ref(&chain[2])).unwrap();
        StateDir::merge(&chain[0], std::slice::from_ref(&chain[0])).unwrap();
        outputs.push((
            "round trips".into(),
            resolve(&chain[0], &root.join("chain.safetensors")),
        ));
        // Removed and superseded entries do not count: a fifth model added then removed, and a
        // contribution removed and re-added with a higher version.
        let extra = root.join("extra");
        StateDir::init(&extra, strategy, None, &[], 0).unwrap();
        (0..4).for_each(|k| add(&extra, &f, k));
        let m4 = f.root.join(format!("{strategy}-m4.safetensors"));
        write_model(&m4, 4, 0.5);
        StateDir::add(&extra, &m4, "m4", 1.0, 1, None, None).unwrap();
        assert_eq!(StateDir::remove(&extra, "m4").unwrap(), 1);
        StateDir::remove(&extra, "m0").unwrap();
        let e = StateDir::add(&extra, &f.models[0], "m0", WEIGHTS[0], 1, None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("higher version"), "{e}");
        StateDir::add(&extra, &f.models[0], "m0", WEIGHTS[0], 2, None, None).unwrap();
        outputs.push((
            "remove and re-add".into(),
            resolve(&extra, &root.join("extra.safetensors")),
        ));

        let (first_name, first) = &outputs[0];
        check_values(first);
        for (name, bytes) in &outputs[1..] {
            assert!(
                bytes == first,
                "{strategy}: {name} differs from {first_name}"
            );
        }
        // The check can fail: another weight gives other bytes.
        let other = root.join("other");
        StateDir::init(&other, strategy, None, &[], 0).unwrap();
        (1..4).for_each(|k| add(&other, &f, k));
        StateDir::add(&other, &f.models[0], "m0", 0.75, 1, None, None).unwrap();
        assert!(resolve(&other, &root.join("other.safetensors")) != *first);
    }
}

#[test]
fn blobs_are_content_addressed_and_verified() {
    let f = fixture();
    let dir = f.root.join("st");
    StateDir::init(&dir, "weight_average", Some(&f.models[3]), &[], 0).unwrap();
    let st = StateDir::open(&dir).unwrap();
    let base = *st.state().base().unwrap();
    assert!(StateDir::blob_path(&dir, &base).is_file());
    let fisher = f.root.join("fisher.safetensors");
    write_model(&fisher, 7, 0.25);
    let e = StateDir::add(&dir, &f.models[0], "m0", 1.0, 1, Some(&fisher), None).unwrap();
    let blob = StateDir::blob_path(&dir, &e.content);
    assert!(blob.is_file());
    assert!(StateDir::blob_path(&dir, &e.fisher.unwrap()).is_file());
    assert_ne!(e.content, base);
    // The same content under another label is refused (a merge takes each model once) ...
    let err = StateDir::add(&dir, &f.models[0], "again", 1.0, 1, None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`again`") && err.contains("`m0`"), "{err}");
    // ... but the same label with a new version and weight shares the blob.
    let e2 = StateDir::add(&dir, &f.models[0], "m0", 3.0, 2, Some(&fisher), None).unwrap();
    assert_eq!(e2.content, e.content);
    StateDir::open(&dir).unwrap().verify().unwrap();
    let blobs = fs::read_dir(dir.join("blobs")).unwrap().count();
    assert_eq!(blobs, 3, "base, m0, fisher");
    let shown = StateDir::show(&dir).unwrap();
    assert!(
        shown.contains("fisher") && shown.contains("m0  version 2  weight 3"),
        "{shown}"
    );

    // A flipped data byte: the blob no longer matches its name.
    let good = fs::read(&blob).unwrap();
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    fs::write(&blob, &bad).unwrap();
    let out = f.root.join("out.safetensors");
    let err = StateDir::resolve(&dir, &out, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&blob.display().to_string())
            && err.contains("`m0`")
            && err.contains("corrupt"),
        "{err}"
    );
    assert!(!out.exists());
    // Truncated.
    fs::write(&blob, &good[..good.len() - 3]).unwrap();
    let err = StateDir::resolve(&dir, &out, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&blob.display().to_string()) && err.contains("`m0`"),
        "{err}"
    );
    // Missing.
    fs::remove_file(&blob).unwrap();
    let err = StateDir::resolve(&dir, &out, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&blob.display().to_string()) && err.contains("missing"),
        "{err}"
    );
    // Restored, it resolves.
    fs::write(&blob, &good).unwrap();
    StateDir::resolve(&dir, &out, &NoProgress).unwrap();
    assert!(out.is_file());
}

#[test]
fn merge_copies_blobs_and_refuses_corrupt_ones() {
    let f = fixture();
    let a = f.root.join("a");
    let b = f.root.join("b");
    StateDir::init(&a, "weight_average", None, &[], 0).unwrap();
    StateDir::init(&b, "weight_average", None, &[], 0).unwrap();
    add(&a, &f, 0);
    add(&a, &f, 1);
    let e2 = StateDir::add(&b, &f.models[2], "m2", 2.0, 1, None, None).unwrap();
    add(&b, &f, 3);
    let outcome = StateDir::merge(&a, std::slice::from_ref(&b)).unwrap();
    assert_eq!(outcome.copied.len(), 2);
    assert!(StateDir::blob_path(&a, &e2.content).is_file());
    assert_eq!(
        fs::read(StateDir::blob_path(&a, &e2.content)).unwrap(),
        fs::read(StateDir::blob_path(&b, &e2.content)).unwrap()
    );
    assert_eq!(StateDir::open(&a).unwrap().state().live().len(), 4);
    StateDir::open(&a).unwrap().verify().unwrap();
    // Merging again copies nothing.
    assert!(StateDir::merge(&a, std::slice::from_ref(&b))
        .unwrap()
        .copied
        .is_empty());

    // A corrupt blob in the other state is refused, naming it and its label; nothing is written.
    let c = f.root.join("c");
    let d = f.root.join("d");
    StateDir::init(&c, "weight_average", None, &[], 0).unwrap();
    StateDir::init(&d, "weight_average", None, &[], 0).unwrap();
    let e = StateDir::add(&c, &f.models[2], "m2", 1.0, 1, None, None).unwrap();
    let blob = StateDir::blob_path(&c, &e.content);
    let mut bytes = fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&blob, &bytes).unwrap();
    let before = fs::read(d.join("manifest.json")).unwrap();
    let err = StateDir::merge(&d, std::slice::from_ref(&c))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&blob.display().to_string())
            && err.contains("`m2`")
            && err.contains("corrupt"),
        "{err}"
    );
    assert_eq!(fs::read(d.join("manifest.json")).unwrap(), before);
    assert_eq!(
        fs::read_dir(d.join("blobs")).unwrap().count(),
        0,
        "no blob or temp file left"
    );
}

#[test]
fn add_reports_bad_models() {
    let f = fixture();
    let dir = f.root.join("st");
    StateDir::init(&dir, "weight_average", None, &[], 0).unwrap();
    let missing = f.root.join("nope.safetensors");
    let err = StateDir::add(&dir, &missing, "x", 1.0, 1, None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.safetensors"), "{err}");
    let junk = f.root.join("junk.safetensors");
    fs::write(&junk, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":").unwrap();
    let err = StateDir::add(&dir, &junk, "x", 1.0, 1, None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("junk.safetensors"), "{err}");
    let err = StateDir::add(&dir, &f.models[0], "x", f64::INFINITY, 1, None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("weight"), "{err}");
    // Nothing was stored by the refused adds.
    assert_eq!(fs::read_dir(dir.join("blobs")).unwrap().count(), 0);
    assert!(StateDir::open(&dir).unwrap().state().live().is_empty());
}

#[test]
fn base_side_files_reach_directory_outputs() {
    let f = fixture();
    let base = f.root.join("base");
    fs::create_dir(&base).unwrap();
    write_model(&base.join("model.safetensors"), 9, 0.75);
    fs::write(base.join("config.json"), b"{\"model_type\": \"test\"}").unwrap();
    fs::write(base.join("tokenizer.json"), b"{}").unwrap();
    let a = f.root.join("a");
    let b = f.root.join("b");
    StateDir::init(&a, "weight_average", Some(&base), &[], 0).unwrap();
    StateDir::init(&b, "weight_average", Some(&base), &[], 0).unwrap();
    assert!(a.join("side/config.json").is_file());
    add(&a, &f, 0);
    add(&b, &f, 1);
    // A state without its side directory gets the other's on merge.
    fs::remove_dir_all(a.join("side")).unwrap();
    StateDir::merge(&a, std::slice::from_ref(&b)).unwrap();
    assert_eq!(
        fs::read(a.join("side/tokenizer.json")).unwrap(),
        fs::read(base.join("tokenizer.json")).unwrap()
    );
    let out = f.root.join("out");
    StateDir::resolve(&a, &out, &NoProgress).unwrap();
    assert_eq!(
        fs::read(out.join("config.json")).unwrap(),
        fs::read(base.join("config.json")).unwrap()
    );
}

/// Base-relative strategies with whole-tensor statistics (ties) and order-free random masks
/// (dare_ties): every state holding the same set resolves to the same bytes, and the seed, which
/// the state stores, changes the masks.
#[test]
fn tensor_and_masked_strategies_are_order_free() {
    use crdt_merge_model::params::ParamValue;
    let f = fixture();
    let base = f.root.join("base.safetensors");
    write_model(&base, 9, 0.75);
    for strategy in ["task_arithmetic", "ties", "dare_ties"] {
        let spec = crdt_merge_model::strategy::lookup(strategy).unwrap();
        let params: Vec<(String, ParamValue)> = if spec.param("density").is_ok() {
            vec![("density".into(), ParamValue::Num(0.5))]
        } else {
            Vec::new()
        };
        let root = f.root.join(strategy);
        fs::create_dir(&root).unwrap();
        let init = |name: &str, seed: u64| {
            let dir = root.join(name);
            StateDir::init(&dir, strategy, Some(&base), &params, seed).unwrap();
            dir
        };
        let mut outputs = Vec::new();
        for (i, order) in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]]
            .iter()
            .enumerate()
        {
            let dir = init(&format!("o{i}"), 5);
            order.iter().for_each(|&k| add(&dir, &f, k));
            outputs.push(resolve(&dir, &root.join(format!("o{i}.safetensors"))));
        }
        let a = init("a", 5);
        let b = init("b", 5);
        [2, 3].iter().for_each(|&k| add(&a, &f, k));
        [0, 1, 3].iter().for_each(|&k| add(&b, &f, k));
        StateDir::merge(&b, std::slice::from_ref(&a)).unwrap();
        outputs.push(resolve(&b, &root.join("ab.safetensors")));
        for (i, o) in outputs.iter().enumerate().skip(1) {
            assert!(*o == outputs[0], "{strategy}: output {i} differs");
        }
        // A state with another seed does not merge with these, and (for random masks) resolves
        // to other bytes.
        let other = init("seed6", 6);
        (0..4).for_each(|k| add(&other, &f, k));
        let e = StateDir::merge(&other, std::slice::from_ref(&a))
            .unwrap_err()
            .to_string();
        assert!(e.contains("seed"), "{e}");
        let o6 = resolve(&other, &root.join("seed6.safetensors"));
        if spec.stochastic {
            // Tensor bytes, not the file: the file's metadata records the seed anyway.
            let data = |bytes: &[u8]| read_f32(bytes, "layers.0.weight");
            assert!(
                data(&o6) != data(&outputs[0]),
                "{strategy}: the seed must reach the masks"
            );
        }
    }
}
