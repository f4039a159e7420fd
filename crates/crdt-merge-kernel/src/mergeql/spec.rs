//! [`MergeSpec`]: what a table-level merge computes, independent of how it was written.

use super::ident::{quote_ident, quote_literal};
use crate::error::{Error, ErrorKind, Result};
use crate::strategy::StrategyKind;

/// Name of the row clock column when none is given (upstream-compatible).
pub const DEFAULT_CLOCK: &str = "_ts";

/// Name of the tombstone column when tombstones are enabled without a name.
pub const DEFAULT_TOMBSTONE: &str = "_deleted";

/// Suffix of the per-cell clock column that [`MergeSpec::cell_clocks`] keeps for each
/// last-writer-wins column (`name` → `name__ts`).
pub const CELL_CLOCK_SUFFIX: &str = "__ts";

/// Suffix of the per-cell replica column [`MergeSpec::cell_clocks`] keeps beside each cell
/// clock when the merge has a replica column (`name` → `name__replica`).
pub const CELL_REPLICA_SUFFIX: &str = "__replica";

/// Function name carried by errors from parsing and validating a spec.
pub(crate) const FUNCTION: &str = "mergeql";

/// One input relation of a merge.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A table or view, as its name parts (`["public", "users"]` for `public.users`).
    Table(Vec<String>),
    /// A file path, read by the engine (`'data/a.parquet'`).
    File(String),
}

impl Source {
    /// An unqualified table name, taken literally (no splitting on `.`, no case folding).
    pub fn table(name: impl Into<String>) -> Self {
        Source::Table(vec![name.into()])
    }

    /// A schema-qualified table name from its parts.
    pub fn qualified<I, S>(parts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Source::Table(parts.into_iter().map(Into::into).collect())
    }

    /// A table name as SQL writes it, `schema.table` or `"My Schema"."t.1"`: split on dots
    /// outside double quotes, quotes removed (`""` inside quotes is one `"`). Unquoted parts are
    /// kept as written; the engine resolves them as it resolves any identifier.
    ///
    /// ```
    /// use crdt_merge_kernel::mergeql::Source;
    /// assert_eq!(Source::dotted("db.main.t").unwrap(), Source::qualified(["db", "main", "t"]));
    /// assert_eq!(Source::dotted(r#""my db"."a.b""#).unwrap(), Source::qualified(["my db", "a.b"]));
    /// assert!(Source::dotted(r#""open"#).is_err());
    /// ```
    ///
    /// # Errors
    /// An unterminated quote or an empty part.
    pub fn dotted(name: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid(
                "crdt_merge",
                "sources",
                format!("a table name such as schema.table or \"My Schema\".\"t\" ({why})"),
                format!("`{name}`"),
            )
        };
        let mut parts = Vec::new();
        let mut part = String::new();
        let mut quoted_part = false;
        let mut chars = name.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if part.is_empty() && !quoted_part => {
                    quoted_part = true;
                    loop {
                        match chars.next() {
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                part.push('"');
                            }
                            Some('"') => break,
                            Some(ch) => part.push(ch),
                            None => return Err(bad("unterminated quote")),
                        }
                    }
                }
                '.' => {
                    if part.is_empty() && !quoted_part {
                        return Err(bad("empty name part"));
                    }
                    parts.push(std::mem::take(&mut part));
                    quoted_part = false;
                }
                _ if quoted_part => return Err(bad("text after a closing quote")),
                _ => part.push(c),
            }
        }
        if part.is_empty() && !quoted_part {
            return Err(bad("empty name part"));
        }
        parts.push(part);
        Ok(Source::Table(parts))
    }

    /// A file path.
    pub fn file(path: impl Into<String>) -> Self {
        Source::File(path.into())
    }

    /// The id this source reports in provenance columns: the name parts joined by `.` (without
    /// quotes), or the file path.
    pub fn id(&self) -> String {
        match self {
            Source::Table(parts) => parts.join("."),
            Source::File(path) => path.clone(),
        }
    }

    /// The source as MergeQL writes it (also valid SQL for tables: quoted where needed).
    pub fn to_mergeql(&self) -> String {
        match self {
            Source::Table(parts) => parts
                .iter()
                .map(|p| quote_ident(p))
                .collect::<Vec<_>>()
                .join("."),
            Source::File(path) => quote_literal(path),
        }
    }
}

/// The strategy of one column, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRule {
    /// The column it applies to.
    pub column: String,
    /// The strategy.
    pub strategy: StrategyKind,
    /// Priority levels, low to high (the last wins); only for [`StrategyKind::Priority`], which
    /// needs at least one.
    pub levels: Vec<String>,
    /// Separator for text union/concat; only for [`StrategyKind::Union`] (text form) and
    /// [`StrategyKind::Concat`] (default `" | "`, chosen by `crdt_concat`).
    pub sep: Option<String>,
    /// Per-cell clock column replacing the row clock for this column; only for strategies that
    /// read a clock (lww, lww_nullable, longest).
    pub clock: Option<String>,
}

impl ColumnRule {
    /// A rule with no parameters.
    pub fn new(column: impl Into<String>, strategy: StrategyKind) -> Self {
        Self {
            column: column.into(),
            strategy,
            levels: Vec::new(),
            sep: None,
            clock: None,
        }
    }

