//! Console pages and their form handlers.

use super::{pre_csrf, render, session_cookie};
use crate::auth::{
    Caller, ConsoleStaff, LANG_COOKIE, PRE_CSRF_COOKIE, SESSION_COOKIE, csrf_failed_page, locale_of,
};
use crate::i18n::Tr;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use concierge_app::AuthError;
use concierge_domain::{Locale, Permission, Role, TokenId};
use serde::Deserialize;
use std::net::SocketAddr;

/// What every console page's frame needs.
pub struct Shell<'a> {
    pub t: Tr<'a>,
    pub csrf: String,
    pub email: String,
    pub is_admin: bool,
    /// Managers and administrators: the case admin pages (teams, targets, triggers, templates).
    pub can_manage_rules: bool,
    /// Managers and administrators: the CSV import page.
    pub can_import: bool,
    pub locales: Vec<(&'static str, &'static str, bool)>,
}

impl<'a> Shell<'a> {
    pub fn new(s: &'a AppState, headers: &HeaderMap, staff: &ConsoleStaff) -> Shell<'a> {
        let locale = locale_of(headers, Some(&staff.user));
        Shell {
            t: Tr {
                i18n: &s.i18n,
                locale,
            },
            csrf: staff.csrf.clone(),
            email: staff.user.email.clone(),
            is_admin: staff.user.role.can(Permission::ManageUsers),
            can_manage_rules: staff.user.role.can(Permission::ManageRules),
            can_import: staff.user.role.can(Permission::ImportData),
            locales: locale_options(locale),
        }
    }
}

fn locale_options(current: Locale) -> Vec<(&'static str, &'static str, bool)> {
    Locale::ALL
        .iter()
        .map(|l| (l.tag(), l.native_name(), *l == current))
        .collect()
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    t: Tr<'a>,
    csrf: String,
    email: String,
    error: Option<String>,
    locales: Vec<(&'static str, &'static str, bool)>,
}

/// `GET /sign-in`.
pub async fn sign_in_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    caller: Option<axum::Extension<Caller>>,
) -> Response {
    if let Some(axum::Extension(Caller {
        principal: concierge_app::Principal::Staff(_),
        ..
    })) = caller
    {
        return Redirect::to("/").into_response();
    }
    let locale = locale_of(&headers, None);
    let (jar, csrf) = pre_csrf(jar, s.app.config.secure_cookies());
    (
        jar,
        render(&SignInPage {
            t: Tr {
                i18n: &s.i18n,
                locale,
            },
            csrf,
            email: String::new(),
            error: None,
            locales: locale_options(locale),
        }),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /sign-in`.
pub async fn sign_in(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<SignInForm>,
) -> Response {
    let expected = jar.get(PRE_CSRF_COOKIE).map(|c| c.value().to_string());
    if !expected.is_some_and(|e| concierge_app::secrets::constant_time_eq(&e, &f.csrf)) {
        return csrf_failed_page();
    }
    let locale = locale_of(&headers, None);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let tenant = s.tenant_for_host(host).await;
    let result = s
        .app
        .sign_in(tenant, &f.email, &f.password, &peer.ip().to_string())
        .await;
    match result {
        Ok((_user, session)) => {
            // A new session id at every sign-in; any previous session cookie is replaced.
            if let Some(old) = jar.get(SESSION_COOKIE) {
                let _ = s.app.sign_out(old.value()).await;
            }
            let jar = jar.add(session_cookie(
                session.cookie_value,
                s.app.config.secure_cookies(),
            ));
            (jar, Redirect::to("/")).into_response()
        }
        Err(e) => {
            let (status, key) = match &e {
                AuthError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "sign_in.throttled"),
                AuthError::InvalidCredentials | AuthError::Invalid(_) | AuthError::NotFound => {
                    (StatusCode::UNAUTHORIZED, "sign_in.invalid")
                }
                AuthError::Store(_) | AuthError::Internal(_) => {
                    tracing::warn!(error = %e, "sign-in failed");
                    (StatusCode::SERVICE_UNAVAILABLE, "error.unavailable")
                }
            };
            let t = Tr {
                i18n: &s.i18n,
                locale,
            };
            let (jar, csrf) = pre_csrf(jar, s.app.config.secure_cookies());
            (
                status,
                jar,
                render(&SignInPage {
                    t,
                    csrf,
                    email: f.email.chars().take(254).collect(),
                    error: Some(t.get(key).to_string()),
                    locales: locale_options(locale),
                }),
            )
                .into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /sign-out`: ends the session on the server.
pub async fn sign_out(
    State(s): State<AppState>,
    jar: CookieJar,
    staff: ConsoleStaff,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(c) = jar.get(SESSION_COOKIE) {
        let _ = s.app.sign_out(c.value()).await;
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    (jar, Redirect::to("/sign-in")).into_response()
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    shell: Shell<'a>,
    name: String,
    role: &'static str,
    customers: i64,
    /// The user's latest notifications (assignments, escalations, customer replies).
    notifications: Vec<concierge_store::cases::NotificationRow>,
}

/// `GET /`.
pub async fn home(State(s): State<AppState>, headers: HeaderMap, staff: ConsoleStaff) -> Response {
    let customers = s
        .app
        .store
        .count_customers(staff.user.tenant_id)
        .await
        .unwrap_or(0);
    let notifications = s
        .app
        .store
        .notifications(staff.user.tenant_id, staff.user.id.0, 20)
        .await
        .unwrap_or_default();
    render(&HomePage {
        shell: Shell::new(&s, &headers, &staff),
        name: staff.user.display_name.clone(),
        role: staff.user.role.as_str(),
        customers,
        notifications,
    })
}

#[derive(Deserialize)]
pub struct LangForm {
    lang: String,
    #[serde(rename = "_csrf")]
    csrf: String,
    /// Where to go back to (a local path only).
    back: Option<String>,
}

/// `POST /lang`: switches the interface language (cookie, and the user's setting).
pub async fn switch_lang(
    State(s): State<AppState>,
    jar: CookieJar,
    caller: Option<axum::Extension<Caller>>,
    Form(f): Form<LangForm>,
) -> Response {
    // Signed-in: the session's CSRF token; otherwise the pre-sign-in cookie.
    let expected = match &caller {
        Some(axum::Extension(Caller {
            via: crate::auth::Via::Session { csrf },
            ..
        })) => Some(csrf.clone()),
        _ => jar.get(PRE_CSRF_COOKIE).map(|c| c.value().to_string()),
    };
    if !expected.is_some_and(|e| concierge_app::secrets::constant_time_eq(&e, &f.csrf)) {
        return csrf_failed_page();
    }
    let Some(locale) = Locale::parse(&f.lang) else {
        return (StatusCode::BAD_REQUEST, "unknown language").into_response();
    };
    if let Some(axum::Extension(Caller {
        principal: concierge_app::Principal::Staff(u),
        ..
    })) = &caller
    {
        let _ = s
            .app
            .store
            .set_user_locale(u.tenant_id, u.id, locale.tag())
            .await;
    }
    let jar = jar.add(
        Cookie::build((LANG_COOKIE, locale.tag().to_string()))
            .path("/")
            .same_site(SameSite::Lax)
            .secure(s.app.config.secure_cookies())
            .max_age(time_year())
            .build(),
    );
    let back = f
        .back
        .filter(|b| b.starts_with('/') && !b.starts_with("//") && !b.contains('\\'))
        .unwrap_or_else(|| "/".into());
    (jar, Redirect::to(&back)).into_response()
}

fn time_year() -> time::Duration {
    time::Duration::days(365)
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage<'a> {
    shell: Shell<'a>,
    message: Option<String>,
    error: Option<String>,
}

/// `GET /settings/password`.
pub async fn password_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
) -> Response {
    render(&PasswordPage {
        shell: Shell::new(&s, &headers, &staff),
        message: None,
        error: None,
    })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /settings/password`: every session of the user ends; this browser gets a new one.
pub async fn change_password(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    staff: ConsoleStaff,
    Form(f): Form<PasswordForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    match s.app.change_password(&staff.user, &f.current, &f.new).await {
        Ok(session) => {
            let jar = jar.add(session_cookie(
                session.cookie_value,
                s.app.config.secure_cookies(),
            ));
            let mut shell = Shell::new(&s, &headers, &staff);
            shell.csrf = session.csrf_token;
            let msg = shell.t.get("password.changed").to_string();
            (
                jar,
                render(&PasswordPage {
                    shell,
                    message: Some(msg),
                    error: None,
                }),
            )
                .into_response()
        }
        Err(e) => {
            let shell = Shell::new(&s, &headers, &staff);
            let error = match e {
                AuthError::InvalidCredentials => shell.t.get("password.wrong_current").to_string(),
                AuthError::Invalid(m) => m,
                _ => shell.t.get("error.unavailable").to_string(),
            };
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                render(&PasswordPage {
                    shell,
                    message: None,
                    error: Some(error),
                }),
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage<'a> {
    shell: Shell<'a>,
    tokens: Vec<concierge_store::ApiTokenRow>,
    new_token: Option<String>,
    error: Option<String>,
}

async fn tokens_page_with(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    new_token: Option<String>,
    error: Option<String>,
) -> Response {
    let tokens = match s
        .app
        .store
        .list_api_tokens(staff.user.tenant_id, staff.user.id)
        .await
    {
        Ok(t) => t,
        Err(_) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable.",
            )
                .into_response();
        }
    };
    render(&TokensPage {
        shell: Shell::new(s, headers, staff),
        tokens,
        new_token,
        error,
    })
}

/// `GET /settings/tokens`.
pub async fn tokens_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
) -> Response {
    tokens_page_with(&s, &headers, &staff, None, None).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    name: Option<String>,
    revoke: Option<i64>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /settings/tokens`: create (shown once) or revoke.
pub async fn tokens_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Form(f): Form<TokenForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(id) = f.revoke {
        let err = s
            .app
            .revoke_api_token(&staff.user, TokenId(id))
            .await
            .err()
            .map(|e| e.to_string());
        return tokens_page_with(&s, &headers, &staff, None, err).await;
    }
    match s
        .app
        .create_api_token(&staff.user, f.name.as_deref().unwrap_or(""))
        .await
    {
        Ok((token, _)) => tokens_page_with(&s, &headers, &staff, Some(token), None).await,
        Err(e) => tokens_page_with(&s, &headers, &staff, None, Some(e.to_string())).await,
    }
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage<'a> {
    shell: Shell<'a>,
    users: Vec<concierge_store::UserRow>,
    created: Option<(String, String)>,
    error: Option<String>,
}

async fn users_page_with(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    created: Option<(String, String)>,
    error: Option<String>,
) -> Response {
    if !staff.user.role.can(Permission::ManageUsers) {
        return (
            StatusCode::FORBIDDEN,
            "Only administrators can manage users.",
        )
            .into_response();
    }
    let users = match s.app.store.list_users(staff.user.tenant_id).await {
        Ok(u) => u,
        Err(_) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable.",
            )
                .into_response();
        }
    };
    render(&UsersPage {
        shell: Shell::new(s, headers, staff),
        users,
        created,
        error,
    })
}

/// `GET /admin/users` (admins only).
pub async fn users_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
) -> Response {
    users_page_with(&s, &headers, &staff, None, None).await
}

#[derive(Deserialize)]
pub struct UserForm {
    email: String,
    role: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/users`: adds a user with a generated password, shown once.
pub async fn users_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Form(f): Form<UserForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if !staff.user.role.can(Permission::ManageUsers) {
        return (
            StatusCode::FORBIDDEN,
            "Only administrators can manage users.",
        )
            .into_response();
    }
    let role = match Role::parse(&f.role) {
        Ok(r) => r,
        Err(e) => return users_page_with(&s, &headers, &staff, None, Some(e.to_string())).await,
    };
    let pw = concierge_app::secrets::generate_password();
    match s
        .app
        .add_user(staff.user.tenant_id, &f.email, None, role, &pw)
        .await
    {
        Ok(u) => users_page_with(&s, &headers, &staff, Some((u.email, pw)), None).await,
        Err(e) => users_page_with(&s, &headers, &staff, None, Some(e.to_string())).await,
    }
}
