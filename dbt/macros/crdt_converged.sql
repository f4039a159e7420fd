{#-
  Generic test crdt_converged: the model equals the merge of `sources` taken in reverse order.

    models:
      - name: customers
        data_tests:
          - crdt_merge.crdt_converged:
              arguments:
                sources: ["ref('batch_1')", "ref('batch_2')", "ref('batch_3')"]
                key: id
                strategies: {score: max}

  A model built by merging its sources (merge_relations, or the crdt_merge incremental strategy
  fed batch by batch) must equal the merge of the same sources in any other order; merging them
  in reverse order is the cheapest other order to check. The comparison is over the model's
  columns, as multisets (EXCEPT ALL both ways), so a duplicated or missing row fails too. Each
  failing row says on which side it was found. The cell clocks an incremental target keeps
  (`<col>__ts`, `<col>__replica` beside a column `<col>`) are left out: a one-call merge of the
  sources does not write them.
-#}
{% test crdt_converged(model, sources, key, strategies={}, ts=none, replica=none, tombstone=none) %}
  {%- set rels = crdt_merge.check_relations('crdt_converged', sources) -%}
  {%- set cols = [] -%}
  {%- if execute -%}
    {%- set names = [] -%}
    {%- for c in adapter.get_columns_in_relation(model) -%}{%- do names.append(c.name) -%}{%- endfor -%}
    {%- for n in names -%}
      {%- set kept = (n.endswith('__ts') and n[:-4] in names) or (n.endswith('__replica') and n[:-9] in names) -%}
      {%- if not kept -%}{%- do cols.append(adapter.quote(n)) -%}{%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  {%- set collist = cols | join(', ') if cols else '*' -%}
with merged as (
  {{ crdt_merge.merge_relations(rels | reverse | list, key, strategies, ts, replica, tombstone) }}
),
in_merge_only as (
  select {{ collist }} from merged
  except all
  select {{ collist }} from {{ model }}
),
in_model_only as (
  select {{ collist }} from {{ model }}
  except all
  select {{ collist }} from merged
)
select 'in the merge of the sources (reversed), not in the model' as crdt_difference, * from in_merge_only
union all
select 'in the model, not in the merge of the sources (reversed)' as crdt_difference, * from in_model_only
{% endtest %}
