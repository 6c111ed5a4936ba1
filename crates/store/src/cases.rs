//! Cases (issue 4): the rows of a case's life — the case itself, its messages and internal
//! notes with attachments, its event stream (the audit trail), its service-level targets and
//! the escalation steps fired on them, hand-offs between teams, tags, presence, tasks and
//! staff notifications.
//!
//! Every change to a case goes through one [`CaseWrite`] applied in one transaction with an
//! optimistic version check: the case row, its events (mirrored onto the customer's
//! timeline), the change log the search index follows, and any tasks or notifications it
//! causes are committed together or not at all. The store records; the rules that decide
//! what to write live in the domain crate and the application layer.

use crate::bulk::Batch;
use crate::{Backend, Result, Store, StoreError};
use concierge_domain::{CaseId, CustomerId, TenantId};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A case with its service-level targets (by id) and its customer's tier: what changing
/// it needs to read first ([`Store::case_with_targets`]).
pub type CaseWithTargets = (CaseRow, Vec<TargetRow>, Option<String>);

/// A case with the names a reader needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseRow {
    pub id: i64,
    pub number: i64,
    pub subject: String,
    pub kind: String,
    pub channel: String,
    pub customer_id: i64,
    pub customer_name: String,
    pub household_id: Option<i64>,
    pub order_id: Option<i64>,
    pub priority: String,
    pub status: String,
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    pub team_id: Option<i64>,
    pub team_name: Option<String>,
    pub tags: Vec<String>,
    pub parent_case_id: Option<i64>,
    pub merged_into: Option<i64>,
    pub first_response_at: Option<i64>,
    pub next_due_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub solved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub version: i64,
    /// The tenant's own fields, a JSON object.
    pub custom_fields: serde_json::Value,
}

/// A message on a case: from the customer, a public reply, or an internal note.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub case_id: i64,
    pub author_kind: String,
    pub author_user_id: Option<i64>,
    pub author_name: Option<String>,
    pub author_customer_id: Option<i64>,
    pub author_email: Option<String>,
    pub visibility: String,
    pub channel: String,
    pub route: Option<String>,
    pub body_text: String,
    pub body_html: Option<String>,
    pub delivery_state: Option<String>,
    pub delivery_error: Option<String>,
    pub created_at: i64,
    pub attachments: Vec<AttachmentRow>,
}

/// An attachment's metadata; the bytes live in the data directory under `sha256`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttachmentRow {
    pub id: i64,
    pub case_id: i64,
    pub message_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    #[serde(skip)]
    pub sha256: String,
    pub created_at: i64,
}

/// One entry of a case's event stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseEventRow {
    pub id: i64,
    pub kind: String,
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub visibility: String,
    pub detail: serde_json::Value,
    pub at: i64,
}

/// A service-level target of a case as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRow {
    pub id: i64,
    pub case_id: i64,
    pub kind: String,
    pub team_id: Option<i64>,
    pub policy_id: Option<i64>,
    pub started_at: i64,
    pub business_ms: i64,
    pub due_at: i64,
    pub paused_since: Option<i64>,
    pub met_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub next_check_at: Option<i64>,
}

/// One step of a case's path between teams.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandoffRow {
    pub id: i64,
    pub from_team: Option<i64>,
    pub from_team_name: Option<String>,
    pub to_team: i64,
    pub to_team_name: Option<String>,
    pub reason: String,
    pub by_user: Option<i64>,
    pub by_name: Option<String>,
    pub at: i64,
    pub accepted_at: Option<i64>,
}

/// A new case's fields.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub subject: String,
    pub kind: String,
    pub channel: String,
    pub customer_id: CustomerId,
    pub household_id: Option<i64>,
    pub order_id: Option<i64>,
    pub priority: String,
    pub status: String,
    pub owner_id: Option<i64>,
    pub team_id: Option<i64>,
    pub parent_case_id: Option<i64>,
    /// A JSON object of the tenant's own fields.
    pub custom_fields: String,
}

/// A message to add.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    /// `customer`, `staff` or `system`.
    pub author_kind: String,
    pub author_user_id: Option<i64>,
    pub author_customer_id: Option<i64>,
    pub author_email: Option<String>,
    /// `public` or `internal`.
    pub visibility: String,
    pub channel: String,
    /// How a public reply reaches the customer (`email`, `letter_page`, `call_task`, ...).
    pub route: Option<String>,
    pub body_text: String,
    pub body_html: Option<String>,
    pub delivery_state: Option<String>,
    pub attachments: Vec<NewAttachment>,
    /// The mail Message-ID of the message (an inbound mail's, or one we made).
    pub mail_message_id: Option<String>,
    /// The inbound mail this message was made from. The mail is linked to the message in the
    /// same transaction; a mail already linked to a message refuses the whole write
    /// ([`StoreError::AlreadyLinked`], distinct from a version conflict so callers do not
    /// retry it), so a retried mail is stored exactly once.
    pub inbound_mail_id: Option<i64>,
    /// With `inbound_mail_id`: the outcome mail intake records on the inbound row in the
    /// same transaction, so intake needs no commit of its own after the message.
    pub inbound_record: Option<InboundRecord>,
}

/// What mail intake records on an inbound mail with the message made from it: the row is
/// marked processed with `detail`, and its deduplication key (Message-ID + content) is
/// claimed. Another mail of the tenant holding the key refuses the whole write with
/// [`StoreError::AlreadyLinked`].
#[derive(Debug, Clone, Default)]
pub struct InboundRecord {
    /// What the mail pipeline found (the `detail` of the inbound row, JSON).
    pub detail: String,
    pub dedupe_key: String,
    pub header_message_id: Option<String>,
}

/// An attachment whose bytes are already stored under `sha256`.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

/// An event to append to the case (and the customer's timeline).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: String,
    /// `user`, `customer` or `system`.
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    /// `customer` when the customer may see this step in the portal, else `internal`.
    pub visibility: String,
    pub detail: serde_json::Value,
}

/// A target to start.
#[derive(Debug, Clone)]
pub struct NewTarget {
    pub kind: String,
    pub team_id: Option<i64>,
    pub policy_id: Option<i64>,
    pub started_at: i64,
    pub business_ms: i64,
    pub due_at: i64,
    pub next_check_at: Option<i64>,
}

/// Work for a person (a call-back, a letter to print, a follow-up).
#[derive(Debug, Clone)]
pub struct NewTask {
    pub kind: String,
    pub customer_id: Option<i64>,
    pub case_id: Option<i64>,
    pub title: String,
    pub assignee_id: Option<i64>,
    pub due_at: i64,
    /// Makes creating the same task twice a no-op.
    pub unique_key: Option<String>,
}

/// A notification for a staff member.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub user_id: i64,
    pub kind: String,
    pub body: String,
}

/// A hand-off to record.
#[derive(Debug, Clone)]
pub struct NewHandoff {
    pub from_team: Option<i64>,
    pub to_team: i64,
    pub reason: String,
    pub by_user: Option<i64>,
}

/// Fields of the case row to change; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct CaseChange {
    pub subject: Option<String>,
    pub kind: Option<String>,
    pub priority: Option<String>,
    pub status: Option<String>,
    pub owner_id: Option<Option<i64>>,
    pub team_id: Option<Option<i64>>,
    pub order_id: Option<Option<i64>>,
    pub solved_at: Option<Option<i64>>,
    pub closed_at: Option<Option<i64>>,
    pub first_response_at: Option<i64>,
    pub next_due_at: Option<Option<i64>>,
    pub merged_into: Option<i64>,
    /// The whole object of custom fields (JSON text).
    pub custom_fields: Option<String>,
}

/// Everything one action does to a case, applied atomically.
#[derive(Debug, Clone, Default)]
pub struct CaseWrite {
    pub change: CaseChange,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
    pub messages: Vec<NewMessage>,
    pub events: Vec<NewEvent>,
    pub new_targets: Vec<NewTarget>,
    /// Targets to save as given (matched by id within the case).
    pub targets: Vec<TargetRow>,
    pub handoff: Option<NewHandoff>,
    /// Marks the open hand-offs of the case as accepted.
    pub accept_handoffs: bool,
    pub tasks: Vec<NewTask>,
    pub notifications: Vec<NewNotification>,
}

impl CaseWrite {
    /// Whether applying this would change nothing.
    pub fn is_empty(&self) -> bool {
        let c = &self.change;
        c.subject.is_none()
            && c.kind.is_none()
            && c.priority.is_none()
            && c.status.is_none()
            && c.owner_id.is_none()
            && c.team_id.is_none()
            && c.order_id.is_none()
            && c.solved_at.is_none()
            && c.closed_at.is_none()
            && c.first_response_at.is_none()
            && c.next_due_at.is_none()
            && c.merged_into.is_none()
            && c.custom_fields.is_none()
            && self.add_tags.is_empty()
            && self.remove_tags.is_empty()
            && self.messages.is_empty()
            && self.events.is_empty()
            && self.new_targets.is_empty()
            && self.targets.is_empty()
            && self.handoff.is_none()
            && !self.accept_handoffs
            && self.tasks.is_empty()
            && self.notifications.is_empty()
    }
}

/// What happened when a write was applied: the case written (id and number, so nobody needs
/// to read it back) and the new message ids, in order.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub case_id: i64,
    pub case_number: i64,
    pub message_ids: Vec<i64>,
}

/// Which cases a queue shows.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// `Some(None)`: unassigned only.
    pub owner: Option<Option<i64>>,
    pub team: Option<i64>,
    /// Any of these statuses (empty: all).
    pub statuses: Vec<String>,
    pub customer: Option<i64>,
    /// Cases with a running target due before this instant.
    pub due_before: Option<i64>,
    pub tag: Option<String>,
    /// Cases with a hand-off not yet accepted by the receiving team.
    pub awaiting_handoff: bool,
}

/// The order of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueOrder {
    /// Most recently updated first.
    #[default]
    Updated,
    /// Soonest due first.
    Due,
}

/// A team with its settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamRow {
    pub id: i64,
    pub name: String,
    pub manager_id: Option<i64>,
    pub handoff_mins: Option<i64>,
    pub assignment: String,
    pub last_assigned_user: Option<i64>,
    pub calendar_id: Option<i64>,
}

/// A team member with their current load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberRow {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub role: String,
    pub cap: Option<i64>,
    pub available: bool,
    pub open_cases: i64,
}

/// Someone looking at or writing on a case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PresenceRow {
    pub user_id: i64,
    pub name: String,
    pub mode: String,
    pub seen_at: i64,
}

/// A task for a person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRow {
    pub id: i64,
    pub kind: String,
    pub customer_id: Option<i64>,
    pub case_id: Option<i64>,
    pub title: String,
    pub assignee_id: Option<i64>,
    pub due_at: i64,
    pub status: String,
    pub outcome: Option<String>,
    pub created_at: i64,
    pub done_at: Option<i64>,
}

/// A staff notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationRow {
    pub id: i64,
    pub kind: String,
    pub case_id: Option<i64>,
    pub body: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

/// A named, stored JSON definition (trigger, macro, policy, rule, calendar).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpecRow {
    pub id: i64,
    pub name: String,
    pub event: Option<String>,
    pub spec: String,
    pub position: i64,
    pub active: bool,
}

/// A reply template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateRow {
    pub id: i64,
    pub name: String,
    pub body: String,
}

pub(crate) const CASE_SELECT: &str = "SELECT c.id, c.number, c.subject, c.kind, c.channel, c.customer_id, \
    cu.display_name AS customer_name, c.household_id, c.order_id, c.priority, c.status, \
    c.owner_id, u.display_name AS owner_name, c.team_id, t.name AS team_name, \
    c.parent_case_id, c.merged_into, c.first_response_at, c.next_due_at, c.created_at, \
    c.updated_at, c.solved_at, c.closed_at, c.version, c.custom_fields FROM cases c \
    JOIN customers cu ON cu.id = c.customer_id \
    LEFT JOIN users u ON u.id = c.owner_id LEFT JOIN teams t ON t.id = c.team_id";

/// The columns of a case read with its targets and tier ([`Store::case_with_targets`]), in
/// order, with their types: a row of another kind in the same `UNION` has NULLs of these
/// types under these names ([`case_with_targets_nulls`]).
const CASE_WITH_TARGETS_COLUMNS: [(&str, &str); 28] = [
    ("id", "BIGINT"),
    ("number", "BIGINT"),
    ("subject", "TEXT"),
    ("kind", "TEXT"),
    ("channel", "TEXT"),
    ("customer_id", "BIGINT"),
    ("customer_name", "TEXT"),
    ("household_id", "BIGINT"),
    ("order_id", "BIGINT"),
    ("priority", "TEXT"),
    ("status", "TEXT"),
    ("owner_id", "BIGINT"),
    ("owner_name", "TEXT"),
    ("team_id", "BIGINT"),
    ("team_name", "TEXT"),
    ("parent_case_id", "BIGINT"),
    ("merged_into", "BIGINT"),
    ("first_response_at", "BIGINT"),
    ("next_due_at", "BIGINT"),
    ("created_at", "BIGINT"),
    ("updated_at", "BIGINT"),
    ("solved_at", "BIGINT"),
    ("closed_at", "BIGINT"),
    ("version", "BIGINT"),
    ("custom_fields", "TEXT"),
    ("tags", "TEXT"),
    ("targets", "TEXT"),
    ("tier", "TEXT"),
];

/// `, CAST(NULL AS type) AS name` for each of [`CASE_WITH_TARGETS_COLUMNS`].
pub(crate) fn case_with_targets_nulls() -> String {
    CASE_WITH_TARGETS_COLUMNS
        .iter()
        .map(|(name, ty)| format!(", CAST(NULL AS {ty}) AS {name}"))
        .collect()
}

