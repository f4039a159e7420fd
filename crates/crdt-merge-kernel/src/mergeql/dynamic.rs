//! Rendering a [`MergeSpec`] for DuckDB **without column lists**.
//!
//! [`render_sql`](super::render_sql) needs every source's columns; a DuckDB table macro cannot
//! look them up before the query binds. This rendering leaves that to DuckDB: inputs are combined
//! with `UNION ALL BY NAME`, every column is renamed into a namespace of its own (see the
//! comment above [`NAMED`]), and the columns no rule names are merged as one
//! `COLUMNS('(?s)^__crdt_d_(.*)$')` selector, so DuckDB resolves the schemas when it binds the
//! query. Each strategy computes what [`render_sql`](super::render_sql)'s aggregate computes
//! (the table in the [module docs](super)); output columns keep the inputs' order (first
//! appearance), rows are ordered by key unless [`MergeSpec::ordered`] is off (a limit always
//! orders), and provenance adds `<col>__source` per LWW column and
//! `__conflicts`. A NULL key raises an error naming the column (`error()`, DuckDB's), and so
//! does a column that an argument names and no input has (DuckDB's binder error quotes the
//! message) or a tombstone column that is not BOOLEAN.
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

use super::render::{data_aggregate, data_join, Side, CONFLICTS_COLUMN, PROVENANCE_SUFFIX};
use super::spec::{ColumnRule, MergeSpec, Source};
use crate::error::{Error, Result};
use crate::strategy::StrategyKind;

// Column names. Every user column is renamed into a namespace of its own as soon as the inputs
// are stacked, so no user column can clash with an internal one, whatever its name (newlines,
// `__source`, names ending in `_crdt_conflict`, ...):
//
// * a column with a role (key, clock, replica, tombstone, a rule's column or clock) becomes
//   `__crdt_n_<name>`, selected by its exact name;
// * every other column (merged by LWW on the row clock) becomes `__crdt_d_<name>`; after the
//   merge its provenance is `__crdt_p_<name>` and its conflict flag `__crdt_c_<name>`;
// * internal columns start with `__crdt_` followed by anything but `n_`, `d_`, `p_`, `c_`.
//
// The four prefixes differ in their 8th character, so the `COLUMNS('^__crdt_d_...')`
// selectors (whose identical copies DuckDB expands in lockstep, which lambdas do not) only
// ever match renamed columns, and the output names are mapped back exactly. Only the two
// columns added to each input before that renaming (the pad and the input's name) share the
// users' namespace: an input holding one of those two names is an error naming it.

/// Prefix of the columns with a role.
const NAMED: &str = "__crdt_n_";
/// Prefix of the columns merged by default LWW.
const DATA: &str = "__crdt_d_";
/// Prefix of the merged columns' provenance.
const SOURCES: &str = "__crdt_p_";
/// Prefix of the merged columns' conflict flags, summed into `__conflicts`.
const FLAGS: &str = "__crdt_c_";
/// The selector of the default data columns, inside the merge.
const DEFAULTS: &str = "COLUMNS('(?s)^__crdt_d_(.*)$')";
/// Added to every input, so that [`DEFAULTS`] never matches nothing.
const PAD: &str = "__crdt_merge_pad__";
/// Added to every input with provenance and no replica column: the input's name.
const RAW_SOURCE: &str = "__crdt_merge_source__";
/// [`RAW_SOURCE`] inside the merge.
const SOURCE: &str = "__crdt_s";
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

/// `text` as a regular expression that matches exactly it (RE2's metacharacters escaped with
/// a backslash; every other character, a newline included, stands for itself).
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' => {
                out.push('\\');
                out.push(ch);
            }
            '\0' => out.push_str("\\x00"),
            _ => out.push(ch),
        }
    }
    out
}

