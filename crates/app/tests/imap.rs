#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Story tests of IMAP polling (issue 5) against a real Dovecot started by each test
//! (`concierge_mail::testing::Dovecot`): mail delivered by IMAP APPEND becomes cases through
//! the same pipeline as the pipe command; a message is marked `\Seen` (or moved) only after
//! its commit; nothing is taken twice; a poison message is quarantined while the rest flows;
//! the UIDVALIDITY/UID checkpoint lives in the database; failures show on the mailbox. TLS:
//! polls over implicit TLS and STARTTLS against a Dovecot serving a certificate from a
//! throw-away CA, which must be configured (`[mail] tls_ca_file`) to be trusted. Passwords are
//! stored encrypted (read back raw), plain legacy rows still work and get encrypted, a wrong
//! key is a clear error on the mailbox. Runs on SQLite, and on PostgreSQL when
//! `CONCIERGE_TEST_DATABASE_URL` is set.

use concierge_app::jobs::Worker;
use concierge_app::mailboxes::{MailboxInput, PollReport};
use concierge_app::{App, Config};
use concierge_domain::TenantId;
use concierge_mail::ImapMailbox;
use concierge_mail::testing::{self, Dovecot, TestCa};
use concierge_store::mailboxes::MailboxRow;
use concierge_store::testing::TestDb;
use concierge_store::testing::tempfile_dir::TempDir;

struct Env {
    db: TestDb,
    dir: TempDir,
    app: App,
    t: TenantId,
    imap: Dovecot,
}

fn config(db: &TestDb, dir: &TempDir) -> Config {
    let mut cfg = Config::default();
    cfg.storage.database_url = db.url.clone();
    cfg.storage.data_dir = dir.path().to_path_buf();
    cfg.mail.from = "Shop Support <support@shop.example>".into();
    cfg
}

async fn env() -> Env {
    env_on(Dovecot::start().unwrap()).await
}

async fn env_on(imap: Dovecot) -> Env {
    let db = TestDb::new().await.unwrap();
    let dir = TempDir::new("concierge-imap-test").unwrap();
    let app = App::new(db.store().await.unwrap(), config(&db, &dir));
    let t = app
        .store
        .ensure_tenant("acme", "Acme", app.now())
        .await
        .unwrap()
        .id;
    Env {
        db,
        dir,
        app,
        t,
        imap,
    }
}

