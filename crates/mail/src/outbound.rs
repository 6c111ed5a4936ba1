//! Outbound mail: building replies with lettre, and delivering them by SMTP or to an outbox
//! folder.
//!
//! [`build_message`] turns an [`OutboundMail`] into a lettre [`Message`] with the team
//! mailbox in From, the case's token address in Reply-To, our HMAC Message-ID, In-Reply-To
//! and References chained from the case ([`chain_references`]), `[#1234]` in the subject,
//! `Auto-Submitted: auto-replied` on automatic mail, UTF-8 text with an optional HTML
//! alternative, and attachments.
//!
//! Delivery goes through the [`MailSender`] trait: [`SmtpSender`] (STARTTLS, implicit TLS or
//! plain, optional AUTH; the webpki roots plus any private CA in [`crate::ExtraRoots`]) and
//! [`OutboxSender`], which writes `.eml` files into a folder (the default, so that demos need
//! no relay). Retries and backoff belong to the caller's durable
//! outbox; [`SendError`] says whether a failure is worth retrying.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment as LettreAttachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::CaseId;
use crate::parse::MailAddress;
use crate::subject::extract_subject_token;

/// At most this many ids are kept in References (the first one, the thread root, and the
/// newest ones), so long threads do not grow headers without bound.
const MAX_REFERENCES: usize = 20;

/// A file to attach to an outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundAttachment {
    /// File name shown to the recipient.
    pub filename: String,
    /// MIME type, e.g. `application/pdf`.
    pub content_type: String,
    /// The bytes.
    pub content: Vec<u8>,
}

/// Everything needed to build one outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMail {
    /// The team mailbox the message is sent from.
    pub from: MailAddress,
    /// Recipients.
    pub to: Vec<MailAddress>,
    /// Copy recipients.
    pub cc: Vec<MailAddress>,
    /// The case's reply address ([`crate::TokenKey::reply_address`]).
    pub reply_to: Option<MailAddress>,
    /// Our Message-ID without angle brackets ([`crate::TokenKey::outbound_message_id`]).
    pub message_id: String,
    /// The message this one answers, without angle brackets.
    pub in_reply_to: Option<String>,
    /// Thread ids, oldest first, without angle brackets.
    pub references: Vec<String>,
    /// Subject; `[#case]` is added when `case_id` is set and the subject lacks it.
    pub subject: String,
    /// The case, for the subject token.
    pub case_id: Option<CaseId>,
    /// Automatic mail (acknowledgements): adds `Auto-Submitted: auto-replied` and
    /// `X-Auto-Response-Suppress: All`.
    pub automatic: bool,
    /// Plain-text body.
    pub text: String,
    /// Optional HTML alternative.
    pub html: Option<String>,
    /// Attachments.
    pub attachments: Vec<OutboundAttachment>,
    /// The Date header; now when `None`.
    pub date: Option<SystemTime>,
}

/// Errors building a message.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An address does not parse.
    #[error("invalid e-mail address {0:?}: expected local@domain")]
    InvalidAddress(String),
    /// There is no recipient.
    #[error("the message has no recipient; add at least one To address")]
    NoRecipient,
    /// An attachment's content type does not parse.
    #[error("invalid content type {0:?} for attachment; use type/subtype, e.g. application/pdf")]
    InvalidContentType(String),
    /// A message id is malformed.
    #[error("invalid message id {0:?}: expected left@right without spaces or angle brackets")]
    InvalidMessageId(String),
    /// lettre refused the message.
    #[error("could not assemble the message: {0}")]
    Assemble(#[from] lettre::error::Error),
}

/// Computes In-Reply-To and References for a reply from the Message-IDs of the case's
/// previous messages, oldest first: In-Reply-To is the newest, References all of them
/// (the first and the newest when there are more than 20).
pub fn chain_references(previous: &[String]) -> (Option<String>, Vec<String>) {
    let mut ids: Vec<String> = Vec::new();
    for id in previous {
        let id = id
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string();
        if !id.is_empty() && !ids.contains(&id) {
            ids.push(id);
        }
    }
    let in_reply_to = ids.last().cloned();
    if ids.len() > MAX_REFERENCES {
        let tail = ids.split_off(ids.len() - (MAX_REFERENCES - 1));
        ids.truncate(1);
        ids.extend(tail);
    }
    (in_reply_to, ids)
}

