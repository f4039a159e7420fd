//! Rendering a [`MergeSpec`] for DuckDB **without column lists**.
//!
//! [`render_sql`](super::render_sql) needs every source's columns; a DuckDB table macro cannot
//! look them up before the query binds. This rendering leaves that to DuckDB: inputs are combined
//! with `UNION ALL BY NAME`, and the columns no rule names are merged as one
//! `COLUMNS('^__crdt_d_(.*)$')` selector, so DuckDB resolves the schemas when it binds the
//! query. Each strategy computes what [`render_sql`](super::render_sql)'s aggregate computes
//! (the table in the [module docs](super)); output columns keep the inputs' order (first
//! appearance), rows are ordered by key, and provenance adds `<col>__source` per LWW column and
//! `__conflicts`. A NULL key raises an error naming the column (`error()`, DuckDB's).
//!
//! Since the query cannot know a column's type, the selecting strategies (LWW, LWW-nullable,
//! Max, Min) never return the value through one of our functions, whose DuckDB overloads have
//! fixed return types: the kernel only says which cell wins (a `crdt_<s>_pick` of two cells, a
//! `crdt_<s>_key` sort key for DuckDB's `arg_max`) and DuckDB moves the value, so a STRUCT, a
//! list of lists or a DECIMAL(18,4) merges and keeps its type.
//!
//! Two plans, the same rows:
//!
//! * **pairs** (two inputs, without provenance): both inputs stacked, sorted once by key in a
//!   window, and each row joined with the next row of the same key (`CASE WHEN crdt_lww_pick(v,
//!   ts, lead(v), lead(ts)) THEN lead(v) ELSE v END`, the `_join` scalars for the other
//!   strategies; `lead(COLUMNS(...))` expands in lockstep with `COLUMNS(...)`). A key with
//!   three or more rows (duplicates inside one input) is flagged in the same window and its
//!   rows are merged by the `GROUP BY` below instead. Two inputs with unique keys never reach
//!   the hash aggregate, which is what makes this plan about twice as fast as the `GROUP BY`
//!   one;
//! * **group by** (three or more inputs, or provenance, whose per-column sources need every
//!   row): one hash aggregate over the stacked inputs (`arg_max(v, crdt_lww_key(v, ts))`, the
//!   strategy aggregates for the other strategies).

use super::render::{
    data_aggregate, data_join, Side, CONFLICTS_COLUMN, PROVENANCE_SUFFIX, SOURCE_COLUMN,
};
use super::spec::{ColumnRule, MergeSpec, Source};
use crate::error::{Error, Result};
use crate::strategy::StrategyKind;

/// Column every input branch carries so that the default-column selector never matches nothing.
const PAD: &str = "__crdt_pad";
/// Suffix of the per-column conflict flags summed into `__conflicts`.
const CONFLICT_SUFFIX: &str = "__crdt_conflict";
/// Prefix given to the columns merged by default LWW inside the rendered query.
const DEFAULT_PREFIX: &str = "__crdt_d_";
/// The selector of those columns.
const DEFAULTS: &str = "COLUMNS('^__crdt_d_(.*)$')";
/// Name of the windowed input the pair plan reads twice.
const PAIRS: &str = "__crdt_pairs";
/// Name of the window (ordered by key) of the pair plan.
const WINDOW: &str = "__crdt_win";
/// Flags of the pair plan: the next row has the same key; the previous one has; the key has
/// three or more rows.
const NEXT: &str = "__crdt_next";
const PREV: &str = "__crdt_prev";
const MANY: &str = "__crdt_many";

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
/// assert!(sql.contains("crdt_max_pick(\"score\", lead(\"score\") OVER __crdt_win)"));
/// assert!(sql.contains("UNION ALL BY NAME"));
/// let with_sources = parse("MERGE a, b ON id STRATEGY score='max' PROVENANCE").unwrap();
/// assert!(render_duckdb_dynamic(&with_sources)
///     .unwrap()
///     .contains("arg_max(\"score\", crdt_max_key(\"score\")) AS \"score\""));
/// ```
///
/// # Errors
/// A spec that [`MergeSpec::validate`] rejects.
pub fn render_duckdb_dynamic(spec: &MergeSpec) -> Result<String> {
    spec.validate()?;
    if spec.cell_clocks {
        // Which columns get a `c__ts`, and which inputs already have one, depend on the
        // inputs' columns, which this renderer never sees.
        return Err(Error::invalid(
            "crdt_merge",
            "cell_clocks",
            "the column names of each input with cell clocks (pass columns := [[...], ...])",
            "no column lists",
        ));
    }
    let r = Renderer::new(spec);
    // Three or more inputs put most shared keys past a pair: the sort would then only add to
    // the GROUP BY (measured 1.35x slower with three fully overlapping inputs).
    let (with, merged) = if spec.provenance || spec.sources.len() > 2 {
        (String::new(), r.group_by_plan())
    } else {
        r.pair_plan()
    };
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
    // The empty branches first, so that output columns keep the inputs' order.
    let mut sql = format!(
        "{with}SELECT {keep}{conflicts}\nFROM (\n  SELECT * FROM (\n  {}\n  )\n  UNION ALL BY NAME\n  {merged}\n) AS m\nORDER BY {}",
        r.branches(true),
        r.keys(),
    );
    if let Some(n) = spec.limit {
        sql.push_str(&format!("\nLIMIT {n}"));
    }
    Ok(sql)
}

