#!/usr/bin/env bash
# DuckDB extension tests: builds the extension (release), sets up the venv, runs the pytest suite
# (sql/ corpus, registration, conversion, table merge, laws, 2M-row parallel/spill checks,
# malformed input, docs examples), on the pinned DuckDB and again on the oldest one supported.
# Extra arguments go to pytest (e.g. -k slt).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="$("$root/scripts/venv.sh" | tail -n1)"
export CRDT_DUCKDB_EXT="$("$root/scripts/build-duckdb.sh" | tail -n1)"
cd "$root"
"$py" -m pytest -q tests/duckdb "$@"
# The same file on the oldest DuckDB it supports (docs/duckdb.md: 1.3 to 2.0): the rendered table
# merges use only SQL that 1.3 binds.
oldest="$("$root/scripts/venv.sh" "$root/.venv-duckdb-oldest" "duckdb==1.3.2" "pytest>=7" "hypothesis>=6" "pytz" "blake3==1.0.11" | tail -n1)"
echo "test-duckdb: again on duckdb $("$oldest" -c 'import duckdb; print(duckdb.__version__)')"
exec "$oldest" -m pytest -q tests/duckdb "$@"
