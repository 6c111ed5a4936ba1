//! Customer tiers (principle P3: treat customers in tiers, upgrade iron to gold and gold to
//! platinum): ordered tier rules evaluated for every customer, with the list of upgrades and
//! downgrades since the previous evaluation and a reason a person can read.
//!
//! Tiers are listed best first; a customer gets the **first** tier whose rule they meet, or no
//! tier. Rules are properties of the customer alone, so evaluation is order-independent across
//! customers and pure:
//!
//! * [`TierRule::TopClvPercent`] — CLV within the top P% of evaluated customers with a CLV.
//!   Percentages are cumulative from the top: "Platinum = top 5%, Gold = next 15%" is written
//!   Platinum `TopClvPercent(5)`, Gold `TopClvPercent(20)`. The cut-off admits
//!   `ceil(P/100 · n)` customers; customers tied at the boundary are all admitted.
//! * [`TierRule::MinTotalSpend`] — total spend at least a threshold (minor units).
//! * [`TierRule::MinClv`] — CLV at least a threshold (minor units).
//! * [`TierRule::Segments`] — RFM segment in a set.
//! * [`TierRule::Everyone`] — catch-all (a base tier).

use crate::error::{AnalyticsError, Result};
use crate::rfm::RfmSegment;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// How a tier is earned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum TierRule {
    /// CLV in the top `percent` % (0 < percent <= 100).
    TopClvPercent {
        /// Cumulative percentage from the top.
        percent: f64,
    },
    /// Total past spend at least `minor` (minor units).
    MinTotalSpend {
        /// Threshold.
        minor: i64,
    },
    /// CLV at least `minor` (minor units).
    MinClv {
        /// Threshold.
        minor: f64,
    },
    /// RFM segment is one of these.
    Segments {
        /// Qualifying segments.
        segments: Vec<RfmSegment>,
    },
    /// Every customer qualifies.
    Everyone,
}

/// One tier: a name and its rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierDefinition {
    /// Tier name, e.g. "Platinum".
    pub name: String,
    /// How it is earned.
    pub rule: TierRule,
}

/// What the rules look at for one customer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierInput {
    /// The customer.
    pub customer_id: i64,
    /// Lifetime value (minor units), if the models could be fitted.
    pub clv: Option<f64>,
    /// Total past spend, minor units.
    pub total_spend_minor: i64,
    /// RFM segment, if scored.
    pub segment: Option<RfmSegment>,
}

/// Formatting options for reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierOptions {
    /// Decimal places of the currency (2 for cents), used to print amounts in reasons.
    pub currency_decimals: u32,
}

impl Default for TierOptions {
    fn default() -> Self {
        Self {
            currency_decimals: 2,
        }
    }
}

/// A customer's tier after evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierAssignment {
    /// The customer.
    pub customer_id: i64,
    /// Tier name, or None if no rule matched.
    pub tier: Option<String>,
    /// Why.
    pub reason: String,
}

/// Direction of a tier change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeDirection {
    /// To a better tier (or from none to a tier).
    Upgrade,
    /// To a worse tier (or from a tier to none).
    Downgrade,
    /// From a tier that no longer exists in the definitions.
    Changed,
}

/// A tier change, for the customer's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierChange {
    /// The customer.
    pub customer_id: i64,
    /// Previous tier.
    pub from: Option<String>,
    /// New tier.
    pub to: Option<String>,
    /// Upgrade or downgrade.
    pub direction: ChangeDirection,
    /// Human-readable reason, e.g. "upgraded from Gold to Platinum: CLV 1234.56 ranks 3 of 200
    /// (top 1.5%), within the top 5%".
    pub reason: String,
}

/// Result of [`evaluate_tiers`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TierEvaluation {
    /// One assignment per input customer, in input order.
    pub assignments: Vec<TierAssignment>,
    /// Customers whose tier differs from `previous`, in input order.
    pub changes: Vec<TierChange>,
}

