//! Customer analytics over the API (issue 6): the Pareto view, RFM segments and grid, tiers,
//! the CLV distribution, the churn at-risk list, replenishment due soon, and one customer's
//! analytics. Managers and administrators only (`ViewReports`); every answer is the caller's
//! tenant's, from the latest `concierge analytics run`. Before any run, lists are empty and
//! `as_of` is null.

use crate::auth::{ApiStaff, require};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use concierge_app::analytics::{self as uc, AnalyticsRunError};
use concierge_domain::Permission;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

impl From<AnalyticsRunError> for ApiError {
    fn from(e: AnalyticsRunError) -> Self {
        match e {
            AnalyticsRunError::Store(s) => s.into(),
            AnalyticsRunError::Invalid(m) => ApiError::invalid(m),
            AnalyticsRunError::Data(m) => {
                ApiError::new(axum::http::StatusCode::CONFLICT, "analytics_unavailable", m)
            }
        }
    }
}

/// A point of the Pareto (Lorenz) curve.
#[derive(Serialize, ToSchema)]
pub struct PointOut {
    /// Share of customers, best first (0..1).
    pub customers: f64,
    /// Their share of revenue (0..1).
    pub revenue: f64,
}

/// Share of revenue by share of customers, measured (never assumed 80/20).
#[derive(Serialize, ToSchema)]
pub struct ParetoOut {
    /// Observation end of the run (`YYYY-MM-DD`); null before the first run.
    pub as_of: Option<String>,
    pub customers: u64,
    pub paying_customers: u64,
    pub total_revenue_minor: i64,
    pub top_10_percent_share: f64,
    pub top_20_percent_share: f64,
    /// Smallest share of customers that brings 80% of revenue.
    pub customer_share_for_80_percent: f64,
    /// Gini coefficient of revenue (0 = equal, 1 = one customer has it all).
    pub gini: f64,
    /// 101 points, 0% to 100% of customers.
    pub points: Vec<PointOut>,
}

/// The Pareto view of revenue.
#[utoipa::path(get, path = "/api/v1/analytics/pareto", tag = "analytics",
    responses((status = 200, body = ParetoOut), (status = 403, body = ErrorBody)))]
pub async fn pareto(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
) -> Result<ApiJson<ParetoOut>, ApiError> {
    require(&user, Permission::ViewReports)?;
    let r = uc::latest_report(&s.app, user.tenant_id).await?;
    let out = match r {
        None => ParetoOut {
            as_of: None,
            customers: 0,
            paying_customers: 0,
            total_revenue_minor: 0,
            top_10_percent_share: 0.0,
            top_20_percent_share: 0.0,
            customer_share_for_80_percent: 0.0,
            gini: 0.0,
            points: Vec::new(),
        },
        Some(r) => {
            let p = r.pareto;
            ParetoOut {
                as_of: Some(r.as_of),
                customers: p.customers,
                paying_customers: p.paying_customers,
                total_revenue_minor: p.total_revenue_minor,
                top_10_percent_share: p.top_10_percent_share,
                top_20_percent_share: p.top_20_percent_share,
                customer_share_for_80_percent: p.customer_share_for_80_percent,
                gini: p.gini,
                points: p
                    .points
                    .iter()
                    .map(|q| PointOut {
                        customers: q.customers,
                        revenue: q.revenue,
                    })
                    .collect(),
            }
        }
    };
    Ok(ApiJson(out))
}

/// Customers (and their past spend) under one label.
#[derive(Serialize, ToSchema)]
pub struct CountOut {
    /// Segment or tier name.
    pub name: String,
    pub customers: i64,
    pub total_spend_minor: i64,
}

impl From<concierge_store::analytics::LabelCount> for CountOut {
    fn from(c: concierge_store::analytics::LabelCount) -> Self {
        CountOut {
            name: c.label,
            customers: c.customers,
            total_spend_minor: c.total_spend_minor,
        }
    }
}

