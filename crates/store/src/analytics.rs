//! Analytics rows (issue 6): reading purchases for the models, and storing and reading what
//! `concierge analytics run` computes — per-customer scores, tiers with their history,
//! replenishment predictions, model fits and the run's tenant-wide report.
//!
//! Purchases are read in ranges of customer ids over the `(tenant_id, customer_id, ...)` indexes
//! of `orders` and `order_lines`, so memory per query stays bounded and there is never one query
//! per customer. A run's results are written with multi-row inserts in **one transaction**: a
//! failed run leaves the previous results in place. Floating-point values are checked before
//! they are bound: a non-finite value is stored as NULL (nullable columns) or refused.

use crate::bulk::Val;
use crate::{Backend, Result, Store, StoreError};
use concierge_domain::TenantId;
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;

/// Customer ids per range query when reading purchases.
const ID_RANGE: i64 = 20_000;

/// One counted order: who, when, how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderFact {
    pub customer_id: i64,
    pub ordered_at: i64,
    pub total_minor: i64,
}

/// One order line: who bought how much of what, when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFact {
    pub customer_id: i64,
    pub product_id: i64,
    pub ordered_at: i64,
    pub quantity: f64,
}

/// Per-customer results of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreRow {
    pub customer_id: i64,
    pub purchases: i64,
    pub first_purchase_at: i64,
    pub last_purchase_at: i64,
    pub total_spend_minor: i64,
    pub frequency: i64,
    pub recency: f64,
    pub age: f64,
    pub monetary: f64,
    pub rfm_r: i64,
    pub rfm_f: i64,
    pub rfm_m: i64,
    pub rfm_fm: i64,
    pub segment: String,
    pub p_alive: Option<f64>,
    pub expected_purchases: Option<f64>,
    pub expected_spend: Option<f64>,
    pub clv: Option<f64>,
    pub churn_risk: Option<f64>,
    pub lateness: Option<f64>,
    pub days_since_last: i64,
    pub in_hiatus: bool,
    pub at_risk: bool,
    /// The value the at-risk list is ordered by: CLV, or past spend without a model.
    pub risk_value: f64,
    /// Why the customer is at risk, for people.
    pub risk_reasons: Option<String>,
}

/// A customer's tier after a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierRow {
    pub customer_id: i64,
    pub tier: String,
    pub reason: String,
    pub since: i64,
}

/// A tier change, for the history and the customer's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierChangeRow {
    pub customer_id: i64,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `upgrade`, `downgrade` or `changed`.
    pub direction: String,
    pub reason: String,
}

/// A tier change as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierHistoryRow {
    pub from: Option<String>,
    pub to: Option<String>,
    pub direction: String,
    pub reason: String,
    pub at: i64,
}

/// A replenishment prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionRow {
    pub customer_id: i64,
    pub product_id: i64,
    pub purchases: i64,
    pub last_purchase_at: i64,
    pub last_quantity: f64,
    pub rate_per_day: f64,
    pub credibility: f64,
    pub run_out_at: i64,
    pub run_out_low_at: i64,
    pub run_out_high_at: i64,
    pub task_due_at: i64,
}

/// A fitted model to keep.
#[derive(Debug, Clone, PartialEq)]
pub struct FitRow {
    /// `bgnbd` or `gamma_gamma`.
    pub model: String,
    pub time_unit: String,
    pub calibration_end: i64,
    pub customers: i64,
    /// Parameters as JSON.
    pub params: String,
    pub log_likelihood: Option<f64>,
}

/// Everything one run writes.
#[derive(Debug, Clone, Default)]
pub struct RunWrite {
    pub as_of: i64,
    pub time_unit: String,
    pub scores: Vec<ScoreRow>,
    /// Current tiers of every evaluated customer.
    pub tiers: Vec<TierRow>,
    pub changes: Vec<TierChangeRow>,
    pub predictions: Vec<PredictionRow>,
    pub fits: Vec<FitRow>,
    /// The run's tenant-wide report (JSON).
    pub report: String,
    pub started_at: i64,
}

/// The latest run of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub as_of: i64,
    pub time_unit: String,
    pub customers: i64,
    pub report: String,
    pub started_at: i64,
    pub finished_at: i64,
}

/// A tier definition as stored: name and the JSON of its rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierDefRow {
    pub name: String,
    pub rule: String,
}

