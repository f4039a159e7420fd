//! LoRA adapters in PEFT's layout (`adapter_config.json` + `adapter_model.safetensors`), merged
//! exactly.
//!
//! An adapter holds, per target module `m`, `A` (`r × in`, key `base_model.model.<m>.lora_A.weight`)
//! and `B` (`out × r`, `...lora_B.weight`), and a scale `s = lora_alpha / r` (`/ √r` with
//! `use_rslora`; per-module `rank_pattern` / `alpha_pattern` honoured). Its update is
//! `ΔW = s·B·A`. Averaging the `A`s and the `B`s separately (the Python library, and PEFT's
//! `linear`) does not give the average update: `avg(B)·avg(A)` has cross terms.
//!
//! [`merge`] with [`LoraMethod::Cat`] concatenates ranks instead: `A' = [A₁; A₂; ...]` and
//! `B' = [w₁s₁B₁ | w₂s₂B₂ | ...]`, blocks in contribution-id order (so the output is the same
//! bytes whatever order the adapters are given in), with scale 1 (`lora_alpha = r`), so
//! `B'·A' = Σ wᵢ sᵢ BᵢAᵢ` exactly. `--rank K` then compacts each module to rank at most `K`
//! without forming `ΔW`: a thin QR of `B'` and of `A'ᵀ` (Gram–Schmidt, twice, in f64: the same
//! bits whatever the thread count), an SVD of the small core `R_B·R_Aᵀ`, signs fixed so each left
//! singular vector's largest component is positive, and `√σ` on both sides. That is the best
//! rank-`K` approximation of the summed update, exact when `K` is at least its rank.
//! [`LoraMethod::Svd`] is PEFT's `svd` combination (the weighted sum compacted to the largest
//! input rank unless `--rank` says otherwise). [`LoraMethod::UpstreamAbAverage`] is the Python
//! library's approximation, for comparison only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use faer::Mat;
use serde_json::{json, Value as Json};

use crate::contribution::{contribution_id, hex, ContributionId};
use crate::dtype::{narrow, DType};
use crate::error::{ModelError, Result};
use crate::io::{write_safetensors, Metadata, ModelFiles};

/// PEFT's file names.
pub const CONFIG_FILE: &str = "adapter_config.json";
/// PEFT's weights file.
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";

const PREFIX: &str = "base_model.model.";

/// One module's factors, widened to f64 (row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct Factors {
    /// `r × in`.
    pub a: Vec<f64>,
    /// `out × r`.
    pub b: Vec<f64>,
    /// The rank.
    pub r: usize,
    /// Input features (columns of `A`).
    pub fan_in: usize,
    /// Output features (rows of `B`).
    pub fan_out: usize,
}

impl Factors {
    /// `B·A` (row-major `out × in`), times `scale`.
    pub fn delta(&self, scale: f64) -> Vec<f64> {
        let a = Mat::from_fn(self.r, self.fan_in, |i, j| self.a[i * self.fan_in + j]);
        let b = Mat::from_fn(self.fan_out, self.r, |i, j| self.b[i * self.r + j] * scale);
        let p: Mat<f64> = b * a;
        let mut out = Vec::with_capacity(self.fan_out * self.fan_in);
        for i in 0..self.fan_out {
            for j in 0..self.fan_in {
                out.push(p[(i, j)]);
            }
        }
        out
    }
}

/// A loaded adapter.
#[derive(Clone, Debug)]
pub struct Adapter {
    /// Its directory.
    pub dir: PathBuf,
    /// Content id of its weights file (orders the blocks of a merge).
    pub id: ContributionId,
    /// The factors' element type.
    pub dtype: DType,
    /// Per module (the name without `base_model.model.` and the `.lora_X.weight` suffix).
    pub modules: BTreeMap<String, Factors>,
    /// Scale per module (`alpha / r`, or `alpha / √r` with rsLoRA).
    pub scales: BTreeMap<String, f64>,
    /// `target_modules`, as the config lists them.
    pub target_modules: Json,
    /// `base_model_name_or_path`.
    pub base_model: Json,
    /// `task_type`.
    pub task_type: Json,
    /// `fan_in_fan_out` (GPT-2's Conv1D stores weights transposed).
    pub fan_in_fan_out: bool,
}

/// PEFT's pattern lookup: the first key `k` (in the config's order) with `module` matching
/// `(.*\.)?k$`.
fn pattern_value<'j>(patterns: Option<&'j Json>, module: &str) -> Option<&'j Json> {
    let map = patterns?.as_object()?;
    map.iter().find_map(|(k, v)| {
        let re = regex::Regex::new(&format!(r"^(.*\.)?{k}$")).ok()?;
        re.is_match(module).then_some(v)
    })
}

