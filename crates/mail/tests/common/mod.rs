//! Helpers shared by the integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic on bad fixtures
#![allow(dead_code)]

use std::path::PathBuf;

/// Standard base64 with padding (no dependency needed for tests).
pub fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Base64 wrapped at 76 columns with CRLF, as in MIME bodies.
pub fn b64_lines(data: &[u8]) -> String {
    let s = b64(data);
    let mut out = String::with_capacity(s.len() + s.len() / 76 * 2 + 2);
    for chunk in s.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str("\r\n");
    }
    out
}

/// Quoted-printable of arbitrary bytes (every non-ASCII byte escaped; soft breaks).
pub fn qp(data: &[u8]) -> String {
    let mut out = String::new();
    let mut col = 0;
    for &b in data {
        let piece = if b == b'\n' {
            col = 0;
            out.push_str("\r\n");
            continue;
        } else if b == b'\r' {
            continue;
        } else if (33..=126).contains(&b) && b != b'=' || b == b' ' {
            (b as char).to_string()
        } else {
            format!("={b:02X}")
        };
        if col + piece.len() > 73 {
            out.push_str("=\r\n");
            col = 0;
        }
        col += piece.len();
        out.push_str(&piece);
    }
    out
}

/// Encodes `text` in the named charset with encoding_rs.
pub fn encode(label: &str, text: &str) -> Vec<u8> {
    let enc = encoding_rs::Encoding::for_label(label.as_bytes())
        .unwrap_or_else(|| panic!("encoding_rs has no encoder for {label}"));
    let (bytes, _, unmappable) = enc.encode(text);
    assert!(!unmappable, "{text:?} is not representable in {label}");
    bytes.into_owned()
}

/// An RFC 2047 B-encoded word.
pub fn word_b(label: &str, text: &str) -> String {
    format!("=?{label}?B?{}?=", b64(&encode(label, text)))
}

/// An RFC 2047 Q-encoded word.
pub fn word_q(label: &str, text: &str) -> String {
    let mut out = format!("=?{label}?Q?");
    for b in encode(label, text) {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else if b == b' ' {
            out.push('_');
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out.push_str("?=");
    out
}

/// Path to a shared fixture folder, read in place.
pub fn fixtures(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/mail")
        .join(rel)
}