/// `text` as the literal part of a `COLUMNS(regex) AS '<alias>'` template (`\` is its
/// escape character).
fn alias_literal(text: &str) -> String {
    text.replace('\\', "\\\\")
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
/// assert!(sql.contains("crdt_max_pick(\"__crdt_n_score\", lead(\"__crdt_n_score\") OVER __crdt_win)"));
/// assert!(sql.contains("UNION ALL BY NAME"));
/// let with_sources = parse("MERGE a, b ON id STRATEGY score='max' PROVENANCE").unwrap();
/// assert!(render_duckdb_dynamic(&with_sources)
///     .unwrap()
///     .contains("arg_max(\"__crdt_n_score\", crdt_max_key(\"__crdt_n_score\")) AS \"__crdt_n_score\""));
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
    // Back to the users' names: the columns with a role by name, the others (and their
    // provenance) by prefix; the pad's columns are then dropped by their exact names.
    let mut map: Vec<String> = r
        .named
        .iter()
        .map(|n| format!("{} AS {}", ident(&n.inner), ident(&n.name)))
        .collect();
    map.push(format!("{DEFAULTS} AS '\\1'"));
    let mut drop = vec![ident(PAD)];
    if spec.provenance {
        map.push(format!(
            "COLUMNS('(?s)^{SOURCES}(.*)$') AS '\\1{PROVENANCE_SUFFIX}'"
        ));
        map.push(format!(
            "coalesce(list_sum([0, *COLUMNS('^{FLAGS}')]), 0)::BIGINT AS {CONFLICTS_COLUMN}"
        ));
        drop.push(ident(&format!("{PAD}{PROVENANCE_SUFFIX}")));
    }
    // The empty branches first, so that output columns keep the inputs' order.
    let mut sql = format!(
        "{with}SELECT * EXCLUDE ({})\nFROM (\n  SELECT * FROM (\n  {}\n  )\n  UNION ALL BY NAME\n  SELECT {}\n  FROM (\n  {merged}\n  ) AS m0\n) AS m",
        drop.join(", "),
        r.empty_branches(),
        map.join(", "),
    );
    sql.push_str(&order_by(spec, &r.output_keys()));
    if let Some(n) = spec.limit {
        // DuckDB's LIMIT is a BIGINT; no input has 2^63 rows, so a larger limit is all rows.
        sql.push_str(&format!("\nLIMIT {}", n.min(i64::MAX as u64)));
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

/// DuckDB's names (`typeof`) of the types whose `<` is the kernel's order (NaN above every
/// number, −0 equal to +0): integers, floats, dates and timestamps. DECIMAL, HUGEINT and
/// UHUGEINT are left out (the kernel reads them with its own range checks), and so is every
/// type the kernel orders otherwise or refuses.
const NATIVE_ORDER: &str = "'TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'UTINYINT', \
     'USMALLINT', 'UINTEGER', 'UBIGINT', 'FLOAT', 'DOUBLE', 'DATE', 'TIMESTAMP', \
     'TIMESTAMP WITH TIME ZONE', 'TIMESTAMP_S', 'TIMESTAMP_MS', 'TIMESTAMP_NS'";

/// `WHEN` clauses that settle a pair of the pair plan with DuckDB's own `<` where that is the
/// kernel's order ([`NATIVE_ORDER`]), before the pick function is asked:
///
/// * LWW and LWW-nullable, when the clocks differ (under plain LWW, with both values non-NULL);
///   equal or NULL clocks go on to the pick, which breaks the tie;
/// * Max and Min over a number, date or timestamp, when the values differ (NULL loses); equal
///   values go on to the pick, which orders −0 below +0 and so keeps the join order-free.
///
/// The `typeof` test is constant-folded when DuckDB plans the query, so any other type always
/// reaches the pick (and its errors); the kernel is then called only on clock ties. `None` for
/// the other strategies.
fn native_pick(kind: StrategyKind, a: &Side<'_>, b: &Side<'_>) -> Option<String> {
    let (av, bv) = (a.value, b.value);
    match kind {
        StrategyKind::Lww | StrategyKind::LwwNullable => {
            let values = if kind == StrategyKind::Lww {
                format!("{av} IS NOT NULL AND {bv} IS NOT NULL AND ")
            } else {
                String::new()
            };
            let guard = format!("typeof({}) IN ({NATIVE_ORDER}) AND {values}", a.ts);
            Some(format!(
                "WHEN {guard}{bt} > {at} THEN {bv} WHEN {guard}{bt} < {at} THEN {av}",
                bt = b.ts,
                at = a.ts,
            ))
        }
        StrategyKind::Max | StrategyKind::Min => {
            let (wins, loses) = if kind == StrategyKind::Max {
                (">", "<")
            } else {
                ("<", ">")
            };
            let guard = format!("typeof({av}) IN ({NATIVE_ORDER})");
            Some(format!(
                "WHEN {guard} AND ({av} IS NULL OR {bv} {wins} {av}) THEN {bv} \
                 WHEN {guard} AND ({bv} IS NULL OR {bv} {loses} {av}) THEN {av}"
            ))
        }
        _ => None,
    }
}

/// The merged clock of a key's rows in the GROUP BY branch, the same whatever order they arrive
/// in: DuckDB's `max` keeps the first of two equal floats, so −0 and +0 would leave in arrival
/// order; float clocks take `arg_max` by `crdt_max_key`, whose last tie-break (the stored bits)
/// makes +0 win. The `typeof` test is folded when DuckDB plans the query, so the unused
/// aggregate is never computed and other clock types keep the built-in `max`. (The static
/// rendering of `crdt_mergeql_sql(q, columns)`, which shows the plan in readable SQL, keeps
/// plain `max`.)
fn clock_max(q: &str) -> String {
    format!(
        "CASE WHEN typeof(max({q})) IN ('FLOAT', 'DOUBLE') \
         THEN arg_max({q}, crdt_max_key({q})) ELSE max({q}) END"
    )
}

/// The greater of a pair's two clocks, the same in either order: DuckDB's `greatest` keeps its
/// first argument when −0 meets +0 (equal under `=`), so a tie between float clocks goes to the
/// kernel's pick, which orders them by their stored bits (+0 wins, as in
/// [`clock_max`]). The `typeof` test is folded at plan time, so other clock
/// types are plain `greatest`.
fn greatest_clock(a: &str, b: &str) -> String {
    format!(
        "CASE WHEN typeof({a}) IN ('FLOAT', 'DOUBLE') AND {a} = {b} \
         THEN CASE WHEN crdt_max_pick({a}, {b}) THEN {b} ELSE {a} END ELSE greatest({a}, {b}) END"
    )
}

/// A DuckDB predicate that raises an error naming the key column on a NULL key: NULL never
/// equals itself, so a NULL key cannot be merged lawfully (worded as the kernel's table merge).
/// `column` gives a key column's name in the query being guarded.
fn null_key_guard(spec: &MergeSpec, column: impl Fn(&str) -> String) -> String {
    spec.key
        .iter()
        .map(|k| {
            let msg = format!(
                "crdt_merge: argument `{k}`: expected a key without NULLs (NULL never equals itself, so it cannot be merged), found NULL"
            );
            format!(
                "CASE WHEN {} IS NULL THEN error({}) ELSE true END",
                column(k),
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
        "SELECT * FROM (\n{sql}\n) AS m\nWHERE {}{}",
        null_key_guard(spec, ident),
        order_by(spec, &keys)
    ))
}

/// The final `ORDER BY keys` when the spec asks for order ([`MergeSpec::ordered`]) or has a
/// limit (which orders, so that it keeps the same rows on every run); empty otherwise.
fn order_by(spec: &MergeSpec, keys: &str) -> String {
    if spec.ordered || spec.limit.is_some() {
        format!("\nORDER BY {keys}")
    } else {
        String::new()
    }
}

/// Which argument gave a column its role (for the error when no input has the column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    Key,
    Clock,
    Clocks,
    Replica,
    Tombstone,
    Strategies,
}

impl Arg {
    /// The argument's name in `crdt_merge(...)` and its MergeQL clause (no RE2
    /// metacharacters: the label is part of a regular expression).
    fn label(self) -> &'static str {
        match self {
            Arg::Key => "`key`/ON",
            Arg::Clock => "`clock`/CLOCK",
            Arg::Clocks => "`clocks`/CLOCK after a STRATEGY rule",
            Arg::Replica => "`replica`/REPLICA",
            Arg::Tombstone => "`tombstone`/TOMBSTONE",
            Arg::Strategies => "`strategies`/STRATEGY",
        }
    }
}

/// A column with a role, once per name (DuckDB resolves names case-insensitively).
struct Named {
    /// As the spec spells it (the first spelling).
    name: String,
    lower: String,
    /// Its name inside the merge (`__crdt_n_<name>`).
    inner: String,
    arg: Arg,
}

struct Renderer<'a> {
    spec: &'a MergeSpec,
    named: Vec<Named>,
    /// The row clock, quoted (inner name).
    clock: String,
    replica: Option<String>,
    /// Per-cell clocks other than the row clock, each once, quoted (inner names).
    cell_clocks: Vec<String>,
    /// Each input carries its name (provenance without a replica column).
    source_column: bool,
}

