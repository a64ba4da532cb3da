-- Binary-quantized indexes cannot be described without 'bit': drop them and their rows.
DO $$
DECLARE
    index_name text;
BEGIN
    FOR index_name IN
        SELECT c.relname FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
        JOIN ann_indexes a ON c.relname = 'embeddings_' || a.collection_id || '_ann'
        WHERE a.element = 'bit'
    LOOP
        EXECUTE format('DROP INDEX %I', index_name);
    END LOOP;
END
$$;
DELETE FROM ann_indexes WHERE element = 'bit';
ALTER TABLE ann_indexes DROP CONSTRAINT ann_indexes_element_check;
ALTER TABLE ann_indexes ADD CONSTRAINT ann_indexes_element_check
    CHECK (element IN ('vector', 'halfvec'));
COMMENT ON COLUMN ann_indexes.element IS 'Element type of the indexed expression: vector (up to 2000 dimensions) or halfvec (up to 4000).';
COMMENT ON COLUMN ann_indexes.parameters IS 'Build parameters as a JSON object: m and ef_construction (hnsw) or lists (ivfflat).';
