//! The customer portal's rows (issue 7): which cases a signed-in customer may see (their own,
//! and a household head's view of the members who share theirs), the notices that tell a
//! customer their case changed step (fed from the customer-visible case events, delivered
//! by a job), and satisfaction surveys (CSAT) with single-use, hashed link tokens.
//!
//! Lookups by token hash are the only untenanted reads here; they return the tenant.

use crate::cases::{CASE_SELECT, CaseRow, case_from};
use crate::{Result, Store};
use concierge_domain::{CaseId, CustomerId, TenantId};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// The preference key by which a household member lets the household head see their cases
/// in the portal (value `yes`).
pub const SHARE_PREF: &str = "portal.share_household";

/// The preference key by which a customer says no (`no`) to satisfaction surveys.
pub const SURVEY_PREF_KEY: &str = "portal.surveys";

/// How many events before the feed's cursor are looked at again for late commits.
pub const LOOK_BACK_IDS: i64 = 1000;

/// A customer-visible case event not yet looked at for notices.
#[derive(Debug, Clone, PartialEq)]
pub struct VisibleEvent {
    pub id: i64,
    pub tenant_id: TenantId,
    pub case_id: i64,
    pub customer_id: i64,
    pub kind: String,
    pub actor_kind: String,
    pub detail: serde_json::Value,
    pub at: i64,
}

/// A notice to tell a customer about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoticeRow {
    pub id: i64,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub customer_id: i64,
    pub case_id: i64,
    pub event_id: i64,
    pub step: String,
    pub detail: serde_json::Value,
    pub state: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// A satisfaction survey of one case. `score`/`comment`/`answered_at` are set once answered.
/// Scorecards read `agent_id` (the owner when the case was solved), `team_id`, `score`
/// (1-5) and `answered_at`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurveyRow {
    pub id: i64,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub case_id: i64,
    pub customer_id: i64,
    pub agent_id: Option<i64>,
    pub team_id: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub reminded_at: Option<i64>,
    pub score: Option<i64>,
    pub comment: Option<String>,
    pub answered_at: Option<i64>,
    pub via: Option<String>,
}

/// A new survey's fields.
#[derive(Debug, Clone)]
pub struct NewSurvey {
    pub case_id: i64,
    pub customer_id: i64,
    pub agent_id: Option<i64>,
    pub team_id: Option<i64>,
    pub expires_at: i64,
}

const NOTICE_COLS: &str = "id, tenant_id, customer_id, case_id, event_id, step, detail, state, \
    attempts, error, created_at, sent_at";
const SURVEY_COLS: &str = "id, tenant_id, case_id, customer_id, agent_id, team_id, created_at, \
    expires_at, reminded_at, score, comment, answered_at, via";

fn notice_from(r: &AnyRow) -> Result<NoticeRow> {
    Ok(NoticeRow {
        id: r.try_get("id")?,
        tenant_id: TenantId(r.try_get("tenant_id")?),
        customer_id: r.try_get("customer_id")?,
        case_id: r.try_get("case_id")?,
        event_id: r.try_get("event_id")?,
        step: r.try_get("step")?,
        detail: serde_json::from_str(&r.try_get::<String, _>("detail")?)
            .unwrap_or_else(|_| serde_json::json!({})),
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
    })
}

fn survey_from(r: &AnyRow) -> Result<SurveyRow> {
    Ok(SurveyRow {
        id: r.try_get("id")?,
        tenant_id: TenantId(r.try_get("tenant_id")?),
        case_id: r.try_get("case_id")?,
        customer_id: r.try_get("customer_id")?,
        agent_id: r.try_get("agent_id")?,
        team_id: r.try_get("team_id")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        reminded_at: r.try_get("reminded_at")?,
        score: r.try_get("score")?,
        comment: r.try_get("comment")?,
        answered_at: r.try_get("answered_at")?,
        via: r.try_get("via")?,
    })
}

/// The two mail queues with the same delivery columns (`state`, `next_attempt_at`,
/// `attempts`, `error`, `sent_at`): notices of case steps and NPS survey mails.
#[derive(Debug, Clone, Copy)]
enum MailQueue {
    Notices,
    Nps,
}

