#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Story tests of the case use cases (issue 4): what an agent, a manager and a customer notice
//! when they work a case. Each test gets a fresh database — SQLite by default, PostgreSQL when
//! `CONCIERGE_TEST_DATABASE_URL` is set — and moves the app's clock instead of sleeping.

use concierge_app::cases::{
    Actor, CaseDetail, CaseError, CasePatch, CustomerRef, NewCaseInput, QUEUE_COUNT_CAP,
    ReplyInput, View,
};
use concierge_app::{App, Config};
use concierge_domain::sla::{CalendarSpec, TargetStatus};
use concierge_domain::{CaseId, CustomerId, Role, TenantId};
use concierge_store::bulk::{Val, insert_rows};
use concierge_store::testing::TestDb;
use concierge_store::{StoreError, UserRow};
use std::collections::BTreeMap;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

struct Env {
    db: TestDb,
    app: App,
    t: TenantId,
}

async fn app_on(db: &TestDb) -> App {
    let mut cfg = Config::default();
    cfg.storage.database_url = db.url.clone();
    App::new(db.store().await.unwrap(), cfg)
}

async fn env() -> Env {
    let db = TestDb::new().await.unwrap();
    let app = app_on(&db).await;
    let t = app
        .store
        .ensure_tenant("acme", "Acme", app.now())
        .await
        .unwrap()
        .id;
    Env { db, app, t }
}

impl Env {
    /// Another process on the same database (a restarted node, or a second node), sharing
    /// the test's clock.
    async fn second_app(&self) -> App {
        let mut other = app_on(&self.db).await;
        other.clock = self.app.clock.clone();
        other
    }

    async fn staff(&self, email: &str, name: &str, role: Role) -> UserRow {
        self.app
            .store
            .create_user(
                self.t,
                email,
                name,
                role,
                "not-a-hash",
                "en",
                self.app.now(),
            )
            .await
            .unwrap()
    }

    async fn customer(&self, name: &str, email: &str) -> i64 {
        self.app
            .store
            .create_customer(self.t, name, Some(email), None, self.app.now())
            .await
            .unwrap()
            .id
            .0
    }

    async fn team(&self, name: &str, manager: Option<&UserRow>, strategy: &str) -> i64 {
        self.app
            .store
            .create_team(
                self.t,
                name,
                manager.map(|m| m.id.0),
                strategy,
                None,
                self.app.now(),
            )
            .await
            .unwrap()
            .id
    }

    async fn member(&self, team: i64, user: &UserRow, cap: Option<i64>) {
        self.app
            .store
            .set_team_member(self.t, team, user.id.0, cap, true)
            .await
            .unwrap();
    }

    async fn open(&self, input: &NewCaseInput) -> CaseDetail {
        self.app
            .create_case(self.t, Actor::System, input)
            .await
            .unwrap()
    }

    async fn detail(&self, id: CaseId) -> CaseDetail {
        self.app.case_detail(self.t, id, true).await.unwrap()
    }

    async fn define(&self, kind: &str, name: &str, event: Option<&str>, spec: &serde_json::Value) {
        self.app
            .store
            .add_definition(
                self.t,
                kind,
                name,
                event,
                &spec.to_string(),
                0,
                self.app.now(),
            )
            .await
            .unwrap();
    }
}

/// Gives a customer a tier the way the analytics run stores it.
async fn set_tier(app: &App, t: TenantId, customer: i64, tier: &str) {
    concierge_store::testing::set_customer_tier(&app.store, t, customer, tier, app.now())
        .await
        .unwrap();
}

fn input(subject: &str, body: &str, customer: i64) -> NewCaseInput {
    NewCaseInput::new(CustomerRef::Id(customer), subject, body, "web")
}

fn reply(body: &str) -> ReplyInput {
    ReplyInput {
        body: body.into(),
        ..ReplyInput::default()
    }
}

fn note(body: &str) -> ReplyInput {
    ReplyInput {
        body: body.into(),
        internal: true,
        ..ReplyInput::default()
    }
}

fn id_of(d: &CaseDetail) -> CaseId {
    CaseId(d.case.id)
}

fn kinds(d: &CaseDetail) -> Vec<&str> {
    d.events.iter().map(|e| e.kind.as_str()).collect()
}

fn count(d: &CaseDetail, kind: &str) -> usize {
    d.events.iter().filter(|e| e.kind == kind).count()
}

fn target<'a>(d: &'a CaseDetail, kind: &str) -> &'a concierge_app::cases::TargetView {
    d.targets
        .iter()
        .rev()
        .find(|t| t.row.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} target in {:?}", d.targets))
}

/// Puts the app's clock at `at_ms`.
fn set_clock(app: &App, at_ms: i64) {
    app.clock.advance_ms(at_ms - app.now());
}

/// An instant given as local civil time in a zone, e.g. `("Asia/Shanghai", "2026-03-06T17:00")`.
fn local_ms(tz: &str, civil: &str) -> i64 {
    let dt: jiff::civil::DateTime = civil.parse().unwrap();
    jiff::tz::TimeZone::get(tz)
        .unwrap()
        .to_timestamp(dt)
        .unwrap()
        .as_millisecond()
}

/// `a` and `b` within a few seconds (the test's clock keeps ticking in real time).
#[track_caller]
fn assert_near(a: i64, b: i64, what: &str) {
    assert!(
        (a - b).abs() < 10_000,
        "{what}: {a} is {} s away from {b}",
        (a - b) / 1000
    );
}

