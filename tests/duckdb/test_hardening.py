"""Regression tests for the DuckDB findings of issue 14 (hostile-input hardening), each named
after its finding."""
import duckdb
import pytest

from conftest import one


def error_of(con, sql):
    with pytest.raises(duckdb.Error) as e:
        con.execute(sql).fetchall()
    return str(e.value)


# --- Finding 3: UBIGINT values from 2^63 up were NULL silently.

def test_finding_3_ubigint_above_i64_is_not_null(con):
    big = "9223372036854775808::UBIGINT"
    for sql in [
        f"SELECT crdt_gcounter('a', {big})",
        # The guard used to run only on batches without NULLs, which the overflow itself made.
        f"SELECT crdt_gcounter(r, n) FROM (VALUES ('a', {big}), ('b', NULL::UBIGINT), ('c', 1::UBIGINT)) AS t(r, n)",
        f"SELECT crdt_pncounter('a', 1::UBIGINT, {big})",
    ]:
        msg = error_of(con, sql)
        assert "crdt_" in msg and "2^63" in msg, msg
    # Below 2^63 the count is kept, NULLs or not.
    assert one(con, """SELECT crdt_counter_value(crdt_gcounter(r, n)) FROM (VALUES ('a', 9223372036854775807::UBIGINT),
                       ('b', NULL::UBIGINT)) AS t(r, n)""") == 9223372036854775807


def test_finding_3_row_limit_ubigint_max_returns_all_rows(con):
    con.execute("CREATE TABLE a(id INTEGER, v INTEGER, _ts BIGINT)")
    con.execute("CREATE TABLE b(id INTEGER, v INTEGER, _ts BIGINT)")
    con.execute("INSERT INTO a VALUES (1, 1, 1), (2, 2, 1)")
    con.execute("INSERT INTO b VALUES (3, 3, 1)")
    for n in ["18446744073709551615::UBIGINT", "9223372036854775808::UBIGINT", "9223372036854775807"]:
        assert con.execute(f"FROM crdt_merge(['a', 'b'], 'id', row_limit := {n})").fetchall() == [
            (1, 1, 1), (2, 2, 1), (3, 3, 1)], n
    assert con.execute("FROM crdt_merge(['a', 'b'], 'id', row_limit := 2::UTINYINT)").fetchall() == [(1, 1, 1), (2, 2, 1)]
    assert "row_limit" in error_of(con, "FROM crdt_merge(['a', 'b'], 'id', row_limit := -1)")


# --- Finding 4: user columns named like crdt_merge's internal ones were lost.

CLASH = ['"__source"', '"is_crdt_conflict"', '"x__crdt_conflict"', '"line\nbreak"', '"__crdt_pad"',
         '"__crdt_d_named"', '"__crdt_n_v"', '"__crdt_next"', '"a\\1b"', '"q\'uote"']


@pytest.mark.parametrize("sources,options", [
    (["a", "b"], ""),
    (["a", "b"], ", provenance := true"),
    (["a", "b", "c"], ""),
    (["a", "b"], ", replica := 'site', provenance := true"),
], ids=["pairs", "provenance", "group_by", "replica_provenance"])
def test_finding_4_user_columns_named_like_internal_ones_come_back(con, sources, options):
    cols = ", ".join(f"{c} INTEGER" for c in CLASH)
    for i, t in enumerate(["a", "b", "c"]):
        con.execute(f"CREATE TABLE {t}(id INTEGER, {cols}, site VARCHAR, _ts BIGINT)")
        # Row 1 in every input, the newest in the last one; row 10 + i only in input i.
        vals = ", ".join(str(100 * i + j) for j in range(len(CLASH)))
        con.execute(f"INSERT INTO {t} VALUES (1, {vals}, 's{i}', {i}), ({10 + i}, {vals}, 's{i}', {i})")
    last = len(sources) - 1
    rel = con.sql(f"FROM crdt_merge({sources}, 'id', strategies := {{'__crdt_d_named': 'max'}}{options})")
    names = [c.strip('"').replace("\\\\", "\\").replace("''", "'") for c in CLASH]
    # Every user column comes back, in the inputs' order, with the newest row's values.
    assert rel.columns[: len(names) + 3] == ["id", *names, "site", "_ts"], rel.columns
    rows = {r[0]: r for r in rel.fetchall()}
    assert sorted(rows) == [1] + [10 + i for i in range(len(sources))]
    want = tuple(100 * last + j for j in range(len(CLASH)))
    assert rows[1][1: 1 + len(CLASH)] == want, rel.columns
    assert rows[10][1: 1 + len(CLASH)] == tuple(range(len(CLASH)))
    if "provenance" in options:
        assert rel.columns[-1] == "__conflicts"
        assert "__source__source" in rel.columns and "line\nbreak__source" in rel.columns
        assert "__crdt_pad__source" in rel.columns
        assert not any("crdt_merge_pad" in c for c in rel.columns), rel.columns


