//! Row ids: a blake3 hash of a row's canonical bytes, the leaf of every table digest.
//!
//! `crdt_row_id(key, row)` = blake3 `derive_key("crdt-merge row v1")` over the key's canonical
//! bytes (a composite key, a STRUCT or record, field by field in order) and then the row's (a
//! STRUCT or record, its fields sorted by name, each as name ‖ value; [`super::canonical`]).
//! `crdt_content_id` uses the context `"crdt-merge content v1"` and leaves out the CRDT
//! metadata fields (the row clock `_ts` and tombstone `_deleted` by default, or the names
//! given), so two replicas that hold the same values under different clocks have equal
//! content ids and different row ids.

use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;

use super::canonical::{Encoder, Fields};
use crate::error::{Error, Result};

/// The blake3 context of row ids.
pub const ROW_CONTEXT: &str = "crdt-merge row v1";
/// The blake3 context of content ids.
pub const CONTENT_CONTEXT: &str = "crdt-merge content v1";
/// The metadata fields `crdt_content_id` leaves out when none are named: the default merge
/// spec's row clock and tombstone.
pub const DEFAULT_METADATA: &[&str] = &[
    crate::mergeql::DEFAULT_CLOCK,
    crate::mergeql::DEFAULT_TOMBSTONE,
];

/// Computes the ids of the rows of one batch.
pub struct RowIds<'a> {
    key: Encoder<'a>,
    row: Encoder<'a>,
    row_array: &'a dyn Array,
    hasher: blake3::Hasher,
    buf: Vec<u8>,
}

impl<'a> RowIds<'a> {
    /// Ids of (`key`, `row`) pairs; `content` leaves out the named metadata fields and hashes
    /// under the content context.
    ///
    /// # Errors
    /// `row` is not a STRUCT, or holds a type with no canonical form.
    pub fn new(
        function: &str,
        key: &'a ArrayRef,
        row: &'a ArrayRef,
        content: Option<&[String]>,
    ) -> Result<RowIds<'a>> {
        if !matches!(row.data_type(), DataType::Struct(_) | DataType::Null) {
            return Err(Error::type_mismatch(
                function,
                "row",
                "a row: a STRUCT (DuckDB `t`, `{...}`, `struct_pack`; DataFusion `struct`, \
                 `named_struct`) or a Postgres record (`t`, `ROW(...)`)",
                row.data_type(),
            ));
        }
        let key_enc = Encoder::new(function, "key", key.as_ref(), Fields::Positional)?;
        let mut row_enc = Encoder::new(function, "row", row.as_ref(), Fields::ByName)?;
        if let Some(meta) = content {
            row_enc.retain_fields(|n| !meta.iter().any(|m| m == n));
        }
        Ok(RowIds {
            key: key_enc,
            row: row_enc,
            row_array: row.as_ref(),
            hasher: blake3::Hasher::new_derive_key(if content.is_some() {
                CONTENT_CONTEXT
            } else {
                ROW_CONTEXT
            }),
            buf: Vec::with_capacity(128),
        })
    }

    /// The id of row `i`, or `None` when the row is NULL.
    #[inline]
    pub fn id(&mut self, i: usize) -> Option<[u8; 32]> {
        if self.row_array.is_null(i) {
            return None;
        }
        self.buf.clear();
        self.key.encode(i, &mut self.buf);
        self.row.encode(i, &mut self.buf);
        self.hasher.reset();
        self.hasher.update(&self.buf);
        Some(*self.hasher.finalize().as_bytes())
    }
}

/// The metadata names of a `crdt_content_id` call: the constant `metadata` list (text), or the
/// defaults.
///
/// # Errors
/// Not a list of text.
pub fn metadata_names(function: &str, arg: Option<&ArrayRef>) -> Result<Vec<String>> {
    let Some(a) = arg else {
        return Ok(DEFAULT_METADATA.iter().map(|s| s.to_string()).collect());
    };
    let v = match a.len() {
        0 => crate::Value::Null,
        _ => crate::Value::from_array(a.as_ref(), 0)?,
    };
    match v {
        crate::Value::Null => Ok(Vec::new()),
        crate::Value::List(items) => items
            .into_iter()
            .map(|x| match x {
                crate::Value::Str(s) => Ok(s),
                other => Err(Error::invalid(
                    function,
                    "metadata",
                    "a list of column names (text)",
                    format!("{other:?}"),
                )),
            })
            .collect(),
        other => Err(Error::invalid(
            function,
            "metadata",
            "a list of column names (text), such as ['_ts', '_deleted']",
            format!("{other:?}"),
        )),
    }
}
