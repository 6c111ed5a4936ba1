//! The agent console: server-rendered pages (askama templates, compile-time checked) with
//! progressive enhancement from a small script; no inline script anywhere (the CSP forbids
//! it). This module holds the shell: sign-in, home, language switch, sign-out, password and
//! API-token settings, and user administration.

mod admin;
mod cases;
mod customers;
mod dashboard;
mod identity;
mod imports;
mod letter;
mod mailboxes;
mod notifications;
mod pages;
mod tasks;

pub use admin::{
    calendar_post, macro_delete_post, macros_post, members_post, policy_post, target_delete_post,
    targets_page, teams_page, teams_post, templates_page, templates_post, trigger_delete_post,
    triggers_page, triggers_post,
};
pub use cases::{
    case_page, create_case_post, macro_post, merge_post, presence, queue_page, reply_post,
    transfer_post, update_post,
};

pub use customers::{
    customer_page, customers_page, customers_post, flag_post, note_post, remember_post,
};
pub use dashboard::dashboard;
pub use identity::{
    dismiss_post, duplicates_page, erase_page, erase_post, export_get,
    merge_post as customer_merge_post, undo_post,
};
pub use imports::{imports_page, imports_post};
pub use letter::letter;
pub use mailboxes::{mailbox_delete_post, mailbox_poll_post, mailboxes_page, mailboxes_post};
pub use notifications::{
    notification_read_post, notifications_count, notifications_page, notifications_read_all_post,
};
pub use tasks::{nps_settings_post, scorecards_page, task_complete_post, tasks_page};

pub use pages::*;

use crate::auth::{PRE_CSRF_COOKIE, SESSION_COOKIE};
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

/// Renders a template, or answers 500 (and logs) if rendering fails.
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "page could not be rendered",
            )
                .into_response()
        }
    }
}

/// The session cookie: HttpOnly, SameSite=Lax, Secure behind https, whole site.
pub fn session_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .build()
}

/// The CSRF token for forms shown before sign-in (double-submit cookie): reuses the
/// visitor's cookie or sets a new one.
pub fn pre_csrf(jar: CookieJar, secure: bool) -> (CookieJar, String) {
    if let Some(c) = jar.get(PRE_CSRF_COOKIE)
        && c.value().len() >= 32
    {
        let v = c.value().to_string();
        return (jar, v);
    }
    let v = concierge_app::secrets::random_secret();
    let cookie = Cookie::build((PRE_CSRF_COOKIE, v.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .build();
    (jar.add(cookie), v)
}
