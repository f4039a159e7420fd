"""Row ids and digests in Postgres: parallel partial aggregation gives the serial digest, the
whole-row reference of a real table (with dropped columns, domains, and types the kernel has no
counterpart for, read as their text) works, integer widths agree with DuckDB's golden ids
(sql/digests.slt), and a digest kept by a trigger stays equal to the recomputed one."""
import pytest

from pgutil import connect, fresh_schema

GOLDEN_1 = bytes.fromhex("8aee7f33ee40c90e76bc98460167b32bd3df912e37608a356b1958c35fd35c76")


@pytest.fixture(scope="module")
def big():
    c = connect(fresh_schema("dg"))
    c.execute("CREATE TABLE t AS SELECT i AS k, 'v' || (i % 97) AS v, (i % 13)::bigint AS _ts FROM generate_series(1, 300000) i")
    c.execute("ANALYZE t")
    yield c
    c.close()


@pytest.mark.parametrize("expr", ["crdt_table_digest(k, t)", "crdt_fingerprint_agg(crdt_row_id(k, t))",
                                  "crdt_fingerprint_state_agg(crdt_row_id(k, ROW(k, v)))"])
def test_parallel_equals_serial(big, expr):
    big.execute("SET max_parallel_workers_per_gather = 0")
    serial = big.execute(f"SELECT {expr} FROM t").fetchone()[0]
    for s in ("SET max_parallel_workers_per_gather = 2", "SET parallel_setup_cost = 0",
              "SET parallel_tuple_cost = 0", "SET min_parallel_table_scan_size = 0"):
        big.execute(s)
    plan = "\n".join(r[0] for r in big.execute(f"EXPLAIN SELECT {expr} FROM t").fetchall())
    assert "Partial Aggregate" in plan, plan
    assert bytes(big.execute(f"SELECT {expr} FROM t").fetchone()[0]) == bytes(serial)


def test_real_tables_dropped_columns_and_other_types(con):
    con.execute("CREATE DOMAIN small AS smallint")
    con.execute("CREATE TABLE p(k small, name varchar(10), junk int, _ts bigint)")
    con.execute("ALTER TABLE p DROP COLUMN junk")
    con.execute("INSERT INTO p VALUES (1, 'a', 10)")
    assert bytes(con.execute("SELECT crdt_row_id(k, p) FROM p").fetchone()[0]) == GOLDEN_1
    # uuid and jsonb have no kernel type: inside a row they are read as their text.
    con.execute("CREATE TABLE u(k int, id uuid, doc jsonb)")
    con.execute("INSERT INTO u VALUES (1, '00000000-0000-0000-0000-000000000001', '{\"a\": 1}')")
    as_text = con.execute(
        "SELECT crdt_row_id(k, u) = crdt_row_id(k, ROW(k, id::text, doc::text)::record) FROM u").fetchone()[0]
    # ROW(...) is a tuple (no names), the table's row is not: they differ, but both work.
    assert as_text is False
    assert con.execute("SELECT octet_length(crdt_table_digest(k, u)) FROM u").fetchone()[0] == 16


def test_trigger_kept_digest_stays_exact(con):
    con.execute("CREATE TABLE t(k int PRIMARY KEY, v text, _ts bigint)")
    con.execute("CREATE TABLE t__crdt_digest(s bytea)")
    con.execute("INSERT INTO t__crdt_digest VALUES (crdt_fingerprint_add(NULL, NULL))")
    con.execute("""
        CREATE FUNCTION t_digest() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE t__crdt_digest SET s = crdt_fingerprint_sub(s, crdt_row_id(OLD.k, OLD));
          END IF;
          IF TG_OP IN ('INSERT', 'UPDATE') THEN
            UPDATE t__crdt_digest SET s = crdt_fingerprint_add(s, crdt_row_id(NEW.k, NEW));
          END IF;
          RETURN NULL;
        END $$""")
    con.execute("CREATE TRIGGER t_digest AFTER INSERT OR UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION t_digest()")
    con.execute("INSERT INTO t SELECT i, 'v' || i, i FROM generate_series(1, 500) i")
    con.execute("UPDATE t SET v = 'x', _ts = 1000 WHERE k % 7 = 0")
    con.execute("DELETE FROM t WHERE k % 11 = 0")
    kept, fresh = con.execute(
        "SELECT crdt_fingerprint(s), (SELECT crdt_table_digest(k, t) FROM t) FROM t__crdt_digest").fetchone()
    assert bytes(kept) == bytes(fresh)


@pytest.mark.parametrize("sql,word", [
    ("SELECT crdt_row_id(1, 5)", "row"),
    ("SELECT crdt_fingerprint_agg('\\x01'::bytea)", "32-byte"),
    ("SELECT crdt_fingerprint('\\x01'::bytea)", "40-byte"),
])
def test_errors_name_the_argument(con, sql, word):
    with pytest.raises(Exception) as e:
        con.execute(sql).fetchall()
    assert word in str(e.value), str(e.value)
