-- merge_relations with a replica column and tombstones: the three batches merged at once.
{{ crdt_merge.merge_relations(
    [ref('data_batch_1'), ref('data_batch_2'), ref('data_batch_3')],
    key='id',
    strategies=var('batch_strategies'),
    replica='site',
    tombstone='_deleted') }}
