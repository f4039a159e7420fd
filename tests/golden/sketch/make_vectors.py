#!/usr/bin/env python3
"""Generate golden test vectors for sketch interop (murmur3, datasketch MinHash,
crdt-merge 0.11.0 probabilistic sketches).

Environment (pinned):
    python3 -m venv /tmp/sketchvenv
    /tmp/sketchvenv/bin/pip install crdt-merge==0.11.0 datasketch==2.0.0 mmh3 numpy
    /tmp/sketchvenv/bin/python tests/golden/sketch/make_vectors.py

Writes vectors.json next to this script (pretty-printed, sorted keys,
deterministic). Every section is cross-checked against an independent
pure-Python reimplementation before it is written.
"""
import hashlib
import json
import math
import os
import struct
import sys
from importlib.metadata import version

import mmh3
import numpy as np
from datasketch import MinHash

import crdt_merge.probabilistic as prob
import crdt_merge.wire as wire
from crdt_merge.probabilistic import MergeableBloom, MergeableCMS, MergeableHLL

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
M64 = (1 << 64) - 1
M32 = (1 << 32) - 1


# ---------------------------------------------------------------- murmur3 ref
def _rotl64(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _fmix64(k):
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & M64
    k ^= k >> 33
    return k


def murmur3_x64_128_ref(data: bytes, seed: int):
    """Pure-Python MurmurHash3_x64_128 (Austin Appleby's reference). Returns (h1, h2)."""
    c1, c2 = 0x87C37B91114253D5, 0x4CF5AD432745937F
    h1 = h2 = seed & M32
    n = len(data)
    nblocks = n // 16
    for i in range(nblocks):
        k1, k2 = struct.unpack_from("<QQ", data, i * 16)
        k1 = (k1 * c1) & M64; k1 = _rotl64(k1, 31); k1 = (k1 * c2) & M64; h1 ^= k1
        h1 = _rotl64(h1, 27); h1 = (h1 + h2) & M64; h1 = (h1 * 5 + 0x52DCE729) & M64
        k2 = (k2 * c2) & M64; k2 = _rotl64(k2, 33); k2 = (k2 * c1) & M64; h2 ^= k2
        h2 = _rotl64(h2, 31); h2 = (h2 + h1) & M64; h2 = (h2 * 5 + 0x38495AB5) & M64
    tail = data[nblocks * 16:]
    k1 = k2 = 0
    for i in range(len(tail) - 1, 7, -1):
        k2 |= tail[i] << ((i - 8) * 8)
    for i in range(min(len(tail), 8) - 1, -1, -1):
        k1 |= tail[i] << (i * 8)
    if len(tail) > 8:
        k2 = (k2 * c2) & M64; k2 = _rotl64(k2, 33); k2 = (k2 * c1) & M64; h2 ^= k2
    if len(tail) > 0:
        k1 = (k1 * c1) & M64; k1 = _rotl64(k1, 31); k1 = (k1 * c2) & M64; h1 ^= k1
    h1 ^= n; h2 ^= n
    h1 = (h1 + h2) & M64; h2 = (h2 + h1) & M64
    h1 = _fmix64(h1); h2 = _fmix64(h2)
    h1 = (h1 + h2) & M64; h2 = (h2 + h1) & M64
    return h1, h2


def murmur3_section():
    alnum = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
    inputs = [b"", b"a", b"ab", b"abc", b"hello", b"hello world!!"]
    inputs += [alnum[:n] for n in (15, 16, 17, 31, 32, 33)]
    inputs += [struct.pack("<q", v) for v in (0, 1, -1, 42, 2 ** 62)]
    out = []
    for seed in (9001, 0):
        for data in inputs:
            h1, h2 = mmh3.hash64(data, seed, signed=False)
            # Cross-checks: pure-Python reference, hash128 split, hash_bytes layout.
            assert (h1, h2) == murmur3_x64_128_ref(data, seed), (seed, data)
            h128 = mmh3.hash128(data, seed, signed=False)
            assert h1 == h128 & M64 and h2 == h128 >> 64
            assert mmh3.hash_bytes(data, seed) == struct.pack("<QQ", h1, h2)
            out.append({"seed": seed, "hex": data.hex(), "h1": h1, "h2": h2})
    return out


# ---------------------------------------------------------------- minhash ref
def _mt19937_init_genrand(seed):
    mt = [0] * 624
    mt[0] = seed & M32
    for i in range(1, 624):
        mt[i] = (1812433253 * (mt[i - 1] ^ (mt[i - 1] >> 30)) + i) & M32
    return mt


def _mt19937_outputs(seed, count):
    mt = _mt19937_init_genrand(seed)
    idx = 624
    out = []
    while len(out) < count:
        if idx >= 624:
            for i in range(624):
                y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7FFFFFFF)
                mt[i] = mt[(i + 397) % 624] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
            idx = 0
        y = mt[idx]; idx += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        out.append(y)
    return out


