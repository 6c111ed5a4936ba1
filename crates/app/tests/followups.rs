#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Story tests of follow-ups, task queues, tier-change triggers and scorecards (issue 7 items
//! 3 and 5, issue 6): a solved complaint leaves a follow-up call that shows up when it is due
//! and whose outcome lands on the customer's timeline; check-ins come once per period; a tier
//! change fires its trigger once. Each test gets a fresh database — SQLite by default,
//! PostgreSQL when `CONCIERGE_TEST_DATABASE_URL` is set — and moves the app's clock.

use concierge_app::cases::{Actor, CaseError, CasePatch, CustomerRef, NewCaseInput};
use concierge_app::followups::{TaskFilter, TaskQueue};
use concierge_app::{App, Config};
use concierge_domain::scorecard::{GroupBy, Period};
use concierge_domain::{CaseId, CustomerId, Role, TenantId};
use concierge_store::UserRow;
use concierge_store::followups::TaskItem;
use concierge_store::testing::TestDb;

const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;

struct Env {
    _db: TestDb,
    app: App,
    t: TenantId,
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
    Env { _db: db, app, t }
}

impl Env {
    async fn staff(&self, t: TenantId, email: &str, role: Role) -> UserRow {
        self.app
            .store
            .create_user(t, email, email, role, "not-a-hash", "en", self.app.now())
            .await
            .unwrap()
    }

    async fn customer(&self, name: &str) -> i64 {
        let email = format!("{}@example.test", name.to_lowercase());
        self.app
            .store
            .create_customer(self.t, name, Some(&email), None, self.app.now())
            .await
            .unwrap()
            .id
            .0
    }

    /// Gives a customer a tier the way the analytics run stores it.
    async fn set_tier(&self, customer: i64, tier: &str) {
        concierge_store::testing::set_customer_tier(
            &self.app.store,
            self.t,
            customer,
            tier,
            self.app.now(),
        )
        .await
        .unwrap();
    }

    /// Opens a case of `kind` owned by `owner` and solves it; returns its id.
    async fn solved(&self, owner: &UserRow, customer: i64, kind: &str, tags: &[&str]) -> CaseId {
        let d = self
            .app
            .create_case(
                self.t,
                Actor::System,
                &NewCaseInput {
                    subject: format!("{kind} of customer {customer}"),
                    body: "Something went wrong".into(),
                    channel: "email".into(),
                    kind: Some(kind.into()),
                    priority: None,
                    customer: CustomerRef::Id(customer),
                    team_id: None,
                    owner_id: Some(owner.id.0),
                    tags: tags.iter().map(|t| t.to_string()).collect(),
                    order_id: None,
                    parent_case_id: None,
                    attachments: vec![],
                },
            )
            .await
            .unwrap();
        let id = CaseId(d.case.id);
        self.set_status(owner, id, "solved").await;
        id
    }

    async fn set_status(&self, who: &UserRow, id: CaseId, status: &str) {
        self.app
            .update_case(
                self.t,
                who,
                id,
                &CasePatch {
                    status: Some(status.into()),
                    ..CasePatch::default()
                },
            )
            .await
            .unwrap();
    }

    async fn queue(&self, user: &UserRow, q: TaskQueue) -> Vec<TaskItem> {
        self.app
            .task_queue(self.t, user, q, &TaskFilter::default())
            .await
            .unwrap()
    }

    async fn tasks_of_case(&self, user: &UserRow, case: CaseId) -> Vec<TaskItem> {
        self.app
            .task_queue(
                self.t,
                user,
                TaskQueue::All,
                &TaskFilter {
                    case: Some(case.0),
                    ..TaskFilter::default()
                },
            )
            .await
            .unwrap()
    }
}

fn set_clock(app: &App, at_ms: i64) {
    app.clock.advance_ms(at_ms - app.now());
}