fn mail(from: &str, subject: &str, id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: support@shop.example\r\nSubject: {subject}\r\n\
         Date: Tue, 1 Jul 2025 10:00:00 +0000\r\nMessage-ID: <{id}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A message the pipeline can never accept: no sender to answer.
const POISON: &[u8] = b"To: support@shop.example\r\nSubject: nobody sent this\r\n\
Message-ID: <poison@example.com>\r\n\r\nThere is no From header.\r\n";

impl Env {
    fn input(&self) -> MailboxInput {
        MailboxInput {
            name: "support".into(),
            address: "support@shop.example".into(),
            imap_host: "127.0.0.1".into(),
            imap_port: i64::from(self.imap.port),
            tls_mode: Some("plain".into()),
            username: testing::USER.into(),
            password: Some(testing::PASSWORD.into()),
            ..MailboxInput::default()
        }
    }

    async fn mailbox(&self, input: MailboxInput) -> MailboxRow {
        self.app.create_mailbox(self.t, &input).await.unwrap()
    }

    /// A client session of the test user on `folder`.
    async fn client(&self, folder: &str) -> ImapMailbox {
        ImapMailbox::open(&self.imap.config(folder)).await.unwrap()
    }

    async fn deliver(&self, raw: &[u8]) {
        let mut c = self.client("INBOX").await;
        c.append("INBOX", raw).await.unwrap();
        c.logout().await;
    }

    /// `(uid, seen)` of every message in INBOX.
    async fn inbox(&self) -> Vec<(u32, bool)> {
        let mut c = self.client("INBOX").await;
        let mut out = Vec::new();
        for uid in c.uids_after(0, false).await.unwrap() {
            out.push((uid, c.is_seen(uid).await.unwrap().unwrap()));
        }
        c.logout().await;
        out
    }

    async fn poll(&self, id: i64) -> PollReport {
        self.app
            .poll_mailbox(self.t, id, "test-node")
            .await
            .unwrap()
    }

    async fn reload(&self, id: i64) -> MailboxRow {
        self.app.store.mailbox(self.t, id).await.unwrap().unwrap()
    }

    async fn case_subjects(&self) -> Vec<String> {
        let mut s: Vec<String> =
            sqlx::query_scalar("SELECT subject FROM cases WHERE tenant_id = $1")
                .bind(self.t.0)
                .fetch_all(self.app.store.pool())
                .await
                .unwrap();
        s.sort();
        s
    }

    /// Automatic (system) messages on a case: acknowledgements.
    async fn acks(&self, case: i64) -> usize {
        self.app
            .store
            .case_messages(self.t, concierge_domain::CaseId(case), true)
            .await
            .unwrap()
            .iter()
            .filter(|m| m.author_kind == "system")
            .count()
    }

    async fn exec(&self, sql: &str) {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(self.app.store.pool())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn polled_mail_becomes_cases_marked_only_after_commit_and_never_twice() {
    let e = env().await;
    let mb = e.mailbox(e.input()).await;
    e.deliver(&mail(
        "Jane <jane@example.com>",
        "Parcel lost",
        "p1@example.com",
        "Where is it?",
    ))
    .await;
    e.deliver(&mail(
        "Bob <bob@example.com>",
        "Wrong size",
        "p2@example.com",
        "Too small.",
    ))
    .await;

    // The database fails while the round runs: nothing is marked, the error is recorded.
    e.exec("ALTER TABLE inbound_mail RENAME TO inbound_mail_away")
        .await;
    let r = e.poll(mb.id).await;
    assert!(r.polled);
    assert_eq!(r.processed, 0, "{r:?}");
    let err = r.error.clone().unwrap();
    assert!(err.contains("retried next round"), "{err}");
    assert_eq!(e.inbox().await, vec![(1, false), (2, false)], "unmarked");
    let row = e.reload(mb.id).await;
    assert_eq!(row.last_error.as_deref(), Some(err.as_str()));
    assert_eq!(row.last_uid, 0);
    assert!(row.last_polled_at.is_some());
    assert!(row.lease_owner.is_none(), "the lease is given back");
    e.exec("ALTER TABLE inbound_mail_away RENAME TO inbound_mail")
        .await;

    // The next round takes both, then marks them.
    let r = e.poll(mb.id).await;
    assert_eq!((r.processed, r.error.as_deref()), (2, None), "{r:?}");
    assert_eq!(e.case_subjects().await, vec!["Parcel lost", "Wrong size"]);
    assert_eq!(e.inbox().await, vec![(1, true), (2, true)]);
    let row = e.reload(mb.id).await;
    assert_eq!(row.last_uid, 2);
    assert!(row.uid_validity.is_some());
    assert_eq!(row.last_error, None, "a good poll clears the error");
    assert_eq!(row.messages_taken, 2);
    let inbound = e.app.store.inbound_mails(e.t, 10).await.unwrap();
    assert!(
        inbound.iter().all(|m| m.mailbox == "support"),
        "{inbound:?}"
    );

    // Polling again takes nothing; a new message is taken alone.
    let r = e.poll(mb.id).await;
    assert_eq!(r.processed + r.duplicates, 0, "{r:?}");
    e.deliver(&mail(
        "Jane <jane@example.com>",
        "Re: Parcel lost",
        "p3@example.com",
        "Any news?",
    ))
    .await;
    let r = e.poll(mb.id).await;
    assert_eq!(r.processed, 1, "{r:?}");
    assert_eq!(
        e.case_subjects().await,
        vec!["Parcel lost", "Wrong size"],
        "the reply threads onto its case"
    );
}

#[tokio::test]
async fn a_poison_message_is_quarantined_and_the_next_one_still_arrives() {
    let e = env().await;
    let mb = e.mailbox(e.input()).await;
    e.deliver(&mail(
        "Ann <ann@example.com>",
        "First",
        "f1@example.com",
        "one",
    ))
    .await;
    e.deliver(POISON).await;
    e.deliver(&mail(
        "Ann <ann@example.com>",
        "Third",
        "f3@example.com",
        "three",
    ))
    .await;
    let r = e.poll(mb.id).await;
    assert_eq!((r.processed, r.quarantined), (2, 1), "{r:?}");
    assert_eq!(r.error, None);
    assert_eq!(e.case_subjects().await, vec!["First", "Third"]);
    // The poison's raw bytes are kept in quarantine, and it is marked like the rest.
    let inbound = e.app.store.inbound_mails(e.t, 10).await.unwrap();
    let q: Vec<_> = inbound
        .iter()
        .filter(|m| m.state == "quarantined")
        .collect();
    assert_eq!(q.len(), 1, "{inbound:?}");
    let raw = e
        .app
        .store
        .inbound_mail_raw(e.t, q[0].id)
        .await
        .unwrap()
        .unwrap();
    assert!(raw.ends_with(b"There is no From header.\r\n"));
    assert!(
        q[0].error.as_deref().unwrap().contains("sender"),
        "{:?}",
        q[0]
    );
    assert_eq!(e.inbox().await, vec![(1, true), (2, true), (3, true)]);
    assert_eq!(e.reload(mb.id).await.last_uid, 3);
}

#[tokio::test]
async fn the_checkpoint_survives_a_new_app_and_a_new_uidvalidity_rescans_without_duplicates() {
    let e = env().await;
    let mb = e.mailbox(e.input()).await;
    e.deliver(&mail(
        "Kim <kim@example.com>",
        "Refund",
        "r1@example.com",
        "Please.",
    ))
    .await;
    e.deliver(&mail(
        "Lee <lee@example.com>",
        "Invoice",
        "r2@example.com",
        "Need one.",
    ))
    .await;
    let r = e.poll(mb.id).await;
    assert_eq!(r.processed, 2, "{r:?}");
    let validity = e.reload(mb.id).await.uid_validity.unwrap();

    // A new process (App) on the same database continues from the stored checkpoint, even
    // for mail someone read in another client meanwhile.
    let app2 = App::new(e.db.store().await.unwrap(), config(&e.db, &e.dir));
    e.deliver(&mail(
        "Kim <kim@example.com>",
        "Broken lid",
        "r3@example.com",
        "Cracked.",
    ))
    .await;
    {
        let mut c = e.client("INBOX").await;
        c.mark_seen(3).await.unwrap();
        c.logout().await;
    }
    let r = app2.poll_mailbox(e.t, mb.id, "node-2").await.unwrap();
    assert_eq!(
        (r.rescanned, r.processed, r.last_uid),
        (false, 1, 3),
        "{r:?}"
    );
    let row = app2.store.mailbox(e.t, mb.id).await.unwrap().unwrap();
    assert_eq!((row.uid_validity, row.last_uid), (Some(validity), 3));

    // The folder's UIDVALIDITY no longer matches: its unseen messages are read again, and
    // the pipeline's exactly-once rules keep them from becoming new cases.
    e.exec(&format!(
        "UPDATE mailboxes SET uid_validity = {} WHERE id = {}",
        validity + 1,
        mb.id
    ))
    .await;
    {
        let mut c = e.client("INBOX").await;
        c.set_seen(1, false).await.unwrap();
        c.logout().await;
    }
    let r = app2.poll_mailbox(e.t, mb.id, "node-2").await.unwrap();
    assert!(r.rescanned, "{r:?}");
    assert_eq!((r.processed, r.duplicates), (0, 1), "{r:?}");
    assert_eq!(
        e.case_subjects().await,
        vec!["Broken lid", "Invoice", "Refund"]
    );
    let row = app2.store.mailbox(e.t, mb.id).await.unwrap().unwrap();
    assert_eq!((row.uid_validity, row.last_uid), (Some(validity), 3));
    assert_eq!(e.inbox().await, vec![(1, true), (2, true), (3, true)]);
}

#[tokio::test]
async fn a_wrong_password_or_a_dead_server_shows_on_the_mailbox_and_nothing_crashes() {
    let e = env().await;
    let mb = e
        .mailbox(MailboxInput {
            password: Some("wrong".into()),
            ..e.input()
        })
        .await;
    e.deliver(&mail(
        "Sam <sam@example.com>",
        "Hello",
        "w1@example.com",
        "Hi.",
    ))
    .await;
    let r = e.poll(mb.id).await;
    let err = r.error.unwrap();
    assert!(err.contains("sign-in refused"), "{err}");
    assert!(err.contains("user name and password"), "{err}");
    let row = e.reload(mb.id).await;
    assert_eq!(row.last_error.as_deref(), Some(err.as_str()));
    assert!(row.last_error_at.is_some() && row.last_success_at.is_none());
    assert!(
        row.next_poll_at > row.last_polled_at.unwrap(),
        "retried after the interval"
    );
    assert_eq!(e.inbox().await, vec![(1, false)]);
    assert!(e.case_subjects().await.is_empty());

    // With the right password (the rest unchanged), the mail comes in.
    let fixed = e
        .app
        .update_mailbox(
            e.t,
            mb.id,
            &MailboxInput {
                password: Some(testing::PASSWORD.into()),
                ..e.input()
            },
        )
        .await
        .unwrap();
    assert_eq!(e.app.mailbox_password(&fixed).unwrap(), testing::PASSWORD);
    let r = e.poll(mb.id).await;
    assert_eq!((r.processed, r.error), (1, None));
    assert_eq!(e.reload(mb.id).await.last_error, None);

    // A server that refuses connections: recorded, not a crash.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dead = e
        .mailbox(MailboxInput {
            name: "dead".into(),
            imap_port: i64::from(port),
            ..e.input()
        })
        .await;
    let r = e.poll(dead.id).await;
    let err = r.error.unwrap();
    assert!(err.starts_with("cannot connect to 127.0.0.1:"), "{err}");
    assert_eq!(
        e.reload(dead.id).await.last_error.as_deref(),
        Some(err.as_str())
    );
}

#[tokio::test]
async fn move_after_commit_leaves_the_inbox_empty() {
    let e = env().await;
    {
        let mut c = e.client("INBOX").await;
        c.create_folder("Done").await.unwrap();
        c.logout().await;
    }
    let mb = e
        .mailbox(MailboxInput {
            after_commit: Some("move".into()),
            move_to: Some("Done".into()),
            ..e.input()
        })
        .await;
    e.deliver(&mail(
        "Ann <ann@example.com>",
        "Move me",
        "m1@example.com",
        "x",
    ))
    .await;
    e.deliver(&mail(
        "Ann <ann@example.com>",
        "Me too",
        "m2@example.com",
        "y",
    ))
    .await;
    let r = e.poll(mb.id).await;
    assert_eq!((r.processed, r.error.as_deref()), (2, None), "{r:?}");
    let mut c = e.client("INBOX").await;
    assert_eq!(c.count("INBOX").await.unwrap(), 0);
    assert_eq!(c.count("Done").await.unwrap(), 2);
    c.logout().await;
    assert_eq!(e.poll(mb.id).await.processed, 0);
    assert_eq!(e.case_subjects().await, vec!["Me too", "Move me"]);
}

#[tokio::test]
async fn the_worker_polls_due_mailboxes_and_one_poller_holds_a_mailbox_at_a_time() {
    let e = env().await;
    let mb = e.mailbox(e.input()).await;
    e.deliver(&mail(
        "Ann <ann@example.com>",
        "Via worker",
        "j1@example.com",
        "x",
    ))
    .await;

    // Another node holds the mailbox: this poller leaves it alone.
    let held = e
        .app
        .store
        .lease_mailbox(e.t, mb.id, "node-b#1", e.app.now(), 60_000)
        .await
        .unwrap();
    assert!(held.is_some());
    let r = e.poll(mb.id).await;
    assert!(!r.polled);
    assert_eq!(e.inbox().await, vec![(1, false)]);
    assert_eq!(
        e.app.enqueue_mailbox_polls().await.unwrap(),
        0,
        "leased: not due"
    );
    e.exec(&format!(
        "UPDATE mailboxes SET lease_owner = NULL, lease_until = NULL WHERE id = {}",
        mb.id
    ))
    .await;

    // The schedule's handler enqueues one job for the due mailbox; the worker runs it.
    let worker = Worker::standard();
    assert_eq!(e.app.enqueue_mailbox_polls().await.unwrap(), 1);
    assert_eq!(
        e.app.enqueue_mailbox_polls().await.unwrap(),
        0,
        "one job per slot"
    );
    assert!(worker.tick(&e.app, "node-a").await.unwrap() >= 1);
    assert_eq!(e.case_subjects().await, vec!["Via worker"]);
    assert_eq!(e.inbox().await, vec![(1, true)]);
    let row = e.reload(mb.id).await;
    assert!(
        row.next_poll_at > e.app.now(),
        "next poll after the interval"
    );
    assert_eq!(e.app.enqueue_mailbox_polls().await.unwrap(), 0);

    // A disabled mailbox is not polled.
    e.app
        .update_mailbox(
            e.t,
            mb.id,
            &MailboxInput {
                enabled: Some(false),
                ..e.input()
            },
        )
        .await
        .unwrap();
    e.deliver(&mail(
        "Ann <ann@example.com>",
        "Not now",
        "j2@example.com",
        "x",
    ))
    .await;
    assert_eq!(e.app.enqueue_mailbox_polls().await.unwrap(), 0);
    assert!(!e.poll(mb.id).await.polled);
    assert_eq!(e.inbox().await, vec![(1, true), (2, false)]);
}

#[tokio::test]
async fn mailbox_settings_are_checked_and_the_acknowledgement_can_be_switched_per_mailbox() {
    let e = env().await;
    let bad = |f: fn(&mut MailboxInput)| {
        let mut i = e.input();
        f(&mut i);
        i
    };
    for (input, needle) in [
        (bad(|i| i.name = "has space".into()), "name"),
        (bad(|i| i.address = "nope".into()), "address"),
        (bad(|i| i.imap_port = 0), "imap_port"),
        (bad(|i| i.tls_mode = Some("ssl3".into())), "tls_mode"),
        (
            bad(|i| {
                i.imap_host = "imap.example.com".into();
                i.tls_mode = Some("plain".into())
            }),
            "localhost",
        ),
        (bad(|i| i.after_commit = Some("move".into())), "move_to"),
        (
            bad(|i| i.poll_interval_secs = Some(1)),
            "poll_interval_secs",
        ),
        (bad(|i| i.password = None), "password"),
    ] {
        let err = e.app.create_mailbox(e.t, &input).await.unwrap_err();
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
    let mb = e.mailbox(e.input()).await;
    assert_eq!(mb.settings.folder, "INBOX");
    assert_eq!(mb.settings.after_commit, "seen");
    assert_eq!(mb.settings.tls_mode, "plain");
    let dup = e.app.create_mailbox(e.t, &e.input()).await.unwrap_err();
    assert!(dup.to_string().contains("exists already"), "{dup}");
    assert!(
        !format!("{mb:?}").contains(testing::PASSWORD),
        "Debug hides the password"
    );

    // The tenant's acknowledgement is off; this mailbox turns it on for its own mail, and
    // another mailbox turns it off while the tenant has it on.
    e.app
        .update_mailbox(
            e.t,
            mb.id,
            &MailboxInput {
                acknowledge: Some(true),
                ..e.input()
            },
        )
        .await
        .unwrap();
    e.mailbox(MailboxInput {
        name: "quiet".into(),
        acknowledge: Some(false),
        ..e.input()
    })
    .await;
    let o = e
        .app
        .ingest_raw(
            e.t,
            "support",
            &mail("Al <al@example.com>", "Ack me", "k1@example.com", "x"),
        )
        .await
        .unwrap();
    assert_eq!(e.acks(o.case_id.unwrap()).await, 1);
    let o = e
        .app
        .ingest_raw(
            e.t,
            "other",
            &mail("Bo <bo@example.com>", "Tenant off", "k2@example.com", "x"),
        )
        .await
        .unwrap();
    assert_eq!(e.acks(o.case_id.unwrap()).await, 0);
    e.app
        .set_mail_ack_settings(
            e.t,
            &concierge_app::mail::AckSettings {
                enabled: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let o = e
        .app
        .ingest_raw(
            e.t,
            "quiet",
            &mail("Cy <cy@example.com>", "Quiet", "k3@example.com", "x"),
        )
        .await
        .unwrap();
    assert_eq!(e.acks(o.case_id.unwrap()).await, 0);
}

impl Env {
    /// The password column as stored, read past the app.
    async fn raw_password(&self, id: i64) -> String {
        sqlx::query_scalar("SELECT password FROM mailboxes WHERE id = $1")
            .bind(id)
            .fetch_one(self.app.store.pool())
            .await
            .unwrap()
    }

    /// The app trusting `ca` for TLS.
    fn trust(&mut self, ca: &TestCa) {
        let mut cfg = (*self.app.config).clone();
        cfg.mail.tls_ca_file = ca.ca_pem().display().to_string();
        self.app = self.app.with_config(cfg);
    }

    fn tls_input(&self, name: &str, mode: &str) -> MailboxInput {
        let port = match mode {
            "tls" => self.imap.tls_port.unwrap(),
            _ => self.imap.port,
        };
        MailboxInput {
            name: name.into(),
            imap_host: "127.0.0.1".into(),
            imap_port: i64::from(port),
            tls_mode: Some(mode.into()),
            ..self.input()
        }
    }
}

#[tokio::test]
async fn mail_is_polled_over_implicit_tls_and_starttls_when_the_private_ca_is_configured() {
    let ca = TestCa::generate().unwrap();
    let mut e = env_on(Dovecot::start_tls(&ca).unwrap()).await;
    e.trust(&ca);

    let tls = e.mailbox(e.tls_input("imaps", "tls")).await;
    e.deliver(&mail(
        "Ann <ann@example.com>",
        "Over implicit TLS",
        "t1@example.com",
        "x",
    ))
    .await;
    let r = e.poll(tls.id).await;
    assert_eq!((r.processed, r.error.as_deref()), (1, None), "{r:?}");
    assert_eq!(e.inbox().await, vec![(1, true)]);

    let starttls = e.mailbox(e.tls_input("starttls", "starttls")).await;
    e.deliver(&mail(
        "Bob <bob@example.com>",
        "Over STARTTLS",
        "t2@example.com",
        "y",
    ))
    .await;
    let r = e.poll(starttls.id).await;
    assert_eq!((r.processed, r.error.as_deref()), (1, None), "{r:?}");
    assert_eq!(e.inbox().await, vec![(1, true), (2, true)]);
    assert_eq!(
        e.case_subjects().await,
        vec!["Over STARTTLS", "Over implicit TLS"]
    );
    assert_eq!(e.reload(starttls.id).await.last_error, None);
}

#[tokio::test]
async fn an_untrusted_certificate_stops_the_poll_with_a_clear_error_until_the_ca_is_configured() {
    let ca = TestCa::generate().unwrap();
    let mut e = env_on(Dovecot::start_tls(&ca).unwrap()).await;
    let tls = e.mailbox(e.tls_input("imaps", "tls")).await;
    let starttls = e.mailbox(e.tls_input("starttls", "starttls")).await;
    e.deliver(&mail(
        "Ann <ann@example.com>",
        "Private CA",
        "u1@example.com",
        "x",
    ))
    .await;

    for id in [tls.id, starttls.id] {
        let r = e.poll(id).await;
        assert_eq!(r.processed, 0, "{r:?}");
        let err = r.error.unwrap();
        assert!(err.contains("certificate is not trusted"), "{err}");
        assert!(err.contains("UnknownIssuer"), "{err}");
        assert!(err.contains("tls_ca_file"), "says what to do: {err}");
        let row = e.reload(id).await;
        assert_eq!(row.last_error.as_deref(), Some(err.as_str()));
        assert_eq!(row.last_uid, 0);
    }
    assert_eq!(e.inbox().await, vec![(1, false)], "nothing marked read");
    assert!(e.case_subjects().await.is_empty());

    // A CA file that is not a certificate is named in the error.
    let mut cfg = (*e.app.config).clone();
    let junk = e.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    cfg.mail.tls_ca_file = junk.display().to_string();
    let junk_app = e.app.with_config(cfg);
    let r = junk_app.poll_mailbox(e.t, tls.id, "n").await.unwrap();
    let err = r.error.unwrap();
    assert!(
        err.contains("tls_ca_file") && err.contains("junk.pem"),
        "{err}"
    );

    // Once the CA is configured, the next poll takes the mail in.
    e.trust(&ca);
    let r = e.poll(tls.id).await;
    assert_eq!((r.processed, r.error.as_deref()), (1, None), "{r:?}");
    assert_eq!(e.reload(tls.id).await.last_error, None);
    assert_eq!(e.inbox().await, vec![(1, true)]);
    assert_eq!(e.case_subjects().await, vec!["Private CA"]);
}

#[tokio::test]
async fn mailbox_passwords_are_stored_encrypted_legacy_rows_still_work_and_a_wrong_key_is_clear() {
    use std::os::unix::fs::PermissionsExt;
    let e = env().await;
    let mb = e.mailbox(e.input()).await;
    let raw = e.raw_password(mb.id).await;
    assert!(raw.starts_with("enc:v1:"), "{raw}");
    assert!(!raw.contains(testing::PASSWORD), "{raw}");
    let key_file = e.dir.path().join("secrets.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the key file is the owner's only");

    e.deliver(&mail(
        "Ann <ann@example.com>",
        "Encrypted",
        "e1@example.com",
        "x",
    ))
    .await;
    let r = e.poll(mb.id).await;
    assert_eq!((r.processed, r.error.as_deref()), (1, None), "{r:?}");

    // A row written before encryption holds the plain password: it still signs in, and the
    // poll stores it encrypted.
    e.exec(&format!(
        "UPDATE mailboxes SET password = '{}' WHERE id = {}",
        testing::PASSWORD,
        mb.id
    ))
    .await;
    e.deliver(&mail(
        "Ann <ann@example.com>",
        "Legacy row",
        "e2@example.com",
        "y",
    ))
    .await;
    let r = e.poll(mb.id).await;
    assert_eq!((r.processed, r.error.as_deref()), (1, None), "{r:?}");
    let resealed = e.raw_password(mb.id).await;
    assert!(resealed.starts_with("enc:v1:"), "{resealed}");
    assert_ne!(resealed, raw, "a fresh nonce");

    // Saving a legacy row without a new password encrypts the kept one.
    e.exec(&format!(
        "UPDATE mailboxes SET password = '{}' WHERE id = {}",
        testing::PASSWORD,
        mb.id
    ))
    .await;
    e.app
        .update_mailbox(
            e.t,
            mb.id,
            &MailboxInput {
                password: None,
                ..e.input()
            },
        )
        .await
        .unwrap();
    let saved = e.raw_password(mb.id).await;
    assert!(saved.starts_with("enc:v1:"), "{saved}");

    // A node with another key cannot read it: a clear error, nothing taken or marked.
    e.deliver(&mail(
        "Ann <ann@example.com>",
        "Other key",
        "e3@example.com",
        "z",
    ))
    .await;
    let mut cfg = config(&e.db, &e.dir);
    cfg.secrets.key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into();
    let other = App::new(e.db.store().await.unwrap(), cfg);
    let r = other.poll_mailbox(e.t, mb.id, "node-2").await.unwrap();
    let err = r.error.unwrap();
    assert!(
        err.contains("the stored password cannot be decrypted with this node's secret key"),
        "{err}"
    );
    assert!(err.contains("CONCIERGE_SECRET_KEY"), "{err}");
    assert_eq!(r.processed, 0);
    let row = e.reload(mb.id).await;
    assert_eq!(row.last_error.as_deref(), Some(err.as_str()));
    assert_eq!(e.raw_password(mb.id).await, saved, "left as it was");
    assert_eq!(e.inbox().await, vec![(1, true), (2, true), (3, false)]);

    // The same key given to the second node (as CONCIERGE_SECRET_KEY would) works.
    let mut cfg = config(&e.db, &e.dir);
    cfg.storage.data_dir = e.dir.path().join("elsewhere");
    cfg.secrets.key = std::fs::read_to_string(&key_file).unwrap();
    let shared = App::new(e.db.store().await.unwrap(), cfg);
    let r = shared.poll_mailbox(e.t, mb.id, "node-2").await.unwrap();
    assert_eq!((r.processed, r.error.as_deref()), (1, None), "{r:?}");
    assert!(!e.dir.path().join("elsewhere/secrets.key").exists());
}
