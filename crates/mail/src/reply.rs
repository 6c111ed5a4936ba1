//! Folding quoted text and signatures out of plain-text replies.
//!
//! The core is a port of GitHub's `email_reply_parser` (MIT): the body is read bottom-up and
//! cut into fragments (quoted, signature, plain); quoted and signature fragments *below* the
//! last visible text are hidden. Because only what lies below the newest visible text is
//! hidden, interleaved replies (quote, answer, quote, answer) always keep their answers
//! visible.
//!
//! Additions over the original, for the languages our customers write in:
//! - reply headers above quotes: English `On ... wrote:`, German `Am ... schrieb ...:`,
//!   French, Spanish, Dutch, Italian, Portuguese, Chinese (`... 写道：`/`寫道：`), Korean
//!   (`...님이 작성:`), Japanese (`...さんは書きました:`, `... <a@b>:`), and Outlook-style header
//!   blocks (`From:/Von:/发件人:/寄件者:/보낸 사람:/差出人:` ...);
//! - "original message" blocks that are not `>`-quoted (Outlook, Foxmail, QQ, Naver):
//!   separators like `-----Original Message-----` / `----- 原始邮件 -----` and header blocks
//!   starting with a localised `From:` followed by `Sent:/To:/Subject:` lines fold everything
//!   below them;
//! - mobile signatures in several languages (`Sent from my iPhone`, `发自我的iPhone`,
//!   `iPhone에서 보냄`, `iPhoneから送信`, `Von meinem iPhone gesendet` ...).

use std::sync::OnceLock;

use regex::Regex;

/// One block of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The text of the block (lines joined by `\n`).
    pub content: String,
    /// Quoted text (`>` lines, with the reply header above them).
    pub quoted: bool,
    /// A signature block.
    pub signature: bool,
    /// Folded away for display (quoted or signature text below all visible text, or
    /// whitespace there).
    pub hidden: bool,
}

/// A plain-text body cut into fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldedReply {
    /// The fragments, top to bottom.
    pub fragments: Vec<Fragment>,
}

impl FoldedReply {
    /// The visible text: non-hidden fragments joined by `\n`, trailing whitespace removed.
    /// When nothing would be visible (a bare forward), the whole text is returned, so folding
    /// never shows an empty message.
    pub fn visible_text(&self) -> String {
        let visible = self
            .fragments
            .iter()
            .filter(|f| !f.hidden)
            .map(|f| f.content.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let visible = visible.trim_end();
        if visible.trim().is_empty() {
            self.fragments
                .iter()
                .map(|f| f.content.as_str())
                .collect::<Vec<_>>()
                .join("\n")
                .trim_end()
                .to_string()
        } else {
            visible.to_string()
        }
    }

    /// The folded (hidden) text, top to bottom, for a "show quoted text" toggle.
    pub fn hidden_text(&self) -> String {
        self.fragments
            .iter()
            .filter(|f| f.hidden)
            .map(|f| f.content.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[allow(clippy::unwrap_used)] // constant patterns, all exercised by the tests
fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).unwrap())
}

/// Signature starts, in the original (not reversed) orientation of a line.
fn sig_re() -> &'static Regex {
    static C: OnceLock<Regex> = OnceLock::new();
    re(
        &C,
        concat!(
            r"^(?:\s*--|\s*__|-\w)", // "-- ", "__", "-Abhishek"
            r"|^Sent from my(?:\s+\w+){1,3}$",
            r"|^(?:Sent from (?:Mail|Outlook) for \w+|Get Outlook for \w+)\s*$",
            r"|^(?:发自我的|來自我的|来自我的|从我的|從我的)\s*\S{1,20}(?:\s*(?:发送|傳送|发送的))?\s*$",
            r"|^\S{1,20}\s*에서 보냄\s*$",
            r"|^\S{1,20}\s*から送信\s*$",
            r"|^Von meinem\s+(?:\w+\s+){0,3}gesendet\s*$",
            r"|^Envoyé de mon(?:\s+\w+){1,3}\s*$",
            r"|^Enviado desde mi(?:\s+\w+){1,3}\s*$",
        ),
    )
}

