//! Kernel errors → Postgres errors.
//!
//! Caller errors (bad arguments, types, bytes) are `ERROR` with SQLSTATE 22023
//! (`invalid_parameter_value`); kernel bugs are `XX000` (`internal_error`). The message is the
//! kernel's, which starts with the function name and names the argument and what it expected.
//! Raising unwinds to the `#[pg_guard]` boundary, which turns it into a Postgres `ereport`.

use arrow_schema::DataType;
use crdt_merge_kernel::{Error, ErrorKind};
use pgrx::prelude::*;

/// Postgres's name for the type a kernel error reports (users read `text`, not Arrow's `Utf8`).
fn pg_name(dt: &DataType) -> String {
    match dt {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::Int16 => "smallint".into(),
        DataType::Int32 => "integer".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal128(_, _) => "numeric".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp without time zone".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::List(f) | DataType::LargeList(f) => format!("{}[]", pg_name(f.data_type())),
        DataType::Struct(_) => "record".into(),
        other => other.to_string(),
    }
}

/// Raises `e` as a Postgres ERROR.
pub fn raise(e: &Error) -> ! {
    let code = if matches!(e.kind, ErrorKind::Internal(_)) {
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR
    } else {
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
    };
    ereport!(ERROR, code, e.clone().with_type_names(pg_name).to_string());
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
