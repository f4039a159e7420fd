"""The shared sql/*.slt corpus, answered by Polars with polars_crdt.

Each file's statements (CREATE TABLE, INSERT) run in a plain DuckDB with no extension, which only
holds the data. Each query is translated into a Polars computation: FROM and WHERE (which never
call crdt functions) are read through DuckDB into a Polars frame, and the SELECT list, GROUP BY
and ORDER BY become Polars expressions, every `crdt_*` call the polars_crdt function of the same
name. Queries outside that subset (joins, CASE, arithmetic on results, ...) are counted as skipped;
the test requires most of the corpus to be translated, and every translated query to give the
expected rows (or, for `query error`, an error containing the expected text).
"""
from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl
import pytest

import polars_crdt as crdt
from conftest import ROOT
from slt_runner import parse, render_rows

FILES = sorted((ROOT / "sql").glob("*.slt"))


# The FROM table of the query being translated: its name in the SELECT list is the whole row.
ROW_NAMES: set = set()


class Untranslatable(Exception):
    """The query uses SQL this translator does not cover."""


TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<id>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<qid>\"[^\"]*\")|(?P<op><=|>=|<>|!=|::|[(),\[\]=<>*+\-/;.|]))",
    re.S,
)


def tokenize(sql: str):
    pos, out = 0, []
    sql = sql.rstrip().rstrip(";")
    while pos < len(sql):
        m = TOKEN.match(sql, pos)
        if not m or m.end() == pos:
            if sql[pos:].strip() == "":
                break
            raise Untranslatable(f"token at {sql[pos:pos + 10]!r}")
        kind = m.lastgroup
        text = m.group(kind)
        out.append((kind, text, m.start(kind), m.end(kind)))
        pos = m.end()
    return sql, out


CLAUSES = ("select", "from", "where", "group", "order", "limit", "having", "union", "join", "with")


def split_clauses(sql, toks):
    depth, parts, cur = 0, {}, None
    for i, (kind, text, s, e) in enumerate(toks):
        if text in ("(", "["):
            depth += 1
        elif text in (")", "]"):
            depth -= 1
        elif depth == 0 and kind == "id" and text.lower() in CLAUSES:
            word = text.lower()
            if word in ("having", "union", "join", "with"):
                raise Untranslatable(word)
            if word in ("group", "order"):
                if i + 1 >= len(toks) or toks[i + 1][1].lower() != "by":
                    raise Untranslatable(word)
            cur = word
            parts[cur] = [i + (2 if word in ("group", "order") else 1), None]
            continue
        if cur is not None:
            parts[cur][1] = i
    return {k: toks[a:b + 1] if b is not None else [] for k, (a, b) in parts.items()}


def split_commas(toks):
    depth, items, cur = 0, [], []
    for t in toks:
        if t[1] in ("(", "["):
            depth += 1
        elif t[1] in (")", "]"):
            depth -= 1
        if t[1] == "," and depth == 0:
            items.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur:
        items.append(cur)
    return items


CAST_TYPES = {
    "text": pl.String, "varchar": pl.String, "bigint": pl.Int64, "integer": pl.Int32, "int": pl.Int32,
    "double": pl.Float64, "bytea": pl.Binary, "blob": pl.Binary, "boolean": pl.Boolean,
}

