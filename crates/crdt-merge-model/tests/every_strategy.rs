//! Every registered strategy end to end: through `merge_models` on real files (with a base,
//! weights, Fisher diagonals and Gram matrices where the strategy wants them) and through a
//! `MergeState` (init, add in two orders, resolve), which must give the same tensor bytes as the
//! direct merge and as each other. The strategies' numbers are pinned by the mergekit and
//! crdt-merge 0.11.0 fixture tests; this checks every name resolves on every surface.

use std::path::{Path, PathBuf};

use crdt_merge_model::io::{write_safetensors, ModelFiles};
use crdt_merge_model::merge::{merge_models, MergeRequest, ModelSpec, NoProgress, Setting};
use crdt_merge_model::params::{Default as ParamDefault, ParamValue};
use crdt_merge_model::state::StateDir;
use crdt_merge_model::strategy::{registry, BaseRule, DataNeed, StrategySpec};
use crdt_merge_model::DType;

const SHAPES: &[(&str, &[usize])] = &[
    ("model.layers.0.mlp.weight", &[6, 5]),
    ("model.layers.1.norm.weight", &[7]),
];

fn f64s(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn values(seed: u64, n: usize, scale: f64, offset: f64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            offset + scale * ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
        })
        .collect()
}

fn write_model(path: &Path, seed: u64, base: bool) {
    let tensors: Vec<(String, DType, Vec<usize>, Vec<u8>)> = SHAPES
        .iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let b = values(7, n, 1.0, 0.0);
            let v = if base {
                b
            } else {
                b.iter()
                    .zip(values(seed, n, 0.2, 0.0))
                    .map(|(x, d)| x + d)
                    .collect()
            };
            (name.to_string(), DType::F64, shape.to_vec(), f64s(&v))
        })
        .collect();
    write_safetensors(path, &tensors, Default::default()).unwrap();
}

fn write_fisher(path: &Path, seed: u64) {
    let tensors: Vec<(String, DType, Vec<usize>, Vec<u8>)> = SHAPES
        .iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            (
                name.to_string(),
                DType::F64,
                shape.to_vec(),
                f64s(&values(seed + 50, n, 1.0, 1.0)),
            )
        })
        .collect();
    write_safetensors(path, &tensors, Default::default()).unwrap();
}

/// G = XᵀX + I for the 2-D weight (in = 5): positive definite.
fn write_gram(path: &Path, seed: u64) {
    let inn = 5;
    let x = values(seed + 90, 8 * inn, 1.0, 0.0);
    let mut g = vec![0.0; inn * inn];
    for i in 0..inn {
        for j in 0..inn {
            g[i * inn + j] = (0..8).map(|r| x[r * inn + i] * x[r * inn + j]).sum::<f64>()
                + if i == j { 1.0 } else { 0.0 };
        }
    }
    write_safetensors(
        path,
        &[(
            "model.layers.0.mlp.weight.gram".to_string(),
            DType::F64,
            vec![inn, inn],
            f64s(&g),
        )],
        Default::default(),
    )
    .unwrap();
}

/// Values for required parameters (none of the registry's have a default).
fn required(spec: &StrategySpec) -> Vec<(String, ParamValue)> {
    spec.params
        .iter()
        .filter(|p| p.default == ParamDefault::Required)
        .map(|p| (p.name.to_string(), ParamValue::Num(0.5)))
        .collect()
}

fn tensor_bytes(path: &Path) -> Vec<(String, Vec<u8>)> {
    let m = ModelFiles::open(path).unwrap();
    m.tensors()
        .iter()
        .map(|(name, info)| {
            let mut b = Vec::new();
            m.read_raw(name, 0, info.numel(), &mut b).unwrap();
            (name.clone(), b)
        })
        .collect()
}

