-- The portal, continued (issue 7): customers asking for their own sign-in link (throttled per
-- address and per client address), CSAT reminders that keep the first link working, and
-- periodic NPS surveys per tenant setting.

-- One row per sign-in link request from the portal's sign-in page, known address or not, so
-- the throttle says nothing about which addresses exist. `email` is normalised.
CREATE TABLE portal_link_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    email TEXT NOT NULL,
    ip TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX portal_link_requests_email ON portal_link_requests (tenant_id, email, at);
CREATE INDEX portal_link_requests_ip ON portal_link_requests (ip, at);

-- The reminder's own link (SHA-256 of its token): the first link keeps working beside it.
ALTER TABLE csat_surveys ADD COLUMN reminder_token_hash TEXT;
CREATE UNIQUE INDEX csat_surveys_reminder_token ON csat_surveys (reminder_token_hash);

-- Net Promoter Score: one survey per customer per period (`period_start`, epoch ms of the
-- period's first instant, so a period is asked once). agent_id/team_id: owner and team of the
-- customer's last solved case (for team scorecards). The link is stored as its SHA-256 only
-- and works once until expires_at. state: queued | sent | failed (the mail).
CREATE TABLE nps_surveys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL,
    period_start BIGINT NOT NULL,
    agent_id BIGINT,
    team_id BIGINT,
    token_hash TEXT UNIQUE,
    state TEXT NOT NULL DEFAULT 'queued',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    expires_at BIGINT NOT NULL,
    score BIGINT,
    comment TEXT,
    answered_at BIGINT,
    UNIQUE (tenant_id, customer_id, period_start)
);
CREATE INDEX nps_surveys_due ON nps_surveys (state, next_attempt_at);
CREATE INDEX nps_surveys_answered ON nps_surveys (tenant_id, answered_at);
