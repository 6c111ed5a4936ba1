#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Story tests of identity and privacy (issue 3): inbound find-or-create by a differently
//! written email or phone, duplicates for review, merge with a full undo, export, erasure,
//! and tenant isolation of each. Each test gets a fresh database — SQLite by default,
//! PostgreSQL when `CONCIERGE_TEST_DATABASE_URL` is set.

use concierge_app::cases::{Actor, CustomerRef, NewCaseInput};
use concierge_app::customers::{ContactInput, ProfilePatch, Remember};
use concierge_app::identity::{ContactKeys, IdentityError};
use concierge_app::search::follow_once;
use concierge_app::{App, Config};
use concierge_domain::customer::PhoneRegion;
use concierge_domain::identity::DuplicateReason;
use concierge_domain::{CustomerId, Role, TenantId};
use concierge_search::{IndexOptions, SearchIndex, SearchRequest};
use concierge_store::UserRow;
use concierge_store::bulk::{Val, insert_rows};
use concierge_store::testing::TestDb;
use std::collections::BTreeMap;

const MIN: i64 = 60_000;

struct Env {
    _db: TestDb,
    app: App,
    t: TenantId,
    admin: UserRow,
    agent: UserRow,
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
    let now = app.now();
    let admin = app
        .store
        .create_user(t, "boss@acme.test", "Boss", Role::Admin, "x", "en", now)
        .await
        .unwrap();
    let agent = app
        .store
        .create_user(t, "agent@acme.test", "Agent", Role::Agent, "x", "en", now)
        .await
        .unwrap();
    Env {
        _db: db,
        app,
        t,
        admin,
        agent,
    }
}

impl Env {
    async fn customer(&self, name: &str, contacts: &[(&str, &str)]) -> CustomerId {
        let id = self
            .app
            .store
            .create_customer(self.t, name, None, None, self.app.now())
            .await
            .unwrap()
            .id;
        if !contacts.is_empty() {
            self.app
                .update_customer(
                    &self.agent,
                    id,
                    &ProfilePatch {
                        language: Some("ko".into()),
                        contacts: Some(
                            contacts
                                .iter()
                                .map(|(k, v)| ContactInput {
                                    kind: (*k).into(),
                                    value: (*v).into(),
                                    primary: false,
                                    verified: false,
                                })
                                .collect(),
                        ),
                        ..ProfilePatch::default()
                    },
                )
                .await
                .unwrap();
        }
        id
    }

    async fn remember(&self, id: CustomerId, key: &str, value: &str) {
        self.app
            .remember(
                &self.agent,
                id,
                &Remember {
                    key: key.into(),
                    value: value.into(),
                    standing: true,
                    source: None,
                    learned_from: Some("phone call".into()),
                },
            )
            .await
            .unwrap();
        self.app.clock.advance_ms(MIN);
    }