pub(crate) fn case_from(r: &AnyRow) -> Result<CaseRow> {
    Ok(CaseRow {
        id: r.try_get("id")?,
        number: r.try_get("number")?,
        subject: r.try_get("subject")?,
        kind: r.try_get("kind")?,
        channel: r.try_get("channel")?,
        customer_id: r.try_get("customer_id")?,
        customer_name: r.try_get("customer_name")?,
        household_id: r.try_get("household_id")?,
        order_id: r.try_get("order_id")?,
        priority: r.try_get("priority")?,
        status: r.try_get("status")?,
        owner_id: r.try_get("owner_id")?,
        owner_name: r.try_get("owner_name")?,
        team_id: r.try_get("team_id")?,
        team_name: r.try_get("team_name")?,
        tags: Vec::new(),
        parent_case_id: r.try_get("parent_case_id")?,
        merged_into: r.try_get("merged_into")?,
        first_response_at: r.try_get("first_response_at")?,
        next_due_at: r.try_get("next_due_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        solved_at: r.try_get("solved_at")?,
        closed_at: r.try_get("closed_at")?,
        version: r.try_get("version")?,
        custom_fields: serde_json::from_str(&r.try_get::<String, _>("custom_fields")?)
            .unwrap_or_else(|_| serde_json::json!({})),
    })
}

const TARGET_COLS: &str = "id, case_id, kind, team_id, policy_id, started_at, business_ms, \
    due_at, paused_since, met_at, cancelled_at, next_check_at";

fn target_from(r: &AnyRow) -> Result<TargetRow> {
    Ok(TargetRow {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        kind: r.try_get("kind")?,
        team_id: r.try_get("team_id")?,
        policy_id: r.try_get("policy_id")?,
        started_at: r.try_get("started_at")?,
        business_ms: r.try_get("business_ms")?,
        due_at: r.try_get("due_at")?,
        paused_since: r.try_get("paused_since")?,
        met_at: r.try_get("met_at")?,
        cancelled_at: r.try_get("cancelled_at")?,
        next_check_at: r.try_get("next_check_at")?,
    })
}

fn task_from(r: &AnyRow) -> Result<TaskRow> {
    Ok(TaskRow {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        customer_id: r.try_get("customer_id")?,
        case_id: r.try_get("case_id")?,
        title: r.try_get("title")?,
        assignee_id: r.try_get("assignee_id")?,
        due_at: r.try_get("due_at")?,
        status: r.try_get("status")?,
        outcome: r.try_get("outcome")?,
        created_at: r.try_get("created_at")?,
        done_at: r.try_get("done_at")?,
    })
}

/// What [`apply_parts`] needs to know of the case (the caller has it from its own statement
/// on the case row): its customer, number and subject as of after the change.
struct CaseHead {
    customer_id: i64,
    number: i64,
    subject: String,
    /// Inserted in this transaction with its `next_due_at` already set from the write's
    /// new targets (it has no others), so that need not be worked out again.
    fresh: bool,
    /// A customer inserted in this transaction (its change log row is written with the
    /// case's).
    new_customer: Option<i64>,
    /// On SQLite, the highest message id ever given (`sqlite_sequence`), read by the
    /// transaction's first statement under the write lock: the write's messages take the
    /// next ids and go with its batch. `None`: they are inserted one by one, each answering
    /// its id.
    messages_seq: Option<i64>,
    /// The whole write goes as one PostgreSQL statement ([`Batch::one_statement`]) whose
    /// head part `h` changes or inserts the case row: the case's id, customer, number and
    /// subject are read from `h` by the other parts (the fields above are not used), and
    /// each message's id from its own insert.
    one_statement: bool,
}

/// In a one-statement write ([`CaseHead::one_statement`]), the case's id, customer, number
/// and subject (as JSON text) as the other parts read them from its head part `h`.
const H_ID: &str = "(SELECT id FROM h)";
const H_CUSTOMER: &str = "(SELECT customer_id FROM h)";
const H_NUMBER_TEXT: &str = "(SELECT CAST(number AS TEXT) FROM h)";
const H_SUBJECT_JSON: &str = "(SELECT CAST(to_json(subject) AS TEXT) FROM h)";

/// A timeline summary (a JSON object with the case's `number` and `subject`) as the value
/// to store: its text, or in a one-statement write the same text with the number and the
/// subject spliced in from the head part (PostgreSQL's `to_json` escapes a string as
/// serde_json does: the same control characters, in the same forms).
fn summary_val(summary: &serde_json::Value, one_statement: bool) -> crate::bulk::Val {
    use crate::bulk::Val;
    let Some(map) = summary.as_object().filter(|_| one_statement) else {
        return Val::Text(summary.to_string());
    };
    let mut parts = Vec::new();
    let mut text = String::from("{");
    // In the order serde_json writes the object (its map's own order).
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&serde_json::Value::String(k.clone()).to_string());
        text.push(':');
        match k.as_str() {
            "number" | "subject" => {
                parts.push(Val::Text(std::mem::take(&mut text)));
                parts.push(Val::Expr(
                    if k == "number" {
                        H_NUMBER_TEXT
                    } else {
                        H_SUBJECT_JSON
                    }
                    .to_string(),
                ));
            }
            _ => text.push_str(&v.to_string()),
        }
    }
    text.push('}');
    parts.push(Val::Text(text));
    Val::Joined(parts)
}

impl CaseHead {
    /// From a `RETURNING customer_id, number, subject` row, with the subject `w` sets.
    fn from_row(r: &AnyRow, w: &CaseWrite) -> Result<CaseHead> {
        Ok(CaseHead {
            customer_id: r.try_get("customer_id")?,
            number: r.try_get("number")?,
            subject: match &w.change.subject {
                Some(s) => s.clone(),
                None => r.try_get("subject")?,
            },
            fresh: false,
            new_customer: None,
            messages_seq: messages_seq(r),
            one_statement: false,
        })
    }
}

/// On SQLite, the column a write's first statement returns with the highest message id ever
/// given ([`CaseHead::messages_seq`]); nothing on PostgreSQL.
fn messages_seq_column(sqlite: bool) -> &'static str {
    if sqlite {
        ", (SELECT seq FROM sqlite_sequence WHERE name = 'messages') AS messages_seq"
    } else {
        ""
    }
}

/// [`messages_seq_column`] read back: `None` when the row does not have it (0 when no
/// message was ever stored).
fn messages_seq(r: &AnyRow) -> Option<i64> {
    use sqlx::Column;
    r.columns()
        .iter()
        .any(|c| c.name() == "messages_seq")
        .then(|| r.try_get::<Option<i64>, _>("messages_seq").ok().flatten())
        .map(Option::unwrap_or_default)
}

/// Applies everything in `w` except the case-row change: messages inserted at once inside
/// `tx` when their ids are needed and not known otherwise, the rest pushed to `batch`. Rows
/// of one kind go in one multi-row statement each (timeline, events, targets, change log).
/// Returns, for a one-statement write, the expressions that read each message's id.
async fn apply_parts(
    mut tx: Option<&mut AnyConnection>,
    tenant: TenantId,
    case_id: i64,
    head: &CaseHead,
    w: &CaseWrite,
    now: i64,
    batch: &mut Batch,
) -> Result<(Applied, Vec<String>)> {
    use crate::bulk::Val;
    let one = head.one_statement;
    let number = head.number;
    let subject = head.subject.as_str();
    let case_val = if one {
        Val::Expr(H_ID.into())
    } else {
        Val::Int(case_id)
    };
    let customer_val = if one {
        Val::Expr(H_CUSTOMER.into())
    } else {
        Val::Int(head.customer_id)
    };
    // A customer created by a one-statement write is read from its head part wherever the
    // write names them by their stand-in id.
    let stand_in = head.new_customer.filter(|_| one);
    let customer = |id: Option<i64>| -> Val {
        match id {
            Some(i) if Some(i) == stand_in => Val::Expr(H_CUSTOMER.into()),
            _ => id.into(),
        }
    };
    let mut timeline_rows: Vec<Vec<Val>> = Vec::new();
    // Every node's search index follows the change log: a new customer is findable as soon
    // as their case is.
    let mut change_rows: Vec<Vec<Val>> = head
        .new_customer
        .map(|c| change_row(tenant, "customer", customer(Some(c)), now))
        .into_iter()
        .collect();
    let mut timeline_row = |kind: &str, actor: Option<i64>, summary: &serde_json::Value| {
        timeline_rows.push(vec![
            Val::Int(tenant.0),
            customer_val.clone(),
            Val::Text(kind.to_string()),
            Val::Int(now),
            actor.into(),
            Val::Text("case".into()),
            case_val.clone(),
            summary_val(summary, one),
        ]);
    };
    for tag in &w.add_tags {
        batch.push(
            "INSERT INTO case_tags (tenant_id, case_id, tag) VALUES ($1, $2, $3) \
             ON CONFLICT (case_id, tag) DO NOTHING",
            vec![Val::Int(tenant.0), case_val.clone(), Val::Text(tag.clone())],
        );
    }
    for tag in &w.remove_tags {
        batch.push(
            "DELETE FROM case_tags WHERE case_id = $1 AND tag = $2",
            vec![case_val.clone(), Val::Text(tag.clone())],
        );
    }
    let mut applied = Applied {
        case_id,
        case_number: number,
        message_ids: Vec::new(),
    };
    let mut given = head.messages_seq;
    let mut returned = Vec::new();
    for m in &w.messages {
        let id = match (given.as_mut(), tx.as_deref_mut()) {
            _ if one => {
                let id = batch_message(batch, tenant, &case_val, &customer, m, now, None);
                returned.push(id.clone());
                Val::Expr(id)
            }
            (Some(last), _) => {
                *last += 1;
                batch_message(batch, tenant, &case_val, &customer, m, now, Some(*last));
                applied.message_ids.push(*last);
                Val::Int(*last)
            }
            (None, Some(tx)) => {
                let id = insert_message(tx, tenant, case_id, m, now).await?;
                applied.message_ids.push(id);
                Val::Int(id)
            }
            (None, None) => {
                return Err(StoreError::Other(
                    "internal: a message to insert with no transaction to insert it in".into(),
                ));
            }
        };
        let attachment_rows: Vec<Vec<Val>> = m
            .attachments
            .iter()
            .map(|a| {
                vec![
                    Val::Int(tenant.0),
                    case_val.clone(),
                    id.clone(),
                    Val::Text(a.filename.clone()),
                    Val::Text(a.content_type.clone()),
                    Val::Int(a.size),
                    Val::Text(a.sha256.clone()),
                    Val::Int(now),
                ]
            })
            .collect();
        batch.insert_rows(
            "attachments",
            &[
                "tenant_id",
                "case_id",
                "message_id",
                "filename",
                "content_type",
                "size",
                "sha256",
                "created_at",
            ],
            &attachment_rows,
        );
        let excerpt: String = m.body_text.chars().take(200).collect();
        let summary = serde_json::json!({
            "number": number,
            "subject": subject,
            "author": m.author_kind,
            "visibility": m.visibility,
            "channel": m.channel,
            "excerpt": excerpt,
        });
        timeline_row("message", m.author_user_id, &summary);
        change_rows.push(change_row(tenant, "message", id, now));
    }
    let event_rows: Vec<Vec<Val>> = w
        .events
        .iter()
        .map(|e| {
            vec![
                Val::Int(tenant.0),
                case_val.clone(),
                Val::Text(e.kind.clone()),
                Val::Text(e.actor_kind.clone()),
                if e.actor_kind == "customer" {
                    customer(e.actor_id)
                } else {
                    e.actor_id.into()
                },
                Val::Text(e.visibility.clone()),
                Val::Text(e.detail.to_string()),
                Val::Int(now),
            ]
        })
        .collect();
    batch.insert_rows(
        "case_events",
        &[
            "tenant_id",
            "case_id",
            "kind",
            "actor_kind",
            "actor_id",
            "visibility",
            "detail",
            "at",
        ],
        &event_rows,
    );
    for e in &w.events {
        let summary = serde_json::json!({
            "number": number,
            "subject": subject,
            "event": e.kind,
            "detail": e.detail,
        });
        let actor = if e.actor_kind == "user" {
            e.actor_id
        } else {
            None
        };
        timeline_row("case_event", actor, &summary);
    }
    batch.insert_rows(
        "timeline_events",
        &[
            "tenant_id",
            "customer_id",
            "kind",
            "at",
            "actor_id",
            "ref_kind",
            "ref_id",
            "summary",
        ],
        &timeline_rows,
    );
    let target_rows: Vec<Vec<Val>> = w
        .new_targets
        .iter()
        .map(|t| {
            vec![
                Val::Int(tenant.0),
                case_val.clone(),
                Val::Text(t.kind.clone()),
                t.team_id.into(),
                t.policy_id.into(),
                Val::Int(t.started_at),
                Val::Int(t.business_ms),
                t.due_at.into(),
                t.next_check_at.into(),
            ]
        })
        .collect();
    batch.insert_rows(
        "case_targets",
        &[
            "tenant_id",
            "case_id",
            "kind",
            "team_id",
            "policy_id",
            "started_at",
            "business_ms",
            "due_at",
            "next_check_at",
        ],
        &target_rows,
    );
    for t in &w.targets {
        batch.push(
            "UPDATE case_targets SET due_at = $3, paused_since = $4, met_at = $5, \
             cancelled_at = $6, next_check_at = $7, business_ms = $8 \
             WHERE tenant_id = $1 AND id = $2 AND case_id = $9",
            vec![
                Val::Int(tenant.0),
                Val::Int(t.id),
                t.due_at.into(),
                t.paused_since.into(),
                t.met_at.into(),
                t.cancelled_at.into(),
                t.next_check_at.into(),
                Val::Int(t.business_ms),
                case_val.clone(),
            ],
        );
    }
    if w.accept_handoffs {
        batch.push(
            "UPDATE case_handoffs SET accepted_at = $3 \
             WHERE tenant_id = $1 AND case_id = $2 AND accepted_at IS NULL",
            vec![Val::Int(tenant.0), case_val.clone(), Val::Int(now)],
        );
    }
    if let Some(h) = &w.handoff {
        batch.push(
            "INSERT INTO case_handoffs (tenant_id, case_id, from_team, to_team, reason, by_user, \
             at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                Val::Int(tenant.0),
                case_val.clone(),
                h.from_team.into(),
                h.to_team.into(),
                Val::Text(h.reason.clone()),
                h.by_user.into(),
                Val::Int(now),
            ],
        );
    }
    for t in &w.tasks {
        let (sql, vals) = task_insert(tenant, t, customer(t.customer_id), now);
        batch.push(sql, vals);
    }
    for n in &w.notifications {
        batch.push(
            "INSERT INTO notifications (tenant_id, user_id, kind, case_id, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                Val::Int(tenant.0),
                Val::Int(n.user_id),
                Val::Text(n.kind.clone()),
                case_val.clone(),
                Val::Text(n.body.clone()),
                Val::Int(now),
            ],
        );
    }
    change_rows.push(change_row(tenant, "case", case_val.clone(), now));
    batch.insert_rows(
        "change_log",
        &["tenant_id", "entity", "entity_id", "op", "at"],
        &change_rows,
    );
    // The earliest running target decides when the case is next due: worked out again when
    // this write adds or changes targets (a case inserted with its new targets has it
    // already), or sets it; targets change nowhere else. A one-statement write works it
    // out in its head part (see `next_due_sql`).
    if !one && next_due_changes(w, head.fresh) {
        batch.push(
            "UPDATE cases SET next_due_at = (SELECT MIN(due_at) FROM case_targets \
             WHERE tenant_id = $2 AND case_id = $1 AND met_at IS NULL \
             AND cancelled_at IS NULL AND paused_since IS NULL) WHERE id = $1",
            // With the tenant, the targets' index (tenant, case) finds the case's targets;
            // without it, every target of every tenant was read.
            vec![Val::Int(case_id), Val::Int(tenant.0)],
        );
    }
    Ok((applied, returned))
}

