"""Interop with the Python library crdt-merge 0.11.0, in both directions.

(a) States the Python library writes decode here to the same values (plain, zlib, batches), and
    our re-encoding of them decodes there to the same values; merges agree.
(b) States we write (`wire_tool samples`) decode there to the same values; re-serialised by
    Python they decode here to the same state, less what Python cannot hold (OR-Set tombstones).
"""

import json
import random

import pytest
from crdt_merge import GCounter, LWWMap, LWWRegister, ORSet, PNCounter
from crdt_merge.clocks import DottedVersionVector, VectorClock
from crdt_merge.wire import WireError, deserialize, serialize, serialize_batch

from conftest import ToolError, effective, norm, py_json, tool


def python_states():
    """Named states built through the Python API, covering every type both sides have."""
    g = GCounter()
    g.increment("zeta", 3)
    g.increment("alpha", 1000)
    g.increment("big", 2**62)
    yield "g_counter", g

    yield "g_counter_empty", GCounter()

    pn = PNCounter()
    pn.increment("a", 10)
    pn.decrement("b", 300)
    pn.decrement("a", 1)
    yield "pn_counter", pn

    yield "lww_register_str", LWWRegister("hello", 1700000000.25, "n1")
    yield "lww_register_int_ts", LWWRegister(42, 1700000000123, "n2")
    yield "lww_register_none", LWWRegister(None, 3.0, "")
    yield "lww_register_default", LWWRegister()
    yield "lww_register_nested", LWWRegister(
        {"list": [1, None, True, -2.5], "bytes": b"\x00\xff", "set": {3, 1, 2}, "ints": {2: "b", -1: "a"}},
        5,
        "é",
    )
    yield "lww_register_big_int", LWWRegister(-(2**63), 1.0, "n")

    s = ORSet()
    s.add("apple")
    s.add("apple")
    s.add(7)
    s.add(2.5)
    s.add(True)
    s.add("removed")
    s.remove("removed")
    yield "or_set", s

    yield "or_set_empty", ORSet()

    f = ORSet()
    for e in [1e16, 1e-05, 0.1, 1e300, -2.5e-7, 123456789.125, 1e15, float("inf"), None, b"a'b"]:
        f.add(e)
    yield "or_set_python_str_keys", f

    m = LWWMap()
    m.set("name", "Ada", 10.0, "a")
    m.set("city", "London", 11.0, "b")
    m.delete("city", 12.0)
    m.set("tie", 1, 7, "a")
    m.delete("tie", 7)
    m.delete("ghost", 3.5)
    yield "lww_map", m

    yield "vector_clock", VectorClock({"n3": 1, "n1": 7, "ü": 300})
    yield "vector_clock_empty", VectorClock()
    yield "dvv_dot", DottedVersionVector(VectorClock({"b": 1, "a": 2}), ("c", 4))
    yield "dvv_no_dot", DottedVersionVector(VectorClock({"a": 2}))
    yield "dvv_advanced", DottedVersionVector(VectorClock({"a": 2})).advance("a")


PY_STATES = list(python_states())


def rt(obj):
    """The state as the Python library itself reads its bytes back. The reference for "same
    state": its OR-Set `from_dict` restores only int, float and bool elements, so a None or
    bytes element comes back as its `str()` text, there as here."""
    return deserialize(serialize(obj))


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "zlib"])
@pytest.mark.parametrize("name,obj", PY_STATES, ids=[n for n, _ in PY_STATES])
def test_python_bytes_decode_here_to_the_same_state(tmp_path, name, obj, compress):
    f = tmp_path / f"{name}.crdt"
    f.write_bytes(serialize(obj, compress=compress))
    ours = json.loads(tool("decode", f))
    assert norm(ours) == py_json(rt(obj))


@pytest.mark.parametrize("name,obj", PY_STATES, ids=[n for n, _ in PY_STATES])
def test_our_reencoding_of_python_bytes_decodes_there(tmp_path, name, obj):
    src, out = tmp_path / "in.crdt", tmp_path / "out.crdt"
    src.write_bytes(serialize(obj))
    tool("reencode", src, out)
    back = deserialize(out.read_bytes())
    assert type(back) is type(obj)
    assert py_json(back) == py_json(rt(obj))
    assert back.value == rt(obj).value


def test_python_batches_decode_here(tmp_path):
    objs = [o for _, o in PY_STATES]
    f = tmp_path / "batch.bin"
    f.write_bytes(serialize_batch(objs, compress=True))
    ours = json.loads(tool("decode-batch", f))
    assert [norm(j) for j in ours] == [py_json(rt(o)) for o in objs]


