//! Console pages for cases (issue 4, principles P4/P11/P12): the queues (saved views with
//! capped counts and keyset pages, a search box and the "new case" form) and the case page —
//! the thread with internal notes set apart, target clocks, the path between teams, the audit
//! stream, the customer's preferences, flags and recent timeline beside it, and the forms that
//! work a case (reply or note with templates and macros, status, priority, owner, team, tags,
//! merge). Presence ("also viewing/replying") is recorded on every view and refreshed by a
//! small poll from `app.js`.
//!
//! Handlers are thin: they check the CSRF token and the permission, call the application
//! layer and shape the page. Everything customers wrote goes through askama's escaping;
//! nothing here is marked safe.

use super::{Shell, render};
use crate::auth::{ConsoleStaff, require};
use crate::i18n::Tr;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Redirect, Response};
use concierge_app::cases::{
    Actor, CaseDetail, CaseError, CasePatch, CustomerRef, NewCaseInput, ReplyInput, View,
};
use concierge_domain::case::{Channel, Kind, Priority, ReplyRoute};
use concierge_domain::personalize::Escape;
use concierge_domain::sla::TargetStatus;
use concierge_domain::{CaseId, CustomerId, Permission};
use concierge_search::{DocKind, SearchRequest};
use concierge_store::StoreError;
use concierge_store::cases::{CaseEventRow, CaseRow, MessageRow};
use concierge_store::memory::TimelineItem;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Cases on one queue page.
const PAGE: i64 = 50;
/// Timeline items shown beside a case.
const TIMELINE_ITEMS: i64 = 10;

/// Epoch ms as `YYYY-MM-DD HH:MM UTC`.
pub(super) fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A span of working time as `2h 05m` (or `45m`).
fn span(ms: i64) -> String {
    let mins = (ms.max(0) + 59_999) / 60_000;
    let (d, h, m) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    if d > 0 {
        format!("{d}d {h}h {m:02}m")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else {
        format!("{m}m")
    }
}

pub(super) fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The database is unavailable. Try again shortly.",
    )
        .into_response()
}

/// A plain 403 for console pages (the API's `require` answers JSON).
pub(super) fn forbidden(message: &'static str) -> Response {
    (StatusCode::FORBIDDEN, message).into_response()
}

/// `Some(403)` unless the user's role grants `p`.
pub(super) fn refuse_unless(
    staff: &ConsoleStaff,
    p: Permission,
    message: &'static str,
) -> Option<Response> {
    require(&staff.user, p).err().map(|_| forbidden(message))
}

/// The translation of `case.{group}_{key}`, or `key` itself when there is none (a tenant's
/// own status or kind).
fn label(t: &Tr<'_>, group: &str, key: &str) -> String {
    let k = format!("case.{group}_{key}");
    let text = t.i18n.text(t.locale, &k).to_string();
    if text == k { key.to_string() } else { text }
}

fn options<const N: usize, T: Copy>(
    t: &Tr<'_>,
    group: &str,
    all: [T; N],
    as_str: impl Fn(T) -> String,
) -> Vec<(String, String)> {
    all.into_iter()
        .map(|v| {
            let k = as_str(v);
            (k.clone(), label(t, group, &k))
        })
        .collect()
}

fn channel_options(t: &Tr<'_>) -> Vec<(String, String)> {
    options(t, "channel", Channel::ALL, |c| c.as_str().to_string())
}

fn priority_options(t: &Tr<'_>) -> Vec<(String, String)> {
    options(t, "priority", Priority::ALL, |p| p.as_str().to_string())
}

fn route_options(t: &Tr<'_>) -> Vec<(String, String)> {
    options(t, "route", ReplyRoute::ALL, |r| r.as_str().to_string())
}

fn kind_options(t: &Tr<'_>) -> Vec<(String, String)> {
    Kind::DEFAULTS
        .iter()
        .map(|k| (k.to_string(), label(t, "kind", k)))
        .collect()
}

fn view_label(t: &Tr<'_>, v: View) -> String {
    label(t, "view", v.as_str())
}

// ---------------------------------------------------------------------------------------
// The queues

/// A saved view in the sidebar.
struct ViewLink {
    key: &'static str,
    label: String,
    count: String,
    selected: bool,
}

/// A case as a queue row shows it.
struct CaseLine {
    id: i64,
    number: i64,
    subject: String,
    customer: String,
    status: String,
    priority: String,
    priority_key: String,
    owner: String,
    team: String,
    due: String,
    overdue: bool,
    updated: String,
    tags: Vec<String>,
}

/// A search hit as the queue page shows it.
struct HitLine {
    case_id: i64,
    kind: String,
    title: String,
    status: String,
}

/// What the "new case" form had in it (kept after a refusal).
#[derive(Default)]
struct NewCaseDraft {
    subject: String,
    body: String,
    channel: String,
    kind: String,
    priority: String,
    team_id: String,
    email: String,
    name: String,
}

#[derive(Template)]
#[template(path = "cases.html")]
struct QueueTemplate<'a> {
    shell: Shell<'a>,
    views: Vec<ViewLink>,
    view: &'static str,
    view_title: String,
    count: String,
    cases: Vec<CaseLine>,
    next_cursor: Option<String>,
    q: String,
    searched: bool,
    hits: Vec<HitLine>,
    error: Option<String>,
    draft: NewCaseDraft,
    channels: Vec<(String, String)>,
    priorities: Vec<(String, String)>,
    kinds: Vec<(String, String)>,
    teams: Vec<(String, String)>,
}

#[derive(Deserialize)]
pub struct QueueQuery {
    view: Option<String>,
    cursor: Option<String>,
    q: Option<String>,
}

fn count_text(n: i64, capped: bool) -> String {
    if capped {
        format!("{n}+")
    } else {
        n.to_string()
    }
}

fn case_line(t: &Tr<'_>, c: CaseRow, now: i64) -> CaseLine {
    CaseLine {
        id: c.id,
        number: c.number,
        status: label(t, "status", &c.status),
        priority: label(t, "priority", &c.priority),
        priority_key: c.priority,
        owner: c.owner_name.unwrap_or_else(|| "—".into()),
        team: c.team_name.unwrap_or_else(|| "—".into()),
        due: c.next_due_at.map(when).unwrap_or_default(),
        overdue: c.next_due_at.is_some_and(|d| d <= now),
        updated: when(c.updated_at),
        tags: c.tags,
        customer: c.customer_name,
        subject: c.subject,
    }
}

