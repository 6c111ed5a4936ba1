#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The search index follows writes (issue 4 §9): cases created through the app become
//! findable once the follower has read the change log — in Chinese, Korean and English —
//! notes are indexed as internal, changed facets are re-indexed, vanished rows leave the
//! index, and the follower never skips an entry that is not yet visible. Both engines.

use concierge_app::cases::{Actor, CasePatch, CustomerRef, NewCaseInput, ReplyInput};
use concierge_app::search::{GAP_GRACE_MS, follow_once, run_follower};
use concierge_app::{App, Config};
use concierge_domain::{CaseId, Role, TenantId};
use concierge_search::{
    DocKind, Filters, IndexOptions, SearchIndex, SearchRequest, SearchResults, Visibility,
};
use concierge_store::UserRow;
use concierge_store::testing::{TestDb, engine};
use std::sync::Arc;
use std::time::Duration;

struct Env {
    _db: TestDb,
    app: App,
    t: TenantId,
    agent: UserRow,
    customer: i64,
}

async fn env() -> Env {
    let db = TestDb::new().await.unwrap();
    let mut cfg = Config::default();
    cfg.storage.database_url = db.url.clone();
    let app = App::new(db.store().await.unwrap(), cfg);
    let t = app
        .store
        .ensure_tenant("acme", "Acme", app.now())
        .await
        .unwrap()
        .id;
    let agent = app
        .store
        .create_user(t, "ana@acme.test", "Ana", Role::Agent, "x", "en", app.now())
        .await
        .unwrap();
    let customer = app
        .store
        .create_customer(t, "Lee Minho", Some("minho@example.kr"), None, app.now())
        .await
        .unwrap()
        .id
        .0;
    Env {
        _db: db,
        app,
        t,
        agent,
        customer,
    }
}

fn ram_index() -> SearchIndex {
    SearchIndex::create_in_ram(IndexOptions::default()).unwrap()
}

impl Env {
    async fn open(&self, subject: &str, body: &str) -> CaseId {
        let d = self
            .app
            .create_case(
                self.t,
                Actor::System,
                &NewCaseInput::new(CustomerRef::Id(self.customer), subject, body, "email"),
            )
            .await
            .unwrap();
        CaseId(d.case.id)
    }
}

fn staff_search(index: &SearchIndex, t: TenantId, text: &str) -> SearchResults {
    index
        .search(
            concierge_search::TenantId(t.0),
            &SearchRequest::new(text).staff(),
        )
        .unwrap()
}

