//! Row ids and order-free table digests: the integrity half of sync.
//!
//! * [`canonical`]: the bytes of a value, the same in every engine;
//! * [`row_id`]: `crdt_row_id` / `crdt_content_id`, blake3 over a row's canonical bytes;
//! * [`fingerprint`]: negentropy v1's fingerprint (sum mod 2^256 and count, hashed), the
//!   state of `crdt_fingerprint_agg` and `crdt_table_digest`;
//! * [`sql`]: the catalogue's digest scalars and aggregates.
//!
//! A table digest is a fingerprint of row ids, so it does not depend on row order, column
//! order, partitioning or the engine, and two tables have equal digests exactly when they hold
//! the same rows (up to a 2^-128 collision).

pub mod canonical;
pub mod fingerprint;
pub mod row_id;
pub mod sql;

pub use fingerprint::Fingerprint;
pub use row_id::RowIds;
pub use sql::DigestKind;
