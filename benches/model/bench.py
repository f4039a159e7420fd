#!/usr/bin/env python3
"""Model-merge benchmark (`make bench-model`; not a test).

Three synthetic fine-tunes of about `--params` parameters each plus a base, bf16, shaped and sharded
like a Hugging Face Llama checkpoint (config.json included, so mergekit-yaml reads them). For each
method (linear, task_arithmetic, ties at density 0.3, dare_ties at density 0.3, slerp) in one run:
wall time and peak RSS of ours (the crate's merge driver, release build), of mergekit 0.1.5 on CPU
(`mergekit-yaml`, same files, same parameters), of the Python crdt-merge 0.11.0 `ModelMerge` where
it can hold the models (it converts everything to float64 in memory), and of the physical floor
measured on this machine: one streaming pass that reads every input byte the method needs and
writes the output's bytes. Ours and mergekit's outputs are compared tensor by tensor for the
deterministic methods. Results: benches/results/model.md and model.json.

    python benches/model/bench.py [--params 1e9] [--work /tmp/crdt-model-bench] [--skip-mergekit]

The venv (mergekit + torch + crdt-merge 0.11.0) comes from scripts/model-bench-venv.sh; its
location is $CRDT_MODEL_BENCH_VENV (default .venv-model-bench in the clone). numpy is the only
import this script needs itself.
"""
import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/crdt-target"))
OURS = TARGET / "release/examples/model_merge"
VENV = Path(os.environ.get("CRDT_MODEL_BENCH_VENV", ROOT / ".venv-model-bench"))
METHODS = ["linear", "task_arithmetic", "ties", "dare_ties", "slerp"]
# Methods without randomness: ours must reproduce mergekit's tensors (up to bf16 rounding of
# f32 results that differ in the last bits; ties also where |delta| ties sit at the threshold,
# since mergekit's argsort breaks them arbitrarily and ours by a total order).
DETERMINISTIC = ["linear", "task_arithmetic", "ties", "slerp"]
SHARD = 2_000_000_000


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
    """float32 -> bf16 bits, round to nearest even (the inputs are finite)."""
    b = x.astype(np.float32).view(np.uint32)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def write_model(dirpath, shapes, config, make, shard_bytes=SHARD):
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


def seed_of(name, salt):
    # A hash of the whole name: the q/k/v/o and MLP projections must not share values (a seed from
    # the name's last bytes would make every "*_proj.weight" identical).
    return int.from_bytes(hashlib.blake2b(f"{salt}/{name}".encode(), digest_size=8).digest(), "little")


def generate(work, params, n_models):
    shapes, config = arch(params)
    marker = work / f"models-{params:.0e}-{n_models}.done"
    paths = [work / "base"] + [work / f"m{i}" for i in range(n_models)]
    if marker.exists():
        return shapes, paths
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)
    for old in work.glob("models-*.done"):
        old.unlink()
    print(f"generating base + {n_models} models of {sum(int(np.prod(s)) for s in shapes.values()) / 1e9:.2f}B parameters (bf16) in {work}", flush=True)

    def base(n, s):
        return np.random.default_rng(seed_of(n, "base")).standard_normal(s, dtype=np.float32) * 0.02

    write_model(paths[0], shapes, config, base)
    for i in range(n_models):
        def ft(n, s, i=i):
            # A fine-tune: the base plus a delta 10x smaller, independent per model.
            return base(n, s) + np.random.default_rng(seed_of(n, f"m{i}")).standard_normal(s, dtype=np.float32) * 0.002

        write_model(paths[i + 1], shapes, config, ft)
    marker.write_text("ok")
    return shapes, paths


def dir_bytes(p):
    return sum(f.stat().st_size for f in p.glob("*.safetensors"))


def read_index(d):
    """name -> (file, dtype, shape, absolute offset, nbytes) of a (sharded) safetensors directory."""
    out = {}
    for f in sorted(d.glob("*.safetensors")):
        with open(f, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(n))
        for name, info in header.items():
            if name == "__metadata__":
                continue
            a, b = info["data_offsets"]
            out[name] = (f, info["dtype"], tuple(info["shape"]), 8 + n + a, b - a)
    return out


