#!/usr/bin/env bash
# Interop tests against the real Python crdt-merge 0.11.0 from PyPI.
#
# Creates (once) a private venv at .venv-interop, then runs tests/interop/ with pytest. The pytest
# suite drives the Rust side through `cargo run --example wire_tool -p crdt-merge-kernel`.
# Needs network access to PyPI the first time only. Not part of `cargo test`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-interop"
py="$venv/bin/python"

if [[ -x "$py" ]] && "$py" - <<'PY' 2>/dev/null
import importlib.metadata as m, sys
import crdt_merge, datasketch, datasketches, pytest  # noqa: F401  (all must import, not just be listed)
sys.exit(0 if m.version("crdt-merge") == "0.11.0" else 1)
PY
then
    echo "interop: using existing $venv"
else
    echo "interop: creating $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$py" -m pip install --quiet --upgrade pip
    "$py" -m pip install --quiet "crdt-merge==0.11.0" "datasketch==2.0.0" "datasketches==5.2.0" "pytest>=7"
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
# Build the tool once up front so each pytest case only runs it.
(cd "$root" && cargo build --quiet --example wire_tool -p crdt-merge-kernel)
export WIRE_TOOL="$CARGO_TARGET_DIR/debug/examples/wire_tool"

cd "$root"
exec "$py" -m pytest -q -p no:cacheprovider tests/interop "$@"
