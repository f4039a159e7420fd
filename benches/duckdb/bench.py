#!/usr/bin/env python3
"""DuckDB benchmark: crdt_merge aggregates and table merge against DuckDB's built-ins.

Data: two replicas a, b of N rows each (id BIGINT, name VARCHAR, score INTEGER, _ts DOUBLE), half
of the keys shared (1.5 N keys). Each formulation runs in its own process (so peak RSS is its
own) on a DuckDB file made once; each query runs `--repeat` times and the best time is kept.
Results go to benches/results/duckdb.md and .json. Not a test.

    .venv/bin/python benches/duckdb/bench.py --rows 10000000
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "build" / "crdt_merge.duckdb_extension"
U = "(SELECT * FROM a UNION ALL SELECT * FROM b)"
WRAP = "SELECT count(*) AS n, sum(hash(id, name, score, _ts)) AS h FROM ({q})"

QUERIES = {
    "builtin_groupby": f"SELECT id, arg_max(name, _ts) AS name, max(score) AS score, max(_ts) AS _ts FROM {U} GROUP BY id",
    "crdt_groupby": f"SELECT id, crdt_lww(name, _ts) AS name, crdt_max(score) AS score, max(_ts) AS _ts FROM {U} GROUP BY id",
    "builtin_full_outer_join": """SELECT coalesce(a.id, b.id) AS id,
        CASE WHEN b.id IS NULL OR (a.id IS NOT NULL AND a._ts >= b._ts) THEN a.name ELSE b.name END AS name,
        greatest(a.score, b.score) AS score, greatest(a._ts, b._ts) AS _ts
        FROM a FULL OUTER JOIN b ON a.id = b.id""",
    "crdt_full_outer_join": """SELECT coalesce(a.id, b.id) AS id, crdt_lww_join(a.name, a._ts, b.name, b._ts) AS name,
        crdt_max_join(a.score, b.score) AS score, greatest(a._ts, b._ts) AS _ts
        FROM a FULL OUTER JOIN b ON a.id = b.id""",
    # The same join with the pick functions: DuckDB moves the values, the kernel only decides.
    "crdt_full_outer_join_pick": """SELECT coalesce(a.id, b.id) AS id,
        CASE WHEN crdt_lww_pick(a.name, a._ts, b.name, b._ts) THEN b.name ELSE a.name END AS name,
        CASE WHEN crdt_max_pick(a.score, b.score) THEN b.score ELSE a.score END AS score,
        greatest(a._ts, b._ts) AS _ts
        FROM a FULL OUTER JOIN b ON a.id = b.id""",
    # The same join with the row order crdt_merge(...) guarantees (by key).
    "builtin_full_outer_join_ordered": """SELECT coalesce(a.id, b.id) AS id,
        CASE WHEN b.id IS NULL OR (a.id IS NOT NULL AND a._ts >= b._ts) THEN a.name ELSE b.name END AS name,
        greatest(a.score, b.score) AS score, greatest(a._ts, b._ts) AS _ts
        FROM a FULL OUTER JOIN b ON a.id = b.id ORDER BY id""",
    "crdt_merge_table": "SELECT * FROM crdt_merge(['a', 'b'], 'id', strategies := {'name': 'lww', 'score': 'max'})",
    # Conversion cost: one cheap kernel call per row, no grouping.
    "builtin_max_ungrouped": f"SELECT 1 AS id, 'x' AS name, max(score) AS score, max(_ts) AS _ts FROM {U}",
    "crdt_max_ungrouped": f"SELECT 1 AS id, 'x' AS name, crdt_max(score) AS score, crdt_max(_ts) AS _ts FROM {U}",
    "builtin_greatest_scalar": f"SELECT id, name, greatest(score, score) AS score, _ts FROM {U}",
    "crdt_max_join_scalar": f"SELECT id, name, crdt_max_join(score, score) AS score, _ts FROM {U}",
}


def make_db(path: str, n: int) -> None:
    import duckdb

    con = duckdb.connect(path)
    con.execute(f"""CREATE TABLE a AS SELECT i::BIGINT AS id, 'name_' || (i * 7 % 1000003) AS name,
        (i * 13 % 1000)::INTEGER AS score, (i % 5000)::DOUBLE AS _ts FROM range({n}) t(i)""")
    con.execute(f"""CREATE TABLE b AS SELECT (i + {n // 2})::BIGINT AS id, 'name_' || (i * 11 % 1000003) AS name,
        (i * 17 % 1000)::INTEGER AS score, (i % 7000)::DOUBLE AS _ts FROM range({n}) t(i)""")
    con.close()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: str, name: str, repeat: int, threads: int) -> None:
    import duckdb

    con = duckdb.connect(path, config={"allow_unsigned_extensions": "true", "threads": str(threads)})
    con.execute(f"LOAD '{EXT}'")
    con.execute("SELECT count(*), sum(hash(id, name, score, _ts)) FROM a").fetchall()
    con.execute("SELECT count(*), sum(hash(id, name, score, _ts)) FROM b").fetchall()
    base = rss_mb()
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = con.execute(WRAP.format(q=QUERIES[name])).fetchone()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"name": name, "best_s": min(times), "times_s": times, "rows": out[0],
                      "peak_rss_mb": rss_mb(), "base_rss_mb": base}))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000_000, help="rows per replica")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--out", default=str(ROOT / "benches" / "results" / "duckdb"))
    p.add_argument("--python-lib", metavar="PYTHON",
                   help="also time the Python crdt-merge 0.11.0 merge() and ArrowMerge with this "
                        "interpreter (e.g. .venv-polars/bin/python, from scripts/polars-venv.sh) on "
                        "min(rows, 1M) rows per replica")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        child(a.db, a.child[0], int(a.child[1]), a.threads)
        return 0

    import duckdb

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "bench.duckdb")
        t0 = time.perf_counter()
        make_db(db, a.rows)
        print(f"data: 2 x {a.rows:,} rows in {time.perf_counter() - t0:.1f} s", flush=True)
        for name in (a.only or list(QUERIES)):
            r = subprocess.run([sys.executable, __file__, "--child", name, str(a.repeat), "--db", db,
                                "--threads", str(a.threads)], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"{name}: failed\n{r.stderr}", file=sys.stderr)
                results[name] = {"name": name, "error": r.stderr.strip().splitlines()[-1:]}
                continue
            res = json.loads(r.stdout.strip().splitlines()[-1])
            results[name] = res
            print(f"{name:26s} {res['best_s']:7.3f} s  peak RSS {res['peak_rss_mb']:7.0f} MB "
                  f"(+{res['peak_rss_mb'] - res['base_rss_mb']:.0f} over the loaded tables)  rows {res['rows']:,}", flush=True)

    def ratio(x, y, key="best_s"):
        if x in results and y in results and key in results[x] and key in results[y]:
            return results[x][key] / results[y][key]
        return None

    def mem_ratio(x, y):
        if all(k in results and "peak_rss_mb" in results[k] for k in (x, y)):
            dx = results[x]["peak_rss_mb"] - results[x]["base_rss_mb"]
            dy = results[y]["peak_rss_mb"] - results[y]["base_rss_mb"]
            return dx / dy if dy > 0 else None
        return None

    fastest_builtin = min((k for k in ("builtin_groupby", "builtin_full_outer_join") if "best_s" in results.get(k, {})),
                          key=lambda k: results[k]["best_s"], default=None)
    ratios = {
        "aggregates_vs_builtin_groupby": ratio("crdt_groupby", "builtin_groupby"),
        "table_merge_vs_fastest_builtin": ratio("crdt_merge_table", fastest_builtin) if fastest_builtin else None,
        "table_merge_vs_builtin_join_same_row_order": ratio("crdt_merge_table", "builtin_full_outer_join_ordered"),
        "crdt_full_outer_join_vs_builtin_full_outer_join": ratio("crdt_full_outer_join", "builtin_full_outer_join"),
        "crdt_full_outer_join_pick_vs_builtin_full_outer_join": ratio("crdt_full_outer_join_pick",
                                                                      "builtin_full_outer_join"),
        "ungrouped_crdt_max_vs_max": ratio("crdt_max_ungrouped", "builtin_max_ungrouped"),
        "peak_memory_aggregates_vs_builtin": mem_ratio("crdt_groupby", "builtin_groupby"),
        "peak_memory_table_merge_vs_fastest_builtin": mem_ratio("crdt_merge_table", fastest_builtin) if fastest_builtin else None,
    }
    rows_in = 2 * a.rows
    conv = {}
    for ours, theirs in (("crdt_max_ungrouped", "builtin_max_ungrouped"), ("crdt_max_join_scalar", "builtin_greatest_scalar")):
        if "best_s" in results.get(ours, {}) and "best_s" in results.get(theirs, {}):
            conv[ours] = (results[ours]["best_s"] - results[theirs]["best_s"]) / rows_in * 1e9
    meta = {"rows_per_replica": a.rows, "threads": a.threads, "duckdb": duckdb.__version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "fastest_builtin": fastest_builtin,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    pylib = None
    if a.python_lib:
        n_py = min(a.rows, 1_000_000)
        r = subprocess.run([a.python_lib, str(Path(__file__).with_name("python_lib.py")), "--rows", str(n_py)],
                           capture_output=True, text=True)
        pylib = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {"error": r.stderr[-500:]}
        print(f"python crdt-merge: {pylib}", flush=True)
        # Ours on the same data size, so the comparison is like for like.
        with tempfile.TemporaryDirectory() as tmp:
            db_py = os.path.join(tmp, "bench_py.duckdb")
            make_db(db_py, n_py)
            r = subprocess.run([sys.executable, __file__, "--child", "crdt_merge_table", str(a.repeat), "--db", db_py,
                                "--threads", str(a.threads)], capture_output=True, text=True)
            if r.returncode == 0:
                pylib["ours_crdt_merge_table_s"] = json.loads(r.stdout.strip().splitlines()[-1])["best_s"]
        print(f"python crdt-merge: {pylib}", flush=True)
    Path(a.out + ".json").write_text(json.dumps({"meta": meta, "results": results, "ratios": ratios,
                                                 "extra_ns_per_row": conv, "python_crdt_merge": pylib}, indent=2) + "\n")
    lines = [
        "# DuckDB benchmark", "",
        f"Generated by `benches/duckdb/bench.py --rows {a.rows}` on {meta['date']} ({meta['machine']}, "
        f"{a.threads} DuckDB threads, duckdb {meta['duckdb']}). Two replicas of {a.rows:,} rows "
        f"(id BIGINT, name VARCHAR, score INTEGER, _ts DOUBLE), half the keys shared; best of {a.repeat}; "
        "each query wrapped in `SELECT count(*), sum(hash(...))`. Peak RSS is the whole process "
        "(the loaded tables included); the delta is over the RSS after scanning both tables.", "",
        "| query | best (s) | peak RSS (MB) | delta (MB) |", "|---|---|---|---|",
    ]
    for name, r in results.items():
        if "best_s" in r:
            lines.append(f"| {name} | {r['best_s']:.3f} | {r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] - r['base_rss_mb']:.0f} |")
        else:
            lines.append(f"| {name} | failed: {r.get('error')} | | |")
    lines += ["", "| ratio (goal) | value |", "|---|---|"]
    # The goals of the DuckDB speed issue (#23).
    goals = {"aggregates_vs_builtin_groupby": "≤ 1.2", "table_merge_vs_fastest_builtin": "≤ 1.3",
             "ungrouped_crdt_max_vs_max": "≤ 2",
             "peak_memory_aggregates_vs_builtin": "≤ 1.5", "peak_memory_table_merge_vs_fastest_builtin": "≤ 1.5"}
    for k, v in ratios.items():
        lines.append(f"| {k} ({goals.get(k, '-')}) | {'n/a' if v is None else f'{v:.2f}'} |")
    lines += ["", "Extra cost per input row over the built-in equivalent (conversion DuckDB ⇄ Arrow plus the kernel call):", ""]
    for k, v in conv.items():
        lines.append(f"- {k}: {v:.1f} ns/row")
    if pylib and "seconds" in pylib:
        ours = pylib.get("ours_crdt_merge_table_s")
        n_py = pylib["rows_per_replica"]
        lines += ["", f"Python crdt-merge 0.11.0 `merge()` (lists of dicts, 2 x {pylib['rows_per_replica']:,} rows): "
                  f"{pylib['seconds']:.2f} s, {pylib['input_rows_per_s']:,.0f} input rows/s"
                  + (f"; `crdt_merge(...)` in DuckDB on the same 2 x {n_py:,} rows: {ours:.2f} s, {2 * n_py / ours:,.0f} input rows/s "
                     f"(**{2 * n_py / ours / pylib['input_rows_per_s']:.0f}×**, goal ≥ 50×)." if ours else ".")]
        am = pylib.get("arrow_merge")
        if am and ours:
            lines += ["", f"Its fastest path, `ArrowMerge.merge` (pyarrow tables, 2 x {pylib['rows_per_replica']:,} rows): "
                      f"{am['seconds']:.2f} s, {am['input_rows_per_s']:,.0f} input rows/s; `crdt_merge(...)` in DuckDB: "
                      f"**{2 * n_py / ours / am['input_rows_per_s']:.1f}×** (goal ≥ 1.5×)."]
    Path(a.out + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
