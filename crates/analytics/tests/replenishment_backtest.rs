//! The rice-jar prediction beats "last purchase + mean gap" on generated regular buyers whose
//! pack sizes vary (so that the quantity bought matters).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, outside #[test] fns

use concierge_analytics::replenishment::{ReplenishmentOptions, backtest};
use concierge_analytics::simulate::{ReplenishmentSimulation, simulate_replenishment};

#[test]
fn backtest_beats_naive_baseline_on_regular_buyers() {
    let spec = ReplenishmentSimulation {
        customers: 1500,
        ..Default::default()
    };
    let (purchases, households) = simulate_replenishment(&spec, 42);
    let report = backtest(&purchases, &households, &ReplenishmentOptions::default()).unwrap();
    eprintln!("{report:?}");
    assert!(report.pairs > 3000);
    assert!(
        report.mae_model_days < 0.6 * report.mae_naive_days,
        "model MAE {:.2} days vs naive {:.2} days",
        report.mae_model_days,
        report.mae_naive_days
    );
    assert!(report.model_closer_share > 0.6);
    assert!(
        report.interval_coverage > 0.6 && report.interval_coverage < 0.98,
        "{}",
        report.interval_coverage
    );
}

#[test]
fn with_fixed_pack_sizes_the_model_is_no_worse_than_naive() {
    // When every pack is the same size, the mean gap is already a good predictor; the model must
    // not lose to it.
    let spec = ReplenishmentSimulation {
        customers: 800,
        pack_sizes: vec![5.0],
        ..Default::default()
    };
    let (purchases, households) = simulate_replenishment(&spec, 7);
    let report = backtest(&purchases, &households, &ReplenishmentOptions::default()).unwrap();
    eprintln!("{report:?}");
    assert!(
        report.mae_model_days <= report.mae_naive_days * 1.05,
        "{report:?}"
    );
}
