//! crdt-merge 0.11.0's maths for the six names mergekit also uses, bugs included, for parity:
//! `upstream_linear`, `upstream_slerp`, `upstream_task_arithmetic`, `upstream_ties`,
//! `upstream_dare_ties`, `upstream_della`. Base-requiring ones return θ₁ unchanged for one model,
//! as 0.11.0 does. The two stochastic ones draw from CPython's MT19937 exactly as 0.11.0 does, so
//! their masks depend on the models' order (that is what parity means here).

use super::common::{normalised_weights, percentile, task_vectors, Mt19937};
use super::sparse::num_in;
use crate::error::{ModelError, Result};
use crate::strategy::TensorJob;

/// Left fold r ← (1 − t)·r + t·θₖ.
pub(crate) fn upstream_linear(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let t = job.params.num("t")?;
    let first = job
        .models
        .first()
        .ok_or_else(|| job.error("needs a model"))?;
    let mut r = first.data.to_vec();
    for m in &job.models[1..] {
        for (o, x) in r.iter_mut().zip(m.data) {
            *o = (1.0 - t) * *o + t * x;
        }
    }
    Ok(r)
}

fn norm(x: &[f64]) -> f64 {
    crate::reduce::dot(x, x).sqrt()
}

/// 0.11.0's pairwise SLERP: direction slerp of the unit vectors, magnitude lerp of the norms.
fn slerp_pair(a: &[f64], b: &[f64], t: f64) -> Vec<f64> {
    let (na, nb) = (norm(a), norm(b));
    if na < 1e-12 && nb < 1e-12 {
        return vec![0.0; a.len()];
    }
    if na < 1e-12 {
        return b.iter().map(|x| x * t).collect();
    }
    if nb < 1e-12 {
        return a.iter().map(|x| x * (1.0 - t)).collect();
    }
    let ua: Vec<f64> = a.iter().map(|x| x / na).collect();
    let ub: Vec<f64> = b.iter().map(|x| x / nb).collect();
    let dot = crate::reduce::dot(&ua, &ub).clamp(-1.0, 1.0);
    let omega = dot.acos();
    if omega.abs() < 1e-8 {
        return a
            .iter()
            .zip(b)
            .map(|(x, y)| (1.0 - t) * x + t * y)
            .collect();
    }
    let so = omega.sin();
    let ca = ((1.0 - t) * omega).sin() / so;
    let cb = (t * omega).sin() / so;
    let mag = (1.0 - t) * na + t * nb;
    ua.iter()
        .zip(&ub)
        .map(|(x, y)| (ca * x + cb * y) * mag)
        .collect()
}

/// Left fold of [`slerp_pair`] with t (later inputs weigh more).
pub(crate) fn upstream_slerp(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let t = job.params.num("t")?;
    let first = job
        .models
        .first()
        .ok_or_else(|| job.error("needs a model"))?;
    let mut r = first.data.to_vec();
    for m in &job.models[1..] {
        r = slerp_pair(&r, m.data, t);
    }
    Ok(r)
}

