"""Shared helpers: run the Rust wire_tool, and render Python states in our JSON shape."""

import json
import math
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


class ToolError(Exception):
    """wire_tool exited non-zero; the message is its stderr."""


def tool(*args):
    """Runs `wire_tool ARGS` (the binary named by $WIRE_TOOL, else through cargo) and returns stdout."""
    exe = os.environ.get("WIRE_TOOL")
    if exe:
        cmd = [exe, *map(str, args)]
    else:
        cmd = ["cargo", "run", "-q", "-p", "crdt-merge-kernel", "--example", "wire_tool", "--", *map(str, args)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise ToolError(r.stderr.strip())
    return r.stdout


def float_json(f):
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    return f


def canon_key(v):
    """Our canonical value order (Datum's Ord), for the kinds the tests use."""
    if v is None:
        return (0,)
    if isinstance(v, bool):
        return (1, v)
    if isinstance(v, (int, float)):
        nan = isinstance(v, float) and math.isnan(v)
        return (2, 1 if nan else 0, 0 if nan else v, 1 if isinstance(v, float) else 0)
    if isinstance(v, str):
        return (3, v.encode())
    if isinstance(v, (bytes, bytearray)):
        return (4, bytes(v))
    raise TypeError(f"no canonical key for {type(v).__name__} in these tests")


def datum_json(v):
    """A Python value as our `Datum::to_json` renders it."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return float_json(v)
    if isinstance(v, (bytes, bytearray)):
        return {"$bytes": bytes(v).hex()}
    if isinstance(v, (list, tuple)):
        return [datum_json(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return [datum_json(x) for x in sorted(v, key=canon_key)]
    if isinstance(v, dict):
        if all(isinstance(k, str) for k in v):
            return {k: datum_json(x) for k, x in v.items()}
        return [[datum_json(k), datum_json(v[k])] for k in sorted(v, key=canon_key)]
    raise TypeError(type(v).__name__)


def ts_json(t):
    return float_json(t) if isinstance(t, float) else t


def g_json(d):
    """A G-Counter dict with zero counts dropped (we do not store them)."""
    return {"type": "g_counter", "counts": {k: v for k, v in d.get("counts", {}).items() if v != 0}}


def register_json(d):
    return {
        "type": "lww_register",
        "node_id": d.get("node_id", ""),
        "timestamp": ts_json(d["timestamp"] or 0.0),
        "value": datum_json(d["value"]),
    }


def py_json(obj):
    """A Python crdt-merge object's `to_dict()` in the form our `crdt_to_json` gives it: JSON
    values, zero counts dropped, OR-Set tags sorted and elements without live tags dropped."""
    d = obj.to_dict()
    t = d["type"]
    if t == "g_counter":
        return g_json(d)
    if t == "pn_counter":
        return {"type": t, "pos": g_json(d["pos"]), "neg": g_json(d["neg"])}
    if t == "lww_register":
        return register_json(d)
    if t == "or_set":
        elements = {k: sorted(tags) for k, tags in d["elements"].items() if tags}
        out = {"type": t, "elements": elements}
        types = {k: v for k, v in d.get("element_types", {}).items() if k in elements}
        if types:
            out["element_types"] = types
        return out
    if t == "lww_map":
        return {
            "type": t,
            "registers": {k: register_json(r) for k, r in d["registers"].items()},
            "tombstones": {k: ts_json(v) for k, v in d["tombstones"].items()},
        }
    if t == "vector_clock":
        return {"type": t, "clocks": {k: v for k, v in d["clocks"].items() if v}}
    if t == "dotted_version_vector":
        out = {"type": t, "base": {"type": "vector_clock", "clocks": d["base"]["clocks"]}}
        if d.get("dot") is not None and d["dot"][1] != 0:
            out["dot"] = list(d["dot"])
        return out
    raise TypeError(t)


def norm(j):
    """Our JSON less what Python cannot hold: OR-Set tombstones (and element types only they
    needed)."""
    if j.get("type") == "or_set":
        out = {"type": "or_set", "elements": j["elements"]}
        types = {k: v for k, v in j.get("element_types", {}).items() if k in j["elements"]}
        if types:
            out["element_types"] = types
        return out
    return j


def effective(j):
    """The effective clock of our DVV JSON: base with the dot folded in."""
    clocks = dict(j["base"]["clocks"])
    if "dot" in j:
        n, c = j["dot"]
        clocks[n] = max(clocks.get(n, 0), c)
    return clocks


@pytest.fixture(scope="session")
def rust_tool():
    return tool
