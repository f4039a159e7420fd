//! DuckDB vectors ⇄ Arrow arrays.
//!
//! DuckDB hands C API callbacks flat vectors: a data pointer, an optional validity mask (64-bit
//! words, bit set = valid, the same bit order as Arrow's null buffer) and, for nested types,
//! child vectors. [`read`] copies rows `0..n` of a vector into an Arrow array; [`write`] copies
//! an Arrow array into a vector starting at a row offset. Types follow [`crate::types`].

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{
    new_null_array, Array, ArrayRef, ArrowPrimitiveType, BinaryArray, BooleanArray, ListArray,
    PrimitiveArray, StringArray, StructArray, UInt32Array,
};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, TimeUnit};
use libduckdb_sys as ffi;

use crate::types::{self, LogicalType};

/// Reads rows `0..n` of `vector` (whose logical type is `dt`) into an Arrow array.
///
/// # Errors
/// A type outside [`crate::types`].
///
/// # Safety
/// `vector` must be a live, flat DuckDB vector of type `dt` holding at least `n` rows.
pub unsafe fn read(
    vector: ffi::duckdb_vector,
    dt: &DataType,
    n: usize,
) -> Result<ArrayRef, String> {
    // SAFETY (whole function): per the contract, the data pointer addresses `n` values of the
    // physical type that `dt` maps to, and the validity mask (when present) `n` bits.
    let nulls = read_validity(vector, n);
    let data = ffi::duckdb_vector_get_data(vector);
    macro_rules! prim {
        ($t:ty) => {{
            let values =
                std::slice::from_raw_parts(data as *const <$t as ArrowPrimitiveType>::Native, n);
            Arc::new(
                PrimitiveArray::<$t>::new(ScalarBuffer::from(values.to_vec()), nulls)
                    .with_data_type(dt.clone()),
            ) as ArrayRef
        }};
    }
    Ok(match dt {
        DataType::Null => new_null_array(&DataType::Null, n),
        DataType::Boolean => {
            let bytes = std::slice::from_raw_parts(data as *const u8, n);
            let values = BooleanBuffer::collect_bool(n, |i| bytes[i] != 0);
            Arc::new(BooleanArray::new(values, nulls))
        }
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Float32 => prim!(Float32Type),
        DataType::Float64 => prim!(Float64Type),
        DataType::Date32 => prim!(Date32Type),
        DataType::Timestamp(TimeUnit::Second, _) => prim!(TimestampSecondType),
        DataType::Timestamp(TimeUnit::Millisecond, _) => prim!(TimestampMillisecondType),
        DataType::Timestamp(TimeUnit::Microsecond, _) => prim!(TimestampMicrosecondType),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => prim!(TimestampNanosecondType),
        DataType::Decimal128(_, _) => {
            let lt = LogicalType(ffi::duckdb_vector_get_column_type(vector));
            let internal = ffi::duckdb_decimal_internal_type(lt.0);
            let values: Vec<i128> = match internal {
                ffi::DUCKDB_TYPE_DUCKDB_TYPE_SMALLINT => {
                    widen(std::slice::from_raw_parts(data as *const i16, n))
                }
                ffi::DUCKDB_TYPE_DUCKDB_TYPE_INTEGER => {
                    widen(std::slice::from_raw_parts(data as *const i32, n))
                }
                ffi::DUCKDB_TYPE_DUCKDB_TYPE_BIGINT => {
                    widen(std::slice::from_raw_parts(data as *const i64, n))
                }
                _ => {
                    let words = std::slice::from_raw_parts(data as *const ffi::duckdb_hugeint, n);
                    // A UHUGEINT has the same two words; from 2^127 up it would read negative.
                    if ffi::duckdb_get_type_id(lt.0) == ffi::DUCKDB_TYPE_DUCKDB_TYPE_UHUGEINT
                        && words.iter().enumerate().any(|(i, h)| {
                            h.upper < 0 && nulls.as_ref().is_none_or(|m| m.is_valid(i))
                        })
                    {
                        return Err(
                            "expected a UHUGEINT below 2^127 (170141183460469231731687303715884105728), found a larger one"
                                .to_string(),
                        );
                    }
                    words
                        .iter()
                        .map(|h| ((h.upper as i128) << 64) | h.lower as i128)
                        .collect()
                }
            };
            Arc::new(
                PrimitiveArray::<Decimal128Type>::new(ScalarBuffer::from(values), nulls)
                    .with_data_type(dt.clone()),
            )
        }
        DataType::Utf8 | DataType::Binary => {
            let strings = std::slice::from_raw_parts(data as *const ffi::duckdb_string_t, n);
            let mut offsets: Vec<i32> = Vec::with_capacity(n + 1);
            offsets.push(0);
            let mut bytes: Vec<u8> = Vec::new();
            for (i, s) in strings.iter().enumerate() {
                if nulls.as_ref().is_none_or(|m| m.is_valid(i)) {
                    bytes.extend_from_slice(string_bytes(s));
                }
                let end = i32::try_from(bytes.len())
                    .map_err(|_| "more than 2 GiB of text in one vector".to_string())?;
                offsets.push(end);
            }
            let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
            let values = Buffer::from_vec(bytes);
            if dt == &DataType::Utf8 {
                // SAFETY: DuckDB validates VARCHAR as UTF-8 on entry, and offsets are monotonic.
                Arc::new(StringArray::new_unchecked(offsets, values, nulls))
            } else {
                Arc::new(BinaryArray::new(offsets, values, nulls))
            }
        }
        DataType::List(field) => {
            let entries = std::slice::from_raw_parts(data as *const ffi::duckdb_list_entry, n);
            let child_len = ffi::duckdb_list_vector_get_size(vector) as usize;
            let child = read(
                ffi::duckdb_list_vector_get_child(vector),
                field.data_type(),
                child_len,
            )?;
            let mut offsets: Vec<i32> = Vec::with_capacity(n + 1);
            offsets.push(0);
            let mut take: Vec<u32> = Vec::with_capacity(child_len);
            let mut contiguous = true;
            for (i, e) in entries.iter().enumerate() {
                if nulls.as_ref().is_none_or(|m| m.is_valid(i)) {
                    if e.offset as usize != take.len() {
                        contiguous = false;
                    }
                    let end = e.offset + e.length;
                    if end as usize > child_len {
                        return Err("list entry outside its child vector".into());
                    }
                    take.extend(e.offset as u32..end as u32);
                }
                offsets.push(take.len() as i32);
            }
            let values = if contiguous && take.len() == child_len {
                child
            } else {
                arrow_select::take::take(child.as_ref(), &UInt32Array::from(take), None)
                    .map_err(|e| e.to_string())?
            };
            list(field.name(), offsets, values, nulls)?
        }
        DataType::FixedSizeList(field, size) => {
            let size = *size as usize;
            let child_len = n * size;
            let values = read(
                ffi::duckdb_array_vector_get_child(vector),
                field.data_type(),
                child_len,
            )?;
            let offsets: Vec<i32> = (0..=n).map(|i| (i * size) as i32).collect();
            list(field.name(), offsets, values, nulls)?
        }
        DataType::Interval(_) => {
            let parts = std::slice::from_raw_parts(data as *const ffi::duckdb_interval, n);
            const DAY: i128 = 86_400_000_000;
            let total = parts
                .iter()
                .map(|p| (p.months as i128 * 30 + p.days as i128) * DAY + p.micros as i128);
            let total = PrimitiveArray::<Decimal128Type>::from_iter_values(total)
                .with_data_type(types::HUGEINT);
            let months =
                PrimitiveArray::<Int32Type>::from_iter_values(parts.iter().map(|p| p.months));
            let days = PrimitiveArray::<Int32Type>::from_iter_values(parts.iter().map(|p| p.days));
            let micros =
                PrimitiveArray::<Int64Type>::from_iter_values(parts.iter().map(|p| p.micros));
            let DataType::Struct(fields) = types::interval_struct() else {
                return Err("internal error: the INTERVAL stand-in is not a struct".into());
            };
            Arc::new(
                StructArray::try_new(
                    fields,
                    vec![
                        Arc::new(total),
                        Arc::new(months),
                        Arc::new(days),
                        Arc::new(micros),
                    ],
                    nulls,
                )
                .map_err(|e| e.to_string())?,
            )
        }
        DataType::Struct(fields) => {
            let mut children = Vec::with_capacity(fields.len());
            for (i, f) in fields.iter().enumerate() {
                let child = ffi::duckdb_struct_vector_get_child(vector, i as ffi::idx_t);
                children.push(read(child, f.data_type(), n)?);
            }
            Arc::new(
                StructArray::try_new(fields.clone(), children, nulls).map_err(|e| e.to_string())?,
            )
        }
        other => return Err(format!("cannot read DuckDB vectors as {other}")),
    })
}

