//! The durable job queue and recurring schedules, shared by every node on one database.
//!
//! A job is claimed by one node at a time under a lease (`locked_until`): on PostgreSQL with
//! `FOR UPDATE SKIP LOCKED`, on SQLite by the single writer lock. A node that dies mid-job
//! loses its lease and another node picks the job up. Completion is recorded only by the
//! node holding the lease. A recurring schedule fires when a node wins a compare-and-swap on
//! its `next_run_at`, and each firing enqueues one job with a unique key, so a slot can never
//! run twice even if two nodes race.

use crate::{Backend, Result, Store};
use concierge_domain::{JobId, TenantId};
use sqlx::Row;

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub tenant_id: Option<TenantId>,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
    pub max_attempts: i64,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    /// Failed; retried at `retry_at` unless attempts are exhausted.
    Failed {
        error: String,
        retry_at: i64,
    },
}

impl Store {
    /// Enqueues a job. With a `unique_key`, a second enqueue of the same key is ignored and
    /// returns `None`.
    pub async fn enqueue_job(
        &self,
        tenant: Option<TenantId>,
        kind: &str,
        payload: &str,
        run_at: i64,
        unique_key: Option<&str>,
        now: i64,
    ) -> Result<Option<JobId>> {
        let row = sqlx::query(
            "INSERT INTO jobs (tenant_id, kind, payload, unique_key, status, run_at, created_at) \
             VALUES ($1, $2, $3, $4, 'queued', $5, $6) ON CONFLICT (unique_key) DO NOTHING \
             RETURNING id",
        )
        .bind(tenant.map(|t| t.0))
        .bind(kind)
        .bind(payload)
        .bind(unique_key)
        .bind(run_at)
        .bind(now)
        .fetch_optional(self.db())
        .await?;
        Ok(match row {
            Some(r) => Some(JobId(r.try_get("id")?)),
            None => None,
        })
    }

    /// Claims the next due job for `node` with a lease of `lease_ms`, recording the run.
    pub async fn claim_job(&self, node: &str, now: i64, lease_ms: i64) -> Result<Option<Job>> {
        let sql = match self.backend() {
            Backend::Postgres => {
                "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, \
                 attempts = attempts + 1 WHERE id = (SELECT id FROM jobs WHERE \
                 (status = 'queued' OR (status = 'running' AND locked_until < $3)) \
                 AND run_at <= $3 ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, tenant_id, kind, payload, attempts, max_attempts"
            }
            Backend::Sqlite => {
                "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, \
                 attempts = attempts + 1 WHERE id = (SELECT id FROM jobs WHERE \
                 (status = 'queued' OR (status = 'running' AND locked_until < $3)) \
                 AND run_at <= $3 ORDER BY run_at, id LIMIT 1) \
                 RETURNING id, tenant_id, kind, payload, attempts, max_attempts"
            }
        };
        let mut tx = self.begin_pool_tx().await?;
        let row = sqlx::query(sql)
            .bind(node)
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(r) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let job = Job {
            id: JobId(r.try_get("id")?),
            tenant_id: r.try_get::<Option<i64>, _>("tenant_id")?.map(TenantId),
            kind: r.try_get("kind")?,
            payload: r.try_get("payload")?,
            attempts: r.try_get("attempts")?,
            max_attempts: r.try_get("max_attempts")?,
        };
        sqlx::query("INSERT INTO job_runs (job_id, node, started_at) VALUES ($1, $2, $3)")
            .bind(job.id.0)
            .bind(node)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    /// Records the end of a job run. Only the lease holder can finish a job; returns false if
    /// the lease was lost (another node took over).
    pub async fn finish_job(
        &self,
        id: JobId,
        node: &str,
        outcome: &JobOutcome,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_pool_tx().await?;
        let n = match outcome {
            JobOutcome::Done => sqlx::query(
                "UPDATE jobs SET status = 'done', finished_at = $1, locked_by = NULL, \
                     locked_until = NULL WHERE id = $2 AND locked_by = $3 AND status = 'running'",
            )
            .bind(now)
            .bind(id.0)
            .bind(node)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            JobOutcome::Failed { error, retry_at } => sqlx::query(
                "UPDATE jobs SET status = CASE WHEN attempts >= max_attempts THEN 'failed' \
                     ELSE 'queued' END, run_at = $1, last_error = $2, locked_by = NULL, \
                     locked_until = NULL, finished_at = CASE WHEN attempts >= max_attempts \
                     THEN $3 ELSE NULL END WHERE id = $4 AND locked_by = $5 AND status = 'running'",
            )
            .bind(retry_at)
            .bind(error)
            .bind(now)
            .bind(id.0)
            .bind(node)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        };
        let label = match outcome {
            JobOutcome::Done => "done".to_string(),
            JobOutcome::Failed { error, .. } => format!("failed: {error}"),
        };
        sqlx::query(
            "UPDATE job_runs SET finished_at = $1, outcome = $2 WHERE job_id = $3 AND node = $4 \
             AND finished_at IS NULL",
        )
        .bind(now)
        .bind(label)
        .bind(id.0)
        .bind(node)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The status of a job (`queued`, `running`, `done`, `failed`).
    pub async fn job_status(&self, id: JobId) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
            .bind(id.0)
            .fetch_optional(self.db())
            .await?)
    }

    /// Nodes that ran a job, one entry per run.
    pub async fn job_runs(&self, id: JobId) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT node FROM job_runs WHERE job_id = $1 ORDER BY id")
                .bind(id.0)
                .fetch_all(self.db())
                .await?,
        )
    }

    /// Registers a recurring schedule if it does not exist yet.
    pub async fn ensure_schedule(
        &self,
        name: &str,
        interval_ms: i64,
        first_run: i64,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO schedules (name, interval_ms, next_run_at, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(interval_ms)
        .bind(first_run)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Schedules due at `now`: `(name, slot)` pairs this node won. Each slot is won by one
    /// node only (compare-and-swap on `next_run_at`).
    pub async fn claim_due_schedules(&self, node: &str, now: i64) -> Result<Vec<(String, i64)>> {
        let due = sqlx::query(
            "SELECT name, interval_ms, next_run_at FROM schedules WHERE next_run_at <= $1",
        )
        .bind(now)
        .fetch_all(self.db())
        .await?;
        let mut won = Vec::new();
        for r in due {
            let name: String = r.try_get("name")?;
            let interval: i64 = r.try_get("interval_ms")?;
            let slot: i64 = r.try_get("next_run_at")?;
            let interval = interval.max(1000);
            // Skip missed slots instead of firing a burst after downtime.
            let mut next = slot + interval;
            if next <= now {
                next = now + interval - ((now - slot) % interval);
            }
            let n = sqlx::query(
                "UPDATE schedules SET next_run_at = $1, last_run_by = $2, updated_at = $3 \
                 WHERE name = $4 AND next_run_at = $5",
            )
            .bind(next)
            .bind(node)
            .bind(now)
            .bind(&name)
            .bind(slot)
            .execute(self.db())
            .await?
            .rows_affected();
            if n == 1 {
                won.push((name, slot));
            }
        }
        Ok(won)
    }
}
