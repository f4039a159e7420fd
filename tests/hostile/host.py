"""Hand-listed hostile calls of each host's own functions (not in the catalogue): the table merges
`crdt_merge`, `crdt_merge_sql`, `crdt_mergeql`, `crdt_mergeql_sql` (DuckDB, Postgres),
`crdt_merge_into` (Postgres) and `crdt_mergeql` (DataFusion). Same oracles as matrix.py.
"""
from __future__ import annotations

_DUCK_TABLES = [
    "CREATE TABLE ha(id INTEGER, x INTEGER, name VARCHAR, _ts BIGINT)",
    "INSERT INTO ha VALUES (1, 1, 'a', 1), (2, 2, 'b', 1)",
    "CREATE TABLE hb(id INTEGER, x INTEGER, name VARCHAR, _ts BIGINT)",
    "INSERT INTO hb VALUES (1, 5, 'c', 2), (3, 3, 'd', 1)",
    # user columns whose names look like the merge's internal ones (finding 4)
    'CREATE TABLE hc(id INTEGER, "__source" VARCHAR, _ts BIGINT)',
    "INSERT INTO hc VALUES (1, 'x', 1)",
    'CREATE TABLE hd(id INTEGER, "__source" VARCHAR, _ts BIGINT)',
    "INSERT INTO hd VALUES (1, 'x', 1)",
    "CREATE TABLE he(id INTEGER, is_crdt_conflict INTEGER, _ts BIGINT)",
    "INSERT INTO he VALUES (1, 7, 1)",
    "CREATE TABLE hf(id INTEGER, is_crdt_conflict INTEGER, _ts BIGINT)",
    "INSERT INTO hf VALUES (1, 7, 1)",
    'CREATE TABLE hg(id INTEGER, "__crdt_pad" INTEGER, _ts BIGINT)',
    "INSERT INTO hg VALUES (1, 9, 1)",
    'CREATE TABLE hh(id INTEGER, "__crdt_pad" INTEGER, _ts BIGINT)',
    "INSERT INTO hh VALUES (1, 9, 1)",
    "CREATE TABLE hn(id INTEGER, x INTEGER, _ts BIGINT)",
    "INSERT INTO hn VALUES (NULL, 1, 1)",
    'CREATE TABLE hi(id INTEGER, "na\nme" VARCHAR, _ts BIGINT)',
    "INSERT INTO hi VALUES (1, 'x', 1)",
    'CREATE TABLE hj(id INTEGER, "na\nme" VARCHAR, _ts BIGINT)',
    "INSERT INTO hj VALUES (1, 'x', 1)",
]

_PG_TABLES = [
    "DROP TABLE IF EXISTS ha, hb, hc, hd, hn, hk, hs CASCADE",
    "CREATE TABLE ha(id int, x int, name text, _ts bigint)",
    "INSERT INTO ha VALUES (1, 1, 'a', 1), (2, 2, 'b', 1)",
    "CREATE TABLE hb(id int, x int, name text, _ts bigint)",
    "INSERT INTO hb VALUES (1, 5, 'c', 2), (3, 3, 'd', 1)",
    'CREATE TABLE hc(id int, "__source" text, is_crdt_conflict int, _ts bigint)',
    "INSERT INTO hc VALUES (1, 'x', 7, 1)",
    'CREATE TABLE hd(id int, "__source" text, is_crdt_conflict int, _ts bigint)',
    "INSERT INTO hd VALUES (1, 'x', 7, 1)",
    "CREATE TABLE hn(id int, x int, _ts bigint)",
    "INSERT INTO hn VALUES (NULL, 1, 1)",
    # a keyed merge-into target (finding 2)
    "CREATE TABLE hk(id int PRIMARY KEY, x int, name text, _ts bigint)",
    "INSERT INTO hk VALUES (1, 1, 'a', 1)",
    "CREATE TABLE hs(id int, x int, name text, _ts bigint)",
    "INSERT INTO hs VALUES (1, 2, 'b', 2), (3, 3, 'c', 1)",
]


def _c(cid, fn, sql, oracle="any", why=""):
    return {"id": f"host:{cid}", "fn": fn, "sql": sql, "oracle": oracle, "why": why}


