//! Apache DataSketches HLL bytes, to and from our HLL of family `murmur3` (the same hash and
//! coupon rule, so the conversion is exact).
//!
//! Export writes an HLL_8 sketch in HLL mode (a 40-byte preamble, then one byte per register)
//! with the out-of-order flag set, which tells readers to use the composite estimator instead
//! of the HIP accumulator we cannot know; `kxq0`/`kxq1` are the sums of 2^−r over registers
//! below / at or above 32, as DataSketches keeps them. Import accepts any DataSketches HLL
//! (LIST, SET or HLL mode; HLL_4, HLL_6 or HLL_8): the `datasketches` crate reads it and unions
//! it into an HLL_8, whose registers (or coupons, for small sketches) become ours.

use datasketches::hll::{HllSketch, HllType, HllUnion};

use super::hash::Family;
use super::Hll;
use crate::error::{Error, Result};

const F_TO: &str = "crdt_hll_to_datasketches";
const F_FROM: &str = "crdt_hll_from_datasketches";

/// Our `murmur3` HLL as DataSketches HLL_8 bytes.
///
/// # Errors
/// A sketch of another family.
pub fn to_datasketches(h: &Hll) -> Result<Vec<u8>> {
    if h.family() != Family::Murmur3 {
        return Err(Error::invalid(
            F_TO,
            "state",
            "an HLL of family 'murmur3' (DataSketches' hash)",
            format!("family '{}'", h.family().name()),
        ));
    }
    let regs = h.registers();
    let (mut kxq0, mut kxq1) = (0.0f64, 0.0f64);
    let mut zeros = 0u32;
    for &r in regs {
        let x = (-f64::from(r)).exp2();
        if r < 32 {
            kxq0 += x;
        } else {
            kxq1 += x;
        }
        zeros += u32::from(r == 0);
    }
    let mut out = Vec::with_capacity(40 + regs.len());
    // preInts, serVer, family (HLL = 7), lgK, lgArr (unused), flags (out of order), curMin,
    // mode (HLL mode | HLL_8 << 2).
    out.extend_from_slice(&[10, 1, 7, h.precision(), 0, 16, 0, 2 | (2 << 2)]);
    out.extend_from_slice(&0f64.to_le_bytes());
    out.extend_from_slice(&kxq0.to_le_bytes());
    out.extend_from_slice(&kxq1.to_le_bytes());
    out.extend_from_slice(&zeros.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(regs);
    Ok(out)
}

fn bad(reason: impl std::fmt::Display) -> Error {
    Error::invalid(
        F_FROM,
        "bytes",
        "Apache DataSketches HLL bytes",
        reason.to_string(),
    )
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    b.get(at..at + 4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .ok_or_else(|| bad("truncated coupons"))
}

/// DataSketches HLL bytes as our HLL of family `murmur3`.
///
/// # Errors
/// Bytes the `datasketches` crate cannot read, or a lgK outside 4..18.
pub fn from_datasketches(bytes: &[u8]) -> Result<Hll> {
    // A third-party decoder of untrusted bytes: a panic in it is an error here, never a crash
    // of the host.
    std::panic::catch_unwind(|| decode(bytes))
        .unwrap_or_else(|_| Err(bad("bytes the datasketches decoder could not read")))
}

fn decode(bytes: &[u8]) -> Result<Hll> {
    let sketch = HllSketch::deserialize(bytes).map_err(bad)?;
    let p = sketch.lg_config_k();
    if !(4..=18).contains(&p) {
        return Err(bad(format!("lgK {p} (4 to 18 are supported)")));
    }
    let mut union = HllUnion::new(p).map_err(bad)?;
    union.update(&sketch);
    let b = union.to_sketch(HllType::Hll8).serialize();
    let mut regs = vec![0u8; 1 << p];
    let mask = (1u32 << p) - 1;
    let mut coupon = |raw: u32| {
        let (slot, value) = ((raw & ((1 << 26) - 1)) & mask, (raw >> 26) as u8);
        let r = &mut regs[slot as usize];
        *r = (*r).max(value);
    };
    let mode = b.get(7).copied().ok_or_else(|| bad("truncated preamble"))? & 3;
    match mode {
        0 => {
            let n = usize::from(b[6]);
            for i in 0..n {
                coupon(u32_at(&b, 8 + 4 * i)?);
            }
        }
        1 => {
            let n = u32_at(&b, 8)? as usize;
            for i in 0..n {
                coupon(u32_at(&b, 12 + 4 * i)?);
            }
        }
        _ => {
            let data = b
                .get(40..40 + (1usize << p))
                .ok_or_else(|| bad("truncated registers"))?;
            regs.copy_from_slice(data);
        }
    }
    let h = Hll::from_registers(p, Family::Murmur3, regs);
    if !h.valid_values() {
        return Err(bad("a register value above 63"));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::hash::{murmur3_x64_128, MURMUR3_SEED};

    fn ours(p: i64, n: i64) -> Hll {
        let mut h = Hll::new("t", p, Family::Murmur3).unwrap();
        for i in 0..n {
            let (a, b) = murmur3_x64_128(&i.to_le_bytes(), MURMUR3_SEED);
            h.add_hash(a, b);
        }
        h
    }

    #[test]
    fn datasketches_builds_the_same_registers_from_the_same_bytes() {
        use datasketches::hash::value::raw_bytes;
        for (p, n) in [(12u8, 10i64), (12, 300), (12, 100_000), (10, 5000)] {
            for ty in [HllType::Hll4, HllType::Hll6, HllType::Hll8] {
                let mut ds = HllSketch::new(p, ty).unwrap();
                for i in 0..n {
                    ds.update(raw_bytes::from_slice(&i.to_le_bytes()));
                }
                let mine = ours(i64::from(p), n);
                assert_eq!(
                    from_datasketches(&ds.serialize()).unwrap(),
                    mine,
                    "p={p} n={n} {ty:?}"
                );
                // Our export reads back in the crate with its estimate near ours.
                let back = HllSketch::deserialize(&to_datasketches(&mine).unwrap()).unwrap();
                let (a, b) = (back.estimate(), mine.estimate());
                assert!(
                    (a - b).abs() <= 0.02 * b.max(1.0),
                    "p={p} n={n}: {a} vs {b}"
                );
                assert_eq!(
                    from_datasketches(&to_datasketches(&mine).unwrap()).unwrap(),
                    mine
                );
            }
        }
    }

    #[test]
    fn refuses_other_families_and_garbage() {
        assert!(to_datasketches(&Hll::new("t", 10, Family::PgHll).unwrap()).is_err());
        assert!(from_datasketches(b"\x02\x01\x07").is_err());
    }
}
