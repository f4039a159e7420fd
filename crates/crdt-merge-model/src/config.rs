//! mergekit YAML configs (`merge_method`, `base_model`, `models[].model`, `models[].parameters`,
//! `slices[].sources[].{model, layer_range, parameters}`, `slices[].parameters`, `parameters`,
//! `dtype`, `out_dtype`, `tokenizer_source`, `chat_template`), turned into a [`MergeRequest`] on
//! local paths. Keys we do not support are an error naming them, never ignored; a Hugging Face
//! hub id is an error saying there is no network.
//!
//! As in mergekit 0.1.5 (`plan.py`, `normalize_config`): with `models`, a `base_model` that is
//! not listed is still an input of methods that do not treat it as a base (`linear`, `karcher`,
//! `passthrough`: it is added with no parameters of its own, so it takes the global ones), and a
//! listed one stays an input; methods with a base take it as the base either way. With
//! `slices`, only the sources are inputs; a source that is the base model is the base for methods
//! with one.

use std::path::{Path, PathBuf};

use serde_norway::Value;

use crate::dtype::DType;
use crate::error::{ModelError, Result};
use crate::merge::{MergeRequest, ModelSpec, Setting, Slice, SliceSource};
use crate::params::ParamValue;
use crate::strategy::{self, BaseRule};

const TOP_KEYS: &[&str] = &[
    "merge_method",
    "base_model",
    "models",
    "slices",
    "parameters",
    "dtype",
    "out_dtype",
    "tokenizer_source",
    "chat_template",
];

/// What a config asks for beyond the merge itself.
#[derive(Clone, Debug, Default)]
pub struct ConfigExtras {
    /// `chat_template`: a template text written as `chat_template.jinja` into a directory output.
    pub chat_template: Option<String>,
}

fn err(path: &Path, message: impl Into<String>) -> ModelError {
    ModelError::format(path, message)
}

fn model_path(config: &Path, v: &Value, what: &str) -> Result<PathBuf> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Mapping(m) => match m.get(Value::String("model".into())) {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(err(config, format!("{what}: expected a path"))),
        },
        _ => return Err(err(config, format!("{what}: expected a path"))),
    };
    let p = PathBuf::from(&text);
    if p.exists() {
        return Ok(p);
    }
    if let Some(rel) = config
        .parent()
        .map(|d| d.join(&text))
        .filter(|c| c.exists())
    {
        return Ok(rel);
    }
    let looks_like_hub =
        text.split('/').count() == 2 && !text.starts_with('.') && !text.starts_with('/');
    if looks_like_hub {
        return Err(err(
            config,
            format!("{what}: `{text}` is not a local path; it looks like a Hugging Face hub id, and crdt-merge does not download (no network): download it first and give the local directory"),
        ));
    }
    Err(err(
        config,
        format!("{what}: `{text}`: no such file or directory"),
    ))
}

fn scalar(v: &Value) -> Option<ParamValue> {
    match v {
        Value::Bool(b) => Some(ParamValue::Bool(*b)),
        Value::Number(n) => n.as_f64().map(ParamValue::Num),
        Value::String(s) => Some(ParamValue::Text(s.clone())),
        _ => None,
    }
}

/// A mergekit parameter value: scalar, gradient (list of numbers), or list of `{filter, value}`.
fn setting(config: &Path, key: &str, v: &Value) -> Result<Setting> {
    if let Some(s) = scalar(v) {
        return Ok(Setting::Value(s));
    }
    let Value::Sequence(items) = v else {
        return Err(err(config, format!("parameter `{key}`: expected a number, a list of numbers or a list of {{filter, value}}")));
    };
    if items.iter().all(|i| matches!(i, Value::Number(_))) {
        return Ok(Setting::Gradient(
            items.iter().filter_map(|i| i.as_f64()).collect(),
        ));
    }
    if items.iter().all(|i| matches!(i, Value::String(_))) {
        return Ok(Setting::Value(ParamValue::List(
            items.iter().filter_map(scalar).collect(),
        )));
    }
    let mut rules = Vec::new();
    for item in items {
        let Value::Mapping(m) = item else {
            return Err(err(config, format!("parameter `{key}`: a list must hold only numbers or only {{filter, value}} maps")));
        };
        for k in m.keys() {
            if !matches!(k.as_str(), Some("filter") | Some("value")) {
                return Err(err(config, format!("parameter `{key}`: unsupported key `{}` in a filter rule (expected filter, value)", k.as_str().unwrap_or("?"))));
            }
        }
        let filter = match m.get(Value::String("filter".into())) {
            // mergekit: no filter and `*` both match every tensor.
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == "*" => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(err(
                    config,
                    format!("parameter `{key}`: `filter` must be text"),
                ))
            }
        };
        let value = m.get(Value::String("value".into())).ok_or_else(|| {
            err(
                config,
                format!("parameter `{key}`: a filter rule needs `value`"),
            )
        })?;
        rules.push((filter, setting(config, key, value)?));
    }
    Ok(Setting::Filtered(rules))
}

