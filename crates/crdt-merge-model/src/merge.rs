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
use crate::strategy::mergekit::gta::{self, Streamed};
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
    /// mergekit `slices` (empty: every tensor by its own name from every model). See [`Slice`].
    pub slices: Vec<Slice>,
}

/// One of mergekit's output slices: its sources' layer ranges, layer-aligned, become the next
/// output layers. Output layer `k` (counting on from the previous slices) merges, for each
/// source, that source's layer `start + (k − first layer of this slice)` renamed to `k`
/// (`model.layers.<j>.X` → `model.layers.<k>.X`). Tensors outside the layers come from the
/// first slice's sources when they precede the layers (embeddings: `embed`, `wte`, `wpe`) and
/// from the last slice's sources otherwise (final norm, `lm_head`), as in mergekit.
#[derive(Clone, Debug, Default)]
pub struct Slice {
    /// The sources; every range has the same length.
    pub sources: Vec<SliceSource>,
    /// The slice's `parameters`: above [`MergeRequest::params`], below a source's own.
    pub params: Vec<(String, Setting)>,
}

/// One source of a [`Slice`].
#[derive(Clone, Debug, Default)]
pub struct SliceSource {
    /// `None`: the base model (for strategies that use one); `Some(i)`: `MergeRequest::models[i]`.
    pub model: Option<usize>,
    /// Its layers `start..end` (end exclusive, mergekit's `layer_range`).
    pub layers: (usize, usize),
    /// Its own `parameters` (highest precedence); per-model filters match the source tensor's
    /// name, as mergekit's do.
    pub params: Vec<(String, Setting)>,
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
            slices: Vec::new(),
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

/// The layer fraction t of tensor `name` among `layers` layers, as mergekit 0.1.5's planner
/// computes it (`plan.py`): index / (layers − 1), and 1 when there is a single layer; every tensor
/// outside the layers (embeddings, final norm, `lm_head`) is planned at t = 0, before and after
/// the layers alike (checked against `mergekit-yaml` in `tests/mergekit_config.rs`).
pub fn layer_fraction(name: &str, layers: usize) -> f64 {
    match layer_index(name) {
        Some(i) if layers > 1 => i as f64 / (layers - 1) as f64,
        Some(_) => 1.0,
        None => 0.0,
    }
}

/// Whether a tensor outside the layers comes before them (embeddings) rather than after (final
/// norm, `lm_head`): where mergekit's architectures put `pre_weights`.
fn precedes_layers(name: &str) -> bool {
    name.contains("embed") || name.contains("wte") || name.contains("wpe")
}

/// `name` with its layer index (the one [`layer_index`] finds) replaced by `k`.
fn rename_layer(name: &str, k: usize) -> String {
    let mut parts: Vec<String> = name.split('.').map(str::to_string).collect();
    if let Some(i) = (0..parts.len().saturating_sub(1)).find(|&i| {
        matches!(
            parts[i].as_str(),
            "layers" | "h" | "blocks" | "layer" | "block"
        ) && parts[i + 1].parse::<usize>().is_ok()
    }) {
        parts[i + 1] = k.to_string();
    }
    parts.join(".")
}

struct Opened {
    /// Its index in `MergeRequest::models` (`usize::MAX` for the base).
    index: usize,
    label: String,
    files: ModelFiles,
    id: ContributionId,
    spec: ModelSpec,
    fisher: Option<ModelFiles>,
    gram: Option<ModelFiles>,
}

fn open_model(index: usize, spec: &ModelSpec) -> Result<Opened> {
    let files = ModelFiles::open(&spec.path)?;
    let id = match spec.id {
        Some(id) => id,
        None => contribution_id(&files)?,
    };
    let fisher = spec.fisher.as_deref().map(ModelFiles::open).transpose()?;
    let gram = spec.gram.as_deref().map(ModelFiles::open).transpose()?;
    Ok(Opened {
        index,
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
    /// Each model's tensor name, parallel to `models` (the output name unless slices rename).
    sources: Vec<String>,
    /// The base's tensor name.
    base_source: String,
    /// The layer fraction fixed by a slice; `None`: [`layer_fraction`].
    t: Option<f64>,
    /// The slice whose parameters apply.
    slice: Option<usize>,
}

/// One output tensor before its checks: which tensor of which input it comes from.
struct Entry {
    /// The output name.
    name: String,
    /// (sorted model index, that model's tensor name), ascending, for the models that have it.
    sources: Vec<(usize, String)>,
    /// The models that should have it (a shortfall is [`Missing`]'s business).
    expected: Vec<usize>,
    /// The base's tensor name, if the base has it.
    base: Option<String>,
    /// The layer fraction fixed by a slice.
    t: Option<f64>,
    /// The slice whose parameters apply.
    slice: Option<usize>,
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
    check_slices(request, default_spec, &given)?;
    let mut seen = std::collections::BTreeSet::new();
    for m in &request.models {
        if !seen.insert(m.label.as_str()) {
            return Err(ModelError::invalid(format!(
                "model `{}` is given twice",
                m.label
            )));
        }
    }

    let base = request
        .base
        .as_ref()
        .map(|b| open_model(usize::MAX, b))
        .transpose()?;
    let mut models: Vec<Opened> = request
        .models
        .par_iter()
        .enumerate()
        .map(|(i, m)| open_model(i, m))
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
        // With slices, each slice is one merge: its sources are what the counts apply to.
        let counts: Vec<(String, usize)> = if request.slices.is_empty() {
            vec![(String::new(), models.len())]
        } else {
            request
                .slices
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let n = s.sources.iter().filter(|x| x.model.is_some()).count();
                    (format!(" in slices[{i}]"), n)
                })
                .collect()
        };
        for (place, n) in counts {
            if n < spec.min_models {
                return Err(ModelError::invalid(format!(
                    "strategy `{}` needs at least {} model(s) besides the base{place}; got {n}",
                    spec.name, spec.min_models,
                )));
            }
            if let Some(max) = spec.max_models {
                if n > max {
                    return Err(ModelError::invalid(format!(
                        "strategy `{}` takes at most {max} model(s) besides the base{place}; got {n}",
                        spec.name,
                    )));
                }
            }
        }
        // With slices, weights come from each source's parameters; resolve_params checks them
        // per tensor and names the model.
        if spec.weights == WeightRule::Required && request.slices.is_empty() {
            // A weight may also come from the model's own or the shared parameters (mergekit's
            // `parameters: {weight: ...}` at any level).
            let shared_weight = request.params.iter().any(|(k, _)| k == "weight");
            if let Some(m) = models.iter().find(|m| {
                m.spec.weight.is_none()
                    && !shared_weight
                    && !m.spec.params.iter().any(|(k, _)| k == "weight")
            }) {
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
                if name == "config.json" && !request.slices.is_empty() {
                    patch_layer_count(&request.output.join(&name), slice_layers(request))?;
                }
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
    let uses_base = |spec: &StrategySpec| spec.base != BaseRule::Unused;
    let entries = if request.slices.is_empty() {
        let mut names: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
        for m in models {
            names.extend(m.files.tensors().keys().map(String::as_str));
        }
        if let Some(b) = base {
            if specs.values().any(|s| uses_base(s)) {
                names.extend(b.files.tensors().keys().map(String::as_str));
            }
        }
        names
            .into_iter()
            .map(|name| Entry {
                name: name.to_string(),
                sources: (0..models.len())
                    .filter(|&i| models[i].files.tensors().contains_key(name))
                    .map(|i| (i, name.to_string()))
                    .collect(),
                expected: (0..models.len()).collect(),
                base: base
                    .filter(|b| b.files.tensors().contains_key(name))
                    .map(|_| name.to_string()),
                t: None,
                slice: None,
            })
            .collect()
    } else {
        slice_entries(request, specs, base, models)?
    };

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

    let mut plans = Vec::with_capacity(entries.len());
    for entry in entries {
        let name = entry.name.as_str();
        let spec = specs[schema.strategy_for(name)];
        let have: Vec<usize> = entry.sources.iter().map(|(i, _)| *i).collect();
        // Every entry source names a tensor its model has (that is how entries are built).
        let info_of =
            |k: usize| -> &TensorInfo { &models[have[k]].files.tensors()[&entry.sources[k].1] };
        let base_info = base
            .zip(entry.base.as_ref())
            .and_then(|(b, n)| b.files.tensors().get(n));
        if have.len() < entry.expected.len()
            && request.missing == Missing::Error
            && !have.is_empty()
        {
            let missing: Vec<&str> = entry
                .expected
                .iter()
                .copied()
                .filter(|i| !have.contains(i))
                .map(|i| models[i].label.as_str())
                .collect();
            return Err(ModelError::tensor(
                name,
                format!("missing from model(s) {} (pass --missing present to merge it over the models that have it)", missing.join(", ")),
            ));
        }
        // Reference info: the base's if it takes part, else the first model's.
        let reference: (&Opened, &TensorInfo) = match (have.first(), base.zip(base_info)) {
            (_, Some((b, bi))) if uses_base(spec) || have.is_empty() => (b, bi),
            (Some(&i), _) => (&models[i], info_of(0)),
            (None, _) => {
                return Err(ModelError::tensor(
                    name,
                    "internal error: planned without any input",
                ))
            }
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
        for (k, &i) in have.iter().enumerate() {
            let info = info_of(k);
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
                .read_raw(&ref_info.name, 0, ref_info.numel(), &mut first)?;
            let mut others: Vec<(&Opened, &TensorInfo)> = have
                .iter()
                .enumerate()
                .map(|(k, &i)| (&models[i], info_of(k)))
                .collect();
            if let (Some(b), Some(bi)) = (base, base_info) {
                others.push((b, bi));
            }
            for (m, info) in others {
                let mut bytes = Vec::new();
                if info.dtype != ref_info.dtype {
                    return Err(ModelError::tensor(name, format!("is {} in {} but {} in {}; non-float tensors must be identical in every model", ref_info.dtype.safetensors_name(), file_of(ref_model, ref_info).display(), info.dtype.safetensors_name(), file_of(m, info).display())));
                }
                m.files.read_raw(&info.name, 0, info.numel(), &mut bytes)?;
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
                sources: entry.sources.iter().map(|(_, n)| n.clone()).collect(),
                base_source: entry.base.clone().unwrap_or_default(),
                t: entry.t,
                slice: entry.slice,
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
                sources: Vec::new(),
                base_source: entry.base.clone().unwrap_or_default(),
                t: entry.t,
                slice: entry.slice,
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
            sources: entry.sources.iter().map(|(_, n)| n.clone()).collect(),
            base_source: entry.base.clone().unwrap_or_default(),
            t: entry.t,
            slice: entry.slice,
        });
    }
    Ok(plans)
}

// ---- mergekit `slices` -------------------------------------------------------------------------

/// Checks what can be checked of [`MergeRequest::slices`] before any file is opened: model
/// references in range, no model twice in a slice, parameters known to the strategy.
fn check_slices(
    request: &MergeRequest,
    spec: &StrategySpec,
    given: &[(String, ParamValue)],
) -> Result<()> {
    let eval = |settings: &[(String, Setting)]| -> Vec<(String, ParamValue)> {
        settings
            .iter()
            .filter_map(|(k, s)| s.evaluate("", 0.0).map(|v| (k.clone(), v)))
            .collect()
    };
    for (si, slice) in request.slices.iter().enumerate() {
        if slice.sources.is_empty() {
            return Err(ModelError::invalid(format!("slices[{si}]: no sources")));
        }
        let mut shared = given.to_vec();
        shared.extend(eval(&slice.params));
        spec.resolve(&shared, None)?;
        for (k, src) in slice.sources.iter().enumerate() {
            if let Some(i) = src.model {
                if i >= request.models.len() {
                    return Err(ModelError::invalid(format!(
                        "slices[{si}].sources[{k}]: model index {i}, but there are {} models",
                        request.models.len()
                    )));
                }
            }
            if slice.sources[..k].iter().any(|o| o.model == src.model) {
                return Err(ModelError::invalid(format!(
                    "slices[{si}].sources[{k}]: model `{}` is a source twice in one slice",
                    source_label(request, src.model)
                )));
            }
            let (a, b) = src.layers;
            if a >= b {
                return Err(ModelError::invalid(format!(
                    "slices[{si}].sources[{k}]: layer_range [{a}, {b}] of model `{}` is empty (expected start < end)",
                    source_label(request, src.model)
                )));
            }
            spec.resolve(&shared, Some(&eval(&src.params)))
                .map_err(|e| match e {
                    ModelError::Param {
                        strategy,
                        param,
                        message,
                    } => ModelError::Param {
                        strategy,
                        param,
                        message: format!("{message} (slices[{si}].sources[{k}])"),
                    },
                    other => other,
                })?;
        }
        let lens: Vec<usize> = slice
            .sources
            .iter()
            .map(|s| s.layers.1 - s.layers.0)
            .collect();
        if lens.iter().any(|&l| l != lens[0]) {
            return Err(ModelError::invalid(format!(
                "slices[{si}]: every source must span the same number of layers; got {lens:?}"
            )));
        }
    }
    Ok(())
}

fn source_label(request: &MergeRequest, model: Option<usize>) -> &str {
    match model {
        None => request.base.as_ref().map_or("base", |b| b.label.as_str()),
        Some(i) => request.models.get(i).map_or("?", |m| m.label.as_str()),
    }
}

/// The output layers of [`MergeRequest::slices`].
fn slice_layers(request: &MergeRequest) -> usize {
    request
        .slices
        .iter()
        .filter_map(|s| s.sources.first())
        .map(|s| s.layers.1.saturating_sub(s.layers.0))
        .sum()
}

/// Expands [`MergeRequest::slices`] into output tensors, as mergekit's planner does
/// (`plan.py`: `plan_module`, `plan_slice`): layer tensors renamed to their output layer with t =
/// idx / (n − 1) within the slice (1 for a one-layer slice); tensors before the layers from the
/// first slice's sources, those after from the last slice's, at t = 0.
fn slice_entries(
    request: &MergeRequest,
    specs: &BTreeMap<&str, &'static StrategySpec>,
    base: Option<&Opened>,
    models: &[Opened],
) -> Result<Vec<Entry>> {
    let uses_base = specs.values().any(|s| s.base != BaseRule::Unused);
    let needs_base = specs
        .values()
        .find(|s| s.base == BaseRule::Required)
        .map(|s| s.name);
    // Each slice's inputs: (sorted model index or None for the base, the opened input, start).
    let mut inputs: Vec<Vec<(Option<usize>, &Opened, usize)>> = Vec::new();
    for (si, slice) in request.slices.iter().enumerate() {
        let mut these = Vec::new();
        for (k, src) in slice.sources.iter().enumerate() {
            let (index, m) = match src.model {
                None => match base {
                    Some(b) if uses_base => (None, b),
                    Some(_) => {
                        return Err(ModelError::invalid(format!(
                            "slices[{si}].sources[{k}] is the base model, but strategy `{}` does not use a base; list it as a model",
                            request.strategy
                        )))
                    }
                    None => {
                        return Err(ModelError::invalid(format!(
                            "slices[{si}].sources[{k}] is the base model, but no base model is given"
                        )))
                    }
                },
                Some(i) => match models.iter().position(|m| m.index == i) {
                    Some(j) => (Some(j), &models[j]),
                    None => {
                        return Err(ModelError::invalid(format!(
                            "slices[{si}].sources[{k}]: model index {i}, but there are {} models",
                            models.len()
                        )))
                    }
                },
            };
            let have = m
                .files
                .tensors()
                .keys()
                .filter_map(|n| layer_index(n))
                .max()
                .map_or(0, |l| l + 1);
            let (a, b) = src.layers;
            if b > have {
                return Err(ModelError::invalid(format!(
                    "slices[{si}].sources[{k}]: layer_range [{a}, {b}] but model `{}` has {have} layer(s)",
                    m.label
                )));
            }
            these.push((index, m, a));
        }
        if let Some(name) = needs_base {
            if these.iter().all(|(i, _, _)| i.is_some()) {
                return Err(ModelError::invalid(format!(
                    "slices[{si}]: strategy `{name}` needs the base model among the slice's sources"
                )));
            }
        }
        inputs.push(these);
    }

    let mut entries = Vec::new();
    // Gathers, from each input of slice `si` (its start layer given to `pick`), the tensors
    // `pick` selects, under the output name `rename` gives them, at layer fraction `t`.
    let mut gather =
        |si: usize, t: f64, pick: &dyn Fn(usize, &str) -> bool, rename: &dyn Fn(&str) -> String| {
            let expected: Vec<usize> = inputs[si].iter().filter_map(|(i, _, _)| *i).collect();
            let mut outs: BTreeMap<String, Entry> = BTreeMap::new();
            for &(index, m, start) in &inputs[si] {
                for tname in m.files.tensors().keys().filter(|n| pick(start, n)) {
                    let out = rename(tname);
                    let e = outs.entry(out.clone()).or_insert_with(|| Entry {
                        name: out,
                        sources: Vec::new(),
                        expected: expected.clone(),
                        base: None,
                        t: Some(t),
                        slice: Some(si),
                    });
                    match index {
                        None => e.base = Some(tname.clone()),
                        Some(j) => e.sources.push((j, tname.clone())),
                    }
                }
            }
            for mut e in outs.into_values() {
                e.sources.sort();
                e.expected.sort_unstable();
                entries.push(e);
            }
        };
    let last = request.slices.len().saturating_sub(1);
    gather(
        0,
        0.0,
        &|_, n| layer_index(n).is_none() && precedes_layers(n),
        &|n| n.to_string(),
    );
    let mut out_layer = 0;
    for si in 0..request.slices.len() {
        let n = request.slices[si].sources[0].layers.1 - request.slices[si].sources[0].layers.0;
        for idx in 0..n {
            let t = if n > 1 {
                idx as f64 / (n - 1) as f64
            } else {
                1.0
            };
            gather(
                si,
                t,
                &|start, name| layer_index(name) == Some(start + idx),
                &|name| rename_layer(name, out_layer),
            );
            out_layer += 1;
        }
    }
    gather(
        last,
        0.0,
        &|_, n| layer_index(n).is_none() && !precedes_layers(n),
        &|n| n.to_string(),
    );
    Ok(entries)
}

/// After a sliced merge, the copied `config.json` gets the output's layer count, as mergekit
/// writes it (`num_hidden_layers`, or `n_layer` / `num_layers` where a model spells it so).
fn patch_layer_count(config: &Path, layers: usize) -> Result<()> {
    let text = std::fs::read_to_string(config).map_err(|e| ModelError::io(config, e))?;
    let mut doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ModelError::format(config, format!("not valid JSON: {e}")))?;
    let Some(map) = doc.as_object_mut() else {
        return Ok(());
    };
    for key in ["num_hidden_layers", "n_layer", "num_layers"] {
        if map.contains_key(key) {
            map.insert(key.to_string(), serde_json::json!(layers));
        }
    }
    let out = serde_json::to_string_pretty(&doc)
        .map_err(|e| ModelError::format(config, format!("cannot write JSON: {e}")))?;
    std::fs::write(config, out + "\n").map_err(|e| ModelError::io(config, e))
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

/// The shared parameters (evaluated on the output name) and each model's (evaluated on that
/// model's tensor name, as mergekit's `resolve_parameters` does), lowest precedence first:
/// request, slice, model, slice source.
fn resolve_params(
    request: &MergeRequest,
    spec: &StrategySpec,
    name: &str,
    source_names: &[String],
    t: f64,
    slice: Option<&Slice>,
    models: &[&Opened],
) -> Result<(Params, Vec<Params>, Vec<f64>)> {
    let declared = |k: &str| k == "weight" || spec.params.iter().any(|p| p.name == k);
    let eval = |settings: &[(String, Setting)], name: &str| -> Vec<(String, ParamValue)> {
        settings
            .iter()
            .filter(|(k, _)| declared(k))
            .filter_map(|(k, s)| s.evaluate(name, t).map(|v| (k.clone(), v)))
            .collect()
    };
    let slice_params: &[(String, Setting)] = slice.map_or(&[], |s| &s.params);
    let shared_at = |name: &str| {
        let mut v = eval(&request.params, name);
        v.extend(eval(slice_params, name));
        v
    };
    let params = spec.resolve(&shared_at(name), None)?;
    let mut per_model = Vec::with_capacity(models.len());
    let mut weights = Vec::with_capacity(models.len());
    for (k, m) in models.iter().enumerate() {
        let src = source_names.get(k).map_or(name, String::as_str);
        let shared = shared_at(src);
        let mut own = eval(&m.spec.params, src);
        if let Some(source) =
            slice.and_then(|s| s.sources.iter().find(|x| x.model == Some(m.index)))
        {
            own.extend(eval(&source.params, src));
        }
        per_model.push(spec.resolve(&shared, Some(&own))?);
        let w = m
            .spec
            .weight
            .as_ref()
            .and_then(|s| s.evaluate(src, t))
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
        let (src, src_name) = match p.copy_from {
            Some(i) => {
                let k = p.models.iter().position(|&j| j == i).unwrap_or(0);
                (
                    &models[i],
                    p.sources.get(k).map_or(p.name.as_str(), String::as_str),
                )
            }
            None => match base {
                Some(b) => (b, p.base_source.as_str()),
                None => {
                    return Err(ModelError::tensor(
                        &p.name,
                        "internal error: a copy without a source",
                    ))
                }
            },
        };
        let info = &src.files.tensors()[src_name];
        let mut offset = 0;
        while offset < numel.max(1) && offset < numel {
            let n = CHUNK.min(numel - offset);
            let mut bytes = Vec::with_capacity(n * p.out_dtype.size());
            if info.dtype.is_computable() {
                let mut vals = vec![0.0; n];
                read_checked(request, src, src_name, offset, &mut vals)?;
                narrow(p.out_dtype, &vals, &mut bytes);
            } else {
                src.files.read_raw(src_name, offset, n, &mut bytes)?;
            }
            writer.write(&p.name, offset, &bytes)?;
            advance(bytes.len() as u64);
            offset += n;
        }
        return Ok(());
    };
    let inputs: Vec<&Opened> = p.models.iter().map(|&i| &models[i]).collect();
    let t = p.t.unwrap_or_else(|| layer_fraction(&p.name, layers));
    let slice = p.slice.and_then(|s| request.slices.get(s));
    let (params, per_model, weights) =
        resolve_params(request, spec, &p.name, &p.sources, t, slice, &inputs)?;
    let base_for = if p.base { base } else { None };

    // Task-vector methods with whole-tensor statistics stream in a few passes instead of holding
    // every input's tensor (bit-identical to the whole-tensor functions; see `streamed`).
    if let (Kind::Tensor, Some(b)) = (spec.kind, base_for) {
        if numel > CHUNK && !inputs.is_empty() {
            if spec.name == "slerp" && inputs.len() == 1 {
                let ctx = StreamCtx {
                    request,
                    p,
                    spec,
                    base: b,
                    inputs: &inputs,
                    params: &params,
                    per_model: &per_model,
                    weights: &weights,
                };
                return run_streamed_slerp(&ctx, writer, advance);
            }
            if let Some((how, consensus)) = gta::streamed_plan(spec.name) {
                let ctx = StreamCtx {
                    request,
                    p,
                    spec,
                    base: b,
                    inputs: &inputs,
                    params: &params,
                    per_model: &per_model,
                    weights: &weights,
                };
                return run_streamed(&ctx, how, consensus, writer, advance);
            }
        }
    }

    // `scratch` holds one buffer per input plus the base, reused across the chunks a thread
    // computes (fresh zeroed buffers per chunk cost a memset and page faults each time).
    let compute = |offset: usize, n: usize, scratch: &mut Vec<Vec<f64>>| -> Result<Vec<u8>> {
        scratch.resize_with(inputs.len() + 1, Vec::new);
        for buf in scratch.iter_mut() {
            buf.resize(n, 0.0);
        }
        for (k, m) in inputs.iter().enumerate() {
            read_checked(request, m, &p.sources[k], offset, &mut scratch[k][..n])?;
        }
        if let Some(b) = base_for {
            read_checked(
                request,
                b,
                &p.base_source,
                offset,
                &mut scratch[inputs.len()][..n],
            )?;
        }
        let (data, rest) = scratch.split_at(inputs.len());
        let base_data: Option<&[f64]> = base_for.map(|_| &rest[0][..n]);
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
                data: &data[i][..n],
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
            base: base_data,
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
            chunks
                .par_iter()
                .try_for_each_init(Vec::new, |scratch, &c| {
                    let offset = c * CHUNK;
                    let n = CHUNK.min(numel - offset);
                    let bytes = compute(offset, n, scratch)?;
                    writer.write(&p.name, offset, &bytes)?;
                    advance(bytes.len() as u64);
                    Ok(())
                })
        }
        _ => {
            let bytes = compute(0, numel, &mut Vec::new())?;
            writer.write(&p.name, 0, &bytes)?;
            advance(bytes.len() as u64);
            Ok(())
        }
    }
}

/// What the streamed passes of one tensor share.
struct StreamCtx<'a> {
    request: &'a MergeRequest,
    p: &'a TensorPlan,
    spec: &'static StrategySpec,
    base: &'a Opened,
    inputs: &'a [&'a Opened],
    params: &'a Params,
    per_model: &'a [Params],
    weights: &'a [f64],
}

/// How one model's task vector is thinned in the streamed path.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Thin {
    /// density ≥ 1: untouched, no rescale.
    Untouched,
    /// density ≤ 0 (magnitude): all zero, no rescale.
    Zero,
    /// Keep (|δ| bits, index) ≥ (bits, index): the k greatest in the total order.
    TopK { bits: u64, index: usize },
    /// DARE: keep where the Philox draw is below ⌊density·2³²⌋.
    Random { density: f64 },
}

