//! Loop and auto-reply classification: which mail must never be answered automatically.
//!
//! Signals: `Auto-Submitted` other than `no` (RFC 3834), `Precedence: bulk/junk/list`,
//! `X-Autoreply` / `X-Autorespond`, `X-Auto-Response-Suppress`, `X-Loop`, `List-Id` /
//! `List-Unsubscribe`, bounces (`multipart/report; report-type=delivery-status`, mailer-daemon
//! or postmaster senders, the null Return-Path `<>`, `X-Failed-Recipients`) and mail sent from
//! one of our own addresses. Such mail is still recorded; only automatic answers are off.

use crate::parse::ParsedMail;

/// The overall kind of a message, from most to least specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailClass {
    /// Written by a person (as far as headers tell).
    Human,
    /// An automatic reply (vacation notice, ticket acknowledgement ...).
    AutoReply,
    /// Bulk or junk mail (newsletters, `Precedence: bulk`).
    Bulk,
    /// Mailing-list traffic (`List-Id`).
    MailingList,
    /// A bounce / delivery status notification.
    Bounce,
    /// Sent by one of our own outbound addresses: answering it would loop.
    OwnMail,
}

/// One reason that contributed to a classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopReason {
    /// `Auto-Submitted` with a value other than `no`.
    AutoSubmitted(String),
    /// `Precedence: bulk`, `junk` or `list`.
    Precedence(String),
    /// `X-Autoreply` present.
    XAutoreply,
    /// `X-Autorespond` present.
    XAutorespond,
    /// `X-Auto-Response-Suppress` asks not to be answered (`All`, `AutoReply`, `OOF`).
    AutoResponseSuppress(String),
    /// `X-Loop` present.
    XLoop(String),
    /// `List-Id` present.
    ListId(String),
    /// `List-Unsubscribe` present (bulk sender).
    ListUnsubscribe,
    /// `multipart/report` with `report-type=delivery-status` (RFC 3464).
    DeliveryStatusReport,
    /// `X-Failed-Recipients` present (Exim-style bounce).
    FailedRecipients,
    /// The sender is a mailer daemon or postmaster.
    DaemonSender(String),
    /// `Return-Path: <>`, the null sender of notifications.
    NullReturnPath,
    /// From, Sender or Return-Path is one of our own addresses.
    OwnAddress(String),
}

/// Result of [`classify`]: the kind and every reason found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The most specific kind found.
    pub class: MailClass,
    /// All signals that were found (empty for [`MailClass::Human`]).
    pub reasons: Vec<LoopReason>,
}

impl Classification {
    /// Whether an automatic answer (acknowledgement, auto-responder) may be sent.
    /// Only human mail may be answered automatically.
    pub fn may_auto_reply(&self) -> bool {
        self.class == MailClass::Human
    }
}

/// Compares e-mail addresses case-insensitively, ignoring a `+tag` in the local part so that
/// `support+c12-abcd@shop.example` matches `support@shop.example`.
pub fn same_mailbox(a: &str, b: &str) -> bool {
    fn base(addr: &str) -> Option<(String, String)> {
        let addr = addr.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, domain) = addr.rsplit_once('@')?;
        let local = local.split('+').next().unwrap_or(local);
        Some((local.to_lowercase(), domain.to_lowercase()))
    }
    match (base(a), base(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn is_daemon(address: &str) -> bool {
    let local = address
        .trim()
        .rsplit_once('@')
        .map_or(address, |(l, _)| l)
        .to_lowercase();
    let local = local.split('+').next().unwrap_or(&local).to_string();
    matches!(
        local.as_str(),
        "mailer-daemon"
            | "mailer_daemon"
            | "mailerdaemon"
            | "postmaster"
            | "mail-daemon"
            | "maildaemon"
            | "mdaemon"
    )
}

/// Classifies a parsed message. `own_addresses` are the addresses we send from (team
/// mailboxes, the notification sender); mail from them is [`MailClass::OwnMail`].
pub fn classify(mail: &ParsedMail, own_addresses: &[&str]) -> Classification {
    let h = &mail.loop_headers;
    let mut reasons = Vec::new();
    let mut bounce = false;
    let mut auto = false;
    let mut bulk = false;
    let mut list = false;
    let mut own = false;

    // Bounces
    if h.content_type.as_deref() == Some("multipart/report")
        && h.report_type.as_deref() == Some("delivery-status")
    {
        reasons.push(LoopReason::DeliveryStatusReport);
        bounce = true;
    }
    if h.x_failed_recipients.is_some() {
        reasons.push(LoopReason::FailedRecipients);
        bounce = true;
    }
    let senders = mail
        .from
        .iter()
        .chain(mail.sender.iter())
        .map(|a| a.address.as_str())
        .chain(
            mail.return_path
                .iter()
                .map(String::as_str)
                .filter(|s| !s.is_empty()),
        );
    for addr in senders.clone() {
        if is_daemon(addr) && !reasons.contains(&LoopReason::DaemonSender(addr.to_string())) {
            reasons.push(LoopReason::DaemonSender(addr.to_string()));
            bounce = true;
        }
    }
    if mail.return_path.as_deref() == Some("") {
        reasons.push(LoopReason::NullReturnPath);
        // The null sender marks notifications of every kind (RFC 5321 §4.5.5): never answer.
        auto = true;
    }

    // Our own mail
    for addr in senders {
        if let Some(ours) = own_addresses.iter().find(|o| same_mailbox(addr, o)) {
            let reason = LoopReason::OwnAddress((*ours).to_string());
            if !reasons.contains(&reason) {
                reasons.push(reason);
            }
            own = true;
        }
    }

    // Auto replies
    if let Some(v) = &h.auto_submitted {
        let token = v
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if token != "no" {
            reasons.push(LoopReason::AutoSubmitted(v.clone()));
            auto = true;
        }
    }
    if h.x_autoreply.is_some() {
        reasons.push(LoopReason::XAutoreply);
        auto = true;
    }
    if h.x_autorespond.is_some() {
        reasons.push(LoopReason::XAutorespond);
        auto = true;
    }
    if let Some(v) = &h.x_auto_response_suppress {
        let l = v.to_ascii_lowercase();
        if l.split(',')
            .map(str::trim)
            .any(|t| matches!(t, "all" | "autoreply" | "oof"))
        {
            reasons.push(LoopReason::AutoResponseSuppress(v.clone()));
            auto = true;
        }
    }
    if let Some(v) = &h.x_loop {
        reasons.push(LoopReason::XLoop(v.clone()));
        auto = true;
    }

    // Bulk and lists
    if let Some(v) = &h.precedence {
        let l = v.trim().to_ascii_lowercase();
        if matches!(l.as_str(), "bulk" | "junk" | "list") {
            reasons.push(LoopReason::Precedence(v.clone()));
            if l == "list" {
                list = true;
            } else {
                bulk = true;
            }
        }
    }
    if let Some(v) = &h.list_id {
        reasons.push(LoopReason::ListId(v.clone()));
        list = true;
    }
    if h.list_unsubscribe.is_some() {
        reasons.push(LoopReason::ListUnsubscribe);
        bulk = true;
    }

    let class = if bounce {
        MailClass::Bounce
    } else if own {
        MailClass::OwnMail
    } else if auto {
        MailClass::AutoReply
    } else if list {
        MailClass::MailingList
    } else if bulk {
        MailClass::Bulk
    } else {
        MailClass::Human
    };
    Classification { class, reasons }
}
