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
-- * The deduplication key is unique only where it is set (a partial unique index): a
--   receipt no longer adds a NULL entry that its finish then removes.
ALTER TABLE inbound_mail DROP CONSTRAINT inbound_mail_tenant_id_dedupe_key_key;
CREATE UNIQUE INDEX inbound_mail_dedupe ON inbound_mail (tenant_id, dedupe_key)
    WHERE dedupe_key IS NOT NULL;
