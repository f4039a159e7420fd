//! Sketch payloads (tags 0x30–0x32, 0x61, 0x62), in the binary value codec.
//!
//! The first three are the Python library's `to_dict()` layouts with our fields appended
//! (it ignores unknown keys): `family` everywhere, `replicas` for Count-Min. A frame without
//! `family` is the Python library's, family `upstream`.
//!
//! ```text
//! hll      {"type": "hll", "precision": p, "registers": [int; 2^p], "family": f}
//! bloom    {"type": "bloom", "capacity", "fp_rate", "size", "num_hashes", "bits": [byte],
//!           "count", "family"}
//! cms      {"type": "cms", "width", "depth", "table": [[int]] (the replicas summed), "total",
//!           "family", "replicas": {replica: {"table": [[int]], "total": int}}}
//! minhash  {"type": "minhash", "num_perm", "seed", "hashvalues": [u32]}       (ours, 0x61)
//! theta    {"type": "theta", "lg_k", "theta", "hashes": [int, ascending]}     (ours, 0x62)
//! ```

use std::collections::BTreeMap;

use super::codec::{Writer, T_DICT, T_LIST};
use super::convert::Ctx;
use crate::error::Result;
use crate::sketch::cms::{check_table, Table, UPSTREAM_REPLICA};
use crate::sketch::{Bloom, Cms, Family, Hll, MinHash, Sketch, Theta};
use crate::state::Datum;

fn ints<'a>(w: &mut Writer, it: impl ExactSizeIterator<Item = u64> + 'a) {
    w.len(T_LIST, it.len());
    for v in it {
        w.uint(v);
    }
}

fn table(w: &mut Writer, cells: &[u64], width: u32) {
    let rows = cells.chunks(width.max(1) as usize);
    w.len(T_LIST, rows.len());
    for r in rows {
        ints(w, r.iter().copied());
    }
}

/// Writes a sketch's payload.
pub(crate) fn write(w: &mut Writer, s: &Sketch) {
    match s {
        Sketch::Hll(h) => {
            w.len(T_DICT, 4);
            w.str("type");
            w.str("hll");
            w.str("precision");
            w.int(i64::from(h.precision()));
            w.str("registers");
            // Registers are 0..=64: each is the codec's small int (0x09, i8), written in bulk.
            w.len(T_LIST, h.registers().len());
            let at = w.buf.len();
            w.buf
                .resize(at + 2 * h.registers().len(), super::codec::T_SMALLINT);
            for (slot, &r) in w.buf[at..].chunks_exact_mut(2).zip(h.registers()) {
                debug_assert!(r <= 127);
                slot[1] = r;
            }
            w.str("family");
            w.str(h.family().name());
        }
        Sketch::Bloom(b) => {
            w.len(T_DICT, 8);
            w.str("type");
            w.str("bloom");
            w.str("capacity");
            w.uint(b.capacity());
            w.str("fp_rate");
            w.float(b.fp_rate());
            w.str("size");
            w.uint(b.size());
            w.str("num_hashes");
            w.uint(u64::from(b.num_hashes()));
            w.str("bits");
            ints(w, b.bits().iter().map(|&x| u64::from(x)));
            w.str("count");
            w.uint(b.estimated_count());
            w.str("family");
            w.str(b.family().name());
        }
        Sketch::Cms(c) => {
            let sum = c.summed();
            w.len(T_DICT, 7);
            w.str("type");
            w.str("cms");
            w.str("width");
            w.uint(u64::from(c.width()));
            w.str("depth");
            w.uint(u64::from(c.depth()));
            w.str("table");
            table(w, &sum.cells, c.width());
            w.str("total");
            w.uint(sum.total);
            w.str("family");
            w.str(c.family().name());
            w.str("replicas");
            w.len(T_DICT, c.replicas().len());
            for (r, t) in c.replicas() {
                w.str(r);
                w.len(T_DICT, 2);
                w.str("table");
                table(w, &t.cells, c.width());
                w.str("total");
                w.uint(t.total);
            }
        }
        Sketch::MinHash(m) => {
            w.len(T_DICT, 4);
            w.str("type");
            w.str("minhash");
            w.str("num_perm");
            w.uint(m.num_perm() as u64);
            w.str("seed");
            w.uint(u64::from(m.seed()));
            w.str("hashvalues");
            ints(w, m.hashvalues().iter().map(|&v| u64::from(v)));
        }
        Sketch::Theta(t) => {
            w.len(T_DICT, 4);
            w.str("type");
            w.str("theta");
            w.str("lg_k");
            w.int(i64::from(t.lg_k()));
            w.str("theta");
            w.uint(t.theta());
            w.str("hashes");
            ints(w, t.hashes().iter().copied());
        }
    }
}

