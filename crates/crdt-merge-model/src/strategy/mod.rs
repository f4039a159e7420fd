//! The strategy registry: every strategy by name, with its parameters, rules and merge function.
//!
//! A strategy merges one tensor (or, for [`Kind::Elementwise`], one chunk of a tensor) given in
//! f64. Inputs arrive sorted by contribution id, so a strategy that loops over them in the order
//! given is order-free; every reduction goes through [`crate::reduce`] and every random draw through
//! [`crate::philox`], so equal inputs give equal bits on every machine.
//!
//! Names: mergekit's methods keep mergekit's names, parameters and defaults (`mergekit`); the
//! Python crdt-merge's other 20 keep its names and defaults with the maths fixed (`upstream`);
//! `upstream_linear` ... `upstream_della` reproduce crdt-merge 0.11.0 exactly, bugs included
//! (`upstream_compat`).

use std::sync::OnceLock;

use crate::error::{ModelError, Result};
use crate::params::{Default as ParamDefault, ParamSpec, ParamValue, Params, Scope};

pub mod mergekit;
pub mod robust;
pub mod upstream;

/// Where a strategy's name and maths come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// mergekit 0.1.5's method of that name (six names are also upstream names: mergekit's maths
    /// wins, the upstream maths is `upstream_<name>`).
    Mergekit,
    /// The Python crdt-merge's strategy of that name, maths fixed where it is wrong.
    Upstream,
    /// crdt-merge 0.11.0's maths exactly, for parity (`upstream_*`).
    UpstreamCompat,
    /// A Byzantine-robust rule (`median`, `trimmed_mean`): not in [`registry`], found by
    /// [`lookup`].
    Robust,
}

impl Origin {
    /// The label shown in `model strategies`.
    pub fn label(self) -> &'static str {
        match self {
            Origin::Mergekit => "mergekit",
            Origin::Upstream => "crdt-merge",
            Origin::UpstreamCompat => "crdt-merge 0.11.0",
            Origin::Robust => "robust",
        }
    }
}

/// Whether a strategy needs a base model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseRule {
    /// An error without one.
    Required,
    /// Used when given.
    Optional,
    /// Ignored (a base given is not an input).
    Unused,
}

/// How a strategy uses per-model weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightRule {
    /// Every model must have a weight (mergekit); an error naming the model otherwise.
    Required,
    /// Defaults to 1 for every model (upstream strategies normalise them).
    DefaultOne,
    /// Not used (given weights are ignored; the docs say so).
    Unused,
}

/// How much of a tensor a strategy must see at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Each output element depends only on the same element of the inputs (and its index): the
    /// driver feeds fixed-size chunks with [`TensorJob::offset`] set.
    Elementwise,
    /// Needs whole-tensor statistics (norms, ranks, thresholds, SVD): one whole tensor per call.
    Tensor,
}

/// Extra per-model inputs a data-aware strategy needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataNeed {
    /// Nothing.
    None,
    /// Fisher diagonals (`--fisher MODEL=FILE`, same tensor names and shapes).
    Fisher,
    /// Gram matrices (`--gram MODEL=FILE`, `<weight>.gram`, in × in for a 2-D weight).
    Gram,
}

/// One model's input to a tensor merge.
#[derive(Clone, Copy, Debug)]
pub struct ModelInput<'a> {
    /// The model's label (as written on the command line, or the state's `--id`).
    pub label: &'a str,
    /// Its contribution id (blake3; see [`crate::contribution_id`]).
    pub id: &'a [u8; 32],
    /// The tensor (or chunk) values.
    pub data: &'a [f64],
    /// Its weight for this tensor (1 where the strategy's rule is `DefaultOne` and none was given).
    pub weight: f64,
    /// Its per-model parameters resolved for this tensor.
    pub params: &'a Params,
    /// Its Fisher diagonal for this tensor, when the strategy needs one.
    pub fisher: Option<&'a [f64]>,
    /// Its Gram matrix for this tensor (in × in, row-major), when the strategy needs one.
    pub gram: Option<&'a [f64]>,
}

