-- Issue 22, items 1 and 6: what the numbers in docs/decisions/0025-reported-path-from-the-plan.md
-- rest on, measured in PostgreSQL alone (no embedstore code, so nothing of ours is measured
-- against itself): a filter no payload index serves, rare (0.77 % of 20,000 rows of 64
-- dimensions) and common (40 %), answered by walking the HNSW graph (the filtered ANN
-- statement's settings: enable_seqscan/bitmapscan/sort off, relaxed iterative scan) and by an
-- exact scan; what the filter sample, the plan verdict's EXPLAIN and one ANALYZE cost.
-- p50 of 30 queries (stored vectors), in ms, each pair in the same run.
--
--   psql "$DATABASE_URL" -f crates/bench/sql/rare-filter.sql
--
-- Works in a schema of its own, dropped at the end; needs the vector extension.
CREATE SCHEMA rare_filter_bench;
SET search_path = rare_filter_bench, public;
CREATE TABLE m (id bigint generated always as identity primary key, embedding vector not null, metadata jsonb not null);
INSERT INTO m (embedding, metadata)
SELECT (SELECT array_agg(random()-0.5) FROM generate_series(1,64) s WHERE g>0)::vector,
       jsonb_build_object('doc', CASE WHEN g % 130 = 0 THEN 'style-guide' WHEN g % 5 < 2 THEN 'manual' ELSE 'page-' || (g % 97) END)
FROM generate_series(1,20000) g;
\timing on
-- One ANALYZE of the 20,000 rows (what the end of an ingest costs at this size):
ANALYZE m;
\timing off
CREATE INDEX m_ann ON m USING hnsw ((embedding::vector(64)) vector_cosine_ops);
ANALYZE m;
CREATE OR REPLACE FUNCTION bench(sql text, runs int, forced bool) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; total float8 := 0; q vector; times float8[] := '{}';
BEGIN
  FOR i IN 1..runs LOOP
    SELECT embedding INTO q FROM m WHERE id = i * 37;
    IF forced THEN
      PERFORM set_config('enable_seqscan','off',true); PERFORM set_config('enable_bitmapscan','off',true); PERFORM set_config('enable_sort','off',true);
      PERFORM set_config('hnsw.iterative_scan','relaxed_order',true);
    ELSE
      PERFORM set_config('enable_seqscan','on',true); PERFORM set_config('enable_bitmapscan','on',true); PERFORM set_config('enable_sort','on',true);
    END IF;
    t0 := clock_timestamp();
    EXECUTE sql USING q;
    times := times || extract(epoch from clock_timestamp() - t0) * 1000;
  END LOOP;
  RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x);
END $$;
SELECT 'rare 0.77% walk (forced ANN, relaxed)' AS what, round(bench($q$SELECT count(*) FROM (SELECT id FROM m WHERE metadata->>'doc' = 'style-guide' ORDER BY embedding::vector(64) <=> $1 LIMIT 10) x$q$, 30, true)::numeric, 2) AS p50_ms
UNION ALL SELECT 'rare 0.77% exact scan', round(bench($q$SELECT count(*) FROM (SELECT id FROM m WHERE metadata->>'doc' = 'style-guide' ORDER BY embedding <=> $1, id LIMIT 10) x$q$, 30, false)::numeric, 2)
UNION ALL SELECT 'common 40% walk (forced ANN, relaxed)', round(bench($q$SELECT count(*) FROM (SELECT id FROM m WHERE metadata->>'doc' = 'manual' ORDER BY embedding::vector(64) <=> $1 LIMIT 10) x$q$, 30, true)::numeric, 2)
UNION ALL SELECT 'common 40% exact scan', round(bench($q$SELECT count(*) FROM (SELECT id FROM m WHERE metadata->>'doc' = 'manual' ORDER BY embedding <=> $1, id LIMIT 10) x$q$, 30, false)::numeric, 2)
UNION ALL SELECT 'filter sample (256 pages)', round(bench($q$SELECT count(*) FILTER (WHERE metadata->>'doc' = 'style-guide' AND $1 IS NOT NULL), count(*) FROM m TABLESAMPLE SYSTEM (256.0 * 100 / (pg_relation_size('m') / 8192)) REPEATABLE (22)$q$, 30, false)::numeric, 2)
UNION ALL SELECT 'plan verdict EXPLAIN', round(bench($q$EXPLAIN (FORMAT JSON) SELECT id FROM m ORDER BY embedding::vector(64) <=> $1 LIMIT 100$q$, 30, false)::numeric, 2);
SELECT pg_relation_size('m')/8192 AS pages;
DROP SCHEMA rare_filter_bench CASCADE;