/// The acceptance: a follow-up is created after a solved case, shows up in the queue when
/// due, and its outcome appears on the timeline.
#[tokio::test]
async fn a_solved_complaint_leaves_a_follow_up_whose_outcome_lands_on_the_timeline() {
    let e = env().await;
    let (app, t) = (&e.app, e.t);
    let ann = e.staff(t, "ann@acme.test", Role::Agent).await;
    let plat = e.customer("Plato").await;
    let plain = e.customer("Plain").await;
    e.set_tier(plat, "Platinum").await;

    let solved_at = app.now();
    let c1 = e.solved(&ann, plat, "complaint", &[]).await;
    let c2 = e.solved(&ann, plain, "complaint", &[]).await;
    let question = e.solved(&ann, plat, "question", &[]).await;
    let spam = e.solved(&ann, plain, "complaint", &["spam"]).await;

    let f1 = e.tasks_of_case(&ann, c1).await;
    assert_eq!(f1.len(), 1, "one follow-up per solve: {f1:?}");
    let f1 = &f1[0];
    assert_eq!(f1.task.kind, "follow_up");
    assert_eq!(f1.task.customer_id, Some(plat));
    assert_eq!(f1.task.assignee_id, Some(ann.id.0), "the owner calls back");
    assert!(
        (f1.task.due_at - (solved_at + 3 * DAY)).abs() < MIN,
        "Platinum: 3 days after the solve"
    );
    assert!(f1.task.title.contains("call"), "{}", f1.task.title);
    let f2 = e.tasks_of_case(&ann, c2).await;
    assert_eq!(f2.len(), 1);
    assert!(
        (f2[0].task.due_at - (solved_at + 7 * DAY)).abs() < MIN,
        "no tier: 7 days"
    );
    assert!(
        e.tasks_of_case(&ann, question).await.is_empty(),
        "questions get none"
    );
    assert!(
        e.tasks_of_case(&ann, spam).await.is_empty(),
        "spam gets none"
    );

    // Not due yet: the queue is empty; after 3 days the Platinum call shows, after 7 both.
    assert!(e.queue(&ann, TaskQueue::FollowupsDue).await.is_empty());
    assert_eq!(e.queue(&ann, TaskQueue::Mine).await.len(), 2);
    set_clock(app, solved_at + 3 * DAY + MIN);
    let due: Vec<i64> = e
        .queue(&ann, TaskQueue::FollowupsDue)
        .await
        .iter()
        .map(|i| i.task.id)
        .collect();
    assert_eq!(due, vec![f1.task.id]);
    set_clock(app, solved_at + 7 * DAY + MIN);
    assert_eq!(e.queue(&ann, TaskQueue::FollowupsDue).await.len(), 2);

    // Bad input loses nothing.
    let bad = app
        .complete_task(t, &ann, f1.task.id, "maybe", "")
        .await
        .unwrap_err();
    assert!(matches!(bad, CaseError::Invalid(_)), "{bad}");
    // Another tenant's agent cannot see or complete it.
    let other_t = app
        .store
        .ensure_tenant("other", "Other", app.now())
        .await
        .unwrap()
        .id;
    let olga = e.staff(other_t, "olga@other.test", Role::Agent).await;
    let err = app
        .complete_task(other_t, &olga, f1.task.id, "reached", "")
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::NotFound(_)), "{err}");
    assert!(
        app.task_queue(other_t, &olga, TaskQueue::All, &TaskFilter::default())
            .await
            .unwrap()
            .is_empty()
    );

    let done = app
        .complete_task(
            t,
            &ann,
            f1.task.id,
            "reached",
            "Happy with the refund; 喜欢新的",
        )
        .await
        .unwrap();
    assert_eq!(done.status, "done");
    let outcome: serde_json::Value =
        serde_json::from_str(done.outcome.as_deref().unwrap()).unwrap();
    assert_eq!(outcome["result"], "reached");
    let again = app
        .complete_task(t, &ann, f1.task.id, "no_answer", "")
        .await
        .unwrap_err();
    assert!(
        matches!(again, CaseError::State(_)),
        "done stays done: {again}"
    );
    assert_eq!(e.queue(&ann, TaskQueue::FollowupsDue).await.len(), 1);

    let timeline = app
        .store
        .timeline(t, CustomerId(plat), Some("task_done"), None, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(timeline.len(), 1);
    let s = &timeline[0].summary;
    assert_eq!(s["result"], "reached");
    assert_eq!(s["note"], "Happy with the refund; 喜欢新的");
    assert_eq!(s["case_id"], c1.0);
    assert_eq!(timeline[0].actor_id, Some(ann.id.0));

    // Reopened and solved again: a second solve earns a second follow-up, not more.
    e.set_status(&ann, c1, "open").await;
    e.set_status(&ann, c1, "solved").await;
    let all = app
        .store
        .open_tasks(t, Some("follow_up"), Some(c1), 10)
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
}

