"""Exact LoRA merges of PEFT adapter directories (see docs/python.md and docs/model.md).

``merge`` with ``method="cat"`` (the default) concatenates ranks, so the merged update is exactly
Σ wᵢ·sᵢ·BᵢAᵢ; ``rank=K`` compacts it to at most K (exact when K is at least its rank); ``"svd"``
is PEFT's combination, ``"ties"`` / ``"dare_ties"`` run mergekit's on each module's update, and
``"upstream_ab_average"`` is the Python crdt-merge's approximation (A and B averaged apart).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Dict, Optional, Sequence, Union

from . import _native

PathLike = Union[str, "os.PathLike[str]"]


def merge(
    adapters: Sequence[PathLike],
    output: PathLike,
    weights: Optional[Union[Sequence[float], Dict[str, float]]] = None,
    method: str = "cat",
    rank: Optional[int] = None,
    seed: int = 0,
    **params,
) -> str:
    """Merges adapter directories into ``output`` (an adapter directory); returns its path."""
    paths = [os.fspath(a) for a in adapters]
    if weights is None:
        w = [1.0] * len(paths)
    elif isinstance(weights, dict):
        unknown = set(weights) - set(paths)
        if unknown:
            raise ValueError(f"crdtmerge.lora.merge: weights for adapters not given: {sorted(unknown)}")
        w = [float(weights.get(p, 1.0)) for p in paths]
    else:
        w = [float(x) for x in weights]
    if method == "upstream_ab_average":
        warnings.warn(
            "upstream_ab_average averages A and B separately, which is not the average update; "
            "use method='cat' for the exact merge",
            stacklevel=2,
        )
    out = os.fspath(output)
    _native.lora_merge(paths, w, method, rank, json.dumps(params), int(seed), out)
    return out


def apply(base: PathLike, adapter: PathLike, output: PathLike, weight: float = 1.0) -> str:
    """Writes ``base`` with ``weight`` × the adapter's update added to its target weights."""
    out = os.fspath(output)
    _native.lora_apply(os.fspath(base), os.fspath(adapter), float(weight), out)
    return out
