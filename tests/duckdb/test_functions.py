"""Registration, type conversion and NULL handling of the catalogue functions in DuckDB."""
import datetime
import decimal
import math
import re

import duckdb
import pytest

from conftest import ROOT, one

# DuckDB-only: the table merge and the helpers its rendered SQL calls.
EXTRA = {"crdt_merge", "crdt_merge_sql", "crdt_mergeql", "crdt_mergeql_sql"} | {
    f"crdt_{s}_{f}" for s in ("lww", "lww_nullable", "max", "min") for f in ("pick", "key")}


def catalogue_names():
    text = (ROOT / "docs" / "sql-functions.md").read_text()
    return set(re.findall(r"^\| `(crdt_[a-z_0-9]+)` \|", text, flags=re.M))


def test_registered_names_equal_the_catalogue(con):
    names = {r[0] for r in con.execute(
        "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_name LIKE 'crdt%'").fetchall()}
    cat = catalogue_names()
    assert len(cat) >= 20
    assert names - EXTRA == cat
    assert EXTRA <= names


def test_aggregates_are_aggregates(con):
    kinds = dict(con.execute(
        "SELECT DISTINCT function_name, function_type FROM duckdb_functions() WHERE function_name LIKE 'crdt%'").fetchall())
    assert kinds["crdt_lww"] == "aggregate"
    assert kinds["crdt_lww_join"] == "scalar"
    assert kinds["crdt_merge"] == "table_macro"


def test_version(con):
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", one(con, "SELECT crdt_version()"))


# Every DuckDB type the adapter converts, with values in ascending order (NULL first).
TYPES = [
    ("BOOLEAN", ["false", "true"]),
    ("TINYINT", ["-128", "0", "127"]),
    ("SMALLINT", ["-32768", "5", "32767"]),
    ("INTEGER", ["-2147483648", "7", "2147483647"]),
    ("BIGINT", ["-9223372036854775808", "1", "9223372036854775807"]),
    ("UTINYINT", ["0", "255"]),
    ("USMALLINT", ["0", "65535"]),
    ("UINTEGER", ["0", "4294967295"]),
    ("UBIGINT", ["0", "18446744073709551615"]),
    ("FLOAT", ["-1.5", "0.25", "3.5"]),
    ("DOUBLE", ["-1e300", "0.5", "1e300"]),
    # Beyond 2^53: a DOUBLE overload would round these (9007199254740993 -> ...992).
    ("HUGEINT", ["-170141183460469231731687303715884105727", "9007199254740992", "9007199254740993",
                 "170141183460469231731687303715884105727"]),
    ("HUGEINT[]", ["[]::HUGEINT[]", "[9007199254740993, NULL]::HUGEINT[]"]),
    # UHUGEINT: exact below 2^127 (the kernel computes on signed 128-bit integers).
    ("UHUGEINT", ["0", "9007199254740992", "9007199254740993", "170141183460469231731687303715884105727"]),
    ("UHUGEINT[]", ["[]::UHUGEINT[]", "[9007199254740993, NULL]::UHUGEINT[]"]),
    ("DECIMAL(38,10)", ["-12345678901234567890.5", "0.0000000001", "99999999999999999999.25"]),
    ("DECIMAL(18,3)", ["-1.5", "2.125"]),
    ("DECIMAL(4,1)", ["-1.5", "2.5"]),
    ("VARCHAR", ["''", "'a'", "'a long string over twelve bytes'", "'é'"]),
    ("BLOB", ["''::BLOB", "'\\x00\\x01'::BLOB", "'zzzzzzzzzzzzzzzzzzzzzz'::BLOB"]),
    ("DATE", ["DATE '1900-01-01'", "DATE '2024-02-29'"]),
    ("TIMESTAMP", ["TIMESTAMP '1970-01-01 00:00:00'", "TIMESTAMP '2024-02-29 12:34:56.789'"]),
    ("TIMESTAMP_S", ["TIMESTAMP_S '2000-01-01 00:00:01'", "TIMESTAMP_S '2024-01-01 00:00:00'"]),
    ("TIMESTAMP_MS", ["TIMESTAMP_MS '2000-01-01 00:00:01.5'", "TIMESTAMP_MS '2024-01-01 00:00:00'"]),
    ("TIMESTAMP_NS", ["TIMESTAMP_NS '2000-01-01 00:00:01.000000001'", "TIMESTAMP_NS '2024-01-01 00:00:00'"]),
    ("TIMESTAMPTZ", ["TIMESTAMPTZ '2000-01-01 00:00:01+00'", "TIMESTAMPTZ '2024-01-01 00:00:00+00'"]),
    ("INTEGER[]", ["[]::INTEGER[]", "[1, NULL, 2]", "[3]"]),
    ("VARCHAR[]", ["[]::VARCHAR[]", "['a', 'b']", "['b']"]),
    ("DOUBLE[]", ["[1.5]::DOUBLE[]", "[2.5]::DOUBLE[]"]),
]


