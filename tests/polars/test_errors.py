"""Errors are Polars exceptions naming function, argument and expectation; no panic reaches Python."""
import subprocess
import sys

import polars as pl
import pytest

import polars_crdt as crdt

DF = pl.DataFrame({"v": ["a", "b"], "ts": [1, 2], "n": [1, 2], "b": [b"\x00", b"CRDT"]})


@pytest.mark.parametrize(
    "expr, needle",
    [
        (crdt.priority("v", ["a", "a"]), r"polars_crdt\.priority: .*levels"),
        (crdt.priority("n", ["x", "y"]), r"polars_crdt\.priority: .*levels"),
        (crdt.typeof("b"), r"polars_crdt\.typeof: .*decode state bytes at byte offset"),
        (crdt.to_json("v"), r"polars_crdt\.to_json: argument `state`: expected type bytes"),
        (crdt.gcounter("v", "v"), r"polars_crdt\.gcounter: .*`count`"),
        (crdt.gcounter("v", -pl.col("n")), r"polars_crdt\.gcounter: .*negative"),
        (crdt.hlc("n", pl.lit(70000)), r"polars_crdt\.hlc: .*counter"),
        (crdt.max_join("v", "n"), r"polars_crdt\.max_join: argument `argument 2`: expected type Utf8View"),
    ],
)
def test_kernel_errors_name_function_and_argument(expr, needle):
    with pytest.raises(pl.exceptions.PolarsError, match=needle):
        DF.select(expr)


@pytest.mark.parametrize(
    "call, needle",
    [
        (lambda: crdt.lww(3, "ts"), r"polars_crdt\.lww: argument `value`: expected an expression or a column name"),
        (lambda: crdt.concat("v", sep=1), r"polars_crdt\.concat: argument `sep`: expected a string constant"),
        (lambda: crdt.priority("v", "abc"), r"polars_crdt\.priority: argument `levels`: expected a list"),
        (lambda: crdt.lww_join("a", "t", "b", "t", replica1="r"), r"polars_crdt\.lww_join: argument `replica2`"),
        (lambda: crdt.merge(DF, key="v"), r"polars_crdt\.merge: argument `frames`: expected a list"),
        (lambda: crdt.merge([], key="v"), r"polars_crdt\.merge: argument `frames`: expected at least one"),
        (lambda: crdt.merge([DF], key=[]), r"polars_crdt\.merge: argument `key`"),
        (lambda: crdt.merge([DF], key="v", strategies=["x"]), r"polars_crdt\.merge: argument `strategies`"),
        (lambda: crdt.merge([DF], key="v", ts="ts", strategies={"n": "newest"}), r"valid strategies are"),
        (lambda: crdt.merge([DF], key="v", ts="nope"), r"polars_crdt\.merge: .*nope"),
        (lambda: crdt.merge([DF], key="v", ts="ts", strategies={"v": "max"}), r"polars_crdt\.merge: .*`v`"),
    ],
)
def test_python_side_errors(call, needle):
    with pytest.raises(pl.exceptions.PolarsError, match=needle):
        out = call()
        if isinstance(out, pl.LazyFrame):
            out.collect()


def test_errors_in_lazy_plans_surface_at_collect():
    lf = crdt.merge([DF.lazy()], key="v", ts="ts", strategies={"n": "priority(1,1)"})
    with pytest.raises(pl.exceptions.PolarsError, match=r"polars_crdt\.merge"):
        lf.collect()


def test_no_bare_panic_message_for_garbage_state_bytes():
    garbage = pl.DataFrame({"s": [bytes(range(256)) * 4, b"CRDT\x00\x01\x01\x00\xff\xff\xff\xff"]})
    for expr in (crdt.to_json("s"), crdt.state_merge("s"), crdt.state_merge_join("s", "s"), crdt.counter_value("s")):
        with pytest.raises(pl.exceptions.PolarsError) as e:
            garbage.select(expr)
        assert "PANIC" not in str(e.value) and "polars_crdt." in str(e.value)


def test_unsupported_polars_version_is_a_clear_import_error():
    with pytest.raises(ImportError, match=r"polars_crdt needs polars >=2\.0,<2\.2 .* found polars 1\.40\.1"):
        crdt._check_polars_version("1.40.1")
    with pytest.raises(ImportError, match=r"found polars 2\.2\.0"):
        crdt._check_polars_version("2.2.0")
    crdt._check_polars_version("2.0.0")
    # The same check runs at import: fake an old polars in a fresh interpreter.
    code = "import polars; polars.__version__ = '1.0.0'; import polars_crdt"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 1 and "ImportError: polars_crdt needs polars >=2.0,<2.2" in r.stderr, r.stderr


def test_wheel_metadata_declares_the_polars_range():
    from importlib.metadata import requires

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    reqs = [Requirement(r) for r in requires("polars-crdt")]
    assert [r.specifier for r in reqs if r.name == "polars"] == [SpecifierSet(">=2.0,<2.2")]
