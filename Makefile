# Entry points (stable: tests outside this repo call them). Each target installs what it needs,
# idempotently, through scripts/.
SHELL := /bin/bash
# One cargo target dir outside the clone, kept between runs (scripts/env.sh says why).
export CARGO_TARGET_DIR ?= $(HOME)/.cache/crdt-target
.SHELLFLAGS := -euo pipefail -c
.PHONY: python test-python bench-sketches bench-sync bench-trust demo test test-rust test-duckdb test-interop test-datafusion test-postgres test-hostile test-polars test-dbt duckdb polars postgres dbt bench bench-model bench-hostile docs

## The main job: the seed demo merge in embedded DuckDB, then a 1M-row merge with its rows/s.
demo:
	scripts/demo.sh

## Every test (what .ci/run calls). Lightest first, so a broken kernel fails fast.
test: test-rust test-duckdb test-interop test-datafusion test-postgres test-hostile test-polars test-python test-dbt
	@echo "make test: all suites passed"

test-rust:
	scripts/test-rust.sh

test-duckdb:
	scripts/test-duckdb.sh

test-interop:
	scripts/interop.sh

test-datafusion:
	scripts/test-datafusion.sh

test-postgres:
	scripts/test-postgres.sh

## Hostile input (README "Hostile-input suite"): every catalogue function in DuckDB, Postgres and
## DataFusion, and the CLI, on a generated matrix of malformed input; a few minutes.
test-hostile:
	scripts/test-hostile.sh

## build/crdt_merge.duckdb_extension (release).
duckdb:
	scripts/build-duckdb.sh

## Installs the crdt_merge extension into the local Postgres 15 (installing Postgres and pgrx if missing).
postgres:
	scripts/build-postgres.sh

## build/wheels/polars_crdt-*.whl (release wheel of the Polars plugin).
polars:
	scripts/build-polars.sh

test-polars:
	scripts/test-polars.sh

## build/wheels/crdtmerge-*.whl (release wheel of the Python package crdtmerge).
python:
	scripts/build-python.sh

test-python:
	scripts/test-python.sh

## Both dbt integration projects: dbt-duckdb on the built extension, dbt-postgres on the local server.
dbt test-dbt:
	scripts/test-dbt.sh

## Benchmarks; results go to benches/results/.
bench:
	. scripts/env.sh && cargo bench -p crdt-merge-kernel --bench kernel_throughput
	scripts/build-duckdb.sh >/dev/null && "$$(scripts/venv.sh | tail -n1)" benches/duckdb/bench.py --python-lib "$$(scripts/polars-venv.sh | tail -n1)"
	scripts/build-polars.sh >/dev/null && .venv-polars/bin/pip install -q --force-reinstall --no-deps build/wheels/polars_crdt-*.whl && rm -f .venv-polars/.polars-crdt-wheel && .venv-polars/bin/python benches/polars/bench.py

## Model merging: base + 3 synthetic 1B-parameter bf16 models; ours, mergekit 0.1.5, crdt-merge
## 0.11.0 and the I/O floor (benches/results/model.md). Installs the heavy mergekit venv (~6 GB).
bench-model:
	. scripts/env.sh && cargo build --release -p crdt-merge-model --example model_merge
	"$$(scripts/model-bench-venv.sh | tail -n1)" benches/model/bench.py

## Sketches: crdt_hll_agg vs approx_count_distinct / count(DISTINCT), update rates, the Python
## crdt-merge and datasketch peers (benches/results/sketches.md).
bench-sketches:
	scripts/build-duckdb.sh >/dev/null && "$$(scripts/venv.sh | tail -n1)" benches/sketches/bench.py --peer-python "$$(scripts/sketch-bench-venv.sh | tail -n1)"

## crdt-merge sync between two 1M-row DuckDB files (release CLI): benches/results/sync.md.
bench-sync:
	scripts/build-duckdb.sh >/dev/null && . scripts/env.sh && cargo build --release -p crdt-merge-cli && "$$(scripts/venv.sh | tail -n1)" benches/sync/bench.py --binary "$$CARGO_TARGET_DIR/release/crdt-merge"

## E4 trust: sign/verify rates (vs Python cryptography), the table gate's cost, detection rounds
## over 1,000 seeds and n = 256 (benches/results/trust.md; about 10 minutes).
bench-trust:
	. scripts/env.sh && cargo build --release -p crdt-merge-e4 --example trust_bench
	"$$(scripts/trust-bench-venv.sh | tail -n1)" benches/trust/bench.py --binary "$$CARGO_TARGET_DIR/release/examples/trust_bench" --peer-python "$$(scripts/trust-bench-venv.sh | tail -n1)"

## The nightly-sized hostile-input suite (CRDT_HOSTILE_SCALE=20; about an hour).
bench-hostile:
	scripts/hostile-nightly.sh

## Regenerate docs/sql-functions.md from the catalogue.
docs:
	. scripts/env.sh && UPDATE_DOCS=1 cargo test -p crdt-merge-kernel --lib catalogue
