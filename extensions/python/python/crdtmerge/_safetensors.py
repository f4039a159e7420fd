"""A small safetensors reader and writer for numpy arrays (the format is a JSON header and raw
little-endian bytes), so tensors cross to the Rust engine as files without torch or the
safetensors package."""

from __future__ import annotations

import json
import os
import struct
from typing import Dict

import numpy as np

_TO_ST = {
    np.dtype("float64"): "F64",
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}
_FROM_ST = {v: k for k, v in _TO_ST.items()}

try:  # bfloat16 arrays, when ml_dtypes is installed
    import ml_dtypes  # type: ignore

    _TO_ST[np.dtype(ml_dtypes.bfloat16)] = "BF16"
    _FROM_ST["BF16"] = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - depends on the environment
    pass


def as_array(x, what: str) -> np.ndarray:
    """numpy arrays as they are; objects with ``__dlpack__`` (torch, jax ...) or ``__array__``
    through numpy; anything else is an error naming ``what``."""
    if isinstance(x, np.ndarray):
        a = x
    elif hasattr(x, "__dlpack__"):
        a = np.from_dlpack(x)
    elif hasattr(x, "__array__") or isinstance(x, (list, tuple, float, int)):
        a = np.asarray(x)
    else:
        raise TypeError(f"{what}: expected an array (numpy, or an object with __dlpack__ or __array__), found {type(x).__name__}")
    if a.dtype not in _TO_ST:
        raise TypeError(
            f"{what}: dtype {a.dtype} is not supported (float64, float32, float16, bfloat16 via ml_dtypes, "
            "integers and bool are)"
        )
    return a


def write(path: str, tensors: Dict[str, np.ndarray]) -> None:
    header = {}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _TO_ST[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read(path: str) -> Dict[str, np.ndarray]:
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        dtype = _FROM_ST.get(t["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name!r} has dtype {t['dtype']}, which needs ml_dtypes to read")
        lo, hi = t["data_offsets"]
        out[name] = np.frombuffer(data[base + lo : base + hi], dtype=dtype.newbyteorder("<")).astype(dtype).reshape(t["shape"])
    return out
