//! `/admin/mailboxes`: the tenant's IMAP mailboxes for administrators — each with its server,
//! folder, what happens after a message is committed, and the poller's state (last poll, last
//! error); add one, poll one now, delete one. The password field is write-only: it is never put
//! into a page. The same checks as the API (`concierge_app::mailboxes::validate`).

use super::cases::{refuse_unless, unavailable, when};
use super::{Shell, render};
use crate::auth::ConsoleStaff;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use concierge_app::cases::CaseError;
use concierge_app::mailboxes::MailboxInput;
use concierge_domain::Permission;
use serde::Deserialize;

fn guard(staff: &ConsoleStaff) -> Option<Response> {
    refuse_unless(
        staff,
        Permission::ManageSettings,
        "Only administrators can manage mailboxes.",
    )
}

/// One mailbox as the page shows it.
pub struct MailboxView {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub server: String,
    pub folder: String,
    pub after: String,
    pub enabled: bool,
    pub last_polled: String,
    pub last_error: String,
    pub messages_taken: i64,
}

#[derive(Template)]
#[template(path = "admin_mailboxes.html")]
struct MailboxesTemplate<'a> {
    shell: Shell<'a>,
    mailboxes: Vec<MailboxView>,
    error: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

async fn page_with(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    error: Option<String>,
    message: Option<String>,
) -> Response {
    let refused = error.is_some();
    page_status(s, headers, staff, error, message, refused).await
}

/// The page; `refused` answers 422 (the input was refused), otherwise 200 with the flash.
async fn page_status(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    error: Option<String>,
    message: Option<String>,
    refused: bool,
) -> Response {
    let shell = Shell::new(s, headers, staff);
    let Ok(rows) = s.app.store.mailboxes(staff.user.tenant_id).await else {
        return unavailable();
    };
    let mailboxes = rows
        .into_iter()
        .map(|m| MailboxView {
            id: m.id,
            server: format!(
                "{}:{} ({})",
                m.settings.imap_host, m.settings.imap_port, m.settings.tls_mode
            ),
            after: match &m.settings.move_to {
                Some(f) if m.settings.after_commit == "move" => {
                    format!("{} {f}", shell.t.get("mailbox.move_to"))
                }
                _ => shell.t.get("mailbox.mark_seen").to_string(),
            },
            name: m.settings.name,
            address: m.settings.address,
            folder: m.settings.folder,
            enabled: m.settings.enabled,
            last_polled: m.last_polled_at.map(when).unwrap_or_default(),
            last_error: m.last_error.unwrap_or_default(),
            messages_taken: m.messages_taken,
        })
        .collect();
    let page = render(&MailboxesTemplate {
        shell,
        mailboxes,
        error,
        message,
    });
    if refused {
        (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
    } else {
        page
    }
}

/// `GET /admin/mailboxes`.
pub async fn mailboxes_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Query(q): Query<DoneQuery>,
) -> Response {
    if let Some(r) = guard(&staff) {
        return r;
    }
    let msg = q.done.as_ref().map(|_| {
        Shell::new(&s, &headers, &staff)
            .t
            .get("admin.saved")
            .to_string()
    });
    page_with(&s, &headers, &staff, None, msg).await
}

#[derive(Deserialize)]
pub struct MailboxForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    imap_host: String,
    #[serde(default)]
    imap_port: String,
    #[serde(default)]
    tls_mode: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    folder: String,
    #[serde(default)]
    move_to: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

fn nonempty(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// `POST /admin/mailboxes`: adds a mailbox (moving to a folder when one is named).
pub async fn mailboxes_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Form(f): Form<MailboxForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = guard(&staff) {
        return r;
    }
    let Ok(port) = f.imap_port.trim().parse::<i64>() else {
        let m = "imap_port must be a number such as 993".to_string();
        return page_with(&s, &headers, &staff, Some(m), None).await;
    };
    let move_to = nonempty(&f.move_to);
    let input = MailboxInput {
        name: f.name,
        address: f.address,
        imap_host: f.imap_host,
        imap_port: port,
        tls_mode: nonempty(&f.tls_mode),
        username: f.username,
        password: (!f.password.is_empty()).then_some(f.password),
        folder: nonempty(&f.folder),
        after_commit: Some(if move_to.is_some() { "move" } else { "seen" }.into()),
        move_to,
        ..MailboxInput::default()
    };
    match s.app.create_mailbox(staff.user.tenant_id, &input).await {
        Ok(_) => Redirect::to("/admin/mailboxes?done=1").into_response(),
        Err(CaseError::Store(_)) => unavailable(),
        Err(e) => page_with(&s, &headers, &staff, Some(e.to_string()), None).await,
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/mailboxes/{id}/poll`: polls the mailbox now and shows what happened.
pub async fn mailbox_poll_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = guard(&staff) {
        return r;
    }
    let tenant = staff.user.tenant_id;
    match s.app.store.mailbox(tenant, id).await {
        Ok(Some(_)) => {}
        Ok(None) => return (StatusCode::NOT_FOUND, "no such mailbox").into_response(),
        Err(_) => return unavailable(),
    }
    // In its own task, so a request that times out does not leave the mailbox leased.
    let app = s.app.clone();
    let polled = tokio::spawn(async move {
        let node = format!("{}#console", app.config.node_name());
        app.poll_mailbox(tenant, id, &node).await
    })
    .await;
    match polled {
        Ok(Ok(r)) => match r.error {
            // The poll ran; its failure is the mailbox's state, not a refused input.
            Some(e) => page_status(&s, &headers, &staff, Some(e), None, false).await,
            None => {
                let t = Shell::new(&s, &headers, &staff).t;
                let msg = format!(
                    "{} {}",
                    t.get("mailbox.polled"),
                    r.processed + r.duplicates + r.ignored + r.quarantined
                );
                page_with(&s, &headers, &staff, None, Some(msg)).await
            }
        },
        Ok(Err(_)) | Err(_) => unavailable(),
    }
}

/// `POST /admin/mailboxes/{id}/delete`.
pub async fn mailbox_delete_post(
    State(s): State<AppState>,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(r) = guard(&staff) {
        return r;
    }
    match s.app.store.delete_mailbox(staff.user.tenant_id, id).await {
        Ok(true) => Redirect::to("/admin/mailboxes?done=1").into_response(),
        Ok(false) => (StatusCode::NOT_FOUND, "no such mailbox").into_response(),
        Err(_) => unavailable(),
    }
}
