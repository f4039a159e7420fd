//! MinHash signatures, bit-identical to Python `datasketch` 2.x's default scheme (`affine32`).
//!
//! Per item: `h = fmix32(u32_le(sha1(bytes)[0..4]))`, then slot k keeps
//! `min(hv_k, (a_k·h + b_k) mod 2^32)`; slots start at `2^32 − 1`. The permutations come from
//! numpy's `RandomState(seed)` (MT19937 `init_genrand(seed)`): with raw outputs r_0, r_1, …,
//! `a_k = 2·(r_k & 0x7fffffff) + 1` and `b_k = r_{num_perm+k}`. The join is the slot-wise
//! minimum (the signature of the union), so the same set gives the same signature in any order
//! and grouping.

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::error::{Error, Result};

/// Default number of permutations.
pub const DEFAULT_NUM_PERM: i64 = 128;
/// Default seed.
pub const DEFAULT_SEED: i64 = 1;
/// Most permutations accepted.
pub const MAX_NUM_PERM: i64 = 8192;

/// A MinHash signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MinHash {
    seed: u32,
    hashvalues: Vec<u32>,
    #[serde(skip)]
    perms: Option<Box<(Vec<u32>, Vec<u32>)>>,
}

// Equality ignores the cached permutations (a function of num_perm and seed).
impl PartialEq for MinHash {
    fn eq(&self, other: &Self) -> bool {
        self.seed == other.seed && self.hashvalues == other.hashvalues
    }
}
impl Eq for MinHash {}

struct Mt19937 {
    mt: [u32; 624],
    i: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Self {
        let mut mt = [0u32; 624];
        mt[0] = seed;
        for i in 1..624 {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { mt, i: 624 }
    }

    fn next(&mut self) -> u32 {
        if self.i >= 624 {
            for k in 0..624 {
                let y = (self.mt[k] & 0x8000_0000) | (self.mt[(k + 1) % 624] & 0x7fff_ffff);
                let mut v = self.mt[(k + 397) % 624] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.mt[k] = v;
            }
            self.i = 0;
        }
        let mut y = self.mt[self.i];
        self.i += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }
}

/// The (a, b) permutations for `num_perm` and `seed`.
pub fn permutations(num_perm: usize, seed: u32) -> (Vec<u32>, Vec<u32>) {
    let mut g = Mt19937::new(seed);
    let a = (0..num_perm)
        .map(|_| (g.next() & 0x7fff_ffff).wrapping_mul(2).wrapping_add(1))
        .collect();
    let b = (0..num_perm).map(|_| g.next()).collect();
    (a, b)
}

#[inline]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// datasketch's per-item hash: fmix32 of the first four bytes of SHA-1, little-endian.
pub fn item_hash(bytes: &[u8]) -> u32 {
    let d = Sha1::digest(bytes);
    fmix32(u32::from_le_bytes([d[0], d[1], d[2], d[3]]))
}

impl MinHash {
    /// An empty signature.
    ///
    /// # Errors
    /// `num_perm` outside 1..=8192 or a seed outside 0..2^32.
    pub fn new(function: &str, num_perm: i64, seed: i64) -> Result<MinHash> {
        if !(1..=MAX_NUM_PERM).contains(&num_perm) {
            return Err(Error::invalid(
                function,
                "num_perm",
                format!("an integer from 1 to {MAX_NUM_PERM}"),
                num_perm.to_string(),
            ));
        }
        let seed = u32::try_from(seed).map_err(|_| {
            Error::invalid(
                function,
                "seed",
                "an integer from 0 to 4294967295 (numpy's RandomState seeds)",
                seed.to_string(),
            )
        })?;
        Ok(MinHash {
            seed,
            hashvalues: vec![u32::MAX; num_perm as usize],
            perms: None,
        })
    }

    /// A signature with explicit values (decoded frames).
    pub(crate) fn from_values(seed: u32, hashvalues: Vec<u32>) -> MinHash {
        MinHash {
            seed,
            hashvalues,
            perms: None,
        }
    }