def _fmix32(h):
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    h ^= h >> 16
    return h


def minhash_ref(num_perm, seed, items):
    raw = _mt19937_outputs(seed, 2 * num_perm)
    a = [2 * (r & 0x7FFFFFFF) + 1 for r in raw[:num_perm]]
    b = raw[num_perm:]
    hv = [M32] * num_perm
    for it in items:
        h = _fmix32(struct.unpack("<I", hashlib.sha1(it).digest()[:4])[0])
        for k in range(num_perm):
            hv[k] = min(hv[k], (a[k] * h + b[k]) & M32)
    return a, b, hv


def make_minhash(num_perm, seed, items):
    m = MinHash(num_perm=num_perm, seed=seed)
    assert m.scheme == "affine32"
    for it in items:
        m.update(it)
    a, b, hv = minhash_ref(num_perm, seed, items)
    assert [int(x) for x in m.permutations[0]] == a
    assert [int(x) for x in m.permutations[1]] == b
    assert [int(x) for x in m.hashvalues] == hv
    assert m.hashvalues.dtype == np.uint32 and m.permutations.dtype == np.uint32
    return m


def minhash_section():
    words = [("w%d" % i).encode("ascii") for i in range(100)]
    cases_spec = [
        (4, 1, [b"alpha", b"beta"]),
        (128, 1, words),
        (128, 7, words),
        (128, 1, []),
    ]
    cases = []
    for num_perm, seed, items in cases_spec:
        m = make_minhash(num_perm, seed, items)
        cases.append({
            "num_perm": num_perm,
            "seed": seed,
            "items": [it.hex() for it in items],
            "hashvalues": [int(x) for x in m.hashvalues],
        })
    m4 = make_minhash(4, 1, [])
    perms = {
        "num_perm": 4, "seed": 1, "attribute": "MinHash.permutations (np.ndarray shape (2, num_perm), uint32; row 0 = a, row 1 = b)",
        "a": [int(x) for x in m4.permutations[0]],
        "b": [int(x) for x in m4.permutations[1]],
        "mt19937_raw_first_8": _mt19937_outputs(1, 8),
    }
    # numpy's own raw stream must agree with the pure-Python MT19937 (init_genrand).
    rs = np.random.RandomState(1)
    assert [int(x) for x in rs._bit_generator.random_raw(8)] == perms["mt19937_raw_first_8"]

    words2 = [("w%d" % i).encode("ascii") for i in range(50, 150)]
    ma = make_minhash(128, 1, words)
    mb = make_minhash(128, 1, words2)
    jac = {
        "num_perm": 128, "seed": 1,
        "items_a": "w0..w99 (ascii)", "items_b": "w50..w149 (ascii)",
        "hashvalues_b": [int(x) for x in mb.hashvalues],
        "jaccard": ma.jaccard(mb),
        "matching_slots": int(np.count_nonzero(ma.hashvalues == mb.hashvalues)),
        "true_jaccard": 50 / 150,
    }
    empty = make_minhash(128, 1, [])
    return cases, perms, jac, {"empty_is_empty": bool(empty.is_empty()), "count_w0_w99": float(ma.count())}


