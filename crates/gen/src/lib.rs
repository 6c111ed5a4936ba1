//! Deterministic synthetic data for Concierge: customers with households, a product catalogue,
//! order histories with repurchase rhythms, and cases with message threads, in Chinese,
//! Korean, Japanese and English.
//!
//! The crate is pure: it returns plain structs and never touches storage. The demo, the tests
//! and every benchmark fill their databases from it.
//!
//! ```
//! use concierge_gen::{GenSpec, Generator};
//!
//! let generator = Generator::new(GenSpec::small_demo()).unwrap();
//! let first = generator.customer(0).unwrap();
//! assert_eq!(first.external_id, "C0000001");
//! // Any record is available by index without generating the ones before it ...
//! let last = generator.customer(generator.customer_count() - 1).unwrap();
//! // ... and every stream is lazy, so a million customers never sit in memory at once.
//! let orders = generator.orders().take(10).count();
//! assert!(orders > 0);
//! # let _ = last;
//! ```
//!
//! # Determinism
//! Every value derives from `(seed, record kind, index)` through ChaCha8 streams
//! ([`rand_chacha`]), distributions implemented here, and the pure-Rust `libm`, so the same
//! spec gives the same data on every platform and with any version of the dependencies that
//! keeps ChaCha8's output. Changes to this crate can change the data; [`FORMAT_VERSION`] says
//! which generator made a data set.
//!
//! # Cross references
//! Customer `i` is in household `i % H`; orders and cases name their customer by index;
//! cases name their order by `(seq, order_no)` and their agent by index; order lines name
//! their product by index. External ids (`C0000001`, `H0000001`, `O0000001-001`,
//! `CS0000001`, SKUs) are unique and stable.
//!
//! # Code map
//! - `spec`: [`GenSpec`], presets, validation.
//! - `generator`: [`Generator`], calibration, lazy streams.
//! - `people`: households, customers, agents.
//! - `purchases`: the BG/NBD trip process, staple rhythms, baskets and returns.
//! - `cases`: cases and message threads.
//! - `mail`: the customers' messages of cases as raw inbound mail (charsets, replies, attachments).
//! - `catalog`, `names`, `places`, `text`: the tables (products, names, addresses, message
//!   templates) in four languages.
//! - `rng`, `calendar`: seeded streams and distributions; dates and money formatting.

mod calendar;
mod cases;
mod catalog;
mod generator;
mod mail;
mod model;
mod names;
mod people;
mod places;
mod purchases;
mod rng;
mod spec;
mod text;

pub use calendar::{DAY_MS, format_money, ms_of_date};
pub use catalog::MIN_PRODUCTS;
pub use generator::{BgNbdTruth, GammaGammaTruth, Generator, ModelTruth};
pub use mail::{GenMail, GenMailKind, MAIL_TO};
pub use model::*;
pub use people::TEAMS;
pub use spec::{GenError, GenSpec, Households, LocaleMix, PurchaseModel};

/// Version of the generated data: bumped whenever the same spec starts producing different
/// records.
pub const FORMAT_VERSION: u32 = 1;