    async fn order(&self, id: CustomerId, external: &str, total: i64) {
        let now = self.app.now();
        let mut tx = self.app.store.begin().await.unwrap();
        let product = insert_rows(
            &mut tx,
            "products",
            &["tenant_id", "sku", "name"],
            &[vec![
                Val::Int(self.t.0),
                Val::Text(format!("SKU-{external}")),
                Val::Text("Rice 10kg".into()),
            ]],
            Some("id"),
        )
        .await
        .unwrap();
        let product: i64 = sqlx::Row::try_get(&product[0], "id").unwrap();
        let order = insert_rows(
            &mut tx,
            "orders",
            &[
                "tenant_id",
                "external_id",
                "customer_id",
                "ordered_at",
                "status",
                "currency",
                "total_minor",
            ],
            &[vec![
                Val::Int(self.t.0),
                Val::Text(external.into()),
                Val::Int(id.0),
                Val::Int(now),
                Val::Text("paid".into()),
                Val::Text("KRW".into()),
                Val::Int(total),
            ]],
            Some("id"),
        )
        .await
        .unwrap();
        let order: i64 = sqlx::Row::try_get(&order[0], "id").unwrap();
        insert_rows(
            &mut tx,
            "order_lines",
            &[
                "tenant_id",
                "order_id",
                "customer_id",
                "product_id",
                "quantity",
                "unit_price_minor",
                "amount_minor",
                "ordered_at",
            ],
            &[vec![
                Val::Int(self.t.0),
                Val::Int(order),
                Val::Int(id.0),
                Val::Int(product),
                Val::Float(1.0),
                Val::Int(total),
                Val::Int(total),
                Val::Int(now),
            ]],
            None,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    async fn household(&self, name: &str, address: &str, members: &[CustomerId]) -> i64 {
        let mut tx = self.app.store.begin().await.unwrap();
        let h = insert_rows(
            &mut tx,
            "households",
            &["tenant_id", "name", "address", "created_at"],
            &[vec![
                Val::Int(self.t.0),
                Val::Text(name.into()),
                Val::Text(address.into()),
                Val::Int(self.app.now()),
            ]],
            Some("id"),
        )
        .await
        .unwrap();
        let h: i64 = sqlx::Row::try_get(&h[0], "id").unwrap();
        for m in members {
            insert_rows(
                &mut tx,
                "household_members",
                &["tenant_id", "household_id", "customer_id", "role"],
                &[vec![
                    Val::Int(self.t.0),
                    Val::Int(h),
                    Val::Int(m.0),
                    Val::Text("member".into()),
                ]],
                None,
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        h
    }

    async fn case(&self, id: CustomerId, subject: &str, body: &str) -> i64 {
        self.app
            .create_case(
                self.t,
                Actor::Customer(id),
                &NewCaseInput {
                    subject: subject.into(),
                    body: body.into(),
                    channel: "web".into(),
                    kind: None,
                    priority: None,
                    customer: CustomerRef::Id(id.0),
                    team_id: None,
                    owner_id: None,
                    tags: vec![],
                    order_id: None,
                    parent_case_id: None,
                    attachments: vec![],
                },
            )
            .await
            .unwrap()
            .case
            .id
    }

    async fn count(&self, sql: &str, id: CustomerId) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(self.t.0)
            .bind(id.0)
            .fetch_one(self.app.store.pool())
            .await
            .unwrap()
    }

    /// How many rows of each kind a customer owns (merge/unmerge events themselves left out).
    async fn holdings(&self, id: CustomerId) -> BTreeMap<&'static str, i64> {
        let mut out = BTreeMap::new();
        for (name, sql) in [
            (
                "contacts",
                "SELECT COUNT(*) FROM customer_contacts WHERE tenant_id = $1 AND customer_id = $2",
            ),
            (
                "preferences",
                "SELECT COUNT(*) FROM customer_preferences WHERE tenant_id = $1 AND customer_id = $2",
            ),
            (
                "current_preferences",
                "SELECT COUNT(*) FROM customer_preferences WHERE tenant_id = $1 AND customer_id = $2 AND active = 1",
            ),
            (
                "notes",
                "SELECT COUNT(*) FROM customer_notes WHERE tenant_id = $1 AND customer_id = $2",
            ),
            (
                "flags",
                "SELECT COUNT(*) FROM customer_flags WHERE tenant_id = $1 AND customer_id = $2",
            ),
            (
                "set_flags",
                "SELECT COUNT(*) FROM customer_flags WHERE tenant_id = $1 AND customer_id = $2 AND cleared_at IS NULL",
            ),
            (
                "tags",
                "SELECT COUNT(*) FROM customer_tags WHERE tenant_id = $1 AND customer_id = $2",
            ),
            (
                "events",
                "SELECT COUNT(*) FROM timeline_events WHERE tenant_id = $1 AND customer_id = $2 AND kind NOT IN ('merged', 'unmerged')",
            ),
            (
                "orders",
                "SELECT COUNT(*) FROM orders WHERE tenant_id = $1 AND customer_id = $2",
            ),
            (
                "order_lines",
                "SELECT COUNT(*) FROM order_lines WHERE tenant_id = $1 AND customer_id = $2",
            ),
            (
                "cases",
                "SELECT COUNT(*) FROM cases WHERE tenant_id = $1 AND customer_id = $2",
            ),
            (
                "authored_messages",
                "SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND author_customer_id = $2",
            ),
            (
                "households",
                "SELECT COUNT(*) FROM household_members WHERE tenant_id = $1 AND customer_id = $2",
            ),
        ] {
            out.insert(name, self.count(sql, id).await);
        }
        out
    }
}

/// Two records of one guest with something of everything: contacts, preferences with history
/// and a conflict, notes, flags (one on both), tags (one on both), orders, cases, households.
async fn two_records(e: &Env) -> (CustomerId, CustomerId) {
    let a = e
        .customer(
            "Kim Minjun",
            &[("email", "minjun@example.kr"), ("phone", "010-1234-5678")],
        )
        .await;
    let b = e
        .customer(
            "Minjun Kim",
            &[
                ("email", "MINJUN@Example.KR"),
                ("phone", "+82 10 9999 0000"),
            ],
        )
        .await;
    e.remember(a, "drink", "water").await;
    e.remember(a, "drink", "tea").await;
    e.remember(a, "pillow", "firm").await;
    e.remember(b, "drink", "coffee").await; // confirmed after a's tea: wins the merge
    e.remember(b, "newspaper", "Chosun Ilbo").await;
    for (who, body) in [(a, "prefers the quiet wing"), (b, "allergic to feathers")] {
        e.app
            .add_customer_note(&e.agent, who, body, false)
            .await
            .unwrap();
    }
    e.app
        .set_customer_flag(&e.agent, a, "vip", true, Some("suite guest"))
        .await
        .unwrap();
    e.app
        .set_customer_flag(&e.agent, b, "vip", true, Some("loyalty gold"))
        .await
        .unwrap();
    e.app
        .set_customer_flag(&e.agent, b, "fraud_suspect", true, Some("chargeback"))
        .await
        .unwrap();
    for (who, tags) in [(a, vec!["gold"]), (b, vec!["gold", "hotel"])] {
        e.app
            .update_customer(
                &e.agent,
                who,
                &ProfilePatch {
                    tags: Some(tags.into_iter().map(String::from).collect()),
                    ..ProfilePatch::default()
                },
            )
            .await
            .unwrap();
    }
    e.order(a, "A-1", 10_000).await;
    e.order(b, "B-1", 25_000).await;
    e.order(b, "B-2", 5_000).await;
    e.case(a, "Late check-out", "Can I leave at 2pm?").await;
    e.case(b, "Invoice", "Please send the invoice again").await;
    e.household("Kim family", "12 Sejong-daero, Seoul", &[a, b])
        .await;
    e.household("Office", "1 Teheran-ro, Seoul", &[b]).await;
    (a, b)
}

#[tokio::test]
async fn merge_keeps_everything_and_undo_gives_each_row_back_to_its_owner() {
    let e = env().await;
    let (a, b) = two_records(&e).await;
    let before_a = e.holdings(a).await;
    let before_b = e.holdings(b).await;
    assert!(before_b.values().all(|n| *n > 0), "{before_b:?}");

    let m = e.app.merge_customers(&e.agent, b, a).await.unwrap();
    assert_eq!((m.source_id, m.target_id), (b.0, a.0));

    // Everything of B is now A's; nothing is lost (two shared rows — the tag and the
    // household membership A already had — are folded, and kept on the merge record).
    let after_a = e.holdings(a).await;
    let after_b = e.holdings(b).await;
    for (k, n) in &after_b {
        assert_eq!(*n, 0, "{k} left on the merged customer");
    }
    // The address both had (minjun@example.kr, written differently) is listed once.
    assert_eq!(
        after_a["contacts"],
        before_a["contacts"] + before_b["contacts"] - 1
    );
    for k in [
        "preferences",
        "notes",
        "flags",
        "events",
        "orders",
        "order_lines",
        "cases",
        "authored_messages",
    ] {
        assert_eq!(after_a[k], before_a[k] + before_b[k], "{k}");
    }
    assert_eq!(after_a["tags"], 2, "gold once, hotel");
    assert_eq!(after_a["households"], 2);
    // Conflicts: the most recently confirmed drink (B's coffee) is current, A's tea is kept
    // as history superseded by it; one vip flag stays set.
    let current = e.app.preferences(e.t, a, false).await.unwrap();
    let drink = current.iter().find(|p| p.key == "drink").unwrap();
    assert_eq!(drink.value, "coffee");
    let history = e.app.preferences(e.t, a, true).await.unwrap();
    let tea = history.iter().find(|p| p.value == "tea").unwrap();
    assert!(!tea.active);
    assert_eq!(tea.superseded_by, Some(drink.id));
    assert_eq!(
        current.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(),
        vec!["drink", "newspaper", "pillow"]
    );
    let flags = e.app.customer_flags(e.t, a, false).await.unwrap();
    assert_eq!(
        flags.iter().filter(|f| f.flag == "vip").count(),
        1,
        "{flags:?}"
    );
    assert!(flags.iter().any(|f| f.flag == "fraud_suspect"));
    // The merged customer is a tombstone pointing to A; it is no longer found; its email
    // finds A; both timelines say what happened.
    let p = e.app.customer_profile(e.t, b).await.unwrap();
    assert_eq!(p.merged_into, Some(a.0));
    let found = e.app.search_customers(e.t, "Minjun", 50).await.unwrap();
    assert_eq!(
        found.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![a],
        "only the remaining customer is listed"
    );
    let keys = ContactKeys::parse(Some("minjun@example.kr"), None, None).unwrap();
    assert_eq!(e.app.find_customer(e.t, &keys).await.unwrap(), Some(a));
    let keys = ContactKeys::parse(None, Some("010 9999 0000"), Some(PhoneRegion::Kr)).unwrap();
    assert_eq!(e.app.find_customer(e.t, &keys).await.unwrap(), Some(a));
    for who in [a, b] {
        let tl = e
            .app
            .customer_timeline(e.t, who, Some("merged"), None, None)
            .await
            .unwrap();
        assert_eq!(tl.items.len(), 1, "a merged event on {who:?}");
        assert_eq!(tl.items[0].ref_id, Some(m.id));
    }
    // Writes to the tombstone are refused with a clear message.
    let err = e
        .app
        .add_customer_note(&e.agent, b, "lost?", false)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("merged into customer #{}", a.0)),
        "{err}"
    );
    // Merging it again is a conflict.
    let again = e.app.merge_customers(&e.agent, b, a).await.unwrap_err();
    assert!(
        matches!(again, IdentityError::Conflict("already_merged", _)),
        "{again:?}"
    );

