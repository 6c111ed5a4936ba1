//! Delivery status notifications (bounces, RFC 3464): which of our messages a report is
//! about, for which recipients, and why delivery failed.
//!
//! A standard report is `multipart/report; report-type=delivery-status` with a human part, a
//! `message/delivery-status` part (per-message fields, then one block per recipient:
//! `Final-Recipient`, `Action`, `Status`, `Diagnostic-Code`) and the original message or its
//! headers (`message/rfc822`, `text/rfc822-headers`). Non-standard bounces (Exim, qmail) put a
//! copy of the original headers into the text. The Message-IDs found are what the caller
//! matches against the messages it sent.

use crate::parse::{ParsedMail, normalize_message_id};

/// One recipient the report is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportedRecipient {
    /// `Final-Recipient` (or `Original-Recipient`), without the `rfc822;` type.
    pub recipient: Option<String>,
    /// `Action`: `failed`, `delayed`, `delivered`, `relayed`, `expanded` (lower-case).
    pub action: Option<String>,
    /// `Status`, e.g. `5.1.1`.
    pub status: Option<String>,
    /// `Diagnostic-Code`, without the `smtp;` type.
    pub diagnostic: Option<String>,
}

impl ReportedRecipient {
    /// Whether delivery to this recipient failed for good (action `failed` or a 5.x.x
    /// status); a `delayed` report is not a failure.
    pub fn failed(&self) -> bool {
        match self.action.as_deref() {
            Some("failed") => true,
            Some(_) => false,
            None => self.status.as_deref().is_some_and(|s| s.starts_with('5')),
        }
    }
}

/// What a delivery report says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Message-IDs of the original message (without angle brackets), most reliable first:
    /// the returned message or headers, then the report's own In-Reply-To/References, then
    /// ids quoted in the text.
    pub original_message_ids: Vec<String>,
    /// The recipients reported on (empty for a non-standard bounce).
    pub recipients: Vec<ReportedRecipient>,
}

impl DeliveryReport {
    /// Whether the report says delivery failed for good: a recipient `failed`, or — for a
    /// bounce without a machine-readable part — nothing says it was only delayed.
    pub fn failed(&self) -> bool {
        if self.recipients.is_empty() {
            return true;
        }
        self.recipients.iter().any(ReportedRecipient::failed)
    }

    /// A one-line reason for people: recipient, status and diagnostic of each failure.
    pub fn reason(&self) -> String {
        let parts: Vec<String> = self
            .recipients
            .iter()
            .filter(|r| r.failed())
            .map(|r| {
                let mut s = r.recipient.clone().unwrap_or_else(|| "recipient".into());
                if let Some(st) = &r.status {
                    s.push_str(&format!(" ({st})"));
                }
                if let Some(d) = &r.diagnostic {
                    s.push_str(": ");
                    s.push_str(d);
                }
                s
            })
            .collect();
        let text = if parts.is_empty() {
            "the receiving mail server returned the message as undeliverable".to_string()
        } else {
            format!("bounced: {}", parts.join("; "))
        };
        text.chars().take(1000).collect()
    }
}