MINHASH_NOTES = {
    "datasketch_version": None,
    "scheme": "affine32 (default since 2.0.0 when scheme=None and no hashvalues/permutations given)",
    "hashfunc": "sha1_hash32(data) = struct.unpack('<I', hashlib.sha1(data).digest()[:4])[0]  (little-endian u32 of first 4 SHA-1 bytes)",
    "premix": "h = fmix32(hashfunc(item)): h ^= h>>16; h *= 0x85EBCA6B; h ^= h>>13; h *= 0xC2B2AE35; h ^= h>>16 (all mod 2^32). Applied ONCE per item before the permutations.",
    "permutation": "phv_k = (a_k * h + b_k) mod 2^32, computed in numpy uint32 (wraparound is the modulus). No Mersenne prime in affine32.",
    "update": "hashvalues_k = min(hashvalues_k, phv_k)",
    "init_hashvalues": "np.full(num_perm, 2^32-1, dtype=np.uint32)",
    "permutations": "gen = np.random.RandomState(seed); a = gen.randint(0, 2^31, num_perm, dtype=uint32)*2 + 1; b = gen.randint(0, 2^32, num_perm, dtype=uint32). ALL a values drawn first, then all b values (not interleaved).",
    "permutations_in_mt_terms": "RandomState(seed) is MT19937 seeded with init_genrand(seed) (32-bit seed). With raw 32-bit outputs r_0, r_1, ...: a_k = 2*(r_k & 0x7fffffff) + 1, b_k = r_{num_perm+k}. (Verified against a pure-Python MT19937 in make_vectors.py.)",
    "storage": "MinHash.permutations is an np.ndarray of shape (2, num_perm), dtype uint32; MinHash.hashvalues dtype uint32",
    "jaccard": "count_nonzero(self.hashvalues == other.hashvalues) / num_perm; raises ValueError on differing scheme, seed or num_perm",
    "count": "num_perm / sum(hashvalues / (2^32-1)) - 1.0",
    "legacy_scheme": "scheme='legacy' (pre-2.0.0): hashvalues uint64 init 2^32-1; (a*h + b) % (2^61-1) & (2^32-1), no fmix; a,b from gen.randint(1 / 0, 2^61-1) interleaved per perm. Not used for these vectors.",
}


# ---------------------------------------------------------------- upstream
def _try(fn):
    try:
        r = fn()
        return True, None, r
    except Exception as e:  # noqa: BLE001
        return False, "%s: %s" % (type(e).__name__, e), None


