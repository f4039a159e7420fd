//! mergekit's spherical methods: slerp, nuslerp, multislerp, karcher (`slerp.py`, `nuslerp.py`,
//! `multislerp.py`, `karcher.py`), in f64 where mergekit works in f32.

use crate::error::Result;
use crate::reduce;
use crate::strategy::TensorJob;

use super::common::{count_param, gather, only_model, scatter, sub, whole_len, Lines};

/// slerp(base, model, t) over the whole flattened tensor: norms ≤ 1e-8 count as 1; the cosine of
/// the normalised vectors is clamped to [−1, 1]; |cos| > 0.9995 lerps, else
/// sin((1−t)θ)/sinθ·v₀ + sin(tθ)/sinθ·v₁ on the raw vectors (t = 0 gives the base).
pub(super) fn slerp(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let v0 = job.require_base()?;
    let n = whole_len(job)?;
    let v1 = only_model(job)?;
    let t = job.params.num("t")?;
    if n == 0 {
        return Ok(Vec::new());
    }
    let (ca, cb) = slerp_coefficients(
        t,
        reduce::dot(v0, v0),
        reduce::dot(v1, v1),
        reduce::dot(v0, v1),
    );
    Ok(v0.iter().zip(v1).map(|(a, b)| ca * a + cb * b).collect())
}

/// mergekit's slerp coefficients (out = ca·v0 + cb·v1) from the whole-tensor sums v0·v0, v1·v1
/// and v0·v1: norms ≤ 1e-8 count as 1, |cos| > 0.9995 lerps. Shared with the driver's streamed
/// slerp, which gathers the three sums over chunks.
pub(crate) fn slerp_coefficients(t: f64, aa: f64, bb: f64, ab: f64) -> (f64, f64) {
    let guard = |x: f64| if x > 1e-8 { x } else { 1.0 };
    let na = guard(aa.sqrt());
    let nb = guard(bb.sqrt());
    let dot = (ab / na / nb).clamp(-1.0, 1.0);
    if dot.abs() > 0.9995 {
        (1.0 - t, t)
    } else {
        let theta = dot.acos();
        let s = theta.sin();
        (((1.0 - t) * theta).sin() / s, (t * theta).sin() / s)
    }
}

/// Spherical interpolation of two vectors as nuslerp does it: unit vectors with norms clamped
/// at 1e-7, colinear (1 − cos² ≤ 1e-16) lerps, else the standard formula on the raw vectors.
fn nuslerp_pair(t: f64, v0: &[f64], v1: &[f64]) -> Vec<f64> {
    let n0 = reduce::l2(v0).max(1e-7);
    let n1 = reduce::l2(v1).max(1e-7);
    let cos = (reduce::dot(v0, v1) / n0 / n1).clamp(-1.0, 1.0);
    if 1.0 - cos * cos <= 1e-16 {
        return v0
            .iter()
            .zip(v1)
            .map(|(a, b)| (1.0 - t) * a + t * b)
            .collect();
    }
    let theta = cos.acos();
    let s = theta.sin();
    let (ca, cb) = (((1.0 - t) * theta).sin(), (t * theta).sin());
    v0.iter()
        .zip(v1)
        .map(|(a, b)| (ca * a + cb * b) / s)
        .collect()
}

/// nuslerp: two models, t = w₂/(w₁+w₂) (0.5 if |w₁+w₂| < 1e-6); the vectors are the whole tensor
/// (`nuslerp_flatten`, default), else the lines along the last axis, or along axis 0 with
/// `nuslerp_row_wise`; with a base, the task vectors are slerped and the base added back.
pub(super) fn nuslerp(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let n = whole_len(job)?;
    let (m0, m1) = match job.models {
        [a, b] => (a, b),
        _ => {
            return Err(job.error(format!(
                "needs exactly two non-base models, got {}",
                job.models.len()
            )))
        }
    };
    let row_wise = job.params.flag("nuslerp_row_wise")?;
    let flatten = job.params.flag("nuslerp_flatten")?;
    let total = m0.weight + m1.weight;
    let t = if total.abs() < 1e-6 {
        0.5
    } else {
        m1.weight / total
    };
    let (v0, v1) = match job.base {
        Some(b) => (sub(m0.data, b), sub(m1.data, b)),
        None => (m0.data.to_vec(), m1.data.to_vec()),
    };
    let lines = if flatten {
        Lines::whole(n)
    } else if row_wise {
        Lines::along(job.shape, 0)
    } else {
        Lines::last(job.shape)
    };
    let mut out = vec![0.0; n];
    for l in 0..lines.count() {
        let r = nuslerp_pair(t, &gather(&v0, &lines, l), &gather(&v1, &lines, l));
        scatter(&mut out, &lines, l, &r);
    }
    if let Some(b) = job.base {
        for (o, x) in out.iter_mut().zip(b) {
            *o += x;
        }
    }
    Ok(out)
}

