//! Case use cases (issue 4, principles P4/P11/P12): open a case for a customer, reply on the
//! channel it came in on, note, change status/priority/owner, hand it to another team and
//! back, merge, run the tenant's triggers and macros, keep the service-level targets (on the
//! tenant's business hours, paused while waiting) and fire escalations once.
//!
//! Each action loads the case, asks the domain rules what follows (workflow transitions,
//! target clocks, triggers, assignment), and writes everything it decided as one
//! [`CaseWrite`] under an optimistic version check, retrying a few times when another writer
//! got there first. Every change becomes an event on the case and on the customer's timeline.

use crate::App;
use concierge_domain::case::{
    self, AgentLoad, CaseError as RuleCaseError, Category, Channel, Kind, Priority, ReplyEffect,
    ReplyRoute, Strategy, Workflow,
};
use concierge_domain::personalize::Escape;
use concierge_domain::rules::{self, Action, CaseFacts, Event, Macro, Recipient, Trigger};
use concierge_domain::sla::{
    self, Calendar, CalendarSpec, EscalationRule, Policy, Target, TargetKind, TargetStatus,
};
use concierge_domain::{CaseId, CustomerId, EmailAddress, Role, TeamId, TenantId, UserId};
use concierge_store::cases::{
    CaseEventRow, CaseFilter, CaseRow, CaseWithTargets, CaseWrite, HandoffRow, InboundRecord,
    MessageRow, NewAttachment, NewCase, NewEvent, NewHandoff, NewMessage, NewNotification,
    NewTarget, NewTask, PresenceRow, QueueOrder, TargetRow, TeamRow,
};
use concierge_store::{StoreError, UserRow};
use serde::Serialize;
use std::collections::BTreeSet;

/// Why a case action was refused.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// The input is wrong; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// No such case (or customer, team, user) in this tenant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The action is not allowed in the case's current state.
    #[error("{0}")]
    State(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RuleCaseError> for CaseError {
    fn from(e: RuleCaseError) -> Self {
        CaseError::Invalid(e.to_string())
    }
}

impl From<sla::SlaError> for CaseError {
    fn from(e: sla::SlaError) -> Self {
        CaseError::Invalid(e.to_string())
    }
}

impl From<rules::RuleError> for CaseError {
    fn from(e: rules::RuleError) -> Self {
        CaseError::Invalid(e.to_string())
    }
}

type Result<T, E = CaseError> = std::result::Result<T, E>;

/// Who is acting.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    User(&'a UserRow),
    Customer(CustomerId),
    System,
}

impl Actor<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Actor::User(_) => "user",
            Actor::Customer(_) => "customer",
            Actor::System => "system",
        }
    }
    fn id(&self) -> Option<i64> {
        match self {
            Actor::User(u) => Some(u.id.0),
            Actor::Customer(c) => Some(c.0),
            Actor::System => None,
        }
    }
    fn user_id(&self) -> Option<i64> {
        match self {
            Actor::User(u) => Some(u.id.0),
            _ => None,
        }
    }
}

/// Ties a message to the inbound mail it was made from: the mail is linked in the same
/// transaction as the message, and a mail already stored refuses the write (exactly once; see
/// `concierge_store::cases::NewMessage::inbound_mail_id`).
#[derive(Debug, Clone, Default)]
pub struct MailLink {
    pub inbound_id: i64,
    /// The mail's Message-ID, for threading later replies.
    pub mail_message_id: String,
    /// The address the mail came from.
    pub author_email: Option<String>,
    /// A staff reply sent from a mail client: it already reached the customer, so it is
    /// recorded as delivered by email and never sent again.
    pub sent_by_mail_client: bool,
    /// The outcome recorded on the inbound row with the message (one commit for both).
    pub record: Option<InboundRecord>,
}

impl MailLink {
    fn apply(link: Option<&MailLink>, m: &mut NewMessage) {
        let Some(l) = link else {
            return;
        };
        m.inbound_mail_id = Some(l.inbound_id);
        m.inbound_record = l.record.clone();
        m.mail_message_id = Some(l.mail_message_id.clone());
        if l.author_email.is_some() {
            m.author_email = l.author_email.clone();
        }
        if l.sent_by_mail_client {
            m.route = Some("email".into());
            m.delivery_state = Some("sent_by_mail_client".into());
        }
    }
}

/// Where a message written by a case use case landed: its case (id and number) and the
/// message, so the mail pipeline need not read them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Landed {
    pub case_id: i64,
    pub case_number: i64,
    pub message_id: Option<i64>,
}

impl Landed {
    fn of(a: &concierge_store::cases::Applied) -> Landed {
        Landed {
            case_id: a.case_id,
            case_number: a.case_number,
            message_id: a.message_ids.first().copied(),
        }
    }
}

/// The customer of a new case: an existing one, or found (or created) by email.
#[derive(Debug, Clone)]
pub enum CustomerRef {
    Id(i64),
    Email { email: String, name: Option<String> },
}

/// A new case as sent by a client.
#[derive(Debug, Clone)]
pub struct NewCaseInput {
    pub subject: String,
    pub body: String,
    pub channel: String,
    pub kind: Option<String>,
    pub priority: Option<String>,
    pub customer: CustomerRef,
    pub team_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub tags: Vec<String>,
    pub order_id: Option<i64>,
    pub parent_case_id: Option<i64>,
    pub attachments: Vec<NewAttachment>,
}

impl NewCaseInput {
    /// A case of `customer` with nothing but its subject, first message and channel set.
    pub fn new(
        customer: CustomerRef,
        subject: impl Into<String>,
        body: impl Into<String>,
        channel: &str,
    ) -> NewCaseInput {
        NewCaseInput {
            subject: subject.into(),
            body: body.into(),
            channel: channel.to_string(),
            kind: None,
            priority: None,
            customer,
            team_id: None,
            owner_id: None,
            tags: Vec::new(),
            order_id: None,
            parent_case_id: None,
            attachments: Vec::new(),
        }
    }
}

/// A change to a case as sent by a client; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct CasePatch {
    pub subject: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub kind: Option<String>,
    /// `Some(None)` unassigns.
    pub owner_id: Option<Option<i64>>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
    /// Custom fields to set (`null` removes one); the others are kept.
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// The version the client saw; a stale one is a conflict.
    pub version: Option<i64>,
}

/// Most custom fields on one case.
pub const CUSTOM_FIELDS_MAX: usize = 50;

/// Merges `changes` into a case's custom fields: keys are 1-64 characters of `a-z`, `0-9`,
/// `_`, `-`; values are text (at most 1,000 characters), numbers or true/false; `null`
/// removes a field.
pub fn merge_custom_fields(
    current: &serde_json::Value,
    changes: &serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut out = current.as_object().cloned().unwrap_or_default();
    for (k, v) in changes {
        let ok_key = (1..=64).contains(&k.len())
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok_key {
            return Err(CaseError::Invalid(format!(
                "{} is not a custom field name (1-64 of a-z, 0-9, _ and -)",
                concierge_domain::customer::preview(k, 30)
            )));
        }
        match v {
            serde_json::Value::Null => {
                out.remove(k);
            }
            serde_json::Value::String(t) if t.chars().count() > 1000 => {
                return Err(CaseError::Invalid(format!(
                    "custom field {k} is longer than 1000 characters"
                )));
            }
            serde_json::Value::String(_)
            | serde_json::Value::Number(_)
            | serde_json::Value::Bool(_) => {
                out.insert(k.clone(), v.clone());
            }
            _ => {
                return Err(CaseError::Invalid(format!(
                    "custom field {k} must be text, a number or true/false"
                )));
            }
        }
    }
    if out.len() > CUSTOM_FIELDS_MAX {
        return Err(CaseError::Invalid(format!(
            "a case takes at most {CUSTOM_FIELDS_MAX} custom fields"
        )));
    }
    Ok(out)
}

/// An agent's message on a case.
#[derive(Debug, Clone, Default)]
pub struct ReplyInput {
    pub body: String,
    /// An internal note instead of a public reply.
    pub internal: bool,
    /// Overrides the reply route (default: the channel of origin's).
    pub route: Option<String>,
    /// A reply template to render for the customer (used when `body` is empty, else appended
    /// to nothing: the body wins).
    pub template_id: Option<i64>,
    /// Status to set with the reply (e.g. pending, solved).
    pub status: Option<String>,
    pub attachments: Vec<NewAttachment>,
}

/// A target with its state now, for display.
#[derive(Debug, Clone, Serialize)]
pub struct TargetView {
    #[serde(flatten)]
    pub row: TargetRow,
    pub state: TargetStatus,
}

impl CaseDetail {
    /// What the customer sees for the case's status in `locale`.
    pub fn customer_label(&self, locale: concierge_domain::Locale) -> &str {
        self.customer_labels
            .get(locale.tag())
            .map_or(self.case.status.as_str(), String::as_str)
    }
}

/// Everything a staff member sees of a case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub case: CaseRow,
    pub tier: Option<String>,
    /// What the customer sees for the status, in every interface language, by language tag
    /// (`en`, `zh-CN`, `ko`); see [`CaseDetail::customer_label`].
    pub customer_labels: std::collections::BTreeMap<&'static str, String>,
    pub allowed_statuses: Vec<String>,
    pub messages: Vec<MessageRow>,
    pub events: Vec<CaseEventRow>,
    pub targets: Vec<TargetView>,
    pub handoffs: Vec<HandoffRow>,
    pub presence: Vec<PresenceRow>,
}

/// A saved view of cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// Open cases the caller owns.
    Mine,
    /// Open cases nobody owns.
    Unassigned,
    /// Open cases with a target due within the hour (or overdue), soonest first.
    Breaching,
    /// Cases handed to a team that has not taken them up yet.
    Handoff,
    /// Every open case.
    Open,
    /// Solved and closed cases.
    Done,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Mine,
        View::Unassigned,
        View::Breaching,
        View::Handoff,
        View::Open,
        View::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            View::Mine => "mine",
            View::Unassigned => "unassigned",
            View::Breaching => "breaching",
            View::Handoff => "handoff",
            View::Open => "open",
            View::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Result<View> {
        View::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                CaseError::Invalid(format!(
                    "{} is not a view (use mine, unassigned, breaching, handoff, open or done)",
                    concierge_domain::customer::preview(s, 30)
                ))
            })
    }
}

/// A queue page: the cases, the (capped) count and where the next page starts.
#[derive(Debug, Clone, Serialize)]
pub struct QueuePage {
    pub view: View,
    pub count: i64,
    pub count_capped: bool,
    pub cases: Vec<CaseRow>,
    pub next_cursor: Option<String>,
}

/// Counts shown next to each view; never more than this many are counted.
pub const QUEUE_COUNT_CAP: i64 = 1000;
/// Most cases on one queue page.
pub const QUEUE_PAGE_MAX: i64 = 100;
/// How long someone counts as present on a case after their last signal.
pub const PRESENCE_WINDOW_MS: i64 = 60_000;
const RETRIES: usize = 5;
/// Stands for a customer created with the case their first message opens (no customer has
/// this id; see `Store::create_case_for_new_customer`).
const NEW_CUSTOMER: i64 = 0;
const MINUTE_MS: i64 = 60_000;

tokio::task_local! {
    static RULES_MEMO: std::cell::RefCell<std::collections::HashMap<TenantId, Rules>>;
    static SETTINGS_MEMO: std::cell::RefCell<SettingsMemo>;
    static FLAGS_MEMO: std::cell::RefCell<FlagsMemo>;
}