#[test]
fn every_strategy_resolves_through_merge_and_state_identically() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_model(&root.join("base.safetensors"), 0, true);
    let labels = ["m1", "m2", "m3"];
    for (i, l) in labels.iter().enumerate() {
        write_model(&root.join(format!("{l}.safetensors")), i as u64 + 1, false);
        write_fisher(&root.join(format!("{l}.fisher.safetensors")), i as u64 + 1);
        write_gram(&root.join(format!("{l}.gram.safetensors")), i as u64 + 1);
    }
    let mut failures = Vec::new();
    for spec in registry() {
        let n = spec.max_models.unwrap_or(3).min(3).max(spec.min_models);
        let used: Vec<&str> = labels[..n].to_vec();
        let base = (spec.base != BaseRule::Unused).then(|| root.join("base.safetensors"));
        let params = required(spec);
        let weights = [1.0, 2.0, 0.5];
        let model_path = |l: &str| root.join(format!("{l}.safetensors"));
        let side = |l: &str, kind: &str| -> Option<PathBuf> {
            match (spec.data, kind) {
                (DataNeed::Fisher, "fisher") => Some(root.join(format!("{l}.fisher.safetensors"))),
                (DataNeed::Gram, "gram") => Some(root.join(format!("{l}.gram.safetensors"))),
                _ => None,
            }
        };

        // Direct merge.
        let direct = root.join(format!("{}-direct.safetensors", spec.name));
        let mut req = MergeRequest::new(spec.name, &direct);
        req.base = base.as_ref().map(|b| ModelSpec {
            label: "base".into(),
            path: b.clone(),
            ..ModelSpec::default()
        });
        req.params = params
            .iter()
            .map(|(k, v)| (k.clone(), Setting::Value(v.clone())))
            .collect();
        for (i, l) in used.iter().enumerate() {
            req.models.push(ModelSpec {
                label: l.to_string(),
                path: model_path(l),
                weight: Some(Setting::Value(ParamValue::Num(weights[i]))),
                fisher: side(l, "fisher"),
                gram: side(l, "gram"),
                ..ModelSpec::default()
            });
        }
        if let Err(e) = merge_models(&req, &NoProgress) {
            failures.push(format!("{}: merge: {e}", spec.name));
            continue;
        }

        // Two states built in opposite orders, then merged into each other.
        let mut outs = Vec::new();
        for (k, order) in [used.clone(), used.iter().rev().copied().collect::<Vec<_>>()]
            .into_iter()
            .enumerate()
        {
            let sdir = root.join(format!("{}-state{k}", spec.name));
            let made =
                StateDir::init(&sdir, spec.name, base.as_deref(), &params, 0).and_then(|_| {
                    for l in &order {
                        let i = used.iter().position(|x| x == l).unwrap();
                        StateDir::add(
                            &sdir,
                            &model_path(l),
                            l,
                            weights[i],
                            1,
                            side(l, "fisher").as_deref(),
                            side(l, "gram").as_deref(),
                        )?;
                    }
                    let out = root.join(format!("{}-state{k}.safetensors", spec.name));
                    StateDir::resolve(&sdir, &out, &NoProgress)?;
                    Ok(out)
                });
            match made {
                Ok(out) => outs.push(out),
                Err(e) => failures.push(format!("{}: state: {e}", spec.name)),
            }
        }
        if outs.len() != 2 {
            continue;
        }
        let d = tensor_bytes(&direct);
        if tensor_bytes(&outs[0]) != d || tensor_bytes(&outs[1]) != d {
            failures.push(format!(
                "{}: state resolve differs from the direct merge",
                spec.name
            ));
        }
        // Every output value is finite (no strategy produced NaN on ordinary input).
        let m = ModelFiles::open(&direct).unwrap();
        for (name, info) in m.tensors() {
            let mut v = vec![0.0; info.numel()];
            m.read_f64(name, 0, &mut v).unwrap();
            if v.iter().any(|x| !x.is_finite()) {
                failures.push(format!(
                    "{}: tensor {name} has non-finite output",
                    spec.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} strategies failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
