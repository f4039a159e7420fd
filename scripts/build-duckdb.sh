#!/usr/bin/env bash
# Builds the DuckDB extension in release mode and writes build/crdt_merge.duckdb_extension.
#
# Only libduckdb-sys (with the loadable-extension feature) and the kernel are compiled; DuckDB
# itself is not. The footer says: ABI C_STRUCT, minimum C API v1.2.0, platform linux_amd64, so the
# one file loads in DuckDB 1.3 to 2.0 (recipes.md §1). Prints the output path on the last line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crdt-target}"
platform="${DUCKDB_PLATFORM:-linux_amd64}"

cd "$root"
cargo build --release -p crdt-merge-duckdb >&2
lib="$CARGO_TARGET_DIR/release/libcrdt_merge_duckdb.so"
[[ -f "$lib" ]] || { echo "build-duckdb: $lib was not built" >&2; exit 1; }
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
mkdir -p build
python3 scripts/duckdb_footer.py "$lib" build/crdt_merge.duckdb_extension \
    --platform "$platform" --version v1.2.0 --abi C_STRUCT --ext-version "${version:-0.1.0}"
echo "$root/build/crdt_merge.duckdb_extension"
