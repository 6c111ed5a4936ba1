//! CLV, P(alive), expected purchases and expected spend on the CDNOW calibration data, compared
//! with the Python `lifetimes` package (0.11.3, with numpy 2.4 / scipy 1.17), which produced
//! the reference numbers below with:
//!
//! ```python
//! s = summary_data_from_transaction_data(cal, 'id', 'date', monetary_value_col='amount',
//!         observation_period_end='1997-09-30', freq='D', freq_multiplier=7)
//! bgf = BetaGeoFitter().fit(s.frequency, s.recency, s['T'])
//! ggf = GammaGammaFitter().fit(rep.frequency, rep.monetary_value)   # rep = s[s.frequency > 0]
//! clv = ggf.customer_lifetime_value(bgf, s.frequency, s.recency, s['T'], s.monetary_value,
//!         time=12, discount_rate=0.01, freq='W')
//! bgf.conditional_probability_alive(...); bgf.conditional_expected_number_of_purchases_up_to_time(13, ...)
//! ggf.conditional_expected_average_profit(s.frequency, s.monetary_value)
//! ```
//!
//! Our fit is made here from scratch (in cents) and must agree to 1e-3 relative.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, outside #[test] fns

use concierge_analytics::*;

/// (customer id, CLV $, P(alive), E[purchases in 13 weeks], expected spend $) from lifetimes.
const REFERENCE: [(i64, f64, f64, f64, f64); 15] = [
    (
        1,
        36.27397745116055,
        0.726620297788256,
        0.4571913736425729,
        24.65391871323535,
    ),
    (
        2,
        4.640936126483924,
        0.2123910243493672,
        0.07476022297527408,
        18.910018475339093,
    ),
    (
        3,
        8.344480971584327,
        1.0,
        0.06981604842797529,
        35.170371330454046,
    ),
    (
        18,
        6.348192221494796,
        0.3108557358708401,
        0.10941914423191182,
        17.67313946716555,
    ),
    (
        100,
        21.88774369420158,
        0.6469924176400688,
        0.2306156716465645,
        28.950974468658025,
    ),
    (
        251,
        8.620477967954383,
        1.0,
        0.07233728662466843,
        35.170371330454046,
    ),
    (
        1000,
        50.692786380799994,
        0.6802677040516693,
        0.9031759731024298,
        18.13056976939747,
    ),
    (
        1523,
        9.939282611392613,
        1.0,
        0.08455599325887636,
        35.170371330454046,
    ),
    (
        2000,
        10.488364797739296,
        1.0,
        0.08972535566036181,
        35.170371330454046,
    ),
    (
        2357,
        11.01700253052981,
        1.0,
        0.09474698434836246,
        35.170371330454046,
    ),
    (
        509,
        1175.049023365428,
        0.9464531085212331,
        5.021271678859847,
        77.59777079972639,
    ),
    (
        1081,
        1002.6122013457684,
        0.9171610178047253,
        3.2102775604496303,
        103.78988718007058,
    ),
    (
        1516,
        972.045413838181,
        0.9688544473027234,
        8.277023773884737,
        39.890286800197416,
    ),
    (
        1560,
        812.3611596001335,
        0.8764095019441377,
        2.3907467206990973,
        113.17591237692292,
    ),
    (
        1981,
        793.5165534135266,
        0.9489348445958747,
        5.65177700138345,
        47.901739979868466,
    ),
];
const TOTAL_CLV: f64 = 71507.95331613798;

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-12)
}

#[test]
fn clv_matches_lifetimes_on_cdnow() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/CDNOW_sample.txt"
    ))
    .unwrap();
    let end = day_from_ymd(1997, 9, 30);
    let txs: Vec<Transaction> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let d = f[2];
            Transaction {
                customer_id: f[1].parse().unwrap(),
                day: day_from_ymd(
                    d[0..4].parse().unwrap(),
                    d[4..6].parse().unwrap(),
                    d[6..8].parse().unwrap(),
                ),
                amount_minor: (f[4].parse::<f64>().unwrap() * 100.0).round() as i64,
            }
        })
        .filter(|t| t.day <= end)
        .collect();
    let mut opts = SummaryOptions::new(end, TimeUnit::Week);
    opts.zero_amounts = ZeroAmounts::CountAsPurchase;
    let summary = summarize(&txs, &opts);
    let hs = summary.histories();
    let bg = fit_bgnbd(&hs, &FitOptions::default()).unwrap();
    let gg = fit_gamma_gamma(&hs).unwrap();
    let score_opts = ScoreOptions {
        horizon: 13.0,
        clv: ClvOptions {
            months: 12,
            monthly_discount_rate: 0.01,
            time_unit: TimeUnit::Week,
        },
    };
    let scores = score_customers(&bg.params, &gg.params, &hs, &score_opts).unwrap();
    let total: f64 = scores.iter().map(|s| s.clv / 100.0).sum();
    eprintln!("total CLV ours {total} lifetimes {TOTAL_CLV}");
    assert!(rel(total, TOTAL_CLV) < 1e-3);
    let mut worst: f64 = 0.0;
    for (id, clv, alive, expected, spend) in REFERENCE {
        let k = summary
            .customers
            .iter()
            .position(|c| c.customer_id == id)
            .unwrap();
        let s = scores[k];
        for (ours, theirs) in [
            (s.clv / 100.0, clv),
            (s.prob_alive, alive),
            (s.expected_purchases, expected),
            (s.expected_average_spend / 100.0, spend),
        ] {
            worst = worst.max(rel(ours, theirs));
            assert!(
                rel(ours, theirs) < 1e-3,
                "customer {id}: ours {ours} vs lifetimes {theirs}"
            );
        }
    }
    eprintln!("worst relative difference from lifetimes: {worst:e}");
    // The standalone CLV function agrees with the scoring path.
    let clv_only = customer_lifetime_value(&bg.params, &gg.params, &hs, &score_opts.clv).unwrap();
    assert!(
        clv_only
            .iter()
            .zip(&scores)
            .all(|(a, s)| (a - s.clv).abs() <= 1e-9 * s.clv.abs().max(1.0))
    );
}
