//! Email in and out (issue 5, principle P5: answer on the channel they used).
//!
//! Inbound, [`App::ingest_raw`] is the one pipeline behind `concierge mail ingest`, the IMAP
//! poller ([`crate::mailboxes`]) and `POST /api/v1/mail/inbound`: the raw bytes are committed first; then the mail is parsed
//! (hopeless input is quarantined, raw kept), deduplicated (same raw bytes; or same
//! Message-ID and content — a reused Message-ID with other content is a new message; no
//! Message-ID: content alone), classified (auto-replies, bulk, bounces and our own mail are
//! recorded, never answered), its sender resolved to a customer (found or created) or a staff
//! member, threaded with [`concierge_mail::decide_thread`] and stored through the case use
//! cases, so targets, reopening and follow-ups behave as for any other message.
//!
//! Exactly once: the message carries its inbound mail id ([`MailLink`]) and the store links
//! the two in the same transaction as the message; a mail already linked refuses the write.
//! A retry after a crash anywhere finds the link (or finds none and stores the message).
//! Bounces (RFC 3464 reports, [`concierge_mail::delivery_report`]) that name one of our
//! messages mark it `failed` with the report's reason and show on its case as an internal
//! `bounce` event. A new case opened by human mail gets one automatic acknowledgement when
//! it is on ([`AckSettings`] of the tenant, or the switch of the IMAP mailbox it came to:
//! [`crate::mailboxes`]), at most one per sender address per window.
//!
//! Outbound, [`App::deliver_outbound_mail`] (the `mail.deliver` job) sends public email
//! replies that were committed as `queued`: with our HMAC Message-ID (kept across retries),
//! In-Reply-To/References chained from the case, a Reply-To carrying the case token, through
//! the outbox folder or SMTP, recording `sent`, `deferred` (retried with backoff) or
//! `failed` with the reason on the message.

use crate::App;
use crate::cases::{CaseError, CustomerRef, Landed, MailLink, NewCaseInput, ReplyInput};
use concierge_domain::case::{self, BODY_MAX_CHARS, SUBJECT_MAX, Workflow};
use concierge_domain::{CaseId, CustomerId, EmailAddress, TenantId};
pub use concierge_mail::parse::sha256_hex;
use concierge_mail::{
    CaseLookup, CaseState, MailAddress, MailClass, MailSender, OutboundAttachment, OutboundMail,
    OutboxSender, ParseLimits, ParsedMail, SendError, SmtpConfig, SmtpSender, ThreadDecision,
    ThreadVia, TlsMode, TokenKey, build_message, chain_references, classify, decide_thread,
    delivery_report, normalize_subject, subject_match_key,
};
use concierge_store::StoreError;
use concierge_store::cases::{
    CaseWithTargets, CaseWrite, InboundRecord, NewAttachment, NewEvent, NewMessage,
};
use concierge_store::mail::{
    InboundMailRow, InboundResult, MailCaseRow, MailContextRequest, OutboundRow,
};
use serde::Serialize;
use std::time::Duration;

/// Largest raw message accepted (bigger ones are kept in quarantine).
pub const MAX_RAW_BYTES: usize = 50 * 1024 * 1024;
/// Delivery attempts before a reply is marked failed.
pub const MAX_DELIVERY_ATTEMPTS: i64 = 8;
/// How long one delivery attempt may hold a message.
const DELIVERY_LEASE_MS: i64 = 5 * 60 * 1000;
/// Prefix of the Message-ID recorded for inbound mail that had none (never sent out).
const NO_ID_PREFIX: &str = "no-message-id.";

/// Why a mail could not be taken in now; the sender should retry later (exit 75, HTTP 503).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The database is unavailable (or the mail's storage failed transiently).
    #[error("the mail could not be stored; retry later: {0}")]
    Unavailable(String),
    /// Another worker is processing the same delivery right now.
    #[error("the same mail is being processed by another worker; retry in a few minutes")]
    Busy,
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        IngestError::Unavailable(e.to_string())
    }
}

/// What became of an inbound mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestState {
    /// Stored as a message on a case.
    Processed,
    /// The same mail was taken in before (same raw bytes, or same Message-ID and content).
    Duplicate,
    /// Recorded (raw kept) but not stored as a message: automatic mail that matches no case,
    /// our own mail, staff mail that matches no open case.
    Ignored,
    /// Unusable input (unparseable, no sender, too large): raw kept for inspection.
    Quarantined,
}

impl IngestState {
    pub fn as_str(self) -> &'static str {
        match self {
            IngestState::Processed => "processed",
            IngestState::Duplicate => "duplicate",
            IngestState::Ignored => "ignored",
            IngestState::Quarantined => "quarantined",
        }
    }

    fn parse(s: &str) -> Option<IngestState> {
        Some(match s {
            "processed" => IngestState::Processed,
            "duplicate" => IngestState::Duplicate,
            "ignored" => IngestState::Ignored,
            "quarantined" => IngestState::Quarantined,
            _ => return None,
        })
    }
}

/// The result of [`App::ingest_raw`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    /// The inbound mail row holding the raw bytes.
    pub inbound_id: i64,
    pub state: IngestState,
    /// The case the message landed on (for duplicates: the original's).
    pub case_id: Option<i64>,
    pub case_number: Option<i64>,
    /// The stored message.
    pub message_id: Option<i64>,
    /// For duplicates: the inbound mail first taken in.
    pub duplicate_of: Option<i64>,
    /// Why it was ignored or quarantined.
    pub reason: Option<String>,
    /// Whether an automatic answer (acknowledgement) may be sent: only for human mail.
    pub may_auto_reply: bool,
}

/// The tenant setting that holds [`AckSettings`].
pub const ACK_SETTING: &str = "mail.acknowledgement";
/// The tenant setting that holds the secret key of case tokens.
const TOKEN_KEY_SETTING: &str = "mail.token_key";
/// The settings a mail needs, read ahead in one statement with its mailbox's switch.
const MAIL_SETTINGS: [&str; 3] = ["workflow", TOKEN_KEY_SETTING, ACK_SETTING];

/// The key under which the acknowledgement switch of mailbox `name` is read ahead (not a
/// tenant setting: the NUL keeps it apart from every setting's key).
fn mailbox_ack_key(name: &str) -> String {
    format!("\u{0}mailbox.acknowledge\u{0}{name}")
}

/// A mailbox's acknowledgement switch as kept under [`mailbox_ack_key`]: `""` when the
/// mailbox follows the tenant's setting.
fn switch_text(switch: Option<bool>) -> &'static str {
    match switch {
        Some(true) => "true",
        Some(false) => "false",
        None => "",
    }
}

/// The switch [`switch_text`] wrote.
fn switch_of(text: Option<&str>) -> Option<bool> {
    match text {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

/// The body of the acknowledgement when the tenant wrote none.
pub const DEFAULT_ACK_BODY: &str = "Hello {{customer.first_name | \"there\"}},\n\n\
Thank you for your message. We have opened a case for it and will answer as soon as we can. \
The case number is in the subject; please keep it there when you write to us again.\n\n\
This is an automatic acknowledgement.";

/// The automatic acknowledgement of a case opened by email: on or off, its text (a
/// personalisation template; the subject is the case's, with its `[#number]` token), and the
/// loop guard — at most one automatic answer per sender address within `window_minutes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AckSettings {
    pub enabled: bool,
    pub body: String,
    pub window_minutes: i64,
}

impl Default for AckSettings {
    fn default() -> Self {
        AckSettings {
            enabled: false,
            body: DEFAULT_ACK_BODY.to_string(),
            window_minutes: 60,
        }
    }
}

/// The display name and address of a `Name <addr>` string.
pub fn parse_mailbox(s: &str) -> Option<MailAddress> {
    let s = s.trim();
    let (name, addr) = match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => {
            let name = s[..a].trim().trim_matches('"').trim();
            (
                (!name.is_empty()).then(|| name.to_string()),
                s[a + 1..b].trim(),
            )
        }
        _ => (None, s),
    };
    let (local, domain) = addr.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || addr.contains(char::is_whitespace) {
        return None;
    }
    Some(MailAddress::new(addr, name))
}

