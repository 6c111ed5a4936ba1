//! Generated inbound mail: the customers' messages of generated cases rendered as raw RFC 5322
//! messages, as a mail server would deliver them to a support mailbox, for the ingest
//! benchmark and for tests of the whole mail pipeline at volume.
//!
//! Each case's first customer message is a new mail; each later customer message of the same
//! case is a reply to it (`In-Reply-To`/`References` naming the customer's previous mail, the
//! subject prefixed the way the customer's mail program would: `Re:`, `回复:`, `답장:`).
//! The mix, drawn per mail from its own random stream: text in the customer's language
//! (Chinese, Korean, Japanese, English), a share in the legacy charsets people still send
//! (GB2312, `ks_c_5601-1987`, ISO-2022-JP), an HTML alternative, a small attachment, an
//! out-of-office auto-reply, and mail without a `Message-ID`.

use crate::calendar::{DAY_MS, civil_from_days};
use crate::generator::Generator;
use crate::model::{Locale, MessageKind};
use crate::rng::{Kind, Rand};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The address generated mail is delivered to.
pub const MAIL_TO: &str = "support@bench.example";

/// What kind of mail a generated message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenMailKind {
    /// The first customer message of a case: should open a new case.
    New,
    /// A later customer message of the same case: should land on that case.
    Reply,
    /// An out-of-office answer (`Auto-Submitted: auto-replied`) from the customer: recorded,
    /// never answered.
    AutoReply,
}

/// One generated inbound mail.
#[derive(Clone, Debug)]
pub struct GenMail {
    /// The case (by index) the mail belongs to.
    pub case_index: u64,
    /// New, reply or auto-reply.
    pub kind: GenMailKind,
    /// The `Message-ID` (without angle brackets), `None` when the mail has none.
    pub message_id: Option<String>,
    /// The charset the text parts are encoded in.
    pub charset: &'static str,
    /// Whether an attachment is included.
    pub has_attachment: bool,
    /// When it was sent (epoch milliseconds).
    pub sent_at: i64,
    /// The subject and the text of the body as the customer wrote them (before encoding).
    pub subject: String,
    pub body: String,
    /// The raw message bytes (CRLF line ends).
    pub raw: Vec<u8>,
}

/// A planned mail before rendering: which case and message it is.
struct Plan {
    case_index: u64,
    seq: u32,
    nth_customer_message: u32,
    sent_at: i64,
}

impl Generator {
    /// Up to `count` inbound mails, in the order they were sent, from the customer messages
    /// of cases `0..` (as many cases as it takes; all cases when there are fewer mails).
    /// Deterministic for the spec's seed.
    pub fn inbound_mails(&self, count: u64) -> Vec<GenMail> {
        let mut plans = Vec::new();
        let mut case_index = 0;
        while (plans.len() as u64) < count && case_index < self.case_count() {
            let Some(case) = self.case(case_index) else {
                break;
            };
            let mut nth = 0;
            for m in &case.messages {
                if m.kind == MessageKind::Customer && (plans.len() as u64) < count {
                    plans.push(Plan {
                        case_index,
                        seq: m.seq,
                        nth_customer_message: nth,
                        sent_at: m.created_at,
                    });
                    nth += 1;
                }
            }
            case_index += 1;
        }
        plans.sort_by_key(|p| (p.sent_at, p.case_index, p.seq));
        let mut out = Vec::with_capacity(plans.len());
        let mut current: Option<crate::model::GenCase> = None;
        for p in plans {
            if current.as_ref().map(|c| c.index) != Some(p.case_index) {
                current = self.case(p.case_index);
            }
            if let Some(case) = &current {
                out.push(self.render_mail(case, &p));
            }
        }
        out
    }

