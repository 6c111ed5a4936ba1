//! Customer memory rules (issue 3, principles P1/P2): what a preference key and value may be,
//! where a fact was learned, customer flags, contact kinds, phone normalisation to E.164, the
//! sortable/searchable form of a name, and birthdays/ages.
//!
//! Everything here is pure and bounded: inputs of any size are refused with a short message
//! that never echoes more than a few dozen characters of what was sent.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a customer-memory value was refused. The message says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    #[error(
        "a preference key must be 1-64 characters of a-z, 0-9, '.', '_' or '-' (got {0}); \
         for example 'drink' or 'wake-up'"
    )]
    PrefKey(String),
    #[error("a preference value must be 1-{max} characters (got {got})")]
    PrefValue { max: usize, got: usize },
    #[error("'{0}' is not a source (use agent, customer, email, order or import)")]
    Source(String),
    #[error("'{0}' is not a flag (use vip, abusive or fraud_suspect)")]
    Flag(String),
    #[error("'{0}' is not a contact kind (use email, phone or address)")]
    ContactKind(String),
    #[error("'{0}' is not a channel (use email, phone, sms, letter, portal or visit)")]
    Channel(String),
    #[error("'{0}' is not a phone number: {1}")]
    Phone(String, &'static str),
    #[error("'{0}' is not a date (use YYYY-MM-DD)")]
    Date(String),
    #[error("{field} must be at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{0} must not be empty")]
    Empty(&'static str),
}

/// Shows at most `n` characters of what someone sent, marking the cut.
pub fn preview(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().nth(n).is_some() {
        out.push('…');
    }
    format!("'{out}'")
}

/// Longest preference value, in characters.
pub const PREF_VALUE_MAX: usize = 1_000;
/// Longest preference key, in characters.
pub const PREF_KEY_MAX: usize = 64;

/// A preference key: 1-64 characters of `[a-z0-9._-]`, normalised (trimmed, lower-case,
/// inner spaces become `-`), e.g. `drink`, `newspaper`, `wake-up`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PrefKey(String);

impl PrefKey {
    pub fn parse(input: &str) -> Result<PrefKey, MemoryError> {
        // Bound the work before normalising: a huge key is refused on its length alone.
        if input.len() > PREF_KEY_MAX * 4 + 64 {
            return Err(MemoryError::PrefKey(format!(
                "{} characters",
                input.chars().count()
            )));
        }
        let s: String = input
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("-")
            .to_lowercase();
        let ok = (1..=PREF_KEY_MAX).contains(&s.chars().count())
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if ok {
            Ok(PrefKey(s))
        } else {
            Err(MemoryError::PrefKey(preview(input, 40)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PrefKey {
    type Error = MemoryError;
    fn try_from(v: String) -> Result<Self, Self::Error> {
        PrefKey::parse(&v)
    }
}

impl From<PrefKey> for String {
    fn from(k: PrefKey) -> String {
        k.0
    }
}

impl fmt::Display for PrefKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A preference value: trimmed, 1-1,000 characters, no control characters except none at all
/// (tabs and newlines become spaces).
pub fn pref_value(input: &str) -> Result<String, MemoryError> {
    if input.len() > PREF_VALUE_MAX * 4 {
        return Err(MemoryError::PrefValue {
            max: PREF_VALUE_MAX,
            got: input.chars().count(),
        });
    }
    let s: String = input
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let n = s.chars().count();
    if n == 0 || n > PREF_VALUE_MAX {
        return Err(MemoryError::PrefValue {
            max: PREF_VALUE_MAX,
            got: n,
        });
    }
    Ok(s)
}

/// Checks a free-text field: trimmed, non-empty when `required`, at most `max` characters.
pub fn bounded_text(
    field: &'static str,
    input: &str,
    max: usize,
    required: bool,
) -> Result<String, MemoryError> {
    if input.len() > max * 4 {
        return Err(MemoryError::TooLong { field, max });
    }
    let s = input.trim();
    if required && s.is_empty() {
        return Err(MemoryError::Empty(field));
    }
    if s.chars().count() > max {
        return Err(MemoryError::TooLong { field, max });
    }
    Ok(s.to_string())
}

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident, $err:ident, { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn parse(s: &str) -> Result<$name, MemoryError> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)*
                    _ => Err(MemoryError::$err(preview(s, 30))),
                }
            }

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum!(
    /// Where a preference was learned.
    PrefSource, Source, {
        Agent => "agent",
        Customer => "customer",
        Email => "email",
        Order => "order",
        Import => "import",
    }
);

str_enum!(
    /// A warning or status attached to a customer, with a reason and who set it.
    CustomerFlag, Flag, {
        Vip => "vip",
        Abusive => "abusive",
        FraudSuspect => "fraud_suspect",
    }
);

str_enum!(
    /// A kind of contact point.
    ContactKind, ContactKind, {
        Email => "email",
        Phone => "phone",
        Address => "address",
    }
);

str_enum!(
    /// The channel a customer prefers to be reached on.
    Channel, Channel, {
        Email => "email",
        Phone => "phone",
        Sms => "sms",
        Letter => "letter",
        Portal => "portal",
        Visit => "visit",
    }
);

/// A numbering region for national phone numbers written without a country code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhoneRegion {
    /// China, +86.
    Cn,
    /// South Korea, +82.
    Kr,
    /// Japan, +81.
    Jp,
    /// The North American Numbering Plan (USA, Canada, ...), +1.
    Nanp,
}

impl PhoneRegion {
    pub const ALL: [PhoneRegion; 4] = [
        PhoneRegion::Cn,
        PhoneRegion::Kr,
        PhoneRegion::Jp,
        PhoneRegion::Nanp,
    ];

    /// A guess from a language tag (`ko` → Korea, `zh` → China, `ja` → Japan, `en-US`/`en-CA`
    /// → NANP); `None` when the language says nothing about the country.
    pub fn from_language(tag: &str) -> Option<PhoneRegion> {
        let t = tag.trim().to_ascii_lowercase();
        let primary = t.split(['-', '_']).next().unwrap_or("");
        match primary {
            "ko" => Some(PhoneRegion::Kr),
            "zh" => Some(PhoneRegion::Cn),
            "ja" => Some(PhoneRegion::Jp),
            "en" if t.ends_with("-us") || t.ends_with("-ca") => Some(PhoneRegion::Nanp),
            _ => None,
        }
    }

    fn code(self) -> &'static str {
        match self {
            PhoneRegion::Cn => "86",
            PhoneRegion::Kr => "82",
            PhoneRegion::Jp => "81",
            PhoneRegion::Nanp => "1",
        }
    }
}

/// Normalises a phone number to E.164 (`+` and 8-15 digits).
///
/// Honest scope: this is a small rule set, not libphonenumber. It accepts separators
/// (spaces, `-`, `.`, `/`, parentheses), an international prefix written `+` or `00`, and:
/// - numbers already in international form: kept; for +86/+82/+81 a national trunk `0` written
///   after the country code (`+82 010-...`) is dropped, and the national part's length is
///   checked (+1: 10 digits; +86: 10-11; +82: 8-10; +81: 9-10); other codes only get the
///   general 8-15 digit check;
/// - national numbers (no `+`) when `region` says where they are from: Korea/Japan/China drop
///   the trunk `0` (Chinese mobiles `1xx` have none); NANP takes 10 digits or `1` + 10.
///
/// It does not know which ranges are allocated, so a well-formed but unused number passes.
pub fn normalize_phone(input: &str, region: Option<PhoneRegion>) -> Result<String, MemoryError> {
    let bad = |why: &'static str| {
        MemoryError::Phone(preview(input, 30).trim_matches('\'').to_string(), why)
    };
    if input.len() > 64 {
        return Err(bad("too long"));
    }
    let s = input.trim();
    let mut digits = String::new();
    let mut international = false;
    for (i, c) in s.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => international = true,
            ' ' | '-' | '.' | '/' | '(' | ')' | '\u{a0}' => {}
            _ => {
                return Err(bad(
                    "only digits, spaces, '-', '.', '(', ')' and a leading '+'",
                ));
            }
        }
    }
    if !international && digits.starts_with("00") {
        digits.drain(..2);
        international = true;
    }
    if digits.is_empty() {
        return Err(bad("no digits"));
    }
    let e164 = if international {
        international_form(&digits)
            .ok_or_else(|| bad("wrong number of digits for its country code"))?
    } else {
        let region =
            region.ok_or_else(|| bad("write it with its country code, e.g. +82 10 1234 5678"))?;
        national_form(&digits, region)
            .ok_or_else(|| bad("wrong number of digits for a national number"))?
    };
    let n = e164.len() - 1;
    if !(8..=15).contains(&n) {
        return Err(bad("an international number has 8-15 digits"));
    }
    Ok(e164)
}

