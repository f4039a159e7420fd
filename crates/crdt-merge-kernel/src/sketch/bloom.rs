//! Bloom filter: OR of bit arrays with the same size, hash count and family.
//!
//! Sizing is the Python library's: `m = max(64, ceil(−n·ln p / ln² 2))` bits and
//! `k = max(1, ceil(m/n · ln 2))` hashes; bit `i` of the item is `(h1 + i·h2) mod m` in exact
//! (unbounded) arithmetic, stored LSB-first (byte `pos >> 3`, bit `pos & 7`). For `murmur3`,
//! h1 and h2 are the two halves of MurmurHash3_x64_128 (seed 9001); for `upstream`, the
//! Python library's `_hash64` with seeds 0 and 42, so its filters answer the same.

use serde::{Deserialize, Serialize};

use super::hash::Family;
use crate::error::{Error, Result};

/// Default capacity.
pub const DEFAULT_CAPACITY: i64 = 10_000;
/// Default false-positive rate.
pub const DEFAULT_FP_RATE: f64 = 0.01;
/// Largest bit array accepted (2^32 bits = 512 MiB), against denial of service.
pub const MAX_BITS: u64 = 1 << 32;

/// A Bloom filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bloom {
    capacity: u64,
    fp_rate: f64,
    size: u64,
    num_hashes: u32,
    family: Family,
    bits: Vec<u8>,
}

impl Bloom {
    /// An empty filter sized for `capacity` items at `fp_rate`.
    ///
    /// # Errors
    /// Capacity below 1, a rate outside (0, 1), a filter over [`MAX_BITS`], or a family other
    /// than `murmur3` and `upstream`.
    pub fn new(function: &str, capacity: i64, fp_rate: f64, family: Family) -> Result<Bloom> {
        if capacity < 1 {
            return Err(Error::invalid(
                function,
                "capacity",
                "a positive integer",
                capacity.to_string(),
            ));
        }
        if !(fp_rate > 0.0 && fp_rate < 1.0) {
            return Err(Error::invalid(
                function,
                "fp_rate",
                "a rate between 0 and 1 (exclusive)",
                fp_rate.to_string(),
            ));
        }
        if !matches!(family, Family::Murmur3 | Family::Upstream) {
            return Err(Error::invalid(
                function,
                "family",
                "'murmur3' or 'upstream'",
                format!("'{}'", family.name()),
            ));
        }
        let n = capacity as f64;
        let m = (-n * fp_rate.ln() / (std::f64::consts::LN_2 * std::f64::consts::LN_2)).ceil();
        if m > MAX_BITS as f64 {
            return Err(Error::invalid(
                function,
                "capacity",
                format!("a filter of at most {MAX_BITS} bits"),
                format!("{m} bits for capacity {capacity} at fp_rate {fp_rate}"),
            ));
        }
        let size = (m as u64).max(64);
        let k = ((size as f64 / n) * std::f64::consts::LN_2).ceil().max(1.0) as u32;
        Bloom::with_shape(function, capacity as u64, fp_rate, size, k, family, None)
    }

    /// A filter of an explicit shape (decoded frames), with `bits` or empty.
    pub(crate) fn with_shape(
        function: &str,
        capacity: u64,
        fp_rate: f64,
        size: u64,
        num_hashes: u32,
        family: Family,
        bits: Option<Vec<u8>>,
    ) -> Result<Bloom> {
        if size == 0 || size > MAX_BITS || num_hashes == 0 || num_hashes > 1024 {
            return Err(Error::invalid(
                function,
                "state",
                format!("a Bloom filter of 1 to {MAX_BITS} bits and 1 to 1024 hashes"),
                format!("{size} bits and {num_hashes} hashes"),
            ));
        }
        let len = size.div_ceil(8) as usize;
        let bits = bits.unwrap_or_else(|| vec![0; len]);
        if bits.len() != len {
            return Err(Error::invalid(
                function,
                "state",
                format!("{len} bytes of bits for {size} bits"),
                format!("{} bytes", bits.len()),
            ));
        }
        Ok(Bloom {
            capacity,
            fp_rate,
            size,
            num_hashes,
            family,
            bits,
        })
    }

    /// Capacity it was sized for.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
    /// Target false-positive rate.
    pub fn fp_rate(&self) -> f64 {
        self.fp_rate
    }
    /// Bits m.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// Hashes k.
    pub fn num_hashes(&self) -> u32 {
        self.num_hashes
    }
    /// Hash family.
    pub fn family(&self) -> Family {
        self.family
    }
    /// The bit array, LSB-first.
    pub fn bits(&self) -> &[u8] {
        &self.bits
    }

    /// Bit positions `(h1 + i·h2) mod m`, i < k, in exact arithmetic: the same as stepping by
    /// `h2 mod m` from `h1 mod m` (m ≤ 2^32, so the sums fit in a u64).
    #[inline]
    fn positions(&self, h1: u64, h2: u64) -> impl Iterator<Item = u64> + '_ {
        let m = self.size;
        let step = h2 % m;
        (0..self.num_hashes).scan(h1 % m, move |pos, _| {
            let p = *pos;
            *pos = (*pos + step) % m;
            Some(p)
        })
    }

    /// Adds an item by its two hashes.
    #[inline]
    pub fn add_hash(&mut self, h1: u64, h2: u64) {
        let (m, step) = (self.size, h2 % self.size);
        let mut pos = h1 % m;
        for _ in 0..self.num_hashes {
            self.bits[(pos >> 3) as usize] |= 1 << (pos & 7);
            pos = (pos + step) % m;
        }
    }

    /// Whether an item (by its two hashes) may be in the set.
    pub fn contains_hash(&self, h1: u64, h2: u64) -> bool {
        self.positions(h1, h2)
            .all(|pos| self.bits[(pos >> 3) as usize] & (1 << (pos & 7)) != 0)
    }

    fn shape(&self) -> String {
        format!(
            "capacity {}, fp_rate {}, {} bits, {} hashes, family '{}'",
            self.capacity,
            self.fp_rate,
            self.size,
            self.num_hashes,
            self.family.name()
        )
    }

    /// `self ← self ⊔ other` (bitwise OR).
    ///
    /// # Errors
    /// Filters of different shapes or families, naming both.
    pub fn join(&mut self, other: &Bloom, function: &str) -> Result<()> {
        if (self.size, self.num_hashes, self.family) != (other.size, other.num_hashes, other.family)
            || self.capacity != other.capacity
            || self.fp_rate.to_bits() != other.fp_rate.to_bits()
        {
            return Err(Error::invalid(
                function,
                "state",
                format!(
                    "a Bloom filter of the first state's shape ({})",
                    self.shape()
                ),
                other.shape(),
            ));
        }
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a |= b;
        }
        Ok(())
    }

    /// Items estimated from the fill, `−m/k · ln(1 − fill)` (a function of the bits, so equal
    /// filters give equal counts); `capacity` when every bit is set.
    pub fn estimated_count(&self) -> u64 {
        let set: u64 = self.bits.iter().map(|b| u64::from(b.count_ones())).sum();
        let fill = set as f64 / self.size as f64;
        if fill >= 1.0 {
            return self.capacity;
        }
        (-(self.size as f64) / f64::from(self.num_hashes) * (1.0 - fill).ln()).round() as u64
    }
}
