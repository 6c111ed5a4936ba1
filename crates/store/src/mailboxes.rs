//! Mailboxes polled over IMAP (issue 5): their settings (tenant data, managed by admins) and
//! the poller's state beside them — the UIDVALIDITY/UID checkpoint, a lease so that one node
//! at a time polls a mailbox, when it is next due, and the last outcome.
//!
//! The lease is a compare-and-swap on `lease_until`; the checkpoint and the outcome are written
//! only by the lease holder, so a poller that lost its lease (it stalled past it, another node
//! took over) cannot move the checkpoint behind the new holder's back. Finding due mailboxes
//! reads across tenants (like the job queue); everything else is tenant-scoped.

use crate::{Result, Store};
use concierge_domain::TenantId;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A mailbox's settings, as written by an admin.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct MailboxSettings {
    pub name: String,
    pub address: String,
    pub imap_host: String,
    pub imap_port: i64,
    /// `tls`, `starttls` or `plain`.
    pub tls_mode: String,
    pub username: String,
    pub folder: String,
    /// `seen` or `move`.
    pub after_commit: String,
    pub move_to: Option<String>,
    pub poll_interval_secs: i64,
    pub enabled: bool,
    /// `None` follows the tenant's acknowledgement setting.
    pub acknowledge: Option<bool>,
}

impl std::fmt::Debug for MailboxSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailboxSettings")
            .field("name", &self.name)
            .field("imap_host", &self.imap_host)
            .field("imap_port", &self.imap_port)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A stored mailbox: settings, password and poller state.
#[derive(Clone, PartialEq, Eq)]
pub struct MailboxRow {
    pub id: i64,
    pub tenant_id: TenantId,
    pub settings: MailboxSettings,
    /// The IMAP password as stored: `enc:v1:...` (encrypted by the app layer with the node's
    /// secret key), or plain text in rows written before that. Never shown (not in `Debug`,
    /// never returned by the API).
    pub password: String,
    pub uid_validity: Option<i64>,
    /// The last UID whose message was committed and marked (0: none yet).
    pub last_uid: i64,
    pub next_poll_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub last_polled_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub messages_taken: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for MailboxRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailboxRow")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("settings", &self.settings)
            .field("password", &"(hidden)")
            .field("uid_validity", &self.uid_validity)
            .field("last_uid", &self.last_uid)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

/// How one poll ended, written when the lease is given back.
#[derive(Debug, Clone, Default)]
pub struct PollEnd {
    /// `None`: the poll succeeded (clears the last error).
    pub error: Option<String>,
    /// Messages committed in this poll.
    pub taken: i64,
    pub next_poll_at: i64,
}

const COLS: &str = "id, tenant_id, name, address, imap_host, imap_port, tls_mode, username, \
    password, folder, after_commit, move_to, poll_interval_secs, enabled, acknowledge, \
    uid_validity, last_uid, next_poll_at, lease_owner, lease_until, last_polled_at, \
    last_success_at, last_error, last_error_at, messages_taken, created_at, updated_at";

fn row_from(r: &AnyRow) -> Result<MailboxRow> {
    let enabled: i16 = r.try_get("enabled")?;
    let ack: Option<i16> = r.try_get("acknowledge")?;
    Ok(MailboxRow {
        id: r.try_get("id")?,
        tenant_id: TenantId(r.try_get("tenant_id")?),
        settings: MailboxSettings {
            name: r.try_get("name")?,
            address: r.try_get("address")?,
            imap_host: r.try_get("imap_host")?,
            imap_port: r.try_get("imap_port")?,
            tls_mode: r.try_get("tls_mode")?,
            username: r.try_get("username")?,
            folder: r.try_get("folder")?,
            after_commit: r.try_get("after_commit")?,
            move_to: r.try_get("move_to")?,
            poll_interval_secs: r.try_get("poll_interval_secs")?,
            enabled: enabled != 0,
            acknowledge: ack.map(|a| a != 0),
        },
        password: r.try_get("password")?,
        uid_validity: r.try_get("uid_validity")?,
        last_uid: r.try_get("last_uid")?,
        next_poll_at: r.try_get("next_poll_at")?,
        lease_owner: r.try_get("lease_owner")?,
        lease_until: r.try_get("lease_until")?,
        last_polled_at: r.try_get("last_polled_at")?,
        last_success_at: r.try_get("last_success_at")?,
        last_error: r.try_get("last_error")?,
        last_error_at: r.try_get("last_error_at")?,
        messages_taken: r.try_get("messages_taken")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn flag(b: bool) -> i16 {
    i16::from(b)
}

impl Store {
    /// Adds a mailbox, due for its first poll at once. A second mailbox of the same name in
    /// the tenant is a conflict.
    pub async fn create_mailbox(
        &self,
        tenant: TenantId,
        s: &MailboxSettings,
        password: &str,
        now: i64,
    ) -> Result<MailboxRow> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO mailboxes (tenant_id, name, address, imap_host, imap_port, tls_mode, \
             username, password, folder, after_commit, move_to, poll_interval_secs, enabled, \
             acknowledge, next_poll_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $15) RETURNING {COLS}"
        )))
        .bind(tenant.0)
        .bind(&s.name)
        .bind(&s.address)
        .bind(&s.imap_host)
        .bind(s.imap_port)
        .bind(&s.tls_mode)
        .bind(&s.username)
        .bind(password)
        .bind(&s.folder)
        .bind(&s.after_commit)
        .bind(s.move_to.as_deref())
        .bind(s.poll_interval_secs)
        .bind(flag(s.enabled))
        .bind(s.acknowledge.map(flag))
        .bind(now)
        .fetch_one(self.db())
        .await?;
        row_from(&row)
    }

