-- Identity (issues 3 and 5): find-or-create safe under concurrency, and duplicate blocking.
-- Conventions as in 0001.

-- The normalised contact (`email:ann@x.com`, or `phone:+8210...` when there is no email) a
-- customer was created from by the inbound find-or-create. At most one live customer per
-- tenant holds a key, so two concurrent first mails from one new address create one
-- customer: the second insert finds the key taken and reads the first. Merged and erased
-- customers do not hold keys (an erasure also clears it).
ALTER TABLE customers ADD COLUMN identity_key TEXT;
CREATE UNIQUE INDEX customers_identity_key ON customers (tenant_id, identity_key)
    WHERE identity_key IS NOT NULL AND merged_into IS NULL AND erased_at IS NULL;

-- Duplicate candidates are read per customer, block by block: customers at one household
-- address.
CREATE INDEX households_address ON households (tenant_id, address);
