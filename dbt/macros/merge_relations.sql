{#-
  crdt_merge.merge_relations(relations, key, strategies={}, ts=None, replica=None, tombstone=None)

  A SELECT of the CRDT merge of `relations` (refs, sources or table names) on `key`: for each key,
  the join of every row carrying it, column by column, each column under its strategy (default:
  last writer wins on the row clock `ts`, default '_ts'). Use it as a model's whole body, or in a
  CTE. The engine does the merge: DuckDB's crdt_merge(...) table macro, Postgres's crdt_merge(...)
  set-returning function.

    strategies  {'column': 'strategy'} in MergeQL spelling: lww, lww_nullable, max, min,
                longest, union, union(;), concat, concat(;), priority(low,mid,high), gcounter,
                pncounter
    ts          the row clock column (default '_ts')
    replica     the replica id column, the LWW tie-break after the clock
    tombstone   the delete-flag column, or true for '_deleted'; the output keeps tombstones
-#}
{% macro merge_relations(relations, key, strategies={}, ts=none, replica=none, tombstone=none) %}
  {#- Checked and rendered when dbt executes (compile, run, build, test); at parse time dbt only
      records the refs, which the caller's arguments have already done. -#}
  {%- if not execute -%}
    {{ return('select 1 as crdt_parse_placeholder') }}
  {%- endif -%}
  {{ return(adapter.dispatch('merge_relations', 'crdt_merge')(relations, key, strategies, ts, replica, tombstone)) }}
{% endmacro %}


{% macro default__merge_relations(relations, key, strategies, ts, replica, tombstone) %}
  {%- do crdt_merge.unsupported_adapter('merge_relations') -%}
{% endmacro %}


{% macro duckdb__merge_relations(relations, key, strategies, ts, replica, tombstone) %}
  {%- set where = 'merge_relations' -%}
  {%- set rels = crdt_merge.check_relations(where, relations) -%}
  {%- set o = crdt_merge.check_options(where, key, strategies, ts, replica, tombstone,
        {'key': 'key', 'strategies': 'strategies', 'ts': 'ts', 'replica': 'replica', 'tombstone': 'tombstone'}) -%}
  {%- set names = [] -%}
  {%- for r in rels -%}{%- do names.append(crdt_merge.sql_string(crdt_merge.relation_name(r))) -%}{%- endfor -%}
  {#- DuckDB's crdt_merge takes two or more inputs; one relation is merged with itself (the join
      is idempotent, so that only folds its repeated keys). -#}
  {%- if names | length == 1 -%}{%- do names.append(names[0]) -%}{%- endif -%}
  {%- set keys = [] -%}
  {%- for k in o['keys'] -%}{%- do keys.append(crdt_merge.sql_string(k)) -%}{%- endfor -%}
select * from crdt_merge([{{ names | join(', ') }}], [{{ keys | join(', ') }}]
  {{- crdt_merge.duckdb_options(o) }})
{%- endmacro %}


{#- The named options of DuckDB's crdt_merge(...) for checked options `o`. -#}
{% macro duckdb_options(o) %}
  {%- set out = [] -%}
  {%- if o['strategies'] | length > 0 -%}
    {%- set items = [] -%}
    {%- for column, strategy in o['strategies'].items() -%}
      {%- do items.append(crdt_merge.sql_string(column) ~ ': ' ~ crdt_merge.sql_string(strategy)) -%}
    {%- endfor -%}
    {%- do out.append('strategies := {' ~ items | join(', ') ~ '}') -%}
  {%- endif -%}
  {%- if o['ts'] is not none -%}{%- do out.append('clock := ' ~ crdt_merge.sql_string(o['ts'])) -%}{%- endif -%}
  {%- if o['replica'] is not none -%}{%- do out.append('replica := ' ~ crdt_merge.sql_string(o['replica'])) -%}{%- endif -%}
  {%- if o['tombstone'] is not none -%}{%- do out.append('tombstone := ' ~ crdt_merge.sql_string(o['tombstone'])) -%}{%- endif -%}
  {%- if o.get('where_sql') is not none -%}{%- do out.append('where_sql := ' ~ crdt_merge.sql_string(o['where_sql'])) -%}{%- endif -%}
  {{ return((', ' ~ out | join(', ')) if out else '') }}
{% endmacro %}


{% macro postgres__merge_relations(relations, key, strategies, ts, replica, tombstone) %}
  {%- set where = 'merge_relations' -%}
  {%- set rels = crdt_merge.check_relations(where, relations) -%}
  {%- set o = crdt_merge.check_options(where, key, strategies, ts, replica, tombstone,
        {'key': 'key', 'strategies': 'strategies', 'ts': 'ts', 'replica': 'replica', 'tombstone': 'tombstone'}) -%}
  {%- set regclasses = [] -%}
  {%- set names = [] -%}
  {%- for r in rels -%}
    {%- set rel = crdt_merge.postgres_relation(where, r) -%}
    {%- do regclasses.append(crdt_merge.sql_string(rel.render())) -%}
    {#- The merged columns: the sources' columns in order of first appearance. -#}
    {%- for c in crdt_merge.postgres_column_names(rel) -%}
      {%- if c not in names -%}{%- do names.append(c) -%}{%- endif -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- if not names -%}
    {%- do crdt_merge._fail(where, 'none of ' ~ regclasses | join(', ') ~ ' has columns',
          'Build the relations first (dbt seed / dbt run of their models), or pass ref() so dbt orders the build.') -%}
  {%- endif -%}
  {%- set keys = [] -%}
  {%- for k in o['keys'] -%}{%- do keys.append(crdt_merge.sql_string(k)) -%}{%- endfor -%}
  {%- set args -%}
array[{{ regclasses | join(', ') }}]::regclass[], array[{{ keys | join(', ') }}]::text[]{{ crdt_merge.postgres_options(o) }}
  {%- endset -%}
  {#- A set-returning function needs its row type at the call site. The types are those of the
      engine's own rendering of this merge (crdt_merge_sql), read with pg_typeof over an empty
      result: an aggregate's type can differ from its input's (varchar(64) in, varchar out;
      union of varchar gives text). -#}
  {%- set rendered = run_query('select crdt_merge_sql(' ~ args ~ ')').columns[0].values()[0] -%}
  {%- set typeofs = [] -%}
  {%- for n in names -%}{%- do typeofs.append('pg_typeof(m.' ~ adapter.quote(n) ~ ')::text') -%}{%- endfor -%}
  {%- set types = run_query('select ' ~ typeofs | join(', ') ~ ' from (select 1) as one left join (select * from ('
                             ~ rendered ~ ') as s limit 0) as m on true').rows[0] -%}
  {%- set coldefs = [] -%}
  {%- for n in names -%}{%- do coldefs.append(adapter.quote(n) ~ ' ' ~ types[loop.index0]) -%}{%- endfor -%}
select * from crdt_merge({{ args }}) as crdt_merged({{ coldefs | join(', ') }})
{%- endmacro %}


{#- The named arguments of Postgres's crdt_merge(...) / crdt_merge_into(...) for options `o`. -#}
{% macro postgres_options(o) %}
  {%- set out = [] -%}
  {%- if o['strategies'] | length > 0 -%}
    {%- do out.append('strategies => ' ~ crdt_merge.sql_string(tojson(o['strategies'])) ~ '::jsonb') -%}
  {%- endif -%}
  {%- if o['ts'] is not none -%}{%- do out.append('clock => ' ~ crdt_merge.sql_string(o['ts'])) -%}{%- endif -%}
  {%- if o['replica'] is not none -%}{%- do out.append('replica => ' ~ crdt_merge.sql_string(o['replica'])) -%}{%- endif -%}
  {%- if o['tombstone'] is not none -%}{%- do out.append('tombstone => ' ~ crdt_merge.sql_string(o['tombstone'])) -%}{%- endif -%}
  {{ return((', ' ~ out | join(', ')) if out else '') }}
{% endmacro %}


{#- A relation object for `r`: refs and sources pass through; a plain name is looked up in the
    target's database and schema. -#}
{% macro postgres_relation(where, r) %}
  {%- if r is not string -%}
    {{ return(r) }}
  {%- endif -%}
  {%- set found = adapter.get_relation(database=target.database, schema=target.schema, identifier=r) -%}
  {%- if found is none -%}
    {%- do crdt_merge._fail(where, "no relation named '" ~ r ~ "' in schema " ~ target.schema,
          "Pass ref('...') or source('...', '...') instead of a name, so dbt knows where the table is.") -%}
  {%- endif -%}
  {{ return(found) }}
{% endmacro %}


{#- Column names of a Postgres relation, in order. -#}
{% macro postgres_column_names(relation) %}
  {%- set sql -%}
    select attname::text from pg_attribute
    where attrelid = {{ crdt_merge.sql_string(relation.render()) }}::regclass and attnum > 0 and not attisdropped
    order by attnum
  {%- endset -%}
  {{ return(run_query(sql).columns[0].values() | list) }}
{% endmacro %}
