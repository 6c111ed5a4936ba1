//! Concierge's storage adapter: one SQL code base over SQLite (embedded, the default) and
//! PostgreSQL (for scale and several web nodes on one database).
//!
//! All queries go through sqlx's `AnyPool` with the same SQL text on both engines (`$1`
//! placeholders, `RETURNING`, `ON CONFLICT`). Values crossing the boundary are limited to
//! integers, floats, text and blobs: times are epoch milliseconds, money is minor units, flags
//! are SMALLINT. The few statements that differ by engine (job claiming with
//! `FOR UPDATE SKIP LOCKED`) are chosen by [`Backend`]. Every tenant-owned query takes a
//! [`TenantId`](concierge_domain::TenantId) and filters by it: no function here reads across
//! tenants except the sign-in lookups that resolve a tenant in the first place.

pub mod analytics;
pub mod bulk;
pub mod cases;
mod error;
pub mod followups;
mod held;
pub mod identity;
pub mod imports;
pub mod jobs;
pub mod mail;
pub mod mailboxes;
pub mod memory;
pub mod people;
pub mod portal;
pub mod records;
pub mod search_feed;
mod store;
pub mod testing;
mod writer;
pub use store::redact;

pub use error::StoreError;
pub use jobs::{Job, JobOutcome};
pub use people::{ApiTokenRow, SessionRow, TenantRow, UserRow};
pub use records::{AuditEntry, CustomerRow};
pub use store::{Backend, Store};

/// Result type of every store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
