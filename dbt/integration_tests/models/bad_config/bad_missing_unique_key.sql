-- Deliberately bad (enabled only by scripts/test-dbt.sh): the crdt_merge strategy without unique_key.
{{ config(enabled=var('bad_config') == 'bad_missing_unique_key',
          materialized='incremental', incremental_strategy='crdt_merge') }}
select * from {{ ref('data_batch_1') }}
