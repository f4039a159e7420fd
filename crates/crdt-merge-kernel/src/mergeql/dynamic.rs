//! Rendering a [`MergeSpec`] for DuckDB **without column lists**.
//!
//! [`render_sql`](super::render_sql) needs every source's columns; a DuckDB table macro cannot
//! look them up before the query binds. This rendering leaves that to DuckDB: inputs are combined
//! with `UNION ALL BY NAME`, and the columns no rule names are merged with
//! `crdt_lww(COLUMNS(...), <clock>)`, so DuckDB resolves the schemas when it binds the query.
//! Every expression is the one [`render_sql`](super::render_sql) writes for the same role (the
//! table in the [module docs](super)); output columns keep the inputs' order (first appearance),
//! rows are ordered by key, and provenance adds `<col>__source` per LWW column and `__conflicts`.
//! A NULL key raises an error naming the column (`error()`, DuckDB's).

use super::render::{data_aggregate, CONFLICTS_COLUMN, PROVENANCE_SUFFIX, SOURCE_COLUMN};
use super::spec::{ColumnRule, MergeSpec, Source};
use crate::error::Result;
use crate::strategy::StrategyKind;

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
/// ```
/// use crdt_merge_kernel::mergeql::{parse, render_duckdb_dynamic};
/// let spec = parse("MERGE a, b ON id STRATEGY score='max'").unwrap();
/// let sql = render_duckdb_dynamic(&spec).unwrap();
/// assert!(sql.contains("crdt_max(\"score\") AS \"score\""));
/// assert!(sql.contains("UNION ALL BY NAME"));
/// ```
///
/// # Errors
/// A spec that [`MergeSpec::validate`] rejects.
pub fn render_duckdb_dynamic(spec: &MergeSpec) -> Result<String> {
    spec.validate()?;
    let clock = ident(&spec.clock);
    let replica = spec.replica.as_deref().map(ident);
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
    // One data column (a named one, or the default selector) in the kernel's expressions.
    let mut data =
        |q: &str, alias: &str, rule: Option<&ColumnRule>, suffix: &dyn Fn(&str) -> String| {
            let kind = rule.map_or(StrategyKind::Lww, |r| r.strategy);
            let ts = rule
                .and_then(|r| r.clock.as_deref())
                .map_or_else(|| clock.clone(), ident);
            let expr = data_aggregate(q, rule, &ts, replica.as_deref());
            select.push(format!("{expr} AS {alias}"));
            if !spec.provenance {
                return;
            }
            if kind.selects_one_cell() {
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
