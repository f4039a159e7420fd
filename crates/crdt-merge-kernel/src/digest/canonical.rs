//! The canonical bytes of a value, the same in every engine: what row ids hash.
//!
//! Each value is a one-byte tag and a payload that ends itself, so a concatenation of values
//! can be split back (no two rows share their bytes by accident of where one value ends):
//!
//! | tag | value | payload |
//! |---|---|---|
//! | `0x00` | NULL | none |
//! | `0x01` | boolean | `0x00` / `0x01` |
//! | `0x02` | any integer of 8 to 64 bits, signed or not, up to `i64::MAX` | i64 little-endian |
//! | `0x03` | an unsigned integer above `i64::MAX` | u64 little-endian |
//! | `0x04` | real, double | f64 little-endian, −0 as +0, every NaN as one quiet NaN |
//! | `0x05` | decimal (any precision and scale) | length, normalised text (`1.50` → `1.5`) |
//! | `0x06` | text (any Arrow string layout) | length, UTF-8 |
//! | `0x07` | binary (any Arrow binary layout) | length, bytes |
//! | `0x08` | date | days since 1970-01-01, i64 little-endian |
//! | `0x09` | timestamp (any unit, with or without a zone) | µs since the epoch, i64 little-endian |
//! | `0x0A` | list | count, then each element |
//! | `0x0B` | struct | count, then per field sorted by name: length, name, value |
//!
//! A struct whose fields carry no names of their own (see [`anonymous`]), and a key, are
//! tuples: count, then the values in order, without names.
//!
//! Lengths and counts are LEB128. So Postgres `integer` and DuckDB `BIGINT`, `text` and
//! `VARCHAR`, `bytea` and `BLOB` give the same bytes, while `1`, `1.0` and `'1'` do not.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, BooleanArray, PrimitiveArray, StructArray};
use arrow_schema::{DataType, TimeUnit};

use crate::error::{Error, Result};
use crate::value::canonical_f64;

