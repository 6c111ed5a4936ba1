//! Search requests: user text, filters, sort and paging; their validation; and the translation
//! of user text into a tantivy query.
//!
//! User text is never parsed as tantivy query syntax. It is cut into *chunks* (script runs
//! between spaces and punctuation), each chunk is analyzed with the index analyzer, and:
//! - a chunk matches a document when at least half of its terms (rounded up) are in the title or
//!   the body — so `배송이` (bigrams `배송`, `송이`) finds text with `배송`, and `订单损坏`
//!   (`订单`, `单损`, `损坏`) finds `订单已损坏`;
//! - jieba words of three or more characters only raise the score;
//! - a query of one or two chunks needs all of them; longer queries may miss a quarter, and
//!   at least one (`refund broken box` needs 2 of 3, `lost refund broken box` 3 of 4);
//! - single CJK characters and common English function words (`the`, `is`, …) are optional.
//!
//! Operator characters, quotes, `field:value`, `^2`, `~` are just separators. At most
//! [`MAX_QUERY_TERMS`] distinct terms are used (from the first [`MAX_QUERY_CHARS`] characters);
//! anything beyond is dropped and [`crate::SearchResults::query_truncated`] is set.

use std::collections::{BTreeSet, HashSet};
use std::ops::Bound;
use std::str::FromStr;

use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery,
    TermSetQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TextAnalyzer;

use crate::analyzer::{Run, RunKind, is_cjk_term, segment};
use crate::doc::{DocKind, TenantId, Visibility};
use crate::error::{Result, SearchError, clip};
use crate::schema::Fields;

/// At most this many distinct terms of the user's text are used.
pub const MAX_QUERY_TERMS: usize = 64;
/// Only this many characters of the user's text are looked at.
pub const MAX_QUERY_CHARS: usize = 1024;
/// Largest page size.
pub const MAX_LIMIT: usize = 100;
/// Largest offset (deep paging is refused; narrow the search with filters or dates instead).
pub const MAX_OFFSET: usize = 10_000;
/// Longest keyword filter value (status, tier, channel, tag), in characters.
pub const MAX_KEYWORD_CHARS: usize = 64;
/// At most this many values in one multi-value filter (statuses, tags, …).
pub const MAX_FILTER_VALUES: usize = 32;

/// Boost of a title match over a body match.
const TITLE_BOOST: f32 = 2.0;

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Best match first (BM25). With empty text this falls back to [`SortOrder::UpdatedDesc`].
    #[default]
    Relevance,
    /// Newest first by creation time.
    CreatedDesc,
    /// Oldest first by creation time.
    CreatedAsc,
    /// Most recently updated first.
    UpdatedDesc,
    /// Least recently updated first.
    UpdatedAsc,
}

impl SortOrder {
    /// The accepted spellings, for error messages and API docs.
    pub const ALLOWED: &'static str = "relevance, newest (= created_desc), oldest (= created_asc), \
                                       created_desc, created_asc, updated_desc, updated_asc";

    /// The canonical API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Relevance => "relevance",
            SortOrder::CreatedDesc => "created_desc",
            SortOrder::CreatedAsc => "created_asc",
            SortOrder::UpdatedDesc => "updated_desc",
            SortOrder::UpdatedAsc => "updated_asc",
        }
    }
}

impl FromStr for SortOrder {
    type Err = SearchError;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "relevance" => SortOrder::Relevance,
            "newest" | "created_desc" => SortOrder::CreatedDesc,
            "oldest" | "created_asc" => SortOrder::CreatedAsc,
            "updated_desc" => SortOrder::UpdatedDesc,
            "updated_asc" => SortOrder::UpdatedAsc,
            _ => {
                return Err(SearchError::InvalidSort {
                    value: clip(s),
                    allowed: SortOrder::ALLOWED,
                });
            }
        })
    }
}

/// Which timestamp a date range applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateField {
    /// `created_at`.
    #[default]
    Created,
    /// `updated_at`.
    Updated,
}

impl FromStr for DateField {
    type Err = SearchError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "created" | "created_at" => Ok(DateField::Created),
            "updated" | "updated_at" => Ok(DateField::Updated),
            _ => Err(SearchError::InvalidFilter {
                field: "date_field",
                value: clip(s),
                reason: "expected `created` or `updated`".into(),
            }),
        }
    }
}