fn parameters(config: &Path, v: Option<&Value>, what: &str) -> Result<Vec<(String, Setting)>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Mapping(m)) => m
            .iter()
            .map(|(k, v)| {
                let k = k
                    .as_str()
                    .ok_or_else(|| err(config, format!("{what}: parameter names must be text")))?;
                Ok((k.to_string(), setting(config, k, v)?))
            })
            .collect(),
        Some(_) => Err(err(config, format!("{what}: expected a map of parameters"))),
    }
}

/// Reads a mergekit YAML file into a request writing to `output`.
pub fn read_config(path: &Path, output: &Path) -> Result<(MergeRequest, ConfigExtras)> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    parse_config(path, &text, output)
}

/// Parses mergekit YAML `text` (read from `path`, for messages and relative paths).
pub fn parse_config(
    path: &Path,
    text: &str,
    output: &Path,
) -> Result<(MergeRequest, ConfigExtras)> {
    let doc: Value =
        serde_norway::from_str(text).map_err(|e| err(path, format!("not valid YAML: {e}")))?;
    let Value::Mapping(top) = &doc else {
        return Err(err(path, "expected a YAML map with `merge_method`"));
    };
    let unknown: Vec<String> = top
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .filter(|k| !TOP_KEYS.contains(&k.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(err(
            path,
            format!(
                "unsupported key(s) {}; supported: {}",
                unknown
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                TOP_KEYS.join(", ")
            ),
        ));
    }
    let get = |k: &str| top.get(Value::String(k.into()));
    let method = match get("merge_method") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(err(path, "`merge_method` is required (a strategy name)")),
    };
    let spec = strategy::lookup(&method)?;
    let mut request = MergeRequest::new(&method, output);
    request.params = parameters(path, get("parameters"), "parameters")?;
    let base = match get("base_model") {
        None | Some(Value::Null) => None,
        Some(v) => Some(model_path(path, v, "base_model")?),
    };
    let models = match (get("models"), get("slices")) {
        (Some(Value::Sequence(models)), None) => models,
        (None, Some(Value::Sequence(slices))) => {
            read_slices(
                path,
                slices,
                spec.base != BaseRule::Unused,
                base.as_deref(),
                &mut request,
            )?;
            &Vec::new()
        }
        (Some(_), Some(_)) => {
            return Err(err(path, "give either `models` or `slices`, not both"));
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(err(path, "`models` and `slices` must be lists"));
        }
        (None, None) => {
            return Err(err(
                path,
                "`models` (a list of {model: PATH, parameters: {...}}) or `slices` is required",
            ));
        }
    };
    let mut base_listed = false;
    for (i, m) in models.iter().enumerate() {
        let what = format!("models[{i}]");
        let (p, params) = match m {
            Value::String(_) => (model_path(path, m, &what)?, Vec::new()),
            Value::Mapping(map) => {
                for k in map.keys() {
                    if !matches!(k.as_str(), Some("model") | Some("parameters")) {
                        return Err(err(
                            path,
                            format!(
                                "{what}: unsupported key `{}` (expected model, parameters)",
                                k.as_str().unwrap_or("?")
                            ),
                        ));
                    }
                }
                let model = map
                    .get(Value::String("model".into()))
                    .ok_or_else(|| err(path, format!("{what}: `model` is required")))?;
                (
                    model_path(path, model, &what)?,
                    parameters(path, map.get(Value::String("parameters".into())), &what)?,
                )
            }
            _ => return Err(err(path, format!("{what}: expected a map with `model`"))),
        };
        let is_base = base.as_ref().is_some_and(|b| same_path(b, &p));
        base_listed |= is_base;
        // mergekit lists the base among the models of base-using methods; it is the base there.
        if spec.base != BaseRule::Unused && is_base {
            continue;
        }
        let label = p.display().to_string();
        let mut ms = ModelSpec {
            label,
            path: p,
            ..ModelSpec::default()
        };
        for (k, s) in params {
            if k == "weight" {
                ms.weight = Some(s);
            } else {
                ms.params.push((k, s));
            }
        }
        request.models.push(ms);
    }
    // mergekit (`normalize_config`) adds an unlisted base to the models; for methods without a
    // base rule that makes it one more input, taking the global parameters.
    if let Some(b) = base
        .as_ref()
        .filter(|_| !models.is_empty() && !base_listed && spec.base == BaseRule::Unused)
    {
        request.models.push(ModelSpec {
            label: b.display().to_string(),
            path: b.clone(),
            ..ModelSpec::default()
        });
    }
    if let Some(b) = base {
        request.base = Some(ModelSpec {
            label: b.display().to_string(),
            path: b,
            ..ModelSpec::default()
        });
    }
    let dtype_of = |k: &str| -> Result<Option<DType>> {
        match get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => DType::from_user_name(s).map(Some).ok_or_else(|| {
                err(
                    path,
                    format!("`{k}`: `{s}` is not one of float32, bfloat16, float16, float64"),
                )
            }),
            Some(_) => Err(err(path, format!("`{k}`: expected a type name"))),
        }
    };
    // We always compute in f64; mergekit's `dtype` only matters as the default output type.
    request.dtype = dtype_of("out_dtype")?.or(dtype_of("dtype")?);
    match get("tokenizer_source") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "base" => {
            request.side_files_from = request.base.as_ref().map(|b| side_dir(&b.path));
        }
        Some(Value::String(s)) if s == "union" => {
            return Err(err(path, "`tokenizer_source: union` is not supported (it builds a new vocabulary); use `base` or a path"))
        }
        Some(v) => request.side_files_from = Some(side_dir(&model_path(path, v, "tokenizer_source")?)),
    }
    let chat_template = match get("chat_template") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(err(path, "`chat_template`: expected the template text")),
    };
    Ok((request, ConfigExtras { chat_template }))
}

