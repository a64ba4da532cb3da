-- The catalog and the partitions must agree whoever writes to them (psql, ETL, a second
-- service): a collection's id, dimension and metric are fixed once its partition exists (its
-- CHECK and the ANN index's operator class depend on them), and a collection row goes only
-- after its partition (embedstore's drop removes the partition first), so no partition is
-- ever orphaned.
CREATE FUNCTION embedstore_collections_guard() RETURNS trigger
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

CREATE TRIGGER collections_guard
    BEFORE UPDATE OR DELETE ON collections
    FOR EACH ROW EXECUTE FUNCTION embedstore_collections_guard();

COMMENT ON TRIGGER collections_guard ON collections IS
    'Keeps collections consistent with their partitions: see embedstore_collections_guard().';
