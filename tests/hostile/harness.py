"""Parent side of the hostile suite: runs cases in child processes, names the call that killed
or hung a child, judges every outcome against its oracle, and writes a JSON report.

Verdicts (judge()):
    pass  a clean error, or an answer that satisfies the case's oracle
    fail  a signal, a hang, memory above the limit, an internal error/panic/backtrace text, an
          error that does not name a crdt_ function, a lost connection, an answer the oracle
          rejects (an undocumented type accepted, a NULL from non-NULL arguments, an identity
          that does not hold), or a valid call refused

DuckDB casts a literal to the parameter type of the overload it picked (a DECIMAL(38,0) beyond
DECIMAL(38,10), a DATE to BIGINT, an infinite DOUBLE to VARINT) while binding, before any of our
code runs; its "Conversion Error" then points at the argument with a `LINE 1:` caret instead of
naming the function. That is a clean error from the engine's own overload resolution, which the
extension cannot reword (docs/duckdb.md, "Types"), so it passes.
"""
from __future__ import annotations

import json
import os
import re
import resource
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

SCALE = max(1, int(os.environ.get("CRDT_HOSTILE_SCALE", "1")))
MEM_MB = int(os.environ.get("CRDT_HOSTILE_MEM_MB", "2048"))
CASE_TIMEOUT_S = float(os.environ.get("CRDT_HOSTILE_CASE_TIMEOUT_S", "30"))
WORKERS = max(1, int(os.environ.get("CRDT_HOSTILE_WORKERS", str(min(2, os.cpu_count() or 1)))))
# How many of the calls that killed a child are re-run alone in a fresh child (each costs a start).
RERUN_ALONE = int(os.environ.get("CRDT_HOSTILE_RERUN_ALONE", "4" if SCALE == 1 else "50"))
REPORT_DIR = Path(os.environ.get("CRDT_HOSTILE_REPORT_DIR", ROOT / "build" / "hostile"))

# Text that must never reach a user: a crash report dressed as an error.
BAD_TEXT = re.compile(r"INTERNAL Error|panicked at|stack backtrace|RUST_BACKTRACE|backtrace::|"
                      r"core::panicking|rust_begin_unwind|\bunwrap\(\)|Segmentation fault|"
                      r"assertion failed|called `Option::unwrap|called `Result::unwrap", re.I)
OOM_TEXT = re.compile(r"out of memory|MemoryError|memory allocation of|failed to allocate|Cannot allocate memory|"
                      r"std::bad_alloc|capacity overflow", re.I)


def judge(case: dict, out: dict) -> tuple[str, str]:
    status = out.get("status")
    oracle = case.get("oracle", "any")
    if status in ("signal", "exit", "timeout", "died"):
        return "fail", out.get("what", status)
    if not out.get("alive", True):
        return "fail", "the connection did not survive the call: " + out.get("alive_msg", "")
    if status == "error":
        msg = out.get("msg", "")
        if out.get("timeout"):
            return "fail", "hang: statement_timeout cancelled it"
        if OOM_TEXT.search(msg):
            return "fail", f"memory above the limit: {first_line(msg)}"
        if BAD_TEXT.search(msg):
            return "fail", f"internal error/panic text: {first_line(msg, 300)}"
        binder_cast = "Conversion Error" in msg and "LINE 1:" in msg
        if (case.get("named", True) and not binder_cast
                and "crdt_" not in msg.lower() and "mergeql:" not in msg.lower()):
            return "fail", f"error does not name the function: {first_line(msg)}"
        if oracle in ("answer", "answer-equal"):
            return "fail", f"a valid call was refused: {first_line(msg)}"
        return "pass", ""
    if status == "ok":
        if oracle == "refuse":
            return "fail", f"accepted, should be refused: {case.get('why', '')}; answered {out.get('repr', '')[:120]}"
        if oracle == "nonnull" and out.get("null"):
            return "fail", f"silent NULL: {case.get('why', '')}"
        if oracle in ("equal", "answer-equal") and out.get("eq") is False:
            return "fail", f"wrong answer (result, expected) = {out.get('repr', '')[:200]}"
        return "pass", ""
    return "fail", f"unknown outcome {out!r}"[:300]


def first_line(msg: str, n: int = 200) -> str:
    return " ".join(msg.split())[:n]


