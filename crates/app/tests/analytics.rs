#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `concierge_app::analytics::run` on bad data (issue 6): one-time buyers only, refunds, free
//! and future orders, a tenant with no orders, an as-of date before any purchase. Clear
//! messages, no NaN stored, other tenants and earlier results undisturbed. Both engines.

use concierge_app::analytics::{AnalyticsRunError, DAY_MS, RunOptions, run};
use concierge_app::generate::{GenOptions, generate};
use concierge_app::{App, Config};
use concierge_domain::TenantId;
use concierge_store::bulk::{Val, insert_rows};
use concierge_store::testing::TestDb;

async fn app(db: &TestDb) -> App {
    let mut cfg = Config::default();
    cfg.storage.database_url = db.url.clone();
    App::new(db.store().await.unwrap(), cfg)
}

/// Customers with the given orders: `(day offset from now, amount)` per order.
async fn customers_with_orders(
    app: &App,
    tenant: TenantId,
    orders: &[Vec<(i64, i64)>],
) -> Vec<i64> {
    let now = app.now();
    let mut ids = Vec::new();
    let mut rows = Vec::new();
    for (i, list) in orders.iter().enumerate() {
        let c = app
            .store
            .create_customer(tenant, &format!("Customer {i}"), None, None, now)
            .await
            .unwrap();
        ids.push(c.id.0);
        for (j, (day, amount)) in list.iter().enumerate() {
            rows.push(vec![
                Val::Int(tenant.0),
                Val::Text(format!("T{}-{i}-{j}", tenant.0)),
                Val::Int(c.id.0),
                Val::Int(now + day * DAY_MS),
                Val::Text("paid".into()),
                Val::Text("EUR".into()),
                Val::Int(*amount),
            ]);
        }
    }
    let mut tx = app.store.begin().await.unwrap();
    insert_rows(
        &mut tx,
        "orders",
        &[
            "tenant_id",
            "external_id",
            "customer_id",
            "ordered_at",
            "status",
            "currency",
            "total_minor",
        ],
        &rows,
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    ids
}

#[tokio::test]
async fn one_time_buyers_and_bad_orders_give_messages_not_nan() {
    let db = TestDb::new().await.unwrap();
    let app = app(&db).await;
    let t = app
        .store
        .ensure_tenant("one", "one", app.now())
        .await
        .unwrap()
        .id;
    // Everyone bought once; plus a refund, a free order and a future order.
    let mut orders: Vec<Vec<(i64, i64)>> = (0..30)
        .map(|i| vec![(-(i * 7) - 1, 1_000 + i * 100)])
        .collect();
    orders[0].push((-3, -500));
    orders[1].push((-2, 0));
    orders[2].push((30, 9_999));
    let ids = customers_with_orders(&app, t, &orders).await;
    let r = run(&app, t, &RunOptions::default(), &|_, _, _| {})
        .await
        .unwrap();
    assert_eq!(r.customers, 30);
    assert_eq!(r.repeat_buyers, 0);
    assert_eq!(
        (
            r.excluded.negative,
            r.excluded.zero,
            r.excluded.future_dated
        ),
        (1, 1, 1)
    );
    assert!(r.bgnbd.is_none());
    assert!(
        r.model_notes.iter().any(|n| n.contains("repeat buyers")),
        "{:?}",
        r.model_notes
    );
    assert_eq!(r.total_clv, 0.0);
    assert!(r.clv_histogram.is_empty());
    assert!(r.pareto.gini.is_finite() && r.pareto.points.len() == 101);
    // Stored: no model values, but RFM, spend, lateness/hiatus — and nothing NaN.
    for id in &ids {
        let s = app.store.customer_score(t, *id).await.unwrap().unwrap();
        assert!(s.p_alive.is_none() && s.clv.is_none() && s.churn_risk.is_none());
        assert!(s.recency.is_finite() && s.age.is_finite() && s.monetary.is_finite());
        assert!(s.risk_value.is_finite());
        assert!(!s.segment.is_empty());
        assert!((1..=5).contains(&s.rfm_r));
    }
    // Default tiers by CLV cannot place anyone above the base tier without a model.
    let tiers = app.store.tier_counts(t).await.unwrap();
    assert_eq!(tiers.len(), 1);
    assert_eq!(tiers[0].label, "Bronze");
    assert_eq!(tiers[0].customers, 30);
}

#[tokio::test]
async fn no_orders_is_refused_and_disturbs_nothing() {
    let db = TestDb::new().await.unwrap();
    let app = app(&db).await;
    let a = app
        .store
        .ensure_tenant("a", "a", app.now())
        .await
        .unwrap()
        .id;
    let b = app
        .store
        .ensure_tenant("b", "b", app.now())
        .await
        .unwrap()
        .id;
    // Tenant A: a few regular buyers, analysed.
    let orders: Vec<Vec<(i64, i64)>> = (0..40)
        .map(|i| {
            (0..(2 + i % 5))
                .map(|k| (-(k * (10 + i)) - 1, 2_000 + 37 * i))
                .collect()
        })
        .collect();
    customers_with_orders(&app, a, &orders).await;
    let first = run(&app, a, &RunOptions::default(), &|_, _, _| {})
        .await
        .unwrap();
    assert_eq!(first.customers, 40);

    // Tenant B has no orders: a clear refusal.
    let err = run(&app, b, &RunOptions::default(), &|_, _, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, AnalyticsRunError::Data(_)), "{err:?}");
    assert!(err.to_string().contains("no purchases"), "{err}");
    assert!(app.store.latest_analytics_run(b).await.unwrap().is_none());

    // Tenant A before its first purchase: refused, and A's stored results stay as they were.
    let before = RunOptions {
        as_of_day: Some(concierge_analytics_day(app.now()) - 10_000),
        ..RunOptions::default()
    };
    let err = run(&app, a, &before, &|_, _, _| {}).await.unwrap_err();
    assert!(err.to_string().contains("no purchases"), "{err}");
    let latest = app.store.latest_analytics_run(a).await.unwrap().unwrap();
    assert_eq!(latest.id, first.run_id);
    let segs = app.store.segment_counts(a).await.unwrap();
    assert_eq!(segs.iter().map(|s| s.customers).sum::<i64>(), 40);
    assert!(app.store.segment_counts(b).await.unwrap().is_empty());
}