/// One tensor (or chunk) to merge.
#[derive(Clone, Copy, Debug)]
pub struct TensorJob<'a> {
    /// The strategy name (for errors).
    pub strategy: &'a str,
    /// The tensor name.
    pub name: &'a str,
    /// The tensor's full shape.
    pub shape: &'a [usize],
    /// The first element's index in the tensor (0 for [`Kind::Tensor`]).
    pub offset: usize,
    /// The base tensor (or chunk), when there is one and the strategy uses it.
    pub base: Option<&'a [f64]>,
    /// The non-base models, sorted by contribution id.
    pub models: &'a [ModelInput<'a>],
    /// Shared parameters resolved for this tensor.
    pub params: &'a Params,
    /// The seed (stored in a state; `--seed`).
    pub seed: u64,
}

impl TensorJob<'_> {
    /// Number of elements in this call.
    pub fn len(&self) -> usize {
        self.models
            .first()
            .map(|m| m.data.len())
            .or(self.base.map(|b| b.len()))
            .unwrap_or(0)
    }

    /// Whether this call has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The base, or an error naming the strategy (for strategies that require one).
    pub fn require_base(&self) -> Result<&[f64]> {
        self.base.ok_or_else(|| {
            ModelError::invalid(format!(
                "strategy `{}` needs a base model (--base)",
                self.strategy
            ))
        })
    }

    /// An error about this tensor.
    pub fn error(&self, message: impl Into<String>) -> ModelError {
        ModelError::tensor(
            self.name,
            format!("strategy `{}`: {}", self.strategy, message.into()),
        )
    }
}

/// A strategy's merge function: the merged values of the job's elements.
pub type MergeFn = fn(&TensorJob<'_>) -> Result<Vec<f64>>;

/// Everything known about one strategy.
#[derive(Clone, Copy, Debug)]
pub struct StrategySpec {
    /// Its name.
    pub name: &'static str,
    /// Where name and maths come from.
    pub origin: Origin,
    /// Base rule.
    pub base: BaseRule,
    /// Weight rule.
    pub weights: WeightRule,
    /// Chunked or whole tensor.
    pub kind: Kind,
    /// Whether it draws random numbers (from the seed and contribution ids).
    pub stochastic: bool,
    /// Extra per-model data it needs.
    pub data: DataNeed,
    /// Fewest non-base models.
    pub min_models: usize,
    /// Most non-base models, if limited.
    pub max_models: Option<usize>,
    /// Its parameters (`weight` is not listed: it follows [`StrategySpec::weights`]).
    pub params: &'static [ParamSpec],
    /// The formula, one line.
    pub formula: &'static str,
    /// What its resolve guarantees (order, determinism).
    pub guarantee: &'static str,
    /// For upstream names: how it differs from crdt-merge 0.11.0 (empty if it does not).
    pub differs: &'static str,
    /// The merge function.
    pub merge: MergeFn,
}

/// Every strategy, in the order `model strategies` prints them (mergekit's, then upstream's, then
/// the `upstream_*` compat names).
pub fn registry() -> &'static [StrategySpec] {
    static REGISTRY: OnceLock<Vec<StrategySpec>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut all = mergekit::specs();
        all.extend(upstream::specs());
        all
    })
}

/// Every strategy name, comma separated (for errors).
pub fn valid_names() -> String {
    registry()
        .iter()
        .chain(robust_rules())
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The coordinate-wise robust rules as strategies (`median`, `trimmed_mean`; the federated and
/// trust-gated merges use them), kept out of [`registry`]: that table is mergekit's and the
/// Python library's names.
pub fn robust_rules() -> &'static [StrategySpec] {
    static ROBUST: OnceLock<Vec<StrategySpec>> = OnceLock::new();
    ROBUST.get_or_init(robust::specs)
}

/// The strategy called `name`, or an error listing the valid names.
pub fn lookup(name: &str) -> Result<&'static StrategySpec> {
    registry()
        .iter()
        .chain(robust_rules())
        .find(|s| s.name == name)
        .ok_or_else(|| ModelError::UnknownStrategy {
            name: name.to_string(),
            valid: valid_names(),
        })
}

impl StrategySpec {
    /// Names of its parameters (with `weight`), for errors.
    pub fn param_names(&self) -> String {
        let mut names: Vec<&str> = self.params.iter().map(|p| p.name).collect();
        if self.weights != WeightRule::Unused {
            names.push("weight");
        }
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    }

