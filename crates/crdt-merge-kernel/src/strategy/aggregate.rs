//! Grouped accumulators: one small [`State`] per group, with update, combine (the join),
//! serialise and finish.
//!
//! One code path serves every host: DuckDB hands a state pointer per row, DataFusion indexes
//! states by group, Postgres calls a transition per row, Polars aggregates per group. Each picks
//! a [`StatesByRow`] that maps an input row to its group's state.
//!
//! Cell order per strategy (greatest wins; NULL lowest everywhere):
//!
//! | aggregate | cell order | NULL value |
//! |---|---|---|
//! | `crdt_lww(v, ts [, r])` | (ts, r, v) | ignored |
//! | `crdt_lww_nullable(v, ts [, r])` | (ts, r, v) | a written value (lowest in the tie-break) |
//! | `crdt_max(v)` | v | ignored |
//! | `crdt_min(v)` | reversed v | ignored |
//! | `crdt_priority(v, levels)` | (rank of v in levels, -1 if absent; v) | ignored |
//! | `crdt_longest(v, ts [, r])` | (length of v, ts, r, v) | ignored |
//! | `crdt_union(list)`, `crdt_union(text, sep)`, `crdt_concat(text [, sep])` | set union | ignored |
//! | `crdt_gcounter(r, n)`, `crdt_pncounter(r, inc, dec)` | per-replica max | ignored |

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BinaryArray, StringArray};
use arrow_schema::{DataType, Field};
use serde::{Deserialize, Serialize};

use super::sketch_agg::{self, SketchKind};
use super::slim::{
    slim_clock_column, slim_clock_type, slim_column, slim_value_type, Slim, SlimCell, SlimClock,
};
use super::StrategyKind;
use crate::error::{Error, ErrorKind, Result};
use crate::order::Column;
use crate::sketch::Sketch;
use crate::value::{is_supported, Value};

/// The separator `crdt_concat` uses when none is given.
pub const DEFAULT_CONCAT_SEP: &str = " | ";

/// What an aggregate computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateKind {
    /// A column strategy.
    Strategy(StrategyKind),
    /// `crdt_state_merge_agg(bytes)`: the join of state bytes of any state type.
    StateMerge,
    /// A sketch constructor (`crdt_hll_agg`, ...).
    Sketch(SketchKind),
    /// A digest (`crdt_fingerprint_agg`, `crdt_table_digest`, ...): a group, not a
    /// semilattice, so partial states combine by adding (each row is seen once).
    Digest(crate::digest::DigestKind),
}

/// A configured aggregate: the function, its argument types and its return type.
#[derive(Debug, Clone)]
pub struct Aggregate {
    name: &'static str,
    kind: AggregateKind,
    arg_types: Vec<DataType>,
    return_type: DataType,
    /// Union over text (split/rejoin) rather than over list elements.
    text_union: bool,
    /// States are [`SlimCell`]s (see `slim.rs`).
    slim: bool,
}

/// The winning cell of a selecting strategy (LWW, Max, Min, Priority, Longest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Fingerprint of constant arguments (priority levels); 0 when there are none.
    pub guard: u64,
    /// Priority rank or Longest length; 0 for the others.
    pub rank: i64,
    /// Clock.
    pub ts: Value,
    /// Replica id.
    pub replica: Value,
    /// The value.
    pub value: Value,
}

/// One group's state. `Empty` is bottom: the join's identity.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub enum State {
    /// No input seen (or only ignored NULLs).
    #[default]
    Empty,
    /// Winner so far of a selecting strategy.
    Cell(Box<Cell>),
    /// Union / Concat: the set so far (boxed, like the PN-Counter, so that a `State` stays 40
    /// bytes: DuckDB reserves that much per group and aggregate).
    Set(Box<SetState>),
    /// G-Counter: replica id → cumulative count.
    GCounter(BTreeMap<String, u64>),
    /// PN-Counter: replica id → cumulative increments, and → cumulative decrements.
    PNCounter(Box<(BTreeMap<String, u64>, BTreeMap<String, u64>)>),
    /// `crdt_state_merge_agg`: canonical state bytes.
    Bytes(Vec<u8>),
    /// Winner so far of LWW / Max / Min over a scalar with no replica, stored inline. Last
    /// variant, so that states serialised before it existed still decode.
    Slim(SlimCell),
    /// A sketch under construction (boxed: a `State` stays 40 bytes). After `Slim`, so that
    /// states serialised before sketches existed still decode.
    Sketch(Box<Sketch>),
    /// A digest's running sum and count of ids (boxed: a `State` stays 40 bytes). After
    /// `Sketch`, so that states serialised before digests existed still decode.
    Fingerprint(Box<crate::digest::Fingerprint>),
}

/// The state of Union / Concat.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SetState {
    /// Separator of the text form.
    pub sep: Option<String>,
    /// Elements in canonical order.
    pub items: BTreeSet<Value>,
}

