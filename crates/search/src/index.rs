//! [`SearchIndex`]: open or create the index, stage upserts and deletes, commit them together
//! with the applied change-log sequence number, search, and rebuild.
//!
//! All methods are synchronous and may block on disk I/O; async callers wrap them in
//! `spawn_blocking`. A `SearchIndex` is `Send + Sync`: share one per process in an `Arc`.
//! Searches run concurrently; writes are serialised by an internal lock. Only one process may
//! write an index directory (tantivy's lock file enforces it).
//!
//! ## Following the change log
//! Writes become visible at [`SearchIndex::commit`], which records the sequence number of the
//! last change-log entry they reflect, durably and atomically with the documents (tantivy commit
//! payload). After a restart [`SearchIndex::applied_seq`] tells where to resume: apply entries
//! with a greater sequence number, then commit with the last one applied.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use tantivy::collector::{Count, TopDocs};
use tantivy::directory::{Directory, MmapDirectory};
use tantivy::indexer::IndexWriterOptions;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Schema, Value};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument,
    TantivyError, Term,
};

use crate::analyzer::{ANALYZER_NAME, build_analyzer};
use crate::doc::{DocKind, SearchDoc, TenantId, Visibility};
use crate::error::{Result, SearchError};
use crate::merge::BoundedMergePolicy;
use crate::pread::PreadDirectory;
use crate::query::{QueryBuilder, SearchRequest, SortOrder, Vocabulary, plan_text};
use crate::schema::{F_CREATED_AT, F_UPDATED_AT, FORMAT_VERSION, Fields, build_schema, doc_key};
use crate::snippet::{best_snippet, highlight_all};

/// Longest keyword value (status, tier, channel, tag) accepted in a document, in bytes.
const MAX_DOC_KEYWORD_BYTES: usize = 256;
/// Title characters rendered in a hit's `title_html`.
const TITLE_HTML_CHARS: usize = 300;

/// Tuning of the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexOptions {
    /// Indexing threads (1 to 8). One leaves the other core to the web server; a dedicated
    /// reindex can use 2.
    pub writer_threads: usize,
    /// Total writer memory budget in bytes (at least 15 MB per thread). Segments are flushed
    /// when it fills, so it also bounds the RSS of a rebuild.
    pub writer_memory_bytes: usize,
    /// How index files are read.
    pub read_mode: ReadMode,
}

/// How an index opened from a directory reads its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadMode {
    /// Memory maps: fastest for searching, and what a serving node uses.
    #[default]
    Mmap,
    /// Positioned reads into short-lived buffers, so the pages a merge reads do not stay
    /// resident: for a process that only writes the index (a rebuild).
    Pread,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            writer_threads: 1,
            writer_memory_bytes: 64 * 1024 * 1024,
            read_mode: ReadMode::Mmap,
        }
    }
}

/// One search hit, ready for a result list.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// What the hit is.
    pub kind: DocKind,
    /// Id of the case, message, note or customer.
    pub id: i64,
    /// The case it belongs to.
    pub case_id: Option<i64>,
    /// The customer it concerns.
    pub customer_id: Option<i64>,
    /// Stored title, raw (escape it yourself if you render it).
    pub title: String,
    /// Title, HTML-escaped, with `<mark>` around matched words.
    pub title_html: String,
    /// Best passage of the body, HTML-escaped, with `<mark>` around matched words.
    pub snippet_html: String,
    /// Stored display line, raw.
    pub subtitle: Option<String>,
    /// Public or internal.
    pub visibility: Visibility,
    /// Status.
    pub status: Option<String>,
    /// Owning agent.
    pub owner_id: Option<i64>,
    /// Owning team.
    pub team_id: Option<i64>,
    /// Tier.
    pub tier: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Channel.
    pub channel: Option<String>,
    /// Creation time, epoch ms.
    pub created_at: i64,
    /// Update time, epoch ms.
    pub updated_at: i64,
    /// Relevance score (only when sorted by relevance).
    pub score: Option<f32>,
}