    /// The declared parameter `name`, or an error listing the valid ones.
    pub fn param(&self, name: &str) -> Result<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name).ok_or_else(|| {
            ModelError::param(
                self.name,
                name,
                format!(
                    "unknown parameter; valid parameters: {}",
                    self.param_names()
                ),
            )
        })
    }

    /// Resolves given values for one tensor into checked parameters with defaults filled:
    /// `shared` are top-level values, `model` (for per-model resolution) a model's own values,
    /// which win over `shared` for per-model parameters. `weight` is skipped (the driver reads it).
    pub fn resolve(
        &self,
        shared: &[(String, ParamValue)],
        model: Option<&[(String, ParamValue)]>,
    ) -> Result<Params> {
        let mut out = Params::new(self.name);
        for (k, v) in shared.iter().chain(model.unwrap_or(&[]).iter()) {
            if k == "weight" {
                continue;
            }
            let spec = self.param(k)?;
            spec.check(self.name, v)?;
        }
        for spec in self.params {
            let wanted = !matches!(
                (model, spec.scope),
                (Some(_), Scope::Shared) | (None, Scope::PerModel)
            );
            // Per-model values are visible to the shared resolution too, and shared values to
            // per-model resolution, so a strategy can read either from where it expects them.
            let given = model
                .and_then(|m| m.iter().rev().find(|(k, _)| k == spec.name))
                .or_else(|| shared.iter().rev().find(|(k, _)| k == spec.name))
                .map(|(_, v)| v.clone());
            let value = match (given, spec.default) {
                (Some(v), _) => Some(v),
                (None, ParamDefault::Num(x)) => Some(ParamValue::Num(x)),
                (None, ParamDefault::Bool(b)) => Some(ParamValue::Bool(b)),
                (None, ParamDefault::Text(t)) => Some(ParamValue::Text(t.to_string())),
                (None, ParamDefault::Absent) => None,
                (None, ParamDefault::Required) => {
                    if wanted {
                        return Err(ModelError::param(self.name, spec.name, "is required"));
                    }
                    None
                }
            };
            if let Some(v) = value {
                out.set(spec.name, v);
            }
        }
        Ok(out)
    }
}

impl BaseRule {
    /// How tables show it.
    pub fn label(self) -> &'static str {
        match self {
            BaseRule::Required => "required",
            BaseRule::Optional => "optional",
            BaseRule::Unused => "no",
        }
    }
}

impl WeightRule {
    /// How tables show it.
    pub fn label(self) -> &'static str {
        match self {
            WeightRule::Required => "required",
            WeightRule::DefaultOne => "default 1",
            WeightRule::Unused => "unused",
        }
    }
}

impl StrategySpec {
    /// Its parameters with defaults, for tables (`density=1, lambda=1 (per model)`).
    pub fn params_text(&self) -> String {
        let list: Vec<String> = self
            .params
            .iter()
            .map(|p| {
                let scope = if p.scope == Scope::PerModel {
                    " (per model)"
                } else {
                    ""
                };
                format!("{}={}{scope}", p.name, p.default_text())
            })
            .collect();
        if list.is_empty() {
            "-".to_string()
        } else {
            list.join(", ")
        }
    }
}

/// The strategy table of `docs/model.md`, generated from the registry (a test checks the page
/// holds exactly this; `UPDATE_DOCS=1 cargo test -p crdt-merge-model --lib docs` rewrites it).
pub fn markdown_table() -> String {
    let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
    let mut out = String::from(
        "| strategy | from | formula | parameters (defaults) | base | weights | guarantee | differs from crdt-merge 0.11.0 |\n|---|---|---|---|---|---|---|---|\n",
    );
    for s in registry() {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |\n",
            s.name,
            s.origin.label(),
            cell(s.formula),
            cell(&s.params_text()),
            s.base.label(),
            s.weights.label(),
            cell(s.guarantee),
            if s.differs.is_empty() {
                "-".to_string()
            } else {
                cell(s.differs)
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_strategy_table_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/model.md");
        let page = std::fs::read_to_string(&path).expect("docs/model.md");
        let (begin, end) = ("<!-- strategies:begin -->\n", "<!-- strategies:end -->");
        let start = page.find(begin).expect("strategies:begin marker") + begin.len();
        let stop = page.find(end).expect("strategies:end marker");
        let table = markdown_table();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{}{}", &page[..start], table, &page[stop..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        assert_eq!(
            &page[start..stop],
            table,
            "docs/model.md is stale: run UPDATE_DOCS=1 cargo test -p crdt-merge-model --lib docs"
        );
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = registry().iter().map(|s| s.name).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }

    #[test]
    fn unknown_strategy_lists_valid_names() {
        let e = lookup("nope").unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("linear"), "{e}");
    }
}
