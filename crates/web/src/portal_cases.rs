//! The portal's pages for a signed-in customer (issue 7): their requests (and, for a
//! household head, the members' who allowed it), a request's progress steps with who has it
//! and what happens next, replying with attachments, closing, rating, a new request, and the
//! settings (which steps they are told about by mail, surveys, sharing with the household).
//! Also the survey link's page, which needs no sign-in.
//!
//! Every case route asks the app for the case *as this customer*: someone else's id is the
//! same 404 as an id that does not exist. Forms carry the session's CSRF token; everything
//! customers or staff wrote is escaped by the templates.

use crate::auth::{LANG_COOKIE, PRE_CSRF_COOKIE, PortalCustomer, csrf_failed_page};
use crate::console::{pre_csrf, render};
use crate::i18n::Tr;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use concierge_app::portal::{NextStep, PortalCase, PortalError, PortalListItem, PortalSettings};
use concierge_domain::portal::{NotifyChoice, Step};
use concierge_domain::{CaseId, Locale};
use concierge_store::cases::NewAttachment;
use serde::Deserialize;
use std::collections::HashMap;

/// A time as customers read it, in their time zone (with its abbreviation or offset).
pub fn when(ms: i64, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M %Z")
                .to_string()
        })
        .unwrap_or_default()
}

/// The customer's time zone for the portal: their own when their profile has a valid one,
/// else the tenant's (its business-hours calendar's), else UTC.
pub async fn portal_zone(s: &AppState, c: &PortalCustomer) -> jiff::tz::TimeZone {
    if let Ok(Some(p)) = s
        .app
        .store
        .customer_profile(c.tenant_id, c.customer_id)
        .await
        && let Some(tz) = p
            .time_zone
            .as_deref()
            .and_then(|z| jiff::tz::TimeZone::get(z).ok())
    {
        return tz;
    }
    match s.app.case_rules(c.tenant_id).await {
        Ok(r) => r.calendar.time_zone().clone(),
        Err(_) => jiff::tz::TimeZone::UTC,
    }
}

/// The portal's language: the language cookie, then the customer's own, then the browser's.
pub async fn portal_locale(s: &AppState, headers: &HeaderMap, c: &PortalCustomer) -> Locale {
    let jar = CookieJar::from_headers(headers);
    if let Some(l) = jar.get(LANG_COOKIE).and_then(|c| Locale::parse(c.value())) {
        return l;
    }
    if let Ok(Some(p)) = s
        .app
        .store
        .customer_profile(c.tenant_id, c.customer_id)
        .await
        && let Some(l) = p.language.as_deref().and_then(Locale::parse)
    {
        return l;
    }
    crate::auth::locale_of(headers, None)
}

/// What every portal page shows around its content.
pub struct PortalShell<'a> {
    pub t: Tr<'a>,
    pub csrf: String,
    pub back: String,
    pub locales: Vec<(&'static str, &'static str, bool)>,
    /// The zone times are shown in (UTC until [`PortalShell::zoned`] sets the customer's).
    pub tz: jiff::tz::TimeZone,
}

impl<'a> PortalShell<'a> {
    pub fn new(s: &'a AppState, locale: Locale, csrf: &str, back: &str) -> PortalShell<'a> {
        PortalShell {
            t: Tr {
                i18n: &s.i18n,
                locale,
            },
            csrf: csrf.to_string(),
            back: back.to_string(),
            locales: Locale::ALL
                .iter()
                .map(|l| (l.tag(), l.native_name(), *l == locale))
                .collect(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }

    /// Shows times in `tz`.
    pub fn zoned(mut self, tz: jiff::tz::TimeZone) -> Self {
        self.tz = tz;
        self
    }
}

fn step_key(step: Step) -> &'static str {
    match step {
        Step::Received => "portal_ui.step_received",
        Step::Assigned => "portal_ui.step_assigned",
        Step::HandedOff => "portal_ui.step_handed_off",
        Step::InProgress => "portal_ui.step_in_progress",
        Step::Waiting => "portal_ui.step_waiting",
        Step::Solved => "portal_ui.step_solved",
        Step::Closed => "portal_ui.step_closed",
        Step::Replied => "portal_ui.step_replied",
        Step::CustomerWrote => "portal_ui.step_customer_wrote",
        Step::Merged => "portal_ui.step_merged",
    }
}

pub(crate) fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is unavailable. Try again shortly.",
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "portal_not_found.html")]
struct NotFoundPage<'a> {
    p: PortalShell<'a>,
}

