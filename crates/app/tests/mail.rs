#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Story tests of email in and out (issue 5): raw mail goes through `App::ingest_raw` into a
//! fresh database per test — SQLite by default, PostgreSQL when
//! `CONCIERGE_TEST_DATABASE_URL` is set — and replies leave through the `mail.deliver` job
//! into the outbox folder, whose files are read back and fed in again as the customer's
//! answer.

use concierge_app::cases::{CasePatch, ReplyInput};
use concierge_app::jobs::Worker;
use concierge_app::mail::{IngestOutcome, IngestState};
use concierge_app::{App, Config};
use concierge_domain::{CaseId, Role, TenantId};
use concierge_store::UserRow;
use concierge_store::testing::TestDb;
use concierge_store::testing::tempfile_dir::TempDir;
use std::path::{Path, PathBuf};

struct Env {
    _db: TestDb,
    dir: TempDir,
    app: App,
    t: TenantId,
}

async fn env() -> Env {
    let db = TestDb::new().await.unwrap();
    let dir = TempDir::new("concierge-mail-test").unwrap();
    let mut cfg = Config::default();
    cfg.storage.database_url = db.url.clone();
    cfg.storage.data_dir = dir.path().to_path_buf();
    cfg.mail.from = "Shop Support <support@shop.example>".into();
    let app = App::new(db.store().await.unwrap(), cfg);
    let t = app
        .store
        .ensure_tenant("acme", "Acme", app.now())
        .await
        .unwrap()
        .id;
    Env {
        _db: db,
        dir,
        app,
        t,
    }
}

/// A plain mail.
fn mail(from: &str, subject: &str, message_id: Option<&str>, extra: &str, body: &str) -> Vec<u8> {
    let mut s = format!(
        "From: {from}\r\nTo: support@shop.example\r\nSubject: {subject}\r\n\
         Date: Tue, 1 Jul 2025 10:00:00 +0000\r\n"
    );
    if let Some(id) = message_id {
        s.push_str(&format!("Message-ID: <{id}>\r\n"));
    }
    s.push_str(extra);
    s.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    s.push_str(body);
    s.push_str("\r\n");
    s.into_bytes()
}

impl Env {
    async fn ingest(&self, raw: &[u8]) -> IngestOutcome {
        self.ingest_to("support", raw).await
    }

    async fn ingest_to(&self, mailbox: &str, raw: &[u8]) -> IngestOutcome {
        self.app.ingest_raw(self.t, mailbox, raw).await.unwrap()
    }

    async fn staff(&self, email: &str, role: Role) -> UserRow {
        self.app
            .store
            .create_user(self.t, email, "Agent Ann", role, "x", "en", self.app.now())
            .await
            .unwrap()
    }

    async fn messages(&self, case: i64) -> Vec<concierge_store::cases::MessageRow> {
        self.app
            .store
            .case_messages(self.t, CaseId(case), true)
            .await
            .unwrap()
    }

    async fn case_count(&self) -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM cases WHERE tenant_id = $1")
            .bind(self.t.0)
            .fetch_one(self.app.store.pool())
            .await
            .unwrap()
    }

    async fn message_count(&self) -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM messages WHERE tenant_id = $1")
            .bind(self.t.0)
            .fetch_one(self.app.store.pool())
            .await
            .unwrap()
    }

    fn outbox(&self) -> PathBuf {
        self.app.config.outbox_dir()
    }

    fn outbox_files(&self) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(self.outbox()) else {
            return Vec::new();
        };
        let mut v: Vec<PathBuf> = rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        v.sort();
        v
    }
}

fn header(raw: &str, name: &str) -> Option<String> {
    // Unfolded header value.
    let head = raw.split("\r\n\r\n").next().unwrap_or(raw);
    let mut out: Option<String> = None;
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(o) = out.as_mut() {
                o.push(' ');
                o.push_str(line.trim());
            }
            continue;
        }
        if out.is_some() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            out = Some(v.trim().to_string());
        }
    }
    out
}

