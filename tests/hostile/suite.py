"""Builds an engine's whole matrix (probes it accepts, malformed states, bombs) and runs it."""
from __future__ import annotations

import hashlib
import pickle
import random
import time

import catalogue
import harness
import matrix
import states

SEED = 14


def bombs() -> dict[str, bytes]:
    """states.bombs(), cached on disk (compressing 250 MiB takes seconds)."""
    src = hashlib.sha256((harness.HERE / "states.py").read_bytes()).hexdigest()[:16]
    path = harness.REPORT_DIR / f"bombs-{src}.pickle"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    b = states.bombs()
    harness.REPORT_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(b))
    tmp.replace(path)
    return b


def malformed(scale: int) -> dict[str, bytes]:
    return states.malformed(random.Random(SEED), scale)


def accepted_probes(engine: str, run) -> tuple[list, list]:
    """The probes the engine can SELECT on their own (run: cases -> outcomes), and the others.
    The caller has run matrix.SETUP[engine] (types the probes use) first."""
    cases = [{"id": f"probe/{label}", "fn": "probe", "sql": f"SELECT {lit}"}
             for _fam, label, lit in matrix.PROBES[engine]]
    out = run(cases)
    ok, dropped = [], []
    for (fam, label, lit), c in zip(matrix.PROBES[engine], cases):
        if out.get(c["id"], {}).get("status") == "ok":
            ok.append((fam, label, lit))
        else:
            dropped.append((label, harness.first_line(out.get(c["id"], {}).get("msg", "?"), 120)))
    return ok, dropped


def build(engine: str, probes: list, scale: int) -> list[dict]:
    fns = catalogue.load()
    gen = matrix.Generator(engine, fns, probes, malformed(scale), bombs(), random.Random(SEED), scale)
    cases = gen.generate()
    for c in cases:
        c["engine"] = engine
    ids = [c["id"] for c in cases]
    if len(set(ids)) != len(ids):
        seen, dup = set(), []
        for i in ids:
            if i in seen:
                dup.append(i)
            seen.add(i)
        raise AssertionError(f"duplicate case ids: {dup[:5]}")
    return cases


def sample(cases: list[dict], budget: int, rnd: random.Random) -> list[dict]:
    """At most `budget` cases, keeping every valid call, every bomb and every case whose oracle is
    stricter than "any" first, then a random spread of the rest; stable order."""
    if budget >= len(cases):
        return cases
    must = [c for c in cases if c["oracle"] == "answer" or ":bomb_" in c["id"] or c["id"].startswith("host:")
            or "/counter_value:" in c["id"] or "/roundtrip_" in c["id"]
            or (c.get("kind") in ("bigint", "clock") and c.get("fam") in ("uint", "time", "enum", "uuid"))]
    strict = [c for c in cases if c not in must and c["oracle"] != "any"]
    rest = [c for c in cases if c not in must and c not in strict]
    left = max(0, budget - len(must))
    take_strict = rnd.sample(strict, min(len(strict), left * 2 // 3))
    left -= len(take_strict)
    take_rest = rnd.sample(rest, min(len(rest), left))
    keep = {c["id"] for c in must + take_strict + take_rest}
    return [c for c in cases if c["id"] in keep]


class Timer:
    def __enter__(self):
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.s = time.monotonic() - self.t0
