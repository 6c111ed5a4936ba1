//! The text analyzer shared by indexing and querying: one tokenizer that splits mixed-language
//! text into script runs and routes each run to the right sub-tokenizer.
//!
//! | run                                   | tokens                                                   |
//! |---------------------------------------|----------------------------------------------------------|
//! | Latin, Cyrillic, Greek, digits, …     | one token per alphanumeric word, then lowercased, ASCII-folded, English-stemmed |
//! | Han, Hiragana, Katakana (one run)     | overlapping bigrams (a lone character is a unigram), plus the jieba words of three or more characters of every pure-Han part |
//! | Hangul                                | overlapping bigrams (a lone syllable is a unigram)       |
//!
//! Why this shape:
//! - *Chinese* is found by the words people type: every two-character word (most Chinese words)
//!   is a bigram of the text whatever jieba would have decided in context, and longer words are
//!   jieba dictionary words (search mode also yields their sub-words), which also lifts whole-word
//!   matches in the ranking.
//! - *Japanese* mixes kanji and kana inside one run (`注文した商品`); bigrams over the whole run
//!   (Lucene's CJKAnalyzer idea) find `注文` and `商品` without a dictionary.
//! - *Korean* words carry particles (`배송이` = `배송` + `이`): the bigram `배송` is in both.
//! - Zero-width characters, soft hyphens and combining accents inside a word do not split it
//!   (they are dropped from the token text), so hostile or odd Unicode cannot hide a word.
//!
//! Offsets always point into the original text, so highlighting works on what was stored.

use std::sync::LazyLock;

use jieba_rs::Jieba;
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, Stemmer, TextAnalyzer, Token,
    TokenStream, Tokenizer,
};

/// The name the analyzer is registered under in the index's tokenizer manager.
pub const ANALYZER_NAME: &str = "concierge_mixed";

/// Tokens longer than this many bytes (base64 blobs, long URLs) are not indexed.
const MAX_TOKEN_BYTES: usize = 80;

/// jieba with its bundled dictionary; loaded once per process (about 0.1–0.3 s).
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Loads the jieba dictionary now instead of on the first indexed or searched Chinese text.
pub fn warm_up() {
    LazyLock::force(&JIEBA);
}

/// Builds the full analyzer: script-routing tokenizer, lowercasing, ASCII folding, English
/// stemming (only ASCII Latin suffixes are touched, so CJK and Hangul tokens pass unchanged) and
/// dropping overlong tokens.
pub fn build_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(MixedScriptTokenizer)
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .build()
}

/// Runs the analyzer over `text` and returns the terms it produces, in offset order.
///
/// Handy for debugging why something is or is not found (`concierge search analyze`).
pub fn analyze(text: &str) -> Vec<String> {
    let mut analyzer = build_analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

/// The script class of a character, as far as tokenization cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Script {
    /// Alphanumeric characters of scripts written with spaces (Latin, Cyrillic, Greek, digits…).
    Word,
    /// Han ideographs, and the ideographic iteration marks.
    Han,
    /// Hiragana and Katakana (including the prolonged sound mark).
    Kana,
    /// Hangul syllables and jamo.
    Hangul,
    /// Characters inside a word that carry no meaning for search: zero-width characters, soft
    /// hyphen, variation selectors, combining marks. They neither split a run nor appear in a term.
    Ignorable,
    /// Everything else: whitespace, punctuation, symbols, emoji.
    Separator,
}

pub(crate) fn classify(c: char) -> Script {
    let cp = c as u32;
    match cp {
        // Han: CJK Unified Ideographs and extensions, compatibility ideographs, radicals,
        // 々 〆 〇.
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x323AF
        | 0xF900..=0xFAFF
        | 0x2E80..=0x2FDF
        | 0x3005..=0x3007 => Script::Han,
        // Hiragana, Katakana (except the ・ middle dot), phonetic extensions, half-width katakana.
        0x3041..=0x309F | 0x30A0..=0x30FA | 0x30FC..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => {
            Script::Kana
        }
        // Hangul syllables, jamo, compatibility jamo, extensions, half-width forms.
        0xAC00..=0xD7AF
        | 0x1100..=0x11FF
        | 0x3131..=0x318E
        | 0xA960..=0xA97F
        | 0xD7B0..=0xD7FF
        | 0xFFA0..=0xFFDC => Script::Hangul,
        // Zero-width space/joiners, word joiner, soft hyphen, BOM, variation selectors, bidi
        // controls and combining marks.
        0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x2064
        | 0x2066..=0x2069
        | 0x00AD
        | 0xFEFF
        | 0xFE00..=0xFE0F
        | 0x0300..=0x036F
        | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF
        | 0x20D0..=0x20FF
        | 0xFE20..=0xFE2F => Script::Ignorable,
        _ if c.is_alphanumeric() => Script::Word,
        _ => Script::Separator,
    }
}

