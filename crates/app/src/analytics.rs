//! Knowing the customer (issue 6; principles P2, P3, P13): the use cases behind
//! `concierge analytics run|fit|backtest|tiers` and the analytics API.
//!
//! [`run`] reads a tenant's purchases (orders that were not returned, and their lines) from
//! the store, computes with the pure `concierge-analytics` crate — purchase summaries, RFM
//! segments, the Pareto view, BG/NBD + Gamma-Gamma lifetime value, churn signals, tiers and
//! the rice-jar replenishment predictions — and stores everything in one transaction.
//!
//! Bad data never turns into NaN: a tenant with no purchases is refused with a message and
//! nothing is written; when a model cannot be fitted (too few repeat buyers, degenerate data)
//! the run still stores RFM, past spend, lateness and the hiatus rule, leaves the model columns
//! NULL and says why in its report. Days are UTC calendar days.

use crate::App;
use concierge_analytics::churn::RiskReason;
use concierge_analytics::tiers::{ChangeDirection, TierOptions};
use concierge_analytics::{
    AnalyticsError, AtRiskRule, BgNbdFit, ClvOptions, FitOptions, GammaGammaFit, ProductPurchase,
    ReplenishmentOptions, RfmInput, ScoreOptions, SummaryOptions, TierInput, Transaction,
    churn_signals_all, day_from_epoch_ms, evaluate_tiers, fit_bgnbd, fit_gamma_gamma, pareto,
    predict_replenishment, rfm_scores, score_customers, select_at_risk, summarize, ymd_from_day,
};
use concierge_domain::TenantId;
use concierge_store::StoreError;
use concierge_store::analytics::{
    AtRiskRow, DueRow, FitRow, LabelCount, PredictionRow, RunWrite, ScoreRow, TierChangeRow,
    TierDefRow, TierHistoryRow, TierRow,
};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// The model types callers need (rules, units, reports), re-exported.
pub use concierge_analytics::bench::{BenchOptions, BenchRun, run_pipeline};
pub use concierge_analytics::{
    BacktestReport, RfmSegment, SegmentGrid, TierDefinition, TierRule, TimeUnit,
};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Why an analytics command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsRunError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The data cannot support the computation (the message says what to do); nothing was
    /// stored.
    #[error("{0}")]
    Data(String),
    /// The request itself is wrong (an unknown option, a bad tier rule).
    #[error("{0}")]
    Invalid(String),
}

impl From<AnalyticsError> for AnalyticsRunError {
    fn from(e: AnalyticsError) -> Self {
        match e {
            AnalyticsError::InvalidInput(m) => AnalyticsRunError::Invalid(m),
            other => AnalyticsRunError::Data(other.to_string()),
        }
    }
}

/// Settings of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunOptions {
    /// Last day (UTC day number) of the observation; None: today.
    pub as_of_day: Option<i64>,
    /// Unit of recency, age and the models.
    pub time_unit: TimeUnit,
    /// Horizon of "expected purchases", in days.
    pub horizon_days: f64,
    /// CLV horizon in months.
    pub clv_months: u32,
    /// Monthly discount rate of CLV.
    pub monthly_discount_rate: f64,
    /// The hiatus rule: no purchase for this many days counts as at risk.
    pub hiatus_days: i64,
    /// Only customers worth at least this (CLV, or past spend without a model; minor units)
    /// make the at-risk list.
    pub at_risk_min_value: f64,
    /// A replenishment task is due this many days before the predicted run-out.
    pub lead_days: i64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            as_of_day: None,
            time_unit: TimeUnit::Week,
            horizon_days: 90.0,
            clv_months: 12,
            monthly_discount_rate: 0.01,
            hiatus_days: 180,
            at_risk_min_value: 0.0,
            lead_days: 7,
        }
    }
}

/// A stage of a run, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading orders (customer ids covered of the id range).
    Orders,
    /// Reading order lines.
    Lines,
    /// Fitting and scoring (0 of 1, then 1 of 1).
    Models,
    /// Writing the results.
    Store,
}

/// Counts of transactions left out of the summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Excluded {
    /// Dated after the observation end.
    pub future_dated: u64,
    /// Negative amounts (refunds).
    pub negative: u64,
    /// Zero amounts (free orders).
    pub zero: u64,
}

/// The fitted models' parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdOut {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub log_likelihood: f64,
}

/// Gamma-Gamma parameters (`v` is γ, in minor units).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaOut {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

/// What `concierge analytics fit --json` prints.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Customers in the calibration period.
    pub customers: u64,
    pub bgnbd: BgNbdOut,
    pub gamma_gamma: GammaGammaOut,
}

/// One point of the Pareto curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Share of customers (best first), 0..1.
    pub customers: f64,
    /// Their share of revenue, 0..1.
    pub revenue: f64,
}

/// The Pareto view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ParetoOut {
    pub customers: u64,
    pub paying_customers: u64,
    pub total_revenue_minor: i64,
    /// Share of revenue from the top 10%, 20% of customers.
    pub top_10_percent_share: f64,
    pub top_20_percent_share: f64,
    /// Smallest share of customers that brings 80% of revenue.
    pub customer_share_for_80_percent: f64,
    pub gini: f64,
    /// 101 points, 0% to 100% of customers.
    pub points: Vec<CurvePoint>,
}

