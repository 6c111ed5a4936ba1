//! Replenishment — the rice seller's notebook (principle P2): for every customer × product bought
//! repeatedly, how fast the customer uses it up, and when they will run out.
//!
//! **Consumption rate.** The quantity bought at purchase *i* is taken to be consumed over the gap
//! until purchase *i + 1*. A customer's own rate is the ratio estimator
//! `Σ quantity_i / Σ gap_i` over their intervals (all purchases except the last), in units per day.
//!
//! **Shrinkage (empirical Bayes).** A customer with one or two intervals says little, so their
//! rate is pulled toward the product's population rate with Bühlmann credibility, in log space
//! (rates are multiplicative): `ln rate = Z · ln(own rate) + (1 − Z) · ln(prior)`, with
//! `Z = m / (m + k)` for a customer with *m* intervals. `k = σ²_within / τ²_between` is estimated
//! per product from the data (the spread of per-interval log rates within customers against the
//! spread of customers' log rates around the population), clamped to [0.05, 100]; when it cannot
//! be estimated (fewer than two repeat buyers) `k` = [`ReplenishmentOptions::default_credibility`].
//! A customer who bought a product only once gets the prior alone (Z = 0).
//!
//! **Household size.** When a customer's household size is known, their prior is the
//! population rate scaled by `size / mean size` (mean over the product's repeat buyers whose
//! size is known): a household twice the average size is expected to eat twice as much rice.
//! Customers of unknown size get the population rate unscaled.
//!
//! **Run-out date.** `last purchase day + last quantity / rate`. The interval multiplies the days
//! of supply by `exp(± z · s)` where `s² = σ²_within + (1 − Z) τ²_between` (the interval-to-interval
//! noise plus what is still uncertain about the customer's rate) and `z` is the normal quantile
//! for [`ReplenishmentOptions::interval_level`].
//!
//! **Backtest.** [`backtest`] holds out every customer × product's last purchase, fits on the rest
//! (population statistics included, so nothing leaks), and compares the predicted run-out date with
//! the actual next purchase, against the naive "last purchase + mean gap" baseline.

use crate::error::{AnalyticsError, Result};
use crate::special::inverse_normal_cdf;
use crate::util::FxMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One purchase of a product by a customer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProductPurchase {
    /// The customer.
    pub customer_id: i64,
    /// The product.
    pub product_id: i64,
    /// Day number of the purchase.
    pub day: i64,
    /// Quantity in the product's unit (packs, kilograms, …); must be positive.
    pub quantity: f64,
}

/// Options for [`predict_replenishment`] and [`backtest`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReplenishmentOptions {
    /// Coverage of the run-out interval, e.g. 0.8 for an 80% interval.
    pub interval_level: f64,
    /// Credibility constant k used when it cannot be estimated from the data.
    pub default_credibility: f64,
    /// Within-customer log-rate standard deviation assumed when it cannot be estimated.
    pub default_log_sd: f64,
}

impl Default for ReplenishmentOptions {
    fn default() -> Self {
        Self {
            interval_level: 0.8,
            default_credibility: 2.0,
            default_log_sd: 0.3,
        }
    }
}

/// Population statistics of one product.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProductRate {
    /// The product.
    pub product_id: i64,
    /// Customers with at least one interval (two purchases on different days).
    pub repeat_customers: usize,
    /// Intervals observed.
    pub intervals: usize,
    /// Pooled consumption rate, units per day, for a household of the mean size.
    pub rate_per_day: f64,
    /// Mean household size among repeat buyers whose size is known.
    pub mean_household_size: Option<f64>,
    /// Credibility constant k (intervals worth as much as the prior).
    pub credibility_k: f64,
    /// Within-customer standard deviation of per-interval log rates.
    pub log_sd_within: f64,
    /// Between-customer standard deviation of log rates.
    pub log_sd_between: f64,
}

/// Predicted run-out of one product for one customer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReplenishmentPrediction {
    /// The customer.
    pub customer_id: i64,
    /// The product.
    pub product_id: i64,
    /// Distinct purchase days of this product.
    pub purchases: u32,
    /// Day of the last purchase.
    pub last_purchase_day: i64,
    /// Quantity bought that day.
    pub last_quantity: f64,
    /// The customer's own rate (None with a single purchase), units per day.
    pub own_rate_per_day: Option<f64>,
    /// The prior rate for this customer (population, household-scaled), units per day.
    pub prior_rate_per_day: f64,
    /// Credibility Z given to the customer's own rate (0..1).
    pub credibility: f64,
    /// The rate used, units per day.
    pub rate_per_day: f64,
    /// Household size used for scaling, if known.
    pub household_size: Option<f64>,
    /// Days the last purchase should last.
    pub days_of_supply: f64,
    /// Predicted run-out, as a fractional day number.
    pub run_out_day: f64,
    /// Lower end of the interval (fractional day number).
    pub run_out_low_day: f64,
    /// Upper end of the interval (fractional day number).
    pub run_out_high_day: f64,
    /// Naive baseline: last purchase + mean gap (None with a single purchase).
    pub naive_next_day: Option<f64>,
}

