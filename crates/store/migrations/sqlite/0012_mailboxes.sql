-- Mail, continued (issue 5): mailboxes polled over IMAP ("email channels"), tenant data.
-- Settings (server, TLS mode, user, password, folder, what to do with a message once it is
-- committed, poll interval, on/off, the acknowledgement switch: NULL follows the tenant's
-- setting) sit beside the poller's state: the UIDVALIDITY/UID checkpoint (the last UID whose
-- message was committed and marked), a lease so one node polls a mailbox at a time, the next
-- poll time and the last outcome (error text shown to admins). The password is never returned
-- by the API.

CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    imap_host TEXT NOT NULL,
    imap_port BIGINT NOT NULL,
    -- tls, starttls or plain (plain only for tests against a local server).
    tls_mode TEXT NOT NULL,
    username TEXT NOT NULL,
    password TEXT NOT NULL,
    folder TEXT NOT NULL,
    -- seen (mark \Seen) or move (to move_to).
    after_commit TEXT NOT NULL,
    move_to TEXT,
    poll_interval_secs BIGINT NOT NULL,
    enabled SMALLINT NOT NULL,
    acknowledge SMALLINT,
    uid_validity BIGINT,
    last_uid BIGINT NOT NULL DEFAULT 0,
    next_poll_at BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    last_polled_at BIGINT,
    last_success_at BIGINT,
    last_error TEXT,
    last_error_at BIGINT,
    messages_taken BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX mailboxes_due ON mailboxes (enabled, next_poll_at);
