#!/usr/bin/env bash
# Builds the crdtmerge wheel with maturin into build/wheels/ (release by default; PROFILE=debug
# for a debug wheel into build/wheels-debug/). Skips the build when a wheel built from the same
# sources is already there (a hash of the package, the model crate and the lock file is kept
# beside it). Prints the wheel's path on the last line of stdout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/env.sh"
profile="${PROFILE:-release}"
case "$profile" in
    release) out="$root/build/wheels"; flags=(--release) ;;
    debug) out="$root/build/wheels-debug"; flags=() ;;
    *) echo "build-python: PROFILE must be release or debug, not '$profile'" >&2; exit 2 ;;
esac
py="$("$root/scripts/python-venv.sh" | tail -n1)"

hash="$(cd "$root" && find extensions/python crates/crdt-merge-model/src crates/crdt-merge-model/Cargo.toml \
            -type f -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum \
        | cat - Cargo.lock Cargo.toml | sha256sum | cut -d' ' -f1)"
stamp="$out/.crdtmerge-sources-$profile"
wheel="$(ls -t "$out"/crdtmerge-*.whl 2>/dev/null | head -n1 || true)"
if [[ -n "$wheel" && -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then
    echo "build-python: $wheel is up to date" >&2
else
    mkdir -p "$out"
    rm -f "$out"/crdtmerge-*.whl "$stamp"
    echo "build-python: maturin build ${flags[*]:-(debug)} -> $out" >&2
    (cd "$root/extensions/python" && "$(dirname "$py")/maturin" build "${flags[@]}" -i "$py" -o "$out" >&2)
    echo "$hash" > "$stamp"
    wheel="$(ls -t "$out"/crdtmerge-*.whl | head -n1)"
fi
echo "$wheel"