/// A parsed `adapter_config.json`: what a merge reads from it, checked.
#[derive(Clone, Debug)]
pub struct AdapterConfig {
    /// The default rank `r`.
    pub r: u64,
    /// `lora_alpha`.
    pub alpha: f64,
    /// `use_rslora`.
    pub rslora: bool,
    /// The whole object (for `rank_pattern`, `alpha_pattern`, `target_modules` ...).
    pub raw: serde_json::Map<String, Json>,
}

impl AdapterConfig {
    /// Parses and checks config bytes; `path` names the file in errors. DoRA,
    /// `modules_to_save`, trained biases and other PEFT types are refused by name.
    ///
    /// # Errors
    /// Not a JSON object, a refused feature, a missing or non-positive `r`, a missing
    /// `lora_alpha`.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<AdapterConfig> {
        let err = |m: String| ModelError::format(path, m);
        let cfg: Json =
            serde_json::from_slice(bytes).map_err(|e| err(format!("is not JSON: {e}")))?;
        let Json::Object(raw) = cfg else {
            return Err(err("expected a JSON object".into()));
        };
        let field = |k: &str| raw.get(k).filter(|v| !v.is_null());
        match field("peft_type").map(|v| v.as_str()) {
            Some(Some("LORA")) | None => {}
            Some(other) => {
                return Err(err(format!(
                    "`peft_type` is {other:?}; only LORA adapters merge here"
                )))
            }
        }
        if field("use_dora").and_then(Json::as_bool) == Some(true) {
            return Err(err(
                "`use_dora` is true: DoRA's magnitude vectors do not merge as \
                 s·B·A (merge DoRA adapters into their base first)"
                    .into(),
            ));
        }
        if let Some(m) = field("modules_to_save") {
            if m.as_array().is_none_or(|a| !a.is_empty()) {
                return Err(err(format!(
                    "`modules_to_save` is {m}: fully trained modules are not low-rank"
                )));
            }
        }
        match field("bias").map(|v| v.as_str()) {
            None | Some(Some("none")) => {}
            Some(b) => {
                return Err(err(format!(
                    "`bias` is {b:?}: trained biases are not low-rank (expected \"none\")"
                )))
            }
        }
        let r = field("r")
            .and_then(Json::as_u64)
            .filter(|&r| r > 0)
            .ok_or_else(|| err("expected `r`, a positive integer".into()))?;
        let alpha = field("lora_alpha")
            .and_then(Json::as_f64)
            .filter(|a| a.is_finite())
            .ok_or_else(|| err("expected `lora_alpha`, a finite number".into()))?;
        let rslora = field("use_rslora").and_then(Json::as_bool).unwrap_or(false);
        Ok(AdapterConfig {
            r,
            alpha,
            rslora,
            raw,
        })
    }

    /// The rank the config gives `module` (`rank_pattern`, else `r`).
    pub fn rank_of(&self, module: &str) -> u64 {
        pattern_value(self.raw.get("rank_pattern"), module)
            .and_then(Json::as_u64)
            .unwrap_or(self.r)
    }

    /// The alpha the config gives `module` (`alpha_pattern`, else `lora_alpha`).
    pub fn alpha_of(&self, module: &str) -> f64 {
        pattern_value(self.raw.get("alpha_pattern"), module)
            .and_then(Json::as_f64)
            .unwrap_or(self.alpha)
    }
}

