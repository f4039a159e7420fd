//! The columnar form of the grouped accumulators: many groups updated from arrays and one group
//! index per row (DataFusion's `GroupsAccumulator` layout, the table merge, Polars).
//!
//! For the selecting strategies (LWW, LWW-nullable, Max, Min) it keeps, per group, only an
//! order key and a reference `(batch, row)` to the winning input row; input batches are retained
//! (they are reference-counted Arrow arrays, so nothing is copied) and the result is gathered
//! once with `interleave`. No per-group allocation, no per-row copy of a value. When retained
//! batches outgrow the live winners they are compacted. Other strategies fall back to one
//! [`State`] per group. Both paths give identical results (tested).

use std::cmp::Ordering;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{new_null_array, Array, ArrayRef};
use arrow_schema::DataType;

use super::aggregate::{Aggregate, AggregateKind, Cell, Grouped, State};
use super::StrategyKind;
use crate::error::{Error, Result};
use crate::order::Column;
use crate::value::canonical_f64;

const EMPTY: u32 = u32::MAX;

/// Winner of one group: its order key and where the winning row lives.
#[derive(Clone, Copy)]
struct Slot {
    key: i64,
    batch: u32,
    row: u32,
}

const EMPTY_SLOT: Slot = Slot {
    key: i64::MIN,
    batch: EMPTY,
    row: 0,
};

/// Which order key the fast path keeps per group.
#[derive(Clone, Copy, PartialEq)]
enum KeyOf {
    /// The clock (LWW): ties go on to replica, then value.
    Clock,
    /// The value (Max): ties are resolved by comparing the values in full.
    Value,
    /// The reversed value (Min).
    ReversedValue,
}

struct Retained {
    args: Vec<ArrayRef>,
    cols: Vec<Column>,
}

/// Columnar grouped accumulator over one [`Aggregate`].
pub struct Columnar {
    agg: Aggregate,
    fast: Option<KeyOf>,
    slots: Vec<Slot>,
    batches: Vec<Retained>,
    retained_rows: usize,
    compact_slack: usize,
    states: Vec<State>,
}

