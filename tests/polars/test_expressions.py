"""Every expression, in group_by().agg(), over() and select, against hand-derived answers."""
import polars as pl
import pytest

import polars_crdt as crdt


def by_key(df, *exprs):
    return df.group_by("k", maintain_order=True).agg(*exprs).sort("k")


W = pl.DataFrame(
    {
        "k": [1, 1, 2, 2, 3, 3, 4, 4],
        "v": ["old", "new", "b", "a", "x", None, None, None],
        "ts": [1, 2, 5, 5, 7, 9, 1, 2],
        "r": ["r1", "r1", "r1", "r2", "r1", "r2", "r1", "r1"],
    },
    schema_overrides={"v": pl.String},
)


def test_lww_grouped_and_replica_tie_break():
    assert by_key(W, crdt.lww("v", "ts"))["v"].to_list() == ["new", "b", "x", None]
    assert by_key(W, crdt.lww("v", "ts", "r"))["v"].to_list() == ["new", "a", "x", None]


def test_lww_over_broadcasts_the_group_value():
    out = W.with_columns(m=crdt.lww("v", "ts").over("k"))["m"].to_list()
    assert out == ["new", "new", "b", "b", "x", "x", None, None]


def test_lww_nullable_lets_a_newer_null_win():
    assert by_key(W, crdt.lww_nullable("v", "ts"))["v"].to_list() == ["new", "b", None, None]


def test_lww_in_select_and_lazy():
    assert W.select(crdt.lww("v", "ts")).item() == "x"
    assert W.lazy().select(crdt.lww(pl.col("v"), pl.col("ts"))).collect().item() == "x"


def test_max_min_with_nan_and_nulls():
    df = pl.DataFrame({"k": [1, 1, 1, 2], "x": [1.5, float("nan"), None, -0.0]})
    out = by_key(df, crdt.max("x").alias("hi"), crdt.min("x").alias("lo"))
    hi, lo = out["hi"].to_list(), out["lo"].to_list()
    assert hi[0] != hi[0] and lo[0] == 1.5  # NaN is above every number
    assert hi[1] == 0.0 and str(hi[1]) == "0.0"  # -0.0 joins to +0.0


def test_max_text_is_by_utf8_bytes():
    df = pl.DataFrame({"t": ["Z", "a", "é"]})
    assert df.select(crdt.max("t")).item() == "é"


def test_priority_levels_low_to_high_and_unknown_is_lowest():
    df = pl.DataFrame({"k": [1, 1, 2, 2], "s": ["published", "draft", "zzz", "draft"]})
    out = by_key(df, crdt.priority("s", ["draft", "review", "published"]))
    assert out["s"].to_list() == ["published", "draft"]


def test_longest_counts_code_points():
    df = pl.DataFrame({"v": ["ééé", "abcd", "xyz"], "ts": [9, 1, 9]})
    assert df.select(crdt.longest("v", "ts")).item() == "abcd"


def test_union_text_and_lists():
    df = pl.DataFrame({"k": [1, 1, 2], "t": [" b ,a", "c,,a", None]})
    assert by_key(df, crdt.union("t", ","))["t"].to_list() == ["a,b,c", None]
    dl = pl.DataFrame({"k": [1, 1], "l": [[3, 1], [2, None]]})
    assert by_key(dl, crdt.union("l"))["l"].to_list() == [[1, 2, 3]]


def test_concat_is_deduplicated_and_sorted():
    df = pl.DataFrame({"t": ["b | a", "a", "c"]})
    assert df.select(crdt.concat("t")).item() == "a | b | c"
    assert pl.DataFrame({"t": ["x;y", "y"]}).select(crdt.concat("t", ";")).item() == "x;y"


def test_counters_keep_the_per_replica_maximum():
    df = pl.DataFrame({"k": [1, 1, 1, 2], "r": ["a", "a", "b", "a"], "inc": [3, 5, 1, 2], "dec": [0, 1, 0, 2]})
    out = by_key(
        df,
        crdt.counter_value(crdt.gcounter("r", "inc")).alias("g"),
        crdt.counter_value(crdt.pncounter("r", "inc", "dec")).alias("pn"),
        crdt.typeof(crdt.pncounter("r", "inc", "dec")).alias("t"),
    )
    assert out["g"].to_list() == [6, 2]
    assert out["pn"].to_list() == [5, 0]
    assert out["t"].to_list() == ["pn_counter", "pn_counter"]


def test_state_merge_aggregate_and_pairwise_are_idempotent():
    parts = pl.DataFrame({"r": ["n1", "n2", "n1"], "c": [4, 6, 9]}).with_row_index("i")
    states = parts.group_by("i").agg(s=crdt.gcounter("r", "c")).sort("i")
    doubled = pl.concat([states, states])
    assert doubled.select(crdt.counter_value(crdt.state_merge("s"))).item() == 15
    s = states["s"]
    pair = pl.DataFrame({"a": s, "b": s.reverse()})
    joined = pair.select(crdt.counter_value(crdt.state_merge_join("a", "b")))
    assert joined.to_series().to_list() == [9, 6, 9]  # n1 keeps its maximum, 9
    with_null = pl.DataFrame({"a": s[:1], "b": pl.Series([None], dtype=pl.Binary)})
    assert with_null.select(crdt.counter_value(crdt.state_merge_join("a", "b"))).item() == 4


