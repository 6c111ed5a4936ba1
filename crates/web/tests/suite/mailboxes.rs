//! IMAP mailboxes over HTTP (issue 5): admins add, read, replace and delete them; the password
//! is never returned; agents and managers are refused; another tenant's id is 404; "poll now"
//! against a real Dovecot takes the mail in, and a wrong password shows as `last_error`; the
//! stored password is encrypted.

use crate::harness::*;
use concierge_domain::Role;
use concierge_mail::ImapMailbox;
use concierge_mail::testing::{self, Dovecot};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn body(port: u16, password: Option<&str>) -> Value {
    let mut b = json!({
        "name": "support",
        "address": "support@shop.example",
        "imap_host": "127.0.0.1",
        "imap_port": port,
        "tls_mode": "plain",
        "username": testing::USER,
        "poll_interval_secs": 30
    });
    if let Some(p) = password {
        b["password"] = json!(p);
    }
    b
}

#[tokio::test]
async fn admins_manage_mailboxes_the_password_never_comes_back_and_poll_now_takes_mail_in() {
    let imap = Dovecot::start().unwrap();
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let admin = Api::new(
        &t,
        t.user_with_token(tenant, "admin@shop.example", Role::Admin)
            .await,
    );
    let manager = Api::new(
        &t,
        t.user_with_token(tenant, "m@shop.example", Role::Manager)
            .await,
    );

    let (s, v) = admin.post("/api/v1/mailboxes", body(imap.port, None)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(message(&v).contains("password"), "{v}");
    let (s, v) = manager
        .post("/api/v1/mailboxes", body(imap.port, Some("x")))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    // Created with a wrong password: nothing secret is echoed.
    let (s, v) = admin
        .post(
            "/api/v1/mailboxes",
            body(imap.port, Some("not-the-password")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().unwrap();
    assert_eq!(v["password_set"], true);
    assert_eq!(v["folder"], "INBOX");
    assert_eq!(v["after_commit"], "seen");
    assert!(v.get("password").is_none(), "{v}");
    assert!(!v.to_string().contains("not-the-password"));
    let (s, v) = admin
        .post("/api/v1/mailboxes", body(imap.port, Some("x")))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "same name twice: {v}");

    {
        let mut c = ImapMailbox::open(&imap.config("INBOX")).await.unwrap();
        c.append(
            "INBOX",
            b"From: Jane <jane@example.com>\r\nTo: support@shop.example\r\n\
              Subject: Over IMAP\r\nMessage-ID: <web-imap-1@example.com>\r\n\r\nHello.\r\n",
        )
        .await
        .unwrap();
        c.logout().await;
    }
    let (s, v) = admin
        .post(&format!("/api/v1/mailboxes/{id}/poll"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["processed"], 0);
    assert!(
        v["error"].as_str().unwrap().contains("sign-in refused"),
        "{v}"
    );
    let (_, v) = admin.get(&format!("/api/v1/mailboxes/{id}")).await;
    assert!(
        v["last_error"]
            .as_str()
            .unwrap()
            .contains("sign-in refused"),
        "{v}"
    );
    assert!(v["last_polled_at"].as_i64().is_some(), "{v}");

    // Replaced without a password: the stored (wrong) one stays; then with the right one.
    let (s, v) = admin
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/mailboxes/{id}"),
            Some(body(imap.port, None)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["password_set"], true);
    let (s, _) = admin
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/mailboxes/{id}"),
            Some(body(imap.port, Some(testing::PASSWORD))),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // At rest (the column as the store reads it) the password is encrypted with the node's
    // key, never in plain text.
    let stored = t
        .app
        .store
        .mailbox(tenant, id)
        .await
        .unwrap()
        .unwrap()
        .password;
    assert!(stored.starts_with("enc:v1:"), "{stored}");
    assert!(!stored.contains(testing::PASSWORD), "{stored}");
    let (s, v) = admin
        .post(&format!("/api/v1/mailboxes/{id}/poll"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["processed"], 1, "{v}");
    assert_eq!(v["mailbox"]["last_error"], Value::Null, "{v}");
    assert_eq!(v["mailbox"]["last_uid"], 1, "{v}");
    let (_, list) = admin.get("/api/v1/mailboxes").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(testing::PASSWORD));
    let (_, cases) = admin.get("/api/v1/cases").await;
    assert!(cases.to_string().contains("Over IMAP"), "{cases}");

    // Another tenant's admin sees none of it.
    let other = t.tenant("other").await;
    let stranger = Api::new(
        &t,
        t.user_with_token(other, "admin@other.example", Role::Admin)
            .await,
    );
    let (_, list) = stranger.get("/api/v1/mailboxes").await;
    assert_eq!(list.as_array().unwrap().len(), 0);
    for (method, path) in [
        (reqwest::Method::GET, format!("/api/v1/mailboxes/{id}")),
        (reqwest::Method::DELETE, format!("/api/v1/mailboxes/{id}")),
        (
            reqwest::Method::POST,
            format!("/api/v1/mailboxes/{id}/poll"),
        ),
    ] {
        let (s, v) = stranger.send(method, &path, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {v}");
    }
    let (s, _) = stranger
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/mailboxes/{id}"),
            Some(body(imap.port, None)),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, _) = admin
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/mailboxes/{id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = admin.get(&format!("/api/v1/mailboxes/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_console_page_lists_adds_and_polls_mailboxes_for_admins_only() {
    let imap = Dovecot::start().unwrap();
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    t.user_with_token(tenant, "admin@shop.example", Role::Admin)
        .await;
    t.user_with_token(tenant, "m@shop.example", Role::Manager)
        .await;
    let manager = signed_in(&t, "m@shop.example").await;
    let r = manager
        .get(format!("{}/admin/mailboxes", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let admin = signed_in(&t, "admin@shop.example").await;
    let page = admin
        .get(format!("{}/admin/mailboxes", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("No mailboxes yet."), "{page}");
    assert!(
        page.contains("href=\"/admin/mailboxes\""),
        "linked for admins"
    );
    let csrf = csrf_in(&page);
    let port = imap.port.to_string();
    let form = |host: &'static str| {
        vec![
            ("_csrf", csrf.clone()),
            ("name", "support".to_string()),
            ("address", "support@shop.example".to_string()),
            ("imap_host", host.to_string()),
            ("imap_port", port.clone()),
            ("tls_mode", "plain".to_string()),
            ("username", testing::USER.to_string()),
            ("password", testing::PASSWORD.to_string()),
            ("folder", "INBOX".to_string()),
            ("move_to", String::new()),
        ]
    };
    // Plain text to a remote server is refused with the reason.
    let r = admin
        .post(format!("{}/admin/mailboxes", t.url))
        .form(&form("imap.example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("localhost"));
    let r = admin
        .post(format!("{}/admin/mailboxes", t.url))
        .form(&form("127.0.0.1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    {
        let mut c = ImapMailbox::open(&imap.config("INBOX")).await.unwrap();
        c.append(
            "INBOX",
            b"From: Jane <jane@example.com>\r\nTo: support@shop.example\r\n\
              Subject: From the console\r\nMessage-ID: <console-1@example.com>\r\n\r\nHi.\r\n",
        )
        .await
        .unwrap();
        c.logout().await;
    }
    let id = t.app.store.mailboxes(tenant).await.unwrap()[0].id;
    let r = admin
        .post(format!("{}/admin/mailboxes/{id}/poll", t.url))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("Messages taken in: 1"), "{page}");
    assert!(page.contains("127.0.0.1"), "{page}");
    assert!(
        !page.contains(testing::PASSWORD),
        "the password never reaches a page"
    );
}
