//! DuckDB logical types ⇄ Arrow data types.
//!
//! | DuckDB | Arrow |
//! |---|---|
//! | BOOLEAN | Boolean |
//! | TINYINT, SMALLINT, INTEGER, BIGINT | Int8, Int16, Int32, Int64 |
//! | UTINYINT, USMALLINT, UINTEGER, UBIGINT | UInt8, UInt16, UInt32, UInt64 |
//! | FLOAT, DOUBLE | Float32, Float64 |
//! | HUGEINT | Decimal128(38, 0) (the same 128-bit integers; registered as HUGEINT) |
//! | UHUGEINT | Decimal128(38, 0) below 2^127 (an error above); registered through [`UHUGEINT`] |
//! | DECIMAL(w, s) | Decimal128(w, s) |
//! | VARCHAR, BLOB | Utf8, Binary |
//! | DATE | Date32 |
//! | TIMESTAMP_S, TIMESTAMP_MS, TIMESTAMP, TIMESTAMP_NS | Timestamp(s / ms / µs / ns, no zone) |
//! | TIMESTAMPTZ | Timestamp(µs, "UTC") |
//! | T[] (LIST) | List(T) |
//! | STRUCT(a A, ...) | Struct(a: A, ...) |
//! | NULL literal (SQLNULL) | Null |
//!
//! Read only, as arguments of `ANY` parameters (replicas, clocks, the pick and key functions of
//! the table merge), in a form with DuckDB's order, since no overload returns them:
//!
//! | DuckDB | read as |
//! |---|---|
//! | TIME | Int64 (microseconds since midnight) |
//! | UUID | Decimal128(38, 0) (DuckDB's 128-bit form, which orders as the UUID's bytes) |
//! | ENUM | UInt8 / UInt16 / UInt32 (the position in the enum's declaration) |
//! | INTERVAL | Struct(total: Decimal128(38, 0) µs with 30-day months, months, days, micros) |
//! | MAP(K, V) | List(Struct(key: K, value: V)) (entries in stored order) |
//! | T[n] (ARRAY) | List(T) |
//!
//! Every other DuckDB type is refused with an error naming it.

use std::ffi::{CStr, CString};
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, IntervalUnit, TimeUnit};
use libduckdb_sys as ffi;

/// The Arrow type HUGEINT travels as: DuckDB stores both as 128-bit integers, so values pass
/// unchanged (without an overload of its own, DuckDB would cast HUGEINT to DOUBLE and lose
/// digits). DECIMAL(38,0) maps to it too; its values are the same integers.
pub const HUGEINT: DataType = DataType::Decimal128(38, 0);

/// Stands for DuckDB's UHUGEINT in overload plans only (no Arrow type holds 128-bit unsigned
/// integers): parameters and results registered with it are UHUGEINT in DuckDB, and the kernel
/// sees [`HUGEINT`] ([`kernel_type`]); values from 2^127 up are refused when read.
pub const UHUGEINT: DataType = DataType::FixedSizeBinary(16);

/// The type the kernel computes with for a planned type: [`UHUGEINT`] (also as a list item) is
/// [`HUGEINT`]; every other type is itself.
pub fn kernel_type(dt: &DataType) -> DataType {
    match dt {
        t if *t == UHUGEINT => HUGEINT,
        DataType::List(f) if *f.data_type() == UHUGEINT => {
            DataType::List(Arc::new(Field::new(f.name(), HUGEINT, f.is_nullable())))
        }
        other => other.clone(),
    }
}

/// Time zone Arrow carries for DuckDB's TIMESTAMPTZ (instants in UTC microseconds).
pub const UTC: &str = "UTC";

/// An owned DuckDB logical type, destroyed on drop.
pub struct LogicalType(pub ffi::duckdb_logical_type);

impl Drop for LogicalType {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the handle was created by DuckDB, is owned by this wrapper and destroyed once.
            unsafe { ffi::duckdb_destroy_logical_type(&mut self.0) };
        }
    }
}

