"""polars_crdt.merge / mergeql: table semantics, lazy in -> lazy out, the Python library's schemas."""
import polars as pl
import pytest
from crdt_merge.strategies import LWW, Concat, MaxWins, MergeSchema, Priority, UnionSet

import polars_crdt as crdt

A = pl.DataFrame({"id": [1, 2], "name": ["Alice", "Charlie"], "score": [80, 70], "_ts": [1000.0, 1000.0]})
B = pl.DataFrame({"id": [1, 3], "name": ["Bob", "Diana"], "score": [90, 85], "_ts": [2000.0, 1000.0]})
SEED = [(1, "Bob", 90, 2000.0), (2, "Charlie", 70, 1000.0), (3, "Diana", 85, 1000.0)]


def test_seed_demo():
    out = crdt.merge([A, B], key="id", strategies={"name": "lww", "score": "max"})
    assert isinstance(out, pl.DataFrame)
    assert out.columns == ["id", "name", "score", "_ts"]
    assert out.rows() == SEED


def test_lazy_in_lazy_out():
    out = crdt.merge([A.lazy(), B], key="id", strategies={"name": "lww", "score": "max"})
    assert isinstance(out, pl.LazyFrame)
    assert out.collect_schema().names() == ["id", "name", "score", "_ts"]
    assert out.collect().rows() == SEED


def test_python_library_schema_objects_and_dicts():
    schema = MergeSchema(default=LWW(), name=LWW(), score=MaxWins())
    assert crdt.merge([A, B], key="id", strategies=schema).rows() == SEED
    assert crdt.merge([A, B], key="id", strategies=schema.to_dict()).rows() == SEED
    assert crdt.merge([A, B], key="id", strategies={"score": "MaxWins"}).rows() == SEED


def test_union_priority_and_concat_from_merge_schema():
    a = pl.DataFrame({"id": [1], "tags": ["x,y"], "st": ["review"], "note": ["n1"], "_ts": [1.0]})
    b = pl.DataFrame({"id": [1], "tags": ["z, x"], "st": ["draft"], "note": ["n0 | n1"], "_ts": [2.0]})
    schema = MergeSchema(tags=UnionSet(), st=Priority(["draft", "review", "published"]), note=Concat())
    assert crdt.merge([a, b], key="id", strategies=schema).rows() == [(1, "x,y,z", "review", "n0 | n1", 2.0)]


def test_unlawful_schema_entries_are_refused():
    with pytest.raises(pl.exceptions.ComputeError, match=r"note\.dedup"):
        crdt.merge([A, B], key="id", strategies=MergeSchema(note=Concat(dedup=False)))


def test_merge_is_commutative_and_idempotent_on_the_seed():
    s = {"name": "lww", "score": "max"}
    ab = crdt.merge([A, B], key="id", strategies=s)
    assert crdt.merge([B, A], key="id", strategies=s).equals(ab)
    assert crdt.merge([A, A], key="id", strategies=s).equals(A.sort("id"))
    assert crdt.merge([ab, A, B], key="id", strategies=s).equals(ab)


def test_duplicate_keys_within_a_replica_are_merged():
    a = pl.DataFrame({"id": [1, 1, 1], "v": ["p", "q", "r"], "_ts": [1.0, 3.0, 2.0]})
    assert crdt.merge([a], key="id").rows() == [(1, "q", 3.0)]


def test_missing_columns_are_bottom_and_types_widen():
    a = pl.DataFrame({"id": [1], "x": pl.Series([5], dtype=pl.Int32), "_ts": [1.0]})
    b = pl.DataFrame({"id": [1, 2], "x": pl.Series([None, 9], dtype=pl.Int64), "y": ["b", "c"], "_ts": [2.0, 1.0]})
    for out in (crdt.merge([a, b], key="id"), crdt.merge([a.lazy(), b], key="id").collect()):
        assert out.columns == ["id", "x", "_ts", "y"]
        assert out.schema["x"] == pl.Int64
        assert out.rows() == [(1, 5, 2.0, "b"), (2, 9, 1.0, "c")]


def test_composite_key_and_custom_clock_and_replica():
    a = pl.DataFrame({"k1": [1, 1], "k2": ["a", "b"], "v": ["x", "y"], "t": [5, 5], "node": ["n1", "n1"]})
    b = pl.DataFrame({"k1": [1], "k2": ["a"], "v": ["w"], "t": [5], "node": ["n2"]})
    out = crdt.merge([a, b], key=["k1", "k2"], ts="t", replica="node")
    assert out.select("k1", "k2", "v").rows() == [(1, "a", "w"), (1, "b", "y")]


def test_tombstones_hide_by_flag_and_are_kept():
    a = pl.DataFrame({"id": [1, 2], "v": ["x", "y"], "_ts": [1.0, 1.0], "_deleted": [False, False]})
    b = pl.DataFrame({"id": [1], "v": [None], "_ts": [2.0], "_deleted": [True]}, schema_overrides={"v": pl.String})
    out = crdt.merge([a, b], key="id", tombstone="_deleted")
    assert out.select("id", "v", "_deleted").rows() == [(1, "x", True), (2, "y", False)]


def test_provenance_names_the_winning_replica():
    out = crdt.merge({"a": A, "b": B}, key="id", strategies={"score": "max"}, provenance=True)
    assert out["name__source"].to_list() == ["b", "a", "b"]
    assert out["__conflicts"].to_list()[0] >= 1