fn case_ids(r: &SearchResults) -> Vec<i64> {
    let mut ids: Vec<i64> = r.hits.iter().filter_map(|h| h.case_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[tokio::test]
async fn cases_in_chinese_korean_and_english_are_found_after_the_follower_ran() {
    let e = env().await;
    let zh = e.open("订单问题", "我的订单损坏了，请尽快处理。").await;
    let ko = e
        .open("배송 문의", "배송이 너무 늦어요. 언제 도착하나요?")
        .await;
    let en = e
        .open("Damaged lamp", "The lamp arrived with a cracked shade.")
        .await;
    let index = ram_index();
    // Nothing is found before the follower has run.
    assert!(staff_search(&index, e.t, "订单").hits.is_empty());

    let applied = follow_once(&e.app, &index).await.unwrap();
    assert!(applied > 0);
    let head = e.app.store.change_log_head().await.unwrap();
    assert_eq!(index.applied_seq(), u64::try_from(head).unwrap());

    assert_eq!(case_ids(&staff_search(&index, e.t, "订单")), vec![zh.0]);
    assert_eq!(case_ids(&staff_search(&index, e.t, "배송")), vec![ko.0]);
    assert_eq!(case_ids(&staff_search(&index, e.t, "cracked")), vec![en.0]);
    // A body word, not only the subject: the message itself is a hit.
    let r = staff_search(&index, e.t, "损坏");
    assert!(
        r.hits
            .iter()
            .any(|h| h.kind == DocKind::Message && h.case_id == Some(zh.0)),
        "{:?}",
        r.hits
    );
    assert!(r.hits[0].snippet_html.contains("<mark>"), "{:?}", r.hits[0]);
    // Another tenant sees none of it.
    let other = concierge_search::TenantId(e.t.0 + 1);
    assert!(
        index
            .search(other, &SearchRequest::new("订单").staff())
            .unwrap()
            .hits
            .is_empty()
    );
    // The customer is indexed with the case, by name and email.
    let r = staff_search(&index, e.t, "minho@example.kr");
    assert!(
        r.hits
            .iter()
            .any(|h| h.kind == DocKind::Customer && h.id == e.customer),
        "{:?}",
        r.hits
    );

    // Nothing new: nothing applied, the sequence stays.
    assert_eq!(follow_once(&e.app, &index).await.unwrap(), 0);
    assert_eq!(index.applied_seq(), u64::try_from(head).unwrap());
}

#[tokio::test]
async fn notes_are_internal_and_changed_facets_are_reindexed() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let id = e.open("Refund request", "Please refund my order.").await;
    let index = ram_index();
    follow_once(app, &index).await.unwrap();
    app.reply(
        t,
        &e.agent,
        id,
        &ReplyInput {
            body: "内部备注：客户第三次要求赔偿，请主管审批。".into(),
            internal: true,
            ..ReplyInput::default()
        },
    )
    .await
    .unwrap();
    assert!(follow_once(app, &index).await.unwrap() > 0);

    // Staff find the note, marked internal; a customer-facing search does not.
    let r = staff_search(&index, t, "审批");
    assert_eq!(r.hits.len(), 1, "{:?}", r.hits);
    assert_eq!(r.hits[0].kind, DocKind::Note);
    assert_eq!(r.hits[0].visibility, Visibility::Internal);
    assert_eq!(r.hits[0].case_id, Some(id.0));
    let public = index
        .search(concierge_search::TenantId(t.0), &SearchRequest::new("审批"))
        .unwrap();
    assert!(public.hits.is_empty(), "{:?}", public.hits);

    // Solving and tagging the case re-indexes the case and its messages with the new facets.
    app.update_case(
        t,
        &e.agent,
        id,
        &CasePatch {
            status: Some("solved".into()),
            add_tags: vec!["refund".into()],
            ..CasePatch::default()
        },
    )
    .await
    .unwrap();
    follow_once(app, &index).await.unwrap();
    let solved = SearchRequest::new("refund").staff().with_filters(Filters {
        statuses: vec!["solved".into()],
        tags: vec!["refund".into()],
        ..Filters::default()
    });
    let r = index
        .search(concierge_search::TenantId(t.0), &solved)
        .unwrap();
    let kinds: Vec<DocKind> = r.hits.iter().map(|h| h.kind).collect();
    assert!(kinds.contains(&DocKind::Case), "{kinds:?}");
    assert!(kinds.contains(&DocKind::Message), "{kinds:?}");
    let open = SearchRequest::new("refund").staff().with_filters(Filters {
        statuses: vec!["new".into()],
        ..Filters::default()
    });
    assert!(
        index
            .search(concierge_search::TenantId(t.0), &open)
            .unwrap()
            .hits
            .is_empty(),
        "no stale document keeps the old status"
    );
}

#[tokio::test]
async fn a_message_that_no_longer_exists_leaves_the_index() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let id = e
        .open("Wrong address", "Please send it to 12 Jongno-gu.")
        .await;
    let index = ram_index();
    follow_once(app, &index).await.unwrap();
    assert_eq!(case_ids(&staff_search(&index, t, "Jongno")), vec![id.0]);
    let msg = app.store.case_messages(t, id, true).await.unwrap()[0].id;
    // Erased (say, a privacy request): the row goes and the change is logged.
    sqlx::query("DELETE FROM messages WHERE id = $1")
        .bind(msg)
        .execute(app.store.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO change_log (tenant_id, entity, entity_id, op, at) \
         VALUES ($1, 'message', $2, 'delete', $3)",
    )
    .bind(t.0)
    .bind(msg)
    .bind(app.now())
    .execute(app.store.pool())
    .await
    .unwrap();
    assert_eq!(follow_once(app, &index).await.unwrap(), 1);
    assert!(staff_search(&index, t, "Jongno").hits.is_empty());
    // The case itself is still there, by its subject.
    assert_eq!(case_ids(&staff_search(&index, t, "address")), vec![id.0]);
}

