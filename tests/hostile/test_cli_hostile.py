"""The crdt-merge CLI on malformed and extreme files: CSV, Parquet, JSON lines, wide tables,
MergeQL, SQL and state bytes for `inspect`. Each run is a process under RLIMIT_AS with a timeout.

Every case: no signal (returncode >= 0), no Rust panic text, and a non-zero exit has a
`crdt-merge: error:` line (docs/cli.md "Errors and exit codes"). Cases marked "error" must fail
(the input is malformed), "ok" must succeed (the input is valid, only large), "either" may do
both.
"""
import os
import random
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import harness
import states
import suite
from conftest import engine_enabled
from test_datafusion_hostile import binary

GOOD_CSV = "id,name,score,_ts\n1,Alice,80,1000.0\n2,Charlie,70,1000.0\n"


def write(d: Path, name: str, data) -> str:
    p = d / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return name


def wide_csv(ncols: int, nrows: int = 3, ts: float = 1000.0) -> str:
    cols = ["id"] + [f"c{i}" for i in range(ncols - 2)] + ["_ts"]
    lines = [",".join(cols)]
    for r in range(nrows):
        lines.append(",".join([str(r)] + [str(r * i) for i in range(ncols - 2)] + [str(ts)]))
    return "\n".join(lines) + "\n"


