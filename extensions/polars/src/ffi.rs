//! Polars (polars-arrow) ↔ arrow-rs arrays and fields through the Arrow C data interface.
//!
//! Polars keeps its own Arrow implementation; the kernel uses arrow-rs. Both export and import
//! the C data interface's `ArrowArray` / `ArrowSchema` structs, so a column crosses by moving
//! the exported struct from one library's type to the other's: no buffer is copied, and the
//! producer's release callback frees the buffers when the consumer is done with them.
#![allow(unsafe_code)]

use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use std::sync::Arc;

use arrow_array::{make_array, ArrayRef};
use arrow_schema::Field as ArrowField;
use polars::prelude::*;
use polars_arrow::ffi::{ArrowArray, ArrowSchema};

fn ffi_err(what: &str, e: impl std::fmt::Display) -> PolarsError {
    polars_err!(ComputeError: "polars_crdt: internal error converting {} through the Arrow C data interface: {}", what, e)
}

// SAFETY (both functions below): `ArrowArray`/`FFI_ArrowArray` and `ArrowSchema`/
// `FFI_ArrowSchema` are two Rust spellings of the same `#[repr(C)]` structs defined by the Arrow C
// data interface specification (same fields, same order, same types), so reinterpreting one as
// the other is a move of a plain C struct; `transmute` refuses to compile if the sizes ever
// differ. Ownership moves with the value: the source is consumed, so its release callback runs
// exactly once, from the destination's `Drop`.
fn to_arrow_rs_array(a: ArrowArray) -> FFI_ArrowArray {
    unsafe { std::mem::transmute::<ArrowArray, FFI_ArrowArray>(a) }
}

fn to_arrow_rs_schema(s: ArrowSchema) -> FFI_ArrowSchema {
    unsafe { std::mem::transmute::<ArrowSchema, FFI_ArrowSchema>(s) }
}

fn to_polars_array(a: FFI_ArrowArray) -> ArrowArray {
    unsafe { std::mem::transmute::<FFI_ArrowArray, ArrowArray>(a) }
}

fn to_polars_schema(s: FFI_ArrowSchema) -> ArrowSchema {
    unsafe { std::mem::transmute::<FFI_ArrowSchema, ArrowSchema>(s) }
}

/// An arrow-rs field for a Polars field (logical type: strings as Utf8View, ...).
pub fn field_to_arrow(field: &Field) -> PolarsResult<ArrowField> {
    let pa = field.to_arrow(CompatLevel::newest());
    let schema = to_arrow_rs_schema(polars_arrow::ffi::export_field_to_c(&pa));
    ArrowField::try_from(&schema).map_err(|e| ffi_err("a field", e))
}

/// A Polars field for an arrow-rs field.
pub fn field_from_arrow(field: &ArrowField) -> PolarsResult<Field> {
    let schema = FFI_ArrowSchema::try_from(field).map_err(|e| ffi_err("a field", e))?;
    let schema = to_polars_schema(schema);
    // SAFETY: `schema` was just produced by arrow-rs's exporter and is a valid C schema.
    let pa = unsafe { polars_arrow::ffi::import_field_from_c(&schema)? };
    Ok(Field::from(&pa))
}

/// One chunk of `s` as an arrow-rs array.
pub fn chunk_to_arrow(s: &Series, chunk: usize) -> PolarsResult<ArrayRef> {
    let array = s.to_arrow(chunk, CompatLevel::newest());
    if array.dtype() == &polars_arrow::datatypes::ArrowDataType::Null {
        // polars-arrow exports a buffer for all-NULL arrays that arrow-rs's importer rejects;
        // such an array is only its length.
        return Ok(Arc::new(arrow_array::NullArray::new(array.len())));
    }
    let pa_field =
        polars_arrow::datatypes::Field::new(s.name().clone(), array.dtype().clone(), true);
    let schema = to_arrow_rs_schema(polars_arrow::ffi::export_field_to_c(&pa_field));
    let c_array = to_arrow_rs_array(polars_arrow::ffi::export_array_to_c(array));
    // SAFETY: both structs come from polars-arrow's exporter for the same array and describe it.
    let data =
        unsafe { arrow::ffi::from_ffi(c_array, &schema) }.map_err(|e| ffi_err("an array", e))?;
    Ok(make_array(data))
}

/// `s` as one arrow-rs array (chunks are concatenated only when there is more than one).
pub fn series_to_arrow(s: &Series) -> PolarsResult<ArrayRef> {
    if s.n_chunks() == 1 {
        chunk_to_arrow(s, 0)
    } else {
        chunk_to_arrow(&s.rechunk(), 0)
    }
}

fn array_to_polars(array: &ArrayRef) -> PolarsResult<Box<dyn polars_arrow::array::Array>> {
    let (c_array, c_schema) =
        arrow::ffi::to_ffi(&array.to_data()).map_err(|e| ffi_err("an array", e))?;
    let c_schema = to_polars_schema(c_schema);
    // SAFETY: both structs were just produced by arrow-rs's exporter for `array`.
    let pa_field = unsafe { polars_arrow::ffi::import_field_from_c(&c_schema)? };
    unsafe {
        polars_arrow::ffi::import_array_from_c(to_polars_array(c_array), pa_field.dtype().clone())
    }
}

/// An arrow-rs array as a Polars series named `name`.
pub fn series_from_arrow(name: PlSmallStr, array: &ArrayRef) -> PolarsResult<Series> {
    Series::from_arrow(name, array_to_polars(array)?)
}

/// Arrow-rs arrays of one type as the chunks of one Polars series named `name`.
pub fn series_from_arrow_chunks(name: PlSmallStr, arrays: &[ArrayRef]) -> PolarsResult<Series> {
    let chunks = arrays
        .iter()
        .map(array_to_polars)
        .collect::<PolarsResult<Vec<_>>>()?;
    Series::from_arrow_chunks(name, chunks)
}