fn validate(defs: &[TierDefinition]) -> Result<()> {
    let mut seen = HashSet::new();
    for d in defs {
        let name = d.name.trim();
        if name.is_empty() {
            return Err(AnalyticsError::invalid("a tier needs a name"));
        }
        if !seen.insert(name.to_lowercase()) {
            return Err(AnalyticsError::invalid(format!(
                "tier name {name:?} is used twice"
            )));
        }
        match &d.rule {
            TierRule::TopClvPercent { percent } if !(*percent > 0.0 && *percent <= 100.0) => {
                return Err(AnalyticsError::invalid(format!(
                    "tier {name:?}: top percent must be above 0 and at most 100, not {percent}"
                )));
            }
            TierRule::MinClv { minor } if !minor.is_finite() => {
                return Err(AnalyticsError::invalid(format!(
                    "tier {name:?}: CLV threshold must be a number"
                )));
            }
            TierRule::Segments { segments } if segments.is_empty() => {
                return Err(AnalyticsError::invalid(format!(
                    "tier {name:?}: list at least one RFM segment"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

fn money(minor: f64, decimals: u32) -> String {
    let scale = 10f64.powi(decimals as i32);
    format!("{:.*}", decimals as usize, minor / scale)
}

/// Evaluates `definitions` (best tier first) for `customers`, comparing with `previous`
/// (customer id → tier name; customers absent from it had no tier).
pub fn evaluate_tiers(
    definitions: &[TierDefinition],
    customers: &[TierInput],
    previous: &HashMap<i64, String>,
    options: &TierOptions,
) -> Result<TierEvaluation> {
    validate(definitions)?;
    // CLVs in descending order, for rank queries.
    let mut clvs: Vec<f64> = customers
        .iter()
        .filter_map(|c| c.clv)
        .filter(|v| v.is_finite())
        .collect();
    clvs.sort_unstable_by(|a, b| b.total_cmp(a));
    let n_clv = clvs.len();
    let dec = options.currency_decimals;
    let rank_of = |v: f64| clvs.partition_point(|x| *x > v); // customers strictly above

    let mut assignments = Vec::with_capacity(customers.len());
    let mut changes = Vec::new();
    let position = |name: &str| definitions.iter().position(|d| d.name == name);
    for c in customers {
        let mut hit: Option<(&TierDefinition, String)> = None;
        for d in definitions {
            let reason = match &d.rule {
                TierRule::TopClvPercent { percent } => {
                    c.clv.filter(|v| v.is_finite()).and_then(|v| {
                        let seats = ((percent / 100.0) * n_clv as f64).ceil() as usize;
                        let above = rank_of(v);
                        (above < seats).then(|| {
                            format!(
                                "CLV {} ranks {} of {} (top {:.1}%), within the top {}%",
                                money(v, dec),
                                above + 1,
                                n_clv,
                                100.0 * (above + 1) as f64 / n_clv as f64,
                                percent
                            )
                        })
                    })
                }
                TierRule::MinTotalSpend { minor } => (c.total_spend_minor >= *minor).then(|| {
                    format!(
                        "total spend {} is at least {}",
                        money(c.total_spend_minor as f64, dec),
                        money(*minor as f64, dec)
                    )
                }),
                TierRule::MinClv { minor } => c
                    .clv
                    .filter(|v| v.is_finite() && v >= minor)
                    .map(|v| format!("CLV {} is at least {}", money(v, dec), money(*minor, dec))),
                TierRule::Segments { segments } => {
                    c.segment.filter(|s| segments.contains(s)).map(|s| {
                        let names: Vec<&str> = segments.iter().map(|s| s.name()).collect();
                        format!("RFM segment {} is one of {}", s.name(), names.join(", "))
                    })
                }
                TierRule::Everyone => Some("base tier for every customer".to_string()),
            };
            if let Some(reason) = reason {
                hit = Some((d, reason));
                break;
            }
        }
        let (tier, reason) = match hit {
            Some((d, reason)) => (Some(d.name.clone()), reason),
            None => (None, "no tier rule matched".to_string()),
        };
        let before = previous.get(&c.customer_id);
        if before != tier.as_ref() {
            let rank = |t: Option<&String>| match t {
                None => Some(definitions.len()),
                Some(name) => position(name),
            };
            let direction = match (rank(before), rank(tier.as_ref())) {
                (Some(a), Some(b)) if b < a => ChangeDirection::Upgrade,
                (Some(_), Some(_)) => ChangeDirection::Downgrade,
                _ => ChangeDirection::Changed,
            };
            let verb = match direction {
                ChangeDirection::Upgrade => "upgraded",
                ChangeDirection::Downgrade => "downgraded",
                ChangeDirection::Changed => "moved",
            };
            let name = |t: Option<&String>| t.map_or("no tier".to_string(), |s| s.clone());
            changes.push(TierChange {
                customer_id: c.customer_id,
                from: before.cloned(),
                to: tier.clone(),
                direction,
                reason: format!(
                    "{verb} from {} to {}: {reason}",
                    name(before),
                    name(tier.as_ref())
                ),
            });
        }
        assignments.push(TierAssignment {
            customer_id: c.customer_id,
            tier,
            reason,
        });
    }
    Ok(TierEvaluation {
        assignments,
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs() -> Vec<TierDefinition> {
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
                rule: TierRule::Segments {
                    segments: vec![RfmSegment::Loyal, RfmSegment::PotentialLoyalist],
                },
            },
            TierDefinition {
                name: "Iron".into(),
                rule: TierRule::MinTotalSpend { minor: 1 },
            },
        ]
    }

    fn customers() -> Vec<TierInput> {
        (0..100)
            .map(|i| TierInput {
                customer_id: i,
                clv: Some(i as f64 * 100.0),
                total_spend_minor: i,
                segment: match i {
                    0 => None,
                    _ if i % 2 == 0 => Some(RfmSegment::Loyal),
                    _ => Some(RfmSegment::Lost),
                },
            })
            .collect()
    }

    #[test]
    fn cumulative_top_percent_and_first_match() {
        let ev = evaluate_tiers(
            &defs(),
            &customers(),
            &HashMap::new(),
            &TierOptions::default(),
        )
        .unwrap();
        let count = |t: &str| {
            ev.assignments
                .iter()
                .filter(|a| a.tier.as_deref() == Some(t))
                .count()
        };
        assert_eq!(count("Platinum"), 5);
        assert_eq!(count("Gold"), 15);
        assert_eq!(count("Silver"), 39);
        assert_eq!(count("Iron"), 40);
        assert_eq!(
            ev.assignments[0].tier, None,
            "customer 0 spent nothing and has no segment"
        );
        assert!(
            ev.assignments[99].reason.contains("ranks 1 of 100"),
            "{}",
            ev.assignments[99].reason
        );
        assert_eq!(ev.changes.len(), 99);
        assert!(
            ev.changes
                .iter()
                .all(|c| c.direction == ChangeDirection::Upgrade)
        );
    }

    #[test]
    fn rule_change_moves_customers_with_reasons() {
        let first = evaluate_tiers(
            &defs(),
            &customers(),
            &HashMap::new(),
            &TierOptions::default(),
        )
        .unwrap();
        let previous: HashMap<i64, String> = first
            .assignments
            .iter()
            .filter_map(|a| a.tier.clone().map(|t| (a.customer_id, t)))
            .collect();
        // Same rules again: nothing changes.
        let again =
            evaluate_tiers(&defs(), &customers(), &previous, &TierOptions::default()).unwrap();
        assert!(again.changes.is_empty());
        // Platinum narrowed to the top 2%: three customers drop to Gold.
        let mut narrower = defs();
        narrower[0].rule = TierRule::TopClvPercent { percent: 2.0 };
        let ev =
            evaluate_tiers(&narrower, &customers(), &previous, &TierOptions::default()).unwrap();
        assert_eq!(ev.changes.len(), 3);
        for c in &ev.changes {
            assert_eq!(c.direction, ChangeDirection::Downgrade);
            assert_eq!(
                (c.from.as_deref(), c.to.as_deref()),
                (Some("Platinum"), Some("Gold"))
            );
            assert!(
                c.reason
                    .starts_with("downgraded from Platinum to Gold: CLV "),
                "{}",
                c.reason
            );
        }
    }

    #[test]
    fn invalid_definitions_are_rejected() {
        let mut d = defs();
        d[1].name = "platinum".into();
        assert!(evaluate_tiers(&d, &[], &HashMap::new(), &TierOptions::default()).is_err());
        let d = vec![TierDefinition {
            name: "X".into(),
            rule: TierRule::TopClvPercent { percent: 0.0 },
        }];
        assert!(evaluate_tiers(&d, &[], &HashMap::new(), &TierOptions::default()).is_err());
    }
}