#[tokio::test]
async fn a_new_mail_creates_a_case_and_a_customer() {
    let e = env().await;
    let raw = mail(
        "Jane Doe <jane@example.com>",
        "My order is late",
        Some("m1@example.com"),
        "Cc: Bob <bob@example.com>\r\n",
        "Where is my parcel?",
    );
    let o = e.ingest(&raw).await;
    assert_eq!(o.state, IngestState::Processed, "{o:?}");
    assert!(o.may_auto_reply);
    let case = e
        .app
        .store
        .case(e.t, CaseId(o.case_id.unwrap()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(case.subject, "My order is late");
    assert_eq!(case.channel, "email");
    assert_eq!(Some(case.number), o.case_number);
    let customer = e
        .app
        .store
        .customer_by_email(e.t, "jane@example.com")
        .await
        .unwrap()
        .expect("the sender became a customer");
    assert_eq!(customer.display_name, "Jane Doe");
    assert_eq!(case.customer_id, customer.id.0);
    let msgs = e.messages(case.id).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].author_kind, "customer");
    assert_eq!(msgs[0].body_text, "Where is my parcel?");
    assert_eq!(msgs[0].author_email.as_deref(), Some("jane@example.com"));
    // The raw bytes are kept exactly, and the cc is recorded.
    let row = e
        .app
        .store
        .inbound_mail(e.t, o.inbound_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, "processed");
    assert_eq!(row.message_id, Some(msgs[0].id));
    assert_eq!(row.detail["cc"][0]["address"], "bob@example.com");
    let kept = e
        .app
        .store
        .inbound_mail_raw(e.t, o.inbound_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept, raw);
}

#[tokio::test]
async fn the_same_delivery_twice_is_one_message() {
    let e = env().await;
    let raw = mail(
        "jane@example.com",
        "Hello",
        Some("dup@example.com"),
        "",
        "Hi there",
    );
    let a = e.ingest(&raw).await;
    let b = e.ingest(&raw).await;
    assert_eq!(a.state, IngestState::Processed);
    assert_eq!(b.state, IngestState::Duplicate);
    assert_eq!(b.message_id, a.message_id);
    assert_eq!(b.case_id, a.case_id);
    assert_eq!(e.message_count().await, 1);
    assert_eq!(e.case_count().await, 1);
}

#[tokio::test]
async fn a_reused_message_id_with_other_content_is_a_second_message() {
    let e = env().await;
    let a = e
        .ingest(&mail(
            "jane@example.com",
            "First",
            Some("same@x"),
            "",
            "one",
        ))
        .await;
    let b = e
        .ingest(&mail(
            "jane@example.com",
            "Second",
            Some("same@x"),
            "",
            "two",
        ))
        .await;
    assert_eq!(a.state, IngestState::Processed);
    assert_eq!(b.state, IngestState::Processed, "{b:?}");
    assert_ne!(a.message_id, b.message_id);
    assert_eq!(e.message_count().await, 2);
}

#[tokio::test]
async fn mail_without_message_id_is_deduplicated_by_content() {
    let e = env().await;
    let a = e
        .ingest(&mail("jane@example.com", "No id", None, "", "same words"))
        .await;
    // The same mail again, with a different trace header added by another hop.
    let again = mail(
        "jane@example.com",
        "No id",
        None,
        "Received: from relay2.example by mx.shop.example\r\n",
        "same words",
    );
    let b = e.ingest(&again).await;
    assert_eq!(a.state, IngestState::Processed);
    assert_eq!(b.state, IngestState::Duplicate, "{b:?}");
    assert_eq!(b.message_id, a.message_id);
    // Other words without an id are another message.
    let c = e
        .ingest(&mail("jane@example.com", "No id", None, "", "other words"))
        .await;
    assert_eq!(c.state, IngestState::Processed);
    assert_eq!(e.message_count().await, 2);
}

