"""The generated call matrix: for every catalogue function (catalogue.py), in one engine's SQL,
calls with wrong argument types, NULLs in every position, extreme values and malformed state
bytes, each with the oracle its answer must satisfy.

A case is a dict:
    id      stable, readable name: "<fn>/<sig>/<what>"
    fn      the function under test (an error must name it, or at least `crdt_`)
    sql     the statement
    oracle  what an answer must satisfy when the call does not fail:
              "any"       any answer
              "nonnull"   not a single NULL (every argument is non-NULL and the function has no
                          reason to answer NULL)
              "equal"     the statement returns two columns, the result and the value it must
                          equal (identity: f over one cell = that cell)
              "refuse"    the call must fail: an argument is outside the documented types
              "answer"    the call must answer (a valid call)
              "answer-equal"  must answer, and equal (host calls on valid input)
    why     for "refuse": which argument and type
"""
from __future__ import annotations

import random
from pathlib import Path
from dataclasses import dataclass

import states
from catalogue import Function, Signature

# --- probe values -----------------------------------------------------------------------------
# (family, label, literal). Every literal is explicitly typed, so an engine never turns a string
# literal into the parameter's type by itself (that would be the engine's cast error, not ours).
# Probes an engine cannot even SELECT are dropped before generating (validate_probes).

DUCKDB_PROBES = [
    ("int", "tinyint_min", "(-128)::TINYINT"),
    ("int", "smallint_max", "32767::SMALLINT"),
    ("int", "integer_min", "(-2147483648)::INTEGER"),
    ("int", "bigint_min", "(-9223372036854775808)::BIGINT"),
    ("int", "bigint_max", "9223372036854775807::BIGINT"),
    ("int", "bigint_0", "0::BIGINT"),
    ("int", "bigint_-1", "(-1)::BIGINT"),
    ("int", "bigint_2_47", "140737488355328::BIGINT"),
    ("uint", "utinyint_max", "255::UTINYINT"),
    ("uint", "uinteger_max", "4294967295::UINTEGER"),
    ("uint", "ubigint_2_63", "9223372036854775808::UBIGINT"),
    ("uint", "ubigint_max", "18446744073709551615::UBIGINT"),
    ("hugeint", "hugeint_5", "5::HUGEINT"),
    ("hugeint", "hugeint_max", "170141183460469231731687303715884105727::HUGEINT"),
    ("hugeint", "hugeint_min", "(-170141183460469231731687303715884105728)::HUGEINT"),
    ("hugeint", "uhugeint_2_127", "170141183460469231731687303715884105728::UHUGEINT"),
    ("hugeint", "uhugeint_max", "340282366920938463463374607431768211455::UHUGEINT"),
    ("float", "double_nan", "'nan'::DOUBLE"),
    ("float", "double_inf", "'inf'::DOUBLE"),
    ("float", "double_-inf", "'-inf'::DOUBLE"),
    ("float", "double_-0", "'-0.0'::DOUBLE"),
    ("float", "double_max", "1.7976931348623157e308::DOUBLE"),
    ("float", "double_denorm", "5e-324::DOUBLE"),
    ("float", "float_nan", "'nan'::FLOAT"),
    ("float", "float_1.5", "1.5::FLOAT"),
    ("decimal", "decimal_4_1", "1.5::DECIMAL(4,1)"),
    ("decimal", "decimal_18_3_neg", "(-0.001)::DECIMAL(18,3)"),
    ("decimal", "decimal_38_0_max", "99999999999999999999999999999999999999::DECIMAL(38,0)"),
    ("decimal", "decimal_38_10", "1234567890123456789012345678.0123456789::DECIMAL(38,10)"),
    ("text", "text_empty", "''::VARCHAR"),
    ("text", "text_a", "'a'::VARCHAR"),
    ("text", "text_1MB", "repeat('x', 1048576)"),
    ("text", "text_unicode", "'é中😀\u200b'::VARCHAR"),
    ("text", "text_newline", "('a' || chr(10) || 'b | c')"),
    ("text", "text_nul", "('a' || chr(0) || 'b')"),
    ("text", "text_quote_sql", "'x''); DROP TABLE t; --'::VARCHAR"),
    ("text", "text_emoji_100k", "repeat('😀', 100000)"),
    ("blob", "blob_empty", "''::BLOB"),
    ("blob", "blob_ff", "'\\xFF'::BLOB"),
    ("blob", "blob_crdt", "'CRDT'::BLOB"),
    ("bool", "bool_true", "true"),
    ("bool", "bool_false", "false"),
    ("date", "date_min", "'-4713-11-24'::DATE"),
    ("date", "date_0001", "'0001-01-01'::DATE"),
    ("date", "date_max", "'5881580-07-10'::DATE"),
    ("date", "date_inf", "'infinity'::DATE"),
    ("date", "date_-inf", "'-infinity'::DATE"),
    ("timestamp", "ts_epoch", "'1970-01-01'::TIMESTAMP"),
    ("timestamp", "ts_max", "'294247-01-10 04:00:54.775806'::TIMESTAMP"),
    ("timestamp", "ts_inf", "'infinity'::TIMESTAMP"),
    ("timestamp", "ts_-inf", "'-infinity'::TIMESTAMP"),
    ("timestamp", "ts_ns_max", "'2262-04-11 23:47:16.854775806'::TIMESTAMP_NS"),
    ("timestamp", "ts_s", "'2020-01-01'::TIMESTAMP_S"),
    ("timestamp", "ts_ms", "'2020-01-01'::TIMESTAMP_MS"),
    ("timestamptz", "tstz", "'2020-01-01 00:00:00+00'::TIMESTAMPTZ"),
    ("time", "time_noon", "'12:00:00'::TIME"),
    ("time", "time_max", "'23:59:59.999999'::TIME"),
    ("timetz", "timetz", "'12:00:00+01'::TIMETZ"),
    ("interval", "interval_day", "INTERVAL 1 DAY"),
    ("interval", "interval_-month", "INTERVAL '-1 month'"),
    ("enum", "enum_y", "'y'::ENUM('x', 'y')"),
    ("uuid", "uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::UUID"),
    ("list", "list_empty", "[]::BIGINT[]"),
    ("list", "list_null", "[NULL]::BIGINT[]"),
    ("list", "list_1_null", "[1, NULL]::BIGINT[]"),
    ("list", "list_text", "['b', 'a', NULL]::VARCHAR[]"),
    ("list", "list_nested", "[[1], [2, NULL]]::BIGINT[][]"),
    ("list", "list_struct", "[{'a': 1}, NULL]"),
    ("list", "list_10k", "range(10000)"),
    ("array", "array_fixed", "[1, 2]::BIGINT[2]"),
    ("struct", "struct_a1", "{'a': 1}"),
    ("struct", "struct_null", "{'a': NULL::BIGINT}"),
    ("struct", "struct_nested", "{'a': {'b': [1, NULL]}}"),
    ("map", "map", "MAP {'k': 1}"),
    ("varint", "varint_2_53_1", "'9007199254740993'::VARINT"),
    ("bit", "bit", "'101'::BIT"),
    ("union", "union", "union_value(k := 1)"),
]

