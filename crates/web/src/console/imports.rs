//! The console's CSV import page (issue 3, item 5) for managers and administrators: upload an
//! orders or customers file (multipart, at most `[server] max_body_bytes`), check it (dry
//! run) or import it, and see the summary with every rejected row as "line N: reason".
//!
//! The import itself is `concierge_app::import`, the same use case as `concierge import` and
//! `POST /api/v1/imports/...`; this page only reads the upload and shows the report. The
//! form carries the session's CSRF token like every console form. Rejection reasons come from
//! the import rules (English, as in the API); everything else on the page is translated.

use super::{Shell, render};
use crate::auth::ConsoleStaff;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use concierge_app::import::{ImportError, ImportInput, ImportOptions, ImportReport};
use concierge_domain::Permission;

/// The two kinds of file the page imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Orders,
    Customers,
}

impl Kind {
    fn parse(v: &str) -> Option<Kind> {
        match v.trim() {
            "orders" => Some(Kind::Orders),
            "customers" => Some(Kind::Customers),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Orders => "orders",
            Kind::Customers => "customers",
        }
    }
}

/// The report as the page shows it.
struct ReportView {
    dry_run: bool,
    /// (label, value) in display order.
    counts: Vec<(String, u64)>,
    /// "line N: reason", translated around the reason.
    rejected: Vec<String>,
}

#[derive(Template)]
#[template(path = "imports.html")]
struct ImportsPage<'a> {
    shell: Shell<'a>,
    kind: &'static str,
    dry_run: bool,
    currency: String,
    max_bytes: usize,
    error: Option<String>,
    report: Option<ReportView>,
}

fn page(
    s: &AppState,
    headers: &HeaderMap,
    staff: &ConsoleStaff,
    status: StatusCode,
    form: &Upload,
    error: Option<String>,
    report: Option<ReportView>,
) -> Response {
    let mut r = render(&ImportsPage {
        shell: Shell::new(s, headers, staff),
        kind: form.kind.unwrap_or(Kind::Orders).as_str(),
        dry_run: form.dry_run,
        currency: form.currency.clone(),
        max_bytes: s.app.config.server.max_body_bytes,
        error,
        report,
    });
    if r.status() == StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}

fn forbidden(s: &AppState, headers: &HeaderMap, staff: &ConsoleStaff) -> Response {
    let t = Shell::new(s, headers, staff).t;
    (
        StatusCode::FORBIDDEN,
        t.get("imports.forbidden").to_string(),
    )
        .into_response()
}

/// `GET /imports`: the upload form.
pub async fn imports_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
) -> Response {
    if !staff.user.role.can(Permission::ImportData) {
        return forbidden(&s, &headers, &staff);
    }
    let form = Upload {
        dry_run: true,
        ..Upload::default()
    };
    page(&s, &headers, &staff, StatusCode::OK, &form, None, None)
}

/// What the form sent.
#[derive(Default)]
struct Upload {
    csrf: String,
    kind: Option<Kind>,
    dry_run: bool,
    currency: String,
    file: Option<axum::body::Bytes>,
}

/// Why the upload could not be read.
enum UploadError {
    TooLarge,
    Unreadable(String),
}

async fn read_upload(mut m: Multipart) -> Result<Upload, UploadError> {
    let mut u = Upload::default();
    let mut mode = String::new();
    let fail = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            UploadError::TooLarge
        } else {
            UploadError::Unreadable(e.body_text())
        }
    };
    while let Some(field) = m.next_field().await.map_err(fail)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            let bytes = field.bytes().await.map_err(fail)?;
            if !bytes.is_empty() {
                u.file = Some(bytes);
            }
            continue;
        }
        let text = field.text().await.map_err(fail)?;
        match name.as_str() {
            "_csrf" => u.csrf = text,
            "kind" => u.kind = Kind::parse(&text),
            "mode" => mode = text,
            "currency" => u.currency = text.trim().chars().take(8).collect(),
            _ => {}
        }
    }
    // Checking is the safe choice when the form did not say.
    u.dry_run = mode.trim() != "import";
    Ok(u)
}

