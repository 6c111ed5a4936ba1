//! Times the analytics pipeline on simulated customers and optionally writes the per-customer
//! summary as CSV (frequency,recency,T,monetary_value) for comparison with Python `lifetimes`.
//!
//! ```text
//! cargo run --release -p concierge-analytics --example bench -- [customers] [day|week] [summary.csv]
//! ```

use concierge_analytics::TimeUnit;
use concierge_analytics::bench::{BenchOptions, run_pipeline};
use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let customers: usize = args.first().map_or(Ok(1_000_000), |s| s.parse())?;
    let time_unit: TimeUnit = args.get(1).map_or(Ok(TimeUnit::Week), |s| s.parse())?;
    let run = run_pipeline(&BenchOptions {
        customers,
        seed: 42,
        time_unit,
    })?;
    let r = &run.report;
    println!(
        "customers {} transactions {} (time unit {})",
        r.customers,
        r.transactions,
        time_unit.as_str()
    );
    println!("simulate      {:9.1} ms", r.simulate_ms);
    println!("summary       {:9.1} ms", r.summary_ms);
    println!(
        "fit BG/NBD    {:9.1} ms  ({} distinct rows, {} iterations)",
        r.fit_bgnbd_ms, r.bgnbd.distinct_rows, r.bgnbd.iterations
    );
    println!("fit Gamma-Gamma {:7.1} ms", r.fit_gamma_gamma_ms);
    println!("score + CLV   {:9.1} ms", r.score_ms);
    println!("fit + score   {:9.1} ms", r.fit_and_score_ms);
    println!(
        "BG/NBD {:?} ll {:.3}",
        r.bgnbd.params, r.bgnbd.log_likelihood
    );
    println!(
        "Gamma-Gamma {:?} rho {:.4}",
        r.gamma_gamma.params, r.gamma_gamma.frequency_spend_correlation
    );
    println!("total CLV {:.6}", r.total_clv);
    if let Some(path) = args.get(2) {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        writeln!(out, "customer_id,frequency,recency,T,monetary_value,clv")?;
        for (c, s) in run.summary.customers.iter().zip(&run.scores) {
            let h = c.history;
            writeln!(
                out,
                "{},{},{:?},{:?},{:?},{:?}",
                c.customer_id, h.frequency, h.recency, h.age, h.monetary_value, s.clv
            )?;
        }
        println!("wrote {path}");
    }
    Ok(())
}
