//! The wire format: states as bytes, compatible with the Python library crdt-merge 0.11.0.
//!
//! ```text
//! offset  size  field
//!      0     4  magic "CRDT" (43 52 44 54)
//!      4     2  version, u16 big-endian: we write 1, read 0 and 1
//!      6     1  type tag (see below)
//!      7     1  flags: bit 0 = payload is zlib-compressed; other bits must be 0
//!      8     4  payload length N, u32 big-endian
//!     12     N  payload: the binary value codec, or JSON text for the clock types
//! ```
//!
//! | tag | type | payload |
//! |---|---|---|
//! | 0x01 | `g_counter` | binary: `{"type", "counts": {replica: n}}` |
//! | 0x02 | `pn_counter` | binary: `{"type", "pos": g_counter, "neg": g_counter}` |
//! | 0x03 | `lww_register` | binary: `{"type", "value", "timestamp", "node_id"}` |
//! | 0x04 | `or_set` | binary: `{"type", "elements": {e: [tag]}, "tombstones"?: {e: [tag]}}` |
//! | 0x05 | `lww_map` | binary: `{"type", "registers": {k: lww_register}, "tombstones": {k: ts}}` |
//! | 0x40 | `vector_clock` | JSON: `{"type", "clocks": {node: n}}` |
//! | 0x41 | `dotted_version_vector` | JSON: `{"type", "base": vector_clock, "dot"?: [node, n]}` |
//! | 0x30, 0x31, 0x32 | `hll`, `bloom`, `cms` | binary: the Python library's layouts plus `family` (see `sketch.rs`) |
//! | 0x61, 0x62 | `minhash`, `theta` | binary: ours (see `sketch.rs`) |
//! | 0x60 | `gossip_state` | binary: `{"type", "clock": {node: n}, "entries": {key: {"context": {node: n}, "values": [[node, counter, deleted, value]]}}}` (ours) |
//! | 0x68 | `agent_state` | binary: `{"type", "agents", "facts": {key: [value, ts, agent, confidence]}, "tags", "tag_tombstones": {tag: [tags]}, "counters": {name: [pos, neg]}, "messages": [[ts, id, agent, role, content, metadata]], "max_messages"}` (ours) |
//! | 0x43 | the Python library's `gossip_state` | JSON, read only: each entry becomes a one-value register (see `convert.rs`) |
//!
//! Writes are canonical: no compression, maps and sets sorted, one encoding per number, so
//! equal states give identical bytes. Reads accept what the Python library writes (insertion
//! order, zlib payloads, `element_types`) but, unlike it, reject bytes after the frame, cap the
//! inflated size ([`DecodeOptions`]), and report every problem with its byte offset. Decoding
//! never panics and never allocates more than the input (or the inflate cap) can justify.
//! `docs/wire-format.md` has the full description.

mod codec;
mod convert;
mod pyjson;
mod sketch;

use std::io::Read;

use crate::error::{Error, ErrorKind, Result};
use crate::sketch::Sketch;
use crate::state::AnyState;

use codec::{Reader, Writer};
use convert::Ctx;

/// The four magic bytes that open every frame.
pub const MAGIC: [u8; 4] = *b"CRDT";
/// The version we write.
pub const VERSION: u16 = 1;
/// Header size in bytes.
pub const HEADER_LEN: usize = 12;
/// Flag bit: the payload is zlib-compressed.
pub const FLAG_ZLIB: u8 = 0x01;

pub(crate) const TAG_G_COUNTER: u8 = 0x01;
pub(crate) const TAG_PN_COUNTER: u8 = 0x02;
pub(crate) const TAG_LWW_REGISTER: u8 = 0x03;
pub(crate) const TAG_OR_SET: u8 = 0x04;
pub(crate) const TAG_LWW_MAP: u8 = 0x05;
pub(crate) const TAG_VECTOR_CLOCK: u8 = 0x40;
pub(crate) const TAG_DVV: u8 = 0x41;
pub(crate) const TAG_HLL: u8 = 0x30;
pub(crate) const TAG_BLOOM: u8 = 0x31;
pub(crate) const TAG_CMS: u8 = 0x32;
pub(crate) const TAG_MINHASH: u8 = 0x61;
pub(crate) const TAG_THETA: u8 = 0x62;
pub(crate) const TAG_GOSSIP: u8 = 0x60;
pub(crate) const TAG_AGENT: u8 = 0x68;
pub(crate) const TAG_PY_GOSSIP: u8 = 0x43;

