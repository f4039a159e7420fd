//! Deterministic reductions and selections shared by the strategies.
//!
//! Sums run over fixed blocks of [`BLOCK`] elements, each summed left to right, and the block sums
//! are combined in block order, so the bits never depend on the thread count or the machine (no
//! runtime-dispatched SIMD, no FMA: Rust never contracts `a * b + c` on its own). Ranks use a total
//! order, (magnitude bit pattern, element index), so equal magnitudes cannot make a selection
//! depend on the sort algorithm.

use rayon::prelude::*;

/// Elements per reduction block (fixed: part of the bit-exact result).
pub const BLOCK: usize = 4096;

/// The per-block partial sums of f(0..n), in block order.
fn block_partials<F>(n: usize, f: F) -> Vec<f64>
where
    F: Fn(usize) -> f64 + Sync,
{
    let blocks = n.div_ceil(BLOCK);
    (0..blocks)
        .into_par_iter()
        .map(|b| {
            let mut acc = 0.0f64;
            for i in b * BLOCK..((b + 1) * BLOCK).min(n) {
                acc += f(i);
            }
            acc
        })
        .collect()
}

/// Combines block partials in block order (the one place that does, so a sum computed from
/// chunks that start on block boundaries equals the whole-array sum bit for bit).
pub fn combine_partials(partials: &[f64]) -> f64 {
    partials.iter().sum()
}

fn blocked<F>(n: usize, f: F) -> f64
where
    F: Fn(usize) -> f64 + Sync,
{
    combine_partials(&block_partials(n, f))
}

/// The block partials of Σ xᵢ·yᵢ for a chunk of larger arrays (see [`l1_partials`]).
pub fn dot_partials(x: &[f64], y: &[f64]) -> Vec<f64> {
    assert_eq!(x.len(), y.len());
    block_partials(x.len(), |i| x[i] * y[i])
}

/// The block partials of Σ|xᵢ| for a chunk of a larger array: with the chunk starting on a
/// [`BLOCK`] boundary, concatenating every chunk's partials in order and combining them equals
/// [`l1`] of the whole array.
pub fn l1_partials(x: &[f64]) -> Vec<f64> {
    block_partials(x.len(), |i| x[i].abs())
}

/// Σ xᵢ.
pub fn sum(x: &[f64]) -> f64 {
    blocked(x.len(), |i| x[i])
}

/// Σ xᵢ·yᵢ.
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len());
    blocked(x.len(), |i| x[i] * y[i])
}

/// Σ |xᵢ|.
pub fn l1(x: &[f64]) -> f64 {
    blocked(x.len(), |i| x[i].abs())
}

/// √(Σ xᵢ²).
pub fn l2(x: &[f64]) -> f64 {
    dot(x, x).sqrt()
}

/// The rank key of element `i`: magnitude bits then index (a total order).
#[inline]
fn key(x: &[f64], i: usize) -> (u64, usize) {
    (x[i].abs().to_bits(), i)
}

/// A mask keeping the `k` elements of greatest magnitude (ties: the greater index wins, by the
/// total order (|x| bits, index)). O(n).
pub fn top_k_mask(x: &[f64], k: usize) -> Vec<bool> {
    let n = x.len();
    let mut mask = vec![false; n];
    if k == 0 {
        return mask;
    }
    if k >= n {
        mask.iter_mut().for_each(|m| *m = true);
        return mask;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    // After this, idx[n-k..] hold the k greatest keys.
    idx.select_nth_unstable_by_key(n - k, |&i| key(x, i));
    for &i in &idx[n - k..] {
        mask[i] = true;
    }
    mask
}

/// Ranks 0..n of every element in ascending (|x| bits, index) order: `rank[i]` is element i's
/// position. O(n log n).
pub fn ascending_ranks(x: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_unstable_by_key(|&i| key(x, i));
    let mut rank = vec![0usize; x.len()];
    for (r, &i) in idx.iter().enumerate() {
        rank[i] = r;
    }
    rank
}

/// Element indices sorted ascending by (|x| bits, index).
pub fn ascending_order(x: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_unstable_by_key(|&i| key(x, i));
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_do_not_depend_on_threads() {
        let x: Vec<f64> = (0..100_003)
            .map(|i| ((i * 7919) % 1000) as f64 * 1e-3 - 0.37)
            .collect();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| sum(&x));
        let four = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap()
            .install(|| sum(&x));
        assert_eq!(one.to_bits(), four.to_bits());
    }

    #[test]
    fn top_k_breaks_ties_by_index() {
        let x = [1.0, -3.0, 3.0, 0.5, 3.0];
        assert_eq!(top_k_mask(&x, 2), vec![false, false, true, false, true]);
        assert_eq!(top_k_mask(&x, 0), vec![false; 5]);
        assert_eq!(top_k_mask(&x, 9), vec![true; 5]);
        assert_eq!(ascending_ranks(&x), vec![1, 2, 3, 0, 4]);
    }
}
