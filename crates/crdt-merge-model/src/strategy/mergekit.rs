//! mergekit 0.1.5's merge methods, with mergekit's names, parameters, defaults and numbers
//! (`../shared/research/model-merge.md` §1; mergekit's `merge_methods/*.py` and `sparsify.py`
//! are the oracle). Where mergekit draws from torch's global RNG (DARE, DELLA), the draws come
//! from [`crate::philox`] instead (order-free); everything else matches mergekit on f32 inputs to
//! about 1e-7 (we compute in f64, mergekit in f32).
//!
//! Parameter scopes follow mergekit: `SHARED` parameters are [`Scope::Shared`]; `INPUT` /
//! `NON_BASE` ones (density, gamma, epsilon, scale) are [`Scope::PerModel`]; `weight` follows
//! [`WeightRule`]. mergekit's `int8_mask` only changes the dtype of an internal mask and is
//! accepted for compatibility without any effect on the numbers.
//!
//! Where we deliberately differ from mergekit (each documented at the method):
//! - precision: f64 throughout, rounded once by the driver; mergekit's task-vector methods work
//!   in the base dtype (bf16 in, bf16 deltas), so on bf16 inputs a fraction of a percent of
//!   elements differ by one output ulp; on f32 inputs the fixtures agree to 4e-7;
//! - randomness: DARE (`dare_linear`, `dare_ties`) keeps element i iff its Philox draw is below
//!   ⌊density·2³²⌋; DELLA (`della`, `della_linear`) ranks |δ| along axis 1 (1-D: the whole
//!   vector; mergekit's `argsort(dim=1)`) with ties by index and keeps iff the draw is below
//!   ⌊p·2³²⌋, p = (d − ε) + 2ε·(r − 1)/(m − 1); a row of one element uses p = d where mergekit
//!   divides 0/0 and fails;
//! - ties in magnitude selections (ties, breadcrumbs, sce's variance top-k) follow the total
//!   order (|x| bits, index); mergekit's argsort is unstable there;
//! - `arcee_fusion` takes exact quantiles at every size; mergekit samples 1e6 elements with
//!   replacement above 1e6 elements (random, order-dependent);
//! - `multislerp` with weights summing to 0 is an error (mergekit divides by 0);
//! - the task-vector methods, `sce` and `ram` need at least one non-base model here (mergekit
//!   returns the base for none); `linear`, `karcher` and `passthrough` do not take a base
//!   (mergekit's `IGNORED` policy merges an input marked as base like any other input, so a
//!   mergekit config that does so maps to listing that model among the models here).

mod common;
pub(crate) mod gta;
mod misc;
pub(crate) mod sphere;

use crate::error::Result;
use crate::params::{Default as ParamDefault, ParamKind, ParamSpec, Scope};
use crate::strategy::{BaseRule, DataNeed, Kind, Origin, StrategySpec, TensorJob, WeightRule};

pub use gta::della_probability;

const LINEAR_PARAMS: &[ParamSpec] = &[ParamSpec::flag(
    "normalize",
    true,
    "divide by the sum of weights",
)];

const INT8_MASK: ParamSpec = ParamSpec::flag(
    "int8_mask",
    false,
    "store the sign mask as int8 (no effect on the numbers)",
);
const LAMBDA: ParamSpec = ParamSpec::num("lambda", 1.0, "scale of the merged task vector");
const DENSITY: ParamSpec = ParamSpec::per_model(
    "density",
    1.0,
    "fraction of the task vector kept (1 = no sparsification)",
);
const GAMMA: ParamSpec = ParamSpec::per_model(
    "gamma",
    0.01,
    "fraction of the largest |δ| dropped as outliers",
);
const EPSILON: ParamSpec = ParamSpec::per_model(
    "epsilon",
    0.15,
    "keep probabilities span density ± epsilon by |δ| rank",
);
const fn normalize(default: bool) -> ParamSpec {
    ParamSpec::flag(
        "normalize",
        default,
        "divide by the sum of (agreeing) weights",
    )
}
const fn rescale(default: bool) -> ParamSpec {
    ParamSpec::flag(
        "rescale",
        default,
        "rescale a sparsified task vector to its former L1 norm",
    )
}