/// Finds cases for the queue's search box: by number (`123` or `#123`), else by words
/// through this node's index.
async fn search_hits(s: &AppState, staff: &ConsoleStaff, q: &str) -> Result<Vec<HitLine>, String> {
    let Some(index) = s.search.clone() else {
        return Err("search is not available on this node".into());
    };
    let req = SearchRequest {
        text: q.to_string(),
        include_internal: true,
        limit: 30,
        filters: concierge_search::Filters {
            kinds: vec![DocKind::Case, DocKind::Message, DocKind::Note],
            ..Default::default()
        },
        ..SearchRequest::default()
    };
    let tenant = staff.user.tenant_id.0;
    let found = tokio::task::spawn_blocking(move || index.search(tenant.into(), &req)).await;
    let results = match found {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("search failed".into()),
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for h in results.hits {
        let Some(case_id) = h.case_id.or((h.kind == DocKind::Case).then_some(h.id)) else {
            continue;
        };
        if !seen.insert(case_id) {
            continue;
        }
        out.push(HitLine {
            case_id,
            kind: h.kind.as_str().to_string(),
            title: h.title,
            status: h.status.unwrap_or_default(),
        });
    }
    Ok(out)
}

async fn queue_page_with(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    query: QueueQuery,
    error: Option<String>,
    draft: NewCaseDraft,
) -> Response {
    let tenant = staff.user.tenant_id;
    let shell = Shell::new(s, headers, staff);
    let t = shell.t;
    let mut error = error;
    let view = match query.view.as_deref().filter(|v| !v.is_empty()) {
        None => View::Mine,
        Some(v) => match View::parse(v) {
            Ok(v) => v,
            Err(e) => {
                error.get_or_insert(e.to_string());
                View::Mine
            }
        },
    };
    let counts = match s.app.queue_counts(tenant, &staff.user).await {
        Ok(c) => c,
        Err(_) => return unavailable(),
    };
    let page = match s
        .app
        .queue(tenant, &staff.user, view, query.cursor.as_deref(), PAGE)
        .await
    {
        Ok(p) => p,
        Err(CaseError::Invalid(m)) => {
            error.get_or_insert(m);
            match s.app.queue(tenant, &staff.user, view, None, PAGE).await {
                Ok(p) => p,
                Err(_) => return unavailable(),
            }
        }
        Err(_) => return unavailable(),
    };
    let q = query
        .q
        .map(|q| q.trim().chars().take(500).collect::<String>())
        .unwrap_or_default();
    let mut hits = Vec::new();
    if !q.is_empty() {
        let number = q.trim_start_matches('#').trim().parse::<i64>().ok();
        if let Some(n) = number {
            match s.app.store.case_by_number(tenant, n).await {
                Ok(Some(c)) => return Redirect::to(&format!("/cases/{}", c.id)).into_response(),
                Ok(None) => {}
                Err(_) => return unavailable(),
            }
        }
        match search_hits(s, staff, &q).await {
            Ok(h) => hits = h,
            Err(m) => {
                error.get_or_insert(m);
            }
        }
    }
    let teams = match s.app.store.teams(tenant).await {
        Ok(ts) => ts
            .into_iter()
            .map(|tm| (tm.id.to_string(), tm.name))
            .collect(),
        Err(_) => return unavailable(),
    };
    let now = s.app.now();
    let views = counts
        .iter()
        .map(|(v, n, capped)| ViewLink {
            key: v.as_str(),
            label: view_label(&t, *v),
            count: count_text(*n, *capped),
            selected: *v == view,
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (
        status,
        render(&QueueTemplate {
            views,
            view: view.as_str(),
            view_title: view_label(&t, view),
            count: count_text(page.count, page.count_capped),
            cases: page
                .cases
                .into_iter()
                .map(|c| case_line(&t, c, now))
                .collect(),
            next_cursor: page.next_cursor,
            searched: !q.is_empty(),
            q,
            hits,
            error,
            draft,
            channels: channel_options(&t),
            priorities: priority_options(&t),
            kinds: kind_options(&t),
            teams,
            shell,
        }),
    )
        .into_response()
}

/// `GET /cases?view=&cursor=&q=`: the queues.
pub async fn queue_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Query(q): Query<QueueQuery>,
) -> Response {
    if let Some(r) = refuse_unless(&staff, Permission::WorkCases, "Your role cannot see cases.") {
        return r;
    }
    queue_page_with(&s, &headers, &staff, q, None, NewCaseDraft::default()).await
}

#[derive(Deserialize)]
pub struct NewCaseForm {
    subject: String,
    body: String,
    channel: String,
    kind: Option<String>,
    priority: Option<String>,
    team_id: Option<String>,
    email: String,
    name: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// An optional id from a form's select (`""` is none).
fn opt_id(v: Option<&str>) -> Result<Option<i64>, String> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("{} is not an id", v.chars().take(20).collect::<String>())),
    }
}

/// `POST /cases`: opens a case for a customer (found or created by email) and shows it.
pub async fn create_case_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Form(f): Form<NewCaseForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = refuse_unless(
        &staff,
        Permission::WorkCases,
        "Your role cannot open cases.",
    ) {
        return r;
    }
    let draft = NewCaseDraft {
        subject: f.subject.clone(),
        body: f.body.clone(),
        channel: f.channel.clone(),
        kind: f.kind.clone().unwrap_or_default(),
        priority: f.priority.clone().unwrap_or_default(),
        team_id: f.team_id.clone().unwrap_or_default(),
        email: f.email.clone(),
        name: f.name.clone().unwrap_or_default(),
    };
    let back = |error: String, draft: NewCaseDraft| {
        let query = QueueQuery {
            view: Some("open".into()),
            cursor: None,
            q: None,
        };
        let (s, headers, staff) = (&s, &headers, &staff);
        async move { queue_page_with(s, headers, staff, query, Some(error), draft).await }
    };
    let team_id = match opt_id(f.team_id.as_deref()) {
        Ok(t) => t,
        Err(m) => return back(m, draft).await,
    };
    let input = NewCaseInput {
        subject: f.subject,
        body: f.body,
        channel: f.channel,
        kind: f.kind.filter(|k| !k.trim().is_empty()),
        priority: f.priority.filter(|p| !p.trim().is_empty()),
        customer: CustomerRef::Email {
            email: f.email.trim().to_string(),
            name: f.name.filter(|n| !n.trim().is_empty()),
        },
        team_id,
        owner_id: None,
        tags: Vec::new(),
        order_id: None,
        parent_case_id: None,
        attachments: Vec::new(),
    };
    match s
        .app
        .create_case(staff.user.tenant_id, Actor::User(&staff.user), &input)
        .await
    {
        Ok(d) => Redirect::to(&format!("/cases/{}", d.case.id)).into_response(),
        Err(CaseError::Invalid(m) | CaseError::State(m)) => back(m, draft).await,
        Err(CaseError::NotFound(what)) => back(format!("{what} not found"), draft).await,
        Err(CaseError::Store(StoreError::Conflict(m))) => back(m, draft).await,
        Err(CaseError::Store(_)) => unavailable(),
    }
}

// ---------------------------------------------------------------------------------------
// The case page

struct TargetLine {
    kind: String,
    state: String,
    state_key: &'static str,
    due: String,
    detail: String,
}

struct HandoffLine {
    from: String,
    to: String,
    reason: String,
    by: String,
    at: String,
    accepted: String,
}

struct MessageLine {
    id: i64,
    /// `customer`, `reply`, `note` or `system`: the CSS class and the test hook.
    role: &'static str,
    role_label: String,
    who: String,
    at: String,
    body: String,
    route: String,
    delivery: String,
    attachments: Vec<String>,
    /// The printable letter, for replies routed to a letter page.
    letter_url: String,
}

struct EventLine {
    at: String,
    who: String,
    what: String,
    change: String,
    internal: bool,
}

struct PresenceLine {
    name: String,
    /// `viewing` or `replying`.
    key: String,
    mode: String,
}

struct PrefLine {
    key: String,
    value: String,
    standing: bool,
    provenance: String,
}