impl ReplenishmentPrediction {
    /// Run-out day rounded to a whole day number.
    pub fn run_out_day_rounded(&self) -> i64 {
        self.run_out_day.round() as i64
    }
}

/// Input problems that were skipped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReplenishmentWarning {
    /// A purchase with zero, negative or non-finite quantity was ignored.
    BadQuantity {
        /// The customer.
        customer_id: i64,
        /// The product.
        product_id: i64,
        /// Day of the purchase.
        day: i64,
    },
    /// A household size that is not a positive number was ignored.
    BadHouseholdSize {
        /// The customer.
        customer_id: i64,
    },
    /// No customer bought this product twice yet, so nobody's run-out can be predicted.
    NoRepeatBuyers {
        /// The product.
        product_id: i64,
    },
}

/// Result of [`predict_replenishment`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReplenishmentReport {
    /// One prediction per customer × product (for products with a population rate), sorted by
    /// run-out day.
    pub predictions: Vec<ReplenishmentPrediction>,
    /// Statistics per product with repeat buyers, by product id.
    pub products: Vec<ProductRate>,
    /// Skipped input.
    pub warnings: Vec<ReplenishmentWarning>,
}

/// One customer × product purchase history: merged per day, sorted.
struct Series {
    customer_id: i64,
    product_id: i64,
    days: Vec<i64>,
    qty: Vec<f64>,
}

impl Series {
    fn intervals(&self) -> usize {
        self.days.len().saturating_sub(1)
    }
    fn own_rate(&self) -> Option<f64> {
        let m = self.intervals();
        if m == 0 {
            return None;
        }
        let q: f64 = self.qty[..m].iter().sum();
        let g = (self.days[m] - self.days[0]) as f64;
        Some(q / g)
    }
    fn naive_next(&self) -> Option<f64> {
        let m = self.intervals();
        (m > 0).then(|| {
            let last = self.days[m] as f64;
            last + (self.days[m] - self.days[0]) as f64 / m as f64
        })
    }
}

fn build_series(
    purchases: &[ProductPurchase],
    warnings: &mut Vec<ReplenishmentWarning>,
) -> Vec<Series> {
    let mut rows: Vec<&ProductPurchase> = Vec::with_capacity(purchases.len());
    for p in purchases {
        if p.quantity.is_finite() && p.quantity > 0.0 {
            rows.push(p);
        } else {
            warnings.push(ReplenishmentWarning::BadQuantity {
                customer_id: p.customer_id,
                product_id: p.product_id,
                day: p.day,
            });
        }
    }
    rows.sort_unstable_by_key(|p| (p.product_id, p.customer_id, p.day));
    let mut out: Vec<Series> = Vec::new();
    for p in rows {
        match out.last_mut() {
            Some(s) if s.product_id == p.product_id && s.customer_id == p.customer_id => {
                if s.days.last() == Some(&p.day) {
                    if let Some(q) = s.qty.last_mut() {
                        *q += p.quantity;
                    }
                } else {
                    s.days.push(p.day);
                    s.qty.push(p.quantity);
                }
            }
            _ => out.push(Series {
                customer_id: p.customer_id,
                product_id: p.product_id,
                days: vec![p.day],
                qty: vec![p.quantity],
            }),
        }
    }
    out
}

fn clean_households(
    households: &HashMap<i64, f64>,
    warnings: &mut Vec<ReplenishmentWarning>,
) -> FxMap<i64, f64> {
    let mut ids: Vec<(&i64, &f64)> = households.iter().collect();
    ids.sort_unstable_by_key(|(id, _)| **id);
    let mut out = FxMap::default();
    for (id, size) in ids {
        if size.is_finite() && *size > 0.0 {
            out.insert(*id, *size);
        } else {
            warnings.push(ReplenishmentWarning::BadHouseholdSize { customer_id: *id });
        }
    }
    out
}