/// mergekit `slices`: each source becomes a [`SliceSource`]; a model in several slices is one
/// input model (listed once); the base is `None` for methods with a base.
fn read_slices(
    config: &Path,
    slices: &[Value],
    uses_base: bool,
    base: Option<&Path>,
    request: &mut MergeRequest,
) -> Result<()> {
    if slices.is_empty() {
        return Err(err(config, "`slices` is empty"));
    }
    for (si, slice) in slices.iter().enumerate() {
        let what = format!("slices[{si}]");
        let Value::Mapping(map) = slice else {
            return Err(err(
                config,
                format!("{what}: expected a map with `sources`"),
            ));
        };
        for k in map.keys() {
            match k.as_str() {
                Some("sources") | Some("parameters") | Some("base_model") => {}
                Some("residual_weight") => {
                    return Err(err(
                        config,
                        format!("{what}: `residual_weight` is not supported"),
                    ))
                }
                other => {
                    return Err(err(
                        config,
                        format!(
                        "{what}: unsupported key `{}` (expected sources, parameters, base_model)",
                        other.unwrap_or("?")
                    ),
                    ))
                }
            }
        }
        if let Some(v) = map.get(Value::String("base_model".into())) {
            let b = model_path(config, v, &format!("{what}.base_model"))?;
            if !base.is_some_and(|g| same_path(g, &b)) {
                return Err(err(config, format!("{what}: a `base_model` per slice other than the top-level `base_model` is not supported")));
            }
        }
        let Some(Value::Sequence(sources)) = map.get(Value::String("sources".into())) else {
            return Err(err(
                config,
                format!("{what}: `sources` is required (a list of {{model: PATH, layer_range: [START, END]}})"),
            ));
        };
        let mut out = Slice {
            sources: Vec::new(),
            params: parameters(
                config,
                map.get(Value::String("parameters".into())),
                &format!("{what}.parameters"),
            )?,
        };
        for (k, src) in sources.iter().enumerate() {
            let what = format!("{what}.sources[{k}]");
            let Value::Mapping(sm) = src else {
                return Err(err(
                    config,
                    format!("{what}: expected a map with `model` and `layer_range`"),
                ));
            };
            for key in sm.keys() {
                if !matches!(
                    key.as_str(),
                    Some("model") | Some("layer_range") | Some("parameters")
                ) {
                    return Err(err(
                        config,
                        format!(
                            "{what}: unsupported key `{}` (expected model, layer_range, parameters)",
                            key.as_str().unwrap_or("?")
                        ),
                    ));
                }
            }
            let model = sm
                .get(Value::String("model".into()))
                .ok_or_else(|| err(config, format!("{what}: `model` is required")))?;
            let p = model_path(config, model, &what)?;
            let layers = match sm.get(Value::String("layer_range".into())) {
                Some(Value::Sequence(r)) if r.len() == 2 => {
                    let bound = |v: &Value| v.as_u64().and_then(|x| usize::try_from(x).ok());
                    match (bound(&r[0]), bound(&r[1])) {
                        (Some(a), Some(b)) if a < b => (a, b),
                        _ => return Err(err(config, format!("{what}: `layer_range` must be [START, END] with whole numbers 0 <= START < END"))),
                    }
                }
                _ => {
                    return Err(err(
                        config,
                        format!("{what}: `layer_range: [START, END]` is required"),
                    ))
                }
            };
            let model = if uses_base && base.is_some_and(|b| same_path(b, &p)) {
                None
            } else {
                let existing = request.models.iter().position(|m| same_path(&m.path, &p));
                Some(existing.unwrap_or_else(|| {
                    request.models.push(ModelSpec {
                        label: p.display().to_string(),
                        path: p.clone(),
                        ..ModelSpec::default()
                    });
                    request.models.len() - 1
                }))
            };
            out.sources.push(SliceSource {
                model,
                layers,
                params: parameters(
                    config,
                    sm.get(Value::String("parameters".into())),
                    &format!("{what}.parameters"),
                )?,
            });
        }
        request.slices.push(out);
    }
    Ok(())
}

