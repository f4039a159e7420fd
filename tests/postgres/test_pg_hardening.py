"""Regression tests for the Postgres findings of issue 14 (hostile-input probe).

Finding 2: crdt_merge_into works on targets with a PRIMARY KEY or unique index on the key, and
row triggers see one UPDATE per changed row and one INSERT per new key (nothing for unchanged
rows); an unkeyed target's duplicate keys collapse into one row.
Finding 10: NULL arguments, NULL array elements and a non-boolean tombstone are clean ERRORs
(22023) naming the function and the argument, without a Rust backtrace in DETAIL.
"""
import psycopg
import pytest

from pgutil import one, without_cell_clocks

COLS = "id int, name text, score int, _deleted boolean, _ts bigint"
STRATEGIES = '{"score": "max"}'


def rows(c, table):
    return sorted(without_cell_clocks(c.execute(f"SELECT * FROM {table}")), key=repr)


def merge_into(c, target, source, key="{id}", strategies=STRATEGIES):
    c.execute(f"CALL crdt_merge_into('{target}', '{source}', '{key}', '{strategies}', "
              f"tombstone => '_deleted')")


def add_log_trigger(c, table, key_expr="NEW.id::text", old_key_expr="OLD.id::text"):
    """Records every row operation on `table` in `log(op, k)`, in order."""
    c.execute("CREATE TABLE IF NOT EXISTS log(n serial, op text, k text)")
    c.execute(f"""
        CREATE FUNCTION log_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' THEN
            INSERT INTO log(op, k) VALUES (TG_OP, {old_key_expr});
            RETURN OLD;
          END IF;
          INSERT INTO log(op, k) VALUES (TG_OP, {key_expr});
          RETURN NEW;
        END $$""")
    c.execute(f"CREATE TRIGGER log_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
              f"FOR EACH ROW EXECUTE FUNCTION log_{table}()")


def log(c):
    """The operations logged since the last call, sorted (AFTER triggers of one statement fire
    in an order the plan decides)."""
    got = sorted(tuple(r) for r in c.execute("SELECT op, k FROM log").fetchall())
    c.execute("TRUNCATE log")
    return got


def setup_pair(c, target_ddl):
    c.execute(target_ddl)
    c.execute("INSERT INTO t VALUES (1, 'a', 5, false, 10), (2, 'b', 1, false, 10)")
    c.execute(f"CREATE TABLE s({COLS})")
    # Key 1 changes (newer clock), key 2 is unchanged (older write, lower score), key 3 is new.
    c.execute("INSERT INTO s VALUES (1, 'z', 3, false, 20), (2, 'old', 0, false, 5), "
              "(3, 'c', 7, false, 5)")


EXPECTED = sorted([(1, "z", 5, False, 20), (2, "b", 1, False, 10), (3, "c", 7, False, 5)], key=repr)


# --- finding 2 -------------------------------------------------------------------------------

def test_finding_2_merge_into_primary_key_target(con):
    setup_pair(con, "CREATE TABLE t(id int PRIMARY KEY, name text, score int, _deleted boolean, _ts bigint)")
    merge_into(con, "t", "s")
    assert rows(con, "t") == EXPECTED
    merge_into(con, "t", "s")
    assert rows(con, "t") == EXPECTED
    merge_into(con, "t", "t")
    assert rows(con, "t") == EXPECTED


def test_finding_2_merge_into_unique_index_target(con):
    setup_pair(con, f"CREATE TABLE t({COLS})")
    con.execute("CREATE UNIQUE INDEX t_id ON t(id)")
    merge_into(con, "t", "s")
    assert rows(con, "t") == EXPECTED
    merge_into(con, "t", "s")
    assert rows(con, "t") == EXPECTED


def test_finding_2_merge_into_composite_key(con):
    con.execute("CREATE TABLE t(a int, b text, v text, n int, _ts bigint, PRIMARY KEY (a, b))")
    con.execute("INSERT INTO t VALUES (1, 'x', 'old', 1, 1), (1, 'y', 'keep', 2, 1), (2, 'x', 'p', 3, 1)")
    con.execute("CREATE TABLE s(a int, b text, v text, n int, _ts bigint)")
    con.execute("INSERT INTO s VALUES (1, 'x', 'new', 0, 2), (2, 'y', 'q', 4, 1)")
    add_log_trigger(con, "t", "NEW.a || '/' || NEW.b", "OLD.a || '/' || OLD.b")
    con.execute("""CALL crdt_merge_into('t', 's', '{a,b}', '{"n": "max"}')""")
    assert rows(con, "t") == sorted([(1, "x", "new", 1, 2), (1, "y", "keep", 2, 1), (2, "x", "p", 3, 1),
                                     (2, "y", "q", 4, 1)], key=repr)
    assert log(con) == [("INSERT", "2/y"), ("UPDATE", "1/x")]
    con.execute("""CALL crdt_merge_into('t', 's', '{a,b}', '{"n": "max"}')""")
    assert log(con) == []