# crdt function -> (polars_crdt function, indexes of constant arguments passed as Python values)
FUNCS = {
    "crdt_lww": (crdt.lww, ()), "crdt_lww_nullable": (crdt.lww_nullable, ()), "crdt_max": (crdt.max, ()),
    "crdt_min": (crdt.min, ()), "crdt_priority": (crdt.priority, (1,)), "crdt_longest": (crdt.longest, ()),
    "crdt_union": (crdt.union, (1,)), "crdt_concat": (crdt.concat, (1,)), "crdt_gcounter": (crdt.gcounter, ()),
    "crdt_pncounter": (crdt.pncounter, ()), "crdt_state_merge_agg": (crdt.state_merge, ()),
    "crdt_state_merge": (crdt.state_merge_join, ()), "crdt_counter_value": (crdt.counter_value, ()),
    "crdt_typeof": (crdt.typeof, ()), "crdt_to_json": (crdt.to_json, ()), "crdt_hlc": (crdt.hlc, ()),
    "crdt_hlc_ms": (crdt.hlc_ms, ()), "crdt_hlc_counter": (crdt.hlc_counter, ()),
    "crdt_max_join": (crdt.max_join, ()), "crdt_min_join": (crdt.min_join, ()),
    "crdt_priority_join": (crdt.priority_join, (2,)), "crdt_union_join": (crdt.union_join, (2,)),
    "crdt_concat_join": (crdt.concat_join, (2,)),
    "crdt_hll_agg": (crdt.hll_agg, (1, 2)), "crdt_hll_count": (crdt.hll_count, ()),
    "crdt_theta_agg": (crdt.theta_agg, (1,)), "crdt_theta_count": (crdt.theta_count, ()),
    "crdt_theta_union": (crdt.theta_union, ()), "crdt_theta_intersect": (crdt.theta_intersect, ()),
    "crdt_bloom_agg": (crdt.bloom_agg, (1, 2)), "crdt_bloom_contains": (crdt.bloom_contains, ()),
    "crdt_cms_agg": (crdt.cms_agg, (3, 4)), "crdt_cms_estimate": (crdt.cms_estimate, ()),
    "crdt_minhash_agg": (crdt.minhash_agg, (1, 2)), "crdt_jaccard": (crdt.jaccard, ()),
    "crdt_minhash_bands": (crdt.minhash_bands, (1, 2)),
    "crdt_hll_to_pg_hll": (crdt.hll_to_pg_hll, ()), "crdt_hll_from_pg_hll": (crdt.hll_from_pg_hll, ()),
    "crdt_hll_to_datasketches": (crdt.hll_to_datasketches, ()),
    "crdt_hll_from_datasketches": (crdt.hll_from_datasketches, ()),
    "crdt_row_id": (crdt.row_id, ()), "crdt_content_id": (crdt.content_id, ()),
    "crdt_fingerprint_agg": (crdt.fingerprint_agg, ()),
    "crdt_fingerprint_state_agg": (crdt.fingerprint_state_agg, ()),
    "crdt_table_digest": (crdt.table_digest, ()), "crdt_fingerprint": (crdt.fingerprint, ()),
    "crdt_fingerprint_add": (crdt.fingerprint_add, ()), "crdt_fingerprint_sub": (crdt.fingerprint_sub, ()),
    "crdt_sync_key": (crdt.sync_key, ()), "crdt_json_merge": (crdt.json_merge, ()),
}


def _clocked_join(fn):
    # SQL order: (v1, ts1, v2, ts2) or (v1, ts1, r1, v2, ts2, r2); Python takes replicas last.
    def call(*a):
        if len(a) == 6:
            return fn(a[0], a[1], a[3], a[4], a[2], a[5])
        return fn(*a)
    return call


for _name, _fn in (("crdt_lww_join", crdt.lww_join), ("crdt_lww_nullable_join", crdt.lww_nullable_join),
                   ("crdt_longest_join", crdt.longest_join)):
    FUNCS[_name] = (_clocked_join(_fn), ())
# Built-in SQL functions the corpus uses next to crdt calls, as their Polars equivalents.
NATIVE = {
    "max": lambda e: e.max(),
    "min": lambda e: e.min(),
    "sum": lambda e: e.sum(),
    "count": lambda e: e.count(),
    "atan2": lambda y, x: pl.arctan2(y, x),
}
COMPARE = {"=": "__eq__", "<": "__lt__", ">": "__gt__", "<=": "__le__", ">=": "__ge__", "<>": "__ne__", "!=": "__ne__"}


def _unquote(s: str) -> str:
    return s[1:-1].replace("''", "'")


