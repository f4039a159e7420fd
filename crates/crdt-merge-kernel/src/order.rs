//! The canonical value order over Arrow arrays.
//!
//! Every tie-break in every strategy ends in this order, never in a string rendering:
//!
//! | type | order |
//! |---|---|
//! | any | NULL lowest |
//! | boolean | false < true |
//! | integers, decimals | numeric |
//! | floats | numeric; all NaNs equal and greater than every number; -0.0 == +0.0 |
//! | text | UTF-8 bytes (not a collation) |
//! | binary | bytes |
//! | date, timestamp | instant (the integer representation within one column type) |
//! | list, struct | lexicographic by element / field |
//!
//! [`Column`] reads an array once per batch (one downcast), then compares rows against owned
//! [`Value`]s without allocating for the common types.

use std::cmp::Ordering;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{
    Array, ArrayRef, BinaryArray, BinaryViewArray, BooleanArray, Decimal128Array, Float64Array,
    Int64Array, LargeBinaryArray, LargeStringArray, StringArray, StringViewArray, UInt64Array,
};
use arrow_schema::DataType;

use crate::error::{Error, Result};
use crate::value::{canonical_f64, cmp_f64, is_supported, Value};

/// A typed, read-only view of one argument column for one batch.
#[derive(Debug, Clone)]
pub enum Column {
    /// An all-NULL column (SQL `NULL` literal).
    Null(usize),
    /// Booleans.
    Bool(BooleanArray),
    /// Signed integers, dates and timestamps, widened to i64.
    Int(Int64Array),
    /// Unsigned integers widened to u64.
    UInt(UInt64Array),
    /// Floats widened to f64.
    Float(Float64Array),
    /// Decimal128.
    Decimal(Decimal128Array),
    /// Utf8.
    Str(StringArray),
    /// LargeUtf8.
    LargeStr(LargeStringArray),
    /// Utf8View.
    StrView(StringViewArray),
    /// Binary.
    Bin(BinaryArray),
    /// LargeBinary.
    LargeBin(LargeBinaryArray),
    /// BinaryView.
    BinView(BinaryViewArray),
    /// Lists and structs, read through [`Value::from_array`].
    Nested(ArrayRef),
}

/// Widens a temporal or narrower integer array to i64 without changing its order.
fn to_i64(array: &ArrayRef) -> Result<Int64Array> {
    let cast = match array.data_type() {
        DataType::Date32 => arrow_cast::cast(
            &arrow_cast::cast(array, &DataType::Int32)?,
            &DataType::Int64,
        )?,
        _ => arrow_cast::cast(array, &DataType::Int64)?,
    };
    Ok(cast.as_primitive::<Int64Type>().clone())
}

