"""Sketches in DuckDB: the laws on the state bytes (hypothesis), the same bytes whatever the
thread count and row order (DuckDB combines partial states), accuracy next to DuckDB's own
approx_count_distinct, and errors that name the function and argument."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import connect, fresh_name, shared_connection

BUILDERS = {
    "hll": "crdt_hll_agg(v, 6)",
    "theta": "crdt_theta_agg(v, 5)",
    "bloom": "crdt_bloom_agg(v, 50, 0.05)",
    "cms": "crdt_cms_agg(v, 'r' || (abs(v) % 3))",
    "minhash": "crdt_minhash_agg(v, 16)",
}

values = st.lists(st.integers(-50, 50), min_size=1, max_size=40)


def build(con, expr, vals):
    t = fresh_name("sk")
    con.execute(f"CREATE TEMP TABLE {t}(v INTEGER)")
    con.executemany(f"INSERT INTO {t} VALUES (?)", [(v,) for v in vals])
    return con.execute(f"SELECT {expr} FROM {t}").fetchone()[0]


def merge(con, a, b):
    return con.execute("SELECT crdt_state_merge(?, ?)", [a, b]).fetchone()[0]


@pytest.mark.parametrize("kind", sorted(BUILDERS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=values, y=values, z=values)
def test_laws_on_state_bytes(kind, x, y, z):
    con = shared_connection()
    a, b, c = (build(con, BUILDERS[kind], v) for v in (x, y, z))
    assert merge(con, a, b) == merge(con, b, a)
    assert merge(con, merge(con, a, b), c) == merge(con, a, merge(con, b, c))
    assert merge(con, a, a) == a
    assert build(con, BUILDERS[kind], list(reversed(x))) == a


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_threads_and_grouping_do_not_change_the_bytes(kind):
    # 2M rows so DuckDB splits the scan and combines partial states.
    expr = BUILDERS[kind].replace("v", "CAST(i % 100003 AS INTEGER)").replace("abs(CAST(i % 100003 AS INTEGER))", "abs(i)")
    out = set()
    for threads in (1, 4):
        con = connect(threads=threads)
        out.add(con.execute(f"SELECT {expr} FROM range(2000000) t(i)").fetchone()[0])
        # Grouped then merged: the same state.
        merged = con.execute(
            f"SELECT crdt_state_merge_agg(s) FROM (SELECT i % 7 AS g, {expr} AS s FROM range(2000000) t(i) GROUP BY g)"
        ).fetchone()[0]
        if kind != "cms":  # per-replica rows split across groups add inside one query, max across states
            out.add(merged)
    assert len(out) == 1


def test_hll_next_to_approx_count_distinct():
    con = connect()
    for p, n in ((10, 100_000), (14, 1_000_000)):
        ours, theirs = con.execute(
            f"SELECT crdt_hll_count(crdt_hll_agg(i, {p})), approx_count_distinct(i) FROM range({n}) t(i)"
        ).fetchone()
        se = 1.04 / (2 ** p) ** 0.5
        assert abs(ours - n) / n < 3 * se, (p, ours, theirs)


def test_grouped_counts():
    con = connect()
    rows = con.execute(
        "SELECT g, crdt_hll_count(crdt_hll_agg(i)) FROM range(300000) t(i) CROSS JOIN (SELECT i % 3 AS g) GROUP BY g ORDER BY g"
    ).fetchall()
    assert [g for g, _ in rows] == [0, 1, 2]
    for _, c in rows:
        assert abs(c - 100_000) / 100_000 < 3 * 0.0081


@pytest.mark.parametrize(
    "sql, words",
    [
        ("SELECT crdt_hll_agg(v, 3) FROM (VALUES (1)) t(v)", ["crdt_hll_agg", "precision", "4 to 18"]),
        ("SELECT crdt_hll_agg(v, 10, 'md5') FROM (VALUES (1)) t(v)", ["crdt_hll_agg", "family", "md5"]),
        ("SELECT crdt_bloom_agg(v, 0, 0.01) FROM (VALUES (1)) t(v)", ["crdt_bloom_agg", "capacity"]),
        ("SELECT crdt_bloom_agg(v, 10, 1.5) FROM (VALUES (1)) t(v)", ["crdt_bloom_agg", "fp_rate"]),
        ("SELECT crdt_cms_agg(v, 'r', -1) FROM (VALUES (1)) t(v)", ["crdt_cms_agg", "count"]),
        ("SELECT crdt_minhash_agg(v, 0) FROM (VALUES (1)) t(v)", ["crdt_minhash_agg", "num_perm"]),
        ("SELECT crdt_hll_count(CAST('CRDT' AS BLOB))", ["crdt_hll_count", "truncated"]),
        ("SELECT crdt_minhash_bands(crdt_minhash_agg(v, 4), 3, 2) FROM (VALUES (1)) t(v)", ["crdt_minhash_bands", "num_perm"]),
    ],
)
def test_errors_name_function_and_argument(sql, words):
    con = connect()
    with pytest.raises(Exception) as e:
        con.execute(sql).fetchall()
    for w in words:
        assert w in str(e.value), str(e.value)