const TASK_ARITHMETIC_PARAMS: &[ParamSpec] =
    &[INT8_MASK, normalize(false), rescale(false), LAMBDA, DENSITY];
const TIES_PARAMS: &[ParamSpec] = &[INT8_MASK, normalize(true), rescale(false), LAMBDA, DENSITY];
const DARE_PARAMS: &[ParamSpec] = &[INT8_MASK, normalize(false), rescale(true), LAMBDA, DENSITY];
const BREADCRUMBS_PARAMS: &[ParamSpec] = &[
    INT8_MASK,
    normalize(false),
    rescale(false),
    LAMBDA,
    DENSITY,
    GAMMA,
];
const DELLA_PARAMS: &[ParamSpec] = &[
    INT8_MASK,
    normalize(true),
    rescale(true),
    LAMBDA,
    DENSITY,
    EPSILON,
];
const DELLA_LINEAR_PARAMS: &[ParamSpec] = &[
    INT8_MASK,
    normalize(false),
    rescale(true),
    LAMBDA,
    DENSITY,
    EPSILON,
];
const SLERP_PARAMS: &[ParamSpec] = &[ParamSpec::required(
    "t",
    "interpolation factor from the base (0) to the model (1)",
)];
const NUSLERP_PARAMS: &[ParamSpec] = &[
    ParamSpec::flag(
        "nuslerp_row_wise",
        false,
        "slerp the vectors along axis 0 instead of the last axis",
    ),
    ParamSpec::flag(
        "nuslerp_flatten",
        true,
        "slerp the whole tensor as one vector",
    ),
];
const MULTISLERP_PARAMS: &[ParamSpec] = &[
    ParamSpec::flag("normalize_weights", true, "divide the weights by their sum"),
    ParamSpec::num("eps", 1e-8, "numerical guard for norms"),
];
const KARCHER_PARAMS: &[ParamSpec] = &[
    ParamSpec::num("max_iter", 10.0, "most iterations of the Karcher mean"),
    ParamSpec::num("tol", 1e-5, "stop when the tangent norm is below this"),
];
const MODEL_STOCK_PARAMS: &[ParamSpec] = &[ParamSpec::flag(
    "filter_wise",
    false,
    "one interpolation ratio per line along the last axis instead of per tensor",
)];
const SCE_PARAMS: &[ParamSpec] = &[
    INT8_MASK,
    ParamSpec::num(
        "select_topk",
        1.0,
        "fraction of elements kept by variance across models",
    ),
];
const RAM_PARAMS: &[ParamSpec] = &[ParamSpec::num(
    "epsilon",
    1e-5,
    "|δ| above this counts as a change",
)];
const RAMPLUS_PARAMS: &[ParamSpec] = &[
    ParamSpec::num("r", 0.1, "gain on unique entries"),
    ParamSpec::num("alpha", 0.2, "cap on the shared/unique ratio"),
    ParamSpec::num("epsilon", 1e-5, "|δ| above this counts as a change"),
];
const PASSTHROUGH_PARAMS: &[ParamSpec] = &[ParamSpec {
    name: "scale",
    scope: Scope::PerModel,
    kind: ParamKind::Num,
    default: ParamDefault::Absent,
    doc: "multiply the tensor by this",
}];

const ORDER_FREE: &str = "bit-identical in any order";
const MASKS: &str = "bit-identical in any order; masks depend only on (contribution, tensor, seed)";

