//! # crdt-merge kernel
//!
//! Conflict-free merging over Arrow arrays. Every merge function here is the join (⊔) of a
//! join-semilattice, so results do not depend on the order, grouping or repetition of inputs:
//! `a ⊔ b = b ⊔ a`, `(a ⊔ b) ⊔ c = a ⊔ (b ⊔ c)`, `a ⊔ a = a`.
//!
//! The kernel knows no query engine. Hosts (DuckDB, DataFusion, Postgres, Polars) convert their
//! values to Arrow arrays, call one kernel entry point and convert back:
//!
//! * [`strategy`] — the merge strategies (LWW, Max, Priority, Union, counters, ...), each as a
//!   grouped [`strategy::Aggregate`] (per-group state with update, combine, serialise, finish)
//!   and as a pairwise join of two arrays ([`strategy::pairwise`]);
//! * [`order`] — the canonical value order every tie-break ends in;
//! * [`catalogue`] — the SQL function surface every host registers by iterating it;
//! * [`hlc`] — hybrid logical clocks packed into a BIGINT;
//! * [`state`] and [`wire`] — replicated state types and their byte format;
//! * [`sketch`] — mergeable sketches (HLL, Theta, Bloom, Count-Min, MinHash);
//! * [`digest`] — row ids and order-free table digests (negentropy fingerprints);
//! * [`json_merge`] — the lawful deep merge of JSON documents;
//! * [`mergeql`] — the MergeQL language;
//! * [`error`] — the one error type.

pub mod catalogue;
pub mod delta;
pub mod digest;
pub mod error;
pub mod hlc;
pub mod json_merge;
pub mod mergeql;
pub mod order;
pub mod schema_map;
pub mod sketch;
pub mod sort_key;
pub mod state;
pub mod strategy;
pub mod table;
pub mod value;
pub mod wire;

pub use error::{Error, ErrorKind, Result};
pub use value::Value;

// The examples of docs/kernel.md run as doctests.
#[doc = include_str!("../../../docs/kernel.md")]
#[cfg(doctest)]
pub struct KernelDocs;

/// Version of this kernel, reported by `crdt_version()` in every host.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
