#!/usr/bin/env bash
# Creates or updates the Polars venv (.venv-polars, or $CRDT_POLARS_VENV) with pinned packages;
# idempotent: pip runs only when a pin is not yet satisfied. Prints the venv's python last.
#
# crdt-merge 0.11.0 and pyarrow are here for the interop tests and the benchmark (the Python
# library's merge() and ArrowMerge); duckdb loads the sql/ corpus tables.
# CRDT_POLARS_PIN=polars==2.0.0 CRDT_POLARS_VENV=.venv-polars-2.0 scripts/test-polars.sh tests the
# lowest supported Polars (the wheel declares polars>=2.0,<2.2).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CRDT_POLARS_VENV:-$root/.venv-polars}"
py="$venv/bin/python"

REQUIREMENTS=(
    "${CRDT_POLARS_PIN:-polars==2.1.0}"
    "maturin==1.16.0"
    "pytest>=7"
    "hypothesis>=6"
    "duckdb==2.0.1"
    "crdt-merge==0.11.0"
    "pyarrow>=14"
)

if [[ ! -x "$py" ]]; then
    echo "polars-venv: creating $venv" >&2
    python3 -m venv "$venv"
fi

if "$py" - "${REQUIREMENTS[@]}" <<'PY' 2>/dev/null
import sys
from importlib import metadata
try:
    from packaging.requirements import Requirement
except ImportError:  # pip vendors packaging
    from pip._vendor.packaging.requirements import Requirement
for spec in sys.argv[1:]:
    req = Requirement(spec)
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        sys.exit(1)
    if version not in req.specifier:
        sys.exit(1)
PY
then
    echo "polars-venv: requirements satisfied in $venv" >&2
else
    echo "polars-venv: installing ${REQUIREMENTS[*]} into $venv" >&2
    "$py" -m pip install --quiet "${REQUIREMENTS[@]}" >&2
fi
echo "$py"
