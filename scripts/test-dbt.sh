#!/usr/bin/env bash
# `make dbt`: the dbt package (dbt/) against both engines. Idempotent; fails on any failure.
#
#   1. .venv-dbt: dbt-core 1.11 (1.12 cannot be installed here), dbt-duckdb, dbt-postgres.
#   2. The DuckDB extension (scripts/build-duckdb.sh) and the Postgres extension
#      (scripts/build-postgres.sh, which installs Postgres 15 and pgrx when missing).
#   3. A throwaway Postgres cluster (temp dir, free port, stopped on exit) with a login role and a
#      database owned by it, the extension created there by the superuser.
#   4. On each target (duck, pg) in dbt/integration_tests: seeds; the incremental models fed batch
#      1, 2, 3 (forward) and 3, 2, 1 (reverse), one `dbt run` per step; `dbt test` (each model
#      equals its *_expected seed, forward equals reverse, crdt_converged); re-runs of batches 3
#      and 1, then `dbt test` again (a re-run must change nothing); the tests are shown to fail on
#      a corrupted expected seed and a corrupted model; the bad-configuration models must fail at
#      compile time with a message saying what to change; the package's strategy list must equal
#      the engine's.
# Set CRDT_DBT_TARGETS="duck" or "pg" to run one target only; CRDT_DBT_NO_BUILD=1 uses the
# extensions as already built/installed (build/crdt_merge.duckdb_extension, the server's crdt_merge);
# CRDT_DUCKDB_EXT=/path/crdt_merge.duckdb_extension tests that DuckDB extension file instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project="$root/dbt/integration_tests"
targets="${CRDT_DBT_TARGETS:-duck pg}"
start_s=$SECONDS

# --- 1. venv ---------------------------------------------------------------------------------
venv="${CRDT_DBT_VENV:-$root/.venv-dbt}"
REQUIREMENTS=("dbt-core>=1.11,<1.12" "dbt-duckdb==1.11.1" "dbt-postgres==1.11.0")
if [[ ! -x "$venv/bin/python" ]]; then
    echo "test-dbt: creating $venv" >&2
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" - "${REQUIREMENTS[@]}" <<'PY' 2>/dev/null
import sys
from importlib import metadata
from pip._vendor.packaging.requirements import Requirement
for spec in sys.argv[1:]:
    req = Requirement(spec)
    if metadata.version(req.name) not in req.specifier:
        sys.exit(1)
PY
then
    echo "test-dbt: installing ${REQUIREMENTS[*]} into $venv" >&2
    "$venv/bin/python" -m pip install --quiet "${REQUIREMENTS[@]}" >&2
fi
dbt="$venv/bin/dbt"

# --- 2. extensions ---------------------------------------------------------------------------
if [[ -n "${CRDT_DUCKDB_EXT:-}" ]]; then
    echo "test-dbt: using the DuckDB extension CRDT_DUCKDB_EXT=$CRDT_DUCKDB_EXT" >&2
elif [[ " $targets " == *" duck "* ]]; then
    if [[ -n "${CRDT_DBT_NO_BUILD:-}" ]]; then
        CRDT_DUCKDB_EXT="$root/build/crdt_merge.duckdb_extension"
    else
        CRDT_DUCKDB_EXT="$("$root/scripts/build-duckdb.sh" | tail -n1)"
    fi
    export CRDT_DUCKDB_EXT
fi
tmp="$(mktemp -d "${TMPDIR:-/tmp}/crdt-dbt.XXXXXX")"
pg_bindir=""
. "$root/scripts/pg-throwaway.sh"
cleanup() {
    pg_throwaway_stop "$pg_bindir" "$tmp"
    rm -rf "$tmp"
}
trap cleanup EXIT

