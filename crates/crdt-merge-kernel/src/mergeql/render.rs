//! Rendering a [`MergeSpec`] to one plain SQL aggregation query (design §1).

use super::ident::{quote_ident, quote_literal};
use super::spec::{strategy_uses_clock, CellClock, ColumnRule, MergeSpec, Source};
use crate::error::{Error, Result};
use crate::strategy::StrategyKind;

const FUNCTION: &str = "render_sql";

/// Name of the column each input branch adds when provenance needs the input's name.
pub const SOURCE_COLUMN: &str = "__source";

/// Name of the per-row conflict count added by provenance.
pub const CONFLICTS_COLUMN: &str = "__conflicts";

/// Suffix of the per-column provenance columns (`<col>__source`).
pub const PROVENANCE_SUFFIX: &str = "__source";

/// The SQL engine a query is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// DuckDB (file sources read by path).
    DuckDb,
    /// Apache DataFusion (file sources read by path where the context has URL tables enabled,
    /// as `datafusion-cli` has).
    DataFusion,
    /// PostgreSQL (no file sources; typed NULL placeholders in the first input).
    Postgres,
}

impl Dialect {
    /// Every dialect.
    pub const ALL: [Dialect; 3] = [Dialect::DuckDb, Dialect::DataFusion, Dialect::Postgres];

    /// Lower-case name (`duckdb`, `datafusion`, `postgres`).
    pub fn name(self) -> &'static str {
        match self {
            Dialect::DuckDb => "duckdb",
            Dialect::DataFusion => "datafusion",
            Dialect::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Dialect {
    type Err = Error;

    /// Parses `duckdb`, `datafusion` or `postgres` (also `postgresql`, `pg`), case-insensitively.
    fn from_str(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "duckdb" => Ok(Dialect::DuckDb),
            "datafusion" => Ok(Dialect::DataFusion),
            "postgres" | "postgresql" | "pg" => Ok(Dialect::Postgres),
            _ => Err(invalid(
                "dialect",
                "duckdb, datafusion or postgres",
                format!("`{name}`"),
            )),
        }
    }
}

/// What a column of the combined input is in the merge.
#[derive(Debug, Clone, Copy)]
enum Role<'a> {
    Key,
    RowClock,
    CellClock,
    Replica,
    Tombstone,
    /// A cell clock or cell replica kept by [`MergeSpec::cell_clocks`], rendered beside its
    /// data column.
    Kept,
    Data(Option<&'a ColumnRule>),
}

fn invalid(argument: &str, expected: impl Into<String>, found: impl Into<String>) -> Error {
    Error::invalid(FUNCTION, argument, expected, found)
}

/// Renders `spec` as one SQL query for `dialect`, given the column names of each source in the
/// order of `spec.sources`:
///
/// ```sql
/// SELECT k, <aggregate per column> AS col, ..., max(_ts) AS _ts
/// FROM (SELECT <every column, NULL for missing ones> FROM s1
///       UNION ALL
///       SELECT ... FROM s2) AS u
/// [WHERE (<predicate>)]
/// GROUP BY k ORDER BY k [LIMIT n]
/// ```
///
/// Inputs are combined by column name, in order of first appearance; a column missing from an
/// input is NULL there (bottom for every strategy). Names are resolved exactly, or else
/// ASCII-case-insensitively when that picks one column (so `ON id` finds a column `Id`).
/// See the [module docs](super) for the expression of each strategy and option.
///
/// # Errors
/// [`crate::ErrorKind::InvalidArgument`] when the spec is incoherent ([`MergeSpec::validate`]),
/// `columns` does not have one list per source, a source lists a column twice, a key column is
/// missing from a source, a named column (strategy, clock, replica, tombstone) is in no source,
/// two roles resolve to one column, a generated provenance name is taken, or a file source is
/// rendered for Postgres.
///
/// # Example
/// ```
/// use crdt_merge_kernel::mergeql::{parse, render_sql, Dialect};
///
/// let spec = parse("MERGE a, b ON id STRATEGY score='max'").unwrap();
/// let cols = vec![
///     vec!["id".to_string(), "score".to_string(), "_ts".to_string()],
///     vec!["id".to_string(), "_ts".to_string()],
/// ];
/// let sql = render_sql(&spec, Dialect::DuckDb, &cols).unwrap();
/// assert!(sql.contains("crdt_max(score) AS score"));
/// assert!(sql.contains("SELECT id, NULL AS score, _ts FROM b"));
/// ```
pub fn render_sql(spec: &MergeSpec, dialect: Dialect, columns: &[Vec<String>]) -> Result<String> {
    spec.validate().map_err(|e| e.in_function(FUNCTION))?;
    if columns.len() != spec.sources.len() {
        return Err(invalid(
            "columns",
            format!("one column list per source ({})", spec.sources.len()),
            format!("{} lists", columns.len()),
        ));
    }
    if dialect == Dialect::Postgres {
        if let Some(Source::File(path)) = spec.sources.iter().find(|s| matches!(s, Source::File(_)))
        {
            return Err(invalid(
                "sources",
                "tables (Postgres cannot read a file in a query; load it into a table first)",
                format!("the file {}", quote_literal(path)),
            ));
        }
    }

    // Combined columns, by name, in order of first appearance.
    let mut union: Vec<&str> = Vec::new();
    for (source, cols) in spec.sources.iter().zip(columns) {
        if cols.is_empty() {
            return Err(invalid(
                "columns",
                "at least one column per source",
                format!("none for {}", source.to_mergeql()),
            ));
        }
        for (n, c) in cols.iter().enumerate() {
            if cols[..n].contains(c) {
                return Err(invalid(
                    "columns",
                    "distinct column names in each source",
                    format!("`{c}` twice in {}", source.to_mergeql()),
                ));
            }
            if !union.contains(&c.as_str()) {
                union.push(c);
            }
        }
    }
    let resolve = |name: &str| -> Result<Option<&str>> {
        if let Some(c) = union.iter().find(|c| **c == name) {
            return Ok(Some(c));
        }
        let folded: Vec<&str> = union
            .iter()
            .copied()
            .filter(|c| c.eq_ignore_ascii_case(name))
            .collect();
        match folded.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            many => Err(invalid(
                "columns",
                format!("one column matching `{name}`"),
                format!("{} differing only in case", many.join(", ")),
            )),
        }
    };
    let required = |what: &str, name: &str| -> Result<&str> {
        resolve(name)?.ok_or_else(|| {
            invalid(
                what,
                "a column present in at least one source",
                format!("`{name}`, which is in no source"),
            )
        })
    };

