//! The table payload of a signed table delta: one author's batch of rows in one canonical byte
//! encoding, defined here because the kernel has no canonical table-delta encoding yet (its
//! wire module encodes CRDT states, not rows). When the kernel gains one, the gate switches to
//! it under a new payload version.
//!
//! ```text
//! payload := "E4TB" | version u8 (1) | schema | n_rows u64 | rows
//! schema  := n_cols u16 | n_key u16 | clock_col u16 | n_cols × (name_len u16 | UTF-8 | type u8)
//! type    := 1 int64 | 2 float64 | 3 utf8 | 4 boolean | 5 binary
//! row     := n_cols × cell;  cell := 0 (NULL) | 1 value
//! value   := int64: i64 BE | float64: f64 bits BE (NaN only as 0x7ff8000000000000)
//!          | utf8 / binary: u32 BE length | bytes | boolean: 0 or 1
//! ```
//!
//! The first `n_key` columns are the key (never NULL); `clock_col` is an int64 column outside
//! the key (never NULL); names are distinct and non-empty. Rows are in strictly increasing
//! order of their encoded key cells, so keys are unique and the order is canonical. The schema
//! hash is `derive_key("crdt-merge e4 table schema v1", schema bytes)`.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};

use crate::codec::Reader;
use crate::delta::{payload_hash, DeltaHeader, Kind, Rule};
use crate::error::{Result, TrustError};
use crate::hash::contexts;

/// Column types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColType {
    /// 64-bit integers.
    Int64,
    /// 64-bit floats.
    Float64,
    /// UTF-8 text.
    Utf8,
    /// Booleans.
    Boolean,
    /// Bytes.
    Binary,
}

impl ColType {
    fn code(self) -> u8 {
        match self {
            ColType::Int64 => 1,
            ColType::Float64 => 2,
            ColType::Utf8 => 3,
            ColType::Boolean => 4,
            ColType::Binary => 5,
        }
    }

    fn from_code(c: u8) -> Option<ColType> {
        [
            ColType::Int64,
            ColType::Float64,
            ColType::Utf8,
            ColType::Boolean,
            ColType::Binary,
        ]
        .into_iter()
        .find(|t| t.code() == c)
    }

    fn arrow(self) -> DataType {
        match self {
            ColType::Int64 => DataType::Int64,
            ColType::Float64 => DataType::Float64,
            ColType::Utf8 => DataType::Utf8,
            ColType::Boolean => DataType::Boolean,
            ColType::Binary => DataType::Binary,
        }
    }
}

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// NULL.
    Null,
    /// An int64.
    Int(i64),
    /// A float64.
    Float(f64),
    /// Text.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// Bytes.
    Bytes(Vec<u8>),
}

/// A batch of rows.
#[derive(Clone, Debug, PartialEq)]
pub struct TablePayload {
    /// Column names and types; the first `n_key` are the key.
    pub columns: Vec<(String, ColType)>,
    /// Number of key columns (≥ 1).
    pub n_key: usize,
    /// Index of the int64 clock column (not a key column).
    pub clock_col: usize,
    /// Rows, each one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

fn put_cell(out: &mut Vec<u8>, c: &Cell) {
    match c {
        Cell::Null => out.push(0),
        Cell::Int(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_be_bytes());
        }
        Cell::Float(v) => {
            out.push(1);
            let bits = if v.is_nan() {
                f64::NAN.to_bits()
            } else {
                v.to_bits()
            };
            out.extend_from_slice(&bits.to_be_bytes());
        }
        Cell::Str(s) => {
            out.push(1);
            crate::codec::put_bytes32(out, s.as_bytes());
        }
        Cell::Bytes(b) => {
            out.push(1);
            crate::codec::put_bytes32(out, b);
        }
        Cell::Bool(b) => {
            out.push(1);
            out.push(*b as u8);
        }
    }
}

