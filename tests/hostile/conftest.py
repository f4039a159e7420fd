"""Hostile-input suite (README "Hostile-input suite"): every catalogue function in DuckDB,
Postgres and DataFusion, and the crdt-merge CLI, against generated malformed input.

Run by scripts/test-hostile.sh, which builds the engines, starts a throwaway Postgres and sets:
    CRDT_DUCKDB_EXT      the DuckDB extension file
    CRDT_PG_DSN          the throwaway server; CRDT_PG_LOG its server log
    CRDT_MERGE_BIN       the crdt-merge (debug) binary
Knobs: CRDT_HOSTILE_SCALE (1 = make test; scripts/hostile-nightly.sh uses 20),
CRDT_HOSTILE_ENGINES (default "duckdb postgres datafusion cli"), CRDT_HOSTILE_MEM_MB (2048),
CRDT_HOSTILE_WORKERS, CRDT_HOSTILE_CASE_TIMEOUT_S. Reports: build/hostile/<engine>.json.
"""
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

ENGINES = os.environ.get("CRDT_HOSTILE_ENGINES", "duckdb postgres datafusion cli").split()


def engine_enabled(name: str) -> None:
    if name not in ENGINES:
        pytest.skip(f"{name} not in CRDT_HOSTILE_ENGINES")
