#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Story tests of what customers are told and asked (issue 7): which case steps become notice
//! mails (and which never do), the customer's own choice, surveys only where they belong, one
//! answer per survey, a task for the manager after a low rating, and notices sent once when
//! two nodes deliver at the same time. SQLite by default, PostgreSQL when
//! `CONCIERGE_TEST_DATABASE_URL` is set.

use concierge_app::cases::{Actor, CasePatch, CustomerRef, NewCaseInput, ReplyInput};
use concierge_app::portal::{PortalError, PortalSettings};
use concierge_app::{App, Config};
use concierge_domain::portal::NotifyChoice;
use concierge_domain::{CaseId, CustomerId, Role, TenantId};
use concierge_store::UserRow;
use concierge_store::testing::TestDb;

struct Env {
    db: TestDb,
    app: App,
    t: TenantId,
    _data: tempfile::TempDir,
}

async fn env() -> Env {
    let db = TestDb::new().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.storage.database_url = db.url.clone();
    cfg.storage.data_dir = data.path().to_path_buf();
    cfg.server.public_url = "https://help.example.com".into();
    let app = App::new(db.store().await.unwrap(), cfg);
    let t = app
        .store
        .ensure_tenant("acme", "Acme", app.now())
        .await
        .unwrap()
        .id;
    Env {
        db,
        app,
        t,
        _data: data,
    }
}

impl Env {
    async fn staff(&self, email: &str, role: Role) -> UserRow {
        self.app
            .store
            .create_user(self.t, email, "Dana Agent", role, "x", "en", self.app.now())
            .await
            .unwrap()
    }

    async fn open(&self, email: &str, subject: &str) -> (CaseId, CustomerId) {
        let d = self
            .app
            .create_case(
                self.t,
                Actor::System,
                &NewCaseInput::new(
                    CustomerRef::Email {
                        email: email.into(),
                        name: Some("Kim".into()),
                    },
                    subject,
                    "help",
                    "portal",
                ),
            )
            .await
            .unwrap();
        (CaseId(d.case.id), CustomerId(d.case.customer_id))
    }

    async fn set(&self, u: &UserRow, id: CaseId, patch: CasePatch) {
        self.app.update_case(self.t, u, id, &patch).await.unwrap();
    }

    async fn steps(&self, id: CaseId) -> Vec<String> {
        self.app.queue_customer_notices().await.unwrap();
        self.app
            .store
            .case_notices(self.t, id)
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.step)
            .collect()
    }
}

fn status(s: &str) -> CasePatch {
    CasePatch {
        status: Some(s.into()),
        ..CasePatch::default()
    }
}

#[tokio::test]
async fn customer_visible_steps_become_notices_and_internal_ones_never_do() {
    let e = env().await;
    let agent = e.staff("dana@example.com", Role::Agent).await;
    let (id, customer) = e.open("kim@example.com", "Kettle").await;
    assert_eq!(e.steps(id).await, vec!["received"]);
    // Internal: a note, a priority change, a transfer — nothing for the customer.
    e.app
        .reply(
            e.t,
            &agent,
            id,
            &ReplyInput {
                body: "internal thoughts".into(),
                internal: true,
                ..ReplyInput::default()
            },
        )
        .await
        .unwrap();
    e.set(
        &agent,
        id,
        CasePatch {
            priority: Some("high".into()),
            ..CasePatch::default()
        },
    )
    .await;
    let team = e
        .app
        .store
        .create_team(e.t, "Repairs", None, "manual", None, e.app.now())
        .await
        .unwrap();
    e.app
        .transfer_case(e.t, &agent, id, team.id, "needs a technician")
        .await
        .unwrap();
    assert_eq!(e.steps(id).await, vec!["received", "handed_off"]);
    // Assigned, a public reply on the portal, waiting: each told.
    e.set(
        &agent,
        id,
        CasePatch {
            owner_id: Some(Some(agent.id.0)),
            ..CasePatch::default()
        },
    )
    .await;
    e.app
        .reply(
            e.t,
            &agent,
            id,
            &ReplyInput {
                body: "Which model?".into(),
                status: Some("pending".into()),
                ..ReplyInput::default()
            },
        )
        .await
        .unwrap();
    // The customer's own reply is not news to them.
    e.app
        .customer_reply(e.t, customer, id, "Model K2", Vec::new())
        .await
        .unwrap();
    e.set(&agent, id, status("solved")).await;
    assert_eq!(
        e.steps(id).await,
        vec![
            "received",
            "handed_off",
            "assigned",
            "replied",
            "waiting",
            "solved"
        ]
    );
    // Delivered in one round, each with a portal link; the solved one with a survey link.
    assert_eq!(e.app.deliver_customer_notices().await.unwrap(), 6);
    let notices = e.app.store.case_notices(e.t, id).await.unwrap();
    assert!(notices.iter().all(|n| n.state == "sent"), "{notices:?}");
    let outbox = std::fs::read_dir(e.app.config.outbox_dir())
        .unwrap()
        .count();
    assert_eq!(outbox, 6);
    let survey = e.app.store.survey_for_case(e.t, id).await.unwrap().unwrap();
    assert_eq!(survey.agent_id, Some(agent.id.0));
    assert_eq!(survey.team_id, Some(team.id));
    // A second round finds nothing new.
    assert_eq!(e.app.queue_customer_notices().await.unwrap(), 0);
    assert_eq!(e.app.deliver_customer_notices().await.unwrap(), 0);
}

