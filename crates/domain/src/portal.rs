//! What a customer is told about their case (issue 7, principles P6/P7): the steps of a case
//! as the customer sees them, which of them a customer is told about by mail (their own
//! choice), and the rules of satisfaction surveys (the 1-5 scale, the comment, who is asked).

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