def upstream_section():
    res = {
        "crdt_merge_version": version("crdt-merge"),
        "api": {
            "module": "crdt_merge.probabilistic",
            "classes": ["MergeableHLL(precision)", "MergeableBloom(capacity, fp_rate)", "MergeableCMS(width, depth)"],
            "add": "HLL.add(item), Bloom.add(item), CMS.add(item, count=1)",
            "queries": "HLL.cardinality() -> float, Bloom.contains(item) -> bool, CMS.estimate(item) -> int",
            "dict": "obj.to_dict() / Cls.from_dict(d)",
            "wire": "crdt_merge.wire.serialize(obj, compress=False) -> bytes / crdt_merge.wire.deserialize(bytes)",
            "wire_tags": {"hll": wire.TAG_HLL, "bloom": wire.TAG_BLOOM, "cms": wire.TAG_CMS},
            "wire_header": "struct '>4sHBBI': magic b'CRDT', version u16 BE (=1), type tag u8, flags u8 (bit0 zlib), payload length u32 BE; payload = compact binary encoding of to_dict() (0x08 dict u32 count, 0x05 str u32 len, 0x07 list u32 count, 0x09 i8 smallint for -128..127, 0x03 i64 BE, 0x04 f64 BE)",
            "hash": "_hash64(item, seed) = int(md5(repr(item).encode('utf-8') + struct.pack('>I', seed)).hexdigest(), 16) & (2^64-1)  -- i.e. the LAST 8 bytes of the MD5 digest read big-endian; NOT murmur3",
            "hll_index": "h = _hash64(item, 0); idx = h >> (64-p); rank = clz_{64-p}((h << p) mod 2^64) + 1 (clz over 64-p bits, so rank max = 64-p+1)",
            "bloom_positions": "h1 = _hash64(item, 0), h2 = _hash64(item, 42); pos_i = (h1 + i*h2) % size (Python bigint, no 64-bit wrap), i in 0..num_hashes; bit pos -> bits[pos>>3] |= 1<<(pos&7)",
            "bloom_sizing": "size = max(ceil(-n ln p / ln2^2), 64); num_hashes = max(ceil(size/n * ln2), 1)",
            "cms_positions": "h1 = _hash64(item, 0), h2 = _hash64(item, 7); col_row = (h1 + row*h2) % width",
            "hll_estimator": "alpha*m^2 / sum 2^-r (alpha: 16->0.673, 32->0.697, 64->0.709, else 0.7213/(1+1.079/m)); if E <= 2.5m and zeros>0: E = m ln(m/zeros); if E > 2^32/30: E = -2^64 ln(1 - E/2^64)",
        },
    }

    def frame(obj):
        b = wire.serialize(obj)
        back = wire.deserialize(b)
        assert back == obj and back.to_dict() == obj.to_dict()
        return b.hex()

    hll = {}
    for p in (10, 14):
        h = MergeableHLL(precision=p)
        for i in range(1000):
            h.add(i)
        hll[str(p)] = {
            "precision": p, "items": "python ints 0..999 (hashed as repr: '0'..'999')",
            "to_dict": h.to_dict(), "wire_hex": frame(h), "cardinality": h.cardinality(),
        }
    res["hll"] = hll

    bl = MergeableBloom(capacity=100, fp_rate=0.01)
    for i in range(50):
        bl.add("k%d" % i)
    res["bloom"] = {
        "capacity": 100, "fp_rate": 0.01, "items": "python str 'k0'..'k49' (hashed as repr: \"'k0'\" incl. quotes)",
        "to_dict": bl.to_dict(), "wire_hex": frame(bl),
        "contains_k0": bl.contains("k0"), "contains_zzz": bl.contains("zzz"),
        "estimated_fp_rate": bl.estimated_fp_rate(),
    }

    cms = MergeableCMS(width=50, depth=3)
    cms.add("a", count=3)
    cms.add("b", count=1)
    cms_seq = MergeableCMS(width=50, depth=3)
    for x in ("a", "a", "a", "b"):
        cms_seq.add(x)
    assert cms_seq == cms and cms_seq.to_dict() == cms.to_dict()
    res["cms"] = {
        "width": 50, "depth": 3, "adds": [["a", 3], ["b", 1]], "add_call": "cms.add('a', count=3); cms.add('b', count=1) (identical to 3x add('a') + add('b'))",
        "to_dict": cms.to_dict(), "wire_hex": frame(cms),
        "estimate_a": cms.estimate("a"), "estimate_b": cms.estimate("b"), "total": cms.total,
    }

    # Internal hash reference values so a re-implementation can check its hashing.
    hv = []
    for item in [0, 1, 999, "k0", "zzz", "a", "b"]:
        data = repr(item).encode("utf-8")
        row = {"item_repr": repr(item), "repr_utf8_hex": data.hex()}
        for s in (0, 7, 42):
            v = prob._hash64(item, s)
            assert v == int.from_bytes(hashlib.md5(data + struct.pack(">I", s)).digest()[8:], "big")
            row["hash64_seed%d" % s] = v
        hv.append(row)
    res["hash64_reference"] = hv

    # Extra unknown keys.
    extras = {"family": "murmur3", "replicas": {"r1": 1, "r2": [1, 2]}}
    objs = {"hll": hll_obj_for_extra(), "bloom": bl, "cms": cms}
    ek = {}
    for name, obj in objs.items():
        cls = type(obj)
        entry = {}
        for key, val in extras.items():
            d = json.loads(json.dumps(obj.to_dict()))
            d[key] = val
            ok, err, back = _try(lambda: cls.from_dict(d))
            entry["from_dict_accepts_" + key] = ok
            entry["from_dict_error_" + key] = err
            if ok:
                entry["from_dict_equal_after_" + key] = back == obj
                entry["from_dict_roundtrip_keeps_" + key] = key in back.to_dict()
            # Wire frame carrying the extra key under the real type tag, built with
            # the library's own serialize() through a to_dict-overriding subclass.
            sub = type("X" + cls.__name__, (cls,), {"to_dict": lambda self, _d=d: _d})
            o2 = cls.from_dict(d) if ok else obj
            o2.__class__ = sub
            frame_b = wire.serialize(o2)
            assert frame_b[6] == wire._TYPE_TO_TAG[name]
            ok2, err2, back2 = _try(lambda: wire.deserialize(frame_b))
            entry["wire_deserialize_accepts_" + key] = ok2
            entry["wire_deserialize_error_" + key] = err2
            if ok2:
                entry["wire_deserialize_equal_after_" + key] = back2 == obj
                entry["wire_hex_with_" + key] = frame_b.hex()
        ek[name] = entry
    res["extra_keys"] = ek

    # Missing optional keys.
    res["missing_keys"] = {
        "bloom_without_count": _try(lambda: MergeableBloom.from_dict({k: v for k, v in bl.to_dict().items() if k != "count"}))[0],
        "cms_without_total": _try(lambda: MergeableCMS.from_dict({k: v for k, v in cms.to_dict().items() if k != "total"}))[0],
        "hll_without_type": _try(lambda: MergeableHLL.from_dict({"precision": 4, "registers": [0] * 16}))[0],
    }

    # Fixed registers -> upstream estimator.
    regs = [1, 2, 0, 3, 1, 0, 0, 5, 2, 1, 1, 0, 4, 0, 0, 1]
    d = {"type": "hll", "precision": 4, "registers": regs}
    h4 = MergeableHLL.from_dict(d)
    raw = 0.673 * 16 * 16 / sum(2.0 ** -r for r in regs)
    res["hll_fixed_registers"] = {
        "dict": d,
        "cardinality": h4.cardinality(),
        "raw_estimate": raw,
        "zeros": regs.count(0),
        "linear_counting": 16 * math.log(16 / regs.count(0)),
        "branch": "linear_counting" if raw <= 2.5 * 16 and regs.count(0) > 0 else "raw",
        "wire_hex": frame(h4),
    }
    extra_cases = []
    for p, regs2 in [(4, [0] * 16), (4, [7] * 16), (4, [1] * 16), (5, [(i * 7) % 6 + 1 for i in range(32)]), (6, [(i * 5) % 9 for i in range(64)]), (7, [(i * 3) % 5 + 1 for i in range(128)])]:
        hh = MergeableHLL.from_dict({"type": "hll", "precision": p, "registers": regs2})
        extra_cases.append({"precision": p, "registers": regs2, "cardinality": hh.cardinality()})
    res["hll_fixed_registers_more"] = extra_cases
    return res