#[tokio::test]
async fn customers_choose_their_steps_and_surveys_skip_spam_merged_and_opted_out() {
    let e = env().await;
    let agent = e.staff("dana@example.com", Role::Agent).await;
    let (id, customer) = e.open("kim@example.com", "Quiet").await;
    e.app
        .save_portal_settings(
            e.t,
            customer,
            &PortalSettings {
                notify: NotifyChoice::parse(Some("solved")),
                surveys: false,
                share_household: false,
                in_household: false,
            },
        )
        .await
        .unwrap();
    let got = e.app.portal_settings(e.t, customer).await.unwrap();
    assert!(!got.surveys && got.notify.to_pref() == "solved");
    e.steps(id).await;
    let before = e.app.store.case_notices(e.t, id).await.unwrap().len();
    e.set(&agent, id, status("pending")).await;
    e.set(&agent, id, status("solved")).await;
    let steps = e.steps(id).await;
    assert_eq!(&steps[before..], ["solved"]);
    // Opted out of surveys.
    assert!(
        e.app
            .store
            .survey_for_case(e.t, id)
            .await
            .unwrap()
            .is_none()
    );

    // Spam: no survey (and the solved notice only as chosen by default).
    let (spam, _) = e.open("spam@example.com", "WIN MONEY").await;
    e.set(
        &agent,
        spam,
        CasePatch {
            add_tags: vec!["spam".into()],
            status: Some("solved".into()),
            ..CasePatch::default()
        },
    )
    .await;
    e.steps(spam).await;
    assert!(
        e.app
            .store
            .survey_for_case(e.t, spam)
            .await
            .unwrap()
            .is_none()
    );

    // Merged: the source case gets no survey.
    let (a, _) = e.open("lee@example.com", "First").await;
    let (b, _) = e.open("lee@example.com", "Same thing").await;
    e.app.merge_cases(e.t, &agent, b, a).await.unwrap();
    e.steps(b).await;
    assert!(e.app.store.survey_for_case(e.t, b).await.unwrap().is_none());
    // A normal solved case does get one.
    e.set(&agent, a, status("solved")).await;
    e.steps(a).await;
    assert!(e.app.store.survey_for_case(e.t, a).await.unwrap().is_some());
}

#[tokio::test]
async fn one_answer_per_survey_and_a_low_rating_opens_a_task_for_the_manager() {
    let e = env().await;
    let manager = e.staff("boss@example.com", Role::Manager).await;
    let agent = e.staff("dana@example.com", Role::Agent).await;
    let team = e
        .app
        .store
        .create_team(e.t, "Care", Some(manager.id.0), "manual", None, e.app.now())
        .await
        .unwrap();
    let (id, customer) = e.open("kim@example.com", "Late").await;
    e.app
        .transfer_case(e.t, &agent, id, team.id, "care desk")
        .await
        .unwrap();
    // Not solved yet: no rating.
    assert!(matches!(
        e.app.portal_rate(e.t, customer, id, "3", "").await,
        Err(PortalError::State(_))
    ));
    e.set(&agent, id, status("solved")).await;
    for bad in ["0", "6", "x", "2.5"] {
        assert!(matches!(
            e.app.portal_rate(e.t, customer, id, bad, "").await,
            Err(PortalError::Invalid(_))
        ));
    }
    // Someone else cannot rate it.
    let (_, other) = e.open("other@example.com", "Mine").await;
    assert!(matches!(
        e.app.portal_rate(e.t, other, id, "5", "").await,
        Err(PortalError::NotFound)
    ));
    let s = e
        .app
        .portal_rate(e.t, customer, id, "1", "<b>slow</b>")
        .await
        .unwrap();
    assert_eq!(s.score, Some(1));
    assert_eq!(s.comment.as_deref(), Some("<b>slow</b>"));
    assert_eq!(s.team_id, Some(team.id));
    assert!(matches!(
        e.app.portal_rate(e.t, customer, id, "5", "").await,
        Err(PortalError::State(_))
    ));
    let tasks = e.app.open_tasks(e.t, Some("csat_low"), None).await.unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].assignee_id, Some(manager.id.0));
    // The feed does not ask again for an answered survey.
    e.steps(id).await;
    let n = e.app.store.case_notices(e.t, id).await.unwrap();
    let solved = n.iter().find(|n| n.step == "solved").unwrap();
    assert_eq!(solved.detail["survey"], false);
}

#[tokio::test]
async fn two_nodes_send_each_notice_once() {
    let e = env().await;
    let agent = e.staff("dana@example.com", Role::Agent).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (id, _) = e.open(&format!("c{i}@example.com"), "Hello").await;
        e.set(&agent, id, status("pending")).await;
        ids.push(id);
    }
    let mut other_cfg = (*e.app.config).clone();
    other_cfg.storage.database_url = e.db.url.clone();
    let mut other = App::new(e.db.store().await.unwrap(), other_cfg);
    other.clock = e.app.clock.clone();
    let (a, b) = tokio::join!(
        e.app.queue_customer_notices(),
        other.queue_customer_notices()
    );
    assert_eq!(a.unwrap() + b.unwrap(), 10, "queued once between the two");
    let (a, b) = tokio::join!(
        e.app.deliver_customer_notices(),
        other.deliver_customer_notices()
    );
    assert_eq!(a.unwrap() + b.unwrap(), 10, "each attempted by one node");
    let outbox = std::fs::read_dir(e.app.config.outbox_dir())
        .unwrap()
        .count();
    assert_eq!(outbox, 10);
    for id in ids {
        let n = e.app.store.case_notices(e.t, id).await.unwrap();
        assert!(n.iter().all(|n| n.state == "sent" && n.attempts == 1));
    }
}
