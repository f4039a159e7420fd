//! mergekit 0.1.5's methods against fixtures computed by mergekit itself
//! (`tests/fixtures/mergekit/generate.py`; DARE/DELLA through injected Philox masks), plus order
//! independence, chunking, mask stability and error paths.

use std::collections::BTreeMap;

use crdt_merge_model::params::{ParamValue, Params};
use crdt_merge_model::strategy::{
    lookup, registry, BaseRule, Kind, ModelInput, Origin, StrategySpec, TensorJob, WeightRule,
};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mergekit");

/// name → (shape, values widened to f64).
type Tensors = BTreeMap<String, (Vec<usize>, Vec<f64>)>;

fn load(file: &str) -> Tensors {
    let bytes = std::fs::read(format!("{DIR}/{file}")).expect("fixture file");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("fixture safetensors");
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
        let values = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect();
        out.insert(name, (view.shape().to_vec(), values));
    }
    out
}

struct Fixture {
    inputs: Tensors,
    expected: Tensors,
    cases: Vec<Value>,
    tensors: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let text = std::fs::read_to_string(format!("{DIR}/cases.json")).expect("cases.json");
        let json: Value = serde_json::from_str(&text).expect("cases.json is JSON");
        let tensors = json["shapes"]
            .as_object()
            .expect("shapes")
            .keys()
            .cloned()
            .collect();
        Fixture {
            inputs: load("inputs.safetensors"),
            expected: load("expected.safetensors"),
            cases: json["cases"].as_array().expect("cases").clone(),
            tensors,
        }
    })
}

fn param_value(v: &Value) -> ParamValue {
    match v {
        Value::Bool(b) => ParamValue::Bool(*b),
        Value::Number(n) => ParamValue::Num(n.as_f64().expect("number")),
        Value::String(s) => ParamValue::Text(s.clone()),
        other => panic!("unexpected parameter {other}"),
    }
}

fn pairs(v: &Value) -> Vec<(String, ParamValue)> {
    v.as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), param_value(v))).collect())
        .unwrap_or_default()
}

/// One model of a case, owned.
#[derive(Clone)]
struct Model {
    label: String,
    id: [u8; 32],
    weight: f64,
    params: Vec<(String, ParamValue)>,
}

fn case_models(case: &Value) -> Vec<Model> {
    case["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| Model {
            label: m["label"].as_str().expect("label").to_string(),
            id: [m["id"].as_u64().expect("id") as u8; 32],
            weight: m["weight"].as_f64().unwrap_or(1.0),
            params: pairs(&m["params"]),
        })
        .collect()
}

/// Runs `spec` on one tensor the way the driver does: models sorted by contribution id, shared
/// and per-model parameters resolved by the spec, the whole tensor or (element-wise) `chunk`
/// elements at a time.
#[allow(clippy::too_many_arguments)]
fn run(
    spec: &StrategySpec,
    tensor: &str,
    shape: &[usize],
    base: Option<&[f64]>,
    models: &[Model],
    data: &[&[f64]],
    shared: &[(String, ParamValue)],
    seed: u64,
    chunk: Option<usize>,
) -> crdt_merge_model::Result<Vec<f64>> {
    let params = spec.resolve(shared, None)?;
    let mut order: Vec<usize> = (0..models.len()).collect();
    order.sort_by_key(|&i| models[i].id);
    let per: Vec<Params> = order
        .iter()
        .map(|&i| spec.resolve(shared, Some(&models[i].params)))
        .collect::<Result<_, _>>()?;
    let n = data
        .first()
        .map(|d| d.len())
        .or(base.map(|b| b.len()))
        .unwrap_or(0);
    let step = chunk.unwrap_or(n.max(1));
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    loop {
        let end = (start + step).min(n);
        let inputs: Vec<ModelInput<'_>> = order
            .iter()
            .zip(&per)
            .map(|(&i, p)| ModelInput {
                label: &models[i].label,
                id: &models[i].id,
                // Whole-tensor calls pass the slices as they are (their lengths are the
                // strategy's to check); chunked calls cut every input the same way.
                data: if chunk.is_none() {
                    data[i]
                } else {
                    &data[i][start..end]
                },
                weight: models[i].weight,
                params: p,
                fisher: None,
                gram: None,
            })
            .collect();
        let job = TensorJob {
            strategy: spec.name,
            name: tensor,
            shape,
            offset: start,
            base: base.map(|b| if chunk.is_none() { b } else { &b[start..end] }),
            models: &inputs,
            params: &params,
            seed,
        };
        out.extend((spec.merge)(&job)?);
        start = end;
        if start >= n {
            break;
        }
    }
    Ok(out)
}