type Dict = BTreeMap<Datum, Datum>;

impl Ctx<'_, '_> {
    fn field<'d>(&self, m: &'d Dict, ty: &str, name: &str) -> Result<&'d Datum> {
        m.get(&Datum::str(name))
            .ok_or_else(|| self.err(ty, format!("missing \"{name}\"")))
    }

    fn uint_field(&self, m: &Dict, ty: &str, name: &str, max: u64) -> Result<u64> {
        let v = self.count(self.field(m, ty, name)?, &format!("{ty}.{name}"))?;
        if v > max {
            return Err(self.err(&format!("{ty}.{name}"), format!("{v} is above {max}")));
        }
        Ok(v)
    }

    fn list<'d>(&self, d: &'d Datum, path: &str) -> Result<&'d [Datum]> {
        match d {
            Datum::List(l) => Ok(l),
            other => Err(self.err(
                path,
                format!("expected a list, found {}", other.kind_name()),
            )),
        }
    }

    fn uints(&self, d: &Datum, path: &str, max: u64) -> Result<Vec<u64>> {
        self.list(d, path)?
            .iter()
            .map(|v| {
                let x = self.count(v, path)?;
                if x > max {
                    Err(self.err(path, format!("value {x} is above {max}")))
                } else {
                    Ok(x)
                }
            })
            .collect()
    }

    fn family(&self, m: &Dict, ty: &str, allowed: &[Family]) -> Result<Family> {
        let f = match m.get(&Datum::str("family")) {
            None => Family::Upstream,
            Some(Datum::Str(s)) => Family::parse(s).ok_or_else(|| {
                self.err(&format!("{ty}.family"), format!("unknown family {s:?}"))
            })?,
            Some(other) => {
                return Err(self.err(
                    &format!("{ty}.family"),
                    format!("expected text, found {}", other.kind_name()),
                ))
            }
        };
        if !allowed.contains(&f) {
            return Err(self.err(
                &format!("{ty}.family"),
                format!("family '{}' is not one a {ty} uses", f.name()),
            ));
        }
        Ok(f)
    }

    fn table(&self, d: &Datum, path: &str, width: u32, depth: u32) -> Result<Vec<u64>> {
        let rows = self.list(d, path)?;
        if rows.len() != depth as usize {
            return Err(self.err(path, format!("expected {depth} rows, found {}", rows.len())));
        }
        let mut cells = Vec::with_capacity(width as usize * depth as usize);
        for r in rows {
            let row = self.uints(r, path, u64::MAX)?;
            if row.len() != width as usize {
                return Err(self.err(
                    path,
                    format!("expected rows of {width} cells, found {}", row.len()),
                ));
            }
            cells.extend(row);
        }
        Ok(cells)
    }

    /// Builds the sketch for tag `tag` from its decoded payload.
    pub(crate) fn sketch(&self, tag: u8, d: &Datum) -> Result<Sketch> {
        let f = "crdt_decode";
        let wrap = |e: crate::Error| self.err("state", e.kind);
        Ok(match tag {
            super::TAG_HLL => {
                let m = self.top(d, "hll")?;
                let p = self.uint_field(m, "hll", "precision", 18)?;
                if p < 4 {
                    return Err(self.err("hll.precision", format!("{p} is below 4")));
                }
                let family = self.family(
                    m,
                    "hll",
                    &[Family::Murmur3, Family::PgHll, Family::Upstream],
                )?;
                let regs = self.uints(self.field(m, "hll", "registers")?, "hll.registers", 255)?;
                if regs.len() != 1 << p {
                    return Err(self.err(
                        "hll.registers",
                        format!(
                            "expected {} registers for precision {p}, found {}",
                            1u64 << p,
                            regs.len()
                        ),
                    ));
                }
                let h = Hll::from_registers(
                    p as u8,
                    family,
                    regs.into_iter().map(|r| r as u8).collect(),
                );
                if !h.valid_values() {
                    return Err(self.err(
                        "hll.registers",
                        format!(
                            "a register value is above family '{}''s maximum",
                            family.name()
                        ),
                    ));
                }
                Sketch::Hll(h)
            }
            super::TAG_BLOOM => {
                let m = self.top(d, "bloom")?;
                let family = self.family(m, "bloom", &[Family::Murmur3, Family::Upstream])?;
                let capacity = self.uint_field(m, "bloom", "capacity", u64::MAX)?;
                let fp_rate = match self.field(m, "bloom", "fp_rate")? {
                    Datum::Float(x) => *x,
                    Datum::Int(i) => *i as f64,
                    other => {
                        return Err(self.err(
                            "bloom.fp_rate",
                            format!("expected a float, found {}", other.kind_name()),
                        ))
                    }
                };
                let size = self.uint_field(m, "bloom", "size", crate::sketch::bloom::MAX_BITS)?;
                let k = self.uint_field(m, "bloom", "num_hashes", 1024)?;
                let bits: Vec<u8> = self
                    .uints(self.field(m, "bloom", "bits")?, "bloom.bits", 255)?
                    .into_iter()
                    .map(|b| b as u8)
                    .collect();
                if size % 8 != 0 {
                    if let Some(last) = bits.last() {
                        if last >> (size % 8) != 0 {
                            return Err(
                                self.err("bloom.bits", "bits are set beyond the filter's size")
                            );
                        }
                    }
                }
                Sketch::Bloom(
                    Bloom::with_shape(f, capacity, fp_rate, size, k as u32, family, Some(bits))
                        .map_err(wrap)?,
                )
            }
            super::TAG_CMS => {
                let m = self.top(d, "cms")?;
                let family = self.family(m, "cms", &[Family::Murmur3, Family::Upstream])?;
                let width = self.uint_field(m, "cms", "width", u64::from(u32::MAX))? as u32;
                let depth = self.uint_field(m, "cms", "depth", u64::from(u32::MAX))? as u32;
                let mut c =
                    Cms::new(f, i64::from(width), i64::from(depth), family).map_err(wrap)?;
                match m.get(&Datum::str("replicas")) {
                    Some(reps) => {
                        for (k, v) in self.dict(reps, "cms.replicas")? {
                            let r = self.str_key(k, "cms.replicas")?;
                            let path = format!("cms.replicas[{r:?}]");
                            let t = self.dict(v, &path)?;
                            let cells =
                                self.table(self.field(t, &path, "table")?, &path, width, depth)?;
                            let total = self.uint_field(t, &path, "total", u64::MAX)?;
                            let t = Table { cells, total };
                            check_table(f, width, depth, &t).map_err(wrap)?;
                            c.insert(r.to_string(), t);
                        }
                    }
                    None => {
                        let cells =
                            self.table(self.field(m, "cms", "table")?, "cms.table", width, depth)?;
                        let total = match m.get(&Datum::str("total")) {
                            None => 0,
                            Some(t) => self.count(t, "cms.total")?,
                        };
                        c.insert(UPSTREAM_REPLICA.to_string(), Table { cells, total });
                    }
                }
                Sketch::Cms(c)
            }
            super::TAG_MINHASH => {
                let m = self.top(d, "minhash")?;
                let seed = self.uint_field(m, "minhash", "seed", u64::from(u32::MAX))? as u32;
                let n = self.uint_field(
                    m,
                    "minhash",
                    "num_perm",
                    crate::sketch::minhash::MAX_NUM_PERM as u64,
                )?;
                let hv = self.uints(
                    self.field(m, "minhash", "hashvalues")?,
                    "minhash.hashvalues",
                    u64::from(u32::MAX),
                )?;
                if hv.len() as u64 != n || n == 0 {
                    return Err(self.err(
                        "minhash.hashvalues",
                        format!(
                            "expected {n} values (num_perm, at least 1), found {}",
                            hv.len()
                        ),
                    ));
                }
                Sketch::MinHash(MinHash::from_values(
                    seed,
                    hv.into_iter().map(|v| v as u32).collect(),
                ))
            }
            super::TAG_THETA => {
                let m = self.top(d, "theta")?;
                let lg_k = self.uint_field(m, "theta", "lg_k", 26)? as u8;
                let theta =
                    self.uint_field(m, "theta", "theta", crate::sketch::theta::MAX_THETA)?;
                let hashes = self.uints(
                    self.field(m, "theta", "hashes")?,
                    "theta.hashes",
                    crate::sketch::theta::MAX_THETA,
                )?;
                let t = Theta::from_parts(lg_k, theta, hashes);
                t.check(f).map_err(wrap)?;
                Sketch::Theta(t)
            }
            other => {
                return Err(crate::Error::internal(
                    f,
                    format!("sketch called for tag 0x{other:02x}"),
                ))
            }
        })
    }
}

