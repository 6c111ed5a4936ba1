//! Subject normalisation for threading, and the weak `[#1234]` case token of subjects.
//!
//! Reply and forward prefixes are stripped repeatedly in many languages (`Re:`, `AW:`, `Fwd:`,
//! `WG:`, `SV:`, `Antw:`, `回复:`, `答复:`, `转发:`, `轉寄:`, `답장:`, `회신:`, `전달:`,
//! `返信:`, `転送:` ...), counted forms (`RE[2]:`, `Re(3):`, `Re^2:`) and full-width colons
//! included; whitespace is collapsed.

use std::sync::OnceLock;

use regex::Regex;

use crate::CaseId;

fn prefix_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // Longer alternatives first so that "Fwd" wins over "Fw".
        let prefixes = [
            "antwort", "antw", "fwd", "fw", "re", "aw", "wg", "sv", "vs", "tr", "rif", "odp",
            "res", "enc", "doorst", "vl", "ynt", "atb", "回复", "回覆", "答复", "答覆", "转发",
            "轉發", "转寄", "轉寄", "답장", "회신", "전달", "返信", "転送", "返复",
        ];
        let alternation = prefixes.join("|");
        // Optional counter: [2], (2), ^2; then a colon (ASCII or full-width).
        #[allow(clippy::unwrap_used)] // constant pattern, covered by tests
        let re = Regex::new(&format!(
            r"(?i)^\s*(?:{alternation})\s*(?:\[\d{{1,4}}\]|\(\d{{1,4}}\)|\^\d{{1,4}})?\s*[:：]\s*"
        ))
        .unwrap();
        re
    })
}

fn token_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    #[allow(clippy::unwrap_used)] // constant pattern, covered by tests
    RE.get_or_init(|| Regex::new(r"\[\s*#\s*(\d{1,18})\s*\]").unwrap())
}

/// Strips reply/forward prefixes (repeatedly, also after a leading `[#1234]` token), removes
/// `[#1234]` case tokens and collapses whitespace. Case is preserved.
///
/// `"Re: AW: [#12] 回复：Order   late"` becomes `"Order late"`.
pub fn normalize_subject(subject: &str) -> String {
    let without_tokens = token_re().replace_all(subject, " ");
    let mut s: &str = without_tokens.trim();
    // Bounded: each round removes at least one character.
    for _ in 0..64 {
        match prefix_re().find(s) {
            Some(m) if m.end() > 0 => s = s[m.end()..].trim_start(),
            _ => break,
        }
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the subject says the mail answers or forwards another (`Re:`, `AW:`, `回复:`,
/// `답장:`, `Fwd:` ..., also after a `[#1234]` token). A subject without such a prefix starts
/// a conversation, so it is never matched to a case by subject alone.
pub fn has_reply_prefix(subject: &str) -> bool {
    let without_tokens = token_re().replace_all(subject, " ");
    prefix_re()
        .find(without_tokens.trim())
        .is_some_and(|m| m.end() > 0)
}

/// The key to compare normalised subjects with: [`normalize_subject`] lower-cased.
pub fn subject_match_key(subject: &str) -> String {
    normalize_subject(subject).to_lowercase()
}

/// Extracts a `[#1234]` case token from a subject (the first one).
///
/// Such tokens are not authenticated: anyone can type them. Apply one only when the case
/// belongs to the sending customer ([`crate::decide_thread`] does so).
pub fn extract_subject_token(subject: &str) -> Option<CaseId> {
    token_re()
        .captures(subject)
        .and_then(|c| c.get(1))
        .and_then(|m| m.as_str().parse::<CaseId>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_prefixes_in_many_languages() {
        let cases = [
            ("Re: Hello", "Hello"),
            ("RE: RE: Hello", "Hello"),
            ("Aw: AW: Hello", "Hello"),
            ("Fwd: FW: Fw: Hello", "Hello"),
            ("WG: SV: Antw: Hello", "Hello"),
            ("RE[2]: Hello", "Hello"),
            ("Re(3): Hello", "Hello"),
            ("Re^2: Hello", "Hello"),
            ("回复: 订单问题", "订单问题"),
            ("回复：回覆：答复： 订单问题", "订单问题"),
            ("转发: 轉寄: 订单", "订单"),
            ("답장: 회신: 전달: 주문 문의", "주문 문의"),
            ("返信: 転送: 注文", "注文"),
            ("Re：Hello", "Hello"),
            ("  Re :   Hello    world  ", "Hello world"),
            ("Re: [#1234] Order late", "Order late"),
            ("[#1234] Re: Order late", "Order late"),
            ("Reply needed", "Reply needed"),
            ("Research: results", "Research: results"),
            ("Re:", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_subject(input), expected, "{input}");
        }
        assert_eq!(subject_match_key("RE: Order LATE"), "order late");
    }

    #[test]
    fn extracts_case_token() {
        assert_eq!(extract_subject_token("Re: [#1234] Order"), Some(1234));
        assert_eq!(extract_subject_token("[ # 77 ] x"), Some(77));
        assert_eq!(extract_subject_token("no token #12"), None);
        assert_eq!(extract_subject_token("[#99999999999999999999]"), None);
    }
}