def _limit_child() -> None:
    if MEM_MB > 0:
        b = MEM_MB * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (b, b))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def describe_exit(rc: int, stderr: str) -> str:
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = str(-rc)
        what = f"killed by signal {name}"
    else:
        what = f"child exited with status {rc}"
    m = re.search(r"memory allocation of \d+ bytes failed|thread '[^']*' panicked at [^\n]*\n[^\n]*|"
                  r"thread '[^']*' has overflowed its stack|fatal runtime error: [^\n]*", stderr)
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    tail = first_line(m.group(0) if m else (lines[-1] if lines else ""), 300)
    if OOM_TEXT.search(stderr):
        what += " (memory above the limit)"
    if "panicked at" in stderr:
        what += " (Rust panic)"
    if "stack overflow" in stderr:
        what += " (stack overflow)"
    return f"{what}; stderr: {tail}" if tail else what


def run_in_children(engine: str, cases: list[dict], env: dict | None = None) -> dict[str, dict]:
    """Runs `cases` in `python child.py ENGINE` processes (WORKERS at a time); returns id -> outcome.

    A child that dies or stays silent past CASE_TIMEOUT_S on one case is killed; that case gets
    the outcome (signal, exit status, timeout) and a fresh child continues after it. Each such
    case is then re-run alone in a new child, and the outcome says whether it reproduces alone.
    """
    chunks = [cases[i::WORKERS] for i in range(WORKERS)]
    results: dict[str, dict] = {}
    lock = threading.Lock()
    child_env = dict(os.environ, **(env or {}))
    child_env["CRDT_HOSTILE_MEM_MB"] = str(MEM_MB)
    py = sys.executable

    def run_chunk(chunk: list[dict]) -> list[str]:
        killers = []
        pending = list(chunk)
        while pending:
            done, killer, outcome = _one_child(py, engine, pending, child_env)
            with lock:
                results.update(done)
            if killer is None:
                break
            with lock:
                results[killer] = outcome
            killers.append(killer)
            idx = next(i for i, c in enumerate(pending) if c["id"] == killer)
            pending = pending[idx + 1:]
        return killers

    with ThreadPoolExecutor(WORKERS) as ex:
        killers = [k for ks in ex.map(run_chunk, chunks) for k in ks]
    by_id = {c["id"]: c for c in cases}
    for k in killers[RERUN_ALONE:]:
        results[k]["what"] = results[k].get("what", "") + " [not re-run alone]"
    for k in killers[:RERUN_ALONE]:
        done, killer, outcome = _one_child(py, engine, [by_id[k]], child_env)
        alone = "reproduces alone" if killer is not None else f"alone it gave {done.get(k, {}).get('status')}"
        results[k]["what"] = results[k].get("what", "") + f" [{alone}]"
    return results