/// Runs a fixture case over every tensor; `models` may be a permutation of the case's.
fn run_case(
    case: &Value,
    models: &[Model],
    chunk: Option<usize>,
) -> crdt_merge_model::Result<BTreeMap<String, Vec<f64>>> {
    let f = fixture();
    let spec = lookup(case["method"].as_str().expect("method"))?;
    let shared = pairs(&case["params"]);
    let seed = case["seed"].as_u64().unwrap_or(0);
    let base_label = case["base"].as_str();
    let mut out = BTreeMap::new();
    for tensor in &f.tensors {
        let get = |label: &str| &f.inputs[&format!("{label}/{tensor}")];
        let shape = &get(models.first().map_or("base", |m| m.label.as_str())).0;
        let base = base_label.map(|b| get(b).1.as_slice());
        let data: Vec<&[f64]> = models.iter().map(|m| get(&m.label).1.as_slice()).collect();
        let v = run(
            spec, tensor, shape, base, models, &data, &shared, seed, chunk,
        )?;
        out.insert(tensor.clone(), v);
    }
    Ok(out)
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for pos in 0..=p.len() {
            let mut q = p.clone();
            q.insert(pos, n - 1);
            out.push(q);
        }
    }
    out
}

#[test]
fn every_mergekit_method_matches_mergekit_0_1_5() {
    let f = fixture();
    let mut worst: BTreeMap<String, f64> = BTreeMap::new();
    let mut compared = 0usize;
    for case in &f.cases {
        let name = case["name"].as_str().expect("name");
        let method = case["method"].as_str().expect("method").to_string();
        let got =
            run_case(case, &case_models(case), None).unwrap_or_else(|e| panic!("case {name}: {e}"));
        for (tensor, values) in &got {
            let (_, want) = &f.expected[&format!("{name}/{tensor}")];
            assert_eq!(values.len(), want.len(), "{name}/{tensor}");
            for (i, (a, b)) in values.iter().zip(want).enumerate() {
                let err = (a - b).abs();
                assert!(
                    err <= 1e-6,
                    "{name}/{tensor}[{i}]: ours {a}, mergekit {b} (|Δ| = {err:e})"
                );
                let w = worst.entry(method.clone()).or_insert(0.0);
                *w = w.max(err);
                compared += 1;
            }
        }
    }
    eprintln!("max |ours − mergekit| per method over {compared} elements:");
    for (m, e) in &worst {
        eprintln!("  {m:18} {e:.2e}");
    }
    let mergekit: Vec<&str> = registry()
        .iter()
        .filter(|s| s.origin == Origin::Mergekit)
        .map(|s| s.name)
        .collect();
    for name in &mergekit {
        assert!(worst.contains_key(*name), "no fixture case for `{name}`");
    }
}

