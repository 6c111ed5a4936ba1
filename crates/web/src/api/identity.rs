//! Identity and privacy over the API (issue 3): duplicate candidates and dismissing a pair,
//! merging a customer into another and undoing it, exporting everything about a customer,
//! and erasing one (admins). Every route is scoped to the caller's tenant: another tenant's
//! customer or merge answers 404, exactly like a missing one.

use crate::auth::{ApiStaff, require};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use concierge_app::identity::{IdentityError, MergeSummary};
use concierge_domain::{CustomerId, Permission};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Invalid(m) => ApiError::invalid(m),
            IdentityError::SameCustomer => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "same_customer",
                IdentityError::SameCustomer.to_string(),
            ),
            IdentityError::NotFound(what) => ApiError::not_found(what),
            IdentityError::Conflict(code, m) => ApiError::new(StatusCode::CONFLICT, code, m),
            IdentityError::Forbidden => ApiError::forbidden(),
            IdentityError::Store(s) => s.into(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct DuplicatesQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Pairs per page (1-200, default 50).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct PairSideOut {
    pub id: i64,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct DuplicatePairOut {
    pub a: PairSideOut,
    pub b: PairSideOut,
    /// shared_email, shared_phone and/or close_name_same_address.
    pub reasons: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DuplicatesOut {
    pub pairs: Vec<DuplicatePairOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Possible duplicates for review: customers sharing an email address or phone number, or
/// with the same or nearly the same name at the same postal address. Pairs dismissed as "not
/// a duplicate", merged and erased customers are left out. Paged by cursor.
#[utoipa::path(get, path = "/api/v1/customers/duplicates", tag = "customers",
    params(DuplicatesQuery),
    responses((status = 200, body = DuplicatesOut), (status = 422, body = ErrorBody)))]
pub async fn duplicates(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiQuery(q): ApiQuery<DuplicatesQuery>,
) -> Result<ApiJson<DuplicatesOut>, ApiError> {
    require(&user, Permission::ReadCustomers)?;
    let page = s
        .app
        .duplicates(user.tenant_id, q.cursor.as_deref(), q.limit)
        .await?;
    Ok(ApiJson(DuplicatesOut {
        pairs: page
            .pairs
            .into_iter()
            .map(|p| DuplicatePairOut {
                a: PairSideOut {
                    id: p.a.id,
                    name: p.a.name,
                },
                b: PairSideOut {
                    id: p.b.id,
                    name: p.b.name,
                },
                reasons: p.reasons.iter().map(|r| r.as_str().to_string()).collect(),
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DismissIn {
    /// The two customers that are not the same person.
    pub a: i64,
    pub b: i64,
}

/// Remembers that two customers are not the same person: the pair is no longer listed.
#[utoipa::path(post, path = "/api/v1/customers/duplicates/dismiss", tag = "customers",
    request_body = DismissIn,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn dismiss(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiJson(body): ApiJson<DismissIn>,
) -> Result<StatusCode, ApiError> {
    require(&user, Permission::WriteCustomers)?;
    s.app
        .dismiss_duplicate(&user, CustomerId(body.a), CustomerId(body.b))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeIn {
    /// The customer that remains; everything of the customer in the path moves to it.
    pub into: i64,
}

/// A merge: who went into whom, when, what moved (counts per kind), and whether it was undone.
#[derive(Serialize, ToSchema)]
pub struct MergeOut {
    pub id: i64,
    /// The customer that was merged away (now a tombstone pointing to `target_id`).
    pub source_id: i64,
    pub target_id: i64,
    pub merged_at: i64,
    pub merged_by: Option<i64>,
    pub undone_at: Option<i64>,
    /// How many rows of each kind moved (contacts, preferences, notes, flags, tags,
    /// timeline_events, orders, cases, tasks, households).
    #[schema(value_type = Object)]
    pub moved: serde_json::Value,
}

impl From<MergeSummary> for MergeOut {
    fn from(m: MergeSummary) -> Self {
        MergeOut {
            id: m.id,
            source_id: m.source_id,
            target_id: m.target_id,
            merged_at: m.merged_at,
            merged_by: m.merged_by,
            undone_at: m.undone_at,
            moved: m.moved,
        }
    }
}

/// Merges the customer in the path into `into`, in one transaction: contacts, preferences
/// (both histories; a key current on both keeps the most recently confirmed value, the other
/// stays as history), notes, flags, tags, timeline, orders, cases, tasks and household
/// memberships move; the merged customer remains as a tombstone (`merged_into`) and both
/// timelines get a `merged` event. Undo with `POST /api/v1/customers/merges/{id}/undo`.
/// 422 `same_customer` for a merge into itself; 404 for a customer of another tenant; 409
/// `already_merged` / `erased` when either side was merged away or erased.
#[utoipa::path(post, path = "/api/v1/customers/{id}/merge", tag = "customers", operation_id = "merge_customer",
    params(("id" = i64, Path, description = "the customer to merge away")), request_body = MergeIn,
    responses((status = 201, body = MergeOut), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn merge(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MergeIn>,
) -> Result<(StatusCode, ApiJson<MergeOut>), ApiError> {
    require(&user, Permission::WriteCustomers)?;
    let m = s
        .app
        .merge_customers(&user, CustomerId(id), CustomerId(body.into))
        .await?;
    Ok((StatusCode::CREATED, ApiJson(MergeSummary::from(m).into())))
}

/// Undoes a merge: precisely the rows it moved go back to the merged customer, which is
/// restored; `unmerged` events on both timelines. 409 when already undone, or when the
/// customer it went into was since merged further (undo that first).
#[utoipa::path(post, path = "/api/v1/customers/merges/{merge_id}/undo", tag = "customers",
    params(("merge_id" = i64, Path, description = "merge id")),
    responses((status = 200, body = MergeOut), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn undo(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(merge_id): ApiPath<i64>,
) -> Result<ApiJson<MergeOut>, ApiError> {
    require(&user, Permission::WriteCustomers)?;
    let m = s.app.undo_merge(&user, merge_id).await?;
    Ok(ApiJson(MergeSummary::from(m).into()))
}

/// The merges a customer took part in (as the merged or the remaining one), newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/merges", tag = "customers",
    params(("id" = i64, Path, description = "customer id")),
    responses((status = 200, body = Vec<MergeOut>), (status = 404, body = ErrorBody)))]
pub async fn merges(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<Vec<MergeOut>>, ApiError> {
    require(&user, Permission::ReadCustomers)?;
    let rows = s
        .app
        .customer_merges(user.tenant_id, CustomerId(id))
        .await?;
    Ok(ApiJson(
        rows.into_iter()
            .map(|m| MergeSummary::from(m).into())
            .collect(),
    ))
}

/// Everything stored about a customer as one JSON document (a download): profile, contacts,
/// households, tags, preferences with history, notes, flags with history, timeline events,
/// orders with lines, cases with every message (customer-visible ones and internal notes),
/// tasks, analytics score and tier, merges. The export is audited.
#[utoipa::path(get, path = "/api/v1/customers/{id}/export", tag = "customers",
    params(("id" = i64, Path, description = "customer id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn export(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    require(&user, Permission::ReadCustomers)?;
    let doc = s.app.export_customer(&user, CustomerId(id)).await?;
    Ok(download(id, &doc))
}

/// A JSON document served as a file download.
pub fn download(id: i64, doc: &serde_json::Value) -> Response {
    let body = serde_json::to_vec_pretty(doc).unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"customer-{id}.json\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[derive(Serialize, ToSchema)]
pub struct ErasedOut {
    pub id: i64,
    /// false when the customer had already been erased (nothing changed).
    pub erased_now: bool,
    /// Cases whose subject was erased (they stay, with their timestamps, for statistics).
    pub cases: i64,
    /// Messages written by the customer whose bodies were erased.
    pub messages: i64,
}

/// Erases a customer (admins only): names, birthday, contacts, addresses, tags, note
/// bodies, preference values, flag reasons, timeline details, case subjects, the bodies of
/// messages they wrote (and their raw mail), sign-in links and sessions are removed or
/// replaced; orders with amounts and dates, and case and message counts and timestamps stay
/// for statistics. The customer remains as "Erased customer #id"; search forgets them. The
/// act is audited (who, when) without the erased data. Idempotent. A merged customer is
/// refused with 409 (erase the one it went into).
#[utoipa::path(post, path = "/api/v1/customers/{id}/erase", tag = "customers",
    params(("id" = i64, Path, description = "customer id")),
    responses((status = 200, body = ErasedOut), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn erase(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<ErasedOut>, ApiError> {
    require(&user, Permission::EraseCustomers)?;
    let e = s.app.erase_customer(&user, CustomerId(id)).await?;
    Ok(ApiJson(ErasedOut {
        id: e.id,
        erased_now: e.erased_now,
        cases: e.cases,
        messages: e.messages,
    }))
}
