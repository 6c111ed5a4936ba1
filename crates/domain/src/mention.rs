//! @mentions of staff in internal notes (issue 7 item 2): which words of a note are mentions,
//! and whether a mention names a given staff member. Pure; the app turns matches into
//! notifications.
//!
//! A mention is `@` at the start of the text or after a character that is not a letter or
//! digit (so `ann@example.com` is no mention), followed by letters, digits, `.`, `_`, `-`,
//! `+` or `@` (trailing dots and dashes are dropped: "@dana." mentions `dana`). It names a
//! staff member when it equals, ignoring case, their email address, the part of it before
//! `@`, or their display name written without spaces (`@DanaKim` for "Dana Kim", `@김민지`).

/// Most mentions read from one note (the rest are ignored).
pub const MENTIONS_MAX: usize = 20;

/// The mentions in `text`, lower-cased, each once, in order of appearance.
pub fn mentions(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() && out.len() < MENTIONS_MAX {
        let starts = chars[i] == '@' && (i == 0 || !chars[i - 1].is_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len()
            && (chars[j].is_alphanumeric() || matches!(chars[j], '.' | '_' | '-' | '+' | '@'))
            && j - i <= 254
        {
            j += 1;
        }
        let word: String = chars[i + 1..j].iter().collect();
        let word = word.trim_end_matches(['.', '-', '@']).to_lowercase();
        if !word.is_empty() && !out.contains(&word) {
            out.push(word);
        }
        i = j.max(i + 1);
    }
    out
}

/// Whether the mention `word` (as [`mentions`] returns it) names the staff member with this
/// email and display name.
pub fn names(word: &str, email: &str, display_name: &str) -> bool {
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or("");
    let joined: String = display_name
        .split_whitespace()
        .collect::<String>()
        .to_lowercase();
    word == email || (!local.is_empty() && word == local) || (!joined.is_empty() && word == joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mentions_but_not_addresses() {
        assert_eq!(
            mentions("@dana please look; cc @Lee.Min, mail ann@example.com. @dana again"),
            vec!["dana", "lee.min"]
        );
        assert_eq!(mentions("ask @김민지."), vec!["김민지"]);
        assert_eq!(mentions("@dana@example.com"), vec!["dana@example.com"]);
        assert!(mentions("no mentions @ here, a@b").is_empty());
        assert!(mentions("").is_empty());
        let many: String = (0..50).map(|i| format!("@u{i} ")).collect();
        assert_eq!(mentions(&many).len(), MENTIONS_MAX);
    }

    #[test]
    fn a_mention_names_a_staff_member() {
        assert!(names("dana", "Dana@Example.com", "Dana Kim"));
        assert!(names("danakim", "d@example.com", "Dana Kim"));
        assert!(names("dana@example.com", "dana@example.com", "D"));
        assert!(names("김민지", "m@example.com", "김 민지"));
        assert!(!names("dan", "dana@example.com", "Dana Kim"));
        assert!(!names("kim", "dana@example.com", "Dana Kim"));
    }
}
