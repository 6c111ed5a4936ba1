//! Purchase summaries per customer: from raw transactions to the frequency / recency / age /
//! monetary-value history the probabilistic models use.
//!
//! Definitions follow `summary_data_from_transaction_data` of the Python `lifetimes` package
//! (0.11.3), so numbers can be compared:
//!
//! * purchases are first collapsed per customer and **period** (a calendar day by default; with
//!   [`Grouping::SamePeriod`] and [`TimeUnit::Week`], an ISO week starting Monday): several orders
//!   on the same day count as one transaction whose amount is their sum;
//! * `frequency` (x) = number of periods with a purchase, minus one (the repeat purchases);
//! * `recency` (t_x) = time from the first to the last purchase period, in the chosen unit;
//! * `age` (T) = time from the first purchase period to the observation end, in the chosen unit;
//! * `monetary_value` = mean amount of the *repeat* periods (the first purchase excluded), in
//!   minor currency units; 0 for customers with no repeat purchase.
//!
//! Bad input never produces NaN. Transactions dated after the observation end and transactions
//! with a negative amount (refunds) are **excluded**, and so by default are zero-amount
//! transactions (free orders); each one is reported in [`SummaryReport::warnings`]. A customer
//! all of whose transactions are excluded does not appear in the summaries. Some data sets
//! (CDNOW among them) record promotional $0 orders as real purchases; with
//! [`ZeroAmounts::CountAsPurchase`] they count as purchase days with no spend (and are still
//! reported).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// Day number (days since 1970-01-01, UTC) of an epoch-millisecond timestamp.
///
/// The store layer should convert timestamps to days in the tenant's time zone before calling
/// this (add the zone offset first), because "the same day" is a local notion.
pub fn day_from_epoch_ms(ms: i64) -> i64 {
    ms.div_euclid(MS_PER_DAY)
}

/// Day number of a proleptic Gregorian calendar date (H. Hinnant's `days_from_civil`).
pub fn day_from_ymd(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Calendar date (year, month, day) of a day number; inverse of [`day_from_ymd`].
pub fn ymd_from_day(day: i64) -> (i32, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m as u32, d as u32)
}

/// One purchase (an order) of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The customer.
    pub customer_id: i64,
    /// Day number of the purchase (see [`day_from_epoch_ms`], [`day_from_ymd`]).
    pub day: i64,
    /// Amount in minor currency units (cents). Must be positive to count as a purchase.
    pub amount_minor: i64,
}

/// Unit in which recency, age and model time are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Days.
    #[default]
    Day,
    /// Weeks of seven days.
    Week,
}

impl TimeUnit {
    /// Number of days in one unit.
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Day => 1.0,
            TimeUnit::Week => 7.0,
        }
    }

    /// Units per month as used by `lifetimes.customer_lifetime_value` (`D`: 30, `W`: 4.345).
    pub fn units_per_month(self) -> f64 {
        match self {
            TimeUnit::Day => 30.0,
            TimeUnit::Week => 4.345,
        }
    }

    /// Lower-case name (`day`, `week`).
    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Day => "day",
            TimeUnit::Week => "week",
        }
    }
}

impl std::str::FromStr for TimeUnit {
    type Err = crate::AnalyticsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" | "days" | "d" => Ok(TimeUnit::Day),
            "week" | "weeks" | "w" => Ok(TimeUnit::Week),
            other => Err(crate::AnalyticsError::invalid(format!(
                "unknown time unit {other:?}: use \"day\" or \"week\""
            ))),
        }
    }
}

/// Which purchases are merged into one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    /// Purchases on the same calendar day count as one (the literature's convention, and what
    /// the CDNOW reference numbers use even when time is measured in weeks).
    #[default]
    SameDay,
    /// Purchases in the same period of the time unit count as one (for weeks: the same ISO week,
    /// Monday to Sunday), like `lifetimes` with `freq="W"`. Times are then measured between
    /// period starts.
    SamePeriod,
}

/// What a transaction with amount exactly zero means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ZeroAmounts {
    /// Not a purchase: excluded (and reported).
    #[default]
    Exclude,
    /// A purchase with no spend (promotional orders): counted for frequency and recency, adds 0
    /// to spend (and is reported).
    CountAsPurchase,
}

