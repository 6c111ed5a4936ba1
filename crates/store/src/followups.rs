//! Follow-ups, task queues and scorecard facts (issues 6 and 7): the rows behind the task
//! queues (follow-ups due, refills due soon, win-back, mine, a customer's open tasks),
//! completing a task with its outcome on the customer's timeline in one transaction, the
//! customer-level effects of `tier_changed` triggers (a customer tag, a notification without
//! a case), the customers of a tier for check-ins, and the per-case facts scorecards are
//! computed from. The rules that decide live in `concierge_domain::{followup, scorecard}`.

use crate::cases::TaskRow;
use crate::{Result, Store};
use concierge_domain::TenantId;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// Which open tasks a queue shows. Empty lists and `None`s do not filter.
#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    /// Any of these kinds.
    pub kinds: Vec<String>,
    /// Due at or before this instant.
    pub due_before: Option<i64>,
    pub assignee: Option<i64>,
    pub customer: Option<i64>,
    pub case: Option<i64>,
}

/// An open task with the names a reader needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskItem {
    #[serde(flatten)]
    pub task: TaskRow,
    pub customer_name: Option<String>,
    pub assignee_name: Option<String>,
    pub case_number: Option<i64>,
}

/// A case as scorecards need it: who, when, and whether it came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreCaseRow {
    pub case_id: i64,
    pub owner_id: Option<i64>,
    pub team_id: Option<i64>,
    pub created_at: i64,
    pub first_response_at: Option<i64>,
    pub solved_at: Option<i64>,
}

/// A target of a scored case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreTargetRow {
    pub case_id: i64,
    pub due_at: i64,
    pub met_at: Option<i64>,
    pub cancelled_at: Option<i64>,
}

/// A survey answer for a scored case: `(case_id, csat 1-5, nps 0-10)`.
pub type SurveyRow = (i64, Option<i64>, Option<i64>);

const TASK_COLS: &str = "t.id, t.kind, t.customer_id, t.case_id, t.title, t.assignee_id, \
    t.due_at, t.status, t.outcome, t.created_at, t.done_at";

