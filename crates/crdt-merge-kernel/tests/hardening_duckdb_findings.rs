//! Regression tests for the kernel side of the DuckDB findings of issue 14 (hardening): each
//! test is named after its finding.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, StringArray, UInt64Array};
use crdt_merge_kernel::catalogue::invoke_scalar;
use crdt_merge_kernel::strategy::{Aggregate, PerRow, State};

fn update(name: &str, args: &[ArrayRef]) -> Result<Vec<State>, String> {
    let types: Vec<_> = args.iter().map(|a| a.data_type().clone()).collect();
    let agg = Aggregate::new(name, &types).map_err(|e| e.to_string())?;
    let mut states = vec![State::Empty; args[0].len()];
    agg.update(args, &mut PerRow(&mut states))
        .map_err(|e| e.to_string())?;
    Ok(states)
}

/// Finding 3: a UBIGINT count from 2^63 up was cast to NULL and dropped silently, and the
/// overflow guard only ran on batches without NULLs. Now it is an error, NULLs or not.
#[test]
fn finding_3_counter_above_i64_is_an_error_even_with_nulls() {
    let r: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c"]));
    for counts in [
        vec![Some(1u64 << 63), Some(1), Some(2)],
        vec![Some(1u64 << 63), None, Some(2)],
        vec![None, Some(u64::MAX), None],
    ] {
        let n: ArrayRef = Arc::new(UInt64Array::from(counts.clone()));
        let e = update("crdt_gcounter", &[r.clone(), n.clone()]).unwrap_err();
        assert!(
            e.starts_with("crdt_gcounter: argument `count`") && e.contains("below 2^63"),
            "{counts:?}: {e}"
        );
        let small: ArrayRef = Arc::new(UInt64Array::from(vec![Some(1), None, Some(2)]));
        let e = update("crdt_pncounter", &[r.clone(), small, n]).unwrap_err();
        assert!(e.starts_with("crdt_pncounter: argument `dec`"), "{e}");
    }
    // Below 2^63, with NULLs, counts are kept.
    let n: ArrayRef = Arc::new(UInt64Array::from(vec![
        Some((1u64 << 63) - 1),
        None,
        Some(2),
    ]));
    assert!(update("crdt_gcounter", &[r, n]).is_ok());
}

fn levels(rows: usize, items: &[&str]) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for _ in 0..rows {
        for i in items {
            b.values().append_value(i);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// Finding 13: `crdt_priority(v, [])` and `crdt_priority_join(a, b, [])` accepted empty levels
/// (every value ranked unknown), which MergeQL refuses. The kernel refuses them for every
/// engine.
#[test]
fn finding_13_empty_priority_levels_are_refused() {
    let v: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
    let e = update("crdt_priority", &[v.clone(), levels(2, &[])]).unwrap_err();
    assert!(
        e.starts_with("crdt_priority: argument `levels`: expected at least one priority level"),
        "{e}"
    );
    let e = invoke_scalar(
        "crdt_priority_join",
        &[v.clone(), v.clone(), levels(2, &[])],
        2,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with(
            "crdt_priority_join: argument `levels`: expected at least one priority level"
        ),
        "{e}"
    );
    // One level is fine.
    assert!(update("crdt_priority", &[v.clone(), levels(2, &["a"])]).is_ok());
    assert!(invoke_scalar("crdt_priority_join", &[v.clone(), v, levels(2, &["a"])], 2).is_ok());
}
