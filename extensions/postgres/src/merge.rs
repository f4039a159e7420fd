//! Table merges: the kernel renders the merge as one Postgres `GROUP BY` query
//! ([`render_sql`] with [`Dialect::Postgres`]); PL/pgSQL wrappers (in `sql/merge.sql`) read the column
//! names of each source from `pg_attribute`, call these renderers, and run the SQL in the
//! caller's transaction.

use crdt_merge_kernel::mergeql::{parse, render_sql, ColumnRule, Dialect, MergeSpec, Source};
use crdt_merge_kernel::strategy::StrategyKind;
use crdt_merge_kernel::{Error, ErrorKind};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value as Json;

use crate::error::{invalid, OrRaise};

fn string_lists(function: &str, argument: &str, columns: &Json) -> Vec<Vec<String>> {
    let bad = || -> ! {
        invalid(format!(
            "{function}: argument `{argument}`: expected a JSON array of arrays of column names, \
             found {columns}"
        ))
    };
    let Json::Array(lists) = columns else { bad() };
    lists
        .iter()
        .map(|l| match l {
            Json::Array(items) => items
                .iter()
                .map(|c| c.as_str().map(str::to_string).unwrap_or_else(|| bad()))
                .collect(),
            _ => bad(),
        })
        .collect()
}

fn string_map(function: &str, argument: &str, map: &Json) -> Vec<(String, String)> {
    match map {
        Json::Null => Vec::new(),
        Json::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Json::String(s) => (k.clone(), s.clone()),
                other => invalid(format!(
                    "{function}: argument `{argument}`: expected a JSON object of strings, found \
                     {other} for `{k}`"
                )),
            })
            .collect(),
        other => invalid(format!(
            "{function}: argument `{argument}`: expected a JSON object, found {other}"
        )),
    }
}

/// The elements of a `text[]` argument: a NULL array or a NULL element is an error naming
/// `function` and `argument` (pgrx would panic converting them to `Vec<String>`).
fn names(function: &str, argument: &str, list: Option<Vec<Option<String>>>) -> Vec<String> {
    let Some(list) = list else {
        invalid(format!(
            "{function}: argument `{argument}`: expected an array of names, found NULL"
        ))
    };
    list.into_iter()
        .map(|n| {
            n.unwrap_or_else(|| {
                invalid(format!(
                    "{function}: argument `{argument}`: expected names, found a NULL element"
                ))
            })
        })
        .collect()
}

/// A renderer error as the error of `function`, naming its argument rather than the MergeQL
/// clause the kernel names (`ON` is `key`, `TOMBSTONE` is `tombstone`, ...).
fn as_argument_error(function: &str, mut e: Error) -> Error {
    e.function = function.to_string();
    if let ErrorKind::InvalidArgument { argument, .. } | ErrorKind::TypeMismatch { argument, .. } =
        &mut e.kind
    {
        let renamed = match argument.as_str() {
            "ON" => "key",
            "STRATEGY" => "strategies",
            "CLOCK" => "clock",
            "REPLICA" => "replica",
            "TOMBSTONE" => "tombstone",
            "PROVENANCE" => "provenance",
            "WHERE" => "where_sql",
            "LIMIT" => "row_limit",
            _ => return e,
        };
        *argument = renamed.to_string();
    }
    e
}