/// Function name for errors from plain decoding (SQL functions re-attribute them).
const DECODE: &str = "crdt_decode";

/// Type tag of a state.
pub fn type_tag(state: &AnyState) -> u8 {
    match state {
        AnyState::GCounter(_) => TAG_G_COUNTER,
        AnyState::PNCounter(_) => TAG_PN_COUNTER,
        AnyState::LwwRegister(_) => TAG_LWW_REGISTER,
        AnyState::OrSet(_) => TAG_OR_SET,
        AnyState::LwwMap(_) => TAG_LWW_MAP,
        AnyState::VectorClock(_) => TAG_VECTOR_CLOCK,
        AnyState::DottedVersionVector(_) => TAG_DVV,
        AnyState::Sketch(k) => sketch_tag(k),
        AnyState::Gossip(_) => TAG_GOSSIP,
        AnyState::Agent(_) => TAG_AGENT,
    }
}

fn sketch_tag(sketch: &Sketch) -> u8 {
    match sketch {
        Sketch::Hll(_) => TAG_HLL,
        Sketch::Bloom(_) => TAG_BLOOM,
        Sketch::Cms(_) => TAG_CMS,
        Sketch::MinHash(_) => TAG_MINHASH,
        Sketch::Theta(_) => TAG_THETA,
    }
}

/// Tags the Python library defines for types we do not (yet) read, for clearer errors.
fn python_only_type(tag: u8) -> Option<&'static str> {
    Some(match tag {
        0x10 => "delta",
        0x20 => "generic",
        0x42 => "merkle_tree",
        0x43 => "gossip_state",
        0x44 => "gossip_entry",
        0x45 => "schema_evolution_result",
        0x46 => "schema_change",
        0x47 => "merkle_diff",
        0x50 => "mergeql_query",
        0x51 => "merge_plan",
        0x52 => "mergeql_result",
        0x53 => "parquet_merge_metadata",
        0x54 => "conflict_record",
        0x55 => "conflict_topology",
        _ => return None,
    })
}

/// Limits applied while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Largest payload accepted, after inflating a compressed one (default 256 MiB). A frame
    /// whose payload would exceed it is rejected before more than this much is inflated.
    pub max_inflated: usize,
    /// Most memory, in bytes, the decoded values of one frame may take (default 256 MiB).
    /// Decoding stops with an error as soon as it would pass this, however few bytes the frame
    /// has: one payload byte can stand for a 32-byte value, and a zlib frame of 250 KB can
    /// inflate to 256 MiB of them.
    pub max_decoded: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_inflated: 256 * 1024 * 1024,
            max_decoded: 256 * 1024 * 1024,
        }
    }
}

/// Encodes `state` as one canonical frame (version 1, uncompressed).
///
/// # Example
/// ```
/// use crdt_merge_kernel::state::{AnyState, GCounter};
/// use crdt_merge_kernel::wire;
///
/// let mut g = GCounter::new();
/// g.observe("n1", 5);
/// let bytes = wire::encode(&AnyState::from(g));
/// assert_eq!(&bytes[..4], b"CRDT");
/// assert_eq!(bytes.len(), 65); // the same 65 bytes the Python library writes
/// assert_eq!(wire::typeof_bytes(&bytes).unwrap(), "g_counter");
/// assert_eq!(wire::counter_value(&bytes).unwrap(), 5);
/// assert_eq!(
///     wire::to_json_bytes(&bytes).unwrap(),
///     r#"{"counts":{"n1":5},"type":"g_counter"}"#
/// );
/// ```
///
/// # Panics
/// If a string, byte string or collection inside the state, or the whole payload, exceeds the
/// format's u32 lengths (4 GiB); the Python library cannot express such states either.
pub fn encode(state: &AnyState) -> Vec<u8> {
    let payload = match state {
        AnyState::VectorClock(_) | AnyState::DottedVersionVector(_) => {
            convert::write_json(state).into_bytes()
        }
        _ => {
            let mut w = Writer::default();
            convert::write_binary(&mut w, state);
            w.buf
        }
    };
    frame(type_tag(state), &payload)
}

/// [`encode`] of a sketch held by reference (an aggregate's finished state: no copy of its
/// registers or hashes first).
pub(crate) fn encode_sketch(sketch: &Sketch) -> Vec<u8> {
    let mut w = Writer::default();
    sketch::write(&mut w, sketch);
    frame(sketch_tag(sketch), &w.buf)
}