impl Adapter {
    /// Reads a PEFT adapter directory. DoRA, `modules_to_save`, embedding adapters and trained
    /// biases are errors naming what was found (their updates are not `s·B·A`).
    ///
    /// # Errors
    /// Missing or malformed files, a config missing `r` or `lora_alpha`, factors whose shapes
    /// disagree with each other or with the config's rank.
    pub fn load(dir: &Path) -> Result<Adapter> {
        let cfg_path = dir.join(CONFIG_FILE);
        let text = std::fs::read(&cfg_path).map_err(|e| ModelError::io(&cfg_path, e))?;
        let config = AdapterConfig::parse(&text, &cfg_path)?;
        let rslora = config.rslora;
        let field = |k: &str| config.raw.get(k).filter(|v| !v.is_null());

        let weights = dir.join(WEIGHTS_FILE);
        let files = ModelFiles::open(&weights)?;
        let id = contribution_id(&files)?;
        let mut raw: BTreeMap<String, [Option<String>; 2]> = BTreeMap::new();
        let mut dtype: Option<DType> = None;
        for (name, t) in files.tensors() {
            let body = name.strip_prefix(PREFIX).unwrap_or(name);
            let (module, which) = if let Some(m) = body.strip_suffix(".lora_A.weight") {
                (m, 0)
            } else if let Some(m) = body.strip_suffix(".lora_B.weight") {
                (m, 1)
            } else {
                let what = if name.contains("lora_embedding") {
                    "an embedding adapter (lora_embedding_A/B)"
                } else if name.contains("lora_magnitude") {
                    "a DoRA magnitude vector"
                } else if name.ends_with(".bias") {
                    "a trained bias"
                } else {
                    "not a LoRA factor (modules_to_save?)"
                };
                return Err(ModelError::format(
                    &weights,
                    format!("tensor `{name}` is {what}; only lora_A/lora_B weights merge"),
                ));
            };
            if !t.dtype.is_computable() {
                return Err(ModelError::tensor(
                    name,
                    format!("has dtype {}, not a float type", t.dtype),
                ));
            }
            match dtype {
                None => dtype = Some(t.dtype),
                Some(d) if d != t.dtype => {
                    return Err(ModelError::tensor(
                        name,
                        format!(
                            "is {} but other factors in {} are {d}",
                            t.dtype,
                            weights.display()
                        ),
                    ))
                }
                _ => {}
            }
            raw.entry(module.to_string()).or_default()[which] = Some(name.clone());
        }
        let dtype = dtype.ok_or_else(|| ModelError::format(&weights, "holds no LoRA factors"))?;
        let mut modules = BTreeMap::new();
        let mut scales = BTreeMap::new();
        for (m, [a, b]) in raw {
            let (Some(a), Some(b)) = (a, b) else {
                return Err(ModelError::format(
                    &weights,
                    format!("module `{m}` has only one of lora_A and lora_B"),
                ));
            };
            let (ta, tb) = (files.tensor(&a)?, files.tensor(&b)?);
            let (&[ra, fan_in], &[fan_out, rb]) = (ta.shape.as_slice(), tb.shape.as_slice()) else {
                return Err(ModelError::tensor(
                    &a,
                    format!(
                        "expected 2-D factors (A: r × in, B: out × r), found {:?} and {:?}",
                        ta.shape, tb.shape
                    ),
                ));
            };
            if ra != rb {
                return Err(ModelError::tensor(
                    &a,
                    format!("has rank {ra} but `{b}` has rank {rb}"),
                ));
            }
            let want_r = config.rank_of(&m);
            if ra as u64 != want_r {
                return Err(ModelError::tensor(
                    &a,
                    format!("has rank {ra} but the config says r = {want_r} for module `{m}`"),
                ));
            }
            let alpha_m = config.alpha_of(&m);
            let scale = if rslora {
                alpha_m / (ra as f64).sqrt()
            } else {
                alpha_m / ra as f64
            };
            let mut fa = vec![0.0; ra * fan_in];
            files.read_f64(&a, 0, &mut fa)?;
            let mut fb = vec![0.0; fan_out * rb];
            files.read_f64(&b, 0, &mut fb)?;
            modules.insert(
                m.clone(),
                Factors {
                    a: fa,
                    b: fb,
                    r: ra,
                    fan_in,
                    fan_out,
                },
            );
            scales.insert(m, scale);
        }
        Ok(Adapter {
            dir: dir.to_path_buf(),
            id,
            dtype,
            modules,
            scales,
            target_modules: field("target_modules").cloned().unwrap_or(Json::Null),
            base_model: field("base_model_name_or_path")
                .cloned()
                .unwrap_or(Json::Null),
            task_type: field("task_type").cloned().unwrap_or(Json::Null),
            fan_in_fan_out: field("fan_in_fan_out")
                .and_then(Json::as_bool)
                .unwrap_or(false),
        })
    }
}

/// How adapters combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoraMethod {
    /// Exact rank concatenation (then optional compaction).
    Cat,
    /// PEFT's `svd`: the weighted sum, compacted to the largest input rank by default.
    Svd,
    /// The Python library's: `A` and `B` averaged separately (approximate; equal ranks only).
    UpstreamAbAverage,
    /// mergekit's `ties` on each module's updates `sᵢBᵢAᵢ` (base 0), then compacted.
    Ties,
    /// mergekit's `dare_ties` on each module's updates (order-free Philox masks), then compacted.
    DareTies,
}

