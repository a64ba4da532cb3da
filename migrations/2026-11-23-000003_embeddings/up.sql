-- One LIST partition per collection, created by embedstore when the collection is created
-- (embeddings_<collection id>, with CHECK (vector_dims(embedding) = <dimension>)).
-- There is deliberately no DEFAULT partition: a row for a collection without a partition is
-- refused, so the partition doubles as the foreign key to collections without a per-row
-- trigger on the bulk-load path. Dropping a collection drops its partition: no table-wide DELETE.
CREATE TABLE embeddings (
    collection_id integer NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    external_id   text NOT NULL
                  CHECK (octet_length(external_id) BETWEEN 1 AND 512),
    embedding     vector NOT NULL,
    content       text,
    metadata      jsonb NOT NULL DEFAULT '{}'::jsonb
                  CHECK (jsonb_typeof(metadata) = 'object'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection_id, id),
    UNIQUE (collection_id, external_id)
) PARTITION BY LIST (collection_id);

CREATE TRIGGER embeddings_touch_updated_at
    BEFORE UPDATE ON embeddings
    FOR EACH ROW EXECUTE FUNCTION embedstore_touch_updated_at();

COMMENT ON TABLE embeddings IS
    'Stored vectors, LIST-partitioned by collection_id: one partition per collection, each with a CHECK fixing the collection''s dimension.';
COMMENT ON COLUMN embeddings.collection_id IS
    'Collection the row belongs to (collections.id); also the partition key.';
COMMENT ON COLUMN embeddings.id IS
    'Surrogate key, unique together with collection_id.';
COMMENT ON COLUMN embeddings.external_id IS
    'The caller''s stable key for the item (1..512 bytes), unique per collection: re-ingesting the same item updates it instead of duplicating it.';
COMMENT ON COLUMN embeddings.embedding IS
    'The vector. Untyped here because collections differ in dimension; each partition''s CHECK enforces its collection''s dimension.';
COMMENT ON COLUMN embeddings.content IS
    'Optional source text (or other payload) the vector was computed from.';
COMMENT ON COLUMN embeddings.metadata IS
    'JSON object of caller attributes used for filtering and display.';
COMMENT ON COLUMN embeddings.created_at IS 'When the row was first written.';
COMMENT ON COLUMN embeddings.updated_at IS 'When the row last changed (set by upserts and by a trigger on UPDATE).';
