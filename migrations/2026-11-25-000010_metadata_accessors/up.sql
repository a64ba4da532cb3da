-- Typed accessors for metadata filters and payload indexes. A filter on path P renders as
-- embedstore_jsonb_<type>(metadata #> $p::text[]) <op> $v::<type>, and a payload index is
-- built on embedstore_jsonb_<type>(metadata #> '<path>'::text[]): the same IMMUTABLE
-- expression, so the planner matches them. Each returns NULL for a value of another JSON type,
-- so a comparison never matches across types (jsonb's own cross-type ordering never leaks).

CREATE FUNCTION embedstore_jsonb_text(value jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(value) = 'string' THEN value #>> '{}' END
$$;
COMMENT ON FUNCTION embedstore_jsonb_text(jsonb) IS
    'The string held by a jsonb value, or NULL when it is not a JSON string (metadata filters and keyword payload indexes).';

CREATE FUNCTION embedstore_jsonb_numeric(value jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(value) = 'number' THEN value::numeric END
$$;
COMMENT ON FUNCTION embedstore_jsonb_numeric(jsonb) IS
    'The number held by a jsonb value as exact numeric, or NULL when it is not a JSON number (metadata filters and integer/float payload indexes).';

CREATE FUNCTION embedstore_jsonb_bool(value jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(value) = 'boolean' THEN value::boolean END
$$;
COMMENT ON FUNCTION embedstore_jsonb_bool(jsonb) IS
    'The boolean held by a jsonb value, or NULL when it is not a JSON boolean (metadata filters and bool payload indexes).';

-- text::timestamptz is only STABLE: it reads the session's TimeZone for strings without an
-- offset, and DateStyle for ambiguous forms like 01/02/03. This function casts only strings
-- that pass the regular expression below first — ISO 8601 order with an explicit Z or +hh:mm
-- offset — whose instant depends on neither setting, so declaring it IMMUTABLE is honest and
-- an index on it never goes stale when a session changes its TimeZone. The checks run as
-- separate steps (SQL's AND/OR fix no evaluation order) so the cast never sees a string it
-- would refuse: the regex bounds every field, then year 0000 and days past the month's end
-- are excluded. Offsets are limited to ±15:59 (PostgreSQL's range); leap seconds (:60) are
-- not accepted. The Rust filter code (filter::timestamp::is_timestamp) applies the same rules.
-- PL/pgSQL rather than SQL: a SQL function containing a STABLE cast is never inlined, and the
-- SQL-function executor took twice as long per row as this.
CREATE FUNCTION embedstore_jsonb_timestamptz(value jsonb) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    text_value text;
BEGIN
    IF jsonb_typeof(value) <> 'string' THEN
        RETURN NULL;
    END IF;
    text_value := value #>> '{}';
    IF text_value !~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?([Zz]|[+-](0[0-9]|1[0-5]):[0-5][0-9])$' THEN
        RETURN NULL;
    END IF;
    IF substr(text_value, 1, 4) = '0000' THEN
        RETURN NULL;
    END IF;
    IF substr(text_value, 9, 2)::integer > extract(day FROM
            make_date(substr(text_value, 1, 4)::integer, substr(text_value, 6, 2)::integer, 1)
            + interval '1 month' - interval '1 day') THEN
        RETURN NULL;
    END IF;
    RETURN text_value::timestamptz;
END
$$;
COMMENT ON FUNCTION embedstore_jsonb_timestamptz(jsonb) IS
    'The instant held by a jsonb string in RFC 3339 form with an explicit offset or Z (e.g. 2026-11-25T08:00:00Z), or NULL for any other value. IMMUTABLE because such strings do not depend on the session TimeZone (metadata filters and timestamp payload indexes).';