impl<'a> Renderer<'a> {
    fn new(spec: &'a MergeSpec) -> Self {
        let mut named: Vec<Named> = Vec::new();
        let mut add = |n: &str, arg: Arg| {
            let lower = n.to_lowercase();
            if !named.iter().any(|x| x.lower == lower) {
                named.push(Named {
                    name: n.to_string(),
                    lower,
                    inner: format!("{NAMED}{n}"),
                    arg,
                });
            }
        };
        spec.key.iter().for_each(|k| add(k, Arg::Key));
        add(&spec.clock, Arg::Clock);
        for r in &spec.rules {
            if let Some(c) = &r.clock {
                add(c, Arg::Clocks);
            }
        }
        if let Some(r) = &spec.replica {
            add(r, Arg::Replica);
        }
        if let Some(t) = &spec.tombstone {
            add(t, Arg::Tombstone);
        }
        for r in &spec.rules {
            add(&r.column, Arg::Strategies);
        }
        let source_column = spec.provenance && spec.replica.is_none();
        let mut me = Renderer {
            spec,
            named,
            clock: String::new(),
            replica: None,
            cell_clocks: Vec::new(),
            source_column,
        };
        me.clock = me.col(&spec.clock);
        me.replica = spec.replica.as_deref().map(|r| me.col(r));
        for r in &spec.rules {
            if let Some(c) = &r.clock {
                let q = me.col(c);
                if q != me.clock && !me.cell_clocks.contains(&q) {
                    me.cell_clocks.push(q);
                }
            }
        }
        me
    }