/// A time window in epoch milliseconds: `from` inclusive, `to` exclusive; either may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateRange {
    /// Which timestamp.
    pub field: DateField,
    /// Inclusive lower bound.
    pub from: Option<i64>,
    /// Exclusive upper bound.
    pub to: Option<i64>,
}

/// Filters; every filter that is set must hold. Empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// Document kinds (any of).
    pub kinds: Vec<DocKind>,
    /// Statuses (any of).
    pub statuses: Vec<String>,
    /// Owning agent.
    pub owner_id: Option<i64>,
    /// Owning team.
    pub team_id: Option<i64>,
    /// Customer tiers (any of).
    pub tiers: Vec<String>,
    /// Tags (all of).
    pub tags: Vec<String>,
    /// Channels (any of).
    pub channels: Vec<String>,
    /// Only documents about this customer (the portal sets it to the signed-in customer).
    pub customer_id: Option<i64>,
    /// Only documents of this case.
    pub case_id: Option<i64>,
    /// Time window.
    pub date: Option<DateRange>,
}

/// A search. Build with [`SearchRequest::new`] and the `with_*` methods, or fill the fields.
///
/// The tenant is not part of the request: it is a required argument of
/// [`crate::SearchIndex::search`], so no request can forget it or reach another tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// What the user typed. Empty: everything that passes the filters.
    pub text: String,
    /// Filters.
    pub filters: Filters,
    /// Include internal documents (notes, internal messages). `true` only for staff searches;
    /// customer-facing searches must leave it `false` (the default).
    pub include_internal: bool,
    /// Order.
    pub sort: SortOrder,
    /// Page size, 1..=[`MAX_LIMIT`].
    pub limit: usize,
    /// Hits to skip, 0..=[`MAX_OFFSET`].
    pub offset: usize,
    /// Maximum characters of a body snippet.
    pub snippet_chars: usize,
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest {
            text: String::new(),
            filters: Filters::default(),
            include_internal: false,
            sort: SortOrder::Relevance,
            limit: 20,
            offset: 0,
            snippet_chars: 160,
        }
    }
}

impl SearchRequest {
    /// A customer-safe request for `text` (internal documents excluded), 20 hits by relevance.
    pub fn new(text: impl Into<String>) -> Self {
        SearchRequest {
            text: text.into(),
            ..SearchRequest::default()
        }
    }

    /// Includes internal documents (staff search).
    #[must_use]
    pub fn staff(mut self) -> Self {
        self.include_internal = true;
        self
    }

    /// Sets the filters.
    #[must_use]
    pub fn with_filters(mut self, filters: Filters) -> Self {
        self.filters = filters;
        self
    }

    /// Sets the order.
    #[must_use]
    pub fn with_sort(mut self, sort: SortOrder) -> Self {
        self.sort = sort;
        self
    }

    /// Sets limit and offset.
    #[must_use]
    pub fn with_page(mut self, limit: usize, offset: usize) -> Self {
        self.limit = limit;
        self.offset = offset;
        self
    }

    /// Checks paging, filter shapes, and filter values against `vocab`.
    pub fn validate(&self, vocab: &Vocabulary) -> Result<()> {
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return Err(SearchError::InvalidPaging(format!(
                "limit must be between 1 and {MAX_LIMIT}, got {}",
                self.limit
            )));
        }
        if self.offset > MAX_OFFSET {
            return Err(SearchError::InvalidPaging(format!(
                "offset must be at most {MAX_OFFSET}, got {}; narrow the search with filters or \
                 a date range instead of paging deeper",
                self.offset
            )));
        }
        if self.snippet_chars == 0 || self.snippet_chars > 1000 {
            return Err(SearchError::InvalidPaging(format!(
                "snippet_chars must be between 1 and 1000, got {}",
                self.snippet_chars
            )));
        }
        let f = &self.filters;
        check_keywords("status", &f.statuses, vocab.statuses.as_ref())?;
        check_keywords("tier", &f.tiers, vocab.tiers.as_ref())?;
        check_keywords("channel", &f.channels, vocab.channels.as_ref())?;
        check_keywords("tag", &f.tags, None)?;
        if f.kinds.len() > DocKind::ALL.len() {
            return Err(SearchError::InvalidFilter {
                field: "kind",
                value: format!("{} values", f.kinds.len()),
                reason: "at most 4 kinds".into(),
            });
        }
        if let Some(DateRange {
            from: Some(from),
            to: Some(to),
            ..
        }) = f.date
            && from >= to
        {
            return Err(SearchError::InvalidFilter {
                field: "date",
                value: format!("{from}..{to}"),
                reason: "the start must be before the end".into(),
            });
        }
        Ok(())
    }
}

