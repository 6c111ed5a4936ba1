//! Tasks and scorecards over the API (issue 7 items 3 and 5, issue 6): the task queues
//! (follow-ups due, refills due soon, win-back, mine, all — or a case's or a customer's open
//! tasks), completing a task with its outcome (which lands on the customer's timeline), and
//! scorecards per agent or team by week or month.
//!
//! Every answer is the caller's tenant's; another tenant's task answers 404 like a missing
//! one. Scorecards: managers and administrators (`ViewReports`) see everyone; an agent may
//! ask for `by=agent` and gets only their own rows.

use crate::auth::{ApiStaff, require};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use concierge_app::followups::{TaskFilter, TaskQueue, scorecard_window};
use concierge_domain::Permission;
use concierge_domain::scorecard::{GroupBy, Period};
use concierge_store::cases::TaskRow;
use concierge_store::followups::TaskItem;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

/// A task for people.
#[derive(Serialize, ToSchema)]
pub struct TaskOut {
    pub id: i64,
    /// follow_up, check_in, replenish, winback, tier_change, call, letter, trigger ...
    pub kind: String,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    pub case_id: Option<i64>,
    pub case_number: Option<i64>,
    pub title: String,
    pub assignee_id: Option<i64>,
    pub assignee_name: Option<String>,
    /// Epoch ms.
    pub due_at: i64,
    /// open or done.
    pub status: String,
    /// When done: `{"result": "reached", "note": "..."}`.
    #[schema(value_type = Option<Object>)]
    pub outcome: Option<serde_json::Value>,
    pub done_at: Option<i64>,
}

impl From<TaskRow> for TaskOut {
    fn from(t: TaskRow) -> Self {
        TaskOut {
            id: t.id,
            kind: t.kind,
            customer_id: t.customer_id,
            customer_name: None,
            case_id: t.case_id,
            case_number: None,
            title: t.title,
            assignee_id: t.assignee_id,
            assignee_name: None,
            due_at: t.due_at,
            status: t.status,
            outcome: t
                .outcome
                .map(|o| serde_json::from_str(&o).unwrap_or(serde_json::Value::String(o))),
            done_at: t.done_at,
        }
    }
}

