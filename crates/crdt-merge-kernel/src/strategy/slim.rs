//! Compact cells for the hottest aggregates: LWW, LWW-nullable, Max and Min over a scalar value
//! with a numeric or temporal clock and no replica column.
//!
//! A general [`Cell`] boxes three [`Value`]s, so every group of a `GROUP BY` pays two heap
//! allocations (the box and the text) on its first row and again on every combine, and a
//! host that moves states between threads (DuckDB's partitioned hash aggregate) pays them
//! once more. A [`SlimCell`] lives inline in the [`State`](super::State) and keeps text up to
//! 24 bytes inline too, which removes every allocation from the common case. It orders cells
//! exactly as the general path does (the law tests run both), and converts to a [`Cell`]
//! whenever it meets one.

use std::cmp::Ordering;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::aggregate::Cell;
use crate::order::Column;
use crate::value::{canonical_f64, cmp_f64, Value};
use arrow_array::Array;
use arrow_schema::DataType;

/// A scalar without heap storage for numbers and short text.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub enum Slim {
    /// SQL NULL: lowest.
    #[default]
    Null,
    /// Boolean.
    Bool(bool),
    /// Signed integer, date or timestamp (as its integer representation).
    Int(i64),
    /// Float, canonical (one NaN, +0.0 for ±0).
    Float(f64),
    /// Text.
    Str(CompactString),
}

/// A clock in a compact cell (16 bytes where a [`Slim`] takes 24).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum SlimClock {
    /// NULL: lowest.
    #[default]
    Null,
    /// Integer, date or timestamp.
    Int(i64),
    /// Float, canonical.
    Float(f64),
}

impl SlimClock {
    /// Row `row` of a clock column.
    #[inline]
    pub(crate) fn read(col: &Column, row: usize) -> SlimClock {
        if col.is_null(row) {
            return SlimClock::Null;
        }
        match col {
            Column::Int(a) => SlimClock::Int(a.value(row)),
            Column::Float(a) => SlimClock::Float(canonical_f64(a.value(row))),
            // `slim_clock_column` is checked first.
            _ => SlimClock::Null,
        }
    }

    /// The general value.
    pub fn to_value(self) -> Value {
        match self {
            SlimClock::Null => Value::Null,
            SlimClock::Int(i) => Value::Int(i),
            SlimClock::Float(f) => Value::Float(f),
        }
    }

    /// Canonical order, the same as [`Value`]'s.
    #[inline]
    pub fn order(self, other: SlimClock) -> Ordering {
        match (self, other) {
            (SlimClock::Null, SlimClock::Null) => Ordering::Equal,
            (SlimClock::Null, _) => Ordering::Less,
            (_, SlimClock::Null) => Ordering::Greater,
            (SlimClock::Int(a), SlimClock::Int(b)) => a.cmp(&b),
            (SlimClock::Float(a), SlimClock::Float(b)) => cmp_f64(a, b),
            (a, b) => a.to_value().cmp(&b.to_value()),
        }
    }

    /// Compares row `row` of `col` with `self`, without allocating.
    #[inline]
    pub(crate) fn cmp_row(col: &Column, row: usize, other: SlimClock) -> Ordering {
        match (col, other) {
            (Column::Int(a), SlimClock::Int(b)) if !a.is_null(row) => a.value(row).cmp(&b),
            (Column::Float(a), SlimClock::Float(b)) if !a.is_null(row) => cmp_f64(a.value(row), b),
            _ => SlimClock::read(col, row).order(other),
        }
    }
}

/// The winning cell of a slim aggregate: `(ts, value)`; `ts` is NULL for Max and Min.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SlimCell {
    /// Clock.
    pub ts: SlimClock,
    /// The value.
    pub value: Slim,
}

/// Value types a slim cell stores.
pub(crate) fn slim_value_type(dt: &DataType) -> bool {
    use DataType::*;
    matches!(
        dt,
        Null | Boolean
            | Int8
            | Int16
            | Int32
            | Int64
            | Date32
            | Date64
            | Timestamp(_, _)
            | Float32
            | Float64
            | Utf8
            | LargeUtf8
            | Utf8View
    )
}

/// Clock types a slim cell stores.
pub(crate) fn slim_clock_type(dt: &DataType) -> bool {
    use DataType::*;
    matches!(
        dt,
        Null | Int8 | Int16 | Int32 | Int64 | Date32 | Date64 | Timestamp(_, _) | Float32 | Float64
    )
}

/// True when `col` reads into [`SlimClock`] without loss.
pub(crate) fn slim_clock_column(col: &Column) -> bool {
    matches!(col, Column::Null(_) | Column::Int(_) | Column::Float(_))
}

/// True when `col` reads into [`Slim`] without loss (the column kinds [`slim_value_type`]
/// produces).
pub(crate) fn slim_column(col: &Column) -> bool {
    matches!(
        col,
        Column::Null(_)
            | Column::Bool(_)
            | Column::Int(_)
            | Column::Float(_)
            | Column::Str(_)
            | Column::LargeStr(_)
            | Column::StrView(_)
    )
}