/// DuckDB's SQL name for a type id (for error messages).
pub fn type_id_name(id: ffi::DUCKDB_TYPE) -> &'static str {
    use ffi::*;
    match id {
        DUCKDB_TYPE_DUCKDB_TYPE_BOOLEAN => "BOOLEAN",
        DUCKDB_TYPE_DUCKDB_TYPE_TINYINT => "TINYINT",
        DUCKDB_TYPE_DUCKDB_TYPE_SMALLINT => "SMALLINT",
        DUCKDB_TYPE_DUCKDB_TYPE_INTEGER => "INTEGER",
        DUCKDB_TYPE_DUCKDB_TYPE_BIGINT => "BIGINT",
        DUCKDB_TYPE_DUCKDB_TYPE_UTINYINT => "UTINYINT",
        DUCKDB_TYPE_DUCKDB_TYPE_USMALLINT => "USMALLINT",
        DUCKDB_TYPE_DUCKDB_TYPE_UINTEGER => "UINTEGER",
        DUCKDB_TYPE_DUCKDB_TYPE_UBIGINT => "UBIGINT",
        DUCKDB_TYPE_DUCKDB_TYPE_FLOAT => "FLOAT",
        DUCKDB_TYPE_DUCKDB_TYPE_DOUBLE => "DOUBLE",
        DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP => "TIMESTAMP",
        DUCKDB_TYPE_DUCKDB_TYPE_DATE => "DATE",
        DUCKDB_TYPE_DUCKDB_TYPE_TIME => "TIME",
        DUCKDB_TYPE_DUCKDB_TYPE_INTERVAL => "INTERVAL",
        DUCKDB_TYPE_DUCKDB_TYPE_HUGEINT => "HUGEINT",
        DUCKDB_TYPE_DUCKDB_TYPE_UHUGEINT => "UHUGEINT",
        DUCKDB_TYPE_DUCKDB_TYPE_VARCHAR => "VARCHAR",
        DUCKDB_TYPE_DUCKDB_TYPE_BLOB => "BLOB",
        DUCKDB_TYPE_DUCKDB_TYPE_DECIMAL => "DECIMAL",
        DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_S => "TIMESTAMP_S",
        DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_MS => "TIMESTAMP_MS",
        DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_NS => "TIMESTAMP_NS",
        DUCKDB_TYPE_DUCKDB_TYPE_ENUM => "ENUM",
        DUCKDB_TYPE_DUCKDB_TYPE_LIST => "LIST",
        DUCKDB_TYPE_DUCKDB_TYPE_STRUCT => "STRUCT",
        DUCKDB_TYPE_DUCKDB_TYPE_MAP => "MAP",
        DUCKDB_TYPE_DUCKDB_TYPE_ARRAY => "ARRAY",
        DUCKDB_TYPE_DUCKDB_TYPE_UUID => "UUID",
        DUCKDB_TYPE_DUCKDB_TYPE_UNION => "UNION",
        DUCKDB_TYPE_DUCKDB_TYPE_BIT => "BIT",
        DUCKDB_TYPE_DUCKDB_TYPE_TIME_TZ => "TIMETZ",
        DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_TZ => "TIMESTAMPTZ",
        DUCKDB_TYPE_DUCKDB_TYPE_SQLNULL => "NULL",
        DUCKDB_TYPE_DUCKDB_TYPE_BIGNUM => "VARINT (BIGNUM)",
        _ => "an unsupported DuckDB type",
    }
}

