{#-
  crdt_merge.on_run_start(): put it in the project's on-run-start (docs/dbt.md).

    on-run-start:
      - "{{ crdt_merge.on_run_start() }}"

  - Postgres: returns `create extension if not exists crdt_merge` (creating it needs a superuser,
    or install it beforehand; when it exists the statement does nothing).
  - DuckDB: the extension must be loaded by the profile (the unsigned local build needs
    config_options: {allow_unsigned_extensions: true}, and extensions: [<path of
    crdt_merge.duckdb_extension>]); this checks that it is, and says how otherwise.
  - Every model with incremental_strategy='crdt_merge' has its config checked, so a missing
    unique_key or an unknown strategy stops the run before anything is built, even on a model's
    first run (when dbt never calls the strategy).
-#}
{% macro on_run_start() %}
  {{ return(adapter.dispatch('on_run_start', 'crdt_merge')()) }}
{% endmacro %}


{% macro default__on_run_start() %}
  {%- do crdt_merge.unsupported_adapter('on_run_start') -%}
{% endmacro %}


{% macro check_incremental_models() %}
  {%- if execute -%}
    {%- for node in graph.nodes.values() -%}
      {%- if node.resource_type == 'model' and node.config.get('materialized') == 'incremental'
            and node.config.get('incremental_strategy') == 'crdt_merge' and node.config.get('enabled', true) -%}
        {%- do crdt_merge.incremental_options(node.name, node.config) -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
{% endmacro %}


{% macro duckdb__on_run_start() %}
  {%- do crdt_merge.check_incremental_models() -%}
  {%- if execute -%}
    {%- set found = run_query("select count(*) from duckdb_functions() where function_name = 'crdt_merge_sql'").columns[0].values()[0] -%}
    {%- if found == 0 -%}
      {%- do exceptions.raise_compiler_error("crdt_merge: the crdt_merge DuckDB extension is not loaded. Add to the duckdb output in profiles.yml:\n  config_options:\n    allow_unsigned_extensions: true\n  extensions:\n    - /absolute/path/to/crdt_merge.duckdb_extension\n(`make duckdb` builds it into build/; see docs/dbt.md).") -%}
    {%- endif -%}
  {%- endif -%}
  {{ return('select crdt_version()') }}
{% endmacro %}


{% macro postgres__on_run_start() %}
  {%- do crdt_merge.check_incremental_models() -%}
  {{ return('create extension if not exists crdt_merge') }}
{% endmacro %}