pub(crate) fn not_found(s: &AppState, locale: Locale, csrf: &str) -> Response {
    let p = PortalShell::new(s, locale, csrf, "/portal");
    (StatusCode::NOT_FOUND, render(&NotFoundPage { p })).into_response()
}

pub(crate) fn portal_error(s: &AppState, locale: Locale, csrf: &str, e: PortalError) -> Response {
    match e {
        PortalError::NotFound => not_found(s, locale, csrf),
        PortalError::Store(err) => {
            tracing::warn!(error = %err, "portal: store error");
            unavailable()
        }
        other => (StatusCode::UNPROCESSABLE_ENTITY, other.to_string()).into_response(),
    }
}

// ---------------------------------------------------------------- the list (portal home)

#[derive(Template)]
#[template(path = "portal_home.html")]
struct HomePage<'a> {
    p: PortalShell<'a>,
    name: String,
    cases: Vec<PortalListItem>,
}

impl HomePage<'_> {
    fn when(&self, ms: &i64) -> String {
        when(*ms, &self.p.tz)
    }
}

/// `GET /portal`: the customer's requests.
pub async fn home(State(s): State<AppState>, headers: HeaderMap, c: PortalCustomer) -> Response {
    let locale = portal_locale(&s, &headers, &c).await;
    let name = match s.app.store.customer(c.tenant_id, c.customer_id).await {
        Ok(Some(c)) => c.display_name,
        Ok(None) => return not_found(&s, locale, &c.csrf),
        Err(_) => return unavailable(),
    };
    let tz = portal_zone(&s, &c).await;
    match s.app.portal_cases(c.tenant_id, c.customer_id, locale).await {
        Ok(cases) => render(&HomePage {
            p: PortalShell::new(&s, locale, &c.csrf, "/portal").zoned(tz),
            name,
            cases,
        }),
        Err(e) => portal_error(&s, locale, &c.csrf, e),
    }
}

// ---------------------------------------------------------------- one case

#[derive(Template)]
#[template(path = "portal_case.html")]
struct CasePage<'a> {
    p: PortalShell<'a>,
    v: PortalCase,
    error: Option<String>,
    draft: String,
}

impl CasePage<'_> {
    fn when(&self, ms: &i64) -> String {
        when(*ms, &self.p.tz)
    }
    fn step_label(&self, step: &Step) -> &str {
        self.p.t.get(step_key(*step))
    }
    /// The sentence about what happens next.
    fn next_text(&self) -> String {
        let t = &self.p.t;
        match &self.v.next {
            NextStep::Reply(Some(at)) => {
                format!(
                    "{} {}",
                    t.get("portal_ui.next_reply_by"),
                    when(*at, &self.p.tz)
                )
            }
            NextStep::Reply(None) => t.get("portal_ui.next_reply_soon").to_string(),
            NextStep::Resolve(at) => {
                format!(
                    "{} {}",
                    t.get("portal_ui.next_resolve_by"),
                    when(*at, &self.p.tz)
                )
            }
            NextStep::WaitingForYou => t.get("portal_ui.next_waiting").to_string(),
            NextStep::Solved => t.get("portal_ui.next_solved").to_string(),
            NextStep::Closed => t.get("portal_ui.next_closed").to_string(),
        }
    }
    fn is_customer(&self, kind: &str) -> bool {
        kind == "customer"
    }
    fn has_owner(&self) -> bool {
        self.v.case.owner_name.is_some() || self.v.case.team_name.is_some()
    }
    fn owner_text(&self) -> String {
        match (&self.v.case.owner_name, &self.v.case.team_name) {
            (Some(o), _) => o.clone(),
            (None, Some(t)) => t.clone(),
            _ => String::new(),
        }
    }
    fn rated(&self) -> Option<i64> {
        self.v.survey.as_ref().and_then(|s| s.score)
    }
    fn rating_comment(&self) -> String {
        self.v
            .survey
            .as_ref()
            .and_then(|s| s.comment.clone())
            .unwrap_or_default()
    }
}

async fn case_page_with(
    s: &AppState,
    headers: &HeaderMap,
    c: &PortalCustomer,
    id: i64,
    error: Option<(StatusCode, String)>,
    draft: String,
) -> Response {
    let locale = portal_locale(s, headers, c).await;
    match s
        .app
        .portal_case(c.tenant_id, c.customer_id, CaseId(id), locale)
        .await
    {
        Ok(v) => {
            let status = error.as_ref().map_or(StatusCode::OK, |e| e.0);
            let tz = portal_zone(s, c).await;
            let page = render(&CasePage {
                p: PortalShell::new(s, locale, &c.csrf, &format!("/portal/cases/{id}")).zoned(tz),
                v,
                error: error.map(|e| e.1),
                draft,
            });
            (status, page).into_response()
        }
        Err(e) => portal_error(s, locale, &c.csrf, e),
    }
}

