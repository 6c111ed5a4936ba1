-- Fewer pages written per inbound mail, continued (issue 5's ingest benchmark).
-- * inbound_mail_state: no query reads inbound mail by state (they read by id, by raw SHA-256,
--   by deduplication key, or list by id), yet every receipt added an entry and every finish
--   moved it. Each entry a write adds or moves is one more page in the mail's commit.
-- * inbound_mail_mailboxes from now on holds only the mailboxes a mail came through besides
--   its own (`inbound_mail.mailbox`, the first); rows written before for the first mailbox
--   stay and read the same (the mailboxes are read as a set).
DROP INDEX inbound_mail_state;