impl MailQueue {
    fn table(self) -> &'static str {
        match self {
            MailQueue::Notices => "customer_notices",
            MailQueue::Nps => "nps_surveys",
        }
    }
}

impl Store {
    /// The customers whose cases `customer` may see besides their own: members of a household
    /// that `customer` heads who have allowed it (preference [`SHARE_PREF`] = `yes`).
    pub async fn household_sharers(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT m.customer_id FROM household_members h \
             JOIN household_members m ON m.household_id = h.household_id \
             AND m.tenant_id = h.tenant_id \
             JOIN customer_preferences p ON p.tenant_id = m.tenant_id \
             AND p.customer_id = m.customer_id AND p.pref_key = $3 AND p.active = 1 \
             AND p.value = 'yes' \
             WHERE h.tenant_id = $1 AND h.customer_id = $2 AND h.role = 'head' \
             AND m.customer_id <> $2 ORDER BY m.customer_id",
        )
        .bind(tenant.0)
        .bind(customer.0)
        .bind(SHARE_PREF)
        .fetch_all(self.db())
        .await?)
    }

    /// The cases of these customers, most recently updated first (at most `limit`).
    pub async fn cases_of_customers(
        &self,
        tenant: TenantId,
        customers: &[i64],
        limit: i64,
    ) -> Result<Vec<CaseRow>> {
        if customers.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (0..customers.len())
            .map(|i| format!("${}", i + 3))
            .collect();
        let sql = format!(
            "{CASE_SELECT} WHERE c.tenant_id = $1 AND c.customer_id IN ({}) \
             ORDER BY c.updated_at DESC, c.id DESC LIMIT $2",
            marks.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .bind(limit);
        for c in customers {
            q = q.bind(*c);
        }
        q.fetch_all(self.db())
            .await?
            .iter()
            .map(case_from)
            .collect()
    }

    /// Where the feed `name` has read up to (0 when it never ran).
    pub async fn feed_cursor(&self, name: &str) -> Result<i64> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT value FROM feed_cursors WHERE name = $1")
                .bind(name)
                .fetch_optional(self.db())
                .await?
                .unwrap_or(0),
        )
    }

    /// Moves the feed `name` forward to `value` (never back).
    pub async fn set_feed_cursor(&self, name: &str, value: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO feed_cursors (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value \
             WHERE feed_cursors.value < excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Customer-visible case events of every tenant: the next ones after event `after` (at
    /// most `limit`, oldest first), and again the last [`LOOK_BACK_IDS`] before it that
    /// happened at or after `since` and have no notice yet (on PostgreSQL an event may
    /// become visible after a later one). Both reads are ranges of the primary key.
    pub async fn visible_events_after(
        &self,
        after: i64,
        since: i64,
        limit: i64,
    ) -> Result<Vec<VisibleEvent>> {
        const COLS: &str = "SELECT e.id, e.tenant_id, e.case_id, c.customer_id, e.kind, \
            e.actor_kind, e.detail, e.at FROM case_events e JOIN cases c ON c.id = e.case_id \
            AND c.tenant_id = e.tenant_id WHERE e.visibility = 'customer'";
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{COLS} AND e.id > $1 AND e.id <= $2 AND e.at >= $3 AND NOT EXISTS \
             (SELECT 1 FROM customer_notices n WHERE n.event_id = e.id) ORDER BY e.id"
        )))
        .bind((after - LOOK_BACK_IDS).max(0))
        .bind(after)
        .bind(since)
        .fetch_all(self.db())
        .await?;
        rows.extend(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{COLS} AND e.id > $1 ORDER BY e.id LIMIT $2"
            )))
            .bind(after)
            .bind(limit)
            .fetch_all(self.db())
            .await?,
        );
        rows.iter()
            .map(|r| {
                Ok(VisibleEvent {
                    id: r.try_get("id")?,
                    tenant_id: TenantId(r.try_get("tenant_id")?),
                    case_id: r.try_get("case_id")?,
                    customer_id: r.try_get("customer_id")?,
                    kind: r.try_get("kind")?,
                    actor_kind: r.try_get("actor_kind")?,
                    detail: serde_json::from_str(&r.try_get::<String, _>("detail")?)
                        .unwrap_or_else(|_| serde_json::json!({})),
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// Queues a notice for an event; `false` when that event already has one.
    pub async fn queue_notice(
        &self,
        e: &VisibleEvent,
        step: &str,
        detail: &serde_json::Value,
        now: i64,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "INSERT INTO customer_notices (tenant_id, customer_id, case_id, event_id, step, \
             detail, state, created_at, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $7) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(e.tenant_id.0)
        .bind(e.customer_id)
        .bind(e.case_id)
        .bind(e.id)
        .bind(step)
        .bind(detail.to_string())
        .bind(now)
        .execute(self.db())
        .await?
        .rows_affected()
            > 0)
    }

    /// Queued notices due for delivery, oldest first.
    pub async fn due_notices(&self, now: i64, limit: i64) -> Result<Vec<NoticeRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {NOTICE_COLS} FROM customer_notices WHERE state = 'queued' \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(self.db())
        .await?
        .iter()
        .map(notice_from)
        .collect()
    }

    /// Claims a due notice for one delivery attempt until `until`; `false` when another node
    /// claimed it first.
    pub async fn claim_notice(&self, id: i64, now: i64, until: i64) -> Result<bool> {
        self.claim_queued(MailQueue::Notices, id, now, until).await
    }

    /// Records how a delivery attempt went: `sent`, `failed`, or `queued` again at `retry_at`.
    pub async fn finish_notice(
        &self,
        id: i64,
        state: &str,
        error: Option<&str>,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        self.finish_queued(MailQueue::Notices, id, state, error, retry_at, now)
            .await
    }

    /// The notices of a case, oldest first.
    pub async fn case_notices(&self, tenant: TenantId, case: CaseId) -> Result<Vec<NoticeRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {NOTICE_COLS} FROM customer_notices WHERE tenant_id = $1 AND case_id = $2 \
             ORDER BY id"
        )))
        .bind(tenant.0)
        .bind(case.0)
        .fetch_all(self.db())
        .await?
        .iter()
        .map(notice_from)
        .collect()
    }

    /// The survey of a case, creating it (unanswered, no link yet) if there is none.
    pub async fn ensure_survey(
        &self,
        tenant: TenantId,
        s: &NewSurvey,
        now: i64,
    ) -> Result<SurveyRow> {
        sqlx::query(
            "INSERT INTO csat_surveys (tenant_id, case_id, customer_id, agent_id, team_id, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, case_id) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(s.case_id)
        .bind(s.customer_id)
        .bind(s.agent_id)
        .bind(s.team_id)
        .bind(now)
        .bind(s.expires_at)
        .execute(self.db())
        .await?;
        self.survey_for_case(tenant, CaseId(s.case_id))
            .await?
            .ok_or_else(|| crate::StoreError::Other("the new survey vanished".into()))
    }

    pub async fn survey_for_case(
        &self,
        tenant: TenantId,
        case: CaseId,
    ) -> Result<Option<SurveyRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SURVEY_COLS} FROM csat_surveys WHERE tenant_id = $1 AND case_id = $2"
        )))
        .bind(tenant.0)
        .bind(case.0)
        .fetch_optional(self.db())
        .await?
        .as_ref()
        .map(survey_from)
        .transpose()
    }

    /// Gives an unanswered survey a new link (the hash of its token); an older link stops
    /// working. `false` when the survey was answered meanwhile.
    pub async fn set_survey_token(&self, tenant: TenantId, id: i64, hash: &str) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE csat_surveys SET token_hash = $3 WHERE tenant_id = $1 AND id = $2 \
             AND answered_at IS NULL",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(hash)
        .execute(self.db())
        .await?
        .rows_affected()
            > 0)
    }

    /// Gives an unanswered survey the reminder's own link (the hash of its token) beside the
    /// first one, which keeps working. `false` when the survey was answered meanwhile.
    pub async fn set_survey_reminder_token(
        &self,
        tenant: TenantId,
        id: i64,
        hash: &str,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE csat_surveys SET reminder_token_hash = $3 WHERE tenant_id = $1 AND id = $2 \
             AND answered_at IS NULL",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(hash)
        .execute(self.db())
        .await?
        .rows_affected()
            > 0)
    }

    /// The survey a link token's hash belongs to, by its first link or its reminder's (any
    /// tenant; the row names it).
    pub async fn survey_by_token_hash(&self, hash: &str) -> Result<Option<SurveyRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SURVEY_COLS} FROM csat_surveys WHERE token_hash = $1 \
             UNION ALL SELECT {SURVEY_COLS} FROM csat_surveys WHERE reminder_token_hash = $1"
        )))
        .bind(hash)
        .fetch_optional(self.db())
        .await?
        .as_ref()
        .map(survey_from)
        .transpose()
    }

    /// Records the answer once: `false` when it was answered already. The link dies with it.
    pub async fn answer_survey(
        &self,
        tenant: TenantId,
        id: i64,
        score: i64,
        comment: Option<&str>,
        via: &str,
        now: i64,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE csat_surveys SET score = $3, comment = $4, via = $5, answered_at = $6, \
             token_hash = NULL, reminder_token_hash = NULL WHERE tenant_id = $1 AND id = $2 AND answered_at IS NULL",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(score)
        .bind(comment)
        .bind(via)
        .bind(now)
        .execute(self.db())
        .await?
        .rows_affected()
            > 0)
    }

    /// Unanswered surveys whose link went out before `before`, not yet reminded and not
    /// expired at `now` (every tenant), oldest first.
    pub async fn surveys_to_remind(
        &self,
        before: i64,
        now: i64,
        limit: i64,
    ) -> Result<Vec<SurveyRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SURVEY_COLS} FROM csat_surveys WHERE answered_at IS NULL \
             AND reminded_at IS NULL AND token_hash IS NOT NULL AND created_at < $1 \
             AND expires_at > $2 ORDER BY created_at, id LIMIT $3"
        )))
        .bind(before)
        .bind(now)
        .bind(limit)
        .fetch_all(self.db())
        .await?
        .iter()
        .map(survey_from)
        .collect()
    }

    /// Marks a survey reminded; `false` when it was (by another node) already.
    pub async fn mark_survey_reminded(&self, tenant: TenantId, id: i64, now: i64) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE csat_surveys SET reminded_at = $3 WHERE tenant_id = $1 AND id = $2 \
             AND reminded_at IS NULL AND answered_at IS NULL",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(now)
        .execute(self.db())
        .await?
        .rows_affected()
            > 0)
    }
}