/// "Someone wrote:" lines in several languages (the line above a quoted block).
fn wrote_re() -> &'static Regex {
    static C: OnceLock<Regex> = OnceLock::new();
    re(
        &C,
        concat!(
            r"^On.*wrote:$",
            r"|^Am\s.*schrieb.*:\s*$",
            r"|^Le\s.*a écrit\s*:\s*$",
            r"|^El\s.*escribió\s*:\s*$",
            r"|^Op\s.*schreef.*:\s*$",
            r"|^Il\s.*ha scritto\s*:\s*$",
            r"|^Em\s.*escreveu\s*:\s*$",
            r"|^.{0,200}(?:写道|寫道)\s*[:：]\s*$",
            r"|^.{0,200}(?:님이 작성|작성했습니다)\s*[:：]\s*$",
            r"|^.{0,200}(?:さんは書きました|のメッセージ)\s*[:：]\s*$",
            r"|^.{0,200}<[^<>\s]+@[^<>\s]+>\s*[:：]\s*$",
        ),
    )
}

/// A header line that may sit directly above a quoted block: a "wrote:" line or an
/// Outlook-style field (`From:`, `Sent:`, `To:`, `Subject:` and their translations).
fn is_quote_header(line: &str) -> bool {
    wrote_re().is_match(line) || header_from_re().is_match(line) || header_field_re().is_match(line)
}

/// Separators that start an unquoted original message (Outlook, Foxmail, QQ, Naver ...).
fn original_separator_re() -> &'static Regex {
    static C: OnceLock<Regex> = OnceLock::new();
    re(
        &C,
        concat!(
            r"(?i)^\s*-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|",
            r"Mensaje original|Messaggio originale|Originele bericht|Oorspronkelijk bericht|",
            r"原始邮件|原始郵件|原始信件|原邮件|원본 메시지|元のメッセージ|Forwarded message|",
            r"Weitergeleitete Nachricht|转发邮件|転送メッセージ)\s*-{2,}\s*$",
        ),
    )
}

/// A localised `From:` that opens an Outlook-style header block.
fn header_from_re() -> &'static Regex {
    static C: OnceLock<Regex> = OnceLock::new();
    re(
        &C,
        r"^\s*\*?(?:From|Von|De|Da|Van|Från|Fra|Od|发件人|寄件者|寄件人|발신|보낸 사람|差出人|送信者)\s*\*?\s*[:：]",
    )
}

/// Other fields of an Outlook-style header block.
fn header_field_re() -> &'static Regex {
    static C: OnceLock<Regex> = OnceLock::new();
    re(
        &C,
        concat!(
            r"^\s*\*?(?:Sent|Date|To|Cc|Subject|Gesendet|Datum|An|Betreff|Envoyé|Date|À|Objet|",
            r"Enviado|Para|Asunto|Inviato|Oggetto|Verzonden|Aan|Onderwerp|",
            r"发送时间|發送時間|传送时间|傳送時間|日期|时间|時間|收件人|抄送|主题|主題|主旨|",
            r"보낸 날짜|받는 사람|참조|제목|날짜|送信日時|日付|宛先|件名)\s*\*?\s*[:：]",
        ),
    )
}