/// Customers' flags and tiers read ahead for one scope of [`with_rules_memo`], each for its
/// next use only.
type FlagsMemo = std::collections::HashMap<(TenantId, i64), (BTreeSet<String>, Option<String>)>;

/// Tenant settings read ahead for one scope of [`with_rules_memo`]: `None` is a setting the
/// tenant does not have (a key that was not read ahead is not in the map).
type SettingsMemo = std::collections::HashMap<(TenantId, String), Option<String>>;

/// Runs `f` with the case rules read at most once per tenant: one inbound mail reads them
/// for threading, the case write, and the triggers. Tenant settings read ahead in the scope
/// ([`App::remember_settings`]) are not read again in it. A rule or setting changed
/// meanwhile applies from the next scope on. A customer's flags and tier read ahead
/// ([`App::remember_flags_and_tier`]) serve the next read of them.
pub async fn with_rules_memo<F: std::future::Future>(f: F) -> F::Output {
    RULES_MEMO
        .scope(
            Default::default(),
            SETTINGS_MEMO.scope(Default::default(), FLAGS_MEMO.scope(Default::default(), f)),
        )
        .await
}

/// The tenant's rules that decide about cases, loaded once per action.
#[derive(Clone)]
pub struct Rules {
    pub workflow: Workflow,
    pub calendar: Calendar,
    pub policies: Vec<Policy>,
    pub escalations: Vec<EscalationRule>,
    pub triggers: Vec<Trigger>,
}

/// Targets used when a tenant has defined none: faster for higher tiers and priorities.
pub fn default_policies() -> Vec<Policy> {
    let p = |id: i64,
             name: &str,
             tier: Option<&str>,
             priority: Option<&str>,
             first: u32,
             next: u32,
             resolution: u32| Policy {
        id,
        name: name.to_string(),
        tier: tier.map(str::to_string),
        priority: priority.map(str::to_string),
        channel: None,
        first_response_mins: Some(first),
        next_response_mins: Some(next),
        resolution_mins: Some(resolution),
    };
    vec![
        p(-1, "Standard", None, None, 480, 480, 4320),
        p(-2, "High priority", None, Some("high"), 240, 240, 1440),
        p(-3, "Urgent", None, Some("urgent"), 60, 60, 480),
        p(-4, "Platinum", Some("Platinum"), None, 60, 120, 1440),
        p(-5, "Gold", Some("Gold"), None, 120, 240, 2880),
    ]
}

/// The statuses of a workflow that count as open (not solved or closed).
pub fn open_statuses(w: &Workflow) -> Vec<String> {
    w.states
        .iter()
        .filter(|s| !matches!(s.category, Category::Solved | Category::Closed))
        .map(|s| s.key.clone())
        .collect()
}

fn done_statuses(w: &Workflow) -> Vec<String> {
    w.states
        .iter()
        .filter(|s| matches!(s.category, Category::Solved | Category::Closed))
        .map(|s| s.key.clone())
        .collect()
}

fn event(
    kind: &str,
    actor: Actor<'_>,
    customer_visible: bool,
    detail: serde_json::Value,
) -> NewEvent {
    NewEvent {
        kind: kind.to_string(),
        actor_kind: actor.kind().to_string(),
        actor_id: actor.id(),
        visibility: if customer_visible {
            "customer"
        } else {
            "internal"
        }
        .to_string(),
        detail,
    }
}

fn target_of(row: &TargetRow) -> Option<Target> {
    Some(Target {
        kind: TargetKind::parse(&row.kind).ok()?,
        started_ms: row.started_at,
        business_ms: row.business_ms,
        due_ms: row.due_at,
        paused_since_ms: row.paused_since,
        met_ms: row.met_at,
    })
}

fn running(row: &TargetRow) -> bool {
    row.met_at.is_none() && row.cancelled_at.is_none()
}

/// A cursor for keyset pagination: `key.id`, both integers.
fn encode_cursor(key: i64, id: i64) -> String {
    format!("{key}.{id}")
}

