//! The one-call table merge: `SELECT * FROM crdt_merge(...)` and `SELECT * FROM crdt_mergeql('MERGE ...')`.
//!
//! A DuckDB table function cannot run SQL on the caller's connection, but DuckDB's `query(sql)`
//! table function runs a constant SQL string in the caller's own context (its temp tables,
//! views and transaction included). So the merge is two pieces:
//!
//! * scalars that render the merge to SQL: `crdt_mergeql_sql(query)` (MergeQL text, parsed by
//!   the kernel's [`crdt_merge_kernel::mergeql::parse`]) and `crdt_merge_sql(sources, key,
//!   strategies, clock, replica, tombstone, provenance, clocks, where_sql, row_limit)`, which
//!   builds the same [`MergeSpec`];
//! * table macros installed at load time, `crdt_mergeql(query)` and `crdt_merge(sources, key,
//!   strategies := ..., ...)`, each `FROM query(<renderer>(...))`.
//!
//! The SQL is the kernel's: [`render_duckdb_dynamic`] needs no column lists (DuckDB resolves
//! the schemas when it binds the query), and `crdt_mergeql_sql(query, columns)` returns
//! [`crdt_merge_kernel::mergeql::render_sql`]'s rendering for explicit column lists; the tests
//! check both give the same rows. This module only reads the arguments.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, StringArray};
use arrow_schema::DataType;
use crdt_merge_kernel::mergeql::{
    parse, render_duckdb_dynamic, render_duckdb_with_columns, render_sql, ColumnRule, Dialect,
    MergeSpec, Source, DEFAULT_TOMBSTONE,
};
use crdt_merge_kernel::strategy::{pairwise, StrategyKind};
use crdt_merge_kernel::{catalogue, sort_key};
use libduckdb_sys as ffi;

use crate::functions::{host_error, register_scalar, ScalarFn, ScalarOverload};
use crate::plan::{list_of, Param};

/// NULL at `row`, including a whole NULL-typed argument (a bare `NULL` literal).
fn null_at(a: &ArrayRef, row: usize) -> bool {
    a.data_type() == &DataType::Null || a.is_null(row)
}

fn str_at(a: &ArrayRef, row: usize) -> Option<String> {
    if null_at(a, row) {
        return None;
    }
    match a.data_type() {
        DataType::Utf8 => Some(a.as_string::<i32>().value(row).to_string()),
        _ => None,
    }
}

fn strings_at(function: &str, arg: &str, a: &ArrayRef, row: usize) -> Result<Vec<String>, String> {
    if null_at(a, row) {
        return Ok(Vec::new());
    }
    match a.data_type() {
        DataType::Utf8 => Ok(vec![a.as_string::<i32>().value(row).to_string()]),
        DataType::List(f) if matches!(f.data_type(), DataType::Utf8 | DataType::Null) => {
            let l = a.as_list::<i32>().value(row);
            if l.data_type() == &DataType::Null {
                if !l.is_empty() {
                    return Err(format!(
                        "{function}: argument `{arg}`: expected a list without NULL elements, found a NULL element"
                    ));
                }
                return Ok(Vec::new());
            }
            let s = l.as_string::<i32>();
            if s.null_count() > 0 {
                return Err(format!(
                    "{function}: argument `{arg}`: expected a list without NULL elements, found a NULL element"
                ));
            }
            Ok((0..s.len()).map(|i| s.value(i).to_string()).collect())
        }
        other => Err(format!(
            "{function}: argument `{arg}`: expected type a VARCHAR or VARCHAR[], found {}",
            crate::types::sql_name(other)
        )),
    }
}

