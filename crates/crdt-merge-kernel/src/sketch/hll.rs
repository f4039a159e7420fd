//! HyperLogLog: `2^p` registers, joined by register-wise max.
//!
//! Registers by family (h = the family's 64-bit hash of the item's bytes, see [`super::hash`]):
//!
//! | family | register index | register value |
//! |---|---|---|
//! | `murmur3` (DataSketches' coupon rule) | low p bits of h1 | `min(nlz(h2), 62) + 1` |
//! | `pg_hll` (postgresql-hll) | low p bits of h | `ctz(h >> p) + 1`, capped at 31; 0 when `h >> p` is 0 |
//! | `upstream` (crdt-merge 0.11) | top p bits of h | 1 + leading zeros of bits 63−p..0 of `h << p` |
//!
//! A join of two precisions folds the larger to the smaller first, which is exact for
//! `murmur3` (the value does not depend on p) and `pg_hll` (the dropped index bits become the
//! low bits of `h >> p'`), so it is still a join; the Python library refuses different
//! precisions, and so does family `upstream`. The estimate is Ertl's improved raw estimator
//! ("New cardinality estimation algorithms for HyperLogLog sketches", 2017), accurate from 0 to
//! well past 10^9 without bias-correction tables.

use serde::{Deserialize, Serialize};

use super::hash::Family;
use crate::error::{Error, Result};

/// Smallest and largest precision.
pub const PRECISIONS: std::ops::RangeInclusive<u8> = 4..=18;
/// Default precision (0.81% standard error).
pub const DEFAULT_PRECISION: u8 = 14;

/// A HyperLogLog sketch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hll {
    precision: u8,
    family: Family,
    registers: Vec<u8>,
    /// Register updates a grouped aggregate buffered (`index << 8 | value`), applied in
    /// batches of [`PENDING_BATCH`] so that a group's registers are written while they are in
    /// cache (with many groups, one register write per row would miss it almost every time).
    /// Empty in every decoded or finished sketch ([`Hll::settle`]); every reader settles first.
    #[serde(default)]
    pending: Vec<u32>,
}

/// Buffered register updates per sketch before they are applied.
const PENDING_BATCH: usize = 1024;
/// Smallest precision whose updates [`Hll::add_buffered`] buffers.
const BUFFERED_PRECISION: u8 = 12;

impl Hll {
    /// An empty sketch.
    ///
    /// # Errors
    /// Precision outside 4..=18, or family `sha1` (MinHash only).
    pub fn new(function: &str, precision: i64, family: Family) -> Result<Hll> {
        if !(4..=18).contains(&precision) {
            return Err(Error::invalid(
                function,
                "precision",
                "an integer from 4 to 18",
                precision.to_string(),
            ));
        }
        if family == Family::Sha1 {
            return Err(Error::invalid(
                function,
                "family",
                "'murmur3', 'pg_hll' or 'upstream'",
                "'sha1' (a MinHash family)",
            ));
        }
        Ok(Hll {
            precision: precision as u8,
            family,
            registers: vec![0; 1 << precision],
            pending: Vec::new(),
        })
    }

    /// Builds a sketch from registers (a decoded frame).
    pub(crate) fn from_registers(precision: u8, family: Family, registers: Vec<u8>) -> Hll {
        Hll {
            precision,
            family,
            registers,
            pending: Vec::new(),
        }
    }

    /// Precision p (2^p registers).
    pub fn precision(&self) -> u8 {
        self.precision
    }

    /// Hash family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The registers (of a settled sketch: every decoded or finished one).
    pub fn registers(&self) -> &[u8] {
        debug_assert!(self.pending.is_empty(), "registers of an unsettled HLL");
        &self.registers
    }

    /// The largest register value the family produces.
    fn max_value(&self) -> u8 {
        match self.family {
            Family::PgHll => 31,
            Family::Upstream => 64 - self.precision + 1,
            _ => 63,
        }
    }

    /// Adds an item by its family hash: (h1, h2) for `murmur3`, (h, 0) for the others.
    #[inline]
    pub fn add_hash(&mut self, h1: u64, h2: u64) {
        let p = u32::from(self.precision);
        let (idx, val) = match self.family {
            Family::Murmur3 | Family::Sha1 => {
                let idx = (h1 & ((1 << p) - 1)) as usize;
                (idx, h2.leading_zeros().min(62) as u8 + 1)
            }
            Family::PgHll => {
                let idx = (h1 & ((1 << p) - 1)) as usize;
                let w = h1 >> p;
                (
                    idx,
                    if w == 0 {
                        0
                    } else {
                        (w.trailing_zeros() + 1).min(31) as u8
                    },
                )
            }
            Family::Upstream => {
                let idx = (h1 >> (64 - p)) as usize;
                let window = (h1 << p) & (u64::MAX >> p);
                let lz = if window == 0 {
                    64 - p
                } else {
                    window.leading_zeros() - p
                };
                (idx, (lz + 1) as u8)
            }
        };
        let r = &mut self.registers[idx];
        if val > *r {
            *r = val;
        }
    }