/// A list array over `values`, whose item type is the values' own (a stand-in such as INTERVAL
/// or ARRAY reads as another type than the one it was asked as).
fn list(
    name: &str,
    offsets: Vec<i32>,
    values: ArrayRef,
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef, String> {
    let field = Arc::new(Field::new(name, values.data_type().clone(), true));
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    Ok(Arc::new(
        ListArray::try_new(field, offsets, values, nulls).map_err(|e| e.to_string())?,
    ))
}

fn widen<T: Copy + Into<i128>>(values: &[T]) -> Vec<i128> {
    values.iter().map(|v| (*v).into()).collect()
}

/// The bytes of a DuckDB string (inlined when at most 12 bytes long).
#[inline]
fn string_bytes(s: &ffi::duckdb_string_t) -> &[u8] {
    // SAFETY: both union variants start with the length; strings of at most 12 bytes are
    // inlined, longer ones point to `length` bytes that outlive the vector's callback.
    unsafe {
        let len = s.value.inlined.length as usize;
        if len <= 12 {
            std::slice::from_raw_parts(s.value.inlined.inlined.as_ptr() as *const u8, len)
        } else {
            std::slice::from_raw_parts(s.value.pointer.ptr as *const u8, len)
        }
    }
}

/// Copies the first `n` bits of the vector's validity mask, or `None` when all rows are valid.
unsafe fn read_validity(vector: ffi::duckdb_vector, n: usize) -> Option<NullBuffer> {
    // SAFETY: a non-null mask holds at least `n` bits (caller's contract on `vector`).
    let mask = ffi::duckdb_vector_get_validity(vector);
    if mask.is_null() || n == 0 {
        return None;
    }
    let words = std::slice::from_raw_parts(mask as *const u64, n.div_ceil(64));
    let buffer = Buffer::from_vec(words.to_vec());
    let nulls = NullBuffer::new(BooleanBuffer::new(buffer, 0, n));
    (nulls.null_count() > 0).then_some(nulls)
}

/// Writes `array` into rows `offset..offset + array.len()` of `vector`.
///
/// # Errors
/// An array type with no DuckDB counterpart, or one that does not match the vector's type.
///
/// # Safety
/// `vector` must be a live, writable flat DuckDB vector whose logical type corresponds to
/// `array.data_type()` with capacity for `offset + array.len()` rows.
pub unsafe fn write(
    vector: ffi::duckdb_vector,
    array: &dyn Array,
    offset: usize,
) -> Result<(), String> {
    // SAFETY (whole function): per the contract the vector has room for the rows written.
    let n = array.len();
    write_validity(vector, array, offset);
    let data = ffi::duckdb_vector_get_data(vector);
    macro_rules! prim {
        ($t:ty) => {{
            let src = array.as_primitive::<$t>().values();
            let dst = (data as *mut <$t as ArrowPrimitiveType>::Native).add(offset);
            std::ptr::copy_nonoverlapping(src.as_ptr(), dst, n);
        }};
    }
    match array.data_type() {
        DataType::Null => {}
        DataType::Boolean => {
            let a = array.as_boolean();
            let dst = (data as *mut bool).add(offset);
            for i in 0..n {
                *dst.add(i) = a.value(i);
            }
        }
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Float32 => prim!(Float32Type),
        DataType::Float64 => prim!(Float64Type),
        DataType::Date32 => prim!(Date32Type),
        DataType::Timestamp(TimeUnit::Second, _) => prim!(TimestampSecondType),
        DataType::Timestamp(TimeUnit::Millisecond, _) => prim!(TimestampMillisecondType),
        DataType::Timestamp(TimeUnit::Microsecond, _) => prim!(TimestampMicrosecondType),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => prim!(TimestampNanosecondType),
        DataType::Decimal128(_, _) => {
            let src = array.as_primitive::<Decimal128Type>().values();
            let lt = LogicalType(ffi::duckdb_vector_get_column_type(vector));
            match ffi::duckdb_decimal_internal_type(lt.0) {
                ffi::DUCKDB_TYPE_DUCKDB_TYPE_SMALLINT => narrow::<i16>(src, data, offset),
                ffi::DUCKDB_TYPE_DUCKDB_TYPE_INTEGER => narrow::<i32>(src, data, offset),
                ffi::DUCKDB_TYPE_DUCKDB_TYPE_BIGINT => narrow::<i64>(src, data, offset),
                _ => {
                    let dst = (data as *mut ffi::duckdb_hugeint).add(offset);
                    for (i, v) in src.iter().enumerate() {
                        *dst.add(i) = ffi::duckdb_hugeint {
                            lower: *v as u64,
                            upper: (*v >> 64) as i64,
                        };
                    }
                }
            }
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            for i in 0..n {
                if a.is_valid(i) {
                    let s = a.value(i);
                    ffi::duckdb_vector_assign_string_element_len(
                        vector,
                        (offset + i) as ffi::idx_t,
                        s.as_ptr().cast(),
                        s.len() as ffi::idx_t,
                    );
                }
            }
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            for i in 0..n {
                if a.is_valid(i) {
                    let s = a.value(i);
                    ffi::duckdb_vector_assign_string_element_len(
                        vector,
                        (offset + i) as ffi::idx_t,
                        s.as_ptr().cast(),
                        s.len() as ffi::idx_t,
                    );
                }
            }
        }
        DataType::Utf8View | DataType::LargeUtf8 | DataType::BinaryView | DataType::LargeBinary => {
            let target = if matches!(array.data_type(), DataType::Utf8View | DataType::LargeUtf8) {
                DataType::Utf8
            } else {
                DataType::Binary
            };
            let cast = arrow_cast_to(array, &target)?;
            return write(vector, cast.as_ref(), offset);
        }
        DataType::List(_) => {
            let a = array.as_list::<i32>();
            let base = ffi::duckdb_list_vector_get_size(vector) as usize;
            let offsets = a.value_offsets();
            let first = offsets[0] as usize;
            let last = offsets[n] as usize;
            let values = a.values().slice(first, last - first);
            if ffi::duckdb_list_vector_reserve(vector, (base + values.len()) as ffi::idx_t)
                != ffi::duckdb_state_DuckDBSuccess
            {
                return Err("cannot grow a DuckDB list vector".into());
            }
            let child = ffi::duckdb_list_vector_get_child(vector);
            write(child, values.as_ref(), base)?;
            if ffi::duckdb_list_vector_set_size(vector, (base + values.len()) as ffi::idx_t)
                != ffi::duckdb_state_DuckDBSuccess
            {
                return Err("cannot grow a DuckDB list vector".into());
            }
            // The list data pointer may not move on reserve (entries live in the parent).
            let entries =
                (ffi::duckdb_vector_get_data(vector) as *mut ffi::duckdb_list_entry).add(offset);
            for i in 0..n {
                *entries.add(i) = ffi::duckdb_list_entry {
                    offset: (base + offsets[i] as usize - first) as u64,
                    length: (offsets[i + 1] - offsets[i]) as u64,
                };
            }
        }
        DataType::Struct(_) => {
            let a = array.as_struct();
            for (i, c) in a.columns().iter().enumerate() {
                let child = ffi::duckdb_struct_vector_get_child(vector, i as ffi::idx_t);
                write(child, c.as_ref(), offset)?;
            }
        }
        other => {
            return Err(format!(
                "cannot write {other} into a DuckDB vector (expected one of the types in {})",
                types::sql_name(other)
            ))
        }
    }
    Ok(())
}

fn arrow_cast_to(array: &dyn Array, target: &DataType) -> Result<ArrayRef, String> {
    let owned = arrow_array::make_array(array.to_data());
    arrow_cast::cast(&owned, target).map_err(|e| e.to_string())
}

/// Writes decimals to a narrower DuckDB storage type (the declared width guarantees they fit).
unsafe fn narrow<T: TryFrom<i128> + Default + Copy>(
    src: &[i128],
    data: *mut std::ffi::c_void,
    offset: usize,
) {
    // SAFETY: the caller's contract on `write` gives room for `src.len()` values at `offset`.
    let dst = (data as *mut T).add(offset);
    for (i, v) in src.iter().enumerate() {
        *dst.add(i) = T::try_from(*v).unwrap_or_default();
    }
}

/// Marks null rows invalid (and valid rows valid) in rows `offset..offset + array.len()`.
unsafe fn write_validity(vector: ffi::duckdb_vector, array: &dyn Array, offset: usize) {
    // SAFETY: the mask is made writable first and covers the vector's capacity.
    let Some(nulls) = array.logical_nulls() else {
        let mask = ffi::duckdb_vector_get_validity(vector);
        if !mask.is_null() {
            for i in 0..array.len() {
                let row = offset + i;
                *mask.add(row / 64) |= 1u64 << (row % 64);
            }
        }
        return;
    };
    ffi::duckdb_vector_ensure_validity_writable(vector);
    let mask = ffi::duckdb_vector_get_validity(vector);
    for i in 0..array.len() {
        let row = offset + i;
        if nulls.is_valid(i) {
            *mask.add(row / 64) |= 1u64 << (row % 64);
        } else {
            *mask.add(row / 64) &= !(1u64 << (row % 64));
        }
    }
}
