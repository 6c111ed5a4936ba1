#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `concierge mail ingest` as an MTA's pipe meets it: a message on stdin, exit 0 once it is
//! committed, 75 when the database is unreachable (the MTA retries), 65 for input that can
//! never be accepted (kept in quarantine). On PostgreSQL when `CONCIERGE_TEST_DATABASE_URL`
//! is set, otherwise SQLite.

use concierge_store::testing::TestDb;
use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_concierge");

fn pipe(args: &[&str], data: &std::path::Path, input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("CONCIERGE_CONFIG")
        .current_dir(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start concierge");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

const MAIL: &[u8] = b"From: Jane <jane@example.com>\r\nTo: support@shop.example\r\n\
Subject: Pipe test\r\nMessage-ID: <pipe-1@example.com>\r\n\r\nHello through the pipe.\r\n";

#[tokio::test]
async fn mail_ingest_exits_0_when_committed_65_when_hopeless_75_when_the_database_is_down() {
    let db = TestDb::new().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().display().to_string();
    let base = ["--data-dir", &dir, "--database-url", &db.url];
    let args = |extra: &[&'static str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |extra: &[&'static str], input: &[u8]| {
        let a = args(extra);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        pipe(&refs, data.path(), input)
    };

    let out = run(&["mail", "ingest", "--mailbox", "support", "--json"], MAIL);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first["state"], "processed");
    assert!(first["case_id"].as_i64().is_some());

    // The MTA retries the same delivery: still exit 0, and one message.
    let out = run(&["mail", "ingest", "--mailbox", "support", "--json"], MAIL);
    assert_eq!(out.status.code(), Some(0));
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["state"], "duplicate");
    assert_eq!(again["message_id"], first["message_id"]);

    // Never acceptable (no sender): 65, and the raw bytes are kept in quarantine.
    let out = run(
        &["mail", "ingest", "--json"],
        b"Subject: no sender\r\n\r\nwho am I\r\n",
    );
    assert_eq!(
        out.status.code(),
        Some(65),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let q: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(q["state"], "quarantined");
    let store = db.store().await.unwrap();
    let tenant = store.tenant_by_slug("default").await.unwrap().unwrap().id;
    let kept = store
        .inbound_mail_raw(tenant, q["inbound_id"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(
        kept.as_deref(),
        Some(&b"Subject: no sender\r\n\r\nwho am I\r\n"[..])
    );

    // The database is unreachable: 75, so the MTA keeps the message and retries.
    let out = pipe(
        &[
            "--data-dir",
            &dir,
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "mail",
            "ingest",
        ],
        data.path(),
        MAIL,
    );
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
