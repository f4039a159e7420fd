#!/usr/bin/env bash
# Runs a fuzz target (the wire decoder by default) for a bounded time (outside CI).
#
#   scripts/fuzz.sh [SECONDS] [TARGET]     default 600 s, wire_decode; the model targets are
#   model_safetensors_header, model_index, model_state_manifest and lora_config (adapter_config.json),
#   e4_decode (every E4 decoder),
#   and sketch_import (the
#   postgresql-hll and DataSketches imports; wire_decode covers the sketch frames) (crashers go to
#   tests/golden/crashers/ too; the crate's io_fuzz and state tests replay seeded mutations)
#
# Needs the nightly toolchain; installs cargo-fuzz once. Seeds come from fuzz/corpus/wire_decode
# and tests/golden/*.crdt; new corpus entries go to fuzz/target/corpus (not committed). Any crash,
# timeout or OOM input is copied to tests/golden/crashers/, where the wire_crashers test
# replays it on every `cargo test`. Exits non-zero when the fuzzer found something.
set -euo pipefail

secs="${1:-600}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${2:-wire_decode}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cd "$root/fuzz"
# cargo-fuzz looks for its binaries under fuzz/target; a global target dir would hide them.
unset CARGO_TARGET_DIR
work="target/corpus/$target"
mkdir -p "$work" "artifacts/$target" "corpus/$target" "$root/tests/golden/crashers"
cp "$root"/tests/golden/*.crdt "$work"/ 2>/dev/null || true

status=0
nice -n 10 cargo +nightly fuzz run "$target" --sanitizer none --debug-assertions \
    "$work" "corpus/$target" -- \
    -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    || status=$?

found=0
shopt -s nullglob
for f in "artifacts/$target"/*; do
    cp "$f" "$root/tests/golden/crashers/$target-$(basename "$f")"
    echo "fuzz: finding copied to tests/golden/crashers/$target-$(basename "$f")"
    found=1
done
if [[ $status -ne 0 || $found -ne 0 ]]; then
    echo "fuzz: FAILED (exit $status)"
    exit 1
fi
echo "fuzz: no findings in ${secs}s"
