{#-
  The `crdt_merge` incremental strategy:

    {{ config(materialized='incremental', incremental_strategy='crdt_merge', unique_key='id',
              crdt_strategies={'score': 'max'}, crdt_ts='_ts', crdt_replica='site',
              crdt_tombstone='_deleted') }}

  On an incremental run dbt stores the model's new rows in a temporary table and calls
  get_incremental_crdt_merge_sql; every stored row whose key occurs in the new rows is replaced by
  the engine's merge of the stored row and the new rows of that key (DuckDB: crdt_merge(...);
  Postgres: CALL crdt_merge_into(...)). Other stored rows are untouched. Because the merge is a
  join, re-running a batch changes nothing and batches may arrive in any order.

  dbt looks for get_incremental_<strategy>_sql in the root project only, so the project using the
  strategy adds this shim to its macros/ (docs/dbt.md):

    {% macro get_incremental_crdt_merge_sql(arg_dict) %}
      {{ return(crdt_merge.get_incremental_crdt_merge_sql(arg_dict)) }}
    {% endmacro %}
-#}
{% macro get_incremental_crdt_merge_sql(arg_dict) %}
  {{ return(adapter.dispatch('get_incremental_crdt_merge_sql', 'crdt_merge')(arg_dict)) }}
{% endmacro %}


{% macro default__get_incremental_crdt_merge_sql(arg_dict) %}
  {%- do crdt_merge.unsupported_adapter('incremental strategy crdt_merge') -%}
{% endmacro %}


{#- Checks shared by both adapters; returns the options and the target's column names. -#}
{% macro incremental_prepare(arg_dict) %}
  {%- set o = crdt_merge.incremental_options(this.identifier, config) -%}
  {%- set target_relation = arg_dict['target_relation'] -%}
  {%- set dest = [] -%}
  {%- for c in arg_dict['dest_columns'] -%}{%- do dest.append(c.name | lower) -%}{%- endfor -%}
  {%- set extra = [] -%}
  {%- for c in adapter.get_columns_in_relation(arg_dict['temp_relation']) -%}
    {%- if c.name | lower not in dest -%}{%- do extra.append(c.name) -%}{%- endif -%}
  {%- endfor -%}
  {%- if extra -%}
    {%- do crdt_merge._fail("model '" ~ this.identifier ~ "' (incremental_strategy='crdt_merge')",
          'the new rows have column(s) ' ~ extra | join(', ') ~ ' that ' ~ target_relation ~ ' lacks',
          "Set on_schema_change='append_new_columns' (or 'sync_all_columns') to add them, drop them from the model's SELECT, or run with --full-refresh.") -%}
  {%- endif -%}
  {%- for k in o['keys'] -%}
    {%- if k | lower not in dest -%}
      {%- do crdt_merge._fail("model '" ~ this.identifier ~ "' (incremental_strategy='crdt_merge')",
            'the unique_key column ' ~ k ~ ' is not a column of ' ~ target_relation,
            "Change unique_key to columns the model's SELECT returns.") -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(o) }}
{% endmacro %}


