-- What embedstore knows about the indexes it builds on a collection's partition. The indexes
-- themselves live in pg_catalog (names built from these integer ids only); these rows hold what
-- the catalog cannot tell: how many rows an ANN index was built on (IVFFlat's lists go stale as
-- a collection grows) and which metadata field a payload index serves.
CREATE TABLE ann_indexes (
    collection_id integer PRIMARY KEY REFERENCES collections (id) ON DELETE CASCADE,
    method        text NOT NULL CHECK (method IN ('hnsw', 'ivfflat')),
    element       text NOT NULL CHECK (element IN ('vector', 'halfvec')),
    parameters    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(parameters) = 'object'),
    built_rows    bigint NOT NULL CHECK (built_rows >= 0),
    built_at      timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE ann_indexes IS
    'The approximate nearest-neighbour index of a collection (at most one), built on its partition as embeddings_<collection id>_ann.';
COMMENT ON COLUMN ann_indexes.collection_id IS 'The indexed collection (collections.id).';
COMMENT ON COLUMN ann_indexes.method IS 'Index access method: hnsw or ivfflat.';
COMMENT ON COLUMN ann_indexes.element IS 'Element type of the indexed expression: vector (up to 2000 dimensions) or halfvec (up to 4000).';
COMMENT ON COLUMN ann_indexes.parameters IS 'Build parameters as a JSON object: m and ef_construction (hnsw) or lists (ivfflat).';
COMMENT ON COLUMN ann_indexes.built_rows IS 'Rows the index was built on; compared with the current count to advise a rebuild.';
COMMENT ON COLUMN ann_indexes.built_at IS 'When the index was last built.';

CREATE TABLE payload_indexes (
    id            integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection_id integer NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    field         text[] NOT NULL,
    kind          text NOT NULL
                  CHECK (kind IN ('keyword', 'integer', 'float', 'bool', 'timestamp', 'gin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'gin') = (cardinality(field) = 0)),
    UNIQUE (collection_id, field, kind)
);

COMMENT ON TABLE payload_indexes IS
    'Indexes on a collection''s metadata that make filters cheap to evaluate exactly, built on its partition as embeddings_<collection id>_payload_<id>.';
COMMENT ON COLUMN payload_indexes.id IS 'Surrogate key; part of the index name.';
COMMENT ON COLUMN payload_indexes.collection_id IS 'The indexed collection (collections.id).';
COMMENT ON COLUMN payload_indexes.field IS 'Path of the metadata field (one key per element); empty for a GIN index on the whole metadata.';
COMMENT ON COLUMN payload_indexes.kind IS 'keyword, integer, float, bool or timestamp (a btree on the typed value), or gin (metadata jsonb_path_ops).';
COMMENT ON COLUMN payload_indexes.created_at IS 'When the index was created.';
