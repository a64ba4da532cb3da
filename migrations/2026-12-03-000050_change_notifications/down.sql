DROP TRIGGER collections_notify_truncate ON collections;
DROP TRIGGER collections_notify_changes ON collections;
DROP FUNCTION embedstore_notify_collections();
DROP TRIGGER embeddings_notify_truncate ON embeddings;
DROP TRIGGER embeddings_notify_changes ON embeddings;
-- CASCADE: also the TRUNCATE trigger of every partition.
DROP FUNCTION embedstore_notify_embeddings() CASCADE;