/// Reads a DuckDB logical type as an Arrow type.
///
/// # Errors
/// A DuckDB type the kernel has no Arrow counterpart for (UUID, INTERVAL, MAP, ...).
///
/// # Safety
/// `lt` must be a live logical type handle.
pub unsafe fn to_arrow(lt: ffi::duckdb_logical_type) -> Result<DataType, String> {
    use ffi::*;
    // SAFETY (whole function): `lt` is live per the contract; child handles are owned by
    // `LogicalType` wrappers and names are freed with duckdb_free.
    let id = duckdb_get_type_id(lt);
    Ok(match id {
        DUCKDB_TYPE_DUCKDB_TYPE_BOOLEAN => DataType::Boolean,
        DUCKDB_TYPE_DUCKDB_TYPE_TINYINT => DataType::Int8,
        DUCKDB_TYPE_DUCKDB_TYPE_SMALLINT => DataType::Int16,
        DUCKDB_TYPE_DUCKDB_TYPE_INTEGER => DataType::Int32,
        DUCKDB_TYPE_DUCKDB_TYPE_BIGINT => DataType::Int64,
        DUCKDB_TYPE_DUCKDB_TYPE_UTINYINT => DataType::UInt8,
        DUCKDB_TYPE_DUCKDB_TYPE_USMALLINT => DataType::UInt16,
        DUCKDB_TYPE_DUCKDB_TYPE_UINTEGER => DataType::UInt32,
        DUCKDB_TYPE_DUCKDB_TYPE_UBIGINT => DataType::UInt64,
        DUCKDB_TYPE_DUCKDB_TYPE_FLOAT => DataType::Float32,
        DUCKDB_TYPE_DUCKDB_TYPE_DOUBLE => DataType::Float64,
        DUCKDB_TYPE_DUCKDB_TYPE_VARCHAR => DataType::Utf8,
        DUCKDB_TYPE_DUCKDB_TYPE_BLOB => DataType::Binary,
        DUCKDB_TYPE_DUCKDB_TYPE_DATE => DataType::Date32,
        DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_S => DataType::Timestamp(TimeUnit::Second, None),
        DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_MS => DataType::Timestamp(TimeUnit::Millisecond, None),
        DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_NS => DataType::Timestamp(TimeUnit::Nanosecond, None),
        DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_TZ => {
            DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
        }
        DUCKDB_TYPE_DUCKDB_TYPE_SQLNULL => DataType::Null,
        DUCKDB_TYPE_DUCKDB_TYPE_HUGEINT
        | DUCKDB_TYPE_DUCKDB_TYPE_UHUGEINT
        | DUCKDB_TYPE_DUCKDB_TYPE_UUID => HUGEINT,
        DUCKDB_TYPE_DUCKDB_TYPE_TIME => DataType::Int64,
        DUCKDB_TYPE_DUCKDB_TYPE_ENUM => match duckdb_enum_internal_type(lt) {
            DUCKDB_TYPE_DUCKDB_TYPE_UTINYINT => DataType::UInt8,
            DUCKDB_TYPE_DUCKDB_TYPE_USMALLINT => DataType::UInt16,
            _ => DataType::UInt32,
        },
        // Marks INTERVAL for `vector::read`, which returns `interval_struct()`.
        DUCKDB_TYPE_DUCKDB_TYPE_INTERVAL => DataType::Interval(IntervalUnit::MonthDayNano),
        DUCKDB_TYPE_DUCKDB_TYPE_MAP => {
            let key = LogicalType(duckdb_map_type_key_type(lt));
            let value = LogicalType(duckdb_map_type_value_type(lt));
            let entry = DataType::Struct(Fields::from(vec![
                Field::new("key", to_arrow(key.0)?, true),
                Field::new("value", to_arrow(value.0)?, true),
            ]));
            DataType::List(Arc::new(Field::new("item", entry, true)))
        }
        // Marks ARRAY for `vector::read`, which returns a List.
        DUCKDB_TYPE_DUCKDB_TYPE_ARRAY => {
            let child = LogicalType(duckdb_array_type_child_type(lt));
            let size = i32::try_from(duckdb_array_type_array_size(lt))
                .map_err(|_| "ARRAY larger than 2^31 elements".to_string())?;
            DataType::FixedSizeList(Arc::new(Field::new("item", to_arrow(child.0)?, true)), size)
        }
        DUCKDB_TYPE_DUCKDB_TYPE_DECIMAL => {
            DataType::Decimal128(duckdb_decimal_width(lt), duckdb_decimal_scale(lt) as i8)
        }
        DUCKDB_TYPE_DUCKDB_TYPE_LIST => {
            let child = LogicalType(duckdb_list_type_child_type(lt));
            let item = to_arrow(child.0)?;
            DataType::List(Arc::new(Field::new("item", item, true)))
        }
        DUCKDB_TYPE_DUCKDB_TYPE_STRUCT => {
            let n = duckdb_struct_type_child_count(lt);
            let mut fields = Vec::with_capacity(n as usize);
            for i in 0..n {
                let raw = duckdb_struct_type_child_name(lt, i);
                let name = if raw.is_null() {
                    format!("f{i}")
                } else {
                    let s = CStr::from_ptr(raw).to_string_lossy().into_owned();
                    duckdb_free(raw.cast());
                    s
                };
                let child = LogicalType(duckdb_struct_type_child_type(lt, i));
                fields.push(Field::new(name, to_arrow(child.0)?, true));
            }
            DataType::Struct(Fields::from(fields))
        }
        other => return Err(type_id_name(other).to_string()),
    })
}

