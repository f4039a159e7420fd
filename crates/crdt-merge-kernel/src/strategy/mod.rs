//! Merge strategies.

mod kind;
pub use kind::StrategyKind;
