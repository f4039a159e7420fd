{#- `dbt run-operation check_unsupported_adapter`: what an adapter without a crdt_merge
    implementation gets. adapter.dispatch falls back to the default__ bodies for any adapter other
    than duckdb and postgres; both adapters installed here have their own bodies, so this calls the
    fallbacks directly (scripts/test-dbt.sh expects the failure and its message). -#}
{% macro check_unsupported_adapter(which='merge_relations') %}
  {%- if which == 'merge_relations' -%}
    {%- do crdt_merge.default__merge_relations(['data_replica_a'], 'id', {}, none, none, none) -%}
  {%- elif which == 'incremental' -%}
    {%- do crdt_merge.default__get_incremental_crdt_merge_sql({}) -%}
  {%- else -%}
    {%- do crdt_merge.default__on_run_start() -%}
  {%- endif -%}
{% endmacro %}
