DROP TRIGGER collection_aliases_claim_name ON collection_aliases;
DROP TRIGGER collections_claim_name ON collections;
DROP FUNCTION embedstore_claim_name();
DROP TABLE collection_aliases;
DROP TABLE catalog_names;
