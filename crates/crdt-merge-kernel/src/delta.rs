//! Table deltas: the rows that take one version of a table to another, as an ordinary relation
//! of row states (design.md §4: merging a delta is merging a replica).
//!
//! [`compute`]`(old, new)` keeps every row of `new` whose key `old` lacks or whose cells differ
//! (cells compare by their canonical bytes, so an INTEGER and a BIGINT of one value are equal),
//! with the tombstone column `false` unless `new` says otherwise, and one tombstone row per key
//! only `old` has: its key, a tombstone clock, `true`, and NULL elsewhere. A delta is then
//! applied with the table's own join ([`crate::table::merge`] with the tombstone enabled), so
//!
//! * `apply(base, d)` is `merge(base, d)`: a join, idempotent, in any order with other deltas;
//! * `compose(d1, d2, ...)` is `merge(d1, d2, ...)`: associative and commutative, unlike the
//!   Python library's `compose_deltas`, whose sequential "net effect" depends on the order;
//! * `apply(old, compute(old, new))` holds `new`'s rows wherever `new`'s clocks are not older
//!   than `old`'s (a delta never rolls a newer write back: that is the join's choice, not the
//!   delta's).
//!
//! The tombstone clock is the caller's `delete_clock` when given, otherwise the greater of
//! `new`'s greatest clock and the deleted row's own clock: never 0 or older than the row it
//! deletes, and a tie with that row goes to the delete (as the table merge breaks such ties).
//! Rows leave in the canonical order of their keys, so equal inputs give equal deltas.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow_array::{
    new_null_array, Array, ArrayRef, BooleanArray, RecordBatch, StructArray, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use arrow_select::concat::concat_batches;
use arrow_select::take::take_record_batch;

use crate::digest::canonical::{Encoder, Fields};
use crate::error::{Error, Result};
use crate::order::Column;

const F: &str = "crdt_delta";

/// The columns a delta needs named.
#[derive(Debug, Clone)]
pub struct DeltaColumns<'a> {
    /// Key column(s).
    pub key: &'a [String],
    /// The row clock.
    pub clock: &'a str,
    /// The tombstone column (added as BOOLEAN when `new` has none).
    pub tombstone: &'a str,
}

/// What [`compute`] found.
#[derive(Debug, Clone)]
pub struct Delta {
    /// The delta's rows, in key order: `new`'s schema (every field nullable), plus the
    /// tombstone column when `new` lacks it.
    pub batch: RecordBatch,
    /// Keys only `new` has.
    pub added: usize,
    /// Keys both have, with different cells.
    pub modified: usize,
    /// Keys only `old` has (tombstone rows).
    pub removed: usize,
    /// Keys with equal rows on both sides (left out).
    pub unchanged: usize,
}

fn column_of<'b>(batch: &'b RecordBatch, name: &str, side: &str) -> Result<&'b ArrayRef> {
    let i = batch.schema().index_of(name).map_err(|_| {
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        Error::invalid(
            F,
            side,
            format!("a column `{name}`"),
            format!("the columns {}", names.join(", ")),
        )
    })?;
    Ok(batch.column(i))
}

/// The key of every row as canonical bytes (equal across integer widths), checking that keys
/// are unique and not NULL.
fn keys(batch: &RecordBatch, key: &[String], side: &str) -> Result<Vec<Vec<u8>>> {
    let mut cols = Vec::with_capacity(key.len());
    for k in key {
        let a = column_of(batch, k, side)?;
        if a.null_count() > 0 {
            return Err(Error::invalid(
                F,
                side,
                format!("a key `{k}` without NULLs"),
                "NULL",
            ));
        }
        cols.push((
            Arc::new(Field::new(k, a.data_type().clone(), true)),
            a.clone(),
        ));
    }
    let k: ArrayRef = Arc::new(StructArray::from(cols));
    let enc = Encoder::new(F, side, k.as_ref(), Fields::Positional)?;
    let out: Vec<Vec<u8>> = (0..batch.num_rows())
        .map(|i| {
            let mut b = Vec::new();
            enc.encode(i, &mut b);
            b
        })
        .collect();
    let mut sorted: Vec<&Vec<u8>> = out.iter().collect();
    sorted.sort();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::invalid(
            F,
            side,
            format!(
                "one row per key ({}); merge the table first",
                key.join(", ")
            ),
            "two rows with one key",
        ));
    }
    Ok(out)
}

