ALTER TABLE ann_indexes DROP COLUMN built_deletes, DROP COLUMN built_updates;
