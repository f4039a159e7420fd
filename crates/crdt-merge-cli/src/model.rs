//! `crdt-merge model ...`: model merging (the `crdt-merge-model` crate) on safetensors files.
//! Argument parsing and printing only; every decision is the crate's.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand, ValueEnum};
use crdt_merge_model::merge::{merge_models, MergeRequest, Missing, ModelSpec, Progress, Setting};
use crdt_merge_model::params::ParamValue;
use crdt_merge_model::strategy::{registry, BaseRule, WeightRule};
use crdt_merge_model::{DType, ModelError};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{CliError, Result};

/// `crdt-merge model`.
#[derive(Args, Debug)]
pub struct ModelArgs {
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(Subcommand, Debug)]
enum ModelCommand {
    /// Merge safetensors models (files or model directories) with a strategy, or run a mergekit
    /// YAML config (--config).
    Merge(MergeModelArgs),
    /// List every strategy: origin, base, weights, parameters and defaults, formula.
    Strategies(StrategiesArgs),
    /// Print a model's tensors (name, type, shape), optionally values and metadata.
    Show(ShowArgs),
    /// A merge state: a CRDT of contributions that replicas merge by set union and resolve to
    /// the same tensors in any order.
    State(StateArgs),
    /// LoRA adapters (PEFT directories): merge them exactly.
    Lora(LoraArgs),
}

#[derive(Args, Debug)]
struct LoraArgs {
    #[command(subcommand)]
    command: LoraCommand,
}

#[derive(Subcommand, Debug)]
enum LoraCommand {
    /// Merge adapters: `cat` (default) concatenates ranks, so the merged update is exactly
    /// the weighted sum of the adapters' updates; --rank compacts it to at most K.
    Merge {
        /// Adapter directories (adapter_config.json + adapter_model.safetensors), one or more.
        #[arg(required = true, num_args = 1..)]
        adapters: Vec<PathBuf>,
        /// An adapter's weight, DIR=W (default 1); repeatable.
        #[arg(long = "weight", short = 'w')]
        weights: Vec<String>,
        /// Compact every module to at most this rank (exact when it is at least the rank).
        #[arg(long)]
        rank: Option<usize>,
        /// cat (exact), svd (PEFT's), ties, dare_ties (mergekit's, on each module's update) or
        /// upstream_ab_average (the Python library's, approximate).
        #[arg(long, default_value = "cat")]
        method: String,
        /// A ties / dare_ties parameter, NAME=VALUE (density, lambda, normalize, rescale);
        /// repeatable.
        #[arg(long = "param", short = 'p')]
        params: Vec<String>,
        /// The seed of dare_ties' order-free masks.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The output adapter directory.
        #[arg(long, short = 'o')]
        output: PathBuf,
    },
    /// Add an adapter's update (a merged one too) to a base model's weights.
    Apply {
        /// The base model (a .safetensors file or a model directory).
        base: PathBuf,
        /// The adapter directory.
        adapter: PathBuf,
        /// Scale the update by this weight.
        #[arg(long, default_value_t = 1.0)]
        weight: f64,
        /// Shard a directory output above this size (`5GB`; mergekit's spelling accepted).
        #[arg(long, alias = "out-shard-size", default_value = "5GB")]
        shard_size: String,
        /// The output: a .safetensors file or a directory.
        #[arg(long, short = 'o')]
        output: PathBuf,
    },
}

#[derive(Args, Debug)]
struct StateArgs {
    #[command(subcommand)]
    command: StateCommand,
}