POSTGRES_PROBES = [
    ("int", "int2_min", "(-32768)::int2"),
    ("int", "int4_max", "2147483647::int4"),
    ("int", "int8_min", "(-9223372036854775808)::int8"),
    ("int", "int8_max", "9223372036854775807::int8"),
    ("int", "int8_0", "0::int8"),
    ("int", "int8_-1", "(-1)::int8"),
    ("int", "int8_2_47", "140737488355328::int8"),
    ("decimal", "numeric_2_63", "9223372036854775808::numeric"),
    ("decimal", "numeric_2_64_1", "18446744073709551615::numeric"),
    ("decimal", "numeric_1e100", "1e100::numeric"),
    ("decimal", "numeric_nan", "'NaN'::numeric"),
    ("decimal", "numeric_inf", "'Infinity'::numeric"),
    ("decimal", "numeric_1.5", "1.5::numeric(4,1)"),
    ("decimal", "numeric_tiny", "0.000000000000000000001::numeric"),
    ("float", "float8_nan", "'NaN'::float8"),
    ("float", "float8_inf", "'Infinity'::float8"),
    ("float", "float8_-inf", "'-Infinity'::float8"),
    ("float", "float8_-0", "'-0'::float8"),
    ("float", "float8_max", "1.7976931348623157e308::float8"),
    ("float", "float8_denorm", "5e-324::float8"),
    ("float", "float4_nan", "'NaN'::float4"),
    ("text", "text_empty", "''::text"),
    ("text", "text_a", "'a'::text"),
    ("text", "text_1MB", "repeat('x', 1048576)"),
    ("text", "text_unicode", "'é中😀\u200b'::text"),
    ("text", "text_newline", "E'a\\nb | c'::text"),
    ("text", "text_quote_sql", "'x''); DROP TABLE t; --'::text"),
    ("text", "varchar_a", "'a'::varchar(3)"),
    ("text", "bpchar_a", "'a'::char(3)"),
    ("text", "name_a", "'a'::name"),
    ("blob", "bytea_empty", "''::bytea"),
    ("blob", "bytea_ff", "'\\xff'::bytea"),
    ("bool", "bool_true", "true"),
    ("date", "date_min", "'4713-01-01 BC'::date"),
    ("date", "date_max", "'5874897-12-31'::date"),
    ("date", "date_inf", "'infinity'::date"),
    ("date", "date_-inf", "'-infinity'::date"),
    ("timestamp", "ts_min", "'4713-01-01 00:00:00 BC'::timestamp"),
    ("timestamp", "ts_max", "'294276-12-31 23:59:59'::timestamp"),
    ("timestamp", "ts_inf", "'infinity'::timestamp"),
    ("timestamptz", "tstz", "'2020-01-01 00:00:00+00'::timestamptz"),
    ("timestamptz", "tstz_-inf", "'-infinity'::timestamptz"),
    ("time", "time_noon", "'12:00'::time"),
    ("timetz", "timetz", "'12:00+01'::timetz"),
    ("interval", "interval_day", "'1 day'::interval"),
    ("enum", "enum_y", "'y'::hostile_enum"),
    ("uuid", "uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid"),
    ("json", "json", "'{\"a\": 1}'::json"),
    ("json", "jsonb", "'{\"a\": 1}'::jsonb"),
    ("list", "array_empty", "'{}'::int8[]"),
    ("list", "array_null", "ARRAY[NULL]::int8[]"),
    ("list", "array_1_null", "ARRAY[1, NULL]::int8[]"),
    ("list", "array_text", "ARRAY['b', 'a', NULL]::text[]"),
    ("list", "array_2d", "ARRAY[[1, 2], [3, 4]]::int8[]"),
    ("list", "array_lower_bound", "'[5:6]={1,2}'::int8[]"),
    ("list", "array_10k", "ARRAY(SELECT generate_series(1, 10000))::int8[]"),
    ("struct", "row", "ROW(1, 'a'::text)"),
    ("struct", "composite", "ROW(1, 'a')::hostile_pair"),
    ("other", "point", "point(1, 2)"),
    ("other", "inet", "'1.2.3.4'::inet"),
    ("other", "int4range", "int4range(1, 3)"),
    ("other", "money", "1::money"),
    ("other", "oid", "1::oid"),
    ("bit", "bit", "B'101'"),
    ("other", "tsvector", "'a b'::tsvector"),
    ("other", "xml", "'<a/>'::xml"),
]
POSTGRES_SETUP = [
    "CREATE TYPE hostile_enum AS ENUM ('x', 'y')",
    "CREATE TYPE hostile_pair AS (a int, b text)",
]

