-- Incremental with a plain SELECT body, batches in forward order: the first batch has no repeated
-- key; later batches repeat keys and reach the strategy unmerged, which must fold them.
{{ config(
    materialized='incremental',
    incremental_strategy='crdt_merge',
    unique_key=['id'],
    crdt_strategies=var('batch_strategies'),
    crdt_replica='site',
    crdt_tombstone=true) }}

select * from {{ ref('data_batch_' ~ var('forward_order')[var('step') - 1]) }}
