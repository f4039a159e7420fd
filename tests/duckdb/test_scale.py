"""A 2M-row merge gives the same answer under threads=1 and threads=2, and under a tight
memory_limit, in both plans: crdt_merge(...) of two inputs (a window sort, which spills) and the
strategy aggregates in a GROUP BY (DuckDB's hash aggregate then partitions and spills; the
states move with it)."""
import pytest

from conftest import connect

N = 1_000_000  # per replica: 2M input rows, 1.5M keys

SETUP = [
    f"""CREATE TABLE a AS SELECT i::BIGINT AS id, 'name_' || (i * 7 % 1000003) AS name,
        (i * 13 % 1000)::INTEGER AS score, [i % 3, i % 5] AS tags, (i % 5000)::DOUBLE AS _ts FROM range({N}) t(i)""",
    f"""CREATE TABLE b AS SELECT (i + {N // 2})::BIGINT AS id, 'name_' || (i * 11 % 1000003) AS name,
        (i * 17 % 1000)::INTEGER AS score, [i % 7] AS tags, (i % 7000)::DOUBLE AS _ts FROM range({N}) t(i)""",
]
MERGE = """SELECT count(*), sum(hash(id, name, score, tags, _ts)) FROM crdt_merge(['a', 'b'], 'id',
           strategies := {'score': 'max', 'tags': 'union'})"""
GROUPED = """SELECT count(*), sum(hash(id, name, score, tags, _ts)) FROM (
           SELECT id, crdt_lww(name, _ts) AS name, crdt_max(score) AS score, crdt_union(tags) AS tags,
                  max(_ts) AS _ts
           FROM (FROM a UNION ALL BY NAME FROM b) GROUP BY id)"""
PLANS = {"pair_plan": MERGE, "group_by": GROUPED}


def run(query=MERGE, **config):
    con = connect(**config)
    for s in SETUP:
        con.execute(s)
    out = con.execute(query).fetchone()
    con.close()
    return out


@pytest.fixture(scope="module")
def reference():
    return run(threads=2)


def test_plans_agree(reference):
    assert "__crdt_win" in connect().execute(
        "SELECT crdt_merge_sql(['a', 'b'], 'id', NULL, '_ts', NULL, NULL, false, NULL, NULL, NULL)").fetchone()[0]
    assert run(GROUPED, threads=2) == reference


@pytest.mark.parametrize("plan", PLANS)
def test_threads_one_and_two_agree(reference, plan):
    assert reference[0] == N + N // 2
    assert run(PLANS[plan], threads=1) == reference


@pytest.mark.parametrize("plan", PLANS)
def test_tight_memory_limit_agrees(reference, tmp_path, plan):
    assert run(PLANS[plan], threads=2, memory_limit="150MB", temp_directory=str(tmp_path)) == reference


def test_reference_matches_builtin_formulation(reference):
    con = connect(threads=2)
    for s in SETUP:
        con.execute(s)
    want = con.execute("""SELECT count(*), sum(hash(id, name, score, tags, _ts)) FROM (
        SELECT id, arg_max(name, (_ts, name)) AS name, max(score) AS score,
               list_sort(list_distinct(flatten(list(tags)))) AS tags, max(_ts) AS _ts
        FROM (FROM a UNION ALL FROM b) GROUP BY id)""").fetchone()
    assert want == reference