    /// Number of permutations.
    pub fn num_perm(&self) -> usize {
        self.hashvalues.len()
    }
    /// Seed.
    pub fn seed(&self) -> u32 {
        self.seed
    }
    /// The signature.
    pub fn hashvalues(&self) -> &[u32] {
        &self.hashvalues
    }

    /// Adds an item by its [`item_hash`].
    #[inline]
    pub fn add_hash(&mut self, h: u32) {
        let n = self.hashvalues.len();
        let seed = self.seed;
        let p = self
            .perms
            .get_or_insert_with(|| Box::new(permutations(n, seed)));
        for ((hv, a), b) in self.hashvalues.iter_mut().zip(&p.0).zip(&p.1) {
            let v = a.wrapping_mul(h).wrapping_add(*b);
            if v < *hv {
                *hv = v;
            }
        }
    }

    fn check(&self, other: &MinHash, function: &str) -> Result<()> {
        if (self.num_perm(), self.seed) != (other.num_perm(), other.seed) {
            return Err(Error::invalid(
                function,
                "state",
                format!(
                    "a MinHash with the first state's num_perm {} and seed {}",
                    self.num_perm(),
                    self.seed
                ),
                format!("num_perm {} and seed {}", other.num_perm(), other.seed),
            ));
        }
        Ok(())
    }

    /// `self ← self ⊔ other`: the slot-wise minimum.
    ///
    /// # Errors
    /// Different num_perm or seed, naming both.
    pub fn join(&mut self, other: &MinHash, function: &str) -> Result<()> {
        self.check(other, function)?;
        for (a, b) in self.hashvalues.iter_mut().zip(&other.hashvalues) {
            *a = (*a).min(*b);
        }
        Ok(())
    }

    /// The Jaccard estimate: the fraction of equal slots (datasketch's `jaccard`).
    ///
    /// # Errors
    /// Different num_perm or seed.
    pub fn jaccard(&self, other: &MinHash, function: &str) -> Result<f64> {
        self.check(other, function)?;
        let same = self
            .hashvalues
            .iter()
            .zip(&other.hashvalues)
            .filter(|(a, b)| a == b)
            .count();
        Ok(same as f64 / self.num_perm() as f64)
    }

    /// LSH band hashes: band i (of `b` bands of `r` rows) is the first 8 bytes, little-endian,
    /// of `blake3::derive_key("crdt-merge minhash band v1", i ‖ r ‖ hv[i·r..(i+1)·r])`, every
    /// number u32 little-endian. Two signatures share band i exactly when those r slots agree.
    ///
    /// # Errors
    /// `b` or `r` below 1, or `b·r` above num_perm.
    pub fn bands(&self, b: i64, r: i64, function: &str) -> Result<Vec<u64>> {
        if b < 1 || r < 1 || b.saturating_mul(r) > self.num_perm() as i64 {
            return Err(Error::invalid(
                function,
                if b < 1 { "b" } else { "r" },
                format!(
                    "positive b and r with b × r ≤ num_perm ({})",
                    self.num_perm()
                ),
                format!("b {b}, r {r}"),
            ));
        }
        let (b, r) = (b as usize, r as usize);
        Ok((0..b)
            .map(|i| {
                let mut h = blake3::Hasher::new_derive_key("crdt-merge minhash band v1");
                h.update(&(i as u32).to_le_bytes());
                h.update(&(r as u32).to_le_bytes());
                for v in &self.hashvalues[i * r..(i + 1) * r] {
                    h.update(&v.to_le_bytes());
                }
                let out = h.finalize();
                let mut w = [0u8; 8];
                w.copy_from_slice(&out.as_bytes()[..8]);
                u64::from_le_bytes(w)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasketch_seed_one_vectors() {
        let (a, b) = permutations(4, 1);
        assert_eq!(a, [3582191691, 4270784983, 1892572953, 3715639441]);
        assert_eq!(b, [491263, 550290313, 1298508491, 4290846341]);
        let mut m = MinHash::new("t", 4, 1).unwrap();
        m.add_hash(item_hash(b"alpha"));
        m.add_hash(item_hash(b"beta"));
        assert_eq!(
            m.hashvalues(),
            [1140239787, 1658306149, 782576559, 982958409]
        );
    }
}
