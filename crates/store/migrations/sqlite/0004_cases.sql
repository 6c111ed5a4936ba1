-- Cases (issue 4): the lifecycle around the `cases` and `messages` tables of 0001 — tags,
-- the case's own event stream (audit), service-level targets and escalations fired exactly
-- once, teams with managers and assignment, hand-offs, presence, triggers, macros, reply
-- templates, attachments, tasks, staff notifications and per-tenant settings.

ALTER TABLE cases ADD COLUMN parent_case_id BIGINT;
ALTER TABLE cases ADD COLUMN merged_into BIGINT;
ALTER TABLE cases ADD COLUMN first_response_at BIGINT;
ALTER TABLE cases ADD COLUMN next_due_at BIGINT;
ALTER TABLE cases ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}';
ALTER TABLE cases ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
-- Queue reads: keyset pages by (updated_at, id) within the view's filter.
CREATE INDEX cases_queue_owner ON cases (tenant_id, owner_id, status, updated_at, id);
CREATE INDEX cases_queue_team ON cases (tenant_id, team_id, status, updated_at, id);
CREATE INDEX cases_queue_due ON cases (tenant_id, next_due_at);

ALTER TABLE messages ADD COLUMN author_email TEXT;
ALTER TABLE messages ADD COLUMN route TEXT;
ALTER TABLE messages ADD COLUMN delivery_state TEXT;
ALTER TABLE messages ADD COLUMN delivery_error TEXT;

CREATE TABLE case_tags (
    tenant_id BIGINT NOT NULL,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    tag TEXT NOT NULL,
    PRIMARY KEY (case_id, tag)
);
CREATE INDEX case_tags_tag ON case_tags (tenant_id, tag, case_id);

-- Every change to a case: who, when, what (detail JSON holds before/after). `visibility`
-- is 'customer' for steps the customer may see in the portal, else 'internal'.
CREATE TABLE case_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    kind TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id BIGINT,
    visibility TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    at BIGINT NOT NULL
);
CREATE INDEX case_events_case ON case_events (tenant_id, case_id, at, id);

-- Service-level targets of a case (first response, next response, resolution, hand-off).
CREATE TABLE case_targets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    kind TEXT NOT NULL,
    team_id BIGINT,
    policy_id BIGINT,
    started_at BIGINT NOT NULL,
    business_ms BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    paused_since BIGINT,
    met_at BIGINT,
    cancelled_at BIGINT,
    next_check_at BIGINT
);
CREATE INDEX case_targets_case ON case_targets (tenant_id, case_id);
CREATE INDEX case_targets_check ON case_targets (next_check_at);

-- An escalation step fires once per target: the primary key is the guard.
CREATE TABLE escalations_fired (
    tenant_id BIGINT NOT NULL,
    target_id BIGINT NOT NULL REFERENCES case_targets(id),
    rule_id BIGINT NOT NULL,
    fired_at BIGINT NOT NULL,
    node TEXT NOT NULL,
    PRIMARY KEY (target_id, rule_id)
);

-- Named definitions kept as JSON that the domain crate parses: triggers (with their
-- event), macros, service-level policies, escalation rules and business-hours calendars.
CREATE TABLE definitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    event TEXT,
    spec TEXT NOT NULL,
    position BIGINT NOT NULL DEFAULT 0,
    active SMALLINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
CREATE INDEX definitions_kind ON definitions (tenant_id, kind, position, id);

ALTER TABLE teams ADD COLUMN manager_id BIGINT;
ALTER TABLE teams ADD COLUMN calendar_id BIGINT;
ALTER TABLE teams ADD COLUMN handoff_mins BIGINT;
ALTER TABLE teams ADD COLUMN assignment TEXT NOT NULL DEFAULT 'manual';
ALTER TABLE teams ADD COLUMN last_assigned_user BIGINT;
ALTER TABLE team_members ADD COLUMN cap BIGINT;
ALTER TABLE team_members ADD COLUMN available SMALLINT NOT NULL DEFAULT 1;

-- A case's path between teams; each hand-off has its own internal target.
CREATE TABLE case_handoffs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    from_team BIGINT,
    to_team BIGINT NOT NULL,
    reason TEXT NOT NULL,
    by_user BIGINT,
    at BIGINT NOT NULL,
    accepted_at BIGINT
);
CREATE INDEX case_handoffs_case ON case_handoffs (tenant_id, case_id, at);

-- Who is looking at or writing on a case right now (collision detection).
CREATE TABLE case_presence (
    tenant_id BIGINT NOT NULL,
    case_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    mode TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (case_id, user_id)
);

CREATE TABLE reply_templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- Attachments: the bytes live in the data directory by SHA-256 (deduplicated); rows here.
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    message_id BIGINT NOT NULL REFERENCES messages(id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX attachments_message ON attachments (tenant_id, message_id);

-- Work for people: call-backs, letters to print, follow-ups, win-back, replenishment.
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    customer_id BIGINT,
    case_id BIGINT,
    title TEXT NOT NULL,
    assignee_id BIGINT,
    due_at BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    outcome TEXT,
    unique_key TEXT,
    created_at BIGINT NOT NULL,
    done_at BIGINT,
    UNIQUE (tenant_id, unique_key)
);
CREATE INDEX tasks_due ON tasks (tenant_id, status, due_at);
CREATE INDEX tasks_case ON tasks (tenant_id, case_id);

-- Staff notifications (assignments, mentions, escalations) shown in the console.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    case_id BIGINT,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX notifications_user ON notifications (tenant_id, user_id, read_at, id);

CREATE TABLE tenant_settings (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
