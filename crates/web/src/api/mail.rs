//! `POST /api/v1/mail/inbound`: a raw message (`message/rfc822`) from a mail provider's
//! webhook, taken in by the same pipeline as `concierge mail ingest`. The raw bytes are
//! committed before anything else; 200 means committed (stored, duplicate, ignored or
//! quarantined: see `state`), 503 means retry later. Admin and manager tokens only.
//!
//! `GET`/`PUT /api/v1/mail/acknowledgement`: the tenant's automatic acknowledgement of cases
//! opened by email (on/off, text, loop-guard window); managers and admins (like rules).

use crate::auth::{ApiStaff, require};
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use concierge_app::mail::{AckSettings, IngestError, IngestOutcome};
use concierge_domain::Permission;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
pub struct InboundParams {
    /// The mailbox the message was delivered to (e.g. `support`); default `default`.
    pub mailbox: Option<String>,
}

/// What became of the message.
#[derive(Serialize, ToSchema)]
pub struct InboundOut {
    /// The stored raw message.
    pub inbound_id: i64,
    /// `processed`, `duplicate`, `ignored` or `quarantined`.
    pub state: String,
    pub case_id: Option<i64>,
    pub case_number: Option<i64>,
    pub message_id: Option<i64>,
    pub duplicate_of: Option<i64>,
    /// Why it was ignored or quarantined.
    pub reason: Option<String>,
}

impl From<IngestOutcome> for InboundOut {
    fn from(o: IngestOutcome) -> Self {
        InboundOut {
            inbound_id: o.inbound_id,
            state: o.state.as_str().to_string(),
            case_id: o.case_id,
            case_number: o.case_number,
            message_id: o.message_id,
            duplicate_of: o.duplicate_of,
            reason: o.reason,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/mail/inbound", tag = "mail",
    params(InboundParams),
    request_body(content = String, content_type = "message/rfc822",
                 description = "The raw RFC 5322 message"),
    responses((status = 200, body = InboundOut), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn inbound(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiQuery(p): ApiQuery<InboundParams>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, ApiJson<InboundOut>), ApiError> {
    require(&user, Permission::ImportData)?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if ct != "message/rfc822" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the raw message with Content-Type: message/rfc822",
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the message is larger than the server's limit of {} bytes \
                     ([server] max_body_bytes)",
                    s.app.config.server.max_body_bytes
                ),
            )
        } else {
            ApiError::invalid(format!("the request body could not be read: {e}"))
        }
    })?;
    let mailbox = p.mailbox.unwrap_or_else(|| "default".into());
    match s.app.ingest_raw(user.tenant_id, &mailbox, &body).await {
        Ok(o) => Ok((StatusCode::OK, ApiJson(o.into()))),
        Err(IngestError::Busy) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            IngestError::Busy.to_string(),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "inbound mail could not be stored");
            Err(ApiError::unavailable())
        }
    }
}

/// The automatic acknowledgement of a case opened by email.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckSettingsBody {
    /// Send one acknowledgement when a mail opens a new case (never to automatic mail).
    pub enabled: bool,
    /// The text, a personalisation template (e.g. `{{customer.first_name | "there"}}`); the
    /// subject is the case's, with its `[#number]` token.
    pub body: String,
    /// At most one automatic answer per sender address within this many minutes (1-10080).
    pub window_minutes: i64,
}

#[utoipa::path(get, path = "/api/v1/mail/acknowledgement", tag = "mail",
    responses((status = 200, body = AckSettingsBody), (status = 403, body = ErrorBody)))]
pub async fn get_acknowledgement(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
) -> Result<ApiJson<AckSettingsBody>, ApiError> {
    require(&user, Permission::ManageRules)?;
    let a = s.app.mail_ack_settings(user.tenant_id).await?;
    Ok(ApiJson(AckSettingsBody {
        enabled: a.enabled,
        body: a.body,
        window_minutes: a.window_minutes,
    }))
}

#[utoipa::path(put, path = "/api/v1/mail/acknowledgement", tag = "mail",
    request_body = AckSettingsBody,
    responses((status = 200, body = AckSettingsBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn put_acknowledgement(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiJson(b): ApiJson<AckSettingsBody>,
) -> Result<ApiJson<AckSettingsBody>, ApiError> {
    require(&user, Permission::ManageRules)?;
    let settings = AckSettings {
        enabled: b.enabled,
        body: b.body,
        window_minutes: b.window_minutes,
    };
    s.app
        .set_mail_ack_settings(user.tenant_id, &settings)
        .await?;
    Ok(ApiJson(AckSettingsBody {
        enabled: settings.enabled,
        body: settings.body,
        window_minutes: settings.window_minutes,
    }))
}
