#!/usr/bin/env python3
"""A small sqllogictest runner for the `sql/*.slt` corpus (conventions in sql/README.md).

Engine-agnostic: it needs only an object with `execute(sql) -> list of row tuples` (rows may be
empty for statements) that raises an exception whose `str()` is the engine's error message, and
an engine label for `onlyif` / `skipif`. `DbApiEngine` wraps any DB-API-like connection
(`conn.execute(sql)` or `conn.cursor().execute(sql)`, then `fetchall()`).

    from slt_runner import run_file, DbApiEngine
    failures = run_file("sql/lww.slt", DbApiEngine(conn, "duckdb"))

Command line (DuckDB):
    python tests/slt_runner.py --extension build/crdt_merge.duckdb_extension sql/*.slt
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import decimal
import math
import sys
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence


@dataclasses.dataclass
class Record:
    kind: str  # "statement" or "query"
    sql: str
    line: int
    expect_error: bool = False
    error_substring: str = ""
    types: str = ""
    rowsort: bool = False
    expected: list = dataclasses.field(default_factory=list)
    onlyif: list = dataclasses.field(default_factory=list)
    skipif: list = dataclasses.field(default_factory=list)

    def applies_to(self, engine: str) -> bool:
        if self.onlyif and engine not in self.onlyif:
            return False
        return engine not in self.skipif


@dataclasses.dataclass
class Failure:
    path: str
    line: int
    sql: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}\n  sql: {self.sql.strip()}"


def parse(text: str) -> list[Record]:
    """Parses a .slt file into records."""
    lines = text.split("\n")
    records: list[Record] = []
    i = 0
    onlyif: list[str] = []
    skipif: list[str] = []
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        words = stripped.split()
        head = words[0]
        if head == "onlyif":
            onlyif.append(words[1])
            i += 1
            continue
        if head == "skipif":
            skipif.append(words[1])
            i += 1
            continue
        if head == "hash-threshold":
            i += 1
            continue
        start = i + 1
        if head == "statement":
            rec = Record("statement", "", start, onlyif=onlyif, skipif=skipif)
            if len(words) > 1 and words[1] == "error":
                rec.expect_error = True
                rec.error_substring = stripped.split(None, 2)[2] if len(words) > 2 else ""
            i += 1
            body = []
            while i < len(lines) and lines[i].strip():
                body.append(lines[i])
                i += 1
            rec.sql = "\n".join(body)
        elif head == "query":
            rec = Record("query", "", start, onlyif=onlyif, skipif=skipif)
            if len(words) > 1 and words[1] == "error":
                rec.expect_error = True
                rec.error_substring = stripped.split(None, 2)[2] if len(words) > 2 else ""
            else:
                rec.types = words[1] if len(words) > 1 else ""
                rec.rowsort = "rowsort" in words[2:]
            i += 1
            body = []
            while i < len(lines) and lines[i].strip() and lines[i].strip() != "----":
                body.append(lines[i])
                i += 1
            rec.sql = "\n".join(body)
            if i < len(lines) and lines[i].strip() == "----":
                i += 1
                while i < len(lines) and lines[i] != "":
                    rec.expected.append(lines[i])
                    i += 1
        else:
            raise ValueError(f"line {start}: unknown record type {head!r}")
        records.append(rec)
        onlyif, skipif = [], []
    return records


def normalise(value) -> str:
    """Prints one value as sql/README.md prescribes."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value == 0:
            return "0.0"
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, str):
        return value if value != "" else "(empty)"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(normalise(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {normalise(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    return str(value)


def render_rows(rows: Iterable[Sequence]) -> list[str]:
    return [" ".join(normalise(v) for v in row) for row in rows]


class DbApiEngine:
    """Wraps a DB-API-like connection as an engine for `run_file`."""

    def __init__(self, conn, name: str):
        self.conn = conn
        self.name = name

    def execute(self, sql: str) -> list:
        if hasattr(self.conn, "execute"):
            cur = self.conn.execute(sql)
        else:
            cur = self.conn.cursor()
            cur.execute(sql)
        try:
            rows = cur.fetchall()
        except Exception:  # statements without a result set
            rows = []
        return rows or []


def run_records(records: list[Record], engine, path: str = "<slt>") -> tuple[int, list[Failure]]:
    """Runs records in order on `engine`; returns (records run, failures)."""
    failures: list[Failure] = []
    ran = 0
    for rec in records:
        if not rec.applies_to(engine.name):
            continue
        ran += 1
        try:
            rows = engine.execute(rec.sql)
            error = None
        except Exception as e:  # noqa: BLE001 - any engine error is a result here
            rows, error = None, str(e)
        if rec.expect_error:
            if error is None:
                failures.append(Failure(path, rec.line, rec.sql,
                                        f"expected an error containing {rec.error_substring!r}, got success"))
            elif rec.error_substring.lower() not in error.lower():
                failures.append(Failure(path, rec.line, rec.sql,
                                        f"expected an error containing {rec.error_substring!r}, got: {error}"))
            continue
        if error is not None:
            failures.append(Failure(path, rec.line, rec.sql, f"unexpected error: {error}"))
            continue
        if rec.kind == "query":
            got = render_rows(rows)
            want = list(rec.expected)
            if rec.rowsort:
                got, want = sorted(got), sorted(want)
            if got != want:
                failures.append(Failure(path, rec.line, rec.sql,
                                        "result mismatch\n  expected:\n    " + "\n    ".join(want)
                                        + "\n  got:\n    " + "\n    ".join(got)))
    return ran, failures


def run_file(path, engine) -> list[Failure]:
    """Runs one .slt file on `engine` (which should be a fresh database)."""
    records = parse(Path(path).read_text(encoding="utf-8"))
    return run_records(records, engine, str(path))[1]


def duckdb_engine(extension: str, config: Optional[dict] = None) -> DbApiEngine:
    """A fresh in-memory DuckDB with the crdt_merge extension loaded."""
    import duckdb

    cfg = {"allow_unsigned_extensions": "true"}
    cfg.update(config or {})
    conn = duckdb.connect(config=cfg)
    conn.execute(f"LOAD '{extension}'")
    return DbApiEngine(conn, "duckdb")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="Run sql/*.slt files on DuckDB with crdt_merge loaded.")
    p.add_argument("files", nargs="+")
    p.add_argument("--extension", default="build/crdt_merge.duckdb_extension")
    a = p.parse_args(argv)
    total = 0
    for f in a.files:
        failures = run_file(f, duckdb_engine(str(Path(a.extension).resolve())))
        total += len(failures)
        print(f"{f}: {'ok' if not failures else f'{len(failures)} failure(s)'}")
        for fl in failures:
            print(str(fl))
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