impl StreamCtx<'_> {
    fn chunks(&self) -> usize {
        self.numel().div_ceil(CHUNK)
    }

    fn numel(&self) -> usize {
        self.p.shape.iter().product()
    }

    /// Reads chunk `c` into `scratch`: the models' task vectors δ = θ − b, then the base.
    fn read(&self, c: usize, scratch: &mut Vec<Vec<f64>>) -> Result<(usize, usize)> {
        let offset = c * CHUNK;
        let n = CHUNK.min(self.numel() - offset);
        let nm = self.inputs.len();
        scratch.resize_with(nm + 1, Vec::new);
        for buf in scratch.iter_mut() {
            buf.resize(n, 0.0);
        }
        read_checked(
            self.request,
            self.base,
            &self.p.base_source,
            offset,
            &mut scratch[nm][..n],
        )?;
        let (models, base) = scratch.split_at_mut(nm);
        for (k, m) in self.inputs.iter().enumerate() {
            let d = &mut models[k][..n];
            read_checked(self.request, m, &self.p.sources[k], offset, d)?;
            for (x, b) in d.iter_mut().zip(&base[0][..n]) {
                *x -= b;
            }
        }
        Ok((offset, n))
    }

    /// Whether element `offset + i` is kept under `thin`, given its δ (and the chunk's DARE mask).
    fn keep(thin: Thin, mask: Option<&[bool]>, i: usize, offset: usize, delta: f64) -> bool {
        match thin {
            Thin::Untouched => true,
            Thin::Zero => false,
            Thin::TopK { bits, index } => {
                let key = delta.abs().to_bits();
                key > bits || (key == bits && offset + i >= index)
            }
            Thin::Random { .. } => mask.is_some_and(|m| m[i]),
        }
    }
}