    let mut roles: Vec<(&str, Role)> = Vec::new();
    // Keys must be in every source.
    let mut keys: Vec<&str> = Vec::new();
    for k in &spec.key {
        let col = required("ON", k)?;
        for (source, cols) in spec.sources.iter().zip(columns) {
            if !cols.iter().any(|c| c == col) {
                return Err(invalid(
                    "ON",
                    "key columns present in every source",
                    format!("`{col}` missing from {}", source.to_mergeql()),
                ));
            }
        }
        claim(&mut roles, col, Role::Key)?;
        keys.push(col);
    }
    let replica = match &spec.replica {
        Some(r) => {
            let col = required("REPLICA", r)?;
            claim(&mut roles, col, Role::Replica)?;
            Some(col)
        }
        None => None,
    };
    let tombstone = match &spec.tombstone {
        Some(t) => {
            let col = required("TOMBSTONE", t)?;
            claim(&mut roles, col, Role::Tombstone)?;
            Some(col)
        }
        None => None,
    };
    let row_clock = resolve(&spec.clock)?;
    if let Some(col) = row_clock {
        claim(&mut roles, col, Role::RowClock)?;
    }
    // Per-cell clock of each rule (index into spec.rules), resolved.
    let mut cell_clocks: Vec<Option<&str>> = Vec::new();
    for rule in &spec.rules {
        let resolved = match &rule.clock {
            Some(clock) => {
                let col = required("CLOCK", clock)?;
                let shared = Some(col) == row_clock
                    || roles
                        .iter()
                        .any(|(c, r)| *c == col && matches!(r, Role::CellClock));
                if !shared {
                    claim(&mut roles, col, Role::CellClock)?;
                }
                Some(col)
            }
            None => None,
        };
        cell_clocks.push(resolved);
    }
    for rule in &spec.rules {
        let col = required("STRATEGY", &rule.column)?;
        claim(&mut roles, col, Role::Data(Some(rule)))?;
    }
    // Cell clocks kept for lww columns (MergeSpec::cell_clocks).
    let kept: Vec<CellClock> = spec.cell_clock_columns(&union);
    // The output's columns: the inputs', then kept clocks no input has yet.
    let mut all: Vec<&str> = union.clone();
    for k in &kept {
        for name in std::iter::once(&k.ts).chain(&k.replica) {
            match union.iter().find(|c| **c == name.as_str()) {
                Some(c) => claim(&mut roles, c, Role::Kept)?,
                None => {
                    all.push(name);
                    claim(&mut roles, name, Role::Kept)?;
                }
            }
        }
    }
    let kept_of = |c: &str| kept.iter().find(|k| k.column == c);
    let role_of = |c: &str| -> Role {
        roles
            .iter()
            .find(|(name, _)| *name == c)
            .map(|(_, r)| *r)
            .unwrap_or(Role::Data(None))
    };