def test_to_json_and_typeof():
    df = pl.DataFrame({"r": ["n1"], "c": [5]})
    out = df.select(j=crdt.to_json(crdt.gcounter("r", "c")), t=crdt.typeof(crdt.gcounter("r", "c")))
    assert out.row(0) == ('{"counts":{"n1":5},"type":"g_counter"}', "g_counter")


def test_pairwise_forms_row_by_row():
    df = pl.DataFrame(
        {
            "a": ["x", "y", None], "ta": [1, 5, 1], "ra": ["r1", "r1", "r1"],
            "b": ["z", "w", "q"], "tb": [2, 5, 0], "rb": ["r2", "r0", "r0"],
            "n1": [1, None, 3], "n2": [2, 5, None],
        }
    )
    out = df.select(
        crdt.lww_join("a", "ta", "b", "tb").alias("lww"),
        crdt.lww_join("a", "ta", "b", "tb", "ra", "rb").alias("lww_r"),
        crdt.lww_nullable_join("a", "ta", "b", "tb").alias("lwwn"),
        crdt.longest_join("a", "ta", "b", "tb").alias("long"),
        crdt.max_join("n1", "n2").alias("mx"),
        crdt.min_join("n1", "n2").alias("mn"),
        crdt.priority_join("a", "b", ["z", "x"]).alias("pr"),
        crdt.union_join("a", "b", ",").alias("un"),
        crdt.concat_join("a", "b").alias("cc"),
    )
    assert out["lww"].to_list() == ["z", "y", "q"]
    assert out["lww_r"].to_list() == ["z", "y", "q"]
    assert out["lwwn"].to_list() == ["z", "y", None]
    assert out["long"].to_list() == ["z", "y", "q"]
    assert out["mx"].to_list() == [2, 5, 3]
    assert out["mn"].to_list() == [1, 5, 3]
    assert out["pr"].to_list() == ["x", "y", "q"]
    assert out["un"].to_list() == ["x,z", "w,y", "q"]
    assert out["cc"].to_list() == ["x | z", "w | y", "q"]


def test_pairwise_join_equals_the_aggregate_over_two_rows():
    df = pl.DataFrame({"a": ["p", "q"], "ta": [3, 3], "b": ["r", "q"], "tb": [3, 1]})
    pair = df.select(crdt.lww_join("a", "ta", "b", "tb"))["a"].to_list()
    long = pl.concat(
        [df.select(k=pl.int_range(2), v="a", ts="ta"), df.select(k=pl.int_range(2), v="b", ts="tb")]
    )
    agg = by_key(long, crdt.lww("v", "ts"))["v"].to_list()
    assert pair == agg == ["r", "q"]


def test_hlc_round_trip():
    df = pl.DataFrame({"ms": [1_700_000_000_000, 0], "c": [7, 65535]})
    out = df.select(h=crdt.hlc("ms", "c")).select(crdt.hlc_ms("h").alias("ms"), crdt.hlc_counter("h").alias("c"))
    assert out.rows() == [(1_700_000_000_000, 7), (0, 65535)]


def test_empty_group_and_empty_frame():
    empty = pl.DataFrame({"v": pl.Series([], dtype=pl.String), "ts": pl.Series([], dtype=pl.Int64)})
    assert empty.select(crdt.lww("v", "ts")).item() is None
    assert empty.select(crdt.priority("v", ["a"])).item() is None


def test_catalogue_is_fully_exposed():
    """Every catalogue function has a Python function (crdt_ dropped; _agg -> grouped name)."""
    python_name = {
        "crdt_state_merge_agg": "state_merge",
        "crdt_state_merge": "state_merge_join",
        "crdt_version": "kernel_version",
    }
    for sql, _is_agg, _sigs in crdt._internal.catalogue():
        name = python_name.get(sql, sql.removeprefix("crdt_"))
        assert callable(getattr(crdt, name, None)), f"{sql} has no polars_crdt.{name}"
        assert name in crdt.__all__


GROUPED = {
    "lww": lambda: crdt.lww("v", "ts", "r"),
    "lww_nullable": lambda: crdt.lww_nullable("v", "ts"),
    "max": lambda: crdt.max("v"),
    "min": lambda: crdt.min("v"),
    "priority": lambda: crdt.priority("v", ["a", "b", "new"]),
    "longest": lambda: crdt.longest("v", "ts"),
    "union": lambda: crdt.union("v", ","),
    "concat": lambda: crdt.concat("v"),
    "gcounter": lambda: crdt.counter_value(crdt.gcounter("r", "ts")),
    "pncounter": lambda: crdt.counter_value(crdt.pncounter("r", "ts", "ts")),
    "state_merge": lambda: crdt.to_json(crdt.state_merge(crdt.gcounter("r", "ts"))),
}


@pytest.mark.parametrize("name", sorted(GROUPED))
def test_every_grouped_expression_in_agg_over_and_lazy(name):
    expr = GROUPED[name]
    agg = by_key(W, expr().alias("x"))
    over = W.with_columns(x=expr().over("k")).select("k", "x").unique(maintain_order=True).sort("k")
    lazy = W.lazy().group_by("k").agg(expr().alias("x")).sort("k").collect()
    assert over.equals(agg, null_equal=True), (over, agg)
    assert lazy.equals(agg, null_equal=True)
    assert agg.height == 4
