//! Identity and privacy over HTTP (issue 3): search by any writing of an email or phone,
//! duplicates, merge and undo (every event kept), bad merges, export and erase (admins),
//! tenant isolation of every identity route, the OpenAPI document, and the console's
//! duplicates page, merge, undo, export and erase confirmation. SQLite, or PostgreSQL when
//! `CONCIERGE_TEST_DATABASE_URL` is set.

use crate::harness::*;
use concierge_domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A customer with contacts and a few things remembered, created over the API.
async fn guest(api: &Api<'_>, name: &str, email: &str, phone: &str, drink: &str) -> i64 {
    let id = api.create(name, Some(email)).await;
    let (s, v) = api
        .patch(
            &format!("/api/v1/customers/{id}"),
            json!({"contacts": [{"kind": "email", "value": email, "primary": true},
                                {"kind": "phone", "value": phone}],
                   "tags": ["hotel"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = api
        .post(
            &format!("/api/v1/customers/{id}/preferences"),
            json!({"key": "drink", "value": drink}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = api
        .post(
            &format!("/api/v1/customers/{id}/notes"),
            json!({"body": format!("note about {name}")}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    id
}

async fn timeline_len(api: &Api<'_>, id: i64) -> usize {
    let (s, v) = api
        .get(&format!("/api/v1/customers/{id}/timeline?limit=200"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] != "merged" && i["kind"] != "unmerged")
        .count()
}

#[tokio::test]
async fn search_finds_a_customer_by_any_writing_of_email_phone_name_or_external_id() {
    let t = spawn_app().await;
    let tenant = t.tenant("acme").await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "a@acme.test", Role::Agent).await,
    );
    let (s, v) = api
        .post(
            "/api/v1/customers",
            json!({"name": "Jöns Müller", "email": "Jons.Muller@Example.com", "external_id": "SHOP-77"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().unwrap();
    api.patch(
        &format!("/api/v1/customers/{id}"),
        json!({"contacts": [{"kind": "email", "value": "Jons.Muller@Example.com"},
                            {"kind": "phone", "value": "+1 415 555 0100"}]}),
    )
    .await;
    for q in [
        "muller",
        "JÖNS",
        "jons.muller@EXAMPLE.COM",
        "(415) 555-0100",
        "1-415-555-0100",
        "+14155550100",
        "SHOP-77",
    ] {
        let (s, v) = api
            .get(&format!("/api/v1/customers?q={}", urlencode(q)))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let ids: Vec<i64> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![id], "q={q}");
    }
    let (_, v) = api
        .get("/api/v1/customers?email=JONS.muller%40example.com")
        .await;
    assert_eq!(v[0]["id"], id);
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn merge_and_undo_over_the_api_keep_every_event() {
    let t = spawn_app().await;
    let tenant = t.tenant("acme").await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "a@acme.test", Role::Agent).await,
    );
    let a = guest(
        &api,
        "Ann Lee",
        "ann@example.com",
        "+82 10 1111 2222",
        "tea",
    )
    .await;
    let b = guest(
        &api,
        "Ann Lee",
        "ANN@example.com",
        "+82 10 3333 4444",
        "coffee",
    )
    .await;
    let (s, v) = api
        .post(
            "/api/v1/cases",
            json!({"subject": "Room", "body": "Quiet room please", "customer_id": b}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // The pair is listed for review, with its reason.
    let (s, v) = api.get("/api/v1/customers/duplicates").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["pairs"][0]["a"]["id"], a);
    assert_eq!(v["pairs"][0]["b"]["id"], b);
    assert_eq!(v["pairs"][0]["reasons"], json!(["shared_email"]));

    let (ta, tb) = (timeline_len(&api, a).await, timeline_len(&api, b).await);
    // Bad merges: into itself, into nobody, unknown fields.
    let (s, v) = api
        .post(&format!("/api/v1/customers/{a}/merge"), json!({"into": a}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(code(&v), "same_customer");
    assert!(message(&v).contains("itself"));
    let (s, _) = api
        .post(
            &format!("/api/v1/customers/{a}/merge"),
            json!({"into": 999_999}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .post(
            &format!("/api/v1/customers/{a}/merge"),
            json!({"target": b}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(timeline_len(&api, a).await, ta, "nothing changed");

    let (s, m) = api
        .post(&format!("/api/v1/customers/{b}/merge"), json!({"into": a}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["source_id"], b);
    assert_eq!(m["target_id"], a);
    assert_eq!(m["moved"]["cases"], 1);
    let merge_id = m["id"].as_i64().unwrap();
    assert_eq!(timeline_len(&api, a).await, ta + tb);
    assert_eq!(timeline_len(&api, b).await, 0);
    // The merged customer says where it went; the merged timeline has the case and both
    // histories; a second merge is a conflict.
    let (s, v) = api.get(&format!("/api/v1/customers/{b}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["merged_into"], a);
    let (_, v) = api.get(&format!("/api/v1/customers/{a}")).await;
    assert_eq!(v["preferences"][0]["value"], "coffee", "{v}");
    // ann@example.com was on both (written differently): kept once.
    assert_eq!(v["contacts"].as_array().unwrap().len(), 3, "{v}");
    let (_, v) = api
        .get(&format!("/api/v1/customers/{a}/preferences?history=true"))
        .await;
    assert_eq!(v.as_array().unwrap().len(), 2);
    let (s, v) = api
        .post(&format!("/api/v1/customers/{b}/merge"), json!({"into": a}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(code(&v), "already_merged");
    let (_, v) = api.get(&format!("/api/v1/customers/{a}/merges")).await;
    assert_eq!(v[0]["id"], merge_id);

    // Undo: each customer has its own timeline again.
    let (s, v) = api
        .post(
            &format!("/api/v1/customers/merges/{merge_id}/undo"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["undone_at"].is_i64());
    assert_eq!(timeline_len(&api, a).await, ta);
    assert_eq!(timeline_len(&api, b).await, tb);
    let (_, v) = api.get(&format!("/api/v1/customers/{b}")).await;
    assert_eq!(v["merged_into"], Value::Null);
    assert_eq!(v["preferences"][0]["value"], "coffee");
    let (_, v) = api.get(&format!("/api/v1/customers/{a}")).await;
    assert_eq!(v["preferences"][0]["value"], "tea");
    let (s, v) = api
        .post(
            &format!("/api/v1/customers/merges/{merge_id}/undo"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(code(&v), "already_undone");

    // "Not a duplicate" is remembered.
    let (s, _) = api
        .post(
            "/api/v1/customers/duplicates/dismiss",
            json!({"a": b, "b": a}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) = api.get("/api/v1/customers/duplicates").await;
    assert_eq!(v["pairs"], json!([]));
}

#[tokio::test]
async fn export_and_erase() {
    let t = spawn_app().await;
    let tenant = t.tenant("acme").await;
    let agent = Api::new(
        &t,
        t.user_with_token(tenant, "a@acme.test", Role::Agent).await,
    );
    let admin = Api::new(
        &t,
        t.user_with_token(tenant, "b@acme.test", Role::Admin).await,
    );
    let id = guest(
        &agent,
        "Ann Lee",
        "ann@example.com",
        "+82 10 1111 2222",
        "tea",
    )
    .await;
    let (s, _) = agent
        .post(
            "/api/v1/cases",
            json!({"subject": "Lost ring", "body": "I lost my grandmother's ring in room 12",
                   "customer_id": id}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let resp = agent
        .c
        .get(format!("{}/api/v1/customers/{id}/export", t.url))
        .bearer_auth(&agent.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["customer"]["display_name"], "Ann Lee");
    assert_eq!(doc["preferences"][0]["value"], "tea");
    assert!(doc.to_string().contains("grandmother's ring"));

    // Only admins erase.
    let (s, v) = agent
        .post(&format!("/api/v1/customers/{id}/erase"), json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = admin
        .post(&format!("/api/v1/customers/{id}/erase"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["erased_now"], true);
    let (s, v) = admin
        .post(&format!("/api/v1/customers/{id}/erase"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["erased_now"], false, "idempotent");
    let (_, doc) = agent.get(&format!("/api/v1/customers/{id}/export")).await;
    let text = doc.to_string();
    for secret in [
        "Ann Lee",
        "ann@example.com",
        "1111",
        "tea",
        "note about",
        "ring",
    ] {
        assert!(!text.contains(secret), "{secret} survived: {text}");
    }
    assert_eq!(doc["cases"].as_array().unwrap().len(), 1);
    let (_, found) = agent.get("/api/v1/customers?q=ann%40example.com").await;
    assert_eq!(found, json!([]));
    let (_, v) = agent.get(&format!("/api/v1/customers/{id}")).await;
    assert!(v["erased_at"].is_i64());
    assert_eq!(v["name"], format!("Erased customer #{id}"));
}

#[tokio::test]
async fn tenant_isolation_holds_for_every_identity_route() {
    let t = spawn_app().await;
    let ta = t.tenant("alpha").await;
    let tb = t.tenant("beta").await;
    let a = Api::new(
        &t,
        t.user_with_token(ta, "admin@alpha.test", Role::Admin).await,
    );
    let b = Api::new(
        &t,
        t.user_with_token(tb, "admin@beta.test", Role::Admin).await,
    );
    let x = guest(&a, "Alpha One", "one@alpha.test", "+82 10 1111 2222", "tea").await;
    let y = guest(
        &a,
        "Alpha Two",
        "ONE@alpha.test",
        "+82 10 3333 4444",
        "milk",
    )
    .await;
    let mine = guest(&b, "Beta One", "one@alpha.test", "+82 10 1111 2222", "tea").await;
    let (s, m) = a
        .post(&format!("/api/v1/customers/{y}/merge"), json!({"into": x}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let merge_id = m["id"].as_i64().unwrap();
    let before = a.get(&format!("/api/v1/customers/{x}")).await;

    use reqwest::Method as M;
    let routes: Vec<(M, String, Option<Value>)> = vec![
        (M::GET, format!("/api/v1/customers/{x}"), None),
        (
            M::PATCH,
            format!("/api/v1/customers/{x}"),
            Some(json!({"name": "Hijacked"})),
        ),
        (M::GET, format!("/api/v1/customers/{x}/preferences"), None),
        (M::GET, format!("/api/v1/customers/{x}/notes"), None),
        (M::GET, format!("/api/v1/customers/{x}/timeline"), None),
        (M::GET, format!("/api/v1/customers/{x}/export"), None),
        (M::GET, format!("/api/v1/customers/{x}/merges"), None),
        (
            M::POST,
            format!("/api/v1/customers/{x}/erase"),
            Some(json!({})),
        ),
        (
            M::POST,
            format!("/api/v1/customers/{x}/merge"),
            Some(json!({"into": mine})),
        ),
        (
            M::POST,
            format!("/api/v1/customers/{mine}/merge"),
            Some(json!({"into": x})),
        ),
        (
            M::POST,
            format!("/api/v1/customers/merges/{merge_id}/undo"),
            Some(json!({})),
        ),
        (
            M::POST,
            "/api/v1/customers/duplicates/dismiss".into(),
            Some(json!({"a": x, "b": mine})),
        ),
    ];
    for (method, path, body) in routes {
        let (s, v) = b.send(method.clone(), &path, body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {v}");
        assert_eq!(code(&v), "not_found");
    }
    // Nothing changed in alpha; beta's duplicates never pair with alpha's customers.
    assert_eq!(a.get(&format!("/api/v1/customers/{x}")).await, before);
    let (_, v) = a.get(&format!("/api/v1/customers/{y}")).await;
    assert_eq!(v["merged_into"], x);
    let (_, v) = b.get("/api/v1/customers/duplicates").await;
    assert_eq!(v["pairs"], json!([]));
    let (_, v) = b.get(&format!("/api/v1/customers/{mine}")).await;
    assert_eq!(v["name"], "Beta One");
    assert_eq!(v["merged_into"], Value::Null);
}

#[tokio::test]
async fn the_openapi_document_lists_the_identity_routes() {
    let t = spawn_app().await;
    let v: Value = reqwest::get(format!("{}/api/openapi.json", t.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/customers/duplicates",
        "/api/v1/customers/duplicates/dismiss",
        "/api/v1/customers/{id}/merge",
        "/api/v1/customers/merges/{merge_id}/undo",
        "/api/v1/customers/{id}/merges",
        "/api/v1/customers/{id}/export",
        "/api/v1/customers/{id}/erase",
    ] {
        assert!(v["paths"][path].is_object(), "{path} missing");
    }
}

#[tokio::test]
async fn the_console_merges_undoes_exports_and_erases_with_a_confirmation() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "boss@acme.test", Role::Admin)
            .await,
    );
    let a = guest(
        &api,
        "Ann Lee",
        "ann@example.com",
        "+82 10 1111 2222",
        "tea",
    )
    .await;
    let b = guest(
        &api,
        "Ann <b>Lee</b>",
        "ANN@example.com",
        "+82 10 3333 4444",
        "coffee",
    )
    .await;
    let c = signed_in(&t, "boss@acme.test").await;
    let get = |path: String| {
        let c = c.clone();
        let url = t.url.clone();
        async move {
            let r = c.get(format!("{url}{path}")).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    // The duplicates page lists the pair, escaped.
    let (s, html) = get("/customers/duplicates".into()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&format!("data-pair=\"{a}-{b}\"")), "{html}");
    assert!(html.contains("Ann &#60;b&#62;Lee&#60;/b&#62;"), "{html}");
    assert!(!html.contains("<b>Lee</b>"));
    // The customer page suggests the other one; merging without CSRF is refused.
    let (s, html) = get(format!("/customers/{b}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&format!("<option value=\"{a}\">")), "{html}");
    let csrf = csrf_in(&html);
    let r = c
        .post(format!("{}/customers/{b}/merge", t.url))
        .form(&[("into", a.to_string().as_str()), ("_csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), StatusCode::SEE_OTHER);
    let r = c
        .post(format!("{}/customers/{b}/merge", t.url))
        .form(&[
            ("into", ""),
            ("into_id", b.to_string().as_str()),
            ("_csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "into itself");
    let r = c
        .post(format!("{}/customers/{b}/merge", t.url))
        .form(&[("into", a.to_string().as_str()), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("/customers/{a}#identity")
    );
    let (_, html) = get(format!("/customers/{b}")).await;
    assert!(html.contains("data-testid=\"merged-banner\""));
    assert!(
        !html.contains("id=\"note\"") && html.contains("data-testid=\"undo-merge\""),
        "a merged customer offers the undo, not new notes"
    );
    let (_, html) = get(format!("/customers/{a}")).await;
    assert!(html.contains("coffee") && html.contains("data-testid=\"undo-merge\""));
    // Undo from the page.
    let merge_id: i64 = {
        let (_, v) = api.get(&format!("/api/v1/customers/{a}/merges")).await;
        v[0]["id"].as_i64().unwrap()
    };
    let r = c
        .post(format!("{}/customers/merges/{merge_id}/undo", t.url))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = get(format!("/customers/{b}")).await;
    assert!(!html.contains("data-testid=\"merged-banner\""));
    // Export downloads JSON.
    let r = c
        .get(format!("{}/customers/{a}/export", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["customer"]["id"], a);
    // Erase needs the confirmation box.
    let (s, html) = get(format!("/customers/{a}/erase")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("erase-confirm"));
    let r = c
        .post(format!("{}/customers/{a}/erase", t.url))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, v) = api.get(&format!("/api/v1/customers/{a}")).await;
    assert_eq!(
        v["name"], "Ann Lee",
        "nothing erased without the confirmation"
    );
    let r = c
        .post(format!("{}/customers/{a}/erase", t.url))
        .form(&[("_csrf", csrf.as_str()), ("confirm", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = get(format!("/customers/{a}")).await;
    assert!(html.contains("data-testid=\"erased-banner\""));
    assert!(!html.contains("ann@example.com"));
}
