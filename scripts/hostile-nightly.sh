#!/usr/bin/env bash
# The nightly-sized hostile-input suite (`make bench-hostile`): scripts/test-hostile.sh at
# CRDT_HOSTILE_SCALE=20 (default here): every prefix of every valid state, 40 bit flips and 20
# byte overwrites per state, 400 random frames, every bomb through every bytes function, the
# whole DataFusion matrix (about 12,000 CLI processes), wider files (1,200 and 3,000 columns) and
# more truncated/flipped Parquet files. Takes on the order of an hour on 2 cores. Arguments go
# to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CRDT_HOSTILE_SCALE="${CRDT_HOSTILE_SCALE:-20}"
export CRDT_HOSTILE_RERUN_ALONE="${CRDT_HOSTILE_RERUN_ALONE:-50}"
exec "$root/scripts/test-hostile.sh" "$@"
