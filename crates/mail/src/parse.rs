//! Parsing raw RFC 5322 messages into [`ParsedMail`], bounded and panic-free.
//!
//! The raw bytes are parsed by mail-parser 0.11 (iterative, no recursion for multipart
//! nesting); this module then extracts what Concierge needs and enforces [`ParseLimits`]:
//! a message larger than `max_message_bytes` is rejected with [`ParseError::TooLarge`], parts
//! beyond `max_parts` or deeper than `max_depth` are not extracted (recorded in
//! [`ParsedMail::limits_hit`]), an attachment larger than `max_attachment_bytes` is recorded
//! without its bytes ([`AttachmentSkip::TooLarge`]), and text longer than `max_text_bytes` is
//! cut. A panic inside the underlying parser is caught and reported as
//! [`ParseError::ParserPanicked`], so a poison message is quarantined rather than crashing
//! the pipeline.

use std::borrow::Cow;

use mail_parser::{Address, Encoding, HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

use crate::charset::{
    CharsetReport, PartCharset, count_replacements, decode_with_fallback, mail_parser_knows,
    unknown_encoded_word_charsets,
};
use crate::sanitize::{is_dangerous_filename, sanitize_filename, sanitize_html};

/// Bounds applied while parsing. The defaults suit a helpdesk: 100 MiB messages,
/// 25 MiB attachments, 500 parts, nesting depth 32, 8 MiB of text per body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLimits {
    /// Larger raw messages are rejected ([`ParseError::TooLarge`]) before parsing.
    pub max_message_bytes: usize,
    /// Larger attachments are recorded (name, type, size) without their bytes.
    pub max_attachment_bytes: usize,
    /// At most this many MIME parts are extracted; the rest are counted and skipped.
    pub max_parts: usize,
    /// Parts nested deeper than this are skipped.
    pub max_depth: usize,
    /// Text and HTML bodies are cut at this many bytes.
    pub max_text_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 100 * 1024 * 1024,
            max_attachment_bytes: 25 * 1024 * 1024,
            max_parts: 500,
            max_depth: 32,
            max_text_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Why a message could not be parsed at all. The caller keeps the raw bytes in quarantine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The input was empty.
    #[error("the message is empty (0 bytes); nothing to parse")]
    Empty,
    /// The input exceeds `ParseLimits::max_message_bytes`.
    #[error(
        "the message is {size} bytes, above the limit of {limit} bytes; raise \
         ParseLimits::max_message_bytes or reject it at the MTA"
    )]
    TooLarge {
        /// Size of the raw message.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// No header could be found: this is not an RFC 5322 message.
    #[error("no RFC 5322 header found in {size} bytes; the input is not a mail message")]
    NoHeaders {
        /// Size of the raw message.
        size: usize,
    },
    /// The underlying parser panicked on this input (a bug in it); the message must be
    /// quarantined.
    #[error("the MIME parser failed on this input ({0}); quarantine it and report the sample")]
    ParserPanicked(String),
}

/// A mailbox: an address and an optional display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAddress {
    /// The address as written (`Jane.Doe@Example.com`), trimmed.
    pub address: String,
    /// Decoded display name, if any.
    pub name: Option<String>,
}

impl MailAddress {
    /// Builds an address with an optional name.
    pub fn new(address: impl Into<String>, name: Option<String>) -> Self {
        Self {
            address: address.into(),
            name,
        }
    }

    /// The address lower-cased for comparison and lookups.
    pub fn normalized(&self) -> String {
        self.address.trim().to_lowercase()
    }
}

/// Why an attachment's bytes were not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentSkip {
    /// The decoded attachment exceeded `ParseLimits::max_attachment_bytes`.
    TooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
}