fn side_dir(p: &Path) -> PathBuf {
    if p.is_dir() {
        p.to_path_buf()
    } else {
        p.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("m.yml");
        let e = parse_config(
            &cfg,
            "merge_method: linear\nmodels: []\nslerp_magic: 1\n",
            Path::new("o"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("slerp_magic"), "{e}");
    }

    #[test]
    fn hub_ids_say_there_is_no_network() {
        let cfg = Path::new("/nonexistent/m.yml");
        let e = parse_config(
            cfg,
            "merge_method: linear\nmodels:\n  - model: mistralai/Mistral-7B-v0.1\n",
            Path::new("o"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("hub id") && e.contains("no network"), "{e}");
    }

    /// A config directory with empty model directories `a`, `b`, `base`.
    fn dirs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for m in ["a", "b", "base"] {
            std::fs::create_dir(dir.path().join(m)).unwrap();
        }
        dir
    }

    fn parse(dir: &tempfile::TempDir, yaml: &str) -> Result<MergeRequest> {
        parse_config(&dir.path().join("m.yml"), yaml, Path::new("o")).map(|(r, _)| r)
    }

    #[test]
    fn slices_become_sources_with_one_model_each() {
        let dir = dirs();
        let r = parse(
            &dir,
            "merge_method: passthrough\nslices:\n  - sources: [{model: a, layer_range: [0, 3]}]\n  - sources:\n      - model: b\n        layer_range: [1, 4]\n        parameters: {scale: 0.5}\n  - sources: [{model: a, layer_range: [3, 4]}]\n",
        )
        .unwrap();
        assert_eq!(r.models.len(), 2, "a model in two slices is one input");
        assert_eq!(r.slices.len(), 3);
        assert_eq!(r.slices[0].sources[0].model, Some(0));
        assert_eq!(r.slices[0].sources[0].layers, (0, 3));
        assert_eq!(r.slices[1].sources[0].model, Some(1));
        assert_eq!(
            r.slices[1].sources[0].params,
            vec![("scale".to_string(), Setting::Value(ParamValue::Num(0.5)))]
        );
        assert_eq!(r.slices[2].sources[0].model, Some(0));
    }

    #[test]
    fn a_slice_source_that_is_the_base_is_the_base_only_for_methods_with_one() {
        let dir = dirs();
        let yaml = |m: &str| {
            format!("merge_method: {m}\nbase_model: base\nslices:\n  - sources:\n      - {{model: base, layer_range: [0, 2]}}\n      - {{model: a, layer_range: [0, 2]}}\nparameters: {{t: 0.5, weight: 1}}\n")
        };
        let r = parse(&dir, &yaml("slerp")).unwrap();
        assert_eq!(r.models.len(), 1);
        assert_eq!(r.slices[0].sources[0].model, None);
        let r = parse(&dir, &yaml("linear")).unwrap();
        assert_eq!(r.models.len(), 2, "linear merges the base like any model");
        assert_eq!(r.slices[0].sources[0].model, Some(0));
    }

    #[test]
    fn an_unlisted_base_is_an_input_of_methods_without_a_base() {
        let dir = dirs();
        let r = parse(
            &dir,
            "merge_method: linear\nbase_model: base\nmodels:\n  - {model: a, parameters: {weight: 1}}\n",
        )
        .unwrap();
        let labels: Vec<&str> = r.models.iter().map(|m| m.label.as_str()).collect();
        assert_eq!(labels.len(), 2, "{labels:?}");
        assert!(labels[1].ends_with("base"), "{labels:?}");
        let r = parse(
            &dir,
            "merge_method: task_arithmetic\nbase_model: base\nmodels:\n  - {model: a, parameters: {weight: 1}}\n  - {model: base}\n",
        )
        .unwrap();
        assert_eq!(
            r.models.len(),
            1,
            "the base of task_arithmetic is not a model"
        );
        assert!(r.base.is_some());
    }

    #[test]
    fn bad_slices_are_named() {
        let dir = dirs();
        let cases = [
            ("merge_method: passthrough\nmodels: [a]\nslices: []\n", "not both"),
            ("merge_method: passthrough\nslices: []\n", "`slices` is empty"),
            ("merge_method: passthrough\nslices:\n  - sources: [{model: a}]\n", "slices[0].sources[0]: `layer_range"),
            ("merge_method: passthrough\nslices:\n  - sources: [{model: a, layer_range: [2, 2]}]\n", "START < END"),
            ("merge_method: passthrough\nslices:\n  - sources: [{model: a, layer_range: [0, -1]}]\n", "START < END"),
            ("merge_method: passthrough\nslices:\n  - sources: [{model: a, layer_range: [0, 1]}]\n    residual_weight: 0.5\n", "residual_weight"),
            ("merge_method: passthrough\nslices:\n  - sources: [{model: a, layer_range: [0, 1], weight: 2}]\n", "unsupported key `weight`"),
            ("merge_method: passthrough\nslices:\n  - {model: a}\n", "slices[0]: unsupported key `model`"),
            ("merge_method: slerp\nbase_model: base\nslices:\n  - sources: [{model: a, layer_range: [0, 1]}]\n    base_model: b\n", "per slice"),
        ];
        for (yaml, want) in cases {
            let e = parse(&dir, yaml).unwrap_err().to_string();
            assert!(e.contains(want), "{yaml}: {e}");
        }
    }

    #[test]
    fn a_star_filter_matches_everything() {
        let v: Value = serde_norway::from_str("[{filter: '*', value: 0.7}]").unwrap();
        let s = setting(Path::new("c.yml"), "t", &v).unwrap();
        assert_eq!(
            s.evaluate("lm_head.weight", 0.0),
            Some(ParamValue::Num(0.7))
        );
    }

    #[test]
    fn settings_parse_gradients_and_filters() {
        let cfg = Path::new("c.yml");
        let v: Value =
            serde_norway::from_str("[{filter: self_attn, value: [0, 0.5, 1]}, {value: 0.3}]")
                .unwrap();
        let s = setting(cfg, "t", &v).unwrap();
        assert_eq!(
            s.evaluate("layers.0.self_attn.q", 0.5),
            Some(ParamValue::Num(0.5))
        );
        assert_eq!(s.evaluate("layers.0.mlp", 0.5), Some(ParamValue::Num(0.3)));
    }
}
