{#- Helpers for scripts/test-dbt.sh (run with `dbt run-operation`). -#}

{#- Changes one row of a seed or model, to show that the equality and convergence tests fail. -#}
{% macro corrupt_row(relation) %}
  {%- set rel = adapter.get_relation(database=target.database, schema=target.schema, identifier=relation) -%}
  {%- do run_query('update ' ~ rel ~ ' set score = score + 100 where id = 1') -%}
  {%- do adapter.commit() -%}
{% endmacro %}


{#- Asks the engine itself to merge with an unknown strategy: its error lists the valid ones, which
    the script compares with crdt_merge.strategy_names(). (The package's own check would stop an
    unknown name before it reached the engine, so this calls the engine function directly.) -#}
{% macro engine_unknown_strategy() %}
  {%- set rel = adapter.get_relation(database=target.database, schema=target.schema, identifier='data_replica_a') -%}
  {%- if target.type == 'duckdb' -%}
    {%- do run_query("select * from crdt_merge(['" ~ crdt_merge.relation_name(rel) ~ "', '" ~ crdt_merge.relation_name(rel) ~ "'], ['id'], strategies := {'score': 'no_such_strategy'})") -%}
  {%- else -%}
    {%- do run_query("select crdt_merge_sql(array['" ~ rel ~ "']::regclass[], array['id'], '{\"score\": \"no_such_strategy\"}'::jsonb)") -%}
  {%- endif -%}
{% endmacro %}