/// One bin of the CLV histogram (minor units; the last bin holds everything above `low`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    pub low: f64,
    pub high: f64,
    pub customers: u64,
}

/// What a run found and did; stored with the run as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RunReport {
    /// Id of the stored run.
    pub run_id: i64,
    /// Observation end, `YYYY-MM-DD`.
    pub as_of: String,
    pub time_unit: String,
    /// Customers with at least one purchase.
    pub customers: u64,
    /// Of them, customers who bought on two different days.
    pub repeat_buyers: u64,
    /// Orders read (not returned).
    pub orders: u64,
    pub excluded: Excluded,
    /// The BG/NBD fit, if it could be made.
    pub bgnbd: Option<BgNbdOut>,
    /// The Gamma-Gamma fit, if it could be made.
    pub gamma_gamma: Option<GammaGammaOut>,
    /// Correlation of repeat frequency and mean spend (Gamma-Gamma assumes none).
    pub frequency_spend_correlation: Option<f64>,
    /// Why a model is missing, for people.
    pub model_notes: Vec<String>,
    /// Customers per RFM segment.
    pub segments: Vec<(String, u64)>,
    /// Customers per tier.
    pub tiers: Vec<(String, u64)>,
    pub tier_changes: u64,
    pub upgrades: u64,
    pub downgrades: u64,
    pub at_risk: u64,
    pub predictions: u64,
    /// Predictions whose run-out is within `lead_days` of the as-of day.
    pub due_soon: u64,
    /// New tasks for people: refill offers and win-back calls.
    #[serde(default)]
    pub tasks_created: u64,
    /// `tier_changed` triggers that fired, once per change (see `followups`).
    #[serde(default)]
    pub tier_triggers_fired: u64,
    pub pareto: ParetoOut,
    pub clv_histogram: Vec<Bin>,
    /// Sum of CLV over customers, minor units (0 without a model).
    pub total_clv: f64,
    /// Milliseconds per step: load, summary, fit, score, replenishment, store.
    pub timings_ms: Vec<(String, f64)>,
}

