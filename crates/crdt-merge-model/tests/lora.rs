//! LoRA merges (`crdt_merge_model::lora`): the `cat` merge's update equals Σ wᵢ sᵢ BᵢAᵢ (f32
//! output against an f64 reference, within 1e-5·max|ΔW|) with ranks, alphas, rsLoRA and
//! rank patterns that differ; the output is the same bytes in any input order; compaction is
//! exact at or above the rank and otherwise the best rank-k approximation; PEFT's `svd` and the
//! Python library's A/B average are there to compare; unsupported adapters are errors naming
//! what was found.

use std::path::Path;

use crdt_merge_model::io::write_safetensors;
use crdt_merge_model::lora::{self, Adapter, LoraMethod};
use crdt_merge_model::DType;
use serde_json::json;

/// A seeded uniform generator in [-1, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

const FAN_IN: usize = 24;
const FAN_OUT: usize = 20;

/// Writes an adapter: `modules` with rank `r` each (unless `rank_pattern` says otherwise).
fn adapter(dir: &Path, seed: u64, modules: &[(&str, usize)], config: serde_json::Value) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Lcg(seed);
    let mut tensors = Vec::new();
    for (m, r) in modules {
        let bytes = |v: Vec<f32>| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        tensors.push((
            format!("base_model.model.{m}.lora_A.weight"),
            DType::F32,
            vec![*r, FAN_IN],
            bytes(rng.vec(r * FAN_IN)),
        ));
        tensors.push((
            format!("base_model.model.{m}.lora_B.weight"),
            DType::F32,
            vec![FAN_OUT, *r],
            bytes(rng.vec(FAN_OUT * r)),
        ));
    }
    write_safetensors(&dir.join(lora::WEIGHTS_FILE), &tensors, Default::default()).unwrap();
    std::fs::write(dir.join(lora::CONFIG_FILE), config.to_string()).unwrap();
}

fn base_config(r: usize, alpha: f64) -> serde_json::Value {
    json!({"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "tiny",
           "r": r, "lora_alpha": alpha, "target_modules": ["q_proj", "v_proj"], "bias": "none",
           "use_rslora": false, "fan_in_fan_out": false, "modules_to_save": null})
}

const Q0: &str = "model.layers.0.self_attn.q_proj";
const V0: &str = "model.layers.0.self_attn.v_proj";
const Q1: &str = "model.layers.1.self_attn.q_proj";

/// Three adapters: ranks 4 (alpha 8), 8 with a rank pattern (alpha 16, v_proj at rank 2 with
/// alpha 4), and 3 with rsLoRA (alpha 6) lacking layer 1.
fn three(root: &Path) -> Vec<std::path::PathBuf> {
    let a = root.join("a");
    adapter(&a, 1, &[(Q0, 4), (V0, 4), (Q1, 4)], base_config(4, 8.0));
    let b = root.join("b");
    let mut cb = base_config(8, 16.0);
    cb["rank_pattern"] = json!({"v_proj": 2});
    cb["alpha_pattern"] = json!({"v_proj": 4});
    adapter(&b, 2, &[(Q0, 8), (V0, 2), (Q1, 8)], cb);
    let c = root.join("c");
    let mut cc = base_config(3, 6.0);
    cc["use_rslora"] = json!(true);
    adapter(&c, 3, &[(Q0, 3), (V0, 3)], cc);
    vec![a, b, c]
}

fn load(dirs: &[std::path::PathBuf], weights: &[f64]) -> Vec<(Adapter, f64)> {
    dirs.iter()
        .zip(weights)
        .map(|(d, w)| (Adapter::load(d).unwrap(), *w))
        .collect()
}

/// Σ wᵢ sᵢ BᵢAᵢ for one module, in f64.
fn reference(adapters: &[(Adapter, f64)], m: &str) -> Vec<f64> {
    let mut sum = vec![0.0; FAN_OUT * FAN_IN];
    for (a, w) in adapters {
        if let Some(f) = a.modules.get(m) {
            for (s, d) in sum.iter_mut().zip(f.delta(w * a.scales[m])) {
                *s += d;
            }
        }
    }
    sum
}

fn max_abs(x: &[f64]) -> f64 {
    x.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn read_all(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(dir.join(lora::WEIGHTS_FILE)).unwrap(),
        std::fs::read(dir.join(lora::CONFIG_FILE)).unwrap(),
    )
}

