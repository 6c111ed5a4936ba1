-- Fewer pages written per inbound mail, continued (issue 5's ingest benchmark: each index
-- entry a write adds or moves is one more page in the mail's commit).
-- * inbound_mail_state: no query reads inbound mail by state (they read by id, by raw SHA-256,
--   by deduplication key, or list by id), yet every receipt added an entry and every finish
--   moved it.
-- * messages_case (case_id, created_at): every read of a case's messages names the tenant
--   and is served by messages_case_thread (tenant_id, case_id, created_at, id).
-- * cases_status and cases_owner: every read by status or owner leaves merged cases out and
--   is served by the partial cases_listed_status and cases_listed_owner (the count of a team
--   member's open cases now leaves merged cases out too: they are no one's work).
-- * inbound_mail_mailboxes from now on holds only the mailboxes a mail came through besides
--   its own (`inbound_mail.mailbox`, the first); rows written before for the first mailbox
--   stay and read the same (the mailboxes are read as a set).
DROP INDEX inbound_mail_state;
DROP INDEX messages_case;
DROP INDEX cases_status;
DROP INDEX cases_owner;
-- * inbound_mail is rebuilt (SQLite cannot change a table's constraints in place):
--   - the deduplication key is unique only where it is set (a partial unique index): a
--     receipt no longer adds a NULL entry that its finish then removes;
--   - ids without AUTOINCREMENT (no sqlite_sequence page in every receipt's commit). Inbound
--     mail is never deleted (erasure blanks it), so ids still only grow and none is reused.
--   The rows of inbound_mail_mailboxes, which refer to it, are set aside and put back
--   (dropping a table that rows refer to fails their foreign key, and SQLite does not
--   count a renamed table as their parent again).
CREATE TABLE inbound_mail_mailboxes_kept AS SELECT * FROM inbound_mail_mailboxes;
DELETE FROM inbound_mail_mailboxes;
CREATE TABLE inbound_mail_rebuilt (
    id INTEGER PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    mailbox TEXT NOT NULL,
    raw BLOB NOT NULL,
    raw_sha256 TEXT NOT NULL,
    raw_size BIGINT NOT NULL,
    header_message_id TEXT,
    -- Message-ID + content fingerprint; set when the mail's outcome is recorded.
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
    UNIQUE (tenant_id, raw_sha256)
);
INSERT INTO inbound_mail_rebuilt (id, tenant_id, mailbox, raw, raw_sha256, raw_size,
    header_message_id, dedupe_key, state, error, case_id, message_id, duplicate_of, detail,
    received_at, processed_at)
SELECT id, tenant_id, mailbox, raw, raw_sha256, raw_size, header_message_id, dedupe_key, state,
    error, case_id, message_id, duplicate_of, detail, received_at, processed_at
FROM inbound_mail ORDER BY id;
DROP TABLE inbound_mail;
ALTER TABLE inbound_mail_rebuilt RENAME TO inbound_mail;
CREATE UNIQUE INDEX inbound_mail_dedupe ON inbound_mail (tenant_id, dedupe_key)
    WHERE dedupe_key IS NOT NULL;
INSERT INTO inbound_mail_mailboxes (tenant_id, inbound_id, mailbox, received_at)
SELECT tenant_id, inbound_id, mailbox, received_at FROM inbound_mail_mailboxes_kept;
DROP TABLE inbound_mail_mailboxes_kept;
