//! Console pages for work after the case (issue 7 items 3 and 5, issue 6): the task queues
//! (`/tasks`: follow-ups due, refills due soon, win-back, mine, all) where an agent completes
//! a task with its outcome, and the scorecards page (`/scorecards`) with a chart over time.
//!
//! Charts are SVG drawn on the server like the dashboard's: no script, no `style`
//! attributes; every text placed in an SVG is escaped here.

use super::cases::{forbidden, unavailable, when};
use super::{Shell, render};
use crate::api::tasks::{ScoreOut, ScoreParams, scorecard_for};
use crate::auth::ConsoleStaff;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use concierge_app::cases::CaseError;
use concierge_app::followups::{TaskFilter, TaskQueue};
use concierge_domain::Permission;
use concierge_domain::followup::TaskResult;
use concierge_store::followups::TaskItem;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// A task as the page shows it.
pub struct TaskLine {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub customer_id: Option<i64>,
    pub customer: String,
    pub case_number: Option<i64>,
    pub assignee: String,
    pub due: String,
    pub overdue: bool,
}

impl TaskLine {
    pub fn from_item(i: TaskItem, now: i64) -> TaskLine {
        TaskLine {
            id: i.task.id,
            kind: i.task.kind,
            title: i.task.title,
            customer_id: i.task.customer_id,
            customer: i.customer_name.unwrap_or_default(),
            case_number: i.case_number,
            assignee: i.assignee_name.unwrap_or_else(|| "—".into()),
            due: when(i.task.due_at),
            overdue: i.task.due_at < now,
        }
    }
}

#[derive(Template)]
#[template(path = "tasks.html")]
struct TasksPage<'a> {
    shell: Shell<'a>,
    queue: &'static str,
    queues: Vec<(&'static str, String)>,
    tasks: Vec<TaskLine>,
    results: Vec<(&'static str, String)>,
    error: Option<String>,
    done: bool,
}

#[derive(Deserialize)]
pub struct TasksQuery {
    queue: Option<String>,
    done: Option<String>,
}

fn queue_label(shell: &Shell<'_>, q: TaskQueue) -> String {
    shell
        .t
        .get(match q {
            TaskQueue::FollowupsDue => "tasks.queue_followups_due",
            TaskQueue::DueSoon => "tasks.queue_due_soon",
            TaskQueue::Winback => "tasks.queue_winback",
            TaskQueue::Mine => "tasks.queue_mine",
            TaskQueue::All => "tasks.queue_all",
        })
        .to_string()
}

/// The outcome choices, labelled.
pub fn result_options(shell: &Shell<'_>) -> Vec<(&'static str, String)> {
    TaskResult::ALL
        .iter()
        .map(|r| {
            let key = match r {
                TaskResult::Reached => "tasks.result_reached",
                TaskResult::NoAnswer => "tasks.result_no_answer",
                TaskResult::LeftMessage => "tasks.result_left_message",
                TaskResult::ResolvedIssue => "tasks.result_resolved_issue",
                TaskResult::NewCase => "tasks.result_new_case",
                TaskResult::Declined => "tasks.result_declined",
            };
            (r.as_str(), shell.t.get(key).to_string())
        })
        .collect()
}

async fn tasks_page_with(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    queue: TaskQueue,
    error: Option<String>,
    done: bool,
) -> Response {
    if !staff.user.role.can(Permission::WorkCases) {
        return forbidden("Your role cannot work tasks.");
    }
    let shell = Shell::new(s, headers, staff);
    let list = match s
        .app
        .task_queue(
            staff.user.tenant_id,
            &staff.user,
            queue,
            &TaskFilter::default(),
        )
        .await
    {
        Ok(l) => l,
        Err(_) => return unavailable(),
    };
    let now = s.app.now();
    let queues = [
        TaskQueue::FollowupsDue,
        TaskQueue::DueSoon,
        TaskQueue::Winback,
        TaskQueue::Mine,
        TaskQueue::All,
    ]
    .into_iter()
    .map(|q| (q.as_str(), queue_label(&shell, q)))
    .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = TasksPage {
        queue: queue.as_str(),
        queues,
        tasks: list
            .into_iter()
            .map(|i| TaskLine::from_item(i, now))
            .collect(),
        results: result_options(&shell),
        error,
        done,
        shell,
    };
    (status, render(&page)).into_response()
}

/// `GET /tasks?queue=followups_due|due_soon|winback|mine|all`.
pub async fn tasks_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Query(q): Query<TasksQuery>,
) -> Response {
    let queue = q
        .queue
        .as_deref()
        .and_then(|q| TaskQueue::parse(q).ok())
        .unwrap_or(TaskQueue::FollowupsDue);
    tasks_page_with(&s, &headers, &staff, queue, None, q.done.is_some()).await
}

