//! # crdt-merge-e4
//!
//! E4 trust for crdt-merge: signatures (Ed25519 under ZIP 215, ML-DSA-44/65/87, an
//! Ed25519 + ML-DSA-65 hybrid), a PKI of admin-signed key events, signed deltas in the v1
//! header format of `docs/trust.md`, and self-verifying evidence. No HMAC or "any 64 bytes"
//! fallback exists anywhere: a missing key means reject.
//!
//! [`state::TrustState`] holds the PKI, the signed deltas and claims as grow-only sets and
//! derives evidence and trust from them; [`gate`] merges only what it admits.

pub mod codec;
pub mod delta;
pub mod error;
pub mod evidence;
pub mod gate;
pub mod hash;
pub mod keyfile;
mod par;
pub mod pki;
pub mod policy;
pub mod sig;
pub mod simulate;
pub mod sql;
pub mod state;
pub mod table;
pub mod wire;

pub use delta::{DeltaHeader, DeltaId, Kind, RoundParams, Rule, SignedDelta, SignedHeader};
pub use error::{Result, TrustError};
pub use evidence::{Evidence, EvidenceClass, SignedClaim, StateClaim};
pub use hash::Context;
pub use pki::{Genesis, KeyEventBody, Pki, RegisterLevel, SignedKeyEvent};
pub use policy::{Dimension, Mode, TrustLevel, TrustPolicy, TrustVector};
pub use sig::{Alg, KeyId, PublicKey, SignKind, SigningKey};
pub use state::{Admission, Inserted, TrustState};
