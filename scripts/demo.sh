#!/usr/bin/env bash
# `make demo`: sets up the venv (idempotent), builds the DuckDB extension, runs the demo.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="$("$root/scripts/venv.sh" | tail -n1)"
ext="$("$root/scripts/build-duckdb.sh" | tail -n1)"
exec "$py" "$root/scripts/demo.py" "$ext" "$@"