/// A cell of the RFM grid.
#[derive(Serialize, ToSchema)]
pub struct CellOut {
    /// Recency score 1-5 (5 = most recent).
    pub r: i64,
    /// round((F + M) / 2), 1-5.
    pub fm: i64,
    /// The segment this cell belongs to.
    pub segment: String,
    pub customers: i64,
}

/// RFM segments and the grid they come from.
#[derive(Serialize, ToSchema)]
pub struct SegmentsOut {
    /// Every segment, best first.
    pub segments: Vec<CountOut>,
    /// 25 cells, recency 5 to 1, FM 1 to 5.
    pub grid: Vec<CellOut>,
}

/// Customers per RFM segment, and the R × FM grid.
#[utoipa::path(get, path = "/api/v1/analytics/segments", tag = "analytics",
    responses((status = 200, body = SegmentsOut), (status = 403, body = ErrorBody)))]
pub async fn segments(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
) -> Result<ApiJson<SegmentsOut>, ApiError> {
    require(&user, Permission::ViewReports)?;
    let (segs, grid) = uc::segments(&s.app, user.tenant_id).await?;
    Ok(ApiJson(SegmentsOut {
        segments: segs.into_iter().map(CountOut::from).collect(),
        grid: grid
            .into_iter()
            .map(|c| CellOut {
                r: c.r,
                fm: c.fm,
                segment: c.segment,
                customers: c.customers,
            })
            .collect(),
    }))
}

/// A tier rule.
#[derive(Serialize, ToSchema)]
pub struct RuleOut {
    pub name: String,
    /// The rule as JSON, e.g. `{"rule":"top_clv_percent","percent":5}`.
    #[schema(value_type = Object)]
    pub rule: serde_json::Value,
}

/// Tier rules and how many customers are in each tier.
#[derive(Serialize, ToSchema)]
pub struct TiersOut {
    /// Best tier first.
    pub rules: Vec<RuleOut>,
    pub tiers: Vec<CountOut>,
}

/// The tier distribution.
#[utoipa::path(get, path = "/api/v1/analytics/tiers", tag = "analytics",
    responses((status = 200, body = TiersOut), (status = 403, body = ErrorBody)))]
pub async fn tiers(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
) -> Result<ApiJson<TiersOut>, ApiError> {
    require(&user, Permission::ViewReports)?;
    let rules = uc::tier_rules(&s.app, user.tenant_id).await?;
    let dist = uc::tier_distribution(&s.app, user.tenant_id).await?;
    Ok(ApiJson(TiersOut {
        rules: rules
            .into_iter()
            .map(|d| RuleOut {
                name: d.name,
                rule: serde_json::to_value(&d.rule).unwrap_or(serde_json::Value::Null),
            })
            .collect(),
        tiers: dist.into_iter().map(CountOut::from).collect(),
    }))
}

/// A histogram bin (minor units). The last bin holds everything from `low` up.
#[derive(Serialize, ToSchema)]
pub struct BinOut {
    pub low: f64,
    pub high: f64,
    pub customers: u64,
}

/// The distribution of customer lifetime value.
#[derive(Serialize, ToSchema)]
pub struct ClvOut {
    pub as_of: Option<String>,
    /// Sum of 12-month CLV over all customers, minor units.
    pub total_clv: f64,
    /// Why CLV is missing, if it is.
    pub notes: Vec<String>,
    pub bins: Vec<BinOut>,
}

/// The CLV histogram.
#[utoipa::path(get, path = "/api/v1/analytics/clv", tag = "analytics",
    responses((status = 200, body = ClvOut), (status = 403, body = ErrorBody)))]