    // The row clock: needed by default-LWW and clock-reading columns without their own clock,
    // by the replica column and by the tombstone.
    let needs_row_clock = replica.is_some()
        || tombstone.is_some()
        || union.iter().any(|c| match role_of(c) {
            Role::Data(None) => true,
            Role::Data(Some(rule)) => strategy_uses_clock(rule.strategy) && rule.clock.is_none(),
            _ => false,
        });
    if needs_row_clock && row_clock.is_none() {
        return Err(invalid(
            "CLOCK",
            "the row clock column in at least one source (name it with CLOCK)",
            format!("`{}`, which is in no source", spec.clock),
        ));
    }
    let clock_of = |column: &str, rule: Option<&ColumnRule>| -> String {
        if let Some(k) = kept_of(column) {
            return quote_ident(&k.ts);
        }
        let cell = rule.and_then(|r| {
            let n = spec.rules.iter().position(|x| std::ptr::eq(x, r))?;
            cell_clocks[n]
        });
        quote_ident(cell.or(row_clock).unwrap_or(&spec.clock))
    };
    let replica_of = |column: &str| -> Option<String> {
        match kept_of(column) {
            Some(k) => k.replica.as_deref().map(quote_ident),
            None => replica.map(quote_ident),
        }
    };

    // DataFusion's `max` combines NaN differently per partition; the kernel's order (NaN
    // greatest, as the cells' clocks compare) makes the clock deterministic.
    let max = if dialect == Dialect::DataFusion {
        "crdt_max"
    } else {
        "max"
    };
    // SELECT list.
    let mut select: Vec<String> = Vec::new();
    for c in &all {
        let q = quote_ident(c);
        let item = match role_of(c) {
            Role::Key => q,
            Role::RowClock => format!("{max}({q}) AS {q}"),
            Role::CellClock => {
                // Like the kernel's table merge: a clock owned by one lww column leaves as the
                // clock of that column's winning cell, so the output merges exactly again (with
                // max, a newer NULL cell's clock would be paired with an older value).
                let owners: Vec<&ColumnRule> = spec
                    .rules
                    .iter()
                    .zip(&cell_clocks)
                    .filter(|(_, clk)| **clk == Some(*c))
                    .map(|(r, _)| r)
                    .collect();
                match owners.as_slice() {
                    [rule] if rule.strategy == StrategyKind::Lww => {
                        let v = quote_ident(required("STRATEGY", &rule.column)?);
                        let r = replica.map(quote_ident);
                        format!("{} AS {q}", winner_clock(&v, &q, r.as_deref(), false))
                    }
                    _ => format!("{max}({q}) AS {q}"),
                }
            }
            Role::Kept => continue,
            Role::Replica => format!("crdt_lww({q}, {}, {q}) AS {q}", clock_of(c, None)),
            Role::Tombstone => format!(
                "crdt_lww_nullable(coalesce({q}, false), {}) AS {q}",
                clock_of(c, None)
            ),
            Role::Data(rule) => {
                let rep = replica_of(c);
                let ts = clock_of(c, rule);
                let expr = data_aggregate(&q, rule, &ts, rep.as_deref());
                select.push(format!("{expr} AS {q}"));
                if let Some(k) = kept_of(c) {
                    let clock = winner_clock(&q, &ts, rep.as_deref(), k.nullable);
                    select.push(format!("{clock} AS {ts}"));
                    if let Some(rep) = &rep {
                        let pick = winner_replica(&q, &ts, rep, k.nullable);
                        select.push(format!("{pick} AS {rep}"));
                    }
                }
                continue;
            }
        };
        select.push(item);
    }

