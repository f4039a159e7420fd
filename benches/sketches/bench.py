#!/usr/bin/env python3
"""Sketch benchmark: crdt_hll_agg against DuckDB's approx_count_distinct and exact
count(DISTINCT), ungrouped and over 1k groups, at p = 10 (DuckDB's own precision) and p = 14;
the update rate per core of every sketch; and, on the same values, the Python crdt-merge 0.11
MergeableHLL and datasketch 2.0 MinHash add rates (in their own venv, `--peer-python`).
Each query runs `--repeat` times in one DuckDB connection (2 threads) and the best time is kept.
Results go to benches/results/sketches.md. Not a test.

    .venv/bin/python benches/sketches/bench.py --rows 10000000 --peer-python .venv-sketch-bench/bin/python
"""
import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "build" / "crdt_merge.duckdb_extension"

PEER = r"""
import json, sys, time
n = int(sys.argv[1])
vals = [(i * 2654435761) % 1000003 for i in range(n)]
out = {}
from crdt_merge.probabilistic import MergeableHLL
h = MergeableHLL(precision=14)
t = time.perf_counter()
for v in vals:
    h.add(v)
out["crdt-merge 0.11 MergeableHLL.add (p=14)"] = n / (time.perf_counter() - t)
from datasketch import MinHash
m = MinHash(num_perm=128)
bs = [str(v).encode() for v in vals]
t = time.perf_counter()
for b in bs:
    m.update(b)
out["datasketch 2.0 MinHash.update (128)"] = n / (time.perf_counter() - t)
t = time.perf_counter()
m2 = MinHash(num_perm=128)
m2.update_batch(bs)
out["datasketch 2.0 MinHash.update_batch (128)"] = n / (time.perf_counter() - t)
print(json.dumps(out))
"""


def best(con, sql, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        con.execute(sql).fetchall()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--distinct", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peer-python", default=None)
    ap.add_argument("--peer-rows", type=int, default=200_000)
    a = ap.parse_args()
    con = duckdb.connect(config={"allow_unsigned_extensions": "true", "threads": str(a.threads)})
    con.execute(f"LOAD '{EXT}'")
    n, d = a.rows, a.distinct
    con.execute(f"CREATE TABLE t AS SELECT (i * 2654435761) % {d} AS v, i % 1000 AS g FROM range({n}) r(i)")
    rows = []

    def timed(label, sql):
        s = best(con, sql, a.repeat)
        rows.append((label, s))
        print(f"{label}: {s:.3f} s", flush=True)
        return s

    res = {}
    for shape, grp, sel in (("ungrouped", "", ""), ("1k groups", " GROUP BY g", "g, ")):
        res[(shape, "exact")] = timed(f"count(DISTINCT v), {shape}", f"SELECT {sel}count(DISTINCT v) FROM t{grp}")
        res[(shape, "approx")] = timed(f"approx_count_distinct(v), {shape}", f"SELECT {sel}approx_count_distinct(v) FROM t{grp}")
        for p in (10, 14):
            res[(shape, p)] = timed(f"crdt_hll_count(crdt_hll_agg(v, {p})), {shape}",
                                    f"SELECT {sel}crdt_hll_count(crdt_hll_agg(v, {p})) FROM t{grp}")
    est = {p: con.execute(f"SELECT crdt_hll_count(crdt_hll_agg(v, {p})) FROM t").fetchone()[0] for p in (10, 14)}
    exact = con.execute("SELECT count(DISTINCT v) FROM t").fetchone()[0]
    approx = con.execute("SELECT approx_count_distinct(v) FROM t").fetchone()[0]
    updates = {}
    for label, expr in (
        ("hll p=14", "crdt_hll_agg(v, 14)"),
        ("theta lg_k=12", "crdt_theta_agg(v, 12)"),
        ("bloom 1M at 1%", "crdt_bloom_agg(v, 1000000, 0.01)"),
        ("cms 2000x7", "crdt_cms_agg(v, 'r')"),
        ("minhash 128", "crdt_minhash_agg(v)"),
    ):
        s = timed(f"{expr}, ungrouped", f"SELECT octet_length({expr}) FROM t")
        updates[label] = n / s / a.threads
    peers = {}
    if a.peer_python:
        out = subprocess.run([a.peer_python, "-c", PEER, str(a.peer_rows)], check=True,
                             capture_output=True, text=True).stdout
        peers = json.loads(out)
    lines = [
        "# Sketch benchmark",
        "",
        f"`benches/sketches/bench.py --rows {n}`: {n:,} rows, {d:,} distinct BIGINT values, DuckDB "
        f"{duckdb.__version__}, {a.threads} threads, best of {a.repeat}; {platform.processor() or platform.machine()}.",
        "",
        "## Distinct counts (seconds)",
        "",
        "| query | ungrouped | 1k groups |",
        "|---|---|---|",
        f"| `count(DISTINCT v)` (exact) | {res[('ungrouped', 'exact')]:.3f} | {res[('1k groups', 'exact')]:.3f} |",
        f"| `approx_count_distinct(v)` (DuckDB HLL, p = 10, state not exposed) | {res[('ungrouped', 'approx')]:.3f} | {res[('1k groups', 'approx')]:.3f} |",
    ]
    for p in (10, 14):
        lines.append(
            f"| `crdt_hll_count(crdt_hll_agg(v, {p}))` | {res[('ungrouped', p)]:.3f} "
            f"({res[('ungrouped', p)] / res[('ungrouped', 'approx')]:.2f}× approx) | {res[('1k groups', p)]:.3f} "
            f"({res[('1k groups', p)] / res[('1k groups', 'approx')]:.2f}× approx) |")
    lines += [
        "",
        f"Answers: exact {exact:,}; approx_count_distinct {approx:,} ({(approx - exact) / exact:+.2%}); "
        f"crdt_hll p=10 {est[10]:,} ({(est[10] - exact) / exact:+.2%}), p=14 {est[14]:,} ({(est[14] - exact) / exact:+.2%}).",
        "",
        "## Update rate per core (rows/s, ungrouped, through DuckDB)",
        "",
        "| sketch | rows/s/core |",
        "|---|---|",
    ]
    for k, v in updates.items():
        lines.append(f"| {k} | {v:,.0f} |")
    if peers:
        lines += ["", f"## Peers on the same values ({a.peer_rows:,} adds, one core, Python)", "",
                  "| peer | adds/s | ours (per core) / theirs |", "|---|---|---|"]
        for k, v in peers.items():
            ours = updates["hll p=14"] if "HLL" in k else updates["minhash 128"]
            lines.append(f"| {k} | {v:,.0f} | {ours / v:,.0f}× |")
    out = ROOT / "benches" / "results" / "sketches.md"
    out.write_text("\n".join(lines) + "\n")
    print(out)


if __name__ == "__main__":
    main()