/// Normalises line endings and joins a reply header broken over several lines
/// (`On DATE, NAME\n<EMAIL>\nwrote:`), as the original parser does.
fn preprocess(text: &str) -> String {
    let mut text = text.replace("\r\n", "\n");

    // Multi-line "On ... wrote:". Equivalent to the Ruby /^(?!On.*On\s.+?wrote:)(On\s(.+?)wrote:)$/m
    // without backtracking: the header starts at the last "On<ws>" that still has a
    // "wrote:" at least one character after it.
    let bytes = text.as_bytes();
    if let Some(last_wrote) = text.rfind("wrote:") {
        let mut q_last = None;
        let mut i = 0;
        while i + 2 < bytes.len() {
            if bytes[i] == b'O'
                && bytes[i + 1] == b'n'
                && bytes[i + 2].is_ascii_whitespace()
                && i + 4 <= last_wrote
            {
                q_last = Some(i);
            }
            i += 1;
        }
        if let Some(p) = q_last
            && (p == 0 || bytes[p - 1] == b'\n')
        {
            // First "wrote:" at least one char after "On<ws>" and at a line end.
            let mut search = p + 4;
            let mut found = None;
            while let Some(rel) = text.get(search..).and_then(|s| s.find("wrote:")) {
                let w = search + rel;
                let end = w + "wrote:".len();
                if end == text.len() || bytes.get(end) == Some(&b'\n') {
                    found = Some(end);
                    break;
                }
                search = w + 1;
            }
            if let Some(end) = found {
                let header = text[p..end].to_string();
                if header.contains('\n') {
                    let joined = header.replace('\n', " ");
                    text = text.replace(&header, &joined);
                }
            }
        }
    }

    // Make sure a line of underscores is preceded by an empty line, so a reply written
    // directly above it splits off.
    let mut out = String::with_capacity(text.len() + 16);
    let mut prev_nonempty = false;
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            let underscores = line.len() >= 8 && line.starts_with("________");
            if underscores && prev_nonempty {
                out.push('\n');
            }
            out.push('\n');
        }
        out.push_str(line);
        prev_nonempty = !line.is_empty();
    }
    out
}

/// Index of the first line of an unquoted "original message" block, if any: a separator
/// line, a localised From: followed by other header fields, or a reply header
/// (`... wrote:`) not followed by quoted lines. Line 0 never counts.
fn original_block_start(lines: &[&str]) -> Option<usize> {
    for (i, line) in lines.iter().enumerate().skip(1) {
        let t = line.trim_end();
        if t.starts_with('>') {
            continue;
        }
        if original_separator_re().is_match(t) {
            return Some(i);
        }
        if header_from_re().is_match(t) {
            let fields = lines[i + 1..]
                .iter()
                .take(6)
                .filter(|l| header_field_re().is_match(l))
                .count();
            if fields >= 2 {
                return Some(i);
            }
        }
        if wrote_re().is_match(t.trim_start()) {
            let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty());
            let next_quoted = next.is_some_and(|l| l.trim_start().starts_with('>'));
            if next.is_some() && !next_quoted {
                return Some(i);
            }
        }
    }
    None
}

struct Builder {
    fragments: Vec<Fragment>,
    // Current fragment: lines bottom-up.
    current: Option<(bool, bool, Vec<String>)>,
    found_visible: bool,
}

impl Builder {
    fn finish(&mut self) {
        if let Some((quoted, signature, mut lines)) = self.current.take() {
            lines.reverse();
            let content = lines.join("\n");
            let mut hidden = false;
            if !self.found_visible {
                if quoted || signature || content.trim().is_empty() {
                    hidden = true;
                } else {
                    self.found_visible = true;
                }
            }
            self.fragments.push(Fragment {
                content,
                quoted,
                signature,
                hidden,
            });
        }
    }

    fn scan_line(&mut self, raw: &str) {
        let line = if sig_re().is_match(raw) {
            raw.to_string()
        } else {
            raw.trim_end_matches(|c: char| c.is_ascii_whitespace() || c == '\0')
                .to_string()
        };
        let is_quoted = line.starts_with('>');

        if line.is_empty()
            && let Some((_, _, lines)) = &self.current
            && lines.last().is_some_and(|last| sig_re().is_match(last))
        {
            if let Some(cur) = self.current.as_mut() {
                cur.1 = true;
            }
            self.finish();
        }

        let joins = match &self.current {
            Some((quoted, _, _)) => {
                *quoted == is_quoted || (*quoted && (line.is_empty() || is_quote_header(&line)))
            }
            None => false,
        };
        if joins {
            if let Some(cur) = self.current.as_mut() {
                cur.2.push(line);
            }
        } else {
            self.finish();
            self.current = Some((is_quoted, false, vec![line]));
        }
    }
}

