//! One [`AggregateUDFImpl`] per catalogue aggregate, over the kernel's columnar accumulator
//! ([`Columnar`]).
//!
//! The partial state of an aggregate is [`Columnar::state_fields`]: for the selecting strategies
//! (LWW, Max, Min) the winning input row itself plus a `present` flag, otherwise one column of
//! serialised states. It depends only on the argument types, so DataFusion can plan partial and
//! final aggregation across partitions, and the partial rows can be shipped between processes
//! (Arrow IPC) and finished elsewhere.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crdt_merge_kernel::catalogue::{FunctionDef, FunctionKind};
use crdt_merge_kernel::strategy::{Aggregate, Columnar};
use datafusion::arrow::array::{new_empty_array, Array, ArrayRef, BooleanArray, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{format_state_name, AggregateOrderSensitivity};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature,
};

use crate::error::{exec_error, plan_error};
use crate::volatility;

/// A crdt-merge aggregate function (for example `crdt_lww`), described by its catalogue entry.
#[derive(Debug)]
pub struct CrdtAggregate {
    def: &'static FunctionDef,
    signature: Signature,
    doc: Documentation,
}

impl CrdtAggregate {
    /// The function for catalogue entry `def`, or `None` when `def` is not an aggregate.
    pub fn new(def: &'static FunctionDef) -> Option<Self> {
        (def.kind == FunctionKind::Aggregate).then(|| CrdtAggregate {
            def,
            signature: Signature::user_defined(volatility(def.volatility)),
            doc: crate::docs::documentation(def),
        })
    }

    /// The catalogue entry.
    pub fn def(&self) -> &'static FunctionDef {
        self.def
    }

    fn kernel(&self, arg_types: &[DataType]) -> Result<Aggregate> {
        Aggregate::new(self.def.name, arg_types).map_err(plan_error)
    }
}

impl PartialEq for CrdtAggregate {
    fn eq(&self, other: &Self) -> bool {
        self.def.name == other.def.name
    }
}

impl Eq for CrdtAggregate {}

impl Hash for CrdtAggregate {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.def.name.hash(state);
    }
}

fn types(fields: &[FieldRef]) -> Vec<DataType> {
    fields.iter().map(|f| f.data_type().clone()).collect()
}

impl AggregateUDFImpl for CrdtAggregate {
    fn name(&self) -> &str {
        self.def.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.kernel(arg_types)?.return_type().clone())
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.kernel(arg_types)?;
        Ok(arg_types.to_vec())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let agg = self.kernel(&types(args.input_fields))?;
        Ok(Columnar::new(agg)
            .state_fields()
            .into_iter()
            .map(|(n, dt)| Arc::new(Field::new(format_state_name(args.name, &n), dt, true)))
            .collect())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let agg = self.kernel(&types(args.expr_fields))?;
        Ok(Box::new(CrdtAccumulator::new(agg)?))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let agg = self.kernel(&types(args.expr_fields))?;
        Ok(Box::new(CrdtGroupsAccumulator::new(agg)))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        // A merge is a semilattice join: the order of the input never matters.
        AggregateOrderSensitivity::Insensitive
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

/// Rows of `args` (and their groups) where `filter` is true; `None` when every row passes.
fn filtered(
    args: &[ArrayRef],
    groups: &[usize],
    filter: Option<&BooleanArray>,
) -> Result<Option<(Vec<ArrayRef>, Vec<usize>)>> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    let keep: Vec<u32> = (0..filter.len())
        .filter(|&i| filter.is_valid(i) && filter.value(i))
        .map(|i| i as u32)
        .collect();
    if keep.len() == filter.len() {
        return Ok(None);
    }
    let idx = UInt32Array::from(keep);
    let args = args
        .iter()
        .map(|a| take(a.as_ref(), &idx, None))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let groups = idx.values().iter().map(|&i| groups[i as usize]).collect();
    Ok(Some((args, groups)))
}

/// The vectorised accumulator: every group of one aggregate in one [`Columnar`].
pub struct CrdtGroupsAccumulator {
    inner: Columnar,
}

impl CrdtGroupsAccumulator {
    /// An empty accumulator for `agg`.
    pub fn new(agg: Aggregate) -> Self {
        CrdtGroupsAccumulator {
            inner: Columnar::new(agg),
        }
    }

