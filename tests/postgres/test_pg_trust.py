"""E4's SQL functions in Postgres (docs/trust.md): the golden signed deltas of tests/golden/e4
verify or not exactly as in DuckDB, malformed bytes raise an error naming the offset, and a
pipeline admits only verified rows, typed with jsonb_populate_recordset."""
import psycopg
import pytest

from pgutil import ROOT, connect, fresh_schema

GOLDEN = ROOT / "tests" / "golden" / "e4"


def blob(name):
    return (GOLDEN / name).read_bytes()


@pytest.fixture(scope="module")
def con():
    c = connect(fresh_schema("e4"))
    c.execute("CREATE TABLE inbox (name text, delta bytea)")
    for n in ["good", "forged", "revoked", "unknown", "header_only"]:
        c.execute("INSERT INTO inbox VALUES (%s, %s)", [n, blob(f"{n}.delta")])
    c.execute("CREATE TABLE pki (bytes bytea)")
    c.execute("INSERT INTO pki VALUES (%s)", [blob("pki.bin")])
    yield c
    c.close()


def test_verify_accepts_only_validly_signed_deltas(con):
    got = dict(con.execute(
        "SELECT name, crdt_verify(delta, (SELECT bytes FROM pki)) FROM inbox ORDER BY name").fetchall())
    assert got == {"good": True, "header_only": True, "forged": False, "revoked": False, "unknown": False}


def test_malformed_bytes_name_the_function_and_offset(con):
    with pytest.raises(psycopg.Error, match=r"crdt_verify.*byte offset"):
        con.execute("SELECT crdt_verify('\\x434d4534010161'::bytea, (SELECT bytes FROM pki))")
    with pytest.raises(psycopg.Error, match=r"crdt_verified_payload.*verif"):
        con.execute("SELECT crdt_verified_payload(delta, (SELECT bytes FROM pki)) FROM inbox WHERE name = 'forged'")


def test_only_verified_rows_enter_a_table(con):
    con.execute("CREATE TABLE orders (id bigint, _ts bigint, name text, score float8, tag bytea)")
    con.execute("""
        INSERT INTO orders
        SELECT r.* FROM inbox,
             jsonb_populate_recordset(NULL::orders, crdt_delta_rows(delta, (SELECT bytes FROM pki))::jsonb) r
        WHERE crdt_verify(delta, (SELECT bytes FROM pki)) AND crdt_signed_payload(delta) IS NOT NULL""")
    got = con.execute("SELECT id, name, score, tag FROM orders ORDER BY id").fetchall()
    assert got == [(1, 'apple "red"', 0.5, b"\x00\xff"), (2, "pear", None, None)]


def test_signed_payload_is_the_same_bytes_as_in_duckdb(con):
    p = con.execute("SELECT crdt_signed_payload(delta) FROM inbox WHERE name = 'good'").fetchone()[0]
    assert bytes(p)[:4] == b"E4TB"


def test_context_refuses_a_replay_into_another_dataset(con):
    ok = "SELECT crdt_verify(delta, (SELECT bytes FROM pki), %s) FROM inbox WHERE name = 'good'"
    assert con.execute(ok, ["orders/2026-12"]).fetchone()[0] is True
    assert con.execute(ok, ["orders/2026-11"]).fetchone()[0] is False
    with pytest.raises(psycopg.Error, match=r"crdt_delta_rows.*orders/2026-11"):
        con.execute("SELECT crdt_delta_rows(delta, (SELECT bytes FROM pki), 'orders/2026-11') "
                    "FROM inbox WHERE name = 'good'")
