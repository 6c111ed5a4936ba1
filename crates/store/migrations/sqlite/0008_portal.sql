-- The customer portal (issue 7 items 1, 2, 4): mails that tell a customer their case changed
-- step, and satisfaction surveys (CSAT after a solved case).

-- One mail per customer-visible case event the customer wants to hear about (unique by event,
-- so scanning the events twice queues nothing twice). The text is written when it is sent
-- (in the customer's language, with fresh one-time links whose hashes only are stored).
-- state: queued | sent | failed.
CREATE TABLE customer_notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL,
    case_id BIGINT NOT NULL,
    event_id BIGINT NOT NULL UNIQUE,
    step TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'queued',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX customer_notices_due ON customer_notices (state, next_attempt_at);
CREATE INDEX customer_notices_case ON customer_notices (tenant_id, case_id, id);

-- How far a feed (here: customer-visible case events → notices) has read, by name.
CREATE TABLE feed_cursors (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
-- Events that happened before this migration are history, not news.
INSERT INTO feed_cursors (name, value)
    SELECT 'customer_notices', COALESCE(MAX(id), 0) FROM case_events;

-- Satisfaction after a solved case: one survey per case. The link's token is stored as its
-- SHA-256 only (NULL until a link was mailed); it works until expires_at and once only.
-- agent_id/team_id: the owner and team when the case was solved (for scorecards).
-- score 1-5 and comment (plain text) once answered; via: mail | portal.
CREATE TABLE csat_surveys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    case_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL,
    agent_id BIGINT,
    team_id BIGINT,
    token_hash TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    reminded_at BIGINT,
    score BIGINT,
    comment TEXT,
    answered_at BIGINT,
    via TEXT,
    UNIQUE (tenant_id, case_id)
);
CREATE INDEX csat_surveys_open ON csat_surveys (answered_at, reminded_at, created_at);
CREATE INDEX csat_surveys_agent ON csat_surveys (tenant_id, agent_id, answered_at);
