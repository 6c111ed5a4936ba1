//! RFM: recency, frequency and monetary quintile scores (1 to 5) and named customer segments.
//!
//! **Scores.** Each customer's score on a dimension is its percentile rank among all customers,
//! cut into fifths: with `below` = number of customers strictly worse and `n` customers,
//! `pct = below / (n − 1)` and `score = min(5, 1 + ⌊5 · pct⌋)`. Ties always get the same score
//! (so the many one-time buyers all get F = 1), the best customer always gets 5 and the worst 1.
//! A lone customer (n = 1) gets 3 on every dimension. Recency is *reversed*: fewer days since the
//! last purchase is better. Frequency is the number of distinct purchase days; monetary is total
//! spend.
//!
//! **Segments.** The segment comes from the recency score R and `FM = round((F + M) / 2)` (halves
//! rounded up) through a 5×5 grid. Segment names and score ranges follow the widely used
//! 11-segment R×FM table (Putler, "RFM Analysis For Successful Customer Segmentation", and the
//! defaults of the `rfm` R package by A. Hebbali, `rfm_segment`). The published ranges overlap,
//! so this crate fixes one non-overlapping reading of them, [`SegmentGrid::standard`]:
//!
//! ```text
//!  R \ FM   1               2                   3                4                5
//!   5      New             Potential Loyalist  Loyal            Champions        Champions
//!   4      Promising       Potential Loyalist  Loyal            Champions        Champions
//!   3      About To Sleep  Need Attention      Need Attention   Loyal            Loyal
//!   2      Hibernating     Hibernating         At Risk          At Risk          At Risk
//!   1      Lost            Lost                At Risk          Can't Lose Them  Can't Lose Them
//! ```
//!
//! A tenant can supply its own grid.

use crate::error::{AnalyticsError, Result};
use crate::summary::CustomerSummary;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The eleven named RFM segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RfmSegment {
    /// Bought recently, buy often, spend the most.
    Champions,
    /// Buy regularly and spend well.
    Loyal,
    /// Recent customers with average frequency: could become loyal.
    #[serde(rename = "Potential Loyalist")]
    PotentialLoyalist,
    /// Bought very recently, for the first time (or rarely).
    New,
    /// Recent, but have not bought much yet.
    Promising,
    /// Middling recency, frequency and spend.
    #[serde(rename = "Need Attention")]
    NeedAttention,
    /// Below-average recency and frequency: about to lapse.
    #[serde(rename = "About To Sleep")]
    AboutToSleep,
    /// Used to buy often and spend well, but not lately.
    #[serde(rename = "At Risk")]
    AtRisk,
    /// Were among the best, long gone quiet.
    #[serde(rename = "Can't Lose Them")]
    CantLoseThem,
    /// Low value, long since the last purchase.
    Hibernating,
    /// Lowest recency, frequency and spend.
    Lost,
}

impl RfmSegment {
    /// All segments, best first.
    pub const ALL: [RfmSegment; 11] = [
        RfmSegment::Champions,
        RfmSegment::Loyal,
        RfmSegment::PotentialLoyalist,
        RfmSegment::New,
        RfmSegment::Promising,
        RfmSegment::NeedAttention,
        RfmSegment::AboutToSleep,
        RfmSegment::AtRisk,
        RfmSegment::CantLoseThem,
        RfmSegment::Hibernating,
        RfmSegment::Lost,
    ];

    /// Display name, e.g. "Can't Lose Them".
    pub fn name(self) -> &'static str {
        match self {
            RfmSegment::Champions => "Champions",
            RfmSegment::Loyal => "Loyal",
            RfmSegment::PotentialLoyalist => "Potential Loyalist",
            RfmSegment::New => "New",
            RfmSegment::Promising => "Promising",
            RfmSegment::NeedAttention => "Need Attention",
            RfmSegment::AboutToSleep => "About To Sleep",
            RfmSegment::AtRisk => "At Risk",
            RfmSegment::CantLoseThem => "Can't Lose Them",
            RfmSegment::Hibernating => "Hibernating",
            RfmSegment::Lost => "Lost",
        }
    }
}

