//! Attachment bytes: kept in the data directory outside the database rows, addressed by their
//! SHA-256 (the same file attached twice is stored once), written atomically (temporary file,
//! then rename), with names sanitised and sizes and counts limited. Reading them back is for
//! downloads, which the web layer always serves as `attachment` with `nosniff`.

use crate::App;
use concierge_store::cases::NewAttachment;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;

/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 20;

/// Why an attachment was refused.
#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error("{0}")]
    Invalid(String),
    #[error("the attachment could not be stored: {0}")]
    Io(#[from] std::io::Error),
}

/// Where attachments live.
pub fn attachments_dir(app: &App) -> PathBuf {
    app.config.storage.data_dir.join("attachments")
}

/// The file holding the bytes with this SHA-256 (hex), or `None` for a malformed hash.
pub fn blob_path(app: &App, sha256: &str) -> Option<PathBuf> {
    blob_path_in(&attachments_dir(app), sha256)
}

fn blob_path_in(dir: &std::path::Path, sha256: &str) -> Option<PathBuf> {
    let ok = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| dir.join(&sha256[..2]).join(&sha256[2..4]).join(sha256))
}

/// A content type as given, or `application/octet-stream` when it is missing or malformed.
fn content_type(ct: &str) -> String {
    let ct = ct.trim().to_ascii_lowercase();
    let ok = ct.len() <= 100
        && ct.split_once('/').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && ct
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"/.+-_".contains(&c))
        });
    if ok {
        ct
    } else {
        "application/octet-stream".into()
    }
}

/// Stores one attachment's bytes (at most the server's body limit) and returns its row data.
pub fn store(
    app: &App,
    filename: &str,
    content_type_in: &str,
    bytes: &[u8],
) -> Result<NewAttachment, AttachmentError> {
    let max = app.config.server.max_body_bytes;
    if bytes.len() > max {
        return Err(AttachmentError::Invalid(format!(
            "an attachment may be at most {max} bytes (got {})",
            bytes.len()
        )));
    }
    let name = concierge_mail::sanitize::sanitize_filename(filename, "attachment");
    let sha = hex::encode(Sha256::digest(bytes));
    let path = blob_path(app, &sha)
        .ok_or_else(|| AttachmentError::Invalid("internal: bad attachment hash".into()))?;
    if !path.exists() {
        let dir = path
            .parent()
            .ok_or_else(|| AttachmentError::Invalid("internal: bad attachment path".into()))?;
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!("{sha}.{}.tmp", std::process::id()));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
    }
    Ok(NewAttachment {
        filename: name,
        content_type: content_type(content_type_in),
        size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        sha256: sha,
    })
}

/// Reads an attachment's bytes back.
pub fn read(app: &App, sha256: &str) -> Result<Vec<u8>, AttachmentError> {
    let path = blob_path(app, sha256)
        .ok_or_else(|| AttachmentError::Invalid("bad attachment hash".into()))?;
    Ok(std::fs::read(path)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn content_types_are_kept_only_when_well_formed() {
        assert_eq!(content_type("Image/PNG"), "image/png");
        assert_eq!(
            content_type("text/html; charset=utf-8"),
            "application/octet-stream"
        );
        assert_eq!(content_type(""), "application/octet-stream");
        assert_eq!(content_type("nonsense"), "application/octet-stream");
    }

    #[test]
    fn blob_paths_only_for_real_hashes() {
        let dir = std::path::Path::new("/data/attachments");
        assert!(blob_path_in(dir, "../../etc/passwd").is_none());
        assert!(blob_path_in(dir, &"g".repeat(64)).is_none());
        let sha = "a".repeat(64);
        let p = blob_path_in(dir, &sha).unwrap();
        assert!(p.ends_with(format!("aa/aa/{sha}")));
    }
}