/// A direct reader for the HLL payloads we and the Python library write (a dict of `type`,
/// `precision`, `registers` and optionally `family`, nothing else), without building a
/// [`Datum`] per register: a p = 14 frame has 16,384. `None` for anything else, which then goes
/// through the general decoder (and its error messages).
pub(crate) fn fast_hll(p: &[u8]) -> Option<Hll> {
    use super::codec::{T_INT64, T_SMALLINT, T_STR};
    let mut i = 0usize;
    let u32_at = |i: usize| -> Option<usize> {
        let b = p.get(i..i + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let str_at = |i: usize| -> Option<(&[u8], usize)> {
        if *p.get(i)? != T_STR {
            return None;
        }
        let n = u32_at(i + 1)?;
        Some((p.get(i + 5..i + 5 + n)?, i + 5 + n))
    };
    if *p.first()? != T_DICT {
        return None;
    }
    let n = u32_at(1)?;
    if !(3..=4).contains(&n) {
        return None;
    }
    i += 5;
    let (mut precision, mut family, mut regs) = (None, Family::Upstream, None);
    let mut seen: Vec<&[u8]> = Vec::with_capacity(4);
    for _ in 0..n {
        let (key, next) = str_at(i)?;
        if seen.contains(&key) {
            return None; // duplicate keys: the general decoder decides
        }
        seen.push(key);
        i = next;
        match key {
            b"type" => {
                let (v, next) = str_at(i)?;
                if v != b"hll" {
                    return None;
                }
                i = next;
            }
            b"family" => {
                let (v, next) = str_at(i)?;
                family = Family::parse(std::str::from_utf8(v).ok()?)?;
                i = next;
            }
            b"precision" => {
                if *p.get(i)? != T_SMALLINT {
                    return None;
                }
                precision = Some(*p.get(i + 1)? as i8);
                i += 2;
            }
            b"registers" => {
                if *p.get(i)? != T_LIST {
                    return None;
                }
                let count = u32_at(i + 1)?;
                if count > 1 << 18 {
                    return None;
                }
                i += 5;
                // What we write: every register a small int, two bytes each, read in one pass.
                if let Some(pairs) = p.get(i..i + 2 * count) {
                    if pairs
                        .chunks_exact(2)
                        .all(|c| c[0] == T_SMALLINT && c[1] <= 127)
                    {
                        regs = Some(pairs.chunks_exact(2).map(|c| c[1]).collect());
                        i += 2 * count;
                        continue;
                    }
                }
                let mut out = Vec::with_capacity(count);
                for _ in 0..count {
                    match *p.get(i)? {
                        T_SMALLINT => {
                            out.push(u8::try_from(*p.get(i + 1)? as i8).ok()?);
                            i += 2;
                        }
                        T_INT64 => {
                            let b = p.get(i + 1..i + 9)?;
                            let v = i64::from_be_bytes(b.try_into().ok()?);
                            out.push(u8::try_from(v).ok()?);
                            i += 9;
                        }
                        _ => return None,
                    }
                }
                regs = Some(out);
            }
            _ => return None,
        }
    }
    let p8 = u8::try_from(precision?).ok()?;
    let regs = regs?;
    if i != p.len() || !(4..=18).contains(&p8) || regs.len() != 1 << p8 || family == Family::Sha1 {
        return None;
    }
    let h = Hll::from_registers(p8, family, regs);
    h.valid_values().then_some(h)
}