/// Reads a STRUCT {'column': 'text', ...} argument as (column, text) pairs.
fn pairs_at(
    function: &str,
    arg: &str,
    a: &ArrayRef,
    row: usize,
) -> Result<Vec<(String, String)>, String> {
    if null_at(a, row) {
        return Ok(Vec::new());
    }
    let DataType::Struct(fields) = a.data_type() else {
        return Err(format!(
            "{function}: argument `{arg}`: expected type a STRUCT such as {{'score': 'max'}}, found {}",
            crate::types::sql_name(a.data_type())
        ));
    };
    let s = a.as_struct();
    let mut out = Vec::new();
    for (f, c) in fields.iter().zip(s.columns()) {
        match str_at(c, row) {
            Some(v) => out.push((f.name().clone(), v)),
            None if c.is_null(row) => {}
            None => {
                return Err(format!(
                    "{function}: argument `{arg}`: expected VARCHAR values, found {} for `{}`",
                    crate::types::sql_name(c.data_type()),
                    f.name()
                ))
            }
        }
    }
    Ok(out)
}

fn source_of(name: &str) -> Result<Source, String> {
    let lower = name.to_ascii_lowercase();
    let is_file = name.contains('/')
        || name.contains('*')
        || [".parquet", ".csv", ".tsv", ".json", ".jsonl", ".ndjson"]
            .iter()
            .any(|ext| lower.ends_with(ext) || lower.contains(&format!("{ext}.")));
    if is_file {
        Ok(Source::file(name))
    } else {
        Source::dotted(name).map_err(host_error)
    }
}

