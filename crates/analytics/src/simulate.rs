//! Seeded, deterministic data generators with known true parameters: for tests, demos and the
//! `concierge bench analytics` benchmark. Output depends only on the spec and the seed (not on
//! the number of threads): customers are generated in fixed blocks, each with its own ChaCha8
//! stream.

use crate::bgnbd::BgNbdParams;
use crate::gamma_gamma::GammaGammaParams;
use crate::replenishment::ProductPurchase;
use crate::summary::{History, Transaction};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const BLOCK: usize = 4096;

/// Random variates on top of ChaCha8.
struct Rng(ChaCha8Rng);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        r.set_stream(stream);
        Rng(r)
    }
    /// Uniform on (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.0.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }
    fn exponential(&mut self, rate: f64) -> f64 {
        -self.uniform().ln() / rate
    }
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    /// Gamma(shape, scale) by Marsaglia & Tsang (2000), with the shape < 1 boost.
    fn gamma(&mut self, shape: f64, scale: f64) -> f64 {
        if shape < 1.0 {
            let u = self.uniform();
            return self.gamma(shape + 1.0, scale) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v * scale;
            }
        }
    }
    fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a, 1.0);
        let y = self.gamma(b, 1.0);
        x / (x + y)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.uniform() * n as f64) as u64).min(n.saturating_sub(1))
    }
}

fn blocks<T: Send>(n: usize, seed: u64, f: impl Fn(&mut Rng, usize, &mut Vec<T>) + Sync) -> Vec<T> {
    let per_block: Vec<Vec<T>> = (0..n.div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            let mut rng = Rng::new(seed, b as u64);
            let mut out = Vec::new();
            for i in b * BLOCK..((b + 1) * BLOCK).min(n) {
                f(&mut rng, i, &mut out);
            }
            out
        })
        .collect();
    per_block.into_iter().flatten().collect()
}

/// Purchase times (after the first, at 0) of one BG/NBD customer observed for `age` units.
fn bgnbd_times(rng: &mut Rng, bg: &BgNbdParams, age: f64, out: &mut Vec<f64>) {
    out.clear();
    let lambda = rng.gamma(bg.r, 1.0 / bg.alpha);
    let p = rng.beta(bg.a, bg.b);
    let mut t = 0.0;
    loop {
        t += rng.exponential(lambda);
        if t > age {
            break;
        }
        out.push(t);
        if rng.uniform() < p {
            break;
        }
    }
}

/// Specification of simulated BG/NBD (+ Gamma-Gamma) customers in continuous time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HistorySimulation {
    /// Number of customers.
    pub customers: usize,
    /// True BG/NBD parameters (time unit of the output).
    pub bgnbd: BgNbdParams,
    /// True Gamma-Gamma parameters; monetary values are 0 when None.
    pub gamma_gamma: Option<GammaGammaParams>,
    /// Ages T are uniform on [min_age, max_age].
    pub min_age: f64,
    /// See `min_age`.
    pub max_age: f64,
}

/// Simulated histories, straight from the model (continuous time, no same-day merging).
pub fn simulate_histories(spec: &HistorySimulation, seed: u64) -> Vec<History> {
    blocks(spec.customers, seed, |rng, _, out| {
        let age = spec.min_age + (spec.max_age - spec.min_age) * rng.uniform();
        let mut times = Vec::new();
        bgnbd_times(rng, &spec.bgnbd, age, &mut times);
        let x = times.len();
        let monetary = match (spec.gamma_gamma, x) {
            (Some(gg), x) if x > 0 => {
                let nu = rng.gamma(gg.q, 1.0 / gg.v);
                (0..x).map(|_| rng.gamma(gg.p, 1.0 / nu)).sum::<f64>() / x as f64
            }
            _ => 0.0,
        };
        out.push(History {
            frequency: x as u32,
            recency: times.last().copied().unwrap_or(0.0),
            age,
            monetary_value: monetary,
        });
    })
}

/// Specification of simulated transactions (day resolution), for the summary → fit → score
/// pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TransactionSimulation {
    /// Number of customers (ids 1..=customers).
    pub customers: usize,
    /// True BG/NBD parameters, time in **days**.
    pub bgnbd: BgNbdParams,
    /// True Gamma-Gamma parameters, money in minor units.
    pub gamma_gamma: GammaGammaParams,
    /// First day of the period in which customers are acquired.
    pub start_day: i64,
    /// Length of the acquisition period in days (first purchases uniform over it).
    pub acquisition_days: i64,
    /// Observation end day (inclusive); purchases are generated up to it.
    pub observation_end_day: i64,
}

impl TransactionSimulation {
    /// A realistic default: `customers` acquired over one year, observed 18 months, params
    /// r = 0.25, α = 30 days, a = 0.8, b = 2.5; spend p = 6, q = 4, γ = 1500 (minor units).
    pub fn typical(customers: usize) -> Self {
        let start = crate::summary::day_from_ymd(2024, 1, 1);
        Self {
            customers,
            bgnbd: BgNbdParams {
                r: 0.25,
                alpha: 30.0,
                a: 0.8,
                b: 2.5,
            },
            gamma_gamma: GammaGammaParams {
                p: 6.0,
                q: 4.0,
                v: 1500.0,
            },
            start_day: start,
            acquisition_days: 365,
            observation_end_day: start + 547,
        }
    }
}