impl TablePayload {
    /// A payload, canonicalised: rows sorted by key and checked.
    ///
    /// # Errors
    /// A schema or row the canonical form does not allow (named).
    pub fn new(
        columns: Vec<(String, ColType)>,
        n_key: usize,
        clock_col: usize,
        mut rows: Vec<Vec<Cell>>,
    ) -> Result<TablePayload> {
        let mut p = TablePayload {
            columns,
            n_key,
            clock_col,
            rows: Vec::new(),
        };
        rows.sort_by_cached_key(|r| p.key_bytes(r));
        p.rows = rows;
        let bytes = p.encode();
        TablePayload::decode(&bytes).map_err(|e| TrustError::Invalid(e.to_string()))
    }

    fn key_bytes(&self, row: &[Cell]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in row.iter().take(self.n_key) {
            put_cell(&mut out, c);
        }
        out
    }

    /// The schema section's bytes.
    pub fn schema_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.columns.len() as u16).to_be_bytes());
        out.extend_from_slice(&(self.n_key as u16).to_be_bytes());
        out.extend_from_slice(&(self.clock_col as u16).to_be_bytes());
        for (name, t) in &self.columns {
            out.extend_from_slice(&(name.len() as u16).to_be_bytes());
            out.extend_from_slice(name.as_bytes());
            out.push(t.code());
        }
        out
    }

    /// The schema hash.
    pub fn schema_hash(&self) -> [u8; 32] {
        blake3::derive_key(contexts::TABLE_SCHEMA, &self.schema_bytes())
    }

    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = b"E4TB\x01".to_vec();
        out.extend_from_slice(&self.schema_bytes());
        out.extend_from_slice(&(self.rows.len() as u64).to_be_bytes());
        for r in &self.rows {
            for c in r {
                put_cell(&mut out, c);
            }
        }
        out
    }

    /// The payload hash of the canonical bytes.
    pub fn hash(&self) -> [u8; 32] {
        payload_hash(&self.encode())
    }

    /// Smallest and largest row clock (`(0, 0)` without rows).
    pub fn clock_range(&self) -> (u64, u64) {
        let clocks = self.rows.iter().map(|r| match r[self.clock_col] {
            Cell::Int(v) => v as u64,
            _ => 0,
        });
        let (mut lo, mut hi) = (u64::MAX, 0);
        for c in clocks {
            lo = lo.min(c);
            hi = hi.max(c);
        }
        if self.rows.is_empty() {
            (0, 0)
        } else {
            (lo, hi)
        }
    }

    /// Decodes canonical bytes (the `table payload` decoder).
    ///
    /// # Errors
    /// Every non-canonical form, with its offset.
    pub fn decode(bytes: &[u8]) -> Result<TablePayload> {
        Ok(TablePayload::parse(bytes, true)?.0)
    }

    /// Checks canonical bytes without building rows: the schema (no rows) and the smallest
    /// and largest clock as unsigned numbers (what the rules compare with the header).
    ///
    /// # Errors
    /// As [`TablePayload::decode`].
    pub fn scan(bytes: &[u8]) -> Result<(TablePayload, Option<(u64, u64)>)> {
        TablePayload::parse(bytes, false)
    }

    fn parse(bytes: &[u8], keep: bool) -> Result<(TablePayload, Option<(u64, u64)>)> {
        let mut clocks: Option<(u64, u64)> = None;
        let mut r = Reader::new("table payload", bytes);
        if r.take(4, "magic")? != b"E4TB" {
            return Err(r.err(0, "magic `E4TB` missing"));
        }
        if r.u8("version")? != 1 {
            return Err(r.err(4, "version is not 1"));
        }
        let at = r.offset();
        let n_cols = r.u16("n_cols")? as usize;
        let n_key = r.u16("n_key")? as usize;
        let clock_col = r.u16("clock_col")? as usize;
        if n_key == 0 || n_key >= n_cols || clock_col < n_key || clock_col >= n_cols {
            return Err(r.err(
                at,
                format!("n_cols {n_cols}, n_key {n_key}, clock_col {clock_col}: need 1 ≤ n_key ≤ clock_col < n_cols"),
            ));
        }
        let mut columns: Vec<(String, ColType)> = Vec::with_capacity(n_cols);
        for _ in 0..n_cols {
            let at = r.offset();
            let n = r.u16("name_len")? as usize;
            let name = std::str::from_utf8(r.take(n, "name")?)
                .map_err(|_| r.err(at + 2, "column name is not UTF-8"))?;
            if name.is_empty() || columns.iter().any(|(c, _)| c == name) {
                return Err(r.err(at, format!("column name `{name}` empty or repeated")));
            }
            let at = r.offset();
            let t = r.u8("type")?;
            let t = ColType::from_code(t)
                .ok_or_else(|| r.err(at, format!("unknown column type {t}")))?;
            columns.push((name.to_string(), t));
        }
        if columns[clock_col].1 != ColType::Int64 {
            return Err(r.err(at, "the clock column is not int64"));
        }
        let at = r.offset();
        let n_rows = r.u64("n_rows")?;
        // Every row takes at least one byte per column.
        if n_rows.saturating_mul(n_cols as u64) > (bytes.len() - r.offset()) as u64 {
            return Err(r.err(at, format!("{n_rows} rows cannot fit in the bytes left")));
        }
        let mut rows = Vec::with_capacity(if keep { n_rows as usize } else { 0 });
        let mut last_key: Option<&[u8]> = None;
        for _ in 0..n_rows {
            let key_at = r.offset();
            let mut row = Vec::with_capacity(if keep { n_cols } else { 0 });
            for (i, (name, t)) in columns.iter().enumerate() {
                let at = r.offset();
                let cell = if !r.bool("cell flag")? {
                    if i < n_key || i == clock_col {
                        return Err(r.err(at, format!("NULL in key or clock column `{name}`")));
                    }
                    Cell::Null
                } else {
                    match t {
                        ColType::Int64 => {
                            let v = r.u64(name)?;
                            if i == clock_col {
                                clocks =
                                    Some(clocks.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
                            }
                            Cell::Int(v as i64)
                        }
                        ColType::Float64 => {
                            let at = r.offset();
                            let v = f64::from_bits(r.u64(name)?);
                            if v.is_nan() && v.to_bits() != f64::NAN.to_bits() {
                                return Err(r.err(at, "NaN not in its canonical encoding"));
                            }
                            Cell::Float(v)
                        }
                        ColType::Utf8 => {
                            let at = r.offset();
                            let b = r.bytes32(name, usize::MAX)?;
                            let text = std::str::from_utf8(b)
                                .map_err(|_| r.err(at + 4, "text is not UTF-8"))?;
                            if keep {
                                Cell::Str(text.to_string())
                            } else {
                                Cell::Null
                            }
                        }
                        ColType::Binary => {
                            let b = r.bytes32(name, usize::MAX)?;
                            if keep {
                                Cell::Bytes(b.to_vec())
                            } else {
                                Cell::Null
                            }
                        }
                        ColType::Boolean => Cell::Bool(r.bool(name)?),
                    }
                };
                if keep {
                    row.push(cell);
                }
                if i + 1 == n_key {
                    let key = &bytes[key_at..r.offset()];
                    if last_key.is_some_and(|l| l >= key) {
                        return Err(r.err(key_at, "rows not in strictly increasing key order"));
                    }
                    last_key = Some(key);
                }
            }
            if keep {
                rows.push(row);
            }
        }
        r.finish()?;
        Ok((
            TablePayload {
                columns,
                n_key,
                clock_col,
                rows,
            },
            clocks,
        ))
    }

    /// The rows as one Arrow batch (column names and types as declared).
    ///
    /// # Errors
    /// Never for a decoded payload (a cell of the wrong type is an invalid argument).
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for (i, (name, t)) in self.columns.iter().enumerate() {
            let cells = self.rows.iter().map(|r| &r[i]);
            let wrong =
                || TrustError::Invalid(format!("a cell of column `{name}` has the wrong type"));
            let array: ArrayRef = match t {
                ColType::Int64 => Arc::new(Int64Array::from(
                    cells
                        .map(|c| match c {
                            Cell::Null => Ok(None),
                            Cell::Int(v) => Ok(Some(*v)),
                            _ => Err(wrong()),
                        })
                        .collect::<Result<Vec<_>>>()?,
                )),
                ColType::Float64 => Arc::new(Float64Array::from(
                    cells
                        .map(|c| match c {
                            Cell::Null => Ok(None),
                            Cell::Float(v) => Ok(Some(*v)),
                            _ => Err(wrong()),
                        })
                        .collect::<Result<Vec<_>>>()?,
                )),
                ColType::Utf8 => Arc::new(StringArray::from(
                    cells
                        .map(|c| match c {
                            Cell::Null => Ok(None),
                            Cell::Str(v) => Ok(Some(v.as_str())),
                            _ => Err(wrong()),
                        })
                        .collect::<Result<Vec<_>>>()?,
                )),
                ColType::Binary => Arc::new(BinaryArray::from(
                    cells
                        .map(|c| match c {
                            Cell::Null => Ok(None),
                            Cell::Bytes(v) => Ok(Some(v.as_slice())),
                            _ => Err(wrong()),
                        })
                        .collect::<Result<Vec<_>>>()?,
                )),
                ColType::Boolean => Arc::new(BooleanArray::from(
                    cells
                        .map(|c| match c {
                            Cell::Null => Ok(None),
                            Cell::Bool(v) => Ok(Some(*v)),
                            _ => Err(wrong()),
                        })
                        .collect::<Result<Vec<_>>>()?,
                )),
            };
            arrays.push(array);
        }
        let fields: Vec<Field> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (n, t))| Field::new(n, t.arrow(), i >= self.n_key && i != self.clock_col))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .map_err(|e| TrustError::Invalid(e.to_string()))
    }
}

