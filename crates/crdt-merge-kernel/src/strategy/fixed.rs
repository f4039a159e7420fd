//! Fixed-width states: `crdt_max` and `crdt_min` over integers, floats, dates and timestamps.
//!
//! The winner of such an aggregate is one number, so its whole state is a [`FixedCell`]: 16
//! bytes, `Copy`, no heap. A host can keep it in its own state memory with no destructor (DuckDB
//! then skips its destroy pass, and its hash table rows are 24 bytes narrower than with a
//! [`State`]), and a batch whose rows all update one state (an ungrouped aggregate) is reduced
//! in one typed pass before it touches the state. The order is the slim cells' (integers as
//! i64, floats canonical with NaN greatest), and [`Aggregate::finish_fixed`] returns exactly what
//! [`Aggregate::finish`] returns for the same rows.

use std::cmp::Ordering;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, PrimitiveArray};
use arrow_schema::{DataType, TimeUnit};

use super::aggregate::{Aggregate, AggregateKind, State};
use super::kind::StrategyKind;
use super::slim::{Slim, SlimCell, SlimClock};
use crate::error::{Error, Result};
use crate::order::Column;
use crate::value::canonical_f64;

/// The state of a fixed-width aggregate: the winning value, or `Null` while no non-NULL value
/// was seen (the bottom).
pub type FixedCell = SlimClock;

/// Maps an input row to the [`FixedCell`] of its group, by value (so a host may keep cells at
/// any address, unaligned included, and read them with an unaligned load).
pub trait FixedStatesByRow {
    /// The state row `row` updates.
    fn get(&self, row: usize) -> FixedCell;

    /// Replaces the state row `row` updates.
    fn set(&mut self, row: usize, cell: FixedCell);

    /// `true` when every row of the batch updates one state (an ungrouped aggregate): the batch
    /// is then reduced first and joined into row 0's state once.
    fn single(&self) -> bool {
        false
    }
}

/// Value types whose max and min have a fixed-width state.
fn fixed_value_type(dt: &DataType) -> bool {
    use DataType::*;
    matches!(
        dt,
        Int8 | Int16 | Int32 | Int64 | Date32 | Date64 | Timestamp(_, _) | Float32 | Float64
    )
}

/// Lanes of the batch reductions: eight independent accumulators, so the loop compiles to
/// vector max/min instructions (a single running maximum is one long dependency chain).
const LANES: usize = 8;

/// The greatest (or, with `min`, least) of `values` (non-empty).
fn best_of<T: Copy + Ord>(values: &[T], min: bool) -> T {
    let pick = |a: T, b: T| if min { a.min(b) } else { a.max(b) };
    let mut acc = [values[0]; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] = pick(acc[i], c[i]);
        }
    }
    let mut best = acc.into_iter().fold(values[0], pick);
    for &x in rest {
        best = pick(best, x);
    }
    best
}

/// The greatest (or least) non-NULL value of a primitive array, widened to i64.
fn best_int<T>(a: &PrimitiveArray<T>, min: bool) -> Option<i64>
where
    T: ArrowPrimitiveType,
    T::Native: Ord + Into<i64>,
{
    if a.null_count() == 0 {
        return (!a.is_empty()).then(|| best_of(a.values(), min).into());
    }
    let v = a.iter().flatten();
    if min { v.min() } else { v.max() }.map(Into::into)
}

/// The greatest (or least) non-NULL float of `values`, canonical, in [`crate::value::cmp_f64`]'s order
/// (NaN above every number, -0 equal to +0).
fn best_float(values: impl Iterator<Item = f64> + Clone, min: bool) -> Option<f64> {
    let mut v = values.clone().peekable();
    v.peek()?;
    let has_nan = values.clone().any(f64::is_nan);
    if has_nan && (!min || values.clone().all(f64::is_nan)) {
        return Some(f64::NAN);
    }
    // `f64::max` / `min` skip NaN, which is what is left to do once NaN is handled above.
    let mut acc = [if min {
        f64::INFINITY
    } else {
        f64::NEG_INFINITY
    }; LANES];
    for (i, x) in values.enumerate() {
        let a = &mut acc[i % LANES];
        *a = if min { a.min(x) } else { a.max(x) };
    }
    let best = acc
        .into_iter()
        .reduce(|a, b| if min { a.min(b) } else { a.max(b) })
        .unwrap_or(f64::NAN);
    Some(canonical_f64(best))
}