/// multislerp: barycentric interpolation on the hypersphere (of task vectors when a base is
/// given). uᵢ = xᵢ/(‖xᵢ‖+ε); μ = Σwᵢuᵢ/‖Σwᵢuᵢ‖; τ = Σwᵢ(uᵢ − (uᵢ·μ)μ);
/// out = (μ·cos‖τ‖ + τ·sin‖τ‖/‖τ‖)·Σwᵢ‖xᵢ‖ (+ b), with ‖τ‖ taken + ε as mergekit does.
pub(super) fn multislerp(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let n = whole_len(job)?;
    let normalize = job.params.flag("normalize_weights")?;
    let eps = job.params.num("eps")?;
    if job.models.is_empty() {
        return Err(job.error("needs at least one non-base model"));
    }
    if let [m] = job.models {
        // mergekit returns the single model as is.
        return Ok(m.data.to_vec());
    }
    let xs: Vec<Vec<f64>> = job
        .models
        .iter()
        .map(|m| match job.base {
            Some(b) => sub(m.data, b),
            None => m.data.to_vec(),
        })
        .collect();
    let mut w: Vec<f64> = job.models.iter().map(|m| m.weight).collect();
    if normalize {
        let total: f64 = w.iter().sum();
        if total == 0.0 {
            return Err(
                job.error("the weights sum to 0, so they cannot be normalised (normalize_weights)")
            );
        }
        w.iter_mut().for_each(|x| *x /= total);
    }
    let norms: Vec<f64> = xs.iter().map(|x| reduce::l2(x)).collect();
    let units: Vec<Vec<f64>> = xs
        .iter()
        .zip(&norms)
        .map(|(x, nx)| x.iter().map(|v| v / (nx + eps)).collect())
        .collect();
    let mut mean = vec![0.0; n];
    for (u, wi) in units.iter().zip(&w) {
        for (m, v) in mean.iter_mut().zip(u) {
            *m += v * wi;
        }
    }
    let mean_norm = reduce::l2(&mean);
    if mean_norm < eps {
        if xs.len() == 2 {
            // mergekit falls back to the weighted sum for two (antipodal) inputs.
            let mut out: Vec<f64> = xs[0]
                .iter()
                .zip(&xs[1])
                .map(|(a, b)| a * w[0] + b * w[1])
                .collect();
            if let Some(b) = job.base {
                out.iter_mut().zip(b).for_each(|(o, x)| *o += x);
            }
            return Ok(out);
        }
        return Err(job.error(
            "the weighted sum of the unit inputs is zero (antipodal inputs whose weights \
             balance out); use different weights",
        ));
    }
    mean.iter_mut().for_each(|m| *m /= mean_norm);
    let mut tangent = vec![0.0; n];
    for (u, wi) in units.iter().zip(&w) {
        let d = reduce::dot(u, &mean);
        for ((t, v), m) in tangent.iter_mut().zip(u).zip(&mean) {
            *t += (v - d * m) * wi;
        }
    }
    let tn = reduce::l2(&tangent) + eps;
    let (c, s) = (tn.cos(), tn.sin() / tn);
    let mut avg_norm = 0.0;
    for (nx, wi) in norms.iter().zip(&w) {
        avg_norm += nx * wi;
    }
    let mut out: Vec<f64> = mean
        .iter()
        .zip(&tangent)
        .map(|(m, t)| (m * c + t * s) * avg_norm)
        .collect();
    if let Some(b) = job.base {
        out.iter_mut().zip(b).for_each(|(o, x)| *o += x);
    }
    Ok(out)
}

/// karcher: the Karcher (Riemannian) mean of the unit vectors with uniform α = 1/N (mergekit
/// ignores weights), iterated at most `max_iter` times until the tangent norm is below `tol`,
/// scaled by Σαᵢ‖xᵢ‖. Vectors of norm ≤ tol take no part in the direction.
pub(super) fn karcher(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let n = whole_len(job)?;
    let max_iter = count_param(job, "max_iter")?;
    let tol = job.params.num("tol")?;
    match job.models {
        [] => return Err(job.error("needs at least one model")),
        [m] => return Ok(m.data.to_vec()),
        _ => {}
    }
    let count = job.models.len();
    let alpha = 1.0 / count as f64;
    let norms: Vec<f64> = job.models.iter().map(|m| reduce::l2(m.data)).collect();
    let units: Vec<Vec<f64>> = job
        .models
        .iter()
        .zip(&norms)
        .map(|(m, &nx)| {
            if nx == 0.0 {
                vec![0.0; n]
            } else {
                m.data.iter().map(|v| v / nx).collect()
            }
        })
        .collect();
    let valid: Vec<usize> = (0..count).filter(|&i| norms[i] > tol).collect();
    if valid.is_empty() {
        return Ok(vec![0.0; n]);
    }
    let alpha_sum: f64 = valid.iter().map(|_| alpha).sum();
    let a_valid = alpha / alpha_sum;
    let mut mean = vec![0.0; n];
    for &i in &valid {
        for (m, u) in mean.iter_mut().zip(&units[i]) {
            *m += a_valid * u;
        }
    }
    let mean_norm = reduce::l2(&mean);
    if mean_norm < tol {
        mean = units[valid[0]].clone();
    } else {
        mean.iter_mut().for_each(|m| *m /= mean_norm);
    }
    for _ in 0..max_iter {
        let mut tangent = vec![0.0; n];
        for &i in &valid {
            let u = &units[i];
            let dot = reduce::dot(&mean, u).clamp(-1.0, 1.0);
            let theta = dot.acos();
            if theta < tol {
                continue;
            }
            let f = a_valid * (theta / theta.sin());
            for ((t, v), m) in tangent.iter_mut().zip(u).zip(&mean) {
                *t += f * (v - dot * m);
            }
        }
        let tn = reduce::l2(&tangent);
        if tn < tol {
            break;
        }
        let (c, s) = (tn.cos(), tn.sin());
        for (m, t) in mean.iter_mut().zip(&tangent) {
            *m = c * *m + s * (t / tn);
        }
        let un = reduce::l2(&mean);
        if un > tol {
            mean.iter_mut().for_each(|m| *m /= un);
        }
    }
    let mut scale = 0.0;
    for nx in &norms {
        scale += alpha * nx;
    }
    Ok(mean.iter().map(|m| scale * m).collect())
}
