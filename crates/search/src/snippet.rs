//! Highlighted snippets: the best window of a stored text, HTML-escaped, with `<mark>` around
//! the words that matched.
//!
//! The output is safe to insert as HTML element content *and* inside a quoted attribute: every
//! character of the original text that is special in HTML (`& < > " '`) is escaped, and the only
//! markup added is `<mark>`/`</mark>` and `…`. A body containing `<script>` comes out as
//! `&lt;script&gt;`.

use std::collections::HashSet;
use std::ops::Range;

use tantivy::tokenizer::TextAnalyzer;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Byte ranges of `text` whose terms are in `terms`, sorted and merged.
fn hit_ranges(
    text: &str,
    terms: &HashSet<String>,
    analyzer: &mut TextAnalyzer,
) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    if terms.is_empty() {
        return ranges;
    }
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        if terms.contains(&token.text) {
            ranges.push(token.offset_from..token.offset_to);
        }
    }
    merge(ranges)
}

fn merge(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Byte offset `n` characters after `from` (or the end of the text).
fn advance_chars(text: &str, from: usize, n: usize) -> usize {
    text.get(from..)
        .and_then(|rest| rest.char_indices().nth(n).map(|(i, _)| from + i))
        .unwrap_or(text.len())
}

/// Byte offset up to `n` characters before `to`, preferring to start after a space.
fn back_chars(text: &str, to: usize, n: usize) -> usize {
    let Some(head) = text.get(..to) else {
        return 0;
    };
    let mut start = to;
    for (i, (offset, _)) in head.char_indices().rev().enumerate() {
        if i >= n {
            break;
        }
        start = offset;
    }
    if start == 0 || text[..start].ends_with(char::is_whitespace) {
        return start;
    }
    // Start at a word boundary when there is one close by.
    if let Some(space) = text
        .get(start..to)
        .and_then(|s| s.find(char::is_whitespace))
    {
        let after = start + space;
        let next = advance_chars(text, after, 1);
        if next <= to {
            return next;
        }
    }
    start
}

/// Renders `text[window]` escaped, with `<mark>` around `hits` (clamped to the window).
fn render(text: &str, window: Range<usize>, hits: &[Range<usize>]) -> String {
    let mut out = String::new();
    if window.start > 0 {
        out.push('…');
    }
    let mut cursor = window.start;
    for hit in hits {
        let start = hit.start.max(window.start);
        let end = hit.end.min(window.end);
        if start >= end || start < cursor {
            continue;
        }
        out.push_str(&escape_html(text.get(cursor..start).unwrap_or("")));
        out.push_str("<mark>");
        out.push_str(&escape_html(text.get(start..end).unwrap_or("")));
        out.push_str("</mark>");
        cursor = end;
    }
    out.push_str(&escape_html(text.get(cursor..window.end).unwrap_or("")));
    if window.end < text.len() {
        out.push('…');
    }
    out
}

/// The whole text (up to `max_chars`), highlighted. For titles.
pub(crate) fn highlight_all(
    text: &str,
    terms: &HashSet<String>,
    analyzer: &mut TextAnalyzer,
    max_chars: usize,
) -> String {
    let hits = hit_ranges(text, terms, analyzer);
    let end = advance_chars(text, 0, max_chars);
    render(text, 0..end, &hits)
}

/// The window of at most `max_chars` characters with the most distinct hits, highlighted.
/// Without hits: the start of the text.
pub(crate) fn best_snippet(
    text: &str,
    terms: &HashSet<String>,
    analyzer: &mut TextAnalyzer,
    max_chars: usize,
) -> String {
    let hits = hit_ranges(text, terms, analyzer);
    if hits.is_empty() {
        let end = advance_chars(text, 0, max_chars);
        return render(text, 0..end, &[]);
    }
    // Lead-in before the first hit of a window: a fifth of the window.
    let lead = max_chars / 5;
    let mut best: Option<(usize, usize, Range<usize>)> = None;
    // Windows start shortly before each hit; look at the first 64 hits only.
    for (i, hit) in hits.iter().take(64).enumerate() {
        // Near the beginning, start at the beginning.
        let start = if advance_chars(text, 0, max_chars) >= hit.end {
            0
        } else {
            back_chars(text, hit.start, lead)
        };
        let end = advance_chars(text, start, max_chars);
        let inside: Vec<&Range<usize>> = hits[i..].iter().take_while(|h| h.end <= end).collect();
        let distinct: HashSet<&str> = inside
            .iter()
            .filter_map(|h| text.get(h.start..h.end))
            .map(str::trim)
            .collect();
        let score = (distinct.len(), inside.len());
        let better = match &best {
            None => true,
            Some((d, n, _)) => score > (*d, *n),
        };
        if better {
            best = Some((score.0, score.1, start..end));
        }
    }
    let window = best.map_or(0..advance_chars(text, 0, max_chars), |(_, _, w)| w);
    render(text, window, &hits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzer::build_analyzer;

    fn terms(list: &[&str]) -> HashSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn escapes_everything_and_marks_hits() {
        let text = "<script>alert('x')</script> refund & \"return\"";
        let html = best_snippet(text, &terms(&["refund"]), &mut build_analyzer(), 200);
        assert_eq!(
            html,
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; <mark>refund</mark> &amp; \
             &quot;return&quot;"
        );
    }

    #[test]
    fn cjk_bigram_hits_merge_into_one_mark() {
        let html = best_snippet(
            "我的订单损坏了，请尽快处理",
            &terms(&["订单", "单损", "损坏"]),
            &mut build_analyzer(),
            50,
        );
        assert_eq!(html, "我的<mark>订单损坏</mark>了，请尽快处理");
    }

    #[test]
    fn long_text_window_has_ellipses() {
        let text = format!(
            "{} the parcel arrived broken {}",
            "x ".repeat(300),
            "y ".repeat(300)
        );
        let html = best_snippet(&text, &terms(&["broken"]), &mut build_analyzer(), 60);
        assert!(html.starts_with('…') && html.ends_with('…'), "{html}");
        assert!(html.contains("<mark>broken</mark>"), "{html}");
    }
}
