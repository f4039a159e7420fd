"""Row ids and digests in DuckDB, checked against an independent Python implementation of the
format in docs/wire-format.md (canonical values, blake3 derive_key, negentropy's fingerprint), the
same digest at every thread count and row order (DuckDB combines partial states), incremental
upkeep of a digest side table, and errors that name the function and argument."""

import hashlib
from decimal import Decimal

import blake3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import connect, fresh_name, one, shared_connection


# --- the format, written from the spec alone --------------------------------------------------

def leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        if n == 0:
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def counted(b: bytes) -> bytes:
    return leb128(len(b)) + b


def decimal_text(d: Decimal) -> str:
    s = format(d.normalize(), "f")
    return "0" if s in ("-0", "0") else s


def canonical(v, ty: str) -> bytes:
    """Canonical bytes of one value of SQL type `ty` (INTEGER/BIGINT/TEXT/BLOB/DOUBLE/DECIMAL/BOOLEAN)."""
    import struct
    if v is None:
        return b"\x00"
    if ty == "BOOLEAN":
        return b"\x01" + bytes([1 if v else 0])
    if ty in ("INTEGER", "BIGINT", "SMALLINT"):
        return b"\x02" + struct.pack("<q", v)
    if ty == "DOUBLE":
        v = 0.0 if v == 0 else v
        if v != v:
            return b"\x04" + struct.pack("<Q", 0x7FF8000000000000)
        return b"\x04" + struct.pack("<d", v)
    if ty.startswith("DECIMAL"):
        return b"\x05" + counted(decimal_text(Decimal(v)).encode())
    if ty == "TEXT":
        return b"\x06" + counted(v.encode())
    if ty == "BLOB":
        return b"\x07" + counted(bytes(v))
    raise ValueError(ty)


def row_id(key, key_ty, row: dict, types: dict, context="crdt-merge row v1") -> bytes:
    body = canonical(key, key_ty) + b"\x0b" + leb128(len(row))
    for name in sorted(row):
        body += counted(name.encode()) + canonical(row[name], types[name])
    return blake3.blake3(body, derive_key_context=context).digest()


def nvarint(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def fingerprint(ids) -> bytes:
    total = sum(int.from_bytes(i, "little") for i in ids) % (1 << 256)
    return hashlib.sha256(total.to_bytes(32, "little") + nvarint(len(ids))).digest()[:16]


# --- tests -----------------------------------------------------------------------------------

TYPES = {"k": "INTEGER", "name": "TEXT", "score": "DOUBLE", "price": "DECIMAL(10,2)",
         "flag": "BOOLEAN", "data": "BLOB", "_ts": "BIGINT"}

rows_st = st.lists(
    st.tuples(
        st.integers(-1000, 1000),
        st.one_of(st.none(), st.text(max_size=6)),
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False, width=64)),
        st.one_of(st.none(), st.decimals(min_value=-999, max_value=999, places=2, allow_nan=False)),
        st.one_of(st.none(), st.booleans()),
        st.one_of(st.none(), st.binary(max_size=5)),
        st.integers(0, 2**40),
    ),
    min_size=0, max_size=25, unique_by=lambda r: r[0],
)


def load(con, rows):
    t = fresh_name("dg")
    cols = ", ".join(f"{c} {ty}" for c, ty in TYPES.items())
    con.execute(f"CREATE TEMP TABLE {t}({cols})")
    if rows:
        con.executemany(f"INSERT INTO {t} VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    return t


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows_st)
def test_ids_and_digest_match_an_independent_implementation(rows):
    con = shared_connection()
    t = load(con, rows)
    got = dict(con.execute(f"SELECT k, crdt_row_id(k, {t}) FROM {t}").fetchall())
    want = {}
    for r in rows:
        d = dict(zip(TYPES, r))
        want[r[0]] = row_id(r[0], "INTEGER", d, TYPES)
    assert got == want
    digest = one(con, f"SELECT crdt_table_digest(k, {t}) FROM {t}")
    assert digest == fingerprint(list(want.values()))
    # Content ids leave out _ts.
    got_c = dict(con.execute(f"SELECT k, crdt_content_id(k, {t}) FROM {t}").fetchall())
    for r in rows:
        d = dict(zip(TYPES, r))
        del d["_ts"]
        assert got_c[r[0]] == row_id(r[0], "INTEGER", d, TYPES, "crdt-merge content v1")


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_digest_is_independent_of_threads_and_order(threads):
    con = connect(threads=threads)
    con.execute("CREATE TABLE t AS SELECT i AS k, 'v' || (i % 97) AS v, i % 13 AS _ts FROM range(300000) r(i)")
    a = one(con, "SELECT crdt_table_digest(k, t) FROM t")
    b = one(con, "SELECT crdt_table_digest(k, t) FROM (SELECT * FROM t ORDER BY v DESC, k) t")
    by_parts = one(con, """
        SELECT crdt_fingerprint(crdt_fingerprint_add(
            (SELECT crdt_fingerprint_state_agg(crdt_row_id(k, t)) FROM t WHERE k % 3 = 0),
            (SELECT crdt_fingerprint_state_agg(crdt_row_id(k, t)) FROM t WHERE k % 3 <> 0)))""")
    assert a == b == by_parts
    assert a == connect(threads=1).execute(
        "SELECT crdt_table_digest(i, {'k': i, 'v': 'v' || (i % 97), '_ts': i % 13}) FROM range(300000) r(i)"
    ).fetchone()[0]


