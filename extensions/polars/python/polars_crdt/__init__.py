"""polars-crdt: conflict-free (CRDT) merges as Polars expressions.

Every function runs the crdt-merge kernel (Rust) inside Polars, as an expression plugin; no row
passes through Python. Each merge strategy is the join of a semilattice, so results do not depend
on the order, grouping or repetition of the inputs.

* grouped merges, one value per group, for ``group_by().agg()``, ``over()`` and ``select``:
  :func:`lww`, :func:`lww_nullable`, :func:`max`, :func:`min`, :func:`priority`,
  :func:`longest`, :func:`union`, :func:`concat`, :func:`gcounter`, :func:`pncounter`,
  :func:`state_merge`;
* pairwise forms, row by row, for ``select`` / ``with_columns``: :func:`lww_join`,
  :func:`lww_nullable_join`, :func:`max_join`, :func:`min_join`, :func:`priority_join`,
  :func:`longest_join`, :func:`union_join`, :func:`concat_join`, :func:`state_merge_join`;
* state bytes (Python crdt-merge wire format) and clocks: :func:`typeof`, :func:`to_json`,
  :func:`counter_value`, :func:`hlc`, :func:`hlc_ms`, :func:`hlc_counter`;
* whole tables: :func:`merge` and :func:`mergeql`.

Column arguments take an expression or a column name; ``levels`` and ``sep`` are constants.

>>> import polars as pl, polars_crdt as crdt
>>> df = pl.DataFrame({"k": [1, 1, 2], "v": ["old", "new", "x"], "ts": [1, 2, 1]})
>>> df.group_by("k").agg(crdt.lww("v", "ts")).sort("k").rows()
[(1, 'new'), (2, 'x')]
"""
from __future__ import annotations

import builtins
import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import polars as pl

__all__ = [
    "lww", "lww_nullable", "max", "min", "priority", "longest", "union", "concat",
    "gcounter", "pncounter", "state_merge",
    "lww_join", "lww_nullable_join", "max_join", "min_join", "priority_join", "longest_join",
    "union_join", "concat_join", "state_merge_join",
    "typeof", "to_json", "counter_value", "hlc", "hlc_ms", "hlc_counter", "kernel_version",
    "hll_agg", "hll_count", "theta_agg", "theta_count", "theta_union", "theta_intersect",
    "bloom_agg", "bloom_contains", "cms_agg", "cms_estimate", "minhash_agg", "jaccard",
    "minhash_bands", "hll_to_pg_hll", "hll_from_pg_hll", "hll_to_datasketches",
    "hll_from_datasketches",
    "row_id", "content_id", "fingerprint_agg", "fingerprint_state_agg", "table_digest",
    "fingerprint", "fingerprint_add", "fingerprint_sub", "sync_key", "json_merge",
    "merge", "mergeql", "SUPPORTED_POLARS",
]

#: The Python polars versions this build supports (the same range as the wheel's metadata).
SUPPORTED_POLARS = ((2, 0), (2, 2))


def _check_polars_version(version: str) -> None:
    """Raises ImportError, with what to do, when ``version`` is outside SUPPORTED_POLARS.

    >>> _check_polars_version("2.1.0")
    >>> _check_polars_version("1.30.0")
    Traceback (most recent call last):
    ...
    ImportError: polars_crdt needs polars >=2.0,<2.2 (the plugin ABI it was built against); found polars 1.30.0. Install a supported version: pip install "polars>=2.0,<2.2"
    """
    m = re.match(r"(\d+)\.(\d+)", version)
    lo, hi = SUPPORTED_POLARS
    if m is None or not (lo <= (int(m.group(1)), int(m.group(2))) < hi):
        want = f">={lo[0]}.{lo[1]},<{hi[0]}.{hi[1]}"
        raise ImportError(
            f"polars_crdt needs polars {want} (the plugin ABI it was built against); "
            f"found polars {version}. Install a supported version: pip install \"polars{want}\""
        )


_check_polars_version(pl.__version__)

from polars.plugins import register_plugin_function  # noqa: E402

from polars_crdt import _internal  # noqa: E402

_LIB = Path(__file__).parent
_SOURCE = "__crdt_source"
_PACKED = "__crdt_merged"
_FIRST = "__crdt_first"

IntoExpr = Union[pl.Expr, str]


def _err(function: str, argument: str, expected: str, found: Any) -> pl.exceptions.ComputeError:
    return pl.exceptions.ComputeError(
        f"polars_crdt.{function}: argument `{argument}`: expected {expected}, found {found!r}"
    )


def _col(function: str, argument: str, x: Any) -> pl.Expr:
    if isinstance(x, pl.Expr):
        return x
    if isinstance(x, str):
        return pl.col(x)
    raise _err(function, argument, "an expression or a column name", x)


def _text_const(function: str, argument: str, x: Any) -> pl.Expr:
    if not isinstance(x, str):
        raise _err(function, argument, "a string constant", x)
    return pl.lit(x, dtype=pl.String)


def _levels(function: str, levels: Any) -> pl.Expr:
    if isinstance(levels, (str, bytes)) or not isinstance(levels, Iterable):
        raise _err(function, "levels", "a list of levels, lowest first", levels)
    return pl.lit(pl.Series("levels", [list(levels)]))