    // Undo: precisely those rows go back; each customer holds what it held before.
    e.app.clock.advance_ms(MIN);
    let undone = e.app.undo_merge(&e.agent, m.id).await.unwrap();
    assert!(undone.undone_at.is_some());
    assert_eq!(e.holdings(a).await, before_a);
    assert_eq!(e.holdings(b).await, before_b);
    let drink_a = e.app.preferences(e.t, a, false).await.unwrap();
    assert_eq!(
        drink_a.iter().find(|p| p.key == "drink").unwrap().value,
        "tea"
    );
    let drink_b = e.app.preferences(e.t, b, false).await.unwrap();
    assert_eq!(
        drink_b.iter().find(|p| p.key == "drink").unwrap().value,
        "coffee"
    );
    assert_eq!(
        e.app.customer_profile(e.t, b).await.unwrap().merged_into,
        None
    );
    let tl = e
        .app
        .customer_timeline(e.t, b, Some("unmerged"), None, None)
        .await
        .unwrap();
    assert_eq!(tl.items.len(), 1);
    let twice = e.app.undo_merge(&e.agent, m.id).await.unwrap_err();
    assert!(
        matches!(twice, IdentityError::Conflict("already_undone", _)),
        "{twice:?}"
    );
    let audit = e.app.store.recent_audit(e.t, 10).await.unwrap();
    assert!(audit.iter().any(|(a, _, _)| a == "customer.merged"));
    assert!(audit.iter().any(|(a, _, _)| a == "customer.unmerged"));
}