/// `batch` with every column of `names` (NULL where it has none), for comparing rows.
fn aligned(batch: &RecordBatch, names: &[String]) -> ArrayRef {
    let cols: Vec<(Arc<Field>, ArrayRef)> = names
        .iter()
        .map(|n| match batch.schema().index_of(n) {
            Ok(i) => {
                let a = batch.column(i).clone();
                (Arc::new(Field::new(n, a.data_type().clone(), true)), a)
            }
            Err(_) => (
                Arc::new(Field::new(n, DataType::Null, true)),
                new_null_array(&DataType::Null, batch.num_rows()),
            ),
        })
        .collect();
    if cols.is_empty() {
        return new_null_array(&DataType::Null, batch.num_rows());
    }
    Arc::new(StructArray::from(cols))
}

/// A hash of each row's cells other than the key, by column name (so column order does not
/// matter and a column one side lacks reads as NULL).
fn row_hashes(batch: &RecordBatch, key: &[String], names: &[String]) -> Result<Vec<[u8; 32]>> {
    let row = aligned(batch, names);
    let mut enc = Encoder::new(F, "row", row.as_ref(), Fields::ByName)?;
    enc.retain_fields(|n| !key.iter().any(|k| k == n));
    let mut buf = Vec::new();
    Ok((0..batch.num_rows())
        .map(|i| {
            buf.clear();
            enc.encode(i, &mut buf);
            *blake3::hash(&buf).as_bytes()
        })
        .collect())
}

/// The delta from `old` to `new` (see the module docs). `delete_clock`, when given, is a
/// one-row array of the clock's type.
///
/// # Errors
/// A missing key or clock column, NULL or repeated keys, a key or clock whose type differs
/// between the sides beyond what a cast keeps, a `delete_clock` of another type.
pub fn compute(
    old: &RecordBatch,
    new: &RecordBatch,
    cols: &DeltaColumns<'_>,
    delete_clock: Option<&ArrayRef>,
) -> Result<Delta> {
    let (ko, kn) = (keys(old, cols.key, "old")?, keys(new, cols.key, "new")?);
    let mut names: Vec<String> = old
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for f in new.schema().fields() {
        if !names.contains(f.name()) {
            names.push(f.name().clone());
        }
    }
    let (io, inew) = (
        row_hashes(old, cols.key, &names)?,
        row_hashes(new, cols.key, &names)?,
    );
    let mut by_key: std::collections::HashMap<&[u8], usize> = ko
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_slice(), i))
        .collect();
    // (key bytes, new row) for changed rows; (key bytes, old row) for deleted ones.
    let mut kept: Vec<(&[u8], usize)> = Vec::new();
    let (mut added, mut modified, mut unchanged) = (0, 0, 0);
    for (j, k) in kn.iter().enumerate() {
        match by_key.remove(k.as_slice()) {
            None => {
                added += 1;
                kept.push((k, j));
            }
            Some(i) if io[i] != inew[j] => {
                modified += 1;
                kept.push((k, j));
            }
            Some(_) => unchanged += 1,
        }
    }
    let mut gone: Vec<(&[u8], usize)> = by_key.into_iter().collect();
    gone.sort();
    kept.sort();

    // The delta's schema: new's fields, nullable, and the tombstone as BOOLEAN.
    let mut fields: Vec<Field> = new
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let tomb_at = match fields.iter().position(|f| f.name() == cols.tombstone) {
        Some(i) if fields[i].data_type() == &DataType::Boolean => i,
        Some(i) => {
            return Err(Error::type_mismatch(
                F,
                "new",
                format!("a BOOLEAN tombstone column `{}`", cols.tombstone),
                fields[i].data_type(),
            ))
        }
        None => {
            fields.push(Field::new(cols.tombstone, DataType::Boolean, true));
            fields.len() - 1
        }
    };
    let schema: SchemaRef = Arc::new(Schema::new(fields));

    let changed = {
        let idx = UInt32Array::from(kept.iter().map(|(_, j)| *j as u32).collect::<Vec<_>>());
        let rows = take_record_batch(new, &idx)?;
        let mut c: Vec<ArrayRef> = rows.columns().to_vec();
        if tomb_at == c.len() {
            c.push(Arc::new(BooleanArray::from(vec![false; rows.num_rows()])));
        } else {
            // A row NEW writes is live unless NEW itself says it is deleted.
            // (The schema check above made the column BOOLEAN.)
            let t = c[tomb_at].clone();
            if let Some(t) = t.as_any().downcast_ref::<BooleanArray>() {
                c[tomb_at] = Arc::new(BooleanArray::from_iter(
                    (0..t.len()).map(|i| Some(t.is_valid(i) && t.value(i))),
                ));
            }
        }
        RecordBatch::try_new(schema.clone(), c)?
    };
    let deleted = tombstones(old, new, &schema, cols, &gone, tomb_at, delete_clock)?;
    let both = concat_batches(&schema, [&changed, &deleted])?;
    // Key order over both parts.
    let mut order: Vec<(&[u8], u32)> = kept
        .iter()
        .chain(gone.iter())
        .enumerate()
        .map(|(n, (k, _))| (*k, n as u32))
        .collect();
    order.sort();
    let idx = UInt32Array::from(order.into_iter().map(|(_, n)| n).collect::<Vec<_>>());
    let batch = take_record_batch(&both, &idx)?;
    Ok(Delta {
        batch,
        added,
        modified,
        removed: gone.len(),
        unchanged,
    })
}