#[tokio::test]
async fn the_same_mail_to_two_mailboxes_lands_once_with_both_recorded() {
    let e = env().await;
    let to_support = mail(
        "jane@example.com",
        "Two boxes",
        Some("both@example.com"),
        "Delivered-To: support@shop.example\r\n",
        "Sent to both",
    );
    let to_billing = mail(
        "jane@example.com",
        "Two boxes",
        Some("both@example.com"),
        "Delivered-To: billing@shop.example\r\n",
        "Sent to both",
    );
    let a = e.ingest_to("support", &to_support).await;
    let b = e.ingest_to("billing", &to_billing).await;
    assert_eq!(a.state, IngestState::Processed);
    assert_eq!(b.state, IngestState::Duplicate);
    assert_eq!(b.duplicate_of, Some(a.inbound_id));
    assert_eq!(e.message_count().await, 1);
    let boxes = e
        .app
        .store
        .inbound_mailboxes(e.t, a.inbound_id)
        .await
        .unwrap();
    assert_eq!(boxes, vec!["billing".to_string(), "support".to_string()]);
}

#[tokio::test]
async fn a_forged_token_does_not_thread_and_a_subject_token_only_for_the_same_customer() {
    let e = env().await;
    let first = e
        .ingest(&mail(
            "jane@example.com",
            "Broken kettle",
            Some("k1@example.com"),
            "",
            "It leaks",
        ))
        .await;
    let number = first.case_number.unwrap();
    // A forged Message-ID token naming the case, from someone else, with another subject.
    let forged = mail(
        "mallory@evil.example",
        "Hello",
        Some("f1@evil.example"),
        &format!("In-Reply-To: <c{number}.m1.0011223344556677.0000000000000000@shop.example>\r\n"),
        "let me in",
    );
    let f = e.ingest(&forged).await;
    assert_eq!(f.state, IngestState::Processed);
    assert_ne!(f.case_id, first.case_id, "a forged token must not thread");
    // A forged reply address too.
    let forged_addr = mail(
        "mallory@evil.example",
        "Hello again",
        Some("f2@evil.example"),
        &format!("Cc: support+c{number}-0000000000000000@shop.example\r\n"),
        "still trying",
    );
    assert_ne!(e.ingest(&forged_addr).await.case_id, first.case_id);
    // A Chinese reply prefix and the [#N] token from the same customer thread.
    let same = e
        .ingest(&mail(
            "jane@example.com",
            &format!("回复: [#{number}] something else entirely"),
            Some("k2@example.com"),
            "",
            "Any news?",
        ))
        .await;
    assert_eq!(same.case_id, first.case_id);
    // The same subject token from another customer does not.
    let other = e
        .ingest(&mail(
            "mallory@evil.example",
            &format!("回复: [#{number}] Broken kettle"),
            Some("k3@evil.example"),
            "",
            "Me too",
        ))
        .await;
    assert_ne!(other.case_id, first.case_id);
    // A normalised subject of the same customer threads onto the open case.
    let by_subject = e
        .ingest(&mail(
            "jane@example.com",
            "AW: Re: Broken kettle",
            Some("k4@example.com"),
            "",
            "Hello?",
        ))
        .await;
    assert_eq!(by_subject.case_id, first.case_id);
    assert_eq!(e.messages(first.case_id.unwrap()).await.len(), 3);
}

