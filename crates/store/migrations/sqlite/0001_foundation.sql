-- Foundation schema (SQLite). Conventions: ids are 64-bit integers, times are epoch
-- milliseconds (BIGINT), money is minor units (BIGINT), flags are SMALLINT 0/1, JSON is TEXT.
-- Every tenant-owned table carries tenant_id. Never edit a shipped migration: add a new one.

CREATE TABLE tenants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    password_changed_at BIGINT NOT NULL,
    locale TEXT NOT NULL DEFAULT 'en',
    active SMALLINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, email)
);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    user_id BIGINT REFERENCES users(id),
    customer_id BIGINT,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (tenant_id, user_id);

CREATE TABLE sign_in_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    email TEXT NOT NULL,
    ip TEXT NOT NULL,
    success SMALLINT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX sign_in_attempts_email ON sign_in_attempts (tenant_id, email, at);
CREATE INDEX sign_in_attempts_ip ON sign_in_attempts (ip, at);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    external_id TEXT,
    display_name TEXT NOT NULL,
    sort_name TEXT NOT NULL,
    given_name TEXT,
    family_name TEXT,
    birthday TEXT,
    language TEXT,
    time_zone TEXT,
    preferred_channel TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, external_id)
);
CREATE INDEX customers_sort ON customers (tenant_id, sort_name);

CREATE TABLE customer_contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    normalized TEXT NOT NULL,
    is_primary SMALLINT NOT NULL DEFAULT 0,
    verified SMALLINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX customer_contacts_lookup ON customer_contacts (tenant_id, kind, normalized);
CREATE INDEX customer_contacts_customer ON customer_contacts (customer_id);

CREATE TABLE customer_login_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE households (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    external_id TEXT,
    name TEXT NOT NULL,
    address TEXT,
    size INTEGER,
    notes TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, external_id)
);

CREATE TABLE household_members (
    tenant_id BIGINT NOT NULL,
    household_id BIGINT NOT NULL REFERENCES households(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    role TEXT NOT NULL,
    PRIMARY KEY (household_id, customer_id)
);
CREATE INDEX household_members_customer ON household_members (customer_id);

CREATE TABLE products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    sku TEXT NOT NULL,
    name TEXT NOT NULL,
    category TEXT,
    unit TEXT,
    pack_size DOUBLE PRECISION,
    consumption_hint DOUBLE PRECISION,
    price_minor BIGINT,
    currency TEXT,
    UNIQUE (tenant_id, sku)
);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    external_id TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    ordered_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    UNIQUE (tenant_id, external_id)
);
CREATE INDEX orders_customer ON orders (tenant_id, customer_id, ordered_at, total_minor);

CREATE TABLE order_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    order_id BIGINT NOT NULL REFERENCES orders(id),
    customer_id BIGINT NOT NULL,
    product_id BIGINT NOT NULL REFERENCES products(id),
    quantity DOUBLE PRECISION NOT NULL,
    unit_price_minor BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    ordered_at BIGINT NOT NULL
);
CREATE INDEX order_lines_order ON order_lines (order_id);
CREATE INDEX order_lines_customer ON order_lines (tenant_id, customer_id, product_id, ordered_at);

CREATE TABLE teams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE team_members (
    tenant_id BIGINT NOT NULL,
    team_id BIGINT NOT NULL REFERENCES teams(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (team_id, user_id)
);

CREATE TABLE counters (
    tenant_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE cases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    number BIGINT NOT NULL,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    household_id BIGINT,
    order_id BIGINT,
    priority TEXT NOT NULL,
    status TEXT NOT NULL,
    owner_id BIGINT REFERENCES users(id),
    team_id BIGINT REFERENCES teams(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    solved_at BIGINT,
    closed_at BIGINT,
    UNIQUE (tenant_id, number)
);
CREATE INDEX cases_customer ON cases (tenant_id, customer_id, created_at);
CREATE INDEX cases_status ON cases (tenant_id, status, updated_at);
CREATE INDEX cases_owner ON cases (tenant_id, owner_id, status);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    author_kind TEXT NOT NULL,
    author_user_id BIGINT,
    author_customer_id BIGINT,
    visibility TEXT NOT NULL,
    channel TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX messages_case ON messages (case_id, created_at);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id BIGINT,
    action TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id BIGINT,
    customer_id BIGINT,
    case_id BIGINT,
    detail TEXT NOT NULL DEFAULT '{}',
    at BIGINT NOT NULL
);
CREATE INDEX audit_events_customer ON audit_events (tenant_id, customer_id, at);
CREATE INDEX audit_events_case ON audit_events (tenant_id, case_id, at);

CREATE TABLE change_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    entity TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    op TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    unique_key TEXT UNIQUE,
    status TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 5,
    locked_by TEXT,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX jobs_due ON jobs (status, run_at);

CREATE TABLE job_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id BIGINT NOT NULL,
    node TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    outcome TEXT
);
CREATE INDEX job_runs_job ON job_runs (job_id);

CREATE TABLE schedules (
    name TEXT PRIMARY KEY,
    interval_ms BIGINT NOT NULL,
    next_run_at BIGINT NOT NULL,
    last_run_by TEXT,
    updated_at BIGINT NOT NULL
);