#[derive(Subcommand, Debug)]
enum StateCommand {
    /// Create a state in DIR (missing or empty) for a strategy, base and parameters.
    Init {
        /// The state directory.
        dir: PathBuf,
        /// The strategy.
        #[arg(long, short = 's')]
        strategy: String,
        /// The base model (stored in the state).
        #[arg(long)]
        base: Option<PathBuf>,
        /// A parameter, K=V; repeatable. Every parameter's resolved value is part of the state.
        #[arg(long, short = 'p')]
        param: Vec<String>,
        /// Seed of the random strategies.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Add a model as a contribution labelled ID.
    Add {
        /// The state directory.
        dir: PathBuf,
        /// A `.safetensors` file or a model directory.
        model: PathBuf,
        /// The contribution's label.
        #[arg(long)]
        id: String,
        /// Its weight.
        #[arg(long, default_value_t = 1.0)]
        weight: f64,
        /// Its version (re-adding removed content needs a higher one).
        #[arg(long, default_value_t = 1)]
        version: u64,
        /// Fisher diagonals (for fisher_merge).
        #[arg(long)]
        fisher: Option<PathBuf>,
        /// Gram matrices (for regression_mean).
        #[arg(long)]
        gram: Option<PathBuf>,
    },
    /// Remove every contribution seen under label ID (a tombstone that wins over it everywhere).
    Remove {
        /// The state directory.
        dir: PathBuf,
        /// The label.
        id: String,
    },
    /// Merge other states into DIR (set union; missing blobs are copied and checked).
    Merge {
        /// The state directory merged into.
        dir: PathBuf,
        /// The states merged in.
        #[arg(required = true)]
        others: Vec<PathBuf>,
    },
    /// Compute the merged model of the state's live contributions.
    Resolve {
        /// The state directory.
        dir: PathBuf,
        /// Output: a `.safetensors` file or a directory.
        #[arg(long, short = 'o')]
        output: PathBuf,
        /// Output type (default: the base's, else the contributions').
        #[arg(long)]
        dtype: Option<String>,
        /// Shard size of a directory output.
        #[arg(long, alias = "out-shard-size", default_value = "5GB")]
        shard_size: String,
        /// No progress bar or summary line.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Print the state hash (64 hex characters): equal states, equal hashes.
    Hash {
        /// The state directory.
        dir: PathBuf,
    },
    /// Print the strategy, parameters, seed, base and live contributions.
    Show {
        /// The state directory.
        dir: PathBuf,
    },
}

#[derive(Args, Debug)]
struct ShowArgs {
    /// A `.safetensors` file or a model directory.
    model: PathBuf,
    /// Also print up to this many values of each float tensor.
    #[arg(long, num_args = 0..=1, default_missing_value = "8")]
    values: Option<usize>,
    /// Also print the `__metadata__` entries.
    #[arg(long)]
    metadata: bool,
}

/// What to do with a tensor some models lack.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum MissingArg {
    /// An error naming the tensor and the models without it.
    Error,
    /// Merge it over the models that have it.
    Present,
}

#[derive(Args, Debug)]
struct MergeModelArgs {
    /// Models: `.safetensors` files or directories holding one model (sharded or not).
    models: Vec<String>,
    /// A mergekit YAML config (merge_method, base_model, models, parameters, dtype ...).
    #[arg(long, conflicts_with_all = ["strategy", "base"])]
    config: Option<PathBuf>,
    /// The base model (required by task-vector strategies).
    #[arg(long)]
    base: Option<String>,
    /// The strategy (`crdt-merge model strategies` lists them).
    #[arg(long, short = 's', required_unless_present = "config")]
    strategy: Option<String>,
    /// A model's weight, MODEL=W with MODEL as written among the models; repeatable.
    #[arg(long, short = 'w')]
    weight: Vec<String>,
    /// A strategy parameter, K=V (numbers, true/false, words, [a, b] lists); repeatable.
    #[arg(long, short = 'p')]
    param: Vec<String>,
    /// A per-tensor strategy, PATTERN=NAME (exact name, glob, range such as layers.0-11.attn,
    /// or regex); repeatable.
    #[arg(long)]
    layer_strategy: Vec<String>,
    /// Fisher diagonals for a model, MODEL=FILE (same tensor names), for fisher_merge.
    #[arg(long)]
    fisher: Vec<String>,
    /// Gram matrices for a model, MODEL=FILE (`<weight>.gram`), for regression_mean.
    #[arg(long)]
    gram: Vec<String>,
    /// Output type: float32, bfloat16, float16, float64 (default: the base's, else the models').
    #[arg(long)]
    dtype: Option<String>,
    /// Seed of the random strategies (masks depend only on it, the contribution and the tensor).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Tensors missing from some models.
    #[arg(long, value_enum, default_value_t = MissingArg::Error)]
    missing: MissingArg,
    /// Merge NaN / Inf input values instead of refusing them.
    #[arg(long)]
    allow_nonfinite: bool,
    /// Shard size of a directory output (5GB, 500MB, 1B = one billion bytes ...).
    #[arg(long, alias = "out-shard-size", default_value = "5GB")]
    shard_size: String,
    /// Output: a `.safetensors` file, or a directory (sharded, with config and tokenizer files).
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// No progress bar or summary line.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Args, Debug)]
struct StrategiesArgs {
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// A model error as the CLI's: files that cannot be read are input errors (exit 3), the rest
/// are usage errors (exit 2).
pub fn model_error(e: ModelError) -> CliError {
    match e {
        ModelError::Io { .. } | ModelError::Format { .. } => CliError::Input(e.to_string()),
        other => CliError::Usage(other.to_string()),
    }
}

/// Runs `crdt-merge model ...`.
pub fn run(args: ModelArgs) -> Result<()> {
    match args.command {
        ModelCommand::Merge(a) => run_merge(a),
        ModelCommand::Strategies(a) => run_strategies(a),
        ModelCommand::Show(a) => run_show(a),
        ModelCommand::State(a) => run_state(a.command),
        ModelCommand::Lora(a) => run_lora(a.command),
    }
}

fn run_lora(c: LoraCommand) -> Result<()> {
    use crdt_merge_model::lora::{self, Adapter, LoraMethod};
    match c {
        LoraCommand::Merge {
            adapters,
            weights,
            rank,
            method,
            params,
            seed,
            output,
        } => {
            let mut options = lora::MergeOptions {
                params: Vec::new(),
                seed,
            };
            for text in &params {
                let (k, v) = split_pair("--param", text)?;
                options.params.push((k.to_string(), ParamValue::parse(v)));
            }
            let method = LoraMethod::parse(&method).map_err(|e| CliError::Usage(e.to_string()))?;
            let mut w: std::collections::BTreeMap<PathBuf, f64> = Default::default();
            for text in &weights {
                let (k, v) = split_pair("--weight", text)?;
                let v: f64 = v.parse().map_err(|_| {
                    CliError::Usage(format!("--weight `{text}`: expected DIR=NUMBER"))
                })?;
                let k = PathBuf::from(k);
                if !adapters.contains(&k) {
                    return Err(CliError::Usage(format!(
                        "--weight `{text}`: `{}` is not one of the adapters given",
                        k.display()
                    )));
                }
                w.insert(k, v);
            }
            let mut loaded = Vec::new();
            for a in &adapters {
                let adapter = Adapter::load(a).map_err(model_error)?;
                loaded.push((adapter, w.get(a).copied().unwrap_or(1.0)));
            }
            if method == LoraMethod::UpstreamAbAverage {
                eprintln!(
                    "crdt-merge: warning: upstream_ab_average averages A and B separately, which                      is not the average update (cross terms, no alpha/r); use cat for the exact merge"
                );
            }
            let merged = lora::merge_with(&loaded, method, rank, &options).map_err(model_error)?;
            lora::write(&merged, method, &output).map_err(model_error)?;
            let total: usize = merged.modules.values().map(|f| f.r).max().unwrap_or(0);
            eprintln!(
                "crdt-merge: {} adapters, {} modules, rank up to {total}, written to {}",
                merged.contributions.len(),
                merged.modules.len(),
                output.display()
            );
            Ok(())
        }
        LoraCommand::Apply {
            base,
            adapter,
            weight,
            shard_size,
            output,
        } => {
            if !weight.is_finite() {
                return Err(CliError::Usage(format!(
                    "--weight {weight}: expected a finite number"
                )));
            }
            let shard = crdt_merge_model::io::parse_size(&shard_size)
                .map_err(|e| CliError::Usage(format!("--shard-size: {e}")))?;
            let a = Adapter::load(&adapter).map_err(model_error)?;
            let r = lora::apply(&base, &a, weight, &output, shard).map_err(model_error)?;
            eprintln!(
                "crdt-merge: {} tensors updated, {} copied, written to {}",
                r.updated,
                r.copied,
                output.display()
            );
            Ok(())
        }
    }
}

fn split_pair<'a>(flag: &str, text: &'a str) -> Result<(&'a str, &'a str)> {
    text.rsplit_once('=')
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .ok_or_else(|| CliError::Usage(format!("{flag} `{text}`: expected NAME=VALUE")))
}

pub(crate) fn parse_dtype(text: &str) -> Result<DType> {
    DType::from_user_name(text).ok_or_else(|| {
        CliError::Usage(format!(
            "--dtype `{text}`: expected float32, bfloat16, float16 or float64"
        ))
    })
}

/// A bar over output bytes on a terminal; nothing otherwise.
struct Bar(Option<ProgressBar>);

impl Progress for Bar {
    fn start(&self, tensors: usize, bytes: u64) {
        if let Some(b) = &self.0 {
            b.set_length(bytes);
            b.set_message(format!("0/{tensors} tensors"));
        }
    }
    fn advance(&self, bytes: u64, tensors_done: usize) {
        if let Some(b) = &self.0 {
            b.set_position(bytes);
            let total = b.message();
            let of = total.split('/').nth(1).unwrap_or("").to_string();
            b.set_message(format!("{tensors_done}/{of}"));
        }
    }
}

fn run_merge(a: MergeModelArgs) -> Result<()> {
    let started = Instant::now();
    let shard_size = crdt_merge_model::io::parse_size(&a.shard_size)
        .map_err(|e| CliError::Usage(format!("--shard-size: {e}")))?;
    let mut chat_template = None;
    let mut request = if let Some(config) = &a.config {
        if !a.models.is_empty() {
            return Err(CliError::Usage(
                "give models either on the command line or in --config, not both".into(),
            ));
        }
        let (request, extras) =
            crdt_merge_model::config::read_config(config, &a.output).map_err(model_error)?;
        chat_template = extras.chat_template;
        request
    } else {
        let strategy = a.strategy.clone().unwrap_or_default();
        let mut request = MergeRequest::new(&strategy, &a.output);
        if a.models.is_empty() {
            return Err(CliError::Usage(
                "model merge: give one or more models".into(),
            ));
        }
        request.models = a
            .models
            .iter()
            .map(|m| ModelSpec {
                label: m.clone(),
                path: PathBuf::from(m),
                ..ModelSpec::default()
            })
            .collect();
        request.base = a.base.as_ref().map(|b| ModelSpec {
            label: b.clone(),
            path: PathBuf::from(b),
            ..ModelSpec::default()
        });
        request
    };
    let find = |request: &mut MergeRequest, flag: &str, label: &str| -> Result<usize> {
        request
            .models
            .iter()
            .position(|m| m.label == label)
            .ok_or_else(|| {
                let known: Vec<&str> = request.models.iter().map(|m| m.label.as_str()).collect();
                CliError::Usage(format!(
                    "{flag} `{label}`: not one of the models ({})",
                    known.join(", ")
                ))
            })
    };
    for w in &a.weight {
        let (label, value) = split_pair("--weight", w)?;
        let v: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| {
                CliError::Usage(format!("--weight `{w}`: `{value}` is not a finite number"))
            })?;
        let i = find(&mut request, "--weight", label)?;
        request.models[i].weight = Some(Setting::Value(ParamValue::Num(v)));
    }
    for f in &a.fisher {
        let (label, file) = split_pair("--fisher", f)?;
        let i = find(&mut request, "--fisher", label)?;
        request.models[i].fisher = Some(PathBuf::from(file));
    }
    for g in &a.gram {
        let (label, file) = split_pair("--gram", g)?;
        let i = find(&mut request, "--gram", label)?;
        request.models[i].gram = Some(PathBuf::from(file));
    }
    for p in &a.param {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .ok_or_else(|| CliError::Usage(format!("--param `{p}`: expected NAME=VALUE")))?;
        if k == "weight" {
            return Err(CliError::Usage(
                "--param weight=...: give weights per model with --weight MODEL=W".into(),
            ));
        }
        request
            .params
            .push((k.to_string(), Setting::Value(ParamValue::parse(v))));
    }
    for l in &a.layer_strategy {
        let (pattern, name) = split_pair("--layer-strategy", l)?;
        request
            .layer_strategies
            .push((pattern.to_string(), name.to_string()));
    }
    if let Some(d) = &a.dtype {
        request.dtype = Some(parse_dtype(d)?);
    }
    request.seed = a.seed;
    request.missing = match a.missing {
        MissingArg::Error => Missing::Error,
        MissingArg::Present => Missing::Present,
    };
    request.allow_nonfinite = a.allow_nonfinite;
    request.shard_size = shard_size;