/// `GET /portal/cases/{id}`.
pub async fn case_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    c: PortalCustomer,
    Path(id): Path<i64>,
) -> Response {
    case_page_with(&s, &headers, &c, id, None, String::new()).await
}

/// A multipart form: its text fields and its files (stored; empty file fields skipped).
struct Upload {
    fields: HashMap<String, String>,
    files: Vec<NewAttachment>,
}

async fn read_upload(s: &AppState, mut m: Multipart) -> Result<Upload, String> {
    let mut fields = HashMap::new();
    let mut files = Vec::new();
    loop {
        let field = match m.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(format!("the form could not be read: {}", e.body_text())),
        };
        let name = field.name().unwrap_or("").to_string();
        if let Some(filename) = field.file_name().map(str::to_string) {
            let ct = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            let bytes = field
                .bytes()
                .await
                .map_err(|e| format!("the file could not be read: {}", e.body_text()))?;
            if filename.is_empty() && bytes.is_empty() {
                continue;
            }
            if files.len() >= concierge_app::attachments::MAX_ATTACHMENTS {
                return Err(format!(
                    "attach at most {} files at once",
                    concierge_app::attachments::MAX_ATTACHMENTS
                ));
            }
            let a = concierge_app::attachments::store(&s.app, &filename, &ct, &bytes)
                .map_err(|e| e.to_string())?;
            files.push(a);
        } else {
            let text = field
                .text()
                .await
                .map_err(|e| format!("the form could not be read: {}", e.body_text()))?;
            fields.insert(name, text);
        }
    }
    Ok(Upload { fields, files })
}

fn field<'a>(u: &'a Upload, name: &str) -> &'a str {
    u.fields.get(name).map_or("", String::as_str)
}