impl fmt::Display for RfmSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for RfmSegment {
    type Err = AnalyticsError;
    fn from_str(s: &str) -> Result<Self> {
        let norm = |v: &str| {
            v.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_lowercase()
        };
        let wanted = norm(s);
        RfmSegment::ALL
            .into_iter()
            .find(|seg| {
                norm(seg.name()) == wanted
                    || (wanted == "loyalcustomers" && *seg == RfmSegment::Loyal)
            })
            .ok_or_else(|| {
                let names: Vec<&str> = RfmSegment::ALL.iter().map(|s| s.name()).collect();
                AnalyticsError::invalid(format!(
                    "unknown RFM segment {s:?}; known: {}",
                    names.join(", ")
                ))
            })
    }
}

/// A 5×5 lookup from (R, FM) scores to a segment; `cells[r-1][fm-1]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentGrid {
    /// Rows by recency score 1..=5, columns by FM score 1..=5.
    pub cells: [[RfmSegment; 5]; 5],
}

impl SegmentGrid {
    /// The standard grid documented at the top of this module.
    pub fn standard() -> Self {
        use RfmSegment::*;
        Self {
            cells: [
                [Lost, Lost, AtRisk, CantLoseThem, CantLoseThem],
                [Hibernating, Hibernating, AtRisk, AtRisk, AtRisk],
                [AboutToSleep, NeedAttention, NeedAttention, Loyal, Loyal],
                [Promising, PotentialLoyalist, Loyal, Champions, Champions],
                [New, PotentialLoyalist, Loyal, Champions, Champions],
            ],
        }
    }

    /// Segment for recency score `r` and FM score `fm` (both clamped to 1..=5).
    pub fn segment(&self, r: u8, fm: u8) -> RfmSegment {
        let r = r.clamp(1, 5) as usize - 1;
        let fm = fm.clamp(1, 5) as usize - 1;
        self.cells[r][fm]
    }
}

impl Default for SegmentGrid {
    fn default() -> Self {
        Self::standard()
    }
}

/// What RFM needs to know about one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfmInput {
    /// The customer.
    pub customer_id: i64,
    /// Days since the last purchase (>= 0).
    pub recency_days: i64,
    /// Number of purchases (distinct purchase days).
    pub frequency: u32,
    /// Total spend, minor units.
    pub monetary_minor: i64,
}

impl RfmInput {
    /// From a purchase summary, as of `observation_end_day`.
    pub fn from_summary(s: &CustomerSummary, observation_end_day: i64) -> Self {
        Self {
            customer_id: s.customer_id,
            recency_days: (observation_end_day - s.last_purchase_day).max(0),
            frequency: s.purchase_count,
            monetary_minor: s.total_spend_minor,
        }
    }
}

/// Scores and segment of one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfmScore {
    /// The customer.
    pub customer_id: i64,
    /// Recency score, 5 = most recent.
    pub r: u8,
    /// Frequency score, 5 = most frequent.
    pub f: u8,
    /// Monetary score, 5 = highest spend.
    pub m: u8,
    /// round((F + M) / 2), halves up.
    pub fm: u8,
    /// Named segment.
    pub segment: RfmSegment,
}

/// Quintile scores of `values` (higher is better) by the tie-aware percentile rule of the
/// module documentation.
pub fn quintile_scores(values: &[i64]) -> Vec<u8> {
    let n = values.len();
    if n == 0 {
        return Vec::new();
    }
    if n == 1 {
        return vec![3];
    }
    let mut sorted: Vec<i64> = values.to_vec();
    sorted.sort_unstable();
    values
        .iter()
        .map(|v| {
            let below = sorted.partition_point(|x| x < v);
            let pct = below as f64 / (n - 1) as f64;
            (1.0 + (5.0 * pct).floor()).min(5.0) as u8
        })
        .collect()
}

