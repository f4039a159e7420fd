#!/usr/bin/env python3
"""Model-merge benchmark (`make bench-model`; not a test).

Three synthetic fine-tunes of about `--params` parameters each plus a base, bf16, shaped and sharded
like a Hugging Face Llama checkpoint (config.json included, so mergekit-yaml reads them). For each
method (linear, task_arithmetic, ties at density 0.3, dare_ties at density 0.3, slerp) in one run:
wall time and peak RSS of ours (the crate's merge driver, release build), of mergekit 0.1.5 on CPU
(`mergekit-yaml`, same files, same parameters), of the Python crdt-merge 0.11.0 `ModelMerge` where
it can hold the models (it converts everything to float64 in memory), and of the physical floor
measured on this machine: one streaming pass that reads every input byte the method needs and
writes the output's bytes. Results: benches/results/model.md and model.json.

    python benches/model/bench.py [--params 1e9] [--work /tmp/crdt-model-bench] [--skip-mergekit]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/crdt-target"))
OURS = TARGET / "release/examples/model_merge"
METHODS = ["linear", "task_arithmetic", "ties", "dare_ties", "slerp"]


def arch(params):
    """A Llama-like shape with about `params` parameters."""
    hidden, inter, vocab = 2048, 5504, 32000
    per_layer = 4 * hidden * hidden + 3 * hidden * inter + 2 * hidden
    layers = max(1, round((params - 2 * vocab * hidden - hidden) / per_layer))
    shapes = {"model.embed_tokens.weight": (vocab, hidden), "lm_head.weight": (vocab, hidden), "model.norm.weight": (hidden,)}
    for i in range(layers):
        p = f"model.layers.{i}"
        for n in ["q", "k", "v", "o"]:
            shapes[f"{p}.self_attn.{n}_proj.weight"] = (hidden, hidden)
        shapes[f"{p}.mlp.gate_proj.weight"] = (inter, hidden)
        shapes[f"{p}.mlp.up_proj.weight"] = (inter, hidden)
        shapes[f"{p}.mlp.down_proj.weight"] = (hidden, inter)
        shapes[f"{p}.input_layernorm.weight"] = (hidden,)
        shapes[f"{p}.post_attention_layernorm.weight"] = (hidden,)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
        "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": 16,
        "num_key_value_heads": 16, "vocab_size": vocab, "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5, "torch_dtype": "bfloat16", "tie_word_embeddings": False,
    }
    return shapes, config


def to_bf16(x):
    """float32 -> bf16 bits, round to nearest even."""
    b = x.astype(np.float32).view(np.uint32)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


def write_model(dirpath, shapes, config, make, shard_bytes=2_000_000_000):
    """Writes a sharded bf16 model; `make(name, shape)` returns float32 values."""
    dirpath.mkdir(parents=True, exist_ok=True)
    names = sorted(shapes)
    shards, cur, size = [], [], 0
    for n in names:
        nbytes = int(np.prod(shapes[n])) * 2
        if cur and size + nbytes > shard_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append(n)
        size += nbytes
    shards.append(cur)
    weight_map, total = {}, 0
    for k, group in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        header, off = {"__metadata__": {"format": "pt"}}, 0
        for n in group:
            nbytes = int(np.prod(shapes[n])) * 2
            header[n] = {"dtype": "BF16", "shape": list(shapes[n]), "data_offsets": [off, off + nbytes]}
            off += nbytes
            weight_map[n] = fname
        total += off
        h = json.dumps(header, separators=(",", ":")).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        with open(dirpath / fname, "wb") as f:
            f.write(len(h).to_bytes(8, "little"))
            f.write(h)
            for n in group:
                f.write(to_bf16(make(n, shapes[n])).tobytes())
    (dirpath / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    (dirpath / "config.json").write_text(json.dumps(config, indent=2))


def generate(work, params, n_models):
    shapes, config = arch(params)
    marker = work / f"models-{params:.0e}-{n_models}.done"
    paths = [work / "base"] + [work / f"m{i}" for i in range(n_models)]
    if marker.exists():
        return shapes, paths
    print(f"generating base + {n_models} models of {sum(int(np.prod(s)) for s in shapes.values()) / 1e9:.2f}B parameters (bf16) in {work}", flush=True)
    seed_of = lambda name: int.from_bytes(name.encode()[-8:].rjust(8, b"\0"), "little") % (2**32)
    base = lambda n, s: np.random.default_rng(seed_of(n)).standard_normal(s, dtype=np.float32) * 0.02
    write_model(paths[0], shapes, config, base)
    for i in range(n_models):
        ft = lambda n, s, i=i: base(n, s) + np.random.default_rng(seed_of(n) + 1000 * (i + 1)).standard_normal(s, dtype=np.float32) * 0.002
        write_model(paths[i + 1], shapes, config, ft)
    marker.write_text("ok")
    return shapes, paths


def dir_bytes(p):
    return sum(f.stat().st_size for f in p.glob("*.safetensors"))


def floor(inputs, out_bytes, out):
    """Reads every input byte once (64 MiB buffers) and writes out_bytes: the I/O floor."""
    buf = bytearray(64 << 20)
    mv = memoryview(buf)
    t = time.perf_counter()
    for d in inputs:
        for f in sorted(d.glob("*.safetensors")):
            with open(f, "rb", buffering=0) as fh:
                while fh.readinto(mv):
                    pass
    with open(out, "wb", buffering=0) as fh:
        left = out_bytes
        while left > 0:
            n = min(left, len(buf))
            fh.write(mv[:n])
            left -= n
        os.fsync(fh.fileno())
    return time.perf_counter() - t


def timed(cmd, env=None):
    """Runs cmd; returns (seconds, peak RSS MiB of the child, stdout)."""
    wrapper = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter(); r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(json.dumps({'s': time.perf_counter() - t, 'rc': r.returncode, 'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 'out': r.stdout[-2000:], 'err': r.stderr[-2000:]}))\n"
    )
    r = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, env=env)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        raise RuntimeError(f"{cmd[0]} failed: {res['err']}")
    return res["s"], res["rss"], res["out"]


def method_setup(method, paths):
    base, models = paths[0], paths[1:]
    if method == "slerp":
        return base, models[:1], {"t": 0.5}, None
    w = 1.0 / len(models)
    if method == "linear":
        return None, models, {}, w
    if method == "task_arithmetic":
        return base, models, {}, w
    return base, models, {"density": 0.3}, w


def run_ours(method, paths, out):
    base, models, params, w = method_setup(method, paths)
    cmd = [str(OURS), method, str(out)]
    if base:
        cmd += ["--base", str(base)]
    for k, v in params.items():
        cmd += ["--param", f"{k}={v}"]
    for _ in models:
        if w is not None:
            cmd += ["--weight", str(w)]
    cmd += ["--shard-size", "2GB", *map(str, models)]
    s, rss, _ = timed(cmd)
    return s, rss


def run_mergekit(method, paths, out, mk_bin):
    base, models, params, w = method_setup(method, paths)
    lines = [f"merge_method: {method}", "dtype: bfloat16"]
    if base:
        lines.append(f"base_model: {base}")
    lines.append("models:")
    for m in models:
        lines.append(f"  - model: {m}")
        if w is not None:
            lines.append(f"    parameters: {{weight: {w}}}")
    if params:
        lines.append("parameters:")
        lines += [f"  {k}: {v}" for k, v in params.items()]
    cfg = out.parent / f"{method}.yml"
    cfg.write_text("\n".join(lines) + "\n")
    s, rss, _ = timed([mk_bin, str(cfg), str(out), "--out-shard-size", "2B"])
    return s, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", type=float, default=1e9)
    ap.add_argument("--models", type=int, default=3)
    ap.add_argument("--work", default="/tmp/crdt-model-bench")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--mergekit", default=str(ROOT / ".venv-model-bench/bin/mergekit-yaml"))
    ap.add_argument("--upstream-python", default=str(ROOT / ".venv-model-bench/bin/python"))
    ap.add_argument("--skip-mergekit", action="store_true")
    ap.add_argument("--skip-upstream", action="store_true")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    shapes, paths = generate(work, a.params, a.models)
    elems = sum(int(np.prod(s)) for s in shapes.values())
    results = []
    for method in a.methods.split(","):
        base, models, _, _ = method_setup(method, paths)
        inputs = ([base] if base else []) + models
        out_bytes = dir_bytes(paths[0])
        row = {"method": method, "elements": elems, "input_bytes": sum(dir_bytes(p) for p in inputs), "output_bytes": out_bytes}
        row["floor_s"] = floor(inputs, out_bytes, work / "floor.bin")
        s, rss = run_ours(method, paths, work / f"ours-{method}")
        row.update(ours_s=s, ours_rss_mib=rss)
        print(f"{method}: floor {row['floor_s']:.1f} s, ours {s:.1f} s ({rss:.0f} MiB)", flush=True)
        if not a.skip_mergekit and Path(a.mergekit).exists():
            try:
                s, rss = run_mergekit(method, paths, work / f"mk-{method}", a.mergekit)
                row.update(mergekit_s=s, mergekit_rss_mib=rss)
                print(f"{method}: mergekit {s:.1f} s ({rss:.0f} MiB)", flush=True)
            except RuntimeError as e:
                row["mergekit_error"] = str(e)[-300:]
        # crdt-merge 0.11.0 holds every model as float64 in memory: (models + base + output) x 8 bytes.
        need = (len(inputs) + 1) * elems * 8
        if a.skip_upstream or need > 16 << 30:
            row["upstream"] = f"not run: needs about {need / 2**30:.0f} GiB (float64 copies of every model)"
        results.append(row)
    out = ROOT / "benches/results"
    out.mkdir(parents=True, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores, {platform.machine()}", "params": a.params, "models": a.models}
    (out / "model.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    lines = [f"# Model merge benchmark ({meta['date']}, {meta['machine']})", "",
             f"Base + {a.models} synthetic bf16 models of {elems / 1e9:.2f}B parameters, sharded at 2 GB. Times are wall seconds, RSS is peak resident MiB.", "",
             "| method | floor s | ours s | ours / floor | ours RSS | mergekit s | mergekit RSS | mergekit / ours | crdt-merge 0.11.0 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        mk = r.get("mergekit_s")
        lines.append(
            f"| {r['method']} | {r['floor_s']:.1f} | {r['ours_s']:.1f} | {r['ours_s'] / r['floor_s']:.2f}x | {r['ours_rss_mib']:.0f} | "
            + (f"{mk:.1f} | {r['mergekit_rss_mib']:.0f} | {mk / r['ours_s']:.1f}x" if mk else f"{r.get('mergekit_error', 'not run')} | - | -")
            + f" | {r.get('upstream', '-')} |"
        )
    (out / "model.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
