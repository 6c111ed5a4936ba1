//! Customers over the API: creating one, and sending a customer a one-time portal sign-in
//! link. Search, the profile, preferences, notes, flags, the timeline and personalisation are
//! in `customer_memory.rs`.

use crate::auth::{ApiStaff, require};
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use concierge_domain::{CustomerId, EmailAddress, Permission};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct CustomerOut {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub created_at: i64,
}

impl From<concierge_store::CustomerRow> for CustomerOut {
    fn from(c: concierge_store::CustomerRow) -> Self {
        CustomerOut {
            id: c.id.0,
            name: c.display_name,
            email: c.email,
            external_id: c.external_id,
            created_at: c.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// The customer's name, in any script.
    pub name: String,
    pub email: Option<String>,
    /// The customer's id in another system (shop, ERP).
    pub external_id: Option<String>,
}

/// Creates a customer.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", request_body = NewCustomer,
    responses((status = 201, body = CustomerOut), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create_customer(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiJson(body): ApiJson<NewCustomer>,
) -> Result<(StatusCode, ApiJson<CustomerOut>), ApiError> {
    require(&user, Permission::WriteCustomers)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("name must be 1-200 characters"));
    }
    let email = match body.email.as_deref() {
        Some(e) => Some(EmailAddress::parse(e).map_err(|e| ApiError::invalid(e.to_string()))?),
        None => None,
    };
    if let Some(x) = &body.external_id
        && (x.is_empty() || x.len() > 200)
    {
        return Err(ApiError::invalid("external_id must be 1-200 characters"));
    }
    let now = s.app.now();
    let c = s
        .app
        .store
        .create_customer(
            user.tenant_id,
            name,
            email.as_ref().map(|e| e.as_str()),
            body.external_id.as_deref(),
            now,
        )
        .await?;
    s.app
        .store
        .audit(
            user.tenant_id,
            &concierge_store::AuditEntry {
                actor_kind: "user",
                actor_id: Some(user.id.0),
                action: "customer.created",
                subject_kind: "customer",
                subject_id: Some(c.id.0),
                customer_id: Some(c.id.0),
                detail: "{}".into(),
                ..Default::default()
            },
            now,
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(CustomerOut::from(c))))
}

// (listing, search and the profile routes live in customer_memory.rs)

#[derive(Serialize, ToSchema)]
pub struct LinkSent {
    /// Where the sign-in link was sent.
    pub sent_to: String,
    /// When the link stops working (epoch ms).
    pub expires_at: i64,
}

/// Mails the customer a one-time link that signs them in to the portal.
#[utoipa::path(post, path = "/api/v1/customers/{id}/portal-link", tag = "customers",
    params(("id" = i64, Path, description = "customer id")),
    responses((status = 202, body = LinkSent), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn send_portal_link(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> Result<(StatusCode, ApiJson<LinkSent>), ApiError> {
    require(&user, Permission::WriteCustomers)?;
    let c = s
        .app
        .store
        .customer(user.tenant_id, CustomerId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    let Some(email) = c.email.clone() else {
        return Err(ApiError::invalid("the customer has no email address"));
    };
    let token = s.app.create_customer_link(user.tenant_id, c.id).await?;
    crate::portal::mail_sign_in_link(&s, &c.display_name, &email, &token)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "could not write the sign-in mail");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "mail_unavailable",
                "the sign-in mail could not be queued; try again shortly",
            )
        })?;
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(LinkSent {
            sent_to: email,
            expires_at: s.app.now() + s.app.config.auth.customer_link_minutes * 60_000,
        }),
    ))
}