def _aggregate(sql: str, py: str, args: Sequence[pl.Expr]) -> pl.Expr:
    return register_plugin_function(
        plugin_path=_LIB,
        function_name="crdt_aggregate",
        args=list(args),
        kwargs={"name": sql, "py": py},
        is_elementwise=False,
        returns_scalar=True,
    )


def _scalar(sql: str, py: str, args: Sequence[pl.Expr]) -> pl.Expr:
    return register_plugin_function(
        plugin_path=_LIB,
        function_name="crdt_scalar",
        args=list(args),
        kwargs={"name": sql, "py": py},
        is_elementwise=True,
    )


def _clocked(sql: str, py: str, value: Any, ts: Any, replica: Any) -> pl.Expr:
    args = [_col(py, "value", value), _col(py, "ts", ts)]
    if replica is not None:
        args.append(_col(py, "replica", replica))
    return _aggregate(sql, py, args)


# ---------------------------------------------------------------------------------------------
# Grouped merges


def lww(value: IntoExpr, ts: IntoExpr, replica: Optional[IntoExpr] = None) -> pl.Expr:
    """Last writer wins: the value with the greatest ``(ts, replica, value)``.

    A NULL value never overwrites; a NULL clock is the lowest; an empty group gives NULL.

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"k": [1, 1, 2, 2], "v": ["a", "b", "x", None], "ts": [2, 1, 1, 9]})
    >>> df.group_by("k").agg(crdt.lww("v", "ts")).sort("k").rows()
    [(1, 'a'), (2, 'x')]
    >>> df.with_columns(w=crdt.lww("v", "ts").over("k"))["w"].to_list()
    ['a', 'a', 'x', 'x']
    """
    return _clocked("crdt_lww", "lww", value, ts, replica)


def lww_nullable(value: IntoExpr, ts: IntoExpr, replica: Optional[IntoExpr] = None) -> pl.Expr:
    """Last writer wins where NULL is a written value (for columns that users clear).

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"v": ["a", None], "ts": [1, 2]})
    >>> df.select(crdt.lww_nullable("v", "ts")).item() is None
    True
    """
    return _clocked("crdt_lww_nullable", "lww_nullable", value, ts, replica)


def max(value: IntoExpr) -> pl.Expr:  # noqa: A001 - the strategy's name
    """The greatest value (canonical order: NaN above every number, text by UTF-8 bytes).

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"x": [3, None, 7]}).select(crdt.max("x")).item()
    7
    """
    return _aggregate("crdt_max", "max", [_col("max", "value", value)])


def min(value: IntoExpr) -> pl.Expr:  # noqa: A001 - the strategy's name
    """The least non-NULL value.

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"x": [3, None, 7]}).select(crdt.min("x")).item()
    3
    """
    return _aggregate("crdt_min", "min", [_col("min", "value", value)])


def priority(value: IntoExpr, levels: Sequence[Any]) -> pl.Expr:
    """The value of highest rank in ``levels`` (listed lowest first); unknown values rank -1.

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"s": ["review", "draft", "published"]})
    >>> df.select(crdt.priority("s", ["draft", "review", "published"])).item()
    'published'
    """
    return _aggregate("crdt_priority", "priority", [_col("priority", "value", value), _levels("priority", levels)])


def longest(value: IntoExpr, ts: IntoExpr, replica: Optional[IntoExpr] = None) -> pl.Expr:
    """The longest value (code points for text), then by ``(ts, replica, value)``.

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"bio": ["short", "a longer one", "tiny"], "ts": [3, 1, 2]})
    >>> df.select(crdt.longest("bio", "ts")).item()
    'a longer one'
    """
    return _clocked("crdt_longest", "longest", value, ts, replica)


def union(value: IntoExpr, sep: Optional[str] = None) -> pl.Expr:
    """Set union: of lists, or of ``sep``-separated text (parts trimmed, sorted, deduplicated).

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"t": ["b, a", "c,a"]}).select(crdt.union("t", ",")).item()
    'a,b,c'
    >>> pl.DataFrame({"t": [[3, 1], [2, 1]]}).select(crdt.union("t")).item().to_list()
    [1, 2, 3]
    """
    args = [_col("union", "value", value)]
    if sep is not None:
        args.append(_text_const("union", "sep", sep))
    return _aggregate("crdt_union", "union", args)


def concat(value: IntoExpr, sep: str = " | ") -> pl.Expr:
    """Text parts joined with ``sep``, deduplicated and sorted (a concat that keeps duplicates is
    not idempotent, so it is not offered).

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"n": ["x | y", "w", "x"]}).select(crdt.concat("n")).item()
    'w | x | y'
    """
    return _aggregate("crdt_concat", "concat", [_col("concat", "value", value), _text_const("concat", "sep", sep)])


def gcounter(replica: IntoExpr, count: IntoExpr) -> pl.Expr:
    """A G-Counter state (bytes) from each replica's cumulative count; read it with
    :func:`counter_value`.

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"r": ["n1", "n1", "n2"], "c": [3, 5, 2]})
    >>> df.select(crdt.counter_value(crdt.gcounter("r", "c"))).item()
    7
    """
    return _aggregate("crdt_gcounter", "gcounter", [_col("gcounter", "replica", replica), _col("gcounter", "count", count)])


