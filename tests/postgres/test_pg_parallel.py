"""Forced parallel aggregation (partial aggregates in workers, combined through serial/deserial
and combine in the leader) gives exactly the serial answers."""
import pytest

from pgutil import connect
from slt_runner import render_rows

SERIAL = ["SET max_parallel_workers_per_gather = 0"]
PARALLEL = [
    "SET max_parallel_workers_per_gather = 2",
    "SET parallel_setup_cost = 0",
    "SET parallel_tuple_cost = 0",
    "SET min_parallel_table_scan_size = 0",
]

AGGREGATES = """
  crdt_lww(v, ts) AS lww, crdt_lww(v, ts, r) AS lww_r, crdt_lww_nullable(v, ts) AS lwwn,
  crdt_max(n) AS mx, crdt_min(v) AS mn, crdt_max(x) AS fx, crdt_min(d) AS dmin,
  crdt_priority(v, ARRAY['v1', 'v5', 'v9']) AS pr, crdt_longest(v, ts, r) AS lg,
  crdt_union(arr) AS un, crdt_union(t, ',') AS unt, crdt_concat(t) AS cc,
  crdt_counter_value(crdt_gcounter(r, n)) AS gc, crdt_counter_value(crdt_pncounter(r, n, n / 3)) AS pn,
  crdt_max(num) AS nm, crdt_lww(v, tstz) AS lwwtz
"""


@pytest.fixture(scope="module")
def big():
    from pgutil import fresh_schema
    schema = fresh_schema("par")
    c = connect(schema)
    c.execute("""
        CREATE TABLE big AS
        SELECT i % 997 AS k,
               CASE WHEN i % 13 = 0 THEN NULL ELSE 'v' || (i % 11) END AS v,
               (i::bigint * 7919) % 100003 AS ts,
               'r' || (i % 5) AS r,
               (i % 1000)::int AS n,
               CASE WHEN i % 17 = 0 THEN 'NaN'::float8 ELSE (i % 101)::float8 / 7 END AS x,
               DATE '2020-01-01' + (i % 400) AS d,
               ARRAY[i % 7, i % 5] AS arr,
               'p' || (i % 9) || ', q' || (i % 4) AS t,
               (i % 1000)::numeric / 8 AS num,
               TIMESTAMPTZ '2024-01-01 00:00:00+00' + (i % 5000) * INTERVAL '1 second' AS tstz
        FROM generate_series(1, 300000) AS i
    """)
    c.execute("ANALYZE big")
    yield c
    c.close()


def run(c, settings, sql):
    for s in settings:
        c.execute(s)
    try:
        plan = "\n".join(r[0] for r in c.execute("EXPLAIN " + sql).fetchall())
        return plan, render_rows(c.execute(sql).fetchall())  # NaN-safe comparison
    finally:
        for s in settings:
            c.execute("RESET " + s.split()[1])


@pytest.mark.parametrize("grouped", [True, False], ids=["group_by", "one_group"])
def test_parallel_equals_serial(big, grouped):
    sql = (f"SELECT k, {AGGREGATES} FROM big GROUP BY k ORDER BY k" if grouped
           else f"SELECT {AGGREGATES} FROM big")
    plan_s, serial = run(big, SERIAL, sql)
    plan_p, parallel = run(big, PARALLEL, sql)
    assert "Partial" not in plan_s
    assert "Partial" in plan_p and "Gather" in plan_p, plan_p
    assert parallel == serial
    assert len(serial) == (997 if grouped else 1)


def test_parallel_state_merge_agg(big):
    sql = """SELECT crdt_counter_value(crdt_state_merge_agg(s)) AS v FROM
             (SELECT crdt_gcounter(r, n) AS s FROM big GROUP BY k) AS u"""
    _, serial = run(big, SERIAL, sql)
    _, parallel = run(big, PARALLEL, sql)
    assert parallel == serial