def build_cases(d: Path, scale: int) -> list[dict]:
    rnd = random.Random(suite.SEED)
    cases = []

    def case(cid, argv, expect="either", stdin=None):
        cases.append({"id": cid, "argv": argv, "expect": expect, "stdin": stdin})

    a = write(d, "a.csv", GOOD_CSV)
    write(d, "b.csv", "id,name,score,_ts\n1,Bob,90,2000.0\n3,Diana,85,1000.0\n")
    case("merge/valid", ["merge", a, "b.csv", "--key", "id"], "ok")

    # --- CSV ---
    csvs = {
        "ragged_extra": "id,name,_ts\n1,a,1,EXTRA\n2,b,2\n",
        "ragged_short": "id,name,_ts\n1,a\n2,b,2\n",
        "bad_quote": 'id,name,_ts\n1,"unterminated,1\n2,b,2\n',
        "quote_in_field": 'id,name,_ts\n1,a"b,1\n',
        "invalid_utf8": b"id,name,_ts\n1,\xff\xfe\xc3\x28,1\n",
        "nul_bytes": b"id,name,_ts\n1,a\x00b,1\n",
        "bom": "\ufeffid,name,_ts\n1,a,1\n",
        "empty": "",
        "header_only": "id,name,_ts\n",
        "dup_columns": "id,id,_ts\n1,2,3\n",
        "no_key": "name,_ts\na,1\n",
        "huge_field": "id,name,_ts\n1," + "x" * (2**20 * scale) + ",1\n",
        "huge_number": "id,name,_ts\n1,a,1e999999\n",
        "nan_ts": "id,name,_ts\n1,a,NaN\n",
        "text_ts": "id,name,_ts\n1,a,yesterday\n",
        "newline_in_header": 'id,"na\nme",_ts\n1,a,1\n',
        "clashing_names": "id,__source,name__source,__conflicts,_ts\n1,x,y,z,1\n",
        "crlf": "id,name,_ts\r\n1,a,1\r\n",
        "only_newlines": "\n\n\n",
        "binary_garbage": bytes(rnd.randrange(256) for _ in range(4096)),
    }
    for name, data in csvs.items():
        f = write(d, f"{name}.csv", data)
        case(f"merge/csv:{name}", ["merge", a, f, "--key", "id"])
        if name in ("bad_quote", "invalid_utf8", "binary_garbage", "huge_field"):
            case(f"sql/csv:{name}", ["sql", f"SELECT * FROM '{f}'"])
            case(f"query/csv:{name}", ["query", f"MERGE '{a}', '{f}' ON id"])

    # --- Parquet ---
    import duckdb

    real = d / "real.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT i AS id, 'n' || i AS name, i * 1.5 AS _ts FROM range(2000) t(i)) "
                f"TO '{real}' (FORMAT parquet, ROW_GROUP_SIZE 500)")
    con.close()
    rb = real.read_bytes()
    write(d, "b.parquet", rb)
    case("merge/parquet:valid", ["merge", "b.parquet", "b.parquet", "--key", "id"], "ok")
    parquets = {
        "par1_ffffffff": b"PAR1\xff\xff\xff\xffPAR1",
        "par1_only": b"PAR1",
        "par1_zero_len": b"PAR1\x00\x00\x00\x00PAR1",
        "empty": b"",
        "random": bytes(rnd.randrange(256) for _ in range(1024)),
        "footer_len_lies": rb[:-8] + struct.pack("<I", len(rb) * 4) + b"PAR1",
        "footer_flip": rb[:-40] + bytes(b ^ 0x55 for b in rb[-40:-8]) + rb[-8:],
    }
    cuts = sorted({len(rb) // k for k in (2, 3, 4, 8, 16)} | {len(rb) - 1, len(rb) - 8, 12})
    if scale > 1:
        cuts = sorted(set(cuts) | set(rnd.sample(range(1, len(rb)), min(len(rb) - 1, 40 * scale))))
    for c in cuts:
        parquets[f"truncated_{c}"] = rb[:c]
    for i in range(3 * scale):
        m = bytearray(rb)
        for _ in range(8):
            m[rnd.randrange(len(m))] ^= 1 << rnd.randrange(8)
        parquets[f"flipped_{i}"] = bytes(m)
    for name, data in parquets.items():
        f = write(d, f"{name}.parquet", data)
        ex = "either" if name.startswith("flipped") else "error"
        case(f"merge/parquet:{name}", ["merge", "b.parquet", f, "--key", "id"], ex)
        if name in ("par1_ffffffff", "footer_len_lies") or name.startswith("truncated_"):
            case(f"sql/parquet:{name}", ["sql", f"SELECT count(*) FROM '{f}'"], ex)
        if name == "par1_ffffffff":
            case(f"query/parquet:{name}", ["query", f"MERGE 'b.parquet', '{f}' ON id"], ex)

    # --- JSON lines ---
    jsons = {
        "invalid": '{"id": 1, "name": "a", "_ts": 1}\n{"id": 2, "name": \n',
        "array_not_lines": '[{"id": 1, "_ts": 1}]\n',
        "scalar_line": '1\n',
        "deep_nesting": '{"id": 1, "_ts": 1, "x": ' + "[" * 20000 + "]" * 20000 + "}\n",
        "huge_number": '{"id": 1, "_ts": 1e400}\n',
        "big_int": '{"id": 18446744073709551616, "_ts": 1}\n',
        "mixed_types": '{"id": 1, "v": 1, "_ts": 1}\n{"id": 2, "v": "text", "_ts": 2}\n{"id": 3, "v": [1], "_ts": 3}\n',
        "invalid_utf8": b'{"id": 1, "name": "\xff", "_ts": 1}\n',
        "empty": "",
        "dup_keys": '{"id": 1, "id": 2, "_ts": 1}\n',
        "nul": '{"id": 1, "name": "a\\u0000b", "_ts": 1}\n',
        "lone_surrogate": '{"id": 1, "name": "\\ud800", "_ts": 1}\n',
    }
    for name, data in jsons.items():
        f = write(d, f"{name}.json", data)
        case(f"merge/json:{name}", ["merge", a, f, "--key", "id"])
        if name in ("invalid", "deep_nesting"):
            case(f"sql/json:{name}", ["sql", f"SELECT * FROM '{f}'"])

    # --- wide files (finding 7: stack overflow from 350 columns) ---
    for n in (600,) + ((1200, 3000) if scale > 1 else ()):
        w1 = write(d, f"wide{n}_a.csv", wide_csv(n, ts=1000.0))
        w2 = write(d, f"wide{n}_b.csv", wide_csv(n, ts=2000.0))
        case(f"merge/wide:{n}", ["merge", w1, w2, "--key", "id"], "ok")
        case(f"merge/wide_provenance:{n}", ["merge", w1, w2, "--key", "id", "--provenance"], "ok")
        case(f"query/wide_provenance:{n}", ["query", f"MERGE '{w1}', '{w2}' ON id PROVENANCE"], "ok")
        case(f"sql/wide:{n}", ["sql", f"SELECT * FROM '{w1}'"], "ok")
        wp = d / f"wide{n}.parquet"
        con = duckdb.connect()
        con.execute(f"COPY (SELECT * FROM read_csv_auto('{d / w1}')) TO '{wp}' (FORMAT parquet)")
        con.close()
        case(f"merge/wide_parquet:{n}", ["merge", wp.name, w2, "--key", "id"], "ok")

    # --- MergeQL and SQL text ---
    case("query/limit_2_63", ["query", f"MERGE '{a}', 'b.csv' ON id LIMIT 9223372036854775808"])
    case("query/limit_2_64", ["query", f"MERGE '{a}', 'b.csv' ON id LIMIT 18446744073709551616"])
    case("query/huge_text", ["query", "MERGE " + ", ".join([f"'{a}'"] * 1200) + " ON id"])
    case("query/deep_where", ["query", f"MERGE '{a}', 'b.csv' ON id WHERE " + "(" * 5000 + "score > 1" + ")" * 5000])
    case("query/unknown_column", ["query", f"MERGE '{a}', 'b.csv' ON nope"], "error")
    case("query/nul", ["query", f"MERGE '{a}', 'b.csv' ON id\x01"], "error")
    case("sql/deep_parens", ["sql", "SELECT " + "(" * 5000 + "1" + ")" * 5000])
    case("sql/mergeql_bad", ["sql", "SELECT * FROM crdt_mergeql('MERGE a ON')"], "error")
    case("sql/mergeql_null", ["sql", "SELECT * FROM crdt_mergeql(NULL)"], "error")
    case("sql/missing_file", ["sql", "SELECT * FROM 'nope.csv'"], "error")
    case("sql/empty", ["sql", ";"], "error")
    # usage errors also get the prefix (docs/cli.md; finding 10)
    case("usage/one_input", ["merge", a, "--key", "id"], "error")
    case("usage/unknown_subcommand", ["frobnicate"], "error")
    case("usage/bad_format", ["sql", "SELECT 1", "--format", "xml"], "error")
    case("merge/bad_strategy", ["merge", a, "b.csv", "--key", "id", "--strategy", "score"], "error")
    case("merge/tombstone_text", ["merge", a, "b.csv", "--key", "id", "--tombstone", "name"])
    case("merge/key_missing", ["merge", a, "b.csv", "--key", "nope"], "error")

    # --- inspect: state bytes ---
    insp = dict(states.structural())
    # the JSON bomb takes 18 s to inflate in a debug build: DataFusion's crdt_typeof has it
    insp.update({k: v for k, v in suite.bombs().items()
                 if scale > 1 or k != "bomb_json_vector_clock_array"})
    valid = states.valid_states()
    insp.update(states.truncations({k: valid[k] for k in ("g_counter", "or_set", "lww_map", "vector_clock")},
                                   every=scale > 1))
    insp.update(states.bitflips(valid, rnd, scale))
    for name, data in insp.items():
        f = write(d, f"state_{name}.bin", data)
        ok_ish = name.startswith("flip_") or name in states.VALID_EXTREMES
        case(f"inspect/{name}", ["inspect", f], "either" if ok_ish else "error")
    if scale > 1:
        case("inspect/hex_bomb", ["inspect", "-"], "error",
             stdin=("\\x" + insp["bomb_zlib_list_262M_none"].hex()).encode())
    case("inspect/hex_odd", ["inspect", "-"], "error", stdin=b"\\x4352445")
    case("inspect/valid", ["inspect", write(d, "state_valid.bin", valid["g_counter"])], "ok")
    # inspect of a valid state, and of truncations, should fail only on malformed ones
    for k in ("header_only", "version_0"):
        for c in cases:
            if c["id"] == f"inspect/{k}":
                c["expect"] = "either"
    return cases


def judge_cli(c: dict, r: dict) -> str | None:
    """The failure reason, or None."""
    if r["status"] in ("signal", "timeout"):
        return r["what"]
    err = r["stderr"]
    if "panicked at" in err or "stack backtrace" in err.lower():
        return "Rust panic: " + harness.first_line(err[err.find("panicked"):] if "panicked" in err else err, 300)
    if harness.OOM_TEXT.search(err):
        return "memory above the limit: " + harness.first_line(err, 300)
    if r["rc"] != 0 and "crdt-merge: error:" not in err:
        return f"exit {r['rc']} without a `crdt-merge: error:` line: {harness.first_line(err, 300)}"
    if c["expect"] == "error" and r["rc"] == 0:
        return "malformed input accepted (exit 0): " + harness.first_line(r["stdout"], 200)
    if c["expect"] == "ok" and r["rc"] != 0:
        return f"valid input refused (exit {r['rc']}): {harness.first_line(err, 300)}"
    return None


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    engine_enabled("cli")
    b = binary()
    d = tmp_path_factory.mktemp("cli")
    cases = build_cases(d, harness.SCALE)

    def one(c):
        t0 = time.monotonic()
        r = harness.run_cli([b] + c["argv"], stdin=c["stdin"], cwd=str(d))
        r["seconds"] = round(time.monotonic() - t0, 2)
        return c, r, judge_cli(c, r)

    with suite.Timer() as t, ThreadPoolExecutor(harness.WORKERS) as ex:
        out = list(ex.map(one, cases))
    rows = [{"engine": "cli", "id": c["id"], "fn": c["id"].split("/")[0], "verdict": "fail" if why else "pass",
             "reason": why or "", "status": r["status"], "rc": r.get("rc"), "seconds": r["seconds"],
             "msg": harness.first_line(r.get("stderr", ""), 300),
             "sql": " ".join(x if len(x) < 200 else x[:200] + "..." for x in c["argv"])} for c, r, why in out]
    harness.write_report("cli", rows, {"seconds": round(t.s, 1)})
    print(f"\nhostile[cli]: {len(rows)} runs in {t.s:.0f} s")
    return rows


@pytest.mark.parametrize("group", ["merge", "query", "sql", "inspect", "usage"])
def test_cli(outcome, group):
    mine = [r for r in outcome if r["fn"] == group]
    assert mine, group
    fails = [r for r in mine if r["verdict"] == "fail"]
    assert not fails, harness.summarize(mine)