impl Store {
    /// Creates a household with its members (`(customer id, role)`, role `head` or
    /// `member`); returns its id.
    pub async fn create_household(
        &self,
        tenant: TenantId,
        name: &str,
        members: &[(i64, &str)],
        now: i64,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO households (tenant_id, name, created_at) VALUES ($1, $2, $3) \
             RETURNING id",
        )
        .bind(tenant.0)
        .bind(name)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for (customer, role) in members {
            sqlx::query(
                "INSERT INTO household_members (tenant_id, household_id, customer_id, role) \
                 SELECT $1, $2, id, $4 FROM customers WHERE tenant_id = $1 AND id = $3",
            )
            .bind(tenant.0)
            .bind(id)
            .bind(*customer)
            .bind(*role)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }
}

// ---------------------------------------------------------------- sign-in link requests

impl Store {
    /// Records a request for a sign-in link from the portal (known address or not).
    pub async fn record_link_request(
        &self,
        tenant: TenantId,
        email: &str,
        ip: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO portal_link_requests (tenant_id, email, ip, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant.0)
        .bind(email)
        .bind(ip)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Link requests since `since`: `(for this address in this tenant, from this client
    /// address in any tenant)`.
    pub async fn recent_link_requests(
        &self,
        tenant: TenantId,
        email: &str,
        ip: &str,
        since: i64,
    ) -> Result<(i64, i64)> {
        let by_email: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM portal_link_requests WHERE tenant_id = $1 AND email = $2 \
             AND at > $3",
        )
        .bind(tenant.0)
        .bind(email)
        .bind(since)
        .fetch_one(self.db())
        .await?;
        let by_ip: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM portal_link_requests WHERE ip = $1 AND at > $2",
        )
        .bind(ip)
        .bind(since)
        .fetch_one(self.db())
        .await?;
        Ok((by_email, by_ip))
    }

    /// Forgets link requests older than `before`.
    pub async fn prune_link_requests(&self, before: i64) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM portal_link_requests WHERE at < $1")
                .bind(before)
                .execute(self.db())
                .await?
                .rows_affected(),
        )
    }

    /// Whether a customer other than `customer` (not merged away) has this email (normalised)
    /// among their contacts.
    pub async fn email_used_by_other(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        normalized: &str,
    ) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM customer_contacts k JOIN customers c \
             ON c.id = k.customer_id AND c.tenant_id = k.tenant_id \
             WHERE k.tenant_id = $1 AND k.kind = 'email' AND k.normalized = $2 \
             AND k.customer_id <> $3 AND c.merged_into IS NULL",
        )
        .bind(tenant.0)
        .bind(normalized)
        .bind(customer.0)
        .fetch_one(self.db())
        .await?;
        Ok(n > 0)
    }
}