class Parser:
    def __init__(self, toks):
        self.t, self.i = toks, 0

    def peek(self, k=0):
        return self.t[self.i + k][1] if self.i + k < len(self.t) else None

    def take(self, expected=None):
        if self.i >= len(self.t):
            raise Untranslatable("unexpected end")
        tok = self.t[self.i]
        if expected is not None and tok[1].lower() != expected:
            raise Untranslatable(f"expected {expected}, found {tok[1]}")
        self.i += 1
        return tok

    def done(self):
        return self.i >= len(self.t)

    def value(self):
        """A Python constant: string, number, NULL, ARRAY[...] / [...], CAST(const AS T)."""
        kind, text, _, _ = self.take()
        if kind == "str":
            return _unquote(text)
        if kind == "num":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if text.lower() == "null":
            return None
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        if text.lower() == "array" or text == "[":
            if text.lower() == "array":
                self.take("[")
            items = []
            while self.peek() != "]":
                items.append(self.value())
                if self.peek() == ",":
                    self.take()
            self.take("]")
            return items
        raise Untranslatable(f"constant {text}")

    def expr(self):
        """A term, optionally compared (=, <, ...) or tested with IS [NOT] NULL."""
        left = self.term()
        op = self.peek()
        if op in COMPARE:
            self.take()
            right = self.term()
            return getattr(left, COMPARE[op])(right)
        if op is not None and op.lower() == "is":
            self.take()
            negate = (self.peek() or "").lower() == "not"
            if negate:
                self.take()
            self.take("null")
            return left.is_not_null() if negate else left.is_null()
        return left

    def term(self):
        kind, text, _, _ = self.t[self.i]
        low = text.lower()
        if kind == "id" and low == "cast":
            self.take()
            self.take("(")
            v = self.value()
            self.take("as")
            tname = self.take()[1].lower()
            if tname == "double" and (self.peek() or "").lower() == "precision":
                self.take()
            self.take(")")
            if tname not in CAST_TYPES:
                raise Untranslatable(f"cast to {tname}")
            dt = CAST_TYPES[tname]
            if dt == pl.Binary and isinstance(v, str):
                v = v.encode()
            if dt == pl.Float64 and isinstance(v, str):
                v = float(v)
            return pl.lit(v, dtype=dt)
        if kind == "id" and low == "crdt_version" and self.peek(1) == "(":
            self.take()
            self.take("(")
            self.take(")")
            return pl.lit(crdt.kernel_version())
        if low == "array" or text == "[":
            return pl.lit(pl.Series([self.value()]))
        if kind == "id" and self.peek(1) == "(" and low in NATIVE:
            self.take()
            self.take("(")
            if low == "count" and self.peek() == "*":
                self.take()
                self.take(")")
                return pl.len()
            args = [self.expr()]
            while self.peek() == ",":
                self.take()
                args.append(self.expr())
            self.take(")")
            return NATIVE[low](*args)
        if kind == "id" and self.peek(1) == "(":
            name = low
            if name not in FUNCS:
                raise Untranslatable(f"function {name}")
            fn, consts = FUNCS[name]
            self.take()
            self.take("(")
            args = []
            while self.peek() != ")":
                if len(args) in consts:
                    args.append(self.value())
                else:
                    args.append(self.expr())
                if self.peek() == ",":
                    self.take()
            self.take(")")
            return fn(*args)
        if kind == "id" and low in ROW_NAMES:
            # A whole-row reference (`t` in DuckDB and Postgres): the frame's row as a struct.
            self.take()
            return pl.struct(pl.all())
        if kind in ("id", "qid") and low not in ("null", "true", "false", "array", "case"):
            self.take()
            return pl.col(text.strip('"'))
        if kind in ("str", "num") or low in ("null", "true", "false"):
            v = self.value()
            return pl.lit(v)
        raise Untranslatable(f"expression at {text}")


def select_item(toks):
    p = Parser(toks)
    e = p.expr()
    alias = None
    if not p.done():
        p.take("as")
        alias = p.take()[1].strip('"')
    if not p.done():
        raise Untranslatable("operator after an expression")
    return e, alias


