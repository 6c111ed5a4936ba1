//! CSV imports over HTTP (issue 3, item 5): `POST /api/v1/imports/orders` and
//! `/api/v1/imports/customers` take `text/csv` from managers and admins, answer every
//! rejected row by line, change nothing on a second identical upload, and keep tenants apart.

use crate::harness::*;
use concierge_domain::Role;
use reqwest::StatusCode;
use serde_json::Value;

async fn upload(
    t: &TestApp,
    token: Option<&str>,
    path: &str,
    csv: &[u8],
    ct: &str,
) -> (StatusCode, Value) {
    let mut r = t
        .client()
        .post(format!("{}{path}", t.url))
        .header("content-type", ct)
        .body(csv.to_vec());
    if let Some(token) = token {
        r = r.bearer_auth(token);
    }
    let r = r.send().await.unwrap();
    let s = r.status();
    let text = r.text().await.unwrap();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

const ORDERS: &str = "order_id,customer_id,ordered_at,sku,quantity,unit_price,currency,customer_email,customer_name\n\
A-1,C-1,2026-01-05,RICE-10,1,25.90,CNY,wang@example.com,Wang Fang\n\
A-1,C-1,2026-01-05,TEA-1,2,8.50,CNY,,\n\
A-2,C-2,2026-01-06,RICE-10,-1,25.90,CNY,,\n\
A-3,C-2,2026-01-07,RICE-10,1,25.90,CNY,,Kim\n";

#[tokio::test]
async fn managers_import_orders_and_a_second_upload_changes_nothing() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let manager = t
        .user_with_token(tenant, "m@shop.example", Role::Manager)
        .await;
    let path = "/api/v1/imports/orders";
    let (s, v) = upload(&t, Some(&manager), path, ORDERS.as_bytes(), "text/csv").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["imported"], 2, "{v}");
    assert_eq!(v["unchanged"], 0, "{v}");
    assert_eq!(v["customers_created"], 2, "{v}");
    assert_eq!(v["rejected"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["rejected"][0]["line"], 4, "{v}");
    assert!(
        v["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("quantity '-1' must be above zero"),
        "{v}"
    );
    let (s, again) = upload(
        &t,
        Some(&manager),
        &format!("{path}?dry_run=false"),
        ORDERS.as_bytes(),
        "text/csv; charset=utf-8",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(
        (again["imported"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(2))
    );
    // The customer and their orders are visible through the API.
    let api = Api::new(&t, manager.clone());
    let (_, found) = api.get("/api/v1/customers?q=wang@example.com").await;
    let id = found[0]["id"].as_i64().unwrap();
    let (_, tl) = api
        .get(&format!("/api/v1/customers/{id}/timeline?kind=order"))
        .await;
    assert_eq!(tl["items"].as_array().unwrap().len(), 1, "{tl}");
    assert_eq!(tl["items"][0]["summary"]["total_minor"], 2590 + 1700);

    // Customers too.
    let (s, v) = upload(
        &t,
        Some(&manager),
        "/api/v1/imports/customers",
        "customer_id,name,email,tags\nC-1,Wang Fang,fang@example.com,vip\nC-9,Lee,lee@example.com,\n".as_bytes(),
        "text/csv",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["imported"].as_u64(), v["updated"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
}

#[tokio::test]
async fn imports_need_a_manager_the_right_type_and_a_readable_file() {
    let t = spawn_app_with(|c| c.server.max_body_bytes = 4096).await;
    let tenant = t.default_tenant().await;
    let manager = t
        .user_with_token(tenant, "m@shop.example", Role::Manager)
        .await;
    let agent = t
        .user_with_token(tenant, "a@shop.example", Role::Agent)
        .await;
    for path in ["/api/v1/imports/orders", "/api/v1/imports/customers"] {
        let (s, v) = upload(&t, None, path, ORDERS.as_bytes(), "text/csv").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        let (s, v) = upload(&t, Some(&agent), path, ORDERS.as_bytes(), "text/csv").await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
        assert_eq!(code(&v), "forbidden");
        let (s, v) = upload(
            &t,
            Some(&manager),
            path,
            ORDERS.as_bytes(),
            "application/json",
        )
        .await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
        let big = vec![b'x'; 10_000];
        let (s, v) = upload(&t, Some(&manager), path, &big, "text/csv").await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
        assert!(message(&v).contains("concierge import"), "{v}");
    }
    let (s, v) = upload(
        &t,
        Some(&manager),
        "/api/v1/imports/orders",
        b"order_id,client,when\n1,2,3\n",
        "text/csv",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(code(&v), "invalid_file");
    assert!(message(&v).contains("missing column(s) customer_id"), "{v}");
    assert!(
        message(&v).contains("unknown column(s) 'client', 'when'"),
        "{v}"
    );
    let mut utf16 = vec![0xFF, 0xFE];
    for u in "customer_id,name\n".encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let (s, v) = upload(
        &t,
        Some(&manager),
        "/api/v1/imports/customers",
        &utf16,
        "text/csv",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(message(&v).contains("UTF-16"), "{v}");
    // Nothing of it was stored.
    assert_eq!(t.app.store.count_customers(tenant).await.unwrap(), 0);
}

#[tokio::test]
async fn an_import_lands_in_the_importers_tenant_only() {
    let t = spawn_app().await;
    let a = t.default_tenant().await;
    let b = t.tenant("other").await;
    let manager_a = t.user_with_token(a, "m@a.example", Role::Admin).await;
    let manager_b = t.user_with_token(b, "m@b.example", Role::Manager).await;
    let (s, v) = upload(
        &t,
        Some(&manager_a),
        "/api/v1/imports/orders",
        ORDERS.as_bytes(),
        "text/csv",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(t.app.store.count_customers(b).await.unwrap(), 0);
    let api_b = Api::new(&t, manager_b.clone());
    let (_, found) = api_b.get("/api/v1/customers?q=wang@example.com").await;
    assert_eq!(found.as_array().unwrap().len(), 0, "{found}");
    // The same order ids in another tenant are that tenant's own orders.
    let (s, v) = upload(
        &t,
        Some(&manager_b),
        "/api/v1/imports/orders",
        ORDERS.as_bytes(),
        "text/csv",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["imported"].as_u64(), v["unchanged"].as_u64()),
        (Some(2), Some(0)),
        "{v}"
    );
    assert_eq!(t.app.store.count_customers(a).await.unwrap(), 2);
    // The OpenAPI document lists both routes.
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", t.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in ["/api/v1/imports/orders", "/api/v1/imports/customers"] {
        assert!(doc["paths"][p]["post"].is_object(), "{p} missing");
    }
}

/// The console's import form as a browser sends it (multipart, CSRF field first).
fn import_form(csrf: &str, kind: &str, mode: &str, csv: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("_csrf", csrf.to_string())
        .text("kind", kind.to_string())
        .text("mode", mode.to_string())
        .text("currency", "")
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
                .file_name("orders.csv")
                .mime_str("text/csv")
                .unwrap(),
        )
}

async fn post_import(
    t: &TestApp,
    c: &reqwest::Client,
    form: reqwest::multipart::Form,
) -> (StatusCode, String) {
    let r = c
        .post(format!("{}/imports", t.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn switch_lang(t: &TestApp, c: &reqwest::Client, csrf: &str, lang: &str) {
    let r = c
        .post(format!("{}/lang", t.url))
        .form(&[("_csrf", csrf), ("lang", lang)])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
}

#[tokio::test]
async fn the_console_checks_then_imports_a_file_and_lists_every_rejected_row() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    t.user_with_token(tenant, "m@shop.example", Role::Manager)
        .await;
    let token = t
        .user_with_token(tenant, "agent@shop.example", Role::Agent)
        .await;
    let c = signed_in(&t, "m@shop.example").await;
    let page = c.get(format!("{}/customers", t.url)).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("href=\"/imports\""));
    let page = c.get(format!("{}/imports", t.url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("enctype=\"multipart/form-data\""), "{html}");
    let csrf = csrf_in(&html);
    // A hostile order id is shown escaped in its rejection.
    let csv = format!("{ORDERS}<b>X</b>,C-3,not-a-date,RICE-10,1,25.90,CNY,,\n");

    // A check writes nothing and shows what an import would do, with each bad row by line.
    let (s, html) = post_import(&t, &c, import_form(&csrf, "orders", "check", &csv)).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("data-testid=\"import-report\""), "{html}");
    assert!(html.contains("nothing was written"), "{html}");
    assert!(html.contains("line 4: "), "{html}");
    assert!(html.contains("must be above zero"), "{html}");
    assert!(html.contains("line 6: "), "{html}");
    assert!(html.contains("&#60;b&#62;X&#60;/b&#62;"), "{html}");
    assert!(!html.contains("<b>X</b>"), "{html}");
    let api = Api::new(&t, token);
    let (_, found) = api.get("/api/v1/customers?q=wang@example.com").await;
    assert_eq!(found.as_array().unwrap().len(), 0, "a check wrote {found}");

    // The import writes the good orders; the summary counts them.
    let (s, html) = post_import(&t, &c, import_form(&csrf, "orders", "import", &csv)).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(!html.contains("nothing was written"), "{html}");
    let summary = html.split("data-testid=\"import-summary\"").nth(1).unwrap();
    assert!(
        summary.contains("<th scope=\"row\">New</th><td>2</td>"),
        "{summary}"
    );
    assert!(
        summary.contains("<th scope=\"row\">Rows rejected</th><td>2</td>"),
        "{summary}"
    );
    let (_, found) = api.get("/api/v1/customers?q=wang@example.com").await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");

    // A customers file through the same form, in Korean: the page speaks Korean around the
    // rows; importing it again changes nothing.
    switch_lang(&t, &c, &csrf, "ko").await;
    let customers = "customer_id,name,email\nK-1,Kim Minjun,minjun@example.com\nK-1,Kim Again,\n\
                     K-2,Lee Seo,seo@example.com\n";
    let (s, html) = post_import(&t, &c, import_form(&csrf, "customers", "import", customers)).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("가져오기 결과"), "{html}");
    assert!(html.contains("2행: "), "{html}");
    assert!(html.contains("3행: "), "{html}");
    switch_lang(&t, &c, &csrf, "en").await;
    let (_, html) = post_import(&t, &c, import_form(&csrf, "customers", "import", customers)).await;
    assert!(
        html.contains("<th scope=\"row\">Unchanged</th><td>1</td>"),
        "{html}"
    );

    // Without the CSRF token nothing is imported; agents cannot import.
    let (s, _) = post_import(&t, &c, import_form("forged", "orders", "import", ORDERS)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    t.app
        .add_user(tenant, "a2@shop.example", None, Role::Agent, "password-123")
        .await
        .unwrap();
    let agent = signed_in(&t, "a2@shop.example").await;
    let r = agent
        .get(format!("{}/imports", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (s, _) = post_import(&t, &agent, import_form(&csrf, "orders", "import", ORDERS)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_console_refuses_a_file_over_the_size_limit_with_a_clear_message() {
    let t = spawn_app_with(|c| c.server.max_body_bytes = 4096).await;
    let tenant = t.default_tenant().await;
    t.user_with_token(tenant, "m@shop.example", Role::Admin)
        .await;
    let c = signed_in(&t, "m@shop.example").await;
    let html = c
        .get(format!("{}/imports", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&html);
    let mut big = String::from("customer_id,name\n");
    for i in 0..400 {
        big.push_str(&format!("BIG-{i},Customer number {i}\n"));
    }
    let (s, html) = post_import(&t, &c, import_form(&csrf, "customers", "import", &big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{html}");
    assert!(html.contains("limit of 4096 bytes"), "{html}");
    assert!(html.contains("concierge import"), "{html}");
    let (_, found) = Api::new(
        &t,
        t.user_with_token(tenant, "x@shop.example", Role::Agent)
            .await,
    )
    .get("/api/v1/customers?q=BIG-1")
    .await;
    assert_eq!(found.as_array().unwrap().len(), 0);
    // A file without a kind or without a file gets a message, not an import.
    let form = reqwest::multipart::Form::new()
        .text("_csrf", csrf.clone())
        .text("kind", "customers")
        .text("mode", "import");
    let (s, html) = post_import(&t, &c, form).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Choose a CSV file"), "{html}");
}