/// Builds the spec of one `crdt_merge_sql(...)` row.
fn spec_at(args: &[ArrayRef], row: usize) -> Result<MergeSpec, String> {
    const F: &str = "crdt_merge";
    let sources = strings_at(F, "sources", &args[0], row)?;
    let key = strings_at(F, "key", &args[1], row)?;
    if sources.len() < 2 {
        // A merge of one input would only deduplicate it: almost always a mistake (a list
        // with a missing name), so the docs ask for two or more.
        return Err(format!(
            "{F}: argument `sources`: expected two or more tables, views or files, found {}",
            sources.len()
        ));
    }
    let sources = sources
        .iter()
        .map(|s| source_of(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut spec = MergeSpec::new(sources, key);
    let strategies = pairs_at(F, "strategies", &args[2], row)?;
    let clocks = pairs_at(F, "clocks", &args[7], row)?;
    for (column, text) in &strategies {
        let mut rule = ColumnRule::parse(column.clone(), text).map_err(|e| e.to_string())?;
        if let Some((_, c)) = clocks.iter().find(|(col, _)| col == column) {
            rule = rule.with_clock(c.clone());
        }
        spec = spec.with_rule(rule);
    }
    for (column, c) in &clocks {
        if !strategies.iter().any(|(col, _)| col == column) {
            spec = spec.with_rule(
                ColumnRule::new(column.clone(), StrategyKind::Lww).with_clock(c.clone()),
            );
        }
    }
    // Each option is of one SQL type; another type is an error, never ignored.
    let text = |i: usize, arg: &str, expected: &str| -> Result<Option<String>, String> {
        if null_at(&args[i], row) {
            return Ok(None);
        }
        str_at(&args[i], row).map(Some).ok_or_else(|| {
            format!(
                "{F}: argument `{arg}`: expected type {expected}, found {}",
                crate::types::sql_name(args[i].data_type())
            )
        })
    };
    if let Some(c) = text(3, "clock", "VARCHAR")? {
        spec = spec.with_clock(c);
    }
    if let Some(r) = text(4, "replica", "VARCHAR (a column name)")? {
        spec = spec.with_replica(r);
    }
    match args[5].data_type() {
        _ if null_at(&args[5], row) => {}
        DataType::Boolean => {
            if args[5].as_boolean().value(row) {
                spec = spec.with_tombstone(DEFAULT_TOMBSTONE);
            }
        }
        _ => {
            if let Some(t) = text(5, "tombstone", "BOOLEAN or VARCHAR (a column name)")? {
                spec = spec.with_tombstone(t);
            }
        }
    }
    match args[6].data_type() {
        _ if null_at(&args[6], row) => {}
        DataType::Boolean => {
            if args[6].as_boolean().value(row) {
                spec = spec.with_provenance();
            }
        }
        other => {
            return Err(format!(
                "{F}: argument `provenance`: expected type BOOLEAN, found {}",
                crate::types::sql_name(other)
            ))
        }
    }
    if let Some(p) = text(8, "where_sql", "VARCHAR (an SQL predicate)")? {
        spec = spec.with_filter(p);
    }
    if !null_at(&args[9], row) {
        let dt = args[9].data_type();
        if !dt.is_integer() {
            return Err(format!(
                "{F}: argument `row_limit`: expected type an integer, found {}",
                crate::types::sql_name(dt)
            ));
        }
        // Read as a 128-bit integer: every integer type fits, a UBIGINT above 2^63 included
        // (a BIGINT cast would turn it into NULL, and then into `LIMIT 0`).
        let v = arrow_cast::cast(&args[9], &crate::types::HUGEINT).map_err(|e| e.to_string())?;
        let v = v.as_primitive::<arrow_array::types::Decimal128Type>();
        if v.is_null(row) {
            return Err(format!(
                "{F}: argument `row_limit`: expected an integer below 2^64, found a larger one"
            ));
        }
        let n = v.value(row);
        let n = u64::try_from(n).map_err(|_| {
            format!(
                "{F}: argument `row_limit`: expected a non-negative integer below 2^64, found {n}"
            )
        })?;
        // No input has 2^63 rows, so a larger limit is every row (the kernel takes limits below
        // 2^63, the range of every engine's LIMIT).
        spec = spec.with_limit(n.min(i64::MAX.unsigned_abs()));
    }
    if let Some(flag) = args.get(10).filter(|a| !null_at(a, row)) {
        if flag.data_type() != &DataType::Boolean {
            return Err(format!(
                "{F}: argument `cell_clocks`: expected type BOOLEAN, found {}",
                crate::types::sql_name(flag.data_type())
            ));
        }
        if flag.as_boolean().value(row) {
            spec = spec.with_cell_clocks();
        }
    }
    // `ordered` (the 13th argument): the table macro passes it, false unless asked; a direct
    // call of the 10- or 12-argument renderer keeps the key order it always had.
    if let Some(flag) = args.get(12).filter(|a| !null_at(a, row)) {
        if flag.data_type() != &DataType::Boolean {
            return Err(format!(
                "{F}: argument `ordered`: expected type BOOLEAN, found {}",
                crate::types::sql_name(flag.data_type())
            ));
        }
        spec = spec.with_order(flag.as_boolean().value(row));
    }
    Ok(spec)
}

/// The `columns := [[...], ...]` argument: one list of column names per source, or `None`.
fn columns_at(
    a: &ArrayRef,
    row: usize,
    sources: usize,
) -> Result<Option<Vec<Vec<String>>>, String> {
    const F: &str = "crdt_merge";
    if null_at(a, row) {
        return Ok(None);
    }
    let bad = || {
        format!(
            "{F}: argument `columns`: expected one list of column names per source (VARCHAR[][] \
             with {sources} lists), found {}",
            crate::types::sql_name(a.data_type())
        )
    };
    let DataType::List(_) = a.data_type() else {
        return Err(bad());
    };
    let per_source = a.as_list::<i32>().value(row);
    let DataType::List(_) = per_source.data_type() else {
        return Err(bad());
    };
    let per_source = per_source.as_list::<i32>();
    let mut out = Vec::with_capacity(per_source.len());
    for s in 0..per_source.len() {
        if per_source.is_null(s) {
            return Err(format!("{F}: argument `columns`: expected a list of column names for source {}, found NULL", s + 1));
        }
        let names = per_source.value(s);
        let names = names.as_string_opt::<i32>().ok_or_else(bad)?;
        let mut list = Vec::with_capacity(names.len());
        for j in 0..names.len() {
            if names.is_null(j) {
                return Err(format!("{F}: argument `columns`: expected column names, found NULL in the list of source {}", s + 1));
            }
            list.push(names.value(j).to_string());
        }
        out.push(list);
    }
    if out.len() != sources {
        return Err(bad());
    }
    Ok(Some(out))
}

fn per_row(
    n: usize,
    null_if: impl Fn(usize) -> bool,
    f: impl Fn(usize) -> Result<String, String>,
) -> Result<ArrayRef, String> {
    let out: Vec<Option<String>> = (0..n)
        .map(|i| if null_if(i) { Ok(None) } else { f(i).map(Some) })
        .collect::<Result<_, _>>()?;
    Ok(Arc::new(StringArray::from(out)))
}

fn mergeql_sql(_name: &str, args: &[ArrayRef], n: usize) -> Result<ArrayRef, String> {
    let q = args[0].as_string::<i32>();
    per_row(
        n,
        |i| q.is_null(i),
        |i| {
            let spec = parse(q.value(i)).map_err(|e| e.to_string())?;
            // `crdt_mergeql_sql(query, ordered)` is what the `crdt_mergeql(query, ordered :=
            // false)` macro calls; `crdt_mergeql_sql(query)` keeps the key order.
            let ordered = args
                .get(1)
                .map(|a| a.as_boolean())
                .is_none_or(|o| o.is_null(i) || o.value(i));
            render_duckdb_dynamic(&spec.with_order(ordered)).map_err(host_error)
        },
    )
}

fn mergeql_sql_columns(_name: &str, args: &[ArrayRef], n: usize) -> Result<ArrayRef, String> {
    let q = args[0].as_string::<i32>();
    let cols = args[1].as_list::<i32>();
    per_row(
        n,
        |i| q.is_null(i) || cols.is_null(i),
        |i| {
            let spec = parse(q.value(i)).map_err(|e| e.to_string())?;
            let per_source = cols.value(i);
            let per_source = per_source.as_list::<i32>();
            let columns: Vec<Vec<String>> = (0..per_source.len())
                .map(|s| {
                    let names = per_source.value(s);
                    let names = names.as_string::<i32>();
                    (0..names.len())
                        .map(|j| names.value(j).to_string())
                        .collect()
                })
                .collect();
            render_sql(&spec, Dialect::DuckDb, &columns).map_err(|e| e.to_string())
        },
    )
}

fn merge_sql(_name: &str, args: &[ArrayRef], n: usize) -> Result<ArrayRef, String> {
    per_row(
        n,
        |i| null_at(&args[0], i) || null_at(&args[1], i),
        |i| {
            let spec = spec_at(args, i)?;
            // With the inputs' column lists the kernel renders the explicit GROUP BY, which
            // cell clocks need (they depend on which input has which column).
            match args.get(11).map(|a| columns_at(a, i, spec.sources.len())) {
                Some(Err(e)) => Err(e),
                Some(Ok(Some(columns))) => {
                    render_duckdb_with_columns(&spec, &columns).map_err(host_error)
                }
                _ => render_duckdb_dynamic(&spec).map_err(host_error),
            }
        },
    )
}

fn pick(name: &str, args: &[ArrayRef], _n: usize) -> Result<ArrayRef, String> {
    Ok(Arc::new(pairwise::pick(name, args).map_err(host_error)?))
}

fn key(name: &str, args: &[ArrayRef], _n: usize) -> Result<ArrayRef, String> {
    Ok(Arc::new(
        sort_key::strategy_key(name, args).map_err(host_error)?,
    ))
}

/// Registers the renderers `crdt_mergeql_sql` and `crdt_merge_sql`, and the pick and key
/// functions their SQL calls.
///
/// # Safety
/// `con` must be a live connection.
pub unsafe fn register(con: ffi::duckdb_connection) -> Result<(), String> {
    // The pick functions take the arguments of the strategy's `_join`, the keys those of its
    // aggregate; every argument is `ANY`, so a value keeps DuckDB's own type
    // (`CASE WHEN crdt_lww_pick(...) THEN b ELSE a END`, `arg_max(v, crdt_lww_key(v, ts))`).
    let arities = |f: &str| -> Vec<usize> {
        catalogue::lookup(f).map_or_else(Vec::new, |d| {
            d.signatures.iter().map(|s| s.args.len()).collect()
        })
    };
    for kind in StrategyKind::ALL {
        let (Some((pick_name, key_name)), Some(join)) =
            (kind.pick_and_key_names(), kind.join_name())
        else {
            continue;
        };
        let helpers = [
            (
                pick_name,
                arities(join),
                DataType::Boolean,
                pick as ScalarFn,
            ),
            (
                key_name,
                arities(kind.aggregate_name()),
                DataType::Binary,
                key as ScalarFn,
            ),
        ];
        for (name, counts, returns, run) in helpers {
            let overloads: Vec<ScalarOverload> = counts
                .iter()
                .map(|&n| ScalarOverload {
                    params: vec![Param::Any; n],
                    returns: returns.clone(),
                    run,
                })
                .collect();
            // SAFETY: forwarded contract.
            register_scalar(con, name, &overloads, true, false)?;
        }
    }
    let text = || Param::Type(DataType::Utf8);
    // SAFETY: forwarded contract.
    register_scalar(
        con,
        "crdt_mergeql_sql",
        &[
            ScalarOverload {
                params: vec![text()],
                returns: DataType::Utf8,
                run: mergeql_sql,
            },
            ScalarOverload {
                params: vec![text(), Param::Type(list_of(list_of(DataType::Utf8)))],
                returns: DataType::Utf8,
                run: mergeql_sql_columns,
            },
            ScalarOverload {
                params: vec![text(), Param::Type(DataType::Boolean)],
                returns: DataType::Utf8,
                run: mergeql_sql,
            },
        ],
        false,
        false,
    )?;
    register_scalar(
        con,
        "crdt_merge_sql",
        &[
            ScalarOverload {
                params: vec![Param::Any; 10],
                returns: DataType::Utf8,
                run: merge_sql,
            },
            ScalarOverload {
                params: vec![Param::Any; 12],
                returns: DataType::Utf8,
                run: merge_sql,
            },
            ScalarOverload {
                params: vec![Param::Any; 13],
                returns: DataType::Utf8,
                run: merge_sql,
            },
        ],
        true,
        false,
    )
}

/// The table macros that run a rendered merge in the caller's context.
pub const MACROS: &[&str] = &[
    "CREATE OR REPLACE MACRO crdt_mergeql(query, ordered := false) AS TABLE FROM \
     query(crdt_mergeql_sql(query, ordered::BOOLEAN))",
    "CREATE OR REPLACE MACRO crdt_merge(sources, key, strategies := NULL, clock := '_ts', \
     replica := NULL, tombstone := NULL, provenance := false, clocks := NULL, where_sql := NULL, \
     row_limit := NULL, cell_clocks := false, columns := NULL, ordered := false) AS TABLE FROM \
     query(crdt_merge_sql(sources, key, strategies, clock, replica, tombstone, provenance, clocks, \
     where_sql, row_limit, cell_clocks, columns, ordered))",
];

/// Installs [`MACROS`] in the database's default schema. A read-only database cannot take
/// them; the renderers still work there through `FROM query(crdt_mergeql_sql('...'))`.
///
/// # Safety
/// `con` must be a live connection.
pub unsafe fn install_macros(con: ffi::duckdb_connection) -> Result<(), String> {
    for m in MACROS {
        // SAFETY: forwarded contract.
        if let Err(e) = crate::execute(con, m) {
            if !e.to_ascii_lowercase().contains("read-only")
                && !e.to_ascii_lowercase().contains("read only")
            {
                return Err(format!("cannot create the table macros: {e}"));
            }
        }
    }
    Ok(())
}