#[test]
fn cat_is_the_exact_weighted_sum_in_any_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = three(tmp.path());
    let weights = [1.0, 0.5, 2.0];
    let inputs = load(&dirs, &weights);
    // Scales: alpha / r, the rank pattern's alpha / rank, alpha / √r.
    assert_eq!(inputs[0].0.scales[Q0], 2.0);
    assert_eq!(inputs[1].0.scales[V0], 2.0);
    assert_eq!(inputs[2].0.scales[Q0], 6.0 / 3f64.sqrt());
    let merged = lora::merge(&inputs, LoraMethod::Cat, None).unwrap();
    let out = tmp.path().join("out");
    lora::write(&merged, LoraMethod::Cat, &out).unwrap();
    // Read back as PEFT would: its config must give scale 1 on every module.
    let back = Adapter::load(&out).unwrap();
    assert_eq!(back.modules[Q0].r, 15);
    assert_eq!(back.modules[V0].r, 9);
    assert_eq!(back.modules[Q1].r, 12);
    for m in [Q0, V0, Q1] {
        assert_eq!(back.scales[m], 1.0, "{m}");
        let want = reference(&inputs, m);
        let have = back.modules[m].delta(back.scales[m]);
        let err = max_abs(
            &want
                .iter()
                .zip(&have)
                .map(|(a, b)| a - b)
                .collect::<Vec<_>>(),
        );
        assert!(err <= 1e-5 * max_abs(&want), "{m}: error {err}");
    }
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(lora::CONFIG_FILE)).unwrap()).unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["r"], 15);
    assert_eq!(cfg["lora_alpha"], 15);
    assert_eq!(cfg["target_modules"], json!(["q_proj", "v_proj"]));
    assert_eq!(cfg["base_model_name_or_path"], "tiny");
    // Every order of the inputs gives the same bytes.
    let bytes = read_all(&out);
    for (n, order) in [[2usize, 0, 1], [1, 2, 0], [2, 1, 0]].iter().enumerate() {
        let permuted: Vec<(Adapter, f64)> = order.iter().map(|&i| inputs[i].clone()).collect();
        let m = lora::merge(&permuted, LoraMethod::Cat, None).unwrap();
        let d = tmp.path().join(format!("perm{n}"));
        lora::write(&m, LoraMethod::Cat, &d).unwrap();
        assert_eq!(read_all(&d), bytes, "order {order:?}");
    }
    // The same adapter twice is one contribution; with two weights it is an error.
    let twice = vec![inputs[0].clone(), inputs[0].clone()];
    assert_eq!(
        lora::merge(&twice, LoraMethod::Cat, None)
            .unwrap()
            .contributions
            .len(),
        1
    );
    let clash = vec![inputs[0].clone(), (inputs[0].0.clone(), 3.0)];
    assert!(lora::merge(&clash, LoraMethod::Cat, None)
        .unwrap_err()
        .to_string()
        .contains("different weights"));
}

/// The singular values of a row-major matrix, via the compaction itself at full rank
/// (exact) then faer.
fn singular_values(x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let m = faer::Mat::from_fn(rows, cols, |i, j| x[i * cols + j]);
    let s = m.singular_values().unwrap();
    s.to_vec()
}

#[test]
fn compaction_is_exact_at_full_rank_and_optimal_below() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = three(tmp.path());
    let inputs = load(&dirs, &[1.0, -0.5, 1.5]);
    let want = reference(&inputs, Q0);
    let full = lora::merge(&inputs, LoraMethod::Cat, Some(15)).unwrap();
    let exact = lora::merge(&inputs, LoraMethod::Cat, Some(40)).unwrap();
    for m in [&full, &exact] {
        let have = m.modules[Q0].delta(1.0);
        let err = max_abs(
            &want
                .iter()
                .zip(&have)
                .map(|(a, b)| a - b)
                .collect::<Vec<_>>(),
        );
        assert!(err <= 1e-9 * max_abs(&want), "error {err}");
    }
    let sv = singular_values(&want, FAN_OUT, FAN_IN);
    for k in [1usize, 4, 8] {
        let c = lora::merge(&inputs, LoraMethod::Cat, Some(k)).unwrap();
        assert_eq!(c.modules[Q0].r, k);
        let have = c.modules[Q0].delta(1.0);
        let err2: f64 = want.iter().zip(&have).map(|(a, b)| (a - b) * (a - b)).sum();
        let best2: f64 = sv[k..].iter().map(|s| s * s).sum();
        assert!(
            (err2 - best2).abs() <= 1e-8 * (1.0 + best2),
            "k = {k}: {err2} vs {best2}"
        );
    }
    // Compaction does not depend on the order either.
    let rev: Vec<(Adapter, f64)> = inputs.iter().rev().cloned().collect();
    let a = lora::merge(&inputs, LoraMethod::Cat, Some(4)).unwrap();
    let b = lora::merge(&rev, LoraMethod::Cat, Some(4)).unwrap();
    assert_eq!(a.modules, b.modules);
    // PEFT's svd: the sum compacted to the largest input rank (8).
    let svd = lora::merge(&inputs, LoraMethod::Svd, None).unwrap();
    assert_eq!(svd.modules[Q0].r, 8);
    assert_eq!(
        svd.modules[Q0],
        lora::merge(&inputs, LoraMethod::Cat, Some(8))
            .unwrap()
            .modules[Q0]
    );
}