/// Options for [`summarize`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SummaryOptions {
    /// Last day (inclusive) of the observation period; later purchases are excluded.
    pub observation_end_day: i64,
    /// Unit of recency and age.
    pub time_unit: TimeUnit,
    /// How purchases are merged.
    pub grouping: Grouping,
    /// Treatment of zero-amount transactions.
    pub zero_amounts: ZeroAmounts,
}

impl SummaryOptions {
    /// Day grouping, zero amounts excluded, the given unit, ending on `observation_end_day`.
    pub fn new(observation_end_day: i64, time_unit: TimeUnit) -> Self {
        Self {
            observation_end_day,
            time_unit,
            grouping: Grouping::SameDay,
            zero_amounts: ZeroAmounts::Exclude,
        }
    }
}

/// What the BG/NBD and Gamma-Gamma models need to know about one customer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Number of repeat purchases (x).
    pub frequency: u32,
    /// Time of the last purchase after the first (t_x), in the time unit.
    pub recency: f64,
    /// Time from the first purchase to the observation end (T), in the time unit.
    pub age: f64,
    /// Mean amount of repeat purchases in minor units; 0 when `frequency` is 0.
    pub monetary_value: f64,
}

impl History {
    /// A history from its four numbers.
    pub fn new(frequency: u32, recency: f64, age: f64, monetary_value: f64) -> Self {
        Self {
            frequency,
            recency,
            age,
            monetary_value,
        }
    }
}

/// Purchase summary of one customer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary {
    /// The customer.
    pub customer_id: i64,
    /// Day of the first counted purchase (period start when grouping by period).
    pub first_purchase_day: i64,
    /// Day of the last counted purchase (period start when grouping by period).
    pub last_purchase_day: i64,
    /// Number of distinct purchase days (periods): `frequency + 1`.
    pub purchase_count: u32,
    /// Sum of all counted amounts, minor units.
    pub total_spend_minor: i64,
    /// Model inputs.
    pub history: History,
}

/// A transaction left out of the summaries, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SummaryWarning {
    /// Dated after the observation end (a future or mis-dated order).
    FutureDated {
        /// The customer.
        customer_id: i64,
        /// Day of the transaction.
        day: i64,
        /// Its amount.
        amount_minor: i64,
    },
    /// Amount negative (a refund): excluded.
    NegativeAmount {
        /// The customer.
        customer_id: i64,
        /// Day of the transaction.
        day: i64,
        /// Its amount.
        amount_minor: i64,
    },
    /// Amount zero (a free or promotional order): excluded, or counted as a purchase with no
    /// spend under [`ZeroAmounts::CountAsPurchase`].
    ZeroAmount {
        /// The customer.
        customer_id: i64,
        /// Day of the transaction.
        day: i64,
        /// Whether it was counted as a purchase.
        counted: bool,
    },
}

impl fmt::Display for SummaryWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SummaryWarning::FutureDated {
                customer_id,
                day,
                amount_minor,
            } => {
                let (y, m, d) = ymd_from_day(*day);
                write!(
                    f,
                    "customer {customer_id}: purchase of {amount_minor} on {y:04}-{m:02}-{d:02} is \
                     after the observation end and was ignored"
                )
            }
            SummaryWarning::NegativeAmount {
                customer_id,
                day,
                amount_minor,
            } => {
                let (y, m, d) = ymd_from_day(*day);
                write!(
                    f,
                    "customer {customer_id}: transaction on {y:04}-{m:02}-{d:02} has negative \
                     amount {amount_minor} (a refund) and was ignored"
                )
            }
            SummaryWarning::ZeroAmount {
                customer_id,
                day,
                counted,
            } => {
                let (y, m, d) = ymd_from_day(*day);
                let what = if *counted {
                    "counted as a purchase with no spend"
                } else {
                    "ignored (not a purchase)"
                };
                write!(
                    f,
                    "customer {customer_id}: transaction on {y:04}-{m:02}-{d:02} has amount 0 \
                     (a free order) and was {what}"
                )
            }
        }
    }
}

