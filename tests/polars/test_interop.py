"""State bytes interchange with the Python crdt-merge 0.11.0 library (its wire format), both ways."""
import json

import polars as pl
from crdt_merge import GCounter, LWWRegister, ORSet, PNCounter
from crdt_merge.wire import deserialize, serialize

import polars_crdt as crdt


def py_states():
    g1, g2 = GCounter(), GCounter()
    g1.increment("n1", 5)
    g2.increment("n1", 3)
    g2.increment("n2", 7)
    pn = PNCounter()
    pn.increment("a", 10)
    pn.decrement("b", 4)
    s = ORSet()
    s.add("apple")
    s.add(7)
    return {"g1": g1, "g2": g2, "pn": pn, "reg": LWWRegister("hello", 17.5, "n1"), "set": s}


def test_python_bytes_are_read_here():
    states = py_states()
    df = pl.DataFrame({"name": list(states), "b": [serialize(v) for v in states.values()]})
    out = df.select("name", t=crdt.typeof("b"), j=crdt.to_json("b"))
    types = dict(zip(out["name"], out["t"]))
    assert types == {"g1": "g_counter", "g2": "g_counter", "pn": "pn_counter", "reg": "lww_register", "set": "or_set"}
    js = dict(zip(out["name"], out["j"]))
    assert json.loads(js["g2"]) == {"type": "g_counter", "counts": {"n1": 3, "n2": 7}}
    assert json.loads(js["reg"])["value"] == "hello"


def test_counters_merge_here_as_in_python():
    states = py_states()
    df = pl.DataFrame({"b": [serialize(states["g1"]), serialize(states["g2"])]})
    merged = df.select(crdt.state_merge("b")).item()
    expected = states["g1"].merge(states["g2"])
    assert df.select(crdt.counter_value(crdt.state_merge("b"))).item() == expected.value == 12
    # Our merged bytes decode in Python to the same state.
    back = deserialize(merged)
    assert isinstance(back, GCounter) and back.value == expected.value
    pn = pl.DataFrame({"b": [serialize(states["pn"])]}).select(crdt.counter_value("b")).item()
    assert pn == states["pn"].value == 6


def test_our_counter_bytes_decode_in_python():
    df = pl.DataFrame({"r": ["n1", "n2", "n1"], "inc": [4, 2, 9], "dec": [1, 0, 3]})
    g = df.select(crdt.gcounter("r", "inc")).item()
    pn = df.select(crdt.pncounter("r", "inc", "dec")).item()
    gp, pnp = deserialize(g), deserialize(pn)
    assert isinstance(gp, GCounter) and gp.value == 11
    assert isinstance(pnp, PNCounter) and pnp.value == 11 - 3
    # Python merging our state with its own gives what we compute for the same pair.
    mine = GCounter()
    mine.increment("n3", 1)
    both = pl.DataFrame({"b": [g, serialize(mine)]}).select(crdt.counter_value(crdt.state_merge("b"))).item()
    assert both == gp.merge(mine).value == 12
