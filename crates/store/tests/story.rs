#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The store's story suite. It runs on SQLite by default and on PostgreSQL when
//! `CONCIERGE_TEST_DATABASE_URL=postgres://...` is set; CI runs both.

use concierge_domain::{CustomerId, Role, TenantId, TokenId, UserId};
use concierge_store::bulk::{Val, insert_rows};
use concierge_store::testing::TestDb;
use concierge_store::{JobOutcome, SessionRow, Store, StoreError};
use std::collections::HashSet;

const NOW: i64 = 1_750_000_000_000;

async fn fresh() -> (TestDb, Store) {
    let db = TestDb::new().await.expect("test database");
    let store = db.store().await.expect("open store");
    (db, store)
}

async fn user(store: &Store, tenant: TenantId, email: &str) -> concierge_store::UserRow {
    store
        .create_user(tenant, email, "U", Role::Agent, "hash", "en", NOW)
        .await
        .unwrap()
}

#[tokio::test]
async fn migrations_are_idempotent_and_tenants_unique() {
    let (_db, store) = fresh().await;
    store.migrate().await.unwrap();
    let a = store.ensure_tenant("acme", "Acme", NOW).await.unwrap();
    let again = store
        .ensure_tenant("acme", "Other name", NOW)
        .await
        .unwrap();
    assert_eq!(a.id, again.id);
    assert_eq!(again.name, "Acme");
    assert_eq!(store.list_tenants().await.unwrap().len(), 1);
}

