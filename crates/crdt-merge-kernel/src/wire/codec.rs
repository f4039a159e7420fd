//! The binary value codec: one tag byte per value, big-endian numbers, u32 lengths and counts.
//!
//! ```text
//! 0x00 None        0x01 True         0x02 False
//! 0x09 int8        0x03 int64 BE     0x0B uint64 BE (ours: integers above i64::MAX)
//! 0x04 float64 BE  0x05 str: u32 len + UTF-8      0x06 bytes: u32 len + raw
//! 0x07 list: u32 count + items   0x08 dict: u32 count + key,value...   0x0A set: u32 count + items
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::state::Datum;

pub(crate) const T_NONE: u8 = 0x00;
pub(crate) const T_TRUE: u8 = 0x01;
pub(crate) const T_FALSE: u8 = 0x02;
pub(crate) const T_INT64: u8 = 0x03;
pub(crate) const T_FLOAT64: u8 = 0x04;
pub(crate) const T_STR: u8 = 0x05;
pub(crate) const T_BYTES: u8 = 0x06;
pub(crate) const T_LIST: u8 = 0x07;
pub(crate) const T_DICT: u8 = 0x08;
pub(crate) const T_SMALLINT: u8 = 0x09;
pub(crate) const T_SET: u8 = 0x0A;
pub(crate) const T_UINT64: u8 = 0x0B;

/// Nesting deeper than this is rejected, so hostile input cannot exhaust the stack.
pub(crate) const MAX_DEPTH: usize = 64;

/// What one decoded value costs against the decode budget, beyond its text or bytes: the
/// value itself plus its share of the collection holding it (a set or dict entry also pays for
/// its B-tree slot). Deliberately generous, so the budget bounds real memory from above.
const VALUE_COST: usize = std::mem::size_of::<Datum>();
const SET_ENTRY_COST: usize = 2 * std::mem::size_of::<Datum>();
const DICT_ENTRY_COST: usize = 3 * std::mem::size_of::<Datum>();

/// Collections start with at most this many slots reserved; they grow as items actually
/// decode, so a declared count never sizes an allocation (a 250 KB zlib frame can declare
/// 262M one-byte items).
const MAX_RESERVE: usize = 1024;

/// Appends canonical encodings to a buffer.
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

/// A length or count as the format's u32.
///
/// # Panics
/// Beyond 4 GiB / 2^32 items, which the format cannot express (nor can the Python library).
fn u32_len(n: usize) -> u32 {
    u32::try_from(n).expect("wire format lengths and counts are u32: value too large to encode")
}

impl Writer {
    pub(crate) fn tag(&mut self, t: u8) {
        self.buf.push(t);
    }

    pub(crate) fn len(&mut self, t: u8, n: usize) {
        self.buf.push(t);
        self.buf.extend_from_slice(&u32_len(n).to_be_bytes());
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.len(T_STR, s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn int(&mut self, i: i64) {
        match i8::try_from(i) {
            Ok(small) => {
                self.buf.push(T_SMALLINT);
                self.buf.push(small.to_be_bytes()[0]);
            }
            Err(_) => {
                self.buf.push(T_INT64);
                self.buf.extend_from_slice(&i.to_be_bytes());
            }
        }
    }

    pub(crate) fn uint(&mut self, u: u64) {
        match i64::try_from(u) {
            Ok(i) => self.int(i),
            Err(_) => {
                self.buf.push(T_UINT64);
                self.buf.extend_from_slice(&u.to_be_bytes());
            }
        }
    }

    pub(crate) fn float(&mut self, f: f64) {
        // One bit pattern per value: +0.0 for both zeros, the quiet NaN for every NaN.
        let f = if f == 0.0 {
            0.0
        } else if f.is_nan() {
            f64::NAN
        } else {
            f
        };
        self.buf.push(T_FLOAT64);
        self.buf.extend_from_slice(&f.to_be_bytes());
    }

    pub(crate) fn datum(&mut self, d: &Datum) {
        match d {
            Datum::None => self.tag(T_NONE),
            Datum::Bool(true) => self.tag(T_TRUE),
            Datum::Bool(false) => self.tag(T_FALSE),
            Datum::Int(i) => self.int(*i),
            Datum::UInt(u) => self.uint(*u),
            Datum::Float(f) => self.float(*f),
            Datum::Str(s) => self.str(s),
            Datum::Bytes(b) => {
                self.len(T_BYTES, b.len());
                self.buf.extend_from_slice(b);
            }
            Datum::List(items) => {
                self.len(T_LIST, items.len());
                items.iter().for_each(|i| self.datum(i));
            }
            Datum::Set(items) => {
                self.len(T_SET, items.len());
                items.iter().for_each(|i| self.datum(i));
            }
            Datum::Dict(map) => {
                self.len(T_DICT, map.len());
                for (k, v) in map {
                    self.datum(k);
                    self.datum(v);
                }
            }
        }
    }
}

/// Reads values from a payload, reporting errors at absolute frame offsets.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` in the frame, for error messages.
    base: usize,
    /// Set when `buf` is an inflated payload: offsets then refer to it, not to the frame.
    inflated: bool,
    function: &'static str,
    /// Bytes of decoded memory still allowed ([`DecodeOptions::max_decoded`](super::DecodeOptions)).
    budget: usize,
    limit: usize,
}

impl<'a> Reader<'a> {
    #[cfg(test)]
    pub(crate) fn new(buf: &'a [u8], base: usize, inflated: bool, function: &'static str) -> Self {
        Self::with_budget(buf, base, inflated, function, usize::MAX)
    }

