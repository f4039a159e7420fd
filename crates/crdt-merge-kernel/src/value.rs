//! Owned scalar values in the canonical order.
//!
//! Group states must outlive the batches they were fed from, so they hold [`Value`]s, not array
//! slots. `Value`'s `Ord` *is* the canonical value order of the design (NULL lowest; floats with
//! all NaNs equal and greatest, `-0.0 == +0.0`; text and binary by bytes; lists and structs
//! lexicographically). Temporal values are stored as their integer representation: the column's
//! [`DataType`] says what the integer means.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow_array::builder::*;
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, BooleanArray, ListArray, StructArray};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One owned scalar in the canonical value order.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub enum Value {
    /// SQL NULL: lowest of all.
    #[default]
    Null,
    /// Booleans, `false < true`.
    Bool(bool),
    /// Signed integers, dates and timestamps (their integer representation).
    Int(i64),
    /// Unsigned integers.
    UInt(u64),
    /// Floating point numbers.
    Float(f64),
    /// Decimal128 unscaled value (the scale comes from the column type).
    Decimal(i128),
    /// Text.
    Str(String),
    /// Binary.
    Bin(Vec<u8>),
    /// List elements.
    List(Vec<Value>),
    /// Struct fields, in field order.
    Struct(Vec<Value>),
}