impl LoraMethod {
    /// The CLI's spelling.
    pub fn name(self) -> &'static str {
        match self {
            LoraMethod::Cat => "cat",
            LoraMethod::Svd => "svd",
            LoraMethod::UpstreamAbAverage => "upstream_ab_average",
            LoraMethod::Ties => "ties",
            LoraMethod::DareTies => "dare_ties",
        }
    }

    /// Parses the CLI's spelling.
    pub fn parse(s: &str) -> Result<LoraMethod> {
        Ok(match s {
            "cat" => LoraMethod::Cat,
            "svd" => LoraMethod::Svd,
            "upstream_ab_average" => LoraMethod::UpstreamAbAverage,
            "ties" => LoraMethod::Ties,
            "dare_ties" => LoraMethod::DareTies,
            other => {
                return Err(ModelError::invalid(format!(
                    "unknown LoRA method `{other}`; valid: cat, svd, ties, dare_ties, \
                     upstream_ab_average"
                )))
            }
        })
    }
}

/// A merged adapter, ready to write.
#[derive(Clone, Debug)]
pub struct MergedAdapter {
    /// Per module, factors with scale 1.
    pub modules: BTreeMap<String, Factors>,
    /// Output element type.
    pub dtype: DType,
    /// The `adapter_config.json` to write.
    pub config: Json,
    /// Contribution ids and weights, in block order.
    pub contributions: Vec<(ContributionId, f64)>,
}

/// Merges `adapters` with their weights (see the module docs).
///
/// # Errors
/// No adapters, an adapter given twice with different weights, adapters whose base model,
/// task type, `fan_in_fan_out`, dtype or module shapes disagree, a rank of 0.
pub fn merge(
    adapters: &[(Adapter, f64)],
    method: LoraMethod,
    rank: Option<usize>,
) -> Result<MergedAdapter> {
    merge_with(adapters, method, rank, &MergeOptions::default())
}

/// Parameters of the `ties` and `dare_ties` methods (mergekit's names: `density`, `lambda`,
/// `normalize`, `rescale`, `int8_mask`) and the seed of DARE's masks.
#[derive(Clone, Debug, Default)]
pub struct MergeOptions {
    /// `(name, value)` pairs, as `--param` gives them.
    pub params: Vec<(String, crate::params::ParamValue)>,
    /// The seed of the order-free DARE masks.
    pub seed: u64,
}

