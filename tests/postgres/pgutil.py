"""Connections to the throwaway Postgres server that scripts/test-postgres.sh starts.

$CRDT_PG_DSN is a libpq connection string (host, port, user, dbname). Each test that needs a
clean namespace gets a fresh schema with `search_path` set to it; the extension lives in
`public`, created once per session.
"""
import itertools
import os
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

DSN = os.environ.get("CRDT_PG_DSN", "")
_counter = itertools.count()


def connect(schema: str | None = None) -> psycopg.Connection:
    """An autocommit connection, with `search_path` = schema, public when schema is given."""
    conn = psycopg.connect(DSN, autocommit=True)
    if schema:
        conn.execute(f"SET search_path = {schema}, public")
    return conn


def fresh_schema(prefix: str = "t") -> str:
    """Creates a new empty schema and returns its name."""
    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(DSN, autocommit=True) as c:
        c.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        c.execute(f"CREATE SCHEMA {name}")
    return name


def one(conn, sql, params=None):
    """The single value of a one-row, one-column query."""
    rows = conn.execute(sql, params).fetchall()
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return rows[0][0]


def without_cell_clocks(cursor) -> list[tuple]:
    """The rows of an executed query without the cell clocks crdt_merge_into keeps
    (`<col>__ts`, `<col>__replica` beside a column `<col>`), for comparing data columns."""
    names = [d.name for d in cursor.description]
    keep = [i for i, n in enumerate(names)
            if not ((n.endswith("__ts") and n[:-4] in names)
                    or (n.endswith("__replica") and n[:-9] in names))]
    return [tuple(r[i] for i in keep) for r in cursor.fetchall()]
