//! mergekit's "generalized task arithmetic" family (`generalized_task_arithmetic.py`,
//! `sparsify.py`): task_arithmetic, ties, dare_linear, dare_ties, breadcrumbs, breadcrumbs_ties,
//! della, della_linear.
//!
//! For each model i: δᵢ = θᵢ − b, sparsified (optionally L1-rescaled), Dᵢ = wᵢδᵢ. With sum
//! consensus the elected sign is + where ΣDᵢ ≥ 0 (a tie goes to +) and a model counts where
//! sign(Dᵢ) equals it (δ = 0 never counts); mixed = Σ mᵢDᵢ, div = Σ mᵢwᵢ (0 → 1). Without
//! consensus mixed = ΣDᵢ, div = Σwᵢ (|div| < 1e-8 → 1). out = b + λ·mixed (/div if normalize).
//!
//! Where mergekit draws from torch's global generator (DARE's `torch.bernoulli`, DELLA's
//! magprune), the draws come from [`crate::philox`], keyed by (contribution id, tensor, seed,
//! purpose), so a model's mask never depends on the other models or their order.

use crate::error::{ModelError, Result};
use crate::philox::{keep, threshold, Purpose, Stream};
use crate::reduce;
use crate::strategy::TensorJob;

use super::common::{common_len, whole_len, Lines};

/// How task vectors are thinned before they are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sparsifier {
    /// Keep every element (task_arithmetic).
    None,
    /// Keep the k = max(1, ⌊density·n⌋) greatest |δ| (ties).
    Magnitude,
    /// Keep each element with probability density (DARE).
    Random,
    /// Drop the ⌊γ·n⌋ greatest and the smallest |δ|, keeping ⌊density·n⌋ (breadcrumbs).
    MagnitudeOutliers,
    /// Per row, keep with a probability rising with the |δ| rank (DELLA's magprune).
    Della,
}

pub(super) fn task_arithmetic(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    gta(job, Sparsifier::None, false)
}
pub(super) fn ties(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    gta(job, Sparsifier::Magnitude, true)
}
pub(super) fn dare_linear(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    gta(job, Sparsifier::Random, false)
}
pub(super) fn dare_ties(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    gta(job, Sparsifier::Random, true)
}
pub(super) fn breadcrumbs(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    gta(job, Sparsifier::MagnitudeOutliers, false)
}
pub(super) fn breadcrumbs_ties(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    gta(job, Sparsifier::MagnitudeOutliers, true)
}
pub(super) fn della(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    gta(job, Sparsifier::Della, true)
}
pub(super) fn della_linear(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    gta(job, Sparsifier::Della, false)
}

fn gta(job: &TensorJob<'_>, sparsifier: Sparsifier, consensus: bool) -> Result<Vec<f64>> {
    let base = job.require_base()?;
    // Sparsifiers see whole-tensor statistics; plain task arithmetic is element-wise.
    // Length checks (errors name the model); sparsifiers need the whole tensor.
    if sparsifier == Sparsifier::None {
        common_len(job)?;
    } else {
        whole_len(job)?;
    }
    let rescale = job.params.flag("rescale")?;
    // Checked here too, so a bad value fails before any work.
    job.params.flag("normalize")?;
    job.params.num("lambda")?;
    if job.models.is_empty() {
        // mergekit returns the base when no other model has the tensor.
        return Ok(base.to_vec());
    }

    // Weighted, sparsified task vectors, in the order given (sorted by contribution id).
    let mut deltas: Vec<Vec<f64>> = Vec::with_capacity(job.models.len());
    for m in job.models {
        let mut delta: Vec<f64> = m.data.iter().zip(base).map(|(x, b)| x - b).collect();
        if sparsifier != Sparsifier::None {
            let density = m.params.num("density")?;
            sparsify(
                job, m.id, &mut delta, density, sparsifier, rescale, m.params,
            )?;
        }
        for d in delta.iter_mut() {
            *d *= m.weight;
        }
        deltas.push(delta);
    }

    combine(job, base, &deltas, consensus)
}

