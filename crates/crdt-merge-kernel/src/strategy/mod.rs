//! Merge strategies, in two forms: grouped accumulators ([`Aggregate`]) and pairwise joins
//! ([`pairwise`]). Both are defined by one cell order per strategy, so they agree by construction.

mod aggregate;
mod bridge;
mod columnar;
mod fixed;
mod kind;
pub mod pairwise;
mod sketch_agg;
mod slim;

pub use aggregate::{
    Aggregate, AggregateKind, Cell, Grouped, PerRow, SetState, Single, State, StatesByRow,
    DEFAULT_CONCAT_SEP, STATE_FORMAT_VERSION,
};
pub(crate) use bridge::{counter_value, merge_state_bytes, state_to_json, state_type_name};
pub use columnar::Columnar;
pub use fixed::{FixedCell, FixedStatesByRow};
pub use kind::StrategyKind;
pub use sketch_agg::SketchKind;
pub use slim::{Slim, SlimCell, SlimClock};
