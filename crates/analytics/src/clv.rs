//! Customer scoring with the fitted models: P(alive), expected purchases over a horizon,
//! expected spend per purchase, and customer lifetime value.
//!
//! CLV is computed exactly as `lifetimes.GammaGammaFitter.customer_lifetime_value` (0.11.3)
//! does, so the two can be compared number for number: for each month k = 1..=months, with
//! `f` = time units per month (30 for days, 4.345 for weeks),
//!
//! ```text
//! CLV = Σ_k  E[spend] · (E[Y(k·f) | x, t_x, T] − E[Y((k−1)·f) | x, t_x, T]) / (1 + d)^k
//! ```
//!
//! where E\[spend\] is the Gamma-Gamma conditional expected spend per purchase and E\[Y\] the BG/NBD
//! conditional expected number of purchases. The result is in the money unit of the monetary
//! values (minor units when they come from [`crate::summary::summarize`]).
//!
//! Speed: the expensive part of E[Y(t)] (a hypergeometric series) depends only on (x, T, t), not on
//! t_x, so it is computed once per distinct (x, T) and shared; customers are then scored in
//! parallel with a handful of multiplications each.

use crate::bgnbd::{BgNbdParams, validate_row};
use crate::error::{AnalyticsError, Result};
use crate::gamma_gamma::GammaGammaParams;
use crate::summary::{History, TimeUnit};
use crate::util::FxMap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How lifetime value is computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClvOptions {
    /// Horizon in months (`time` in lifetimes). Default 12.
    pub months: u32,
    /// Monthly discount rate (`discount_rate` in lifetimes). Default 0.01.
    pub monthly_discount_rate: f64,
    /// Unit the histories are measured in (`freq` in lifetimes: `D` or `W`).
    pub time_unit: TimeUnit,
}

impl Default for ClvOptions {
    fn default() -> Self {
        Self {
            months: 12,
            monthly_discount_rate: 0.01,
            time_unit: TimeUnit::Day,
        }
    }
}

/// Options for [`score_customers`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreOptions {
    /// Horizon, in time units, for [`CustomerScore::expected_purchases`] (e.g. 90 days).
    pub horizon: f64,
    /// Lifetime-value settings.
    pub clv: ClvOptions,
}

/// Model outputs for one customer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CustomerScore {
    /// Probability the customer is still active (BG/NBD). Churn risk is `1 - prob_alive`.
    pub prob_alive: f64,
    /// Expected number of purchases within the horizon.
    pub expected_purchases: f64,
    /// Expected spend per future purchase (Gamma-Gamma), money units.
    pub expected_average_spend: f64,
    /// Discounted lifetime value over `clv.months`, money units.
    pub clv: f64,
}

fn check_options(opts: &ScoreOptions) -> Result<()> {
    if !(opts.horizon.is_finite() && opts.horizon >= 0.0) {
        return Err(AnalyticsError::invalid(format!(
            "horizon {} must be >= 0",
            opts.horizon
        )));
    }
    let d = opts.clv.monthly_discount_rate;
    if !(d.is_finite() && d > -1.0) {
        return Err(AnalyticsError::invalid(format!(
            "monthly discount rate {d} must be above -1"
        )));
    }
    if opts.clv.months > 1200 {
        return Err(AnalyticsError::invalid(
            "CLV horizon is limited to 1200 months",
        ));
    }
    Ok(())
}