def duckdb_cases() -> tuple[list[str], list[dict]]:
    m = "crdt_merge"
    big = "18446744073709551615::UBIGINT"
    cases = [
        _c("merge/valid", m, "SELECT count(*) AS r FROM crdt_merge(['ha', 'hb'], 'id')", "answer"),
        _c("merge/sources=null", m, "SELECT * FROM crdt_merge(NULL, 'id')"),
        _c("merge/sources=[ha,NULL]", m, "SELECT * FROM crdt_merge(['ha', NULL], 'id')", "refuse",
           "a NULL source (finding 5)"),
        _c("merge/one_source", m, "SELECT * FROM crdt_merge(['ha'], 'id')", "refuse",
           "one source; the docs say two or more (finding 5)"),
        _c("merge/sources=[]", m, "SELECT * FROM crdt_merge([]::VARCHAR[], 'id')", "refuse", "no sources"),
        _c("merge/key=null", m, "SELECT * FROM crdt_merge(['ha', 'hb'], NULL)", "refuse", "NULL key"),
        _c("merge/key=empty", m, "SELECT * FROM crdt_merge(['ha', 'hb'], '')", "refuse", "empty key"),
        _c("merge/key=unknown", m, "SELECT * FROM crdt_merge(['ha', 'hb'], 'nope')", "refuse", "unknown key"),
        _c("merge/source=unknown", m, "SELECT * FROM crdt_merge(['ha', 'nope'], 'id')", "refuse", "unknown table"),
        _c("merge/null_key_rows", m, "SELECT * FROM crdt_merge(['hn', 'hn'], 'id')", "refuse", "NULL key values"),
        _c("merge/where_sql=5", m, "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', where_sql := 5)", "refuse",
           "where_sql of type INTEGER (finding 5)"),
        _c("merge/replica=5", m, "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', replica := 5)", "refuse",
           "replica of type INTEGER (finding 5)"),
        _c("merge/tombstone=5", m, "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', tombstone := 5)", "refuse",
           "tombstone of type INTEGER (finding 5)"),
        _c("merge/provenance='yes'", m, "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', provenance := 'yes')",
           "refuse", "provenance of type VARCHAR (finding 5)"),
        _c("merge/strategies=unknown_column", m,
           "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', strategies := {'nope': 'max'})", "refuse",
           "a strategy for an unknown column (finding 10)"),
        _c("merge/clock=unknown", m, "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', clock := 'nope')", "refuse",
           "an unknown clock column (finding 10)"),
        _c("merge/replica=unknown", m, "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', replica := 'nope')",
           "refuse", "an unknown replica column (finding 10)"),
        _c("merge/tombstone=unknown", m, "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', tombstone := 'nope')",
           "refuse", "an unknown tombstone column (finding 10)"),
        _c("merge/tombstone=text_column", m, "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', tombstone := 'name')",
           "refuse", "a non-boolean tombstone column (finding 10)"),
        _c("merge/row_limit=u64_max", m,
           f"SELECT (SELECT count(*) FROM crdt_merge(['ha', 'hb'], 'id', row_limit := {big})) AS r, "
           "(SELECT count(*) FROM crdt_merge(['ha', 'hb'], 'id')) AS e", "answer-equal"),
        _c("merge/row_limit=-1", m, "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', row_limit := -1)"),
        _c("merge/row_limit=null", m, "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', row_limit := NULL)"),
        _c("merge/where_sql=injection", m,
           "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', where_sql := '1=1) UNION ALL SELECT 1; --')"),
        _c("merge/where_sql=deep", m,
           "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', where_sql := repeat('(', 20000) || 'x > 0' || repeat(')', 20000))"),
        _c("merge/where_sql=1MB", m,
           "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', where_sql := repeat('x > 0 AND ', 100000) || 'true')"),
        _c("merge/strategies=null_value", m,
           "SELECT * FROM crdt_merge(['ha', 'hb'], 'id', strategies := {'x': NULL::VARCHAR})"),
        _c("merge/__source_column", m,
           "SELECT (SELECT max(\"__source\") FROM crdt_merge(['hc', 'hd'], 'id')) AS r, 'x' AS e", "answer-equal"),
        _c("merge/is_crdt_conflict_column", m,
           "SELECT (SELECT max(is_crdt_conflict) FROM crdt_merge(['he', 'hf'], 'id')) AS r, 7 AS e", "answer-equal"),
        _c("merge/__crdt_pad_column", m,
           "SELECT (SELECT max(\"__crdt_pad\") FROM crdt_merge(['hg', 'hh'], 'id')) AS r, 9 AS e", "answer-equal"),
        _c("merge/newline_column", m,
           "SELECT (SELECT max(\"na\nme\") FROM crdt_merge(['hi', 'hj'], 'id')) AS r, 'x' AS e", "answer-equal"),
        _c("merge/many_sources", m,
           "SELECT count(*) AS r FROM crdt_merge([" + ", ".join(["'ha'"] * 500) + "], 'id')"),
        _c("merge_sql/null", "crdt_merge_sql",
           "SELECT crdt_merge_sql(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) AS r"),
        _c("merge_sql/valid", "crdt_merge_sql",
           "SELECT crdt_merge_sql(['ha', 'hb'], 'id', NULL, '_ts', NULL, NULL, false, NULL, NULL, NULL) AS r", "answer"),
        _c("merge_sql/types", "crdt_merge_sql",
           "SELECT crdt_merge_sql(1, 2, 3, 4, 5, 6, 7, 8, 9, 10) AS r", "refuse", "every argument of a wrong type"),
        _c("merge_sql/huge_key", "crdt_merge_sql",
           "SELECT crdt_merge_sql(['ha', 'hb'], repeat('k', 1048576), NULL, '_ts', NULL, NULL, false, NULL, NULL, NULL) AS r"),
        _c("mergeql/null", "crdt_mergeql", "SELECT * FROM crdt_mergeql(NULL)"),
        _c("mergeql/empty", "crdt_mergeql", "SELECT * FROM crdt_mergeql('')", "refuse", "empty MergeQL"),
        _c("mergeql/1MB", "crdt_mergeql", "SELECT * FROM crdt_mergeql(repeat('x', 1048576))", "refuse", "not MergeQL"),
        _c("mergeql/limit_2_63", "crdt_mergeql",
           "SELECT * FROM crdt_mergeql('MERGE ha, hb ON id LIMIT 9223372036854775808')", "any"),
        _c("mergeql/2000_sources", "crdt_mergeql_sql",
           "SELECT crdt_mergeql_sql('MERGE ' || repeat('ha, ', 2000) || 'hb ON id') AS r"),
        _c("mergeql/deep_where", "crdt_mergeql_sql",
           "SELECT crdt_mergeql_sql('MERGE ha, hb ON id WHERE ' || repeat('(', 20000) || 'x > 0' || repeat(')', 20000)) AS r"),
        _c("mergeql_sql/null", "crdt_mergeql_sql", "SELECT crdt_mergeql_sql(NULL) AS r"),
        _c("mergeql_sql/unicode", "crdt_mergeql_sql", "SELECT crdt_mergeql_sql('MERGE \"é中😀\", hb ON id') AS r"),
    ]
    return _DUCK_TABLES, cases


