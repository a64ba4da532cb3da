-- pgvector provides the `vector` and `halfvec` types and the distance operators.
-- Creating it needs a superuser (the extension is not marked trusted); where a DBA has
-- already created it, IF NOT EXISTS makes this a no-op for an ordinary owner role.
CREATE EXTENSION IF NOT EXISTS vector;

-- embedstore relies on iterative index scans (hnsw.iterative_scan), added in pgvector 0.8.
DO $$
DECLARE
    installed text := (SELECT extversion FROM pg_extension WHERE extname = 'vector');
BEGIN
    IF string_to_array(split_part(installed, '-', 1), '.')::int[] < ARRAY[0, 8] THEN
        RAISE EXCEPTION 'embedstore needs pgvector >= 0.8, found %', installed
            USING HINT = 'ALTER EXTENSION vector UPDATE, after installing a newer pgvector';
    END IF;
END
$$;

-- Keeps updated_at true for every UPDATE, including ones made outside embedstore (psql, ETL).
CREATE FUNCTION embedstore_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION embedstore_touch_updated_at() IS
    'Trigger function: sets updated_at to the transaction time on every UPDATE.';