    /// The tenant's mailboxes by name.
    pub async fn mailboxes(&self, tenant: TenantId) -> Result<Vec<MailboxRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM mailboxes WHERE tenant_id = $1 ORDER BY name, id"
        )))
        .bind(tenant.0)
        .fetch_all(self.db())
        .await?;
        rows.iter().map(row_from).collect()
    }

    /// One mailbox of the tenant.
    pub async fn mailbox(&self, tenant: TenantId, id: i64) -> Result<Option<MailboxRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM mailboxes WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(self.db())
        .await?;
        row.as_ref().map(row_from).transpose()
    }

    /// A mailbox of the tenant by its name (as passed to the ingest pipeline).
    pub async fn mailbox_by_name(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<Option<MailboxRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM mailboxes WHERE tenant_id = $1 AND name = $2"
        )))
        .bind(tenant.0)
        .bind(name)
        .fetch_optional(self.db())
        .await?;
        row.as_ref().map(row_from).transpose()
    }

    /// Replaces a mailbox's settings (and its password when `password` is given). With
    /// `reset_checkpoint` (another server, user or folder) the UID checkpoint starts over.
    /// The mailbox becomes due at once. `None` when the tenant has no such mailbox.
    pub async fn update_mailbox(
        &self,
        tenant: TenantId,
        id: i64,
        s: &MailboxSettings,
        password: Option<&str>,
        reset_checkpoint: bool,
        now: i64,
    ) -> Result<Option<MailboxRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE mailboxes SET name = $3, address = $4, imap_host = $5, imap_port = $6, \
             tls_mode = $7, username = $8, password = COALESCE($9, password), folder = $10, \
             after_commit = $11, move_to = $12, poll_interval_secs = $13, enabled = $14, \
             acknowledge = $15, next_poll_at = $16, updated_at = $16, \
             uid_validity = CASE WHEN $17 = 1 THEN NULL ELSE uid_validity END, \
             last_uid = CASE WHEN $17 = 1 THEN 0 ELSE last_uid END \
             WHERE tenant_id = $1 AND id = $2 RETURNING {COLS}"
        )))
        .bind(tenant.0)
        .bind(id)
        .bind(&s.name)
        .bind(&s.address)
        .bind(&s.imap_host)
        .bind(s.imap_port)
        .bind(&s.tls_mode)
        .bind(&s.username)
        .bind(password)
        .bind(&s.folder)
        .bind(&s.after_commit)
        .bind(s.move_to.as_deref())
        .bind(s.poll_interval_secs)
        .bind(flag(s.enabled))
        .bind(s.acknowledge.map(flag))
        .bind(now)
        .bind(i64::from(reset_checkpoint))
        .fetch_optional(self.db())
        .await?;
        row.as_ref().map(row_from).transpose()
    }

    /// Replaces the stored form of a mailbox's password (plain text written before encryption
    /// by its encrypted form) if it is still `old`, so an admin's newer password is never
    /// overwritten. `false` when it had changed.
    pub async fn reseal_mailbox_password(
        &self,
        tenant: TenantId,
        id: i64,
        old: &str,
        new: &str,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE mailboxes SET password = $4 WHERE tenant_id = $1 AND id = $2 AND password = $3",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(old)
        .bind(new)
        .execute(self.db())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Deletes a mailbox (mail already taken in stays). `false` when the tenant has none.
    pub async fn delete_mailbox(&self, tenant: TenantId, id: i64) -> Result<bool> {
        let n = sqlx::query("DELETE FROM mailboxes WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0)
            .bind(id)
            .execute(self.db())
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Enabled mailboxes of every tenant that are due and not leased: `(tenant, id,
    /// next_poll_at)`, most overdue first.
    pub async fn due_mailboxes(&self, now: i64, limit: i64) -> Result<Vec<(TenantId, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT tenant_id, id, next_poll_at FROM mailboxes WHERE enabled = 1 \
             AND next_poll_at <= $1 AND (lease_until IS NULL OR lease_until < $1) \
             ORDER BY next_poll_at, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    TenantId(r.try_get("tenant_id")?),
                    r.try_get("id")?,
                    r.try_get("next_poll_at")?,
                ))
            })
            .collect()
    }

    /// Takes the poll lease of a mailbox for `owner` until `now + lease_ms`: `None` when the
    /// mailbox is gone, disabled or leased by someone else whose lease has not run out.
    pub async fn lease_mailbox(
        &self,
        tenant: TenantId,
        id: i64,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<MailboxRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE mailboxes SET lease_owner = $3, lease_until = $4, last_polled_at = $5 \
             WHERE tenant_id = $1 AND id = $2 AND enabled = 1 \
             AND (lease_until IS NULL OR lease_until < $5) RETURNING {COLS}"
        )))
        .bind(tenant.0)
        .bind(id)
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .fetch_optional(self.db())
        .await?;
        row.as_ref().map(row_from).transpose()
    }

    /// Records the checkpoint (and extends the lease to `lease_until`) if `owner` still holds
    /// the lease; `false` when it was lost.
    pub async fn checkpoint_mailbox(
        &self,
        tenant: TenantId,
        id: i64,
        owner: &str,
        uid_validity: i64,
        last_uid: i64,
        lease_until: i64,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE mailboxes SET uid_validity = $4, last_uid = $5, lease_until = $6 \
             WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(owner)
        .bind(uid_validity)
        .bind(last_uid)
        .bind(lease_until)
        .execute(self.db())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Records how a poll ended and gives the lease back (only the holder can); `false` when
    /// the lease was lost.
    pub async fn finish_mailbox_poll(
        &self,
        tenant: TenantId,
        id: i64,
        owner: &str,
        end: &PollEnd,
        now: i64,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE mailboxes SET lease_owner = NULL, lease_until = NULL, next_poll_at = $4, \
             messages_taken = messages_taken + $5, last_error = $6, \
             last_error_at = CASE WHEN $6 IS NULL THEN last_error_at ELSE $7 END, \
             last_success_at = CASE WHEN $6 IS NULL THEN $7 ELSE last_success_at END \
             WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(owner)
        .bind(end.next_poll_at)
        .bind(end.taken)
        .bind(end.error.as_deref())
        .bind(now)
        .execute(self.db())
        .await?
        .rows_affected();
        Ok(n > 0)
    }
}
