//! Churn risk: three signals per customer, and the selection of valuable at-risk customers for
//! win-back work (principle P13: a lost customer is a question to answer).
//!
//! * **Model risk** — `1 − P(alive)` from the BG/NBD model ([`crate::bgnbd`]).
//! * **Rhythm lateness** — how overdue the customer is relative to their *own* cadence:
//!   with `gap` = mean days between their distinct purchase days, `(first → last) / (purchases − 1)`,
//!   and `since` = days since the last purchase,
//!   `lateness = (since − gap) / gap`.
//!   0 means the next purchase is due today, 1 means a whole extra gap has passed without it,
//!   negative means not yet due. Undefined (None) for customers with a single purchase day.
//! * **Hiatus** — the plain baseline rule: no purchase for at least N days.

use crate::error::{AnalyticsError, Result};
use crate::summary::CustomerSummary;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Churn signals of one customer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChurnSignals {
    /// The customer.
    pub customer_id: i64,
    /// Days since the last purchase (0 if the last purchase is on or after the analysis day).
    pub days_since_last: i64,
    /// Mean days between purchase days; None with a single purchase day.
    pub mean_gap_days: Option<f64>,
    /// Rhythm lateness (see module docs); None with a single purchase day.
    pub lateness: Option<f64>,
    /// True if `days_since_last >= hiatus_days`.
    pub in_hiatus: bool,
    /// BG/NBD probability alive, when a model was supplied.
    pub prob_alive: Option<f64>,
    /// `1 − prob_alive`, when a model was supplied.
    pub churn_probability: Option<f64>,
}

/// Computes the signals for one customer as of `as_of_day`.
pub fn churn_signals(
    summary: &CustomerSummary,
    as_of_day: i64,
    prob_alive: Option<f64>,
    hiatus_days: i64,
) -> ChurnSignals {
    let since = (as_of_day - summary.last_purchase_day).max(0);
    let mean_gap = (summary.purchase_count > 1).then(|| {
        (summary.last_purchase_day - summary.first_purchase_day) as f64
            / f64::from(summary.purchase_count - 1)
    });
    let mean_gap = mean_gap.filter(|g| *g > 0.0);
    let prob_alive = prob_alive
        .filter(|p| p.is_finite())
        .map(|p| p.clamp(0.0, 1.0));
    ChurnSignals {
        customer_id: summary.customer_id,
        days_since_last: since,
        mean_gap_days: mean_gap,
        lateness: mean_gap.map(|g| (since as f64 - g) / g),
        in_hiatus: since >= hiatus_days,
        prob_alive,
        churn_probability: prob_alive.map(|p| 1.0 - p),
    }
}

/// Signals for every customer; `prob_alive`, if given, must align with `summaries`.
pub fn churn_signals_all(
    summaries: &[CustomerSummary],
    as_of_day: i64,
    prob_alive: Option<&[f64]>,
    hiatus_days: i64,
) -> Result<Vec<ChurnSignals>> {
    if let Some(p) = prob_alive
        && p.len() != summaries.len()
    {
        return Err(AnalyticsError::invalid(format!(
            "{} P(alive) values for {} customers",
            p.len(),
            summaries.len()
        )));
    }
    Ok(summaries
        .iter()
        .enumerate()
        .map(|(i, s)| churn_signals(s, as_of_day, prob_alive.map(|p| p[i]), hiatus_days))
        .collect())
}

/// When a customer counts as at risk. A customer is selected if their value is at least
/// `min_value` **and** any enabled signal fires.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AtRiskRule {
    /// Fire when the churn probability is at least this (e.g. 0.5). None disables.
    pub min_churn_probability: Option<f64>,
    /// Fire when lateness is at least this (e.g. 1.0 = a full gap overdue). None disables.
    pub min_lateness: Option<f64>,
    /// Fire when the customer is in hiatus.
    pub hiatus: bool,
    /// Minimum value (e.g. CLV or past spend, same unit as the values passed in).
    pub min_value: f64,
}

impl Default for AtRiskRule {
    fn default() -> Self {
        Self {
            min_churn_probability: Some(0.5),
            min_lateness: Some(1.0),
            hiatus: true,
            min_value: 0.0,
        }
    }
}

/// Why a customer was selected.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum RiskReason {
    /// Model churn probability over the threshold.
    ChurnProbability {
        /// The probability.
        probability: f64,
    },
    /// Overdue relative to their rhythm.
    Late {
        /// The lateness.
        lateness: f64,
        /// Their mean gap in days.
        mean_gap_days: f64,
        /// Days since the last purchase.
        days_since_last: i64,
    },
    /// No purchase for a long time.
    Hiatus {
        /// Days since the last purchase.
        days_since_last: i64,
    },
}

