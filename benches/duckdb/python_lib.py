#!/usr/bin/env python3
"""Times the Python crdt-merge library's merge() on the benchmark's data shape (for comparison).

Run with an interpreter that has `crdt-merge==0.11.0` installed (scripts/polars-venv.sh creates
.venv-polars with it and pyarrow): .venv-polars/bin/python benches/duckdb/python_lib.py --rows 1000000
Times merge() on lists of dicts and, when pyarrow is importable, the library's fastest path,
`crdt_merge.arrow.ArrowMerge` (a Polars join when polars is installed) on Arrow tables.
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
    result = {"rows_per_replica": n, "seconds": dt, "output_rows": len(out), "input_rows_per_s": 2 * n / dt}
    try:
        import pyarrow as pa
        from crdt_merge.arrow import ArrowMerge
    except ImportError:
        pa = None
    if pa is not None:
        ta, tb = pa.Table.from_pylist(a), pa.Table.from_pylist(b)
        am = ArrowMerge(schema=schema, timestamp_col="_ts")
        t0 = time.perf_counter()
        merged = am.merge(ta, tb, key="id")
        dt = time.perf_counter() - t0
        result["arrow_merge"] = {"seconds": dt, "output_rows": merged.num_rows, "input_rows_per_s": 2 * n / dt}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
