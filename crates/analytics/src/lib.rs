//! Concierge analytics: knowing the customer from their purchases (issue 6; mission principles
//! P2, P3 and P13).
//!
//! Pure functions over plain structs — no I/O, no async, no database. The store layer loads
//! transactions, calls these functions, and stores the results.
//!
//! * [`summary`] — per-customer purchase summaries (frequency, recency, age, mean repeat spend).
//! * [`rfm`] — RFM quintile scores and named segments.
//! * [`mod@pareto`] — share of revenue from the top customers, the Lorenz/Pareto curve, Gini.
//! * [`bgnbd`], [`gamma_gamma`], [`clv`] — BG/NBD and Gamma-Gamma models, P(alive), expected
//!   purchases, customer lifetime value (comparable with the Python `lifetimes` package).
//! * [`churn`] — churn risk: 1 − P(alive), rhythm lateness, hiatus rule, at-risk selection.
//! * [`replenishment`] — the rice jar: per customer × product consumption rate and run-out date.
//! * [`tiers`] — tier rules evaluated into assignments and changes with reasons.
//! * [`simulate`], [`mod@bench`] — seeded data generators and a timed pipeline for benchmarks.

pub mod bench;
pub mod bgnbd;
pub mod churn;
pub mod clv;
pub mod error;
pub mod gamma_gamma;
mod optimize;
pub mod pareto;
pub mod replenishment;
pub mod rfm;
pub mod simulate;
mod special;
pub mod summary;
pub mod tiers;
mod util;

pub use bgnbd::{
    BgNbdFit, BgNbdParams, FitOptions, WeightedHistory, fit_bgnbd, fit_bgnbd_weighted,
};
pub use churn::{AtRiskCustomer, AtRiskRule, ChurnSignals, churn_signals_all, select_at_risk};
pub use clv::{ClvOptions, CustomerScore, ScoreOptions, customer_lifetime_value, score_customers};
pub use error::{AnalyticsError, Result};
pub use gamma_gamma::{GammaGammaFit, GammaGammaParams, fit_gamma_gamma};
pub use pareto::{ParetoCurve, ParetoPoint, pareto};
pub use replenishment::{
    BacktestReport, ProductPurchase, ReplenishmentOptions, ReplenishmentPrediction,
    ReplenishmentReport, backtest, due_soon, predict_replenishment,
};
pub use rfm::{RfmInput, RfmScore, RfmSegment, SegmentGrid, rfm_scores};
pub use summary::{
    CustomerSummary, Grouping, History, SummaryOptions, SummaryReport, SummaryWarning, TimeUnit,
    Transaction, ZeroAmounts, day_from_epoch_ms, day_from_ymd, summarize, ymd_from_day,
};
pub use tiers::{TierChange, TierDefinition, TierEvaluation, TierInput, TierRule, evaluate_tiers};
