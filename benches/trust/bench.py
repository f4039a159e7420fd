"""`make bench-trust`: E4 signature rates, the table gate's cost, and the simulator's
detection rounds, one thread, next to Python `cryptography` (OpenSSL) on this machine and the
Python crdt-merge's claimed PCO rates. Writes benches/results/trust.md.

Ours: crates/crdt-merge-e4/examples/trust_bench.rs (release), which prints JSON lines: sign
and verify per second for Ed25519 (single, and ZIP 215 batches of 64), ML-DSA-65 and the
Ed25519 + ML-DSA-65 hybrid; the gate (decode, verify, admit, merge 100 authors x 10,000 rows)
against the kernel merge of the same rows already in Arrow; detection rounds over 1,000 seeds
(n = 4, 16, 64) and 100 seeds (n = 256).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ours(binary, quick, seeds):
    args = [binary] + (["--quick"] if quick else []) + (["--seeds", str(seeds)] if seeds else [])
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def peer(python, n):
    """Ed25519 (and ML-DSA-65 if this OpenSSL has it) through `cryptography`, one thread."""
    code = f"""
import json, time
from cryptography.hazmat.primitives.asymmetric import ed25519
n = {n}
bodies = [i.to_bytes(8, 'big') + bytes(192) for i in range(n)]
k = ed25519.Ed25519PrivateKey.generate(); pk = k.public_key()
t = time.perf_counter(); sigs = [k.sign(b) for b in bodies]; s = n / (time.perf_counter() - t)
t = time.perf_counter()
for b, g in zip(bodies, sigs): pk.verify(g, b)
v = n / (time.perf_counter() - t)
out = {{"alg": "ed25519", "sign_per_s": s, "verify_per_s": v}}
print(json.dumps(out))
try:
    from cryptography.hazmat.primitives.asymmetric import mldsa
    k = mldsa.MLDSA65PrivateKey.generate(); pk = k.public_key()
    m = max(n // 10, 1)
    t = time.perf_counter(); sigs = [k.sign(b) for b in bodies[:m]]; s = m / (time.perf_counter() - t)
    t = time.perf_counter()
    for b, g in zip(bodies[:m], sigs): pk.verify(g, b)
    v = m / (time.perf_counter() - t)
    print(json.dumps({{"alg": "ml-dsa-65", "sign_per_s": s, "verify_per_s": v}}))
except Exception as e:
    print(json.dumps({{"alg": "ml-dsa-65", "error": type(e).__name__ + ": " + str(e)[:80]}}))
"""
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
    ver = subprocess.run([python, "-c", "import cryptography; print(cryptography.__version__)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return ver, [json.loads(line) for line in out.splitlines()]


def fmt(x):
    return "—" if x is None else f"{x:,.0f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--peer-python", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=0, help="simulator seeds per cell (default 1,000; n = 256 gets a tenth)")
    ap.add_argument("--out", default=str(ROOT / "benches" / "results" / "trust.md"))
    a = ap.parse_args()
    t0 = time.time()
    rows = ours(a.binary, a.quick, a.seeds)
    ver, peers = peer(a.peer_python, 2_000 if a.quick else 20_000)
    sig = {r["alg"]: r for r in rows if r["kind"] == "sig"}
    gates = [r for r in rows if r["kind"] == "gate"]
    gate = gates[0]
    sims = [r for r in rows if r["kind"] == "sim"]
    cpu = platform.processor() or platform.machine()
    lines = [
        "# E4 trust benchmark",
        "",
        f"`make bench-trust`, {time.strftime('%Y-%m-%d')}, on {cpu} "
        f"({os.cpu_count()} cores), release build; peer: Python `cryptography` {ver} (OpenSSL) "
        "on the same machine.",
        "",
        "## Signatures (per second, one core)",
        "",
        "| algorithm | ours: sign | ours: verify | ours: batch verify (64) | cryptography: sign | cryptography: verify | signature bytes |",
        "|---|---|---|---|---|---|---|",
    ]
    pmap = {p["alg"]: p for p in peers}
    for alg in ["ed25519", "ml-dsa-65", "hybrid"]:
        r = sig.get(alg)
        if not r:
            continue
        p = pmap.get(alg, {})
        lines.append(
            f"| {alg} | {fmt(r['sign_per_s'])} | {fmt(r['verify_per_s'])} | "
            f"{fmt(r['batch_verify_per_s'])} | {fmt(p.get('sign_per_s'))} | "
            f"{fmt(p.get('verify_per_s'))} | {r['sig_bytes']} |"
        )
    ed = sig["ed25519"]
    lines += [
        "",
        f"Goal: Ed25519 batch verify ≥ 50,000/s per core: **{fmt(ed['batch_verify_per_s'])}/s** "
        f"({'met' if ed['batch_verify_per_s'] >= 50_000 else 'missed'}). Under ZIP 215 a batch "
        "accepts exactly what single verification accepts, so batching changes speed only.",
    ]
    if "error" in pmap.get("ml-dsa-65", {}):
        lines.append(f"`cryptography` {ver} ML-DSA-65: {pmap['ml-dsa-65']['error']}.")
    lines += [
        "",
        "The Python crdt-merge 0.11 claims 167K PCO builds/s and 101K verifies/s; those time a "
        "path that accepts any 64 bytes as a signature unless a registry is configured "
        "(upstream.md §20.3), so they are not signature rates.",
        "",
        "## Table gate",
        "",
        f"{gate['authors']} signed deltas, {gate['rows']:,} rows (every author writes half of a "
        "shared key range): the kernel merge of the same rows already in Arrow, against the "
        "gate from the signed bytes (decode, verify the signature and payload hash, derive "
        "evidence, admit, payload to Arrow, merge, digest). Identical output checked.",
        "",
        "The best of three runs of each step, on one thread and on every core (the gate's "
        "payload hashes and signature checks run in parallel over deltas; the kernel merge "
        "uses the same pool).",
        "",
        "| step | " + " | ".join(f"seconds, {g['threads']} thread{'s' if g['threads'] > 1 else ''}" for g in gates) + " |",
        "|---|" + "---|" * len(gates),
        "| kernel merge of the rows already in Arrow | " + " | ".join(f"{g['merge_s']:.3f}" for g in gates) + " |",
        "| unsigned: decode the payload bytes, to Arrow, merge | " + " | ".join(f"{g['unsigned_s']:.3f}" for g in gates) + " |",
        "| gate: decode + verify + hash + evidence + admit | " + " | ".join(f"{g['admit_s']:.3f}" for g in gates) + " |",
        "| gate total (then to Arrow, merge, digest) | " + " | ".join(f"{g['gate_s']:.3f}" for g in gates) + " |",
        "| what trust adds to the merge from unsigned bytes | " + " | ".join(f"{g['overhead_vs_unsigned_pct']:.0f} %" for g in gates) + " |",
        "| against the merge of rows already in Arrow | " + " | ".join(f"{g['overhead_pct']:.0f} %" for g in gates) + " |",
        "",
    ]
    for g in gates:
        lines.append(
            f"{g['threads']} thread{'s' if g['threads'] > 1 else ''}: gate throughput "
            f"{fmt(g['gate_rows_per_s'])} rows/s; what trust adds to the same merge from unsigned "
            f"bytes {g['overhead_vs_unsigned_pct']:.0f} % (goal ≤ 20 %: "
            f"{'met' if g['overhead_vs_unsigned_pct'] <= 20 else 'missed'})."
        )
    lines += [
        "",
        "## Detection rounds (Byzantine simulator)",
        "",
        "D = the round by which every honest peer holds a proof of an equivocation or "
        "regression whose halves were sent to disjoint honest peers; push-pull with one random "
        "peer per round; every run also checks P1-P5 (docs/trust.md).",
        "",
        "| n | f | seeds | runs failing a property | proofs | median t_first | median D | p99 D | max D | log2 n | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    import math
    for s in sims:
        lines.append(
            f"| {s['n']} | {s['f']} | {s['seeds']} | {s['failed']} | {s['proofs']} | "
            f"{s['t_first_median']} | {s['median']} | {s['p99']} | {s['max']} | "
            f"{math.log2(s['n']):.0f} | {s['secs']} |"
        )
    lines += ["", f"Total benchmark time {time.time() - t0:.0f} s.", ""]
    Path(a.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
