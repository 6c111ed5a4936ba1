//! What a customer is told about their case (issue 7, principles P6/P7): the steps of a case
//! as the customer sees them, which of them a customer is told about by mail (their own
//! choice), and the rules of satisfaction surveys (the 1-5 scale, the comment, who is asked)
//! and of the periodic Net Promoter Score survey (the 0-10 scale, how often, the score).

use crate::case::{Category, Workflow};
use std::collections::BTreeSet;

/// A step of a case as the customer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// We have the request.
    Received,
    /// A named person owns it.
    Assigned,
    /// Another team has it.
    HandedOff,
    /// Being worked on (again).
    InProgress,
    /// We wait for the customer.
    Waiting,
    /// Answered; the customer may still reply.
    Solved,
    /// Final.
    Closed,
    /// We replied.
    Replied,
    /// The customer wrote.
    CustomerWrote,
    /// Joined with another case of theirs.
    Merged,
}

impl Step {
    /// The steps a customer can choose to be told about by mail, in display order.
    pub const CHOOSABLE: [Step; 6] = [
        Step::Received,
        Step::Assigned,
        Step::HandedOff,
        Step::Waiting,
        Step::Solved,
        Step::Replied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Received => "received",
            Step::Assigned => "assigned",
            Step::HandedOff => "handed_off",
            Step::InProgress => "in_progress",
            Step::Waiting => "waiting",
            Step::Solved => "solved",
            Step::Closed => "closed",
            Step::Replied => "replied",
            Step::CustomerWrote => "customer_wrote",
            Step::Merged => "merged",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        [
            Step::Received,
            Step::Assigned,
            Step::HandedOff,
            Step::InProgress,
            Step::Waiting,
            Step::Solved,
            Step::Closed,
            Step::Replied,
            Step::CustomerWrote,
            Step::Merged,
        ]
        .into_iter()
        .find(|x| x.as_str() == s.trim())
    }
}

/// The customer step a customer-visible case event stands for. `status_to` is the status a
/// `status` event moved to; `route` is how a `replied` event reached the customer. `None`:
/// the event is no step (or an unknown kind).
pub fn step_of(
    kind: &str,
    status_to: Option<&str>,
    route: Option<&str>,
    workflow: &Workflow,
) -> Option<Step> {
    match kind {
        "created" => Some(Step::Received),
        "assigned" => Some(Step::Assigned),
        "handed_off" => Some(Step::HandedOff),
        "customer_replied" => Some(Step::CustomerWrote),
        "merged_into" => Some(Step::Merged),
        // A reply that went out by mail told the customer itself.
        "replied" if route == Some("email") => None,
        "replied" => Some(Step::Replied),
        "status" => match workflow.category(status_to?)? {
            Category::New => Some(Step::Received),
            Category::Open | Category::OnHold => Some(Step::InProgress),
            Category::Pending => Some(Step::Waiting),
            Category::Solved => Some(Step::Solved),
            Category::Closed => Some(Step::Closed),
        },
        _ => None,
    }
}

/// The steps a customer wants to be told about (their preference; every choosable step when
/// they never said).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyChoice(pub BTreeSet<Step>);

impl Default for NotifyChoice {
    fn default() -> Self {
        NotifyChoice(Step::CHOOSABLE.into_iter().collect())
    }
}

impl NotifyChoice {
    /// Reads the stored preference: `none`, or step names separated by commas (unknown
    /// names are ignored; they may come from a newer version).
    pub fn parse(stored: Option<&str>) -> NotifyChoice {
        match stored.map(str::trim) {
            None => NotifyChoice::default(),
            Some("none") | Some("") => NotifyChoice(BTreeSet::new()),
            Some(s) => NotifyChoice(
                s.split(',')
                    .filter_map(Step::parse)
                    .filter(|x| Step::CHOOSABLE.contains(x))
                    .collect(),
            ),
        }
    }

    /// The value to store.
    pub fn to_pref(&self) -> String {
        if self.0.is_empty() {
            "none".into()
        } else {
            let v: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
            v.join(",")
        }
    }

    pub fn wants(&self, s: Step) -> bool {
        self.0.contains(&s)
    }
}

/// Whether a customer is told about a step by mail: never about what they did themselves,
/// and only about the steps they chose.
pub fn should_notify(step: Step, actor_kind: &str, choice: &NotifyChoice) -> bool {
    actor_kind != "customer" && choice.wants(step)
}

/// Why a survey answer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SurveyError {
    #[error("a rating is a whole number from 1 to 5 (got {0})")]
    Score(String),
    #[error("a score is a whole number from 0 to 10 (got {0})")]
    NpsScore(String),
    #[error("NPS surveys go out every 1 to 365 days, or 0 for never (got {0})")]
    NpsEvery(i64),
    #[error("a comment may have at most {max} characters (got {got})")]
    Comment { max: usize, got: usize },
}

