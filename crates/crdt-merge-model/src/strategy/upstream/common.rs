//! Helpers shared by the upstream strategies: weights, task vectors, numpy's percentile, the
//! matrix view of a tensor, a deterministic thin SVD through faer, and CPython's MT19937.

use faer::{Mat, MatRef, Par};

use crate::error::Result;
use crate::strategy::TensorJob;

pub(crate) use super::normalised_weights;

/// Every model (and the base) has the job's length: the driver checks shapes, but a strategy
/// called directly must not index past a short input.
pub(crate) fn check(job: &TensorJob<'_>) -> Result<()> {
    let n = job.len();
    for m in job.models {
        if m.data.len() != n {
            return Err(job.error(format!(
                "model `{}` has {} values, expected {n}",
                m.label,
                m.data.len()
            )));
        }
    }
    if let Some(b) = job.base {
        if b.len() != n {
            return Err(job.error(format!("the base has {} values, expected {n}", b.len())));
        }
    }
    Ok(())
}

/// [`check`], and the job holds the whole tensor (strategies that reshape it by its shape).
pub(crate) fn check_whole(job: &TensorJob<'_>) -> Result<()> {
    check(job)?;
    let want: usize = job.shape.iter().product();
    if job.len() != want {
        return Err(job.error(format!(
            "needs the whole tensor ({want} values of shape {:?}), got {}",
            job.shape,
            job.len()
        )));
    }
    Ok(())
}

/// τᵢ = θᵢ − b for every model, in the order given (sorted contribution id).
pub(crate) fn task_vectors(job: &TensorJob<'_>, base: &[f64]) -> Vec<Vec<f64>> {
    job.models
        .iter()
        .map(|m| m.data.iter().zip(base).map(|(x, b)| x - b).collect())
        .collect()
}

/// b + Σ wᵢ vᵢ, summed model by model in the order given.
pub(crate) fn base_plus(base: &[f64], w: &[f64], vs: &[Vec<f64>]) -> Vec<f64> {
    let mut out = base.to_vec();
    for (wi, v) in w.iter().zip(vs) {
        for (o, x) in out.iter_mut().zip(v) {
            *o += wi * x;
        }
    }
    out
}

/// Σ wᵢ vᵢ over slices.
pub(crate) fn weighted_sum(len: usize, w: &[f64], vs: &[&[f64]]) -> Vec<f64> {
    let mut out = vec![0.0; len];
    for (wi, v) in w.iter().zip(vs) {
        for (o, x) in out.iter_mut().zip(v.iter()) {
            *o += wi * x;
        }
    }
    out
}

/// The models' data as slices.
pub(crate) fn datas<'a>(job: &'a TensorJob<'a>) -> Vec<&'a [f64]> {
    job.models.iter().map(|m| m.data).collect()
}

/// numpy's `percentile(x, q)` with the default linear method: the sorted values at virtual
/// index (q/100)·(n−1), interpolated as numpy's `_lerp` does (from the upper neighbour when the
/// fraction is ≥ ½), so thresholds equal numpy's to the bit and `>=` tests select the same set.
pub(crate) fn percentile(values: &[f64], q: f64) -> f64 {
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    let virt = (q / 100.0) * (n - 1) as f64;
    let lo = virt.floor();
    let gamma = virt - lo;
    let i = (lo.max(0.0) as usize).min(n - 1);
    let j = (i + 1).min(n - 1);
    let (a, b) = (s[i], s[j]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

/// Mean of x (numpy's pairwise summation differs in the last bits only; our sums are the fixed
/// blocked sums of [`crate::reduce`]).
pub(crate) fn mean(x: &[f64]) -> f64 {
    crate::reduce::sum(x) / x.len() as f64
}

/// Population variance (numpy's `var`, ddof 0).
pub(crate) fn var(x: &[f64]) -> f64 {
    let m = mean(x);
    let c: Vec<f64> = x.iter().map(|v| (v - m) * (v - m)).collect();
    crate::reduce::sum(&c) / x.len() as f64
}

/// The matrix view upstream uses: `None` for a vector (1-D, 0-D, or any dimension of size 1),
/// else (shape[0], product of the rest).
pub(crate) fn matrix_dims(shape: &[usize]) -> Option<(usize, usize)> {
    if shape.len() < 2 || shape.contains(&1) {
        return None;
    }
    let rows = shape[0];
    let cols: usize = shape[1..].iter().product();
    if rows == 0 || cols == 0 {
        return None;
    }
    Some((rows, cols))
}

/// A thin SVD A = U diag(S) Vᵀ (A row-major m×n; U m×k, V n×k, k = min(m, n)), computed by faer
/// sequentially, with signs fixed so each left singular vector's largest-magnitude component
/// (first such index on ties) is positive and the right vector flips with it: results that
/// depend on singular vectors then do not depend on the SVD's own sign choice.
pub(crate) struct Svd {
    pub u: Mat<f64>,
    pub s: Vec<f64>,
    pub v: Mat<f64>,
}

pub(crate) fn thin_svd(job: &TensorJob<'_>, a: &[f64], m: usize, n: usize) -> Result<Svd> {
    let mat = Mat::from_fn(m, n, |i, j| a[i * n + j]);
    thin_svd_mat(job, mat.as_ref())
}

pub(crate) fn thin_svd_mat(job: &TensorJob<'_>, a: MatRef<'_, f64>) -> Result<Svd> {
    svd_seq(a).map_err(|e| job.error(format!("SVD did not converge ({e:?})")))
}

/// [`thin_svd_mat`] without a tensor job (the LoRA compaction uses it too).
pub(crate) fn svd_seq(a: MatRef<'_, f64>) -> std::result::Result<Svd, faer::linalg::svd::SvdError> {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::svd::{svd, svd_scratch, ComputeSvdVectors};
    let (m, n) = a.shape();
    let k = m.min(n);
    let mut u = Mat::<f64>::zeros(m, k);
    let mut v = Mat::<f64>::zeros(n, k);
    let mut s = faer::diag::Diag::<f64>::zeros(k);
    let par = Par::Seq;
    let mut buf = MemBuffer::new(svd_scratch::<f64>(
        m,
        n,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::Thin,
        par,
        Default::default(),
    ));
    svd(
        a,
        s.as_mut(),
        Some(u.as_mut()),
        Some(v.as_mut()),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )?;
    for c in 0..k {
        let mut best = 0usize;
        for r in 0..m {
            if u[(r, c)].abs() > u[(best, c)].abs() {
                best = r;
            }
        }
        if u[(best, c)] < 0.0 {
            for r in 0..m {
                u[(r, c)] = -u[(r, c)];
            }
            for r in 0..n {
                v[(r, c)] = -v[(r, c)];
            }
        }
    }
    let s = (0..k).map(|i| s.column_vector()[i]).collect();
    Ok(Svd { u, s, v })
}

/// U diag(s) Vᵀ, row-major m×n, through faer's matrix product (blocked and fast on whole
/// weight matrices; the same bits on one machine).
pub(crate) fn rebuild(u: MatRef<'_, f64>, s: &[f64], v: MatRef<'_, f64>) -> Vec<f64> {
    let (m, n) = (u.nrows(), v.nrows());
    let k = s.len();
    let us = Mat::from_fn(m, k, |i, c| u[(i, c)] * s[c]);
    let prod: Mat<f64> = us * v.subcols(0, k).transpose();
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            out.push(prod[(i, j)]);
        }
    }
    out
}

