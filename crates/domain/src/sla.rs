//! Service-level targets (issue 4, principle P4: "answer in time; a complaint with no follow-up
//! escalates"): business-hours calendars, policies that pick a case's targets, targets that
//! pause and resume, and escalation rules that fire at a percentage of a target.
//!
//! Everything here is pure. Instants are `i64` epoch milliseconds (what the store keeps);
//! time zones arrive as resolved `jiff::tz::TimeZone` values. Working time is real elapsed
//! time inside opening hours: each day's local hours are converted to instants with the zone
//! (a local time skipped by a DST change is resolved "compatibly", i.e. moved forward), so a
//! 01:00-05:00 shift on the day clocks go forward lasts three hours. Long spans skip whole
//! weeks arithmetically between holidays and zone transitions, and every walk is bounded.

use crate::customer::preview;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Longest target, in minutes (one year).
pub const MAX_TARGET_MINUTES: u32 = 525_600;
/// Highest escalation percentage.
pub const MAX_PERCENT: u32 = 200;
/// Most holidays in one calendar.
pub const MAX_HOLIDAYS: usize = 2_000;
/// How far `add_business` looks for working time before giving up.
const GIVE_UP_MS: i64 = 3_653 * DAY_MS;
const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;
const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Why a calendar, policy or rule was refused. The message says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    #[error(
        "{got} on {day} is not opening hours: use HH:MM-HH:MM with the end after the start, \
         e.g. '09:00-18:00' (split an overnight shift into '22:00-24:00' and '00:00-06:00' \
         on the next day)"
    )]
    Hours { day: String, got: String },
    #[error("opening hours {first} and {second} on {day} overlap: merge them into one interval")]
    Overlap {
        day: String,
        first: String,
        second: String,
    },
    #[error("{0} is not a weekday (use mon, tue, wed, thu, fri, sat or sun)")]
    Weekday(String),
    #[error("{0} is not a holiday date (use YYYY-MM-DD, e.g. 2026-12-25)")]
    Holiday(String),
    #[error("a target must be 1-{MAX_TARGET_MINUTES} minutes (up to one year), got {0}")]
    TargetMinutes(i64),
    #[error("an escalation percentage must be 1-{MAX_PERCENT}, got {0}; e.g. 75, 100 or 150")]
    Percent(u32),
    #[error(
        "a calendar needs some working hours, e.g. mon: ['09:00-18:00']; \
         for round-the-clock service use '00:00-24:00' on every day"
    )]
    EmptyCalendar,
    #[error("at most {max} {what} are allowed")]
    TooMany { what: &'static str, max: usize },
    #[error("{0} is not a target (use first_response, next_response, resolution or handoff)")]
    TargetKind(String),
    #[error("a policy name must be 1-100 characters")]
    PolicyName,
    #[error("{0}, when set, must be 1-64 characters; leave it out to match every case")]
    PolicyKey(&'static str),
    #[error(
        "a policy needs at least one of first_response_mins, next_response_mins or \
         resolution_mins"
    )]
    NoTargets,
    #[error("an escalation level must be 1-9, got {0}")]
    Level(u8),
    #[error(
        "an escalation rule needs 1-8 actions (notify_owner, notify_team_manager, reassign, \
         raise_priority)"
    )]
    Actions,
}

/// Checks a target length in minutes: 1 to [`MAX_TARGET_MINUTES`].
pub fn check_target_minutes(minutes: i64) -> Result<u32, SlaError> {
    u32::try_from(minutes)
        .ok()
        .filter(|m| (1..=MAX_TARGET_MINUTES).contains(m))
        .ok_or(SlaError::TargetMinutes(minutes))
}

/// A calendar as configured and stored: a zone name, weekly hours and holidays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarSpec {
    /// An IANA zone name, e.g. `Asia/Shanghai`; the caller resolves it.
    pub time_zone: String,
    /// `"mon"`..`"sun"` → intervals such as `"09:00-18:00"` (end may be `24:00`).
    pub hours: BTreeMap<String, Vec<String>>,
    /// Whole closed days, `YYYY-MM-DD`, in the calendar's zone.
    #[serde(default)]
    pub holidays: Vec<String>,
}

impl CalendarSpec {
    /// Office hours: Monday to Friday, 09:00-18:00, no holidays.
    pub fn office(tz_name: &str) -> CalendarSpec {
        CalendarSpec {
            time_zone: tz_name.to_string(),
            hours: DAY_KEYS[..5]
                .iter()
                .map(|d| (d.to_string(), vec!["09:00-18:00".to_string()]))
                .collect(),
            holidays: Vec::new(),
        }
    }
}

/// Working hours in one zone. Each weekday (Monday = 0) holds sorted, non-overlapping,
/// half-open `[start, end)` intervals in minutes of the local day (`end` may be 1440, i.e.
/// 24:00); holidays are closed all day.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    tz: TimeZone,
    week: [Vec<(u16, u16)>; 7],
    holidays: BTreeSet<Date>,
    /// Working time of a week without holidays or zone transitions.
    week_ms: i64,
}

/// How a walk over working time ended.
enum Walk {
    /// The needed working time was reached at this instant.
    Reached(i64),
    /// The window ended first; this much working time was in it.
    Total(i64),
}

impl Calendar {
    /// Open around the clock, every day, no holidays.
    pub fn always(tz: TimeZone) -> Calendar {
        Calendar {
            tz,
            week: std::array::from_fn(|_| vec![(0, 1440)]),
            holidays: BTreeSet::new(),
            week_ms: WEEK_MS,
        }
    }

