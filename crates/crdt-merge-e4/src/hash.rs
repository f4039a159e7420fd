//! Identifiers and Merkle roots. Every identifier is a blake3 `derive_key` with its own context
//! string (listed in `docs/wire-format.md`), so no two kinds of identifier can collide.

use std::fmt;

use crate::codec::hex;
use crate::error::{Result, TrustError};

/// `derive_key` contexts. Changing one changes every identifier of that kind.
pub mod contexts {
    /// Key ids: over `alg ‖ public key bytes`.
    pub const KEY_ID: &str = "crdt-merge e4 keyid v1";
    /// Signing contexts: over the context string's UTF-8 bytes.
    pub const CONTEXT: &str = "crdt-merge e4 context v1";
    /// Delta ids: over the encoded header (never the signature).
    pub const DELTA_ID: &str = "crdt-merge e4 delta v1";
    /// Table payload hash: over the canonical table payload bytes.
    pub const TABLE_PAYLOAD: &str = "crdt-merge e4 table payload v1";
    /// Table schema hash: over the payload's column section.
    pub const TABLE_SCHEMA: &str = "crdt-merge e4 table schema v1";
    /// Key event ids: over the event body (never the admin signatures).
    pub const KEY_EVENT_ID: &str = "crdt-merge e4 key event v1";
    /// Evidence ids: over the canonical evidence bytes.
    pub const EVIDENCE_ID: &str = "crdt-merge e4 evidence v1";
    /// State claim ids: over the claim body.
    pub const CLAIM_ID: &str = "crdt-merge e4 claim v1";
    /// Policy hash: over the encoded policy.
    pub const POLICY: &str = "crdt-merge e4 policy v1";
    /// Trust state root.
    pub const STATE_ROOT: &str = "crdt-merge e4 state root v1";
    /// Gate receipts: admitted-set roots and result hashes.
    pub const RECEIPT: &str = "crdt-merge e4 receipt v1";
    /// Merkle leaves and nodes (prefixed 0x00 / 0x01 as in RFC 6962).
    pub const MERKLE: &str = "crdt-merge e4 merkle v1";
}

/// A signing context: 32 bytes derived from a context string (dataset, table or study plus a
/// run id). Never zero: [`Context::new`] refuses an empty string, and a zero context decodes as
/// an error.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Context(pub [u8; 32]);

impl Context {
    /// `derive_key("crdt-merge e4 context v1", name)`.
    ///
    /// # Errors
    /// An empty name (the acfa `NO_CONTEXT` trap: a default context makes unrelated studies
    /// comparable, and two honest deltas in two studies would look like an equivocation).
    pub fn new(name: &str) -> Result<Self> {
        if name.is_empty() {
            return Err(TrustError::Invalid(
                "the context string is empty; name the dataset/table/study and run".into(),
            ));
        }
        Ok(Context(blake3::derive_key(
            contexts::CONTEXT,
            name.as_bytes(),
        )))
    }

    /// Hex of the 32 bytes.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Context({})", &self.hex()[..16])
    }
}

/// Merkle root over leaves given in their canonical (sorted) order: leaf = H(0x00 ‖ leaf),
/// node = H(0x01 ‖ left ‖ right), an odd node is promoted, not duplicated (no CVE-2012-2459
/// ambiguity). The empty tree's root is H(0x02).
pub fn merkle_root<'a>(leaves: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut level: Vec<[u8; 32]> = leaves
        .into_iter()
        .map(|leaf| {
            let mut h = blake3::Hasher::new_derive_key(contexts::MERKLE);
            h.update(&[0]);
            h.update(leaf);
            *h.finalize().as_bytes()
        })
        .collect();
    if level.is_empty() {
        return blake3::derive_key(contexts::MERKLE, &[2]);
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => {
                    let mut h = blake3::Hasher::new_derive_key(contexts::MERKLE);
                    h.update(&[1]);
                    h.update(l);
                    h.update(r);
                    *h.finalize().as_bytes()
                }
                [one] => *one,
                _ => unreachable!("chunks(2)"),
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_is_never_zero_and_rejects_empty() {
        assert!(Context::new("").is_err());
        assert_ne!(Context::new("a").unwrap().0, [0u8; 32]);
        assert_ne!(Context::new("a").unwrap(), Context::new("b").unwrap());
    }

    #[test]
    fn merkle_promotes_odd_nodes() {
        let a: &[u8] = b"a";
        let b: &[u8] = b"b";
        let c: &[u8] = b"c";
        assert_ne!(merkle_root([a, b, c]), merkle_root([a, b, c, c]));
        assert_ne!(merkle_root([a]), merkle_root([]));
        assert_eq!(merkle_root([a, b]), merkle_root([a, b]));
    }
}
