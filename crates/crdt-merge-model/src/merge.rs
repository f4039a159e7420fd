//! The merge driver: plans a merge from model files, checks every tensor before computing any,
//! and streams each output tensor through its strategy into a fixed-header output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::contribution::{contribution_id, hex, ContributionId};
use crate::dtype::{narrow, DType};
use crate::error::{ModelError, Result};
use crate::io::{is_file_output, ModelFiles, OutputTensor, OutputWriter, TensorInfo};
use crate::params::{ParamValue, Params};
use crate::schema::Schema;
use crate::strategy::{
    self, BaseRule, DataNeed, Kind, ModelInput, StrategySpec, TensorJob, WeightRule,
};

/// A parameter value as a config gives it: plain, a gradient over the layer index (mergekit's
/// `t: [0, 0.5, 1]`), or a list of `{filter, value}` rules where `filter` is a substring of the
/// tensor name (the first matching rule wins; a rule without a filter matches every tensor).
#[derive(Clone, Debug, PartialEq)]
pub enum Setting {
    /// One value everywhere.
    Value(ParamValue),
    /// Numbers interpolated over the layer fraction t ∈ [0, 1].
    Gradient(Vec<f64>),
    /// Filter rules.
    Filtered(Vec<(Option<String>, Setting)>),
}

impl From<ParamValue> for Setting {
    fn from(v: ParamValue) -> Self {
        Setting::Value(v)
    }
}

/// One input model.
#[derive(Clone, Debug, Default)]
pub struct ModelSpec {
    /// The label: as written on the command line, or the state's id.
    pub label: String,
    /// A `.safetensors` file or a model directory.
    pub path: PathBuf,
    /// Its weight (required by mergekit's methods, 1 by default for upstream names).
    pub weight: Option<Setting>,
    /// Its own parameters (mergekit's `models[].parameters`).
    pub params: Vec<(String, Setting)>,
    /// Fisher diagonals (same tensor names), for `fisher_merge`.
    pub fisher: Option<PathBuf>,
    /// Gram matrices (`<weight>.gram`), for `regression_mean`.
    pub gram: Option<PathBuf>,
    /// Its content id when already known (a state's blob); computed otherwise.
    pub id: Option<ContributionId>,
}

/// What to do with a tensor that some models lack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Missing {
    /// An error naming the tensor and the models without it.
    #[default]
    Error,
    /// Merge it over the models that have it.
    Present,
}

/// A whole merge.
#[derive(Clone, Debug)]
pub struct MergeRequest {
    /// The strategy for tensors no layer pattern matches.
    pub strategy: String,
    /// Per-tensor strategies: (pattern, strategy), matched in the schema's order
    /// ([`crate::schema`]).
    pub layer_strategies: Vec<(String, String)>,
    /// Shared parameters.
    pub params: Vec<(String, Setting)>,
    /// The base model.
    pub base: Option<ModelSpec>,
    /// The models.
    pub models: Vec<ModelSpec>,
    /// The output type (default: the base's, else the models' common type).
    pub dtype: Option<DType>,
    /// The seed for random strategies.
    pub seed: u64,
    /// Tensors missing from some models.
    pub missing: Missing,
    /// Accept NaN / Inf in inputs.
    pub allow_nonfinite: bool,
    /// Shard size in bytes for directory outputs.
    pub shard_size: u64,
    /// A `.safetensors` file or a directory.
    pub output: PathBuf,
    /// Extra `__metadata__` entries.
    pub metadata: BTreeMap<String, String>,
    /// Where side files (config, tokenizer) come from for a directory output (default: the
    /// base, else the first model by sorted path).
    pub side_files_from: Option<PathBuf>,
}

impl MergeRequest {
    /// A request with defaults: no base, dtype from the inputs, seed 0, 5 GB shards.
    pub fn new(strategy: &str, output: impl Into<PathBuf>) -> Self {
        MergeRequest {
            strategy: strategy.to_string(),
            layer_strategies: Vec::new(),
            params: Vec::new(),
            base: None,
            models: Vec::new(),
            dtype: None,
            seed: 0,
            missing: Missing::Error,
            allow_nonfinite: false,
            shard_size: 5_000_000_000,
            output: output.into(),
            metadata: BTreeMap::new(),
            side_files_from: None,
        }
    }
}

