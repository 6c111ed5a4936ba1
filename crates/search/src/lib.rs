//! `concierge-search`: the embedded full-text index over cases, messages, internal notes and
//! customers (tantivy 0.27).
//!
//! - **Languages.** One analyzer splits mixed text by script: Chinese through jieba words plus
//!   bigrams, Japanese and Korean through CJK bigrams, Western text lowercased, ASCII-folded and
//!   English-stemmed (see [`analyzer`]). Queries use the same analyzer.
//! - **Safety.** Every search is confined to one tenant ([`SearchIndex::search`] takes the
//!   tenant as a separate, required argument). Notes are always internal and only returned when
//!   [`SearchRequest::include_internal`] is set. User text is never parsed as query syntax, is
//!   capped at [`MAX_QUERY_TERMS`] terms, and snippets are HTML-escaped.
//! - **Multi-node.** Each node keeps its own index that follows the ordered change log in the
//!   database: apply entries after [`SearchIndex::applied_seq`], then
//!   [`SearchIndex::commit`] with the last sequence number applied — documents and sequence
//!   number are committed atomically, so a restart resumes exactly where it stopped.
//! - **Rebuild.** [`SearchIndex::rebuild`] replaces the index from an iterator with a progress
//!   callback (`concierge search reindex`).
//!
//! ## Following the change log (how the caller drives this crate)
//! Every write to a searchable entity appends `(seq, tenant_id, kind, entity_id)` to a change
//! log table in the same transaction. Each node runs one follower loop:
//! 1. read entries with `seq > watermark` in order (a few hundred at a time);
//! 2. for each, load the entity's *current* row: upsert it (a case also re-upserts its messages
//!    and notes when case-level facets changed) or, when it is gone, `delete` / `delete_case`;
//! 3. `commit(watermark)` — at most about once a second (a commit costs ≈ 25–100 ms).
//!
//! Applying an entry is idempotent, so re-applying is always safe. On PostgreSQL a sequence value
//! can become visible after a larger one (transactions commit out of order), so the watermark
//! must not jump over a gap: advance it only up to the first missing seq, remember the entries
//! already applied above it, and give up on a gap after a grace period (e.g. 60 s: a rolled-back
//! transaction leaves a permanent hole). After a restart the follower re-applies from
//! [`SearchIndex::applied_seq`]. A fresh node or a format change runs `rebuild` first. On SQLite
//! (one writer) there are no such gaps.
//!
//! Call [`warm_up`] at start-up (in `spawn_blocking`): it loads jieba's dictionary (≈ 0.2 s),
//! which otherwise happens on the first Chinese text.
//!
//! ```
//! use concierge_search::{DocKind, IndexOptions, SearchDoc, SearchIndex, SearchRequest, TenantId};
//!
//! let index = SearchIndex::create_in_ram(IndexOptions::default())?;
//! let doc = SearchDoc::new(1, DocKind::Case, 7, "订单问题", "我的订单损坏了，请尽快处理", 0);
//! index.upsert([doc])?;
//! index.commit(1)?;
//! let found = index.search(TenantId(1), &SearchRequest::new("损坏"))?;
//! assert_eq!(found.hits[0].id, 7);
//! assert_eq!(index.applied_seq(), 1);
//! # Ok::<(), concierge_search::SearchError>(())
//! ```
//!
//! All calls are blocking; async code wraps them in `spawn_blocking`.

pub mod analyzer;
pub mod bench;
mod doc;
mod error;
mod index;
mod merge;
mod pread;
mod query;
mod schema;
mod snippet;

pub use analyzer::{analyze, warm_up};
pub use doc::{DocKind, SearchDoc, TenantId, Visibility};
pub use error::{Result, SearchError};
pub use index::{
    IndexOptions, REBUILD_PROGRESS_EVERY, ReadMode, RebuildProgress, SearchHit, SearchIndex,
    SearchResults,
};
pub use merge::MAX_MERGE_DOCS;
pub use query::{
    DateField, DateRange, Filters, MAX_FILTER_VALUES, MAX_KEYWORD_CHARS, MAX_LIMIT, MAX_OFFSET,
    MAX_QUERY_CHARS, MAX_QUERY_TERMS, SearchRequest, SortOrder, Vocabulary,
};
pub use schema::{FORMAT_VERSION, MAX_BODY_BYTES, MAX_TITLE_BYTES};
pub use snippet::escape_html;