    /// A priority rule with `levels` listed low to high.
    pub fn priority<I, S>(column: impl Into<String>, levels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut rule = Self::new(column, StrategyKind::Priority);
        rule.levels = levels.into_iter().map(Into::into).collect();
        rule
    }

    /// Sets the text separator (union, concat).
    pub fn with_sep(mut self, sep: impl Into<String>) -> Self {
        self.sep = Some(sep.into());
        self
    }

    /// Sets a per-cell clock column (lww, lww_nullable, longest).
    pub fn with_clock(mut self, clock: impl Into<String>) -> Self {
        self.clock = Some(clock.into());
        self
    }

    /// Parses a strategy as MergeQL writes it between the quotes of `col='...'`, for example
    /// `lww`, `MaxWins`, `priority(low, mid, high)`, `union(;)` or `concat(" | ")`.
    ///
    /// Grammar: `name [ '(' args ')' ]`. Priority takes its levels, `arg {',' arg}`, where an
    /// `arg` is bare text (trimmed; no `,`, `(`, `)` or `"`) or a double-quoted string (`""` for a
    /// quote, kept verbatim). Union and concat take an optional separator: exactly the text between
    /// the parentheses (`union(,)`, `concat( | )`), or a double-quoted string when it starts with
    /// `"`. Other strategies take no arguments.
    ///
    /// # Errors
    /// [`ErrorKind::Syntax`] with the character position in `value`, or
    /// [`ErrorKind::UnknownStrategy`] listing the valid names.
    pub fn parse(column: impl Into<String>, value: &str) -> Result<Self> {
        let chars: Vec<char> = value.chars().collect();
        let positions: Vec<usize> = (0..chars.len()).collect();
        parse_strategy_value(column.into(), &chars, &positions, chars.len())
    }

    /// The strategy as MergeQL writes it between the quotes (the inverse of [`ColumnRule::parse`]).
    pub fn strategy_text(&self) -> String {
        let mut out = self.strategy.name().to_string();
        if let (StrategyKind::Union | StrategyKind::Concat, Some(sep)) = (self.strategy, &self.sep)
        {
            if sep.is_empty() || sep.trim_start().starts_with('"') {
                out.push_str(&format!("(\"{}\")", sep.replace('"', "\"\"")));
            } else {
                out.push_str(&format!("({sep})"));
            }
            return out;
        }
        let args: Vec<&str> = match self.strategy {
            StrategyKind::Priority => self.levels.iter().map(String::as_str).collect(),
            _ => self.sep.iter().map(String::as_str).collect(),
        };
        if !args.is_empty() {
            out.push('(');
            out.push_str(
                &args
                    .iter()
                    .map(|a| format_arg(a))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            out.push(')');
        }
        out
    }

    /// True when the strategy orders cells by a clock (and so accepts a per-cell clock).
    pub fn uses_clock(&self) -> bool {
        strategy_uses_clock(self.strategy)
    }
}

/// True for the strategies that read a clock: lww, lww_nullable, longest.
pub(crate) fn strategy_uses_clock(kind: StrategyKind) -> bool {
    matches!(
        kind,
        StrategyKind::Lww | StrategyKind::LwwNullable | StrategyKind::Longest
    )
}

fn format_arg(arg: &str) -> String {
    let bare_ok = !arg.is_empty()
        && arg.trim() == arg
        && !arg.contains([',', '(', ')', '"'])
        && !arg.chars().any(char::is_control);
    if bare_ok {
        arg.to_string()
    } else {
        format!("\"{}\"", arg.replace('"', "\"\""))
    }
}

fn syntax(position: usize, expected: impl Into<String>, found: impl Into<String>) -> Error {
    Error::new(
        FUNCTION,
        ErrorKind::Syntax {
            position,
            expected: expected.into(),
            found: found.into(),
        },
    )
}

fn describe_char(c: Option<&char>) -> String {
    match c {
        None => "the end of the strategy".to_string(),
        Some(c) => format!("`{c}`"),
    }
}

/// Parses a strategy value. `chars[i]` sits at query position `pos[i]`; `end` is the position
/// just after the value (the closing quote in MergeQL).
pub(crate) fn parse_strategy_value(
    column: String,
    chars: &[char],
    pos: &[usize],
    end: usize,
) -> Result<ColumnRule> {
    let at = |i: usize| pos.get(i).copied().unwrap_or(end);
    let mut i = 0;
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    let name_start = i;
    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '-') {
        i += 1;
    }
    if i == name_start {
        return Err(syntax(
            at(i),
            "a strategy name such as 'lww'",
            describe_char(chars.get(i)),
        ));
    }
    let name: String = chars[name_start..i].iter().collect();
    let strategy = StrategyKind::parse(&name).map_err(|e| e.in_function(FUNCTION))?;
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    if chars.get(i) == Some(&'(') && matches!(strategy, StrategyKind::Union | StrategyKind::Concat)
    {
        let mut rule = ColumnRule::new(column, strategy);
        rule.sep = parse_separator(chars, i, &at)?;
        return Ok(rule);
    }
    let mut args: Vec<(String, usize)> = Vec::new();
    let mut paren_at = None;
    if chars.get(i) == Some(&'(') {
        paren_at = Some(at(i));
        i += 1;
        loop {
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            if chars.get(i) == Some(&')') && args.is_empty() {
                i += 1;
                break;
            }
            let arg_at = at(i);
            let arg = if chars.get(i) == Some(&'"') {
                i += 1;
                let mut text = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(syntax(at(i), "`\"` closing the argument", "its end")),
                        Some('"') if chars.get(i + 1) == Some(&'"') => {
                            text.push('"');
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            text.push(*c);
                            i += 1;
                        }
                    }
                }
                while i < chars.len() && chars[i].is_whitespace() {
                    i += 1;
                }
                text
            } else {
                let start = i;
                while i < chars.len() && !matches!(chars[i], ',' | '(' | ')' | '"') {
                    i += 1;
                }
                let text: String = chars[start..i]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_string();
                if text.is_empty() {
                    return Err(syntax(
                        arg_at,
                        "an argument (bare text or \"double-quoted\")",
                        describe_char(chars.get(i)),
                    ));
                }
                text
            };
            args.push((arg, arg_at));
            match chars.get(i) {
                Some(',') => i += 1,
                Some(')') => {
                    i += 1;
                    break;
                }
                other => return Err(syntax(at(i), "`,` or `)`", describe_char(other))),
            }
        }
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
    }
    if i < chars.len() {
        let expected = if paren_at.is_some() {
            "the end of the strategy"
        } else {
            "`(` or the end of the strategy"
        };
        return Err(syntax(at(i), expected, describe_char(chars.get(i))));
    }
    let mut rule = ColumnRule::new(column, strategy);
    match strategy {
        StrategyKind::Priority => {
            if args.is_empty() {
                return Err(syntax(
                    paren_at.unwrap_or(end),
                    "priority levels, low to high, as in 'priority(low, mid, high)'",
                    "none",
                ));
            }
            for (n, (level, level_at)) in args.iter().enumerate() {
                if args[..n].iter().any(|(l, _)| l == level) {
                    return Err(syntax(
                        *level_at,
                        "distinct priority levels",
                        format!("`{level}` a second time"),
                    ));
                }
            }
            rule.levels = args.into_iter().map(|(l, _)| l).collect();
        }
        _ => {
            if let Some(p) = paren_at {
                return Err(syntax(
                    p,
                    format!(
                        "no arguments for '{}' (only priority, union and concat take them)",
                        strategy.name()
                    ),
                    "`(`",
                ));
            }
        }
    }
    Ok(rule)
}

