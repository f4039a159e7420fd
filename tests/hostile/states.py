"""State bytes for the hostile matrix: valid frames (the golden files, plus frames this module
encodes) and malformed ones derived from them (docs/wire-format.md).

Every generator is deterministic for a given `random.Random`.
"""
from __future__ import annotations

import json
import random
import struct
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"

TAGS = {
    "g_counter": 0x01,
    "pn_counter": 0x02,
    "lww_register": 0x03,
    "or_set": 0x04,
    "lww_map": 0x05,
    "vector_clock": 0x40,
    "dotted_version_vector": 0x41,
}


def frame(tag: int, payload: bytes, *, version: int = 1, flags: int = 0, length: int | None = None) -> bytes:
    n = len(payload) if length is None else length
    return b"CRDT" + struct.pack(">HBBI", version, tag, flags, n) + payload


# --- the value codec (tags 0x01-0x05) ---------------------------------------------------------


def enc(v) -> bytes:
    """Python value -> value-codec bytes (None, bool, int, float, str, bytes, list, dict, set via
    frozenset)."""
    if v is None:
        return b"\x00"
    if v is True:
        return b"\x01"
    if v is False:
        return b"\x02"
    if isinstance(v, int):
        if -128 <= v <= 127:
            return b"\x09" + struct.pack(">b", v)
        if -(2**63) <= v < 2**63:
            return b"\x03" + struct.pack(">q", v)
        return b"\x0b" + struct.pack(">Q", v)
    if isinstance(v, float):
        return b"\x04" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode("utf-8", "surrogatepass")
        return b"\x05" + struct.pack(">I", len(b)) + b
    if isinstance(v, (bytes, bytearray)):
        return b"\x06" + struct.pack(">I", len(v)) + bytes(v)
    if isinstance(v, list):
        return b"\x07" + struct.pack(">I", len(v)) + b"".join(enc(x) for x in v)
    if isinstance(v, frozenset):
        return b"\x0a" + struct.pack(">I", len(v)) + b"".join(enc(x) for x in sorted(v, key=repr))
    if isinstance(v, dict):
        return b"\x08" + struct.pack(">I", len(v)) + b"".join(enc(k) + enc(x) for k, x in v.items())
    raise TypeError(type(v))


def state(kind: str, d: dict) -> bytes:
    return frame(TAGS[kind], enc(d))


def json_state(kind: str, d: dict) -> bytes:
    return frame(TAGS[kind], json.dumps(d).encode())


def valid_states() -> dict[str, bytes]:
    """Valid frames of every state type: the golden files and a few encoded here."""
    out = {}
    for p in sorted(GOLDEN.glob("*.crdt")):
        out[p.stem] = p.read_bytes()
    out["enc_g_counter"] = state("g_counter", {"type": "g_counter", "counts": {"a": 3, "b": 2**40}})
    out["enc_pn_counter"] = state(
        "pn_counter",
        {"type": "pn_counter", "pos": {"type": "g_counter", "counts": {"a": 5}},
         "neg": {"type": "g_counter", "counts": {"a": 2}}},
    )
    out["enc_lww_register"] = state(
        "lww_register", {"type": "lww_register", "value": "v", "timestamp": 1.5, "node_id": "n"})
    out["enc_g_counter_zlib"] = frame(
        0x01, zlib.compress(enc({"type": "g_counter", "counts": {"a": 7}})), flags=1)
    out["enc_vector_clock"] = json_state("vector_clock", {"type": "vector_clock", "clocks": {"a": 1}})
    return out


# --- malformed frames -------------------------------------------------------------------------


def bombs() -> dict[str, bytes]:
    """Amplifying frames (issue 14, finding 1): small on the wire, huge once decoded."""
    n = 250 * 2**20
    payload = b"\x07" + struct.pack(">I", n) + b"\x00" * n
    z = zlib.compress(payload, 9)
    out = {"bomb_zlib_list_262M_none": frame(0x01, z, flags=1)}
    # The same list, uncompressed declared (count without the items): must fail before allocating.
    out["bomb_declared_list_count"] = frame(0x01, b"\x07" + struct.pack(">I", n))
    # A JSON vector clock whose payload is a 250M-element array (about 20x amplification).
    m = 100 * 2**20
    js = b"[" + b"0," * (m - 1) + b"0]"
    out["bomb_json_vector_clock_array"] = frame(0x40, zlib.compress(js, 9), flags=1)
    # A JSON object with many distinct keys (amplifies into map entries).
    keys = b"{\"type\": \"vector_clock\", \"clocks\": {" + b",".join(
        b'"%d": 1' % i for i in range(400_000)) + b"}}"
    out["bomb_json_vector_clock_many_keys"] = frame(0x40, zlib.compress(keys, 9), flags=1)
    # A zlib payload inflating past the 256 MiB cap.
    out["bomb_zlib_past_cap"] = frame(0x01, zlib.compress(b"\x00" * (300 * 2**20), 9), flags=1)
    # A dict of 4M empty strings keyed by strings (many small allocations).
    inner = b"\x08" + struct.pack(">I", 2_000_000) + (b"\x05\x00\x00\x00\x00\x00") * 2_000_000
    out["bomb_zlib_dict_2M_entries"] = frame(0x01, zlib.compress(inner, 9), flags=1)
    return out


