//! The staff member's notifications in the console (issue 7 item 2): assignments, @mentions
//! in internal notes and escalations. `/notifications` lists them with the unread count and
//! marks one or all read; `/notifications/count` is the small fragment the navigation loads
//! (htmx) to show the unread count on every page. Only the signed-in user's own
//! notifications are ever read or changed; another user's id is a 404.

use super::cases::{unavailable, when};
use super::{Shell, render};
use crate::auth::ConsoleStaff;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use concierge_app::cases::CaseError;
use concierge_store::cases::NotificationRow;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage<'a> {
    shell: Shell<'a>,
    items: Vec<NotificationRow>,
    unread: i64,
}

impl NotificationsPage<'_> {
    fn when(&self, ms: &i64) -> String {
        when(*ms)
    }
    fn kind_label(&self, kind: &str) -> &str {
        match kind {
            "assigned" => self.shell.t.get("notify.kind_assigned"),
            "mention" => self.shell.t.get("notify.kind_mention"),
            "escalation" => self.shell.t.get("notify.kind_escalation"),
            _ => self.shell.t.get("notify.kind_other"),
        }
    }
}

/// `GET /notifications`.
pub async fn notifications_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
) -> Response {
    match s.app.my_notifications(&staff.user).await {
        Ok((items, unread)) => render(&NotificationsPage {
            shell: Shell::new(&s, &headers, &staff),
            items,
            unread,
        }),
        Err(_) => unavailable(),
    }
}

/// `GET /notifications/count`: the navigation link's text with the unread count (a fragment
/// for htmx; plain text inside the link without script).
pub async fn notifications_count(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
) -> Response {
    let shell = Shell::new(&s, &headers, &staff);
    match s.app.unread_notifications(&staff.user).await {
        Ok(n) => {
            let label = esc(shell.t.get("notify.nav"));
            let html = if n > 0 {
                format!("{label} <span class=\"badge\" data-testid=\"unread-count\">{n}</span>")
            } else {
                label
            };
            Html(html).into_response()
        }
        Err(_) => unavailable(),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /notifications/{id}/read`: marks one of the user's own notifications read.
pub async fn notification_read_post(
    State(s): State<AppState>,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    match s.app.mark_notification_read(&staff.user, id).await {
        Ok(()) => Redirect::to("/notifications").into_response(),
        Err(CaseError::NotFound(_)) => {
            (StatusCode::NOT_FOUND, "No such notification.").into_response()
        }
        Err(_) => unavailable(),
    }
}

/// `POST /notifications/read-all`.
pub async fn notifications_read_all_post(
    State(s): State<AppState>,
    staff: ConsoleStaff,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    match s.app.mark_all_notifications_read(&staff.user).await {
        Ok(_) => Redirect::to("/notifications").into_response(),
        Err(_) => unavailable(),
    }
}
