//! Upstream's sparsifying and element-selecting strategies with the maths fixed where needed:
//! `dare`, `model_breadcrumbs`, `emr`, `negative_merge`, `split_unlearn_merge`, `safe_merge`,
//! `led_merge`.

use super::common::{base_plus, normalised_weights, percentile, task_vectors, weighted_sum};
use crate::error::{ModelError, Result};
use crate::philox::{keep, threshold, Purpose, Stream};
use crate::strategy::TensorJob;

/// A number parameter that must lie in [lo, hi].
pub(crate) fn num_in(job: &TensorJob<'_>, name: &str, lo: f64, hi: f64) -> Result<f64> {
    let v = job.params.num(name)?;
    if !(lo..=hi).contains(&v) {
        return Err(ModelError::param(
            job.strategy,
            name,
            format!("expected a number in [{lo}, {hi}], got {v}"),
        ));
    }
    Ok(v)
}

/// DARE (Yu et al. 2024): b + Σ wᵢ·mᵢ⊙τᵢ/(1−p), each mᵢ an order-free Philox mask of the
/// contribution (keep iff draw < ⌊(1−p)·2³²⌋ at index offset + j).
pub(crate) fn dare(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let base = job.require_base()?;
    let p = num_in(job, "drop_rate", 0.0, 1.0)?;
    let w = normalised_weights(job)?;
    // p = 1 drops everything; upstream then skips the rescale (1/(1−p) undefined).
    let rescale = if p < 1.0 { 1.0 / (1.0 - p) } else { 1.0 };
    let t = threshold(1.0 - p);
    let mut out = base.to_vec();
    let mut draws = vec![0u32; out.len()];
    for (m, wi) in job.models.iter().zip(&w) {
        Stream::for_mask(m.id, job.name, job.seed, Purpose::Dare)
            .fill(job.offset as u64, &mut draws);
        for ((o, (x, b)), d) in out.iter_mut().zip(m.data.iter().zip(base)).zip(&draws) {
            if keep(*d, t) {
                *o += wi * ((x - b) * rescale);
            }
        }
    }
    Ok(out)
}

/// Upstream's breadcrumbs: keep |τ| ≥ pct(|τ|, 100·sparsity) ("magnitude"; all of τ when it is
/// zero) or a Philox mask with keep probability 1 − sparsity ("random"); b + Σ wᵢ·masked τᵢ.
pub(crate) fn model_breadcrumbs(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let base = job.require_base()?;
    let sparsity = num_in(job, "sparsity", 0.0, 1.0)?;
    let method = job.params.text("mask_method")?;
    let w = normalised_weights(job)?;
    let mut tvs = task_vectors(job, base);
    for (m, tv) in job.models.iter().zip(tvs.iter_mut()) {
        if method == "random" {
            let s = Stream::for_mask(m.id, job.name, job.seed, Purpose::BreadcrumbsRandom);
            let t = threshold(1.0 - sparsity);
            let mut draws = vec![0u32; tv.len()];
            s.fill(job.offset as u64, &mut draws);
            for (x, d) in tv.iter_mut().zip(&draws) {
                if !keep(*d, t) {
                    *x = 0.0;
                }
            }
        } else {
            let abs: Vec<f64> = tv.iter().map(|x| x.abs()).collect();
            if abs.iter().all(|a| *a == 0.0) {
                continue;
            }
            let thr = percentile(&abs, sparsity * 100.0);
            for (x, a) in tv.iter_mut().zip(&abs) {
                if *a < thr {
                    *x = 0.0;
                }
            }
        }
    }
    Ok(base_plus(base, &w, &tvs))
}

/// Upstream's EMR: elect |τᵢ| ≥ pct(|τᵢ|, 100·(1 − elect_ratio)), m = Σ wᵢeᵢ, scaled by
/// min(d / nnz(m), 1/elect_ratio).
pub(crate) fn emr(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let base = job.require_base()?;
    let r = num_in(job, "elect_ratio", 0.0, 1.0)?;
    if r == 0.0 {
        return Err(ModelError::param(
            job.strategy,
            "elect_ratio",
            "expected a number in (0, 1], got 0",
        ));
    }
    let w = normalised_weights(job)?;
    let mut tvs = task_vectors(job, base);
    for tv in tvs.iter_mut() {
        let abs: Vec<f64> = tv.iter().map(|x| x.abs()).collect();
        if abs.iter().all(|a| *a == 0.0) {
            continue;
        }
        let thr = percentile(&abs, (1.0 - r) * 100.0);
        for (x, a) in tv.iter_mut().zip(&abs) {
            if *a < thr {
                *x = 0.0;
            }
        }
    }
    let refs: Vec<&[f64]> = tvs.iter().map(|v| v.as_slice()).collect();
    let mut merged = weighted_sum(base.len(), &w, &refs);
    let active = merged.iter().filter(|x| **x != 0.0).count();
    if active > 0 {
        let scale = (base.len() as f64 / active as f64).min(1.0 / r);
        merged.iter_mut().for_each(|x| *x *= scale);
    }
    Ok(base.iter().zip(&merged).map(|(b, m)| b + m).collect())
}