/// Canonical float order: every NaN equal and greatest, `-0.0 == +0.0`.
#[inline]
pub fn cmp_f64(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        // Neither is NaN, so partial_cmp is total here; -0.0 == +0.0 under IEEE comparison.
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// The representative of a float's equivalence class: +0.0 for ±0, one quiet NaN for all NaNs.
#[inline]
pub fn canonical_f64(x: f64) -> f64 {
    if x.is_nan() {
        f64::NAN
    } else if x == 0.0 {
        0.0
    } else {
        x
    }
}

/// The array with every float replaced by [`canonical_f64`] of it (no-op for other types), as
/// every join returns +0.0 for ±0 and one NaN for all NaNs.
///
/// # Errors
/// None in practice (the input type is preserved).
pub fn canonical_float_array(a: ArrayRef) -> Result<ArrayRef> {
    Ok(match a.data_type() {
        DataType::Float64 => Arc::new(
            a.as_primitive::<Float64Type>()
                .unary::<_, Float64Type>(canonical_f64),
        ),
        DataType::Float32 => Arc::new(
            a.as_primitive::<Float32Type>()
                .unary::<_, Float32Type>(|v| canonical_f64(v as f64) as f32),
        ),
        _ => a,
    })
}

impl Value {
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::UInt(_) => 3,
            Value::Float(_) => 4,
            Value::Decimal(_) => 5,
            Value::Str(_) => 6,
            Value::Bin(_) => 7,
            Value::List(_) => 8,
            Value::Struct(_) => 9,
        }
    }

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Length used by the Longest strategy: code points for text, elements for lists, bytes for
    /// binary. `None` for other values.
    pub fn longest_len(&self) -> Option<u64> {
        match self {
            Value::Str(s) => Some(s.chars().count() as u64),
            Value::Bin(b) => Some(b.len() as u64),
            Value::List(l) => Some(l.len() as u64),
            _ => None,
        }
    }

    /// Text form used where ids of any type are stored as text (counter replica ids).
    pub fn to_text(&self) -> String {
        match self {
            Value::Null => "NULL".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Float(f) => {
                let f = canonical_f64(*f);
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    format!("{f:.1}")
                } else {
                    f.to_string()
                }
            }
            Value::Decimal(d) => d.to_string(),
            Value::Str(s) => s.clone(),
            Value::Bin(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
            Value::List(l) => format!(
                "[{}]",
                l.iter().map(Value::to_text).collect::<Vec<_>>().join(", ")
            ),
            Value::Struct(l) => format!(
                "{{{}}}",
                l.iter().map(Value::to_text).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// Reads row `row` of `array` (any type the kernel supports).
    pub fn from_array(array: &dyn Array, row: usize) -> Result<Value> {
        if array.is_null(row) {
            return Ok(Value::Null);
        }
        macro_rules! int {
            ($t:ty) => {
                Value::Int(array.as_primitive::<$t>().value(row) as i64)
            };
        }
        macro_rules! uint {
            ($t:ty) => {
                Value::UInt(array.as_primitive::<$t>().value(row) as u64)
            };
        }
        Ok(match array.data_type() {
            DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
            DataType::Int8 => int!(Int8Type),
            DataType::Int16 => int!(Int16Type),
            DataType::Int32 => int!(Int32Type),
            DataType::Int64 => int!(Int64Type),
            DataType::UInt8 => uint!(UInt8Type),
            DataType::UInt16 => uint!(UInt16Type),
            DataType::UInt32 => uint!(UInt32Type),
            DataType::UInt64 => uint!(UInt64Type),
            DataType::Float32 => Value::Float(canonical_f64(
                array.as_primitive::<Float32Type>().value(row) as f64,
            )),
            DataType::Float64 => Value::Float(canonical_f64(
                array.as_primitive::<Float64Type>().value(row),
            )),
            DataType::Decimal128(_, _) => {
                Value::Decimal(array.as_primitive::<Decimal128Type>().value(row))
            }
            DataType::Date32 => int!(Date32Type),
            DataType::Date64 => int!(Date64Type),
            DataType::Timestamp(unit, _) => match unit {
                arrow_schema::TimeUnit::Second => int!(TimestampSecondType),
                arrow_schema::TimeUnit::Millisecond => int!(TimestampMillisecondType),
                arrow_schema::TimeUnit::Microsecond => int!(TimestampMicrosecondType),
                arrow_schema::TimeUnit::Nanosecond => int!(TimestampNanosecondType),
            },
            DataType::Utf8 => Value::Str(array.as_string::<i32>().value(row).to_string()),
            DataType::LargeUtf8 => Value::Str(array.as_string::<i64>().value(row).to_string()),
            DataType::Utf8View => Value::Str(array.as_string_view().value(row).to_string()),
            DataType::Binary => Value::Bin(array.as_binary::<i32>().value(row).to_vec()),
            DataType::LargeBinary => Value::Bin(array.as_binary::<i64>().value(row).to_vec()),
            DataType::BinaryView => Value::Bin(array.as_binary_view().value(row).to_vec()),
            DataType::List(_) => list_values(array.as_list::<i32>().value(row).as_ref())?,
            DataType::LargeList(_) => list_values(array.as_list::<i64>().value(row).as_ref())?,
            DataType::Struct(_) => {
                let s = array.as_struct();
                Value::Struct(
                    s.columns()
                        .iter()
                        .map(|c| Value::from_array(c.as_ref(), row))
                        .collect::<Result<_>>()?,
                )
            }
            other => return Err(unsupported("value", other)),
        })
    }

    /// Like [`Value::to_array`], over borrowed values (group states keep ownership).
    pub fn refs_to_array(values: &[&Value], data_type: &DataType) -> Result<ArrayRef> {
        build_array(values, data_type)
    }

    /// Builds an array of type `data_type` from `values` (the inverse of [`Value::from_array`]).
    pub fn to_array(values: &[Value], data_type: &DataType) -> Result<ArrayRef> {
        let refs: Vec<&Value> = values.iter().collect();
        build_array(&refs, data_type)
    }
}

fn list_values(child: &dyn Array) -> Result<Value> {
    Ok(Value::List(
        (0..child.len())
            .map(|i| Value::from_array(child, i))
            .collect::<Result<_>>()?,
    ))
}

/// The error for a type outside the kernel's value types.
pub fn unsupported(argument: &str, dt: &DataType) -> Error {
    Error::type_mismatch(
        "crdt_merge",
        argument,
        "an integer, float, decimal, text, binary, boolean, date, timestamp, list or struct",
        dt,
    )
}

/// True when the kernel can order and store values of `dt`.
pub fn is_supported(dt: &DataType) -> bool {
    use DataType::*;
    match dt {
        Boolean
        | Int8
        | Int16
        | Int32
        | Int64
        | UInt8
        | UInt16
        | UInt32
        | UInt64
        | Float32
        | Float64
        | Decimal128(_, _)
        | Date32
        | Date64
        | Timestamp(_, _)
        | Utf8
        | LargeUtf8
        | Utf8View
        | Binary
        | LargeBinary
        | BinaryView
        | Null => true,
        List(f) | LargeList(f) => is_supported(f.data_type()),
        Struct(fields) => fields.iter().all(|f| is_supported(f.data_type())),
        _ => false,
    }
}

fn mismatch(v: &Value, dt: &DataType) -> Error {
    Error::internal(
        "Value::to_array",
        format!("value {v:?} does not fit type {dt}"),
    )
}

fn build_array(values: &[&Value], dt: &DataType) -> Result<ArrayRef> {
    let len = values.len();
    macro_rules! prim {
        ($builder:ty, $variant:ident, $conv:expr) => {{
            let mut b = <$builder>::with_capacity(len);
            for v in values.iter().copied() {
                match v {
                    Value::Null => b.append_null(),
                    Value::$variant(x) => b.append_value($conv(*x)),
                    other => return Err(mismatch(other, dt)),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    let array: ArrayRef = match dt {
        DataType::Null => Arc::new(arrow_array::NullArray::new(len)),
        DataType::Boolean => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Value::Null => Ok(None),
                    Value::Bool(b) => Ok(Some(*b)),
                    other => Err(mismatch(other, dt)),
                })
                .collect::<Result<BooleanArray>>()?,
        ),
        DataType::Int8 => prim!(Int8Builder, Int, |x: i64| x as i8),
        DataType::Int16 => prim!(Int16Builder, Int, |x: i64| x as i16),
        DataType::Int32 => prim!(Int32Builder, Int, |x: i64| x as i32),
        DataType::Int64 => prim!(Int64Builder, Int, |x: i64| x),
        DataType::UInt8 => prim!(UInt8Builder, UInt, |x: u64| x as u8),
        DataType::UInt16 => prim!(UInt16Builder, UInt, |x: u64| x as u16),
        DataType::UInt32 => prim!(UInt32Builder, UInt, |x: u64| x as u32),
        DataType::UInt64 => prim!(UInt64Builder, UInt, |x: u64| x),
        DataType::Float32 => prim!(Float32Builder, Float, |x: f64| canonical_f64(x) as f32),
        DataType::Float64 => prim!(Float64Builder, Float, canonical_f64),
        DataType::Date32 => prim!(Date32Builder, Int, |x: i64| x as i32),
        DataType::Date64 => prim!(Date64Builder, Int, |x: i64| x),
        DataType::Decimal128(p, s) => {
            let a = prim!(Decimal128Builder, Decimal, |x: i128| x);
            Arc::new(
                a.as_primitive::<Decimal128Type>()
                    .clone()
                    .with_precision_and_scale(*p, *s)?,
            )
        }
        DataType::Timestamp(unit, tz) => {
            let a = prim!(Int64Builder, Int, |x: i64| x);
            arrow_cast::cast(&a, &DataType::Timestamp(*unit, tz.clone()))?
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let mut b = StringBuilder::with_capacity(len, len * 8);
            for v in values.iter().copied() {
                match v {
                    Value::Null => b.append_null(),
                    Value::Str(s) => b.append_value(s),
                    other => return Err(mismatch(other, dt)),
                }
            }
            let a: ArrayRef = Arc::new(b.finish());
            if dt == &DataType::Utf8 {
                a
            } else {
                arrow_cast::cast(&a, dt)?
            }
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let mut b = BinaryBuilder::with_capacity(len, len * 8);
            for v in values.iter().copied() {
                match v {
                    Value::Null => b.append_null(),
                    Value::Bin(s) => b.append_value(s),
                    other => return Err(mismatch(other, dt)),
                }
            }
            let a: ArrayRef = Arc::new(b.finish());
            if dt == &DataType::Binary {
                a
            } else {
                arrow_cast::cast(&a, dt)?
            }
        }
        DataType::List(field) | DataType::LargeList(field) => {
            let mut offsets = Vec::with_capacity(len + 1);
            offsets.push(0i32);
            let mut valid = Vec::with_capacity(len);
            let mut total = 0i32;
            for v in values.iter().copied() {
                match v {
                    Value::Null => valid.push(false),
                    Value::List(items) => {
                        valid.push(true);
                        total += items.len() as i32;
                    }
                    other => return Err(mismatch(other, dt)),
                }
                offsets.push(total);
            }
            let children: Vec<&Value> = values
                .iter()
                .flat_map(|v| match v {
                    Value::List(items) => items.iter(),
                    _ => [].iter(),
                })
                .collect();
            let child = build_array(&children, field.data_type())?;
            let child_field = Arc::new(Field::new(field.name(), field.data_type().clone(), true));
            let list: ArrayRef = Arc::new(ListArray::try_new(
                child_field.clone(),
                OffsetBuffer::new(offsets.into()),
                child,
                Some(NullBuffer::from(valid)),
            )?);
            if matches!(dt, DataType::LargeList(_)) {
                arrow_cast::cast(&list, &DataType::LargeList(child_field))?
            } else {
                list
            }
        }
        DataType::Struct(fields) => {
            let mut valid = Vec::with_capacity(len);
            for v in values.iter().copied() {
                match v {
                    Value::Null => valid.push(false),
                    Value::Struct(f) if f.len() == fields.len() => valid.push(true),
                    other => return Err(mismatch(other, dt)),
                }
            }
            let mut columns = Vec::with_capacity(fields.len());
            for (i, f) in fields.iter().enumerate() {
                let col: Vec<&Value> = values
                    .iter()
                    .map(|v| match v {
                        Value::Struct(items) => &items[i],
                        _ => &Value::Null,
                    })
                    .collect();
                columns.push(build_array(&col, f.data_type())?);
            }
            let nullable_fields: arrow_schema::Fields = fields
                .iter()
                .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)))
                .collect();
            Arc::new(StructArray::try_new(
                nullable_fields,
                columns,
                Some(NullBuffer::from(valid)),
            )?)
        }
        other => return Err(unsupported("value", other)),
    };
    Ok(array)
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::UInt(a), Value::UInt(b)) => a.cmp(b),
            (Value::Float(a), Value::Float(b)) => cmp_f64(*a, *b),
            (Value::Decimal(a), Value::Decimal(b)) => a.cmp(b),
            (Value::Str(a), Value::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Value::Bin(a), Value::Bin(b)) => a.cmp(b),
            (Value::List(a), Value::List(b)) | (Value::Struct(a), Value::Struct(b)) => a.cmp(b),
            // Mixed variants only meet through a bug or mixed integer signedness; order by
            // variant so the order stays total.
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Value::Null => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(i) => i.hash(state),
            Value::UInt(u) => u.hash(state),
            Value::Float(f) => canonical_f64(*f).to_bits().hash(state),
            Value::Decimal(d) => d.hash(state),
            Value::Str(s) => s.hash(state),
            Value::Bin(b) => b.hash(state),
            Value::List(l) | Value::Struct(l) => l.hash(state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int32Array, StringArray};

    #[test]
    fn float_rules() {
        assert_eq!(Value::Float(f64::NAN), Value::Float(-f64::NAN));
        assert!(Value::Float(f64::NAN) > Value::Float(f64::INFINITY));
        assert_eq!(Value::Float(-0.0), Value::Float(0.0));
        assert!(Value::Null < Value::Float(f64::NEG_INFINITY));
        let a = Value::to_array(&[Value::Float(-0.0)], &DataType::Float64).unwrap();
        assert!(a.as_primitive::<Float64Type>().value(0).is_sign_positive());
    }

    #[test]
    fn text_orders_by_bytes() {
        assert!(Value::Str("Z".into()) < Value::Str("a".into()));
        assert!(Value::Str("é".into()) > Value::Str("z".into()));
    }

    #[test]
    fn round_trips_arrays() {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(vec![Some(1), None, Some(-3)])),
            Arc::new(Float64Array::from(vec![Some(1.5), None, Some(f64::NAN)])),
            Arc::new(StringArray::from(vec![Some("a"), None, Some("ü")])),
        ];
        for a in arrays {
            let vals: Vec<Value> = (0..a.len())
                .map(|i| Value::from_array(a.as_ref(), i).unwrap())
                .collect();
            let back = Value::to_array(&vals, a.data_type()).unwrap();
            let again: Vec<Value> = (0..back.len())
                .map(|i| Value::from_array(back.as_ref(), i).unwrap())
                .collect();
            assert_eq!(vals, again);
        }
    }
}