fn decode_cursor(s: &str) -> Result<(i64, i64)> {
    let bad = || CaseError::Invalid("the cursor is not one this server gave out".into());
    let (a, b) = s.split_once('.').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

impl App {
    /// Inside [`with_rules_memo`]: keeps settings read ahead (`(key, value)`; keys of `keys`
    /// not among them are settings the tenant does not have) for the rest of the scope.
    pub(crate) fn remember_settings(
        &self,
        tenant: TenantId,
        keys: &[&str],
        found: &[(String, String)],
    ) {
        let _ = SETTINGS_MEMO.try_with(|m| {
            let mut m = m.borrow_mut();
            for k in keys {
                let v = found.iter().find(|(fk, _)| fk == k).map(|(_, v)| v.clone());
                m.insert((tenant, (*k).to_string()), v);
            }
        });
    }

    /// A setting read ahead in this scope of [`with_rules_memo`] (`Some(None)`: the tenant
    /// has none); `None` when it was not read ahead.
    pub(crate) fn setting_read_ahead(&self, tenant: TenantId, key: &str) -> Option<Option<String>> {
        SETTINGS_MEMO
            .try_with(|m| m.borrow().get(&(tenant, key.to_string())).cloned())
            .ok()
            .flatten()
    }

    /// A tenant setting: read ahead in this scope of [`with_rules_memo`], else read now.
    pub(crate) async fn setting_in_scope(
        &self,
        tenant: TenantId,
        key: &str,
    ) -> std::result::Result<Option<String>, StoreError> {
        match self.setting_read_ahead(tenant, key) {
            Some(v) => Ok(v),
            None => self.store.setting(tenant, key).await,
        }
    }

    /// The tenant's status workflow (the default one when it has none of its own).
    pub async fn workflow(&self, tenant: TenantId) -> Result<Workflow> {
        match self.setting_in_scope(tenant, "workflow").await? {
            Some(json) => {
                let w: Workflow = serde_json::from_str(&json).map_err(|e| {
                    CaseError::Invalid(format!("the stored workflow is unreadable: {e}"))
                })?;
                w.validate()?;
                Ok(w)
            }
            None => Ok(Workflow::default()),
        }
    }

    /// The tenant's workflow, calendar, policies, escalation rules and triggers. Inside
    /// [`with_rules_memo`] they are read once per tenant for the whole scope.
    pub async fn case_rules(&self, tenant: TenantId) -> Result<Rules> {
        if let Ok(Some(r)) = RULES_MEMO.try_with(|m| m.borrow().get(&tenant).cloned()) {
            return Ok(r);
        }
        let rules = self.load_case_rules(tenant).await?;
        let _ = RULES_MEMO.try_with(|m| m.borrow_mut().insert(tenant, rules.clone()));
        Ok(rules)
    }

    async fn load_case_rules(&self, tenant: TenantId) -> Result<Rules> {
        let workflow = self.workflow(tenant).await?;
        // Every kind of definition the rules need, in one statement.
        let defs = self
            .store
            .definitions_of_kinds(tenant, &RULE_DEFINITION_KINDS)
            .await?;
        rules_from(workflow, defs)
    }

    /// Keeps `rules`, built from what the caller read already, for the rest of the
    /// [`with_rules_memo`] scope (outside one, nothing is kept).
    pub(crate) fn remember_rules(&self, tenant: TenantId, rules: Rules) {
        let _ = RULES_MEMO.try_with(|m| m.borrow_mut().insert(tenant, rules));
    }
}

/// The kinds of definition the case rules are built from.
pub(crate) const RULE_DEFINITION_KINDS: [&str; 4] =
    ["calendar", "sla_policy", "escalation_rule", "trigger"];

/// The case rules of a tenant from its workflow and its definitions of
/// [`RULE_DEFINITION_KINDS`] (each with its kind, by position then id within a kind).
pub(crate) fn rules_from(
    workflow: Workflow,
    definitions: Vec<(String, concierge_store::cases::SpecRow)>,
) -> Result<Rules> {
    let mut defs: std::collections::HashMap<String, Vec<concierge_store::cases::SpecRow>> =
        std::collections::HashMap::new();
    for (kind, row) in definitions {
        defs.entry(kind).or_default().push(row);
    }
    let mut of_kind = |k: &str| defs.remove(k).unwrap_or_default();
    let calendar = match of_kind("calendar").first() {
        Some(row) => {
            let spec: CalendarSpec = serde_json::from_str(&row.spec).map_err(|e| {
                CaseError::Invalid(format!("calendar {} is unreadable: {e}", row.name))
            })?;
            let tz = jiff::tz::TimeZone::get(&spec.time_zone).map_err(|_| {
                CaseError::Invalid(format!("{} is not a time zone", spec.time_zone))
            })?;
            Calendar::new(tz, &spec)?
        }
        None => Calendar::always(jiff::tz::TimeZone::UTC),
    };
    let mut policies = Vec::new();
    for row in of_kind("sla_policy") {
        if let Ok(mut p) = serde_json::from_str::<Policy>(&row.spec) {
            p.id = row.id;
            policies.push(p);
        }
    }
    if policies.is_empty() {
        policies = default_policies();
    }
    let mut escalations = Vec::new();
    for row in of_kind("escalation_rule") {
        if let Ok(mut r) = serde_json::from_str::<EscalationRule>(&row.spec) {
            r.id = row.id;
            escalations.push(r);
        }
    }
    if escalations.is_empty() {
        escalations = sla::default_rules();
    }
    let mut triggers = Vec::new();
    for row in of_kind("trigger") {
        if let Ok(mut t) = serde_json::from_str::<Trigger>(&row.spec) {
            t.id = row.id;
            t.active = row.active;
            t.position = i32::try_from(row.position).unwrap_or(i32::MAX);
            triggers.push(t);
        }
    }
    Ok(Rules {
        workflow,
        calendar,
        policies,
        escalations,
        triggers,
    })
}

impl App {
    /// Inside [`with_rules_memo`]: keeps a customer's flags (set now) and tier, read ahead,
    /// for the next [`App::flags_and_tier`] of that customer in the scope.
    pub(crate) fn remember_flags_and_tier(
        &self,
        tenant: TenantId,
        customer: i64,
        flags: Vec<String>,
        tier: Option<String>,
    ) {
        let _ = FLAGS_MEMO.try_with(|m| {
            m.borrow_mut()
                .insert((tenant, customer), (flags.into_iter().collect(), tier))
        });
    }

    /// The flags set now on a customer and their tier, in one read (or as read ahead).
    async fn flags_and_tier(
        &self,
        tenant: TenantId,
        customer: i64,
    ) -> Result<(BTreeSet<String>, Option<String>)> {
        if let Ok(Some(read)) = FLAGS_MEMO.try_with(|m| m.borrow_mut().remove(&(tenant, customer)))
        {
            return Ok(read);
        }
        let (flags, tier) = self
            .store
            .customer_flags_and_tier(tenant, CustomerId(customer))
            .await?;
        Ok((flags.into_iter().collect(), tier))
    }

    async fn tier_of(&self, tenant: TenantId, customer: i64) -> Result<Option<String>> {
        Ok(self
            .store
            .customer_tier(tenant, customer)
            .await?
            .map(|(t, _, _)| t))
    }

    async fn resolve_customer(&self, tenant: TenantId, r: &CustomerRef) -> Result<i64> {
        match r {
            CustomerRef::Id(id) => match self.store.customer(tenant, CustomerId(*id)).await? {
                Some(c) => Ok(c.id.0),
                None => Err(CaseError::NotFound("customer")),
            },
            CustomerRef::Email { email, name } => {
                let e =
                    EmailAddress::parse(email).map_err(|e| CaseError::Invalid(e.to_string()))?;
                let keys = crate::identity::ContactKeys::email(&e);
                if let Some(c) = self.find_customer(tenant, &keys).await? {
                    return Ok(c.0);
                }
                let name = match name.as_deref().map(str::trim) {
                    Some(n) if !n.is_empty() => {
                        concierge_domain::customer::bounded_text("name", n, 200, true)
                            .map_err(|e| CaseError::Invalid(e.to_string()))?
                    }
                    _ => e
                        .as_str()
                        .split('@')
                        .next()
                        .unwrap_or("customer")
                        .to_string(),
                };
                let (c, _) = self
                    .find_or_create_customer(tenant, &keys, Some(name.as_str()))
                    .await?;
                Ok(c.0)
            }
        }
    }

    async fn staff_user(&self, tenant: TenantId, id: i64) -> Result<UserRow> {
        match self.store.user_by_id(tenant, UserId(id)).await? {
            Some(u) if u.active => Ok(u),
            _ => Err(CaseError::NotFound("user")),
        }
    }

    async fn team_row(&self, tenant: TenantId, id: i64) -> Result<TeamRow> {
        self.store
            .team(tenant, id)
            .await?
            .ok_or(CaseError::NotFound("team"))
    }

    /// Who a team's strategy picks now (`None`: manual, or nobody eligible).
    async fn auto_assignee(
        &self,
        tenant: TenantId,
        team: &TeamRow,
        rules: &Rules,
    ) -> Result<Option<i64>> {
        let strategy = Strategy::parse(&team.assignment).unwrap_or_default();
        if strategy == Strategy::Manual {
            return Ok(None);
        }
        let open = open_statuses(&rules.workflow);
        let open_refs: Vec<&str> = open.iter().map(String::as_str).collect();
        let members = self.store.team_members(tenant, team.id, &open_refs).await?;
        let loads: Vec<AgentLoad> = members
            .iter()
            .map(|m| AgentLoad {
                user: UserId(m.user_id),
                open_cases: u32::try_from(m.open_cases).unwrap_or(u32::MAX),
                cap: m.cap.and_then(|c| u32::try_from(c).ok()),
                available: m.available,
            })
            .collect();
        let pick = case::pick_assignee(strategy, &loads, team.last_assigned_user.map(UserId));
        if let Some(u) = pick {
            self.store.set_last_assigned(tenant, team.id, u.0).await?;
        }
        Ok(pick.map(|u| u.0))
    }

    /// The manager who takes cases of abusive customers: the least-loaded active manager.
    async fn abuse_manager(&self, tenant: TenantId, rules: &Rules) -> Result<Option<i64>> {
        let open = open_statuses(&rules.workflow);
        let users = self.store.list_users(tenant).await?;
        let mut loads = Vec::new();
        for u in users.iter().filter(|u| u.active && u.role == Role::Manager) {
            let n = self
                .store
                .count_cases(
                    tenant,
                    &CaseFilter {
                        owner: Some(Some(u.id.0)),
                        statuses: open.clone(),
                        ..CaseFilter::default()
                    },
                    QUEUE_COUNT_CAP,
                )
                .await?;
            loads.push(AgentLoad {
                user: u.id,
                open_cases: u32::try_from(n).unwrap_or(u32::MAX),
                cap: None,
                available: true,
            });
        }
        Ok(case::route_abusive(true, &loads).map(|u| u.0))
    }

    fn facts(case: &CaseRow, tier: Option<String>, flags: BTreeSet<String>) -> CaseFacts {
        CaseFacts {
            status: case.status.clone(),
            priority: Priority::parse(&case.priority).unwrap_or_default(),
            channel: Channel::parse(&case.channel).unwrap_or(Channel::Web),
            kind: case.kind.clone(),
            tags: case.tags.iter().cloned().collect(),
            owner: case.owner_id.map(UserId),
            team: case.team_id.map(TeamId),
            tier,
            subject: case.subject.clone(),
            customer_flags: flags,
        }
    }

    /// Starts the targets a policy sets for `kinds` at `now`.
    fn start_targets(
        rules: &Rules,
        policy: Option<&Policy>,
        kinds: &[TargetKind],
        now: i64,
    ) -> Vec<NewTarget> {
        let Some(p) = policy else { return Vec::new() };
        kinds
            .iter()
            .filter_map(|k| {
                let mins = p.minutes_for(*k)?;
                let t = Target::start(&rules.calendar, *k, now, mins);
                let next = sla::next_escalation_at(
                    &rules.escalations,
                    &t,
                    &rules.calendar,
                    &BTreeSet::new(),
                );
                Some(NewTarget {
                    kind: k.as_str().to_string(),
                    team_id: None,
                    policy_id: Some(p.id),
                    started_at: now,
                    business_ms: t.business_ms,
                    due_at: t.due_ms,
                    next_check_at: next,
                })
            })
            .collect()
    }

    /// Adds to `w` what moving from `from` to `to` does to the case and its targets.
    fn status_effects(
        rules: &Rules,
        targets: &[TargetRow],
        from: &str,
        to: &str,
        now: i64,
        w: &mut CaseWrite,
    ) {
        let wf = &rules.workflow;
        let cat = wf.category(to);
        let pauses_before = wf.pauses_clock(from);
        let pauses_after = wf.pauses_clock(to);
        for row in targets.iter().filter(|r| running(r)) {
            let Some(mut t) = target_of(row) else {
                continue;
            };
            let mut out = row.clone();
            match cat {
                Some(Category::Solved) => {
                    if t.kind == TargetKind::Resolution {
                        t.meet(now);
                        out.met_at = t.met_ms;
                        out.due_at = t.due_ms;
                        out.paused_since = None;
                    } else {
                        out.cancelled_at = Some(now);
                    }
                    out.next_check_at = None;
                }
                Some(Category::Closed) => {
                    out.cancelled_at = Some(now);
                    out.next_check_at = None;
                }
                _ if pauses_after && !pauses_before => {
                    t.pause(now);
                    out.paused_since = t.paused_since_ms;
                    out.next_check_at = None;
                }
                _ if !pauses_after && pauses_before => {
                    t.resume(&rules.calendar, now);
                    out.paused_since = None;
                    out.due_at = t.due_ms;
                    out.next_check_at = sla::next_escalation_at(
                        &rules.escalations,
                        &t,
                        &rules.calendar,
                        &BTreeSet::new(),
                    )
                    .map(|at| at.max(now));
                }
                _ => continue,
            }
            w.targets.push(out);
        }
        match cat {
            Some(Category::Solved) => w.change.solved_at = Some(Some(now)),
            Some(Category::Closed) => w.change.closed_at = Some(Some(now)),
            _ if wf.is_solved(from) => w.change.solved_at = Some(None),
            _ => {}
        }
    }

    /// A solved case moved back to work (by an agent, a trigger or a macro) owes a resolution
    /// again: starts a new resolution target from the policy, as a customer's reply does.
    #[allow(clippy::too_many_arguments)]
    async fn restart_resolution(
        &self,
        tenant: TenantId,
        case: &CaseRow,
        rules: &Rules,
        targets: &[TargetRow],
        to: &str,
        now: i64,
        w: &mut CaseWrite,
    ) -> Result<()> {
        let wf = &rules.workflow;
        let reopened = wf.is_solved(&case.status)
            && !matches!(wf.category(to), Some(Category::Solved | Category::Closed));
        if !reopened
            || targets
                .iter()
                .any(|t| running(t) && t.kind == TargetKind::Resolution.as_str())
        {
            return Ok(());
        }
        let tier = self.tier_of(tenant, case.customer_id).await?;
        let priority = w.change.priority.as_deref().unwrap_or(&case.priority);
        let policy = sla::select_policy(&rules.policies, tier.as_deref(), priority, &case.channel);
        w.new_targets.extend(Self::start_targets(
            rules,
            policy,
            &[TargetKind::Resolution],
            now,
        ));
        Ok(())
    }

    /// Turns what triggers decided into changes on `w`; returns templates to reply with.
    #[allow(clippy::too_many_arguments)]
    async fn apply_outcome(
        &self,
        tenant: TenantId,
        case: &CaseRow,
        rules: &Rules,
        targets: &[TargetRow],
        before: &CaseFacts,
        after: &CaseFacts,
        effects: &[Action],
        fired: &[i64],
        now: i64,
        w: &mut CaseWrite,
    ) -> Result<Vec<i64>> {
        let actor = Actor::System;
        if after.status != before.status
            && rules
                .workflow
                .check_transition(&before.status, &after.status)
                .is_ok()
        {
            w.change.status = Some(after.status.clone());
            Self::status_effects(rules, targets, &before.status, &after.status, now, w);
            self.restart_resolution(tenant, case, rules, targets, &after.status, now, w)
                .await?;
            w.events.push(event(
                "status",
                actor,
                true,
                serde_json::json!({"from": before.status, "to": after.status}),
            ));
        }
        if after.priority != before.priority {
            w.change.priority = Some(after.priority.as_str().to_string());
            w.events.push(event(
                "priority",
                actor,
                false,
                serde_json::json!({"from": before.priority.as_str(), "to": after.priority.as_str()}),
            ));
        }
        if after.team != before.team
            && let Some(t) = after.team
            && self.store.team(tenant, t.0).await?.is_some()
        {
            w.change.team_id = Some(Some(t.0));
            w.events.push(event(
                "team",
                actor,
                false,
                serde_json::json!({"from": before.team.map(|t| t.0), "to": t.0}),
            ));
        }
        if after.owner != before.owner
            && let Some(o) = after.owner
            && let Ok(u) = self.staff_user(tenant, o.0).await
        {
            w.change.owner_id = Some(Some(o.0));
            w.events.push(event(
                "assigned",
                actor,
                true,
                serde_json::json!({"owner_id": o.0, "owner_name": u.display_name}),
            ));
            w.notifications.push(NewNotification {
                user_id: o.0,
                kind: "assigned".into(),
                body: format!(
                    "Case #{} was assigned to you: {}",
                    case.number, case.subject
                ),
            });
        }
        for t in after.tags.difference(&before.tags) {
            w.add_tags.push(t.clone());
        }
        for t in before.tags.difference(&after.tags) {
            w.remove_tags.push(t.clone());
        }
        if !w.add_tags.is_empty() || !w.remove_tags.is_empty() {
            w.events.push(event(
                "tags",
                actor,
                false,
                serde_json::json!({"added": w.add_tags, "removed": w.remove_tags}),
            ));
        }
        if !fired.is_empty() {
            w.events.push(event(
                "triggers",
                actor,
                false,
                serde_json::json!({"fired": fired}),
            ));
        }
        let mut templates = Vec::new();
        for e in effects {
            match e {
                Action::Notify { to, message } => {
                    let users: Vec<i64> = match to {
                        Recipient::User(u) => vec![u.0],
                        Recipient::Owner => after.owner.map(|o| o.0).into_iter().collect(),
                        Recipient::TeamManager => {
                            self.team_managers(tenant, after.team.map(|t| t.0)).await?
                        }
                    };
                    for u in users {
                        w.notifications.push(NewNotification {
                            user_id: u,
                            kind: "trigger".into(),
                            body: format!("Case #{}: {message}", case.number),
                        });
                    }
                }
                Action::ReplyWithTemplate { template } => templates.push(*template),
                Action::CreateTask { title, due_in_days } => w.tasks.push(NewTask {
                    kind: "trigger".into(),
                    customer_id: Some(case.customer_id),
                    case_id: Some(case.id),
                    title: format!("{title} (#{})", case.number),
                    assignee_id: after.owner.map(|o| o.0),
                    due_at: now + i64::from(*due_in_days) * crate::followups::DAY_MS,
                    unique_key: None,
                }),
                _ => {}
            }
        }
        Ok(templates)
    }

    /// The team's manager, or every active manager when the case has no team or the team none.
    async fn team_managers(&self, tenant: TenantId, team: Option<i64>) -> Result<Vec<i64>> {
        if let Some(t) = team
            && let Some(row) = self.store.team(tenant, t).await?
            && let Some(m) = row.manager_id
        {
            return Ok(vec![m]);
        }
        Ok(self
            .store
            .list_users(tenant)
            .await?
            .into_iter()
            .filter(|u| u.active && u.role == Role::Manager)
            .map(|u| u.id.0)
            .collect())
    }

    /// Opens a case: the customer's first message, an owner and team (by the team's strategy,
    /// or a manager for an abusive customer), targets from the customer's tier × priority ×
    /// channel, and the tenant's `created` triggers.
    pub async fn create_case(
        &self,
        tenant: TenantId,
        actor: Actor<'_>,
        input: &NewCaseInput,
    ) -> Result<CaseDetail> {
        let landed = self.create_case_linked(tenant, actor, input, None).await?;
        self.case_detail(tenant, CaseId(landed.case_id), true).await
    }

    /// [`App::create_case`] for a case opened by an inbound mail (`link`).
    pub(crate) async fn create_case_linked(
        &self,
        tenant: TenantId,
        actor: Actor<'_>,
        input: &NewCaseInput,
        link: Option<&MailLink>,
    ) -> Result<Landed> {
        self.open_case(tenant, actor, input, link, None)
            .await?
            .ok_or_else(|| CaseError::Store(StoreError::Other("the case was not opened".into())))
    }

    /// [`App::create_case_linked`] for the first mail of someone who is not a customer yet:
    /// the customer (`name`, the contacts of `keys`) is created with the case, in one
    /// transaction. `Ok(None)`: a customer holds their identity key by now (a concurrent
    /// first contact); nothing was written.
    pub(crate) async fn create_case_for_first_contact(
        &self,
        tenant: TenantId,
        keys: &crate::identity::ContactKeys,
        name: &str,
        input: &NewCaseInput,
        link: Option<&MailLink>,
    ) -> Result<Option<Landed>> {
        let first = (keys, name);
        self.open_case(
            tenant,
            Actor::Customer(CustomerId(NEW_CUSTOMER)),
            input,
            link,
            Some(first),
        )
        .await
    }

    /// Opens a case. With `first` (contact keys and name), `actor` is
    /// `Actor::Customer(CustomerId(NEW_CUSTOMER))` and the customer is created with the case
    /// (`Ok(None)` when their identity key is taken; nothing is written then).
    async fn open_case(
        &self,
        tenant: TenantId,
        actor: Actor<'_>,
        input: &NewCaseInput,
        link: Option<&MailLink>,
        first: Option<(&crate::identity::ContactKeys, &str)>,
    ) -> Result<Option<Landed>> {
        let subject = case::subject(&input.subject)?;
        let body = case::body(&input.body)?;
        let channel = Channel::parse(&input.channel)?;
        let kind = Kind::parse(input.kind.as_deref().unwrap_or("question"))?;
        let priority = match &input.priority {
            Some(p) => Priority::parse(p)?,
            None => Priority::default(),
        };
        if input.tags.len() > 50 {
            return Err(CaseError::Invalid("a case takes at most 50 tags".into()));
        }
        let tags: Vec<String> = input
            .tags
            .iter()
            .map(|t| case::tag(t))
            .collect::<std::result::Result<_, _>>()?;
        let customer_id = match actor {
            Actor::Customer(c) => c.0,
            _ => self.resolve_customer(tenant, &input.customer).await?,
        };
        let rules = self.case_rules(tenant).await?;
        let now = self.now();
        let team = match input.team_id {
            Some(t) => Some(self.team_row(tenant, t).await?),
            None => None,
        };
        let mut owner = match input.owner_id {
            Some(o) => Some(self.staff_user(tenant, o).await?.id.0),
            None => None,
        };
        // Checked before anything is decided: a refused case must not move the round robin.
        if let Some(parent) = input.parent_case_id
            && self.store.case(tenant, CaseId(parent)).await?.is_none()
        {
            return Err(CaseError::NotFound("case"));
        }
        // A customer created with the case has no flags and no tier yet.
        let (flags, tier) = match first {
            Some(_) => (BTreeSet::new(), None),
            None => self.flags_and_tier(tenant, customer_id).await?,
        };
        let mut routed_abusive = false;
        if owner.is_none() && flags.contains("abusive") {
            owner = self.abuse_manager(tenant, &rules).await?;
            routed_abusive = owner.is_some();
        }
        if owner.is_none()
            && let Some(t) = &team
        {
            owner = self.auto_assignee(tenant, t, &rules).await?;
        }
        let new = NewCase {
            subject: subject.clone(),
            kind: kind.as_str().to_string(),
            channel: channel.as_str().to_string(),
            customer_id: CustomerId(customer_id),
            household_id: None,
            order_id: input.order_id,
            priority: priority.as_str().to_string(),
            status: rules.workflow.initial().to_string(),
            owner_id: owner,
            team_id: team.as_ref().map(|t| t.id),
            parent_case_id: input.parent_case_id,
            custom_fields: "{}".into(),
        };
        let mut w = CaseWrite {
            add_tags: tags,
            ..CaseWrite::default()
        };
        let (author_kind, author_user, author_customer) = match actor {
            Actor::User(u) => ("customer", Some(u.id.0), Some(customer_id)),
            Actor::Customer(c) => ("customer", None, Some(c.0)),
            Actor::System => ("customer", None, Some(customer_id)),
        };
        w.messages.push(NewMessage {
            author_kind: author_kind.into(),
            author_user_id: author_user,
            author_customer_id: author_customer,
            visibility: "public".into(),
            channel: channel.as_str().into(),
            body_text: body,
            attachments: input.attachments.clone(),
            ..NewMessage::default()
        });
        if let Some(m) = w.messages.last_mut() {
            MailLink::apply(link, m);
        }
        w.events.push(event(
            "created",
            actor,
            true,
            serde_json::json!({"channel": channel.as_str(), "kind": kind.as_str(),
                "priority": priority.as_str(), "parent_case_id": input.parent_case_id}),
        ));
        if let Some(t) = &team {
            w.events.push(event(
                "team",
                actor,
                false,
                serde_json::json!({"to": t.id, "team_name": t.name}),
            ));
        }
        if let Some(o) = owner {
            let u = self.staff_user(tenant, o).await?;
            w.events.push(event(
                "assigned",
                if routed_abusive { Actor::System } else { actor },
                true,
                serde_json::json!({"owner_id": o, "owner_name": u.display_name,
                    "reason": if routed_abusive { "abusive customer: routed to a manager" } else { "" }}),
            ));
            if actor.user_id() != Some(o) {
                w.notifications.push(NewNotification {
                    user_id: o,
                    kind: "assigned".into(),
                    body: format!("A new case was assigned to you: {subject}"),
                });
            }
        }
        let policy = sla::select_policy(
            &rules.policies,
            tier.as_deref(),
            priority.as_str(),
            channel.as_str(),
        );
        w.new_targets = Self::start_targets(
            &rules,
            policy,
            &[TargetKind::FirstResponse, TargetKind::Resolution],
            now,
        );
        if let Some(p) = policy {
            w.events.push(event(
                "targets",
                Actor::System,
                false,
                serde_json::json!({"policy": p.name, "tier": tier,
                    "due": w.new_targets.iter().map(|t| serde_json::json!({"kind": t.kind, "due_at": t.due_at})).collect::<Vec<_>>()}),
            ));
        }
        let applied = match first {
            Some((keys, name)) => {
                let (name, contacts) = crate::identity::first_contact_parts(keys, Some(name));
                let key = crate::identity::identity_key(keys);
                let sort_name = concierge_domain::customer::name_key(&name);
                let customer = concierge_store::identity::FirstContact {
                    display_name: &name,
                    sort_name: &sort_name,
                    contacts: &contacts,
                    identity_key: key.as_deref(),
                };
                match self
                    .store
                    .create_case_for_new_customer(tenant, &customer, &new, &w, now)
                    .await?
                {
                    Some(a) => a,
                    None => return Ok(None),
                }
            }
            None => self.store.create_case(tenant, &new, &w, now).await?,
        };
        // The tenant's `created` triggers see the case as it was opened.
        self.run_triggers(tenant, CaseId(applied.case_id), Event::Created)
            .await?;
        Ok(Some(Landed::of(&applied)))
    }

    /// Runs the tenant's triggers for `event` on a case and writes what they decide.
    pub async fn run_triggers(&self, tenant: TenantId, id: CaseId, ev: Event) -> Result<()> {
        for _ in 0..RETRIES {
            let rules = self.case_rules(tenant).await?;
            if !rules.triggers.iter().any(|t| t.active && t.event == ev) {
                return Ok(());
            }
            let case = self
                .store
                .case(tenant, id)
                .await?
                .ok_or(CaseError::NotFound("case"))?;
            let (flags, tier) = self.flags_and_tier(tenant, case.customer_id).await?;
            let before = Self::facts(&case, tier, flags);
            let out = rules::run_triggers(&rules.triggers, ev, &before);
            if out.fired.is_empty() {
                return Ok(());
            }
            let targets = self.store.case_targets(tenant, id).await?;
            let now = self.now();
            let mut w = CaseWrite::default();
            let templates = self
                .apply_outcome(
                    tenant,
                    &case,
                    &rules,
                    &targets,
                    &before,
                    &out.facts,
                    &out.effects,
                    &out.fired,
                    now,
                    &mut w,
                )
                .await?;
            self.plan_followup(tenant, &case, &mut w, now).await?;
            match self
                .store
                .write_case(tenant, id, case.version, &w, now)
                .await
            {
                Ok(_) => {
                    for t in templates {
                        self.reply_internal(
                            tenant,
                            Actor::System,
                            id,
                            &ReplyInput {
                                template_id: Some(t),
                                ..ReplyInput::default()
                            },
                            false,
                            None,
                        )
                        .await?;
                    }
                    return Ok(());
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(busy())
    }

    /// A case as staff see it (with internal notes when `internal`).
    pub async fn case_detail(
        &self,
        tenant: TenantId,
        id: CaseId,
        internal: bool,
    ) -> Result<CaseDetail> {
        let case = self
            .store
            .case(tenant, id)
            .await?
            .ok_or(CaseError::NotFound("case"))?;
        let rules = self.case_rules(tenant).await?;
        let now = self.now();
        let messages = self.store.case_messages(tenant, id, internal).await?;
        let events = self.store.case_events(tenant, id, !internal).await?;
        let targets = self
            .store
            .case_targets(tenant, id)
            .await?
            .into_iter()
            .filter_map(|row| {
                let state = if row.cancelled_at.is_some() {
                    return None;
                } else {
                    target_of(&row)?.status(&rules.calendar, now)
                };
                Some(TargetView { row, state })
            })
            .collect();
        // Hand-off reasons and who is looking at the case are staff matters.
        let (handoffs, presence) = if internal {
            (
                self.store.case_handoffs(tenant, id).await?,
                self.store
                    .presence(tenant, id, now - PRESENCE_WINDOW_MS)
                    .await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let tier = self.tier_of(tenant, case.customer_id).await?;
        let customer_labels: std::collections::BTreeMap<&'static str, String> =
            concierge_domain::Locale::ALL
                .into_iter()
                .map(|l| {
                    let label = rules.workflow.customer_label(&case.status, l);
                    (l.tag(), label.to_string())
                })
                .collect();
        let allowed_statuses = rules
            .workflow
            .allowed_from(&case.status)
            .into_iter()
            .map(str::to_string)
            .collect();
        Ok(CaseDetail {
            case,
            tier,
            customer_labels,
            allowed_statuses,
            messages,
            events,
            targets,
            handoffs,
            presence,
        })
    }

    /// An agent's public reply (on the channel of origin unless another route is chosen) or
    /// internal note.
    pub async fn reply(
        &self,
        tenant: TenantId,
        user: &UserRow,
        id: CaseId,
        input: &ReplyInput,
    ) -> Result<CaseDetail> {
        self.reply_internal(tenant, Actor::User(user), id, input, true, None)
            .await?;
        self.run_triggers(tenant, id, Event::AgentReplied).await?;
        self.case_detail(tenant, id, true).await
    }

    /// A staff member's reply that came in by mail (`link`), e.g. sent from a mail client
    /// with the mailbox in copy.
    pub(crate) async fn reply_from_mail(
        &self,
        tenant: TenantId,
        user: &UserRow,
        id: CaseId,
        input: &ReplyInput,
        link: &MailLink,
    ) -> Result<()> {
        self.reply_internal(tenant, Actor::User(user), id, input, true, Some(link))
            .await?;
        self.run_triggers(tenant, id, Event::AgentReplied).await
    }

    async fn reply_internal(
        &self,
        tenant: TenantId,
        actor: Actor<'_>,
        id: CaseId,
        input: &ReplyInput,
        accept_handoff: bool,
        link: Option<&MailLink>,
    ) -> Result<()> {
        for _ in 0..RETRIES {
            let case = self
                .store
                .case(tenant, id)
                .await?
                .ok_or(CaseError::NotFound("case"))?;
            let rules = self.case_rules(tenant).await?;
            if rules.workflow.is_final(&case.status) {
                return Err(CaseError::State(format!(
                    "case #{} is closed; closed cases are final (a customer's reply opens a \
                     follow-up case)",
                    case.number
                )));
            }
            let text = if input.body.trim().is_empty() {
                match input.template_id {
                    Some(t) => {
                        let tpl = self
                            .store
                            .template(tenant, t)
                            .await?
                            .ok_or(CaseError::NotFound("template"))?;
                        self.render_for_customer(
                            tenant,
                            CustomerId(case.customer_id),
                            &tpl.body,
                            Escape::Text,
                        )
                        .await
                        .map_err(|e| CaseError::Invalid(e.to_string()))?
                        .output
                    }
                    None => String::new(),
                }
            } else {
                input.body.clone()
            };
            let body = case::body(&text)?;
            let now = self.now();
            let targets = self.store.case_targets(tenant, id).await?;
            let mut w = CaseWrite::default();
            if input.internal {
                // @mentions of staff in the note notify them (with the note, in one write).
                let author = match actor {
                    Actor::User(u) => Some(u),
                    _ => None,
                };
                let mentioned = self
                    .mention_notifications(tenant, author, &case, &body)
                    .await?;
                w.messages.push(NewMessage {
                    author_kind: if matches!(actor, Actor::System) {
                        "system"
                    } else {
                        "staff"
                    }
                    .into(),
                    author_user_id: actor.user_id(),
                    visibility: "internal".into(),
                    channel: "note".into(),
                    body_text: body,
                    attachments: input.attachments.clone(),
                    ..NewMessage::default()
                });
                w.events
                    .push(event("note", actor, false, serde_json::json!({})));
                w.notifications.extend(mentioned);
            } else {
                let channel = Channel::parse(&case.channel).unwrap_or(Channel::Web);
                let route = match input.route.as_deref() {
                    Some(r) => parse_route(r)?,
                    None => channel.reply_route(),
                };
                let (state, task) = match route {
                    ReplyRoute::Email => ("queued", None),
                    ReplyRoute::Portal | ReplyRoute::Chat => ("published", None),
                    ReplyRoute::LetterPage => (
                        "ready_to_print",
                        Some(("letter", "Print and post the letter")),
                    ),
                    ReplyRoute::CallTask => (
                        "call_task",
                        Some(("call", "Call the customer with this answer")),
                    ),
                    ReplyRoute::Visit => (
                        "visit_task",
                        Some(("visit", "Give the customer this answer in person")),
                    ),
                };
                w.messages.push(NewMessage {
                    author_kind: if matches!(actor, Actor::System) {
                        "system"
                    } else {
                        "staff"
                    }
                    .into(),
                    author_user_id: actor.user_id(),
                    visibility: "public".into(),
                    channel: case.channel.clone(),
                    route: Some(route.as_str().to_string()),
                    body_text: body,
                    delivery_state: Some(state.into()),
                    attachments: input.attachments.clone(),
                    ..NewMessage::default()
                });
                if let Some(m) = w.messages.last_mut() {
                    MailLink::apply(link, m);
                }
                if let Some((kind, what)) = task {
                    w.tasks.push(NewTask {
                        kind: kind.into(),
                        customer_id: Some(case.customer_id),
                        case_id: Some(case.id),
                        title: format!("Case #{}: {what}", case.number),
                        assignee_id: actor.user_id().or(case.owner_id),
                        due_at: now,
                        unique_key: None,
                    });
                }
                w.events.push(event(
                    "replied",
                    actor,
                    true,
                    serde_json::json!({"route": route.as_str()}),
                ));
                if !matches!(actor, Actor::System) {
                    if case.first_response_at.is_none() {
                        w.change.first_response_at = Some(now);
                    }
                    for row in targets.iter().filter(|r| running(r)) {
                        let Some(mut t) = target_of(row) else {
                            continue;
                        };
                        if matches!(t.kind, TargetKind::FirstResponse | TargetKind::NextResponse) {
                            t.meet(now);
                            let mut out = row.clone();
                            out.met_at = t.met_ms;
                            out.due_at = t.due_ms;
                            out.paused_since = None;
                            out.next_check_at = None;
                            w.targets.push(out);
                        }
                    }
                }
                let mut new_status = rules.workflow.on_agent_public_reply(&case.status);
                if let Some(s) = &input.status {
                    new_status = Some(rules.workflow.parse_status(s)?.key.clone());
                }
                if let Some(to) = new_status.filter(|to| *to != case.status) {
                    rules.workflow.check_transition(&case.status, &to)?;
                    let already: Vec<TargetRow> = targets
                        .iter()
                        .filter(|r| !w.targets.iter().any(|u| u.id == r.id))
                        .cloned()
                        .collect();
                    Self::status_effects(&rules, &already, &case.status, &to, now, &mut w);
                    w.events.push(event(
                        "status",
                        actor,
                        true,
                        serde_json::json!({"from": case.status, "to": to}),
                    ));
                    w.change.status = Some(to);
                }
            }
            if accept_handoff {
                self.accept_handoff_if_member(tenant, &case, actor, &targets, now, &mut w)
                    .await?;
            }
            self.plan_followup(tenant, &case, &mut w, now).await?;
            match self
                .store
                .write_case(tenant, id, case.version, &w, now)
                .await
            {
                Ok(Some(_)) => return Ok(()),
                Ok(None) => return Err(CaseError::NotFound("case")),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(busy())
    }

    /// When a member of the team a case was handed to acts on it, the hand-off is taken up
    /// and its internal target met.
    async fn accept_handoff_if_member(
        &self,
        tenant: TenantId,
        case: &CaseRow,
        actor: Actor<'_>,
        targets: &[TargetRow],
        now: i64,
        w: &mut CaseWrite,
    ) -> Result<()> {
        let (Some(uid), Some(team)) = (actor.user_id(), case.team_id) else {
            return Ok(());
        };
        let pending: Vec<&TargetRow> = targets
            .iter()
            .filter(|t| {
                t.kind == TargetKind::Handoff.as_str() && running(t) && t.team_id == Some(team)
            })
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let members = self.store.team_members(tenant, team, &[]).await?;
        let manager = self
            .store
            .team(tenant, team)
            .await?
            .and_then(|t| t.manager_id);
        if !members.iter().any(|m| m.user_id == uid) && manager != Some(uid) {
            return Ok(());
        }
        for row in pending {
            let mut out = row.clone();
            out.met_at = Some(now);
            out.next_check_at = None;
            w.targets.push(out);
        }
        w.accept_handoffs = true;
        w.events.push(event(
            "handoff_accepted",
            actor,
            false,
            serde_json::json!({"team_id": team}),
        ));
        Ok(())
    }

    /// A customer's message on their case (from the portal or by mail). A pending or solved
    /// case reopens; a closed one gets a linked follow-up case. Returns the case the message
    /// landed on.
    pub async fn customer_reply(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        id: CaseId,
        body: &str,
        attachments: Vec<NewAttachment>,
    ) -> Result<CaseId> {
        let landed = self
            .customer_reply_linked(tenant, customer, id, body, attachments, None, None)
            .await?;
        Ok(CaseId(landed.case_id))
    }

    /// [`App::customer_reply`] for a message that came in by mail (`link`). `read` is the
    /// case as just read with its targets and tier (by threading), used for the first try
    /// (a write that finds the case changed since reads it again).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn customer_reply_linked(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        id: CaseId,
        body: &str,
        attachments: Vec<NewAttachment>,
        link: Option<&MailLink>,
        mut read: Option<CaseWithTargets>,
    ) -> Result<Landed> {
        let body = case::body(body)?;
        for _ in 0..RETRIES {
            let read = match read.take().filter(|(c, _, _)| c.id == id.0) {
                Some(r) => Some(r),
                None => self.store.case_with_targets(tenant, id).await?,
            };
            let (case, targets, tier) = read
                .filter(|(c, _, _)| c.customer_id == customer.0)
                .ok_or(CaseError::NotFound("case"))?;
            let rules = self.case_rules(tenant).await?;
            let now = self.now();
            let effect = rules.workflow.on_customer_reply(&case.status);
            if effect == ReplyEffect::FollowUpCase {
                // The same owner follows up, unless they have left (then the team's strategy
                // picks someone).
                let owner_id = match case.owner_id {
                    Some(o) if self.staff_user(tenant, o).await.is_ok() => Some(o),
                    _ => None,
                };
                let follow_up = self
                    .create_case_linked(
                        tenant,
                        Actor::Customer(customer),
                        &NewCaseInput {
                            subject: case.subject.clone(),
                            body: body.clone(),
                            channel: case.channel.clone(),
                            kind: Some("follow_up".into()),
                            priority: Some(case.priority.clone()),
                            customer: CustomerRef::Id(customer.0),
                            team_id: case.team_id,
                            owner_id,
                            tags: Vec::new(),
                            order_id: case.order_id,
                            parent_case_id: Some(case.id),
                            attachments,
                        },
                        link,
                    )
                    .await?;
                return Ok(follow_up);
            }
            let mut w = CaseWrite::default();
            w.messages.push(NewMessage {
                author_kind: "customer".into(),
                author_customer_id: Some(customer.0),
                visibility: "public".into(),
                channel: case.channel.clone(),
                body_text: body.clone(),
                attachments: attachments.clone(),
                ..NewMessage::default()
            });
            if let Some(m) = w.messages.last_mut() {
                MailLink::apply(link, m);
            }
            w.events.push(event(
                "customer_replied",
                Actor::Customer(customer),
                true,
                serde_json::json!({}),
            ));
            let policy = sla::select_policy(
                &rules.policies,
                tier.as_deref(),
                &case.priority,
                &case.channel,
            );
            let mut kinds = Vec::new();
            if !targets.iter().any(|t| {
                running(t)
                    && (t.kind == TargetKind::NextResponse.as_str()
                        || t.kind == TargetKind::FirstResponse.as_str())
            }) {
                kinds.push(TargetKind::NextResponse);
            }
            if let ReplyEffect::MoveTo(to) = &effect {
                let to = to.clone();
                Self::status_effects(&rules, &targets, &case.status, &to, now, &mut w);
                if rules.workflow.is_solved(&case.status) {
                    // Reopened: the resolution clock starts again.
                    kinds.push(TargetKind::Resolution);
                }
                w.events.push(event(
                    "status",
                    Actor::Customer(customer),
                    true,
                    serde_json::json!({"from": case.status, "to": to}),
                ));
                w.change.status = Some(to);
            }
            w.new_targets = Self::start_targets(&rules, policy, &kinds, now);
            if let Some(o) = case.owner_id {
                w.notifications.push(NewNotification {
                    user_id: o,
                    kind: "customer_replied".into(),
                    body: format!("The customer replied on case #{}", case.number),
                });
            }
            self.plan_followup(tenant, &case, &mut w, now).await?;
            match self
                .store
                .write_case(tenant, id, case.version, &w, now)
                .await
            {
                Ok(Some(applied)) => {
                    self.run_triggers(tenant, id, Event::CustomerReplied)
                        .await?;
                    return Ok(Landed::of(&applied));
                }
                Ok(None) => return Err(CaseError::NotFound("case")),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(busy())
    }

    /// The customer says they need nothing more (the portal's "close"): an open case moves to
    /// the first Solved-category state it may move to, a solved one to the first
    /// Closed-category state. Only the case's own customer may do this.
    pub async fn customer_close(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        id: CaseId,
    ) -> Result<()> {
        for _ in 0..RETRIES {
            let case = self
                .store
                .case(tenant, id)
                .await?
                .filter(|c| c.customer_id == customer.0)
                .ok_or(CaseError::NotFound("case"))?;
            let rules = self.case_rules(tenant).await?;
            let wf = &rules.workflow;
            let want = if wf.is_solved(&case.status) {
                Category::Closed
            } else {
                Category::Solved
            };
            let Some(to) = wf
                .allowed_from(&case.status)
                .into_iter()
                .find(|s| wf.category(s) == Some(want))
                .map(str::to_string)
            else {
                return Err(CaseError::State(format!(
                    "case #{} cannot be closed from where it is now",
                    case.number
                )));
            };
            let now = self.now();
            let targets = self.store.case_targets(tenant, id).await?;
            let mut w = CaseWrite::default();
            Self::status_effects(&rules, &targets, &case.status, &to, now, &mut w);
            w.events.push(event(
                "status",
                Actor::Customer(customer),
                true,
                serde_json::json!({"from": case.status, "to": to}),
            ));
            w.change.status = Some(to);
            if let Some(o) = case.owner_id {
                w.notifications.push(NewNotification {
                    user_id: o,
                    kind: "customer_closed".into(),
                    body: format!("The customer closed case #{}", case.number),
                });
            }
            match self
                .store
                .write_case(tenant, id, case.version, &w, now)
                .await
            {
                Ok(Some(_)) => {
                    self.run_triggers(tenant, id, Event::StatusChanged).await?;
                    return Ok(());
                }
                Ok(None) => return Err(CaseError::NotFound("case")),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(busy())
    }

    /// Changes a case's fields; status moves follow the workflow.
    pub async fn update_case(
        &self,
        tenant: TenantId,
        user: &UserRow,
        id: CaseId,
        patch: &CasePatch,
    ) -> Result<CaseDetail> {
        let actor = Actor::User(user);
        let subject = patch.subject.as_deref().map(case::subject).transpose()?;
        let priority = patch.priority.as_deref().map(Priority::parse).transpose()?;
        let kind = patch.kind.as_deref().map(Kind::parse).transpose()?;
        let add: Vec<String> = patch
            .add_tags
            .iter()
            .map(|t| case::tag(t))
            .collect::<std::result::Result<_, _>>()?;
        let remove: Vec<String> = patch
            .remove_tags
            .iter()
            .map(|t| case::tag(t))
            .collect::<std::result::Result<_, _>>()?;
        if add.len() + remove.len() > 50 {
            return Err(CaseError::Invalid("change at most 50 tags at once".into()));
        }
        let owner = match patch.owner_id {
            Some(Some(o)) => Some(Some(self.staff_user(tenant, o).await?)),
            Some(None) => Some(None),
            None => None,
        };
        let mut status_changed = false;
        let mut assigned = false;
        for attempt in 0..RETRIES {
            let case = self
                .store
                .case(tenant, id)
                .await?
                .ok_or(CaseError::NotFound("case"))?;
            if let Some(v) = patch.version
                && v != case.version
                && attempt == 0
            {
                return Err(CaseError::Store(StoreError::Conflict(format!(
                    "the case is at version {} (you sent {v}); reload it and try again",
                    case.version
                ))));
            }
            let rules = self.case_rules(tenant).await?;
            if rules.workflow.is_final(&case.status) {
                return Err(CaseError::State(format!(
                    "case #{} is closed; closed cases are final",
                    case.number
                )));
            }
            let now = self.now();
            let targets = self.store.case_targets(tenant, id).await?;
            let mut w = CaseWrite::default();
            if let Some(s) = subject.as_ref().filter(|s| **s != case.subject) {
                w.events.push(event(
                    "subject",
                    actor,
                    false,
                    serde_json::json!({"from": case.subject, "to": s}),
                ));
                w.change.subject = Some(s.clone());
            }
            if let Some(p) = priority.filter(|p| p.as_str() != case.priority) {
                w.events.push(event(
                    "priority",
                    actor,
                    false,
                    serde_json::json!({"from": case.priority, "to": p.as_str()}),
                ));
                w.change.priority = Some(p.as_str().to_string());
            }
            if let Some(k) = kind.as_ref().filter(|k| k.as_str() != case.kind) {
                w.events.push(event(
                    "kind",
                    actor,
                    false,
                    serde_json::json!({"from": case.kind, "to": k.as_str()}),
                ));
                w.change.kind = Some(k.as_str().to_string());
            }
            if let Some(changes) = &patch.custom_fields {
                let merged = merge_custom_fields(&case.custom_fields, changes)?;
                let merged = serde_json::Value::Object(merged);
                if merged != case.custom_fields {
                    w.events.push(event(
                        "custom_fields",
                        actor,
                        false,
                        serde_json::json!({"from": case.custom_fields, "to": merged}),
                    ));
                    w.change.custom_fields = Some(merged.to_string());
                }
            }
            if let Some(s) = &patch.status {
                let to = rules.workflow.parse_status(s)?.key.clone();
                if to != case.status {
                    rules.workflow.check_transition(&case.status, &to)?;
                    Self::status_effects(&rules, &targets, &case.status, &to, now, &mut w);
                    self.restart_resolution(tenant, &case, &rules, &targets, &to, now, &mut w)
                        .await?;
                    w.events.push(event(
                        "status",
                        actor,
                        true,
                        serde_json::json!({"from": case.status, "to": to}),
                    ));
                    w.change.status = Some(to);
                    status_changed = true;
                }
            }
            match &owner {
                Some(Some(u)) if Some(u.id.0) != case.owner_id => {
                    w.change.owner_id = Some(Some(u.id.0));
                    w.events.push(event("assigned", actor, true, serde_json::json!({"from": case.owner_id, "owner_id": u.id.0, "owner_name": u.display_name})));
                    if u.id != user.id {
                        w.notifications.push(NewNotification {
                            user_id: u.id.0,
                            kind: "assigned".into(),
                            body: format!(
                                "Case #{} was assigned to you by {}: {}",
                                case.number, user.display_name, case.subject
                            ),
                        });
                    }
                    assigned = true;
                }
                Some(None) if case.owner_id.is_some() => {
                    w.change.owner_id = Some(None);
                    w.events.push(event(
                        "unassigned",
                        actor,
                        false,
                        serde_json::json!({"from": case.owner_id}),
                    ));
                }
                _ => {}
            }
            for t in &add {
                if !case.tags.contains(t) {
                    w.add_tags.push(t.clone());
                }
            }
            for t in &remove {
                if case.tags.contains(t) {
                    w.remove_tags.push(t.clone());
                }
            }
            if !w.add_tags.is_empty() || !w.remove_tags.is_empty() {
                w.events.push(event(
                    "tags",
                    actor,
                    false,
                    serde_json::json!({"added": w.add_tags, "removed": w.remove_tags}),
                ));
            }
            if w.is_empty() {
                return self.case_detail(tenant, id, true).await;
            }
            self.accept_handoff_if_member(tenant, &case, actor, &targets, now, &mut w)
                .await?;
            self.plan_followup(tenant, &case, &mut w, now).await?;
            match self
                .store
                .write_case(tenant, id, case.version, &w, now)
                .await
            {
                Ok(Some(_)) => {
                    if status_changed {
                        self.run_triggers(tenant, id, Event::StatusChanged).await?;
                    }
                    if assigned {
                        self.run_triggers(tenant, id, Event::Assigned).await?;
                    }
                    return self.case_detail(tenant, id, true).await;
                }
                Ok(None) => return Err(CaseError::NotFound("case")),
                Err(StoreError::Conflict(_)) if patch.version.is_none() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(busy())
    }

    /// Assigns a case by the team's strategy (round-robin or least-loaded).
    pub async fn auto_assign(
        &self,
        tenant: TenantId,
        user: &UserRow,
        id: CaseId,
    ) -> Result<CaseDetail> {
        let case = self
            .store
            .case(tenant, id)
            .await?
            .ok_or(CaseError::NotFound("case"))?;
        let team_id = case
            .team_id
            .ok_or_else(|| CaseError::State("the case has no team to assign within".into()))?;
        let team = self.team_row(tenant, team_id).await?;
        let rules = self.case_rules(tenant).await?;
        let pick = if team.assignment == "manual" {
            // A manual team still offers its least-loaded member on request.
            let mut t = team.clone();
            t.assignment = "least_loaded".into();
            self.auto_assignee(tenant, &t, &rules).await?
        } else {
            self.auto_assignee(tenant, &team, &rules).await?
        };
        let Some(owner) = pick else {
            return Err(CaseError::State(format!(
                "nobody in {} can take the case now (everyone is away or at their cap)",
                team.name
            )));
        };
        self.update_case(
            tenant,
            user,
            id,
            &CasePatch {
                owner_id: Some(Some(owner)),
                ..CasePatch::default()
            },
        )
        .await
    }

    /// Hands a case to another team with a reason: a first-class event with its own internal
    /// target; the owner is cleared (or picked by the receiving team's strategy).
    pub async fn transfer_case(
        &self,
        tenant: TenantId,
        user: &UserRow,
        id: CaseId,
        to_team: i64,
        reason: &str,
    ) -> Result<CaseDetail> {
        let reason = case::reason(reason)?;
        let team = self.team_row(tenant, to_team).await?;
        let actor = Actor::User(user);
        for _ in 0..RETRIES {
            let case = self
                .store
                .case(tenant, id)
                .await?
                .ok_or(CaseError::NotFound("case"))?;
            let rules = self.case_rules(tenant).await?;
            if rules.workflow.is_final(&case.status) {
                return Err(CaseError::State(format!(
                    "case #{} is closed; closed cases are final",
                    case.number
                )));
            }
            if case.team_id == Some(team.id) {
                return Err(CaseError::State(format!(
                    "the case is already with {}",
                    team.name
                )));
            }
            let now = self.now();
            let targets = self.store.case_targets(tenant, id).await?;
            let mut w = CaseWrite::default();
            // A hand-off still waiting is superseded by the new one.
            for row in targets
                .iter()
                .filter(|t| t.kind == TargetKind::Handoff.as_str() && running(t))
            {
                let mut out = row.clone();
                out.cancelled_at = Some(now);
                out.next_check_at = None;
                w.targets.push(out);
            }
            w.accept_handoffs = true;
            w.handoff = Some(NewHandoff {
                from_team: case.team_id,
                to_team: team.id,
                reason: reason.clone(),
                by_user: Some(user.id.0),
            });
            w.change.team_id = Some(Some(team.id));
            let owner = self.auto_assignee(tenant, &team, &rules).await?;
            w.change.owner_id = Some(owner);
            let from_name = match case.team_id {
                Some(t) => self.store.team(tenant, t).await?.map(|t| t.name),
                None => None,
            };
            // The reason is for staff; the customer's step says only which team has it now.
            w.events.push(event(
                "transferred",
                actor,
                false,
                serde_json::json!({"from_team": case.team_id, "from_team_name": from_name,
                    "to_team": team.id, "to_team_name": team.name, "reason": reason}),
            ));
            w.events.push(event(
                "handed_off",
                actor,
                true,
                serde_json::json!({"to_team_name": team.name}),
            ));
            let mins =
                u32::try_from(team.handoff_mins.unwrap_or(60).clamp(1, 525_600)).unwrap_or(60);
            let t = Target::start(&rules.calendar, TargetKind::Handoff, now, mins);
            w.new_targets.push(NewTarget {
                kind: TargetKind::Handoff.as_str().into(),
                team_id: Some(team.id),
                policy_id: None,
                started_at: now,
                business_ms: t.business_ms,
                due_at: t.due_ms,
                next_check_at: sla::next_escalation_at(
                    &rules.escalations,
                    &t,
                    &rules.calendar,
                    &BTreeSet::new(),
                ),
            });
            let notify: Vec<i64> = match owner {
                Some(o) => vec![o],
                None => self.team_managers(tenant, Some(team.id)).await?,
            };
            for u in notify {
                w.notifications.push(NewNotification {
                    user_id: u,
                    kind: "handoff".into(),
                    body: format!(
                        "Case #{} was handed to {}: {reason}",
                        case.number, team.name
                    ),
                });
            }
            if let Some(o) = owner
                && let Ok(u) = self.staff_user(tenant, o).await
            {
                w.events.push(event(
                    "assigned",
                    Actor::System,
                    true,
                    serde_json::json!({"owner_id": o, "owner_name": u.display_name}),
                ));
            }
            self.plan_followup(tenant, &case, &mut w, now).await?;
            match self
                .store
                .write_case(tenant, id, case.version, &w, now)
                .await
            {
                Ok(Some(_)) => {
                    self.run_triggers(tenant, id, Event::Transferred).await?;
                    return self.case_detail(tenant, id, true).await;
                }
                Ok(None) => return Err(CaseError::NotFound("case")),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(busy())
    }

    /// Merges `source` into `target`: the source is closed and points at the target; both
    /// keep their histories and each records the merge.
    pub async fn merge_cases(
        &self,
        tenant: TenantId,
        user: &UserRow,
        source: CaseId,
        target: CaseId,
    ) -> Result<CaseDetail> {
        if source == target {
            return Err(CaseError::Invalid(
                "a case cannot be merged into itself".into(),
            ));
        }
        // Both cases change in one transaction: the source is never left merged without the
        // target knowing (or the other way round).
        for _ in 0..RETRIES {
            let src = self
                .store
                .case(tenant, source)
                .await?
                .ok_or(CaseError::NotFound("case"))?;
            let dst = self
                .store
                .case(tenant, target)
                .await?
                .ok_or(CaseError::NotFound("case"))?;
            let rules = self.case_rules(tenant).await?;
            let targets = self.store.case_targets(tenant, source).await?;
            let now = self.now();
            let (w, w2) = Self::merge_writes(&rules, &targets, &src, &dst, user, now)?;
            match self
                .store
                .write_cases(
                    tenant,
                    &[(source, src.version, &w), (target, dst.version, &w2)],
                    now,
                )
                .await
            {
                Ok(Some(_)) => return self.case_detail(tenant, target, true).await,
                Ok(None) => return Err(CaseError::NotFound("case")),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(busy())
    }

    /// What merging `src` (with its `targets`) into `dst` writes to each, as read: the source
    /// closed and pointing at the target, the target noting where the source went. Refused
    /// when either was merged already or is closed.
    fn merge_writes(
        rules: &Rules,
        targets: &[TargetRow],
        src: &CaseRow,
        dst: &CaseRow,
        user: &UserRow,
        now: i64,
    ) -> Result<(CaseWrite, CaseWrite)> {
        if src.merged_into.is_some() {
            return Err(CaseError::State(format!(
                "case #{} was merged already",
                src.number
            )));
        }
        if dst.merged_into.is_some() {
            return Err(CaseError::State(format!(
                "case #{} was itself merged; merge into the case it went into",
                dst.number
            )));
        }
        // Closed is final both ways: a closed case is not reopened by merging it away, and
        // nothing is merged into one (the customer's open request would end up closed).
        for c in [src, dst] {
            if rules.workflow.is_final(&c.status) {
                return Err(CaseError::State(format!(
                    "case #{} is closed; closed cases are final",
                    c.number
                )));
            }
        }
        let closed = rules
            .workflow
            .states
            .iter()
            .find(|s| s.category == Category::Closed)
            .map(|s| s.key.clone())
            .unwrap_or_else(|| "closed".into());
        let actor = Actor::User(user);
        let mut w = CaseWrite::default();
        w.change.merged_into = Some(dst.id);
        if src.status != closed {
            Self::status_effects(rules, targets, &src.status, &closed, now, &mut w);
            w.change.status = Some(closed);
        }
        w.events.push(event(
            "merged_into",
            actor,
            true,
            serde_json::json!({"into": dst.id, "into_number": dst.number}),
        ));
        let mut w2 = CaseWrite::default();
        w2.events.push(event(
            "merged",
            actor,
            false,
            serde_json::json!({"from": src.id, "from_number": src.number, "from_subject": src.subject}),
        ));
        w2.messages.push(NewMessage {
            author_kind: "system".into(),
            author_user_id: Some(user.id.0),
            visibility: "internal".into(),
            channel: "note".into(),
            body_text: format!(
                "Case #{} ({}) was merged into this case.",
                src.number, src.subject
            ),
            ..NewMessage::default()
        });
        Ok((w, w2))
    }

    /// Applies a macro: its actions on the case, then its reply (if any) as a public reply.
    pub async fn apply_macro(
        &self,
        tenant: TenantId,
        user: &UserRow,
        id: CaseId,
        macro_id: i64,
    ) -> Result<CaseDetail> {
        let row = self
            .store
            .definitions(tenant, "macro")
            .await?
            .into_iter()
            .find(|m| m.id == macro_id)
            .ok_or(CaseError::NotFound("macro"))?;
        let m: Macro = serde_json::from_str(&row.spec)
            .map_err(|e| CaseError::Invalid(format!("macro {} is unreadable: {e}", row.name)))?;
        for _ in 0..RETRIES {
            let case = self
                .store
                .case(tenant, id)
                .await?
                .ok_or(CaseError::NotFound("case"))?;
            let rules = self.case_rules(tenant).await?;
            if rules.workflow.is_final(&case.status) {
                return Err(CaseError::State(format!(
                    "case #{} is closed; closed cases are final",
                    case.number
                )));
            }
            let (flags, tier) = self.flags_and_tier(tenant, case.customer_id).await?;
            let before = Self::facts(&case, tier, flags);
            let (after, effects) = rules::apply_macro(&m, &before);
            let targets = self.store.case_targets(tenant, id).await?;
            let now = self.now();
            let mut w = CaseWrite::default();
            let templates = self
                .apply_outcome(
                    tenant,
                    &case,
                    &rules,
                    &targets,
                    &before,
                    &after,
                    &effects,
                    &[],
                    now,
                    &mut w,
                )
                .await?;
            // Events of a macro are the agent's, not the system's.
            for e in &mut w.events {
                e.actor_kind = "user".into();
                e.actor_id = Some(user.id.0);
            }
            w.events.push(event(
                "macro",
                Actor::User(user),
                false,
                serde_json::json!({"macro": m.name}),
            ));
            self.plan_followup(tenant, &case, &mut w, now).await?;
            match self
                .store
                .write_case(tenant, id, case.version, &w, now)
                .await
            {
                Ok(_) => {
                    if let Some(text) = &m.reply_template {
                        let rendered = self
                            .render_for_customer(
                                tenant,
                                CustomerId(case.customer_id),
                                text,
                                Escape::Text,
                            )
                            .await
                            .map_err(|e| CaseError::Invalid(e.to_string()))?;
                        self.reply_internal(
                            tenant,
                            Actor::User(user),
                            id,
                            &ReplyInput {
                                body: rendered.output,
                                ..ReplyInput::default()
                            },
                            true,
                            None,
                        )
                        .await?;
                    }
                    for t in templates {
                        self.reply_internal(
                            tenant,
                            Actor::User(user),
                            id,
                            &ReplyInput {
                                template_id: Some(t),
                                ..ReplyInput::default()
                            },
                            true,
                            None,
                        )
                        .await?;
                    }
                    return self.case_detail(tenant, id, true).await;
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(busy())
    }

    /// A page of a saved view, with its count (capped at [`QUEUE_COUNT_CAP`]).
    pub async fn queue(
        &self,
        tenant: TenantId,
        user: &UserRow,
        view: View,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<QueuePage> {
        // A queue needs only the workflow (which statuses are open), not every rule.
        let workflow = self.workflow(tenant).await?;
        let (filter, order) = self.view_filter(user, view, &workflow);
        let after = cursor.map(decode_cursor).transpose()?;
        let limit = limit.clamp(1, QUEUE_PAGE_MAX);
        let cases = self
            .store
            .list_cases(tenant, &filter, order, after, limit + 1)
            .await?;
        let count = self
            .store
            .count_cases(tenant, &filter, QUEUE_COUNT_CAP + 1)
            .await?;
        let mut cases = cases;
        let more = cases.len() as i64 > limit;
        cases.truncate(usize::try_from(limit).unwrap_or(0));
        let next_cursor = if more {
            cases.last().map(|c| {
                let key = match order {
                    QueueOrder::Updated => c.updated_at,
                    QueueOrder::Due => c.next_due_at.unwrap_or(i64::MAX),
                };
                encode_cursor(key, c.id)
            })
        } else {
            None
        };
        Ok(QueuePage {
            view,
            count: count.min(QUEUE_COUNT_CAP),
            count_capped: count > QUEUE_COUNT_CAP,
            cases,
            next_cursor,
        })
    }

    fn view_filter(
        &self,
        user: &UserRow,
        view: View,
        workflow: &Workflow,
    ) -> (CaseFilter, QueueOrder) {
        let open = open_statuses(workflow);
        match view {
            View::Mine => (
                CaseFilter {
                    owner: Some(Some(user.id.0)),
                    statuses: open,
                    ..CaseFilter::default()
                },
                QueueOrder::Updated,
            ),
            View::Unassigned => (
                CaseFilter {
                    owner: Some(None),
                    statuses: open,
                    ..CaseFilter::default()
                },
                QueueOrder::Updated,
            ),
            View::Breaching => (
                CaseFilter {
                    statuses: open,
                    due_before: Some(self.now() + 60 * MINUTE_MS),
                    ..CaseFilter::default()
                },
                QueueOrder::Due,
            ),
            View::Handoff => (
                CaseFilter {
                    statuses: open,
                    awaiting_handoff: true,
                    ..CaseFilter::default()
                },
                QueueOrder::Updated,
            ),
            View::Open => (
                CaseFilter {
                    statuses: open,
                    ..CaseFilter::default()
                },
                QueueOrder::Updated,
            ),
            View::Done => (
                CaseFilter {
                    statuses: done_statuses(workflow),
                    ..CaseFilter::default()
                },
                QueueOrder::Updated,
            ),
        }
    }

    /// Every view with its (capped) count, for the console's sidebar.
    pub async fn queue_counts(
        &self,
        tenant: TenantId,
        user: &UserRow,
    ) -> Result<Vec<(View, i64, bool)>> {
        let workflow = self.workflow(tenant).await?;
        let mut out = Vec::new();
        for v in View::ALL {
            let (f, _) = self.view_filter(user, v, &workflow);
            let n = self
                .store
                .count_cases(tenant, &f, QUEUE_COUNT_CAP + 1)
                .await?;
            out.push((v, n.min(QUEUE_COUNT_CAP), n > QUEUE_COUNT_CAP));
        }
        Ok(out)
    }

    /// Records that `user` is viewing (or replying to) a case; returns the others there now.
    pub async fn case_presence(
        &self,
        tenant: TenantId,
        user: &UserRow,
        id: CaseId,
        replying: bool,
    ) -> Result<Vec<PresenceRow>> {
        if self.store.case(tenant, id).await?.is_none() {
            return Err(CaseError::NotFound("case"));
        }
        let now = self.now();
        self.store
            .touch_presence(
                tenant,
                id,
                user.id.0,
                if replying { "replying" } else { "viewing" },
                now,
            )
            .await?;
        Ok(self
            .store
            .presence(tenant, id, now - PRESENCE_WINDOW_MS)
            .await?
            .into_iter()
            .filter(|p| p.user_id != user.id.0)
            .collect())
    }

    /// One round of the escalation scheduler: fires every escalation step that has come due,
    /// each exactly once (the store's guard holds across nodes and restarts), and sets when
    /// each target is next looked at. Returns how many steps fired.
    pub async fn run_escalations(&self, node: &str) -> Result<usize> {
        let now = self.now();
        let mut fired_n = 0;
        for (tenant, row) in self.store.targets_to_check(now, 500).await? {
            match self.escalate_target(node, now, tenant, &row).await {
                Ok(n) => fired_n += n,
                // The database itself failing ends the round; it is retried on the next one.
                Err(CaseError::Store(e)) => return Err(CaseError::Store(e)),
                // One tenant's unreadable rules (say, a calendar saved by an older version) must
                // not stop escalations for everyone: log it and look again in a while.
                Err(e) => {
                    tracing::warn!(tenant = tenant.0, target = row.id, error = %e,
                        "escalation check failed; retrying in 15 minutes");
                    self.store
                        .set_target_check(row.id, Some(now + 15 * MINUTE_MS))
                        .await?;
                }
            }
        }
        Ok(fired_n)
    }

    /// Fires the escalation steps of one target that have come due; returns how many fired.
    async fn escalate_target(
        &self,
        node: &str,
        now: i64,
        tenant: TenantId,
        row: &TargetRow,
    ) -> Result<usize> {
        let mut fired_n = 0;
        let mut breached = false;
        let Some(t) = target_of(row).filter(|_| running(row)) else {
            self.store.set_target_check(row.id, None).await?;
            return Ok(0);
        };
        let rules = self.case_rules(tenant).await?;
        let mut fired: BTreeSet<i64> = self
            .store
            .fired_escalations(row.id)
            .await?
            .into_iter()
            .collect();
        let due: Vec<EscalationRule> =
            sla::due_escalations(&rules.escalations, &t, &rules.calendar, now, &fired)
                .into_iter()
                .cloned()
                .collect();
        for rule in due {
            let Some(case) = self.store.case(tenant, CaseId(row.case_id)).await? else {
                break;
            };
            let mut w = CaseWrite::default();
            w.events.push(event(
                "escalated",
                Actor::System,
                false,
                serde_json::json!({"target": row.kind, "percent": rule.percent, "level": rule.level,
                    "due_at": row.due_at}),
            ));
            let managers = self.team_managers(tenant, case.team_id).await?;
            let what = if rule.percent >= 100 {
                format!("missed its {} target", row.kind.replace('_', " "))
            } else {
                format!(
                    "has used {}% of its {} target",
                    rule.percent,
                    row.kind.replace('_', " ")
                )
            };
            for a in &rule.actions {
                match a {
                    sla::EscalationAction::NotifyOwner => {
                        if let Some(o) = case.owner_id {
                            w.notifications.push(NewNotification {
                                user_id: o,
                                kind: "escalation".into(),
                                body: format!("Case #{} {what}", case.number),
                            });
                        }
                    }
                    sla::EscalationAction::NotifyTeamManager => {
                        for m in &managers {
                            w.notifications.push(NewNotification {
                                user_id: *m,
                                kind: "escalation".into(),
                                body: format!(
                                    "Case #{} {what} (owner: {})",
                                    case.number,
                                    case.owner_name.clone().unwrap_or_else(|| "nobody".into())
                                ),
                            });
                        }
                    }
                    sla::EscalationAction::RaisePriority => {
                        let p = Priority::parse(&case.priority).unwrap_or_default();
                        if p.raised() != p {
                            w.change.priority = Some(p.raised().as_str().to_string());
                            w.events.push(event("priority", Actor::System, false,
                                serde_json::json!({"from": p.as_str(), "to": p.raised().as_str(), "reason": "escalation"})));
                        }
                    }
                    sla::EscalationAction::Reassign { to_user, to_team } => {
                        let to = match to_user {
                            Some(u) => Some(*u),
                            None => managers.first().copied(),
                        };
                        if let Some(team) = to_team
                            && Some(*team) != case.team_id
                            && self.store.team(tenant, *team).await?.is_some()
                        {
                            w.change.team_id = Some(Some(*team));
                        }
                        if let Some(u) = to
                            && Some(u) != case.owner_id
                            && let Ok(user) = self.staff_user(tenant, u).await
                        {
                            w.change.owner_id = Some(Some(u));
                            w.events.push(event("assigned", Actor::System, true,
                                serde_json::json!({"owner_id": u, "owner_name": user.display_name, "reason": "escalation"})));
                            w.notifications.push(NewNotification {
                                user_id: u,
                                kind: "escalation".into(),
                                body: format!("Case #{} {what}; it is now yours", case.number),
                            });
                        }
                    }
                }
            }
            // The first step at or past 100% to fire on a target is the moment it is missed:
            // the tenant's `target_breached` triggers run then, once (the step is fired once).
            let breached_before = rules
                .escalations
                .iter()
                .any(|r| r.percent >= 100 && fired.contains(&r.id));
            match self
                .store
                .fire_escalation(
                    tenant,
                    CaseId(row.case_id),
                    row.id,
                    rule.id,
                    node,
                    case.version,
                    &w,
                    now,
                )
                .await
            {
                Ok(true) => {
                    fired_n += 1;
                    breached |= rule.percent >= 100 && !breached_before;
                }
                Ok(false) => {}
                // Someone changed the case meanwhile: look again next round, with what they
                // did (the target's next check stays due).
                Err(StoreError::Conflict(_)) => return Ok(fired_n),
                Err(e) => return Err(e.into()),
            }
            fired.insert(rule.id);
        }
        let next = sla::next_escalation_at(&rules.escalations, &t, &rules.calendar, &fired);
        self.store.set_target_check(row.id, next).await?;
        if breached {
            self.run_triggers(tenant, CaseId(row.case_id), Event::TargetBreached)
                .await?;
        }
        Ok(fired_n)
    }

    /// Open tasks (call-backs, letters to print, follow-ups), soonest due first.
    pub async fn open_tasks(
        &self,
        tenant: TenantId,
        kind: Option<&str>,
        case: Option<CaseId>,
    ) -> Result<Vec<concierge_store::cases::TaskRow>> {
        Ok(self.store.open_tasks(tenant, kind, case, 200).await?)
    }
}

/// After several tries the case kept changing under us.
fn busy() -> CaseError {
    CaseError::State("the case is being changed by others; try again".into())
}

fn parse_route(s: &str) -> Result<ReplyRoute> {
    [
        ReplyRoute::Email,
        ReplyRoute::Portal,
        ReplyRoute::LetterPage,
        ReplyRoute::CallTask,
        ReplyRoute::Visit,
        ReplyRoute::Chat,
    ]
    .into_iter()
    .find(|r| r.as_str() == s.trim())
    .ok_or_else(|| {
        CaseError::Invalid(format!(
            "{} is not a reply route (use email, portal, letter_page, call_task, visit or chat)",
            concierge_domain::customer::preview(s, 30)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policies_are_valid_and_tiers_win_over_priorities() {
        let ps = default_policies();
        for p in &ps {
            p.validate().unwrap_or_else(|e| panic!("{}: {e}", p.name));
        }
        let p = sla::select_policy(&ps, Some("Platinum"), "urgent", "email");
        assert_eq!(p.map(|p| p.name.as_str()), Some("Platinum"));
        let p = sla::select_policy(&ps, None, "urgent", "email");
        assert_eq!(p.map(|p| p.name.as_str()), Some("Urgent"));
        let p = sla::select_policy(&ps, Some("Bronze"), "normal", "web");
        assert_eq!(p.map(|p| p.name.as_str()), Some("Standard"));
    }

    #[test]
    fn custom_fields_merge_validate_and_remove() {
        let cur = serde_json::json!({"store": "Seoul", "old": 1});
        let changes = serde_json::json!({"order_value": 129.5, "old": null, "vip_line": true});
        let m = merge_custom_fields(&cur, changes.as_object().unwrap()).unwrap();
        assert_eq!(
            serde_json::Value::Object(m),
            serde_json::json!({"store": "Seoul", "order_value": 129.5, "vip_line": true})
        );
        for bad in [
            serde_json::json!({"Bad Key": 1}),
            serde_json::json!({"nested": {"a": 1}}),
            serde_json::json!({"long": "x".repeat(1001)}),
        ] {
            assert!(
                merge_custom_fields(&cur, bad.as_object().unwrap()).is_err(),
                "{bad}"
            );
        }
        let many: serde_json::Map<_, _> = (0..51)
            .map(|i| (format!("f{i}"), serde_json::json!(i)))
            .collect();
        assert!(merge_custom_fields(&serde_json::json!({}), &many).is_err());
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(17, 4)).ok(), Some((17, 4)));
        assert!(decode_cursor("x.y").is_err());
        assert!(decode_cursor("12").is_err());
    }

    #[test]
    fn views_parse_by_name_only() {
        for v in View::ALL {
            assert_eq!(View::parse(v.as_str()).ok(), Some(v));
        }
        assert!(View::parse("everything").is_err());
    }
}