/// b + Σ ±wᵢτᵢ: models named in `models_to_negate` (all when absent) are subtracted, scaled.
pub(crate) fn negative_merge(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let base = job.require_base()?;
    let s = job.params.num("scaling")?;
    let names = job.params.opt_text_list("models_to_negate")?;
    if let Some(names) = &names {
        for n in names {
            if !job.models.iter().any(|m| m.label == n) {
                let labels: Vec<&str> = job.models.iter().map(|m| m.label).collect();
                return Err(ModelError::param(
                    job.strategy,
                    "models_to_negate",
                    format!("no model `{n}`; models: {}", labels.join(", ")),
                ));
            }
        }
    }
    let w = normalised_weights(job)?;
    let mut out = base.to_vec();
    for (m, wi) in job.models.iter().zip(&w) {
        let neg = names
            .as_ref()
            .is_none_or(|ns| ns.iter().any(|n| n == m.label));
        for (o, (x, b)) in out.iter_mut().zip(m.data.iter().zip(base)) {
            let tv = x - b;
            if neg {
                *o -= s * wi * tv;
            } else {
                *o += wi * tv;
            }
        }
    }
    Ok(out)
}

/// Zeroes the unlearn subspace of every τᵢ, then b + Σ wᵢτᵢ: "magnitude" zeroes the coordinates
/// whose mean |τ| is ≤ the k-th smallest (k = max(1, ⌊d·f⌋)); "random" zeroes a Philox mask
/// (probability f) shared by all models, keyed without any contribution id so it is order-free.
pub(crate) fn split_unlearn_merge(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let base = job.require_base()?;
    let f = num_in(job, "target_fraction", 0.0, 1.0)?;
    let method = job.params.text("subspace_method")?;
    let w = normalised_weights(job)?;
    let mut tvs = task_vectors(job, base);
    let d = base.len();
    let unlearn: Vec<bool> = if method == "random" {
        let s = Stream::for_mask(
            &[0u8; 32],
            job.name,
            job.seed,
            Purpose::Other("split_unlearn"),
        );
        let mut draws = vec![0u32; d];
        s.fill(job.offset as u64, &mut draws);
        let t = threshold(f);
        draws.iter().map(|x| keep(*x, t)).collect()
    } else {
        let n = tvs.len() as f64;
        let mut avg = vec![0.0; d];
        for tv in &tvs {
            for (a, x) in avg.iter_mut().zip(tv) {
                *a += x.abs();
            }
        }
        avg.iter_mut().for_each(|a| *a /= n);
        let k = ((d as f64 * f).floor() as usize).max(1);
        let mut sorted = avg.clone();
        sorted.sort_by(f64::total_cmp);
        let thr = sorted[(k - 1).min(d.saturating_sub(1))];
        avg.iter().map(|a| *a <= thr).collect()
    };
    for tv in tvs.iter_mut() {
        for (x, u) in tv.iter_mut().zip(&unlearn) {
            if *u {
                *x = 0.0;
            }
        }
    }
    Ok(base_plus(base, &w, &tvs))
}

/// The top k = max(1, ⌊d·t⌋) coordinates by variance across the inputs revert to the base; the
/// rest take Σ wᵢθᵢ.
pub(crate) fn safe_merge(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let base = job.require_base()?;
    let t = num_in(job, "safety_threshold", 0.0, 1.0)?;
    let w = normalised_weights(job)?;
    let d = base.len();
    let n = job.models.len() as f64;
    let mut mean = vec![0.0; d];
    for m in job.models {
        for (a, x) in mean.iter_mut().zip(m.data) {
            *a += x;
        }
    }
    mean.iter_mut().for_each(|a| *a /= n);
    let mut variance = vec![0.0; d];
    for m in job.models {
        for ((v, x), mu) in variance.iter_mut().zip(m.data).zip(&mean) {
            *v += (x - mu) * (x - mu);
        }
    }
    variance.iter_mut().for_each(|v| *v /= n);
    let refs: Vec<&[f64]> = job.models.iter().map(|m| m.data).collect();
    let mut merged = weighted_sum(d, &w, &refs);
    if variance.iter().any(|v| *v > 0.0) {
        let k = ((d as f64 * t).floor() as usize).max(1);
        let mut sorted = variance.clone();
        sorted.sort_by(f64::total_cmp);
        let thr = sorted[d.saturating_sub(k)];
        for ((o, v), b) in merged.iter_mut().zip(&variance).zip(base) {
            if *v >= thr {
                *o = *b;
            }
        }
    }
    Ok(merged)
}

/// Per coordinate, the input value closest to the weighted mean Σwᵢθᵢ/Σwᵢ (ties: the smaller
/// value, then the earlier model).
pub(crate) fn led_merge(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    normalised_weights(job)?;
    let total: f64 = job.models.iter().map(|m| m.weight).sum();
    let d = job.len();
    // Raw weights over their sum: with weights 1 this is upstream's Σθᵢ/n to the bit.
    let mut mean = vec![0.0; d];
    for m in job.models {
        for (a, x) in mean.iter_mut().zip(m.data) {
            *a += m.weight * x;
        }
    }
    mean.iter_mut().for_each(|a| *a /= total);
    let first = job.models[0].data;
    let mut out = first.to_vec();
    for (j, o) in out.iter_mut().enumerate() {
        let mut best = first[j];
        let mut best_dist = (first[j] - mean[j]).abs();
        for m in &job.models[1..] {
            let x = m.data[j];
            let dist = (x - mean[j]).abs();
            if dist < best_dist || (dist == best_dist && x < best) {
                best = x;
                best_dist = dist;
            }
        }
        *o = best;
    }
    Ok(out)
}