    fn render_mail(&self, case: &crate::model::GenCase, p: &Plan) -> GenMail {
        let seed = self.spec().seed;
        let mut rng = Rand::new(seed, Kind::Mail, u64::from(p.seq), case.index);
        let customer = self.customer(case.customer_index);
        let (name, email) = match &customer {
            Some(c) => (
                c.name.full.clone(),
                c.email
                    .clone()
                    .unwrap_or_else(|| format!("{}@customers.gen.example", c.external_id)),
            ),
            None => (
                String::from("Customer"),
                format!("c{}@customers.gen.example", case.customer_index),
            ),
        };
        let locale = case.locale;
        let body = case
            .messages
            .iter()
            .find(|m| m.seq == p.seq)
            .map(|m| m.body.clone())
            .unwrap_or_default();
        let kind = if p.nth_customer_message == 0 {
            GenMailKind::New
        } else if rng.chance(0.03) {
            GenMailKind::AutoReply
        } else {
            GenMailKind::Reply
        };

        let id_of = |seq: u32| format!("{}-{:02}@mail.gen.example", case.external_id, seq);
        // One in fifty of the mails nobody answers later comes without a Message-ID (a
        // reply names the Message-ID of the mail it answers, so that one has one).
        let answered_later = case
            .messages
            .iter()
            .any(|m| m.kind == MessageKind::Customer && m.seq > p.seq);
        let message_id = (answered_later || !rng.chance(0.02)).then(|| id_of(p.seq));
        let earlier: Vec<String> = case
            .messages
            .iter()
            .filter(|m| m.kind == MessageKind::Customer && m.seq < p.seq)
            .map(|m| id_of(m.seq))
            .collect();
        let (subject, body) = match kind {
            GenMailKind::New => (case.subject.clone(), body),
            GenMailKind::Reply => (format!("{} {}", reply_prefix(locale), case.subject), body),
            GenMailKind::AutoReply => (
                format!("{} {}", auto_reply_prefix(locale), case.subject),
                auto_reply_body(locale).to_string(),
            ),
        };
        // Three in ten mails come in the charset older mail programs of the locale use,
        // when it can carry the text.
        let legacy = legacy_charset(locale);
        let charset = if rng.chance(0.3) && encodable(&subject, legacy) && encodable(&body, legacy)
        {
            legacy
        } else {
            "UTF-8"
        };
        let has_attachment = kind != GenMailKind::AutoReply && rng.chance(0.03);
        let html = rng.chance(0.2);
        let mut h = String::with_capacity(1024 + body.len() * 2);
        push_header(&mut h, "From", &format!("{} <{email}>", encode_word(&name)));
        push_header(&mut h, "To", MAIL_TO);
        push_header(&mut h, "Subject", &encode_words(&subject, charset));
        push_header(&mut h, "Date", &rfc2822_date(p.sent_at));
        if let Some(id) = &message_id {
            push_header(&mut h, "Message-ID", &format!("<{id}>"));
        }
        if kind != GenMailKind::New
            && let Some(last) = earlier.last()
        {
            push_header(&mut h, "In-Reply-To", &format!("<{last}>"));
            let refs: Vec<String> = earlier.iter().map(|r| format!("<{r}>")).collect();
            push_header(&mut h, "References", &refs.join(" "));
        }
        if kind == GenMailKind::AutoReply {
            push_header(&mut h, "Auto-Submitted", "auto-replied");
        }
        push_header(&mut h, "MIME-Version", "1.0");
        let text_part = part(
            &format!("text/plain; charset={charset}"),
            &encode(&body, charset),
        );
        let text = if html {
            let html_body = format!(
                "<html><body>{}</body></html>",
                body.split('\n')
                    .map(|l| format!("<p>{}</p>", escape_html(l)))
                    .collect::<String>()
            );
            let boundary = format!("alt-{}-{}", case.index, p.seq);
            multipart(
                "alternative",
                &boundary,
                &[
                    text_part,
                    part(
                        &format!("text/html; charset={charset}"),
                        &encode(&html_body, charset),
                    ),
                ],
            )
        } else {
            text_part
        };
        let top = if has_attachment {
            let size = 4_096 + rng.below(60_000) as usize;
            let mut bytes = Vec::with_capacity(size);
            bytes.extend_from_slice(b"%PDF-1.4\n");
            while bytes.len() < size {
                bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
            }
            let file = format!("receipt-{}.pdf", case.external_id);
            let attachment = format!(
                "Content-Type: application/pdf; name=\"{file}\"\r\n\
                 Content-Disposition: attachment; filename=\"{file}\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{}",
                wrap_base64(&bytes)
            );
            let boundary = format!("mixed-{}-{}", case.index, p.seq);
            multipart("mixed", &boundary, &[text, attachment])
        } else {
            text
        };
        h.push_str(&top);
        GenMail {
            case_index: case.index,
            kind,
            message_id,
            charset,
            has_attachment,
            sent_at: p.sent_at,
            raw: h.into_bytes(),
            subject,
            body,
        }
    }
}

