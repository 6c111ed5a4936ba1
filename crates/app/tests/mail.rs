#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Story tests of email in and out (issue 5): raw mail goes through `App::ingest_raw` into a
//! fresh database per test — SQLite by default, PostgreSQL when
//! `CONCIERGE_TEST_DATABASE_URL` is set — and replies leave through the `mail.deliver` job
//! into the outbox folder, whose files are read back and fed in again as the customer's
//! answer. Replies also go to a real SMTP server (aiosmtpd), in plain text and over STARTTLS
//! with a certificate from a throw-away CA that must be configured to be trusted.

use concierge_app::cases::{CasePatch, ReplyInput};
use concierge_app::jobs::Worker;
use concierge_app::mail::{IngestOutcome, IngestState};
use concierge_app::{App, Config};
use concierge_domain::{CaseId, Role, TenantId};
use concierge_mail::testing::TestCa;
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

/// A trigger definition as the console saves it.
fn trigger_spec(name: &str, subject_contains: &str, tag: &str) -> String {
    serde_json::json!({"id": 0, "name": name, "event": "created",
        "conditions": [{"op": "subject_contains", "value": subject_contains}],
        "actions": [{"action": "add_tag", "value": tag}], "position": 0, "active": true})
    .to_string()
}

async fn add_trigger(e: &Env, name: &str, contains: &str, tag: &str, position: i64) -> i64 {
    let spec = trigger_spec(name, contains, tag);
    e.app
        .store
        .add_definition(
            e.t,
            "trigger",
            name,
            Some("created"),
            &spec,
            position,
            e.app.now(),
        )
        .await
        .unwrap()
}

async fn tags_of(e: &Env, o: &IngestOutcome) -> Vec<String> {
    e.app
        .store
        .case(e.t, CaseId(o.case_id.unwrap()))
        .await
        .unwrap()
        .unwrap()
        .tags
}

#[tokio::test]
async fn a_mail_opens_its_case_under_the_tenants_triggers_as_they_are_now() {
    let e = env().await;
    add_trigger(&e, "refunds", "退款", "refund", 1).await;
    let off = add_trigger(&e, "switched off", "退款", "never", 0).await;
    e.app
        .store
        .update_definition(
            e.t,
            "trigger",
            off,
            "switched off",
            Some("created"),
            &trigger_spec("switched off", "退款", "never"),
            0,
            false,
        )
        .await
        .unwrap();
    let o = e
        .ingest(&mail(
            "Li Na <na@example.cn>",
            "申请退款",
            Some("r1@example.cn"),
            "",
            "质量问题",
        ))
        .await;
    assert_eq!(o.state, IngestState::Processed, "{o:?}");
    // The active trigger fired; the switched-off one did not.
    assert_eq!(tags_of(&e, &o).await, vec!["refund".to_string()]);
    // A trigger added between two mails applies to the next one.
    add_trigger(&e, "delivery", "退款", "delivery", 2).await;
    let o = e
        .ingest(&mail(
            "Li Na <na@example.cn>",
            "又一个退款",
            Some("r2@example.cn"),
            "",
            "还是质量问题",
        ))
        .await;
    assert_eq!(o.state, IngestState::Processed, "{o:?}");
    assert_eq!(
        tags_of(&e, &o).await,
        vec!["delivery".to_string(), "refund".to_string()]
    );
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
async fn first_mails_from_one_new_address_at_once_make_one_customer_with_every_case() {
    let e = env().await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let app = e.app.clone();
        let t = e.t;
        // The same person, written in several ways.
        let from = if i % 2 == 0 {
            "Li Na <Li.Na@Example.cn>"
        } else {
            "li.na@example.CN"
        };
        let raw = mail(
            from,
            &format!("Question {i}"),
            Some(&format!("first-{i}@example.cn")),
            "",
            &format!("Question number {i}"),
        );
        set.spawn(async move { app.ingest_raw(t, "support", &raw).await.unwrap() });
    }
    let mut cases = Vec::new();
    while let Some(o) = set.join_next().await {
        let o = o.unwrap();
        assert_eq!(o.state, IngestState::Processed, "{o:?}");
        cases.push(o.case_id.unwrap());
    }
    cases.sort_unstable();
    cases.dedup();
    assert_eq!(cases.len(), 8, "every first mail opens its own case");
    let customer = e
        .app
        .store
        .customer_by_email(e.t, "li.na@example.cn")
        .await
        .unwrap()
        .expect("the sender became a customer");
    for c in &cases {
        let case = e.app.store.case(e.t, CaseId(*c)).await.unwrap().unwrap();
        assert_eq!(case.customer_id, customer.id.0, "case {c}");
        let msgs = e.messages(*c).await;
        assert_eq!(msgs[0].author_customer_id, Some(customer.id.0), "case {c}");
    }
    let (customers, contacts): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM customers WHERE tenant_id = $1), \
         (SELECT COUNT(*) FROM customer_contacts WHERE tenant_id = $1)",
    )
    .bind(e.t.0)
    .fetch_one(e.app.store.pool())
    .await
    .unwrap();
    assert_eq!(
        (customers, contacts),
        (1, 1),
        "one customer with one address"
    );
}

