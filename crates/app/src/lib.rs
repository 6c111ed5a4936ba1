//! Concierge's application layer: the use cases that the web, CLI and mail adapters call.
//!
//! It owns configuration, the clock, authentication (passwords, sessions, API tokens,
//! customers' sign-in links, throttling), and the background worker that runs durable jobs
//! and schedules across nodes. Rules live in `concierge-domain`; rows live in
//! `concierge-store`; this layer sequences them.

pub mod analytics;
pub mod attachments;
pub mod auth;
pub mod cases;
pub mod clock;
pub mod config;
pub mod customers;
pub mod demo;
pub mod followups;
pub mod generate;
pub mod identity;
pub mod import;
pub mod jobs;
pub mod mail;
pub mod mailboxes;
pub mod notifications;
pub mod nps;
pub mod portal;
pub mod portal_self;
pub mod search;
pub mod secrets;

pub use auth::{AuthError, Principal};
pub use clock::Clock;
pub use config::Config;

use concierge_store::Store;
use std::sync::Arc;

/// Everything a request handler or command needs, cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub config: Arc<Config>,
    pub clock: Clock,
    /// The key for secrets stored encrypted, loaded on first use ([`App::secret_key`]).
    secret_key: Arc<std::sync::OnceLock<secrets::SecretKey>>,
}

impl App {
    pub fn new(store: Store, config: Config) -> App {
        App {
            store,
            config: Arc::new(config),
            clock: Clock::system(),
            secret_key: Arc::default(),
        }
    }

    /// The same app (store, clock, secret key) with another configuration.
    pub fn with_config(&self, config: Config) -> App {
        App {
            config: Arc::new(config),
            ..self.clone()
        }
    }

    /// This node's key for secrets stored encrypted (`[secrets]`; by default `secrets.key`
    /// in the data directory, created on first use). Loaded once; an error says what to fix.
    pub fn secret_key(&self) -> Result<&secrets::SecretKey, String> {
        if let Some(k) = self.secret_key.get() {
            return Ok(k);
        }
        let c = &self.config;
        let key =
            secrets::SecretKey::load(&c.secrets.key, &c.secrets.key_file, &c.storage.data_dir)?;
        // Two callers may load at once; both loaded the same key, the first one is kept.
        let _ = self.secret_key.set(key);
        self.secret_key
            .get()
            .ok_or_else(|| "the secret key could not be kept".to_string())
    }

    /// The milliseconds since the epoch, from the app's clock.
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}