def test_finding_2_merge_into_triggers_see_one_update_per_changed_row(con):
    setup_pair(con, "CREATE TABLE t(id int PRIMARY KEY, name text, score int, _deleted boolean, _ts bigint)")
    add_log_trigger(con, "t")
    merge_into(con, "t", "s")
    assert log(con) == [("INSERT", "3"), ("UPDATE", "1")]
    # A re-run changes nothing, so no trigger fires.
    merge_into(con, "t", "s")
    assert log(con) == []
    merge_into(con, "t", "t")
    assert log(con) == []
    # A tombstone is an UPDATE of the row, not a DELETE.
    con.execute("INSERT INTO s VALUES (2, NULL, NULL, true, 30)")
    merge_into(con, "t", "s")
    assert log(con) == [("UPDATE", "2")]
    assert one(con, "SELECT _deleted FROM t WHERE id = 2") is True


def test_finding_2_merge_into_unkeyed_target_with_duplicates(con):
    con.execute(f"CREATE TABLE t({COLS})")
    # Key 1 three times (two of them identical), key 2 twice but not in the source.
    con.execute("INSERT INTO t VALUES (1, 'a', 5, false, 10), (1, 'b', 9, false, 12), "
                "(1, 'a', 5, false, 10), (2, 'p', 1, false, 1), (2, 'q', 2, false, 2)")
    con.execute(f"CREATE TABLE s({COLS})")
    con.execute("INSERT INTO s VALUES (1, 'z', 3, false, 11), (4, 'n', 4, false, 1)")
    want_1 = con.execute(f"SELECT * FROM crdt_merge(NULL::t, '{{t,s}}', '{{id}}', '{STRATEGIES}', "
                         "tombstone => '_deleted') WHERE id = 1").fetchall()
    assert want_1 == [(1, "b", 9, False, 12)]
    add_log_trigger(con, "t")
    merge_into(con, "t", "s")
    assert rows(con, "t") == sorted([(1, "b", 9, False, 12), (2, "p", 1, False, 1), (2, "q", 2, False, 2),
                                     (4, "n", 4, False, 1)], key=repr)
    ops = log(con)
    # Key 1: one row kept (updated unless it already was the merged row), the other two deleted.
    assert ops.count(("DELETE", "1")) == 2, ops
    assert ("INSERT", "4") in ops and len([o for o in ops if o[0] == "INSERT"]) == 1, ops
    assert len([o for o in ops if o[0] == "UPDATE"]) <= 1, ops
    merge_into(con, "t", "s")
    assert log(con) == []


def test_finding_2_merge_into_partitioned_target(con):
    con.execute("CREATE TABLE t(id int PRIMARY KEY, name text, score int, _deleted boolean, _ts bigint) "
                "PARTITION BY RANGE (id)")
    con.execute("CREATE TABLE t_lo PARTITION OF t FOR VALUES FROM (0) TO (2)")
    con.execute("CREATE TABLE t_hi PARTITION OF t FOR VALUES FROM (2) TO (100)")
    con.execute("INSERT INTO t VALUES (1, 'a', 5, false, 10), (2, 'b', 1, false, 10)")
    con.execute(f"CREATE TABLE s({COLS})")
    con.execute("INSERT INTO s VALUES (1, 'z', 3, false, 20), (2, 'old', 0, false, 5), "
                "(3, 'c', 7, false, 5)")
    merge_into(con, "t", "s")
    assert rows(con, "t") == EXPECTED
    merge_into(con, "t", "s")
    assert rows(con, "t") == EXPECTED


def test_finding_2_merge_into_view_target(con):
    """An updatable view has no ctid: rows are matched by key."""
    con.execute("CREATE TABLE base(id int PRIMARY KEY, name text, score int, _deleted boolean, _ts bigint)")
    con.execute("INSERT INTO base VALUES (1, 'a', 5, false, 10), (2, 'b', 1, false, 10)")
    con.execute("CREATE VIEW t AS SELECT * FROM base")
    con.execute(f"CREATE TABLE s({COLS})")
    con.execute("INSERT INTO s VALUES (1, 'z', 3, false, 20), (2, 'old', 0, false, 5), "
                "(3, 'c', 7, false, 5)")
    merge_into(con, "t", "s")
    assert rows(con, "base") == EXPECTED