fn international_form(digits: &str) -> Option<String> {
    for region in PhoneRegion::ALL {
        let code = region.code();
        if let Some(rest) = digits.strip_prefix(code) {
            // NANP numbers never start with 0 or 1; the trunk 0 of the others is dropped.
            let national = if region == PhoneRegion::Nanp {
                rest
            } else {
                rest.strip_prefix('0').unwrap_or(rest)
            };
            return national_ok(national, region).then(|| format!("+{code}{national}"));
        }
    }
    Some(format!("+{digits}"))
}

fn national_form(digits: &str, region: PhoneRegion) -> Option<String> {
    let national = match region {
        PhoneRegion::Nanp => {
            if digits.len() == 11 {
                digits.strip_prefix('1')?
            } else {
                digits
            }
        }
        PhoneRegion::Cn if digits.starts_with('1') => digits,
        _ => digits.strip_prefix('0')?,
    };
    national_ok(national, region).then(|| format!("+{}{national}", region.code()))
}

fn national_ok(national: &str, region: PhoneRegion) -> bool {
    let n = national.len();
    let first = national.chars().next().unwrap_or('0');
    match region {
        PhoneRegion::Nanp => n == 10 && !matches!(first, '0' | '1'),
        PhoneRegion::Cn => (10..=11).contains(&n) && first != '0',
        PhoneRegion::Kr => (8..=10).contains(&n) && first != '0',
        PhoneRegion::Jp => (9..=10).contains(&n) && first != '0',
    }
}

