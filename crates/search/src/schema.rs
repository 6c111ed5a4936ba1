//! The tantivy schema and the conversion of a [`SearchDoc`] into a tantivy document.
//!
//! Changing anything here (or in the analyzer) changes what is on disk: bump
//! [`FORMAT_VERSION`] so existing indexes are reported as needing `concierge search reindex`.

use tantivy::TantivyDocument;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};

use crate::analyzer::ANALYZER_NAME;
use crate::doc::{DocKind, SearchDoc};

/// Version of the on-disk layout (schema + analyzer). Stored in every commit's payload.
pub const FORMAT_VERSION: u32 = 1;

/// Only this many bytes of a body are indexed and stored (cut at a character boundary).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Only this many bytes of a title are indexed and stored.
pub const MAX_TITLE_BYTES: usize = 2 * 1024;

/// Handles to every field of the schema.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    /// `{tenant}:{kind}:{id}`: the unique key used for delete-then-add.
    pub key: Field,
    pub tenant: Field,
    pub kind: Field,
    pub id: Field,
    pub case_id: Field,
    pub customer_id: Field,
    pub title: Field,
    pub body: Field,
    pub subtitle: Field,
    pub visibility: Field,
    pub status: Field,
    pub owner_id: Field,
    pub team_id: Field,
    pub tier: Field,
    pub tags: Field,
    pub channel: Field,
    pub created_at: Field,
    pub updated_at: Field,
}

pub(crate) const F_CREATED_AT: &str = "created_at";
pub(crate) const F_UPDATED_AT: &str = "updated_at";

/// Builds the schema and the field handles.
pub(crate) fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // Full-text fields: frequencies for BM25, no positions (no phrase queries are issued), which
    // keeps the index smaller and indexing faster.
    let text = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER_NAME)
                .set_index_option(IndexRecordOption::WithFreqs),
        )
        .set_stored();
    let id_opts = INDEXED | STORED | FAST;
    let fields = Fields {
        key: b.add_text_field("key", STRING),
        tenant: b.add_i64_field("tenant", INDEXED | STORED | FAST),
        kind: b.add_text_field("kind", STRING | STORED),
        id: b.add_i64_field("id", id_opts.clone()),
        case_id: b.add_i64_field("case_id", id_opts.clone()),
        customer_id: b.add_i64_field("customer_id", id_opts.clone()),
        title: b.add_text_field("title", text.clone()),
        body: b.add_text_field("body", text),
        subtitle: b.add_text_field("subtitle", STORED),
        visibility: b.add_text_field("visibility", STRING | STORED),
        status: b.add_text_field("status", STRING | STORED),
        owner_id: b.add_i64_field("owner_id", id_opts.clone()),
        team_id: b.add_i64_field("team_id", id_opts),
        tier: b.add_text_field("tier", STRING | STORED),
        tags: b.add_text_field("tags", STRING | STORED),
        channel: b.add_text_field("channel", STRING | STORED),
        created_at: b.add_i64_field(F_CREATED_AT, INDEXED | STORED | FAST),
        updated_at: b.add_i64_field(F_UPDATED_AT, INDEXED | STORED | FAST),
    };
    (b.build(), fields)
}

/// The unique key of a document.
pub(crate) fn doc_key(tenant: i64, kind: DocKind, id: i64) -> String {
    format!("{tenant}:{}:{id}", kind.as_str())
}

/// Cuts `s` to at most `max` bytes at a character boundary.
pub(crate) fn clip_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Fields {
    /// Converts a document. Notes are forced internal; over-long text is cut.
    pub(crate) fn to_tantivy(&self, doc: &SearchDoc) -> TantivyDocument {
        let mut d = TantivyDocument::new();
        d.add_text(self.key, doc_key(doc.tenant.0, doc.kind, doc.id));
        d.add_i64(self.tenant, doc.tenant.0);
        d.add_text(self.kind, doc.kind.as_str());
        d.add_i64(self.id, doc.id);
        if let Some(v) = doc.case_id {
            d.add_i64(self.case_id, v);
        }
        if let Some(v) = doc.customer_id {
            d.add_i64(self.customer_id, v);
        }
        d.add_text(self.title, clip_bytes(&doc.title, MAX_TITLE_BYTES));
        d.add_text(self.body, clip_bytes(&doc.body, MAX_BODY_BYTES));
        if let Some(v) = &doc.subtitle {
            d.add_text(self.subtitle, clip_bytes(v, MAX_TITLE_BYTES));
        }
        d.add_text(self.visibility, doc.effective_visibility().as_str());
        if let Some(v) = &doc.status {
            d.add_text(self.status, v);
        }
        if let Some(v) = doc.owner_id {
            d.add_i64(self.owner_id, v);
        }
        if let Some(v) = doc.team_id {
            d.add_i64(self.team_id, v);
        }
        if let Some(v) = &doc.tier {
            d.add_text(self.tier, v);
        }
        for tag in &doc.tags {
            d.add_text(self.tags, tag);
        }
        if let Some(v) = &doc.channel {
            d.add_text(self.channel, v);
        }
        d.add_i64(self.created_at, doc.created_at);
        d.add_i64(self.updated_at, doc.updated_at);
        d
    }
}
