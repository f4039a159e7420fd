#!/usr/bin/env bash
# Installs what the Postgres extension needs, idempotently (recipes.md §4):
#   - Debian packages postgresql (15), postgresql-15-hll (the interop tests union with its `hll`
#     type), postgresql-server-dev-all, libclang-dev, clang, sudo
#     (apt-get update runs only when one of them is missing);
#   - cargo-pgrx 0.18.1 (the last pgrx that builds on Rust 1.95), only if not already that version;
#   - `cargo pgrx init --pg15` against the Debian server, only if ~/.pgrx/config.toml lacks pg15.
# Prints the pg_config path on the last line of stdout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=env.sh
. "$root/scripts/env.sh"

PG_MAJOR="${PG_MAJOR:-15}"
pg_config="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"

missing=()
for pkg in "postgresql-$PG_MAJOR" "postgresql-$PG_MAJOR-hll" postgresql-server-dev-all libclang-dev clang sudo; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    echo "pg-setup: installing ${missing[*]}" >&2
    if [[ $(id -u) -eq 0 ]]; then sudo_cmd=(); else sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >&2
else
    echo "pg-setup: Debian packages present" >&2
fi
[[ -x "$pg_config" ]] || { echo "pg-setup: $pg_config not found after install" >&2; exit 1; }

if [[ "$(cargo pgrx --version 2>/dev/null || true)" != *" 0.18.1" ]]; then
    echo "pg-setup: installing cargo-pgrx 0.18.1 (about 5 min on 2 cores)" >&2
    cargo install cargo-pgrx --version 0.18.1 --locked >&2
else
    echo "pg-setup: cargo-pgrx 0.18.1 present" >&2
fi

pgrx_home="${PGRX_HOME:-$HOME/.pgrx}"
if ! grep -q "^pg$PG_MAJOR *=" "$pgrx_home/config.toml" 2>/dev/null; then
    echo "pg-setup: cargo pgrx init --pg$PG_MAJOR $pg_config" >&2
    cargo pgrx init "--pg$PG_MAJOR" "$pg_config" >&2
else
    echo "pg-setup: ~/.pgrx knows pg$PG_MAJOR" >&2
fi
echo "$pg_config"
