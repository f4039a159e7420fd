"""The generated matrix for every catalogue function in DuckDB, each call in a child process
under RLIMIT_AS (CRDT_HOSTILE_MEM_MB) with a per-call timeout."""
import os
from pathlib import Path

import pytest

import json

import harness
import host
import suite
from common_tests import FUNCTIONS, assert_function_clean, host_functions
from conftest import engine_enabled

ENGINE = "duckdb"


@pytest.fixture(scope="module")
def outcome():
    engine_enabled(ENGINE)
    ext = os.environ.get("CRDT_DUCKDB_EXT") or str(harness.ROOT / "build" / "crdt_merge.duckdb_extension")
    if not Path(ext).is_file():
        pytest.fail(f"{ext} not found: run scripts/test-hostile.sh (it builds the extension)")
    os.environ["CRDT_DUCKDB_EXT"] = ext
    with suite.Timer() as t:
        probes, dropped = suite.accepted_probes(ENGINE, lambda cs: harness.run_in_children(ENGINE, cs))
        cases = suite.build(ENGINE, probes, harness.SCALE)  # the whole matrix: about 12,000 calls
        setup, host_cases = host.duckdb_cases()
        for c in host_cases:
            c["engine"] = ENGINE
        cases += host_cases
        results = harness.run_in_children(ENGINE, cases, {"CRDT_HOSTILE_SETUP": json.dumps(setup)})
        registered = harness.run_in_children(ENGINE, [{
            "id": "registered", "fn": "-", "sql":
            "SELECT count(DISTINCT function_name) FROM duckdb_functions() WHERE function_name IN ("
            + ", ".join(f"'{f}'" for f in FUNCTIONS) + ")"}])
    rows = harness.judge_all(cases, results)
    harness.write_report(ENGINE, rows, {"seconds": round(t.s, 1), "dropped_probes": dropped,
                                        "probes": len(probes)})
    print(f"\nhostile[{ENGINE}]: {len(rows)} calls in {t.s:.0f} s; probes dropped: {dropped}")
    return rows, registered


def test_every_catalogue_function_is_registered(outcome):
    _rows, reg = outcome
    assert reg["registered"].get("repr") == f"[({len(FUNCTIONS)},)]", reg


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_function(outcome, fn):
    assert_function_clean(outcome[0], fn)


@pytest.mark.parametrize("fn", host_functions(host.duckdb_cases()[1]))
def test_host_function(outcome, fn):
    assert_function_clean(outcome[0], fn)
