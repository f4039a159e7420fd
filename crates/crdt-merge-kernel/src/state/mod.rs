//! Replicated state types: counters, registers, the OR-Set, the LWW-Map and clocks.
//!
//! Every type is a join-semilattice: `join` is commutative, associative and idempotent, and each
//! type's `new()` is its bottom. Maps and sets are `BTreeMap`/`BTreeSet`s so that iteration, JSON
//! and wire bytes come out in one canonical order: equal states give identical bytes
//! ([`crate::wire::encode`]).
//!
//! | type | [`AnyState::type_name`] | join |
//! |---|---|---|
//! | [`GCounter`] | `g_counter` | per-replica max |
//! | [`PNCounter`] | `pn_counter` | two G-Counters |
//! | [`LwwRegister`] | `lww_register` | greatest (timestamp, node id, value) |
//! | [`OrSet`] | `or_set` | union of tags minus union of tombstones |
//! | [`LwwMap`] | `lww_map` | registers per key, latest delete per key |
//! | [`VectorClock`] | `vector_clock` | element-wise max |
//! | [`DottedVersionVector`] | `dotted_version_vector` | fold dots into max of bases |
//! | [`GossipState`] | `gossip_state` | per key, a multi-value register's dot-store join |
//! | [`AgentState`] | `agent_state` | facts, tags, counters and a bounded message set, part by part |
//!
//! The names are those of the Python library crdt-merge, whose wire format we share.

mod agent;
mod clock;
mod counter;
mod datum;
mod gossip;
mod lwwmap;
mod orset;
mod register;

pub use agent::{message_id, AgentState, Fact, Message};
pub use clock::{ClockOrdering, DottedVersionVector, VectorClock};
pub use counter::{GCounter, PNCounter};
pub use datum::{Datum, Timestamp};
pub use gossip::{anti_entropy, Difference, Dot, GossipState, MvRegister, Sibling};
pub use lwwmap::LwwMap;
pub use orset::OrSet;
pub use register::LwwRegister;

use serde_json::Value as Json;

use crate::sketch::Sketch;

use crate::error::{Error, Result};

/// Any state type, as carried by the wire format.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyState {
    /// Grow-only counter.
    GCounter(GCounter),
    /// Positive-negative counter.
    PNCounter(PNCounter),
    /// Last-writer-wins register.
    LwwRegister(LwwRegister),
    /// Observed-remove set.
    OrSet(OrSet),
    /// Last-writer-wins map.
    LwwMap(LwwMap),
    /// Vector clock.
    VectorClock(VectorClock),
    /// Dotted version vector.
    DottedVersionVector(DottedVersionVector),
    /// A mergeable sketch (HLL, Bloom, Count-Min, MinHash, Theta).
    Sketch(Sketch),
    /// A gossip store of multi-value registers.
    Gossip(GossipState),
    /// An agent's memory.
    Agent(AgentState),
}

impl AnyState {
    /// The join of two states of the same type.
    ///
    /// # Errors
    /// A type mismatch (attributed to `crdt_state_merge`) when the types differ.
    pub fn join(&self, other: &AnyState) -> Result<AnyState> {
        let mut out = self.clone();
        match (&mut out, other) {
            (AnyState::GCounter(a), AnyState::GCounter(b)) => a.join(b),
            (AnyState::PNCounter(a), AnyState::PNCounter(b)) => a.join(b),
            (AnyState::LwwRegister(a), AnyState::LwwRegister(b)) => a.join(b),
            (AnyState::OrSet(a), AnyState::OrSet(b)) => a.join(b),
            (AnyState::LwwMap(a), AnyState::LwwMap(b)) => a.join(b),
            (AnyState::VectorClock(a), AnyState::VectorClock(b)) => a.join(b),
            (AnyState::DottedVersionVector(a), AnyState::DottedVersionVector(b)) => a.join(b),
            (AnyState::Sketch(a), AnyState::Sketch(b)) => a.join(b, "crdt_state_merge")?,
            (AnyState::Gossip(a), AnyState::Gossip(b)) => a.join(b),
            (AnyState::Agent(a), AnyState::Agent(b)) => a.join(b),
            _ => {
                return Err(Error::type_mismatch(
                    "crdt_state_merge",
                    "state",
                    format!("a {} state (the type of the first state)", self.type_name()),
                    other.type_name(),
                ))
            }
        }
        Ok(out)
    }

    /// The type's name, as the Python library spells it (`g_counter`, `pn_counter`,
    /// `lww_register`, `or_set`, `lww_map`, `vector_clock`, `dotted_version_vector`).
    pub fn type_name(&self) -> &'static str {
        match self {
            AnyState::GCounter(_) => "g_counter",
            AnyState::PNCounter(_) => "pn_counter",
            AnyState::LwwRegister(_) => "lww_register",
            AnyState::OrSet(_) => "or_set",
            AnyState::LwwMap(_) => "lww_map",
            AnyState::VectorClock(_) => "vector_clock",
            AnyState::DottedVersionVector(_) => "dotted_version_vector",
            AnyState::Sketch(s) => s.type_name(),
            AnyState::Gossip(_) => "gossip_state",
            AnyState::Agent(_) => "agent_state",
        }
    }

    /// The state as JSON (keys sorted; each type's `to_json` documents its shape).
    pub fn to_json(&self) -> Json {
        match self {
            AnyState::GCounter(s) => s.to_json(),
            AnyState::PNCounter(s) => s.to_json(),
            AnyState::LwwRegister(s) => s.to_json(),
            AnyState::OrSet(s) => s.to_json(),
            AnyState::LwwMap(s) => s.to_json(),
            AnyState::VectorClock(s) => s.to_json(),
            AnyState::DottedVersionVector(s) => s.to_json(),
            AnyState::Sketch(s) => s.to_json(),
            AnyState::Gossip(s) => s.to_json(),
            AnyState::Agent(s) => s.to_json(),
        }
    }
}

macro_rules! from_state {
    ($($t:ident),*) => {$(
        impl From<$t> for AnyState {
            fn from(s: $t) -> Self {
                AnyState::$t(s)
            }
        }
    )*};
}
from_state!(
    GCounter,
    PNCounter,
    LwwRegister,
    OrSet,
    LwwMap,
    VectorClock,
    DottedVersionVector,
    Sketch
);

impl From<AgentState> for AnyState {
    fn from(s: AgentState) -> Self {
        AnyState::Agent(s)
    }
}

impl From<GossipState> for AnyState {
    fn from(s: GossipState) -> Self {
        AnyState::Gossip(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn join_of_different_types_is_a_caller_error() {
        let a = AnyState::from(GCounter::new());
        let b = AnyState::from(PNCounter::new());
        let e = a.join(&b).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::TypeMismatch { .. }));
        assert!(e.to_string().contains("pn_counter"), "{e}");
        assert_eq!(a.join(&a).unwrap(), a);
    }
}