/// mergekit's per-element combination of weighted, sparsified task vectors `deltas` (in the
/// order given): sign consensus or a plain sum, normalised and scaled by λ, added to `base`.
/// Shared by the whole-tensor path and the streamed one, so both give the same bits.
pub(crate) fn combine(
    job: &TensorJob<'_>,
    base: &[f64],
    deltas: &[Vec<f64>],
    consensus: bool,
) -> Result<Vec<f64>> {
    let normalize = job.params.flag("normalize")?;
    let lambda = job.params.num("lambda")?;
    let n = base.len();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (mixed, div) = if consensus {
            let mut s = 0.0;
            for d in deltas {
                s += d[i];
            }
            let elected = if s >= 0.0 { 1.0 } else { -1.0 };
            let (mut mixed, mut div) = (0.0, 0.0);
            for (d, m) in deltas.iter().zip(job.models) {
                if sign(d[i]) == elected {
                    mixed += d[i];
                    div += m.weight;
                }
            }
            (mixed, if div == 0.0 { 1.0 } else { div })
        } else {
            let (mut mixed, mut div) = (0.0, 0.0);
            for (d, m) in deltas.iter().zip(job.models) {
                mixed += d[i];
                div += m.weight;
            }
            (mixed, if div.abs() < 1e-8 { 1.0 } else { div })
        };
        let mut v = mixed;
        if normalize {
            v /= div;
        }
        if lambda != 1.0 {
            v *= lambda;
        }
        out.push(base[i] + v);
    }
    Ok(out)
}

/// How a streamed task-vector merge thins each task vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Streamed {
    /// Keep the k greatest |δ| (ties): found by radix selection over chunks.
    Magnitude,
    /// DARE's Philox masks (keyed by element index, so drawn per chunk).
    Random,
}

/// The streamed form of strategy `name`, if it has one: its sparsifier and whether it uses sign
/// consensus. The driver runs these over chunks in a few passes instead of holding whole
/// tensors (the results are bit-identical to the whole-tensor functions).
pub(crate) fn streamed_plan(name: &str) -> Option<(Streamed, bool)> {
    match name {
        "ties" => Some((Streamed::Magnitude, true)),
        "dare_linear" => Some((Streamed::Random, false)),
        "dare_ties" => Some((Streamed::Random, true)),
        _ => None,
    }
}

/// DARE's keep mask for elements offset .. offset + n of model `id` (the driver's streamed path).
pub(crate) fn dare_chunk_mask(
    job: &TensorJob<'_>,
    id: &[u8; 32],
    density: f64,
    offset: usize,
    n: usize,
) -> Vec<bool> {
    let stream = Stream::for_mask(id, job.name, job.seed, Purpose::Dare);
    dare_mask(&stream, offset as u64, n, threshold(density))
}

