//! Triggers and macros (issue 4, principles P4/P12): rules that react to what happens on a case
//! (a trigger: on an event, when all its conditions hold, do its actions) and canned action sets
//! an agent applies by hand (a macro).
//!
//! Conditions and actions are stored as JSON, internally tagged by `op` and `action`:
//!
//! ```json
//! {"op": "priority_at_least", "value": "high"}
//! {"op": "subject_contains", "value": "退款"}
//! {"op": "owner_unset"}
//! {"action": "add_tag", "value": "refund"}
//! {"action": "notify", "to": "team_manager", "message": "Refund over the limit"}
//! {"action": "notify", "to": {"user": 42}, "message": "Your customer wrote again"}
//! {"action": "reply_with_template", "template": 7}
//! ```
//!
//! Running triggers is pure: [`run_triggers`] takes the case's facts and returns the new facts,
//! which triggers fired and the effects (notifications, templated replies) for the caller to
//! carry out. It always terminates: each trigger fires at most once per run.
//!
//! `tier_changed` triggers are about a customer, not a case (a customer moved to Platinum
//! usually has no open case): they test the change (`tier_is` the new tier, `tier_was` the
//! old one, `tier_upgraded`, `tier_downgraded`) and the customer's flags, and act without a
//! case — `add_tag` tags the customer, `notify` goes to a user or the managers, `create_task`
//! makes a task for the customer. [`run_tier_triggers`] runs them once per change.
//!
//! ```json
//! {"op": "tier_was", "value": "Gold"}
//! {"action": "create_task", "title": "Welcome call to Platinum", "due_in_days": 2}
//! ```

use crate::case::{self, CaseError, Channel, Kind, Priority, Workflow, keywords};
use crate::customer::preview;
use crate::ids::{TeamId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Why a trigger or macro was refused. The message says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error(
        "{0} is not an event (use created, customer_replied, agent_replied, status_changed, \
         assigned, transferred, tier_changed or target_breached)"
    )]
    Event(String),
    #[error("a {0} name must be 1-{NAME_MAX} characters (got {1})")]
    Name(&'static str, usize),
    #[error("a trigger needs 1-{MAX_CONDITIONS} conditions, all of which must hold (got {0})")]
    Conditions(usize),
    #[error("a {0} needs 1-{MAX_ACTIONS} actions (got {1})")]
    Actions(&'static str, usize),
    #[error("{what} must be 1-{max} characters (got {got})")]
    Value {
        what: &'static str,
        max: usize,
        got: usize,
    },
    #[error("write {what} {got} as '{normal}'")]
    NotNormal {
        what: &'static str,
        got: String,
        normal: String,
    },
    #[error("a macro needs at least one action or a reply text")]
    EmptyMacro,
    #[error("a template id must be positive (got {0})")]
    Template(i64),
    #[error("{0}")]
    NotForEvent(String),
    #[error("a task is due 0-{MAX_TASK_DAYS} days after the trigger fires (got {0})")]
    TaskDays(u32),
    #[error(transparent)]
    Case(#[from] CaseError),
}

/// Longest trigger or macro name, in characters.
pub const NAME_MAX: usize = 100;
/// Most conditions in a trigger.
pub const MAX_CONDITIONS: usize = 20;
/// Most actions in a trigger or macro.
pub const MAX_ACTIONS: usize = 20;
/// Most passes [`run_triggers`] makes over the triggers.
pub const MAX_PASSES: usize = 10;
/// Longest condition value (status, kind, tier, flag, subject text), in characters.
pub const VALUE_MAX: usize = 200;
/// Longest notification message, in characters.
pub const MESSAGE_MAX: usize = 1_000;
/// Longest wait before a task a trigger creates falls due, in days.
pub const MAX_TASK_DAYS: u32 = 365;

/// What rules look at: a case as triggers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseFacts {
    /// A workflow state key.
    pub status: String,
    pub priority: Priority,
    pub channel: Channel,
    /// A [`Kind`] slug.
    pub kind: String,
    pub tags: BTreeSet<String>,
    pub owner: Option<UserId>,
    pub team: Option<TeamId>,
    /// The customer's tier key, if any.
    pub tier: Option<String>,
    pub subject: String,
    /// The customer's flags (`vip`, `abusive`, `fraud_suspect` ...).
    pub customer_flags: BTreeSet<String>,
}

keywords! {
    /// What happened to a case; each trigger listens to one event.
    pub enum Event refused as RuleError::Event {
        Created = "created",
        CustomerReplied = "customer_replied",
        AgentReplied = "agent_replied",
        StatusChanged = "status_changed",
        Assigned = "assigned",
        Transferred = "transferred",
        TierChanged = "tier_changed",
        TargetBreached = "target_breached",
    }
}

/// One test on a case's facts. JSON: `{"op": "<snake_case name>", "value": ...}`; see the
/// module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[rustfmt::skip]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Condition {
    StatusIs { value: String },
    StatusIsNot { value: String },
    PriorityIs { value: Priority },
    PriorityAtLeast { value: Priority },
    ChannelIs { value: Channel },
    KindIs { value: String },
    TierIs { value: String },
    HasTag { value: String },
    LacksTag { value: String },
    OwnerSet,
    OwnerUnset,
    TeamIs { value: TeamId },
    /// Case-insensitive (Unicode lower-casing), any script: `退款`, `환불`, `Refund`.
    SubjectContains { value: String },
    /// The customer carries this flag.
    CustomerFlagged { value: String },
    /// `tier_changed` only: the tier before the change.
    TierWas { value: String },
    /// `tier_changed` only: moved to a better tier.
    TierUpgraded,
    /// `tier_changed` only: moved to a lower tier (or out of every tier).
    TierDowngraded,
}