    /// Builds a calendar from its stored form; `tz` is `spec.time_zone` already resolved.
    pub fn new(tz: TimeZone, spec: &CalendarSpec) -> Result<Calendar, SlaError> {
        let mut week: [Vec<(u16, u16)>; 7] = Default::default();
        for (key, intervals) in &spec.hours {
            let day = day_index(key).ok_or_else(|| SlaError::Weekday(preview(key, 20)))?;
            for text in intervals {
                let bad = || SlaError::Hours {
                    day: DAY_KEYS[day].to_string(),
                    got: preview(text, 30),
                };
                let (a, b) = text.trim().split_once('-').ok_or_else(bad)?;
                let (a, b) = (
                    parse_hhmm(a).ok_or_else(bad)?,
                    parse_hhmm(b).ok_or_else(bad)?,
                );
                if a >= b || a >= 1440 {
                    return Err(bad());
                }
                week[day].push((a, b));
            }
        }
        for (day, intervals) in week.iter_mut().enumerate() {
            intervals.sort_unstable();
            for pair in intervals.windows(2) {
                if pair[1].0 < pair[0].1 {
                    return Err(SlaError::Overlap {
                        day: DAY_KEYS[day].to_string(),
                        first: show_interval(pair[0]),
                        second: show_interval(pair[1]),
                    });
                }
            }
        }
        let week_minutes: i64 = week.iter().flatten().map(|&(a, b)| i64::from(b - a)).sum();
        if week_minutes == 0 {
            return Err(SlaError::EmptyCalendar);
        }
        if spec.holidays.len() > MAX_HOLIDAYS {
            return Err(SlaError::TooMany {
                what: "holidays",
                max: MAX_HOLIDAYS,
            });
        }
        let holidays = spec
            .holidays
            .iter()
            .map(|h| {
                let t = h.trim();
                match t.parse::<Date>() {
                    Ok(d) if t.len() == 10 => Ok(d),
                    _ => Err(SlaError::Holiday(preview(h, 20))),
                }
            })
            .collect::<Result<BTreeSet<Date>, SlaError>>()?;
        Ok(Calendar {
            tz,
            week,
            holidays,
            week_ms: week_minutes * MINUTE_MS,
        })
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// Working minutes in a week without holidays.
    pub fn weekly_minutes(&self) -> i64 {
        self.week_ms / MINUTE_MS
    }

    /// True when open around the clock with no holidays: working time is wall time.
    fn is_always(&self) -> bool {
        self.holidays.is_empty() && self.week.iter().all(|d| d[..] == [(0, 1440)])
    }

    /// The instant `business_ms` of working time after `start_ms` (starting at the next
    /// opening when closed at `start_ms`). Zero or less returns `start_ms`. When ten years
    /// hold too little working time (say, a year of holidays), returns wall time instead.
    pub fn add_business(&self, start_ms: i64, business_ms: i64) -> i64 {
        let wall = start_ms.saturating_add(business_ms);
        if business_ms <= 0 || self.is_always() {
            return wall;
        }
        let until = start_ms.saturating_add(GIVE_UP_MS);
        match self.walk(start_ms, until, business_ms) {
            Walk::Reached(at) => at,
            Walk::Total(_) => wall,
        }
    }

    /// Working time in `[from_ms, to_ms)`; 0 when `to_ms <= from_ms`.
    pub fn business_between(&self, from_ms: i64, to_ms: i64) -> i64 {
        let (from_ms, to_ms) = (clamp_ms(from_ms), clamp_ms(to_ms));
        if to_ms <= from_ms {
            return 0;
        }
        if self.is_always() {
            return to_ms - from_ms;
        }
        match self.walk(from_ms, to_ms, i64::MAX) {
            Walk::Reached(_) => to_ms - from_ms,
            Walk::Total(t) => t,
        }
    }

    /// Whether `at_ms` falls in working time.
    pub fn is_open(&self, at_ms: i64) -> bool {
        self.business_between(at_ms, at_ms.saturating_add(1)) > 0
    }

    /// Walks working time from `from` (within `[from, until)`) until `need` is reached.
    fn walk(&self, from: i64, until: i64, need: i64) -> Walk {
        let (from, until) = (clamp_ms(from), clamp_ms(until));
        // Start a day early: a zone change near midnight can put part of the previous local
        // day after `from`.
        let Some(mut day) = self.local_date(from).map(|d| d.yesterday().unwrap_or(d)) else {
            return Walk::Total(0);
        };
        let (mut cursor, mut acc) = (from, 0i64);
        let mut next_transition: Option<i64> = None;
        while let Some(day_start) = self.instant(day, 0).filter(|&t| t < until) {
            if cursor <= day_start {
                let n = self.weeks_to_skip(day, day_start, until, need - acc, &mut next_transition);
                if n > 0 {
                    let Some(next) = Span::new()
                        .try_days(7 * n)
                        .ok()
                        .and_then(|s| day.checked_add(s).ok())
                    else {
                        break;
                    };
                    acc += n * self.week_ms;
                    cursor = day_start + n * WEEK_MS;
                    day = next;
                    continue;
                }
            }
            if !self.holidays.contains(&day) {
                for &(a, b) in &self.week[weekday_index(day.weekday())] {
                    let (Some(s), Some(e)) = (self.instant(day, a), self.instant(day, b)) else {
                        continue;
                    };
                    let (s, e) = (s.max(cursor), e.min(until));
                    if e <= s {
                        continue;
                    }
                    if e - s >= need - acc {
                        return Walk::Reached(s + (need - acc));
                    }
                    acc += e - s;
                    cursor = e;
                }
            }
            let Ok(next) = day.tomorrow() else {
                break;
            };
            day = next;
        }
        Walk::Total(acc)
    }

    /// How many whole weeks from local midnight of `day` (at `day_start`) can be counted as
    /// `week_ms` each: no holiday, no zone transition, inside the window, and leaving some
    /// of `left` for the day-by-day walk to land on.
    fn weeks_to_skip(
        &self,
        day: Date,
        day_start: i64,
        until: i64,
        left: i64,
        next_transition: &mut Option<i64>,
    ) -> i64 {
        if left <= self.week_ms || until - day_start < WEEK_MS {
            return 0;
        }
        let mut n = ((left - 1) / self.week_ms).min((until - day_start) / WEEK_MS);
        if let Some(h) = self.holidays.range(day..).next() {
            let days = day.until(*h).map(|s| i64::from(s.get_days())).unwrap_or(0);
            n = n.min(days / 7);
        }
        if n == 0 {
            return 0;
        }
        let next = match *next_transition {
            Some(t) if t > day_start => t,
            _ => {
                let t = Timestamp::from_millisecond(day_start)
                    .ok()
                    .and_then(|ts| self.tz.following(ts).next())
                    .map_or(i64::MAX, |tr| tr.timestamp().as_millisecond());
                *next_transition = Some(t);
                t
            }
        };
        // Strictly before the transition, so every skipped local time has one offset.
        n.min((next - day_start - 1) / WEEK_MS)
    }

    /// The instant of local `minute` (0..=1440) on `day`, gaps resolved compatibly.
    fn instant(&self, day: Date, minute: u16) -> Option<i64> {
        let (day, minute) = if minute >= 1440 {
            (day.tomorrow().ok()?, 0)
        } else {
            (day, minute)
        };
        let time = Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).ok()?;
        let ts = self.tz.to_timestamp(day.to_datetime(time)).ok()?;
        Some(ts.as_millisecond())
    }