    fn fresh(&self) -> Columnar {
        Columnar::new(self.inner.aggregate().clone())
    }

    /// Keeps groups `n..` (renumbered from 0) and returns the state columns of all groups.
    fn split_off_first(&mut self, n: usize) -> Result<Vec<ArrayRef>> {
        let cols = self.inner.state_columns().map_err(exec_error)?;
        let total = self.inner.groups();
        let rest = total.saturating_sub(n);
        let mut next = self.fresh();
        if rest > 0 {
            let tail: Vec<ArrayRef> = cols.iter().map(|c| c.slice(n, rest)).collect();
            let groups: Vec<usize> = (0..rest).collect();
            next.merge_state_columns(&tail, &groups, rest)
                .map_err(exec_error)?;
        }
        self.inner = next;
        Ok(cols)
    }
}

impl GroupsAccumulator for CrdtGroupsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        match filtered(values, group_indices, opt_filter)? {
            Some((args, groups)) => self.inner.update(&args, &groups, total_num_groups),
            None => self.inner.update(values, group_indices, total_num_groups),
        }
        .map_err(exec_error)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        match emit_to {
            EmitTo::All => {
                let out = self.inner.finish().map_err(exec_error)?;
                self.inner = self.fresh();
                Ok(out)
            }
            EmitTo::First(n) => {
                let out = self.inner.finish().map_err(exec_error)?;
                self.split_off_first(n)?;
                Ok(out.slice(0, n.min(out.len())))
            }
        }
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        match emit_to {
            EmitTo::All => {
                let cols = self.inner.state_columns().map_err(exec_error)?;
                self.inner = self.fresh();
                Ok(cols)
            }
            EmitTo::First(n) => Ok(self
                .split_off_first(n)?
                .iter()
                .map(|c| c.slice(0, n.min(c.len())))
                .collect()),
        }
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner
            .merge_state_columns(values, group_indices, total_num_groups)
            .map_err(exec_error)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row is its own group; a filtered-out row is an empty group.
        let rows = values.first().map_or(0, |a| a.len());
        let all: Vec<usize> = (0..rows).collect();
        let mut one = self.fresh();
        match filtered(values, &all, opt_filter)? {
            Some((args, groups)) => one.update(&args, &groups, rows),
            None => one.update(values, &all, rows),
        }
        .map_err(exec_error)?;
        one.state_columns().map_err(exec_error)
    }

    fn size(&self) -> usize {
        // An estimate: the kernel does not report the bytes of the input rows it retains.
        std::mem::size_of::<Self>() + self.inner.groups() * 48
    }
}

/// The row-at-a-time accumulator DataFusion uses without GROUP BY (and for windows): one
/// [`Columnar`] with a single group.
pub struct CrdtAccumulator {
    inner: Columnar,
}

impl CrdtAccumulator {
    /// An accumulator holding bottom.
    ///
    /// # Errors
    /// None in practice (an empty update of the argument types).
    pub fn new(agg: Aggregate) -> Result<Self> {
        let empty: Vec<ArrayRef> = agg.arg_types().iter().map(new_empty_array).collect();
        let mut inner = Columnar::new(agg);
        inner.update(&empty, &[], 1).map_err(exec_error)?;
        Ok(CrdtAccumulator { inner })
    }
}

impl std::fmt::Debug for CrdtAccumulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrdtAccumulator")
            .field("function", &self.inner.aggregate().name())
            .finish()
    }
}

