-- Analytics (issue 6; principles P2, P3, P13): what `concierge analytics run` computes from
-- orders, stored per tenant. Conventions as in 0001: times are epoch milliseconds, money is
-- minor units, flags are SMALLINT, JSON is TEXT. Model outputs are DOUBLE PRECISION and never
-- NaN or infinite: a value that cannot be computed is NULL (the CHECKs refuse NaN on
-- PostgreSQL, where NaN compares above every number; SQLite stores NaN as NULL).

-- One row per customer with at least one purchase, replaced by every run.
CREATE TABLE customer_scores (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    as_of BIGINT NOT NULL,
    time_unit TEXT NOT NULL,
    purchases BIGINT NOT NULL,
    first_purchase_at BIGINT NOT NULL,
    last_purchase_at BIGINT NOT NULL,
    total_spend_minor BIGINT NOT NULL,
    frequency BIGINT NOT NULL,
    recency DOUBLE PRECISION NOT NULL CHECK (recency > -1e300 AND recency < 1e300),
    age DOUBLE PRECISION NOT NULL CHECK (age > -1e300 AND age < 1e300),
    monetary DOUBLE PRECISION NOT NULL CHECK (monetary > -1e300 AND monetary < 1e300),
    rfm_r BIGINT NOT NULL,
    rfm_f BIGINT NOT NULL,
    rfm_m BIGINT NOT NULL,
    rfm_fm BIGINT NOT NULL,
    segment TEXT NOT NULL,
    p_alive DOUBLE PRECISION CHECK (p_alive IS NULL OR (p_alive >= 0 AND p_alive <= 1)),
    expected_purchases DOUBLE PRECISION CHECK (expected_purchases IS NULL OR (expected_purchases >= 0 AND expected_purchases < 1e300)),
    expected_spend DOUBLE PRECISION CHECK (expected_spend IS NULL OR (expected_spend > -1e300 AND expected_spend < 1e300)),
    clv DOUBLE PRECISION CHECK (clv IS NULL OR (clv > -1e300 AND clv < 1e300)),
    churn_risk DOUBLE PRECISION CHECK (churn_risk IS NULL OR (churn_risk >= 0 AND churn_risk <= 1)),
    lateness DOUBLE PRECISION CHECK (lateness IS NULL OR (lateness > -1e300 AND lateness < 1e300)),
    days_since_last BIGINT NOT NULL,
    in_hiatus SMALLINT NOT NULL,
    at_risk SMALLINT NOT NULL,
    risk_value DOUBLE PRECISION NOT NULL CHECK (risk_value > -1e300 AND risk_value < 1e300),
    risk_reasons TEXT,
    PRIMARY KEY (tenant_id, customer_id)
);
CREATE INDEX customer_scores_segment ON customer_scores (tenant_id, segment);
CREATE INDEX customer_scores_risk ON customer_scores (tenant_id, at_risk, risk_value);

-- Tier rules per tenant, best first (`position`); `rule` is the JSON of a TierRule, e.g.
-- {"rule":"top_clv_percent","percent":5}.
CREATE TABLE tier_definitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    rule TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- Each customer's current tier, since when, and why.
CREATE TABLE customer_tiers (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    tier TEXT NOT NULL,
    reason TEXT NOT NULL,
    since BIGINT NOT NULL,
    evaluated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, customer_id)
);
CREATE INDEX customer_tiers_tier ON customer_tiers (tenant_id, tier);

-- Every upgrade and downgrade, with its reason.
CREATE TABLE tier_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    from_tier TEXT,
    to_tier TEXT,
    direction TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX tier_history_customer ON tier_history (tenant_id, customer_id, at);

-- The rice jar: per customer x product, the consumption rate and predicted run-out.
CREATE TABLE replenishment_predictions (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    purchases BIGINT NOT NULL,
    last_purchase_at BIGINT NOT NULL,
    last_quantity DOUBLE PRECISION NOT NULL CHECK (last_quantity > -1e300 AND last_quantity < 1e300),
    rate_per_day DOUBLE PRECISION NOT NULL CHECK (rate_per_day > 0 AND rate_per_day < 1e300),
    credibility DOUBLE PRECISION NOT NULL CHECK (credibility >= 0 AND credibility <= 1),
    run_out_at BIGINT NOT NULL,
    run_out_low_at BIGINT NOT NULL,
    run_out_high_at BIGINT NOT NULL,
    task_due_at BIGINT NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, product_id)
);
CREATE INDEX replenishment_run_out ON replenishment_predictions (tenant_id, run_out_at);

-- Fitted models (BG/NBD, Gamma-Gamma), kept so estimates can be compared over time.
CREATE TABLE model_fits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    model TEXT NOT NULL,
    time_unit TEXT NOT NULL,
    calibration_end BIGINT NOT NULL,
    customers BIGINT NOT NULL,
    params TEXT NOT NULL,
    log_likelihood DOUBLE PRECISION CHECK (log_likelihood IS NULL OR (log_likelihood > -1e300 AND log_likelihood < 1e300)),
    fitted_at BIGINT NOT NULL
);
CREATE INDEX model_fits_latest ON model_fits (tenant_id, model, fitted_at);

-- Every analytics run: what it covered, how it went, and its tenant-wide results (Pareto curve,
-- CLV histogram, warnings) as JSON for the dashboard.
CREATE TABLE analytics_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    as_of BIGINT NOT NULL,
    time_unit TEXT NOT NULL,
    customers BIGINT NOT NULL,
    report TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL
);
CREATE INDEX analytics_runs_latest ON analytics_runs (tenant_id, finished_at);
