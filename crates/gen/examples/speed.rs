//! Measures generation speed and prints summary statistics:
//! `cargo run --release -p concierge-gen --example speed -- [customers] [cases] [threads]`.
//! Defaults: 1,000,000 customers (with their orders) and 1,000,000 cases on one thread.
//! Nothing is written anywhere; records are generated and dropped.

use std::time::Instant;

use concierge_gen::{GenSpec, Generator, Locale};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let customers = args.next().transpose()?.unwrap_or(1_000_000);
    let cases = args.next().transpose()?.unwrap_or(1_000_000);
    let threads = args.next().transpose()?.unwrap_or(1).max(1);
    let spec = GenSpec {
        customers,
        cases,
        ..GenSpec::benchmark()
    };
    let t = Instant::now();
    let generator = Generator::new(spec)?;
    println!(
        "setup (catalogue, agents, calibration): {:.3} s",
        t.elapsed().as_secs_f64()
    );
    println!("truth: {:?}", generator.truth());

    let rate = |n: u64, secs: f64| n as f64 / secs.max(1e-9);
    let chunks = |count: u64| -> Vec<std::ops::Range<u64>> {
        let step = count.div_ceil(threads).max(1);
        (0..threads)
            .map(|k| (k * step).min(count)..((k + 1) * step).min(count))
            .collect()
    };

    let t = Instant::now();
    let households: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = chunks(generator.household_count())
            .into_iter()
            .map(|r| {
                let g = generator.clone();
                s.spawn(move || g.households_range(r).count() as u64)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "households: {households} in {secs:.2} s = {:.0}/s",
        rate(households, secs)
    );

    let t = Instant::now();
    let per_locale: [u64; 4] = std::thread::scope(|s| {
        let handles: Vec<_> = chunks(customers)
            .into_iter()
            .map(|r| {
                let g = generator.clone();
                s.spawn(move || {
                    let mut counts = [0u64; 4];
                    for c in g.customers_range(r) {
                        counts[Locale::ALL.iter().position(|l| *l == c.locale).unwrap_or(0)] += 1;
                    }
                    counts
                })
            })
            .collect();
        let mut total = [0u64; 4];
        for h in handles {
            for (t, c) in total.iter_mut().zip(h.join().unwrap_or([0; 4])) {
                *t += c;
            }
        }
        total
    });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "customers: {customers} in {secs:.2} s = {:.0}/s (zh {} ko {} ja {} en {})",
        rate(customers, secs),
        per_locale[0],
        per_locale[1],
        per_locale[2],
        per_locale[3]
    );

    let t = Instant::now();
    let (orders, lines): (u64, u64) = std::thread::scope(|s| {
        let handles: Vec<_> = chunks(customers)
            .into_iter()
            .map(|r| {
                let g = generator.clone();
                s.spawn(move || {
                    g.orders_range(r).fold((0u64, 0u64), |(o, l), order| {
                        (o + 1, l + order.lines.len() as u64)
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or((0, 0)))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "orders: {orders} with {lines} lines in {secs:.2} s = {:.0} orders/s, {:.0} lines/s",
        rate(orders, secs),
        rate(lines, secs)
    );

    let t = Instant::now();
    let messages: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = chunks(cases)
            .into_iter()
            .map(|r| {
                let g = generator.clone();
                s.spawn(move || {
                    g.cases_range(r)
                        .map(|c| c.messages.len() as u64)
                        .sum::<u64>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "cases: {cases} with {messages} messages in {secs:.2} s = {:.0} cases/s, {:.0} messages/s",
        rate(cases, secs),
        rate(messages, secs)
    );
    Ok(())
}