/// `POST /portal/cases/{id}/reply` (multipart: body, files, _csrf).
pub async fn reply_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    c: PortalCustomer,
    Path(id): Path<i64>,
    m: Multipart,
) -> Response {
    let u = match read_upload(&s, m).await {
        Ok(u) => u,
        Err(msg) => {
            return case_page_with(
                &s,
                &headers,
                &c,
                id,
                Some((StatusCode::UNPROCESSABLE_ENTITY, msg)),
                String::new(),
            )
            .await;
        }
    };
    if !concierge_app::secrets::constant_time_eq(field(&u, "_csrf"), &c.csrf) {
        return csrf_failed_page();
    }
    let body = field(&u, "body").to_string();
    match s
        .app
        .portal_reply(c.tenant_id, c.customer_id, CaseId(id), &body, u.files)
        .await
    {
        Ok(landed) => Redirect::to(&format!("/portal/cases/{}#thread", landed.0)).into_response(),
        Err(PortalError::NotFound) => {
            let locale = portal_locale(&s, &headers, &c).await;
            not_found(&s, locale, &c.csrf)
        }
        Err(PortalError::Store(_)) => unavailable(),
        Err(e) => {
            let status = match e {
                PortalError::State(_) => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            case_page_with(&s, &headers, &c, id, Some((status, e.to_string())), body).await
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /portal/cases/{id}/close`.
pub async fn close_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    c: PortalCustomer,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !concierge_app::secrets::constant_time_eq(&f.csrf, &c.csrf) {
        return csrf_failed_page();
    }
    match s
        .app
        .portal_close(c.tenant_id, c.customer_id, CaseId(id))
        .await
    {
        Ok(()) => Redirect::to(&format!("/portal/cases/{id}")).into_response(),
        Err(PortalError::NotFound) => {
            let locale = portal_locale(&s, &headers, &c).await;
            not_found(&s, locale, &c.csrf)
        }
        Err(PortalError::Store(_)) => unavailable(),
        Err(e) => {
            let m = e.to_string();
            case_page_with(
                &s,
                &headers,
                &c,
                id,
                Some((StatusCode::CONFLICT, m)),
                String::new(),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct RateForm {
    #[serde(default)]
    score: String,
    #[serde(default)]
    comment: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /portal/cases/{id}/rate`.
pub async fn rate_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    c: PortalCustomer,
    Path(id): Path<i64>,
    Form(f): Form<RateForm>,
) -> Response {
    if !concierge_app::secrets::constant_time_eq(&f.csrf, &c.csrf) {
        return csrf_failed_page();
    }
    match s
        .app
        .portal_rate(c.tenant_id, c.customer_id, CaseId(id), &f.score, &f.comment)
        .await
    {
        Ok(_) => Redirect::to(&format!("/portal/cases/{id}#rating")).into_response(),
        Err(PortalError::NotFound) => {
            let locale = portal_locale(&s, &headers, &c).await;
            not_found(&s, locale, &c.csrf)
        }
        Err(PortalError::Store(_)) => unavailable(),
        Err(e) => {
            let status = match e {
                PortalError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::CONFLICT,
            };
            case_page_with(
                &s,
                &headers,
                &c,
                id,
                Some((status, e.to_string())),
                String::new(),
            )
            .await
        }
    }
}

/// `GET /portal/cases/{id}/attachments/{attachment}`: a public attachment of a visible case.
pub async fn attachment(
    State(s): State<AppState>,
    headers: HeaderMap,
    c: PortalCustomer,
    Path((id, att)): Path<(i64, i64)>,
) -> Response {
    match s
        .app
        .portal_attachment(c.tenant_id, c.customer_id, CaseId(id), att)
        .await
    {
        Ok(a) => match crate::api::cases::attachment_response(&s, &a) {
            Ok(r) => r,
            Err(e) => e.into_response(),
        },
        Err(e) => {
            let locale = portal_locale(&s, &headers, &c).await;
            portal_error(&s, locale, &c.csrf, e)
        }
    }
}

// ---------------------------------------------------------------- a new request

#[derive(Template)]
#[template(path = "portal_new.html")]
struct NewPage<'a> {
    p: PortalShell<'a>,
    error: Option<String>,
    subject: String,
    body: String,
}

/// `GET /portal/cases/new`.
pub async fn new_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    c: PortalCustomer,
) -> Response {
    let locale = portal_locale(&s, &headers, &c).await;
    render(&NewPage {
        p: PortalShell::new(&s, locale, &c.csrf, "/portal/cases/new"),
        error: None,
        subject: String::new(),
        body: String::new(),
    })
}

/// `POST /portal/cases` (multipart: subject, body, files, _csrf).
pub async fn new_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    c: PortalCustomer,
    m: Multipart,
) -> Response {
    let locale = portal_locale(&s, &headers, &c).await;
    let again = |error: String, subject: String, body: String, status: StatusCode| {
        let page = render(&NewPage {
            p: PortalShell::new(&s, locale, &c.csrf, "/portal/cases/new"),
            error: Some(error),
            subject,
            body,
        });
        (status, page).into_response()
    };
    let u = match read_upload(&s, m).await {
        Ok(u) => u,
        Err(msg) => {
            return again(
                msg,
                String::new(),
                String::new(),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    if !concierge_app::secrets::constant_time_eq(field(&u, "_csrf"), &c.csrf) {
        return csrf_failed_page();
    }
    let subject = field(&u, "subject").to_string();
    let body = field(&u, "body").to_string();
    match s
        .app
        .portal_new_case(c.tenant_id, c.customer_id, &subject, &body, u.files)
        .await
    {
        Ok(id) => Redirect::to(&format!("/portal/cases/{}", id.0)).into_response(),
        Err(PortalError::Store(_)) => unavailable(),
        Err(e) => again(
            e.to_string(),
            subject,
            body,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

// ---------------------------------------------------------------- settings

#[derive(Template)]
#[template(path = "portal_settings.html")]
struct SettingsPage<'a> {
    p: PortalShell<'a>,
    settings: PortalSettings,
    saved: bool,
}

impl SettingsPage<'_> {
    fn steps(&self) -> Vec<(&'static str, &str, bool)> {
        Step::CHOOSABLE
            .iter()
            .map(|st| {
                (
                    st.as_str(),
                    self.p.t.get(step_key(*st)),
                    self.settings.notify.wants(*st),
                )
            })
            .collect()
    }
}

async fn settings_page_with(
    s: &AppState,
    headers: &HeaderMap,
    c: &PortalCustomer,
    saved: bool,
) -> Response {
    let locale = portal_locale(s, headers, c).await;
    match s.app.portal_settings(c.tenant_id, c.customer_id).await {
        Ok(settings) => render(&SettingsPage {
            p: PortalShell::new(s, locale, &c.csrf, "/portal/settings"),
            settings,
            saved,
        }),
        Err(e) => portal_error(s, locale, &c.csrf, e),
    }
}

/// `GET /portal/settings`.
pub async fn settings_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    c: PortalCustomer,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    settings_page_with(&s, &headers, &c, q.contains_key("saved")).await
}

/// `POST /portal/settings`: checkboxes `notify` (repeated), `surveys`, `share_household`.
pub async fn settings_post(
    State(s): State<AppState>,
    c: PortalCustomer,
    // Repeated checkbox names: the form as name-value pairs.
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| pairs.iter().any(|(a, _)| a == k);
    let csrf = pairs
        .iter()
        .find(|(a, _)| a == "_csrf")
        .map_or("", |(_, v)| v.as_str());
    if !concierge_app::secrets::constant_time_eq(csrf, &c.csrf) {
        return csrf_failed_page();
    }
    let chosen: Vec<&str> = pairs
        .iter()
        .filter(|(a, _)| a == "notify")
        .map(|(_, v)| v.as_str())
        .collect();
    let settings = PortalSettings {
        notify: NotifyChoice::parse(Some(&if chosen.is_empty() {
            "none".to_string()
        } else {
            chosen.join(",")
        })),
        surveys: get("surveys"),
        share_household: get("share_household"),
        in_household: false,
    };
    match s
        .app
        .save_portal_settings(c.tenant_id, c.customer_id, &settings)
        .await
    {
        Ok(()) => Redirect::to("/portal/settings?saved=1").into_response(),
        Err(PortalError::Store(_)) => unavailable(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).into_response(),
    }
}

// ---------------------------------------------------------------- the survey link

#[derive(Template)]
#[template(path = "survey.html")]
struct SurveyPage<'a> {
    t: Tr<'a>,
    csrf: String,
    token: String,
    number: i64,
    subject: String,
    state: &'static str,
    error: Option<String>,
    comment: String,
}

fn plain_locale<'a>(s: &'a AppState, headers: &HeaderMap) -> Tr<'a> {
    Tr {
        i18n: &s.i18n,
        locale: crate::auth::locale_of(headers, None),
    }
}

