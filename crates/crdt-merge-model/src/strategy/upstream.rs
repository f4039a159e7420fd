//! The Python crdt-merge's strategies (`../shared/research/upstream.md` §12.3): the 20 names
//! mergekit does not use, with upstream's parameter names and defaults and the maths fixed where it
//! is wrong; the squared-weights stand-ins `upstream_fisher_merge` / `upstream_regression_mean`;
//! and the `upstream_*` compat names that reproduce 0.11.0 exactly.
//!
//! Conventions: models arrive sorted by contribution id and every loop runs in that order;
//! weights default to 1 and are normalised to sum 1 as upstream does (a zero sum is an error);
//! seeds come from the job (`--seed`), so upstream's `seed` keyword is not a parameter here;
//! callable parameters (`fitness_fn`, `eval_fn`) are not parameters either.

use crate::error::Result;
use crate::params::{ParamKind, ParamSpec};
use crate::strategy::{BaseRule, DataNeed, Kind, Origin, StrategySpec, TensorJob, WeightRule};

pub(crate) mod common;
mod compat;
mod data;
mod lowrank;
mod search;
mod sparse;

const DARE_PARAMS: &[ParamSpec] = &[ParamSpec::num(
    "drop_rate",
    0.9,
    "probability of dropping each task-vector entry",
)];
const BREADCRUMBS_PARAMS: &[ParamSpec] = &[
    ParamSpec::num("sparsity", 0.9, "fraction of each task vector zeroed"),
    ParamSpec::choice(
        "mask_method",
        &["magnitude", "random"],
        "magnitude",
        "keep the largest entries, or a random (Philox) subset",
    ),
];
const EMR_PARAMS: &[ParamSpec] = &[
    ParamSpec::num("elect_ratio", 0.3, "fraction of each task vector elected"),
    ParamSpec::choice(
        "importance_metric",
        &["magnitude"],
        "magnitude",
        "election metric (only magnitude, as upstream)",
    ),
];
const STAR_PARAMS: &[ParamSpec] = &[
    ParamSpec::num("rank_fraction", 0.5, "fraction of singular values kept"),
    ParamSpec::choice(
        "rescale_method",
        &["energy", "none"],
        "energy",
        "energy: rescale to keep the Frobenius norm",
    ),
];
const KNOT_PARAMS: &[ParamSpec] = &[
    ParamSpec::optional(
        "rank",
        ParamKind::Num,
        "rank kept per task vector (none = full)",
    ),
    ParamSpec::choice(
        "alignment_method",
        &["procrustes", "none"],
        "procrustes",
        "rotate each U onto the first model's",
    ),
];
const ADARANK_PARAMS: &[ParamSpec] = &[
    ParamSpec::optional(
        "target_rank",
        ParamKind::Num,
        "rank kept (none = upstream's \"auto\": 90% of the energy)",
    ),
    ParamSpec::choice(
        "importance",
        &["energy", "variance"],
        "energy",
        "accepted as upstream; both rank by energy",
    ),
];
const FISHER_PARAMS: &[ParamSpec] = &[];
const REGMEAN_PARAMS: &[ParamSpec] = &[ParamSpec::num(
    "regularization",
    0.01,
    "off-diagonal shrink α of each Gram matrix: G̃ = (1−α)G + α·diag(G)",
)];
const STAND_IN_REGMEAN_PARAMS: &[ParamSpec] = &[ParamSpec::num(
    "regularization",
    0.01,
    "λ in the element weights θ² + λ",
)];
const ADA_PARAMS: &[ParamSpec] = &[
    ParamSpec::choice(
        "granularity",
        &["task", "layer"],
        "task",
        "accepted as upstream (unused there too)",
    ),
    ParamSpec::num("learning_rate", 0.01, "step toward the inverse-MSE target"),
    ParamSpec::num("steps", 100.0, "number of updates"),
];
const DAM_PARAMS: &[ParamSpec] = &[
    ParamSpec::num("learning_rate", 0.01, "step toward the inverse-MSE target"),
    ParamSpec::num("steps", 50.0, "number of updates"),
];
const EVO_PARAMS: &[ParamSpec] = &[
    ParamSpec::num("population_size", 20.0, "individuals per generation"),
    ParamSpec::num("generations", 50.0, "generations"),
];
const GENETIC_PARAMS: &[ParamSpec] = &[
    ParamSpec::num("population_size", 20.0, "individuals per generation"),
    ParamSpec::num("generations", 50.0, "generations"),
    ParamSpec::num(
        "mutation_rate",
        0.1,
        "per-gene mutation probability and noise σ",
    ),
];
const NEGATIVE_PARAMS: &[ParamSpec] = &[
    ParamSpec::num("scaling", 1.0, "scale of the negated task vectors"),
    ParamSpec::optional(
        "models_to_negate",
        ParamKind::TextList,
        "labels of the models to negate (none = all)",
    ),
];
const SPLIT_PARAMS: &[ParamSpec] = &[
    ParamSpec::num("target_fraction", 0.1, "fraction of coordinates unlearned"),
    ParamSpec::choice(
        "subspace_method",
        &["magnitude", "random"],
        "magnitude",
        "smallest mean |τ|, or a random (Philox) subset",
    ),
];
const WSA_PARAMS: &[ParamSpec] = &[
    ParamSpec::choice(
        "scope_method",
        &["zscore", "minmax", "unit"],
        "zscore",
        "how each model is normalised",
    ),
    ParamSpec::choice(
        "target_distribution",
        &["mean", "first", "base"],
        "mean",
        "statistics the result is mapped back to",
    ),
];
const SURGERY_PARAMS: &[ParamSpec] = &[ParamSpec::choice(
    "correction_method",
    &["center", "rescale", "whiten", "none"],
    "center",
    "bias correction applied to Σwθ",
)];
const SAFE_PARAMS: &[ParamSpec] = &[ParamSpec::num(
    "safety_threshold",
    0.1,
    "fraction of highest-variance coordinates reverted to the base",
)];
const DUAL_PARAMS: &[ParamSpec] = &[
    ParamSpec::num(
        "stability_weight",
        0.5,
        "how much task-specific change is dropped",
    ),
    ParamSpec::num(
        "rank_fraction",
        0.5,
        "fraction of singular directions shared",
    ),
];
const LINEAR_PARAMS: &[ParamSpec] = &[ParamSpec::num(
    "t",
    0.5,
    "interpolation factor of each fold step",
)];
const TA_PARAMS: &[ParamSpec] = &[ParamSpec::optional(
    "scaling_coefficients",
    ParamKind::NumList,
    "one scale per model, in sorted order (none = all 1)",
)];
const TIES_PARAMS: &[ParamSpec] = &[
    ParamSpec::num("density", 0.2, "fraction of each task vector kept"),
    ParamSpec::choice(
        "majority_sign_method",
        &["count", "magnitude"],
        "count",
        "sign election",
    ),
];
const DARE_TIES_PARAMS: &[ParamSpec] = &[
    ParamSpec::num("drop_rate", 0.9, "DARE drop probability"),
    ParamSpec::num("density", 0.2, "TIES trim density"),
];
const DELLA_PARAMS: &[ParamSpec] = &[
    ParamSpec::num("drop_rate", 0.9, "base drop probability"),
    ParamSpec::num("epsilon", 0.1, "added to every drop probability"),
];