// ---------------------------------------------------------------- staff notifications

impl Store {
    /// How many notifications of a user are unread.
    pub async fn unread_notifications(&self, tenant: TenantId, user: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM notifications WHERE tenant_id = $1 AND user_id = $2 \
             AND read_at IS NULL",
        )
        .bind(tenant.0)
        .bind(user)
        .fetch_one(self.db())
        .await?)
    }

    /// Marks one of the user's own notifications read; `false` when the user has no such
    /// notification (someone else's id is the same as a missing one). Reading it again is fine.
    pub async fn mark_notification_read(
        &self,
        tenant: TenantId,
        user: i64,
        id: i64,
        now: i64,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE notifications SET read_at = COALESCE(read_at, $4) \
             WHERE tenant_id = $1 AND user_id = $2 AND id = $3",
        )
        .bind(tenant.0)
        .bind(user)
        .bind(id)
        .bind(now)
        .execute(self.db())
        .await?
        .rows_affected()
            > 0)
    }

    /// Marks every unread notification of the user read; returns how many.
    pub async fn mark_all_notifications_read(
        &self,
        tenant: TenantId,
        user: i64,
        now: i64,
    ) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE notifications SET read_at = $3 WHERE tenant_id = $1 AND user_id = $2 \
             AND read_at IS NULL",
        )
        .bind(tenant.0)
        .bind(user)
        .bind(now)
        .execute(self.db())
        .await?
        .rows_affected())
    }
}

