#!/usr/bin/env bash
# Builds the polars-crdt wheel with maturin into build/wheels/ (release by default; PROFILE=debug
# for a debug wheel into build/wheels-debug/). Skips the build when a wheel built from the same
# sources is already there (a hash of the plugin, the kernel and the lock file is kept beside it).
# Prints the wheel's path on the last line of stdout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/env.sh"
profile="${PROFILE:-release}"
case "$profile" in
    release) out="$root/build/wheels"; flags=(--release) ;;
    debug) out="$root/build/wheels-debug"; flags=() ;;
    *) echo "build-polars: PROFILE must be release or debug, not '$profile'" >&2; exit 2 ;;
esac
py="$("$root/scripts/polars-venv.sh" | tail -n1)"

hash="$(cd "$root" && find extensions/polars crates/crdt-merge-kernel/src crates/crdt-merge-kernel/Cargo.toml \
            -type f -not -path '*/__pycache__/*' -not -path 'extensions/polars/examples/*' -print0 | sort -z | xargs -0 sha256sum \
        | cat - Cargo.lock Cargo.toml | sha256sum | cut -d' ' -f1)"
stamp="$out/.sources-$profile"
wheel="$(ls -t "$out"/polars_crdt-*.whl 2>/dev/null | head -n1 || true)"
if [[ -n "$wheel" && -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then
    echo "build-polars: $wheel is up to date" >&2
else
    mkdir -p "$out"
    rm -f "$out"/polars_crdt-*.whl "$stamp"
    echo "build-polars: maturin build ${flags[*]:-(debug)} -> $out" >&2
    (cd "$root/extensions/polars" && "$(dirname "$py")/maturin" build "${flags[@]}" -i "$py" -o "$out" >&2)
    echo "$hash" > "$stamp"
    wheel="$(ls -t "$out"/polars_crdt-*.whl | head -n1)"
fi
echo "$wheel"