/// Longest survey comment, in characters.
pub const COMMENT_MAX: usize = 2000;
/// A rating at or below this opens a follow-up task for the team's manager.
pub const LOW_SCORE: i64 = 2;

/// A CSAT rating as sent (text from a form): a whole number 1-5.
pub fn score(input: &str) -> Result<i64, SurveyError> {
    let t = input.trim();
    match t.parse::<i64>() {
        Ok(n) if (1..=5).contains(&n) => Ok(n),
        _ => Err(SurveyError::Score(crate::customer::preview(input, 20))),
    }
}

/// A survey comment: control characters become spaces (newlines stay), trimmed; empty is
/// none. Kept as plain text: it is escaped wherever it is shown.
pub fn comment(input: &str) -> Result<Option<String>, SurveyError> {
    if input.len() > COMMENT_MAX * 4 {
        return Err(SurveyError::Comment {
            max: COMMENT_MAX,
            got: input.chars().count(),
        });
    }
    let cleaned: String = input
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect();
    let t = cleaned.trim();
    let n = t.chars().count();
    if n > COMMENT_MAX {
        return Err(SurveyError::Comment {
            max: COMMENT_MAX,
            got: n,
        });
    }
    Ok((!t.is_empty()).then(|| t.to_string()))
}

/// What decides whether a solved case gets a survey.
#[derive(Debug, Clone, Copy, Default)]
pub struct SurveyFacts {
    /// Tagged or kinded as spam.
    pub spam: bool,
    /// Merged into another case.
    pub merged: bool,
    /// Solved or closed by the system (a rule), not by a person.
    pub auto_closed: bool,
    /// The customer said no to surveys.
    pub opted_out: bool,
}

/// Whether to ask for a rating: not for spam, merged or automatically closed cases, nor for
/// customers who opted out.
pub fn survey_wanted(f: SurveyFacts) -> bool {
    !(f.spam || f.merged || f.auto_closed || f.opted_out)
}

/// A Net Promoter Score answer as sent (text from a form): a whole number 0-10.
pub fn nps_score(input: &str) -> Result<i64, SurveyError> {
    match input.trim().parse::<i64>() {
        Ok(n) if (0..=10).contains(&n) => Ok(n),
        _ => Err(SurveyError::NpsScore(crate::customer::preview(input, 20))),
    }
}

/// The tenant setting that turns periodic NPS surveys on: every N days (1-365); absent or
/// `0` is off.
pub const NPS_SETTING: &str = "nps.every_days";

/// How often a tenant asks its customers for an NPS answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpsPolicy {
    pub every_days: i64,
}

const DAY_MS: i64 = 24 * 3600 * 1000;

impl NpsPolicy {
    /// Reads the stored setting: `None` when off (absent, `0`, or unreadable).
    pub fn from_setting(stored: Option<&str>) -> Option<NpsPolicy> {
        let n: i64 = stored?.trim().parse().ok()?;
        (1..=365)
            .contains(&n)
            .then_some(NpsPolicy { every_days: n })
    }

    /// Checks a value an admin sends: 0 (off) or 1-365 days.
    pub fn check(every_days: i64) -> Result<Option<NpsPolicy>, SurveyError> {
        match every_days {
            0 => Ok(None),
            1..=365 => Ok(Some(NpsPolicy { every_days })),
            n => Err(SurveyError::NpsEvery(n)),
        }
    }

    fn period_ms(self) -> i64 {
        self.every_days.max(1) * DAY_MS
    }

    /// The first instant of the fixed period holding `now` (periods of N days from the
    /// epoch): a customer is asked at most once per period.
    pub fn period_start(self, now: i64) -> i64 {
        now - now.rem_euclid(self.period_ms())
    }

    /// Who counts as active: a case of theirs was solved at or after this instant (within
    /// the last period).
    pub fn active_since(self, now: i64) -> i64 {
        now - self.period_ms()
    }

    /// Nobody is asked again within N days of the last time, even across a period boundary.
    pub fn asked_after(self, now: i64) -> i64 {
        now - self.period_ms()
    }
}

