//! Admin pages for cases (issue 4), for managers and administrators: teams and their members
//! (assignment strategy, hand-off target, caps and availability), service-level policies and
//! the business-hours calendar, triggers, reply templates and macros.
//!
//! Every definition is checked by the domain rules before it is stored (a policy by
//! `Policy::validate`, a calendar by `Calendar::new` with a real time zone, a trigger by
//! `Trigger::validate` and the tenant's workflow, a macro by `Macro::validate`, a template by
//! the personalisation parser), so a stored definition always loads. Agents get 403.

use super::cases::{refuse_unless, unavailable};
use super::{Shell, render};
use crate::auth::ConsoleStaff;
use crate::i18n::Tr;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use concierge_app::cases::default_policies;
use concierge_domain::case::{self, Category, Channel, Priority, Strategy, Workflow};
use concierge_domain::rules::{Action, Condition, Event, Macro, Trigger};
use concierge_domain::sla::{self, Calendar, CalendarSpec, Policy};
use concierge_domain::{Permission, TenantId, UserId};
use concierge_store::StoreError;
use serde::Deserialize;
use std::collections::BTreeMap;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `Some(403)` unless the user may change case rules (managers and administrators).
fn guard(staff: &ConsoleStaff) -> Option<Response> {
    refuse_unless(
        staff,
        Permission::ManageRules,
        "Only managers and administrators can change case settings.",
    )
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

fn saved(t: &Tr<'_>, q: &DoneQuery) -> Option<String> {
    q.done.as_ref().map(|_| t.get("admin.saved").to_string())
}

/// An error page status: the input was refused.
fn refused(page: Response) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
}

fn trimmed(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

fn name_of(what: &str, v: &str) -> Result<String, String> {
    let n = v.trim();
    let len = n.chars().count();
    if len == 0 || len > 100 {
        return Err(format!(
            "a {what} name must be 1-100 characters (got {len})"
        ));
    }
    Ok(n.to_string())
}

/// An optional number of minutes from a form field (blank: none).
fn minutes(what: &str, v: Option<&str>) -> Result<Option<u32>, String> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => {
            let n: i64 = v
                .parse()
                .map_err(|_| format!("{what} must be a whole number of minutes"))?;
            sla::check_target_minutes(n)
                .map(Some)
                .map_err(|e| format!("{what}: {e}"))
        }
    }
}

fn optional_id(what: &str, v: Option<&str>) -> Result<Option<i64>, String> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("{what} is not an id")),
    }
}

fn open_statuses(w: &Workflow) -> Vec<String> {
    w.states
        .iter()
        .filter(|s| !matches!(s.category, Category::Solved | Category::Closed))
        .map(|s| s.key.clone())
        .collect()
}

async fn workflow(s: &AppState, tenant: TenantId) -> Workflow {
    s.app
        .case_rules(tenant)
        .await
        .map(|r| r.workflow)
        .unwrap_or_default()
}

fn strategy_label(t: &Tr<'_>, key: &str) -> String {
    let k = format!("admin.strategy_{key}");
    let text = t.i18n.text(t.locale, &k).to_string();
    if text == k { key.to_string() } else { text }
}

// ---------------------------------------------------------------------------------------
// Teams

struct MemberView {
    name: String,
    email: String,
    cap: String,
    available: bool,
    open_cases: i64,
}

struct TeamView {
    id: i64,
    name: String,
    manager: String,
    manager_id: i64,
    assignment: String,
    assignment_label: String,
    handoff_mins: String,
    members: Vec<MemberView>,
}

#[derive(Template)]
#[template(path = "admin_teams.html")]
struct TeamsTemplate<'a> {
    shell: Shell<'a>,
    teams: Vec<TeamView>,
    users: Vec<(i64, String)>,
    strategies: Vec<(String, String)>,
    error: Option<String>,
    message: Option<String>,
}

