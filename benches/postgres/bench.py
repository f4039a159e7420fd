"""2 × 2M-row merge in Postgres: crdt_merge aggregates (GROUP BY) vs the native plan
(DISTINCT ON (id) ... ORDER BY id, _ts DESC joined with max(score)). Prints a Markdown table.

Needs $CRDT_PG_DSN (benches/postgres/run.sh starts a throwaway server and sets it)."""
import os
import statistics
import time

import psycopg

N = int(os.environ.get("BENCH_ROWS", "2000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))

CRDT = """SELECT id, crdt_lww(name, _ts) AS name, crdt_max(score) AS score, max(_ts) AS _ts
FROM (SELECT * FROM a UNION ALL SELECT * FROM b) AS u GROUP BY id"""
NATIVE = """SELECT d.id, d.name, m.score, d._ts
FROM (SELECT DISTINCT ON (id) id, name, _ts FROM (SELECT * FROM a UNION ALL SELECT * FROM b) AS u
      ORDER BY id, _ts DESC) AS d
JOIN (SELECT id, max(score) AS score FROM (SELECT id, score FROM a UNION ALL SELECT id, score FROM b) AS u
      GROUP BY id) AS m USING (id)"""


def timed(c, sql):
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        n = c.execute(f"SELECT count(*) FROM ({sql}) AS q").fetchone()[0]
        times.append(time.perf_counter() - t0)
    return statistics.median(times), n


def main():
    c = psycopg.connect(os.environ["CRDT_PG_DSN"], autocommit=True)
    c.execute("CREATE EXTENSION IF NOT EXISTS crdt_merge")
    c.execute("DROP TABLE IF EXISTS a, b")
    for t, off in (("a", 0), ("b", N // 2)):
        c.execute(f"""CREATE TABLE {t} AS SELECT (i + {off})::bigint AS id, 'name' || ((i * 31) % 1000) AS name,
                      ((i * 17) % 1000)::int AS score, ((i * 7919) % 1000003)::bigint AS _ts
                      FROM generate_series(1::bigint, {N}) AS i""")
        c.execute(f"ANALYZE {t}")
    c.execute("SET work_mem = '256MB'")
    rows = []
    for label, settings in (("serial", "SET max_parallel_workers_per_gather = 0"),
                            ("parallel (2 workers)", "SET max_parallel_workers_per_gather = 2")):
        c.execute(settings)
        tc, nc = timed(c, CRDT)
        tn, nn = timed(c, NATIVE)
        assert nc == nn, (nc, nn)
        rows.append((label, nc, tc, tn))
    print(f"| plan | merged rows | crdt_merge GROUP BY (s) | native DISTINCT ON + max (s) | ratio crdt/native | crdt rows/s |")
    print("|---|---|---|---|---|---|")
    for label, n, tc, tn in rows:
        print(f"| {label} | {n:,} | {tc:.2f} | {tn:.2f} | {tc / tn:.2f} | {2 * N / tc:,.0f} |")


if __name__ == "__main__":
    main()