/// The legacy charset mail programs in a locale still send.
fn legacy_charset(locale: Locale) -> &'static str {
    match locale {
        Locale::Zh => "GB2312",
        Locale::Ko => "ks_c_5601-1987",
        Locale::Ja => "ISO-2022-JP",
        Locale::En => "ISO-8859-1",
    }
}

fn reply_prefix(locale: Locale) -> &'static str {
    match locale {
        Locale::Zh => "回复:",
        Locale::Ko => "답장:",
        Locale::Ja | Locale::En => "Re:",
    }
}

fn auto_reply_prefix(locale: Locale) -> &'static str {
    match locale {
        Locale::Zh => "自动回复:",
        Locale::Ko => "자동 회신:",
        Locale::Ja => "自動応答:",
        Locale::En => "Automatic reply:",
    }
}

fn auto_reply_body(locale: Locale) -> &'static str {
    match locale {
        Locale::Zh => "我正在休假，将于下周一回复您的邮件。",
        Locale::Ko => "휴가 중입니다. 다음 주 월요일에 답장드리겠습니다.",
        Locale::Ja => "休暇中のため、来週月曜日に返信いたします。",
        Locale::En => "I am out of the office until Monday and will reply when I am back.",
    }
}

/// Text in `charset` (encoding_rs labels); characters the charset lacks become numeric
/// character references, as mail programs do.
fn encode(text: &str, charset: &str) -> Vec<u8> {
    let text = text.replace('\n', "\r\n");
    match encoding_rs::Encoding::for_label(charset.as_bytes()) {
        Some(enc) if enc != encoding_rs::UTF_8 => enc.encode(&text).0.into_owned(),
        _ => text.into_bytes(),
    }
}

fn encodable(text: &str, charset: &str) -> bool {
    match encoding_rs::Encoding::for_label(charset.as_bytes()) {
        Some(enc) => !enc.encode(text).2,
        None => false,
    }
}

fn push_header(h: &mut String, name: &str, value: &str) {
    h.push_str(name);
    h.push_str(": ");
    h.push_str(value);
    h.push_str("\r\n");
}

/// An RFC 2047 encoded word in UTF-8 when the text is not plain ASCII.
fn encode_word(text: &str) -> String {
    if text
        .bytes()
        .all(|b| (b.is_ascii_graphic() || b == b' ') && b != b'"' && b != b'\\')
    {
        format!("\"{text}\"")
    } else {
        encoded_words(text, "UTF-8")
    }
}

/// A header value as RFC 2047 encoded words in `charset`, each short enough for one line,
/// folded; plain ASCII stays as it is.
fn encode_words(text: &str, charset: &str) -> String {
    if text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return text.to_string();
    }
    encoded_words(text, charset)
}

fn encoded_words(text: &str, charset: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let words: Vec<String> = chars
        .chunks(12)
        .map(|chunk| {
            let s: String = chunk.iter().collect();
            format!("=?{charset}?B?{}?=", STANDARD.encode(encode(&s, charset)))
        })
        .collect();
    words.join("\r\n ")
}