def test_finding_4_reserved_names_are_a_clear_error(con):
    con.execute('CREATE TABLE a(id INTEGER, "__crdt_merge_pad__" INTEGER, _ts BIGINT)')
    con.execute("CREATE TABLE b(id INTEGER, _ts BIGINT)")
    msg = error_of(con, "FROM crdt_merge(['a', 'b'], 'id')")
    assert "crdt_merge: input a has a column named __crdt_merge_pad__" in msg, msg
    con.execute('CREATE TABLE c(id INTEGER, "__CRDT_MERGE_SOURCE__" INTEGER, _ts BIGINT)')
    msg = error_of(con, "FROM crdt_merge(['b', 'c'], 'id', provenance := true)")
    assert "crdt_merge: input c has a column named __CRDT_MERGE_SOURCE__" in msg, msg
    # Without provenance that name is not used, so it merges as any column.
    assert con.execute("FROM crdt_merge(['b', 'c'], 'id')").fetchall() == []


# --- Finding 5: options of the wrong type were ignored.

@pytest.mark.parametrize("call,needles", [
    ("crdt_merge(['a', 'b'], 'id', where_sql := 5)", ["where_sql", "INTEGER"]),
    ("crdt_merge(['a', 'b'], 'id', replica := 5)", ["replica", "INTEGER"]),
    ("crdt_merge(['a', 'b'], 'id', tombstone := 5)", ["tombstone", "INTEGER"]),
    ("crdt_merge(['a', 'b'], 'id', provenance := 'yes')", ["provenance", "BOOLEAN"]),
    ("crdt_merge(['a', 'b'], 'id', clock := 5)", ["clock", "INTEGER"]),
    ("crdt_merge(['a', NULL], 'id')", ["sources", "NULL element"]),
    ("crdt_merge([NULL, NULL], 'id')", ["sources", "NULL element"]),
    ("crdt_merge(['a', 'b'], ['id', NULL])", ["key", "NULL element"]),
    ("crdt_merge(['a'], 'id')", ["sources", "two or more"]),
    ("crdt_merge('a', 'id')", ["sources", "two or more"]),
], ids=["where_sql", "replica", "tombstone", "provenance", "clock", "null_source", "null_sources",
        "null_key", "one_source", "one_source_text"])
def test_finding_5_options_of_the_wrong_type_are_errors(con, call, needles):
    con.execute("CREATE TABLE a(id INTEGER, v INTEGER, site VARCHAR, _deleted BOOLEAN, _ts BIGINT)")
    con.execute("CREATE TABLE b(id INTEGER, v INTEGER, site VARCHAR, _deleted BOOLEAN, _ts BIGINT)")
    con.execute("INSERT INTO a VALUES (1, 1, 's', false, 1)")
    msg = error_of(con, f"FROM {call}")
    assert "crdt_merge" in msg, msg
    for n in needles:
        assert n in msg, msg


# --- Finding 8: provenance grew super-linearly with the column count.

def test_finding_8_provenance_with_500_columns(con):
    n = 500
    cols = ", ".join(f"c{i} INTEGER" for i in range(n))
    for t, ts in [("a", 1), ("b", 2)]:
        con.execute(f"CREATE TABLE {t}(id INTEGER, {cols}, _ts BIGINT)")
        vals = ", ".join(f"i + {ts if j % 2 else 0}" for j in range(n))
        con.execute(f"INSERT INTO {t} SELECT i, {vals}, {ts} FROM range(3) r(i)")
    rel = con.sql("FROM crdt_merge(['a', 'b'], 'id', provenance := true)")
    assert len(rel.columns) == 1 + n + 1 + n + 1
    rows = rel.fetchall()
    assert [r[0] for r in rows] == [0, 1, 2]
    # b is newer everywhere; odd columns differ between a and b (a conflict), even ones agree.
    assert rows[1][1:3] == (1, 3)
    assert rows[1][n + 2: n + 4] == ("b", "b")
    assert rows[1][-1] == n // 2


# --- Finding 9: TIME and ENUM passed where integers are required; VARINT became DOUBLE.