/// The tombstone rows of the keys in `gone` (rows of `old`).
fn tombstones(
    old: &RecordBatch,
    new: &RecordBatch,
    schema: &SchemaRef,
    cols: &DeltaColumns<'_>,
    gone: &[(&[u8], usize)],
    tomb_at: usize,
    delete_clock: Option<&ArrayRef>,
) -> Result<RecordBatch> {
    let n = gone.len();
    let idx = UInt32Array::from(gone.iter().map(|(_, i)| *i as u32).collect::<Vec<_>>());
    let clock_field = schema
        .field_with_name(cols.clock)
        .map_err(|_| Error::invalid(F, "new", format!("a clock column `{}`", cols.clock), "none"))?
        .clone();
    let clock_type = clock_field.data_type();
    let old_clock = arrow_cast::cast(&column_of(old, cols.clock, "old")?.clone(), clock_type)?;
    let old_clock = arrow_select::take::take(old_clock.as_ref(), &idx, None)?;
    let clock: ArrayRef = match delete_clock {
        Some(d) => {
            let d = arrow_cast::cast(d, clock_type)?;
            if d.len() != 1 || d.is_null(0) {
                return Err(Error::invalid(
                    F,
                    "delete_clock",
                    "one clock value",
                    format!("{} values", d.len()),
                ));
            }
            let zeros = UInt32Array::from(vec![0u32; n]);
            arrow_select::take::take(d.as_ref(), &zeros, None)?
        }
        None => {
            // The greatest clock new holds, then per row the greater of it and the row's own.
            let nc = column_of(new, cols.clock, "new")?;
            let c = Column::new(F, "clock", nc)?;
            let mut best: Option<usize> = None;
            for i in 0..nc.len() {
                if c.is_null(i) {
                    continue;
                }
                if best.is_none_or(|b| c.cmp_rows(i, &c, b).ok() == Some(Ordering::Greater)) {
                    best = Some(i);
                }
            }
            let oc = Column::new(F, "clock", &old_clock)?;
            let picked: Vec<(bool, u32)> = (0..n)
                .map(|r| match best {
                    Some(b) if oc.is_null(r) || oc.cmp_rows(r, &c, b)? == Ordering::Less => {
                        Ok((true, b as u32))
                    }
                    _ => Ok((false, r as u32)),
                })
                .collect::<Result<_>>()?;
            let from_new = arrow_cast::cast(nc, clock_type)?;
            let both = arrow_select::concat::concat(&[from_new.as_ref(), old_clock.as_ref()])?;
            let at = UInt32Array::from(
                picked
                    .iter()
                    .map(|&(new_side, i)| if new_side { i } else { nc.len() as u32 + i })
                    .collect::<Vec<_>>(),
            );
            arrow_select::take::take(both.as_ref(), &at, None)?
        }
    };
    let mut out: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (c, f) in schema.fields().iter().enumerate() {
        let a: ArrayRef = if c == tomb_at {
            Arc::new(BooleanArray::from(vec![true; n]))
        } else if f.name() == cols.clock {
            clock.clone()
        } else if cols.key.iter().any(|k| k == f.name()) {
            let k = column_of(old, f.name(), "old")?;
            let k = arrow_select::take::take(k.as_ref(), &idx, None)?;
            arrow_cast::cast(&k, f.data_type())?
        } else {
            new_null_array(f.data_type(), n)
        };
        out.push(a);
    }
    Ok(RecordBatch::try_new(schema.clone(), out)?)
}