/// Progress callbacks (the CLI draws a bar; library users may ignore them).
pub trait Progress: Sync {
    /// Called once the plan is known.
    fn start(&self, tensors: usize, bytes: u64) {
        let _ = (tensors, bytes);
    }
    /// Called as output bytes are written.
    fn advance(&self, bytes: u64, tensors_done: usize) {
        let _ = (bytes, tensors_done);
    }
}

/// No progress reporting.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What a merge wrote.
#[derive(Clone, Debug)]
pub struct MergeReport {
    /// Files written (safetensors shards, index, side files).
    pub files: Vec<PathBuf>,
    /// Tensors written.
    pub tensors: usize,
    /// Output data bytes.
    pub bytes: u64,
    /// The models' contribution ids, in merge order (sorted by id).
    pub contributions: Vec<(String, ContributionId)>,
}

/// Elements per chunk for element-wise strategies (fixed, so chunking never changes a result).
pub const CHUNK: usize = 1 << 18;

impl Setting {
    /// The value for tensor `name` at layer fraction `t`, if any rule applies.
    pub fn evaluate(&self, name: &str, t: f64) -> Option<ParamValue> {
        match self {
            Setting::Value(v) => Some(v.clone()),
            Setting::Gradient(values) => Some(ParamValue::Num(gradient(values, t))),
            Setting::Filtered(rules) => rules
                .iter()
                .find(|(filter, _)| filter.as_deref().is_none_or(|f| name.contains(f)))
                .and_then(|(_, s)| s.evaluate(name, t)),
        }
    }

    /// A rendering for `__metadata__` (JSON).
    pub fn render(&self) -> serde_json::Value {
        match self {
            Setting::Value(v) => serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
            Setting::Gradient(values) => serde_json::json!(values),
            Setting::Filtered(rules) => serde_json::Value::Array(
                rules
                    .iter()
                    .map(|(f, s)| serde_json::json!({"filter": f, "value": s.render()}))
                    .collect(),
            ),
        }
    }
}

/// mergekit's gradient: values spread evenly over t ∈ [0, 1], linearly interpolated.
pub fn gradient(values: &[f64], t: f64) -> f64 {
    match values.len() {
        0 => 0.0,
        1 => values[0],
        n => {
            let scaled = t.clamp(0.0, 1.0) * (n - 1) as f64;
            let i0 = (scaled.floor() as usize).min(n - 1);
            let i1 = (i0 + 1).min(n - 1);
            let frac = scaled - i0 as f64;
            (1.0 - frac) * values[i0] + frac * values[i1]
        }
    }
}

/// The layer index in a tensor name (`model.layers.12.mlp...` → 12; also `h.`, `blocks.`,
/// `layer.`).
pub fn layer_index(name: &str) -> Option<usize> {
    let parts: Vec<&str> = name.split('.').collect();
    parts.windows(2).find_map(|w| {
        matches!(w[0], "layers" | "h" | "blocks" | "layer" | "block")
            .then(|| w[1].parse().ok())
            .flatten()
    })
}

/// The layer fraction t of tensor `name` among `layers` layers: index / (layers − 1); tensors
/// outside the layers sit at 0 if they are embeddings (`embed`, `wte`, `wpe`), else at 1 (final
/// norm, `lm_head`), as they come before or after the layers in a decoder.
pub fn layer_fraction(name: &str, layers: usize) -> f64 {
    match layer_index(name) {
        Some(i) if layers > 1 => i as f64 / (layers - 1) as f64,
        Some(_) => 0.0,
        None if name.contains("embed") || name.contains("wte") || name.contains("wpe") => 0.0,
        None => 1.0,
    }
}

struct Opened {
    label: String,
    files: ModelFiles,
    id: ContributionId,
    spec: ModelSpec,
    fisher: Option<ModelFiles>,
    gram: Option<ModelFiles>,
}

fn open_model(spec: &ModelSpec) -> Result<Opened> {
    let files = ModelFiles::open(&spec.path)?;
    let id = match spec.id {
        Some(id) => id,
        None => contribution_id(&files)?,
    };
    let fisher = spec.fisher.as_deref().map(ModelFiles::open).transpose()?;
    let gram = spec.gram.as_deref().map(ModelFiles::open).transpose()?;
    Ok(Opened {
        label: spec.label.clone(),
        files,
        id,
        spec: spec.clone(),
        fisher,
        gram,
    })
}

