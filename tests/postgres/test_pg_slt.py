"""The shared conformance corpus sql/*.slt against the real server, each file in a fresh schema."""
from pathlib import Path

import pytest

from pgutil import ROOT, connect, fresh_schema
from slt_runner import DbApiEngine, run_file

FILES = sorted((ROOT / "sql").glob("*.slt"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_slt_file(path: Path):
    conn = connect(fresh_schema("slt"))
    try:
        failures = run_file(path, DbApiEngine(conn, "postgres"))
    finally:
        conn.close()
    assert not failures, "\n\n".join(str(f) for f in failures)


def test_corpus_is_not_empty():
    assert FILES, "sql/*.slt not found"
