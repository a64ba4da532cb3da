-- Tenant isolation with row-level security (optional: rows without a tenant behave as before).
--
-- A unit of work bound to a tenant (Store::write_for_tenant / read_for_tenant) runs
-- set_config('embedstore.tenant', <tenant>, true) first: the setting lasts until its
-- transaction ends, so it never carries over to the next user of a pooled connection.
-- New rows take the bound tenant by default (no change to the write path), and the policy
-- below limits every SELECT, UPDATE, DELETE and INSERT to the bound tenant's rows, or to rows
-- without a tenant when none is bound. It applies to ordinary roles such as the service's app
-- role (embedstore grant); the table owner and superusers bypass it.
ALTER TABLE embeddings
    ADD COLUMN tenant text
        DEFAULT NULLIF(current_setting('embedstore.tenant', true), '')
        CONSTRAINT embeddings_tenant_check
        CHECK (tenant IS NULL OR octet_length(tenant) BETWEEN 1 AND 256);

COMMENT ON COLUMN embeddings.tenant IS
    'Owning tenant (1..256 bytes) or NULL for rows shared by no tenant; defaults to the tenant the writing transaction is bound to (setting embedstore.tenant).';

ALTER TABLE embeddings ENABLE ROW LEVEL SECURITY;

CREATE POLICY embeddings_tenant_isolation ON embeddings
    USING (tenant IS NOT DISTINCT FROM NULLIF(current_setting('embedstore.tenant', true), ''))
    WITH CHECK (tenant IS NOT DISTINCT FROM NULLIF(current_setting('embedstore.tenant', true), ''));

COMMENT ON POLICY embeddings_tenant_isolation ON embeddings IS
    'Non-owner roles see and write only the rows of the tenant bound by set_config(''embedstore.tenant'', …, true), or rows without a tenant when none is bound.';
