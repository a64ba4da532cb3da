DROP TRIGGER collections_guard ON collections;
DROP FUNCTION embedstore_collections_guard();