#[test]
fn the_python_librarys_ab_average_is_not_the_average_update() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    adapter(&a, 7, &[(Q0, 4)], base_config(4, 4.0));
    adapter(&b, 8, &[(Q0, 4)], base_config(4, 4.0));
    let inputs = load(&[a, b], &[1.0, 1.0]);
    let avg = lora::merge(&inputs, LoraMethod::UpstreamAbAverage, None).unwrap();
    let want: Vec<f64> = reference(&inputs, Q0).iter().map(|x| x / 2.0).collect();
    let have = avg.modules[Q0].delta(1.0);
    let err = max_abs(
        &want
            .iter()
            .zip(&have)
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>(),
    );
    assert!(
        err > 0.05 * max_abs(&want),
        "cross terms should show: {err}"
    );
    let exact = lora::merge(
        &[(inputs[0].0.clone(), 0.5), (inputs[1].0.clone(), 0.5)],
        LoraMethod::Cat,
        None,
    )
    .unwrap();
    let have = exact.modules[Q0].delta(1.0);
    let err = max_abs(
        &want
            .iter()
            .zip(&have)
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>(),
    );
    assert!(err <= 1e-12 * max_abs(&want));
}

#[test]
fn unsupported_adapters_are_errors_naming_what_was_found() {
    let tmp = tempfile::tempdir().unwrap();
    let case = |name: &str, edit: &dyn Fn(&mut serde_json::Value), extra: Option<&str>| -> String {
        let d = tmp.path().join(name);
        let mut cfg = base_config(2, 2.0);
        edit(&mut cfg);
        adapter(&d, 1, &[(Q0, 2)], cfg);
        if let Some(key) = extra {
            let mut t = vec![(
                format!("base_model.model.{Q0}.lora_A.weight"),
                DType::F32,
                vec![2, FAN_IN],
                vec![0u8; 8 * FAN_IN],
            )];
            t.push((
                format!("base_model.model.{Q0}.lora_B.weight"),
                DType::F32,
                vec![FAN_OUT, 2],
                vec![0u8; 8 * FAN_OUT],
            ));
            t.push((key.to_string(), DType::F32, vec![4], vec![0u8; 16]));
            write_safetensors(&d.join(lora::WEIGHTS_FILE), &t, Default::default()).unwrap();
        }
        Adapter::load(&d).unwrap_err().to_string()
    };
    assert!(case("dora", &|c| c["use_dora"] = json!(true), None).contains("use_dora"));
    assert!(
        case("save", &|c| c["modules_to_save"] = json!(["lm_head"]), None)
            .contains("modules_to_save")
    );
    assert!(case("bias", &|c| c["bias"] = json!("all"), None).contains("bias"));
    assert!(case("rank", &|c| c["r"] = json!(3), None).contains("r = 3"));
    assert!(case(
        "nor",
        &|c| {
            c.as_object_mut().unwrap().remove("r");
        },
        None
    )
    .contains("`r`"));
    assert!(case("ia3", &|c| c["peft_type"] = json!("IA3"), None).contains("IA3"));
    let e = case(
        "emb",
        &|_| {},
        Some("base_model.model.embed.lora_embedding_A"),
    );
    assert!(
        e.contains("lora_embedding_A") && e.contains("embedding adapter"),
        "{e}"
    );
    // Adapters that disagree.
    let x = tmp.path().join("x");
    let y = tmp.path().join("y");
    adapter(&x, 1, &[(Q0, 2)], base_config(2, 2.0));
    let mut other = base_config(2, 2.0);
    other["base_model_name_or_path"] = json!("another");
    adapter(&y, 2, &[(Q0, 2)], other);
    let e = lora::merge(&load(&[x, y], &[1.0, 1.0]), LoraMethod::Cat, None).unwrap_err();
    assert!(e.to_string().contains("base_model_name_or_path"), "{e}");
    assert!(LoraMethod::parse("nope").is_err());
    assert!(lora::merge(&[], LoraMethod::Cat, None).is_err());
}

