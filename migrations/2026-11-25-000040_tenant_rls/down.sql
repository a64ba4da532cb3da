DROP POLICY embeddings_tenant_isolation ON embeddings;
ALTER TABLE embeddings DISABLE ROW LEVEL SECURITY;
ALTER TABLE embeddings DROP COLUMN tenant;