async fn teams_page_with(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    error: Option<String>,
    message: Option<String>,
) -> Response {
    let tenant = staff.user.tenant_id;
    let shell = Shell::new(s, headers, staff);
    let t = shell.t;
    let open = open_statuses(&workflow(s, tenant).await);
    let open_refs: Vec<&str> = open.iter().map(String::as_str).collect();
    let loaded = async {
        let users = s.app.store.list_users(tenant).await?;
        let teams = s.app.store.teams(tenant).await?;
        let mut out = Vec::new();
        for tm in teams {
            let members = s.app.store.team_members(tenant, tm.id, &open_refs).await?;
            out.push((tm, members));
        }
        Ok::<_, StoreError>((users, out))
    }
    .await;
    let Ok((users, teams)) = loaded else {
        return unavailable();
    };
    let user_name = |id: i64| {
        users
            .iter()
            .find(|u| u.id.0 == id)
            .map(|u| u.display_name.clone())
            .unwrap_or_else(|| format!("#{id}"))
    };
    let teams = teams
        .into_iter()
        .map(|(tm, members)| TeamView {
            id: tm.id,
            manager: tm.manager_id.map(user_name).unwrap_or_else(|| "—".into()),
            manager_id: tm.manager_id.unwrap_or(0),
            assignment_label: strategy_label(&t, &tm.assignment),
            assignment: tm.assignment,
            handoff_mins: tm.handoff_mins.map(|m| m.to_string()).unwrap_or_default(),
            name: tm.name,
            members: members
                .into_iter()
                .map(|m| MemberView {
                    name: m.name,
                    email: m.email,
                    cap: m.cap.map(|c| c.to_string()).unwrap_or_else(|| "—".into()),
                    available: m.available,
                    open_cases: m.open_cases,
                })
                .collect(),
        })
        .collect();
    let page = TeamsTemplate {
        teams,
        users: users
            .iter()
            .filter(|u| u.active)
            .map(|u| {
                (
                    u.id.0,
                    format!("{} <{}> ({})", u.display_name, u.email, u.role.as_str()),
                )
            })
            .collect(),
        strategies: Strategy::ALL
            .iter()
            .map(|st| (st.as_str().to_string(), strategy_label(&t, st.as_str())))
            .collect(),
        error: error.clone(),
        message,
        shell,
    };
    if error.is_some() {
        refused(render(&page))
    } else {
        render(&page)
    }
}

/// `GET /admin/teams`.
pub async fn teams_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Query(q): Query<DoneQuery>,
) -> Response {
    if let Some(r) = guard(&staff) {
        return r;
    }
    let msg = saved(&Shell::new(&s, &headers, &staff).t, &q);
    teams_page_with(&s, &headers, &staff, None, msg).await
}

#[derive(Deserialize)]
pub struct TeamForm {
    /// Set: change this team; unset: create one.
    team_id: Option<String>,
    #[serde(default)]
    name: String,
    manager_id: Option<String>,
    assignment: String,
    handoff_mins: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/teams`: creates a team (or changes one's manager, strategy and hand-off target).
pub async fn teams_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Form(f): Form<TeamForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = guard(&staff) {
        return r;
    }
    let tenant = staff.user.tenant_id;
    let checked = async {
        let strategy = Strategy::parse(&f.assignment).map_err(|e| e.to_string())?;
        let handoff = minutes("the hand-off target", f.handoff_mins.as_deref())?;
        let manager = optional_id("the manager", f.manager_id.as_deref())?;
        if let Some(m) = manager {
            match s.app.store.user_by_id(tenant, UserId(m)).await {
                Ok(Some(u)) if u.active => {}
                Ok(_) => return Err("the manager is not a user of this tenant".to_string()),
                Err(_) => return Err(String::new()),
            }
        }
        let team = optional_id("the team", f.team_id.as_deref())?;
        Ok((strategy, handoff.map(i64::from), manager, team))
    }
    .await;
    let (strategy, handoff, manager, team) = match checked {
        Ok(v) => v,
        Err(m) if m.is_empty() => return unavailable(),
        Err(m) => return teams_page_with(&s, &headers, &staff, Some(m), None).await,
    };
    let result = match team {
        Some(id) => match s
            .app
            .store
            .update_team(tenant, id, manager, strategy.as_str(), handoff)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(StoreError::Conflict("no such team".into())),
            Err(e) => Err(e),
        },
        None => {
            let name = match name_of("team", &f.name) {
                Ok(n) => n,
                Err(m) => return teams_page_with(&s, &headers, &staff, Some(m), None).await,
            };
            let exists = match s.app.store.teams(tenant).await {
                Ok(ts) => ts.iter().any(|t| t.name.eq_ignore_ascii_case(&name)),
                Err(_) => return unavailable(),
            };
            if exists {
                let m = format!("there is already a team called {name}");
                return teams_page_with(&s, &headers, &staff, Some(m), None).await;
            }
            s.app
                .store
                .create_team(
                    tenant,
                    &name,
                    manager,
                    strategy.as_str(),
                    handoff,
                    s.app.now(),
                )
                .await
                .map(|_| ())
        }
    };
    match result {
        Ok(()) => Redirect::to("/admin/teams?done=1").into_response(),
        Err(StoreError::Conflict(m)) => teams_page_with(&s, &headers, &staff, Some(m), None).await,
        Err(_) => unavailable(),
    }
}

#[derive(Deserialize)]
pub struct MemberForm {
    team_id: String,
    user_id: String,
    cap: Option<String>,
    available: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/teams/members`: adds a member (or changes their cap and availability).
pub async fn members_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Form(f): Form<MemberForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = guard(&staff) {
        return r;
    }
    let parsed = (|| {
        let team = optional_id("the team", Some(&f.team_id))?.ok_or("choose a team")?;
        let user = optional_id("the user", Some(&f.user_id))?.ok_or("choose a user")?;
        let cap = match f.cap.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => match c.parse::<i64>() {
                Ok(n) if (1..=10_000).contains(&n) => Some(n),
                _ => return Err("a cap must be a number of open cases from 1 to 10000".into()),
            },
        };
        Ok::<_, String>((team, user, cap))
    })();
    let (team, user, cap) = match parsed {
        Ok(v) => v,
        Err(m) => return teams_page_with(&s, &headers, &staff, Some(m), None).await,
    };
    match s
        .app
        .store
        .set_team_member(staff.user.tenant_id, team, user, cap, f.available.is_some())
        .await
    {
        Ok(()) => Redirect::to("/admin/teams?done=1").into_response(),
        Err(StoreError::Conflict(m)) => teams_page_with(&s, &headers, &staff, Some(m), None).await,
        Err(_) => unavailable(),
    }
}

