-- merge_relations with a custom row clock (updated_at) and one strategy; name is last writer wins.
{{ crdt_merge.merge_relations(
    [ref('data_replica_a'), ref('data_replica_b')],
    key='id',
    strategies={'score': 'min'},
    ts='updated_at') }}