struct FlagLine {
    flag: String,
    label: String,
    reason: String,
}

struct TimelineLine {
    at: String,
    kind: String,
    text: String,
}

struct TemplateOption {
    id: i64,
    name: String,
    rendered: String,
}

/// What the composer had in it (kept after a refusal).
#[derive(Default)]
struct Draft {
    body: String,
    note: bool,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CaseTemplate<'a> {
    shell: Shell<'a>,
    id: i64,
    number: i64,
    version: i64,
    subject: String,
    customer_id: i64,
    customer_name: String,
    tier: String,
    status_key: String,
    status: String,
    customer_label: String,
    priority_key: String,
    priority: String,
    channel: String,
    kind: String,
    owner: String,
    owner_id: i64,
    team: String,
    tags: Vec<String>,
    created: String,
    merged_into: Option<i64>,
    parent_case_id: Option<i64>,
    closed: bool,
    targets: Vec<TargetLine>,
    handoffs: Vec<HandoffLine>,
    thread: Vec<MessageLine>,
    events: Vec<EventLine>,
    others: Vec<PresenceLine>,
    prefs: Vec<PrefLine>,
    flags: Vec<FlagLine>,
    timeline: Vec<TimelineLine>,
    statuses: Vec<(String, String)>,
    priorities: Vec<(String, String)>,
    users: Vec<(i64, String)>,
    teams: Vec<(i64, String)>,
    templates: Vec<TemplateOption>,
    macros: Vec<(i64, String)>,
    routes: Vec<(String, String)>,
    default_route: String,
    can_reassign: bool,
    error: Option<String>,
    draft: Draft,
}

fn target_line(
    t: &Tr<'_>,
    v: &concierge_app::cases::TargetView,
    teams: &HashMap<i64, String>,
) -> TargetLine {
    let (state_key, detail) = match v.state {
        TargetStatus::Running { remaining_ms } => ("running", span(remaining_ms)),
        TargetStatus::AtRisk { remaining_ms } => ("at_risk", span(remaining_ms)),
        TargetStatus::Breached { overdue_ms } => ("breached", span(overdue_ms)),
        TargetStatus::Paused => ("paused", String::new()),
        TargetStatus::Met { on_time: true } => ("met", String::new()),
        TargetStatus::Met { on_time: false } => ("met_late", String::new()),
    };
    let mut kind = label(t, "target", &v.row.kind);
    if let Some(team) = v.row.team_id.and_then(|id| teams.get(&id)) {
        kind = format!("{kind} · {team}");
    }
    let detail = match state_key {
        "running" | "at_risk" => format!("{} {detail}", t.get("case.clock_left")),
        "breached" => format!("{} {detail}", t.get("case.clock_overdue")),
        _ => detail,
    };
    TargetLine {
        kind,
        state: label(t, "clock", state_key),
        state_key,
        due: when(v.row.due_at),
        detail,
    }
}

fn message_line(t: &Tr<'_>, m: MessageRow, customer_name: &str) -> MessageLine {
    let internal = m.visibility != "public";
    let (role, role_label, who) = if internal {
        (
            "note",
            t.get("case.internal_note").to_string(),
            m.author_name
                .clone()
                .unwrap_or_else(|| t.get("case.actor_system").to_string()),
        )
    } else if m.author_kind == "customer" {
        let mut who = match &m.author_email {
            Some(e) => format!("{customer_name} <{e}>"),
            None => customer_name.to_string(),
        };
        if let Some(agent) = &m.author_name {
            who = format!("{who} ({} {agent})", t.get("case.entered_by"));
        }
        ("customer", t.get("case.from_customer").to_string(), who)
    } else if m.author_kind == "system" && m.author_user_id.is_none() {
        (
            "system",
            t.get("case.public_reply").to_string(),
            t.get("case.actor_system").to_string(),
        )
    } else {
        (
            "reply",
            t.get("case.public_reply").to_string(),
            m.author_name
                .clone()
                .unwrap_or_else(|| t.get("case.actor_system").to_string()),
        )
    };
    MessageLine {
        id: m.id,
        letter_url: if m.route.as_deref() == Some("letter_page") {
            format!("/cases/{}/letters/{}", m.case_id, m.id)
        } else {
            String::new()
        },
        role,
        role_label,
        who,
        at: when(m.created_at),
        route: m
            .route
            .as_deref()
            .map(|r| label(t, "route", r))
            .unwrap_or_default(),
        delivery: m
            .delivery_state
            .as_deref()
            .map(|d| {
                let mut s = label(t, "delivery", d);
                if let Some(e) = &m.delivery_error {
                    s = format!("{s}: {e}");
                }
                s
            })
            .unwrap_or_default(),
        attachments: m
            .attachments
            .iter()
            .map(|a| format!("{} ({} B)", a.filename, a.size))
            .collect(),
        body: m.body_text,
    }
}

/// Names for ids in event details.
struct Names {
    users: HashMap<i64, String>,
    teams: HashMap<i64, String>,
}

fn event_line(t: &Tr<'_>, e: &CaseEventRow, names: &Names, customer_name: &str) -> EventLine {
    let d = &e.detail;
    let s = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let i = |k: &str| d.get(k).and_then(|v| v.as_i64());
    let user = |id: Option<i64>| {
        id.map(|u| {
            names
                .users
                .get(&u)
                .cloned()
                .unwrap_or_else(|| format!("#{u}"))
        })
        .unwrap_or_else(|| "—".into())
    };
    let team = |id: Option<i64>| {
        id.map(|u| {
            names
                .teams
                .get(&u)
                .cloned()
                .unwrap_or_else(|| format!("#{u}"))
        })
        .unwrap_or_else(|| "—".into())
    };
    let change = match e.kind.as_str() {
        "status" => format!(
            "{} → {}",
            label(t, "status", &s("from")),
            label(t, "status", &s("to"))
        ),
        "priority" => format!(
            "{} → {}",
            label(t, "priority", &s("from")),
            label(t, "priority", &s("to"))
        ),
        "subject" | "kind" => format!("{} → {}", s("from"), s("to")),
        "assigned" => {
            let to = d
                .get("owner_name")
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| user(i("owner_id")));
            let mut text = match i("from") {
                Some(f) => format!("{} → {to}", user(Some(f))),
                None => format!("→ {to}"),
            };
            let reason = s("reason");
            if !reason.is_empty() {
                text = format!("{text} ({reason})");
            }
            text
        }
        "unassigned" => format!("{} → —", user(i("from"))),
        "team" => {
            let to = match s("team_name") {
                n if !n.is_empty() => n,
                _ => team(i("to")),
            };
            match i("from") {
                Some(f) => format!("{} → {to}", team(Some(f))),
                None => format!("→ {to}"),
            }
        }
        "handed_off" => format!("→ {}", s("to_team_name")),
        "transferred" => {
            let from = match s("from_team_name") {
                n if !n.is_empty() => n,
                _ => team(i("from_team")),
            };
            let to = match s("to_team_name") {
                n if !n.is_empty() => n,
                _ => team(i("to_team")),
            };
            format!("{from} → {to}: {}", s("reason"))
        }
        "tags" => {
            let list = |k: &str, sign: &str| {
                d.get(k)
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str())
                            .map(|v| format!("{sign}{v}"))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            };
            let mut all = list("added", "+");
            all.extend(list("removed", "−"));
            all.join(" ")
        }
        "created" => format!(
            "{} · {} · {}",
            label(t, "channel", &s("channel")),
            label(t, "kind", &s("kind")),
            label(t, "priority", &s("priority"))
        ),
        "replied" => label(t, "route", &s("route")),
        "targets" => s("policy"),
        "escalated" => format!(
            "{} {}% (L{})",
            label(t, "target", &s("target")),
            i("percent").unwrap_or(0),
            i("level").unwrap_or(0)
        ),
        "merged_into" => format!("→ #{}", i("into_number").unwrap_or(0)),
        "merged" => format!("#{} {}", i("from_number").unwrap_or(0), s("from_subject")),
        "macro" => s("macro"),
        "handoff_accepted" => team(i("team_id")),
        "triggers" => d
            .get("fired")
            .and_then(|v| v.as_array())
            .map(|a| a.len().to_string())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let who = match e.actor_kind.as_str() {
        "user" => e.actor_name.clone().unwrap_or_else(|| user(e.actor_id)),
        "customer" => customer_name.to_string(),
        _ => t.get("case.actor_system").to_string(),
    };
    EventLine {
        at: when(e.at),
        who,
        what: label(t, "ev", &e.kind),
        change,
        internal: e.visibility != "customer",
    }
}