fn file_of<'a>(m: &'a Opened, info: &TensorInfo) -> &'a Path {
    m.files
        .files()
        .get(info.file)
        .map(|p| p.as_path())
        .unwrap_or(m.files.path())
}

/// One output tensor's plan.
struct TensorPlan {
    name: String,
    shape: Vec<usize>,
    out_dtype: DType,
    /// Indices into the sorted models that have it.
    models: Vec<usize>,
    /// Whether the base takes part.
    base: bool,
    /// The strategy, or None for a byte copy (non-float tensors, base-only tensors).
    strategy: Option<&'static StrategySpec>,
    /// Copy source for a byte copy: None = base, Some(i) = model i.
    copy_from: Option<usize>,
}

/// Runs a merge: checks, plans, then streams every tensor into `request.output`.
///
/// # Errors
/// Every caller error names the tensor, file, model or parameter: unknown strategy or parameter,
/// a base-requiring strategy without a base, a weight missing for a mergekit method, mismatched
/// shapes or dtypes, tensors missing from some models, non-finite inputs, non-float tensors that
/// differ, unreadable files.
pub fn merge_models(request: &MergeRequest, progress: &dyn Progress) -> Result<MergeReport> {
    let schema = Schema::new(&request.layer_strategies, &request.strategy)?;
    let default_spec = strategy::lookup(&request.strategy)?;
    let mut specs: BTreeMap<&str, &'static StrategySpec> = BTreeMap::new();
    for name in schema.strategies() {
        specs.insert(name, strategy::lookup(name)?);
    }
    if request.models.is_empty() {
        return Err(ModelError::invalid("model merge: no models given"));
    }
    // Parameters are checked against the default strategy before any tensor is read.
    let given: Vec<(String, ParamValue)> = request
        .params
        .iter()
        .filter_map(|(k, s)| s.evaluate("", 0.0).map(|v| (k.clone(), v)))
        .collect();
    default_spec.resolve(&given, None)?;
    for m in &request.models {
        let own: Vec<(String, ParamValue)> = m
            .params
            .iter()
            .filter_map(|(k, s)| s.evaluate("", 0.0).map(|v| (k.clone(), v)))
            .collect();
        default_spec
            .resolve(&given, Some(&own))
            .map_err(|e| match e {
                ModelError::Param {
                    strategy,
                    param,
                    message,
                } => ModelError::Param {
                    strategy,
                    param,
                    message: format!("{message} (model `{}`)", m.label),
                },
                other => other,
            })?;
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in &request.models {
        if !seen.insert(m.label.as_str()) {
            return Err(ModelError::invalid(format!(
                "model `{}` is given twice",
                m.label
            )));
        }
    }

    let base = request.base.as_ref().map(open_model).transpose()?;
    let mut models: Vec<Opened> = request
        .models
        .par_iter()
        .map(open_model)
        .collect::<Result<_>>()?;
    models.sort_by(|a, b| a.id.cmp(&b.id).then_with(|| a.label.cmp(&b.label)));
    for w in models.windows(2) {
        if w[0].id == w[1].id {
            return Err(ModelError::invalid(format!(
                "models `{}` and `{}` have the same content (contribution id {}); give each model once",
                w[0].label,
                w[1].label,
                hex(&w[0].id)
            )));
        }
    }

    for spec in specs.values() {
        if spec.base == BaseRule::Required && base.is_none() {
            return Err(ModelError::invalid(format!(
                "strategy `{}` needs a base model (--base)",
                spec.name
            )));
        }
        if models.len() < spec.min_models {
            return Err(ModelError::invalid(format!(
                "strategy `{}` needs at least {} model(s) besides the base; got {}",
                spec.name,
                spec.min_models,
                models.len()
            )));
        }
        if let Some(max) = spec.max_models {
            if models.len() > max {
                return Err(ModelError::invalid(format!(
                    "strategy `{}` takes at most {} model(s) besides the base; got {}",
                    spec.name,
                    max,
                    models.len()
                )));
            }
        }
        if spec.weights == WeightRule::Required {
            if let Some(m) = models.iter().find(|m| m.spec.weight.is_none()) {
                return Err(ModelError::invalid(format!(
                    "strategy `{}` needs a weight for every model; model `{}` has none (--weight {}=W)",
                    spec.name, m.label, m.label
                )));
            }
        }
        match spec.data {
            DataNeed::Fisher => {
                if let Some(m) = models.iter().find(|m| m.fisher.is_none()) {
                    return Err(ModelError::invalid(format!(
                        "strategy `{}` needs Fisher diagonals for every model; model `{}` has none (--fisher {}=FILE)",
                        spec.name, m.label, m.label
                    )));
                }
            }
            DataNeed::Gram => {
                if let Some(m) = models.iter().find(|m| m.gram.is_none()) {
                    return Err(ModelError::invalid(format!(
                        "strategy `{}` needs Gram matrices for every model; model `{}` has none (--gram {}=FILE)",
                        spec.name, m.label, m.label
                    )));
                }
            }
            DataNeed::None => {}
        }
    }

    let plans = plan(request, &schema, &specs, base.as_ref(), &models)?;
    let layers = plans
        .iter()
        .filter_map(|p| layer_index(&p.name))
        .max()
        .map_or(0, |m| m + 1);

    let mut metadata = request.metadata.clone();
    metadata.insert("crdt_merge.strategy".into(), request.strategy.clone());
    if !request.layer_strategies.is_empty() {
        metadata.insert(
            "crdt_merge.layer_strategies".into(),
            serde_json::json!(request.layer_strategies).to_string(),
        );
    }
    let params_json: serde_json::Map<String, serde_json::Value> = request
        .params
        .iter()
        .map(|(k, s)| (k.clone(), s.render()))
        .collect();
    metadata.insert(
        "crdt_merge.params".into(),
        serde_json::Value::Object(params_json).to_string(),
    );
    metadata.insert("crdt_merge.seed".into(), request.seed.to_string());
    let contributions: Vec<serde_json::Value> = models
        .iter()
        .map(|m| {
            let own: serde_json::Map<String, serde_json::Value> = m
                .spec
                .params
                .iter()
                .map(|(k, s)| (k.clone(), s.render()))
                .collect();
            serde_json::json!({
                "id": hex(&m.id),
                "weight": m.spec.weight.as_ref().map(|w| w.render()),
                "params": own,
            })
        })
        .collect();
    metadata.insert(
        "crdt_merge.contributions".into(),
        serde_json::Value::Array(contributions).to_string(),
    );
    if let Some(b) = &base {
        metadata.insert("crdt_merge.base".into(), hex(&b.id));
    }

    let outputs: Vec<OutputTensor> = plans
        .iter()
        .map(|p| OutputTensor {
            name: p.name.clone(),
            dtype: p.out_dtype,
            shape: p.shape.clone(),
        })
        .collect();
    let total_bytes: u64 = plans
        .iter()
        .map(|p| (p.shape.iter().product::<usize>() * p.out_dtype.size()) as u64)
        .sum();
    let writer = OutputWriter::create(&request.output, outputs, metadata, request.shard_size)?;
    progress.start(plans.len(), total_bytes);
    let written = AtomicU64::new(0);
    let done = AtomicUsize::new(0);

    for p in &plans {
        run_tensor(
            request,
            p,
            base.as_ref(),
            &models,
            layers,
            &writer,
            &|bytes| {
                let w = written.fetch_add(bytes, Ordering::Relaxed) + bytes;
                progress.advance(w, done.load(Ordering::Relaxed));
            },
        )?;
        let d = done.fetch_add(1, Ordering::Relaxed) + 1;
        progress.advance(written.load(Ordering::Relaxed), d);
    }
    let mut files = writer.finish()?;

    if !is_file_output(&request.output) {
        let from = request
            .side_files_from
            .clone()
            .or_else(|| {
                base.as_ref()
                    .and_then(|b| b.files.dir().map(Path::to_path_buf))
            })
            .or_else(|| {
                let mut dirs: Vec<(PathBuf, PathBuf)> = models
                    .iter()
                    .filter_map(|m| {
                        m.files
                            .dir()
                            .map(|d| (m.files.path().to_path_buf(), d.to_path_buf()))
                    })
                    .collect();
                dirs.sort();
                dirs.into_iter().next().map(|(_, d)| d)
            });
        if let Some(from) = from {
            for name in crate::io::copy_side_files(&from, &request.output)? {
                files.push(request.output.join(name));
            }
        }
    }
    Ok(MergeReport {
        files,
        tensors: plans.len(),
        bytes: total_bytes,
        contributions: models.iter().map(|m| (m.label.clone(), m.id)).collect(),
    })
}

fn describe(dtype: DType, shape: &[usize]) -> String {
    format!("{dtype} {shape:?}")
}

fn plan(
    request: &MergeRequest,
    schema: &Schema,
    specs: &BTreeMap<&str, &'static StrategySpec>,
    base: Option<&Opened>,
    models: &[Opened],
) -> Result<Vec<TensorPlan>> {
    let mut names: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    for m in models {
        names.extend(m.files.tensors().keys().map(String::as_str));
    }
    let uses_base = |spec: &StrategySpec| spec.base != BaseRule::Unused;
    if let Some(b) = base {
        if specs.values().any(|s| uses_base(s)) {
            names.extend(b.files.tensors().keys().map(String::as_str));
        }
    }

    // The output type when no --dtype and no base: the models' common float type.
    let mut common: Option<(DType, String, PathBuf)> = None;
    if request.dtype.is_none() && base.is_none() {
        for m in models {
            for (name, info) in m.files.tensors() {
                if !info.dtype.is_computable() {
                    continue;
                }
                match &common {
                    None => {
                        common = Some((info.dtype, name.clone(), file_of(m, info).to_path_buf()))
                    }
                    Some((d, other, file)) if *d != info.dtype => {
                        return Err(ModelError::invalid(format!(
                            "mixed float types: tensor `{other}` is {d} in {} but tensor `{name}` is {} in {}; pass --dtype float32|bfloat16|float16|float64",
                            file.display(),
                            info.dtype,
                            file_of(m, info).display()
                        )));
                    }
                    _ => {}
                }
            }
        }
    }

    let mut plans = Vec::with_capacity(names.len());
    for name in names {
        let spec = specs[schema.strategy_for(name)];
        let have: Vec<usize> = (0..models.len())
            .filter(|&i| models[i].files.tensors().contains_key(name))
            .collect();
        let base_info = base.and_then(|b| b.files.tensors().get(name));
        if have.len() < models.len() && request.missing == Missing::Error && !have.is_empty() {
            let missing: Vec<&str> = (0..models.len())
                .filter(|i| !have.contains(i))
                .map(|i| models[i].label.as_str())
                .collect();
            return Err(ModelError::tensor(
                name,
                format!("missing from model(s) {} (pass --missing present to merge it over the models that have it)", missing.join(", ")),
            ));
        }
        // Reference info: the base's if it takes part, else the first model's.
        let reference: (&Opened, &TensorInfo) = match (have.first(), base_info) {
            (_, Some(bi)) if uses_base(spec) || have.is_empty() => (base.unwrap(), bi),
            (Some(&i), _) => (&models[i], &models[i].files.tensors()[name]),
            (None, _) => unreachable!("name came from some input"),
        };
        let (ref_model, ref_info) = reference;
        if uses_base(spec)
            && spec.base == BaseRule::Required
            && base_info.is_none()
            && request.missing == Missing::Error
        {
            return Err(ModelError::tensor(
                name,
                format!(
                    "missing from the base model {} (strategy `{}` needs it)",
                    base.unwrap().label,
                    spec.name
                ),
            ));
        }
        for &i in &have {
            let info = &models[i].files.tensors()[name];
            if info.shape != ref_info.shape
                || info.dtype.is_computable() != ref_info.dtype.is_computable()
            {
                return Err(ModelError::tensor(
                    name,
                    format!(
                        "is {} in {} but {} in {}",
                        describe(ref_info.dtype, &ref_info.shape),
                        file_of(ref_model, ref_info).display(),
                        describe(info.dtype, &info.shape),
                        file_of(&models[i], info).display()
                    ),
                ));
            }
        }
        if let Some(bi) = base_info {
            if bi.shape != ref_info.shape {
                return Err(ModelError::tensor(
                    name,
                    format!(
                        "is {} in the base {} but {} in {}",
                        describe(bi.dtype, &bi.shape),
                        file_of(base.unwrap(), bi).display(),
                        describe(ref_info.dtype, &ref_info.shape),
                        file_of(ref_model, ref_info).display()
                    ),
                ));
            }
        }
        if !ref_info.dtype.is_computable() {
            // Non-float tensors must be byte-identical everywhere; they are copied.
            let mut first = Vec::new();
            ref_model
                .files
                .read_raw(name, 0, ref_info.numel(), &mut first)?;
            let mut others: Vec<(&Opened, &TensorInfo)> = have
                .iter()
                .map(|&i| (&models[i], &models[i].files.tensors()[name]))
                .collect();
            if let (Some(b), Some(bi)) = (base, base_info) {
                others.push((b, bi));
            }
            for (m, info) in others {
                let mut bytes = Vec::new();
                if info.dtype != ref_info.dtype {
                    return Err(ModelError::tensor(name, format!("is {} in {} but {} in {}; non-float tensors must be identical in every model", ref_info.dtype.safetensors_name(), file_of(ref_model, ref_info).display(), info.dtype.safetensors_name(), file_of(m, info).display())));
                }
                m.files.read_raw(name, 0, info.numel(), &mut bytes)?;
                if bytes != first {
                    return Err(ModelError::tensor(
                        name,
                        format!(
                            "is a {} tensor that differs between {} and {}; non-float tensors must be identical in every model (they are copied, not merged)",
                            info.dtype.safetensors_name(),
                            file_of(ref_model, ref_info).display(),
                            file_of(m, info).display()
                        ),
                    ));
                }
            }
            let copy_from = if std::ptr::eq(
                ref_model,
                base.map_or(std::ptr::null(), |b| b as *const Opened),
            ) {
                None
            } else {
                have.first().copied()
            };
            plans.push(TensorPlan {
                name: name.to_string(),
                shape: ref_info.shape.clone(),
                out_dtype: ref_info.dtype,
                models: have,
                base: false,
                strategy: None,
                copy_from,
            });
            continue;
        }
        let out_dtype = request
            .dtype
            .or_else(|| base_info.map(|b| b.dtype).filter(|d| d.is_computable()))
            .or(common.as_ref().map(|c| c.0))
            .unwrap_or(ref_info.dtype);
        if have.is_empty() {
            // Only the base has it: copied (rounded to the output type).
            plans.push(TensorPlan {
                name: name.to_string(),
                shape: ref_info.shape.clone(),
                out_dtype,
                models: have,
                base: true,
                strategy: None,
                copy_from: None,
            });
            continue;
        }
        plans.push(TensorPlan {
            name: name.to_string(),
            shape: ref_info.shape.clone(),
            out_dtype,
            base: uses_base(spec) && base_info.is_some(),
            models: have,
            strategy: Some(spec),
            copy_from: None,
        });
    }
    Ok(plans)
}

fn read_checked(
    request: &MergeRequest,
    m: &Opened,
    name: &str,
    offset: usize,
    out: &mut [f64],
) -> Result<()> {
    m.files.read_f64(name, offset, out)?;
    if !request.allow_nonfinite {
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            let info = &m.files.tensors()[name];
            return Err(ModelError::tensor(
                name,
                format!(
                    "element {} is {} in {} (pass --allow-nonfinite to merge it anyway)",
                    offset + i,
                    out[i],
                    file_of(m, info).display()
                ),
            ));
        }
    }
    Ok(())
}

