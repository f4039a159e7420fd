//! The coordinate-wise robust rules of [`crate::robust`] as element-wise strategies, so a
//! federated or trust-gated merge of whole models can use them (`--strategy median`).
//!
//! They are not in [`super::registry`] (the table of mergekit's and the Python library's names
//! that `model strategies` prints) but [`super::lookup`] finds them. Krum and Multi-Krum are not
//! here: they select whole contributions by distances over the entire model, which is not a
//! per-tensor computation (the trust gate's `model_robust` applies them to flat vectors).

use super::{BaseRule, DataNeed, Kind, Origin, StrategySpec, TensorJob, WeightRule};
use crate::error::Result;
use crate::params::{Default as ParamDefault, ParamKind, ParamSpec, Scope};
use crate::robust::{aggregate, RobustRule};

const TRIM_PARAMS: &[ParamSpec] = &[ParamSpec {
    name: "trim",
    scope: Scope::Shared,
    kind: ParamKind::Num,
    default: ParamDefault::Num(1.0),
    doc: "values dropped at each end of every coordinate (a whole number; tolerates that many Byzantine models)",
}];

fn rule_of(job: &TensorJob<'_>) -> Result<RobustRule> {
    Ok(match job.strategy {
        "median" => RobustRule::Median,
        _ => {
            let t = job.params.num("trim")?;
            if !(t >= 0.0 && t.fract() == 0.0 && t < u32::MAX as f64) {
                return Err(job.error(format!("trim = {t}: expected a whole number ≥ 0")));
            }
            RobustRule::TrimmedMean { trim: t as usize }
        }
    })
}

fn merge(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let rule = rule_of(job)?;
    let inputs: Vec<&[f64]> = job.models.iter().map(|m| m.data).collect();
    aggregate(rule, &inputs)
        .map(|o| o.values)
        .map_err(|e| job.error(e.to_string()))
}

fn spec(name: &'static str, params: &'static [ParamSpec], formula: &'static str) -> StrategySpec {
    StrategySpec {
        name,
        origin: Origin::Robust,
        base: BaseRule::Unused,
        weights: WeightRule::Unused,
        kind: Kind::Elementwise,
        stochastic: false,
        data: DataNeed::None,
        min_models: 1,
        max_models: None,
        params,
        formula,
        guarantee: "element-wise; a function of the multiset of values at each coordinate: bit-identical in any order",
        differs: "",
        merge,
    }
}

/// The robust strategies.
pub(crate) fn specs() -> Vec<StrategySpec> {
    vec![
        spec(
            "median",
            &[],
            "coordinate-wise median (mean of the two middle values for an even count); tolerates f < n/2",
        ),
        spec(
            "trimmed_mean",
            TRIM_PARAMS,
            "coordinate-wise mean after dropping the `trim` smallest and largest values; tolerates f ≤ trim",
        ),
    ]
}
