CREATE TABLE collections (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE
                CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    dimension   integer NOT NULL CHECK (dimension BETWEEN 1 AND 16000),
    metric      text NOT NULL CHECK (metric IN ('l2', 'cosine', 'inner_product', 'l1')),
    model       text NOT NULL CHECK (octet_length(model) BETWEEN 1 AND 256),
    description jsonb NOT NULL DEFAULT '{}'::jsonb
                CHECK (jsonb_typeof(description) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER collections_touch_updated_at
    BEFORE UPDATE ON collections
    FOR EACH ROW EXECUTE FUNCTION embedstore_touch_updated_at();

COMMENT ON TABLE collections IS
    'One set of embeddings that share a dimension, a distance metric and the model that produced them. Each collection owns one partition of embeddings.';
COMMENT ON COLUMN collections.id IS
    'Surrogate key; also the LIST partition key of embeddings and part of the partition''s name (embeddings_<id>).';
COMMENT ON COLUMN collections.name IS
    'Caller-facing unique name: a slug of 1 to 63 characters, lowercase ASCII letter first, then letters, digits, _ or -.';
COMMENT ON COLUMN collections.dimension IS
    'Number of values in every vector of this collection (1..16000); enforced on the collection''s partition by a CHECK on vector_dims(embedding).';
COMMENT ON COLUMN collections.metric IS
    'Distance used for nearest-neighbour search: l2 (<->), cosine (<=>), inner_product (<#>, negated) or l1 (<+>).';
COMMENT ON COLUMN collections.model IS
    'Name of the embedding model that produced the vectors (provenance). Re-embedding with another model means a new collection.';
COMMENT ON COLUMN collections.description IS
    'Free-form JSON object describing the collection (owner, source, notes).';
COMMENT ON COLUMN collections.created_at IS 'When the collection was created.';
COMMENT ON COLUMN collections.updated_at IS 'When the collection row last changed (maintained by a trigger).';