// ---------------------------------------------------------------------------------------
// Targets: policies and the business-hours calendar

struct PolicyView {
    id: i64,
    name: String,
    tier: String,
    priority: String,
    channel: String,
    first: String,
    next: String,
    resolution: String,
}

fn policy_view(p: &Policy) -> PolicyView {
    let any = |v: &Option<String>| v.clone().unwrap_or_else(|| "*".into());
    let mins = |v: Option<u32>| v.map(|m| m.to_string()).unwrap_or_else(|| "—".into());
    PolicyView {
        id: p.id,
        name: p.name.clone(),
        tier: any(&p.tier),
        priority: any(&p.priority),
        channel: any(&p.channel),
        first: mins(p.first_response_mins),
        next: mins(p.next_response_mins),
        resolution: mins(p.resolution_mins),
    }
}

struct DayHours {
    key: &'static str,
    label: String,
    value: String,
}

#[derive(Template)]
#[template(path = "admin_targets.html")]
struct TargetsTemplate<'a> {
    shell: Shell<'a>,
    policies: Vec<PolicyView>,
    defaults: Vec<PolicyView>,
    calendar_id: i64,
    time_zone: String,
    days: Vec<DayHours>,
    holidays: String,
    priorities: Vec<String>,
    channels: Vec<String>,
    error: Option<String>,
    message: Option<String>,
}

async fn targets_page_with(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    error: Option<String>,
    message: Option<String>,
) -> Response {
    let tenant = staff.user.tenant_id;
    let shell = Shell::new(s, headers, staff);
    let t = shell.t;
    let loaded = async {
        let policies = s.app.store.definitions(tenant, "sla_policy").await?;
        let calendars = s.app.store.definitions(tenant, "calendar").await?;
        Ok::<_, StoreError>((policies, calendars))
    }
    .await;
    let Ok((policies, calendars)) = loaded else {
        return unavailable();
    };
    let policies: Vec<PolicyView> = policies
        .iter()
        .map(|row| match serde_json::from_str::<Policy>(&row.spec) {
            Ok(mut p) => {
                p.id = row.id;
                policy_view(&p)
            }
            Err(_) => PolicyView {
                id: row.id,
                name: format!("{} (unreadable)", row.name),
                tier: String::new(),
                priority: String::new(),
                channel: String::new(),
                first: String::new(),
                next: String::new(),
                resolution: String::new(),
            },
        })
        .collect();
    let (calendar_id, spec) = match calendars.first() {
        Some(row) => (row.id, serde_json::from_str::<CalendarSpec>(&row.spec).ok()),
        None => (0, None),
    };
    let spec = spec.unwrap_or_else(|| CalendarSpec {
        time_zone: "UTC".into(),
        hours: DAYS
            .iter()
            .map(|d| (d.to_string(), vec!["00:00-24:00".to_string()]))
            .collect(),
        holidays: Vec::new(),
    });
    let days = DAYS
        .iter()
        .map(|d| DayHours {
            key: d,
            label: t.i18n.text(t.locale, &format!("admin.day_{d}")).to_string(),
            value: spec.hours.get(*d).map(|v| v.join(", ")).unwrap_or_default(),
        })
        .collect();
    let page = TargetsTemplate {
        defaults: if policies.is_empty() {
            default_policies().iter().map(policy_view).collect()
        } else {
            Vec::new()
        },
        policies,
        calendar_id,
        time_zone: spec.time_zone.clone(),
        days,
        holidays: spec.holidays.join("\n"),
        priorities: Priority::ALL
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
        channels: Channel::ALL
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        error: error.clone(),
        message,
        shell,
    };
    if error.is_some() {
        refused(render(&page))
    } else {
        render(&page)
    }
}

