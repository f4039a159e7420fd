#!/usr/bin/env bash
# The hostile-input suite (tests/hostile, README "Hostile-input suite"): every catalogue function
# in DuckDB, Postgres and DataFusion against a generated matrix of wrong types, NULLs, extreme
# values and malformed, truncated and amplifying state bytes, each call in a child process under
# a memory limit and a timeout; and the crdt-merge CLI on malformed CSV/Parquet/JSON, wide files
# and malformed state files. Builds what it needs (DuckDB extension, Postgres extension,
# crdt-merge debug binary), starts a throwaway Postgres whose postmaster (and so every backend)
# runs under a soft RLIMIT_AS, and stops it on exit. Extra arguments go to pytest.
#
# Knobs: CRDT_HOSTILE_SCALE (default 1, the make-test size; scripts/hostile-nightly.sh uses 20),
# CRDT_HOSTILE_ENGINES (default "duckdb postgres datafusion cli"), CRDT_HOSTILE_MEM_MB (2048, the
# DuckDB/CLI child limit), CRDT_HOSTILE_PG_MEM_MB (3072, the Postgres backend limit).
# Reports: build/hostile/<engine>.json (every failing case with its SQL and what happened).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/env.sh"
engines="${CRDT_HOSTILE_ENGINES:-duckdb postgres datafusion cli}"
export CRDT_HOSTILE_ENGINES="$engines"
start_s=$SECONDS

py="$("$root/scripts/venv.sh" | tail -n1)"
if ! "$py" -c 'import psycopg' 2>/dev/null; then
    echo "test-hostile: installing psycopg into the venv" >&2
    "$py" -m pip install --quiet 'psycopg[binary]>=3.1,<4' >&2
fi
mkdir -p "$root/build/hostile/bin"

if [[ " $engines " == *" duckdb "* ]]; then
    export CRDT_DUCKDB_EXT="$("$root/scripts/build-duckdb.sh" | tail -n1)"
fi
if [[ " $engines " == *" datafusion "* || " $engines " == *" cli "* ]]; then
    echo "test-hostile: cargo build -p crdt-merge-cli (debug)" >&2
    (cd "$root" && cargo build -q -p crdt-merge-cli >&2)
    # A hard link keeps this build's binary even if another checkout sharing CARGO_TARGET_DIR
    # rebuilds it while the suite runs.
    ln -f "$CARGO_TARGET_DIR/debug/crdt-merge" "$root/build/hostile/bin/crdt-merge"
    export CRDT_MERGE_BIN="$root/build/hostile/bin/crdt-merge"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/crdt-hostile.XXXXXX")"
bindir=""
. "$root/scripts/pg-throwaway.sh"
cleanup() {
    pg_throwaway_stop "$bindir" "$tmp"
    rm -rf "$tmp"
}
trap cleanup EXIT

if [[ " $engines " == *" postgres "* ]]; then
    # Installed last: the extension install is global to the machine.
    pg_config="$("$root/scripts/build-postgres.sh" | tail -n1)"
    bindir="$("$pg_config" --bindir)"
    pg_throwaway_start "$bindir" "$tmp"
    port="$pg_port"
    # Every backend is forked from the postmaster and inherits its limits: a soft RLIMIT_AS on
    # the postmaster limits each backend (a client cannot limit its backend otherwise). Set
    # with prlimit once the server runs (runuser does not pass a shell's ulimit through).
    pg_mem_mb="${CRDT_HOSTILE_PG_MEM_MB:-3072}"
    pm_pid="$(head -n1 "$tmp/data/postmaster.pid")"
    as_postgres prlimit --pid "$pm_pid" --as=$((pg_mem_mb * 1024 * 1024)):unlimited
    soft="$(awk '/Max address space/ {print $4}' "/proc/$pm_pid/limits")"
    if [[ "$soft" != "$((pg_mem_mb * 1024 * 1024))" ]]; then
        echo "test-hostile: could not limit the postmaster's address space (soft limit: $soft)" >&2
        exit 1
    fi
    echo "test-hostile: Postgres on port $port, each backend limited to $pg_mem_mb MiB of address space" >&2
    export CRDT_PG_DSN="host=127.0.0.1 port=$port user=postgres dbname=postgres"
    export CRDT_PG_LOG="$tmp/server.log"
fi

cd "$root"
status=0
"$py" -m pytest -q -p no:cacheprovider tests/hostile "$@" || status=$?
if [[ -n "$bindir" ]] && grep -q "terminated by signal" "$tmp/server.log"; then
    echo "test-hostile: a Postgres backend crashed (server log lines below)" >&2
    grep -A2 "terminated by signal" "$tmp/server.log" | cut -c1-400 >&2
    status=1
fi
echo "test-hostile: reports in build/hostile/*.json ($((SECONDS - start_s)) s)" >&2
exit $status