#[tokio::test]
async fn users_are_unique_per_tenant_only() {
    let (_db, store) = fresh().await;
    let a = store.ensure_tenant("a1", "A", NOW).await.unwrap().id;
    let b = store.ensure_tenant("b1", "B", NOW).await.unwrap().id;
    user(&store, a, "x@example.com").await;
    let dup = store
        .create_user(a, "x@example.com", "U", Role::Agent, "h", "en", NOW)
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    // The same email in another tenant is a different person.
    user(&store, b, "x@example.com").await;
    let ua = store
        .user_by_email(a, "x@example.com")
        .await
        .unwrap()
        .unwrap();
    let ub = store
        .user_by_email(b, "x@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(ua.id, ub.id);
    // Tenant-scoped lookups never cross.
    assert!(store.user_by_id(b, ua.id).await.unwrap().is_none());
}

#[tokio::test]
async fn sessions_expire_and_end_on_password_change() {
    let (_db, store) = fresh().await;
    let t = store.ensure_tenant("t1", "T", NOW).await.unwrap().id;
    let u = user(&store, t, "a@example.com").await;
    for (id, exp) in [("s1", NOW + 1000), ("s2", NOW + 1000), ("old", NOW - 1)] {
        store
            .insert_session(&SessionRow {
                id_hash: id.into(),
                tenant_id: t,
                user_id: Some(u.id),
                customer_id: None,
                csrf_token: "c".into(),
                created_at: NOW,
                last_seen_at: NOW,
                expires_at: exp,
            })
            .await
            .unwrap();
    }
    assert!(store.session("s1", NOW).await.unwrap().is_some());
    assert!(
        store.session("old", NOW).await.unwrap().is_none(),
        "expired"
    );
    assert!(store.set_password(t, u.id, "new", NOW).await.unwrap());
    assert!(store.session("s1", NOW).await.unwrap().is_none());
    assert!(store.session("s2", NOW).await.unwrap().is_none());
    assert_eq!(
        store
            .user_by_id(t, u.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "new"
    );
}

#[tokio::test]
async fn api_tokens_resolve_until_revoked_and_only_in_their_tenant() {
    let (_db, store) = fresh().await;
    let a = store.ensure_tenant("a2", "A", NOW).await.unwrap().id;
    let b = store.ensure_tenant("b2", "B", NOW).await.unwrap().id;
    let u = user(&store, a, "a@example.com").await;
    let tok = store
        .insert_api_token(a, u.id, "n", "hash1", "cnc_abc", NOW)
        .await
        .unwrap();
    let (row, owner) = store
        .api_token_by_hash("hash1", NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.id, owner.id), (tok.id, u.id));
    // Another tenant cannot revoke it.
    assert!(!store.revoke_api_token(b, None, tok.id, NOW).await.unwrap());
    // Another user of the same tenant cannot revoke it when scoped.
    assert!(
        !store
            .revoke_api_token(a, Some(UserId(u.id.0 + 999)), tok.id, NOW)
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_api_token(a, Some(u.id), tok.id, NOW)
            .await
            .unwrap()
    );
    assert!(
        store
            .api_token_by_hash("hash1", NOW)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !store
            .revoke_api_token(a, None, TokenId(tok.id.0), NOW)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn sign_in_failures_are_counted_per_account_and_address() {
    let (_db, store) = fresh().await;
    let t = store.ensure_tenant("t3", "T", NOW).await.unwrap().id;
    for i in 0..3 {
        store
            .record_sign_in_attempt(t, "a@x.com", "10.0.0.1", false, NOW + i)
            .await
            .unwrap();
    }
    store
        .record_sign_in_attempt(t, "b@x.com", "10.0.0.1", false, NOW + 5)
        .await
        .unwrap();
    let (acct, addr) = store
        .recent_sign_in_failures(t, "a@x.com", "10.0.0.1", NOW - 1)
        .await
        .unwrap();
    assert_eq!((acct, addr), (3, 4));
    // A success resets the account's count (not the address's).
    store
        .record_sign_in_attempt(t, "a@x.com", "10.0.0.1", true, NOW + 10)
        .await
        .unwrap();
    let (acct, addr) = store
        .recent_sign_in_failures(t, "a@x.com", "10.0.0.1", NOW - 1)
        .await
        .unwrap();
    assert_eq!((acct, addr), (0, 4));
    // Outside the window nothing counts.
    let (acct, addr) = store
        .recent_sign_in_failures(t, "a@x.com", "10.0.0.1", NOW + 100)
        .await
        .unwrap();
    assert_eq!((acct, addr), (0, 0));
}

#[tokio::test]
async fn customer_links_work_once_and_expire() {
    let (_db, store) = fresh().await;
    let t = store.ensure_tenant("t4", "T", NOW).await.unwrap().id;
    let c = store
        .create_customer(t, "王伟", Some("wang@example.com"), None, NOW)
        .await
        .unwrap();
    store
        .insert_customer_login_token(t, c.id, "lt", NOW, NOW + 1000)
        .await
        .unwrap();
    store
        .insert_customer_login_token(t, c.id, "expired", NOW, NOW + 10)
        .await
        .unwrap();
    assert_eq!(
        store
            .consume_customer_login_token("lt", NOW + 1)
            .await
            .unwrap(),
        Some((t, c.id))
    );
    assert_eq!(
        store
            .consume_customer_login_token("lt", NOW + 2)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .consume_customer_login_token("expired", NOW + 11)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn customers_never_cross_tenants() {
    let (_db, store) = fresh().await;
    let a = store.ensure_tenant("a5", "A", NOW).await.unwrap().id;
    let b = store.ensure_tenant("b5", "B", NOW).await.unwrap().id;
    let c = store
        .create_customer(a, "김민준", Some("Kim@Example.com"), Some("C1"), NOW)
        .await
        .unwrap();
    assert!(store.customer(a, c.id).await.unwrap().is_some());
    assert!(store.customer(b, c.id).await.unwrap().is_none());
    assert!(
        store
            .customer_by_email(b, "kim@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .customer_by_email(a, "KIM@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        c.id
    );
    // External ids are unique per tenant.
    let dup = store.create_customer(a, "x", None, Some("C1"), NOW).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    store
        .create_customer(b, "x", None, Some("C1"), NOW)
        .await
        .unwrap();
    assert!(
        store
            .customer(a, CustomerId(c.id.0 + 1000))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn counters_are_shared_and_reservable() {
    let (_db, store) = fresh().await;
    let t = store.ensure_tenant("t6", "T", NOW).await.unwrap().id;
    assert_eq!(store.next_counter(t, "case").await.unwrap(), 1);
    assert_eq!(store.next_counter(t, "case").await.unwrap(), 2);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        Store::reserve_counter(&mut tx, t, "case", 10)
            .await
            .unwrap(),
        3
    );
    tx.commit().await.unwrap();
    assert_eq!(store.next_counter(t, "case").await.unwrap(), 13);
}

#[tokio::test]
async fn a_job_is_claimed_by_exactly_one_of_two_nodes() {
    let (db, store) = fresh().await;
    let other = db.store().await.unwrap(); // a second pool, as a second process would have
    let mut ids = HashSet::new();
    for i in 0..40 {
        let id = store
            .enqueue_job(None, "noop", "{}", NOW, None, NOW + i)
            .await
            .unwrap()
            .unwrap();
        ids.insert(id);
    }
    let run = |s: Store, node: &'static str| async move {
        let mut mine = Vec::new();
        while let Some(job) = s.claim_job(node, NOW + 1, 60_000).await.unwrap() {
            assert!(
                s.finish_job(job.id, node, &JobOutcome::Done, NOW + 2)
                    .await
                    .unwrap()
            );
            mine.push(job.id);
        }
        mine
    };
    let (a, b) = tokio::join!(run(store.clone(), "node-a"), run(other.clone(), "node-b"));
    let mut all: Vec<_> = a.iter().chain(b.iter()).copied().collect();
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "a job ran twice");
    assert_eq!(all.len(), ids.len(), "every job ran");
    for id in ids {
        assert_eq!(store.job_runs(id).await.unwrap().len(), 1);
        assert_eq!(store.job_status(id).await.unwrap().as_deref(), Some("done"));
    }
}

#[tokio::test]
async fn unique_jobs_leases_and_retries() {
    let (_db, store) = fresh().await;
    let first = store
        .enqueue_job(None, "k", "{}", NOW, Some("once"), NOW)
        .await
        .unwrap();
    let second = store
        .enqueue_job(None, "k", "{}", NOW, Some("once"), NOW)
        .await
        .unwrap();
    assert!(first.is_some());
    assert!(second.is_none(), "the same unique key enqueues once");
    let job = store.claim_job("a", NOW, 1000).await.unwrap().unwrap();
    assert!(
        store
            .claim_job("b", NOW + 500, 1000)
            .await
            .unwrap()
            .is_none(),
        "leased"
    );
    // The lease runs out: node b takes over; node a can no longer finish it.
    let again = store
        .claim_job("b", NOW + 1001, 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, job.id);
    assert!(
        !store
            .finish_job(job.id, "a", &JobOutcome::Done, NOW + 1002)
            .await
            .unwrap()
    );
    // A failure schedules a retry.
    assert!(
        store
            .finish_job(
                job.id,
                "b",
                &JobOutcome::Failed {
                    error: "boom".into(),
                    retry_at: NOW + 5000
                },
                NOW + 1003
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_job("b", NOW + 4000, 1000)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .claim_job("b", NOW + 5000, 1000)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_schedule_slot_is_won_by_one_node() {
    let (db, store) = fresh().await;
    let other = db.store().await.unwrap();
    store
        .ensure_schedule("nightly", 60_000, NOW, NOW)
        .await
        .unwrap();
    store
        .ensure_schedule("nightly", 60_000, NOW + 5, NOW)
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        store.claim_due_schedules("a", NOW + 10),
        other.claim_due_schedules("b", NOW + 10)
    );
    let total = a.unwrap().len() + b.unwrap().len();
    assert_eq!(total, 1);
    // Not due again until the next slot.
    assert!(
        store
            .claim_due_schedules("a", NOW + 20)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .claim_due_schedules("a", NOW + 60_000)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Inserts `n` customers of `tenant` (external ids `{prefix}0..`) in one multi-row write and
/// answers what the insert returned (`id, external_id` per row).
async fn insert_customers(
    store: &Store,
    t: TenantId,
    n: usize,
    prefix: &str,
) -> Vec<sqlx::any::AnyRow> {
    let rows: Vec<Vec<Val>> = (0..n)
        .map(|i| {
            vec![
                t.0.into(),
                format!("{prefix}{i}").into(),
                format!("名前 {i}").into(),
                format!("name {i}").into(),
                NOW.into(),
                NOW.into(),
            ]
        })
        .collect();
    let mut tx = store.begin().await.unwrap();
    let ret = insert_rows(
        &mut tx,
        "customers",
        &[
            "tenant_id",
            "external_id",
            "display_name",
            "sort_name",
            "created_at",
            "updated_at",
        ],
        &rows,
        Some("id, external_id"),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    ret
}

#[tokio::test]
async fn bulk_insert_in_chunks_returns_every_row() {
    let (_db, store) = fresh().await;
    let t = store.ensure_tenant("t7", "T", NOW).await.unwrap().id;
    let ret = insert_customers(&store, t, 7000, "E").await;
    assert_eq!(ret.len(), 7000);
    assert_eq!(store.count_customers(t).await.unwrap(), 7000);
}

/// After a bulk load the planner has statistics for the tables an import grows (PostgreSQL
/// plans a lookup of thousands of external ids by the right index only with them).
#[tokio::test]
async fn statistics_are_renewed_after_a_bulk_load() {
    let (_db, store) = fresh().await;
    let t = store.ensure_tenant("stats", "Stats", NOW).await.unwrap().id;
    insert_customers(&store, t, 2000, "S").await;
    store
        .refresh_statistics(concierge_store::imports::IMPORT_TABLES)
        .await
        .unwrap();
    let analysed: i64 = if store.backend() == concierge_store::Backend::Postgres {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stats WHERE tablename = 'customers' \
             AND attname = 'external_id'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap()
    } else {
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'customers'")
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    assert!(analysed > 0, "the customers table has statistics");
}

/// How the connections of the pool flush their commits: SQLite `PRAGMA synchronous` (2 =
/// FULL) or PostgreSQL `synchronous_commit`, one answer per connection, all held at once.
async fn flush_settings(store: &Store) -> Vec<String> {
    let mut held = Vec::new();
    let mut out = Vec::new();
    // Every connection the pool may hand out (SQLite's pool holds 8), with those the store
    // kept between statements.
    store.release_kept();
    for _ in 0..8 {
        let mut conn = store.pool().acquire().await.unwrap();
        let v: String = if store.backend() == concierge_store::Backend::Postgres {
            sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
                .fetch_one(&mut *conn)
                .await
                .unwrap()
        } else {
            let n: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            n.to_string()
        };
        out.push(v);
        held.push(conn);
    }
    out
}

/// A fresh database with a tenant for mail intake.
async fn fresh_intake() -> (TestDb, Store, TenantId) {
    let (db, store) = fresh().await;
    let t = store
        .ensure_tenant("intake", "Intake", NOW)
        .await
        .unwrap()
        .id;
    (db, store, t)
}

#[tokio::test]
async fn the_same_delivery_arriving_many_times_at_once_is_one_row_with_every_mailbox() {
    // An MTA retrying while the first delivery is still being taken in, and the same bytes
    // through several mailboxes, all at the same moment: one row, inserted once, and every
    // mailbox recorded on it.
    let (_db, store, t) = fresh_intake().await;
    let raw = b"Subject: once\r\nMessage-ID: <once@example.com>\r\n\r\nbody\r\n".to_vec();
    for round in 0..5 {
        let sha = format!("same-bytes-{round}");
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (store, raw, sha) = (store.clone(), raw.clone(), sha.clone());
                tokio::spawn(async move {
                    store
                        .receive_mail(t, &format!("box-{}", i % 4), &raw, &sha, NOW)
                        .await
                })
            })
            .collect();
        let mut ids = std::collections::BTreeSet::new();
        let mut inserted = 0;
        for task in tasks {
            let (row, new) = task.await.unwrap().unwrap();
            ids.insert(row.id);
            inserted += usize::from(new);
        }
        assert_eq!(ids.len(), 1, "round {round}: one row for the same bytes");
        assert_eq!(inserted, 1, "round {round}: inserted once");
        let id = *ids.iter().next().unwrap();
        let mut boxes = store.inbound_mailboxes(t, id).await.unwrap();
        boxes.sort();
        assert_eq!(boxes, ["box-0", "box-1", "box-2", "box-3"], "round {round}");
    }
}

#[tokio::test]
async fn a_received_mail_is_stored_and_leaves_every_connection_flushing_its_commits() {
    // The raw row's own commit is not flushed (the commit recording the mail's outcome is,
    // and carries it): no other write may ever run on a connection left that way.
    let (_db, store, t) = fresh_intake().await;
    let mails: Vec<Vec<u8>> = (0..24)
        .map(|i| format!("Subject: mail {i}\r\n\r\nbody {i}\r\n").into_bytes())
        .collect();
    let tasks: Vec<_> = mails
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let (store, raw) = (store.clone(), raw.clone());
            tokio::spawn(async move {
                store
                    .receive_mail(t, "support", &raw, &format!("sha-{i}"), NOW)
                    .await
            })
        })
        .collect();
    for task in tasks {
        let (row, inserted) = task.await.unwrap().unwrap();
        assert!(inserted);
        assert_eq!(row.state, "processing");
    }
    // A failed receipt (no such tenant) leaves no connection behind unflushed either.
    for i in 0..3 {
        let failed = store
            .receive_mail(TenantId(987_654), "support", b"x", &format!("bad-{i}"), NOW)
            .await;
        assert!(failed.is_err(), "{failed:?}");
    }
    // What was received is there for every other connection.
    for (i, raw) in mails.iter().enumerate() {
        let (row, inserted) = store
            .receive_mail(t, "support", raw, &format!("sha-{i}"), NOW)
            .await
            .unwrap();
        assert!(!inserted, "mail {i} was stored once");
        assert_eq!(
            store.inbound_mail_raw(t, row.id).await.unwrap().as_deref(),
            Some(raw.as_slice())
        );
    }
    let expected = if store.backend() == concierge_store::Backend::Postgres {
        "on"
    } else {
        "2"
    };
    let settings = flush_settings(&store).await;
    assert!(
        settings.iter().all(|s| s == expected),
        "every pooled connection flushes its commits: {settings:?}"
    );
}

#[tokio::test]
async fn a_delivery_taken_in_with_its_context_gets_its_own_row_and_what_a_separate_read_finds() {
    // The raw mail and what its processing needs come back from one exchange: many at once
    // share a commit on SQLite, so each must get its own row and its own sender, and the
    // context must be what reading it on its own finds once the mail is in.
    use concierge_store::mail::MailContextRequest;
    let (_db, store) = fresh().await;
    let (t, jane) = acme_and_jane(&store).await;
    store.set_setting(t, "mail.ack", "off", NOW).await.unwrap();
    let ben = store
        .create_customer(t, "Ben", Some("ben@example.com"), None, NOW)
        .await
        .unwrap();
    // Jane's case, whose message has the Message-ID the replies below answer.
    let first = concierge_store::cases::CaseWrite {
        messages: vec![concierge_store::cases::NewMessage {
            mail_message_id: Some("<parcel@example.com>".into()),
            ..message("where is it", &[])
        }],
        ..concierge_store::cases::CaseWrite::default()
    };
    let case = store
        .create_case(t, &new_case(jane.id, "Parcel"), &first, NOW)
        .await
        .unwrap()
        .case_id;
    const KEYS: [&str; 2] = ["mail.ack", "mail.unknown"];
    let answering = vec!["<parcel@example.com>".to_string()];
    let none: Vec<String> = Vec::new();
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let (store, answering, none) = (store.clone(), answering.clone(), none.clone());
            tokio::spawn(async move {
                let sender = ["jane@example.com", "ben@example.com", "nobody@example.com"][i % 3];
                let raw = format!("From: {sender}\r\nSubject: mail {i}\r\n\r\nbody {i}\r\n");
                let sha = format!("ctx-sha-{i}");
                let dedupe = format!("ctx-key-{i}");
                let request = MailContextRequest {
                    tenant: t,
                    keys: &KEYS,
                    mailbox: "support",
                    dedupe_key: &dedupe,
                    sender: Some(sender),
                    definition_kinds: &[],
                    thread_ids: if i % 2 == 0 { &answering } else { &none },
                };
                let got = store
                    .receive_mail_with_context(&request, raw.as_bytes(), &sha, NOW)
                    .await
                    .unwrap();
                let alone = store.mail_context(&request).await.unwrap();
                (i, sha, got, alone)
            })
        })
        .collect();
    for task in tasks {
        let (i, sha, (row, inserted, ctx), alone) = task.await.unwrap();
        assert!(inserted, "mail {i} is new");
        assert_eq!(row.raw_sha256, sha, "mail {i} got its own row");
        assert_eq!(row.state, "processing");
        assert_eq!(ctx, alone, "mail {i}: the same as a separate read");
        assert_eq!(
            ctx.settings,
            vec![("mail.ack".to_string(), "off".to_string())]
        );
        let expected_sender = [Some(jane.id), Some(ben.id), None][i % 3];
        assert_eq!(ctx.sender_customer, expected_sender, "mail {i}'s sender");
        match &ctx.thread_case {
            Some(Some(c)) => assert_eq!(c.0.id, case, "mail {i} answers Jane's case"),
            Some(None) => panic!("mail {i}: the case it answers was not found"),
            None => assert!(i % 2 == 1, "mail {i}: the case it answers was not read"),
        }
    }
    // The same bytes again: the row there, not a new one, with the context all the same.
    let request = MailContextRequest {
        tenant: t,
        keys: &KEYS,
        mailbox: "sales",
        dedupe_key: "ctx-key-0",
        sender: Some("jane@example.com"),
        definition_kinds: &[],
        thread_ids: &none,
    };
    let raw = "From: jane@example.com\r\nSubject: mail 0\r\n\r\nbody 0\r\n";
    let (row, inserted, ctx) = store
        .receive_mail_with_context(&request, raw.as_bytes(), "ctx-sha-0", NOW)
        .await
        .unwrap();
    assert!(!inserted);
    assert_eq!(row.raw_sha256, "ctx-sha-0");
    assert_eq!(ctx.sender_customer, Some(jane.id));
    let mut boxes = store.inbound_mailboxes(t, row.id).await.unwrap();
    boxes.sort();
    assert_eq!(boxes, ["sales", "support"]);
}

/// A message with the given body and attachment names.
fn message(body: &str, files: &[&str]) -> concierge_store::cases::NewMessage {
    concierge_store::cases::NewMessage {
        author_kind: "customer".into(),
        visibility: "public".into(),
        channel: "email".into(),
        body_text: body.into(),
        attachments: files
            .iter()
            .map(|f| concierge_store::cases::NewAttachment {
                filename: (*f).into(),
                content_type: "text/plain".into(),
                size: 1,
                sha256: format!("{f:0>64}"),
            })
            .collect(),
        ..Default::default()
    }
}

/// The workspace `acme` and its customer Jane.
async fn acme_and_jane(store: &Store) -> (TenantId, concierge_store::CustomerRow) {
    let t = store.ensure_tenant("acme", "Acme", NOW).await.unwrap().id;
    let customer = store
        .create_customer(t, "Jane", Some("jane@example.com"), None, NOW)
        .await
        .unwrap();
    (t, customer)
}

/// A new email case of `customer_id` about `subject`.
fn new_case(customer_id: CustomerId, subject: &str) -> concierge_store::cases::NewCase {
    concierge_store::cases::NewCase {
        subject: subject.into(),
        kind: "question".into(),
        channel: "email".into(),
        customer_id,
        household_id: None,
        order_id: None,
        priority: "normal".into(),
        status: "new".into(),
        owner_id: None,
        team_id: None,
        parent_case_id: None,
        custom_fields: "{}".into(),
    }
}

#[tokio::test]
async fn messages_written_together_each_keep_their_own_id_and_attachments() {
    use concierge_store::cases::CaseWrite;
    let (_db, store) = fresh().await;
    let (t, customer) = acme_and_jane(&store).await;
    let new = new_case(customer.id, "Parcel");
    let first = CaseWrite {
        messages: vec![message("first", &["a.txt"])],
        ..CaseWrite::default()
    };
    let opened = store.create_case(t, &new, &first, NOW).await.unwrap();
    let case = concierge_domain::CaseId(opened.case_id);
    let version = store.case(t, case).await.unwrap().unwrap().version;
    let both = CaseWrite {
        messages: vec![
            message("second", &["b.txt", "c.txt"]),
            message("third", &[]),
        ],
        ..CaseWrite::default()
    };
    let applied = store
        .write_case(t, case, version, &both, NOW + 1)
        .await
        .unwrap()
        .unwrap();
    let stored = store.case_messages(t, case, true).await.unwrap();
    let ids: Vec<i64> = stored.iter().map(|m| m.id).collect();
    assert_eq!(ids[..1], opened.message_ids[..]);
    assert_eq!(ids[1..], applied.message_ids[..]);
    let files = |m: &concierge_store::cases::MessageRow| {
        m.attachments
            .iter()
            .map(|a| a.filename.clone())
            .collect::<Vec<_>>()
    };
    let bodies: Vec<(&str, Vec<String>)> = stored
        .iter()
        .map(|m| (m.body_text.as_str(), files(m)))
        .collect();
    assert_eq!(
        bodies,
        vec![
            ("first", vec!["a.txt".to_string()]),
            ("second", vec!["b.txt".to_string(), "c.txt".to_string()]),
            ("third", vec![]),
        ]
    );
    // Every message is in the change log the search index follows.
    let logged: Vec<i64> = sqlx::query_scalar(
        "SELECT entity_id FROM change_log WHERE tenant_id = $1 AND entity = 'message' ORDER BY seq",
    )
    .bind(t.0)
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(logged, ids);
    // Ids are never given twice, even after the newest message is gone.
    sqlx::query("DELETE FROM attachments WHERE message_id = $1")
        .bind(ids[2])
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM messages WHERE id = $1")
        .bind(ids[2])
        .execute(store.pool())
        .await
        .unwrap();
    let version = store.case(t, case).await.unwrap().unwrap().version;
    let next = store
        .write_case(
            t,
            case,
            version,
            &CaseWrite {
                messages: vec![message("fourth", &[])],
                ..CaseWrite::default()
            },
            NOW + 2,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(next.message_ids[0] > ids[2], "{next:?} after {ids:?}");
}

#[tokio::test]
async fn writes_to_two_cases_land_together_or_not_at_all() {
    use concierge_store::cases::CaseWrite;
    let (_db, store) = fresh().await;
    let (t, customer) = acme_and_jane(&store).await;
    let open = |subject: &'static str| {
        let store = store.clone();
        async move {
            let w = CaseWrite {
                messages: vec![message(subject, &[])],
                ..CaseWrite::default()
            };
            let opened = store
                .create_case(t, &new_case(customer.id, subject), &w, NOW)
                .await
                .unwrap();
            concierge_domain::CaseId(opened.case_id)
        }
    };
    let (a, b) = (open("Parcel").await, open("Refund").await);
    let version = |id| {
        let store = store.clone();
        async move { store.case(t, id).await.unwrap().unwrap().version }
    };
    let bodies = |id| {
        let store = store.clone();
        async move {
            store
                .case_messages(t, id, true)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.body_text)
                .collect::<Vec<_>>()
        }
    };
    let note = |body: &str| CaseWrite {
        messages: vec![message(body, &[])],
        ..CaseWrite::default()
    };
    let (on_a, on_b) = (note("noted on a"), note("noted on b"));
    let (va, vb) = (version(a).await, version(b).await);

    // One stale version refuses both: the first case is not left half-changed.
    let stale = store
        .write_cases(t, &[(a, va, &on_a), (b, vb + 1, &on_b)], NOW + 1)
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!((version(a).await, version(b).await), (va, vb));
    assert_eq!(bodies(a).await, ["Parcel"]);
    assert_eq!(bodies(b).await, ["Refund"]);
    // A case that is not there: nothing is written either.
    let gone = concierge_domain::CaseId(b.0 + 1_000);
    let missing = store
        .write_cases(t, &[(a, va, &on_a), (gone, 0, &on_b)], NOW + 1)
        .await;
    assert!(matches!(missing, Ok(None)), "{missing:?}");
    assert_eq!(bodies(a).await, ["Parcel"]);

    // Given in either order, both land, each message on its own case with its own id.
    let applied = store
        .write_cases(t, &[(b, vb, &on_b), (a, va, &on_a)], NOW + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        applied.iter().map(|x| x.case_id).collect::<Vec<_>>(),
        [b.0, a.0]
    );
    assert_eq!(bodies(a).await, ["Parcel", "noted on a"]);
    assert_eq!(bodies(b).await, ["Refund", "noted on b"]);
    assert_ne!(applied[0].message_ids, applied[1].message_ids);
    assert_eq!((version(a).await, version(b).await), (va + 1, vb + 1));
}

#[tokio::test]
async fn a_case_write_is_refused_whole_on_a_stale_version_and_keeps_due_times_and_summaries_exact()
{
    use concierge_store::cases::{CaseWrite, NewEvent, NewTarget};
    let (_db, store) = fresh().await;
    let (t, customer) = acme_and_jane(&store).await;
    let other = store.ensure_tenant("other", "Other", NOW).await.unwrap().id;
    let stranger = store
        .create_customer(other, "Sam", Some("sam@example.com"), None, NOW)
        .await
        .unwrap();
    // Quotes, a line break, a control character and non-Latin text: the summary's subject
    // must be escaped exactly as the application writes JSON.
    let subject = "Paket \"kaputt\"\n\u{1} 破损 📦 \\ 배송";
    let new = |customer_id| new_case(customer_id, subject);
    let target = |kind: &str, due_at| NewTarget {
        kind: kind.into(),
        team_id: None,
        policy_id: None,
        started_at: NOW,
        business_ms: 0,
        due_at,
        next_check_at: None,
    };
    let first = CaseWrite {
        messages: vec![message("first", &[])],
        new_targets: vec![
            target("resolution", NOW + 100),
            target("first_response", NOW + 50),
        ],
        events: vec![NewEvent {
            kind: "created".into(),
            actor_kind: "customer".into(),
            actor_id: Some(customer.id.0),
            visibility: "customer".into(),
            detail: serde_json::json!({"number": "not the case's", "channel": "email"}),
        }],
        ..CaseWrite::default()
    };
    let opened = store
        .create_case(t, &new(customer.id), &first, NOW)
        .await
        .unwrap();
    let id = concierge_domain::CaseId(opened.case_id);
    let case = store.case(t, id).await.unwrap().unwrap();
    assert_eq!(case.next_due_at, Some(NOW + 50));

    // A case opened for another tenant's customer is refused, and nothing is written.
    let count = |table: &'static str| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {table}"
            )))
            .fetch_one(store.pool())
            .await
            .unwrap()
        }
    };
    let before = (
        count("cases").await,
        count("messages").await,
        count("timeline_events").await,
        count("change_log").await,
    );
    let refused = store.create_case(t, &new(stranger.id), &first, NOW).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );

    // A write on a version someone else moved past is refused whole; one on a case that is
    // not there finds none.
    let reply = CaseWrite {
        messages: vec![message("second", &[])],
        ..CaseWrite::default()
    };
    let stale = store
        .write_case(t, id, case.version + 1, &reply, NOW + 1)
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    let missing = store
        .write_case(
            t,
            concierge_domain::CaseId(opened.case_id + 1_000),
            0,
            &reply,
            NOW + 1,
        )
        .await;
    assert!(matches!(missing, Ok(None)), "{missing:?}");
    let after = (
        count("cases").await,
        count("messages").await,
        count("timeline_events").await,
        count("change_log").await,
    );
    assert_eq!(after, before);
    assert_eq!(
        store.case(t, id).await.unwrap().unwrap().version,
        case.version
    );

    // Meeting the earliest target and starting another: the case is next due at the earliest
    // target still running, whatever the write itself says.
    let mut targets = store.case_targets(t, id).await.unwrap();
    targets.retain(|x| x.kind == "first_response");
    targets[0].met_at = Some(NOW + 2);
    let w = CaseWrite {
        messages: vec![message("third", &[])],
        targets,
        new_targets: vec![target("next_response", NOW + 70)],
        change: concierge_store::cases::CaseChange {
            status: Some("open".into()),
            next_due_at: Some(Some(NOW + 5)),
            ..Default::default()
        },
        ..CaseWrite::default()
    };
    store
        .write_case(t, id, case.version, &w, NOW + 2)
        .await
        .unwrap()
        .unwrap();
    let case = store.case(t, id).await.unwrap().unwrap();
    assert_eq!(
        (case.status.as_str(), case.next_due_at),
        ("open", Some(NOW + 70))
    );

    // Every timeline summary names the case by its number and subject, written as
    // serde_json writes it.
    let summaries: Vec<String> =
        sqlx::query_scalar("SELECT summary FROM timeline_events WHERE tenant_id = $1 ORDER BY id")
            .bind(t.0)
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(summaries.len(), 3, "{summaries:?}");
    for s in &summaries {
        let v: serde_json::Value = serde_json::from_str(s).unwrap();
        assert_eq!(v["number"], serde_json::json!(case.number), "{s}");
        assert_eq!(v["subject"], serde_json::json!(subject), "{s}");
        assert_eq!(&v.to_string(), s);
    }
}

