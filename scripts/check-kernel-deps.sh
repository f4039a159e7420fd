#!/usr/bin/env bash
# The kernel must not depend on any engine: fail if one shows up in its dependency tree.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
tree=$(cargo tree -p crdt-merge-kernel -e normal,build --prefix none --format '{p}')
bad=$(printf '%s\n' "$tree" | grep -Ei '^(duckdb|libduckdb-sys|datafusion[a-z_-]*|pgrx[a-z_-]*|pyo3[a-z_-]*|polars[a-z_-]*) ' || true)
if [ -n "$bad" ]; then
  echo "check-kernel-deps: the kernel depends on an engine crate:" >&2
  printf '%s\n' "$bad" | sort -u >&2
  exit 1
fi
echo "check-kernel-deps: ok ($(printf '%s\n' "$tree" | sort -u | wc -l) crates, no engine)"
