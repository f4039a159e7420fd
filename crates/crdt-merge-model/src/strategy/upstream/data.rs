//! Data-aware merges: `fisher_merge` from supplied Fisher diagonals, `regression_mean` (RegMean)
//! from supplied Gram matrices, and 0.11.0's squared-weights stand-ins for both.

use faer::Mat;

use super::common::{datas, normalised_weights, weighted_sum};
use super::sparse::num_in;
use crate::error::Result;
use crate::strategy::{ModelInput, TensorJob};

fn fisher_of<'a>(job: &TensorJob<'_>, m: &ModelInput<'a>) -> Result<&'a [f64]> {
    let f = m.fisher.ok_or_else(|| {
        job.error(format!(
            "model `{}` has no Fisher diagonal for this tensor (give one with --fisher {}=FILE)",
            m.label, m.label
        ))
    })?;
    if f.len() != m.data.len() {
        return Err(job.error(format!(
            "model `{}`: Fisher diagonal has {} values, expected {}",
            m.label,
            f.len(),
            m.data.len()
        )));
    }
    if let Some(i) = f.iter().position(|x| !(x.is_finite() && *x >= 0.0)) {
        return Err(job.error(format!(
            "model `{}`: Fisher diagonal value {} at index {} is not a finite number ≥ 0",
            m.label,
            f[i],
            job.offset + i
        )));
    }
    Ok(f)
}

/// Fisher merge (Matena & Raffel 2022): Σ wᵢFᵢθᵢ / Σ wᵢFᵢ per element, with the supplied
/// diagonals Fᵢ; where every Fᵢ is 0 the weighted mean Σ wᵢθᵢ (no information either way).
pub(crate) fn fisher_merge(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let w = normalised_weights(job)?;
    let fishers = job
        .models
        .iter()
        .map(|m| fisher_of(job, m))
        .collect::<Result<Vec<_>>>()?;
    let d = job.len();
    let mut num = vec![0.0; d];
    let mut den = vec![0.0; d];
    let mut plain = vec![0.0; d];
    for ((m, f), wi) in job.models.iter().zip(&fishers).zip(&w) {
        for j in 0..d {
            let wf = wi * f[j];
            num[j] += wf * m.data[j];
            den[j] += wf;
            plain[j] += wi * m.data[j];
        }
    }
    Ok((0..d)
        .map(|j| {
            if den[j] > 0.0 {
                num[j] / den[j]
            } else {
                plain[j]
            }
        })
        .collect())
}

/// 0.11.0's `fisher_merge` without `fisher_matrices`: Fᵢ = θᵢ², Σ Fᵢθᵢ / max(Σ Fᵢ, 1e-12),
/// weights ignored.
pub(crate) fn upstream_fisher_merge(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    stand_in(job, 0.0)
}

/// 0.11.0's `regression_mean`: wᵢ = θᵢ² + λ, Σ wᵢθᵢ / max(Σ wᵢ, 1e-12), weights ignored.
pub(crate) fn upstream_regression_mean(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let lambda = job.params.num("regularization")?;
    stand_in(job, lambda)
}

fn stand_in(job: &TensorJob<'_>, lambda: f64) -> Result<Vec<f64>> {
    if job.models.len() == 1 {
        return Ok(job.models[0].data.to_vec());
    }
    let d = job.len();
    let mut num = vec![0.0; d];
    let mut den = vec![0.0; d];
    for m in job.models {
        for j in 0..d {
            let f = m.data[j] * m.data[j] + lambda;
            num[j] += f * m.data[j];
            den[j] += f;
        }
    }
    Ok((0..d).map(|j| num[j] / den[j].max(1e-12)).collect())
}

/// RegMean (Jin et al. 2023) for W (out × in, y = W x): W* = (Σ wᵢWᵢG̃ᵢ)(Σ wᵢG̃ᵢ)⁻¹ with
/// G̃ = (1 − α)·G + α·diag(G), α = `regularization` (the paper's off-diagonal shrink: with every
/// input feature's variance > 0 the sum is positive definite, so the solve is well-posed).
/// Tensors with fewer than two dimensions take the weighted mean Σ wᵢθᵢ.
pub(crate) fn regression_mean(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check_whole(job)?;
    let alpha = num_in(job, "regularization", 0.0, 1.0)?;
    let w = normalised_weights(job)?;
    let d = job.len();
    if job.shape.len() < 2 {
        return Ok(weighted_sum(d, &w, &datas(job)));
    }
    let out_dim = job.shape[0];
    let in_dim: usize = job.shape[1..].iter().product();
    let mut sum_g = Mat::<f64>::zeros(in_dim, in_dim);
    let mut num = Mat::<f64>::zeros(out_dim, in_dim);
    for (m, wi) in job.models.iter().zip(&w) {
        let g = m.gram.ok_or_else(|| {
            job.error(format!(
                "model `{}` has no Gram matrix for this tensor (give one with --gram {}=FILE, \
                 tensor `{}.gram`, {in_dim} × {in_dim})",
                m.label, m.label, job.name
            ))
        })?;
        if g.len() != in_dim * in_dim {
            return Err(job.error(format!(
                "model `{}`: Gram matrix has {} values, expected {in_dim} × {in_dim}",
                m.label,
                g.len()
            )));
        }
        if let Some(i) = g.iter().position(|x| !x.is_finite()) {
            return Err(job.error(format!(
                "model `{}`: Gram matrix value at index {i} is not finite",
                m.label
            )));
        }
        let gt = Mat::from_fn(in_dim, in_dim, |i, j| {
            let v = g[i * in_dim + j];
            if i == j {
                v
            } else {
                (1.0 - alpha) * v
            }
        });
        let wm = Mat::from_fn(out_dim, in_dim, |i, j| m.data[i * in_dim + j]);
        let prod: Mat<f64> = &wm * &gt;
        for i in 0..in_dim {
            for j in 0..in_dim {
                sum_g[(i, j)] += wi * gt[(i, j)];
            }
        }
        for i in 0..out_dim {
            for j in 0..in_dim {
                num[(i, j)] += wi * prod[(i, j)];
            }
        }
    }
    if let Some(j) = (0..in_dim).find(|&j| sum_g[(j, j)] <= 0.0) {
        return Err(job.error(format!(
            "the weighted Gram sum is singular: input feature {j} has no positive variance in \
             any model's Gram matrix"
        )));
    }
    // W* S = N with S symmetric ⇔ S W*ᵀ = Nᵀ.
    let lu = sum_g.partial_piv_lu();
    let x: Mat<f64> = faer::linalg::solvers::Solve::solve(&lu, num.transpose());
    let out: Vec<f64> = (0..out_dim * in_dim)
        .map(|k| x[(k % in_dim, k / in_dim)])
        .collect();
    if out.iter().any(|v| !v.is_finite()) {
        return Err(job.error("the weighted Gram sum is singular (the solve is not finite)"));
    }
    Ok(out)
}
