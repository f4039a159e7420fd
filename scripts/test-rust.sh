#!/usr/bin/env bash
# Formatting, lints and every Rust test of the crates that need no Python, Postgres or GPU
# (the kernel and crdt-merge-model).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
echo "== check: kernel depends on no engine"
scripts/check-kernel-deps.sh
echo "== check: cargo fmt"
cargo fmt --all -- --check
echo "== check: cargo clippy -D warnings (kernel, all targets)"
cargo clippy -p crdt-merge-kernel --all-targets -- -D warnings
echo "== test: kernel"
cargo test -p crdt-merge-kernel
echo "== check: cargo clippy -D warnings (crdt-merge-model, all targets)"
cargo clippy -p crdt-merge-model --all-targets -- -D warnings
echo "== test: crdt-merge-model (strategies against mergekit and crdt-merge 0.11.0 fixtures, state laws, safetensors I/O, peak memory)"
cargo test -p crdt-merge-model
echo "== check: cargo clippy -D warnings (crdt-merge-e4, all targets)"
cargo clippy -p crdt-merge-e4 --all-targets -- -D warnings
echo "== test: crdt-merge-e4 (known answers incl. NIST ML-DSA keygen, key validation, PKI, tamper, TrustState laws, gates, decoder mutations, SQL functions, the Byzantine simulator)"
cargo test -p crdt-merge-e4
