"""Fixtures for the DuckDB extension tests.

The extension file comes from $CRDT_DUCKDB_EXT or build/crdt_merge.duckdb_extension
(scripts/test-duckdb.sh builds it first).
"""
import itertools
import os
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

EXTENSION = Path(os.environ.get("CRDT_DUCKDB_EXT", ROOT / "build" / "crdt_merge.duckdb_extension")).resolve()


def connect(**config) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB with crdt_merge loaded."""
    cfg = {"allow_unsigned_extensions": "true"}
    cfg.update({k: str(v) for k, v in config.items()})
    con = duckdb.connect(config=cfg)
    con.execute(f"LOAD '{EXTENSION}'")
    return con


_shared = None
_names = itertools.count()


def fresh_name(prefix: str) -> str:
    """A table name not used before in this run (on the shared connection)."""
    return f"{prefix}{next(_names)}"


def shared_connection() -> duckdb.DuckDBPyConnection:
    """One connection kept for a whole run: property tests create many small tables, and a
    fresh connection per example would load the extension each time."""
    global _shared
    if _shared is None:
        _shared = connect()
    return _shared


@pytest.fixture(scope="session", autouse=True)
def _extension_exists():
    if not EXTENSION.is_file():
        pytest.fail(f"{EXTENSION} not found: run scripts/build-duckdb.sh (or scripts/test-duckdb.sh)")


@pytest.fixture
def con():
    c = connect()
    yield c
    c.close()


def one(con, sql, params=None):
    """The single value of a one-row, one-column query."""
    rows = con.execute(sql, params or []).fetchall()
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return rows[0][0]
