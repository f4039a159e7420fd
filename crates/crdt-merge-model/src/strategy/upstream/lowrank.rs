//! Upstream's low-rank and distribution-matching strategies: `star`, `svd_knot_tying`,
//! `adarank`, `dual_projection`, `representation_surgery`, `weight_scope_alignment`. SVDs go
//! through [`super::common::thin_svd`] (faer, sequential, signs fixed).

use faer::Mat;

use super::common::{
    base_plus, matrix_dims, mean, normalised_weights, rebuild, task_vectors, thin_svd,
    thin_svd_mat, var, weighted_sum,
};
use super::sparse::num_in;
use crate::error::{ModelError, Result};
use crate::strategy::TensorJob;

/// Σ x².
fn energy(x: &[f64]) -> f64 {
    crate::reduce::dot(x, x)
}

/// Keeps the k largest |x| (threshold = the k-th largest; every element ≥ it stays, as upstream).
fn keep_top(x: &mut [f64], k: usize) {
    let mut sorted: Vec<f64> = x.iter().map(|v| v.abs()).collect();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let thr = sorted[(k.max(1) - 1).min(x.len() - 1)];
    x.iter_mut().for_each(|v| {
        if v.abs() < thr {
            *v = 0.0
        }
    });
}

/// STAR: truncate each τᵢ to rank k = max(1, ⌊r·rank_fraction⌋) (vectors: the top k entries),
/// rescaled to keep its energy ("energy"), then b + Σ wᵢ·truncᵢ.
pub(crate) fn star(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check_whole(job)?;
    let base = job.require_base()?;
    let rf = num_in(job, "rank_fraction", 0.0, 1.0)?;
    let rescale = job.params.text("rescale_method")? == "energy";
    let w = normalised_weights(job)?;
    let mut tvs = task_vectors(job, base);
    for tv in tvs.iter_mut() {
        match matrix_dims(job.shape) {
            None => {
                if tv.is_empty() || tv.iter().all(|x| *x == 0.0) {
                    continue;
                }
                let k = ((tv.len() as f64 * rf).floor() as usize).max(1);
                let orig = energy(tv);
                keep_top(tv, k);
                let trunc = energy(tv);
                if rescale && trunc > 0.0 {
                    let s = (orig / trunc).sqrt();
                    tv.iter_mut().for_each(|x| *x *= s);
                }
            }
            Some((m, n)) => {
                let svd = thin_svd(job, tv, m, n)?;
                let k = ((svd.s.len() as f64 * rf).floor() as usize).max(1);
                let mut s = svd.s.clone();
                s.iter_mut().skip(k).for_each(|x| *x = 0.0);
                if rescale {
                    let (orig, trunc) = (energy(&svd.s), energy(&s));
                    if trunc > 0.0 {
                        let f = (orig / trunc).sqrt();
                        s.iter_mut().for_each(|x| *x *= f);
                    }
                }
                *tv = rebuild(svd.u.as_ref(), &s, svd.v.as_ref());
            }
        }
    }
    Ok(base_plus(base, &w, &tvs))
}

/// The optional integer rank parameter `name` (absent = None).
fn opt_rank(job: &TensorJob<'_>, name: &str) -> Result<Option<usize>> {
    match job.params.opt_num(name)? {
        None => Ok(None),
        Some(v) if v >= 1.0 && v.fract() == 0.0 => Ok(Some(v as usize)),
        Some(v) => Err(ModelError::param(
            job.strategy,
            name,
            format!("expected a whole number ≥ 1, got {v}"),
        )),
    }
}

/// SVD knot tying: each τᵢ = UᵢSᵢVᵢᵀ (rank ≤ `rank`); for i ≠ the first (sorted) model, Uᵢ is
/// rotated by the orthogonal Procrustes R = polar(UᵢᵀU_ref) and τᵢ' = (UᵢR)SᵢVᵢᵀ; b + Σ wᵢτᵢ'.
pub(crate) fn svd_knot_tying(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check_whole(job)?;
    let base = job.require_base()?;
    let rank = opt_rank(job, "rank")?;
    let procrustes = job.params.text("alignment_method")? == "procrustes";
    let w = normalised_weights(job)?;
    let tvs = task_vectors(job, base);
    let Some((m, n)) = matrix_dims(job.shape) else {
        return Ok(base_plus(base, &w, &tvs));
    };
    let mut decomps = Vec::with_capacity(tvs.len());
    for tv in &tvs {
        let svd = thin_svd(job, tv, m, n)?;
        let r = rank.unwrap_or(svd.s.len()).min(svd.s.len());
        decomps.push((
            svd.u.as_ref().subcols(0, r).to_owned(),
            svd.s[..r].to_vec(),
            svd.v.as_ref().subcols(0, r).to_owned(),
        ));
    }
    let mut aligned = Vec::with_capacity(tvs.len());
    let u_ref = decomps[0].0.clone();
    for (i, (u, s, v)) in decomps.iter().enumerate() {
        if procrustes && i != 0 {
            let c = u_ref.ncols().min(u.ncols());
            let ui = u.as_ref().subcols(0, c);
            let mm: Mat<f64> = ui.transpose() * u_ref.as_ref().subcols(0, c);
            let p = thin_svd_mat(job, mm.as_ref())?;
            let r: Mat<f64> = &p.u * p.v.transpose();
            let ua: Mat<f64> = ui * &r;
            aligned.push(rebuild(ua.as_ref(), &s[..c], v.as_ref().subcols(0, c)));
        } else {
            aligned.push(rebuild(u.as_ref(), s, v.as_ref()));
        }
    }
    Ok(base_plus(base, &w, &aligned))
}

