//! Cases (issue 4, principles P4/P11/P12): the channels a case arrives by and how it is
//! answered, priorities, extensible kinds, the status workflow as data (a tenant may store its
//! own as JSON; [`Workflow::default`] is the built-in one), what a customer's or an agent's reply
//! does to the status, the checks on subjects, bodies, tags and transfer reasons, and who a new
//! case is assigned to (round robin, least loaded, abusive customers to a manager).
//!
//! Everything here is pure and bounded: oversized input is refused on its length before any
//! other work, and error messages never echo more than a few dozen characters of it.

use crate::Locale;
use crate::customer::preview;
use crate::ids::UserId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a case value or a status change was refused. The message says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error(
        "{0} is not a case kind (use 1-32 characters of a-z, 0-9, '_' or '-', \
         e.g. question, complaint, request, return or follow_up)"
    )]
    Kind(String),
    #[error("{0} is not a channel (use email, web, portal, phone, visit, letter, chat or api)")]
    Channel(String),
    #[error("{0} is not a reply route (use email, portal, letter_page, call_task, visit or chat)")]
    ReplyRoute(String),
    #[error("{0} is not a priority (use low, normal, high or urgent)")]
    Priority(String),
    #[error("{0} is not a category (use new, open, pending, on_hold, solved or closed)")]
    Category(String),
    #[error("{0} is not an assignment strategy (use manual, round_robin or least_loaded)")]
    Strategy(String),
    #[error("{got} is not a status of this workflow (use one of: {known})")]
    Status { got: String, known: String },
    #[error("the case is already '{0}' (choose a different status)")]
    SameStatus(String),
    #[error("a case cannot move from '{from}' to '{to}' (from '{from}' it may move to: {allowed})")]
    Transition {
        from: String,
        to: String,
        allowed: String,
    },
    #[error(
        "the case is '{0}', which is final; open a follow-up case linked to it instead of \
         changing it"
    )]
    ClosedIsFinal(String),
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{field} must be at most {max} characters (got {got}); shorten it")]
    TooLong {
        field: &'static str,
        max: usize,
        got: usize,
    },
    #[error("{0} is not a tag (use 1-40 characters without spaces or commas, e.g. refund or vip)")]
    Tag(String),
    #[error("the workflow is invalid: {0}")]
    Workflow(String),
}

