//! Postgres datums ⇄ kernel [`Value`]s, and Postgres types ⇄ Arrow [`DataType`]s.
//!
//! | Postgres | Arrow | kernel value |
//! |---|---|---|
//! | `boolean` | Boolean | `Bool` |
//! | `smallint`, `integer`, `bigint` | Int16, Int32, Int64 | `Int` |
//! | `real`, `double precision` | Float32, Float64 | `Float` |
//! | `numeric` | Decimal128(38, 10) | `Decimal` (more than 10 decimal places is an error) |
//! | `text`, `varchar`, `char(n)`, an unknown-typed literal | Utf8 | `Str` |
//! | `bytea` | Binary | `Bin` |
//! | `date` | Date32 (days since 1970-01-01) | `Int` |
//! | `timestamp`, `timestamptz` | Timestamp(µs), Timestamp(µs, UTC) | `Int` (µs since 1970) |
//! | a one-dimensional array of the above | List | `List` |
//! | a record (`t`, `ROW(...)`, a composite type) | Struct (the fields by name) | `Struct` |
//!
//! Inside a record, a field of any other type (uuid, json, ...) is read as its text output, so
//! `crdt_row_id(k, t)` works on every table.
//!
//! Domains count as their base type. `infinity` dates and timestamps and numeric `NaN` are
//! errors (they have no place in the kernel's order). Any other type is an error naming the
//! function, the argument and the type.

use std::ffi::CStr;
use std::sync::Arc;

use arrow_schema::{DataType, Field, TimeUnit};
use crdt_merge_kernel::value::Value;
use pgrx::pg_sys::{self, Datum, Oid};
use pgrx::prelude::*;
use pgrx::AnyNumeric;

use crate::error::invalid;

/// Days from 1970-01-01 (Arrow's epoch) to 2000-01-01 (Postgres' epoch).
const DAYS_1970_TO_2000: i64 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const MICROS_1970_TO_2000: i64 = DAYS_1970_TO_2000 * 86_400_000_000;
/// Scale of the Decimal128 that `numeric` maps to.
pub const NUMERIC_SCALE: i8 = 10;
const NUMERIC_PRECISION: u8 = 38;

/// How one Postgres type is read and written.
#[derive(Debug, Clone)]
pub enum Kind {
    /// `boolean`.
    Bool,
    /// `smallint`.
    Int2,
    /// `integer`.
    Int4,
    /// `bigint`.
    Int8,
    /// `real`.
    Float4,
    /// `double precision`.
    Float8,
    /// `numeric`.
    Numeric,
    /// `text`, `varchar`, `char(n)`: one varlena layout.
    Text,
    /// An unknown-typed literal (a C string), passed to an `"any"` argument.
    Unknown,
    /// `bytea`.
    Bytea,
    /// `date`.
    Date,
    /// `timestamp`.
    Timestamp,
    /// `timestamptz`.
    TimestampTz,
    /// A one-dimensional array.
    Array(Box<PgType>),
    /// A record: its fields (name, type), or `None` for an anonymous `record` whose fields are
    /// known only from a value ([`resolve_record_datum`]).
    Record(Option<Vec<(String, PgType)>>),
    /// A record field of a type with no kernel counterpart: its text output (the function oid).
    AsText(Oid),
}

/// A resolved Postgres type: its oid (the output type for `SameAs` results), how to convert it,
/// its Arrow type, and storage facts needed to build and read arrays of it.
#[derive(Debug, Clone)]
pub struct PgType {
    /// The type's oid as the caller gave it (a domain stays a domain).
    pub oid: Oid,
    /// Conversion.
    pub kind: Kind,
    /// Arrow type handed to the kernel.
    pub dt: DataType,
    len: i16,
    byval: bool,
    align: std::ffi::c_char,
}

