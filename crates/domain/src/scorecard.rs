//! Scorecards (issue 7 item 5, principle P4): how agents and teams serve, per week or month —
//! cases handled, first-response and resolution times (median and 90th percentile, in
//! business hours of the tenant's calendar), service-level targets met, reopen rate, and the
//! customers' own verdict (CSAT average and response rate, NPS) when surveys exist.
//!
//! Pure: the caller loads one [`CaseFact`] per case (and a [`SurveyFact`] per survey sent)
//! and [`compute`] groups them. Definitions, so a figure can be checked by hand:
//!
//! - A case is **handled** in the period its `solved_at` falls in, by its owner (agent) and
//!   its team. Resolution time, targets, reopen rate and surveys are over handled cases.
//! - **First-response time** counts in the period the first response was given in (so a case
//!   answered this week but still open shows up), for the same owner/team.
//! - Times are working time of the calendar between the two instants
//!   ([`Calendar::business_between`]); **median** and **p90** interpolate linearly between
//!   ranks (`p` of n sorted values is at rank `p·(n−1)`, as numpy's default): the median of
//!   [1, 2, 3, 4] is 2.5, the p90 of 1..=10 is 9.1.
//! - **Targets met %**: targets that ended on time ÷ targets that ended (met, or known to be
//!   late) — see [`target_outcome`].
//! - **Reopen rate**: handled cases that were ever moved from solved back to work ÷ handled.
//! - **CSAT** (1-5) average over answers; **response rate** answers ÷ surveys sent. `None`
//!   when there is nothing to divide by.
//! - **NPS** comes from the periodic NPS survey of customers (not from cases): an answer
//!   counts in the period it was given in, for the owner and team of the customer's last
//!   solved case when the survey was queued; % promoters (9-10) − % detractors (0-6), from
//!   −100 to 100 ([`crate::portal::net_promoter_score`]). [`tenant_nps`] gives the whole
//!   tenant's per period.
//!
//! Periods start on Monday (weeks) or the first of the month, 00:00 in the calendar's zone.

use crate::sla::Calendar;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use std::collections::BTreeMap;

/// One case as scorecards see it. Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseFact {
    pub case_id: i64,
    /// The owner (agent) when the case was read; `None`: unassigned.
    pub agent: Option<i64>,
    pub team: Option<i64>,
    pub created_at: i64,
    pub first_response_at: Option<i64>,
    pub solved_at: Option<i64>,
    /// Ever moved from a solved state back to work.
    pub reopened: bool,
    /// Targets that ended on time.
    pub targets_met: u32,
    /// Targets that ended late or are past due.
    pub targets_missed: u32,
}

/// A satisfaction survey sent for a case, with the rating if the customer gave it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SurveyFact {
    pub case_id: i64,
    /// 1-5, if answered.
    pub csat: Option<u8>,
}

/// An answer to the periodic NPS survey.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NpsFact {
    /// When it was answered (epoch ms).
    pub at: i64,
    /// Owner and team of the customer's last solved case when the survey was queued.
    pub agent: Option<i64>,
    pub team: Option<i64>,
    /// 0-10.
    pub score: u8,
}

/// The whole tenant's NPS in one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NpsPeriodRow {
    /// `YYYY-MM-DD`, the period's first day.
    pub period: String,
    pub answers: u32,
    pub promoters: u32,
    pub detractors: u32,
    /// −100 to 100.
    pub nps: Option<f64>,
}

/// The tenant's NPS per period (answers counted in the period they were given in), sorted
/// by period; only periods whose first day is within the bounds when given.
pub fn tenant_nps(
    answers: &[NpsFact],
    cal: &Calendar,
    period: Period,
    bounds: Option<(Date, Date)>,
) -> Vec<NpsPeriodRow> {
    let mut by: BTreeMap<Date, Vec<u8>> = BTreeMap::new();
    for a in answers.iter().filter(|a| a.score <= 10) {
        by.entry(period.start_of(cal, a.at))
            .or_default()
            .push(a.score);
    }
    by.into_iter()
        .filter(|(d, _)| bounds.is_none_or(|(lo, hi)| *d >= lo && *d <= hi))
        .map(|(d, v)| NpsPeriodRow {
            period: d.to_string(),
            answers: v.len() as u32,
            promoters: v.iter().filter(|x| **x >= 9).count() as u32,
            detractors: v.iter().filter(|x| **x <= 6).count() as u32,
            nps: crate::portal::net_promoter_score(&v),
        })
        .collect()
}

