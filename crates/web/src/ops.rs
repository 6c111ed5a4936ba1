//! Operational endpoints and cross-cutting middleware: liveness, readiness, Prometheus
//! metrics, security headers, and API-shaped answers for unknown routes and methods.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use std::time::Instant;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers.
pub async fn readyz(State(s): State<AppState>) -> Response {
    match s.app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

/// Middleware: counts requests and times them by route template and status.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    resp
}

/// The Content-Security-Policy of every page: no inline script, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The API docs page needs inline styles (Swagger UI sets style attributes); still no
/// inline script.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// Middleware: security headers on every answer.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let is_docs = req.uri().path() == "/api/docs";
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if is_docs { DOCS_CSP } else { CSP }),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// Unknown routes: JSON under `/api`, a page elsewhere.
pub async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api") {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route {}", uri.path()),
        )
        .into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Html(
                "<!doctype html><title>Not found</title><link rel=\"stylesheet\" \
                 href=\"/static/app.css\"><main class=\"narrow\"><h1>404</h1><p>This page \
                 does not exist. <a href=\"/\">Home</a></p></main>",
            ),
        )
            .into_response()
    }
}

/// Known routes called with the wrong method.
pub async fn method_not_allowed(uri: Uri) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept this method", uri.path()),
    )
    .into_response()
}

/// `GET /api/openapi.json`.
pub async fn openapi(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        s.openapi_json.as_str().to_string(),
    )
        .into_response()
}

/// `GET /api/docs`: Swagger UI over the generated document.
pub async fn docs() -> Html<&'static str> {
    Html(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Concierge \
         API</title><link rel=\"stylesheet\" href=\"/static/vendor/swagger-ui.css\"></head>\
         <body><div id=\"swagger-ui\"></div><script src=\"/static/vendor/swagger-ui-bundle.js\">\
         </script><script src=\"/static/vendor/swagger-init.js\"></script></body></html>",
    )
}