impl From<TaskItem> for TaskOut {
    fn from(i: TaskItem) -> Self {
        TaskOut {
            customer_name: i.customer_name,
            case_number: i.case_number,
            assignee_name: i.assignee_name,
            ..TaskOut::from(i.task)
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct TaskParams {
    /// followups_due (follow-ups and check-ins due now), due_soon (refill offers due within
    /// 7 days), winback, mine (assigned to you) or all (the default).
    pub queue: Option<String>,
    pub kind: Option<String>,
    pub case_id: Option<i64>,
    pub customer_id: Option<i64>,
}

/// Open tasks of a queue, soonest due first (at most 200).
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(TaskParams),
    responses((status = 200, body = Vec<TaskOut>), (status = 422, body = ErrorBody)))]
pub async fn list_tasks(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiQuery(p): ApiQuery<TaskParams>,
) -> Result<ApiJson<Vec<TaskOut>>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let queue = match p.queue.as_deref() {
        Some(q) => TaskQueue::parse(q)?,
        None => TaskQueue::All,
    };
    let filter = TaskFilter {
        kind: p.kind.filter(|k| !k.trim().is_empty()),
        customer: p.customer_id,
        case: p.case_id,
    };
    let list = s
        .app
        .task_queue(user.tenant_id, &user, queue, &filter)
        .await?;
    Ok(ApiJson(list.into_iter().map(TaskOut::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteIn {
    /// reached, no_answer, left_message, resolved_issue, new_case or declined.
    pub result: String,
    /// What was said or done (at most 2,000 characters).
    #[serde(default)]
    pub note: String,
}

/// Completes an open task with its outcome; the outcome is recorded on the customer's
/// timeline. A task already done answers 409.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/complete", tag = "tasks",
    params(("id" = i64, Path, description = "task id")), request_body = CompleteIn,
    responses((status = 200, body = TaskOut), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn complete_task(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<CompleteIn>,
) -> Result<ApiJson<TaskOut>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let t = s
        .app
        .complete_task(user.tenant_id, &user, id, &b.result, &b.note)
        .await?;
    Ok(ApiJson(TaskOut::from(t)))
}

#[derive(Deserialize, IntoParams)]
pub struct ScoreParams {
    /// agent (the default) or team.
    pub by: Option<String>,
    /// week (the default; Monday to Sunday) or month.
    pub period: Option<String>,
    /// First day, `YYYY-MM-DD` (default: 12 periods before `to`).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: today).
    pub to: Option<String>,
}

/// One agent's or team's figures in one period. Times are business milliseconds.
#[derive(Serialize, ToSchema)]
pub struct ScoreOut {
    /// The agent's or team's id; null: unassigned.
    pub id: Option<i64>,
    pub name: Option<String>,
    /// The period's first day, `YYYY-MM-DD`.
    pub period: String,
    pub cases_handled: u32,
    pub first_responses: u32,
    pub frt_median_ms: Option<i64>,
    pub frt_p90_ms: Option<i64>,
    pub resolution_median_ms: Option<i64>,
    pub resolution_p90_ms: Option<i64>,
    /// 0-100.
    pub targets_met_pct: Option<f64>,
    /// 0-1.
    pub reopen_rate: Option<f64>,
    /// 1-5.
    pub csat_avg: Option<f64>,
    /// 0-1.
    pub csat_response_rate: Option<f64>,
    /// −100 to 100: NPS answers given in the period by customers whose last solved case
    /// this agent or team had.
    pub nps: Option<f64>,
}

/// The whole tenant's Net Promoter Score in one period (from the periodic NPS survey).
#[derive(Serialize, ToSchema)]
pub struct NpsPeriodOut {
    /// The period's first day, `YYYY-MM-DD`.
    pub period: String,
    pub answers: u32,
    /// Answers of 9-10.
    pub promoters: u32,
    /// Answers of 0-6.
    pub detractors: u32,
    /// % promoters − % detractors, −100 to 100.
    pub nps: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct ScorecardOut {
    pub by: String,
    pub period: String,
    pub from: String,
    pub to: String,
    pub rows: Vec<ScoreOut>,
    /// The tenant's NPS per period (empty for roles that see only their own row).
    pub tenant_nps: Vec<NpsPeriodOut>,
}

/// Scorecards per agent or team by week or month: cases handled (solved in the period),
/// first-response and resolution times (median, p90; business hours of the tenant's
/// calendar), targets met %, reopen rate, CSAT and NPS.
#[utoipa::path(get, path = "/api/v1/scorecards", tag = "tasks", params(ScoreParams),
    responses((status = 200, body = ScorecardOut), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn scorecards(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiQuery(p): ApiQuery<ScoreParams>,
) -> Result<ApiJson<ScorecardOut>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let out = scorecard_for(&s, &user, &p).await?;
    Ok(ApiJson(out))
}

/// The scorecard a user may see (shared with the console page).
pub async fn scorecard_for(
    s: &AppState,
    user: &concierge_store::UserRow,
    p: &ScoreParams,
) -> Result<ScorecardOut, ApiError> {
    let by = match p.by.as_deref() {
        None => GroupBy::Agent,
        Some(b) => {
            GroupBy::parse(b).ok_or_else(|| ApiError::invalid("by must be agent or team"))?
        }
    };
    let period = match p.period.as_deref() {
        None => Period::Week,
        Some(x) => {
            Period::parse(x).ok_or_else(|| ApiError::invalid("period must be week or month"))?
        }
    };
    let everyone = user.role.can(Permission::ViewReports);
    if !everyone && by == GroupBy::Team {
        return Err(ApiError::forbidden());
    }
    let (from, to) = scorecard_window(p.from.as_deref(), p.to.as_deref(), period, s.app.now())?;
    let tenant = user.tenant_id;
    let mut rows = s.app.scorecard(tenant, by, period, from, to).await?;
    let tenant_nps = if everyone {
        s.app
            .tenant_nps(tenant, period, from, to)
            .await?
            .into_iter()
            .map(|r| NpsPeriodOut {
                period: r.period,
                answers: r.answers,
                promoters: r.promoters,
                detractors: r.detractors,
                nps: r.nps,
            })
            .collect()
    } else {
        Vec::new()
    };
    if !everyone {
        rows.retain(|r| r.group == Some(user.id.0));
    }
    let names: HashMap<i64, String> = match by {
        GroupBy::Agent => s
            .app
            .store
            .list_users(tenant)
            .await?
            .into_iter()
            .map(|u| (u.id.0, u.display_name))
            .collect(),
        GroupBy::Team => s
            .app
            .store
            .teams(tenant)
            .await?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect(),
    };
    Ok(ScorecardOut {
        by: match by {
            GroupBy::Agent => "agent",
            GroupBy::Team => "team",
        }
        .into(),
        period: match period {
            Period::Week => "week",
            Period::Month => "month",
        }
        .into(),
        from: from.to_string(),
        to: to.to_string(),
        rows: rows
            .into_iter()
            .map(|r| ScoreOut {
                id: r.group,
                name: r.group.and_then(|g| names.get(&g).cloned()),
                period: r.period,
                cases_handled: r.cases_handled,
                first_responses: r.first_responses,
                frt_median_ms: r.frt_median_ms,
                frt_p90_ms: r.frt_p90_ms,
                resolution_median_ms: r.resolution_median_ms,
                resolution_p90_ms: r.resolution_p90_ms,
                targets_met_pct: r.targets_met_pct,
                reopen_rate: r.reopen_rate,
                csat_avg: r.csat_avg,
                csat_response_rate: r.csat_response_rate,
                nps: r.nps,
            })
            .collect(),
        tenant_nps,
    })
}