# --- 3. Postgres server ----------------------------------------------------------------------
if [[ " $targets " == *" pg "* ]]; then
    if [[ -n "${CRDT_DBT_NO_BUILD:-}" ]]; then
        pg_config="/usr/lib/postgresql/${PG_MAJOR:-15}/bin/pg_config"
    else
        pg_config="$("$root/scripts/build-postgres.sh" | tail -n1)"
    fi
    pg_bindir="$("$pg_config" --bindir)"
    pg_throwaway_start "$pg_bindir" "$tmp"
    port="$pg_port"
    echo "test-dbt: Postgres on port $port (data in $tmp/data)" >&2
    export CRDT_PG_PORT="$port" CRDT_PG_USER=crdt_dbt CRDT_PG_PASSWORD=crdt_dbt CRDT_PG_DBNAME=crdt_dbt
    psql_su() { as_postgres "$pg_bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" -U postgres "$@"; }
    psql_su -d postgres -c "CREATE ROLE crdt_dbt LOGIN PASSWORD 'crdt_dbt'" \
        -c "CREATE DATABASE crdt_dbt OWNER crdt_dbt"
    # The extension has C functions, so a superuser creates it; the project's on-run-start
    # (`create extension if not exists crdt_merge`) then finds it.
    psql_su -d crdt_dbt -c "CREATE EXTENSION crdt_merge"
fi

# --- 4. docs/dbt.md quotes the integration project: each block marked `<!-- from: PATH -->` must
# still be PATH's text (a whole file, or a contiguous part of it).
python3 - "$root" <<'PY'
import pathlib, re, sys
root = pathlib.Path(sys.argv[1])
doc = (root / "docs/dbt.md").read_text()
blocks = re.findall(r"<!-- from: (\S+) -->\n```[a-z]*\n(.*?)```", doc, re.S)
if not blocks:
    sys.exit("test-dbt: docs/dbt.md has no blocks marked <!-- from: ... -->")
for path, text in blocks:
    if text not in (root / path).read_text():
        sys.exit(f"test-dbt: docs/dbt.md quotes {path}, but the file no longer has that text")
print(f"test-dbt: docs/dbt.md: {len(blocks)} quoted blocks match their files", file=sys.stderr)
PY

# --- 5. the integration project --------------------------------------------------------------
export DBT_PROFILES_DIR="$project" DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_USE_COLORS=false
export CRDT_DBT_DUCKDB_PATH="$tmp/duck/integration.duckdb"
mkdir -p "$tmp/duck"
cd "$project"
"$dbt" deps --quiet

log="$tmp/dbt.out"
summary=()

# Runs dbt, keeps its output in $log, shows the closing lines; returns dbt's status.
run_dbt() {
    local status=0
    "$dbt" "$@" >"$log" 2>&1 || status=$?
    grep -E "Done\. PASS=|Completed successfully|Completed with|ERROR|Error|FAIL " "$log" | tail -n 8 >&2 || true
    if ((status > 128)); then
        echo "test-dbt: dbt was killed by signal $((status - 128)) (a crash inside a database extension?)" >&2
    fi
    return $status
}

# dbt must succeed; its PASS count is recorded.
expect_pass() {
    local what="$1"; shift
    echo "test-dbt: [$target] $what: dbt $*" >&2
    if ! run_dbt "$@"; then
        echo "test-dbt: [$target] FAILED: $what" >&2
        cat "$log" >&2
        exit 1
    fi
    local pass
    pass="$(sed -n 's/.*Done\. PASS=\([0-9]*\).*/\1/p' "$log" | tail -n1)"
    summary+=("$target: $what: ${pass:+PASS=}${pass:-ok}")
}

# dbt must fail, and its output must contain every given message fragment (after `--`).
expect_failure() {
    local what="$1"; shift
    local args=()
    while [[ "$1" != "--" ]]; do args+=("$1"); shift; done
    shift
    echo "test-dbt: [$target] $what (must fail): dbt ${args[*]}" >&2
    if run_dbt "${args[@]}"; then
        echo "test-dbt: [$target] FAILED: $what: dbt succeeded" >&2
        cat "$log" >&2
        exit 1
    fi
    local fragment
    for fragment in "$@"; do
        if ! grep -qF -- "$fragment" "$log"; then
            echo "test-dbt: [$target] FAILED: $what: output lacks: $fragment" >&2
            cat "$log" >&2
            exit 1
        fi
    done
    summary+=("$target: $what: failed as expected")
}

step() { echo "{step: $1}"; }