/// A writer of the binary value codec (canonical bytes for digests of states' parts).
pub(crate) fn codec_writer() -> Writer {
    Writer::default()
}

/// Header and payload of one frame.
fn frame(tag: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("wire payload exceeds 4 GiB");
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.push(tag);
    out.push(0);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Decodes one frame with the default [`DecodeOptions`].
///
/// # Errors
/// [`ErrorKind::Decode`] with the byte offset for bad magic, an unsupported version, an unknown
/// type tag or flag, truncated or oversized input, bytes after the frame, a corrupt zlib stream
/// or a payload that does not describe a state of the header's type.
pub fn decode(bytes: &[u8]) -> Result<AnyState> {
    decode_with(bytes, &DecodeOptions::default())
}

/// Decodes one frame with explicit limits; see [`decode`].
pub fn decode_with(bytes: &[u8], opts: &DecodeOptions) -> Result<AnyState> {
    decode_frame(bytes, opts, DECODE)
}

fn decode_frame(bytes: &[u8], opts: &DecodeOptions, function: &'static str) -> Result<AnyState> {
    let err = |at: usize, reason: String| Error::decode(function, at, reason);
    for (i, (got, want)) in bytes.iter().zip(MAGIC.iter()).enumerate() {
        if got != want {
            return Err(err(
                i,
                format!("bad magic: expected 43 52 44 54 (\"CRDT\"), found byte 0x{got:02x}"),
            ));
        }
    }
    if bytes.len() < HEADER_LEN {
        return Err(err(
            bytes.len(),
            format!(
                "truncated: a frame header is {HEADER_LEN} bytes, input has {}",
                bytes.len()
            ),
        ));
    }
    let header = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let version = u16::from_be_bytes([header(4), header(5)]);
    if version > VERSION {
        return Err(err(
            4,
            format!("unsupported version {version} (versions 0 and 1 are supported)"),
        ));
    }
    let tag = header(6);
    let json = match tag {
        TAG_G_COUNTER | TAG_PN_COUNTER | TAG_LWW_REGISTER | TAG_OR_SET | TAG_LWW_MAP | TAG_HLL
        | TAG_BLOOM | TAG_CMS | TAG_MINHASH | TAG_THETA | TAG_GOSSIP | TAG_AGENT => false,
        TAG_VECTOR_CLOCK | TAG_DVV | TAG_PY_GOSSIP => true,
        other => {
            return Err(err(
                6,
                match python_only_type(other) {
                    Some(name) => format!("type tag 0x{other:02x} ({name}) is not supported"),
                    None => format!("unknown type tag 0x{other:02x}"),
                },
            ))
        }
    };
    let flags = header(7);
    if flags & !FLAG_ZLIB != 0 {
        return Err(err(7, format!("unknown flag bits 0x{flags:02x}")));
    }
    let len = u32::from_be_bytes([header(8), header(9), header(10), header(11)]) as usize;
    let available = bytes.len() - HEADER_LEN;
    if len > available {
        return Err(err(
            8,
            format!("truncated: header declares a {len}-byte payload, {available} bytes follow"),
        ));
    }
    if len < available {
        return Err(err(
            HEADER_LEN + len,
            format!("{} trailing bytes after the frame", available - len),
        ));
    }
    if len > opts.max_inflated {
        return Err(err(
            8,
            format!(
                "oversized: {len}-byte payload exceeds the {}-byte limit",
                opts.max_inflated
            ),
        ));
    }
    let raw = &bytes[HEADER_LEN..];
    let inflated;
    let payload: &[u8] = if flags & FLAG_ZLIB != 0 {
        inflated = inflate(raw, opts.max_inflated, function)?;
        &inflated
    } else {
        raw
    };
    let compressed = flags & FLAG_ZLIB != 0;
    if tag == TAG_HLL {
        if let Some(h) = sketch::fast_hll(payload) {
            return Ok(AnyState::Sketch(Sketch::Hll(h)));
        }
    }
    let mut reader =
        Reader::with_budget(payload, HEADER_LEN, compressed, function, opts.max_decoded);
    if json {
        pyjson::check_budget(payload, HEADER_LEN, opts.max_decoded, function)?;
        let j = pyjson::parse(payload, HEADER_LEN, compressed, function)?;
        Ctx { reader: &reader }.json_state(tag, &j)
    } else {
        let d = reader.whole()?;
        Ctx { reader: &reader }.binary_state(tag, &d)
    }
}

/// Inflates a zlib payload, refusing to produce more than `cap` bytes and rejecting bytes
/// after the end of the zlib stream.
fn inflate(raw: &[u8], cap: usize, function: &str) -> Result<Vec<u8>> {
    let mut decoder = flate2::bufread::ZlibDecoder::new(raw);
    let mut out = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    (&mut decoder)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| Error::decode(function, HEADER_LEN, format!("corrupt zlib payload: {e}")))?;
    if out.len() > cap {
        return Err(Error::decode(
            function,
            HEADER_LEN,
            format!("oversized: payload inflates beyond the {cap}-byte limit"),
        ));
    }
    let used = usize::try_from(decoder.total_in()).unwrap_or(usize::MAX);
    if used < raw.len() {
        return Err(Error::decode(
            function,
            HEADER_LEN + used,
            format!(
                "{} bytes after the end of the zlib stream",
                raw.len() - used
            ),
        ));
    }
    Ok(out)
}

