//! The E4 object envelope: `"CME4"` | version u8 (1) | object u8, then the object's bytes.
//! A trust state also travels as a kernel wire frame with type tag [`TRUST_STATE_TAG`].

use crate::codec::Reader;
use crate::error::Result;

/// The magic of every E4 object.
pub const MAGIC: &[u8; 4] = b"CME4";

/// The kernel wire-frame type tag of a trust state (`docs/wire-format.md`, the `0x78`–`0x7F`
/// model/E4 range; `0x78` stays with the model-state manifest).
pub const TRUST_STATE_TAG: u8 = 0x79;

/// What an E4 object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    /// A signed delta (header, signature, optional payload).
    Delta = 1,
    /// A PKI (genesis and key events).
    Pki = 2,
    /// One piece of evidence.
    Evidence = 3,
    /// A trust state.
    State = 4,
    /// A signed state claim.
    Claim = 5,
}

impl Object {
    fn name(self) -> &'static str {
        match self {
            Object::Delta => "signed delta",
            Object::Pki => "pki",
            Object::Evidence => "evidence",
            Object::State => "trust state",
            Object::Claim => "state claim",
        }
    }
}

pub(crate) fn frame(object: Object, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + body.len());
    out.extend_from_slice(MAGIC);
    out.push(1);
    out.push(object as u8);
    out.extend_from_slice(body);
    out
}

pub(crate) fn read_magic(r: &mut Reader<'_>, object: Object) -> Result<()> {
    if r.take(4, "magic")? != MAGIC {
        return Err(r.err(0, "not an E4 object (magic `CME4` missing)"));
    }
    if r.u8("version")? != 1 {
        return Err(r.err(4, "version is not 1"));
    }
    let got = r.u8("object")?;
    if got != object as u8 {
        return Err(r.err(
            5,
            format!(
                "object type {got}, expected {} ({})",
                object as u8,
                object.name()
            ),
        ));
    }
    Ok(())
}

/// Wraps bytes in a kernel wire frame: `"CRDT"` | version u16 BE (1) | tag | flags 0 | length
/// u32 BE | payload.
pub fn kernel_frame(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + payload.len());
    out.extend_from_slice(b"CRDT");
    out.extend_from_slice(&1u16.to_be_bytes());
    out.push(tag);
    out.push(0);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Unwraps [`kernel_frame`]'s bytes with the expected tag.
///
/// # Errors
/// A wrong magic, version, tag, flags or length, with the offset.
pub fn read_kernel_frame(tag: u8, bytes: &[u8]) -> Result<&[u8]> {
    let mut r = Reader::new("kernel frame", bytes);
    if r.take(4, "magic")? != b"CRDT" {
        return Err(r.err(0, "magic `CRDT` missing"));
    }
    if r.u16("version")? != 1 {
        return Err(r.err(4, "version is not 1"));
    }
    let t = r.u8("tag")?;
    if t != tag {
        return Err(r.err(6, format!("type tag {t:#04x}, expected {tag:#04x}")));
    }
    if r.u8("flags")? != 0 {
        return Err(r.err(7, "flags must be 0 (E4 states are not compressed)"));
    }
    let n = r.u32("length")? as usize;
    let body = r.take(n, "payload")?;
    r.finish()?;
    Ok(body)
}