/// Rounds a chunk's values once to `dtype` and writes them at element `offset` of `name`.
fn emit(
    writer: &OutputWriter,
    advance: &(dyn Fn(u64) + Sync),
    name: &str,
    dtype: DType,
    offset: usize,
    values: &[f64],
) -> Result<()> {
    let mut bytes = Vec::with_capacity(values.len() * dtype.size());
    narrow(dtype, values, &mut bytes);
    writer.write(name, offset, &bytes)?;
    advance(bytes.len() as u64);
    Ok(())
}

/// Streams mergekit's slerp: one pass gathers the block partials of v0·v0, v1·v1 and v0·v1
/// (combined in block order, so they equal the whole-tensor sums), a second applies the
/// coefficients. Bit-identical to the whole-tensor function.
fn run_streamed_slerp(
    ctx: &StreamCtx<'_>,
    writer: &OutputWriter,
    advance: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    let t = ctx.params.num("t")?;
    // Raw values (StreamCtx::read gives task vectors; slerp interpolates the models themselves).
    let read_raw = |c: usize, scratch: &mut Vec<Vec<f64>>| -> Result<(usize, usize)> {
        let offset = c * CHUNK;
        let n = CHUNK.min(ctx.numel() - offset);
        scratch.resize_with(2, Vec::new);
        for buf in scratch.iter_mut() {
            buf.resize(n, 0.0);
        }
        read_checked(
            ctx.request,
            ctx.base,
            &ctx.p.base_source,
            offset,
            &mut scratch[0][..n],
        )?;
        read_checked(
            ctx.request,
            ctx.inputs[0],
            &ctx.p.sources[0],
            offset,
            &mut scratch[1][..n],
        )?;
        Ok((offset, n))
    };
    let partials: Vec<[Vec<f64>; 3]> = (0..ctx.chunks())
        .into_par_iter()
        .map_init(Vec::new, |scratch, c| -> Result<[Vec<f64>; 3]> {
            let (_, n) = read_raw(c, scratch)?;
            let (a, b) = (&scratch[0][..n], &scratch[1][..n]);
            Ok([
                crate::reduce::dot_partials(a, a),
                crate::reduce::dot_partials(b, b),
                crate::reduce::dot_partials(a, b),
            ])
        })
        .collect::<Result<_>>()?;
    let sum = |j: usize| {
        let all: Vec<f64> = partials.iter().flat_map(|p| p[j].iter().copied()).collect();
        crate::reduce::combine_partials(&all)
    };
    let (ca, cb) = crate::strategy::mergekit::sphere::slerp_coefficients(t, sum(0), sum(1), sum(2));
    (0..ctx.chunks())
        .into_par_iter()
        .try_for_each_init(Vec::new, |scratch, c| -> Result<()> {
            let (offset, n) = read_raw(c, scratch)?;
            let out: Vec<f64> = scratch[0][..n]
                .iter()
                .zip(&scratch[1][..n])
                .map(|(a, b)| ca * a + cb * b)
                .collect();
            emit(writer, advance, &ctx.p.name, ctx.p.out_dtype, offset, &out)
        })
}

