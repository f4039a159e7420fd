"""Writes tests/golden/python_*.crdt with the Python library crdt-merge 0.11.0.

These are committed, so `cargo test` checks that we read Python-written bytes (insertion order,
zlib payloads, `element_types`, version 0) without needing Python. Regenerate with
`PYTHONHASHSEED=0 .venv-interop/bin/python tests/interop/make_python_golden.py` (the seed fixes
Python's set order, so the output is deterministic).
"""

import pathlib
import sys

from crdt_merge import GCounter, LWWMap, LWWRegister, ORSet, PNCounter
from crdt_merge.clocks import DottedVersionVector, VectorClock
from crdt_merge.gossip import GossipState
from crdt_merge.wire import serialize

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "golden"


def python_states():
    """(name, object, compress) triples; OR-Set tags are fixed instead of uuid4 for determinism."""
    g = GCounter()
    g.increment("zeta", 3)
    g.increment("alpha", 1000)
    g.increment("mid", 0)  # a zero entry: we drop it on read
    yield "g_counter_unsorted", g, False

    pn = PNCounter()
    for i in range(40):
        pn.increment(f"replica-{i:02d}", i + 1)
        pn.decrement(f"replica-{i:02d}", i)
    yield "pn_counter_zlib", pn, True

    yield "lww_register_set_value", LWWRegister({3, 1, 2}, 1700000000.5, "n1"), False
    yield "lww_register_zero_ts", LWWRegister("x", 0, "n1"), False

    s = ORSet()
    s._elements = {
        "b": {"t2", "t1"},
        7: {"t3"},
        2.5: {"t4"},
        False: {"t5"},
        "removed": set(),
    }
    yield "or_set_element_types", s, False

    m = LWWMap()
    m.set("z", "last", 20, "n2")
    m.set("a", [1, "two"], 10, "n1")
    m.delete("z", 30)
    m.delete("never-set", 5)
    yield "lww_map_int_timestamps", m, False

    yield "vector_clock_unsorted", VectorClock({"n3": 1, "n1": 7, "n2": 300}), False
    yield "dotted_version_vector", DottedVersionVector(VectorClock({"b": 1, "a": 2}), ("c", 4)), False

    # n1 writes k="zzz" and j=5; n2 merges that, overwrites k with "aaa" and deletes j.
    a = GossipState("n1")
    a.update("k", "zzz")
    a.update("j", 5)
    b = GossipState("n2").merge(a)
    b.update("k", "aaa")
    b.delete("j")
    yield "gossip_state", b, False


def main():
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else GOLDEN
    for name, obj, compress in python_states():
        data = serialize(obj, compress=compress)
        (out / f"python_{name}.crdt").write_bytes(data)
    # Version 0 header, otherwise identical.
    data = bytearray(serialize(VectorClock({"v0": 1})))
    data[5] = 0
    (out / "python_vector_clock_version0.crdt").write_bytes(bytes(data))


if __name__ == "__main__":
    main()
