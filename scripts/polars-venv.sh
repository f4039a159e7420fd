#!/usr/bin/env bash
# Creates or updates the Polars venv (.venv-polars, or $CRDT_POLARS_VENV) with pinned packages;
# idempotent: pip runs only when a pin is not yet satisfied (scripts/venv.sh). Prints the venv's
# python last.
#
# crdt-merge 0.11.0 and pyarrow are here for the interop tests and the benchmark (the Python
# library's merge() and ArrowMerge); duckdb loads the sql/ corpus tables.
# CRDT_POLARS_PIN=polars==2.0.0 CRDT_POLARS_VENV=.venv-polars-2.0 scripts/test-polars.sh tests the
# lowest supported Polars (the wheel declares polars>=2.0,<2.2).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "$root/scripts/venv.sh" "${CRDT_POLARS_VENV:-$root/.venv-polars}" \
    "${CRDT_POLARS_PIN:-polars==2.1.0}" \
    "maturin==1.16.0" \
    "pytest>=7" \
    "hypothesis>=6" \
    "duckdb==2.0.1" \
    "crdt-merge==0.11.0" \
    "pyarrow>=14"
