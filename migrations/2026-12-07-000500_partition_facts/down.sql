DROP FUNCTION embedstore_partition_bytes(regclass);
DROP FUNCTION embedstore_index_bytes(regclass);
DROP FUNCTION embedstore_partition_facts(regclass);
DROP FUNCTION embedstore_bound_tenant();