const EXACT: &str = "bit-identical in any order";
const SVD_GUARANTEE: &str = "bit-identical in any order on one machine (faer SVD, sequential, \
     signs fixed); across CPUs expected within about 1e-12 relative, not measured (faer's SIMD kernels differ)";

#[allow(clippy::too_many_arguments)]
fn spec(
    name: &'static str,
    origin: Origin,
    base: BaseRule,
    weights: WeightRule,
    kind: Kind,
    stochastic: bool,
    data: DataNeed,
    params: &'static [ParamSpec],
    formula: &'static str,
    guarantee: &'static str,
    differs: &'static str,
    merge: fn(&TensorJob<'_>) -> Result<Vec<f64>>,
) -> StrategySpec {
    StrategySpec {
        name,
        origin,
        base,
        weights,
        kind,
        stochastic,
        data,
        min_models: 1,
        max_models: None,
        params,
        formula,
        guarantee,
        differs,
        merge,
    }
}

/// Upstream's strategies.
pub(crate) fn specs() -> Vec<StrategySpec> {
    use BaseRule::{Optional, Required, Unused};
    use DataNeed as D;
    use Kind::{Elementwise as E, Tensor as T};
    use Origin::{Upstream as U, UpstreamCompat as C};
    use WeightRule::{DefaultOne as W1, Unused as W0};
    vec![
        spec("weight_average", U, Unused, W1, E, false, D::None, &[],
            "Σ wᵢθᵢ with w normalised to sum 1 (uniform by default)",
            "element-wise; bit-identical in any order", "", weight_average),
        spec("dare", U, Required, W1, E, true, D::None, DARE_PARAMS,
            "b + Σ wᵢ·mᵢ⊙τᵢ/(1−p), mᵢ a Philox keep mask with probability 1−p",
            "element-wise; masks per (contribution, tensor, seed): bit-identical in any order and chunking",
            "masks from order-free Philox per contribution instead of one random.Random(42) stream over the models in order; one model gives b + m⊙τ/(1−p), not θ₁",
            sparse::dare),
        spec("model_breadcrumbs", U, Required, W1, T, true, D::None, BREADCRUMBS_PARAMS,
            "b + Σ wᵢ·τᵢ⊙[|τᵢ| ≥ pct(|τᵢ|, 100·sparsity)] (\"random\": a Philox mask, keep 1−sparsity)",
            EXACT,
            "like 0.11.0 (no outlier drop, unlike the paper); \"random\" masks from Philox, not random.Random(seed+i); one model gives b + masked τ, not θ₁",
            sparse::model_breadcrumbs),
        spec("emr", U, Required, W1, T, false, D::None, EMR_PARAMS,
            "m = Σ wᵢ·τᵢ⊙[|τᵢ| ≥ pct(|τᵢ|, 100(1−r))]; b + min(d/nnz(m), 1/r)·m",
            EXACT,
            "like 0.11.0 (not the paper's per-task masks); one model gives b + scaled elected τ, not θ₁",
            sparse::emr),
        spec("star", U, Required, W1, T, false, D::None, STAR_PARAMS,
            "b + Σ wᵢ·rank-k(τᵢ)·√(‖S‖²/‖S_k‖²), k = max(1, ⌊r·rank_fraction⌋) (vectors: top-k entries)",
            SVD_GUARANTEE,
            "like 0.11.0; one model gives b + truncated τ, not θ₁",
            lowrank::star),
        spec("svd_knot_tying", U, Required, W1, T, false, D::None, KNOT_PARAMS,
            "b + Σ wᵢ·(UᵢR)SᵢVᵢᵀ, R = polar(UᵢᵀU₁) aligning each U to the first (sorted) model's",
            SVD_GUARANTEE,
            "singular-vector signs fixed (largest |component| of each u positive): 0.11.0's result depends on LAPACK's sign choice; one model gives θ₁ − b + b",
            lowrank::svd_knot_tying),
        spec("adarank", U, Required, W1, T, false, D::None, ADARANK_PARAMS,
            "b + Σ wᵢ·rank-k(τᵢ), k the smallest rank with 90% of the energy (or target_rank)",
            SVD_GUARANTEE,
            "like 0.11.0 (target_rank \"auto\" is written as no value); one model gives b + pruned τ, not θ₁",
            lowrank::adarank),
        spec("fisher_merge", U, Unused, W1, E, false, D::Fisher, FISHER_PARAMS,
            "Σ wᵢFᵢθᵢ / Σ wᵢFᵢ with supplied Fisher diagonals Fᵢ (Σ wᵢθᵢ where all Fᵢ = 0)",
            "element-wise; bit-identical in any order",
            "0.11.0 ignores weights and, without fisher_matrices, uses θ² (see upstream_fisher_merge); here Fisher diagonals are required",
            data::fisher_merge),
        spec("regression_mean", U, Unused, W1, T, false, D::Gram, REGMEAN_PARAMS,
            "W* = (Σ wᵢWᵢG̃ᵢ)(Σ wᵢG̃ᵢ)⁻¹, G̃ = (1−α)G + α·diag(G); 1-D tensors: Σ wᵢθᵢ",
            "bit-identical in any order on one machine (faer LU); across CPUs expected within about 1e-12 relative, not measured",
            "real RegMean from supplied Gram matrices; 0.11.0 uses element weights θ² + λ and ignores weights (see upstream_regression_mean)",
            data::regression_mean),
        spec("ada_merging", U, Unused, W0, T, false, D::None, ADA_PARAMS,
            "Σ cᵢθᵢ, c from entropy then `steps` inverse-MSE updates",
            EXACT,
            "0.11.0's numpy path (its pure-Python path skips the updates); weights unused there and here",
            search::ada_merging),
        spec("dam", U, Unused, W1, T, false, D::None, DAM_PARAMS,
            "Σ cᵢθᵢ, c from the normalised weights then `steps` inverse-MSE updates",
            EXACT,
            "0.11.0 always starts from uniform c; here from the weights (uniform by default: identical)",
            search::dam),
        spec("evolutionary_merge", U, Unused, W0, T, true, D::None, EVO_PARAMS,
            "Σ cᵢθᵢ, c the fittest of an elitist evolution (fitness −var(Σcθ))",
            "draws keyed on (sorted contribution ids, tensor, seed): bit-identical in any order",
            "draws from Philox instead of random.Random(42) (a different search path); initial coefficients normalised to sum 1 after clipping (0.11.0 divides by Σ|c|, favouring shrunken merges); fitness_fn is Python-only",
            search::evolutionary_merge),
        spec("genetic_merge", U, Unused, W0, T, true, D::None, GENETIC_PARAMS,
            "Σ cᵢθᵢ, c the fittest of a genetic search (tournament 3, uniform crossover, fitness −var(Σcθ))",
            "draws keyed on (sorted contribution ids, tensor, seed): bit-identical in any order",
            "draws from Philox instead of random.Random(42) (a different search path); fitness_fn is Python-only",
            search::genetic_merge),
        spec("negative_merge", U, Required, W1, E, false, D::None, NEGATIVE_PARAMS,
            "b + Σᵢ (−s·wᵢτᵢ if negated else wᵢτᵢ)",
            "element-wise; bit-identical in any order",
            "models_to_negate names model labels (0.11.0: list positions)",
            sparse::negative_merge),
        spec("split_unlearn_merge", U, Required, W1, T, true, D::None, SPLIT_PARAMS,
            "b + Σ wᵢτᵢ with the coordinates of smallest mean |τ| (k = max(1, ⌊d·f⌋)) zeroed",
            EXACT,
            "\"random\" masks from Philox (shared, keyed without contribution ids), not random.Random(seed); one model gives b + cleaned τ, not θ₁",
            sparse::split_unlearn_merge),
        spec("weight_scope_alignment", U, Optional, W1, T, false, D::None, WSA_PARAMS,
            "de-normalise(Σ wᵢ·normalise(θᵢ)) to the target statistics",
            EXACT,
            "\"first\" is the first model by contribution id (0.11.0: by position)",
            lowrank::weight_scope_alignment),
        spec("representation_surgery", U, Unused, W1, T, false, D::None, SURGERY_PARAMS,
            "Σ wᵢθᵢ with its mean (center), variance (rescale) or column covariance (whiten) corrected",
            "center/rescale: bit-identical in any order; whiten: on one machine (faer SVD), across CPUs expected within about 1e-12 relative, not measured",
            "",
            lowrank::representation_surgery),
        spec("safe_merge", U, Required, W1, T, false, D::None, SAFE_PARAMS,
            "Σ wᵢθᵢ, except the top max(1, ⌊d·t⌋) coordinates by variance across models take b",
            EXACT,
            "one model gives Σwθ with its top-variance (all zero) coordinates from b, not θ₁; base_index is not a parameter (unused in 0.11.0)",
            sparse::safe_merge),
        spec("led_merge", U, Unused, W1, E, false, D::None, &[],
            "per coordinate, the input closest to Σwᵢθᵢ/Σwᵢ (ties: the smaller value)",
            "element-wise; bit-identical in any order",
            "the reference is the weighted mean (0.11.0 ignores weights: identical with uniform weights); eval_fn is Python-only",
            sparse::led_merge),
        spec("dual_projection", U, Optional, W1, T, false, D::None, DUAL_PARAMS,
            "b + Σ wᵢVₖVₖᵀΔᵢ + (1−stability)·Σ wᵢ(Δᵢ − VₖVₖᵀΔᵢ), Vₖ the top right singular vectors of Δ",
            SVD_GUARANTEE,
            "",
            lowrank::dual_projection),
        spec("upstream_fisher_merge", C, Unused, W0, E, false, D::None, FISHER_PARAMS,
            "Σ θᵢ²θᵢ / max(Σ θᵢ², 1e-12) (0.11.0's stand-in for Fisher)",
            "element-wise; bit-identical in any order",
            "", data::upstream_fisher_merge),
        spec("upstream_regression_mean", C, Unused, W0, E, false, D::None, STAND_IN_REGMEAN_PARAMS,
            "Σ (θᵢ²+λ)θᵢ / max(Σ (θᵢ²+λ), 1e-12) (0.11.0's stand-in for RegMean)",
            "element-wise; bit-identical in any order",
            "", data::upstream_regression_mean),
        spec("upstream_linear", C, Unused, W0, E, false, D::None, LINEAR_PARAMS,
            "left fold r ← (1−t)·r + t·θₖ (the last model weighs t, the first t^(n−1))",
            "element-wise; depends on the models' order (sorted contribution id in a state)",
            "", compat::upstream_linear),
        spec("upstream_slerp", C, Unused, W0, T, false, D::None, LINEAR_PARAMS,
            "left fold of pairwise SLERP of directions with lerp of magnitudes",
            "depends on the models' order (sorted contribution id in a state)",
            "", compat::upstream_slerp),
        spec("upstream_task_arithmetic", C, Required, W0, E, false, D::None, TA_PARAMS,
            "b + Σ sᵢτᵢ (weights ignored)",
            "element-wise; bit-identical in any order (sᵢ follow the sorted order)",
            "", compat::upstream_task_arithmetic),
        spec("upstream_ties", C, Required, W1, T, false, D::None, TIES_PARAMS,
            "b + Σ wᵢ·agreeing trimmed τᵢ / count (0.11.0's 1/n bug: two identical models at density 1 give b + τ/2)",
            EXACT,
            "", compat::upstream_ties),
        spec("upstream_dare_ties", C, Required, W1, T, true, D::None, DARE_TIES_PARAMS,
            "DARE with one MT19937 stream (random.Random(seed), seed = --seed; 0.11.0's state default is 42) over the models in order, then 0.11.0's TIES",
            "reproduces 0.11.0 bit for bit; the masks depend on the models' order (order-coupled by design)",
            "", compat::upstream_dare_ties),
        spec("upstream_della", C, Required, W1, T, true, D::None, DELLA_PARAMS,
            "b + Σ wᵢ·mᵢ⊙τᵢ/(1−p), model i's mask from random.Random(seed + i) (seed = --seed; 0.11.0's default 42), drop clip(p(1−|τ|/max|τ|)+ε)",
            "reproduces 0.11.0 bit for bit; the masks depend on the models' positions (order-coupled by design)",
            "", compat::upstream_della),
    ]
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
    common::check(job)?;
    let w = normalised_weights(job)?;
    let mut out = vec![0.0; job.len()];
    for (m, wi) in job.models.iter().zip(&w) {
        for (o, x) in out.iter_mut().zip(m.data) {
            *o += wi * x;
        }
    }
    Ok(out)
}