/// An attachment or inline part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Sanitised file name, never empty.
    pub filename: String,
    /// The name as the sender declared it (decoded), for the record; never use it as a path.
    pub original_filename: Option<String>,
    /// Lower-cased MIME type, e.g. `application/pdf`.
    pub content_type: String,
    /// Decoded size in bytes (also when the bytes were skipped).
    pub size: usize,
    /// True for inline parts (e.g. images referenced from the HTML by `cid:`).
    pub inline: bool,
    /// Content-ID without angle brackets.
    pub content_id: Option<String>,
    /// Active or executable content (`.html`, `.svg`, `.js`, `.htaccess`, `.exe` ...): serve
    /// only as a download.
    pub dangerous: bool,
    /// SHA-256 of the decoded bytes, lower-case hex (computed even when skipped).
    pub sha256: String,
    /// The decoded bytes; empty when `skipped` is set.
    pub content: Vec<u8>,
    /// Set when the bytes were not kept.
    pub skipped: Option<AttachmentSkip>,
}

/// A limit that was reached while parsing; the message was still kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitHit {
    /// More than `max_parts` parts; `skipped` parts were not extracted.
    TooManyParts {
        /// The configured limit.
        limit: usize,
        /// Number of parts not extracted.
        skipped: usize,
    },
    /// Parts nested deeper than `max_depth` were not extracted.
    TooDeep {
        /// The configured limit.
        limit: usize,
        /// Number of parts not extracted.
        skipped: usize,
    },
    /// A body was cut at `max_text_bytes`.
    TextTruncated {
        /// The configured limit.
        limit: usize,
    },
    /// At least one attachment was larger than `max_attachment_bytes`.
    AttachmentTooLarge {
        /// The attachment's sanitised name.
        filename: String,
        /// Its size in bytes.
        size: usize,
    },
    /// The MIME structure was damaged (e.g. a missing boundary); what could be recovered was
    /// kept.
    MalformedMime,
}

/// Header values that matter for loop and auto-reply detection ([`crate::classify()`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopHeaders {
    /// `Auto-Submitted` (RFC 3834).
    pub auto_submitted: Option<String>,
    /// `Precedence`.
    pub precedence: Option<String>,
    /// `X-Autoreply`.
    pub x_autoreply: Option<String>,
    /// `X-Autorespond`.
    pub x_autorespond: Option<String>,
    /// `X-Auto-Response-Suppress` (Exchange).
    pub x_auto_response_suppress: Option<String>,
    /// `List-Id`.
    pub list_id: Option<String>,
    /// `List-Unsubscribe`.
    pub list_unsubscribe: Option<String>,
    /// `X-Loop`.
    pub x_loop: Option<String>,
    /// `X-Failed-Recipients` (Exim bounces).
    pub x_failed_recipients: Option<String>,
    /// Top-level MIME type, lower-case (`multipart/report`).
    pub content_type: Option<String>,
    /// The `report-type` parameter of a `multipart/report` (`delivery-status`).
    pub report_type: Option<String>,
}

/// Everything Concierge needs from one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMail {
    /// Message-ID without angle brackets; `None` when missing or empty.
    pub message_id: Option<String>,
    /// In-Reply-To ids without angle brackets (usually one).
    pub in_reply_to: Vec<String>,
    /// References ids without angle brackets, oldest first.
    pub references: Vec<String>,
    /// Decoded subject.
    pub subject: Option<String>,
    /// First From address.
    pub from: Option<MailAddress>,
    /// Sender header.
    pub sender: Option<MailAddress>,
    /// To addresses.
    pub to: Vec<MailAddress>,
    /// Cc addresses.
    pub cc: Vec<MailAddress>,
    /// Reply-To addresses.
    pub reply_to: Vec<MailAddress>,
    /// Return-Path without angle brackets: `Some("")` is the null sender `<>` of bounces.
    pub return_path: Option<String>,
    /// Delivered-To / X-Original-To addresses added by the receiving MTA.
    pub delivered_to: Vec<String>,
    /// Date header, when it parses.
    pub date: Option<jiff::Timestamp>,
    /// Plain-text body (from text parts, or converted from HTML when there is none).
    pub text_body: Option<String>,
    /// Original HTML body, unsanitised: never render it.
    pub html_body: Option<String>,
    /// Sanitised HTML body, safe to render.
    pub sanitized_html: Option<String>,
    /// Attachments and inline parts.
    pub attachments: Vec<Attachment>,
    /// Loop and auto-reply headers.
    pub loop_headers: LoopHeaders,
    /// SHA-256 of the raw bytes, lower-case hex (deduplication of messages without
    /// Message-ID).
    pub content_sha256: String,
    /// Size of the raw message.
    pub raw_size: usize,
    /// How charsets were decoded, including fallbacks.
    pub charset: CharsetReport,
    /// Limits reached and damage recovered from.
    pub limits_hit: Vec<LimitHit>,
}

