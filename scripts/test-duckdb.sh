#!/usr/bin/env bash
# DuckDB extension tests: builds the extension (release), sets up the venv, runs the pytest suite
# (sql/ corpus, registration, conversion, table merge, laws, 2M-row parallel/spill checks,
# malformed input, docs examples). Extra arguments go to pytest (e.g. -k slt).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="$("$root/scripts/venv.sh" | tail -n1)"
export CRDT_DUCKDB_EXT="$("$root/scripts/build-duckdb.sh" | tail -n1)"
cd "$root"
exec "$py" -m pytest -q tests/duckdb "$@"
