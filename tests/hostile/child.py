"""Child process of the hostile suite: runs a list of calls in one engine and reports each.

    python child.py duckdb|postgres CASES.jsonl

Reads cases (one JSON object a line: id, sql, setup?) and writes, per case, a line
`{"start": id}` before running it and a result line after:
    {"id", "status": "ok"|"error", "msg", "null": one NULL value?, "eq": r == e (2 columns)?,
     "repr", "alive": the connection still answers?}
so the parent can name the call that was running when this process died or hung.

DuckDB runs in this process under the address-space limit $CRDT_HOSTILE_MEM_MB (RLIMIT_AS, set
before DuckDB is imported), with memory_limit below it and one thread. Postgres runs in its
backend: this process is only a client (see README "hostile-input suite" for how the backend's
memory is limited); a lost connection is reported as status "died" and the child reconnects.
"""
from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
from decimal import Decimal


def limit_memory() -> None:
    mb = int(os.environ.get("CRDT_HOSTILE_MEM_MB", "2048"))
    if mb > 0:
        b = mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (b, b))


def same(a, b) -> bool:
    """Equality where NaN equals NaN and -0.0 equals 0.0, through lists, tuples and dicts."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, Decimal) and isinstance(b, Decimal) and a.is_nan() and b.is_nan():
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return False


def facts(rows) -> dict:
    out = {"status": "ok", "repr": repr(rows)[:300]}
    out["null"] = len(rows) == 1 and len(rows[0]) >= 1 and rows[0][0] is None
    if len(rows) == 1 and len(rows[0]) == 2:
        out["eq"] = same(rows[0][0], rows[0][1])
    return out


def emit(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def run_duckdb(cases) -> None:
    import duckdb

    ext = os.environ["CRDT_DUCKDB_EXT"]
    mem = int(os.environ.get("CRDT_HOSTILE_MEM_MB", "2048"))
    con = duckdb.connect(config={"allow_unsigned_extensions": "true", "threads": "1",
                                 "memory_limit": f"{max(mem // 2, 256)}MB"})
    con.execute(f"LOAD '{ext}'")
    for stmt in json.loads(os.environ.get("CRDT_HOSTILE_SETUP", "[]")):
        con.execute(stmt)
    for c in cases:
        emit({"start": c["id"]})
        try:
            rows = con.execute(c["sql"]).fetchall()
            r = facts(rows)
        except duckdb.Error as e:
            r = {"status": "error", "msg": f"{type(e).__name__}: {e}"[:4000]}
        except Exception as e:  # noqa: BLE001 - a Python-side conversion of the answer
            r = {"status": "error", "msg": f"client {type(e).__name__}: {e}"[:4000], "client": True}
        try:
            r["alive"] = con.execute("SELECT crdt_max_join(1, 2)").fetchall() == [(2,)]
        except Exception as e:  # noqa: BLE001
            r["alive"] = False
            r["alive_msg"] = str(e)[:500]
        r["id"] = c["id"]
        emit(r)


def run_postgres(cases) -> None:
    import psycopg

    dsn = os.environ["CRDT_PG_DSN"]
    timeout_ms = int(os.environ.get("CRDT_HOSTILE_PG_TIMEOUT_MS", "20000"))

    def connect():
        deadline = time.monotonic() + 60
        while True:
            try:
                con = psycopg.connect(dsn, autocommit=True)
                # Dates and timestamps outside Python's range (infinity, 4713 BC) come back as
                # text: the client must not fail on an answer the server gave.
                from psycopg.types.string import TextLoader
                for t in ("date", "timestamp", "timestamptz", "date[]", "timestamp[]", "timestamptz[]"):
                    try:
                        con.adapters.register_loader(t, TextLoader)
                    except Exception:  # noqa: BLE001
                        pass
                con.execute(f"SET statement_timeout = {timeout_ms}")
                con.execute("SET work_mem = '64MB'")
                con.execute(f"SET search_path = {os.environ.get('CRDT_HOSTILE_PG_SCHEMA', 'public')}, public")
                return con
            except psycopg.OperationalError:
                # the server is restarting after a backend crash
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    con = connect()
    for c in cases:
        emit({"start": c["id"]})
        # A backend crash resets every connection: a call that loses its connection is retried
        # once on a new one, so a crash in the other child's backend is not blamed on it.
        for attempt in (1, 2):
            r, died = run_pg_case(con, c)
            if died:
                try:
                    con.close()
                except Exception:  # noqa: BLE001
                    pass
                con = connect()
                if attempt == 1:
                    first = r
                    continue
                r["msg"] = r.get("msg", "") + " (again on a new connection; first: " + first.get("msg", "")[:300] + ")"
            elif attempt == 2:
                r["note"] = "lost its connection once, then answered: " + first.get("msg", "")[:300]
            break
        r["id"] = c["id"]
        emit(r)


def run_pg_case(con, c):
    import psycopg

    died = False
    try:
        cur = con.execute(c["sql"])
        r = facts(cur.fetchall() if cur.description is not None else [])
    except psycopg.OperationalError as e:
        return {"status": "died", "what": f"lost the connection: {e}"[:4000], "msg": str(e)[:2000],
                "alive": False}, True
    except psycopg.Error as e:
        msg = f"{type(e).__name__}: {e}"
        diag = getattr(e, "diag", None)
        if diag is not None and diag.message_detail:
            msg += f"\nDETAIL: {diag.message_detail}"
        r = {"status": "error", "msg": msg[:4000], "timeout": isinstance(e, psycopg.errors.QueryCanceled)}
    except Exception as e:  # noqa: BLE001
        r = {"status": "error", "msg": f"client {type(e).__name__}: {e}"[:4000], "client": True}
    try:
        r["alive"] = con.execute("SELECT crdt_max_join(1, 2)").fetchall() == [(2,)]
    except psycopg.Error as e:
        r["alive"] = False
        r["alive_msg"] = str(e)[:500]
        died = True
    return r, died


def run_selftest(cases) -> None:
    """Calls that misbehave on purpose, for test_harness.py: "ok", "error", "abort" (SIGABRT),
    "hang", "alloc" (more memory than the limit)."""
    for c in cases:
        emit({"start": c["id"]})
        action = c["sql"]
        if action == "abort":
            os.abort()
        elif action == "hang":
            time.sleep(3600)
        elif action == "alloc":
            b = bytearray(8 * 2**30)  # noqa: F841
        r = {"status": "ok", "repr": "[(1,)]", "null": False} if action == "ok" else \
            {"status": "error", "msg": "crdt_selftest: boom"}
        r["id"] = c["id"]
        r["alive"] = True
        emit(r)


def main() -> None:
    engine, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as fh:
        cases = [json.loads(line) for line in fh if line.strip()]
    if engine == "duckdb":
        limit_memory()
        run_duckdb(cases)
    elif engine == "postgres":
        run_postgres(cases)
    elif engine == "selftest":
        limit_memory()
        run_selftest(cases)
    else:
        raise SystemExit(f"unknown engine {engine}")


if __name__ == "__main__":
    main()
