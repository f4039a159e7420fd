"""The shared conformance corpus sql/*.slt, each file in a fresh DuckDB."""
from pathlib import Path

import pytest

from conftest import ROOT, connect
from slt_runner import DbApiEngine, run_file

FILES = sorted((ROOT / "sql").glob("*.slt"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_slt_file(path: Path):
    failures = run_file(path, DbApiEngine(connect(), "duckdb"))
    assert not failures, "\n\n".join(str(f) for f in failures)


def test_corpus_is_not_empty():
    assert FILES, "sql/*.slt not found"