def test_a_digest_side_table_kept_up_to_date(con):
    """The pattern docs/sync.md shows: a 40-byte state updated on insert, update and delete."""
    con.execute("CREATE TABLE t(k INTEGER, v TEXT, _ts BIGINT)")
    con.execute("INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 1), (3, 'c', 1)")
    state = one(con, "SELECT crdt_fingerprint_state_agg(crdt_row_id(k, t)) FROM t")
    # Update row 2: take its old id out, put the new one in.
    old = one(con, "SELECT crdt_row_id(k, t) FROM t WHERE k = 2")
    con.execute("UPDATE t SET v = 'B', _ts = 2 WHERE k = 2")
    new = one(con, "SELECT crdt_row_id(k, t) FROM t WHERE k = 2")
    state = one(con, "SELECT crdt_fingerprint_add(crdt_fingerprint_sub(?, ?), ?)", [state, old, new])
    # Delete row 3.
    gone = one(con, "SELECT crdt_row_id(k, t) FROM t WHERE k = 3")
    con.execute("DELETE FROM t WHERE k = 3")
    state = one(con, "SELECT crdt_fingerprint_sub(?, ?)", [state, gone])
    assert one(con, "SELECT crdt_fingerprint(?)", [state]) == one(con, "SELECT crdt_table_digest(k, t) FROM t")


def test_widths_column_order_and_nesting(con):
    a = one(con, "SELECT crdt_row_id(1::TINYINT, {'b': [1::SMALLINT, NULL], 'a': {'y': 'x', 'x': 2::UTINYINT}})")
    b = one(con, "SELECT crdt_row_id(1::BIGINT, {'a': {'x': 2::BIGINT, 'y': 'x'}, 'b': [1::BIGINT, NULL]})")
    assert a == b
    assert a != one(con, "SELECT crdt_row_id(1::BIGINT, {'a': {'x': 2::BIGINT, 'y': 'x'}, 'b': [NULL, 1::BIGINT]})")
    # Text types alike, timestamps in any unit alike.
    assert one(con, "SELECT crdt_row_id('k'::VARCHAR, {'t': TIMESTAMP '2020-01-01 00:00:01'})") == one(
        con, "SELECT crdt_row_id('k', {'t': TIMESTAMP_S '2020-01-01 00:00:01'})")


@pytest.mark.parametrize("sql,words", [
    ("SELECT crdt_row_id(1, 5)", ["crdt_row_id", "row"]),
    ("SELECT crdt_fingerprint_agg('abc'::BLOB)", ["crdt_fingerprint_agg", "32-byte"]),
    ("SELECT crdt_fingerprint('abc'::BLOB)", ["crdt_fingerprint", "40-byte"]),
    ("SELECT crdt_sync_key(1, 'abc'::BLOB)", ["crdt_sync_key", "id"]),
    ("SELECT crdt_content_id(1, {'a': 1}, [1, 2])", ["crdt_content_id", "metadata"]),
])
def test_errors_name_function_and_argument(con, sql, words):
    with pytest.raises(Exception) as e:
        con.execute(sql).fetchall()
    msg = str(e.value)
    for w in words:
        assert w.lower() in msg.lower(), msg
