//! Theta (KMV) sketches: the k smallest distinct hashes below θ.
//!
//! An item's hash is DataSketches' Theta hash, `h1 >> 1` of MurmurHash3_x64_128 (seed 9001),
//! a 63-bit value; 0 is never retained. The state is (lg_k, θ, the retained hashes, sorted):
//! every retained hash is below θ, at most `k = 2^lg_k` are kept, and when more would be, θ
//! becomes the (k+1)-th smallest and only hashes below it stay. Union is the join: θ = the
//! smaller θ, hashes = the union below it, then the same trim (to the smaller k when the lg_k
//! differ); the result depends only on the set of hashes seen and the smallest k, so it is
//! commutative, associative and idempotent, and the bytes are canonical. The estimate is
//! `retained / (θ / 2^63)`; the intersection keeps the common hashes below the smaller θ.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// θ of a sketch that has never trimmed (DataSketches' `MAX_THETA`).
pub const MAX_THETA: u64 = i64::MAX as u64;
/// Default lg_k.
pub const DEFAULT_LG_K: i64 = 12;

/// A Theta sketch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Theta {
    lg_k: u8,
    theta: u64,
    hashes: Vec<u64>,
    /// Hashes added since the last trim, unsorted (empty in every finished state).
    #[serde(default)]
    pending: Vec<u64>,
}

impl Theta {
    /// An empty sketch.
    ///
    /// # Errors
    /// lg_k outside 5..=26.
    pub fn new(function: &str, lg_k: i64) -> Result<Theta> {
        if !(5..=26).contains(&lg_k) {
            return Err(Error::invalid(
                function,
                "lg_k",
                "an integer from 5 to 26",
                lg_k.to_string(),
            ));
        }
        Ok(Theta {
            lg_k: lg_k as u8,
            theta: MAX_THETA,
            hashes: Vec::new(),
            pending: Vec::new(),
        })
    }

    /// A sketch from decoded parts (checked by the caller: sorted, distinct, below θ, ≤ k).
    pub(crate) fn from_parts(lg_k: u8, theta: u64, hashes: Vec<u64>) -> Theta {
        Theta {
            lg_k,
            theta,
            hashes,
            pending: Vec::new(),
        }
    }

    /// lg of the nominal size k.
    pub fn lg_k(&self) -> u8 {
        self.lg_k
    }
    /// θ as a 63-bit integer.
    pub fn theta(&self) -> u64 {
        self.theta
    }
    /// Retained hashes, ascending.
    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// Adds an item by its two MurmurHash3 halves.
    #[inline]
    pub fn add_hash(&mut self, h1: u64) {
        let h = h1 >> 1;
        if h == 0 || h >= self.theta {
            return;
        }
        self.pending.push(h);
        if self.pending.len() >= (1usize << self.lg_k).max(1024) {
            self.settle();
        }
    }

    /// Whether no hashes are pending ([`Theta::settle`] would change nothing).
    pub fn is_settled(&self) -> bool {
        self.pending.is_empty()
    }

    /// Folds pending hashes in: sort, deduplicate, trim to k.
    pub fn settle(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut all = std::mem::take(&mut self.pending);
        all.extend_from_slice(&self.hashes);
        all.sort_unstable();
        all.dedup();
        self.hashes = all;
        self.trim(self.lg_k);
    }

    fn trim(&mut self, lg_k: u8) {
        self.lg_k = lg_k;
        self.hashes.retain(|&h| h < self.theta);
        let k = 1usize << lg_k;
        if self.hashes.len() > k {
            self.theta = self.hashes[k];
            self.hashes.truncate(k);
        }
    }

    /// `self ← self ∪ other`.
    pub fn join(&mut self, other: &Theta) {
        self.settle();
        let mut o = other.clone();
        o.settle();
        self.theta = self.theta.min(o.theta);
        let mut all = std::mem::take(&mut self.hashes);
        all.extend_from_slice(&o.hashes);
        all.sort_unstable();
        all.dedup();
        self.hashes = all;
        self.trim(self.lg_k.min(o.lg_k));
    }

    /// The intersection: common hashes below the smaller θ, with the smaller lg_k.
    pub fn intersect(&self, other: &Theta) -> Theta {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.settle();
        b.settle();
        let theta = a.theta.min(b.theta);
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < a.hashes.len() && j < b.hashes.len() {
            match a.hashes[i].cmp(&b.hashes[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    if a.hashes[i] < theta {
                        out.push(a.hashes[i]);
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        Theta {
            lg_k: a.lg_k.min(b.lg_k),
            theta,
            hashes: out,
            pending: Vec::new(),
        }
    }

    /// The cardinality estimate.
    pub fn estimate(&self) -> f64 {
        let mut s = self.clone();
        s.settle();
        if s.theta == MAX_THETA {
            return s.hashes.len() as f64;
        }
        s.hashes.len() as f64 / (s.theta as f64 / MAX_THETA as f64)
    }

    /// Checks a decoded sketch's invariants.
    pub(crate) fn check(&self, function: &str) -> Result<()> {
        let ok = (5..=26).contains(&self.lg_k)
            && self.theta <= MAX_THETA
            && self.hashes.len() <= 1usize << self.lg_k
            && self.hashes.windows(2).all(|w| w[0] < w[1])
            && self.hashes.first().is_none_or(|&h| h > 0)
            && self.hashes.last().is_none_or(|&h| h < self.theta);
        if ok {
            Ok(())
        } else {
            Err(Error::invalid(
                function,
                "state",
                "a Theta sketch: lg_k 5..=26, at most 2^lg_k ascending distinct hashes in 1..θ, θ < 2^63",
                format!("lg_k {}, θ {}, {} hashes", self.lg_k, self.theta, self.hashes.len()),
            ))
        }
    }
}