def pncounter(replica: IntoExpr, inc: IntoExpr, dec: IntoExpr) -> pl.Expr:
    """A PN-Counter state (bytes) from each replica's cumulative increments and decrements.

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"r": ["n1", "n2"], "inc": [5, 2], "dec": [1, 0]})
    >>> df.select(crdt.counter_value(crdt.pncounter("r", "inc", "dec"))).item()
    6
    """
    return _aggregate(
        "crdt_pncounter", "pncounter",
        [_col("pncounter", "replica", replica), _col("pncounter", "inc", inc), _col("pncounter", "dec", dec)],
    )


def state_merge(state: IntoExpr) -> pl.Expr:
    """The merge of state bytes (counters, registers, sets, maps, clocks); NULL is bottom.

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"r": ["n1", "n2"], "c": [4, 6]})
    >>> parts = df.group_by("r").agg(s=crdt.gcounter("r", "c"))
    >>> parts.select(crdt.counter_value(crdt.state_merge("s"))).item()
    10
    """
    return _aggregate("crdt_state_merge_agg", "state_merge", [_col("state_merge", "state", state)])


# ---------------------------------------------------------------------------------------------
# Pairwise forms


def _clocked_join(sql, py, value1, ts1, value2, ts2, replica1, replica2) -> pl.Expr:
    if (replica1 is None) != (replica2 is None):
        raise _err(py, "replica2" if replica2 is None else "replica1", "both replicas or neither", None)
    left = [_col(py, "value1", value1), _col(py, "ts1", ts1)]
    right = [_col(py, "value2", value2), _col(py, "ts2", ts2)]
    if replica1 is not None:
        left.append(_col(py, "replica1", replica1))
        right.append(_col(py, "replica2", replica2))
    return _scalar(sql, py, left + right)


def lww_join(value1, ts1, value2, ts2, replica1=None, replica2=None) -> pl.Expr:
    """Row-by-row :func:`lww` of two sides.

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"a": ["x", "y"], "ta": [1, 5], "b": ["z", None], "tb": [2, 9]})
    >>> df.select(crdt.lww_join("a", "ta", "b", "tb"))["a"].to_list()
    ['z', 'y']
    """
    return _clocked_join("crdt_lww_join", "lww_join", value1, ts1, value2, ts2, replica1, replica2)


def lww_nullable_join(value1, ts1, value2, ts2, replica1=None, replica2=None) -> pl.Expr:
    """Row-by-row :func:`lww_nullable` of two sides.

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"a": ["x"], "ta": [1], "b": [None], "tb": [2]}, schema_overrides={"b": pl.String})
    >>> df.select(crdt.lww_nullable_join("a", "ta", "b", "tb")).item() is None
    True
    """
    return _clocked_join("crdt_lww_nullable_join", "lww_nullable_join", value1, ts1, value2, ts2, replica1, replica2)


def longest_join(value1, ts1, value2, ts2, replica1=None, replica2=None) -> pl.Expr:
    """Row-by-row :func:`longest` of two sides.

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"a": ["abc"], "ta": [1], "b": ["de"], "tb": [2]})
    >>> df.select(crdt.longest_join("a", "ta", "b", "tb")).item()
    'abc'
    """
    return _clocked_join("crdt_longest_join", "longest_join", value1, ts1, value2, ts2, replica1, replica2)


def max_join(a: IntoExpr, b: IntoExpr) -> pl.Expr:
    """Row-by-row :func:`max` of two columns (NULL is bottom).

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"a": [1, None], "b": [2, 5]}).select(crdt.max_join("a", "b"))["a"].to_list()
    [2, 5]
    """
    return _scalar("crdt_max_join", "max_join", [_col("max_join", "a", a), _col("max_join", "b", b)])


def min_join(a: IntoExpr, b: IntoExpr) -> pl.Expr:
    """Row-by-row :func:`min` of two columns (NULL is bottom).

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"a": [1, None], "b": [2, 5]}).select(crdt.min_join("a", "b"))["a"].to_list()
    [1, 5]
    """
    return _scalar("crdt_min_join", "min_join", [_col("min_join", "a", a), _col("min_join", "b", b)])


def priority_join(a: IntoExpr, b: IntoExpr, levels: Sequence[Any]) -> pl.Expr:
    """Row-by-row :func:`priority` of two columns.

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"a": ["draft"], "b": ["review"]})
    >>> df.select(crdt.priority_join("a", "b", ["draft", "review"])).item()
    'review'
    """
    return _scalar(
        "crdt_priority_join", "priority_join",
        [_col("priority_join", "a", a), _col("priority_join", "b", b), _levels("priority_join", levels)],
    )


def union_join(a: IntoExpr, b: IntoExpr, sep: Optional[str] = None) -> pl.Expr:
    """Row-by-row :func:`union` of two columns (lists, or text with ``sep``).

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"a": ["x,y"], "b": ["z,x"]}).select(crdt.union_join("a", "b", ",")).item()
    'x,y,z'
    """
    args = [_col("union_join", "a", a), _col("union_join", "b", b)]
    if sep is not None:
        args.append(_text_const("union_join", "sep", sep))
    return _scalar("crdt_union_join", "union_join", args)


def concat_join(a: IntoExpr, b: IntoExpr, sep: str = " | ") -> pl.Expr:
    """Row-by-row :func:`concat` of two text columns.

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"a": ["y"], "b": ["x | y"]}).select(crdt.concat_join("a", "b")).item()
    'x | y'
    """
    return _scalar(
        "crdt_concat_join", "concat_join",
        [_col("concat_join", "a", a), _col("concat_join", "b", b), _text_const("concat_join", "sep", sep)],
    )