impl fmt::Display for RiskReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RiskReason::ChurnProbability { probability } => {
                write!(f, "churn probability {:.0}%", probability * 100.0)
            }
            RiskReason::Late {
                lateness,
                mean_gap_days,
                days_since_last,
            } => write!(
                f,
                "{days_since_last} days since last purchase against a usual gap of \
                 {mean_gap_days:.0} days ({:.0}% overdue)",
                lateness * 100.0
            ),
            RiskReason::Hiatus { days_since_last } => {
                write!(f, "no purchase for {days_since_last} days")
            }
        }
    }
}

/// A customer selected for win-back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtRiskCustomer {
    /// The customer.
    pub customer_id: i64,
    /// Their value (as passed in).
    pub value: f64,
    /// Every signal that fired.
    pub reasons: Vec<RiskReason>,
}

/// Selects at-risk customers worth a win-back task, most valuable first. `values` aligns with
/// `signals` (CLV, or past spend when no model could be fitted).
pub fn select_at_risk(
    signals: &[ChurnSignals],
    values: &[f64],
    rule: &AtRiskRule,
) -> Result<Vec<AtRiskCustomer>> {
    if signals.len() != values.len() {
        return Err(AnalyticsError::invalid(format!(
            "{} values for {} customers",
            values.len(),
            signals.len()
        )));
    }
    if !rule.min_value.is_finite() {
        return Err(AnalyticsError::invalid("min_value must be a finite number"));
    }
    let mut out: Vec<AtRiskCustomer> = signals
        .iter()
        .zip(values)
        .filter(|(_, v)| v.is_finite() && **v >= rule.min_value)
        .filter_map(|(s, v)| {
            let mut reasons = Vec::new();
            if let (Some(min), Some(p)) = (rule.min_churn_probability, s.churn_probability)
                && p >= min
            {
                reasons.push(RiskReason::ChurnProbability { probability: p });
            }
            if let (Some(min), Some(l), Some(g)) = (rule.min_lateness, s.lateness, s.mean_gap_days)
                && l >= min
            {
                reasons.push(RiskReason::Late {
                    lateness: l,
                    mean_gap_days: g,
                    days_since_last: s.days_since_last,
                });
            }
            if rule.hiatus && s.in_hiatus {
                reasons.push(RiskReason::Hiatus {
                    days_since_last: s.days_since_last,
                });
            }
            (!reasons.is_empty()).then_some(AtRiskCustomer {
                customer_id: s.customer_id,
                value: *v,
                reasons,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.value
            .total_cmp(&a.value)
            .then(a.customer_id.cmp(&b.customer_id))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::History;

    fn summary(id: i64, first: i64, last: i64, count: u32) -> CustomerSummary {
        CustomerSummary {
            customer_id: id,
            first_purchase_day: first,
            last_purchase_day: last,
            purchase_count: count,
            total_spend_minor: 1000,
            history: History::new(count - 1, (last - first) as f64, 0.0, 0.0),
        }
    }

    #[test]
    fn lateness_is_relative_to_own_rhythm() {
        // Buys every 10 days; last purchase 30 days ago → two gaps overdue.
        let s = churn_signals(&summary(1, 0, 40, 5), 70, Some(0.2), 90);
        assert_eq!(s.mean_gap_days, Some(10.0));
        assert!((s.lateness.unwrap() - 2.0).abs() < 1e-12);
        assert!(!s.in_hiatus);
        assert!((s.churn_probability.unwrap() - 0.8).abs() < 1e-12);
        // A monthly buyer 30 days after the last purchase is exactly due.
        let s = churn_signals(&summary(2, 0, 90, 4), 120, None, 90);
        assert!(s.lateness.unwrap().abs() < 1e-12);
        // One purchase: no rhythm.
        let s = churn_signals(&summary(3, 5, 5, 1), 200, None, 90);
        assert_eq!(s.lateness, None);
        assert!(s.in_hiatus);
    }

    #[test]
    fn at_risk_selection_requires_value_and_a_signal() {
        let sigs = vec![
            churn_signals(&summary(1, 0, 40, 5), 70, Some(0.1), 365), // late + model
            churn_signals(&summary(2, 0, 60, 7), 70, Some(0.05), 365), // model only
            churn_signals(&summary(3, 0, 68, 5), 70, Some(0.9), 365), // fine
            churn_signals(&summary(4, 0, 40, 5), 70, Some(0.1), 365), // late but low value
        ];
        let values = [500.0, 900.0, 1000.0, 5.0];
        let rule = AtRiskRule {
            min_value: 100.0,
            ..Default::default()
        };
        let r = select_at_risk(&sigs, &values, &rule).unwrap();
        let ids: Vec<i64> = r.iter().map(|c| c.customer_id).collect();
        assert_eq!(ids, vec![2, 1]);
        assert_eq!(r[1].reasons.len(), 2);
        assert!(r[1].reasons[1].to_string().contains("overdue"));
        assert!(select_at_risk(&sigs, &values[..2], &rule).is_err());
    }
}
