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


def counts(g):
    return {k: v for k, v in g._counts.items() if v != 0}


def py_json(obj):
    """A Python crdt-merge object in the shape of our `crdt_to_json` (OR-Sets normalised by
    `norm_orset`, since element order there is ours)."""
    name = type(obj).__name__
    if name == "GCounter":
        return {"type": "g_counter", "counts": counts(obj), "value": obj.value}
    if name == "PNCounter":
        return {"type": "pn_counter", "pos": counts(obj._pos), "neg": counts(obj._neg), "value": obj.value}
    if name == "LWWRegister":
        return {
            "type": "lww_register",
            "node_id": obj._node_id,
            "timestamp": ts_json(obj.timestamp),
            "value": datum_json(obj.value),
        }
    if name == "ORSet":
        live = {e: tags for e, tags in obj._elements.items() if tags}
        return {
            "type": "or_set",
            "value": sorted(json.dumps(datum_json(e)) for e in live),
            "elements": {json.dumps(datum_json(e)): sorted(t) for e, t in live.items()},
        }
    if name == "LWWMap":
        return {
            "type": "lww_map",
            "value": {k: datum_json(v) for k, v in obj.value.items()},
            "registers": {
                k: {"node_id": r._node_id, "timestamp": ts_json(r.timestamp), "value": datum_json(r.value)}
                for k, r in obj._registers.items()
            },
            "tombstones": {k: ts_json(t) for k, t in obj._tombstones.items()},
        }
    if name == "VectorClock":
        return {"type": "vector_clock", "clocks": obj.value}
    if name == "DottedVersionVector":
        dot = list(obj.dot) if obj.dot is not None and obj.dot[1] != 0 else None
        return {"type": "dotted_version_vector", "base": obj.base.value, "dot": dot, "value": obj.value}
    raise TypeError(name)


def norm(j):
    """Our JSON with OR-Set element lists turned into the mapping `py_json` builds (tombstones,
    which Python does not have, are dropped)."""
    if j.get("type") == "or_set":
        return {
            "type": "or_set",
            "value": sorted(json.dumps(e) for e in j["value"]),
            "elements": {json.dumps(e): sorted(t) for e, t in j["elements"]},
        }
    return j


@pytest.fixture(scope="session")
def rust_tool():
    return tool