def random_states(rng, n):
    """Random Python states of every type, for a bulk round trip."""
    names = ["a", "b", "c", "d", "é", ""]
    for i in range(n):
        kind = i % 7
        if kind == 0:
            o = GCounter()
            for _ in range(rng.randint(0, 5)):
                o.increment(rng.choice(names), rng.choice([0, 1, 127, 128, 2**40, 2**60]))
        elif kind == 1:
            o = PNCounter()
            for _ in range(rng.randint(0, 5)):
                o.increment(rng.choice(names), rng.randint(0, 1000))
                o.decrement(rng.choice(names), rng.randint(0, 1000))
        elif kind == 2:
            o = LWWRegister(
                rng.choice([None, True, 0, -129, 1.25, "x", b"b", [1, "2"], {"k": 1}]),
                rng.choice([0, 1, -5, 2.5, 1e300, 2**62]),
                rng.choice(names),
            )
        elif kind == 3:
            o = ORSet()
            for _ in range(rng.randint(0, 6)):
                e = rng.choice(["x", "y", 1, 2.5, False])
                if rng.random() < 0.7:
                    o.add(e)
                else:
                    o.remove(e)
        elif kind == 4:
            o = LWWMap()
            for _ in range(rng.randint(0, 6)):
                k = rng.choice(["k", "j", "é"])
                if rng.random() < 0.7:
                    o.set(k, rng.choice([1, "v", None, 2.5]), rng.randint(1, 20), rng.choice(names))
                else:
                    o.delete(k, rng.randint(1, 20))
        elif kind == 5:
            o = VectorClock({rng.choice(names): rng.randint(0, 2**40) for _ in range(rng.randint(0, 4))})
        else:
            o = DottedVersionVector(VectorClock({rng.choice(names): rng.randint(1, 9) for _ in range(3)}))
            if rng.random() < 0.6:
                o = o.advance(rng.choice(names))
        yield o


def test_random_python_states_round_trip_both_ways(tmp_path):
    rng = random.Random(20261124)
    objs = list(random_states(rng, 350))
    f = tmp_path / "batch.bin"
    f.write_bytes(serialize_batch(objs))
    ours = json.loads(tool("decode-batch", f))
    assert [norm(j) for j in ours] == [py_json(o) for o in objs]
    # Each one back through our encoder and into Python.
    for i, o in enumerate(objs[:70]):
        src, out = tmp_path / f"{i}.crdt", tmp_path / f"{i}.out"
        src.write_bytes(serialize(o))
        tool("reencode", src, out)
        assert py_json(deserialize(out.read_bytes())) == py_json(o)


MERGE_PAIRS = [
    ("g_counter", "g_counter_empty"),
    ("pn_counter", "pn_counter"),
    ("lww_register_str", "lww_register_int_ts"),
    ("lww_register_none", "lww_register_str"),
    ("or_set", "or_set_empty"),
    ("lww_map", "lww_map"),
    ("vector_clock", "vector_clock_empty"),
]


def merge_cases():
    by_name = dict(PY_STATES)
    a = ORSet()
    a.add("x")
    b = ORSet.from_dict(a.to_dict())
    b.add("y")
    a.remove("x")  # Python bytes carry no tombstone, so the merge brings x back on both sides
    yield "or_set_python_remove", a, b
    m1, m2 = LWWMap(), LWWMap()
    m1.set("k", 1, 5, "a")
    m2.set("k", 2, 6, "b")
    m2.delete("j", 4)
    m1.set("j", 9, 3, "a")
    yield "lww_map_newer", m1, m2
    for x, y in MERGE_PAIRS:
        yield f"{x}+{y}", by_name[x], by_name[y]


@pytest.mark.parametrize("name,a,b", list(merge_cases()), ids=[c[0] for c in merge_cases()])
def test_merges_agree_with_python(tmp_path, name, a, b):
    fa, fb = tmp_path / "a.crdt", tmp_path / "b.crdt"
    fa.write_bytes(serialize(a))
    fb.write_bytes(serialize(b))
    ours = json.loads(tool("merge", fa, fb))
    assert norm(ours) == py_json(a.merge(b))
    assert json.loads(tool("merge", fb, fa)) == ours


def test_dvv_merge_agrees_on_effective_clocks(tmp_path):
    a = DottedVersionVector(VectorClock({"a": 1})).advance("b")
    b = DottedVersionVector(VectorClock({"a": 3, "c": 1})).advance("a")
    fa, fb = tmp_path / "a.crdt", tmp_path / "b.crdt"
    fa.write_bytes(serialize(a))
    fb.write_bytes(serialize(b))
    ours = json.loads(tool("merge", fa, fb))
    theirs = a.merge(b)
    assert effective(ours) == theirs.value
    assert "dot" not in ours and theirs.dot is None
    # merge(x, x): Python folds the dot, we keep x; the effective clock is the same.
    same = json.loads(tool("merge", fa, fa))
    assert same["dot"] == ["b", 1] and a.merge(a).dot is None
    assert effective(same) == a.merge(a).value


