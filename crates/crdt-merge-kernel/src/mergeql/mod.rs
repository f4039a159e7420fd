//! MergeQL: a small language for table-level merges, and its rendering to plain SQL.
//!
//! ```text
//! MERGE s1, s2 [, ...] ON k1 [, k2 ...]
//!     [CLOCK col] [REPLICA col] [TOMBSTONE [col]] [PROVENANCE]
//!     [STRATEGY col='strategy' [CLOCK col_ts] [, ...]]
//!     [WHERE <predicate>]
//!     [LIMIT n]
//! ```
//!
//! * Keywords are case-insensitive. Sources are table names (optionally schema-qualified,
//!   optionally `"double-quoted"`) or `'single-quoted file paths'`. Unquoted names fold to ASCII
//!   lowercase, as SQL does; quoted names are kept exactly.
//! * The core grammar is `MERGE … ON … [STRATEGY …] [WHERE …] [LIMIT n]`. The extensions
//!   `CLOCK`, `REPLICA`, `TOMBSTONE` and `PROVENANCE` may appear in any order between `ON` and
//!   `WHERE`, each once; a row `CLOCK` must come before `STRATEGY`, because a `CLOCK` right after a
//!   rule is that column's per-cell clock.
//! * A strategy is quoted: `'lww'`, `'lww_nullable'`, `'max'`, `'min'`, `'union'`, `'concat'`,
//!   `'longest'`, `'priority(a,b,c)'` (levels low to high), `'gcounter'`, `'pncounter'`. Union
//!   and concat take an optional text separator, exactly the text between the parentheses:
//!   `'union(,)'`, `'concat( | )'` (see [`ColumnRule::parse`]). The Python library's spellings
//!   (`'MaxWins'`, ...) are accepted.
//! * `WHERE` takes raw SQL up to a top-level `LIMIT`, `;` or the end (quotes and parentheses are
//!   respected); it filters every input row before the merge. `LIMIT` applies after ordering by
//!   key.
//!
//! [`parse`] turns text into a [`MergeSpec`]; [`MergeSpec::to_mergeql`] turns it back;
//! [`render_sql`] writes the merge as one `GROUP BY` query for a [`Dialect`]. The rendered
//! expressions, per column role:
//!
//! | column | expression |
//! |---|---|
//! | key | grouped |
//! | row clock `_ts`, per-cell clock `c_ts` | `max(_ts)`, `max(c_ts)` (DataFusion: `crdt_max(_ts)`, NaN greatest) |
//! | no rule, `'lww'` | `crdt_lww(c, _ts [, replica])` (per-cell: `crdt_lww(c, c_ts [, replica])`) |
//! | `'lww_nullable'`, `'longest'` | `crdt_lww_nullable(c, ts [, replica])`, `crdt_longest(c, ts [, replica])` |
//! | `'max'`, `'min'` | `crdt_max(c)`, `crdt_min(c)` |
//! | `'priority(a,b)'` | `crdt_priority(c, ARRAY['a', 'b'])` |
//! | `'union'`, `'union(,)'` | `crdt_union(c)` (lists), `crdt_union(c, ',')` (text) |
//! | `'concat'`, `'concat(;)'` | `crdt_concat(c)`, `crdt_concat(c, ';')` |
//! | `'gcounter'`, `'pncounter'` | `crdt_state_merge_agg(c)` (the column holds state bytes) |
//! | replica | `crdt_lww(replica, _ts, replica)` |
//! | tombstone | `crdt_lww_nullable(coalesce(_deleted, false), _ts)` (no replica: a delete wins ties) |
//!
//! With `PROVENANCE`, lww and lww_nullable columns get a `<col>__source` column (the winning
//! replica id, or the input's name) and each row a `__conflicts` count; see `docs/mergeql.md`,
//! which also has the grammar in full, examples and the rendered SQL per dialect.

mod dynamic;
mod ident;
mod parse;
mod render;
mod spec;
mod types;

pub use dynamic::{render_duckdb_dynamic, render_duckdb_with_columns};
pub use parse::parse;
pub use render::{render_sql, Dialect, CONFLICTS_COLUMN, PROVENANCE_SUFFIX, SOURCE_COLUMN};
pub use spec::{
    CellClock, ColumnRule, MergeSpec, Source, CELL_CLOCK_SUFFIX, CELL_REPLICA_SUFFIX,
    DEFAULT_CLOCK, DEFAULT_TOMBSTONE,
};
pub use types::check_source_types;