    // Provenance.
    let mut uses_source_column = false;
    if spec.provenance {
        let mut conflicts: Vec<String> = Vec::new();
        for c in &union {
            let Role::Data(rule) = role_of(c) else {
                continue;
            };
            let kind = rule.map_or(StrategyKind::Lww, |r| r.strategy);
            let q = quote_ident(c);
            if kind.selects_one_cell() {
                conflicts.push(format!(
                    "CASE WHEN count(DISTINCT {q}) > 1 THEN 1 ELSE 0 END"
                ));
            }
            if !matches!(kind, StrategyKind::Lww | StrategyKind::LwwNullable) {
                continue;
            }
            let name = format!("{c}{PROVENANCE_SUFFIX}");
            if resolve(&name)?.is_some() {
                return Err(invalid(
                    "PROVENANCE",
                    "provenance column names not already taken",
                    format!("`{name}`, a column of a source"),
                ));
            }
            let ts = clock_of(c, rule);
            // The winning cell's order key, ties to the greatest id.
            let expr = match (replica, kind) {
                (Some(r), StrategyKind::Lww) => {
                    let r = quote_ident(r);
                    format!("crdt_lww(CASE WHEN {q} IS NOT NULL THEN {r} END, {ts}, {r})")
                }
                (Some(r), _) => {
                    let r = quote_ident(r);
                    format!("crdt_lww({r}, {ts}, {r})")
                }
                (None, StrategyKind::Lww) => {
                    uses_source_column = true;
                    format!(
                        "crdt_lww(CASE WHEN {q} IS NOT NULL THEN {SOURCE_COLUMN} END, {ts}, {q})"
                    )
                }
                (None, _) => {
                    uses_source_column = true;
                    format!("crdt_lww({SOURCE_COLUMN}, {ts}, {q})")
                }
            };
            select.push(format!("{expr} AS {}", quote_ident(&name)));
        }
        for generated in [SOURCE_COLUMN, CONFLICTS_COLUMN] {
            if resolve(generated)?.is_some() {
                return Err(invalid(
                    "PROVENANCE",
                    "provenance column names not already taken",
                    format!("`{generated}`, a column of a source"),
                ));
            }
        }
        let count = balanced_sum(&conflicts);
        select.push(format!("{count} AS {CONFLICTS_COLUMN}"));
    }

