//! Outbound building, checked by parsing the result back with our own parser; the outbox
//! sender; and SMTP delivery to a real SMTP server (Python's aiosmtpd, when installed).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic on bad fixtures

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use concierge_mail::{
    MailAddress, MailClass, MailSender, OutboundAttachment, OutboundMail, OutboxSender,
    ParseLimits, SmtpConfig, SmtpSender, TlsMode, TokenKey, build_message, chain_references,
    classify, parse,
};

fn key() -> TokenKey {
    TokenKey::new(b"outbound-test-key-0123456789abcd".to_vec()).unwrap()
}

fn reply(automatic: bool) -> OutboundMail {
    let k = key();
    let previous = vec![
        "first@customer.example".to_string(),
        k.outbound_message_id(1234, 1, "shop.example").unwrap(),
        "<second@customer.example>".to_string(),
    ];
    let (in_reply_to, references) = chain_references(&previous);
    OutboundMail {
        from: MailAddress::new(
            "support@shop.example",
            Some("Shop Support 客服".to_string()),
        ),
        to: vec![MailAddress::new(
            "kim@example.kr",
            Some("김민수".to_string()),
        )],
        cc: vec![MailAddress::new("boss@example.kr", None)],
        reply_to: Some(MailAddress::new(
            k.reply_address(1234, "support", "shop.example").unwrap(),
            Some("Shop Support".to_string()),
        )),
        message_id: k.outbound_message_id(1234, 2, "shop.example").unwrap(),
        in_reply_to,
        references,
        subject: "Re: 주문한 상품이 파손되었습니다".to_string(),
        case_id: Some(1234),
        automatic,
        text: "안녕하세요 김민수 고객님,\n교환 접수되었습니다. 您好！ありがとうございます。\n"
            .to_string(),
        html: Some("<p>안녕하세요 <b>김민수</b> 고객님</p>".to_string()),
        attachments: vec![OutboundAttachment {
            filename: "라벨 label.pdf".to_string(),
            content_type: "application/pdf".to_string(),
            content: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec(),
        }],
        date: None,
    }
}

#[test]
fn chain_references_orders_and_caps() {
    let ids: Vec<String> = (0..30).map(|i| format!("m{i}@x")).collect();
    let (irt, refs) = chain_references(&ids);
    assert_eq!(irt.as_deref(), Some("m29@x"));
    assert_eq!(refs.len(), 20);
    assert_eq!(refs[0], "m0@x");
    assert_eq!(refs[1], "m11@x");
    assert_eq!(refs[19], "m29@x");
    assert_eq!(chain_references(&[]), (None, vec![]));
}

#[test]
fn built_reply_parses_back_with_threading_headers() {
    let mail = reply(false);
    let raw = build_message(&mail).unwrap().formatted();
    let parsed = parse(&raw, &ParseLimits::default()).unwrap();

    assert_eq!(parsed.message_id.as_deref(), Some(mail.message_id.as_str()));
    assert_eq!(
        parsed.in_reply_to,
        vec!["second@customer.example".to_string()]
    );
    assert_eq!(parsed.references.len(), 3);
    assert_eq!(parsed.references[0], "first@customer.example");
    assert_eq!(
        parsed.subject.as_deref(),
        Some("[#1234] Re: 주문한 상품이 파손되었습니다")
    );
    let from = parsed.from.clone().unwrap();
    assert_eq!(from.address, "support@shop.example");
    assert_eq!(from.name.as_deref(), Some("Shop Support 客服"));
    assert_eq!(parsed.to[0].name.as_deref(), Some("김민수"));
    assert_eq!(parsed.cc[0].address, "boss@example.kr");
    let reply_to = &parsed.reply_to[0].address;
    assert!(reply_to.starts_with("support+c1234-"));

    // Our own token verifies from the parsed headers.
    let k = key();
    assert_eq!(k.verify_reply_address(reply_to), Some(1234));
    assert_eq!(
        k.verify_message_id(parsed.message_id.as_deref().unwrap()),
        Some((1234, 2))
    );

    // UTF-8 bodies and the HTML alternative survive.
    assert!(
        parsed
            .text_body
            .as_deref()
            .unwrap()
            .contains("교환 접수되었습니다. 您好！ありがとうございます。")
    );
    assert!(
        parsed
            .html_body
            .as_deref()
            .unwrap()
            .contains("<b>김민수</b>")
    );
    assert_eq!(parsed.attachments.len(), 1);
    assert_eq!(parsed.attachments[0].filename, "라벨 label.pdf");
    assert_eq!(
        parsed.attachments[0].content,
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    );
    assert!(!parsed.charset.fell_back());

    // A human reply is not marked automatic.
    assert!(parsed.loop_headers.auto_submitted.is_none());
}

#[test]
fn automatic_mail_is_marked_and_recognised_as_ours() {
    let raw = build_message(&reply(true)).unwrap().formatted();
    let parsed = parse(&raw, &ParseLimits::default()).unwrap();
    assert_eq!(
        parsed.loop_headers.auto_submitted.as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        parsed.loop_headers.x_auto_response_suppress.as_deref(),
        Some("All")
    );
    // If it ever comes back (a loop), it is recognised as our own mail.
    let c = classify(&parsed, &["support@shop.example"]);
    assert_eq!(c.class, MailClass::OwnMail);
    assert!(!c.may_auto_reply());
    // And a foreign system would classify it as an auto-reply.
    assert_eq!(classify(&parsed, &[]).class, MailClass::AutoReply);
}