/// Streams a task-vector merge (ties, dare_linear, dare_ties) in passes over fixed chunks:
/// radix selection of each model's top-k key (four 16-bit digit passes over |δ| bit patterns,
/// then one pass for the index among equal keys), the L1 sums for the rescale (block partials in
/// block order, so they equal the whole-tensor sums), and the element-wise combination. Memory is
/// a few chunks per thread whatever the tensor size; the result is bit-identical to the
/// whole-tensor function.
fn run_streamed(
    ctx: &StreamCtx<'_>,
    how: Streamed,
    consensus: bool,
    writer: &OutputWriter,
    advance: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    let nm = ctx.inputs.len();
    let numel = ctx.numel();
    let chunks = ctx.chunks();
    let rescale = ctx.params.flag("rescale")?;
    ctx.params.flag("normalize")?;
    ctx.params.num("lambda")?;
    let mut thin = Vec::with_capacity(nm);
    for pm in ctx.per_model {
        let density = pm.num("density")?;
        thin.push(if density >= 1.0 {
            Thin::Untouched
        } else {
            match how {
                Streamed::Magnitude if density <= 0.0 => Thin::Zero,
                // Placeholder until the selection below fills in the key.
                Streamed::Magnitude => Thin::TopK { bits: 0, index: 0 },
                Streamed::Random => Thin::Random { density },
            }
        });
    }

    // Radix selection of the k-th greatest key per magnitude model.
    let selecting: Vec<usize> = (0..nm)
        .filter(|&k| matches!(thin[k], Thin::TopK { .. }))
        .collect();
    if !selecting.is_empty() {
        let mut need: Vec<u64> = selecting
            .iter()
            .map(|&k| {
                let density = ctx.per_model[k].num("density").unwrap_or(1.0);
                ((density * numel as f64) as usize).max(1).min(numel) as u64
            })
            .collect();
        let mut prefix = vec![0u64; selecting.len()];
        let mut equal = vec![0u64; selecting.len()];
        for level in 0..4u32 {
            let shift = 48 - 16 * level;
            let high: u64 = if level == 0 { 0 } else { !0u64 << (shift + 16) };
            let zero = || vec![vec![0u64; 1 << 16]; selecting.len()];
            let hist = (0..chunks)
                .into_par_iter()
                .map_init(Vec::new, |scratch, c| -> Result<Vec<Vec<u64>>> {
                    let (_, n) = ctx.read(c, scratch)?;
                    let mut h = zero();
                    for (j, &k) in selecting.iter().enumerate() {
                        for d in &scratch[k][..n] {
                            let key = d.abs().to_bits();
                            if key & high == prefix[j] {
                                h[j][((key >> shift) & 0xFFFF) as usize] += 1;
                            }
                        }
                    }
                    Ok(h)
                })
                .try_reduce(zero, |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        for (u, v) in x.iter_mut().zip(y) {
                            *u += v;
                        }
                    }
                    Ok(a)
                })?;
            for j in 0..selecting.len() {
                let mut above = 0u64;
                for digit in (0..1usize << 16).rev() {
                    let h = hist[j][digit];
                    if above + h >= need[j] {
                        prefix[j] |= (digit as u64) << shift;
                        need[j] -= above;
                        equal[j] = h;
                        break;
                    }
                    above += h;
                }
            }
        }
        // Among the `equal[j]` elements whose key is exactly prefix[j], the `need[j]` with the
        // greatest indices are kept: find the index of the first kept one.
        let counts: Vec<Vec<u64>> = (0..chunks)
            .into_par_iter()
            .map_init(Vec::new, |scratch, c| -> Result<Vec<u64>> {
                let (_, n) = ctx.read(c, scratch)?;
                Ok(selecting
                    .iter()
                    .enumerate()
                    .map(|(j, &k)| {
                        scratch[k][..n]
                            .iter()
                            .filter(|d| d.abs().to_bits() == prefix[j])
                            .count() as u64
                    })
                    .collect())
            })
            .collect::<Result<_>>()?;
        let mut scratch = Vec::new();
        for (j, &k) in selecting.iter().enumerate() {
            let skip = equal[j] - need[j];
            let mut before = 0u64;
            let mut index = 0usize;
            for (c, cc) in counts.iter().enumerate() {
                if before + cc[j] > skip {
                    let (offset, n) = ctx.read(c, &mut scratch)?;
                    let mut seen = before;
                    for (i, d) in scratch[k][..n].iter().enumerate() {
                        if d.abs().to_bits() == prefix[j] {
                            if seen == skip {
                                index = offset + i;
                                break;
                            }
                            seen += 1;
                        }
                    }
                    break;
                }
                before += cc[j];
            }
            thin[k] = Thin::TopK {
                bits: prefix[j],
                index,
            };
        }
    }

    let id_of = |k: usize| &ctx.inputs[k].id;
    let masks = |k: usize, job: &TensorJob<'_>, offset: usize, n: usize| -> Option<Vec<bool>> {
        match thin[k] {
            Thin::Random { density } => {
                Some(gta::dare_chunk_mask(job, id_of(k), density, offset, n))
            }
            _ => None,
        }
    };
    // A job without models: the masks and `combine` read only its name, seed and parameters
    // (and, for `combine`, the models' weights, which the element-wise pass fills in).
    let job_for = |offset: usize| -> TensorJob<'_> {
        TensorJob {
            strategy: ctx.spec.name,
            name: &ctx.p.name,
            shape: &ctx.p.shape,
            offset,
            base: None,
            models: &[],
            params: ctx.params,
            seed: ctx.request.seed,
        }
    };

    // L1 rescale factors (mergekit's: the norm before over the norm after, both ≥ 1e-7).
    let mut scale: Vec<Option<f64>> = vec![None; nm];
    let rescaled: Vec<usize> = (0..nm)
        .filter(|&k| rescale && matches!(thin[k], Thin::TopK { .. } | Thin::Random { .. }))
        .collect();
    if !rescaled.is_empty() {
        let partials: Vec<Vec<(Vec<f64>, Vec<f64>)>> = (0..chunks)
            .into_par_iter()
            .map_init(
                Vec::new,
                |scratch, c| -> Result<Vec<(Vec<f64>, Vec<f64>)>> {
                    let (offset, n) = ctx.read(c, scratch)?;
                    let job = job_for(offset);
                    Ok(rescaled
                        .iter()
                        .map(|&k| {
                            let mask = masks(k, &job, offset, n);
                            let d = &scratch[k][..n];
                            let kept: Vec<f64> = d
                                .iter()
                                .enumerate()
                                .map(|(i, &x)| {
                                    if StreamCtx::keep(thin[k], mask.as_deref(), i, offset, x) {
                                        x
                                    } else {
                                        0.0
                                    }
                                })
                                .collect();
                            (
                                crate::reduce::l1_partials(d),
                                crate::reduce::l1_partials(&kept),
                            )
                        })
                        .collect())
                },
            )
            .collect::<Result<_>>()?;
        for (j, &k) in rescaled.iter().enumerate() {
            let before: Vec<f64> = partials
                .iter()
                .flat_map(|c| c[j].0.iter().copied())
                .collect();
            let after: Vec<f64> = partials
                .iter()
                .flat_map(|c| c[j].1.iter().copied())
                .collect();
            let (b, a) = (
                crate::reduce::combine_partials(&before),
                crate::reduce::combine_partials(&after),
            );
            if b >= 1e-7 && a >= 1e-7 {
                scale[k] = Some(b / a);
            }
        }
    }

    // The element-wise pass.
    (0..chunks)
        .into_par_iter()
        .try_for_each_init(Vec::new, |scratch, c| -> Result<()> {
            let (offset, n) = ctx.read(c, scratch)?;
            let probe = job_for(offset);
            let mut deltas: Vec<Vec<f64>> = Vec::with_capacity(nm);
            for k in 0..nm {
                let mask = masks(k, &probe, offset, n);
                let mut d: Vec<f64> = scratch[k][..n].to_vec();
                for (i, x) in d.iter_mut().enumerate() {
                    if !StreamCtx::keep(thin[k], mask.as_deref(), i, offset, *x) {
                        *x = 0.0;
                    }
                }
                if let Some(s) = scale[k] {
                    d.iter_mut().for_each(|x| *x *= s);
                }
                d.iter_mut().for_each(|x| *x *= ctx.weights[k]);
                deltas.push(d);
            }
            let model_inputs: Vec<ModelInput<'_>> = (0..nm)
                .map(|k| ModelInput {
                    label: &ctx.inputs[k].label,
                    id: &ctx.inputs[k].id,
                    data: &deltas[k],
                    weight: ctx.weights[k],
                    params: &ctx.per_model[k],
                    fisher: None,
                    gram: None,
                })
                .collect();
            let job = TensorJob {
                models: &model_inputs,
                ..probe
            };
            let out = gta::combine(&job, &scratch[nm][..n], &deltas, consensus)?;
            emit(writer, advance, &ctx.p.name, ctx.p.out_dtype, offset, &out)
        })
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
        // mergekit plans every non-layer tensor at t = 0, and a single layer at t = 1.
        assert_eq!(layer_fraction("lm_head.weight", 5), 0.0);
        assert_eq!(layer_fraction("model.layers.0.x", 1), 1.0);
        assert_eq!(
            rename_layer("model.layers.12.mlp.up_proj.weight", 3),
            "model.layers.3.mlp.up_proj.weight"
        );
        assert_eq!(rename_layer("lm_head.weight", 3), "lm_head.weight");
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
