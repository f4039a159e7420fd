"""The one-call table merge: crdt_merge(...) and crdt_mergeql('MERGE ...')."""
import duckdb
import pytest

from conftest import connect, one

SEED = [(1, "Bob", 90, 2000.0), (2, "Charlie", 70, 1000.0), (3, "Diana", 85, 1000.0)]


@pytest.fixture
def seed(con):
    con.execute("CREATE TABLE a(id BIGINT, name VARCHAR, score INTEGER, _ts DOUBLE)")
    con.execute("INSERT INTO a VALUES (1, 'Alice', 80, 1000.0), (2, 'Charlie', 70, 1000.0)")
    con.execute("CREATE TABLE b(id BIGINT, name VARCHAR, score INTEGER, _ts DOUBLE)")
    con.execute("INSERT INTO b VALUES (1, 'Bob', 90, 2000.0), (3, 'Diana', 85, 1000.0)")
    return con


def test_seed_demo_all_forms(seed):
    con = seed
    assert con.execute("FROM crdt_merge(['a', 'b'], 'id', strategies := {'name': 'lww', 'score': 'max'})").fetchall() == SEED
    assert con.execute("FROM crdt_mergeql('MERGE a, b ON id STRATEGY name=''lww'', score=''max''')").fetchall() == SEED
    assert con.execute("FROM query(crdt_mergeql_sql('MERGE a, b ON id STRATEGY score=''max'''))").fetchall() == SEED
    assert con.execute("""SELECT id, crdt_lww(name, _ts) AS name, crdt_max(score) AS score, max(_ts) AS _ts
                          FROM (FROM a UNION ALL BY NAME FROM b) GROUP BY id ORDER BY id""").fetchall() == SEED
    # Column names and order are the inputs'.
    assert con.sql("FROM crdt_merge(['a', 'b'], 'id', strategies := {'score': 'max'})").columns == ["id", "name", "score", "_ts"]


MERGEQL = [
    "MERGE a, b ON id",
    "MERGE a, b ON id STRATEGY score='max'",
    "MERGE a, b ON id STRATEGY score='min', name='longest'",
    "MERGE a, b ON id STRATEGY score='max' PROVENANCE",
    "MERGE a, b ON id PROVENANCE",
    "MERGE a, b ON id REPLICA site STRATEGY score='max' PROVENANCE",
    "MERGE a, b ON id TOMBSTONE STRATEGY score='max'",
    "MERGE a, b ON id STRATEGY name='lww' CLOCK name_ts, score='max'",
    "MERGE a, b ON id STRATEGY tags='union', note='concat'",
    "MERGE a, b ON id STRATEGY level='priority(low,mid,high)'",
    "MERGE a, b ON id STRATEGY score='max' WHERE score > 60 LIMIT 2",
    "MERGE b, a ON id STRATEGY score='max'",
    "MERGE a, b, c ON id STRATEGY score='max'",
]


@pytest.fixture
def rich(con):
    con.execute("""CREATE TABLE a(id INTEGER, name VARCHAR, score INTEGER, site VARCHAR, name_ts BIGINT,
                   tags VARCHAR[], note VARCHAR, level VARCHAR, _deleted BOOLEAN, _ts BIGINT)""")
    con.execute("""INSERT INTO a VALUES
        (1, 'Alice', 80, 's1', 5, ['x'], 'n1', 'low', false, 10),
        (2, 'Carol', 70, 's1', 1, ['y', 'z'], 'n2', 'mid', false, 10),
        (4, 'Eve', 10, 's1', 3, NULL, NULL, 'high', true, 30)""")
    con.execute("""CREATE TABLE b(id INTEGER, score INTEGER, name VARCHAR, site VARCHAR, name_ts BIGINT,
                   tags VARCHAR[], note VARCHAR, level VARCHAR, _deleted BOOLEAN, _ts BIGINT, extra DOUBLE)""")
    con.execute("""INSERT INTO b VALUES
        (1, 90, 'Bob', 's2', 4, ['w', 'x'], 'n1 | n3', 'mid', false, 20, 1.5),
        (3, 85, 'Dan', 's2', 2, [], 'n4', 'low', false, 5, 2.5),
        (4, 11, 'Eve2', 's2', 9, ['q'], NULL, 'low', false, 20, NULL)""")
    con.execute("CREATE TABLE c(id INTEGER, score INTEGER, _ts BIGINT)")
    con.execute("INSERT INTO c VALUES (1, 95, 1), (5, 1, 1)")
    return con