#[test]
fn the_twenty_mergekit_names_with_truthful_rules() {
    let names: Vec<&str> = registry()
        .iter()
        .filter(|s| s.origin == Origin::Mergekit)
        .map(|s| s.name)
        .collect();
    assert_eq!(
        names,
        [
            "linear",
            "slerp",
            "nuslerp",
            "multislerp",
            "karcher",
            "task_arithmetic",
            "ties",
            "dare_linear",
            "dare_ties",
            "breadcrumbs",
            "breadcrumbs_ties",
            "della",
            "della_linear",
            "sce",
            "model_stock",
            "nearswap",
            "arcee_fusion",
            "ram",
            "ramplus_tl",
            "passthrough"
        ]
    );
    for s in registry().iter().filter(|s| s.origin == Origin::Mergekit) {
        let stochastic = ["dare_linear", "dare_ties", "della", "della_linear"].contains(&s.name);
        assert_eq!(s.stochastic, stochastic, "{}", s.name);
        let upstream_too = [
            "linear",
            "slerp",
            "task_arithmetic",
            "ties",
            "dare_ties",
            "della",
        ]
        .contains(&s.name);
        assert_eq!(!s.differs.is_empty(), upstream_too, "{}", s.name);
        assert!(
            !s.formula.is_empty() && !s.guarantee.is_empty(),
            "{}",
            s.name
        );
    }
    let gta = [
        "task_arithmetic",
        "ties",
        "dare_linear",
        "dare_ties",
        "breadcrumbs",
        "breadcrumbs_ties",
        "della",
        "della_linear",
    ];
    for name in gta.iter().chain(&["linear", "nuslerp", "multislerp"]) {
        assert_eq!(
            lookup(name).unwrap().weights,
            WeightRule::Required,
            "{name}"
        );
    }
    for name in gta.iter().chain(&[
        "slerp",
        "sce",
        "model_stock",
        "nearswap",
        "arcee_fusion",
        "ram",
        "ramplus_tl",
    ]) {
        assert_eq!(lookup(name).unwrap().base, BaseRule::Required, "{name}");
    }
    assert_eq!(lookup("model_stock").unwrap().min_models, 2);
    for name in ["slerp", "nearswap", "arcee_fusion", "passthrough"] {
        let s = lookup(name).unwrap();
        assert_eq!((s.min_models, s.max_models), (1, Some(1)), "{name}");
    }
    // The defaults mergekit declares.
    let ties = lookup("ties").unwrap().resolve(&[], None).unwrap();
    assert!(ties.flag("normalize").unwrap());
    assert!(!ties.flag("rescale").unwrap());
    assert_eq!(ties.num("lambda").unwrap(), 1.0);
    let della = lookup("della").unwrap().resolve(&[], Some(&[])).unwrap();
    assert_eq!(della.num("density").unwrap(), 1.0);
    assert_eq!(della.num("epsilon").unwrap(), 0.15);
    assert!(della.flag("rescale").unwrap());
    let bc = lookup("breadcrumbs")
        .unwrap()
        .resolve(&[], Some(&[]))
        .unwrap();
    assert_eq!(bc.num("gamma").unwrap(), 0.01);
}

#[test]
fn permuted_models_give_bit_identical_results() {
    let f = fixture();
    for case in &f.cases {
        let name = case["name"].as_str().unwrap();
        let models = case_models(case);
        let reference = run_case(case, &models, None).unwrap();
        for perm in permutations(models.len()) {
            let permuted: Vec<Model> = perm.iter().map(|&i| models[i].clone()).collect();
            let got = run_case(case, &permuted, None).unwrap();
            for (tensor, v) in &got {
                let r = &reference[tensor];
                assert!(
                    v.iter().zip(r).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{name}/{tensor}: order {perm:?} changed the bits"
                );
            }
        }
    }
}

#[test]
fn elementwise_methods_give_the_same_bits_in_any_chunking() {
    let f = fixture();
    for case in &f.cases {
        let spec = lookup(case["method"].as_str().unwrap()).unwrap();
        if spec.kind != Kind::Elementwise {
            continue;
        }
        let models = case_models(case);
        let whole = run_case(case, &models, None).unwrap();
        for chunk in [1, 7, 64] {
            let got = run_case(case, &models, Some(chunk)).unwrap();
            for (tensor, v) in &got {
                assert!(
                    v.iter()
                        .zip(&whole[tensor])
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{}/{tensor}: chunks of {chunk} changed the bits",
                    case["name"]
                );
            }
        }
    }
}