/// Lower-case hex of a SHA-256 digest.
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// Normalises a message id: trims whitespace and angle brackets; `None` when empty or
/// absurdly long (> 998 bytes, the RFC 5322 line limit).
pub fn normalize_message_id(id: &str) -> Option<String> {
    let t = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    if t.is_empty() || t.len() > 998 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        None
    } else {
        Some(t.to_string())
    }
}

/// Parses a raw RFC 5322 message within `limits`.
///
/// Never panics and never loops unboundedly. Damaged MIME is recovered as far as possible and
/// noted in [`ParsedMail::limits_hit`]; only hopeless input returns a [`ParseError`], and the
/// caller then keeps the raw bytes in quarantine.
pub fn parse(raw: &[u8], limits: &ParseLimits) -> Result<ParsedMail, ParseError> {
    if raw.is_empty() {
        return Err(ParseError::Empty);
    }
    if raw.len() > limits.max_message_bytes {
        return Err(ParseError::TooLarge {
            size: raw.len(),
            limit: limits.max_message_bytes,
        });
    }
    let outcome = std::panic::catch_unwind(|| {
        let message = MessageParser::default().parse(raw)?;
        Some(extract(&message, raw, limits))
    });
    match outcome {
        Ok(Some(mail)) => Ok(mail),
        Ok(None) => Err(ParseError::NoHeaders { size: raw.len() }),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(ParseError::ParserPanicked(what))
        }
    }
}