COLUMNS = {
    "a": ["id", "name", "score", "site", "name_ts", "tags", "note", "level", "_deleted", "_ts"],
    "b": ["id", "score", "name", "site", "name_ts", "tags", "note", "level", "_deleted", "_ts", "extra"],
    "c": ["id", "score", "_ts"],
}


def as_dicts(rel):
    cols = rel.columns
    return [dict(zip(cols, r)) for r in rel.fetchall()]


@pytest.mark.parametrize("q", MERGEQL)
def test_rendering_without_columns_equals_the_kernels(rich, q):
    """crdt_mergeql (no column lists) gives the rows the kernel's render_sql gives with them."""
    con = rich
    sources = q.split(" ON ")[0].replace("MERGE", "").replace(",", " ").split()
    cols = [COLUMNS[s] for s in sources]
    dynamic = as_dicts(con.sql("FROM crdt_mergeql(?)", params=[q]))
    kernel_sql = one(con, "SELECT crdt_mergeql_sql(?, ?)", [q, cols])
    kernel = as_dicts(con.sql(kernel_sql))
    assert dynamic == kernel, kernel_sql
    assert dynamic


def test_keyword_form_options(rich):
    con = rich
    rows = as_dicts(con.sql("""FROM crdt_merge(['a', 'b'], 'id', strategies := {'score': 'max'},
                               replica := 'site', tombstone := true, provenance := true)"""))
    by_id = {r["id"]: r for r in rows}
    assert by_id[1]["name"] == "Bob" and by_id[1]["name__source"] == "s2" and by_id[1]["score"] == 90
    assert by_id[4]["_deleted"] is True  # the delete at ts 30 is newer than the write at ts 20
    assert "__conflicts" in rows[0]
    cells = as_dicts(con.sql("FROM crdt_merge(['a', 'b'], 'id', clocks := {'name': 'name_ts'})"))
    assert {r["id"]: r["name"] for r in cells}[1] == "Alice"  # name_ts 5 > 4
    lim = con.execute("FROM crdt_merge(['a', 'b'], ['id'], where_sql := 'id < 4', row_limit := 2)").fetchall()
    assert [r[0] for r in lim] == [1, 2]


def test_tombstone_semantics(con):
    con.execute("CREATE TABLE a(id INTEGER, v VARCHAR, _deleted BOOLEAN, _ts BIGINT)")
    con.execute("INSERT INTO a VALUES (1, 'x', false, 1), (2, 'y', false, 5), (3, 'z', true, 7)")
    con.execute("CREATE TABLE b(id INTEGER, v VARCHAR, _deleted BOOLEAN, _ts BIGINT)")
    con.execute("INSERT INTO b VALUES (1, NULL, true, 2), (2, 'y2', true, 5), (3, 'w', false, 9)")
    rows = con.execute("FROM crdt_mergeql('MERGE a, b ON id TOMBSTONE')").fetchall()
    # newer delete hides; equal clocks: delete wins; newer write revives. Tombstones are kept.
    assert rows == [(1, "x", True, 2), (2, "y2", True, 5), (3, "w", False, 9)]


def test_duplicate_keys_inside_one_replica_merge_lawfully(con):
    con.execute("CREATE TABLE a AS SELECT * FROM (VALUES (1, 'p', 1), (1, 'q', 3), (1, 'r', 2)) t(id, v, _ts)")
    con.execute("CREATE TABLE b AS SELECT * FROM (VALUES (1, 's', 2)) t(id, v, _ts)")
    assert con.execute("FROM crdt_merge(['a', 'b'], 'id')").fetchall() == [(1, "q", 3)]


def test_views_temp_tables_and_files(con, tmp_path):
    con.execute("CREATE TEMP TABLE t1 AS SELECT 1 AS id, 'a' AS v, 1 AS _ts")
    con.execute("CREATE VIEW v2 AS SELECT 1 AS id, 'b' AS v, 2 AS _ts")
    assert con.execute("FROM crdt_merge(['t1', 'v2'], 'id')").fetchall() == [(1, "b", 2)]
    p = tmp_path / "r.parquet"
    con.execute(f"COPY (SELECT 1 AS id, 'c' AS v, 3 AS _ts) TO '{p}'")
    assert con.execute("FROM crdt_merge(['t1', ?], 'id')", [str(p)]).fetchall() == [(1, "c", 3)]
    assert con.execute(f"FROM crdt_mergeql('MERGE t1, ''{p}'' ON id')").fetchall() == [(1, "c", 3)]


