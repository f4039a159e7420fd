#!/usr/bin/env bash
# The heavy venv for `make bench-model` only (never `make test`): mergekit 0.1.5 with torch
# (the PyPI build is the CUDA one, about 6 GB installed; it runs on CPU), and crdt-merge 0.11.0.
# Idempotent. Prints the venv's python on the last line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CRDT_MODEL_BENCH_VENV:-$root/.venv-model-bench}"
py="$("$root/scripts/venv.sh" "$venv" "torch==2.15.0" "numpy" "safetensors" "pydantic" \
    "transformers>=5,<6" "accelerate" "peft>=0.18" "scipy" "sentencepiece" "protobuf" "click" \
    "immutables" "tqdm" "huggingface_hub" "datasets" "tokenizers" | tail -n1)"
if ! "$py" -c "import mergekit, crdt_merge" 2>/dev/null; then
    "$py" -m pip install -q --no-deps "mergekit==0.1.5" "crdt-merge==0.11.0"
fi
echo "$py"