DATAFUSION_PROBES = [
    ("int", "int8_min", "arrow_cast(-128, 'Int8')"),
    ("int", "int16_max", "arrow_cast(32767, 'Int16')"),
    ("int", "int64_min", "arrow_cast(-9223372036854775807 - 1, 'Int64')"),
    ("int", "int64_max", "CAST(9223372036854775807 AS BIGINT)"),
    ("int", "int64_0", "CAST(0 AS BIGINT)"),
    ("int", "int64_-1", "CAST(-1 AS BIGINT)"),
    ("int", "int64_2_47", "CAST(140737488355328 AS BIGINT)"),
    ("uint", "uint8_max", "arrow_cast(255, 'UInt8')"),
    ("uint", "uint64_2_63", "arrow_cast('9223372036854775808', 'UInt64')"),
    ("uint", "uint64_max", "arrow_cast('18446744073709551615', 'UInt64')"),
    ("float", "double_nan", "CAST('NaN' AS DOUBLE)"),
    ("float", "double_inf", "CAST('inf' AS DOUBLE)"),
    ("float", "double_-inf", "CAST('-inf' AS DOUBLE)"),
    ("float", "double_-0", "CAST('-0.0' AS DOUBLE)"),
    ("float", "double_max", "CAST(1.7976931348623157e308 AS DOUBLE)"),
    ("float", "float32_nan", "arrow_cast('NaN', 'Float32')"),
    ("float", "float16", "arrow_cast(1.5, 'Float16')"),
    ("decimal", "decimal_4_1", "CAST(1.5 AS DECIMAL(4,1))"),
    ("decimal", "decimal_38_0_max", "CAST('99999999999999999999999999999999999999' AS DECIMAL(38,0))"),
    ("decimal", "decimal256", "arrow_cast(CAST(1.5 AS DECIMAL(4,1)), 'Decimal256(40, 1)')"),
    ("text", "text_empty", "CAST('' AS VARCHAR)"),
    ("text", "text_a", "CAST('a' AS VARCHAR)"),
    ("text", "text_1MB", "repeat('x', 1048576)"),
    ("text", "text_unicode", "CAST('é中😀\u200b' AS VARCHAR)"),
    ("text", "text_newline", "concat('a', chr(10), 'b | c')"),
    ("text", "text_nul", "concat('a', chr(0), 'b')"),
    ("text", "large_utf8", "arrow_cast('a', 'LargeUtf8')"),
    ("text", "utf8_view", "arrow_cast('a', 'Utf8View')"),
    ("blob", "binary_empty", "X''"),
    ("blob", "binary_ff", "X'FF'"),
    ("blob", "large_binary", "arrow_cast(X'00', 'LargeBinary')"),
    ("blob", "binary_view", "arrow_cast(X'00', 'BinaryView')"),
    ("fsb", "fixed_size_binary", "arrow_cast(X'0001', 'FixedSizeBinary(2)')"),
    ("bool", "bool_true", "true"),
    ("date", "date_0001", "DATE '0001-01-01'"),
    ("date", "date_9999", "DATE '9999-12-31'"),
    ("date", "date64", "arrow_cast(DATE '2020-01-01', 'Date64')"),
    ("timestamp", "ts_epoch", "TIMESTAMP '1970-01-01 00:00:00'"),
    ("timestamp", "ts_ns_max", "arrow_cast(9223372036854775807, 'Timestamp(Nanosecond, None)')"),
    ("timestamp", "ts_s_min", "arrow_cast(-9223372036854775807 - 1, 'Timestamp(Second, None)')"),
    ("timestamptz", "tstz", "arrow_cast(0, 'Timestamp(Second, Some(\"UTC\"))')"),
    ("time", "time_noon", "CAST('12:00:00' AS TIME)"),
    ("interval", "interval_day", "INTERVAL '1 day'"),
    ("duration", "duration", "arrow_cast(1, 'Duration(Second)')"),
    ("enum", "dictionary", "arrow_cast('y', 'Dictionary(Int32, Utf8)')"),
    ("list", "list_empty", "arrow_cast(make_array(), 'List(Int64)')"),
    ("list", "list_null", "make_array(CAST(NULL AS BIGINT))"),
    ("list", "list_1_null", "make_array(CAST(1 AS BIGINT), NULL)"),
    ("list", "list_text", "make_array('b', 'a', NULL)"),
    ("list", "list_nested", "make_array(make_array(1), make_array(2))"),
    ("list", "large_list", "arrow_cast(make_array(1, 2), 'LargeList(Int64)')"),
    ("list", "list_10k", "range(10000)"),
    ("array", "fixed_size_list", "arrow_cast(make_array(1, 2), 'FixedSizeList(2, Int64)')"),
    ("struct", "struct_a1", "named_struct('a', 1)"),
    ("struct", "struct_null", "named_struct('a', CAST(NULL AS BIGINT))"),
    ("map", "map", "MAP {'k': 1}"),
]

