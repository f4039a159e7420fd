"""The generated matrix for every catalogue function in Postgres, against the throwaway server
scripts/test-hostile.sh starts ($CRDT_PG_DSN, log in $CRDT_PG_LOG).

Memory: a client cannot limit a backend, so the script starts the postmaster under a soft
RLIMIT_AS ($CRDT_HOSTILE_PG_MEM_MB, default 3072; inherited by every backend), and each child
sets statement_timeout and work_mem. A backend that dies shows as a lost connection on that call
(the child reconnects once the server has reset) and as "terminated by signal" in the server log,
which is checked after the run; an "out of memory" ERROR counts as memory above the limit.
"""
import os
import re
from pathlib import Path

import pytest

import harness
import matrix
import host
import suite
from common_tests import FUNCTIONS, assert_function_clean, host_functions
from conftest import engine_enabled

ENGINE = "postgres"


@pytest.fixture(scope="module")
def outcome():
    engine_enabled(ENGINE)
    dsn = os.environ.get("CRDT_PG_DSN")
    if not dsn:
        pytest.fail("CRDT_PG_DSN is not set: run scripts/test-hostile.sh (it starts a throwaway server)")
    import psycopg

    schema = f"hostile_{os.getpid()}"
    with psycopg.connect(dsn, autocommit=True) as c:
        # The bombs must meet a limited backend, or they take the machine's memory.
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        limits = Path(f"/proc/{pid}/limits")
        line = next((ln for ln in limits.read_text().splitlines() if ln.startswith("Max address space")),
                    "") if limits.is_file() else ""
        if "unlimited" in line.split()[3:4] and not os.environ.get("CRDT_HOSTILE_PG_UNLIMITED"):
            pytest.fail("the Postgres backends have no address-space limit (start the server as "
                        "scripts/test-hostile.sh does, or set CRDT_HOSTILE_PG_UNLIMITED=1)")
        c.execute("DROP EXTENSION IF EXISTS crdt_merge CASCADE")
        c.execute("CREATE EXTENSION crdt_merge")
        c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        c.execute(f"CREATE SCHEMA {schema}")
        c.execute(f"SET search_path = {schema}, public")
        setup, host_cases = host.postgres_cases()
        for stmt in matrix.SETUP[ENGINE] + setup:
            c.execute(stmt)
    env = {"CRDT_HOSTILE_PG_SCHEMA": schema,
           "CRDT_HOSTILE_PG_TIMEOUT_MS": str(int(harness.CASE_TIMEOUT_S * 1000 * 2 / 3))}
    log = Path(os.environ.get("CRDT_PG_LOG", "/nonexistent"))
    log_start = log.stat().st_size if log.is_file() else 0
    with suite.Timer() as t:
        probes, dropped = suite.accepted_probes(ENGINE, lambda cs: harness.run_in_children(ENGINE, cs, env))
        cases = suite.build(ENGINE, probes, harness.SCALE)
        for hc in host_cases:
            hc["engine"] = ENGINE
        cases += host_cases
        results = harness.run_in_children(ENGINE, cases, env)
        reg = harness.run_in_children(ENGINE, [{
            "id": "registered", "fn": "-", "sql":
            "SELECT count(DISTINCT proname) FROM pg_proc WHERE proname IN ("
            + ", ".join(f"'{f}'" for f in FUNCTIONS) + ")"}], env)
    rows = harness.judge_all(cases, results)
    crashes = server_log_crashes(log, log_start)
    for cr in crashes:
        # The postmaster logs the first 1023 bytes of the statement.
        st = cr.pop("full", "")
        ids = [c["id"] for c in cases if st and (c["sql"] == st or (len(st) >= 1000 and c["sql"].startswith(st)))]
        cr["case"] = " or ".join(ids[:4]) if ids else "?"
    harness.write_report(ENGINE, rows, {"seconds": round(t.s, 1), "dropped_probes": dropped,
                                        "probes": len(probes), "server_log_crashes": crashes})
    print(f"\nhostile[{ENGINE}]: {len(rows)} statements in {t.s:.0f} s; probes dropped: {dropped}")
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return rows, reg, crashes, log.is_file()


def server_log_crashes(log: Path, start: int) -> list[dict]:
    """Backends the postmaster saw die, with the statement each was running."""
    if not log.is_file():
        return []
    text = log.read_bytes()[start:].decode("utf-8", "replace")
    out = []
    for m in re.finditer(r"server process \(PID \d+\) was terminated by signal (\d+)[^\n]*\n"
                         r"(?:[^\n]*DETAIL:\s+Failed process was running: ([^\n]*))?", text):
        st = (m.group(2) or "").strip()
        out.append({"signal": int(m.group(1)), "statement": st[:2000], "full": st})
    for m in re.finditer(r"server process \(PID \d+\) exited with exit code (\d+)[^\n]*\n"
                         r"(?:[^\n]*DETAIL:\s+Failed process was running: ([^\n]*))?", text):
        st = (m.group(2) or "").strip()
        out.append({"exit": int(m.group(1)), "statement": st[:2000], "full": st})
    return out


def test_every_catalogue_function_is_registered(outcome):
    reg = outcome[1]["registered"]
    assert reg.get("repr") == f"[({len(FUNCTIONS)},)]", reg


def test_no_backend_died(outcome):
    _rows, _reg, crashes, have_log = outcome
    if not have_log:
        pytest.fail("CRDT_PG_LOG is not set or missing: the server log cannot be checked")
    assert not crashes, "backends died (server log): " + "; ".join(
        f"{c.get('case')}: signal {c.get('signal', '-')} exit {c.get('exit', '-')}: {c['statement'][:200]}"
        for c in crashes)


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_function(outcome, fn):
    assert_function_clean(outcome[0], fn)


@pytest.mark.parametrize("fn", host_functions(host.postgres_cases()[1]))
def test_host_function(outcome, fn):
    assert_function_clean(outcome[0], fn)
