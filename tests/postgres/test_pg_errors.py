"""Errors are ERRORs with SQLSTATE 22023 naming the function and argument; malformed input
never crashes the backend (scripts/test-postgres.sh also fails if the server log shows one)."""
import random

import psycopg
import pytest

from pgutil import one

CASES = [
    ("SELECT crdt_priority(v, ARRAY['a', 'a']) FROM (VALUES ('a')) AS t(v)", "levels"),
    ("SELECT crdt_hlc(281474976710656, 0)", "crdt_hlc"),
    ("SELECT crdt_hlc(1, 65536)", "crdt_hlc"),
    ("SELECT crdt_counter_value(CAST('garbage' AS BYTEA))", "crdt_counter_value"),
    ("SELECT crdt_typeof(CAST('CRDT' AS BYTEA))", "crdt_typeof"),
    ("SELECT crdt_to_json(CAST('' AS BYTEA))", "crdt_to_json"),
    ("SELECT crdt_state_merge(CAST('x' AS BYTEA), CAST('y' AS BYTEA))", "crdt_state_merge"),
    ("SELECT crdt_max(v) FROM (VALUES (point(1, 2))) AS t(v)", "crdt_max: argument `value`"),
    ("SELECT crdt_lww(v, ts) FROM (VALUES ('a', point(1, 2))) AS t(v, ts)", "crdt_lww: argument `ts`"),
    ("SELECT crdt_max(v) FROM (VALUES (1.000000000001)) AS t(v)", "crdt_max: argument `value`"),
    ("SELECT crdt_lww(v, ts) FROM (VALUES ('a', TIMESTAMP 'infinity')) AS t(v, ts)", "crdt_lww: argument `ts`"),
    ("SELECT crdt_gcounter(r, n) FROM (VALUES ('a', -1)) AS t(r, n)", "crdt_gcounter"),
    ("SELECT crdt_union(t, s) FROM (VALUES ('a', ','), ('b', ';')) AS x(t, s)", "sep"),
    ("SELECT crdt_max(v) FROM (VALUES (ARRAY[[1, 2], [3, 4]])) AS t(v)", "one-dimensional"),
    ("SELECT crdt_mergeql_sql('MERGE a ON')", "mergeql"),
    ("SELECT crdt_mergeql_sql('MERGE ''a.csv'', b ON id')", "crdt_mergeql"),
]


@pytest.mark.parametrize("sql,needle", CASES, ids=[c[1] for c in CASES])
def test_error_is_an_error(con, sql, needle):
    with pytest.raises(psycopg.Error) as e:
        con.execute(sql).fetchall()
    assert needle.lower() in str(e.value).lower()
    if needle not in ("mergeql",):
        assert e.value.sqlstate == "22023", (e.value.sqlstate, str(e.value))
    assert one(con, "SELECT 1") == 1  # the backend is still there


def test_type_errors_use_postgres_type_names(con):
    """Users read Postgres's type names (text, bigint), not Arrow's (Utf8, Int64)."""
    with pytest.raises(psycopg.Error) as e:
        con.execute("SELECT crdt_lww(v, ts) FROM (VALUES ('a', 'x'::text)) AS t(v, ts)").fetchall()
    msg = str(e.value)
    assert "crdt_lww: argument `ts`" in msg and "found text" in msg, msg
    assert "Utf8" not in msg, msg


def test_random_bytes_never_crash(con):
    rng = random.Random(42)
    good = one(con, "SELECT crdt_gcounter('a', 3)")
    samples = [bytes(rng.randrange(256) for _ in range(rng.randrange(40))) for _ in range(150)]
    # Mutations of a valid state: flips, truncations, extensions.
    for _ in range(150):
        b = bytearray(good)
        op = rng.randrange(3)
        if op == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1:
            b = b[: rng.randrange(len(b) + 1)]
        else:
            b += bytes(rng.randrange(256) for _ in range(rng.randrange(8)))
        samples.append(bytes(b))
    for b in samples:
        for sql in ("SELECT crdt_counter_value(%s)", "SELECT crdt_typeof(%s)", "SELECT crdt_to_json(%s)",
                    "SELECT crdt_state_merge(%s, %s)", "SELECT crdt_state_merge_agg(x) FROM (VALUES (%s::bytea)) AS t(x)"):
            params = (b, good) if sql.count("%s") == 2 else (b,)
            try:
                con.execute(sql, params).fetchall()
            except psycopg.Error as e:
                assert e.sqlstate == "22023", (sql, b, e.sqlstate, str(e))
    assert one(con, "SELECT 1") == 1


def test_null_handling(con):
    assert one(con, "SELECT crdt_state_merge(NULL, crdt_gcounter('a', 3)) = crdt_gcounter('a', 3)") is True
    assert one(con, "SELECT crdt_counter_value(NULL)") is None
    assert one(con, "SELECT crdt_max(v) FROM (VALUES (CAST(NULL AS int))) AS t(v)") is None
    assert one(con, "SELECT crdt_lww(v, ts) FROM (VALUES ('a', 1)) AS t(v, ts) WHERE false") is None