/// Reads the separator of `union(...)` / `concat(...)`; `open` indexes the `(`. The separator is
/// exactly the text between the parentheses (the value must end with `)`), or a double-quoted
/// string when the text starts with `"`; empty parentheses mean no separator.
fn parse_separator(
    chars: &[char],
    open: usize,
    at: &dyn Fn(usize) -> usize,
) -> Result<Option<String>> {
    let mut last = chars.len();
    while last > open + 1 && chars[last - 1].is_whitespace() {
        last -= 1;
    }
    if last <= open + 1 || chars[last - 1] != ')' {
        return Err(syntax(
            at(last),
            "`)` closing the separator",
            describe_char(chars.get(last)),
        ));
    }
    let inner = &chars[open + 1..last - 1];
    let lead = inner.iter().take_while(|c| c.is_whitespace()).count();
    if inner.get(lead) != Some(&'"') {
        return Ok((!inner.is_empty()).then(|| inner.iter().collect()));
    }
    let mut j = lead + 1;
    let mut text = String::new();
    loop {
        match inner.get(j) {
            None => {
                return Err(syntax(
                    at(open + 1 + j),
                    "`\"` closing the separator",
                    "`)`",
                ))
            }
            Some('"') if inner.get(j + 1) == Some(&'"') => {
                text.push('"');
                j += 2;
            }
            Some('"') => {
                j += 1;
                break;
            }
            Some(c) => {
                text.push(*c);
                j += 1;
            }
        }
    }
    while j < inner.len() && inner[j].is_whitespace() {
        j += 1;
    }
    if j < inner.len() {
        return Err(syntax(
            at(open + 1 + j),
            "`)` after the quoted separator",
            describe_char(inner.get(j)),
        ));
    }
    Ok(Some(text))
}

/// A last-writer-wins column that keeps its cell clock ([`MergeSpec::cell_clocks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellClock {
    /// The data column.
    pub column: String,
    /// Its clock column, `column__ts`.
    pub ts: String,
    /// Its replica column, `column__replica`, when the merge has a replica column.
    pub replica: Option<String>,
    /// True for lww_nullable (a NULL is a written value, so every cell counts).
    pub nullable: bool,
}