/// Estimates product statistics from `series` (all of one product) and predicts each series.
fn product_model(
    series: &[&Series],
    households: &FxMap<i64, f64>,
    opts: &ReplenishmentOptions,
    z: f64,
) -> Option<(ProductRate, Vec<ReplenishmentPrediction>)> {
    let product_id = series.first()?.product_id;
    let repeaters: Vec<&&Series> = series.iter().filter(|s| s.intervals() > 0).collect();
    if repeaters.is_empty() {
        return None;
    }
    let known: Vec<f64> = repeaters
        .iter()
        .filter_map(|s| households.get(&s.customer_id).copied())
        .collect();
    let mean_size = (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64);
    let factor = |customer_id: i64| -> f64 {
        match (mean_size, households.get(&customer_id)) {
            (Some(mean), Some(size)) => size / mean,
            _ => 1.0,
        }
    };
    // Pooled rate for a household of the mean size.
    let (mut q_all, mut fg_all, mut intervals) = (0.0, 0.0, 0usize);
    for s in &repeaters {
        let m = s.intervals();
        q_all += s.qty[..m].iter().sum::<f64>();
        fg_all += factor(s.customer_id) * (s.days[m] - s.days[0]) as f64;
        intervals += m;
    }
    let mu = q_all / fg_all;
    let ln_mu = mu.ln();
    // Within-customer variance of per-interval (normalised) log rates.
    let (mut ss_within, mut df_within) = (0.0, 0usize);
    for s in repeaters.iter().filter(|s| s.intervals() >= 2) {
        let m = s.intervals();
        let logs: Vec<f64> = (0..m)
            .map(|i| (s.qty[i] / (s.days[i + 1] - s.days[i]) as f64).ln())
            .collect();
        let mean = logs.iter().sum::<f64>() / m as f64;
        ss_within += logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>();
        df_within += m - 1;
    }
    let var_within = if df_within > 0 {
        Some(ss_within / df_within as f64)
    } else {
        None
    };
    // Between-customer variance of normalised log rates around the population.
    let var_between = if repeaters.len() >= 2 {
        let sw = var_within.unwrap_or(opts.default_log_sd.powi(2));
        let (mut ss, mut noise) = (0.0, 0.0);
        for s in &repeaters {
            let own = s.own_rate().unwrap_or(mu) / factor(s.customer_id);
            ss += (own.ln() - ln_mu).powi(2);
            noise += sw / s.intervals() as f64;
        }
        let n = repeaters.len() as f64;
        Some(((ss - noise) / n).max(0.0))
    } else {
        None
    };
    let k = match (var_within, var_between) {
        (Some(w), Some(b)) if b > 0.0 => (w / b).clamp(0.05, 100.0),
        (Some(_), Some(_)) => 100.0,
        _ => opts.default_credibility,
    };
    let sd_within = var_within.map_or(opts.default_log_sd, f64::sqrt);
    let var_b = var_between.unwrap_or(sd_within.powi(2) / k);
    let stats = ProductRate {
        product_id,
        repeat_customers: repeaters.len(),
        intervals,
        rate_per_day: mu,
        mean_household_size: mean_size,
        credibility_k: k,
        log_sd_within: sd_within,
        log_sd_between: var_b.sqrt(),
    };
    let predictions = series
        .iter()
        .map(|s| {
            let m = s.intervals();
            let f = factor(s.customer_id);
            let prior = mu * f;
            let own = s.own_rate();
            let zc = m as f64 / (m as f64 + k);
            let ln_rate = match own {
                Some(r) => zc * r.ln() + (1.0 - zc) * prior.ln(),
                None => prior.ln(),
            };
            let rate = ln_rate.exp();
            let last_q = s.qty[m];
            let last_day = s.days[m];
            let dos = last_q / rate;
            let spread = (sd_within.powi(2) + (1.0 - zc) * var_b).sqrt() * z;
            ReplenishmentPrediction {
                customer_id: s.customer_id,
                product_id: s.product_id,
                purchases: s.days.len() as u32,
                last_purchase_day: last_day,
                last_quantity: last_q,
                own_rate_per_day: own,
                prior_rate_per_day: prior,
                credibility: zc,
                rate_per_day: rate,
                household_size: households.get(&s.customer_id).copied(),
                days_of_supply: dos,
                run_out_day: last_day as f64 + dos,
                run_out_low_day: last_day as f64 + dos * (-spread).exp(),
                run_out_high_day: last_day as f64 + dos * spread.exp(),
                naive_next_day: s.naive_next(),
            }
        })
        .collect();
    Some((stats, predictions))
}