/// [`best_float`] of a float array, skipping NULLs.
fn best_float_array<T>(a: &PrimitiveArray<T>, min: bool) -> Option<f64>
where
    T: ArrowPrimitiveType,
    T::Native: Into<f64>,
{
    if a.null_count() == 0 {
        best_float(a.values().iter().map(|&x| x.into()), min)
    } else {
        best_float(a.iter().flatten().map(Into::into), min)
    }
}

/// The batch's best value, read from the array in its own type (no widened copy).
fn best_in_batch(a: &ArrayRef, min: bool) -> FixedCell {
    use arrow_array::types::*;
    use DataType::*;
    let int = |v: Option<i64>| v.map_or(SlimClock::Null, SlimClock::Int);
    let float = |v: Option<f64>| v.map_or(SlimClock::Null, SlimClock::Float);
    match a.data_type() {
        Int8 => int(best_int(a.as_primitive::<Int8Type>(), min)),
        Int16 => int(best_int(a.as_primitive::<Int16Type>(), min)),
        Int32 => int(best_int(a.as_primitive::<Int32Type>(), min)),
        Int64 => int(best_int(a.as_primitive::<Int64Type>(), min)),
        Date32 => int(best_int(a.as_primitive::<Date32Type>(), min)),
        Date64 => int(best_int(a.as_primitive::<Date64Type>(), min)),
        Timestamp(TimeUnit::Second, _) => {
            int(best_int(a.as_primitive::<TimestampSecondType>(), min))
        }
        Timestamp(TimeUnit::Millisecond, _) => {
            int(best_int(a.as_primitive::<TimestampMillisecondType>(), min))
        }
        Timestamp(TimeUnit::Microsecond, _) => {
            int(best_int(a.as_primitive::<TimestampMicrosecondType>(), min))
        }
        Timestamp(TimeUnit::Nanosecond, _) => {
            int(best_int(a.as_primitive::<TimestampNanosecondType>(), min))
        }
        Float32 => float(best_float_array(a.as_primitive::<Float32Type>(), min)),
        Float64 => float(best_float_array(a.as_primitive::<Float64Type>(), min)),
        _ => SlimClock::Null,
    }
}

impl Aggregate {
    /// Whether this aggregate keeps a [`FixedCell`] per group (`crdt_max` / `crdt_min` over an
    /// integer, float, date or timestamp); if so, a host may use [`Aggregate::update_fixed`],
    /// [`Aggregate::combine_fixed`] and [`Aggregate::finish_fixed`] instead of the [`State`]
    /// functions.
    pub fn fixed_width(&self) -> bool {
        matches!(
            self.kind(),
            AggregateKind::Strategy(StrategyKind::Max | StrategyKind::Min)
        ) && self.arg_types().first().is_some_and(fixed_value_type)
    }

    fn is_min(&self) -> bool {
        self.kind() == AggregateKind::Strategy(StrategyKind::Min)
    }

    /// `true` when `a` beats `b` (the one that is not `Null` wins over `Null`).
    #[inline]
    fn fixed_beats(&self, a: FixedCell, b: FixedCell) -> bool {
        match (a, b) {
            (SlimClock::Null, _) => false,
            (_, SlimClock::Null) => true,
            _ => {
                let o = a.order(b);
                if self.is_min() {
                    o == Ordering::Less
                } else {
                    o == Ordering::Greater
                }
            }
        }
    }

    /// [`Aggregate::update`] for a [`Aggregate::fixed_width`] aggregate.
    ///
    /// # Errors
    /// Wrong arity or a value column of another type than the aggregate was configured for.
    pub fn update_fixed<S: FixedStatesByRow + ?Sized>(
        &self,
        args: &[ArrayRef],
        states: &mut S,
    ) -> Result<()> {
        let [value] = args else {
            return Err(Error::internal(
                self.name(),
                "a fixed-width update takes one argument",
            ));
        };
        if !self.fixed_width() || !fixed_value_type(value.data_type()) {
            return Err(Error::internal(
                self.name(),
                "a fixed-width update of an aggregate or a type without one",
            ));
        }
        let min = self.is_min();
        if states.single() {
            let best = best_in_batch(value, min);
            if !value.is_empty() && self.fixed_beats(best, states.get(0)) {
                states.set(0, best);
            }
            return Ok(());
        }
        let col = Column::new(self.name(), "value", value)?;
        for row in 0..col.len() {
            if col.is_null(row) {
                continue;
            }
            let replace = match states.get(row) {
                SlimClock::Null => true,
                cur => {
                    let o = SlimClock::cmp_row(&col, row, cur);
                    if min {
                        o == Ordering::Less
                    } else {
                        o == Ordering::Greater
                    }
                }
            };
            if replace {
                states.set(row, SlimClock::read(&col, row));
            }
        }
        Ok(())
    }

