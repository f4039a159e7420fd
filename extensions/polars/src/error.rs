//! Kernel errors and panics as Polars errors.
//!
//! Polars raises a `ComputeError` in Python with our message; the kernel's message already names
//! the function and argument, so it is passed through with the Python-facing name in front. A
//! panic inside the kernel would reach Python as a bare "PANIC" (pyo3-polars catches it but
//! drops the payload), so every kernel call runs under [`guard`], which keeps the message.

use std::panic::{catch_unwind, AssertUnwindSafe};

use polars::prelude::*;

/// A kernel error as a Polars error, prefixed with the Python function `function`.
pub fn kernel_err(function: &str, e: crdt_merge_kernel::Error) -> PolarsError {
    // The kernel names its SQL function (`crdt_lww`); the Python name replaces it. Other names
    // (`strategies["score"]`, `mergeql`) say which argument failed and are kept.
    let what = if e.function.starts_with("crdt_") {
        e.kind.to_string()
    } else {
        e.to_string()
    };
    if e.is_caller_error() {
        polars_err!(ComputeError: "polars_crdt.{}: {}", function, what)
    } else {
        polars_err!(ComputeError: "polars_crdt.{}: {} (a bug in crdt-merge; please report it)", function, what)
    }
}

/// Runs `f`, turning a panic into an error naming `function`.
pub fn guard<T>(function: &str, f: impl FnOnce() -> PolarsResult<T>) -> PolarsResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(
                polars_err!(ComputeError: "polars_crdt.{}: internal error (a bug in crdt-merge; please report it): {}", function, msg),
            )
        }
    }
}
