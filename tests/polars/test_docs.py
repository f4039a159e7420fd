"""Docstring examples and docs/polars.md examples run (doctest)."""
import doctest

import pytest

import polars_crdt
from conftest import ROOT


def test_docstrings():
    result = doctest.testmod(polars_crdt, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 40, result
    assert result.failed == 0, result


def test_docs_polars_md():
    path = ROOT / "docs" / "polars.md"
    result = doctest.testfile(str(path), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10, result
    assert result.failed == 0, result