/// Maps an input row to the state of its group.
pub trait StatesByRow {
    /// The state that row `row` updates.
    fn state(&mut self, row: usize) -> &mut State;
}

/// States indexed by group, with one group index per row (DataFusion's layout).
pub struct Grouped<'a> {
    /// One state per group.
    pub states: &'a mut [State],
    /// Group of each row.
    pub groups: &'a [usize],
}

impl StatesByRow for Grouped<'_> {
    #[inline]
    fn state(&mut self, row: usize) -> &mut State {
        &mut self.states[self.groups[row]]
    }
}

/// One state for every row (a Postgres transition call, a Polars group).
pub struct Single<'a>(pub &'a mut State);

impl StatesByRow for Single<'_> {
    #[inline]
    fn state(&mut self, _row: usize) -> &mut State {
        self.0
    }
}

/// One state per row (pairwise joins).
pub struct PerRow<'a>(pub &'a mut [State]);

impl StatesByRow for PerRow<'_> {
    #[inline]
    fn state(&mut self, row: usize) -> &mut State {
        &mut self.0[row]
    }
}

fn is_clock(dt: &DataType) -> bool {
    use DataType::*;
    matches!(
        dt,
        Null | Int8
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
    )
}

fn is_text(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

fn is_binary(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::Null
    )
}

fn is_integer(dt: &DataType) -> bool {
    dt.is_integer() || dt == &DataType::Null
}

fn list_item(dt: &DataType) -> Option<&DataType> {
    match dt {
        DataType::List(f) | DataType::LargeList(f) => Some(f.data_type()),
        _ => None,
    }
}

/// Coarse type class: values of one class compare with each other.
fn class(dt: &DataType) -> u8 {
    use DataType::*;
    match dt {
        Null => 0,
        Boolean => 1,
        Int8 | Int16 | Int32 | Int64 => 2,
        UInt8 | UInt16 | UInt32 | UInt64 => 2,
        Float32 | Float64 => 3,
        Decimal128(_, _) => 4,
        Utf8 | LargeUtf8 | Utf8View => 5,
        Binary | LargeBinary | BinaryView => 6,
        Date32 | Date64 => 7,
        Timestamp(_, _) => 8,
        List(_) | LargeList(_) => 9,
        Struct(_) => 10,
        _ => 11,
    }
}

