-- Drift since an ANN index was built: PostgreSQL's cumulative counters of updated and deleted
-- rows (pg_stat_user_tables.n_tup_upd / n_tup_del of the collection's partition) as they were
-- at the build, so that index health can report the changes since then.
ALTER TABLE ann_indexes
    ADD COLUMN built_updates bigint CHECK (built_updates >= 0),
    ADD COLUMN built_deletes bigint CHECK (built_deletes >= 0);

COMMENT ON COLUMN ann_indexes.built_updates IS
    'n_tup_upd of the partition (pg_stat_user_tables) when the index was built; NULL when unknown (built before this column existed, or no statistics).';
COMMENT ON COLUMN ann_indexes.built_deletes IS
    'n_tup_del of the partition (pg_stat_user_tables) when the index was built; NULL when unknown.';
