//! Standalone search benchmark: `cargo run --release -p concierge-search --example search_bench
//! -- [DOCS] [QUERIES] [THREADS] [DIR] [TENANTS]`. Prints indexing throughput and query latency.

use std::path::PathBuf;

use concierge_search::IndexOptions;
use concierge_search::bench::{BenchConfig, run};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let defaults = BenchConfig::default();
    let config = BenchConfig {
        docs: args
            .first()
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(defaults.docs),
        queries: args
            .get(1)
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(defaults.queries),
        options: IndexOptions {
            writer_threads: args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1),
            ..IndexOptions::default()
        },
        dir: args.get(3).filter(|d| *d != "-").map(PathBuf::from),
        tenants: args
            .get(4)
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(defaults.tenants),
        ..defaults
    };
    println!("{}", run(&config)?);
    Ok(())
}