/// Appends a change-log entry with a chosen sequence number (what a transaction that took its
/// number earlier but committed later looks like once it commits).
async fn log_at(app: &App, t: TenantId, seq: i64, case: CaseId, at: i64) {
    sqlx::query(
        "INSERT INTO change_log (seq, tenant_id, entity, entity_id, op, at) \
         VALUES ($1, $2, 'case', $3, 'upsert', $4)",
    )
    .bind(seq)
    .bind(t.0)
    .bind(case.0)
    .bind(at)
    .execute(app.store.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn the_follower_waits_for_a_gap_to_fill() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let id = e.open("Gap", "first").await;
    let index = ram_index();
    follow_once(app, &index).await.unwrap();
    let head = app.store.change_log_head().await.unwrap();
    // Entry head+2 is visible, head+1 is not (yet).
    log_at(app, t, head + 2, id, app.now()).await;
    assert_eq!(follow_once(app, &index).await.unwrap(), 0);
    assert_eq!(index.applied_seq(), u64::try_from(head).unwrap());
    // Head+1 commits: both are applied.
    log_at(app, t, head + 1, id, app.now()).await;
    assert_eq!(follow_once(app, &index).await.unwrap(), 2);
    assert_eq!(index.applied_seq(), u64::try_from(head + 2).unwrap());
}

#[tokio::test]
async fn the_follower_passes_a_gap_that_never_fills() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let id = e.open("Gap", "first").await;
    let index = ram_index();
    follow_once(app, &index).await.unwrap();
    let head = app.store.change_log_head().await.unwrap();
    // Head+1 belonged to a transaction that rolled back.
    log_at(app, t, head + 2, id, app.now()).await;
    log_at(app, t, head + 3, id, app.now()).await;
    assert_eq!(follow_once(app, &index).await.unwrap(), 0);
    app.clock.advance_ms(GAP_GRACE_MS / 2);
    assert_eq!(follow_once(app, &index).await.unwrap(), 0);
    app.clock.advance_ms(GAP_GRACE_MS / 2 + 1000);
    assert_eq!(follow_once(app, &index).await.unwrap(), 2);
    assert_eq!(index.applied_seq(), u64::try_from(head + 3).unwrap());
}

/// PostgreSQL hands out sequence numbers at insert and shows rows at commit: a slow
/// transaction's entry appears after a later one's. The follower must not skip it.
#[tokio::test]
async fn a_slow_transaction_on_postgres_is_not_skipped() {
    if engine() != "postgres" {
        // SQLite has one writer at a time: entries become visible in order.
        return;
    }
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let slow = e.open("Slow one", "nothing yet").await;
    let index = ram_index();
    follow_once(app, &index).await.unwrap();
    let head = app.store.change_log_head().await.unwrap();

    // A transaction takes the next number and stays open.
    let mut tx = app.store.begin().await.unwrap();
    sqlx::query("UPDATE messages SET body_text = $1 WHERE case_id = $2")
        .bind("Der Kühlschrank ist kaputt")
        .bind(slow.0)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO change_log (tenant_id, entity, entity_id, op, at) \
         SELECT $1, 'message', id, 'upsert', $2 FROM messages WHERE case_id = $3",
    )
    .bind(t.0)
    .bind(app.now())
    .bind(slow.0)
    .execute(&mut *tx)
    .await
    .unwrap();
    // Meanwhile another case is written and committed with later numbers.
    let fast = e.open("Fast one", "Kühlschrank bestellt").await;
    assert!(app.store.change_log_head().await.unwrap() > head + 1);
    assert_eq!(
        follow_once(app, &index).await.unwrap(),
        0,
        "waits at the gap"
    );
    assert_eq!(index.applied_seq(), u64::try_from(head).unwrap());

    tx.commit().await.unwrap();
    assert!(follow_once(app, &index).await.unwrap() > 0);
    assert_eq!(
        index.applied_seq(),
        u64::try_from(app.store.change_log_head().await.unwrap()).unwrap()
    );
    assert_eq!(
        case_ids(&staff_search(&index, t, "kaputt")),
        vec![slow.0],
        "the slow transaction's message is indexed"
    );
    assert!(case_ids(&staff_search(&index, t, "bestellt")).contains(&fast.0));
}