fn timeline_line(t: &Tr<'_>, i: &TimelineItem) -> TimelineLine {
    let s = &i.summary;
    let str_of = |k: &str| s.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let number = s.get("number").and_then(|v| v.as_i64()).unwrap_or(0);
    let (kind, text) = match i.kind.as_str() {
        "preference" => (
            t.get("customer.kind_preference"),
            format!("{} = {}", str_of("key"), str_of("value")),
        ),
        "note" => (t.get("customer.kind_note"), str_of("excerpt")),
        "flag" => (
            t.get("customer.kind_flag"),
            format!("{} {}", str_of("flag"), str_of("action")),
        ),
        "order" => (
            t.get("customer.kind_order"),
            format!("{} · {}", str_of("order"), str_of("status")),
        ),
        "case" => (
            t.get("customer.kind_case"),
            format!(
                "#{} {} ({})",
                number,
                str_of("subject"),
                label(t, "status", &str_of("status"))
            ),
        ),
        "case_event" => (
            t.get("customer.kind_case"),
            format!(
                "#{number} {} · {}",
                str_of("subject"),
                label(t, "ev", &str_of("event"))
            ),
        ),
        "message" => {
            let mut text = format!("#{number} {}", str_of("excerpt"));
            if str_of("visibility") == "internal" {
                text = format!(
                    "#{number} [{}] {}",
                    t.get("case.internal_note"),
                    str_of("excerpt")
                );
            }
            (t.get("case.tl_message"), text)
        }
        "profile" => (t.get("customer.kind_profile"), String::new()),
        _ => (t.get("customer.kind_other"), String::new()),
    };
    TimelineLine {
        at: when(i.at),
        kind: kind.to_string(),
        text: text.chars().take(200).collect(),
    }
}

fn flag_label(t: &Tr<'_>, flag: &str) -> String {
    match flag {
        "vip" => t.get("customer.flag_vip").to_string(),
        "abusive" => t.get("customer.flag_abusive").to_string(),
        "fraud_suspect" => t.get("customer.flag_fraud_suspect").to_string(),
        other => other.to_string(),
    }
}

