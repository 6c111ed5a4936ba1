//! The portal pages where customers act for themselves (issue 7): their contact details and
//! preferences (`/portal/profile`, saved with source "customer"), asking for a sign-in link by
//! email (`/portal/sign-in`, the same answer whether or not the address is known, throttled),
//! and the NPS survey link (`/nps/{token}`, no sign-in).
//!
//! The profile routes take the customer from the session only; no customer id is ever read
//! from the URL or the form, so one customer cannot touch another. Forms carry CSRF tokens
//! (the session's, or the double-submit cookie before sign-in); what customers typed is shown
//! back escaped by the templates.

use crate::auth::{PRE_CSRF_COOKIE, PortalCustomer, csrf_failed_page};
use crate::console::{pre_csrf, render};
use crate::i18n::Tr;
use crate::portal_cases::{PortalShell, not_found, portal_error, portal_locale, unavailable};
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use concierge_app::AuthError;
use concierge_app::portal::PortalError;
use concierge_app::portal_self::{OwnPreference, PORTAL_CONTACTS_MAX, PortalContactDetails};
use concierge_domain::Locale;
use concierge_domain::customer::Channel;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;

// ---------------------------------------------------------------- contact details

#[derive(Template)]
#[template(path = "portal_profile.html")]
struct ProfilePage<'a> {
    p: PortalShell<'a>,
    d: PortalContactDetails,
    prefs: Vec<OwnPreference>,
    saved: bool,
    error: Option<String>,
    pref_error: Option<String>,
}

impl ProfilePage<'_> {
    /// The rows of a repeated field: what is there, then blanks up to `PORTAL_CONTACTS_MAX`
    /// (at least one blank when there is room).
    fn rows(&self, values: &[String]) -> Vec<String> {
        let mut v = values.to_vec();
        let blanks = if v.len() < PORTAL_CONTACTS_MAX { 1 } else { 0 };
        v.extend(std::iter::repeat_n(String::new(), blanks));
        v
    }
    fn emails(&self) -> Vec<String> {
        self.rows(&self.d.emails)
    }
    fn phones(&self) -> Vec<String> {
        self.rows(&self.d.phones)
    }
    fn addresses(&self) -> Vec<String> {
        self.rows(&self.d.addresses)
    }
    fn languages(&self) -> Vec<(&'static str, &'static str, bool)> {
        Locale::ALL
            .iter()
            .map(|l| {
                (
                    l.tag(),
                    l.native_name(),
                    Locale::parse(&self.d.language) == Some(*l),
                )
            })
            .collect()
    }
    fn channels(&self) -> Vec<(&'static str, &str, bool)> {
        Channel::ALL
            .iter()
            .map(|c| {
                let key = match c {
                    Channel::Email => "portal_self.channel_email",
                    Channel::Phone => "portal_self.channel_phone",
                    Channel::Sms => "portal_self.channel_sms",
                    Channel::Letter => "portal_self.channel_letter",
                    Channel::Portal => "portal_self.channel_portal",
                    Channel::Visit => "portal_self.channel_visit",
                };
                (
                    c.as_str(),
                    self.p.t.get(key),
                    self.d.preferred_channel == c.as_str(),
                )
            })
            .collect()
    }
    fn source_label(&self, source: &str) -> &str {
        if source == "customer" {
            self.p.t.get("portal_self.by_you")
        } else {
            self.p.t.get("portal_self.by_us")
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn profile_page_with(
    s: &AppState,
    headers: &HeaderMap,
    c: &PortalCustomer,
    status: StatusCode,
    typed: Option<PortalContactDetails>,
    saved: bool,
    error: Option<String>,
    pref_error: Option<String>,
) -> Response {
    let locale = portal_locale(s, headers, c).await;
    let d = match typed {
        Some(d) => d,
        None => match s
            .app
            .portal_contact_details(c.tenant_id, c.customer_id)
            .await
        {
            Ok(d) => d,
            Err(e) => return portal_error(s, locale, &c.csrf, e),
        },
    };
    let prefs = match s.app.portal_preferences(c.tenant_id, c.customer_id).await {
        Ok(p) => p,
        Err(e) => return portal_error(s, locale, &c.csrf, e),
    };
    let page = render(&ProfilePage {
        p: PortalShell::new(s, locale, &c.csrf, "/portal/profile"),
        d,
        prefs,
        saved,
        error,
        pref_error,
    });
    (status, page).into_response()
}

/// `GET /portal/profile`: the customer's contact details and preferences.
pub async fn profile_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    c: PortalCustomer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    profile_page_with(
        &s,
        &headers,
        &c,
        StatusCode::OK,
        None,
        q.contains_key("saved"),
        None,
        None,
    )
    .await
}

fn csrf_of(pairs: &[(String, String)]) -> &str {
    pairs
        .iter()
        .find(|(k, _)| k == "_csrf")
        .map_or("", |(_, v)| v.as_str())
}

/// `POST /portal/profile`: name, repeated `email`, `phone`, `address`, `language`,
/// `time_zone`, `preferred_channel`. The customer is the session's.
pub async fn profile_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    c: PortalCustomer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if !concierge_app::secrets::constant_time_eq(csrf_of(&pairs), &c.csrf) {
        return csrf_failed_page();
    }
    let one = |k: &str| {
        pairs
            .iter()
            .find(|(a, _)| a == k)
            .map_or(String::new(), |(_, v)| v.clone())
    };
    let many = |k: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let d = PortalContactDetails {
        name: one("name"),
        emails: many("email"),
        phones: many("phone"),
        addresses: many("address"),
        language: one("language"),
        time_zone: one("time_zone"),
        preferred_channel: one("preferred_channel"),
    };
    match s
        .app
        .save_portal_contact_details(c.tenant_id, c.customer_id, &d)
        .await
    {
        Ok(()) => Redirect::to("/portal/profile?saved=1").into_response(),
        Err(PortalError::Store(e)) => {
            tracing::warn!(error = %e, "portal profile: store error");
            unavailable()
        }
        Err(PortalError::NotFound) => {
            let locale = portal_locale(&s, &headers, &c).await;
            not_found(&s, locale, &c.csrf)
        }
        Err(e) => {
            // Show what was typed again, trimmed of blank rows, with the reason.
            let keep = |v: Vec<String>| -> Vec<String> {
                v.into_iter()
                    .filter(|x| !x.trim().is_empty())
                    .map(|x| x.chars().take(500).collect())
                    .take(PORTAL_CONTACTS_MAX)
                    .collect()
            };
            let typed = PortalContactDetails {
                name: d.name.chars().take(200).collect(),
                emails: keep(d.emails),
                phones: keep(d.phones),
                addresses: keep(d.addresses),
                language: d.language.chars().take(35).collect(),
                time_zone: d.time_zone.chars().take(64).collect(),
                preferred_channel: d.preferred_channel.chars().take(20).collect(),
            };
            profile_page_with(
                &s,
                &headers,
                &c,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(typed),
                false,
                Some(e.to_string()),
                None,
            )
            .await
        }
    }
}