/// A page of results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchResults {
    /// The hits of the requested page.
    pub hits: Vec<SearchHit>,
    /// Number of documents matching (all pages).
    pub total: usize,
    /// Part of the user's text was ignored (more than [`crate::MAX_QUERY_TERMS`] terms or
    /// [`crate::MAX_QUERY_CHARS`] characters). Tell the user their query was shortened.
    pub query_truncated: bool,
    /// Distinct terms searched for.
    pub terms_used: usize,
    /// The order actually applied (relevance with empty text becomes `UpdatedDesc`).
    pub sort: SortOrder,
    /// Time spent in [`SearchIndex::search`].
    pub took: Duration,
}

/// Progress of a rebuild, reported every [`REBUILD_PROGRESS_EVERY`] documents and at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildProgress {
    /// Documents indexed so far.
    pub indexed: u64,
    /// Time since the rebuild started.
    pub elapsed: Duration,
    /// Every document is committed and the segments are being merged (one report).
    pub merging: bool,
    /// The final report (after the commit and the merges).
    pub done: bool,
    /// Segments of the rebuilt index (in the final report; 0 before).
    pub segments: usize,
}

/// Documents between two progress reports of a rebuild.
pub const REBUILD_PROGRESS_EVERY: u64 = 1_000;

/// The embedded full-text index.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    /// `None` only while [`SearchIndex::rebuild`] waits for the merges of a finished rebuild
    /// (under the lock) and after a failure to open a new writer then.
    writer: Mutex<Option<IndexWriter<TantivyDocument>>>,
    options: IndexOptions,
    fields: Fields,
    analyzer: TextAnalyzer,
    applied_seq: AtomicU64,
    vocabulary: RwLock<Vocabulary>,
    /// Directory, for messages (`None` in RAM).
    path: Option<PathBuf>,
}

/// The writer, held under the index's lock (see [`SearchIndex::writer`]).
struct WriterGuard<'a>(MutexGuard<'a, Option<IndexWriter<TantivyDocument>>>);

impl std::ops::Deref for WriterGuard<'_> {
    type Target = IndexWriter<TantivyDocument>;
    fn deref(&self) -> &Self::Target {
        match self.0.as_ref() {
            Some(w) => w,
            // `SearchIndex::writer` hands out a guard only over a writer.
            None => unreachable!("a writer guard always holds a writer"),
        }
    }
}

impl std::ops::DerefMut for WriterGuard<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self.0.as_mut() {
            Some(w) => w,
            None => unreachable!("a writer guard always holds a writer"),
        }
    }
}

/// Opens the index's writer with `options`, the bounded merge policy and one merge thread.
fn new_writer(
    index: &Index,
    options: IndexOptions,
    path: Option<&Path>,
) -> Result<IndexWriter<TantivyDocument>> {
    let threads = options.writer_threads.clamp(1, 8);
    let budget = options.writer_memory_bytes.max(threads * 16 * 1024 * 1024);
    // One merge at a time: a merge's inputs are read through memory maps, so concurrent
    // merges add up in resident memory (see `merge`).
    let writer_options = IndexWriterOptions::builder()
        .num_worker_threads(threads)
        .memory_budget_per_thread(budget / threads)
        .num_merge_threads(1)
        .build();
    let writer: IndexWriter<TantivyDocument> =
        index
            .writer_with_options(writer_options)
            .map_err(|e| match e {
                TantivyError::LockFailure(..) => SearchError::Locked {
                    path: path.map(Path::to_path_buf).unwrap_or_default(),
                },
                other => SearchError::Engine(other),
            })?;
    writer.set_merge_policy(Box::new(BoundedMergePolicy::default()));
    Ok(writer)
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("path", &self.path)
            .field("applied_seq", &self.applied_seq())
            .finish_non_exhaustive()
    }
}

