//! The threading decision: which case an incoming message belongs to.
//!
//! Order (issue 5): an HMAC-verified case token (our Message-ID in In-Reply-To/References, or
//! our reply address in To/Cc/Delivered-To); then a `[#1234]` subject token, but only when that
//! case belongs to the sending customer (anyone can type a subject); then In-Reply-To and
//! References against every message id stored for any case (inbound and outbound); then — for
//! the same customer and an open case only — the normalised subject; otherwise a new case. A
//! match on a closed case yields a new follow-up case linked to it.
//!
//! Storage is reached through the [`CaseLookup`] trait, whose methods are async so the store
//! can answer them with database queries.

use std::future::Future;

use crate::parse::ParsedMail;
use crate::subject::{extract_subject_token, has_reply_prefix, subject_match_key};
use crate::token::{TokenKey, TokenSource};
use crate::{CaseId, CustomerId};

/// What the store knows about a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseState {
    /// The customer the case belongs to.
    pub customer_id: Option<CustomerId>,
    /// True when the case is closed (a reply then opens a linked follow-up).
    pub closed: bool,
}

/// Lookups the threading decision needs; implemented by the store (and by fakes in tests).
pub trait CaseLookup {
    /// Error of the underlying store.
    type Error;

    /// The state of a case, `None` when it does not exist (deleted, or another tenant's).
    fn case_state(
        &self,
        case_id: CaseId,
    ) -> impl Future<Output = Result<Option<CaseState>, Self::Error>> + Send;

    /// The case holding a message with any of these Message-IDs (inbound or outbound).
    /// When several match, the store should prefer the newest message.
    fn case_by_message_ids(
        &self,
        message_ids: &[String],
    ) -> impl Future<Output = Result<Option<CaseId>, Self::Error>> + Send;

    /// The open case of this customer whose normalised subject key equals `subject_key`
    /// (see [`subject_match_key`]); the most recently active one when several do.
    fn open_case_by_subject(
        &self,
        customer_id: CustomerId,
        subject_key: &str,
    ) -> impl Future<Output = Result<Option<CaseId>, Self::Error>> + Send;
}

/// How a message was matched to its case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadVia {
    /// An HMAC-verified token.
    VerifiedToken(TokenSource),
    /// A `[#1234]` subject token of a case of the same customer.
    SubjectToken,
    /// In-Reply-To / References matched a stored message.
    References,
    /// The normalised subject matched an open case of the same customer.
    Subject,
}

/// The threading decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadDecision {
    /// Append the message to this open case.
    Existing {
        /// The case.
        case_id: CaseId,
        /// How it was found.
        via: ThreadVia,
    },
    /// The matched case is closed: open a new case linked to it.
    FollowUp {
        /// The closed case the new one follows up.
        closed_case_id: CaseId,
        /// How it was found.
        via: ThreadVia,
    },
    /// Open a new case.
    NewCase,
}

fn decided(case_id: CaseId, state: CaseState, via: ThreadVia) -> ThreadDecision {
    if state.closed {
        ThreadDecision::FollowUp {
            closed_case_id: case_id,
            via,
        }
    } else {
        ThreadDecision::Existing { case_id, via }
    }
}

/// The Message-IDs a mail answers, as threading looks them up: In-Reply-To first, then
/// References newest first, each once, never the mail's own.
pub fn reference_ids(mail: &ParsedMail) -> Vec<String> {
    let mut ids: Vec<String> = Vec::with_capacity(mail.in_reply_to.len() + mail.references.len());
    for id in mail.in_reply_to.iter().chain(mail.references.iter().rev()) {
        if !ids.contains(id) && mail.message_id.as_ref() != Some(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// Decides which case `mail` belongs to.
///
/// `customer` is the customer the sender resolved to (None when unknown or when the sender is
/// staff); it gates the weak subject-based rules.
pub async fn decide_thread<L: CaseLookup>(
    mail: &ParsedMail,
    key: &TokenKey,
    customer: Option<CustomerId>,
    lookup: &L,
) -> Result<ThreadDecision, L::Error> {
    // 1. HMAC-verified token.
    if let Some(token) = key.find_verified(mail)
        && let Some(state) = lookup.case_state(token.case_id).await?
    {
        return Ok(decided(
            token.case_id,
            state,
            ThreadVia::VerifiedToken(token.source),
        ));
    }

    // 2. Subject token, only for a case of the same customer.
    if let (Some(customer), Some(subject)) = (customer, mail.subject.as_deref())
        && let Some(case_id) = extract_subject_token(subject)
        && let Some(state) = lookup.case_state(case_id).await?
        && state.customer_id == Some(customer)
    {
        return Ok(decided(case_id, state, ThreadVia::SubjectToken));
    }

    // 3. In-Reply-To / References against every stored message.
    let ids = reference_ids(mail);
    if !ids.is_empty()
        && let Some(case_id) = lookup.case_by_message_ids(&ids).await?
        && let Some(state) = lookup.case_state(case_id).await?
    {
        return Ok(decided(case_id, state, ThreadVia::References));
    }

    // 4. A mail that says it is a reply or forward: same customer, open case, same
    //    normalised subject. ("Where is my order?" twice, without "Re:", is two questions.)
    if let (Some(customer), Some(subject)) = (customer, mail.subject.as_deref())
        && has_reply_prefix(subject)
    {
        let key = subject_match_key(subject);
        if !key.is_empty()
            && let Some(case_id) = lookup.open_case_by_subject(customer, &key).await?
            && let Some(state) = lookup.case_state(case_id).await?
            && !state.closed
            && state.customer_id == Some(customer)
        {
            return Ok(ThreadDecision::Existing {
                case_id,
                via: ThreadVia::Subject,
            });
        }
    }

    Ok(ThreadDecision::NewCase)
}
