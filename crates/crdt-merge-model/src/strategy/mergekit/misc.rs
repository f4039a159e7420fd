//! mergekit's other methods: model_stock, nearswap, arcee_fusion, sce, ram, ramplus_tl,
//! passthrough (`model_stock.py`, `nearswap.py`, `arcee_fusion.py`, `sce.py`, `ram.py`,
//! `passthrough.py`).

use crate::error::Result;
use crate::reduce;
use crate::strategy::TensorJob;

use super::common::{common_len, gather, only_model, sub, whole_len, Lines};

/// model_stock: t = N·cosθ/(1 + (N−1)·cosθ) from the mean pairwise cosine of the task vectors
/// (whole tensor, or per line along the last axis with `filter_wise`); |denominator| < 1e-6
/// keeps the base; out = t·mean(θᵢ) + (1 − t)·b.
pub(super) fn model_stock(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let base = job.require_base()?;
    let n = whole_len(job)?;
    if job.models.len() < 2 {
        return Err(job.error(format!(
            "needs a base and at least two other models, got {} other models",
            job.models.len()
        )));
    }
    let filter_wise = job.params.flag("filter_wise")?;
    let lines = if filter_wise {
        Lines::last(job.shape)
    } else {
        Lines::whole(n)
    };
    let count = job.models.len();
    let offsets: Vec<Vec<f64>> = job.models.iter().map(|m| sub(m.data, base)).collect();
    let mut out = vec![0.0; n];
    for l in 0..lines.count() {
        let parts: Vec<Vec<f64>> = offsets.iter().map(|o| gather(o, &lines, l)).collect();
        let norms: Vec<f64> = parts.iter().map(|p| reduce::l2(p)).collect();
        let mut cos_sum = 0.0;
        let mut pairs = 0usize;
        for a in 0..count {
            for b in a + 1..count {
                let np = (norms[a] * norms[b]).max(1e-6);
                cos_sum += (reduce::dot(&parts[a], &parts[b]) / np).clamp(-1.0, 1.0);
                pairs += 1;
            }
        }
        let cos = cos_sum / pairs as f64;
        let denominator = 1.0 + (count as f64 - 1.0) * cos;
        let t = if denominator.abs() < 1e-6 {
            0.0
        } else {
            (count as f64 * cos) / denominator
        };
        for i in lines.indices(l) {
            let mut s = 0.0;
            for m in job.models {
                s += m.data[i];
            }
            let average = s / count as f64;
            out[i] = t * average + (1.0 - t) * base[i];
        }
    }
    Ok(out)
}

/// nearswap: w = clamp(t / max(|b − θ|, 1e-6), 0, 1); out = w·θ + (1 − w)·b.
pub(super) fn nearswap(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let base = job.require_base()?;
    common_len(job)?;
    let model = only_model(job)?;
    let t = job.params.num("t")?;
    Ok(base
        .iter()
        .zip(model)
        .map(|(a, b)| {
            let w = (t / (a - b).abs().max(1e-6)).clamp(0.0, 1.0);
            w * b + (1.0 - w) * a
        })
        .collect())
}

/// The exact q-quantile mergekit's `approximate_quantiles` takes below 1e6 elements:
/// sorted[⌊q·(n − 1)⌋] (no interpolation).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = (q * (sorted.len() - 1) as f64) as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// arcee_fusion: importance = |θ − b| · KL(softmax(θ) ‖ softmax(b)) per line along the last
/// axis (each softmax + 1e-8); threshold = q₅₀ + 1.5·(q₇₅ − q₂₅) over every element, with the
/// exact quantile at any size (mergekit samples 1e6 elements with replacement from torch's global
/// generator above that size, so its result is random there; ours is deterministic);
/// out = b + (θ − b)·[importance ≥ threshold].
pub(super) fn arcee_fusion(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let base = job.require_base()?;
    let n = whole_len(job)?;
    let model = only_model(job)?;
    if n == 0 {
        return Ok(Vec::new());
    }
    let lines = Lines::last(job.shape);
    let mut importance = vec![0.0; n];
    for l in 0..lines.count() {
        let p = softmax(&gather(model, &lines, l));
        let q = softmax(&gather(base, &lines, l));
        let mut kl = 0.0;
        for (pi, qi) in p.iter().zip(&q) {
            let (pi, qi) = (pi + 1e-8, qi + 1e-8);
            kl += pi * (pi / qi).ln();
        }
        for i in lines.indices(l) {
            importance[i] = (model[i] - base[i]).abs() * kl;
        }
    }
    let mut sorted = importance.clone();
    sorted.sort_unstable_by(f64::total_cmp);
    let (q1, median, q3) = (
        quantile(&sorted, 0.25),
        quantile(&sorted, 0.5),
        quantile(&sorted, 0.75),
    );
    let thr = median + 1.5 * (q3 - q1);
    Ok((0..n)
        .map(|i| {
            if importance[i] >= thr {
                base[i] + (model[i] - base[i])
            } else {
                base[i]
            }
        })
        .collect())
}

/// Softmax of one line, max-subtracted as torch computes it.
fn softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let mut s = 0.0;
    for v in &e {
        s += v;
    }
    e.iter().map(|v| v / s).collect()
}