fn fingerprint(values: &[Value]) -> u64 {
    let bytes = postcard::to_allocvec(values).unwrap_or_default();
    let h = blake3::hash(&bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(first) | 1
}

impl Aggregate {
    /// Configures aggregate `name` (a catalogue name such as `crdt_lww`) for `arg_types`.
    ///
    /// # Errors
    /// Unknown name, wrong number of arguments, or an argument type the function does not accept.
    pub fn new(name: &str, arg_types: &[DataType]) -> Result<Aggregate> {
        let (name, kind): (&'static str, AggregateKind) = match name {
            "crdt_state_merge_agg" => ("crdt_state_merge_agg", AggregateKind::StateMerge),
            _ if SketchKind::parse(name).is_some() => {
                let k = SketchKind::parse(name).unwrap_or(SketchKind::Hll);
                (k.aggregate_name(), AggregateKind::Sketch(k))
            }
            _ if crate::digest::DigestKind::parse(name).is_some() => {
                let k = crate::digest::DigestKind::parse(name)
                    .unwrap_or(crate::digest::DigestKind::Fingerprint);
                (k.aggregate_name(), AggregateKind::Digest(k))
            }
            _ => {
                let k = StrategyKind::ALL
                    .into_iter()
                    .find(|k| k.aggregate_name() == name)
                    .ok_or_else(|| {
                        Error::invalid(
                            name,
                            "function",
                            "a crdt_* aggregate from the catalogue",
                            name,
                        )
                    })?;
                (k.aggregate_name(), AggregateKind::Strategy(k))
            }
        };
        let arity = |ok: &[usize], expected: &str| -> Result<()> {
            if ok.contains(&arg_types.len()) {
                Ok(())
            } else {
                Err(Error::new(
                    name,
                    ErrorKind::Arity {
                        expected: expected.into(),
                        found: arg_types.len(),
                    },
                ))
            }
        };
        let check = |i: usize, arg: &str, ok: bool, expected: &str| -> Result<()> {
            if ok {
                Ok(())
            } else {
                Err(Error::type_mismatch(name, arg, expected, &arg_types[i]))
            }
        };
        const VALUE: &str =
            "an integer, float, decimal, text, binary, boolean, date, timestamp, list or struct";
        const CLOCK: &str = "a number, decimal, date, timestamp or HLC (BIGINT)";
        let mut text_union = false;
        let return_type = match kind {
            AggregateKind::StateMerge => {
                arity(&[1], "1 (bytes)")?;
                check(
                    0,
                    "state",
                    is_binary(&arg_types[0]),
                    "state bytes (BLOB/BYTEA)",
                )?;
                DataType::Binary
            }
            AggregateKind::Sketch(k) => {
                k.check(name, arg_types)?;
                DataType::Binary
            }
            AggregateKind::Digest(k) => {
                k.check(arg_types)?;
                DataType::Binary
            }
            AggregateKind::Strategy(k) => match k {
                StrategyKind::Lww | StrategyKind::LwwNullable | StrategyKind::Longest => {
                    arity(&[2, 3], "2 or 3 (value, ts [, replica])")?;
                    check(0, "value", is_supported(&arg_types[0]), VALUE)?;
                    check(1, "ts", is_clock(&arg_types[1]), CLOCK)?;
                    if arg_types.len() == 3 {
                        check(2, "replica", is_supported(&arg_types[2]), VALUE)?;
                    }
                    if k == StrategyKind::Longest {
                        let dt = &arg_types[0];
                        check(
                            0,
                            "value",
                            is_text(dt) || is_binary(dt) || list_item(dt).is_some(),
                            "text, binary or a list",
                        )?;
                    }
                    arg_types[0].clone()
                }
                StrategyKind::Max | StrategyKind::Min => {
                    arity(&[1], "1 (value)")?;
                    check(0, "value", is_supported(&arg_types[0]), VALUE)?;
                    arg_types[0].clone()
                }
                StrategyKind::Priority => {
                    arity(&[2], "2 (value, levels)")?;
                    check(0, "value", is_supported(&arg_types[0]), VALUE)?;
                    let item = list_item(&arg_types[1]);
                    let ok = match item {
                        Some(it) => {
                            class(it) == class(&arg_types[0])
                                || it == &DataType::Null
                                || arg_types[0] == DataType::Null
                        }
                        None => false,
                    };
                    check(
                        1,
                        "levels",
                        ok,
                        &format!("a list of {} values", arg_types[0]),
                    )?;
                    arg_types[0].clone()
                }
                StrategyKind::Union => {
                    arity(&[1, 2], "1 (list) or 2 (text, sep)")?;
                    if arg_types.len() == 1 {
                        check(0, "list", list_item(&arg_types[0]).is_some(), "a list")?;
                        let item = list_item(&arg_types[0]).cloned().unwrap_or(DataType::Null);
                        check(0, "list", is_supported(&item), "a list of orderable values")?;
                        DataType::List(Arc::new(Field::new("item", item, true)))
                    } else {
                        text_union = true;
                        check(0, "value", is_text(&arg_types[0]), "text")?;
                        check(1, "sep", is_text(&arg_types[1]), "text")?;
                        DataType::Utf8
                    }
                }
                StrategyKind::Concat => {
                    arity(&[1, 2], "1 or 2 (text [, sep])")?;
                    text_union = true;
                    check(0, "value", is_text(&arg_types[0]), "text")?;
                    if arg_types.len() == 2 {
                        check(1, "sep", is_text(&arg_types[1]), "text")?;
                    }
                    DataType::Utf8
                }
                StrategyKind::GCounter => {
                    arity(&[2], "2 (replica, count)")?;
                    check(0, "replica", is_supported(&arg_types[0]), VALUE)?;
                    check(1, "count", is_integer(&arg_types[1]), "an integer count")?;
                    DataType::Binary
                }
                StrategyKind::PNCounter => {
                    arity(&[3], "3 (replica, inc, dec)")?;
                    check(0, "replica", is_supported(&arg_types[0]), VALUE)?;
                    check(1, "inc", is_integer(&arg_types[1]), "an integer count")?;
                    check(2, "dec", is_integer(&arg_types[2]), "an integer count")?;
                    DataType::Binary
                }
            },
        };
        let slim = match kind {
            AggregateKind::Strategy(StrategyKind::Lww | StrategyKind::LwwNullable) => {
                arg_types.len() == 2
                    && slim_value_type(&arg_types[0])
                    && slim_clock_type(&arg_types[1])
            }
            AggregateKind::Strategy(StrategyKind::Max | StrategyKind::Min) => {
                slim_value_type(&arg_types[0])
            }
            _ => false,
        };
        Ok(Aggregate {
            name,
            kind,
            arg_types: arg_types.to_vec(),
            return_type,
            text_union,
            slim,
        })
    }

    /// SQL name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// What the aggregate computes.
    pub fn kind(&self) -> AggregateKind {
        self.kind
    }

    /// Argument types it was configured for.
    pub fn arg_types(&self) -> &[DataType] {
        &self.arg_types
    }

    /// Type of the finished value.
    pub fn return_type(&self) -> &DataType {
        &self.return_type
    }

    /// A new, empty (bottom) state.
    pub fn new_state(&self) -> State {
        State::Empty
    }

    fn col(&self, args: &[ArrayRef], i: usize, argument: &str) -> Result<Column> {
        Column::new(self.name, argument, &args[i])
    }

    /// Feeds rows `0..args[0].len()` into the states `states` maps them to.
    ///
    /// # Errors
    /// A caller error for bad arguments (types, varying constants, negative counts, ...).
    pub fn update<S: StatesByRow + ?Sized>(&self, args: &[ArrayRef], states: &mut S) -> Result<()> {
        if args.len() != self.arg_types.len() {
            return Err(Error::new(
                self.name,
                ErrorKind::Arity {
                    expected: self.arg_types.len().to_string(),
                    found: args.len(),
                },
            ));
        }
        let n = args.first().map_or(0, |a| a.len());
        if args.iter().any(|a| a.len() != n) {
            return Err(Error::internal(
                self.name,
                "argument arrays differ in length",
            ));
        }
        if n == 0 {
            return Ok(());
        }
        match self.kind {
            AggregateKind::StateMerge => {
                let c = self.col(args, 0, "state")?;
                for row in 0..n {
                    if let Value::Bin(b) = c.get(row)? {
                        let st = states.state(row);
                        *st = match std::mem::take(st) {
                            State::Bytes(cur) => State::Bytes(
                                super::bridge::merge_state_bytes(&cur, &b)
                                    .map_err(|e| e.in_function(self.name))?,
                            ),
                            _ => State::Bytes(
                                super::bridge::merge_state_bytes(&b, &b)
                                    .map_err(|e| e.in_function(self.name))?,
                            ),
                        };
                    }
                }
                Ok(())
            }
            AggregateKind::Sketch(k) => sketch_agg::update(k, self.name, args, n, states),
            AggregateKind::Digest(k) => k.update_with(args, n, |row, id| {
                let st = states.state(row);
                match st {
                    State::Fingerprint(f) => f.add_id(id),
                    _ => {
                        let mut f = crate::digest::Fingerprint::EMPTY;
                        f.add_id(id);
                        *st = State::Fingerprint(Box::new(f));
                    }
                }
            }),
            AggregateKind::Strategy(k) => match k {
                StrategyKind::Lww
                | StrategyKind::LwwNullable
                | StrategyKind::Longest
                | StrategyKind::Max
                | StrategyKind::Min
                | StrategyKind::Priority => self.update_cells(k, args, n, states),
                StrategyKind::Union | StrategyKind::Concat => self.update_sets(args, n, states),
                StrategyKind::GCounter | StrategyKind::PNCounter => {
                    self.update_counters(k, args, n, states)
                }
            },
        }
    }

    fn update_cells<S: StatesByRow + ?Sized>(
        &self,
        k: StrategyKind,
        args: &[ArrayRef],
        n: usize,
        states: &mut S,
    ) -> Result<()> {
        let value = self.col(args, 0, "value")?;
        if self.slim {
            let ts = match k {
                StrategyKind::Lww | StrategyKind::LwwNullable => Some(self.col(args, 1, "ts")?),
                _ => None,
            };
            if slim_column(&value) && ts.as_ref().is_none_or(slim_clock_column) {
                return self.update_slim(k, &value, ts.as_ref(), n, states);
            }
        }
        let with_clock = matches!(
            k,
            StrategyKind::Lww | StrategyKind::LwwNullable | StrategyKind::Longest
        );
        let ts = if with_clock {
            Some(self.col(args, 1, "ts")?)
        } else {
            None
        };
        let replica = if with_clock && args.len() == 3 {
            Some(self.col(args, 2, "replica")?)
        } else {
            None
        };
        let levels = if k == StrategyKind::Priority {
            Some(self.levels(&args[1])?)
        } else {
            None
        };
        let nullable = k == StrategyKind::LwwNullable;
        for row in 0..n {
            if !nullable && value.is_null(row) {
                continue;
            }
            let rank = match (&levels, k) {
                (Some((levels, _)), _) => {
                    let mut r = -1i64;
                    for (i, l) in levels.iter().enumerate() {
                        if value.cmp_value(row, l)? == Ordering::Equal {
                            r = i as i64;
                        }
                    }
                    r
                }
                (None, StrategyKind::Longest) => value.longest_len(self.name, "value", row)? as i64,
                _ => 0,
            };
            let guard = levels.as_ref().map_or(0, |l| l.1);
            let st = states.state(row);
            let replace = match st {
                State::Empty => true,
                State::Cell(c) => {
                    if c.guard != guard {
                        return Err(varying_levels(self.name));
                    }
                    let ord = if k == StrategyKind::Min {
                        value.cmp_value(row, &c.value)?.reverse()
                    } else {
                        let mut ord = rank.cmp(&c.rank);
                        if ord == Ordering::Equal {
                            if let Some(ts) = &ts {
                                ord = ts.cmp_value(row, &c.ts)?;
                            }
                        }
                        if ord == Ordering::Equal {
                            if let Some(r) = &replica {
                                ord = r.cmp_value(row, &c.replica)?;
                            }
                        }
                        if ord == Ordering::Equal {
                            ord = value.cmp_value(row, &c.value)?;
                        }
                        ord
                    };
                    ord == Ordering::Greater
                }
                _ => return Err(Error::internal(self.name, "state of another aggregate")),
            };
            if replace {
                let cell = Cell {
                    guard,
                    rank,
                    ts: match &ts {
                        Some(t) => t.get(row)?,
                        None => Value::Null,
                    },
                    replica: match &replica {
                        Some(r) => r.get(row)?,
                        None => Value::Null,
                    },
                    value: value.get(row)?,
                };
                // Reuse the group's box: a win is common while a group fills up.
                match st {
                    State::Cell(c) => **c = cell,
                    _ => *st = State::Cell(Box::new(cell)),
                }
            }
        }
        Ok(())
    }

    /// [`Aggregate::update_cells`] for slim aggregates: the same order, no allocation for
    /// numbers and short text.
    fn update_slim<S: StatesByRow + ?Sized>(
        &self,
        k: StrategyKind,
        value: &Column,
        ts: Option<&Column>,
        n: usize,
        states: &mut S,
    ) -> Result<()> {
        let nullable = k == StrategyKind::LwwNullable;
        let min = k == StrategyKind::Min;
        for row in 0..n {
            if !nullable && value.is_null(row) {
                continue;
            }
            let st = states.state(row);
            match st {
                State::Slim(c) => {
                    let ord = if min {
                        Slim::cmp_row(value, row, &c.value).reverse()
                    } else {
                        ts.map_or(Ordering::Equal, |t| SlimClock::cmp_row(t, row, c.ts))
                            .then_with(|| Slim::cmp_row(value, row, &c.value))
                    };
                    if ord == Ordering::Greater {
                        if let Some(t) = ts {
                            c.ts = SlimClock::read(t, row);
                        }
                        c.value.assign(value, row);
                    }
                }
                State::Empty => {
                    *st = State::Slim(SlimCell {
                        ts: ts.map_or(SlimClock::Null, |t| SlimClock::read(t, row)),
                        value: Slim::read(value, row),
                    });
                }
                _ => {
                    // A general cell (decoded from another host's state): join through it.
                    let cell = State::Slim(SlimCell {
                        ts: ts.map_or(SlimClock::Null, |t| SlimClock::read(t, row)),
                        value: Slim::read(value, row),
                    });
                    self.combine(st, &cell)?;
                }
            }
        }
        Ok(())
    }

    /// Reads the constant `levels` list, checking it is the same on every row, non-NULL and
    /// free of duplicates. Returns the levels and their fingerprint.
    fn levels(&self, array: &ArrayRef) -> Result<(Vec<Value>, u64)> {
        let (offsets, child): (Vec<(usize, usize)>, ArrayRef) = match array.data_type() {
            DataType::List(_) => {
                let l = array.as_list::<i32>();
                (
                    l.offsets()
                        .windows(2)
                        .map(|w| (w[0] as usize, w[1] as usize))
                        .collect(),
                    l.values().clone(),
                )
            }
            DataType::LargeList(_) => {
                let l = array.as_list::<i64>();
                (
                    l.offsets()
                        .windows(2)
                        .map(|w| (w[0] as usize, w[1] as usize))
                        .collect(),
                    l.values().clone(),
                )
            }
            dt => return Err(Error::type_mismatch(self.name, "levels", "a list", dt)),
        };
        if array.null_count() > 0 {
            return Err(Error::invalid(
                self.name,
                "levels",
                "a constant non-NULL list",
                "NULL",
            ));
        }
        let child_col = Column::new(self.name, "levels", &child)?;
        let (s0, e0) = offsets[0];
        for &(s, e) in &offsets[1..] {
            let same = e - s == e0 - s0
                && (0..e - s).try_fold(true, |acc, k| {
                    Ok::<_, Error>(
                        acc && child_col.cmp_rows(s0 + k, &child_col, s + k)? == Ordering::Equal,
                    )
                })?;
            if !same {
                return Err(varying_levels(self.name));
            }
        }
        let levels: Vec<Value> = (s0..e0).map(|i| child_col.get(i)).collect::<Result<_>>()?;
        if levels.is_empty() {
            // Every value would rank -1 (unknown): the "priority" would be a plain max, which
            // MergeQL refuses as well.
            return Err(Error::invalid(
                self.name,
                "levels",
                "at least one priority level",
                "an empty list",
            ));
        }
        let mut seen = BTreeSet::new();
        for l in &levels {
            if l.is_null() {
                return Err(Error::invalid(
                    self.name,
                    "levels",
                    "a list without NULL entries",
                    "a NULL entry",
                ));
            }
            if !seen.insert(l.clone()) {
                return Err(Error::invalid(
                    self.name,
                    "levels",
                    "a list without duplicates",
                    format!("duplicate level {}", l.to_text()),
                ));
            }
        }
        let fp = fingerprint(&levels);
        Ok((levels, fp))
    }

    fn constant_sep(&self, args: &[ArrayRef]) -> Result<Option<String>> {
        if !self.text_union {
            return Ok(None);
        }
        let Some(sep) = args.get(1) else {
            return Ok(Some(DEFAULT_CONCAT_SEP.to_string()));
        };
        let c = Column::new(self.name, "sep", sep)?;
        let first = c
            .str_at(0)
            .ok_or_else(|| Error::invalid(self.name, "sep", "a constant non-NULL text", "NULL"))?;
        if first.is_empty() {
            return Err(Error::invalid(
                self.name,
                "sep",
                "a non-empty separator",
                "''",
            ));
        }
        for row in 1..c.len() {
            if c.str_at(row) != Some(first) {
                return Err(Error::invalid(
                    self.name,
                    "sep",
                    "the same separator on every row",
                    "a varying separator",
                ));
            }
        }
        Ok(Some(first.to_string()))
    }

    fn update_sets<S: StatesByRow + ?Sized>(
        &self,
        args: &[ArrayRef],
        n: usize,
        states: &mut S,
    ) -> Result<()> {
        let sep = self.constant_sep(args)?;
        let value = &args[0];
        let text = self
            .text_union
            .then(|| Column::new(self.name, "value", value))
            .transpose()?;
        // A NULL-typed array (an all-NULL column) has no validity buffer, so `is_null` would
        // call its rows values.
        let all_null = value.data_type() == &DataType::Null;
        for row in 0..n {
            if all_null || value.is_null(row) {
                continue;
            }
            let st = states.state(row);
            if let State::Empty = st {
                *st = State::Set(Box::new(SetState {
                    sep: sep.clone(),
                    items: BTreeSet::new(),
                }));
            }
            let State::Set(set) = st else {
                return Err(Error::internal(self.name, "state of another aggregate"));
            };
            let SetState { sep: s, items } = &mut **set;
            if *s != sep {
                return Err(varying_sep(self.name));
            }
            match (&text, &sep) {
                (Some(t), Some(sep)) => {
                    let txt = t.str_at(row).unwrap_or_default();
                    // Split on the separator without its surrounding whitespace: parts are
                    // trimmed anyway, and this makes split(join(parts)) == parts, without which
                    // the join of texts would not be associative (" | " vs a part ending in " |").
                    let core = match sep.trim() {
                        "" => sep.as_str(),
                        trimmed => trimmed,
                    };
                    for part in txt.split(core) {
                        let part = part.trim();
                        if !part.is_empty() {
                            items.insert(Value::Str(part.to_string()));
                        }
                    }
                }
                _ => {
                    let elements = match value.data_type() {
                        DataType::List(_) => value.as_list::<i32>().value(row),
                        DataType::LargeList(_) => value.as_list::<i64>().value(row),
                        dt => return Err(Error::type_mismatch(self.name, "list", "a list", dt)),
                    };
                    let c = Column::new(self.name, "list", &elements)?;
                    for i in 0..c.len() {
                        if !c.is_null(i) {
                            items.insert(c.get(i)?);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn update_counters<S: StatesByRow + ?Sized>(
        &self,
        k: StrategyKind,
        args: &[ArrayRef],
        n: usize,
        states: &mut S,
    ) -> Result<()> {
        let replica = self.col(args, 0, "replica")?;
        let read = |i: usize, arg: &str| -> Result<Vec<Option<u64>>> {
            // A strict cast: a value that does not fit BIGINT (a UBIGINT from 2^63 up) is an
            // error, never a NULL that would silently drop the count (states store counts as
            // the wire format's int64).
            let c = arrow_cast::cast_with_options(
                &args[i],
                &DataType::Int64,
                &arrow_cast::CastOptions {
                    safe: false,
                    ..Default::default()
                },
            )
            .map_err(|_| {
                if args[i].data_type().is_integer() {
                    Error::invalid(self.name, arg, "a count below 2^63", "a larger count")
                } else {
                    Error::type_mismatch(self.name, arg, "an integer count", args[i].data_type())
                }
            })?;
            let c = c.as_primitive::<arrow_array::types::Int64Type>();
            c.iter()
                .map(|x| match x {
                    Some(v) if v < 0 => Err(Error::invalid(
                        self.name,
                        arg,
                        "a non-negative cumulative count",
                        v.to_string(),
                    )),
                    Some(v) => Ok(Some(v as u64)),
                    None => Ok(None),
                })
                .collect()
        };
        let first = read(
            1,
            if k == StrategyKind::GCounter {
                "count"
            } else {
                "inc"
            },
        )?;
        let second = if k == StrategyKind::PNCounter {
            Some(read(2, "dec")?)
        } else {
            None
        };
        for row in 0..n {
            if replica.is_null(row) {
                continue;
            }
            let (a, b) = (first[row], second.as_ref().and_then(|s| s[row]));
            if a.is_none() && b.is_none() {
                continue;
            }
            let id = replica.get(row)?.to_text();
            let st = states.state(row);
            if let State::Empty = st {
                *st = match k {
                    StrategyKind::GCounter => State::GCounter(BTreeMap::new()),
                    _ => State::PNCounter(Box::default()),
                };
            }
            match st {
                State::GCounter(p) => observe(p, &id, a),
                State::PNCounter(pm) => {
                    observe(&mut pm.0, &id, a);
                    observe(&mut pm.1, &id, b);
                }
                _ => return Err(Error::internal(self.name, "state of another aggregate")),
            }
        }
        Ok(())
    }

    /// Joins `from` into `into` (`into ← into ⊔ from`).
    ///
    /// # Errors
    /// States built with different constant arguments (priority levels, separators).
    pub fn combine(&self, into: &mut State, from: &State) -> Result<()> {
        match (&mut *into, from) {
            (_, State::Empty) => Ok(()),
            (State::Empty, f) => {
                *into = f.clone();
                Ok(())
            }
            (State::Slim(a), State::Slim(b)) => {
                if b.order(a, self.kind == AggregateKind::Strategy(StrategyKind::Min))
                    == Ordering::Greater
                {
                    a.clone_from(b);
                }
                Ok(())
            }
            (State::Slim(a), State::Cell(_)) => {
                *into = State::Cell(Box::new(a.to_cell()));
                self.combine(into, from)
            }
            (State::Cell(_), State::Slim(b)) => {
                let b = State::Cell(Box::new(b.to_cell()));
                self.combine(into, &b)
            }
            (State::Cell(a), State::Cell(b)) => {
                if a.guard != b.guard {
                    return Err(varying_levels(self.name));
                }
                if self.cell_cmp(b, a) == Ordering::Greater {
                    **a = (**b).clone();
                }
                Ok(())
            }
            (State::Set(a), State::Set(b)) => {
                if a.sep != b.sep {
                    return Err(varying_sep(self.name));
                }
                a.items.extend(b.items.iter().cloned());
                Ok(())
            }
            (State::GCounter(a), State::GCounter(b)) => {
                join_counts(a, b);
                Ok(())
            }
            (State::PNCounter(a), State::PNCounter(b)) => {
                join_counts(&mut a.0, &b.0);
                join_counts(&mut a.1, &b.1);
                Ok(())
            }
            (State::Bytes(a), State::Bytes(b)) => {
                *a =
                    super::bridge::merge_state_bytes(a, b).map_err(|e| e.in_function(self.name))?;
                Ok(())
            }
            (State::Sketch(a), State::Sketch(b)) => sketch_agg::combine(self.name, a, b),
            (State::Fingerprint(a), State::Fingerprint(b)) => {
                a.add(b);
                Ok(())
            }
            _ => Err(Error::internal(
                self.name,
                "combining states of different aggregates",
            )),
        }
    }

    fn cell_cmp(&self, a: &Cell, b: &Cell) -> Ordering {
        if self.kind == AggregateKind::Strategy(StrategyKind::Min) {
            return b.value.cmp(&a.value);
        }
        (a.rank, &a.ts, &a.replica, &a.value).cmp(&(b.rank, &b.ts, &b.replica, &b.value))
    }

    /// Brings a state to its canonical form in place (a sketch's pending updates), which
    /// [`Aggregate::finish`] otherwise does on a copy; a host that owns its states mutably at
    /// finalize calls it first. Idempotent; changes no finished value.
    pub fn settle(&self, state: &mut State) {
        if let State::Sketch(k) = state {
            k.settle();
        }
    }

    /// Finishes one output row per state.
    ///
    /// # Errors
    /// Counter values outside their range.
    pub fn finish(&self, states: &[&State]) -> Result<ArrayRef> {
        match self.kind {
            AggregateKind::StateMerge => Ok(Arc::new(BinaryArray::from_iter(states.iter().map(
                |s| match s {
                    State::Bytes(b) => Some(b.as_slice()),
                    _ => None,
                },
            )))),
            AggregateKind::Sketch(_) => Ok(Arc::new(BinaryArray::from_iter(states.iter().map(
                |s| match s {
                    State::Sketch(k) if k.is_settled() => Some(crate::wire::encode_sketch(k)),
                    State::Sketch(k) => {
                        let mut k = (**k).clone();
                        k.settle();
                        Some(crate::wire::encode_sketch(&k))
                    }
                    _ => None,
                },
            )))),
            // No rows is the empty set, whose digest is defined (two empty tables compare equal).
            AggregateKind::Digest(k) => Ok(Arc::new(BinaryArray::from_iter_values(
                states.iter().map(|s| match s {
                    State::Fingerprint(f) => k.finish(f),
                    _ => k.finish(&crate::digest::Fingerprint::EMPTY),
                }),
            ))),
            AggregateKind::Strategy(StrategyKind::GCounter | StrategyKind::PNCounter) => {
                let bytes: Vec<Option<Vec<u8>>> = states
                    .iter()
                    .map(|s| counter_bytes(s))
                    .collect::<Result<_>>()?;
                Ok(Arc::new(BinaryArray::from_iter(bytes)))
            }
            _ if self.text_union => Ok(Arc::new(StringArray::from_iter(states.iter().map(|s| {
                match s {
                    State::Set(set) => Some(
                        set.items
                            .iter()
                            .map(|v| match v {
                                Value::Str(s) => s.as_str(),
                                _ => "",
                            })
                            .collect::<Vec<_>>()
                            .join(set.sep.as_deref().unwrap_or(DEFAULT_CONCAT_SEP)),
                    ),
                    _ => None,
                }
            })))),
            AggregateKind::Strategy(StrategyKind::Union) => {
                let lists: Vec<Value> = states
                    .iter()
                    .map(|s| match s {
                        State::Set(set) => Value::List(set.items.iter().cloned().collect()),
                        _ => Value::Null,
                    })
                    .collect();
                Value::to_array(&lists, &self.return_type)
            }
            AggregateKind::Strategy(_) if states.iter().any(|s| matches!(s, State::Slim(_))) => {
                self.finish_slim(states)
            }
            AggregateKind::Strategy(_) => {
                let values: Vec<&Value> = states
                    .iter()
                    .map(|s| match s {
                        State::Cell(c) => &c.value,
                        _ => &Value::Null,
                    })
                    .collect();
                Value::refs_to_array(&values, &self.return_type)
            }
        }
    }

    /// [`Aggregate::finish`] when some states are slim: text is written straight from the
    /// cells, other types through [`Value`] (no allocation for scalars).
    fn finish_slim(&self, states: &[&State]) -> Result<ArrayRef> {
        if matches!(
            self.return_type,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            let text: ArrayRef = Arc::new(StringArray::from_iter(states.iter().map(|s| match s {
                State::Slim(c) => c.value.as_str(),
                State::Cell(c) => match &c.value {
                    Value::Str(s) => Some(s.as_str()),
                    _ => None,
                },
                _ => None,
            })));
            if self.return_type == DataType::Utf8 {
                return Ok(text);
            }
            return Ok(arrow_cast::cast(&text, &self.return_type)?);
        }
        let values: Vec<Value> = states
            .iter()
            .map(|s| match s {
                State::Slim(c) => c.value.to_value(),
                State::Cell(c) => c.value.clone(),
                _ => Value::Null,
            })
            .collect();
        Value::to_array(&values, &self.return_type)
    }

    /// Serialises a state (for partial aggregation across threads, processes and machines).
    pub fn encode_state(&self, state: &State) -> Vec<u8> {
        let mut out = vec![STATE_FORMAT_VERSION];
        // Serialising plain enums of owned data into a Vec cannot fail.
        out.extend(postcard::to_allocvec(state).unwrap_or_default());
        out
    }

    /// Reads a state written by [`Aggregate::encode_state`].
    ///
    /// # Errors
    /// Bytes that are not a state of this format version.
    pub fn decode_state(&self, bytes: &[u8]) -> Result<State> {
        match bytes.first() {
            Some(&STATE_FORMAT_VERSION) => postcard::from_bytes(&bytes[1..])
                .map_err(|e| Error::decode(self.name, 1, format!("bad aggregate state: {e}"))),
            Some(v) => Err(Error::decode(
                self.name,
                0,
                format!("aggregate state format version {v}, expected {STATE_FORMAT_VERSION}"),
            )),
            None => Err(Error::decode(self.name, 0, "empty aggregate state")),
        }
    }
}

/// Version byte in front of every serialised aggregate state.
pub const STATE_FORMAT_VERSION: u8 = 1;

fn varying_levels(name: &str) -> Error {
    Error::invalid(
        name,
        "levels",
        "the same levels on every row",
        "varying levels",
    )
}

fn varying_sep(name: &str) -> Error {
    Error::invalid(
        name,
        "sep",
        "the same separator on every row",
        "a varying separator",
    )
}

fn observe(m: &mut BTreeMap<String, u64>, id: &str, count: Option<u64>) {
    if let Some(c) = count {
        let e = m.entry(id.to_string()).or_insert(0);
        *e = (*e).max(c);
    }
}

fn join_counts(a: &mut BTreeMap<String, u64>, b: &BTreeMap<String, u64>) {
    for (k, v) in b {
        observe(a, k, Some(*v));
    }
}

fn counter_bytes(s: &State) -> Result<Option<Vec<u8>>> {
    Ok(match s {
        State::GCounter(p) => Some(super::bridge::gcounter_bytes(p)?),
        State::PNCounter(pn) => Some(super::bridge::pncounter_bytes(&pn.0, &pn.1)?),
        _ => None,
    })
}