fn decode_as(bytes: &[u8], function: &'static str) -> Result<AnyState> {
    decode_frame(bytes, &DecodeOptions::default(), function)
}

/// `crdt_state_merge`: the join of two encoded states of the same type, encoded.
///
/// # Errors
/// A decode error (naming which argument) or a type mismatch.
pub fn merge_bytes(a: &[u8], b: &[u8]) -> Result<Vec<u8>> {
    const F: &str = "crdt_state_merge";
    let which = |arg: &'static str| {
        move |mut e: Error| {
            if let ErrorKind::Decode { reason, .. } = &mut e.kind {
                *reason = format!("{arg} state: {reason}");
            }
            e
        }
    };
    let sa = decode_as(a, F).map_err(which("first"))?;
    let sb = decode_as(b, F).map_err(which("second"))?;
    Ok(encode(&sa.join(&sb).map_err(|e| e.in_function(F))?))
}

/// The type names [`from_dict`] takes (the Python library's, with its CLI's spellings
/// `gcounter`, `pncounter`, `lwwregister`, `orset`, `lwwmap`, `vectorclock`, `dvv` too).
pub const DICT_TYPES: &[&str] = &[
    "g_counter",
    "pn_counter",
    "lww_register",
    "or_set",
    "lww_map",
    "vector_clock",
    "dotted_version_vector",
    "hll",
    "bloom",
    "cms",
    "minhash",
    "theta",
    "gossip_state",
    "agent_state",
];

/// A state from its dict form as JSON: the payload the Python library's `to_dict()` writes
/// (what `wire serialize` takes), read by the same checks as a decoded frame. JSON has no sets
/// or bytes, so states that hold them come through as lists and text where the decoder accepts
/// those.
///
/// # Errors
/// An unknown type name, or a dict that does not describe a state of that type, naming the
/// field.
pub fn from_dict(type_name: &str, dict: &serde_json::Value) -> Result<AnyState> {
    const F: &str = "crdt_from_dict";
    let name = match type_name {
        "gcounter" => "g_counter",
        "pncounter" => "pn_counter",
        "lwwregister" => "lww_register",
        "orset" => "or_set",
        "lwwmap" => "lww_map",
        "vectorclock" => "vector_clock",
        "dvv" => "dotted_version_vector",
        other => other,
    };
    let tag = match name {
        "g_counter" => TAG_G_COUNTER,
        "pn_counter" => TAG_PN_COUNTER,
        "lww_register" => TAG_LWW_REGISTER,
        "or_set" => TAG_OR_SET,
        "lww_map" => TAG_LWW_MAP,
        "vector_clock" => TAG_VECTOR_CLOCK,
        "dotted_version_vector" => TAG_DVV,
        "hll" => TAG_HLL,
        "bloom" => TAG_BLOOM,
        "cms" => TAG_CMS,
        "minhash" => TAG_MINHASH,
        "theta" => TAG_THETA,
        "gossip_state" => TAG_GOSSIP,
        "agent_state" => TAG_AGENT,
        other => {
            return Err(Error::invalid(
                F,
                "type",
                format!("one of {}", DICT_TYPES.join(", ")),
                other,
            ))
        }
    };
    let reader = Reader::with_budget(&[], 0, false, F, usize::MAX);
    let ctx = Ctx { reader: &reader };
    if matches!(tag, TAG_VECTOR_CLOCK | TAG_DVV) {
        ctx.json_state(tag, dict)
    } else {
        ctx.binary_state(tag, &crate::state::Datum::from_json(dict))
    }
}