fn check_text(what: &'static str, v: &str, max: usize) -> Result<(), RuleError> {
    let got = v.chars().count();
    if v.trim().is_empty() || got > max {
        return Err(RuleError::Value { what, max, got });
    }
    Ok(())
}

fn check_tag(v: &str) -> Result<(), RuleError> {
    let normal = case::tag(v)?;
    if normal != v {
        return Err(RuleError::NotNormal {
            what: "tag",
            got: preview(v, 40),
            normal,
        });
    }
    Ok(())
}

impl Condition {
    /// Whether the condition holds for `facts`.
    pub fn holds(&self, facts: &CaseFacts) -> bool {
        match self {
            Condition::StatusIs { value } => facts.status == *value,
            Condition::StatusIsNot { value } => facts.status != *value,
            Condition::PriorityIs { value } => facts.priority == *value,
            Condition::PriorityAtLeast { value } => facts.priority >= *value,
            Condition::ChannelIs { value } => facts.channel == *value,
            Condition::KindIs { value } => facts.kind == *value,
            Condition::TierIs { value } => facts.tier.as_deref() == Some(value.as_str()),
            Condition::HasTag { value } => facts.tags.contains(value),
            Condition::LacksTag { value } => !facts.tags.contains(value),
            Condition::OwnerSet => facts.owner.is_some(),
            Condition::OwnerUnset => facts.owner.is_none(),
            Condition::TeamIs { value } => facts.team == Some(*value),
            Condition::SubjectContains { value } => {
                facts.subject.to_lowercase().contains(&value.to_lowercase())
            }
            Condition::CustomerFlagged { value } => facts.customer_flags.contains(value),
            // Only a tier change has a before and a direction.
            Condition::TierWas { .. } | Condition::TierUpgraded | Condition::TierDowngraded => {
                false
            }
        }
    }

    /// Whether the condition holds for a tier change; conditions about a case never do.
    pub fn holds_for_change(&self, change: &TierChange) -> bool {
        match self {
            Condition::TierIs { value } => change.to.as_deref() == Some(value.as_str()),
            Condition::TierWas { value } => change.from.as_deref() == Some(value.as_str()),
            Condition::TierUpgraded => change.upgrade,
            Condition::TierDowngraded => !change.upgrade,
            Condition::CustomerFlagged { value } => change.customer_flags.contains(value),
            _ => false,
        }
    }

    /// Whether the condition can be tested on a tier change.
    fn about_tier_change(&self) -> bool {
        matches!(
            self,
            Condition::TierIs { .. }
                | Condition::TierWas { .. }
                | Condition::TierUpgraded
                | Condition::TierDowngraded
                | Condition::CustomerFlagged { .. }
        )
    }

    /// Checks the values: texts 1-200 characters, tags and kinds in their normal form.
    pub fn validate(&self) -> Result<(), RuleError> {
        match self {
            Condition::StatusIs { value } | Condition::StatusIsNot { value } => {
                check_text("a status", value, VALUE_MAX)
            }
            Condition::KindIs { value } => {
                let normal = Kind::parse(value)?;
                if normal.as_str() != value {
                    return Err(RuleError::NotNormal {
                        what: "kind",
                        got: preview(value, 40),
                        normal: normal.to_string(),
                    });
                }
                Ok(())
            }
            Condition::TierIs { value } | Condition::TierWas { value } => {
                check_text("a tier", value, VALUE_MAX)
            }
            Condition::HasTag { value } | Condition::LacksTag { value } => check_tag(value),
            Condition::SubjectContains { value } => {
                check_text("the subject text", value, VALUE_MAX)
            }
            Condition::CustomerFlagged { value } => check_text("a flag", value, VALUE_MAX),
            Condition::PriorityIs { .. }
            | Condition::PriorityAtLeast { .. }
            | Condition::ChannelIs { .. }
            | Condition::OwnerSet
            | Condition::OwnerUnset
            | Condition::TeamIs { .. }
            | Condition::TierUpgraded
            | Condition::TierDowngraded => Ok(()),
        }
    }
}

/// Who a notification goes to. JSON: `"owner"`, `"team_manager"` or `{"user": 42}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    User(UserId),
    /// The case's owner (nobody when unassigned).
    Owner,
    /// The manager of the case's team.
    TeamManager,
}

/// One thing a trigger or macro does. JSON: `{"action": "<snake_case name>", ...}`; see the
/// module documentation. Field-setting actions change the facts ([`Action::apply`]);
/// [`Action::Notify`] and [`Action::ReplyWithTemplate`] are effects for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[rustfmt::skip]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    SetStatus { value: String },
    SetPriority { value: Priority },
    /// One step up; urgent stays urgent.
    RaisePriority,
    AssignUser { value: UserId },
    /// Sets the team; the owner is left as it is.
    AssignTeam { value: TeamId },
    AddTag { value: String },
    RemoveTag { value: String },
    Notify { to: Recipient, message: String },
    /// A public reply rendered from the template with this id.
    ReplyWithTemplate { template: i64 },
    /// A task for people (for the case's customer, or the customer whose tier changed),
    /// due this many days after the trigger fires; assigned to the case's owner if any.
    CreateTask { title: String, due_in_days: u32 },
}

impl Action {
    /// Whether this is an effect for the caller rather than a change to the facts.
    pub fn is_effect(&self) -> bool {
        matches!(
            self,
            Action::Notify { .. } | Action::ReplyWithTemplate { .. } | Action::CreateTask { .. }
        )
    }

