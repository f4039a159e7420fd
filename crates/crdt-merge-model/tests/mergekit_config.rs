//! mergekit YAML configs end to end: each config under `tests/fixtures/mergekit/e2e/` was run
//! through `mergekit-yaml` (mergekit 0.1.5, `generate.py` there) on tiny LlamaForCausalLM
//! checkpoints; here it goes through `config::read_config` and `merge_models`, and every output
//! tensor must match mergekit's within 1e-6 (f32), with the same tensor names. This checks the
//! config reader (weights, gradients, filters, the base among the models, slices with per-source
//! filtered parameters) and the driver's planning (layer fractions, slice renames, which model
//! non-layer tensors come from) against mergekit itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crdt_merge_model::config::read_config;
use crdt_merge_model::merge::{merge_models, NoProgress};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mergekit/e2e");

/// name → (shape, values) of a safetensors file, f32 only (every fixture is f32).
fn load(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(
                view.dtype(),
                safetensors::Dtype::F32,
                "{name} in {}",
                path.display()
            );
            let values = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (name, (view.shape().to_vec(), values))
        })
        .collect()
}

fn layers_in(config: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(config).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["num_hidden_layers"].as_u64()
}

/// Merges `name.yml` and compares with mergekit's output; returns the largest difference.
fn check(name: &str) -> f64 {
    let cfg = PathBuf::from(DIR).join(format!("{name}.yml"));
    let out = tempfile::tempdir().expect("tempdir");
    let out_dir = out.path().join("merged");
    let (request, _) = read_config(&cfg, &out_dir).unwrap_or_else(|e| panic!("{name}: {e}"));
    merge_models(&request, &NoProgress).unwrap_or_else(|e| panic!("{name}: {e}"));

    let expected_dir = PathBuf::from(DIR).join("expected").join(name);
    let expected = load(&expected_dir.join("model.safetensors"));
    let ours = load(&out_dir.join("model.safetensors"));
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{name}: tensor names"
    );
    let mut worst = 0.0f64;
    for (tensor, (shape, want)) in &expected {
        let (our_shape, got) = &ours[tensor];
        assert_eq!(our_shape, shape, "{name}: shape of {tensor}");
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            let d = (*a as f64 - *b as f64).abs();
            assert!(
                d <= 1e-6,
                "{name}: {tensor}[{i}] is {a}, mergekit has {b} (|diff| {d:e})"
            );
            worst = worst.max(d);
        }
    }
    assert_eq!(
        layers_in(&out_dir.join("config.json")),
        layers_in(&expected_dir.join("config.json")),
        "{name}: num_hidden_layers in config.json"
    );
    worst
}

#[test]
fn linear_keeps_a_listed_base_as_an_input() {
    check("linear");
}

#[test]
fn linear_adds_an_unlisted_base_as_an_input() {
    check("linear_base_added");
}

#[test]
fn task_arithmetic_with_a_weight_gradient_and_a_filter() {
    check("task_arithmetic");
}

#[test]
fn ties_with_densities() {
    check("ties");
}

#[test]
fn slerp_with_filtered_t_gradients() {
    check("slerp");
}

#[test]
fn slerp_written_as_one_slice() {
    check("slerp_slices");
}

#[test]
fn passthrough_slices_rename_layers_and_filter_on_source_names() {
    check("passthrough");
}

/// Every config has mergekit's output next to it, and every output its config (so a config added
/// without rerunning `generate.py` fails here rather than being skipped).
#[test]
fn every_config_has_an_expected_output() {
    let mut configs: Vec<String> = std::fs::read_dir(DIR)
        .expect("e2e dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".yml"))
                .map(str::to_string)
        })
        .collect();
    configs.sort();
    let mut outputs: Vec<String> = std::fs::read_dir(PathBuf::from(DIR).join("expected"))
        .expect("expected dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    outputs.sort();
    assert_eq!(configs, outputs);
    assert_eq!(configs.len(), 7);
}