impl Accumulator for CrdtAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |a| a.len());
        self.inner
            .update(values, &vec![0; rows], 1)
            .map_err(exec_error)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let out = self.inner.finish().map_err(exec_error)?;
        ScalarValue::try_from_array(&out, 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + 64
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner
            .state_columns()
            .map_err(exec_error)?
            .iter()
            .map(|c| ScalarValue::try_from_array(c, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states.first().map_or(0, |a| a.len());
        self.inner
            .merge_state_columns(states, &vec![0; rows], 1)
            .map_err(exec_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};

    fn args() -> Vec<ArrayRef> {
        vec![
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some("b"),
                None,
                Some("d"),
                Some("e"),
                Some("f"),
            ])),
            Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 0])),
        ]
    }

    const GROUPS: [usize; 6] = [0, 1, 0, 2, 1, 2];

    fn accumulator(name: &str) -> CrdtGroupsAccumulator {
        let types = match name {
            "crdt_concat" => vec![DataType::Utf8],
            _ => vec![DataType::Utf8, DataType::Int64],
        };
        CrdtGroupsAccumulator::new(Aggregate::new(name, &types).expect("aggregate"))
    }

    fn input(name: &str) -> Vec<ArrayRef> {
        let a = args();
        if name == "crdt_concat" {
            a[..1].to_vec()
        } else {
            a
        }
    }

    fn all(name: &str) -> ArrayRef {
        let mut acc = accumulator(name);
        acc.update_batch(&input(name), &GROUPS, None, 3)
            .expect("update");
        acc.evaluate(EmitTo::All).expect("evaluate")
    }

    /// Emitting the first groups keeps the rest, renumbered, for later rows and emits.
    #[test]
    fn emit_first_splits_groups() {
        for name in ["crdt_lww", "crdt_longest", "crdt_concat"] {
            let want = all(name);
            let mut acc = accumulator(name);
            acc.update_batch(&input(name), &GROUPS, None, 3)
                .expect("update");
            let first = acc.evaluate(EmitTo::First(1)).expect("first");
            assert_eq!(first.as_ref(), want.slice(0, 1).as_ref(), "{name}");
            let rest = acc.evaluate(EmitTo::All).expect("rest");
            assert_eq!(rest.as_ref(), want.slice(1, 2).as_ref(), "{name}");
            // state(First) then merge elsewhere gives the same answers.
            let mut acc = accumulator(name);
            acc.update_batch(&input(name), &GROUPS, None, 3)
                .expect("update");
            let head = acc.state(EmitTo::First(2)).expect("state");
            let tail = acc.state(EmitTo::All).expect("state");
            let mut other = accumulator(name);
            other.merge_batch(&head, &[0, 1], 3).expect("merge");
            other.merge_batch(&tail, &[2], 3).expect("merge");
            assert_eq!(
                other.evaluate(EmitTo::All).expect("evaluate").as_ref(),
                want.as_ref(),
                "{name}"
            );
        }
    }

    /// Row-by-row states, merged into groups, equal the direct aggregation; filters skip rows.
    #[test]
    fn convert_to_state_and_filters() {
        for name in ["crdt_lww", "crdt_longest", "crdt_concat"] {
            let want = all(name);
            let acc = accumulator(name);
            let states = acc.convert_to_state(&input(name), None).expect("convert");
            let mut other = accumulator(name);
            other.merge_batch(&states, &GROUPS, 3).expect("merge");
            assert_eq!(
                other.evaluate(EmitTo::All).expect("evaluate").as_ref(),
                want.as_ref(),
                "{name}"
            );
            // Filtering out rows 1 and 4 leaves group 1 empty (NULL).
            let filter = BooleanArray::from(vec![true, false, true, true, false, true]);
            let mut direct = accumulator(name);
            direct
                .update_batch(&input(name), &GROUPS, Some(&filter), 3)
                .expect("update");
            let direct = direct.evaluate(EmitTo::All).expect("evaluate");
            assert!(direct.is_null(1), "{name}");
            let states = acc
                .convert_to_state(&input(name), Some(&filter))
                .expect("convert");
            let mut via = accumulator(name);
            via.merge_batch(&states, &GROUPS, 3).expect("merge");
            assert_eq!(
                via.evaluate(EmitTo::All).expect("evaluate").as_ref(),
                direct.as_ref(),
                "{name}"
            );
        }
    }

    #[test]
    fn single_group_accumulator_round_trips_state() {
        let agg = Aggregate::new("crdt_lww", &[DataType::Utf8, DataType::Int64]).expect("agg");
        let mut a = CrdtAccumulator::new(agg.clone()).expect("acc");
        assert!(a.evaluate().expect("empty").is_null());
        a.update_batch(&args()).expect("update");
        let state: Vec<ArrayRef> = a
            .state()
            .expect("state")
            .iter()
            .map(|s| s.to_array().expect("array"))
            .collect();
        let mut b = CrdtAccumulator::new(agg).expect("acc");
        b.merge_batch(&state).expect("merge");
        assert_eq!(b.evaluate().expect("value"), ScalarValue::from("e"));
    }
}