/// `GET /admin/targets`.
pub async fn targets_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Query(q): Query<DoneQuery>,
) -> Response {
    if let Some(r) = guard(&staff) {
        return r;
    }
    let msg = saved(&Shell::new(&s, &headers, &staff).t, &q);
    targets_page_with(&s, &headers, &staff, None, msg).await
}

#[derive(Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    name: String,
    tier: Option<String>,
    priority: Option<String>,
    channel: Option<String>,
    first: Option<String>,
    next: Option<String>,
    resolution: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

fn policy_from(f: &PolicyForm) -> Result<Policy, String> {
    let priority = match f.priority.as_deref().and_then(trimmed) {
        Some(p) => Some(
            Priority::parse(&p)
                .map_err(|e| e.to_string())?
                .as_str()
                .to_string(),
        ),
        None => None,
    };
    let channel = match f.channel.as_deref().and_then(trimmed) {
        Some(c) => Some(
            Channel::parse(&c)
                .map_err(|e| e.to_string())?
                .as_str()
                .to_string(),
        ),
        None => None,
    };
    let p = Policy {
        id: 0,
        name: name_of("policy", &f.name)?,
        tier: f.tier.as_deref().and_then(trimmed),
        priority,
        channel,
        first_response_mins: minutes("first response", f.first.as_deref())?,
        next_response_mins: minutes("next response", f.next.as_deref())?,
        resolution_mins: minutes("resolution", f.resolution.as_deref())?,
    };
    p.validate().map_err(|e| e.to_string())?;
    Ok(p)
}

/// `POST /admin/targets`: adds a service-level policy.
pub async fn policy_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Form(f): Form<PolicyForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = guard(&staff) {
        return r;
    }
    let p = match policy_from(&f) {
        Ok(p) => p,
        Err(m) => return targets_page_with(&s, &headers, &staff, Some(m), None).await,
    };
    let Ok(json) = serde_json::to_string(&p) else {
        return unavailable();
    };
    match s
        .app
        .store
        .add_definition(
            staff.user.tenant_id,
            "sla_policy",
            &p.name,
            None,
            &json,
            0,
            s.app.now(),
        )
        .await
    {
        Ok(_) => Redirect::to("/admin/targets?done=1").into_response(),
        Err(StoreError::Conflict(m)) => {
            targets_page_with(&s, &headers, &staff, Some(m), None).await
        }
        Err(_) => unavailable(),
    }
}

#[derive(Deserialize)]
pub struct CalendarForm {
    time_zone: String,
    mon: Option<String>,
    tue: Option<String>,
    wed: Option<String>,
    thu: Option<String>,
    fri: Option<String>,
    sat: Option<String>,
    sun: Option<String>,
    holidays: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// Builds and checks a calendar: the zone must exist and the hours and holidays parse.
fn calendar_from(f: &CalendarForm) -> Result<CalendarSpec, String> {
    let tz_name = f.time_zone.trim();
    if tz_name.is_empty() || tz_name.len() > 64 {
        return Err("give a time zone such as Asia/Shanghai, Asia/Seoul or UTC".into());
    }
    let tz = jiff::tz::TimeZone::get(tz_name).map_err(|_| {
        format!(
            "{} is not a time zone (use an IANA name such as Asia/Shanghai, Europe/Berlin or UTC)",
            tz_name.chars().take(40).collect::<String>()
        )
    })?;
    let mut hours = BTreeMap::new();
    for (day, v) in DAYS
        .iter()
        .zip([&f.mon, &f.tue, &f.wed, &f.thu, &f.fri, &f.sat, &f.sun])
    {
        let intervals: Vec<String> = v
            .as_deref()
            .unwrap_or("")
            .split([',', ';', ' ', '\n'])
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_string)
            .collect();
        if intervals.len() > 24 {
            return Err(format!("{day}: at most 24 intervals"));
        }
        if !intervals.is_empty() {
            hours.insert(day.to_string(), intervals);
        }
    }
    let holidays: Vec<String> = f
        .holidays
        .as_deref()
        .unwrap_or("")
        .split([',', '\n', ' '])
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    let spec = CalendarSpec {
        time_zone: tz_name.to_string(),
        hours,
        holidays,
    };
    Calendar::new(tz, &spec).map_err(|e| e.to_string())?;
    Ok(spec)
}