fn payload(seq: u64) -> String {
    format!("concierge-search format={FORMAT_VERSION} applied_seq={seq}")
}

/// Parses a commit payload into (format, applied_seq).
fn parse_payload(payload: &str) -> Option<(u32, u64)> {
    let mut parts = payload.split_whitespace();
    if parts.next() != Some("concierge-search") {
        return None;
    }
    let mut format = None;
    let mut seq = None;
    for part in parts {
        if let Some(v) = part.strip_prefix("format=") {
            format = v.parse().ok();
        } else if let Some(v) = part.strip_prefix("applied_seq=") {
            seq = v.parse().ok();
        }
    }
    Some((format?, seq?))
}

/// Whether a file name in an index directory is one tantivy writes.
fn is_index_file(name: &str) -> bool {
    if name == "meta.json" || name == ".managed.json" || name.starts_with(".tantivy-") {
        return true;
    }
    match name.split_once('.') {
        Some((stem, ext)) => {
            stem.len() == 32
                && stem.bytes().all(|b| b.is_ascii_hexdigit())
                && !ext.is_empty()
                && ext.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        }
        None => false,
    }
}

impl SearchIndex {
    /// Opens the index in `dir`, creating the directory and an empty index if needed.
    ///
    /// Fails with [`SearchError::FormatMismatch`] when the index was written by an incompatible
    /// build (then call [`SearchIndex::recreate`] and rebuild), and with
    /// [`SearchError::Locked`] when another process writes it.
    pub fn open_or_create(dir: impl AsRef<Path>, options: IndexOptions) -> Result<SearchIndex> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| SearchError::Directory {
            path: dir.to_path_buf(),
            reason: format!("cannot create it: {e}"),
        })?;
        let mmap = MmapDirectory::open(dir).map_err(|e| SearchError::Directory {
            path: dir.to_path_buf(),
            reason: format!("cannot open it: {e}"),
        })?;
        let (schema, fields) = build_schema();
        let exists = Index::exists(&mmap).map_err(|e| SearchError::Directory {
            path: dir.to_path_buf(),
            reason: format!("cannot read it: {e}"),
        })?;
        let directory: Box<dyn Directory> = match options.read_mode {
            ReadMode::Mmap => Box::new(mmap),
            ReadMode::Pread => Box::new(PreadDirectory::new(mmap, dir.to_path_buf())),
        };
        let index = if exists {
            let index = Index::open(directory)?;
            if index.schema() != schema {
                return Err(SearchError::FormatMismatch {
                    path: dir.to_path_buf(),
                    found: "a different schema".into(),
                    expected: FORMAT_VERSION,
                });
            }
            index
        } else {
            Index::create(directory, schema, tantivy::IndexSettings::default())?
        };
        Self::from_index(index, fields, options, Some(dir.to_path_buf()))
    }

    /// Creates an empty index in memory (tests, benchmarks, single-use tools).
    pub fn create_in_ram(options: IndexOptions) -> Result<SearchIndex> {
        let (schema, fields) = build_schema();
        let index = Index::create_in_ram(schema);
        Self::from_index(index, fields, options, None)
    }

    /// Deletes the index files in `dir` (only files tantivy writes; anything else is left) and
    /// creates an empty index there. For a format change: follow with [`SearchIndex::rebuild`].
    pub fn recreate(dir: impl AsRef<Path>, options: IndexOptions) -> Result<SearchIndex> {
        let dir = dir.as_ref();
        let dir_err = |e: std::io::Error| SearchError::Directory {
            path: dir.to_path_buf(),
            reason: format!("cannot clear it: {e}"),
        };
        if dir.exists() {
            for entry in std::fs::read_dir(dir).map_err(dir_err)? {
                let entry = entry.map_err(dir_err)?;
                let name = entry.file_name();
                let is_file = entry.file_type().map_err(dir_err)?.is_file();
                if is_file && name.to_str().is_some_and(is_index_file) {
                    std::fs::remove_file(entry.path()).map_err(dir_err)?;
                }
            }
        }
        Self::open_or_create(dir, options)
    }

    fn from_index(
        index: Index,
        fields: Fields,
        options: IndexOptions,
        path: Option<PathBuf>,
    ) -> Result<SearchIndex> {
        let analyzer = build_analyzer();
        index.tokenizers().register(ANALYZER_NAME, analyzer.clone());
        let mut writer = new_writer(&index, options, path.as_deref())?;
        let metas = index.load_metas()?;
        let seq = match metas.payload.as_deref().map(parse_payload) {
            Some(Some((format, seq))) if format == FORMAT_VERSION => seq,
            Some(Some((format, _))) => {
                return Err(SearchError::FormatMismatch {
                    path: path.unwrap_or_default(),
                    found: format.to_string(),
                    expected: FORMAT_VERSION,
                });
            }
            Some(None) | None if metas.segments.is_empty() => {
                // A new (or never committed) index: stamp it.
                let mut prepared = writer.prepare_commit()?;
                prepared.set_payload(&payload(0));
                prepared.commit()?;
                0
            }
            Some(None) | None => {
                return Err(SearchError::FormatMismatch {
                    path: path.unwrap_or_default(),
                    found: "unknown".into(),
                    expected: FORMAT_VERSION,
                });
            }
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            writer: Mutex::new(Some(writer)),
            options,
            fields,
            analyzer,
            applied_seq: AtomicU64::new(seq),
            vocabulary: RwLock::new(Vocabulary::default()),
            path,
        })
    }

    /// The tantivy schema (for diagnostics).
    pub fn schema(&self) -> Schema {
        self.index.schema()
    }

    /// Replaces the allowed filter values (statuses and tiers come from the workflow and tier
    /// configuration).
    pub fn set_vocabulary(&self, vocabulary: Vocabulary) {
        match self.vocabulary.write() {
            Ok(mut v) => *v = vocabulary,
            Err(poisoned) => *poisoned.into_inner() = vocabulary,
        }
    }

    fn writer(&self) -> Result<WriterGuard<'_>> {
        let guard = self.writer.lock().map_err(|_| SearchError::Poisoned)?;
        if guard.is_none() {
            return Err(SearchError::WriterLost);
        }
        Ok(WriterGuard(guard))
    }

    /// Sequence number of the last change-log entry reflected by the committed index
    /// (0 for a new index).
    pub fn applied_seq(&self) -> u64 {
        self.applied_seq.load(Ordering::Acquire)
    }

    /// Number of committed, searchable documents (all tenants).
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Segments of the committed index (each search visits every one).
    pub fn segment_count(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    fn check_doc(doc: &SearchDoc) -> Result<()> {
        let bad = |reason: String| SearchError::InvalidDocument {
            kind: doc.kind.as_str(),
            id: doc.id,
            reason,
        };
        let keywords = doc
            .status
            .iter()
            .chain(doc.tier.iter())
            .chain(doc.channel.iter())
            .chain(doc.tags.iter());
        for k in keywords {
            if k.is_empty() || k.len() > MAX_DOC_KEYWORD_BYTES {
                return Err(bad(format!(
                    "status, tier, channel and tags must be 1 to {MAX_DOC_KEYWORD_BYTES} bytes"
                )));
            }
        }
        Ok(())
    }

    fn stage(&self, writer: &IndexWriter<TantivyDocument>, doc: &SearchDoc) -> Result<()> {
        Self::check_doc(doc)?;
        let key = doc_key(doc.tenant.0, doc.kind, doc.id);
        writer.delete_term(Term::from_field_text(self.fields.key, &key));
        writer.add_document(self.fields.to_tantivy(doc))?;
        Ok(())
    }

    /// Stages documents: each replaces any document with the same tenant, kind and id.
    /// Nothing is visible until [`SearchIndex::commit`]. On an invalid document the ones before
    /// it stay staged (call [`SearchIndex::rollback`] to drop them). Returns how many were staged.
    pub fn upsert(&self, docs: impl IntoIterator<Item = SearchDoc>) -> Result<usize> {
        let writer = self.writer()?;
        let mut n = 0;
        for doc in docs {
            self.stage(&writer, &doc)?;
            n += 1;
        }
        Ok(n)
    }

    /// Stages the deletion of one document.
    pub fn delete(&self, tenant: TenantId, kind: DocKind, id: i64) -> Result<()> {
        let writer = self.writer()?;
        writer.delete_term(Term::from_field_text(
            self.fields.key,
            &doc_key(tenant.0, kind, id),
        ));
        Ok(())
    }

    /// Stages the deletion of a case and everything indexed under it (messages, notes).
    pub fn delete_case(&self, tenant: TenantId, case_id: i64) -> Result<()> {
        let writer = self.writer()?;
        let query = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_i64(self.fields.tenant, tenant.0),
                    IndexRecordOption::Basic,
                )) as Box<dyn Query>,
            ),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_i64(self.fields.case_id, case_id),
                    IndexRecordOption::Basic,
                )),
            ),
        ]);
        writer.delete_query(Box::new(query))?;
        Ok(())
    }

    /// Stages the deletion of every document of a tenant.
    pub fn delete_tenant(&self, tenant: TenantId) -> Result<()> {
        let writer = self.writer()?;
        writer.delete_term(Term::from_field_i64(self.fields.tenant, tenant.0));
        Ok(())
    }

    /// Makes staged changes durable and visible, recording `applied_seq` with them.
    ///
    /// `applied_seq` must not be lower than [`SearchIndex::applied_seq`]
    /// ([`SearchError::SeqRegression`]); equal is fine (a commit without new log entries).
    pub fn commit(&self, applied_seq: u64) -> Result<()> {
        let mut writer = self.writer()?;
        let current = self.applied_seq();
        if applied_seq < current {
            return Err(SearchError::SeqRegression {
                current,
                requested: applied_seq,
            });
        }
        self.commit_locked(&mut writer, applied_seq)
    }

    fn commit_locked(
        &self,
        writer: &mut IndexWriter<TantivyDocument>,
        applied_seq: u64,
    ) -> Result<()> {
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&payload(applied_seq));
        prepared.commit()?;
        self.applied_seq.store(applied_seq, Ordering::Release);
        self.reader.reload()?;
        Ok(())
    }

    /// Drops every staged change since the last commit.
    pub fn rollback(&self) -> Result<()> {
        let mut writer = self.writer()?;
        writer.rollback()?;
        Ok(())
    }

    /// Replaces the whole index with `docs` and commits it with `applied_seq` (the change-log
    /// position the documents were read at). Earlier staged changes are discarded.
    ///
    /// Readers keep seeing the previous index until the final commit; if the source fails or a
    /// document is invalid, everything is rolled back and the previous index stays as it was.
    /// `progress` is called every [`REBUILD_PROGRESS_EVERY`] documents and once at the end.
    ///
    /// The source must yield each (tenant, kind, id) once (it is read from the database's
    /// current rows). Read the change-log head *before* reading the documents and pass it as
    /// `applied_seq`: entries written meanwhile are then applied again afterwards, which is
    /// harmless because applying an entry re-reads the entity's current state. Writes from the
    /// change-log follower wait while a rebuild holds the writer.
    pub fn rebuild<I, E, F>(&self, docs: I, applied_seq: u64, mut progress: F) -> Result<u64>
    where
        I: IntoIterator<Item = std::result::Result<SearchDoc, E>>,
        E: std::error::Error + Send + Sync + 'static,
        F: FnMut(RebuildProgress),
    {
        let started = Instant::now();
        let mut writer = self.writer()?;
        writer.rollback()?;
        writer.delete_all_documents()?;
        let mut indexed: u64 = 0;
        let outcome: Result<()> = (|| {
            for item in docs {
                let doc = item.map_err(|e| SearchError::Source {
                    indexed,
                    source: Box::new(e),
                })?;
                Self::check_doc(&doc)?;
                // The index was emptied, so no delete-by-key is needed (a million pending
                // deletes would cost memory and time at every segment flush).
                writer.add_document(self.fields.to_tantivy(&doc))?;
                indexed += 1;
                if indexed.is_multiple_of(REBUILD_PROGRESS_EVERY) {
                    progress(RebuildProgress {
                        indexed,
                        elapsed: started.elapsed(),
                        merging: false,
                        done: false,
                        segments: 0,
                    });
                }
            }
            Ok(())
        })();
        if let Err(e) = outcome {
            writer.rollback()?;
            return Err(e);
        }
        self.commit_locked(&mut writer, applied_seq)?;
        // The merges the rebuild set off (and those they lead to) run to the end here, so the
        // rebuilt index is left in a few large segments rather than dozens of small ones that
        // every search would visit and a serving node would merge later. Merges keep the
        // commit's payload (the applied sequence).
        if let Some(w) = writer.0.take() {
            progress(RebuildProgress {
                indexed,
                elapsed: started.elapsed(),
                merging: true,
                done: false,
                segments: 0,
            });
            let waited = w.wait_merging_threads();
            *writer.0 = Some(new_writer(&self.index, self.options, self.path.as_deref())?);
            waited?;
            self.reader.reload()?;
        }
        progress(RebuildProgress {
            indexed,
            elapsed: started.elapsed(),
            merging: false,
            done: true,
            segments: self.segment_count(),
        });
        Ok(indexed)
    }

    /// Searches one tenant's documents.
    ///
    /// The tenant filter is always applied; there is no way to search across tenants. With
    /// `include_internal == false` (the default of [`SearchRequest::new`]), internal documents
    /// (all notes) are excluded.
    pub fn search(&self, tenant: TenantId, request: &SearchRequest) -> Result<SearchResults> {
        let started = Instant::now();
        {
            let vocab = match self.vocabulary.read() {
                Ok(v) => v,
                Err(poisoned) => poisoned.into_inner(),
            };
            request.validate(&vocab)?;
        }
        let mut analyzer = self.analyzer.clone();
        let plan = plan_text(&request.text, &mut analyzer);
        let builder = QueryBuilder {
            fields: &self.fields,
        };
        let mut clauses =
            builder.filter_clauses(tenant, request.include_internal, &request.filters);
        let text_query = builder.text_query(&plan);
        let has_text_query = text_query.is_some();
        match text_query {
            Some(q) => clauses.push((Occur::Must, q)),
            None if plan.had_text => {
                // Only punctuation or symbols: nothing to look for.
                return Ok(SearchResults {
                    query_truncated: plan.truncated,
                    sort: request.sort,
                    took: started.elapsed(),
                    ..SearchResults::default()
                });
            }
            None => clauses.push((Occur::Must, Box::new(AllQuery))),
        }
        let query = BooleanQuery::new(clauses);
        let sort = match request.sort {
            SortOrder::Relevance if !has_text_query => SortOrder::UpdatedDesc,
            other => other,
        };

        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(request.limit).and_offset(request.offset);
        let (total, addresses): (usize, Vec<(Option<f32>, DocAddress)>) = match sort {
            SortOrder::Relevance => {
                let (total, docs) = searcher.search(&query, &(Count, top.order_by_score()))?;
                (total, docs.into_iter().map(|(s, a)| (Some(s), a)).collect())
            }
            SortOrder::CreatedDesc
            | SortOrder::CreatedAsc
            | SortOrder::UpdatedDesc
            | SortOrder::UpdatedAsc => {
                let (field, order) = match sort {
                    SortOrder::CreatedDesc => (F_CREATED_AT, Order::Desc),
                    SortOrder::CreatedAsc => (F_CREATED_AT, Order::Asc),
                    SortOrder::UpdatedAsc => (F_UPDATED_AT, Order::Asc),
                    _ => (F_UPDATED_AT, Order::Desc),
                };
                let (total, docs) = searcher.search(
                    &query,
                    &(Count, top.order_by_fast_field::<i64>(field, order)),
                )?;
                (total, docs.into_iter().map(|(_, a)| (None, a)).collect())
            }
        };

        let terms = plan.all_terms();
        let mut hits = Vec::with_capacity(addresses.len());
        for (score, address) in addresses {
            let doc: TantivyDocument = searcher.doc(address)?;
            // Defence in depth: never return another tenant's document.
            if self.i64_of(&doc, self.fields.tenant) != Some(tenant.0) {
                continue;
            }
            let visibility = Visibility::parse_stored(
                self.str_of(&doc, self.fields.visibility)
                    .unwrap_or_default(),
            );
            if !request.include_internal && visibility != Visibility::Public {
                continue;
            }
            let Some(kind) = self
                .str_of(&doc, self.fields.kind)
                .and_then(|k| k.parse::<DocKind>().ok())
            else {
                continue;
            };
            let title = self.str_of(&doc, self.fields.title).unwrap_or_default();
            let body = self.str_of(&doc, self.fields.body).unwrap_or_default();
            hits.push(SearchHit {
                kind,
                id: self.i64_of(&doc, self.fields.id).unwrap_or_default(),
                case_id: self.i64_of(&doc, self.fields.case_id),
                customer_id: self.i64_of(&doc, self.fields.customer_id),
                title: title.to_string(),
                title_html: highlight_all(title, &terms, &mut analyzer, TITLE_HTML_CHARS),
                snippet_html: best_snippet(body, &terms, &mut analyzer, request.snippet_chars),
                subtitle: self.str_of(&doc, self.fields.subtitle).map(String::from),
                visibility,
                status: self.str_of(&doc, self.fields.status).map(String::from),
                owner_id: self.i64_of(&doc, self.fields.owner_id),
                team_id: self.i64_of(&doc, self.fields.team_id),
                tier: self.str_of(&doc, self.fields.tier).map(String::from),
                tags: doc
                    .get_all(self.fields.tags)
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                channel: self.str_of(&doc, self.fields.channel).map(String::from),
                created_at: self
                    .i64_of(&doc, self.fields.created_at)
                    .unwrap_or_default(),
                updated_at: self
                    .i64_of(&doc, self.fields.updated_at)
                    .unwrap_or_default(),
                score,
            });
        }
        Ok(SearchResults {
            hits,
            total,
            query_truncated: plan.truncated,
            terms_used: plan.term_count(),
            sort,
            took: started.elapsed(),
        })
    }

    fn str_of<'d>(
        &self,
        doc: &'d TantivyDocument,
        field: tantivy::schema::Field,
    ) -> Option<&'d str> {
        doc.get_first(field).and_then(|v| v.as_str())
    }

    fn i64_of(&self, doc: &TantivyDocument, field: tantivy::schema::Field) -> Option<i64> {
        doc.get_first(field).and_then(|v| v.as_i64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_roundtrip() {
        assert_eq!(parse_payload(&payload(42)), Some((FORMAT_VERSION, 42)));
        assert_eq!(parse_payload("something else"), None);
    }

    #[test]
    fn only_tantivy_files_are_index_files() {
        assert!(is_index_file("meta.json"));
        assert!(is_index_file("0123456789abcdef0123456789abcdef.idx"));
        assert!(is_index_file("0123456789abcdef0123456789abcdef.12.del"));
        assert!(!is_index_file("concierge.db"));
        assert!(!is_index_file("notes.txt"));
    }
}
