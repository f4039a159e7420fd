"""Every ```python block of docs/python.md and docs/agents.md runs (each in a fresh namespace)."""

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"
BLOCKS = [b for name in ("python.md", "agents.md")
          for b in re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), flags=re.S)]


def test_there_are_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_docs_python_example_runs(code):
    exec(compile(code, "docs", "exec"), {})