#[tokio::test]
async fn the_applied_sequence_survives_a_restart() {
    let e = env().await;
    let dir = tempfile::tempdir().unwrap();
    e.open("Persisted", "지난주에 주문한 가방이 아직 안 왔어요")
        .await;
    {
        let index = SearchIndex::open_or_create(dir.path(), IndexOptions::default()).unwrap();
        assert!(follow_once(&e.app, &index).await.unwrap() > 0);
    }
    let index = SearchIndex::open_or_create(dir.path(), IndexOptions::default()).unwrap();
    let head = e.app.store.change_log_head().await.unwrap();
    assert_eq!(index.applied_seq(), u64::try_from(head).unwrap());
    assert_eq!(follow_once(&e.app, &index).await.unwrap(), 0);
    assert_eq!(staff_search(&index, e.t, "가방").hits.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_follower_picks_up_writes_and_stops_when_told() {
    let e = env().await;
    let index = Arc::new(ram_index());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let follower = tokio::spawn(run_follower(e.app.clone(), Arc::clone(&index), stop_rx));
    let id = e.open("Live", "La commande est arrivée abîmée").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if case_ids(&staff_search(&index, e.t, "abîmée")) == vec![id.0] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the follower did not index the case"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), follower)
        .await
        .expect("the follower stops")
        .unwrap();
}

#[tokio::test]
async fn a_renamed_customer_is_found_by_the_new_name_after_the_follower_ran() {
    let e = env().await;
    let index = ram_index();
    follow_once(&e.app, &index).await.unwrap();
    let customers = |r: &SearchResults| -> Vec<i64> {
        r.hits
            .iter()
            .filter(|h| h.kind == DocKind::Customer)
            .map(|h| h.id)
            .collect()
    };
    assert_eq!(
        customers(&staff_search(&index, e.t, "Minho")),
        vec![e.customer]
    );
    assert!(customers(&staff_search(&index, e.t, "이민호")).is_empty());
    e.app
        .update_customer(
            &e.agent,
            concierge_domain::CustomerId(e.customer),
            &concierge_app::customers::ProfilePatch {
                name: Some("이민호 Lee".into()),
                contacts: Some(vec![concierge_app::customers::ContactInput {
                    kind: "email".into(),
                    value: "minho.lee@example.kr".into(),
                    primary: true,
                    verified: false,
                }]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(follow_once(&e.app, &index).await.unwrap() > 0);
    assert_eq!(
        customers(&staff_search(&index, e.t, "이민호")),
        vec![e.customer]
    );
    assert_eq!(
        customers(&staff_search(&index, e.t, "minho.lee@example.kr")),
        vec![e.customer]
    );
}

#[tokio::test]
async fn a_rebuild_finds_what_the_follower_found_and_leaves_the_pool_usable() {
    let mut e = env().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = e.app.config.as_ref().clone();
    cfg.storage.data_dir = dir.path().to_path_buf();
    e.app = App::new(e.app.store.clone(), cfg);
    let zh = e.open("订单问题", "我的订单损坏了，请尽快处理。").await;
    let en = e
        .open("Damaged lamp", "The lamp arrived with a cracked shade.")
        .await;
    let followed = ram_index();
    while follow_once(&e.app, &followed).await.unwrap() > 0 {}
    let docs = concierge_app::search::reindex(&e.app, |_| {})
        .await
        .unwrap();
    assert_eq!(docs, followed.num_docs());
    let rebuilt = concierge_app::search::open_index(&e.app).unwrap();
    assert_eq!(rebuilt.num_docs(), followed.num_docs());
    for (text, case) in [("订单", zh), ("cracked", en), ("lamp", en)] {
        let a = staff_search(&followed, e.t, text);
        let b = staff_search(&rebuilt, e.t, text);
        assert_eq!(case_ids(&b), vec![case.0], "{text}");
        assert_eq!(case_ids(&a), case_ids(&b), "{text}");
        assert_eq!(a.total, b.total, "{text}");
    }
    assert_eq!(staff_search(&rebuilt, e.t, "Minho").total, 1);
    // The rebuild's own connection went away; the pool still serves reads and writes.
    e.open("Another", "After the rebuild").await;
}
