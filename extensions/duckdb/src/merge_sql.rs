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
//! The renderer needs no column lists: the SQL combines the inputs with `UNION ALL BY NAME`
//! and merges the columns no rule names with `crdt_lww(COLUMNS(lambda c: ...), <clock>)`, so
//! DuckDB resolves the schemas when it binds the query. Every expression is the one the kernel's
//! [`crdt_merge_kernel::mergeql::render_sql`] writes for the same role (its module docs have the
//! table); `crdt_mergeql_sql(query, columns)` returns the kernel's own rendering for explicit
//! column lists, and the tests check both give the same rows.
//!
//! Output columns keep the inputs' order (first appearance across sources), rows are ordered by
//! key, and provenance adds `<col>__source` per LWW column and `__conflicts`, as in the kernel.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, StringArray};
use arrow_schema::DataType;
use crdt_merge_kernel::mergeql::{
    parse, render_sql, ColumnRule, Dialect, MergeSpec, Source, CONFLICTS_COLUMN, DEFAULT_TOMBSTONE,
    PROVENANCE_SUFFIX, SOURCE_COLUMN,
};
use crdt_merge_kernel::strategy::StrategyKind;
use libduckdb_sys as ffi;

use crate::functions::{register_scalar, ScalarOverload};
use crate::plan::{list_of, Param};

/// Column every input branch carries so that the default-column selector never matches nothing.
const PAD: &str = "__crdt_pad";
/// Suffix of the per-column conflict flags summed into `__conflicts`.
const CONFLICT_SUFFIX: &str = "__crdt_conflict";
/// Prefix given to the columns merged by default LWW inside the rendered query.
const DEFAULT_PREFIX: &str = "__crdt_d_";

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn source_sql(s: &Source) -> String {
    match s {
        Source::Table(parts) => parts.iter().map(|p| ident(p)).collect::<Vec<_>>().join("."),
        Source::File(path) => literal(path),
    }
}