#[test]
fn apply_adds_the_update_and_copies_the_rest() {
    use crdt_merge_model::io::ModelFiles;
    let tmp = tempfile::tempdir().unwrap();
    let dirs = three(tmp.path());
    let inputs = load(&dirs, &[1.0, 0.5, 2.0]);
    let mut rng = Lcg(99);
    let w0: Vec<f32> = rng.vec(FAN_OUT * FAN_IN);
    let f32b = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut tensors = vec![
        (
            format!("{Q0}.weight"),
            DType::F32,
            vec![FAN_OUT, FAN_IN],
            f32b(&w0),
        ),
        (
            format!("{V0}.weight"),
            DType::F32,
            vec![FAN_OUT, FAN_IN],
            f32b(&w0),
        ),
        (
            format!("{Q1}.weight"),
            DType::F32,
            vec![FAN_OUT, FAN_IN],
            f32b(&w0),
        ),
        (
            "ids".to_string(),
            DType::I64,
            vec![2],
            [3i64, 4].iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
    ];
    let base = tmp.path().join("base.safetensors");
    write_safetensors(&base, &tensors, Default::default()).unwrap();
    let merged = lora::merge(&inputs, LoraMethod::Cat, None).unwrap();
    let mdir = tmp.path().join("merged");
    lora::write(&merged, LoraMethod::Cat, &mdir).unwrap();
    let out = tmp.path().join("tuned.safetensors");
    let r = lora::apply(&base, &Adapter::load(&mdir).unwrap(), 1.0, &out, u64::MAX).unwrap();
    assert_eq!((r.updated, r.copied), (3, 1));
    let got = ModelFiles::open(&out).unwrap();
    for m in [Q0, V0, Q1] {
        let want = reference(&inputs, m);
        let mut have = vec![0.0; FAN_OUT * FAN_IN];
        got.read_f64(&format!("{m}.weight"), 0, &mut have).unwrap();
        for ((h, w), d) in have.iter().zip(&w0).zip(&want) {
            // One rounding of (base + update) to f32, plus the merged factors' own rounding.
            assert!(
                (h - (*w as f64 + d)).abs() <= 1e-5 * (1.0 + d.abs() + (*w as f64).abs()),
                "{m}"
            );
        }
    }
    let mut ids = Vec::new();
    got.read_raw("ids", 0, 2, &mut ids).unwrap();
    assert_eq!(ids, tensors[3].3);
    // A base without a targeted module, or with the wrong shape, is an error naming the tensor.
    tensors.remove(2);
    let short = tmp.path().join("short.safetensors");
    write_safetensors(&short, &tensors, Default::default()).unwrap();
    let e = lora::apply(
        &short,
        &Adapter::load(&mdir).unwrap(),
        1.0,
        &tmp.path().join("x.safetensors"),
        u64::MAX,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&format!("{Q1}.weight")) && e.contains("missing"),
        "{e}"
    );
    tensors[0].2 = vec![FAN_IN, FAN_OUT];
    let wrong = tmp.path().join("wrong.safetensors");
    write_safetensors(&wrong, &tensors, Default::default()).unwrap();
    let one = tmp.path().join("one");
    lora::write(
        &lora::merge(&inputs[..1], LoraMethod::Cat, None).unwrap(),
        LoraMethod::Cat,
        &one,
    )
    .unwrap();
    let e = lora::apply(
        &wrong,
        &Adapter::load(&one).unwrap(),
        1.0,
        &tmp.path().join("y.safetensors"),
        u64::MAX,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("shape"), "{e}");
}