impl Slim {
    /// Row `row` of `col` (a column [`slim_column`] accepts).
    #[inline]
    pub(crate) fn read(col: &Column, row: usize) -> Slim {
        if col.is_null(row) {
            return Slim::Null;
        }
        match col {
            Column::Bool(a) => Slim::Bool(a.value(row)),
            Column::Int(a) => Slim::Int(a.value(row)),
            Column::Float(a) => Slim::Float(canonical_f64(a.value(row))),
            Column::Str(_) | Column::LargeStr(_) | Column::StrView(_) => {
                Slim::Str(CompactString::new(col.str_at(row).unwrap_or_default()))
            }
            // Callers check `slim_column` first; anything else reads as NULL only through a
            // bug, and the law tests would catch it.
            _ => Slim::Null,
        }
    }

    /// Overwrites `self` with row `row` of `col`, reusing a text buffer already allocated.
    #[inline]
    pub(crate) fn assign(&mut self, col: &Column, row: usize) {
        if let (Slim::Str(s), Some(text)) = (&mut *self, col.str_at(row)) {
            s.clear();
            s.push_str(text);
            return;
        }
        *self = Slim::read(col, row);
    }

    /// The general value.
    pub fn to_value(&self) -> Value {
        match self {
            Slim::Null => Value::Null,
            Slim::Bool(b) => Value::Bool(*b),
            Slim::Int(i) => Value::Int(*i),
            Slim::Float(f) => Value::Float(*f),
            Slim::Str(s) => Value::Str(s.to_string()),
        }
    }

    /// Text, when this is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Slim::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Canonical order, the same as [`Value`]'s.
    #[inline]
    pub fn order(&self, other: &Slim) -> Ordering {
        match (self, other) {
            (Slim::Null, Slim::Null) => Ordering::Equal,
            (Slim::Null, _) => Ordering::Less,
            (_, Slim::Null) => Ordering::Greater,
            (Slim::Int(a), Slim::Int(b)) => a.cmp(b),
            (Slim::Float(a), Slim::Float(b)) => cmp_f64(*a, *b),
            (Slim::Str(a), Slim::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Slim::Bool(a), Slim::Bool(b)) => a.cmp(b),
            (a, b) => a.to_value().cmp(&b.to_value()),
        }
    }

    /// Compares row `row` of `col` with `self`, without allocating.
    #[inline]
    pub(crate) fn cmp_row(col: &Column, row: usize, other: &Slim) -> Ordering {
        let null = col.is_null(row);
        if null || matches!(other, Slim::Null) {
            return null.cmp(&matches!(other, Slim::Null)).reverse();
        }
        match (col, other) {
            (Column::Int(a), Slim::Int(b)) => a.value(row).cmp(b),
            (Column::Float(a), Slim::Float(b)) => cmp_f64(a.value(row), *b),
            (Column::Str(_) | Column::LargeStr(_) | Column::StrView(_), Slim::Str(b)) => col
                .str_at(row)
                .unwrap_or_default()
                .as_bytes()
                .cmp(b.as_bytes()),
            (Column::Bool(a), Slim::Bool(b)) => a.value(row).cmp(b),
            _ => Slim::read(col, row).order(other),
        }
    }
}

impl SlimCell {
    /// The general cell with the same order position.
    pub fn to_cell(&self) -> Cell {
        Cell {
            guard: 0,
            rank: 0,
            ts: self.ts.to_value(),
            replica: Value::Null,
            value: self.value.to_value(),
        }
    }

    /// Cell order: `(ts, value)`, or the reversed value for Min.
    #[inline]
    pub(crate) fn order(&self, other: &SlimCell, min: bool) -> Ordering {
        if min {
            return other.value.order(&self.value);
        }
        self.ts
            .order(other.ts)
            .then_with(|| self.value.order(&other.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slim_fits_the_general_state() {
        // A slim cell must not make `State` larger than its largest general variant.
        // Every host keeps one `State` per group; DuckDB reserves it inline per aggregate.
        assert!(std::mem::size_of::<SlimCell>() <= 40);
        assert!(std::mem::size_of::<super::super::State>() <= 40);
    }

    #[test]
    fn order_matches_value_order() {
        let xs = [
            Slim::Null,
            Slim::Int(-3),
            Slim::Int(7),
            Slim::Float(f64::NAN),
            Slim::Float(-0.0),
            Slim::Float(0.0),
            Slim::Float(2.5),
            Slim::Str("".into()),
            Slim::Str("é".into()),
            Slim::Str("a much longer text than twenty-four bytes".into()),
            Slim::Bool(false),
            Slim::Bool(true),
        ];
        for a in &xs {
            for b in &xs {
                assert_eq!(
                    a.order(b),
                    a.to_value().cmp(&b.to_value()),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }
}