/// `POST /portal/preferences`: pairs of repeated `key` and `value` (the customer's own
/// preferences, recorded with source "customer"); blank rows are ignored.
pub async fn preferences_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    c: PortalCustomer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if !concierge_app::secrets::constant_time_eq(csrf_of(&pairs), &c.csrf) {
        return csrf_failed_page();
    }
    let keys: Vec<&String> = pairs
        .iter()
        .filter(|(k, _)| k == "key")
        .map(|(_, v)| v)
        .collect();
    let values: Vec<&String> = pairs
        .iter()
        .filter(|(k, _)| k == "value")
        .map(|(_, v)| v)
        .collect();
    if keys.len() != values.len() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "every preference needs a name and a value",
        )
            .into_response();
    }
    let changes: Vec<(String, String)> = keys
        .into_iter()
        .zip(values)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match s
        .app
        .save_portal_preferences(c.tenant_id, c.customer_id, &changes)
        .await
    {
        Ok(_) => Redirect::to("/portal/profile?saved=1#preferences").into_response(),
        Err(PortalError::Store(e)) => {
            tracing::warn!(error = %e, "portal preferences: store error");
            unavailable()
        }
        Err(PortalError::NotFound) => {
            let locale = portal_locale(&s, &headers, &c).await;
            not_found(&s, locale, &c.csrf)
        }
        Err(e) => {
            profile_page_with(
                &s,
                &headers,
                &c,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                false,
                None,
                Some(e.to_string()),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------- asking for a sign-in link

#[derive(Template)]
#[template(path = "portal_sign_in.html")]
struct SignInPage<'a> {
    t: Tr<'a>,
    csrf: String,
    email: String,
    /// `form`, `sent` (the same whether or not the address is known), `throttled`, `invalid`.
    state: &'static str,
}

fn plain_tr<'a>(s: &'a AppState, headers: &HeaderMap) -> Tr<'a> {
    Tr {
        i18n: &s.i18n,
        locale: crate::auth::locale_of(headers, None),
    }
}

