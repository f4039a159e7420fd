"""Re-merging merged outputs in DuckDB (hardening finding 14).

`crdt_merge(..., cell_clocks := true, columns := [[...], ...])` keeps each last-writer-wins
column's winning-cell clock as `<col>__ts` (and replica as `<col>__replica`) and reads those back,
so merging batches one by one into a target gives one table in any order, NULL cells included.
Without cell clocks the same batches can give different tables (the probe's example).
"""
import hypothesis.strategies as st
from hypothesis import given, settings, HealthCheck

from conftest import fresh_name, shared_connection


def columns(con, table):
    return [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]


def merge_into(con, target, batch, cell_clocks=True, replica=None):
    """target := merge(target, batch), as the dbt incremental strategy does it."""
    opts = ""
    if replica:
        opts += f", replica := '{replica}'"
    if cell_clocks:
        cols = [columns(con, target), columns(con, batch)]
        opts += f", cell_clocks := true, columns := {cols!r}"
    merged = fresh_name("m")
    con.execute(
        f"CREATE TABLE {merged} AS SELECT * FROM crdt_merge(['{target}', '{batch}'], ['id']{opts})"
    )
    return merged


def table(con, name, cols):
    return con.execute(f"SELECT {', '.join(cols)} FROM {name} ORDER BY id").fetchall()


def load(con, rows, with_site=False):
    name = fresh_name("b")
    site = ", site VARCHAR" if with_site else ""
    con.execute(f"CREATE TABLE {name} (id INTEGER, i INTEGER, s VARCHAR{site}, _ts INTEGER)")
    if rows:
        holes = ", ".join(["?"] * (5 if with_site else 4))
        con.executemany(f"INSERT INTO {name} VALUES ({holes})",
                        [r if with_site else r[:3] + r[4:] for r in rows])
    return name


def test_finding_14_null_cells_re_merge_in_any_order(con):
    a = load(con, [(1, 0, "a", None, 2)])
    b = load(con, [(1, None, None, None, 3)])
    c = load(con, [(1, -1, "b", None, 2)])

    def run(order, cell_clocks):
        target = order[0]
        for batch in order[1:]:
            target = merge_into(con, target, batch, cell_clocks)
        return table(con, target, ["id", "i", "s", "_ts"])

    # Without cell clocks, batch order changes the answer (the documented old limitation).
    assert run([a, b, c], False) != run([c, b, a], False)
    forward, reverse = run([a, b, c], True), run([c, b, a], True)
    assert forward == reverse == [(1, 0, "b", 3)]


def test_cell_clocks_need_the_column_lists(con):
    con.execute("CREATE TABLE t1 (id INTEGER, v INTEGER, _ts INTEGER)")
    try:
        con.execute("SELECT * FROM crdt_merge(['t1', 't1'], ['id'], cell_clocks := true)")
        raise AssertionError("expected an error")
    except Exception as e:  # noqa: BLE001 - the message is what is checked
        assert "cell_clocks" in str(e) and "columns" in str(e), e
    for bad in ["[['id']]", "'x'", "[['id', NULL], ['id']]"]:
        try:
            con.execute(f"SELECT * FROM crdt_merge(['t1', 't1'], ['id'], cell_clocks := true, columns := {bad})")
            raise AssertionError(f"expected an error for {bad}")
        except Exception as e:  # noqa: BLE001
            assert "argument `columns`" in str(e), e


def test_columns_path_refuses_null_keys(con):
    con.execute("CREATE TABLE t2 (id INTEGER, v INTEGER, _ts INTEGER)")
    con.execute("INSERT INTO t2 VALUES (NULL, 1, 1)")
    cols = [["id", "v", "_ts"], ["id", "v", "_ts"]]
    try:
        con.execute(f"SELECT * FROM crdt_merge(['t2', 't2'], ['id'], cell_clocks := true, columns := {cols!r})").fetchall()
        raise AssertionError("expected an error")
    except Exception as e:  # noqa: BLE001
        assert "expected a key without NULLs" in str(e), e


row = st.tuples(st.integers(0, 3), st.one_of(st.none(), st.integers(-2, 2)),
                st.one_of(st.none(), st.sampled_from(["a", "b", "c"])),
                st.sampled_from(["p", "q"]), st.integers(0, 3))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.lists(row, max_size=5), min_size=3, max_size=3), st.booleans())
def test_batches_merged_one_by_one_give_one_table_in_any_order(batches, with_site):
    con = shared_connection()
    names = [load(con, b, with_site) for b in batches]
    replica = "site" if with_site else None
    cols = ["id", "i", "s", "_ts", "i__ts", "s__ts"] + (["site", "i__replica", "s__replica"] if with_site else [])
    results = []
    for order in ([0, 1, 2], [2, 1, 0], [1, 0, 2]):
        target = names[order[0]]
        # The first batch as a table merged with itself: a target that already has cell clocks.
        target = merge_into(con, target, target, True, replica)
        for k in order[1:]:
            target = merge_into(con, target, names[k], True, replica)
        results.append(table(con, target, cols))
    assert results[0] == results[1] == results[2]