/// b + Σ sᵢτᵢ with `scaling_coefficients` s (all 1 by default); weights are ignored.
pub(crate) fn upstream_task_arithmetic(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let base = job.require_base()?;
    let n = job.models.len();
    let s = match job.params.opt_num_list("scaling_coefficients")? {
        None => vec![1.0; n],
        Some(s) if s.len() == n => s,
        Some(s) => {
            return Err(ModelError::param(
                job.strategy,
                "scaling_coefficients",
                format!("has {} values, expected one per model ({n})", s.len()),
            ))
        }
    };
    let mut out = base.to_vec();
    for (m, si) in job.models.iter().zip(&s) {
        for (o, (x, b)) in out.iter_mut().zip(m.data.iter().zip(base)) {
            *o += si * (x - b);
        }
    }
    Ok(out)
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// 0.11.0's TIES trim: keep |τ| ≥ pct(nonzero |τ|, 100·(1 − density)).
fn trim(tv: &mut [f64], density: f64) {
    let nz: Vec<f64> = tv.iter().map(|x| x.abs()).filter(|a| *a > 0.0).collect();
    if nz.is_empty() {
        return;
    }
    let thr = percentile(&nz, (1.0 - density) * 100.0);
    tv.iter_mut().for_each(|x| {
        if x.abs() < thr {
            *x = 0.0
        }
    });
}

/// Elect and disjoint-merge with 0.11.0's bug: Σ wᵢ·agreeingᵢ divided by the agreeing count on
/// top of the normalised weights (≈ 1/n too small).
fn elect_merge(base: &[f64], w: &[f64], trimmed: &[Vec<f64>], magnitude: bool) -> Vec<f64> {
    let d = base.len();
    let mut vote = vec![0.0; d];
    for (wi, tv) in w.iter().zip(trimmed) {
        for (v, x) in vote.iter_mut().zip(tv) {
            *v += if magnitude { wi * x } else { sign(*x) };
        }
    }
    let mut merged = vec![0.0; d];
    let mut counts = vec![0.0; d];
    for (wi, tv) in w.iter().zip(trimmed) {
        for j in 0..d {
            let x = tv[j];
            if sign(x) == sign(vote[j]) && x != 0.0 {
                merged[j] += wi * x;
                counts[j] += 1.0;
            }
        }
    }
    (0..d)
        .map(|j| base[j] + merged[j] / f64::max(counts[j], 1.0))
        .collect()
}

/// 0.11.0's TIES (density 0.2, count election, the 1/n scaling bug, no λ).
pub(crate) fn upstream_ties(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let base = job.require_base()?;
    let density = num_in(job, "density", 0.0, 1.0)?;
    let magnitude = job.params.text("majority_sign_method")? == "magnitude";
    let w = normalised_weights(job)?;
    if job.models.len() == 1 {
        return Ok(job.models[0].data.to_vec());
    }
    let mut tvs = task_vectors(job, base);
    tvs.iter_mut().for_each(|tv| trim(tv, density));
    Ok(elect_merge(base, &w, &tvs, magnitude))
}

fn rescale_of(p: f64) -> f64 {
    if p < 1.0 {
        1.0 / (1.0 - p)
    } else {
        1.0
    }
}

/// 0.11.0's DARE-TIES: one `random.Random(seed)` stream over the models in order (keep iff
/// random() ≥ p, rescale 1/(1 − p)), then the TIES trim, count election and the 1/n bug.
pub(crate) fn upstream_dare_ties(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let base = job.require_base()?;
    let p = num_in(job, "drop_rate", 0.0, 1.0)?;
    let density = num_in(job, "density", 0.0, 1.0)?;
    let w = normalised_weights(job)?;
    if job.models.len() == 1 {
        return Ok(job.models[0].data.to_vec());
    }
    let mut rng = Mt19937::new(job.seed as i128);
    let rescale = rescale_of(p);
    let mut tvs = task_vectors(job, base);
    for tv in tvs.iter_mut() {
        for x in tv.iter_mut() {
            let mask = if rng.random() >= p { 1.0 } else { 0.0 };
            *x = *x * mask * rescale;
        }
        trim(tv, density);
    }
    Ok(elect_merge(base, &w, &tvs, false))
}

/// 0.11.0's DELLA: model i draws from `random.Random(seed + i)`; drop probability
/// clip(p·(1 − |τ|/max|τ|) + ε, 0, 1); the rescale 1/(1 − p) is global; b + Σ wᵢ·maskᵢ·τᵢ.
pub(crate) fn upstream_della(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let base = job.require_base()?;
    let p = num_in(job, "drop_rate", 0.0, 1.0)?;
    let eps = job.params.num("epsilon")?;
    let w = normalised_weights(job)?;
    if job.models.len() == 1 {
        return Ok(job.models[0].data.to_vec());
    }
    let rescale = rescale_of(p);
    let mut out = base.to_vec();
    let tvs = task_vectors(job, base);
    for (i, (tv, wi)) in tvs.iter().zip(&w).enumerate() {
        let mut rng = Mt19937::new(job.seed as i128 + i as i128);
        let max = tv.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let max = if max > 0.0 { max } else { 1.0 };
        for (o, x) in out.iter_mut().zip(tv) {
            let drop = (p * (1.0 - x.abs() / max) + eps).clamp(0.0, 1.0);
            if rng.random() >= drop {
                *o += wi * (x * rescale);
            }
        }
    }
    Ok(out)
}