/// Renders `spec` as one DuckDB query that needs no column lists (see the module docs).
///
/// # Errors
/// A spec the kernel's [`MergeSpec::validate`] rejects.
pub fn render_dynamic(spec: &MergeSpec) -> Result<String, String> {
    spec.validate().map_err(|e| e.to_string())?;
    let clock = ident(&spec.clock);
    let replica = spec.replica.as_deref().map(ident);
    let with_replica = |args: String| match &replica {
        Some(r) => format!("{args}, {r}"),
        None => args,
    };
    let source_column = spec.provenance && spec.replica.is_none();

    // Names with a role other than "default LWW data column" (lower case: DuckDB resolves
    // identifiers case-insensitively).
    let mut named: Vec<String> = Vec::new();
    let mut name = |n: &str| {
        let l = n.to_lowercase();
        if !named.contains(&l) {
            named.push(l);
        }
    };
    spec.key.iter().for_each(|k| name(k));
    name(&spec.clock);
    if let Some(r) = &spec.replica {
        name(r);
    }
    if let Some(t) = &spec.tombstone {
        name(t);
    }
    for r in &spec.rules {
        name(&r.column);
        if let Some(c) = &r.clock {
            name(c);
        }
    }
    name(SOURCE_COLUMN);
    let named_list = named
        .iter()
        .map(|n| literal(n))
        .collect::<Vec<_>>()
        .join(", ");
    // Columns without a role are renamed `__crdt_d_<col>` before aggregation, so one regex
    // selects them wherever they appear (DuckDB expands identical regex selectors in lockstep).
    let defaults = format!("COLUMNS('^{DEFAULT_PREFIX}(.*)$')");
    let mut select: Vec<String> = spec.key.iter().map(|k| ident(k)).collect();
    select.push(format!("max({clock}) AS {clock}"));
    let mut cell_clocks: Vec<&str> = Vec::new();
    for r in &spec.rules {
        if let Some(c) = &r.clock {
            if !c.eq_ignore_ascii_case(&spec.clock)
                && !cell_clocks.iter().any(|x| x.eq_ignore_ascii_case(c))
            {
                cell_clocks.push(c);
                select.push(format!("max({}) AS {}", ident(c), ident(c)));
            }
        }
    }
    if let Some(r) = &replica {
        select.push(format!("crdt_lww({r}, {clock}, {r}) AS {r}"));
    }
    if let Some(t) = &spec.tombstone {
        let t = ident(t);
        select.push(format!(
            "crdt_lww_nullable(coalesce({t}, false), {clock}) AS {t}"
        ));
    }
    let mut provenance: Vec<String> = Vec::new();
    let selecting = |k: StrategyKind| {
        matches!(
            k,
            StrategyKind::Lww
                | StrategyKind::LwwNullable
                | StrategyKind::Max
                | StrategyKind::Min
                | StrategyKind::Priority
                | StrategyKind::Longest
        )
    };
    // One data column (a named one, or the default selector) in the kernel's expressions.
    let mut data =
        |q: &str, alias: &str, rule: Option<&ColumnRule>, suffix: &dyn Fn(&str) -> String| {
            let kind = rule.map_or(StrategyKind::Lww, |r| r.strategy);
            let ts = rule
                .and_then(|r| r.clock.as_deref())
                .map_or_else(|| clock.clone(), ident);
            let f = kind.aggregate_name();
            let expr = match kind {
                StrategyKind::Lww | StrategyKind::LwwNullable | StrategyKind::Longest => {
                    format!("{f}({})", with_replica(format!("{q}, {ts}")))
                }
                StrategyKind::Max | StrategyKind::Min => format!("{f}({q})"),
                StrategyKind::Priority => {
                    let levels: Vec<String> = rule
                        .map(|r| r.levels.iter().map(|l| literal(l)).collect())
                        .unwrap_or_default();
                    format!("{f}({q}, [{}])", levels.join(", "))
                }
                StrategyKind::Union | StrategyKind::Concat => {
                    match rule.and_then(|r| r.sep.as_deref()) {
                        Some(sep) => format!("{f}({q}, {})", literal(sep)),
                        None => format!("{f}({q})"),
                    }
                }
                StrategyKind::GCounter | StrategyKind::PNCounter => {
                    format!("crdt_state_merge_agg({q})")
                }
            };
            select.push(format!("{expr} AS {alias}"));
            if !spec.provenance {
                return;
            }
            if selecting(kind) {
                provenance.push(format!(
                    "CASE WHEN count(DISTINCT {q}) > 1 THEN 1 ELSE 0 END AS {}",
                    suffix(CONFLICT_SUFFIX)
                ));
            }
            if matches!(kind, StrategyKind::Lww | StrategyKind::LwwNullable) {
                let expr = match (&replica, kind) {
                    (Some(r), StrategyKind::Lww) => {
                        format!("crdt_lww(CASE WHEN {q} IS NOT NULL THEN {r} END, {ts}, {r})")
                    }
                    (Some(r), _) => format!("crdt_lww({r}, {ts}, {r})"),
                    (None, StrategyKind::Lww) => format!(
                        "crdt_lww(CASE WHEN {q} IS NOT NULL THEN {SOURCE_COLUMN} END, {ts}, {q})"
                    ),
                    (None, _) => format!("crdt_lww({SOURCE_COLUMN}, {ts}, {q})"),
                };
                provenance.push(format!("{expr} AS {}", suffix(PROVENANCE_SUFFIX)));
            }
        };
    for r in &spec.rules {
        let q = ident(&r.column);
        let col = r.column.clone();
        data(&q, &q, Some(r), &|s| ident(&format!("{col}{s}")));
    }
    data(&defaults, "'\\1'", None, &|s| format!("'\\1{s}'"));
    select.extend(provenance);

    let branches = |limit0: bool| -> String {
        spec.sources
            .iter()
            .map(|s| {
                let mut extra = format!(", NULL::BOOLEAN AS {PAD}");
                if source_column && !limit0 {
                    extra.push_str(&format!(", {} AS {SOURCE_COLUMN}", literal(&s.id())));
                }
                format!(
                    "(SELECT *{extra} FROM {}{})",
                    source_sql(s),
                    if limit0 { " LIMIT 0" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join("\n  UNION ALL BY NAME\n  ")
    };
    let keys = spec
        .key
        .iter()
        .map(|k| ident(k))
        .collect::<Vec<_>>()
        .join(", ");
    let filter = spec
        .filter
        .as_deref()
        .map(|p| format!("\n    WHERE ({})", p.trim()))
        .unwrap_or_default();
    // NULL never equals itself, so a NULL key cannot be merged lawfully: an error naming the
    // column, worded as the kernel's table merge words it.
    let null_keys = spec
        .key
        .iter()
        .map(|k| {
            let msg = format!(
                "crdt_merge: argument `{k}`: expected a key without NULLs (NULL never equals itself, so it cannot be merged), found NULL"
            );
            format!(
                "CASE WHEN {} IS NULL THEN error({}) ELSE true END",
                ident(k),
                literal(&msg)
            )
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    let conflicts = if spec.provenance {
        format!(
            ", coalesce(list_sum([0, *COLUMNS('{CONFLICT_SUFFIX}$')]), 0)::BIGINT AS {CONFLICTS_COLUMN}"
        )
    } else {
        String::new()
    };
    let keep = format!(
        "COLUMNS(lambda c: c NOT LIKE '%{CONFLICT_SUFFIX}' AND c NOT IN ({}, {}))",
        literal(PAD),
        literal(&format!("{PAD}{PROVENANCE_SUFFIX}"))
    );
    let mut sql = format!(
        "SELECT {keep}{conflicts}\nFROM (\n  SELECT * FROM (\n  {}\n  )\n  UNION ALL BY NAME\n  SELECT\n    {}\n  FROM (\n    SELECT COLUMNS(lambda c: lower(c) IN ({named_list})),\n      COLUMNS(lambda c: lower(c) NOT IN ({named_list})) AS '{DEFAULT_PREFIX}\\0'\n    FROM (\n  {}\n    ) AS u0{filter}\n  ) AS u\n  WHERE {null_keys}\n  GROUP BY {keys}\n) AS m\nORDER BY {keys}",
        branches(true),
        select.join(",\n    "),
        branches(false),
    );
    if let Some(n) = spec.limit {
        sql.push_str(&format!("\nLIMIT {n}"));
    }
    Ok(sql)
}

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
                return Ok(Vec::new());
            }
            let s = l.as_string::<i32>();
            Ok((0..s.len())
                .filter(|&i| s.is_valid(i))
                .map(|i| s.value(i).to_string())
                .collect())
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

fn source_of(name: &str) -> Source {
    let lower = name.to_ascii_lowercase();
    let is_file = name.contains('/')
        || name.contains('*')
        || [".parquet", ".csv", ".tsv", ".json", ".jsonl", ".ndjson"]
            .iter()
            .any(|ext| lower.ends_with(ext) || lower.contains(&format!("{ext}.")));
    if is_file {
        Source::file(name)
    } else {
        Source::qualified(name.split('.'))
    }
}

/// Builds the spec of one `crdt_merge_sql(...)` row.
fn spec_at(args: &[ArrayRef], row: usize) -> Result<MergeSpec, String> {
    const F: &str = "crdt_merge";
    let sources = strings_at(F, "sources", &args[0], row)?;
    let key = strings_at(F, "key", &args[1], row)?;
    let mut spec = MergeSpec::new(sources.iter().map(|s| source_of(s)), key);
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
    if let Some(c) = str_at(&args[3], row) {
        spec = spec.with_clock(c);
    } else if !null_at(&args[3], row) {
        return Err(format!(
            "{F}: argument `clock`: expected type VARCHAR, found {}",
            crate::types::sql_name(args[3].data_type())
        ));
    }
    if let Some(r) = str_at(&args[4], row) {
        spec = spec.with_replica(r);
    }
    match args[5].data_type() {
        DataType::Boolean if !null_at(&args[5], row) => {
            if args[5].as_boolean().value(row) {
                spec = spec.with_tombstone(DEFAULT_TOMBSTONE);
            }
        }
        _ => {
            if let Some(t) = str_at(&args[5], row) {
                spec = spec.with_tombstone(t);
            }
        }
    }
    if args[6].data_type() == &DataType::Boolean
        && !null_at(&args[6], row)
        && args[6].as_boolean().value(row)
    {
        spec = spec.with_provenance();
    }
    if let Some(p) = str_at(&args[8], row) {
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
        let v = arrow_cast::cast(&args[9], &DataType::Int64).map_err(|e| e.to_string())?;
        let n = v.as_primitive::<arrow_array::types::Int64Type>().value(row);
        let n = u64::try_from(n).map_err(|_| {
            format!("{F}: argument `row_limit`: expected a non-negative integer, found {n}")
        })?;
        spec = spec.with_limit(n);
    }
    Ok(spec)
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
            render_dynamic(&spec)
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
        |i| render_dynamic(&spec_at(args, i)?),
    )
}

/// Registers the renderers `crdt_mergeql_sql` and `crdt_merge_sql`.
///
/// # Safety
/// `con` must be a live connection.
pub unsafe fn register(con: ffi::duckdb_connection) -> Result<(), String> {
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
        ],
        false,
        false,
    )?;
    register_scalar(
        con,
        "crdt_merge_sql",
        &[ScalarOverload {
            params: vec![Param::Any; 10],
            returns: DataType::Utf8,
            run: merge_sql,
        }],
        true,
        false,
    )
}

/// The table macros that run a rendered merge in the caller's context.
pub const MACROS: &[&str] = &[
    "CREATE OR REPLACE MACRO crdt_mergeql(query) AS TABLE FROM query(crdt_mergeql_sql(query))",
    "CREATE OR REPLACE MACRO crdt_merge(sources, key, strategies := NULL, clock := '_ts', \
     replica := NULL, tombstone := NULL, provenance := false, clocks := NULL, where_sql := NULL, \
     row_limit := NULL) AS TABLE FROM query(crdt_merge_sql(sources, key, strategies, clock, \
     replica, tombstone, provenance, clocks, where_sql, row_limit))",
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
