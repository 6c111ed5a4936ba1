//! Search through the API: Chinese, Korean and English cases are found by words from their
//! bodies; tenants never see each other's documents; hostile queries are harmless.

use concierge_app::{App, Config};
use concierge_domain::{Role, TenantId};
use concierge_store::bulk::{Val, insert_rows};
use concierge_store::testing::TestDb;
use serde_json::Value;

async fn add_case(app: &App, tenant: TenantId, number: i64, subject: &str, body: &str, note: &str) {
    let now = app.now();
    let cust = app
        .store
        .create_customer(tenant, &format!("Customer {number}"), None, None, now)
        .await
        .unwrap();
    let mut tx = app.store.begin().await.unwrap();
    let rows = insert_rows(
        &mut tx,
        "cases",
        &[
            "tenant_id",
            "number",
            "subject",
            "kind",
            "channel",
            "customer_id",
            "priority",
            "status",
            "created_at",
            "updated_at",
        ],
        &[vec![
            tenant.0.into(),
            number.into(),
            subject.into(),
            "complaint".into(),
            "email".into(),
            cust.id.0.into(),
            "normal".into(),
            "open".into(),
            now.into(),
            now.into(),
        ]],
        Some("id, subject"),
    )
    .await
    .unwrap();
    let (case_id, _) = concierge_store::bulk::id_and_key(&rows[0]).unwrap();
    let msgs: Vec<Vec<Val>> = [("customer", "public", body), ("staff", "internal", note)]
        .iter()
        .map(|(a, v, b)| {
            vec![
                tenant.0.into(),
                case_id.into(),
                (*a).into(),
                (*v).into(),
                "email".into(),
                (*b).into(),
                now.into(),
            ]
        })
        .collect();
    insert_rows(
        &mut tx,
        "messages",
        &[
            "tenant_id",
            "case_id",
            "author_kind",
            "visibility",
            "channel",
            "body_text",
            "created_at",
        ],
        &msgs,
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn finds_chinese_korean_and_english_cases_within_the_tenant_only() {
    let db = TestDb::new().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.storage.data_dir = data.path().to_path_buf();
    cfg.jobs.enabled = false;
    let app = App::new(db.store().await.unwrap(), cfg);
    let t = app
        .store
        .ensure_tenant("default", "D", app.now())
        .await
        .unwrap()
        .id;
    let other = app
        .store
        .ensure_tenant("other", "O", app.now())
        .await
        .unwrap()
        .id;
    add_case(
        &app,
        t,
        1,
        "订单问题",
        "我的订单损坏了，请尽快处理",
        "已联系仓库",
    )
    .await;
    add_case(
        &app,
        t,
        2,
        "배송 문의",
        "배송이 너무 늦어요. 언제 도착하나요?",
        "택배사 확인 중",
    )
    .await;
    add_case(
        &app,
        t,
        3,
        "Broken kettle",
        "My kettle arrived damaged and leaks",
        "offer replacement",
    )
    .await;
    add_case(
        &app,
        other,
        1,
        "Other tenant",
        "我的订单也损坏了 kettle damaged",
        "x",
    )
    .await;
    let indexed = concierge_app::search::reindex(&app, |_| {}).await.unwrap();
    assert!(indexed >= 12, "{indexed}");
    let u = app
        .add_user(t, "agent@example.com", None, Role::Agent, "password-123")
        .await
        .unwrap();
    let token = app.create_api_token(&u, "t").await.unwrap().0;

    let (url, _stop) = crate::harness::serve(&app).await;
    let c = reqwest::Client::new();
    let search = |q: &str| {
        let c = c.clone();
        let url = format!("{url}/api/v1/search");
        let token = token.clone();
        let q = q.to_string();
        async move {
            for _ in 0..50 {
                if let Ok(r) = c
                    .get(&url)
                    .query(&[("q", &q)])
                    .bearer_auth(&token)
                    .send()
                    .await
                {
                    return (r.status(), r.json::<Value>().await.unwrap_or(Value::Null));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("server did not answer");
        }
    };
    let case_numbers = |v: &Value| -> Vec<String> {
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["title"].as_str().unwrap().to_string())
            .collect()
    };
    for (q, expect) in [
        ("订单", "[#1]"),
        ("损坏", "[#1]"),
        ("배송", "[#2]"),
        ("damaged", "[#3]"),
        ("KETTLE", "[#3]"),
    ] {
        let (status, body) = search(q).await;
        assert_eq!(status, 200, "{q}: {body}");
        let titles = case_numbers(&body);
        assert!(!titles.is_empty(), "{q} found nothing");
        assert!(
            titles.iter().all(|t| t.starts_with(expect)),
            "{q}: {titles:?}"
        );
        assert!(
            titles.iter().all(|t| !t.contains("Other tenant")),
            "{q} leaked: {titles:?}"
        );
        // Highlighted and escaped.
        assert!(
            body["hits"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["snippet_html"].as_str().unwrap().contains("<mark>")
                    || h["title_html"].as_str().unwrap().contains("<mark>")),
            "{q}: {body}"
        );
    }
    // Staff find internal notes.
    let (_, body) = search("택배사").await;
    assert_eq!(body["hits"][0]["kind"], "note");
    // Hostile query syntax is treated as words.
    let (status, _) = search("\"a AND OR (( field:x ^2 ~ <script>").await;
    assert_eq!(status, 200);
    let long = vec!["word"; 10_000].join(" ");
    let (status, body) = search(&long).await;
    assert_eq!(status, 200);
    assert_eq!(body["query_truncated"], true);
    // A bad sort is a clear 422.
    let r = c
        .get(format!("{url}/api/v1/search"))
        .query(&[("q", "x"), ("sort", "drop table")])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    drop(_stop);
}
