DROP FUNCTION IF EXISTS embedstore_touch_updated_at();
DROP EXTENSION IF EXISTS vector;
