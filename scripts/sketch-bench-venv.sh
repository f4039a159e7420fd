#!/usr/bin/env bash
# The peers of the sketch benchmark (crdt-merge 0.11.0, datasketch 2.0.0) in their own venv,
# .venv-sketch-bench, created once. Prints the interpreter path on the last line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-sketch-bench"
py="$venv/bin/python"
if ! { [[ -x "$py" ]] && "$py" -c 'import crdt_merge, datasketch' 2>/dev/null; }; then
    echo "sketch-bench-venv: creating $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$py" -m pip install --quiet "crdt-merge==0.11.0" "datasketch==2.0.0" >&2
fi
echo "$py"