#[tokio::test]
async fn a_known_senders_tier_sets_the_targets_of_the_case_their_mail_opens() {
    let e = env().await;
    let first = e
        .ingest(&mail(
            "Wang Fang <fang@example.cn>",
            "Hello",
            Some("w1@example.cn"),
            "",
            "Hi",
        ))
        .await;
    let plain = e
        .ingest(&mail(
            "Kim Minji <minji@example.kr>",
            "Hello",
            Some("k1@example.kr"),
            "",
            "Hi",
        ))
        .await;
    let gold = e
        .app
        .store
        .case(e.t, CaseId(first.case_id.unwrap()))
        .await
        .unwrap()
        .unwrap()
        .customer_id;
    concierge_store::testing::set_customer_tier(&e.app.store, e.t, gold, "Gold", e.app.now())
        .await
        .unwrap();
    let policy_of = |o: IngestOutcome| {
        let app = e.app.clone();
        let t = e.t;
        async move {
            let d = app
                .case_detail(t, CaseId(o.case_id.unwrap()), true)
                .await
                .unwrap();
            let policy = d
                .events
                .iter()
                .find(|ev| ev.kind == "targets")
                .map(|ev| ev.detail["policy"].as_str().unwrap_or("").to_string());
            (d.tier, policy)
        }
    };
    // Opened before the tier was given (the case shows the customer's tier as it is now).
    let (_, policy) = policy_of(first).await;
    assert_eq!(policy.as_deref(), Some("Standard"));
    let again = e
        .ingest(&mail(
            "Wang Fang <fang@example.cn>",
            "Another thing",
            Some("w2@example.cn"),
            "",
            "Hi",
        ))
        .await;
    let (tier, policy) = policy_of(again).await;
    assert_eq!(
        (tier.as_deref(), policy.as_deref()),
        (Some("Gold"), Some("Gold"))
    );
    let other = e
        .ingest(&mail(
            "Kim Minji <minji@example.kr>",
            "Another thing",
            Some("k2@example.kr"),
            "",
            "Hi",
        ))
        .await;
    assert_ne!(other.case_id, plain.case_id);
    let (tier, policy) = policy_of(other).await;
    assert_eq!((tier, policy.as_deref()), (None, Some("Standard")));
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

/// Two copies of one mail (two mailboxes, so other trace headers) taken in at the same time,
/// new mail and replies alike: whichever wins, one message, the other a duplicate of it with
/// both mailboxes recorded on the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_of_one_mail_taken_in_at_the_same_time_land_once() {
    let e = env().await;
    let first = e
        .ingest(&mail(
            "jane@example.com",
            "Racing copies",
            Some("race-root@example.com"),
            "",
            "The first mail",
        ))
        .await;
    let case = first.case_id.unwrap();
    for i in 0..12 {
        // Even rounds: a reply to the case; odd rounds: a new case.
        let extra = if i % 2 == 0 {
            "In-Reply-To: <race-root@example.com>\r\n"
        } else {
            ""
        };
        let id = format!("race-{i}@example.com");
        let copy = |to: &str| {
            mail(
                "jane@example.com",
                &format!("Racing copy {i}"),
                Some(&id),
                &format!("{extra}Delivered-To: {to}@shop.example\r\n"),
                &format!("Copy number {i}"),
            )
        };
        let (a, b) = (copy("support"), copy("billing"));
        let (x, y) = tokio::join!(
            e.app.ingest_raw(e.t, "support", &a),
            e.app.ingest_raw(e.t, "billing", &b)
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        let (won, dup) = if x.state == IngestState::Processed {
            (x, y)
        } else {
            (y, x)
        };
        assert_eq!(won.state, IngestState::Processed, "round {i}");
        assert_eq!(dup.state, IngestState::Duplicate, "round {i}");
        assert_eq!(dup.duplicate_of, Some(won.inbound_id), "round {i}");
        assert_eq!(dup.message_id, won.message_id, "round {i}");
        if i % 2 == 0 {
            assert_eq!(
                won.case_id,
                Some(case),
                "round {i}: the reply is on its case"
            );
        }
        let boxes = e
            .app
            .store
            .inbound_mailboxes(e.t, won.inbound_id)
            .await
            .unwrap();
        assert_eq!(boxes, vec!["billing".to_string(), "support".to_string()]);
    }
    // The first mail, six replies, six new cases with one message each.
    assert_eq!(e.message_count().await, 13);
    assert_eq!(e.case_count().await, 7);
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

// ---- exactly once across interruptions ---------------------------------------------------

async fn inbound_state(e: &Env, id: i64) -> concierge_store::mail::InboundMailRow {
    e.app.store.inbound_mail(e.t, id).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_crash_after_the_raw_commit_then_a_retry_stores_the_message_once() {
    let e = env().await;
    let raw = mail(
        "Jane <jane@example.com>",
        "Crash before the case",
        Some("crash-1@example.com"),
        "",
        "Stored once, please.",
    );
    // The first attempt committed the raw bytes, which takes the processing lease, then died.
    let sha = concierge_mail::parse::sha256_hex(&raw);
    let (row, inserted) = e
        .app
        .store
        .receive_mail(e.t, "support", &raw, &sha, e.app.now())
        .await
        .unwrap();
    assert!(inserted);
    assert!(
        !e.app
            .store
            .lease_inbound_mail(e.t, row.id, e.app.now(), 300_000)
            .await
            .unwrap(),
        "the new row is leased to the attempt that committed it"
    );
    // The MTA retries at once: the mail is held by the dead attempt, so "come back later".
    assert!(matches!(
        e.app.ingest_raw(e.t, "support", &raw).await,
        Err(concierge_app::mail::IngestError::Busy)
    ));
    assert_eq!(e.message_count().await, 0);
    // After the lease ran out, the retry stores it: one case, one message.
    e.app.clock.advance_ms(301_000);
    let o = e.ingest(&raw).await;
    assert_eq!(o.state, IngestState::Processed);
    assert_eq!(o.inbound_id, row.id);
    assert_eq!(e.case_count().await, 1);
    assert_eq!(e.message_count().await, 1);
    let again = e.ingest(&raw).await;
    assert_eq!(again.state, IngestState::Duplicate);
    assert_eq!(again.message_id, o.message_id);
    assert_eq!(e.message_count().await, 1);
}

#[tokio::test]
async fn a_crash_after_the_case_write_then_a_retry_neither_duplicates_nor_loses_it() {
    let e = env().await;
    let first = e
        .ingest(&mail(
            "Jane <jane@example.com>",
            "Crash after",
            Some("crash-2a@example.com"),
            "",
            "First mail.",
        ))
        .await;
    let case_id = first.case_id.unwrap();
    // A reply whose message was written (with its link, in one transaction) but whose inbound
    // row was never marked finished: the process died in between.
    let raw = mail(
        "jane@example.com",
        "Re: Crash after",
        Some("crash-2b@example.com"),
        "In-Reply-To: <crash-2a@example.com>\r\n",
        "Second mail.",
    );
    let o = e.ingest(&raw).await;
    assert_eq!(o.case_id, Some(case_id));
    sqlx::query("UPDATE inbound_mail SET state = 'processing', processed_at = $2 WHERE id = $1")
        .bind(o.inbound_id)
        .bind(e.app.now())
        .execute(e.app.store.pool())
        .await
        .unwrap();
    assert_eq!(e.message_count().await, 2);
    e.app.clock.advance_ms(301_000);
    let retried = e.ingest(&raw).await;
    assert_eq!(retried.state, IngestState::Processed);
    assert_eq!(
        retried.message_id, o.message_id,
        "the same message, found exactly"
    );
    assert_eq!(retried.case_id, Some(case_id));
    assert_eq!(e.message_count().await, 2);
    assert_eq!(e.messages(case_id).await.len(), 2);
    let row = inbound_state(&e, o.inbound_id).await;
    assert_eq!(row.state, "processed");
    assert_eq!(row.message_id, o.message_id);
}

#[tokio::test]
async fn a_second_write_of_an_already_stored_mail_is_refused_whole() {
    use concierge_store::cases::{CaseWrite, NewMessage};
    let e = env().await;
    let o = e
        .ingest(&mail(
            "jane@example.com",
            "Once",
            Some("once@example.com"),
            "",
            "Only once.",
        ))
        .await;
    let case_id = CaseId(o.case_id.unwrap());
    let case = e.app.store.case(e.t, case_id).await.unwrap().unwrap();
    // A slow worker whose lease ran out writes the same mail again: refused, nothing added.
    let w = CaseWrite {
        messages: vec![NewMessage {
            author_kind: "customer".into(),
            author_customer_id: Some(case.customer_id),
            visibility: "public".into(),
            channel: "email".into(),
            body_text: "Only once.".into(),
            inbound_mail_id: Some(o.inbound_id),
            mail_message_id: Some("once@example.com".into()),
            ..NewMessage::default()
        }],
        ..CaseWrite::default()
    };
    let r = e
        .app
        .store
        .write_case(e.t, case_id, case.version, &w, e.app.now())
        .await;
    // Refused as "already stored", not as a version conflict (which callers retry).
    assert!(
        matches!(r, Err(concierge_store::StoreError::AlreadyLinked(id)) if id == o.inbound_id),
        "{r:?}"
    );
    assert_eq!(e.message_count().await, 1);
    let after = e.app.store.case(e.t, case_id).await.unwrap().unwrap();
    assert_eq!(after.version, case.version, "the case row is untouched too");
    assert_eq!(
        inbound_state(&e, o.inbound_id).await.message_id,
        o.message_id
    );
}

// ---- bounces ------------------------------------------------------------------------------

/// An RFC 3464 report about `original_id`, as Postfix writes one.
fn bounce_for(original_id: &str, recipient: &str, action: &str, status: &str) -> Vec<u8> {
    format!(
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n\
         To: support@shop.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Date: Tue, 1 Jul 2025 11:00:00 +0000\r\nMessage-ID: <bounce-{status}@mx.example.net>\r\n\
         Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"RB\"\r\n\r\n\
         --RB\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         This is the mail system at host mx.example.net.\r\n\r\n\
         I'm sorry to have to inform you that your message could not\r\n\
         be delivered to one or more recipients.\r\n\r\n\
         --RB\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.example.net\r\nX-Postfix-Queue-ID: 4bXyZ\r\n\
         Arrival-Date: Tue,  1 Jul 2025 10:59:58 +0000 (UTC)\r\n\r\n\
         Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n\
         Action: {action}\r\nStatus: {status}\r\n\
         Remote-MTA: dns; mail.example.com\r\n\
         Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected:\r\n    User unknown in virtual mailbox table\r\n\r\n\
         --RB\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n\
         From: Shop Support <support@shop.example>\r\nTo: {recipient}\r\n\
         Subject: [#1] Re: Parcel\r\nMessage-ID: <{original_id}>\r\n\r\n--RB--\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn a_bounce_marks_the_reply_failed_with_the_reason_and_shows_on_the_case() {
    let e = env().await;
    let agent = e.staff("ann@shop.example", Role::Agent).await;
    let first = e
        .ingest(&mail(
            "Jane <jane@example.com>",
            "Parcel",
            Some("b1@example.com"),
            "",
            "Where?",
        ))
        .await;
    let case_id = CaseId(first.case_id.unwrap());
    e.app
        .reply(
            e.t,
            &agent,
            case_id,
            &ReplyInput {
                body: "On its way.".into(),
                ..ReplyInput::default()
            },
        )
        .await
        .unwrap();
    e.app.deliver_outbound_mail().await.unwrap();
    let reply = e
        .messages(case_id.0)
        .await
        .into_iter()
        .find(|m| m.author_kind == "staff")
        .unwrap();
    assert_eq!(reply.delivery_state.as_deref(), Some("sent"));
    let our_id = e
        .app
        .store
        .message_mail_id(e.t, reply.id)
        .await
        .unwrap()
        .unwrap();

    // A delay notice is recorded but changes nothing about the delivery.
    let delayed = e
        .ingest(&bounce_for(&our_id, "jane@example.com", "delayed", "4.4.1"))
        .await;
    assert_eq!(delayed.state, IngestState::Processed);
    assert_eq!(delayed.case_id, Some(case_id.0));
    assert!(!delayed.may_auto_reply);
    let m = e.messages(case_id.0).await;
    let r = m.iter().find(|x| x.id == reply.id).unwrap();
    assert_eq!(r.delivery_state.as_deref(), Some("sent"));

    let o = e
        .ingest(&bounce_for(&our_id, "jane@example.com", "failed", "5.1.1"))
        .await;
    assert_eq!(o.state, IngestState::Processed);
    assert_eq!(
        o.case_id,
        Some(case_id.0),
        "on the case of the bounced reply"
    );
    assert!(!o.may_auto_reply, "a bounce is never answered");
    let m = e.messages(case_id.0).await;
    let r = m.iter().find(|x| x.id == reply.id).unwrap();
    assert_eq!(r.delivery_state.as_deref(), Some("failed"));
    let reason = r.delivery_error.clone().unwrap_or_default();
    assert!(reason.contains("jane@example.com (5.1.1)"), "{reason}");
    assert!(reason.contains("User unknown"), "{reason}");
    // Shown on the case internally (never to the customer), and not re-sent.
    let events = e.app.store.case_events(e.t, case_id, false).await.unwrap();
    let bounces: Vec<_> = events.iter().filter(|ev| ev.kind == "bounce").collect();
    assert_eq!(bounces.len(), 2, "the delay notice and the failure");
    let bounce = bounces
        .iter()
        .find(|ev| ev.detail["failed"] == true)
        .unwrap();
    assert_eq!(bounce.visibility, "internal");
    assert_eq!(bounce.detail["message_id"], reply.id);
    let public = e.app.store.case_events(e.t, case_id, true).await.unwrap();
    assert!(public.iter().all(|ev| ev.kind != "bounce"));
    assert!(
        m.iter()
            .filter(|x| x.author_kind == "system")
            .all(|x| x.visibility == "internal")
    );
    assert_eq!(e.case_count().await, 1);
    assert_eq!(e.app.deliver_outbound_mail().await.unwrap(), 0);
    assert_eq!(e.outbox_files().len(), 1);
}

// ---- automatic acknowledgement ------------------------------------------------------------

async fn ack_on(e: &Env, window_minutes: i64) {
    e.app
        .set_mail_ack_settings(
            e.t,
            &concierge_app::mail::AckSettings {
                enabled: true,
                body: "Dear {{customer.first_name | \"customer\"}}, we have your message.".into(),
                window_minutes,
            },
        )
        .await
        .unwrap();
}

fn acks(messages: &[concierge_store::cases::MessageRow]) -> usize {
    messages
        .iter()
        .filter(|m| m.author_kind == "system" && m.visibility == "public")
        .count()
}

#[tokio::test]
async fn a_new_case_by_mail_is_acknowledged_once_with_its_token_and_marked_automatic() {
    let e = env().await;
    // Off by default.
    let off = e
        .ingest(&mail(
            "Jane Doe <jane@example.com>",
            "No ack",
            Some("a0@example.com"),
            "",
            "Hello",
        ))
        .await;
    assert_eq!(acks(&e.messages(off.case_id.unwrap()).await), 0);

    ack_on(&e, 60).await;
    let o = e
        .ingest(&mail(
            "Max <max@example.com>",
            "Broken kettle",
            Some("a1@example.com"),
            "",
            "It does not heat.",
        ))
        .await;
    let case_id = o.case_id.unwrap();
    let number = o.case_number.unwrap();
    let m = e.messages(case_id).await;
    assert_eq!(acks(&m), 1);
    let ack = m.iter().find(|x| x.author_kind == "system").unwrap();
    assert_eq!(ack.delivery_state.as_deref(), Some("queued"));
    assert!(ack.body_text.contains("we have your message"));
    // A reply on the same case is not acknowledged again.
    e.ingest(&mail(
        "max@example.com",
        "Re: Broken kettle",
        Some("a2@example.com"),
        "In-Reply-To: <a1@example.com>\r\n",
        "Any news?",
    ))
    .await;
    assert_eq!(acks(&e.messages(case_id).await), 1);

    e.app.deliver_outbound_mail().await.unwrap();
    let files = e.outbox_files();
    assert_eq!(files.len(), 1);
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    let subject = header(&eml, "Subject").unwrap();
    assert!(
        subject.starts_with(&format!("[#{number}] Re: Broken kettle")),
        "{subject}"
    );
    assert_eq!(header(&eml, "Auto-Submitted").unwrap(), "auto-replied");
    assert_eq!(header(&eml, "In-Reply-To").unwrap(), "<a1@example.com>");
    assert!(header(&eml, "To").unwrap().contains("max@example.com"));
    assert!(eml.contains("Dear Max"), "{eml}");
}

#[tokio::test]
async fn acknowledgements_are_rate_limited_per_sender_and_never_sent_to_automatic_mail() {
    let e = env().await;
    ack_on(&e, 60).await;
    let a = e
        .ingest(&mail(
            "max@example.com",
            "One",
            Some("r1@example.com"),
            "",
            "First",
        ))
        .await;
    assert_eq!(acks(&e.messages(a.case_id.unwrap()).await), 1);
    // Another new case from the same sender within the window: no second automatic answer
    // (two auto-responders cannot ping-pong).
    let b = e
        .ingest(&mail(
            "MAX@example.com",
            "Two",
            Some("r2@example.com"),
            "",
            "Second",
        ))
        .await;
    assert_ne!(b.case_id, a.case_id);
    assert_eq!(acks(&e.messages(b.case_id.unwrap()).await), 0);
    // Once the window has passed, a new case is acknowledged again.
    e.app.clock.advance_ms(61 * 60 * 1000);
    let c = e
        .ingest(&mail(
            "max@example.com",
            "Three",
            Some("r3@example.com"),
            "",
            "Third",
        ))
        .await;
    assert_eq!(acks(&e.messages(c.case_id.unwrap()).await), 1);
    // Automatic and bulk mail never get one (and open no case).
    for (i, extra) in [
        "Auto-Submitted: auto-replied\r\n",
        "Precedence: bulk\r\n",
        "List-Id: <news.example.com>\r\n",
    ]
    .iter()
    .enumerate()
    {
        let o = e
            .ingest(&mail(
                &format!("robot{i}@example.com"),
                "Out of office",
                Some(&format!("auto{i}@example.com")),
                extra,
                "I am away",
            ))
            .await;
        assert!(!o.may_auto_reply);
        if let Some(c) = o.case_id {
            assert_eq!(acks(&e.messages(c).await), 0);
        }
    }
    // Our own mail coming back is never answered either.
    let own = e
        .ingest(&mail(
            "Shop Support <support@shop.example>",
            "Loop?",
            Some("own1@shop.example"),
            "",
            "Mirror",
        ))
        .await;
    assert!(!own.may_auto_reply);
    let total_acks: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND author_kind = 'system' \
         AND visibility = 'public'",
    )
    .bind(e.t.0)
    .fetch_one(e.app.store.pool())
    .await
    .unwrap();
    assert_eq!(total_acks, 2);
}

#[tokio::test]
async fn acknowledgement_settings_are_checked() {
    let e = env().await;
    let bad = concierge_app::mail::AckSettings {
        enabled: true,
        body: "Hi {{customer.shoe_size}}".into(),
        window_minutes: 60,
    };
    let err = e.app.set_mail_ack_settings(e.t, &bad).await.unwrap_err();
    assert!(err.to_string().contains("customer.shoe_size"), "{err}");
    let bad = concierge_app::mail::AckSettings {
        window_minutes: 0,
        ..concierge_app::mail::AckSettings::default()
    };
    assert!(e.app.set_mail_ack_settings(e.t, &bad).await.is_err());
    assert!(!e.app.mail_ack_settings(e.t).await.unwrap().enabled);
}

// ---- real SMTP delivery -------------------------------------------------------------------

/// A real SMTP server (Python's aiosmtpd from the test venv that `scripts/test` creates) that
/// writes every message it accepts into a folder and refuses recipients named `reject*`
/// with a permanent 550. Stopped when dropped.
struct SmtpSink {
    child: std::process::Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SINK_PY: &str = r#"
import os, ssl, sys
from aiosmtpd.controller import Controller

out = sys.argv[2]
tls = {}
if len(sys.argv) > 4:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    tls = {"tls_context": ctx, "require_starttls": True}

class Sink:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("reject"):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(out) if f.endswith(".eml")])
        path = os.path.join(out, "%04d.eml" % n)
        with open(path + ".tmp", "wb") as f:
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            if session.ssl is not None:
                f.write(b"X-Sink-TLS: yes\r\n")
            f.write(envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 Message accepted"

c = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]), **tls)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn test_venv_python() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv/bin/python");
    p.exists().then_some(p)
}

