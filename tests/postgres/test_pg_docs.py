"""Every ```sql block of docs/postgres.md runs, in order, in one fresh schema; a `-- expect:` line
gives the rows its last statement returns (a Python literal)."""
import ast
import re

from pgutil import ROOT, connect, fresh_schema


def blocks():
    text = (ROOT / "docs" / "postgres.md").read_text()
    return re.findall(r"```sql\n(.*?)```", text, re.S)


def test_docs_examples():
    assert blocks()
    with connect(fresh_schema("docs")) as c:
        for block in blocks():
            expect = None
            lines = []
            for line in block.splitlines():
                if line.startswith("-- expect:"):
                    expect = ast.literal_eval(line[len("-- expect:"):].strip())
                elif not line.startswith("--"):
                    lines.append(line)
            statements = [s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.M) if s.strip()]
            if statements[0].upper().startswith("CREATE EXTENSION"):
                continue
            rows = None
            for s in statements:
                cur = c.execute(s)
                rows = cur.fetchall() if cur.description else None
            if expect is not None:
                assert rows == expect, (block, rows)
