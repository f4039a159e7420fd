//! Table merges: the kernel renders the merge as one Postgres `GROUP BY` query
//! ([`render_sql`] with [`Dialect::Postgres`]); PL/pgSQL wrappers (in `sql.rs`) read the column
//! names of each source from `pg_attribute`, call these renderers, and run the SQL in the
//! caller's transaction.

use crdt_merge_kernel::mergeql::{parse, render_sql, ColumnRule, Dialect, MergeSpec, Source};
use crdt_merge_kernel::strategy::StrategyKind;
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

/// Renders a merge of `schemas[i].names[i]` (columns `columns[i]`) on `key` as Postgres SQL.
/// Called by `crdt_merge_sql`, which supplies the catalogue facts.
#[allow(clippy::too_many_arguments)]
#[pg_extern(immutable, parallel_safe, name = "_crdt_merge_render")]
fn merge_render(
    schemas: Vec<String>,
    names: Vec<String>,
    columns: JsonB,
    key: Vec<String>,
    strategies: Option<JsonB>,
    clock: Option<String>,
    clocks: Option<JsonB>,
    replica: Option<String>,
    tombstone: Option<String>,
    provenance: Option<bool>,
    where_sql: Option<String>,
    row_limit: Option<i64>,
) -> String {
    const F: &str = "crdt_merge";
    if schemas.len() != names.len() {
        invalid(format!(
            "{F}: internal error (please report): schemas and names differ"
        ));
    }
    let sources = schemas
        .into_iter()
        .zip(names)
        .map(|(s, n)| Source::qualified([s, n]));
    let rules = string_map(
        F,
        "strategies",
        &strategies.map(|j| j.0).unwrap_or(Json::Null),
    );
    let mut spec = MergeSpec::from_strategy_map(sources, key, rules).or_raise();
    if let Some(c) = clock {
        spec = spec.with_clock(c);
    }
    for (column, clock) in string_map(F, "clocks", &clocks.map(|j| j.0).unwrap_or(Json::Null)) {
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
    if let Some(w) = where_sql {
        spec = spec.with_filter(w);
    }
    if let Some(n) = row_limit {
        if n < 0 {
            invalid(format!(
                "{F}: argument `row_limit`: expected a non-negative number, found {n}"
            ));
        }
        spec = spec.with_limit(n as u64);
    }
    let cols = string_lists(F, "columns", &columns.0);
    render_sql(&spec, Dialect::Postgres, &cols).or_raise()
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

/// Renders a MergeQL query as Postgres SQL, given the column names of each source.
#[pg_extern(immutable, parallel_safe, name = "_crdt_mergeql_render")]
fn mergeql_render(query: &str, columns: JsonB) -> String {
    let spec = parse(query).or_raise();
    let cols = string_lists("crdt_mergeql", "columns", &columns.0);
    render_sql(&spec, Dialect::Postgres, &cols).or_raise()
}