/// What the threading decision sees of the store: cases by number (the mail crate's case id
/// is the case number within the tenant, as in `[#123]` subjects and our tokens).
struct Lookup<'a> {
    app: &'a App,
    tenant: TenantId,
    workflow: &'a Workflow,
    /// Cases read by number for this mail (the decision and the write read the same one).
    seen: std::sync::Mutex<std::collections::HashMap<i64, Option<MailCaseRow>>>,
    /// The case found by In-Reply-To/References, as a reply's write reads it first (one
    /// read for both).
    found: std::sync::Mutex<Option<CaseWithTargets>>,
    /// The case of the mail's Message-IDs as read with the mail's context (SQLite), for
    /// those ids.
    prefetched: std::sync::Mutex<Option<(Vec<String>, Option<CaseWithTargets>)>>,
}

impl Lookup<'_> {
    /// A case by number, read once per mail.
    async fn case_by_number(&self, number: i64) -> Result<Option<MailCaseRow>, StoreError> {
        if let Some(c) = self.seen.lock().ok().and_then(|m| m.get(&number).cloned()) {
            return Ok(c);
        }
        let c = self
            .app
            .store
            .mail_case_by_number(self.tenant, number)
            .await?;
        if let Ok(mut m) = self.seen.lock() {
            m.insert(number, c.clone());
        }
        Ok(c)
    }

    /// The case found by Message-IDs, with its targets and tier (the reply's write uses it
    /// when it is the case written to).
    fn take_found(&self) -> Option<CaseWithTargets> {
        self.found.lock().ok().and_then(|mut f| f.take())
    }
}

impl CaseLookup for Lookup<'_> {
    type Error = StoreError;

    async fn case_state(&self, number: i64) -> Result<Option<CaseState>, StoreError> {
        Ok(self.case_by_number(number).await?.map(|c| CaseState {
            customer_id: Some(c.customer_id),
            closed: self.workflow.is_final(&c.status),
        }))
    }

    async fn case_by_message_ids(&self, ids: &[String]) -> Result<Option<i64>, StoreError> {
        // The case comes with its number: the decision reads it next, and the write after
        // (with its targets and tier, as a reply's write reads it).
        let prefetched = self
            .prefetched
            .lock()
            .ok()
            .and_then(|mut p| p.take())
            .filter(|(read_for, _)| read_for.as_slice() == ids);
        let found = match prefetched {
            Some((_, found)) => found,
            None => {
                self.app
                    .store
                    .case_with_targets_by_mail_ids(self.tenant, ids)
                    .await?
            }
        };
        let Some(found) = found else {
            return Ok(None);
        };
        let c = &found.0;
        let number = c.number;
        let row = MailCaseRow {
            id: c.id,
            number,
            customer_id: c.customer_id,
            subject: c.subject.clone(),
            status: c.status.clone(),
            merged_into: c.merged_into,
        };
        if let Ok(mut m) = self.seen.lock() {
            m.insert(number, Some(row));
        }
        if let Ok(mut f) = self.found.lock() {
            *f = Some(found);
        }
        Ok(Some(number))
    }

    async fn open_case_by_subject(
        &self,
        customer: i64,
        key: &str,
    ) -> Result<Option<i64>, StoreError> {
        let cases = self
            .app
            .store
            .unclosed_cases_of_customer(self.tenant, customer, 200)
            .await?;
        Ok(cases
            .into_iter()
            .find(|c| !self.workflow.is_final(&c.status) && subject_match_key(&c.subject) == key)
            .map(|c| c.number))
    }
}

/// A raw mail as [`App::prepare`] leaves it.
enum Prepared {
    Parsed(Box<ParsedWithContext>),
    /// Why it cannot be parsed.
    Unparsable(String),
}

/// A parsed mail with its deduplication key, sender and the Message-IDs it answers.
struct ParsedForIntake {
    mail: ParsedMail,
    key: String,
    sender: Option<EmailAddress>,
    thread_ids: Vec<String>,
}

/// A parsed mail with what processing it needs of the store.
struct ParsedWithContext {
    parsed: ParsedForIntake,
    ctx: concierge_store::mail::MailContext,
}

/// Who sent a mail.
enum Sender {
    Staff(concierge_store::UserRow),
    Customer(i64),
    /// Not a customer yet: created (with this name and contact) with the case the mail
    /// opens, in one transaction.
    NewCustomer {
        name: String,
        keys: crate::identity::ContactKeys,
    },
    Unknown,
}

/// The address a mail is from (From, else Sender), when it is a usable address.
fn sender_address(mail: &ParsedMail) -> Option<EmailAddress> {
    mail.from
        .as_ref()
        .or(mail.sender.as_ref())
        .and_then(|a| EmailAddress::parse(&a.address).ok())
}

/// The sender of a mail and who has that address, as read with the mail's context.
struct KnownSender {
    address: Option<EmailAddress>,
    user: Option<i64>,
    customer: Option<CustomerId>,
}

/// A fingerprint of what a mail says (not how it travelled): sender, recipients, subject,
/// date, bodies and attachments. Trace headers added per mailbox do not change it.
fn content_fingerprint(mail: &ParsedMail) -> String {
    let mut s = String::new();
    let mut push = |label: &str, v: &str| {
        s.push_str(label);
        s.push('\u{1}');
        s.push_str(v);
        s.push('\u{2}');
    };
    push(
        "from",
        &mail
            .from
            .as_ref()
            .map(|a| a.normalized())
            .unwrap_or_default(),
    );
    for a in &mail.to {
        push("to", &a.normalized());
    }
    for a in &mail.cc {
        push("cc", &a.normalized());
    }
    push("subject", mail.subject.as_deref().unwrap_or(""));
    push(
        "date",
        &mail.date.map(|d| d.to_string()).unwrap_or_default(),
    );
    push("text", mail.text_body.as_deref().unwrap_or(""));
    push("html", mail.html_body.as_deref().unwrap_or(""));
    for a in &mail.attachments {
        push("attachment", &format!("{}:{}", a.filename, a.sha256));
    }
    sha256_hex(s.as_bytes())
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn addresses_json(list: &[MailAddress]) -> serde_json::Value {
    list.iter()
        .map(|a| serde_json::json!({"address": a.address, "name": a.name}))
        .collect()
}

fn class_str(c: MailClass) -> &'static str {
    match c {
        MailClass::Human => "human",
        MailClass::AutoReply => "auto_reply",
        MailClass::Bulk => "bulk",
        MailClass::MailingList => "mailing_list",
        MailClass::Bounce => "bounce",
        MailClass::OwnMail => "own_mail",
    }
}

fn via_str(v: ThreadVia) -> &'static str {
    match v {
        ThreadVia::VerifiedToken(_) => "verified_token",
        ThreadVia::SubjectToken => "subject_token",
        ThreadVia::References => "references",
        ThreadVia::Subject => "subject",
    }
}