/// A model's DARE/DELLA mask is a function of (its id, tensor, seed) only: with the other
/// models at weight 0 (they then add exact zeros and never win a sign election), model A's
/// output is bit-identical whichever models join it and in whichever order; the seed and A's id
/// do change it.
#[test]
fn stochastic_masks_do_not_depend_on_other_models() {
    let f = fixture();
    let tensor = "layers.0.attn.weight";
    let (shape, base) = &f.inputs[&format!("base/{tensor}")];
    let data: Vec<&[f64]> = ["m1", "m2", "m3"]
        .iter()
        .map(|m| f.inputs[&format!("{m}/{tensor}")].1.as_slice())
        .collect();
    let model = |k: u8, weight: f64| Model {
        label: format!("m{k}"),
        id: [k; 32],
        weight,
        params: vec![],
    };
    for method in ["dare_linear", "dare_ties", "della", "della_linear"] {
        let spec = lookup(method).unwrap();
        let shared = vec![
            ("density".to_string(), ParamValue::Num(0.5)),
            ("normalize".to_string(), ParamValue::Bool(false)),
        ];
        let alone = run(
            spec,
            tensor,
            shape,
            Some(base),
            &[model(1, 0.7)],
            &data[..1],
            &shared,
            5,
            None,
        )
        .unwrap();
        let kept = alone
            .iter()
            .zip(base.iter())
            .filter(|(a, b)| a != b)
            .count();
        assert!(
            kept > 0 && kept < base.len(),
            "{method}: mask keeps {kept} of {}",
            base.len()
        );
        let all = [model(1, 0.7), model(2, 0.0), model(3, 0.0)];
        for subset in [vec![0, 1], vec![0, 2], vec![0, 1, 2]] {
            for perm in permutations(subset.len()) {
                let ms: Vec<Model> = perm.iter().map(|&p| all[subset[p]].clone()).collect();
                let ds: Vec<&[f64]> = perm.iter().map(|&p| data[subset[p]]).collect();
                let got = run(spec, tensor, shape, Some(base), &ms, &ds, &shared, 5, None).unwrap();
                assert!(
                    got.iter()
                        .zip(&alone)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{method}: models {subset:?} in order {perm:?} changed model 1's mask"
                );
            }
        }
        let other_seed = run(
            spec,
            tensor,
            shape,
            Some(base),
            &[model(1, 0.7)],
            &data[..1],
            &shared,
            6,
            None,
        )
        .unwrap();
        assert_ne!(other_seed, alone, "{method}: the seed must change the mask");
        // Labels are for messages only.
        let renamed = run(
            spec,
            tensor,
            shape,
            Some(base),
            &[Model {
                label: "another name".into(),
                ..model(1, 0.7)
            }],
            &data[..1],
            &shared,
            5,
            None,
        )
        .unwrap();
        assert_eq!(renamed, alone, "{method}: the label changed the result");
        let other_id = run(
            spec,
            tensor,
            shape,
            Some(base),
            &[Model {
                id: [9; 32],
                ..model(1, 0.7)
            }],
            &data[..1],
            &shared,
            5,
            None,
        )
        .unwrap();
        assert_ne!(other_id, alone, "{method}: the id must change the mask");
    }
}

// ------------------------------------------------------------------------------ error paths