/// A row of the at-risk list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AtRiskRow {
    pub customer_id: i64,
    pub display_name: String,
    pub segment: String,
    pub value: f64,
    pub clv: Option<f64>,
    pub churn_risk: Option<f64>,
    pub lateness: Option<f64>,
    pub days_since_last: i64,
    pub reasons: String,
}

/// A row of the replenishment queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DueRow {
    pub customer_id: i64,
    pub display_name: String,
    pub product_id: i64,
    pub product_name: String,
    pub purchases: i64,
    pub last_purchase_at: i64,
    pub rate_per_day: f64,
    pub run_out_at: i64,
    pub run_out_low_at: i64,
    pub run_out_high_at: i64,
    pub task_due_at: i64,
}

/// Count of customers per RFM cell (recency score, FM score).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GridCell {
    pub r: i64,
    pub fm: i64,
    pub customers: i64,
}

/// Customers (and their total past spend) per label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelCount {
    pub label: String,
    pub customers: i64,
    pub total_spend_minor: i64,
}

/// A finite float, or NULL.
fn opt(v: Option<f64>) -> Val {
    match v {
        Some(x) if x.is_finite() => Val::Float(x),
        _ => Val::NullFloat,
    }
}

/// A finite float, or an error naming the column (never store NaN).
fn req(v: f64, what: &str) -> Result<Val> {
    if v.is_finite() {
        Ok(Val::Float(v))
    } else {
        Err(StoreError::Other(format!(
            "refusing to store a non-finite {what}"
        )))
    }
}