#[tokio::test]
async fn a_message_with_more_attachments_than_one_statement_binds_is_stored_whole() {
    use concierge_store::cases::CaseWrite;
    let (_db, store) = fresh().await;
    let (t, customer) = acme_and_jane(&store).await;
    let opened = store
        .create_case(
            t,
            &new_case(customer.id, "Scans"),
            &CaseWrite {
                messages: vec![message("first", &[])],
                ..CaseWrite::default()
            },
            NOW,
        )
        .await
        .unwrap();
    let case = concierge_domain::CaseId(opened.case_id);
    let version = store.case(t, case).await.unwrap().unwrap().version;
    // 8 values an attachment: more than one PostgreSQL statement may bind (65,535).
    let names: Vec<String> = (0..8_500).map(|i| format!("scan-{i:04}.pdf")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let w = CaseWrite {
        messages: vec![message("all the scans", &refs)],
        ..CaseWrite::default()
    };
    let applied = store
        .write_case(t, case, version, &w, NOW + 1)
        .await
        .unwrap()
        .unwrap();
    let stored = store.case_messages(t, case, true).await.unwrap();
    let last = stored.last().unwrap();
    assert_eq!(last.id, applied.message_ids[0]);
    assert_eq!(last.attachments.len(), 8_500);
    assert_eq!(last.attachments[8_499].filename, "scan-8499.pdf");
}
