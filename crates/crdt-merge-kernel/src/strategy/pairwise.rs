//! Pairwise joins: two arrays (and constants) in, one array out, row by row.
//!
//! `crdt_<strategy>_join(left..., right..., constants...)` is defined as the aggregate of the
//! same strategy over exactly the two rows `left[i]` and `right[i]`, so the pairwise and
//! grouped forms cannot disagree.

use arrow_array::{Array, ArrayRef, BooleanArray};
use arrow_schema::DataType;

use super::aggregate::{Aggregate, PerRow, State};
use super::StrategyKind;
use crate::error::{Error, ErrorKind, Result};
use crate::order::Column;
use crate::sort_key::Representation;

/// How a `_join` function's arguments split into per-side arguments and shared constants.
#[derive(Debug, Clone, Copy)]
pub struct JoinShape {
    /// The strategy.
    pub strategy: StrategyKind,
    /// Arguments per side.
    pub per_side: usize,
    /// Trailing constant arguments shared by both sides.
    pub constants: usize,
}

/// Resolves `name` with `n_args` arguments to its shape.
///
/// # Errors
/// Unknown name or an argument count the function does not accept.
pub fn shape(name: &str, n_args: usize) -> Result<JoinShape> {
    let strategy = StrategyKind::ALL
        .into_iter()
        .find(|k| k.join_name() == Some(name))
        .ok_or_else(|| Error::invalid(name, "function", "a crdt_*_join function", name))?;
    let (per_side, constants, expected) = match (strategy, n_args) {
        (StrategyKind::Lww | StrategyKind::LwwNullable | StrategyKind::Longest, 4) => (2, 0, ""),
        (StrategyKind::Lww | StrategyKind::LwwNullable | StrategyKind::Longest, 6) => (3, 0, ""),
        (StrategyKind::Lww | StrategyKind::LwwNullable | StrategyKind::Longest, _) => {
            (0, 0, "4 (v1, ts1, v2, ts2) or 6 (v1, ts1, r1, v2, ts2, r2)")
        }
        (StrategyKind::Max | StrategyKind::Min, 2) => (1, 0, ""),
        (StrategyKind::Max | StrategyKind::Min, _) => (0, 0, "2 (a, b)"),
        (StrategyKind::Priority, 3) => (1, 1, ""),
        (StrategyKind::Priority, _) => (0, 0, "3 (a, b, levels)"),
        (StrategyKind::Union, 2) => (1, 0, ""),
        (StrategyKind::Union, 3) => (1, 1, ""),
        (StrategyKind::Union, _) => (0, 0, "2 (list1, list2) or 3 (text1, text2, sep)"),
        (StrategyKind::Concat, 2) => (1, 0, ""),
        (StrategyKind::Concat, 3) => (1, 1, ""),
        (StrategyKind::Concat, _) => (0, 0, "2 or 3 (text1, text2 [, sep])"),
        (StrategyKind::GCounter | StrategyKind::PNCounter, _) => {
            (0, 0, "crdt_state_merge for counters")
        }
    };
    if per_side == 0 {
        return Err(Error::new(
            name,
            ErrorKind::Arity {
                expected: expected.into(),
                found: n_args,
            },
        ));
    }
    Ok(JoinShape {
        strategy,
        per_side,
        constants,
    })
}

fn side_types(name: &str, s: &JoinShape, types: &[DataType]) -> Result<Vec<DataType>> {
    let (l, r) = (&types[..s.per_side], &types[s.per_side..2 * s.per_side]);
    let mut out = Vec::with_capacity(s.per_side + s.constants);
    for (i, (a, b)) in l.iter().zip(r).enumerate() {
        // A NULL literal on one side takes the other side's type.
        let t = match (a, b) {
            (DataType::Null, t) | (t, DataType::Null) => t.clone(),
            (a, b) if a == b => a.clone(),
            // Both sides widen to a common type by the schema-evolution rules (INTEGER vs
            // BIGINT clocks, float32 vs float64, text variants); anything else is an error.
            (a, b) => crate::table::widen(name, a, b).map_err(|_| {
                Error::type_mismatch(
                    name,
                    format!("argument {}", s.per_side + i + 1),
                    format!("{a} (the type of argument {})", i + 1),
                    b,
                )
            })?,
        };
        out.push(t);
    }
    out.extend_from_slice(&types[2 * s.per_side..]);
    Ok(out)
}

/// Return type of `name` for `arg_types`.
///
/// # Errors
/// As [`Aggregate::new`], plus left/right type mismatches.
pub fn return_type(name: &str, arg_types: &[DataType]) -> Result<DataType> {
    let s = shape(name, arg_types.len())?;
    let agg = Aggregate::new(
        s.strategy.aggregate_name(),
        &side_types(name, &s, arg_types)?,
    )
    .map_err(|e| e.in_function(name))?;
    Ok(agg.return_type().clone())
}

/// The arguments of a pairwise join split by side.
struct Sides {
    shape: JoinShape,
    /// The common type of each per-side argument, then the constants' types.
    types: Vec<DataType>,
    /// Each side's arguments cast to `types`, the shared constants appended.
    left: Vec<ArrayRef>,
    right: Vec<ArrayRef>,
}

/// The arguments of pairwise join `name` split by side (see [`Sides`]).
fn sides(name: &str, args: &[ArrayRef]) -> Result<Sides> {
    let s = shape(name, args.len())?;
    let types: Vec<DataType> = args.iter().map(|a| a.data_type().clone()).collect();
    let side = side_types(name, &s, &types)?;
    let cast = |a: &ArrayRef, t: &DataType| -> Result<ArrayRef> {
        if a.data_type() == t {
            Ok(a.clone())
        } else {
            Ok(arrow_cast::cast(a, t)?)
        }
    };
    let consts = &args[2 * s.per_side..];
    let mut left: Vec<ArrayRef> = Vec::new();
    let mut right: Vec<ArrayRef> = Vec::new();
    for i in 0..s.per_side {
        left.push(cast(&args[i], &side[i])?);
        right.push(cast(&args[s.per_side + i], &side[i])?);
    }
    left.extend(consts.iter().cloned());
    right.extend(consts.iter().cloned());
    Ok(Sides {
        shape: s,
        types: side,
        left,
        right,
    })
}