# Names in structural() and bombs() that are valid states (extreme, or merely large): decoding
# them may succeed.
VALID_EXTREMES = {"u64_max_count", "two_u64_max_counts", "i64_max_plus_counts", "pn_neg_bigger",
                  "register_nan_ts", "register_inf_ts", "version_0", "bomb_json_vector_clock_many_keys",
                  "bomb_zlib_dict_2M_entries", "pn_neg_missing", "vc_huge_int"}


def must_refuse(name: str) -> bool:
    """Whether the malformed input `name` (a key of malformed() or bombs()) is invalid for sure:
    every truncation of a valid frame, and the hand-made cases that are not VALID_EXTREMES.
    Bit flips and random bytes may happen to be valid."""
    if name.startswith("trunc_"):
        return True
    if name.startswith(("flip_", "set_", "random_")):
        return False
    return name not in VALID_EXTREMES


def structural() -> dict[str, bytes]:
    """Hand-made malformed frames: each header field wrong, lengths and counts that lie."""
    good = state("g_counter", {"type": "g_counter", "counts": {"a": 3}})
    payload = good[12:]
    out = {
        "empty": b"",
        "magic_only": b"CRDT",
        "header_only": frame(0x01, b""),
        "bad_magic": b"CRDX" + good[4:],
        "version_0": frame(0x01, payload, version=0),
        "version_2": frame(0x01, payload, version=2),
        "version_ffff": frame(0x01, payload, version=0xFFFF),
        "flags_unknown_bit": frame(0x01, payload, flags=0x02),
        "flags_zlib_not_zlib": frame(0x01, payload, flags=0x01),
        "length_short": frame(0x01, payload, length=len(payload) - 1),
        "length_long": frame(0x01, payload, length=len(payload) + 1),
        "length_u32_max": frame(0x01, payload, length=0xFFFFFFFF),
        "trailing_byte": good + b"\x00",
        "trailing_frame": good + good,
        "zlib_trailing": frame(0x01, zlib.compress(payload) + b"\x00", flags=1),
        "zlib_truncated": frame(0x01, zlib.compress(payload)[:-3], flags=1),
        "str_len_u32_max": frame(0x01, b"\x05\xff\xff\xff\xff"),
        "bytes_len_u32_max": frame(0x01, b"\x06\xff\xff\xff\xff"),
        "dict_count_u32_max": frame(0x01, b"\x08\xff\xff\xff\xff"),
        "set_count_u32_max": frame(0x01, b"\x0a\xff\xff\xff\xff"),
        "list_count_u32_max": frame(0x01, b"\x07\xff\xff\xff\xff"),
        "deep_lists_100": frame(0x03, b"\x07\x00\x00\x00\x01" * 100 + b"\x00"),
        "deep_lists_100000": frame(0x03, b"\x07\x00\x00\x00\x01" * 100000 + b"\x00"),
        "unknown_value_tag": frame(0x01, b"\x0c"),
        "invalid_utf8_str": frame(0x01, b"\x05\x00\x00\x00\x02\xc3\x28"),
        "payload_not_dict": frame(0x01, enc([1, 2, 3])),
        "wrong_type_field": state("g_counter", {"type": "pn_counter", "counts": {"a": 1}}),
        "negative_count": state("g_counter", {"type": "g_counter", "counts": {"a": -1}}),
        "float_count": state("g_counter", {"type": "g_counter", "counts": {"a": 1.5}}),
        "u64_max_count": state("g_counter", {"type": "g_counter", "counts": {"a": 2**64 - 1}}),
        "two_u64_max_counts": state("g_counter", {"type": "g_counter", "counts": {"a": 2**64 - 1, "b": 2**64 - 1}}),
        "i64_max_plus_counts": state("g_counter", {"type": "g_counter", "counts": {"a": 2**63 - 1, "b": 1}}),
        "int_replica_id": state("g_counter", {"type": "g_counter", "counts": {1: 1}}),
        "counts_not_dict": state("g_counter", {"type": "g_counter", "counts": [1]}),
        "pn_neg_missing": state("pn_counter", {"type": "pn_counter", "pos": {"type": "g_counter", "counts": {"a": 1}}}),
        "pn_neg_bigger": state("pn_counter", {"type": "pn_counter", "pos": {"type": "g_counter", "counts": {}},
                                              "neg": {"type": "g_counter", "counts": {"a": 2**63}}}),
        "register_nan_ts": state("lww_register", {"type": "lww_register", "value": 1, "timestamp": float("nan"), "node_id": "n"}),
        "register_inf_ts": state("lww_register", {"type": "lww_register", "value": 1, "timestamp": float("inf"), "node_id": "n"}),
        "register_text_ts": state("lww_register", {"type": "lww_register", "value": 1, "timestamp": "x", "node_id": "n"}),
        "register_int_node": state("lww_register", {"type": "lww_register", "value": 1, "timestamp": 1, "node_id": 5}),
        "orset_list_element": state("or_set", {"type": "or_set", "elements": {"a": ["x:1"]}, "tombstones": {"a": 5}}),
        "orset_tags_not_list": state("or_set", {"type": "or_set", "elements": {"a": "x:1"}}),
        "lwwmap_bad_register": state("lww_map", {"type": "lww_map", "registers": {"k": 5}, "tombstones": {}}),
        "lwwmap_text_tombstone": state("lww_map", {"type": "lww_map", "registers": {}, "tombstones": {"k": "x"}}),
        "vc_not_json": frame(0x40, b"{not json"),
        "vc_negative": json_state("vector_clock", {"type": "vector_clock", "clocks": {"a": -1}}),
        "vc_float": json_state("vector_clock", {"type": "vector_clock", "clocks": {"a": 1.5}}),
        "vc_huge_int": frame(0x40, b'{"type": "vector_clock", "clocks": {"a": 1' + b"0" * 5000 + b"}}"),
        "vc_deep_json": frame(0x40, b"[" * 100000 + b"]" * 100000),
        "vc_invalid_utf8": frame(0x40, b'{"type": "vector_clock", "clocks": {"\xff": 1}}'),
        "dvv_bad_dot": json_state("dotted_version_vector", {"type": "dotted_version_vector",
                                                             "base": {"type": "vector_clock", "clocks": {}}, "dot": ["a"]}),
    }
    for name, tag in [("tag_00", 0x00), ("tag_10_delta", 0x10), ("tag_30_hll", 0x30), ("tag_42_merkle", 0x42),
                      ("tag_60", 0x60), ("tag_ff", 0xFF)]:
        out[name] = frame(tag, payload)
    # The right payload under each other valid tag (type confusion).
    for kind, tag in TAGS.items():
        if tag != 0x01:
            out[f"g_counter_payload_as_{kind}"] = frame(tag, payload)
    return out