    fn local_date(&self, ms: i64) -> Option<Date> {
        let ts = Timestamp::from_millisecond(ms).ok()?;
        Some(self.tz.to_datetime(ts).date())
    }
}

fn clamp_ms(ms: i64) -> i64 {
    ms.clamp(
        Timestamp::MIN.as_millisecond(),
        Timestamp::MAX.as_millisecond(),
    )
}

fn weekday_index(w: Weekday) -> usize {
    w.to_monday_zero_offset() as usize
}

fn day_index(key: &str) -> Option<usize> {
    const FULL: &str = "monday tuesday wednesday thursday friday saturday sunday";
    let k = key.trim().to_ascii_lowercase();
    (0..7).find(|&i| k == DAY_KEYS[i] || FULL.split(' ').nth(i) == Some(k.as_str()))
}

/// `H:MM` or `HH:MM`, 00:00 to 24:00, as minutes of the day.
fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if !(1..=2).contains(&h.len()) || m.len() != 2 || !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h * 60 + m;
    (m < 60 && minutes <= 1440).then_some(minutes)
}

fn show_interval((a, b): (u16, u16)) -> String {
    format!("{:02}:{:02}-{:02}:{:02}", a / 60, a % 60, b / 60, b % 60)
}

/// Which targets a case gets. Unset `tier`/`priority`/`channel` match every case.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub id: i64,
    pub name: String,
    pub tier: Option<String>,
    pub priority: Option<String>,
    pub channel: Option<String>,
    pub first_response_mins: Option<u32>,
    pub next_response_mins: Option<u32>,
    pub resolution_mins: Option<u32>,
}

impl Policy {
    pub fn validate(&self) -> Result<(), SlaError> {
        if !(1..=100).contains(&self.name.trim().chars().count()) {
            return Err(SlaError::PolicyName);
        }
        for (field, value) in [
            ("tier", &self.tier),
            ("priority", &self.priority),
            ("channel", &self.channel),
        ] {
            if value
                .as_deref()
                .is_some_and(|v| v.trim().is_empty() || v.chars().count() > 64)
            {
                return Err(SlaError::PolicyKey(field));
            }
        }
        let mins = [
            self.first_response_mins,
            self.next_response_mins,
            self.resolution_mins,
        ];
        if mins.iter().all(Option::is_none) {
            return Err(SlaError::NoTargets);
        }
        for m in mins.into_iter().flatten() {
            check_target_minutes(i64::from(m))?;
        }
        Ok(())
    }

    /// The target length this policy sets for `kind` (hand-offs are set per team, not here).
    pub fn minutes_for(&self, kind: TargetKind) -> Option<u32> {
        match kind {
            TargetKind::FirstResponse => self.first_response_mins,
            TargetKind::NextResponse => self.next_response_mins,
            TargetKind::Resolution => self.resolution_mins,
            TargetKind::Handoff => None,
        }
    }

    fn matches(&self, tier: Option<&str>, priority: &str, channel: &str) -> bool {
        self.tier.as_deref().is_none_or(|t| Some(t) == tier)
            && self.priority.as_deref().is_none_or(|p| p == priority)
            && self.channel.as_deref().is_none_or(|c| c == channel)
    }

    /// Tier outweighs priority, which outweighs channel.
    fn specificity(&self) -> u8 {
        4 * u8::from(self.tier.is_some())
            + 2 * u8::from(self.priority.is_some())
            + u8::from(self.channel.is_some())
    }
}

/// The policy for a case: every set field must equal the case's; the most specific match
/// wins (tier > priority > channel); ties go to the lowest id. Keys compare exactly.
pub fn select_policy<'a>(
    policies: &'a [Policy],
    tier: Option<&str>,
    priority: &str,
    channel: &str,
) -> Option<&'a Policy> {
    policies
        .iter()
        .filter(|p| p.matches(tier, priority, channel))
        .max_by(|a, b| a.specificity().cmp(&b.specificity()).then(b.id.cmp(&a.id)))
}

/// What a target measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    FirstResponse,
    NextResponse,
    Resolution,
    /// Internal: how soon a team picks up a case handed to it.
    Handoff,
}

impl TargetKind {
    pub const ALL: [TargetKind; 4] = [
        TargetKind::FirstResponse,
        TargetKind::NextResponse,
        TargetKind::Resolution,
        TargetKind::Handoff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::FirstResponse => "first_response",
            TargetKind::NextResponse => "next_response",
            TargetKind::Resolution => "resolution",
            TargetKind::Handoff => "handoff",
        }
    }

    pub fn parse(s: &str) -> Result<TargetKind, SlaError> {
        let t = s.trim();
        TargetKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| SlaError::TargetKind(preview(s, 30)))
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One running target on a case. `due_ms` moves later when the target is resumed after a
/// pause; `business_ms` is the target's length in working time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub kind: TargetKind,
    pub started_ms: i64,
    pub business_ms: i64,
    pub due_ms: i64,
    pub paused_since_ms: Option<i64>,
    pub met_ms: Option<i64>,
}

/// Where a target stands. Remaining and overdue times are working time, like the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TargetStatus {
    Running {
        remaining_ms: i64,
    },
    /// At least 75% of the working time is used.
    AtRisk {
        remaining_ms: i64,
    },
    Breached {
        overdue_ms: i64,
    },
    Paused,
    Met {
        on_time: bool,
    },
}

impl Target {
    /// Starts a target of `minutes` working minutes (clamped to 1..=[`MAX_TARGET_MINUTES`];
    /// policies are checked on save).
    pub fn start(cal: &Calendar, kind: TargetKind, started_ms: i64, minutes: u32) -> Target {
        let business_ms = i64::from(minutes.clamp(1, MAX_TARGET_MINUTES)) * MINUTE_MS;
        Target {
            kind,
            started_ms,
            business_ms,
            due_ms: cal.add_business(started_ms, business_ms),
            paused_since_ms: None,
            met_ms: None,
        }
    }