/// What a table-level merge computes: sources, key, a strategy per column, clocks, deletes,
/// provenance, a filter and a limit. Build it with [`MergeSpec::new`] and the `with_*` methods,
/// from a strategy map ([`MergeSpec::from_strategy_map`]) or from MergeQL
/// ([`parse`](super::parse)); print it back with [`MergeSpec::to_mergeql`].
///
/// Columns without a rule merge by LWW on the row clock; key columns group; the row clock merges
/// by `max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeSpec {
    /// Inputs, at least one.
    pub sources: Vec<Source>,
    /// Key columns, at least one, distinct.
    pub key: Vec<String>,
    /// Per-column strategies, at most one per column.
    pub rules: Vec<ColumnRule>,
    /// Row clock column (default [`DEFAULT_CLOCK`]).
    pub clock: String,
    /// Replica id column, the LWW tie-break after the clock.
    pub replica: Option<String>,
    /// Tombstone flag column (boolean); `None` disables deletes.
    pub tombstone: Option<String>,
    /// Adds provenance columns (`<col>__source`, `__conflicts`).
    pub provenance: bool,
    /// Raw SQL predicate applied to every input row before the merge.
    pub filter: Option<String>,
    /// Maximum number of merged rows, taken after ordering by key.
    pub limit: Option<u64>,
    /// Keeps, for every lww / lww_nullable column `c` without a clock of its own, the clock of
    /// its winning cell as a column `c__ts` (and, with a replica column, the winner's replica
    /// as `c__replica`), and reads those columns back as that column's clock wherever an input
    /// has them (the input's row clock and replica where it does not). The output is then a
    /// replica that merges again exactly: re-merging outputs is associative even with NULL
    /// cells, which a row clock alone cannot give (a later NULL raises the row clock past the
    /// value's own). Off by default: it adds columns.
    pub cell_clocks: bool,
    /// Orders the merged rows by key (the default). DuckDB's `crdt_merge(...)` and
    /// `crdt_mergeql(...)` turn it off unless asked (`ordered := true`), as a DuckDB user expects
    /// of a table function: the final sort was about a fifth of the merge's time. A limit always
    /// orders, so that it keeps the same rows on every run. MergeQL text has no clause for it (an
    /// outer `ORDER BY` does it).
    pub ordered: bool,
}

impl MergeSpec {
    /// A spec merging `sources` on `key`, every other column by LWW on `_ts`.
    pub fn new<S, K, I>(sources: S, key: K) -> Self
    where
        S: IntoIterator<Item = Source>,
        K: IntoIterator<Item = I>,
        I: Into<String>,
    {
        Self {
            sources: sources.into_iter().collect(),
            key: key.into_iter().map(Into::into).collect(),
            rules: Vec::new(),
            clock: DEFAULT_CLOCK.to_string(),
            replica: None,
            tombstone: None,
            provenance: false,
            filter: None,
            limit: None,
            cell_clocks: false,
            ordered: true,
        }
    }

    /// Builds a spec from a strategy map as the Python library writes its schemas
    /// (`{"name": "lww", "score": "max"}`); each value is parsed by [`ColumnRule::parse`], so
    /// `"MaxWins"`, `"priority(low,high)"` and `"union(;)"` are accepted. Rules keep the map's
    /// iteration order.
    ///
    /// # Errors
    /// An unknown strategy, a malformed value, or a spec [`MergeSpec::validate`] rejects.
    pub fn from_strategy_map<S, K, I, M, C, V>(sources: S, key: K, map: M) -> Result<Self>
    where
        S: IntoIterator<Item = Source>,
        K: IntoIterator<Item = I>,
        I: Into<String>,
        M: IntoIterator<Item = (C, V)>,
        C: Into<String>,
        V: AsRef<str>,
    {
        let mut spec = Self::new(sources, key);
        for (column, value) in map {
            spec.rules.push(ColumnRule::parse(column, value.as_ref())?);
        }
        spec.validate()?;
        Ok(spec)
    }

    /// Adds an input.
    pub fn with_source(mut self, source: Source) -> Self {
        self.sources.push(source);
        self
    }

