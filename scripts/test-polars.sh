#!/usr/bin/env bash
# Polars plugin tests: builds a debug wheel (recipes.md §8: about half the release build time),
# installs it into .venv-polars when it changed, and runs tests/polars with pytest.
# Arguments go to pytest.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/env.sh"
py="$("$root/scripts/polars-venv.sh" | tail -n1)"
wheel="$(PROFILE="${PROFILE:-debug}" "$root/scripts/build-polars.sh" | tail -n1)"

installed="$(dirname "$py")/../.polars-crdt-wheel"
if [[ ! -f "$installed" || "$(cat "$installed")" != "$(sha256sum "$wheel")" ]]; then
    echo "test-polars: installing $wheel" >&2
    "$py" -m pip install --quiet --force-reinstall --no-deps "$wheel" >&2
    sha256sum "$wheel" > "$installed"
fi

cd "$root"
exec "$py" -m pytest -q -p no:cacheprovider tests/polars "$@"