/// A table payload decoded once, at admission, for the gate's merge: its schema (no rows) and
/// its rows as Arrow.
#[derive(Clone, Debug)]
pub(crate) struct DecodedTable {
    /// Columns, key count and clock column (`rows` is empty).
    pub schema: TablePayload,
    /// The rows.
    pub batch: RecordBatch,
}

/// The payload rules `payload` (which hashes to the signed hash) breaks under `header`.
pub(crate) fn payload_rules(header: &DeltaHeader, payload: &[u8]) -> Vec<Rule> {
    // A scan, not a decode: the rules need the schema and the clock range, not the rows.
    rules_of(header, payload, false).0
}

/// [`payload_rules`] from one full decode, and the decoded rows when the payload is a
/// canonical table payload: what a batch insert keeps so the gate's merge does not parse the
/// same bytes a second time.
pub(crate) fn payload_rules_decoded(
    header: &DeltaHeader,
    payload: &[u8],
) -> (Vec<Rule>, Option<DecodedTable>) {
    let (rules, table) = rules_of(header, payload, true);
    (rules, table.and_then(|p| DecodedTable::of(p).ok()))
}

impl DecodedTable {
    /// The payload's rows as Arrow, its schema kept without them.
    pub(crate) fn of(mut p: TablePayload) -> Result<DecodedTable> {
        let batch = p.to_record_batch()?;
        p.rows = Vec::new();
        Ok(DecodedTable { schema: p, batch })
    }
}

fn rules_of(header: &DeltaHeader, payload: &[u8], keep: bool) -> (Vec<Rule>, Option<TablePayload>) {
    let mut out = Vec::new();
    if payload.len() as u64 != header.payload_len {
        out.push(Rule::PayloadLength);
    }
    if header.kind != Kind::TableDelta {
        return (out, None);
    }
    match TablePayload::parse(payload, keep) {
        Err(_) => {
            out.push(Rule::PayloadEncoding);
            (out, None)
        }
        Ok((p, clocks)) => {
            if p.schema_hash() != header.schema {
                out.push(Rule::PayloadSchema);
            }
            let outside = clocks.is_some_and(|(lo, hi)| lo < header.hlc_min || hi > header.hlc_max);
            if outside {
                out.push(Rule::PayloadClock);
            }
            (out, keep.then_some(p))
        }
    }
}
