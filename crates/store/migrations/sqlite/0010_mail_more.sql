-- Mail, continued (issue 5): the automatic acknowledgement's loop guard. One row per tenant and
-- sender address with the last time an automatic answer went to it; a new one is sent only
-- when that is longer ago than the tenant's window (claimed with one conditional upsert, so
-- two nodes cannot both answer).

CREATE TABLE mail_auto_replies (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    address TEXT NOT NULL,
    last_sent_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, address)
);