/// Whether write `w` must work out again when the case is next due ([`apply_parts`]):
/// it adds or changes targets (a `fresh` case, inserted with its new targets, has it
/// already), or sets it.
fn next_due_changes(w: &CaseWrite, fresh: bool) -> bool {
    !w.targets.is_empty() || (!fresh && !w.new_targets.is_empty()) || w.change.next_due_at.is_some()
}

/// In a one-statement write ([`CaseHead::one_statement`]) that must work out when the case
/// is next due, the assignment its head part (the case row's UPDATE, whose `$1` is the
/// tenant and `$2` the case) makes, with its values numbered from `$first`: the earliest
/// due time of the running targets as they are after the write — those the write leaves
/// alone, read from the table (the other parts' changes are not visible to the statement),
/// and those it saves or starts, given.
fn next_due_sql(w: &CaseWrite, first: usize) -> (String, Vec<crate::bulk::Val>) {
    use crate::bulk::Val;
    let mut vals: Vec<Val> = w.targets.iter().map(|t| Val::Int(t.id)).collect();
    let others = if vals.is_empty() {
        String::new()
    } else {
        format!(
            " AND id NOT IN ({})",
            crate::bulk::params(first, vals.len())
        )
    };
    let given = w
        .targets
        .iter()
        .filter(|t| t.met_at.is_none() && t.cancelled_at.is_none() && t.paused_since.is_none())
        .map(|t| t.due_at)
        .chain(w.new_targets.iter().map(|t| t.due_at))
        .min();
    vals.push(given.into());
    (
        format!(
            "next_due_at = (SELECT MIN(d) FROM (SELECT due_at AS d FROM case_targets \
             WHERE tenant_id = $1 AND case_id = $2 AND met_at IS NULL AND cancelled_at IS NULL \
             AND paused_since IS NULL{others} UNION ALL SELECT CAST(${} AS BIGINT)) x)",
            first + vals.len() - 1
        ),
        vals,
    )
}

/// The columns of a message row ([`message_vals`]), `$1`..`$14`.
const MESSAGE_INSERT: &str = "INSERT INTO messages (tenant_id, case_id, author_kind, \
    author_user_id, author_customer_id, author_email, visibility, channel, route, body_text, \
    body_html, delivery_state, created_at, mail_message_id";

/// The values of message `m` of case `case_id`, in [`MESSAGE_INSERT`]'s order.
fn message_vals(
    tenant: TenantId,
    case: &crate::bulk::Val,
    author_customer: crate::bulk::Val,
    m: &NewMessage,
    now: i64,
) -> Vec<crate::bulk::Val> {
    use crate::bulk::Val;
    vec![
        Val::Int(tenant.0),
        case.clone(),
        Val::Text(m.author_kind.clone()),
        m.author_user_id.into(),
        author_customer,
        m.author_email.clone().into(),
        Val::Text(m.visibility.clone()),
        Val::Text(m.channel.clone()),
        m.route.clone().into(),
        Val::Text(m.body_text.clone()),
        m.body_html.clone().into(),
        m.delivery_state.clone().into(),
        Val::Int(now),
        m.mail_message_id.clone().into(),
    ]
}

/// What linking inbound mail `$15` to its message sets besides `message_id` and `state`,
/// and the new `state`, with their values (`$16`..`$19`) pushed to `vals`: with mail
/// intake's record, the deduplication key and the outcome, and `'processed'`; without, the
/// case only, and the state as it is.
fn link_set(
    m: &NewMessage,
    now: i64,
    vals: &mut Vec<crate::bulk::Val>,
) -> (&'static str, &'static str) {
    use crate::bulk::Val;
    match &m.inbound_record {
        Some(rec) => {
            vals.extend([
                Val::Text(rec.detail.clone()),
                Val::Int(now),
                Val::Text(rec.dedupe_key.clone()),
                rec.header_message_id.clone().into(),
            ]);
            (
                "header_message_id = CASE WHEN dedupe_key IS NULL OR dedupe_key = $18 \
                 THEN $19 ELSE header_message_id END, dedupe_key = COALESCE(dedupe_key, $18), \
                 case_id = $2, error = NULL, detail = $16, processed_at = $17",
                "'processed'",
            )
        }
        None => ("case_id = $2", "state"),
    }
}

/// Inserts message `m` of case `case_id` and returns its id. A message made from an inbound
/// mail is linked to the mail in the same statement — exactly once: the mail takes the
/// message only if it has none yet, else the whole write is refused with
/// [`StoreError::AlreadyLinked`]. With mail intake's record, the mail's deduplication key is
/// claimed (a key another mail holds also refuses the write, as in [`claim_dedupe_key`]) and
/// the mail is marked processed. One round trip: on PostgreSQL the insert is a CTE of the
/// link's UPDATE; on SQLite the two statements go as one query, the link taking the message
/// id from `last_insert_rowid()`.
async fn insert_message(
    tx: &mut AnyConnection,
    tenant: TenantId,
    case_id: i64,
    m: &NewMessage,
    now: i64,
) -> Result<i64> {
    use crate::bulk::Val;
    let insert = format!(
        "{MESSAGE_INSERT}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    );
    let mut vals = message_vals(
        tenant,
        &crate::bulk::Val::Int(case_id),
        m.author_customer_id.into(),
        m,
        now,
    );
    let bind = crate::bulk::query_with;
    let Some(inbound) = m.inbound_mail_id else {
        let row = bind(format!("{insert} RETURNING id"), &vals)
            .fetch_one(&mut *tx)
            .await?;
        return Ok(row.try_get(0)?);
    };
    vals.push(Val::Int(inbound));
    let (set, state) = link_set(m, now, &mut vals);
    let sql = if crate::bulk::is_sqlite(tx) {
        format!(
            "{insert}; UPDATE inbound_mail SET message_id = last_insert_rowid(), {set}, \
             state = {state} WHERE tenant_id = $1 AND id = $15 AND message_id IS NULL \
             RETURNING message_id"
        )
    } else {
        format!(
            "WITH m AS ({insert} RETURNING id) UPDATE inbound_mail SET message_id = m.id, {set}, \
             state = {state} FROM m WHERE inbound_mail.tenant_id = $1 AND inbound_mail.id = $15 \
             AND inbound_mail.message_id IS NULL RETURNING m.id"
        )
    };
    let rows = bind(sql, &vals)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| key_taken(e, inbound))?;
    match rows.first() {
        Some(r) => Ok(r.try_get(0)?),
        None => Err(StoreError::AlreadyLinked(inbound)),
    }
}

/// [`insert_message`] as statements of `batch` (of case `case`, its id or the expression
/// reading it; `customer` gives the value naming a customer by id), with the message's id given (`id`; on SQLite, under the write lock, see
/// [`CaseHead::messages_seq`]) or returned by its insert (`None`, in a one-statement write:
/// the expression reading it is returned). A mail linked already fails the link's
/// statement (its `state` would become NULL), and a deduplication key another mail holds
/// fails it too: the batch stops there and the transaction is rolled back; [`link_refused`]
/// turns either error into [`StoreError::AlreadyLinked`].
fn batch_message(
    batch: &mut Batch,
    tenant: TenantId,
    case: &crate::bulk::Val,
    customer: &dyn Fn(Option<i64>) -> crate::bulk::Val,
    m: &NewMessage,
    now: i64,
    id: Option<i64>,
) -> String {
    use crate::bulk::Val;
    let mut vals = message_vals(tenant, case, customer(m.author_customer_id), m, now);
    let reads = format!("(SELECT id FROM s{})", batch.len());
    let (id_val, sql) = match id {
        Some(id) => {
            vals.push(Val::Int(id));
            (
                Val::Int(id),
                format!(
                    "{MESSAGE_INSERT}, id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
                     $12, $13, $14, $15)"
                ),
            )
        }
        None => (
            Val::Expr(reads.clone()),
            format!(
                "{MESSAGE_INSERT}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                 $13, $14) RETURNING id"
            ),
        ),
    };
    batch.push(sql, vals);
    let Some(inbound) = m.inbound_mail_id else {
        return reads;
    };
    let mut vals = vec![Val::Int(tenant.0), case.clone()];
    // `$3`..`$14` unused, so that `link_set`'s numbers hold.
    vals.extend(std::iter::repeat_n(Val::Null, 12));
    vals.push(Val::Int(inbound));
    let (set, state) = link_set(m, now, &mut vals);
    vals.push(id_val);
    let id_param = vals.len();
    batch.push(
        format!(
            "UPDATE inbound_mail SET message_id = ${id_param}, {set}, \
             state = CASE WHEN message_id IS NULL THEN {state} END \
             WHERE tenant_id = $1 AND id = $15"
        ),
        vals,
    );
    reads
}

/// A batch's error from linking inbound mail `inbound` to its message ([`batch_message`]) as
/// [`StoreError::AlreadyLinked`]; any other error as it is.
fn link_refused(e: StoreError, inbound: Option<i64>) -> StoreError {
    // SQLite names the column, PostgreSQL the column and table, or the unique index.
    let refused = |m: &str| {
        m.contains("inbound_mail.state")
            || m.contains("inbound_mail.dedupe_key")
            || m.contains("\"inbound_mail_dedupe\"")
            || (m.contains("column \"state\"") && m.contains("relation \"inbound_mail\""))
    };
    match (&e, inbound) {
        (StoreError::Conflict(m) | StoreError::Other(m), Some(id)) if refused(m) => {
            StoreError::AlreadyLinked(id)
        }
        _ => e,
    }
}

/// Commits a case write `w` with its `batch` ([`crate::store::WriteTx::commit_with`]); a
/// mail link refused in the batch is [`StoreError::AlreadyLinked`].
async fn commit_case_write(tx: crate::store::WriteTx, batch: Batch, w: &CaseWrite) -> Result<()> {
    tx.commit_with(batch)
        .await
        .map_err(|e| link_refused(e, linked_inbound(w)))
}

/// The inbound mail a write links to its message, whose refusal [`link_refused`] reports.
fn linked_inbound(w: &CaseWrite) -> Option<i64> {
    w.messages.iter().find_map(|m| m.inbound_mail_id)
}

/// A row of the ordered change log that every node's search index follows.
fn change_row(
    tenant: TenantId,
    entity: &str,
    id: crate::bulk::Val,
    now: i64,
) -> Vec<crate::bulk::Val> {
    use crate::bulk::Val;
    vec![
        Val::Int(tenant.0),
        Val::Text(entity.to_string()),
        id,
        Val::Text("upsert".into()),
        Val::Int(now),
    ]
}

/// The statement that inserts task `t` (a task with the unique key of an existing one is
/// not inserted), its customer given as `customer`.
fn task_insert(
    tenant: TenantId,
    t: &NewTask,
    customer: crate::bulk::Val,
    now: i64,
) -> (&'static str, Vec<crate::bulk::Val>) {
    use crate::bulk::Val;
    (
        "INSERT INTO tasks (tenant_id, kind, customer_id, case_id, title, assignee_id, due_at, \
         unique_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (tenant_id, unique_key) DO NOTHING",
        vec![
            Val::Int(tenant.0),
            Val::Text(t.kind.clone()),
            customer,
            t.case_id.into(),
            Val::Text(t.title.clone()),
            t.assignee_id.into(),
            Val::Int(t.due_at),
            t.unique_key.clone().into(),
            Val::Int(now),
        ],
    )
}

