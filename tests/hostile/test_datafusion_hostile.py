"""The generated matrix for every catalogue function through DataFusion: one `crdt-merge sql -f`
process per call (the CLI stops at a statement's error, so calls cannot share a process), under
RLIMIT_AS (CRDT_HOSTILE_MEM_MB) with a timeout. A process costs about 0.1 s, so make test runs a
sample of the matrix (every valid call and bomb, then a seeded spread weighted to the cases with
an oracle); CRDT_HOSTILE_DF_BUDGET or CRDT_HOSTILE_SCALE raise it."""
import os
import random
from pathlib import Path

import pytest

import harness
import host
import matrix
import suite
from common_tests import FUNCTIONS, assert_function_clean, host_functions
from conftest import engine_enabled

ENGINE = "datafusion"
BUDGET = int(os.environ.get("CRDT_HOSTILE_DF_BUDGET", str(700 if harness.SCALE == 1 else 100_000)))


def binary() -> str:
    b = os.environ.get("CRDT_MERGE_BIN") or str(Path(os.environ.get(
        "CARGO_TARGET_DIR", Path.home() / ".cache" / "crdt-target")) / "debug" / "crdt-merge")
    if not Path(b).is_file():
        pytest.fail(f"{b} not found: run scripts/test-hostile.sh (it builds crdt-merge-cli)")
    return b


@pytest.fixture(scope="module")
def outcome():
    engine_enabled(ENGINE)
    b = binary()
    with suite.Timer() as t:
        probes, dropped = suite.accepted_probes(ENGINE, lambda cs: {
            c["id"]: harness.run_cli([b, "sql", f"SELECT r IS NULL AS n FROM ({c['sql']} AS r) AS t",
                                      "--format", "csv"]) for c in cs})
        cases = suite.build(ENGINE, probes, harness.SCALE)
        if harness.SCALE == 1:
            # Inflating in a debug build is slow (5-25 s a bomb): the two bombs go
            # through crdt_typeof only (the decoder every bytes function shares), the cheap
            # declared-count bomb through every function.
            cases = [c for c in cases if ":bomb_" not in c["id"] or "bomb_declared" in c["id"]
                     or (c["fn"] == "crdt_typeof" and any(p in c["id"] for p in matrix.PRIMARY_BOMBS))]
        for hc in host.datafusion_cases():
            hc["engine"] = ENGINE
            hc["oracle"] = hc["oracle"]
            cases.append(hc)
        total = len(cases)
        cases = suite.sample(cases, BUDGET, random.Random(suite.SEED))
        results = harness.run_datafusion(cases, b)
        # Every catalogue function is registered (information_schema lists the routines).
        names = ", ".join(f"'{f}'" for f in FUNCTIONS)
        reg = harness.run_cli([b, "sql", "SELECT count(DISTINCT routine_name) AS n FROM "
                               f"information_schema.routines WHERE routine_name IN ({names})",
                               "--format", "csv"])
    rows = harness.judge_all(cases, results)
    harness.write_report(ENGINE, rows, {"seconds": round(t.s, 1), "dropped_probes": dropped,
                                        "matrix": total, "probes": len(probes)})
    print(f"\nhostile[{ENGINE}]: {len(rows)} of {total} calls in {t.s:.0f} s; probes dropped: {dropped}")
    return rows, reg


def test_every_catalogue_function_is_registered(outcome):
    reg = outcome[1]
    assert reg["status"] == "ok", reg
    assert reg["stdout"].split() == ["n", str(len(FUNCTIONS))], reg["stdout"]


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_function(outcome, fn):
    assert_function_clean(outcome[0], fn)


@pytest.mark.parametrize("fn", host_functions(host.datafusion_cases()))
def test_host_function(outcome, fn):
    assert_function_clean(outcome[0], fn)
