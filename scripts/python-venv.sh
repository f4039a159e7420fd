#!/usr/bin/env bash
# Creates or updates the venv of the Python package crdtmerge (.venv-python, or
# $CRDT_PYTHON_VENV) with pinned packages; idempotent (scripts/venv.sh). Prints its python last.
#
# crdt-merge 0.11.0 is here for the tests that compare with the Python library; ml_dtypes gives
# numpy a bfloat16.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "$root/scripts/venv.sh" "${CRDT_PYTHON_VENV:-$root/.venv-python}" \
    "maturin==1.16.0" \
    "numpy>=1.24" \
    "ml_dtypes>=0.4" \
    "pytest>=7" \
    "crdt-merge==0.11.0"