#[test]
fn plain_text_only_and_existing_token() {
    let mut m = reply(false);
    m.html = None;
    m.attachments.clear();
    m.subject = "[#1234] already tagged".to_string();
    let raw = build_message(&m).unwrap().formatted();
    let parsed = parse(&raw, &ParseLimits::default()).unwrap();
    assert_eq!(parsed.subject.as_deref(), Some("[#1234] already tagged"));
    assert!(parsed.html_body.is_none());
    assert!(parsed.text_body.unwrap().contains("교환 접수되었습니다"));
}

#[test]
fn invalid_input_is_an_error_not_a_panic() {
    let mut m = reply(false);
    m.to = vec![MailAddress::new("not an address", None)];
    assert!(
        build_message(&m)
            .unwrap_err()
            .to_string()
            .contains("not an address")
    );
    let mut m = reply(false);
    m.to.clear();
    assert!(build_message(&m).is_err());
    let mut m = reply(false);
    m.message_id = "no at sign".to_string();
    assert!(build_message(&m).is_err());
    let mut m = reply(false);
    m.attachments[0].content_type = "garbage".to_string();
    assert!(build_message(&m).is_err());
}

#[tokio::test]
async fn outbox_sender_writes_eml_files() {
    let dir = std::env::temp_dir().join(format!("concierge-mail-outbox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sender = OutboxSender::new(&dir);
    let mail = reply(false);
    let message = build_message(&mail).unwrap();
    let sender: &dyn MailSender = &sender;
    let receipt = sender.send(&message).await.unwrap();
    assert!(receipt.detail.ends_with(".eml"));
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "no temporary files are left: {files:?}");
    let raw = std::fs::read(&files[0]).unwrap();
    let parsed = parse(&raw, &ParseLimits::default()).unwrap();
    assert_eq!(parsed.message_id.as_deref(), Some(mail.message_id.as_str()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn smtp_sender_failure_is_transient_when_nobody_listens() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sender = SmtpSender::new(&SmtpConfig {
        host: "127.0.0.1".to_string(),
        port,
        tls: TlsMode::None,
        credentials: None,
        timeout: Duration::from_secs(2),
        extra_roots: Default::default(),
    })
    .unwrap();
    let message = build_message(&reply(false)).unwrap();
    let err = sender.send(&message).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
}

const SMTP_SINK: &str = r#"
import os, sys, time
from aiosmtpd.controller import Controller
out = sys.argv[2]
class Sink:
    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(out) if f.endswith(".eml")])
        with open(os.path.join(out, f"{n}.rcpt"), "w") as f:
            f.write(envelope.mail_from + "\n" + "\n".join(envelope.rcpt_tos))
        with open(os.path.join(out, f"{n}.eml.tmp"), "wb") as f:
            f.write(envelope.original_content)
        os.rename(os.path.join(out, f"{n}.eml.tmp"), os.path.join(out, f"{n}.eml"))
        return "250 OK stored"
c = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("READY", flush=True)
deadline = time.time() + 60
while time.time() < deadline:
    time.sleep(0.2)
c.stop()
"#;

/// Delivers through a real SMTP server (aiosmtpd) and reads what it received.
/// Skipped, with a note, when aiosmtpd is not installed (`pip install aiosmtpd`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_sender_delivers_to_a_real_smtp_server() {
    let available = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        eprintln!("skipped: python3 with aiosmtpd is not installed (pip install aiosmtpd)");
        return;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = std::env::temp_dir().join(format!("concierge-mail-smtp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new("python3")
        .args(["-c", SMTP_SINK, &port.to_string(), dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "READY");

    let sender = SmtpSender::new(&SmtpConfig {
        host: "127.0.0.1".to_string(),
        port,
        tls: TlsMode::None,
        credentials: None,
        timeout: Duration::from_secs(10),
        extra_roots: Default::default(),
    })
    .unwrap();
    let mail = reply(false);
    let message = build_message(&mail).unwrap();
    let result = sender.send(&message).await;

    let eml = dir.join("0.eml");
    let start = Instant::now();
    while !eml.exists() && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = std::fs::read(&eml);
    let rcpt = std::fs::read_to_string(dir.join("0.rcpt"));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);

    let receipt = result.unwrap();
    assert!(receipt.detail.starts_with("250"), "{}", receipt.detail);
    let rcpt = rcpt.unwrap();
    assert!(rcpt.starts_with("support@shop.example\n"), "{rcpt}");
    assert!(rcpt.contains("kim@example.kr") && rcpt.contains("boss@example.kr"));
    let parsed = parse(&received.unwrap(), &ParseLimits::default()).unwrap();
    assert_eq!(parsed.message_id.as_deref(), Some(mail.message_id.as_str()));
    assert_eq!(
        parsed.in_reply_to,
        vec!["second@customer.example".to_string()]
    );
    assert_eq!(parsed.references.len(), 3);
    assert_eq!(
        parsed.subject.as_deref(),
        Some("[#1234] Re: 주문한 상품이 파손되었습니다")
    );
    assert!(
        parsed
            .text_body
            .unwrap()
            .contains("您好！ありがとうございます。")
    );
    assert_eq!(
        key().verify_reply_address(&parsed.reply_to[0].address),
        Some(1234)
    );
}