def truncations(states: dict[str, bytes], every: bool) -> dict[str, bytes]:
    """Every prefix (every=True) or a spread of prefixes of each valid state."""
    out = {}
    for name, b in states.items():
        cuts = range(len(b)) if every else sorted({0, 1, 4, 6, 7, 8, 11, 12, 13, len(b) // 2, len(b) - 1})
        for i in cuts:
            if 0 <= i < len(b):
                out[f"trunc_{name}_{i}"] = b[:i]
    return out


def bitflips(states: dict[str, bytes], rnd: random.Random, per_state: int) -> dict[str, bytes]:
    out = {}
    for name, b in states.items():
        if not b:
            continue
        for _ in range(per_state):
            i = rnd.randrange(len(b))
            bit = rnd.randrange(8)
            m = bytearray(b)
            m[i] ^= 1 << bit
            out[f"flip_{name}_{i}_{bit}"] = bytes(m)
    return out


def byte_sets(states: dict[str, bytes], rnd: random.Random, per_state: int) -> dict[str, bytes]:
    """A payload byte overwritten with a value that makes lengths lie (0xff, 0x7f, 0x00)."""
    out = {}
    for name, b in states.items():
        if len(b) <= 12:
            continue
        for _ in range(per_state):
            i = rnd.randrange(12, len(b))
            v = rnd.choice([0x00, 0x7F, 0x80, 0xFF])
            m = bytearray(b)
            m[i] = v
            out[f"set_{name}_{i}_{v:02x}"] = bytes(m)
    return out


def random_bytes(rnd: random.Random, n: int) -> dict[str, bytes]:
    out = {}
    for i in range(n):
        k = rnd.randrange(3)
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 48)))
        if k == 0:
            out[f"random_{i}"] = body
        elif k == 1:
            out[f"random_magic_{i}"] = b"CRDT" + body
        else:
            tag = rnd.choice(list(TAGS.values()))
            out[f"random_header_{i}"] = frame(tag, body, flags=rnd.choice([0, 0, 1]))
    return out


def malformed(rnd: random.Random, scale: int) -> dict[str, bytes]:
    """All malformed inputs at this scale (1 = the make-test size)."""
    valid = valid_states()
    out = dict(structural())
    out.update(truncations(valid, every=scale > 1))
    out.update(bitflips(valid, rnd, 2 * scale))
    out.update(byte_sets(valid, rnd, 1 * scale))
    out.update(random_bytes(rnd, 20 * scale))
    return out