    /// Whether the action makes sense without a case (for `tier_changed`).
    fn without_case(&self) -> bool {
        matches!(
            self,
            Action::AddTag { .. }
                | Action::CreateTask { .. }
                | Action::Notify {
                    to: Recipient::User(_) | Recipient::TeamManager,
                    ..
                }
        )
    }

    /// Applies a field-setting action to `facts`; returns whether anything changed. Effects
    /// change nothing here. A status is set as given: the caller checks the final status
    /// against the workflow ([`Workflow::check_transition`]).
    pub fn apply(&self, facts: &mut CaseFacts) -> bool {
        fn set<T: PartialEq>(slot: &mut T, v: T) -> bool {
            let changed = *slot != v;
            *slot = v;
            changed
        }
        match self {
            Action::SetStatus { value } => set(&mut facts.status, value.clone()),
            Action::SetPriority { value } => set(&mut facts.priority, *value),
            Action::RaisePriority => {
                let raised = facts.priority.raised();
                set(&mut facts.priority, raised)
            }
            Action::AssignUser { value } => set(&mut facts.owner, Some(*value)),
            Action::AssignTeam { value } => set(&mut facts.team, Some(*value)),
            Action::AddTag { value } => facts.tags.insert(value.clone()),
            Action::RemoveTag { value } => facts.tags.remove(value),
            Action::Notify { .. }
            | Action::ReplyWithTemplate { .. }
            | Action::CreateTask { .. } => false,
        }
    }

