//! Golden rendered SQL for MergeQL specs in every dialect, and the renderer's errors.

use crdt_merge_kernel::mergeql::{parse, render_sql, ColumnRule, Dialect, MergeSpec, Source};
use crdt_merge_kernel::strategy::StrategyKind;
use crdt_merge_kernel::ErrorKind;

fn cols(c: &[&[&str]]) -> Vec<Vec<String>> {
    c.iter()
        .map(|x| x.iter().map(|s| s.to_string()).collect())
        .collect()
}

fn render(query: &str, columns: &[&[&str]], dialect: Dialect) -> String {
    render_sql(&parse(query).unwrap(), dialect, &cols(columns)).unwrap()
}

/// `sql` as DataFusion renders it: its clocks merge with `crdt_max` (NaN greatest), not `max`.
fn datafusion_clocks(sql: &str) -> String {
    sql.replace("\n  max(", "\n  crdt_max(")
}

fn render_err(spec: &MergeSpec, columns: &[&[&str]], dialect: Dialect) -> String {
    let e = render_sql(spec, dialect, &cols(columns)).unwrap_err();
    assert_eq!(e.function, "render_sql");
    assert!(matches!(e.kind, ErrorKind::InvalidArgument { .. }), "{e}");
    e.to_string()
}

const BASIC: &str = "MERGE a, b ON id STRATEGY score='max', tags='union(,)', \
                     tier='priority(free, pro, enterprise)' WHERE region = 'EU' LIMIT 100";
const BASIC_COLS: &[&[&str]] = &[
    &["id", "name", "score", "tier", "region", "_ts"],
    &["id", "name", "score", "tags", "region", "_ts"],
];

#[test]
fn basic_duckdb_and_datafusion() {
    let expected = "\
SELECT
  id,
  crdt_lww(name, _ts) AS name,
  crdt_max(score) AS score,
  crdt_priority(tier, ARRAY['free', 'pro', 'enterprise']) AS tier,
  crdt_lww(region, _ts) AS region,
  max(_ts) AS _ts,
  crdt_union(tags, ',') AS tags
FROM (
  SELECT id, name, score, tier, region, _ts, NULL AS tags FROM a
  UNION ALL
  SELECT id, name, score, NULL AS tier, region, _ts, tags FROM b
) AS u
WHERE (region = 'EU')
GROUP BY id
ORDER BY id
LIMIT 100";
    assert_eq!(render(BASIC, BASIC_COLS, Dialect::DuckDb), expected);
    assert_eq!(
        render(BASIC, BASIC_COLS, Dialect::DataFusion),
        datafusion_clocks(expected)
    );
}

#[test]
fn basic_postgres_types_the_first_inputs_placeholders() {
    let expected = "\
SELECT
  id,
  crdt_lww(name, _ts) AS name,
  crdt_max(score) AS score,
  crdt_priority(tier, ARRAY['free', 'pro', 'enterprise']) AS tier,
  crdt_lww(region, _ts) AS region,
  max(_ts) AS _ts,
  crdt_union(tags, ',') AS tags
FROM (
  SELECT id, name, score, tier, region, _ts, (SELECT tags FROM b LIMIT 0) AS tags FROM a
  UNION ALL
  SELECT id, name, score, NULL AS tier, region, _ts, tags FROM b
) AS u
WHERE (region = 'EU')
GROUP BY id
ORDER BY id
LIMIT 100";
    assert_eq!(render(BASIC, BASIC_COLS, Dialect::Postgres), expected);
}

const FULL: &str = "MERGE public.users, \"Users 2\", c ON id REPLICA node TOMBSTONE PROVENANCE \
                    STRATEGY name='lww' CLOCK name_ts, bio='longest', visits='gcounter', \
                    note='lww_nullable'";
const FULL_COLS: &[&[&str]] = &[
    &[
        "id", "name", "name_ts", "bio", "note", "node", "_ts", "_deleted",
    ],
    &["id", "name", "name_ts", "bio", "visits", "node", "_ts"],
    &["id", "note", "node", "_ts"],
];