    /// Adds many items by their MurmurHash3 pairs, the family's rule chosen once (the hot loop
    /// of `crdt_hll_agg`).
    #[inline]
    pub fn add_pairs(&mut self, pairs: impl Iterator<Item = (u64, u64)>) {
        let p = u32::from(self.precision);
        let mask = (1u64 << p) - 1;
        match self.family {
            Family::Murmur3 | Family::Sha1 => {
                for (h1, h2) in pairs {
                    let r = &mut self.registers[(h1 & mask) as usize];
                    *r = (*r).max(h2.leading_zeros().min(62) as u8 + 1);
                }
            }
            _ => pairs.for_each(|(h1, h2)| self.add_hash(h1, h2)),
        }
    }

    /// Whether [`Hll::add_buffered`] buffers this sketch's updates: family `murmur3` from
    /// 2^12 registers (4 KiB) up; below that the registers of many groups stay in cache anyway,
    /// and a buffer is only extra work (measured at p = 10 over 1k groups).
    #[inline]
    fn buffers(&self) -> bool {
        matches!(self.family, Family::Murmur3) && self.precision >= BUFFERED_PRECISION
    }

    /// Adds an item by its MurmurHash3 pair for a grouped aggregate, whose rows reach each
    /// group's sketch one or two at a time: the register update is buffered and applied with
    /// the group's next [`PENDING_BATCH`] ones ([`Hll::settle`]), or added at once when this
    /// sketch does not buffer ([`Hll::buffers`]).
    #[inline]
    pub(crate) fn add_buffered(&mut self, (h1, h2): (u64, u64)) {
        if !self.buffers() {
            return self.add_hash(h1, h2);
        }
        if self.pending.capacity() == 0 {
            // One allocation per group, not one per doubling.
            self.pending.reserve_exact(PENDING_BATCH);
        }
        let mask = (1u64 << self.precision) - 1;
        let value = h2.leading_zeros().min(62) + 1;
        self.pending.push(((h1 & mask) as u32) << 8 | value);
        if self.pending.len() >= PENDING_BATCH {
            self.settle();
        }
    }

    /// Whether no register updates are buffered ([`Hll::settle`] would change nothing).
    pub fn is_settled(&self) -> bool {
        self.pending.is_empty()
    }

    /// Applies the buffered register updates ([`Hll::add_buffered`]).
    pub fn settle(&mut self) {
        for &c in &self.pending {
            let r = &mut self.registers[(c >> 8) as usize];
            *r = (*r).max((c & 0xff) as u8);
        }
        self.pending.clear();
    }

    /// This sketch folded to precision `p` (≤ its own).
    fn folded(&self, p: u8) -> Hll {
        if p >= self.precision {
            return self.clone();
        }
        let mut out = vec![0u8; 1 << p];
        let d = self.precision - p;
        let mask = (1usize << p) - 1;
        for (j, &r) in self.registers.iter().enumerate() {
            if r == 0 {
                continue;
            }
            let v = match self.family {
                Family::PgHll => {
                    let high = j >> p;
                    if high != 0 {
                        (high.trailing_zeros() + 1).min(31) as u8
                    } else {
                        (u32::from(r) + u32::from(d)).min(31) as u8
                    }
                }
                _ => r,
            };
            let slot = &mut out[j & mask];
            *slot = (*slot).max(v);
        }
        Hll {
            precision: p,
            family: self.family,
            registers: out,
            pending: Vec::new(),
        }
    }

    /// `self ← self ⊔ other`.
    ///
    /// # Errors
    /// Different families, or different precisions in family `upstream`.
    pub fn join(&mut self, other: &Hll, function: &str) -> Result<()> {
        self.settle();
        if !other.pending.is_empty() {
            let mut o = other.clone();
            o.settle();
            return self.join(&o, function);
        }
        if self.family != other.family {
            return Err(Error::invalid(
                function,
                "state",
                format!(
                    "an HLL of family '{}' (the first state's)",
                    self.family.name()
                ),
                format!("an HLL of family '{}'", other.family.name()),
            ));
        }
        if self.precision != other.precision {
            if self.family == Family::Upstream {
                return Err(Error::invalid(
                    function,
                    "state",
                    format!(
                        "an HLL of precision {} (family 'upstream' cannot fold precisions)",
                        self.precision
                    ),
                    format!("precision {}", other.precision),
                ));
            }
            let p = self.precision.min(other.precision);
            let mut a = self.folded(p);
            let b = other.folded(p);
            for (x, y) in a.registers.iter_mut().zip(&b.registers) {
                *x = (*x).max(*y);
            }
            *self = a;
            return Ok(());
        }
        for (x, y) in self.registers.iter_mut().zip(&other.registers) {
            *x = (*x).max(*y);
        }
        Ok(())
    }

    /// Checks register values against the family's range (decoded frames).
    pub(crate) fn valid_values(&self) -> bool {
        let max = self.max_value();
        self.registers.iter().all(|&r| r <= max)
    }