fn case_error_status(e: &CaseError) -> StatusCode {
    match e {
        CaseError::NotFound(_) => StatusCode::NOT_FOUND,
        CaseError::State(_) | CaseError::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

async fn case_page_with(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    id: i64,
    error: Option<(StatusCode, String)>,
    draft: Draft,
) -> Response {
    let tenant = staff.user.tenant_id;
    let cid = CaseId(id);
    // Recording presence first also tells us whether the case exists in this tenant.
    let others = match s.app.case_presence(tenant, &staff.user, cid, false).await {
        Ok(o) => o,
        Err(CaseError::NotFound(_)) => {
            return (StatusCode::NOT_FOUND, "No such case.").into_response();
        }
        Err(_) => return unavailable(),
    };
    let detail: CaseDetail = match s.app.case_detail(tenant, cid, true).await {
        Ok(d) => d,
        Err(CaseError::NotFound(_)) => {
            return (StatusCode::NOT_FOUND, "No such case.").into_response();
        }
        Err(_) => return unavailable(),
    };
    let customer = CustomerId(detail.case.customer_id);
    let loaded = async {
        let rules = s.app.case_rules(tenant).await.ok();
        let users = s.app.store.list_users(tenant).await?;
        let teams = s.app.store.teams(tenant).await?;
        let templates = s.app.store.templates(tenant).await?;
        let macros = s.app.store.definitions(tenant, "macro").await?;
        Ok::<_, StoreError>((rules, users, teams, templates, macros))
    }
    .await;
    let Ok((rules, users, teams, templates, macros)) = loaded else {
        return unavailable();
    };
    let side = async {
        let prefs = s.app.preferences(tenant, customer, false).await?;
        let flags = s.app.customer_flags(tenant, customer, false).await?;
        let timeline = s
            .app
            .customer_timeline(tenant, customer, None, None, Some(TIMELINE_ITEMS))
            .await?;
        Ok::<_, concierge_app::customers::CustomerError>((prefs, flags, timeline))
    }
    .await;
    let Ok((prefs, flags, timeline)) = side else {
        return unavailable();
    };
    let shell = Shell::new(s, headers, staff);
    let t = shell.t;
    let names = Names {
        users: users
            .iter()
            .map(|u| (u.id.0, u.display_name.clone()))
            .collect(),
        teams: teams.iter().map(|tm| (tm.id, tm.name.clone())).collect(),
    };
    let c = &detail.case;
    let customer_label = detail.customer_label(t.locale).to_string();
    let closed = rules
        .as_ref()
        .is_some_and(|r| r.workflow.is_final(&c.status));
    let default_route = Channel::parse(&c.channel)
        .map(|ch| label(&t, "route", ch.reply_route().as_str()))
        .unwrap_or_default();
    let mut rendered = Vec::new();
    for tpl in templates {
        let text = s
            .app
            .render_for_customer(tenant, customer, &tpl.body, Escape::Text)
            .await
            .map(|r| r.output)
            .unwrap_or_default();
        rendered.push(TemplateOption {
            id: tpl.id,
            name: tpl.name,
            rendered: text,
        });
    }
    let customer_name = c.customer_name.clone();
    let can_reassign = staff.user.role.can(Permission::ReassignCases);
    let page = CaseTemplate {
        id: c.id,
        number: c.number,
        version: c.version,
        subject: c.subject.clone(),
        customer_id: c.customer_id,
        customer_name: customer_name.clone(),
        tier: detail.tier.clone().unwrap_or_else(|| "—".into()),
        status_key: c.status.clone(),
        status: label(&t, "status", &c.status),
        customer_label,
        priority_key: c.priority.clone(),
        priority: label(&t, "priority", &c.priority),
        channel: label(&t, "channel", &c.channel),
        kind: label(&t, "kind", &c.kind),
        owner: c
            .owner_name
            .clone()
            .unwrap_or_else(|| t.get("case.nobody").to_string()),
        owner_id: c.owner_id.unwrap_or(0),
        team: c.team_name.clone().unwrap_or_else(|| "—".into()),
        tags: c.tags.clone(),
        created: when(c.created_at),
        merged_into: c.merged_into,
        parent_case_id: c.parent_case_id,
        closed,
        targets: detail
            .targets
            .iter()
            .map(|v| target_line(&t, v, &names.teams))
            .collect(),
        handoffs: detail
            .handoffs
            .iter()
            .map(|h| HandoffLine {
                from: h.from_team_name.clone().unwrap_or_else(|| "—".into()),
                to: h
                    .to_team_name
                    .clone()
                    .unwrap_or_else(|| format!("#{}", h.to_team)),
                reason: h.reason.clone(),
                by: h.by_name.clone().unwrap_or_default(),
                at: when(h.at),
                accepted: h.accepted_at.map(when).unwrap_or_default(),
            })
            .collect(),
        events: detail
            .events
            .iter()
            .map(|e| event_line(&t, e, &names, &customer_name))
            .collect(),
        thread: detail
            .messages
            .into_iter()
            .map(|m| message_line(&t, m, &customer_name))
            .collect(),
        others: others
            .into_iter()
            .map(|p| PresenceLine {
                mode: label(&t, "presence", &p.mode),
                key: p.mode,
                name: p.name,
            })
            .collect(),
        prefs: prefs
            .into_iter()
            .map(|p| PrefLine {
                provenance: format!(
                    "{} · {}{}{}",
                    p.source,
                    p.recorded_by_name.clone().unwrap_or_else(|| "—".into()),
                    p.learned_from
                        .as_deref()
                        .map(|w| format!(" · {w}"))
                        .unwrap_or_default(),
                    format_args!(" · {}", when(p.learned_at)),
                ),
                key: p.key,
                value: p.value,
                standing: p.standing,
            })
            .collect(),
        flags: flags
            .into_iter()
            .filter(|f| f.cleared_at.is_none())
            .map(|f| FlagLine {
                label: flag_label(&t, &f.flag),
                flag: f.flag,
                reason: f.reason,
            })
            .collect(),
        timeline: timeline
            .items
            .iter()
            .map(|i| timeline_line(&t, i))
            .collect(),
        statuses: detail
            .allowed_statuses
            .iter()
            .map(|st| (st.clone(), label(&t, "status", st)))
            .collect(),
        priorities: priority_options(&t),
        users: users
            .iter()
            .filter(|u| u.active)
            .filter(|u| can_reassign || u.id == staff.user.id)
            .map(|u| (u.id.0, format!("{} ({})", u.display_name, u.role.as_str())))
            .collect(),
        teams: teams
            .iter()
            .filter(|tm| Some(tm.id) != c.team_id)
            .map(|tm| (tm.id, tm.name.clone()))
            .collect(),
        templates: rendered,
        macros: macros.into_iter().map(|m| (m.id, m.name)).collect(),
        routes: route_options(&t),
        default_route,
        can_reassign,
        error: error.as_ref().map(|(_, m)| m.clone()),
        draft,
        shell,
    };
    let status = error.map(|(st, _)| st).unwrap_or(StatusCode::OK);
    (status, render(&page)).into_response()
}

/// `GET /cases/{id}`: the case page.
pub async fn case_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
) -> Response {
    if let Some(r) = refuse_unless(&staff, Permission::WorkCases, "Your role cannot see cases.") {
        return r;
    }
    case_page_with(&s, &headers, &staff, id, None, Draft::default()).await
}

#[derive(Deserialize)]
pub struct PresenceQuery {
    mode: Option<String>,
}

#[derive(Serialize)]
struct PresenceOut {
    others: Vec<PresenceOne>,
}

#[derive(Serialize)]
struct PresenceOne {
    name: String,
    mode: String,
}

/// `GET /cases/{id}/presence?mode=viewing|replying`: records that the caller is on the case
/// and answers who else is (JSON, for the poll in `app.js`).
pub async fn presence(
    State(s): State<AppState>,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Query(q): Query<PresenceQuery>,
) -> Response {
    if let Some(r) = refuse_unless(&staff, Permission::WorkCases, "Your role cannot see cases.") {
        return r;
    }
    let replying = q.mode.as_deref() == Some("replying");
    match s
        .app
        .case_presence(staff.user.tenant_id, &staff.user, CaseId(id), replying)
        .await
    {
        Ok(others) => Json(PresenceOut {
            others: others
                .into_iter()
                .map(|p| PresenceOne {
                    name: p.name,
                    mode: p.mode,
                })
                .collect(),
        })
        .into_response(),
        Err(CaseError::NotFound(_)) => (StatusCode::NOT_FOUND, "No such case.").into_response(),
        Err(_) => unavailable(),
    }
}

/// After a case form: back to the page on success, the page with the error otherwise.
async fn after_case_form(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    id: i64,
    anchor: &str,
    result: Result<(), CaseError>,
    draft: Draft,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/cases/{id}#{anchor}")).into_response(),
        Err(CaseError::NotFound("case")) => {
            (StatusCode::NOT_FOUND, "No such case.").into_response()
        }
        Err(CaseError::Store(StoreError::Conflict(m))) => {
            let status = StatusCode::CONFLICT;
            case_page_with(s, headers, staff, id, Some((status, m)), draft).await
        }
        Err(CaseError::Store(_)) => unavailable(),
        Err(e) => {
            let status = case_error_status(&e);
            let m = e.to_string();
            case_page_with(s, headers, staff, id, Some((status, m)), draft).await
        }
    }
}

#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    body: String,
    /// `reply` (public, the default) or `note` (internal).
    mode: Option<String>,
    template_id: Option<String>,
    route: Option<String>,
    status: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

fn blank(v: Option<String>) -> Option<String> {
    v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// `POST /cases/{id}/reply`: a public reply (on the channel of origin unless another route
/// is chosen, optionally from a template, optionally setting a status) or an internal note.
pub async fn reply_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<ReplyForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = refuse_unless(
        &staff,
        Permission::WorkCases,
        "Your role cannot work cases.",
    ) {
        return r;
    }
    let internal = f.mode.as_deref() == Some("note");
    let draft = Draft {
        body: f.body.clone(),
        note: internal,
    };
    let template_id = match opt_id(f.template_id.as_deref()) {
        Ok(t) => t,
        Err(m) => {
            let st = StatusCode::UNPROCESSABLE_ENTITY;
            return case_page_with(&s, &headers, &staff, id, Some((st, m)), draft).await;
        }
    };
    let status = blank(f.status);
    let input = ReplyInput {
        body: f.body,
        internal,
        route: if internal { None } else { blank(f.route) },
        template_id: if internal { None } else { template_id },
        status: if internal { None } else { status.clone() },
        attachments: Vec::new(),
    };
    let tenant = staff.user.tenant_id;
    let mut r = s
        .app
        .reply(tenant, &staff.user, CaseId(id), &input)
        .await
        .map(|_| ());
    // A note carries no status of its own: the status is changed after it.
    if r.is_ok()
        && internal
        && let Some(st) = status
    {
        let patch = CasePatch {
            status: Some(st),
            ..CasePatch::default()
        };
        r = s
            .app
            .update_case(tenant, &staff.user, CaseId(id), &patch)
            .await
            .map(|_| ());
    }
    after_case_form(&s, &headers, &staff, id, "thread", r, draft).await
}

