//! On data simulated from known BG/NBD and Gamma-Gamma parameters, the fits recover them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, outside #[test] fns

use concierge_analytics::simulate::{HistorySimulation, simulate_histories};
use concierge_analytics::*;

#[test]
fn fits_recover_simulated_parameters() {
    let truth_bg = BgNbdParams {
        r: 0.5,
        alpha: 6.0,
        a: 0.7,
        b: 2.8,
    };
    let truth_gg = GammaGammaParams {
        p: 6.0,
        q: 4.0,
        v: 15.0,
    };
    let spec = HistorySimulation {
        customers: 40_000,
        bgnbd: truth_bg,
        gamma_gamma: Some(truth_gg),
        min_age: 26.0,
        max_age: 78.0,
    };
    let hs = simulate_histories(&spec, 20_240_601);
    let fit = fit_bgnbd(&hs, &FitOptions::default()).unwrap();
    let se = fit.standard_errors.unwrap();
    eprintln!(
        "BG/NBD truth {truth_bg:?}\n       fit   {:?}\n       se    {se:?}",
        fit.params
    );
    let checks = [
        ("r", fit.params.r, truth_bg.r, se.r),
        ("alpha", fit.params.alpha, truth_bg.alpha, se.alpha),
        ("a", fit.params.a, truth_bg.a, se.a),
        ("b", fit.params.b, truth_bg.b, se.b),
    ];
    for (name, got, want, se) in checks {
        // Within 4 standard errors and within 15%.
        assert!(
            (got - want).abs() < 4.0 * se,
            "{name}: {got} vs {want} (se {se})"
        );
        assert!((got - want).abs() < 0.15 * want, "{name}: {got} vs {want}");
    }

    let gg = fit_gamma_gamma(&hs).unwrap();
    let gse = gg.standard_errors.unwrap();
    eprintln!(
        "Gamma-Gamma truth {truth_gg:?}\n            fit   {:?}\n            se    {gse:?}",
        gg.params
    );
    for (name, got, want, se) in [
        ("p", gg.params.p, truth_gg.p, gse.p),
        ("q", gg.params.q, truth_gg.q, gse.q),
        ("v", gg.params.v, truth_gg.v, gse.v),
    ] {
        assert!(
            (got - want).abs() < 4.0 * se,
            "{name}: {got} vs {want} (se {se})"
        );
        assert!((got - want).abs() < 0.15 * want, "{name}: {got} vs {want}");
    }
    // Spend was simulated independently of frequency.
    assert!(
        gg.frequency_spend_correlation.abs() < 0.05,
        "{}",
        gg.frequency_spend_correlation
    );
}