fn extract(message: &Message<'_>, raw: &[u8], limits: &ParseLimits) -> ParsedMail {
    let mut limits_hit = Vec::new();
    let mut charset_report = CharsetReport::default();

    // ---- headers -------------------------------------------------------------------------
    let message_id = message.message_id().and_then(normalize_message_id);
    let in_reply_to = id_list(message.in_reply_to());
    let references = id_list(message.references());
    let subject = message.subject().map(collapse_ws);
    let from = message.from().and_then(|a| addresses(a).into_iter().next());
    let sender = message
        .sender()
        .and_then(|a| addresses(a).into_iter().next());
    let to = message.to().map(addresses).unwrap_or_default();
    let cc = message.cc().map(addresses).unwrap_or_default();
    let reply_to = message.reply_to().map(addresses).unwrap_or_default();
    let return_path = raw_header(message, "Return-Path").map(|v| {
        let v = v.trim();
        let v = v.strip_prefix('<').unwrap_or(v);
        let v = v.split('>').next().unwrap_or(v);
        v.trim().to_string()
    });
    let mut delivered_to = Vec::new();
    for name in [
        "Delivered-To",
        "X-Original-To",
        "Envelope-To",
        "X-Envelope-To",
    ] {
        for v in raw_headers(message, name) {
            let v = v
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim();
            if !v.is_empty()
                && !delivered_to
                    .iter()
                    .any(|d: &String| d.eq_ignore_ascii_case(v))
            {
                delivered_to.push(v.to_string());
            }
        }
    }
    let date = message
        .date()
        .filter(|d| d.is_valid())
        .and_then(|d| jiff::Timestamp::from_second(d.to_timestamp()).ok());

    for name in ["Subject", "From", "To", "Cc", "Reply-To", "Sender"] {
        if let Some(v) = raw_header(message, name) {
            for label in unknown_encoded_word_charsets(&v) {
                if !charset_report
                    .unknown_header_charsets
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(&label))
                {
                    charset_report.unknown_header_charsets.push(label);
                }
            }
        }
    }

    let root_ct = message.root_part().content_type();
    let loop_headers = LoopHeaders {
        auto_submitted: raw_header(message, "Auto-Submitted"),
        precedence: raw_header(message, "Precedence"),
        x_autoreply: raw_header(message, "X-Autoreply"),
        x_autorespond: raw_header(message, "X-Autorespond"),
        x_auto_response_suppress: raw_header(message, "X-Auto-Response-Suppress"),
        list_id: raw_header(message, "List-Id"),
        list_unsubscribe: raw_header(message, "List-Unsubscribe"),
        x_loop: raw_header(message, "X-Loop"),
        x_failed_recipients: raw_header(message, "X-Failed-Recipients"),
        content_type: root_ct.map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        }),
        report_type: root_ct
            .and_then(|ct| ct.attribute("report-type"))
            .map(|s| s.trim().to_ascii_lowercase()),
    };

    // ---- structure: depth of every part, iteratively ---------------------------------------
    let part_count = message.parts.len();
    let mut depth = vec![usize::MAX; part_count];
    if part_count > 0 {
        depth[0] = 0;
        let mut stack = vec![0usize];
        while let Some(id) = stack.pop() {
            if let Some(PartType::Multipart(children)) = message.parts.get(id).map(|p| &p.body) {
                let d = depth[id].saturating_add(1);
                for &child in children {
                    let child = child as usize;
                    if child < part_count && depth[child] == usize::MAX {
                        depth[child] = d;
                        stack.push(child);
                    }
                }
            }
        }
    }
    let mut too_deep = 0usize;
    let mut too_many = 0usize;
    let allowed = |id: usize, too_deep: &mut usize, too_many: &mut usize| -> bool {
        if id >= limits.max_parts {
            *too_many += 1;
            return false;
        }
        // Parts not reachable from the root (usize::MAX) come from damaged structure;
        // mail-parser still recovered them, so keep them unless the part budget is spent.
        let d = depth.get(id).copied().unwrap_or(usize::MAX);
        if d != usize::MAX && d > limits.max_depth {
            *too_deep += 1;
            return false;
        }
        true
    };
    if message.parts.iter().any(|p| p.is_encoding_problem) {
        limits_hit.push(LimitHit::MalformedMime);
    }

    // ---- bodies ----------------------------------------------------------------------------
    let mut texts: Vec<String> = Vec::new();
    for &id in &message.text_body {
        let id = id as usize;
        if !allowed(id, &mut too_deep, &mut too_many) {
            continue;
        }
        let Some(part) = message.parts.get(id) else {
            continue;
        };
        match &part.body {
            PartType::Text(t) => {
                let (text, report) = decode_part_text(message, id, t);
                charset_report.parts.push(report);
                texts.push(text);
            }
            PartType::Html(h) => {
                let (html, report) = decode_part_text(message, id, h);
                charset_report.parts.push(report);
                texts.push(mail_parser::decoders::html::html_to_text(&html));
            }
            _ => {}
        }
    }
    let mut htmls: Vec<String> = Vec::new();
    for &id in &message.html_body {
        let id = id as usize;
        if !allowed(id, &mut too_deep, &mut too_many) {
            continue;
        }
        let Some(part) = message.parts.get(id) else {
            continue;
        };
        // A text part standing in for a missing HTML alternative is skipped: HTML stays
        // absent rather than invented.
        if let PartType::Html(h) = &part.body {
            let (html, report) = decode_part_text(message, id, h);
            if !message.text_body.contains(&(id as u32)) {
                charset_report.parts.push(report);
            }
            htmls.push(html);
        }
    }
    // A damaged root (e.g. multipart without any boundary) leaves mail-parser with a text
    // "attachment" and no body: use the root's text as the body then.
    let mut body_from_root = false;
    if texts.is_empty()
        && htmls.is_empty()
        && let Some(root) = message.parts.first()
    {
        match &root.body {
            PartType::Text(t) => {
                let (text, report) = decode_part_text(message, 0, t);
                charset_report.parts.push(report);
                texts.push(text);
                body_from_root = true;
            }
            PartType::Html(h) => {
                let (html, report) = decode_part_text(message, 0, h);
                charset_report.parts.push(report);
                texts.push(mail_parser::decoders::html::html_to_text(&html));
                htmls.push(html);
                body_from_root = true;
            }
            PartType::Binary(b)
                if root
                    .content_type()
                    .is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("multipart")) =>
            {
                // multipart without a boundary: its body can only be read as text.
                let (text, report) =
                    decode_with_fallback(b, declared_charset(message, 0).as_deref());
                charset_report.parts.push(report);
                texts.push(text);
                body_from_root = true;
                if !limits_hit.contains(&LimitHit::MalformedMime) {
                    limits_hit.push(LimitHit::MalformedMime);
                }
            }
            _ => {}
        }
    }
    let mut text_truncated = false;
    let text_body = join_bodies(texts, limits.max_text_bytes, &mut text_truncated);
    let html_body = join_bodies(htmls, limits.max_text_bytes, &mut text_truncated);
    if text_truncated {
        limits_hit.push(LimitHit::TextTruncated {
            limit: limits.max_text_bytes,
        });
    }
    let sanitized_html = html_body.as_deref().map(sanitize_html);

    // ---- attachments -----------------------------------------------------------------------
    let mut attachments = Vec::new();
    for (n, &id) in message.attachments.iter().enumerate() {
        let id = id as usize;
        if body_from_root && id == 0 {
            continue;
        }
        if !allowed(id, &mut too_deep, &mut too_many) {
            continue;
        }
        let Some(part) = message.parts.get(id) else {
            continue;
        };
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_string(),
            })
            .map(|s| s.trim().to_ascii_lowercase())
            .unwrap_or_else(|| match &part.body {
                PartType::Message(_) => "message/rfc822".to_string(),
                PartType::Text(_) => "text/plain".to_string(),
                PartType::Html(_) => "text/html".to_string(),
                _ => "application/octet-stream".to_string(),
            });
        let bytes: Cow<'_, [u8]> = match &part.body {
            PartType::Binary(b) | PartType::InlineBinary(b) => Cow::Borrowed(b.as_ref()),
            PartType::Text(_) | PartType::Html(_) => Cow::Owned(transfer_decoded(message, id)),
            PartType::Message(m) => Cow::Borrowed(m.raw_message()),
            PartType::Multipart(_) => continue,
        };
        let original_filename =
            part.attachment_name()
                .map(|s| s.to_string())
                .or_else(|| match &part.body {
                    PartType::Message(m) => m.subject().map(|s| format!("{s}.eml")),
                    _ => None,
                });
        let fallback = format!("attachment-{}{}", n + 1, extension_for(&content_type));
        let filename = match &original_filename {
            Some(name) => sanitize_filename(name, &fallback),
            None => fallback.clone(),
        };
        let disposition_inline = part
            .content_disposition()
            .is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline"));
        let inline = matches!(part.body, PartType::InlineBinary(_)) || disposition_inline;
        let content_id = part.content_id().and_then(normalize_message_id);
        let dangerous = is_dangerous_filename(&filename, &content_type)
            || original_filename
                .as_deref()
                .is_some_and(|o| is_dangerous_filename(&sanitize_filename(o, ""), ""));
        let size = bytes.len();
        let sha256 = sha256_hex(&bytes);
        let (content, skipped) = if size > limits.max_attachment_bytes {
            limits_hit.push(LimitHit::AttachmentTooLarge {
                filename: filename.clone(),
                size,
            });
            (
                Vec::new(),
                Some(AttachmentSkip::TooLarge {
                    limit: limits.max_attachment_bytes,
                }),
            )
        } else {
            (bytes.into_owned(), None)
        };
        attachments.push(Attachment {
            filename,
            original_filename,
            content_type,
            size,
            inline,
            content_id,
            dangerous,
            sha256,
            content,
            skipped,
        });
    }
    if too_many > 0 {
        limits_hit.push(LimitHit::TooManyParts {
            limit: limits.max_parts,
            skipped: too_many,
        });
    }
    if too_deep > 0 {
        limits_hit.push(LimitHit::TooDeep {
            limit: limits.max_depth,
            skipped: too_deep,
        });
    }

    ParsedMail {
        message_id,
        in_reply_to,
        references,
        subject,
        from,
        sender,
        to,
        cc,
        reply_to,
        return_path,
        delivered_to,
        date,
        text_body,
        html_body,
        sanitized_html,
        attachments,
        loop_headers,
        content_sha256: sha256_hex(raw),
        raw_size: raw.len(),
        charset: charset_report,
        limits_hit,
    }
}