PROBES = {"duckdb": DUCKDB_PROBES, "postgres": POSTGRES_PROBES, "datafusion": DATAFUSION_PROBES}
SETUP = {"duckdb": [], "postgres": POSTGRES_SETUP, "datafusion": []}

# The documented contract per argument kind (docs/sql-functions.md, docs/duckdb.md "Types"):
# an argument of a family listed here must be refused, never answered.
_NON_NUMBER = {"text", "blob", "bool", "time", "timetz", "interval", "enum", "uuid", "json", "list",
               "array", "struct", "map", "varint", "bit", "union", "other", "fsb", "duration"}
REFUSE = {
    # Integers only (the kernel's is_integer): docs say `count bigint`, `ms bigint`.
    "bigint": _NON_NUMBER | {"float", "decimal", "date", "timestamp", "timestamptz"},
    # number, decimal, date, timestamp or packed HLC.
    "clock": _NON_NUMBER,
    # A number (a sketch's fp_rate).
    "double": _NON_NUMBER | {"date", "timestamp", "timestamptz"},
    # Any orderable value; VARINT, TIMETZ, BIT and UNION are refused "with an error naming the type".
    "any": {"varint", "timetz", "bit", "union"},
    "text": {"int", "uint", "hugeint", "float", "decimal", "blob", "bool", "date", "timestamp",
             "timestamptz", "time", "timetz", "interval", "list", "array", "struct", "map", "varint",
             "bit", "union", "other", "fsb", "duration"},
    "bytes": {"int", "uint", "hugeint", "float", "decimal", "text", "bool", "date", "timestamp",
              "timestamptz", "time", "timetz", "interval", "enum", "uuid", "json", "list", "array",
              "struct", "map", "varint", "bit", "union", "other", "duration"},
    "list": _NON_NUMBER - {"list", "array"} | {"int", "uint", "hugeint", "float", "decimal", "date",
                                               "timestamp", "timestamptz"},
}