/// torch's `sign`: −1, 0 or +1 (0 for ±0; NaN is no sign and never agrees).
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Thins `delta` in place as mergekit's `sparsify` does, then rescales it to its former L1
/// norm if `rescale` (skipped when either norm is below 1e-7, as mergekit does).
fn sparsify(
    job: &TensorJob<'_>,
    id: &[u8; 32],
    delta: &mut [f64],
    density: f64,
    sparsifier: Sparsifier,
    rescale: bool,
    params: &crate::params::Params,
) -> Result<()> {
    let n = delta.len();
    // Every sparsifier returns the task vector untouched (no rescale) at density ≥ 1.
    if density >= 1.0 {
        return Ok(());
    }
    let mask: Vec<bool> = match sparsifier {
        Sparsifier::None => return Ok(()),
        Sparsifier::Magnitude => {
            if density <= 0.0 || n == 0 {
                delta.iter_mut().for_each(|d| *d = 0.0);
                return Ok(());
            }
            let k = ((density * n as f64) as usize).max(1);
            reduce::top_k_mask(delta, k)
        }
        Sparsifier::MagnitudeOutliers => {
            let gamma = params.num("gamma")?;
            outliers_mask(delta, density, gamma)
        }
        Sparsifier::Random => {
            let stream = Stream::for_mask(id, job.name, job.seed, Purpose::Dare);
            let t = threshold(density);
            dare_mask(&stream, job.offset as u64, n, t)
        }
        Sparsifier::Della => {
            if density <= 0.0 {
                delta.iter_mut().for_each(|d| *d = 0.0);
                return Ok(());
            }
            let epsilon = params.num("epsilon")?;
            if density + epsilon >= 1.0 || density - epsilon <= 0.0 {
                return Err(ModelError::param(
                    job.strategy,
                    "epsilon",
                    format!(
                        "density ± epsilon must lie in (0, 1); got density {density}, epsilon {epsilon}"
                    ),
                ));
            }
            della_mask(job, id, delta, density, epsilon)
        }
    };
    let before = if rescale { reduce::l1(delta) } else { 0.0 };
    for (d, k) in delta.iter_mut().zip(&mask) {
        if !k {
            *d = 0.0;
        }
    }
    if rescale {
        let after = reduce::l1(delta);
        if before >= 1e-7 && after >= 1e-7 {
            let scale = before / after;
            delta.iter_mut().for_each(|d| *d *= scale);
        }
    }
    Ok(())
}

/// Breadcrumbs: sort |δ| ascending (total order: magnitude bits, then index) and keep positions
/// [n_bot, n_bot + target) with target = ⌊density·n⌋, n_top = ⌊γ·n⌋,
/// n_bot = max(0, n − target − n_top); out-of-range slices are clipped as Python slices are.
pub(super) fn outliers_mask(delta: &[f64], density: f64, gamma: f64) -> Vec<bool> {
    let n = delta.len() as i64;
    let target = (density * n as f64) as i64;
    let n_top = (gamma * n as f64) as i64;
    // Saturating: extreme densities or gammas must clip like Python slices, not overflow.
    let n_bot = n.saturating_sub(target).saturating_sub(n_top).max(0);
    let start = n_bot.min(n);
    let end = n_bot.saturating_add(target).clamp(start, n);
    let order = reduce::ascending_order(delta);
    let mut mask = vec![false; delta.len()];
    for &i in &order[start as usize..end as usize] {
        mask[i] = true;
    }
    mask
}

/// The DELLA keep probability of rank r (1-based) among m: `(d − ε) + 2ε·(r − 1)/(m − 1)`,
/// evaluated as `(d - ε) + (2ε)·(r − 1) / (m − 1)` in f64 (the Python fixture generator does the
/// same, so thresholds agree bit for bit); a row of one element gets p = d (mergekit divides 0/0
/// there and fails).
pub fn della_probability(density: f64, epsilon: f64, rank: usize, m: usize) -> f64 {
    if m <= 1 {
        return density;
    }
    (density - epsilon) + (2.0 * epsilon) * ((rank - 1) as f64) / ((m - 1) as f64)
}

/// DELLA's magprune mask: ranks by |δ| ascending within each line along axis 1 (mergekit's
/// `argsort(dim=1)` after `unsqueeze(0)` of a 1-D tensor, so a 2-D tensor ranks within rows),
/// ties by the element index; element i kept iff its Philox draw < ⌊p·2³²⌋.
fn della_mask(
    job: &TensorJob<'_>,
    id: &[u8; 32],
    delta: &[f64],
    density: f64,
    epsilon: f64,
) -> Vec<bool> {
    let lines = if job.shape.len() < 2 {
        Lines::whole(delta.len())
    } else {
        Lines::along(job.shape, 1)
    };
    let stream = Stream::for_mask(id, job.name, job.seed, Purpose::Della);
    let mut draws = CachedDraws::new(stream);
    let mut mask = vec![false; delta.len()];
    for l in 0..lines.count() {
        let idx: Vec<usize> = lines.indices(l).collect();
        let mut order = idx.clone();
        order.sort_unstable_by_key(|&i| (delta[i].abs().to_bits(), i));
        for (r, &i) in order.iter().enumerate() {
            let p = della_probability(density, epsilon, r + 1, lines.len);
            mask[i] = keep(draws.draw((job.offset + i) as u64), threshold(p));
        }
    }
    mask
}