/// `POST /admin/targets/calendar`: sets the business-hours calendar (one per tenant).
pub async fn calendar_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Form(f): Form<CalendarForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = guard(&staff) {
        return r;
    }
    let tenant = staff.user.tenant_id;
    let spec = match calendar_from(&f) {
        Ok(c) => c,
        Err(m) => return targets_page_with(&s, &headers, &staff, Some(m), None).await,
    };
    let Ok(json) = serde_json::to_string(&spec) else {
        return unavailable();
    };
    let existing = match s.app.store.definitions(tenant, "calendar").await {
        Ok(c) => c,
        Err(_) => return unavailable(),
    };
    // The first calendar is the one in force: change it rather than add a second.
    let r = match existing.first() {
        Some(row) => s
            .app
            .store
            .update_definition(
                tenant,
                "calendar",
                row.id,
                "Business hours",
                None,
                &json,
                row.position,
                true,
            )
            .await
            .map(|_| ()),
        None => s
            .app
            .store
            .add_definition(
                tenant,
                "calendar",
                "Business hours",
                None,
                &json,
                0,
                s.app.now(),
            )
            .await
            .map(|_| ()),
    };
    match r {
        Ok(()) => Redirect::to("/admin/targets?done=1").into_response(),
        Err(_) => unavailable(),
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    /// For `/admin/targets/{id}/delete`: `sla_policy` or `calendar`.
    kind: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

async fn delete_definition(
    s: &AppState,
    staff: &ConsoleStaff,
    kind: &str,
    id: i64,
    back: &str,
) -> Response {
    match s
        .app
        .store
        .delete_definition(staff.user.tenant_id, kind, id)
        .await
    {
        Ok(true) => Redirect::to(&format!("{back}?done=1")).into_response(),
        Ok(false) => (StatusCode::NOT_FOUND, "No such definition.").into_response(),
        Err(_) => unavailable(),
    }
}

/// `POST /admin/targets/{id}/delete`: removes a policy or the calendar.
pub async fn target_delete_post(
    State(s): State<AppState>,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<DeleteForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = guard(&staff) {
        return r;
    }
    let kind = match f.kind.as_deref() {
        Some("calendar") => "calendar",
        Some("sla_policy") | None => "sla_policy",
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                "kind must be sla_policy or calendar",
            )
                .into_response();
        }
    };
    delete_definition(&s, &staff, kind, id, "/admin/targets").await
}

// ---------------------------------------------------------------------------------------
// Triggers

struct TriggerView {
    id: i64,
    name: String,
    event: String,
    position: i64,
    active: bool,
    rules: String,
}

#[derive(Template)]
#[template(path = "admin_triggers.html")]
struct TriggersTemplate<'a> {
    shell: Shell<'a>,
    triggers: Vec<TriggerView>,
    events: Vec<String>,
    draft_name: String,
    draft_event: String,
    draft_rules: String,
    error: Option<String>,
    message: Option<String>,
}

const TRIGGER_EXAMPLE: &str = r#"{
  "conditions": [{"op": "subject_contains", "value": "refund"}],
  "actions": [{"action": "add_tag", "value": "refund"},
              {"action": "set_priority", "value": "high"}]
}"#;

#[derive(Default)]
struct TriggerDraft {
    name: String,
    event: String,
    rules: String,
}

async fn triggers_page_with(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    error: Option<String>,
    message: Option<String>,
    draft: TriggerDraft,
) -> Response {
    let tenant = staff.user.tenant_id;
    let shell = Shell::new(s, headers, staff);
    let rows = match s.app.store.definitions(tenant, "trigger").await {
        Ok(r) => r,
        Err(_) => return unavailable(),
    };
    let triggers = rows
        .into_iter()
        .map(|row| {
            let rules = serde_json::from_str::<Trigger>(&row.spec)
                .ok()
                .and_then(|t| {
                    serde_json::to_string_pretty(&TriggerRulesOut {
                        conditions: &t.conditions,
                        actions: &t.actions,
                    })
                    .ok()
                })
                .unwrap_or_else(|| row.spec.clone());
            TriggerView {
                id: row.id,
                name: row.name,
                event: row.event.unwrap_or_default(),
                position: row.position,
                active: row.active,
                rules,
            }
        })
        .collect();
    let page = TriggersTemplate {
        triggers,
        events: Event::ALL.iter().map(|e| e.as_str().to_string()).collect(),
        draft_name: draft.name,
        draft_event: draft.event,
        draft_rules: if draft.rules.is_empty() {
            TRIGGER_EXAMPLE.to_string()
        } else {
            draft.rules
        },
        error: error.clone(),
        message,
        shell,
    };
    if error.is_some() {
        refused(render(&page))
    } else {
        render(&page)
    }
}