fn check_options(opts: &ReplenishmentOptions) -> Result<f64> {
    if !(opts.interval_level > 0.0 && opts.interval_level < 1.0) {
        return Err(AnalyticsError::invalid(
            "interval_level must be between 0 and 1 (e.g. 0.8)",
        ));
    }
    if !(opts.default_credibility.is_finite() && opts.default_credibility > 0.0) {
        return Err(AnalyticsError::invalid(
            "default_credibility must be positive",
        ));
    }
    if !(opts.default_log_sd.is_finite() && opts.default_log_sd >= 0.0) {
        return Err(AnalyticsError::invalid("default_log_sd must be >= 0"));
    }
    Ok(inverse_normal_cdf(0.5 + opts.interval_level / 2.0))
}

fn run(
    series: &[Series],
    households: &FxMap<i64, f64>,
    opts: &ReplenishmentOptions,
    z: f64,
    warnings: &mut Vec<ReplenishmentWarning>,
) -> (Vec<ProductRate>, Vec<ReplenishmentPrediction>) {
    let mut products = Vec::new();
    let mut predictions = Vec::new();
    let mut i = 0;
    while i < series.len() {
        let pid = series[i].product_id;
        let mut j = i;
        while j < series.len() && series[j].product_id == pid {
            j += 1;
        }
        let group: Vec<&Series> = series[i..j].iter().collect();
        match product_model(&group, households, opts, z) {
            Some((stats, preds)) => {
                products.push(stats);
                predictions.extend(preds);
            }
            None => warnings.push(ReplenishmentWarning::NoRepeatBuyers { product_id: pid }),
        }
        i = j;
    }
    (products, predictions)
}

/// Predicts run-out for every customer × product. `household_sizes` maps customer id to the
/// number of people in the household (may be empty).
pub fn predict_replenishment(
    purchases: &[ProductPurchase],
    household_sizes: &HashMap<i64, f64>,
    options: &ReplenishmentOptions,
) -> Result<ReplenishmentReport> {
    let z = check_options(options)?;
    let mut warnings = Vec::new();
    let households = clean_households(household_sizes, &mut warnings);
    let series = build_series(purchases, &mut warnings);
    let (products, mut predictions) = run(&series, &households, options, z, &mut warnings);
    predictions.sort_by(|a, b| {
        a.run_out_day
            .total_cmp(&b.run_out_day)
            .then(a.customer_id.cmp(&b.customer_id))
            .then(a.product_id.cmp(&b.product_id))
    });
    Ok(ReplenishmentReport {
        predictions,
        products,
        warnings,
    })
}

/// Predictions whose run-out falls within `lead_days` after `today` (or already passed, but not
/// more than `lead_days` ago): the "due soon" queue. Sorted as given.
pub fn due_soon(
    predictions: &[ReplenishmentPrediction],
    today: i64,
    lead_days: i64,
) -> Vec<&ReplenishmentPrediction> {
    let (lo, hi) = ((today - lead_days) as f64, (today + lead_days) as f64);
    predictions
        .iter()
        .filter(|p| p.run_out_day >= lo && p.run_out_day <= hi)
        .collect()
}

/// Result of [`backtest`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BacktestReport {
    /// Customer × product pairs evaluated (those with at least three purchase days).
    pub pairs: usize,
    /// Mean absolute error of this module's run-out prediction, in days.
    pub mae_model_days: f64,
    /// Mean absolute error of "last purchase + mean gap", in days.
    pub mae_naive_days: f64,
    /// Share of pairs where the model was strictly closer than the baseline.
    pub model_closer_share: f64,
    /// Share of actual next purchases inside the model's interval.
    pub interval_coverage: f64,
}