#[tokio::test]
async fn a_reply_to_a_closed_case_opens_a_linked_follow_up() {
    let e = env().await;
    let manager = e.staff("boss@shop.example", Role::Manager).await;
    let first = e
        .ingest(&mail(
            "jane@example.com",
            "Refund",
            Some("r1@example.com"),
            "",
            "Refund please",
        ))
        .await;
    let id = CaseId(first.case_id.unwrap());
    for status in ["solved", "closed"] {
        e.app
            .update_case(
                e.t,
                &manager,
                id,
                &CasePatch {
                    status: Some(status.into()),
                    ..CasePatch::default()
                },
            )
            .await
            .unwrap();
    }
    let reply = mail(
        "jane@example.com",
        "Re: Refund",
        Some("r2@example.com"),
        "In-Reply-To: <r1@example.com>\r\nReferences: <r1@example.com>\r\n",
        "It never arrived",
    );
    let o = e.ingest(&reply).await;
    assert_eq!(o.state, IngestState::Processed);
    let new_id = o.case_id.unwrap();
    assert_ne!(new_id, id.0);
    let follow = e
        .app
        .store
        .case(e.t, CaseId(new_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(follow.parent_case_id, Some(id.0));
    assert_eq!(follow.kind, "follow_up");
    let old = e.app.store.case(e.t, id).await.unwrap().unwrap();
    assert_eq!(old.status, "closed");
}

#[tokio::test]
async fn an_auto_reply_is_recorded_but_never_answered() {
    let e = env().await;
    let first = e
        .ingest(&mail(
            "jane@example.com",
            "Question",
            Some("q1@example.com"),
            "",
            "A question",
        ))
        .await;
    let number = first.case_number.unwrap();
    let auto = mail(
        "jane@example.com",
        &format!("Out of office: [#{number}] Question"),
        Some("auto1@example.com"),
        "Auto-Submitted: auto-replied\r\nIn-Reply-To: <q1@example.com>\r\n",
        "I am away until Monday.",
    );
    let o = e.ingest(&auto).await;
    assert_eq!(o.state, IngestState::Processed, "{o:?}");
    assert_eq!(o.case_id, first.case_id);
    assert!(!o.may_auto_reply);
    let msgs = e.messages(first.case_id.unwrap()).await;
    assert_eq!(msgs.len(), 2);
    let m = &msgs[1];
    assert_eq!(m.author_kind, "system");
    assert_eq!(m.visibility, "internal");
    // Nothing is queued for delivery, and the worker sends nothing.
    assert!(msgs.iter().all(|m| m.delivery_state.is_none()));
    Worker::standard().tick(&e.app, "test-node").await.unwrap();
    e.app.deliver_outbound_mail().await.unwrap();
    assert!(e.outbox_files().is_empty());
    // An auto-reply matching no case is kept and ignored, and creates no customer.
    let stray = mail(
        "robot@elsewhere.example",
        "Automatic reply",
        Some("auto2@example.com"),
        "Auto-Submitted: auto-replied\r\n",
        "Thanks for your mail.",
    );
    let s = e.ingest(&stray).await;
    assert_eq!(s.state, IngestState::Ignored);
    assert!(
        e.app
            .store
            .customer_by_email(e.t, "robot@elsewhere.example")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_staff_address_mail_is_a_staff_message() {
    let e = env().await;
    let agent = e.staff("ann@shop.example", Role::Agent).await;
    let first = e
        .ingest(&mail(
            "jane@example.com",
            "Sizes",
            Some("s1@example.com"),
            "",
            "Which size?",
        ))
        .await;
    // Ann answers from her own mail client with a cc to the mailbox.
    let staff = mail(
        "Ann <ann@shop.example>",
        "Re: Sizes",
        Some("s2@shop.example"),
        "In-Reply-To: <s1@example.com>\r\nReferences: <s1@example.com>\r\n",
        "Take a medium.",
    );
    let o = e.ingest(&staff).await;
    assert_eq!(o.state, IngestState::Processed, "{o:?}");
    assert_eq!(o.case_id, first.case_id);
    let msgs = e.messages(first.case_id.unwrap()).await;
    let m = msgs
        .iter()
        .find(|m| m.body_text == "Take a medium.")
        .unwrap();
    assert_eq!(m.author_kind, "staff");
    assert_eq!(m.author_user_id, Some(agent.id.0));
    assert_eq!(m.visibility, "public");
    assert_eq!(m.route.as_deref(), Some("email"));
    // Already delivered by her mail client: never sent again.
    assert_eq!(m.delivery_state.as_deref(), Some("sent_by_mail_client"));
    e.app.deliver_outbound_mail().await.unwrap();
    assert!(e.outbox_files().is_empty());
}

#[tokio::test]
async fn every_fixture_is_stored_or_quarantined_with_its_raw_bytes() {
    let e = env().await;
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/mail/mail-parser");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|err| panic!("{}: {err}", d.display())) {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() > 50, "fixtures found: {}", files.len());
    let mut states = std::collections::BTreeMap::<String, usize>::new();
    for f in &files {
        let raw = std::fs::read(f).unwrap();
        let o = e
            .app
            .ingest_raw(e.t, "fixtures", &raw)
            .await
            .unwrap_or_else(|err| panic!("{}: {err}", f.display()));
        *states.entry(format!("{:?}", o.state)).or_default() += 1;
        if o.state == IngestState::Quarantined || o.state == IngestState::Ignored {
            eprintln!("{}: {:?}", f.display(), o.reason);
        }
        let kept = e
            .app
            .store
            .inbound_mail_raw(e.t, o.inbound_id)
            .await
            .unwrap();
        assert_eq!(kept.as_deref(), Some(raw.as_slice()), "{}", f.display());
        match o.state {
            IngestState::Processed => assert!(o.message_id.is_some(), "{}: {o:?}", f.display()),
            IngestState::Duplicate => assert!(o.duplicate_of.is_some()),
            IngestState::Ignored | IngestState::Quarantined => {
                assert!(o.reason.is_some(), "{}: {o:?}", f.display())
            }
        }
    }
    eprintln!("fixture outcomes: {states:?}");
    assert!(
        states.get("Processed").copied().unwrap_or(0) > 30,
        "{states:?}"
    );
}

#[tokio::test]
async fn hopeless_input_is_quarantined_with_its_raw_bytes() {
    let e = env().await;
    for raw in [&b""[..], b"\x00\x01\x02 not a mail at all"] {
        let o = e.ingest(raw).await;
        if o.state != IngestState::Quarantined {
            // Whatever the parser made of it, nothing without a sender becomes a case.
            assert_ne!(o.state, IngestState::Processed, "{o:?}");
        }
        let kept = e
            .app
            .store
            .inbound_mail_raw(e.t, o.inbound_id)
            .await
            .unwrap();
        assert_eq!(kept.as_deref(), Some(raw));
    }
    assert_eq!(e.case_count().await, 0);
}

#[tokio::test]
async fn an_agent_reply_goes_out_threaded_and_the_answer_comes_back_to_the_case() {
    let e = env().await;
    let agent = e.staff("ann@shop.example", Role::Agent).await;
    let first = e
        .ingest(&mail(
            "Jane <jane@example.com>",
            "Lost parcel",
            Some("p1@example.com"),
            "",
            "Where is it?",
        ))
        .await;
    let case_id = CaseId(first.case_id.unwrap());
    let number = first.case_number.unwrap();
    e.app
        .reply(
            e.t,
            &agent,
            case_id,
            &ReplyInput {
                body: "It is on its way.".into(),
                ..ReplyInput::default()
            },
        )
        .await
        .unwrap();
    // Committed first: queued before any delivery.
    let queued = e.messages(case_id.0).await;
    let reply = queued.iter().find(|m| m.author_kind == "staff").unwrap();
    assert_eq!(reply.route.as_deref(), Some("email"));
    assert_eq!(reply.delivery_state.as_deref(), Some("queued"));
    assert!(e.outbox_files().is_empty());

    // The worker's schedule delivers it.
    let worker = Worker::standard();
    let now = e.app.now();
    e.app
        .store
        .ensure_schedule("mail.deliver", 5000, now, now)
        .await
        .unwrap();
    worker.tick(&e.app, "test-node").await.unwrap();
    let files = e.outbox_files();
    assert_eq!(files.len(), 1, "one .eml in {}", e.outbox().display());
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    let sent = e.messages(case_id.0).await;
    let reply = sent.iter().find(|m| m.author_kind == "staff").unwrap();
    assert_eq!(
        reply.delivery_state.as_deref(),
        Some("sent"),
        "{:?}",
        reply.delivery_error
    );
    let our_id = e
        .app
        .store
        .message_mail_id(e.t, reply.id)
        .await
        .unwrap()
        .expect("the reply's Message-ID is recorded");
    assert!(
        our_id.starts_with(&format!("c{number}.m{}.", reply.id)),
        "{our_id}"
    );
    assert_eq!(header(&eml, "Message-ID").unwrap(), format!("<{our_id}>"));
    assert_eq!(header(&eml, "In-Reply-To").unwrap(), "<p1@example.com>");
    assert_eq!(header(&eml, "References").unwrap(), "<p1@example.com>");
    let subject = header(&eml, "Subject").unwrap();
    assert!(
        subject.starts_with(&format!("[#{number}] Re: Lost parcel")),
        "{subject}"
    );
    assert!(header(&eml, "To").unwrap().contains("jane@example.com"));
    assert!(
        header(&eml, "From")
            .unwrap()
            .contains("support@shop.example")
    );
    let reply_to = header(&eml, "Reply-To").unwrap();
    assert!(
        reply_to.contains(&format!("support+c{number}-")),
        "{reply_to}"
    );
    // Sent once: another round sends nothing more.
    e.app.deliver_outbound_mail().await.unwrap();
    assert_eq!(e.outbox_files().len(), 1);

    // The customer answers from another client with a fresh subject; In-Reply-To carries our
    // Message-ID, so it lands on the same case.
    let answer = mail(
        "jane@example.com",
        "thanks",
        Some("p2@example.com"),
        &format!("In-Reply-To: <{our_id}>\r\nReferences: <p1@example.com> <{our_id}>\r\n"),
        "Great, thanks!\r\n\r\n> It is on its way.",
    );
    let o = e.ingest(&answer).await;
    assert_eq!(o.state, IngestState::Processed);
    assert_eq!(o.case_id, Some(case_id.0));
    assert_eq!(e.messages(case_id.0).await.len(), 3);
    assert_eq!(e.case_count().await, 1);
    drop(e.dir);
}

#[tokio::test]
async fn a_failing_delivery_is_deferred_then_marked_failed_with_the_reason() {
    let mut e = env().await;
    let agent = e.staff("ann@shop.example", Role::Agent).await;
    let first = e
        .ingest(&mail(
            "jane@example.com",
            "Outbox",
            Some("o1@example.com"),
            "",
            "Hello",
        ))
        .await;
    // The outbox is a file, so writing into it fails (a transient error).
    let blocker = e.dir.path().join("blocked");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let mut cfg = (*e.app.config).clone();
    cfg.mail.outbox_dir = blocker.display().to_string();
    e.app.config = std::sync::Arc::new(cfg);
    let case_id = CaseId(first.case_id.unwrap());
    e.app
        .reply(
            e.t,
            &agent,
            case_id,
            &ReplyInput {
                body: "Answer".into(),
                ..ReplyInput::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(e.app.deliver_outbound_mail().await.unwrap(), 1);
    let m = e
        .messages(case_id.0)
        .await
        .into_iter()
        .find(|m| m.author_kind == "staff")
        .unwrap();
    assert_eq!(m.delivery_state.as_deref(), Some("deferred"));
    assert!(
        m.delivery_error.as_deref().unwrap_or("").contains("outbox"),
        "{:?}",
        m.delivery_error
    );
    // Not due again yet.
    assert_eq!(e.app.deliver_outbound_mail().await.unwrap(), 0);
}