/// `GET /admin/triggers`.
pub async fn triggers_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Query(q): Query<DoneQuery>,
) -> Response {
    if let Some(r) = guard(&staff) {
        return r;
    }
    let msg = saved(&Shell::new(&s, &headers, &staff).t, &q);
    triggers_page_with(&s, &headers, &staff, None, msg, TriggerDraft::default()).await
}

/// A trigger's conditions and actions as the page shows them (conditions first).
#[derive(serde::Serialize)]
struct TriggerRulesOut<'a> {
    conditions: &'a [Condition],
    actions: &'a [Action],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerRules {
    conditions: Vec<Condition>,
    actions: Vec<Action>,
}

#[derive(Deserialize)]
pub struct TriggerForm {
    #[serde(default)]
    name: String,
    event: String,
    #[serde(default)]
    rules: String,
    position: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// Checks that the ids a rule names (teams, users, templates) exist in the tenant.
async fn check_refs(s: &AppState, tenant: TenantId, actions: &[Action]) -> Result<(), String> {
    for a in actions {
        let (exists, what) = match a {
            Action::AssignTeam { value } => (
                matches!(s.app.store.team(tenant, value.0).await, Ok(Some(_))),
                format!("there is no team {}", value.0),
            ),
            Action::AssignUser { value } => (
                matches!(s.app.store.user_by_id(tenant, *value).await, Ok(Some(_))),
                format!("there is no user {}", value.0),
            ),
            Action::ReplyWithTemplate { template } => (
                matches!(s.app.store.template(tenant, *template).await, Ok(Some(_))),
                format!("there is no reply template {template}"),
            ),
            _ => (true, String::new()),
        };
        if !exists {
            return Err(what);
        }
    }
    Ok(())
}

/// `POST /admin/triggers`: adds a trigger from its conditions and actions (JSON).
pub async fn triggers_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Form(f): Form<TriggerForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = guard(&staff) {
        return r;
    }
    let tenant = staff.user.tenant_id;
    let draft = TriggerDraft {
        name: f.name.clone(),
        event: f.event.clone(),
        rules: f.rules.clone(),
    };
    let wf = workflow(&s, tenant).await;
    let built = async {
        let name = name_of("trigger", &f.name)?;
        let event = Event::parse(&f.event).map_err(|e| e.to_string())?;
        let position = match f
            .position
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            None => 0,
            Some(p) => p
                .parse::<i32>()
                .ok()
                .filter(|p| (0..=100_000).contains(p))
                .ok_or("the position must be a number from 0 to 100000")?,
        };
        if f.rules.len() > 64 * 1024 {
            return Err("the conditions and actions must be under 64 KiB".to_string());
        }
        let rules: TriggerRules = serde_json::from_str(&f.rules).map_err(|e| {
            format!(
                "the conditions and actions are not valid JSON of the expected shape: {e} \
                 (write {{\"conditions\": [...], \"actions\": [...]}})"
            )
        })?;
        let trigger = Trigger {
            id: 0,
            name,
            event,
            conditions: rules.conditions,
            actions: rules.actions,
            position,
            active: true,
        };
        trigger.validate().map_err(|e| e.to_string())?;
        trigger.check_statuses(&wf).map_err(|e| e.to_string())?;
        check_refs(&s, tenant, &trigger.actions).await?;
        Ok::<_, String>(trigger)
    }
    .await;
    let trigger = match built {
        Ok(t) => t,
        Err(m) => return triggers_page_with(&s, &headers, &staff, Some(m), None, draft).await,
    };
    let Ok(json) = serde_json::to_string(&trigger) else {
        return unavailable();
    };
    match s
        .app
        .store
        .add_definition(
            tenant,
            "trigger",
            &trigger.name,
            Some(trigger.event.as_str()),
            &json,
            i64::from(trigger.position),
            s.app.now(),
        )
        .await
    {
        Ok(_) => Redirect::to("/admin/triggers?done=1").into_response(),
        Err(StoreError::Conflict(m)) => {
            triggers_page_with(&s, &headers, &staff, Some(m), None, draft).await
        }
        Err(_) => unavailable(),
    }
}

