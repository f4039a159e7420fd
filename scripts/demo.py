#!/usr/bin/env python3
"""The README's main job: merge two replicas in embedded DuckDB with the crdt_merge extension.

1. The seed demo: a = {(1, Alice, 80, 1000.0), (2, Charlie, 70, 1000.0)},
   b = {(1, Bob, 90, 2000.0), (3, Diana, 85, 1000.0)} as (id, name, score, _ts);
   name merges last-writer-wins on _ts, score by max.
2. Two generated replicas of 1,000,000 rows each (half the keys shared), merged the same way;
   prints the throughput.

Usage: demo.py [EXTENSION] [--rows N]
"""
import argparse
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("extension", nargs="?", default=str(ROOT / "build" / "crdt_merge.duckdb_extension"))
    p.add_argument("--rows", type=int, default=1_000_000, help="rows per generated replica")
    a = p.parse_args(argv)

    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{Path(a.extension).resolve()}'")
    print(f"DuckDB {duckdb.__version__}, crdt_merge {con.execute('SELECT crdt_version()').fetchone()[0]}")

    # 1. The seed demo.
    con.execute("CREATE TABLE a(id BIGINT, name VARCHAR, score INTEGER, _ts DOUBLE)")
    con.execute("INSERT INTO a VALUES (1, 'Alice', 80, 1000.0), (2, 'Charlie', 70, 1000.0)")
    con.execute("CREATE TABLE b(id BIGINT, name VARCHAR, score INTEGER, _ts DOUBLE)")
    con.execute("INSERT INTO b VALUES (1, 'Bob', 90, 2000.0), (3, 'Diana', 85, 1000.0)")
    print("\nreplica a:")
    con.sql("FROM a ORDER BY id").show()
    print("replica b:")
    con.sql("FROM b ORDER BY id").show()
    query = "SELECT * FROM crdt_merge(['a', 'b'], 'id', strategies := {'name': 'lww', 'score': 'max'})"
    print(f"merged: {query}")
    merged = con.sql(query)
    merged.show()
    # crdt_merge(...) is unordered, as a table function is: sort to compare.
    got = sorted(merged.fetchall())
    want = [(1, "Bob", 90, 2000.0), (2, "Charlie", 70, 1000.0), (3, "Diana", 85, 1000.0)]
    if got != want:
        print(f"unexpected merge result: {got}, expected {want}", file=sys.stderr)
        return 1
    mergeql = "MERGE a, b ON id STRATEGY name='lww', score='max'"
    same = sorted(con.execute("SELECT * FROM crdt_mergeql(?)", [mergeql]).fetchall())
    print(f"MergeQL `{mergeql}` gives the same rows: {same == want}")
    if same != want:
        return 1

    # 2. Throughput on generated replicas.
    n = a.rows
    con.execute(f"""CREATE TABLE big_a AS SELECT i::BIGINT AS id, 'name_' || (i * 7 % 1000003) AS name,
                    (i * 13 % 1000)::INTEGER AS score, (i % 5000)::DOUBLE AS _ts FROM range({n}) t(i)""")
    con.execute(f"""CREATE TABLE big_b AS SELECT (i + {n // 2})::BIGINT AS id, 'name_' || (i * 11 % 1000003) AS name,
                    (i * 17 % 1000)::INTEGER AS score, (i % 7000)::DOUBLE AS _ts FROM range({n}) t(i)""")
    t0 = time.perf_counter()
    con.execute("""CREATE TABLE big_merged AS
                   SELECT * FROM crdt_merge(['big_a', 'big_b'], 'id', strategies := {'name': 'lww', 'score': 'max'})""")
    dt = time.perf_counter() - t0
    out = con.execute("SELECT count(*) FROM big_merged").fetchone()[0]
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(f"\nmerged 2 x {n:,} rows ({2 * n:,} input rows, {out:,} keys) in {dt:.2f} s "
          f"with {threads} threads: {2 * n / dt:,.0f} input rows/s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