pub async fn clv(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
) -> Result<ApiJson<ClvOut>, ApiError> {
    require(&user, Permission::ViewReports)?;
    let r = uc::latest_report(&s.app, user.tenant_id).await?;
    Ok(ApiJson(match r {
        None => ClvOut {
            as_of: None,
            total_clv: 0.0,
            notes: Vec::new(),
            bins: Vec::new(),
        },
        Some(r) => ClvOut {
            as_of: Some(r.as_of),
            total_clv: r.total_clv,
            notes: r.model_notes,
            bins: r
                .clv_histogram
                .iter()
                .map(|b| BinOut {
                    low: b.low,
                    high: b.high,
                    customers: b.customers,
                })
                .collect(),
        },
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// At most this many rows (1-1000, default 50).
    pub limit: Option<i64>,
}

/// A customer at risk of leaving.
#[derive(Serialize, ToSchema)]
pub struct AtRiskOut {
    pub customer_id: i64,
    pub name: String,
    pub segment: String,
    /// CLV, or past spend when no model could be fitted (minor units).
    pub value: f64,
    pub clv: Option<f64>,
    /// 1 − P(alive).
    pub churn_risk: Option<f64>,
    /// (days since last purchase − usual gap) / usual gap.
    pub lateness: Option<f64>,
    pub days_since_last: i64,
    /// Why, for people.
    pub reasons: String,
}

/// The churn at-risk list, most valuable first.
#[derive(Serialize, ToSchema)]
pub struct ChurnOut {
    pub customers: Vec<AtRiskOut>,
}

/// Customers at risk of churning (model risk, lateness against their own rhythm, or hiatus).
#[utoipa::path(get, path = "/api/v1/analytics/churn", tag = "analytics", params(LimitQuery),
    responses((status = 200, body = ChurnOut), (status = 403, body = ErrorBody)))]
pub async fn churn(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<ApiJson<ChurnOut>, ApiError> {
    require(&user, Permission::ViewReports)?;
    let rows = uc::at_risk(&s.app, user.tenant_id, q.limit.unwrap_or(50)).await?;
    Ok(ApiJson(ChurnOut {
        customers: rows
            .into_iter()
            .map(|r| AtRiskOut {
                customer_id: r.customer_id,
                name: r.display_name,
                segment: r.segment,
                value: r.value,
                clv: r.clv,
                churn_risk: r.churn_risk,
                lateness: r.lateness,
                days_since_last: r.days_since_last,
                reasons: r.reasons,
            })
            .collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// Run-out within this many days before or after now (0-365, default 14).
    pub within_days: Option<i64>,
    /// At most this many rows (1-1000, default 100).
    pub limit: Option<i64>,
}

/// A predicted run-out of a product.
#[derive(Serialize, ToSchema)]
pub struct PredictionOut {
    pub customer_id: i64,
    pub customer_name: String,
    pub product_id: i64,
    pub product_name: String,
    /// Distinct purchase days of this product.
    pub purchases: i64,
    pub last_purchase_at: i64,
    /// Consumption, product units per day.
    pub rate_per_day: f64,
    /// Predicted run-out (epoch ms) and its interval.
    pub run_out_at: i64,
    pub run_out_low_at: i64,
    pub run_out_high_at: i64,
    /// When a proactive task is due (run-out minus the lead time).
    pub task_due_at: i64,
}

impl From<concierge_store::analytics::DueRow> for PredictionOut {
    fn from(r: concierge_store::analytics::DueRow) -> Self {
        PredictionOut {
            customer_id: r.customer_id,
            customer_name: r.display_name,
            product_id: r.product_id,
            product_name: r.product_name,
            purchases: r.purchases,
            last_purchase_at: r.last_purchase_at,
            rate_per_day: r.rate_per_day,
            run_out_at: r.run_out_at,
            run_out_low_at: r.run_out_low_at,
            run_out_high_at: r.run_out_high_at,
            task_due_at: r.task_due_at,
        }
    }
}

/// Replenishment due soon.
#[derive(Serialize, ToSchema)]
pub struct DueOut {
    pub items: Vec<PredictionOut>,
}

/// The rice jar: customers about to run out of a product they buy regularly, soonest first.
#[utoipa::path(get, path = "/api/v1/analytics/replenishment/due", tag = "analytics",
    params(DueQuery),
    responses((status = 200, body = DueOut), (status = 403, body = ErrorBody)))]
pub async fn replenishment_due(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiQuery(q): ApiQuery<DueQuery>,
) -> Result<ApiJson<DueOut>, ApiError> {
    require(&user, Permission::ViewReports)?;
    let rows = uc::due_soon(
        &s.app,
        user.tenant_id,
        q.within_days.unwrap_or(14),
        q.limit.unwrap_or(100),
    )
    .await?;
    Ok(ApiJson(DueOut {
        items: rows.into_iter().map(PredictionOut::from).collect(),
    }))
}

/// A customer's current tier.
#[derive(Serialize, ToSchema)]
pub struct TierOut {
    pub name: String,
    pub reason: String,
    pub since: i64,
}

/// A tier change.
#[derive(Serialize, ToSchema)]
pub struct TierChangeOut {
    pub from: Option<String>,
    pub to: Option<String>,
    /// `upgrade`, `downgrade` or `changed`.
    pub direction: String,
    pub reason: String,
    pub at: i64,
}

/// One customer's analytics. Model fields are null when no model could be fitted.
#[derive(Serialize, ToSchema)]
pub struct CustomerAnalyticsOut {
    pub customer_id: i64,
    /// RFM segment; null before the customer's first purchase is analysed.
    pub segment: Option<String>,
    pub rfm: Option<[i64; 3]>,
    pub purchases: Option<i64>,
    pub total_spend_minor: Option<i64>,
    pub clv: Option<f64>,
    pub p_alive: Option<f64>,
    pub churn_risk: Option<f64>,
    /// Expected purchases in the next 90 days.
    pub expected_purchases: Option<f64>,
    pub lateness: Option<f64>,
    pub at_risk: bool,
    pub risk_reasons: Option<String>,
    pub tier: Option<TierOut>,
    /// Newest first.
    pub tier_history: Vec<TierChangeOut>,
    /// Predicted next purchases per product, soonest first.
    pub predictions: Vec<PredictionOut>,
}

/// A customer's segment, tier (with history), CLV, P(alive) and predicted next purchases.
#[utoipa::path(get, path = "/api/v1/customers/{id}/analytics", tag = "analytics",
    params(("id" = i64, Path, description = "customer id")),
    responses((status = 200, body = CustomerAnalyticsOut), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn customer_analytics(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<CustomerAnalyticsOut>, ApiError> {
    require(&user, Permission::ViewReports)?;
    let Some(a) = uc::customer(&s.app, user.tenant_id, id).await? else {
        return Err(ApiError::not_found("customer"));
    };
    let sc = a.score.as_ref();
    Ok(ApiJson(CustomerAnalyticsOut {
        customer_id: id,
        segment: sc.map(|x| x.segment.clone()),
        rfm: sc.map(|x| [x.rfm_r, x.rfm_f, x.rfm_m]),
        purchases: sc.map(|x| x.purchases),
        total_spend_minor: sc.map(|x| x.total_spend_minor),
        clv: sc.and_then(|x| x.clv),
        p_alive: sc.and_then(|x| x.p_alive),
        churn_risk: sc.and_then(|x| x.churn_risk),
        expected_purchases: sc.and_then(|x| x.expected_purchases),
        lateness: sc.and_then(|x| x.lateness),
        at_risk: sc.is_some_and(|x| x.at_risk),
        risk_reasons: sc.and_then(|x| x.risk_reasons.clone()),
        tier: a.tier.map(|(name, reason, since)| TierOut {
            name,
            reason,
            since,
        }),
        tier_history: a
            .tier_history
            .into_iter()
            .map(|h| TierChangeOut {
                from: h.from,
                to: h.to,
                direction: h.direction,
                reason: h.reason,
                at: h.at,
            })
            .collect(),
        predictions: a.predictions.into_iter().map(PredictionOut::from).collect(),
    }))
}