/// Splits a plain-text reply into fragments; see the module documentation.
pub fn fold_reply(text: &str) -> FoldedReply {
    let text = preprocess(text);
    let mut lines: Vec<&str> = text.split('\n').collect();
    // Ruby's scanner drops an empty first line (the "rest" after the last newline of the
    // reversed text).
    if lines.len() > 1 && lines.first() == Some(&"") {
        lines.remove(0);
    }
    if text.is_empty() {
        lines.clear();
    }

    let block = original_block_start(&lines);
    let (upper, lower) = match block {
        Some(i) => lines.split_at(i),
        None => (&lines[..], &lines[lines.len()..]),
    };

    let mut b = Builder {
        fragments: Vec::new(),
        current: None,
        found_visible: false,
    };
    if !lower.is_empty() {
        // The original message below the reply: one quoted fragment at the bottom.
        b.current = Some((
            true,
            false,
            lower.iter().rev().map(|s| s.to_string()).collect(),
        ));
        b.finish();
    }
    for line in upper.iter().rev() {
        b.scan_line(line);
    }
    b.finish();
    b.fragments.reverse();
    FoldedReply {
        fragments: b.fragments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_answers_stay_visible() {
        let text = "> Question one?\n\nAnswer one.\n\n> Question two?\n\nAnswer two.\n";
        let r = fold_reply(text);
        let v = r.visible_text();
        assert!(v.contains("Answer one."), "{v}");
        assert!(v.contains("Answer two."), "{v}");
        assert!(v.contains("Question two?"), "{v}");
    }

    #[test]
    fn german_chinese_korean_japanese_headers() {
        let cases = [
            "Danke!\n\nAm 01.03.2024 um 10:00 schrieb Max Muster <max@example.de>:\n> Hallo\n> Frage\n",
            "好的，谢谢。\n\n张三 <zhang@example.cn> 于2024年3月1日周五 10:00写道：\n> 你好\n> 问题\n",
            "감사합니다.\n\n2024년 3월 1일 (금) 오전 10:00, 홍길동 <hong@example.kr>님이 작성:\n> 안녕하세요\n",
            "ありがとうございます。\n\n2024年3月1日(金) 10:00 山田太郎 <taro@example.jp>:\n> こんにちは\n",
        ];
        for text in cases {
            let r = fold_reply(text);
            let v = r.visible_text();
            assert!(!v.contains('>'), "quote visible for {text:?}: {v:?}");
            assert!(!v.contains("schrieb") && !v.contains("写道") && !v.contains("작성"));
            assert!(!v.contains("taro@"), "{v}");
            assert!(!v.is_empty());
        }
    }

    #[test]
    fn unquoted_original_blocks_fold() {
        let text = "请尽快处理。\n\n李四\n\n发件人: 客服 <support@shop.example>\n发送时间: 2024年3月1日 10:00\n收件人: 李四\n主题: 订单\n\n原来的内容\n";
        let r = fold_reply(text);
        assert_eq!(r.visible_text(), "请尽快处理。\n\n李四");
        assert!(r.hidden_text().contains("原来的内容"));

        let text = "Bitte prüfen.\n\n-----Ursprüngliche Nachricht-----\nVon: a@b.de\nAlter Text\n";
        assert_eq!(fold_reply(text).visible_text(), "Bitte prüfen.");

        let text =
            "네 확인했습니다.\n\n------------------ 원본 메시지 ------------------\n보낸 사람: x\n";
        assert_eq!(fold_reply(text).visible_text(), "네 확인했습니다.");
    }

    #[test]
    fn mobile_signatures_in_several_languages() {
        for sig in [
            "发自我的iPhone",
            "iPhone에서 보냄",
            "iPhoneから送信",
            "Von meinem iPhone gesendet",
            "Sent from my iPhone",
        ] {
            let text = format!("Hello there\n\n{sig}\n");
            assert_eq!(fold_reply(&text).visible_text(), "Hello there", "{sig}");
        }
    }

    #[test]
    fn bare_forward_is_not_emptied() {
        let text = "> only a quote\n> nothing else\n";
        assert_eq!(
            fold_reply(text).visible_text(),
            "> only a quote\n> nothing else"
        );
        assert_eq!(fold_reply("").visible_text(), "");
    }
}
