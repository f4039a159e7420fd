"""Sketches as Polars expressions: per-group sketches merged equal the sketch of the whole, the
datasketch MinHash signature, and clear errors."""
import json

import polars as pl
import pytest

import polars_crdt as crdt


def test_group_sketches_merge_to_the_whole():
    df = pl.DataFrame({"g": [i % 5 for i in range(5000)], "v": [i % 1234 for i in range(5000)]})
    for build in (lambda: crdt.hll_agg("v", 12), lambda: crdt.theta_agg("v"), lambda: crdt.bloom_agg("v"),
                  lambda: crdt.minhash_agg("v")):
        parts = df.group_by("g").agg(s=build())
        merged = parts.select(crdt.state_merge("s")).item()
        assert merged == df.select(build()).item()
    assert abs(df.select(crdt.hll_count(crdt.hll_agg("v"))).item() - 1234) < 1234 * 0.03


def test_minhash_is_datasketchs():
    df = pl.DataFrame({"v": ["alpha", "beta"]})
    j = json.loads(df.select(crdt.to_json(crdt.minhash_agg("v", num_perm=4))).item())
    assert j["hashvalues"] == [1140239787, 1658306149, 782576559, 982958409]


def test_cms_and_conversions():
    df = pl.DataFrame({"v": ["x", "x", "y"], "r": ["a", "b", "a"]})
    assert df.select(crdt.cms_estimate(crdt.cms_agg("v", "r"), "x")).item() == 2
    h = pl.DataFrame({"v": list(range(100))}).select(s=crdt.hll_agg("v", 11, "pg_hll"))
    back = h.select(crdt.hll_from_pg_hll(crdt.hll_to_pg_hll("s"))).item()
    assert back == h.item()


def test_errors_name_the_function():
    df = pl.DataFrame({"v": [1, 2]})
    with pytest.raises(pl.exceptions.ComputeError, match="hll_agg.*precision"):
        df.select(crdt.hll_agg("v", 40))
    with pytest.raises(pl.exceptions.ComputeError, match="precision"):
        crdt.hll_agg("v", "14")