    /// Joins `from` into `into` (`into ← into ⊔ from`) for a fixed-width aggregate.
    #[inline]
    pub fn combine_fixed(&self, into: &mut FixedCell, from: &FixedCell) {
        if self.fixed_beats(*from, *into) {
            *into = *from;
        }
    }

    /// [`Aggregate::finish`] of fixed-width states: one output row per state.
    ///
    /// # Errors
    /// As [`Aggregate::finish`].
    pub fn finish_fixed(&self, states: &[FixedCell]) -> Result<ArrayRef> {
        let general: Vec<State> = states
            .iter()
            .map(|c| match *c {
                SlimClock::Null => State::Empty,
                SlimClock::Int(i) => State::Slim(SlimCell {
                    ts: SlimClock::Null,
                    value: Slim::Int(i),
                }),
                SlimClock::Float(f) => State::Slim(SlimCell {
                    ts: SlimClock::Null,
                    value: Slim::Float(f),
                }),
            })
            .collect();
        let refs: Vec<&State> = general.iter().collect();
        self.finish(&refs)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        Date32Array, Float32Array, Float64Array, Int32Array, Int64Array, Int8Array,
        TimestampMicrosecondArray,
    };

    use super::*;
    use crate::strategy::{PerRow, Single};

    struct Rows<'a>(&'a mut [FixedCell]);
    impl FixedStatesByRow for Rows<'_> {
        fn get(&self, row: usize) -> FixedCell {
            self.0[row]
        }
        fn set(&mut self, row: usize, cell: FixedCell) {
            self.0[row] = cell;
        }
    }
    /// One state for every row; `reduce` says so (the batch is reduced first), else the
    /// per-row loop runs over the one state.
    struct One<'a>(&'a mut FixedCell, bool);
    impl FixedStatesByRow for One<'_> {
        fn get(&self, _row: usize) -> FixedCell {
            *self.0
        }
        fn set(&mut self, _row: usize, cell: FixedCell) {
            *self.0 = cell;
        }
        fn single(&self) -> bool {
            self.1
        }
    }

    fn arrays() -> Vec<ArrayRef> {
        vec![
            Arc::new(Int32Array::from(vec![
                Some(3),
                None,
                Some(-7),
                Some(9),
                Some(9),
            ])),
            Arc::new(Float32Array::from(vec![
                Some(1.5),
                Some(f32::NAN),
                None,
                Some(-0.0),
                Some(-2.0),
            ])),
            Arc::new(Float32Array::from(vec![Some(0.0), Some(-0.0), None])),
            Arc::new(Date32Array::from(vec![None, Some(19000), Some(-1)])),
            Arc::new(TimestampMicrosecondArray::from(vec![None::<i64>, None])),
            Arc::new(Float64Array::from(vec![Some(f64::NEG_INFINITY), Some(4.0)])),
            // Longer than the reduction's lanes, with and without NULLs.
            Arc::new(Int64Array::from_iter_values(
                (0..37).map(|i| (i * 7919) % 101 - 50),
            )),
            Arc::new(Int8Array::from_iter(
                (0..29).map(|i| (i % 3 != 0).then_some(i as i8 - 14)),
            )),
            Arc::new(Float64Array::from_iter_values((0..21).map(|i| {
                if i == 0 {
                    -0.0
                } else {
                    (i as f64).sin()
                }
            }))),
            Arc::new(Float64Array::from_iter_values((0..19).map(|i| {
                if i % 5 == 0 {
                    f64::NAN
                } else {
                    i as f64
                }
            }))),
            Arc::new(Float64Array::from(vec![
                Some(f64::NAN),
                None,
                Some(f64::NAN),
            ])),
            Arc::new(Float64Array::from(vec![Some(-0.0), Some(-0.0)])),
            Arc::new(Float64Array::from(vec![None::<f64>, None])),
        ]
    }

    /// Every path (per row, one state looped, one state reduced, combined halves) finishes to
    /// what the general aggregate finishes to.
    #[test]
    fn fixed_states_equal_the_general_aggregate() {
        for name in ["crdt_max", "crdt_min"] {
            for a in arrays() {
                let agg = Aggregate::new(name, &[a.data_type().clone()]).unwrap();
                assert!(agg.fixed_width(), "{name} over {}", a.data_type());
                let args = [a.clone()];
                let mut general = State::Empty;
                agg.update(&args, &mut Single(&mut general)).unwrap();
                let want = agg.finish(&[&general]).unwrap();

                let mut reduced = FixedCell::Null;
                agg.update_fixed(&args, &mut One(&mut reduced, true))
                    .unwrap();
                let mut looped = FixedCell::Null;
                agg.update_fixed(&args, &mut One(&mut looped, false))
                    .unwrap();
                // Each row in its own state, then all combined in reverse order.
                let mut per_row = vec![FixedCell::Null; a.len()];
                agg.update_fixed(&args, &mut Rows(&mut per_row)).unwrap();
                let mut combined = FixedCell::Null;
                for c in per_row.iter().rev() {
                    agg.combine_fixed(&mut combined, c);
                }
                for got in [reduced, looped, combined] {
                    let got = agg.finish_fixed(&[got]).unwrap();
                    assert_eq!(
                        format!("{got:?}"),
                        format!("{want:?}"),
                        "{name} over {}",
                        a.data_type()
                    );
                }
                // Per-row states finish as the general per-row states do.
                let mut rows = vec![State::Empty; a.len()];
                agg.update(&args, &mut PerRow(&mut rows)).unwrap();
                let refs: Vec<&State> = rows.iter().collect();
                assert_eq!(
                    format!("{:?}", agg.finish_fixed(&per_row).unwrap()),
                    format!("{:?}", agg.finish(&refs).unwrap())
                );
            }
        }
    }

    #[test]
    fn other_aggregates_have_no_fixed_state() {
        for (name, types) in [
            ("crdt_max", vec![DataType::Utf8]),
            ("crdt_max", vec![DataType::UInt64]),
            ("crdt_max", vec![DataType::Boolean]),
            ("crdt_lww", vec![DataType::Int64, DataType::Int64]),
        ] {
            let agg = Aggregate::new(name, &types).unwrap();
            assert!(!agg.fixed_width(), "{name} over {types:?}");
            let mut c = FixedCell::Null;
            let arr: ArrayRef = Arc::new(Int64Array::from(vec![1]));
            assert!(agg.update_fixed(&[arr], &mut One(&mut c, true)).is_err());
        }
    }

    fn cell() -> impl proptest::strategy::Strategy<Value = FixedCell> {
        use proptest::prelude::*;
        prop_oneof![Just(FixedCell::Null), any::<i64>().prop_map(FixedCell::Int),]
    }

    fn float_cell() -> impl proptest::strategy::Strategy<Value = FixedCell> {
        use proptest::prelude::*;
        prop_oneof![
            Just(FixedCell::Null),
            Just(FixedCell::Float(f64::NAN)),
            any::<f64>().prop_map(|f| FixedCell::Float(canonical_f64(f))),
        ]
    }

    fn join(agg: &Aggregate, a: FixedCell, b: FixedCell) -> FixedCell {
        let mut out = a;
        agg.combine_fixed(&mut out, &b);
        out
    }

    fn same(a: FixedCell, b: FixedCell) -> bool {
        match (a, b) {
            (FixedCell::Float(x), FixedCell::Float(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    proptest::proptest! {
        /// The join of fixed cells is commutative, associative and idempotent, for max and
        /// min, over integers and floats (NaN and signed zeros included).
        #[test]
        fn fixed_join_laws(
            ints in proptest::collection::vec(cell(), 3),
            floats in proptest::collection::vec(float_cell(), 3),
        ) {
            for name in ["crdt_max", "crdt_min"] {
                for (dt, xs) in [(DataType::Int64, &ints), (DataType::Float64, &floats)] {
                    let agg = Aggregate::new(name, &[dt]).unwrap();
                    let (a, b, c) = (xs[0], xs[1], xs[2]);
                    proptest::prop_assert!(same(join(&agg, a, b), join(&agg, b, a)));
                    proptest::prop_assert!(same(
                        join(&agg, join(&agg, a, b), c),
                        join(&agg, a, join(&agg, b, c))
                    ));
                    proptest::prop_assert!(same(join(&agg, a, a), a));
                }
            }
        }
    }
}
