#!/usr/bin/env bash
# DataFusion UDFs (extensions/datafusion) and the crdt-merge command line (crates/crdt-merge-cli):
# the sql/ corpus on 1 and 4 partitions, partial states across contexts, table merges, the CLI on
# real files, and the examples of docs/datafusion.md and docs/cli.md. Debug build only: a release
# build of DataFusion takes about 22 minutes on 2 cores (recipes.md §7).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
# crdt-merge digest/sync open DuckDB files through the Python duckdb package (docs/sync.md); the
# project venv has one.
export CRDT_MERGE_PYTHON="${CRDT_MERGE_PYTHON:-$(scripts/venv.sh | tail -n1)}"
echo "== test: crdt-merge-datafusion, crdt-merge-cli (debug)"
cargo test -p crdt-merge-datafusion -p crdt-merge-cli
