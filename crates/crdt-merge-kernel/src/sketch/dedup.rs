//! Near-duplicate rows: exact (normalised text) or MinHash LSH over character k-grams.
//!
//! The text of a row is normalised as the Python library's fuzzy mode does (lower-cased,
//! whitespace runs collapsed to one space, trimmed). `exact` clusters rows with equal
//! normalised text; `minhash` hashes the k-grams of each text into a [`MinHash`] (datasketch's
//! scheme), buckets rows by LSH bands (b, r chosen as datasketch's `MinHashLSH` chooses them for
//! the threshold, equal weights), and joins two rows when their estimated Jaccard similarity is
//! at least the threshold. Clusters are the connected components; each keeps the row with the
//! smallest key, so the answer depends only on the rows, not on their order.

use std::collections::HashMap;

use super::minhash::{item_hash, MinHash};
use crate::error::{Error, Result};

/// Lower-cases, collapses whitespace runs to one space, trims.
pub fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The MinHash of the character k-grams of `text` (the whole text when shorter than k).
pub fn signature(text: &str, k: usize, num_perm: i64, seed: i64) -> Result<MinHash> {
    let mut m = MinHash::new("crdt-merge dedup", num_perm, seed)?;
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= k {
        m.add_hash(item_hash(text.as_bytes()));
    } else {
        let mut buf = String::new();
        for w in chars.windows(k) {
            buf.clear();
            buf.extend(w);
            m.add_hash(item_hash(buf.as_bytes()));
        }
    }
    Ok(m)
}

fn integrate(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    // Simpson's rule; the integrands are smooth polynomials in s.
    let n = 200;
    let h = (b - a) / f64::from(n);
    let mut s = f(a) + f(b);
    for i in 1..n {
        let x = a + h * f64::from(i);
        s += if i % 2 == 1 { 4.0 } else { 2.0 } * f(x);
    }
    s * h / 3.0
}

/// The (bands, rows) that minimise the false-positive plus false-negative area at `threshold`
/// (datasketch's `_optimal_param` with weights 0.5, 0.5).
pub fn lsh_params(threshold: f64, num_perm: usize) -> (usize, usize) {
    let mut best = (1, num_perm.max(1));
    let mut err = f64::INFINITY;
    for b in 1..=num_perm {
        for r in 1..=num_perm / b {
            let p = |s: f64| 1.0 - (1.0 - s.powi(r as i32)).powi(b as i32);
            let fp = integrate(p, 0.0, threshold);
            let fnr = integrate(|s| 1.0 - p(s), threshold, 1.0);
            let e = 0.5 * fp + 0.5 * fnr;
            if e < err - 1e-12 {
                err = e;
                best = (b, r);
            }
        }
    }
    best
}

/// How rows are compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Equal normalised text.
    Exact,
    /// Estimated Jaccard similarity of character k-grams ≥ threshold.
    MinHash {
        /// Similarity at or above which two rows are duplicates.
        threshold: f64,
        /// Permutations.
        num_perm: i64,
        /// k of the character k-grams.
        k: usize,
    },
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// For rows given as (rank of their key, text), in any order, whether each row is kept: the
/// smallest-ranked row of every cluster. `rank` must order keys (equal keys are one row each).
///
/// # Errors
/// A threshold outside (0, 1] or bad MinHash parameters.
pub fn keep(rows: &[(usize, String)], method: Method) -> Result<Vec<bool>> {
    let n = rows.len();
    let mut parent: Vec<usize> = (0..n).collect();
    let texts: Vec<String> = rows.iter().map(|(_, t)| normalise(t)).collect();
    let union = |a: usize, b: usize, parent: &mut Vec<usize>| {
        let (x, y) = (find(parent, a), find(parent, b));
        if x != y {
            // The smaller key's row becomes the root.
            if rows[x].0 <= rows[y].0 {
                parent[y] = x;
            } else {
                parent[x] = y;
            }
        }
    };
    match method {
        Method::Exact => {
            let mut first: HashMap<&str, usize> = HashMap::new();
            for (i, t) in texts.iter().enumerate() {
                match first.get(t.as_str()) {
                    Some(&j) => union(i, j, &mut parent),
                    None => {
                        first.insert(t, i);
                    }
                }
            }
        }
        Method::MinHash {
            threshold,
            num_perm,
            k,
        } => {
            if !(threshold > 0.0 && threshold <= 1.0) {
                return Err(Error::invalid(
                    "crdt-merge dedup",
                    "threshold",
                    "a similarity in (0, 1]",
                    threshold.to_string(),
                ));
            }
            let sigs: Vec<MinHash> = texts
                .iter()
                .map(|t| signature(t, k.max(1), num_perm, 1))
                .collect::<Result<_>>()?;
            let (b, r) = lsh_params(threshold, num_perm as usize);
            let mut buckets: HashMap<u64, Vec<usize>> = HashMap::new();
            for (i, s) in sigs.iter().enumerate() {
                for h in s.bands(b as i64, r as i64, "crdt-merge dedup")? {
                    buckets.entry(h).or_default().push(i);
                }
            }
            let mut keys: Vec<u64> = buckets.keys().copied().collect();
            keys.sort_unstable();
            for key in keys {
                let members = &buckets[&key];
                for (x, &i) in members.iter().enumerate() {
                    for &j in &members[x + 1..] {
                        if find(&mut parent, i) != find(&mut parent, j)
                            && sigs[i].jaccard(&sigs[j], "crdt-merge dedup")? >= threshold
                        {
                            union(i, j, &mut parent);
                        }
                    }
                }
            }
        }
    }
    Ok((0..n).map(|i| find(&mut parent, i) == i).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_keeps_the_smallest_key_of_each_group() {
        let rows = vec![
            (2, "Hello  World".to_string()),
            (0, "other".to_string()),
            (1, "hello world".to_string()),
        ];
        assert_eq!(keep(&rows, Method::Exact).unwrap(), [false, true, true]);
    }

    #[test]
    fn minhash_finds_near_duplicates_in_any_order() {
        let base = "the quick brown fox jumps over the lazy dog near the river bank";
        let mut rows = vec![
            (0, base.to_string()),
            (1, format!("{base}!")),
            (
                2,
                "completely different sentence about databases and merging".to_string(),
            ),
            (3, base.replace("lazy", "sleepy")),
        ];
        let m = Method::MinHash {
            threshold: 0.6,
            num_perm: 128,
            k: 3,
        };
        assert_eq!(keep(&rows, m).unwrap(), [true, false, true, false]);
        rows.reverse();
        assert_eq!(keep(&rows, m).unwrap(), [false, true, false, true]);
    }

    #[test]
    fn lsh_params_match_datasketch() {
        // datasketch 2.0's MinHashLSH(threshold=t, num_perm=128).b and .r.
        assert_eq!(lsh_params(0.5, 128), (25, 5));
        assert_eq!(lsh_params(0.9, 128), (5, 25));
        assert_eq!(lsh_params(0.6, 128), (18, 7));
    }
}
