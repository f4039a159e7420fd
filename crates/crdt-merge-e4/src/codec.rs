//! Canonical big-endian encoding helpers: a [`Reader`] that tracks the byte offset of every
//! field, so decoders can name the first non-canonical byte, and a few writer helpers.

use crate::error::{Result, TrustError};

/// A cursor over bytes that decodes fixed-width big-endian fields.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(what: &'static str, bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0, what }
    }

    pub(crate) fn offset(&self) -> usize {
        self.at
    }

    pub(crate) fn err(&self, offset: usize, reason: impl Into<String>) -> TrustError {
        TrustError::decode(self.what, offset, reason)
    }

    pub(crate) fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8]> {
        let left = self.bytes.len() - self.at;
        if n > left {
            return Err(self.err(
                self.at,
                format!("{field}: needs {n} bytes, {left} left (truncated)"),
            ));
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &str) -> Result<u8> {
        Ok(self.take(1, field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A u32-length-prefixed byte string, at most `max` bytes.
    pub(crate) fn bytes32(&mut self, field: &str, max: usize) -> Result<&'a [u8]> {
        let at = self.at;
        let n = self.u32(field)? as usize;
        if n > max {
            return Err(self.err(at, format!("{field}: length {n} above the limit {max}")));
        }
        self.take(n, field)
    }

    /// A 0/1 byte.
    pub(crate) fn bool(&mut self, field: &str) -> Result<bool> {
        let at = self.at;
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(self.err(at, format!("{field}: {b} is not 0 or 1"))),
        }
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.at != self.bytes.len() {
            return Err(self.err(
                self.at,
                format!("{} trailing bytes", self.bytes.len() - self.at),
            ));
        }
        Ok(())
    }
}

/// `e` with its byte offset moved by `by` (an error from a nested reader, placed in the outer
/// bytes).
pub(crate) fn shift(e: TrustError, by: usize) -> TrustError {
    match e {
        TrustError::Decode {
            what,
            offset,
            reason,
        } => TrustError::Decode {
            what,
            offset: offset + by,
            reason,
        },
        e => e,
    }
}

pub(crate) fn put_bytes32(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Parses lower- or upper-case hex of even length.
pub fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}
