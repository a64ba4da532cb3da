-- Refuses to run while sparse or bit collections exist: their vectors have no place in the
-- dense-only schema, and a migration must not drop data silently.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM collections WHERE kind <> 'dense') THEN
        RAISE EXCEPTION 'sparse or bit collections exist: drop them before reverting migration 000400_vector_kinds';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION embedstore_collections_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.id IS DISTINCT FROM OLD.id
           OR NEW.dimension IS DISTINCT FROM OLD.dimension
           OR NEW.metric IS DISTINCT FROM OLD.metric THEN
            RAISE EXCEPTION 'collection % cannot change its id, dimension or metric (its partition and indexes depend on them): create a new collection', quote_literal(OLD.name)
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
    'Trigger function: refuses changes of a collection''s id, dimension or metric, and deleting a collection whose partition still exists.';

ALTER TABLE ann_indexes DROP CONSTRAINT ann_indexes_element_check;
ALTER TABLE ann_indexes ADD CONSTRAINT ann_indexes_element_check
    CHECK (element IN ('vector', 'halfvec', 'bit'));
COMMENT ON COLUMN ann_indexes.element IS
    'Element type of the indexed expression: vector (up to 2000 dimensions), halfvec (up to 4000; also a half-quantized index) or bit (a binary-quantized index).';

DO $$
DECLARE
    id integer;
BEGIN
    FOR id IN SELECT c.id FROM collections c LOOP
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT IF EXISTS %I',
                       'embeddings_' || id, 'embeddings_' || id || '_kind_dense');
    END LOOP;
END
$$;

ALTER TABLE embeddings DROP CONSTRAINT embeddings_one_vector;
ALTER TABLE embeddings DROP COLUMN bits;
ALTER TABLE embeddings DROP COLUMN sparse;
ALTER TABLE embeddings ALTER COLUMN embedding SET NOT NULL;
COMMENT ON COLUMN embeddings.embedding IS
    'The vector. Untyped here because collections differ in dimension; each partition''s CHECK enforces its collection''s dimension.';

ALTER TABLE collections DROP CONSTRAINT collections_dimension_check;
ALTER TABLE collections ADD CONSTRAINT collections_dimension_check
    CHECK (dimension BETWEEN 1 AND 16000);
COMMENT ON COLUMN collections.dimension IS
    'Number of values in every vector of this collection (1..16000); enforced on the collection''s partition by a CHECK on vector_dims(embedding).';
ALTER TABLE collections DROP CONSTRAINT collections_metric_check;
ALTER TABLE collections ADD CONSTRAINT collections_metric_check
    CHECK (metric IN ('l2', 'cosine', 'inner_product', 'l1'));
COMMENT ON COLUMN collections.metric IS
    'Distance used for nearest-neighbour search: l2 (<->), cosine (<=>), inner_product (<#>, negated) or l1 (<+>).';
ALTER TABLE collections DROP COLUMN kind;
