//! Value types parsed at the edge ("parse, don't validate"): once you hold an `EmailAddress`
//! or a `TenantSlug`, it is well-formed.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value was refused. The message is shown to the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("'{0}' is not an email address (expected name@domain)")]
    Email(String),
    #[error("a workspace name must be 2-40 characters of a-z, 0-9 and '-', got '{0}'")]
    Slug(String),
    #[error("the password is too short: use at least {min} characters")]
    PasswordTooShort { min: usize },
    #[error("the password is too long: use at most {max} characters")]
    PasswordTooLong { max: usize },
    #[error("'{0}' is not a role (use admin, manager or agent)")]
    Role(String),
}

/// A syntactically valid email address, normalised: trimmed, domain lowercased, local part
/// lowercased (plus-addressing such as `ann+shop@x.com` is kept as written).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let s = input.trim();
        let bad = || ValueError::Email(truncate(s, 80));
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.len() > 64
            || domain.is_empty()
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || local.contains('@')
            || s.contains(['<', '>', '"', ',', ';'])
        {
            return Err(bad());
        }
        Ok(Self(format!(
            "{}@{}",
            local.to_lowercase(),
            domain.to_lowercase()
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> String {
        e.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The short name of a tenant (workspace), used in host names such as `acme.example.com`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantSlug(String);

impl TenantSlug {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let s = input.trim().to_ascii_lowercase();
        let ok = (2..=40).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(s))
        } else {
            Err(ValueError::Slug(truncate(input, 60)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantSlug {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TenantSlug> for String {
    fn from(s: TenantSlug) -> String {
        s.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a new password against the policy (length only: NIST SP 800-63B advises against
/// composition rules).
pub fn check_password(pw: &str) -> Result<(), ValueError> {
    const MIN: usize = 10;
    const MAX: usize = 512;
    let n = pw.chars().count();
    if n < MIN {
        return Err(ValueError::PasswordTooShort { min: MIN });
    }
    if pw.len() > MAX {
        return Err(ValueError::PasswordTooLong { max: MAX });
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_and_keeps_plus() {
        let e = EmailAddress::parse("  Ann+Shop@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "ann+shop@example.com");
    }

    #[test]
    fn email_rejects_garbage() {
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "a b@x.com",
            "ann@x",
            "a@x..com",
            "<a@x.com>",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn slug_rules() {
        assert_eq!(TenantSlug::parse("Acme-2").unwrap().as_str(), "acme-2");
        assert!(TenantSlug::parse("a").is_err());
        assert!(TenantSlug::parse("-acme").is_err());
        assert!(TenantSlug::parse("ac me").is_err());
    }

    #[test]
    fn password_policy() {
        assert!(check_password("short").is_err());
        assert!(check_password("long enough pass").is_ok());
        assert!(check_password(&"x".repeat(600)).is_err());
    }
}