/// Order keys for every row of `c`: `k(x) < k(y)` implies `x < y` in the canonical order, so
/// only equal keys need a full comparison. Exact for integers, floats, dates, timestamps and
/// booleans; an 8-byte prefix for text; saturated for wide decimals and unsigned integers;
/// `i64::MIN` for NULL. Computed per batch in type-specialised loops, so the per-row merge loop
/// only compares integers.
fn keys(c: &Column, n: usize) -> Vec<i64> {
    let mut k: Vec<i64> = match c {
        Column::Int(a) => a.values().to_vec(),
        Column::UInt(a) => a
            .values()
            .iter()
            .map(|&v| v.min(i64::MAX as u64) as i64)
            .collect(),
        Column::Float(a) => a
            .values()
            .iter()
            .map(|&v| {
                let bits = canonical_f64(v).to_bits();
                (if bits >> 63 == 1 {
                    !bits
                } else {
                    bits | (1 << 63)
                } ^ (1 << 63)) as i64
            })
            .collect(),
        Column::Decimal(a) => a
            .values()
            .iter()
            .map(|&v| v.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
            .collect(),
        Column::Bool(a) => (0..n).map(|i| a.value(i) as i64).collect(),
        Column::Str(_) | Column::LargeStr(_) | Column::StrView(_) => (0..n)
            .map(|i| prefix(c.str_at(i).unwrap_or_default().as_bytes()))
            .collect(),
        _ => vec![i64::MIN; n],
    };
    for (i, k) in k.iter_mut().enumerate() {
        if c.is_null(i) {
            *k = i64::MIN;
        }
    }
    k
}

#[inline]
fn prefix(b: &[u8]) -> i64 {
    let mut p = [0u8; 8];
    let n = b.len().min(8);
    p[..n].copy_from_slice(&b[..n]);
    (u64::from_be_bytes(p) ^ (1 << 63)) as i64
}

fn keyed_type(dt: &DataType) -> bool {
    !matches!(
        dt,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::Struct(_)
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

impl Columnar {
    /// A columnar accumulator for `agg`.
    pub fn new(agg: Aggregate) -> Self {
        let fast = match agg.kind() {
            AggregateKind::Strategy(StrategyKind::Lww | StrategyKind::LwwNullable) => {
                Some(KeyOf::Clock)
            }
            AggregateKind::Strategy(StrategyKind::Max) => Some(KeyOf::Value),
            AggregateKind::Strategy(StrategyKind::Min) => Some(KeyOf::ReversedValue),
            _ => None,
        };
        // Nested and binary values have no integer key: they use per-group states.
        let key_type = match fast {
            Some(KeyOf::Clock) => agg.arg_types().get(1),
            _ => agg.arg_types().first(),
        };
        let fast = fast.filter(|_| key_type.is_some_and(keyed_type));
        Columnar {
            agg,
            fast,
            slots: Vec::new(),
            batches: Vec::new(),
            retained_rows: 0,
            compact_slack: 1 << 16,
            states: Vec::new(),
        }
    }

    /// Compacts retained batches once they hold more than `4 × groups + slack` rows (default
    /// slack 65536). A small slack trades gathering work for memory.
    pub fn with_compaction_slack(mut self, slack: usize) -> Self {
        self.compact_slack = slack;
        self
    }

    /// The aggregate this accumulates.
    pub fn aggregate(&self) -> &Aggregate {
        &self.agg
    }

    /// Number of groups seen so far.
    pub fn groups(&self) -> usize {
        self.slots.len().max(self.states.len())
    }

    /// Updates groups `groups[i]` with row `i` of `args`; `total_groups` is the number of groups
    /// after this batch (group indices are dense, as hash aggregation assigns them).
    ///
    /// # Errors
    /// The aggregate's caller errors; a group index outside `total_groups`.
    pub fn update(
        &mut self,
        args: &[ArrayRef],
        groups: &[usize],
        total_groups: usize,
    ) -> Result<()> {
        if groups.iter().any(|&g| g >= total_groups) {
            return Err(Error::internal(self.agg.name(), "group index out of range"));
        }
        let Some(key_of) = self.fast else {
            if self.states.len() < total_groups {
                self.states.resize(total_groups, State::Empty);
            }
            return self.agg.update(
                args,
                &mut Grouped {
                    states: &mut self.states,
                    groups,
                },
            );
        };
        if self.slots.len() < total_groups {
            self.slots.resize(total_groups, EMPTY_SLOT);
        }
        if args.len() != self.agg.arg_types().len() {
            // Let the row-wise path produce the arity error.
            return self.agg.update(
                args,
                &mut Grouped {
                    states: &mut [],
                    groups: &[],
                },
            );
        }
        let names = ["value", "ts", "replica"];
        let cols: Vec<Column> = args
            .iter()
            .zip(names)
            .map(|(a, n)| Column::new(self.agg.name(), n, a))
            .collect::<Result<_>>()?;
        let keycol = if key_of == KeyOf::Clock {
            &cols[1]
        } else {
            &cols[0]
        };
        let n = groups.len();
        let b = self.batches.len() as u32;
        let nullable = self.agg.kind() == AggregateKind::Strategy(StrategyKind::LwwNullable);
        let value = &cols[0];
        let mut used = false;
        let mut keys = keys(keycol, n);
        if key_of == KeyOf::ReversedValue {
            keys.iter_mut().for_each(|k| *k = !*k);
        }
        for row in 0..n {
            if !nullable && value.is_null(row) {
                continue;
            }
            let k = keys[row];
            let slot = &mut self.slots[groups[row]];
            let wins = if slot.batch == EMPTY {
                true
            } else {
                match k.cmp(&slot.key) {
                    Ordering::Greater => true,
                    Ordering::Less => false,
                    Ordering::Equal => {
                        let (sb, sr) = (slot.batch, slot.row as usize);
                        let other = if sb == b {
                            &cols
                        } else {
                            &self.batches[sb as usize].cols
                        };
                        tie(key_of, &cols, row, other, sr)? == Ordering::Greater
                    }
                }
            };
            if wins {
                let slot = &mut self.slots[groups[row]];
                *slot = Slot {
                    key: k,
                    batch: b,
                    row: row as u32,
                };
                used = true;
            }
        }
        if used {
            self.retained_rows += n;
            self.batches.push(Retained {
                args: args.to_vec(),
                cols,
            });
            if self.retained_rows > 4 * self.slots.len() + self.compact_slack {
                self.compact()?;
            }
        }
        Ok(())
    }

    /// Gathers the winning rows of every retained batch into one batch.
    fn compact(&mut self) -> Result<()> {
        let gathered = self.gather_args()?;
        let cols: Vec<Column> = gathered
            .iter()
            .map(|a| Column::new(self.agg.name(), "value", a))
            .collect::<Result<_>>()?;
        let mut next = 0u32;
        for s in self.slots.iter_mut() {
            if s.batch != EMPTY {
                s.batch = 0;
                s.row = next;
                next += 1;
            }
        }
        self.retained_rows = next as usize;
        self.batches = vec![Retained {
            args: gathered,
            cols,
        }];
        Ok(())
    }

    /// Each argument column restricted to the winners, in group order (empty groups skipped).
    fn gather_args(&self) -> Result<Vec<ArrayRef>> {
        let idx: Vec<(usize, usize)> = self
            .slots
            .iter()
            .filter(|s| s.batch != EMPTY)
            .map(|s| (s.batch as usize, s.row as usize))
            .collect();
        let n_args = self.agg.arg_types().len();
        (0..n_args)
            .map(|a| {
                let arrays: Vec<&dyn Array> =
                    self.batches.iter().map(|b| b.args[a].as_ref()).collect();
                if arrays.is_empty() {
                    return Ok(new_null_array(&self.agg.arg_types()[a], 0));
                }
                Ok(arrow_select::interleave::interleave(&arrays, &idx)?)
            })
            .collect()
    }

    /// One finished value per group.
    ///
    /// # Errors
    /// See [`Aggregate::finish`].
    pub fn finish(&self) -> Result<ArrayRef> {
        if self.fast.is_none() {
            let refs: Vec<&State> = self.states.iter().collect();
            return self.agg.finish(&refs);
        }
        let rt = self.agg.return_type().clone();
        let null = new_null_array(&rt, 1);
        let mut arrays: Vec<&dyn Array> = self.batches.iter().map(|b| b.args[0].as_ref()).collect();
        let null_at = arrays.len();
        arrays.push(null.as_ref());
        let idx: Vec<(usize, usize)> = self
            .slots
            .iter()
            .map(|s| {
                if s.batch == EMPTY {
                    (null_at, 0)
                } else {
                    (s.batch as usize, s.row as usize)
                }
            })
            .collect();
        let out = arrow_select::interleave::interleave(&arrays, &idx)?;
        crate::value::canonical_float_array(out)
    }

    /// The per-group states (for serialising partial aggregates).
    ///
    /// # Errors
    /// Unsupported value types (cannot happen for arrays this accumulator accepted).
    pub fn to_states(&self) -> Result<Vec<State>> {
        if self.fast.is_none() {
            return Ok(self.states.clone());
        }
        let with_clock = self.fast == Some(KeyOf::Clock);
        self.slots
            .iter()
            .map(|s| {
                if s.batch == EMPTY {
                    return Ok(State::Empty);
                }
                let cols = &self.batches[s.batch as usize].cols;
                let r = s.row as usize;
                Ok(State::Cell(Box::new(Cell {
                    guard: 0,
                    rank: 0,
                    ts: if with_clock {
                        cols[1].get(r)?
                    } else {
                        Default::default()
                    },
                    replica: match cols.get(2) {
                        Some(c) if with_clock => c.get(r)?,
                        _ => Default::default(),
                    },
                    value: cols[0].get(r)?,
                })))
            })
            .collect()
    }
}

impl Columnar {
    /// Names and types of the columns [`Columnar::state_columns`] returns, known before any
    /// data (DataFusion declares them when planning partial aggregation).
    pub fn state_fields(&self) -> Vec<(String, DataType)> {
        if self.fast.is_none() {
            return vec![("state".into(), DataType::Binary)];
        }
        let mut f = vec![("present".to_string(), DataType::Boolean)];
        for (name, dt) in ["value", "ts", "replica"].iter().zip(self.agg.arg_types()) {
            f.push((name.to_string(), dt.clone()));
        }
        f
    }

    /// The partial state of every group as columns, one row per group. For the selecting
    /// strategies a state *is* its winning cell, so the columns are the winning input row
    /// itself (plus a `present` flag); otherwise one column of serialised states.
    ///
    /// # Errors
    /// Gathering failures (internal).
    pub fn state_columns(&self) -> Result<Vec<ArrayRef>> {
        if self.fast.is_none() {
            let bytes: Vec<Vec<u8>> = self
                .states
                .iter()
                .map(|s| self.agg.encode_state(s))
                .collect();
            return Ok(vec![Arc::new(arrow_array::BinaryArray::from_iter_values(
                bytes,
            ))]);
        }
        let present: ArrayRef = Arc::new(arrow_array::BooleanArray::from_iter(
            self.slots.iter().map(|s| Some(s.batch != EMPTY)),
        ));
        let mut out = vec![present];
        for a in 0..self.agg.arg_types().len() {
            let null = new_null_array(&self.agg.arg_types()[a], 1);
            let mut arrays: Vec<&dyn Array> =
                self.batches.iter().map(|b| b.args[a].as_ref()).collect();
            let null_at = arrays.len();
            arrays.push(null.as_ref());
            let idx: Vec<(usize, usize)> = self
                .slots
                .iter()
                .map(|s| {
                    if s.batch == EMPTY {
                        (null_at, 0)
                    } else {
                        (s.batch as usize, s.row as usize)
                    }
                })
                .collect();
            out.push(arrow_select::interleave::interleave(&arrays, &idx)?);
        }
        Ok(out)
    }

    /// Joins partial states produced by [`Columnar::state_columns`] (possibly in another
    /// process) into groups `groups[i]`.
    ///
    /// # Errors
    /// Malformed state columns.
    pub fn merge_state_columns(
        &mut self,
        columns: &[ArrayRef],
        groups: &[usize],
        total_groups: usize,
    ) -> Result<()> {
        let name = self.agg.name();
        if self.fast.is_none() {
            let Some(bytes) = columns.first().and_then(|c| c.as_binary_opt::<i32>()) else {
                return Err(Error::invalid(
                    name,
                    "state",
                    "one column of state bytes",
                    "other columns",
                ));
            };
            if self.states.len() < total_groups {
                self.states.resize(total_groups, State::Empty);
            }
            for (i, &g) in groups.iter().enumerate() {
                if bytes.is_valid(i) {
                    let s = self.agg.decode_state(bytes.value(i))?;
                    self.agg.combine(&mut self.states[g], &s)?;
                }
            }
            return Ok(());
        }
        if columns.len() != self.agg.arg_types().len() + 1 {
            return Err(Error::invalid(
                name,
                "state",
                format!("{} state columns", self.agg.arg_types().len() + 1),
                columns.len().to_string(),
            ));
        }
        let Some(present) = columns[0].as_boolean_opt() else {
            return Err(Error::invalid(
                name,
                "present",
                "a boolean column",
                columns[0].data_type().to_string(),
            ));
        };
        let keep: Vec<u32> = (0..present.len())
            .filter(|&i| present.is_valid(i) && present.value(i))
            .map(|i| i as u32)
            .collect();
        if keep.len() == present.len() {
            return self.update(&columns[1..], groups, total_groups);
        }
        let idx = arrow_array::UInt32Array::from(keep.clone());
        let args: Vec<ArrayRef> = columns[1..]
            .iter()
            .map(|c| arrow_select::take::take(c.as_ref(), &idx, None))
            .collect::<std::result::Result<_, _>>()?;
        let g: Vec<usize> = keep.iter().map(|&i| groups[i as usize]).collect();
        self.update(&args, &g, total_groups)
    }
}

/// Full comparison of two rows whose keys tie.
fn tie(key_of: KeyOf, a: &[Column], i: usize, b: &[Column], j: usize) -> Result<Ordering> {
    match key_of {
        KeyOf::Clock => {
            let mut ord = a[1].cmp_rows(i, &b[1], j)?;
            if ord == Ordering::Equal && a.len() > 2 {
                ord = a[2].cmp_rows(i, &b[2], j)?;
            }
            if ord == Ordering::Equal {
                ord = a[0].cmp_rows(i, &b[0], j)?;
            }
            Ok(ord)
        }
        KeyOf::Value => a[0].cmp_rows(i, &b[0], j),
        KeyOf::ReversedValue => Ok(a[0].cmp_rows(i, &b[0], j)?.reverse()),
    }
}