/// Inserts rows in statements of many rows (anonymous parameters on SQLite, see
/// [`crate::bulk::insert_rows`]). On PostgreSQL the statements are not kept prepared: sqlx
/// declares a NULL float's type differently from a float's, so a statement prepared when a
/// column was NULL would refuse a number in the next chunk ("incorrect binary data format").
async fn insert_chunked(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Val>],
) -> Result<()> {
    crate::bulk::insert_rows_with(tx, table, columns, rows, None, backend != Backend::Postgres)
        .await?;
    Ok(())
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

impl Store {
    /// The range of customer ids that have orders in `tenant`, if any.
    async fn order_customer_range(&self, tenant: TenantId) -> Result<Option<(i64, i64)>> {
        let row = sqlx::query(
            "SELECT MIN(customer_id) AS lo, MAX(customer_id) AS hi FROM orders WHERE tenant_id = $1",
        )
        .bind(tenant.0)
        .fetch_one(self.db())
        .await?;
        let lo: Option<i64> = row.try_get("lo")?;
        let hi: Option<i64> = row.try_get("hi")?;
        Ok(lo.zip(hi))
    }

    /// Every order of `tenant` that counts as a purchase (not returned), read in customer-id
    /// ranges over the `orders_customer` index. `progress(done, total)` reports customer ids
    /// covered.
    pub async fn order_facts(
        &self,
        tenant: TenantId,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Vec<OrderFact>> {
        let Some((lo, hi)) = self.order_customer_range(tenant).await? else {
            return Ok(Vec::new());
        };
        let total = (hi - lo + 1).max(0) as u64;
        let mut out = Vec::new();
        let mut start = lo;
        while start <= hi {
            let end = start.saturating_add(ID_RANGE - 1).min(hi);
            let rows = sqlx::query(
                "SELECT customer_id, ordered_at, total_minor FROM orders \
                 WHERE tenant_id = $1 AND customer_id >= $2 AND customer_id <= $3 \
                 AND status <> 'returned'",
            )
            .bind(tenant.0)
            .bind(start)
            .bind(end)
            .fetch_all(self.db())
            .await?;
            out.reserve(rows.len());
            for r in &rows {
                out.push(OrderFact {
                    customer_id: r.try_get(0)?,
                    ordered_at: r.try_get(1)?,
                    total_minor: r.try_get(2)?,
                });
            }
            progress((end - lo + 1) as u64, total);
            start = end + 1;
        }
        Ok(out)
    }

    /// Every order line of `tenant` on orders that were not returned, in customer-id ranges
    /// over the `order_lines_customer` index.
    pub async fn line_facts(
        &self,
        tenant: TenantId,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Vec<LineFact>> {
        let Some((lo, hi)) = self.order_customer_range(tenant).await? else {
            return Ok(Vec::new());
        };
        let total = (hi - lo + 1).max(0) as u64;
        let mut out = Vec::new();
        let mut start = lo;
        while start <= hi {
            let end = start.saturating_add(ID_RANGE - 1).min(hi);
            let rows = sqlx::query(
                "SELECT l.customer_id, l.product_id, l.ordered_at, l.quantity FROM order_lines l \
                 JOIN orders o ON o.id = l.order_id \
                 WHERE l.tenant_id = $1 AND l.customer_id >= $2 AND l.customer_id <= $3 \
                 AND o.status <> 'returned'",
            )
            .bind(tenant.0)
            .bind(start)
            .bind(end)
            .fetch_all(self.db())
            .await?;
            out.reserve(rows.len());
            for r in &rows {
                out.push(LineFact {
                    customer_id: r.try_get(0)?,
                    product_id: r.try_get(1)?,
                    ordered_at: r.try_get(2)?,
                    quantity: r.try_get(3)?,
                });
            }
            progress((end - lo + 1) as u64, total);
            start = end + 1;
        }
        Ok(out)
    }

    /// Household size of every customer who belongs to a household of known size.
    pub async fn household_sizes(&self, tenant: TenantId) -> Result<HashMap<i64, f64>> {
        let rows = sqlx::query(
            "SELECT m.customer_id, h.size FROM household_members m \
             JOIN households h ON h.id = m.household_id \
             WHERE h.tenant_id = $1 AND h.size IS NOT NULL AND h.size > 0",
        )
        .bind(tenant.0)
        .fetch_all(self.db())
        .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            let size: i64 = r.try_get(1)?;
            out.insert(id, size as f64);
        }
        Ok(out)
    }

    /// Products with a consumption hint: the consumables, which run out (a T-shirt does not).
    pub async fn consumable_products(&self, tenant: TenantId) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM products WHERE tenant_id = $1 AND consumption_hint IS NOT NULL",
        )
        .bind(tenant.0)
        .fetch_all(self.db())
        .await?)
    }

    /// The tenant's tier rules, best first.
    pub async fn tier_definitions(&self, tenant: TenantId) -> Result<Vec<TierDefRow>> {
        let rows = sqlx::query(
            "SELECT name, rule FROM tier_definitions WHERE tenant_id = $1 ORDER BY position, id",
        )
        .bind(tenant.0)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TierDefRow {
                    name: r.try_get(0)?,
                    rule: r.try_get(1)?,
                })
            })
            .collect()
    }

    /// Replaces the tenant's tier rules (best first). Customers keep their current tier until
    /// the next run evaluates the new rules.
    pub async fn set_tier_definitions(
        &self,
        tenant: TenantId,
        defs: &[TierDefRow],
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin_pool_tx().await?;
        sqlx::query("DELETE FROM tier_definitions WHERE tenant_id = $1")
            .bind(tenant.0)
            .execute(&mut *tx)
            .await?;
        let rows: Vec<Vec<Val>> = defs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                vec![
                    tenant.0.into(),
                    (i as i64).into(),
                    d.name.clone().into(),
                    d.rule.clone().into(),
                    now.into(),
                ]
            })
            .collect();
        insert_chunked(
            &mut tx,
            self.backend(),
            "tier_definitions",
            &["tenant_id", "position", "name", "rule", "updated_at"],
            &rows,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Current tier of every customer who has one: customer id → (tier, since).
    pub async fn current_tiers(&self, tenant: TenantId) -> Result<HashMap<i64, (String, i64)>> {
        let rows =
            sqlx::query("SELECT customer_id, tier, since FROM customer_tiers WHERE tenant_id = $1")
                .bind(tenant.0)
                .fetch_all(self.db())
                .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in &rows {
            out.insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?));
        }
        Ok(out)
    }

    /// Stores a run: replaces the tenant's scores, tiers and predictions, appends tier
    /// history (and timeline entries), model fits and the run record — all in one
    /// transaction. `now` is the finish time.
    pub async fn save_analytics_run(
        &self,
        tenant: TenantId,
        w: &RunWrite,
        now: i64,
    ) -> Result<i64> {
        // Build every row first, so that a value that cannot be stored fails before writing.
        let t = tenant.0;
        let mut scores = Vec::with_capacity(w.scores.len());
        for s in &w.scores {
            scores.push(vec![
                t.into(),
                s.customer_id.into(),
                w.as_of.into(),
                w.time_unit.clone().into(),
                s.purchases.into(),
                s.first_purchase_at.into(),
                s.last_purchase_at.into(),
                s.total_spend_minor.into(),
                s.frequency.into(),
                req(s.recency, "recency")?,
                req(s.age, "age")?,
                req(s.monetary, "monetary value")?,
                s.rfm_r.into(),
                s.rfm_f.into(),
                s.rfm_m.into(),
                s.rfm_fm.into(),
                s.segment.clone().into(),
                opt(s.p_alive),
                opt(s.expected_purchases),
                opt(s.expected_spend),
                opt(s.clv),
                opt(s.churn_risk),
                opt(s.lateness),
                s.days_since_last.into(),
                s.in_hiatus.into(),
                s.at_risk.into(),
                req(s.risk_value, "risk value")?,
                s.risk_reasons.clone().into(),
            ]);
        }
        let mut predictions = Vec::with_capacity(w.predictions.len());
        for p in &w.predictions {
            predictions.push(vec![
                t.into(),
                p.customer_id.into(),
                p.product_id.into(),
                p.purchases.into(),
                p.last_purchase_at.into(),
                req(p.last_quantity, "quantity")?,
                req(p.rate_per_day, "consumption rate")?,
                req(p.credibility, "credibility")?,
                p.run_out_at.into(),
                p.run_out_low_at.into(),
                p.run_out_high_at.into(),
                p.task_due_at.into(),
                now.into(),
            ]);
        }
        let mut fits = Vec::with_capacity(w.fits.len());
        for f in &w.fits {
            fits.push(vec![
                t.into(),
                f.model.clone().into(),
                f.time_unit.clone().into(),
                f.calibration_end.into(),
                f.customers.into(),
                f.params.clone().into(),
                opt(f.log_likelihood),
                now.into(),
            ]);
        }
        let tiers: Vec<Vec<Val>> = w
            .tiers
            .iter()
            .map(|r| {
                vec![
                    t.into(),
                    r.customer_id.into(),
                    r.tier.clone().into(),
                    r.reason.clone().into(),
                    r.since.into(),
                    now.into(),
                ]
            })
            .collect();
        let history: Vec<Vec<Val>> = w
            .changes
            .iter()
            .map(|c| {
                vec![
                    t.into(),
                    c.customer_id.into(),
                    c.from.clone().into(),
                    c.to.clone().into(),
                    c.direction.clone().into(),
                    c.reason.clone().into(),
                    now.into(),
                ]
            })
            .collect();
        let timeline: Vec<Vec<Val>> = w
            .changes
            .iter()
            .map(|c| {
                let summary = serde_json::json!({
                    "from": c.from, "to": c.to, "direction": c.direction, "reason": c.reason,
                });
                vec![
                    t.into(),
                    c.customer_id.into(),
                    "tier_changed".into(),
                    now.into(),
                    "tier_history".into(),
                    summary.to_string().into(),
                ]
            })
            .collect();

        let mut tx = self.begin_pool_tx().await?;
        for table in [
            "customer_scores",
            "customer_tiers",
            "replenishment_predictions",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE tenant_id = $1"
            )))
            .bind(t)
            .execute(&mut *tx)
            .await?;
        }
        insert_chunked(
            &mut tx,
            self.backend(),
            "customer_scores",
            &[
                "tenant_id",
                "customer_id",
                "as_of",
                "time_unit",
                "purchases",
                "first_purchase_at",
                "last_purchase_at",
                "total_spend_minor",
                "frequency",
                "recency",
                "age",
                "monetary",
                "rfm_r",
                "rfm_f",
                "rfm_m",
                "rfm_fm",
                "segment",
                "p_alive",
                "expected_purchases",
                "expected_spend",
                "clv",
                "churn_risk",
                "lateness",
                "days_since_last",
                "in_hiatus",
                "at_risk",
                "risk_value",
                "risk_reasons",
            ],
            &scores,
        )
        .await?;
        insert_chunked(
            &mut tx,
            self.backend(),
            "customer_tiers",
            crate::bulk::CUSTOMER_TIERS_COLUMNS,
            &tiers,
        )
        .await?;
        insert_chunked(
            &mut tx,
            self.backend(),
            "tier_history",
            &[
                "tenant_id",
                "customer_id",
                "from_tier",
                "to_tier",
                "direction",
                "reason",
                "at",
            ],
            &history,
        )
        .await?;
        insert_chunked(
            &mut tx,
            self.backend(),
            "timeline_events",
            &[
                "tenant_id",
                "customer_id",
                "kind",
                "at",
                "ref_kind",
                "summary",
            ],
            &timeline,
        )
        .await?;
        insert_chunked(
            &mut tx,
            self.backend(),
            "replenishment_predictions",
            &[
                "tenant_id",
                "customer_id",
                "product_id",
                "purchases",
                "last_purchase_at",
                "last_quantity",
                "rate_per_day",
                "credibility",
                "run_out_at",
                "run_out_low_at",
                "run_out_high_at",
                "task_due_at",
                "computed_at",
            ],
            &predictions,
        )
        .await?;
        insert_chunked(
            &mut tx,
            self.backend(),
            "model_fits",
            &[
                "tenant_id",
                "model",
                "time_unit",
                "calibration_end",
                "customers",
                "params",
                "log_likelihood",
                "fitted_at",
            ],
            &fits,
        )
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO analytics_runs (tenant_id, as_of, time_unit, customers, report, \
             started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(t)
        .bind(w.as_of)
        .bind(&w.time_unit)
        .bind(w.scores.len() as i64)
        .bind(&w.report)
        .bind(w.started_at)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Stores fitted models on their own (`concierge analytics fit`).
    pub async fn save_model_fits(&self, tenant: TenantId, fits: &[FitRow], now: i64) -> Result<()> {
        let mut rows = Vec::with_capacity(fits.len());
        for f in fits {
            rows.push(vec![
                tenant.0.into(),
                f.model.clone().into(),
                f.time_unit.clone().into(),
                f.calibration_end.into(),
                f.customers.into(),
                f.params.clone().into(),
                opt(f.log_likelihood),
                now.into(),
            ]);
        }
        let mut tx = self.begin_pool_tx().await?;
        insert_chunked(
            &mut tx,
            self.backend(),
            "model_fits",
            &[
                "tenant_id",
                "model",
                "time_unit",
                "calibration_end",
                "customers",
                "params",
                "log_likelihood",
                "fitted_at",
            ],
            &rows,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the stored report of a run (the run's tasks and triggers are counted after
    /// the run itself is saved).
    pub async fn update_analytics_run_report(
        &self,
        tenant: TenantId,
        run_id: i64,
        report: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE analytics_runs SET report = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(report)
            .bind(tenant.0)
            .bind(run_id)
            .execute(self.db())
            .await?;
        Ok(())
    }

    /// The tenant's most recent analytics run.
    pub async fn latest_analytics_run(&self, tenant: TenantId) -> Result<Option<RunRow>> {
        let r = sqlx::query(
            "SELECT id, as_of, time_unit, customers, report, started_at, finished_at \
             FROM analytics_runs WHERE tenant_id = $1 ORDER BY finished_at DESC, id DESC LIMIT 1",
        )
        .bind(tenant.0)
        .fetch_optional(self.db())
        .await?;
        r.map(|r| {
            Ok(RunRow {
                id: r.try_get(0)?,
                as_of: r.try_get(1)?,
                time_unit: r.try_get(2)?,
                customers: r.try_get(3)?,
                report: r.try_get(4)?,
                started_at: r.try_get(5)?,
                finished_at: r.try_get(6)?,
            })
        })
        .transpose()
    }

    /// Customers and past spend per RFM segment.
    pub async fn segment_counts(&self, tenant: TenantId) -> Result<Vec<LabelCount>> {
        self.label_counts(
            "SELECT segment, COUNT(*), CAST(SUM(total_spend_minor) AS BIGINT) \
             FROM customer_scores WHERE tenant_id = $1 GROUP BY segment",
            tenant,
        )
        .await
    }

    /// Customers and past spend per current tier.
    pub async fn tier_counts(&self, tenant: TenantId) -> Result<Vec<LabelCount>> {
        self.label_counts(
            "SELECT t.tier, COUNT(*), CAST(COALESCE(SUM(s.total_spend_minor), 0) AS BIGINT) \
             FROM customer_tiers t LEFT JOIN customer_scores s \
             ON s.tenant_id = t.tenant_id AND s.customer_id = t.customer_id \
             WHERE t.tenant_id = $1 GROUP BY t.tier",
            tenant,
        )
        .await
    }

    async fn label_counts(&self, sql: &'static str, tenant: TenantId) -> Result<Vec<LabelCount>> {
        let rows = sqlx::query(sql).bind(tenant.0).fetch_all(self.db()).await?;
        rows.iter()
            .map(|r| {
                Ok(LabelCount {
                    label: r.try_get(0)?,
                    customers: r.try_get(1)?,
                    total_spend_minor: r.try_get::<Option<i64>, _>(2)?.unwrap_or(0),
                })
            })
            .collect()
    }

    /// Customers per (R, FM) cell of the RFM grid.
    pub async fn rfm_grid(&self, tenant: TenantId) -> Result<Vec<GridCell>> {
        let rows = sqlx::query(
            "SELECT rfm_r, rfm_fm, COUNT(*) FROM customer_scores WHERE tenant_id = $1 \
             GROUP BY rfm_r, rfm_fm",
        )
        .bind(tenant.0)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(GridCell {
                    r: r.try_get(0)?,
                    fm: r.try_get(1)?,
                    customers: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// At-risk customers, most valuable first.
    pub async fn at_risk(&self, tenant: TenantId, limit: i64) -> Result<Vec<AtRiskRow>> {
        let rows = sqlx::query(
            "SELECT s.customer_id, c.display_name, s.segment, s.risk_value, s.clv, s.churn_risk, \
             s.lateness, s.days_since_last, s.risk_reasons FROM customer_scores s \
             JOIN customers c ON c.id = s.customer_id \
             WHERE s.tenant_id = $1 AND s.at_risk = 1 \
             ORDER BY s.risk_value DESC, s.customer_id LIMIT $2",
        )
        .bind(tenant.0)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AtRiskRow {
                    customer_id: r.try_get(0)?,
                    display_name: r.try_get(1)?,
                    segment: r.try_get(2)?,
                    value: r.try_get(3)?,
                    clv: finite(r.try_get(4)?),
                    churn_risk: finite(r.try_get(5)?),
                    lateness: finite(r.try_get(6)?),
                    days_since_last: r.try_get(7)?,
                    reasons: r.try_get::<Option<String>, _>(8)?.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Predictions whose run-out falls in `[from, to]` (epoch ms), soonest first.
    pub async fn replenishment_due(
        &self,
        tenant: TenantId,
        from: i64,
        to: i64,
        limit: i64,
    ) -> Result<Vec<DueRow>> {
        let rows = sqlx::query(
            "SELECT r.customer_id, c.display_name, r.product_id, p.name, r.purchases, \
             r.last_purchase_at, r.rate_per_day, r.run_out_at, r.run_out_low_at, \
             r.run_out_high_at, r.task_due_at FROM replenishment_predictions r \
             JOIN customers c ON c.id = r.customer_id JOIN products p ON p.id = r.product_id \
             WHERE r.tenant_id = $1 AND r.run_out_at >= $2 AND r.run_out_at <= $3 \
             ORDER BY r.run_out_at, r.customer_id, r.product_id LIMIT $4",
        )
        .bind(tenant.0)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        rows.iter().map(due_row).collect()
    }

    /// A customer's predictions, soonest run-out first.
    pub async fn customer_predictions(
        &self,
        tenant: TenantId,
        customer_id: i64,
    ) -> Result<Vec<DueRow>> {
        let rows = sqlx::query(
            "SELECT r.customer_id, c.display_name, r.product_id, p.name, r.purchases, \
             r.last_purchase_at, r.rate_per_day, r.run_out_at, r.run_out_low_at, \
             r.run_out_high_at, r.task_due_at FROM replenishment_predictions r \
             JOIN customers c ON c.id = r.customer_id JOIN products p ON p.id = r.product_id \
             WHERE r.tenant_id = $1 AND r.customer_id = $2 ORDER BY r.run_out_at, r.product_id",
        )
        .bind(tenant.0)
        .bind(customer_id)
        .fetch_all(self.db())
        .await?;
        rows.iter().map(due_row).collect()
    }

    /// A customer's scores from the latest run.
    pub async fn customer_score(
        &self,
        tenant: TenantId,
        customer_id: i64,
    ) -> Result<Option<ScoreRow>> {
        let r = sqlx::query(
            "SELECT customer_id, purchases, first_purchase_at, last_purchase_at, \
             total_spend_minor, frequency, recency, age, monetary, rfm_r, rfm_f, rfm_m, rfm_fm, \
             segment, p_alive, expected_purchases, expected_spend, clv, churn_risk, lateness, \
             days_since_last, in_hiatus, at_risk, risk_value, risk_reasons \
             FROM customer_scores WHERE tenant_id = $1 AND customer_id = $2",
        )
        .bind(tenant.0)
        .bind(customer_id)
        .fetch_optional(self.db())
        .await?;
        r.map(|r| {
            Ok(ScoreRow {
                customer_id: r.try_get(0)?,
                purchases: r.try_get(1)?,
                first_purchase_at: r.try_get(2)?,
                last_purchase_at: r.try_get(3)?,
                total_spend_minor: r.try_get(4)?,
                frequency: r.try_get(5)?,
                recency: r.try_get(6)?,
                age: r.try_get(7)?,
                monetary: r.try_get(8)?,
                rfm_r: r.try_get(9)?,
                rfm_f: r.try_get(10)?,
                rfm_m: r.try_get(11)?,
                rfm_fm: r.try_get(12)?,
                segment: r.try_get(13)?,
                p_alive: finite(r.try_get(14)?),
                expected_purchases: finite(r.try_get(15)?),
                expected_spend: finite(r.try_get(16)?),
                clv: finite(r.try_get(17)?),
                churn_risk: finite(r.try_get(18)?),
                lateness: finite(r.try_get(19)?),
                days_since_last: r.try_get(20)?,
                in_hiatus: r.try_get::<i64, _>(21)? != 0,
                at_risk: r.try_get::<i64, _>(22)? != 0,
                risk_value: r.try_get(23)?,
                risk_reasons: r.try_get(24)?,
            })
        })
        .transpose()
    }

    /// A customer's current tier: (tier, reason, since).
    pub async fn customer_tier(
        &self,
        tenant: TenantId,
        customer_id: i64,
    ) -> Result<Option<(String, String, i64)>> {
        let r = sqlx::query(
            "SELECT tier, reason, since FROM customer_tiers WHERE tenant_id = $1 AND customer_id = $2",
        )
        .bind(tenant.0)
        .bind(customer_id)
        .fetch_optional(self.db())
        .await?;
        r.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .transpose()
    }

    /// A customer's tier changes, newest first.
    pub async fn tier_history(
        &self,
        tenant: TenantId,
        customer_id: i64,
    ) -> Result<Vec<TierHistoryRow>> {
        let rows = sqlx::query(
            "SELECT from_tier, to_tier, direction, reason, at FROM tier_history \
             WHERE tenant_id = $1 AND customer_id = $2 ORDER BY at DESC, id DESC",
        )
        .bind(tenant.0)
        .bind(customer_id)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TierHistoryRow {
                    from: r.try_get(0)?,
                    to: r.try_get(1)?,
                    direction: r.try_get(2)?,
                    reason: r.try_get(3)?,
                    at: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// The tier-change entries on a customer's timeline (their `summary` JSON), newest first.
    pub async fn tier_timeline(&self, tenant: TenantId, customer_id: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT summary FROM timeline_events WHERE tenant_id = $1 AND customer_id = $2 \
             AND kind = 'tier_changed' ORDER BY at DESC, id DESC",
        )
        .bind(tenant.0)
        .bind(customer_id)
        .fetch_all(self.db())
        .await?)
    }
}

fn due_row(r: &sqlx::any::AnyRow) -> Result<DueRow> {
    Ok(DueRow {
        customer_id: r.try_get(0)?,
        display_name: r.try_get(1)?,
        product_id: r.try_get(2)?,
        product_name: r.try_get(3)?,
        purchases: r.try_get(4)?,
        last_purchase_at: r.try_get(5)?,
        rate_per_day: r.try_get(6)?,
        run_out_at: r.try_get(7)?,
        run_out_low_at: r.try_get(8)?,
        run_out_high_at: r.try_get(9)?,
        task_due_at: r.try_get(10)?,
    })
}