/// Tenant rules replace the defaults: a question solved gets a message the next day.
#[tokio::test]
async fn tenant_follow_up_rules_replace_the_defaults() {
    let e = env().await;
    let ann = e.staff(e.t, "ann@acme.test", Role::Agent).await;
    let c = e.customer("Quinn").await;
    let spec = serde_json::json!({
        "name": "Questions: a message next day", "kinds": ["question"], "days": 1,
        "channel": "message"
    });
    e.app
        .store
        .add_definition(
            e.t,
            "followup",
            "q",
            None,
            &spec.to_string(),
            0,
            e.app.now(),
        )
        .await
        .unwrap();
    let q = e.solved(&ann, c, "question", &[]).await;
    let complaint = e.solved(&ann, c, "complaint", &[]).await;
    let f = e.tasks_of_case(&ann, q).await;
    assert_eq!(f.len(), 1);
    assert!(f[0].task.title.contains("message"), "{}", f[0].task.title);
    assert!((f[0].task.due_at - (e.app.now() + DAY)).abs() < MIN);
    assert!(e.tasks_of_case(&ann, complaint).await.is_empty());
}

/// Check-ins: Platinum every 30 days, Gold every 90, once per period however often the
/// schedule runs.
#[tokio::test]
async fn check_ins_come_once_per_period_per_tier() {
    let e = env().await;
    let app = &e.app;
    let ann = e.staff(e.t, "ann@acme.test", Role::Agent).await;
    let p = e.customer("Pat").await;
    let g = e.customer("Gil").await;
    let b = e.customer("Bob").await;
    e.set_tier(p, "Platinum").await;
    e.set_tier(g, "Gold").await;
    e.set_tier(b, "Bronze").await;
    // One day into a 90-day (and so a 30-day) period.
    let t0 = (app.now() / (90 * DAY) + 1) * 90 * DAY + DAY;
    set_clock(app, t0);
    assert_eq!(app.run_check_ins().await.unwrap(), 2);
    assert_eq!(
        app.run_check_ins().await.unwrap(),
        0,
        "idempotent per period"
    );
    let due = e.queue(&ann, TaskQueue::FollowupsDue).await;
    let mut who: Vec<i64> = due.iter().filter_map(|i| i.task.customer_id).collect();
    who.sort();
    assert_eq!(who, vec![p, g]);
    assert!(due.iter().all(|i| i.task.kind == "check_in"));
    // 30 days on: Platinum again, Gold not yet.
    set_clock(app, t0 + 30 * DAY);
    assert_eq!(app.run_check_ins().await.unwrap(), 1);
    assert_eq!(app.run_check_ins().await.unwrap(), 0);
    set_clock(app, t0 + 90 * DAY);
    assert_eq!(app.run_check_ins().await.unwrap(), 2);
}