def _live(state_json, key):
    values = state_json["entries"].get(key, {}).get("values", [])
    return sorted(json.dumps(v["value"]) for v in values if not v["deleted"])


def test_python_gossip_states_decode_and_merge_lawfully(tmp_path):
    """A Python GossipState (tag 0x43) reads here with the same live values; where Python's
    merge lets a stale value with the larger str() beat a causally newer write, ours keeps the
    newer one, in either order."""
    from crdt_merge.gossip import GossipState

    a = GossipState("n1")
    a.update("k", "zzz")
    a.update("j", 5)
    a.update("gone", [1, 2])
    b = GossipState("n2").merge(a)
    b.update("k", "aaa")  # n2 has seen "zzz": this write is newer
    b.delete("gone")
    fa, fb = tmp_path / "a.crdt", tmp_path / "b.crdt"
    fa.write_bytes(serialize(a))
    fb.write_bytes(serialize(b))
    for f, state in ((fa, a), (fb, b)):
        ours = json.loads(tool("decode", f))
        for key in ("k", "j", "gone"):
            want = state.get(key)
            assert _live(ours, key) == ([] if want is None else [json.dumps(want)]), key
    # Python: the stale "zzz" wins its merge in both orders (its counterexample) ...
    assert a.merge(b).get("k") == "zzz" and b.merge(a).get("k") == "zzz"
    # ... ours: the newer "aaa", and the delete sticks, whatever the order.
    ab = json.loads(tool("merge", fa, fb))
    ba = json.loads(tool("merge", fb, fa))
    assert ab == ba
    assert _live(ab, "k") == ['"aaa"'] and _live(ab, "gone") == [] and _live(ab, "j") == ["5"]


# ----------------------------------------------------------------------------------------------
# (b) our bytes in Python


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    d = tmp_path_factory.mktemp("samples")
    tool("samples", d)
    names = sorted(p.stem for p in d.glob("*.crdt"))
    assert len(names) >= 15
    return d, names


def test_our_samples_decode_in_python(samples):
    d, names = samples
    checked = 0
    for name in names:
        data = (d / f"{name}.crdt").read_bytes()
        expected = json.loads((d / f"{name}.json").read_text())
        if (d / f"{name}.rust-only").exists():
            with pytest.raises((WireError, Exception)):
                deserialize(data)
            continue
        obj = deserialize(data)
        assert py_json(obj) == norm(expected), name
        checked += 1
    assert checked >= 14


def test_python_reserialising_our_states_keeps_them_except_tombstones(samples, tmp_path):
    d, names = samples
    for name in names:
        if (d / f"{name}.rust-only").exists():
            continue
        obj = deserialize((d / f"{name}.crdt").read_bytes())
        f = tmp_path / f"{name}.crdt"
        f.write_bytes(serialize(obj))
        again = json.loads(tool("decode", f))
        expected = json.loads((d / f"{name}.json").read_text())
        if name.startswith("or_set"):
            # Python keeps live tags only: a round trip through it loses our tombstones.
            assert "tombstones" not in again
            expected = norm(expected)
        assert again == expected, name


def test_tombstones_are_what_python_loses(samples, tmp_path):
    d, _ = samples
    ours = json.loads((d / "or_set_tombstones.json").read_text())
    assert ours["tombstones"], "the sample must have tombstones"
    obj = deserialize((d / "or_set_tombstones.crdt").read_bytes())
    # Python sees the same live elements...
    assert py_json(obj) == norm(ours)
    # ...but merging its copy with a stale replica that still has the removed tag revives the
    # element in Python, while our state (with tombstones) keeps it removed.
    stale = ORSet()
    stale._elements = {"gone": {"r1:3"}}
    assert "gone" in obj.merge(stale).value
    f = tmp_path / "stale.crdt"
    f.write_bytes(serialize(stale))
    merged = json.loads(tool("merge", d / "or_set_tombstones.crdt", f))
    assert "gone" not in merged["elements"]


def test_python_rejects_nothing_we_write_and_we_reject_trailing_bytes(tmp_path):
    g = GCounter()
    g.increment("a", 1)
    data = serialize(g) + b"\x00"
    assert deserialize(data).value == 1  # Python ignores trailing bytes
    f = tmp_path / "trailing.crdt"
    f.write_bytes(data)
    with pytest.raises(ToolError, match="trailing"):
        tool("decode", f)


# ---------------------------------------------------------------------------------------------
# Sketches (docs/sketches.md): crdt-merge 0.11.0 reads our 0x30-0x32 frames, we read theirs,
# and our MinHash is datasketch's.