/// Simulated transactions, in customer order.
pub fn simulate_transactions(spec: &TransactionSimulation, seed: u64) -> Vec<Transaction> {
    blocks(spec.customers, seed, |rng, i, out| {
        let customer_id = i as i64 + 1;
        let first = spec.start_day + rng.below(spec.acquisition_days.max(1) as u64) as i64;
        let first = first.min(spec.observation_end_day);
        let age = (spec.observation_end_day - first) as f64 + 1.0; // purchases up to end of day
        let gg = spec.gamma_gamma;
        let nu = rng.gamma(gg.q, 1.0 / gg.v);
        let spend = |rng: &mut Rng| (rng.gamma(gg.p, 1.0 / nu).round() as i64).max(1);
        let amount = spend(rng);
        out.push(Transaction {
            customer_id,
            day: first,
            amount_minor: amount,
        });
        let mut times = Vec::new();
        bgnbd_times(rng, &spec.bgnbd, age, &mut times);
        for t in times {
            let day = (first + t.floor() as i64).min(spec.observation_end_day);
            let amount = spend(rng);
            out.push(Transaction {
                customer_id,
                day,
                amount_minor: amount,
            });
        }
    })
}

/// Specification of simulated replenishment buyers: regular consumers of a few products who buy
/// packs of varying size when their stock runs out (give or take a day or two).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplenishmentSimulation {
    /// Number of customers.
    pub customers: usize,
    /// Per-person consumption rate (units per day) of each product; product ids are 1.. in order.
    pub per_person_rates: Vec<f64>,
    /// Pack sizes (units) a customer picks from at random on each purchase.
    pub pack_sizes: Vec<f64>,
    /// Spread (log-sd) of customers' personal rate multipliers.
    pub customer_log_sd: f64,
    /// Noise (log-sd) of each interval around quantity / rate.
    pub interval_log_sd: f64,
    /// Purchases per customer × product, uniform on [min, max].
    pub min_purchases: u32,
    /// See `min_purchases`.
    pub max_purchases: u32,
    /// Share of customers whose household size is recorded.
    pub household_known_share: f64,
}

impl Default for ReplenishmentSimulation {
    fn default() -> Self {
        Self {
            customers: 500,
            per_person_rates: vec![0.15, 0.05, 0.3],
            pack_sizes: vec![2.0, 5.0, 10.0, 20.0],
            customer_log_sd: 0.3,
            interval_log_sd: 0.1,
            min_purchases: 3,
            max_purchases: 10,
            household_known_share: 0.7,
        }
    }
}

/// Simulated product purchases and the recorded household sizes.
pub fn simulate_replenishment(
    spec: &ReplenishmentSimulation,
    seed: u64,
) -> (Vec<ProductPurchase>, HashMap<i64, f64>) {
    type Customer = (Option<(i64, f64)>, Vec<ProductPurchase>);
    let rows: Vec<Customer> = blocks(spec.customers, seed, |rng, i, out| {
        let customer_id = i as i64 + 1;
        let size = 1 + rng.below(5);
        let known = rng.uniform() < spec.household_known_share;
        let personal = (spec.customer_log_sd * rng.normal()).exp();
        let mut buys = Vec::new();
        for (k, base) in spec.per_person_rates.iter().enumerate() {
            let rate = base * size as f64 * personal;
            let span = u64::from(spec.max_purchases.saturating_sub(spec.min_purchases)) + 1;
            let n = spec.min_purchases as u64 + rng.below(span);
            let mut day = rng.below(60) as i64;
            for _ in 0..n {
                let q = spec.pack_sizes[rng.below(spec.pack_sizes.len() as u64) as usize];
                buys.push(ProductPurchase {
                    customer_id,
                    product_id: k as i64 + 1,
                    day,
                    quantity: q,
                });
                let lasts = q / rate * (spec.interval_log_sd * rng.normal()).exp();
                let early = rng.below(3) as f64;
                day += (lasts - early).round().max(1.0) as i64;
            }
        }
        out.push((known.then_some((customer_id, size as f64)), buys));
    });
    let mut households = HashMap::new();
    let mut purchases = Vec::new();
    for (hh, buys) in rows {
        if let Some((id, size)) = hh {
            households.insert(id, size);
        }
        purchases.extend(buys);
    }
    (purchases, households)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_plausible() {
        let spec = HistorySimulation {
            customers: 5000,
            bgnbd: BgNbdParams {
                r: 0.5,
                alpha: 5.0,
                a: 0.8,
                b: 2.5,
            },
            gamma_gamma: Some(GammaGammaParams {
                p: 6.0,
                q: 4.0,
                v: 15.0,
            }),
            min_age: 20.0,
            max_age: 52.0,
        };
        let a = simulate_histories(&spec, 7);
        let b = simulate_histories(&spec, 7);
        assert_eq!(a, b);
        assert_ne!(a, simulate_histories(&spec, 8));
        assert!(
            a.iter()
                .all(|h| h.recency <= h.age && (h.frequency > 0 || h.recency == 0.0))
        );
        let mut rng = Rng::new(1, 0);
        let n = 200_000;
        let mean: f64 = (0..n).map(|_| rng.gamma(0.3, 2.0)).sum::<f64>() / n as f64;
        assert!((mean - 0.6).abs() < 0.01, "{mean}");
        let mean: f64 = (0..n).map(|_| rng.beta(2.0, 6.0)).sum::<f64>() / n as f64;
        assert!((mean - 0.25).abs() < 0.003, "{mean}");
    }

    #[test]
    fn transactions_are_within_the_window() {
        let spec = TransactionSimulation::typical(2000);
        let txs = simulate_transactions(&spec, 3);
        assert!(txs.iter().all(|t| t.day >= spec.start_day
            && t.day <= spec.observation_end_day
            && t.amount_minor > 0));
        assert_eq!(txs, simulate_transactions(&spec, 3));
    }
}