#[tokio::test]
async fn bad_merges_are_refused_and_change_nothing() {
    let e = env().await;
    let (a, b) = two_records(&e).await;
    let before = (e.holdings(a).await, e.holdings(b).await);

    let err = e.app.merge_customers(&e.agent, a, a).await.unwrap_err();
    assert!(matches!(err, IdentityError::SameCustomer));
    assert!(err.to_string().contains("itself"), "{err}");

    // Another tenant's customer is not found, either way round.
    let other = e
        .app
        .store
        .ensure_tenant("globex", "Globex", e.app.now())
        .await
        .unwrap()
        .id;
    let stranger = e
        .app
        .store
        .create_customer(
            other,
            "Kim Minjun",
            Some("minjun@example.kr"),
            None,
            e.app.now(),
        )
        .await
        .unwrap()
        .id;
    for (s, t) in [(a, stranger), (stranger, a)] {
        let err = e.app.merge_customers(&e.agent, s, t).await.unwrap_err();
        assert!(
            matches!(err, IdentityError::NotFound("customer")),
            "{err:?}"
        );
    }
    assert!(matches!(
        e.app.export_customer(&e.agent, stranger).await.unwrap_err(),
        IdentityError::NotFound(_)
    ));
    assert!(matches!(
        e.app.erase_customer(&e.admin, stranger).await.unwrap_err(),
        IdentityError::NotFound(_)
    ));
    // An agent may not erase; a merge id of another tenant is not found.
    assert!(matches!(
        e.app.erase_customer(&e.agent, a).await.unwrap_err(),
        IdentityError::Forbidden
    ));
    assert!(matches!(
        e.app.undo_merge(&e.agent, 999_999).await.unwrap_err(),
        IdentityError::NotFound("merge")
    ));
    assert_eq!((e.holdings(a).await, e.holdings(b).await), before);
    let profile = e.app.customer_profile(other, stranger).await.unwrap();
    assert_eq!(profile.merged_into, None);
    assert_eq!(profile.contacts.len(), 1);

    // An erased customer cannot be merged, in either direction.
    e.app.erase_customer(&e.admin, b).await.unwrap();
    for (s, t) in [(a, b), (b, a)] {
        let err = e.app.merge_customers(&e.agent, s, t).await.unwrap_err();
        assert!(
            matches!(err, IdentityError::Conflict("erased", _)),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn erase_removes_personal_data_keeps_statistics_and_is_idempotent() {
    let e = env().await;
    let (a, b) = two_records(&e).await;
    let index = SearchIndex::create_in_ram(IndexOptions::default()).unwrap();
    follow_once(&e.app, &index).await.unwrap();
    let hits_about_b = |text: &str| {
        index
            .search(
                concierge_search::TenantId(e.t.0),
                &SearchRequest::new(text).staff(),
            )
            .unwrap()
            .hits
            .into_iter()
            .filter(|h| h.customer_id == Some(b.0))
            .count()
    };
    assert!(hits_about_b("invoice") > 0, "indexed before the erasure");
    assert!(hits_about_b("Minjun") > 0);
    let before = e.app.export_customer(&e.agent, b).await.unwrap();
    let text = before.to_string();
    for secret in [
        "Minjun Kim",
        "minjun@example.kr",
        "+821099990000",
        "coffee",
        "allergic to feathers",
        "Please send the invoice again",
        "chargeback",
        "12 Sejong-daero",
    ] {
        assert!(text.contains(secret), "the export has {secret}: {text}");
    }
    assert_eq!(before["orders"].as_array().unwrap().len(), 2);
    assert_eq!(before["orders"][0]["lines"].as_array().unwrap().len(), 1);
    assert_eq!(before["cases"][0]["messages"].as_array().unwrap().len(), 1);

    let r = e.app.erase_customer(&e.admin, b).await.unwrap();
    assert!(r.erased_now);
    assert_eq!((r.cases, r.messages), (1, 1));
    let after = e.app.export_customer(&e.admin, b).await.unwrap();
    let text = after.to_string();
    for secret in [
        "Minjun Kim",
        "minjun@example.kr",
        "MINJUN",
        "+82 10 9999",
        "+821099990000",
        "coffee",
        "Chosun",
        "allergic",
        "invoice again",
        "chargeback",
        "loyalty gold",
        "Sejong",
        "Office",
        "phone call",
    ] {
        assert!(
            !text.contains(secret),
            "{secret} survived the erasure: {text}"
        );
    }
    assert_eq!(
        after["customer"]["display_name"],
        format!("Erased customer #{}", b.0)
    );
    assert!(after["customer"]["erased_at"].is_i64());
    // Statistics stay: the orders with their totals and dates, the case and its message.
    let totals = |v: &serde_json::Value| {
        v["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["total_minor"].as_i64(), o["ordered_at"].as_i64()))
            .collect::<Vec<_>>()
    };
    assert_eq!(totals(&after), totals(&before));
    assert_eq!(after["cases"].as_array().unwrap().len(), 1);
    assert_eq!(
        after["cases"][0]["created_at"],
        before["cases"][0]["created_at"]
    );
    assert_eq!(after["notes"].as_array().unwrap().len(), 1);
    // The other customer of the shared household keeps it; A is untouched.
    let pa = e.app.customer_profile(e.t, a).await.unwrap();
    assert_eq!(pa.display_name, "Kim Minjun");
    assert_eq!(
        pa.households[0].address.as_deref(),
        Some("12 Sejong-daero, Seoul")
    );
    // Search no longer finds them by anything they were.
    for q in ["Minjun Kim", "minjun@example.kr", "+82 10 9999 0000"] {
        let found = e.app.search_customers(e.t, q, 50).await.unwrap();
        assert!(
            found.iter().all(|c| c.id != b),
            "{q} still finds the erased customer"
        );
    }
    // The act is audited without the data; a second erase changes nothing.
    let audit = e.app.store.recent_audit(e.t, 5).await.unwrap();
    assert!(audit.contains(&("customer.erased".into(), "customer".into(), Some(b.0))));
    let again = e.app.erase_customer(&e.admin, b).await.unwrap();
    assert!(!again.erased_now);
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE tenant_id = $1 AND action = 'customer.erased'",
    )
    .bind(e.t.0)
    .fetch_one(e.app.store.pool())
    .await
    .unwrap();
    assert_eq!(n, 1);
    let detail: String = sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE tenant_id = $1 AND action = 'customer.erased'",
    )
    .bind(e.t.0)
    .fetch_one(e.app.store.pool())
    .await
    .unwrap();
    assert_eq!(detail, "{}");
    // The search index follows the change log and forgets them.
    follow_once(&e.app, &index).await.unwrap();
    for q in ["invoice", "Minjun", "MINJUN@Example.KR"] {
        assert_eq!(
            hits_about_b(q),
            0,
            "the index still finds the erased customer by {q}"
        );
    }
}

#[tokio::test]
async fn duplicates_are_listed_with_reasons_and_dismissals_are_remembered() {
    let e = env().await;
    let ann = e
        .customer("Ann Lee", &[("email", "Ann.Lee@Example.com")])
        .await;
    let ann2 = e
        .customer("A. Lee", &[("email", "ann.lee@example.COM")])
        .await;
    let park = e
        .customer("Park Jisoo", &[("phone", "010-5555-1234")])
        .await;
    let park2 = e
        .customer("Jisoo P.", &[("phone", "+82 (10) 5555 1234")])
        .await;
    let kat = e
        .customer(
            "Katherine Smith",
            &[("address", "5 Elm Street, Springfield")],
        )
        .await;
    let kat2 = e
        .customer(
            "Katharine Smith",
            &[("address", "5 elm street,  Springfield")],
        )
        .await;
    // Same address, different people; different address, same name: neither is listed.
    let bob = e
        .customer("Robert Smith", &[("address", "5 Elm Street, Springfield")])
        .await;
    let _far = e
        .customer("Ann Lee", &[("address", "99 Other Road, Shelbyville")])
        .await;
    let _plus = e
        .customer("Ann Lee", &[("email", "ann.lee+shop@example.com")])
        .await;
    // Household address counts too.
    let wang = e.customer("王伟", &[]).await;
    let wang2 = e.customer("王伟", &[]).await;
    let fang = e.customer("王芳", &[]).await;
    e.household("王家", "北京市朝阳区1号", &[wang]).await;
    e.household("王家", "北京市朝阳区1号", &[wang2, fang]).await;

    let page = e.app.duplicates(e.t, None, None).await.unwrap();
    let got: Vec<(i64, i64, Vec<DuplicateReason>)> = page
        .pairs
        .iter()
        .map(|p| (p.a.id, p.b.id, p.reasons.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (ann.0, ann2.0, vec![DuplicateReason::SharedEmail]),
            (park.0, park2.0, vec![DuplicateReason::SharedPhone]),
            (kat.0, kat2.0, vec![DuplicateReason::CloseNameSameAddress]),
            (wang.0, wang2.0, vec![DuplicateReason::CloseNameSameAddress]),
        ],
        "bob ({}) and fang ({}) are other people",
        bob.0,
        fang.0
    );
    assert_eq!(page.next_cursor, None);

    // Paging one pair at a time gives the same pairs.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let p = e
            .app
            .duplicates(e.t, cursor.as_deref(), Some(1))
            .await
            .unwrap();
        paged.extend(p.pairs.iter().map(|p| (p.a.id, p.b.id)));
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        paged,
        got.iter().map(|(a, b, _)| (*a, *b)).collect::<Vec<_>>()
    );

    // "Not a duplicate" is remembered; a merged customer leaves the list.
    e.app
        .dismiss_duplicate(&e.agent, park2, park)
        .await
        .unwrap();
    e.app.merge_customers(&e.agent, ann2, ann).await.unwrap();
    let page = e.app.duplicates(e.t, None, None).await.unwrap();
    let pairs: Vec<(i64, i64)> = page.pairs.iter().map(|p| (p.a.id, p.b.id)).collect();
    assert_eq!(pairs, vec![(kat.0, kat2.0), (wang.0, wang2.0)]);
    // Suggestions for one customer.
    let of_kat = e.app.duplicates_of(e.t, kat2).await.unwrap();
    assert_eq!(of_kat.len(), 1);
    assert_eq!(of_kat[0].a.id, kat.0);
}

#[tokio::test]
async fn inbound_find_or_create_matches_differently_written_contacts() {
    let e = env().await;
    let ann = e
        .customer(
            "Ann Lee",
            &[
                ("email", "ann.lee@example.com"),
                ("phone", "+82 10-1234-5678"),
            ],
        )
        .await;
    let find = |email: Option<&'static str>, phone: Option<&'static str>| {
        let e = &e;
        async move {
            let keys = ContactKeys::parse(email, phone, Some(PhoneRegion::Kr)).unwrap();
            e.app
                .find_or_create_customer(e.t, &keys, None)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        find(Some("  ANN.Lee@EXAMPLE.com "), None).await,
        (ann, false)
    );
    assert_eq!(find(None, Some("010 1234 5678")).await, (ann, false));
    assert_eq!(find(None, Some("0082-10-1234-5678")).await, (ann, false));
    assert_eq!(
        find(Some("unknown@example.com"), Some("(010) 1234-5678")).await,
        (ann, false)
    );
    // Plus-addressing is another address: a new customer, found again the next time.
    let (plus, created) = find(Some("Ann.Lee+Hotel@example.com"), None).await;
    assert!(created && plus != ann);
    assert_eq!(
        find(Some("ann.lee+hotel@EXAMPLE.com"), None).await,
        (plus, false)
    );
    let p = e.app.customer_profile(e.t, plus).await.unwrap();
    assert_eq!(p.display_name, "ann.lee+hotel");
    assert_eq!(p.contacts[0].normalized, "ann.lee+hotel@example.com");
    // A new phone-only contact is stored in E.164 and found in any writing.
    let (ph, created) = find(None, Some("010-7777-8888")).await;
    assert!(created);
    assert_eq!(find(None, Some("+821077778888")).await, (ph, false));
    // Nothing to go by, or a malformed value, is a clear error.
    assert!(ContactKeys::parse(None, None, None).is_err());
    assert!(ContactKeys::parse(Some("not-an-address"), None, None).is_err());
    // Another tenant's customer is never found.
    let other = e
        .app
        .store
        .ensure_tenant("globex", "Globex", e.app.now())
        .await
        .unwrap()
        .id;
    let keys = ContactKeys::parse(Some("ann.lee@example.com"), None, None).unwrap();
    let (theirs, created) = e
        .app
        .find_or_create_customer(other, &keys, Some("Ann"))
        .await
        .unwrap();
    assert!(created && theirs != ann);
}

/// Every contact row of a customer, exactly as stored.
async fn contact_rows(
    e: &Env,
    id: CustomerId,
) -> Vec<(i64, String, String, String, i16, i16, i64)> {
    let rows = sqlx::query(
        "SELECT id, kind, value, normalized, is_primary, verified, created_at \
         FROM customer_contacts WHERE tenant_id = $1 AND customer_id = $2 ORDER BY id",
    )
    .bind(e.t.0)
    .bind(id.0)
    .fetch_all(e.app.store.pool())
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            use sqlx::Row;
            (
                r.try_get("id").unwrap(),
                r.try_get("kind").unwrap(),
                r.try_get("value").unwrap(),
                r.try_get("normalized").unwrap(),
                r.try_get("is_primary").unwrap(),
                r.try_get("verified").unwrap(),
                r.try_get("created_at").unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_merge_keeps_a_shared_contact_once_and_undo_restores_every_contact_exactly() {
    let e = env().await;
    let a = e.customer("Ann Lee", &[("email", "ann@example.com")]).await;
    let b = e
        .customer(
            "Ann Lee",
            &[("email", "ANN@Example.com"), ("phone", "010-1111-2222")],
        )
        .await;
    // B's copy of the shared address is primary and verified; A's is neither.
    sqlx::query("UPDATE customer_contacts SET is_primary = 0, verified = 0 WHERE customer_id = $1")
        .bind(a.0)
        .execute(e.app.store.pool())
        .await
        .unwrap();
    sqlx::query(
        "UPDATE customer_contacts SET is_primary = 1, verified = 1 \
         WHERE customer_id = $1 AND kind = 'email'",
    )
    .bind(b.0)
    .execute(e.app.store.pool())
    .await
    .unwrap();
    let (before_a, before_b) = (contact_rows(&e, a).await, contact_rows(&e, b).await);

    let m = e.app.merge_customers(&e.agent, b, a).await.unwrap();
    let after = contact_rows(&e, a).await;
    let emails: Vec<_> = after.iter().filter(|c| c.1 == "email").collect();
    assert_eq!(emails.len(), 1, "the shared address once: {after:?}");
    assert_eq!(emails[0].0, before_a[0].0, "the survivor's own row stays");
    assert_eq!(
        (emails[0].4, emails[0].5),
        (1, 1),
        "primary and verified carried over"
    );
    assert_eq!(after.iter().filter(|c| c.1 == "phone").count(), 1);
    assert!(contact_rows(&e, b).await.is_empty());
    assert_eq!(
        m.moved.counts()["contacts"],
        2,
        "both of B's contacts are accounted for"
    );
    let p = e.app.customer_profile(e.t, a).await.unwrap();
    assert_eq!(p.contacts.len(), 2);

    e.app.clock.advance_ms(MIN);
    e.app.undo_merge(&e.agent, m.id).await.unwrap();
    assert_eq!(contact_rows(&e, a).await, before_a, "A exactly as before");
    assert_eq!(contact_rows(&e, b).await, before_b, "B exactly as before");
}

#[tokio::test]
async fn a_customers_import_row_of_a_merged_customer_updates_the_survivor() {
    use concierge_app::import::{ImportInput, ImportOptions};
    let e = env().await;
    let import = |csv: &'static str| {
        let e = &e;
        async move {
            e.app
                .import_customers(
                    e.t,
                    ImportInput::Bytes(csv.as_bytes()),
                    &ImportOptions::default(),
                    &|_, _, _| {},
                )
                .await
                .unwrap()
        }
    };
    let r = import(
        "customer_id,name,email\nEXT-A,Ann Lee,ann@example.com\nEXT-B,Ann L.,annb@example.com\n",
    )
    .await;
    assert_eq!(r.imported, 2, "{r:?}");
    let id_of = |ext: &'static str| {
        let e = &e;
        async move {
            let id: i64 = sqlx::query_scalar(
                "SELECT id FROM customers WHERE tenant_id = $1 AND external_id = $2",
            )
            .bind(e.t.0)
            .bind(ext)
            .fetch_one(e.app.store.pool())
            .await
            .unwrap();
            CustomerId(id)
        }
    };
    let (a, b) = (id_of("EXT-A").await, id_of("EXT-B").await);
    e.app.merge_customers(&e.agent, b, a).await.unwrap();
    let tomb_before = e.holdings(b).await;

    // B's external id now lands on A, the survivor; the tombstone is not written to.
    let row = "customer_id,name,email,tags\nEXT-B,Ann Lee-Park,ann.new@example.com,vip\n";
    let r = import(row).await;
    assert_eq!(
        (r.updated, r.imported, r.rejected.len()),
        (1, 0, 0),
        "{r:?}"
    );
    let p = e.app.customer_profile(e.t, a).await.unwrap();
    assert_eq!(p.display_name, "Ann Lee-Park");
    assert!(
        p.contacts
            .iter()
            .any(|c| c.normalized == "ann.new@example.com" && c.primary),
        "{:?}",
        p.contacts
    );
    assert!(p.tags.iter().any(|t| t == "vip"), "{:?}", p.tags);
    let tomb = e.app.customer_profile(e.t, b).await.unwrap();
    assert_eq!(tomb.display_name, "Ann L.");
    assert_eq!(e.holdings(b).await, tomb_before);
    // The same file again changes nothing.
    let r = import(row).await;
    assert_eq!((r.updated, r.unchanged), (0, 1), "{r:?}");

    // A survivor that was erased takes no personal data back: the row is rejected.
    e.app.erase_customer(&e.admin, a).await.unwrap();
    let r = import(row).await;
    assert_eq!((r.updated, r.imported), (0, 0), "{r:?}");
    assert_eq!(r.rejected.len(), 1, "{r:?}");
    assert_eq!(r.rejected[0].line, 2);
    assert!(r.rejected[0].reason.contains("erased"), "{r:?}");
    let p = e.app.customer_profile(e.t, a).await.unwrap();
    assert!(
        p.display_name.starts_with("Erased customer"),
        "{}",
        p.display_name
    );
    assert!(p.contacts.is_empty());
}

#[tokio::test]
async fn concurrent_first_contacts_from_one_new_address_create_one_customer() {
    let e = env().await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..24 {
        let app = e.app.clone();
        let (t, agent) = (e.t, e.agent.clone());
        set.spawn(async move {
            match i % 3 {
                // A first mail's sender, written in several ways.
                0 | 1 => {
                    let email = if i % 2 == 0 {
                        "New.Guest@Example.com"
                    } else {
                        "new.guest@example.COM"
                    };
                    let keys = ContactKeys::parse(Some(email), None, None).unwrap();
                    app.find_or_create_customer(t, &keys, Some("New Guest"))
                        .await
                        .unwrap()
                        .0
                }
                // A case opened over the API by email.
                _ => {
                    let d = app
                        .create_case(
                            t,
                            Actor::User(&agent),
                            &NewCaseInput {
                                subject: format!("Question {i}"),
                                body: "Hello".into(),
                                channel: "email".into(),
                                kind: None,
                                priority: None,
                                customer: CustomerRef::Email {
                                    email: "new.guest@example.com".into(),
                                    name: None,
                                },
                                team_id: None,
                                owner_id: None,
                                tags: vec![],
                                order_id: None,
                                parent_case_id: None,
                                attachments: vec![],
                            },
                        )
                        .await
                        .unwrap();
                    CustomerId(d.case.customer_id)
                }
            }
        });
    }
    let mut ids = Vec::new();
    while let Some(r) = set.join_next().await {
        ids.push(r.unwrap());
    }
    ids.sort_by_key(|c| c.0);
    ids.dedup();
    assert_eq!(ids.len(), 1, "one customer for one address: {ids:?}");
    let holders: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT customer_id) FROM customer_contacts \
         WHERE tenant_id = $1 AND normalized = 'new.guest@example.com'",
    )
    .bind(e.t.0)
    .fetch_one(e.app.store.pool())
    .await
    .unwrap();
    assert_eq!(holders, 1);

    // Phone-only first contacts race the same way.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..12 {
        let app = e.app.clone();
        let t = e.t;
        set.spawn(async move {
            let phone = if i % 2 == 0 {
                "010-4444-5555"
            } else {
                "+82 10 4444 5555"
            };
            let keys = ContactKeys::parse(None, Some(phone), Some(PhoneRegion::Kr)).unwrap();
            app.find_or_create_customer(t, &keys, None).await.unwrap().0
        });
    }
    let mut phones = Vec::new();
    while let Some(r) = set.join_next().await {
        phones.push(r.unwrap());
    }
    phones.sort_by_key(|c| c.0);
    phones.dedup();
    assert_eq!(phones.len(), 1, "{phones:?}");
}

