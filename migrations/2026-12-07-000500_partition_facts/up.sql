-- What embedstore reads about a collection's partition (statistics, counters, sizes) goes
-- through these functions, so that the same statements are true on one server and on a Citus
-- cluster (issue 24). Here they read the local catalogs. `embedstore distribute` replaces them
-- on a Citus coordinator with versions that add up the partition's shards on the workers:
-- there the coordinator's partition is an empty shell, and its statistics, counters and sizes
-- would all be zero.

-- The tenant a transaction is bound to: set_config('embedstore.tenant', …, true) on one server;
-- on Citus, where only SET LOCAL reaches the workers (citus.propagate_set_commands = 'local'),
-- embedstore binds SET LOCAL embedstore.tenant_hex = '<hex of the UTF-8 bytes>': SQL text made
-- of hex digits only, so that no caller text is ever spliced into a statement.
CREATE FUNCTION embedstore_bound_tenant() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        NULLIF(current_setting('embedstore.tenant', true), ''),
        NULLIF(convert_from(decode(coalesce(current_setting('embedstore.tenant_hex', true), ''), 'hex'), 'UTF8'), ''))
$$;
COMMENT ON FUNCTION embedstore_bound_tenant() IS
    'The tenant this transaction is bound to (setting embedstore.tenant, or embedstore.tenant_hex as hex of its UTF-8 bytes on Citus), or NULL. The tenant policy and default use it once a database is distributed.';

CREATE FUNCTION embedstore_partition_facts(partition regclass)
RETURNS TABLE (analyzed boolean, reltuples float8, modified bigint, analyzes bigint,
               bytes bigint, updates bigint, deletes bigint, dead_tuples bigint,
               live_tuples bigint, last_vacuum timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_stats p
                   WHERE p.schemaname = n.nspname AND p.tablename = c.relname),
           c.reltuples::float8,
           coalesce(pg_stat_get_mod_since_analyze(c.oid), 0)::bigint,
           (pg_stat_get_analyze_count(c.oid) + pg_stat_get_autoanalyze_count(c.oid))::bigint,
           pg_relation_size(c.oid),
           s.n_tup_upd, s.n_tup_del, s.n_dead_tup, s.n_live_tup,
           greatest(s.last_vacuum, s.last_autovacuum)
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
    WHERE c.oid = partition
$$;
COMMENT ON FUNCTION embedstore_partition_facts(regclass) IS
    'A partition''s planner statistics (analyzed, reltuples, changes since analyze, analyze count), main-fork size and pg_stat_user_tables counters; on a distributed database, the sums over its shards.';

CREATE FUNCTION embedstore_index_bytes(index regclass) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT pg_relation_size(index)
$$;
COMMENT ON FUNCTION embedstore_index_bytes(regclass) IS
    'Size of an index of a partition; on a distributed database, the sum over its shards.';

CREATE FUNCTION embedstore_partition_bytes(partition regclass, OUT total_bytes bigint, OUT index_bytes bigint)
LANGUAGE sql STABLE AS $$
    SELECT pg_total_relation_size(partition), pg_indexes_size(partition)
$$;
COMMENT ON FUNCTION embedstore_partition_bytes(regclass) IS
    'A partition''s total size (table, TOAST, indexes) and its indexes'' size; on a distributed database, the sums over its shards.';