/// RFM scores and segments for all customers, aligned with `inputs`.
pub fn rfm_scores(inputs: &[RfmInput], grid: &SegmentGrid) -> Result<Vec<RfmScore>> {
    if inputs.is_empty() {
        return Err(AnalyticsError::NoCustomers {
            what: "RFM scoring",
        });
    }
    if let Some(bad) = inputs.iter().find(|i| i.recency_days < 0) {
        return Err(AnalyticsError::invalid(format!(
            "customer {} has a last purchase after the analysis date (recency {} days)",
            bad.customer_id, bad.recency_days
        )));
    }
    let r = quintile_scores(&inputs.iter().map(|i| -i.recency_days).collect::<Vec<_>>());
    let f = quintile_scores(
        &inputs
            .iter()
            .map(|i| i64::from(i.frequency))
            .collect::<Vec<_>>(),
    );
    let m = quintile_scores(&inputs.iter().map(|i| i.monetary_minor).collect::<Vec<_>>());
    Ok(inputs
        .iter()
        .enumerate()
        .map(|(k, i)| {
            let fm = (f[k] + m[k]).div_ceil(2);
            RfmScore {
                customer_id: i.customer_id,
                r: r[k],
                f: f[k],
                m: m[k],
                fm,
                segment: grid.segment(r[k], fm),
            }
        })
        .collect())
}

/// Count of customers in each (R, FM) cell, `counts[r-1][fm-1]`, for the dashboard's RFM grid.
pub fn rfm_grid_counts(scores: &[RfmScore]) -> [[u64; 5]; 5] {
    let mut counts = [[0u64; 5]; 5];
    for s in scores {
        counts[(s.r.clamp(1, 5) - 1) as usize][(s.fm.clamp(1, 5) - 1) as usize] += 1;
    }
    counts
}

/// Number of customers per segment, in [`RfmSegment::ALL`] order (zero counts included).
pub fn segment_counts(scores: &[RfmScore]) -> Vec<(RfmSegment, u64)> {
    RfmSegment::ALL
        .iter()
        .map(|seg| {
            (
                *seg,
                scores.iter().filter(|s| s.segment == *seg).count() as u64,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quintiles_are_tie_aware_and_span_one_to_five() {
        assert_eq!(quintile_scores(&[10, 20, 30, 40, 50]), vec![1, 2, 3, 4, 5]);
        assert_eq!(quintile_scores(&[1, 1, 1, 1, 9]), vec![1, 1, 1, 1, 5]);
        assert_eq!(quintile_scores(&[7]), vec![3]);
        let many: Vec<i64> = (0..100).collect();
        let s = quintile_scores(&many);
        for score in 1..=5u8 {
            let c = s.iter().filter(|v| **v == score).count();
            assert!((19..=21).contains(&c), "score {score} has {c}");
        }
    }

    #[test]
    fn every_segment_is_reachable_in_the_standard_grid() {
        let g = SegmentGrid::standard();
        for seg in RfmSegment::ALL {
            assert!(
                g.cells.iter().flatten().any(|c| *c == seg),
                "{seg} unreachable"
            );
        }
        assert_eq!(g.segment(5, 5), RfmSegment::Champions);
        assert_eq!(g.segment(1, 1), RfmSegment::Lost);
        assert_eq!(g.segment(1, 5), RfmSegment::CantLoseThem);
        assert_eq!(g.segment(5, 1), RfmSegment::New);
    }

    #[test]
    fn recency_is_reversed_and_segments_follow() {
        let inputs: Vec<RfmInput> = (0..10)
            .map(|k| RfmInput {
                customer_id: k,
                recency_days: 100 - 10 * k, // customer 9 bought most recently
                frequency: 1 + k as u32,
                monetary_minor: 1000 * (k + 1),
            })
            .collect();
        let scores = rfm_scores(&inputs, &SegmentGrid::standard()).unwrap();
        assert_eq!((scores[9].r, scores[9].f, scores[9].m), (5, 5, 5));
        assert_eq!(scores[9].segment, RfmSegment::Champions);
        assert_eq!((scores[0].r, scores[0].fm), (1, 1));
        assert_eq!(scores[0].segment, RfmSegment::Lost);
        let counts = rfm_grid_counts(&scores);
        assert_eq!(counts.iter().flatten().sum::<u64>(), 10);
        assert!(rfm_scores(&[], &SegmentGrid::standard()).is_err());
    }

    #[test]
    fn segment_names_round_trip() {
        for seg in RfmSegment::ALL {
            assert_eq!(seg.name().parse::<RfmSegment>().unwrap(), seg);
        }
        assert_eq!(
            "cant lose them".parse::<RfmSegment>().unwrap(),
            RfmSegment::CantLoseThem
        );
        assert!("VIP".parse::<RfmSegment>().is_err());
    }
}