#[tokio::test]
async fn an_address_taken_off_a_customer_or_erased_gets_a_new_customer() {
    let e = env().await;
    let keys = ContactKeys::parse(Some("moving@example.com"), None, None).unwrap();
    let (first, created) = e
        .app
        .find_or_create_customer(e.t, &keys, None)
        .await
        .unwrap();
    assert!(created);
    // The customer changes address: the old one no longer finds them, and a first mail from
    // it creates a new customer (the old claim on it is let go).
    e.app
        .update_customer(
            &e.agent,
            first,
            &ProfilePatch {
                contacts: Some(vec![ContactInput {
                    kind: "email".into(),
                    value: "moved@example.com".into(),
                    primary: true,
                    verified: false,
                }]),
                ..ProfilePatch::default()
            },
        )
        .await
        .unwrap();
    let (second, created) = e
        .app
        .find_or_create_customer(e.t, &keys, None)
        .await
        .unwrap();
    assert!(created && second != first);
    assert_eq!(
        e.app
            .find_or_create_customer(e.t, &keys, None)
            .await
            .unwrap(),
        (second, false)
    );
    // An erased customer holds nothing: the address is new again.
    e.app.erase_customer(&e.admin, second).await.unwrap();
    let (third, created) = e
        .app
        .find_or_create_customer(e.t, &keys, None)
        .await
        .unwrap();
    assert!(created && third != second && third != first);
}

