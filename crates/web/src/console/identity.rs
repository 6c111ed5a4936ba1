//! Console pages for identity and privacy (issue 3): the list of possible duplicates with
//! their reasons (merge, or "not a duplicate"), and on the customer page: export (a JSON
//! download), merge into another customer (with the duplicate suggestions), undo of a merge,
//! and erase (admins, after a confirmation page).
//!
//! Names are shown through askama's escaping; nothing here is `|safe`. Forms carry CSRF.

use super::{Shell, render};
use crate::auth::ConsoleStaff;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use concierge_app::identity::{DuplicatePair, IdentityError, MergeSummary};
use concierge_domain::identity::DuplicateReason;
use concierge_domain::{CustomerId, Permission};
use concierge_store::memory::CustomerProfile;
use serde::Deserialize;

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The database is unavailable. Try again shortly.",
    )
        .into_response()
}

/// An identity error as a plain page with the right status.
fn error_page(e: IdentityError) -> Response {
    let status = match &e {
        IdentityError::Invalid(_) | IdentityError::SameCustomer => StatusCode::UNPROCESSABLE_ENTITY,
        IdentityError::NotFound(_) => StatusCode::NOT_FOUND,
        IdentityError::Conflict(..) => StatusCode::CONFLICT,
        IdentityError::Forbidden => StatusCode::FORBIDDEN,
        IdentityError::Store(_) => return unavailable(),
    };
    (status, e.to_string()).into_response()
}

/// A merge line on the customer page.
pub struct MergeLine {
    pub id: i64,
    pub source_id: i64,
    pub target_id: i64,
    pub when: String,
    pub undone: bool,
}

/// A merge suggestion: another customer that may be the same person.
pub struct Suggestion {
    pub id: i64,
    pub name: String,
}

/// What the customer page shows of identity: merge suggestions and merges.
#[derive(Default)]
pub struct IdentityView {
    pub suggestions: Vec<Suggestion>,
    pub merges: Vec<MergeLine>,
    pub can_undo: bool,
    pub can_erase: bool,
}

fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// Loads the identity part of a customer page.
pub async fn identity_view(
    s: &AppState,
    staff: &ConsoleStaff,
    p: &CustomerProfile,
) -> Result<IdentityView, IdentityError> {
    let tenant = staff.user.tenant_id;
    let suggestions = if p.merged_into.is_none() && p.erased_at.is_none() {
        s.app
            .duplicates_of(tenant, p.id)
            .await?
            .into_iter()
            .map(|d| {
                let other = if d.a.id == p.id.0 { d.b } else { d.a };
                Suggestion {
                    id: other.id,
                    name: other.name,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let merges = s
        .app
        .customer_merges(tenant, p.id)
        .await?
        .into_iter()
        .map(|m| MergeLine {
            id: m.id,
            source_id: m.source_id,
            target_id: m.target_id,
            when: when(m.merged_at),
            undone: m.undone_at.is_some(),
        })
        .collect();
    Ok(IdentityView {
        suggestions,
        merges,
        can_undo: staff.user.role.can(Permission::WriteCustomers),
        can_erase: staff.user.role.can(Permission::EraseCustomers),
    })
}

struct PairView {
    a_id: i64,
    a_name: String,
    b_id: i64,
    b_name: String,
    reasons: Vec<String>,
}

#[derive(Template)]
#[template(path = "duplicates.html")]
struct DuplicatesPage<'a> {
    shell: Shell<'a>,
    pairs: Vec<PairView>,
    next_cursor: Option<String>,
    can_write: bool,
}

#[derive(Deserialize)]
pub struct CursorQuery {
    cursor: Option<String>,
}

fn reason_label(shell: &Shell<'_>, r: DuplicateReason) -> String {
    shell
        .t
        .get(match r {
            DuplicateReason::SharedEmail => "identity.reason_shared_email",
            DuplicateReason::SharedPhone => "identity.reason_shared_phone",
            DuplicateReason::CloseNameSameAddress => "identity.reason_close_name_same_address",
        })
        .to_string()
}

/// `GET /customers/duplicates`: possible duplicates, with reasons and actions.
pub async fn duplicates_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Query(q): Query<CursorQuery>,
) -> Response {
    if !staff.user.role.can(Permission::ReadCustomers) {
        return (StatusCode::FORBIDDEN, "Your role cannot see customers.").into_response();
    }
    let page = match s
        .app
        .duplicates(staff.user.tenant_id, q.cursor.as_deref(), Some(50))
        .await
    {
        Ok(p) => p,
        Err(IdentityError::Invalid(_)) => {
            match s.app.duplicates(staff.user.tenant_id, None, Some(50)).await {
                Ok(p) => p,
                Err(e) => return error_page(e),
            }
        }
        Err(e) => return error_page(e),
    };
    let shell = Shell::new(&s, &headers, &staff);
    let pairs = page
        .pairs
        .into_iter()
        .map(|p: DuplicatePair| PairView {
            reasons: p.reasons.iter().map(|r| reason_label(&shell, *r)).collect(),
            a_id: p.a.id,
            a_name: p.a.name,
            b_id: p.b.id,
            b_name: p.b.name,
        })
        .collect();
    render(&DuplicatesPage {
        shell,
        pairs,
        next_cursor: page.next_cursor,
        can_write: staff.user.role.can(Permission::WriteCustomers),
    })
}

#[derive(Deserialize)]
pub struct DismissForm {
    a: i64,
    b: i64,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /customers/duplicates/dismiss`: "not a duplicate", remembered.
pub async fn dismiss_post(
    State(s): State<AppState>,
    staff: ConsoleStaff,
    Form(f): Form<DismissForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if !staff.user.role.can(Permission::WriteCustomers) {
        return (StatusCode::FORBIDDEN, "Your role cannot change customers.").into_response();
    }
    match s
        .app
        .dismiss_duplicate(&staff.user, CustomerId(f.a), CustomerId(f.b))
        .await
    {
        Ok(()) => Redirect::to("/customers/duplicates").into_response(),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
pub struct MergeForm {
    /// A suggested customer (select).
    into: Option<String>,
    /// Or a customer id typed in.
    into_id: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /customers/{id}/merge`: merges this customer into another, then shows that one.
pub async fn merge_post(
    State(s): State<AppState>,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<MergeForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    let typed = f
        .into_id
        .as_deref()
        .map(|v| v.trim().trim_start_matches('#'))
        .filter(|v| !v.is_empty());
    let chosen = typed.or(f.into.as_deref().map(str::trim).filter(|v| !v.is_empty()));
    let Some(into) = chosen else {
        return error_page(IdentityError::Invalid(
            "choose the customer to merge into".into(),
        ));
    };
    let Ok(into) = into.parse::<i64>() else {
        return error_page(IdentityError::Invalid(
            "the customer to merge into is a customer number, e.g. 42".into(),
        ));
    };
    match s
        .app
        .merge_customers(&staff.user, CustomerId(id), CustomerId(into))
        .await
    {
        Ok(m) => Redirect::to(&format!("/customers/{}#identity", m.target_id)).into_response(),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    /// The erase confirmation checkbox.
    confirm: Option<String>,
}

/// `POST /customers/merges/{merge_id}/undo`: undoes a merge, then shows the restored customer.
pub async fn undo_post(
    State(s): State<AppState>,
    staff: ConsoleStaff,
    Path(merge_id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    match s.app.undo_merge(&staff.user, merge_id).await {
        Ok(m) => {
            let m = MergeSummary::from(m);
            Redirect::to(&format!("/customers/{}#identity", m.source_id)).into_response()
        }
        Err(e) => error_page(e),
    }
}

/// `GET /customers/{id}/export`: everything about the customer as a JSON download (audited).
pub async fn export_get(
    State(s): State<AppState>,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
) -> Response {
    match s.app.export_customer(&staff.user, CustomerId(id)).await {
        Ok(doc) => crate::api::download_json(id, &doc),
        Err(e) => error_page(e),
    }
}

#[derive(Template)]
#[template(path = "customer_erase.html")]
struct ErasePage<'a> {
    shell: Shell<'a>,
    id: i64,
    name: String,
}

/// `GET /customers/{id}/erase`: the confirmation step (admins).
pub async fn erase_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
) -> Response {
    if !staff.user.role.can(Permission::EraseCustomers) {
        return error_page(IdentityError::Forbidden);
    }
    let p = match s
        .app
        .customer_profile(staff.user.tenant_id, CustomerId(id))
        .await
    {
        Ok(p) => p,
        Err(e) => return error_page(e.into()),
    };
    render(&ErasePage {
        shell: Shell::new(&s, &headers, &staff),
        id,
        name: p.display_name,
    })
}

/// `POST /customers/{id}/erase`: erases after the confirmation box was ticked.
pub async fn erase_post(
    State(s): State<AppState>,
    staff: ConsoleStaff,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(&f.csrf) {
        return r;
    }
    if f.confirm.is_none() {
        return error_page(IdentityError::Invalid(
            "tick the confirmation box to erase this customer".into(),
        ));
    }
    match s.app.erase_customer(&staff.user, CustomerId(id)).await {
        Ok(_) => Redirect::to(&format!("/customers/{id}")).into_response(),
        Err(e) => error_page(e),
    }
}
