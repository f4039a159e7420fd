"""crdt_merge(...) of columns whose types no aggregate overload returns (STRUCTs, lists of lists,
DECIMALs of any scale): the kernel picks the winning cell and DuckDB moves the value, so they merge
and keep their types. Checked against a reference LWW / max written here, in the canonical value
order (NULL lowest, numbers numerically, text by bytes, lists and structs element by element)."""
import decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import fresh_name, shared_connection

COLS = [("k", "INTEGER"), ("s", "STRUCT(x INTEGER, y VARCHAR)"), ("ll", "INTEGER[][]"),
        ("dec", "DECIMAL(18,4)"), ("hi", "STRUCT(a VARCHAR[], b DOUBLE)"), ("_ts", "BIGINT")]

maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
structs = st.fixed_dictionaries({"x": maybe(st.integers(-2, 2)), "y": maybe(st.sampled_from(["", "a", "a\x00", "b"]))})
lists = st.lists(maybe(st.lists(maybe(st.integers(-1, 1)), max_size=2)), max_size=2)
decs = st.sampled_from(["1.5000", "-2.2500", "0.0001", "123456789.1234"]).map(decimal.Decimal)
his = st.fixed_dictionaries({"a": maybe(st.lists(st.sampled_from(["p", "q"]), max_size=2)),
                             "b": maybe(st.sampled_from([0.5, -1.0, 2.0]))})
rows = st.tuples(st.integers(0, 3), maybe(structs), maybe(lists), maybe(decs), maybe(his), maybe(st.integers(0, 2)))
tables = st.lists(st.lists(rows, max_size=8), min_size=2, max_size=3)

con = shared_connection


def order_key(v):
    """The kernel's canonical order as a Python sort key (NULL lowest)."""
    if v is None:
        return (0,)
    if isinstance(v, dict):
        return (1, tuple(order_key(v[f]) for f in sorted(v)))  # declared fields are alphabetical
    if isinstance(v, list):
        return (1, tuple(order_key(x) for x in v))
    if isinstance(v, str):
        return (1, v.encode())
    return (1, v)


def reference(inputs, max_cols=()):
    merged = {}
    for t in inputs:
        for r in t:
            merged.setdefault(r[0], []).append(r)
    out = []
    for k in sorted(merged):
        rs = merged[k]
        row = [k]
        for i in range(1, 5):
            cells = [r for r in rs if r[i] is not None]
            if not cells:
                row.append(None)
            elif COLS[i][0] in max_cols:
                row.append(max((r[i] for r in cells), key=order_key))
            else:
                row.append(max(cells, key=lambda r: (order_key(r[5]), order_key(r[i])))[i])
        ts = [r[5] for r in rs if r[5] is not None]
        row.append(max(ts) if ts else None)
        out.append(tuple(row))
    return out


def load(rows_):
    name = fresh_name("nested")
    c = con()
    c.execute(f"CREATE TABLE {name}({', '.join(f'{n} {t}' for n, t in COLS)})")
    for r in rows_:
        c.execute(f"INSERT INTO {name} VALUES (?, ?, ?, ?, ?, ?)", list(r))
    return name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables, st.booleans())
def test_nested_and_decimal_columns_merge_in_their_own_types(inputs, with_max):
    c = con()
    # Duplicate keys within one input are allowed: they go through the GROUP BY branch.
    names = [load(t) for t in inputs]
    strategies = "{'s': 'max', 'll': 'min'}" if with_max else "NULL"
    rel = c.sql(f"FROM crdt_merge({names}, 'k', strategies := {strategies}, ordered := true)")
    assert [str(t) for t in rel.types] == [t for _, t in COLS]
    got = rel.fetchall()
    if with_max:
        want = reference(inputs, max_cols=("s",))
        # 'll' is min: recompute it.
        merged = {}
        for t in inputs:
            for r in t:
                if r[2] is not None:
                    merged.setdefault(r[0], []).append(r[2])
        want = [w[:2] + (min(merged[w[0]], key=order_key) if w[0] in merged else None,) + w[3:] for w in want]
    else:
        want = reference(inputs)
    assert got == want


def test_struct_columns_merge_by_lww_and_max(con):
    c = con
    c.execute("CREATE OR REPLACE TEMP TABLE sa AS SELECT 1 AS id, {'city': 'Oslo', 'zip': 150} AS addr, 1.0 AS _ts "
              "UNION ALL SELECT 2, {'city': 'Rome', 'zip': 100}, 5.0")
    c.execute("CREATE OR REPLACE TEMP TABLE sb AS SELECT 1 AS id, {'city': 'Bergen', 'zip': 5003} AS addr, 2.0 AS _ts "
              "UNION ALL SELECT 2, {'city': 'Milan', 'zip': 20100}, 3.0")
    rows = c.execute("SELECT id, addr.city, addr.zip FROM crdt_merge(['sa', 'sb'], 'id')").fetchall()
    assert rows == [(1, "Bergen", 5003), (2, "Rome", 100)]
    rows = c.execute("SELECT id, addr.city FROM crdt_merge(['sa', 'sb'], 'id', strategies := {'addr': 'max'})").fetchall()
    assert rows == [(1, "Oslo"), (2, "Rome")]