fn type_name(oid: Oid) -> String {
    // SAFETY: format_type_be accepts any oid (unknown ones print as "???") and returns a palloc'd
    // NUL-terminated string.
    unsafe {
        let p = pg_sys::format_type_be(oid);
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Resolves the type of argument `argument` of `function`; unsupported types are an error.
pub fn resolve(function: &str, argument: &str, oid: Oid) -> PgType {
    // SAFETY: catalogue look-ups by oid.
    let base = unsafe { pg_sys::getBaseType(oid) };
    // Only the row-id functions take records: elsewhere a record result could not be written
    // back, so a record stays an unsupported type there (with the error naming the types).
    if !takes_records(function) {
        return resolve_scalar(function, argument, oid);
    }
    if base != pg_sys::RECORDOID && unsafe { pg_sys::type_is_rowtype(base) } {
        // SAFETY: a composite type's descriptor, copied into the current memory context.
        let fields = unsafe {
            record_fields(
                function,
                argument,
                pg_sys::lookup_rowtype_tupdesc_copy(base, -1),
            )
        };
        return record_type(oid, Some(fields));
    }
    if base == pg_sys::RECORDOID {
        return record_type(oid, None);
    }
    resolve_scalar(function, argument, oid)
}

/// The functions whose `row` (and key) may be a record.
fn takes_records(function: &str) -> bool {
    matches!(
        function,
        "crdt_row_id" | "crdt_content_id" | "crdt_table_digest"
    )
}

fn record_type(oid: Oid, fields: Option<Vec<(String, PgType)>>) -> PgType {
    let dt = DataType::Struct(
        fields
            .iter()
            .flatten()
            .map(|(n, t)| Field::new(n, t.dt.clone(), true))
            .collect(),
    );
    PgType {
        oid,
        kind: Kind::Record(fields),
        dt,
        len: -1,
        byval: false,
        align: b'd' as std::ffi::c_char,
    }
}

/// The fields of a tuple descriptor (dropped columns left out).
///
/// # Safety
/// `desc` must be a valid tuple descriptor.
unsafe fn record_fields(
    function: &str,
    argument: &str,
    desc: pg_sys::TupleDesc,
) -> Vec<(String, PgType)> {
    let mut out = Vec::new();
    // SAFETY: natts attributes follow the descriptor header.
    unsafe {
        for i in 0..(*desc).natts as usize {
            let att = &*(*desc).attrs.as_ptr().add(i);
            if att.attisdropped {
                continue;
            }
            let name = CStr::from_ptr(att.attname.data.as_ptr())
                .to_string_lossy()
                .into_owned();
            let path = format!("{argument}.{name}");
            let ty = if supported_scalar(att.atttypid)
                || pg_sys::type_is_rowtype(pg_sys::getBaseType(att.atttypid))
            {
                resolve(function, &path, att.atttypid)
            } else {
                let (mut out_fn, mut varlena) = (pg_sys::InvalidOid, false);
                pg_sys::getTypeOutputInfo(att.atttypid, &mut out_fn, &mut varlena);
                PgType {
                    oid: att.atttypid,
                    kind: Kind::AsText(out_fn),
                    dt: DataType::Utf8,
                    len: att.attlen,
                    byval: att.attbyval,
                    align: att.attalign,
                }
            };
            out.push((name, ty));
        }
    }
    out
}

/// Whether `oid` (or its element type) is one of the types [`resolve_scalar`] reads.
fn supported_scalar(oid: Oid) -> bool {
    // SAFETY: catalogue look-ups by oid.
    let (base, elem) = unsafe {
        let base = pg_sys::getBaseType(oid);
        (base, pg_sys::get_element_type(base))
    };
    let b = if elem != pg_sys::InvalidOid {
        unsafe { pg_sys::getBaseType(elem) }
    } else {
        base
    };
    [
        pg_sys::BOOLOID,
        pg_sys::INT2OID,
        pg_sys::INT4OID,
        pg_sys::INT8OID,
        pg_sys::FLOAT4OID,
        pg_sys::FLOAT8OID,
        pg_sys::NUMERICOID,
        pg_sys::TEXTOID,
        pg_sys::VARCHAROID,
        pg_sys::BPCHAROID,
        pg_sys::BYTEAOID,
        pg_sys::DATEOID,
        pg_sys::TIMESTAMPOID,
        pg_sys::TIMESTAMPTZOID,
    ]
    .contains(&b)
}

/// The header of a record datum, detoasted.
///
/// # Safety
/// `datum` must be a valid, non-NULL record datum.
unsafe fn record_header(datum: Datum) -> pg_sys::HeapTupleHeader {
    // SAFETY: record datums are varlenas.
    unsafe { pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as pg_sys::HeapTupleHeader }
}

/// The type of an anonymous record from one of its values (`ROW(...)`: Postgres registers the
/// row type and stamps it on every value).
///
/// # Safety
/// `datum` must be a valid, non-NULL record datum.
pub unsafe fn resolve_record_datum(
    function: &str,
    argument: &str,
    oid: Oid,
    datum: Datum,
) -> PgType {
    // SAFETY: the header's datum fields hold the row type and typmod of a record datum.
    unsafe {
        let h = record_header(datum);
        let typid = (*h).t_choice.t_datum.datum_typeid;
        let typmod = (*h).t_choice.t_datum.datum_typmod;
        let desc = pg_sys::lookup_rowtype_tupdesc_copy(typid, typmod);
        record_type(oid, Some(record_fields(function, argument, desc)))
    }
}

fn resolve_scalar(function: &str, argument: &str, oid: Oid) -> PgType {
    // SAFETY: catalogue look-ups by oid; every function accepts any oid.
    let (base, elem) = unsafe {
        let base = pg_sys::getBaseType(oid);
        (base, pg_sys::get_element_type(base))
    };
    let (kind, dt) = if elem != pg_sys::InvalidOid {
        let item = resolve(function, argument, elem);
        if matches!(item.kind, Kind::Array(_)) {
            invalid(format!(
                "{function}: argument `{argument}`: expected a one-dimensional array, found {}",
                type_name(oid)
            ));
        }
        let dt = DataType::List(Arc::new(Field::new("item", item.dt.clone(), true)));
        (Kind::Array(Box::new(item)), dt)
    } else if base == pg_sys::BOOLOID {
        (Kind::Bool, DataType::Boolean)
    } else if base == pg_sys::INT2OID {
        (Kind::Int2, DataType::Int16)
    } else if base == pg_sys::INT4OID {
        (Kind::Int4, DataType::Int32)
    } else if base == pg_sys::INT8OID {
        (Kind::Int8, DataType::Int64)
    } else if base == pg_sys::FLOAT4OID {
        (Kind::Float4, DataType::Float32)
    } else if base == pg_sys::FLOAT8OID {
        (Kind::Float8, DataType::Float64)
    } else if base == pg_sys::NUMERICOID {
        (
            Kind::Numeric,
            DataType::Decimal128(NUMERIC_PRECISION, NUMERIC_SCALE),
        )
    } else if base == pg_sys::TEXTOID || base == pg_sys::VARCHAROID || base == pg_sys::BPCHAROID {
        (Kind::Text, DataType::Utf8)
    } else if base == pg_sys::UNKNOWNOID {
        (Kind::Unknown, DataType::Utf8)
    } else if base == pg_sys::BYTEAOID {
        (Kind::Bytea, DataType::Binary)
    } else if base == pg_sys::DATEOID {
        (Kind::Date, DataType::Date32)
    } else if base == pg_sys::TIMESTAMPOID {
        (
            Kind::Timestamp,
            DataType::Timestamp(TimeUnit::Microsecond, None),
        )
    } else if base == pg_sys::TIMESTAMPTZOID {
        (
            Kind::TimestampTz,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        )
    } else {
        invalid(format!(
            "{function}: argument `{argument}`: expected type boolean, smallint, integer, bigint, \
             real, double precision, numeric, text, bytea, date, timestamp, timestamptz or an \
             array of one of them, found {}",
            type_name(oid)
        ));
    };
    let (mut len, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
    // SAFETY: plain catalogue look-up writing three out-parameters we own.
    unsafe { pg_sys::get_typlenbyvalalign(base, &mut len, &mut byval, &mut align) };
    PgType {
        oid,
        kind,
        dt,
        len,
        byval,
        align,
    }
}

fn out_of_range(function: &str, argument: &str, what: &str) -> ! {
    invalid(format!(
        "{function}: argument `{argument}`: expected a finite value, found {what}"
    ))
}

/// Parses numeric text (`-12.5`, `3`, `1e5` never occurs in numeric_out) into an unscaled i128
/// at [`NUMERIC_SCALE`].
fn numeric_to_i128(function: &str, argument: &str, text: &str) -> i128 {
    let bad = |why: &str| -> ! {
        invalid(format!(
            "{function}: argument `{argument}`: expected a numeric with at most {NUMERIC_SCALE} \
             decimal places and 28 integer digits, found {text} ({why})"
        ))
    };
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        bad("not a finite number");
    }
    let frac_trimmed = frac.trim_end_matches('0');
    if frac_trimmed.len() > NUMERIC_SCALE as usize {
        bad("too many decimal places");
    }
    let mut s = String::with_capacity(int.len() + NUMERIC_SCALE as usize);
    s.push_str(int);
    s.push_str(frac_trimmed);
    for _ in frac_trimmed.len()..NUMERIC_SCALE as usize {
        s.push('0');
    }
    let s = s.trim_start_matches('0');
    if s.len() > NUMERIC_PRECISION as usize {
        bad("too many digits");
    }
    let v: i128 = if s.is_empty() {
        0
    } else {
        s.parse().unwrap_or_else(|_| bad("too many digits"))
    };
    if neg {
        -v
    } else {
        v
    }
}

fn i128_to_numeric_text(v: i128) -> String {
    let neg = v < 0;
    let digits = v.unsigned_abs().to_string();
    let scale = NUMERIC_SCALE as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    let frac = frac.trim_end_matches('0');
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// Reads one datum of type `ty` as a kernel value.
///
/// # Safety
/// `datum` must be a valid datum of `ty` unless `isnull`.
pub unsafe fn to_value(
    function: &str,
    argument: &str,
    datum: Datum,
    isnull: bool,
    ty: &PgType,
) -> Value {
    if isnull {
        return Value::Null;
    }
    // SAFETY (whole match): the caller guarantees `datum` holds a value of `ty`; pass-by-value
    // types are read from the datum word, varlena types through pgrx's detoasting readers.
    unsafe {
        match &ty.kind {
            Kind::Bool => Value::Bool(datum.value() != 0),
            Kind::Int2 => Value::Int(datum.value() as i16 as i64),
            Kind::Int4 => Value::Int(datum.value() as i32 as i64),
            Kind::Int8 => Value::Int(datum.value() as i64),
            Kind::Float4 => Value::Float(f32::from_bits(datum.value() as u32) as f64),
            Kind::Float8 => Value::Float(f64::from_bits(datum.value() as u64)),
            Kind::Numeric => {
                let n = AnyNumeric::from_datum(datum, false)
                    .unwrap_or_else(|| out_of_range(function, argument, "NULL"));
                let text = n.to_string();
                Value::Decimal(numeric_to_i128(function, argument, &text))
            }
            Kind::Text => Value::Str(
                <&str>::from_datum(datum, false)
                    .unwrap_or_default()
                    .to_string(),
            ),
            Kind::Unknown => {
                let p = datum.cast_mut_ptr::<std::ffi::c_char>();
                Value::Str(CStr::from_ptr(p).to_string_lossy().into_owned())
            }
            Kind::Bytea => Value::Bin(
                <&[u8]>::from_datum(datum, false)
                    .unwrap_or_default()
                    .to_vec(),
            ),
            Kind::Date => {
                let d = datum.value() as i32;
                if d == i32::MIN || d == i32::MAX {
                    out_of_range(function, argument, "an infinite date");
                }
                Value::Int(d as i64 + DAYS_1970_TO_2000)
            }
            Kind::Timestamp | Kind::TimestampTz => {
                let t = datum.value() as i64;
                match (t != i64::MIN && t != i64::MAX)
                    .then(|| t.checked_add(MICROS_1970_TO_2000))
                    .flatten()
                {
                    Some(v) => Value::Int(v),
                    None => out_of_range(function, argument, "an infinite timestamp"),
                }
            }
            Kind::AsText(out_fn) => {
                let p = pg_sys::OidOutputFunctionCall(*out_fn, datum);
                Value::Str(CStr::from_ptr(p).to_string_lossy().into_owned())
            }
            Kind::Record(None) => invalid(format!(
                "{function}: argument `{argument}`: internal error (please report): an \
                 anonymous record read before its type was known"
            )),
            Kind::Record(Some(fields)) => {
                let h = record_header(datum);
                let desc = pg_sys::lookup_rowtype_tupdesc_copy(
                    (*h).t_choice.t_datum.datum_typeid,
                    (*h).t_choice.t_datum.datum_typmod,
                );
                let natts = (*desc).natts as usize;
                let mut values = vec![Datum::from(0usize); natts];
                let mut nulls = vec![false; natts];
                let mut tuple: pg_sys::HeapTupleData = std::mem::zeroed();
                tuple.t_data = h;
                // The tuple's length is its varlena size (VARSIZE).
                tuple.t_len = pgrx::varsize_any(h as *const pg_sys::varlena) as u32;
                pg_sys::heap_deform_tuple(
                    &mut tuple,
                    desc,
                    values.as_mut_ptr(),
                    nulls.as_mut_ptr(),
                );
                let mut out = Vec::with_capacity(fields.len());
                let mut f = fields.iter();
                for i in 0..natts {
                    let att = &*(*desc).attrs.as_ptr().add(i);
                    if att.attisdropped {
                        continue;
                    }
                    let Some((name, ty)) = f.next() else { break };
                    out.push(to_value(
                        function,
                        &format!("{argument}.{name}"),
                        values[i],
                        nulls[i],
                        ty,
                    ));
                }
                Value::Struct(out)
            }
            Kind::Array(item) => {
                let arr = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as *mut pg_sys::ArrayType;
                if (*arr).ndim > 1 {
                    invalid(format!(
                        "{function}: argument `{argument}`: expected a one-dimensional array, \
                         found {} dimensions",
                        (*arr).ndim
                    ));
                }
                let mut elems: *mut Datum = std::ptr::null_mut();
                let mut nulls: *mut bool = std::ptr::null_mut();
                let mut n: std::ffi::c_int = 0;
                pg_sys::deconstruct_array(
                    arr,
                    item.base_oid(),
                    item.len as _,
                    item.byval,
                    item.align,
                    &mut elems,
                    &mut nulls,
                    &mut n,
                );
                let n = n.max(0) as usize;
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    out.push(to_value(
                        function,
                        argument,
                        *elems.add(i),
                        *nulls.add(i),
                        item,
                    ));
                }
                Value::List(out)
            }
        }
    }
}

impl PgType {
    fn base_oid(&self) -> Oid {
        // SAFETY: catalogue look-up by oid.
        unsafe { pg_sys::getBaseType(self.oid) }
    }

    /// A type description for text results.
    pub fn text() -> PgType {
        resolve("crdt_merge", "result", pg_sys::TEXTOID)
    }

    /// A type description for bytea results.
    pub fn bytea() -> PgType {
        resolve("crdt_merge", "result", pg_sys::BYTEAOID)
    }
}

/// Writes a kernel value as a datum of `ty` (allocated in the current memory context).
/// Returns `None` for NULL.
pub fn from_value(function: &str, value: &Value, ty: &PgType) -> Option<Datum> {
    let mismatch = || -> ! {
        invalid(format!(
            "{function}: internal error (please report): result {value:?} does not fit {}",
            type_name(ty.oid)
        ))
    };
    if value.is_null() {
        return None;
    }
    Some(match (&ty.kind, value) {
        (Kind::Bool, Value::Bool(b)) => Datum::from(*b),
        (Kind::Int2, Value::Int(i)) => Datum::from(*i as i16),
        (Kind::Int4, Value::Int(i)) => Datum::from(*i as i32),
        (Kind::Int8, Value::Int(i)) => Datum::from(*i),
        (Kind::Float4, Value::Float(f)) => (*f as f32).into_datum()?,
        (Kind::Float8, Value::Float(f)) => f.into_datum()?,
        (Kind::Numeric, Value::Decimal(d)) => {
            let n = AnyNumeric::try_from(i128_to_numeric_text(*d).as_str())
                .unwrap_or_else(|_| mismatch());
            n.into_datum()?
        }
        // UBIGINT results (MinHash band hashes) as numeric: Postgres has no unsigned type.
        (Kind::Numeric, Value::UInt(u)) => {
            let n = AnyNumeric::try_from(u.to_string().as_str()).unwrap_or_else(|_| mismatch());
            n.into_datum()?
        }
        (Kind::Text | Kind::Unknown, Value::Str(s)) => s.as_str().into_datum()?,
        (Kind::Bytea, Value::Bin(b)) => b.as_slice().into_datum()?,
        (Kind::Date, Value::Int(d)) => Datum::from((*d - DAYS_1970_TO_2000) as i32),
        (Kind::Timestamp | Kind::TimestampTz, Value::Int(t)) => Datum::from(
            t.checked_sub(MICROS_1970_TO_2000)
                .unwrap_or_else(|| mismatch()),
        ),
        (Kind::Array(item), Value::List(items)) => {
            let mut datums = Vec::with_capacity(items.len());
            let mut nulls = Vec::with_capacity(items.len());
            for v in items {
                match from_value(function, v, item) {
                    Some(d) => {
                        datums.push(d);
                        nulls.push(false);
                    }
                    None => {
                        datums.push(Datum::from(0usize));
                        nulls.push(true);
                    }
                }
            }
            let mut dims = [items.len() as std::ffi::c_int];
            let mut lbs = [1 as std::ffi::c_int];
            // SAFETY: datums/nulls hold `dims[0]` entries of the element type described by
            // `item`; construct_md_array copies them into a new palloc'd array (an empty array
            // when there are none).
            unsafe {
                let arr = if items.is_empty() {
                    pg_sys::construct_empty_array(item.base_oid())
                } else {
                    pg_sys::construct_md_array(
                        datums.as_mut_ptr(),
                        nulls.as_mut_ptr(),
                        1,
                        dims.as_mut_ptr(),
                        lbs.as_mut_ptr(),
                        item.base_oid(),
                        item.len as _,
                        item.byval,
                        item.align,
                    )
                };
                Datum::from(arr)
            }
        }
        _ => mismatch(),
    })
}