@pytest.mark.parametrize("sql,needles", [
    ("SELECT crdt_gcounter('a', '12:00:00'::TIME)", ["crdt_gcounter", "count", "TIME"]),
    ("SELECT crdt_hlc('y'::ENUM('x', 'y'), 2)", ["crdt_hlc", "ms", "ENUM"]),
    ("SELECT crdt_hlc(1, '00:00:01'::TIME)", ["crdt_hlc", "counter", "TIME"]),
    ("SELECT crdt_lww('v', '12:00:00'::TIME)", ["crdt_lww", "ts", "TIME"]),
    ("SELECT crdt_lww_pick(1, '12:00:00'::TIME, 2, '13:00:00'::TIME)", ["crdt_lww_pick", "TIME"]),
    ("SELECT crdt_max('9007199254740993'::VARINT)", ["crdt_max", "VARINT", "cast"]),
    ("SELECT crdt_max_join('1'::VARINT, '2'::VARINT)", ["crdt_max_join", "VARINT", "cast"]),
    ("SELECT crdt_lww('9007199254740993'::VARINT, 1)", ["crdt_lww", "VARINT", "cast"]),
    ("SELECT crdt_union(['1'::VARINT])", ["crdt_union", "VARINT", "cast"]),
], ids=["gcounter_time", "hlc_enum", "hlc_time", "lww_time_clock", "pick_time_clock", "max_varint",
        "max_join_varint", "lww_varint", "union_varint_list"])
def test_finding_9_time_enum_and_varint_are_type_errors(con, sql, needles):
    msg = error_of(con, sql)
    for n in needles:
        assert n.lower() in msg.lower(), msg


def test_finding_9_enum_and_time_still_merge_as_values_and_replicas(con):
    assert one(con, "SELECT crdt_lww('a', 1, 'y'::ENUM('x', 'y'))") == "a"
    assert one(con, "SELECT crdt_max_key('12:00:00'::TIME) IS NOT NULL")
    assert one(con, "SELECT crdt_max(9007199254740993::HUGEINT)") == 9007199254740993


# --- Finding 10: an unknown column gave DuckDB's "referenced before it is defined".

@pytest.mark.parametrize("options,argument", [
    ("strategies := {'nope': 'max'}", "strategies"),
    ("clock := 'nope'", "clock"),
    ("clocks := {'v': 'nope'}", "clocks"),
    ("replica := 'nope'", "replica"),
    ("tombstone := 'nope'", "tombstone"),
    ("tombstone := true", "tombstone"),
], ids=["strategies", "clock", "clocks", "replica", "tombstone", "tombstone_default"])
def test_finding_10_unknown_columns_name_the_argument(con, options, argument):
    con.execute("CREATE TABLE a(id INTEGER, v INTEGER, _ts BIGINT)")
    con.execute("CREATE TABLE b(id INTEGER, v INTEGER, _ts BIGINT)")
    msg = error_of(con, f"FROM crdt_merge(['a', 'b'], 'id', {options})")
    col = "_deleted" if options == "tombstone := true" else "nope"
    assert f"crdt_merge: argument `{argument}`/" in msg and f"names column `{col}`, which no input has" in msg, msg
    msg = error_of(con, "FROM crdt_merge(['a', 'b'], 'nope')")
    assert "crdt_merge: argument `key`/ON names column `nope`, which no input has" in msg, msg


def test_finding_10_non_boolean_tombstone_is_an_error(con):
    con.execute("CREATE TABLE a(id INTEGER, v INTEGER, _deleted INTEGER, _ts BIGINT)")
    con.execute("CREATE TABLE b(id INTEGER, v INTEGER, _deleted INTEGER, _ts BIGINT)")
    con.execute("INSERT INTO a VALUES (1, 1, 1, 1)")
    for sql in ["FROM crdt_merge(['a', 'b'], 'id', tombstone := true)",
                "FROM crdt_merge(['a', 'b', 'a'], 'id', tombstone := '_deleted')",
                "FROM crdt_mergeql('MERGE a, b ON id TOMBSTONE _deleted')"]:
        msg = error_of(con, sql)
        assert "tombstone" in msg and "expected a BOOLEAN column `_deleted`, found INTEGER" in msg, msg


# --- Finding 13: empty priority levels were accepted.

def test_finding_13_empty_priority_levels_are_an_error(con):
    for sql in ["SELECT crdt_priority(v, []::VARCHAR[]) FROM (VALUES ('a'), ('b')) AS t(v)",
                "SELECT crdt_priority_join('a', 'b', []::VARCHAR[])"]:
        msg = error_of(con, sql)
        assert "argument `levels`: expected at least one priority level" in msg, msg
