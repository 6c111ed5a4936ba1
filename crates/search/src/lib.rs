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
mod query;
mod schema;
mod snippet;

pub use analyzer::{analyze, warm_up};
pub use doc::{DocKind, SearchDoc, TenantId, Visibility};
pub use error::{Result, SearchError};
pub use index::{
    IndexOptions, REBUILD_PROGRESS_EVERY, RebuildProgress, SearchHit, SearchIndex, SearchResults,
};
pub use query::{
    DateField, DateRange, Filters, MAX_FILTER_VALUES, MAX_KEYWORD_CHARS, MAX_LIMIT, MAX_OFFSET,
    MAX_QUERY_CHARS, MAX_QUERY_TERMS, SearchRequest, SortOrder, Vocabulary,
};
pub use schema::{FORMAT_VERSION, MAX_BODY_BYTES, MAX_TITLE_BYTES};
pub use snippet::escape_html;