/// Appends `n` as LEB128.
pub fn leb128(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn counted(bytes: &[u8], out: &mut Vec<u8>) {
    leb128(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// How the struct fields of a value are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    /// Sorted by name, each with its name (rows: independent of column order).
    ByName,
    /// In declared order, without names (keys: a composite key is a tuple, so `ROW(a, b)` in
    /// Postgres and `(a, b)` in DuckDB agree whatever the engines call the fields).
    Positional,
}

/// An encoder for one column, resolved once per batch so that rows cost no type dispatch
/// beyond one match.
pub enum Encoder<'a> {
    /// All NULL.
    Null,
    /// Booleans.
    Bool(&'a BooleanArray),
    /// Signed integers (widened).
    I8(&'a PrimitiveArray<Int8Type>),
    /// Signed integers (widened).
    I16(&'a PrimitiveArray<Int16Type>),
    /// Signed integers (widened).
    I32(&'a PrimitiveArray<Int32Type>),
    /// Signed integers.
    I64(&'a PrimitiveArray<Int64Type>),
    /// Unsigned integers (widened).
    U8(&'a PrimitiveArray<UInt8Type>),
    /// Unsigned integers (widened).
    U16(&'a PrimitiveArray<UInt16Type>),
    /// Unsigned integers (widened).
    U32(&'a PrimitiveArray<UInt32Type>),
    /// Unsigned integers.
    U64(&'a PrimitiveArray<UInt64Type>),
    /// Floats (widened).
    F32(&'a PrimitiveArray<Float32Type>),
    /// Doubles.
    F64(&'a PrimitiveArray<Float64Type>),
    /// Decimals and their scale.
    Decimal(&'a PrimitiveArray<Decimal128Type>, i8),
    /// Text.
    Text(&'a dyn Array),
    /// Binary.
    Binary(&'a dyn Array),
    /// Days.
    Date32(&'a PrimitiveArray<Date32Type>),
    /// Milliseconds, encoded as days.
    Date64(&'a PrimitiveArray<Date64Type>),
    /// A timestamp column read as i64 in its unit, and how to reach microseconds.
    Timestamp(&'a dyn Array, TimeUnit),
    /// A list: offsets come from the array, the elements from the child encoder.
    List(&'a dyn Array, Box<Encoder<'a>>),
    /// A struct: the fields in encoding order (name, encoder).
    Struct(&'a StructArray, Vec<(&'a str, Encoder<'a>)>, Fields),
}

impl<'a> Encoder<'a> {
    /// Resolves an encoder for `array`; `path` names the value in errors (`row.price`).
    ///
    /// # Errors
    /// A type with no canonical form (time of day, intervals, maps, unions, ...), naming
    /// `function` and `path`.
    pub fn new(
        function: &str,
        path: &str,
        array: &'a dyn Array,
        fields: Fields,
    ) -> Result<Encoder<'a>> {
        use DataType::*;
        Ok(match array.data_type() {
            Null => Encoder::Null,
            Boolean => Encoder::Bool(array.as_boolean()),
            Int8 => Encoder::I8(array.as_primitive()),
            Int16 => Encoder::I16(array.as_primitive()),
            Int32 => Encoder::I32(array.as_primitive()),
            Int64 => Encoder::I64(array.as_primitive()),
            UInt8 => Encoder::U8(array.as_primitive()),
            UInt16 => Encoder::U16(array.as_primitive()),
            UInt32 => Encoder::U32(array.as_primitive()),
            UInt64 => Encoder::U64(array.as_primitive()),
            Float32 => Encoder::F32(array.as_primitive()),
            Float64 => Encoder::F64(array.as_primitive()),
            Decimal128(_, s) => Encoder::Decimal(array.as_primitive(), *s),
            Utf8 | LargeUtf8 | Utf8View => Encoder::Text(array),
            Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Encoder::Binary(array),
            Date32 => Encoder::Date32(array.as_primitive()),
            Date64 => Encoder::Date64(array.as_primitive()),
            Timestamp(unit, _) => Encoder::Timestamp(array, *unit),
            List(_) => {
                let l = array.as_list::<i32>();
                Encoder::List(
                    array,
                    Box::new(Encoder::new(
                        function,
                        &format!("{path}[]"),
                        l.values().as_ref(),
                        Fields::ByName,
                    )?),
                )
            }
            LargeList(_) => {
                let l = array.as_list::<i64>();
                Encoder::List(
                    array,
                    Box::new(Encoder::new(
                        function,
                        &format!("{path}[]"),
                        l.values().as_ref(),
                        Fields::ByName,
                    )?),
                )
            }
            Struct(_) => {
                let s = array.as_struct();
                let mut out = Vec::with_capacity(s.num_columns());
                for (f, c) in s.fields().iter().zip(s.columns()) {
                    let sub = format!("{path}.{}", f.name());
                    out.push((
                        f.name().as_str(),
                        Encoder::new(function, &sub, c.as_ref(), Fields::ByName)?,
                    ));
                }
                let fields = if anonymous(s.fields().iter().map(|f| f.name().as_str())) {
                    Fields::Positional
                } else {
                    fields
                };
                if fields == Fields::ByName {
                    out.sort_by(|a, b| a.0.cmp(b.0));
                    if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
                        return Err(Error::invalid(
                            function,
                            path,
                            "fields with distinct names",
                            format!("two fields named `{}`", w[0].0),
                        ));
                    }
                }
                Encoder::Struct(s, out, fields)
            }
            other => {
                return Err(Error::type_mismatch(
                    function,
                    path,
                    "a boolean, integer, float, decimal, text, binary, date, timestamp, list or \
                     struct (cast other types, such as UUID, ENUM or TIME, to text)",
                    other,
                ))
            }
        })
    }

    /// Keeps only the struct fields for which `keep(name)` holds (top level).
    pub fn retain_fields(&mut self, keep: impl Fn(&str) -> bool) {
        if let Encoder::Struct(_, fields, _) = self {
            fields.retain(|(n, _)| keep(n));
        }
    }

    /// Appends the canonical bytes of row `i`.
    pub fn encode(&self, i: usize, out: &mut Vec<u8>) {
        macro_rules! int {
            ($a:expr) => {{
                if $a.is_null(i) {
                    out.push(0);
                } else {
                    out.push(0x02);
                    out.extend_from_slice(&(i64::from($a.value(i))).to_le_bytes());
                }
            }};
        }
        match self {
            Encoder::Null => out.push(0),
            Encoder::Bool(a) => {
                if a.is_null(i) {
                    out.push(0);
                } else {
                    out.extend_from_slice(&[0x01, u8::from(a.value(i))]);
                }
            }
            Encoder::I8(a) => int!(a),
            Encoder::I16(a) => int!(a),
            Encoder::I32(a) => int!(a),
            Encoder::I64(a) => int!(a),
            Encoder::U8(a) => int!(a),
            Encoder::U16(a) => int!(a),
            Encoder::U32(a) => int!(a),
            Encoder::U64(a) => {
                if a.is_null(i) {
                    out.push(0);
                } else {
                    let v = a.value(i);
                    match i64::try_from(v) {
                        Ok(s) => {
                            out.push(0x02);
                            out.extend_from_slice(&s.to_le_bytes());
                        }
                        Err(_) => {
                            out.push(0x03);
                            out.extend_from_slice(&v.to_le_bytes());
                        }
                    }
                }
            }
            Encoder::F32(a) => {
                if a.is_null(i) {
                    out.push(0);
                } else {
                    out.push(0x04);
                    let v = canonical_f64(f64::from(a.value(i)));
                    out.extend_from_slice(&v.to_bits().to_le_bytes());
                }
            }
            Encoder::F64(a) => {
                if a.is_null(i) {
                    out.push(0);
                } else {
                    out.push(0x04);
                    out.extend_from_slice(&canonical_f64(a.value(i)).to_bits().to_le_bytes());
                }
            }
            Encoder::Decimal(a, scale) => {
                if a.is_null(i) {
                    out.push(0);
                } else {
                    out.push(0x05);
                    counted(
                        crate::sketch::hash::decimal_text(a.value(i), *scale).as_bytes(),
                        out,
                    );
                }
            }
            Encoder::Text(a) => {
                if a.is_null(i) {
                    out.push(0);
                } else {
                    out.push(0x06);
                    let s = match a.data_type() {
                        DataType::Utf8 => a.as_string::<i32>().value(i),
                        DataType::LargeUtf8 => a.as_string::<i64>().value(i),
                        _ => a.as_string_view().value(i),
                    };
                    counted(s.as_bytes(), out);
                }
            }
            Encoder::Binary(a) => {
                if a.is_null(i) {
                    out.push(0);
                } else {
                    out.push(0x07);
                    let b = match a.data_type() {
                        DataType::Binary => a.as_binary::<i32>().value(i),
                        DataType::LargeBinary => a.as_binary::<i64>().value(i),
                        DataType::FixedSizeBinary(_) => a.as_fixed_size_binary().value(i),
                        _ => a.as_binary_view().value(i),
                    };
                    counted(b, out);
                }
            }
            Encoder::Date32(a) => {
                if a.is_null(i) {
                    out.push(0);
                } else {
                    out.push(0x08);
                    out.extend_from_slice(&i64::from(a.value(i)).to_le_bytes());
                }
            }
            Encoder::Date64(a) => {
                if a.is_null(i) {
                    out.push(0);
                } else {
                    out.push(0x08);
                    out.extend_from_slice(&a.value(i).div_euclid(86_400_000).to_le_bytes());
                }
            }
            Encoder::Timestamp(a, unit) => {
                if a.is_null(i) {
                    out.push(0);
                } else {
                    let us = match unit {
                        TimeUnit::Second => a
                            .as_primitive::<TimestampSecondType>()
                            .value(i)
                            .saturating_mul(1_000_000),
                        TimeUnit::Millisecond => a
                            .as_primitive::<TimestampMillisecondType>()
                            .value(i)
                            .saturating_mul(1_000),
                        TimeUnit::Microsecond => {
                            a.as_primitive::<TimestampMicrosecondType>().value(i)
                        }
                        TimeUnit::Nanosecond => a
                            .as_primitive::<TimestampNanosecondType>()
                            .value(i)
                            .div_euclid(1_000),
                    };
                    out.push(0x09);
                    out.extend_from_slice(&us.to_le_bytes());
                }
            }
            Encoder::List(a, item) => {
                if a.is_null(i) {
                    out.push(0);
                } else {
                    let (start, end) = match a.data_type() {
                        DataType::List(_) => {
                            let o = a.as_list::<i32>().value_offsets();
                            (o[i] as usize, o[i + 1] as usize)
                        }
                        _ => {
                            let o = a.as_list::<i64>().value_offsets();
                            (o[i] as usize, o[i + 1] as usize)
                        }
                    };
                    out.push(0x0A);
                    leb128((end - start) as u64, out);
                    for j in start..end {
                        item.encode(j, out);
                    }
                }
            }
            Encoder::Struct(a, fields, order) => {
                if a.is_null(i) {
                    out.push(0);
                } else {
                    out.push(0x0B);
                    leb128(fields.len() as u64, out);
                    for (name, enc) in fields {
                        if *order == Fields::ByName {
                            counted(name.as_bytes(), out);
                        }
                        enc.encode(i, out);
                    }
                }
            }
        }
    }
}

/// Whether struct field names are the ones engines make up for an anonymous row (DuckDB's
/// `row(...)`: all empty; Postgres' `ROW(...)`: `f1`, `f2`, ...; DataFusion's `struct(...)`:
/// `c0`, `c1`, ...): such a row is a tuple, encoded by position, so `ROW(1, 'a')` gives one
/// id in every engine.
pub fn anonymous<'n>(names: impl Iterator<Item = &'n str>) -> bool {
    let names: Vec<&str> = names.collect();
    !names.is_empty()
        && (names.iter().all(|n| n.is_empty())
            || names
                .iter()
                .enumerate()
                .all(|(i, n)| *n == format!("f{}", i + 1))
            || names.iter().enumerate().all(|(i, n)| *n == format!("c{i}")))
}

/// The canonical bytes of every row of `array` (tests and tools; hashing uses [`Encoder`]).
///
/// # Errors
/// See [`Encoder::new`].
pub fn encode_all(function: &str, array: &ArrayRef, fields: Fields) -> Result<Vec<Vec<u8>>> {
    let e = Encoder::new(function, "value", array.as_ref(), fields)?;
    Ok((0..array.len())
        .map(|i| {
            let mut b = Vec::new();
            e.encode(i, &mut b);
            b
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int32Array, Int64Array, StringArray};
    use arrow_schema::Field;

    use super::*;

    #[test]
    fn integer_widths_agree_and_types_do_not() {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![1]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        let c: ArrayRef = Arc::new(StringArray::from(vec!["1"]));
        let ea = encode_all("t", &a, Fields::ByName).unwrap();
        assert_eq!(ea, encode_all("t", &b, Fields::ByName).unwrap());
        assert_ne!(ea, encode_all("t", &c, Fields::ByName).unwrap());
        assert_eq!(ea[0], [2, 1, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn struct_fields_sort_by_name() {
        let x: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        let y: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
        let s1: ArrayRef = Arc::new(StructArray::from(vec![
            (Arc::new(Field::new("x", DataType::Int64, true)), x.clone()),
            (Arc::new(Field::new("y", DataType::Utf8, true)), y.clone()),
        ]));
        let s2: ArrayRef = Arc::new(StructArray::from(vec![
            (Arc::new(Field::new("y", DataType::Utf8, true)), y),
            (Arc::new(Field::new("x", DataType::Int64, true)), x),
        ]));
        assert_eq!(
            encode_all("t", &s1, Fields::ByName).unwrap(),
            encode_all("t", &s2, Fields::ByName).unwrap()
        );
        assert_ne!(
            encode_all("t", &s1, Fields::Positional).unwrap(),
            encode_all("t", &s2, Fields::Positional).unwrap()
        );
    }

    #[test]
    fn leb128_known() {
        let mut v = Vec::new();
        leb128(300, &mut v);
        assert_eq!(v, [0xAC, 0x02]);
    }
}
