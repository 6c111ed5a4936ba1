//! The analytics API and the manager dashboard over real HTTP (issue 6): generated data, a
//! real `analytics::run`, then every endpoint as a manager, an agent (refused) and a manager
//! of another tenant (sees nothing); and the dashboard page with its server-drawn charts.
//! PostgreSQL when `CONCIERGE_TEST_DATABASE_URL` is set, otherwise SQLite.

use crate::harness::*;
use concierge_app::analytics::{RunOptions, run};
use concierge_app::generate::{GenOptions, generate};
use concierge_domain::Role;
use reqwest::StatusCode;
use serde_json::Value;

/// 2026-11-30T06:00:00Z.
const PINNED_NOW_MS: i64 = 1_796_018_400_000;

impl TestApp {
    /// Sets the app's clock to [`PINNED_NOW_MS`]. The generated purchase history ends at the
    /// clock's now, and the data differ with the time a test runs at: at some times of day
    /// the spend data is one the Gamma-Gamma model cannot fit (the run then says so and uses
    /// mean spend; seen 2026-11-30 from 13:30 UTC). These tests run at one instant, so they
    /// see the same data whenever they run.
    fn pin_clock(&self) {
        let now = self.app.now();
        self.app.clock.advance_ms(PINNED_NOW_MS - now);
    }

    /// Generated customers and orders in `tenant`, analysed.
    async fn analysed(&self, tenant: concierge_domain::TenantId, customers: u64) {
        let opts = GenOptions {
            seed: 11,
            customers,
            households: None,
            orders_per_customer: 6.0,
            cases: 0,
            messages_per_case: 1.0,
            end_ms: self.app.now(),
        };
        generate(&self.app, tenant, &opts, &|_, _, _| {})
            .await
            .unwrap();
        let r = run(&self.app, tenant, &RunOptions::default(), &|_, _, _| {})
            .await
            .unwrap();
        assert!(r.customers > 0 && r.bgnbd.is_some() && r.gamma_gamma.is_some());
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(
            !text.contains("NaN") && !text.contains("Infinity"),
            "{text}"
        );
        (status, serde_json::from_str(&text).unwrap())
    }
}

fn sum(v: &Value, list: &str, field: &str) -> i64 {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[field].as_i64().unwrap())
        .sum()
}

const ENDPOINTS: [&str; 6] = [
    "/api/v1/analytics/pareto",
    "/api/v1/analytics/segments",
    "/api/v1/analytics/tiers",
    "/api/v1/analytics/clv",
    "/api/v1/analytics/churn",
    "/api/v1/analytics/replenishment/due",
];

