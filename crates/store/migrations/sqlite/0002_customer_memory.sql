-- Customer memory (issue 3, principles P1/P2): preferences with provenance and history,
-- notes, flags, tags, and the per-customer timeline. Conventions as in 0001: epoch-ms BIGINT
-- times, SMALLINT 0/1 flags, JSON as TEXT, tenant_id on every row.

-- A preference is a structured `key = value` fact. Rows are never updated in place except to
-- confirm them or to retire them: changing a value inserts a new row and marks the old one
-- superseded (active = 0, superseded_at, superseded_by), so the history is kept.
CREATE TABLE customer_preferences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    pref_key TEXT NOT NULL,
    value TEXT NOT NULL,
    -- agent | customer | email | order | import
    source TEXT NOT NULL,
    -- where it was learned, in words or as a reference (e.g. "case #12", "check-in call")
    learned_from TEXT,
    recorded_by BIGINT REFERENCES users(id),
    learned_at BIGINT NOT NULL,
    confirmed_at BIGINT NOT NULL,
    standing SMALLINT NOT NULL DEFAULT 0,
    active SMALLINT NOT NULL DEFAULT 1,
    superseded_at BIGINT,
    superseded_by BIGINT
);
CREATE UNIQUE INDEX customer_preferences_one_active
    ON customer_preferences (tenant_id, customer_id, pref_key) WHERE active = 1;
CREATE INDEX customer_preferences_customer
    ON customer_preferences (tenant_id, customer_id, pref_key, learned_at);

CREATE TABLE customer_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    author_id BIGINT REFERENCES users(id),
    body TEXT NOT NULL,
    pinned SMALLINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX customer_notes_customer ON customer_notes (tenant_id, customer_id, pinned, created_at);

-- vip | abusive | fraud_suspect. A flag is set with a reason and cleared later; cleared rows
-- stay as history. At most one uncleared row per customer and flag.
CREATE TABLE customer_flags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    flag TEXT NOT NULL,
    reason TEXT NOT NULL,
    set_by BIGINT REFERENCES users(id),
    set_at BIGINT NOT NULL,
    cleared_by BIGINT REFERENCES users(id),
    cleared_at BIGINT
);
CREATE UNIQUE INDEX customer_flags_one_set
    ON customer_flags (tenant_id, customer_id, flag) WHERE cleared_at IS NULL;
CREATE INDEX customer_flags_customer ON customer_flags (tenant_id, customer_id, set_at);

CREATE TABLE customer_tags (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    tag TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (customer_id, tag)
);
CREATE INDEX customer_tags_tag ON customer_tags (tenant_id, tag);

-- One chronological stream per customer (and household). Orders and cases are read from
-- their own tables and merged in when the timeline is read; everything else that happens to
-- a customer is appended here. `summary` is a small JSON object for display.
CREATE TABLE timeline_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    household_id BIGINT,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor_id BIGINT,
    ref_kind TEXT,
    ref_id BIGINT,
    summary TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_events_customer ON timeline_events (tenant_id, customer_id, at DESC, id DESC);
CREATE INDEX timeline_events_customer_kind
    ON timeline_events (tenant_id, customer_id, kind, at DESC, id DESC);
CREATE INDEX timeline_events_household ON timeline_events (tenant_id, household_id, at DESC, id DESC);

-- The timeline's other sources, read newest first per customer.
CREATE INDEX cases_customer_timeline ON cases (tenant_id, customer_id, created_at DESC, id DESC);
