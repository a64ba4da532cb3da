-- Vector kinds (issue 13, item 5): a collection stores dense vectors (`vector`, as before),
-- sparse vectors (`sparsevec`, e.g. SPLADE) or bit vectors (`bit varying`, compared by Hamming
-- or Jaccard distance). Each kind has a column of its own on `embeddings`; every row fills
-- exactly one of them, and each partition's CHECKs name which one and its dimension.
ALTER TABLE collections ADD COLUMN kind text NOT NULL DEFAULT 'dense'
    CONSTRAINT collections_kind_check CHECK (kind IN ('dense', 'sparse', 'bit'));
COMMENT ON COLUMN collections.kind IS
    'What the collection stores: dense (embeddings.embedding, vector), sparse (embeddings.sparse, sparsevec) or bit (embeddings.bits, bit varying). Fixed once the partition exists.';

ALTER TABLE collections DROP CONSTRAINT collections_metric_check;
ALTER TABLE collections ADD CONSTRAINT collections_metric_check CHECK (
    (kind IN ('dense', 'sparse') AND metric IN ('l2', 'cosine', 'inner_product', 'l1'))
    OR (kind = 'bit' AND metric IN ('hamming', 'jaccard')));
COMMENT ON COLUMN collections.metric IS
    'Distance used for nearest-neighbour search: l2 (<->), cosine (<=>), inner_product (<#>, negated) or l1 (<+>) for dense and sparse collections; hamming (<~>) or jaccard (<%>) for bit collections.';

ALTER TABLE collections DROP CONSTRAINT collections_dimension_check;
ALTER TABLE collections ADD CONSTRAINT collections_dimension_check CHECK (
    dimension >= 1 AND dimension <= CASE kind
        WHEN 'dense' THEN 16000 WHEN 'sparse' THEN 1000000000 ELSE 64000 END);
COMMENT ON COLUMN collections.dimension IS
    'Number of dimensions of every vector of this collection: 1..16000 (dense), 1..1000000000 (sparse), 1..64000 bits (bit); enforced by a CHECK on the collection''s partition.';

ALTER TABLE embeddings ALTER COLUMN embedding DROP NOT NULL;
ALTER TABLE embeddings ADD COLUMN sparse sparsevec;
ALTER TABLE embeddings ADD COLUMN bits bit varying;
ALTER TABLE embeddings ADD CONSTRAINT embeddings_one_vector
    CHECK (num_nonnulls(embedding, sparse, bits) = 1);
COMMENT ON COLUMN embeddings.embedding IS
    'The vector of a dense collection (NULL in sparse and bit collections). Untyped because collections differ in dimension; each partition''s CHECK enforces its collection''s dimension.';
COMMENT ON COLUMN embeddings.sparse IS
    'The vector of a sparse collection (NULL otherwise); at most 1000 non-zeros, so that HNSW can index it.';
COMMENT ON COLUMN embeddings.bits IS
    'The vector of a bit collection (NULL otherwise); its length is the collection''s dimension.';

-- The partitions made so far are all dense: each keeps its vector column filled.
DO $$
DECLARE
    id integer;
BEGIN
    FOR id IN SELECT c.id FROM collections c LOOP
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (embedding IS NOT NULL)',
                       'embeddings_' || id, 'embeddings_' || id || '_kind_dense');
    END LOOP;
END
$$;

ALTER TABLE ann_indexes DROP CONSTRAINT ann_indexes_element_check;
ALTER TABLE ann_indexes ADD CONSTRAINT ann_indexes_element_check
    CHECK (element IN ('vector', 'halfvec', 'bit', 'sparsevec'));
COMMENT ON COLUMN ann_indexes.element IS
    'Element type of the indexed expression: vector (up to 2000 dimensions), halfvec (up to 4000; also a half-quantized index), bit (a binary-quantized index or a bit collection) or sparsevec (a sparse collection).';

CREATE OR REPLACE FUNCTION embedstore_collections_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.id IS DISTINCT FROM OLD.id
           OR NEW.dimension IS DISTINCT FROM OLD.dimension
           OR NEW.metric IS DISTINCT FROM OLD.metric
           OR NEW.kind IS DISTINCT FROM OLD.kind THEN
            RAISE EXCEPTION 'collection % cannot change its id, kind, dimension or metric (its partition and indexes depend on them): create a new collection', quote_literal(OLD.name)
                USING ERRCODE = 'check_violation', CONSTRAINT = 'collections_spec_immutable';
        END IF;
        RETURN NEW;
    END IF;
    IF to_regclass(format('%I.%I', TG_TABLE_SCHEMA, 'embeddings_' || OLD.id)) IS NOT NULL THEN
        RAISE EXCEPTION 'collection % still has its partition embeddings_%: drop the collection with embedstore (or DROP TABLE its partition first)', quote_literal(OLD.name), OLD.id
            USING ERRCODE = 'dependent_objects_still_exist', CONSTRAINT = 'collections_partition_exists';
    END IF;
    RETURN OLD;
END
$$;
COMMENT ON FUNCTION embedstore_collections_guard() IS
    'Trigger function: refuses changes of a collection''s id, kind, dimension or metric, and deleting a collection whose partition still exists.';
