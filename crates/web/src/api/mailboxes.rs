//! `/api/v1/mailboxes`: the tenant's IMAP mailboxes ("email channels") — list, add, read,
//! replace, delete, and poll one now. Admins only (`ManageSettings`). The password is write-only:
//! it is never returned, only `password_set`. The poller's state (`last_polled_at`,
//! `last_error`, the UID checkpoint) is read-only here.

use crate::auth::{ApiStaff, require};
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use concierge_app::mailboxes::{MailboxInput, PollReport};
use concierge_domain::Permission;
use concierge_store::mailboxes::MailboxRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A mailbox as an admin writes it (the whole of it: `PUT` replaces every setting).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxBody {
    /// Short name, recorded on every mail taken in (e.g. `support`).
    pub name: String,
    /// The address customers write to.
    pub address: String,
    pub imap_host: String,
    pub imap_port: i64,
    /// `tls` (default, implicit TLS, usually port 993), `starttls` (usually 143), or `plain`
    /// (unencrypted; only for a server on localhost, as in tests).
    pub tls_mode: Option<String>,
    pub username: String,
    /// Required when adding; on `PUT`, leave it out to keep the stored one. Never returned.
    pub password: Option<String>,
    /// Default `INBOX`.
    pub folder: Option<String>,
    /// After a message is committed: `seen` (mark it read, default) or `move` (to `move_to`).
    pub after_commit: Option<String>,
    pub move_to: Option<String>,
    /// Seconds between polls, 10-86400 (default 60).
    pub poll_interval_secs: Option<i64>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Automatic acknowledgement of new cases from this mailbox: `true`/`false`, or leave it
    /// out (`null`) to follow the tenant's setting (`/api/v1/mail/acknowledgement`).
    pub acknowledge: Option<bool>,
}

impl From<MailboxBody> for MailboxInput {
    fn from(b: MailboxBody) -> Self {
        MailboxInput {
            name: b.name,
            address: b.address,
            imap_host: b.imap_host,
            imap_port: b.imap_port,
            tls_mode: b.tls_mode,
            username: b.username,
            password: b.password,
            folder: b.folder,
            after_commit: b.after_commit,
            move_to: b.move_to,
            poll_interval_secs: b.poll_interval_secs,
            enabled: b.enabled,
            acknowledge: b.acknowledge,
        }
    }
}