/// The kind of a run the segmenter produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunKind {
    Word,
    /// Han and/or Kana.
    Cjk,
    Hangul,
}

/// A maximal run of one kind; `chars` holds the meaningful characters with their byte offsets
/// in the original text (ignorable characters are skipped), `end` the byte offset after the run.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub kind: RunKind,
    pub chars: Vec<(usize, char)>,
}

impl Run {
    pub fn start(&self) -> usize {
        self.chars.first().map_or(0, |(o, _)| *o)
    }

    pub fn end(&self) -> usize {
        self.chars.last().map_or(0, |(o, c)| o + c.len_utf8())
    }

    fn text(&self) -> String {
        self.chars.iter().map(|(_, c)| *c).collect()
    }
}

fn run_kind(script: Script) -> Option<RunKind> {
    match script {
        Script::Word => Some(RunKind::Word),
        Script::Han | Script::Kana => Some(RunKind::Cjk),
        Script::Hangul => Some(RunKind::Hangul),
        Script::Ignorable | Script::Separator => None,
    }
}

/// Splits text into script runs. Ignorable characters continue the current run.
pub(crate) fn segment(text: &str) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    let mut current: Option<Run> = None;
    for (offset, c) in text.char_indices() {
        let script = classify(c);
        if script == Script::Ignorable {
            continue;
        }
        match run_kind(script) {
            None => {
                if let Some(run) = current.take() {
                    runs.push(run);
                }
            }
            Some(kind) => match current.as_mut() {
                Some(run) if run.kind == kind => run.chars.push((offset, c)),
                _ => {
                    if let Some(run) = current.take() {
                        runs.push(run);
                    }
                    current = Some(Run {
                        kind,
                        chars: vec![(offset, c)],
                    });
                }
            },
        }
    }
    if let Some(run) = current.take() {
        runs.push(run);
    }
    runs
}

/// Appends the raw (not yet lowercased/stemmed) tokens of one run to `out`.
pub(crate) fn run_tokens(run: &Run, out: &mut Vec<Token>) {
    match run.kind {
        RunKind::Word => out.push(Token {
            offset_from: run.start(),
            offset_to: run.end(),
            position: 0,
            text: run.text(),
            position_length: 1,
        }),
        RunKind::Hangul => bigrams(&run.chars, out),
        RunKind::Cjk => {
            bigrams(&run.chars, out);
            if run.chars.len() >= 3 {
                jieba_long_words(&run.chars, out);
            }
        }
    }
}

/// Overlapping bigrams over `chars`; a single character becomes a unigram.
fn bigrams(chars: &[(usize, char)], out: &mut Vec<Token>) {
    if let [(offset, c)] = chars {
        out.push(Token {
            offset_from: *offset,
            offset_to: offset + c.len_utf8(),
            position: 0,
            text: c.to_string(),
            position_length: 1,
        });
        return;
    }
    for pair in chars.windows(2) {
        if let [(o1, c1), (o2, c2)] = pair {
            let mut text = String::with_capacity(c1.len_utf8() + c2.len_utf8());
            text.push(*c1);
            text.push(*c2);
            out.push(Token {
                offset_from: *o1,
                offset_to: o2 + c2.len_utf8(),
                position: 0,
                text,
                position_length: 1,
            });
        }
    }
}

