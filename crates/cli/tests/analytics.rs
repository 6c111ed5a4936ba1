#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `concierge analytics` as an operator meets it (issue 6): generated data, a full run, the
//! fitted models as JSON, the replenishment backtest, tier rules that move customers between
//! tiers with reasons on their history and timeline, and clear refusals on an empty workspace.
//! PostgreSQL when `CONCIERGE_TEST_DATABASE_URL` is set, otherwise SQLite.

use concierge_store::testing::TestDb;
use serde_json::Value;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_concierge");

fn concierge(db: &TestDb, data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .arg("--database-url")
        .arg(&db.url)
        .args(args)
        .env_remove("CONCIERGE_CONFIG")
        .env("CONCIERGE_LOG", "error")
        .current_dir(data)
        .output()
        .expect("run concierge")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
    k.sort();
    k
}

fn num(v: &Value, k: &str) -> f64 {
    let x = v[k]
        .as_f64()
        .unwrap_or_else(|| panic!("{k} is not a number: {v}"));
    assert!(x.is_finite(), "{k} = {x}");
    x
}

async fn tenant(db: &TestDb) -> (concierge_store::Store, concierge_domain::TenantId) {
    let store = db.store().await.unwrap();
    let t = store.tenant_by_slug("default").await.unwrap().unwrap();
    (store, t.id)
}

#[tokio::test]
async fn gen_then_run_fit_and_backtest() {
    let db = TestDb::new().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    ok(concierge(
        &db,
        data.path(),
        &["gen", "--customers", "400", "--cases", "0"],
    ));

    let text = ok(concierge(&db, data.path(), &["analytics", "run"]));
    assert!(text.contains("analysed"), "{text}");
    assert!(text.contains("Pareto: top 20%"), "{text}");

    // The fitted models, exactly in the documented shape.
    let out = ok(concierge(&db, data.path(), &["analytics", "fit", "--json"]));
    let v: Value = serde_json::from_str(out.trim()).expect("fit --json prints JSON");
    assert_eq!(keys(&v), ["bgnbd", "customers", "gamma_gamma"]);
    assert_eq!(
        keys(&v["bgnbd"]),
        ["a", "alpha", "b", "log_likelihood", "r"]
    );
    assert_eq!(keys(&v["gamma_gamma"]), ["p", "q", "v"]);
    let n = v["customers"].as_u64().expect("customers is an integer");
    assert!((300..=400).contains(&n), "customers {n}");
    for k in ["r", "alpha", "a", "b"] {
        let x = num(&v["bgnbd"], k);
        assert!(x > 0.0 && x < 1e4, "{k} = {x}");
    }
    assert!(num(&v["bgnbd"], "log_likelihood") < 0.0);
    for k in ["p", "q", "v"] {
        assert!(num(&v["gamma_gamma"], k) > 0.0);
    }
    // Mean spend per order of the generated shop is tens to hundreds of currency units:
    // E[spend] = p·v/(q−1) when q > 1.
    let (p, q, gv) = (
        num(&v["gamma_gamma"], "p"),
        num(&v["gamma_gamma"], "q"),
        num(&v["gamma_gamma"], "v"),
    );
    if q > 1.0 {
        let mean = p * gv / (q - 1.0);
        assert!((500.0..1_000_000.0).contains(&mean), "mean spend {mean}");
    }

    // What the run stored: every customer scored, segments, tiers, predictions; no NaN.
    let (store, t) = tenant(&db).await;
    let run = store.latest_analytics_run(t).await.unwrap().expect("a run");
    assert!(run.customers >= 300, "{}", run.customers);
    let report: Value = serde_json::from_str(&run.report).unwrap();
    assert_eq!(report["pareto"]["points"].as_array().unwrap().len(), 101);
    let top20 = num(&report["pareto"], "top_20_percent_share");
    assert!((0.2..1.0).contains(&top20), "top 20% share {top20}");
    assert!(num(&report, "total_clv") > 0.0);
    let segs = store.segment_counts(t).await.unwrap();
    assert_eq!(segs.iter().map(|s| s.customers).sum::<i64>(), run.customers);
    let tiers = store.tier_counts(t).await.unwrap();
    assert_eq!(
        tiers.iter().map(|s| s.customers).sum::<i64>(),
        run.customers
    );
    assert!(
        tiers
            .iter()
            .any(|s| s.label == "Platinum" && s.customers > 0)
    );
    let some = store.at_risk(t, 5).await.unwrap();
    assert!(!some.is_empty());
    let score = store
        .customer_score(t, some[0].customer_id)
        .await
        .unwrap()
        .unwrap();
    for x in [score.p_alive, score.clv, score.churn_risk] {
        let x = x.expect("model values present");
        assert!(x.is_finite() && x >= 0.0);
    }
    assert!(!some[0].reasons.is_empty());
    let due = store
        .replenishment_due(t, 0, i64::MAX, 10_000)
        .await
        .unwrap();
    assert!(!due.is_empty());
    assert!(
        due.iter()
            .all(|d| d.run_out_low_at <= d.run_out_at && d.run_out_at <= d.run_out_high_at)
    );

    // The backtest reports both errors.
    let out = ok(concierge(
        &db,
        data.path(),
        &["analytics", "backtest", "--json"],
    ));
    let b: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(b["pairs"].as_u64().unwrap() > 10, "{b}");
    assert!(num(&b, "mae_model_days") > 0.0 && num(&b, "mae_naive_days") > 0.0);
    // On generated regular buyers of consumables the rice-jar model beats "last + mean gap".
    assert!(
        num(&b, "mae_model_days") < num(&b, "mae_naive_days"),
        "model {b}"
    );
}

