"""The Python package crdtmerge: CRDTMergeState's laws (any order, grouping and repetition of
merges give the same bytes), its answers against the Python crdt-merge 0.11.0 where that one is
right, persistence (state directories the CLI shares, bytes), LoRA merges, and bad input as
Python exceptions with the engine's message."""

import itertools
import json
import os
import struct

import numpy as np
import pytest

import crdtmerge
from crdtmerge import CRDTMergeState, ModelMerge
from crdtmerge import _safetensors


def model(seed, shape=(3, 4)):
    rng = np.random.default_rng(seed)
    return {"w": rng.standard_normal(shape).astype(np.float32), "b": rng.standard_normal(shape[1]).astype(np.float32)}


def test_weighted_average_as_upstream_example_53():
    s = CRDTMergeState("weight_average")
    s.add(np.array([1.0, 2.0]), model_id="a", weight=1.0)
    s.add(np.array([3.0, 4.0]), model_id="b", weight=3.0)
    out = s.resolve()
    assert out.dtype == np.float64
    assert out.tolist() == [2.5, 3.5]


def test_upstream_agrees_on_a_plain_weighted_average():
    upstream = pytest.importorskip("crdt_merge.model")
    theirs = upstream.CRDTMergeState("weight_average")
    ours = CRDTMergeState("weight_average")
    for i, w in enumerate([1.0, 2.0, 0.5]):
        t = np.arange(4, dtype=np.float64) * (i + 1)
        theirs.add(t, model_id=f"m{i}", weight=w)
        ours.add(t, model_id=f"m{i}", weight=w)
    np.testing.assert_allclose(ours.resolve(), theirs.resolve(), rtol=1e-12)


def test_replicas_converge_in_any_order_grouping_and_repetition():
    models = {name: model(i) for i, name in enumerate("abc")}

    def replica(name, weight):
        r = CRDTMergeState("ties", base=model(99), density=0.5)
        r.add(models[name], model_id=name, weight=weight)
        return r

    want = None
    for order in itertools.permutations("abc"):
        reps = [replica(n, 1.0 + "abc".index(n)) for n in order]
        first, rest = reps[0], reps[1:]
        first.merge(rest[0]).merge(rest[1]).merge(rest[0])  # repetition does nothing
        out = first.resolve()
        got = (first.state_hash, {k: v.tobytes() for k, v in out.items()})
        assert out["w"].dtype == np.float32, "resolve keeps the input dtype"
        if want is None:
            want = got
        assert got == want, order
    # Grouping: (a ∪ b) ∪ c = a ∪ (b ∪ c), with merge_many too.
    a, b, c = (replica(n, 1.0 + i) for i, n in enumerate("abc"))
    bc = replica("b", 2.0).merge(replica("c", 3.0))
    assert a.merge(bc).state_hash == want[0]
    assert replica("a", 1.0).merge_many([b, c]).state_hash == want[0]


def test_the_seed_demos_comparison():
    """The seed demo's last line compares {a, b, c} with team_b.merge(team_c) = {b, c}, which
    is False in crdt-merge 0.11.0 too; the comparison it means is that merge order does not
    matter."""
    def team(name, seed):
        s = CRDTMergeState("weight_average")
        s.add(model(seed), model_id=name)
        return s

    team_a, team_b, team_c = team("a", 1), team("b", 2), team("c", 3)
    team_a.merge(team_b).merge(team_c)
    assert (team_a == team("b", 2).merge(team("c", 3))) is False
    other = team("c", 3).merge(team("b", 2)).merge(team("a", 1))
    assert other == team_a
    for k, v in other.resolve().items():
        assert v.tobytes() == team_a.resolve()[k].tobytes()
    upstream = pytest.importorskip("crdt_merge.model")

    def theirs(name, seed):
        s = upstream.CRDTMergeState("weight_average")
        s.add(model(seed)["w"], model_id=name)
        return s

    ta = theirs("a", 1).merge(theirs("b", 2)).merge(theirs("c", 3))
    assert (ta == theirs("b", 2).merge(theirs("c", 3))) is False


def test_remove_sticks_across_merges_and_versions_decide_duplicates():
    s = CRDTMergeState("weight_average")
    s.add(np.array([1.0]), model_id="x")
    s.add(np.array([5.0]), model_id="y")
    t = CRDTMergeState("weight_average").merge(s)
    s.remove("y")
    t.merge(s)
    assert t.model_ids == ["x"] and t.resolve().tolist() == [1.0]
    with pytest.raises(KeyError):
        t.remove("nobody")
    # The same id at two versions on two replicas: the higher version wins everywhere.
    u = CRDTMergeState("weight_average")
    u.add(np.array([1.0]), model_id="m", version=1)
    v = CRDTMergeState("weight_average")
    v.add(np.array([9.0]), model_id="m", version=2)
    assert u.merge(v).resolve().tolist() == [9.0]
    assert v.merge(u).resolve().tolist() == [9.0]


def test_save_load_and_bytes_round_trip(tmp_path):
    s = CRDTMergeState("task_arithmetic", base=model(0), **{"lambda": 0.5})
    s.add(model(1), model_id="one", weight=2.0)
    s.add(model(2), model_id="two")
    want = s.resolve()
    d = tmp_path / "state"
    s.save(str(d))
    assert (d / "manifest.json").is_file(), "a crdt-merge model state directory"
    back = CRDTMergeState.load(str(d))
    assert back == s
    again = CRDTMergeState.from_bytes(s.to_bytes())
    assert again.state_hash == s.state_hash
    assert s.to_bytes() == again.to_bytes()
    for k in want:
        assert again.resolve()[k].tobytes() == want[k].tobytes()
    with pytest.raises(ValueError, match="not empty"):
        s.save(str(d))


