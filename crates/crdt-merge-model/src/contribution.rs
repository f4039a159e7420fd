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
    let _ = model;
    todo!("io work")
}

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