#[tokio::test]
async fn duplicates_are_read_block_by_block_and_every_page_size_gives_the_same_pairs() {
    let e = env().await;
    // A big block: twelve records share one address (66 pairs); two of them also share a
    // phone; one pair is in no block with the others.
    let mut shared = Vec::new();
    for i in 0..12 {
        let mut contacts = vec![("email", "family@example.com")];
        if i < 2 {
            contacts.push(("phone", "010-2222-3333"));
        }
        shared.push(e.customer(&format!("Member {i}"), &contacts).await);
    }
    let solo = e.customer("Jo Park", &[("phone", "010-9999-1111")]).await;
    let solo2 = e
        .customer("Jo Park", &[("phone", "+82 10 9999 1111")])
        .await;
    let _alone = e
        .customer("Nobody Else", &[("email", "alone@example.com")])
        .await;
    // A merged record leaves the block.
    let merged = e
        .customer("Member X", &[("email", "family@example.com")])
        .await;
    e.app
        .merge_customers(&e.agent, merged, shared[0])
        .await
        .unwrap();

    let all = e.app.duplicates(e.t, None, Some(200)).await.unwrap();
    assert_eq!(all.pairs.len(), 66 + 1, "{:?}", all.pairs.len());
    let got: Vec<(i64, i64)> = all.pairs.iter().map(|p| (p.a.id, p.b.id)).collect();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(got, sorted, "in pair order, each once");
    assert_eq!(
        all.pairs[0].reasons,
        vec![DuplicateReason::SharedEmail, DuplicateReason::SharedPhone]
    );
    assert!(got.contains(&(solo.0, solo2.0)));
    assert!(got.iter().all(|(a, b)| *a != merged.0 && *b != merged.0));
    for size in [1, 5, 11, 66] {
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let p = e
                .app
                .duplicates(e.t, cursor.as_deref(), Some(size))
                .await
                .unwrap();
            assert!(p.pairs.len() as i64 <= size);
            paged.extend(p.pairs.iter().map(|p| (p.a.id, p.b.id)));
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(paged, got, "page size {size}");
    }
    // One customer's suggestions are the pairs of its blocks.
    let of = e.app.duplicates_of(e.t, shared[5]).await.unwrap();
    assert_eq!(of.len(), 11);
    assert!(
        of.iter()
            .all(|p| p.a.id == shared[5].0 || p.b.id == shared[5].0)
    );
}