PRIMARY_BOMBS = ("bomb_zlib_list_262M_none", "bomb_json_vector_clock_array")

# Functions whose answer over one cell (or the join of a cell with itself) is that cell.
IDENTITY_AGG = {"crdt_lww", "crdt_lww_nullable", "crdt_max", "crdt_min", "crdt_longest", "crdt_priority"}
IDENTITY_JOIN = {"crdt_lww_join", "crdt_lww_nullable_join", "crdt_max_join", "crdt_min_join",
                 "crdt_longest_join", "crdt_priority_join"}


@dataclass
class Dialect:
    engine: str

    def null(self, typ: str | None = None) -> str:
        if typ is None:
            return "NULL"
        return f"CAST(NULL AS {typ})"

    def bigint(self, n: int) -> str:
        return {"duckdb": f"{n}::BIGINT", "postgres": f"{n}::int8"}.get(self.engine, f"CAST({n} AS BIGINT)")

    def text(self, s: str) -> str:
        q = "'" + s.replace("'", "''") + "'"
        return {"duckdb": f"{q}::VARCHAR", "postgres": f"{q}::text"}.get(self.engine, f"CAST({q} AS VARCHAR)")

    def blob(self, b: bytes) -> str:
        h = b.hex()
        if self.engine == "duckdb":
            return f"from_hex('{h}')"
        if self.engine == "postgres":
            return f"'\\x{h}'::bytea"
        return f"X'{h}'"

    def list_of(self, items: list[str]) -> str:
        if self.engine == "postgres":
            return f"ARRAY[{', '.join(items)}]"
        if self.engine == "datafusion":
            return f"make_array({', '.join(items)})"
        return f"[{', '.join(items)}]"

    def row(self) -> str:
        """A two-field row (a STRUCT, or a Postgres record)."""
        k, v = self.bigint(1), self.text("a")
        if self.engine == "postgres":
            return f"ROW({k}, {v})"
        if self.engine == "datafusion":
            return f"named_struct('k', {k}, 'v', {v})"
        return f"{{'k': {k}, 'v': {v}}}"

    def double(self, x: float) -> str:
        return {"postgres": f"{x}::float8"}.get(self.engine, f"CAST({x} AS DOUBLE)")

    def type_double(self) -> str:
        return {"postgres": "float8"}.get(self.engine, "DOUBLE")

    def type_bigint(self) -> str:
        return {"postgres": "int8"}.get(self.engine, "BIGINT")

    def type_text(self) -> str:
        return {"postgres": "text"}.get(self.engine, "VARCHAR")

    def type_blob(self) -> str:
        return {"postgres": "bytea", "duckdb": "BLOB"}.get(self.engine, "BYTEA")

    def type_bigint_list(self) -> str:
        return {"postgres": "int8[]", "duckdb": "BIGINT[]"}.get(self.engine, "BIGINT[]")


# A valid sketch state for the sketch readers (built in SQL: the states are the engine's own).
SKETCH_STATE = {
    "crdt_hll_count": "crdt_hll_agg",
    "crdt_theta_count": "crdt_theta_agg", "crdt_theta_union": "crdt_theta_agg",
    "crdt_theta_intersect": "crdt_theta_agg",
    "crdt_bloom_contains": "crdt_bloom_agg",
    "crdt_cms_estimate": "crdt_cms_agg",
    "crdt_jaccard": "crdt_minhash_agg", "crdt_minhash_bands": "crdt_minhash_agg",
}
# The HLL exchange functions: their valid input is an HLL of the right family, or the exported bytes.
HLL_EXCHANGE = {"crdt_hll_to_pg_hll", "crdt_hll_from_pg_hll", "crdt_hll_to_datasketches",
                "crdt_hll_from_datasketches"}
