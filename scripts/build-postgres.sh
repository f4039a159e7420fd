#!/usr/bin/env bash
# `make postgres`: installs the crdt_merge extension into the local Postgres 15 (the .so into
# pkglibdir, the control and SQL files into sharedir/extension), after scripts/pg-setup.sh.
# Debug build by default; CRDT_PG_RELEASE=1 builds with --release (for benchmarks).
# Prints the pg_config path on the last line of stdout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=env.sh
. "$root/scripts/env.sh"
pg_config="$("$root/scripts/pg-setup.sh" | tail -n1)"

args=(--pg-config "$pg_config")
[[ -n "${CRDT_PG_RELEASE:-}" ]] && args+=(--release)
[[ $(id -u) -ne 0 ]] && args+=(--sudo)
cd "$root/extensions/postgres"
echo "build-postgres: cargo pgrx install ${args[*]}" >&2
cargo pgrx install "${args[@]}" >&2
echo "$pg_config"
