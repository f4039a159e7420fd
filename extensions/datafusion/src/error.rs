//! Kernel errors as DataFusion errors.
//!
//! Caller errors (bad argument, type mismatch, undecodable bytes, unknown strategy, MergeQL
//! syntax) become [`DataFusionError::Execution`] when raised while running and
//! [`DataFusionError::Plan`] when raised while planning; a kernel bug becomes
//! [`DataFusionError::Internal`]. The kernel's message is kept verbatim (it starts with the SQL
//! function name and names the argument), so the same error substrings hold in every engine.

use crdt_merge_kernel::{Error, ErrorKind};
use datafusion::error::DataFusionError;

/// Maps a kernel error raised while executing.
pub fn exec_error(e: Error) -> DataFusionError {
    match e.kind {
        ErrorKind::Internal(_) => DataFusionError::Internal(e.to_string()),
        _ => DataFusionError::Execution(e.to_string()),
    }
}

/// Maps a kernel error raised while planning (signature checks, MergeQL parsing and rendering).
pub fn plan_error(e: Error) -> DataFusionError {
    match e.kind {
        ErrorKind::Internal(_) => DataFusionError::Internal(e.to_string()),
        _ => DataFusionError::Plan(e.to_string()),
    }
}