/// The Net Promoter Score of some 0-10 answers: % promoters (9-10) − % detractors (0-6),
/// from −100 to 100; `None` without answers. Answers off the scale are ignored.
pub fn net_promoter_score(answers: &[u8]) -> Option<f64> {
    let valid: Vec<u8> = answers.iter().copied().filter(|v| *v <= 10).collect();
    if valid.is_empty() {
        return None;
    }
    let promoters = valid.iter().filter(|v| **v >= 9).count() as f64;
    let detractors = valid.iter().filter(|v| **v <= 6).count() as f64;
    Some((promoters - detractors) * 100.0 / valid.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_customer_steps() {
        let w = Workflow::default();
        assert_eq!(step_of("created", None, None, &w), Some(Step::Received));
        assert_eq!(
            step_of("status", Some("pending"), None, &w),
            Some(Step::Waiting)
        );
        assert_eq!(
            step_of("status", Some("on_hold"), None, &w),
            Some(Step::InProgress)
        );
        assert_eq!(
            step_of("status", Some("solved"), None, &w),
            Some(Step::Solved)
        );
        assert_eq!(step_of("status", Some("nope"), None, &w), None);
        assert_eq!(step_of("replied", None, Some("email"), &w), None);
        assert_eq!(
            step_of("replied", None, Some("portal"), &w),
            Some(Step::Replied)
        );
        // Internal kinds are no steps at all.
        assert_eq!(step_of("transferred", None, None, &w), None);
        assert_eq!(step_of("note", None, None, &w), None);
    }

    #[test]
    fn choices_round_trip_and_customers_are_not_told_their_own_doing() {
        let all = NotifyChoice::parse(None);
        assert!(all.wants(Step::Solved) && all.wants(Step::Assigned));
        let none = NotifyChoice::parse(Some("none"));
        assert!(!none.wants(Step::Solved));
        let some = NotifyChoice::parse(Some("solved, waiting,bogus"));
        assert_eq!(some.to_pref(), "waiting,solved");
        assert_eq!(NotifyChoice::parse(Some(&some.to_pref())), some);
        assert!(should_notify(Step::Solved, "user", &some));
        assert!(!should_notify(Step::Solved, "customer", &some));
        assert!(!should_notify(Step::Assigned, "user", &some));
    }

    #[test]
    fn ratings_and_comments() {
        assert_eq!(score(" 5 "), Ok(5));
        assert_eq!(score("1"), Ok(1));
        for bad in ["0", "6", "-1", "4.5", "", "five", "99999999999999999999"] {
            assert!(score(bad).is_err(), "{bad}");
        }
        assert_eq!(comment("  \n "), Ok(None));
        assert_eq!(
            comment("ok\u{7}\nthanks").unwrap().as_deref(),
            Some("ok \nthanks")
        );
        assert!(comment(&"x".repeat(COMMENT_MAX + 1)).is_err());
        // Markup is kept as text; escaping is the page's job.
        assert_eq!(
            comment("<script>x</script>").unwrap().as_deref(),
            Some("<script>x</script>")
        );
    }

    #[test]
    fn nps_scale_policy_and_score() {
        assert_eq!(nps_score("0"), Ok(0));
        assert_eq!(nps_score(" 10 "), Ok(10));
        for bad in ["11", "-1", "", "9.5", "ten"] {
            assert!(nps_score(bad).is_err(), "{bad}");
        }
        assert_eq!(NpsPolicy::from_setting(None), None);
        assert_eq!(NpsPolicy::from_setting(Some("0")), None);
        assert_eq!(NpsPolicy::from_setting(Some("x")), None);
        let p = NpsPolicy::from_setting(Some("30")).unwrap();
        assert!(NpsPolicy::check(366).is_err() && NpsPolicy::check(-1).is_err());
        assert_eq!(NpsPolicy::check(0), Ok(None));
        // Fixed 30-day windows from the epoch.
        assert_eq!(p.period_start(0), 0);
        assert_eq!(p.period_start(30 * DAY_MS - 1), 0);
        assert_eq!(p.period_start(30 * DAY_MS + 5), 30 * DAY_MS);
        assert_eq!(p.active_since(40 * DAY_MS), 10 * DAY_MS);
        // By hand: 3 promoters (10, 9, 10), 2 passives (8, 7), 2 detractors (6, 0) of 7
        // answers: (3 − 2) / 7 = 14.2857… %.
        let v = net_promoter_score(&[10, 9, 8, 7, 6, 0, 10]).unwrap();
        assert!((v - 100.0 / 7.0).abs() < 1e-9, "{v}");
        assert_eq!(net_promoter_score(&[9, 10]), Some(100.0));
        assert_eq!(net_promoter_score(&[0, 6]), Some(-100.0));
        assert_eq!(net_promoter_score(&[7, 8]), Some(0.0));
        assert_eq!(net_promoter_score(&[]), None);
    }

    #[test]
    fn who_is_asked() {
        assert!(survey_wanted(SurveyFacts::default()));
        for f in [
            SurveyFacts {
                spam: true,
                ..Default::default()
            },
            SurveyFacts {
                merged: true,
                ..Default::default()
            },
            SurveyFacts {
                auto_closed: true,
                ..Default::default()
            },
            SurveyFacts {
                opted_out: true,
                ..Default::default()
            },
        ] {
            assert!(!survey_wanted(f));
        }
    }
}