fn side<'s>(value: &'s str, ts: &'s str, replica: Option<&'s str>) -> Side<'s> {
    Side { value, ts, replica }
}

/// The aggregate of a selecting strategy (LWW, LWW-nullable, Max, Min) as DuckDB's own
/// `arg_max`/`arg_min` over the kernel's cell key (`crdt_lww_key(v, ts [, replica])`, ...):
/// the same cell as `crdt_lww(v, ts [, replica])`, returned in `v`'s own DuckDB type, so
/// columns of any type the kernel can order merge (STRUCTs, lists of lists, DECIMALs of any
/// scale), whose types the rendered query cannot know. `None` for the other strategies.
fn keyed_aggregate(kind: StrategyKind, value: &str, rest: &[&str]) -> Option<String> {
    let (_, key) = kind.pick_and_key_names()?;
    // DuckDB's arg_max skips a NULL value; LWW-nullable keeps it as a written value.
    let agg = match kind {
        StrategyKind::LwwNullable => "arg_max_null",
        StrategyKind::Min => "arg_min",
        _ => "arg_max",
    };
    let args: Vec<&str> = std::iter::once(value).chain(rest.iter().copied()).collect();
    Some(format!("{agg}({value}, {key}({}))", args.join(", ")))
}

/// [`data_aggregate`], in the keyed form for the selecting strategies.
fn any_aggregate(q: &str, rule: Option<&ColumnRule>, ts: &str, replica: Option<&str>) -> String {
    let kind = rule.map_or(StrategyKind::Lww, |r| r.strategy);
    let rest: Vec<&str> = match kind {
        StrategyKind::Lww | StrategyKind::LwwNullable => {
            std::iter::once(ts).chain(replica).collect()
        }
        _ => Vec::new(),
    };
    keyed_aggregate(kind, q, &rest).unwrap_or_else(|| data_aggregate(q, rule, ts, replica))
}

/// [`data_join`], for the selecting strategies as `CASE WHEN crdt_<s>_pick(<the join's
/// arguments>) THEN b ELSE a END`: the pick says which side the join is, and DuckDB selects
/// the value in its own type (see [`keyed_aggregate`]).
fn any_join(rule: Option<&ColumnRule>, a: &Side<'_>, b: &Side<'_>) -> String {
    let kind = rule.map_or(StrategyKind::Lww, |r| r.strategy);
    let Some((pick, _)) = kind.pick_and_key_names() else {
        return data_join(rule, a, b);
    };
    let args = match kind {
        StrategyKind::Lww | StrategyKind::LwwNullable => match (a.replica, b.replica) {
            (Some(ra), Some(rb)) => [a.value, a.ts, ra, b.value, b.ts, rb].join(", "),
            _ => [a.value, a.ts, b.value, b.ts].join(", "),
        },
        _ => [a.value, b.value].join(", "),
    };
    format!(
        "CASE WHEN {pick}({args}) THEN {} ELSE {} END",
        b.value, a.value
    )
}