/// [`merge`] with parameters for `ties` and `dare_ties`.
///
/// # Errors
/// As [`merge`], and a parameter the strategy does not take or that is out of range.
pub fn merge_with(
    adapters: &[(Adapter, f64)],
    method: LoraMethod,
    rank: Option<usize>,
    options: &MergeOptions,
) -> Result<MergedAdapter> {
    if rank == Some(0) {
        return Err(ModelError::invalid("--rank must be at least 1"));
    }
    // One block per distinct adapter, in contribution-id order.
    let mut by_id: BTreeMap<ContributionId, (&Adapter, f64)> = BTreeMap::new();
    for (a, w) in adapters {
        if !w.is_finite() {
            return Err(ModelError::invalid(format!(
                "{}: weight {w} is not a finite number",
                a.dir.display()
            )));
        }
        if let Some((prev, pw)) = by_id.insert(a.id, (a, *w)) {
            if pw != *w {
                return Err(ModelError::invalid(format!(
                    "{} and {} are the same adapter with different weights ({pw} and {w})",
                    prev.dir.display(),
                    a.dir.display()
                )));
            }
        }
    }
    let list: Vec<(&Adapter, f64)> = by_id.values().copied().collect();
    let first = list
        .first()
        .ok_or_else(|| ModelError::invalid("no adapters to merge"))?
        .0;
    for (a, _) in &list[1..] {
        for (what, x, y) in [
            ("base_model_name_or_path", &a.base_model, &first.base_model),
            ("task_type", &a.task_type, &first.task_type),
        ] {
            if x != y {
                return Err(ModelError::invalid(format!(
                    "{} has {what} {x} but {} has {y}: adapters of different bases do not merge",
                    a.dir.display(),
                    first.dir.display()
                )));
            }
        }
        if a.fan_in_fan_out != first.fan_in_fan_out {
            return Err(ModelError::invalid(format!(
                "{} and {} disagree on fan_in_fan_out",
                a.dir.display(),
                first.dir.display()
            )));
        }
        if a.dtype != first.dtype {
            return Err(ModelError::invalid(format!(
                "{} holds {} factors but {} holds {}",
                a.dir.display(),
                a.dtype,
                first.dir.display(),
                first.dtype
            )));
        }
    }
    let names: BTreeSet<&String> = list.iter().flat_map(|(a, _)| a.modules.keys()).collect();
    let mut modules = BTreeMap::new();
    for m in names {
        // (factors, weight × scale, weight)
        let with_w: Vec<(&Factors, f64, f64)> = list
            .iter()
            .filter_map(|(a, w)| a.modules.get(m).map(|f| (f, w * a.scales[m], *w)))
            .collect();
        let parts: Vec<(&Factors, f64)> = with_w.iter().map(|(f, c, _)| (*f, *c)).collect();
        let (fi, fo) = (parts[0].0.fan_in, parts[0].0.fan_out);
        if let Some((f, _)) = parts
            .iter()
            .find(|(f, _)| f.fan_in != fi || f.fan_out != fo)
        {
            return Err(ModelError::tensor(
                format!("{PREFIX}{m}.lora_A.weight"),
                format!(
                    "is {} × {} in one adapter and {} × {} in another",
                    f.fan_out, f.fan_in, fo, fi
                ),
            ));
        }
        let merged = match method {
            LoraMethod::Cat | LoraMethod::Svd => {
                let cat = concatenate(&parts, fi, fo);
                let k = match (method, rank) {
                    (_, Some(k)) => Some(k),
                    (LoraMethod::Svd, None) => parts.iter().map(|(f, _)| f.r).max(),
                    _ => None,
                };
                match k {
                    Some(k) if k < cat.r => compact(&cat, k),
                    _ => cat,
                }
            }
            LoraMethod::UpstreamAbAverage => average_factors(m, &with_w, fi, fo)?,
            LoraMethod::Ties | LoraMethod::DareTies => {
                let ids: Vec<ContributionId> = list
                    .iter()
                    .filter(|(a, _)| a.modules.contains_key(m))
                    .map(|(a, _)| a.id)
                    .collect();
                let scales: Vec<f64> = list
                    .iter()
                    .filter_map(|(a, _)| a.scales.get(m).copied())
                    .collect();
                let merged = ties_delta(method, m, &with_w, &scales, &ids, fi, fo, options)?;
                // TIES is not linear: the result is a full matrix, compacted to the rank
                // budget of the inputs (their summed ranks) unless --rank says otherwise.
                let budget: usize = with_w.iter().map(|(f, _, _)| f.r).sum();
                let k = rank.unwrap_or(budget).min(fi.min(fo)).max(1);
                let (b, a) = truncated_svd(&merged, fo, fi, k);
                Factors {
                    a,
                    b,
                    r: k,
                    fan_in: fi,
                    fan_out: fo,
                }
            }
        };
        modules.insert(m.clone(), merged);
    }
    let config = output_config(&list, &modules);
    Ok(MergedAdapter {
        modules,
        dtype: first.dtype,
        config,
        contributions: list.iter().map(|(a, w)| (a.id, *w)).collect(),
    })
}

/// `[A₁; A₂; ...]` and `[c₁B₁ | c₂B₂ | ...]`.
fn concatenate(parts: &[(&Factors, f64)], fan_in: usize, fan_out: usize) -> Factors {
    let r: usize = parts.iter().map(|(f, _)| f.r).sum();
    let mut a = Vec::with_capacity(r * fan_in);
    for (f, _) in parts {
        a.extend_from_slice(&f.a);
    }
    let mut b = vec![0.0; fan_out * r];
    let mut col = 0;
    for (f, c) in parts {
        for i in 0..fan_out {
            for j in 0..f.r {
                b[i * r + col + j] = c * f.b[i * f.r + j];
            }
        }
        col += f.r;
    }
    Factors {
        a,
        b,
        r,
        fan_in,
        fan_out,
    }
}

/// The Python library's LoRA merge: weighted averages of the `A`s and of the `B`s, without
/// the `alpha / r` scales, which is not the average update (kept to compare against).
fn average_factors(
    m: &str,
    parts: &[(&Factors, f64, f64)],
    fan_in: usize,
    fan_out: usize,
) -> Result<Factors> {
    let r = parts[0].0.r;
    if parts.iter().any(|(f, _, _)| f.r != r) {
        return Err(ModelError::tensor(
            format!("{PREFIX}{m}.lora_A.weight"),
            "upstream_ab_average needs equal ranks; use cat",
        ));
    }
    let total: f64 = parts.iter().map(|(_, _, w)| w).sum();
    if total == 0.0 {
        return Err(ModelError::invalid(
            "upstream_ab_average: the weights sum to 0",
        ));
    }
    let mut a = vec![0.0; r * fan_in];
    let mut b = vec![0.0; fan_out * r];
    for (f, _, w) in parts {
        for (x, y) in a.iter_mut().zip(&f.a) {
            *x += w * y / total;
        }
        for (x, y) in b.iter_mut().zip(&f.b) {
            *x += w * y / total;
        }
    }
    Ok(Factors {
        a,
        b,
        r,
        fan_in,
        fan_out,
    })
}