# A valid value of each sketch parameter (the generic good bigint, 1, is out of range for most).
SKETCH_PARAM = {"precision": 10, "lg_k": 10, "capacity": 100, "width": 100, "depth": 3,
                "num_perm": 16, "seed": 1, "b": 2, "r": 2}


# The digest functions (docs/sync.md): a row is a STRUCT or record, ids are 32 bytes, states 40.
DIGESTS = {"crdt_row_id", "crdt_content_id", "crdt_table_digest", "crdt_fingerprint_agg",
           "crdt_fingerprint_state_agg", "crdt_fingerprint", "crdt_fingerprint_add",
           "crdt_fingerprint_sub", "crdt_sync_key"}


# E4's functions (docs/trust.md): their valid input is a signed delta and a PKI, the golden
# fixtures of crates/crdt-merge-e4/tests/sql.rs.
E4 = {"crdt_verify", "crdt_verified_payload", "crdt_delta_rows", "crdt_signed_payload"}
E4_GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "e4"


def _valid_gcounter() -> bytes:
    return states.state("g_counter", {"type": "g_counter", "counts": {"a": 3}})


class Generator:
    """Builds the cases for one engine from the catalogue and the probes that engine accepts."""

    def __init__(self, engine: str, functions: list[Function], probes: list[tuple[str, str, str]],
                 malformed: dict[str, bytes], bombs: dict[str, bytes], rnd: random.Random,
                 scale: int = 1):
        self.d = Dialect(engine)
        self.engine = engine
        self.functions = functions
        self.probes = probes
        self.malformed = malformed
        self.bombs = bombs
        self.rnd = rnd
        self.scale = scale
        self.cases: list[dict] = []
        self.good_state = _valid_gcounter()

    # the good value of each argument kind
    def good(self, kind: str, fn: str, pos: int, sig: Signature, value_lit: str | None = None) -> str:
        d = self.d
        if kind == "any" and fn in DIGESTS and sig.args[pos].name == "row":
            return d.row()
        if kind == "any":
            return d.text("a") if "priority" in fn or "longest" in fn else d.bigint(1)
        if kind == "clock":
            return d.bigint(1)
        if kind == "bigint":
            return d.bigint(SKETCH_PARAM.get(sig.args[pos].name, 1) if fn.startswith(("crdt_hll", "crdt_theta", "crdt_bloom", "crdt_cms", "crdt_minhash")) else 1)
        if kind == "double":
            return d.double(0.01)
        if kind == "text":
            if fn == "crdt_json_merge":
                return d.text('{"a": [1, 2], "b": {"c": true}}')
            if fn in E4 and sig.args[pos].name == "context":
                return d.text("orders/2026-12")  # the golden deltas' context
            if sig.args[pos].name == "family":
                return d.text("murmur3")
            return d.text(",") if sig.args[pos].const else d.text("a,b")
        if kind == "bytes":
            if fn in SKETCH_STATE:
                extra = f", {d.text('r')}" if SKETCH_STATE[fn] == "crdt_cms_agg" else ""
                return f"(SELECT {SKETCH_STATE[fn]}({d.bigint(1)}{extra}))"
            if fn in HLL_EXCHANGE:
                pg = f"crdt_hll_agg({d.bigint(1)}, {d.bigint(10)}, {d.text('pg_hll')})"
                ds = f"crdt_hll_agg({d.bigint(1)})"
                return {
                    "crdt_hll_to_pg_hll": f"(SELECT {pg})",
                    "crdt_hll_from_pg_hll": f"(SELECT crdt_hll_to_pg_hll({pg}))",
                    "crdt_hll_to_datasketches": f"(SELECT {ds})",
                    "crdt_hll_from_datasketches": f"(SELECT crdt_hll_to_datasketches({ds}))",
                }[fn]
            if fn in E4:
                name = "pki.bin" if sig.args[pos].name == "pki" else "good.delta"
                return d.blob((E4_GOLDEN / name).read_bytes())
            if fn in DIGESTS:
                rid = f"crdt_row_id({d.bigint(1)}, {d.row()})"
                if sig.args[pos].name == "state":
                    return f"(SELECT crdt_fingerprint_state_agg({rid}))"
                return f"(SELECT {rid})"
            return d.blob(self.good_state)
        if kind == "list":
            if fn in DIGESTS:
                return d.list_of([d.text("_ts"), d.text("_deleted")])
            if "priority" in fn:
                return d.list_of([value_lit or d.text("a"), d.text("b")])
            return d.list_of([d.bigint(1), d.bigint(2)])
        raise ValueError(kind)

    def call(self, f: Function, args: list[str]) -> str:
        return f"{f.name}({', '.join(args)})"

    def select(self, f: Function, args: list[str]) -> str:
        return f"SELECT {self.call(f, args)} AS r"

    def add(self, cid: str, f: Function, sql: str, oracle: str, why: str = "") -> None:
        self.cases.append({"id": cid, "fn": f.name, "sql": sql, "oracle": oracle, "why": why})

    def generate(self) -> list[dict]:
        for f in self.functions:
            for si, sig in enumerate(f.signatures):
                self._signature(f, si, sig)
        return self.cases

    def _signature(self, f: Function, si: int, sig: Signature) -> None:
        d = self.d
        n = len(sig.args)
        tag = f"{f.name}/{n}"
        base = [self.good(a.kind, f.name, i, sig) for i, a in enumerate(sig.args)]
        self.add(f"{tag}/valid", f, self.select(f, base), "answer")
        # wrong arity
        if n > 0:
            self.add(f"{tag}/arity-1", f, self.select(f, base[:-1]), "any")
        self.add(f"{tag}/arity+1", f, self.select(f, base + [d.bigint(1)]), "any")
        # NULLs in every position, and everywhere
        null_types = {"any": d.type_bigint(), "clock": d.type_bigint(), "bigint": d.type_bigint(),
                      "double": d.type_double(),
                      "text": d.type_text(), "bytes": d.type_blob(), "list": d.type_bigint_list()}
        for i, a in enumerate(sig.args):
            for label, lit in (("null", d.null()), ("typed-null", d.null(null_types[a.kind]))):
                args = list(base)
                args[i] = lit
                self.add(f"{tag}/{a.name}={label}", f, self.select(f, args), "any")
        if n > 0:
            self.add(f"{tag}/all=null", f, self.select(f, [d.null()] * n), "any")
            self.add(f"{tag}/all=typed-null", f,
                     self.select(f, [d.null(null_types[a.kind]) for a in sig.args]), "any")
        # every probe in every position
        for i, a in enumerate(sig.args):
            for fam, label, lit in self.probes:
                args = list(base)
                args[i] = lit
                if "priority" in f.name and a.kind == "any":
                    # levels of the probe's own type, so the value is ranked
                    li = [j for j, b in enumerate(sig.args) if b.kind == "list"][0]
                    args[li] = d.list_of([lit])
                refuse = fam in REFUSE[a.kind]
                if refuse:
                    oracle, why = "refuse", f"argument `{a.name}` ({a.kind}) given {fam} {label}"
                elif self._nonnull_applies(f, a.kind, fam, label):
                    oracle, why = "nonnull", f"non-NULL `{a.name}` = {label}"
                else:
                    oracle, why = "any", ""
                self.add(f"{tag}/{a.name}={label}", f, self.select(f, args), oracle, why)
                self.cases[-1]["fam"], self.cases[-1]["kind"] = fam, a.kind
            # identity: one cell (aggregates) or a cell with itself (joins)
        self._identity(f, sig, tag, base)
        self._random(f, sig, tag)
        self._derived(f, sig, tag)
        # state bytes in every bytes position
        for i, a in enumerate(sig.args):
            if a.kind != "bytes":
                continue
            for name, b in list(self.malformed.items()) + list(self._bombs_for(f).items()):
                args = list(base)
                args[i] = d.blob(b)
                if states.must_refuse(name):
                    oracle, why = "refuse", f"argument `{a.name}` given malformed state bytes {name}"
                else:
                    oracle, why = "any", ""
                self.add(f"{tag}/{a.name}=bytes:{name}", f, self.select(f, args), oracle, why)
            if f.aggregate:
                # a bad state among good rows, and in a group
                for name in ("bomb_zlib_list_262M_none", "trunc_g_counter_13", "flip_enc_g_counter_20_3"):
                    b = self.malformed.get(name) or self.bombs.get(name)
                    if b is None:
                        continue
                    vals = [d.blob(self.good_state), d.blob(b), d.blob(self.good_state)]
                    rows = ", ".join(f"({i % 2}, {x})" for i, x in enumerate(vals))
                    self.add(f"{tag}/{a.name}=rows:{name}", f,
                             f"SELECT k, {f.name}(s) AS r FROM (VALUES {rows}) AS t(k, s) GROUP BY k",
                             "refuse" if states.must_refuse(name) else "any",
                             f"a row of malformed state bytes {name}")

    def _bombs_for(self, f: Function) -> dict[str, bytes]:
        """Every bomb for crdt_typeof (and at scale > 1 for every function); the issue's two
        (the zlib list of None, the JSON vector clock) for every other function: each bomb costs
        up to a few seconds of inflating."""
        if self.scale > 1 or f.name == "crdt_typeof":
            return self.bombs
        return {k: v for k, v in self.bombs.items() if k in PRIMARY_BOMBS}

    def _nonnull_applies(self, f: Function, kind: str, fam: str, label: str) -> bool:
        """Whether a call with this probe and good other arguments must not answer NULL."""
        if fam in ("list",) and "null" in label and kind == "list":
            return False  # a list of only NULLs may union to empty/NULL
        if fam == "text" and label == "text_empty" and kind == "text":
            return False  # no parts
        if fam == "list" and label == "list_empty" and kind == "list":
            return False
        return True

    def _identity(self, f: Function, sig: Signature, tag: str, base: list[str]) -> None:
        d = self.d
        kinds = [a.kind for a in sig.args]
        if f.name in IDENTITY_AGG:
            for fam, label, lit in self.probes:
                if fam in REFUSE["any"]:
                    continue
                args = list(base)
                args[0] = lit
                if "priority" in f.name:
                    args[1] = d.list_of([lit])
                self.add(f"{tag}/identity:{label}", f,
                         f"SELECT (SELECT {self.call(f, args)}) AS r, (SELECT {lit}) AS e", "equal")
        if f.name in IDENTITY_JOIN:
            for fam, label, lit in self.probes:
                if fam in REFUSE["any"]:
                    continue
                args = list(base)
                for j, k in enumerate(kinds):
                    if k == "any" and sig.args[j].name not in ("r1", "r2"):
                        args[j] = lit
                if "priority" in f.name:
                    args[2] = d.list_of([lit])
                self.add(f"{tag}/identity:{label}", f,
                         f"SELECT (SELECT {self.call(f, args)}) AS r, (SELECT {lit}) AS e", "equal")

    def _random(self, f: Function, sig: Signature, tag: str) -> None:
        """Random combinations: every argument a random probe or NULL at once (3 per signature at
        scale 1, 30 x scale in the nightly run). Only a crash, a hang or a bad error fails them."""
        if not sig.args:
            return
        pool = [lit for _fam, _label, lit in self.probes] + [self.d.null()]
        labels = {lit: label for _fam, label, lit in self.probes}
        labels[self.d.null()] = "null"
        for k in range(3 if self.scale == 1 else 30 * self.scale):
            args = [self.rnd.choice(pool) for _ in sig.args]
            name = ",".join(labels[x] for x in args)
            self.add(f"{tag}/random{k}:{name}", f, self.select(f, args), "any")

    def _derived(self, f: Function, sig: Signature, tag: str) -> None:
        """Round trips whose answer is known: counter totals and HLC fields."""
        d = self.d
        if f.name == "crdt_gcounter":
            for fam, label, lit in self.probes:
                if fam in ("int", "uint"):
                    self.add(f"{tag}/counter_value:{label}", f,
                             f"SELECT crdt_counter_value(crdt_gcounter({d.text('a')}, {lit})) AS r, {lit} AS e",
                             "equal")
        if f.name == "crdt_hlc":
            for fam, label, lit in self.probes:
                if fam in ("int", "uint"):
                    self.add(f"{tag}/roundtrip_ms:{label}", f,
                             f"SELECT crdt_hlc_ms(crdt_hlc({lit}, {d.bigint(0)})) AS r, {lit} AS e",
                             "equal")
                    self.add(f"{tag}/roundtrip_counter:{label}", f,
                             f"SELECT crdt_hlc_counter(crdt_hlc({d.bigint(0)}, {lit})) AS r, {lit} AS e",
                             "equal")


def validate_sql(engine: str) -> list[str]:
    """Statements, one per probe, that check the engine can SELECT the probe at all."""
    return [f"SELECT {lit}" for _fam, _label, lit in PROBES[engine]]
