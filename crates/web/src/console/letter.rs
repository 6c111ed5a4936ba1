//! The printable letter (issue 4 §3, principle P5: "if the owner wrote a letter, answer with a
//! letter"): a public reply routed to `letter_page` is shown as a page to print and post —
//! sender, date, the customer's name and postal address from their profile, the subject and
//! the reply — with no console chrome, in the interface language of the agent.

use super::cases::refuse_unless;
use super::render;
use crate::auth::{ConsoleStaff, locale_of};
use crate::i18n::Tr;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use concierge_domain::{CaseId, CustomerId, Permission};

#[derive(Template)]
#[template(path = "letter.html")]
struct LetterPage<'a> {
    t: Tr<'a>,
    sender: String,
    date: String,
    recipient: String,
    address_lines: Vec<String>,
    reference: String,
    subject: String,
    paragraphs: Vec<String>,
    signed: String,
    case_id: i64,
}

/// `GET /cases/{id}/letters/{message_id}`: a letter reply, ready to print.
pub async fn letter(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Path((id, message_id)): Path<(i64, i64)>,
) -> Response {
    if let Some(r) = refuse_unless(&staff, Permission::WorkCases, "Your role cannot see cases.") {
        return r;
    }
    let tenant = staff.user.tenant_id;
    let not_found = || (StatusCode::NOT_FOUND, "No such letter.").into_response();
    let case = match s.app.store.case(tenant, CaseId(id)).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found(),
        Err(_) => return super::cases::unavailable(),
    };
    let messages = match s.app.store.case_messages(tenant, CaseId(id), false).await {
        Ok(m) => m,
        Err(_) => return super::cases::unavailable(),
    };
    let Some(m) = messages
        .into_iter()
        .find(|m| m.id == message_id && m.route.as_deref() == Some("letter_page"))
    else {
        return not_found();
    };
    let profile = s
        .app
        .customer_profile(tenant, CustomerId(case.customer_id))
        .await
        .ok();
    let address_lines: Vec<String> = profile
        .as_ref()
        .and_then(|p| {
            let addrs: Vec<_> = p.contacts.iter().filter(|c| c.kind == "address").collect();
            addrs
                .iter()
                .find(|c| c.primary)
                .or(addrs.first())
                .map(|c| c.value.lines().map(str::to_string).collect())
        })
        .unwrap_or_default();
    let tenant_name = s
        .app
        .store
        .tenant_by_id(tenant)
        .await
        .ok()
        .flatten()
        .map(|t| t.name)
        .unwrap_or_default();
    let date = jiff::Timestamp::from_millisecond(m.created_at)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let t = Tr {
        i18n: &s.i18n,
        locale: locale_of(&headers, Some(&staff.user)),
    };
    render(&LetterPage {
        t,
        sender: tenant_name,
        date,
        recipient: case.customer_name.clone(),
        address_lines,
        reference: format!("#{}", case.number),
        subject: case.subject.clone(),
        paragraphs: m
            .body_text
            .split("\n\n")
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        signed: m.author_name.unwrap_or_default(),
        case_id: case.id,
    })
}
