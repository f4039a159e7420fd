# Entry points (stable: tests outside this repo call them). Each target installs what it needs,
# idempotently, through scripts/.
SHELL := /bin/bash
# One cargo target dir outside the clone, kept between runs (scripts/env.sh says why).
export CARGO_TARGET_DIR ?= $(HOME)/.cache/crdt-target
.SHELLFLAGS := -euo pipefail -c
.PHONY: demo test test-rust test-duckdb test-interop duckdb polars postgres dbt bench docs

## The main job: the seed demo merge in embedded DuckDB, then a 1M-row merge with its rows/s.
demo:
	scripts/demo.sh

## Every test (what .ci/run calls).
test: test-rust test-duckdb test-interop
	@echo "make test: all suites passed"

test-rust:
	scripts/test-rust.sh

test-duckdb:
	scripts/test-duckdb.sh

test-interop:
	scripts/interop.sh

## build/crdt_merge.duckdb_extension (release).
duckdb:
	scripts/build-duckdb.sh

polars postgres dbt:
	@echo "make $@: the $@ host is not built yet (see the README's host table)" >&2; exit 2

## Benchmarks; results go to benches/results/.
bench:
	. scripts/env.sh && cargo bench -p crdt-merge-kernel --bench kernel_throughput
	scripts/bench-duckdb.sh

## Regenerate docs/sql-functions.md from the catalogue.
docs:
	. scripts/env.sh && UPDATE_DOCS=1 cargo test -p crdt-merge-kernel --lib catalogue
