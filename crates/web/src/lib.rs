//! Concierge's HTTP adapter: the JSON API under `/api/v1` (documented by an OpenAPI 3.1
//! document generated from the handlers), the agent console (server-rendered HTML with a
//! little progressive enhancement), the customer portal, and the operational endpoints
//! (`/healthz`, `/readyz`, `/metrics`).
//!
//! Handlers are thin: they authenticate, check a permission, call the application layer and
//! shape the answer. No rule lives here.

pub mod api;
pub mod assets;
pub mod auth;
pub mod console;
pub mod error;
pub mod i18n;
pub mod ops;
pub mod portal;
pub mod portal_cases;
pub mod portal_self;
pub mod server;
pub mod state;

pub use server::{build_router, serve};
pub use state::AppState;