def test_finding_2_merge_into_tables_named_like_its_ctes(con):
    """The generated statement names its CTEs m, o, u, d; tables of those names still work."""
    con.execute("CREATE TABLE m(id int PRIMARY KEY, name text, score int, _deleted boolean, _ts bigint)")
    con.execute("INSERT INTO m VALUES (1, 'a', 5, false, 10), (2, 'b', 1, false, 10)")
    con.execute(f"CREATE TABLE o({COLS})")
    con.execute("INSERT INTO o VALUES (1, 'z', 3, false, 20), (2, 'old', 0, false, 5), "
                "(3, 'c', 7, false, 5)")
    merge_into(con, "m", "o")
    assert rows(con, "m") == EXPECTED


def test_finding_2_merge_into_key_only_target(con):
    con.execute("CREATE TABLE t(id int PRIMARY KEY)")
    con.execute("INSERT INTO t VALUES (1)")
    con.execute("CREATE TABLE s(id int)")
    con.execute("INSERT INTO s VALUES (1), (2)")
    con.execute("CALL crdt_merge_into('t', 's', '{id}')")
    assert rows(con, "t") == [(1,), (2,)]


# --- finding 10 ------------------------------------------------------------------------------

def clean_error(c, sql, function, argument, params=None):
    """Runs `sql`, expecting a 22023 ERROR naming `function` and `argument` and no DETAIL."""
    with pytest.raises(psycopg.Error) as e:
        c.execute(sql, params).fetchall()
    err = e.value
    msg = err.diag.message_primary or ""
    assert err.sqlstate == "22023", (sql, err.sqlstate, str(err))
    assert msg.startswith(f"{function}: "), (sql, msg)
    assert f"argument `{argument}`" in msg, (sql, msg)
    assert err.diag.message_detail is None, (sql, err.diag.message_detail)
    for word in ("panicked", "backtrace", "stack backtrace", ".rs:"):
        assert word not in str(err).lower(), (sql, str(err))
    assert one(c, "SELECT 1") == 1
    return msg


@pytest.fixture
def pair(con):
    con.execute(f"CREATE TABLE t({COLS})")
    con.execute("INSERT INTO t VALUES (1, 'a', 5, false, 10)")
    con.execute(f"CREATE TABLE s({COLS})")
    con.execute("INSERT INTO s VALUES (1, 'b', 6, false, 20)")
    return con


def test_finding_10_null_key_element_is_a_clean_error(pair):
    clean_error(pair, "CALL crdt_merge_into('t', 's', '{id,NULL}')", "crdt_merge_into", "key")
    clean_error(pair, "SELECT * FROM crdt_merge(NULL::t, '{t,s}', '{id,NULL}')", "crdt_merge", "key")
    clean_error(pair, "SELECT crdt_merge_sql('{t,s}', '{NULL}')", "crdt_merge", "key")
    assert rows(pair, "t") == [(1, "a", 5, False, 10)]


def test_finding_10_null_target_or_source_is_a_clean_error(pair):
    clean_error(pair, "CALL crdt_merge_into(NULL, 's', '{id}')", "crdt_merge_into", "target")
    clean_error(pair, "CALL crdt_merge_into('t', NULL, '{id}')", "crdt_merge_into", "source")
    clean_error(pair, "CALL crdt_merge_into('t', 's', NULL)", "crdt_merge_into", "key")
    clean_error(pair, "CALL crdt_merge_into('t', 's', '{}')", "crdt_merge_into", "key")
    clean_error(pair, "CALL crdt_merge_into('t', 's', '{nope}')", "crdt_merge_into", "key")
    assert rows(pair, "t") == [(1, "a", 5, False, 10)]


def test_finding_10_non_boolean_tombstone_is_a_clean_error(con):
    con.execute("CREATE TABLE t(id int, v text, _deleted int, _ts bigint)")
    con.execute("INSERT INTO t VALUES (1, 'a', 0, 1)")
    con.execute("CREATE TABLE s(id int, v text, _deleted boolean, _ts bigint)")
    con.execute("INSERT INTO s VALUES (1, 'b', false, 2)")
    for sql, fn in [
        ("CALL crdt_merge_into('t', 's', '{id}', tombstone => '_deleted')", "crdt_merge_into"),
        ("SELECT * FROM crdt_merge(NULL::t, '{s,t}', '{id}', tombstone => '_deleted')", "crdt_merge"),
        ("SELECT crdt_merge_sql('{s,t}', '{id}', tombstone => '_DELETED')", "crdt_merge"),
        ("SELECT crdt_mergeql_sql('MERGE s, t ON id TOMBSTONE')", "crdt_mergeql"),
        ("SELECT * FROM crdt_mergeql(NULL::t, 'MERGE s, t ON id TOMBSTONE _deleted')", "crdt_mergeql"),
    ]:
        msg = clean_error(con, sql, fn, "tombstone")
        assert "_deleted" in msg and "boolean" in msg and "integer" in msg, msg
    # A domain over boolean is boolean.
    con.execute("CREATE DOMAIN flag AS boolean")
    con.execute("CREATE TABLE u(id int, v text, _deleted flag, _ts bigint)")
    con.execute("INSERT INTO u VALUES (1, 'c', true, 3)")
    assert con.execute("SELECT id, v, _deleted FROM crdt_merge(NULL::s, '{s,u}', '{id}', "
                       "tombstone => '_deleted')").fetchall() == [(1, "c", True)]


