//! Staff notifications and survey settings over the API (issue 7 items 2 and 4): the
//! caller's own notifications (assignments, @mentions, escalations) with the unread count,
//! marking one or all read, and the tenant's periodic NPS survey setting.
//!
//! Notifications are always the caller's own: another user's (or tenant's) notification id
//! answers 404 like a missing one.

use crate::auth::{ApiStaff, require};
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use concierge_app::portal::PortalError;
use concierge_domain::Permission;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A notification for the caller.
#[derive(Serialize, ToSchema)]
pub struct NotificationOut {
    pub id: i64,
    /// assigned, mention, escalation ...
    pub kind: String,
    pub case_id: Option<i64>,
    pub body: String,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms; null while unread.
    pub read_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct NotificationsOut {
    pub unread: i64,
    /// Newest first (at most 200).
    pub items: Vec<NotificationOut>,
}

/// The caller's notifications, newest first, with how many are unread.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    responses((status = 200, body = NotificationsOut), (status = 401, body = ErrorBody)))]
pub async fn list_notifications(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
) -> Result<ApiJson<NotificationsOut>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let (items, unread) = s.app.my_notifications(&user).await?;
    Ok(ApiJson(NotificationsOut {
        unread,
        items: items
            .into_iter()
            .map(|n| NotificationOut {
                id: n.id,
                kind: n.kind,
                case_id: n.case_id,
                body: n.body,
                created_at: n.created_at,
                read_at: n.read_at,
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct UnreadOut {
    pub unread: i64,
}

/// Marks one of the caller's notifications read (again is fine).
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications",
    params(("id" = i64, Path, description = "notification id")),
    responses((status = 200, body = UnreadOut), (status = 404, body = ErrorBody)))]
pub async fn read_notification(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<UnreadOut>, ApiError> {
    require(&user, Permission::WorkCases)?;
    s.app.mark_notification_read(&user, id).await?;
    Ok(ApiJson(UnreadOut {
        unread: s.app.unread_notifications(&user).await?,
    }))
}

/// Marks every notification of the caller read.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications",
    responses((status = 200, body = UnreadOut), (status = 401, body = ErrorBody)))]
pub async fn read_all_notifications(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
) -> Result<ApiJson<UnreadOut>, ApiError> {
    require(&user, Permission::WorkCases)?;
    s.app.mark_all_notifications_read(&user).await?;
    Ok(ApiJson(UnreadOut {
        unread: s.app.unread_notifications(&user).await?,
    }))
}

/// The tenant's periodic NPS survey.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NpsSettingsBody {
    /// Ask customers who had a case solved within the period, at most once per period:
    /// every 1-365 days; 0 turns the survey off.
    pub every_days: i64,
}

fn portal_api_error(e: PortalError) -> ApiError {
    match e {
        PortalError::Invalid(m) => ApiError::invalid(m),
        PortalError::Store(s) => s.into(),
        other => ApiError::invalid(other.to_string()),
    }
}

#[utoipa::path(get, path = "/api/v1/surveys/nps", tag = "surveys",
    responses((status = 200, body = NpsSettingsBody), (status = 403, body = ErrorBody)))]
pub async fn get_nps_settings(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
) -> Result<ApiJson<NpsSettingsBody>, ApiError> {
    require(&user, Permission::ManageSettings)?;
    let p = s
        .app
        .nps_policy(user.tenant_id)
        .await
        .map_err(portal_api_error)?;
    Ok(ApiJson(NpsSettingsBody {
        every_days: p.map_or(0, |p| p.every_days),
    }))
}

#[utoipa::path(put, path = "/api/v1/surveys/nps", tag = "surveys",
    request_body = NpsSettingsBody,
    responses((status = 200, body = NpsSettingsBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn put_nps_settings(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiJson(b): ApiJson<NpsSettingsBody>,
) -> Result<ApiJson<NpsSettingsBody>, ApiError> {
    require(&user, Permission::ManageSettings)?;
    s.app
        .set_nps_every_days(user.tenant_id, b.every_days)
        .await
        .map_err(portal_api_error)?;
    Ok(ApiJson(b))
}