    /// Stops the clock (e.g. waiting on the customer). No-op when paused or met.
    pub fn pause(&mut self, at_ms: i64) {
        if self.paused_since_ms.is_none() && self.met_ms.is_none() {
            self.paused_since_ms = Some(at_ms);
        }
    }

    /// Restarts the clock: the working time left when paused is counted again from `at_ms`.
    /// A target already overdue when paused keeps its due time. No-op unless paused.
    pub fn resume(&mut self, cal: &Calendar, at_ms: i64) {
        let Some(paused) = self.paused_since_ms.take() else {
            return;
        };
        if paused < self.due_ms {
            let remaining = cal.business_between(paused, self.due_ms);
            let due = cal.add_business(at_ms.max(paused), remaining);
            self.due_ms = self.due_ms.max(due);
        }
    }

    /// Records the target as met (first call wins). Met while paused before the due time
    /// counts as on time: the pause ends and the due time becomes at least `at_ms`.
    pub fn meet(&mut self, at_ms: i64) {
        if self.met_ms.is_some() {
            return;
        }
        if let Some(paused) = self.paused_since_ms.take()
            && paused < self.due_ms
        {
            self.due_ms = self.due_ms.max(at_ms);
        }
        self.met_ms = Some(at_ms);
    }

    /// Missed: met after the due time, or running (not paused) at or past it.
    pub fn is_breached(&self, now_ms: i64) -> bool {
        match (self.met_ms, self.paused_since_ms) {
            (Some(met), _) => met > self.due_ms,
            (None, Some(_)) => false,
            (None, None) => now_ms >= self.due_ms,
        }
    }

    pub fn status(&self, cal: &Calendar, now_ms: i64) -> TargetStatus {
        if let Some(met) = self.met_ms {
            return TargetStatus::Met {
                on_time: met <= self.due_ms,
            };
        }
        if self.paused_since_ms.is_some() {
            return TargetStatus::Paused;
        }
        if now_ms >= self.due_ms {
            return TargetStatus::Breached {
                overdue_ms: cal.business_between(self.due_ms, now_ms),
            };
        }
        let remaining_ms = cal.business_between(now_ms, self.due_ms);
        if i128::from(remaining_ms) * 4 <= i128::from(self.business_ms) {
            TargetStatus::AtRisk { remaining_ms }
        } else {
            TargetStatus::Running { remaining_ms }
        }
    }

    /// The instant at which `percent`% of the working time is used: 100 is `due_ms`, 150 is
    /// half the target's length in working time past it. Below 100 it is measured back from
    /// the due time, so pauses shift it like the due time.
    pub fn instant_at_percent(&self, cal: &Calendar, percent: u32) -> i64 {
        let part = |p: u32| {
            let v = i128::from(self.business_ms) * i128::from(p) / 100;
            i64::try_from(v).unwrap_or(i64::MAX)
        };
        match percent.cmp(&100) {
            std::cmp::Ordering::Equal => self.due_ms,
            std::cmp::Ordering::Greater => cal.add_business(self.due_ms, part(percent - 100)),
            std::cmp::Ordering::Less => {
                let total = cal.business_between(self.started_ms, self.due_ms);
                cal.add_business(self.started_ms, total - part(100 - percent))
            }
        }
    }
}

/// What an escalation does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EscalationAction {
    NotifyOwner,
    NotifyTeamManager,
    /// Both `None` means "the case team's manager".
    Reassign {
        to_user: Option<i64>,
        to_team: Option<i64>,
    },
    RaisePriority,
}

/// Fires once per target when `percent`% of the target's working time is used.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct EscalationRule {
    pub id: i64,
    pub target: TargetKind,
    pub percent: u32,
    pub level: u8,
    pub actions: Vec<EscalationAction>,
}

impl EscalationRule {
    pub fn validate(&self) -> Result<(), SlaError> {
        if !(1..=MAX_PERCENT).contains(&self.percent) {
            return Err(SlaError::Percent(self.percent));
        }
        if !(1..=9).contains(&self.level) {
            return Err(SlaError::Level(self.level));
        }
        if !(1..=8).contains(&self.actions.len()) {
            return Err(SlaError::Actions);
        }
        Ok(())
    }
}

/// For every target kind: at 75% notify the owner (level 1); at 100% notify the team
/// manager and raise the priority (level 2); at 150% reassign to the team's manager
/// (level 3). Ids are 1..=12, kind by kind.
pub fn default_rules() -> Vec<EscalationRule> {
    use EscalationAction::*;
    let steps = || {
        let reassign = Reassign {
            to_user: None,
            to_team: None,
        };
        [
            (75, vec![NotifyOwner]),
            (100, vec![NotifyTeamManager, RaisePriority]),
            (150, vec![reassign]),
        ]
    };
    let mut rules = Vec::new();
    for target in TargetKind::ALL {
        for (level, (percent, actions)) in (1u8..).zip(steps()) {
            let id = rules.len() as i64 + 1;
            rules.push(EscalationRule {
                id,
                target,
                percent,
                level,
                actions,
            });
        }
    }
    rules
}

/// The rules for this target's kind that are not yet fired, in (level, percent, id) order.
fn pending<'a>(
    rules: &'a [EscalationRule],
    target: &Target,
    fired: &BTreeSet<i64>,
) -> Vec<&'a EscalationRule> {
    if target.met_ms.is_some() || target.paused_since_ms.is_some() {
        return Vec::new();
    }
    let mut out: Vec<&EscalationRule> = rules
        .iter()
        .filter(|r| r.target == target.kind && !fired.contains(&r.id))
        .collect();
    out.sort_by_key(|r| (r.level, r.percent, r.id));
    out
}

/// The rules to fire now: this target's kind, instant passed, not yet fired, target neither
/// met nor paused; in level order.
pub fn due_escalations<'a>(
    rules: &'a [EscalationRule],
    target: &Target,
    cal: &Calendar,
    now_ms: i64,
    fired: &BTreeSet<i64>,
) -> Vec<&'a EscalationRule> {
    pending(rules, target, fired)
        .into_iter()
        .filter(|r| target.instant_at_percent(cal, r.percent) <= now_ms)
        .collect()
}

