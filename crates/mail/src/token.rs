//! HMAC-authenticated case tokens in our Message-IDs and reply addresses.
//!
//! Outbound Message-IDs look like `c{case}.m{msg}.{random}.{mac}@{domain}` and reply addresses
//! like `support+c{case}-{mac}@{domain}`. The MAC is HMAC-SHA256 under a key only the server
//! knows, truncated to 64 bits (16 hex digits), over a purpose-separated string, so a token
//! cannot be forged or moved to another case, and an address MAC cannot be reused as a
//! Message-ID MAC. Verification compares in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::CaseId;
use crate::parse::{ParsedMail, to_hex};

/// Hex digits of the truncated MAC (64 bits).
const MAC_HEX_LEN: usize = 16;

/// Errors creating tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The key is too short to be secret.
    #[error("the case-token key must be at least 16 bytes (got {0}); generate 32 random bytes")]
    KeyTooShort(usize),
    /// The operating system's random source failed.
    #[error("could not read random bytes from the operating system: {0}")]
    Random(String),
    /// The domain or local part would make an invalid address.
    #[error(
        "invalid mail domain or local part {0:?}: use plain ASCII like `support` and `shop.example`"
    )]
    InvalidAddressPart(String),
}

/// Where a verified token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenSource {
    /// In-Reply-To header (one of our Message-IDs).
    InReplyTo,
    /// References header.
    References,
    /// A To address (our reply address).
    To,
    /// A Cc address.
    Cc,
    /// Delivered-To / X-Original-To added by the receiving MTA.
    DeliveredTo,
}

/// A case token whose MAC verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The case the token names.
    pub case_id: CaseId,
    /// The message id inside a Message-ID token (`m{msg}`), if the token was one.
    pub message_id: Option<i64>,
    /// Where it was found.
    pub source: TokenSource,
}

/// The secret key for case tokens. Keep it stable: changing it invalidates tokens in
/// customers' mail clients (threading then falls back to References and subjects).
#[derive(Clone)]
pub struct TokenKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(<secret>)")
    }
}

impl TokenKey {
    /// Wraps a secret key of at least 16 bytes.
    pub fn new(key: impl Into<Vec<u8>>) -> Result<Self, TokenError> {
        let key = key.into();
        if key.len() < 16 {
            return Err(TokenError::KeyTooShort(key.len()));
        }
        Ok(Self { key })
    }

    fn mac(&self, purpose: &str, data: &str) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail; fall back to an empty-key
        // MAC type-wise only (never reached).
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(data.as_bytes());
        mac
    }

    fn tag(&self, purpose: &str, data: &str) -> String {
        let out = self.mac(purpose, data).finalize().into_bytes();
        let mut hex = to_hex(&out);
        hex.truncate(MAC_HEX_LEN);
        hex
    }

    fn check(&self, purpose: &str, data: &str, tag_hex: &str) -> bool {
        if tag_hex.len() != MAC_HEX_LEN {
            return false;
        }
        let Some(tag) = from_hex(tag_hex) else {
            return false;
        };
        self.mac(purpose, data).verify_truncated_left(&tag).is_ok()
    }

    /// Creates the Message-ID for outbound message `message` of case `case`, without angle
    /// brackets: `c{case}.m{message}.{random}.{mac}@{domain}`.
    pub fn outbound_message_id(
        &self,
        case: CaseId,
        message: i64,
        domain: &str,
    ) -> Result<String, TokenError> {
        check_domain(domain)?;
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| TokenError::Random(e.to_string()))?;
        let body = format!("c{case}.m{message}.{}", to_hex(&random));
        let mac = self.tag("message-id", &body);
        Ok(format!("{body}.{mac}@{}", domain.to_ascii_lowercase()))
    }

    /// Creates the reply address for a case by plus-addressing the mailbox:
    /// `support+c{case}-{mac}@{domain}`.
    pub fn reply_address(
        &self,
        case: CaseId,
        local_part: &str,
        domain: &str,
    ) -> Result<String, TokenError> {
        check_domain(domain)?;
        if local_part.is_empty()
            || local_part.contains(['+', '@'])
            || !local_part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(TokenError::InvalidAddressPart(local_part.to_string()));
        }
        let mac = self.tag("reply-address", &format!("c{case}"));
        Ok(format!(
            "{local_part}+c{case}-{mac}@{}",
            domain.to_ascii_lowercase()
        ))
    }

    /// Verifies a Message-ID we generated (with or without angle brackets). Returns the case
    /// and message ids when the MAC is valid.
    pub fn verify_message_id(&self, id: &str) -> Option<(CaseId, i64)> {
        // Mail systems may change case; our ids are lower-case.
        let id = id
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_ascii_lowercase();
        let (left, _domain) = id.rsplit_once('@')?;
        let (body, mac) = left.rsplit_once('.')?;
        let mut pieces = body.split('.');
        let case = parse_id(pieces.next()?.strip_prefix('c')?)?;
        let msg = parse_id(pieces.next()?.strip_prefix('m')?)?;
        let random = pieces.next()?;
        if pieces.next().is_some() || random.is_empty() || random.len() > 32 {
            return None;
        }
        self.check("message-id", body, mac).then_some((case, msg))
    }

    /// Verifies a plus-addressed reply address we generated. Returns the case id when valid.
    pub fn verify_reply_address(&self, address: &str) -> Option<CaseId> {
        let address = address.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, _domain) = address.rsplit_once('@')?;
        let (_, tag) = local.split_once('+')?;
        let (case_part, mac) = tag.rsplit_once('-')?;
        let case = parse_id(case_part.strip_prefix(['c', 'C'])?)?;
        self.check(
            "reply-address",
            &format!("c{case}"),
            &mac.to_ascii_lowercase(),
        )
        .then_some(case)
    }

    /// Looks for a verified token in a parsed message, in this order: In-Reply-To, References
    /// (newest first), To, Cc, Delivered-To. Forged or tampered tokens are ignored.
    pub fn find_verified(&self, mail: &ParsedMail) -> Option<VerifiedToken> {
        for id in &mail.in_reply_to {
            if let Some((case_id, msg)) = self.verify_message_id(id) {
                return Some(VerifiedToken {
                    case_id,
                    message_id: Some(msg),
                    source: TokenSource::InReplyTo,
                });
            }
        }
        for id in mail.references.iter().rev() {
            if let Some((case_id, msg)) = self.verify_message_id(id) {
                return Some(VerifiedToken {
                    case_id,
                    message_id: Some(msg),
                    source: TokenSource::References,
                });
            }
        }
        let addresses = mail
            .to
            .iter()
            .map(|a| (a.address.as_str(), TokenSource::To))
            .chain(
                mail.cc
                    .iter()
                    .map(|a| (a.address.as_str(), TokenSource::Cc)),
            )
            .chain(
                mail.delivered_to
                    .iter()
                    .map(|a| (a.as_str(), TokenSource::DeliveredTo)),
            );
        for (addr, source) in addresses {
            if let Some(case_id) = self.verify_reply_address(addr) {
                return Some(VerifiedToken {
                    case_id,
                    message_id: None,
                    source,
                });
            }
        }
        None
    }
}