class PolarsCorpus:
    def __init__(self):
        self.db = duckdb.connect()

    def statement(self, sql):
        self.db.execute(sql)

    def query(self, sql) -> list:
        sql, toks = tokenize(sql)
        if not toks or toks[0][1].lower() != "select":
            raise Untranslatable("not a SELECT")
        parts = split_clauses(sql, toks)
        ROW_NAMES.clear()
        if "from" in parts and len(parts["from"]) == 1 and parts["from"][0][0] == "id":
            ROW_NAMES.add(parts["from"][0][1].lower())
        items = [select_item(t) for t in split_commas(parts["select"])]
        if "from" in parts:
            f = parts["from"]
            src = sql[f[0][2]:f[-1][3]]
            if "crdt_" in src.lower() or "," in [t[1] for t in split_commas(f)[0][:1]]:
                raise Untranslatable("crdt call in FROM")
            where = ""
            if "where" in parts:
                w = parts["where"]
                where = " WHERE " + sql[w[0][2]:w[-1][3]]
                if "crdt_" in where.lower():
                    raise Untranslatable("crdt call in WHERE")
            df = self.db.sql(f"SELECT * FROM {src}{where}").pl()
        else:
            if "where" in parts:
                raise Untranslatable("WHERE without FROM")
            df = pl.DataFrame({"__one": [1]})
        exprs = [e.alias(a) if a else e for e, a in items]
        names = [a for _, a in items]
        if "group" in parts:
            keys = [select_item(t)[0] for t in split_commas(parts["group"])]
            key_names = [k.meta.output_name() for k in keys]
            aggs = [
                e for e, (raw, a) in zip(exprs, items)
                if not (_is_plain_col(raw) and raw.meta.output_name() in key_names)
            ]
            out = df.group_by(keys, maintain_order=True).agg(aggs)
            out = out.select([pl.col(a or e.meta.output_name()) for e, a in zip(exprs, names)])
        else:
            out = df.select(exprs)
        if "order" in parts:
            order = []
            for t in split_commas(parts["order"]):
                if len(t) != 1:
                    raise Untranslatable("ORDER BY expression")
                order.append(t[0][1].strip('"'))
            out = out.sort(order, nulls_last=True)
        if "limit" in parts:
            out = out.head(int(parts["limit"][0][1]))
        return out.rows()


def _is_plain_col(e: pl.Expr) -> bool:
    try:
        return e.meta.is_column()
    except Exception:  # noqa: BLE001
        return False


def run_corpus_file(path: Path):
    engine = PolarsCorpus()
    ran, skipped, failures = 0, [], []
    for rec in parse(path.read_text(encoding="utf-8")):
        if rec.onlyif or rec.skipif:
            # Engine-specific records are about one engine's SQL, not the functions.
            if rec.onlyif:
                continue
        if rec.kind == "statement":
            try:
                engine.statement(rec.sql)
            except Exception as e:  # noqa: BLE001
                if not rec.expect_error:
                    skipped.append((rec.line, f"statement: {e}"))
            continue
        try:
            rows = engine.query(rec.sql)
            error = None
        except Untranslatable as e:
            skipped.append((rec.line, str(e)))
            continue
        except (duckdb.Error,) as e:
            skipped.append((rec.line, f"duckdb: {e}"))
            continue
        except Exception as e:  # noqa: BLE001 - any Polars error is a result here
            rows, error = None, str(e)
        ran += 1
        if rec.expect_error:
            # The corpus names SQL functions; polars_crdt reports the Python name (crdt_lww -> polars_crdt.lww).
            want_err = re.sub(r"^crdt_(\w+?)(_agg)?$", r"polars_crdt.\1", rec.error_substring)
            if error is None or want_err.lower() not in error.lower():
                failures.append(f"{path.name}:{rec.line}: expected error {want_err!r}, got {error or rows}\n  {rec.sql}")
            continue
        if error is not None:
            failures.append(f"{path.name}:{rec.line}: unexpected error: {error}\n  {rec.sql}")
            continue
        got, want = render_rows(rows), list(rec.expected)
        if rec.rowsort:
            got, want = sorted(got), sorted(want)
        if got != want:
            failures.append(f"{path.name}:{rec.line}: expected {want}, got {got}\n  {rec.sql}")
    return ran, skipped, failures


RESULTS = {}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_slt_file(path: Path):
    ran, skipped, failures = run_corpus_file(path)
    RESULTS[path.name] = (ran, len(skipped))
    assert not failures, "\n\n".join(failures)


def test_most_of_the_corpus_is_translated():
    total_ran = total_skipped = 0
    for path in FILES:
        ran, skipped, _ = run_corpus_file(path)
        total_ran += ran
        total_skipped += len(skipped)
    # 157 of 218 records translated when written; a drop means the translator lost ground.
    assert total_ran >= 150, (total_ran, total_skipped)
