//! mergekit 0.1.5's merge methods, with mergekit's names, parameters, defaults and numbers
//! (`../shared/research/model-merge.md` §1). Where mergekit draws from torch's global RNG, the
//! draws come from [`crate::philox`] instead (order-free); everything else matches mergekit on f32
//! inputs to about 1e-7.

use crate::error::Result;
use crate::params::ParamSpec;
use crate::strategy::{BaseRule, DataNeed, Kind, Origin, StrategySpec, TensorJob, WeightRule};

const LINEAR_PARAMS: &[ParamSpec] = &[ParamSpec::flag(
    "normalize",
    true,
    "divide by the sum of weights",
)];

/// mergekit's strategies.
pub(crate) fn specs() -> Vec<StrategySpec> {
    vec![StrategySpec {
        name: "linear",
        origin: Origin::Mergekit,
        base: BaseRule::Unused,
        weights: WeightRule::Required,
        kind: Kind::Elementwise,
        stochastic: false,
        data: DataNeed::None,
        min_models: 1,
        max_models: None,
        params: LINEAR_PARAMS,
        formula: "Σ wᵢθᵢ / Σ wᵢ (without normalize: Σ wᵢθᵢ)",
        guarantee: "element-wise; bit-identical in any order",
        differs: "upstream `linear` is a left fold with t = 0.5: see `upstream_linear`",
        merge: linear,
    }]
}

fn linear(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let normalize = job.params.flag("normalize")?;
    let n = job.len();
    let mut out = vec![0.0; n];
    for m in job.models {
        for (o, x) in out.iter_mut().zip(m.data) {
            *o += m.weight * x;
        }
    }
    if normalize {
        let total: f64 = job.models.iter().map(|m| m.weight).sum();
        // mergekit divides by Σw unless it is (almost) zero.
        let div = if total.abs() < 1e-8 { 1.0 } else { total };
        out.iter_mut().for_each(|o| *o /= div);
    }
    Ok(out)
}