/// What an INTERVAL is read as: its length in microseconds with DuckDB's 30-day months and
/// 24-hour days (DuckDB's order), then its parts, so that equal lengths written differently
/// (`1 month`, `30 days`) still order the same way every time.
pub fn interval_struct() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("total", HUGEINT, true),
        Field::new("months", DataType::Int32, true),
        Field::new("days", DataType::Int32, true),
        Field::new("micros", DataType::Int64, true),
    ]))
}

/// Creates the DuckDB logical type for an Arrow type (registration and output vectors).
///
/// # Errors
/// An Arrow type with no DuckDB counterpart in the table above.
pub fn from_arrow(dt: &DataType) -> Result<LogicalType, String> {
    use ffi::*;
    let simple = |id: DUCKDB_TYPE| {
        // SAFETY: creating a primitive logical type has no preconditions.
        LogicalType(unsafe { duckdb_create_logical_type(id) })
    };
    Ok(match dt {
        DataType::Boolean => simple(DUCKDB_TYPE_DUCKDB_TYPE_BOOLEAN),
        DataType::Int8 => simple(DUCKDB_TYPE_DUCKDB_TYPE_TINYINT),
        DataType::Int16 => simple(DUCKDB_TYPE_DUCKDB_TYPE_SMALLINT),
        DataType::Int32 => simple(DUCKDB_TYPE_DUCKDB_TYPE_INTEGER),
        DataType::Int64 => simple(DUCKDB_TYPE_DUCKDB_TYPE_BIGINT),
        DataType::UInt8 => simple(DUCKDB_TYPE_DUCKDB_TYPE_UTINYINT),
        DataType::UInt16 => simple(DUCKDB_TYPE_DUCKDB_TYPE_USMALLINT),
        DataType::UInt32 => simple(DUCKDB_TYPE_DUCKDB_TYPE_UINTEGER),
        DataType::UInt64 => simple(DUCKDB_TYPE_DUCKDB_TYPE_UBIGINT),
        DataType::Float32 => simple(DUCKDB_TYPE_DUCKDB_TYPE_FLOAT),
        DataType::Float64 => simple(DUCKDB_TYPE_DUCKDB_TYPE_DOUBLE),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            simple(DUCKDB_TYPE_DUCKDB_TYPE_VARCHAR)
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            simple(DUCKDB_TYPE_DUCKDB_TYPE_BLOB)
        }
        DataType::Date32 => simple(DUCKDB_TYPE_DUCKDB_TYPE_DATE),
        DataType::Timestamp(unit, tz) => match (unit, tz) {
            (TimeUnit::Microsecond, Some(_)) => simple(DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_TZ),
            (TimeUnit::Second, None) => simple(DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_S),
            (TimeUnit::Millisecond, None) => simple(DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_MS),
            (TimeUnit::Microsecond, None) => simple(DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP),
            (TimeUnit::Nanosecond, None) => simple(DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_NS),
            _ => return Err(format!("{dt}")),
        },
        DataType::Null => simple(DUCKDB_TYPE_DUCKDB_TYPE_SQLNULL),
        t if *t == HUGEINT => simple(DUCKDB_TYPE_DUCKDB_TYPE_HUGEINT),
        t if *t == UHUGEINT => simple(DUCKDB_TYPE_DUCKDB_TYPE_UHUGEINT),
        DataType::Decimal128(w, s) if *w <= 38 && *s >= 0 => {
            // SAFETY: width and scale are in DuckDB's range (checked above).
            LogicalType(unsafe { duckdb_create_decimal_type(*w, *s as u8) })
        }
        DataType::List(f) | DataType::LargeList(f) => {
            let child = from_arrow(f.data_type())?;
            // SAFETY: `child` is a live handle; DuckDB copies it.
            LogicalType(unsafe { duckdb_create_list_type(child.0) })
        }
        DataType::Struct(fields) => {
            let children: Vec<LogicalType> = fields
                .iter()
                .map(|f| from_arrow(f.data_type()))
                .collect::<Result<_, _>>()?;
            let names: Vec<CString> = fields
                .iter()
                .map(|f| CString::new(f.name().as_str()).map_err(|_| f.name().clone()))
                .collect::<Result<_, _>>()?;
            let mut handles: Vec<ffi::duckdb_logical_type> = children.iter().map(|c| c.0).collect();
            let mut name_ptrs: Vec<*const std::os::raw::c_char> =
                names.iter().map(|n| n.as_ptr()).collect();
            // SAFETY: both arrays hold `fields.len()` live entries for the duration of the call.
            LogicalType(unsafe {
                duckdb_create_struct_type(
                    handles.as_mut_ptr(),
                    name_ptrs.as_mut_ptr(),
                    fields.len() as idx_t,
                )
            })
        }
        other => return Err(format!("{other}")),
    })
}

