//! The documents the index holds: one per case, message, internal note and customer.
//!
//! Case-level facets (status, owner, team, tier, tags, channel) are copied onto the case's
//! messages and notes, so a filter such as `status=open` also applies to a hit in a message.
//! When a case's facets change, the caller re-upserts the case and its messages and notes.

use std::fmt;
use std::str::FromStr;

use crate::error::{SearchError, clip};

/// The tenant a document belongs to. Every search is confined to one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(pub i64);

impl From<i64> for TenantId {
    fn from(id: i64) -> Self {
        TenantId(id)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKind {
    /// A case (ticket): title is the subject, body the first request or description.
    Case,
    /// A customer message or a public reply on a case.
    Message,
    /// An internal note on a case: always internal, never shown to a customer.
    Note,
    /// A customer profile: title is the name, body the contact points and notes.
    Customer,
}

impl DocKind {
    /// All kinds, in API order.
    pub const ALL: [DocKind; 4] = [
        DocKind::Case,
        DocKind::Message,
        DocKind::Note,
        DocKind::Customer,
    ];

    /// The API / index spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Case => "case",
            DocKind::Message => "message",
            DocKind::Note => "note",
            DocKind::Customer => "customer",
        }
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocKind {
    type Err = SearchError;

    fn from_str(s: &str) -> Result<Self, SearchError> {
        DocKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| SearchError::InvalidFilter {
                field: "kind",
                value: clip(s),
                reason: "expected one of case, message, note, customer".into(),
            })
    }
}

/// Who may see a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Visible to the customer it concerns (their cases and public messages).
    Public,
    /// Staff only (internal notes; anything else the caller marks internal).
    Internal,
}

impl Visibility {
    /// The index spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
        }
    }

    pub(crate) fn parse_stored(s: &str) -> Visibility {
        if s == "public" {
            Visibility::Public
        } else {
            Visibility::Internal
        }
    }
}

/// One document to index. Build it with [`SearchDoc::new`] and fill the fields that apply.
///
/// Ids are the database ids (BIGINT). `created_at` / `updated_at` are epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchDoc {
    /// Owning tenant.
    pub tenant: TenantId,
    /// What the document is.
    pub kind: DocKind,
    /// The id of the case, message, note or customer (unique within tenant and kind).
    pub id: i64,
    /// The case this document belongs to (the case itself for a case document).
    pub case_id: Option<i64>,
    /// The customer this document concerns (the customer itself for a customer document).
    pub customer_id: Option<i64>,
    /// Subject of a case (also copied onto its messages), or the customer's name.
    pub title: String,
    /// Full text. Only the first [`crate::MAX_BODY_BYTES`] bytes are indexed and stored.
    pub body: String,
    /// A short display line for result lists (customer name, case reference, sender…). Stored,
    /// not searched.
    pub subtitle: Option<String>,
    /// Public or internal. Notes are always stored as internal, whatever is given here.
    pub visibility: Visibility,
    /// Case status (`open`, `pending_customer`, …) or customer state.
    pub status: Option<String>,
    /// Owning agent.
    pub owner_id: Option<i64>,
    /// Owning team.
    pub team_id: Option<i64>,
    /// Customer tier (`gold`, …).
    pub tier: Option<String>,
    /// Tags (matched exactly by the tag filter).
    pub tags: Vec<String>,
    /// Channel of origin (`email`, `web`, …).
    pub channel: Option<String>,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Last update time, epoch milliseconds.
    pub updated_at: i64,
}

impl SearchDoc {
    /// A document with the required fields; the rest empty. Visibility defaults to public,
    /// except for notes (always internal).
    pub fn new(
        tenant: impl Into<TenantId>,
        kind: DocKind,
        id: i64,
        title: impl Into<String>,
        body: impl Into<String>,
        created_at: i64,
    ) -> Self {
        SearchDoc {
            tenant: tenant.into(),
            kind,
            id,
            case_id: if kind == DocKind::Case {
                Some(id)
            } else {
                None
            },
            customer_id: if kind == DocKind::Customer {
                Some(id)
            } else {
                None
            },
            title: title.into(),
            body: body.into(),
            subtitle: None,
            visibility: if kind == DocKind::Note {
                Visibility::Internal
            } else {
                Visibility::Public
            },
            status: None,
            owner_id: None,
            team_id: None,
            tier: None,
            tags: Vec::new(),
            channel: None,
            created_at,
            updated_at: created_at,
        }
    }

    /// The visibility that is actually indexed: notes are internal whatever the caller said.
    pub fn effective_visibility(&self) -> Visibility {
        if self.kind == DocKind::Note {
            Visibility::Internal
        } else {
            self.visibility
        }
    }
}
