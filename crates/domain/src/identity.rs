//! Identity rules (issue 3): how an inbound email address or phone number is written before
//! it is matched against known customers, when two customers look like the same person
//! (duplicate reasons), which of two conflicting preferences survives a merge, and what an
//! erased customer is called.
//!
//! Pure functions; the store finds the candidates and the app layer applies these rules.

use crate::customer::{MemoryError, PhoneRegion, name_key, normalize_phone};
use crate::values::{EmailAddress, ValueError};
use serde::Serialize;

/// The key an email address is matched by: trimmed, local part and domain lower-cased,
/// plus-addressing kept as written (`Ann+Shop@X.com` → `ann+shop@x.com`, a different key from
/// `ann@x.com`: the customer chose that address).
pub fn email_key(input: &str) -> Result<String, ValueError> {
    Ok(EmailAddress::parse(input)?.as_str().to_string())
}

/// The key a phone number is matched by: E.164. A national number needs `region`.
pub fn phone_key(input: &str, region: Option<PhoneRegion>) -> Result<String, MemoryError> {
    normalize_phone(input, region)
}

/// Why two customers are listed as possible duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateReason {
    /// Both have the same email address (normalised).
    SharedEmail,
    /// Both have the same phone number (E.164).
    SharedPhone,
    /// Their names are the same or nearly so, and they share a postal address.
    CloseNameSameAddress,
}

impl DuplicateReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DuplicateReason::SharedEmail => "shared_email",
            DuplicateReason::SharedPhone => "shared_phone",
            DuplicateReason::CloseNameSameAddress => "close_name_same_address",
        }
    }
}

/// Whether two names are "the same or very close": equal after [`name_key`] (case, spacing,
/// Latin accents), the same words in another order ("Kim Minjun" / "Minjun Kim"), or — for
/// longer names only, so that short Han/Hangul names that differ in one character are not
/// taken for each other — one typo apart (two for names of 12 characters or more).
pub fn names_close(a: &str, b: &str) -> bool {
    let (ka, kb) = (name_key(a), name_key(b));
    if ka.is_empty() || kb.is_empty() {
        return false;
    }
    if ka == kb {
        return true;
    }
    let sorted = |k: &str| {
        let mut w: Vec<&str> = k.split(' ').collect();
        w.sort_unstable();
        w.join(" ")
    };
    if sorted(&ka) == sorted(&kb) {
        return true;
    }
    let shorter = ka.chars().count().min(kb.chars().count());
    let allowed = match shorter {
        0..=5 => 0,
        6..=11 => 1,
        _ => 2,
    };
    allowed > 0 && strsim::levenshtein(&ka, &kb) <= allowed
}

/// When both customers of a merge hold a current value for the same preference key: whether
/// the target's value stays current. The most recently confirmed value wins; on a tie the
/// target's. The other value is kept as history (superseded by the winner).
pub fn target_preference_wins(target_confirmed_at: i64, source_confirmed_at: i64) -> bool {
    target_confirmed_at >= source_confirmed_at
}

/// The display name an erased customer keeps, so statistics and old cases still have a row
/// to point to without any personal data.
pub fn erased_name(id: i64) -> String {
    format!("Erased customer #{id}")
}

/// What replaces an erased text (a message body, a preference value, a flag reason).
pub const ERASED_TEXT: &str = "[erased]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_keys_fold_case_and_keep_plus_addressing() {
        assert_eq!(
            email_key(" Ann.Lee@Example.COM ").unwrap(),
            "ann.lee@example.com"
        );
        assert_eq!(email_key("Ann+Shop@X.com").unwrap(), "ann+shop@x.com");
        assert_ne!(
            email_key("ann+shop@x.com").unwrap(),
            email_key("ann@x.com").unwrap()
        );
        assert!(email_key("not an address").is_err());
    }

    #[test]
    fn phone_keys_are_e164_whatever_the_writing() {
        let a = phone_key("+82 10-1234-5678", None).unwrap();
        assert_eq!(
            phone_key("010 1234 5678", Some(PhoneRegion::Kr)).unwrap(),
            a
        );
        assert_eq!(phone_key("0082-10-1234-5678", None).unwrap(), a);
        assert!(phone_key("010 1234 5678", None).is_err());
    }

    #[test]
    fn close_names() {
        assert!(names_close("Ann Müller", "ann  muller"));
        assert!(names_close("Kim Minjun", "Minjun Kim"));
        assert!(names_close("Katherine Smith", "Katharine Smith"));
        assert!(names_close(
            "Alexandra Papadopoulou",
            "Alexandra Papadopolou"
        ));
        assert!(names_close("王伟", "王伟"));
        // Short names that differ in one character are different people.
        assert!(!names_close("王伟", "王芳"));
        assert!(!names_close("Ann Lee", "Ann Lim"));
        assert!(!names_close("Katherine Smith", "Robert Smith"));
        assert!(!names_close("", ""));
    }

    #[test]
    fn the_most_recent_confirmation_wins_a_preference_conflict() {
        assert!(target_preference_wins(10, 5));
        assert!(!target_preference_wins(5, 10));
        assert!(target_preference_wins(7, 7));
    }

    #[test]
    fn erased_customers_have_a_neutral_name() {
        assert_eq!(erased_name(42), "Erased customer #42");
    }
}