async fn escalation_notes(app: &App, t: TenantId, user: &UserRow) -> Vec<String> {
    app.store
        .notifications(t, user.id.0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.kind == "escalation")
        .map(|n| n.body)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The complaint story (the acceptance).
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn complaint_story_end_to_end() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let manager = e.staff("mia@acme.test", "Mia Manager", Role::Manager).await;
    let billing_manager = e.staff("bo@acme.test", "Bo Billing", Role::Manager).await;
    let ann = e.staff("ann@acme.test", "Ann", Role::Agent).await;
    let alex = e.staff("alex@acme.test", "Alex", Role::Agent).await;
    let bea = e.staff("bea@acme.test", "Bea", Role::Agent).await;
    let support = e.team("Support", Some(&manager), "round_robin").await;
    e.member(support, &ann, None).await;
    e.member(support, &alex, None).await;
    let billing = app
        .store
        .create_team(
            t,
            "Billing",
            Some(billing_manager.id.0),
            "least_loaded",
            Some(30),
            app.now(),
        )
        .await
        .unwrap()
        .id;
    e.member(billing, &bea, None).await;
    let gold = e.customer("Wang Fang", "fang@example.cn").await;
    set_tier(app, t, gold, "Gold").await;
    let plain = e.customer("Kim Minji", "minji@example.kr").await;

    // A complaint arrives by email from a Gold customer.
    let mut complaint = input(
        "The vase arrived broken",
        "The vase in order 1001 arrived in pieces. I want a replacement before Friday.",
        gold,
    );
    complaint.kind = Some("complaint".into());
    complaint.channel = "email".into();
    complaint.team_id = Some(support);
    let d = e.open(&complaint).await;
    let id = id_of(&d);
    assert_eq!(d.case.kind, "complaint");
    assert_eq!(d.case.status, "new");
    assert_eq!(d.case.team_id, Some(support));
    assert_eq!(
        d.case.owner_id,
        Some(ann.id.0),
        "round robin starts with the first member"
    );
    assert_eq!(d.tier.as_deref(), Some("Gold"));
    let fr = target(&d, "first_response").row.clone();
    assert_eq!(
        fr.due_at - fr.started_at,
        120 * MIN,
        "Gold answers in 2 hours"
    );
    let res = target(&d, "resolution").row.clone();
    assert_eq!(res.due_at - res.started_at, 2880 * MIN);
    assert_eq!(d.case.next_due_at, Some(fr.due_at));
    assert!(
        d.events
            .iter()
            .any(|e| e.kind == "targets" && e.detail["policy"] == "Gold"),
        "{:?}",
        d.events
    );
    // The same complaint from a customer without a tier gets the standard 8 hours.
    let mut other = complaint.clone();
    other.customer = CustomerRef::Id(plain);
    other.team_id = None;
    let o = e.open(&other).await;
    let ofr = &target(&o, "first_response").row;
    assert_eq!(ofr.due_at - ofr.started_at, 480 * MIN);
    let created = d.case.created_at;

    // Nobody answers. At 75% of the target the owner is reminded, once, whichever node runs
    // the scheduler and however often.
    let node_b = e.second_app().await;
    set_clock(app, created + 91 * MIN);
    assert_eq!(app.run_escalations("node-a").await.unwrap(), 1);
    assert_eq!(app.run_escalations("node-a").await.unwrap(), 0);
    assert_eq!(node_b.run_escalations("node-b").await.unwrap(), 0);
    // A node that died after firing but before recording when to look next: the step still
    // does not fire twice.
    app.store.set_target_check(fr.id, Some(0)).await.unwrap();
    assert_eq!(node_b.run_escalations("node-b").await.unwrap(), 0);
    let reminders = escalation_notes(app, t, &ann).await;
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert!(reminders[0].contains("75%"), "{reminders:?}");
    assert!(escalation_notes(app, t, &manager).await.is_empty());

    // The owner misses the target. Two nodes run the scheduler at the same moment: the 100%
    // step fires once — the manager is told and the priority goes up.
    set_clock(app, created + 125 * MIN);
    let (a, b) = tokio::join!(
        app.run_escalations("node-a"),
        node_b.run_escalations("node-b")
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(app.run_escalations("node-a").await.unwrap(), 0);
    app.store.set_target_check(fr.id, Some(0)).await.unwrap();
    assert_eq!(node_b.run_escalations("node-b").await.unwrap(), 0);
    let d = e.detail(id).await;
    assert_eq!(d.case.priority, "high");
    assert_eq!(count(&d, "escalated"), 2, "{:?}", kinds(&d));
    let percents: Vec<_> = d
        .events
        .iter()
        .filter(|e| e.kind == "escalated")
        .map(|e| e.detail["percent"].as_i64().unwrap())
        .collect();
    assert_eq!(percents, vec![75, 100]);
    assert!(matches!(
        target(&d, "first_response").state,
        TargetStatus::Breached { .. }
    ));
    let to_manager = escalation_notes(app, t, &manager).await;
    assert_eq!(to_manager.len(), 1, "{to_manager:?}");
    assert!(to_manager[0].contains("missed"), "{to_manager:?}");
    assert_eq!(escalation_notes(app, t, &ann).await.len(), 1);
    // The breaching queue shows it to the manager.
    let q = app
        .queue(t, &manager, View::Breaching, None, 50)
        .await
        .unwrap();
    assert_eq!(q.cases.first().map(|c| c.id), Some(id.0));

    // The manager reassigns it to Alex.
    let d = app
        .update_case(
            t,
            &manager,
            id,
            &CasePatch {
                owner_id: Some(Some(alex.id.0)),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(d.case.owner_id, Some(alex.id.0));
    let by_manager = d.events.last().unwrap();
    assert_eq!(by_manager.kind, "assigned");
    assert_eq!(by_manager.actor_id, Some(manager.id.0));
    assert!(
        app.store
            .notifications(t, alex.id.0, 10)
            .await
            .unwrap()
            .iter()
            .any(|n| n.kind == "assigned" && n.case_id == Some(id.0))
    );

    // Alex hands it to Billing with a reason; Billing's strategy picks Bea, and the hand-off has
    // its own target (Billing's 30 minutes).
    let d = app
        .transfer_case(t, &alex, id, billing, "The refund needs billing's approval")
        .await
        .unwrap();
    assert_eq!(d.case.team_id, Some(billing));
    assert_eq!(d.case.owner_id, Some(bea.id.0));
    assert_eq!(d.handoffs.len(), 1);
    assert_eq!(d.handoffs[0].from_team, Some(support));
    assert_eq!(d.handoffs[0].reason, "The refund needs billing's approval");
    assert!(d.handoffs[0].accepted_at.is_none());
    let h = target(&d, "handoff").row.clone();
    assert_eq!(h.team_id, Some(billing));
    assert_eq!(h.due_at - h.started_at, 30 * MIN);
    let waiting = app
        .queue(t, &manager, View::Handoff, None, 50)
        .await
        .unwrap();
    assert_eq!(
        waiting.cases.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![id.0]
    );
    assert_eq!(waiting.count, 1);

    // Bea takes it up with an internal note: the hand-off is accepted, its target met.
    let d = app
        .reply(t, &bea, id, &note("Refund of 320 CNY approved."))
        .await
        .unwrap();
    assert!(d.handoffs[0].accepted_at.is_some());
    assert!(matches!(
        target(&d, "handoff").state,
        TargetStatus::Met { on_time: true }
    ));
    let waiting = app
        .queue(t, &manager, View::Handoff, None, 50)
        .await
        .unwrap();
    assert!(waiting.cases.is_empty());
    assert_eq!(waiting.count, 0);

    // ... and hands it back to Support.
    let d = app
        .transfer_case(t, &bea, id, support, "Approved; support tells the customer")
        .await
        .unwrap();
    assert_eq!(d.case.team_id, Some(support));
    let owner_id = d
        .case
        .owner_id
        .expect("support's round robin picks someone");
    assert!([ann.id.0, alex.id.0].contains(&owner_id));
    assert_eq!(d.handoffs.len(), 2);
    assert_eq!(d.handoffs[1].from_team, Some(billing));
    assert_eq!(d.handoffs[1].to_team, support);
    let owner = app
        .store
        .user_by_id(t, concierge_domain::UserId(owner_id))
        .await
        .unwrap()
        .unwrap();

    // The owner answers the customer and solves the case.
    let d = app
        .reply(
            t,
            &owner,
            id,
            &ReplyInput {
                body: "We are sorry. A new vase is on its way and 320 CNY were refunded.".into(),
                status: Some("solved".into()),
                ..ReplyInput::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(d.case.status, "solved");
    assert!(d.case.solved_at.is_some());
    assert!(d.case.first_response_at.is_some());
    assert_eq!(d.case.next_due_at, None);
    assert!(matches!(
        target(&d, "first_response").state,
        TargetStatus::Met { on_time: false }
    ));
    assert!(matches!(
        target(&d, "resolution").state,
        TargetStatus::Met { on_time: true }
    ));
    assert!(d.handoffs.iter().all(|h| h.accepted_at.is_some()));
    let email_reply = d.messages.last().unwrap();
    assert_eq!(
        email_reply.route.as_deref(),
        Some("email"),
        "answered on the channel of origin"
    );
    assert_eq!(email_reply.delivery_state.as_deref(), Some("queued"));

    // Every step is on the case...
    let ks = kinds(&d);
    for k in [
        "created",
        "team",
        "assigned",
        "targets",
        "escalated",
        "priority",
        "transferred",
        "note",
        "handoff_accepted",
        "replied",
        "status",
    ] {
        assert!(ks.contains(&k), "{k} missing from {ks:?}");
    }
    assert_eq!(count(&d, "transferred"), 2);
    assert_eq!(count(&d, "escalated"), 2);
    // ... and on the customer's timeline, one entry per case event and per message.
    let tl = app
        .customer_timeline(t, CustomerId(gold), None, None, Some(200))
        .await
        .unwrap();
    let mut on_case: BTreeMap<String, usize> = BTreeMap::new();
    for e in &d.events {
        *on_case.entry(e.kind.clone()).or_default() += 1;
    }
    let mut on_timeline: BTreeMap<String, usize> = BTreeMap::new();
    for i in tl.items.iter().filter(|i| i.kind == "case_event") {
        assert_eq!(i.ref_id, Some(id.0));
        *on_timeline
            .entry(i.summary["event"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(on_timeline, on_case);
    let messages = tl.items.iter().filter(|i| i.kind == "message").count();
    assert_eq!(messages, d.messages.len());
    assert_eq!(messages, 3, "the complaint, Bea's note and the answer");
    assert!(
        tl.items
            .iter()
            .any(|i| i.kind == "case" && i.ref_id == Some(id.0))
    );
    // The customer's view of the case hides the internal steps.
    let public = app.case_detail(t, id, false).await.unwrap();
    assert!(public.events.iter().all(|e| e.visibility == "customer"));
    assert!(!kinds(&public).contains(&"escalated"));
    assert!(kinds(&public).contains(&"replied"));
    // The customer sees that the case moved team, never the staff's reason for it.
    assert!(kinds(&public).contains(&"handed_off"));
    assert!(!kinds(&public).contains(&"transferred"));
    assert!(public.handoffs.is_empty() && public.presence.is_empty());

    // Days later nothing on the solved case fires any more, while the other customer's case,
    // never answered, has gone through every level of both its targets: reminded, raised
    // twice, and finally handed to a manager.
    set_clock(app, created + 10 * 24 * HOUR);
    assert_eq!(app.run_escalations("node-a").await.unwrap(), 6);
    assert_eq!(count(&e.detail(id).await, "escalated"), 2);
    let o = e.detail(id_of(&o)).await;
    let mut steps: Vec<(String, i64)> = o
        .events
        .iter()
        .filter(|e| e.kind == "escalated")
        .map(|e| {
            (
                e.detail["target"].as_str().unwrap().to_string(),
                e.detail["percent"].as_i64().unwrap(),
            )
        })
        .collect();
    steps.sort();
    assert_eq!(
        steps,
        [
            ("first_response", 75),
            ("first_response", 100),
            ("first_response", 150),
            ("resolution", 75),
            ("resolution", 100),
            ("resolution", 150),
        ]
        .map(|(k, p)| (k.to_string(), p))
    );
    assert_eq!(o.case.priority, "urgent");
    assert!([manager.id.0, billing_manager.id.0].contains(&o.case.owner_id.unwrap()));
    assert_eq!(app.run_escalations("node-a").await.unwrap(), 0);
}

#[tokio::test]
async fn one_tenants_unreadable_rules_do_not_stop_escalations_for_others() {
    let e = env().await;
    let app = &e.app;
    let other = app
        .store
        .ensure_tenant("other", "Other", app.now())
        .await
        .unwrap()
        .id;
    let their_cust = app
        .store
        .create_customer(other, "Mallory", Some("m@other.test"), None, app.now())
        .await
        .unwrap()
        .id
        .0;
    app.create_case(other, Actor::System, &input("Theirs", "theirs", their_cust))
        .await
        .unwrap();
    let cust = e.customer("Sam Lee", "sam@example.com").await;
    let id = id_of(&e.open(&input("Mine", "mine", cust)).await);
    // The other tenant's calendar was saved in a shape this version cannot read.
    app.store
        .add_definition(
            other,
            "calendar",
            "old",
            None,
            "{\"zone\": \"UTC\"}",
            0,
            app.now(),
        )
        .await
        .unwrap();
    app.clock.advance_ms(7 * HOUR);
    assert_eq!(
        app.run_escalations("n").await.unwrap(),
        1,
        "my 75% step fires"
    );
    assert_eq!(count(&e.detail(id).await, "escalated"), 1);
    // The broken tenant's target is looked at again later, not in a hot loop.
    assert_eq!(app.run_escalations("n").await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// Business hours and paused clocks.
// ---------------------------------------------------------------------------------------------

const SHANGHAI: &str = "Asia/Shanghai";

#[tokio::test]
async fn business_hours_skip_nights_and_weekends_and_pending_pauses_the_clock() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    // Office hours in Shanghai, Monday to Friday 09:00-18:00.
    e.define(
        "calendar",
        "Shanghai office",
        None,
        &serde_json::to_value(CalendarSpec::office(SHANGHAI)).unwrap(),
    )
    .await;
    e.define(
        "sla_policy",
        "Office",
        None,
        &serde_json::json!({"id": 0, "name": "Office", "tier": null, "priority": null,
            "channel": null, "first_response_mins": 120, "next_response_mins": 60,
            "resolution_mins": 540}),
    )
    .await;
    let agent = e.staff("li@acme.test", "Li", Role::Agent).await;
    let cust = e.customer("Chen Jie", "jie@example.cn").await;

    // Friday 17:00: one working hour left this week.
    set_clock(app, local_ms(SHANGHAI, "2026-03-06T17:00"));
    let d = e
        .open(&input(
            "订单没有到",
            "我的订单还没有到，请帮忙查一下。",
            cust,
        ))
        .await;
    let id = id_of(&d);
    let fr = target(&d, "first_response").row.clone();
    let res = target(&d, "resolution").row.clone();
    // 2 working hours: 17:00-18:00 Friday, then 09:00-10:00 Monday.
    assert_near(
        fr.due_at,
        local_ms(SHANGHAI, "2026-03-09T10:00"),
        "first response",
    );
    // 9 working hours: 1 on Friday, 8 on Monday.
    assert_near(
        res.due_at,
        local_ms(SHANGHAI, "2026-03-09T17:00"),
        "resolution",
    );
    assert_eq!(d.case.next_due_at, Some(fr.due_at));

    // Saturday noon: the case is not late, and nothing escalates over the weekend.
    set_clock(app, local_ms(SHANGHAI, "2026-03-07T12:00"));
    assert_eq!(app.run_escalations("n").await.unwrap(), 0);
    let d = e.detail(id).await;
    assert!(matches!(
        target(&d, "first_response").state,
        TargetStatus::Running { .. }
    ));

    // Monday 09:30 the agent answers and asks the customer something: pending stops the clock.
    set_clock(app, local_ms(SHANGHAI, "2026-03-09T09:30"));
    let d = app
        .reply(
            t,
            &agent,
            id,
            &ReplyInput {
                body: "请提供您的订单号。".into(),
                status: Some("pending".into()),
                ..ReplyInput::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(d.case.status, "pending");
    assert_eq!(
        d.customer_label(concierge_domain::Locale::En),
        "Waiting for your reply"
    );
    assert!(matches!(
        target(&d, "first_response").state,
        TargetStatus::Met { on_time: true }
    ));
    assert!(matches!(
        target(&d, "resolution").state,
        TargetStatus::Paused
    ));
    assert_eq!(d.case.next_due_at, None, "a paused case is due nowhere");

    // Tuesday 11:00, long after the resolution was first due: still nothing escalates, and the
    // case is not in the breaching queue.
    set_clock(app, local_ms(SHANGHAI, "2026-03-10T11:00"));
    assert_eq!(app.run_escalations("n").await.unwrap(), 0);
    let q = app
        .queue(t, &agent, View::Breaching, None, 50)
        .await
        .unwrap();
    assert!(q.cases.iter().all(|c| c.id != id.0));

    // The customer answers: the case reopens and the resolution clock resumes with the 7.5
    // working hours it had left (Tuesday 11:00-18:00, then Wednesday 09:00-09:30).
    let back = app
        .customer_reply(t, CustomerId(cust), id, "订单号是 1001。", Vec::new())
        .await
        .unwrap();
    assert_eq!(back, id);
    let d = e.detail(id).await;
    assert_eq!(d.case.status, "open");
    let res = target(&d, "resolution").row.clone();
    assert!(res.paused_since.is_none());
    assert_near(
        res.due_at,
        local_ms(SHANGHAI, "2026-03-11T09:30"),
        "resumed resolution",
    );
    // The reply starts a next-response target of one working hour.
    let next = target(&d, "next_response").row.clone();
    assert_near(
        next.due_at,
        local_ms(SHANGHAI, "2026-03-10T12:00"),
        "next response",
    );
    assert_eq!(d.case.next_due_at, Some(next.due_at));
    // The resumed target escalates on its moved schedule: the 75% step (Tuesday 16:15) has
    // fired by Wednesday 09:20, the 100% step waits for the new due time, 09:30.
    set_clock(app, local_ms(SHANGHAI, "2026-03-10T17:59"));
    app.reply(t, &agent, id, &reply("正在查。")).await.unwrap();
    set_clock(app, local_ms(SHANGHAI, "2026-03-11T09:20"));
    app.run_escalations("n").await.unwrap();
    let d = e.detail(id).await;
    let missed: Vec<_> = d
        .events
        .iter()
        .filter(|e| e.kind == "escalated" && e.detail["target"] == "resolution")
        .map(|e| e.detail["percent"].as_i64().unwrap())
        .collect();
    assert_eq!(
        missed,
        vec![75],
        "only the 75% step is due before 09:30 Wednesday"
    );
    set_clock(app, local_ms(SHANGHAI, "2026-03-11T09:31"));
    assert_eq!(app.run_escalations("n").await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// Customer replies: reopen a solved case, follow up a closed one.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_reply_reopens_a_solved_case_and_a_closed_case_gets_a_follow_up() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let agent = e.staff("ana@acme.test", "Ana", Role::Agent).await;
    let manager = e.staff("max@acme.test", "Max", Role::Manager).await;
    let cust = e.customer("Sam Lee", "sam@example.com").await;
    let mut i = input("Wrong size", "The shoes are a size too small.", cust);
    i.owner_id = Some(agent.id.0);
    let d = e.open(&i).await;
    let id = id_of(&d);
    let solve = ReplyInput {
        body: "Please send them back; we will exchange them.".into(),
        status: Some("solved".into()),
        ..ReplyInput::default()
    };
    let d = app.reply(t, &agent, id, &solve).await.unwrap();
    assert_eq!(d.case.status, "solved");
    assert!(d.case.solved_at.is_some());
    assert_eq!(d.case.next_due_at, None);

    // The customer writes again: the case reopens, and the agent owes a next response and a
    // resolution again.
    app.clock.advance_ms(HOUR);
    let landed = app
        .customer_reply(t, CustomerId(cust), id, "Where do I send them?", Vec::new())
        .await
        .unwrap();
    assert_eq!(landed, id);
    let d = e.detail(id).await;
    assert_eq!(d.case.status, "open");
    assert_eq!(d.case.solved_at, None);
    let next = target(&d, "next_response");
    assert!(
        matches!(next.state, TargetStatus::Running { .. }),
        "{next:?}"
    );
    assert_near(
        next.row.started_at,
        app.now(),
        "next response starts with the reply",
    );
    let resolutions: Vec<_> = d
        .targets
        .iter()
        .filter(|t| t.row.kind == "resolution")
        .collect();
    assert_eq!(resolutions.len(), 2, "{:?}", d.targets);
    assert!(matches!(resolutions[0].state, TargetStatus::Met { .. }));
    assert!(matches!(resolutions[1].state, TargetStatus::Running { .. }));
    assert_eq!(
        d.case.next_due_at,
        Some(next.row.due_at.min(resolutions[1].row.due_at))
    );
    let last = d.events.last().unwrap();
    assert_eq!(last.kind, "status");
    assert_eq!(last.detail["from"], "solved");
    assert_eq!(last.detail["to"], "open");
    assert!(
        app.store
            .notifications(t, agent.id.0, 20)
            .await
            .unwrap()
            .iter()
            .any(|n| n.kind == "customer_replied")
    );

    // The agent solves it and, on second thought, reopens it: a resolution is owed again.
    app.reply(t, &agent, id, &solve).await.unwrap();
    let d = app
        .update_case(
            t,
            &agent,
            id,
            &CasePatch {
                status: Some("open".into()),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        target(&d, "resolution").state,
        TargetStatus::Running { .. }
    ));
    assert_eq!(d.case.solved_at, None);
    assert!(d.case.next_due_at.is_some());

    // Solved again and closed by the manager. Closed is final: the next reply opens a linked
    // follow-up case and leaves the closed one alone.
    app.reply(t, &agent, id, &solve).await.unwrap();
    let closed = app
        .update_case(
            t,
            &manager,
            id,
            &CasePatch {
                status: Some("closed".into()),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(closed.case.status, "closed");
    assert!(closed.case.closed_at.is_some());
    let before = closed.messages.len();
    let follow = app
        .customer_reply(
            t,
            CustomerId(cust),
            id,
            "The new pair is too big now!",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_ne!(follow, id);
    let f = e.detail(follow).await;
    assert_eq!(f.case.parent_case_id, Some(id.0));
    assert_eq!(f.case.kind, "follow_up");
    assert_eq!(f.case.customer_id, cust);
    assert_eq!(
        f.case.owner_id,
        Some(agent.id.0),
        "the same agent follows up"
    );
    assert_eq!(f.case.status, "new");
    assert_eq!(f.messages.len(), 1);
    assert_eq!(f.messages[0].body_text, "The new pair is too big now!");
    assert_eq!(f.messages[0].author_customer_id, Some(cust));
    assert!(matches!(
        target(&f, "first_response").state,
        TargetStatus::Running { .. }
    ));
    let old = e.detail(id).await;
    assert_eq!(old.case.status, "closed");
    assert_eq!(old.messages.len(), before);

    // A customer cannot write on someone else's case.
    let other = e.customer("Other", "other@example.com").await;
    let err = app
        .customer_reply(t, CustomerId(other), follow, "let me in", Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::NotFound("case")), "{err:?}");
}

#[tokio::test]
async fn a_follow_up_to_a_case_whose_owner_left_still_opens() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let agent = e.staff("gone@acme.test", "Gone", Role::Agent).await;
    let manager = e.staff("max@acme.test", "Max", Role::Manager).await;
    let cust = e.customer("Sam Lee", "sam@example.com").await;
    let mut i = input("Invoice", "Please send the invoice.", cust);
    i.owner_id = Some(agent.id.0);
    let id = id_of(&e.open(&i).await);
    app.update_case(
        t,
        &manager,
        id,
        &CasePatch {
            status: Some("solved".into()),
            ..CasePatch::default()
        },
    )
    .await
    .unwrap();
    app.update_case(
        t,
        &manager,
        id,
        &CasePatch {
            status: Some("closed".into()),
            ..CasePatch::default()
        },
    )
    .await
    .unwrap();
    // The agent leaves the company.
    sqlx::query("UPDATE users SET active = 0 WHERE id = $1")
        .bind(agent.id.0)
        .execute(app.store.pool())
        .await
        .unwrap();
    let follow = app
        .customer_reply(t, CustomerId(cust), id, "I never got it.", Vec::new())
        .await
        .unwrap();
    let f = e.detail(follow).await;
    assert_eq!(f.case.parent_case_id, Some(id.0));
    assert_eq!(f.case.owner_id, None, "nobody inactive owns the follow-up");
}

// ---------------------------------------------------------------------------------------------
// Internal notes.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn internal_notes_never_reach_the_customer_view() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let agent = e.staff("ana@acme.test", "Ana", Role::Agent).await;
    let cust = e.customer("Sam Lee", "sam@example.com").await;
    let id = id_of(
        &e.open(&input("Late parcel", "Where is my parcel?", cust))
            .await,
    );
    let secret = "SECRET-NOTE customer threatened the courier; do not offer a voucher";
    app.reply(t, &agent, id, &note(secret)).await.unwrap();
    app.reply(t, &agent, id, &reply("It arrives tomorrow."))
        .await
        .unwrap();

    let public = app.store.case_messages(t, id, false).await.unwrap();
    assert_eq!(public.len(), 2);
    assert!(public.iter().all(|m| m.visibility == "public"));
    assert!(public.iter().all(|m| !m.body_text.contains("SECRET-NOTE")));
    let all = app.store.case_messages(t, id, true).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(
        all.iter()
            .any(|m| m.visibility == "internal" && m.body_text == secret)
    );

    let outside = app.case_detail(t, id, false).await.unwrap();
    let json = serde_json::to_string(&outside).unwrap();
    assert!(!json.contains("SECRET-NOTE"), "{json}");
    assert!(outside.events.iter().all(|e| e.visibility == "customer"));
    assert!(!kinds(&outside).contains(&"note"));
    let inside = app.case_detail(t, id, true).await.unwrap();
    assert!(
        serde_json::to_string(&inside)
            .unwrap()
            .contains("SECRET-NOTE")
    );
    assert!(kinds(&inside).contains(&"note"));

    // A note is not an answer: it meets no response target.
    let id2 = id_of(
        &e.open(&input("Broken lid", "The lid is cracked.", cust))
            .await,
    );
    let d = app
        .reply(t, &agent, id2, &note("checking stock"))
        .await
        .unwrap();
    assert!(matches!(
        target(&d, "first_response").state,
        TargetStatus::Running { .. }
    ));
    assert_eq!(d.case.first_response_at, None);
    assert_eq!(d.case.status, "new");
}

// ---------------------------------------------------------------------------------------------
// Workflow refusals.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_workflow_refuses_what_it_does_not_allow() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let agent = e.staff("ana@acme.test", "Ana", Role::Agent).await;
    let cust = e.customer("Sam Lee", "sam@example.com").await;
    let team = e.team("Support", None, "manual").await;
    let other_team = e.team("Billing", None, "manual").await;
    let id = id_of(
        &e.open(&input("Question", "Do you ship to Jeju?", cust))
            .await,
    );
    let status = |s: &str| CasePatch {
        status: Some(s.into()),
        ..CasePatch::default()
    };

    // new → closed is not a move the workflow has; the message says what is allowed.
    let err = app
        .update_case(t, &agent, id, &status("closed"))
        .await
        .unwrap_err();
    match &err {
        CaseError::Invalid(m) => {
            assert!(m.contains("'new'") && m.contains("'closed'"), "{m}");
            assert!(m.contains("open") && m.contains("solved"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    let err = app
        .update_case(t, &agent, id, &status("archived"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CaseError::Invalid(ref m) if m.contains("archived")),
        "{err:?}"
    );
    assert_eq!(e.detail(id).await.case.status, "new");

    // A stale version is a conflict, and changes nothing.
    let v = e.detail(id).await.case.version;
    app.update_case(t, &agent, id, &status("open"))
        .await
        .unwrap();
    let err = app
        .update_case(
            t,
            &agent,
            id,
            &CasePatch {
                priority: Some("urgent".into()),
                version: Some(v),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CaseError::Store(StoreError::Conflict(_))),
        "{err:?}"
    );
    assert_eq!(e.detail(id).await.case.priority, "normal");
    // The current version goes through.
    let v = e.detail(id).await.case.version;
    let d = app
        .update_case(
            t,
            &agent,
            id,
            &CasePatch {
                priority: Some("urgent".into()),
                version: Some(v),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(d.case.priority, "urgent");
    assert!(d.case.version > v);

    // Closed is final for every action.
    app.update_case(t, &agent, id, &status("solved"))
        .await
        .unwrap();
    app.update_case(t, &agent, id, &status("closed"))
        .await
        .unwrap();
    let closed_refusals = [
        app.update_case(t, &agent, id, &status("open")).await.err(),
        app.update_case(
            t,
            &agent,
            id,
            &CasePatch {
                subject: Some("renamed".into()),
                ..CasePatch::default()
            },
        )
        .await
        .err(),
        app.reply(t, &agent, id, &reply("one more thing"))
            .await
            .err(),
        app.reply(t, &agent, id, &note("one more note")).await.err(),
        app.transfer_case(t, &agent, id, other_team, "wrong team")
            .await
            .err(),
    ];
    for r in closed_refusals {
        match r {
            Some(CaseError::State(m)) => assert!(m.contains("final"), "{m}"),
            other => panic!("closed case accepted an action: {other:?}"),
        }
    }
    let d = e.detail(id).await;
    assert_eq!(d.case.status, "closed");
    assert_eq!(d.case.subject, "Question");
    assert_eq!(d.messages.len(), 1);
    // Transferring to the team a case is already with is refused too.
    let id2 = id_of(&e.open(&input("Question 2", "Hello?", cust)).await);
    app.transfer_case(t, &agent, id2, team, "to support")
        .await
        .unwrap();
    let err = app
        .transfer_case(t, &agent, id2, team, "again")
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::State(_)), "{err:?}");
    let err = app
        .transfer_case(t, &agent, id2, other_team, "  ")
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::Invalid(_)), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Triggers and macros.
// ---------------------------------------------------------------------------------------------

fn trigger(
    name: &str,
    event: &str,
    conditions: serde_json::Value,
    actions: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({"id": 0, "name": name, "event": event, "conditions": conditions,
        "actions": actions, "position": 0, "active": true})
}

#[tokio::test]
async fn triggers_tag_and_raise_refunds_and_never_loop() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let manager = e.staff("max@acme.test", "Max", Role::Manager).await;
    let cust = e.customer("Zhang Wei", "wei@example.cn").await;
    e.define(
        "trigger",
        "Refunds are urgent-ish",
        Some("created"),
        &trigger(
            "Refunds are urgent-ish",
            "created",
            serde_json::json!([{"op": "subject_contains", "value": "退款"}]),
            serde_json::json!([{"action": "add_tag", "value": "refund"},
                {"action": "raise_priority"},
                {"action": "notify", "to": "team_manager", "message": "A refund request came in"}]),
        ),
    )
    .await;
    let d = e
        .open(&input("申请退款", "收到的商品有质量问题，我要退款。", cust))
        .await;
    assert_eq!(d.case.tags, vec!["refund".to_string()]);
    assert_eq!(d.case.priority, "high");
    let fired = d.events.iter().find(|e| e.kind == "triggers").unwrap();
    assert_eq!(fired.detail["fired"].as_array().unwrap().len(), 1);
    // Each change the trigger made is on the record.
    let tags = d
        .events
        .iter()
        .find(|e| e.kind == "tags")
        .expect("a tags event");
    assert_eq!(tags.detail["added"], serde_json::json!(["refund"]));
    let prio = d.events.iter().find(|e| e.kind == "priority").unwrap();
    assert_eq!(
        (prio.detail["from"].as_str(), prio.detail["to"].as_str()),
        (Some("normal"), Some("high"))
    );
    assert!(
        app.store
            .notifications(t, manager.id.0, 10)
            .await
            .unwrap()
            .iter()
            .any(|n| n.kind == "trigger" && n.body.contains("refund request"))
    );
    // Other subjects are left alone.
    let d = e.open(&input("发货时间", "什么时候发货？", cust)).await;
    assert!(d.case.tags.is_empty());
    assert_eq!(d.case.priority, "normal");
    assert!(!kinds(&d).contains(&"triggers"));

    // Two triggers that undo each other run once each and stop.
    e.define(
        "trigger",
        "ping",
        Some("created"),
        &trigger(
            "ping",
            "created",
            serde_json::json!([{"op": "has_tag", "value": "ping"}]),
            serde_json::json!([{"action": "remove_tag", "value": "ping"},
                {"action": "add_tag", "value": "pong"}]),
        ),
    )
    .await;
    e.define(
        "trigger",
        "pong",
        Some("created"),
        &trigger(
            "pong",
            "created",
            serde_json::json!([{"op": "has_tag", "value": "pong"}]),
            serde_json::json!([{"action": "remove_tag", "value": "pong"},
                {"action": "add_tag", "value": "ping"}]),
        ),
    )
    .await;
    let mut i = input("Ping", "pong?", cust);
    i.tags = vec!["ping".into()];
    let d = tokio::time::timeout(std::time::Duration::from_secs(30), e.open(&i))
        .await
        .expect("ping-pong triggers terminate");
    let fired = d.events.iter().find(|e| e.kind == "triggers").unwrap();
    assert_eq!(fired.detail["fired"].as_array().unwrap().len(), 2);
    assert_eq!(d.case.tags, vec!["ping".to_string()]);
    assert_eq!(count(&d, "triggers"), 1);
}

#[tokio::test]
async fn a_trigger_can_reply_with_a_template_on_a_customer_reply() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let agent = e.staff("ana@acme.test", "Ana", Role::Agent).await;
    let cust = e.customer("Park Jisoo", "jisoo@example.kr").await;
    let tpl = app
        .store
        .add_template(
            t,
            "ack",
            "{{customer.name}}님, 메시지를 받았습니다.",
            app.now(),
        )
        .await
        .unwrap();
    e.define(
        "trigger",
        "ack",
        Some("customer_replied"),
        &trigger(
            "ack",
            "customer_replied",
            serde_json::json!([{"op": "status_is", "value": "open"}]),
            serde_json::json!([{"action": "reply_with_template", "template": tpl}]),
        ),
    )
    .await;
    let mut i = input("배송 문의", "배송이 너무 늦어요", cust);
    i.owner_id = Some(agent.id.0);
    let id = id_of(&e.open(&i).await);
    app.reply(
        t,
        &agent,
        id,
        &ReplyInput {
            body: "주문 번호를 알려주세요.".into(),
            status: Some("pending".into()),
            ..ReplyInput::default()
        },
    )
    .await
    .unwrap();
    app.customer_reply(t, CustomerId(cust), id, "1001 입니다.", Vec::new())
        .await
        .unwrap();
    let d = e.detail(id).await;
    let last = d.messages.last().unwrap();
    assert_eq!(last.body_text, "Park Jisoo님, 메시지를 받았습니다.");
    assert_eq!(last.author_kind, "system");
    assert_eq!(last.visibility, "public");
    // An automatic acknowledgement is not the agent's answer.
    assert!(matches!(
        target(&d, "next_response").state,
        TargetStatus::Running { .. }
    ));
}

#[tokio::test]
async fn a_macro_applies_its_actions_and_its_reply() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let agent = e.staff("ana@acme.test", "Ana", Role::Agent).await;
    let cust = e.customer("Sam Lee", "sam@example.com").await;
    let mut i = input("Refund?", "Can I get my money back?", cust);
    i.owner_id = Some(agent.id.0);
    let id = id_of(&e.open(&i).await);
    e.define(
        "macro",
        "Refund: ask for the receipt",
        None,
        &serde_json::json!({"id": 0, "name": "Refund: ask for the receipt",
            "actions": [{"action": "add_tag", "value": "refund"},
                        {"action": "set_priority", "value": "high"},
                        {"action": "set_status", "value": "pending"}],
            "reply_template": "Dear {{customer.name}}, please send us your receipt."}),
    )
    .await;
    let m = app.store.definitions(t, "macro").await.unwrap()[0].id;
    let d = app.apply_macro(t, &agent, id, m).await.unwrap();
    assert_eq!(d.case.tags, vec!["refund".to_string()]);
    assert_eq!(d.case.priority, "high");
    assert_eq!(d.case.status, "pending");
    let last = d.messages.last().unwrap();
    assert_eq!(last.body_text, "Dear Sam Lee, please send us your receipt.");
    assert_eq!(last.author_user_id, Some(agent.id.0));
    assert_eq!(last.visibility, "public");
    // The macro's reply is the agent's answer, and its steps are the agent's.
    assert!(matches!(
        target(&d, "first_response").state,
        TargetStatus::Met { .. }
    ));
    assert!(matches!(
        target(&d, "resolution").state,
        TargetStatus::Paused
    ));
    let macro_event = d.events.iter().find(|e| e.kind == "macro").unwrap();
    assert_eq!(macro_event.actor_id, Some(agent.id.0));
    let prio = d.events.iter().find(|e| e.kind == "priority").unwrap();
    assert_eq!(prio.actor_id, Some(agent.id.0));
    let tags = d
        .events
        .iter()
        .find(|e| e.kind == "tags")
        .expect("a tags event");
    assert_eq!(tags.actor_id, Some(agent.id.0));
    // An unknown macro is not found.
    let err = app.apply_macro(t, &agent, id, m + 1000).await.unwrap_err();
    assert!(matches!(err, CaseError::NotFound("macro")), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Assignment.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn assignment_round_robin_least_loaded_caps_and_abusive_customers() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let manager = e.staff("max@acme.test", "Max", Role::Manager).await;
    let a = e.staff("a@acme.test", "A", Role::Agent).await;
    let b = e.staff("b@acme.test", "B", Role::Agent).await;
    let c = e.staff("c@acme.test", "C", Role::Agent).await;
    let cust = e.customer("Sam Lee", "sam@example.com").await;

    // Round robin alternates.
    let rr = e.team("Round", Some(&manager), "round_robin").await;
    e.member(rr, &a, None).await;
    e.member(rr, &b, None).await;
    let mut owners = Vec::new();
    for n in 0..4 {
        let mut i = input(&format!("RR {n}"), "hello", cust);
        i.team_id = Some(rr);
        owners.push(e.open(&i).await.case.owner_id);
    }
    assert_eq!(
        owners,
        vec![Some(a.id.0), Some(b.id.0), Some(a.id.0), Some(b.id.0)]
    );

    // Least loaded picks the member with fewer open cases (A has 2, B has 2, C none).
    let ll = e.team("Least", Some(&manager), "least_loaded").await;
    e.member(ll, &a, None).await;
    e.member(ll, &b, None).await;
    e.member(ll, &c, None).await;
    let mut i = input("LL", "hello", cust);
    i.team_id = Some(ll);
    assert_eq!(e.open(&i).await.case.owner_id, Some(c.id.0));
    assert_eq!(e.open(&i).await.case.owner_id, Some(c.id.0));
    // Now everyone has 2; solving one of A's makes A the least loaded.
    let a_case = app.queue(t, &a, View::Mine, None, 10).await.unwrap().cases[0].id;
    app.update_case(
        t,
        &a,
        CaseId(a_case),
        &CasePatch {
            status: Some("solved".into()),
            ..CasePatch::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(e.open(&i).await.case.owner_id, Some(a.id.0));

    // An agent at their cap is skipped: C may hold 2 open cases.
    let capped = e.team("Capped", Some(&manager), "round_robin").await;
    e.member(capped, &c, Some(2)).await;
    e.member(capped, &b, None).await;
    let mut i = input("Capped", "hello", cust);
    i.team_id = Some(capped);
    let picks = [
        e.open(&i).await.case.owner_id,
        e.open(&i).await.case.owner_id,
    ];
    assert_eq!(picks, [Some(b.id.0), Some(b.id.0)], "C is at the cap");
    // When everyone is at their cap or away, nobody is picked and the case waits unassigned.
    app.store
        .set_team_member(t, capped, b.id.0, None, false)
        .await
        .unwrap();
    let d = e.open(&i).await;
    assert_eq!(d.case.owner_id, None);
    let err = app.auto_assign(t, &manager, id_of(&d)).await.unwrap_err();
    assert!(matches!(err, CaseError::State(_)), "{err:?}");

    // A manual team assigns nobody, but auto-assign on request offers the least-loaded member.
    let manual = e.team("Manual", Some(&manager), "manual").await;
    e.member(manual, &a, None).await;
    let mut i = input("Manual", "hello", cust);
    i.team_id = Some(manual);
    let d = e.open(&i).await;
    assert_eq!(d.case.owner_id, None);
    let d = app.auto_assign(t, &manager, id_of(&d)).await.unwrap();
    assert_eq!(d.case.owner_id, Some(a.id.0));

    // A customer flagged abusive goes to a manager, whatever the team's strategy.
    let rude = e.customer("Rude Person", "rude@example.com").await;
    app.store
        .set_flag(
            t,
            CustomerId(rude),
            "abusive",
            Some("insulted two agents on the phone"),
            Some(manager.id.0),
            app.now(),
        )
        .await
        .unwrap();
    let mut i = input("You are all useless", "...", rude);
    i.team_id = Some(rr);
    let d = e.open(&i).await;
    assert_eq!(d.case.owner_id, Some(manager.id.0));
    let assigned = d.events.iter().find(|e| e.kind == "assigned").unwrap();
    assert!(
        assigned.detail["reason"]
            .as_str()
            .unwrap()
            .contains("abusive"),
        "{assigned:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Tenant isolation.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_tenants_case_is_not_found_by_any_use_case() {
    let e = env().await;
    let app = &e.app;
    let other = app
        .store
        .ensure_tenant("other", "Other", app.now())
        .await
        .unwrap()
        .id;
    let mine = e.staff("ana@acme.test", "Ana", Role::Agent).await;
    let cust = e.customer("Sam Lee", "sam@example.com").await;
    let id = id_of(&e.open(&input("Private", "my private problem", cust)).await);
    let theirs = app
        .store
        .create_user(
            other,
            "eve@other.test",
            "Eve",
            Role::Admin,
            "x",
            "en",
            app.now(),
        )
        .await
        .unwrap();
    let their_cust = app
        .store
        .create_customer(other, "Mallory", Some("m@other.test"), None, app.now())
        .await
        .unwrap()
        .id;
    let their_team = app
        .store
        .create_team(
            other,
            "Theirs",
            Some(theirs.id.0),
            "round_robin",
            None,
            app.now(),
        )
        .await
        .unwrap()
        .id;
    app.store
        .set_team_member(other, their_team, theirs.id.0, None, true)
        .await
        .unwrap();
    let their_case = app
        .create_case(
            other,
            Actor::System,
            &input("Theirs", "theirs", their_cust.0),
        )
        .await
        .unwrap();
    app.store
        .add_definition(
            other,
            "macro",
            "m",
            None,
            &serde_json::json!({"id": 0, "name": "m", "actions": [{"action": "add_tag", "value": "x"}],
                "reply_template": null})
            .to_string(),
            0,
            app.now(),
        )
        .await
        .unwrap();
    let their_macro = app.store.definitions(other, "macro").await.unwrap()[0].id;
    let before = e.detail(id).await;

    let nf = |r: Result<(), CaseError>, what: &str| match r {
        Err(CaseError::NotFound(_)) => {}
        other => panic!("{what}: {other:?}"),
    };
    let o = other;
    let u = &theirs;
    nf(app.case_detail(o, id, true).await.map(drop), "case_detail");
    nf(
        app.case_detail(o, id, false).await.map(drop),
        "case_detail public",
    );
    nf(app.reply(o, u, id, &reply("hi")).await.map(drop), "reply");
    nf(app.reply(o, u, id, &note("hi")).await.map(drop), "note");
    nf(
        app.customer_reply(o, their_cust, id, "hi", Vec::new())
            .await
            .map(drop),
        "customer_reply",
    );
    nf(
        app.update_case(
            o,
            u,
            id,
            &CasePatch {
                status: Some("open".into()),
                ..CasePatch::default()
            },
        )
        .await
        .map(drop),
        "update_case",
    );
    nf(app.auto_assign(o, u, id).await.map(drop), "auto_assign");
    nf(
        app.transfer_case(o, u, id, their_team, "mine now")
            .await
            .map(drop),
        "transfer_case",
    );
    nf(
        app.merge_cases(o, u, id, id_of(&their_case))
            .await
            .map(drop),
        "merge source",
    );
    nf(
        app.merge_cases(o, u, id_of(&their_case), id)
            .await
            .map(drop),
        "merge target",
    );
    nf(
        app.apply_macro(o, u, id, their_macro).await.map(drop),
        "apply_macro",
    );
    nf(
        app.case_presence(o, u, id, true).await.map(drop),
        "case_presence",
    );
    assert!(
        app.open_tasks(o, None, Some(id)).await.unwrap().is_empty(),
        "open_tasks"
    );
    // Creating a case with this tenant's customer, team, owner or parent from the other
    // tenant finds none of them.
    let mut i = input("Sneaky", "sneaky", cust);
    nf(
        app.create_case(o, Actor::User(u), &i).await.map(drop),
        "customer",
    );
    i.customer = CustomerRef::Id(their_cust.0);
    i.parent_case_id = Some(id.0);
    nf(
        app.create_case(o, Actor::User(u), &i).await.map(drop),
        "parent",
    );
    i.parent_case_id = None;
    i.owner_id = Some(mine.id.0);
    nf(
        app.create_case(o, Actor::User(u), &i).await.map(drop),
        "owner",
    );
    // Queues of the other tenant do not show the case.
    for v in View::ALL {
        let q = app.queue(o, u, v, None, 100).await.unwrap();
        assert!(q.cases.iter().all(|c| c.id != id.0), "{v:?}");
    }
    // And nothing changed on it.
    let after = e.detail(id).await;
    assert_eq!(after.case, before.case);
    assert_eq!(after.messages.len(), before.messages.len());
    assert_eq!(after.events.len(), before.events.len());
}

// ---------------------------------------------------------------------------------------------
// Merging.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn merging_closes_the_source_and_both_keep_their_history() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let agent = e.staff("ana@acme.test", "Ana", Role::Agent).await;
    let cust = e.customer("Sam Lee", "sam@example.com").await;
    let a = id_of(&e.open(&input("Parcel late", "where is it", cust)).await);
    let b = id_of(
        &e.open(&input("Parcel late again", "still nothing", cust))
            .await,
    );
    let d = app.merge_cases(t, &agent, b, a).await.unwrap();
    assert_eq!(d.case.id, a.0);
    assert!(kinds(&d).contains(&"merged"));
    let src = e.detail(b).await;
    assert_eq!(src.case.status, "closed");
    assert_eq!(src.case.merged_into, Some(a.0));
    assert_eq!(src.messages.len(), 1);
    assert!(kinds(&src).contains(&"merged_into"));
    // Merged cases leave the queues; merging again is refused.
    let q = app.queue(t, &agent, View::Open, None, 100).await.unwrap();
    assert_eq!(q.cases.iter().map(|c| c.id).collect::<Vec<_>>(), vec![a.0]);
    let err = app.merge_cases(t, &agent, b, a).await.unwrap_err();
    assert!(matches!(err, CaseError::State(_)), "{err:?}");
    let err = app.merge_cases(t, &agent, a, a).await.unwrap_err();
    assert!(matches!(err, CaseError::Invalid(_)), "{err:?}");
    // Nothing is merged into a closed case, and a closed case is not merged away.
    let c = id_of(
        &e.open(&input("Parcel late, third time", "hello?", cust))
            .await,
    );
    for s in ["solved", "closed"] {
        app.update_case(
            t,
            &agent,
            a,
            &CasePatch {
                status: Some(s.into()),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap();
    }
    for (src, dst) in [(c, a), (a, c)] {
        let err = app.merge_cases(t, &agent, src, dst).await.unwrap_err();
        assert!(
            matches!(err, CaseError::State(ref m) if m.contains("final")),
            "{err:?}"
        );
    }
    let c = e.detail(c).await;
    assert_eq!((c.case.status.as_str(), c.case.merged_into), ("new", None));
}

// ---------------------------------------------------------------------------------------------
// Queues.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn queue_counts_are_right_and_capped_and_pages_return_every_case_once() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let agent = e.staff("ana@acme.test", "Ana", Role::Agent).await;
    let cust = e.customer("Sam Lee", "sam@example.com").await;
    // A few real cases: two of them mine, one solved.
    let mut mine = input("Mine", "m", cust);
    mine.owner_id = Some(agent.id.0);
    let m1 = id_of(&e.open(&mine).await);
    let m2 = id_of(&e.open(&mine).await);
    let u1 = id_of(&e.open(&input("Nobody's", "u", cust)).await);
    app.update_case(
        t,
        &agent,
        m2,
        &CasePatch {
            status: Some("solved".into()),
            ..CasePatch::default()
        },
    )
    .await
    .unwrap();
    let counts: BTreeMap<&str, (i64, bool)> = app
        .queue_counts(t, &agent)
        .await
        .unwrap()
        .into_iter()
        .map(|(v, n, capped)| (v.as_str(), (n, capped)))
        .collect();
    assert_eq!(counts["mine"], (1, false));
    assert_eq!(counts["unassigned"], (1, false));
    assert_eq!(counts["open"], (2, false));
    assert_eq!(counts["done"], (1, false));
    assert_eq!(counts["handoff"], (0, false));
    let q = app.queue(t, &agent, View::Mine, None, 10).await.unwrap();
    assert_eq!(q.cases.iter().map(|c| c.id).collect::<Vec<_>>(), vec![m1.0]);
    let q = app
        .queue(t, &agent, View::Unassigned, None, 10)
        .await
        .unwrap();
    assert_eq!(q.cases.iter().map(|c| c.id).collect::<Vec<_>>(), vec![u1.0]);

    // Imported history: 1,100 open unassigned cases, many updated at the same instant.
    let now = app.now();
    let rows: Vec<Vec<Val>> = (0..1100)
        .map(|n| {
            vec![
                Val::Int(t.0),
                Val::Int(10_000 + n),
                Val::Text(format!("Imported {n}")),
                Val::Text("question".into()),
                Val::Text("email".into()),
                Val::Int(cust),
                Val::Text("normal".into()),
                Val::Text("open".into()),
                Val::Int(now - 1000),
                Val::Int(now - 1000 - (n % 7) * 1000),
            ]
        })
        .collect();
    let mut tx = app.store.begin().await.unwrap();
    insert_rows(
        &mut tx,
        "cases",
        &[
            "tenant_id",
            "number",
            "subject",
            "kind",
            "channel",
            "customer_id",
            "priority",
            "status",
            "created_at",
            "updated_at",
        ],
        &rows,
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let q = app
        .queue(t, &agent, View::Unassigned, None, 50)
        .await
        .unwrap();
    assert_eq!(q.count, QUEUE_COUNT_CAP);
    assert!(q.count_capped);
    let counts = app.queue_counts(t, &agent).await.unwrap();
    let open = counts.iter().find(|(v, _, _)| *v == View::Open).unwrap();
    assert_eq!((open.1, open.2), (QUEUE_COUNT_CAP, true));
    let mine_count = counts.iter().find(|(v, _, _)| *v == View::Mine).unwrap();
    assert_eq!((mine_count.1, mine_count.2), (1, false));

    // Paging through the open view returns every open case exactly once, newest first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let p = app
            .queue(t, &agent, View::Open, cursor.as_deref(), 100)
            .await
            .unwrap();
        assert!(p.cases.len() <= 100);
        seen.extend(p.cases.iter().map(|c| (c.updated_at, c.id)));
        pages += 1;
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 50, "pagination does not end");
    }
    assert_eq!(seen.len(), 1102);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, ties by id");
    sorted.dedup();
    assert_eq!(sorted.len(), 1102, "no case twice");
    // Oversized pages are clamped and a forged cursor is refused.
    let p = app
        .queue(t, &agent, View::Open, None, 10_000)
        .await
        .unwrap();
    assert_eq!(p.cases.len(), 100);
    let err = app
        .queue(t, &agent, View::Open, Some("1;DROP TABLE cases"), 10)
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn breaching_queue_pages_by_due_time() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let agent = e.staff("ana@acme.test", "Ana", Role::Agent).await;
    let cust = e.customer("Sam Lee", "sam@example.com").await;
    let mut ids = Vec::new();
    for n in 0..7 {
        let mut i = input(&format!("Case {n}"), "hi", cust);
        // Urgent cases are due within the hour (60 minutes).
        i.priority = Some("urgent".into());
        ids.push(id_of(&e.open(&i).await).0);
        app.clock.advance_ms(MIN);
    }
    // A normal one is due in 8 hours: not breaching.
    e.open(&input("Later", "hi", cust)).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let p = app
            .queue(t, &agent, View::Breaching, cursor.as_deref(), 3)
            .await
            .unwrap();
        assert_eq!(p.count, 7);
        seen.extend(p.cases.iter().map(|c| c.id));
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ids, "soonest due first, each once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cases_get_distinct_numbers() {
    let e = env().await;
    let cust = e.customer("Sam Lee", "sam@example.com").await;
    let mut tasks = Vec::new();
    for n in 0..12 {
        let app = e.app.clone();
        let t = e.t;
        tasks.push(tokio::spawn(async move {
            app.create_case(t, Actor::System, &input(&format!("Rush {n}"), "hi", cust))
                .await
                .map(|d| d.case.number)
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.unwrap().unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=12).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// Replies on the channel of origin, attachments, presence.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_reply_goes_out_on_the_channel_it_came_in_on() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let agent = e.staff("ana@acme.test", "Ana", Role::Agent).await;
    let cust = e.customer("Old Mr Kim", "kim@example.kr").await;
    let mut routes = Vec::new();
    for channel in ["letter", "phone", "email", "portal"] {
        let mut i = input(&format!("By {channel}"), "hello", cust);
        i.channel = channel.into();
        let id = id_of(&e.open(&i).await);
        let d = app
            .reply(t, &agent, id, &reply("Dear Mr Kim, ..."))
            .await
            .unwrap();
        let m = d.messages.last().unwrap();
        routes.push((
            channel,
            m.route.clone().unwrap(),
            m.delivery_state.clone().unwrap(),
            app.open_tasks(t, None, Some(id))
                .await
                .unwrap()
                .iter()
                .map(|t| (t.kind.clone(), t.assignee_id))
                .collect::<Vec<_>>(),
        ));
    }
    let me = Some(agent.id.0);
    assert_eq!(
        routes,
        vec![
            (
                "letter",
                "letter_page".into(),
                "ready_to_print".into(),
                vec![("letter".to_string(), me)]
            ),
            (
                "phone",
                "call_task".into(),
                "call_task".into(),
                vec![("call".to_string(), me)]
            ),
            ("email", "email".into(), "queued".into(), vec![]),
            ("portal", "portal".into(), "published".into(), vec![]),
        ]
    );
    // The agent may pick another route; a route that does not exist is refused.
    let mut i = input("By phone, answer by email", "hello", cust);
    i.channel = "phone".into();
    let id = id_of(&e.open(&i).await);
    let d = app
        .reply(
            t,
            &agent,
            id,
            &ReplyInput {
                body: "See the mail".into(),
                route: Some("email".into()),
                ..ReplyInput::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(d.messages.last().unwrap().route.as_deref(), Some("email"));
    assert!(app.open_tasks(t, None, Some(id)).await.unwrap().is_empty());
    let err = app
        .reply(
            t,
            &agent,
            id,
            &ReplyInput {
                body: "x".into(),
                route: Some("pigeon".into()),
                ..ReplyInput::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CaseError::Invalid(ref m) if m.contains("pigeon")),
        "{err:?}"
    );
}

#[tokio::test]
async fn attachments_of_notes_are_marked_internal() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let agent = e.staff("ana@acme.test", "Ana", Role::Agent).await;
    let cust = e.customer("Sam Lee", "sam@example.com").await;
    let file = |name: &str| concierge_store::cases::NewAttachment {
        filename: name.into(),
        content_type: "image/png".into(),
        size: 1234,
        sha256: "ab".repeat(32),
    };
    let mut i = input("Photo", "see the photo", cust);
    i.attachments = vec![file("broken.png")];
    let id = id_of(&e.open(&i).await);
    app.reply(
        t,
        &agent,
        id,
        &ReplyInput {
            body: "courier's damage report".into(),
            internal: true,
            attachments: vec![file("report.png")],
            ..ReplyInput::default()
        },
    )
    .await
    .unwrap();
    let public = app.store.case_messages(t, id, false).await.unwrap();
    let names: Vec<&str> = public
        .iter()
        .flat_map(|m| m.attachments.iter().map(|a| a.filename.as_str()))
        .collect();
    assert_eq!(names, vec!["broken.png"]);
    let all = app.store.case_messages(t, id, true).await.unwrap();
    let report = all
        .iter()
        .flat_map(|m| m.attachments.iter())
        .find(|a| a.filename == "report.png")
        .unwrap();
    let (_, visibility) = app.store.attachment(t, report.id).await.unwrap().unwrap();
    assert_eq!(visibility, "internal");
    let other = app
        .store
        .ensure_tenant("other", "Other", app.now())
        .await
        .unwrap()
        .id;
    assert!(
        app.store
            .attachment(other, report.id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn agents_see_who_else_is_on_a_case() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let ana = e.staff("ana@acme.test", "Ana", Role::Agent).await;
    let bo = e.staff("bo@acme.test", "Bo", Role::Agent).await;
    let cust = e.customer("Sam Lee", "sam@example.com").await;
    let id = id_of(&e.open(&input("Collision", "hello", cust)).await);
    assert!(
        app.case_presence(t, &ana, id, false)
            .await
            .unwrap()
            .is_empty()
    );
    let others = app.case_presence(t, &bo, id, true).await.unwrap();
    assert_eq!(others.len(), 1);
    assert_eq!(
        (others[0].user_id, others[0].mode.as_str()),
        (ana.id.0, "viewing")
    );
    let others = app.case_presence(t, &ana, id, false).await.unwrap();
    assert_eq!(
        (others[0].user_id, others[0].mode.as_str()),
        (bo.id.0, "replying")
    );
    // Someone who left a while ago is not shown.
    app.clock.advance_ms(2 * MIN);
    assert!(
        app.case_presence(t, &ana, id, false)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn target_breached_triggers_run_once_when_a_target_is_missed() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let manager = e.staff("max@acme.test", "Max", Role::Manager).await;
    e.define(
        "trigger",
        "Missed",
        Some("target_breached"),
        &trigger(
            "Missed",
            "target_breached",
            serde_json::json!([{"op": "lacks_tag", "value": "missed"}]),
            serde_json::json!([{"action": "add_tag", "value": "missed"},
                {"action": "notify", "to": "team_manager", "message": "A target was missed"}]),
        ),
    )
    .await;
    let cust = e.customer("Sam Lee", "sam@example.com").await;
    let id = id_of(&e.open(&input("Nobody answers", "hello?", cust)).await);
    let other = e.second_app().await;
    // 75%: not missed yet.
    app.clock.advance_ms(6 * HOUR + MIN);
    app.run_escalations("a").await.unwrap();
    assert!(e.detail(id).await.case.tags.is_empty());
    // 100% and 150% of the first response pass together, on two nodes at once.
    app.clock.advance_ms(6 * HOUR);
    let (a, b) = tokio::join!(app.run_escalations("a"), other.run_escalations("b"));
    a.unwrap();
    b.unwrap();
    let d = e.detail(id).await;
    assert_eq!(d.case.tags, vec!["missed".to_string()]);
    assert_eq!(count(&d, "triggers"), 1, "{:?}", kinds(&d));
    let told: Vec<_> = app
        .store
        .notifications(t, manager.id.0, 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.kind == "trigger")
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
}

#[tokio::test]
async fn the_demo_setup_gives_working_teams_templates_rules_and_live_cases_once() {
    let e = env().await;
    let manager = e
        .staff("manager@demo.test", "Mia Manager", Role::Manager)
        .await;
    e.staff("agent@demo.test", "Ari Agent", Role::Agent).await;
    e.app.seed_demo_cases(e.t).await.unwrap();
    e.app.seed_demo_cases(e.t).await.unwrap();
    let teams = e.app.store.teams(e.t).await.unwrap();
    assert_eq!(teams.len(), 2, "a second run adds nothing");
    assert!(teams.iter().all(|t| t.manager_id == Some(manager.id.0)));
    assert_eq!(e.app.store.templates(e.t).await.unwrap().len(), 3);
    let open = e
        .app
        .store
        .list_cases(
            e.t,
            &concierge_store::cases::CaseFilter::default(),
            concierge_store::cases::QueueOrder::Updated,
            None,
            50,
        )
        .await
        .unwrap();
    assert_eq!(open.len(), 4);
    // Every demo case has an owner from Support and running targets.
    for c in &open {
        assert!(c.owner_id.is_some(), "{}", c.subject);
        assert!(c.next_due_at.is_some(), "{}", c.subject);
    }
    // The refund trigger put the Chinese refund complaint first.
    let refund = open.iter().find(|c| c.subject == "订单退款").unwrap();
    assert_eq!(refund.tags, vec!["refund".to_string()]);
    assert_eq!(refund.priority, "high");
}

/// Issue 6's acceptance, the part that belongs to cases: a tier rule change followed by an
/// analytics run moves customers between tiers, and their new cases get the response target
/// of their new tier.
#[tokio::test]
async fn a_tier_rule_change_and_an_analytics_run_change_response_targets() {
    use concierge_app::analytics::{RunOptions, run, set_tier_rules};
    use concierge_app::analytics::{TierDefinition, TierRule};
    use concierge_app::generate::{GenOptions, generate};
    let e = env().await;
    let opts = GenOptions {
        seed: 5,
        customers: 200,
        households: None,
        orders_per_customer: 6.0,
        cases: 0,
        messages_per_case: 1.0,
        end_ms: e.app.now(),
    };
    generate(&e.app, e.t, &opts, &|_, _, _| {}).await.unwrap();
    let tiers = |all_platinum: bool| {
        vec![
            TierDefinition {
                name: "Platinum".into(),
                rule: TierRule::MinTotalSpend {
                    minor: if all_platinum { 0 } else { i64::MAX },
                },
            },
            TierDefinition {
                name: "Bronze".into(),
                rule: TierRule::Everyone,
            },
        ]
    };
    set_tier_rules(&e.app, e.t, &tiers(false)).await.unwrap();
    run(&e.app, e.t, &RunOptions::default(), &|_, _, _| {})
        .await
        .unwrap();
    let current = e.app.store.current_tiers(e.t).await.unwrap();
    let (&customer, (tier, _)) = current.iter().next().unwrap();
    assert_eq!(tier, "Bronze");
    let first_response = |d: &concierge_app::cases::CaseDetail| {
        d.targets
            .iter()
            .find(|t| t.row.kind == "first_response")
            .unwrap()
            .row
            .business_ms
    };
    let before = open_case(&e, customer, "Before").await;
    assert_eq!(
        first_response(&before),
        480 * MIN,
        "Bronze gets the standard target"
    );
    // Everyone qualifies for Platinum now.
    set_tier_rules(&e.app, e.t, &tiers(true)).await.unwrap();
    run(&e.app, e.t, &RunOptions::default(), &|_, _, _| {})
        .await
        .unwrap();
    let (tier, _) = e.app.store.current_tiers(e.t).await.unwrap()[&customer].clone();
    assert_eq!(tier, "Platinum");
    let after = open_case(&e, customer, "After").await;
    assert_eq!(
        first_response(&after),
        60 * MIN,
        "Platinum answers within the hour"
    );
    assert_eq!(after.tier.as_deref(), Some("Platinum"));
}

async fn open_case(e: &Env, customer: i64, subject: &str) -> concierge_app::cases::CaseDetail {
    e.app
        .create_case(
            e.t,
            Actor::System,
            &NewCaseInput {
                subject: subject.into(),
                body: "Hello".into(),
                channel: "email".into(),
                kind: None,
                priority: None,
                customer: CustomerRef::Id(customer),
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
}

/// Issue 6: the rice seller knocks before the jar is empty, and lost customers get a call.
/// An analytics run leaves refill offers and win-back calls in the task list, once.
#[tokio::test]
async fn an_analytics_run_leaves_refill_offers_and_win_back_calls_once() {
    use concierge_app::analytics::{RunOptions, run};
    use concierge_app::generate::{GenOptions, generate};
    let e = env().await;
    let opts = GenOptions {
        seed: 11,
        customers: 300,
        households: None,
        orders_per_customer: 8.0,
        cases: 0,
        messages_per_case: 1.0,
        end_ms: e.app.now(),
    };
    generate(&e.app, e.t, &opts, &|_, _, _| {}).await.unwrap();
    let first = run(&e.app, e.t, &RunOptions::default(), &|_, _, _| {})
        .await
        .unwrap();
    assert!(first.tasks_created > 0, "{first:?}");
    // The stored report (what the dashboard and the API show) counts them too.
    let stored = concierge_app::analytics::latest_report(&e.app, e.t)
        .await
        .unwrap()
        .expect("a stored report");
    assert_eq!(stored.tasks_created, first.tasks_created);
    assert_eq!(stored.tier_triggers_fired, first.tier_triggers_fired);
    let refills = e
        .app
        .open_tasks(e.t, Some("replenish"), None)
        .await
        .unwrap();
    let winbacks = e.app.open_tasks(e.t, Some("winback"), None).await.unwrap();
    // One win-back call per at-risk customer; the rest of the new tasks are refill offers.
    assert_eq!(winbacks.len() as u64, first.at_risk.min(200));
    assert!(refills.len() as u64 <= first.tasks_created - winbacks.len() as u64);
    assert!(!refills.is_empty() && !winbacks.is_empty());
    let r = &refills[0];
    assert!(
        r.title.starts_with("Offer ") && r.title.contains("runs out"),
        "{}",
        r.title
    );
    assert!(r.customer_id.is_some());
    // Due before the predicted run-out, by the lead days.
    assert!(r.due_at <= e.app.now() + 7 * 24 * HOUR);
    assert_eq!(
        first.at_risk as usize,
        winbacks.len().max(first.at_risk as usize)
    );
    // A second run the same day adds nothing.
    let again = run(&e.app, e.t, &RunOptions::default(), &|_, _, _| {})
        .await
        .unwrap();
    assert_eq!(again.tasks_created, 0);
}

/// An escalation step decided on a case that an agent changed meanwhile is not written (and
/// not recorded as fired): the next round decides again with the agent's change in view.
#[tokio::test]
async fn an_escalation_step_never_overwrites_a_concurrent_change() {
    let e = env().await;
    let customer = e.customer("Lee", "lee@example.com").await;
    let d = open_case(&e, customer, "Slow").await;
    let target = d
        .targets
        .iter()
        .find(|t| t.row.kind == "first_response")
        .unwrap()
        .row
        .clone();
    let stale = d.case.version - 1;
    let w = concierge_store::cases::CaseWrite {
        change: concierge_store::cases::CaseChange {
            priority: Some("urgent".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let r = e
        .app
        .store
        .fire_escalation(
            e.t,
            CaseId(d.case.id),
            target.id,
            1,
            "node-a",
            stale,
            &w,
            e.app.now(),
        )
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert!(
        e.app
            .store
            .fired_escalations(target.id)
            .await
            .unwrap()
            .is_empty()
    );
    let now = e
        .app
        .store
        .case(e.t, CaseId(d.case.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.priority, "normal");
    // At the current version the step is written once.
    let fired = e
        .app
        .store
        .fire_escalation(
            e.t,
            CaseId(d.case.id),
            target.id,
            1,
            "node-a",
            now.version,
            &w,
            e.app.now(),
        )
        .await
        .unwrap();
    assert!(fired);
    assert_eq!(
        e.app.store.fired_escalations(target.id).await.unwrap(),
        vec![1]
    );
}
