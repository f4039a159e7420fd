"""E4's SQL functions in DuckDB (docs/trust.md): signed deltas from tests/golden/e4 (written by
`cargo test -p crdt-merge-e4 --test sql`) verify, forged, revoked and unknown-key deltas do not,
malformed bytes are an error naming the offset, and a pipeline can admit only verified rows."""
import json

import duckdb
import pytest

from conftest import ROOT, connect

GOLDEN = ROOT / "tests" / "golden" / "e4"


def blob(name):
    return (GOLDEN / name).read_bytes()


@pytest.fixture(scope="module")
def con():
    c = connect()
    c.execute("CREATE TABLE inbox (name VARCHAR, delta BLOB)")
    for n in ["good", "forged", "revoked", "unknown", "header_only"]:
        c.execute("INSERT INTO inbox VALUES (?, ?)", [n, blob(f"{n}.delta")])
    c.execute("CREATE TABLE pki AS SELECT ?::BLOB AS bytes", [blob("pki.bin")])
    return c


def test_verify_accepts_only_validly_signed_deltas(con):
    got = dict(con.execute(
        "SELECT name, crdt_verify(delta, (SELECT bytes FROM pki)) FROM inbox ORDER BY name").fetchall())
    assert got == {"good": True, "header_only": True, "forged": False, "revoked": False, "unknown": False}


def test_null_in_null_out(con):
    assert con.execute("SELECT crdt_verify(NULL, NULL), crdt_signed_payload(NULL)").fetchone() == (None, None)


def test_malformed_bytes_name_the_function_and_offset(con):
    with pytest.raises(duckdb.Error, match=r"crdt_verify.*byte offset"):
        con.execute("SELECT crdt_verify('\\x43\\x4d\\x45\\x34\\x01\\x01junk'::BLOB, (SELECT bytes FROM pki))").fetchall()
    with pytest.raises(duckdb.Error, match=r"crdt_verify.*pki"):
        con.execute("SELECT crdt_verify(delta, 'nope'::BLOB) FROM inbox WHERE name = 'good'").fetchall()


def test_verified_payload_refuses_forgeries(con):
    p = con.execute("SELECT crdt_verified_payload(delta, (SELECT bytes FROM pki)) FROM inbox WHERE name = 'good'").fetchone()[0]
    assert p[:4] == b"E4TB"
    assert con.execute("SELECT crdt_verified_payload(delta, (SELECT bytes FROM pki)) FROM inbox WHERE name = 'header_only'").fetchone()[0] is None
    with pytest.raises(duckdb.Error, match=r"crdt_verified_payload.*verif"):
        con.execute("SELECT crdt_verified_payload(delta, (SELECT bytes FROM pki)) FROM inbox WHERE name = 'forged'").fetchall()
    # Unverified on request (and documented as such).
    assert con.execute("SELECT crdt_signed_payload(delta) FROM inbox WHERE name = 'forged'").fetchone()[0][:4] == b"E4TB"


def test_only_verified_rows_enter_a_table(con):
    rows = con.execute("""
        SELECT crdt_delta_rows(delta, (SELECT bytes FROM pki)) FROM inbox
        WHERE crdt_verify(delta, (SELECT bytes FROM pki)) AND name = 'good'""").fetchone()[0]
    assert json.loads(rows) == [
        {"id": 1, "_ts": 10, "name": 'apple "red"', "score": 0.5, "tag": "\\x00ff"},
        {"id": 2, "_ts": 11, "name": "pear", "score": None, "tag": None},
    ]
    # Into typed rows inside the engine.
    got = con.execute("""
        SELECT r.id, r.name FROM (
          SELECT unnest(from_json(crdt_delta_rows(delta, (SELECT bytes FROM pki)),
                                  '[{"id":"BIGINT","_ts":"BIGINT","name":"VARCHAR"}]')) AS r
          FROM inbox WHERE name = 'good') ORDER BY r.id""").fetchall()
    assert got == [(1, 'apple "red"'), (2, "pear")]
    with pytest.raises(duckdb.Error, match="crdt_delta_rows"):
        con.execute("SELECT crdt_delta_rows(delta, (SELECT bytes FROM pki)) FROM inbox WHERE name = 'revoked'").fetchall()


def test_context_refuses_a_replay_into_another_dataset(con):
    ok = "SELECT crdt_verify(delta, (SELECT bytes FROM pki), ?) FROM inbox WHERE name = 'good'"
    assert con.execute(ok, ["orders/2026-12"]).fetchone()[0] is True
    assert con.execute(ok, ["orders/2026-11"]).fetchone()[0] is False
    with pytest.raises(duckdb.Error, match=r"crdt_verified_payload.*orders/2026-11"):
        con.execute("SELECT crdt_verified_payload(delta, (SELECT bytes FROM pki), 'orders/2026-11') "
                    "FROM inbox WHERE name = 'good'").fetchall()
    assert con.execute("SELECT crdt_delta_rows(delta, (SELECT bytes FROM pki), 'orders/2026-12') "
                       "FROM inbox WHERE name = 'good'").fetchone()[0].startswith("[{")
    with pytest.raises(duckdb.Error, match=r"crdt_verify.*context.*empty"):
        con.execute(ok.replace("?", "''")).fetchall()