{% macro duckdb__get_incremental_crdt_merge_sql(arg_dict) %}
  {%- set o = crdt_merge.incremental_prepare(arg_dict) -%}
  {%- set target_relation = arg_dict['target_relation'] -%}
  {%- set temp_relation = arg_dict['temp_relation'] -%}
  {%- set keys = [] -%}
  {%- for k in o['keys'] -%}{%- do keys.append(adapter.quote(k)) -%}{%- endfor -%}
  {%- set keylist = keys | join(', ') -%}
  {#- Only the keys of the new rows are merged: the filter goes to crdt_merge as where_sql, which
      applies it to both inputs before the merge. -#}
  {%- do o.update({'where_sql': '(' ~ keylist ~ ') IN (SELECT ' ~ keylist ~ ' FROM ' ~ temp_relation ~ ')'}) -%}
  {%- set merged = adapter.quote(temp_relation.identifier ~ '__crdt_merged') -%}
  {%- set names = [crdt_merge.sql_string(crdt_merge.relation_name(target_relation)),
                   crdt_merge.sql_string(crdt_merge.relation_name(temp_relation))] -%}
  {#- The target keeps each last-writer-wins column's winning-cell clock (<col>__ts, and
      <col>__replica with a replica column), so that batches merged one by one give one table in
      any order, NULL cells included (docs/dbt.md). The engine needs both inputs' column lists
      for that; the merge runs now so that its columns are known. -#}
  {%- set lists = [] -%}
  {%- set target_names = [] -%}
  {%- for rel in [target_relation, temp_relation] -%}
    {%- set cols = [] -%}
    {%- for c in adapter.get_columns_in_relation(rel) -%}
      {%- do cols.append(crdt_merge.sql_string(c.name)) -%}
      {%- if rel == target_relation -%}{%- do target_names.append(c.name | lower) -%}{%- endif -%}
    {%- endfor -%}
    {%- do lists.append('[' ~ cols | join(', ') ~ ']') -%}
  {%- endfor -%}
  {%- set key_args = [] -%}
  {%- for k in o['keys'] -%}{%- do key_args.append(crdt_merge.sql_string(k)) -%}{%- endfor -%}
  {%- do run_query('create or replace temporary table ' ~ merged ~ ' as select * from crdt_merge(['
        ~ names | join(', ') ~ '], [' ~ key_args | join(', ') ~ ']' ~ crdt_merge.duckdb_options(o)
        ~ ', cell_clocks := true, columns := [' ~ lists | join(', ') ~ '])') -%}
  {%- set merged_cols = [] -%}
  {%- set added = [] -%}
  {%- for row in run_query('describe ' ~ merged).rows -%}
    {%- do merged_cols.append(adapter.quote(row[0])) -%}
    {%- if row[0] | lower not in target_names -%}{%- do added.append([row[0], row[1]]) -%}{%- endif -%}
  {%- endfor -%}
{#- A clock column the target did not have yet: its stored rows' cells were written at their row
    clock (replica), which is what the merge read for them. -#}
{%- for name, type in added %}
alter table {{ target_relation }} add column {{ adapter.quote(name) }} {{ type }};
update {{ target_relation }} set {{ adapter.quote(name) }} = {{ adapter.quote(o['replica'] if name.endswith('__replica') else (o['ts'] or '_ts')) }};
{%- endfor %}
delete from {{ target_relation }} where ({{ keylist }}) in (select {{ keylist }} from {{ merged }});
insert into {{ target_relation }} ({{ merged_cols | join(', ') }})
  select {{ merged_cols | join(', ') }} from {{ merged }};
drop table {{ merged }}
{%- endmacro %}


{% macro postgres__get_incremental_crdt_merge_sql(arg_dict) %}
  {%- set o = crdt_merge.incremental_prepare(arg_dict) -%}
  {%- set keys = [] -%}
  {%- for k in o['keys'] -%}{%- do keys.append(crdt_merge.sql_string(k)) -%}{%- endfor -%}
call crdt_merge_into({{ crdt_merge.sql_string(arg_dict['target_relation'].render()) }}::regclass,
  {{ crdt_merge.sql_string(arg_dict['temp_relation'].render()) }}::regclass,
  array[{{ keys | join(', ') }}]::text[]{{ crdt_merge.postgres_options(o) }})
{%- endmacro %}


{#-
  crdt_merge.incremental_rows(relations): the body of a crdt_merge incremental model whose batches
  may repeat a key. dbt builds the table from the model's SELECT on the first run and on
  --full-refresh without calling any incremental strategy, so a plain `select * from batch` would
  store a repeated key twice. This selects the merge of `relations` under the model's own
  unique_key and crdt_* config (checking that config on every run, the first one included).
-#}
{% macro incremental_rows(relations) %}
  {#- At parse time the model's config is still being collected (and the refs in `relations` are
      already recorded), so there is nothing to check or render yet. -#}
  {%- if not execute -%}
    {{ return('select 1 as crdt_parse_placeholder') }}
  {%- endif -%}
  {%- set o = crdt_merge.incremental_options(this.identifier, config) -%}
  {{ return(crdt_merge.merge_relations(relations, o['keys'], o['strategies'], o['ts'], o['replica'], o['tombstone'])) }}
{% endmacro %}