impl Column {
    /// Reads `array` for argument `argument` of `function`.
    ///
    /// # Errors
    /// A type outside the kernel's value types.
    pub fn new(function: &str, argument: &str, array: &ArrayRef) -> Result<Column> {
        use DataType::*;
        let dt = array.data_type();
        if !is_supported(dt) {
            return Err(Error::type_mismatch(
                function,
                argument,
                "an integer, float, decimal, text, binary, boolean, date, timestamp, list or struct",
                dt,
            ));
        }
        Ok(match dt {
            Null => Column::Null(array.len()),
            Boolean => Column::Bool(array.as_boolean().clone()),
            Int8 | Int16 | Int32 | Int64 | Date32 | Date64 | Timestamp(_, _) => {
                Column::Int(to_i64(array)?)
            }
            UInt8 | UInt16 | UInt32 | UInt64 => Column::UInt(
                arrow_cast::cast(array, &UInt64)?
                    .as_primitive::<UInt64Type>()
                    .clone(),
            ),
            Float32 | Float64 => Column::Float(
                arrow_cast::cast(array, &Float64)?
                    .as_primitive::<Float64Type>()
                    .clone(),
            ),
            Decimal128(_, _) => Column::Decimal(array.as_primitive::<Decimal128Type>().clone()),
            Utf8 => Column::Str(array.as_string::<i32>().clone()),
            LargeUtf8 => Column::LargeStr(array.as_string::<i64>().clone()),
            Utf8View => Column::StrView(array.as_string_view().clone()),
            Binary => Column::Bin(array.as_binary::<i32>().clone()),
            LargeBinary => Column::LargeBin(array.as_binary::<i64>().clone()),
            BinaryView => Column::BinView(array.as_binary_view().clone()),
            _ => Column::Nested(array.clone()),
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Column::Null(n) => *n,
            Column::Bool(a) => a.len(),
            Column::Int(a) => a.len(),
            Column::UInt(a) => a.len(),
            Column::Float(a) => a.len(),
            Column::Decimal(a) => a.len(),
            Column::Str(a) => a.len(),
            Column::LargeStr(a) => a.len(),
            Column::StrView(a) => a.len(),
            Column::Bin(a) => a.len(),
            Column::LargeBin(a) => a.len(),
            Column::BinView(a) => a.len(),
            Column::Nested(a) => a.len(),
        }
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when row `i` is NULL.
    #[inline]
    pub fn is_null(&self, i: usize) -> bool {
        match self {
            Column::Null(_) => true,
            Column::Bool(a) => a.is_null(i),
            Column::Int(a) => a.is_null(i),
            Column::UInt(a) => a.is_null(i),
            Column::Float(a) => a.is_null(i),
            Column::Decimal(a) => a.is_null(i),
            Column::Str(a) => a.is_null(i),
            Column::LargeStr(a) => a.is_null(i),
            Column::StrView(a) => a.is_null(i),
            Column::Bin(a) => a.is_null(i),
            Column::LargeBin(a) => a.is_null(i),
            Column::BinView(a) => a.is_null(i),
            Column::Nested(a) => a.is_null(i),
        }
    }

    /// Text at row `i` (`None` for NULL or a non-text column).
    #[inline]
    pub fn str_at(&self, i: usize) -> Option<&str> {
        if self.is_null(i) {
            return None;
        }
        match self {
            Column::Str(a) => Some(a.value(i)),
            Column::LargeStr(a) => Some(a.value(i)),
            Column::StrView(a) => Some(a.value(i)),
            _ => None,
        }
    }

    /// Bytes at row `i` (`None` for NULL or a non-binary column).
    #[inline]
    fn bin_at(&self, i: usize) -> Option<&[u8]> {
        if self.is_null(i) {
            return None;
        }
        match self {
            Column::Bin(a) => Some(a.value(i)),
            Column::LargeBin(a) => Some(a.value(i)),
            Column::BinView(a) => Some(a.value(i)),
            _ => None,
        }
    }

    /// Owned value at row `i`.
    pub fn get(&self, i: usize) -> Result<Value> {
        if self.is_null(i) {
            return Ok(Value::Null);
        }
        Ok(match self {
            Column::Null(_) => Value::Null,
            Column::Bool(a) => Value::Bool(a.value(i)),
            Column::Int(a) => Value::Int(a.value(i)),
            Column::UInt(a) => Value::UInt(a.value(i)),
            Column::Float(a) => Value::Float(canonical_f64(a.value(i))),
            Column::Decimal(a) => Value::Decimal(a.value(i)),
            Column::Str(_) | Column::LargeStr(_) | Column::StrView(_) => {
                Value::Str(self.str_at(i).unwrap_or_default().to_string())
            }
            Column::Bin(_) | Column::LargeBin(_) | Column::BinView(_) => {
                Value::Bin(self.bin_at(i).unwrap_or_default().to_vec())
            }
            Column::Nested(a) => Value::from_array(a.as_ref(), i)?,
        })
    }

    /// Compares row `i` with `v` in the canonical order, without allocating for scalar types.
    #[inline]
    pub fn cmp_value(&self, i: usize, v: &Value) -> Result<Ordering> {
        let null = self.is_null(i);
        if null || v.is_null() {
            return Ok(null.cmp(&v.is_null()).reverse());
        }
        Ok(match (self, v) {
            (Column::Bool(a), Value::Bool(b)) => a.value(i).cmp(b),
            (Column::Int(a), Value::Int(b)) => a.value(i).cmp(b),
            (Column::UInt(a), Value::UInt(b)) => a.value(i).cmp(b),
            (Column::Float(a), Value::Float(b)) => cmp_f64(a.value(i), *b),
            (Column::Decimal(a), Value::Decimal(b)) => a.value(i).cmp(b),
            (Column::Str(_) | Column::LargeStr(_) | Column::StrView(_), Value::Str(b)) => self
                .str_at(i)
                .unwrap_or_default()
                .as_bytes()
                .cmp(b.as_bytes()),
            (Column::Bin(_) | Column::LargeBin(_) | Column::BinView(_), Value::Bin(b)) => {
                self.bin_at(i).unwrap_or_default().cmp(b.as_slice())
            }
            _ => self.get(i)?.cmp(v),
        })
    }

    /// Compares row `i` of `self` with row `j` of `other` (same logical type).
    #[inline]
    pub fn cmp_rows(&self, i: usize, other: &Column, j: usize) -> Result<Ordering> {
        let (ni, nj) = (self.is_null(i), other.is_null(j));
        if ni || nj {
            return Ok(nj.cmp(&ni));
        }
        Ok(match (self, other) {
            (Column::Int(a), Column::Int(b)) => a.value(i).cmp(&b.value(j)),
            (Column::Float(a), Column::Float(b)) => cmp_f64(a.value(i), b.value(j)),
            (Column::UInt(a), Column::UInt(b)) => a.value(i).cmp(&b.value(j)),
            (Column::Decimal(a), Column::Decimal(b)) => a.value(i).cmp(&b.value(j)),
            (Column::Bool(a), Column::Bool(b)) => a.value(i).cmp(&b.value(j)),
            _ => match (self.str_at(i), other.str_at(j)) {
                (Some(a), Some(b)) => a.as_bytes().cmp(b.as_bytes()),
                _ => match (self.bin_at(i), other.bin_at(j)) {
                    (Some(a), Some(b)) => a.cmp(b),
                    _ => self.get(i)?.cmp(&other.get(j)?),
                },
            },
        })
    }

    /// Length for the Longest strategy: code points (text), bytes (binary), elements (list).
    pub fn longest_len(&self, function: &str, argument: &str, i: usize) -> Result<u64> {
        if let Some(s) = self.str_at(i) {
            return Ok(s.chars().count() as u64);
        }
        if let Some(b) = self.bin_at(i) {
            return Ok(b.len() as u64);
        }
        match self {
            Column::Nested(a) => match a.data_type() {
                DataType::List(_) => Ok(a.as_list::<i32>().value_length(i) as u64),
                DataType::LargeList(_) => Ok(a.as_list::<i64>().value_length(i) as u64),
                dt => Err(Error::type_mismatch(
                    function,
                    argument,
                    "text, binary or a list",
                    dt,
                )),
            },
            _ => Err(Error::type_mismatch(
                function,
                argument,
                "text, binary or a list",
                self.type_name(),
            )),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Column::Null(_) => "NULL",
            Column::Bool(_) => "boolean",
            Column::Int(_) => "integer",
            Column::UInt(_) => "unsigned integer",
            Column::Float(_) => "float",
            Column::Decimal(_) => "decimal",
            Column::Str(_) | Column::LargeStr(_) | Column::StrView(_) => "text",
            Column::Bin(_) | Column::LargeBin(_) | Column::BinView(_) => "binary",
            Column::Nested(_) => "nested",
        }
    }
}

/// Compares row `i` of `a` with row `j` of `b` in the canonical order.
///
/// # Errors
/// Unsupported types.
pub fn compare(a: &ArrayRef, i: usize, b: &ArrayRef, j: usize) -> Result<Ordering> {
    Column::new("compare", "a", a)?.cmp_rows(i, &Column::new("compare", "b", b)?, j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn nulls_lowest_and_float_rules() {
        let a: ArrayRef = Arc::new(Float64Array::from(vec![
            None,
            Some(f64::NAN),
            Some(-0.0),
            Some(f64::INFINITY),
        ]));
        let c = Column::new("t", "a", &a).unwrap();
        assert_eq!(c.cmp_rows(0, &c, 2).unwrap(), Ordering::Less);
        assert_eq!(c.cmp_rows(1, &c, 3).unwrap(), Ordering::Greater);
        assert_eq!(c.cmp_value(2, &Value::Float(0.0)).unwrap(), Ordering::Equal);
        assert_eq!(
            c.cmp_value(1, &Value::Float(-f64::NAN)).unwrap(),
            Ordering::Equal
        );
        assert_eq!(c.cmp_value(0, &Value::Null).unwrap(), Ordering::Equal);
    }

    #[test]
    fn text_by_bytes() {
        let a: ArrayRef = Arc::new(StringArray::from(vec!["B", "a", "é"]));
        let c = Column::new("t", "a", &a).unwrap();
        assert_eq!(c.cmp_rows(0, &c, 1).unwrap(), Ordering::Less);
        assert_eq!(c.cmp_rows(2, &c, 1).unwrap(), Ordering::Greater);
        assert_eq!(c.longest_len("t", "a", 2).unwrap(), 1);
    }
}
