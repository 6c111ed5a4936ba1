//! `GET /api/v1/search`: full-text search over the tenant's cases, messages, notes and
//! customers. User text is treated as words, never as query syntax; staff see internal notes.

use crate::auth::{ApiStaff, require};
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use concierge_domain::Permission;
use concierge_search::{DateField, DateRange, DocKind, SearchRequest, SortOrder};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
pub struct SearchParams {
    /// The words to find, in any language.
    pub q: String,
    /// `relevance` (default), `newest` or `oldest`.
    pub sort: Option<String>,
    /// `case`, `message`, `note` or `customer`; comma-separated.
    pub kind: Option<String>,
    /// 1–100, default 20.
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    /// Case statuses, comma-separated (any of).
    pub status: Option<String>,
    /// The owning agent's user id.
    pub owner_id: Option<i64>,
    pub team_id: Option<i64>,
    /// Customer tiers, comma-separated (any of).
    pub tier: Option<String>,
    /// Tags, comma-separated (all of).
    pub tag: Option<String>,
    /// Channels, comma-separated (any of).
    pub channel: Option<String>,
    pub customer_id: Option<i64>,
    /// From this day (`YYYY-MM-DD`, UTC, inclusive).
    pub from: Option<String>,
    /// Before this day (`YYYY-MM-DD`, UTC, exclusive).
    pub to: Option<String>,
    /// `created` (default) or `updated`: which time `from`/`to` apply to.
    pub date_field: Option<String>,
}

fn list(v: &Option<String>) -> Vec<String> {
    v.as_deref()
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn day_ms(field: &str, s: &str) -> Result<i64, ApiError> {
    let d: jiff::civil::Date = s.trim().parse().map_err(|_| {
        ApiError::invalid(format!(
            "{field} must be a day like 2026-11-29 (got {})",
            concierge_domain::customer::preview(s, 20)
        ))
    })?;
    d.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|_| ApiError::invalid(format!("{field} is out of range")))
}

#[derive(Serialize, ToSchema)]
pub struct SearchHitOut {
    /// `case`, `message`, `note` or `customer`.
    pub kind: String,
    pub id: i64,
    /// The case the hit belongs to (for cases, messages and notes).
    pub case_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub title: String,
    /// Title with `<mark>` around matches; everything else HTML-escaped.
    pub title_html: String,
    /// An excerpt with `<mark>` around matches; everything else HTML-escaped.
    pub snippet_html: String,
    pub status: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchOut {
    pub total: usize,
    /// Whether the query was longer than the server uses.
    pub query_truncated: bool,
    pub hits: Vec<SearchHitOut>,
}

/// Searches cases, messages, notes and customers.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchOut), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn search(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> Result<ApiJson<SearchOut>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let Some(index) = s.search.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "search_unavailable",
            "the search index is not available on this node; run `concierge search reindex`",
        ));
    };
    let mut req = SearchRequest {
        text: p.q,
        include_internal: true,
        limit: p.limit.unwrap_or(20),
        offset: p.offset.unwrap_or(0),
        ..SearchRequest::default()
    };
    if let Some(sort) = &p.sort {
        req.sort = SortOrder::from_str(sort).map_err(|e| ApiError::invalid(e.to_string()))?;
    }
    if let Some(kinds) = &p.kind {
        for k in kinds.split(',').filter(|k| !k.is_empty()) {
            req.filters
                .kinds
                .push(DocKind::from_str(k.trim()).map_err(|e| ApiError::invalid(e.to_string()))?);
        }
    }
    req.filters.statuses = list(&p.status);
    req.filters.tiers = list(&p.tier);
    req.filters.tags = list(&p.tag);
    req.filters.channels = list(&p.channel);
    req.filters.owner_id = p.owner_id;
    req.filters.team_id = p.team_id;
    req.filters.customer_id = p.customer_id;
    if p.from.is_some() || p.to.is_some() {
        let field = match &p.date_field {
            Some(f) => DateField::from_str(f).map_err(|e| ApiError::invalid(e.to_string()))?,
            None => DateField::Created,
        };
        req.filters.date = Some(DateRange {
            field,
            from: p.from.as_deref().map(|d| day_ms("from", d)).transpose()?,
            to: p.to.as_deref().map(|d| day_ms("to", d)).transpose()?,
        });
    }
    let tenant = user.tenant_id.0;
    let results = tokio::task::spawn_blocking(move || index.search(tenant.into(), &req))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "search task failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "search failed",
            )
        })?
        .map_err(|e| match e {
            concierge_search::SearchError::InvalidSort { .. }
            | concierge_search::SearchError::InvalidFilter { .. }
            | concierge_search::SearchError::InvalidPaging(_) => ApiError::invalid(e.to_string()),
            other => {
                tracing::error!(error = %other, "search failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "search failed",
                )
            }
        })?;
    Ok(ApiJson(SearchOut {
        total: results.total,
        query_truncated: results.query_truncated,
        hits: results
            .hits
            .into_iter()
            .map(|h| SearchHitOut {
                kind: h.kind.as_str().to_string(),
                id: h.id,
                case_id: h.case_id,
                customer_id: h.customer_id,
                title: h.title,
                title_html: h.title_html,
                snippet_html: h.snippet_html,
                status: h.status,
            })
            .collect(),
    }))
}