def test_merge_is_usable_in_larger_queries(con):
    con.execute("CREATE TABLE a AS SELECT i AS id, 'x' || i AS v, i AS _ts FROM range(100) t(i)")
    con.execute("CREATE TABLE b AS SELECT i AS id, 'y' || i AS v, 100 - i AS _ts FROM range(50, 150) t(i)")
    n = one(con, "SELECT count(*) FROM crdt_merge(['a', 'b'], 'id') WHERE v LIKE 'y%'")
    # keys 100..149 only in b; on equal clocks (key 50) the greater value wins: "y50" > "x50".
    assert n == 50 + sum(1 for i in range(50, 100) if 100 - i >= i)
    con.execute("CREATE TABLE m AS FROM crdt_merge(['a', 'b'], 'id')")
    assert one(con, "SELECT count(*) FROM m") == 150


def test_file_and_read_only_databases(tmp_path):
    import duckdb

    from conftest import EXTENSION

    path = str(tmp_path / "db.duckdb")
    cfg = {"allow_unsigned_extensions": "true"}
    c = duckdb.connect(path, config=cfg)
    c.execute(f"LOAD '{EXTENSION}'")
    c.execute("CREATE TABLE a AS SELECT 1 AS id, 'x' AS v, 1 AS _ts")
    c.execute("CREATE TABLE b AS SELECT 1 AS id, 'y' AS v, 2 AS _ts")
    assert c.execute("FROM crdt_merge(['a', 'b'], 'id')").fetchall() == [(1, "y", 2)]
    c.close()
    # Loading again replaces the stored macros.
    c = duckdb.connect(path, config=cfg)
    c.execute(f"LOAD '{EXTENSION}'")
    c.close()
    ro = duckdb.connect(path, read_only=True, config=cfg)
    ro.execute(f"LOAD '{EXTENSION}'")
    assert ro.execute("FROM crdt_mergeql('MERGE a, b ON id')").fetchall() == [(1, "y", 2)]
    assert ro.execute("FROM query(crdt_mergeql_sql('MERGE a, b ON id'))").fetchall() == [(1, "y", 2)]
    ro.close()
    # A read-only database that never had the macros: LOAD still works, the renderers too.
    path2 = str(tmp_path / "plain.duckdb")
    p = duckdb.connect(path2)
    p.execute("CREATE TABLE a AS SELECT 1 AS id, 'x' AS v, 1 AS _ts")
    p.execute("CREATE TABLE b AS SELECT 1 AS id, 'y' AS v, 2 AS _ts")
    p.close()
    ro = duckdb.connect(path2, read_only=True, config=cfg)
    ro.execute(f"LOAD '{EXTENSION}'")
    assert ro.execute("FROM query(crdt_mergeql_sql('MERGE a, b ON id'))").fetchall() == [(1, "y", 2)]
    assert one(ro, "SELECT crdt_max_join(1, 2)") == 2


def test_null_keys_are_an_error_naming_the_key(con):
    con.execute("CREATE TABLE a AS SELECT * FROM (VALUES (1, 'x', 1), (NULL, 'y', 2)) t(id, v, _ts)")
    con.execute("CREATE TABLE b AS SELECT * FROM (VALUES (1, 'z', 3)) t(id, v, _ts)")
    with pytest.raises(duckdb.Error) as e:
        con.execute("FROM crdt_merge(['a', 'b'], 'id')").fetchall()
    assert "crdt_merge" in str(e.value) and "`id`" in str(e.value)
    # Plain GROUP BY keeps SQL's rules: NULL is one group.
    assert con.execute("SELECT count(*) FROM (SELECT id, crdt_lww(v, _ts) FROM a GROUP BY id)").fetchone() == (2,)


