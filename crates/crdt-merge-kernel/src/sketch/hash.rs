//! What a sketch hashes: the bytes of a value, and the hash families over them.
//!
//! A value's bytes do not depend on the engine's type for it, so that `1::INT` in DuckDB,
//! `1::integer` in Postgres and `1_i64` in Polars land in the same register:
//!
//! | value | bytes |
//! |---|---|
//! | any integer (8 to 64 bits, signed or not) | i64 little-endian (a u64 above `i64::MAX`: its u64 little-endian bytes) |
//! | float, double | f64 little-endian, −0 as +0, every NaN as one quiet NaN (so `1.0` ≠ `1`) |
//! | text | UTF-8 |
//! | binary | the bytes |
//! | decimal | normalised text: `1.50` → `1.5`, `2.00` → `2` |
//! | timestamp | microseconds since the epoch, i64 little-endian (the unit does not matter) |
//! | date | days since the epoch, i64 little-endian |
//! | boolean, list, struct | the kernel's memcomparable key ([`crate::sort_key::encode`]) |
//!
//! The families: [`Family::Murmur3`] (MurmurHash3_x64_128, seed 9001, as Apache DataSketches),
//! [`Family::PgHll`] (seed 0, first 64 bits, as postgresql-hll's `hll_hash_bigint`/`_text`/
//! `_bytea`), [`Family::Upstream`] (the Python crdt-merge's MD5 of `repr(value)`), and
//! [`Family::Sha1`] (datasketch's MinHash: the first four bytes of SHA-1).

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::value::{canonical_f64, Value};

/// The hash family of a sketch; two sketches merge only when their families agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    /// MurmurHash3_x64_128 with seed 9001 (Apache DataSketches); the default.
    Murmur3,
    /// MurmurHash3_x64_128 with seed 0, the first 64 bits (postgresql-hll).
    PgHll,
    /// The Python crdt-merge 0.11: MD5 of `repr(value)` and a 4-byte seed.
    Upstream,
    /// datasketch's MinHash: SHA-1, first four bytes little-endian.
    Sha1,
}

impl Family {
    /// The name used in SQL arguments, wire frames and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Family::Murmur3 => "murmur3",
            Family::PgHll => "pg_hll",
            Family::Upstream => "upstream",
            Family::Sha1 => "sha1",
        }
    }

    /// Parses a family name (case-insensitive).
    pub fn parse(s: &str) -> Option<Family> {
        Some(match s.to_ascii_lowercase().as_str() {
            "murmur3" => Family::Murmur3,
            "pg_hll" => Family::PgHll,
            "upstream" => Family::Upstream,
            "sha1" => Family::Sha1,
            _ => return None,
        })
    }
}

const C1: u64 = 0x87c3_7b91_1142_53d5;
const C2: u64 = 0x4cf5_ad43_2745_937f;

#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

#[inline]
fn le_partial(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(w)
}