/// Result of [`summarize`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SummaryReport {
    /// One summary per customer with at least one counted purchase, ordered by customer id.
    pub customers: Vec<CustomerSummary>,
    /// Every excluded transaction.
    pub warnings: Vec<SummaryWarning>,
}

impl SummaryReport {
    /// The model histories, in the order of `customers`.
    pub fn histories(&self) -> Vec<History> {
        self.customers.iter().map(|c| c.history).collect()
    }
}

/// Start day of the period containing `day`.
fn period_start(day: i64, unit: TimeUnit, grouping: Grouping) -> i64 {
    match (grouping, unit) {
        (Grouping::SameDay, _) | (Grouping::SamePeriod, TimeUnit::Day) => day,
        // Day 0 (1970-01-01) was a Thursday; Monday-based weeks start at day -3 + 7k.
        (Grouping::SamePeriod, TimeUnit::Week) => (day + 3).div_euclid(7) * 7 - 3,
    }
}

/// Summarises transactions per customer. Input may be in any order.
pub fn summarize(transactions: &[Transaction], options: &SummaryOptions) -> SummaryReport {
    let end = options.observation_end_day;
    let unit = options.time_unit;
    let end_period = period_start(end, unit, options.grouping);
    let mut warnings = Vec::new();
    let mut kept: Vec<(i64, i64, i64)> = Vec::with_capacity(transactions.len());
    for t in transactions {
        if t.day > end {
            warnings.push(SummaryWarning::FutureDated {
                customer_id: t.customer_id,
                day: t.day,
                amount_minor: t.amount_minor,
            });
        } else if t.amount_minor < 0 {
            warnings.push(SummaryWarning::NegativeAmount {
                customer_id: t.customer_id,
                day: t.day,
                amount_minor: t.amount_minor,
            });
        } else if t.amount_minor == 0 {
            let counted = options.zero_amounts == ZeroAmounts::CountAsPurchase;
            warnings.push(SummaryWarning::ZeroAmount {
                customer_id: t.customer_id,
                day: t.day,
                counted,
            });
            if counted {
                kept.push((
                    t.customer_id,
                    period_start(t.day, unit, options.grouping),
                    0,
                ));
            }
        } else {
            kept.push((
                t.customer_id,
                period_start(t.day, unit, options.grouping),
                t.amount_minor,
            ));
        }
    }
    let already_sorted = kept
        .windows(2)
        .all(|w| (w[0].0, w[0].1) <= (w[1].0, w[1].1));
    if !already_sorted {
        kept.par_sort_unstable_by_key(|&(c, d, _)| (c, d));
    }

    let days_per_unit = unit.days();
    let mut customers = Vec::new();
    let mut i = 0;
    while i < kept.len() {
        let cid = kept[i].0;
        let first_day = kept[i].1;
        let mut last_day = first_day;
        let mut periods: u32 = 0;
        let mut total: i64 = 0;
        let mut first_period_amount: i64 = 0;
        let mut j = i;
        while j < kept.len() && kept[j].0 == cid {
            let day = kept[j].1;
            let mut amount: i64 = 0;
            while j < kept.len() && kept[j].0 == cid && kept[j].1 == day {
                amount = amount.saturating_add(kept[j].2);
                j += 1;
            }
            if periods == 0 {
                first_period_amount = amount;
            }
            periods += 1;
            last_day = day;
            total = total.saturating_add(amount);
        }
        let frequency = periods - 1;
        let monetary_value = if frequency > 0 {
            (total - first_period_amount) as f64 / f64::from(frequency)
        } else {
            0.0
        };
        customers.push(CustomerSummary {
            customer_id: cid,
            first_purchase_day: first_day,
            last_purchase_day: last_day,
            purchase_count: periods,
            total_spend_minor: total,
            history: History {
                frequency,
                recency: (last_day - first_day) as f64 / days_per_unit,
                age: (end_period - first_day) as f64 / days_per_unit,
                monetary_value,
            },
        });
        i = j;
    }
    SummaryReport {
        customers,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(customer_id: i64, day: i64, amount_minor: i64) -> Transaction {
        Transaction {
            customer_id,
            day,
            amount_minor,
        }
    }

    #[test]
    fn calendar_round_trip() {
        assert_eq!(day_from_ymd(1970, 1, 1), 0);
        assert_eq!(day_from_ymd(1997, 9, 30) - day_from_ymd(1997, 1, 1), 272);
        assert_eq!(day_from_ymd(2000, 3, 1) - day_from_ymd(2000, 2, 28), 2);
        for d in [-800_000, -1, 0, 59, 10_957, 20_000, 2_932_896] {
            let (y, m, dd) = ymd_from_day(d);
            assert_eq!(day_from_ymd(y, m, dd), d);
        }
        assert_eq!(day_from_epoch_ms(-1), -1);
        assert_eq!(day_from_epoch_ms(MS_PER_DAY * 3 + 5), 3);
    }

    #[test]
    fn same_day_purchases_count_once_and_first_is_excluded_from_monetary() {
        let txs = [
            tx(7, 10, 500),
            tx(7, 10, 300),
            tx(7, 17, 1000),
            tx(7, 24, 2000),
            tx(8, 20, 50),
        ];
        let r = summarize(&txs, &SummaryOptions::new(30, TimeUnit::Week));
        assert!(r.warnings.is_empty());
        let c = r.customers[0];
        assert_eq!(c.customer_id, 7);
        assert_eq!(c.purchase_count, 3);
        assert_eq!(c.total_spend_minor, 3800);
        assert_eq!(c.history.frequency, 2);
        assert!((c.history.recency - 2.0).abs() < 1e-12);
        assert!((c.history.age - 20.0 / 7.0).abs() < 1e-12);
        assert!((c.history.monetary_value - 1500.0).abs() < 1e-12);
        let one = r.customers[1];
        assert_eq!(
            (
                one.history.frequency,
                one.history.recency,
                one.history.monetary_value
            ),
            (0, 0.0, 0.0)
        );
    }

    #[test]
    fn future_and_non_positive_are_excluded_and_reported() {
        let txs = [
            tx(1, 5, 100),
            tx(1, 40, 100),
            tx(1, 6, 0),
            tx(1, 7, -50),
            tx(2, 50, 10),
        ];
        let r = summarize(&txs, &SummaryOptions::new(30, TimeUnit::Day));
        assert_eq!(
            r.customers.len(),
            1,
            "customer 2 has only a future purchase"
        );
        assert_eq!(r.customers[0].history.frequency, 0);
        assert_eq!(r.warnings.len(), 4);
        assert!(r.warnings.iter().any(|w| matches!(
            w,
            SummaryWarning::NegativeAmount {
                amount_minor: -50,
                ..
            }
        )));
        assert!(
            r.warnings
                .iter()
                .any(|w| matches!(w, SummaryWarning::ZeroAmount { counted: false, .. }))
        );
        assert!(
            r.warnings[0]
                .to_string()
                .contains("after the observation end")
        );
        let mut opts = SummaryOptions::new(30, TimeUnit::Day);
        opts.zero_amounts = ZeroAmounts::CountAsPurchase;
        let r = summarize(&txs, &opts);
        let h = r.customers[0].history;
        assert_eq!((h.frequency, h.recency, h.monetary_value), (1, 1.0, 0.0));
        assert_eq!(r.warnings.len(), 4);
    }

    #[test]
    fn week_period_grouping_merges_a_monday_to_sunday_week() {
        let monday = day_from_ymd(2024, 1, 1); // a Monday
        let txs = [
            tx(1, monday, 100),
            tx(1, monday + 6, 100),
            tx(1, monday + 7, 100),
        ];
        let mut opts = SummaryOptions::new(monday + 20, TimeUnit::Week);
        opts.grouping = Grouping::SamePeriod;
        let r = summarize(&txs, &opts);
        let h = r.customers[0].history;
        assert_eq!(h.frequency, 1);
        assert!((h.recency - 1.0).abs() < 1e-12);
        assert!((h.age - 2.0).abs() < 1e-12, "end falls in the third week");
        assert!((h.monetary_value - 100.0).abs() < 1e-12);
    }
}
