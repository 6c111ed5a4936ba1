-- Identity and privacy (issue 3): merging duplicate customers with a record that can be
-- undone, remembered "not a duplicate" decisions, and erasure. Conventions as in 0001.

-- A merged customer stays as a tombstone that points to the customer it was merged into;
-- an erased customer keeps its row (statistics) without personal data.
ALTER TABLE customers ADD COLUMN merged_into BIGINT;
ALTER TABLE customers ADD COLUMN merged_at BIGINT;
ALTER TABLE customers ADD COLUMN erased_at BIGINT;

-- One merge of `source_id` into `target_id`. `moved` is a JSON object naming exactly the
-- rows that moved (per table, their ids) and what was changed on them to make room
-- (demoted primary contacts, superseded preferences, cleared flags, dropped duplicate tag and
-- household rows), so an undo moves precisely those rows back.
CREATE TABLE customer_merges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    source_id BIGINT NOT NULL REFERENCES customers(id),
    target_id BIGINT NOT NULL REFERENCES customers(id),
    moved TEXT NOT NULL,
    merged_by BIGINT,
    merged_at BIGINT NOT NULL,
    undone_by BIGINT,
    undone_at BIGINT
);
CREATE INDEX customer_merges_source ON customer_merges (tenant_id, source_id, merged_at);
CREATE INDEX customer_merges_target ON customer_merges (tenant_id, target_id, merged_at);

-- A pair of customers someone decided are not the same person (low id first).
CREATE TABLE customer_duplicate_dismissals (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    low_id BIGINT NOT NULL,
    high_id BIGINT NOT NULL,
    dismissed_by BIGINT,
    dismissed_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, low_id, high_id)
);