fn concierge_analytics_day(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

#[tokio::test]
async fn without_the_spend_model_clv_uses_mean_spend_and_the_notes_say_so_without_contradiction() {
    // Generated history ending at this instant has spend data the Gamma-Gamma model cannot
    // fit (seen when the web analytics tests ran at that hour).
    const INSTANT_MS: i64 = 1_796_046_000_000; // 2026-11-30T13:40:00Z
    let db = TestDb::new().await.unwrap();
    let app = app(&db).await;
    let now = app.now();
    app.clock.advance_ms(INSTANT_MS - now);
    let t = app
        .store
        .ensure_tenant("gg", "GG", app.now())
        .await
        .unwrap()
        .id;
    let opts = GenOptions {
        seed: 11,
        customers: 300,
        households: None,
        orders_per_customer: 6.0,
        cases: 0,
        messages_per_case: 1.0,
        end_ms: app.now(),
    };
    generate(&app, t, &opts, &|_, _, _| {}).await.unwrap();
    let r = run(&app, t, &RunOptions::default(), &|_, _, _| {})
        .await
        .unwrap();
    assert!(r.bgnbd.is_some());
    assert!(
        r.gamma_gamma.is_none(),
        "this history is one the spend model cannot fit"
    );
    // CLV is there for the customers, from their own mean spend, and the notes say that —
    // none of them says CLV is unavailable.
    let with_clv: u64 = r.clv_histogram.iter().map(|b| b.customers).sum();
    assert!(with_clv > 0 && r.total_clv > 0.0, "{r:?}");
    assert!(
        r.model_notes.iter().any(|n| n.contains("own mean spend")),
        "{:?}",
        r.model_notes
    );
    assert!(
        !r.model_notes
            .iter()
            .any(|n| n.contains("CLV is not available")),
        "{:?}",
        r.model_notes
    );
}
