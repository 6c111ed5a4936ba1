//! Concierge's domain core: the vocabulary of the product as plain Rust types and rules.
//!
//! Invariants: this crate does no I/O, starts no tasks, and knows nothing of SQL, HTTP or
//! mail. Everything here is tested directly and fast. Adapters (store, web, mail, CLI) convert
//! to and from these types at their edges.

pub mod auth;
pub mod case;
pub mod customer;
pub mod followup;
pub mod identity;
pub mod ids;
pub mod import;
pub mod locale;
pub mod mention;
pub mod personalize;
pub mod portal;
pub mod rules;
pub mod scorecard;
pub mod sla;
pub mod values;

pub use auth::{LinkRequestPolicy, Permission, Role, SignInPolicy};
pub use ids::*;
pub use locale::Locale;
pub use values::{EmailAddress, TenantSlug, ValueError, check_password};
