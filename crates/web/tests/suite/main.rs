//! Every HTTP test of the web crate in one test binary (one link instead of one per file):
//! the real server on 127.0.0.1:0 over a fresh database per test, SQLite by default or
//! PostgreSQL when `CONCIERGE_TEST_DATABASE_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod analytics;
mod cases;
mod customers;
mod harness;
mod http;
mod identity;
mod imports;
mod mail;
mod mailboxes;
mod portal;
mod portal_self;
mod search;
mod tasks;