/// numpy's `searchsorted(a, v) + 1` (left side): one more than the first index with a[i] ≥ v.
fn first_reaching(cum: &[f64], v: f64) -> usize {
    cum.iter().position(|c| *c >= v).unwrap_or(cum.len()) + 1
}

/// AdaRank: keep the smallest rank k whose cumulative energy reaches 90% (`target_rank` absent)
/// or k = target_rank; vectors keep their top-k entries; b + Σ wᵢ·prunedᵢ.
pub(crate) fn adarank(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check_whole(job)?;
    let base = job.require_base()?;
    let target = opt_rank(job, "target_rank")?;
    job.params.text("importance")?;
    let w = normalised_weights(job)?;
    let mut tvs = task_vectors(job, base);
    for tv in tvs.iter_mut() {
        match matrix_dims(job.shape) {
            None => {
                if tv.is_empty() || tv.iter().all(|x| *x == 0.0) {
                    continue;
                }
                let k = match target {
                    Some(k) => k.min(tv.len()),
                    None => {
                        let mut sq: Vec<f64> = tv.iter().map(|x| x * x).collect();
                        sq.sort_by(|a, b| b.total_cmp(a));
                        let total = crate::reduce::sum(&sq);
                        let mut acc = 0.0;
                        let cum: Vec<f64> = sq
                            .iter()
                            .map(|x| {
                                acc += x;
                                acc
                            })
                            .collect();
                        first_reaching(&cum, 0.9 * total).min(tv.len())
                    }
                };
                keep_top(tv, k);
            }
            Some((m, n)) => {
                let svd = thin_svd(job, tv, m, n)?;
                let total = energy(&svd.s);
                if total == 0.0 {
                    continue;
                }
                let k = match target {
                    Some(k) => k.min(svd.s.len()),
                    None => {
                        let mut acc = 0.0;
                        let cum: Vec<f64> = svd
                            .s
                            .iter()
                            .map(|x| {
                                acc += x * x;
                                acc / total
                            })
                            .collect();
                        first_reaching(&cum, 0.9).min(svd.s.len())
                    }
                };
                let mut s = svd.s.clone();
                s.iter_mut().skip(k).for_each(|x| *x = 0.0);
                *tv = rebuild(svd.u.as_ref(), &s, svd.v.as_ref());
            }
        }
    }
    Ok(base_plus(base, &w, &tvs))
}

/// Dual projection: Δ = [θᵢ − b] (n×d; b = Σwθ without a base), Vₖ its top k =
/// max(1, round(n·rank_fraction)) right singular vectors; sharedᵢ = VₖVₖᵀΔᵢ, taskᵢ = Δᵢ −
/// sharedᵢ; b + Σ wᵢsharedᵢ + (1 − stability_weight)·Σ wᵢtaskᵢ.
pub(crate) fn dual_projection(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let stability = job.params.num("stability_weight")?;
    let rf = num_in(job, "rank_fraction", 0.0, 1.0)?;
    let w = normalised_weights(job)?;
    let d = job.len();
    let b: Vec<f64> = match job.base {
        Some(b) => b.to_vec(),
        None => weighted_sum(d, &w, &super::common::datas(job)),
    };
    let deltas = task_vectors(job, &b);
    if deltas.iter().all(|x| energy(x).sqrt() < 1e-15) {
        return Ok(b);
    }
    let n = deltas.len();
    let flat: Vec<f64> = deltas.iter().flatten().copied().collect();
    let svd = thin_svd(job, &flat, n, d)?;
    let s_len = svd.s.len();
    let k = ((s_len as f64 * rf).round_ties_even() as usize)
        .max(1)
        .min(s_len)
        .min(n);
    let mut shared_sum = vec![0.0; d];
    let mut task_sum = vec![0.0; d];
    for (delta, wi) in deltas.iter().zip(&w) {
        let mut shared = vec![0.0; d];
        for c in 0..k {
            let col = svd.v.col(c);
            let mut coeff = 0.0;
            for (j, x) in delta.iter().enumerate() {
                coeff += col[j] * x;
            }
            for (j, s) in shared.iter_mut().enumerate() {
                *s += col[j] * coeff;
            }
        }
        for j in 0..d {
            shared_sum[j] += wi * shared[j];
            task_sum[j] += wi * (delta[j] - shared[j]);
        }
    }
    Ok((0..d)
        .map(|j| b[j] + (shared_sum[j] + (1.0 - stability) * task_sum[j]))
        .collect())
}

