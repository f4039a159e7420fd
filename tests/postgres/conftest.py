"""Fixtures for the Postgres extension tests (run by scripts/test-postgres.sh, which starts a
throwaway server and exports $CRDT_PG_DSN)."""
import psycopg
import pytest

from pgutil import DSN, connect, fresh_schema


@pytest.fixture(scope="session", autouse=True)
def _extension():
    if not DSN:
        pytest.fail("CRDT_PG_DSN is not set: run scripts/test-postgres.sh")
    with psycopg.connect(DSN, autocommit=True) as c:
        c.execute("DROP EXTENSION IF EXISTS crdt_merge CASCADE")
        c.execute("CREATE EXTENSION crdt_merge")


@pytest.fixture
def schema():
    return fresh_schema()


@pytest.fixture
def con(schema):
    c = connect(schema)
    yield c
    c.close()