/// A spec with the fields every mergekit method shares filled in.
#[allow(clippy::too_many_arguments)]
fn spec(
    name: &'static str,
    base: BaseRule,
    weights: WeightRule,
    kind: Kind,
    models: (usize, Option<usize>),
    params: &'static [ParamSpec],
    formula: &'static str,
    merge: fn(&TensorJob<'_>) -> Result<Vec<f64>>,
) -> StrategySpec {
    StrategySpec {
        name,
        origin: Origin::Mergekit,
        base,
        weights,
        kind,
        stochastic: false,
        data: DataNeed::None,
        min_models: models.0,
        max_models: models.1,
        params,
        formula,
        guarantee: ORDER_FREE,
        differs: "",
        merge,
    }
}

/// mergekit's strategies.
pub(crate) fn specs() -> Vec<StrategySpec> {
    use BaseRule::{Optional, Required, Unused};
    use Kind::{Elementwise, Tensor};
    let req = WeightRule::Required;
    let none = WeightRule::Unused;
    vec![
        StrategySpec {
            guarantee: "element-wise; bit-identical in any order",
            differs: "upstream `linear` is a left fold r ← (r + θₖ)/2 that ignores weights: see \
                      `upstream_linear`",
            ..spec(
                "linear",
                Unused,
                req,
                Elementwise,
                (1, None),
                LINEAR_PARAMS,
                "Σ wᵢθᵢ / Σ wᵢ (without normalize: Σ wᵢθᵢ)",
                linear,
            )
        },
        StrategySpec {
            differs: "upstream `slerp` is a t = 0.5 left fold over all models without a base that \
                      slerps unit directions and lerps norms: see `upstream_slerp`",
            ..spec(
                "slerp",
                Required,
                none,
                Tensor,
                (1, Some(1)),
                SLERP_PARAMS,
                "sin((1−t)θ)/sinθ·b + sin(tθ)/sinθ·θ₁ over the flattened tensor (lerp if |cos θ| > 0.9995)",
                sphere::slerp,
            )
        },
        spec(
            "nuslerp",
            Optional,
            req,
            Tensor,
            (2, Some(2)),
            NUSLERP_PARAMS,
            "slerp(t = w₂/(w₁+w₂)) of two models (of their task vectors + b with a base), whole tensor, rows or columns",
            sphere::nuslerp,
        ),
        spec(
            "multislerp",
            Optional,
            req,
            Tensor,
            (1, None),
            MULTISLERP_PARAMS,
            "exp_μ(Σwᵢ·log_μ uᵢ)·Σwᵢ‖xᵢ‖ with μ the normalised weighted mean of unit vectors (+ b with a base)",
            sphere::multislerp,
        ),
        spec(
            "karcher",
            Unused,
            none,
            Tensor,
            (1, None),
            KARCHER_PARAMS,
            "Karcher mean of the unit tensors (uniform α = 1/N) × mean norm",
            sphere::karcher,
        ),
        StrategySpec {
            guarantee: "element-wise; bit-identical in any order",
            differs: "upstream `task_arithmetic` ignores weights (b + Σ sᵢτᵢ with \
                      `scaling_coefficients`, no λ): see `upstream_task_arithmetic`",
            ..spec(
                "task_arithmetic",
                Required,
                req,
                Elementwise,
                (1, None),
                TASK_ARITHMETIC_PARAMS,
                "b + λ·Σ wᵢ(θᵢ − b) (/Σwᵢ if normalize)",
                gta::task_arithmetic,
            )
        },
        StrategySpec {
            differs: "upstream `ties` trims by percentile (density 0.2), elects by sign count and \
                      divides normalised weights by the count again (≈ 1/n), no λ: see `upstream_ties`",
            ..spec(
                "ties",
                Required,
                req,
                Tensor,
                (1, None),
                TIES_PARAMS,
                "b + λ·Σ mᵢwᵢδᵢ/Σ mᵢwᵢ; δᵢ = top-⌊density·n⌋ |θᵢ − b|, m = agrees with sign(Σ wᵢδᵢ)",
                gta::ties,
            )
        },
        StrategySpec {
            stochastic: true,
            guarantee: MASKS,
            ..spec(
                "dare_linear",
                Required,
                req,
                Tensor,
                (1, None),
                DARE_PARAMS,
                "b + λ·Σ wᵢ·rescale_L1(Bernoulli(density) ⊙ δᵢ)",
                gta::dare_linear,
            )
        },
        StrategySpec {
            stochastic: true,
            guarantee: MASKS,
            differs: "upstream `dare_ties` drops p = 0.9 from one Python RNG stream over all \
                      models, rescales by 1/(1 − p), then its 1/n TIES: see `upstream_dare_ties`",
            ..spec(
                "dare_ties",
                Required,
                req,
                Tensor,
                (1, None),
                DARE_PARAMS,
                "ties consensus over wᵢ·rescale_L1(Bernoulli(density) ⊙ δᵢ)",
                gta::dare_ties,
            )
        },
        spec(
            "breadcrumbs",
            Required,
            req,
            Tensor,
            (1, None),
            BREADCRUMBS_PARAMS,
            "b + λ·Σ wᵢ·(δᵢ without its ⌊γn⌋ largest and smallest |δ|, ⌊density·n⌋ kept)",
            gta::breadcrumbs,
        ),
        spec(
            "breadcrumbs_ties",
            Required,
            req,
            Tensor,
            (1, None),
            BREADCRUMBS_PARAMS,
            "breadcrumbs sparsification with ties sign consensus",
            gta::breadcrumbs_ties,
        ),
        StrategySpec {
            stochastic: true,
            guarantee: MASKS,
            differs: "upstream `della` drops with clip(p·(1 − |τ|/max|τ|) + ε) from Random(seed + i) \
                      by position, rescales by 1/(1 − p), no sign consensus: see `upstream_della`",
            ..spec(
                "della",
                Required,
                req,
                Tensor,
                (1, None),
                DELLA_PARAMS,
                "ties consensus over wᵢ·rescale_L1(Bernoulli(p(rank |δ| in row)) ⊙ δᵢ), p ∈ density ± ε",
                gta::della,
            )
        },
        StrategySpec {
            stochastic: true,
            guarantee: MASKS,
            ..spec(
                "della_linear",
                Required,
                req,
                Tensor,
                (1, None),
                DELLA_LINEAR_PARAMS,
                "b + λ·Σ wᵢ·rescale_L1(Bernoulli(p(rank |δ| in row)) ⊙ δᵢ)",
                gta::della_linear,
            )
        },
        spec(
            "sce",
            Required,
            none,
            Tensor,
            (1, None),
            SCE_PARAMS,
            "b + Σ wᵢmᵢδᵢ/Σ wᵢmᵢ, wᵢ ∝ mean δᵢ², top-variance selection, sum-sign consensus",
            misc::sce,
        ),
        spec(
            "model_stock",
            Required,
            none,
            Tensor,
            (2, None),
            MODEL_STOCK_PARAMS,
            "t·mean(θᵢ) + (1−t)·b, t = N·cos/(1 + (N−1)·cos), cos = mean pairwise cos(δᵢ, δⱼ)",
            misc::model_stock,
        ),
        StrategySpec {
            guarantee: "element-wise; bit-identical in any order",
            ..spec(
                "nearswap",
                Required,
                none,
                Elementwise,
                (1, Some(1)),
                SLERP_PARAMS,
                "w·θ + (1−w)·b, w = clamp(t/|b − θ|, 0, 1)",
                misc::nearswap,
            )
        },
        StrategySpec {
            guarantee: "bit-identical in any order; exact quantiles (mergekit samples above 1e6 elements)",
            ..spec(
                "arcee_fusion",
                Required,
                none,
                Tensor,
                (1, Some(1)),
                &[],
                "b + (θ − b)·[|θ − b|·KL_row ≥ q₅₀ + 1.5·IQR]",
                misc::arcee_fusion,
            )
        },
        StrategySpec {
            guarantee: "element-wise; bit-identical in any order",
            ..spec(
                "ram",
                Required,
                none,
                Elementwise,
                (1, None),
                RAM_PARAMS,
                "b + Σ δᵢ over entries one model changes + mean δ over entries several change",
                misc::ram,
            )
        },
        spec(
            "ramplus_tl",
            Required,
            none,
            Tensor,
            (1, None),
            RAMPLUS_PARAMS,
            "ram with unique entries × (1 + r·clamp(shared/unique, 0, α)) per model",
            misc::ramplus_tl,
        ),
        StrategySpec {
            guarantee: "element-wise; bit-identical in any order",
            ..spec(
                "passthrough",
                Unused,
                none,
                Elementwise,
                (1, Some(1)),
                PASSTHROUGH_PARAMS,
                "θ (× scale)",
                misc::passthrough,
            )
        },
    ]
}

fn linear(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let normalize = job.params.flag("normalize")?;
    let n = common::common_len(job)?;
    let mut out = vec![0.0; n];
    for m in job.models {
        for (o, x) in out.iter_mut().zip(m.data) {
            *o += m.weight * x;
        }
    }
    if normalize {
        let mut total = 0.0;
        for m in job.models {
            total += m.weight;
        }
        // mergekit divides by Σw unless it is (almost) zero.
        let div = if total.abs() < 1e-8 { 1.0 } else { total };
        out.iter_mut().for_each(|o| *o /= div);
    }
    Ok(out)
}
