//! Mail over HTTP (issue 5): `POST /api/v1/mail/inbound` takes a raw message for managers
//! and admins, threads a reply onto its case, counts a second delivery once, and refuses
//! agents, wrong content types and tenants' crossings.

use crate::harness::*;
use concierge_domain::Role;
use reqwest::StatusCode;
use serde_json::Value;

async fn post_mail(t: &TestApp, token: &str, raw: &str, ct: &str) -> (StatusCode, Value) {
    let r = t
        .client()
        .post(format!("{}/api/v1/mail/inbound?mailbox=support", t.url))
        .bearer_auth(token)
        .header("content-type", ct)
        .body(raw.to_string())
        .send()
        .await
        .unwrap();
    let s = r.status();
    let text = r.text().await.unwrap();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

const FIRST: &str = "From: Wang Fang <wang.fang@example.com>\r\nTo: support@shop.example\r\n\
Subject: =?UTF-8?B?5oiR55qE6K6i5Y2V5o2f5Z2P5LqG?=\r\nMessage-ID: <first-1@example.com>\r\n\
Date: Sun, 29 Nov 2026 10:00:00 +0800\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n我的订单损坏了，请尽快处理。\r\n";

#[tokio::test]
async fn inbound_mail_becomes_a_case_and_a_reply_threads_onto_it() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let manager = t
        .user_with_token(tenant, "m@shop.example", Role::Manager)
        .await;
    let agent = t
        .user_with_token(tenant, "a@shop.example", Role::Agent)
        .await;
    let (s, v) = post_mail(&t, &manager, FIRST, "message/rfc822").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "processed", "{v}");
    let case_id = v["case_id"].as_i64().unwrap();
    let number = v["case_number"].as_i64().unwrap();
    // The same delivery again is one message.
    let (s, again) = post_mail(&t, &manager, FIRST, "message/rfc822").await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["state"], "duplicate", "{again}");
    // The customer's reply (In-Reply-To the first mail) lands on the same case.
    let reply = format!(
        "From: wang.fang@example.com\r\nTo: support@shop.example\r\n\
         Subject: =?UTF-8?B?5Zue5aSNOg==?= [#{number}] order\r\nMessage-ID: <reply-2@example.com>\r\n\
         In-Reply-To: <first-1@example.com>\r\nReferences: <first-1@example.com>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n还有照片。\r\n"
    );
    let (s, r) = post_mail(&t, &manager, &reply, "message/rfc822").await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["case_id"].as_i64(), Some(case_id), "{r}");
    let api = Api::new(&t, manager.clone());
    let (_, case) = api.get(&format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(case["channel"], "email");
    assert_eq!(case["subject"], "我的订单损坏了");
    let bodies: Vec<&str> = case["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body_text"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(bodies[1].contains("还有照片"));
    // Agents may not post raw mail; a wrong content type is refused; another tenant's
    // manager does not thread into this tenant's case.
    let (s, _) = post_mail(&t, &agent, FIRST, "message/rfc822").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = post_mail(&t, &manager, FIRST, "application/json").await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let other = t.tenant("other").await;
    let other_manager = t
        .user_with_token(other, "m@other.example", Role::Manager)
        .await;
    let (s, o) = post_mail(&t, &other_manager, &reply, "message/rfc822").await;
    assert_eq!(s, StatusCode::OK, "{o}");
    assert_ne!(o["case_id"].as_i64(), Some(case_id), "{o}");
}

#[tokio::test]
async fn the_acknowledgement_is_switched_on_over_the_api_and_answers_a_new_mail_once() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let manager = t
        .user_with_token(tenant, "m@shop.example", Role::Manager)
        .await;
    let agent = t
        .user_with_token(tenant, "a@shop.example", Role::Agent)
        .await;
    let api = Api::new(&t, manager.clone());
    let (s, v) = api.get("/api/v1/mail/acknowledgement").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["enabled"], false, "off by default");
    let put = |body: Value| {
        api.send(
            reqwest::Method::PUT,
            "/api/v1/mail/acknowledgement",
            Some(body),
        )
    };
    let (s, v) = put(serde_json::json!({"enabled": true,
        "body": "Hi {{customer.nickname}}", "window_minutes": 60}))
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(message(&v).contains("customer.nickname"), "{v}");
    let (s, v) = put(serde_json::json!({"enabled": true,
        "body": "Hello {{customer.first_name | \"there\"}}, we got it.", "window_minutes": 30}))
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = Api::new(&t, agent)
        .send(
            reqwest::Method::PUT,
            "/api/v1/mail/acknowledgement",
            Some(serde_json::json!({"enabled": false, "body": "x", "window_minutes": 5})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, v) = post_mail(&t, &manager, FIRST, "message/rfc822").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let case_id = v["case_id"].as_i64().unwrap();
    let (_, case) = api.get(&format!("/api/v1/cases/{case_id}")).await;
    let acks: Vec<&Value> = case["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["author_kind"] == "system")
        .collect();
    assert_eq!(acks.len(), 1, "{case}");
    assert!(acks[0]["body_text"].as_str().unwrap().contains("we got it"));
    assert_eq!(acks[0]["delivery_state"], "queued");
}
