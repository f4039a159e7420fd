"""Bad input gives a DuckDB error naming the function and what it expected; nothing crashes."""
import duckdb
import pytest

from conftest import connect, one

CASES = [
    # (sql, substrings the error must contain)
    ("SELECT crdt_lww(v, ts) FROM (VALUES ('a', 'not a clock')) AS t(v, ts)", ["crdt_lww", "ts", "expected"]),
    ("SELECT crdt_lww(v) FROM (VALUES ('a')) AS t(v)", ["crdt_lww"]),
    ("SELECT crdt_lww(v, ts, r, r) FROM (VALUES ('a', 1, 'x')) AS t(v, ts, r)", ["crdt_lww"]),
    ("SELECT crdt_max(v) FROM (VALUES (INTERVAL 1 DAY)) AS t(v)", ["crdt_max"]),
    ("SELECT crdt_priority(v, l) FROM (VALUES ('a', ['a', 'b']), ('b', ['b', 'a'])) AS t(v, l)", ["crdt_priority", "levels"]),
    ("SELECT crdt_priority(v, ['a', 'a']) FROM (VALUES ('a')) AS t(v)", ["crdt_priority", "levels"]),
    ("SELECT crdt_priority(v, NULL::VARCHAR[]) FROM (VALUES ('a')) AS t(v)", ["crdt_priority", "levels"]),
    ("SELECT crdt_union(v, s) FROM (VALUES ('a', ','), ('b', ';')) AS t(v, s)", ["crdt_union", "sep"]),
    ("SELECT crdt_counter_value('\\x00\\x01'::BLOB)", ["crdt_counter_value"]),
    ("SELECT crdt_typeof('CRDT'::BLOB)", ["crdt_typeof"]),
    ("SELECT crdt_to_json('garbage bytes here'::BLOB)", ["crdt_to_json"]),
    ("SELECT crdt_state_merge(crdt_gcounter('a', 1), '\\xff'::BLOB)", ["crdt_state_merge"]),
    ("SELECT crdt_state_merge_agg(s) FROM (VALUES ('\\x43\\x52\\x44\\x54\\x00\\x01\\x01\\x00\\xff\\xff\\xff\\xff'::BLOB)) AS t(s)", ["crdt_state_merge_agg"]),
    ("SELECT crdt_gcounter(r, n) FROM (VALUES ('a', -1)) AS t(r, n)", ["crdt_gcounter"]),
    ("SELECT crdt_gcounter(r, n) FROM (VALUES ('a', 'x')) AS t(r, n)", ["crdt_gcounter", "count"]),
    ("SELECT crdt_hlc(281474976710656, 0)", ["crdt_hlc"]),
    ("SELECT crdt_hlc(1, 65536)", ["crdt_hlc"]),
    ("SELECT crdt_lww_join('a', 1, 'b')", ["crdt_lww_join"]),
    ("SELECT crdt_lww_join('a', 1, 'b', 'x')", ["crdt_lww_join"]),
    ("SELECT crdt_longest(v, ts) FROM (VALUES (true, 1)) AS t(v, ts)", ["crdt_longest"]),
    ("SELECT crdt_mergeql_sql('MERGE a ON')", ["mergeql"]),
    ("SELECT crdt_mergeql_sql('MERGE a, b ON id STRATEGY x=''nope''')", ["unknown strategy", "nope"]),
    ("SELECT * FROM crdt_mergeql('not mergeql at all')", ["mergeql"]),
    ("SELECT * FROM crdt_merge(['a', 'b'], 'id', strategies := {'x': 'newest'})", ["unknown strategy"]),
    ("SELECT * FROM crdt_merge(['a', 'b'], 'id', strategies := 'max')", ["crdt_merge", "strategies"]),
    ("SELECT * FROM crdt_merge(['a', 'b'], 42)", ["crdt_merge", "key"]),
    ("SELECT * FROM crdt_merge(['a', 'b'], 'id', row_limit := 'x')", ["crdt_merge", "row_limit"]),
]


@pytest.mark.parametrize("sql,needles", CASES, ids=[str(i) for i in range(len(CASES))])
def test_error_names_function_and_expectation(con, sql, needles):
    con.execute("CREATE TABLE a(id INTEGER, x INTEGER, _ts BIGINT)")
    con.execute("CREATE TABLE b(id INTEGER, x INTEGER, _ts BIGINT)")
    with pytest.raises(duckdb.Error) as e:
        con.execute(sql).fetchall()
    msg = str(e.value)
    for n in needles:
        assert n.lower() in msg.lower(), msg
    # The connection survives the error.
    assert one(con, "SELECT crdt_max_join(1, 2)") == 2


def test_type_errors_use_duckdb_type_names(con):
    """Users read DuckDB's type names (VARCHAR, STRUCT), not Arrow's (Utf8, Struct)."""
    for sql, found in [
        ("SELECT crdt_lww(v, ts) FROM (VALUES ('a', 'x')) AS t(v, ts)", "found VARCHAR"),
        ("SELECT crdt_lww('a', {'a': 1})", "found STRUCT(a INTEGER)"),
        ("SELECT crdt_gcounter(r, n) FROM (VALUES ('a', 'x')) AS t(r, n)", "found VARCHAR"),
    ]:
        with pytest.raises(duckdb.Error) as e:
            con.execute(sql).fetchall()
        assert found in str(e.value), str(e.value)
        assert "Utf8" not in str(e.value) and "Int32" not in str(e.value), str(e.value)


def test_error_message_is_the_kernels_verbatim(con):
    with pytest.raises(duckdb.Error) as e:
        con.execute("SELECT crdt_priority(v, ['a', 'a']) FROM (VALUES ('a')) AS t(v)").fetchall()
    assert "crdt_priority: argument `levels`: expected" in str(e.value)


def test_random_bytes_never_crash():
    import random

    con = connect()
    rnd = random.Random(7)
    blobs = [bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40))) for _ in range(300)]
    blobs += [b"CRDT" + bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40))) for _ in range(300)]
    blobs += [b"CRDT\x00\x01\x01\x00\x00\x00\x00\x10" + bytes(rnd.randrange(256) for _ in range(16)) for _ in range(300)]
    for b in blobs:
        for f in ("crdt_typeof(?)", "crdt_to_json(?)", "crdt_counter_value(?)", "crdt_state_merge(?, ?)"):
            args = [b] * f.count("?")
            try:
                con.execute(f"SELECT {f}", args).fetchall()
            except duckdb.Error as e:
                assert "crdt_" in str(e)
    assert one(con, "SELECT 1") == 1


def test_error_inside_parallel_aggregate_is_reported(con):
    con.execute("SET threads = 2")
    with pytest.raises(duckdb.Error) as e:
        con.execute("""SELECT i % 1000, crdt_priority(v, CASE WHEN i = 1500000 THEN ['b', 'a'] ELSE ['a', 'b'] END)
                       FROM (SELECT i, 'a' AS v FROM range(2000000) t(i)) GROUP BY 1""").fetchall()
    assert "crdt_priority" in str(e.value)