/// The allowed values of the keyword filters. `None` accepts any well-formed keyword.
///
/// The default knows the channels of origin; statuses and tiers are data (the workflow and
/// tier rules), so the application passes them in with [`crate::SearchIndex::set_vocabulary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    /// Allowed statuses.
    pub statuses: Option<BTreeSet<String>>,
    /// Allowed tiers.
    pub tiers: Option<BTreeSet<String>>,
    /// Allowed channels.
    pub channels: Option<BTreeSet<String>>,
}

impl Default for Vocabulary {
    fn default() -> Self {
        Vocabulary {
            statuses: None,
            tiers: None,
            channels: Some(
                [
                    "email", "web", "portal", "phone", "visit", "letter", "chat", "api",
                ]
                .into_iter()
                .map(String::from)
                .collect(),
            ),
        }
    }
}

fn check_keywords(
    field: &'static str,
    values: &[String],
    allowed: Option<&BTreeSet<String>>,
) -> Result<()> {
    if values.len() > MAX_FILTER_VALUES {
        return Err(SearchError::InvalidFilter {
            field,
            value: format!("{} values", values.len()),
            reason: format!("at most {MAX_FILTER_VALUES} values"),
        });
    }
    for v in values {
        let n = v.chars().count();
        if n == 0 || n > MAX_KEYWORD_CHARS {
            return Err(SearchError::InvalidFilter {
                field,
                value: clip(v),
                reason: format!("must be 1 to {MAX_KEYWORD_CHARS} characters"),
            });
        }
        if v.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(SearchError::InvalidFilter {
                field,
                value: clip(v),
                reason: "must not contain whitespace or control characters".into(),
            });
        }
        if let Some(allowed) = allowed
            && !allowed.contains(v)
        {
            let list: Vec<&str> = allowed.iter().map(String::as_str).collect();
            return Err(SearchError::InvalidFilter {
                field,
                value: clip(v),
                reason: format!("expected one of {}", list.join(", ")),
            });
        }
    }
    Ok(())
}

/// English function words that are optional in a query (they are still indexed).
const OPTIONAL_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "for", "from", "i", "in", "is", "it",
    "me", "my", "of", "on", "or", "our", "so", "that", "the", "this", "to", "was", "we", "were",
    "with", "you", "your",
];

/// One chunk of the user's text after analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Terms of which at least half (rounded up) must match.
    pub core: Vec<String>,
    /// Terms that only raise the score.
    pub boosters: Vec<String>,
    /// The chunk need not match at all.
    pub optional: bool,
}

/// The user's text, analyzed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TextPlan {
    pub chunks: Vec<Chunk>,
    /// Something was dropped (too many characters or terms).
    pub truncated: bool,
    /// Whether the text had anything at all (non-whitespace).
    pub had_text: bool,
}

impl TextPlan {
    /// Every distinct term, for highlighting.
    pub fn all_terms(&self) -> HashSet<String> {
        self.chunks
            .iter()
            .flat_map(|c| c.core.iter().chain(c.boosters.iter()).cloned())
            .collect()
    }

    pub fn term_count(&self) -> usize {
        self.all_terms().len()
    }
}

/// Analyzes the user's text into chunks (see the module documentation).
pub(crate) fn plan_text(text: &str, analyzer: &mut TextAnalyzer) -> TextPlan {
    let mut plan = TextPlan {
        had_text: !text.trim().is_empty(),
        ..TextPlan::default()
    };
    let text = match text.char_indices().nth(MAX_QUERY_CHARS) {
        Some((cut, _)) => {
            plan.truncated = true;
            &text[..cut]
        }
        None => text,
    };
    let mut seen_terms: HashSet<String> = HashSet::new();
    let mut seen_chunks: HashSet<Vec<String>> = HashSet::new();
    for run in segment(text) {
        let chunk_text = &text[run.start()..run.end()];
        let mut terms: Vec<String> = Vec::new();
        let mut stream = analyzer.token_stream(chunk_text);
        while let Some(token) = stream.next() {
            if !terms.contains(&token.text) {
                terms.push(token.text.clone());
            }
        }
        if terms.is_empty() || !seen_chunks.insert(terms.clone()) {
            continue;
        }
        let new_terms = terms.iter().filter(|t| !seen_terms.contains(*t)).count();
        if seen_terms.len() + new_terms > MAX_QUERY_TERMS {
            plan.truncated = true;
            break;
        }
        seen_terms.extend(terms.iter().cloned());
        let (mut boosters, mut core): (Vec<String>, Vec<String>) = terms
            .into_iter()
            .partition(|t| is_cjk_term(t) && t.chars().count() >= 3);
        if core.is_empty() {
            std::mem::swap(&mut core, &mut boosters);
        }
        let optional = is_optional_chunk(&run, &core);
        plan.chunks.push(Chunk {
            core,
            boosters,
            optional,
        });
    }
    plan
}

