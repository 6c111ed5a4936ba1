//! Concierge's mail adapter: the pure, storage-independent half of email handling.
//!
//! Everything here works on bytes and values; nothing touches a database. The ingest pipeline
//! (pipe command, IMAP poller, webhook) stores the raw message first and then calls into this
//! crate:
//!
//! 1. [`parse()`] turns raw RFC 5322 bytes into a [`ParsedMail`] (addresses, threading headers,
//!    decoded text, original and sanitised HTML, attachments with sanitised names, loop-relevant
//!    headers, a SHA-256 of the raw bytes, and how charsets were decoded). It never panics and is
//!    bounded in size, parts and depth; hopeless input yields a [`ParseError`] to quarantine.
//! 2. [`classify()`] decides whether a message is an auto-reply, bulk/list mail, a bounce or our
//!    own mail: such mail is recorded but never answered automatically.
//! 3. [`normalize_subject`] / [`extract_subject_token`] prepare subject-based threading.
//! 4. [`TokenKey`] creates and verifies HMAC-authenticated case tokens in our Message-IDs and
//!    plus-addressed reply addresses.
//! 5. [`decide_thread`] decides which case a message belongs to, through a [`CaseLookup`] that
//!    the storage layer implements.
//! 6. [`fold_reply`] splits a plain-text body into the visible reply and folded quotes and
//!    signatures.
//! 7. [`delivery_report`] reads a bounce (RFC 3464): the Message-IDs it reports on and why.
//! 8. [`build_message`] builds outbound replies with lettre; [`SmtpSender`] and
//!    [`OutboxSender`] deliver them behind the [`MailSender`] trait.
//! 9. [`imap::ImapMailbox`] reads a mailbox over IMAP (TLS, STARTTLS) for the poller: UIDs
//!    past a checkpoint, raw bytes without `\Seen`, then mark or move once committed.
//! 10. [`ExtraRoots`]: the private CAs IMAP and SMTP trust besides the webpki roots.

pub mod charset;
pub mod classify;
pub mod dsn;
pub mod imap;
pub mod outbound;
pub mod parse;
pub mod reply;
pub mod sanitize;
pub mod subject;
pub mod testing;
pub mod threading;
pub mod tls;
pub mod token;

pub use charset::{CharsetReport, PartCharset};
pub use classify::{Classification, LoopReason, MailClass, classify};
pub use dsn::{DeliveryReport, ReportedRecipient, delivery_report};
pub use imap::{ImapConfig, ImapError, ImapMailbox};
pub use outbound::{
    BuildError, MailSender, OutboundAttachment, OutboundMail, OutboxSender, SendError, SendReceipt,
    SmtpConfig, SmtpSender, TlsMode, build_message, chain_references,
};
pub use parse::{
    Attachment, AttachmentSkip, LimitHit, LoopHeaders, MailAddress, ParseError, ParseLimits,
    ParsedMail, parse,
};
pub use reply::{FoldedReply, Fragment, fold_reply};
pub use sanitize::{is_dangerous_filename, sanitize_filename, sanitize_html};
pub use subject::{extract_subject_token, has_reply_prefix, normalize_subject, subject_match_key};
pub use threading::{
    CaseLookup, CaseState, ThreadDecision, ThreadVia, decide_thread, reference_ids,
};
pub use tls::ExtraRoots;
pub use token::{TokenError, TokenKey, TokenSource, VerifiedToken};

/// Identifier of a case (ticket) as stored by the database (BIGINT).
pub type CaseId = i64;

/// Identifier of a customer as stored by the database (BIGINT).
pub type CustomerId = i64;