#[tokio::test]
async fn analytics_endpoints_are_for_managers_and_per_tenant() {
    let t = spawn_app().await;
    t.pin_clock();
    let a = t.tenant("default").await;
    let b = t.tenant("other").await;
    t.analysed(a, 300).await;
    let manager = t.user_with_token(a, "boss@a.test", Role::Manager).await;
    let agent = t.user_with_token(a, "agent@a.test", Role::Agent).await;
    let other = t.user_with_token(b, "boss@b.test", Role::Manager).await;

    let (s, pareto) = t.get(&manager, "/api/v1/analytics/pareto").await;
    assert_eq!(s, StatusCode::OK);
    let n = pareto["customers"].as_i64().unwrap();
    assert!(n > 200, "{n}");
    assert_eq!(pareto["points"].as_array().unwrap().len(), 101);
    let top20 = pareto["top_20_percent_share"].as_f64().unwrap();
    assert!((0.2..1.0).contains(&top20), "{top20}");
    let last = &pareto["points"][100];
    assert!((last["revenue"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    assert!(pareto["as_of"].is_string());

    let (_, segs) = t.get(&manager, "/api/v1/analytics/segments").await;
    assert_eq!(segs["segments"].as_array().unwrap().len(), 11);
    assert_eq!(segs["segments"][0]["name"], "Champions");
    assert_eq!(sum(&segs, "segments", "customers"), n);
    assert_eq!(segs["grid"].as_array().unwrap().len(), 25);
    assert_eq!(sum(&segs, "grid", "customers"), n);
    assert_eq!(segs["grid"][0]["r"], 5);
    assert_eq!(segs["grid"][4]["segment"], "Champions");

    let (_, tiers) = t.get(&manager, "/api/v1/analytics/tiers").await;
    let names: Vec<&str> = tiers["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Platinum", "Gold", "Silver", "Bronze"]);
    assert_eq!(sum(&tiers, "tiers", "customers"), n);
    assert_eq!(tiers["rules"][0]["rule"]["rule"], "top_clv_percent");

    let (_, clv) = t.get(&manager, "/api/v1/analytics/clv").await;
    assert_eq!(sum(&clv, "bins", "customers"), n);
    assert!(clv["total_clv"].as_f64().unwrap() > 0.0);

    let (_, churn) = t.get(&manager, "/api/v1/analytics/churn?limit=20").await;
    let list = churn["customers"].as_array().unwrap();
    assert!(!list.is_empty() && list.len() <= 20);
    let values: Vec<f64> = list.iter().map(|x| x["value"].as_f64().unwrap()).collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "{values:?}");
    assert!(
        list.iter()
            .all(|x| !x["reasons"].as_str().unwrap().is_empty())
    );

    let (_, due) = t
        .get(
            &manager,
            "/api/v1/analytics/replenishment/due?within_days=60",
        )
        .await;
    let items = due["items"].as_array().unwrap();
    assert!(!items.is_empty());
    let now = t.app.now();
    for i in items {
        let at = i["run_out_at"].as_i64().unwrap();
        assert!((at - now).abs() <= 61 * 86_400_000);
        assert!(i["run_out_low_at"].as_i64().unwrap() <= at);
        assert!(i["task_due_at"].as_i64().unwrap() < at);
        assert!(!i["product_name"].as_str().unwrap().is_empty());
    }

    // One customer: segment, tier with history, CLV, P(alive), predictions.
    let id = list[0]["customer_id"].as_i64().unwrap();
    let (s, c) = t
        .get(&manager, &format!("/api/v1/customers/{id}/analytics"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(c["segment"].is_string());
    let p = c["p_alive"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    assert!(c["clv"].as_f64().unwrap() >= 0.0);
    assert!(c["tier"]["name"].is_string());
    assert!(!c["tier"]["reason"].as_str().unwrap().is_empty());
    assert_eq!(c["tier_history"].as_array().unwrap().len(), 1);
    assert_eq!(c["tier_history"][0]["direction"], "upgrade");
    assert!(c["at_risk"].as_bool().unwrap());
    let item = &items[0];
    let pid = item["customer_id"].as_i64().unwrap();
    let (_, c2) = t
        .get(&manager, &format!("/api/v1/customers/{pid}/analytics"))
        .await;
    assert!(!c2["predictions"].as_array().unwrap().is_empty());
    let (s, _) = t
        .get(&manager, "/api/v1/customers/999999999/analytics")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Agents may not see reports.
    for path in ENDPOINTS
        .iter()
        .map(|p| p.to_string())
        .chain([format!("/api/v1/customers/{id}/analytics")])
    {
        let (s, body) = t.get(&agent, &path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(body["error"]["code"], "forbidden");
    }

    // Another tenant sees nothing of this one.
    let (s, p) = t.get(&other, "/api/v1/analytics/pareto").await;
    assert_eq!(s, StatusCode::OK);
    assert!(p["as_of"].is_null());
    assert!(p["points"].as_array().unwrap().is_empty());
    let (_, segs) = t.get(&other, "/api/v1/analytics/segments").await;
    assert_eq!(sum(&segs, "segments", "customers"), 0);
    assert_eq!(sum(&segs, "grid", "customers"), 0);
    let (_, tiers) = t.get(&other, "/api/v1/analytics/tiers").await;
    assert!(tiers["tiers"].as_array().unwrap().is_empty());
    let (_, clv) = t.get(&other, "/api/v1/analytics/clv").await;
    assert!(clv["bins"].as_array().unwrap().is_empty());
    let (_, churn) = t.get(&other, "/api/v1/analytics/churn").await;
    assert!(churn["customers"].as_array().unwrap().is_empty());
    let (_, due) = t
        .get(
            &other,
            "/api/v1/analytics/replenishment/due?within_days=365",
        )
        .await;
    assert!(due["items"].as_array().unwrap().is_empty());
    let (s, _) = t
        .get(&other, &format!("/api/v1/customers/{id}/analytics"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Every route is in the OpenAPI document.
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", t.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in ENDPOINTS
        .iter()
        .copied()
        .chain(["/api/v1/customers/{id}/analytics"])
    {
        assert!(doc["paths"][p]["get"].is_object(), "{p} missing");
    }
}

#[tokio::test]
async fn the_dashboard_draws_charts_from_real_data() {
    let t = spawn_app().await;
    t.pin_clock();
    let a = t.tenant("default").await;
    t.user_with_token(a, "boss@a.test", Role::Manager).await;
    t.user_with_token(a, "agent@a.test", Role::Agent).await;
    let boss = signed_in(&t, "boss@a.test").await;

    // Before any run: a clear message, empty charts, no error.
    let r = boss
        .get(format!("{}/dashboard", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("data-testid=\"no-run\""));
    assert!(!html.contains("data-testid=\"pareto-curve\""));

    t.analysed(a, 300).await;
    let html = boss
        .get(format!("{}/dashboard", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-testid=\"pareto-curve\" data-points=\"101\""));
    for id in [
        "tier-chart",
        "segment-chart",
        "rfm-grid",
        "clv-histogram",
        "at-risk",
        "due",
    ] {
        assert!(html.contains(&format!("data-testid=\"{id}\"")), "{id}");
    }
    let nonzero_bars = html.matches("class=\"bar\" data-count=\"").count()
        - html.matches("class=\"bar\" data-count=\"0\"").count();
    assert!(nonzero_bars >= 8, "{nonzero_bars} non-empty bars");
    assert_eq!(html.matches("class=\"cell\"").count(), 25);
    // The CSP forbids inline style attributes, and nothing shown is NaN.
    assert!(!html.contains(" style="));
    assert!(!html.contains("NaN") && !html.contains("inf%"));

    // In Korean and Chinese too.
    for (lang, title) in [
        ("ko", "고객 대시보드"),
        ("zh-CN", "客户仪表板"),
        ("en", "Customer dashboard"),
    ] {
        let csrf = csrf_in(&html);
        let r = boss
            .post(format!("{}/lang", t.url))
            .form(&[("lang", lang), ("_csrf", &csrf), ("back", "/dashboard")])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{}", r.status());
        let page = boss
            .get(format!("{}/dashboard", t.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains(title), "{lang}");
    }

    // Agents are refused.
    let agent = signed_in(&t, "agent@a.test").await;
    let r = agent
        .get(format!("{}/dashboard", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
