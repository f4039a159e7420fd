//! postgresql-hll's `hll` bytes (its STORAGE.markdown, schema version 1), to and from our HLL
//! of family `pg_hll`, so our sketches union with existing `hll` columns.
//!
//! We write `EMPTY` for an empty sketch and `FULL` otherwise, with register width 5 and
//! log2m = our precision, and the cutoff byte of postgresql-hll's defaults (sparse on, explicit
//! cutoff "auto"), as `hll_empty()` writes. We read `EMPTY`, `EXPLICIT` (the hashes themselves:
//! their registers are computed), `SPARSE` and `FULL`, with register width 5 (the default;
//! other widths change the register rule) and log2m 4..18.

use super::hash::Family;
use super::Hll;
use crate::error::{Error, Result};

const F_TO: &str = "crdt_hll_to_pg_hll";
const F_FROM: &str = "crdt_hll_from_pg_hll";
const REGWIDTH: u8 = 5;
/// Cutoff byte: top bit padding, sparse enabled, explicit cutoff 63 ("auto").
const CUTOFF: u8 = 0x40 | 63;

/// Our `pg_hll` HLL as postgresql-hll bytes.
///
/// # Errors
/// A sketch of another family (its registers follow another rule).
pub fn to_pg_hll(h: &Hll) -> Result<Vec<u8>> {
    if h.family() != Family::PgHll {
        return Err(Error::invalid(
            F_TO,
            "state",
            "an HLL of family 'pg_hll' (build it with crdt_hll_agg(value, precision, 'pg_hll'))",
            format!("family '{}'", h.family().name()),
        ));
    }
    let p = h.precision();
    let param = ((REGWIDTH - 1) << 5) | p;
    if h.registers().iter().all(|&r| r == 0) {
        return Ok(vec![0x11, param, CUTOFF]);
    }
    let mut out = vec![0x14, param, CUTOFF];
    let bits = usize::from(REGWIDTH) * h.registers().len();
    let mut data = vec![0u8; bits.div_ceil(8)];
    for (i, &r) in h.registers().iter().enumerate() {
        let v = r.min(31);
        for b in 0..usize::from(REGWIDTH) {
            if v >> (usize::from(REGWIDTH) - 1 - b) & 1 == 1 {
                let pos = i * usize::from(REGWIDTH) + b;
                data[pos / 8] |= 0x80 >> (pos % 8);
            }
        }
    }
    out.extend(data);
    Ok(out)
}

fn bad(reason: impl Into<String>) -> Error {
    Error::invalid(
        F_FROM,
        "bytes",
        "postgresql-hll bytes (schema version 1)",
        reason.into(),
    )
}

fn read_bits(data: &[u8], pos: usize, width: usize) -> u64 {
    let mut v = 0u64;
    for b in 0..width {
        let p = pos + b;
        v = (v << 1) | u64::from(data[p / 8] >> (7 - p % 8) & 1);
    }
    v
}

/// postgresql-hll bytes as our HLL of family `pg_hll`.
///
/// # Errors
/// Bytes that are not schema version 1, an undefined set, a register width other than 5, a
/// log2m outside 4..18, or data of the wrong length.
pub fn from_pg_hll(bytes: &[u8]) -> Result<Hll> {
    if bytes.len() < 3 {
        return Err(bad(format!("{} bytes (at least 3)", bytes.len())));
    }
    if bytes[0] >> 4 != 1 {
        return Err(bad(format!("schema version {}", bytes[0] >> 4)));
    }
    let width = (bytes[1] >> 5) + 1;
    let p = bytes[1] & 0x1f;
    if width != REGWIDTH {
        return Err(bad(format!(
            "register width {width} (only postgresql-hll's default, 5, is supported)"
        )));
    }
    if !(4..=18).contains(&p) {
        return Err(bad(format!("log2m {p} (4 to 18 are supported)")));
    }
    let mut h = Hll::new(F_FROM, i64::from(p), Family::PgHll)?;
    let data = &bytes[3..];
    let m = 1usize << p;
    match bytes[0] & 0x0f {
        1 => {
            if !data.is_empty() {
                return Err(bad("data bytes after an EMPTY set"));
            }
        }
        2 => {
            if !data.len().is_multiple_of(8) {
                return Err(bad(format!(
                    "an EXPLICIT set of {} bytes (a multiple of 8)",
                    data.len()
                )));
            }
            for c in data.chunks_exact(8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                h.add_hash(u64::from_be_bytes(w), 0);
            }
        }
        3 => {
            let word = usize::from(p) + usize::from(width);
            let n = data.len() * 8 / word;
            let mut regs = vec![0u8; m];
            for k in 0..n {
                let w = read_bits(data, k * word, word);
                let idx = (w >> width) as usize;
                let val = (w & 0x1f) as u8;
                if val == 0 {
                    // Only the padding at the end may read as a zero register.
                    if k + 1 == n {
                        break;
                    }
                    return Err(bad("a SPARSE entry with value 0"));
                }
                regs[idx] = regs[idx].max(val);
            }
            h = Hll::from_registers(p, Family::PgHll, regs);
        }
        4 => {
            let want = (usize::from(width) * m).div_ceil(8);
            if data.len() != want {
                return Err(bad(format!(
                    "a FULL set of {} data bytes ({want} for 2^{p} registers)",
                    data.len()
                )));
            }
            let regs = (0..m)
                .map(|i| read_bits(data, i * usize::from(width), usize::from(width)) as u8)
                .collect();
            h = Hll::from_registers(p, Family::PgHll, regs);
        }
        t => return Err(bad(format!("type {t} (undefined or unknown)"))),
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_spec_full_example_layout() {
        // STORAGE.markdown: width 5, registers 0, 1, 2, 3 pack to 0x00 0x44 0x30.
        let mut d = vec![0u8; 3];
        for (i, v) in [0u8, 1, 2, 3].iter().enumerate() {
            for b in 0..5 {
                if v >> (4 - b) & 1 == 1 {
                    let pos = i * 5 + b;
                    d[pos / 8] |= 0x80 >> (pos % 8);
                }
            }
        }
        assert_eq!(d, [0x00, 0x44, 0x30]);
    }

    #[test]
    fn round_trip() {
        let mut h = Hll::new("t", 11, Family::PgHll).unwrap();
        assert_eq!(to_pg_hll(&h).unwrap(), [0x11, 0x8b, 0x7f]);
        for i in 0..5000i64 {
            h.add_hash(
                crate::sketch::hash::murmur3_x64_128(&i.to_le_bytes(), 0).0,
                0,
            );
        }
        let b = to_pg_hll(&h).unwrap();
        assert_eq!(b.len(), 3 + 1280);
        assert_eq!(from_pg_hll(&b).unwrap(), h);
        assert!(to_pg_hll(&Hll::new("t", 11, Family::Murmur3).unwrap()).is_err());
        assert!(from_pg_hll(&b[..100]).is_err());
    }
}
