//! Errors of the search adapter. Every message says what was wrong and what to do about it;
//! the `Invalid*` variants are caller mistakes (answer 400), the others are operational.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = SearchError> = std::result::Result<T, E>;

/// Everything that can go wrong in the search adapter.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// A sort value outside the allowed set.
    #[error("invalid sort `{value}`: expected one of {allowed}")]
    InvalidSort {
        /// What was given (truncated to 64 characters).
        value: String,
        /// The allowed values, comma-separated.
        allowed: &'static str,
    },

    /// A filter value outside the allowed set or of the wrong shape.
    #[error("invalid value `{value}` for filter `{field}`: {reason}")]
    InvalidFilter {
        /// The filter's name as the API spells it (`status`, `channel`, `kind`, …).
        field: &'static str,
        /// What was given (truncated to 64 characters).
        value: String,
        /// Why it was refused and what is allowed.
        reason: String,
    },

    /// Paging outside the allowed bounds.
    #[error("invalid paging: {0}")]
    InvalidPaging(String),

    /// A document handed to `upsert` that cannot be indexed.
    #[error("invalid document {kind}:{id}: {reason}")]
    InvalidDocument {
        /// Document kind.
        kind: &'static str,
        /// Document id.
        id: i64,
        /// What is wrong with it.
        reason: String,
    },

    /// The caller tried to move the applied change-log sequence backwards.
    #[error(
        "applied change-log sequence must not go backwards: the index is at {current}, the commit \
         asked for {requested}; use `rebuild` to start over from an earlier point"
    )]
    SeqRegression {
        /// Sequence number already committed.
        current: u64,
        /// Sequence number asked for.
        requested: u64,
    },

    /// The index on disk was written by an incompatible version of this crate (different schema
    /// or analyzer).
    #[error(
        "the search index at {path} has format {found}, this build needs format {expected}; \
         run `concierge search reindex` to rebuild it"
    )]
    FormatMismatch {
        /// Index directory.
        path: PathBuf,
        /// What the index says (or `unknown`).
        found: String,
        /// What this build writes.
        expected: u32,
    },

    /// Another writer (usually another process) holds the index lock.
    #[error(
        "the search index at {path} is locked by another writer; stop the other concierge \
         process using it or give each node its own index directory"
    )]
    Locked {
        /// Index directory.
        path: PathBuf,
    },

    /// The index directory is not usable.
    #[error("search index directory {path}: {reason}")]
    Directory {
        /// Index directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The document source of a rebuild failed; the rebuild was rolled back and the previous
    /// index is intact.
    #[error("reindex source failed after {indexed} documents (previous index kept): {source}")]
    Source {
        /// Documents indexed before the failure.
        indexed: u64,
        /// The source's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A lock inside this crate was poisoned by a panic in another thread.
    #[error("search index writer is unusable after a panic in another thread; restart the process")]
    Poisoned,

    /// The writer could not be opened again after a rebuild's merges (see the error logged
    /// then); the index stays searchable.
    #[error("search index writer could not be reopened after a rebuild; restart the process")]
    WriterLost,

    /// An error from the tantivy engine.
    #[error("search engine error: {0}")]
    Engine(#[from] tantivy::TantivyError),
}

/// Truncates a user-supplied value for inclusion in an error message.
pub(crate) fn clip(value: &str) -> String {
    const MAX: usize = 64;
    if value.chars().count() <= MAX {
        value.to_string()
    } else {
        let mut s: String = value.chars().take(MAX).collect();
        s.push('…');
        s
    }
}