/// Thin QR of the `rows × cols` row-major matrix `x` by modified Gram–Schmidt, run twice for
/// orthogonality, sequential so the bits do not depend on threads: `(Q rows × cols, R cols ×
/// cols)`. A column already spanned by earlier ones gets a zero column in `Q`.
fn thin_qr(x: &[f64], rows: usize, cols: usize) -> (Mat<f64>, Mat<f64>) {
    let mut q = Mat::from_fn(rows, cols, |i, j| x[i * cols + j]);
    let mut r = Mat::<f64>::zeros(cols, cols);
    let norm0: Vec<f64> = (0..cols)
        .map(|j| (0..rows).map(|i| q[(i, j)] * q[(i, j)]).sum::<f64>().sqrt())
        .collect();
    for j in 0..cols {
        for _pass in 0..2 {
            for k in 0..j {
                let d: f64 = (0..rows).map(|i| q[(i, k)] * q[(i, j)]).sum();
                r[(k, j)] += d;
                for i in 0..rows {
                    let v = q[(i, k)];
                    q[(i, j)] -= d * v;
                }
            }
        }
        let n: f64 = (0..rows).map(|i| q[(i, j)] * q[(i, j)]).sum::<f64>().sqrt();
        if n <= 1e-13 * norm0[j].max(f64::MIN_POSITIVE) {
            for i in 0..rows {
                q[(i, j)] = 0.0;
            }
            continue;
        }
        r[(j, j)] = n;
        for i in 0..rows {
            q[(i, j)] /= n;
        }
    }
    (q, r)
}

/// The best rank-`k` factors of `B·A` (see the module docs).
fn compact(f: &Factors, k: usize) -> Factors {
    let r = f.r;
    let (qb, rb) = thin_qr(&f.b, f.fan_out, r);
    // Aᵀ is in × r.
    let at: Vec<f64> = (0..f.fan_in)
        .flat_map(|i| (0..r).map(move |j| (i, j)))
        .map(|(i, j)| f.a[j * f.fan_in + i])
        .collect();
    let (qa, ra) = thin_qr(&at, f.fan_in, r);
    let core: Mat<f64> = &rb * ra.transpose();
    let Some((u, s, v)) = svd_seq(core.as_ref()) else {
        // The core is r × r with r small; faer's SVD does not fail on finite input. Keep the
        // exact concatenation rather than a wrong compaction.
        return f.clone();
    };
    let bu: Mat<f64> = &qb * u.subcols(0, k);
    let av: Mat<f64> = &qa * v.subcols(0, k);
    let (b, a) = scaled_factors(&bu, &av, &s, k);
    Factors {
        a,
        b,
        r: k,
        fan_in: f.fan_in,
        fan_out: f.fan_out,
    }
}

/// mergekit's `ties` / `dare_ties` over the updates `sᵢBᵢAᵢ` of one module, base 0, weights
/// `wᵢ`, models in contribution-id order.
#[allow(clippy::too_many_arguments)]
fn ties_delta(
    method: LoraMethod,
    module: &str,
    parts: &[(&Factors, f64, f64)],
    scales: &[f64],
    ids: &[ContributionId],
    fan_in: usize,
    fan_out: usize,
    options: &MergeOptions,
) -> Result<Vec<f64>> {
    use crate::strategy::{lookup, ModelInput, TensorJob};
    let spec = lookup(method.name())?;
    let shared = spec.resolve(&options.params, None)?;
    let own = spec.resolve(&options.params, Some(&[]))?;
    let deltas: Vec<Vec<f64>> = parts
        .iter()
        .zip(scales)
        .map(|((f, _, _), s)| f.delta(*s))
        .collect();
    let labels: Vec<String> = ids.iter().map(hex).collect();
    let models: Vec<ModelInput<'_>> = deltas
        .iter()
        .zip(parts)
        .zip(ids)
        .zip(&labels)
        .map(|(((d, (_, _, w)), id), label)| ModelInput {
            label,
            id,
            data: d,
            weight: *w,
            params: &own,
            fisher: None,
            gram: None,
        })
        .collect();
    let base = vec![0.0; fan_in * fan_out];
    let name = format!("{PREFIX}{module}");
    let shape = [fan_out, fan_in];
    let job = TensorJob {
        strategy: spec.name,
        name: &name,
        shape: &shape,
        offset: 0,
        base: Some(&base),
        models: &models,
        params: &shared,
        seed: options.seed,
    };
    (spec.merge)(&job)
}