/// A DuckDB predicate that raises an error naming the key column on a NULL key: NULL never
/// equals itself, so a NULL key cannot be merged lawfully (worded as the kernel's table merge).
fn null_key_guard(spec: &MergeSpec) -> String {
    spec.key
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
        .join(" AND ")
}

/// Renders `spec` for DuckDB from the column names of each source: [`render_sql`]'s GROUP BY
/// (which cell clocks need, [`MergeSpec::cell_clocks`]), refusing NULL keys as
/// [`render_duckdb_dynamic`] does.
///
/// # Errors
/// As [`render_sql`].
pub fn render_duckdb_with_columns(spec: &MergeSpec, columns: &[Vec<String>]) -> Result<String> {
    let sql = super::render_sql(spec, super::Dialect::DuckDb, columns)?;
    let keys = spec
        .key
        .iter()
        .map(|k| ident(k))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(format!(
        "SELECT * FROM (\n{sql}\n) AS m\nWHERE {}\nORDER BY {keys}",
        null_key_guard(spec)
    ))
}

struct Renderer<'a> {
    spec: &'a MergeSpec,
    clock: String,
    replica: Option<String>,
    /// Per-cell clocks other than the row clock, each once.
    cell_clocks: Vec<&'a str>,
}

impl<'a> Renderer<'a> {
    fn new(spec: &'a MergeSpec) -> Self {
        let mut cell_clocks: Vec<&str> = Vec::new();
        for r in &spec.rules {
            if let Some(c) = &r.clock {
                if !c.eq_ignore_ascii_case(&spec.clock)
                    && !cell_clocks.iter().any(|x| x.eq_ignore_ascii_case(c))
                {
                    cell_clocks.push(c);
                }
            }
        }
        Renderer {
            spec,
            clock: ident(&spec.clock),
            replica: spec.replica.as_deref().map(ident),
            cell_clocks,
        }
    }

    fn keys(&self) -> String {
        self.spec
            .key
            .iter()
            .map(|k| ident(k))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every input as one `SELECT *` branch of a `UNION ALL BY NAME` (empty with `limit0`).
    fn branches(&self, limit0: bool) -> String {
        let source_column = self.spec.provenance && self.spec.replica.is_none();
        self.spec
            .sources
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
    }

    /// The stacked, filtered inputs, with every column that has no role renamed
    /// `__crdt_d_<col>`, and NULL keys turned into an error naming the key.
    fn input(&self) -> String {
        let spec = self.spec;
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
        let filter = spec
            .filter
            .as_deref()
            .map(|p| format!("\n    WHERE ({})", p.trim()))
            .unwrap_or_default();
        let null_keys = null_key_guard(spec);
        format!(
            "(\n    SELECT COLUMNS(lambda c: lower(c) IN ({named_list})),\n      COLUMNS(lambda c: lower(c) NOT IN ({named_list})) AS '{DEFAULT_PREFIX}\\0'\n    FROM (\n  {}\n    ) AS u0{filter}\n  ) AS u\n  WHERE {null_keys}",
            self.branches(false)
        )
    }

    /// The data column (quoted) whose clock `clock` is, when exactly one lww column owns it.
    fn lww_owner(&self, clock: &str) -> Option<String> {
        let owners: Vec<&ColumnRule> = self
            .spec
            .rules
            .iter()
            .filter(|r| {
                r.clock
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(clock))
            })
            .collect();
        match owners.as_slice() {
            [r] if r.strategy == StrategyKind::Lww => Some(ident(&r.column)),
            _ => None,
        }
    }

    /// The clock of data column `rule` (none: default LWW), quoted.
    fn ts_of(&self, rule: Option<&ColumnRule>) -> String {
        rule.and_then(|r| r.clock.as_deref())
            .map_or_else(|| self.clock.clone(), ident)
    }