/// [`encode`], with the payload zlib-compressed when that makes the frame smaller (as the
/// Python library's `serialize(compress=True)`); otherwise the canonical frame.
pub fn encode_compressed(state: &AnyState) -> Vec<u8> {
    use std::io::Write;
    let plain = encode(state);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    if z.write_all(&plain[HEADER_LEN..]).is_err() {
        return plain;
    }
    match z.finish() {
        Ok(packed) if packed.len() < plain.len() - HEADER_LEN => {
            let mut f = frame(plain[6], &packed);
            f[7] = FLAG_ZLIB;
            f
        }
        _ => plain,
    }
}

/// `crdt_typeof`: the type name of an encoded state (the whole frame is validated).
pub fn typeof_bytes(b: &[u8]) -> Result<&'static str> {
    Ok(decode_as(b, "crdt_typeof")?.type_name())
}

/// `crdt_to_json`: the decoded state as canonical JSON text (sorted keys, no whitespace).
pub fn to_json_bytes(b: &[u8]) -> Result<String> {
    Ok(decode_as(b, "crdt_to_json")?.to_json().to_string())
}

/// `crdt_counter_value`: the value of a G-Counter or PN-Counter as a BIGINT.
///
/// # Errors
/// A decode error, a type mismatch for other states, or [`ErrorKind::Overflow`] when the value
/// does not fit in an i64.
pub fn counter_value(b: &[u8]) -> Result<i64> {
    const F: &str = "crdt_counter_value";
    let v: i128 = match decode_as(b, F)? {
        AnyState::GCounter(g) => i128::try_from(g.value()).unwrap_or(i128::MAX),
        AnyState::PNCounter(p) => p.value(),
        other => {
            return Err(Error::type_mismatch(
                F,
                "state",
                "g_counter or pn_counter",
                other.type_name(),
            ))
        }
    };
    i64::try_from(v).map_err(|_| {
        Error::new(
            F,
            ErrorKind::Overflow(format!("counter value {v} does not fit in a BIGINT")),
        )
    })
}

/// Encodes states as a batch: u32 count, then per state a u32 size and its frame.
pub fn encode_batch(states: &[AnyState]) -> Vec<u8> {
    let mut out = Vec::new();
    let count = u32::try_from(states.len()).expect("batch of more than 2^32 states");
    out.extend_from_slice(&count.to_be_bytes());
    for s in states {
        let frame = encode(s);
        let size = u32::try_from(frame.len()).expect("wire frame exceeds 4 GiB");
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

/// Decodes a batch written by [`encode_batch`] (or the Python library's `serialize_batch`);
/// error offsets are from the start of the batch, and bytes after the last frame are rejected.
/// `opts` applies to each frame.
pub fn decode_batch(bytes: &[u8], opts: &DecodeOptions) -> Result<Vec<AnyState>> {
    let err = |at: usize, reason: String| Error::decode(DECODE, at, reason);
    let word = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = word(0).ok_or_else(|| {
        err(
            bytes.len(),
            "truncated: a batch starts with a u32 count".into(),
        )
    })?;
    // Every frame takes at least its size word and a header.
    let min_frame = 4 + HEADER_LEN;
    if count.saturating_mul(min_frame) > bytes.len() - 4 {
        return Err(err(
            0,
            format!(
                "batch declares {count} frames but has only {} bytes",
                bytes.len() - 4
            ),
        ));
    }
    let mut out = Vec::with_capacity(count);
    let mut pos = 4;
    for i in 0..count {
        let size =
            word(pos).ok_or_else(|| err(pos, format!("truncated: frame {i} has no size")))?;
        let start = pos + 4;
        let frame = bytes
            .get(start..start.saturating_add(size))
            .ok_or_else(|| {
                err(
                    pos,
                    format!(
                        "truncated: frame {i} declares {size} bytes, {} follow",
                        bytes.len() - start
                    ),
                )
            })?;
        let state = decode_frame(frame, opts, DECODE).map_err(|mut e| {
            if let ErrorKind::Decode { offset, reason } = &mut e.kind {
                *offset += start;
                *reason = format!("frame {i}: {reason}");
            }
            e
        })?;
        out.push(state);
        pos = start + size;
    }
    if pos < bytes.len() {
        return Err(err(
            pos,
            format!("{} trailing bytes after the batch", bytes.len() - pos),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