@pytest.mark.parametrize("ty,values", TYPES, ids=[t for t, _ in TYPES])
def test_every_type_round_trips_through_max_min_and_lww(con, ty, values):
    rows = ", ".join(f"(CAST({v} AS {ty}), {i})" for i, v in enumerate(values))
    con.execute(f"CREATE TABLE t AS SELECT * FROM (VALUES {rows}, (CAST(NULL AS {ty}), 99)) AS t(v, ts)")
    want_max, want_min = con.execute("SELECT max(v), min(v) FROM t").fetchone()
    got = con.execute("SELECT crdt_max(v), crdt_min(v), crdt_lww(v, ts), crdt_lww_nullable(v, ts) FROM t").fetchone()
    if ty == "VARCHAR":  # byte order = codepoint order for these values
        pass
    assert got[0] == want_max
    assert got[1] == want_min
    # LWW: the NULL at ts 99 never overwrites; the nullable form takes it.
    last = con.execute(f"SELECT v FROM t WHERE ts = {len(values) - 1}").fetchone()[0]
    assert got[2] == last
    assert got[3] is None
    # Type is kept (or widened for decimals to the registered DECIMAL(38,10)).
    t_got = one(con, "SELECT typeof(crdt_max(v)) FROM t")
    if not ty.startswith("DECIMAL"):
        assert t_got == one(con, "SELECT typeof(max(v)) FROM t")


@pytest.mark.parametrize("ty", ["BIGINT", "INTEGER", "DOUBLE", "TIMESTAMP", "TIMESTAMPTZ", "DATE",
                                "SMALLINT", "UBIGINT", "DECIMAL(10,2)", "TIMESTAMP_NS", "FLOAT", "HUGEINT"])
def test_clock_types(con, ty):
    con.execute(f"""CREATE TABLE t AS SELECT * FROM (VALUES
        ('old', CAST('1' AS {ty} ) ), ('new', CAST('2' AS {ty}))) AS t(v, ts)""" if ty not in (
        "TIMESTAMP", "TIMESTAMPTZ", "DATE", "TIMESTAMP_NS") else f"""CREATE TABLE t AS SELECT * FROM (VALUES
        ('old', CAST('2001-01-01' AS {ty})), ('new', CAST('2002-01-01' AS {ty}))) AS t(v, ts)""")
    assert one(con, "SELECT crdt_lww(v, ts) FROM t") == "new"


