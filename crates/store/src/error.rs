//! The store's error type: separates "the database is unreachable" (retry later, HTTP 503,
//! exit code 75) from "this write conflicts with existing data" (HTTP 409/422) and bugs.

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or is overloaded; the operation may succeed later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness or foreign-key rule refused the write, or the row changed meanwhile
    /// (an optimistic version check failed): re-read and decide again.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The inbound mail (by id) is already stored as a message: the write that would store
    /// it again was refused whole. Not a reason to retry — the mail was processed.
    #[error("inbound mail {0} is already stored as a message")]
    AlreadyLinked(i64),
    /// The database URL or data directory is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Anything else (a bug, or a corrupted row).
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    /// Whether retrying later could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(db) => {
                let msg = db.message().to_string();
                if db.is_unique_violation()
                    || db.is_foreign_key_violation()
                    || db.is_check_violation()
                {
                    StoreError::Conflict(msg)
                } else if msg.contains("database is locked")
                    || msg.contains("disk I/O error")
                    || msg.contains("database or disk is full")
                    || msg.contains("the database system is")
                    || db
                        .code()
                        .is_some_and(|c| c.starts_with("08") || c == "57P01")
                {
                    StoreError::Unavailable(msg)
                } else {
                    StoreError::Other(msg)
                }
            }
            _ => StoreError::Other(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(inner) => match StoreError::from(inner) {
                StoreError::Unavailable(m) => StoreError::Unavailable(m),
                other => StoreError::Migration(other.to_string()),
            },
            other => StoreError::Migration(other.to_string()),
        }
    }
}