def postgres_cases() -> tuple[list[str], list[dict]]:
    m = "crdt_merge"
    src = "ARRAY['ha', 'hb']::regclass[]"
    cases = [
        _c("merge/valid", m, f"SELECT count(*) AS r FROM crdt_merge(NULL::ha, {src}, ARRAY['id'])", "answer"),
        _c("merge/sources=null", m, "SELECT * FROM crdt_merge(NULL::ha, NULL, ARRAY['id'])"),
        _c("merge/sources=[ha,NULL]", m, "SELECT * FROM crdt_merge(NULL::ha, ARRAY['ha', NULL]::regclass[], ARRAY['id'])",
           "refuse", "a NULL source"),
        # Postgres takes one source: it folds that table's repeated keys (docs/postgres.md); the
        # dbt package relies on it.
        _c("merge/one_source", m, "SELECT * FROM crdt_merge(NULL::ha, ARRAY['ha']::regclass[], ARRAY['id'])",
           "answer", "one source folds its repeated keys"),
        _c("merge/key=null", m, f"SELECT * FROM crdt_merge(NULL::ha, {src}, NULL)", "refuse", "NULL key"),
        _c("merge/key={id,NULL}", m, f"SELECT * FROM crdt_merge(NULL::ha, {src}, ARRAY['id', NULL])", "refuse",
           "a NULL key element"),
        _c("merge/key=unknown", m, f"SELECT * FROM crdt_merge(NULL::ha, {src}, ARRAY['nope'])", "refuse", "unknown key"),
        _c("merge/null_key_rows", m, "SELECT * FROM crdt_merge(NULL::hn, ARRAY['hn', 'hn']::regclass[], ARRAY['id'])",
           "refuse", "NULL key values"),
        _c("merge/strategies=unknown_column", m,
           f"SELECT * FROM crdt_merge(NULL::ha, {src}, ARRAY['id'], strategies => '{{\"nope\": \"max\"}}')", "refuse",
           "a strategy for an unknown column"),
        _c("merge/strategies=not_object", m,
           f"SELECT * FROM crdt_merge(NULL::ha, {src}, ARRAY['id'], strategies => '[1, 2]')", "refuse",
           "strategies not an object"),
        _c("merge/clock=unknown", m, f"SELECT * FROM crdt_merge(NULL::ha, {src}, ARRAY['id'], clock => 'nope')",
           "refuse", "an unknown clock column"),
        _c("merge/tombstone=text_column", m,
           f"SELECT * FROM crdt_merge(NULL::ha, {src}, ARRAY['id'], tombstone => 'name')", "refuse",
           "a non-boolean tombstone column (finding 10)"),
        _c("merge/row_limit=-1", m, f"SELECT * FROM crdt_merge(NULL::ha, {src}, ARRAY['id'], row_limit => -1)"),
        _c("merge/where_sql=injection", m,
           f"SELECT * FROM crdt_merge(NULL::ha, {src}, ARRAY['id'], where_sql => '1=1) UNION ALL SELECT 1; --')"),
        _c("merge/where_sql=deep", m,
           f"SELECT * FROM crdt_merge(NULL::ha, {src}, ARRAY['id'], where_sql => repeat('(', 20000) || 'x > 0' || repeat(')', 20000))"),
        _c("merge/__source_column", m,
           "SELECT (SELECT max(\"__source\") FROM crdt_merge(NULL::hc, ARRAY['hc', 'hd']::regclass[], ARRAY['id'])) AS r, 'x'::text AS e",
           "answer-equal"),
        _c("merge/is_crdt_conflict_column", m,
           "SELECT (SELECT max(is_crdt_conflict) FROM crdt_merge(NULL::hc, ARRAY['hc', 'hd']::regclass[], ARRAY['id'])) AS r, 7 AS e",
           "answer-equal"),
        _c("merge_sql/null", "crdt_merge_sql", "SELECT crdt_merge_sql(NULL, NULL) AS r"),
        _c("mergeql/null", "crdt_mergeql", "SELECT * FROM crdt_mergeql(NULL::ha, NULL)"),
        _c("mergeql/empty", "crdt_mergeql", "SELECT * FROM crdt_mergeql(NULL::ha, '')", "refuse", "empty MergeQL"),
        _c("mergeql/1MB", "crdt_mergeql", "SELECT * FROM crdt_mergeql(NULL::ha, repeat('x', 1048576))", "refuse",
           "not MergeQL"),
        _c("mergeql/limit_2_63", "crdt_mergeql",
           "SELECT * FROM crdt_mergeql(NULL::ha, 'MERGE ha, hb ON id LIMIT 9223372036854775808')", "any"),
        _c("mergeql_sql/2000_sources", "crdt_mergeql_sql",
           "SELECT crdt_mergeql_sql('MERGE ' || repeat('ha, ', 2000) || 'hb ON id') AS r"),
        _c("mergeql_sql/deep_where", "crdt_mergeql_sql",
           "SELECT crdt_mergeql_sql('MERGE ha, hb ON id WHERE ' || repeat('(', 20000) || 'x > 0' || repeat(')', 20000)) AS r"),
        _c("mergeql_sql/null", "crdt_mergeql_sql", "SELECT crdt_mergeql_sql(NULL) AS r"),
        _c("merge_into/keyed_target", "crdt_merge_into", "CALL crdt_merge_into('hk', 'hs', '{id}')", "answer"),
        _c("merge_into/key={id,NULL}", "crdt_merge_into", "CALL crdt_merge_into('hk', 'hs', '{id,NULL}')", "refuse",
           "a NULL key element (finding 10: Rust backtrace in DETAIL)"),
        _c("merge_into/target=null", "crdt_merge_into", "CALL crdt_merge_into(NULL, 'hs', '{id}')", "refuse",
           "a NULL target (finding 10)"),
        _c("merge_into/source=null", "crdt_merge_into", "CALL crdt_merge_into('hk', NULL, '{id}')", "refuse",
           "a NULL source"),
        _c("merge_into/key=null", "crdt_merge_into", "CALL crdt_merge_into('hk', 'hs', NULL)", "refuse", "a NULL key"),
        _c("merge_into/tombstone=text", "crdt_merge_into",
           "CALL crdt_merge_into('hk', 'hs', '{id}', tombstone => 'name')", "refuse",
           "a non-boolean tombstone (finding 10)"),
    ]
    return _PG_TABLES, cases


def datafusion_cases() -> list[dict]:
    f = "crdt_mergeql"
    out = [
        _c("mergeql/null", f, "SELECT * FROM crdt_mergeql(NULL)"),
        _c("mergeql/empty", f, "SELECT * FROM crdt_mergeql('')", "refuse", "empty MergeQL"),
        _c("mergeql/1MB", f, "SELECT * FROM crdt_mergeql(repeat('x', 1048576))", "refuse", "not MergeQL"),
        _c("mergeql/int", f, "SELECT * FROM crdt_mergeql(5)", "refuse", "an integer"),
        _c("mergeql/missing_files", f, "SELECT * FROM crdt_mergeql('MERGE ''nope.csv'', ''nope2.csv'' ON id')",
           "refuse", "missing files"),
        _c("mergeql/2000_sources", f,
           "SELECT * FROM crdt_mergeql('MERGE " + ", ".join(["''nope.csv''"] * 2000) + " ON id')", "refuse",
           "missing files"),
    ]
    # "file not found: 'nope.csv'" names the file, which is what a user needs
    for c in out[-2:]:
        c["named"] = False
    return out