def test_hugeint_clocks_and_joins_keep_every_digit(con):
    """HUGEINT has its own overloads: DuckDB would otherwise cast it to DOUBLE (53-bit mantissa)."""
    assert one(con, "SELECT crdt_max_join(9007199254740993::HUGEINT, 9007199254740992::HUGEINT)") == 9007199254740993
    assert one(con, """SELECT crdt_lww(v, ts) FROM (VALUES ('a', 9007199254740993::HUGEINT),
                       ('b', 9007199254740992::HUGEINT)) AS t(v, ts)""") == "a"
    assert one(con, "SELECT typeof(crdt_min_join(1::HUGEINT, 2::HUGEINT))") == "HUGEINT"
    assert one(con, "SELECT crdt_max_join(9007199254740993::UHUGEINT, 1::UHUGEINT)") == 9007199254740993
    assert one(con, "SELECT typeof(crdt_max_join(1::UHUGEINT, 2::UHUGEINT))") == "UHUGEINT"
    # From 2^127 up a UHUGEINT does not fit the kernel's signed integers: an error, never a
    # rounded or negative value.
    with pytest.raises(duckdb.Error, match=r"crdt_max: argument 1: expected a UHUGEINT below 2\^127"):
        con.execute("SELECT crdt_max(x) FROM (VALUES (340282366920938463463374607431768211455::UHUGEINT)) t(x)").fetchall()


@pytest.mark.parametrize("ty", ["VARCHAR", "BIGINT", "INTEGER", "UUID_AS_TEXT"])
def test_replica_types(con, ty):
    cast = "VARCHAR" if ty == "UUID_AS_TEXT" else ty
    con.execute(f"CREATE TABLE t AS SELECT * FROM (VALUES ('a', 1, CAST('1' AS {cast})), ('b', 1, CAST('2' AS {cast}))) AS t(v, ts, r)")
    assert one(con, "SELECT crdt_lww(v, ts, r) FROM t") == "b"
    assert one(con, "SELECT crdt_lww_join('a', 1, CAST('2' AS " + cast + "), 'b', 1, CAST('1' AS " + cast + "))") == "a"


def test_struct_replica_is_read(con):
    # STRUCT values reach the kernel through the ANY-typed replica argument.
    assert one(con, """SELECT crdt_lww(v, ts, r) FROM (VALUES
        ('a', 1, {'site': 'x', 'n': 2}), ('b', 1, {'site': 'x', 'n': 1})) AS t(v, ts, r)""") == "a"


def test_lists_keep_nulls_and_order(con):
    assert one(con, "SELECT crdt_union(v) FROM (VALUES ([3, NULL, 1]), ([2, 1]), (NULL)) AS t(v)") == [1, 2, 3]
    assert one(con, "SELECT crdt_union(v) FROM (VALUES (['b']), (CAST([] AS VARCHAR[]))) AS t(v)") == ["b"]
    assert one(con, "SELECT crdt_union(v) FROM (VALUES (CAST(NULL AS INTEGER[]))) AS t(v)") is None
    # Non-contiguous list vectors (a filtered list column) are read correctly.
    con.execute("CREATE TABLE l AS SELECT i, [i, i + 1] AS v FROM range(5000) t(i)")
    assert one(con, "SELECT crdt_union(v) FROM l WHERE i % 1000 = 7") == [7, 8, 1007, 1008, 2007, 2008, 3007, 3008, 4007, 4008]
    assert one(con, "SELECT crdt_max(v) FROM l WHERE i % 2 = 1") == [4999, 5000]


def test_list_results_across_many_groups(con):
    rows = con.execute("""SELECT g, crdt_union(v) FROM (SELECT i % 3000 AS g, [i % 7, NULL] AS v FROM range(30000) t(i))
                          GROUP BY g ORDER BY g""").fetchall()
    assert len(rows) == 3000
    for g, v in rows:
        assert v == sorted({(g + 3000 * k) % 7 for k in range(10)})


def test_text_orders_by_bytes(con):
    # 'é' (U+00E9) > 'z' by bytes; DuckDB's max agrees (binary collation by default).
    assert one(con, "SELECT crdt_max(v) FROM (VALUES ('z'), ('é'), ('Z')) AS t(v)") == "é"


def test_floats_nan_and_zero(con):
    assert math.isnan(one(con, "SELECT crdt_max(v) FROM (VALUES (1.0::DOUBLE), ('NaN'::DOUBLE), ('inf'::DOUBLE)) AS t(v)"))
    z = one(con, "SELECT crdt_max(v) FROM (VALUES ('-0.0'::DOUBLE), ('0.0'::DOUBLE)) AS t(v)")
    assert z == 0.0 and math.copysign(1, z) == 1