def state_merge_join(a: IntoExpr, b: IntoExpr) -> pl.Expr:
    """Row-by-row merge of two state-byte columns (NULL is bottom).

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"r": ["n1", "n2"], "c": [4, 6]})
    >>> s = df.group_by("r").agg(s=crdt.gcounter("r", "c")).sort("r")["s"]
    >>> pl.DataFrame({"a": s[:1], "b": s[1:]}).select(crdt.counter_value(crdt.state_merge_join("a", "b"))).item()
    10
    """
    return _scalar("crdt_state_merge", "state_merge_join", [_col("state_merge_join", "a", a), _col("state_merge_join", "b", b)])


# ---------------------------------------------------------------------------------------------
# State readers and clocks


def typeof(state: IntoExpr) -> pl.Expr:
    """The state type of state bytes (``g_counter``, ``pn_counter``, ``lww_register``, ...).

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"r": ["n1"], "c": [1]}).select(crdt.typeof(crdt.gcounter("r", "c"))).item()
    'g_counter'
    """
    return _scalar("crdt_typeof", "typeof", [_col("typeof", "state", state)])


def to_json(state: IntoExpr) -> pl.Expr:
    """State bytes as JSON (the Python library's ``to_dict()``, keys sorted).

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"r": ["n1"], "c": [5]}).select(crdt.to_json(crdt.gcounter("r", "c"))).item()
    '{"counts":{"n1":5},"type":"g_counter"}'
    """
    return _scalar("crdt_to_json", "to_json", [_col("to_json", "state", state)])


def counter_value(state: IntoExpr) -> pl.Expr:
    """The value of a G-Counter or PN-Counter state.

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"r": ["n1"], "c": [5]}).select(crdt.counter_value(crdt.gcounter("r", "c"))).item()
    5
    """
    return _scalar("crdt_counter_value", "counter_value", [_col("counter_value", "state", state)])


def hlc(ms: IntoExpr, counter: IntoExpr) -> pl.Expr:
    """A hybrid logical clock packed into a BIGINT (48 bits of milliseconds, 16 of counter).

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"ms": [1], "c": [2]}).select(crdt.hlc("ms", "c")).item()
    65538
    """
    return _scalar("crdt_hlc", "hlc", [_col("hlc", "ms", ms), _col("hlc", "counter", counter)])


def hlc_ms(h: IntoExpr) -> pl.Expr:
    """The milliseconds of a packed HLC.

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"h": [65538]}).select(crdt.hlc_ms("h")).item()
    1
    """
    return _scalar("crdt_hlc_ms", "hlc_ms", [_col("hlc_ms", "h", h)])


def hlc_counter(h: IntoExpr) -> pl.Expr:
    """The counter of a packed HLC.

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"h": [65538]}).select(crdt.hlc_counter("h")).item()
    2
    """
    return _scalar("crdt_hlc_counter", "hlc_counter", [_col("hlc_counter", "h", h)])



# ---------------------------------------------------------------------------------------------
# Sketches (docs/sketches.md): the same bytes as the SQL engines' crdt_*_agg for the same values.


def _int_const(function: str, argument: str, x: Any) -> pl.Expr:
    if isinstance(x, bool) or not isinstance(x, int):
        raise _err(function, argument, "an integer constant", x)
    return pl.lit(x, dtype=pl.Int64)


def _value(x: Any) -> pl.Expr:
    # A probe value: an expression, or a Python constant (a str is a constant here, not a
    # column name: pass pl.col("c") for a column).
    return x if isinstance(x, pl.Expr) else pl.lit(x)


def hll_agg(value: IntoExpr, precision: int = 14, family: str = "murmur3") -> pl.Expr:
    """HyperLogLog state of the distinct values (SQL ``crdt_hll_agg``).

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"v": [1, 2, 2, 3]})
    >>> df.select(crdt.hll_count(crdt.hll_agg("v"))).item()
    3
    """
    return _aggregate("crdt_hll_agg", "hll_agg", [
        _col("hll_agg", "value", value),
        _int_const("hll_agg", "precision", precision),
        _text_const("hll_agg", "family", family),
    ])


def hll_count(state: IntoExpr) -> pl.Expr:
    """Estimated distinct count of an HLL state (SQL ``crdt_hll_count``)."""
    return _scalar("crdt_hll_count", "hll_count", [_col("hll_count", "state", state)])


def theta_agg(value: IntoExpr, lg_k: int = 12) -> pl.Expr:
    """Theta (KMV) state keeping the 2^lg_k smallest hashes (SQL ``crdt_theta_agg``).

    >>> import polars as pl, polars_crdt as crdt
    >>> pl.DataFrame({"v": ["x", "y", "x"]}).select(crdt.theta_count(crdt.theta_agg("v"))).item()
    2
    """
    return _aggregate("crdt_theta_agg", "theta_agg", [
        _col("theta_agg", "value", value), _int_const("theta_agg", "lg_k", lg_k),
    ])


def theta_count(state: IntoExpr) -> pl.Expr:
    """Estimated distinct count of a Theta state (SQL ``crdt_theta_count``)."""
    return _scalar("crdt_theta_count", "theta_count", [_col("theta_count", "state", state)])


def theta_union(a: IntoExpr, b: IntoExpr) -> pl.Expr:
    """Union of two Theta states (SQL ``crdt_theta_union``)."""
    return _scalar("crdt_theta_union", "theta_union", [_col("theta_union", "a", a), _col("theta_union", "b", b)])


