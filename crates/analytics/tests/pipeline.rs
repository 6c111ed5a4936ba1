//! The whole pipeline as the store/CLI layer will run it: transactions → summary → models →
//! scores → RFM, Pareto, churn, tiers. Also the bad-input cases of issue 6.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, outside #[test] fns

use concierge_analytics::churn::churn_signals_all;
use concierge_analytics::rfm::segment_counts;
use concierge_analytics::simulate::{TransactionSimulation, simulate_transactions};
use concierge_analytics::tiers::TierOptions;
use concierge_analytics::*;
use std::collections::HashMap;

#[test]
fn end_to_end_on_simulated_shop() {
    let spec = TransactionSimulation::typical(4000);
    let mut txs = simulate_transactions(&spec, 5);
    // Bad rows a real shop has: a refund, a free order, a mis-dated future order.
    txs.push(Transaction {
        customer_id: 1,
        day: spec.observation_end_day - 3,
        amount_minor: -500,
    });
    txs.push(Transaction {
        customer_id: 2,
        day: spec.observation_end_day - 3,
        amount_minor: 0,
    });
    txs.push(Transaction {
        customer_id: 3,
        day: spec.observation_end_day + 30,
        amount_minor: 999,
    });
    let end = spec.observation_end_day;
    let summary = summarize(&txs, &SummaryOptions::new(end, TimeUnit::Day));
    assert_eq!(summary.customers.len(), 4000);
    assert_eq!(summary.warnings.len(), 3);
    let hs = summary.histories();

    let bg = fit_bgnbd(&hs, &FitOptions::default()).unwrap();
    let gg = fit_gamma_gamma(&hs).unwrap();
    assert!(gg.frequency_spend_correlation.abs() < 0.2);
    let scores = score_customers(
        &bg.params,
        &gg.params,
        &hs,
        &ScoreOptions {
            horizon: 90.0,
            clv: ClvOptions {
                time_unit: TimeUnit::Day,
                ..Default::default()
            },
        },
    )
    .unwrap();
    assert!(
        scores
            .iter()
            .all(|s| s.clv.is_finite() && s.clv >= 0.0 && (0.0..=1.0).contains(&s.prob_alive))
    );

    // RFM: Champions are worth more than the Lost.
    let rfm_in: Vec<RfmInput> = summary
        .customers
        .iter()
        .map(|c| RfmInput::from_summary(c, end))
        .collect();
    let rfm = rfm_scores(&rfm_in, &SegmentGrid::standard()).unwrap();
    let mean_clv = |seg: RfmSegment| {
        let v: Vec<f64> = rfm
            .iter()
            .zip(&scores)
            .filter(|(r, _)| r.segment == seg)
            .map(|(_, s)| s.clv)
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    assert!(mean_clv(RfmSegment::Champions) > 3.0 * mean_clv(RfmSegment::Lost));
    assert_eq!(
        segment_counts(&rfm).iter().map(|(_, n)| n).sum::<u64>(),
        4000
    );

    // Pareto: measured, strictly between equality and monopoly.
    let spend: Vec<i64> = summary
        .customers
        .iter()
        .map(|c| c.total_spend_minor)
        .collect();
    let curve = pareto(&spend).unwrap();
    assert!(curve.gini > 0.2 && curve.gini < 0.9, "{}", curve.gini);
    assert!(curve.top_20_percent_share > 0.2);

    // Churn: valuable customers who look gone.
    let alive: Vec<f64> = scores.iter().map(|s| s.prob_alive).collect();
    let signals = churn_signals_all(&summary.customers, end, Some(&alive), 180).unwrap();
    let values: Vec<f64> = summary
        .customers
        .iter()
        .map(|c| c.total_spend_minor as f64)
        .collect();
    let rule = AtRiskRule {
        min_value: 10_000.0,
        ..Default::default()
    };
    let at_risk = select_at_risk(&signals, &values, &rule).unwrap();
    assert!(!at_risk.is_empty());
    assert!(
        at_risk
            .iter()
            .all(|c| c.value >= 10_000.0 && !c.reasons.is_empty())
    );
    assert!(at_risk.windows(2).all(|w| w[0].value >= w[1].value));

    // Tiers by CLV and segment, then a rule change.
    let inputs: Vec<TierInput> = summary
        .customers
        .iter()
        .zip(&scores)
        .zip(&rfm)
        .map(|((c, s), r)| TierInput {
            customer_id: c.customer_id,
            clv: Some(s.clv),
            total_spend_minor: c.total_spend_minor,
            segment: Some(r.segment),
        })
        .collect();
    let defs = vec![
        TierDefinition {
            name: "Platinum".into(),
            rule: TierRule::TopClvPercent { percent: 5.0 },
        },
        TierDefinition {
            name: "Gold".into(),
            rule: TierRule::TopClvPercent { percent: 20.0 },
        },
        TierDefinition {
            name: "Silver".into(),
            rule: TierRule::Segments {
                segments: vec![RfmSegment::Loyal],
            },
        },
    ];
    let ev = evaluate_tiers(&defs, &inputs, &HashMap::new(), &TierOptions::default()).unwrap();
    let platinum = ev
        .assignments
        .iter()
        .filter(|a| a.tier.as_deref() == Some("Platinum"))
        .count();
    assert_eq!(platinum, 200);
    let previous: HashMap<i64, String> = ev
        .assignments
        .iter()
        .filter_map(|a| a.tier.clone().map(|t| (a.customer_id, t)))
        .collect();
    let mut wider = defs.clone();
    wider[0].rule = TierRule::TopClvPercent { percent: 10.0 };
    let ev2 = evaluate_tiers(&wider, &inputs, &previous, &TierOptions::default()).unwrap();
    assert_eq!(ev2.changes.len(), 200);
    assert!(
        ev2.changes
            .iter()
            .all(|c| c.to.as_deref() == Some("Platinum") && c.reason.starts_with("upgraded"))
    );
}

#[test]
fn bad_input_gives_clear_errors_not_nan() {
    // A tenant with no orders.
    let empty = summarize(&[], &SummaryOptions::new(100, TimeUnit::Day));
    let err = fit_bgnbd(&empty.histories(), &FitOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no customers"), "{err}");
    assert!(rfm_scores(&[], &SegmentGrid::standard()).is_err());
    assert!(pareto(&[]).is_err());

    // Only one-time buyers.
    let txs: Vec<Transaction> = (0..50)
        .map(|i| Transaction {
            customer_id: i,
            day: i,
            amount_minor: 1000,
        })
        .collect();
    let s = summarize(&txs, &SummaryOptions::new(100, TimeUnit::Day));
    let err = fit_bgnbd(&s.histories(), &FitOptions::default()).unwrap_err();
    assert!(matches!(err, AnalyticsError::NoRepeatBuyers { .. }));
    assert!(err.to_string().contains("repeat buyers"));
    assert!(fit_gamma_gamma(&s.histories()).is_err());

    // Only future purchases: nothing counted, everything reported.
    let txs = [Transaction {
        customer_id: 1,
        day: 500,
        amount_minor: 100,
    }];
    let s = summarize(&txs, &SummaryOptions::new(100, TimeUnit::Day));
    assert!(s.customers.is_empty());
    assert!(
        s.warnings[0]
            .to_string()
            .contains("after the observation end")
    );

    // Degenerate: two identical repeat buyers; or customers who all bought on the last day
    // (nobody ever seems to drop out). A clear error, not parameters running off to infinity.
    let hs = vec![History::new(1, 5.0, 10.0, 100.0); 2];
    assert!(matches!(
        fit_bgnbd(&hs, &FitOptions::default()),
        Err(AnalyticsError::Degenerate { .. })
    ));
    let hs: Vec<History> = (0..200)
        .map(|i| {
            let t = 10.0 + (i % 7) as f64;
            History::new(3, t, t, 100.0 + i as f64)
        })
        .collect();
    let err = fit_bgnbd(&hs, &FitOptions::default()).unwrap_err();
    assert!(err.to_string().contains("penalizer"), "{err}");
    // Spend that does not vary between customers beyond per-order noise.
    let err = fit_gamma_gamma(&hs).unwrap_err();
    assert!(err.to_string().contains("mean spend instead"), "{err}");
}
