//! Pareto view of revenue: what share of revenue comes from the top x% of customers, the whole
//! curve for charting, and the Gini coefficient. Measured, never assumed to be 80/20.
//!
//! Customers are sorted by revenue, largest first; the curve is piecewise linear between
//! customers, so "the top 2.5% of 100 customers" means the top two and a half customers' worth.
//! Customers with zero or negative revenue (net refunds) count as customers with zero revenue:
//! they dilute the top share but add nothing. The Gini coefficient is that of the (clamped)
//! revenue distribution: 0 when everyone spends the same, approaching 1 when one customer brings
//! everything.

use crate::error::{AnalyticsError, Result};
use serde::{Deserialize, Serialize};

/// One point of the Pareto curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoPoint {
    /// Fraction of customers (0..=1), largest spenders first.
    pub customer_share: f64,
    /// Fraction of revenue they bring (0..=1).
    pub revenue_share: f64,
}

/// The Pareto analysis of a customer base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParetoCurve {
    /// Customers analysed.
    pub customers: usize,
    /// Customers with positive revenue.
    pub paying_customers: usize,
    /// Total revenue, minor units.
    pub total_revenue_minor: i128,
    /// Points at 0%, 1%, …, 100% of customers (101 points), for charting.
    pub points: Vec<ParetoPoint>,
    /// Share of revenue from the top 20% of customers.
    pub top_20_percent_share: f64,
    /// Smallest share of customers bringing 80% of revenue.
    pub customer_share_for_80_percent: f64,
    /// Gini coefficient of revenue, 0..1.
    pub gini: f64,
    /// Cumulative revenue after each customer, descending order (internal; for exact queries).
    #[serde(skip)]
    cumulative: Vec<i128>,
}

impl ParetoCurve {
    /// Share of revenue (0..=1) from the top `percent` % of customers (clamped to 0..=100).
    pub fn share_of_top(&self, percent: f64) -> f64 {
        let n = self.cumulative.len();
        if n == 0 || self.total_revenue_minor <= 0 || !percent.is_finite() {
            return 0.0;
        }
        let pos = (percent.clamp(0.0, 100.0) / 100.0) * n as f64;
        let whole = pos.floor() as usize;
        let before = if whole == 0 {
            0
        } else {
            self.cumulative[whole.min(n) - 1]
        };
        let frac = pos - whole as f64;
        let next = if whole < n {
            (self.cumulative[whole] - before) as f64 * frac
        } else {
            0.0
        };
        ((before as f64 + next) / self.total_revenue_minor as f64).clamp(0.0, 1.0)
    }

    /// Smallest fraction of customers (0..=1) whose revenue reaches `revenue_share` of the total.
    pub fn customers_for_share(&self, revenue_share: f64) -> f64 {
        let n = self.cumulative.len();
        if n == 0 || self.total_revenue_minor <= 0 {
            return 0.0;
        }
        let target = revenue_share.clamp(0.0, 1.0) * self.total_revenue_minor as f64;
        let k = self.cumulative.partition_point(|c| (*c as f64) < target);
        if k >= n {
            return 1.0;
        }
        let before = if k == 0 {
            0.0
        } else {
            self.cumulative[k - 1] as f64
        };
        let step = self.cumulative[k] as f64 - before;
        let frac = if step > 0.0 {
            (target - before) / step
        } else {
            0.0
        };
        ((k as f64 + frac) / n as f64).clamp(0.0, 1.0)
    }
}

/// Builds the Pareto curve from each customer's revenue (minor units). Errors if there are no
/// customers or no positive revenue.
pub fn pareto(revenue_minor: &[i64]) -> Result<ParetoCurve> {
    if revenue_minor.is_empty() {
        return Err(AnalyticsError::NoCustomers {
            what: "the Pareto view",
        });
    }
    let mut sorted: Vec<i64> = revenue_minor.iter().map(|v| (*v).max(0)).collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let mut cumulative = Vec::with_capacity(sorted.len());
    let mut acc: i128 = 0;
    for v in &sorted {
        acc += i128::from(*v);
        cumulative.push(acc);
    }
    let total = acc;
    if total <= 0 {
        return Err(AnalyticsError::invalid(
            "no customer has positive revenue, so revenue shares are undefined",
        ));
    }
    let n = sorted.len();
    // Gini with ascending order y_(i): G = 2 Σ i·y_(i) / (n Σ y) − (n + 1)/n.
    let mut weighted: f64 = 0.0;
    for (i, v) in sorted.iter().rev().enumerate() {
        weighted += (i as f64 + 1.0) * *v as f64;
    }
    let nf = n as f64;
    let gini = (2.0 * weighted / (nf * total as f64) - (nf + 1.0) / nf).clamp(0.0, 1.0);
    let mut curve = ParetoCurve {
        customers: n,
        paying_customers: sorted.iter().filter(|v| **v > 0).count(),
        total_revenue_minor: total,
        points: Vec::with_capacity(101),
        top_20_percent_share: 0.0,
        customer_share_for_80_percent: 0.0,
        gini,
        cumulative,
    };
    curve.points = (0..=100)
        .map(|p| ParetoPoint {
            customer_share: p as f64 / 100.0,
            revenue_share: curve.share_of_top(p as f64),
        })
        .collect();
    curve.top_20_percent_share = curve.share_of_top(20.0);
    curve.customer_share_for_80_percent = curve.customers_for_share(0.8);
    Ok(curve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_spenders_have_zero_gini_and_a_diagonal_curve() {
        let c = pareto(&[100; 50]).unwrap();
        assert!(c.gini.abs() < 1e-12);
        assert!((c.share_of_top(20.0) - 0.2).abs() < 1e-12);
        assert!((c.customers_for_share(0.8) - 0.8).abs() < 1e-12);
        assert_eq!(c.points.len(), 101);
    }

    #[test]
    fn concentrated_revenue() {
        // One customer brings everything among 10.
        let mut v = vec![0; 9];
        v.push(1000);
        let c = pareto(&v).unwrap();
        assert!((c.gini - 0.9).abs() < 1e-12, "{}", c.gini);
        assert!((c.share_of_top(10.0) - 1.0).abs() < 1e-12);
        assert!((c.share_of_top(5.0) - 0.5).abs() < 1e-12);
        assert_eq!(c.paying_customers, 1);
        // 80/20 measured, not assumed: 20 customers, top 4 bring 400 of 560.
        let mut v = vec![100; 4];
        v.extend(vec![10; 16]);
        let c = pareto(&v).unwrap();
        assert!((c.top_20_percent_share - 400.0 / 560.0).abs() < 1e-12);
        assert!(
            c.points
                .windows(2)
                .all(|w| w[1].revenue_share >= w[0].revenue_share)
        );
    }

    #[test]
    fn refunds_count_as_zero_and_empty_is_an_error() {
        let c = pareto(&[100, -50]).unwrap();
        assert_eq!(c.total_revenue_minor, 100);
        assert!(pareto(&[]).is_err());
        assert!(pareto(&[0, -1]).is_err());
    }
}
