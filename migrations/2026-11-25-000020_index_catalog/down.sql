-- Drop the indexes the catalog describes too, so that migrating up again starts clean.
DO $$
DECLARE
    index_name text;
BEGIN
    FOR index_name IN
        SELECT c.relname FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
        WHERE c.relname ~ '^embeddings_[0-9]+_(ann|payload_[0-9]+)'
    LOOP
        EXECUTE format('DROP INDEX %I', index_name);
    END LOOP;
END
$$;
DROP TABLE payload_indexes;
DROP TABLE ann_indexes;
