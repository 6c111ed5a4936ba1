//! Follow-ups and check-ins (issue 7 item 3, principles P3/P4): work an agent owes a customer
//! after the case is over — a call or message some days after a case is solved (by the
//! customer's tier and the case's kind), and periodic check-ins per tier (Platinum every 30
//! days). Each task, once done, records its outcome on the customer's timeline.
//!
//! Rules are stored as JSON definitions (kinds `followup` and `checkin`) and read in
//! `(position, id)` order; the first follow-up rule that matches a solved case decides. A
//! tenant without rules of its own gets [`default_followups`] and [`default_check_ins`].
//!
//! ```json
//! {"name": "Complaint, top tiers", "kinds": ["complaint"], "tiers": ["Platinum", "Gold"],
//!  "days": 3, "channel": "call"}
//! {"name": "Platinum check-in", "tier": "Platinum", "every_days": 30, "channel": "call"}
//! ```

use crate::case::{CaseError, Kind, keywords};
use crate::customer::preview;
use serde::{Deserialize, Serialize};

/// A day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
/// Longest wait before a follow-up or between check-ins, in days.
pub const MAX_DAYS: u32 = 3_650;
/// Longest rule name and tier name, in characters.
pub const NAME_MAX: usize = 100;
/// Longest outcome note, in characters.
pub const NOTE_MAX: usize = 2_000;

/// Why a follow-up rule or an outcome was refused. The message says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FollowUpError {
    #[error("a rule name must be 1-{NAME_MAX} characters (got {0})")]
    Name(usize),
    #[error("days must be 1-{MAX_DAYS} (got {0})")]
    Days(u32),
    #[error("a tier name must be 1-{NAME_MAX} characters (got {0:?})")]
    Tier(String),
    #[error(
        "{0} is not an outcome (use reached, no_answer, left_message, resolved_issue, new_case \
         or declined)"
    )]
    Result(String),
    #[error("{0} is not a follow-up channel (use call, message, email or visit)")]
    Channel(String),
    #[error("the note must be at most {NOTE_MAX} characters (got {0})")]
    Note(usize),
    #[error(transparent)]
    Case(#[from] CaseError),
}

keywords! {
    /// How the agent reaches out.
    pub enum Reach refused as FollowUpError::Channel {
        Call = "call",
        Message = "message",
        Email = "email",
        Visit = "visit",
    }
}

keywords! {
    /// What came of a follow-up or check-in.
    pub enum TaskResult refused as FollowUpError::Result {
        /// Spoke with the customer; all is well.
        Reached = "reached",
        NoAnswer = "no_answer",
        LeftMessage = "left_message",
        /// The customer still had a problem and it was settled on the spot.
        ResolvedIssue = "resolved_issue",
        /// The customer raised something that needs a case of its own.
        NewCase = "new_case",
        /// The customer did not want to be contacted.
        Declined = "declined",
    }
}

/// A follow-up after a solved case: `days` after the solve, when the case's kind is among
/// `kinds` and the customer's tier among `tiers` (an empty list matches any; a customer
/// without a tier matches only an empty `tiers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpRule {
    #[serde(default)]
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub tiers: Vec<String>,
    pub days: u32,
    pub channel: Reach,
}

/// A periodic check-in for every customer of `tier`, once per `every_days`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInRule {
    #[serde(default)]
    pub id: i64,
    pub name: String,
    pub tier: String,
    pub every_days: u32,
    pub channel: Reach,
}

fn check_name(n: &str) -> Result<(), FollowUpError> {
    let len = n.trim().chars().count();
    if len == 0 || len > NAME_MAX {
        return Err(FollowUpError::Name(len));
    }
    Ok(())
}

fn check_days(d: u32) -> Result<(), FollowUpError> {
    if !(1..=MAX_DAYS).contains(&d) {
        return Err(FollowUpError::Days(d));
    }
    Ok(())
}

fn check_tier(t: &str) -> Result<(), FollowUpError> {
    let len = t.trim().chars().count();
    if len == 0 || len > NAME_MAX {
        return Err(FollowUpError::Tier(preview(t, 40)));
    }
    Ok(())
}

impl FollowUpRule {
    /// Name 1-100 characters, 1-3650 days, kinds in their normal form, tiers not blank.
    pub fn validate(&self) -> Result<(), FollowUpError> {
        check_name(&self.name)?;
        check_days(self.days)?;
        for k in &self.kinds {
            let normal = Kind::parse(k)?;
            if normal.as_str() != k {
                return Err(CaseError::Kind(preview(k, 40)).into());
            }
        }
        self.tiers.iter().try_for_each(|t| check_tier(t))
    }

    /// Whether this rule applies to a solved case of `kind` for a customer of `tier`.
    pub fn matches(&self, kind: &str, tier: Option<&str>) -> bool {
        let kind_ok = self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind);
        let tier_ok =
            self.tiers.is_empty() || tier.is_some_and(|t| self.tiers.iter().any(|x| x == t));
        kind_ok && tier_ok
    }
}