/// MurmurHash3_x64_128 of `data` with a 64-bit seed (both halves start at `seed`, as in
/// DataSketches); returns (h1, h2).
#[inline]
pub fn murmur3_x64_128(data: &[u8], seed: u64) -> (u64, u64) {
    let (mut h1, mut h2) = (seed, seed);
    let mut blocks = data.chunks_exact(16);
    for b in &mut blocks {
        let mut k1 = le_partial(&b[..8]);
        let mut k2 = le_partial(&b[8..]);
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = blocks.remainder();
    if tail.len() > 8 {
        let k2 = le_partial(&tail[8..]);
        h2 ^= k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
    }
    if !tail.is_empty() {
        let k1 = le_partial(&tail[..tail.len().min(8)]);
        h1 ^= k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (h1, h2)
}

/// DataSketches' update seed.
pub const MURMUR3_SEED: u64 = 9001;

/// The Python library's `_hash64(item, seed)`: the last 8 bytes, big-endian, of
/// `md5(repr(item) ‖ seed as 4 bytes big-endian)`.
pub fn upstream_hash64(repr: &str, seed: u32) -> u64 {
    let mut h = Md5::new();
    h.update(repr.as_bytes());
    h.update(seed.to_be_bytes());
    let d = h.finalize();
    let mut w = [0u8; 8];
    w.copy_from_slice(&d[8..16]);
    u64::from_be_bytes(w)
}

/// Reads the items of one argument column: `bytes(row)` gives the canonical bytes of a non-NULL
/// row, `repr(row)` its Python `repr` (family `upstream`).
pub struct Items<'a> {
    array: &'a ArrayRef,
    kind: ItemKind,
    function: &'static str,
    argument: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ItemKind {
    Int,
    UInt,
    Float,
    Text,
    Binary,
    Decimal(i8),
    Date,
    Timestamp(i64, bool),
    Key,
}

impl<'a> Items<'a> {
    /// Checks that `array` has a type sketches accept.
    ///
    /// # Errors
    /// A type mismatch naming `function` and `argument`.
    pub fn new(
        function: &'static str,
        argument: &'static str,
        array: &'a ArrayRef,
    ) -> Result<Self> {
        let kind = item_kind(array.data_type()).ok_or_else(|| {
            Error::type_mismatch(
                function,
                argument,
                "an integer, float, decimal, text, binary, boolean, date, timestamp, list or struct",
                array.data_type(),
            )
        })?;
        Ok(Items {
            array,
            kind,
            function,
            argument,
        })
    }

    /// Whether row `i` is NULL.
    #[inline]
    pub fn is_null(&self, i: usize) -> bool {
        self.array.is_null(i)
    }

    /// The canonical bytes of row `i` (not NULL), written into `buf` when they must be built.
    ///
    /// # Errors
    /// Only for values the kernel cannot read (nested types it does not support).
    #[inline]
    pub fn bytes<'b>(&'b self, i: usize, buf: &'b mut Vec<u8>) -> Result<&'b [u8]> {
        let a = self.array;
        macro_rules! int {
            ($t:ty) => {{
                let v = a.as_primitive::<$t>().value(i) as i64;
                buf.clear();
                buf.extend_from_slice(&v.to_le_bytes());
                return Ok(&buf[..]);
            }};
        }
        match self.kind {
            ItemKind::Int => match a.data_type() {
                DataType::Int8 => int!(Int8Type),
                DataType::Int16 => int!(Int16Type),
                DataType::Int32 => int!(Int32Type),
                _ => int!(Int64Type),
            },
            ItemKind::UInt => {
                let v: u64 = match a.data_type() {
                    DataType::UInt8 => a.as_primitive::<UInt8Type>().value(i).into(),
                    DataType::UInt16 => a.as_primitive::<UInt16Type>().value(i).into(),
                    DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i).into(),
                    _ => a.as_primitive::<UInt64Type>().value(i),
                };
                buf.clear();
                buf.extend_from_slice(&v.to_le_bytes());
                Ok(&buf[..])
            }
            ItemKind::Float => {
                let v = match a.data_type() {
                    DataType::Float32 => f64::from(a.as_primitive::<Float32Type>().value(i)),
                    _ => a.as_primitive::<Float64Type>().value(i),
                };
                buf.clear();
                buf.extend_from_slice(&canonical_f64(v).to_bits().to_le_bytes());
                Ok(&buf[..])
            }
            ItemKind::Text => Ok(match a.data_type() {
                DataType::Utf8 => a.as_string::<i32>().value(i).as_bytes(),
                DataType::LargeUtf8 => a.as_string::<i64>().value(i).as_bytes(),
                _ => a.as_string_view().value(i).as_bytes(),
            }),
            ItemKind::Binary => Ok(match a.data_type() {
                DataType::Binary => a.as_binary::<i32>().value(i),
                DataType::LargeBinary => a.as_binary::<i64>().value(i),
                _ => a.as_binary_view().value(i),
            }),
            ItemKind::Decimal(scale) => {
                let v = a.as_primitive::<Decimal128Type>().value(i);
                buf.clear();
                buf.extend_from_slice(decimal_text(v, scale).as_bytes());
                Ok(&buf[..])
            }
            ItemKind::Date => match a.data_type() {
                DataType::Date32 => int!(Date32Type),
                _ => {
                    let ms = a.as_primitive::<Date64Type>().value(i);
                    buf.clear();
                    buf.extend_from_slice(&ms.div_euclid(86_400_000).to_le_bytes());
                    Ok(&buf[..])
                }
            },
            ItemKind::Timestamp(per_us, divide) => {
                let raw = match a.data_type() {
                    DataType::Timestamp(TimeUnit::Second, _) => {
                        a.as_primitive::<TimestampSecondType>().value(i)
                    }
                    DataType::Timestamp(TimeUnit::Millisecond, _) => {
                        a.as_primitive::<TimestampMillisecondType>().value(i)
                    }
                    DataType::Timestamp(TimeUnit::Microsecond, _) => {
                        a.as_primitive::<TimestampMicrosecondType>().value(i)
                    }
                    _ => a.as_primitive::<TimestampNanosecondType>().value(i),
                };
                let us = if divide {
                    raw.div_euclid(per_us)
                } else {
                    raw.saturating_mul(per_us)
                };
                buf.clear();
                buf.extend_from_slice(&us.to_le_bytes());
                Ok(&buf[..])
            }
            ItemKind::Key => {
                let v =
                    Value::from_array(a.as_ref(), i).map_err(|e| e.in_function(self.function))?;
                buf.clear();
                crate::sort_key::encode(&v, buf);
                Ok(&buf[..])
            }
        }
    }

    /// MurmurHash3_x64_128 (with `seed`) of every row's bytes, into `out` (NULL rows get (0, 0):
    /// callers skip them). One typed loop for integer columns, so that the per-row cost is
    /// the hash alone.
    ///
    /// # Errors
    /// As [`Items::bytes`].
    pub fn murmur_all(&self, seed: u64, out: &mut Vec<(u64, u64)>) -> Result<()> {
        out.clear();
        let a = self.array;
        let n = a.len();
        macro_rules! ints {
            ($t:ty) => {{
                let v = a.as_primitive::<$t>().values();
                out.extend(
                    v.iter()
                        .map(|&x| murmur3_x64_128(&(x as i64).to_le_bytes(), seed)),
                );
                return Ok(());
            }};
        }
        if self.kind == ItemKind::Int {
            match a.data_type() {
                DataType::Int8 => ints!(Int8Type),
                DataType::Int16 => ints!(Int16Type),
                DataType::Int32 => ints!(Int32Type),
                DataType::Int64 => ints!(Int64Type),
                _ => {}
            }
        }
        let mut buf = Vec::new();
        out.reserve(n);
        for i in 0..n {
            out.push(if a.is_null(i) {
                (0, 0)
            } else {
                murmur3_x64_128(self.bytes(i, &mut buf)?, seed)
            });
        }
        Ok(())
    }

    /// The Python `repr` of row `i` (not NULL), for the `upstream` family, which the Python
    /// library computes over integers, floats, text and booleans.
    ///
    /// # Errors
    /// Other types.
    pub fn repr(&self, i: usize) -> Result<String> {
        let v =
            Value::from_array(self.array.as_ref(), i).map_err(|e| e.in_function(self.function))?;
        Ok(match v {
            Value::Int(x) if matches!(self.kind, ItemKind::Int) => x.to_string(),
            Value::UInt(x) => x.to_string(),
            Value::Float(f) => py_float_repr(f),
            Value::Str(s) => py_str_repr(&s),
            Value::Bool(b) => if b { "True" } else { "False" }.to_string(),
            _ => {
                return Err(Error::invalid(
                    self.function,
                    self.argument,
                    "an integer, float, text or boolean value for family 'upstream' (the types the Python library hashes)",
                    self.array.data_type().to_string(),
                ))
            }
        })
    }
}

fn item_kind(dt: &DataType) -> Option<ItemKind> {
    use DataType::*;
    Some(match dt {
        Int8 | Int16 | Int32 | Int64 => ItemKind::Int,
        UInt8 | UInt16 | UInt32 | UInt64 => ItemKind::UInt,
        Float32 | Float64 => ItemKind::Float,
        Utf8 | LargeUtf8 | Utf8View => ItemKind::Text,
        Binary | LargeBinary | BinaryView => ItemKind::Binary,
        Decimal128(_, s) => ItemKind::Decimal(*s),
        Date32 | Date64 => ItemKind::Date,
        Timestamp(unit, _) => match unit {
            TimeUnit::Second => ItemKind::Timestamp(1_000_000, false),
            TimeUnit::Millisecond => ItemKind::Timestamp(1_000, false),
            TimeUnit::Microsecond => ItemKind::Timestamp(1, false),
            TimeUnit::Nanosecond => ItemKind::Timestamp(1_000, true),
        },
        Boolean | List(_) | LargeList(_) | Struct(_) => ItemKind::Key,
        Null => ItemKind::Key,
        _ => return None,
    })
}

/// A decimal's normalised text: no trailing fractional zeros, no trailing point.
pub fn decimal_text(unscaled: i128, scale: i8) -> String {
    if scale <= 0 {
        let mut s = unscaled.to_string();
        if unscaled != 0 {
            s.extend(std::iter::repeat_n('0', usize::from(scale.unsigned_abs())));
        }
        return s;
    }
    let neg = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let (int, frac) = if digits.len() > scale {
        let (a, b) = digits.split_at(digits.len() - scale);
        (a.to_string(), b.to_string())
    } else {
        ("0".to_string(), format!("{digits:0>scale$}"))
    };
    let frac = frac.trim_end_matches('0');
    let body = if frac.is_empty() {
        int
    } else {
        format!("{int}.{frac}")
    };
    if neg && body != "0" {
        format!("-{body}")
    } else {
        body
    }
}

/// Python's `repr(float)` (the shortest digits that round-trip, Python's layout).
pub fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sci = format!("{:e}", x.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let decpt = exp + 1;
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let n = digits.len() as i32;
    let body = if !(-4 < decpt && decpt <= 16) {
        let (first, rest) = digits.split_at(1);
        let m = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        let e = decpt - 1;
        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    } else if decpt <= 0 {
        format!("0.{}{digits}", "0".repeat((-decpt) as usize))
    } else if decpt >= n {
        format!("{digits}{}.0", "0".repeat((decpt - n) as usize))
    } else {
        let (a, b) = digits.split_at(decpt as usize);
        format!("{a}.{b}")
    };
    format!("{sign}{body}")
}

fn printable(c: char) -> bool {
    // Python's str.isprintable: not a control, format, surrogate, private-use or unassigned
    // code point, and no separator other than the ASCII space. Approximated by the categories
    // Rust exposes plus the format characters in common use.
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c as u32,
            0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
            | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
            | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF))
}

