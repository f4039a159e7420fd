{#- dbt looks for incremental strategy macros in the root project only: this shim hands the
    `crdt_merge` strategy to the package (docs/dbt.md). -#}
{% macro get_incremental_crdt_merge_sql(arg_dict) %}
  {{ return(crdt_merge.get_incremental_crdt_merge_sql(arg_dict)) }}
{% endmacro %}