#[derive(Clone)]
struct AutoSubmitted(String);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Clone)]
struct AutoResponseSuppress(String);

impl Header for AutoResponseSuppress {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Auto-Response-Suppress")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

fn mailbox(a: &MailAddress) -> Result<Mailbox, BuildError> {
    let address = Address::from_str(a.address.trim())
        .map_err(|_| BuildError::InvalidAddress(a.address.clone()))?;
    Ok(Mailbox::new(
        a.name.clone().filter(|n| !n.trim().is_empty()),
        address,
    ))
}

fn bracket(id: &str) -> Result<String, BuildError> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    if id.is_empty()
        || !id.contains('@')
        || id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        || !id.is_ascii()
    {
        return Err(BuildError::InvalidMessageId(id.to_string()));
    }
    Ok(format!("<{id}>"))
}

/// Builds the lettre message for `mail`. Render it with [`Message::formatted`].
pub fn build_message(mail: &OutboundMail) -> Result<Message, BuildError> {
    if mail.to.is_empty() {
        return Err(BuildError::NoRecipient);
    }
    let subject = match mail.case_id {
        Some(case) if extract_subject_token(&mail.subject) != Some(case) => {
            format!("[#{case}] {}", mail.subject.trim())
        }
        _ => mail.subject.trim().to_string(),
    };
    let mut b = Message::builder()
        .from(mailbox(&mail.from)?)
        .subject(subject)
        .message_id(Some(bracket(&mail.message_id)?))
        .date(mail.date.unwrap_or_else(SystemTime::now));
    for to in &mail.to {
        b = b.to(mailbox(to)?);
    }
    for cc in &mail.cc {
        b = b.cc(mailbox(cc)?);
    }
    if let Some(r) = &mail.reply_to {
        b = b.reply_to(mailbox(r)?);
    }
    if let Some(parent) = &mail.in_reply_to {
        b = b.in_reply_to(bracket(parent)?);
    }
    if !mail.references.is_empty() {
        let refs = mail
            .references
            .iter()
            .map(|r| bracket(r))
            .collect::<Result<Vec<_>, _>>()?
            .join(" ");
        b = b.references(refs);
    }
    if mail.automatic {
        b = b
            .header(AutoSubmitted("auto-replied".to_string()))
            .header(AutoResponseSuppress("All".to_string()));
    }

    let alternative =
        |html: &String| MultiPart::alternative_plain_html(mail.text.clone(), html.clone());
    let message = match (&mail.html, mail.attachments.is_empty()) {
        (None, true) => b.singlepart(SinglePart::plain(mail.text.clone()))?,
        (Some(html), true) => b.multipart(alternative(html))?,
        (html, false) => {
            let mut mixed = match html {
                Some(html) => MultiPart::mixed().multipart(alternative(html)),
                None => MultiPart::mixed().singlepart(SinglePart::plain(mail.text.clone())),
            };
            for a in &mail.attachments {
                let ct = ContentType::parse(&a.content_type)
                    .map_err(|_| BuildError::InvalidContentType(a.content_type.clone()))?;
                let name = crate::sanitize::sanitize_filename(&a.filename, "attachment");
                mixed = mixed.singlepart(LettreAttachment::new(name).body(a.content.clone(), ct));
            }
            b.multipart(mixed)?
        }
    };
    Ok(message)
}

/// Successful hand-over of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    /// What the receiving side said: the SMTP response, or the outbox file path.
    pub detail: String,
}

/// A failed delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later (connection refused, timeout, 4xx reply, disk full).
    #[error("temporary delivery failure, retry later: {0}")]
    Transient(String),
    /// Will not succeed by retrying (5xx reply, invalid recipient, bad credentials).
    #[error("permanent delivery failure, do not retry: {0}")]
    Permanent(String),
}