fn small_job_error(
    method: &str,
    with_base: bool,
    count: usize,
    shared: &[(String, ParamValue)],
) -> String {
    let spec = lookup(method).unwrap();
    let base: Vec<f64> = (0..12).map(|i| i as f64 * 0.1).collect();
    let data: Vec<Vec<f64>> = (0..count)
        .map(|k| {
            (0..12)
                .map(|i| i as f64 * 0.1 + ((i * 7 + k * 3) % 5) as f64 * 0.01 - 0.02)
                .collect()
        })
        .collect();
    let refs: Vec<&[f64]> = data.iter().map(|d| d.as_slice()).collect();
    let models: Vec<Model> = (0..count)
        .map(|k| Model {
            label: format!("model{k}"),
            id: [k as u8 + 1; 32],
            weight: 1.0,
            params: vec![],
        })
        .collect();
    match run(
        spec,
        "w",
        &[3, 4],
        with_base.then_some(base.as_slice()),
        &models,
        &refs,
        shared,
        0,
        None,
    ) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

fn required_params(method: &str) -> Vec<(String, ParamValue)> {
    match method {
        "slerp" | "nearswap" => vec![("t".into(), ParamValue::Num(0.5))],
        _ => vec![],
    }
}

#[test]
fn base_requiring_methods_refuse_a_missing_base() {
    for s in registry()
        .iter()
        .filter(|s| s.origin == Origin::Mergekit && s.base == BaseRule::Required)
    {
        let n = s.min_models.max(1);
        let e = small_job_error(s.name, false, n, &required_params(s.name));
        assert!(
            e.contains("base") && e.contains(s.name),
            "{}: without a base got {e:?}",
            s.name
        );
        // And the same job with a base works.
        assert_eq!(
            small_job_error(s.name, true, n, &required_params(s.name)),
            ""
        );
    }
}

#[test]
fn wrong_model_counts_are_errors_naming_the_tensor() {
    for s in registry().iter().filter(|s| s.origin == Origin::Mergekit) {
        let with_base = s.base != BaseRule::Unused;
        let shared = required_params(s.name);
        if let Some(max) = s.max_models {
            let e = small_job_error(s.name, with_base, max + 1, &shared);
            assert!(e.contains("`w`") && e.contains(s.name), "{}: {e:?}", s.name);
        }
        if s.min_models > 1 {
            let e = small_job_error(s.name, with_base, s.min_models - 1, &shared);
            assert!(e.contains("`w`") && e.contains(s.name), "{}: {e:?}", s.name);
        }
    }
}

#[test]
fn missing_required_parameters_are_named() {
    for method in ["slerp", "nearswap"] {
        let e = lookup(method)
            .unwrap()
            .resolve(&[], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(method) && e.contains("`t`"), "{e}");
    }
    let e = lookup("ties")
        .unwrap()
        .resolve(&[("densty".into(), ParamValue::Num(0.5))], None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("densty") && e.contains("density"), "{e}");
}

#[test]
fn bad_parameter_values_are_errors_naming_them() {
    let della = small_job_error(
        "della",
        true,
        2,
        &[
            ("density".into(), ParamValue::Num(0.9)),
            ("epsilon".into(), ParamValue::Num(0.2)),
        ],
    );
    assert!(della.contains("epsilon"), "{della}");
    let karcher = small_job_error(
        "karcher",
        false,
        2,
        &[("max_iter".into(), ParamValue::Num(2.5))],
    );
    assert!(karcher.contains("max_iter"), "{karcher}");
}

#[test]
fn mismatched_lengths_are_errors_not_panics() {
    let base = vec![0.0; 6];
    let a = vec![1.0; 6];
    let b = vec![1.0; 5];
    let models = [
        Model {
            label: "a".into(),
            id: [1; 32],
            weight: 1.0,
            params: vec![],
        },
        Model {
            label: "short".into(),
            id: [2; 32],
            weight: 1.0,
            params: vec![],
        },
    ];
    for s in registry().iter().filter(|s| s.origin == Origin::Mergekit) {
        let n = s.max_models.unwrap_or(2).min(2);
        if n < 2 {
            continue;
        }
        let data: Vec<&[f64]> = vec![&a, &b];
        let r = run(
            s,
            "w",
            &[6],
            (s.base != BaseRule::Unused).then_some(base.as_slice()),
            &models[..n],
            &data[..n],
            &required_params(s.name),
            0,
            None,
        );
        let e = r.expect_err(s.name).to_string();
        assert!(
            e.contains("short") || e.contains("elements"),
            "{}: {e}",
            s.name
        );
    }
}

#[test]
fn della_probability_spans_density_plus_minus_epsilon() {
    use crdt_merge_model::strategy::mergekit::della_probability;
    assert_eq!(della_probability(0.5, 0.1, 1, 5), 0.4);
    assert!((della_probability(0.5, 0.1, 5, 5) - 0.6).abs() < 1e-15);
    assert!((della_probability(0.5, 0.1, 3, 5) - 0.5).abs() < 1e-15);
    assert_eq!(della_probability(0.5, 0.1, 1, 1), 0.5);
}

/// Extreme parameter values and degenerate shapes give a result or an error, never a panic.
#[test]
fn extreme_parameters_and_shapes_never_panic() {
    let values = [-1e300, -1.0, 0.0, 1e-9, 0.5, 1.0, 2.0, 1e300];
    let shapes: [&[usize]; 5] = [&[], &[0], &[1], &[3, 1], &[2, 3, 1]];
    for s in registry().iter().filter(|s| s.origin == Origin::Mergekit) {
        for shape in shapes {
            let n: usize = shape.iter().product();
            let base: Vec<f64> = (0..n).map(|i| 0.1 * i as f64 - 0.05).collect();
            let data: Vec<Vec<f64>> = (0..3)
                .map(|k| base.iter().map(|b| b + 0.01 * (k as f64 - 1.2)).collect())
                .collect();
            let count = s.max_models.unwrap_or(3).min(3);
            let refs: Vec<&[f64]> = data[..count].iter().map(|d| d.as_slice()).collect();
            let models: Vec<Model> = (0..count)
                .map(|k| Model {
                    label: format!("m{k}"),
                    id: [k as u8 + 1; 32],
                    weight: 1.0 - k as f64,
                    params: vec![],
                })
                .collect();
            for p in s.params {
                for v in values {
                    let value = match p.kind {
                        crdt_merge_model::params::ParamKind::Bool => ParamValue::Bool(v > 0.0),
                        _ => ParamValue::Num(v),
                    };
                    let mut shared = required_params(s.name);
                    shared.push((p.name.to_string(), value));
                    let base_arg = (s.base != BaseRule::Unused).then_some(base.as_slice());
                    let r = std::panic::catch_unwind(|| {
                        run(s, "w", shape, base_arg, &models, &refs, &shared, 0, None)
                    });
                    assert!(
                        r.is_ok(),
                        "{}: {}={v} on shape {shape:?} panicked",
                        s.name,
                        p.name
                    );
                }
            }
        }
    }
}