def load_tensor(entry, dtype=np.float32):
    f, dt, shape, off, nbytes = entry
    raw = np.fromfile(f, dtype=np.uint16 if dt == "BF16" else {"F32": np.float32, "F16": np.float16, "F64": np.float64}[dt], count=nbytes // {"BF16": 2, "F16": 2, "F32": 4, "F64": 8}[dt], offset=off)
    x = bf16_to_f32(raw) if dt == "BF16" else raw
    return x.astype(dtype, copy=False).reshape(shape)


def floor(inputs, out_bytes, out, sync=True):
    """Reads every input byte once (64 MiB buffers) and writes out_bytes: the I/O floor.

    With fsync by default, because ours fsyncs every output file before renaming it into place
    (mergekit does not; `floor_nosync_s` is the floor without it).
    """
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
        if sync:
            os.fsync(fh.fileno())
    s = time.perf_counter() - t
    out.unlink()
    return s


def timed(cmd, env=None, timeout=None):
    """Runs cmd; returns (seconds, peak RSS MiB of the child, stdout)."""
    wrapper = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "try:\n"
        "    r = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=float(sys.argv[1]) if sys.argv[1] != 'None' else None)\n"
        "    rc, out, err = r.returncode, r.stdout, r.stderr\n"
        "except subprocess.TimeoutExpired as e:\n"
        "    rc, out, err = 'timeout', '', f'timed out after {e.timeout} s'\n"
        "print(json.dumps({'s': time.perf_counter() - t, 'rc': rc, 'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 'out': out[-4000:], 'err': err[-3000:]}))\n"
    )
    r = subprocess.run([sys.executable, "-c", wrapper, str(timeout), *map(str, cmd)], capture_output=True, text=True, env=env)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed ({res['rc']}): {res['err']}")
    return res["s"], res["rss"], res["out"]


def method_setup(method, paths):
    """(base, models, method parameters, per-model weight) as both tools get them."""
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
    s, rss, stdout = timed(cmd)
    return s, rss, stdout.strip().splitlines()[-1] if stdout.strip() else ""


def run_mergekit(method, paths, out, mk_bin):
    base, models, params, w = method_setup(method, paths)
    # Computed in float32 and written as bfloat16, as ours does (f32 arithmetic, one rounding to
    # the base's dtype): the fair comparison, and the one whose tensors can be compared.
    lines = [f"merge_method: {method}", "dtype: float32", "out_dtype: bfloat16"]
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
    # No tokenizer in the synthetic models; --out-shard-size is in bytes despite its help text.
    s, rss, _ = timed([mk_bin, str(cfg), str(out), "--out-shard-size", "2B", "--no-copy-tokenizer", "--no-write-model-card"])
    return s, rss


def round_bf16(x):
    """float64 -> the nearest bf16 value (ties to even), in one rounding: an exact reference."""
    m, e = np.frexp(x)
    return np.ldexp(np.rint(m * 256.0), e - 8)


def reference(method, paths, name):
    """The exact (float64, one rounding) result of the deterministic element-wise methods, from
    mergekit's formulas with the weights this benchmark passes; None for the others."""
    base, models, _, w = method_setup(method, paths)
    if method not in ("linear", "task_arithmetic"):
        return None
    xs = [load_tensor(read_index(m)[name], np.float64).ravel() for m in models]
    if method == "linear":
        # sum(w x) / sum(w) (mergekit normalises linear's weights).
        return round_bf16(sum(w * x for x in xs) / (w * len(xs)))
    b = load_tensor(read_index(base)[name], np.float64).ravel()
    return round_bf16(b + sum(w * (x - b) for x in xs))


def compare(method, paths, ours, theirs, names):
    """Max |ours - mergekit| in f32 over `names`, the fraction of bf16 elements that differ (and
    by more than one ulp), and for linear/task_arithmetic how many of each differ from the exact
    result rounded once."""
    a_idx, b_idx = read_index(ours), read_index(theirs)
    missing = sorted(set(b_idx) ^ set(a_idx))
    total = diff = over1 = ours_wrong = mk_wrong = 0
    worst = 0.0
    has_ref = False
    for n in names:
        a = load_tensor(a_idx[n]).ravel()
        b = load_tensor(b_idx[n]).ravel()
        worst = max(worst, float(np.max(np.abs(a - b))))
        ab = a.view(np.uint32) >> 16
        bb = b.view(np.uint32) >> 16
        # Same-sign bf16 values: the bit-pattern distance is the ulp distance.
        ulps = np.abs(ab.astype(np.int64) - bb.astype(np.int64))
        total += a.size
        diff += int(np.count_nonzero(ulps))
        over1 += int(np.count_nonzero(ulps > 1))
        ref = reference(method, paths, n)
        if ref is not None:
            has_ref = True
            ours_wrong += int(np.count_nonzero(a != ref))
            mk_wrong += int(np.count_nonzero(b != ref))
    out = {"tensors": list(names), "elements": total, "max_abs_diff": worst, "frac_differ": diff / total, "frac_over_1ulp": over1 / total, "names_only_in_one": missing[:5]}
    if has_ref:
        out.update(ours_frac_off_exact=ours_wrong / total, mergekit_frac_off_exact=mk_wrong / total)
    return out


