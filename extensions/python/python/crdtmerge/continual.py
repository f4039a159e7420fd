"""Continual merging with a memory budget (see docs/python.md).

``ContinualMerge(base, strategy, memory_budget).absorb(model, weight, name, version)`` keeps each
model as a contribution of a merge state; ``export()`` merges them with the chosen strategy (the
Python crdt-merge ignores it outside its CRDT mode) at effective weights
``weight · memory_budget ** (latest_version − version)``, the age counted in versions, never in
arrival order, so replicas that merged the same absorptions export the same tensors.
"""

from __future__ import annotations

import os
from typing import Dict, Optional

import numpy as np

from . import _native, _safetensors
from .model import CRDTMergeState, _tensors


class ContinualMerge:
    def __init__(self, base_model, strategy: str = "weight_average", memory_budget: float = 1.0, **params):
        if not 0.0 < memory_budget <= 1.0:
            raise ValueError(f"ContinualMerge: memory_budget must be in (0, 1], found {memory_budget}")
        self.base = _tensors(base_model, "ContinualMerge: base_model")
        self.strategy = strategy
        self.memory_budget = float(memory_budget)
        self.params = params
        # Models are held in a weight_average state (weights as given); export re-weights them.
        self._state = CRDTMergeState("weight_average")
        self._next = 1
        CRDTMergeState(strategy, base=self.base, **params)  # check the strategy and parameters now

    def absorb(self, model, weight: float = 1.0, name: Optional[str] = None, version: Optional[int] = None):
        v = self._next if version is None else int(version)
        self._next = max(self._next, v + 1)
        self._state.add(model, model_id=name or f"model_{v}", weight=float(weight), version=v)
        return self

    def merge(self, other: "ContinualMerge") -> "ContinualMerge":
        self._state.merge(other._state)
        self._next = max(self._next, other._next)
        return self

    def current_weights(self) -> Dict[str, float]:
        live = _native.state_live(self._state._dir)
        latest = max((v for _, _, _, v in live), default=0)
        return {label: w * self.memory_budget ** (latest - v) for label, _, w, v in live}

    def export(self):
        weights = self.current_weights()
        out = CRDTMergeState(self.strategy, base=self.base, **self.params)
        for label, cid, _, version in _native.state_live(self._state._dir):
            blob = os.path.join(self._state._dir, "blobs", cid + ".safetensors")
            out.add(_safetensors.read(blob), model_id=label, weight=weights[label], version=version)
        return out.resolve()

    def measure_stability(self, name: str) -> Dict[str, float]:
        """Per tensor, the cosine between the model's change from the base and the merged
        change, clipped to [0, 1], and their mean under ``"mean"``."""
        live = {label: cid for label, cid, _, _ in _native.state_live(self._state._dir)}
        if name not in live:
            raise KeyError(f"ContinualMerge.measure_stability: no model {name!r}")
        model = _safetensors.read(os.path.join(self._state._dir, "blobs", live[name] + ".safetensors"))
        merged = self.export()
        if not isinstance(merged, dict):
            merged = {"__tensor__": merged}
        out = {}
        for k, b in self.base.items():
            d1 = (model[k].astype(np.float64) - b).ravel()
            d2 = (merged[k].astype(np.float64) - b).ravel()
            n = np.linalg.norm(d1) * np.linalg.norm(d2)
            out[k] = float(np.clip(d1 @ d2 / n, 0.0, 1.0)) if n > 0 else 1.0
        out["mean"] = float(np.mean([v for k, v in out.items()]))
        return out
