"""crdtmerge: conflict-free (CRDT) model merging.

Every mergekit and crdt-merge strategy with correct maths, merged in one order whatever order the
contributions arrive in (``crdtmerge.model``), exact LoRA merges (``crdtmerge.lora``) and convergent agent memory (``crdtmerge.agentic``). The
engine is the Rust crate ``crdt-merge-model``; merge states are the ``crdt-merge model state``
directories, so a state saved here opens in the CLI and back.
"""

from . import agentic, continual, federated, lora, model
from ._native import strategies
from .model import CRDTMergeState, ModelMerge

__all__ = [
    "CRDTMergeState",
    "ModelMerge",
    "agentic",
    "continual",
    "federated",
    "lora",
    "model",
    "strategies",
]
