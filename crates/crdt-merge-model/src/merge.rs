//! The merge driver: plans a merge from model files, checks every tensor before computing any,
//! and streams each output tensor through its strategy into a fixed-header output.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::contribution::ContributionId;
use crate::dtype::DType;
use crate::error::Result;
use crate::params::ParamValue;

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

/// Runs a merge.
pub fn merge_models(request: &MergeRequest, progress: &dyn Progress) -> Result<MergeReport> {
    let _ = (request, progress);
    todo!("driver")
}