/// A mailbox with its poller's state; never the password.
#[derive(Serialize, ToSchema)]
pub struct MailboxOut {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub imap_host: String,
    pub imap_port: i64,
    pub tls_mode: String,
    pub username: String,
    /// Whether a password is stored (it is never shown).
    pub password_set: bool,
    pub folder: String,
    pub after_commit: String,
    pub move_to: Option<String>,
    pub poll_interval_secs: i64,
    pub enabled: bool,
    /// `null`: follows the tenant's acknowledgement setting.
    pub acknowledge: Option<bool>,
    /// The folder's UIDVALIDITY at the last poll, and the last UID taken in under it.
    pub uid_validity: Option<i64>,
    pub last_uid: i64,
    /// Epoch milliseconds.
    pub last_polled_at: Option<i64>,
    pub last_success_at: Option<i64>,
    /// Why the last poll failed (`null` after a poll that succeeded).
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub next_poll_at: i64,
    /// Messages taken in since the mailbox was added.
    pub messages_taken: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<MailboxRow> for MailboxOut {
    fn from(m: MailboxRow) -> Self {
        let s = m.settings;
        MailboxOut {
            id: m.id,
            name: s.name,
            address: s.address,
            imap_host: s.imap_host,
            imap_port: s.imap_port,
            tls_mode: s.tls_mode,
            username: s.username,
            password_set: !m.password.is_empty(),
            folder: s.folder,
            after_commit: s.after_commit,
            move_to: s.move_to,
            poll_interval_secs: s.poll_interval_secs,
            enabled: s.enabled,
            acknowledge: s.acknowledge,
            uid_validity: m.uid_validity,
            last_uid: m.last_uid,
            last_polled_at: m.last_polled_at,
            last_success_at: m.last_success_at,
            last_error: m.last_error,
            last_error_at: m.last_error_at,
            next_poll_at: m.next_poll_at,
            messages_taken: m.messages_taken,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// What a poll did.
#[derive(Serialize, ToSchema)]
pub struct PollOut {
    /// False when another poller held the mailbox, or it is disabled.
    pub polled: bool,
    /// The folder's UIDVALIDITY was new: its unseen messages were scanned again.
    pub rescanned: bool,
    pub processed: i64,
    pub duplicates: i64,
    pub ignored: i64,
    pub quarantined: i64,
    pub last_uid: i64,
    /// Why the poll stopped (also in the mailbox's `last_error`).
    pub error: Option<String>,
    /// The mailbox after the poll.
    pub mailbox: MailboxOut,
}

#[utoipa::path(get, path = "/api/v1/mailboxes", tag = "mail",
    responses((status = 200, body = Vec<MailboxOut>), (status = 403, body = ErrorBody)))]
pub async fn list_mailboxes(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
) -> Result<ApiJson<Vec<MailboxOut>>, ApiError> {
    require(&user, Permission::ManageSettings)?;
    let rows = s.app.store.mailboxes(user.tenant_id).await?;
    Ok(ApiJson(rows.into_iter().map(MailboxOut::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/mailboxes", tag = "mail",
    request_body = MailboxBody,
    responses((status = 201, body = MailboxOut), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create_mailbox(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiJson(b): ApiJson<MailboxBody>,
) -> Result<(StatusCode, ApiJson<MailboxOut>), ApiError> {
    require(&user, Permission::ManageSettings)?;
    let row = s.app.create_mailbox(user.tenant_id, &b.into()).await?;
    Ok((StatusCode::CREATED, ApiJson(row.into())))
}

#[utoipa::path(get, path = "/api/v1/mailboxes/{id}", tag = "mail",
    params(("id" = i64, Path, description = "mailbox id")),
    responses((status = 200, body = MailboxOut), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn get_mailbox(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<MailboxOut>, ApiError> {
    require(&user, Permission::ManageSettings)?;
    match s.app.store.mailbox(user.tenant_id, id).await? {
        Some(m) => Ok(ApiJson(m.into())),
        None => Err(ApiError::not_found("mailbox")),
    }
}

#[utoipa::path(put, path = "/api/v1/mailboxes/{id}", tag = "mail",
    params(("id" = i64, Path, description = "mailbox id")),
    request_body = MailboxBody,
    responses((status = 200, body = MailboxOut), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_mailbox(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<MailboxBody>,
) -> Result<ApiJson<MailboxOut>, ApiError> {
    require(&user, Permission::ManageSettings)?;
    let row = s.app.update_mailbox(user.tenant_id, id, &b.into()).await?;
    Ok(ApiJson(row.into()))
}

#[utoipa::path(delete, path = "/api/v1/mailboxes/{id}", tag = "mail",
    params(("id" = i64, Path, description = "mailbox id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_mailbox(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    require(&user, Permission::ManageSettings)?;
    if s.app.store.delete_mailbox(user.tenant_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("mailbox"))
    }
}

#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/poll", tag = "mail",
    params(("id" = i64, Path, description = "mailbox id")),
    responses((status = 200, body = PollOut), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn poll_mailbox(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<PollOut>, ApiError> {
    require(&user, Permission::ManageSettings)?;
    if s.app.store.mailbox(user.tenant_id, id).await?.is_none() {
        return Err(ApiError::not_found("mailbox"));
    }
    // In its own task, so a request that times out does not leave the mailbox leased.
    let app = s.app.clone();
    let tenant = user.tenant_id;
    let r: PollReport = tokio::spawn(async move {
        let node = format!("{}#api", app.config.node_name());
        app.poll_mailbox(tenant, id, &node).await
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "the mailbox poll task failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; it has been logged",
        )
    })??;
    let Some(m) = s.app.store.mailbox(user.tenant_id, id).await? else {
        return Err(ApiError::not_found("mailbox"));
    };
    Ok(ApiJson(PollOut {
        polled: r.polled,
        rescanned: r.rescanned,
        processed: r.processed,
        duplicates: r.duplicates,
        ignored: r.ignored,
        quarantined: r.quarantined,
        last_uid: r.last_uid,
        error: r.error,
        mailbox: m.into(),
    }))
}