    /// The quoted inner name of column `name`, which has a role.
    fn col(&self, name: &str) -> String {
        let lower = name.to_lowercase();
        self.named
            .iter()
            .find(|n| n.lower == lower)
            .map_or_else(|| ident(&format!("{NAMED}{name}")), |n| ident(&n.inner))
    }

    /// Column `name` (which has a role) as the spec first spells it.
    fn named_name(&self, name: &str) -> String {
        let lower = name.to_lowercase();
        self.named
            .iter()
            .find(|n| n.lower == lower)
            .map_or_else(|| name.to_string(), |n| n.name.clone())
    }

    /// The keys inside the merge.
    fn keys(&self) -> String {
        self.spec
            .key
            .iter()
            .map(|k| self.col(k))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The keys of the output.
    fn output_keys(&self) -> String {
        self.spec
            .key
            .iter()
            .map(|k| ident(k))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every input, empty, in its own columns (they give the output its column order).
    fn empty_branches(&self) -> String {
        self.spec
            .sources
            .iter()
            .map(|s| format!("(SELECT * FROM {} LIMIT 0)", source_sql(s)))
            .collect::<Vec<_>>()
            .join("\n  UNION ALL BY NAME\n  ")
    }

    /// Every input as one branch of a `UNION ALL BY NAME`, with the pad (and, for provenance
    /// without a replica, the input's name) added; an input column named like one of these
    /// two is an error naming it (DuckDB evaluates the lambda over the column names while it
    /// binds the query, so the failing cast is the error, even for an empty input).
    fn branches(&self) -> String {
        let mut reserved = vec![literal(PAD)];
        if self.source_column {
            reserved.push(literal(RAW_SOURCE));
        }
        let reserved = reserved.join(", ");
        self.spec
            .sources
            .iter()
            .map(|s| {
                let msg = format!(
                    "crdt_merge: input {} has a column named ",
                    literal(&s.id()).trim_matches('\'')
                );
                let check = format!(
                    "COLUMNS(lambda c: CASE WHEN lower(c) IN ({reserved}) THEN ({} || c || ', a name crdt_merge reserves for its own use: rename it')::BOOLEAN ELSE true END)",
                    literal(&msg)
                );
                let mut extra = format!(", NULL::BOOLEAN AS {}", ident(PAD));
                if self.source_column {
                    extra.push_str(&format!(
                        ", {} AS {}",
                        literal(&s.id()),
                        ident(RAW_SOURCE)
                    ));
                }
                format!("(SELECT {check}{extra} FROM {})", source_sql(s))
            })
            .collect::<Vec<_>>()
            .join("\n  UNION ALL BY NAME\n  ")
    }

    /// The stacked, filtered inputs, every column renamed into its namespace (see the top of
    /// this file), and NULL keys turned into an error naming the key.
    fn input(&self) -> String {
        let spec = self.spec;
        let mut select: Vec<String> = Vec::new();
        let mut lower: Vec<String> = Vec::new();
        for n in &self.named {
            lower.push(literal(&n.lower));
            // Selected by its exact name (case-insensitively, as DuckDB resolves names); the
            // second alternative never matches and carries the error message DuckDB prints
            // when no input has the column.
            let msg = format!(
                "crdt_merge: argument {} names column `{}`, which no input has",
                n.arg.label(),
                n.name
            );
            let pick = format!(
                "COLUMNS({})",
                literal(&format!(
                    "(?is)^{}$|[^\\s\\S]{}",
                    regex_literal(&n.name),
                    regex_literal(&msg)
                ))
            );
            let alias = literal(&alias_literal(&n.inner));
            if n.arg == Arg::Tombstone {
                // A tombstone is a BOOLEAN column; DuckDB would cast an integer silently.
                let msg = format!(
                    "crdt_merge: argument `tombstone`/TOMBSTONE: expected a BOOLEAN column `{}`, found ",
                    n.name
                );
                select.push(format!(
                    "CASE WHEN typeof({pick}) = 'BOOLEAN' THEN {pick}::BOOLEAN ELSE error({} || typeof({pick})) END AS {alias}",
                    literal(&msg)
                ));
            } else {
                select.push(format!("{pick} AS {alias}"));
            }
        }
        if self.source_column {
            lower.push(literal(RAW_SOURCE));
            select.push(format!("{} AS {}", ident(RAW_SOURCE), ident(SOURCE)));
        }
        select.push(format!(
            "COLUMNS(lambda c: lower(c) NOT IN ({})) AS '{DATA}\\0'",
            lower.join(", ")
        ));
        let filter = spec
            .filter
            .as_deref()
            .map(|p| format!("\n    WHERE ({})", p.trim()))
            .unwrap_or_default();
        // NULL never equals itself, so a NULL key cannot be merged lawfully: an error naming the
        // column, worded as the kernel's table merge words it.
        let null_keys = null_key_guard(spec, |k| self.col(k));
        format!(
            "(\n    SELECT {}\n    FROM (\n  {}\n    ) AS u0{filter}\n  ) AS u\n  WHERE {null_keys}",
            select.join(",\n      "),
            self.branches()
        )
    }

    /// The data column (quoted, inner name) whose clock `clock` (quoted, inner name) is, when
    /// exactly one lww column owns it.
    fn lww_owner(&self, clock: &str) -> Option<String> {
        let owners: Vec<&ColumnRule> = self
            .spec
            .rules
            .iter()
            .filter(|r| r.clock.as_deref().is_some_and(|c| self.col(c) == clock))
            .collect();
        match owners.as_slice() {
            [r] if r.strategy == StrategyKind::Lww => Some(self.col(&r.column)),
            _ => None,
        }
    }

    /// The clock of data column `rule` (none: default LWW), quoted.
    fn ts_of(&self, rule: Option<&ColumnRule>) -> String {
        rule.and_then(|r| r.clock.as_deref())
            .map_or_else(|| self.clock.clone(), |c| self.col(c))
    }

    /// The aggregate select list: keys, clocks, replica, tombstone, data columns (the default
    /// ones aliased `default_alias`), and with provenance the source and conflict columns.
    fn aggregates(&self, default_alias: &str) -> Vec<String> {
        let spec = self.spec;
        let clock = &self.clock;
        let replica = self.replica.as_deref();
        let mut select: Vec<String> = spec.key.iter().map(|k| self.col(k)).collect();
        select.push(format!("{} AS {clock}", clock_max(clock)));
        for c in &self.cell_clocks {
            let q = c.clone();
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
                None => clock_max(&q),
            };
            select.push(format!("{merged} AS {q}"));
        }
        if let Some(r) = replica {
            let merged = keyed_aggregate(StrategyKind::Lww, r, &[clock, r]).unwrap_or_default();
            select.push(format!("{merged} AS {r}"));
        }
        if let Some(t) = &spec.tombstone {
            let t = self.col(t);
            select.push(format!(
                "crdt_lww_nullable(coalesce({t}, false), {clock}) AS {t}"
            ));
        }
        let source = ident(SOURCE);
        let mut provenance: Vec<String> = Vec::new();
        // One data column (a named one, or the default selector) in the kernel's expressions;
        // `alias(prefix)` names its merged value, provenance and conflict flag.
        let mut data = |q: &str, rule: Option<&ColumnRule>, alias: &dyn Fn(&str) -> String| {
            let kind = rule.map_or(StrategyKind::Lww, |r| r.strategy);
            let ts = self.ts_of(rule);
            let expr = any_aggregate(q, rule, &ts, replica);
            select.push(format!("{expr} AS {}", alias(DATA)));
            if !spec.provenance {
                return;
            }
            if kind.selects_one_cell() {
                // Two or more distinct non-NULL values (min and max rather than
                // count(DISTINCT ...): DuckDB plans each distinct aggregate on its own, which
                // made wide tables take minutes).
                provenance.push(format!(
                    "CASE WHEN min({q}) IS DISTINCT FROM max({q}) THEN 1 ELSE 0 END AS {}",
                    alias(FLAGS)
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
                        format!("CASE WHEN {q} IS NOT NULL THEN {source} END"),
                        q.to_string(),
                    ),
                    (None, _) => (source.clone(), q.to_string()),
                };
                let expr =
                    keyed_aggregate(StrategyKind::Lww, &id, &[&ts, &tie]).unwrap_or_default();
                provenance.push(format!("{expr} AS {}", alias(SOURCES)));
            }
        };
        for r in &spec.rules {
            let q = self.col(&r.column);
            let name = self.named_name(&r.column);
            data(&q, Some(r), &|prefix| {
                if prefix == DATA {
                    q.clone()
                } else {
                    ident(&format!("{prefix}{name}"))
                }
            });
        }
        data(DEFAULTS, None, &|prefix| {
            if prefix == DATA {
                default_alias.to_string()
            } else {
                format!("'{prefix}\\1'")
            }
        });
        select.extend(provenance);
        select
    }

    /// The whole merge as one hash aggregate.
    fn group_by_plan(&self) -> String {
        format!(
            "SELECT\n    {}\n  FROM {}\n  GROUP BY {}",
            self.aggregates(&format!("'{DATA}\\1'")).join(",\n    "),
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
                    let k = self.col(k);
                    format!("{f}({k}{args}) OVER {WINDOW} = {k}")
                })
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let mut select: Vec<String> = spec.key.iter().map(|k| self.col(k)).collect();
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
            &greatest_clock(clock, &lead(clock)),
            false,
            clock,
        ));
        for c in &self.cell_clocks {
            let q = c.clone();
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
                None => cell(&q, &greatest_clock(&q, &lead(&q)), false, &q),
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
            let t = self.col(t);
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
                let other = side(&next, &next_ts, lead_replica.as_deref());
                let mut joined = any_join(rule, &me, &other);
                if let Some(whens) = native_pick(kind, &me, &other) {
                    joined = format!("CASE {whens} ELSE {joined} END");
                }
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
            let q = self.col(&r.column);
            select.push(data(&q, &q, Some(r)));
        }
        let default_alias = format!("'{DATA}\\1'");
        select.push(data(DEFAULTS, &default_alias, None));
        let keys = self.keys();
        let with = format!(
            "WITH {PAIRS} AS (\n  SELECT\n    {}\n  FROM {}\n  WINDOW {WINDOW} AS (ORDER BY {keys})\n  QUALIFY {MANY} OR NOT {PREV}\n)\n",
            select.join(",\n    "),
            self.input(),
        );
        let merged = format!(
            "SELECT * EXCLUDE ({NEXT}, {PREV}, {MANY}) FROM {PAIRS} WHERE NOT {MANY}\n    UNION ALL BY NAME\n    SELECT\n      {}\n    FROM {PAIRS} WHERE {MANY}\n    GROUP BY {keys}",
            self.aggregates(&default_alias).join(",\n      "),
        );
        (with, merged)
    }
}