    /// Adds a column rule.
    pub fn with_rule(mut self, rule: ColumnRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Adds a parameterless column rule.
    pub fn with_strategy(self, column: impl Into<String>, strategy: StrategyKind) -> Self {
        self.with_rule(ColumnRule::new(column, strategy))
    }

    /// Sets the row clock column.
    pub fn with_clock(mut self, clock: impl Into<String>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Sets the replica id column.
    pub fn with_replica(mut self, replica: impl Into<String>) -> Self {
        self.replica = Some(replica.into());
        self
    }

    /// Enables deletes with the given tombstone column.
    pub fn with_tombstone(mut self, tombstone: impl Into<String>) -> Self {
        self.tombstone = Some(tombstone.into());
        self
    }

    /// Enables deletes with the default tombstone column [`DEFAULT_TOMBSTONE`].
    pub fn with_default_tombstone(self) -> Self {
        self.with_tombstone(DEFAULT_TOMBSTONE)
    }

    /// Requests provenance columns.
    pub fn with_provenance(mut self) -> Self {
        self.provenance = true;
        self
    }

    /// Sets the input filter (raw SQL predicate).
    pub fn with_filter(mut self, predicate: impl Into<String>) -> Self {
        self.filter = Some(predicate.into());
        self
    }

    /// Keeps per-cell clocks in the output and reads them back ([`MergeSpec::cell_clocks`]).
    pub fn with_cell_clocks(mut self) -> Self {
        self.cell_clocks = true;
        self
    }

    /// Orders the merged rows by key, or not ([`MergeSpec::ordered`]).
    pub fn with_order(mut self, ordered: bool) -> Self {
        self.ordered = ordered;
        self
    }

    /// Sets the row limit.
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The columns that keep cell clocks in a merge whose combined input has `columns`: with
    /// [`MergeSpec::cell_clocks`], every lww / lww_nullable data column (the default strategy
    /// included) without a per-cell clock of its own; none otherwise. Columns that are
    /// themselves another column's cell clock or replica (`c__ts`, `c__replica` beside a `c`) are
    /// not data columns.
    pub fn cell_clock_columns(&self, columns: &[&str]) -> Vec<CellClock> {
        if !self.cell_clocks {
            return Vec::new();
        }
        let generated = |name: &str| {
            [CELL_CLOCK_SUFFIX, CELL_REPLICA_SUFFIX]
                .iter()
                .any(|suffix| {
                    name.strip_suffix(suffix)
                        .is_some_and(|base| columns.contains(&base))
                })
        };
        let named = |name: &str| {
            self.key.iter().any(|k| k == name)
                || self.clock == name
                || self.replica.as_deref() == Some(name)
                || self.tombstone.as_deref() == Some(name)
                || self.rules.iter().any(|r| r.clock.as_deref() == Some(name))
        };
        columns
            .iter()
            .filter(|c| !named(c) && !generated(c))
            .filter_map(|c| {
                let rule = self.rule(c);
                let kind = rule.map_or(StrategyKind::Lww, |r| r.strategy);
                let own_clock = rule.is_some_and(|r| r.clock.is_some());
                let lww = matches!(kind, StrategyKind::Lww | StrategyKind::LwwNullable);
                (lww && !own_clock).then(|| CellClock {
                    column: c.to_string(),
                    ts: format!("{c}{CELL_CLOCK_SUFFIX}"),
                    replica: self
                        .replica
                        .as_ref()
                        .map(|_| format!("{c}{CELL_REPLICA_SUFFIX}")),
                    nullable: kind == StrategyKind::LwwNullable,
                })
            })
            .collect()
    }

    /// The rule for `column`, if one was given.
    pub fn rule(&self, column: &str) -> Option<&ColumnRule> {
        self.rules.iter().find(|r| r.column == column)
    }

    /// Checks the spec is coherent: at least one source and key column; distinct keys; at most
    /// one rule per column; no rule on a key, clock, replica or tombstone column; parameters only
    /// where the strategy takes them (levels for priority, at least one and distinct; a
    /// separator for union/concat; a per-cell clock for lww, lww_nullable and longest); the
    /// clock, replica and tombstone columns distinct from the keys and from each other; a
    /// non-empty filter.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the offending part.
    pub fn validate(&self) -> Result<()> {
        let bad = |argument: &str, expected: &str, found: String| {
            Err(Error::invalid(FUNCTION, argument, expected, found))
        };
        if self.sources.is_empty() {
            return bad("sources", "at least one source", "none".into());
        }
        for s in &self.sources {
            match s {
                Source::Table(parts) if parts.is_empty() || parts.iter().any(String::is_empty) => {
                    return bad("sources", "a non-empty table name", format!("{parts:?}"));
                }
                Source::File(p) if p.is_empty() => {
                    return bad("sources", "a non-empty file path", "''".into());
                }
                _ => {}
            }
        }
        if self.key.is_empty() {
            return bad("ON", "at least one key column", "none".into());
        }
        if let Some(n) = self.limit.filter(|&n| i64::try_from(n).is_err()) {
            return bad(
                "LIMIT",
                "a row count at most 9223372036854775807 (2^63 - 1)",
                n.to_string(),
            );
        }
        let mut names: Vec<&str> = self.key.iter().map(String::as_str).collect();
        names.push(&self.clock);
        names.extend(self.replica.as_deref());
        names.extend(self.tombstone.as_deref());
        names.extend(self.rules.iter().map(|r| r.column.as_str()));
        if let Some(empty) = names.iter().find(|n| n.is_empty()) {
            return bad("column", "a non-empty column name", format!("`{empty}`"));
        }
        for (n, k) in self.key.iter().enumerate() {
            if self.key[..n].contains(k) {
                return bad("ON", "distinct key columns", format!("`{k}` twice"));
            }
        }
        let role = |name: &str| -> Option<&'static str> {
            if self.key.iter().any(|k| k == name) {
                Some("a key column")
            } else if self.clock == name {
                Some("the row clock")
            } else if self.replica.as_deref() == Some(name) {
                Some("the replica column")
            } else if self.tombstone.as_deref() == Some(name) {
                Some("the tombstone column")
            } else {
                None
            }
        };
        if self.key.contains(&self.clock) {
            return bad(
                "CLOCK",
                "a row clock that is not a key column",
                format!("`{}`", self.clock),
            );
        }
        if let Some(r) = &self.replica {
            if let Some(what) = role(r).filter(|w| *w != "the replica column") {
                return bad(
                    "REPLICA",
                    "a replica column with no other role",
                    format!("`{r}`, {what}"),
                );
            }
        }
        if let Some(t) = &self.tombstone {
            if let Some(what) = role(t).filter(|w| *w != "the tombstone column") {
                return bad(
                    "TOMBSTONE",
                    "a tombstone column with no other role",
                    format!("`{t}`, {what}"),
                );
            }
        }
        for (n, rule) in self.rules.iter().enumerate() {
            let c = &rule.column;
            if self.rules[..n].iter().any(|r| &r.column == c) {
                return bad(
                    "STRATEGY",
                    "one strategy per column",
                    format!("two for `{c}`"),
                );
            }
            if let Some(what) = role(c) {
                return bad(
                    "STRATEGY",
                    "a strategy only for data columns",
                    format!("one for `{c}`, {what}"),
                );
            }
            if self.rules.iter().any(|r| r.clock.as_deref() == Some(c)) {
                return bad(
                    "STRATEGY",
                    "a strategy only for data columns",
                    format!("one for `{c}`, a per-cell clock column"),
                );
            }
            if rule.strategy == StrategyKind::Priority {
                if rule.levels.is_empty() {
                    return bad(
                        "levels",
                        "at least one priority level",
                        format!("none for `{c}`"),
                    );
                }
                for (m, l) in rule.levels.iter().enumerate() {
                    if rule.levels[..m].contains(l) {
                        return bad("levels", "distinct priority levels", format!("`{l}` twice"));
                    }
                }
            } else if !rule.levels.is_empty() {
                return bad(
                    "levels",
                    "levels only for priority",
                    format!("levels for `{c}` ({})", rule.strategy),
                );
            }
            if let Some(sep) = &rule.sep {
                if !matches!(rule.strategy, StrategyKind::Union | StrategyKind::Concat) {
                    return bad(
                        "sep",
                        "a separator only for union or concat",
                        format!("one for `{c}` ({})", rule.strategy),
                    );
                }
                if sep.is_empty() {
                    return bad("sep", "a non-empty separator", format!("'' for `{c}`"));
                }
            }
            if let Some(clock) = &rule.clock {
                if !rule.uses_clock() {
                    return bad(
                        "CLOCK",
                        "a per-cell clock only for lww, lww_nullable or longest",
                        format!("one for `{c}` ({})", rule.strategy),
                    );
                }
                if clock.is_empty() {
                    return bad("CLOCK", "a non-empty clock column", format!("'' for `{c}`"));
                }
                if let Some(what) = role(clock).filter(|w| *w != "the row clock") {
                    return bad(
                        "CLOCK",
                        "a per-cell clock column with no other role",
                        format!("`{clock}`, {what}"),
                    );
                }
            }
        }
        if let Some(f) = &self.filter {
            if f.trim().is_empty() {
                return bad("WHERE", "a predicate", "an empty one".into());
            }
            let chars: Vec<char> = f.chars().collect();
            let len = super::parse::scan_predicate(&chars, 0).map_err(|e| {
                Error::invalid(
                    FUNCTION,
                    "WHERE",
                    "a well-formed predicate",
                    e.kind.to_string(),
                )
            })?;
            if len != chars.len() {
                return bad(
                    "WHERE",
                    "a predicate without a top-level LIMIT or `;`",
                    format!("`{f}`"),
                );
            }
        }
        Ok(())
    }

    /// Writes the spec as MergeQL; [`parse`](super::parse) reads it back to an equal spec.
    /// Options come in a fixed order: `CLOCK` (when not `_ts`), `REPLICA`, `TOMBSTONE`,
    /// `PROVENANCE`, `STRATEGY`, `WHERE`, `LIMIT`.
    pub fn to_mergeql(&self) -> String {
        let mut out = String::from("MERGE ");
        out.push_str(
            &self
                .sources
                .iter()
                .map(Source::to_mergeql)
                .collect::<Vec<_>>()
                .join(", "),
        );
        out.push_str(" ON ");
        out.push_str(
            &self
                .key
                .iter()
                .map(|k| quote_ident(k))
                .collect::<Vec<_>>()
                .join(", "),
        );
        if self.clock != DEFAULT_CLOCK {
            out.push_str(" CLOCK ");
            out.push_str(&quote_ident(&self.clock));
        }
        if let Some(r) = &self.replica {
            out.push_str(" REPLICA ");
            out.push_str(&quote_ident(r));
        }
        if let Some(t) = &self.tombstone {
            out.push_str(" TOMBSTONE");
            if t != DEFAULT_TOMBSTONE {
                out.push(' ');
                out.push_str(&quote_ident(t));
            }
        }
        if self.provenance {
            out.push_str(" PROVENANCE");
        }
        if !self.rules.is_empty() {
            out.push_str(" STRATEGY ");
            let rules: Vec<String> = self
                .rules
                .iter()
                .map(|r| {
                    let mut s = format!(
                        "{}={}",
                        quote_ident(&r.column),
                        quote_literal(&r.strategy_text())
                    );
                    if let Some(c) = &r.clock {
                        s.push_str(" CLOCK ");
                        s.push_str(&quote_ident(c));
                    }
                    s
                })
                .collect();
            out.push_str(&rules.join(", "));
        }
        if let Some(f) = &self.filter {
            out.push_str(" WHERE ");
            out.push_str(f.trim());
        }
        if let Some(n) = self.limit {
            out.push_str(&format!(" LIMIT {n}"));
        }
        out
    }
}

impl std::fmt::Display for MergeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_mergeql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax_of(e: Error) -> (usize, String, String) {
        match e.kind {
            ErrorKind::Syntax {
                position,
                expected,
                found,
            } => (position, expected, found),
            other => panic!("not a syntax error: {other:?}"),
        }
    }

