//! Charset decoding of text parts and headers, and the record of how each was decoded.
//!
//! mail-parser (with `full_encoding`) decodes every charset the issue names itself: UTF-8,
//! GB2312/GBK/GB18030, Big5, EUC-KR including `ks_c_5601-1987`, ISO-2022-JP, Shift_JIS,
//! ISO-8859-* and Windows-125x (see the tests in `tests/charsets.rs`). What it does not do is
//! tell anyone when it gave up: an unknown charset silently becomes lossy UTF-8. This module
//! fills that gap: labels mail-parser does not know are tried with `encoding_rs` (WHATWG
//! labels), and anything still unknown — or bytes that are not valid in the declared charset
//! UTF-8 — falls back to UTF-8 when valid and Windows-1252 (which maps every byte) otherwise,
//! so no mail is lost and the fallback is recorded in a [`CharsetReport`].

use encoding_rs::Encoding;

/// How the text of one MIME part was decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartCharset {
    /// The charset label the part declared (`charset=` parameter), if any.
    pub declared: Option<String>,
    /// The charset actually used to decode it.
    pub used: String,
    /// True when the declared charset was unknown or did not fit the bytes, so a fallback
    /// decoding was used.
    pub fell_back: bool,
    /// Number of U+FFFD replacement characters in the decoded text (malformed input).
    pub replacement_chars: usize,
}

/// How all text of a message was decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CharsetReport {
    /// One entry per decoded text part (bodies and text attachments).
    pub parts: Vec<PartCharset>,
    /// Charset labels in RFC 2047 encoded words of the headers that no decoder knows
    /// (those words were decoded as UTF-8, lossily).
    pub unknown_header_charsets: Vec<String>,
}

impl CharsetReport {
    /// True when any part or header needed a fallback decoding.
    pub fn fell_back(&self) -> bool {
        !self.unknown_header_charsets.is_empty() || self.parts.iter().any(|p| p.fell_back)
    }
}

/// True when mail-parser itself has a decoder for this label (it then decoded the text).
pub fn mail_parser_knows(label: &str) -> bool {
    is_utf8_label(label)
        || mail_parser::decoders::charsets::map::charset_decoder(label.as_bytes()).is_some()
}

/// True when some decoder (mail-parser's or encoding_rs's) knows this label.
pub fn is_known_charset(label: &str) -> bool {
    mail_parser_knows(label) || Encoding::for_label(label.trim().as_bytes()).is_some()
}

fn is_utf8_label(label: &str) -> bool {
    let l = label.trim();
    l.eq_ignore_ascii_case("utf-8") || l.eq_ignore_ascii_case("utf8")
}

/// Decodes `bytes` that declared `declared` with the fallback rules of this module.
///
/// Used for parts whose charset mail-parser does not know, and for bytes that turned out not
/// to be valid in their declared charset.
pub fn decode_with_fallback(bytes: &[u8], declared: Option<&str>) -> (String, PartCharset) {
    if let Some(label) = declared
        && !is_utf8_label(label)
        && let Some(enc) = Encoding::for_label(label.trim().as_bytes())
    {
        let (text, _, _) = enc.decode(bytes);
        let text = text.into_owned();
        let replacement_chars = count_replacements(&text);
        return (
            text,
            PartCharset {
                declared: Some(label.to_string()),
                used: enc.name().to_string(),
                fell_back: false,
                replacement_chars,
            },
        );
    }
    let fell_back = declared.is_some_and(|l| !is_utf8_label(l));
    match std::str::from_utf8(bytes) {
        Ok(text) => (
            text.to_string(),
            PartCharset {
                declared: declared.map(str::to_string),
                used: "UTF-8".to_string(),
                fell_back,
                replacement_chars: count_replacements(text),
            },
        ),
        Err(_) => {
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            (
                text.into_owned(),
                PartCharset {
                    declared: declared.map(str::to_string),
                    used: "windows-1252".to_string(),
                    fell_back: true,
                    replacement_chars: 0,
                },
            )
        }
    }
}

/// Counts U+FFFD replacement characters.
pub fn count_replacements(text: &str) -> usize {
    text.chars().filter(|&c| c == '\u{FFFD}').count()
}

/// Finds charset labels of RFC 2047 encoded words (`=?label?B?...?=`) in a raw header value
/// that no decoder knows.
pub fn unknown_encoded_word_charsets(raw_value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = raw_value;
    while let Some(start) = rest.find("=?") {
        let after = &rest[start + 2..];
        let Some(q) = after.find('?') else { break };
        let label = &after[..q];
        // RFC 2231 language suffix: charset*lang
        let label = label.split('*').next().unwrap_or(label);
        if !label.is_empty()
            && label.len() <= 40
            && label.bytes().all(|b| b.is_ascii_graphic())
            && !is_known_charset(label)
            && !out.iter().any(|l: &String| l.eq_ignore_ascii_case(label))
        {
            out.push(label.to_string());
        }
        rest = &after[q..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_labels() {
        for l in [
            "utf-8",
            "UTF8",
            "gb2312",
            "GBK",
            "gb18030",
            "big5",
            "euc-kr",
            "ks_c_5601-1987",
            "iso-2022-jp",
            "shift_jis",
            "iso-8859-2",
            "windows-1251",
        ] {
            assert!(is_known_charset(l), "{l}");
        }
        assert!(!is_known_charset("x-klingon"));
    }

    #[test]
    fn unknown_falls_back_without_loss() {
        let (text, report) = decode_with_fallback(b"caf\xe9", Some("x-klingon"));
        assert_eq!(text, "café");
        assert!(report.fell_back);
        assert_eq!(report.used, "windows-1252");
        let (text, report) = decode_with_fallback("café".as_bytes(), Some("x-klingon"));
        assert_eq!(text, "café");
        assert!(report.fell_back);
        assert_eq!(report.used, "UTF-8");
    }

    #[test]
    fn encoded_word_labels() {
        let found = unknown_encoded_word_charsets("=?x-klingon?Q?abc?= =?utf-8?B?YQ==?=");
        assert_eq!(found, vec!["x-klingon".to_string()]);
    }
}