def test_hostile_archives_are_refused(tmp_path):
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="refusing"):
        CRDTMergeState.from_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="not a state archive"):
        CRDTMergeState.from_bytes(b"junk")
    s = CRDTMergeState("weight_average")
    s.add(np.array([1.0]), model_id="a")
    raw = bytearray(s.to_bytes())
    i = raw.find(b'"strategy"')
    raw[i + 1] = ord("X")
    with pytest.raises(ValueError):
        CRDTMergeState.from_bytes(bytes(raw))


def test_bad_input_is_a_python_error_with_the_engines_message():
    with pytest.raises(ValueError, match="unknown strategy `nope`"):
        CRDTMergeState("nope")
    with pytest.raises(ValueError, match="needs a base"):
        CRDTMergeState("ties")
    with pytest.raises(ValueError, match="density"):
        CRDTMergeState("ties", base=model(0), density="lots")
    s = CRDTMergeState("weight_average")
    s.add(np.zeros(3), model_id="a")
    s.add(np.zeros(4), model_id="b")
    with pytest.raises(ValueError, match=r"the tensor: is float64 \[3\] in contribution 'a' but float64 \[4\] in contribution 'b'"):
        s.resolve()
    with pytest.raises(TypeError, match="dtype"):
        s.add(np.zeros(2, dtype=np.complex64))
    with pytest.raises(TypeError, match="expected an array"):
        s.add(object())
    with pytest.raises(ValueError, match="metadata"):
        s.add(np.zeros(3), metadata={"k": 1})
    with pytest.raises(ValueError, match="highest_version"):
        CRDTMergeState("weight_average", conflict_resolution="last_write_wins")
    with pytest.raises(ValueError, match="another strategy|strategy"):
        CRDTMergeState("weight_average").merge(CRDTMergeState("slerp", base=model(0)))


def test_dlpack_inputs_and_model_merge():
    t = np.arange(6, dtype=np.float32).reshape(2, 3)
    s = CRDTMergeState("weight_average")
    s.add(np.from_dlpack(t), model_id="a")  # numpy's own DLPack export
    s.add(t * 3, model_id="b")
    np.testing.assert_array_equal(s.resolve(), t * 2)
    out = ModelMerge("weight_average").merge([{"w": t}, {"w": t * 3}], weights=[3, 1])
    np.testing.assert_array_equal(out["w"], t * 1.5)
    assert "ties" in crdtmerge.strategies()


def lora_adapter(d, a, b, alpha):
    os.makedirs(d, exist_ok=True)
    m = "base_model.model.layer.q_proj"
    _safetensors.write(os.path.join(d, "adapter_model.safetensors"),
                       {f"{m}.lora_A.weight": np.array(a, np.float32), f"{m}.lora_B.weight": np.array(b, np.float32)})
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "r": len(a), "lora_alpha": alpha, "target_modules": ["q_proj"]}, f)


def test_lora_merge_is_exact_and_applies(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    lora_adapter(a, [[1.0, 0.0]], [[1.0], [2.0]], 2)
    lora_adapter(b, [[0.0, 1.0]], [[1.0], [1.0]], 1)
    out = crdtmerge.lora.merge([a, b], str(tmp_path / "m"), weights={b: 0.5})
    t = _safetensors.read(os.path.join(out, "adapter_model.safetensors"))
    A = t["base_model.model.layer.q_proj.lora_A.weight"].astype(np.float64)
    B = t["base_model.model.layer.q_proj.lora_B.weight"].astype(np.float64)
    np.testing.assert_allclose(B @ A, [[2.0, 0.5], [4.0, 0.5]], atol=1e-6)
    base = str(tmp_path / "base.safetensors")
    _safetensors.write(base, {"layer.q_proj.weight": np.ones((2, 2), np.float32)})
    tuned = crdtmerge.lora.apply(base, out, str(tmp_path / "tuned.safetensors"))
    np.testing.assert_allclose(_safetensors.read(tuned)["layer.q_proj.weight"], [[3.0, 1.5], [5.0, 1.5]])
    with pytest.warns(UserWarning, match="not the average update"):
        crdtmerge.lora.merge([a, b], str(tmp_path / "u"), method="upstream_ab_average")
    with pytest.raises(ValueError, match="unknown LoRA method"):
        crdtmerge.lora.merge([a, b], str(tmp_path / "x"), method="mean")
    with pytest.raises(OSError):
        crdtmerge.lora.merge([str(tmp_path / "missing")], str(tmp_path / "y"))


def test_safetensors_files_are_what_the_format_says(tmp_path):
    p = str(tmp_path / "t.safetensors")
    _safetensors.write(p, {"z": np.zeros(2, np.float16), "a": np.arange(3, dtype=np.int64)})
    raw = open(p, "rb").read()
    (n,) = struct.unpack_from("<Q", raw)
    header = json.loads(raw[8 : 8 + n])
    assert list(header) == ["a", "z"] and header["a"] == {"dtype": "I64", "shape": [3], "data_offsets": [0, 24]}
    back = _safetensors.read(p)
    assert back["a"].tolist() == [0, 1, 2] and back["z"].dtype == np.float16