    #[test]
    fn strategy_values_parse() {
        let r = ColumnRule::parse("c", "lww").unwrap();
        assert_eq!(r, ColumnRule::new("c", StrategyKind::Lww));
        let r = ColumnRule::parse("c", " MaxWins ").unwrap();
        assert_eq!(r.strategy, StrategyKind::Max);
        let r = ColumnRule::parse("c", "priority(low, mid ,high)").unwrap();
        assert_eq!(r.levels, ["low", "mid", "high"]);
        let r = ColumnRule::parse("c", "priority(\"a,b\", \" c \", \"d\"\"e\")").unwrap();
        assert_eq!(r.levels, ["a,b", " c ", "d\"e"]);
        let r = ColumnRule::parse("c", "union(;)").unwrap();
        assert_eq!(r.sep.as_deref(), Some(";"));
        let r = ColumnRule::parse("c", "concat(\" | \")").unwrap();
        assert_eq!(r.sep.as_deref(), Some(" | "));
        let r = ColumnRule::parse("c", "union()").unwrap();
        assert_eq!(r.sep, None);
        let r = ColumnRule::parse("c", "union(,)").unwrap();
        assert_eq!(r.sep.as_deref(), Some(","));
        let r = ColumnRule::parse("c", "concat( | ) ").unwrap();
        assert_eq!(r.sep.as_deref(), Some(" | "));
        let r = ColumnRule::parse("c", "union(a, b)").unwrap();
        assert_eq!(r.sep.as_deref(), Some("a, b"));
        let r = ColumnRule::parse("c", "union())").unwrap();
        assert_eq!(r.sep.as_deref(), Some(")"));
        let r = ColumnRule::parse("c", "lww_nullable").unwrap();
        assert_eq!(r.strategy, StrategyKind::LwwNullable);
    }

