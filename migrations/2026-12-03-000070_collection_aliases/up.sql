-- Aliases: a name that points at one collection, so that readers and writers can be switched
-- from one collection to another (a new embedding model, a new dimension) in one UPDATE.
--
-- Collection and alias names share one namespace, so that a name always means one thing:
-- catalog_names holds every name of both tables (kept by the triggers below, whoever writes),
-- and its primary key refuses a second owner of a name. A unique index decides between
-- concurrent transactions whatever their isolation level: of a `collection create` and an
-- `alias set` of the same name, the second waits for the first and then fails.
CREATE TABLE catalog_names (
    name text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('collection', 'alias'))
);

COMMENT ON TABLE catalog_names IS
    'Every collection and alias name, so that an alias can never shadow a collection (nor a collection an alias); maintained by triggers on collections and collection_aliases.';
COMMENT ON COLUMN catalog_names.name IS 'A collection''s or an alias''s name; unique across both.';
COMMENT ON COLUMN catalog_names.kind IS 'Which table holds the name: collection or alias.';

INSERT INTO catalog_names (name, kind) SELECT name, 'collection' FROM collections;

CREATE TABLE collection_aliases (
    name          text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    collection_id integer NOT NULL
                  CONSTRAINT collection_aliases_collection_id_fkey
                  REFERENCES collections (id) ON DELETE RESTRICT,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX collection_aliases_collection_id_idx ON collection_aliases (collection_id);

CREATE TRIGGER collection_aliases_touch_updated_at
    BEFORE UPDATE ON collection_aliases
    FOR EACH ROW EXECUTE FUNCTION embedstore_touch_updated_at();

COMMENT ON TABLE collection_aliases IS
    'Names that point at one collection each; moved atomically from one collection to another (e.g. after re-embedding with a new model). A collection with an alias cannot be dropped.';
COMMENT ON COLUMN collection_aliases.name IS
    'The alias: a slug like a collection name, and never the name of a collection (see catalog_names).';
COMMENT ON COLUMN collection_aliases.collection_id IS 'The collection the alias points at (collections.id); ON DELETE RESTRICT.';
COMMENT ON COLUMN collection_aliases.created_at IS 'When the alias was created.';
COMMENT ON COLUMN collection_aliases.updated_at IS 'When the alias was last pointed at a collection (maintained by a trigger).';

-- TG_ARGV[0] is the kind of name the table holds. AFTER triggers: the table's own constraints
-- (its unique name, the slug CHECK) are checked first and keep their own names.
CREATE FUNCTION embedstore_claim_name() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO catalog_names (name, kind) VALUES (NEW.name, TG_ARGV[0]);
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM catalog_names WHERE name = OLD.name;
    ELSIF NEW.name IS DISTINCT FROM OLD.name THEN
        UPDATE catalog_names SET name = NEW.name WHERE name = OLD.name;
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION embedstore_claim_name() IS
    'Trigger function: keeps catalog_names equal to the names in collections and collection_aliases (a name taken by the other table fails on catalog_names_pkey).';

CREATE TRIGGER collections_claim_name
    AFTER INSERT OR DELETE OR UPDATE OF name ON collections
    FOR EACH ROW EXECUTE FUNCTION embedstore_claim_name('collection');

CREATE TRIGGER collection_aliases_claim_name
    AFTER INSERT OR DELETE OR UPDATE OF name ON collection_aliases
    FOR EACH ROW EXECUTE FUNCTION embedstore_claim_name('alias');

COMMENT ON TRIGGER collections_claim_name ON collections IS
    'Claims a collection''s name in catalog_names: see embedstore_claim_name().';
COMMENT ON TRIGGER collection_aliases_claim_name ON collection_aliases IS
    'Claims an alias''s name in catalog_names: see embedstore_claim_name().';
