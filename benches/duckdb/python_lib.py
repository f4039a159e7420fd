#!/usr/bin/env python3
"""Times the Python crdt-merge library's merge() on the benchmark's data shape (for comparison).

Run with an interpreter that has `crdt-merge==0.11.0` installed (scripts/interop.sh creates
.venv-interop with it): .venv-interop/bin/python benches/duckdb/python_lib.py --rows 1000000
Rows are lists of dicts (the library also takes pandas, which is not installed there).
"""
import argparse
import json
import time

from crdt_merge import LWW, MaxWins, MergeSchema, merge


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    n = p.parse_args().rows
    a = [{"id": i, "name": f"name_{i * 7 % 1000003}", "score": i * 13 % 1000, "_ts": float(i % 5000)} for i in range(n)]
    b = [{"id": i + n // 2, "name": f"name_{i * 11 % 1000003}", "score": i * 17 % 1000, "_ts": float(i % 7000)} for i in range(n)]
    schema = MergeSchema(default=LWW(), name=LWW(), score=MaxWins())
    t0 = time.perf_counter()
    out = merge(a, b, key="id", timestamp_col="_ts", schema=schema)
    dt = time.perf_counter() - t0
    print(json.dumps({"rows_per_replica": n, "seconds": dt, "output_rows": len(out), "input_rows_per_s": 2 * n / dt}))


if __name__ == "__main__":
    main()