fn start_smtp_sink(dir: &Path) -> Option<SmtpSink> {
    start_smtp_sink_with(dir, None)
}

/// With `tls`, the sink offers STARTTLS with that CA's server certificate and takes no mail
/// before it.
fn start_smtp_sink_with(dir: &Path, tls: Option<&TestCa>) -> Option<SmtpSink> {
    use std::io::BufRead;
    let Some(python) = test_venv_python() else {
        eprintln!(
            "SKIPPED: the test venv target/test-venv (with aiosmtpd) is missing; \
             scripts/test creates it"
        );
        return None;
    };
    std::fs::create_dir_all(dir).unwrap();
    let script = dir.join("sink.py");
    std::fs::write(&script, SINK_PY).unwrap();
    let out = dir.join("received");
    std::fs::create_dir_all(&out).unwrap();
    let port = free_port();
    let mut child = std::process::Command::new(python)
        .arg(&script)
        .arg(port.to_string())
        .arg(&out)
        .args(
            tls.map(|ca| vec![ca.cert_pem(), ca.key_pem()])
                .unwrap_or_default(),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        // Its log (e.g. the handshake a client refused) goes to a file beside the mail.
        .stderr(std::fs::File::create(dir.join("sink.log")).unwrap())
        .spawn()
        .expect("start the SMTP sink");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
    Some(SmtpSink {
        child,
        port,
        dir: out,
    })
}

fn use_smtp(e: &mut Env, port: u16) {
    let mut cfg = (*e.app.config).clone();
    cfg.mail.smtp_host = "127.0.0.1".into();
    cfg.mail.smtp_port = port;
    cfg.mail.smtp_tls = "none".into();
    e.app.config = std::sync::Arc::new(cfg);
}

#[tokio::test]
async fn replies_reach_a_real_smtp_server_threaded_and_failures_defer_or_fail() {
    let mut e = env().await;
    let Some(sink) = start_smtp_sink(e.dir.path()) else {
        return;
    };
    use_smtp(&mut e, sink.port);
    let agent = e.staff("ann@shop.example", Role::Agent).await;
    let first = e
        .ingest(&mail(
            "Jane <jane@example.com>",
            "Lost parcel",
            Some("s1@example.com"),
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
                body: "Ihr Paket ist unterwegs — 您的包裹已发出.".into(),
                ..ReplyInput::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(e.app.deliver_outbound_mail().await.unwrap(), 1);
    let reply = e
        .messages(case_id.0)
        .await
        .into_iter()
        .find(|m| m.author_kind == "staff")
        .unwrap();
    assert_eq!(
        reply.delivery_state.as_deref(),
        Some("sent"),
        "{:?}",
        reply.delivery_error
    );
    let received: Vec<PathBuf> = std::fs::read_dir(&sink.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    assert_eq!(received.len(), 1, "the SMTP server received one message");
    let raw = std::fs::read(&received[0]).unwrap();
    let eml = String::from_utf8_lossy(&raw).to_string();
    assert!(
        eml.starts_with("X-Envelope-To: jane@example.com\r\n"),
        "{eml}"
    );
    let our_id = e
        .app
        .store
        .message_mail_id(e.t, reply.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(header(&eml, "Message-ID").unwrap(), format!("<{our_id}>"));
    assert_eq!(header(&eml, "In-Reply-To").unwrap(), "<s1@example.com>");
    assert_eq!(header(&eml, "References").unwrap(), "<s1@example.com>");
    assert!(
        header(&eml, "Reply-To")
            .unwrap()
            .contains(&format!("support+c{number}-"))
    );
    // The body arrives intact in its charset.
    let parsed = concierge_mail::parse(&raw, &concierge_mail::ParseLimits::default()).unwrap();
    assert_eq!(
        parsed.subject.as_deref(),
        Some(format!("[#{number}] Re: Lost parcel").as_str())
    );
    assert!(
        parsed
            .text_body
            .unwrap_or_default()
            .contains("Ihr Paket ist unterwegs — 您的包裹已发出.")
    );
    // The customer's answer to what the server received lands on the same case.
    let answer = mail(
        "jane@example.com",
        "Re: Lost parcel",
        Some("s2@example.com"),
        &format!("In-Reply-To: <{our_id}>\r\n"),
        "Thanks!",
    );
    assert_eq!(e.ingest(&answer).await.case_id, Some(case_id.0));

    // A recipient the server refuses for good (550): failed, with the server's reason.
    let rejected = e
        .ingest(&mail(
            "reject-me@example.com",
            "Bad address",
            Some("s3@example.com"),
            "",
            "Hi",
        ))
        .await;
    let rejected_case = CaseId(rejected.case_id.unwrap());
    e.app
        .reply(
            e.t,
            &agent,
            rejected_case,
            &ReplyInput {
                body: "Hello".into(),
                ..ReplyInput::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(e.app.deliver_outbound_mail().await.unwrap(), 1);
    let m = e
        .messages(rejected_case.0)
        .await
        .into_iter()
        .find(|m| m.author_kind == "staff")
        .unwrap();
    assert_eq!(m.delivery_state.as_deref(), Some("failed"));
    let why = m.delivery_error.unwrap_or_default();
    assert!(why.contains("550") || why.contains("User unknown"), "{why}");

    // The server is gone (connection refused): deferred with backoff, then delivered once
    // it is back.
    drop(sink);
    e.app
        .reply(
            e.t,
            &agent,
            case_id,
            &ReplyInput {
                body: "One more thing.".into(),
                ..ReplyInput::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(e.app.deliver_outbound_mail().await.unwrap(), 1);
    let later = e
        .messages(case_id.0)
        .await
        .into_iter()
        .rfind(|m| m.author_kind == "staff")
        .unwrap();
    assert_eq!(later.delivery_state.as_deref(), Some("deferred"));
    assert!(later.delivery_error.is_some());
    assert_eq!(
        e.app.deliver_outbound_mail().await.unwrap(),
        0,
        "not due again before the backoff"
    );
    let Some(back) = start_smtp_sink(&e.dir.path().join("again")) else {
        return;
    };
    use_smtp(&mut e, back.port);
    e.app.clock.advance_ms(10 * 60 * 1000);
    assert_eq!(e.app.deliver_outbound_mail().await.unwrap(), 1);
    let sent = e
        .messages(case_id.0)
        .await
        .into_iter()
        .rfind(|m| m.author_kind == "staff")
        .unwrap();
    assert_eq!(sent.delivery_state.as_deref(), Some("sent"));
    assert_eq!(std::fs::read_dir(&back.dir).unwrap().count(), 1);
}

fn received(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).to_string())
        .collect()
}

#[tokio::test]
async fn replies_go_over_starttls_once_the_relays_private_ca_is_trusted() {
    let mut e = env().await;
    let ca = TestCa::generate().unwrap();
    let Some(sink) = start_smtp_sink_with(e.dir.path(), Some(&ca)) else {
        return;
    };
    let mut cfg = (*e.app.config).clone();
    cfg.mail.smtp_host = "127.0.0.1".into();
    cfg.mail.smtp_port = sink.port;
    cfg.mail.smtp_tls = "starttls".into();
    e.app.config = std::sync::Arc::new(cfg.clone());
    let agent = e.staff("ann@shop.example", Role::Agent).await;
    let first = e
        .ingest(&mail(
            "Jane <jane@example.com>",
            "Over TLS",
            Some("tls1@example.com"),
            "",
            "Hello?",
        ))
        .await;
    let case_id = CaseId(first.case_id.unwrap());
    e.app
        .reply(
            e.t,
            &agent,
            case_id,
            &ReplyInput {
                body: "Encrypted on the way.".into(),
                ..ReplyInput::default()
            },
        )
        .await
        .unwrap();

    // The relay's certificate comes from a CA nobody configured: deferred, and the reason
    // says what is wrong and what to do.
    assert_eq!(e.app.deliver_outbound_mail().await.unwrap(), 1);
    let reply = e
        .messages(case_id.0)
        .await
        .into_iter()
        .find(|m| m.author_kind == "staff")
        .unwrap();
    assert_eq!(reply.delivery_state.as_deref(), Some("deferred"));
    let why = reply.delivery_error.unwrap_or_default();
    assert!(why.contains("certificate is not trusted"), "{why}");
    assert!(why.contains("tls_ca_file"), "{why}");
    assert!(received(&sink.dir).is_empty(), "nothing was handed over");

    // A CA file that cannot be read: deferred too (the operator may be replacing it), and
    // the reason names the setting.
    cfg.mail.tls_ca_file = e.dir.path().join("missing.pem").display().to_string();
    e.app.config = std::sync::Arc::new(cfg.clone());
    e.app.clock.advance_ms(10 * 60 * 1000);
    assert_eq!(e.app.deliver_outbound_mail().await.unwrap(), 1);
    let reply = e
        .messages(case_id.0)
        .await
        .into_iter()
        .find(|m| m.author_kind == "staff")
        .unwrap();
    assert_eq!(reply.delivery_state.as_deref(), Some("deferred"));
    let why = reply.delivery_error.unwrap_or_default();
    assert!(
        why.contains("tls_ca_file") && why.contains("missing.pem"),
        "{why}"
    );

    // Trusting the CA: the retry is delivered, over STARTTLS.
    cfg.mail.tls_ca_file = ca.ca_pem().display().to_string();
    e.app.config = std::sync::Arc::new(cfg);
    e.app.clock.advance_ms(60 * 60 * 1000);
    assert_eq!(e.app.deliver_outbound_mail().await.unwrap(), 1);
    let reply = e
        .messages(case_id.0)
        .await
        .into_iter()
        .find(|m| m.author_kind == "staff")
        .unwrap();
    assert_eq!(
        reply.delivery_state.as_deref(),
        Some("sent"),
        "{:?}",
        reply.delivery_error
    );
    let got = received(&sink.dir);
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("X-Sink-TLS: yes\r\n"), "{}", got[0]);
    assert!(got[0].contains("Encrypted on the way."), "{}", got[0]);
}

/// The generated mail the ingest benchmark uses, at test size: new cases and replies in four
/// languages and legacy charsets, some with attachments or automatic. Every new-case mail opens
/// its own case, every reply lands on its case, the text reads as the customer wrote it
/// whatever the charset, and automatic mail is never acknowledged.
#[tokio::test]
async fn generated_mail_in_four_languages_threads_onto_its_cases() {
    use concierge_gen::{GenMailKind, GenSpec, Generator};
    use std::collections::HashMap;
    let e = env().await;
    let mut spec = GenSpec::small_demo().with_seed(11);
    spec.cases = 400;
    let mails = Generator::new(spec).unwrap().inbound_mails(300);
    let mut case_of: HashMap<u64, i64> = HashMap::new();
    let mut checked_charsets: HashMap<&str, usize> = HashMap::new();
    for m in &mails {
        let out = e.ingest(&m.raw).await;
        let case = out.case_id.expect("every generated mail lands on a case");
        match m.kind {
            GenMailKind::New => {
                assert_eq!(out.state, IngestState::Processed);
                assert!(
                    !case_of.values().any(|&c| c == case),
                    "a new mail opened its own case"
                );
                case_of.insert(m.case_index, case);
                let row = e.app.store.case(e.t, CaseId(case)).await.unwrap().unwrap();
                assert_eq!(row.subject, m.subject, "{} subject", m.charset);
            }
            GenMailKind::Reply | GenMailKind::AutoReply => {
                assert_eq!(Some(&case), case_of.get(&m.case_index), "{:?}", m.kind);
                assert!(!out.may_auto_reply || m.kind == GenMailKind::Reply);
            }
        }
        let message = out.message_id.expect("stored as a message");
        let stored = e.messages(case).await;
        let body = &stored.iter().find(|s| s.id == message).unwrap().body_text;
        let first_line = m.body.lines().next().unwrap().trim();
        assert!(
            body.contains(first_line),
            "{} body: {first_line:?} not in {body:?}",
            m.charset
        );
        *checked_charsets.entry(m.charset).or_default() += 1;
        if m.has_attachment {
            let row = stored.iter().find(|s| s.id == message).unwrap();
            assert_eq!(row.attachments.len(), 1, "the attachment is kept");
        }
    }
    for cs in ["GB2312", "ks_c_5601-1987", "ISO-2022-JP", "UTF-8"] {
        assert!(
            checked_charsets.get(cs).copied().unwrap_or(0) >= 5,
            "{cs} was in the mix: {checked_charsets:?}"
        );
    }
    assert_eq!(e.case_count().await, case_of.len() as i64);
    assert!(mails.iter().any(|m| m.kind == GenMailKind::AutoReply));
}