/// `GET /portal/sign-in`: the form to ask for a sign-in link.
pub async fn sign_in_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let t = plain_tr(&s, &headers);
    let (jar, csrf) = pre_csrf(jar, s.app.config.secure_cookies());
    (
        jar,
        render(&SignInPage {
            t,
            csrf,
            email: String::new(),
            state: "form",
        }),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /portal/sign-in`: mails a one-time link when the address belongs to a customer;
/// answers the same either way.
pub async fn sign_in_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<SignInForm>,
) -> Response {
    let expected = jar.get(PRE_CSRF_COOKIE).map(|c| c.value().to_string());
    if !expected.is_some_and(|e| concierge_app::secrets::constant_time_eq(&e, &f.csrf)) {
        return csrf_failed_page();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let tenant = s.tenant_for_host(host).await;
    let t = plain_tr(&s, &headers);
    let (jar, csrf) = pre_csrf(jar, s.app.config.secure_cookies());
    let email: String = f.email.chars().take(254).collect();
    let (status, state) = match s
        .app
        .request_customer_link(tenant, &f.email, &peer.ip().to_string())
        .await
    {
        Ok(()) => (StatusCode::OK, "sent"),
        Err(AuthError::Throttled { .. }) => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
        Err(AuthError::Invalid(_)) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        Err(e) => {
            tracing::warn!(error = %e, "portal link request failed");
            return unavailable();
        }
    };
    (
        status,
        jar,
        render(&SignInPage {
            t,
            csrf,
            email,
            state,
        }),
    )
        .into_response()
}

// ---------------------------------------------------------------- the NPS survey link

#[derive(Template)]
#[template(path = "nps.html")]
struct NpsPage<'a> {
    t: Tr<'a>,
    csrf: String,
    token: String,
    company: String,
    /// `open`, `thanks`, `expired`, `invalid`.
    state: &'static str,
    error: Option<String>,
    comment: String,
}

fn nps_refusal<'a>(t: Tr<'a>, csrf: String, e: &PortalError) -> (StatusCode, NpsPage<'a>) {
    let (status, state) = match e {
        PortalError::Expired => (StatusCode::GONE, "expired"),
        _ => (StatusCode::NOT_FOUND, "invalid"),
    };
    (
        status,
        NpsPage {
            t,
            csrf,
            token: String::new(),
            company: String::new(),
            state,
            error: None,
            comment: String::new(),
        },
    )
}

/// `GET /nps/{token}`: the 0-10 question (no sign-in; the link is the key).
pub async fn nps_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(token): Path<String>,
) -> Response {
    let t = plain_tr(&s, &headers);
    let (jar, csrf) = pre_csrf(jar, s.app.config.secure_cookies());
    let (status, page) = match s.app.nps_by_link(&token).await {
        Ok((_, company)) => (
            StatusCode::OK,
            NpsPage {
                t,
                csrf,
                token,
                company,
                state: "open",
                error: None,
                comment: String::new(),
            },
        ),
        Err(PortalError::Store(_)) => return unavailable(),
        Err(e) => nps_refusal(t, csrf, &e),
    };
    (status, jar, render(&page)).into_response()
}

#[derive(Deserialize)]
pub struct NpsForm {
    #[serde(default)]
    score: String,
    #[serde(default)]
    comment: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /nps/{token}`: records the answer once.
pub async fn nps_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(token): Path<String>,
    Form(f): Form<NpsForm>,
) -> Response {
    let expected = jar.get(PRE_CSRF_COOKIE).map(|c| c.value().to_string());
    if !expected.is_some_and(|e| concierge_app::secrets::constant_time_eq(&e, &f.csrf)) {
        return csrf_failed_page();
    }
    let t = plain_tr(&s, &headers);
    let (jar, csrf) = pre_csrf(jar, s.app.config.secure_cookies());
    let (status, page) = match s.app.answer_nps_link(&token, &f.score, &f.comment).await {
        Ok(()) => (
            StatusCode::OK,
            NpsPage {
                t,
                csrf,
                token: String::new(),
                company: String::new(),
                state: "thanks",
                error: None,
                comment: String::new(),
            },
        ),
        Err(PortalError::Store(_)) => return unavailable(),
        Err(PortalError::Invalid(m)) => match s.app.nps_by_link(&token).await {
            Ok((_, company)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                NpsPage {
                    t,
                    csrf,
                    token,
                    company,
                    state: "open",
                    error: Some(m),
                    comment: f.comment.chars().take(2000).collect(),
                },
            ),
            Err(e) => nps_refusal(t, csrf, &e),
        },
        Err(e) => nps_refusal(t, csrf, &e),
    };
    (status, jar, render(&page)).into_response()
}