def test_scalar_nulls_are_bottom(con):
    assert one(con, "SELECT crdt_max_join(NULL::INTEGER, 3)") == 3
    assert one(con, "SELECT crdt_max_join(NULL::INTEGER, NULL::INTEGER)") is None
    assert one(con, "SELECT crdt_lww_join('a', 1, NULL::VARCHAR, 2)") == "a"
    assert one(con, "SELECT crdt_state_merge(NULL, crdt_gcounter('a', 3)) = crdt_gcounter('a', 3)") is True
    # Strict functions give NULL for NULL.
    assert one(con, "SELECT crdt_hlc(NULL, 1)") is None
    assert one(con, "SELECT crdt_typeof(NULL)") is None


def test_empty_and_ungrouped_aggregates(con):
    assert one(con, "SELECT crdt_lww(v, ts) FROM (SELECT 'a' AS v, 1 AS ts) WHERE false") is None
    assert con.execute("SELECT crdt_max(i) FROM range(0) t(i) GROUP BY i % 2").fetchall() == []
    assert one(con, "SELECT crdt_max(i) FROM range(100000) t(i)") == 99999


def test_window_frames(con):
    # Window aggregates reuse combined states: the source of a combine must stay intact.
    rows = con.execute("""SELECT i, crdt_max(v) OVER (ORDER BY i ROWS BETWEEN 2 PRECEDING AND CURRENT ROW),
                                 max(v) OVER (ORDER BY i ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
                          FROM (SELECT i, (i * 7919) % 101 AS v FROM range(3000) t(i)) ORDER BY i""").fetchall()
    assert all(a == b for _, a, b in rows)
    rows = con.execute("""SELECT i, crdt_lww(v, i) OVER (PARTITION BY i % 5 ORDER BY i),
                                 last(v) OVER (PARTITION BY i % 5 ORDER BY i)
                          FROM (SELECT i, 'x' || i AS v FROM range(2000) t(i)) ORDER BY i""").fetchall()
    assert all(a == b for _, a, b in rows)


def test_counters_and_states(con):
    assert one(con, "SELECT crdt_counter_value(crdt_gcounter(r, n)) FROM (VALUES ('a', 3), ('a', 5), ('b', 2)) AS t(r, n)") == 7
    assert one(con, "SELECT crdt_typeof(crdt_pncounter('a', 5, 2))") == "pn_counter"
    assert one(con, "SELECT crdt_counter_value(crdt_pncounter('a', 5, 2))") == 3
    s = one(con, "SELECT crdt_gcounter('a', 3)")
    assert isinstance(s, bytes) and s[:4] == b"CRDT"


def test_hlc(con):
    assert one(con, "SELECT crdt_hlc(1, 2)") == 65538
    assert con.execute("SELECT crdt_hlc_ms(crdt_hlc(123456, 7)), crdt_hlc_counter(crdt_hlc(123456, 7))").fetchone() == (123456, 7)


def test_parallel_group_by_uses_combine(con):
    con.execute("SET threads = 2")
    got = con.execute("""SELECT count(*), sum(hash(m)) FROM (
        SELECT i % 100003 AS g, crdt_lww(v, ts) AS m FROM (
          SELECT i, 'v' || (i * 31 % 1000003) AS v, i * 7 % 5000011 AS ts FROM range(2000000) t(i))
        GROUP BY g)""").fetchone()
    want = con.execute("""SELECT count(*), sum(hash(m)) FROM (
        SELECT i % 100003 AS g, arg_max(v, (ts, v)) AS m FROM (
          SELECT i, 'v' || (i * 31 % 1000003) AS v, i * 7 % 5000011 AS ts FROM range(2000000) t(i))
        GROUP BY g)""").fetchone()
    assert got == want