    let report = merge_with_bar(&request, a.quiet)?;
    if let Some(template) = chat_template {
        if !crdt_merge_model::io::is_file_output(&request.output) {
            let path = request.output.join("chat_template.jinja");
            std::fs::write(&path, template)
                .map_err(|e| CliError::Run(format!("cannot write '{}': {e}", path.display())))?;
        }
    }
    if !a.quiet {
        eprintln!(
            "crdt-merge: merged {} tensors ({}) of {} model(s) with {} into {} in {:.2} s",
            report.tensors,
            human_bytes(report.bytes),
            report.contributions.len(),
            request.strategy,
            display(&request.output),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Runs a model merge with a progress bar on a terminal (none with `quiet`).
pub(crate) fn merge_with_bar(
    request: &MergeRequest,
    quiet: bool,
) -> Result<crdt_merge_model::merge::MergeReport> {
    let progress = bar(quiet);
    let report = merge_models(request, &progress).map_err(model_error)?;
    if let Some(b) = &progress.0 {
        b.finish_and_clear();
    }
    Ok(report)
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

fn human_bytes(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

fn bar(quiet: bool) -> Bar {
    Bar((!quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "{bar:30} {binary_bytes}/{binary_total_bytes} {msg} {binary_bytes_per_sec} {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    }))
}

fn run_state(command: StateCommand) -> Result<()> {
    use crdt_merge_model::state::StateDir;
    match command {
        StateCommand::Init {
            dir,
            strategy,
            base,
            param,
            seed,
        } => {
            let mut params = Vec::new();
            for p in &param {
                let (k, v) = p
                    .split_once('=')
                    .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                    .ok_or_else(|| {
                        CliError::Usage(format!("--param `{p}`: expected NAME=VALUE"))
                    })?;
                params.push((k.to_string(), ParamValue::parse(v)));
            }
            let s = StateDir::init(&dir, &strategy, base.as_deref(), &params, seed)
                .map_err(model_error)?;
            println!("{}", s.state().state_hash());
        }
        StateCommand::Add {
            dir,
            model,
            id,
            weight,
            version,
            fisher,
            gram,
        } => {
            if !weight.is_finite() {
                return Err(CliError::Usage(format!(
                    "--weight {weight}: expected a finite number"
                )));
            }
            StateDir::add(
                &dir,
                &model,
                &id,
                weight,
                version,
                fisher.as_deref(),
                gram.as_deref(),
            )
            .map_err(model_error)?;
            println!("{}", StateDir::hash(&dir).map_err(model_error)?);
        }
        StateCommand::Remove { dir, id } => {
            StateDir::remove(&dir, &id).map_err(model_error)?;
            println!("{}", StateDir::hash(&dir).map_err(model_error)?);
        }
        StateCommand::Merge { dir, others } => {
            let outcome = StateDir::merge(&dir, &others).map_err(model_error)?;
            println!("{}", outcome.state_hash);
        }
        StateCommand::Resolve {
            dir,
            output,
            dtype,
            shard_size,
            quiet,
        } => {
            let started = Instant::now();
            let state = StateDir::open(&dir).map_err(model_error)?;
            let mut request = state.request(&output).map_err(model_error)?;
            state.verify().map_err(model_error)?;
            if let Some(d) = &dtype {
                request.dtype = Some(parse_dtype(d)?);
            }
            request.shard_size = crdt_merge_model::io::parse_size(&shard_size)
                .map_err(|e| CliError::Usage(format!("--shard-size: {e}")))?;
            let progress = bar(quiet);
            let report = merge_models(&request, &progress).map_err(model_error)?;
            if let Some(b) = &progress.0 {
                b.finish_and_clear();
            }
            if !quiet {
                eprintln!(
                    "crdt-merge: resolved {} contribution(s) with {} into {} ({} tensors, {}) in {:.2} s",
                    report.contributions.len(),
                    request.strategy,
                    display(&output),
                    report.tensors,
                    human_bytes(report.bytes),
                    started.elapsed().as_secs_f64()
                );
            }
        }
        StateCommand::Hash { dir } => println!("{}", StateDir::hash(&dir).map_err(model_error)?),
        StateCommand::Show { dir } => print!(
            "{}",
            ensure_newline(StateDir::show(&dir).map_err(model_error)?)
        ),
    }
    Ok(())
}

fn ensure_newline(mut s: String) -> String {
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

fn run_show(a: ShowArgs) -> Result<()> {
    let files = crdt_merge_model::io::ModelFiles::open(&a.model).map_err(model_error)?;
    for (name, info) in files.tensors() {
        let mut line = format!(
            "{name}  {}  {:?}",
            info.dtype.safetensors_name(),
            info.shape
        );
        if let Some(n) = a.values.filter(|_| info.dtype.is_computable()) {
            let n = n.min(info.numel());
            let mut v = vec![0.0; n];
            files.read_f64(name, 0, &mut v).map_err(model_error)?;
            let shown: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
            let more = if n < info.numel() { " ..." } else { "" };
            line.push_str(&format!("  {}{more}", shown.join(" ")));
        }
        println!("{line}");
    }
    if a.metadata {
        for (k, v) in files.metadata() {
            println!("{k}: {v}");
        }
    }
    Ok(())
}

fn run_strategies(a: StrategiesArgs) -> Result<()> {
    let base = |r: BaseRule| r.label();
    let weights = |r: WeightRule| r.label();
    let params = |s: &crdt_merge_model::strategy::StrategySpec| s.params_text();
    if a.json {
        for s in registry() {
            let line = serde_json::json!({
                "name": s.name,
                "origin": s.origin.label(),
                "base": base(s.base),
                "weights": weights(s.weights),
                "stochastic": s.stochastic,
                "params": params(s),
                "formula": s.formula,
                "guarantee": s.guarantee,
                "differs": s.differs,
            });
            println!("{line}");
        }
        return Ok(());
    }
    let rows: Vec<[String; 5]> = registry()
        .iter()
        .map(|s| {
            [
                s.name.to_string(),
                s.origin.label().to_string(),
                base(s.base).to_string(),
                weights(s.weights).to_string(),
                params(s),
            ]
        })
        .collect();
    let header = [
        "strategy",
        "from",
        "base",
        "weights",
        "parameters (defaults)",
    ];
    let mut width = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        out
    };
    println!("{}", line(header));
    for r in &rows {
        println!("{}", line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
    }
    Ok(())
}