/// The rank-`k` factors `(B: rows × k, A: k × cols)` of a row-major matrix by its thin SVD,
/// signs fixed, `√σ` on both sides.
fn truncated_svd(x: &[f64], rows: usize, cols: usize, k: usize) -> (Vec<f64>, Vec<f64>) {
    let m = Mat::from_fn(rows, cols, |i, j| x[i * cols + j]);
    let k = k.min(rows.min(cols));
    match svd_seq(m.as_ref()) {
        Some((u, s, v)) => scaled_factors(&u, &v, &s, k),
        None => (vec![0.0; rows * k], vec![0.0; k * cols]),
    }
}

/// The crate's sequential, sign-fixed thin SVD (`strategy::upstream::common`); `None` if it did
/// not converge.
fn svd_seq(m: faer::MatRef<'_, f64>) -> Option<(Mat<f64>, Vec<f64>, Mat<f64>)> {
    crate::strategy::upstream::common::svd_seq(m)
        .ok()
        .map(|r| (r.u, r.s, r.v))
}

/// `B = U_k·diag(√σ)` (rows × k) and `A = diag(√σ)·V_kᵀ` (k × cols), row-major.
fn scaled_factors(u: &Mat<f64>, v: &Mat<f64>, s: &[f64], k: usize) -> (Vec<f64>, Vec<f64>) {
    let sq: Vec<f64> = s[..k].iter().map(|x| x.max(0.0).sqrt()).collect();
    let mut b = Vec::with_capacity(u.nrows() * k);
    for i in 0..u.nrows() {
        for (c, q) in sq.iter().enumerate() {
            b.push(u[(i, c)] * q);
        }
    }
    let mut a = Vec::with_capacity(k * v.nrows());
    for (c, q) in sq.iter().enumerate() {
        for j in 0..v.nrows() {
            a.push(v[(j, c)] * q);
        }
    }
    (b, a)
}

fn output_config(list: &[(&Adapter, f64)], modules: &BTreeMap<String, Factors>) -> Json {
    let first = list[0].0;
    // target_modules: the sorted union of lists; a regex string is kept when all agree.
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut text: Option<&Json> = None;
    for (a, _) in list {
        match &a.target_modules {
            Json::Array(v) => names.extend(v.iter().filter_map(|x| x.as_str().map(String::from))),
            s @ Json::String(_) => text = Some(s),
            _ => {}
        }
    }
    let targets = match text {
        Some(s) if names.is_empty() => s.clone(),
        _ => {
            // Every module merged is a target, whatever the inputs listed.
            for m in modules.keys() {
                names.insert(m.rsplit('.').next().unwrap_or(m).to_string());
            }
            json!(names)
        }
    };
    let r = modules.values().map(|f| f.r).max().unwrap_or(1);
    let mut rank_pattern = serde_json::Map::new();
    let mut alpha_pattern = serde_json::Map::new();
    for (m, f) in modules {
        if f.r != r {
            // Exact module names: PEFT matches `(.*\.)?key$`, and a full name matches itself.
            rank_pattern.insert(regex::escape(m), json!(f.r));
            alpha_pattern.insert(regex::escape(m), json!(f.r));
        }
    }
    json!({
        "peft_type": "LORA",
        "task_type": first.task_type,
        "base_model_name_or_path": first.base_model,
        "r": r,
        "lora_alpha": r,
        "use_rslora": false,
        "use_dora": false,
        "fan_in_fan_out": first.fan_in_fan_out,
        "target_modules": targets,
        "rank_pattern": rank_pattern,
        "alpha_pattern": alpha_pattern,
        "bias": "none",
        "lora_dropout": 0.0,
        "modules_to_save": null,
        "init_lora_weights": true,
        "inference_mode": true,
    })
}

/// Writes `merged` as a PEFT adapter directory: `adapter_model.safetensors` (deterministic
/// header, metadata naming the method and the contributions) and `adapter_config.json`.
///
/// # Errors
/// I/O errors on `dir`.
pub fn write(merged: &MergedAdapter, method: LoraMethod, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let mut tensors = Vec::new();
    for (m, f) in &merged.modules {
        let mut a = Vec::new();
        narrow(merged.dtype, &f.a, &mut a);
        let mut b = Vec::new();
        narrow(merged.dtype, &f.b, &mut b);
        tensors.push((
            format!("{PREFIX}{m}.lora_A.weight"),
            merged.dtype,
            vec![f.r, f.fan_in],
            a,
        ));
        tensors.push((
            format!("{PREFIX}{m}.lora_B.weight"),
            merged.dtype,
            vec![f.fan_out, f.r],
            b,
        ));
    }
    let mut meta = Metadata::new();
    meta.insert("crdt_merge.lora_method".into(), method.name().into());
    meta.insert(
        "crdt_merge.contributions".into(),
        merged
            .contributions
            .iter()
            .map(|(id, w)| format!("{}:{w}", hex(id)))
            .collect::<Vec<_>>()
            .join(","),
    );
    write_safetensors(&dir.join(WEIGHTS_FILE), &tensors, meta)?;
    let cfg_path = dir.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(&merged.config)
        .map_err(|e| ModelError::invalid(format!("cannot write the config: {e}")))?;
    std::fs::write(&cfg_path, text + "\n").map_err(|e| ModelError::io(&cfg_path, e))
}