/// m = Σwθ, then "center" removes its mean drift from the inputs' average mean, "rescale"
/// matches the inputs' average variance, "whiten" (2-D) applies the ZCA whitening of m's columns
/// × √(average variance) + average mean.
pub(crate) fn representation_surgery(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check_whole(job)?;
    let method = job.params.text("correction_method")?;
    let w = normalised_weights(job)?;
    let d = job.len();
    let merged = weighted_sum(d, &w, &super::common::datas(job));
    let n = job.models.len() as f64;
    let avg_mean = job.models.iter().map(|m| mean(m.data)).sum::<f64>() / n;
    let avg_var = job.models.iter().map(|m| var(m.data)).sum::<f64>() / n;
    let rescale = |merged: Vec<f64>| {
        let mv = var(&merged);
        if mv < 1e-12 {
            return merged;
        }
        let s = (avg_var / mv).sqrt();
        let mm = mean(&merged);
        merged.iter().map(|x| (x - mm) * s + avg_mean).collect()
    };
    Ok(match method {
        "center" => {
            let drift = mean(&merged) - avg_mean;
            merged.iter().map(|x| x - drift).collect()
        }
        "rescale" => rescale(merged),
        "whiten" => {
            if job.shape.len() != 2 || job.shape[0] < 2 || job.shape[1] < 2 {
                return Ok(rescale(merged));
            }
            let (rows, cols) = (job.shape[0], job.shape[1]);
            let mut centered = merged;
            for c in 0..cols {
                let mut acc = 0.0;
                for r in 0..rows {
                    acc += centered[r * cols + c];
                }
                let mu = acc / rows as f64;
                for r in 0..rows {
                    centered[r * cols + c] -= mu;
                }
            }
            let cm = Mat::from_fn(rows, cols, |i, j| centered[i * cols + j]);
            let denom = (rows - 1).max(1) as f64;
            let gram: Mat<f64> = cm.transpose() * &cm;
            let cov = Mat::from_fn(cols, cols, |i, j| gram[(i, j)] / denom);
            // The covariance is symmetric positive semi-definite: its SVD is its eigen
            // decomposition, and E diag(λ^-½) Eᵀ does not depend on the vectors' signs.
            let e = thin_svd_mat(job, cov.as_ref())?;
            let inv: Vec<f64> = e.s.iter().map(|l| 1.0 / l.max(1e-12).sqrt()).collect();
            let white = rebuild(e.u.as_ref(), &inv, e.u.as_ref());
            let white = Mat::from_fn(cols, cols, |i, j| white[i * cols + j]);
            let scale = if avg_var > 0.0 { avg_var.sqrt() } else { 1.0 };
            let prod: Mat<f64> = &cm * &white;
            let mut out = Vec::with_capacity(rows * cols);
            for r in 0..rows {
                for c in 0..cols {
                    out.push(prod[(r, c)] * scale + avg_mean);
                }
            }
            out
        }
        _ => merged,
    })
}

/// Normalise each θᵢ ("zscore", "minmax" or "unit" norm), take Σ wᵢ·normᵢ, map back to the
/// target statistics ("mean" of the inputs', the "first" (sorted) model's, or the "base"'s).
pub(crate) fn weight_scope_alignment(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let method = job.params.text("scope_method")?;
    let target = job.params.text("target_distribution")?;
    let w = normalised_weights(job)?;
    let d = job.len();
    let stats = |x: &[f64]| {
        let lo = x.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (mean(x), var(x).sqrt(), lo, hi)
    };
    let n = job.models.len() as f64;
    let (t_mean, t_std, t_min, t_max) = match (target, job.base) {
        ("first", _) => stats(job.models[0].data),
        ("base", Some(b)) => stats(b),
        _ => {
            let all: Vec<_> = job.models.iter().map(|m| stats(m.data)).collect();
            (
                all.iter().map(|s| s.0).sum::<f64>() / n,
                all.iter().map(|s| s.1).sum::<f64>() / n,
                all.iter().map(|s| s.2).sum::<f64>() / n,
                all.iter().map(|s| s.3).sum::<f64>() / n,
            )
        }
    };
    let mut merged = vec![0.0; d];
    for (m, wi) in job.models.iter().zip(&w) {
        let (mu, sd, lo, hi) = stats(m.data);
        let norm = energy(m.data).sqrt();
        for (o, x) in merged.iter_mut().zip(m.data) {
            let z = match method {
                "zscore" if sd >= 1e-12 => (x - mu) / sd,
                "minmax" if hi - lo >= 1e-12 => (x - lo) / (hi - lo),
                "unit" if norm >= 1e-12 => x / norm,
                _ => 0.0,
            };
            *o += wi * z;
        }
    }
    Ok(match method {
        "zscore" => {
            let s = t_std.max(1e-12);
            merged.iter().map(|x| x * s + t_mean).collect()
        }
        "minmax" => merged.iter().map(|x| x * (t_max - t_min) + t_min).collect(),
        _ => {
            let tn = job
                .models
                .iter()
                .map(|m| energy(m.data).sqrt())
                .sum::<f64>()
                / n;
            merged.iter().map(|x| x * tn).collect()
        }
    })
}
