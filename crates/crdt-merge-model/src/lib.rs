//! # crdt-merge-model
//!
//! Model merging with correct maths, in bounded memory, with one answer whatever the order:
//!
//! - [`merge::merge_models`] merges safetensors models (single files or sharded directories) with
//!   any strategy of [`strategy::registry`]: mergekit 0.1.5's methods under mergekit's names, the
//!   Python crdt-merge's strategies with their maths fixed, and `upstream_*` names that reproduce
//!   crdt-merge 0.11.0 for parity;
//! - [`state`] holds `MergeState`, an OR-Set of contributions whose merge is set union and whose
//!   resolve is a pure function of the set (bit-identical tensors in any order or grouping);
//! - [`philox`] gives the order-free random masks (a mask depends on its contribution, tensor,
//!   seed and purpose only);
//! - [`io`] reads and writes safetensors with positioned reads and a deterministic header.
//!
//! Every value is computed in f64 in a fixed order (sorted contribution id, fixed reduction
//! blocks) and rounded once to the output dtype.

pub mod config;
pub mod contribution;
pub mod dtype;
pub mod error;
pub mod io;
pub mod lora;
pub mod merge;
pub mod params;
pub mod philox;
pub mod reduce;
pub mod robust;
pub mod schema;
pub mod state;
pub mod strategy;

pub use contribution::{contribution_id, ContributionId};
pub use dtype::DType;
pub use error::{ModelError, Result};
pub use merge::{merge_models, MergeRequest, ModelSpec};
