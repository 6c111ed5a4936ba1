//! Random secrets and their hashes, and secrets kept encrypted at rest.
//!
//! Sessions and tokens: clients hold the secret; the database holds only its SHA-256, so a
//! leaked database cannot be replayed as sessions or tokens.
//!
//! Secrets Concierge must use itself (an IMAP mailbox's password) are stored encrypted with
//! ChaCha20-Poly1305 under a [`SecretKey`] that is never in the database: `CONCIERGE_SECRET_KEY`
//! (or `[secrets] key`), else `[secrets] key_file`, else `secrets.key` in the data directory,
//! created with mode 0600 on first use. The stored form is `enc:v1:` and base64 of the random
//! 96-bit nonce followed by the ciphertext and tag; a value without that prefix is plain text
//! written before encryption existed and is still accepted (and re-encrypted by its user).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use ring::aead;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A random 256-bit secret, URL-safe base64 (43 characters).
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex SHA-256 of a secret, as stored.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A readable generated password (for `concierge user add` without `--password-stdin`).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

/// The prefix of an encrypted stored secret (format version 1).
pub const ENCRYPTED_PREFIX: &str = "enc:v1:";
/// Bound into every ciphertext, so a value cannot be moved to another purpose or format.
const AAD: &[u8] = b"concierge secret v1";
/// The key file created in the data directory when no key is configured.
pub const DEFAULT_KEY_FILE: &str = "secrets.key";

/// Whether a stored secret is in the encrypted form (else it is legacy plain text).
pub fn is_encrypted(stored: &str) -> bool {
    stored.starts_with(ENCRYPTED_PREFIX)
}

/// The 256-bit key that encrypts secrets stored in the database. Never printed.
pub struct SecretKey {
    key: aead::LessSafeKey,
    /// Where it came from, for error messages.
    source: String,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Why a stored secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The value is not base64 of nonce, ciphertext and tag.
    #[error("the stored value is damaged ({0})")]
    Damaged(String),
    /// The key does not open it: another key encrypted it, or it was altered.
    #[error(
        "it was encrypted with another key than {0} (every node must use the same key: \
         CONCIERGE_SECRET_KEY or [secrets] key_file), or it was altered"
    )]
    WrongKey(String),
}

fn key_from_text(text: &str) -> Result<[u8; 32], String> {
    let t = text.trim();
    let bytes = STANDARD
        .decode(t)
        .or_else(|_| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')))
        .map_err(|_| {
            "it is not base64 (make one with: head -c 32 /dev/urandom | base64)".to_string()
        })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "it decodes to {} bytes, not 32 (make one with: head -c 32 /dev/urandom | base64)",
            bytes.len()
        )
    })
}

/// Writes a new random key to `path` unless a file is there already (another process may
/// be creating it at the same moment: the key is written to a temporary file with mode 0600
/// and linked into place, which fails if `path` exists, so both end up reading one key).
fn create_key_file(path: &Path) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create the folder of", e))?;
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let tmp = path.with_extension(format!("tmp-{}", random_secret()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(format!("{}\n", STANDARD.encode(bytes)).as_bytes())?;
            f.sync_all()
        });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io("cannot create the secret key file", e)),
    }
}

impl SecretKey {
    /// A key from its base64 text (32 bytes).
    pub fn from_base64(text: &str, source: &str) -> Result<SecretKey, String> {
        let bytes = key_from_text(text).map_err(|e| format!("the secret key {source}: {e}"))?;
        let unbound = aead::UnboundKey::new(&aead::CHACHA20_POLY1305, &bytes)
            .map_err(|_| format!("the secret key {source} cannot be used"))?;
        Ok(SecretKey {
            key: aead::LessSafeKey::new(unbound),
            source: source.to_string(),
        })
    }

