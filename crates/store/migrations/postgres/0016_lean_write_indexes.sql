-- Fewer index pages written per inbound mail (issue 5's ingest benchmark counted the pages
-- each mail's commit writes: 42 against 8 for a bare insert). Every index entry a write adds
-- is one more page in the commit.
-- * inbound_mail_header_id: no query reads inbound mail by its Message-ID (threading reads
--   messages.mail_message_id), yet every receipt and every finish wrote it.
-- * cases_customer: cases_customer_timeline (tenant_id, customer_id, created_at DESC, id DESC)
--   serves every read it served.
-- * timeline_events_household and messages_delivery: most rows have no household and no
--   delivery (inbound messages); every read of them names a household or delivery states, so
--   the indexes hold only the rows that have one.
DROP INDEX inbound_mail_header_id;
DROP INDEX cases_customer;
DROP INDEX timeline_events_household;
CREATE INDEX timeline_events_household ON timeline_events (tenant_id, household_id, at DESC, id DESC)
    WHERE household_id IS NOT NULL;
DROP INDEX messages_delivery;
CREATE INDEX messages_delivery ON messages (delivery_state, next_attempt_at)
    WHERE delivery_state IS NOT NULL;