def _one_child(py: str, engine: str, cases: list[dict], env: dict):
    """One child over `cases`; returns (outcomes, id of the case it died on or None, its outcome)."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as fh:
        for c in cases:
            fh.write(json.dumps({"id": c["id"], "sql": c["sql"]}) + "\n")
        path = fh.name
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen([py, str(HERE / "child.py"), engine, path], stdout=subprocess.PIPE,
                            stderr=err, env=env, preexec_fn=_limit_child if engine == "duckdb" else None)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    done: dict[str, dict] = {}
    current = None
    buf = b""
    timed_out = False
    try:
        # the first case waits for the child to start and load the engine as well
        deadline = time.monotonic() + CASE_TIMEOUT_S + 30
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            if not sel.select(timeout=left):
                continue
            chunk = os.read(proc.stdout.fileno(), 1 << 16)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                if "start" in msg:
                    current = msg["start"]
                    deadline = time.monotonic() + CASE_TIMEOUT_S
                else:
                    done[msg["id"]] = msg
                    current = None
    finally:
        if timed_out:
            proc.kill()
        rc = proc.wait()
        sel.close()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        err.close()
        os.unlink(path)
    if timed_out:
        if current is None:
            current = next((c["id"] for c in cases if c["id"] not in done), None)
        if current is None:
            return done, None, None
        return done, current, {"status": "timeout", "what": f"hang: no answer within {CASE_TIMEOUT_S:.0f} s"}
    if current is not None:
        return done, current, {"status": "signal" if rc < 0 else "exit", "what": describe_exit(rc, stderr)}
    missing = [c["id"] for c in cases if c["id"] not in done]
    if missing:
        # died before starting a case (while loading the engine): blame the first
        return done, missing[0], {"status": "exit", "what": "child died before the case: " + describe_exit(rc, stderr)}
    return done, None, None


def judge_all(cases: list[dict], results: dict[str, dict]) -> list[dict]:
    rows = []
    for c in cases:
        out = results.get(c["id"], {"status": "missing", "what": "no outcome recorded"})
        verdict, reason = judge(c, out)
        rows.append({"engine": c.get("engine"), "id": c["id"], "fn": c["fn"], "oracle": c.get("oracle"),
                     "verdict": verdict, "reason": reason, "status": out.get("status"),
                     "msg": first_line(out.get("msg", ""), 400), "sql": c["sql"][:600]})
    return rows


def write_report(engine: str, rows: list[dict], extra: dict | None = None) -> Path:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORT_DIR / f"{engine}.json"
    fails = [r for r in rows if r["verdict"] == "fail"]
    data = {"engine": engine, "scale": SCALE, "cases": len(rows), "failures": len(fails),
            "failing": fails, **(extra or {})}
    path.write_text(json.dumps(data, indent=1))
    return path


def summarize(rows: list[dict], limit: int = 60) -> str:
    fails = [r for r in rows if r["verdict"] == "fail"]
    lines = [f"{len(fails)} of {len(rows)} cases failed"]
    for r in fails[:limit]:
        lines.append(f"  {r['id']}: {r['reason']}\n      sql: {r['sql'][:200]}")
    if len(fails) > limit:
        lines.append(f"  ... and {len(fails) - limit} more (see the JSON report)")
    return "\n".join(lines)


# --- DataFusion: one `crdt-merge sql -f FILE` process per call --------------------------------


def datafusion_sql(case: dict) -> str:
    """The case's statement wrapped so the CLI prints facts, not values: NULL-ness, and for
    two-column cases whether result and expectation are equal (IS NOT DISTINCT FROM)."""
    sql = case["sql"]
    if " AS r" not in sql:
        return f"SELECT count(*) AS c FROM ({sql}) AS t"
    if " AS e" in sql and case.get("oracle") in ("equal", "answer-equal"):
        return f"SELECT r IS NULL AS n, r IS NOT DISTINCT FROM e AS q FROM ({sql}) AS t"
    return f"SELECT r IS NULL AS n FROM ({sql}) AS t"


def run_cli(argv: list[str], *, stdin: bytes | None = None, cwd: str | None = None,
            timeout: float | None = None) -> dict:
    """Runs the crdt-merge binary under the memory limit; returns status/rc/stdout/stderr."""
    env = dict(os.environ, MALLOC_ARENA_MAX="2", RUST_BACKTRACE="0")
    try:
        p = subprocess.run(argv, input=stdin, capture_output=True, cwd=cwd, env=env,
                           timeout=timeout or CASE_TIMEOUT_S * 2, preexec_fn=_limit_child)
    except subprocess.TimeoutExpired as e:
        return {"status": "timeout", "what": f"hang: no exit within {e.timeout:.0f} s", "rc": None,
                "stdout": "", "stderr": ""}
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode < 0:
        return {"status": "signal", "what": describe_exit(p.returncode, err), "rc": p.returncode,
                "stdout": out, "stderr": err}
    return {"status": "ok" if p.returncode == 0 else "error", "rc": p.returncode, "stdout": out,
            "stderr": err}


def run_datafusion(cases: list[dict], binary: str) -> dict[str, dict]:
    tmpdir = tempfile.mkdtemp(prefix="crdt-hostile-df-")

    def one(ic):
        i, c = ic
        path = os.path.join(tmpdir, f"{i}.sql")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(datafusion_sql(c))
        r = run_cli([binary, "sql", "-f", path, "--format", "csv"], cwd=tmpdir)
        os.unlink(path)
        if r["status"] == "ok":
            lines = [ln for ln in r["stdout"].splitlines() if ln.strip()]
            header = lines[0].split(",") if lines else []
            vals = [ln.split(",") for ln in lines[1:]]
            out = {"status": "ok", "repr": " ".join(lines)[:300]}
            out["null"] = len(vals) == 1 and vals[0][0] == "true"
            if "q" in header and len(vals) == 1:
                out["eq"] = vals[0][header.index("q")] == "true"
            return c["id"], out
        if r["status"] == "error":
            err = r["stderr"]
            out = {"status": "error", "msg": err[:4000]}
            if "crdt-merge: error:" not in err:
                out["msg"] = "no `crdt-merge: error:` line: " + err[:4000]
            return c["id"], out
        return c["id"], r

    with ThreadPoolExecutor(WORKERS) as ex:
        res = dict(ex.map(one, enumerate(cases)))
    os.rmdir(tmpdir)
    return res