fn resolve_params(
    request: &MergeRequest,
    spec: &StrategySpec,
    name: &str,
    t: f64,
    models: &[&Opened],
) -> Result<(Params, Vec<Params>, Vec<f64>)> {
    let declared = |k: &str| k == "weight" || spec.params.iter().any(|p| p.name == k);
    let eval = |settings: &[(String, Setting)]| -> Vec<(String, ParamValue)> {
        settings
            .iter()
            .filter(|(k, _)| declared(k))
            .filter_map(|(k, s)| s.evaluate(name, t).map(|v| (k.clone(), v)))
            .collect()
    };
    let shared = eval(&request.params);
    let params = spec.resolve(&shared, None)?;
    let mut per_model = Vec::with_capacity(models.len());
    let mut weights = Vec::with_capacity(models.len());
    for m in models {
        let own = eval(&m.spec.params);
        per_model.push(spec.resolve(&shared, Some(&own))?);
        let w = m
            .spec
            .weight
            .as_ref()
            .and_then(|s| s.evaluate(name, t))
            .or_else(|| {
                own.iter()
                    .rev()
                    .find(|(k, _)| k == "weight")
                    .map(|(_, v)| v.clone())
            })
            .or_else(|| {
                shared
                    .iter()
                    .rev()
                    .find(|(k, _)| k == "weight")
                    .map(|(_, v)| v.clone())
            });
        let w = match w {
            Some(ParamValue::Num(w)) if w.is_finite() => w,
            Some(other) => {
                return Err(ModelError::param(spec.name, "weight", format!("model `{}`: expected a finite number, got {}", m.label, other.render())))
            }
            None if spec.weights == WeightRule::Required => {
                return Err(ModelError::invalid(format!(
                    "strategy `{}` needs a weight for every model; model `{}` has none for tensor `{name}`",
                    spec.name, m.label
                )))
            }
            None => 1.0,
        };
        weights.push(w);
    }
    Ok((params, per_model, weights))
}