#[derive(Deserialize)]
pub struct UpdateForm {
    status: Option<String>,
    priority: Option<String>,
    /// A user id, `auto` (the team's strategy) or `none` (unassign).
    owner: Option<String>,
    add_tag: Option<String>,
    remove_tag: Option<String>,
    version: Option<i64>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /cases/{id}/update`: status, priority, owner (or "assign automatically"), tags.
pub async fn update_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<UpdateForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = refuse_unless(
        &staff,
        Permission::WorkCases,
        "Your role cannot work cases.",
    ) {
        return r;
    }
    let tenant = staff.user.tenant_id;
    let me = staff.user.id.0;
    let current = match s.app.store.case(tenant, CaseId(id)).await {
        Ok(Some(c)) => c,
        Ok(None) => return (StatusCode::NOT_FOUND, "No such case.").into_response(),
        Err(_) => return unavailable(),
    };
    let owner = blank(f.owner);
    let reassigning = match owner.as_deref() {
        None => false,
        Some("auto") => current.owner_id.is_some_and(|o| o != me),
        Some("none") => current.owner_id.is_some_and(|o| o != me),
        Some(other) => other.parse::<i64>().ok() != Some(me),
    };
    if reassigning
        && let Some(r) = refuse_unless(
            &staff,
            Permission::ReassignCases,
            "Your role can take cases but not reassign them.",
        )
    {
        return r;
    }
    let user = &staff.user;
    let result = if owner.as_deref() == Some("auto") {
        s.app
            .auto_assign(tenant, user, CaseId(id))
            .await
            .map(|_| ())
    } else {
        let owner_id = match owner.as_deref() {
            None => None,
            Some("none") => Some(None),
            Some(o) => match o.parse::<i64>() {
                Ok(n) => Some(Some(n)),
                Err(_) => {
                    let m = format!("{} is not a user", o.chars().take(20).collect::<String>());
                    let st = StatusCode::UNPROCESSABLE_ENTITY;
                    return case_page_with(
                        &s,
                        &headers,
                        &staff,
                        id,
                        Some((st, m)),
                        Draft::default(),
                    )
                    .await;
                }
            },
        };
        let patch = CasePatch {
            status: blank(f.status),
            priority: blank(f.priority),
            owner_id,
            add_tags: blank(f.add_tag).into_iter().collect(),
            remove_tags: blank(f.remove_tag).into_iter().collect(),
            version: f.version,
            ..CasePatch::default()
        };
        s.app
            .update_case(tenant, user, CaseId(id), &patch)
            .await
            .map(|_| ())
    };
    after_case_form(
        &s,
        &headers,
        &staff,
        id,
        "summary",
        result,
        Draft::default(),
    )
    .await
}

#[derive(Deserialize)]
pub struct TransferForm {
    team_id: String,
    reason: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /cases/{id}/transfer`: hands the case to another team with a reason.
pub async fn transfer_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<TransferForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = refuse_unless(
        &staff,
        Permission::WorkCases,
        "Your role cannot work cases.",
    ) {
        return r;
    }
    let result = match opt_id(Some(&f.team_id)) {
        Ok(Some(team)) => s
            .app
            .transfer_case(
                staff.user.tenant_id,
                &staff.user,
                CaseId(id),
                team,
                &f.reason,
            )
            .await
            .map(|_| ()),
        Ok(None) => Err(CaseError::Invalid(
            "choose the team to hand the case to".into(),
        )),
        Err(m) => Err(CaseError::Invalid(m)),
    };
    after_case_form(&s, &headers, &staff, id, "path", result, Draft::default()).await
}

#[derive(Deserialize)]
pub struct MergeForm {
    /// The number of the case to merge into (`123` or `#123`).
    into: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /cases/{id}/merge`: merges this case into another (by number) and opens that one.
pub async fn merge_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<MergeForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = refuse_unless(
        &staff,
        Permission::WorkCases,
        "Your role cannot work cases.",
    ) {
        return r;
    }
    let tenant = staff.user.tenant_id;
    let Ok(number) = f.into.trim().trim_start_matches('#').trim().parse::<i64>() else {
        let r = Err(CaseError::Invalid(
            "give the number of the case to merge into, e.g. 1024".into(),
        ));
        return after_case_form(&s, &headers, &staff, id, "merge", r, Draft::default()).await;
    };
    let target = match s.app.store.case_by_number(tenant, number).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            let r = Err(CaseError::Invalid(format!("there is no case #{number}")));
            return after_case_form(&s, &headers, &staff, id, "merge", r, Draft::default()).await;
        }
        Err(_) => return unavailable(),
    };
    match s
        .app
        .merge_cases(tenant, &staff.user, CaseId(id), CaseId(target.id))
        .await
    {
        Ok(d) => Redirect::to(&format!("/cases/{}#thread", d.case.id)).into_response(),
        Err(e) => {
            after_case_form(&s, &headers, &staff, id, "merge", Err(e), Draft::default()).await
        }
    }
}

#[derive(Deserialize)]
pub struct MacroForm {
    macro_id: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /cases/{id}/macro`: applies a macro (its actions, then its reply).
pub async fn macro_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<MacroForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = refuse_unless(
        &staff,
        Permission::WorkCases,
        "Your role cannot work cases.",
    ) {
        return r;
    }
    let result = match opt_id(Some(&f.macro_id)) {
        Ok(Some(m)) => s
            .app
            .apply_macro(staff.user.tenant_id, &staff.user, CaseId(id), m)
            .await
            .map(|_| ()),
        Ok(None) => Err(CaseError::Invalid("choose a macro".into())),
        Err(m) => Err(CaseError::Invalid(m)),
    };
    after_case_form(&s, &headers, &staff, id, "thread", result, Draft::default()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::I18n;
    use concierge_domain::Locale;

    #[test]
    fn spans_read_as_hours_and_minutes() {
        assert_eq!(span(0), "0m");
        assert_eq!(span(45 * 60_000), "45m");
        assert_eq!(span(125 * 60_000), "2h 05m");
        assert_eq!(span(26 * 60 * 60_000), "1d 2h 00m");
        assert_eq!(span(-5), "0m");
    }

    #[test]
    fn labels_fall_back_to_the_key() {
        let i = I18n::load().unwrap();
        let t = Tr {
            i18n: &i,
            locale: Locale::En,
        };
        assert_eq!(label(&t, "status", "solved"), "Solved");
        assert_eq!(
            label(&t, "status", "waiting_on_vendor"),
            "waiting_on_vendor"
        );
        let t = Tr {
            i18n: &i,
            locale: Locale::Ko,
        };
        assert_ne!(label(&t, "view", "mine"), "mine");
    }

    #[test]
    fn every_keyword_has_a_label() {
        let i = I18n::load().unwrap();
        for locale in Locale::ALL {
            let t = Tr { i18n: &i, locale };
            for (group, keys) in [
                ("channel", channel_options(&t)),
                ("priority", priority_options(&t)),
                ("route", route_options(&t)),
                ("kind", kind_options(&t)),
            ] {
                for (k, _) in keys {
                    let key = format!("case.{group}_{k}");
                    assert_ne!(i.text(locale, &key), key, "{locale:?}: {key}");
                }
            }
            for v in View::ALL {
                assert_ne!(view_label(&t, v), v.as_str());
            }
            let has = |group: &str, key: &str| {
                let k = format!("case.{group}_{key}");
                assert_ne!(i.text(locale, &k), k, "{locale:?}: {k}");
            };
            for s in ["new", "open", "pending", "on_hold", "solved", "closed"] {
                has("status", s);
            }
            for s in [
                "running", "at_risk", "breached", "paused", "met", "met_late",
            ] {
                has("clock", s);
            }
            for s in ["first_response", "next_response", "resolution", "handoff"] {
                has("target", s);
            }
            for s in ["viewing", "replying"] {
                has("presence", s);
            }
            for s in [
                "queued",
                "published",
                "ready_to_print",
                "call_task",
                "visit_task",
            ] {
                has("delivery", s);
            }
        }
    }

    #[test]
    fn capped_counts_show_a_plus() {
        assert_eq!(count_text(1000, true), "1000+");
        assert_eq!(count_text(7, false), "7");
    }

    #[test]
    fn ids_from_selects() {
        assert_eq!(opt_id(None), Ok(None));
        assert_eq!(opt_id(Some(" ")), Ok(None));
        assert_eq!(opt_id(Some("12")), Ok(Some(12)));
        assert!(opt_id(Some("x")).is_err());
    }
}

/// The console's case and admin pages over real HTTP: roles, CSRF, escaping of customer text,
/// tenant isolation and the checks on stored definitions.
#[cfg(test)]
mod console_http {
    use concierge_app::cases::{Actor, CustomerRef, NewCaseInput};
    use concierge_app::{App, Config};
    use concierge_domain::{Role, TenantId};
    use concierge_store::testing::TestDb;
    use reqwest::StatusCode;
    use reqwest::redirect::Policy;

