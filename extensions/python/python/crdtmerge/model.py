"""Model merging as a CRDT: ``CRDTMergeState`` and ``ModelMerge``.

``CRDTMergeState`` is the Python crdt-merge's class with its maths and laws fixed: the state is a
set of contributions (an OR-Set), merging states is set union (commutative, associative,
idempotent), and ``resolve()`` merges the live contributions in content-id order with the
strategy's own parameters, so replicas that hold the same set resolve to the same bytes, in the
input dtype. It is a ``crdt-merge model state`` directory underneath: ``save(dir)`` writes one
the CLI opens, and ``load(dir)`` opens one the CLI wrote.

Differences from crdt-merge 0.11.0 (docs/python.md): hyper-parameters reach the strategy
(``CRDTMergeState("ties", base=b, density=0.5)``); tensors keep their dtype (no float64 copy);
a contribution is a dict of arrays (a whole model) or one array; a duplicate id keeps the
highest version and, on equal versions, the smaller content id, on every replica; ``merge``
refuses states of another strategy, parameter set, seed or base instead of adopting a base.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from typing import Dict, Iterable, List, Optional, Union

import numpy as np

from . import _native, _safetensors

ONE = "__tensor__"

Tensors = Union[np.ndarray, Dict[str, np.ndarray]]


def _tensors(x, what: str) -> Dict[str, np.ndarray]:
    if isinstance(x, dict):
        if not x:
            raise ValueError(f"{what}: an empty dict of tensors")
        return {str(k): _safetensors.as_array(v, f"{what}[{k!r}]") for k, v in x.items()}
    return {ONE: _safetensors.as_array(x, what)}


class CRDTMergeState:
    """A mergeable set of model contributions for one strategy (see the module docs)."""

    def __init__(
        self,
        strategy_name: str,
        base: Optional[Tensors] = None,
        conflict_resolution: str = "highest_version",
        seed: Optional[int] = None,
        **params,
    ):
        if conflict_resolution != "highest_version":
            raise ValueError(
                f"CRDTMergeState: conflict_resolution={conflict_resolution!r}: only 'highest_version' "
                "is a join (last_write_wins and first_write_wins depend on arrival order)"
            )
        self._tmp = tempfile.TemporaryDirectory(prefix="crdtmerge-")
        self._dir = os.path.join(self._tmp.name, "state")
        base_path = None
        if base is not None:
            base_path = self._write(_tensors(base, "base"))
        _native.state_init(self._dir, strategy_name, base_path, json.dumps(params), int(seed or 0))

    # -- files -------------------------------------------------------------------------------

    def _write(self, tensors: Dict[str, np.ndarray]) -> str:
        fd, path = tempfile.mkstemp(suffix=".safetensors", dir=self._tmp.name)
        os.close(fd)
        _safetensors.write(path, tensors)
        return path

    @classmethod
    def _empty(cls) -> "CRDTMergeState":
        me = cls.__new__(cls)
        me._tmp = tempfile.TemporaryDirectory(prefix="crdtmerge-")
        me._dir = os.path.join(me._tmp.name, "state")
        return me

    # -- contributions -----------------------------------------------------------------------

    def add(
        self,
        tensor: Tensors,
        model_id: Optional[str] = None,
        weight: float = 1.0,
        version: int = 1,
        metadata: Optional[dict] = None,
    ) -> "CRDTMergeState":
        """Adds a contribution (one array, or a dict of arrays: a whole model); returns self."""
        if metadata is not None:
            raise ValueError(
                "CRDTMergeState.add: metadata is not part of the merge state (it would not travel "
                "with merge); keep it beside the state"
            )
        path = self._write(_tensors(tensor, "CRDTMergeState.add: tensor"))
        try:
            if model_id is None:
                model_id = "auto_" + _native.content_id(path)[:12]
            _native.state_add(self._dir, path, str(model_id), float(weight), int(version))
        finally:
            os.remove(path)
        return self

    def add_batch(self, items: Iterable) -> "CRDTMergeState":
        """Adds (tensor, id[, weight[, version]]) tuples or dicts of ``add``'s arguments."""
        for it in items:
            if isinstance(it, dict):
                self.add(**it)
            else:
                self.add(*it)
        return self

    def remove(self, model_id: str) -> "CRDTMergeState":
        """Tombstones a contribution: it stays removed on every replica that merges this one."""
        if str(model_id) not in self.model_ids:
            raise KeyError(f"CRDTMergeState.remove: no live contribution {model_id!r} (live: {self.model_ids})")
        _native.state_remove(self._dir, str(model_id))
        return self

    def merge(self, other: "CRDTMergeState") -> "CRDTMergeState":
        """Joins ``other`` into this state (set union; mutates and returns self)."""
        _native.state_merge(self._dir, [other._dir])
        return self

    def merge_many(self, others: Iterable["CRDTMergeState"]) -> "CRDTMergeState":
        """Joins several states at once."""
        _native.state_merge(self._dir, [o._dir for o in others])
        return self

    def resolve(self) -> Union[np.ndarray, Dict[str, np.ndarray]]:
        """The merged tensors (a dict, or one array when the contributions were arrays)."""
        out = os.path.join(self._tmp.name, "resolved.safetensors")
        try:
            _native.state_resolve(self._dir, out)
        except ValueError as e:
            raise ValueError(self._readable(str(e))) from None
        try:
            tensors = _safetensors.read(out)
        finally:
            os.remove(out)
        if list(tensors) == [ONE]:
            return tensors[ONE]
        return tensors

    def _readable(self, msg: str) -> str:
        """The engine names blob files; a Python user knows contributions by their ids."""
        for label, cid, _, _ in _native.state_live(self._dir):
            msg = msg.replace(os.path.join(self._dir, "blobs", cid + ".safetensors"), f"contribution {label!r}")
        return msg.replace(f"tensor `{ONE}`: ", "the tensor: ")

    # -- reading -----------------------------------------------------------------------------

    @property
    def strategy_name(self) -> str:
        return _native.state_strategy(self._dir)

    @property
    def state_hash(self) -> str:
        """64 hex characters; equal on replicas that hold the same state (the CLI's hash)."""
        return _native.state_hash(self._dir)

    @property
    def model_ids(self) -> List[str]:
        """The live contributions' ids, sorted."""
        return sorted(label for label, _, _, _ in _native.state_live(self._dir))

    @property
    def size(self) -> int:
        return len(_native.state_live(self._dir))

    def __len__(self) -> int:
        return self.size

    @property
    def is_empty(self) -> bool:
        return self.size == 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CRDTMergeState) and self.state_hash == other.state_hash

    def __hash__(self) -> int:
        return hash(self.state_hash)

    def __repr__(self) -> str:
        return f"CRDTMergeState({self.strategy_name!r}, contributions={self.size}, hash={self.state_hash[:12]})"

    # -- persistence ---------------------------------------------------------------------------

    def save(self, directory: str) -> None:
        """Writes the state as a ``crdt-merge model state`` directory (missing or empty)."""
        if os.path.isdir(directory) and os.listdir(directory):
            raise ValueError(f"CRDTMergeState.save: {directory} is not empty")
        shutil.copytree(self._dir, directory, dirs_exist_ok=True)

    @classmethod
    def load(cls, directory: str) -> "CRDTMergeState":
        """Opens a state directory (written by ``save`` or by ``crdt-merge model state``)."""
        me = cls._empty()
        shutil.copytree(directory, me._dir)
        _native.state_hash(me._dir)  # validates the manifest
        return me

    def to_bytes(self) -> bytes:
        """The state directory as one uncompressed tar (sorted names, zero times)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for root, dirs, files in os.walk(self._dir):
                dirs.sort()
                for name in sorted(files):
                    if name.startswith(".lock"):
                        continue
                    full = os.path.join(root, name)
                    info = tarfile.TarInfo(os.path.relpath(full, self._dir))
                    info.size = os.path.getsize(full)
                    info.mtime = 0
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "CRDTMergeState":
        """The inverse of ``to_bytes``; members outside the state directory, links and devices
        are refused, and the manifest and every blob are checked."""
        me = cls._empty()
        os.makedirs(me._dir)
        try:
            tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
        except tarfile.TarError as e:
            raise ValueError(f"CRDTMergeState.from_bytes: not a state archive: {e}") from None
        with tar:
            for m in tar.getmembers():
                parts = m.name.replace("\\", "/").split("/")
                if not m.isfile() or m.name.startswith("/") or ".." in parts or len(parts) > 2:
                    raise ValueError(f"CRDTMergeState.from_bytes: refusing archive member {m.name!r}")
                dest = os.path.join(me._dir, *parts)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                src = tar.extractfile(m)
                with open(dest, "wb") as f:
                    shutil.copyfileobj(src, f)
        _native.state_hash(me._dir)
        return me


class ModelMerge:
    """One-shot merges of models given as dicts of arrays: ``ModelMerge("ties").merge([a, b],
    base_model=base, weights=[1, 2], density=0.5)``."""

    def __init__(self, schema: str = "weight_average"):
        self.strategy = schema

    def merge(self, models, base_model=None, weights=None, seed: int = 0, **params):
        if weights is None:
            weights = [1.0] * len(models)
        if len(weights) != len(models):
            raise ValueError(f"ModelMerge.merge: {len(models)} models but {len(weights)} weights")
        state = CRDTMergeState(self.strategy, base=base_model, seed=seed, **params)
        for i, (m, w) in enumerate(zip(models, weights)):
            state.add(m, model_id=f"model_{i}", weight=w)
        return state.resolve()
