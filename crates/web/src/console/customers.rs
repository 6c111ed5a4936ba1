//! Console pages for customer memory (issue 3): the customer list/search, creating a
//! customer, and the customer page — profile, contacts, preferences with provenance (source,
//! who, when, where), notes, flags, households and the timeline — with the "remember this"
//! form that records a preference in one action.
//!
//! Everything customers wrote is shown through askama's escaping; nothing here is `|safe`.

use super::{Shell, render};
use crate::auth::ConsoleStaff;
use crate::i18n::Tr;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use concierge_app::customers::{CustomerError, Remember};
use concierge_domain::customer::CustomerFlag;
use concierge_domain::{CustomerId, EmailAddress, Permission};
use concierge_store::CustomerRow;
use concierge_store::memory::{CustomerProfile, FlagRow, NoteRow, TimelineItem};
use serde::Deserialize;

/// Epoch ms as `YYYY-MM-DD HH:MM UTC`.
fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The database is unavailable. Try again shortly.",
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "customers.html")]
struct CustomersPage<'a> {
    shell: Shell<'a>,
    q: String,
    customers: Vec<CustomerRow>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
}

async fn customers_page_with(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    q: Option<String>,
    error: Option<String>,
) -> Response {
    let tenant = staff.user.tenant_id;
    let q = q.map(|q| q.trim().to_string()).filter(|q| !q.is_empty());
    let (customers, search_error) = match &q {
        Some(text) => match s.app.search_customers(tenant, text, 100).await {
            Ok(c) => (c, None),
            Err(CustomerError::Invalid(m)) => (Vec::new(), Some(m)),
            Err(_) => return unavailable(),
        },
        None => match s.app.store.list_customers(tenant, 100).await {
            Ok(c) => (c, None),
            Err(_) => return unavailable(),
        },
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (
        status,
        render(&CustomersPage {
            shell: Shell::new(s, headers, staff),
            q: q.unwrap_or_default(),
            customers,
            error: error.or(search_error),
        }),
    )
        .into_response()
}

/// `GET /customers?q=`: the first customers by name, or those matching `q`.
pub async fn customers_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Query(q): Query<ListQuery>,
) -> Response {
    if !staff.user.role.can(Permission::ReadCustomers) {
        return (StatusCode::FORBIDDEN, "Your role cannot see customers.").into_response();
    }
    customers_page_with(&s, &headers, &staff, q.q, None).await
}

