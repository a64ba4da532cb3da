DROP FUNCTION embedstore_jsonb_timestamptz(jsonb);
DROP FUNCTION embedstore_jsonb_bool(jsonb);
DROP FUNCTION embedstore_jsonb_numeric(jsonb);
DROP FUNCTION embedstore_jsonb_text(jsonb);