impl CheckInRule {
    /// Name 1-100 characters, a tier, 1-3650 days.
    pub fn validate(&self) -> Result<(), FollowUpError> {
        check_name(&self.name)?;
        check_tier(&self.tier)?;
        check_days(self.every_days)
    }

    /// The period `now_ms` falls in: periods are `every_days` long, counted from the epoch,
    /// so every node and every run agrees on them.
    pub fn period(&self, now_ms: i64) -> i64 {
        now_ms.div_euclid(DAY_MS * i64::from(self.every_days.max(1)))
    }
}

/// Complaints: a call 3 days after the solve for Platinum and Gold, 7 days for everyone else.
pub fn default_followups() -> Vec<FollowUpRule> {
    vec![
        FollowUpRule {
            id: -1,
            name: "Complaint follow-up (Platinum, Gold)".into(),
            kinds: vec!["complaint".into()],
            tiers: vec!["Platinum".into(), "Gold".into()],
            days: 3,
            channel: Reach::Call,
        },
        FollowUpRule {
            id: -2,
            name: "Complaint follow-up".into(),
            kinds: vec!["complaint".into()],
            tiers: Vec::new(),
            days: 7,
            channel: Reach::Call,
        },
    ]
}

/// Platinum every 30 days, Gold every 90.
pub fn default_check_ins() -> Vec<CheckInRule> {
    vec![
        CheckInRule {
            id: -1,
            name: "Platinum check-in".into(),
            tier: "Platinum".into(),
            every_days: 30,
            channel: Reach::Call,
        },
        CheckInRule {
            id: -2,
            name: "Gold check-in".into(),
            tier: "Gold".into(),
            every_days: 90,
            channel: Reach::Call,
        },
    ]
}

/// The follow-up a solved case gets, if any: the first rule (in the given order) that
/// matches. Spam and merged cases get none; the caller says which they are.
pub fn followup_for<'a>(
    rules: &'a [FollowUpRule],
    kind: &str,
    tier: Option<&str>,
    spam_or_merged: bool,
) -> Option<&'a FollowUpRule> {
    if spam_or_merged {
        return None;
    }
    rules.iter().find(|r| r.matches(kind, tier))
}

/// When a follow-up `days` after `solved_ms` is due.
pub fn due_after(solved_ms: i64, days: u32) -> i64 {
    solved_ms.saturating_add(i64::from(days) * DAY_MS)
}

/// An outcome as recorded: the result and an optional note (at most 2,000 characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub result: TaskResult,
    pub note: String,
}

impl Outcome {
    /// Parses a result keyword and a note (trimmed).
    pub fn new(result: &str, note: &str) -> Result<Outcome, FollowUpError> {
        let result = TaskResult::parse(result)?;
        let note = note.trim();
        let n = note.chars().count();
        if n > NOTE_MAX {
            return Err(FollowUpError::Note(n));
        }
        Ok(Outcome {
            result,
            note: note.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pick_by_tier_and_kind() {
        let r = default_followups();
        assert_eq!(
            followup_for(&r, "complaint", Some("Platinum"), false).map(|r| r.days),
            Some(3)
        );
        assert_eq!(
            followup_for(&r, "complaint", Some("Gold"), false).map(|r| r.days),
            Some(3)
        );
        assert_eq!(
            followup_for(&r, "complaint", Some("Bronze"), false).map(|r| r.days),
            Some(7)
        );
        assert_eq!(
            followup_for(&r, "complaint", None, false).map(|r| r.days),
            Some(7)
        );
        assert!(followup_for(&r, "question", Some("Platinum"), false).is_none());
        assert!(followup_for(&r, "complaint", Some("Platinum"), true).is_none());
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let mut r = default_followups().remove(0);
        assert!(r.validate().is_ok());
        r.days = 0;
        assert_eq!(r.validate(), Err(FollowUpError::Days(0)));
        r.days = 3;
        r.kinds = vec!["Complaint".into()];
        assert!(r.validate().is_err());
        let mut c = default_check_ins().remove(0);
        assert!(c.validate().is_ok());
        c.tier = " ".into();
        assert!(c.validate().is_err());
    }

    #[test]
    fn periods_are_fixed_windows() {
        let c = default_check_ins().remove(0);
        assert_eq!(c.period(0), 0);
        assert_eq!(c.period(30 * DAY_MS - 1), 0);
        assert_eq!(c.period(30 * DAY_MS), 1);
        assert_eq!(due_after(1_000, 3), 1_000 + 3 * DAY_MS);
    }

    #[test]
    fn outcomes_parse_and_bound_the_note() {
        let o = Outcome::new("No answer", "  rang twice ").unwrap();
        assert_eq!(o.result, TaskResult::NoAnswer);
        assert_eq!(o.note, "rang twice");
        assert!(Outcome::new("maybe", "").is_err());
        assert!(Outcome::new("reached", &"x".repeat(2001)).is_err());
    }
}