fn join_bodies(parts: Vec<String>, max: usize, truncated: &mut bool) -> Option<String> {
    if parts.is_empty() {
        return None;
    }
    let mut out = parts.join("\n");
    if out.len() > max {
        let mut cut = max;
        while cut > 0 && !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        *truncated = true;
    }
    Some(out)
}

fn extension_for(content_type: &str) -> &'static str {
    match content_type {
        "message/rfc822" | "message/global" => ".eml",
        "text/plain" => ".txt",
        "text/html" => ".html",
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "image/gif" => ".gif",
        "application/pdf" => ".pdf",
        "message/delivery-status" => ".txt",
        _ => ".bin",
    }
}

/// The declared charset of a part, from its Content-Type.
fn declared_charset(message: &Message<'_>, id: usize) -> Option<String> {
    message
        .parts
        .get(id)
        .and_then(|p| p.content_type())
        .and_then(|ct| ct.attribute("charset"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The body bytes of a part after undoing its Content-Transfer-Encoding.
fn transfer_decoded(message: &Message<'_>, id: usize) -> Vec<u8> {
    let Some(part) = message.parts.get(id) else {
        return Vec::new();
    };
    let raw = message.raw_message();
    let start = (part.offset_body as usize).min(raw.len());
    let end = (part.offset_end as usize).clamp(start, raw.len());
    let body = &raw[start..end];
    let mut encoding = part.encoding;
    if part.is_encoding_problem {
        // The parser gave up on the part's end (e.g. a missing closing boundary) and kept it
        // raw; the declared transfer encoding still applies to what was recovered.
        encoding = match part.content_transfer_encoding() {
            Some(cte) if cte.trim().eq_ignore_ascii_case("base64") => Encoding::Base64,
            Some(cte) if cte.trim().eq_ignore_ascii_case("quoted-printable") => {
                Encoding::QuotedPrintable
            }
            _ => Encoding::None,
        };
    }
    match encoding {
        Encoding::Base64 => {
            mail_parser::decoders::base64::base64_decode(body).unwrap_or_else(|| body.to_vec())
        }
        Encoding::QuotedPrintable => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(body)
                .unwrap_or_else(|| body.to_vec())
        }
        Encoding::None => body.to_vec(),
    }
}

/// Decides whether mail-parser's decoding of a text part can be trusted, and re-decodes it
/// with the fallback rules of [`charset`] when it cannot.
fn decode_part_text(message: &Message<'_>, id: usize, parsed: &str) -> (String, PartCharset) {
    let declared = declared_charset(message, id);
    let replacements = count_replacements(parsed);
    match declared.as_deref() {
        Some(label) if mail_parser_knows(label) => {
            let is_utf8 = label.eq_ignore_ascii_case("utf-8") || label.eq_ignore_ascii_case("utf8");
            if is_utf8 && replacements > 0 {
                // Declared UTF-8 but the bytes are not: check the source and fall back.
                let bytes = transfer_decoded(message, id);
                if std::str::from_utf8(&bytes).is_err() {
                    let (text, mut report) = decode_with_fallback(&bytes, None);
                    report.declared = Some(label.to_string());
                    report.fell_back = true;
                    return (text, report);
                }
            }
            (
                parsed.to_string(),
                PartCharset {
                    declared: Some(label.to_string()),
                    used: label.to_ascii_lowercase(),
                    fell_back: false,
                    replacement_chars: replacements,
                },
            )
        }
        Some(label) => {
            // Unknown to mail-parser: it produced lossy UTF-8. Decode the bytes ourselves.
            let bytes = transfer_decoded(message, id);
            decode_with_fallback(&bytes, Some(label))
        }
        None if replacements > 0 => {
            let bytes = transfer_decoded(message, id);
            if std::str::from_utf8(&bytes).is_err() {
                decode_with_fallback(&bytes, None)
            } else {
                (
                    parsed.to_string(),
                    PartCharset {
                        declared: None,
                        used: "UTF-8".to_string(),
                        fell_back: false,
                        replacement_chars: replacements,
                    },
                )
            }
        }
        None => (
            parsed.to_string(),
            PartCharset {
                declared: None,
                used: "UTF-8".to_string(),
                fell_back: false,
                replacement_chars: 0,
            },
        ),
    }
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn addresses(a: &Address<'_>) -> Vec<MailAddress> {
    a.iter()
        .filter_map(|addr| {
            let address = addr.address()?.trim();
            if address.is_empty() {
                return None;
            }
            let name = addr
                .name()
                .map(collapse_ws)
                .filter(|n| !n.is_empty() && n != address);
            Some(MailAddress::new(address, name))
        })
        .collect()
}

fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        // Some clients put several ids in one token list without brackets.
        for piece in s.split(|c: char| c.is_whitespace() || c == ',') {
            if let Some(id) = normalize_message_id(piece)
                && !out.contains(&id)
            {
                out.push(id);
            }
        }
    };
    match value {
        HeaderValue::Text(t) => push(t),
        HeaderValue::TextList(list) => list.iter().for_each(|t| push(t)),
        _ => {}
    }
    out
}

/// All raw values of a top-level header, unfolded and trimmed (lossy UTF-8).
fn raw_headers(message: &Message<'_>, name: &str) -> Vec<String> {
    let raw = message.raw_message();
    message
        .root_part()
        .headers()
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .filter_map(|h| {
            let start = h.offset_start() as usize;
            let end = h.offset_end() as usize;
            raw.get(start..end.max(start))
        })
        .map(|bytes| {
            let s = String::from_utf8_lossy(bytes);
            s.replace(['\r', '\n'], " ").trim().to_string()
        })
        .collect()
}

/// The first raw value of a top-level header.
fn raw_header(message: &Message<'_>, name: &str) -> Option<String> {
    raw_headers(message, name).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_normalised() {
        assert_eq!(normalize_message_id(" <a@b> "), Some("a@b".to_string()));
        assert_eq!(normalize_message_id("<>"), None);
        assert_eq!(normalize_message_id("a b@c"), None);
    }

    #[test]
    fn basic_fields() {
        let raw = b"From: =?utf-8?B?5byg5LiJ?= <zhang@example.cn>\r\n\
To: support@shop.example, Bob <bob@x.example>\r\n\
Cc: c@x.example\r\n\
Subject: Hello\r\n   world\r\n\
Message-ID: <abc@x>\r\n\
In-Reply-To: <p1@x>\r\n\
References: <p0@x> <p1@x>\r\n\
Return-Path: <>\r\n\
Date: Tue, 1 Mar 2011 18:02:00 +0530\r\n\
Auto-Submitted: auto-replied\r\n\
\r\n\
Body\r\n";
        let m = parse(raw, &ParseLimits::default()).unwrap();
        assert_eq!(m.message_id.as_deref(), Some("abc@x"));
        assert_eq!(m.in_reply_to, vec!["p1@x"]);
        assert_eq!(m.references, vec!["p0@x", "p1@x"]);
        assert_eq!(m.subject.as_deref(), Some("Hello world"));
        let from = m.from.unwrap();
        assert_eq!(from.address, "zhang@example.cn");
        assert_eq!(from.name.as_deref(), Some("张三"));
        assert_eq!(m.to.len(), 2);
        assert_eq!(m.cc[0].address, "c@x.example");
        assert_eq!(m.return_path.as_deref(), Some(""));
        assert_eq!(
            m.loop_headers.auto_submitted.as_deref(),
            Some("auto-replied")
        );
        assert_eq!(m.text_body.as_deref().map(str::trim), Some("Body"));
        assert_eq!(m.date.unwrap().as_second(), 1_298_982_720);
        assert_eq!(m.content_sha256, sha256_hex(raw));
        assert_eq!(m.content_sha256.len(), 64);
    }

    #[test]
    fn empty_and_oversized_are_errors() {
        assert_eq!(parse(b"", &ParseLimits::default()), Err(ParseError::Empty));
        let limits = ParseLimits {
            max_message_bytes: 10,
            ..ParseLimits::default()
        };
        assert!(matches!(
            parse(b"Subject: 12345678901\r\n\r\nx", &limits),
            Err(ParseError::TooLarge { .. })
        ));
    }
}
