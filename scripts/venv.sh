#!/usr/bin/env bash
# Creates or updates the project venv at .venv (idempotent); `venv.sh DIR PIN...` does the same
# for another venv with its own pins (scripts/polars-venv.sh).
#
# Skips pip entirely when every pinned requirement is already satisfied, so `make demo` and the test
# scripts can call it on every run. Prints the venv's python path on the last line of stdout.
# Other engineers: add packages to REQUIREMENTS below (one pin per entry).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CRDT_VENV:-$root/.venv}"
REQUIREMENTS=(
    "duckdb==2.0.1"
    "pytest>=7"
    "hypothesis>=6"
    "blake3==1.0.11"
)
if (($# > 0)); then
    venv="$1"
    shift
    REQUIREMENTS=("$@")
fi
py="$venv/bin/python"

if [[ ! -x "$py" ]]; then
    echo "venv: creating $venv" >&2
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
    echo "venv: requirements satisfied in $venv" >&2
else
    echo "venv: installing ${REQUIREMENTS[*]} into $venv" >&2
    "$py" -m pip install --quiet "${REQUIREMENTS[@]}" >&2
fi
echo "$py"