fn part(content_type: &str, body: &[u8]) -> String {
    format!(
        "Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        wrap_base64(body)
    )
}

fn multipart(sub: &str, boundary: &str, parts: &[String]) -> String {
    let mut s = format!("Content-Type: multipart/{sub}; boundary=\"{boundary}\"\r\n\r\n");
    for p in parts {
        s.push_str("--");
        s.push_str(boundary);
        s.push_str("\r\n");
        s.push_str(p);
    }
    s.push_str("--");
    s.push_str(boundary);
    s.push_str("--\r\n");
    s
}

fn wrap_base64(bytes: &[u8]) -> String {
    let b = STANDARD.encode(bytes);
    let mut out = String::with_capacity(b.len() + b.len() / 38 + 2);
    for line in b.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `Mon, 30 Nov 2026 05:02:50 +0000`.
fn rfc2822_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = ms.div_euclid(DAY_MS);
    let secs = ms.rem_euclid(DAY_MS) / 1000;
    let d = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        d.day,
        MONTHS[usize::from(d.month.clamp(1, 12) - 1)],
        d.year,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GenSpec;
    use std::collections::HashSet;

    fn corpus(n: u64) -> Vec<GenMail> {
        let mut spec = GenSpec::small_demo().with_seed(7);
        spec.cases = 2_000;
        Generator::new(spec).unwrap().inbound_mails(n)
    }

    #[test]
    fn replies_follow_the_mail_they_answer_and_the_mix_is_there() {
        let mails = corpus(3_000);
        assert_eq!(mails.len(), 3_000);
        let mut seen: HashSet<String> = HashSet::new();
        let mut new_cases = HashSet::new();
        for m in &mails {
            let raw = String::from_utf8_lossy(&m.raw);
            assert!(raw.contains("\r\nDate: "), "every mail has a Date");
            match m.kind {
                GenMailKind::New => {
                    assert!(new_cases.insert(m.case_index), "one new mail per case");
                }
                GenMailKind::Reply | GenMailKind::AutoReply => {
                    assert!(
                        new_cases.contains(&m.case_index),
                        "a reply comes after its case"
                    );
                    let irt = raw
                        .lines()
                        .find_map(|l| l.strip_prefix("In-Reply-To: <"))
                        .and_then(|l| l.strip_suffix('>'))
                        .expect("a reply names the mail it answers");
                    assert!(seen.contains(irt), "{irt} was sent before");
                }
            }
            if let Some(id) = &m.message_id {
                assert!(seen.insert(id.clone()), "Message-IDs are unique");
            }
        }
        assert!(mails.windows(2).all(|w| w[0].sent_at <= w[1].sent_at));
        let count = |f: &dyn Fn(&GenMail) -> bool| mails.iter().filter(|m| f(m)).count();
        assert!(count(&|m| m.kind == GenMailKind::Reply) > 300);
        assert!(count(&|m| m.kind == GenMailKind::AutoReply) > 5);
        assert!(count(&|m| m.has_attachment) > 30);
        assert!(count(&|m| m.message_id.is_none()) > 3);
        for cs in ["GB2312", "ks_c_5601-1987", "ISO-2022-JP", "UTF-8"] {
            assert!(count(&|m| m.charset == cs) > 30, "{cs} is in the mix");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        let a = corpus(200);
        let b = corpus(200);
        assert!(a.iter().zip(&b).all(|(x, y)| x.raw == y.raw));
    }

    #[test]
    fn legacy_charsets_round_trip() {
        let zh = encode("您好，我的订单还没有到。", "GB2312");
        let (back, _, bad) = encoding_rs::GBK.decode(&zh);
        assert!(!bad);
        assert_eq!(back, "您好，我的订单还没有到。");
        let ko = encode("주문한 물건이 아직 안 왔어요.", "ks_c_5601-1987");
        assert_eq!(
            encoding_rs::EUC_KR.decode(&ko).0,
            "주문한 물건이 아직 안 왔어요."
        );
        assert_eq!(rfc2822_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    }
}