    #[test]
    fn strategy_value_errors_have_positions() {
        let (p, e, _) = syntax_of(ColumnRule::parse("c", "max(1)").unwrap_err());
        assert_eq!(p, 3);
        assert!(e.contains("no arguments for 'max'"), "{e}");
        let (p, e, f) = syntax_of(ColumnRule::parse("c", "priority(a, b, a)").unwrap_err());
        assert_eq!(
            (p, e.as_str(), f.as_str()),
            (15, "distinct priority levels", "`a` a second time")
        );
        let (p, _, _) = syntax_of(ColumnRule::parse("c", "priority").unwrap_err());
        assert_eq!(p, 8);
        let (p, e, _) = syntax_of(ColumnRule::parse("c", "priority()").unwrap_err());
        assert_eq!(p, 8);
        assert!(e.contains("priority levels"));
        let (p, e, _) = syntax_of(ColumnRule::parse("c", "union(a").unwrap_err());
        assert_eq!((p, e.as_str()), (7, "`)` closing the separator"));
        let (p, e, _) = syntax_of(ColumnRule::parse("c", "union(\"a\" b)").unwrap_err());
        assert_eq!((p, e.as_str()), (10, "`)` after the quoted separator"));
        let (p, _, _) = syntax_of(ColumnRule::parse("c", "concat(\"a)").unwrap_err());
        assert_eq!(p, 9);
        let (p, _, f) = syntax_of(ColumnRule::parse("c", "priority(a b").unwrap_err());
        assert_eq!((p, f.as_str()), (12, "the end of the strategy"));
        let (p, _, _) = syntax_of(ColumnRule::parse("c", "priority(a,,b)").unwrap_err());
        assert_eq!(p, 11);
        let (p, _, _) = syntax_of(ColumnRule::parse("c", "").unwrap_err());
        assert_eq!(p, 0);
        let (p, _, f) = syntax_of(ColumnRule::parse("c", "lww x").unwrap_err());
        assert_eq!((p, f.as_str()), (4, "`x`"));
        let e = ColumnRule::parse("c", "newest").unwrap_err();
        assert_eq!(e.function, "mergeql");
        assert!(matches!(e.kind, ErrorKind::UnknownStrategy { .. }));
        assert!(e
            .to_string()
            .contains("valid strategies are: lww, lww_nullable, max"));
    }

    #[test]
    fn strategy_text_round_trips() {
        let rules = [
            ColumnRule::new("c", StrategyKind::GCounter),
            ColumnRule::priority("c", ["a", "b c", " d", "e,f", "g\"h", "", "i'j"]),
            ColumnRule::new("c", StrategyKind::Union).with_sep(" | "),
            ColumnRule::new("c", StrategyKind::Concat).with_sep(";"),
            ColumnRule::new("c", StrategyKind::Concat).with_sep(","),
            ColumnRule::new("c", StrategyKind::Union).with_sep(" \"x\" "),
            ColumnRule::new("c", StrategyKind::Union).with_sep("("),
            ColumnRule::new("c", StrategyKind::Union).with_sep(")"),
            ColumnRule::new("c", StrategyKind::Union).with_sep("  "),
        ];
        for r in rules {
            let text = r.strategy_text();
            assert_eq!(ColumnRule::parse("c", &text).unwrap(), r, "{text}");
        }
        assert_eq!(
            ColumnRule::priority("c", ["a", "b"]).strategy_text(),
            "priority(a, b)"
        );
    }