fn task_row(r: &AnyRow) -> Result<TaskRow> {
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

/// The scored cases: solved, or first answered, within `[from, to)`.
const SCORED: &str = "c.tenant_id = $1 AND ((c.solved_at >= $2 AND c.solved_at < $3) \
    OR (c.first_response_at >= $2 AND c.first_response_at < $3))";

impl Store {
    /// Open tasks matching `q`, soonest due first, with customer, assignee and case names.
    pub async fn task_queue(
        &self,
        tenant: TenantId,
        q: &TaskQuery,
        limit: i64,
    ) -> Result<Vec<TaskItem>> {
        let mut sql = format!(
            "SELECT {TASK_COLS}, cu.display_name AS customer_name, u.display_name AS \
             assignee_name, c.number AS case_number FROM tasks t \
             LEFT JOIN customers cu ON cu.id = t.customer_id \
             LEFT JOIN users u ON u.id = t.assignee_id \
             LEFT JOIN cases c ON c.id = t.case_id \
             WHERE t.tenant_id = $1 AND t.status = 'open'"
        );
        let mut n = 1;
        let mut next = || {
            n += 1;
            n
        };
        if !q.kinds.is_empty() {
            let marks: Vec<String> = q.kinds.iter().map(|_| format!("${}", next())).collect();
            sql.push_str(&format!(" AND t.kind IN ({})", marks.join(", ")));
        }
        for (col, v) in [
            ("t.due_at <=", q.due_before),
            ("t.assignee_id =", q.assignee),
            ("t.customer_id =", q.customer),
            ("t.case_id =", q.case),
        ] {
            if v.is_some() {
                sql.push_str(&format!(" AND {col} ${}", next()));
            }
        }
        sql.push_str(&format!(" ORDER BY t.due_at, t.id LIMIT ${}", next()));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.0);
        for k in &q.kinds {
            query = query.bind(k.clone());
        }
        for v in [q.due_before, q.assignee, q.customer, q.case]
            .into_iter()
            .flatten()
        {
            query = query.bind(v);
        }
        let rows = query.bind(limit).fetch_all(self.db()).await?;
        rows.iter()
            .map(|r| {
                Ok(TaskItem {
                    task: task_row(r)?,
                    customer_name: r.try_get("customer_name")?,
                    assignee_name: r.try_get("assignee_name")?,
                    case_number: r.try_get("case_number")?,
                })
            })
            .collect()
    }

    /// One task of `tenant`, open or done.
    pub async fn task(&self, tenant: TenantId, id: i64) -> Result<Option<TaskRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TASK_COLS} FROM tasks t WHERE t.tenant_id = $1 AND t.id = $2"
        )))
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(self.db())
        .await?;
        row.as_ref().map(task_row).transpose()
    }

    /// Closes an open task with its outcome (JSON text) and, when it is about a customer,
    /// appends `summary` to the customer's timeline as a `task_done` event — both or
    /// neither. `Ok(None)`: no such open task in `tenant`.
    pub async fn finish_task(
        &self,
        tenant: TenantId,
        id: i64,
        actor: Option<i64>,
        outcome: &str,
        summary: &serde_json::Value,
        now: i64,
    ) -> Result<Option<TaskRow>> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE tasks SET status = 'done', outcome = $3, done_at = $4 \
             WHERE tenant_id = $1 AND id = $2 AND status = 'open'",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(outcome)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TASK_COLS} FROM tasks t WHERE t.tenant_id = $1 AND t.id = $2"
        )))
        .bind(tenant.0)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let task = task_row(&row)?;
        if let Some(customer) = task.customer_id {
            sqlx::query(
                "INSERT INTO timeline_events (tenant_id, customer_id, kind, at, actor_id, \
                 ref_kind, ref_id, summary) VALUES ($1, $2, 'task_done', $3, $4, 'task', $5, $6)",
            )
            .bind(tenant.0)
            .bind(customer)
            .bind(now)
            .bind(actor)
            .bind(id)
            .bind(summary.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(task))
    }

    /// Adds a tag to a customer (no-op when it is there). `Ok(false)`: no such customer.
    pub async fn add_customer_tag(
        &self,
        tenant: TenantId,
        customer: i64,
        tag: &str,
        now: i64,
    ) -> Result<bool> {
        let exists: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(customer)
                .fetch_one(self.db())
                .await?;
        if exists == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO customer_tags (tenant_id, customer_id, tag, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id, tag) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(customer)
        .bind(tag)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(true)
    }

    /// A staff notification about no case (a customer's tier change, say).
    pub async fn notify_user(
        &self,
        tenant: TenantId,
        user: i64,
        kind: &str,
        body: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO notifications (tenant_id, user_id, kind, case_id, body, created_at) \
             VALUES ($1, $2, $3, NULL, $4, $5)",
        )
        .bind(tenant.0)
        .bind(user)
        .bind(kind)
        .bind(body)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Customers currently in `tier`, by id.
    pub async fn customers_in_tier(&self, tenant: TenantId, tier: &str) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT customer_id FROM customer_tiers WHERE tenant_id = $1 AND tier = $2 \
             ORDER BY customer_id",
        )
        .bind(tenant.0)
        .bind(tier)
        .fetch_all(self.db())
        .await?)
    }

    /// Cases solved or first answered within `[from, to)`.
    pub async fn score_cases(
        &self,
        tenant: TenantId,
        from: i64,
        to: i64,
    ) -> Result<Vec<ScoreCaseRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT c.id, c.owner_id, c.team_id, c.created_at, c.first_response_at, \
             c.solved_at FROM cases c WHERE {SCORED} ORDER BY c.id"
        )))
        .bind(tenant.0)
        .bind(from)
        .bind(to)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ScoreCaseRow {
                    case_id: r.try_get("id")?,
                    owner_id: r.try_get("owner_id")?,
                    team_id: r.try_get("team_id")?,
                    created_at: r.try_get("created_at")?,
                    first_response_at: r.try_get("first_response_at")?,
                    solved_at: r.try_get("solved_at")?,
                })
            })
            .collect()
    }

    /// The targets of the cases [`Store::score_cases`] returns for the same window.
    pub async fn score_targets(
        &self,
        tenant: TenantId,
        from: i64,
        to: i64,
    ) -> Result<Vec<ScoreTargetRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT t.case_id, t.due_at, t.met_at, t.cancelled_at FROM case_targets t \
             JOIN cases c ON c.id = t.case_id WHERE t.tenant_id = $1 AND {SCORED}"
        )))
        .bind(tenant.0)
        .bind(from)
        .bind(to)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ScoreTargetRow {
                    case_id: r.try_get("case_id")?,
                    due_at: r.try_get("due_at")?,
                    met_at: r.try_get("met_at")?,
                    cancelled_at: r.try_get("cancelled_at")?,
                })
            })
            .collect()
    }

    /// The status moves (`detail` JSON with `from` and `to`) of the cases
    /// [`Store::score_cases`] returns for the same window, as `(case_id, detail)`.
    pub async fn score_status_moves(
        &self,
        tenant: TenantId,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT e.case_id, e.detail FROM case_events e JOIN cases c ON c.id = e.case_id \
             WHERE e.tenant_id = $1 AND e.kind = 'status' AND {SCORED}"
        )))
        .bind(tenant.0)
        .bind(from)
        .bind(to)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("case_id")?, r.try_get("detail")?)))
            .collect()
    }

    /// The satisfaction surveys sent for the scored cases of the window, one row per survey
    /// (case, CSAT score when answered, always `None`: NPS answers are per customer, see
    /// [`Store::score_nps`]); unanswered surveys count for the response rate.
    pub async fn score_surveys(
        &self,
        tenant: TenantId,
        from: i64,
        to: i64,
    ) -> Result<Vec<SurveyRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT s.case_id, s.score FROM csat_surveys s \
             JOIN cases c ON c.id = s.case_id WHERE s.tenant_id = $1 AND {SCORED} \
             ORDER BY s.case_id"
        )))
        .bind(tenant.0)
        .bind(from)
        .bind(to)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("case_id")?, r.try_get("score")?, None)))
            .collect()
    }
}