#[derive(Deserialize)]
pub struct CompleteForm {
    result: String,
    #[serde(default)]
    note: String,
    /// The queue to return to.
    queue: Option<String>,
    /// Return to this customer's page instead.
    customer: Option<i64>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /tasks/{id}/complete`: records the outcome and goes back to the queue.
pub async fn task_complete_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<CompleteForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if !staff.user.role.can(Permission::WorkCases) {
        return forbidden("Your role cannot work tasks.");
    }
    let queue = f
        .queue
        .as_deref()
        .and_then(|q| TaskQueue::parse(q).ok())
        .unwrap_or(TaskQueue::FollowupsDue);
    match s
        .app
        .complete_task(staff.user.tenant_id, &staff.user, id, &f.result, &f.note)
        .await
    {
        Ok(_) => match f.customer {
            Some(c) => Redirect::to(&format!("/customers/{c}#tasks")).into_response(),
            None => {
                Redirect::to(&format!("/tasks?queue={}&done=1", queue.as_str())).into_response()
            }
        },
        Err(CaseError::Store(_)) => unavailable(),
        Err(CaseError::NotFound(_)) => (StatusCode::NOT_FOUND, "No such task.").into_response(),
        Err(e) => tasks_page_with(&s, &headers, &staff, queue, Some(e.to_string()), false).await,
    }
}

const COLOURS: [&str; 6] = [
    "#2553c7", "#b54708", "#067647", "#c11574", "#5b6475", "#7a5af8",
];
const MUTED: &str = "#5b6475";
const LINE: &str = "#dfe3ea";

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn f1(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "0".into()
    }
}

/// One line per series over the periods (x: periods in order; y: the value, `None` = gap).
/// Up to six series; the rest are left out of the chart (the table has them all).
pub fn lines_svg(
    testid: &str,
    periods: &[String],
    series: &[(String, Vec<Option<f64>>)],
) -> String {
    let (w, h, l, b, t, r) = (640.0, 260.0, 44.0, 54.0, 12.0, 12.0);
    let pw = w - l - r;
    let ph = h - t - b;
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten())
        .fold(0.0_f64, |a, b| if b.is_finite() { a.max(*b) } else { a })
        .max(1.0);
    let n = periods.len().max(1);
    let x = |i: usize| {
        if n == 1 {
            l + pw / 2.0
        } else {
            l + pw * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| t + ph * (1.0 - (v / max).clamp(0.0, 1.0));
    let mut svg = format!(
        "<svg data-testid=\"{testid}\" class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{l}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{LINE}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\" fill=\"{MUTED}\">{}</text>",
            f1(y(v)),
            f1(w - r),
            f1(y(v)),
            f1(l - 4.0),
            f1(y(v) + 3.0),
            f1(v)
        );
    }
    for (i, p) in periods.iter().enumerate() {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"9\" text-anchor=\"middle\" fill=\"{MUTED}\">{}</text>",
            f1(x(i)),
            f1(t + ph + 13.0),
            esc(p.get(5..).unwrap_or(p))
        );
    }
    for (k, (name, values)) in series.iter().take(COLOURS.len()).enumerate() {
        let colour = COLOURS[k];
        let mut d = String::new();
        let mut pen_up = true;
        for (i, v) in values.iter().enumerate() {
            match v.filter(|v| v.is_finite()) {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{} {} ",
                        if pen_up { "M" } else { "L" },
                        f1(x(i)),
                        f1(y(v))
                    );
                    let _ = write!(
                        svg,
                        "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{colour}\"><title>{} {}: {}</title></circle>",
                        f1(x(i)),
                        f1(y(v)),
                        esc(name),
                        esc(periods.get(i).map(String::as_str).unwrap_or("")),
                        f1(v)
                    );
                    pen_up = false;
                }
                None => pen_up = true,
            }
        }
        if !d.is_empty() {
            let _ = write!(
                svg,
                "<path class=\"series\" data-series=\"{}\" d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                esc(name),
                d.trim_end()
            );
        }
        let lx = l + (k as f64 % 3.0) * 200.0;
        let ly = h - 26.0 + (k / 3) as f64 * 13.0;
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"3\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#1d2330\">{}</text>",
            f1(lx),
            f1(ly + 3.0),
            f1(lx + 14.0),
            f1(ly + 7.0),
            esc(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Business milliseconds as hours with one decimal.
fn hours(ms: Option<i64>) -> String {
    ms.map(|m| format!("{:.1}", m as f64 / 3_600_000.0))
        .unwrap_or_else(|| "–".into())
}

fn pct(x: Option<f64>, scale: f64) -> String {
    x.filter(|v| v.is_finite())
        .map(|v| format!("{:.0}%", v * scale))
        .unwrap_or_else(|| "–".into())
}

fn num(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map(|v| format!("{v:.1}"))
        .unwrap_or_else(|| "–".into())
}

/// A scorecard row as the page shows it.
struct ScoreLine {
    name: String,
    period: String,
    handled: u32,
    frt_median: String,
    frt_p90: String,
    res_median: String,
    res_p90: String,
    targets: String,
    reopen: String,
    csat: String,
    csat_rate: String,
    nps: String,
}

#[derive(Template)]
#[template(path = "scorecards.html")]
struct ScorecardsPage<'a> {
    shell: Shell<'a>,
    by: String,
    period: String,
    from: String,
    to: String,
    rows: Vec<ScoreLine>,
    /// The tenant's NPS per period: (period, answers, NPS).
    tenant_nps: Vec<(String, u32, String)>,
    handled_chart: String,
    resolution_chart: String,
    error: Option<String>,
    /// The NPS survey period in days (0 = off), for administrators only.
    nps_every: Option<i64>,
    /// Why the NPS setting was not saved, or that it was.
    nps_error: Option<String>,
    nps_saved: bool,
}

/// `GET /scorecards?by=agent|team&period=week|month&from=&to=`: managers see everyone;
/// agents see their own row.
pub async fn scorecards_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Query(p): Query<ScoreParams>,
    Query(flag): Query<NpsFlag>,
) -> Response {
    let saved = flag.nps.as_deref() == Some("saved");
    scorecards(&s, &headers, &staff, p, None, saved).await
}

/// `?nps=saved` after the NPS setting was stored.
#[derive(Deserialize)]
pub struct NpsFlag {
    nps: Option<String>,
}

#[derive(Deserialize)]
pub struct NpsForm {
    #[serde(default)]
    every_days: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /scorecards/nps`: administrators set how often customers get the NPS question.
pub async fn nps_settings_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Form(f): Form<NpsForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if !staff.user.role.can(Permission::ManageSettings) {
        return forbidden("Only administrators can change the NPS survey.");
    }
    let result = match f.every_days.trim().parse::<i64>() {
        Ok(days) => s
            .app
            .set_nps_every_days(staff.user.tenant_id, days)
            .await
            .map_err(|e| match e {
                concierge_app::portal::PortalError::Store(_) => None,
                other => Some(other.to_string()),
            }),
        Err(_) => Err(Some(format!(
            "{} is not a number of days: use 0 (off) to 365",
            concierge_domain::customer::preview(f.every_days.trim(), 20)
        ))),
    };
    match result {
        Ok(()) => Redirect::to("/scorecards?nps=saved").into_response(),
        Err(None) => unavailable(),
        Err(Some(m)) => {
            let params = ScoreParams {
                by: None,
                period: None,
                from: None,
                to: None,
            };
            let mut r = scorecards(&s, &headers, &staff, params, Some(m), false).await;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            r
        }
    }
}