/// `POST /admin/triggers/{id}/delete`.
pub async fn trigger_delete_post(
    State(s): State<AppState>,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<DeleteForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = guard(&staff) {
        return r;
    }
    delete_definition(&s, &staff, "trigger", id, "/admin/triggers").await
}

// ---------------------------------------------------------------------------------------
// Reply templates and macros

struct MacroView {
    id: i64,
    name: String,
    actions: String,
    reply: String,
}

#[derive(Template)]
#[template(path = "admin_templates.html")]
struct TemplatesTemplate<'a> {
    shell: Shell<'a>,
    templates: Vec<concierge_store::cases::TemplateRow>,
    macros: Vec<MacroView>,
    fields: Vec<&'static str>,
    error: Option<String>,
    message: Option<String>,
}

async fn templates_page_with(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    error: Option<String>,
    message: Option<String>,
) -> Response {
    let tenant = staff.user.tenant_id;
    let shell = Shell::new(s, headers, staff);
    let loaded = async {
        let templates = s.app.store.templates(tenant).await?;
        let macros = s.app.store.definitions(tenant, "macro").await?;
        Ok::<_, StoreError>((templates, macros))
    }
    .await;
    let Ok((templates, macros)) = loaded else {
        return unavailable();
    };
    let macros = macros
        .into_iter()
        .map(|row| {
            let m = serde_json::from_str::<Macro>(&row.spec).ok();
            MacroView {
                id: row.id,
                name: row.name,
                actions: m
                    .as_ref()
                    .and_then(|m| serde_json::to_string(&m.actions).ok())
                    .unwrap_or_default(),
                reply: m.and_then(|m| m.reply_template).unwrap_or_default(),
            }
        })
        .collect();
    let page = TemplatesTemplate {
        templates,
        macros,
        fields: concierge_domain::personalize::FIELDS.to_vec(),
        error: error.clone(),
        message,
        shell,
    };
    if error.is_some() {
        refused(render(&page))
    } else {
        render(&page)
    }
}

/// `GET /admin/templates`: reply templates and macros.
pub async fn templates_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Query(q): Query<DoneQuery>,
) -> Response {
    if let Some(r) = guard(&staff) {
        return r;
    }
    let msg = saved(&Shell::new(&s, &headers, &staff).t, &q);
    templates_page_with(&s, &headers, &staff, None, msg).await
}

#[derive(Deserialize)]
pub struct TemplateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    body: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// A reply text: a valid message body whose placeholders the personalisation parser knows.
fn reply_text(body: &str) -> Result<String, String> {
    let body = case::body(body).map_err(|e| e.to_string())?;
    concierge_domain::personalize::Template::parse(&body).map_err(|e| e.to_string())?;
    Ok(body)
}

/// `POST /admin/templates`: adds a reply template.
pub async fn templates_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Form(f): Form<TemplateForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = guard(&staff) {
        return r;
    }
    let tenant = staff.user.tenant_id;
    let checked = name_of("template", &f.name).and_then(|n| Ok((n, reply_text(&f.body)?)));
    let (name, body) = match checked {
        Ok(v) => v,
        Err(m) => return templates_page_with(&s, &headers, &staff, Some(m), None).await,
    };
    match s.app.store.templates(tenant).await {
        Ok(ts) if ts.iter().any(|t| t.name == name) => {
            let m = format!("there is already a template called {name}");
            return templates_page_with(&s, &headers, &staff, Some(m), None).await;
        }
        Ok(_) => {}
        Err(_) => return unavailable(),
    }
    match s
        .app
        .store
        .add_template(tenant, &name, &body, s.app.now())
        .await
    {
        Ok(_) => Redirect::to("/admin/templates?done=1").into_response(),
        Err(StoreError::Conflict(_)) => {
            let m = format!("there is already a template called {name}");
            templates_page_with(&s, &headers, &staff, Some(m), None).await
        }
        Err(_) => unavailable(),
    }
}

