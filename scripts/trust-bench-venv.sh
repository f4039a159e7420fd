#!/usr/bin/env bash
# The peer of the trust benchmark (Python `cryptography` 50.0.2, OpenSSL's Ed25519 and, where
# the wheel's OpenSSL has it, ML-DSA) in its own venv, .venv-trust-bench, created once. Prints
# the interpreter path on the last line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-trust-bench"
py="$venv/bin/python"
if ! { [[ -x "$py" ]] && "$py" -c 'import cryptography' 2>/dev/null; }; then
    echo "trust-bench-venv: creating $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$py" -m pip install --quiet "cryptography==50.0.2" >&2
fi
echo "$py"