/// Issue 6: a tier rule change and an analytics run fire a `tier_changed` trigger once per
/// change — a welcome task and a customer tag for every new Platinum customer — and a run
/// that changes nothing fires nothing.
#[tokio::test]
async fn a_tier_change_fires_its_trigger_once_per_change() {
    use concierge_app::analytics::{RunOptions, TierDefinition, TierRule, run, set_tier_rules};
    use concierge_app::generate::{GenOptions, generate};
    let e = env().await;
    let app = &e.app;
    let mia = e.staff(e.t, "mia@acme.test", Role::Manager).await;
    let opts = GenOptions {
        seed: 5,
        customers: 60,
        households: None,
        orders_per_customer: 5.0,
        cases: 0,
        messages_per_case: 1.0,
        end_ms: app.now(),
    };
    generate(app, e.t, &opts, &|_, _, _| {}).await.unwrap();
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
    set_tier_rules(app, e.t, &tiers(false)).await.unwrap();
    run(app, e.t, &RunOptions::default(), &|_, _, _| {})
        .await
        .unwrap();
    let trigger = serde_json::json!({
        "id": 0, "name": "Welcome to Platinum", "event": "tier_changed",
        "conditions": [{"op": "tier_is", "value": "Platinum"}, {"op": "tier_upgraded"}],
        "actions": [
            {"action": "create_task", "title": "Welcome call", "due_in_days": 2},
            {"action": "add_tag", "value": "platinum-welcome"},
            {"action": "notify", "to": "team_manager", "message": "New Platinum customer"}
        ],
        "position": 0, "active": true
    });
    app.store
        .add_definition(
            e.t,
            "trigger",
            "Welcome to Platinum",
            Some("tier_changed"),
            &trigger.to_string(),
            0,
            app.now(),
        )
        .await
        .unwrap();
    set_tier_rules(app, e.t, &tiers(true)).await.unwrap();
    let report = run(app, e.t, &RunOptions::default(), &|_, _, _| {})
        .await
        .unwrap();
    assert!(report.upgrades > 0, "{report:?}");
    assert_eq!(report.tier_triggers_fired, report.upgrades);
    let tasks = app
        .store
        .open_tasks(e.t, Some("tier_change"), None, 1000)
        .await
        .unwrap();
    assert_eq!(tasks.len() as u64, report.upgrades);
    assert!(
        tasks
            .iter()
            .all(|t| t.title.contains("Welcome call") && t.title.contains("Bronze → Platinum"))
    );
    let one = tasks[0].customer_id.unwrap();
    let profile = app.customer_profile(e.t, CustomerId(one)).await.unwrap();
    assert!(profile.tags.contains(&"platinum-welcome".to_string()));
    let notes = app.store.notifications(e.t, mia.id.0, 1000).await.unwrap();
    assert_eq!(
        notes.iter().filter(|n| n.kind == "tier_changed").count() as u64,
        report.upgrades
    );
    // Nothing changes on the next run: nothing fires.
    let again = run(app, e.t, &RunOptions::default(), &|_, _, _| {})
        .await
        .unwrap();
    assert_eq!(again.tier_changes, 0);
    assert_eq!(again.tier_triggers_fired, 0);
    let tasks_after = app
        .store
        .open_tasks(e.t, Some("tier_change"), None, 1000)
        .await
        .unwrap();
    assert_eq!(tasks_after.len(), tasks.len());
}

/// Scorecards read what happened: two cases solved by Ann, one reopened.
#[tokio::test]
async fn scorecards_count_what_agents_handled() {
    let e = env().await;
    let app = &e.app;
    let ann = e.staff(e.t, "ann@acme.test", Role::Agent).await;
    let c = e.customer("Sam").await;
    let a = e.solved(&ann, c, "question", &[]).await;
    let b = e.solved(&ann, c, "question", &[]).await;
    e.set_status(&ann, a, "open").await;
    e.set_status(&ann, a, "solved").await;
    let today = jiff::Timestamp::from_millisecond(app.now())
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let rows = app
        .scorecard(e.t, GroupBy::Agent, Period::Month, today, today)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].group, Some(ann.id.0));
    assert_eq!(rows[0].cases_handled, 2);
    assert_eq!(rows[0].reopen_rate, Some(0.5));
    assert_eq!(rows[0].csat_avg, None, "no surveys yet");
    // The solved notices send one survey per case; the customer answers one of the two.
    app.queue_customer_notices().await.unwrap();
    app.portal_rate(
        e.t,
        concierge_domain::ids::CustomerId(c),
        b,
        "4",
        "Quick and kind",
    )
    .await
    .unwrap();
    let rows = app
        .scorecard(e.t, GroupBy::Agent, Period::Month, today, today)
        .await
        .unwrap();
    assert_eq!(rows[0].csat_avg, Some(4.0), "{rows:?}");
    assert_eq!(rows[0].csat_response_rate, Some(0.5), "{rows:?}");
}