async fn insert_task(
    tx: &mut AnyConnection,
    tenant: TenantId,
    t: &NewTask,
    now: i64,
) -> Result<()> {
    let (sql, vals) = task_insert(tenant, t, t.customer_id.into(), now);
    crate::bulk::query_with(sql.to_string(), &vals)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Builds `UPDATE cases SET ...` for the set fields of `c`; binds are pushed to `vals` and
/// numbered after the first `offset` parameters.
fn change_sql(c: &CaseChange, offset: usize) -> (String, Vec<crate::bulk::Val>) {
    use crate::bulk::Val;
    let mut sets: Vec<String> = Vec::new();
    let mut vals: Vec<Val> = Vec::new();
    let mut push = |col: &str, v: Val| {
        vals.push(v);
        sets.push(format!("{col} = ${}", offset + vals.len()));
    };
    if let Some(v) = &c.subject {
        push("subject", Val::Text(v.clone()));
    }
    if let Some(v) = &c.kind {
        push("kind", Val::Text(v.clone()));
    }
    if let Some(v) = &c.priority {
        push("priority", Val::Text(v.clone()));
    }
    if let Some(v) = &c.status {
        push("status", Val::Text(v.clone()));
    }
    if let Some(v) = c.owner_id {
        push("owner_id", v.into());
    }
    if let Some(v) = c.team_id {
        push("team_id", v.into());
    }
    if let Some(v) = c.order_id {
        push("order_id", v.into());
    }
    if let Some(v) = c.solved_at {
        push("solved_at", v.into());
    }
    if let Some(v) = c.closed_at {
        push("closed_at", v.into());
    }
    if let Some(v) = c.first_response_at {
        push("first_response_at", Val::Int(v));
    }
    if let Some(v) = c.next_due_at {
        push("next_due_at", v.into());
    }
    if let Some(v) = c.merged_into {
        push("merged_into", Val::Int(v));
    }
    if let Some(v) = &c.custom_fields {
        push("custom_fields", Val::Text(v.clone()));
    }
    (sets.join(", "), vals)
}

impl Store {
    /// Creates a case (numbered per tenant) and applies `w` to it, atomically. The case is not
    /// read back: [`Applied`] says its id and number.
    pub async fn create_case(
        &self,
        tenant: TenantId,
        c: &NewCase,
        w: &CaseWrite,
        now: i64,
    ) -> Result<Applied> {
        // On PostgreSQL one statement, unless the write also changes the new case's row (its
        // insert is the statement's head; nothing else may change that row) or targets.
        if self.sqlite_writer().is_none() && fits_one_statement(w, true) {
            return self.create_case_one_statement(tenant, c, w, now).await;
        }
        // The case's insert opens the transaction (with its BEGIN, on SQLite).
        let (mut tx, rows) = self
            .begin_write_with(
                &case_insert_sql(self.backend() == Backend::Sqlite, "$5"),
                |q| bind_case_insert(q, tenant, c, w, now),
            )
            .await?;
        let (applied, batch) = case_inserted(&mut tx, &rows, tenant, c, w, now, None).await?;
        commit_case_write(tx, batch, w).await?;
        Ok(applied)
    }

    /// Creates the customer of a first contact and the case their message opens, in one
    /// transaction. `c.customer_id`, and every customer id in `w` equal to it, stand for the
    /// customer created here (pass an id no customer has, such as 0). `Ok(None)`: a live
    /// customer of the tenant already holds the identity key (a concurrent first contact
    /// from the same address, or a customer whose contact changed since); nothing was
    /// written, and the caller finds or creates the customer on its own.
    pub async fn create_case_for_new_customer(
        &self,
        tenant: TenantId,
        customer: &crate::identity::FirstContact<'_>,
        c: &NewCase,
        w: &CaseWrite,
        now: i64,
    ) -> Result<Option<Applied>> {
        if self.sqlite_writer().is_some() {
            return self
                .create_case_for_new_customer_sqlite(tenant, customer, c, w, now)
                .await;
        }
        if fits_one_statement(w, true) {
            return self
                .create_case_for_new_customer_one_statement(tenant, customer, c, w, now)
                .await;
        }
        let mut tx = self.begin_write().await?;
        let Some(customer_id) =
            crate::identity::insert_customer_in(&mut tx, tenant, customer, now).await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        let (c, w) = with_new_customer(c, w, customer_id);
        let (applied, batch) =
            create_case_in(&mut tx, tenant, &c, &w, now, Some(customer_id)).await?;
        commit_case_write(tx, batch, &w).await?;
        Ok(Some(applied))
    }

    /// [`Store::create_case_for_new_customer`] on SQLite: the customer, their contacts, the
    /// case number and the case go as one query, with the transaction's `BEGIN`. The
    /// customer is the newest row of `customers` (the write lock is held), and a live
    /// customer holding the identity key fails the customer's insert, so nothing after it
    /// runs and the transaction is rolled back.
    async fn create_case_for_new_customer_sqlite(
        &self,
        tenant: TenantId,
        customer: &crate::identity::FirstContact<'_>,
        c: &NewCase,
        w: &CaseWrite,
        now: i64,
    ) -> Result<Option<Applied>> {
        let newest = "(SELECT max(id) FROM customers)";
        let mut sql = String::from(
            "INSERT INTO customers (tenant_id, display_name, sort_name, identity_key, \
             created_at, updated_at) VALUES ($1, $16, $17, $18, $14, $14);\n",
        );
        if !customer.contacts.is_empty() {
            let values: Vec<String> = (0..customer.contacts.len())
                .map(|i| format!("({})", crate::bulk::params(19 + 5 * i, 5)))
                .collect();
            sql.push_str(&format!(
                "INSERT INTO customer_contacts (tenant_id, customer_id, kind, value, normalized, \
                 is_primary, verified, created_at) SELECT $1, {newest}, column1, column2, \
                 column3, column4, column5, $14 FROM (VALUES {});\n",
                values.join(", ")
            ));
        }
        sql.push_str(&case_insert_sql(true, newest));
        let contacts = customer.contacts;
        let taken = |e: &StoreError| matches!(e, StoreError::Conflict(m) if m.contains("customers.identity_key"));
        let (mut tx, rows) = match self
            .begin_write_with(&sql, |q| {
                let mut q = bind_case_insert(q, tenant, c, w, now)
                    .bind(customer.display_name.to_string())
                    .bind(customer.sort_name.to_string())
                    .bind(customer.identity_key.map(str::to_string));
                for k in contacts {
                    q = q
                        .bind(k.kind.clone())
                        .bind(k.value.clone())
                        .bind(k.normalized.clone())
                        .bind(i16::from(k.primary))
                        .bind(i16::from(k.verified));
                }
                q
            })
            .await
        {
            Ok(done) => done,
            Err(e) if taken(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let customer_id: i64 = match rows.first() {
            Some(r) => r.try_get("customer_id")?,
            None => {
                return Err(StoreError::Other(
                    "the new customer's case was not inserted".into(),
                ));
            }
        };
        let (c, w) = with_new_customer(c, w, customer_id);
        let (applied, batch) =
            case_inserted(&mut tx, &rows, tenant, &c, &w, now, Some(customer_id)).await?;
        commit_case_write(tx, batch, &w).await?;
        Ok(Some(applied))
    }

    /// Applies `w` to a case if it is still at `version` (optimistic locking); the case is
    /// not read back. `Ok(None)`: no such case in `tenant`; `Err(Conflict)`: someone changed
    /// it meanwhile.
    pub async fn write_case(
        &self,
        tenant: TenantId,
        id: CaseId,
        version: i64,
        w: &CaseWrite,
        now: i64,
    ) -> Result<Option<Applied>> {
        if self.sqlite_writer().is_none() && fits_one_statement(w, false) {
            return self
                .write_case_one_statement(tenant, id, version, w, now)
                .await;
        }
        Ok(self
            .write_cases(tenant, &[(id, version, w)], now)
            .await?
            .and_then(|mut a| a.pop()))
    }

    /// Applies several case writes in one transaction, each `(case, version, write)` under
    /// its own version check: all of them or none (a merge closes one case and notes it on
    /// the other). `Ok(None)`: one of the cases is not in `tenant`; `Err(Conflict)`: one was
    /// changed meanwhile. The cases are locked in id order, so two writes naming the same
    /// cases cannot wait on each other; what each got is returned in the order given.
    pub async fn write_cases(
        &self,
        tenant: TenantId,
        writes: &[(CaseId, i64, &CaseWrite)],
        now: i64,
    ) -> Result<Option<Vec<Applied>>> {
        let mut order: Vec<usize> = (0..writes.len()).collect();
        order.sort_by_key(|&i| writes[i].0.0);
        let Some((&first, rest)) = order.split_first() else {
            return Ok(Some(Vec::new()));
        };
        let bump = format!(
            "UPDATE cases SET version = version + 1, updated_at = $4 \
             WHERE tenant_id = $1 AND id = $2 AND version = $3 \
             RETURNING customer_id, number, subject{}",
            messages_seq_column(self.backend() == Backend::Sqlite)
        );
        let (id, version, _) = writes[first];
        // The first version bump opens the transaction (with its BEGIN, on SQLite).
        let (mut tx, mut bumped) = self
            .begin_write_with(&bump, |q| {
                q.bind(tenant.0).bind(id.0).bind(version).bind(now)
            })
            .await?;
        let mut applied: Vec<Option<Applied>> = vec![None; writes.len()];
        let mut pending: Option<(Batch, &CaseWrite)> = None;
        for &i in std::iter::once(&first).chain(rest) {
            let (id, version, w) = writes[i];
            // After the first write (whose bump opened the transaction): the previous write's
            // statements run first, so its messages take their ids before this one's bump
            // reads the highest id given (SQLite); then this case's bump.
            if let Some((batch, pw)) = pending.take() {
                batch
                    .run(&mut tx)
                    .await
                    .map_err(|e| link_refused(e, linked_inbound(pw)))?;
                bumped = sqlx::query(sqlx::AssertSqlSafe(bump.clone()))
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(version)
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?;
            }
            // Dropping `tx` on the way out rolls everything back.
            let Some(row) = bumped.first() else {
                let exists: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM cases WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.0)
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?;
                return if exists == 0 {
                    Ok(None)
                } else {
                    Err(case_changed())
                };
            };
            let head = CaseHead::from_row(row, w)?;
            let (a, batch) = apply_change_and_parts(&mut tx, tenant, id.0, &head, w, now).await?;
            applied[i] = Some(a);
            pending = Some((batch, w));
        }
        if let Some((batch, w)) = pending {
            commit_case_write(tx, batch, w).await?;
        }
        Ok(applied.into_iter().collect())
    }

    /// Fires escalation step `rule_id` of a target once: records it and applies `w` in one
    /// transaction, if the case is still at `version`. `Ok(false)`: it had fired already
    /// (here or on another node); `Err(Conflict)`: the case changed since it was read.
    #[allow(clippy::too_many_arguments)]
    pub async fn fire_escalation(
        &self,
        tenant: TenantId,
        case: CaseId,
        target_id: i64,
        rule_id: i64,
        node: &str,
        version: i64,
        w: &CaseWrite,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_pool_tx().await?;
        let inserted = sqlx::query(
            "INSERT INTO escalations_fired (tenant_id, target_id, rule_id, fired_at, node) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target_id, rule_id) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(target_id)
        .bind(rule_id)
        .bind(now)
        .bind(node)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        // The step was decided on the case as read at `version`: if someone changed the case
        // since, nothing is written (the step is not recorded either) and it is decided again.
        let bumped = sqlx::query(
            "UPDATE cases SET version = version + 1, updated_at = $3 \
             WHERE tenant_id = $1 AND id = $2 AND version = $4 \
             RETURNING customer_id, number, subject",
        )
        .bind(tenant.0)
        .bind(case.0)
        .bind(now)
        .bind(version)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(bumped) = bumped else {
            return Err(StoreError::Conflict(
                "the case changed while an escalation step was decided".into(),
            ));
        };
        let head = CaseHead::from_row(&bumped, w)?;
        let (_, batch) = apply_change_and_parts(&mut tx, tenant, case.0, &head, w, now).await?;
        batch.run(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The escalation rules already fired on a target.
    pub async fn fired_escalations(&self, target_id: i64) -> Result<Vec<i64>> {
        Ok(
            sqlx::query_scalar("SELECT rule_id FROM escalations_fired WHERE target_id = $1")
                .bind(target_id)
                .fetch_all(self.db())
                .await?,
        )
    }

    /// Running targets whose next escalation check is due, across tenants, soonest first.
    pub async fn targets_to_check(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<(TenantId, TargetRow)>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT tenant_id, {TARGET_COLS} FROM case_targets WHERE next_check_at <= $1 \
             ORDER BY next_check_at, id LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| Ok((TenantId(r.try_get("tenant_id")?), target_from(r)?)))
            .collect()
    }

    /// Sets when a target is next checked for escalation (`None`: never again).
    pub async fn set_target_check(&self, target_id: i64, at: Option<i64>) -> Result<()> {
        sqlx::query("UPDATE case_targets SET next_check_at = $2 WHERE id = $1")
            .bind(target_id)
            .bind(at)
            .execute(self.db())
            .await?;
        Ok(())
    }

    /// A case of `tenant` with its tags, in one statement (the tags aggregated as a JSON
    /// array, in tag order).
    pub async fn case(&self, tenant: TenantId, id: CaseId) -> Result<Option<CaseRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(self.case_select_with("")))
            .bind(tenant.0)
            .bind(id.0)
            .fetch_optional(self.db())
            .await?;
        row.as_ref().map(|r| self.case_with_tags(r)).transpose()
    }

    /// A case with what changing it needs besides, in one statement: its service-level
    /// targets (by id) and its customer's tier (a reply reads all three before it writes).
    pub async fn case_with_targets(
        &self,
        tenant: TenantId,
        id: CaseId,
    ) -> Result<Option<CaseWithTargets>> {
        let row = self
            .warm_fetch_optional(
                sqlx::query(sqlx::AssertSqlSafe(
                    self.case_select_where(&self.targets_and_tier(), "$2"),
                ))
                .bind(tenant.0)
                .bind(id.0),
            )
            .await?;
        row.as_ref()
            .map(|r| self.case_with_targets_from(r))
            .transpose()
    }

    /// [`Store::case_with_targets`] of the case holding the newest message with any of these
    /// Message-IDs (inbound or outbound): what threading a reply by In-Reply-To/References
    /// finds, and the reply's write then needs, in one read. At most
    /// [`crate::mail::MAX_THREAD_IDS`] ids are looked at.
    pub async fn case_with_targets_by_mail_ids(
        &self,
        tenant: TenantId,
        ids: &[String],
    ) -> Result<Option<CaseWithTargets>> {
        let ids = crate::mail::thread_id_list(ids);
        if ids.is_empty() {
            return Ok(None);
        }
        let sql = self.case_by_mail_ids_sql(2, ids.len());
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.0);
        for id in ids {
            q = q.bind(id.clone());
        }
        let row = self.warm_fetch_optional(q).await?;
        row.as_ref()
            .map(|r| self.case_with_targets_from(r))
            .transpose()
    }

    /// [`Store::case_with_targets_by_mail_ids`]'s query, `$1` the tenant and the `n`
    /// Message-IDs numbered from `$first`.
    pub(crate) fn case_by_mail_ids_sql(&self, first: usize, n: usize) -> String {
        let case_id = format!(
            "(SELECT m.case_id FROM messages m WHERE m.tenant_id = $1 AND m.mail_message_id \
             IN ({}) ORDER BY m.id DESC LIMIT 1)",
            crate::bulk::params(first, n)
        );
        self.case_select_where(&self.targets_and_tier(), &case_id)
    }

    /// The extra columns of [`Store::case_with_targets`]: the targets as a JSON array and
    /// the customer's tier.
    pub(crate) fn targets_and_tier(&self) -> String {
        let fields = "'id', t.id, 'case_id', t.case_id, 'kind', t.kind, 'team_id', t.team_id, \
            'policy_id', t.policy_id, 'started_at', t.started_at, 'business_ms', t.business_ms, \
            'due_at', t.due_at, 'paused_since', t.paused_since, 'met_at', t.met_at, \
            'cancelled_at', t.cancelled_at, 'next_check_at', t.next_check_at";
        let targets = match self.backend() {
            Backend::Sqlite => format!(
                "(SELECT json_group_array(json_object({fields})) FROM case_targets t WHERE t.tenant_id = c.tenant_id AND t.case_id = c.id)"
            ),
            Backend::Postgres => format!(
                "(SELECT COALESCE(json_agg(json_build_object({fields})), '[]')::text FROM case_targets t WHERE t.tenant_id = c.tenant_id AND t.case_id = c.id)"
            ),
        };
        format!(
            ", {targets} AS targets, (SELECT tier FROM customer_tiers ct \
             WHERE ct.tenant_id = c.tenant_id AND ct.customer_id = c.customer_id) AS tier"
        )
    }

    /// A row of [`Store::targets_and_tier`]'s select as a case with its targets and tier.
    pub(crate) fn case_with_targets_from(&self, row: &AnyRow) -> Result<CaseWithTargets> {
        let case = self.case_with_tags(row)?;
        let targets: String = row.try_get("targets")?;
        let mut targets: Vec<TargetRow> = serde_json::from_str(&targets).map_err(|e| {
            StoreError::Other(format!(
                "the targets of case {} are unreadable: {e}",
                case.id
            ))
        })?;
        targets.sort_by_key(|t| t.id);
        Ok((case, targets, row.try_get("tier")?))
    }

    /// `SELECT` of one case by `$1` tenant and `$2` id, with its tags (as a JSON array) and
    /// the `extra` columns (`, expr AS name`).
    fn case_select_with(&self, extra: &str) -> String {
        self.case_select_where(extra, "$2")
    }

    /// [`Store::case_select_with`] of the case whose id is `id` (a parameter or a scalar
    /// subquery).
    pub(crate) fn case_select_where(&self, extra: &str, id: &str) -> String {
        // SQLite's `json_group_array` takes no ORDER BY before 3.44: the tags are sorted
        // after reading, in byte order, which is SQLite's `ORDER BY tag`. PostgreSQL orders
        // them in the aggregate, by the database's collation, as `ORDER BY tag` does.
        let tags = match self.backend() {
            Backend::Sqlite => "(SELECT json_group_array(tag) FROM case_tags WHERE case_id = c.id)",
            Backend::Postgres => {
                "(SELECT COALESCE(json_agg(tag ORDER BY tag), '[]')::text FROM case_tags \
                 WHERE case_id = c.id)"
            }
        };
        let select = CASE_SELECT.replacen(
            " FROM cases c",
            &format!(", {tags} AS tags{extra} FROM cases c"),
            1,
        );
        format!("{select} WHERE c.tenant_id = $1 AND c.id = {id}")
    }

    /// A row of [`Store::case_select_with`] as a case with its tags.
    fn case_with_tags(&self, row: &AnyRow) -> Result<CaseRow> {
        let mut c = case_from(row)?;
        let tags: String = row.try_get("tags")?;
        c.tags = serde_json::from_str(&tags).map_err(|e| {
            StoreError::Other(format!("the tags of case {} are unreadable: {e}", c.id))
        })?;
        if self.backend() == Backend::Sqlite {
            c.tags.sort();
        }
        Ok(c)
    }

    /// A case by its number within `tenant`.
    pub async fn case_by_number(&self, tenant: TenantId, number: i64) -> Result<Option<CaseRow>> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM cases WHERE tenant_id = $1 AND number = $2")
                .bind(tenant.0)
                .bind(number)
                .fetch_optional(self.db())
                .await?;
        match id {
            Some(id) => self.case(tenant, CaseId(id)).await,
            None => Ok(None),
        }
    }

    /// A case's messages, oldest first; internal notes only when `include_internal`.
    pub async fn case_messages(
        &self,
        tenant: TenantId,
        case: CaseId,
        include_internal: bool,
    ) -> Result<Vec<MessageRow>> {
        let sql = format!(
            "SELECT m.id, m.case_id, m.author_kind, m.author_user_id, u.display_name AS author_name, \
             m.author_customer_id, m.author_email, m.visibility, m.channel, m.route, m.body_text, \
             m.body_html, m.delivery_state, m.delivery_error, m.created_at FROM messages m \
             LEFT JOIN users u ON u.id = m.author_user_id \
             WHERE m.tenant_id = $1 AND m.case_id = $2 {} ORDER BY m.created_at, m.id",
            if include_internal {
                ""
            } else {
                "AND m.visibility = 'public'"
            }
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .bind(case.0)
            .fetch_all(self.db())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(MessageRow {
                id: r.try_get("id")?,
                case_id: r.try_get("case_id")?,
                author_kind: r.try_get("author_kind")?,
                author_user_id: r.try_get("author_user_id")?,
                author_name: r.try_get("author_name")?,
                author_customer_id: r.try_get("author_customer_id")?,
                author_email: r.try_get("author_email")?,
                visibility: r.try_get("visibility")?,
                channel: r.try_get("channel")?,
                route: r.try_get("route")?,
                body_text: r.try_get("body_text")?,
                body_html: r.try_get("body_html")?,
                delivery_state: r.try_get("delivery_state")?,
                delivery_error: r.try_get("delivery_error")?,
                created_at: r.try_get("created_at")?,
                attachments: Vec::new(),
            });
        }
        let atts = self.case_attachments(tenant, case).await?;
        for a in atts {
            if let Some(m) = out.iter_mut().find(|m| m.id == a.message_id) {
                m.attachments.push(a);
            }
        }
        Ok(out)
    }

    async fn case_attachments(&self, tenant: TenantId, case: CaseId) -> Result<Vec<AttachmentRow>> {
        let rows = sqlx::query(
            "SELECT id, case_id, message_id, filename, content_type, size, sha256, created_at \
             FROM attachments WHERE tenant_id = $1 AND case_id = $2 ORDER BY id",
        )
        .bind(tenant.0)
        .bind(case.0)
        .fetch_all(self.db())
        .await?;
        rows.iter().map(attachment_from).collect()
    }

    /// One attachment of `tenant`, with the visibility of the message it belongs to.
    pub async fn attachment(
        &self,
        tenant: TenantId,
        id: i64,
    ) -> Result<Option<(AttachmentRow, String)>> {
        let row = sqlx::query(
            "SELECT a.id, a.case_id, a.message_id, a.filename, a.content_type, a.size, a.sha256, \
             a.created_at, m.visibility FROM attachments a JOIN messages m ON m.id = a.message_id \
             WHERE a.tenant_id = $1 AND a.id = $2",
        )
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(self.db())
        .await?;
        match row {
            Some(r) => Ok(Some((attachment_from(&r)?, r.try_get("visibility")?))),
            None => Ok(None),
        }
    }

    /// A case's events, oldest first; only the customer-visible ones when `customer_view`.
    pub async fn case_events(
        &self,
        tenant: TenantId,
        case: CaseId,
        customer_view: bool,
    ) -> Result<Vec<CaseEventRow>> {
        let sql = format!(
            "SELECT e.id, e.kind, e.actor_kind, e.actor_id, \
             CASE WHEN e.actor_kind = 'user' THEN u.display_name ELSE NULL END AS actor_name, \
             e.visibility, e.detail, e.at FROM case_events e \
             LEFT JOIN users u ON u.id = e.actor_id \
             WHERE e.tenant_id = $1 AND e.case_id = $2 {} ORDER BY e.at, e.id",
            if customer_view {
                "AND e.visibility = 'customer'"
            } else {
                ""
            }
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .bind(case.0)
            .fetch_all(self.db())
            .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(CaseEventRow {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    actor_kind: r.try_get("actor_kind")?,
                    actor_id: r.try_get("actor_id")?,
                    actor_name: r.try_get("actor_name")?,
                    visibility: r.try_get("visibility")?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// A case's targets, in the order they were started.
    pub async fn case_targets(&self, tenant: TenantId, case: CaseId) -> Result<Vec<TargetRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TARGET_COLS} FROM case_targets WHERE tenant_id = $1 AND case_id = $2 \
             ORDER BY id"
        )))
        .bind(tenant.0)
        .bind(case.0)
        .fetch_all(self.db())
        .await?;
        rows.iter().map(target_from).collect()
    }

    /// A case's path between teams, oldest first.
    pub async fn case_handoffs(&self, tenant: TenantId, case: CaseId) -> Result<Vec<HandoffRow>> {
        let rows = sqlx::query(
            "SELECT h.id, h.from_team, f.name AS from_name, h.to_team, t.name AS to_name, \
             h.reason, h.by_user, u.display_name AS by_name, h.at, h.accepted_at \
             FROM case_handoffs h LEFT JOIN teams f ON f.id = h.from_team \
             LEFT JOIN teams t ON t.id = h.to_team LEFT JOIN users u ON u.id = h.by_user \
             WHERE h.tenant_id = $1 AND h.case_id = $2 ORDER BY h.at, h.id",
        )
        .bind(tenant.0)
        .bind(case.0)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HandoffRow {
                    id: r.try_get("id")?,
                    from_team: r.try_get("from_team")?,
                    from_team_name: r.try_get("from_name")?,
                    to_team: r.try_get("to_team")?,
                    to_team_name: r.try_get("to_name")?,
                    reason: r.try_get("reason")?,
                    by_user: r.try_get("by_user")?,
                    by_name: r.try_get("by_name")?,
                    at: r.try_get("at")?,
                    accepted_at: r.try_get("accepted_at")?,
                })
            })
            .collect()
    }

    fn filter_sql(f: &CaseFilter, binds: &mut Vec<crate::bulk::Val>) -> String {
        use crate::bulk::Val;
        let mut w: Vec<String> = vec!["c.tenant_id = $1".into(), "c.merged_into IS NULL".into()];
        let next = |binds: &mut Vec<Val>, v: Val| {
            binds.push(v);
            format!("${}", binds.len() + 1)
        };
        match f.owner {
            Some(Some(o)) => {
                let p = next(binds, Val::Int(o));
                w.push(format!("c.owner_id = {p}"));
            }
            Some(None) => w.push("c.owner_id IS NULL".into()),
            None => {}
        }
        if let Some(t) = f.team {
            let p = next(binds, Val::Int(t));
            w.push(format!("c.team_id = {p}"));
        }
        if !f.statuses.is_empty() {
            let ps: Vec<String> = f
                .statuses
                .iter()
                .map(|s| next(binds, Val::Text(s.clone())))
                .collect();
            w.push(format!("c.status IN ({})", ps.join(", ")));
        }
        if let Some(cu) = f.customer {
            let p = next(binds, Val::Int(cu));
            w.push(format!("c.customer_id = {p}"));
        }
        if let Some(d) = f.due_before {
            let p = next(binds, Val::Int(d));
            w.push(format!("c.next_due_at IS NOT NULL AND c.next_due_at < {p}"));
        }
        if let Some(tag) = &f.tag {
            let p = next(binds, Val::Text(tag.clone()));
            w.push(format!(
                "EXISTS (SELECT 1 FROM case_tags g WHERE g.case_id = c.id AND g.tag = {p})"
            ));
        }
        if f.awaiting_handoff {
            w.push(
                "EXISTS (SELECT 1 FROM case_handoffs h WHERE h.case_id = c.id \
                 AND h.accepted_at IS NULL)"
                    .into(),
            );
        }
        w.join(" AND ")
    }

    /// A page of a queue. `after` is the (sort key, id) of the last row of the previous page.
    ///
    /// By last change with several statuses, each status is read on its own (an index range
    /// read in order, stopping after `limit` rows) and the pieces are merged: one query with
    /// `status IN (...)` would make the engine sort every matching case first.
    pub async fn list_cases(
        &self,
        tenant: TenantId,
        f: &CaseFilter,
        order: QueueOrder,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<CaseRow>> {
        let mut keys: Vec<(i64, i64)> = Vec::new();
        if order == QueueOrder::Updated && f.statuses.len() > 1 {
            for st in &f.statuses {
                let one = CaseFilter {
                    statuses: vec![st.clone()],
                    ..f.clone()
                };
                keys.extend(self.page_keys(tenant, &one, order, after, limit).await?);
            }
            keys.sort_by(|a, b| b.cmp(a));
            keys.truncate(usize::try_from(limit).unwrap_or(0));
        } else {
            keys = self.page_keys(tenant, f, order, after, limit).await?;
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = keys.iter().map(|(_, id)| id.to_string()).collect();
        let list = ids.join(",");
        // `+c.tenant_id`: the ids already come from a tenant-scoped read; the check stays, but
        // the unary plus keeps SQLite from reading the tenant's whole index range instead of
        // looking the ids up (without table statistics it took `tenant_id = ?` for selective:
        // 215 ms at a million cases instead of 0.1 ms).
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{CASE_SELECT} WHERE c.id IN ({list}) AND +c.tenant_id = $1"
        )))
        .bind(tenant.0)
        .fetch_all(self.db())
        .await?;
        let mut by_id: std::collections::HashMap<i64, CaseRow> = rows
            .iter()
            .map(|r| case_from(r).map(|c| (c.id, c)))
            .collect::<Result<_>>()?;
        let tags = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT case_id, tag FROM case_tags WHERE case_id IN ({list}) ORDER BY tag"
        )))
        .fetch_all(self.db())
        .await?;
        for t in &tags {
            let cid: i64 = t.try_get("case_id")?;
            if let Some(c) = by_id.get_mut(&cid) {
                c.tags.push(t.try_get("tag")?);
            }
        }
        Ok(keys.iter().filter_map(|(_, id)| by_id.remove(id)).collect())
    }

    /// The (sort key, id) of one page of a queue, in queue order.
    async fn page_keys(
        &self,
        tenant: TenantId,
        f: &CaseFilter,
        order: QueueOrder,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<(i64, i64)>> {
        use crate::bulk::Val;
        let mut binds: Vec<Val> = Vec::new();
        let mut wh = Self::filter_sql(f, &mut binds);
        let (key, dir, cmp) = match order {
            QueueOrder::Updated => ("c.updated_at", "DESC", "<"),
            QueueOrder::Due => ("c.next_due_at", "ASC", ">"),
        };
        if let Some((k, id)) = after {
            binds.push(Val::Int(k));
            let pk = binds.len() + 1;
            binds.push(Val::Int(id));
            let pi = binds.len() + 1;
            wh.push_str(&format!(
                " AND ({key} {cmp} ${pk} OR ({key} = ${pk} AND c.id {cmp} ${pi}))"
            ));
        }
        binds.push(Val::Int(limit));
        let pl = binds.len() + 1;
        let sql = format!(
            "SELECT COALESCE({key}, 0) AS k, c.id AS id FROM cases c WHERE {wh} \
             ORDER BY {key} {dir}, c.id {dir} LIMIT ${pl}"
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.0);
        let rows = crate::bulk::bind_all(q, &binds)
            .fetch_all(self.db())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("k")?, r.try_get("id")?)))
            .collect()
    }

    /// How many cases a queue holds, counting at most `cap` (a queue shows "cap+" beyond),
    /// so a count never scans more than `cap` index entries.
    pub async fn count_cases(&self, tenant: TenantId, f: &CaseFilter, cap: i64) -> Result<i64> {
        use crate::bulk::Val;
        let mut binds: Vec<Val> = Vec::new();
        let wh = Self::filter_sql(f, &mut binds);
        binds.push(Val::Int(cap));
        let pl = binds.len() + 1;
        let sql = format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT 1 AS one FROM cases c WHERE {wh} LIMIT ${pl}) q"
        );
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(tenant.0);
        for v in &binds {
            q = match v {
                Val::Int(i) => q.bind(*i),
                Val::Text(s) => q.bind(s.clone()),
                _ => q.bind(None::<i64>),
            };
        }
        Ok(q.fetch_one(self.db()).await?)
    }

    // ---- teams ----

    /// Creates a team.
    pub async fn create_team(
        &self,
        tenant: TenantId,
        name: &str,
        manager: Option<i64>,
        assignment: &str,
        handoff_mins: Option<i64>,
        now: i64,
    ) -> Result<TeamRow> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO teams (tenant_id, name, manager_id, assignment, handoff_mins, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(tenant.0)
        .bind(name)
        .bind(manager)
        .bind(assignment)
        .bind(handoff_mins)
        .bind(now)
        .fetch_one(self.db())
        .await?;
        self.team(tenant, id)
            .await?
            .ok_or_else(|| StoreError::Other("the new team vanished".into()))
    }

    /// Changes a team's settings. `Ok(false)`: no such team.
    pub async fn update_team(
        &self,
        tenant: TenantId,
        id: i64,
        manager: Option<i64>,
        assignment: &str,
        handoff_mins: Option<i64>,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE teams SET manager_id = $3, assignment = $4, handoff_mins = $5 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(manager)
        .bind(assignment)
        .bind(handoff_mins)
        .execute(self.db())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    pub async fn team(&self, tenant: TenantId, id: i64) -> Result<Option<TeamRow>> {
        let row = sqlx::query(
            "SELECT id, name, manager_id, handoff_mins, assignment, last_assigned_user, \
             calendar_id FROM teams WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(self.db())
        .await?;
        row.as_ref().map(team_from).transpose()
    }

    pub async fn teams(&self, tenant: TenantId) -> Result<Vec<TeamRow>> {
        let rows = sqlx::query(
            "SELECT id, name, manager_id, handoff_mins, assignment, last_assigned_user, \
             calendar_id FROM teams WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(tenant.0)
        .fetch_all(self.db())
        .await?;
        rows.iter().map(team_from).collect()
    }

    /// Adds a user to a team or changes their cap and availability.
    pub async fn set_team_member(
        &self,
        tenant: TenantId,
        team: i64,
        user: i64,
        cap: Option<i64>,
        available: bool,
    ) -> Result<()> {
        let ok: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM teams t JOIN users u ON u.tenant_id = t.tenant_id \
             WHERE t.tenant_id = $1 AND t.id = $2 AND u.id = $3",
        )
        .bind(tenant.0)
        .bind(team)
        .bind(user)
        .fetch_one(self.db())
        .await?;
        if ok == 0 {
            return Err(StoreError::Conflict(
                "no such team or user in this tenant".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO team_members (tenant_id, team_id, user_id, cap, available) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (team_id, user_id) \
             DO UPDATE SET cap = excluded.cap, available = excluded.available",
        )
        .bind(tenant.0)
        .bind(team)
        .bind(user)
        .bind(cap)
        .bind(i16::from(available))
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// A team's members with their open-case load.
    pub async fn team_members(
        &self,
        tenant: TenantId,
        team: i64,
        open_statuses: &[&str],
    ) -> Result<Vec<MemberRow>> {
        let ps: Vec<String> = (0..open_statuses.len())
            .map(|i| format!("${}", i + 3))
            .collect();
        let sql = format!(
            "SELECT u.id, u.display_name, u.email, u.role, m.cap, m.available, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM cases c WHERE c.tenant_id = $1 \
              AND c.owner_id = u.id AND c.status IN ({}) AND c.merged_into IS NULL) \
             AS open_cases \
             FROM team_members m JOIN users u ON u.id = m.user_id \
             WHERE m.tenant_id = $1 AND m.team_id = $2 AND u.active = 1 ORDER BY u.id",
            if ps.is_empty() {
                "''".to_string()
            } else {
                ps.join(", ")
            }
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .bind(team);
        for s in open_statuses {
            q = q.bind(s.to_string());
        }
        let rows = q.fetch_all(self.db()).await?;
        rows.iter()
            .map(|r| {
                Ok(MemberRow {
                    user_id: r.try_get("id")?,
                    name: r.try_get("display_name")?,
                    email: r.try_get("email")?,
                    role: r.try_get("role")?,
                    cap: r.try_get("cap")?,
                    available: r.try_get::<i16, _>("available")? != 0,
                    open_cases: r.try_get("open_cases")?,
                })
            })
            .collect()
    }

    /// Remembers who a team assigned last (round-robin).
    pub async fn set_last_assigned(&self, tenant: TenantId, team: i64, user: i64) -> Result<()> {
        sqlx::query("UPDATE teams SET last_assigned_user = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0)
            .bind(team)
            .bind(user)
            .execute(self.db())
            .await?;
        Ok(())
    }

    // ---- presence ----

    /// Records that `user` is viewing or replying to a case now.
    pub async fn touch_presence(
        &self,
        tenant: TenantId,
        case: CaseId,
        user: i64,
        mode: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO case_presence (tenant_id, case_id, user_id, mode, seen_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id, user_id) \
             DO UPDATE SET mode = excluded.mode, seen_at = excluded.seen_at",
        )
        .bind(tenant.0)
        .bind(case.0)
        .bind(user)
        .bind(mode)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Who has been on a case since `since`.
    pub async fn presence(
        &self,
        tenant: TenantId,
        case: CaseId,
        since: i64,
    ) -> Result<Vec<PresenceRow>> {
        let rows = sqlx::query(
            "SELECT p.user_id, u.display_name, p.mode, p.seen_at FROM case_presence p \
             JOIN users u ON u.id = p.user_id WHERE p.tenant_id = $1 AND p.case_id = $2 \
             AND p.seen_at >= $3 ORDER BY p.seen_at DESC",
        )
        .bind(tenant.0)
        .bind(case.0)
        .bind(since)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PresenceRow {
                    user_id: r.try_get("user_id")?,
                    name: r.try_get("display_name")?,
                    mode: r.try_get("mode")?,
                    seen_at: r.try_get("seen_at")?,
                })
            })
            .collect()
    }

    // ---- definitions: triggers, macros, policies, rules, calendars, templates ----

    /// Stores a definition (`kind`: trigger, macro, sla_policy, escalation_rule, calendar).
    #[allow(clippy::too_many_arguments)]
    pub async fn add_definition(
        &self,
        tenant: TenantId,
        kind: &str,
        name: &str,
        event: Option<&str>,
        spec: &str,
        position: i64,
        now: i64,
    ) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO definitions (tenant_id, kind, name, event, spec, position, active, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7) RETURNING id",
        )
        .bind(tenant.0)
        .bind(kind)
        .bind(name)
        .bind(event)
        .bind(spec)
        .bind(position)
        .bind(now)
        .fetch_one(self.db())
        .await?)
    }

    /// Replaces a definition's name, event, spec, position and active flag.
    /// `Ok(false)`: no such definition of that kind in `tenant`.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_definition(
        &self,
        tenant: TenantId,
        kind: &str,
        id: i64,
        name: &str,
        event: Option<&str>,
        spec: &str,
        position: i64,
        active: bool,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE definitions SET name = $4, event = $5, spec = $6, position = $7, \
             active = $8 WHERE tenant_id = $1 AND kind = $2 AND id = $3",
        )
        .bind(tenant.0)
        .bind(kind)
        .bind(id)
        .bind(name)
        .bind(event)
        .bind(spec)
        .bind(position)
        .bind(i16::from(active))
        .execute(self.db())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// The definitions of one kind, by position then id.
    pub async fn definitions(&self, tenant: TenantId, kind: &str) -> Result<Vec<SpecRow>> {
        let rows = sqlx::query(
            "SELECT id, name, event, spec, position, active FROM definitions \
             WHERE tenant_id = $1 AND kind = $2 ORDER BY position, id",
        )
        .bind(tenant.0)
        .bind(kind)
        .fetch_all(self.db())
        .await?;
        rows.iter().map(spec_row).collect()
    }

    /// The definitions of several kinds in one statement, each with its kind, by kind then
    /// position then id (the case rules read this way once per action).
    pub async fn definitions_of_kinds(
        &self,
        tenant: TenantId,
        kinds: &[&str],
    ) -> Result<Vec<(String, SpecRow)>> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT kind, id, name, event, spec, position, active FROM definitions \
             WHERE tenant_id = $1 AND kind IN ({}) ORDER BY kind, position, id",
            marks.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.0);
        for k in kinds {
            q = q.bind(*k);
        }
        let rows = q.fetch_all(self.db()).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("kind")?, spec_row(r)?)))
            .collect()
    }

    /// Deletes a definition. `Ok(false)`: no such definition of that kind in `tenant`.
    pub async fn delete_definition(&self, tenant: TenantId, kind: &str, id: i64) -> Result<bool> {
        let n =
            sqlx::query("DELETE FROM definitions WHERE tenant_id = $1 AND kind = $2 AND id = $3")
                .bind(tenant.0)
                .bind(kind)
                .bind(id)
                .execute(self.db())
                .await?
                .rows_affected();
        Ok(n > 0)
    }

    /// A per-tenant setting (JSON text), if set.
    pub async fn setting(&self, tenant: TenantId, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT value FROM tenant_settings WHERE tenant_id = $1 AND key = $2",
        )
        .bind(tenant.0)
        .bind(key)
        .fetch_optional(self.db())
        .await?)
    }

    /// Sets a per-tenant setting.
    pub async fn set_setting(
        &self,
        tenant: TenantId,
        key: &str,
        value: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenant_settings (tenant_id, key, value, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value, \
             updated_at = excluded.updated_at",
        )
        .bind(tenant.0)
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Adds a reply template; a second one with the same name is a conflict.
    pub async fn add_template(
        &self,
        tenant: TenantId,
        name: &str,
        body: &str,
        now: i64,
    ) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO reply_templates (tenant_id, name, body, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(tenant.0)
        .bind(name)
        .bind(body)
        .bind(now)
        .fetch_one(self.db())
        .await?)
    }

    pub async fn templates(&self, tenant: TenantId) -> Result<Vec<TemplateRow>> {
        let rows = sqlx::query(
            "SELECT id, name, body FROM reply_templates WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(tenant.0)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TemplateRow {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    body: r.try_get("body")?,
                })
            })
            .collect()
    }

    pub async fn template(&self, tenant: TenantId, id: i64) -> Result<Option<TemplateRow>> {
        let row = sqlx::query(
            "SELECT id, name, body FROM reply_templates WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(self.db())
        .await?;
        row.map(|r| {
            Ok(TemplateRow {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                body: r.try_get("body")?,
            })
        })
        .transpose()
    }

    // ---- tasks and notifications ----

    /// Creates a task outside a case write (follow-ups, win-back).
    pub async fn create_task(&self, tenant: TenantId, t: &NewTask, now: i64) -> Result<()> {
        let mut tx = self.begin_pool_tx().await?;
        insert_task(&mut tx, tenant, t, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates many tasks in one transaction; a task whose `unique_key` exists is skipped.
    /// Returns how many were new.
    pub async fn create_tasks(&self, tenant: TenantId, tasks: &[NewTask], now: i64) -> Result<u64> {
        let mut tx = self.begin_pool_tx().await?;
        let mut created = 0;
        for t in tasks {
            let n = sqlx::query(
                "INSERT INTO tasks (tenant_id, kind, customer_id, case_id, title, assignee_id, \
                 due_at, unique_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (tenant_id, unique_key) DO NOTHING",
            )
            .bind(tenant.0)
            .bind(&t.kind)
            .bind(t.customer_id)
            .bind(t.case_id)
            .bind(&t.title)
            .bind(t.assignee_id)
            .bind(t.due_at)
            .bind(t.unique_key.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            created += n;
        }
        tx.commit().await?;
        Ok(created)
    }

    /// Product names of a tenant by id.
    pub async fn product_names(
        &self,
        tenant: TenantId,
    ) -> Result<std::collections::HashMap<i64, String>> {
        let rows = sqlx::query("SELECT id, name FROM products WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_all(self.db())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
            .collect()
    }

    /// Open tasks of `tenant`, soonest due first; only `kind` when given.
    pub async fn open_tasks(
        &self,
        tenant: TenantId,
        kind: Option<&str>,
        case: Option<CaseId>,
        limit: i64,
    ) -> Result<Vec<TaskRow>> {
        let rows = sqlx::query(
            "SELECT id, kind, customer_id, case_id, title, assignee_id, due_at, status, outcome, \
             created_at, done_at FROM tasks WHERE tenant_id = $1 AND status = 'open' \
             AND ($2 = '' OR kind = $2) AND ($3 = 0 OR case_id = $3) \
             ORDER BY due_at, id LIMIT $4",
        )
        .bind(tenant.0)
        .bind(kind.unwrap_or(""))
        .bind(case.map(|c| c.0).unwrap_or(0))
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        rows.iter().map(task_from).collect()
    }

    /// Closes a task with its outcome. `Ok(None)`: no such open task.
    pub async fn complete_task(
        &self,
        tenant: TenantId,
        id: i64,
        outcome: &str,
        now: i64,
    ) -> Result<Option<TaskRow>> {
        let n = sqlx::query(
            "UPDATE tasks SET status = 'done', outcome = $3, done_at = $4 \
             WHERE tenant_id = $1 AND id = $2 AND status = 'open'",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(outcome)
        .bind(now)
        .execute(self.db())
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, kind, customer_id, case_id, title, assignee_id, due_at, status, outcome, \
             created_at, done_at FROM tasks WHERE id = $1",
        )
        .bind(id)
        .fetch_one(self.db())
        .await?;
        task_from(&row).map(Some)
    }

    /// A user's notifications, newest first.
    pub async fn notifications(
        &self,
        tenant: TenantId,
        user: i64,
        limit: i64,
    ) -> Result<Vec<NotificationRow>> {
        let rows = sqlx::query(
            "SELECT id, kind, case_id, body, created_at, read_at FROM notifications \
             WHERE tenant_id = $1 AND user_id = $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant.0)
        .bind(user)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NotificationRow {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    case_id: r.try_get("case_id")?,
                    body: r.try_get("body")?,
                    created_at: r.try_get("created_at")?,
                    read_at: r.try_get("read_at")?,
                })
            })
            .collect()
    }
}

fn spec_row(r: &AnyRow) -> Result<SpecRow> {
    Ok(SpecRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        event: r.try_get("event")?,
        spec: r.try_get("spec")?,
        position: r.try_get("position")?,
        active: r.try_get::<i16, _>("active")? != 0,
    })
}

fn team_from(r: &AnyRow) -> Result<TeamRow> {
    Ok(TeamRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        manager_id: r.try_get("manager_id")?,
        handoff_mins: r.try_get("handoff_mins")?,
        assignment: r.try_get("assignment")?,
        last_assigned_user: r.try_get("last_assigned_user")?,
        calendar_id: r.try_get("calendar_id")?,
    })
}