def test_join_plan_by_hand_equals_crdt_merge(con):
    """For unique keys, the FULL OUTER JOIN with `_join` scalars (docs/duckdb.md) gives the rows
    crdt_merge(...) gives, NULLs, clock ties and one-sided keys included."""
    import random

    rng = random.Random(7)
    for side, offset in (("a", 0), ("b", 150)):
        con.execute(f"CREATE TABLE {side}(id BIGINT PRIMARY KEY, name VARCHAR, score INTEGER, _ts DOUBLE)")
        rows = [
            (offset + i,
             rng.choice([None, "x", "y", "zz", "long text " * 3]),
             rng.choice([None, -1, 0, 5, 9]),
             rng.choice([None, 1.0, 2.0, 3.0]))
            for i in range(300)
        ]
        con.executemany(f"INSERT INTO {side} VALUES (?, ?, ?, ?)", rows)
    merged = con.execute("FROM crdt_merge(['a', 'b'], 'id', strategies := {'name': 'lww', 'score': 'max'})").fetchall()
    joined = con.execute("""
        SELECT coalesce(a.id, b.id) AS id,
               crdt_lww_join(a.name, a._ts, b.name, b._ts) AS name,
               crdt_max_join(a.score, b.score) AS score,
               greatest(a._ts, b._ts) AS _ts
        FROM a FULL OUTER JOIN b ON a.id = b.id
        ORDER BY id""").fetchall()
    assert len(merged) == 450
    assert merged == joined


def test_quoted_and_qualified_source_names(con):
    """Sources are named as SQL names them: schema-qualified, and double-quoted when a part has a
    dot, a space or a quote."""
    con.execute('CREATE SCHEMA "my schema"')
    con.execute('CREATE TABLE "my schema"."t.1"(id INTEGER, v INTEGER, _ts INTEGER)')
    con.execute('INSERT INTO "my schema"."t.1" VALUES (1, 5, 1)')
    con.execute("CREATE TABLE main.plain(id INTEGER, v INTEGER, _ts INTEGER)")
    con.execute("INSERT INTO main.plain VALUES (1, 7, 2), (2, 1, 1)")
    rows = con.execute("""FROM crdt_merge(['"my schema"."t.1"', 'main.plain'], 'id', strategies := {'v': 'max'})""").fetchall()
    assert rows == [(1, 7, 2), (2, 1, 1)]
    with pytest.raises(duckdb.Error, match="unterminated quote"):
        con.execute("""FROM crdt_merge(['"open', 'main.plain'], 'id')""").fetchall()


def test_rows_are_unordered_unless_asked(con):
    """`ordered := false` is the default (no final sort: a table function's rows come in the
    engine's order); the same rows either way; `ordered := true` and `row_limit` order by key."""
    con.execute("CREATE TABLE ua AS SELECT i::BIGINT AS id, i % 7 AS v, (i % 5)::DOUBLE AS _ts FROM range(50000) t(i)")
    con.execute("CREATE TABLE ub AS SELECT (49999 - i)::BIGINT AS id, i % 11 AS v, (i % 3)::DOUBLE AS _ts FROM range(70000) t(i)")
    plain = con.execute("SELECT crdt_merge_sql(['ua', 'ub'], 'id', NULL, NULL, NULL, NULL, false, NULL, NULL, NULL, false, NULL, false)").fetchone()[0]
    assert "ORDER BY \"id\"" not in plain
    default = con.execute("FROM crdt_merge(['ua', 'ub'], 'id')").fetchall()
    ordered = con.execute("FROM crdt_merge(['ua', 'ub'], 'id', ordered := true)").fetchall()
    assert [r[0] for r in ordered] == sorted(r[0] for r in ordered)
    assert sorted(default) == ordered
    assert con.execute("FROM crdt_mergeql('MERGE ua, ub ON id')").fetchall() != []
    assert sorted(con.execute("FROM crdt_mergeql('MERGE ua, ub ON id')").fetchall()) == ordered
    assert con.execute("FROM crdt_mergeql('MERGE ua, ub ON id', ordered := true)").fetchall() == ordered
    limited = con.execute("FROM crdt_merge(['ua', 'ub'], 'id', row_limit := 5)").fetchall()
    assert limited == ordered[:5]
    try:
        con.execute("FROM crdt_merge(['ua', 'ub'], 'id', ordered := 'yes')").fetchall()
        raise AssertionError("a VARCHAR `ordered` was accepted")
    except duckdb.Error as e:
        assert "ordered" in str(e)