#[derive(Deserialize)]
pub struct NewCustomerForm {
    name: String,
    email: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /customers`: creates a customer and opens their page.
pub async fn customers_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Form(f): Form<NewCustomerForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if !staff.user.role.can(Permission::WriteCustomers) {
        return (StatusCode::FORBIDDEN, "Your role cannot add customers.").into_response();
    }
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        let msg = "name must be 1-200 characters".to_string();
        return customers_page_with(&s, &headers, &staff, None, Some(msg)).await;
    }
    let email = match f.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        None => None,
        Some(e) => match EmailAddress::parse(e) {
            Ok(e) => Some(e),
            Err(e) => {
                return customers_page_with(&s, &headers, &staff, None, Some(e.to_string())).await;
            }
        },
    };
    let now = s.app.now();
    let created = s
        .app
        .store
        .create_customer(
            staff.user.tenant_id,
            name,
            email.as_ref().map(|e| e.as_str()),
            None,
            now,
        )
        .await;
    match created {
        Ok(c) => {
            let _ = s
                .app
                .store
                .audit(
                    staff.user.tenant_id,
                    &concierge_store::AuditEntry {
                        actor_kind: "user",
                        actor_id: Some(staff.user.id.0),
                        action: "customer.created",
                        subject_kind: "customer",
                        subject_id: Some(c.id.0),
                        customer_id: Some(c.id.0),
                        detail: "{}".into(),
                        ..Default::default()
                    },
                    now,
                )
                .await;
            Redirect::to(&format!("/customers/{}", c.id.0)).into_response()
        }
        Err(_) => unavailable(),
    }
}

/// A preference as the page shows it.
struct PrefView {
    key: String,
    value: String,
    source: String,
    learned_from: String,
    who: String,
    learned: String,
    confirmed: String,
    standing: bool,
}

/// A timeline line as the page shows it.
struct TimelineLine {
    when: String,
    kind: String,
    text: String,
}

#[derive(Template)]
#[template(path = "customer.html")]
struct CustomerPage<'a> {
    shell: Shell<'a>,
    p: CustomerProfile,
    prefs: Vec<PrefView>,
    notes: Vec<NoteRow>,
    flags: Vec<FlagRow>,
    timeline: Vec<TimelineLine>,
    next_cursor: Option<String>,
    flag_options: Vec<(&'static str, String)>,
    error: Option<String>,
    can_write: bool,
    /// Open tasks for the customer (follow-ups, check-ins, refills, win-back).
    tasks: Vec<super::tasks::TaskLine>,
    task_results: Vec<(&'static str, String)>,
    identity: super::identity::IdentityView,
}

impl CustomerPage<'_> {
    fn when(&self, ms: &i64) -> String {
        when(*ms)
    }

    fn opt<'b>(&self, v: Option<&'b String>) -> &'b str {
        v.map(String::as_str).unwrap_or("—")
    }

    fn flag_label(&self, flag: &str) -> &str {
        match CustomerFlag::parse(flag) {
            Ok(CustomerFlag::Vip) => self.shell.t.get("customer.flag_vip"),
            Ok(CustomerFlag::Abusive) => self.shell.t.get("customer.flag_abusive"),
            Ok(CustomerFlag::FraudSuspect) => self.shell.t.get("customer.flag_fraud_suspect"),
            Err(_) => self.shell.t.get("customer.unknown"),
        }
    }
}

fn source_label(t: &Tr<'_>, source: &str) -> String {
    let l = match source {
        "agent" => t.get("customer.source_agent"),
        "customer" => t.get("customer.source_customer"),
        "email" => t.get("customer.source_email"),
        "order" => t.get("customer.source_order"),
        "import" => t.get("customer.source_import"),
        _ => t.get("customer.unknown"),
    };
    l.to_string()
}

fn kind_label(t: &Tr<'_>, kind: &str) -> String {
    let l = match kind {
        "preference" => t.get("customer.kind_preference"),
        "note" => t.get("customer.kind_note"),
        "flag" => t.get("customer.kind_flag"),
        "profile" => t.get("customer.kind_profile"),
        "order" => t.get("customer.kind_order"),
        "case" => t.get("customer.kind_case"),
        "task_done" => t.get("tasks.kind_done"),
        "merged" => t.get("identity.kind_merged"),
        "unmerged" => t.get("identity.kind_unmerged"),
        _ => t.get("customer.kind_other"),
    };
    l.to_string()
}

/// Adds who made a profile or preference change when it was not staff (e.g. the customer in
/// the portal), so the timeline tells them apart.
fn with_source(t: &Tr<'_>, i: &TimelineItem, text: String) -> String {
    let source = i.summary.get("source").and_then(|v| v.as_str());
    match (i.kind.as_str(), source) {
        ("profile" | "preference", Some(src)) if src != "agent" => {
            format!("{text} · {}", source_label(t, src))
        }
        _ => text,
    }
}

fn timeline_text(i: &TimelineItem) -> String {
    let s = &i.summary;
    let str_of = |k: &str| s.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    match i.kind.as_str() {
        "preference" => {
            let mut t = format!("{} = {}", str_of("key"), str_of("value"));
            let prev = str_of("previous");
            if !prev.is_empty() {
                t.push_str(&format!(" (← {prev})"));
            }
            t
        }
        "note" => str_of("excerpt"),
        "merged" | "unmerged" => {
            let id = |k: &str| s.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
            format!("#{} → #{}", id("source"), id("target"))
        }
        "flag" => format!(
            "{} {} {}",
            str_of("flag"),
            str_of("action"),
            str_of("reason")
        ),
        "profile" => s
            .get("fields")
            .and_then(|f| f.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        "order" => {
            let total = s.get("total_minor").and_then(|v| v.as_i64()).unwrap_or(0);
            format!(
                "{} · {} · {} {}",
                str_of("order"),
                str_of("status"),
                total,
                str_of("currency")
            )
        }
        "case" => format!(
            "#{} {} ({})",
            s.get("number").and_then(|v| v.as_i64()).unwrap_or(0),
            str_of("subject"),
            str_of("status")
        ),
        "message" => {
            let who = match str_of("visibility").as_str() {
                "internal" => "note".to_string(),
                _ => str_of("author"),
            };
            format!(
                "#{} {} · {who}: {}",
                s.get("number").and_then(|v| v.as_i64()).unwrap_or(0),
                str_of("subject"),
                str_of("excerpt")
            )
        }
        "case_event" => {
            let detail = s.get("detail");
            let d = |k: &str| {
                detail
                    .and_then(|v| v.get(k))
                    .map(|v| match v {
                        serde_json::Value::String(x) => x.clone(),
                        serde_json::Value::Null => String::new(),
                        other => other.to_string(),
                    })
                    .unwrap_or_default()
            };
            let what = match str_of("event").as_str() {
                "status" => format!("status {} → {}", d("from"), d("to")),
                "assigned" => format!("assigned to {}", d("owner_name")),
                "transferred" => format!("handed to {} ({})", d("to_team_name"), d("reason")),
                "priority" => format!("priority {} → {}", d("from"), d("to")),
                other => other.replace('_', " "),
            };
            format!(
                "#{} {} · {what}",
                s.get("number").and_then(|v| v.as_i64()).unwrap_or(0),
                str_of("subject")
            )
        }
        "task_done" => {
            let note = str_of("note");
            format!(
                "{} · {}{}{}",
                str_of("title"),
                str_of("result").replace('_', " "),
                if note.is_empty() { "" } else { ": " },
                note
            )
        }
        _ => s.to_string().chars().take(200).collect(),
    }
}

#[derive(Deserialize)]
pub struct PageQuery {
    cursor: Option<String>,
}

async fn customer_page_with(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    id: i64,
    cursor: Option<String>,
    error: Option<String>,
) -> Response {
    let tenant = staff.user.tenant_id;
    let id = CustomerId(id);
    let shell = Shell::new(s, headers, staff);
    let p = match s.app.customer_profile(tenant, id).await {
        Ok(p) => p,
        Err(CustomerError::NotFound) => {
            return (StatusCode::NOT_FOUND, "No such customer.").into_response();
        }
        Err(_) => return unavailable(),
    };
    let loaded = async {
        let prefs = s.app.preferences(tenant, id, false).await?;
        let notes = s.app.customer_notes(tenant, id).await?;
        let flags = s.app.customer_flags(tenant, id, false).await?;
        let page = s
            .app
            .customer_timeline(tenant, id, None, cursor.as_deref(), Some(50))
            .await;
        let page = match page {
            Err(CustomerError::Invalid(_)) => {
                s.app
                    .customer_timeline(tenant, id, None, None, Some(50))
                    .await?
            }
            other => other?,
        };
        Ok::<_, CustomerError>((prefs, notes, flags, page))
    }
    .await;
    let Ok((prefs, notes, flags, page)) = loaded else {
        return unavailable();
    };
    let tasks = match s
        .app
        .task_queue(
            tenant,
            &staff.user,
            concierge_app::followups::TaskQueue::All,
            &concierge_app::followups::TaskFilter {
                customer: Some(id.0),
                ..Default::default()
            },
        )
        .await
    {
        Ok(list) => {
            let now = s.app.now();
            list.into_iter()
                .map(|i| super::tasks::TaskLine::from_item(i, now))
                .collect()
        }
        Err(_) => return unavailable(),
    };
    let task_results = super::tasks::result_options(&shell);
    let Ok(identity) = super::identity::identity_view(s, staff, &p).await else {
        return unavailable();
    };
    // A merged customer takes no new facts: they belong on the customer it went into.
    let can_write = staff.user.role.can(Permission::WriteCustomers) && p.merged_into.is_none();
    let t = shell.t;
    let prefs = prefs
        .into_iter()
        .map(|p| PrefView {
            source: source_label(&t, &p.source),
            learned: when(p.learned_at),
            confirmed: when(p.confirmed_at),
            who: p.recorded_by_name.clone().unwrap_or_else(|| "—".into()),
            learned_from: p.learned_from.clone().unwrap_or_default(),
            key: p.key,
            value: p.value,
            standing: p.standing,
        })
        .collect();
    let timeline = page
        .items
        .iter()
        .map(|i| TimelineLine {
            when: when(i.at),
            kind: kind_label(&t, &i.kind),
            text: with_source(&t, i, timeline_text(i)),
        })
        .collect();
    let flag_options = vec![
        ("vip", t.get("customer.flag_vip").to_string()),
        ("abusive", t.get("customer.flag_abusive").to_string()),
        (
            "fraud_suspect",
            t.get("customer.flag_fraud_suspect").to_string(),
        ),
    ];
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (
        status,
        render(&CustomerPage {
            shell,
            p,
            prefs,
            notes,
            flags,
            timeline,
            next_cursor: page.next_cursor,
            flag_options,
            error,
            can_write,
            tasks,
            task_results,
            identity,
        }),
    )
        .into_response()
}

/// `GET /customers/{id}`: the customer page.
pub async fn customer_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> Response {
    if !staff.user.role.can(Permission::ReadCustomers) {
        return (StatusCode::FORBIDDEN, "Your role cannot see customers.").into_response();
    }
    customer_page_with(&s, &headers, &staff, id, q.cursor, None).await
}

/// After a form: back to the page on success, the page with the error otherwise.
async fn after_form(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    id: i64,
    anchor: &str,
    result: Result<(), CustomerError>,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/customers/{id}#{anchor}")).into_response(),
        Err(CustomerError::Invalid(m)) => {
            customer_page_with(s, headers, staff, id, None, Some(m)).await
        }
        Err(CustomerError::NotFound) => {
            (StatusCode::NOT_FOUND, "No such customer.").into_response()
        }
        Err(CustomerError::Store(_)) => unavailable(),
    }
}

/// `Some(403 page)` unless the user may change customers.
fn refuse_unless_writer(staff: &ConsoleStaff) -> Option<Response> {
    (!staff.user.role.can(Permission::WriteCustomers))
        .then(|| (StatusCode::FORBIDDEN, "Your role cannot change customers.").into_response())
}

#[derive(Deserialize)]
pub struct RememberForm {
    key: String,
    value: String,
    standing: Option<String>,
    learned_from: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /customers/{id}/preferences`: "remember this".
pub async fn remember_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<RememberForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = refuse_unless_writer(&staff) {
        return r;
    }
    let r = s
        .app
        .remember(
            &staff.user,
            CustomerId(id),
            &Remember {
                key: f.key,
                value: f.value,
                standing: f.standing.is_some(),
                source: None,
                learned_from: f.learned_from,
            },
        )
        .await
        .map(|_| ());
    after_form(&s, &headers, &staff, id, "preferences", r).await
}

#[derive(Deserialize)]
pub struct NoteForm {
    body: String,
    pinned: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /customers/{id}/notes`.
pub async fn note_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<NoteForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = refuse_unless_writer(&staff) {
        return r;
    }
    let r = s
        .app
        .add_customer_note(&staff.user, CustomerId(id), &f.body, f.pinned.is_some())
        .await
        .map(|_| ());
    after_form(&s, &headers, &staff, id, "notes", r).await
}

#[derive(Deserialize)]
pub struct FlagForm {
    flag: String,
    reason: Option<String>,
    /// "clear" clears the flag; anything else sets it.
    action: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /customers/{id}/flags`: set or clear a flag.
pub async fn flag_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<FlagForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = refuse_unless_writer(&staff) {
        return r;
    }
    let set = f.action.as_deref() != Some("clear");
    let r = s
        .app
        .set_customer_flag(
            &staff.user,
            CustomerId(id),
            &f.flag,
            set,
            f.reason.as_deref(),
        )
        .await
        .map(|_| ());
    after_form(&s, &headers, &staff, id, "flags", r).await
}