#[test]
fn ties_and_dare_ties_act_on_the_updates_in_any_order() {
    use crdt_merge_model::lora::MergeOptions;
    use crdt_merge_model::params::ParamValue;
    let tmp = tempfile::tempdir().unwrap();
    let dirs = three(tmp.path());
    let inputs = load(&dirs, &[1.0, 0.5, 2.0]);
    let opts = |density: f64| MergeOptions {
        params: vec![("density".into(), ParamValue::Num(density))],
        seed: 7,
    };
    // One adapter at density 1: TIES keeps its whole update (normalised by its own weight).
    let one = lora::merge_with(&inputs[..1], LoraMethod::Ties, None, &opts(1.0)).unwrap();
    let want = inputs[0].0.modules[Q0].delta(inputs[0].0.scales[Q0]);
    let have = one.modules[Q0].delta(1.0);
    let err = max_abs(
        &want
            .iter()
            .zip(&have)
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>(),
    );
    assert!(err <= 1e-9 * max_abs(&want), "error {err}");
    assert_eq!(one.modules[Q0].r, 4, "compacted to the input's rank");
    for method in [LoraMethod::Ties, LoraMethod::DareTies] {
        let a = lora::merge_with(&inputs, method, Some(6), &opts(0.5)).unwrap();
        let rev: Vec<(Adapter, f64)> = inputs.iter().rev().cloned().collect();
        let b = lora::merge_with(&rev, method, Some(6), &opts(0.5)).unwrap();
        assert_eq!(a.modules, b.modules, "{method:?}");
        assert_eq!(a.modules[Q0].r, 6);
        // Trimming changes the update: it is not the plain sum.
        let sum = reference(&inputs, Q0);
        let have = a.modules[Q0].delta(1.0);
        assert!(have.iter().zip(&sum).any(|(x, y)| (x - y).abs() > 1e-6));
    }
    // dare_ties masks come from the seed: another seed, another result.
    let s7 = lora::merge_with(&inputs, LoraMethod::DareTies, None, &opts(0.5)).unwrap();
    let mut o8 = opts(0.5);
    o8.seed = 8;
    let s8 = lora::merge_with(&inputs, LoraMethod::DareTies, None, &o8).unwrap();
    assert_ne!(s7.modules[Q0], s8.modules[Q0]);
    // A parameter ties does not take is an error naming it.
    let bad = MergeOptions {
        params: vec![("nope".into(), ParamValue::Num(1.0))],
        seed: 0,
    };
    let e = lora::merge_with(&inputs, LoraMethod::Ties, None, &bad).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}

/// The `lora_config` fuzz target's property on seeded mutations of a real config (so it holds in
/// CI without nightly): every input parses or is an error, never a panic; an accepted config has
/// a positive rank and a finite alpha. Mutated weights files load or fail the same way.
#[test]
fn mutated_configs_and_weights_are_errors_not_panics() {
    use crdt_merge_model::lora::AdapterConfig;
    let mut cfg = base_config(4, 8.0);
    cfg["rank_pattern"] = json!({"v_proj": 2, "(": 3});
    cfg["alpha_pattern"] = json!({"q_.*": 1e308});
    let good = cfg.to_string().into_bytes();
    let mut rng = Lcg(5);
    let path = Path::new("adapter_config.json");
    let mut accepted = 0;
    for i in 0..2000 {
        let mut b = good.clone();
        for _ in 0..1 + i % 4 {
            let at = ((rng.next() + 1.0) / 2.0 * b.len() as f32) as usize % b.len().max(1);
            match i % 3 {
                0 => b[at] = (rng.next().to_bits() & 0xff) as u8,
                1 => b.truncate(at),
                _ => b.insert(at, b"{}[]\":,0-e9"[(rng.next().to_bits() % 11) as usize]),
            }
        }
        if let Ok(c) = AdapterConfig::parse(&b, path) {
            accepted += 1;
            assert!(c.r > 0 && c.alpha.is_finite());
            let _ = (c.rank_of("model.v_proj"), c.alpha_of("q_proj"));
        }
    }
    assert!(accepted > 0, "some mutations stay valid");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("a");
    adapter(&d, 1, &[(Q0, 2), (V0, 2)], base_config(2, 2.0));
    let weights = std::fs::read(d.join(lora::WEIGHTS_FILE)).unwrap();
    for i in 0..300 {
        let mut b = weights.clone();
        let at = (i * 7919) % b.len();
        if i % 2 == 0 {
            b[at] ^= 1 << (i % 8);
        } else {
            b.truncate(at);
        }
        std::fs::write(d.join(lora::WEIGHTS_FILE), &b).unwrap();
        let _ = Adapter::load(&d);
    }
}