/// `GET /survey/{token}`: the rating form (no sign-in; the link is the key).
pub async fn survey_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(token): Path<String>,
) -> Response {
    let t = plain_locale(&s, &headers);
    let (jar, csrf) = pre_csrf(jar, s.app.config.secure_cookies());
    let (status, page) = match s.app.survey_by_link(&token).await {
        Ok((_, v)) => (
            StatusCode::OK,
            SurveyPage {
                t,
                csrf,
                token,
                number: v.case_number,
                subject: v.case_subject,
                state: "open",
                error: None,
                comment: String::new(),
            },
        ),
        Err(PortalError::Store(_)) => return unavailable(),
        Err(e) => survey_refusal(t, csrf, &e),
    };
    (status, jar, render(&page)).into_response()
}

fn survey_refusal<'a>(t: Tr<'a>, csrf: String, e: &PortalError) -> (StatusCode, SurveyPage<'a>) {
    let (status, state) = match e {
        PortalError::Expired => (StatusCode::GONE, "expired"),
        PortalError::State(_) => (StatusCode::CONFLICT, "used"),
        _ => (StatusCode::NOT_FOUND, "invalid"),
    };
    (
        status,
        SurveyPage {
            t,
            csrf,
            token: String::new(),
            number: 0,
            subject: String::new(),
            state,
            error: None,
            comment: String::new(),
        },
    )
}

#[derive(Deserialize)]
pub struct SurveyForm {
    #[serde(default)]
    score: String,
    #[serde(default)]
    comment: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /survey/{token}`: records the rating once.
pub async fn survey_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(token): Path<String>,
    Form(f): Form<SurveyForm>,
) -> Response {
    let expected = jar.get(PRE_CSRF_COOKIE).map(|c| c.value().to_string());
    if !expected.is_some_and(|e| concierge_app::secrets::constant_time_eq(&e, &f.csrf)) {
        return csrf_failed_page();
    }
    let t = plain_locale(&s, &headers);
    let (jar, csrf) = pre_csrf(jar, s.app.config.secure_cookies());
    let (status, page) = match s.app.answer_survey_link(&token, &f.score, &f.comment).await {
        Ok(_) => (
            StatusCode::OK,
            SurveyPage {
                t,
                csrf,
                token: String::new(),
                number: 0,
                subject: String::new(),
                state: "thanks",
                error: None,
                comment: String::new(),
            },
        ),
        Err(PortalError::Store(_)) => return unavailable(),
        Err(PortalError::Invalid(m)) => match s.app.survey_by_link(&token).await {
            Ok((_, v)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                SurveyPage {
                    t,
                    csrf,
                    token,
                    number: v.case_number,
                    subject: v.case_subject,
                    state: "open",
                    error: Some(m),
                    comment: f.comment,
                },
            ),
            Err(e) => survey_refusal(t, csrf, &e),
        },
        Err(e) => survey_refusal(t, csrf, &e),
    };
    (status, jar, render(&page)).into_response()
}
