//! The streamed task-vector path (ties, dare_linear, dare_ties on tensors above one chunk) gives
//! the same bytes as the whole-tensor strategy functions, including magnitude ties (quantised
//! values) broken by index, L1 rescales and every density edge.

use crdt_merge_model::dtype::narrow;
use crdt_merge_model::io::{write_safetensors, ModelFiles};
use crdt_merge_model::merge::{merge_models, MergeRequest, ModelSpec, NoProgress, Setting, CHUNK};
use crdt_merge_model::params::ParamValue;
use crdt_merge_model::strategy::{lookup, ModelInput, TensorJob};
use crdt_merge_model::DType;

const N: usize = 2 * CHUNK + 12_345;

fn vals(seed: u64, quantum: f64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..N)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            (v / quantum).round() * quantum
        })
        .collect()
}

fn f32_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect()
}

#[test]
fn streamed_equals_whole_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let shape = vec![N];
    let base = vals(1, 1.0 / 64.0);
    let models: Vec<Vec<f64>> = (2..5)
        .map(|s| {
            base.iter()
                .zip(vals(s, 1.0 / 256.0))
                .map(|(b, d)| b + d * 0.1)
                .collect()
        })
        .collect();
    let write = |name: &str, v: &[f64]| {
        let path = dir.path().join(format!("{name}.safetensors"));
        write_safetensors(
            &path,
            &[("w".to_string(), DType::F32, shape.clone(), f32_bytes(v))],
            Default::default(),
        )
        .unwrap();
        path
    };
    let base_path = write("base", &base);
    let paths: Vec<_> = models
        .iter()
        .enumerate()
        .map(|(i, m)| write(&format!("m{i}"), m))
        .collect();
    let weights = [0.7, 1.3, -0.4];
    for (strategy, densities, rescale) in [
        ("ties", [0.3, 0.05, 1.0], false),
        ("ties", [0.3, 0.0, 0.999], true),
        ("dare_ties", [0.3, 0.5, 1.0], true),
        ("dare_linear", [0.2, 0.9, 0.0], true),
        ("dare_ties", [0.4, 0.4, 0.4], false),
    ] {
        let out = dir.path().join(format!("{strategy}-{rescale}.safetensors"));
        let mut req = MergeRequest::new(strategy, &out);
        req.seed = 5;
        req.base = Some(ModelSpec {
            label: "base".into(),
            path: base_path.clone(),
            ..ModelSpec::default()
        });
        req.params
            .push(("rescale".into(), Setting::Value(ParamValue::Bool(rescale))));
        for (i, p) in paths.iter().enumerate() {
            req.models.push(ModelSpec {
                label: format!("m{i}"),
                path: p.clone(),
                weight: Some(Setting::Value(ParamValue::Num(weights[i]))),
                params: vec![(
                    "density".into(),
                    Setting::Value(ParamValue::Num(densities[i])),
                )],
                ..ModelSpec::default()
            });
        }
        let report = merge_models(&req, &NoProgress).unwrap();
        let got = {
            let m = ModelFiles::open(&out).unwrap();
            let mut b = Vec::new();
            m.read_raw("w", 0, N, &mut b).unwrap();
            b
        };

        // The whole-tensor function on the same inputs, in the driver's order (sorted by id).
        let spec = lookup(strategy).unwrap();
        let given = vec![("rescale".to_string(), ParamValue::Bool(rescale))];
        let params = spec.resolve(&given, None).unwrap();
        let widened = |v: &[f64]| v.iter().map(|x| *x as f32 as f64).collect::<Vec<f64>>();
        let data: Vec<Vec<f64>> = models.iter().map(|m| widened(m)).collect();
        let per: Vec<_> = densities
            .iter()
            .map(|d| {
                spec.resolve(
                    &given,
                    Some(&[("density".to_string(), ParamValue::Num(*d))]),
                )
                .unwrap()
            })
            .collect();
        let mut order: Vec<usize> = (0..3).collect();
        let ids: Vec<[u8; 32]> = report.contributions.iter().map(|(_, id)| *id).collect();
        let labels: Vec<String> = report
            .contributions
            .iter()
            .map(|(l, _)| l.clone())
            .collect();
        order.sort_by_key(|&i| labels.iter().position(|l| *l == format!("m{i}")).unwrap());
        let inputs: Vec<ModelInput<'_>> = order
            .iter()
            .enumerate()
            .map(|(j, &i)| ModelInput {
                label: &labels[j],
                id: &ids[j],
                data: &data[i],
                weight: weights[i],
                params: &per[i],
                fisher: None,
                gram: None,
            })
            .collect();
        let b = widened(&base);
        let job = TensorJob {
            strategy,
            name: "w",
            shape: &shape,
            offset: 0,
            base: Some(&b),
            models: &inputs,
            params: &params,
            seed: 5,
        };
        let whole = (spec.merge)(&job).unwrap();
        let mut want = Vec::new();
        narrow(DType::F32, &whole, &mut want);
        assert!(got == want, "{strategy} (densities {densities:?}, rescale {rescale}): streamed differs from whole-tensor");
    }
}

#[test]
fn streamed_slerp_equals_whole_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let shape = vec![N];
    let a = vals(11, 1.0 / 1024.0);
    let b: Vec<f64> = a
        .iter()
        .zip(vals(12, 1.0 / 1024.0))
        .map(|(x, d)| x + 0.7 * d)
        .collect();
    let write = |name: &str, v: &[f64]| {
        let path = dir.path().join(format!("{name}.safetensors"));
        write_safetensors(
            &path,
            &[("w".to_string(), DType::F32, shape.clone(), f32_bytes(v))],
            Default::default(),
        )
        .unwrap();
        path
    };
    let (pa, pb) = (write("a", &a), write("b", &b));
    for t in [0.0, 0.3, 1.0] {
        let out = dir.path().join(format!("slerp-{t}.safetensors"));
        let mut req = MergeRequest::new("slerp", &out);
        req.base = Some(ModelSpec {
            label: "a".into(),
            path: pa.clone(),
            ..ModelSpec::default()
        });
        req.models.push(ModelSpec {
            label: "b".into(),
            path: pb.clone(),
            ..ModelSpec::default()
        });
        req.params
            .push(("t".into(), Setting::Value(ParamValue::Num(t))));
        let report = merge_models(&req, &NoProgress).unwrap();
        let m = ModelFiles::open(&out).unwrap();
        let mut got = Vec::new();
        m.read_raw("w", 0, N, &mut got).unwrap();
        let spec = lookup("slerp").unwrap();
        let params = spec
            .resolve(&[("t".to_string(), ParamValue::Num(t))], None)
            .unwrap();
        let per = spec.resolve(&[], Some(&[])).unwrap();
        let widened = |v: &[f64]| v.iter().map(|x| *x as f32 as f64).collect::<Vec<f64>>();
        let (wa, wb) = (widened(&a), widened(&b));
        let id = report.contributions[0].1;
        let inputs = [ModelInput {
            label: "b",
            id: &id,
            data: &wb,
            weight: 1.0,
            params: &per,
            fisher: None,
            gram: None,
        }];
        let job = TensorJob {
            strategy: "slerp",
            name: "w",
            shape: &shape,
            offset: 0,
            base: Some(&wa),
            models: &inputs,
            params: &params,
            seed: 0,
        };
        let mut want = Vec::new();
        narrow(DType::F32, &(spec.merge)(&job).unwrap(), &mut want);
        assert!(
            got == want,
            "slerp t = {t}: streamed differs from whole-tensor"
        );
    }
}