NULL_CASES = [
    ("SELECT crdt_merge_sql(NULL, '{id}')", "crdt_merge", "sources"),
    ("SELECT crdt_merge_sql('{}', '{id}')", "crdt_merge", "sources"),
    ("SELECT crdt_merge_sql(ARRAY['t'::regclass, NULL], '{id}')", "crdt_merge", "sources"),
    ("SELECT crdt_merge_sql('{t,s}', NULL)", "crdt_merge", "key"),
    ("SELECT crdt_merge_sql('{t,s}', '{{id}}')", "crdt_merge", "key"),
    ("SELECT * FROM crdt_merge(NULL::t, NULL, '{id}')", "crdt_merge", "sources"),
    ("SELECT * FROM crdt_merge(NULL::t, ARRAY[NULL::regclass], '{id}')", "crdt_merge", "sources"),
    ("SELECT * FROM crdt_merge(NULL::t, '{t,s}', NULL)", "crdt_merge", "key"),
    ("SELECT * FROM crdt_merge('{t,s}'::regclass[], NULL) AS m(id int)", "crdt_merge", "key"),
    ("SELECT * FROM crdt_merge(ARRAY['t'::regclass, NULL], '{id}') AS m(id int)", "crdt_merge", "sources"),
    ("SELECT crdt_mergeql_sql(NULL)", "crdt_mergeql", "query"),
    ("SELECT * FROM crdt_mergeql(NULL) AS m(id int)", "crdt_mergeql", "query"),
    ("SELECT * FROM crdt_mergeql(NULL::t, NULL)", "crdt_mergeql", "query"),
    ("SELECT crdt_merge_sql('{t,s}', '{id}', strategies => '{\"score\": null}')", "crdt_merge", "strategies"),
    ("SELECT crdt_merge_sql('{t,s}', '{ID,id}')", "crdt_merge", "columns"),
    # The internal renderer, called directly with NULLs, is an error too (not a pgrx panic).
    ("SELECT _crdt_merge_render('crdt_merge', '{public}', '{t}', '[[\"id\"]]', '{id,NULL}', NULL, NULL, "
     "NULL, NULL, NULL, NULL, NULL, NULL, NULL)", "crdt_merge", "key"),
    ("SELECT _crdt_merge_render('crdt_merge', NULL, '{t}', '[[\"id\"]]', '{id}', NULL, NULL, "
     "NULL, NULL, NULL, NULL, NULL, NULL, NULL)", "crdt_merge", "sources"),
]


@pytest.mark.parametrize("sql,function,argument", NULL_CASES, ids=[c[0][:60] for c in NULL_CASES])
def test_finding_10_null_arguments_of_every_entry_point(pair, sql, function, argument):
    clean_error(pair, sql, function, argument)


def test_finding_10_renderer_errors_name_the_argument(pair):
    """Kernel renderer errors come back under the user's function and argument names."""
    msg = clean_error(pair, "SELECT crdt_merge_sql('{t,s}', '{nope}')", "crdt_merge", "key")
    assert "nope" in msg
    msg = clean_error(pair, "CALL crdt_merge_into('t', 's', '{id}', tombstone => 'gone')",
                      "crdt_merge_into", "tombstone")
    assert "gone" in msg


def test_finding_2_merge_into_identity_key_and_generated_column(con):
    """An identity key takes the replicas' keys; a generated column is computed, not written."""
    con.execute("CREATE TABLE t(id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text, score int, "
                "_deleted boolean, _ts bigint, double int GENERATED ALWAYS AS (score * 2) STORED)")
    con.execute("INSERT INTO t OVERRIDING SYSTEM VALUE VALUES (1, 'a', 5, false, 10), (2, 'b', 1, false, 10)")
    con.execute(f"CREATE TABLE s({COLS})")
    con.execute("INSERT INTO s VALUES (1, 'z', 8, false, 20), (3, 'c', 7, false, 5)")
    add_log_trigger(con, "t")
    merge_into(con, "t", "s")
    assert rows(con, "t") == sorted([(1, "z", 8, False, 20, 16), (2, "b", 1, False, 10, 2),
                                     (3, "c", 7, False, 5, 14)], key=repr)
    assert log(con) == [("INSERT", "3"), ("UPDATE", "1")]
    merge_into(con, "t", "s")
    assert log(con) == []
