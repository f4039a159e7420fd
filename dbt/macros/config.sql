{#-
  Argument and config checks shared by every public macro. They run while dbt renders a model,
  test or hook, so bad configuration stops the run before any SQL is sent, with a message that
  names the setting to change. The merge itself is always the engine's (crdt_merge /
  crdt_merge_into); nothing here decides which cell wins.
-#}

{#- Strategy names the kernel accepts (MergeQL spelling, docs/mergeql.md). Arguments inside the
    parentheses, such as priority levels or a union separator, are checked by the engine.
    scripts/test-dbt.sh compares this list with the one in the engine's own error message, so a
    strategy added to the kernel fails the dbt suite until it is added here. -#}
{% macro strategy_names() %}
  {{ return(['lww', 'lww_nullable', 'max', 'min', 'priority', 'longest', 'union', 'concat',
             'gcounter', 'pncounter']) }}
{% endmacro %}


{% macro _fail(where, problem, fix) %}
  {{ exceptions.raise_compiler_error('crdt_merge: ' ~ where ~ ': ' ~ problem ~ '. ' ~ fix) }}
{% endmacro %}


{#- Checks and normalises the merge options; returns a dict with keys (list of column names),
    strategies (dict column -> strategy text), ts, replica and tombstone (a column name or none).
    `where` says where the options came from, for the error message, and `names` maps each option
    to the name the user wrote it under (argument or model config key). -#}
{% macro check_options(where, key, strategies, ts, replica, tombstone, names) %}
  {%- if key is string -%}
    {%- set keys = [key] -%}
  {%- elif key is iterable and key is not mapping and key | length > 0 -%}
    {%- set keys = key | list -%}
  {%- else -%}
    {%- do crdt_merge._fail(where, '`' ~ names.key ~ '` is ' ~ (key | string) ~ ', expected a key column name or a list of them',
          'Set ' ~ names.key ~ " to the column(s) that identify a row, for example 'id' or ['region', 'id'].") -%}
  {%- endif -%}
  {%- for k in keys -%}
    {%- if k is not string or k | trim == '' -%}
      {%- do crdt_merge._fail(where, '`' ~ names.key ~ '` contains ' ~ (k | string) ~ ', expected column names',
            'Give each key column as a non-empty string.') -%}
    {%- endif -%}
  {%- endfor -%}

  {%- if strategies is none -%}
    {%- set strategies = {} -%}
  {%- endif -%}
  {%- if strategies is not mapping -%}
    {%- do crdt_merge._fail(where, '`' ~ names.strategies ~ '` is ' ~ (strategies | string) ~ ', expected a mapping of column to strategy',
          "Write it as {'score': 'max', 'tags': 'union(;)'}; columns not listed use last-writer-wins on the row clock.") -%}
  {%- endif -%}
  {%- set known = crdt_merge.strategy_names() -%}
  {%- for column, strategy in strategies.items() -%}
    {%- if strategy is not string -%}
      {%- do crdt_merge._fail(where, '`' ~ names.strategies ~ '` gives column `' ~ column ~ '` the strategy ' ~ (strategy | string) ~ ', expected a strategy name',
            'Write the strategy as text, one of: ' ~ known | join(', ') ~ ' (see docs/mergeql.md).') -%}
    {%- endif -%}
    {%- set name = strategy.split('(')[0] | trim -%}
    {%- if name not in known -%}
      {%- do crdt_merge._fail(where, '`' ~ names.strategies ~ '` gives column `' ~ column ~ "` the unknown strategy '" ~ strategy ~ "'",
            'Change it to one of: ' ~ known | join(', ') ~ " (arguments in parentheses, e.g. 'priority(low,mid,high)' or 'union(;)'; see docs/mergeql.md).") -%}
    {%- endif -%}
    {%- if column in keys -%}
      {%- do crdt_merge._fail(where, '`' ~ names.strategies ~ '` gives the key column `' ~ column ~ '` a strategy',
            'Remove it: key columns group the rows, they are not merged.') -%}
    {%- endif -%}
  {%- endfor -%}

  {%- for option, value in [('ts', ts), ('replica', replica)] -%}
    {%- if value is not none and (value is not string or value | trim == '') -%}
      {%- do crdt_merge._fail(where, '`' ~ names[option] ~ '` is ' ~ (value | string) ~ ', expected a column name',
            'Give the column name as a string, or leave it out.') -%}
    {%- endif -%}
  {%- endfor -%}

  {%- if tombstone is sameas true -%}
    {%- set tombstone = '_deleted' -%}
  {%- elif tombstone is sameas false -%}
    {%- set tombstone = none -%}
  {%- elif tombstone is not none and (tombstone is not string or tombstone | trim == '') -%}
    {%- do crdt_merge._fail(where, '`' ~ names.tombstone ~ '` is ' ~ (tombstone | string) ~ ', expected a column name or true',
          "Set it to the delete-flag column (true means '_deleted'), or leave it out.") -%}
  {%- endif -%}

  {{ return({'keys': keys, 'strategies': strategies, 'ts': ts, 'replica': replica, 'tombstone': tombstone}) }}
{% endmacro %}


{#- The merge options of an incremental model with incremental_strategy='crdt_merge', read from
    a model config (the `config` object of the model being rendered, or a node's config dict from
    the graph). -#}
{% macro incremental_options(model_name, cfg) %}
  {%- set where = "model '" ~ model_name ~ "' (incremental_strategy='crdt_merge')" -%}
  {%- set unique_key = cfg.get('unique_key') -%}
  {%- if unique_key is none or unique_key == '' or unique_key == [] -%}
    {%- do crdt_merge._fail(where, 'unique_key is not set',
          "Add unique_key to the model's config, e.g. config(unique_key='id') or unique_key=['region', 'id']: the key columns say which rows are merged together.") -%}
  {%- endif -%}
  {%- set names = {'key': 'unique_key', 'strategies': 'crdt_strategies', 'ts': 'crdt_ts',
                   'replica': 'crdt_replica', 'tombstone': 'crdt_tombstone'} -%}
  {%- if cfg.get('incremental_predicates') or cfg.get('predicates') -%}
    {%- do crdt_merge._fail(where, 'incremental_predicates are set',
          'Remove them: a CRDT merge joins every new row with the stored row of its key, so rows cannot be skipped by a predicate.') -%}
  {%- endif -%}
  {{ return(crdt_merge.check_options(where, unique_key, cfg.get('crdt_strategies', {}), cfg.get('crdt_ts'),
                                     cfg.get('crdt_replica'), cfg.get('crdt_tombstone'), names)) }}
{% endmacro %}


{#- The error for an adapter that has no implementation. -#}
{% macro unsupported_adapter(macro_name) %}
  {%- do crdt_merge._fail(macro_name, "the adapter '" ~ adapter.type() ~ "' is not supported",
        'crdt_merge runs on dbt-duckdb (with the crdt_merge DuckDB extension loaded) and dbt-postgres (with CREATE EXTENSION crdt_merge); point this project at a target of type duckdb or postgres.') -%}
{% endmacro %}


{#- A relation as text: DuckDB's crdt_merge takes names as SQL writes them, each part
    double-quoted here so that names with dots, spaces or quotes work. -#}
{% macro relation_name(relation) %}
  {%- if relation is string -%}
    {{ return(relation) }}
  {%- endif -%}
  {%- set parts = [] -%}
  {%- for part in [relation.database, relation.schema, relation.identifier] -%}
    {%- if part -%}{%- do parts.append('"' ~ (part | replace('"', '""')) ~ '"') -%}{%- endif -%}
  {%- endfor -%}
  {{ return(parts | join('.')) }}
{% endmacro %}


{% macro sql_string(text) %}
  {{ return("'" ~ (text | string | replace("'", "''")) ~ "'") }}
{% endmacro %}


{% macro check_relations(where, relations) %}
  {%- if relations is string or relations is mapping or relations is not iterable or relations | length == 0 -%}
    {%- do crdt_merge._fail(where, '`relations` is ' ~ (relations | string) ~ ', expected a list of relations',
          "Pass a list, e.g. [ref('orders_eu'), ref('orders_us')] (one relation is merged with itself: duplicate keys fold).") -%}
  {%- endif -%}
  {{ return(relations | list) }}
{% endmacro %}