#[tokio::test]
async fn a_tier_rule_change_moves_customers_with_reasons() {
    let db = TestDb::new().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    ok(concierge(
        &db,
        data.path(),
        &["gen", "--customers", "200", "--cases", "0"],
    ));
    let rules = data.path().join("tiers.json");
    // Everyone who spent anything is Gold.
    std::fs::write(
        &rules,
        r#"[{"name":"Gold","rule":{"rule":"min_total_spend","minor":1}},
            {"name":"Base","rule":{"rule":"everyone"}}]"#,
    )
    .unwrap();
    ok(concierge(
        &db,
        data.path(),
        &["analytics", "tiers", "--set", rules.to_str().unwrap()],
    ));
    let first: Value = serde_json::from_str(
        ok(concierge(
            &db,
            data.path(),
            &["analytics", "run", "--json", "--no-progress"],
        ))
        .trim(),
    )
    .unwrap();
    let n = first["customers"].as_u64().unwrap();
    assert_eq!(first["tier_changes"].as_u64(), Some(n));
    assert_eq!(first["upgrades"].as_u64(), Some(n));

    // Now Gold is the top 10% by lifetime value: most customers go down to Base.
    std::fs::write(
        &rules,
        r#"[{"name":"Gold","rule":{"rule":"top_clv_percent","percent":10}},
            {"name":"Base","rule":{"rule":"everyone"}}]"#,
    )
    .unwrap();
    let shown = ok(concierge(
        &db,
        data.path(),
        &["analytics", "tiers", "--set", rules.to_str().unwrap()],
    ));
    assert!(shown.contains("top_clv_percent"), "{shown}");
    let second: Value = serde_json::from_str(
        ok(concierge(
            &db,
            data.path(),
            &["analytics", "run", "--json", "--no-progress"],
        ))
        .trim(),
    )
    .unwrap();
    let down = second["downgrades"].as_u64().unwrap();
    assert!(down >= n / 2, "{down} of {n} downgraded");
    assert_eq!(second["tier_changes"].as_u64(), Some(down));

    let (store, t) = tenant(&db).await;
    let tiers = store.current_tiers(t).await.unwrap();
    let (gold, base): (Vec<_>, Vec<_>) = tiers.iter().partition(|(_, (tier, _))| tier == "Gold");
    assert!(!gold.is_empty() && !base.is_empty());
    assert!(gold.len() as u64 <= n / 10 + 2, "{} gold", gold.len());
    // A downgraded customer's history: Gold → Base with a reason, after none → Gold.
    let (&id, _) = base[0];
    let h = store.tier_history(t, id).await.unwrap();
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(h[0].from.as_deref(), Some("Gold"));
    assert_eq!(h[0].to.as_deref(), Some("Base"));
    assert_eq!(h[0].direction, "downgrade");
    assert!(
        h[0].reason.contains("Gold") && h[0].reason.contains("Base"),
        "{}",
        h[0].reason
    );
    assert_eq!(h[1].from, None);
    assert_eq!(h[1].to.as_deref(), Some("Gold"));
    assert!(h[1].reason.contains("total spend"), "{}", h[1].reason);
    // ... and on the customer's timeline.
    let tl = store.tier_timeline(t, id).await.unwrap();
    assert_eq!(tl.len(), 2);
    let last: Value = serde_json::from_str(&tl[0]).unwrap();
    assert_eq!(last["to"], "Base");
    assert_eq!(last["direction"], "downgrade");
    // A Gold customer's reason says why.
    let (&gid, (_, _)) = gold[0];
    let (tier, reason, _) = store.customer_tier(t, gid).await.unwrap().unwrap();
    assert_eq!(tier, "Gold");
    assert!(reason.contains("within the top 10%"), "{reason}");

    // Running again with the same rules changes nothing.
    let third: Value = serde_json::from_str(
        ok(concierge(
            &db,
            data.path(),
            &["analytics", "run", "--json", "--no-progress"],
        ))
        .trim(),
    )
    .unwrap();
    assert_eq!(third["tier_changes"].as_u64(), Some(0));
    assert_eq!(store.tier_history(t, id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_empty_workspace_is_refused_clearly() {
    let db = TestDb::new().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    for args in [
        &["analytics", "run", "--no-progress"][..],
        &["analytics", "fit", "--json"][..],
        &["analytics", "backtest"][..],
    ] {
        let out = concierge(&db, data.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no purchases"), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
    let out = concierge(
        &db,
        data.path(),
        &["analytics", "run", "--as-of", "22/11/2026"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM-DD"));
    let out = concierge(
        &db,
        data.path(),
        &["analytics", "run", "--time-unit", "month"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("day"));
    // Bad tier rules are refused and the old ones stay.
    let rules = data.path().join("bad.json");
    std::fs::write(
        &rules,
        r#"[{"name":"Gold","rule":{"rule":"top_clv_percent","percent":0}}]"#,
    )
    .unwrap();
    let out = concierge(
        &db,
        data.path(),
        &["analytics", "tiers", "--set", rules.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("top percent"));
    let (store, t) = tenant(&db).await;
    assert!(store.tier_definitions(t).await.unwrap().is_empty());
    assert!(store.latest_analytics_run(t).await.unwrap().is_none());
}