    /// This node's key: `key` (base64; `CONCIERGE_SECRET_KEY`) when set, else the file
    /// `key_file` (which must exist), else `secrets.key` in `data_dir`, created on first use.
    pub fn load(key: &str, key_file: &str, data_dir: &Path) -> Result<SecretKey, String> {
        if !key.trim().is_empty() {
            return SecretKey::from_base64(key, "from CONCIERGE_SECRET_KEY ([secrets] key)");
        }
        let path: PathBuf = if key_file.trim().is_empty() {
            let p = data_dir.join(DEFAULT_KEY_FILE);
            if !p.exists() {
                create_key_file(&p)?;
            }
            p
        } else {
            PathBuf::from(key_file.trim())
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "cannot read the secret key file {} ([secrets] key_file): {e}",
                path.display()
            )
        })?;
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(m) = std::fs::metadata(&path)
                && m.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(
                    file = %path.display(),
                    "the secret key file is readable by other users; chmod 600 it"
                );
            }
        }
        SecretKey::from_base64(&text, &format!("in {}", path.display()))
    }

    /// Where the key came from (a file, or the environment), for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Encrypts `plain` with a fresh random nonce: `enc:v1:<base64 nonce+ciphertext+tag>`.
    pub fn encrypt(&self, plain: &str) -> String {
        let mut nonce = [0u8; aead::NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut buf = plain.as_bytes().to_vec();
        // Sealing fails only for inputs of gigabytes; a secret is far below that.
        if self
            .key
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(AAD),
                &mut buf,
            )
            .is_err()
        {
            buf.clear();
        }
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        format!("{ENCRYPTED_PREFIX}{}", STANDARD.encode(out))
    }

    /// The plain secret of a stored value: decrypted when encrypted, as it is when it is
    /// legacy plain text.
    pub fn decrypt(&self, stored: &str) -> Result<String, SecretError> {
        let Some(b64) = stored.strip_prefix(ENCRYPTED_PREFIX) else {
            return Ok(stored.to_string());
        };
        let mut bytes = STANDARD
            .decode(b64)
            .map_err(|_| SecretError::Damaged("not base64".into()))?;
        if bytes.len() < aead::NONCE_LEN + aead::CHACHA20_POLY1305.tag_len() {
            return Err(SecretError::Damaged("too short".into()));
        }
        let mut nonce = [0u8; aead::NONCE_LEN];
        nonce.copy_from_slice(&bytes[..aead::NONCE_LEN]);
        let plain = self
            .key
            .open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(AAD),
                &mut bytes[aead::NONCE_LEN..],
            )
            .map_err(|_| SecretError::WrongKey(format!("the key {}", self.source)))?;
        String::from_utf8(plain.to_vec()).map_err(|_| SecretError::Damaged("not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_secrets_round_trip_and_refuse_another_key() {
        let k = SecretKey::from_base64(&STANDARD.encode([7u8; 32]), "test").unwrap();
        let a = k.encrypt("s3cret");
        let b = k.encrypt("s3cret");
        assert!(a.starts_with("enc:v1:") && is_encrypted(&a));
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(!a.contains("s3cret"));
        assert_eq!(k.decrypt(&a).unwrap(), "s3cret");
        assert_eq!(k.decrypt("legacy plain").unwrap(), "legacy plain");
        let other = SecretKey::from_base64(&STANDARD.encode([8u8; 32]), "other").unwrap();
        let err = other.decrypt(&a).unwrap_err();
        assert!(matches!(err, SecretError::WrongKey(_)), "{err}");
        let mut tampered = a.clone();
        tampered.replace_range(10..11, if &a[10..11] == "A" { "B" } else { "A" });
        assert!(k.decrypt(&tampered).is_err());
        assert!(matches!(
            k.decrypt("enc:v1:!!"),
            Err(SecretError::Damaged(_))
        ));
        let short = SecretKey::from_base64("c2hvcnQ=", "x").unwrap_err();
        assert!(short.contains("not 32"), "{short}");
    }

    #[test]
    fn the_key_file_is_created_once_with_mode_600_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let k1 = SecretKey::load("", "", dir.path()).unwrap();
        let path = dir.path().join(DEFAULT_KEY_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let k2 = SecretKey::load("", "", dir.path()).unwrap();
        assert_eq!(k2.decrypt(&k1.encrypt("x")).unwrap(), "x", "the same key");
        // A configured file must exist; the message names it.
        let err = SecretKey::load("", "/nonexistent/key", dir.path()).unwrap_err();
        assert!(err.contains("/nonexistent/key"), "{err}");
        // The key given directly wins.
        let text = std::fs::read_to_string(&path).unwrap();
        let k3 = SecretKey::load(&text, "/nonexistent/key", Path::new("/nonexistent")).unwrap();
        assert_eq!(k3.decrypt(&k1.encrypt("y")).unwrap(), "y");
    }

    #[test]
    fn secrets_are_unique_and_hash_stably() {
        let a = random_secret();
        let b = random_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_ne!(hash_secret(&a), hash_secret(&b));
        assert!(constant_time_eq(&a, &a));
        assert!(!constant_time_eq(&a, &b));
        assert_eq!(generate_password().len(), 20);
    }
}