impl SendError {
    /// True for failures a retry may fix.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// Boxed future returned by [`MailSender::send`].
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<SendReceipt, SendError>> + Send + 'a>>;

/// Something that delivers built messages: [`SmtpSender`], [`OutboxSender`], or a test fake.
pub trait MailSender: Send + Sync {
    /// Delivers one message (envelope taken from its headers).
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a>;
}

/// Transport security for SMTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text (only for a relay on localhost or a trusted network).
    None,
    /// STARTTLS upgrade, required (usually port 587).
    StartTls,
    /// Implicit TLS (usually port 465).
    Tls,
}

/// SMTP relay settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Relay host name.
    pub host: String,
    /// Port (25, 587, 465 ...).
    pub port: u16,
    /// Transport security.
    pub tls: TlsMode,
    /// Optional AUTH user name and password.
    pub credentials: Option<(String, String)>,
    /// Timeout per SMTP command.
    pub timeout: Duration,
    /// CA certificates trusted besides the webpki roots (a private CA).
    pub extra_roots: crate::tls::ExtraRoots,
}

/// Delivers through an SMTP relay with lettre (tokio, rustls).
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpSender {
    /// Creates the sender; no connection is made until the first message.
    pub fn new(config: &SmtpConfig) -> Result<Self, SendError> {
        use lettre::transport::smtp::client::{Tls, TlsParameters};
        let tls = |wrap: fn(TlsParameters) -> Tls| {
            config
                .extra_roots
                .lettre_parameters(&config.host)
                .map(wrap)
                .map_err(|e| {
                    SendError::Permanent(format!("SMTP TLS setup for {}: {e}", config.host))
                })
        };
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone());
        let builder = match config.tls {
            TlsMode::None => builder,
            TlsMode::StartTls => builder.tls(tls(Tls::Required)?),
            TlsMode::Tls => builder.tls(tls(Tls::Wrapper)?),
        };
        let mut builder = builder.port(config.port).timeout(Some(config.timeout));
        if let Some((user, pass)) = &config.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(Self {
            transport: builder.build(),
        })
    }
}

impl MailSender for SmtpSender {
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            match self.transport.send(message.clone()).await {
                Ok(response) => Ok(SendReceipt {
                    detail: format!(
                        "{} {}",
                        response.code(),
                        response.message().collect::<Vec<_>>().join(" ")
                    ),
                }),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                // A refused certificate is worth retrying: the operator may trust the CA
                // ([mail] tls_ca_file) or the relay may renew its certificate.
                Err(e) => Err(SendError::Transient(crate::tls::explain_certificate_error(
                    &e.to_string(),
                ))),
            }
        })
    }
}

/// Writes each message as an `.eml` file into a folder (the default outbox: no relay needed;
/// the console lists the folder). Files appear atomically (written to a temporary name, then
/// renamed).
pub struct OutboxSender {
    dir: PathBuf,
}

impl OutboxSender {
    /// Uses `dir`, which is created on first use.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn file_stem_for(message: &Message) -> String {
    let id = message
        .headers()
        .get_raw("Message-ID")
        .unwrap_or_default()
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                c
            } else {
                '_'
            }
        })
        .take(150)
        .collect();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    if safe.is_empty() {
        format!("{now}")
    } else {
        format!("{now}-{safe}")
    }
}

impl MailSender for OutboxSender {
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            let io = |what: &str, e: std::io::Error| {
                SendError::Transient(format!("{what} in outbox {}: {e}", self.dir.display()))
            };
            tokio::fs::create_dir_all(&self.dir)
                .await
                .map_err(|e| io("cannot create folder", e))?;
            let stem = file_stem_for(message);
            let tmp = self.dir.join(format!(".{stem}.tmp"));
            let path = self.dir.join(format!("{stem}.eml"));
            tokio::fs::write(&tmp, message.formatted())
                .await
                .map_err(|e| io("cannot write message", e))?;
            tokio::fs::rename(&tmp, &path)
                .await
                .map_err(|e| io("cannot move message into place", e))?;
            Ok(SendReceipt {
                detail: path.display().to_string(),
            })
        })
    }
}