fn is_optional_chunk(run: &Run, core: &[String]) -> bool {
    match run.kind {
        RunKind::Cjk | RunKind::Hangul => run.chars.len() == 1,
        RunKind::Word => {
            let word: String = run
                .chars
                .iter()
                .flat_map(|(_, c)| c.to_lowercase())
                .collect();
            OPTIONAL_WORDS.contains(&word.as_str()) || core.is_empty()
        }
    }
}

/// Everything needed to build the tantivy query.
pub(crate) struct QueryBuilder<'a> {
    pub fields: &'a Fields,
}

impl QueryBuilder<'_> {
    fn term_query(&self, term: &str) -> Box<dyn Query> {
        let title = TermQuery::new(
            Term::from_field_text(self.fields.title, term),
            IndexRecordOption::WithFreqs,
        );
        let body = TermQuery::new(
            Term::from_field_text(self.fields.body, term),
            IndexRecordOption::WithFreqs,
        );
        Box::new(BooleanQuery::new(vec![
            (
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(title), TITLE_BOOST)),
            ),
            (Occur::Should, Box::new(body)),
        ]))
    }

    fn chunk_query(&self, chunk: &Chunk) -> Box<dyn Query> {
        let core: Vec<(Occur, Box<dyn Query>)> = chunk
            .core
            .iter()
            .map(|t| (Occur::Should, self.term_query(t)))
            .collect();
        let required = chunk.core.len().div_ceil(2).max(1);
        let core_query: Box<dyn Query> = if core.len() == 1 {
            core.into_iter()
                .next()
                .map(|(_, q)| q)
                .unwrap_or_else(|| Box::new(AllQuery))
        } else {
            Box::new(BooleanQuery::with_minimum_required_clauses(core, required))
        };
        if chunk.boosters.is_empty() {
            return core_query;
        }
        let mut clauses = vec![(Occur::Must, core_query)];
        for b in &chunk.boosters {
            clauses.push((Occur::Should, self.term_query(b)));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// The text part of the query; `None` when the plan has no chunk.
    pub fn text_query(&self, plan: &TextPlan) -> Option<Box<dyn Query>> {
        let required: Vec<&Chunk> = plan.chunks.iter().filter(|c| !c.optional).collect();
        let optional: Vec<&Chunk> = plan.chunks.iter().filter(|c| c.optional).collect();
        if required.is_empty() && optional.is_empty() {
            return None;
        }
        if required.is_empty() {
            let clauses = optional
                .iter()
                .map(|c| (Occur::Should, self.chunk_query(c)))
                .collect();
            return Some(Box::new(BooleanQuery::new(clauses)));
        }
        let n = required.len();
        let need = if n <= 2 { n } else { n - (n / 4).max(1) };
        let required_clauses: Vec<(Occur, Box<dyn Query>)> = required
            .iter()
            .map(|c| (Occur::Should, self.chunk_query(c)))
            .collect();
        let required_query: Box<dyn Query> = if need == n {
            Box::new(BooleanQuery::new(
                required_clauses
                    .into_iter()
                    .map(|(_, q)| (Occur::Must, q))
                    .collect(),
            ))
        } else {
            Box::new(BooleanQuery::with_minimum_required_clauses(
                required_clauses,
                need,
            ))
        };
        if optional.is_empty() {
            return Some(required_query);
        }
        let mut clauses = vec![(Occur::Must, required_query)];
        for c in optional {
            clauses.push((Occur::Should, self.chunk_query(c)));
        }
        Some(Box::new(BooleanQuery::new(clauses)))
    }

    /// Tenant, visibility and filter clauses (score 0: they only restrict).
    pub fn filter_clauses(
        &self,
        tenant: TenantId,
        include_internal: bool,
        filters: &Filters,
    ) -> Vec<(Occur, Box<dyn Query>)> {
        let f = self.fields;
        let mut out: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut must = |q: Box<dyn Query>| {
            out.push((Occur::Must, Box::new(ConstScoreQuery::new(q, 0.0))));
        };
        must(term_i64(f.tenant, tenant.0));
        if !include_internal {
            must(term_text(f.visibility, Visibility::Public.as_str()));
        }
        if !filters.kinds.is_empty() {
            must(any_text(
                f.kind,
                filters.kinds.iter().map(|k| k.as_str().to_string()),
            ));
        }
        if !filters.statuses.is_empty() {
            must(any_text(f.status, filters.statuses.iter().cloned()));
        }
        if !filters.tiers.is_empty() {
            must(any_text(f.tier, filters.tiers.iter().cloned()));
        }
        if !filters.channels.is_empty() {
            must(any_text(f.channel, filters.channels.iter().cloned()));
        }
        for tag in &filters.tags {
            must(term_text(f.tags, tag));
        }
        if let Some(v) = filters.owner_id {
            must(term_i64(f.owner_id, v));
        }
        if let Some(v) = filters.team_id {
            must(term_i64(f.team_id, v));
        }
        if let Some(v) = filters.customer_id {
            must(term_i64(f.customer_id, v));
        }
        if let Some(v) = filters.case_id {
            must(term_i64(f.case_id, v));
        }
        if let Some(range) = filters.date {
            let field = match range.field {
                DateField::Created => f.created_at,
                DateField::Updated => f.updated_at,
            };
            let lower = match range.from {
                Some(v) => Bound::Included(Term::from_field_i64(field, v)),
                None => Bound::Unbounded,
            };
            let upper = match range.to {
                Some(v) => Bound::Excluded(Term::from_field_i64(field, v)),
                None => Bound::Unbounded,
            };
            if range.from.is_some() || range.to.is_some() {
                must(Box::new(RangeQuery::new(lower, upper)));
            }
        }
        if !include_internal {
            // Belt and braces: notes are indexed as internal anyway.
            out.push((Occur::MustNot, term_text(f.kind, DocKind::Note.as_str())));
        }
        out
    }
}

fn term_i64(field: tantivy::schema::Field, v: i64) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_i64(field, v),
        IndexRecordOption::Basic,
    ))
}