fn run_tensor(
    request: &MergeRequest,
    p: &TensorPlan,
    base: Option<&Opened>,
    models: &[Opened],
    layers: usize,
    writer: &OutputWriter,
    advance: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    let numel: usize = p.shape.iter().product();
    let Some(spec) = p.strategy else {
        // A copy: raw bytes for non-float tensors, rounded values for base-only float tensors.
        let src = match p.copy_from {
            Some(i) => &models[i],
            None => base.expect("copy without source"),
        };
        let info = &src.files.tensors()[&p.name];
        let mut offset = 0;
        while offset < numel.max(1) && offset < numel {
            let n = CHUNK.min(numel - offset);
            let mut bytes = Vec::with_capacity(n * p.out_dtype.size());
            if info.dtype.is_computable() {
                let mut vals = vec![0.0; n];
                read_checked(request, src, &p.name, offset, &mut vals)?;
                narrow(p.out_dtype, &vals, &mut bytes);
            } else {
                src.files.read_raw(&p.name, offset, n, &mut bytes)?;
            }
            writer.write(&p.name, offset, &bytes)?;
            advance(bytes.len() as u64);
            offset += n;
        }
        return Ok(());
    };
    let inputs: Vec<&Opened> = p.models.iter().map(|&i| &models[i]).collect();
    let t = layer_fraction(&p.name, layers);
    let (params, per_model, weights) = resolve_params(request, spec, &p.name, t, &inputs)?;
    let base_for = if p.base { base } else { None };

    let compute = |offset: usize, n: usize| -> Result<Vec<u8>> {
        let mut data: Vec<Vec<f64>> = Vec::with_capacity(inputs.len());
        for m in &inputs {
            let mut v = vec![0.0; n];
            read_checked(request, m, &p.name, offset, &mut v)?;
            data.push(v);
        }
        let base_data = match base_for {
            Some(b) => {
                let mut v = vec![0.0; n];
                read_checked(request, b, &p.name, offset, &mut v)?;
                Some(v)
            }
            None => None,
        };
        let fisher: Vec<Option<Vec<f64>>> = inputs
            .iter()
            .map(|m| side_tensor(spec, m, &p.name, &p.shape, offset, n, DataNeed::Fisher))
            .collect::<Result<_>>()?;
        let gram: Vec<Option<Vec<f64>>> = inputs
            .iter()
            .map(|m| side_tensor(spec, m, &p.name, &p.shape, offset, n, DataNeed::Gram))
            .collect::<Result<_>>()?;
        let model_inputs: Vec<ModelInput<'_>> = inputs
            .iter()
            .enumerate()
            .map(|(i, m)| ModelInput {
                label: &m.label,
                id: &m.id,
                data: &data[i],
                weight: weights[i],
                params: &per_model[i],
                fisher: fisher[i].as_deref(),
                gram: gram[i].as_deref(),
            })
            .collect();
        let job = TensorJob {
            strategy: spec.name,
            name: &p.name,
            shape: &p.shape,
            offset,
            base: base_data.as_deref(),
            models: &model_inputs,
            params: &params,
            seed: request.seed,
        };
        let out = (spec.merge)(&job)?;
        if out.len() != n {
            return Err(ModelError::tensor(
                &p.name,
                format!(
                    "internal error: strategy `{}` returned {} values for {n} elements",
                    spec.name,
                    out.len()
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(n * p.out_dtype.size());
        narrow(p.out_dtype, &out, &mut bytes);
        Ok(bytes)
    };

    match spec.kind {
        Kind::Elementwise if numel > CHUNK => {
            let chunks: Vec<usize> = (0..numel.div_ceil(CHUNK)).collect();
            chunks.par_iter().try_for_each(|&c| {
                let offset = c * CHUNK;
                let n = CHUNK.min(numel - offset);
                let bytes = compute(offset, n)?;
                writer.write(&p.name, offset, &bytes)?;
                advance(bytes.len() as u64);
                Ok(())
            })
        }
        _ => {
            let bytes = compute(0, numel)?;
            writer.write(&p.name, 0, &bytes)?;
            advance(bytes.len() as u64);
            Ok(())
        }
    }
}

/// A model's Fisher diagonal (same name and shape) or Gram matrix (`<name>.gram`, in × in) for
/// tensor `name`, if the strategy needs that kind.
fn side_tensor(
    spec: &StrategySpec,
    m: &Opened,
    name: &str,
    shape: &[usize],
    offset: usize,
    n: usize,
    kind: DataNeed,
) -> Result<Option<Vec<f64>>> {
    if spec.data != kind {
        return Ok(None);
    }
    let (files, what) = match kind {
        DataNeed::Fisher => (m.fisher.as_ref(), "Fisher"),
        DataNeed::Gram => (m.gram.as_ref(), "Gram"),
        DataNeed::None => return Ok(None),
    };
    let Some(files) = files else { return Ok(None) };
    match kind {
        DataNeed::Fisher => {
            let Some(info) = files.tensors().get(name) else {
                return Err(ModelError::tensor(
                    name,
                    format!(
                        "missing from the Fisher file {} of model `{}`",
                        files.path().display(),
                        m.label
                    ),
                ));
            };
            if info.shape != shape {
                return Err(ModelError::tensor(
                    name,
                    format!(
                        "{what} diagonal of model `{}` has shape {:?}, expected {shape:?} ({})",
                        m.label,
                        info.shape,
                        files.path().display()
                    ),
                ));
            }
            let mut v = vec![0.0; n];
            files.read_f64(name, offset, &mut v)?;
            Ok(Some(v))
        }
        _ => {
            let gname = format!("{name}.gram");
            let Some(info) = files.tensors().get(&gname) else {
                // 1-D tensors (biases, norms) have no Gram matrix; the strategy falls back.
                if shape.len() < 2 {
                    return Ok(None);
                }
                return Err(ModelError::tensor(
                    name,
                    format!(
                        "missing `{gname}` in the Gram file {} of model `{}`",
                        files.path().display(),
                        m.label
                    ),
                ));
            };
            let inn: usize = shape[1..].iter().product();
            if info.shape != [inn, inn] {
                return Err(ModelError::tensor(
                    name,
                    format!("Gram matrix `{gname}` of model `{}` has shape {:?}, expected [{inn}, {inn}] ({})", m.label, info.shape, files.path().display()),
                ));
            }
            let mut v = vec![0.0; inn * inn];
            files.read_f64(&gname, 0, &mut v)?;
            Ok(Some(v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradients_interpolate_like_mergekit() {
        assert_eq!(gradient(&[0.0, 0.5, 1.0], 0.0), 0.0);
        assert_eq!(gradient(&[0.0, 0.5, 1.0], 0.25), 0.25);
        assert_eq!(gradient(&[0.0, 0.5, 1.0], 1.0), 1.0);
        assert_eq!(gradient(&[0.3], 0.7), 0.3);
    }

    #[test]
    fn layer_fractions() {
        assert_eq!(layer_index("model.layers.12.mlp.up_proj.weight"), Some(12));
        assert_eq!(layer_index("transformer.h.3.attn.c_attn.weight"), Some(3));
        assert_eq!(layer_fraction("model.layers.2.x", 5), 0.5);
        assert_eq!(layer_fraction("model.embed_tokens.weight", 5), 0.0);
        assert_eq!(layer_fraction("lm_head.weight", 5), 1.0);
    }

    #[test]
    fn filters_pick_the_first_matching_rule() {
        let s = Setting::Filtered(vec![
            (Some("mlp".into()), Setting::Value(ParamValue::Num(0.1))),
            (None, Setting::Gradient(vec![0.0, 1.0])),
        ]);
        assert_eq!(
            s.evaluate("layers.0.mlp.w", 0.5),
            Some(ParamValue::Num(0.1))
        );
        assert_eq!(
            s.evaluate("layers.0.attn.w", 0.5),
            Some(ParamValue::Num(0.5))
        );
    }
}
