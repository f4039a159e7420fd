-- Incremental: batch 3, then 2, then 1. Must end equal to incremental_forward.
{{ config(
    materialized='incremental',
    incremental_strategy='crdt_merge',
    unique_key='id',
    crdt_strategies=var('batch_strategies'),
    crdt_replica='site',
    crdt_tombstone='_deleted') }}

{{ crdt_merge.incremental_rows([ref('data_batch_' ~ var('reverse_order')[var('step') - 1])]) }}
