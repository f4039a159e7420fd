#!/usr/bin/env python3
"""The seed demo with polars_crdt.merge: two replicas, name by LWW on _ts, score by max.

    .venv-polars/bin/python extensions/polars/examples/seed_demo.py
"""
import polars as pl

import polars_crdt as crdt

a = pl.DataFrame({"id": [1, 2], "name": ["Alice", "Charlie"], "score": [80, 70], "_ts": [1000.0, 1000.0]})
b = pl.DataFrame({"id": [1, 3], "name": ["Bob", "Diana"], "score": [90, 85], "_ts": [2000.0, 1000.0]})

merged = crdt.merge([a, b], key="id", strategies={"name": "lww", "score": "max"})
with pl.Config(tbl_hide_dataframe_shape=True):
    print(merged)
for row in merged.iter_rows():
    print(row)