    // Input branches.
    let mut branches: Vec<String> = Vec::new();
    for (i, (source, cols)) in spec.sources.iter().zip(columns).enumerate() {
        let mut items: Vec<String> = Vec::new();
        let has = |name: &str| cols.iter().any(|x| x == name);
        for c in &all {
            let q = quote_ident(c);
            // A kept cell clock (replica) missing from an input is that input's row clock
            // (replica): each of its cells was written at its row's clock.
            let stand_in = kept.iter().find_map(|k| {
                if k.ts == *c {
                    row_clock
                } else if k.replica.as_deref() == Some(*c) {
                    replica
                } else {
                    None
                }
            });
            if has(c) {
                items.push(q);
            } else if let Some(col) = stand_in.filter(|col| has(col)) {
                items.push(format!("{} AS {q}", quote_ident(col)));
            } else if dialect == Dialect::Postgres && i == 0 {
                // Postgres types UNION inputs pairwise from the left and would type two leading
                // NULLs as text; a typed NULL from a source that has the column avoids that.
                let donor = spec
                    .sources
                    .iter()
                    .zip(columns)
                    .find(|(_, cs)| cs.iter().any(|x| x == c))
                    .map(|(s, _)| render_source(s));
                items.push(match donor {
                    Some(donor) => format!("(SELECT {q} FROM {donor} LIMIT 0) AS {q}"),
                    None => format!("NULL AS {q}"),
                });
            } else {
                items.push(format!("NULL AS {q}"));
            }
        }
        if uses_source_column {
            items.push(format!(
                "{} AS {SOURCE_COLUMN}",
                quote_literal(&source.id())
            ));
        }
        branches.push(format!(
            "  SELECT {} FROM {}",
            items.join(", "),
            render_source(source)
        ));
    }

    let key_list = keys
        .iter()
        .map(|k| quote_ident(k))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = format!(
        "SELECT\n  {}\nFROM (\n{}\n) AS u\n",
        select.join(",\n  "),
        branches.join("\n  UNION ALL\n")
    );
    if let Some(p) = &spec.filter {
        sql.push_str(&format!("WHERE ({})\n", p.trim()));
    }
    sql.push_str(&format!("GROUP BY {key_list}\nORDER BY {key_list}"));
    if let Some(n) = spec.limit {
        sql.push_str(&format!("\nLIMIT {n}"));
    }
    Ok(sql)
}

/// The clock of the winning cell of lww column `value` (quoted) with clock `ts`: the greatest
/// clock among its non-NULL cells (among all cells for lww_nullable, where a NULL is written).
fn winner_clock(value: &str, ts: &str, replica: Option<&str>, nullable: bool) -> String {
    let picked = if nullable {
        ts.to_string()
    } else {
        format!("CASE WHEN {value} IS NOT NULL THEN {ts} END")
    };
    match replica {
        Some(r) => format!("crdt_lww({picked}, {ts}, {r})"),
        None => format!("crdt_lww({picked}, {ts})"),
    }
}

/// The replica of the winning cell of lww column `value`, as [`winner_clock`].
fn winner_replica(value: &str, ts: &str, replica: &str, nullable: bool) -> String {
    if nullable {
        format!("crdt_lww({replica}, {ts}, {replica})")
    } else {
        format!("crdt_lww(CASE WHEN {value} IS NOT NULL THEN {replica} END, {ts}, {replica})")
    }
}

/// The aggregate that merges data column `q` (quoted, or a `COLUMNS(...)` selector) under
/// `rule` (none: LWW), with clock `ts` and replica column `replica` (both quoted); the one
/// expression per strategy of the table in the [module docs](super), shared by both renderers.
pub(super) fn data_aggregate(
    q: &str,
    rule: Option<&ColumnRule>,
    ts: &str,
    replica: Option<&str>,
) -> String {
    let kind = rule.map_or(StrategyKind::Lww, |r| r.strategy);
    let f = kind.aggregate_name();
    match kind {
        StrategyKind::Lww | StrategyKind::LwwNullable | StrategyKind::Longest => match replica {
            Some(r) => format!("{f}({q}, {ts}, {r})"),
            None => format!("{f}({q}, {ts})"),
        },
        StrategyKind::Max | StrategyKind::Min => format!("{f}({q})"),
        StrategyKind::Priority => {
            let levels: Vec<String> = rule
                .map(|r| r.levels.iter().map(|l| quote_literal(l)).collect())
                .unwrap_or_default();
            format!("{f}({q}, ARRAY[{}])", levels.join(", "))
        }
        StrategyKind::Union | StrategyKind::Concat => match rule.and_then(|r| r.sep.as_deref()) {
            Some(sep) => format!("{f}({q}, {})", quote_literal(sep)),
            None => format!("{f}({q})"),
        },
        StrategyKind::GCounter | StrategyKind::PNCounter => format!("crdt_state_merge_agg({q})"),
    }
}

