//! Who is calling: a middleware resolves the principal once per request (bearer token first,
//! then the session cookie) and extractors hand it to handlers. Deny by default: an API
//! handler that takes [`ApiStaff`] refuses anonymous calls; [`require`] refuses roles
//! without the permission. Cookie-authenticated API writes must carry the session's CSRF
//! token in `X-CSRF-Token`; bearer-token calls need none (no ambient credential).

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use concierge_app::Principal;
use concierge_domain::{CustomerId, Locale, Permission, TenantId};
use concierge_store::UserRow;

pub const SESSION_COOKIE: &str = "concierge_session";
pub const PRE_CSRF_COOKIE: &str = "concierge_csrf";
pub const LANG_COOKIE: &str = "concierge_lang";

/// How the caller authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    Token,
    Session { csrf: String },
}

/// The resolved caller, stored in request extensions by [`resolve`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub via: Via,
}

/// Marker set when the database could not be asked who the caller is.
#[derive(Debug, Clone, Copy)]
pub struct AuthUnavailable;

/// Middleware: resolves the caller and stores it in the request's extensions.
pub async fn resolve(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|s| s.trim().to_string());
    let jar = CookieJar::from_headers(headers);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let mut caller = None;
    let mut unavailable = false;
    if let Some(token) = bearer {
        match state.app.authenticate_token(&token).await {
            Ok(Some(user)) => {
                caller = Some(Caller {
                    principal: Principal::Staff(user),
                    via: Via::Token,
                })
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "token lookup failed");
                unavailable = true;
            }
        }
    } else if let Some(c) = jar.get(SESSION_COOKIE) {
        match state.app.session(c.value()).await {
            Ok(Some(live)) => {
                // A session is valid only on the tenant's own host.
                let host_tenant = state.tenant_for_host(host.as_deref()).await;
                if live.principal.tenant_id() == host_tenant {
                    caller = Some(Caller {
                        principal: live.principal,
                        via: Via::Session {
                            csrf: live.session.csrf_token,
                        },
                    });
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "session lookup failed");
                unavailable = true;
            }
        }
    }
    if let Some(c) = caller {
        req.extensions_mut().insert(c);
    }
    if unavailable {
        req.extensions_mut().insert(AuthUnavailable);
    }
    next.run(req).await
}

fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A staff member calling the JSON API.
#[derive(Debug, Clone)]
pub struct ApiStaff(pub UserRow);

impl<S: Send + Sync> FromRequestParts<S> for ApiStaff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if parts.extensions.get::<AuthUnavailable>().is_some() {
            return Err(ApiError::unavailable());
        }
        let Some(caller) = parts.extensions.get::<Caller>().cloned() else {
            return Err(ApiError::unauthenticated());
        };
        let Principal::Staff(user) = caller.principal else {
            return Err(ApiError::forbidden());
        };
        if let Via::Session { csrf } = &caller.via
            && is_unsafe(&parts.method)
        {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !concierge_app::secrets::constant_time_eq(sent, csrf) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "send the session's CSRF token in the X-CSRF-Token header",
                ));
            }
        }
        Ok(ApiStaff(user))
    }
}

/// Refuses the call unless the user's role grants `p`.
pub fn require(user: &UserRow, p: Permission) -> Result<(), ApiError> {
    if user.role.can(p) {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// A signed-in staff member on a console page; anonymous visitors are sent to sign in.
#[derive(Debug, Clone)]
pub struct ConsoleStaff {
    pub user: UserRow,
    pub csrf: String,
}

impl ConsoleStaff {
    /// Checks a form's `_csrf` field.
    #[allow(clippy::result_large_err)]
    pub fn check_csrf(&self, sent: &str) -> Result<(), Response> {
        if concierge_app::secrets::constant_time_eq(sent, &self.csrf) {
            Ok(())
        } else {
            Err(csrf_failed_page())
        }
    }
}

pub fn csrf_failed_page() -> Response {
    (
        axum::http::StatusCode::FORBIDDEN,
        axum::response::Html(
            "<!doctype html><title>Form expired</title><p>This form has expired or did not \
             come from this site. Go back, reload the page and try again.</p>",
        ),
    )
        .into_response()
}

impl<S: Send + Sync> FromRequestParts<S> for ConsoleStaff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if parts.extensions.get::<AuthUnavailable>().is_some() {
            return Err((
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable. Try again shortly.",
            )
                .into_response());
        }
        match parts.extensions.get::<Caller>().cloned() {
            Some(Caller {
                principal: Principal::Staff(user),
                via: Via::Session { csrf },
            }) => Ok(ConsoleStaff { user, csrf }),
            _ => Err(Redirect::to("/sign-in").into_response()),
        }
    }
}

/// A customer signed in to the portal.
#[derive(Debug, Clone)]
pub struct PortalCustomer {
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub csrf: String,
}

impl<S: Send + Sync> FromRequestParts<S> for PortalCustomer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Caller>().cloned() {
            Some(Caller {
                principal:
                    Principal::Customer {
                        tenant_id,
                        customer_id,
                    },
                via: Via::Session { csrf },
            }) => Ok(PortalCustomer {
                tenant_id,
                customer_id,
                csrf,
            }),
            _ => Err((
                axum::http::StatusCode::UNAUTHORIZED,
                axum::response::Html(
                    "<!doctype html><title>Sign in</title><p>Open the sign-in link we sent \
                     you by mail to see your requests, or <a href=\"/portal/sign-in\">ask \
                     for a new one</a>.</p>",
                ),
            )
                .into_response()),
        }
    }
}

/// The interface language of a request: the language cookie, then the signed-in user's
/// setting, then `Accept-Language`, then English.
pub fn locale_of(headers: &HeaderMap, user: Option<&UserRow>) -> Locale {
    let jar = CookieJar::from_headers(headers);
    if let Some(l) = jar.get(LANG_COOKIE).and_then(|c| Locale::parse(c.value())) {
        return l;
    }
    if let Some(l) = user.and_then(|u| Locale::parse(&u.locale)) {
        return l;
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Locale::from_accept_language)
        .unwrap_or_default()
}