# The crdt-merge 0.11.0 strategy and keyword arguments that compute what mergekit's method does
# (upstream's own `linear` is a left fold with t = 0.5, and its `task_arithmetic` ignores weights,
# so weight_average and scaling_coefficients stand in). Its ties and dare_ties scale by ~1/n (a
# documented bug) and its dare_ties also trims by magnitude unless density = 1: drop_rate = 0.7
# with density = 1.0 is mergekit's "keep 30 % at random".
def upstream_setup(method, n):
    if method == "linear":
        return "weight_average", {}
    if method == "task_arithmetic":
        return "task_arithmetic", {"scaling_coefficients": [1.0 / n] * n}
    if method == "ties":
        return "ties", {"density": 0.3}
    if method == "dare_ties":
        return "dare_ties", {"drop_rate": 0.7, "density": 1.0}
    if method == "slerp":
        return "slerp", {"t": 0.5}
    raise ValueError(method)


def upstream_child(args):
    """Runs in its own process (so its peak RSS is its own): loads every model as numpy float64,
    as crdt-merge's ModelMerge needs, then merges. Prints a JSON line."""
    import resource

    from crdt_merge.model.core import ModelMerge, ModelMergeSchema

    method, base, models = args[0], args[1], args[2:]
    t0 = time.perf_counter()

    def load(d):
        return {n: load_tensor(e, np.float64) for n, e in sorted(read_index(Path(d)).items())}

    sds = [load(m) for m in models]
    base_sd = load(base) if base != "-" else None
    if method == "slerp":
        # mergekit's slerp(base, model, t): upstream's takes the two as a list.
        sds, base_sd = [base_sd] + sds, None
    t1 = time.perf_counter()
    strategy, kwargs = upstream_setup(method, len(sds))
    weights = None if method == "slerp" else [1.0 / len(sds)] * len(sds)
    res = ModelMerge(ModelMergeSchema(strategies={"default": strategy})).merge(sds, base_model=base_sd, weights=weights, **kwargs)
    t2 = time.perf_counter()
    assert len(res.tensor) == len(sds[0])
    print(json.dumps({"load_s": t1 - t0, "merge_s": t2 - t1, "strategy": strategy, "kwargs": kwargs, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def mem_available():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def run_upstream(method, paths, elems, largest, py, timeout):
    base, models, _, _ = method_setup(method, paths)
    n_in = len(models) + (1 if base else 0)
    # float64 copies of every input and of the output, plus a few whole-tensor temporaries.
    need = (n_in + 1) * elems * 8 + 6 * largest * 8
    avail = mem_available()
    if need > avail - (2 << 30):
        return {"upstream": f"not run: needs about {need / 2**30:.1f} GiB (float64 copies of every model), {avail / 2**30:.1f} GiB available"}
    cmd = [py, str(Path(__file__).resolve()), "--upstream-child", method, str(base) if base else "-", *map(str, models)]
    try:
        s, rss, out = timed(cmd, timeout=timeout)
    except RuntimeError as e:
        return {"upstream": f"failed: {str(e)[-300:]}"}
    r = json.loads(out.strip().splitlines()[-1])
    return {"upstream_s": s, "upstream_merge_s": r["merge_s"], "upstream_load_s": r["load_s"], "upstream_rss_mib": rss, "upstream_strategy": r["strategy"], "upstream_kwargs": r["kwargs"]}


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def goals(r):
    """Goal checks for one row (None where not measured)."""
    g = {}
    lim = 3.0 if r["method"] == "ties" else 1.5
    g["ours_vs_floor"] = (r["ours_s"] / r["floor_s"] <= lim, lim)
    if "mergekit_s" in r:
        need = 5.0 if r["method"] in ("ties", "dare_ties") else 1.0
        g["vs_mergekit"] = (r["mergekit_s"] / r["ours_s"] >= need, need)
    g["rss"] = (r["ours_rss_mib"] < 1024 + min(SHARD, r["output_bytes"]) / 2**20, 1024 + min(SHARD, r["output_bytes"]) / 2**20)
    return g


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--upstream-child":
        upstream_child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", type=float, default=1e9)
    ap.add_argument("--models", type=int, default=3)
    ap.add_argument("--work", default="/tmp/crdt-model-bench")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--mergekit", default=str(VENV / "bin/mergekit-yaml"))
    ap.add_argument("--upstream-python", default=str(VENV / "bin/python"))
    ap.add_argument("--upstream-timeout", type=float, default=1800, help="seconds per crdt-merge run")
    ap.add_argument("--skip-ours", action="store_true")
    ap.add_argument("--skip-mergekit", action="store_true")
    ap.add_argument("--skip-upstream", action="store_true")
    ap.add_argument("--keep-outputs", action="store_true")
    ap.add_argument("--results", default=str(ROOT / "benches/results"))
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    if not a.skip_ours and not OURS.exists():
        sys.exit(f"bench: {OURS} is missing; build it with `cargo build --release -p crdt-merge-model --example model_merge`")
    shapes, paths = generate(work, a.params, a.models)
    elems = sum(int(np.prod(s)) for s in shapes.values())
    largest = max(int(np.prod(s)) for s in shapes.values())
    # A few tensors of every kind for the ours-vs-mergekit check.
    check_names = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight", "model.layers.0.input_layernorm.weight", "model.norm.weight"]
    results = []
    for method in a.methods.split(","):
        base, models, params, w = method_setup(method, paths)
        inputs = ([base] if base else []) + models
        out_bytes = dir_bytes(paths[0])
        row = {"method": method, "loadavg_1m": os.getloadavg()[0], "params": params, "weight": w, "elements": elems, "input_bytes": sum(dir_bytes(p) for p in inputs), "output_bytes": out_bytes}
        # Warm the page cache the same way for everyone: the floor reads every input first.
        floor(inputs, out_bytes, work / "floor.bin", sync=False)
        row["floor_nosync_s"] = floor(inputs, out_bytes, work / "floor.bin", sync=False)
        row["floor_s"] = floor(inputs, out_bytes, work / "floor.bin")
        ours_out, mk_out = work / f"ours-{method}", work / f"mk-{method}"
        for p in (ours_out, mk_out):
            shutil.rmtree(p, ignore_errors=True)
        if not a.skip_ours:
            try:
                s, rss, report = run_ours(method, paths, ours_out)
                row.update(ours_s=s, ours_rss_mib=rss, ours_report=report)
                print(f"{method}: floor {row['floor_s']:.2f} s, ours {s:.2f} s ({rss:.0f} MiB)", flush=True)
            except RuntimeError as e:
                row["ours_error"] = str(e)[-500:]
                print(f"{method}: ours failed: {e}", flush=True)
        if not a.skip_mergekit and Path(a.mergekit).exists():
            try:
                s, rss = run_mergekit(method, paths, mk_out, a.mergekit)
                row.update(mergekit_s=s, mergekit_rss_mib=rss)
                print(f"{method}: mergekit {s:.2f} s ({rss:.0f} MiB)", flush=True)
            except RuntimeError as e:
                row["mergekit_error"] = str(e)[-500:]
                print(f"{method}: mergekit failed: {e}", flush=True)
        if method in DETERMINISTIC and "ours_s" in row and "mergekit_s" in row:
            row["ours_vs_mergekit"] = compare(method, paths, ours_out, mk_out, check_names)
            print(f"{method}: ours vs mergekit {row['ours_vs_mergekit']}", flush=True)
        if not a.keep_outputs:
            for p in (ours_out, mk_out):
                shutil.rmtree(p, ignore_errors=True)
        if a.skip_upstream or not Path(a.upstream_python).exists():
            row["upstream"] = "not run"
        else:
            row.update(run_upstream(method, paths, elems, largest, a.upstream_python, a.upstream_timeout))
            if "upstream_s" in row:
                print(f"{method}: crdt-merge 0.11.0 {row['upstream_s']:.1f} s ({row['upstream_rss_mib']:.0f} MiB)", flush=True)
            else:
                print(f"{method}: crdt-merge 0.11.0 {row['upstream']}", flush=True)
        results.append(row)
    write_results(Path(a.results), a, elems, results)


def write_results(out, a, elems, results):
    out.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{os.cpu_count()} cores ({cpu_name()}), {mem_total_gib():.0f} GiB, {platform.machine()}", "commit": commit, "params": a.params, "elements": elems, "models": a.models, "shard_bytes": SHARD}
    (out / "model.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    lines = [f"# Model merge benchmark ({meta['date']})", "",
             f"Machine: {meta['machine']}; commit {commit}. Base + {a.models} synthetic bf16 Llama-shaped models of "
             f"{elems / 1e9:.3f}B parameters each, sharded at 2 GB, in the page cache (the floor pass reads them first). "
             "Load average (1 min) at each method's start: " + ", ".join("%.1f" % r["loadavg_1m"] for r in results) + " (the machine is shared). "
             "Times are wall seconds; RSS is the child's peak resident set (MiB). Floor: one pass reading every input byte and "
             "writing the output's bytes, with an fsync as ours does (mergekit does not fsync; the floor without it is in model.json). mergekit 0.1.5 on CPU computes in float32 and writes bfloat16, as ours does. "
             "ns/elem is per output element.", "",
             "| method | floor s | ours s | ours ns/elem | ours / floor | ours RSS | mergekit s | mergekit RSS | mergekit / ours | crdt-merge 0.11.0 s (merge only) | crdt-merge RSS |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        ours = r.get("ours_s")
        mk = r.get("mergekit_s")
        cells = [r["method"], f"{r['floor_s']:.2f}"]
        cells += [f"{ours:.2f}", f"{ours / elems * 1e9:.1f}", f"{ours / r['floor_s']:.2f}x", f"{r['ours_rss_mib']:.0f}"] if ours else [r.get("ours_error", "not run")[:80], "-", "-", "-"]
        cells += [f"{mk:.2f}", f"{r['mergekit_rss_mib']:.0f}", f"{mk / ours:.1f}x" if ours else "-"] if mk else [r.get("mergekit_error", "not run")[:80], "-", "-"]
        if "upstream_s" in r:
            cells += [f"{r['upstream_s']:.1f} ({r['upstream_merge_s']:.1f})", f"{r['upstream_rss_mib']:.0f}"]
        else:
            cells += [r.get("upstream", "-"), "-"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Goals (issue 15, item 8): ours within 1.5x of the floor (3x for ties); faster than mergekit (5x for ties and dare_ties); ours' peak RSS below 1 GiB plus one output shard.", ""]
    for r in results:
        if "ours_s" not in r:
            continue
        g = goals(r)
        parts = []
        parts.append(f"ours/floor {r['ours_s'] / r['floor_s']:.2f}x (goal <= {g['ours_vs_floor'][1]}x): {'met' if g['ours_vs_floor'][0] else 'MISSED'}")
        if "vs_mergekit" in g:
            parts.append(f"mergekit/ours {r['mergekit_s'] / r['ours_s']:.1f}x (goal >= {g['vs_mergekit'][1]}x): {'met' if g['vs_mergekit'][0] else 'MISSED'}")
        parts.append(f"RSS {r['ours_rss_mib']:.0f} MiB (goal < {g['rss'][1]:.0f}): {'met' if g['rss'][0] else 'MISSED'}")
        lines.append(f"- `{r['method']}`: " + "; ".join(parts))
    cmp_rows = [r for r in results if "ours_vs_mergekit" in r]
    if cmp_rows:
        lines += ["", "Ours against mergekit's output (bf16 files read as f32) on " + ", ".join(f"`{n}`" for n in cmp_rows[0]["ours_vs_mergekit"]["tensors"]) + ":", "",
                  "| method | elements | max abs diff | fraction differing | fraction > 1 ulp | ours off exact | mergekit off exact |", "|---|---|---|---|---|---|---|"]
        for r in cmp_rows:
            c = r["ours_vs_mergekit"]
            lines.append(f"| {r['method']} | {c['elements']} | {c['max_abs_diff']:.3g} | {c['frac_differ']:.2e} | {c['frac_over_1ulp']:.2e} | " + (f"{c['ours_frac_off_exact']:.2e} | {c['mergekit_frac_off_exact']:.2e} |" if "ours_frac_off_exact" in c else "- | - |"))
    # Hand-written sections (from the first "## " heading on) are notes on earlier runs and
    # their profiles: kept below the regenerated part.
    md = out / "model.md"
    kept = ""
    if md.exists():
        old = md.read_text()
        at = old.find("\n## ")
        kept = old[at:] if at >= 0 else ""
    md.write_text("\n".join(lines) + "\n" + kept)
    print("\n".join(lines))


def mem_total_gib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0


if __name__ == "__main__":
    main()
