//! `median` and `trimmed_mean` as model strategies: the numbers equal `robust::aggregate` on the
//! same values (an independent sort per coordinate), a poisoned minority moves nothing outside
//! the honest range, the bytes do not depend on the order of the models, and the strategies are
//! found by `lookup` without entering `model strategies`' table.

use crdt_merge_model::io::{write_safetensors, ModelFiles};
use crdt_merge_model::merge::{merge_models, MergeRequest, ModelSpec, NoProgress, Setting, CHUNK};
use crdt_merge_model::params::ParamValue;
use crdt_merge_model::robust::{aggregate, RobustRule};
use crdt_merge_model::strategy::{lookup, registry, valid_names};
use crdt_merge_model::DType;

// More than one chunk, so the element-wise driver's chunking is covered.
const N: usize = CHUNK + 777;

fn vals(seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..N)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) as f32
        })
        .collect()
}

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn merge(
    dir: &std::path::Path,
    strategy: &str,
    paths: &[std::path::PathBuf],
    params: &[(&str, f64)],
    tag: &str,
) -> Vec<u8> {
    let out = dir.join(format!("{strategy}-{tag}.safetensors"));
    let mut req = MergeRequest::new(strategy, &out);
    for (k, v) in params {
        req.params
            .push((k.to_string(), Setting::Value(ParamValue::Num(*v))));
    }
    for (i, p) in paths.iter().enumerate() {
        req.models.push(ModelSpec {
            label: format!("m{i}"),
            path: p.clone(),
            ..ModelSpec::default()
        });
    }
    merge_models(&req, &NoProgress).unwrap();
    let m = ModelFiles::open(&out).unwrap();
    let mut b = Vec::new();
    m.read_raw("w", 0, N, &mut b).unwrap();
    b
}

#[test]
fn median_and_trimmed_mean_merge_models_robustly_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    // Four honest models and one poisoner far outside their range.
    let mut models: Vec<Vec<f32>> = (1..5).map(vals).collect();
    models.push(vec![1e9; N]);
    let paths: Vec<_> = models
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let p = dir.path().join(format!("m{i}.safetensors"));
            write_safetensors(
                &p,
                &[("w".to_string(), DType::F32, vec![N], bytes(v))],
                Default::default(),
            )
            .unwrap();
            p
        })
        .collect();
    let wide: Vec<Vec<f64>> = models
        .iter()
        .map(|v| v.iter().map(|x| *x as f64).collect())
        .collect();
    let inputs: Vec<&[f64]> = wide.iter().map(|v| v.as_slice()).collect();
    for (strategy, params, rule) in [
        ("median", vec![], RobustRule::Median),
        (
            "trimmed_mean",
            vec![("trim", 1.0)],
            RobustRule::TrimmedMean { trim: 1 },
        ),
    ] {
        let got = merge(dir.path(), strategy, &paths, &params, "fwd");
        let want: Vec<u8> = aggregate(rule, &inputs)
            .unwrap()
            .values
            .iter()
            .flat_map(|x| (*x as f32).to_le_bytes())
            .collect();
        assert_eq!(got, want, "{strategy}");
        // The poisoner moved no coordinate outside the honest range.
        for (j, c) in got.chunks_exact(4).enumerate() {
            let x = f32::from_le_bytes(c.try_into().unwrap());
            let lo = models[..4].iter().map(|m| m[j]).fold(f32::MAX, f32::min);
            let hi = models[..4].iter().map(|m| m[j]).fold(f32::MIN, f32::max);
            assert!(
                lo <= x && x <= hi,
                "{strategy}: {x} at {j} outside [{lo}, {hi}]"
            );
        }
        // Any order of the models gives the same bytes.
        let mut rev = paths.clone();
        rev.reverse();
        assert_eq!(merge(dir.path(), strategy, &rev, &params, "rev"), got);
        rev.rotate_left(2);
        assert_eq!(merge(dir.path(), strategy, &rev, &params, "rot"), got);
    }
    // Too few models for the trim is an error naming the strategy, not a panic.
    let out = dir.path().join("bad.safetensors");
    let mut req = MergeRequest::new("trimmed_mean", &out);
    req.params
        .push(("trim".into(), Setting::Value(ParamValue::Num(3.0))));
    for (i, p) in paths.iter().enumerate() {
        req.models.push(ModelSpec {
            label: format!("m{i}"),
            path: p.clone(),
            ..ModelSpec::default()
        });
    }
    let e = merge_models(&req, &NoProgress).unwrap_err().to_string();
    assert!(e.contains("trimmed_mean") && e.contains("trim"), "{e}");
    req.params[0].1 = Setting::Value(ParamValue::Num(0.5));
    let e = merge_models(&req, &NoProgress).unwrap_err().to_string();
    assert!(e.contains("whole number"), "{e}");
}

#[test]
fn robust_rules_are_found_but_not_in_the_strategy_table() {
    for name in ["median", "trimmed_mean"] {
        assert_eq!(lookup(name).unwrap().name, name);
        assert!(registry().iter().all(|s| s.name != name));
        assert!(valid_names().contains(name));
    }
}