/// What is recorded on the inbound row with the message: `detail` and the claimed key.
fn inbound_record(detail: &serde_json::Value, dedupe: &(String, Option<String>)) -> InboundRecord {
    InboundRecord {
        detail: detail.to_string(),
        dedupe_key: dedupe.0.clone(),
        header_message_id: dedupe.1.clone(),
    }
}

/// The outcome of a mail that cannot be taken in: kept with its raw bytes, and why.
fn quarantine(error: String, detail: serde_json::Value) -> InboundResult {
    InboundResult {
        state: "quarantined".into(),
        error: Some(error),
        detail,
        ..InboundResult::default()
    }
}

fn case_failure(e: CaseError) -> Result<String, IngestError> {
    match e {
        CaseError::Store(s) if s.is_transient() => Err(IngestError::Unavailable(s.to_string())),
        other => Ok(other.to_string()),
    }
}

impl App {
    /// The tenant's secret key for case tokens, created on first use and kept in the
    /// database so every node shares it.
    pub async fn mail_token_key(&self, tenant: TenantId) -> Result<TokenKey, StoreError> {
        let stored = match self.setting_in_scope(tenant, TOKEN_KEY_SETTING).await? {
            Some(v) => v,
            None => {
                let fresh = serde_json::Value::String(crate::secrets::random_secret()).to_string();
                self.store
                    .mail_token_key(tenant, &fresh, self.now())
                    .await?
            }
        };
        let secret: String = serde_json::from_str(&stored).unwrap_or(stored);
        TokenKey::new(secret.into_bytes()).map_err(|e| {
            StoreError::Other(format!(
                "the stored mail token key of tenant {} is unusable ({e}); delete the \
                 tenant setting mail.token_key to have a new one made",
                tenant.0
            ))
        })
    }

    /// Our sending address (`[mail] from`).
    pub fn mail_from(&self) -> MailAddress {
        parse_mailbox(&self.config.mail.from)
            .unwrap_or_else(|| MailAddress::new("concierge@localhost", None))
    }

    /// Takes in one raw mail delivered to `mailbox`: parses it, commits the bytes, then
    /// dedupes, classifies, threads and stores it. `Ok` means the mail is committed
    /// (whatever became of it); `Err` means the sender should retry (the raw bytes may have
    /// been committed already: the retry finds them and goes on from there).
    pub async fn ingest_raw(
        &self,
        tenant: TenantId,
        mailbox: &str,
        raw: &[u8],
    ) -> Result<IngestOutcome, IngestError> {
        let mailbox = {
            let m = truncate_chars(mailbox.trim(), 200);
            if m.is_empty() {
                "default".to_string()
            } else {
                m
            }
        };
        let sha = sha256_hex(raw);
        // Parsed first (a parser panic is caught: the mail is then unparsable, and kept). Then
        // one exchange with the store commits the raw bytes and, once they are committed,
        // reads what processing the mail needs. Nothing parsed is acted on before the commit.
        let ((row, inserted), prepared) = match self.parse_for_intake(raw) {
            Err(why) => (
                self.store
                    .receive_mail(tenant, &mailbox, raw, &sha, self.now())
                    .await?,
                Prepared::Unparsable(why),
            ),
            Ok(parsed) => {
                let request = MailContextRequest {
                    tenant,
                    keys: &MAIL_SETTINGS,
                    mailbox: &mailbox,
                    dedupe_key: &parsed.key,
                    sender: parsed.sender.as_ref().map(EmailAddress::as_str),
                    definition_kinds: &crate::cases::RULE_DEFINITION_KINDS,
                    thread_ids: &parsed.thread_ids,
                };
                let (row, inserted, ctx) = self
                    .store
                    .receive_mail_with_context(&request, raw, &sha, self.now())
                    .await?;
                (
                    (row, inserted),
                    Prepared::Parsed(Box::new(ParsedWithContext { parsed, ctx })),
                )
            }
        };
        if let Some(done) = self.recorded_outcome(tenant, &row).await? {
            return Ok(done);
        }
        // Take the processing lease: only one worker processes a delivery at a time. A new
        // row was committed with the lease already ours.
        if !inserted
            && !self
                .store
                .lease_inbound_mail(
                    tenant,
                    row.id,
                    self.now(),
                    i64::try_from(self.config.mail.processing_lease_secs.min(86_400 * 365))
                        .unwrap_or(0)
                        * 1000,
                )
                .await?
        {
            return match self.store.inbound_mail(tenant, row.id).await? {
                Some(r) => match self.recorded_outcome(tenant, &r).await? {
                    Some(done) => Ok(done),
                    None => Err(IngestError::Busy),
                },
                None => Err(IngestError::Busy),
            };
        }
        crate::cases::with_rules_memo(self.ingest_leased(tenant, &mailbox, &row, prepared)).await
    }

