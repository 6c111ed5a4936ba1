-- Lookups "this customer's (or case's) rows of this tenant" read an index that leads with both
-- columns. Without table statistics SQLite takes `tenant_id = ?` for selective and read the
-- tenant's whole range of another index instead (measured at 1,000,000 customers: a profile's
-- tags scanned every tag of the tenant, its contacts every contact; reading a profile took
-- hundreds of milliseconds). With these, the index that matches both equalities wins.
CREATE INDEX customer_tags_customer ON customer_tags (tenant_id, customer_id, tag);
CREATE INDEX customer_contacts_owner ON customer_contacts (tenant_id, customer_id, kind);
CREATE INDEX messages_case_thread ON messages (tenant_id, case_id, created_at, id);
CREATE INDEX order_lines_order_tenant ON order_lines (tenant_id, order_id);
