{#- The model has exactly the rows of `expected` (a seed *_expected or another model), as
    multisets over the expected relation's columns. Each failing row says on which side it was. -#}
{% test equals_relation(model, expected) %}
  {%- set cols = [] -%}
  {%- if execute -%}
    {%- for c in adapter.get_columns_in_relation(expected) -%}{%- do cols.append(adapter.quote(c.name)) -%}{%- endfor -%}
  {%- endif -%}
  {%- set collist = cols | join(', ') if cols else '*' -%}
with missing as (
  select {{ collist }} from {{ expected }}
  except all
  select {{ collist }} from {{ model }}
),
unexpected as (
  select {{ collist }} from {{ model }}
  except all
  select {{ collist }} from {{ expected }}
)
select 'expected, missing from the model' as difference, * from missing
union all
select 'in the model, not expected' as difference, * from unexpected
{% endtest %}