def test_equal_floats_stored_differently_merge_alike_in_any_order(con):
    c = con
    c.execute("CREATE OR REPLACE TEMP TABLE z1 AS SELECT 1 AS id, -0.0::DOUBLE AS x, {'f': -0.0::DOUBLE} AS s, "
              "-0.0::DOUBLE AS m, 1 AS _ts")
    c.execute("CREATE OR REPLACE TEMP TABLE z2 AS SELECT 1 AS id, 0.0::DOUBLE AS x, {'f': 0.0::DOUBLE} AS s, "
              "0.0::DOUBLE AS m, 1 AS _ts")
    c.execute("CREATE OR REPLACE TEMP TABLE z3 AS SELECT 2 AS id, 1.0::DOUBLE AS x, NULL AS s, 1.0::DOUBLE AS m, 1 AS _ts")
    seen = set()
    for order in (["z1", "z2"], ["z2", "z1"], ["z1", "z2", "z3"], ["z3", "z2", "z1"]):
        rows = c.execute(f"SELECT id, x::VARCHAR, s::VARCHAR, m::VARCHAR FROM crdt_merge({order}, 'id', "
                         "strategies := {'m': 'min'}) WHERE id = 1").fetchall()
        seen.add(tuple(rows))
    # +0.0 has the greater bits and wins for every strategy, as the aggregates' canonical +0.0.
    assert seen == {((1, "0.0", "{'f': 0.0}", "0.0"),)}


def test_picks_and_keys_agree_with_the_joins_and_aggregates(con):
    c = con
    assert c.execute("SELECT crdt_lww_pick('a', 1, 'b', 2), crdt_lww_pick('a', 2, 'b', 1), crdt_lww_pick('a', 1, NULL, 2), "
                     "crdt_lww_pick(NULL, 1, 'b', 0), crdt_max_pick(3, 2), crdt_min_pick(3, 2)").fetchall() == \
        [(True, False, False, True, False, True)]
    # Clock ties go to the greater value, as crdt_lww_join.
    assert c.execute("SELECT crdt_lww_pick({'x': 1}, 5, {'x': 2}, 5), crdt_lww_join('a', 5, 'b', 5)").fetchall() == [(True, "b")]
    assert c.execute("SELECT crdt_lww_key(NULL::INTEGER, 1) IS NULL, crdt_lww_nullable_key(NULL::INTEGER, 1) IS NULL").fetchall() == \
        [(True, False)]
    got = c.execute("SELECT arg_max(v, crdt_lww_key(v, ts)), crdt_lww(v, ts) FROM (VALUES ('a', 1), ('c', 2), ('b', 2), "
                    "(NULL, 3)) t(v, ts)").fetchall()
    assert got == [("c", "c")]


def test_pick_errors_name_the_function(con):
    import duckdb
    import pytest

    with pytest.raises(duckdb.Error, match="crdt_lww_pick: .*"):
        con.execute("SELECT crdt_lww_pick(1, 'not a clock', 2, 'x')").fetchall()
    with pytest.raises(duckdb.Error, match="crdt_max_key: argument 1: .*found BIT .*crdt_merge"):
        con.execute("SELECT crdt_max_key('101'::BIT)").fetchall()
    con.execute("CREATE OR REPLACE TEMP TABLE bits1 AS SELECT 1 AS id, '101'::BIT AS b, 1 AS _ts")
    with pytest.raises(duckdb.Error, match="crdt_lww_pick: argument 1: .*found BIT .*cast the column"):
        con.execute("FROM crdt_merge(['bits1', 'bits1'], 'id')").fetchall()


def test_duckdb_only_types_merge_in_duckdb_order(con):
    c = con
    c.execute("CREATE TYPE IF NOT EXISTS mood AS ENUM ('sad', 'ok', 'happy')")
    cols = "id INTEGER, u UUID, t TIME, i INTERVAL, m mood, mp MAP(VARCHAR, INTEGER), a INTEGER[2], _ts BIGINT"
    c.execute(f"CREATE OR REPLACE TEMP TABLE o1({cols})")
    c.execute(f"CREATE OR REPLACE TEMP TABLE o2({cols})")
    c.execute("INSERT INTO o1 VALUES (1, '00000000-0000-0000-0000-0000000000ff', '23:00', INTERVAL 1 MONTH, 'sad', "
              "MAP {'z': 1}, [1, 9], 1)")
    c.execute("INSERT INTO o2 VALUES (1, 'ff000000-0000-0000-0000-000000000000', '01:00', INTERVAL 30 DAY, 'happy', "
              "MAP {'a': 2}, [2, 0], 1)")
    want = [(1, "ff000000-0000-0000-0000-000000000000", "23:00:00", "1 month", "happy", "{z=1}", "[2, 0]")]
    sel = "SELECT id, u::VARCHAR, t::VARCHAR, i::VARCHAR, m::VARCHAR, mp::VARCHAR, a::VARCHAR"
    for srcs in (["o1", "o2"], ["o2", "o1"], ["o1", "o2", "o2"]):
        # Equal clocks: the greater value wins, in DuckDB's order (an interval by its length, then its parts).
        assert c.execute(f"{sel} FROM crdt_merge({srcs}, 'id')").fetchall() == want
    types = c.execute("SELECT typeof(COLUMNS(*)) FROM crdt_merge(['o1', 'o2'], 'id') LIMIT 1").fetchall()[0]
    assert types[1:] == ("UUID", "TIME", "INTERVAL", "ENUM('sad', 'ok', 'happy')", "MAP(VARCHAR, INTEGER)",
                         "INTEGER[2]", "BIGINT")
    # A UUID replica breaks clock ties.
    assert c.execute("SELECT crdt_lww_join('a', 1, u, 'b', 1, u2) FROM (SELECT u, u2 FROM (VALUES "
                     "('ff000000-0000-0000-0000-000000000000'::UUID, '0f000000-0000-0000-0000-000000000000'::UUID)) "
                     "AS t(u, u2))").fetchall() == [("a",)]