#[derive(Deserialize)]
pub struct MacroForm {
    #[serde(default)]
    name: String,
    /// A JSON array of actions (may be empty when there is a reply).
    #[serde(default)]
    actions: String,
    reply: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/macros`: adds a macro (actions and an optional templated reply).
pub async fn macros_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Form(f): Form<MacroForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = guard(&staff) {
        return r;
    }
    let tenant = staff.user.tenant_id;
    let wf = workflow(&s, tenant).await;
    let built = async {
        let name = name_of("macro", &f.name)?;
        let actions: Vec<Action> = match f.actions.trim() {
            "" => Vec::new(),
            text if text.len() > 64 * 1024 => {
                return Err("the actions must be under 64 KiB".to_string());
            }
            text => serde_json::from_str(text).map_err(|e| {
                format!(
                    "the actions are not a valid JSON list of actions: {e} \
                     (e.g. [{{\"action\": \"set_status\", \"value\": \"pending\"}}])"
                )
            })?,
        };
        let reply = match f.reply.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => Some(reply_text(r)?),
            None => None,
        };
        let m = Macro {
            id: 0,
            name,
            actions,
            reply_template: reply,
        };
        m.validate().map_err(|e| e.to_string())?;
        m.check_statuses(&wf).map_err(|e| e.to_string())?;
        check_refs(&s, tenant, &m.actions).await?;
        Ok(m)
    }
    .await;
    let m = match built {
        Ok(m) => m,
        Err(e) => return templates_page_with(&s, &headers, &staff, Some(e), None).await,
    };
    let Ok(json) = serde_json::to_string(&m) else {
        return unavailable();
    };
    match s
        .app
        .store
        .add_definition(tenant, "macro", &m.name, None, &json, 0, s.app.now())
        .await
    {
        Ok(_) => Redirect::to("/admin/templates?done=1").into_response(),
        Err(StoreError::Conflict(e)) => {
            templates_page_with(&s, &headers, &staff, Some(e), None).await
        }
        Err(_) => unavailable(),
    }
}

/// `POST /admin/macros/{id}/delete`.
pub async fn macro_delete_post(
    State(s): State<AppState>,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<DeleteForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = guard(&staff) {
        return r;
    }
    delete_definition(&s, &staff, "macro", id, "/admin/templates").await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(tz: &str, mon: &str, holidays: &str) -> CalendarForm {
        CalendarForm {
            time_zone: tz.into(),
            mon: Some(mon.into()),
            tue: None,
            wed: None,
            thu: None,
            fri: Some("09:00-12:00, 13:00-18:00".into()),
            sat: None,
            sun: None,
            holidays: Some(holidays.into()),
            csrf: String::new(),
        }
    }

    #[test]
    fn calendars_are_checked_before_they_are_stored() {
        let ok = calendar_from(&cal(
            "Asia/Shanghai",
            "09:00-18:00",
            "2026-10-01\n2026-10-02",
        ));
        let spec = ok.unwrap();
        assert_eq!(spec.hours["fri"], vec!["09:00-12:00", "13:00-18:00"]);
        assert_eq!(spec.holidays.len(), 2);
        assert!(calendar_from(&cal("Mars/Olympus", "09:00-18:00", "")).is_err());
        assert!(calendar_from(&cal("UTC", "18:00-09:00", "")).is_err());
        assert!(calendar_from(&cal("UTC", "09:00-18:00", "next tuesday")).is_err());
        assert!(calendar_from(&cal("", "09:00-18:00", "")).is_err());
    }

    fn policy(first: &str, priority: &str) -> PolicyForm {
        PolicyForm {
            name: "Gold urgent".into(),
            tier: Some("Gold".into()),
            priority: Some(priority.into()),
            channel: Some(String::new()),
            first: Some(first.into()),
            next: None,
            resolution: Some("1440".into()),
            csrf: String::new(),
        }
    }

    #[test]
    fn policies_are_checked_before_they_are_stored() {
        let p = policy_from(&policy("30", "urgent")).unwrap();
        assert_eq!(p.first_response_mins, Some(30));
        assert_eq!(p.channel, None);
        assert_eq!(p.priority.as_deref(), Some("urgent"));
        assert!(policy_from(&policy("0", "urgent")).is_err());
        assert!(policy_from(&policy("abc", "urgent")).is_err());
        assert!(policy_from(&policy("30", "whenever")).is_err());
    }

    #[test]
    fn trigger_rules_reject_unknown_shapes() {
        let ok: Result<TriggerRules, _> = serde_json::from_str(TRIGGER_EXAMPLE);
        assert!(ok.is_ok());
        let bad: Result<TriggerRules, _> =
            serde_json::from_str(r#"{"conditions": [{"op": "rm -rf"}], "actions": []}"#);
        assert!(bad.is_err());
        let extra: Result<TriggerRules, _> =
            serde_json::from_str(r#"{"conditions": [], "actions": [], "eval": "x"}"#);
        assert!(extra.is_err());
    }

    #[test]
    fn reply_texts_must_name_known_fields() {
        assert!(reply_text("Dear {{customer.first_name | \"customer\"}}, done.").is_ok());
        assert!(reply_text("Dear {{customer.password}}").is_err());
        assert!(reply_text("   ").is_err());
    }
}