    /// Checks the values: tags in their normal form, statuses and messages not blank.
    pub fn validate(&self) -> Result<(), RuleError> {
        match self {
            Action::SetStatus { value } => check_text("a status", value, VALUE_MAX),
            Action::AddTag { value } | Action::RemoveTag { value } => check_tag(value),
            Action::Notify { message, .. } => check_text("a message", message, MESSAGE_MAX),
            Action::ReplyWithTemplate { template } if *template <= 0 => {
                Err(RuleError::Template(*template))
            }
            Action::CreateTask { title, due_in_days } => {
                check_text("a task title", title, VALUE_MAX)?;
                if *due_in_days > MAX_TASK_DAYS {
                    return Err(RuleError::TaskDays(*due_in_days));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Statuses named by conditions and actions must exist in the workflow.
fn check_statuses<'a>(
    w: &Workflow,
    conditions: impl IntoIterator<Item = &'a Condition>,
    actions: &[Action],
) -> Result<(), CaseError> {
    let named = conditions
        .into_iter()
        .filter_map(|c| match c {
            Condition::StatusIs { value } | Condition::StatusIsNot { value } => Some(value),
            _ => None,
        })
        .chain(actions.iter().filter_map(|a| match a {
            Action::SetStatus { value } => Some(value),
            _ => None,
        }));
    for s in named {
        if w.state(s).is_none() {
            return Err(CaseError::Status {
                got: preview(s, 40),
                known: w.keys_list(),
            });
        }
    }
    Ok(())
}

/// A rule: on `event`, when every condition holds, do the actions. Triggers run in
/// `(position, id)` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    pub id: i64,
    pub name: String,
    pub event: Event,
    /// All must hold.
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    pub position: i32,
    pub active: bool,
}

impl Trigger {
    /// Name 1-100 characters, 1-20 conditions, 1-20 actions, each valid.
    pub fn validate(&self) -> Result<(), RuleError> {
        let n = self.name.trim().chars().count();
        if n == 0 || n > NAME_MAX {
            return Err(RuleError::Name("trigger", n));
        }
        if !(1..=MAX_CONDITIONS).contains(&self.conditions.len()) {
            return Err(RuleError::Conditions(self.conditions.len()));
        }
        if !(1..=MAX_ACTIONS).contains(&self.actions.len()) {
            return Err(RuleError::Actions("trigger", self.actions.len()));
        }
        self.conditions.iter().try_for_each(Condition::validate)?;
        self.actions.iter().try_for_each(Action::validate)?;
        if self.event == Event::TierChanged {
            if !self.conditions.iter().all(Condition::about_tier_change) {
                return Err(RuleError::NotForEvent(
                    "a tier_changed trigger tests the change only: tier_is (the new tier),                      tier_was, tier_upgraded, tier_downgraded or customer_flagged"
                        .into(),
                ));
            }
            if !self.actions.iter().all(Action::without_case) {
                return Err(RuleError::NotForEvent(
                    "a tier_changed trigger has no case: use add_tag (tags the customer),                      create_task, or notify a user or team_manager (the managers)"
                        .into(),
                ));
            }
        } else if self.conditions.iter().any(|c| {
            matches!(
                c,
                Condition::TierWas { .. } | Condition::TierUpgraded | Condition::TierDowngraded
            )
        }) {
            return Err(RuleError::NotForEvent(
                "tier_was, tier_upgraded and tier_downgraded hold only on the tier_changed event"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Checks that every status the trigger tests or sets is a state of `workflow`.
    pub fn check_statuses(&self, workflow: &Workflow) -> Result<(), CaseError> {
        check_statuses(workflow, &self.conditions, &self.actions)
    }

    /// Whether every condition holds for `facts`.
    pub fn matches(&self, facts: &CaseFacts) -> bool {
        self.conditions.iter().all(|c| c.holds(facts))
    }
}

/// What a run of triggers did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The facts after every fired trigger's actions.
    pub facts: CaseFacts,
    /// Ids of the triggers that fired, in firing order.
    pub fired: Vec<i64>,
    /// Notify and reply-with-template actions, in order, for the caller to carry out.
    pub effects: Vec<Action>,
}

/// Runs the active triggers for `event` over `facts`, in `(position, id)` order. A trigger fires
/// when all its conditions hold on the facts as they are at that moment (earlier triggers' changes
/// included), and fires at most once per run. After a pass in which the facts changed, another
/// pass looks at the triggers that have not fired yet, so an earlier trigger may react to a later
/// one's change; at most [`MAX_PASSES`] passes. Always terminates.
pub fn run_triggers(triggers: &[Trigger], event: Event, facts: &CaseFacts) -> Outcome {
    let mut list: Vec<&Trigger> = triggers
        .iter()
        .filter(|t| t.active && t.event == event)
        .collect();
    list.sort_by_key(|t| (t.position, t.id));
    let mut out = Outcome {
        facts: facts.clone(),
        fired: Vec::new(),
        effects: Vec::new(),
    };
    let mut done = vec![false; list.len()];
    for _ in 0..MAX_PASSES {
        let mut changed = false;
        for (t, done) in list.iter().zip(done.iter_mut()) {
            if *done || !t.matches(&out.facts) {
                continue;
            }
            *done = true;
            out.fired.push(t.id);
            for a in &t.actions {
                if a.is_effect() {
                    out.effects.push(a.clone());
                } else {
                    changed |= a.apply(&mut out.facts);
                }
            }
        }
        if !changed {
            break;
        }
    }
    out
}

/// A customer's tier change as `tier_changed` triggers see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TierChange {
    pub from: Option<String>,
    pub to: Option<String>,
    /// Moved to a better tier (else a lower one, or out of every tier).
    pub upgrade: bool,
    pub customer_flags: BTreeSet<String>,
}

/// Runs the active `tier_changed` triggers over one change, in `(position, id)` order: each
/// whose conditions all hold fires once. Returns the ids fired and their actions, in order,
/// for the caller to carry out.
pub fn run_tier_triggers(triggers: &[Trigger], change: &TierChange) -> (Vec<i64>, Vec<Action>) {
    let mut list: Vec<&Trigger> = triggers
        .iter()
        .filter(|t| t.active && t.event == Event::TierChanged)
        .collect();
    list.sort_by_key(|t| (t.position, t.id));
    let mut fired = Vec::new();
    let mut actions = Vec::new();
    for t in list {
        if t.conditions.iter().all(|c| c.holds_for_change(change)) {
            fired.push(t.id);
            actions.extend(t.actions.iter().cloned());
        }
    }
    (fired, actions)
}

/// A canned set of actions an agent applies by hand, with an optional reply text for the
/// composer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Macro {
    pub id: i64,
    pub name: String,
    pub actions: Vec<Action>,
    /// Text put in the agent's reply box (placeholders are filled in by `personalize`).
    pub reply_template: Option<String>,
}

impl Macro {
    /// Name 1-100 characters; up to 20 valid actions; at least one action or a reply text,
    /// which must itself be a valid message body.
    pub fn validate(&self) -> Result<(), RuleError> {
        let n = self.name.trim().chars().count();
        if n == 0 || n > NAME_MAX {
            return Err(RuleError::Name("macro", n));
        }
        if self.actions.is_empty() && self.reply_template.is_none() {
            return Err(RuleError::EmptyMacro);
        }
        if self.actions.len() > MAX_ACTIONS {
            return Err(RuleError::Actions("macro", self.actions.len()));
        }
        if let Some(t) = &self.reply_template {
            case::body(t)?;
        }
        self.actions.iter().try_for_each(Action::validate)
    }

    /// Checks that every status the macro sets is a state of `workflow`.
    pub fn check_statuses(&self, workflow: &Workflow) -> Result<(), CaseError> {
        check_statuses(workflow, [], &self.actions)
    }
}

/// Applies a macro's actions in order: returns the new facts and the effects (notify /
/// reply-with-template actions) for the caller. The macro's `reply_template` is for the
/// composer and is not among the effects.
pub fn apply_macro(m: &Macro, facts: &CaseFacts) -> (CaseFacts, Vec<Action>) {
    let mut facts = facts.clone();
    let mut effects = Vec::new();
    for a in &m.actions {
        if a.is_effect() {
            effects.push(a.clone());
        } else {
            a.apply(&mut facts);
        }
    }
    (facts, effects)
}

/// A minimal self-describing in-memory serde format, so this crate (which has no JSON
/// dependency) can test round trips of its stored types. `V` mirrors JSON.
#[cfg(test)]
pub(crate) mod test_serde {
    use serde::de::value::{Error, MapAccessDeserializer, MapDeserializer, SeqDeserializer};
    use serde::de::{DeserializeOwned, Error as _, IntoDeserializer, Visitor};
    use serde::ser::{self, Impossible, Serialize};

    #[derive(Debug, Clone, PartialEq)]
    pub enum V {
        Unit,
        Bool(bool),
        I(i64),
        U(u64),
        S(String),
        Seq(Vec<V>),
        Map(Vec<(V, V)>),
    }

    pub fn s(v: &str) -> V {
        V::S(v.to_string())
    }

    pub fn map(entries: &[(&str, V)]) -> V {
        V::Map(entries.iter().map(|(k, v)| (s(k), v.clone())).collect())
    }

    pub fn to_value<T: Serialize + ?Sized>(t: &T) -> V {
        t.serialize(Ser).unwrap()
    }

    pub fn from_value<T: DeserializeOwned>(v: V) -> Result<T, Error> {
        T::deserialize(v)
    }

    pub fn round_trip<T: Serialize + DeserializeOwned>(t: &T) -> T {
        from_value(to_value(t)).unwrap()
    }

    type R = Result<V, Error>;
    type No = Impossible<V, Error>;
    struct Ser;
    struct Seq(Vec<V>);
    struct Struct(Vec<(V, V)>);

    macro_rules! seq {
        ($($tr:ident),*) => {$(
            impl ser::$tr for Seq {
                type Ok = V;
                type Error = Error;
                fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
                    self.0.push(v.serialize(Ser)?);
                    Ok(())
                }
                fn end(self) -> R { Ok(V::Seq(self.0)) }
            }
        )*};
    }
    seq!(SerializeSeq, SerializeTuple);

    impl ser::SerializeStruct for Struct {
        type Ok = V;
        type Error = Error;
        fn serialize_field<T: Serialize + ?Sized>(&mut self, k: &str, v: &T) -> Result<(), Error> {
            self.0.push((s(k), v.serialize(Ser)?));
            Ok(())
        }
        fn end(self) -> R {
            Ok(V::Map(self.0))
        }
    }

    macro_rules! methods {
        ($($f:ident($($a:ty),*) -> $r:ty = $body:expr;)*) => {$(
            fn $f(self, $(_: $a),*) -> Result<$r, Error> { $body }
        )*};
    }
    macro_rules! ints {
        ($($f:ident: $t:ty => $v:ident;)*) => {$(
            fn $f(self, x: $t) -> R { Ok(V::$v(x.into())) }
        )*};
    }

    impl ser::Serializer for Ser {
        type Ok = V;
        type Error = Error;
        type SerializeSeq = Seq;
        type SerializeTuple = Seq;
        type SerializeStruct = Struct;
        type SerializeTupleStruct = No;
        type SerializeTupleVariant = No;
        type SerializeMap = No;
        type SerializeStructVariant = No;
        ints! {
            serialize_i8: i8 => I; serialize_i16: i16 => I; serialize_i32: i32 => I;
            serialize_i64: i64 => I; serialize_u8: u8 => U; serialize_u16: u16 => U;
            serialize_u32: u32 => U; serialize_u64: u64 => U; serialize_bool: bool => Bool;
        }
        fn serialize_str(self, v: &str) -> R {
            Ok(s(v))
        }
        fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> R {
            v.serialize(self)
        }
        fn serialize_unit_variant(self, _: &'static str, _: u32, var: &'static str) -> R {
            Ok(s(var))
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &str, v: &T) -> R {
            v.serialize(self)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            var: &'static str,
            v: &T,
        ) -> R {
            Ok(V::Map(vec![(s(var), v.serialize(self)?)]))
        }
        methods! {
            serialize_none() -> V = Ok(V::Unit);
            serialize_unit() -> V = Ok(V::Unit);
            serialize_seq(Option<usize>) -> Seq = Ok(Seq(Vec::new()));
            serialize_tuple(usize) -> Seq = Ok(Seq(Vec::new()));
            serialize_struct(&'static str, usize) -> Struct = Ok(Struct(Vec::new()));
            serialize_f32(f32) -> V = Err(Error::custom("f32"));
            serialize_f64(f64) -> V = Err(Error::custom("f64"));
            serialize_char(char) -> V = Err(Error::custom("char"));
            serialize_bytes(&[u8]) -> V = Err(Error::custom("bytes"));
            serialize_unit_struct(&'static str) -> V = Err(Error::custom("unit struct"));
            serialize_tuple_struct(&'static str, usize) -> No =
                Err(Error::custom("tuple struct"));
            serialize_tuple_variant(&'static str, u32, &'static str, usize) -> No =
                Err(Error::custom("tuple variant"));
            serialize_map(Option<usize>) -> No = Err(Error::custom("map"));
            serialize_struct_variant(&'static str, u32, &'static str, usize) -> No =
                Err(Error::custom("struct variant"));
        }
    }

    impl IntoDeserializer<'_, Error> for V {
        type Deserializer = V;
        fn into_deserializer(self) -> V {
            self
        }
    }

    impl<'de> serde::Deserializer<'de> for V {
        type Error = Error;
        fn deserialize_any<W: Visitor<'de>>(self, w: W) -> Result<W::Value, Error> {
            match self {
                V::Unit => w.visit_unit(),
                V::Bool(b) => w.visit_bool(b),
                V::I(i) => w.visit_i64(i),
                V::U(u) => w.visit_u64(u),
                V::S(s) => w.visit_string(s),
                V::Seq(v) => w.visit_seq(SeqDeserializer::new(v.into_iter())),
                V::Map(m) => w.visit_map(MapDeserializer::new(m.into_iter())),
            }
        }
        fn deserialize_option<W: Visitor<'de>>(self, w: W) -> Result<W::Value, Error> {
            match self {
                V::Unit => w.visit_none(),
                v => w.visit_some(v),
            }
        }
        fn deserialize_newtype_struct<W: Visitor<'de>>(
            self,
            _: &str,
            w: W,
        ) -> Result<W::Value, Error> {
            w.visit_newtype_struct(self)
        }
        fn deserialize_enum<W: Visitor<'de>>(
            self,
            _: &str,
            _: &[&str],
            w: W,
        ) -> Result<W::Value, Error> {
            match self {
                V::S(s) => w.visit_enum(IntoDeserializer::<Error>::into_deserializer(s)),
                V::Map(m) => w.visit_enum(MapAccessDeserializer::new(MapDeserializer::new(
                    m.into_iter(),
                ))),
                other => Err(Error::custom(format!("not an enum: {other:?}"))),
            }
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_serde::{V, from_value, map, round_trip, s, to_value};
    use super::*;

    fn facts() -> CaseFacts {
        CaseFacts {
            status: "new".into(),
            priority: Priority::Normal,
            channel: Channel::Email,
            kind: "question".into(),
            tags: BTreeSet::new(),
            owner: None,
            team: None,
            tier: None,
            subject: "关于退款的问题 / Refund please".into(),
            customer_flags: BTreeSet::new(),
        }
    }

    fn trigger(
        id: i64,
        position: i32,
        conditions: Vec<Condition>,
        actions: Vec<Action>,
    ) -> Trigger {
        let name = format!("trigger {id}");
        let (event, active) = (Event::Created, true);
        Trigger {
            id,
            name,
            event,
            conditions,
            actions,
            position,
            active,
        }
    }

    /// A condition from its stored form, `{"op": op, "value": value}` (no value when empty).
    fn cond(op: &str, value: &str) -> Condition {
        let v = if value.is_empty() {
            map(&[("op", s(op))])
        } else {
            map(&[("op", s(op)), ("value", s(value))])
        };
        from_value(v).unwrap()
    }

    /// An action from its stored form, `{"action": action, "value": value}`.
    fn act(action: &str, value: &str) -> Action {
        let v = if value.is_empty() {
            map(&[("action", s(action))])
        } else {
            map(&[("action", s(action)), ("value", s(value))])
        };
        from_value(v).unwrap()
    }

    fn notify(message: &str) -> Action {
        Action::Notify {
            to: Recipient::TeamManager,
            message: message.into(),
        }
    }

    #[test]
    fn events_parse() {
        for e in Event::ALL {
            assert_eq!(Event::parse(e.as_str()).unwrap(), e);
        }
        assert_eq!(
            Event::parse(" Customer_Replied ").unwrap(),
            Event::CustomerReplied
        );
        let e = Event::parse("deleted").unwrap_err().to_string();
        assert!(
            e.contains("'deleted'") && e.contains("target_breached"),
            "{e}"
        );
    }

    #[test]
    fn conditions_test_the_facts() {
        let mut f = facts();
        f.priority = Priority::High;
        f.tags.insert("vip".into());
        f.team = Some(TeamId(3));
        f.tier = Some("gold".into());
        f.customer_flags.insert("abusive".into());
        let table = [
            ("status_is", "new", true),
            ("status_is_not", "new", false),
            ("priority_is", "high", true),
            ("priority_at_least", "normal", true),
            ("priority_at_least", "high", true),
            ("priority_at_least", "urgent", false),
            ("channel_is", "email", true),
            ("channel_is", "phone", false),
            ("kind_is", "question", true),
            ("tier_is", "gold", true),
            ("tier_is", "silver", false),
            ("has_tag", "vip", true),
            ("has_tag", "refund", false),
            ("lacks_tag", "refund", true),
            ("owner_unset", "", true),
            ("owner_set", "", false),
            ("customer_flagged", "abusive", true),
            ("customer_flagged", "vip", false),
        ];
        for (op, value, expected) in table {
            assert_eq!(cond(op, value).holds(&f), expected, "{op} {value}");
        }
        assert!(Condition::TeamIs { value: TeamId(3) }.holds(&f));
        assert!(!Condition::TeamIs { value: TeamId(4) }.holds(&f));
        f.tier = None;
        f.owner = Some(UserId(1));
        assert!(!cond("tier_is", "gold").holds(&f) && cond("owner_set", "").holds(&f));
    }

    #[test]
    fn subject_contains_is_case_insensitive_in_any_script() {
        let mut f = facts();
        let contains = |f: &CaseFacts, v: &str| cond("subject_contains", v).holds(f);
        assert!(contains(&f, "退款") && contains(&f, "REFUND"));
        assert!(!contains(&f, "退货"));
        f.subject = "환불 요청드립니다".into();
        assert!(contains(&f, "환불"));
        f.subject = "GROSSER ÄRGER".into();
        assert!(contains(&f, "ärger"));
    }

    #[test]
    fn actions_change_facts_and_report_it() {
        let mut f = facts();
        let open = act("set_status", "open");
        assert!(open.apply(&mut f) && !open.apply(&mut f));
        assert!(act("raise_priority", "").apply(&mut f));
        assert_eq!(f.priority, Priority::High);
        assert!(act("set_priority", "urgent").apply(&mut f));
        assert!(!Action::RaisePriority.apply(&mut f), "urgent stays urgent");
        let assign = Action::AssignUser { value: UserId(9) };
        assert!(assign.apply(&mut f) && !assign.apply(&mut f));
        assert!(Action::AssignTeam { value: TeamId(2) }.apply(&mut f));
        assert_eq!((f.owner, f.team), (Some(UserId(9)), Some(TeamId(2))));
        let (add, remove) = (act("add_tag", "refund"), act("remove_tag", "refund"));
        assert!(add.apply(&mut f) && !add.apply(&mut f));
        assert!(remove.apply(&mut f) && !remove.apply(&mut f));
        let before = f.clone();
        assert!(notify("hi").is_effect() && !notify("hi").apply(&mut f));
        assert!(!Action::ReplyWithTemplate { template: 1 }.apply(&mut f));
        assert_eq!(f, before);
    }

    #[test]
    fn triggers_run_in_position_then_id_order_and_skip_inactive_or_other_events() {
        let always = || vec![cond("status_is", "new")];
        let mut off = trigger(1, 0, always(), vec![notify("inactive")]);
        off.active = false;
        let mut other = trigger(2, 0, always(), vec![notify("other event")]);
        other.event = Event::CustomerReplied;
        let triggers = [
            trigger(9, 2, always(), vec![notify("c")]),
            trigger(7, 1, always(), vec![notify("b")]),
            trigger(8, 1, vec![cond("has_tag", "nope")], vec![notify("never")]),
            trigger(3, 1, always(), vec![notify("a"), act("add_tag", "seen")]),
            off,
            other,
        ];
        let out = run_triggers(&triggers, Event::Created, &facts());
        assert_eq!(out.fired, [3, 7, 9]);
        assert_eq!(out.effects, [notify("a"), notify("b"), notify("c")]);
        assert!(out.facts.tags.contains("seen"));
        let none = run_triggers(&triggers, Event::TargetBreached, &facts());
        assert!(none.fired.is_empty() && none.effects.is_empty());
        assert_eq!(none.facts, facts());
    }

    #[test]
    fn an_earlier_trigger_reacts_to_a_later_ones_change_in_the_next_pass() {
        let escalate = trigger(
            1,
            1,
            vec![cond("priority_at_least", "high")],
            vec![notify("!")],
        );
        let refund = trigger(
            2,
            2,
            vec![cond("subject_contains", "退款")],
            vec![Action::RaisePriority, act("add_tag", "退款")],
        );
        let out = run_triggers(&[escalate, refund], Event::Created, &facts());
        assert_eq!(out.fired, [2, 1]);
        assert_eq!(out.facts.priority, Priority::High);
        assert!(out.facts.tags.contains("退款"));
        assert_eq!(out.effects, [notify("!")]);
    }

    #[test]
    fn ping_pong_triggers_terminate_each_firing_once() {
        let swap = |from: &str, to: &str| vec![act("remove_tag", from), act("add_tag", to)];
        let a = trigger(1, 1, vec![cond("has_tag", "x")], swap("x", "y"));
        let b = trigger(2, 2, vec![cond("has_tag", "y")], swap("y", "x"));
        let mut f = facts();
        f.tags.insert("x".into());
        let out = run_triggers(&[a.clone(), b.clone()], Event::Created, &f);
        assert_eq!(out.fired, [1, 2]);
        assert_eq!(out.facts.tags, BTreeSet::from(["x".to_string()]));
        // In the other order B waits for A's change, one pass later.
        let (mut a2, mut b2) = (a, b);
        (a2.position, b2.position) = (2, 1);
        let out = run_triggers(&[a2, b2], Event::Created, &f);
        assert_eq!(out.fired, [1, 2]);
    }

    #[test]
    fn a_chain_stops_after_the_pass_limit() {
        // Trigger i needs tag t{i} and adds t{i+1}; each sits before its predecessor, so each
        // pass fires exactly one.
        let chain: Vec<Trigger> = (0..15)
            .map(|i| {
                let (when, then) = (format!("t{i}"), format!("t{}", i + 1));
                trigger(
                    i,
                    100 - i as i32,
                    vec![cond("has_tag", &when)],
                    vec![act("add_tag", &then)],
                )
            })
            .collect();
        let mut f = facts();
        f.tags.insert("t0".into());
        let out = run_triggers(&chain, Event::Created, &f);
        assert_eq!(out.fired, (0..MAX_PASSES as i64).collect::<Vec<_>>());
        assert!(out.facts.tags.contains(&format!("t{MAX_PASSES}")));
        assert!(!out.facts.tags.contains(&format!("t{}", MAX_PASSES + 1)));
    }

    #[test]
    fn triggers_are_validated() {
        let ok = trigger(
            1,
            0,
            vec![cond("has_tag", "vip")],
            vec![Action::RaisePriority],
        );
        ok.validate().unwrap();
        let with = |f: &dyn Fn(&mut Trigger)| {
            let mut t = ok.clone();
            f(&mut t);
            t.validate().unwrap_err()
        };
        assert_eq!(
            with(&|t| t.name = "  ".into()),
            RuleError::Name("trigger", 0)
        );
        assert_eq!(
            with(&|t| t.name = "n".repeat(101)),
            RuleError::Name("trigger", 101)
        );
        assert_eq!(with(&|t| t.conditions.clear()), RuleError::Conditions(0));
        let e = with(&|t| t.actions = vec![Action::RaisePriority; 21]);
        assert_eq!(e, RuleError::Actions("trigger", 21));
        let e = with(&|t| t.conditions[0] = cond("has_tag", "VIP")).to_string();
        assert_eq!(e, "write tag 'VIP' as 'vip'");
        let e = with(&|t| t.actions[0] = act("add_tag", "a b"));
        assert!(matches!(e, RuleError::Case(CaseError::Tag(_))), "{e}");
        let e = with(&|t| t.conditions[0] = cond("subject_contains", " "));
        assert!(e.to_string().contains("subject text must be 1-200"), "{e}");
        let e = with(&|t| t.conditions[0] = cond("kind_is", "Follow Up"));
        assert!(e.to_string().contains("'follow_up'"), "{e}");
        let e = with(&|t| t.actions[0] = Action::ReplyWithTemplate { template: 0 });
        assert_eq!(e, RuleError::Template(0));
        let e = with(&|t| t.actions[0] = notify(" "));
        assert!(e.to_string().contains("message must be 1-1000"), "{e}");

        let w = Workflow::default();
        let mut t = ok.clone();
        t.conditions.push(cond("status_is_not", "closed"));
        t.actions.push(act("set_status", "pending"));
        t.check_statuses(&w).unwrap();
        t.actions.push(act("set_status", "escalated"));
        let e = t.check_statuses(&w).unwrap_err().to_string();
        assert!(e.contains("'escalated'") && e.contains("on_hold"), "{e}");
    }

    #[test]
    fn macros_are_validated_and_apply_actions_returning_effects() {
        let empty = Macro {
            id: 1,
            name: "Refund".into(),
            actions: vec![],
            reply_template: None,
        };
        assert_eq!(empty.validate().unwrap_err(), RuleError::EmptyMacro);
        let text_only = Macro {
            reply_template: Some("Your refund is on its way.".into()),
            ..empty
        };
        text_only.validate().unwrap();
        let blank = Macro {
            reply_template: Some(" ".into()),
            ..text_only.clone()
        };
        assert!(blank.validate().is_err());
        let m = Macro {
            id: 4,
            name: "Refund: ask for receipt".into(),
            actions: vec![
                act("add_tag", "refund"),
                act("set_status", "pending"),
                Action::ReplyWithTemplate { template: 12 },
                Action::AssignUser { value: UserId(5) },
                Action::Notify {
                    to: Recipient::User(UserId(8)),
                    message: "fyi".into(),
                },
            ],
            reply_template: Some("Please send the receipt.".into()),
        };
        m.validate().unwrap();
        m.check_statuses(&Workflow::default()).unwrap();
        let before = facts();
        let (after, effects) = apply_macro(&m, &before);
        assert_eq!(before, facts(), "the input is untouched");
        assert_eq!(
            (after.status.as_str(), after.owner),
            ("pending", Some(UserId(5)))
        );
        assert!(after.tags.contains("refund"));
        assert_eq!(effects, [m.actions[2].clone(), m.actions[4].clone()]);
        let solved = Macro {
            actions: vec![act("set_status", "Solved")],
            ..m
        };
        assert!(
            solved.check_statuses(&Workflow::default()).is_err(),
            "keys are exact"
        );
    }

    #[test]
    fn rules_have_the_documented_json_shape_and_round_trip() {
        let c = map(&[("op", s("priority_at_least")), ("value", s("high"))]);
        let c: Condition = from_value(c).unwrap();
        assert_eq!(
            c,
            Condition::PriorityAtLeast {
                value: Priority::High
            }
        );
        assert_eq!(cond("owner_unset", ""), Condition::OwnerUnset);
        assert!(from_value::<Condition>(map(&[("op", s("owner_is_nice"))])).is_err());
        let to_user = map(&[
            ("action", s("notify")),
            ("to", map(&[("user", V::I(42))])),
            ("message", s("Your customer wrote again")),
        ]);
        let message = "Your customer wrote again".to_string();
        let expected = Action::Notify {
            to: Recipient::User(UserId(42)),
            message,
        };
        assert_eq!(from_value::<Action>(to_user).unwrap(), expected);
        let to_manager = map(&[
            ("action", s("notify")),
            ("to", s("team_manager")),
            ("message", s("m")),
        ]);
        assert_eq!(from_value::<Action>(to_manager).unwrap(), notify("m"));
        assert_eq!(
            to_value(&Action::ReplyWithTemplate { template: 7 }),
            map(&[("action", s("reply_with_template")), ("template", V::I(7))])
        );
        let conditions = vec![
            cond("subject_contains", "退款"),
            Condition::TeamIs { value: TeamId(2) },
        ];
        let actions = vec![
            act("set_priority", "urgent"),
            notify("!"),
            Action::RaisePriority,
        ];
        let t = trigger(5, 3, conditions, actions);
        assert_eq!(round_trip(&t), t);
        let mut f = facts();
        f.tags.insert("vip".into());
        f.owner = Some(UserId(3));
        assert_eq!(round_trip(&f), f);
    }

    #[test]
    fn tier_triggers_test_the_change_and_act_without_a_case() {
        let task = Action::CreateTask {
            title: "Welcome call".into(),
            due_in_days: 2,
        };
        let mut welcome = trigger(
            1,
            0,
            vec![cond("tier_is", "Platinum"), cond("tier_upgraded", "")],
            vec![task.clone(), act("add_tag", "platinum-welcome")],
        );
        welcome.event = Event::TierChanged;
        assert_eq!(welcome.validate(), Ok(()));
        let mut lost = trigger(
            2,
            1,
            vec![cond("tier_was", "Gold"), cond("tier_downgraded", "")],
            vec![notify("lost a Gold")],
        );
        lost.event = Event::TierChanged;
        assert_eq!(lost.validate(), Ok(()));
        let mut case_trigger = trigger(3, 0, vec![cond("tier_is", "Platinum")], vec![notify("x")]);
        case_trigger.event = Event::Created;
        let all = [welcome.clone(), lost.clone(), case_trigger];

        let up = TierChange {
            from: Some("Gold".into()),
            to: Some("Platinum".into()),
            upgrade: true,
            customer_flags: BTreeSet::new(),
        };
        let (fired, actions) = run_tier_triggers(&all, &up);
        assert_eq!(fired, vec![1]);
        assert_eq!(actions, vec![task, act("add_tag", "platinum-welcome")]);
        let down = TierChange {
            from: Some("Gold".into()),
            to: Some("Silver".into()),
            upgrade: false,
            customer_flags: BTreeSet::new(),
        };
        assert_eq!(run_tier_triggers(&all, &down).0, vec![2]);

        // A tier_changed trigger cannot test a case or act on one ...
        let mut bad = welcome.clone();
        bad.conditions.push(cond("status_is", "new"));
        assert!(matches!(bad.validate(), Err(RuleError::NotForEvent(_))));
        let mut bad = welcome.clone();
        bad.actions.push(act("set_priority", "high"));
        assert!(matches!(bad.validate(), Err(RuleError::NotForEvent(_))));
        let mut bad = welcome.clone();
        bad.actions = vec![Action::Notify {
            to: Recipient::Owner,
            message: "m".into(),
        }];
        assert!(matches!(bad.validate(), Err(RuleError::NotForEvent(_))));
        // ... and a case trigger cannot test a change.
        let mut bad = welcome;
        bad.event = Event::Created;
        assert!(matches!(bad.validate(), Err(RuleError::NotForEvent(_))));
        assert!(!cond("tier_was", "Gold").holds(&facts()));
        let too_late = Action::CreateTask {
            title: "t".into(),
            due_in_days: 400,
        };
        assert_eq!(too_late.validate(), Err(RuleError::TaskDays(400)));
    }
}