/// Python's `repr(str)`.
pub fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if printable(c) => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_reprs() {
        assert_eq!(py_float_repr(1.0), "1.0");
        assert_eq!(py_float_repr(1e16), "1e+16");
        assert_eq!(py_float_repr(1234567890123456.0), "1234567890123456.0");
        assert_eq!(py_float_repr(0.0001), "0.0001");
        assert_eq!(py_float_repr(0.00001), "1e-05");
        assert_eq!(py_float_repr(-2.5), "-2.5");
        assert_eq!(py_float_repr(1.5e300), "1.5e+300");
        assert_eq!(py_float_repr(0.1), "0.1");
        assert_eq!(py_str_repr("abc"), "'abc'");
        assert_eq!(py_str_repr("it's"), "\"it's\"");
        assert_eq!(py_str_repr("a'\"b"), "'a\\'\"b'");
        assert_eq!(py_str_repr("x\ny\u{1}"), "'x\\ny\\x01'");
        assert_eq!(py_str_repr("é"), "'é'");
    }

    #[test]
    fn decimals_normalise() {
        assert_eq!(decimal_text(150, 2), "1.5");
        assert_eq!(decimal_text(200, 2), "2");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(0, 4), "0");
        assert_eq!(decimal_text(12, -2), "1200");
    }

    #[test]
    fn murmur3_known_answers() {
        // MurmurHash3_x64_128 of the empty input with seed 0 is all zero.
        assert_eq!(murmur3_x64_128(b"", 0), (0, 0));
    }
}