/// Holds out each customer × product's last purchase and scores predictions of it. Errors if no
/// pair has the three purchases needed.
pub fn backtest(
    purchases: &[ProductPurchase],
    household_sizes: &HashMap<i64, f64>,
    options: &ReplenishmentOptions,
) -> Result<BacktestReport> {
    let z = check_options(options)?;
    let mut warnings = Vec::new();
    let households = clean_households(household_sizes, &mut warnings);
    let full = build_series(purchases, &mut warnings);
    let mut actual: FxMap<(i64, i64), i64> = FxMap::default();
    let training: Vec<Series> = full
        .into_iter()
        .filter(|s| s.days.len() >= 2)
        .map(|mut s| {
            if let Some(day) = s.days.pop() {
                actual.insert((s.product_id, s.customer_id), day);
            }
            s.qty.pop();
            s
        })
        .collect();
    let (_, predictions) = run(&training, &households, options, z, &mut warnings);
    let (mut n, mut err_model, mut err_naive, mut closer, mut covered) =
        (0usize, 0.0, 0.0, 0usize, 0usize);
    for p in &predictions {
        let (Some(naive), Some(day)) =
            (p.naive_next_day, actual.get(&(p.product_id, p.customer_id)))
        else {
            continue;
        };
        let day = *day as f64;
        let em = (p.run_out_day - day).abs();
        let en = (naive - day).abs();
        n += 1;
        err_model += em;
        err_naive += en;
        closer += usize::from(em < en);
        covered += usize::from(day >= p.run_out_low_day && day <= p.run_out_high_day);
    }
    if n == 0 {
        return Err(AnalyticsError::invalid(
            "no customer bought any product on three different days, so nothing can be held out \
             and checked; the backtest needs more purchase history",
        ));
    }
    let nf = n as f64;
    Ok(BacktestReport {
        pairs: n,
        mae_model_days: err_model / nf,
        mae_naive_days: err_naive / nf,
        model_closer_share: closer as f64 / nf,
        interval_coverage: covered as f64 / nf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buy(customer_id: i64, product_id: i64, day: i64, quantity: f64) -> ProductPurchase {
        ProductPurchase {
            customer_id,
            product_id,
            day,
            quantity,
        }
    }

    #[test]
    fn regular_buyer_rate_and_run_out() {
        // 10 kg every 20 days → 0.5 kg/day; last purchase of 20 kg lasts 40 days.
        let mut ps: Vec<ProductPurchase> = (0..6).map(|i| buy(1, 7, i * 20, 10.0)).collect();
        ps.push(buy(1, 7, 120, 20.0));
        // A second, similar customer so the product has a population.
        ps.extend((0..6).map(|i| buy(2, 7, i * 25, 10.0)));
        let r =
            predict_replenishment(&ps, &HashMap::new(), &ReplenishmentOptions::default()).unwrap();
        let p = r.predictions.iter().find(|p| p.customer_id == 1).unwrap();
        assert!((p.own_rate_per_day.unwrap() - 0.5).abs() < 1e-12);
        assert!(
            p.rate_per_day > 0.4 && p.rate_per_day <= 0.5,
            "{}",
            p.rate_per_day
        );
        assert!(
            p.run_out_day > 155.0 && p.run_out_day < 175.0,
            "{}",
            p.run_out_day
        );
        assert!(p.run_out_low_day < p.run_out_day && p.run_out_high_day > p.run_out_day);
        assert_eq!(p.naive_next_day, Some(140.0));
        assert_eq!(r.products.len(), 1);
    }

    #[test]
    fn one_time_buyer_gets_household_scaled_prior() {
        let mut ps: Vec<ProductPurchase> = Vec::new();
        for c in 0..4 {
            ps.extend((0..5).map(|i| buy(c, 1, i * 10, 5.0))); // 0.5/day, household of 2
        }
        ps.push(buy(99, 1, 100, 5.0));
        let households: HashMap<i64, f64> = (0..4).map(|c| (c, 2.0)).chain([(99, 4.0)]).collect();
        let r = predict_replenishment(&ps, &households, &ReplenishmentOptions::default()).unwrap();
        let p = r.predictions.iter().find(|p| p.customer_id == 99).unwrap();
        assert_eq!(p.credibility, 0.0);
        assert!(
            (p.rate_per_day - 1.0).abs() < 1e-12,
            "twice the household, twice the rate"
        );
        assert!((p.run_out_day - 105.0).abs() < 1e-9);
    }

    #[test]
    fn bad_input_is_reported_not_fatal() {
        let ps = [buy(1, 1, 0, 0.0), buy(1, 1, 5, f64::NAN), buy(2, 2, 3, 1.0)];
        let mut hh = HashMap::new();
        hh.insert(1, -3.0);
        let r = predict_replenishment(&ps, &hh, &ReplenishmentOptions::default()).unwrap();
        assert!(r.predictions.is_empty());
        assert_eq!(r.warnings.len(), 4, "{:?}", r.warnings);
        assert!(backtest(&ps, &hh, &ReplenishmentOptions::default()).is_err());
        let bad = ReplenishmentOptions {
            interval_level: 1.5,
            ..Default::default()
        };
        assert!(predict_replenishment(&ps, &hh, &bad).is_err());
    }

    #[test]
    fn due_soon_window() {
        let mut ps: Vec<ProductPurchase> = (0..4).map(|i| buy(1, 1, i * 10, 1.0)).collect();
        ps.extend((0..4).map(|i| buy(2, 1, i * 20, 1.0)));
        let r =
            predict_replenishment(&ps, &HashMap::new(), &ReplenishmentOptions::default()).unwrap();
        let due = due_soon(&r.predictions, 38, 3);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].customer_id, 1);
    }
}