def theta_intersect(a: IntoExpr, b: IntoExpr) -> pl.Expr:
    """Intersection of two Theta states, as a Theta state (SQL ``crdt_theta_intersect``)."""
    return _scalar("crdt_theta_intersect", "theta_intersect", [
        _col("theta_intersect", "a", a), _col("theta_intersect", "b", b),
    ])


def bloom_agg(value: IntoExpr, capacity: int = 10000, fp_rate: float = 0.01) -> pl.Expr:
    """Bloom filter state (SQL ``crdt_bloom_agg``).

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"v": ["a", "b"]})
    >>> df.select(crdt.bloom_contains(crdt.bloom_agg("v"), "b")).item()
    True
    """
    if isinstance(fp_rate, bool) or not isinstance(fp_rate, (int, float)):
        raise _err("bloom_agg", "fp_rate", "a number", fp_rate)
    return _aggregate("crdt_bloom_agg", "bloom_agg", [
        _col("bloom_agg", "value", value),
        _int_const("bloom_agg", "capacity", capacity),
        pl.lit(float(fp_rate), dtype=pl.Float64),
    ])


def bloom_contains(state: IntoExpr, value: Any) -> pl.Expr:
    """Whether a Bloom state may contain ``value`` (SQL ``crdt_bloom_contains``)."""
    return _scalar("crdt_bloom_contains", "bloom_contains", [_col("bloom_contains", "state", state), _value(value)])


def cms_agg(value: IntoExpr, replica: IntoExpr, count: Optional[IntoExpr] = None,
            width: int = 2000, depth: int = 7) -> pl.Expr:
    """Count-Min state, one sketch per replica (SQL ``crdt_cms_agg``).

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"v": ["x", "x", "y"], "r": ["a", "b", "a"]})
    >>> df.select(crdt.cms_estimate(crdt.cms_agg("v", "r"), "x")).item()
    2
    """
    c = pl.lit(1, dtype=pl.Int64) if count is None else _col("cms_agg", "count", count)
    return _aggregate("crdt_cms_agg", "cms_agg", [
        _col("cms_agg", "value", value), _col("cms_agg", "replica", replica), c,
        _int_const("cms_agg", "width", width), _int_const("cms_agg", "depth", depth),
    ])


def cms_estimate(state: IntoExpr, value: Any) -> pl.Expr:
    """Estimated count of ``value`` in a Count-Min state (SQL ``crdt_cms_estimate``)."""
    return _scalar("crdt_cms_estimate", "cms_estimate", [_col("cms_estimate", "state", state), _value(value)])


def minhash_agg(value: IntoExpr, num_perm: int = 128, seed: int = 1) -> pl.Expr:
    """MinHash signature, bit-identical to datasketch's default (SQL ``crdt_minhash_agg``).

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"v": ["a", "b"]})
    >>> df.select(crdt.jaccard(crdt.minhash_agg("v"), crdt.minhash_agg("v"))).item()
    1.0
    """
    return _aggregate("crdt_minhash_agg", "minhash_agg", [
        _col("minhash_agg", "value", value),
        _int_const("minhash_agg", "num_perm", num_perm),
        _int_const("minhash_agg", "seed", seed),
    ])


def jaccard(a: IntoExpr, b: IntoExpr) -> pl.Expr:
    """Estimated Jaccard similarity of two MinHash states (SQL ``crdt_jaccard``)."""
    return _scalar("crdt_jaccard", "jaccard", [_col("jaccard", "a", a), _col("jaccard", "b", b)])


def minhash_bands(state: IntoExpr, b: int, r: int) -> pl.Expr:
    """LSH band hashes of a MinHash state (SQL ``crdt_minhash_bands``)."""
    return _scalar("crdt_minhash_bands", "minhash_bands", [
        _col("minhash_bands", "state", state),
        _int_const("minhash_bands", "b", b), _int_const("minhash_bands", "r", r),
    ])


def hll_to_pg_hll(state: IntoExpr) -> pl.Expr:
    """A ``pg_hll``-family HLL state as postgresql-hll bytes (SQL ``crdt_hll_to_pg_hll``)."""
    return _scalar("crdt_hll_to_pg_hll", "hll_to_pg_hll", [_col("hll_to_pg_hll", "state", state)])


def hll_from_pg_hll(b: IntoExpr) -> pl.Expr:
    """postgresql-hll bytes as an HLL state (SQL ``crdt_hll_from_pg_hll``)."""
    return _scalar("crdt_hll_from_pg_hll", "hll_from_pg_hll", [_col("hll_from_pg_hll", "bytes", b)])


def hll_to_datasketches(state: IntoExpr) -> pl.Expr:
    """A ``murmur3`` HLL state as Apache DataSketches HLL_8 bytes (SQL ``crdt_hll_to_datasketches``)."""
    return _scalar("crdt_hll_to_datasketches", "hll_to_datasketches", [_col("hll_to_datasketches", "state", state)])


def hll_from_datasketches(b: IntoExpr) -> pl.Expr:
    """Apache DataSketches HLL bytes as an HLL state (SQL ``crdt_hll_from_datasketches``)."""
    return _scalar("crdt_hll_from_datasketches", "hll_from_datasketches", [_col("hll_from_datasketches", "bytes", b)])