fn attachment_from(r: &AnyRow) -> Result<AttachmentRow> {
    Ok(AttachmentRow {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        message_id: r.try_get("message_id")?,
        filename: r.try_get("filename")?,
        content_type: r.try_get("content_type")?,
        size: r.try_get("size")?,
        sha256: r.try_get("sha256")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Creates a case (numbered per tenant) and applies `w` to it inside `tx`, but for the
/// returned batch, which the caller runs with its commit (see [`apply_change_and_parts`]).
/// `new_customer`: the case's customer was created in `tx` too (its change log row goes
/// with the case's).
async fn create_case_in(
    tx: &mut AnyConnection,
    tenant: TenantId,
    c: &NewCase,
    w: &CaseWrite,
    now: i64,
    new_customer: Option<i64>,
) -> Result<(Applied, Batch)> {
    let sql = case_insert_sql(crate::bulk::is_sqlite(tx), "$5");
    let rows = bind_case_insert(sqlx::query(sqlx::AssertSqlSafe(sql)), tenant, c, w, now)
        .fetch_all(&mut *tx)
        .await?;
    case_inserted(tx, &rows, tenant, c, w, now, new_customer).await
}

/// `c` and `w` for the customer `customer_id` created with the case: `c.customer_id`, and
/// every customer id in `w` equal to it, stand for that customer.
fn with_new_customer(c: &NewCase, w: &CaseWrite, customer_id: i64) -> (NewCase, CaseWrite) {
    let stand_in = c.customer_id.0;
    let c = NewCase {
        customer_id: CustomerId(customer_id),
        ..c.clone()
    };
    let mut w = w.clone();
    for m in &mut w.messages {
        if m.author_customer_id == Some(stand_in) {
            m.author_customer_id = Some(customer_id);
        }
    }
    for e in &mut w.events {
        if e.actor_kind == "customer" && e.actor_id == Some(stand_in) {
            e.actor_id = Some(customer_id);
        }
    }
    for t in &mut w.tasks {
        if t.customer_id == Some(stand_in) {
            t.customer_id = Some(customer_id);
        }
    }
    (c, w)
}

/// The statement inserting a case with its number (see [`bind_case_insert`]): the tenant's
/// counter, incremented, and the case in one round trip. On PostgreSQL the counter is a CTE
/// of the case's INSERT, on SQLite the two statements go as one query and the case reads the
/// counter back. The customer must be the tenant's (no row is inserted otherwise), and the
/// case belongs to the customer's household (the first, when several). `customer`: the
/// customer's id, `$5` or an expression.
fn case_insert_sql(sqlite: bool, customer: &str) -> String {
    let counter = CASE_COUNTER;
    let (columns, values) = (CASE_INSERT_COLUMNS, CASE_INSERT_VALUES);
    if sqlite {
        format!(
            "{counter}; {columns} SELECT $1, (SELECT value FROM counters WHERE tenant_id = $1 \
             AND name = 'case_number'), {values} FROM customers cu \
             WHERE cu.tenant_id = $1 AND cu.id = {customer} RETURNING id, number, customer_id{}",
            messages_seq_column(true)
        )
    } else {
        format!(
            "WITH n AS ({counter} RETURNING value) {}",
            postgres_case_insert(&format!(
                "customers cu, n WHERE cu.tenant_id = $1 AND cu.id = {customer}"
            ))
        )
    }
}

/// On PostgreSQL, the case's insert from the counter's CTE `n` and the customer's row `cu`
/// as `from` gives them.
fn postgres_case_insert(from: &str) -> String {
    format!(
        "{CASE_INSERT_COLUMNS} SELECT $1, n.value, {CASE_INSERT_VALUES} FROM {from} \
         RETURNING id, number, customer_id, subject"
    )
}

/// [`case_insert_sql`]'s insert, and its values after the tenant and the number, from the
/// customer's row `cu`.
const CASE_INSERT_COLUMNS: &str = "INSERT INTO cases (tenant_id, number, subject, kind, \
    channel, customer_id, household_id, order_id, priority, status, owner_id, team_id, \
    parent_case_id, custom_fields, created_at, updated_at, next_due_at)";
const CASE_INSERT_VALUES: &str = "$2, $3, $4, cu.id, COALESCE($6, (SELECT h.household_id \
    FROM household_members h WHERE h.tenant_id = $1 AND h.customer_id = cu.id \
    ORDER BY h.household_id LIMIT 1)), $7, $8, $9, $10, $11, $12, $13, $14, $14, $15";

/// The tenant's (`$1`) case number counter, incremented.
const CASE_COUNTER: &str = "INSERT INTO counters (tenant_id, name, value) \
    VALUES ($1, 'case_number', 1) ON CONFLICT (tenant_id, name) DO UPDATE \
    SET value = counters.value + 1";

/// [`case_insert_sql`] on PostgreSQL as the head parts of a one-statement write: the
/// counter (`n`) and the case (`h`), each with its values. With `new_customer` the
/// customer is the row the part `cu` inserts (the statement does not see it in the table).
fn case_insert_parts(
    tenant: TenantId,
    c: &NewCase,
    w: &CaseWrite,
    now: i64,
    new_customer: bool,
) -> Vec<(String, String, Vec<crate::bulk::Val>)> {
    let from = if new_customer {
        "cu, n"
    } else {
        "customers cu, n WHERE cu.tenant_id = $1 AND cu.id = $5"
    };
    vec![
        (
            "n".into(),
            format!("{CASE_COUNTER} RETURNING value"),
            vec![crate::bulk::Val::Int(tenant.0)],
        ),
        (
            "h".into(),
            postgres_case_insert(from),
            case_insert_vals(tenant, c, w, now),
        ),
    ]
}

/// [`case_insert_sql`]'s parameters.
fn bind_case_insert<'q>(
    q: crate::bulk::AnyQuery<'q>,
    tenant: TenantId,
    c: &NewCase,
    w: &CaseWrite,
    now: i64,
) -> crate::bulk::AnyQuery<'q> {
    crate::bulk::bind_all(q, &case_insert_vals(tenant, c, w, now))
}

/// [`case_insert_sql`]'s values, `$1`..`$15`.
fn case_insert_vals(
    tenant: TenantId,
    c: &NewCase,
    w: &CaseWrite,
    now: i64,
) -> Vec<crate::bulk::Val> {
    use crate::bulk::Val;
    vec![
        Val::Int(tenant.0),
        Val::Text(c.subject.clone()),
        Val::Text(c.kind.clone()),
        Val::Text(c.channel.clone()),
        Val::Int(c.customer_id.0),
        c.household_id.into(),
        c.order_id.into(),
        Val::Text(c.priority.clone()),
        Val::Text(c.status.clone()),
        c.owner_id.into(),
        c.team_id.into(),
        c.parent_case_id.into(),
        Val::Text(c.custom_fields.clone()),
        Val::Int(now),
        // The earliest of its targets (all new and running) is when the case is next due.
        w.new_targets.iter().map(|t| t.due_at).min().into(),
    ]
}

/// Whether write `w` can go as one PostgreSQL statement ([`CaseHead::one_statement`]): its
/// parts all see the table as it was before the statement, so none may change a row
/// another part changes (the same tag added and removed, a tag or target twice), and one
/// statement binds at most 65,535 values (a write binding anywhere near that many, such
/// as a message with thousands of attachments, goes stepwise). With `inserts_case` the head
/// inserts the case, so nothing else may change its row either (a change to the case row,
/// targets to save).
fn fits_one_statement(w: &CaseWrite, inserts_case: bool) -> bool {
    use std::collections::HashSet;
    let mut tags = HashSet::new();
    let mut targets = HashSet::new();
    // More than each part binds: a message with its link, timeline and change log rows,
    // an attachment, an event with its timeline row, a target, task or notification, a tag.
    let values = 100
        + w.messages
            .iter()
            .map(|m| 40 + 8 * m.attachments.len())
            .sum::<usize>()
        + 16 * w.events.len()
        + 10 * (w.new_targets.len() + w.targets.len() + w.tasks.len() + w.notifications.len())
        + 3 * (w.add_tags.len() + w.remove_tags.len());
    values <= crate::bulk::MAX_PARAMS
        && !(inserts_case && (!change_sql(&w.change, 0).0.is_empty() || !w.targets.is_empty()))
        && w.add_tags
            .iter()
            .chain(&w.remove_tags)
            .all(|t| tags.insert(t.as_str()))
        && w.targets.iter().all(|t| targets.insert(t.id))
}

/// How a one-statement write ended without writing: its head part `h` matched no row (the
/// case changed meanwhile or is not there, the customer is not the tenant's), which made
/// the parts reading it fail a NOT NULL column; the error to report when that is not so.
struct NoHead(StoreError);

impl Store {
    /// Runs case write `w` (on case `case_id`, 0 for a case the head inserts) as one
    /// PostgreSQL statement ([`CaseHead::one_statement`]): `head` (its last part `h`,
    /// returning the case's `id`, `number`, `customer_id` and `subject`), then every other
    /// part of the write. A case the head inserts is `fresh`; `new_customer` is the stand-in
    /// id of a customer it inserts. Its own transaction, committed (and flushed) when it
    /// returns.
    #[allow(clippy::too_many_arguments)]
    async fn run_one_statement(
        &self,
        tenant: TenantId,
        case_id: i64,
        fresh: bool,
        new_customer: Option<i64>,
        head: Vec<(String, String, Vec<crate::bulk::Val>)>,
        w: &CaseWrite,
        now: i64,
    ) -> Result<std::result::Result<Applied, NoHead>> {
        let head_of = CaseHead {
            customer_id: 0,
            number: 0,
            subject: String::new(),
            fresh,
            new_customer,
            messages_seq: None,
            one_statement: true,
        };
        let mut batch = Batch::default();
        let (_, messages) =
            apply_parts(None, tenant, case_id, &head_of, w, now, &mut batch).await?;
        let cols: String = messages
            .iter()
            .enumerate()
            .map(|(i, e)| format!(", {e} AS m{i}"))
            .collect();
        let select = format!("SELECT h.id AS id, h.number AS number{cols} FROM h");
        let (sql, vals) = batch.one_statement(head, &select, Vec::new())?;
        let inbound = w.messages.iter().find_map(|m| m.inbound_mail_id);
        let row = match crate::bulk::query_with(sql, &vals)
            .fetch_optional(self.db())
            .await
        {
            Ok(Some(row)) => row,
            Ok(None) => {
                return Ok(Err(NoHead(StoreError::Other(
                    "internal: the case write wrote nothing".into(),
                ))));
            }
            Err(e) => {
                let not_null = matches!(&e, sqlx::Error::Database(db)
                    if db.code().as_deref() == Some("23502"));
                let e = link_refused(StoreError::from(e), inbound);
                return match e {
                    StoreError::AlreadyLinked(_) => Err(e),
                    e if not_null => Ok(Err(NoHead(e))),
                    e => Err(e),
                };
            }
        };
        let mut message_ids = Vec::with_capacity(messages.len());
        for i in 0..messages.len() {
            message_ids.push(row.try_get(format!("m{i}").as_str())?);
        }
        Ok(Ok(Applied {
            case_id: row.try_get("id")?,
            case_number: row.try_get("number")?,
            message_ids,
        }))
    }

    /// [`Store::write_case`] as one PostgreSQL statement: the version bump with the change
    /// (and when the case is next due) as its head part, every other part reading the case
    /// from it. One round trip instead of five (`BEGIN`, the bump, each message, the batch,
    /// `COMMIT`).
    async fn write_case_one_statement(
        &self,
        tenant: TenantId,
        id: CaseId,
        version: i64,
        w: &CaseWrite,
        now: i64,
    ) -> Result<Option<Applied>> {
        use crate::bulk::Val;
        // Worked out after the change, so it wins over a value the change sets.
        let recompute = next_due_changes(w, false);
        let mut change = w.change.clone();
        if recompute {
            change.next_due_at = None;
        }
        let (sets, set_vals) = change_sql(&change, 4);
        let mut vals = vec![
            Val::Int(tenant.0),
            Val::Int(id.0),
            Val::Int(version),
            Val::Int(now),
        ];
        vals.extend(set_vals);
        let mut assign = String::from("version = version + 1, updated_at = $4");
        if !sets.is_empty() {
            assign.push_str(", ");
            assign.push_str(&sets);
        }
        if recompute {
            let (sql, due_vals) = next_due_sql(w, vals.len() + 1);
            assign.push_str(", ");
            assign.push_str(&sql);
            vals.extend(due_vals);
        }
        let bump = format!(
            "UPDATE cases SET {assign} WHERE tenant_id = $1 AND id = $2 AND version = $3 \
             RETURNING id, number, customer_id, subject"
        );
        let NoHead(error) = match self
            .run_one_statement(
                tenant,
                id.0,
                false,
                None,
                vec![("h".into(), bump, vals)],
                w,
                now,
            )
            .await?
        {
            Ok(applied) => return Ok(Some(applied)),
            Err(no_head) => no_head,
        };
        let now_at: Option<i64> =
            sqlx::query_scalar("SELECT version FROM cases WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(id.0)
                .fetch_optional(self.db())
                .await?;
        match now_at {
            None => Ok(None),
            Some(v) if v != version => Err(case_changed()),
            Some(_) => Err(error),
        }
    }

    /// [`Store::create_case_for_new_customer`] as one PostgreSQL statement: the customer
    /// (`cu`), their contacts, the counter and the case as its head parts. A live customer
    /// holding the identity key fails the customer's insert (its unique index), and with it
    /// the whole statement.
    async fn create_case_for_new_customer_one_statement(
        &self,
        tenant: TenantId,
        customer: &crate::identity::FirstContact<'_>,
        c: &NewCase,
        w: &CaseWrite,
        now: i64,
    ) -> Result<Option<Applied>> {
        use crate::bulk::Val;
        let mut parts = vec![(
            "cu".to_string(),
            "INSERT INTO customers (tenant_id, display_name, sort_name, identity_key, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id"
                .to_string(),
            vec![
                Val::Int(tenant.0),
                Val::Text(customer.display_name.to_string()),
                Val::Text(customer.sort_name.to_string()),
                customer.identity_key.into(),
                Val::Int(now),
            ],
        )];
        for (i, k) in customer.contacts.iter().enumerate() {
            parts.push((
                format!("k{i}"),
                "INSERT INTO customer_contacts (tenant_id, customer_id, kind, value, normalized, \
                 is_primary, verified, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    .to_string(),
                vec![
                    Val::Int(tenant.0),
                    Val::Expr("(SELECT id FROM cu)".into()),
                    Val::Text(k.kind.clone()),
                    Val::Text(k.value.clone()),
                    Val::Text(k.normalized.clone()),
                    Val::Flag(k.primary),
                    Val::Flag(k.verified),
                    Val::Int(now),
                ],
            ));
        }
        parts.extend(case_insert_parts(tenant, c, w, now, true));
        let stand_in = Some(c.customer_id.0);
        match self
            .run_one_statement(tenant, 0, true, stand_in, parts, w, now)
            .await
        {
            Ok(Ok(applied)) => Ok(Some(applied)),
            Ok(Err(NoHead(e))) => Err(e),
            Err(StoreError::Conflict(m)) if m.contains("\"customers_identity_key\"") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`Store::create_case`] as one PostgreSQL statement: the counter and the case's
    /// insert as its head parts, every other part reading the case from it.
    async fn create_case_one_statement(
        &self,
        tenant: TenantId,
        c: &NewCase,
        w: &CaseWrite,
        now: i64,
    ) -> Result<Applied> {
        let parts = case_insert_parts(tenant, c, w, now, false);
        let NoHead(error) = match self
            .run_one_statement(tenant, 0, true, None, parts, w, now)
            .await?
        {
            Ok(applied) => return Ok(applied),
            Err(no_head) => no_head,
        };
        match self.customer(tenant, c.customer_id).await? {
            None => Err(no_such_customer()),
            Some(_) => Err(error),
        }
    }
}

/// The error of a write to a case that changed since it was read.
fn case_changed() -> StoreError {
    StoreError::Conflict(
        "the case was changed by someone else meanwhile; reload it and try again".into(),
    )
}

/// The error of a case opened for a customer the tenant does not have.
fn no_such_customer() -> StoreError {
    StoreError::Conflict("the customer does not exist in this tenant".into())
}

/// The rest of [`create_case_in`] once [`case_insert_sql`] answered `rows`.
async fn case_inserted(
    tx: &mut AnyConnection,
    rows: &[AnyRow],
    tenant: TenantId,
    c: &NewCase,
    w: &CaseWrite,
    now: i64,
    new_customer: Option<i64>,
) -> Result<(Applied, Batch)> {
    let Some(row) = rows.first() else {
        return Err(no_such_customer());
    };
    let (id, number): (i64, i64) = (row.try_get("id")?, row.try_get("number")?);
    let head = CaseHead {
        customer_id: c.customer_id.0,
        number,
        subject: w
            .change
            .subject
            .clone()
            .unwrap_or_else(|| c.subject.clone()),
        fresh: true,
        new_customer,
        messages_seq: messages_seq(row),
        one_statement: false,
    };
    apply_change_and_parts(tx, tenant, id, &head, w, now).await
}

/// Applies `w` to case `id` inside `tx`: the message is inserted at once (its id is needed);
/// the change to the case row and every other part are returned as a [`Batch`] for the
/// caller to run with its commit ([`crate::store::WriteTx::commit_with`]: one round trip).
async fn apply_change_and_parts(
    tx: &mut AnyConnection,
    tenant: TenantId,
    id: i64,
    head: &CaseHead,
    w: &CaseWrite,
    now: i64,
) -> Result<(Applied, Batch)> {
    let mut batch = Batch::default();
    let (sets, mut vals) = change_sql(&w.change, 2);
    if !sets.is_empty() {
        let mut all = vec![crate::bulk::Val::Int(tenant.0), crate::bulk::Val::Int(id)];
        all.append(&mut vals);
        batch.push(
            format!("UPDATE cases SET {sets} WHERE tenant_id = $1 AND id = $2"),
            all,
        );
    }
    let (applied, _) = apply_parts(Some(tx), tenant, id, head, w, now, &mut batch).await?;
    Ok((applied, batch))
}

/// Claims deduplication key `key` for inbound mail `inbound` inside `tx`: a key another mail
/// of the tenant holds (a copy of the same mail that won a race) refuses the write with
/// [`StoreError::AlreadyLinked`], so the caller records this mail as a duplicate.
pub(crate) async fn claim_dedupe_key(
    tx: &mut sqlx::AnyConnection,
    tenant: TenantId,
    inbound: i64,
    key: &str,
    header_message_id: Option<&str>,
) -> Result<()> {
    let claimed = sqlx::query(
        "UPDATE inbound_mail SET dedupe_key = $3, header_message_id = $4 \
         WHERE tenant_id = $1 AND id = $2 AND (dedupe_key IS NULL OR dedupe_key = $3)",
    )
    .bind(tenant.0)
    .bind(inbound)
    .bind(key)
    .bind(header_message_id)
    .execute(&mut *tx)
    .await;
    claimed.map_err(|e| key_taken(e, inbound))?;
    Ok(())
}

/// A unique-key violation on an inbound mail's deduplication key: another mail of the tenant
/// holds it, so this one is a copy ([`StoreError::AlreadyLinked`]).
fn key_taken(e: sqlx::Error, inbound: i64) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::AlreadyLinked(inbound),
        _ => StoreError::from(e),
    }
}

#[cfg(test)]
mod tests {
    use super::{CASE_SELECT, CASE_WITH_TARGETS_COLUMNS, summary_val};
    use crate::bulk::Val;

    #[test]
    fn the_nulls_standing_for_a_case_have_its_columns_in_its_order() {
        let list = CASE_SELECT
            .strip_prefix("SELECT ")
            .and_then(|s| s.split(" FROM cases c").next())
            .unwrap();
        let mut names: Vec<&str> = list
            .split(',')
            .map(|c| {
                let c = c.trim();
                c.rsplit(" AS ").next().unwrap().trim_start_matches("c.")
            })
            .collect();
        names.extend(["tags", "targets", "tier"]);
        let ours: Vec<&str> = CASE_WITH_TARGETS_COLUMNS.iter().map(|(n, _)| *n).collect();
        assert_eq!(ours, names);
    }

    #[test]
    fn a_summary_written_by_one_statement_splices_the_cases_number_and_subject_in_place() {
        let summary = serde_json::json!({"number": 7, "subject": "s", "author": "customer",
            "excerpt": "\"number\":1", "visibility": "public"});
        assert_eq!(summary_val(&summary, false), Val::Text(summary.to_string()));
        let Val::Joined(parts) = summary_val(&summary, true) else {
            panic!("not spliced");
        };
        // With the number and subject the statement gives, the text is the one serde_json
        // writes.
        let text: String = parts
            .iter()
            .map(|p| match p {
                Val::Text(t) => t.clone(),
                Val::Expr(e) if e.contains("number") => "7".into(),
                Val::Expr(_) => "\"s\"".into(),
                other => panic!("unexpected part {other:?}"),
            })
            .collect();
        assert_eq!(text, summary.to_string());
        assert_eq!(
            parts.iter().filter(|p| matches!(p, Val::Expr(_))).count(),
            2
        );
    }
}
