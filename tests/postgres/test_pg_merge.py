"""Table merges: crdt_merge / crdt_mergeql (set-returning), and crdt_merge_into: idempotent,
tombstones kept, and two concurrent sessions end with the same table as running them serially."""
import random
import threading
import time

import psycopg
import pytest

from pgutil import DSN, connect, one, without_cell_clocks

COLS = "id int, name text, score int, tags text[], _deleted boolean, _ts bigint"
STRATEGIES = '{"score": "max", "tags": "union"}'


def fill(c, table, rows):
    c.execute(f"CREATE TABLE {table}({COLS})")
    with c.cursor() as cur:
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s)", rows)


def random_rows(rng, n, keys, ts_base, unique=False):
    ids = rng.sample(range(keys), n) if unique else [rng.randrange(keys) for _ in range(n)]
    return [(i, rng.choice(["a", "b", "c"]), rng.randrange(100),
             rng.sample(["x", "y", "z", "w"], rng.randrange(3)), rng.random() < 0.1,
             ts_base + rng.randrange(1000)) for i in ids]


def table(c, name):
    return sorted(without_cell_clocks(c.execute(f"SELECT * FROM {name}")), key=repr)


def merge_into(c, target, source):
    c.execute(f"CALL crdt_merge_into('{target}', '{source}', '{{id}}', '{STRATEGIES}', tombstone => '_deleted')")


def test_crdt_merge_returns_merged_rows(con):
    con.execute("CREATE TABLE a(id int, name text, score int, _ts bigint)")
    con.execute("INSERT INTO a VALUES (1, 'Alice', 80, 1000), (2, 'Charlie', 70, 1000)")
    con.execute("CREATE TABLE b(id int, name text, score int, _ts bigint)")
    con.execute("INSERT INTO b VALUES (1, 'Bob', 90, 2000), (3, 'Diana', 85, 1000)")
    want = [(1, "Bob", 90, 2000), (2, "Charlie", 70, 1000), (3, "Diana", 85, 1000)]
    got = con.execute("""SELECT * FROM crdt_merge(NULL::a, '{a,b}', '{id}', '{"score": "max"}')""").fetchall()
    assert got == want
    got = con.execute("""SELECT * FROM crdt_merge('{a,b}'::regclass[], '{id}', '{"score": "max"}')
                         AS m(id int, name text, score int, _ts bigint)""").fetchall()
    assert got == want
    got = con.execute("SELECT * FROM crdt_mergeql(NULL::a, 'MERGE a, b ON id STRATEGY score=''max''')").fetchall()
    assert got == want
    got = con.execute("""SELECT id, name FROM crdt_mergeql('MERGE a, b ON id STRATEGY score=''max'' WHERE score >= 80 LIMIT 2')
                         AS m(id int, name text, score int, _ts bigint)""").fetchall()
    assert got == [(1, "Bob"), (3, "Diana")]


def test_crdt_merge_null_key_is_an_error(con):
    con.execute("CREATE TABLE a(id int, v text, _ts bigint)")
    con.execute("INSERT INTO a VALUES (NULL, 'x', 1)")
    with pytest.raises(psycopg.Error) as e:
        con.execute("SELECT * FROM crdt_merge(NULL::a, '{a,a}', '{id}')").fetchall()
    assert e.value.sqlstate == "22023" and "key" in str(e.value)


def test_merge_into_is_idempotent_and_keeps_tombstones(con):
    con.execute(f"CREATE TABLE t({COLS})")
    con.execute("INSERT INTO t VALUES (1, 'a', 5, '{x}', false, 10), (2, 'b', 1, '{}', false, 10)")
    con.execute(f"CREATE TABLE s({COLS})")
    con.execute("INSERT INTO s VALUES (1, NULL, 3, '{y}', true, 20), (3, 'c', 7, '{z}', false, 5)")
    merge_into(con, "t", "s")
    once = table(con, "t")
    assert once == sorted([(1, "a", 5, ["x", "y"], True, 20), (2, "b", 1, [], False, 10),
                           (3, "c", 7, ["z"], False, 5)], key=repr)
    merge_into(con, "t", "s")
    assert table(con, "t") == once
    merge_into(con, "t", "t")
    assert table(con, "t") == once


def test_merge_into_rejects_unknown_source_columns(con):
    con.execute("CREATE TABLE t(id int, v text, _ts bigint)")
    con.execute("CREATE TABLE s(id int, v text, w text, _ts bigint)")
    with pytest.raises(psycopg.Error) as e:
        con.execute("CALL crdt_merge_into('t', 's', '{id}')")
    assert "crdt_merge_into" in str(e.value) and "w" in str(e.value)


def test_concurrent_merge_into_equals_serial(schema):
    rng = random.Random(7)
    c = connect(schema)
    base, s1, s2 = (random_rows(rng, 600, 800, 0, unique=True), random_rows(rng, 3000, 800, 500),
                    random_rows(rng, 3000, 800, 700))
    for name in ("t_serial", "t_conc"):
        fill(c, name, base)
    fill(c, "s1", s1)
    fill(c, "s2", s2)
    merge_into(c, "t_serial", "s1")
    merge_into(c, "t_serial", "s2")
    serial = table(c, "t_serial")
    # The serial result is the join of all three inputs.
    fill(c, "t_all", [])
    merge_into(c, "t_all", "t_conc")
    merge_into(c, "t_all", "s2")
    merge_into(c, "t_all", "s1")
    assert table(c, "t_all") == serial

    a = psycopg.connect(DSN, autocommit=False)
    b = connect(schema)
    a.execute(f"SET search_path = {schema}, public")
    locked = threading.Event()
    errors = []

    def session_a():
        try:
            merge_into(a, "t_conc", "s1")
            locked.set()
            time.sleep(1.0)          # hold the lock while B tries to merge
            a.commit()
        except Exception as e:  # noqa: BLE001
            errors.append(e)
            locked.set()

    def session_b():
        locked.wait()
        try:
            t0 = time.monotonic()
            merge_into(b, "t_conc", "s2")
            waited.append(time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    waited = []
    ta, tb = threading.Thread(target=session_a), threading.Thread(target=session_b)
    ta.start(); tb.start(); ta.join(); tb.join()
    assert errors == []
    assert waited and waited[0] > 0.5, "B did not wait for A's lock"
    assert table(c, "t_conc") == serial
    # Keys stay unique in the merged table.
    assert one(c, "SELECT count(*) - count(DISTINCT id) FROM t_conc") == 0
    a.close(); b.close(); c.close()


def test_merge_into_refuses_repeatable_read(schema):
    c = connect(schema)
    c.execute("CREATE TABLE t(id int, v text, _ts bigint)")
    c.execute("CREATE TABLE s(id int, v text, _ts bigint)")
    c.autocommit = False
    c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    with pytest.raises(psycopg.Error) as e:
        c.execute("CALL crdt_merge_into('t', 's', '{id}')")
    assert "REPEATABLE READ" in str(e.value)
    c.rollback(); c.close()