    /// A reader that fails once the values it has decoded would take more than `budget` bytes
    /// of memory.
    pub(crate) fn with_budget(
        buf: &'a [u8],
        base: usize,
        inflated: bool,
        function: &'static str,
        budget: usize,
    ) -> Self {
        Self {
            buf,
            pos: 0,
            base,
            inflated,
            function,
            budget,
            limit: budget,
        }
    }

    /// Charges `cost` bytes of decoded memory for the value starting at `at`.
    fn charge(&mut self, at: usize, cost: usize) -> Result<()> {
        match self.budget.checked_sub(cost) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => Err(self.error_at(
                at,
                format!(
                    "oversized: the decoded state would need more than the {}-byte decode limit",
                    self.limit
                ),
            )),
        }
    }

    /// A decode error at payload position `at`.
    pub(crate) fn error_at(&self, at: usize, reason: impl Into<String>) -> Error {
        let reason = reason.into();
        if self.inflated {
            Error::decode(
                self.function,
                self.base,
                format!("{reason} (at offset {at} of the inflated payload)"),
            )
        } else {
            Error::decode(self.function, self.base + at, reason)
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error_at(
                self.pos,
                format!(
                    "truncated: {what} needs {n} bytes, only {} remain",
                    self.remaining()
                ),
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads a u32 count and checks that `count` items of at least `min_item` bytes each can
    /// still follow, so no allocation is sized by an unchecked length field.
    fn count(&mut self, what: &str, min_item: usize) -> Result<usize> {
        let at = self.pos;
        let n = u32::from_be_bytes(self.array(what)?) as usize;
        if n.saturating_mul(min_item) > self.remaining() {
            return Err(self.error_at(
                at,
                format!(
                    "{what} declares {n} items but only {} bytes remain",
                    self.remaining()
                ),
            ));
        }
        Ok(n)
    }

    pub(crate) fn datum(&mut self, depth: usize) -> Result<Datum> {
        let start = self.pos;
        if depth > MAX_DEPTH {
            return Err(self.error_at(start, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let [tag] = self.array("a value tag")?;
        self.charge(start, VALUE_COST)?;
        Ok(match tag {
            T_NONE => Datum::None,
            T_TRUE => Datum::Bool(true),
            T_FALSE => Datum::Bool(false),
            T_SMALLINT => Datum::Int(i64::from(i8::from_be_bytes(self.array("an int8")?))),
            T_INT64 => Datum::Int(i64::from_be_bytes(self.array("an int64")?)),
            T_UINT64 => Datum::from_u64(u64::from_be_bytes(self.array("a uint64")?)),
            T_FLOAT64 => Datum::Float(f64::from_be_bytes(self.array("a float64")?)),
            T_STR => {
                let n = self.count("a string length", 1)?;
                let at = self.pos;
                self.charge(start, n)?;
                let raw = self.take(n, "a string")?;
                match std::str::from_utf8(raw) {
                    Ok(s) => Datum::Str(s.to_owned()),
                    Err(e) => {
                        return Err(self.error_at(at + e.valid_up_to(), "string is not valid UTF-8"))
                    }
                }
            }
            T_BYTES => {
                let n = self.count("a bytes length", 1)?;
                self.charge(start, n)?;
                Datum::Bytes(self.take(n, "bytes")?.to_vec())
            }
            T_LIST => {
                let n = self.count("a list", 1)?;
                let mut items = Vec::with_capacity(n.min(MAX_RESERVE));
                for _ in 0..n {
                    items.push(self.datum(depth + 1)?);
                }
                Datum::List(items)
            }
            T_SET => {
                let n = self.count("a set", 1)?;
                let mut items = BTreeSet::new();
                for _ in 0..n {
                    let at = self.pos;
                    self.charge(at, SET_ENTRY_COST)?;
                    let item = self.datum(depth + 1)?;
                    if !item.is_hashable() {
                        return Err(
                            self.error_at(at, format!("a set cannot hold a {}", item.kind_name()))
                        );
                    }
                    items.insert(item);
                }
                Datum::Set(items)
            }
            T_DICT => {
                let n = self.count("a dict", 2)?;
                let mut map = BTreeMap::new();
                for _ in 0..n {
                    let at = self.pos;
                    self.charge(at, DICT_ENTRY_COST)?;
                    let k = self.datum(depth + 1)?;
                    if !k.is_hashable() {
                        return Err(
                            self.error_at(at, format!("a dict key cannot be a {}", k.kind_name()))
                        );
                    }
                    let v = self.datum(depth + 1)?;
                    // A repeated key keeps the last value, as Python's decoder does.
                    map.insert(k, v);
                }
                Datum::Dict(map)
            }
            other => return Err(self.error_at(start, format!("unknown value tag 0x{other:02x}"))),
        })
    }

    /// Reads one value that must span the whole buffer.
    pub(crate) fn whole(&mut self) -> Result<Datum> {
        let d = self.datum(0)?;
        if self.remaining() > 0 {
            return Err(self.error_at(
                self.pos,
                format!(
                    "{} trailing bytes after the payload value",
                    self.remaining()
                ),
            ));
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(d: &Datum) -> Datum {
        let mut w = Writer::default();
        w.datum(d);
        Reader::new(&w.buf, 0, false, "t").whole().unwrap()
    }

    #[test]
    fn ints_use_the_smallest_python_form() {
        let mut w = Writer::default();
        w.int(127);
        w.int(-128);
        w.int(128);
        w.uint(u64::MAX);
        assert_eq!(
            w.buf,
            [
                &[0x09, 0x7f][..],
                &[0x09, 0x80],
                &[0x03, 0, 0, 0, 0, 0, 0, 0, 0x80],
                &[0x0b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
            ]
            .concat()
        );
        assert_eq!(roundtrip(&Datum::UInt(u64::MAX)), Datum::UInt(u64::MAX));
        // A uint64 that fits is read as an ordinary int.
        let d = Reader::new(&[0x0b, 0, 0, 0, 0, 0, 0, 0, 5], 0, false, "t")
            .whole()
            .unwrap();
        assert!(matches!(d, Datum::Int(5)));
    }

    #[test]
    fn nested_values_round_trip() {
        let mut m = BTreeMap::new();
        m.insert(
            Datum::str("k"),
            Datum::List(vec![Datum::None, Datum::Float(1.5)]),
        );
        m.insert(Datum::Int(3), Datum::Bytes(vec![1, 2]));
        let d = Datum::Dict(m);
        assert_eq!(roundtrip(&d), d);
    }

    #[test]
    fn hostile_lengths_and_depth_are_errors() {
        // A list claiming 2^32-1 items in 5 bytes.
        let e = Reader::new(&[0x07, 0xff, 0xff, 0xff, 0xff], 12, false, "t")
            .whole()
            .unwrap_err();
        assert!(e.to_string().contains("offset 13"), "{e}");
        let deep: Vec<u8> = std::iter::repeat_n([0x07, 0, 0, 0, 1], 100)
            .flatten()
            .collect();
        let e = Reader::new(&deep, 0, false, "t").whole().unwrap_err();
        assert!(e.to_string().contains("nesting"), "{e}");
        let e = Reader::new(&[0x05, 0, 0, 0, 2, 0xc3, 0x28], 0, false, "t")
            .whole()
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("offset 5: string is not valid UTF-8"),
            "{e}"
        );
        let e = Reader::new(&[0x00, 0x00], 0, false, "t")
            .whole()
            .unwrap_err();
        assert!(e.to_string().contains("offset 1"), "{e}");
        let e = Reader::new(&[0x0c], 0, false, "t").whole().unwrap_err();
        assert!(e.to_string().contains("unknown value tag 0x0c"), "{e}");
        let e = Reader::new(&[0x08, 0, 0, 0, 1, 0x07, 0, 0, 0, 0, 0x00], 0, false, "t")
            .whole()
            .unwrap_err();
        assert!(e.to_string().contains("dict key cannot be a list"), "{e}");
    }
}
