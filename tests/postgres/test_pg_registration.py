"""CREATE EXTENSION creates exactly the kernel catalogue's functions (plus the table merges),
aggregates are parallel-safe with combine/serial/deserial, and every catalogue example gives its
documented result."""
import re

import pytest

from pgutil import ROOT, connect, fresh_schema, one
from slt_runner import normalise

TABLE_MERGE = {"crdt_merge", "crdt_merge_sql", "crdt_mergeql", "crdt_mergeql_sql", "crdt_merge_into"}

EXTENSION_FUNCTIONS = """
SELECT p.proname::text, p.prokind::text, p.proisstrict, p.provolatile::text, p.proparallel::text
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'crdt_merge'
"""


def catalogue(con):
    return {name: kind for name, kind, _ in con.execute("SELECT * FROM _crdt_catalogue()").fetchall()}


def test_created_functions_equal_catalogue(con):
    rows = con.execute(EXTENSION_FUNCTIONS).fetchall()
    public = {r[0] for r in rows if not r[0].startswith("_")}
    cat = catalogue(con)
    assert public == set(cat) | TABLE_MERGE
    for name, prokind, *_ in rows:
        if name in cat:
            assert prokind == ("a" if cat[name] == "aggregate" else "f"), name


def test_every_catalogue_function_has_an_entry_point(con):
    missing = [n for n, _, has in con.execute("SELECT * FROM _crdt_catalogue()").fetchall() if not has]
    assert missing == []


def test_catalogue_matches_the_generated_docs(con):
    text = (ROOT / "docs" / "sql-functions.md").read_text()
    documented = set(re.findall(r"^\| `(crdt_[a-z0-9_]+)` \|", text, re.M))
    assert documented == set(catalogue(con))


def test_aggregates_are_parallel_safe_with_support_functions(con):
    bad = con.execute("""
        SELECT p.proname FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
        WHERE p.proname LIKE 'crdt\\_%' AND (a.aggcombinefn = 0 OR a.aggserialfn = 0
              OR a.aggdeserialfn = 0 OR p.proparallel <> 's' OR a.aggtranstype <> 'internal'::regtype)
    """).fetchall()
    assert bad == []


def test_scalars_volatility_and_strictness(con):
    from_docs = {}
    text = (ROOT / "docs" / "sql-functions.md").read_text()
    for name, nulls in re.findall(r"^\| `(crdt_[a-z0-9_]+)` \| scalar \| .*? \| (bottom|strict) \|", text, re.M):
        from_docs[name] = nulls
    for name, prokind, strict, volatile, parallel in con.execute(EXTENSION_FUNCTIONS).fetchall():
        if name in from_docs:
            assert strict == (from_docs[name] == "strict"), name
            assert volatile == ("s" if name == "crdt_version" else "i"), name
            assert parallel == "s", name


def examples():
    text = (ROOT / "docs" / "sql-functions.md").read_text()
    return re.findall(r"### `(crdt_[a-z0-9_]+)`\n\n```sql\n(.*?);\n-- (.*?)\n```", text, re.S)


@pytest.mark.parametrize("name,sql,expected", examples(), ids=[e[0] for e in examples()])
def test_catalogue_example(name, sql, expected):
    with connect(fresh_schema("ex")) as c:
        assert normalise(one(c, sql)) == expected
