"""crdtmerge.federated (FedAvg by sample counts as a CRDT: latest round per client, any order)
and crdtmerge.continual (memory budget by version age, the strategy honoured)."""

import itertools

import numpy as np
import pytest

from crdtmerge.continual import ContinualMerge
from crdtmerge.federated import FederatedMerge


def upd(seed):
    rng = np.random.default_rng(seed)
    return {"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}


def test_fedavg_by_sample_counts_in_any_order():
    clients = [("c1", upd(1), 10, 1), ("c2", upd(2), 30, 1), ("c3", upd(3), 60, 1)]
    want = {k: sum(u[k] * n for _, u, n, _ in clients) / 100 for k in ("w", "b")}
    results = []
    for order in itertools.permutations(clients):
        servers = [FederatedMerge().submit(c, u, n, r) for c, u, n, r in order]
        s = servers[0].merge(servers[1]).merge(servers[2])
        res = s.aggregate()
        for k in want:
            np.testing.assert_allclose(res.model[k], want[k], rtol=1e-12)
        results.append({k: v.tobytes() for k, v in res.model.items()})
        assert res.num_clients == 3 and res.total_samples == 100
    assert all(r == results[0] for r in results), "same bytes in every order"


def test_latest_round_wins_and_a_stale_message_changes_nothing():
    s = FederatedMerge()
    s.submit("c1", upd(1), 10, round=2)
    late = FederatedMerge().submit("c1", upd(9), 10, round=1)  # an old round arriving late
    s.submit("c2", upd(2), 10, round=2)
    before = s.aggregate().model
    s.merge(late)
    after = s.aggregate().model
    assert all(before[k].tobytes() == after[k].tobytes() for k in before)


def test_server_shrink_and_fedprox_error():
    g = upd(0)
    s = FederatedMerge().submit("c1", upd(1), 1).submit("c2", upd(2), 1)
    t = s.aggregate().model
    shrunk = s.aggregate(global_model=g, server_shrink=0.1).model
    for k in t:
        np.testing.assert_allclose(shrunk[k], t[k] - 0.1 * (t[k] - g[k]))
    with pytest.raises(ValueError, match="proximal term"):
        FederatedMerge("fedprox")
    with pytest.raises(ValueError, match="global_model"):
        s.aggregate(server_shrink=0.1)
    with pytest.raises(ValueError, match="num_samples"):
        s.submit("c3", upd(3), 0)


def test_continual_budget_by_version_age_and_the_strategy():
    base = {"w": np.zeros(4)}
    models = [{"w": np.full(4, float(i + 1))} for i in range(3)]
    cm = ContinualMerge(base, memory_budget=0.5)
    for i, m in enumerate(models):
        cm.absorb(m, weight=1.0, name=f"m{i}")
    w = np.array([0.25, 0.5, 1.0])
    np.testing.assert_allclose(cm.export()["w"], np.full(4, (w @ [1, 2, 3]) / w.sum()))
    assert cm.current_weights() == {"m0": 0.25, "m1": 0.5, "m2": 1.0}
    # Another replica absorbing the same models (versions given) in another order exports the same.
    other = ContinualMerge(base, memory_budget=0.5)
    for i in (2, 0, 1):
        other.absorb(models[i], name=f"m{i}", version=i + 1)
    assert other.export()["w"].tobytes() == cm.export()["w"].tobytes()
    st = cm.measure_stability("m2")
    assert 0.99 <= st["w"] <= 1.0 and st["mean"] == st["w"]
    # The strategy is honoured (task_arithmetic adds the weighted changes to the base).
    ta = ContinualMerge(base, strategy="task_arithmetic", memory_budget=1.0)
    ta.absorb(models[0]).absorb(models[1])
    np.testing.assert_allclose(ta.export()["w"], np.full(4, 3.0))
    with pytest.raises(ValueError, match="memory_budget"):
        ContinualMerge(base, memory_budget=0)
