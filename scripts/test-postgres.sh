#!/usr/bin/env bash
# Postgres extension tests: installs Postgres 15 + pgrx if missing (pg-setup.sh), builds and
# installs the extension (build-postgres.sh), starts a throwaway cluster in a temp dir on a free
# port as user postgres, runs tests/postgres (pytest + psycopg: the sql/ corpus, registration,
# forced parallel aggregation vs serial, crdt_merge_into concurrency and idempotence, malformed
# input, docs examples), and stops the server even on failure. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pg_config="$("$root/scripts/build-postgres.sh" | tail -n1)"
bindir="$("$pg_config" --bindir)"

py="$("$root/scripts/venv.sh" | tail -n1)"
if ! "$py" -c 'import psycopg' 2>/dev/null; then
    echo "test-postgres: installing psycopg into the venv" >&2
    "$py" -m pip install --quiet 'psycopg[binary]>=3.1,<4' >&2
fi

. "$root/scripts/pg-throwaway.sh"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/crdt-pg.XXXXXX")"
cleanup() {
    pg_throwaway_stop "$bindir" "$tmp"
    rm -rf "$tmp"
}
trap cleanup EXIT

pg_throwaway_start "$bindir" "$tmp" max_parallel_workers_per_gather=2
port="$pg_port"
echo "test-postgres: server on port $port (data in $tmp/data)" >&2

export CRDT_PG_DSN="host=127.0.0.1 port=$port user=postgres dbname=postgres"
cd "$root"
status=0
"$py" -m pytest -q tests/postgres "$@" || status=$?
if grep -q "server process .* was terminated by signal" "$tmp/server.log"; then
    echo "test-postgres: a backend crashed (server log below)" >&2
    cat "$tmp/server.log" >&2
    status=1
fi
exit $status
