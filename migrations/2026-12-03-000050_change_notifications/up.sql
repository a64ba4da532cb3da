-- Change notifications for the per-store cache of hot lookups (issue 12): every committed
-- change to embeddings or collections sends NOTIFY embedstore_changes, whoever writes (another
-- service, psql, ETL), so that every store's cache can forget what changed.
--
-- Payloads: 'e:<collection id>:<origin>' (rows of the collection changed),
-- 'c:<collection id>:<origin>' (the collection row changed or went), '*:<origin>' (TRUNCATE:
-- everything). <origin> is the writer's session setting embedstore.origin: a caching store
-- sets it on its pooled connections and skips its own notifications, since it forgets the
-- exact keys of its own writes at commit. Everyone else leaves it empty.
--
-- Only UPDATE and DELETE notify, not INSERT: a cache keeps rows it found, never the absence
-- of one, so a new row cannot make any cached entry stale — and the bulk paths (COPY, ingest)
-- pay no trigger at all.
--
-- Row-level triggers on the partitioned table are cloned to every partition (existing and
-- future ones), so writes straight into a partition notify too. One payload per collection,
-- not per row: PostgreSQL sends identical payloads of one transaction once (a hash lookup per
-- row beyond 16 notifications), so a bulk COPY costs a function call per row and sends one
-- notification, at commit — never for a rolled-back transaction.
CREATE FUNCTION embedstore_notify_embeddings() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    origin text := coalesce(current_setting('embedstore.origin', true), '');
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('embedstore_changes', '*:' || origin);
        RETURN NULL;
    END IF;
    PERFORM pg_notify('embedstore_changes', 'e:' || OLD.collection_id || ':' || origin);
    IF TG_OP = 'UPDATE' AND NEW.collection_id IS DISTINCT FROM OLD.collection_id THEN
        PERFORM pg_notify('embedstore_changes', 'e:' || NEW.collection_id || ':' || origin);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION embedstore_notify_embeddings() IS
    'Trigger function: NOTIFY embedstore_changes with ''e:<collection id>:<origin>'' for every updated or deleted row (one notification per collection and transaction), ''*:<origin>'' for TRUNCATE.';

CREATE TRIGGER embeddings_notify_changes
    AFTER UPDATE OR DELETE ON embeddings
    FOR EACH ROW EXECUTE FUNCTION embedstore_notify_embeddings();
COMMENT ON TRIGGER embeddings_notify_changes ON embeddings IS
    'Tells caching stores which collection changed: see embedstore_notify_embeddings().';

CREATE TRIGGER embeddings_notify_truncate
    AFTER TRUNCATE ON embeddings
    FOR EACH STATEMENT EXECUTE FUNCTION embedstore_notify_embeddings();
COMMENT ON TRIGGER embeddings_notify_truncate ON embeddings IS
    'Tells caching stores that every collection may have changed: see embedstore_notify_embeddings().';

-- Statement-level triggers are not inherited: each partition gets its own TRUNCATE trigger
-- (embedstore creates it with the partition from now on).
DO $$
DECLARE
    collection_id integer;
BEGIN
    FOR collection_id IN SELECT id FROM collections LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION embedstore_notify_embeddings()',
            'embeddings_' || collection_id || '_notify_truncate', 'embeddings_' || collection_id);
    END LOOP;
END
$$;

CREATE FUNCTION embedstore_notify_collections() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    origin text := coalesce(current_setting('embedstore.origin', true), '');
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('embedstore_changes', '*:' || origin);
    ELSE
        PERFORM pg_notify('embedstore_changes', 'c:' || OLD.id || ':' || origin);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION embedstore_notify_collections() IS
    'Trigger function: NOTIFY embedstore_changes with ''c:<collection id>:<origin>'' when a collection row changes or is deleted, ''*:<origin>'' for TRUNCATE.';

CREATE TRIGGER collections_notify_changes
    AFTER UPDATE OR DELETE ON collections
    FOR EACH ROW EXECUTE FUNCTION embedstore_notify_collections();
COMMENT ON TRIGGER collections_notify_changes ON collections IS
    'Tells caching stores which collection handle changed: see embedstore_notify_collections().';

CREATE TRIGGER collections_notify_truncate
    AFTER TRUNCATE ON collections
    FOR EACH STATEMENT EXECUTE FUNCTION embedstore_notify_collections();
COMMENT ON TRIGGER collections_notify_truncate ON collections IS
    'Tells caching stores that every collection may have changed: see embedstore_notify_collections().';