/// Scores every customer; the result is aligned with `histories`.
pub fn score_customers(
    bg: &BgNbdParams,
    gg: &GammaGammaParams,
    histories: &[History],
    options: &ScoreOptions,
) -> Result<Vec<CustomerScore>> {
    bg.validate()?;
    gg.validate()?;
    check_options(options)?;
    for h in histories {
        validate_row(h.frequency, h.recency, h.age, 1.0)?;
        if !h.monetary_value.is_finite() {
            return Err(AnalyticsError::invalid("monetary value must be finite"));
        }
    }
    let months = options.clv.months as usize;
    let per_month = options.clv.time_unit.units_per_month();
    // Column 0: horizon; columns 1..=months+1: t = 0, f, 2f, ..., months·f.
    let mut times = Vec::with_capacity(months + 2);
    times.push(options.horizon);
    times.extend((0..=months).map(|k| k as f64 * per_month));
    let width = times.len();

    let mut keys: FxMap<(u32, u64), u32> = FxMap::default();
    let mut distinct: Vec<(u32, f64)> = Vec::new();
    let key_of: Vec<u32> = histories
        .iter()
        .map(|h| {
            let age = if h.age == 0.0 { 0.0 } else { h.age };
            let next = distinct.len() as u32;
            let k = *keys.entry((h.frequency, age.to_bits())).or_insert(next);
            if k == next {
                distinct.push((h.frequency, age));
            }
            k
        })
        .collect();
    let table: Vec<Vec<f64>> = distinct
        .par_iter()
        .map(|&(x, age)| {
            times
                .iter()
                .map(|&t| bg.numerator(t, x, age))
                .collect::<Result<Vec<f64>>>()
        })
        .collect::<Result<_>>()?;
    debug_assert!(table.iter().all(|r| r.len() == width));

    let growth = 1.0 + options.clv.monthly_discount_rate;
    let discounts: Vec<f64> = (1..=months).map(|k| growth.powi(-(k as i32))).collect();
    let population_spend = gg.population_mean_spend()?;
    let (p, q) = (gg.p, gg.q);
    let scores: Vec<CustomerScore> = histories
        .par_iter()
        .zip(key_of.par_iter())
        .map(|(h, &k)| {
            let row = &table[k as usize];
            let alive = bg.prob_alive(h.frequency, h.recency, h.age);
            let spend = if h.frequency == 0 {
                population_spend
            } else {
                let px = p * f64::from(h.frequency);
                let w = px / (px + q - 1.0);
                (1.0 - w) * population_spend + w * h.monetary_value
            };
            let mut clv = 0.0;
            for (m, disc) in discounts.iter().enumerate() {
                clv += spend * alive * (row[m + 2] - row[m + 1]) * disc;
            }
            CustomerScore {
                prob_alive: alive,
                expected_purchases: alive * row[0],
                expected_average_spend: spend,
                clv,
            }
        })
        .collect();
    if let Some(bad) = scores.iter().position(|s| {
        !(s.prob_alive.is_finite()
            && s.expected_purchases.is_finite()
            && s.clv.is_finite()
            && s.expected_average_spend.is_finite())
    }) {
        return Err(AnalyticsError::Numerical {
            what: "customer scoring",
            detail: format!("non-finite score for history {:?}", histories[bad]),
        });
    }
    Ok(scores)
}

/// Lifetime value only (see the module documentation), aligned with `histories`.
pub fn customer_lifetime_value(
    bg: &BgNbdParams,
    gg: &GammaGammaParams,
    histories: &[History],
    options: &ClvOptions,
) -> Result<Vec<f64>> {
    let opts = ScoreOptions {
        horizon: 0.0,
        clv: *options,
    };
    Ok(score_customers(bg, gg, histories, &opts)?
        .into_iter()
        .map(|s| s.clv)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clv_agrees_with_direct_formula() {
        let bg = BgNbdParams {
            r: 0.24,
            alpha: 4.41,
            a: 0.79,
            b: 2.43,
        };
        let gg = GammaGammaParams {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        let hs = [
            History::new(2, 30.43, 38.86, 22.35),
            History::new(0, 0.0, 38.86, 0.0),
        ];
        let opts = ClvOptions {
            months: 6,
            monthly_discount_rate: 0.01,
            time_unit: TimeUnit::Week,
        };
        let clv = customer_lifetime_value(&bg, &gg, &hs, &opts).unwrap();
        for (h, c) in hs.iter().zip(&clv) {
            let spend = gg
                .expected_average_spend(h.frequency, h.monetary_value)
                .unwrap();
            let mut direct = 0.0;
            for k in 1..=6 {
                let t = k as f64 * 4.345;
                let de = bg
                    .expected_purchases(t, h.frequency, h.recency, h.age)
                    .unwrap()
                    - bg.expected_purchases(t - 4.345, h.frequency, h.recency, h.age)
                        .unwrap();
                direct += spend * de / 1.01f64.powi(k);
            }
            assert!((direct - c).abs() < 1e-10 * direct.abs(), "{direct} vs {c}");
            assert!(*c > 0.0);
        }
    }

    #[test]
    fn bad_options_are_errors() {
        let bg = BgNbdParams {
            r: 0.24,
            alpha: 4.41,
            a: 0.79,
            b: 2.43,
        };
        let gg = GammaGammaParams {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        let opts = ScoreOptions {
            horizon: f64::NAN,
            clv: ClvOptions::default(),
        };
        assert!(score_customers(&bg, &gg, &[], &opts).is_err());
        let opts = ScoreOptions {
            horizon: 10.0,
            clv: ClvOptions::default(),
        };
        assert!(score_customers(&bg, &gg, &[], &opts).unwrap().is_empty());
    }
}
