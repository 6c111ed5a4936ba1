-- Mail (issue 5): every inbound delivery is kept raw before it is parsed, deduplicated by
-- its raw bytes (the same delivery twice is one row) and by a key of Message-ID + content
-- (the same mail through two mailboxes is one message); the mailboxes each mail came
-- through; and the Message-ID of every stored message, so replies thread by
-- In-Reply-To/References and outbound replies carry a stable Message-ID across retries.

CREATE TABLE inbound_mail (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    mailbox TEXT NOT NULL,
    raw BLOB NOT NULL,
    raw_sha256 TEXT NOT NULL,
    raw_size BIGINT NOT NULL,
    header_message_id TEXT,
    -- Message-ID + content fingerprint; set when the mail is claimed for processing.
    dedupe_key TEXT,
    -- received, processing (processed_at: lease start), processed, duplicate, ignored or
    -- quarantined.
    state TEXT NOT NULL,
    error TEXT,
    case_id BIGINT,
    message_id BIGINT,
    duplicate_of BIGINT,
    detail TEXT NOT NULL DEFAULT '{}',
    received_at BIGINT NOT NULL,
    processed_at BIGINT,
    UNIQUE (tenant_id, raw_sha256),
    UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX inbound_mail_state ON inbound_mail (tenant_id, state, received_at);
CREATE INDEX inbound_mail_header_id ON inbound_mail (tenant_id, header_message_id);

-- Every mailbox a mail was delivered to (a mail sent to two mailboxes lands once).
CREATE TABLE inbound_mail_mailboxes (
    tenant_id BIGINT NOT NULL,
    inbound_id BIGINT NOT NULL REFERENCES inbound_mail(id),
    mailbox TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (inbound_id, mailbox)
);

ALTER TABLE messages ADD COLUMN mail_message_id TEXT;
ALTER TABLE messages ADD COLUMN delivery_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN next_attempt_at BIGINT;
CREATE INDEX messages_mail_id ON messages (tenant_id, mail_message_id);
CREATE INDEX messages_delivery ON messages (delivery_state, next_attempt_at);