def hll_obj_for_extra():
    h = MergeableHLL(precision=4)
    for i in range(10):
        h.add(i)
    return h


def main():
    MINHASH_NOTES["datasketch_version"] = version("datasketch")
    cases, perms, jac, misc = minhash_section()
    doc = {
        "generator": "tests/golden/sketch/make_vectors.py",
        "versions": {
            "python": "%d.%d" % sys.version_info[:2],
            "mmh3": version("mmh3"), "datasketch": version("datasketch"),
            "numpy": version("numpy"), "crdt-merge": version("crdt-merge"),
        },
        "murmur3_api": "mmh3.hash64(data, seed, signed=False) -> (h1, h2) of MurmurHash3_x64_128 (x64arch=True default); "
                       "== (hash128 & 2^64-1, hash128 >> 64); hash_bytes == LE(h1) || LE(h2); checked against a pure-Python reference",
        "murmur3": murmur3_section(),
        "minhash": cases,
        "minhash_permutations": perms,
        "minhash_jaccard": jac,
        "minhash_misc": misc,
        "minhash_notes": MINHASH_NOTES,
        "upstream": upstream_section(),
    }
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    with open(OUT, "w") as f:
        f.write(text)
    print("wrote", OUT, len(text), "bytes")


if __name__ == "__main__":
    main()