#[test]
fn replica_tombstone_cell_clock_counter_and_provenance() {
    let select = "\
SELECT
  id,
  crdt_lww(name, name_ts, node) AS name,
  crdt_lww(CASE WHEN name IS NOT NULL THEN name_ts END, name_ts, node) AS name_ts,
  crdt_longest(bio, _ts, node) AS bio,
  crdt_lww_nullable(note, _ts, node) AS note,
  crdt_lww(node, _ts, node) AS node,
  max(_ts) AS _ts,
  crdt_lww_nullable(coalesce(_deleted, false), _ts) AS _deleted,
  crdt_state_merge_agg(visits) AS visits,
  crdt_lww(CASE WHEN name IS NOT NULL THEN node END, name_ts, node) AS name__source,
  crdt_lww(node, _ts, node) AS note__source,
  (CASE WHEN count(DISTINCT name) > 1 THEN 1 ELSE 0 END + \
(CASE WHEN count(DISTINCT bio) > 1 THEN 1 ELSE 0 END + \
CASE WHEN count(DISTINCT note) > 1 THEN 1 ELSE 0 END)) AS __conflicts
FROM (
";
    let rest = "
  UNION ALL
  SELECT id, name, name_ts, bio, NULL AS note, node, _ts, NULL AS _deleted, visits FROM \"Users 2\"
  UNION ALL
  SELECT id, NULL AS name, NULL AS name_ts, NULL AS bio, note, node, _ts, NULL AS _deleted, NULL AS visits FROM c
) AS u
GROUP BY id
ORDER BY id";
    let first = "  SELECT id, name, name_ts, bio, note, node, _ts, _deleted, NULL AS visits FROM public.users";
    let first_pg = "  SELECT id, name, name_ts, bio, note, node, _ts, _deleted, \
                    (SELECT visits FROM \"Users 2\" LIMIT 0) AS visits FROM public.users";
    assert_eq!(
        render(FULL, FULL_COLS, Dialect::DuckDb),
        format!("{select}{first}{rest}")
    );
    assert_eq!(
        render(FULL, FULL_COLS, Dialect::DataFusion),
        datafusion_clocks(&format!("{select}{first}{rest}"))
    );
    assert_eq!(
        render(FULL, FULL_COLS, Dialect::Postgres),
        format!("{select}{first_pg}{rest}")
    );
}

#[test]
fn files_with_provenance_by_source_name() {
    let q = "MERGE 'a.parquet', 'dir/it''s.csv' ON id PROVENANCE";
    let c: &[&[&str]] = &[&["id", "v", "_ts"], &["id", "v", "_ts"]];
    let expected = "\
SELECT
  id,
  crdt_lww(v, _ts) AS v,
  max(_ts) AS _ts,
  crdt_lww(CASE WHEN v IS NOT NULL THEN __source END, _ts, v) AS v__source,
  CASE WHEN count(DISTINCT v) > 1 THEN 1 ELSE 0 END AS __conflicts
FROM (
  SELECT id, v, _ts, 'a.parquet' AS __source FROM 'a.parquet'
  UNION ALL
  SELECT id, v, _ts, 'dir/it''s.csv' AS __source FROM 'dir/it''s.csv'
) AS u
GROUP BY id
ORDER BY id";
    assert_eq!(render(q, c, Dialect::DuckDb), expected);
    assert_eq!(
        render(q, c, Dialect::DataFusion),
        datafusion_clocks(expected)
    );
    let e = render_err(&parse(q).unwrap(), c, Dialect::Postgres);
    assert!(e.contains("Postgres cannot read a file"), "{e}");
}

