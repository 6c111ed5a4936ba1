//! Foundation over HTTP (issue 2): operations, errors, roles, tenants, tokens, sessions,
//! CSRF, throttling, the portal link, outages and the language switch.

use crate::harness::*;
use concierge_domain::Role;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

#[tokio::test]
async fn operational_endpoints_and_headers() {
    let t = spawn_app().await;
    let r = reqwest::get(format!("{}/healthz", t.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers().get("x-request-id").is_some(),
        "request id echoed"
    );
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("script-src 'self' 'unsafe-inline'")
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers().get("referrer-policy").is_some());
    assert_eq!(
        reqwest::get(format!("{}/readyz", t.url))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let m = reqwest::get(format!("{}/metrics", t.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("http_requests_total"), "{m}");
}

#[tokio::test]
async fn openapi_document_is_3_1_and_lists_every_api_route() {
    let t = spawn_app().await;
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", t.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (p, m) in [
        ("/api/v1/me", "get"),
        ("/api/v1/tokens", "get"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/tokens/{id}", "delete"),
        ("/api/v1/users", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/customers", "post"),
        ("/api/v1/customers", "get"),
        ("/api/v1/customers/{id}", "get"),
        ("/api/v1/customers/{id}/portal-link", "post"),
    ] {
        assert!(
            paths.get(p).and_then(|x| x.get(m)).is_some(),
            "{m} {p} missing"
        );
    }
    // And every documented route answers (not 404/405) when called without credentials.
    for (p, item) in paths {
        for m in item.as_object().unwrap().keys() {
            let url = format!("{}{}", t.url, p.replace("{id}", "1"));
            let req = t.client().request(m.to_uppercase().parse().unwrap(), url);
            let status = req.send().await.unwrap().status();
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{m} {p}");
        }
    }
    let docs = reqwest::get(format!("{}/api/docs", t.url)).await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger-ui"));
}

#[tokio::test]
async fn bad_requests_get_clear_json_errors() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let token = t
        .user_with_token(tenant, "admin@example.com", Role::Admin)
        .await;
    let c = t.client();
    let (s, code) = error_code(
        c.get(format!("{}/api/v1/nope", t.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, code.as_str()), (StatusCode::NOT_FOUND, "not_found"));
    let (s, code) = error_code(
        c.put(format!("{}/api/v1/me", t.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let (s, code) = error_code(
        c.post(format!("{}/api/v1/customers", t.url))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{\"name\": ")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    let (s, code) = error_code(
        c.post(format!("{}/api/v1/customers", t.url))
            .bearer_auth(&token)
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let (s, code) = error_code(
        c.post(format!("{}/api/v1/customers", t.url))
            .bearer_auth(&token)
            .json(&json!({"name": 5}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_fields")
    );
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let (s, code) = error_code(
        c.post(format!("{}/api/v1/customers", t.url))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let (s, code) = error_code(
        c.get(format!("{}/api/v1/me", t.url))
            .bearer_auth("cnc_forged")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let (s, code) = error_code(
        c.get(format!("{}/api/v1/customers/abc", t.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, code.as_str()), (StatusCode::BAD_REQUEST, "bad_path"));
    // Nothing was half-written, and the server still serves.
    assert_eq!(t.app.store.count_customers(tenant).await.unwrap(), 0);
    let ok = c
        .post(format!("{}/api/v1/customers", t.url))
        .bearer_auth(&token)
        .json(&json!({"name": "佐藤 陽翔", "email": "sato@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
    let body: Value = ok.json().await.unwrap();
    assert!(body["id"].as_i64().is_some());
    assert_eq!(body["name"], "佐藤 陽翔");
}

#[tokio::test]
async fn roles_are_enforced_deny_by_default() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let admin = t
        .user_with_token(tenant, "admin@example.com", Role::Admin)
        .await;
    let agent = t
        .user_with_token(tenant, "agent@example.com", Role::Agent)
        .await;
    let manager = t
        .user_with_token(tenant, "manager@example.com", Role::Manager)
        .await;
    let c = t.client();
    for tok in [&agent, &manager] {
        let r = c
            .get(format!("{}/api/v1/users", t.url))
            .bearer_auth(tok)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(r).await,
            (StatusCode::FORBIDDEN, "forbidden".into())
        );
        let r = c
            .post(format!("{}/api/v1/users", t.url))
            .bearer_auth(tok)
            .json(&json!({"email": "x@example.com", "role": "admin"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let r = c
        .get(format!("{}/api/v1/users", t.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .post(format!("{}/api/v1/users", t.url))
        .bearer_auth(&admin)
        .json(&json!({"email": "new@example.com", "role": "agent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert!(body["generated_password"].as_str().unwrap().len() >= 10);
    // The agent can do agent things.
    let r = c
        .post(format!("{}/api/v1/customers", t.url))
        .bearer_auth(&agent)
        .json(&json!({"name": "Ann"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // The console's admin page refuses an agent.
    let u = t
        .app
        .store
        .user_by_email(tenant, "agent@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.role, Role::Agent);
    let (ac, _) = sign_in(&t, "agent@example.com", "password-123").await;
    let r = ac
        .get(format!("{}/admin/users", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn tenants_never_see_each_other_route_by_route() {
    let t = spawn_app().await;
    let ta = t.tenant("alpha").await;
    let tb = t.tenant("beta").await;
    let a = t.user_with_token(ta, "admin@alpha.test", Role::Admin).await;
    let b = t.user_with_token(tb, "admin@beta.test", Role::Admin).await;
    let c = t.client();
    let created: Value = c
        .post(format!("{}/api/v1/customers", t.url))
        .bearer_auth(&a)
        .json(&json!({"name": "Alpha Customer", "email": "cust@alpha.test"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    // Tenant A sees it.
    let r = c
        .get(format!("{}/api/v1/customers/{id}", t.url))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // GET /api/v1/customers/{id}
    let r = c
        .get(format!("{}/api/v1/customers/{id}", t.url))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // GET /api/v1/customers?email=
    let r: Value = c
        .get(format!("{}/api/v1/customers?email=cust@alpha.test", t.url))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r.as_array().unwrap().len(), 0);
    // POST /api/v1/customers/{id}/portal-link
    let r = c
        .post(format!("{}/api/v1/customers/{id}/portal-link", t.url))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // GET /api/v1/users
    let users: Value = c
        .get(format!("{}/api/v1/users", t.url))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let emails: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["admin@beta.test"]);
    // GET /api/v1/tokens and DELETE /api/v1/tokens/{id}
    let a_tokens: Value = c
        .get(format!("{}/api/v1/tokens", t.url))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a_token_id = a_tokens[0]["id"].as_i64().unwrap();
    let b_tokens: Value = c
        .get(format!("{}/api/v1/tokens", t.url))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        b_tokens
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["id"].as_i64() != Some(a_token_id))
    );
    let r = c
        .delete(format!("{}/api/v1/tokens/{a_token_id}", t.url))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // GET /api/v1/me answers for the token's own tenant.
    let me: Value = c
        .get(format!("{}/api/v1/me", t.url))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["tenant_id"].as_i64(), Some(tb.0));
    // A's token still works: B could not revoke it.
    let r = c
        .get(format!("{}/api/v1/me", t.url))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A session of tenant A is not valid on tenant B's host name.
    let (ca, resp) = {
        let c = t.client();
        let host = "alpha.localhost";
        let page = c
            .get(format!("{}/sign-in", t.url))
            .header("host", host)
            .send()
            .await
            .unwrap();
        let csrf = csrf_in(&page.text().await.unwrap());
        let resp = c
            .post(format!("{}/sign-in", t.url))
            .header("host", host)
            .form(&[
                ("email", "admin@alpha.test"),
                ("password", "password-123"),
                ("_csrf", &csrf),
            ])
            .send()
            .await
            .unwrap();
        (c, resp)
    };
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let home = ca
        .get(format!("{}/", t.url))
        .header("host", "alpha.localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let other = ca
        .get(format!("{}/", t.url))
        .header("host", "beta.localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        StatusCode::SEE_OTHER,
        "tenant A's session on tenant B's host"
    );
}

#[tokio::test]
async fn tokens_are_shown_once_and_revocable() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let admin = t
        .user_with_token(tenant, "admin@example.com", Role::Admin)
        .await;
    let c = t.client();
    let r = c
        .post(format!("{}/api/v1/tokens", t.url))
        .bearer_auth(&admin)
        .json(&json!({"name": "shop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_string();
    let id = body["id"].as_i64().unwrap();
    assert!(token.starts_with("cnc_"));
    // Listing never shows the secret.
    let list = c
        .get(format!("{}/api/v1/tokens", t.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains(&token));
    assert_eq!(
        c.get(format!("{}/api/v1/me", t.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let r = c
        .delete(format!("{}/api/v1/tokens/{id}", t.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = c
        .get(format!("{}/api/v1/me", t.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn console_sign_in_sessions_and_sign_out() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    t.app
        .add_user(tenant, "ann@example.com", None, Role::Agent, "password-123")
        .await
        .unwrap();
    // Anonymous visitors are sent to sign in.
    let r = t.client().get(format!("{}/", t.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/sign-in");
    // Wrong password: an error on the page, no session.
    let (_, r) = sign_in(&t, "ann@example.com", "wrong-password").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("flash-error"));
    // Right password: a session cookie with the right attributes.
    let (c, r) = sign_in(&t, "ann@example.com", "password-123").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("concierge_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "plain http here");
    let home = c.get(format!("{}/", t.url)).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text().await.unwrap();
    assert!(html.contains("ann@example.com"));
    // A second sign-in gets a new session id.
    let (_, r2) = sign_in(&t, "ann@example.com", "password-123").await;
    let cookie2 = r2
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("concierge_session="))
        .unwrap();
    assert_ne!(cookie.split(';').next(), cookie2.split(';').next());
    // Cookie-authenticated API writes need the CSRF header.
    let r = c
        .post(format!("{}/api/v1/customers", t.url))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::FORBIDDEN, "csrf_failed".into())
    );
    let csrf = csrf_in(&html);
    let r = c
        .post(format!("{}/api/v1/customers", t.url))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // Sign-out without the CSRF token is refused; with it, the session ends on the server.
    let r = c
        .post(format!("{}/sign-out", t.url))
        .form(&[("_csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let session_value = cookie.split(';').next().unwrap().to_string();
    let r = c
        .post(format!("{}/sign-out", t.url))
        .form(&[("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Replaying the old cookie does not work: the session is gone server-side.
    let replay = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let r = replay
        .get(format!("{}/", t.url))
        .header("cookie", session_value)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forms_without_csrf_are_refused() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    t.app
        .add_user(tenant, "ann@example.com", None, Role::Admin, "password-123")
        .await
        .unwrap();
    // Sign-in form without the pre-session token (login CSRF).
    let r = t
        .client()
        .post(format!("{}/sign-in", t.url))
        .form(&[
            ("email", "ann@example.com"),
            ("password", "password-123"),
            ("_csrf", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (c, _) = sign_in(&t, "ann@example.com", "password-123").await;
    for (path, form) in [
        ("/settings/tokens", vec![("name", "x")]),
        (
            "/settings/password",
            vec![("current", "password-123"), ("new", "another-password")],
        ),
        (
            "/admin/users",
            vec![("email", "z@example.com"), ("role", "admin")],
        ),
        ("/lang", vec![("lang", "ko")]),
    ] {
        let r = c
            .post(format!("{}{path}", t.url))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == StatusCode::FORBIDDEN || r.status() == StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            r.status()
        );
    }
    assert!(
        t.app
            .store
            .user_by_email(tenant, "z@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        t.app
            .store
            .list_api_tokens(
                tenant,
                t.app
                    .store
                    .user_by_email(tenant, "ann@example.com")
                    .await
                    .unwrap()
                    .unwrap()
                    .id
            )
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_account_and_per_address() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    t.app
        .add_user(tenant, "ann@example.com", None, Role::Agent, "password-123")
        .await
        .unwrap();
    for _ in 0..5 {
        let (_, r) = sign_in(&t, "ann@example.com", "wrong-password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused now.
    let (_, r) = sign_in(&t, "ann@example.com", "password-123").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Per address: many accounts from one address.
    for i in 0..15 {
        let (_, r) = sign_in(&t, &format!("nobody{i}@example.com"), "x-wrong-password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    t.app
        .add_user(tenant, "bob@example.com", None, Role::Agent, "password-123")
        .await
        .unwrap();
    let (_, r) = sign_in(&t, "bob@example.com", "password-123").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // After the window passes, sign-in works again.
    t.app.clock.advance_ms(16 * 60 * 1000);
    let (_, r) = sign_in(&t, "ann@example.com", "password-123").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn password_change_ends_every_session() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    t.app
        .add_user(tenant, "ann@example.com", None, Role::Agent, "password-123")
        .await
        .unwrap();
    let (phone, _) = sign_in(&t, "ann@example.com", "password-123").await;
    let (laptop, _) = sign_in(&t, "ann@example.com", "password-123").await;
    let page = laptop
        .get(format!("{}/settings/password", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&page);
    let r = laptop
        .post(format!("{}/settings/password", t.url))
        .form(&[
            ("current", "password-123"),
            ("new", "a-new-password-456"),
            ("_csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The other device is signed out; the one that changed it has a fresh session.
    assert_eq!(
        phone
            .get(format!("{}/", t.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        laptop
            .get(format!("{}/", t.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let (_, r) = sign_in(&t, "ann@example.com", "a-new-password-456").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn customer_portal_link_works_once_and_expires() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let admin = t
        .user_with_token(tenant, "admin@example.com", Role::Admin)
        .await;
    let c = t.client();
    let cust: Value = c
        .post(format!("{}/api/v1/customers", t.url))
        .bearer_auth(&admin)
        .json(&json!({"name": "이서연", "email": "seoyeon@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = cust["id"].as_i64().unwrap();
    let r = c
        .post(format!("{}/api/v1/customers/{id}/portal-link", t.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // The mail is in the outbox, with the link.
    let outbox = t.data.path().join("outbox");
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let raw = std::fs::read(&files[0]).unwrap();
    let mail = concierge_mail::parse(&raw, &concierge_mail::ParseLimits::default()).unwrap();
    assert_eq!(mail.to[0].address, "seoyeon@example.com");
    let text = mail.text_body.unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/portal/auth/"))
        .unwrap()
        .to_string();
    // Opening the link shows a confirmation (GET never uses it up).
    let browser = t.client();
    let page = browser
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let page2 = browser
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page2.contains("portal-sign-in"));
    let csrf = csrf_in(&page);
    let r = browser
        .post(&link)
        .form(&[("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let home = browser
        .get(format!("{}/portal", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains("이서연"));
    // A customer session is not a staff session.
    let r = browser
        .get(format!("{}/api/v1/me", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        browser
            .get(format!("{}/", t.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    // The link works once.
    let other = t.client();
    let page = other.get(&link).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_in(&page);
    let r = other
        .post(&link)
        .form(&[("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A guessed link does nothing; an expired one neither.
    let r = c
        .post(format!("{}/api/v1/customers/{id}/portal-link", t.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    t.app.clock.advance_ms(31 * 60 * 1000);
    let mut newest = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect::<Vec<_>>();
    newest.retain(|p| *p != files[0]);
    let raw = std::fs::read(&newest[0]).unwrap();
    let text = concierge_mail::parse(&raw, &concierge_mail::ParseLimits::default())
        .unwrap()
        .text_body
        .unwrap();
    let link2 = text
        .split_whitespace()
        .find(|w| w.contains("/portal/auth/"))
        .unwrap()
        .to_string();
    let late = t.client();
    let page = late.get(&link2).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_in(&page);
    let r = late
        .post(&link2)
        .form(&[("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "expired link");
    let forged = format!(
        "{}/portal/auth/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        t.url
    );
    let page = late
        .get(&forged)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&page);
    assert_eq!(
        late.post(&forged)
            .form(&[("_csrf", &csrf)])
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn secure_cookies_behind_https() {
    let t = spawn_app_with(|c| c.server.public_url = "https://help.example.com".into()).await;
    let tenant = t.default_tenant().await;
    t.app
        .add_user(tenant, "ann@example.com", None, Role::Agent, "password-123")
        .await
        .unwrap();
    let (_, r) = sign_in(&t, "ann@example.com", "password-123").await;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("concierge_session="))
        .unwrap_or_default();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn a_database_outage_is_a_clear_503_and_the_server_keeps_serving() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let token = t
        .user_with_token(tenant, "admin@example.com", Role::Admin)
        .await;
    t.app.store.close().await;
    let r = reqwest::get(format!("{}/readyz", t.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = t
        .client()
        .get(format!("{}/api/v1/me", t.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable".into()
        )
    );
    let r = reqwest::get(format!("{}/healthz", t.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn language_switch_changes_the_page() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    t.app
        .add_user(tenant, "ann@example.com", None, Role::Agent, "password-123")
        .await
        .unwrap();
    let (c, _) = sign_in(&t, "ann@example.com", "password-123").await;
    let html = c
        .get(format!("{}/", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("<h1>Home</h1>"));
    let csrf = csrf_in(&html);
    for (lang, h1) in [("zh-CN", "首页"), ("ko", "홈")] {
        let r = c
            .post(format!("{}/lang", t.url))
            .form(&[("lang", lang), ("_csrf", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let html = c
            .get(format!("{}/", t.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains(&format!("<html lang=\"{lang}\">")), "{lang}");
        assert!(html.contains(&format!("<h1>{h1}</h1>")), "{lang}");
    }
    // The choice is remembered on the account.
    let u = t
        .app
        .store
        .user_by_email(tenant, "ann@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.locale, "ko");
}
