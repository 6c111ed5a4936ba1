//! A timed end-to-end pipeline on simulated data — summary, BG/NBD fit, Gamma-Gamma fit, scoring
//! with CLV — for `concierge bench analytics`. It only measures; storing results is the caller's
//! part (and its timing too).

use crate::bgnbd::{BgNbdFit, FitOptions, fit_bgnbd};
use crate::clv::{ClvOptions, CustomerScore, ScoreOptions, score_customers};
use crate::error::Result;
use crate::gamma_gamma::{GammaGammaFit, fit_gamma_gamma};
use crate::simulate::{TransactionSimulation, simulate_transactions};
use crate::summary::{SummaryOptions, SummaryReport, TimeUnit, summarize};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BenchOptions {
    /// Customers to simulate.
    pub customers: usize,
    /// RNG seed.
    pub seed: u64,
    /// Time unit of the summary and models.
    pub time_unit: TimeUnit,
}

/// Timings (milliseconds) and results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Customers simulated.
    pub customers: usize,
    /// Transactions simulated.
    pub transactions: usize,
    /// Time to simulate the transactions (not part of the pipeline).
    pub simulate_ms: f64,
    /// Time to summarise transactions per customer.
    pub summary_ms: f64,
    /// Time to fit BG/NBD.
    pub fit_bgnbd_ms: f64,
    /// Time to fit Gamma-Gamma.
    pub fit_gamma_gamma_ms: f64,
    /// Time to score every customer (P(alive), expected purchases, expected spend, 12-month CLV).
    pub score_ms: f64,
    /// Fit + scoring, the figure compared with `lifetimes`.
    pub fit_and_score_ms: f64,
    /// BG/NBD fit.
    pub bgnbd: BgNbdFit,
    /// Gamma-Gamma fit.
    pub gamma_gamma: GammaGammaFit,
    /// Sum of CLV over all customers (a checksum for comparisons).
    pub total_clv: f64,
}

/// The report plus the data it ran on (so a caller can export the summary, e.g. to compare with
/// `lifetimes`, or store the scores).
#[derive(Debug, Clone)]
pub struct BenchRun {
    /// Timings and fits.
    pub report: BenchReport,
    /// The per-customer summary.
    pub summary: SummaryReport,
    /// Scores aligned with `summary.customers`.
    pub scores: Vec<CustomerScore>,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Simulates [`TransactionSimulation::typical`] data and times each stage.
pub fn run_pipeline(options: &BenchOptions) -> Result<BenchRun> {
    let spec = TransactionSimulation::typical(options.customers);
    let t = Instant::now();
    let txs = simulate_transactions(&spec, options.seed);
    let simulate_ms = ms(t);

    let t = Instant::now();
    let summary = summarize(
        &txs,
        &SummaryOptions::new(spec.observation_end_day, options.time_unit),
    );
    let histories = summary.histories();
    let summary_ms = ms(t);

    let t = Instant::now();
    let bgnbd = fit_bgnbd(&histories, &FitOptions::default())?;
    let fit_bgnbd_ms = ms(t);

    let t = Instant::now();
    let gamma_gamma = fit_gamma_gamma(&histories)?;
    let fit_gamma_gamma_ms = ms(t);

    let t = Instant::now();
    let score_opts = ScoreOptions {
        horizon: 90.0 / options.time_unit.days(),
        clv: ClvOptions {
            months: 12,
            monthly_discount_rate: 0.01,
            time_unit: options.time_unit,
        },
    };
    let scores = score_customers(&bgnbd.params, &gamma_gamma.params, &histories, &score_opts)?;
    let score_ms = ms(t);

    let report = BenchReport {
        customers: options.customers,
        transactions: txs.len(),
        simulate_ms,
        summary_ms,
        fit_bgnbd_ms,
        fit_gamma_gamma_ms,
        score_ms,
        fit_and_score_ms: fit_bgnbd_ms + fit_gamma_gamma_ms + score_ms,
        bgnbd,
        gamma_gamma,
        total_clv: scores.iter().map(|s| s.clv).sum(),
    };
    Ok(BenchRun {
        report,
        summary,
        scores,
    })
}
