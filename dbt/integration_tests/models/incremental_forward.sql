-- Incremental: batch 1, then 2, then 3 (one per `dbt run --vars '{step: N}'`). A batch may repeat
-- a key, so the body selects through crdt_merge.incremental_rows (the first run creates the table
-- from this SELECT without calling the strategy).
{{ config(
    materialized='incremental',
    incremental_strategy='crdt_merge',
    unique_key='id',
    crdt_strategies=var('batch_strategies'),
    crdt_replica='site',
    crdt_tombstone='_deleted') }}

{{ crdt_merge.incremental_rows([ref('data_batch_' ~ var('forward_order')[var('step') - 1])]) }}
