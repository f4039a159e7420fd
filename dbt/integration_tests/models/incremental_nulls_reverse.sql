-- Incremental with NULL cells under a row clock (hardening finding 14): batch N of the
-- data_nulls_* seeds per step, in reverse order. The target keeps each column's winning-cell clock
-- (i__ts, s__ts), so both orders give nulls_expected (with only _ts they would not: a later NULL
-- raises the row clock past the value's own).
{{ config(
    materialized='incremental',
    incremental_strategy='crdt_merge',
    unique_key='id') }}

select * from {{ ref('data_nulls_' ~ var('reverse_order')[var('step') - 1]) }}
