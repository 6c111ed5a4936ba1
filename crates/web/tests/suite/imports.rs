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
