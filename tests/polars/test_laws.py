"""The three laws (commutative, associative, idempotent), checked with hypothesis through Polars."""
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

import polars_crdt as crdt

TEXT = st.sampled_from(["a", "b", "é", "", "a,b", "c, a"])
ROW = st.fixed_dictionaries(
    {
        "id": st.integers(0, 4),
        "v": st.one_of(st.none(), TEXT),
        "s": st.one_of(st.none(), st.integers(-3, 3)),
        "f": st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.5, float("nan"), -2.0])),
        "tags": st.one_of(st.none(), TEXT),
        "_ts": st.integers(0, 3).map(float),
    }
)
SCHEMA = {"id": pl.Int64, "v": pl.String, "s": pl.Int64, "f": pl.Float64, "tags": pl.String, "_ts": pl.Float64}
STRATS = {"v": "lww", "s": "max", "f": "min", "tags": "union(,)"}


def frame(rows):
    return pl.DataFrame(rows, schema=SCHEMA)


frames = st.lists(ROW, max_size=12).map(frame)


def m(*fs, strategies=STRATS):
    return crdt.merge(list(fs), key="id", strategies=strategies)


def same(x, y):
    assert x.equals(y, null_equal=True), f"\n{x}\n!=\n{y}"


@settings(max_examples=60, deadline=None)
@given(frames, frames)
def test_merge_commutative(a, b):
    same(m(a, b), m(b, a))


@settings(max_examples=60, deadline=None)
@given(frames, frames)
def test_merge_idempotent(a, b):
    ab = m(a, b)
    same(m(a, a), m(a))
    same(m(ab, ab), ab)
    same(m(ab, a), ab)


@settings(max_examples=60, deadline=None)
@given(frames, frames, frames)
def test_merge_associative(a, b, c):
    # One call over any order and grouping of replicas gives one answer.
    same(m(a, b, c), m(c, a, b))
    # Re-merging merged output is exact when LWW values carry no NULL (docs/kernel.md).
    a, b, c = (x.with_columns(pl.col("v").fill_null("n")) for x in (a, b, c))
    same(m(m(a, b), c), m(a, m(b, c)))


AGGS = [
    crdt.lww("v", "_ts").alias("lww"),
    crdt.lww_nullable("v", "_ts").alias("lwwn"),
    crdt.max("s").alias("max"),
    crdt.min("f").alias("min"),
    crdt.longest("v", "_ts").alias("longest"),
    crdt.union("tags", ",").alias("union"),
    crdt.concat("tags").alias("concat"),
    crdt.priority("v", ["", "b", "a"]).alias("priority"),
    crdt.counter_value(crdt.gcounter("v", "id")).alias("g"),
]


def grouped(df):
    return df.group_by("id").agg(*AGGS).sort("id")


@settings(max_examples=60, deadline=None)
@given(frames, frames, frames)
def test_grouped_expressions_obey_the_laws(a, b, c):
    abc = grouped(pl.concat([a, b, c]))
    same(grouped(pl.concat([c, b, a])), abc)  # commutative
    same(grouped(pl.concat([a, b, c, c, a])), abc)  # idempotent
    # associative: merging per-partition results equals one pass (full-cell strategies)
    parts = [grouped(x) for x in (pl.concat([a, b]), c)]
    cells = ["max", "min", "union"]
    re = (
        pl.concat([p.select("id", *cells) for p in parts])
        .group_by("id")
        .agg(crdt.max("max"), crdt.min("min"), crdt.union("union", ","))
        .sort("id")
    )
    same(re, abc.select("id", *cells))


PAIRS = st.lists(st.tuples(st.one_of(st.none(), TEXT), st.one_of(st.none(), TEXT), st.one_of(st.none(), TEXT)), min_size=1, max_size=10)


@settings(max_examples=60, deadline=None)
@given(PAIRS)
def test_pairwise_joins_obey_the_laws(rows):
    # Typed columns: an all-NULL column would otherwise have Polars' Null dtype, for which the
    # kernel's text union/concat joins return '' instead of NULL (reported to the kernel owner).
    df = pl.DataFrame(rows, schema={"x": pl.String, "y": pl.String, "z": pl.String}, orient="row")
    for join in (crdt.max_join, crdt.min_join, lambda p, q: crdt.union_join(p, q, ","), crdt.concat_join):
        out = df.select(
            xy=join("x", "y"),
            yx=join("y", "x"),
            xx=join("x", "x"),
            xxx=join(join("x", "x"), "x"),
            xyy=join(join("x", "y"), "y"),
            l=join(join("x", "y"), "z"),
            r=join("x", join("y", "z")),
        )
        assert out["xy"].equals(out["yx"].alias("xy"), null_equal=True)
        # idempotent: joining a value (or a join result) with what it already holds changes nothing
        assert out["xxx"].equals(out["xx"].alias("xxx"), null_equal=True)
        assert out["xyy"].equals(out["xy"].alias("xyy"), null_equal=True)
        if join in (crdt.max_join, crdt.min_join):
            assert out["xx"].equals(df["x"].alias("xx"), null_equal=True)
        assert out["l"].equals(out["r"].alias("l"), null_equal=True)


UNIQUE = st.lists(ROW, max_size=12).map(lambda rows: frame(rows).unique("id", keep="first", maintain_order=True))


def _kwargs(strategies):
    return {
        "py": "merge", "sources": ["0", "1"], "source_column": "__crdt_source", "key": ["id"],
        "strategies": __import__("json").dumps(strategies), "ts": None, "replica": None,
        "tombstone": None, "provenance": False, "mergeql": None,
    }


@settings(max_examples=80, deadline=None)
@given(UNIQUE, UNIQUE)
def test_join_plan_equals_the_whole_column_plan(a, b):
    """Two DataFrames with unique keys take the join plan (stacked, sorted, adjacent rows paired
    and merged by the kernel's aligned merge); LazyFrames take the whole-column plan. Both must
    agree."""
    joined = crdt._pair_plan(["id"], a, b, _kwargs(STRATS))
    assert joined is not None, "unique integer keys must take the join plan"
    same(joined, m(a, b))
    same(joined, crdt.merge([a.lazy(), b.lazy()], key="id", strategies=STRATS).collect())


def test_join_plan_steps_aside_for_duplicate_keys():
    a = frame([{"id": 1, "v": "x", "s": 1, "f": 1.0, "tags": "a", "_ts": 1.0}] * 2)
    assert crdt._pair_plan(["id"], a, a, _kwargs(STRATS)) is None
    assert m(a, a).height == 1