from crdt_merge import probabilistic as _prob  # noqa: E402
from crdt_merge import wire as _pywire  # noqa: E402


def _our_sketch(tmp_path, kind, values):
    out = tmp_path / f"{kind}.crdt"
    tool("sketch", kind, out, *values)
    return out.read_bytes()


def test_python_reads_our_hll_and_counts_it(tmp_path):
    values = [f"k{i}" for i in range(3000)]
    ours = _our_sketch(tmp_path, "hll", values)
    theirs = _pywire.deserialize(ours)
    assert isinstance(theirs, _prob.MergeableHLL)
    assert theirs.to_dict()["registers"] == json.loads(tool("decode", tmp_path / "hll.crdt"))["registers"]
    assert abs(theirs.cardinality() - 3000) < 3000 * 0.05


def test_our_upstream_family_hll_equals_theirs(tmp_path):
    values = [f"k{i}" for i in range(2000)]
    ours = _our_sketch(tmp_path, "hll-upstream", values)
    h = _prob.MergeableHLL(precision=14)
    for v in values:
        h.add(v)
    assert _pywire.deserialize(ours).to_dict()["registers"] == h.to_dict()["registers"]
    # And theirs decodes here as family upstream, merging with ours to ours.
    (tmp_path / "py.crdt").write_bytes(_pywire.serialize(h))
    merged = json.loads(tool("merge", tmp_path / "py.crdt", tmp_path / "hll-upstream.crdt"))
    assert merged["family"] == "upstream"
    assert merged["registers"] == h.to_dict()["registers"]


def test_python_reads_our_bloom_and_cms(tmp_path):
    values = [f"k{i}" for i in range(40)]
    b = _pywire.deserialize(_our_sketch(tmp_path, "bloom", values))
    mine = json.loads(tool("decode", tmp_path / "bloom.crdt"))
    assert list(b.bits) == mine["bits"] and b.size == mine["size"] and b.num_hashes == mine["num_hashes"]
    c = _pywire.deserialize(_our_sketch(tmp_path, "cms", values))
    mine = json.loads(tool("decode", tmp_path / "cms.crdt"))
    assert c.table == mine["table"] and c.total == mine["total"] == 40


def test_we_read_python_bloom_and_cms(tmp_path):
    b = _prob.MergeableBloom(capacity=100, fp_rate=0.01)
    c = _prob.MergeableCMS(width=50, depth=3)
    for i in range(30):
        b.add(f"x{i}")
        c.add(f"x{i % 7}", count=2)
    (tmp_path / "b.crdt").write_bytes(_pywire.serialize(b))
    (tmp_path / "c.crdt").write_bytes(_pywire.serialize(c))
    jb = json.loads(tool("decode", tmp_path / "b.crdt"))
    assert jb["family"] == "upstream" and jb["bits"] == list(b.bits)
    jc = json.loads(tool("decode", tmp_path / "c.crdt"))
    assert jc["replicas"]["_upstream"]["table"] == c.table and jc["total"] == 60


def test_minhash_equals_datasketch(tmp_path):
    import datasketch
    values = [f"w{i}" for i in range(200)]
    m = datasketch.MinHash(num_perm=128, seed=1)
    for v in values:
        m.update(v.encode("utf-8"))
    _our_sketch(tmp_path, "minhash", values)
    assert json.loads(tool("decode", tmp_path / "minhash.crdt"))["hashvalues"] == [int(x) for x in m.hashvalues]


def test_apache_datasketches_reads_ours_and_we_read_theirs(tmp_path):
    import datasketches as ds
    values = [f"k{i}" for i in range(5000)]
    _our_sketch(tmp_path, "hll", values)
    tool("scalar", "crdt_hll_to_datasketches", tmp_path / "hll.crdt", tmp_path / "hll.ds")
    theirs = ds.hll_sketch.deserialize((tmp_path / "hll.ds").read_bytes())
    assert theirs.lg_config_k == 14
    ours = json.loads(tool("decode", tmp_path / "hll.crdt"))
    assert abs(theirs.get_estimate() - ours["estimate"]) <= 0.01 * ours["estimate"]
    # Their sketch of the same strings (UTF-8 bytes, MurmurHash3 seed 9001) is our state.
    for tgt in (ds.tgt_hll_type.HLL_4, ds.tgt_hll_type.HLL_6, ds.tgt_hll_type.HLL_8):
        h = ds.hll_sketch(14, tgt)
        for v in values:
            h.update(v)
        (tmp_path / "py.ds").write_bytes(h.serialize_compact())
        tool("scalar", "crdt_hll_from_datasketches", tmp_path / "py.ds", tmp_path / "py.crdt")
        assert json.loads(tool("decode", tmp_path / "py.crdt"))["registers"] == ours["registers"]