#[test]
fn quoting_of_names_levels_and_separators() {
    let q = "MERGE \"My Schema\".\"Order\", b ON \"Key\", \"select\" CLOCK \"T s\" \
             STRATEGY \"Score\"='priority(\"it''s\", b)', tags='concat( | )', \"x\"\"y\"='min' \
             WHERE \"Score\" <> 'a''b'";
    let c: &[&[&str]] = &[
        &["Key", "select", "Score", "tags", "x\"y", "T s"],
        &["Key", "select", "T s"],
    ];
    let expected = "\
SELECT
  \"Key\",
  \"select\",
  crdt_priority(\"Score\", ARRAY['it''s', 'b']) AS \"Score\",
  crdt_concat(tags, ' | ') AS tags,
  crdt_min(\"x\"\"y\") AS \"x\"\"y\",
  max(\"T s\") AS \"T s\"
FROM (
  SELECT \"Key\", \"select\", \"Score\", tags, \"x\"\"y\", \"T s\" FROM \"My Schema\".\"Order\"
  UNION ALL
  SELECT \"Key\", \"select\", NULL AS \"Score\", NULL AS tags, NULL AS \"x\"\"y\", \"T s\" FROM b
) AS u
WHERE (\"Score\" <> 'a''b')
GROUP BY \"Key\", \"select\"
ORDER BY \"Key\", \"select\"";
    assert_eq!(render(q, c, Dialect::DuckDb), expected);
    assert_eq!(
        render(q, c, Dialect::DataFusion),
        datafusion_clocks(expected)
    );
}

#[test]
fn single_source_and_clockless_strategies_need_no_row_clock() {
    let q = "MERGE a ON id STRATEGY hi='max', lo='min', n='pncounter'";
    let c: &[&[&str]] = &[&["id", "hi", "lo", "n"]];
    let expected = "\
SELECT
  id,
  crdt_max(hi) AS hi,
  crdt_min(lo) AS lo,
  crdt_state_merge_agg(n) AS n
FROM (
  SELECT id, hi, lo, n FROM a
) AS u
GROUP BY id
ORDER BY id";
    for d in Dialect::ALL {
        assert_eq!(render(q, c, d), expected, "{}", d.name());
    }
}

#[test]
fn provenance_without_selecting_columns_counts_zero_conflicts() {
    let q = "MERGE a, b ON id PROVENANCE STRATEGY t='union'";
    let c: &[&[&str]] = &[&["id", "t"], &["id", "t"]];
    let sql = render(q, c, Dialect::DuckDb);
    assert!(
        sql.contains("  crdt_union(t) AS t,\n  0 AS __conflicts\n"),
        "{sql}"
    );
    assert!(!sql.contains("__source"), "{sql}");
}

#[test]
fn lww_nullable_provenance_without_replica_uses_source_names() {
    let q = "MERGE a, b ON id PROVENANCE STRATEGY v='lww_nullable' CLOCK v_ts";
    let c: &[&[&str]] = &[&["id", "v", "v_ts"], &["id", "v", "v_ts"]];
    let sql = render(q, c, Dialect::Postgres);
    assert!(sql.contains("crdt_lww_nullable(v, v_ts) AS v,"), "{sql}");
    assert!(
        sql.contains("crdt_lww(__source, v_ts, v) AS v__source,"),
        "{sql}"
    );
    assert!(
        sql.contains("SELECT id, v, v_ts, 'a' AS __source FROM a"),
        "{sql}"
    );
}

#[test]
fn names_resolve_case_insensitively_when_unambiguous() {
    let spec = parse("MERGE a, b ON id STRATEGY score='max'").unwrap();
    let c: &[&[&str]] = &[&["Id", "Score", "_TS"], &["Id", "Score", "_TS"]];
    let sql = render_sql(&spec, Dialect::Postgres, &cols(c)).unwrap();
    assert!(
        sql.starts_with(
            "SELECT\n  \"Id\",\n  crdt_max(\"Score\") AS \"Score\",\n  max(\"_TS\") AS \"_TS\"\n"
        ),
        "{sql}"
    );
    let c: &[&[&str]] = &[&["id", "Score", "SCORE", "_ts"]];
    let spec = parse("MERGE a ON id STRATEGY SCORE='max'").unwrap();
    let e = render_err(&spec, c, Dialect::DuckDb);
    assert!(e.contains("Score, SCORE differing only in case"), "{e}");
}

#[test]
fn renderer_errors() {
    let base = || MergeSpec::new([Source::table("a"), Source::table("b")], ["id"]);
    let ab: &[&[&str]] = &[&["id", "v", "_ts"], &["id", "v", "_ts"]];
    let cases: Vec<(MergeSpec, &[&[&str]], &str)> = vec![
        (
            base(),
            &[&["id", "v", "_ts"]],
            "one column list per source (2)",
        ),
        (
            base(),
            &[&["id", "v", "_ts"], &[]],
            "at least one column per source",
        ),
        (base(), &[&["id", "v", "v"], &["id"]], "`v` twice in a"),
        (
            base(),
            &[&["id", "v", "_ts"], &["v", "_ts"]],
            "`id` missing from b",
        ),
        (
            base().with_strategy("w", StrategyKind::Max),
            ab,
            "`w`, which is in no source",
        ),
        (base().with_replica("r"), ab, "`r`, which is in no source"),
        (
            base().with_default_tombstone(),
            ab,
            "`_deleted`, which is in no source",
        ),
        (base().with_clock("hlc"), ab, "`hlc`, which is in no source"),
        (
            base(),
            &[&["id", "v"], &["id", "v"]],
            "the row clock column in at least one source",
        ),
        (
            base().with_rule(ColumnRule::new("v", StrategyKind::Lww).with_clock("v_ts")),
            ab,
            "`v_ts`, which is in no source",
        ),
        (
            base()
                .with_strategy("V", StrategyKind::Max)
                .with_strategy("v", StrategyKind::Min),
            ab,
            "`v` given two roles",
        ),
        (
            base().with_provenance(),
            &[&["id", "v", "_ts", "v__source"], &["id", "v", "_ts"]],
            "`v__source`, a column of a source",
        ),
        (
            base().with_provenance(),
            &[&["id", "v", "_ts", "__conflicts"], &["id", "v", "_ts"]],
            "`__conflicts`, a column of a source",
        ),
        (
            base().with_strategy("id", StrategyKind::Max),
            ab,
            "a strategy only for data columns",
        ),
    ];
    for (spec, c, needle) in cases {
        let e = render_err(&spec, c, Dialect::DuckDb);
        assert!(e.contains(needle), "{e} (wanted {needle})");
    }
}

#[test]
fn every_dialect_renders_every_strategy() {
    let mut spec = MergeSpec::new([Source::table("a"), Source::table("b")], ["id"]);
    let mut c = vec!["id".to_string(), "_ts".to_string()];
    for (n, kind) in StrategyKind::ALL.into_iter().enumerate() {
        let col = format!("c{n}");
        c.push(col.clone());
        spec = spec.with_rule(match kind {
            StrategyKind::Priority => ColumnRule::priority(col, ["x", "y"]),
            _ => ColumnRule::new(col, kind),
        });
    }
    for d in Dialect::ALL {
        let sql = render_sql(&spec, d, &[c.clone(), c.clone()]).unwrap();
        for kind in StrategyKind::ALL {
            let f = match kind {
                StrategyKind::GCounter | StrategyKind::PNCounter => "crdt_state_merge_agg",
                _ => kind.aggregate_name(),
            };
            assert!(
                sql.contains(&format!("{f}(")),
                "{} lacks {f}: {sql}",
                d.name()
            );
        }
    }
}

/// The rendered examples in docs/mergeql.md are the renderer's output (each block follows a
/// `<!-- golden: NAME DIALECT... -->` marker).
#[test]
fn docs_examples_match_the_renderer() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/mergeql.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let files_cols: &[&[&str]] = &[&["id", "v", "_ts"], &["id", "v", "_ts"]];
    let mut checked = 0;
    for (i, _) in doc.match_indices("<!-- golden: ") {
        let marker_end = doc[i..].find("-->").unwrap() + i;
        let words: Vec<&str> = doc[i + 13..marker_end].split_whitespace().collect();
        let block_start = doc[marker_end..].find("```sql\n").unwrap() + marker_end + 7;
        let block_end = doc[block_start..].find("\n```").unwrap() + block_start;
        let block = &doc[block_start..block_end];
        let (query, columns) = match words[0] {
            "basic" => (BASIC, BASIC_COLS),
            "files" => (
                "MERGE 'a.parquet', 'dir/it''s.csv' ON id PROVENANCE",
                files_cols,
            ),
            other => panic!("unknown golden example {other}"),
        };
        for d in &words[1..] {
            let dialect = Dialect::ALL.into_iter().find(|x| x.name() == *d).unwrap();
            let block = match dialect {
                Dialect::DataFusion => datafusion_clocks(block),
                _ => block.to_string(),
            };
            assert_eq!(
                render(query, columns, dialect),
                block,
                "docs example {words:?}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 5);
}

/// Finding 6 (issue 14): DataFusion merges the clocks with the kernel's `crdt_max`, whose NaN
/// order is the cells' (its own `max` combines NaN differently per partition); the other
/// engines' `max` already puts NaN greatest.
#[test]
fn finding_6_datafusion_clocks_merge_with_crdt_max() {
    // An lww_nullable clock merges by max (an lww one leaves as its winning cell's clock).
    let q = "MERGE a, b ON id STRATEGY v='lww_nullable' CLOCK v_ts";
    let c: &[&[&str]] = &[
        &["id", "v", "v_ts", "w", "_ts"],
        &["id", "v", "v_ts", "_ts"],
    ];
    let sql = render(q, c, Dialect::DataFusion);
    assert!(sql.contains("crdt_max(v_ts) AS v_ts"), "{sql}");
    assert!(sql.contains("crdt_max(_ts) AS _ts"), "{sql}");
    assert!(!sql.contains(" max("), "{sql}");
    for d in [Dialect::DuckDb, Dialect::Postgres] {
        let sql = render(q, c, d);
        assert!(sql.contains("  max(_ts) AS _ts"), "{sql}");
    }
}

/// Finding 7 (issue 14): the provenance conflict count is a balanced sum, so its nesting depth
/// grows with the logarithm of the column count (a left-deep chain of `+` overflowed
/// DataFusion's stack at a few hundred columns).
#[test]
fn finding_7_conflict_count_nests_logarithmically() {
    let mut c: Vec<String> = vec!["id".into(), "_ts".into()];
    c.extend((0..600).map(|i| format!("c{i}")));
    let spec =
        MergeSpec::new(vec![Source::table("a"), Source::table("b")], vec!["id"]).with_provenance();
    for d in Dialect::ALL {
        let sql = render_sql(&spec, d, &[c.clone(), c.clone()]).unwrap();
        let line = sql.lines().find(|l| l.ends_with("AS __conflicts")).unwrap();
        assert_eq!(line.matches("count(DISTINCT").count(), 600, "{}", d.name());
        let (mut depth, mut deepest) = (0i32, 0i32);
        for ch in line.chars() {
            match ch {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            deepest = deepest.max(depth);
        }
        // log2(600) < 10 levels of sums, plus count(DISTINCT ...)'s own parentheses.
        assert!(deepest <= 12, "{}: nesting {deepest}", d.name());
    }
}