    /// [`App::ingest_raw`] once the raw mail is committed and its processing lease is ours:
    /// process it, record the outcome, acknowledge a new case. Runs inside
    /// [`crate::cases::with_rules_memo`], so rules and settings are read once per mail.
    async fn ingest_leased(
        &self,
        tenant: TenantId,
        mailbox: &str,
        row: &InboundMailRow,
        prepared: Prepared,
    ) -> Result<IngestOutcome, IngestError> {
        let mut result = self.process(tenant, mailbox, row, prepared).await?;
        if !result.recorded {
            match self
                .store
                .finish_inbound_mail(tenant, row.id, &result, self.now())
                .await
            {
                Ok(()) => {}
                // A copy of this mail (same Message-ID and content, other raw bytes) was
                // stored meanwhile and holds the key: this one is its duplicate.
                Err(StoreError::AlreadyLinked(_)) => {
                    let (key, header_id) = result.dedupe.clone().unwrap_or_default();
                    let Some(first) = self
                        .store
                        .mail_key_holder(tenant, &key)
                        .await?
                        .filter(|h| *h != row.id)
                    else {
                        return Err(IngestError::Busy);
                    };
                    result = self
                        .duplicate_result(tenant, row.id, first, header_id)
                        .await?;
                    self.store
                        .finish_inbound_mail(tenant, row.id, &result, self.now())
                        .await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let number = match (result.case_number, result.case_id) {
            (Some(n), _) => Some(n),
            (None, Some(c)) => self
                .store
                .mail_case_by_id(tenant, c)
                .await?
                .map(|c| c.number),
            (None, None) => None,
        };
        let may_auto_reply = result.detail.get("class").and_then(|c| c.as_str()) == Some("human")
            && result.state == "processed";
        if may_auto_reply
            && result.detail.get("new_case") == Some(&serde_json::Value::Bool(true))
            && let (Some(case_id), Some(address)) = (
                result.case_id,
                result
                    .detail
                    .pointer("/from/address")
                    .and_then(|a| a.as_str()),
            )
        {
            // The mail is committed whatever becomes of the acknowledgement.
            if let Err(e) = self
                .acknowledge(tenant, mailbox, CaseId(case_id), address)
                .await
            {
                tracing::warn!(case = case_id, error = %e, "the acknowledgement was not written");
            }
        }
        Ok(IngestOutcome {
            inbound_id: row.id,
            state: IngestState::parse(&result.state).unwrap_or(IngestState::Quarantined),
            case_id: result.case_id,
            case_number: number,
            message_id: result.message_id,
            duplicate_of: result.duplicate_of,
            reason: result.error.clone(),
            may_auto_reply,
        })
    }

    /// The tenant's acknowledgement settings (defaults when never set, or unreadable).
    pub async fn mail_ack_settings(&self, tenant: TenantId) -> Result<AckSettings, StoreError> {
        Ok(match self.setting_in_scope(tenant, ACK_SETTING).await? {
            Some(v) => serde_json::from_str(&v).unwrap_or_else(|e| {
                tracing::warn!(tenant = tenant.0, error = %e, "unreadable {ACK_SETTING}; using defaults");
                AckSettings::default()
            }),
            None => AckSettings::default(),
        })
    }

    /// Saves the tenant's acknowledgement settings after checking them: the body must be a
    /// valid personalisation template of 1-10,000 characters and the window 1-10,080 minutes
    /// (a week).
    pub async fn set_mail_ack_settings(
        &self,
        tenant: TenantId,
        s: &AckSettings,
    ) -> Result<(), CaseError> {
        let chars = s.body.trim().chars().count();
        if chars == 0 || chars > 10_000 {
            return Err(CaseError::Invalid(
                "the acknowledgement text must be 1 to 10000 characters".into(),
            ));
        }
        concierge_domain::personalize::Template::parse(&s.body)
            .map_err(|e| CaseError::Invalid(format!("the acknowledgement text: {e}")))?;
        if !(1..=10_080).contains(&s.window_minutes) {
            return Err(CaseError::Invalid(
                "window_minutes must be between 1 and 10080 (one week)".into(),
            ));
        }
        let json = serde_json::to_string(s)
            .map_err(|e| CaseError::Invalid(format!("the settings cannot be saved: {e}")))?;
        self.store
            .set_setting(tenant, ACK_SETTING, &json, self.now())
            .await?;
        Ok(())
    }

    /// Queues the automatic acknowledgement of a case just opened by a mail from `address`
    /// to `mailbox`, when it is on — the mailbox's own switch, else the tenant's setting —
    /// and no automatic answer went to that address within the window (the loop guard).
    /// Returns whether one was queued.
    async fn acknowledge(
        &self,
        tenant: TenantId,
        mailbox: &str,
        id: CaseId,
        address: &str,
    ) -> Result<bool, CaseError> {
        let settings = self.mail_ack_settings(tenant).await?;
        // The mailbox's own switch: read ahead with the settings, else read now. The value
        // read ahead is `""` for a mailbox that follows the tenant's setting; none: no such
        // mailbox.
        let switch = match self.setting_read_ahead(tenant, &mailbox_ack_key(mailbox)) {
            Some(v) => switch_of(v.as_deref()),
            None => match self.store.mailbox_by_name(tenant, mailbox).await? {
                Some(mb) => mb.settings.acknowledge,
                None => None,
            },
        };
        let enabled = switch.unwrap_or(settings.enabled);
        if !enabled {
            return Ok(false);
        }
        if !self
            .store
            .claim_auto_reply(
                tenant,
                address,
                self.now(),
                settings.window_minutes.saturating_mul(60_000),
            )
            .await?
        {
            tracing::info!(
                case = id.0,
                "acknowledgement skipped: the sender had one recently"
            );
            return Ok(false);
        }
        for _ in 0..5 {
            let Some(case) = self.store.case(tenant, id).await? else {
                return Ok(false);
            };
            let body = match self
                .render_for_customer(
                    tenant,
                    CustomerId(case.customer_id),
                    &settings.body,
                    concierge_domain::personalize::Escape::Text,
                )
                .await
            {
                Ok(r) => r.output,
                Err(e) => {
                    tracing::warn!(error = %e, "the acknowledgement template failed; using the default");
                    self.render_for_customer(
                        tenant,
                        CustomerId(case.customer_id),
                        DEFAULT_ACK_BODY,
                        concierge_domain::personalize::Escape::Text,
                    )
                    .await
                    .map_err(|e| CaseError::Invalid(e.to_string()))?
                    .output
                }
            };
            let w = CaseWrite {
                messages: vec![NewMessage {
                    author_kind: "system".into(),
                    visibility: "public".into(),
                    channel: "email".into(),
                    route: Some("email".into()),
                    body_text: truncate_chars(&body, BODY_MAX_CHARS),
                    delivery_state: Some("queued".into()),
                    ..NewMessage::default()
                }],
                events: vec![NewEvent {
                    kind: "acknowledged".into(),
                    actor_kind: "system".into(),
                    actor_id: None,
                    visibility: "internal".into(),
                    detail: serde_json::json!({"to": address}),
                }],
                ..CaseWrite::default()
            };
            match self
                .store
                .write_case(tenant, id, case.version, &w, self.now())
                .await
            {
                Ok(Some(_)) => return Ok(true),
                Ok(None) => return Ok(false),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(false)
    }

    /// The outcome recorded for an inbound mail already finished, `None` while it is not.
    async fn recorded_outcome(
        &self,
        tenant: TenantId,
        row: &InboundMailRow,
    ) -> Result<Option<IngestOutcome>, IngestError> {
        let Some(state) = IngestState::parse(&row.state) else {
            return Ok(None);
        };
        let number = match row.case_id {
            Some(c) => self
                .store
                .mail_case_by_id(tenant, c)
                .await?
                .map(|c| c.number),
            None => None,
        };
        // A redelivery is reported as a duplicate of the first delivery.
        Ok(Some(IngestOutcome {
            inbound_id: row.id,
            state: if state == IngestState::Quarantined {
                state
            } else {
                IngestState::Duplicate
            },
            case_id: row.case_id,
            case_number: number,
            message_id: row.message_id,
            duplicate_of: Some(row.duplicate_of.unwrap_or(row.id)),
            reason: row.error.clone(),
            may_auto_reply: false,
        }))
    }

    /// Parses raw mail for intake: the mail, its deduplication key (same Message-ID and same
    /// content: the same mail), its sender and the Message-IDs it answers. `Err`: why it
    /// cannot be parsed.
    fn parse_for_intake(&self, raw: &[u8]) -> Result<ParsedForIntake, String> {
        let limits = ParseLimits {
            max_message_bytes: MAX_RAW_BYTES,
            max_attachment_bytes: self.config.server.max_body_bytes,
            ..ParseLimits::default()
        };
        let mail = concierge_mail::parse(raw, &limits).map_err(|e| e.to_string())?;
        let key = sha256_hex(
            format!(
                "{}\n{}",
                mail.message_id.as_deref().unwrap_or(""),
                content_fingerprint(&mail)
            )
            .as_bytes(),
        );
        let sender = sender_address(&mail);
        let thread_ids = concierge_mail::reference_ids(&mail);
        Ok(ParsedForIntake {
            mail,
            key,
            sender,
            thread_ids,
        })
    }

    /// Processes committed raw mail `row` (leased to this worker), as [`App::prepare`] left
    /// it: deduplicate, classify, thread, store.
    async fn process(
        &self,
        tenant: TenantId,
        mailbox: &str,
        row: &InboundMailRow,
        prepared: Prepared,
    ) -> Result<InboundResult, IngestError> {
        let ParsedWithContext {
            parsed:
                ParsedForIntake {
                    mail,
                    key,
                    sender,
                    thread_ids,
                },
            ctx,
        } = match prepared {
            Prepared::Parsed(p) => *p,
            Prepared::Unparsable(e) => return Ok(quarantine(e, serde_json::json!({}))),
        };
        let thread = ctx.thread_case.map(|found| (thread_ids, found));
        if let Some(first) = ctx.key_holder.filter(|h| *h != row.id) {
            return self
                .duplicate_result(tenant, row.id, first, mail.message_id.clone())
                .await;
        }
        let dedupe = (key, mail.message_id.clone());
        self.remember_settings(tenant, &MAIL_SETTINGS, &ctx.settings);
        // The case rules, from the definitions read with the rest (the workflow is among the
        // settings). Rules that cannot be built are not kept: reading them again reports why.
        if let Ok(workflow) = self.workflow(tenant).await
            && let Ok(rules) = crate::cases::rules_from(workflow, ctx.definitions)
        {
            self.remember_rules(tenant, rules);
        }
        let ack_key = mailbox_ack_key(mailbox);
        let ack_value = ctx
            .mailbox_ack
            .map(|a| (ack_key.clone(), switch_text(a).to_string()));
        self.remember_settings(tenant, &[ack_key.as_str()], ack_value.as_slice());
        // A known sender's mail may open a case: their flags and tier decide its routing
        // and targets.
        if let Some(c) = ctx.sender_customer {
            self.remember_flags_and_tier(tenant, c.0, ctx.sender_flags, ctx.sender_tier);
        }
        let known = KnownSender {
            address: sender,
            user: ctx.sender_user,
            customer: ctx.sender_customer,
        };
        let mut result = self
            .process_parsed(tenant, row, &mail, &dedupe, known, thread)
            .await?;
        if !result.recorded {
            result.dedupe = Some(dedupe);
        }
        Ok(result)
    }

    /// The outcome of a mail that is a copy of inbound mail `first` (same Message-ID and
    /// content): its mailboxes are added to the first's, and it points at the first's message.
    async fn duplicate_result(
        &self,
        tenant: TenantId,
        id: i64,
        first: i64,
        header_message_id: Option<String>,
    ) -> Result<InboundResult, IngestError> {
        for mb in self.store.inbound_mailboxes(tenant, id).await? {
            self.store
                .add_inbound_mailbox(tenant, first, &mb, self.now())
                .await?;
        }
        let orig = self.store.inbound_mail(tenant, first).await?;
        Ok(InboundResult {
            state: "duplicate".into(),
            case_id: orig.as_ref().and_then(|o| o.case_id),
            message_id: orig.as_ref().and_then(|o| o.message_id),
            duplicate_of: Some(first),
            detail: serde_json::json!({"message_id": header_message_id}),
            ..InboundResult::default()
        })
    }

    /// [`App::process`] once the mail is parsed and no other mail holds its deduplication
    /// key: classify, find the sender, thread, store. `dedupe` (key, Message-ID) is claimed
    /// with the message; results not recorded with a message claim it when finished.
    /// `thread`: the case of the mail's Message-IDs, when read with its context.
    async fn process_parsed(
        &self,
        tenant: TenantId,
        row: &InboundMailRow,
        mail: &ParsedMail,
        dedupe: &(String, Option<String>),
        known: KnownSender,
        thread: Option<(Vec<String>, Option<CaseWithTargets>)>,
    ) -> Result<InboundResult, IngestError> {
        let from = self.mail_from();
        let class = classify(mail, &[from.address.as_str()]);
        let mut detail = serde_json::json!({
            "message_id": mail.message_id,
            "from": mail.from.as_ref().map(|a| serde_json::json!({"address": a.address, "name": a.name})),
            "to": addresses_json(&mail.to),
            "cc": addresses_json(&mail.cc),
            "subject": mail.subject,
            "class": class_str(class.class),
            "reasons": class.reasons.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>(),
            "limits_hit": mail.limits_hit.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>(),
        });

        // Stored before an interruption (the message and its link are one transaction): done.
        if let (Some(msg), Some(case_id)) = (row.message_id, row.case_id) {
            return Ok(InboundResult {
                state: "processed".into(),
                case_id: Some(case_id),
                message_id: Some(msg),
                detail,
                ..InboundResult::default()
            });
        }

        // Our own outbound mail coming back (a copy to the mailbox): already stored.
        if class.class == MailClass::OwnMail
            && let Some(id) = &mail.message_id
            && self
                .store
                .case_number_by_mail_ids(tenant, std::slice::from_ref(id))
                .await?
                .is_some()
        {
            return Ok(InboundResult {
                state: "ignored".into(),
                error: Some("our own outbound mail, already on its case".into()),
                detail,
                ..InboundResult::default()
            });
        }

        // A bounce of a message we sent: that message failed, with the report's reason, and
        // the case shows it (internally). Never answered.
        if class.class == MailClass::Bounce
            && let Some(report) = delivery_report(mail)
            && let Some((bounced, case_id)) = self
                .store
                .outbound_by_mail_ids(tenant, &report.original_message_ids)
                .await?
            && let Some(case) = self.store.mail_case_by_id(tenant, case_id).await?
        {
            let reason = report.reason();
            let failed = report.failed();
            if failed {
                // First (idempotent): a retry after an interruption repeats it harmlessly.
                self.store
                    .finish_outbound_mail(tenant, bounced, "failed", Some(&reason), None)
                    .await?;
            }
            if let Some(obj) = detail.as_object_mut() {
                obj.insert("bounced_message".into(), serde_json::json!(bounced));
                obj.insert("bounce_reason".into(), serde_json::json!(reason));
            }
            let recipients: Vec<serde_json::Value> = report
                .recipients
                .iter()
                .map(|r| {
                    serde_json::json!({"recipient": r.recipient, "action": r.action,
                        "status": r.status, "diagnostic": r.diagnostic})
                })
                .collect();
            let event = (
                "bounce",
                serde_json::json!({"message_id": bounced, "failed": failed, "reason": reason,
                    "recipients": recipients}),
            );
            let (attachments, _) = self.store_attachments(mail)?;
            let mail_id = mail.message_id.clone().unwrap_or_else(|| {
                format!("{NO_ID_PREFIX}{}@{}", row.raw_sha256, domain_of(&from))
            });
            let author = mail.from.as_ref().map(|a| a.address.clone());
            return self
                .record_automatic(
                    tenant,
                    row.id,
                    &case,
                    event,
                    self.mail_body(mail),
                    attachments,
                    &mail_id,
                    author,
                    detail,
                    dedupe,
                )
                .await;
        }

        let sender_addr = known.address;
        let automatic = !class.may_auto_reply();
        let sender = match &sender_addr {
            Some(addr) => {
                let (user_id, customer) = (known.user, known.customer);
                let staff = match user_id {
                    Some(id) if !automatic => self
                        .store
                        .user_by_id(tenant, concierge_domain::UserId(id))
                        .await?
                        .filter(|u| u.active),
                    _ => None,
                };
                match (staff, customer) {
                    (Some(u), _) => Sender::Staff(u),
                    (None, Some(c)) => Sender::Customer(c.0),
                    // Automatic mail never creates customers.
                    (None, None) if automatic => Sender::Unknown,
                    (None, None) => {
                        let name: String = mail
                            .from
                            .as_ref()
                            .and_then(|a| a.name.clone())
                            .map(|n| truncate_chars(n.trim(), 200))
                            .filter(|n| !n.is_empty())
                            .unwrap_or_else(|| {
                                addr.as_str()
                                    .split('@')
                                    .next()
                                    .unwrap_or("customer")
                                    .to_string()
                            });
                        Sender::NewCustomer {
                            name,
                            keys: crate::identity::ContactKeys::email(addr),
                        }
                    }
                }
            }
            None if automatic => Sender::Unknown,
            None => {
                return Ok(quarantine(
                    "the mail has no usable sender address (From); it cannot be answered".into(),
                    detail,
                ));
            }
        };

        let rules = match self.case_rules(tenant).await {
            Ok(r) => r,
            Err(e) => return Ok(quarantine(case_failure(e)?, detail)),
        };
        let token_key = self.mail_token_key(tenant).await?;
        let customer = match &sender {
            Sender::Customer(c) => Some(*c),
            _ => None,
        };
        let lookup = Lookup {
            app: self,
            tenant,
            workflow: &rules.workflow,
            seen: Default::default(),
            found: Default::default(),
            prefetched: std::sync::Mutex::new(thread),
        };
        let decision = decide_thread(mail, &token_key, customer, &lookup).await?;
        let (matched, via) = match decision {
            ThreadDecision::Existing { case_id, via } => (Some(case_id), Some(via)),
            ThreadDecision::FollowUp {
                closed_case_id,
                via,
            } => (Some(closed_case_id), Some(via)),
            ThreadDecision::NewCase => (None, None),
        };
        // A merged case forwards to the case it was merged into.
        let mut target: Option<MailCaseRow> = None;
        if let Some(number) = matched {
            let mut c = lookup.case_by_number(number).await?;
            for _ in 0..10 {
                match c.as_ref().and_then(|x| x.merged_into) {
                    Some(into) => c = self.store.mail_case_by_id(tenant, into).await?,
                    None => break,
                }
            }
            target = c;
        }
        if let Some(obj) = detail.as_object_mut() {
            obj.insert("via".into(), serde_json::json!(via.map(via_str)));
        }

        let body = self.mail_body(mail);
        let (attachments, skipped) = self.store_attachments(mail)?;
        if !skipped.is_empty()
            && let Some(obj) = detail.as_object_mut()
        {
            obj.insert("attachments_skipped".into(), serde_json::json!(skipped));
        }
        let mail_id = mail
            .message_id
            .clone()
            .unwrap_or_else(|| format!("{NO_ID_PREFIX}{}@{}", row.raw_sha256, domain_of(&from)));
        let author_email = sender_addr.as_ref().map(|a| a.as_str().to_string());

        if automatic {
            let Some(case) = target else {
                return Ok(InboundResult {
                    state: "ignored".into(),
                    error: Some(format!(
                        "automatic mail ({}) that matches no case; kept, not answered",
                        class_str(class.class)
                    )),
                    detail,
                    ..InboundResult::default()
                });
            };
            let event = (
                "automatic_mail",
                serde_json::json!({"class": class_str(class.class),
                    "from": author_email, "cc": detail.get("cc")}),
            );
            return self
                .record_automatic(
                    tenant,
                    row.id,
                    &case,
                    event,
                    body,
                    attachments,
                    &mail_id,
                    author_email,
                    detail,
                    dedupe,
                )
                .await;
        }

        // The inbound row is recorded with the message (one commit), with what is known
        // now: whether the mail opens a case, and the closed case a follow-up answers.
        let predicted_follow_up = target
            .as_ref()
            .filter(|t| rules.workflow.is_final(&t.status))
            .map(|t| t.id);
        let mut recorded_detail = detail.clone();
        if let Some(obj) = recorded_detail.as_object_mut() {
            obj.insert(
                "follow_up_of".into(),
                serde_json::json!(predicted_follow_up),
            );
            obj.insert("new_case".into(), serde_json::json!(target.is_none()));
        }
        let link = MailLink {
            inbound_id: row.id,
            mail_message_id: mail_id,
            author_email,
            sent_by_mail_client: false,
            record: Some(inbound_record(&recorded_detail, dedupe)),
        };
        // A new sender whose mail lands on a matched case becomes a customer now (the
        // message is the case customer's); one whose mail opens a case, with the case.
        let sender = match sender {
            Sender::NewCustomer { name, keys } if target.is_some() => {
                let (c, _) = self
                    .find_or_create_customer(tenant, &keys, Some(name.as_str()))
                    .await?;
                Sender::Customer(c.0)
            }
            s => s,
        };
        let subject = mail
            .subject
            .as_deref()
            .map(normalize_subject)
            .filter(|s| !s.trim().is_empty())
            .or_else(|| mail.subject.clone())
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "(no subject)".into());
        let new_case = |customer: i64, attachments: Vec<NewAttachment>| NewCaseInput {
            attachments,
            ..NewCaseInput::new(
                CustomerRef::Id(customer),
                truncate_chars(&subject, SUBJECT_MAX),
                body.clone(),
                "email",
            )
        };
        let stored: Result<Option<Landed>, CaseError> = match sender {
            Sender::Staff(user) => {
                let Some(case) = target
                    .clone()
                    .filter(|c| !rules.workflow.is_final(&c.status))
                else {
                    return Ok(InboundResult {
                        state: "ignored".into(),
                        error: Some(
                            "mail from a staff address that matches no open case; kept, not \
                             stored as a message"
                                .into(),
                        ),
                        detail,
                        ..InboundResult::default()
                    });
                };
                // Recorded as the agent's public reply; it already reached the customer from
                // the agent's mail client, so it is marked delivered, never sent again.
                let input = ReplyInput {
                    body: body.clone(),
                    route: Some("email".into()),
                    attachments,
                    ..ReplyInput::default()
                };
                let link = MailLink {
                    sent_by_mail_client: true,
                    ..link
                };
                self.reply_from_mail(tenant, &user, CaseId(case.id), &input, &link)
                    .await
                    .map(|()| None)
            }
            Sender::Customer(sender_customer) => {
                // On a matched case the message is the case customer's, with the sending
                // address kept (a colleague answering from another address).
                let as_customer = target.as_ref().map_or(sender_customer, |c| c.customer_id);
                match &target {
                    Some(case) => self
                        .customer_reply_linked(
                            tenant,
                            CustomerId(as_customer),
                            CaseId(case.id),
                            &body,
                            attachments,
                            Some(&link),
                            lookup.take_found(),
                        )
                        .await
                        .map(Some),
                    None => self
                        .create_case_linked(
                            tenant,
                            crate::cases::Actor::Customer(CustomerId(sender_customer)),
                            &new_case(sender_customer, attachments),
                            Some(&link),
                        )
                        .await
                        .map(Some),
                }
            }
            // Only without a matched case (see above): the customer comes with the case.
            Sender::NewCustomer { name, keys } => {
                let input = new_case(0, attachments);
                match self
                    .create_case_for_first_contact(tenant, &keys, &name, &input, Some(&link))
                    .await
                {
                    // A concurrent first contact from the same address holds the customer's
                    // identity key by now: that customer opens the case.
                    Ok(None) => {
                        let (c, _) = self
                            .find_or_create_customer(tenant, &keys, Some(name.as_str()))
                            .await?;
                        self.create_case_linked(
                            tenant,
                            crate::cases::Actor::Customer(c),
                            &NewCaseInput {
                                customer: CustomerRef::Id(c.0),
                                ..input
                            },
                            Some(&link),
                        )
                        .await
                        .map(Some)
                    }
                    other => other,
                }
            }
            Sender::Unknown => {
                return Ok(quarantine(
                    "the sender could not be resolved".into(),
                    detail,
                ));
            }
        };
        // The write linked the mail and recorded its outcome with the message (a mail linked
        // already refuses the whole write): where it landed is known, nothing is read back.
        if let Ok(Some(landed)) = &stored
            && let Some(msg) = landed.message_id
        {
            let follow_up_of = target
                .as_ref()
                .filter(|t| t.id != landed.case_id)
                .map(|t| t.id);
            if let Some(obj) = detail.as_object_mut() {
                obj.insert("follow_up_of".into(), serde_json::json!(follow_up_of));
                obj.insert("new_case".into(), serde_json::json!(target.is_none()));
            }
            // Recorded with the message unless the case it landed on is not the one foreseen.
            let recorded = detail == recorded_detail;
            return Ok(InboundResult {
                state: "processed".into(),
                case_id: Some(landed.case_id),
                message_id: Some(msg),
                detail,
                recorded,
                case_number: Some(landed.case_number),
                ..InboundResult::default()
            });
        }
        // Otherwise the inbound row says where it landed: when another worker stored it first
        // and this write was refused with `StoreError::AlreadyLinked` (which the case use
        // cases pass on at once instead of retrying: the mail is processed, not failed), when
        // a step after the write failed, or for a staff reply.
        let (linked, case_number) = match self
            .store
            .inbound_mail_with_case_number(tenant, row.id)
            .await?
        {
            Some((r, n)) => (Some(r), n),
            None => (None, None),
        };
        match linked.as_ref().and_then(|r| r.message_id.zip(r.case_id)) {
            Some((msg, case_id)) => {
                let follow_up_of = target.as_ref().filter(|t| t.id != case_id).map(|t| t.id);
                if let Some(obj) = detail.as_object_mut() {
                    obj.insert("follow_up_of".into(), serde_json::json!(follow_up_of));
                    obj.insert("new_case".into(), serde_json::json!(target.is_none()));
                }
                // Recorded with the message unless another worker stored it, or the case
                // it landed on is not the one foreseen.
                let recorded = linked.as_ref().is_some_and(|r| r.state == "processed")
                    && detail == recorded_detail
                    && stored.is_ok();
                Ok(InboundResult {
                    state: "processed".into(),
                    case_id: Some(case_id),
                    message_id: Some(msg),
                    detail,
                    recorded,
                    case_number,
                    ..InboundResult::default()
                })
            }
            None => match stored {
                Err(e) => Ok(quarantine(case_failure(e)?, detail)),
                Ok(_) => Ok(quarantine(
                    "internal: the stored message was not linked to its mail".into(),
                    detail,
                )),
            },
        }
    }

    /// Automatic mail on a matched case: kept as an internal note that changes nothing (no
    /// reopening, no follow-up case, no targets) and is never answered. `event` is the
    /// internal event recorded with it (kind and detail).
    #[allow(clippy::too_many_arguments)]
    async fn record_automatic(
        &self,
        tenant: TenantId,
        inbound_id: i64,
        case: &MailCaseRow,
        event: (&str, serde_json::Value),
        body: String,
        attachments: Vec<NewAttachment>,
        mail_id: &str,
        author_email: Option<String>,
        detail: serde_json::Value,
        dedupe: &(String, Option<String>),
    ) -> Result<InboundResult, IngestError> {
        let linked = |r: Option<InboundMailRow>, detail: serde_json::Value| {
            r.and_then(|r| r.message_id.zip(r.case_id))
                .map(|(m, c)| InboundResult {
                    state: "processed".into(),
                    case_id: Some(c),
                    message_id: Some(m),
                    detail,
                    ..InboundResult::default()
                })
        };
        for _ in 0..5 {
            let Some(row) = self.store.case(tenant, CaseId(case.id)).await? else {
                break;
            };
            let w = CaseWrite {
                messages: vec![NewMessage {
                    author_kind: "system".into(),
                    author_email: author_email.clone(),
                    visibility: "internal".into(),
                    channel: "email".into(),
                    body_text: body.clone(),
                    attachments: attachments.clone(),
                    mail_message_id: Some(mail_id.to_string()),
                    inbound_mail_id: Some(inbound_id),
                    inbound_record: Some(inbound_record(&detail, dedupe)),
                    ..NewMessage::default()
                }],
                events: vec![NewEvent {
                    kind: event.0.into(),
                    actor_kind: "system".into(),
                    actor_id: None,
                    visibility: "internal".into(),
                    detail: event.1.clone(),
                }],
                ..CaseWrite::default()
            };
            match self
                .store
                .write_case(tenant, CaseId(case.id), row.version, &w, self.now())
                .await
            {
                Ok(Some(applied)) => {
                    return Ok(InboundResult {
                        state: "processed".into(),
                        case_id: Some(case.id),
                        message_id: applied.message_ids.first().copied(),
                        detail,
                        recorded: true,
                        case_number: Some(case.number),
                        ..InboundResult::default()
                    });
                }
                Ok(None) => break,
                Err(StoreError::AlreadyLinked(_)) => {
                    // Stored meanwhile by another worker: exactly once, and done.
                    let r = self.store.inbound_mail(tenant, inbound_id).await?;
                    if let Some(done) = linked(r, detail.clone()) {
                        return Ok(done);
                    }
                    // Or a copy of the mail holds its key: finishing says so.
                    break;
                }
                // The case changed meanwhile: read it again and decide again.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(InboundResult {
            state: "ignored".into(),
            error: Some("automatic mail whose case could not be written; kept".into()),
            detail,
            ..InboundResult::default()
        })
    }

    /// The text stored for a mail: the plain text (or text made from HTML), normalised as
    /// case messages are, bounded; a placeholder when the mail has no text.
    fn mail_body(&self, mail: &ParsedMail) -> String {
        let text = mail.text_body.as_deref().unwrap_or("");
        let text = truncate_chars(text, BODY_MAX_CHARS);
        match case::body(&text) {
            Ok(b) => b,
            Err(_) => {
                if mail.attachments.is_empty() {
                    "(the mail has no text)".into()
                } else {
                    let names: Vec<&str> = mail
                        .attachments
                        .iter()
                        .map(|a| a.filename.as_str())
                        .take(20)
                        .collect();
                    format!("(the mail has no text; attachments: {})", names.join(", "))
                }
            }
        }
    }

    /// Stores a mail's attachments by hash; returns the rows and what was skipped (too large,
    /// too many) with why.
    fn store_attachments(
        &self,
        mail: &ParsedMail,
    ) -> Result<(Vec<NewAttachment>, Vec<String>), IngestError> {
        let mut out = Vec::new();
        let mut skipped = Vec::new();
        for a in &mail.attachments {
            if a.skipped.is_some() {
                skipped.push(format!(
                    "{}: larger than the limit ({} bytes)",
                    a.filename, a.size
                ));
                continue;
            }
            if out.len() >= crate::attachments::MAX_ATTACHMENTS {
                skipped.push(format!(
                    "{}: more than {} attachments",
                    a.filename,
                    crate::attachments::MAX_ATTACHMENTS
                ));
                continue;
            }
            match crate::attachments::store(self, &a.filename, &a.content_type, &a.content) {
                Ok(row) => out.push(row),
                Err(crate::attachments::AttachmentError::Io(e)) => {
                    return Err(IngestError::Unavailable(format!(
                        "an attachment could not be written to the data directory: {e}"
                    )));
                }
                Err(e) => skipped.push(format!("{}: {e}", a.filename)),
            }
        }
        Ok((out, skipped))
    }

    /// Delivers public email replies that are due (the `mail.deliver` job). Returns how many
    /// were attempted.
    pub async fn deliver_outbound_mail(&self) -> Result<usize, String> {
        let due = self
            .store
            .due_outbound_mail(self.now(), 50)
            .await
            .map_err(|e| e.to_string())?;
        let mut attempted = 0;
        for m in due {
            let now = self.now();
            if !self
                .store
                .claim_outbound_mail(&m, now, now + DELIVERY_LEASE_MS)
                .await
                .map_err(|e| e.to_string())?
            {
                continue;
            }
            attempted += 1;
            let attempts = m.delivery_attempts + 1;
            let result = self.deliver_one(&m).await;
            let (state, error, retry_at) = DeliveryError::outcome(
                result,
                attempts,
                MAX_DELIVERY_ATTEMPTS,
                "deferred",
                self.now(),
            );
            if let Some(e) = &error {
                tracing::warn!(message = m.id, state, error = %e, "mail delivery did not succeed");
            }
            self.store
                .finish_outbound_mail(m.tenant_id, m.id, state, error.as_deref(), retry_at)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(attempted)
    }

    async fn deliver_one(&self, m: &OutboundRow) -> Result<(), DeliveryError> {
        let tenant = m.tenant_id;
        let case = self
            .store
            .mail_case_by_id(tenant, m.case_id)
            .await?
            .ok_or_else(|| DeliveryError::Fail("the case no longer exists".into()))?;
        let customer = self
            .store
            .customer(tenant, CustomerId(case.customer_id))
            .await?
            .ok_or_else(|| DeliveryError::Fail("the customer no longer exists".into()))?;
        let Some(to) = customer.email.filter(|e| !e.trim().is_empty()) else {
            return Err(DeliveryError::Fail(
                "the customer has no email address; add one to the customer and reply again".into(),
            ));
        };
        let key = self.mail_token_key(tenant).await?;
        let from = self.mail_from();
        let domain = domain_of(&from);
        // The Message-ID is made once and kept, so a retried delivery is the same mail.
        let message_id = match &m.mail_message_id {
            Some(id) => id.clone(),
            None => {
                let id = key
                    .outbound_message_id(case.number, m.id, &domain)
                    .map_err(|e| DeliveryError::Fail(format!("[mail] from: {e}")))?;
                self.store
                    .set_message_mail_id(tenant, m.id, &id, Some(&from.address))
                    .await?;
                id
            }
        };
        let previous: Vec<String> = self
            .store
            .case_mail_ids(tenant, case.id, m.id)
            .await?
            .into_iter()
            .filter(|id| !id.starts_with(NO_ID_PREFIX))
            .collect();
        let (in_reply_to, references) = chain_references(&previous);
        let local = from.address.rsplit_once('@').map_or("", |(l, _)| l);
        let reply_to = key
            .reply_address(case.number, local, &domain)
            .ok()
            .map(|a| MailAddress::new(a, from.name.clone()));
        let subject = if in_reply_to.is_some() {
            format!("Re: {}", case.subject)
        } else {
            case.subject.clone()
        };
        let mut attachments = Vec::new();
        let messages = self
            .store
            .case_messages(tenant, CaseId(case.id), false)
            .await?;
        if let Some(msg) = messages.iter().find(|x| x.id == m.id) {
            for a in &msg.attachments {
                let content = crate::attachments::read(self, &a.sha256).map_err(|e| {
                    DeliveryError::Retry(format!("attachment {} unreadable: {e}", a.filename))
                })?;
                attachments.push(OutboundAttachment {
                    filename: a.filename.clone(),
                    content_type: a.content_type.clone(),
                    content,
                });
            }
        }
        let mail = OutboundMail {
            from: from.clone(),
            to: vec![MailAddress::new(to, Some(customer.display_name.clone()))],
            cc: Vec::new(),
            reply_to,
            message_id,
            in_reply_to,
            references,
            subject,
            case_id: Some(case.number),
            automatic: m.author_kind == "system",
            text: m.body_text.clone(),
            html: None,
            attachments,
            date: None,
        };
        let message = build_message(&mail).map_err(|e| DeliveryError::Fail(e.to_string()))?;
        let sent = if self.config.mail.smtp_host.trim().is_empty() {
            OutboxSender::new(self.config.outbox_dir())
                .send(&message)
                .await
        } else {
            let smtp = self.smtp_config()?;
            match SmtpSender::new(&smtp) {
                Ok(s) => s.send(&message).await,
                Err(e) => Err(e),
            }
        };
        match sent {
            Ok(_) => Ok(()),
            Err(SendError::Transient(e)) => Err(DeliveryError::Retry(e)),
            Err(SendError::Permanent(e)) => Err(DeliveryError::Fail(e)),
        }
    }

    /// The relay settings. A wrong `smtp_tls` fails the message; an unreadable
    /// `tls_ca_file` is retried (the operator may be replacing it).
    pub(crate) fn smtp_config(&self) -> Result<SmtpConfig, DeliveryError> {
        let c = &self.config.mail;
        let tls = match c.smtp_tls.trim() {
            "starttls" => TlsMode::StartTls,
            "tls" => TlsMode::Tls,
            "none" => TlsMode::None,
            other => {
                return Err(DeliveryError::Fail(format!(
                    "[mail] smtp_tls = {other:?} is not valid; use starttls, tls or none"
                )));
            }
        };
        let extra_roots = match tls {
            TlsMode::None => concierge_mail::ExtraRoots::none(),
            _ => self
                .config
                .tls_extra_roots()
                .map_err(DeliveryError::Retry)?,
        };
        Ok(SmtpConfig {
            host: c.smtp_host.trim().to_string(),
            port: c.smtp_port,
            tls,
            credentials: (!c.smtp_username.is_empty())
                .then(|| (c.smtp_username.clone(), c.smtp_password.clone())),
            timeout: Duration::from_secs(30),
            extra_roots,
        })
    }
}

/// How a delivery attempt failed (replies here, customer notices in `portal`).
pub(crate) enum DeliveryError {
    /// Worth another attempt later.
    Retry(String),
    /// Will not get better by retrying.
    Fail(String),
}

impl DeliveryError {
    /// What an attempt leaves behind: the new state (`retry_state` while attempts remain,
    /// else `failed`; `sent` on success), the error to record, and when to try again.
    pub(crate) fn outcome(
        result: Result<(), DeliveryError>,
        attempts: i64,
        max_attempts: i64,
        retry_state: &'static str,
        now: i64,
    ) -> (&'static str, Option<String>, Option<i64>) {
        match result {
            Ok(()) => ("sent", None, None),
            Err(DeliveryError::Retry(e)) if attempts < max_attempts => (
                retry_state,
                Some(e),
                Some(now + crate::jobs::backoff_ms(attempts)),
            ),
            Err(DeliveryError::Retry(e)) => (
                "failed",
                Some(format!("gave up after {attempts} attempts: {e}")),
                None,
            ),
            Err(DeliveryError::Fail(e)) => ("failed", Some(e), None),
        }
    }
}

impl From<StoreError> for DeliveryError {
    fn from(e: StoreError) -> Self {
        DeliveryError::Retry(e.to_string())
    }
}

fn domain_of(a: &MailAddress) -> String {
    a.address
        .rsplit_once('@')
        .map_or("localhost", |(_, d)| d)
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn mailboxes_parse() {
        let a = parse_mailbox("Concierge <concierge@localhost>").unwrap();
        assert_eq!(a.address, "concierge@localhost");
        assert_eq!(a.name.as_deref(), Some("Concierge"));
        assert_eq!(
            parse_mailbox("help@shop.example").unwrap().address,
            "help@shop.example"
        );
        assert!(parse_mailbox("nonsense").is_none());
    }
}