for target in $targets; do
    t0=$SECONDS
    rm -f "$CRDT_DBT_DUCKDB_PATH"
    T=(--target "$target")

    # The package's strategy list must be the engine's (the kernel's error lists the valid ones).
    jinja_list="$(sed -n "/macro strategy_names/,/endmacro/p" "$root/dbt/macros/config.sql" \
        | grep -oE "'[a-z_]+'" | tr -d "'" | sort | tr '\n' ' ')"

    expect_pass "seed" seed "${T[@]}" --full-refresh

    # Bad configuration: compile-time errors that name the setting to change.
    expect_failure "unknown strategy in merge_relations" \
        compile "${T[@]}" --select bad_merge_strategy --vars '{bad_config: bad_merge_strategy}' -- \
        "unknown strategy 'maximum'" "Change it to one of: lww, lww_nullable, max"
    expect_failure "unknown strategy in crdt_strategies" \
        run "${T[@]}" --select bad_incremental_strategy --vars '{bad_config: bad_incremental_strategy}' -- \
        "model 'bad_incremental_strategy'" "unknown strategy 'biggest'" "Change it to one of"
    expect_failure "missing unique_key" \
        run "${T[@]}" --select bad_missing_unique_key --vars '{bad_config: bad_missing_unique_key}' -- \
        "model 'bad_missing_unique_key'" "unique_key is not set" "Add unique_key to the model's config"
    for which in merge_relations incremental on_run_start; do
        expect_failure "unsupported adapter ($which)" \
            run-operation "${T[@]}" check_unsupported_adapter --args "{which: $which}" -- \
            "is not supported" "point this project at a target of type duckdb or postgres"
    done

    # Batches forward (1, 2, 3) and reverse (3, 2, 1), one run each; the first run creates the
    # incremental tables, the later ones go through the crdt_merge strategy.
    for s in 1 2 3; do
        expect_pass "run step $s" run "${T[@]}" --vars "$(step "$s")"
    done
    expect_pass "test after 3 batches" test "${T[@]}" --vars "$(step 3)"

    # Re-runs: batch 3 again (forward: the last batch; reverse: batch 1), then step 1 again.
    expect_pass "re-run step 3" run "${T[@]}" --select "incremental_*" --vars "$(step 3)"
    expect_pass "re-run step 1" run "${T[@]}" --select "incremental_*" --vars "$(step 1)"
    expect_pass "test after re-runs" test "${T[@]}" --vars "$(step 1)"

    # The tests can fail: a corrupted expected seed, then a corrupted model.
    expect_pass "corrupt batches_expected" run-operation "${T[@]}" corrupt_row --args "{relation: batches_expected}"
    expect_failure "equality test on a corrupted expected seed" \
        test "${T[@]}" --select merged_batches -- "equals_relation_merged_batches_ref_batches_expected_" "FAIL 2"
    expect_pass "restore batches_expected" seed "${T[@]}" --select batches_expected --full-refresh
    expect_pass "corrupt merged_batches" run-operation "${T[@]}" corrupt_row --args "{relation: merged_batches}"
    expect_failure "crdt_converged on a corrupted model" \
        test "${T[@]}" --select "merged_batches,test_name:crdt_converged" -- "crdt_converged" "FAIL 2"
    expect_pass "rebuild merged_batches" run "${T[@]}" --select merged_batches
    expect_pass "final test" test "${T[@]}"

    # Strategy names: the engine's list, read from its error for an unknown strategy.
    expect_failure "engine strategy list" run-operation "${T[@]}" engine_unknown_strategy -- "valid strategies are:"
    engine_list="$(grep -oE "valid strategies are: [a-z_, ]+" "$log" | head -n1 | sed 's/valid strategies are: //' \
        | tr ',' '\n' | tr -d ' ' | grep -v '^$' | sort | tr '\n' ' ')"
    if [[ "$engine_list" != "$jinja_list" ]]; then
        echo "test-dbt: [$target] FAILED: strategy names differ; engine: $engine_list; dbt/macros/config.sql: $jinja_list" >&2
        exit 1
    fi
    summary+=("$target: strategy names equal the engine's ($engine_list)")
    summary+=("$target: total $((SECONDS - t0)) s")
done

printf 'test-dbt: %s\n' "${summary[@]}" >&2
echo "test-dbt: all dbt scenarios passed on: $targets ($((SECONDS - start_s)) s)"