async fn scorecards(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    p: ScoreParams,
    nps_error: Option<String>,
    nps_saved: bool,
) -> Response {
    if !staff.user.role.can(Permission::WorkCases) {
        return forbidden("Your role cannot see scorecards.");
    }
    let shell = Shell::new(s, headers, staff);
    let mut p = p;
    if !staff.user.role.can(Permission::ViewReports) {
        p.by = Some("agent".into());
    }
    let nps_every = if staff.user.role.can(Permission::ManageSettings) {
        match s.app.nps_policy(staff.user.tenant_id).await {
            Ok(policy) => Some(policy.map_or(0, |p| p.every_days)),
            Err(concierge_app::portal::PortalError::Store(_)) => return unavailable(),
            Err(_) => Some(0),
        }
    } else {
        None
    };
    let (out, error) = match scorecard_for(s, &staff.user, &p).await {
        Ok(o) => (Some(o), None),
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => return unavailable(),
        Err(e) => (None, Some(e.message)),
    };
    let unassigned = shell.t.get("scorecard.unassigned").to_string();
    let name_of = |r: &ScoreOut| {
        r.name
            .clone()
            .or_else(|| r.id.map(|i| format!("#{i}")))
            .unwrap_or_else(|| unassigned.clone())
    };
    let rows_out = out.as_ref().map(|o| &o.rows[..]).unwrap_or(&[]);
    let periods: Vec<String> = rows_out
        .iter()
        .map(|r| r.period.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut by_group: BTreeMap<String, BTreeMap<String, &ScoreOut>> = BTreeMap::new();
    for r in rows_out {
        by_group
            .entry(name_of(r))
            .or_default()
            .insert(r.period.clone(), r);
    }
    let series = |f: &dyn Fn(&ScoreOut) -> Option<f64>| -> Vec<(String, Vec<Option<f64>>)> {
        by_group
            .iter()
            .map(|(name, m)| {
                (
                    name.clone(),
                    periods
                        .iter()
                        .map(|p| m.get(p).and_then(|r| f(r)))
                        .collect(),
                )
            })
            .collect()
    };
    let handled_chart = lines_svg(
        "scorecard-handled",
        &periods,
        &series(&|r| Some(f64::from(r.cases_handled))),
    );
    let resolution_chart = lines_svg(
        "scorecard-resolution",
        &periods,
        &series(&|r| r.resolution_median_ms.map(|m| m as f64 / 3_600_000.0)),
    );
    let rows = rows_out
        .iter()
        .map(|r| ScoreLine {
            name: name_of(r),
            period: r.period.clone(),
            handled: r.cases_handled,
            frt_median: hours(r.frt_median_ms),
            frt_p90: hours(r.frt_p90_ms),
            res_median: hours(r.resolution_median_ms),
            res_p90: hours(r.resolution_p90_ms),
            targets: pct(r.targets_met_pct, 1.0),
            reopen: pct(r.reopen_rate, 100.0),
            csat: num(r.csat_avg),
            csat_rate: pct(r.csat_response_rate, 100.0),
            nps: num(r.nps),
        })
        .collect();
    let page = ScorecardsPage {
        by: out
            .as_ref()
            .map(|o| o.by.clone())
            .unwrap_or_else(|| "agent".into()),
        period: out
            .as_ref()
            .map(|o| o.period.clone())
            .unwrap_or_else(|| "week".into()),
        from: out.as_ref().map(|o| o.from.clone()).unwrap_or_default(),
        to: out.as_ref().map(|o| o.to.clone()).unwrap_or_default(),
        rows,
        tenant_nps: out
            .as_ref()
            .map(|o| {
                o.tenant_nps
                    .iter()
                    .map(|r| (r.period.clone(), r.answers, num(r.nps)))
                    .collect()
            })
            .unwrap_or_default(),
        handled_chart,
        resolution_chart,
        error,
        nps_every,
        nps_error,
        nps_saved,
        shell,
    };
    render(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_escapes_names_and_leaves_gaps() {
        let svg = lines_svg(
            "x",
            &[
                "2026-11-02".into(),
                "2026-11-09".into(),
                "2026-11-16".into(),
            ],
            &[("<b>Ann</b>".into(), vec![Some(2.0), None, Some(f64::NAN)])],
        );
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("&lt;b&gt;Ann"));
        assert!(!svg.contains("NaN") && !svg.contains("style="));
        // One point drawn: the gap and the non-finite value are skipped.
        assert_eq!(svg.matches("<circle").count(), 1);
    }
}
