//! Validation on the CDNOW sample shipped with the Python `lifetimes` package (see
//! tests/data/README.md): 2357 customers, 39-week calibration ending 1997-09-30, weekly units.
//! Reference values: Fader, Hardie & Lee (2005) and the `lifetimes` 0.11.3 documentation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, outside #[test] fns

use concierge_analytics::*;

fn load_transactions() -> Vec<Transaction> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/CDNOW_sample.txt"
    ))
    .unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let id: i64 = f[1].parse().unwrap();
            let date = f[2];
            let day = day_from_ymd(
                date[0..4].parse().unwrap(),
                date[4..6].parse().unwrap(),
                date[6..8].parse().unwrap(),
            );
            let dollars: f64 = f[4].parse().unwrap();
            Transaction {
                customer_id: id,
                day,
                amount_minor: (dollars * 100.0).round() as i64,
            }
        })
        .collect()
}

fn calibration() -> SummaryReport {
    let end = day_from_ymd(1997, 9, 30);
    let all = load_transactions();
    assert_eq!(all.len(), 6919);
    let cal: Vec<Transaction> = all.into_iter().filter(|t| t.day <= end).collect();
    // CDNOW records 8 promotional $0 orders as purchases; the published numbers count them.
    let mut opts = SummaryOptions::new(end, TimeUnit::Week);
    opts.zero_amounts = summary::ZeroAmounts::CountAsPurchase;
    let report = summarize(&cal, &opts);
    assert_eq!(report.warnings.len(), 8);
    assert!(
        report
            .warnings
            .iter()
            .all(|w| matches!(w, SummaryWarning::ZeroAmount { counted: true, .. }))
    );
    report
}

fn sig3(a: f64, b: f64) -> bool {
    // Equal to three significant digits.
    let mag = 10f64.powf(b.abs().log10().floor() - 2.0);
    (a - b).abs() <= 0.5 * mag + 1e-12
}

#[test]
fn summary_matches_published_cdnow_summary() {
    let report = calibration();
    assert_eq!(report.customers.len(), 2357);
    let csv = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/cdnow_customers_summary_with_transactions.csv"
    ))
    .unwrap();
    let mut checked = 0;
    for (line, c) in csv.lines().skip(1).zip(&report.customers) {
        let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(f[0] as i64, c.customer_id);
        assert_eq!(f[1] as u32, c.history.frequency);
        assert!((f[2] - c.history.recency).abs() < 0.006, "{line}");
        assert!((f[3] - c.history.age).abs() < 0.006, "{line}");
        assert!(
            (f[4] - c.history.monetary_value / 100.0).abs() < 0.006,
            "{line}"
        );
        checked += 1;
    }
    assert_eq!(checked, 2357);
}

#[test]
fn bgnbd_and_gamma_gamma_reproduce_published_cdnow_fit() {
    let report = calibration();
    let hs = report.histories();
    let fit = fit_bgnbd(&hs, &FitOptions::default()).unwrap();
    let p = fit.params;
    eprintln!(
        "BG/NBD {p:?} ll={} iterations={} rows={}",
        fit.log_likelihood, fit.iterations, fit.distinct_rows
    );
    assert!(
        sig3(p.r, 0.2426) && sig3(p.alpha, 4.4135) && sig3(p.a, 0.7929) && sig3(p.b, 2.4258),
        "{p:?}"
    );
    assert!(
        (fit.log_likelihood - -9582.43).abs() < 0.01,
        "{}",
        fit.log_likelihood
    );
    let se = fit.standard_errors.unwrap();
    assert!(se.r > 0.0 && se.r < 0.05 && se.b < 1.0, "{se:?}");

    let e = p.expected_purchases(39.0, 2, 30.43, 38.86).unwrap();
    assert!((e - 1.226).abs() < 0.0005, "{e}");

    // Gamma-Gamma in dollars (the published parameters are in dollars).
    let dollars: Vec<History> = hs
        .iter()
        .map(|h| History {
            monetary_value: h.monetary_value / 100.0,
            ..*h
        })
        .collect();
    let gg = fit_gamma_gamma(&dollars).unwrap();
    eprintln!(
        "Gamma-Gamma {:?} ll={} rho={}",
        gg.params, gg.log_likelihood, gg.frequency_spend_correlation
    );
    assert_eq!(gg.customers, 946.0);
    assert!(
        sig3(gg.params.p, 6.249) && sig3(gg.params.q, 3.745) && sig3(gg.params.v, 15.448),
        "{:?}",
        gg.params
    );
    // In cents the same model, with v scaled by 100.
    let gg_cents = fit_gamma_gamma(&hs).unwrap();
    assert!((gg_cents.params.v / 100.0 - gg.params.v).abs() < 1e-4 * gg.params.v);
    assert!((gg_cents.params.p - gg.params.p).abs() < 1e-4 * gg.params.p);
    assert!((gg.frequency_spend_correlation - 0.1139).abs() < 1e-3);
}