/// The sortable and searchable form of a name in any script: trimmed, inner whitespace
/// collapsed to one space, lower-cased (Unicode-aware, so Latin, Greek and Cyrillic compare
/// case-insensitively), and common Latin diacritics folded (`é` → `e`, `ß` → `ss`) so that
/// "Müller" is found by "muller". Han, Hangul and Kana are kept as written.
pub fn name_key(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for word in name.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars().flat_map(char::to_lowercase) {
            match fold_latin(c) {
                Some(f) => out.push_str(f),
                None => out.push(c),
            }
        }
    }
    out
}

fn fold_latin(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' | 'ĝ' | 'ġ' | 'ģ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ł' | 'ľ' | 'ĺ' | 'ļ' => "l",
        'ñ' | 'ń' | 'ň' | 'ņ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'œ' => "oe",
        'ř' | 'ŕ' => "r",
        'ś' | 'š' | 'ş' | 'ș' => "s",
        'ß' => "ss",
        'ť' | 'ţ' | 'ț' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'þ' => "th",
        _ => return None,
    })
}

/// A calendar date (a birthday), checked: `YYYY-MM-DD`, year 1850-2200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    pub fn parse(input: &str) -> Result<Date, MemoryError> {
        let bad = || MemoryError::Date(preview(input, 20).trim_matches('\'').to_string());
        let s = input.trim();
        let mut parts = s.split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u8 = m.parse().map_err(|_| bad())?;
        let day: u8 = d.parse().map_err(|_| bad())?;
        if !(1850..=2200).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(bad());
        }
        Ok(Date { year, month, day })
    }

    /// Whole years from this date (a birthday) to `today`; `None` if `today` is earlier.
    pub fn age_on(self, today: Date) -> Option<u32> {
        let mut years = today.year - self.year;
        if (today.month, today.day) < (self.month, self.day) {
            years -= 1;
        }
        u32::try_from(years).ok()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference_keys_are_normalised_and_bounded() {
        assert_eq!(PrefKey::parse(" Drink ").unwrap().as_str(), "drink");
        assert_eq!(PrefKey::parse("Wake up").unwrap().as_str(), "wake-up");
        assert_eq!(
            PrefKey::parse("contact.after_18").unwrap().as_str(),
            "contact.after_18"
        );
        assert!(PrefKey::parse("").is_err());
        assert!(PrefKey::parse("drink!").is_err());
        assert!(PrefKey::parse("饮料").is_err());
        assert!(PrefKey::parse(&"a".repeat(64)).is_ok());
        assert!(PrefKey::parse(&"a".repeat(65)).is_err());
        let huge = "k".repeat(10 * 1024 * 1024);
        let e = PrefKey::parse(&huge).unwrap_err().to_string();
        assert!(e.len() < 200, "the error does not echo the input: {e}");
        assert!(e.contains("1-64"), "{e}");
    }

    #[test]
    fn preference_values_are_bounded() {
        assert_eq!(pref_value("  tea ").unwrap(), "tea");
        assert_eq!(pref_value("a\tb").unwrap(), "a b");
        assert_eq!(pref_value("华尔街日报").unwrap(), "华尔街日报");
        assert!(pref_value("   ").is_err());
        assert!(pref_value(&"x".repeat(1000)).is_ok());
        assert!(pref_value(&"x".repeat(1001)).is_err());
        let e = pref_value(&"v".repeat(10 * 1024 * 1024))
            .unwrap_err()
            .to_string();
        assert!(e.len() < 200 && e.contains("1-1000"), "{e}");
    }

    #[test]
    fn enums_parse_and_refuse() {
        assert_eq!(PrefSource::parse("Email").unwrap(), PrefSource::Email);
        assert_eq!(
            CustomerFlag::parse("fraud_suspect").unwrap().as_str(),
            "fraud_suspect"
        );
        assert!(
            CustomerFlag::parse("gold")
                .unwrap_err()
                .to_string()
                .contains("vip")
        );
        assert_eq!(Channel::parse("sms").unwrap(), Channel::Sms);
        assert!(ContactKind::parse("fax").is_err());
    }

    #[test]
    fn phones_normalise_to_e164() {
        use PhoneRegion::*;
        let n = |s: &str, r: Option<PhoneRegion>| normalize_phone(s, r);
        assert_eq!(n("+82 10-1234-5678", None).unwrap(), "+821012345678");
        assert_eq!(n("+82 010-1234-5678", None).unwrap(), "+821012345678");
        assert_eq!(n("010-1234-5678", Some(Kr)).unwrap(), "+821012345678");
        assert_eq!(n("02-312-3456", Some(Kr)).unwrap(), "+8223123456");
        assert_eq!(n("138 0013 8000", Some(Cn)).unwrap(), "+8613800138000");
        assert_eq!(n("010-12345678", Some(Cn)).unwrap(), "+861012345678");
        assert_eq!(n("0086 138 0013 8000", None).unwrap(), "+8613800138000");
        assert_eq!(n("090-1234-5678", Some(Jp)).unwrap(), "+819012345678");
        assert_eq!(n("03-1234-5678", Some(Jp)).unwrap(), "+81312345678");
        assert_eq!(n("(415) 555-0100", Some(Nanp)).unwrap(), "+14155550100");
        assert_eq!(n("1-415-555-0100", Some(Nanp)).unwrap(), "+14155550100");
        assert_eq!(n("+1 415 555 0100", None).unwrap(), "+14155550100");
        assert_eq!(n("+44 20 7946 0958", None).unwrap(), "+442079460958");
        // National numbers need a region; bad shapes are refused with a reason.
        assert!(
            n("010-1234-5678", None)
                .unwrap_err()
                .to_string()
                .contains("country code")
        );
        assert!(n("+1 415 555", None).is_err());
        assert!(n("+1 015 555 0100", None).is_err());
        assert!(n("call me", None).is_err());
        assert!(n("", None).is_err());
        assert!(n(&"1".repeat(1000), None).is_err());
        assert!(n("+12", None).is_err());
    }

    #[test]
    fn regions_from_languages() {
        assert_eq!(PhoneRegion::from_language("ko"), Some(PhoneRegion::Kr));
        assert_eq!(PhoneRegion::from_language("zh-CN"), Some(PhoneRegion::Cn));
        assert_eq!(PhoneRegion::from_language("en-US"), Some(PhoneRegion::Nanp));
        assert_eq!(PhoneRegion::from_language("en"), None);
    }

    #[test]
    fn name_keys_fold_case_and_diacritics_in_any_script() {
        assert_eq!(name_key("  Ann   MÜLLER "), "ann muller");
        assert_eq!(name_key("José Ñúñez"), "jose nunez");
        assert_eq!(name_key("Straße"), "strasse");
        assert_eq!(name_key("王伟"), "王伟");
        assert_eq!(name_key("김민준"), "김민준");
        assert_eq!(name_key("ΑΘΗΝΑ"), "αθηνα");
        assert_eq!(name_key("Иван"), "иван");
    }

    #[test]
    fn dates_and_ages() {
        let b = Date::parse("1980-02-29").unwrap();
        assert_eq!(b.to_string(), "1980-02-29");
        assert!(Date::parse("1981-02-29").is_err());
        assert!(Date::parse("1980-2-3").is_err());
        assert!(Date::parse("yesterday").is_err());
        assert_eq!(b.age_on(Date::parse("2026-02-28").unwrap()), Some(45));
        assert_eq!(b.age_on(Date::parse("2026-03-01").unwrap()), Some(46));
        assert_eq!(b.age_on(Date::parse("1970-01-01").unwrap()), None);
    }
}