/// CPython's Mersenne Twister (`random.Random(seed)` for an int seed, `random()` =
/// genrand_res53), for the compat names that reproduce 0.11.0's draws bit for bit.
pub(crate) struct Mt19937 {
    mt: [u32; 624],
    idx: usize,
}

impl Mt19937 {
    fn init_genrand(s: u32) -> Self {
        let mut mt = [0u32; 624];
        mt[0] = s;
        for i in 1..624 {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { mt, idx: 624 }
    }

    /// `random.seed(seed)`: init_by_array over the 32-bit words of |seed|, least significant
    /// first (one word 0 for seed 0), as CPython's `random_seed` does.
    pub(crate) fn new(seed: i128) -> Self {
        let mut n = seed.unsigned_abs();
        let mut key = Vec::new();
        while n > 0 {
            key.push(n as u32);
            n >>= 32;
        }
        if key.is_empty() {
            key.push(0);
        }
        let mut g = Self::init_genrand(19_650_218);
        let mt = &mut g.mt;
        let (mut i, mut j) = (1usize, 0usize);
        let len = key.len();
        for _ in 0..624.max(len) {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= 624 {
                mt[0] = mt[623];
                i = 1;
            }
            if j >= len {
                j = 0;
            }
        }
        for _ in 0..623 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= 624 {
                mt[0] = mt[623];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        g
    }

    fn next_u32(&mut self) -> u32 {
        if self.idx >= 624 {
            for k in 0..624 {
                let y = (self.mt[k] & 0x8000_0000) | (self.mt[(k + 1) % 624] & 0x7fff_ffff);
                let mut v = self.mt[(k + 397) % 624] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.mt[k] = v;
            }
            self.idx = 0;
        }
        let mut y = self.mt[self.idx];
        self.idx += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `random.random()`.
    pub(crate) fn random(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) * (1.0 / 9_007_199_254_740_992.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_matches_cpython() {
        // python3 -c "import random; r=random.Random(42); print([r.random() for _ in range(3)])"
        let mut r = Mt19937::new(42);
        assert_eq!(r.random(), 0.6394267984578837);
        assert_eq!(r.random(), 0.025010755222666936);
        assert_eq!(r.random(), 0.27502931836911926);
        // A seed above 2³² uses two key words.
        let mut r = Mt19937::new(1 << 40);
        assert_eq!(r.random(), 0.1036394562812375);
        assert_eq!(Mt19937::new(0).random(), 0.8444218515250481);
    }

    #[test]
    fn percentile_is_numpy_linear() {
        let x = [3.0, 1.0, 2.0, 10.0];
        assert_eq!(percentile(&x, 0.0), 1.0);
        assert_eq!(percentile(&x, 100.0), 10.0);
        assert_eq!(percentile(&x, 50.0), 2.5);
        // np.percentile([3., 1, 2, 10], 80) == 5.8000000000000025
        assert_eq!(percentile(&x, 80.0), 5.8000000000000025);
    }
}
