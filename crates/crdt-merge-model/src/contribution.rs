//! The content id of a contribution: one definition, used by the state (OR-Set element), the
//! masks (Philox keys), the output metadata and the E4 signatures.

use crate::error::Result;
use crate::io::ModelFiles;

/// A contribution's content id (blake3, 32 bytes).
pub type ContributionId = [u8; 32];

/// The content id of a model: `blake3::derive_key("crdt-merge-model v1 contribution", ...)` over
/// every tensor sorted by name, each as len(name) u64 LE ‖ name ‖ len(dtype) u64 LE ‖ dtype
/// (safetensors spelling) ‖ ndim u64 LE ‖ dims u64 LE ‖ len(bytes) u64 LE ‖ little-endian bytes.
pub fn contribution_id(model: &ModelFiles) -> Result<ContributionId> {
    let mut h = blake3::Hasher::new_derive_key(CONTEXT);
    let mut buf = Vec::new();
    // `tensors()` is a BTreeMap: byte-wise name order, which is also Python's str order.
    for (name, t) in model.tensors() {
        let dtype = t.dtype.safetensors_name();
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(&(dtype.len() as u64).to_le_bytes());
        h.update(dtype.as_bytes());
        h.update(&(t.shape.len() as u64).to_le_bytes());
        for &d in &t.shape {
            h.update(&(d as u64).to_le_bytes());
        }
        h.update(&t.len.to_le_bytes());
        // Streamed: at most CHUNK bytes in memory whatever the tensor size.
        let per_read = (CHUNK / t.dtype.size()).max(1);
        let numel = t.numel();
        let mut at = 0;
        while at < numel {
            let count = per_read.min(numel - at);
            buf.clear();
            model.read_raw(name, at, count, &mut buf)?;
            h.update(&buf);
            at += count;
        }
    }
    Ok(*h.finalize().as_bytes())
}

/// The `derive_key` context string (part of the id's definition).
pub const CONTEXT: &str = "crdt-merge-model v1 contribution";

/// Largest read while hashing.
const CHUNK: usize = 8 << 20;

/// Lower-case hex of an id.
pub fn hex(id: &ContributionId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hex characters.
pub fn parse_hex(text: &str) -> Option<ContributionId> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut id = [0u8; 32];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(id)
}