/// Tier rules installed for a tenant that has none: by CLV rank when a model can be fitted,
/// with a base tier for everyone.
pub fn default_tiers() -> Vec<TierDefinition> {
    vec![
        TierDefinition {
            name: "Platinum".into(),
            rule: TierRule::TopClvPercent { percent: 5.0 },
        },
        TierDefinition {
            name: "Gold".into(),
            rule: TierRule::TopClvPercent { percent: 20.0 },
        },
        TierDefinition {
            name: "Silver".into(),
            rule: TierRule::TopClvPercent { percent: 50.0 },
        },
        TierDefinition {
            name: "Bronze".into(),
            rule: TierRule::Everyone,
        },
    ]
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = ymd_from_day(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD` into a day number.
pub fn parse_day(s: &str) -> Result<i64, AnalyticsRunError> {
    let d: jiff::civil::Date = s.trim().parse().map_err(|_| {
        AnalyticsRunError::Invalid(format!("{s:?} is not a date: write it as YYYY-MM-DD"))
    })?;
    Ok(concierge_analytics::day_from_ymd(
        i32::from(d.year()),
        d.month() as u32,
        d.day() as u32,
    ))
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn day_to_ms(day: f64) -> Option<i64> {
    let ms = day * DAY_MS as f64;
    (ms.is_finite() && ms.abs() < 9.0e18).then(|| ms.round() as i64)
}

fn direction(d: ChangeDirection) -> &'static str {
    match d {
        ChangeDirection::Upgrade => "upgrade",
        ChangeDirection::Downgrade => "downgrade",
        ChangeDirection::Changed => "changed",
    }
}

/// The tenant's tier rules (best first); empty when none are set.
pub async fn tier_rules(
    app: &App,
    tenant: TenantId,
) -> Result<Vec<TierDefinition>, AnalyticsRunError> {
    let rows = app.store.tier_definitions(tenant).await?;
    rows.iter()
        .map(|r| {
            let rule: TierRule = serde_json::from_str(&r.rule).map_err(|e| {
                AnalyticsRunError::Invalid(format!(
                    "the stored rule of tier {:?} is unreadable ({e}); set the tiers again",
                    r.name
                ))
            })?;
            Ok(TierDefinition {
                name: r.name.clone(),
                rule,
            })
        })
        .collect()
}

/// Replaces the tenant's tier rules after checking them. The next run applies them.
pub async fn set_tier_rules(
    app: &App,
    tenant: TenantId,
    defs: &[TierDefinition],
) -> Result<(), AnalyticsRunError> {
    if defs.is_empty() {
        return Err(AnalyticsRunError::Invalid(
            "give at least one tier (best first), e.g. [{\"name\":\"Gold\",\"rule\":\
             {\"rule\":\"min_total_spend\",\"minor\":100000}},{\"name\":\"Base\",\"rule\":\
             {\"rule\":\"everyone\"}}]"
                .into(),
        ));
    }
    // evaluate_tiers validates names and rules; run it on nothing.
    evaluate_tiers(defs, &[], &HashMap::new(), &TierOptions::default())?;
    let rows: Vec<TierDefRow> = defs
        .iter()
        .map(|d| {
            Ok(TierDefRow {
                name: d.name.trim().to_string(),
                rule: serde_json::to_string(&d.rule)
                    .map_err(|e| AnalyticsRunError::Invalid(e.to_string()))?,
            })
        })
        .collect::<Result<_, AnalyticsRunError>>()?;
    app.store
        .set_tier_definitions(tenant, &rows, app.now())
        .await?;
    Ok(())
}

fn excluded_counts(warnings: &[concierge_analytics::SummaryWarning]) -> Excluded {
    use concierge_analytics::SummaryWarning as W;
    let mut e = Excluded::default();
    for w in warnings {
        match w {
            W::FutureDated { .. } => e.future_dated += 1,
            W::NegativeAmount { .. } => e.negative += 1,
            W::ZeroAmount { .. } => e.zero += 1,
        }
    }
    e
}

fn no_purchases() -> AnalyticsRunError {
    AnalyticsRunError::Data(
        "this workspace has no purchases to analyse (no orders, or all returned, refunded, free \
         or after the as-of date): import orders or generate data with `concierge gen`, or \
         choose a later --as-of date; nothing was changed"
            .into(),
    )
}

/// Fits BG/NBD and Gamma-Gamma on the purchases up to `calibration_end_day` (None: today)
/// and stores the fits.
pub async fn fit(
    app: &App,
    tenant: TenantId,
    calibration_end_day: Option<i64>,
    time_unit: TimeUnit,
) -> Result<FitReport, AnalyticsRunError> {
    let end = calibration_end_day.unwrap_or_else(|| day_from_epoch_ms(app.now()));
    let orders = app.store.order_facts(tenant, &|_, _| {}).await?;
    let tx: Vec<Transaction> = orders
        .iter()
        .map(|o| Transaction {
            customer_id: o.customer_id,
            day: day_from_epoch_ms(o.ordered_at),
            amount_minor: o.total_minor,
        })
        .collect();
    let summary = summarize(&tx, &SummaryOptions::new(end, time_unit));
    if summary.customers.is_empty() {
        return Err(no_purchases());
    }
    let hs = summary.histories();
    let bg = fit_bgnbd(&hs, &FitOptions::default())?;
    let gg = fit_gamma_gamma(&hs)?;
    let report = FitReport {
        customers: summary.customers.len() as u64,
        bgnbd: bg_out(&bg),
        gamma_gamma: gg_out(&gg),
    };
    let fits = fit_rows(&bg, Some(&gg), time_unit, end, summary.customers.len())?;
    app.store.save_model_fits(tenant, &fits, app.now()).await?;
    Ok(report)
}

fn bg_out(bg: &BgNbdFit) -> BgNbdOut {
    BgNbdOut {
        r: bg.params.r,
        alpha: bg.params.alpha,
        a: bg.params.a,
        b: bg.params.b,
        log_likelihood: bg.log_likelihood,
    }
}

fn gg_out(gg: &GammaGammaFit) -> GammaGammaOut {
    GammaGammaOut {
        p: gg.params.p,
        q: gg.params.q,
        v: gg.params.v,
    }
}

fn fit_rows(
    bg: &BgNbdFit,
    gg: Option<&GammaGammaFit>,
    unit: TimeUnit,
    end_day: i64,
    customers: usize,
) -> Result<Vec<FitRow>, AnalyticsRunError> {
    let json = |v: serde_json::Value| v.to_string();
    let mut rows = vec![FitRow {
        model: "bgnbd".into(),
        time_unit: unit.as_str().into(),
        calibration_end: end_day * DAY_MS,
        customers: customers as i64,
        params: json(serde_json::json!({
            "r": bg.params.r, "alpha": bg.params.alpha, "a": bg.params.a, "b": bg.params.b,
            "repeat_customers": bg.repeat_customers, "iterations": bg.iterations,
        })),
        log_likelihood: finite(bg.log_likelihood),
    }];
    if let Some(gg) = gg {
        rows.push(FitRow {
            model: "gamma_gamma".into(),
            time_unit: unit.as_str().into(),
            calibration_end: end_day * DAY_MS,
            customers: gg.customers as i64,
            params: json(serde_json::json!({
                "p": gg.params.p, "q": gg.params.q, "v": gg.params.v,
                "frequency_spend_correlation": finite(gg.frequency_spend_correlation),
            })),
            log_likelihood: finite(gg.log_likelihood),
        });
    }
    Ok(rows)
}

fn product_purchases(lines: &[concierge_store::analytics::LineFact]) -> Vec<ProductPurchase> {
    lines
        .iter()
        .filter(|l| l.quantity.is_finite() && l.quantity > 0.0)
        .map(|l| ProductPurchase {
            customer_id: l.customer_id,
            product_id: l.product_id,
            day: day_from_epoch_ms(l.ordered_at),
            quantity: l.quantity,
        })
        .collect()
}

/// The replenishment backtest: holds out each customer × product's last purchase and compares
/// the model's run-out prediction with "last purchase + mean gap".
pub async fn backtest(app: &App, tenant: TenantId) -> Result<BacktestReport, AnalyticsRunError> {
    let lines = app.store.line_facts(tenant, &|_, _| {}).await?;
    // As in `run`: when the catalogue marks consumables, only they are predicted.
    let consumables: HashSet<i64> = app
        .store
        .consumable_products(tenant)
        .await?
        .into_iter()
        .collect();
    let purchases: Vec<ProductPurchase> = product_purchases(&lines)
        .into_iter()
        .filter(|p| consumables.is_empty() || consumables.contains(&p.product_id))
        .collect();
    if purchases.is_empty() {
        return Err(no_purchases());
    }
    let households = app.store.household_sizes(tenant).await?;
    Ok(concierge_analytics::backtest(
        &purchases,
        &households,
        &ReplenishmentOptions::default(),
    )?)
}

fn histogram(values: &[f64], bins: usize) -> Vec<Bin> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() || bins == 0 {
        return Vec::new();
    }
    v.sort_unstable_by(f64::total_cmp);
    // Cap the range at the 99th percentile so one whale does not flatten the chart; the last
    // bin holds everything above.
    let idx = ((v.len() - 1) as f64 * 0.99).round() as usize;
    let lo = v[0].min(0.0);
    let hi = v[idx.min(v.len() - 1)].max(lo + 1.0);
    let width = (hi - lo) / bins as f64;
    let mut out: Vec<Bin> = (0..bins)
        .map(|i| Bin {
            low: lo + width * i as f64,
            high: lo + width * (i + 1) as f64,
            customers: 0,
        })
        .collect();
    for x in v {
        let i = (((x - lo) / width).floor().max(0.0) as usize).min(bins - 1);
        out[i].customers += 1;
    }
    if let (Some(last), Some(max)) = (out.last_mut(), values.iter().copied().reduce(f64::max)) {
        last.high = last.high.max(max);
    }
    out
}

/// Computes everything for `tenant` and stores it (see the module documentation).
/// `progress(stage, done, total)` is called as work advances.
pub async fn run(
    app: &App,
    tenant: TenantId,
    opts: &RunOptions,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<RunReport, AnalyticsRunError> {
    let started_at = app.now();
    let as_of = opts
        .as_of_day
        .unwrap_or_else(|| day_from_epoch_ms(started_at));
    let unit = opts.time_unit;
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, f64)>| {
        timings.push((name.to_string(), clock.elapsed().as_secs_f64() * 1000.0));
        clock = Instant::now();
    };

    // 1. Read.
    let orders = app
        .store
        .order_facts(tenant, &|d, t| progress(Stage::Orders, d, t))
        .await?;
    let lines = app
        .store
        .line_facts(tenant, &|d, t| progress(Stage::Lines, d, t))
        .await?;
    let households = app.store.household_sizes(tenant).await?;
    let consumables: HashSet<i64> = app
        .store
        .consumable_products(tenant)
        .await?
        .into_iter()
        .collect();
    let previous = app.store.current_tiers(tenant).await?;
    let mut defs = tier_rules(app, tenant).await?;
    lap("load", &mut timings);

    // 2. Summaries.
    progress(Stage::Models, 0, 1);
    let tx: Vec<Transaction> = orders
        .iter()
        .map(|o| Transaction {
            customer_id: o.customer_id,
            day: day_from_epoch_ms(o.ordered_at),
            amount_minor: o.total_minor,
        })
        .collect();
    let summary = summarize(&tx, &SummaryOptions::new(as_of, unit));
    drop(tx);
    let customers = &summary.customers;
    if customers.is_empty() {
        return Err(no_purchases());
    }
    let hs = summary.histories();
    lap("summary", &mut timings);

    // 3. Models: each may fail on its own; the run goes on without it.
    let mut notes = Vec::new();
    let bg = match fit_bgnbd(&hs, &FitOptions::default()) {
        Ok(f) if f.params.validate().is_ok() => Some(f),
        Ok(_) => {
            notes.push("BG/NBD: the fit gave unusable parameters; P(alive) and CLV are not available this run".to_string());
            None
        }
        Err(e) => {
            notes.push(format!(
                "BG/NBD: {e}; P(alive) and CLV are not available this run"
            ));
            None
        }
    };
    let gg = match fit_gamma_gamma(&hs) {
        Ok(f) => Some(f),
        Err(e) => {
            // CLV then falls back to each customer's mean spend (noted below, where it is).
            notes.push(format!(
                "Gamma-Gamma: {e}; the spend model is not used this run"
            ));
            None
        }
    };
    lap("fit", &mut timings);

    // 4. Scores.
    let n = customers.len();
    let horizon = opts.horizon_days / unit.days();
    let mut p_alive: Vec<Option<f64>> = vec![None; n];
    let mut expected: Vec<Option<f64>> = vec![None; n];
    let mut spend: Vec<Option<f64>> = vec![None; n];
    let mut clv: Vec<Option<f64>> = vec![None; n];
    if let Some(bg) = &bg {
        let scored = match &gg {
            Some(gg) => score_customers(
                &bg.params,
                &gg.params,
                &hs,
                &ScoreOptions {
                    horizon,
                    clv: ClvOptions {
                        months: opts.clv_months,
                        monthly_discount_rate: opts.monthly_discount_rate,
                        time_unit: unit,
                    },
                },
            )
            .map_err(|e| notes.push(format!("CLV: {e}")))
            .ok(),
            None => None,
        };
        match scored {
            Some(s) => {
                for (i, sc) in s.iter().enumerate() {
                    p_alive[i] = finite(sc.prob_alive).map(|p| p.clamp(0.0, 1.0));
                    expected[i] = finite(sc.expected_purchases).map(|x| x.max(0.0));
                    spend[i] = finite(sc.expected_average_spend);
                    clv[i] = finite(sc.clv);
                }
            }
            None => {
                // Without Gamma-Gamma, CLV uses each customer's own mean spend per purchase in
                // the same discounted sum as `lifetimes` (the README's advice for a degenerate
                // spend model).
                let per_month = unit.units_per_month();
                let d = opts.monthly_discount_rate;
                for (i, h) in hs.iter().enumerate() {
                    let ey = |t: f64| {
                        bg.params
                            .expected_purchases(t, h.frequency, h.recency, h.age)
                            .ok()
                            .and_then(finite)
                            .map(|x| x.max(0.0))
                    };
                    p_alive[i] = finite(bg.params.prob_alive(h.frequency, h.recency, h.age))
                        .map(|p| p.clamp(0.0, 1.0));
                    expected[i] = ey(horizon);
                    let c = &customers[i];
                    let own = if h.frequency > 0 {
                        h.monetary_value
                    } else {
                        c.total_spend_minor as f64 / f64::from(c.purchase_count.max(1))
                    };
                    spend[i] = finite(own);
                    let mut total = Some(0.0);
                    let mut prev = Some(0.0);
                    for k in 1..=opts.clv_months {
                        let now_k = ey(f64::from(k) * per_month);
                        total = match (total, now_k, prev) {
                            (Some(acc), Some(a), Some(b)) => {
                                Some(acc + own * (a - b) / (1.0 + d).powi(k as i32))
                            }
                            _ => None,
                        };
                        prev = now_k;
                    }
                    clv[i] = total.and_then(finite).map(|x| x.max(0.0));
                }
                if bg.params.validate().is_ok() {
                    notes.push(
                        "CLV uses each customer's own mean spend per purchase, because the \
                         Gamma-Gamma spend model could not be used"
                            .into(),
                    );
                }
            }
        }
    }
    let rfm_inputs: Vec<RfmInput> = customers
        .iter()
        .map(|c| RfmInput::from_summary(c, as_of))
        .collect();
    let rfm = rfm_scores(&rfm_inputs, &SegmentGrid::standard())?;
    let pa: Option<Vec<f64>> = p_alive.iter().copied().collect();
    let signals = churn_signals_all(customers, as_of, pa.as_deref(), opts.hiatus_days)?;
    let have_clv = clv.iter().all(Option::is_some);
    let values: Vec<f64> = customers
        .iter()
        .zip(&clv)
        .map(|(c, v)| match (have_clv, v) {
            (true, Some(v)) => *v,
            _ => c.total_spend_minor as f64,
        })
        .collect();
    let at_risk = select_at_risk(
        &signals,
        &values,
        &AtRiskRule {
            min_value: opts.at_risk_min_value,
            ..AtRiskRule::default()
        },
    )?;
    let risk: HashMap<i64, Vec<RiskReason>> = at_risk
        .into_iter()
        .map(|a| (a.customer_id, a.reasons))
        .collect();
    let curve = pareto(
        &customers
            .iter()
            .map(|c| c.total_spend_minor)
            .collect::<Vec<_>>(),
    )?;
    lap("score", &mut timings);

    // 5. Tiers.
    if defs.is_empty() {
        defs = default_tiers();
        set_tier_rules(app, tenant, &defs).await?;
        notes.push("no tier rules were set: installed Platinum (top 5% by CLV), Gold (top 20%), Silver (top 50%), Bronze (everyone)".into());
    }
    let tier_inputs: Vec<TierInput> = customers
        .iter()
        .enumerate()
        .map(|(i, c)| TierInput {
            customer_id: c.customer_id,
            clv: clv[i],
            total_spend_minor: c.total_spend_minor,
            segment: rfm.get(i).map(|s| s.segment),
        })
        .collect();
    let prev_names: HashMap<i64, String> =
        previous.iter().map(|(k, (t, _))| (*k, t.clone())).collect();
    let eval = evaluate_tiers(&defs, &tier_inputs, &prev_names, &TierOptions::default())?;

    // 6. Replenishment.
    let purchases: Vec<ProductPurchase> = product_purchases(&lines)
        .into_iter()
        .filter(|p| p.day <= as_of)
        .collect();
    drop(lines);
    let mut predictions = Vec::new();
    if !purchases.is_empty() {
        match predict_replenishment(&purchases, &households, &ReplenishmentOptions::default()) {
            Ok(rep) => {
                for p in rep.predictions.iter().filter(|p| {
                    // When the catalogue marks consumables (a consumption hint), only they
                    // run out; otherwise any product bought on two days or more.
                    (if consumables.is_empty() {
                        p.purchases >= 2
                    } else {
                        consumables.contains(&p.product_id)
                    }) && p.rate_per_day.is_finite()
                        && p.rate_per_day > 0.0
                }) {
                    let (Some(out), Some(lo), Some(hi)) = (
                        day_to_ms(p.run_out_day),
                        day_to_ms(p.run_out_low_day),
                        day_to_ms(p.run_out_high_day),
                    ) else {
                        continue;
                    };
                    predictions.push(PredictionRow {
                        customer_id: p.customer_id,
                        product_id: p.product_id,
                        purchases: i64::from(p.purchases),
                        last_purchase_at: p.last_purchase_day * DAY_MS,
                        last_quantity: p.last_quantity,
                        rate_per_day: p.rate_per_day,
                        credibility: p.credibility.clamp(0.0, 1.0),
                        run_out_at: out,
                        run_out_low_at: lo,
                        run_out_high_at: hi,
                        task_due_at: out.saturating_sub(opts.lead_days * DAY_MS),
                    });
                }
            }
            Err(e) => notes.push(format!("replenishment: {e}")),
        }
    }
    let due_lo = (as_of - opts.lead_days) * DAY_MS;
    let due_hi = (as_of + opts.lead_days) * DAY_MS;
    let due_soon = predictions
        .iter()
        .filter(|p| p.run_out_at >= due_lo && p.run_out_at <= due_hi)
        .count() as u64;
    lap("replenishment", &mut timings);

    // 7. Rows and report.
    let now = app.now();
    let scores: Vec<ScoreRow> = customers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let r = rfm.get(i);
            let s = signals.get(i);
            let reasons = risk.get(&c.customer_id).map(|rs| {
                rs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            });
            ScoreRow {
                customer_id: c.customer_id,
                purchases: i64::from(c.purchase_count),
                first_purchase_at: c.first_purchase_day * DAY_MS,
                last_purchase_at: c.last_purchase_day * DAY_MS,
                total_spend_minor: c.total_spend_minor,
                frequency: i64::from(c.history.frequency),
                recency: finite(c.history.recency).unwrap_or(0.0),
                age: finite(c.history.age).unwrap_or(0.0),
                monetary: finite(c.history.monetary_value).unwrap_or(0.0),
                rfm_r: r.map_or(0, |r| i64::from(r.r)),
                rfm_f: r.map_or(0, |r| i64::from(r.f)),
                rfm_m: r.map_or(0, |r| i64::from(r.m)),
                rfm_fm: r.map_or(0, |r| i64::from(r.fm)),
                segment: r.map_or_else(String::new, |r| r.segment.name().to_string()),
                p_alive: p_alive[i],
                expected_purchases: expected[i],
                expected_spend: spend[i],
                clv: clv[i],
                churn_risk: p_alive[i].map(|p| (1.0 - p).clamp(0.0, 1.0)),
                lateness: s.and_then(|s| s.lateness).and_then(finite),
                days_since_last: s.map_or(0, |s| s.days_since_last),
                in_hiatus: s.is_some_and(|s| s.in_hiatus),
                at_risk: reasons.is_some(),
                risk_value: finite(values[i]).unwrap_or(0.0),
                risk_reasons: reasons,
            }
        })
        .collect();
    let tiers: Vec<TierRow> = eval
        .assignments
        .iter()
        .filter_map(|a| {
            let tier = a.tier.clone()?;
            let since = match previous.get(&a.customer_id) {
                Some((t, since)) if *t == tier => *since,
                _ => now,
            };
            Some(TierRow {
                customer_id: a.customer_id,
                tier,
                reason: a.reason.clone(),
                since,
            })
        })
        .collect();
    let changes: Vec<TierChangeRow> = eval
        .changes
        .iter()
        .map(|c| TierChangeRow {
            customer_id: c.customer_id,
            from: c.from.clone(),
            to: c.to.clone(),
            direction: direction(c.direction).into(),
            reason: c.reason.clone(),
        })
        .collect();
    let mut tier_counts: Vec<(String, u64)> = defs.iter().map(|d| (d.name.clone(), 0)).collect();
    for t in &tiers {
        if let Some(e) = tier_counts.iter_mut().find(|(n, _)| *n == t.tier) {
            e.1 += 1;
        }
    }
    let seg_counts: Vec<(String, u64)> = concierge_analytics::rfm::segment_counts(&rfm)
        .into_iter()
        .map(|(s, n)| (s.name().to_string(), n))
        .collect();
    let clv_values: Vec<f64> = clv.iter().flatten().copied().collect();
    let mut fits = Vec::new();
    if let Some(bg) = &bg {
        fits = fit_rows(bg, gg.as_ref(), unit, as_of, n)?;
    }
    let mut report = RunReport {
        run_id: 0,
        as_of: format_day(as_of),
        time_unit: unit.as_str().into(),
        customers: n as u64,
        repeat_buyers: customers.iter().filter(|c| c.purchase_count > 1).count() as u64,
        orders: orders.len() as u64,
        excluded: excluded_counts(&summary.warnings),
        bgnbd: bg.as_ref().map(bg_out),
        gamma_gamma: gg.as_ref().map(gg_out),
        frequency_spend_correlation: gg
            .as_ref()
            .and_then(|g| finite(g.frequency_spend_correlation)),
        model_notes: notes,
        segments: seg_counts,
        tiers: tier_counts,
        tier_changes: changes.len() as u64,
        upgrades: changes.iter().filter(|c| c.direction == "upgrade").count() as u64,
        downgrades: changes
            .iter()
            .filter(|c| c.direction == "downgrade")
            .count() as u64,
        at_risk: risk.len() as u64,
        predictions: predictions.len() as u64,
        due_soon,
        tasks_created: 0,
        tier_triggers_fired: 0,
        pareto: ParetoOut {
            customers: curve.customers as u64,
            paying_customers: curve.paying_customers as u64,
            total_revenue_minor: i64::try_from(curve.total_revenue_minor).unwrap_or(i64::MAX),
            top_10_percent_share: finite(curve.share_of_top(10.0)).unwrap_or(0.0),
            top_20_percent_share: finite(curve.top_20_percent_share).unwrap_or(0.0),
            customer_share_for_80_percent: finite(curve.customer_share_for_80_percent)
                .unwrap_or(0.0),
            gini: finite(curve.gini).unwrap_or(0.0),
            points: curve
                .points
                .iter()
                .map(|p| CurvePoint {
                    customers: finite(p.customer_share).unwrap_or(0.0),
                    revenue: finite(p.revenue_share).unwrap_or(0.0),
                })
                .collect(),
        },
        clv_histogram: histogram(&clv_values, 20),
        total_clv: clv_values.iter().sum(),
        timings_ms: Vec::new(),
    };
    progress(Stage::Models, 1, 1);
    lap("tiers", &mut timings);
    progress(Stage::Store, 0, 1);
    report.timings_ms = timings.clone();
    let write = RunWrite {
        as_of: as_of * DAY_MS,
        time_unit: unit.as_str().into(),
        scores,
        tiers,
        changes,
        predictions,
        fits,
        report: serde_json::to_string(&report)
            .map_err(|e| AnalyticsRunError::Invalid(e.to_string()))?,
        started_at,
    };
    report.run_id = app
        .store
        .save_analytics_run(tenant, &write, app.now())
        .await?;
    // Work for people: a refill offer before each predicted run-out that falls due within
    // the lead window, and a win-back call for each valuable customer at risk. Keys make a
    // second run add nothing new for the same prediction or the same month.
    let names = app.store.product_names(tenant).await?;
    let mut tasks = Vec::new();
    for p in write.predictions.iter().filter(|p| p.task_due_at <= due_hi) {
        let product = names
            .get(&p.product_id)
            .cloned()
            .unwrap_or_else(|| format!("product {}", p.product_id));
        tasks.push(concierge_store::cases::NewTask {
            kind: "replenish".into(),
            customer_id: Some(p.customer_id),
            case_id: None,
            title: format!(
                "Offer {product} before it runs out (around {})",
                format_day(p.run_out_at.div_euclid(DAY_MS))
            ),
            assignee_id: None,
            due_at: p.task_due_at,
            unique_key: Some(format!(
                "replenish:{}:{}:{}",
                p.customer_id,
                p.product_id,
                p.run_out_at.div_euclid(DAY_MS)
            )),
        });
    }
    let month = format_day(as_of).get(..7).unwrap_or("").to_string();
    for (customer, reasons) in &risk {
        tasks.push(concierge_store::cases::NewTask {
            kind: "winback".into(),
            customer_id: Some(*customer),
            case_id: None,
            title: format!(
                "Win-back call: at risk ({})",
                reasons
                    .iter()
                    .map(|r| format!("{r:?}").to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            assignee_id: None,
            due_at: now,
            unique_key: Some(format!("winback:{customer}:{month}")),
        });
    }
    report.tasks_created = app.store.create_tasks(tenant, &tasks, now).await?;
    // Triggers on tier changes: once per change of this run (the run id keys their tasks).
    let changes: Vec<_> = write
        .changes
        .iter()
        .map(|c| {
            (
                c.customer_id,
                c.from.clone(),
                c.to.clone(),
                c.direction == "upgrade",
            )
        })
        .collect();
    report.tier_triggers_fired = app
        .fire_tier_triggers(tenant, report.run_id, &changes)
        .await
        .map_err(|e| match e {
            crate::cases::CaseError::Store(s) => AnalyticsRunError::Store(s),
            other => AnalyticsRunError::Invalid(format!("tier_changed triggers: {other}")),
        })?;
    lap("store", &mut timings);
    report.timings_ms = timings;
    // The saved report was written before the tasks and triggers were counted.
    let json =
        serde_json::to_string(&report).map_err(|e| AnalyticsRunError::Invalid(e.to_string()))?;
    app.store
        .update_analytics_run_report(tenant, report.run_id, &json)
        .await?;
    progress(Stage::Store, 1, 1);
    Ok(report)
}

/// The report of the tenant's latest run, if any.
pub async fn latest_report(
    app: &App,
    tenant: TenantId,
) -> Result<Option<RunReport>, AnalyticsRunError> {
    let Some(row) = app.store.latest_analytics_run(tenant).await? else {
        return Ok(None);
    };
    let mut report: RunReport = serde_json::from_str(&row.report).map_err(|e| {
        AnalyticsRunError::Data(format!(
            "the stored analytics report is unreadable ({e}); run `concierge analytics run` again"
        ))
    })?;
    report.run_id = row.id;
    Ok(Some(report))
}

/// One cell of the RFM grid: recency score × FM score, its segment and its customers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GridCellView {
    pub r: i64,
    pub fm: i64,
    pub segment: String,
    pub customers: i64,
}

/// Customers per segment (every segment, best first, zeros included) and the 5×5 RFM grid
/// (recency 5 to 1, FM 1 to 5).
pub async fn segments(
    app: &App,
    tenant: TenantId,
) -> Result<(Vec<LabelCount>, Vec<GridCellView>), AnalyticsRunError> {
    let counts = app.store.segment_counts(tenant).await?;
    let segs = RfmSegment::ALL
        .iter()
        .map(|s| {
            counts
                .iter()
                .find(|c| c.label == s.name())
                .cloned()
                .unwrap_or(LabelCount {
                    label: s.name().to_string(),
                    customers: 0,
                    total_spend_minor: 0,
                })
        })
        .collect();
    let cells = app.store.rfm_grid(tenant).await?;
    let grid = SegmentGrid::standard();
    let mut out = Vec::with_capacity(25);
    for r in (1..=5u8).rev() {
        for fm in 1..=5u8 {
            let customers = cells
                .iter()
                .filter(|c| c.r == i64::from(r) && c.fm == i64::from(fm))
                .map(|c| c.customers)
                .sum();
            out.push(GridCellView {
                r: i64::from(r),
                fm: i64::from(fm),
                segment: grid.segment(r, fm).name().to_string(),
                customers,
            });
        }
    }
    Ok((segs, out))
}

/// Customers per tier, in the order of the tier rules (zeros included), then any tier no
/// longer in the rules.
pub async fn tier_distribution(
    app: &App,
    tenant: TenantId,
) -> Result<Vec<LabelCount>, AnalyticsRunError> {
    let rules = tier_rules(app, tenant).await?;
    let mut counts = app.store.tier_counts(tenant).await?;
    let mut out: Vec<LabelCount> = rules
        .iter()
        .map(|d| match counts.iter().position(|c| c.label == d.name) {
            Some(i) => counts.remove(i),
            None => LabelCount {
                label: d.name.clone(),
                customers: 0,
                total_spend_minor: 0,
            },
        })
        .collect();
    out.extend(counts);
    Ok(out)
}

/// The at-risk list, most valuable first.
pub async fn at_risk(
    app: &App,
    tenant: TenantId,
    limit: i64,
) -> Result<Vec<AtRiskRow>, AnalyticsRunError> {
    Ok(app.store.at_risk(tenant, limit.clamp(1, 1000)).await?)
}

/// Replenishment due soon: predicted run-out within `within_days` before or after now.
pub async fn due_soon(
    app: &App,
    tenant: TenantId,
    within_days: i64,
    limit: i64,
) -> Result<Vec<DueRow>, AnalyticsRunError> {
    let now = app.now();
    let w = within_days.clamp(0, 365) * DAY_MS;
    Ok(app
        .store
        .replenishment_due(tenant, now - w, now + w, limit.clamp(1, 1000))
        .await?)
}

/// What is known about one customer: scores, tier with history, predictions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerAnalytics {
    pub score: Option<ScoreRow>,
    /// (tier, reason, since).
    pub tier: Option<(String, String, i64)>,
    pub tier_history: Vec<TierHistoryRow>,
    pub predictions: Vec<DueRow>,
}

/// One customer's analytics (None if the customer is not in `tenant`).
pub async fn customer(
    app: &App,
    tenant: TenantId,
    customer_id: i64,
) -> Result<Option<CustomerAnalytics>, AnalyticsRunError> {
    if app
        .store
        .customer(tenant, concierge_domain::CustomerId(customer_id))
        .await?
        .is_none()
    {
        return Ok(None);
    }
    Ok(Some(CustomerAnalytics {
        score: app.store.customer_score(tenant, customer_id).await?,
        tier: app.store.customer_tier(tenant, customer_id).await?,
        tier_history: app.store.tier_history(tenant, customer_id).await?,
        predictions: app.store.customer_predictions(tenant, customer_id).await?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_caps_and_counts_everything() {
        let mut v: Vec<f64> = (0..100).map(f64::from).collect();
        v.push(1e9);
        let h = histogram(&v, 10);
        assert_eq!(h.len(), 10);
        assert_eq!(h.iter().map(|b| b.customers).sum::<u64>(), 101);
        assert!(h.last().is_some_and(|b| b.high >= 1e9));
        assert!(histogram(&[f64::NAN], 10).is_empty());
    }

    #[test]
    fn days_parse_and_format() {
        let d = parse_day("1997-09-30").unwrap();
        assert_eq!(format_day(d), "1997-09-30");
        assert!(parse_day("30/09/1997").is_err());
    }
}