/// Evaluates pairwise join `name` over `args` (all of one length).
///
/// # Errors
/// Bad argument count or types, and the aggregate's own errors.
pub fn join(name: &str, args: &[ArrayRef]) -> Result<ArrayRef> {
    let Sides {
        shape: s,
        types: side,
        left,
        right,
    } = sides(name, args)?;
    let agg =
        Aggregate::new(s.strategy.aggregate_name(), &side).map_err(|e| e.in_function(name))?;
    let n = args.first().map_or(0, |a| a.len());
    if picks(s.strategy) {
        let mask = take_right(s.strategy, &left, &right, n)?;
        let out = arrow_select::zip::zip(&mask, &right[0], &left[0])?;
        let out = if out.data_type() == agg.return_type() {
            out
        } else {
            arrow_cast::cast(&out, agg.return_type())?
        };
        return crate::value::canonical_float_array(out);
    }
    let mut states = vec![State::Empty; n];
    agg.update(&left, &mut PerRow(&mut states))
        .map_err(|e| e.in_function(name))?;
    agg.update(&right, &mut PerRow(&mut states))
        .map_err(|e| e.in_function(name))?;
    let refs: Vec<&State> = states.iter().collect();
    agg.finish(&refs).map_err(|e| e.in_function(name))
}

/// True for the strategies whose join selects one of the two cells by their order alone (LWW,
/// LWW-nullable, Max, Min), which have a [`pick`] form.
pub fn picks(k: StrategyKind) -> bool {
    k.pick_and_key_names().is_some()
}

/// Which side a selecting join picks, per row: `crdt_<strategy>_pick`
/// ([`StrategyKind::pick_and_key_names`]) takes the arguments of `crdt_<strategy>_join` and is
/// `true` where the join is the second cell, `false` where it is the first. A host that selects
/// values itself (`CASE WHEN pick THEN b ELSE a END`) keeps every value type it has, including
/// those no overload of the `_join` can return.
///
/// # Errors
/// A name that is no strategy's pick, and the `_join`'s own errors (argument count, types),
/// naming `name`.
pub fn pick(name: &str, args: &[ArrayRef]) -> Result<BooleanArray> {
    let kind = StrategyKind::ALL
        .into_iter()
        .find(|k| k.pick_and_key_names().is_some_and(|(p, _)| p == name))
        .ok_or_else(|| {
            Error::invalid(
                name,
                "function",
                "crdt_<lww|lww_nullable|max|min>_pick",
                name,
            )
        })?;
    let run = || -> Result<BooleanArray> {
        let join_name = kind.join_name().unwrap_or_default();
        let Sides {
            shape: s,
            types: side,
            left,
            right,
        } = sides(join_name, args)?;
        Aggregate::new(s.strategy.aggregate_name(), &side)?;
        let n = args.first().map_or(0, |a| a.len());
        take_right(s.strategy, &left, &right, n)
    };
    run().map_err(|e| e.in_function(name))
}

/// The selecting strategies pick one side per row; the mask is `true` where the right side
/// wins. Same order as the aggregate over the two rows (the law tests compare them), so the
/// forms cannot disagree.
fn take_right(
    k: StrategyKind,
    left: &[ArrayRef],
    right: &[ArrayRef],
    n: usize,
) -> Result<BooleanArray> {
    use std::cmp::Ordering;
    let agg_name = k.aggregate_name();
    let cols = |side: &[ArrayRef]| -> Result<Vec<Column>> {
        side.iter()
            .zip(["value", "ts", "replica"])
            .map(|(a, arg)| Column::new(agg_name, arg, a))
            .collect()
    };
    let (l, r) = (cols(left)?, cols(right)?);
    // Built on the first tie between values stored differently (see `sort_key`).
    let mut repr: Option<Representation> = None;
    let mut raw = |i: usize| -> Result<Ordering> {
        if repr.is_none() {
            repr = Some(Representation::of(&[&right[0], &left[0]], false)?);
        }
        Ok(repr
            .as_ref()
            .map_or(Ordering::Equal, |r| r.bytes(i).cmp(r.bytes(n + i))))
    };
    let mut take_right = Vec::with_capacity(n);
    for i in 0..n {
        let (ln, rn) = (l[0].is_null(i), r[0].is_null(i));
        let ord = match k {
            // A NULL value is bottom: the other side wins whatever the clocks say.
            StrategyKind::Lww | StrategyKind::Max | StrategyKind::Min if ln || rn => {
                take_right.push(!rn);
                continue;
            }
            StrategyKind::Min => l[0].cmp_rows(i, &r[0], i)?,
            StrategyKind::Max => r[0].cmp_rows(i, &l[0], i)?,
            _ => {
                let mut ord = Ordering::Equal;
                for c in [1usize, 2, 0] {
                    if c < l.len() && ord == Ordering::Equal {
                        ord = r[c].cmp_rows(i, &l[c], i)?;
                    }
                }
                ord
            }
        };
        let wins = match ord {
            // The greater stored bits, also for Min (see `sort_key`).
            Ordering::Equal => raw(i)? == Ordering::Greater,
            o => o == Ordering::Greater,
        };
        take_right.push(wins);
    }
    Ok(BooleanArray::from(take_right))
}