fn term_text(field: tantivy::schema::Field, v: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, v),
        IndexRecordOption::Basic,
    ))
}

fn any_text(field: tantivy::schema::Field, values: impl Iterator<Item = String>) -> Box<dyn Query> {
    Box::new(TermSetQuery::new(
        values.map(|v| Term::from_field_text(field, &v)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzer::build_analyzer;

    fn plan(text: &str) -> TextPlan {
        plan_text(text, &mut build_analyzer())
    }

    #[test]
    fn hostile_syntax_is_just_words() {
        let p = plan("\"a AND OR (( field:x ^2 ~");
        let terms: BTreeSet<String> = p.all_terms().into_iter().collect();
        let want: BTreeSet<String> = ["a", "and", "or", "field", "x", "2"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(terms, want);
        assert!(!p.truncated);
    }

    #[test]
    fn ten_thousand_terms_are_capped() {
        let text: String = (0..10_000).map(|i| format!("w{i} ")).collect();
        let p = plan(&text);
        assert!(p.truncated);
        assert!(p.term_count() <= MAX_QUERY_TERMS);
        let same: String = "a ".repeat(10_000);
        let p = plan(&same);
        assert_eq!(p.term_count(), 1);
    }

    #[test]
    fn korean_particle_chunk_needs_half() {
        let p = plan("배송이");
        assert_eq!(p.chunks.len(), 1);
        assert_eq!(p.chunks[0].core, vec!["배송", "송이"]);
        assert!(!p.chunks[0].optional);
    }

    #[test]
    fn sort_and_kind_parse_or_explain() {
        assert_eq!(
            "newest".parse::<SortOrder>().ok(),
            Some(SortOrder::CreatedDesc)
        );
        let err = "score desc; drop".parse::<SortOrder>().unwrap_err();
        assert!(err.to_string().contains("relevance"), "{err}");
        assert!("ticket".parse::<DocKind>().is_err());
    }
}