fn check_domain(domain: &str) -> Result<(), TokenError> {
    let ok = !domain.is_empty()
        && domain.len() <= 253
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(TokenError::InvalidAddressPart(domain.to_string()))
    }
}

/// Parses a non-negative decimal id without sign or leading `+`.
fn parse_id(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TokenKey {
        TokenKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap()
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(
            TokenKey::new(b"short".to_vec()).unwrap_err(),
            TokenError::KeyTooShort(5)
        );
    }

    #[test]
    fn message_id_round_trip() {
        let k = key();
        let id = k.outbound_message_id(1234, 99, "Shop.Example").unwrap();
        assert!(id.starts_with("c1234.m99."), "{id}");
        assert!(id.ends_with("@shop.example"));
        assert_eq!(k.verify_message_id(&id), Some((1234, 99)));
        assert_eq!(k.verify_message_id(&format!("<{id}>")), Some((1234, 99)));
        assert_eq!(k.verify_message_id(&id.to_uppercase()), Some((1234, 99)));
        // two ids differ in their random part
        assert_ne!(id, k.outbound_message_id(1234, 99, "shop.example").unwrap());
    }

    #[test]
    fn forged_and_tampered_message_ids_fail() {
        let k = key();
        let id = k.outbound_message_id(1234, 99, "shop.example").unwrap();
        // move to another case
        let moved = id.replacen("c1234.", "c1235.", 1);
        assert_eq!(k.verify_message_id(&moved), None);
        // flip one MAC digit
        let (left, domain) = id.rsplit_once('@').unwrap();
        let mut chars: Vec<char> = left.chars().collect();
        let last = chars.len() - 1;
        chars[last] = if chars[last] == '0' { '1' } else { '0' };
        let flipped = format!("{}@{domain}", chars.into_iter().collect::<String>());
        assert_eq!(k.verify_message_id(&flipped), None);
        // a different key
        let other = TokenKey::new(b"another-secret-key-of-32-bytes!!".to_vec()).unwrap();
        assert_eq!(other.verify_message_id(&id), None);
        // hand-made
        assert_eq!(k.verify_message_id("c1.m1.00.0000000000000000@x"), None);
        assert_eq!(k.verify_message_id("garbage"), None);
        assert_eq!(k.verify_message_id("c-1.m1.00.0000000000000000@x"), None);
    }

    #[test]
    fn reply_address_round_trip_and_forgery() {
        let k = key();
        let addr = k.reply_address(1234, "support", "shop.example").unwrap();
        assert!(addr.starts_with("support+c1234-"), "{addr}");
        assert_eq!(k.verify_reply_address(&addr), Some(1234));
        assert_eq!(k.verify_reply_address(&addr.to_uppercase()), Some(1234));
        let moved = addr.replace("+c1234-", "+c1235-");
        assert_eq!(k.verify_reply_address(&moved), None);
        assert_eq!(
            k.verify_reply_address("support+c1234-0000000000000000@shop.example"),
            None
        );
        assert_eq!(k.verify_reply_address("support@shop.example"), None);
        // an address MAC is not a Message-ID MAC
        let mac = addr
            .split('-')
            .next_back()
            .unwrap()
            .split('@')
            .next()
            .unwrap();
        assert_eq!(
            k.verify_message_id(&format!("c1234.m0.00.{mac}@shop.example")),
            None
        );
        assert!(k.reply_address(1, "sup port", "shop.example").is_err());
        assert!(k.reply_address(1, "support", "shop example").is_err());
    }
}