    /// The cardinality estimate.
    pub fn estimate(&self) -> f64 {
        if !self.pending.is_empty() {
            let mut settled = self.clone();
            settled.settle();
            return settled.estimate();
        }
        let m = self.registers.len() as f64;
        let q = usize::from(self.max_value()) - 1;
        // Four partial histograms: consecutive registers often hold the same value, and one
        // array would make each increment wait for the previous one.
        let mut parts = [[0u32; 66]; 4];
        let chunks = self.registers.chunks_exact(4);
        let rest = chunks.remainder();
        for r in chunks {
            for (part, &v) in parts.iter_mut().zip(r) {
                part[usize::from(v).min(q + 1)] += 1;
            }
        }
        for &v in rest {
            parts[0][usize::from(v).min(q + 1)] += 1;
        }
        let c: Vec<u32> = (0..q + 2)
            .map(|k| parts.iter().map(|p| p[k]).sum())
            .collect();
        if c[0] as usize == self.registers.len() {
            return 0.0;
        }
        let mut z = m * tau(1.0 - f64::from(c[q + 1]) / m);
        for k in (1..=q).rev() {
            z = 0.5 * (z + f64::from(c[k]));
        }
        z += m * sigma(f64::from(c[0]) / m);
        m * m / (2.0 * std::f64::consts::LN_2) / z
    }

    /// The estimate rounded to an integer.
    pub fn count(&self) -> i64 {
        self.estimate().round() as i64
    }
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::hash::{murmur3_x64_128, MURMUR3_SEED};

    fn sketch(p: i64, range: std::ops::Range<u64>) -> Hll {
        let mut h = Hll::new("t", p, Family::Murmur3).unwrap();
        for i in range {
            let (a, b) = murmur3_x64_128(&(i as i64).to_le_bytes(), MURMUR3_SEED);
            h.add_hash(a, b);
        }
        h
    }

    #[test]
    fn estimates_within_three_standard_errors() {
        for (p, n) in [
            (10, 1000u64),
            (10, 100_000),
            (14, 5000),
            (14, 200_000),
            (12, 30),
        ] {
            let est = sketch(p, 0..n).estimate();
            let se = 1.04 / f64::from(1u32 << p).sqrt();
            let err = (est - n as f64).abs() / n as f64;
            assert!(err < 3.0 * se + 1e-9, "p={p} n={n} est={est}");
        }
        assert_eq!(sketch(14, 0..0).count(), 0);
    }

    #[test]
    fn folding_equals_building_at_the_lower_precision() {
        let a = sketch(14, 0..5000).folded(10);
        assert_eq!(a, sketch(10, 0..5000));
        let mut j = sketch(12, 0..3000);
        j.join(&sketch(10, 2000..4000), "t").unwrap();
        assert_eq!(j, sketch(10, 0..4000));
    }

    /// Buffered updates (a grouped aggregate's) give the same sketch as direct ones, whether
    /// they are settled, joined with pending updates on either side, or serialised unsettled.
    #[test]
    fn buffered_updates_equal_direct_ones() {
        let pairs = |r: std::ops::Range<i64>| {
            r.map(|i| murmur3_x64_128(&i.to_le_bytes(), MURMUR3_SEED))
                .collect::<Vec<_>>()
        };
        for p in [12, 14, 18] {
            let direct = sketch(p, 0..5000);
            let mut buffered = Hll::new("t", p, Family::Murmur3).unwrap();
            for pair in pairs(0..5000) {
                buffered.add_buffered(pair);
            }
            assert!(!buffered.pending.is_empty());
            assert_eq!(buffered.estimate(), direct.estimate());
            // Through the aggregate-state serialisation, pending updates included.
            let bytes = postcard::to_allocvec(&buffered).unwrap();
            let back: Hll = postcard::from_bytes(&bytes).unwrap();
            let mut joined = Hll::new("t", p, Family::Murmur3).unwrap();
            pairs(4000..4500)
                .into_iter()
                .for_each(|x| joined.add_buffered(x));
            joined.join(&back, "t").unwrap();
            assert!(joined.pending.is_empty());
            assert_eq!(joined, direct);
            let mut settled = buffered.clone();
            settled.settle();
            assert_eq!(settled, direct);
        }
        // Other families, and small sketches, add at once.
        for (p, family) in [(14, Family::PgHll), (10, Family::Murmur3)] {
            let mut h = Hll::new("t", p, family).unwrap();
            h.add_buffered((7 | 1u64 << 40, 1u64 << 40));
            assert!(h.pending.is_empty());
            assert!(h.registers().iter().any(|&r| r > 0));
        }
    }

    #[test]
    fn pg_hll_fold_is_exact() {
        let build = |p: i64| {
            let mut h = Hll::new("t", p, Family::PgHll).unwrap();
            for i in 0..3000i64 {
                h.add_hash(murmur3_x64_128(&i.to_le_bytes(), 0).0, 0);
            }
            h
        };
        assert_eq!(build(14).folded(11), build(11));
    }
}