// ---------------------------------------------------------------- NPS surveys

/// A periodic NPS survey of one customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NpsRow {
    pub id: i64,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub customer_id: i64,
    pub period_start: i64,
    pub agent_id: Option<i64>,
    pub team_id: Option<i64>,
    pub state: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub expires_at: i64,
    pub score: Option<i64>,
    pub comment: Option<String>,
    pub answered_at: Option<i64>,
}

/// An NPS answer as scorecards read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpsAnswer {
    pub answered_at: i64,
    pub agent_id: Option<i64>,
    pub team_id: Option<i64>,
    pub score: i64,
}

const NPS_COLS: &str = "id, tenant_id, customer_id, period_start, agent_id, team_id, state, \
    attempts, error, created_at, sent_at, expires_at, score, comment, answered_at";

fn nps_from(r: &AnyRow) -> Result<NpsRow> {
    Ok(NpsRow {
        id: r.try_get("id")?,
        tenant_id: TenantId(r.try_get("tenant_id")?),
        customer_id: r.try_get("customer_id")?,
        period_start: r.try_get("period_start")?,
        agent_id: r.try_get("agent_id")?,
        team_id: r.try_get("team_id")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
        expires_at: r.try_get("expires_at")?,
        score: r.try_get("score")?,
        comment: r.try_get("comment")?,
        answered_at: r.try_get("answered_at")?,
    })
}