/// Slice mistakes the config reader cannot see (they need the models' layer counts, or are
/// about the method) are errors from the driver that name the slice and what was expected.
#[test]
fn slice_errors_name_the_slice() {
    let cfg = PathBuf::from(DIR).join("inline.yml");
    let cases = [
        (
            "merge_method: passthrough\nslices:\n  - sources: [{model: models/ft1, layer_range: [2, 5]}]\n",
            "slices[0].sources[0]: layer_range [2, 5] but model",
        ),
        (
            "merge_method: passthrough\nslices:\n  - sources: [{model: models/ft1, layer_range: [0, 2]}, {model: models/ft2, layer_range: [0, 2]}]\n",
            "at most 1 model(s) besides the base in slices[0]",
        ),
        (
            "merge_method: slerp\nbase_model: models/base\nparameters: {t: 0.5}\nslices:\n  - sources: [{model: models/base, layer_range: [0, 4]}, {model: models/ft1, layer_range: [0, 3]}]\n",
            "slices[0]: every source must span the same number of layers",
        ),
        (
            "merge_method: slerp\nbase_model: models/base\nparameters: {t: 0.5}\nslices:\n  - sources: [{model: models/ft1, layer_range: [0, 4]}]\n",
            "slices[0]: strategy `slerp` needs the base model among the slice's sources",
        ),
        (
            "merge_method: linear\nslices:\n  - sources: [{model: models/ft1, layer_range: [0, 4], parameters: {weight: 1}}, {model: models/ft2, layer_range: [0, 4]}]\n",
            "needs a weight for every model",
        ),
        (
            "merge_method: passthrough\nslices:\n  - sources: [{model: models/ft1, layer_range: [0, 4], parameters: {density: 0.5}}]\n",
            "density",
        ),
    ];
    for (yaml, want) in cases {
        let out = tempfile::tempdir().expect("tempdir");
        let (request, _) =
            crdt_merge_model::config::parse_config(&cfg, yaml, &out.path().join("m"))
                .unwrap_or_else(|e| panic!("{yaml}: {e}"));
        let e = merge_models(&request, &NoProgress)
            .expect_err(yaml)
            .to_string();
        assert!(e.contains(want), "{yaml}\n  got: {e}\n  want: {want}");
    }
}

/// Slices pick layers by model, not by position: the same slices with `models` listed in the
/// other order (indices remapped) give the same bytes, and each output layer is the source
/// layer it should be (non-layer tensors: embeddings from the first slice, the rest from the last).
#[test]
fn sliced_merges_pick_layers_by_model_not_position() {
    let cfg = PathBuf::from(DIR).join("inline.yml");
    let yaml = "merge_method: passthrough\nslices:\n  - sources: [{model: models/ft1, layer_range: [0, 2]}]\n  - sources: [{model: models/ft3, layer_range: [2, 4]}]\n  - sources: [{model: models/ft3, layer_range: [1, 2]}]\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut request, _) =
        crdt_merge_model::config::parse_config(&cfg, yaml, &dir.path().join("a.safetensors"))
            .unwrap_or_else(|e| panic!("{e}"));
    merge_models(&request, &NoProgress).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(request.models.len(), 2);
    request.models.swap(0, 1);
    for slice in &mut request.slices {
        for src in &mut slice.sources {
            src.model = src.model.map(|i| 1 - i);
        }
    }
    request.output = dir.path().join("b.safetensors");
    merge_models(&request, &NoProgress).unwrap_or_else(|e| panic!("{e}"));
    let a = std::fs::read(dir.path().join("a.safetensors")).expect("a");
    let b = std::fs::read(dir.path().join("b.safetensors")).expect("b");
    assert!(a == b, "the model order changed the output");

    let out = load(&dir.path().join("a.safetensors"));
    let ft1 = load(&PathBuf::from(DIR).join("models/ft1/model.safetensors"));
    let ft3 = load(&PathBuf::from(DIR).join("models/ft3/model.safetensors"));
    let q = |l: usize| format!("model.layers.{l}.self_attn.q_proj.weight");
    assert_eq!(out[&q(0)], ft1[&q(0)]);
    assert_eq!(out[&q(1)], ft1[&q(1)]);
    assert_eq!(out[&q(2)], ft3[&q(2)]);
    assert_eq!(out[&q(3)], ft3[&q(3)]);
    assert_eq!(out[&q(4)], ft3[&q(1)]);
    assert!(!out.contains_key(&q(5)));
    assert_eq!(
        out["model.embed_tokens.weight"],
        ft1["model.embed_tokens.weight"]
    );
    assert_eq!(out["lm_head.weight"], ft3["lm_head.weight"]);
    assert_eq!(out["model.norm.weight"], ft3["model.norm.weight"]);
}