/// The earliest instant a not-yet-fired rule becomes due (possibly already past), or `None`
/// when nothing is left to fire (or the target is met or paused).
pub fn next_escalation_at(
    rules: &[EscalationRule],
    target: &Target,
    cal: &Calendar,
    fired: &BTreeSet<i64>,
) -> Option<i64> {
    pending(rules, target, fired)
        .into_iter()
        .map(|r| target.instant_at_percent(cal, r.percent))
        .min()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use TargetKind::*;
    use TargetStatus::*;

    const H: i64 = 3_600_000;
    const M: i64 = MINUTE_MS;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    /// `"2026-03-06 17:00"` in `tz` (a skipped time resolves compatibly).
    fn at(tz: &TimeZone, local: &str) -> i64 {
        let dt: jiff::civil::DateTime = local.parse().unwrap();
        tz.to_timestamp(dt).unwrap().as_millisecond()
    }

    fn local(cal: &Calendar, ms: i64) -> String {
        let ts = Timestamp::from_millisecond(ms).unwrap();
        ts.to_zoned(cal.tz.clone())
            .strftime("%a %Y-%m-%d %H:%M")
            .to_string()
    }

    fn spec(hours: &[(&str, &[&str])], holidays: &[&str]) -> CalendarSpec {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        CalendarSpec {
            time_zone: "UTC".into(),
            hours: hours
                .iter()
                .map(|(d, v)| (d.to_string(), strings(v)))
                .collect(),
            holidays: strings(holidays),
        }
    }

    fn office(name: &str, holidays: &[&str]) -> Calendar {
        let mut s = CalendarSpec::office(name);
        s.holidays = holidays.iter().map(|h| h.to_string()).collect();
        Calendar::new(tz(name), &s).unwrap()
    }

    fn custom(name: &str, hours: &[(&str, &[&str])], holidays: &[&str]) -> Calendar {
        Calendar::new(tz(name), &spec(hours, holidays)).unwrap()
    }

    /// Day by day, no week skipping and no shortcuts: the reference for `add_business`.
    fn naive_add(cal: &Calendar, start: i64, need: i64) -> i64 {
        let mut day = cal.local_date(start).unwrap().yesterday().unwrap();
        let (mut cursor, mut left) = (start, need);
        loop {
            if !cal.holidays.contains(&day) {
                for &(a, b) in &cal.week[weekday_index(day.weekday())] {
                    let s = cal.instant(day, a).unwrap().max(cursor);
                    let e = cal.instant(day, b).unwrap();
                    if e > s && e - s >= left {
                        return s + left;
                    } else if e > s {
                        (left, cursor) = (left - (e - s), e);
                    }
                }
            }
            day = day.tomorrow().unwrap();
        }
    }

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, bound: i64) -> i64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005);
            self.0 = self.0.wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % bound as u64) as i64
        }
    }

    #[test]
    fn friday_complaint_in_shanghai_is_due_monday_noon() {
        let cal = office("Asia/Shanghai", &[]);
        let friday = at(&cal.tz, "2026-03-06 17:00");
        let t = Target::start(&cal, FirstResponse, friday, 240);
        assert_eq!(local(&cal, t.due_ms), "Mon 2026-03-09 12:00");
        assert_eq!(cal.business_between(friday, t.due_ms), 4 * H);
        let holiday = office("Asia/Shanghai", &["2026-03-09"]);
        let t = Target::start(&holiday, FirstResponse, friday, 240);
        assert_eq!(local(&cal, t.due_ms), "Tue 2026-03-10 12:00");
    }

    #[test]
    fn start_outside_hours_begins_at_next_opening() {
        let cal = office("Asia/Shanghai", &[]);
        let add = |s: &str, d: i64| local(&cal, cal.add_business(at(&cal.tz, s), d));
        assert_eq!(add("2026-03-07 22:15", 30 * M), "Mon 2026-03-09 09:30");
        assert_eq!(add("2026-03-10 06:00", H), "Tue 2026-03-10 10:00");
        // Ending exactly at closing is due at closing, not the next morning.
        assert_eq!(add("2026-03-09 09:00", 9 * H), "Mon 2026-03-09 18:00");
        let mon = at(&cal.tz, "2026-03-09 09:00");
        assert_eq!(cal.add_business(mon, 0), mon);
        assert_eq!(cal.business_between(mon + H, mon), 0);
        assert!(cal.is_open(mon) && cal.is_open(mon + 9 * H - 1));
        assert!(!cal.is_open(mon - 1) && !cal.is_open(mon + 9 * H));
        assert!(!cal.is_open(at(&cal.tz, "2026-03-07 12:00")));
    }

    #[test]
    fn round_the_clock_is_wall_time_even_across_dst() {
        for name in ["Europe/Berlin", "America/New_York", "Asia/Shanghai"] {
            let always = Calendar::always(tz(name));
            // The same hours, but a holiday long ago forces the day-by-day walk.
            let all: Vec<(&str, &[&str])> = DAY_KEYS.map(|d| (d, &["00:00-24:00"][..])).to_vec();
            let walked = custom(name, &all, &["1999-01-01"]);
            let mut rng = Lcg(7);
            for _ in 0..200 {
                let a = at(&always.tz, "2026-01-01 00:00") + rng.next(365 * DAY_MS);
                let d = rng.next(90 * DAY_MS);
                assert_eq!(always.add_business(a, d), a + d);
                assert_eq!(walked.add_business(a, d), a + d, "{name} {a} {d}");
                assert_eq!(walked.business_between(a, a + d), d);
                assert!(walked.is_open(a));
            }
        }
    }

    #[test]
    fn berlin_dst_days_count_real_time() {
        let cal = custom("Europe/Berlin", &[("sun", &["01:00-05:00"])], &[]);
        let b = |s: &str| at(&cal.tz, s);
        // 29 March 2026: 02:00 CET becomes 03:00 CEST, so 01:00-05:00 holds three hours.
        let (s, e) = (b("2026-03-29 01:00"), b("2026-03-29 05:00"));
        assert_eq!(cal.business_between(s - DAY_MS, e + DAY_MS), 3 * H);
        assert_eq!(cal.add_business(s, 3 * H), e);
        assert_eq!(
            local(&cal, cal.add_business(s, 90 * M)),
            "Sun 2026-03-29 03:30"
        );
        // 25 October 2026: 03:00 CEST becomes 02:00 CET, so it holds five hours.
        let (s, e) = (b("2026-10-25 01:00"), b("2026-10-25 05:00"));
        assert_eq!((e - s, cal.business_between(s, e)), (5 * H, 5 * H));
        assert_eq!(cal.add_business(s, 5 * H), e);
        assert_eq!(cal.add_business(s, 5 * H + 1), b("2026-11-01 01:00") + 1);
        // An opening inside the skipped hour starts when the clocks allow: 02:30 is 03:30.
        let gap = custom("Europe/Berlin", &[("sun", &["02:30-04:00"])], &[]);
        let day = b("2026-03-29 00:00");
        assert_eq!(gap.business_between(day, day + DAY_MS), 30 * M);
        assert_eq!(
            local(&gap, gap.add_business(day, 10 * M)),
            "Sun 2026-03-29 03:40"
        );
        // Office hours over the DST weekends keep their local times.
        let cal = office("Europe/Berlin", &[]);
        let add = |s: &str, d: i64| local(&cal, cal.add_business(b(s), d));
        assert_eq!(add("2026-03-23 09:00", 46 * H), "Mon 2026-03-30 10:00");
        assert_eq!(add("2026-10-23 17:00", 2 * H), "Mon 2026-10-26 10:00");
    }

    #[test]
    fn five_hundred_business_hours_skip_whole_weeks() {
        let cal = office("Europe/Berlin", &[]);
        let start = at(&cal.tz, "2026-02-02 09:00");
        // 500 h = 55 nine-hour days (11 weeks) + 5 h, across the March DST change.
        let due = cal.add_business(start, 500 * H);
        assert_eq!(local(&cal, due), "Mon 2026-04-20 14:00");
        assert_eq!(due, naive_add(&cal, start, 500 * H));
        assert_eq!(cal.business_between(start, due), 500 * H);
        // A year-long target: 8,760 working hours, nearly four years of office weeks.
        let sh = office("Asia/Shanghai", &[]);
        let t = Target::start(&sh, Resolution, at(&sh.tz, "2026-01-05 09:00"), 525_600);
        assert_eq!(sh.business_between(t.started_ms, t.due_ms), t.business_ms);
        assert_eq!(t.due_ms, naive_add(&sh, t.started_ms, t.business_ms));
    }

    #[test]
    fn business_between_inverts_add_business() {
        let odd: &[(&str, &[&str])] = &[
            ("sun", &["00:00-03:30", "22:00-24:00"]),
            ("mon", &["00:00-02:00", "08:00-12:00", "13:00-17:30"]),
            ("sat", &["01:30-02:30"]),
        ];
        let cals = [
            office("Europe/Berlin", &["2026-04-03", "2026-04-06", "2026-12-25"]),
            office("America/New_York", &["2026-07-03", "2026-11-26"]),
            custom("America/New_York", odd, &["2026-03-09"]),
        ];
        let mut rng = Lcg(42);
        for cal in &cals {
            let base = at(&cal.tz, "2025-10-01 00:00");
            for _ in 0..300 {
                let a = base + rng.next(500 * DAY_MS);
                let span = if rng.next(4) == 0 { 2_000 * H } else { 30 * H };
                let d = 1 + rng.next(span);
                let due = cal.add_business(a, d);
                assert!(due > a && cal.is_open(due - 1));
                assert_eq!(cal.business_between(a, due), d, "from {a} add {d}");
                assert_eq!(due, naive_add(cal, a, d));
            }
        }
    }

    #[test]
    fn impossible_calendars_give_up_with_wall_time() {
        let mut s = spec(&[("mon", &["09:00-10:00"])], &[]);
        let first = jiff::civil::date(2026, 1, 5);
        s.holidays = (0..MAX_HOLIDAYS as i64)
            .map(|i| {
                first
                    .checked_add(Span::new().days(7 * i))
                    .unwrap()
                    .to_string()
            })
            .collect();
        let cal = Calendar::new(TimeZone::UTC, &s).unwrap();
        let start = at(&cal.tz, "2026-01-01 00:00");
        assert_eq!(cal.add_business(start, H), start + H);
        assert_eq!(cal.business_between(start, start + 365 * DAY_MS), 0);
    }

    #[test]
    fn calendar_specs_are_checked() {
        let new = |h: &[(&str, &[&str])], hol: &[&str]| Calendar::new(TimeZone::UTC, &spec(h, hol));
        let ok = new(&[("Monday", &[" 9:00-12:00", "13:00-24:00"])], &[]).unwrap();
        assert_eq!(ok.weekly_minutes(), 14 * 60);
        for bad in [
            "18:00-09:00",
            "09:00-09:00",
            "9-18",
            "09:00-24:01",
            "24:00-24:00",
            "9:60-10:00",
        ] {
            let err = new(&[("mon", &[bad])], &[]).unwrap_err();
            assert!(matches!(err, SlaError::Hours { .. }), "{bad}");
        }
        let msg = new(&[("mon", &["18:00-09:00"])], &[])
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("'18:00-09:00' on mon") && msg.contains("'09:00-18:00'"));
        let overlap = new(&[("tue", &["09:00-12:00", "11:00-13:00"])], &[]).unwrap_err();
        assert!(matches!(overlap, SlaError::Overlap { .. }));
        // Touching intervals are fine; "mon" and "monday" merge and are checked together.
        assert!(new(&[("tue", &["09:00-12:00", "12:00-13:00"])], &[]).is_ok());
        let both = new(
            &[("mon", &["09:00-12:00"]), ("monday", &["10:00-11:00"])],
            &[],
        );
        assert!(matches!(both, Err(SlaError::Overlap { .. })));
        let funday = new(&[("funday", &["09:00-12:00"])], &[]);
        assert_eq!(funday, Err(SlaError::Weekday("'funday'".into())));
        assert_eq!(new(&[("mon", &[])], &[]), Err(SlaError::EmptyCalendar));
        assert_eq!(new(&[], &[]), Err(SlaError::EmptyCalendar));
        for bad in ["2026-02-30", "25/12/2026", "2026-1-5"] {
            let err = new(&[("mon", &["09:00-10:00"])], &[bad]).unwrap_err();
            assert!(matches!(err, SlaError::Holiday(_)), "{bad}");
        }
        let office = CalendarSpec::office("Asia/Shanghai");
        assert_eq!(office.time_zone, "Asia/Shanghai");
        assert_eq!(
            Calendar::new(TimeZone::UTC, &office)
                .unwrap()
                .weekly_minutes(),
            45 * 60
        );
        assert_eq!(check_target_minutes(0), Err(SlaError::TargetMinutes(0)));
        assert_eq!(
            check_target_minutes(525_601),
            Err(SlaError::TargetMinutes(525_601))
        );
        assert_eq!(check_target_minutes(60), Ok(60));
    }

    #[test]
    fn pause_and_resume_move_due_by_paused_working_time() {
        let cal = office("Asia/Shanghai", &[]);
        let sh = |s: &str| at(&cal.tz, s);
        let mon9 = sh("2026-03-09 09:00");
        let mut t = Target::start(&cal, Resolution, mon9, 240);
        assert_eq!(local(&cal, t.due_ms), "Mon 2026-03-09 13:00");
        t.pause(mon9 + H);
        t.pause(mon9 + 2 * H); // already paused: ignored
        assert_eq!(t.paused_since_ms, Some(mon9 + H));
        assert_eq!(t.status(&cal, mon9 + 5 * H), Paused);
        assert!(!t.is_breached(mon9 + 5 * H));
        // Paused 9 working hours (Mon 10-18, Tue 9-10): three hours left from Tue 10:00.
        t.resume(&cal, sh("2026-03-10 10:00"));
        assert_eq!(
            (local(&cal, t.due_ms), t.paused_since_ms),
            ("Tue 2026-03-10 13:00".into(), None)
        );
        t.resume(&cal, sh("2026-03-11 10:00")); // not paused: ignored
        assert_eq!(local(&cal, t.due_ms), "Tue 2026-03-10 13:00");
        // Paused over a weekend: only the Friday hour counts.
        let mut t = Target::start(&cal, FirstResponse, sh("2026-03-13 16:00"), 120);
        assert_eq!(local(&cal, t.due_ms), "Fri 2026-03-13 18:00");
        t.pause(sh("2026-03-13 17:00"));
        t.resume(&cal, sh("2026-03-14 12:00"));
        assert_eq!(local(&cal, t.due_ms), "Mon 2026-03-16 10:00");
        // Overdue when paused: the due time stays, and it is breached again on resume.
        let mut t = Target::start(&cal, FirstResponse, mon9, 60);
        let due = t.due_ms;
        t.pause(due + H);
        t.resume(&cal, due + DAY_MS);
        assert_eq!(t.due_ms, due);
        assert!(t.is_breached(due + DAY_MS));
    }

    #[test]
    fn meeting_and_status() {
        let cal = office("Asia/Shanghai", &[]);
        let mon9 = at(&cal.tz, "2026-03-09 09:00");
        let tue10 = at(&cal.tz, "2026-03-10 10:00");
        let t = Target::start(&cal, FirstResponse, mon9, 240);
        assert_eq!(
            t.status(&cal, mon9 + H),
            Running {
                remaining_ms: 3 * H
            }
        );
        assert_eq!(t.status(&cal, mon9 + 3 * H), AtRisk { remaining_ms: H });
        assert_eq!(t.status(&cal, mon9 + 4 * H), Breached { overdue_ms: 0 });
        // Overdue is working time too: Tuesday 10:00 is 6 h after Monday 13:00.
        assert_eq!(t.status(&cal, tue10), Breached { overdue_ms: 6 * H });
        assert!(t.is_breached(t.due_ms) && !t.is_breached(t.due_ms - 1));

        let mut late = t.clone();
        late.meet(tue10);
        late.meet(mon9 + H); // the first meet wins
        assert_eq!(late.status(&cal, tue10), Met { on_time: false });
        assert!(late.is_breached(tue10));
        late.pause(tue10 + H);
        assert_eq!(late.paused_since_ms, None);

        let mut ok = t.clone();
        ok.meet(t.due_ms);
        assert_eq!(ok.status(&cal, tue10), Met { on_time: true });
        assert!(!ok.is_breached(tue10));
        // Met while paused before the due: on time, though the wall clock passed the due.
        let mut waiting = t.clone();
        waiting.pause(mon9 + H);
        waiting.meet(tue10);
        assert_eq!(waiting.paused_since_ms, None);
        assert_eq!(waiting.status(&cal, tue10), Met { on_time: true });
        assert!(!waiting.is_breached(tue10 + DAY_MS));
    }

    #[test]
    fn instants_at_percent_follow_working_time_and_pauses() {
        let cal = office("Asia/Shanghai", &[]);
        let mut t = Target::start(&cal, Resolution, at(&cal.tz, "2026-03-06 14:00"), 480);
        let pct = |t: &Target, p: u32| local(&cal, t.instant_at_percent(&cal, p));
        assert_eq!(t.instant_at_percent(&cal, 100), t.due_ms);
        assert_eq!(pct(&t, 100), "Mon 2026-03-09 13:00");
        assert_eq!(pct(&t, 50), "Fri 2026-03-06 18:00");
        assert_eq!(pct(&t, 75), "Mon 2026-03-09 11:00");
        assert_eq!(pct(&t, 150), "Mon 2026-03-09 17:00");
        assert_eq!(pct(&t, 200), "Tue 2026-03-10 12:00");
        // Paused Fri 15:00 to Mon 10:00 (4 working hours): everything moves 4 hours later.
        t.pause(at(&cal.tz, "2026-03-06 15:00"));
        t.resume(&cal, at(&cal.tz, "2026-03-09 10:00"));
        assert_eq!(pct(&t, 100), "Mon 2026-03-09 17:00");
        assert_eq!(pct(&t, 75), "Mon 2026-03-09 15:00");
        assert_eq!(pct(&t, 25), "Mon 2026-03-09 11:00");
    }

    fn policy(
        id: i64,
        tier: Option<&str>,
        priority: Option<&str>,
        channel: Option<&str>,
    ) -> Policy {
        Policy {
            id,
            name: format!("p{id}"),
            tier: tier.map(Into::into),
            priority: priority.map(Into::into),
            channel: channel.map(Into::into),
            first_response_mins: Some(60),
            next_response_mins: None,
            resolution_mins: Some(1440),
        }
    }

    #[test]
    fn the_most_specific_policy_wins() {
        let ps = vec![
            policy(9, None, None, None),
            policy(3, None, None, None),
            policy(4, None, None, Some("email")),
            policy(5, None, Some("urgent"), None),
            policy(6, None, Some("urgent"), Some("email")),
            policy(7, Some("gold"), None, None),
            policy(8, Some("gold"), Some("urgent"), None),
        ];
        let pick = |tier, pr, ch| select_policy(&ps, tier, pr, ch).map(|p| p.id);
        assert_eq!(pick(None, "normal", "phone"), Some(3)); // tie → lowest id
        assert_eq!(pick(None, "normal", "email"), Some(4));
        assert_eq!(pick(None, "urgent", "phone"), Some(5));
        assert_eq!(pick(None, "urgent", "email"), Some(6));
        assert_eq!(pick(Some("gold"), "normal", "email"), Some(7)); // tier beats both others
        assert_eq!(pick(Some("gold"), "urgent", "email"), Some(8));
        assert_eq!(pick(Some("silver"), "urgent", "email"), Some(6));
        assert_eq!(select_policy(&ps[2..3], None, "low", "phone"), None);
        assert_eq!(select_policy(&[], None, "low", "phone"), None);
    }

    #[test]
    fn policies_rules_and_kinds_validate() {
        let p = policy(1, Some("gold"), None, None);
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(
            (p.minutes_for(Resolution), p.minutes_for(Handoff)),
            (Some(1440), None)
        );
        let bad = |f: fn(&mut Policy)| {
            let mut q = p.clone();
            f(&mut q);
            q.validate().unwrap_err()
        };
        assert_eq!(bad(|q| q.name = " ".into()), SlaError::PolicyName);
        assert_eq!(
            bad(|q| q.channel = Some("".into())),
            SlaError::PolicyKey("channel")
        );
        assert_eq!(
            bad(|q| q.next_response_mins = Some(0)),
            SlaError::TargetMinutes(0)
        );
        let huge = bad(|q| q.resolution_mins = Some(600_000));
        assert_eq!(huge, SlaError::TargetMinutes(600_000));
        let empty = bad(|q| (q.first_response_mins, q.resolution_mins) = (None, None));
        assert_eq!(empty, SlaError::NoTargets);

        let rules = default_rules();
        assert_eq!(rules.len(), 12);
        assert!(rules.iter().all(|r| r.validate().is_ok()));
        let mut r = rules[0].clone();
        r.percent = 201;
        assert_eq!(r.validate(), Err(SlaError::Percent(201)));
        (r.percent, r.level) = (90, 0);
        assert_eq!(r.validate(), Err(SlaError::Level(0)));
        r.level = 1;
        r.actions.clear();
        assert_eq!(r.validate(), Err(SlaError::Actions));

        for k in TargetKind::ALL {
            assert_eq!(TargetKind::parse(k.as_str()), Ok(k));
        }
        assert_eq!(TargetKind::parse(" Resolution "), Ok(Resolution));
        assert!(TargetKind::parse("sla").is_err());
    }

    #[test]
    fn escalations_fire_in_order_once_and_not_when_paused_or_met() {
        let cal = Calendar::always(TimeZone::UTC);
        let rules = default_rules();
        let t0 = at(&cal.tz, "2026-03-09 09:00");
        let t = Target::start(&cal, FirstResponse, t0, 60);
        let (none, one, all) = (
            BTreeSet::new(),
            BTreeSet::from([1]),
            BTreeSet::from([1, 2, 3]),
        );
        let ids = |rules: &[EscalationRule], t: &Target, now: i64, fired: &BTreeSet<i64>| {
            let due = due_escalations(rules, t, &cal, now, fired);
            due.iter().map(|r| r.id).collect::<Vec<i64>>()
        };
        assert_eq!(ids(&rules, &t, t0 + 45 * M - 1, &none), []);
        assert_eq!(ids(&rules, &t, t0 + 45 * M, &none), [1]);
        assert_eq!(ids(&rules, &t, t0 + 2 * H, &none), [1, 2, 3]);
        assert_eq!(ids(&rules, &t, t0 + 60 * M, &one), [2]);
        assert_eq!(ids(&rules, &t, t0 + 3 * H, &all), []);
        assert_eq!(
            next_escalation_at(&rules, &t, &cal, &none),
            Some(t0 + 45 * M)
        );
        assert_eq!(
            next_escalation_at(&rules, &t, &cal, &one),
            Some(t0 + 60 * M)
        );
        assert_eq!(next_escalation_at(&rules, &t, &cal, &all), None);
        // Only this kind's rules apply.
        let r = Target::start(&cal, Resolution, t0, 60);
        assert_eq!(ids(&rules, &r, t0 + 2 * H, &none), [7, 8, 9]);

        let mut paused = t.clone();
        paused.pause(t0 + 10 * M);
        assert_eq!(ids(&rules, &paused, t0 + 2 * H, &none), []);
        assert_eq!(next_escalation_at(&rules, &paused, &cal, &none), None);
        paused.resume(&cal, t0 + 40 * M);
        assert_eq!(
            next_escalation_at(&rules, &paused, &cal, &none),
            Some(t0 + 75 * M)
        );
        let mut met = t.clone();
        met.meet(t0 + 5 * M);
        assert_eq!(ids(&rules, &met, t0 + 2 * H, &none), []);
        assert_eq!(next_escalation_at(&rules, &met, &cal, &none), None);

        // Custom rules come back in level order, whatever order they are stored in.
        let rule = |id, percent, level| EscalationRule {
            id,
            target: FirstResponse,
            percent,
            level,
            actions: vec![EscalationAction::NotifyOwner],
        };
        let custom = [rule(20, 100, 2), rule(21, 50, 1), rule(22, 10, 1)];
        assert_eq!(ids(&custom, &t, t0 + H, &none), [22, 21, 20]);
    }

    #[test]
    fn escalation_instants_use_business_hours() {
        let cal = office("Asia/Shanghai", &[]);
        let t = Target::start(&cal, FirstResponse, at(&cal.tz, "2026-03-06 17:00"), 240);
        let rules = default_rules();
        let next = next_escalation_at(&rules, &t, &cal, &BTreeSet::new()).unwrap();
        assert_eq!(local(&cal, next), "Mon 2026-03-09 11:00");
        let saturday = at(&cal.tz, "2026-03-07 12:00");
        assert!(due_escalations(&rules, &t, &cal, saturday, &BTreeSet::new()).is_empty());
        let last = next_escalation_at(&rules, &t, &cal, &BTreeSet::from([1, 2])).unwrap();
        assert_eq!(local(&cal, last), "Mon 2026-03-09 14:00");
    }
}