# ---------------------------------------------------------------------------------------------
# Row ids and table digests (docs/sync.md): the same bytes as crdt_row_id / crdt_table_digest in
# DuckDB, DataFusion and Postgres for the same rows.


def _key(function: str, key: Any) -> pl.Expr:
    # A column name, an expression, or several names: a composite key (a tuple, by position).
    if isinstance(key, (list, tuple)):
        if not key:
            raise _err(function, "key", "a column name, an expression or a list of names", key)
        return pl.struct([_col(function, "key", k) for k in key])
    return _col(function, "key", key)


def _row(function: str, row: Any) -> pl.Expr:
    # The whole row by default (SQL `t`), else a struct expression or a list of column names.
    if row is None:
        return pl.struct(pl.all())
    if isinstance(row, (list, tuple)):
        return pl.struct([_col(function, "row", c) for c in row])
    if isinstance(row, pl.Expr):
        return row
    raise _err(function, "row", "a struct expression, a list of column names or None (the whole row)", row)


def row_id(key: Any, row: Any = None) -> pl.Expr:
    """32-byte id of each row (SQL ``crdt_row_id``); ``row`` defaults to the whole row.

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"k": [1, 2], "name": ["a", None], "_ts": [10, 20]})
    >>> df.select(crdt.row_id("k")).to_series()[0].hex()[:16]
    '8aee7f33ee40c90e'
    """
    return _scalar("crdt_row_id", "row_id", [_key("row_id", key), _row("row_id", row)])


def content_id(key: Any, row: Any = None, metadata: Optional[Sequence[str]] = None) -> pl.Expr:
    """Like :func:`row_id` without the CRDT metadata columns (default ``_ts``, ``_deleted``)."""
    args = [_key("content_id", key), _row("content_id", row)]
    if metadata is not None:
        if isinstance(metadata, str) or not all(isinstance(m, str) for m in metadata):
            raise _err("content_id", "metadata", "a list of column names", metadata)
        args.append(pl.lit(pl.Series("metadata", [list(metadata)], dtype=pl.List(pl.String))))
    return _scalar("crdt_content_id", "content_id", args)


def fingerprint_agg(id: IntoExpr) -> pl.Expr:  # noqa: A002 - the SQL argument's name
    """16-byte negentropy fingerprint of a set of row ids (SQL ``crdt_fingerprint_agg``)."""
    return _aggregate("crdt_fingerprint_agg", "fingerprint_agg", [_col("fingerprint_agg", "id", id)])


def fingerprint_state_agg(id: IntoExpr) -> pl.Expr:  # noqa: A002
    """The 40-byte (sum, count) state of a set of row ids (SQL ``crdt_fingerprint_state_agg``)."""
    return _aggregate("crdt_fingerprint_state_agg", "fingerprint_state_agg",
                      [_col("fingerprint_state_agg", "id", id)])


def table_digest(key: Any, row: Any = None) -> pl.Expr:
    """16-byte digest of a frame's rows, independent of order (SQL ``crdt_table_digest``).

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"k": [1, 2], "name": ["a", None], "_ts": [10, 20]})
    >>> df.select(crdt.table_digest("k")).item().hex()
    '2c8b35dced74f8525d18a468a576bfdb'
    """
    return _aggregate("crdt_table_digest", "table_digest",
                      [_key("table_digest", key), _row("table_digest", row)])


def fingerprint(state: IntoExpr) -> pl.Expr:
    """The 16-byte fingerprint of a 40-byte state (SQL ``crdt_fingerprint``)."""
    return _scalar("crdt_fingerprint", "fingerprint", [_col("fingerprint", "state", state)])


def fingerprint_add(state: IntoExpr, id: IntoExpr) -> pl.Expr:  # noqa: A002
    """Adds an id (or a state) to a fingerprint state (SQL ``crdt_fingerprint_add``)."""
    return _scalar("crdt_fingerprint_add", "fingerprint_add",
                   [_col("fingerprint_add", "state", state), _col("fingerprint_add", "id", id)])


def fingerprint_sub(state: IntoExpr, id: IntoExpr) -> pl.Expr:  # noqa: A002
    """Takes an id (or a state) out of a fingerprint state (SQL ``crdt_fingerprint_sub``)."""
    return _scalar("crdt_fingerprint_sub", "fingerprint_sub",
                   [_col("fingerprint_sub", "state", state), _col("fingerprint_sub", "id", id)])


def sync_key(ts: IntoExpr, id: IntoExpr) -> pl.Expr:  # noqa: A002
    """40-byte range key in negentropy's order (SQL ``crdt_sync_key``)."""
    return _scalar("crdt_sync_key", "sync_key", [_col("sync_key", "ts", ts), _col("sync_key", "id", id)])


def json_merge(a: IntoExpr, b: IntoExpr) -> pl.Expr:
    """Lawful deep merge of two JSON documents (SQL ``crdt_json_merge``): canonical JSON out.

    >>> import polars as pl, polars_crdt as crdt
    >>> df = pl.DataFrame({"a": ['{"t": ["x"], "n": 1}'], "b": ['{"t": ["y", "x"]}']})
    >>> df.select(crdt.json_merge("a", "b")).item()
    '{"n":1,"t":["x","y"]}'
    """
    return _scalar("crdt_json_merge", "json_merge", [_col("json_merge", "a", a), _col("json_merge", "b", b)])