/// What [`apply`] wrote.
#[derive(Clone, Debug)]
pub struct ApplyReport {
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Base tensors that received an update.
    pub updated: usize,
    /// Base tensors copied as they were.
    pub copied: usize,
}

/// Writes `base` with `weight`·ΔW of every adapter module added to its weight
/// (`base_model.model.<m>.lora_A.weight` updates `<m>.weight`; with `fan_in_fan_out` the base
/// weight is `in × out` and takes ΔWᵀ), each value computed in f64 and rounded once to the
/// base tensor's type; every other tensor is copied byte for byte. `out` is a `.safetensors`
/// file or a directory (sharded above `shard_size`, with the base's side files).
///
/// # Errors
/// A module the base lacks, a shape that disagrees, a non-float target, I/O errors.
pub fn apply(
    base: &Path,
    adapter: &Adapter,
    weight: f64,
    out: &Path,
    shard_size: u64,
) -> Result<ApplyReport> {
    use crate::io::{is_file_output, OutputTensor, OutputWriter};
    let files = ModelFiles::open(base)?;
    let mut targets: BTreeMap<String, &str> = BTreeMap::new();
    for m in adapter.modules.keys() {
        let name = format!("{m}.weight");
        let t = files.tensor(&name).map_err(|_| {
            ModelError::tensor(
                &name,
                format!(
                    "is missing from {}: the adapter {} targets module `{m}`",
                    base.display(),
                    adapter.dir.display()
                ),
            )
        })?;
        let f = &adapter.modules[m];
        let want = if adapter.fan_in_fan_out {
            vec![f.fan_in, f.fan_out]
        } else {
            vec![f.fan_out, f.fan_in]
        };
        if t.shape != want {
            return Err(ModelError::tensor(
                &name,
                format!(
                    "has shape {:?} but the adapter's update is {:?}{}",
                    t.shape,
                    want,
                    if adapter.fan_in_fan_out {
                        " (fan_in_fan_out)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        if !t.dtype.is_computable() {
            return Err(ModelError::tensor(
                &name,
                format!("has dtype {}, not a float type", t.dtype),
            ));
        }
        targets.insert(name, m);
    }
    let decl: Vec<OutputTensor> = files
        .tensors()
        .values()
        .map(|t| OutputTensor {
            name: t.name.clone(),
            dtype: t.dtype,
            shape: t.shape.clone(),
        })
        .collect();
    let mut meta = files.metadata().clone();
    meta.insert(
        "crdt_merge.lora_applied".into(),
        format!("{}:{weight}", hex(&adapter.id)),
    );
    let writer = OutputWriter::create(out, decl, meta, shard_size)?;
    let (mut updated, mut copied) = (0, 0);
    let mut buf = Vec::new();
    for (name, t) in files.tensors() {
        buf.clear();
        match targets.get(name) {
            Some(m) => {
                let f = &adapter.modules[*m];
                let mut w = vec![0.0; t.numel()];
                files.read_f64(name, 0, &mut w)?;
                let d = f.delta(weight * adapter.scales[*m]);
                if adapter.fan_in_fan_out {
                    for i in 0..f.fan_out {
                        for j in 0..f.fan_in {
                            w[j * f.fan_out + i] += d[i * f.fan_in + j];
                        }
                    }
                } else {
                    for (x, y) in w.iter_mut().zip(&d) {
                        *x += y;
                    }
                }
                narrow(t.dtype, &w, &mut buf);
                updated += 1;
            }
            None => {
                files.read_raw(name, 0, t.numel(), &mut buf)?;
                copied += 1;
            }
        }
        writer.write(name, 0, &buf)?;
    }
    let mut written = writer.finish()?;
    if !is_file_output(out) {
        if let Some(dir) = files.dir() {
            for n in crate::io::copy_side_files(dir, out)? {
                written.push(out.join(n));
            }
        }
    }
    Ok(ApplyReport {
        files: written,
        updated,
        copied,
    })
}
