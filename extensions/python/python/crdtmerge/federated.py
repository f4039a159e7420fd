"""Federated averaging as a CRDT (see docs/python.md).

``FederatedMerge().submit(client_id, update, num_samples, round)`` records one contribution per
client: its latest round wins (the round is the contribution's version, so a late or repeated
message from an older round changes nothing), and ``aggregate()`` is FedAvg by sample counts over
each client's latest contribution, computed by the engine in contribution-id order (the Python
crdt-merge sums in submission order) and streamed tensor by tensor. Servers merge their states
with ``merge`` in any order.

The Python crdt-merge's "fedprox" is a server-side shrink toward the global model, which is not
FedProx (a proximal term in each client's loss); here it is ``aggregate(global_model,
server_shrink=mu)``, and ``FederatedMerge("fedprox")`` is an error that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from .model import CRDTMergeState


@dataclass
class FederatedResult:
    model: Dict[str, np.ndarray]
    client_contributions: Dict[str, float]
    num_clients: int
    total_samples: float
    strategy_used: str


class FederatedMerge:
    def __init__(self, strategy: str = "fedavg", mu: Optional[float] = None):
        if strategy == "fedprox":
            raise ValueError(
                "FederatedMerge: FedProx is a proximal term in each client's training loss, not a "
                "server-side rule; aggregate with fedavg and, if you want the Python crdt-merge's "
                "server-side shrink, call aggregate(global_model, server_shrink=mu)"
            )
        if strategy != "fedavg":
            raise ValueError(f"FederatedMerge: unknown strategy {strategy!r} (fedavg)")
        self.mu = mu
        self._state = CRDTMergeState("weight_average")

    def submit(self, client_id: str, update, num_samples: float = 1, round: int = 1) -> "FederatedMerge":
        if not num_samples > 0:
            raise ValueError(f"FederatedMerge.submit: num_samples must be > 0, found {num_samples}")
        if int(round) < 1:
            raise ValueError(f"FederatedMerge.submit: round must be >= 1, found {round}")
        self._state.add(update, model_id=str(client_id), weight=float(num_samples), version=int(round))
        return self

    def merge(self, other: "FederatedMerge") -> "FederatedMerge":
        self._state.merge(other._state)
        return self

    @property
    def state(self) -> CRDTMergeState:
        return self._state

    def aggregate(self, global_model=None, server_shrink: Optional[float] = None) -> FederatedResult:
        merged = self._state.resolve()
        if not isinstance(merged, dict):
            merged = {"__tensor__": merged}
        mu = self.mu if server_shrink is None else server_shrink
        if mu is not None:
            if global_model is None:
                raise ValueError("FederatedMerge.aggregate: server_shrink needs global_model")
            g = global_model if isinstance(global_model, dict) else {"__tensor__": global_model}
            missing = sorted(set(merged) - set(g))
            if missing:
                raise ValueError(f"FederatedMerge.aggregate: global_model lacks {missing}")
            # t − μ(t − global), computed in float64 and returned in the tensor's dtype
            merged = {k: (v - mu * (v.astype(np.float64) - np.asarray(g[k], np.float64))).astype(v.dtype)
                      for k, v in merged.items()}
        from . import _native

        live = _native.state_live(self._state._dir)
        contrib = {label: w for label, _, w, _ in live}
        model = merged["__tensor__"] if list(merged) == ["__tensor__"] else merged
        return FederatedResult(model, contrib, len(contrib), float(sum(contrib.values())), "fedavg")
