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

fn dynamic(q: &str) -> String {
    use crdt_merge_kernel::mergeql::{parse, render_duckdb_dynamic};
    render_duckdb_dynamic(&parse(q).unwrap()).unwrap()
}

/// Finding 4: internal columns were found by `LIKE '%__crdt_conflict'` and by name patterns
/// that user columns could match. Every user column is now renamed into a namespace of its own
/// (`__crdt_n_` for columns with a role, `__crdt_d_` for the others), role columns are
/// selected by their exact (escaped, anchored) names, and nothing is found by LIKE.
#[test]
fn finding_4_column_free_rendering_keeps_user_names_apart() {
    for q in [
        "MERGE a, b ON id STRATEGY \"x.y*\"='max' PROVENANCE",
        "MERGE a, b, c ON id STRATEGY \"x.y*\"='max'",
        "MERGE a, b ON id STRATEGY \"x.y*\"='max'",
    ] {
        let sql = dynamic(q);
        assert!(!sql.contains("LIKE"), "{sql}");
        assert!(
            !sql.contains("'__source'") && !sql.contains("__crdt_pad'"),
            "{sql}"
        );
        assert!(sql.contains("COLUMNS('(?is)^x\\.y\\*$|"), "{sql}");
        assert!(sql.contains("AS '__crdt_n_x.y*'"), "{sql}");
        // The default columns' selector matches newlines too.
        assert!(sql.contains("COLUMNS('(?s)^__crdt_d_(.*)$')"), "{sql}");
        // The two columns added before renaming are checked by exact name.
        assert!(sql.contains("lower(c) IN ('__crdt_merge_pad__'"), "{sql}");
    }
}

/// Finding 8: `provenance` with a few hundred columns took minutes, DuckDB planning one
/// `count(DISTINCT ...)` per column; the conflict flag now compares `min` and `max`.
#[test]
fn finding_8_provenance_renders_no_distinct_aggregates() {
    let sql = dynamic("MERGE a, b ON id STRATEGY s='max' PROVENANCE");
    assert!(!sql.to_uppercase().contains("DISTINCT)"), "{sql}");
    assert!(!sql.contains("count(DISTINCT"), "{sql}");
    assert!(sql.contains("min(COLUMNS('(?s)^__crdt_d_(.*)$')) IS DISTINCT FROM max(COLUMNS('(?s)^__crdt_d_(.*)$'))"), "{sql}");
}

/// Finding 10: a column named by ON, CLOCK, REPLICA, TOMBSTONE or STRATEGY that no input has
/// gave DuckDB's "referenced before it is defined"; the rendered selection now carries an error
/// naming the argument and the column, and a non-BOOLEAN tombstone is an error.
#[test]
fn finding_10_unknown_columns_and_tombstone_type_are_named() {
    let sql = dynamic("MERGE a, b ON id REPLICA site TOMBSTONE gone STRATEGY v='lww' CLOCK v_ts");
    for want in [
        "crdt_merge: argument `key`/ON names column `id`, which no input has",
        "crdt_merge: argument `replica`/REPLICA names column `site`, which no input has",
        "crdt_merge: argument `tombstone`/TOMBSTONE names column `gone`, which no input has",
        "crdt_merge: argument `strategies`/STRATEGY names column `v`, which no input has",
        "crdt_merge: argument `clocks`/CLOCK after a STRATEGY rule names column `v_ts`, which no input has",
        "crdt_merge: argument `clock`/CLOCK names column `_ts`, which no input has",
        "crdt_merge: argument `tombstone`/TOMBSTONE: expected a BOOLEAN column `gone`, found ",
    ] {
        assert!(sql.contains(want), "{want}\n{sql}");
    }
}

/// Finding 3 (MergeQL side of DuckDB): every engine's LIMIT is a BIGINT, so a spec's limit must
/// be below 2^63 (hosts that take a UBIGINT `row_limit` clamp it: no input has 2^63 rows); the
/// largest one renders as it is.
#[test]
fn finding_3_limit_above_i64_is_refused_and_i64_max_renders() {
    use crdt_merge_kernel::mergeql::{parse, render_duckdb_dynamic};
    let spec = parse("MERGE a, b ON id").unwrap();
    assert!(render_duckdb_dynamic(&spec.clone().with_limit(u64::MAX)).is_err());
    let sql = render_duckdb_dynamic(&spec.with_limit(i64::MAX.unsigned_abs())).unwrap();
    assert!(sql.ends_with(&format!("LIMIT {}", i64::MAX)), "{sql}");
}