/// Declares a closed set of keywords as an enum with each variant's stored name (also its serde
/// name), `ALL` (in declaration order), `as_str`, `parse` (trimmed, case-insensitive, `-` or a
/// space read as `_`; refused with the given error variant) and `Display`.
macro_rules! keywords {
    (
        $(#[$m:meta])*
        pub enum $name:ident refused as $ety:ident :: $evar:ident {
            $($(#[$vm:meta])* $v:ident = $s:literal,)+
        }
    ) => {
        $(#[$m])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v,)+
        }

        impl $name {
            pub const ALL: [$name; [$($s),+].len()] = [$($name::$v),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => $s,)+
                }
            }

            /// Parses a name: trimmed, case-insensitive, `-` or a space read as `_`.
            pub fn parse(s: &str) -> Result<$name, $ety> {
                // Long input cannot be a keyword: refuse it without copying it.
                let t = s.trim();
                let t = if t.len() > 64 { String::new() } else { t.to_ascii_lowercase() };
                let t = t.replace(['-', ' '], "_");
                $name::ALL
                    .into_iter()
                    .find(|x| x.as_str() == t)
                    .ok_or_else(|| $ety::$evar($crate::customer::preview(s, 40)))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use keywords;

keywords! {
    /// How a case reached us.
    pub enum Channel refused as CaseError::Channel {
        Email = "email",
        Web = "web",
        Portal = "portal",
        Phone = "phone",
        Visit = "visit",
        Letter = "letter",
        Chat = "chat",
        Api = "api",
    }
}

impl Channel {
    /// How an agent's public reply reaches the customer: by mail for mail; in the portal for
    /// web forms, the portal and the API (the customer is also told by mail that it is there);
    /// a call task for phone; a printable letter page for letters; a visit task to log for
    /// visits; in the conversation for chat.
    pub fn reply_route(self) -> ReplyRoute {
        match self {
            Channel::Email => ReplyRoute::Email,
            Channel::Web | Channel::Portal | Channel::Api => ReplyRoute::Portal,
            Channel::Phone => ReplyRoute::CallTask,
            Channel::Letter => ReplyRoute::LetterPage,
            Channel::Visit => ReplyRoute::Visit,
            Channel::Chat => ReplyRoute::Chat,
        }
    }
}

keywords! {
    /// Where a public reply goes; see [`Channel::reply_route`].
    pub enum ReplyRoute refused as CaseError::ReplyRoute {
        Email = "email",
        Portal = "portal",
        LetterPage = "letter_page",
        CallTask = "call_task",
        Visit = "visit",
        Chat = "chat",
    }
}

keywords! {
    /// How soon a case needs attention. Ordered: `Low < Normal < High < Urgent`.
    #[derive(Default)]
    pub enum Priority refused as CaseError::Priority {
        Low = "low",
        #[default]
        Normal = "normal",
        High = "high",
        Urgent = "urgent",
    }
}

impl Priority {
    /// One step up; `Urgent` stays `Urgent`.
    pub fn raised(self) -> Priority {
        match self {
            Priority::Low => Priority::Normal,
            Priority::Normal => Priority::High,
            Priority::High | Priority::Urgent => Priority::Urgent,
        }
    }

    /// 0 for low up to 3 for urgent (for storage and sorting).
    pub fn rank(self) -> u8 {
        self as u8
    }
}

/// Longest case kind (and workflow state key), in characters.
pub const KIND_MAX: usize = 32;

/// Normalises a slug: trimmed, lower-case, inner whitespace runs become `_`; then 1-32
/// characters of `[a-z0-9_-]`, or `None`.
fn slug(input: &str) -> Option<String> {
    if input.len() > KIND_MAX * 4 + 64 {
        return None;
    }
    let s = input
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
        .to_lowercase();
    let ok = (1..=KIND_MAX).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    ok.then_some(s)
}

/// What a case is about. Tenants may add their own kinds; [`Kind::DEFAULTS`] are built in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Kind(String);

impl Kind {
    pub const DEFAULTS: [&'static str; 5] =
        ["question", "complaint", "request", "return", "follow_up"];

    /// A slug of 1-32 characters of `[a-z0-9_-]`, normalised (trimmed, lower-case, spaces
    /// become `_`): `" Follow up "` is `follow_up`.
    pub fn parse(input: &str) -> Result<Kind, CaseError> {
        slug(input)
            .map(Kind)
            .ok_or_else(|| CaseError::Kind(preview(input, 40)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Kind {
    type Error = CaseError;
    fn try_from(v: String) -> Result<Self, Self::Error> {
        Kind::parse(&v)
    }
}

impl From<Kind> for String {
    fn from(k: Kind) -> String {
        k.0
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

keywords! {
    /// The fixed meaning behind a workflow state, whatever the tenant calls it. Reports, targets
    /// and reply handling work on categories.
    pub enum Category refused as CaseError::Category {
        /// Arrived, nobody has answered yet.
        New = "new",
        /// Being worked on.
        Open = "open",
        /// Waiting on the customer.
        Pending = "pending",
        /// Waiting on a third party or another team.
        OnHold = "on_hold",
        /// Answered; the customer may still reply and reopen it.
        Solved = "solved",
        /// Final: a reply opens a linked follow-up case.
        Closed = "closed",
    }
}

/// One status of a workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDef {
    /// Slug stored on the case, e.g. `pending`.
    pub key: String,
    pub category: Category,
    /// Whether service-level clocks stop while a case is in this state.
    pub pauses_clock: bool,
    /// What the customer sees, in en, zh-CN and ko (the order of [`Locale::ALL`]).
    pub customer_label: [String; 3],
}

/// Longest customer-facing state label, in characters.
pub const LABEL_MAX: usize = 60;

/// What a customer's reply does to a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyEffect {
    /// The reply is added; the status stays.
    Stay,
    /// The reply is added and the case moves to this state.
    MoveTo(String),
    /// The case is final: the reply starts a new case linked to it.
    FollowUpCase,
}

/// A status workflow: the states and the allowed moves between them. Stored per tenant as JSON;
/// call [`Workflow::validate`] after loading one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    pub states: Vec<StateDef>,
    /// Allowed `(from, to)` moves.
    pub transitions: Vec<(String, String)>,
}

impl Default for Workflow {
    fn default() -> Self {
        use Category::*;
        // The customer need not see that we wait on someone else: on hold reads "in progress".
        let table = [
            ("new", New, false, ["Received", "已收到", "접수됨"]),
            ("open", Open, false, ["In progress", "处理中", "처리 중"]),
            (
                "pending",
                Pending,
                true,
                ["Waiting for your reply", "等待您的回复", "회신 대기 중"],
            ),
            (
                "on_hold",
                OnHold,
                true,
                ["In progress", "处理中", "처리 중"],
            ),
            ("solved", Solved, true, ["Solved", "已解决", "해결됨"]),
            ("closed", Closed, true, ["Closed", "已关闭", "종료됨"]),
        ];
        let states = table
            .into_iter()
            .map(|(key, category, pauses_clock, labels)| StateDef {
                key: key.to_string(),
                category,
                pauses_clock,
                customer_label: labels.map(str::to_string),
            })
            .collect();
        let moves: [(&str, &[&str]); 5] = [
            ("new", &["open", "pending", "on_hold", "solved"]),
            ("open", &["pending", "on_hold", "solved"]),
            ("pending", &["open", "on_hold", "solved"]),
            ("on_hold", &["open", "pending", "solved"]),
            ("solved", &["open", "closed"]),
        ];
        let transitions = moves
            .iter()
            .flat_map(|(from, tos)| tos.iter().map(|to| (from.to_string(), to.to_string())))
            .collect();
        Workflow {
            states,
            transitions,
        }
    }
}

impl Workflow {
    /// Checks the workflow: state keys are unique slugs, labels are at most 60 characters (the
    /// English one not blank; a blank zh-CN or ko label falls back to English), moves name
    /// known states (no self-moves, no duplicates), exactly one New-category (initial) state, at
    /// least one Open-category state (where replies reopen a case), and at least one
    /// Closed-category state, none of which has an outgoing move.
    pub fn validate(&self) -> Result<(), CaseError> {
        let bad = |m: String| Err(CaseError::Workflow(m));
        if self.states.is_empty() || self.states.len() > 50 {
            return bad(format!("it needs 1-50 states (got {})", self.states.len()));
        }
        if self.transitions.len() > 1000 {
            return bad("it may have at most 1000 moves".into());
        }
        for (i, s) in self.states.iter().enumerate() {
            if slug(&s.key).as_deref() != Some(s.key.as_str()) {
                return bad(format!(
                    "state key {} must be 1-32 characters of a-z, 0-9, '_' or '-'",
                    preview(&s.key, 40)
                ));
            }
            if self.states[..i].iter().any(|o| o.key == s.key) {
                return bad(format!("state '{}' is defined twice", s.key));
            }
            let sizes = s
                .customer_label
                .each_ref()
                .map(|l| l.trim().chars().count());
            if sizes[0] == 0 || sizes.iter().any(|n| *n > LABEL_MAX) {
                return bad(format!(
                    "the labels of state '{}' must be at most {LABEL_MAX} characters, \
                     and the English one must not be blank",
                    s.key
                ));
            }
        }
        for (i, (from, to)) in self.transitions.iter().enumerate() {
            for k in [from, to] {
                if self.state(k).is_none() {
                    return bad(format!("a move names unknown state {}", preview(k, 40)));
                }
            }
            if from == to {
                return bad(format!("the move '{from}' -> '{to}' goes nowhere"));
            }
            if self.transitions[..i].contains(&(from.clone(), to.clone())) {
                return bad(format!("the move '{from}' -> '{to}' is listed twice"));
            }
        }
        let count = |c: Category| self.states.iter().filter(|s| s.category == c).count();
        if count(Category::New) != 1 {
            return bad(format!(
                "it needs exactly one state of category new (got {})",
                count(Category::New)
            ));
        }
        if count(Category::Open) == 0 {
            return bad("it needs a state of category open".into());
        }
        if count(Category::Closed) == 0 {
            return bad("it needs a state of category closed".into());
        }
        for s in self
            .states
            .iter()
            .filter(|s| s.category == Category::Closed)
        {
            if self.transitions.iter().any(|(from, _)| *from == s.key) {
                return bad(format!(
                    "closed state '{}' is final and must have no moves out of it",
                    s.key
                ));
            }
        }
        Ok(())
    }

    /// The state a new case starts in: the New-category state (the first state if a broken
    /// workflow has none).
    pub fn initial(&self) -> &str {
        self.states
            .iter()
            .find(|s| s.category == Category::New)
            .or(self.states.first())
            .map_or("", |s| s.key.as_str())
    }

    pub fn state(&self, key: &str) -> Option<&StateDef> {
        self.states.iter().find(|s| s.key == key)
    }

    /// Looks up a status someone sent (trimmed, case-insensitive).
    pub fn parse_status(&self, input: &str) -> Result<&StateDef, CaseError> {
        let t = input.trim();
        self.states
            .iter()
            .find(|s| s.key.eq_ignore_ascii_case(t))
            .ok_or_else(|| CaseError::Status {
                got: preview(input, 40),
                known: self.keys_list(),
            })
    }

    /// The state keys, comma-separated, for messages.
    pub(crate) fn keys_list(&self) -> String {
        let keys: Vec<&str> = self.states.iter().map(|s| s.key.as_str()).collect();
        keys.join(", ")
    }

    /// Whether a case may move from `from` to `to`. Staying put is refused (nothing to do),
    /// as is any move out of a final state.
    pub fn check_transition(&self, from: &str, to: &str) -> Result<(), CaseError> {
        for k in [from, to] {
            if self.state(k).is_none() {
                return Err(CaseError::Status {
                    got: preview(k, 40),
                    known: self.keys_list(),
                });
            }
        }
        if from == to {
            return Err(CaseError::SameStatus(from.to_string()));
        }
        if self.is_final(from) {
            return Err(CaseError::ClosedIsFinal(from.to_string()));
        }
        if self.transitions.iter().any(|(f, t)| f == from && t == to) {
            return Ok(());
        }
        let allowed = self.allowed_from(from);
        Err(CaseError::Transition {
            from: from.to_string(),
            to: to.to_string(),
            allowed: if allowed.is_empty() {
                "nothing".to_string()
            } else {
                allowed.join(", ")
            },
        })
    }

    /// The states a case in `from` may move to, in the order the moves are listed.
    pub fn allowed_from(&self, from: &str) -> Vec<&str> {
        self.transitions
            .iter()
            .filter(|(f, _)| f == from)
            .map(|(_, t)| t.as_str())
            .collect()
    }

    pub fn category(&self, key: &str) -> Option<Category> {
        self.state(key).map(|s| s.category)
    }

    /// Whether service-level clocks stop in this state (false for unknown states).
    pub fn pauses_clock(&self, key: &str) -> bool {
        self.state(key).is_some_and(|s| s.pauses_clock)
    }

    /// Whether the state is final (category closed).
    pub fn is_final(&self, key: &str) -> bool {
        self.category(key) == Some(Category::Closed)
    }

    pub fn is_solved(&self, key: &str) -> bool {
        self.category(key) == Some(Category::Solved)
    }

    /// What the customer sees for a state in `locale`; the English label if that one is blank,
    /// the key itself for an unknown state.
    pub fn customer_label<'a>(&'a self, key: &'a str, locale: Locale) -> &'a str {
        let Some(s) = self.state(key) else {
            return key;
        };
        let i = match locale {
            Locale::En => 0,
            Locale::ZhCn => 1,
            Locale::Ko => 2,
        };
        [&s.customer_label[i], &s.customer_label[0], &s.key]
            .into_iter()
            .find(|l| !l.trim().is_empty())
            .map_or(key, |l| l.as_str())
    }

    /// The first Open-category state that `from` may move to.
    fn open_target(&self, from: &str) -> Option<String> {
        self.allowed_from(from)
            .into_iter()
            .find(|t| self.category(t) == Some(Category::Open))
            .map(str::to_string)
    }

    /// What a customer's reply does: a case waiting on the customer (pending) goes back to
    /// work, a solved case reopens (both to the first Open-category state they may move to);
    /// new, open and on-hold cases stay; a closed case is final, so the reply starts a linked
    /// follow-up case. Unknown statuses stay.
    pub fn on_customer_reply(&self, status: &str) -> ReplyEffect {
        match self.category(status) {
            Some(Category::Pending | Category::Solved) => self
                .open_target(status)
                .map_or(ReplyEffect::Stay, ReplyEffect::MoveTo),
            Some(Category::Closed) => ReplyEffect::FollowUpCase,
            _ => ReplyEffect::Stay,
        }
    }

    /// What an agent's public reply does on its own: a new case becomes open. Otherwise
    /// nothing; the agent picks pending or solved explicitly.
    pub fn on_agent_public_reply(&self, status: &str) -> Option<String> {
        match self.category(status) {
            Some(Category::New) => self.open_target(status),
            _ => None,
        }
    }
}

/// Longest subject, in characters.
pub const SUBJECT_MAX: usize = 300;
/// Longest message body, in characters.
pub const BODY_MAX_CHARS: usize = 100_000;
/// Longest tag, in characters.
pub const TAG_MAX: usize = 40;
/// Longest transfer reason, in characters.
pub const REASON_MAX: usize = 500;

fn too_long(field: &'static str, max: usize, s: &str) -> CaseError {
    CaseError::TooLong {
        field,
        max,
        got: s.chars().count(),
    }
}

/// A subject: control characters (tabs, folded header lines) become spaces, whitespace runs
/// collapse to one space, trimmed; 1-300 characters.
pub fn subject(input: &str) -> Result<String, CaseError> {
    if input.len() > SUBJECT_MAX * 4 {
        return Err(too_long("the subject", SUBJECT_MAX, input));
    }
    let s = input
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if s.is_empty() {
        return Err(CaseError::Empty("the subject"));
    }
    if s.chars().count() > SUBJECT_MAX {
        return Err(too_long("the subject", SUBJECT_MAX, &s));
    }
    Ok(s)
}

/// A message body: line ends become `\n`, control characters other than newline and tab are
/// dropped, trimmed; 1-100,000 characters.
pub fn body(input: &str) -> Result<String, CaseError> {
    if input.len() > BODY_MAX_CHARS * 4 {
        return Err(too_long("the message", BODY_MAX_CHARS, input));
    }
    let s: String = input
        .replace("\r\n", "\n")
        .chars()
        .map(|c| if c == '\r' { '\n' } else { c })
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    let s = s.trim();
    if s.is_empty() {
        return Err(CaseError::Empty("the message"));
    }
    if s.chars().count() > BODY_MAX_CHARS {
        return Err(too_long("the message", BODY_MAX_CHARS, s));
    }
    Ok(s.to_string())
}

/// A tag: trimmed, lower-case, 1-40 characters, no whitespace, commas or control characters.
/// Any script is fine: `退款` is a tag.
pub fn tag(input: &str) -> Result<String, CaseError> {
    let t = input.trim();
    if t.len() > TAG_MAX * 4 {
        return Err(CaseError::Tag(preview(input, 40)));
    }
    let s = t.to_lowercase();
    let n = s.chars().count();
    if n == 0
        || n > TAG_MAX
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | '，' | '、'))
    {
        return Err(CaseError::Tag(preview(input, 40)));
    }
    Ok(s)
}

/// Why a case is transferred: control characters other than newlines become spaces, trimmed;
/// 1-500 characters.
pub fn reason(input: &str) -> Result<String, CaseError> {
    if input.len() > REASON_MAX * 4 {
        return Err(too_long("the reason", REASON_MAX, input));
    }
    let s: String = input
        .trim()
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect();
    let s = s.trim();
    if s.is_empty() {
        return Err(CaseError::Empty("the reason"));
    }
    if s.chars().count() > REASON_MAX {
        return Err(too_long("the reason", REASON_MAX, s));
    }
    Ok(s.to_string())
}

/// One agent as the assigner sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentLoad {
    pub user: UserId,
    /// Cases the agent owns that are not solved or closed.
    pub open_cases: u32,
    /// Most open cases the agent takes by automatic assignment; `None` is no limit.
    pub cap: Option<u32>,
    /// On shift and accepting cases.
    pub available: bool,
}

impl AgentLoad {
    /// Available and under their cap.
    pub fn eligible(&self) -> bool {
        self.available && self.cap.is_none_or(|c| self.open_cases < c)
    }
}

keywords! {
    /// How a team hands out new cases.
    #[derive(Default)]
    pub enum Strategy refused as CaseError::Strategy {
        /// A person picks the owner.
        #[default]
        Manual = "manual",
        /// Each eligible agent in turn, by ascending user id.
        RoundRobin = "round_robin",
        /// The eligible agent with the fewest open cases.
        LeastLoaded = "least_loaded",
    }
}

/// The first of `users` after `last` in ascending id order, wrapping around.
fn next_after(mut users: Vec<UserId>, last: Option<UserId>) -> Option<UserId> {
    users.sort();
    users.dedup();
    let after = last.and_then(|l| users.iter().copied().find(|u| *u > l));
    after.or(users.first().copied())
}

/// Who gets a new case. `Manual` picks nobody. Only available agents under their cap are
/// eligible. `RoundRobin` takes the next eligible agent after `last_assigned` by ascending
/// user id, wrapping around; `LeastLoaded` takes the eligible agent with the fewest open cases,
/// breaking ties in round-robin order after `last_assigned`. `None` when nobody is eligible.
pub fn pick_assignee(
    strategy: Strategy,
    candidates: &[AgentLoad],
    last_assigned: Option<UserId>,
) -> Option<UserId> {
    let eligible: Vec<&AgentLoad> = candidates.iter().filter(|a| a.eligible()).collect();
    match strategy {
        Strategy::Manual => None,
        Strategy::RoundRobin => {
            next_after(eligible.iter().map(|a| a.user).collect(), last_assigned)
        }
        Strategy::LeastLoaded => {
            let min = eligible.iter().map(|a| a.open_cases).min()?;
            let tied = eligible
                .iter()
                .filter(|a| a.open_cases == min)
                .map(|a| a.user)
                .collect();
            next_after(tied, last_assigned)
        }
    }
}

/// Where a case goes when the customer is flagged abusive (P12: protect the staff): to the
/// available manager with the fewest open cases, lowest user id on a tie. A manager's cap does
/// not refuse such a case. `None` when the customer is not flagged or no manager is available
/// (then the case is assigned as usual and the caller should alert the managers).
pub fn route_abusive(flags_abusive: bool, managers: &[AgentLoad]) -> Option<UserId> {
    if !flags_abusive {
        return None;
    }
    managers
        .iter()
        .filter(|m| m.available)
        .min_by_key(|m| (m.open_cases, m.user))
        .map(|m| m.user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_parse_and_route_replies() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()).unwrap(), c);
        }
        assert_eq!(Channel::parse(" EMAIL ").unwrap(), Channel::Email);
        let e = Channel::parse("fax").unwrap_err().to_string();
        assert!(e.contains("'fax'") && e.contains("letter"), "{e}");
        assert_eq!(Channel::Email.reply_route(), ReplyRoute::Email);
        for c in [Channel::Web, Channel::Portal, Channel::Api] {
            assert_eq!(c.reply_route(), ReplyRoute::Portal);
        }
        assert_eq!(Channel::Phone.reply_route().as_str(), "call_task");
        assert_eq!(Channel::Letter.reply_route().as_str(), "letter_page");
        assert_eq!(Channel::Visit.reply_route(), ReplyRoute::Visit);
        assert_eq!(Channel::Chat.reply_route(), ReplyRoute::Chat);
    }

    #[test]
    fn priorities_order_raise_and_parse() {
        assert!(Priority::Low < Priority::Normal && Priority::High < Priority::Urgent);
        assert_eq!(Priority::default(), Priority::Normal);
        assert_eq!(Priority::Low.raised(), Priority::Normal);
        assert_eq!(Priority::High.raised(), Priority::Urgent);
        assert_eq!(Priority::Urgent.raised(), Priority::Urgent);
        let ranks: Vec<u8> = Priority::ALL.iter().map(|p| p.rank()).collect();
        assert_eq!(ranks, [0, 1, 2, 3]);
        assert_eq!(Priority::parse(" High").unwrap(), Priority::High);
        let e = Priority::parse("p1").unwrap_err().to_string();
        assert!(e.contains("'p1'") && e.contains("urgent"), "{e}");
    }

    #[test]
    fn kinds_are_normalised_slugs() {
        for k in Kind::DEFAULTS {
            assert_eq!(Kind::parse(k).unwrap().as_str(), k);
        }
        assert_eq!(Kind::parse(" Follow Up ").unwrap().as_str(), "follow_up");
        assert_eq!(Kind::parse("b2b-order").unwrap().as_str(), "b2b-order");
        assert!(Kind::parse("").is_err());
        assert!(Kind::parse("退货").is_err());
        assert!(Kind::parse("a.b").is_err());
        assert!(Kind::parse(&"k".repeat(32)).is_ok());
        assert!(Kind::parse(&"k".repeat(33)).is_err());
        let e = Kind::parse(&"k".repeat(1_000_000)).unwrap_err().to_string();
        assert!(e.len() < 300, "{e}");
        assert_eq!(Category::parse("On_Hold").unwrap(), Category::OnHold);
        let rr = Strategy::parse("Round-Robin").unwrap();
        assert_eq!(rr, Strategy::RoundRobin);
        assert_eq!(Strategy::LeastLoaded.as_str(), "least_loaded");
        assert!(Strategy::parse("random").is_err());
    }

    #[test]
    fn default_workflow_is_valid_and_allows_the_listed_moves() {
        let w = Workflow::default();
        w.validate().unwrap();
        assert_eq!(w.initial(), "new");
        let from_new = ["open", "pending", "on_hold", "solved"];
        assert_eq!(w.allowed_from("new"), from_new);
        assert_eq!(w.allowed_from("solved"), ["open", "closed"]);
        assert!(w.allowed_from("closed").is_empty());
        for (from, to) in [
            ("new", "open"),
            ("open", "pending"),
            ("pending", "on_hold"),
            ("on_hold", "solved"),
            ("solved", "open"),
            ("solved", "closed"),
        ] {
            w.check_transition(from, to).unwrap();
        }
        assert!(w.pauses_clock("pending") && w.pauses_clock("on_hold"));
        assert!(!w.pauses_clock("open") && !w.pauses_clock("nope"));
        assert!(w.is_final("closed") && !w.is_final("solved"));
        assert!(w.is_solved("solved") && !w.is_solved("closed"));
    }

    #[test]
    fn default_workflow_refuses_other_moves_with_clear_messages() {
        let w = Workflow::default();
        let e = w.check_transition("open", "new").unwrap_err();
        assert_eq!(
            e.to_string(),
            "a case cannot move from 'open' to 'new' (from 'open' it may move to: \
             pending, on_hold, solved)"
        );
        for (from, to) in [("open", "closed"), ("new", "closed"), ("pending", "new")] {
            let e = w.check_transition(from, to).unwrap_err();
            assert!(matches!(e, CaseError::Transition { .. }), "{e}");
        }
        let e = w.check_transition("open", "open").unwrap_err();
        assert_eq!(e, CaseError::SameStatus("open".into()));
        assert!(e.to_string().contains("already"));
        let e = w.check_transition("closed", "open").unwrap_err();
        assert_eq!(e, CaseError::ClosedIsFinal("closed".into()));
        assert!(e.to_string().contains("follow-up"));
        let e = w.check_transition("open", "escalated").unwrap_err();
        let e = e.to_string();
        assert!(e.contains("'escalated'") && e.contains("on_hold"), "{e}");
        assert_eq!(w.parse_status(" Pending ").unwrap().key, "pending");
        assert!(w.parse_status("waiting").is_err());
    }

    #[test]
    fn customer_replies_reopen_or_start_a_follow_up() {
        let w = Workflow::default();
        let reopen = ReplyEffect::MoveTo("open".into());
        assert_eq!(w.on_customer_reply("pending"), reopen);
        assert_eq!(w.on_customer_reply("solved"), reopen);
        for s in ["new", "open", "on_hold", "unknown"] {
            assert_eq!(w.on_customer_reply(s), ReplyEffect::Stay, "{s}");
        }
        assert_eq!(w.on_customer_reply("closed"), ReplyEffect::FollowUpCase);
        assert_eq!(w.on_agent_public_reply("new").as_deref(), Some("open"));
        for s in ["open", "pending", "on_hold", "solved", "closed"] {
            assert_eq!(w.on_agent_public_reply(s), None, "{s}");
        }
    }

    #[test]
    fn custom_workflows_use_categories() {
        let mut w = Workflow::default();
        w.states.push(StateDef {
            key: "awaiting_courier".into(),
            category: Category::OnHold,
            pauses_clock: false,
            customer_label: ["With the courier", "快递处理中", ""].map(String::from),
        });
        let moves = [("open", "awaiting_courier"), ("awaiting_courier", "open")];
        w.transitions
            .extend(moves.map(|(f, t)| (f.into(), t.into())));
        w.validate().unwrap();
        w.check_transition("open", "awaiting_courier").unwrap();
        assert_eq!(w.on_customer_reply("awaiting_courier"), ReplyEffect::Stay);
        assert!(!w.pauses_clock("awaiting_courier"));
        // A blank label falls back to English; an unknown key is shown as itself.
        let labels: Vec<&str> = Locale::ALL
            .iter()
            .map(|l| w.customer_label("awaiting_courier", *l))
            .collect();
        let english = "With the courier";
        assert_eq!(labels, [english, "快递处理中", english]);
        assert_eq!(w.customer_label("pending", Locale::ZhCn), "等待您的回复");
        assert_eq!(w.customer_label("closed", Locale::Ko), "종료됨");
        assert_eq!(w.customer_label("on_hold", Locale::En), "In progress");
        assert_eq!(w.customer_label("mystery", Locale::Ko), "mystery");
    }

    #[test]
    fn validate_catches_broken_workflows() {
        let broken = |f: &dyn Fn(&mut Workflow)| {
            let mut w = Workflow::default();
            f(&mut w);
            w.validate().unwrap_err().to_string()
        };
        let e = broken(&|w| w.states[1].key = "new".into());
        assert!(e.contains("'new' is defined twice"), "{e}");
        let e = broken(&|w| w.transitions.push(("open".into(), "escalated".into())));
        assert!(e.contains("unknown state 'escalated'"), "{e}");
        let e = broken(&|w| w.states[1].category = Category::New);
        assert!(
            e.contains("exactly one state of category new (got 2)"),
            "{e}"
        );
        let e = broken(&|w| w.states[0].category = Category::Open);
        assert!(e.contains("got 0"), "{e}");
        let e = broken(&|w| w.transitions.push(("closed".into(), "open".into())));
        assert!(e.contains("closed state 'closed' is final"), "{e}");
        let e = broken(&|w| {
            w.states.pop();
            w.transitions.retain(|(_, t)| t != "closed");
        });
        assert!(e.contains("category closed"), "{e}");
        let e = broken(&|w| w.transitions.push(("open".into(), "open".into())));
        assert!(e.contains("goes nowhere"), "{e}");
        let e = broken(&|w| w.transitions.push(("new".into(), "open".into())));
        assert!(e.contains("listed twice"), "{e}");
        let e = broken(&|w| w.states[2].key = "Pending Reply".into());
        assert!(e.contains("state key"), "{e}");
        let e = broken(&|w| w.states[2].customer_label[0] = " ".into());
        assert!(e.contains("English one"), "{e}");
        let e = broken(&|w| w.states[2].customer_label[2] = "라".repeat(61));
        assert!(e.contains("at most 60"), "{e}");
        let e = broken(&|w| w.states.clear());
        assert!(e.contains("1-50 states"), "{e}");
    }

    #[test]
    fn workflow_round_trips_through_serde() {
        let w = Workflow::default();
        let back: Workflow = crate::rules::test_serde::round_trip(&w);
        assert_eq!(back, w);
        let v = crate::rules::test_serde::to_value(&w.states[3]);
        assert!(format!("{v:?}").contains("S(\"on_hold\")"), "{v:?}");
    }

    #[test]
    fn subjects_bodies_tags_and_reasons_are_checked() {
        assert_eq!(subject("  Re:\tmy\r\n  order ").unwrap(), "Re: my order");
        assert_eq!(subject("退款申请").unwrap(), "退款申请");
        assert_eq!(
            subject(" \n ").unwrap_err().to_string(),
            "the subject must not be empty"
        );
        assert!(subject(&"主".repeat(300)).is_ok());
        let e = subject(&"x".repeat(301)).unwrap_err().to_string();
        assert_eq!(
            e,
            "the subject must be at most 300 characters (got 301); shorten it"
        );
        let e = subject(&"x".repeat(10_000_000)).unwrap_err().to_string();
        assert!(e.len() < 200, "{e}");

        assert_eq!(body(" hi\r\nthere\u{0}\r ").unwrap(), "hi\nthere");
        assert_eq!(body("a\tb").unwrap(), "a\tb");
        assert!(body("\u{7}  ").is_err());
        assert!(body(&"b".repeat(BODY_MAX_CHARS)).is_ok());
        assert!(body(&"b".repeat(BODY_MAX_CHARS + 1)).is_err());

        assert_eq!(tag(" VIP ").unwrap(), "vip");
        assert_eq!(tag("退款").unwrap(), "退款");
        for bad in ["", "two words", "a,b", "x\u{1}", &"t".repeat(41)] {
            assert!(tag(bad).is_err(), "{bad:?}");
        }
        let e = tag("退款、退货").unwrap_err();
        assert_eq!(e, CaseError::Tag("'退款、退货'".into()));

        let r = reason(" needs\tbilling\n team ").unwrap();
        assert_eq!(r, "needs billing\n team");
        assert!(reason("").is_err());
        assert!(reason(&"r".repeat(500)).is_ok());
        assert!(reason(&"r".repeat(501)).is_err());
    }

    fn agent(id: i64, open_cases: u32, cap: Option<u32>, available: bool) -> AgentLoad {
        let user = UserId(id);
        AgentLoad {
            user,
            open_cases,
            cap,
            available,
        }
    }

    #[test]
    fn round_robin_wraps_and_skips_unavailable_or_full_agents() {
        let team = [
            agent(30, 0, None, true),
            agent(10, 5, Some(10), true),
            agent(20, 3, Some(3), true), // at cap
            agent(40, 0, None, false),   // off shift
        ];
        let rr = |last: Option<i64>| {
            pick_assignee(Strategy::RoundRobin, &team, last.map(UserId)).map(|u| u.0)
        };
        assert_eq!(rr(None), Some(10));
        assert_eq!(rr(Some(10)), Some(30));
        assert_eq!(rr(Some(20)), Some(30));
        assert_eq!(rr(Some(30)), Some(10), "wraps");
        assert_eq!(rr(Some(99)), Some(10), "a departed last agent wraps too");
        assert_eq!(pick_assignee(Strategy::Manual, &team, None), None);
        let nobody = [agent(1, 2, Some(2), true), agent(2, 0, None, false)];
        assert_eq!(pick_assignee(Strategy::RoundRobin, &nobody, None), None);
        assert_eq!(pick_assignee(Strategy::LeastLoaded, &nobody, None), None);
        assert_eq!(pick_assignee(Strategy::RoundRobin, &[], None), None);
    }

    #[test]
    fn least_loaded_takes_the_lightest_and_rotates_ties() {
        let team = [
            agent(1, 4, None, true),
            agent(2, 1, None, true),
            agent(3, 1, Some(5), true),
            agent(4, 0, None, false),
            agent(5, 0, Some(0), true),
        ];
        let ll = |last: Option<i64>| {
            pick_assignee(Strategy::LeastLoaded, &team, last.map(UserId)).map(|u| u.0)
        };
        assert_eq!(ll(None), Some(2));
        assert_eq!(ll(Some(2)), Some(3));
        assert_eq!(ll(Some(3)), Some(2), "ties rotate and wrap");
        assert_eq!(ll(Some(1)), Some(2));
    }

    #[test]
    fn abusive_customers_go_to_the_least_loaded_available_manager() {
        let managers = [
            agent(7, 2, Some(2), true),
            agent(8, 1, None, false),
            agent(9, 2, None, true),
        ];
        assert_eq!(route_abusive(true, &managers), Some(UserId(7)));
        assert_eq!(route_abusive(false, &managers), None);
        assert_eq!(route_abusive(true, &managers[1..2]), None);
        assert_eq!(route_abusive(true, &[]), None);
    }
}