/// sce: task vectors δᵢ; if `select_topk` < 1, only the top ⌊nnz(var)·τ⌋ elements by the
/// population variance across models survive (ties by index); elected sign by Σδ (tie → +);
/// model weights wᵢ = mean(δᵢ²)/Σⱼ mean(δⱼ²) (uniform when that sum is below 1e-6);
/// out = b + Σ wᵢmᵢδᵢ / max(Σ wᵢmᵢ, 1e-6).
pub(super) fn sce(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let base = job.require_base()?;
    let n = whole_len(job)?;
    let topk = job.params.num("select_topk")?;
    if job.models.is_empty() {
        return Ok(base.to_vec());
    }
    let count = job.models.len();
    let mut tvs: Vec<Vec<f64>> = job.models.iter().map(|m| sub(m.data, base)).collect();
    if topk < 1.0 {
        let keep: Vec<bool> = if topk <= 0.0 {
            vec![false; n]
        } else {
            let var: Vec<f64> = (0..n)
                .map(|i| {
                    let mut s = 0.0;
                    for t in &tvs {
                        s += t[i];
                    }
                    let mean = s / count as f64;
                    let mut v = 0.0;
                    for t in &tvs {
                        v += (t[i] - mean) * (t[i] - mean);
                    }
                    v / count as f64
                })
                .collect();
            let nonzero = var.iter().filter(|v| **v != 0.0).count();
            let k = (nonzero as f64 * topk) as usize;
            reduce::top_k_mask(&var, k)
        };
        for t in tvs.iter_mut() {
            for (x, k) in t.iter_mut().zip(&keep) {
                if !k {
                    *x = 0.0;
                }
            }
        }
    }
    let mut w: Vec<f64> = tvs
        .iter()
        .map(|t| {
            if n == 0 {
                0.0
            } else {
                reduce::dot(t, t) / n as f64
            }
        })
        .collect();
    let total: f64 = w.iter().sum();
    if total.abs() < 1e-6 {
        w.iter_mut().for_each(|x| *x = 1.0 / count as f64);
    } else {
        w.iter_mut().for_each(|x| *x /= total);
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = 0.0;
        for t in &tvs {
            s += t[i];
        }
        let elected = if s >= 0.0 { 1.0 } else { -1.0 };
        let (mut merged, mut div) = (0.0, 0.0);
        for (t, wi) in tvs.iter().zip(&w) {
            let x = t[i];
            let agrees = (x > 0.0 && elected > 0.0) || (x < 0.0 && elected < 0.0);
            if agrees {
                merged += x * wi;
                div += wi;
            }
        }
        out.push(base[i] + merged / div.max(1e-6));
    }
    Ok(out)
}

/// Active entries of the task vectors (|δ| > ε) and, per element, how many models are active.
fn ram_prepare(job: &TensorJob<'_>, base: &[f64], n: usize) -> Result<(Vec<Vec<f64>>, Vec<u32>)> {
    let epsilon = job.params.num("epsilon")?;
    let tvs: Vec<Vec<f64>> = job
        .models
        .iter()
        .map(|m| {
            m.data
                .iter()
                .zip(base)
                .map(|(x, b)| {
                    let d = x - b;
                    if d.abs() > epsilon {
                        d
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    let mut counts = vec![0u32; n];
    for t in &tvs {
        for (c, x) in counts.iter_mut().zip(t) {
            if *x != 0.0 {
                *c += 1;
            }
        }
    }
    Ok((tvs, counts))
}

/// ram: active entries (|δ| > ε) a single model changes are added, entries several models
/// change are averaged over their count: out = b + Σᵢ δᵢ·[unique] + Σᵢ δᵢ·[shared]/count.
pub(super) fn ram(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let base = job.require_base()?;
    let n = common_len(job)?;
    let (tvs, counts) = ram_prepare(job, base, n)?;
    Ok((0..n)
        .map(|i| {
            let c = counts[i];
            let mut s = 0.0;
            for t in &tvs {
                s += if c > 1 { t[i] / c as f64 } else { t[i] };
            }
            base[i] + s
        })
        .collect())
}

/// ramplus_tl: as ram, with each model's unique entries scaled by 1 + r·clamp(ρᵢ, 0, α), where
/// ρᵢ = (its active shared entries) / max(its active unique entries, ε) over the whole tensor.
pub(super) fn ramplus_tl(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    let base = job.require_base()?;
    let n = whole_len(job)?;
    let r = job.params.num("r")?;
    let alpha = job.params.num("alpha")?;
    let epsilon = job.params.num("epsilon")?;
    let (tvs, counts) = ram_prepare(job, base, n)?;
    let lambdas: Vec<f64> = tvs
        .iter()
        .map(|t| {
            let (mut shared, mut unique) = (0u64, 0u64);
            for (x, c) in t.iter().zip(&counts) {
                if *x != 0.0 {
                    if *c > 1 {
                        shared += 1;
                    } else {
                        unique += 1;
                    }
                }
            }
            let rho = shared as f64 / (unique as f64).max(epsilon);
            // torch's clamp(min=0, max=α) applies the max last, so α < 0 gives α.
            1.0 + r * rho.max(0.0).min(alpha)
        })
        .collect();
    Ok((0..n)
        .map(|i| {
            let c = counts[i];
            let mut s = 0.0;
            for (t, l) in tvs.iter().zip(&lambdas) {
                s += if c > 1 { t[i] / c as f64 } else { t[i] * l };
            }
            base[i] + s
        })
        .collect())
}

/// passthrough: the one model's tensor, times its `scale` when given.
pub(super) fn passthrough(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    common_len(job)?;
    let m = match job.models {
        [m] => m,
        _ => return Err(job.error(format!("takes exactly one model, got {}", job.models.len()))),
    };
    Ok(match m.params.opt_num("scale")? {
        Some(s) => m.data.iter().map(|x| x * s).collect(),
        None => m.data.to_vec(),
    })
}
