"""Runs every ```sql block of docs/duckdb.md, docs/sketches.md and docs/sync.md, in order, on one fresh database
per page.

A block's statements are split on `;` at line ends. `-- expect: <python literal>` checks the rows
of the block's last statement; `-- error: <text>` expects the last statement to fail with a
message containing the text.
"""
import ast
import re

import duckdb
import pytest

from conftest import ROOT, connect

DOC = ROOT / "docs" / "duckdb.md"
PAGES = [DOC, ROOT / "docs" / "sketches.md", ROOT / "docs" / "sync.md", ROOT / "docs" / "trust.md"]


def blocks(doc=DOC):
    text = doc.read_text(encoding="utf-8")
    return re.findall(r"```sql\n(.*?)```", text, flags=re.S)


def test_docs_have_examples():
    assert len(blocks()) >= 10


@pytest.mark.parametrize("doc", PAGES, ids=lambda p: p.name)
def test_every_sql_block_runs(doc):
    con = connect()
    for block in blocks(doc):
        expect = re.search(r"^-- expect: (.*)$", block, flags=re.M)
        error = re.search(r"^-- error: (.*)$", block, flags=re.M)
        body = "\n".join(l for l in block.splitlines() if not l.startswith("-- "))
        statements = [s.strip() for s in re.split(r";\s*$", body, flags=re.M) if s.strip()]
        for s in statements[:-1]:
            con.execute(s)
        last = statements[-1]
        if error:
            with pytest.raises(duckdb.Error) as e:
                con.execute(last).fetchall()
            assert error.group(1).strip() in str(e.value), (last, str(e.value))
            continue
        rows = con.execute(last).fetchall()
        if expect:
            want = ast.literal_eval(expect.group(1))
            if "order by" not in last.lower():
                # Without ORDER BY the row order is DuckDB's (crdt_merge is unordered by
                # default): compare the rows as a multiset.
                rows, want = sorted(rows, key=repr), sorted(want, key=repr)
            assert rows == want, (last, rows)