/// DuckDB's VARINT (called BIGNUM from DuckDB 1.4), or a list of it: parameters of the
/// overloads that refuse it ([`crate::plan::Param::Varint`]).
pub fn varint(list: bool) -> LogicalType {
    // SAFETY: creating a primitive or list logical type has no preconditions; DuckDB copies
    // the child.
    unsafe {
        let item = LogicalType(ffi::duckdb_create_logical_type(
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_BIGNUM,
        ));
        if list {
            LogicalType(ffi::duckdb_create_list_type(item.0))
        } else {
            item
        }
    }
}

/// The `ANY` type for parameters whose type DuckDB should pass through unchanged.
pub fn any() -> LogicalType {
    // SAFETY: creating a primitive logical type has no preconditions.
    LogicalType(unsafe { ffi::duckdb_create_logical_type(ffi::DUCKDB_TYPE_DUCKDB_TYPE_ANY) })
}

/// How DuckDB spells an Arrow type (documentation and tests).
pub fn sql_name(dt: &DataType) -> String {
    match dt {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "UTINYINT".into(),
        DataType::UInt16 => "USMALLINT".into(),
        DataType::UInt32 => "UINTEGER".into(),
        DataType::UInt64 => "UBIGINT".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BLOB".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Timestamp(TimeUnit::Second, None) => "TIMESTAMP_S".into(),
        DataType::Timestamp(TimeUnit::Millisecond, None) => "TIMESTAMP_MS".into(),
        DataType::Timestamp(TimeUnit::Microsecond, None) => "TIMESTAMP".into(),
        DataType::Timestamp(TimeUnit::Nanosecond, None) => "TIMESTAMP_NS".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        t if *t == HUGEINT => "HUGEINT".into(),
        t if *t == UHUGEINT => "UHUGEINT".into(),
        DataType::Decimal128(w, s) => format!("DECIMAL({w},{s})"),
        DataType::List(f) | DataType::LargeList(f) => format!("{}[]", sql_name(f.data_type())),
        DataType::Struct(fields) => format!(
            "STRUCT({})",
            fields
                .iter()
                .map(|f| format!("{} {}", f.name(), sql_name(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DataType::Null => "NULL".into(),
        other => format!("{other}"),
    }
}
