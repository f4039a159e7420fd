-- Deliberately bad (enabled only by scripts/test-dbt.sh): an unknown strategy name.
{{ config(enabled=var('bad_config') == 'bad_merge_strategy') }}
{{ crdt_merge.merge_relations([ref('data_replica_a'), ref('data_replica_b')], 'id',
                              strategies={'score': 'maximum'}, ts='updated_at') }}