impl Store {
    /// Customers of `tenant` to ask for an NPS answer: they had a case (not spam) solved at or
    /// after `active_since`, have an email address, are neither merged away nor erased, did
    /// not say no to surveys (preference [`crate::portal::SURVEY_PREF_KEY`] = `no`) and were
    /// not asked after `asked_after`. With the owner and team of their last solved case.
    pub async fn nps_candidates(
        &self,
        tenant: TenantId,
        active_since: i64,
        asked_after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Option<i64>, Option<i64>)>> {
        let rows = sqlx::query(
            "SELECT k.id, \
             (SELECT c2.owner_id FROM cases c2 WHERE c2.tenant_id = k.tenant_id \
              AND c2.customer_id = k.id AND c2.solved_at IS NOT NULL \
              ORDER BY c2.solved_at DESC, c2.id DESC LIMIT 1) AS agent_id, \
             (SELECT c3.team_id FROM cases c3 WHERE c3.tenant_id = k.tenant_id \
              AND c3.customer_id = k.id AND c3.solved_at IS NOT NULL \
              ORDER BY c3.solved_at DESC, c3.id DESC LIMIT 1) AS team_id \
             FROM customers k WHERE k.tenant_id = $1 AND k.merged_into IS NULL \
             AND k.erased_at IS NULL \
             AND EXISTS (SELECT 1 FROM cases c WHERE c.tenant_id = k.tenant_id \
                 AND c.customer_id = k.id AND c.solved_at >= $2 AND c.kind <> 'spam') \
             AND EXISTS (SELECT 1 FROM customer_contacts e WHERE e.tenant_id = k.tenant_id \
                 AND e.customer_id = k.id AND e.kind = 'email') \
             AND NOT EXISTS (SELECT 1 FROM customer_preferences p \
                 WHERE p.tenant_id = k.tenant_id AND p.customer_id = k.id \
                 AND p.pref_key = $4 AND p.active = 1 AND p.value = 'no') \
             AND NOT EXISTS (SELECT 1 FROM nps_surveys n WHERE n.tenant_id = k.tenant_id \
                 AND n.customer_id = k.id AND n.created_at > $3) \
             ORDER BY k.id LIMIT $5",
        )
        .bind(tenant.0)
        .bind(active_since)
        .bind(asked_after)
        .bind(SURVEY_PREF_KEY)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("agent_id")?,
                    r.try_get("team_id")?,
                ))
            })
            .collect()
    }

    /// Queues one NPS survey for a customer and period; `false` when that period has one.
    #[allow(clippy::too_many_arguments)]
    pub async fn queue_nps(
        &self,
        tenant: TenantId,
        customer: i64,
        period_start: i64,
        agent: Option<i64>,
        team: Option<i64>,
        expires_at: i64,
        now: i64,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "INSERT INTO nps_surveys (tenant_id, customer_id, period_start, agent_id, team_id, \
             state, next_attempt_at, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, 'queued', $6, $6, $7) \
             ON CONFLICT (tenant_id, customer_id, period_start) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(customer)
        .bind(period_start)
        .bind(agent)
        .bind(team)
        .bind(now)
        .bind(expires_at)
        .execute(self.db())
        .await?
        .rows_affected()
            > 0)
    }

    /// Queued NPS mails due for delivery (every tenant), oldest first.
    pub async fn due_nps(&self, now: i64, limit: i64) -> Result<Vec<NpsRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {NPS_COLS} FROM nps_surveys WHERE state = 'queued' \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(self.db())
        .await?
        .iter()
        .map(nps_from)
        .collect()
    }

    /// Claims a due NPS mail for one attempt until `until`; `false` when another node has it.
    pub async fn claim_nps(&self, id: i64, now: i64, until: i64) -> Result<bool> {
        self.claim_queued(MailQueue::Nps, id, now, until).await
    }

    /// Sets the link of an NPS survey (the hash of its token) before its mail goes out.
    pub async fn set_nps_token(&self, id: i64, hash: &str) -> Result<()> {
        sqlx::query("UPDATE nps_surveys SET token_hash = $2 WHERE id = $1 AND answered_at IS NULL")
            .bind(id)
            .bind(hash)
            .execute(self.db())
            .await?;
        Ok(())
    }

    /// Records how an NPS mail went: `sent`, `failed`, or `queued` again at `retry_at`.
    pub async fn finish_nps(
        &self,
        id: i64,
        state: &str,
        error: Option<&str>,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        self.finish_queued(MailQueue::Nps, id, state, error, retry_at, now)
            .await
    }

    /// Claims a due row of a mail queue for one attempt until `until`; `false` when another
    /// node claimed it first (the compare-and-swap is on `state` and `next_attempt_at`).
    async fn claim_queued(&self, queue: MailQueue, id: i64, now: i64, until: i64) -> Result<bool> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET next_attempt_at = $3, attempts = attempts + 1 \
             WHERE id = $1 AND state = 'queued' AND next_attempt_at <= $2",
            queue.table()
        )))
        .bind(id)
        .bind(now)
        .bind(until)
        .execute(self.db())
        .await?
        .rows_affected()
            > 0)
    }

    /// Records how an attempt of a mail queue's row went.
    async fn finish_queued(
        &self,
        queue: MailQueue,
        id: i64,
        state: &str,
        error: Option<&str>,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET state = $2, error = $3, next_attempt_at = $4, \
             sent_at = CASE WHEN $2 = 'sent' THEN $5 ELSE sent_at END WHERE id = $1",
            queue.table()
        )))
        .bind(id)
        .bind(state)
        .bind(error)
        .bind(retry_at)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// The NPS survey a link token's hash belongs to (any tenant; the row names it).
    pub async fn nps_by_token_hash(&self, hash: &str) -> Result<Option<NpsRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {NPS_COLS} FROM nps_surveys WHERE token_hash = $1"
        )))
        .bind(hash)
        .fetch_optional(self.db())
        .await?
        .as_ref()
        .map(nps_from)
        .transpose()
    }

    /// The NPS surveys of a customer, newest first.
    pub async fn nps_of_customer(&self, tenant: TenantId, customer: i64) -> Result<Vec<NpsRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {NPS_COLS} FROM nps_surveys WHERE tenant_id = $1 AND customer_id = $2 \
             ORDER BY id DESC"
        )))
        .bind(tenant.0)
        .bind(customer)
        .fetch_all(self.db())
        .await?
        .iter()
        .map(nps_from)
        .collect()
    }

    /// Records an NPS answer once: `false` when it was answered already. The link dies.
    pub async fn answer_nps(
        &self,
        tenant: TenantId,
        id: i64,
        score: i64,
        comment: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE nps_surveys SET score = $3, comment = $4, answered_at = $5, \
             token_hash = NULL WHERE tenant_id = $1 AND id = $2 AND answered_at IS NULL",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(score)
        .bind(comment)
        .bind(now)
        .execute(self.db())
        .await?
        .rows_affected()
            > 0)
    }

    /// NPS answers of `tenant` given in `[from, to)`.
    pub async fn score_nps(&self, tenant: TenantId, from: i64, to: i64) -> Result<Vec<NpsAnswer>> {
        sqlx::query(
            "SELECT answered_at, agent_id, team_id, score FROM nps_surveys \
             WHERE tenant_id = $1 AND answered_at >= $2 AND answered_at < $3 \
             AND score IS NOT NULL ORDER BY answered_at, id",
        )
        .bind(tenant.0)
        .bind(from)
        .bind(to)
        .fetch_all(self.db())
        .await?
        .iter()
        .map(|r| {
            Ok(NpsAnswer {
                answered_at: r.try_get("answered_at")?,
                agent_id: r.try_get("agent_id")?,
                team_id: r.try_get("team_id")?,
                score: r.try_get("score")?,
            })
        })
        .collect()
    }
}
