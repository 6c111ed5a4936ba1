//! Staff, roles and API tokens over the API.

use crate::auth::{ApiStaff, require};
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use concierge_domain::{Permission, Role, TokenId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A staff user as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    /// `admin`, `manager` or `agent`.
    pub role: String,
    pub locale: String,
    pub tenant_id: i64,
}

impl From<&concierge_store::UserRow> for UserOut {
    fn from(u: &concierge_store::UserRow) -> Self {
        UserOut {
            id: u.id.0,
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            role: u.role.as_str().to_string(),
            locale: u.locale.clone(),
            tenant_id: u.tenant_id.0,
        }
    }
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "people",
    responses((status = 200, body = UserOut), (status = 401, body = ErrorBody)))]
pub async fn me(ApiStaff(user): ApiStaff) -> ApiJson<UserOut> {
    ApiJson(UserOut::from(&user))
}

/// An API token's record; the secret itself is shown only when created.
#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<&concierge_store::ApiTokenRow> for TokenOut {
    fn from(t: &concierge_store::ApiTokenRow) -> Self {
        TokenOut {
            id: t.id.0,
            name: t.name.clone(),
            prefix: t.prefix.clone(),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for, e.g. "shop integration".
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// The token. It is shown only now; store it safely.
    pub token: String,
    #[serde(flatten)]
    pub record: TokenOut,
}

/// The caller's API tokens.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "people",
    responses((status = 200, body = Vec<TokenOut>), (status = 401, body = ErrorBody)))]
pub async fn list_tokens(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
) -> Result<ApiJson<Vec<TokenOut>>, ApiError> {
    require(&user, Permission::ManageOwnTokens)?;
    let rows = s.app.store.list_api_tokens(user.tenant_id, user.id).await?;
    Ok(ApiJson(rows.iter().map(TokenOut::from).collect()))
}

/// Creates an API token for the caller.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "people", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<(StatusCode, ApiJson<CreatedToken>), ApiError> {
    require(&user, Permission::ManageOwnTokens)?;
    let (token, row) = s.app.create_api_token(&user, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedToken {
            token,
            record: TokenOut::from(&row),
        }),
    ))
}

/// Revokes a token (one's own; admins: anyone's in the tenant).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "people",
    params(("id" = i64, Path, description = "token id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    require(&user, Permission::ManageOwnTokens)?;
    s.app.revoke_api_token(&user, TokenId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Staff users of the tenant (admins only).
#[utoipa::path(get, path = "/api/v1/users", tag = "people",
    responses((status = 200, body = Vec<UserOut>), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
) -> Result<ApiJson<Vec<UserOut>>, ApiError> {
    require(&user, Permission::ManageUsers)?;
    let rows = s.app.store.list_users(user.tenant_id).await?;
    Ok(ApiJson(rows.iter().map(UserOut::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    /// `admin`, `manager` or `agent`.
    pub role: String,
    pub display_name: Option<String>,
    /// At least 10 characters. Omit it to have one generated and returned.
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedUser {
    #[serde(flatten)]
    pub user: UserOut,
    /// The generated password, when none was given.
    pub generated_password: Option<String>,
}

/// Adds a staff user (admins only).
#[utoipa::path(post, path = "/api/v1/users", tag = "people", request_body = NewUser,
    responses((status = 201, body = CreatedUser), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create_user(
    State(s): State<AppState>,
    ApiStaff(actor): ApiStaff,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, ApiJson<CreatedUser>), ApiError> {
    require(&actor, Permission::ManageUsers)?;
    let role = Role::parse(&body.role).map_err(|e| ApiError::invalid(e.to_string()))?;
    let (password, generated) = match body.password {
        Some(p) => (p, None),
        None => {
            let p = concierge_app::secrets::generate_password();
            (p.clone(), Some(p))
        }
    };
    let user = s
        .app
        .add_user(
            actor.tenant_id,
            &body.email,
            body.display_name.as_deref(),
            role,
            &password,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedUser {
            user: UserOut::from(&user),
            generated_password: generated,
        }),
    ))
}