/// One side of a pairwise join: a data column with its clock and replica (all SQL
/// expressions).
pub(super) struct Side<'a> {
    pub value: &'a str,
    pub ts: &'a str,
    pub replica: Option<&'a str>,
}

/// The pairwise `_join` (or, for counters, `crdt_state_merge`) of two sides of data column under
/// `rule` (none: LWW): the scalar form of [`data_aggregate`] over those two rows. The law tests
/// compare the forms (`test_pairwise_join_equals_the_aggregate`).
pub(super) fn data_join(rule: Option<&ColumnRule>, a: &Side<'_>, b: &Side<'_>) -> String {
    let kind = rule.map_or(StrategyKind::Lww, |r| r.strategy);
    let Some(f) = kind.join_name() else {
        return format!("crdt_state_merge({}, {})", a.value, b.value);
    };
    match kind {
        StrategyKind::Lww | StrategyKind::LwwNullable | StrategyKind::Longest => {
            match (a.replica, b.replica) {
                (Some(ra), Some(rb)) => format!(
                    "{f}({}, {}, {ra}, {}, {}, {rb})",
                    a.value, a.ts, b.value, b.ts
                ),
                _ => format!("{f}({}, {}, {}, {})", a.value, a.ts, b.value, b.ts),
            }
        }
        StrategyKind::Priority => {
            let levels: Vec<String> = rule
                .map(|r| r.levels.iter().map(|l| quote_literal(l)).collect())
                .unwrap_or_default();
            format!(
                "{f}({}, {}, ARRAY[{}])",
                a.value,
                b.value,
                levels.join(", ")
            )
        }
        StrategyKind::Union | StrategyKind::Concat => match rule.and_then(|r| r.sep.as_deref()) {
            Some(sep) => format!("{f}({}, {}, {})", a.value, b.value, quote_literal(sep)),
            None => format!("{f}({}, {})", a.value, b.value),
        },
        _ => format!("{f}({}, {})", a.value, b.value),
    }
}

/// `terms` added as a balanced tree, `((a + b) + (c + d))`, so an engine parsing or planning
/// it recurses to a depth logarithmic in the column count (a chain `a + b + c + ...` nests one
/// level per column and overflowed DataFusion's stack at a few hundred columns); `0` when empty.
fn balanced_sum(terms: &[String]) -> String {
    match terms {
        [] => "0".to_string(),
        [one] => one.clone(),
        _ => {
            let (left, right) = terms.split_at(terms.len() / 2);
            format!("({} + {})", balanced_sum(left), balanced_sum(right))
        }
    }
}

fn claim<'a>(roles: &mut Vec<(&'a str, Role<'a>)>, column: &'a str, role: Role<'a>) -> Result<()> {
    if roles.iter().any(|(c, _)| *c == column) {
        return Err(invalid(
            "columns",
            "one role per column",
            format!("`{column}` given two roles (names resolve case-insensitively)"),
        ));
    }
    roles.push((column, role));
    Ok(())
}

fn render_source(source: &Source) -> String {
    match source {
        Source::Table(_) => source.to_mergeql(),
        Source::File(path) => quote_literal(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_names_round_trip() {
        for d in Dialect::ALL {
            assert_eq!(d.name().parse::<Dialect>().unwrap(), d);
            assert_eq!(d.to_string(), d.name());
        }
        assert_eq!("PostgreSQL".parse::<Dialect>().unwrap(), Dialect::Postgres);
        let e = "sqlite".parse::<Dialect>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "render_sql: argument `dialect`: expected duckdb, datafusion or postgres, found `sqlite`"
        );
    }
}