fn report_view(shell: &Shell<'_>, r: ImportReport, kind: Kind) -> ReportView {
    let t = &shell.t;
    let mut counts = vec![
        (t.get("imports.rows").to_string(), r.rows),
        (t.get("imports.imported").to_string(), r.imported),
        (t.get("imports.updated").to_string(), r.updated),
        (t.get("imports.unchanged").to_string(), r.unchanged),
    ];
    if kind == Kind::Orders {
        counts.push((t.get("imports.lines_written").to_string(), r.lines_written));
        counts.push((
            t.get("imports.customers_created").to_string(),
            r.customers_created,
        ));
        counts.push((
            t.get("imports.products_created").to_string(),
            r.products_created,
        ));
        counts.push((
            t.get("imports.products_updated").to_string(),
            r.products_updated,
        ));
    }
    counts.push((
        t.get("imports.rejected_count").to_string(),
        r.rejected.len() as u64,
    ));
    let line = t.get("imports.rejected_line");
    ReportView {
        dry_run: r.dry_run,
        counts,
        rejected: r
            .rejected
            .into_iter()
            .map(|x| {
                line.replace("{line}", &x.line.to_string())
                    .replace("{reason}", &x.reason)
            })
            .collect(),
    }
}

/// `POST /imports` (multipart: `_csrf`, `kind`, `mode` = `check` or `import`, `currency`,
/// `file`): runs the import and shows its report on the same page.
pub async fn imports_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
    m: Multipart,
) -> Response {
    if !staff.user.role.can(Permission::ImportData) {
        return forbidden(&s, &headers, &staff);
    }
    let t = Shell::new(&s, &headers, &staff).t;
    let form = match read_upload(m).await {
        Ok(u) => u,
        Err(UploadError::TooLarge) => {
            let msg = t
                .get("imports.too_large")
                .replace("{limit}", &s.app.config.server.max_body_bytes.to_string());
            let form = Upload {
                dry_run: true,
                ..Upload::default()
            };
            return page(
                &s,
                &headers,
                &staff,
                StatusCode::PAYLOAD_TOO_LARGE,
                &form,
                Some(msg),
                None,
            );
        }
        Err(UploadError::Unreadable(why)) => {
            let msg = format!("{} ({why})", t.get("imports.unreadable"));
            return page(
                &s,
                &headers,
                &staff,
                StatusCode::BAD_REQUEST,
                &Upload::default(),
                Some(msg),
                None,
            );
        }
    };
    if let Err(r) = staff.check_csrf(&form.csrf) {
        return r;
    }
    let invalid = |msg: String| {
        page(
            &s,
            &headers,
            &staff,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            Some(msg),
            None,
        )
    };
    let Some(kind) = form.kind else {
        return invalid(t.get("imports.choose_kind").to_string());
    };
    let Some(file) = form.file.as_ref() else {
        return invalid(t.get("imports.choose_file").to_string());
    };
    let opts = ImportOptions {
        currency: (kind == Kind::Orders && !form.currency.is_empty())
            .then(|| form.currency.clone()),
        dry_run: form.dry_run,
        actor: Some(staff.user.id.0),
    };
    let input = ImportInput::Bytes(file);
    let result = match kind {
        Kind::Orders => {
            s.app
                .import_orders(staff.user.tenant_id, input, &opts, &|_, _, _| {})
                .await
        }
        Kind::Customers => {
            s.app
                .import_customers(staff.user.tenant_id, input, &opts, &|_, _, _| {})
                .await
        }
    };
    match result {
        Ok(report) => {
            let shell = Shell::new(&s, &headers, &staff);
            let view = report_view(&shell, report, kind);
            page(
                &s,
                &headers,
                &staff,
                StatusCode::OK,
                &form,
                None,
                Some(view),
            )
        }
        Err(ImportError::File(f)) => invalid(format!("{}: {f}", t.get("imports.bad_file"))),
        Err(ImportError::Invalid(m)) => invalid(m),
        Err(ImportError::Store(e)) => {
            tracing::warn!(error = %e, "console import failed");
            page(
                &s,
                &headers,
                &staff,
                StatusCode::SERVICE_UNAVAILABLE,
                &form,
                Some(t.get("imports.unavailable").to_string()),
                None,
            )
        }
        Err(e @ ImportError::Interrupted { .. }) => {
            tracing::warn!(error = %e, "console import interrupted");
            page(
                &s,
                &headers,
                &staff,
                StatusCode::SERVICE_UNAVAILABLE,
                &form,
                Some(format!("{} ({e})", t.get("imports.interrupted"))),
                None,
            )
        }
    }
}
