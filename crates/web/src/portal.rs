//! The customer portal's entry: one-time sign-in links sent by mail, and signing out. The
//! pages behind the sign-in (requests, settings) and the survey link are in `portal_cases`.
//!
//! Opening a link shows a confirmation button instead of signing in on GET, so that mail
//! scanners that pre-fetch links cannot use up the link.

use crate::auth::{PRE_CSRF_COOKIE, PortalCustomer, SESSION_COOKIE, csrf_failed_page, locale_of};
use crate::console::{pre_csrf, render, session_cookie};
use crate::i18n::Tr;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use concierge_mail::{MailAddress, MailSender, OutboundMail, OutboxSender, build_message};
use serde::Deserialize;

/// Writes the sign-in mail to the outbox.
pub async fn mail_sign_in_link(
    s: &AppState,
    name: &str,
    email: &str,
    token: &str,
) -> Result<(), String> {
    let link = format!("{}/portal/auth/{token}", s.base_url.trim_end_matches('/'));
    let from = parse_mailbox(&s.app.config.mail.from);
    let domain = from
        .address
        .rsplit('@')
        .next()
        .unwrap_or("localhost")
        .to_string();
    let mail = OutboundMail {
        from,
        to: vec![MailAddress::new(email, Some(name.to_string()))],
        cc: vec![],
        reply_to: None,
        message_id: format!(
            "portal.{}@{domain}",
            concierge_app::secrets::random_secret()
        ),
        in_reply_to: None,
        references: vec![],
        subject: "Your sign-in link".into(),
        case_id: None,
        automatic: true,
        text: format!(
            "Hello {name},\n\nOpen this link to see your requests:\n\n{link}\n\n\
             It works once and expires in {} minutes. If you did not ask for it, ignore \
             this mail.\n",
            s.app.config.auth.customer_link_minutes
        ),
        html: None,
        attachments: vec![],
        date: None,
    };
    let msg = build_message(&mail).map_err(|e| e.to_string())?;
    OutboxSender::new(s.app.config.outbox_dir())
        .send(&msg)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Splits `Name <addr@host>` into a mailbox.
pub fn parse_mailbox(s: &str) -> MailAddress {
    match (s.find('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => {
            let name = s[..a].trim().trim_matches('"').to_string();
            MailAddress::new(
                s[a + 1..b].trim(),
                if name.is_empty() { None } else { Some(name) },
            )
        }
        _ => MailAddress::new(s.trim(), None),
    }
}

#[derive(Template)]
#[template(path = "portal_link.html")]
struct LinkPage<'a> {
    t: Tr<'a>,
    csrf: String,
    token: String,
    error: bool,
}

/// `GET /portal/auth/{token}`: a confirmation page.
pub async fn link_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(token): Path<String>,
) -> Response {
    let t = Tr {
        i18n: &s.i18n,
        locale: locale_of(&headers, None),
    };
    let (jar, csrf) = pre_csrf(jar, s.app.config.secure_cookies());
    (
        jar,
        render(&LinkPage {
            t,
            csrf,
            token,
            error: false,
        }),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /portal/auth/{token}`: uses the link and starts a portal session.
pub async fn redeem(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(token): Path<String>,
    Form(f): Form<LinkForm>,
) -> Response {
    let expected = jar.get(PRE_CSRF_COOKIE).map(|c| c.value().to_string());
    if !expected.is_some_and(|e| concierge_app::secrets::constant_time_eq(&e, &f.csrf)) {
        return csrf_failed_page();
    }
    match s.app.redeem_customer_link(&token).await {
        Ok((_, _, session)) => {
            let jar = jar.add(session_cookie(
                session.cookie_value,
                s.app.config.secure_cookies(),
            ));
            (jar, Redirect::to("/portal")).into_response()
        }
        Err(_) => {
            let t = Tr {
                i18n: &s.i18n,
                locale: locale_of(&headers, None),
            };
            let (jar, csrf) = pre_csrf(jar, s.app.config.secure_cookies());
            (
                axum::http::StatusCode::UNAUTHORIZED,
                jar,
                render(&LinkPage {
                    t,
                    csrf,
                    token: String::new(),
                    error: true,
                }),
            )
                .into_response()
        }
    }
}

/// `POST /portal/sign-out`.
pub async fn sign_out(
    State(s): State<AppState>,
    jar: CookieJar,
    c: PortalCustomer,
    Form(f): Form<LinkForm>,
) -> Response {
    if !concierge_app::secrets::constant_time_eq(&f.csrf, &c.csrf) {
        return csrf_failed_page();
    }
    if let Some(v) = jar.get(SESSION_COOKIE) {
        let _ = s.app.sign_out(v.value()).await;
    }
    let jar = jar.remove(axum_extra::extract::cookie::Cookie::build(SESSION_COOKIE).path("/"));
    (jar, Redirect::to("/portal/signed-out")).into_response()
}

#[derive(Template)]
#[template(path = "portal_signed_out.html")]
struct SignedOut<'a> {
    t: Tr<'a>,
}

/// `GET /portal/signed-out`.
pub async fn signed_out(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let t = Tr {
        i18n: &s.i18n,
        locale: locale_of(&headers, None),
    };
    render(&SignedOut { t })
}
