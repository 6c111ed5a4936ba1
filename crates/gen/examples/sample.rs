//! Prints a few generated records of the small demo, to see what the generator makes:
//! `cargo run -p concierge-gen --example sample [seed]`.

use concierge_gen::{GenSpec, Generator};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let generator = Generator::new(GenSpec::small_demo().with_seed(seed))?;
    println!("truth: {:#?}", generator.truth());
    for c in generator.customers().take(4) {
        println!("{c:#?}");
    }
    if let Some(h) = generator.household(0) {
        println!("{h:#?}");
    }
    for o in generator.orders_of_customer(0).iter().take(3) {
        println!("{o:?}");
    }
    for case in generator.cases().take(4) {
        println!(
            "\n== {} [{} / {} / {} / {}] {}",
            case.external_id,
            case.kind.as_str(),
            case.topic.as_str(),
            case.channel.as_str(),
            case.status.as_str(),
            case.subject
        );
        for m in &case.messages {
            println!(
                "-- {} {} {}\n{}",
                m.external_id,
                m.kind.as_str(),
                m.created_at,
                m.body
            );
        }
    }
    Ok(())
}