def test_null_keys_are_an_error_naming_the_key():
    bad = pl.DataFrame({"id": [None, 1], "_ts": [1.0, 1.0]}, schema_overrides={"id": pl.Int64})
    with pytest.raises(pl.exceptions.ComputeError, match=r"polars_crdt\.merge: .*`id`"):
        crdt.merge([bad], key="id")


def test_mergeql_where_limit_and_strategy():
    q = "MERGE a, b ON id STRATEGY score='max', name='lww' WHERE score >= 80 LIMIT 5"
    assert crdt.mergeql(q, {"a": A, "b": B}).rows() == [(1, "Bob", 90, 2000.0), (3, "Diana", 85, 1000.0)]
    lazy = crdt.mergeql("MERGE A, B ON id STRATEGY score='max'", {"A": A.lazy(), "B": B.lazy()})
    assert isinstance(lazy, pl.LazyFrame) and lazy.collect().rows() == SEED


def test_mergeql_errors_name_the_problem():
    with pytest.raises(pl.exceptions.ComputeError, match=r"polars_crdt\.mergeql: argument `query`: .*syntax"):
        crdt.mergeql("MERGE a b", {"a": A})
    with pytest.raises(pl.exceptions.ComputeError, match=r"a frame named 'c'"):
        crdt.mergeql("MERGE a, c ON id", {"a": A})


def test_merge_many_replicas_equals_pairwise_folds():
    import random

    rng = random.Random(7)
    frames = []
    for _ in range(4):
        n = 30
        frames.append(
            pl.DataFrame(
                {
                    "id": [rng.randrange(10) for _ in range(n)],
                    "v": [rng.choice(["a", "b", None]) for _ in range(n)],
                    "s": [rng.randrange(100) for _ in range(n)],
                    "_ts": [float(rng.randrange(5)) for _ in range(n)],
                }
            )
        )
    s = {"s": "max"}
    whole = crdt.merge(frames, key="id", strategies=s)
    folded = frames[0]
    for f in frames[1:]:
        folded = crdt.merge([folded, f], key="id", strategies=s)
    assert whole.select("id", "s", "_ts").equals(folded.select("id", "s", "_ts"))


def test_large_join_plan_runs_on_threads_and_matches_the_whole_column_plan():
    # 600k output rows: the aligned merge splits into row ranges on several threads.
    n = 400_000
    a = pl.select(id=pl.int_range(n).shuffle(seed=1)).with_columns(
        name=pl.format("a{}", pl.col("id") % 1000), score=(pl.col("id") * 7 % 100).cast(pl.Int32),
        _ts=(pl.col("id") % 13).cast(pl.Float64),
    )
    b = pl.select(id=pl.int_range(n // 2, n // 2 + n).shuffle(seed=2)).with_columns(
        name=pl.format("b{}", pl.col("id") % 1000), score=(pl.col("id") * 11 % 100).cast(pl.Int32),
        _ts=(pl.col("id") % 17).cast(pl.Float64),
    )
    s = {"name": "lww", "score": "max"}
    eager = crdt.merge([a, b], key="id", strategies=s)
    assert eager.height == n + n // 2
    assert eager.equals(crdt.merge([a.lazy(), b.lazy()], key="id", strategies=s).collect())


def test_seed_demo_script_prints_the_merged_table():
    import subprocess
    import sys

    from conftest import ROOT

    r = subprocess.run(
        [sys.executable, str(ROOT / "extensions" / "polars" / "examples" / "seed_demo.py")],
        capture_output=True, text=True, check=True,
    )
    assert r.stdout.splitlines()[-3:] == [str(row) for row in SEED], r.stdout


def test_text_keys_order_by_utf8_bytes_in_both_plans():
    a = pl.DataFrame({"k": ["é", "z", "a", "Z", ""], "v": [1, 2, 3, 4, 5], "_ts": [1.0] * 5})
    b = pl.DataFrame({"k": ["a", "ß", "b"], "v": [9, 9, 9], "_ts": [2.0] * 3})
    eager = crdt.merge([a, b], key="k")  # the join plan
    lazy = crdt.merge([a.lazy(), b.lazy()], key="k").collect()  # the whole-column plan
    assert eager["k"].to_list() == ["", "Z", "a", "b", "z", "ß", "é"]
    assert eager.equals(lazy)


def test_columns_whose_types_do_not_widen_are_an_error():
    """An integer column in one frame and a text column in another is the kernel's type error,
    not Polars' relaxed cast to text, in both plans and lazily."""
    a = pl.DataFrame({"id": [1, 2], "v": [1, 2], "_ts": [1.0, 1.0]})
    b = pl.DataFrame({"id": [1, 3], "v": ["x", "y"], "_ts": [2.0, 1.0]})
    for frames in ([a, b], [a, b, a], [a.lazy(), b.lazy()]):
        with pytest.raises(pl.exceptions.ComputeError, match="argument `v`: expected type a type compatible with"):
            crdt.merge(frames, key="id")
    # Integers and floats do widen (to float), as in the kernel.
    c = b.with_columns(pl.Series("v", [2.5, 0.5]))
    assert crdt.merge([a, c], key="id").rows() == [(1, 2.5, 2.0), (2, 2.0, 1.0), (3, 0.5, 1.0)]
