"""Sketches in Postgres: parallel partial aggregation (serial/deserial/combine) gives the serial
bytes, and our pg_hll family unions with postgresql-hll's `hll` (Debian's postgresql-15-hll,
installed by scripts/pg-setup.sh): the same values give the same registers, and hll_cardinality
agrees on a union of both."""
import pytest

from pgutil import connect, fresh_schema

SKETCHES = ("crdt_hll_agg(v, 12)", "crdt_theta_agg(v)", "crdt_bloom_agg(v, 100000, 0.01)",
            "crdt_cms_agg(v, r)", "crdt_minhash_agg(v)")


@pytest.fixture(scope="module")
def big():
    c = connect(fresh_schema("sk"))
    c.execute("CREATE TABLE t AS SELECT (i::bigint * 7919) % 50000 AS v, 'r' || (i % 4) AS r FROM generate_series(1, 300000) i")
    c.execute("ANALYZE t")
    yield c
    c.close()


@pytest.mark.parametrize("expr", SKETCHES)
def test_parallel_equals_serial(big, expr):
    big.execute("SET max_parallel_workers_per_gather = 0")
    serial = big.execute(f"SELECT {expr} FROM t").fetchone()[0]
    for s in ("SET max_parallel_workers_per_gather = 2", "SET parallel_setup_cost = 0",
              "SET parallel_tuple_cost = 0", "SET min_parallel_table_scan_size = 0"):
        big.execute(s)
    plan = "\n".join(r[0] for r in big.execute(f"EXPLAIN SELECT {expr} FROM t").fetchall())
    assert "Partial Aggregate" in plan, plan
    assert big.execute(f"SELECT {expr} FROM t").fetchone()[0] == serial


@pytest.fixture
def hll(con):
    con.execute("CREATE EXTENSION IF NOT EXISTS hll SCHEMA public")
    return con


def test_pg_hll_registers_equal_postgresql_hll(hll):
    hll.execute("CREATE TABLE x AS SELECT i::bigint AS v FROM generate_series(1, 20000) i")
    same = hll.execute("""
        SELECT crdt_to_json(crdt_hll_agg(v, 11, 'pg_hll'))
             = crdt_to_json(crdt_hll_from_pg_hll(decode(substr(hll_add_agg(hll_hash_bigint(v))::text, 3), 'hex')))
        FROM x""").fetchone()[0]
    assert same is True
    # Text hashes alike too (hll_hash_text).
    same = hll.execute("""
        SELECT crdt_to_json(crdt_hll_agg(s, 11, 'pg_hll'))
             = crdt_to_json(crdt_hll_from_pg_hll(decode(substr(hll_add_agg(hll_hash_text(s))::text, 3), 'hex')))
        FROM (SELECT 'user-' || v AS s FROM x) AS y""").fetchone()[0]
    assert same is True


def test_our_bytes_union_with_an_hll_column(hll):
    hll.execute("CREATE TABLE a AS SELECT i::bigint AS v FROM generate_series(1, 30000) i")
    hll.execute("CREATE TABLE b AS SELECT i::bigint AS v FROM generate_series(20001, 50000) i")
    ours, theirs_union, exact = hll.execute("""
        SELECT hll_cardinality(hll_union(
                 (SELECT crdt_hll_to_pg_hll(crdt_hll_agg(v, 11, 'pg_hll')) FROM a)::hll,
                 (SELECT hll_add_agg(hll_hash_bigint(v)) FROM b))),
               hll_cardinality(hll_union(
                 (SELECT hll_add_agg(hll_hash_bigint(v)) FROM a),
                 (SELECT hll_add_agg(hll_hash_bigint(v)) FROM b))),
               50000""").fetchone()
    # Same registers, so the same estimate as postgresql-hll's own union, within its 2.3% error.
    assert ours == theirs_union
    assert abs(ours - exact) / exact < 3 * 0.023


def test_other_families_and_bad_bytes_are_refused(con):
    with pytest.raises(Exception) as e:
        con.execute("SELECT crdt_hll_to_pg_hll(crdt_hll_agg(1::bigint))").fetchall()
    assert "crdt_hll_to_pg_hll" in str(e.value) and "pg_hll" in str(e.value)
    con.rollback()
    with pytest.raises(Exception) as e:
        con.execute("SELECT crdt_hll_from_pg_hll('\\x14'::bytea)").fetchall()
    assert "crdt_hll_from_pg_hll" in str(e.value)
