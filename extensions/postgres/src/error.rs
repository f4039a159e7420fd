//! Kernel errors → Postgres errors.
//!
//! Caller errors (bad arguments, types, bytes) are `ERROR` with SQLSTATE 22023
//! (`invalid_parameter_value`); kernel bugs are `XX000` (`internal_error`). The message is the
//! kernel's, which starts with the function name and names the argument and what it expected.
//! Raising unwinds to the `#[pg_guard]` boundary, which turns it into a Postgres `ereport`.

use crdt_merge_kernel::{Error, ErrorKind};
use pgrx::prelude::*;

/// Raises `e` as a Postgres ERROR.
pub fn raise(e: &Error) -> ! {
    let code = if matches!(e.kind, ErrorKind::Internal(_)) {
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR
    } else {
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
    };
    ereport!(ERROR, code, e.to_string());
}

/// Raises an `invalid_parameter_value` ERROR with `message`.
pub fn invalid(message: String) -> ! {
    ereport!(
        ERROR,
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        message
    );
}

/// Unwraps a kernel result or raises its error.
pub trait OrRaise<T> {
    /// The value, or a Postgres ERROR.
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for crdt_merge_kernel::Result<T> {
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => raise(&e),
        }
    }
}