    struct Server {
        url: String,
        app: App,
        _db: TestDb,
        _data: tempfile::TempDir,
        _stop: tokio::sync::oneshot::Sender<()>,
    }

    async fn server() -> Server {
        let db = TestDb::new().await.unwrap();
        let data = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.storage.data_dir = data.path().to_path_buf();
        cfg.storage.database_url = db.url.clone();
        cfg.jobs.enabled = false;
        let app = App::new(db.store().await.unwrap(), cfg);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let a = app.clone();
        let task = tokio::spawn(async move {
            crate::serve(a, listener, async {
                let _ = rx.await;
            })
            .await
        });
        for _ in 0..1500 {
            assert!(
                !task.is_finished(),
                "the test server stopped while starting"
            );
            if reqwest::get(format!("{url}/healthz")).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Server {
            url,
            app,
            _db: db,
            _data: data,
            _stop: tx,
        }
    }

    impl Server {
        async fn tenant(&self, slug: &str) -> TenantId {
            let now = self.app.now();
            self.app
                .store
                .ensure_tenant(slug, slug, now)
                .await
                .unwrap()
                .id
        }

        /// A signed-in browser-like client (cookies kept, redirects not followed).
        async fn signed_in(&self, email: &str, role: Role) -> reqwest::Client {
            let tenant = self.tenant("default").await;
            self.app
                .add_user(tenant, email, None, role, "password-123")
                .await
                .unwrap();
            let c = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .unwrap();
            let page = self.get(&c, "/sign-in").await.1;
            let r = c
                .post(format!("{}/sign-in", self.url))
                .form(&[
                    ("email", email),
                    ("password", "password-123"),
                    ("_csrf", &csrf_in(&page)),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            c
        }

        async fn get(&self, c: &reqwest::Client, path: &str) -> (StatusCode, String) {
            let r = c.get(format!("{}{path}", self.url)).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }

        /// Posts a form; answers the status and the `Location` (or the body).
        async fn post(
            &self,
            c: &reqwest::Client,
            path: &str,
            form: &[(&str, &str)],
        ) -> (StatusCode, String) {
            let r = c
                .post(format!("{}{path}", self.url))
                .form(form)
                .send()
                .await
                .unwrap();
            let status = r.status();
            match r.headers().get("location") {
                Some(l) => (status, l.to_str().unwrap().to_string()),
                None => (status, r.text().await.unwrap()),
            }
        }
    }

    fn csrf_in(html: &str) -> String {
        let marker = "name=\"_csrf\" value=\"";
        let i = html.find(marker).expect("a CSRF field") + marker.len();
        html[i..].split('"').next().unwrap().to_string()
    }

    /// Opens a case through the console; answers its path.
    async fn open_case(
        s: &Server,
        c: &reqwest::Client,
        csrf: &str,
        subject: &str,
        body: &str,
    ) -> String {
        let (st, loc) = s
            .post(
                c,
                "/cases",
                &[
                    ("subject", subject),
                    ("body", body),
                    ("channel", "email"),
                    ("email", "ann@example.com"),
                    ("name", "Ann <b>Lee</b>"),
                    ("priority", "high"),
                    ("_csrf", csrf),
                ],
            )
            .await;
        assert_eq!(st, StatusCode::SEE_OTHER, "{loc}");
        assert!(loc.starts_with("/cases/"), "{loc}");
        loc
    }

    #[tokio::test]
    async fn a_case_is_worked_in_the_console_and_customer_text_stays_text() {
        let s = server().await;
        let c = s.signed_in("lead@example.com", Role::Manager).await;
        let (st, queue) = s.get(&c, "/cases?view=open").await;
        assert_eq!(st, StatusCode::OK);
        let csrf = csrf_in(&queue);
        let path = open_case(
            &s,
            &c,
            &csrf,
            "<img src=x onerror=alert(1)>",
            "<script>alert('x')</script> please help",
        )
        .await;
        let (st, page) = s.get(&c, &path).await;
        assert_eq!(st, StatusCode::OK);
        let at = page.find("please help").expect("the body is shown");
        let shown = &page[at.saturating_sub(80)..at];
        assert!(
            shown.contains("&#60;script&#62;alert("),
            "body escaped: {shown}"
        );
        assert!(!page.contains("<script>alert"), "no live script");
        assert!(!page.contains("<img src=x"), "no live image");
        assert!(
            page.contains("Ann &#60;b&#62;Lee&#60;/b&#62;"),
            "customer name escaped"
        );

        // Forms without the session's token are refused.
        let (st, _) = s
            .post(
                &c,
                &format!("{path}/reply"),
                &[("body", "hi"), ("_csrf", "forged")],
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);

        // A note, then a reply that also sets the status.
        let (st, _) = s
            .post(
                &c,
                &format!("{path}/reply"),
                &[
                    ("body", "checked the order"),
                    ("mode", "note"),
                    ("_csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        let (st, _) = s
            .post(
                &c,
                &format!("{path}/reply"),
                &[
                    ("body", "We are on it."),
                    ("status", "pending"),
                    ("_csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        let page = s.get(&c, &path).await.1;
        assert!(page.contains("data-role=\"note\""));
        assert!(page.contains("Internal note"));
        assert!(
            page.contains("data-status=\"pending\""),
            "status set with the reply"
        );
        assert!(
            page.contains("Waiting for your reply"),
            "the customer's label"
        );

        // A move the workflow does not allow is explained, not applied.
        let (st, body) = s
            .post(
                &c,
                &format!("{path}/update"),
                &[("status", "closed"), ("_csrf", &csrf)],
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.contains("flash-error"));

        // Presence answers JSON; the queue counts the case.
        let r = c
            .get(format!("{}{path}/presence?mode=replying", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["others"], serde_json::json!([]));
        let queue = s.get(&c, "/cases?view=open").await.1;
        assert!(queue.contains("&#60;img src=x"));
        // The search box takes a case number straight to the case.
        let r = c
            .get(format!("{}/cases?q=%231", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        // Garbage in view and cursor is explained.
        let (st, body) = s.get(&c, "/cases?view=everything&cursor=x.y").await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("is not a view"));
    }

    #[tokio::test]
    async fn agents_cannot_change_rules_or_reassign_others_cases() {
        let s = server().await;
        let lead = s.signed_in("lead@example.com", Role::Manager).await;
        let agent = s.signed_in("agent@example.com", Role::Agent).await;
        let csrf = csrf_in(&s.get(&agent, "/cases").await.1);
        for p in [
            "/admin/teams",
            "/admin/targets",
            "/admin/triggers",
            "/admin/templates",
        ] {
            assert_eq!(s.get(&agent, p).await.0, StatusCode::FORBIDDEN, "{p}");
            assert_eq!(s.get(&lead, p).await.0, StatusCode::OK, "{p}");
        }
        let (st, _) = s
            .post(
                &agent,
                "/admin/templates",
                &[("name", "x"), ("body", "y"), ("_csrf", &csrf)],
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let home = s.get(&agent, "/cases").await.1;
        assert!(
            !home.contains("href=\"/admin/teams\""),
            "no admin links for agents"
        );

        let path = open_case(&s, &agent, &csrf, "Lost parcel", "Where is it?").await;
        let tenant = s.tenant("default").await;
        let lead_user = s
            .app
            .store
            .list_users(tenant)
            .await
            .unwrap()
            .into_iter()
            .find(|u| u.email == "lead@example.com")
            .unwrap();
        let (st, _) = s
            .post(
                &agent,
                &format!("{path}/update"),
                &[("owner", &lead_user.id.0.to_string()), ("_csrf", &csrf)],
            )
            .await;
        assert_eq!(
            st,
            StatusCode::FORBIDDEN,
            "agents take cases, they do not hand them out"
        );
        let agent_user = s
            .app
            .store
            .list_users(tenant)
            .await
            .unwrap()
            .into_iter()
            .find(|u| u.email == "agent@example.com")
            .unwrap();
        let (st, _) = s
            .post(
                &agent,
                &format!("{path}/update"),
                &[("owner", &agent_user.id.0.to_string()), ("_csrf", &csrf)],
            )
            .await;
        assert_eq!(st, StatusCode::SEE_OTHER, "taking a case is fine");
    }

    #[tokio::test]
    async fn another_tenants_case_is_not_found() {
        let s = server().await;
        let acme = s.tenant("acme").await;
        let theirs = s
            .app
            .create_case(
                acme,
                Actor::System,
                &NewCaseInput::new(
                    CustomerRef::Email {
                        email: "x@acme.example".into(),
                        name: None,
                    },
                    "Secret",
                    "acme only",
                    "web",
                ),
            )
            .await
            .unwrap();
        let c = s.signed_in("admin@example.com", Role::Admin).await;
        let csrf = csrf_in(&s.get(&c, "/cases").await.1);
        let path = format!("/cases/{}", theirs.case.id);
        assert_eq!(s.get(&c, &path).await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            s.get(&c, &format!("{path}/presence")).await.0,
            StatusCode::NOT_FOUND
        );
        for (action, form) in [
            ("reply", vec![("body", "hello")]),
            ("update", vec![("priority", "urgent")]),
            ("transfer", vec![("team_id", "1"), ("reason", "x")]),
        ] {
            let mut form = form;
            form.push(("_csrf", &csrf));
            let (st, _) = s.post(&c, &format!("{path}/{action}"), &form).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "{action}");
        }
        let after = s
            .app
            .case_detail(acme, concierge_domain::CaseId(theirs.case.id), true)
            .await
            .unwrap();
        assert_eq!(after.messages.len(), 1, "nothing was added");
        assert_eq!(after.case.priority, "normal");
    }

    #[tokio::test]
    async fn definitions_are_checked_before_they_are_stored() {
        let s = server().await;
        let c = s.signed_in("admin@example.com", Role::Admin).await;
        let tenant = s.tenant("default").await;
        let csrf = csrf_in(&s.get(&c, "/admin/triggers").await.1);
        let (st, body) = s
            .post(
                &c,
                "/admin/triggers",
                &[
                    ("name", "bad"),
                    ("event", "created"),
                    ("rules", r#"{"conditions": [{"op": "status_is", "value": "limbo"}], "actions": [{"action": "raise_priority"}]}"#),
                    ("_csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("limbo"), "the unknown status is named");
        let (st, _) = s
            .post(
                &c,
                "/admin/triggers",
                &[
                    ("name", "Urgent refunds"),
                    ("event", "created"),
                    ("rules", r#"{"conditions": [{"op": "subject_contains", "value": "refund"}], "actions": [{"action": "set_priority", "value": "urgent"}]}"#),
                    ("_csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        let stored = s.app.store.definitions(tenant, "trigger").await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].event.as_deref(), Some("created"));
        // The stored trigger loads and runs.
        let path = open_case(&s, &c, &csrf, "Refund please", "It broke.").await;
        assert!(s.get(&c, &path).await.1.contains("prio-urgent"));

        let (st, _) = s
            .post(
                &c,
                "/admin/targets/calendar",
                &[
                    ("time_zone", "Nowhere/Town"),
                    ("mon", "09:00-18:00"),
                    ("_csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        let (st, _) = s
            .post(
                &c,
                "/admin/targets/calendar",
                &[
                    ("time_zone", "Asia/Seoul"),
                    ("mon", "09:00-18:00"),
                    ("_csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(
            s.app
                .store
                .definitions(tenant, "calendar")
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(s.app.case_rules(tenant).await.is_ok(), "the calendar loads");

        let (st, _) = s
            .post(
                &c,
                "/admin/macros",
                &[
                    ("name", "Ask for a photo"),
                    (
                        "actions",
                        r#"[{"action": "set_status", "value": "pending"}]"#,
                    ),
                    (
                        "reply",
                        "Could you send a photo, {{customer.first_name | \"there\"}}?",
                    ),
                    ("_csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        let macros = s.app.store.definitions(tenant, "macro").await.unwrap();
        let (st, _) = s
            .post(
                &c,
                &format!("{path}/macro"),
                &[("macro_id", &macros[0].id.to_string()), ("_csrf", &csrf)],
            )
            .await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        let page = s.get(&c, &path).await.1;
        assert!(
            page.contains("Could you send a photo, Ann?"),
            "the macro's reply"
        );
        assert!(
            page.contains("data-status=\"pending\""),
            "the macro's action"
        );
    }
}