/// DARE's keep mask of elements offset .. offset + n: keep iff draw < threshold, drawn a chunk
/// at a time so no n-sized draw buffer is held.
fn dare_mask(stream: &Stream, offset: u64, n: usize, t: Option<u32>) -> Vec<bool> {
    let mut mask = vec![false; n];
    let mut draws = vec![0u32; DRAW_CHUNK.min(n)];
    for (c, part) in mask.chunks_mut(DRAW_CHUNK).enumerate() {
        let d = &mut draws[..part.len()];
        stream.fill(offset + (c * DRAW_CHUNK) as u64, d);
        for (m, x) in part.iter_mut().zip(d.iter()) {
            *m = keep(*x, t);
        }
    }
    mask
}

/// Elements per Philox fill for DARE masks.
const DRAW_CHUNK: usize = 4096;

/// Philox draws with the last 4-word block kept, so walking a row (consecutive indices) costs
/// one block per four elements; the values are exactly [`Stream::draw`]'s.
struct CachedDraws {
    stream: Stream,
    block: u64,
    words: [u32; 4],
}

impl CachedDraws {
    fn new(stream: Stream) -> Self {
        let mut words = [0u32; 4];
        stream.fill(0, &mut words);
        CachedDraws {
            stream,
            block: 0,
            words,
        }
    }

    fn draw(&mut self, index: u64) -> u32 {
        let block = index / 4;
        if block != self.block {
            self.stream.fill(block * 4, &mut self.words);
            self.block = block;
        }
        self.words[(index % 4) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_and_cached_draws_equal_random_access() {
        let s = Stream::for_mask(&[3; 32], "w", 9, Purpose::Dare);
        let t = threshold(0.3);
        let n = 2 * DRAW_CHUNK + 13;
        for offset in [0u64, 5, 1 << 20] {
            let m = dare_mask(&s, offset, n, t);
            for (i, k) in m.iter().enumerate() {
                assert_eq!(*k, keep(s.draw(offset + i as u64), t), "element {i}");
            }
            let kept = m.iter().filter(|k| **k).count() as f64 / n as f64;
            assert!((kept - 0.3).abs() < 0.03, "kept fraction {kept}");
        }
        let mut c = CachedDraws::new(s);
        for i in [0u64, 1, 2, 3, 4, 9, 8, 100, 3, 0, 1 << 33] {
            assert_eq!(c.draw(i), s.draw(i), "index {i}");
        }
    }

    #[test]
    fn breadcrumbs_keeps_the_middle_band() {
        // |δ| ascending: 0.1 (i=4), 0.2 (i=0), 0.3 (i=3), 0.4 (i=1), 0.5 (i=2) ... 1.0 (i=9)
        let d = [0.2, -0.4, 0.5, 0.3, -0.1, 0.6, 0.7, -0.8, 0.9, 1.0];
        // density 0.5 → 5 kept; γ 0.2 → the 2 largest dropped; n_bot = 10 − 5 − 2 = 3.
        let m = outliers_mask(&d, 0.5, 0.2);
        let kept: Vec<usize> = (0..10).filter(|&i| m[i]).collect();
        assert_eq!(kept, vec![1, 2, 5, 6, 7]);
        assert!(outliers_mask(&d, -1e300, 0.2).iter().all(|k| !k));
        assert!(outliers_mask(&d, 0.5, 1e300).iter().filter(|k| **k).count() == 5);
    }
}