/// Renders a merge of `schemas[i].names[i]` (columns `columns[i]`) on `key` as Postgres SQL.
/// Called by `_crdt_merge_sql`, which supplies the catalogue facts; `function` is the user's
/// entry point (`crdt_merge`, `crdt_merge_into`), named in every error.
#[allow(clippy::too_many_arguments)]
#[pg_extern(immutable, parallel_safe, name = "_crdt_merge_render")]
fn merge_render(
    function: Option<String>,
    schemas: Option<Vec<Option<String>>>,
    names: Option<Vec<Option<String>>>,
    columns: Option<JsonB>,
    key: Option<Vec<Option<String>>>,
    strategies: Option<JsonB>,
    clock: Option<String>,
    clocks: Option<JsonB>,
    replica: Option<String>,
    tombstone: Option<String>,
    provenance: Option<bool>,
    where_sql: Option<String>,
    row_limit: Option<i64>,
    cell_clocks: Option<bool>,
) -> String {
    let function = function.unwrap_or_else(|| "crdt_merge".to_string());
    let f = function.as_str();
    let schemas = self::names(f, "sources", schemas);
    let names = self::names(f, "sources", names);
    let key = self::names(f, "key", key);
    if schemas.len() != names.len() {
        invalid(format!(
            "{f}: internal error (please report): schemas and names differ"
        ));
    }
    let sources = schemas
        .into_iter()
        .zip(names)
        .map(|(s, n)| Source::qualified([s, n]));
    let rules = string_map(
        f,
        "strategies",
        &strategies.map(|j| j.0).unwrap_or(Json::Null),
    );
    let mut spec = MergeSpec::from_strategy_map(sources, key, rules)
        .map_err(|e| as_argument_error(f, e))
        .or_raise();
    if let Some(c) = clock {
        spec = spec.with_clock(c);
    }
    for (column, clock) in string_map(f, "clocks", &clocks.map(|j| j.0).unwrap_or(Json::Null)) {
        match spec.rules.iter_mut().find(|r| r.column == column) {
            Some(rule) => rule.clock = Some(clock),
            None => spec
                .rules
                .push(ColumnRule::new(column, StrategyKind::Lww).with_clock(clock)),
        }
    }
    if let Some(r) = replica {
        spec = spec.with_replica(r);
    }
    if let Some(t) = tombstone {
        spec = spec.with_tombstone(t);
    }
    if provenance == Some(true) {
        spec = spec.with_provenance();
    }
    if cell_clocks == Some(true) {
        spec = spec.with_cell_clocks();
    }
    if let Some(w) = where_sql {
        spec = spec.with_filter(w);
    }
    if let Some(n) = row_limit {
        if n < 0 {
            invalid(format!(
                "{f}: argument `row_limit`: expected a non-negative number, found {n}"
            ));
        }
        spec = spec.with_limit(n as u64);
    }
    let Some(columns) = columns else {
        invalid(format!(
            "{f}: internal error (please report): no column lists"
        ))
    };
    let cols = string_lists(f, "columns", &columns.0);
    render_sql(&spec, Dialect::Postgres, &cols)
        .map_err(|e| as_argument_error(f, e))
        .or_raise()
}

/// The sources of a MergeQL query, each as SQL text that `::regclass` reads.
#[pg_extern(immutable, parallel_safe, name = "_crdt_mergeql_sources")]
fn mergeql_sources(query: &str) -> Vec<String> {
    let spec = parse(query).or_raise();
    spec.sources
        .iter()
        .map(|s| match s {
            Source::Table(_) => s.to_mergeql(),
            Source::File(_) => invalid(format!(
                "crdt_mergeql: argument `sources`: expected tables (Postgres cannot read a file \
                 in a query; load it into a table first), found the file {}",
                s.to_mergeql()
            )),
        })
        .collect()
}

/// The tombstone column a MergeQL query names (`TOMBSTONE col`), if any: `crdt_mergeql_sql`
/// checks its type in the catalogue.
#[pg_extern(immutable, parallel_safe, name = "_crdt_mergeql_tombstone")]
fn mergeql_tombstone(query: &str) -> Option<String> {
    parse(query).or_raise().tombstone
}

/// Renders a MergeQL query as Postgres SQL, given the column names of each source.
#[pg_extern(immutable, parallel_safe, name = "_crdt_mergeql_render")]
fn mergeql_render(query: &str, columns: JsonB) -> String {
    let spec = parse(query).or_raise();
    let cols = string_lists("crdt_mergeql", "columns", &columns.0);
    render_sql(&spec, Dialect::Postgres, &cols).or_raise()
}