/// How a scorecard is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Agent,
    Team,
}

/// How long a period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Week,
    Month,
}

impl GroupBy {
    pub fn parse(s: &str) -> Option<GroupBy> {
        match s.trim() {
            "agent" => Some(GroupBy::Agent),
            "team" => Some(GroupBy::Team),
            _ => None,
        }
    }
}

impl Period {
    pub fn parse(s: &str) -> Option<Period> {
        match s.trim() {
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// The first day of the period holding `at_ms`, in the calendar's zone.
    pub fn start_of(self, cal: &Calendar, at_ms: i64) -> Date {
        let day = Timestamp::from_millisecond(at_ms)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(cal.time_zone().clone())
            .date();
        match self {
            Period::Week => {
                let back = i64::from(day.weekday().to_monday_zero_offset());
                day.checked_sub(jiff::Span::new().days(back)).unwrap_or(day)
            }
            Period::Month => day.first_of_month(),
        }
    }
}

/// One row of a scorecard: a group (agent or team; `None` = unassigned) in one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreRow {
    pub group: Option<i64>,
    /// `YYYY-MM-DD`, the period's first day.
    pub period: String,
    pub cases_handled: u32,
    /// How many first responses the FRT figures are over.
    pub first_responses: u32,
    pub frt_median_ms: Option<i64>,
    pub frt_p90_ms: Option<i64>,
    pub resolution_median_ms: Option<i64>,
    pub resolution_p90_ms: Option<i64>,
    /// 0-100.
    pub targets_met_pct: Option<f64>,
    /// 0-1.
    pub reopen_rate: Option<f64>,
    pub csat_avg: Option<f64>,
    /// 0-1.
    pub csat_response_rate: Option<f64>,
    /// −100 to 100.
    pub nps: Option<f64>,
}

/// Whether a target ended on time (`Some(true)`), late (`Some(false)`) or has not ended and
/// is not late yet (`None`). A target met after its due instant, or still running (or
/// cancelled) after its due instant, is late.
pub fn target_outcome(
    met_at: Option<i64>,
    cancelled_at: Option<i64>,
    due_at: i64,
    now: i64,
) -> Option<bool> {
    match (met_at, cancelled_at) {
        (Some(m), _) => Some(m <= due_at),
        (None, Some(c)) if c > due_at => Some(false),
        (None, Some(_)) => None,
        (None, None) if now > due_at => Some(false),
        (None, None) => None,
    }
}

/// The `p`-th percentile (0-100) of `values` with linear interpolation between ranks;
/// `None` for no values. Sorts `values`.
pub fn percentile(values: &mut [i64], p: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (p.clamp(0.0, 100.0) / 100.0) * (values.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    let v = values[lo] as f64 + (values[hi] as f64 - values[lo] as f64) * frac;
    Some(v.round() as i64)
}

#[derive(Default)]
struct Acc {
    handled: u32,
    frt: Vec<i64>,
    res: Vec<i64>,
    met: u32,
    missed: u32,
    reopened: u32,
    surveys: u32,
    csat: Vec<u8>,
    nps: Vec<u8>,
}

/// Groups `cases` (and the `surveys` sent for them, and the NPS answers) by agent or team and
/// period. Rows come sorted by period, then group (unassigned first). Only periods whose
/// first day is within `[from_day, to_day]` are kept when bounds are given.
pub fn compute(
    cases: &[CaseFact],
    surveys: &[SurveyFact],
    nps: &[NpsFact],
    cal: &Calendar,
    by: GroupBy,
    period: Period,
    bounds: Option<(Date, Date)>,
) -> Vec<ScoreRow> {
    let group_of = |c: &CaseFact| match by {
        GroupBy::Agent => c.agent,
        GroupBy::Team => c.team,
    };
    let mut acc: BTreeMap<(Date, Option<i64>), Acc> = BTreeMap::new();
    let mut handled_in: BTreeMap<i64, (Date, Option<i64>)> = BTreeMap::new();
    for c in cases {
        let g = group_of(c);
        if let Some(fr) = c.first_response_at {
            let a = acc.entry((period.start_of(cal, fr), g)).or_default();
            a.frt.push(cal.business_between(c.created_at, fr));
        }
        if let Some(s) = c.solved_at {
            let key = (period.start_of(cal, s), g);
            let a = acc.entry(key).or_default();
            a.handled += 1;
            a.res.push(cal.business_between(c.created_at, s));
            a.met += c.targets_met;
            a.missed += c.targets_missed;
            a.reopened += u32::from(c.reopened);
            handled_in.insert(c.case_id, key);
        }
    }
    for s in surveys {
        let Some(key) = handled_in.get(&s.case_id) else {
            continue;
        };
        let a = acc.entry(*key).or_default();
        a.surveys += 1;
        if let Some(v) = s.csat.filter(|v| (1..=5).contains(v)) {
            a.csat.push(v);
        }
    }
    for n in nps.iter().filter(|n| n.score <= 10) {
        let g = match by {
            GroupBy::Agent => n.agent,
            GroupBy::Team => n.team,
        };
        acc.entry((period.start_of(cal, n.at), g))
            .or_default()
            .nps
            .push(n.score);
    }
    let ratio = |a: u32, b: u32| (b > 0).then(|| f64::from(a) / f64::from(b));
    acc.into_iter()
        .filter(|((d, _), _)| bounds.is_none_or(|(lo, hi)| *d >= lo && *d <= hi))
        .map(|((d, g), mut a)| {
            let answered = a.csat.len() as u32;
            ScoreRow {
                group: g,
                period: d.to_string(),
                cases_handled: a.handled,
                first_responses: a.frt.len() as u32,
                frt_median_ms: percentile(&mut a.frt, 50.0),
                frt_p90_ms: percentile(&mut a.frt, 90.0),
                resolution_median_ms: percentile(&mut a.res, 50.0),
                resolution_p90_ms: percentile(&mut a.res, 90.0),
                targets_met_pct: ratio(a.met, a.met + a.missed).map(|r| r * 100.0),
                reopen_rate: ratio(a.reopened, a.handled),
                csat_avg: (!a.csat.is_empty()).then(|| {
                    a.csat.iter().map(|v| f64::from(*v)).sum::<f64>() / a.csat.len() as f64
                }),
                csat_response_rate: ratio(answered, a.surveys),
                nps: crate::portal::net_promoter_score(&a.nps),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sla::CalendarSpec;
    use jiff::tz::TimeZone;

    const H: i64 = 3_600_000;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        assert_eq!(percentile(&mut [4, 1, 3, 2], 50.0), Some(3)); // 2.5 rounds to 3
        assert_eq!(percentile(&mut [10, 20, 30, 40], 50.0), Some(25));
        assert_eq!(
            percentile(&mut (1..=10).map(|x| x * 10).collect::<Vec<_>>(), 90.0),
            Some(91)
        );
        assert_eq!(percentile(&mut [7], 90.0), Some(7));
        assert_eq!(percentile(&mut [], 50.0), None);
    }

    #[test]
    fn target_outcomes() {
        assert_eq!(target_outcome(Some(5), None, 10, 100), Some(true));
        assert_eq!(target_outcome(Some(11), None, 10, 100), Some(false));
        assert_eq!(target_outcome(None, None, 10, 100), Some(false));
        assert_eq!(target_outcome(None, None, 10, 5), None);
        assert_eq!(target_outcome(None, Some(5), 10, 100), None);
        assert_eq!(target_outcome(None, Some(12), 10, 100), Some(false));
    }

    /// Office hours 09:00-18:00 Mon-Fri in UTC. 2026-11-02 is a Monday.
    fn office() -> Calendar {
        Calendar::new(TimeZone::UTC, &CalendarSpec::office("UTC")).unwrap()
    }

    /// The fixture, computed by hand:
    ///
    /// Agent 1 (team 10):
    /// - case 1: created Mon 2 Nov 09:00, answered 10:00 (1 h), solved Mon 17:00 (8 h); targets
    ///   2 met.
    /// - case 2: created Mon 2 Nov 17:00, answered Tue 10:00 (Mon 17-18 and Tue 09-10: 2 h),
    ///   solved Wed 4 Nov 12:00 (Mon 1 h + Tue 9 h + Wed 3 h = 13 h). Reopened once;
    ///   targets 1 met, 1 missed.
    /// - case 3: created Fri 6 Nov 17:00, answered Mon 9 Nov 09:30 (1 h + 0.5 h = 1.5 h, the
    ///   weekend does not count), still open: FRT in week of 9 Nov, not handled.
    ///
    /// Agent 2 (team 10):
    /// - case 4: created Tue 3 Nov 09:00, answered 13:00 (4 h), solved Thu 5 Nov 09:00
    ///   (Tue 9 h + Wed 9 h = 18 h); targets 0 met, 2 missed.
    ///
    /// Week of 2 Nov, agent 1: handled 2 (cases 1, 2); FRT [1 h, 2 h] → median 1.5 h,
    /// p90 1 h + 0.9 h = 1.9 h; resolution [8 h, 13 h] → median 10.5 h, p90 12.5 h;
    /// targets 3 of 4 = 75 %; reopen 1/2. Surveys: case 1 CSAT 5, case 2 sent, no
    /// answer → CSAT avg 5, response rate 1/2. NPS: agent 1's customer answered 10 on Tue
    /// 3 Nov → NPS 100.
    /// Week of 9 Nov, agent 1: handled 0, FRT [1.5 h].
    /// Week of 2 Nov, agent 2: handled 1, FRT 4 h, resolution 18 h, targets 0 %, reopen 0;
    /// survey CSAT 2 → avg 2, rate 1; an NPS answer of 3 on Thu 5 Nov → NPS −100.
    /// Team 10, week of 2 Nov: handled 3; FRT [1, 2, 4] h → median 2 h, p90 at rank 1.8
    /// → 2 h + 0.8·2 h = 3.6 h; resolution [8, 13, 18] h → median 13 h, p90 17 h; targets
    /// 3 of 6 = 50 %; reopen 1/3; CSAT (5+2)/2 = 3.5, rate 2/3, NPS (1−1)/2 = 0.
    fn fixture() -> (Vec<CaseFact>, Vec<SurveyFact>, Vec<NpsFact>) {
        let cases = vec![
            CaseFact {
                case_id: 1,
                agent: Some(1),
                team: Some(10),
                created_at: ms("2026-11-02T09:00:00Z"),
                first_response_at: Some(ms("2026-11-02T10:00:00Z")),
                solved_at: Some(ms("2026-11-02T17:00:00Z")),
                reopened: false,
                targets_met: 2,
                targets_missed: 0,
            },
            CaseFact {
                case_id: 2,
                agent: Some(1),
                team: Some(10),
                created_at: ms("2026-11-02T17:00:00Z"),
                first_response_at: Some(ms("2026-11-03T10:00:00Z")),
                solved_at: Some(ms("2026-11-04T12:00:00Z")),
                reopened: true,
                targets_met: 1,
                targets_missed: 1,
            },
            CaseFact {
                case_id: 3,
                agent: Some(1),
                team: Some(10),
                created_at: ms("2026-11-06T17:00:00Z"),
                first_response_at: Some(ms("2026-11-09T09:30:00Z")),
                solved_at: None,
                ..CaseFact::default()
            },
            CaseFact {
                case_id: 4,
                agent: Some(2),
                team: Some(10),
                created_at: ms("2026-11-03T09:00:00Z"),
                first_response_at: Some(ms("2026-11-03T13:00:00Z")),
                solved_at: Some(ms("2026-11-05T09:00:00Z")),
                reopened: false,
                targets_met: 0,
                targets_missed: 2,
            },
        ];
        let surveys = vec![
            SurveyFact {
                case_id: 1,
                csat: Some(5),
            },
            SurveyFact {
                case_id: 2,
                csat: None,
            },
            SurveyFact {
                case_id: 4,
                csat: Some(2),
            },
        ];
        let nps = vec![
            NpsFact {
                at: ms("2026-11-03T12:00:00Z"),
                agent: Some(1),
                team: Some(10),
                score: 10,
            },
            NpsFact {
                at: ms("2026-11-05T12:00:00Z"),
                agent: Some(2),
                team: Some(10),
                score: 3,
            },
        ];
        (cases, surveys, nps)
    }

    #[test]
    fn agent_scorecard_matches_hand_computed_values() {
        let (cases, surveys, nps) = fixture();
        let rows = compute(
            &cases,
            &surveys,
            &nps,
            &office(),
            GroupBy::Agent,
            Period::Week,
            None,
        );
        assert_eq!(rows.len(), 3);
        let a1 = &rows[0];
        assert_eq!((a1.group, a1.period.as_str()), (Some(1), "2026-11-02"));
        assert_eq!(a1.cases_handled, 2);
        assert_eq!(a1.first_responses, 2);
        assert_eq!(a1.frt_median_ms, Some(3 * H / 2));
        assert_eq!(a1.frt_p90_ms, Some(19 * H / 10));
        assert_eq!(a1.resolution_median_ms, Some(21 * H / 2));
        assert_eq!(a1.resolution_p90_ms, Some(25 * H / 2));
        assert_eq!(a1.targets_met_pct, Some(75.0));
        assert_eq!(a1.reopen_rate, Some(0.5));
        assert_eq!(a1.csat_avg, Some(5.0));
        assert_eq!(a1.csat_response_rate, Some(0.5));
        assert_eq!(a1.nps, Some(100.0));

        let a2 = &rows[1];
        assert_eq!((a2.group, a2.period.as_str()), (Some(2), "2026-11-02"));
        assert_eq!(a2.cases_handled, 1);
        assert_eq!(a2.frt_median_ms, Some(4 * H));
        assert_eq!(a2.resolution_median_ms, Some(18 * H));
        assert_eq!(a2.resolution_p90_ms, Some(18 * H));
        assert_eq!(a2.targets_met_pct, Some(0.0));
        assert_eq!(a2.reopen_rate, Some(0.0));
        assert_eq!(a2.csat_avg, Some(2.0));
        assert_eq!(a2.csat_response_rate, Some(1.0));
        assert_eq!(a2.nps, Some(-100.0));

        let later = &rows[2];
        assert_eq!(
            (later.group, later.period.as_str()),
            (Some(1), "2026-11-09")
        );
        assert_eq!(later.cases_handled, 0);
        assert_eq!(later.frt_median_ms, Some(3 * H / 2));
        assert_eq!(later.resolution_median_ms, None);
        assert_eq!(later.reopen_rate, None);
        assert_eq!(later.targets_met_pct, None);
        assert_eq!(later.csat_avg, None);
    }

    #[test]
    fn team_scorecard_and_bounds() {
        let (cases, surveys, nps) = fixture();
        let rows = compute(
            &cases,
            &surveys,
            &nps,
            &office(),
            GroupBy::Team,
            Period::Week,
            None,
        );
        let t = &rows[0];
        assert_eq!((t.group, t.period.as_str()), (Some(10), "2026-11-02"));
        assert_eq!(t.cases_handled, 3);
        assert_eq!(t.frt_median_ms, Some(2 * H));
        assert_eq!(t.frt_p90_ms, Some(36 * H / 10));
        assert_eq!(t.resolution_median_ms, Some(13 * H));
        assert_eq!(t.resolution_p90_ms, Some(17 * H));
        assert_eq!(t.targets_met_pct, Some(50.0));
        assert_eq!(t.reopen_rate, Some(1.0 / 3.0));
        assert_eq!(t.csat_avg, Some(3.5));
        assert_eq!(t.csat_response_rate, Some(2.0 / 3.0));
        assert_eq!(t.nps, Some(0.0));

        let month = compute(
            &cases,
            &[],
            &[],
            &office(),
            GroupBy::Team,
            Period::Month,
            None,
        );
        assert_eq!(month.len(), 1);
        assert_eq!(month[0].period, "2026-11-01");
        assert_eq!(month[0].cases_handled, 3);
        assert_eq!(month[0].first_responses, 4);
        assert_eq!(month[0].csat_response_rate, None);

        let d = |s: &str| s.parse::<Date>().unwrap();
        let only_later = compute(
            &cases,
            &surveys,
            &nps,
            &office(),
            GroupBy::Team,
            Period::Week,
            Some((d("2026-11-09"), d("2026-11-30"))),
        );
        assert_eq!(only_later.len(), 1);
        assert_eq!(only_later[0].period, "2026-11-09");
    }

    /// The tenant's NPS by hand: week of 2 Nov, answers 10, 9, 7, 3, 0 (Sun 8 Nov 23:00 is
    /// still that week) → 2 promoters, 1 passive, 2 detractors of 5 → (2 − 2) / 5 = 0; week
    /// of 9 Nov, answers 10, 8, 6 → (1 − 1) / 3 = 0; week of 16 Nov, answers 9, 9, 10, 5 →
    /// (3 − 1) / 4 = 50 %.
    #[test]
    fn tenant_nps_by_hand() {
        let at = |d: &str, score: u8| NpsFact {
            at: ms(d),
            score,
            ..NpsFact::default()
        };
        let answers = vec![
            at("2026-11-02T10:00:00Z", 10),
            at("2026-11-03T10:00:00Z", 9),
            at("2026-11-04T10:00:00Z", 7),
            at("2026-11-06T10:00:00Z", 3),
            at("2026-11-08T23:00:00Z", 0),
            at("2026-11-09T10:00:00Z", 10),
            at("2026-11-10T10:00:00Z", 8),
            at("2026-11-11T10:00:00Z", 6),
            at("2026-11-16T10:00:00Z", 9),
            at("2026-11-17T10:00:00Z", 9),
            at("2026-11-18T10:00:00Z", 10),
            at("2026-11-19T10:00:00Z", 5),
        ];
        let rows = tenant_nps(&answers, &office(), Period::Week, None);
        let got: Vec<(&str, u32, u32, u32, Option<f64>)> = rows
            .iter()
            .map(|r| {
                (
                    r.period.as_str(),
                    r.answers,
                    r.promoters,
                    r.detractors,
                    r.nps,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("2026-11-02", 5, 2, 2, Some(0.0)),
                ("2026-11-09", 3, 1, 1, Some(0.0)),
                ("2026-11-16", 4, 3, 1, Some(50.0)),
            ]
        );
        let month = tenant_nps(&answers, &office(), Period::Month, None);
        // 12 answers: promoters 10, 9, 10, 9, 9, 10 = 6; detractors 3, 0, 6, 5 = 4 →
        // (6 − 4) / 12 = 16.67 %.
        assert_eq!(month.len(), 1);
        assert!((month[0].nps.unwrap() - 200.0 / 12.0).abs() < 1e-9);
    }

    #[test]
    fn weeks_start_monday_in_the_calendars_zone() {
        let tz = TimeZone::get("Asia/Shanghai").unwrap();
        let cal = Calendar::always(tz);
        // Sunday 2026-11-08 20:00 UTC is Monday 04:00 in Shanghai.
        assert_eq!(
            Period::Week
                .start_of(&cal, ms("2026-11-08T20:00:00Z"))
                .to_string(),
            "2026-11-09"
        );
        let utc = Calendar::always(TimeZone::UTC);
        assert_eq!(
            Period::Week
                .start_of(&utc, ms("2026-11-08T20:00:00Z"))
                .to_string(),
            "2026-11-02"
        );
    }
}