def kernel_version() -> str:
    """The crdt-merge kernel's version (``crdt_version()`` in the SQL engines).

    >>> import polars_crdt as crdt
    >>> crdt.kernel_version() == crdt._internal.kernel_version()
    True
    """
    return _internal.kernel_version()


# ---------------------------------------------------------------------------------------------
# Table merge

Frame = Union[pl.DataFrame, pl.LazyFrame]


def _frames(function: str, frames: Any) -> tuple[list[str], list[Frame]]:
    if isinstance(frames, (pl.DataFrame, pl.LazyFrame)):
        raise _err(function, "frames", "a list (or dict) of at least one DataFrame/LazyFrame", type(frames).__name__)
    if isinstance(frames, Mapping):
        names, items = [str(k) for k in frames.keys()], list(frames.values())
    else:
        try:
            items = list(frames)
        except TypeError:
            raise _err(function, "frames", "a list (or dict) of DataFrames/LazyFrames", frames) from None
        names = [str(i) for i in range(len(items))]
    if not items:
        raise _err(function, "frames", "at least one DataFrame/LazyFrame", "an empty list")
    for n, f in zip(names, items):
        if not isinstance(f, (pl.DataFrame, pl.LazyFrame)):
            raise _err(function, "frames", "DataFrames or LazyFrames", f"{n}: {type(f).__name__}")
    return names, items


def _check_types(function: str, items: list[Frame]) -> None:
    """Stacking frames with Polars' relaxed concat would silently turn, say, an integer column
    and a text column into text; the kernel's widening rules refuse that pair, so ``merge`` does
    too (checked on each input's schema, before the concat)."""
    try:
        _internal.check_types(function, [pl.DataFrame(schema=f.collect_schema()) for f in items])
    except ValueError as e:
        raise pl.exceptions.ComputeError(str(e)) from None


def _run(function: str, names: list[str], items: list[Frame], kwargs: dict) -> Frame:
    lazy = any(isinstance(f, pl.LazyFrame) for f in items)
    parts = [
        f.lazy().with_columns(pl.lit(i, dtype=pl.UInt32).alias(_SOURCE))
        for i, f in enumerate(items)
    ]
    # One plugin call over the whole column: a grouped plugin would run once per key.
    packed = register_plugin_function(
        plugin_path=_LIB,
        function_name="crdt_table_merge",
        args=[pl.struct(pl.all())],
        kwargs={"py": function, "sources": names, "source_column": _SOURCE, **kwargs},
        is_elementwise=False,
        changes_length=True,
    ).alias(_PACKED)
    out = pl.concat(parts, how="diagonal_relaxed").select(packed).unnest(_PACKED)
    return out if lazy else out.collect()


def _pair_plan(keys: list[str], a: pl.DataFrame, b: pl.DataFrame, kwargs: dict) -> Optional[pl.DataFrame]:
    """The join plan for two DataFrames whose keys are unique within each, non-NULL, integer or
    text: both are stacked and sorted by key, so a key's rows (one per side at most) are
    adjacent; each row is paired with the next one when it has the same key, one elementwise
    plugin call merges the pairs (the kernel's ``table::merge_aligned``: the pairwise ``_join`` of
    every column), and the first row of each key is kept. The output is ordered by key as a side
    effect, and no hash join is needed. None when the plan does not apply (a key repeated within
    a side, found after the sort); the whole-column plan then merges, or reports the problem."""
    for f in (a, b):
        for k in keys:
            if k not in f.columns or f[k].null_count() or not (f[k].dtype.is_integer() or f[k].dtype == pl.String):
                return None
    tagged = [f.with_columns(pl.lit(i, dtype=pl.UInt8).alias(_SOURCE)) for i, f in enumerate((a, b))]
    stacked = pl.concat(tagged, how="diagonal_relaxed").sort(keys)
    data = [c for c in stacked.columns if c not in keys and c != _SOURCE]
    if not data:
        return None
    same_next = pl.all_horizontal([pl.col(k) == pl.col(k).shift(-1) for k in keys])
    same_prev = pl.all_horizontal([pl.col(k) == pl.col(k).shift(1) for k in keys])
    # Unique keys per side: a key has at most two rows, from different sides.
    repeated = (same_prev & ((pl.col(_SOURCE) == pl.col(_SOURCE).shift(1)) | same_prev.shift(1))).any()
    if stacked.height > 1 and stacked.select(repeated).item():
        return None
    packed = register_plugin_function(
        plugin_path=_LIB,
        function_name="crdt_aligned_merge",
        args=[
            pl.struct([pl.col(c) for c in data]),
            pl.struct([pl.when(same_next).then(pl.col(c).shift(-1)).alias(c) for c in data]),
        ],
        kwargs=kwargs,
        is_elementwise=True,
    ).alias(_PACKED)
    first = same_prev.not_().fill_null(True)
    return stacked.select(*keys, packed, first.alias(_FIRST)).filter(_FIRST).drop(_FIRST).unnest(_PACKED)


def _strategies_json(strategies: Any) -> Optional[str]:
    if strategies is None:
        return None
    if hasattr(strategies, "to_dict") and callable(strategies.to_dict):
        strategies = strategies.to_dict()  # the Python library's MergeSchema
    if not isinstance(strategies, Mapping):
        raise _err("merge", "strategies", "a dict of column -> strategy, or a MergeSchema", strategies)
    try:
        return json.dumps(dict(strategies))
    except TypeError as e:
        raise _err("merge", "strategies", "strategy names or MergeSchema.to_dict() entries", str(e)) from None