    #[test]
    fn from_strategy_map_accepts_python_schemas() {
        let spec = MergeSpec::from_strategy_map(
            [Source::table("a"), Source::table("b")],
            ["id"],
            [
                ("name", "lww"),
                ("score", "MaxWins"),
                ("tier", "priority(free,pro)"),
            ],
        )
        .unwrap();
        assert_eq!(spec.rules.len(), 3);
        assert_eq!(spec.rule("score").unwrap().strategy, StrategyKind::Max);
        assert_eq!(spec.rule("tier").unwrap().levels, ["free", "pro"]);
        assert_eq!(spec.clock, "_ts");
        let e = MergeSpec::from_strategy_map([Source::table("a")], ["id"], [("id", "max")]);
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("one for `id`, a key column"));
    }

    #[test]
    fn validate_rejects_incoherent_specs() {
        let base = || MergeSpec::new([Source::table("a")], ["id"]);
        assert!(base().validate().is_ok());
        let cases: Vec<(MergeSpec, &str)> = vec![
            (MergeSpec::new([], ["id"]), "at least one source"),
            (
                MergeSpec::new([Source::table("a")], Vec::<String>::new()),
                "at least one key",
            ),
            (
                MergeSpec::new([Source::table("a")], ["id", "id"]),
                "distinct key",
            ),
            (
                base()
                    .with_strategy("x", StrategyKind::Max)
                    .with_strategy("x", StrategyKind::Min),
                "one strategy per column",
            ),
            (
                base().with_strategy("_ts", StrategyKind::Max),
                "the row clock",
            ),
            (
                base()
                    .with_replica("r")
                    .with_strategy("r", StrategyKind::Max),
                "the replica column",
            ),
            (
                base()
                    .with_default_tombstone()
                    .with_strategy("_deleted", StrategyKind::Max),
                "the tombstone column",
            ),
            (base().with_clock("id"), "not a key column"),
            (base().with_replica("_ts"), "the row clock"),
            (base().with_tombstone("id"), "a key column"),
            (
                base().with_rule(ColumnRule::new("x", StrategyKind::Max).with_clock("x_ts")),
                "per-cell clock only",
            ),
            (
                base().with_rule(ColumnRule::new("x", StrategyKind::Lww).with_clock("id")),
                "a key column",
            ),
            (
                base()
                    .with_rule(ColumnRule::new("x", StrategyKind::Lww).with_clock("y"))
                    .with_strategy("y", StrategyKind::Max),
                "a per-cell clock column",
            ),
            (
                base().with_rule(ColumnRule::new("x", StrategyKind::Max).with_sep(",")),
                "separator only",
            ),
            (
                base().with_rule(ColumnRule::new("x", StrategyKind::Union).with_sep("")),
                "non-empty separator",
            ),
            (
                base().with_rule(ColumnRule::priority("x", Vec::<String>::new())),
                "at least one priority level",
            ),
            (
                base().with_rule(ColumnRule::priority("x", ["a", "a"])),
                "distinct priority levels",
            ),
            (base().with_filter("  "), "a predicate"),
            (
                base().with_filter("x = 1 LIMIT 2"),
                "without a top-level LIMIT",
            ),
            (
                base().with_filter("x = 1; DROP TABLE t"),
                "without a top-level LIMIT",
            ),
            (base().with_filter("(x = 1"), "unclosed `(`"),
            (base().with_filter("x = 1 -- y"), "without comments"),
            (
                MergeSpec::new([Source::file("")], ["id"]),
                "non-empty file path",
            ),
            (
                MergeSpec::new([Source::table("a")], [""]),
                "non-empty column name",
            ),
        ];
        for (spec, needle) in cases {
            let e = spec.validate().unwrap_err();
            assert!(e.to_string().contains(needle), "{e} (wanted {needle})");
        }
        // A per-cell clock may name the row clock explicitly.
        let ok = base().with_rule(ColumnRule::new("x", StrategyKind::Lww).with_clock("_ts"));
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn to_mergeql_writes_every_option() {
        let spec = MergeSpec::new(
            [
                Source::qualified(["public", "Users"]),
                Source::file("b's.parquet"),
            ],
            ["id", "region"],
        )
        .with_clock("ts")
        .with_replica("node")
        .with_default_tombstone()
        .with_provenance()
        .with_rule(ColumnRule::new("name", StrategyKind::Lww).with_clock("name_ts"))
        .with_rule(ColumnRule::priority("tier", ["free", "pro"]))
        .with_filter("score > 0")
        .with_limit(10);
        assert_eq!(
            spec.to_mergeql(),
            "MERGE public.\"Users\", 'b''s.parquet' ON id, region CLOCK ts REPLICA node \
             TOMBSTONE PROVENANCE STRATEGY name='lww' CLOCK name_ts, tier='priority(free, pro)' \
             WHERE score > 0 LIMIT 10"
        );
    }
}
