#!/usr/bin/env bash
# Tests of the Python package crdtmerge: builds a debug wheel, installs it into .venv-python when
# it changed, and runs tests/python with pytest (docs/python.md's examples included). Arguments
# go to pytest.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/env.sh"
py="$("$root/scripts/python-venv.sh" | tail -n1)"
wheel="$(PROFILE="${PROFILE:-debug}" "$root/scripts/build-python.sh" | tail -n1)"

installed="$(dirname "$py")/../.crdtmerge-wheel"
if [[ ! -f "$installed" || "$(cat "$installed")" != "$(sha256sum "$wheel")" ]]; then
    echo "test-python: installing $wheel" >&2
    "$py" -m pip install --quiet --force-reinstall --no-deps "$wheel" >&2
    sha256sum "$wheel" > "$installed"
fi

cd "$root"
exec "$py" -m pytest -q -p no:cacheprovider tests/python "$@"
