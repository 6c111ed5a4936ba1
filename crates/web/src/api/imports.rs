//! `POST /api/v1/imports/orders` and `POST /api/v1/imports/customers`: the CSV imports of
//! `concierge import` over HTTP, for managers and admins. The body is the CSV itself
//! (`Content-Type: text/csv`, UTF-8, at most `[server] max_body_bytes`; larger files go
//! through the command line). The rules are `concierge_app::import`'s.

use crate::auth::{ApiStaff, require};
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use concierge_app::import::{ImportError, ImportInput, ImportOptions, ImportReport};
use concierge_domain::Permission;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
pub struct ImportParams {
    /// Check and count everything, write nothing.
    pub dry_run: Option<bool>,
    /// Orders only: currency of rows without one (ISO 4217; default USD).
    pub currency: Option<String>,
}

/// A row that was not imported.
#[derive(Serialize, ToSchema)]
pub struct RejectedOut {
    /// Line in the file (the header is line 1).
    pub line: u64,
    pub reason: String,
}

/// What the import did. Counts are orders (or customers).
#[derive(Serialize, ToSchema)]
pub struct ImportOut {
    /// Data rows read.
    pub rows: u64,
    /// New orders (customers) written.
    pub imported: u64,
    /// Stored ones that the file changed.
    pub updated: u64,
    /// Stored ones the file repeats exactly.
    pub unchanged: u64,
    /// Order lines written.
    pub lines_written: u64,
    pub customers_created: u64,
    pub products_created: u64,
    pub products_updated: u64,
    /// Every row not imported, by line, with the reason.
    pub rejected: Vec<RejectedOut>,
    /// True when nothing was written (`dry_run=true`).
    pub dry_run: bool,
}

impl From<ImportReport> for ImportOut {
    fn from(r: ImportReport) -> Self {
        ImportOut {
            rows: r.rows,
            imported: r.imported,
            updated: r.updated,
            unchanged: r.unchanged,
            lines_written: r.lines_written,
            customers_created: r.customers_created,
            products_created: r.products_created,
            products_updated: r.products_updated,
            rejected: r
                .rejected
                .into_iter()
                .map(|x| RejectedOut {
                    line: x.line,
                    reason: x.reason,
                })
                .collect(),
            dry_run: r.dry_run,
        }
    }
}

/// Checks the content type and reads the body.
fn csv_body(
    s: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if ct != "text/csv" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the CSV file itself with Content-Type: text/csv",
        ));
    }
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the file is larger than the server's limit of {} bytes ([server] \
                     max_body_bytes): split it, or import it with `concierge import`",
                    s.app.config.server.max_body_bytes
                ),
            )
        } else {
            ApiError::invalid(format!("the request body could not be read: {e}"))
        }
    })
}

fn import_error(e: ImportError) -> ApiError {
    match e {
        ImportError::File(f) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_file",
            format!("{f}; nothing was imported"),
        ),
        ImportError::Invalid(m) => ApiError::invalid(m),
        ImportError::Store(s) => s.into(),
        e @ ImportError::Interrupted { .. } => {
            tracing::warn!(error = %e, "import interrupted");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "interrupted",
                e.to_string(),
            )
        }
    }
}

/// Imports orders from CSV: one row per order line, columns
/// `order_id,customer_id,ordered_at,sku,quantity,unit_price` and optionally
/// `currency,status,product_name,category,unit,pack_size,customer_email,customer_name`.
///
/// The whole file is checked first; good orders are then written in transactions of 1,000
/// orders, so an order lands whole or not at all. The lines of an order must be adjacent and
/// agree on customer, time, currency and status; an order with any bad line is rejected whole
/// (each bad line is listed with its reason, its other lines as not imported). Orders are
/// keyed by `order_id`: sending the same file again changes nothing (`unchanged`); an order
/// sent again with other lines or status is `updated`; one stored for another customer is
/// rejected. Unknown customers (`customer_id` is the external id) are created with
/// `customer_name`/`customer_email`; products are created or updated by `sku`. Dates are
/// RFC 3339 or `YYYY-MM-DD[ HH:MM[:SS]]` (UTC); `unit_price` is in major units
/// (`12.50`); `status` is placed, paid (default) or returned. The file must be UTF-8.
/// A file that cannot be read as a whole (wrong header, not UTF-8) is 422 and nothing is
/// imported; otherwise 200 with every rejected row.
#[utoipa::path(post, path = "/api/v1/imports/orders", tag = "imports",
    params(ImportParams),
    request_body(content = String, content_type = "text/csv",
                 description = "The CSV file, UTF-8, with a header row"),
    responses((status = 200, body = ImportOut), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn import_orders(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiQuery(p): ApiQuery<ImportParams>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiJson<ImportOut>, ApiError> {
    require(&user, Permission::ImportData)?;
    let body = csv_body(&s, &headers, body)?;
    let opts = ImportOptions {
        currency: p.currency,
        dry_run: p.dry_run.unwrap_or(false),
        actor: Some(user.id.0),
    };
    let report = s
        .app
        .import_orders(
            user.tenant_id,
            ImportInput::Bytes(&body),
            &opts,
            &|_, _, _| {},
        )
        .await
        .map_err(import_error)?;
    Ok(ApiJson(report.into()))
}

/// Imports customers from CSV: one row per customer, columns `customer_id,name` and
/// optionally `email,phone,given_name,family_name,language,time_zone,birthday,
/// preferred_channel,tags` (tags separated by `;` or `|`).
///
/// Customers are keyed by `customer_id` (the external id); an id that appears twice rejects
/// every row with it. New ids are created; known customers get the non-empty fields of
/// their row (a new email or phone becomes the primary one, tags are added). Sending the same
/// file again changes nothing. Written in transactions of 1,000 rows after the whole file is
/// checked; 422 for a file that cannot be read as a whole, otherwise 200 with every rejected
/// row.
#[utoipa::path(post, path = "/api/v1/imports/customers", tag = "imports",
    params(ImportParams),
    request_body(content = String, content_type = "text/csv",
                 description = "The CSV file, UTF-8, with a header row"),
    responses((status = 200, body = ImportOut), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn import_customers(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiQuery(p): ApiQuery<ImportParams>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiJson<ImportOut>, ApiError> {
    require(&user, Permission::ImportData)?;
    let body = csv_body(&s, &headers, body)?;
    let opts = ImportOptions {
        currency: None,
        dry_run: p.dry_run.unwrap_or(false),
        actor: Some(user.id.0),
    };
    let report = s
        .app
        .import_customers(
            user.tenant_id,
            ImportInput::Bytes(&body),
            &opts,
            &|_, _, _| {},
        )
        .await
        .map_err(import_error)?;
    Ok(ApiJson(report.into()))
}