def merge(
    frames: Union[Sequence[Frame], Mapping[str, Frame]],
    key: Union[str, Sequence[str]],
    strategies: Any = None,
    ts: Optional[str] = None,
    replica: Optional[str] = None,
    tombstone: Optional[str] = None,
    provenance: bool = False,
) -> Frame:
    """Merges replicas by ``key``, each column under its strategy; rows ordered by key.

    ``frames`` is a list (names ``"0"``, ``"1"``, ... for provenance) or a dict of name -> frame;
    if any is a LazyFrame the result is a LazyFrame. ``strategies`` maps columns to strategy
    names (``{"name": "lww", "score": "max"}``, the Python library's spellings such as
    ``"MaxWins"``, ``"priority(low,high)"``, ``"union(,)"``) or is a ``MergeSchema`` (or its
    ``to_dict()``). Columns without a strategy merge by LWW on the row clock ``ts`` (default
    ``_ts``), which merges by max; ``replica`` names the tie-break column; ``tombstone`` the
    boolean delete flag (a delete newer than every write hides the row, and is kept in the
    output); ``provenance=True`` adds ``<col>__source`` and ``__conflicts``.

    >>> import polars as pl, polars_crdt as crdt
    >>> a = pl.DataFrame({"id": [1, 2], "name": ["Alice", "Charlie"], "score": [80, 70], "_ts": [1000.0, 1000.0]})
    >>> b = pl.DataFrame({"id": [1, 3], "name": ["Bob", "Diana"], "score": [90, 85], "_ts": [2000.0, 1000.0]})
    >>> crdt.merge([a, b], key="id", strategies={"name": "lww", "score": "max"}).rows()
    [(1, 'Bob', 90, 2000.0), (2, 'Charlie', 70, 1000.0), (3, 'Diana', 85, 1000.0)]
    """
    names, items = _frames("merge", frames)
    if isinstance(key, str):
        keys = [key]
    elif isinstance(key, Sequence) and key and builtins.all(isinstance(k, str) for k in key):
        keys = list(key)
    else:
        raise _err("merge", "key", "a column name or a non-empty list of column names", key)
    for arg, v in (("ts", ts), ("replica", replica), ("tombstone", tombstone)):
        if v is not None and not isinstance(v, str):
            raise _err("merge", arg, "a column name", v)
    if not isinstance(provenance, bool):
        raise _err("merge", "provenance", "True or False", provenance)
    kwargs = {
        "key": keys,
        "strategies": _strategies_json(strategies),
        "ts": ts,
        "replica": replica,
        "tombstone": tombstone,
        "provenance": provenance,
        "mergeql": None,
    }
    _check_types("merge", items)
    if len(items) == 2 and not provenance and builtins.all(isinstance(f, pl.DataFrame) for f in items):
        full = {"py": "merge", "sources": names, "source_column": _SOURCE, **kwargs}
        out = _pair_plan(keys, items[0], items[1], full)
        if out is not None:
            return out
    return _run("merge", names, items, kwargs)


def mergeql(query: str, sources: Mapping[str, Frame]) -> Frame:
    """Runs a MergeQL query (``docs/mergeql.md``) over the frames in ``sources`` (name -> frame).

    ``WHERE`` filters every input before the merge (through Polars SQL); ``LIMIT`` applies after
    ordering by key. Unquoted names fold to lowercase, as in SQL.

    >>> import polars as pl, polars_crdt as crdt
    >>> a = pl.DataFrame({"id": [1, 2], "score": [80, 70], "_ts": [1.0, 1.0]})
    >>> b = pl.DataFrame({"id": [1, 3], "score": [90, 85], "_ts": [2.0, 1.0]})
    >>> q = "MERGE a, b ON id STRATEGY score='max' WHERE score > 75 LIMIT 2"
    >>> crdt.mergeql(q, {"a": a, "b": b}).rows()
    [(1, 90, 2.0), (3, 85, 1.0)]
    """
    if not isinstance(query, str):
        raise _err("mergeql", "query", "a MergeQL string", query)
    if not isinstance(sources, Mapping):
        raise _err("mergeql", "sources", "a dict of source name -> DataFrame/LazyFrame", sources)
    try:
        wanted, where = _internal.parse_mergeql(query)
    except ValueError as e:
        raise pl.exceptions.ComputeError(str(e)) from None
    by_lower = {str(k).lower(): k for k in sources}
    items = []
    for name in wanted:
        k = name if name in sources else by_lower.get(name.lower())
        if k is None:
            raise _err("mergeql", "sources", f"a frame named {name!r} (the query reads it)", sorted(map(str, sources)))
        f = sources[k]
        if not isinstance(f, (pl.DataFrame, pl.LazyFrame)):
            raise _err("mergeql", "sources", "DataFrames or LazyFrames", f"{name}: {type(f).__name__}")
        if where is not None:
            f = f.lazy().sql(f"SELECT * FROM self WHERE {where}")
            if isinstance(sources[k], pl.DataFrame):
                f = f.collect()
        items.append(f)
    _check_types("mergeql", items)
    return _run("mergeql", list(wanted), items, {
        "key": [], "strategies": None, "ts": None, "replica": None, "tombstone": None,
        "provenance": False, "mergeql": query,
    })