/// jieba (search mode) over every pure-Han part of a CJK run; keeps words of three or more
/// characters (shorter ones are already bigrams or unigrams of the run).
fn jieba_long_words(chars: &[(usize, char)], out: &mut Vec<Token>) {
    let mut i = 0;
    while i < chars.len() {
        if classify(chars[i].1) != Script::Han {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && classify(chars[i].1) == Script::Han {
            i += 1;
        }
        let part = &chars[start..i];
        if part.len() < 3 {
            continue;
        }
        // The part without ignorables, and for each of its bytes' char starts the original
        // offset, so jieba's byte offsets map back into the original text.
        let mut cleaned = String::with_capacity(part.len() * 3);
        let mut starts: Vec<(usize, usize, usize)> = Vec::with_capacity(part.len());
        for (orig, c) in part {
            starts.push((cleaned.len(), *orig, c.len_utf8()));
            cleaned.push(*c);
        }
        let map_start = |b: usize| {
            starts
                .binary_search_by_key(&b, |(clean, _, _)| *clean)
                .ok()
                .map(|idx| starts[idx].1)
        };
        let map_end = |b: usize| {
            // `b` is the end of a character: find the character that ends there.
            starts
                .iter()
                .find(|(clean, _, len)| clean + len == b)
                .map(|(_, orig, len)| orig + len)
        };
        for word in JIEBA.cut_for_search(&cleaned, true) {
            if word.word.chars().count() < 3 {
                continue;
            }
            if let (Some(from), Some(to)) = (map_start(word.byte_start), map_end(word.byte_end)) {
                out.push(Token {
                    offset_from: from,
                    offset_to: to,
                    position: 0,
                    text: word.word.to_string(),
                    position_length: 1,
                });
            }
        }
    }
}

/// Raw tokens of the whole text, sorted by offsets and de-duplicated, with positions assigned.
pub(crate) fn raw_tokens(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    for run in segment(text) {
        run_tokens(&run, &mut tokens);
    }
    finish(tokens)
}

/// Sorts tokens by offset (tantivy and the highlighter expect non-decreasing offsets), removes
/// exact duplicates and numbers the positions.
pub(crate) fn finish(mut tokens: Vec<Token>) -> Vec<Token> {
    tokens.sort_by(|a, b| {
        (a.offset_from, a.offset_to, &a.text).cmp(&(b.offset_from, b.offset_to, &b.text))
    });
    tokens.dedup_by(|a, b| {
        a.offset_from == b.offset_from && a.offset_to == b.offset_to && a.text == b.text
    });
    for (position, token) in tokens.iter_mut().enumerate() {
        token.position = position;
    }
    tokens
}

/// The script-routing tokenizer (see the module documentation). Normalisation (lowercase,
/// folding, stemming) is done by the filters of [`build_analyzer`].
#[derive(Clone, Copy, Debug, Default)]
pub struct MixedScriptTokenizer;

/// Token stream over a pre-computed token list.
pub struct VecTokenStream {
    tokens: Vec<Token>,
    /// Index of the current token plus one (0 = before the first).
    cursor: usize,
    empty: Token,
}

impl VecTokenStream {
    fn new(tokens: Vec<Token>) -> Self {
        VecTokenStream {
            tokens,
            cursor: 0,
            empty: Token::default(),
        }
    }
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        if self.cursor < self.tokens.len() {
            self.cursor += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        match self.cursor.checked_sub(1).and_then(|i| self.tokens.get(i)) {
            Some(token) => token,
            None => &self.empty,
        }
    }

    fn token_mut(&mut self) -> &mut Token {
        match self.cursor.checked_sub(1) {
            Some(i) if i < self.tokens.len() => &mut self.tokens[i],
            _ => &mut self.empty,
        }
    }
}

impl Tokenizer for MixedScriptTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream::new(raw_tokens(text))
    }
}

/// Whether a normalised term is made only of CJK (Han/Kana/Hangul) characters.
pub(crate) fn is_cjk_term(term: &str) -> bool {
    !term.is_empty()
        && term
            .chars()
            .all(|c| matches!(classify(c), Script::Han | Script::Kana | Script::Hangul))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_has_bigrams_and_long_jieba_words() {
        let terms = analyze("我的订单损坏了，请尽快处理");
        for want in ["订单", "损坏", "处理", "尽快"] {
            assert!(
                terms.contains(&want.to_string()),
                "{want} missing in {terms:?}"
            );
        }
        let terms = analyze("中华人民共和国");
        assert!(terms.contains(&"中华人民共和国".to_string()), "{terms:?}");
        assert!(terms.contains(&"共和国".to_string()), "{terms:?}");
    }

    #[test]
    fn japanese_bigrams_cross_kanji_kana() {
        let terms = analyze("注文した商品がまだ届きません");
        for want in ["注文", "商品", "届き", "した"] {
            assert!(
                terms.contains(&want.to_string()),
                "{want} missing in {terms:?}"
            );
        }
    }

    #[test]
    fn korean_bigrams() {
        let terms = analyze("배송이 너무 늦어요");
        assert_eq!(terms, vec!["배송", "송이", "너무", "늦어", "어요"]);
        assert_eq!(analyze("이"), vec!["이"]);
    }

    #[test]
    fn latin_is_lowercased_folded_stemmed() {
        assert_eq!(analyze("Orders DAMAGED"), vec!["order", "damag"]);
        assert_eq!(analyze("Café Ｒｅｆｕｎｄ"), vec!["cafe", "refund"]);
        // Zero-width characters and combining accents inside a word do not split it.
        assert_eq!(analyze("re\u{200B}fund"), vec!["refund"]);
        assert_eq!(analyze("cafe\u{301}"), vec!["cafe"]);
    }

    #[test]
    fn mixed_scripts_route_per_run() {
        let terms = analyze("iPhone手机屏幕坏了 refund 배송이");
        for want in ["iphon", "手机", "屏幕", "refund", "배송"] {
            assert!(
                terms.contains(&want.to_string()),
                "{want} missing in {terms:?}"
            );
        }
    }

    #[test]
    fn offsets_are_sorted_and_on_char_boundaries() {
        let text = "预计送达时间中华人民共和国 x\u{200B}y 注文した 배송이";
        let tokens = raw_tokens(text);
        let mut last = 0;
        for t in &tokens {
            assert!(t.offset_from >= last);
            last = t.offset_from;
            assert!(text.is_char_boundary(t.offset_from) && text.is_char_boundary(t.offset_to));
            assert!(t.offset_from < t.offset_to);
        }
    }
}