    /// The aggregate select list: keys, clocks, replica, tombstone, data columns (the default
    /// ones aliased `default_alias`), and with provenance the source and conflict columns.
    fn aggregates(&self, default_alias: &str) -> Vec<String> {
        let spec = self.spec;
        let clock = &self.clock;
        let replica = self.replica.as_deref();
        let mut select: Vec<String> = spec.key.iter().map(|k| ident(k)).collect();
        select.push(format!("max({clock}) AS {clock}"));
        for c in &self.cell_clocks {
            let q = ident(c);
            let merged = match self.lww_owner(c) {
                // As the kernel's table merge: the clock of the owner's winning cell, so the
                // output merges exactly again.
                Some(v) => {
                    let masked = format!("CASE WHEN {v} IS NOT NULL THEN {q} END");
                    match replica {
                        Some(r) => format!("crdt_lww({masked}, {q}, {r})"),
                        None => format!("crdt_lww({masked}, {q})"),
                    }
                }
                None => format!("max({q})"),
            };
            select.push(format!("{merged} AS {q}"));
        }
        if let Some(r) = replica {
            let merged = keyed_aggregate(StrategyKind::Lww, r, &[clock, r]).unwrap_or_default();
            select.push(format!("{merged} AS {r}"));
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
                let ts = self.ts_of(rule);
                let expr = any_aggregate(q, rule, &ts, replica);
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
                    // The replica (or input name) of the winning cell: the LWW of that id
                    // with the cell's value as the replica argument, so ties between equal
                    // cells go to the greatest id.
                    let (id, tie) = match (replica, kind) {
                        (Some(r), StrategyKind::Lww) => (
                            format!("CASE WHEN {q} IS NOT NULL THEN {r} END"),
                            r.to_string(),
                        ),
                        (Some(r), _) => (r.to_string(), r.to_string()),
                        (None, StrategyKind::Lww) => (
                            format!("CASE WHEN {q} IS NOT NULL THEN {SOURCE_COLUMN} END"),
                            q.to_string(),
                        ),
                        (None, _) => (SOURCE_COLUMN.to_string(), q.to_string()),
                    };
                    let expr =
                        keyed_aggregate(StrategyKind::Lww, &id, &[&ts, &tie]).unwrap_or_default();
                    provenance.push(format!("{expr} AS {}", suffix(PROVENANCE_SUFFIX)));
                }
            };
        for r in &spec.rules {
            let q = ident(&r.column);
            let col = r.column.clone();
            data(&q, &q, Some(r), &|s| ident(&format!("{col}{s}")));
        }
        data(DEFAULTS, default_alias, None, &|s| format!("'\\1{s}'"));
        select.extend(provenance);
        select
    }

    /// The whole merge as one hash aggregate.
    fn group_by_plan(&self) -> String {
        format!(
            "SELECT\n    {}\n  FROM {}\n  GROUP BY {}",
            self.aggregates("'\\1'").join(",\n    "),
            self.input(),
            self.keys()
        )
    }

    /// The pair plan (module docs): a `WITH` clause and the merged rows.
    fn pair_plan(&self) -> (String, String) {
        let spec = self.spec;
        let lead = |e: &str| format!("lead({e}) OVER {WINDOW}");
        // The keys of the row `f` (lead / lag) `args` away equal this row's.
        let same = |f: &str, args: &str| {
            spec.key
                .iter()
                .map(|k| {
                    let k = ident(k);
                    format!("{f}({k}{args}) OVER {WINDOW} = {k}")
                })
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let mut select: Vec<String> = spec.key.iter().map(|k| ident(k)).collect();
        select.push(format!("coalesce({}, false) AS {NEXT}", same("lead", "")));
        select.push(format!("coalesce({}, false) AS {PREV}", same("lag", "")));
        select.push(format!(
            "coalesce(({}) OR ({}) OR ({PREV} AND {NEXT}), false) AS {MANY}",
            same("lead", ", 2"),
            same("lag", ", 2")
        ));
        // A column's value on the rows this plan keeps: a key's rows that go to the GROUP BY
        // pass unchanged; a pair is joined; a lone row is itself, or, for the strategies that
        // normalise (sets, counters), joined with NULL so that it reads as the aggregate would.
        let cell = |value: &str, joined: &str, joins_alone: bool, alias: &str| {
            if joins_alone {
                format!("CASE WHEN {MANY} THEN {value} ELSE {joined} END AS {alias}")
            } else {
                format!("CASE WHEN {MANY} OR NOT {NEXT} THEN {value} ELSE {joined} END AS {alias}")
            }
        };
        let clock = &self.clock;
        let replica = self.replica.as_deref();
        let lead_replica = replica.map(lead);
        select.push(cell(
            clock,
            &format!("greatest({clock}, {})", lead(clock)),
            false,
            clock,
        ));
        for c in &self.cell_clocks {
            let q = ident(c);
            let joined = match self.lww_owner(c) {
                // A lone row is joined too (with NULL), so a NULL cell's clock is NULL as in
                // the aggregate.
                Some(v) => {
                    let mine = format!("CASE WHEN {v} IS NOT NULL THEN {q} END");
                    let next = format!(
                        "CASE WHEN {NEXT} AND {} IS NOT NULL THEN {} END",
                        lead(&v),
                        lead(&q)
                    );
                    let lead_q = lead(&q);
                    let joined = any_join(
                        None,
                        &side(&mine, &q, replica),
                        &side(&next, &lead_q, lead_replica.as_deref()),
                    );
                    cell(&q, &joined, true, &q)
                }
                None => cell(&q, &format!("greatest({q}, {})", lead(&q)), false, &q),
            };
            select.push(joined);
        }
        let lead_clock = lead(clock);
        if let (Some(r), Some(next)) = (replica, lead_replica.as_deref()) {
            let joined = any_join(
                None,
                &side(r, clock, Some(r)),
                &side(next, &lead_clock, Some(next)),
            );
            select.push(cell(r, &joined, false, r));
        }
        if let Some(t) = &spec.tombstone {
            let t = ident(t);
            let value = format!("coalesce({t}, false)");
            let next = format!("coalesce({}, false)", lead(&t));
            let rule = ColumnRule::new(t.clone(), StrategyKind::LwwNullable);
            let joined = data_join(
                Some(&rule),
                // As the aggregate: clock ties between a delete and a write go to the delete,
                // whatever the replicas.
                &side(&value, clock, None),
                &side(&next, &lead_clock, None),
            );
            select.push(cell(&value, &joined, false, &t));
        }
        let data = |q: &str, alias: &str, rule: Option<&ColumnRule>| -> String {
            let kind = rule.map_or(StrategyKind::Lww, |r| r.strategy);
            let ts = self.ts_of(rule);
            let me = side(q, &ts, replica);
            if kind.selects_one_cell() {
                let (next, next_ts) = (lead(q), lead(&ts));
                let joined = any_join(rule, &me, &side(&next, &next_ts, lead_replica.as_deref()));
                cell(q, &joined, false, alias)
            } else {
                // Every kept row is joined: with the next row of its key, or with NULL.
                let next = format!("CASE WHEN {NEXT} THEN {} END", lead(q));
                let next_ts = format!("CASE WHEN {NEXT} THEN {} END", lead(&ts));
                let joined = data_join(rule, &me, &side(&next, &next_ts, lead_replica.as_deref()));
                cell(q, &joined, true, alias)
            }
        };
        for r in &spec.rules {
            let q = ident(&r.column);
            select.push(data(&q, &q, Some(r)));
        }
        let default_alias = format!("'{DEFAULT_PREFIX}\\1'");
        select.push(data(DEFAULTS, &default_alias, None));
        let keys = self.keys();
        let with = format!(
            "WITH {PAIRS} AS (\n  SELECT\n    {}\n  FROM {}\n  WINDOW {WINDOW} AS (ORDER BY {keys})\n  QUALIFY {MANY} OR NOT {PREV}\n)\n",
            select.join(",\n    "),
            self.input(),
        );
        let merged = format!(
            "SELECT COLUMNS(lambda c: NOT starts_with(c, '{DEFAULT_PREFIX}')), {DEFAULTS} AS '\\1'\n  FROM (\n    SELECT * EXCLUDE ({NEXT}, {PREV}, {MANY}) FROM {PAIRS} WHERE NOT {MANY}\n    UNION ALL BY NAME\n    SELECT\n      {}\n    FROM {PAIRS} WHERE {MANY}\n    GROUP BY {keys}\n  ) AS p",
            self.aggregates(&default_alias).join(",\n      "),
        );
        (with, merged)
    }
}