/// Unfolded `name: value` fields of a header-like block, names lower-cased.
fn fields(block: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

/// The value after an address or diagnostic type (`rfc822; a@b` → `a@b`).
fn typed(v: &str) -> String {
    match v.split_once(';') {
        Some((_, rest)) => rest.trim().to_string(),
        None => v.trim().to_string(),
    }
}

fn blocks(text: &str) -> Vec<String> {
    let text = text.replace("\r\n", "\n");
    text.split("\n\n")
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(str::to_string)
        .collect()
}

fn push_id(ids: &mut Vec<String>, raw: &str) {
    for piece in raw.split_whitespace() {
        if let Some(id) = normalize_message_id(piece)
            && id.contains('@')
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
}

/// The Message-ID fields of a header block (the returned original or its headers).
fn message_ids_in_headers(text: &str, ids: &mut Vec<String>) {
    let head = text
        .replace("\r\n", "\n")
        .split("\n\n")
        .next()
        .unwrap_or("")
        .to_string();
    for (k, v) in fields(&head) {
        if k == "message-id" {
            push_id(ids, &v);
        }
    }
}

/// Reads a delivery report out of a parsed bounce. `None` when the mail carries nothing that
/// identifies the original message.
pub fn delivery_report(mail: &ParsedMail) -> Option<DeliveryReport> {
    let mut report = DeliveryReport::default();
    let mut returned_ids = Vec::new();
    for a in &mail.attachments {
        let text = String::from_utf8_lossy(&a.content);
        match a.content_type.as_str() {
            "message/delivery-status" | "message/global-delivery-status" => {
                for (n, block) in blocks(&text).iter().enumerate() {
                    let f = fields(block);
                    let get = |name: &str| {
                        f.iter()
                            .find(|(k, _)| k == name)
                            .map(|(_, v)| v.clone())
                            .filter(|v| !v.is_empty())
                    };
                    // The first block is about the message; some MTAs put an original id
                    // there (`X-Original-Message-ID`, `Original-Message-ID`).
                    for key in ["original-message-id", "x-original-message-id"] {
                        if let Some(v) = get(key) {
                            push_id(&mut returned_ids, &v);
                        }
                    }
                    let recipient = get("final-recipient")
                        .or_else(|| get("original-recipient"))
                        .map(|v| typed(&v));
                    if n == 0 && recipient.is_none() {
                        continue;
                    }
                    if recipient.is_none() && get("action").is_none() && get("status").is_none() {
                        continue;
                    }
                    report.recipients.push(ReportedRecipient {
                        recipient,
                        action: get("action").map(|a| a.to_ascii_lowercase()),
                        status: get("status")
                            .map(|s| s.split_whitespace().next().unwrap_or("").to_string()),
                        diagnostic: get("diagnostic-code").map(|d| typed(&d)),
                    });
                }
            }
            "message/rfc822"
            | "message/global"
            | "text/rfc822-headers"
            | "message/global-headers" => message_ids_in_headers(&text, &mut returned_ids),
            _ => {}
        }
    }
    let mut ids = returned_ids;
    for id in mail.in_reply_to.iter().chain(mail.references.iter()) {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    // Non-standard bounces quote the original headers in the text.
    if let Some(text) = &mail.text_body {
        for line in text.lines() {
            let t = line.trim_start_matches(['>', ' ', '\t']);
            if let Some((k, v)) = t.split_once(':')
                && k.trim().eq_ignore_ascii_case("message-id")
            {
                push_id(&mut ids, v);
            }
        }
    }
    // The report's own Message-ID is never the original.
    if let Some(own) = &mail.message_id {
        ids.retain(|i| i != own);
    }
    report.original_message_ids = ids;
    (!report.original_message_ids.is_empty()).then_some(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{ParseLimits, parse};

    fn dsn(action: &str, status: &str) -> Vec<u8> {
        format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n\
             To: support@shop.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\
             Message-ID: <bounce-1@mx.example.net>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
             --B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n\
             --B\r\nContent-Type: message/delivery-status\r\n\r\n\
             Reporting-MTA: dns; mx.example.net\r\nArrival-Date: Tue, 1 Jul 2025 10:00:00 +0000\r\n\r\n\
             Final-Recipient: rfc822; jane@example.com\r\nOriginal-Recipient: rfc822;jane@example.com\r\n\
             Action: {action}\r\nStatus: {status}\r\n\
             Diagnostic-Code: smtp; 550 5.1.1 <jane@example.com>: Recipient address\r\n rejected: User unknown\r\n\r\n\
             --B\r\nContent-Type: text/rfc822-headers\r\n\r\n\
             From: support@shop.example\r\nTo: jane@example.com\r\nSubject: [#4] Re: Parcel\r\n\
             Message-ID: <c4.m9.abc@shop.example>\r\n\r\n--B--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn a_standard_report_names_the_original_and_the_reason() {
        let m = parse(&dsn("failed", "5.1.1"), &ParseLimits::default()).unwrap();
        let r = delivery_report(&m).unwrap();
        assert_eq!(r.original_message_ids, vec!["c4.m9.abc@shop.example"]);
        assert!(r.failed());
        let reason = r.reason();
        assert!(reason.contains("jane@example.com (5.1.1)"), "{reason}");
        assert!(reason.contains("User unknown"), "{reason}");
    }

    #[test]
    fn a_delay_report_is_not_a_failure() {
        let m = parse(&dsn("delayed", "4.4.1"), &ParseLimits::default()).unwrap();
        let r = delivery_report(&m).unwrap();
        assert!(!r.failed());
    }

    #[test]
    fn a_bounce_quoting_the_headers_in_its_text_is_understood() {
        let raw = b"From: MAILER-DAEMON@mx.example.net\r\nTo: support@shop.example\r\n\
            Subject: Mail delivery failed\r\n\r\nThis message was created automatically.\r\n\
            A message that you sent could not be delivered.\r\n\r\n\
            ------ This is a copy of the message, including all the headers. ------\r\n\
            Message-Id: <c4.m9.abc@shop.example>\r\nSubject: hello\r\n";
        let m = parse(raw, &ParseLimits::default()).unwrap();
        let r = delivery_report(&m).unwrap();
        assert_eq!(r.original_message_ids, vec!["c4.m9.abc@shop.example"]);
        assert!(r.failed());
    }

    #[test]
    fn a_bounce_naming_no_message_is_no_report() {
        let raw =
            b"From: MAILER-DAEMON@mx.example.net\r\nSubject: failure\r\n\r\nsomething failed\r\n";
        let m = parse(raw, &ParseLimits::default()).unwrap();
        assert!(delivery_report(&m).is_none());
    }
}
