-- Deliberately bad (enabled only by scripts/test-dbt.sh): an unknown strategy in crdt_strategies.
{{ config(enabled=var('bad_config') == 'bad_incremental_strategy',
          materialized='incremental', incremental_strategy='crdt_merge', unique_key='id',
          crdt_strategies={'score': 'biggest'}) }}
select * from {{ ref('data_batch_1') }}
