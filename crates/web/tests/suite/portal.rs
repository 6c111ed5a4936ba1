//! The customer portal over HTTP (issue 7): every portal route refuses another customer's
//! objects with the same 404 as a missing one and changes nothing; internal notes and
//! internal events never appear in portal pages nor in the customer's notice mails; survey
//! links work once, refuse guesses, expired links and ratings off the scale, and keep hostile
//! comments as inert text; a low rating opens a task for the team's manager; a household
//! head sees a member's requests only when the member allows it.

use crate::harness::*;
use base64::Engine;
use concierge_domain::{CaseId, CustomerId, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub(crate) async fn new_case(api: &Api<'_>, subject: &str, body: &str, email: &str) -> Value {
    let (s, v) = api
        .post(
            "/api/v1/cases",
            json!({"subject": subject, "body": body, "channel": "portal",
                   "customer": {"email": email, "name": email.split('@').next().unwrap()}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

/// Signs a customer in through a one-time link; returns the client and its CSRF token.
pub(crate) async fn portal_client(t: &TestApp, customer: i64) -> (reqwest::Client, String) {
    let tenant = t.default_tenant().await;
    let link = t
        .app
        .create_customer_link(tenant, CustomerId(customer))
        .await
        .unwrap();
    let c = t.client();
    let page = c
        .get(format!("{}/portal/auth/{link}", t.url))
        .send()
        .await
        .unwrap();
    let csrf = csrf_in(&page.text().await.unwrap());
    let r = c
        .post(format!("{}/portal/auth/{link}", t.url))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let home = c.get(format!("{}/portal", t.url)).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let csrf = csrf_in(&home.text().await.unwrap());
    (c, csrf)
}

pub(crate) async fn text(c: &reqwest::Client, url: String) -> (StatusCode, String) {
    let r = c.get(url).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

fn multipart(csrf: &str, body: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("_csrf", csrf.to_string())
        .text("body", body.to_string())
        .part(
            "files",
            reqwest::multipart::Part::bytes(b"receipt bytes".to_vec())
                .file_name("receipt.txt")
                .mime_str("text/plain")
                .unwrap(),
        )
}

/// Every mail in the outbox, as text.
pub(crate) fn outbox(t: &TestApp) -> Vec<String> {
    let dir = t.app.config.outbox_dir();
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<(std::time::SystemTime, String)> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.metadata().unwrap().modified().unwrap(),
                String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).to_string(),
            )
        })
        .collect();
    out.sort_by_key(|x| x.0);
    out.into_iter().map(|x| decode_mail(&x.1)).collect()
}

/// The readable text of a mail (subject and body decoded from quoted-printable or base64).
fn decode_mail(raw: &str) -> String {
    let p = concierge_mail::parse(raw.as_bytes(), &concierge_mail::ParseLimits::default())
        .expect("our own mail parses");
    format!(
        "{}\n{}",
        p.subject.as_deref().unwrap_or(""),
        p.text_body.as_deref().unwrap_or("")
    )
}

pub(crate) fn links(mails: &[String], marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    for m in mails {
        for w in m.split_whitespace() {
            if let Some(i) = w.find(marker) {
                let tail = &w[i + marker.len()..];
                let token: String = tail
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                if token.len() >= 20 {
                    out.push(token);
                }
            }
        }
    }
    out
}

pub(crate) async fn deliver(t: &TestApp) {
    t.app.queue_customer_notices().await.unwrap();
    t.app.deliver_customer_notices().await.unwrap();
}

#[tokio::test]
async fn every_portal_route_refuses_another_customers_objects() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let mine = new_case(&api, "My kettle", "It leaks", "alice@example.com").await;
    let theirs = new_case(&api, "Bob's refund", "BOB-PRIVATE text", "bob@example.com").await;
    let (my_id, their_id) = (mine["id"].as_i64().unwrap(), theirs["id"].as_i64().unwrap());
    // Bob's case has a public reply with an attachment; Alice's own case has an internal
    // note with an attachment.
    let data = base64::engine::general_purpose::STANDARD.encode(b"bob's invoice");
    let (s, v) = api
        .post(
            &format!("/api/v1/cases/{their_id}/messages"),
            json!({"body": "Here is your invoice", "attachments":
                [{"filename": "invoice.pdf", "content_type": "application/pdf", "data_base64": data}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let their_att = v["messages"].as_array().unwrap().last().unwrap()["attachments"][0]["id"]
        .as_i64()
        .unwrap();
    let (s, v) = api
        .post(
            &format!("/api/v1/cases/{my_id}/messages"),
            json!({"body": "staff only", "internal": true, "attachments":
                [{"filename": "notes.pdf", "content_type": "application/pdf", "data_base64": data}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let internal_att = v["messages"].as_array().unwrap().last().unwrap()["attachments"][0]["id"]
        .as_i64()
        .unwrap();
    let (s, _) = api
        .patch(
            &format!("/api/v1/cases/{their_id}"),
            json!({"status": "solved"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let before = t
        .app
        .case_detail(tenant, CaseId(their_id), true)
        .await
        .unwrap();

    let (c, csrf) = portal_client(&t, mine["customer_id"].as_i64().unwrap()).await;
    // The own case works.
    let (s, page) = text(&c, format!("{}/portal/cases/{my_id}", t.url)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("My kettle"));
    let (s, home) = text(&c, format!("{}/portal", t.url)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        home.contains("My kettle") && !home.contains("refund"),
        "{home}"
    );

    // Someone else's case, a case that does not exist: the same 404, on every route.
    let (s_missing, missing_page) = text(&c, format!("{}/portal/cases/999999", t.url)).await;
    assert_eq!(s_missing, StatusCode::NOT_FOUND);
    let (s, page) = text(&c, format!("{}/portal/cases/{their_id}", t.url)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        page, missing_page,
        "a foreign case looks exactly like a missing one"
    );
    assert!(!page.contains("BOB-PRIVATE") && !page.contains("refund"));
    for path in [
        format!("/portal/cases/{their_id}/attachments/{their_att}"),
        // Bob's attachment through Alice's own case id.
        format!("/portal/cases/{my_id}/attachments/{their_att}"),
        // An internal note's attachment on Alice's own case.
        format!("/portal/cases/{my_id}/attachments/{internal_att}"),
    ] {
        let (s, body) = text(&c, format!("{}{path}", t.url)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert!(!body.contains("invoice"), "{path}");
    }
    let r = c
        .post(format!("{}/portal/cases/{their_id}/reply", t.url))
        .multipart(multipart(&csrf, "let me in"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    for (path, form) in [
        (
            format!("/portal/cases/{their_id}/close"),
            vec![("_csrf", csrf.clone())],
        ),
        (
            format!("/portal/cases/{their_id}/rate"),
            vec![
                ("_csrf", csrf.clone()),
                ("score", "1".into()),
                ("comment", "x".into()),
            ],
        ),
    ] {
        let r = c
            .post(format!("{}{path}", t.url))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Nothing of Bob's changed.
    let after = t
        .app
        .case_detail(tenant, CaseId(their_id), true)
        .await
        .unwrap();
    assert_eq!(after.case.version, before.case.version);
    assert_eq!(after.messages.len(), before.messages.len());
    assert!(
        t.app
            .store
            .survey_for_case(tenant, CaseId(their_id))
            .await
            .unwrap()
            .is_none_or(|s| s.answered_at.is_none())
    );
    // Forms without the session's CSRF token are refused.
    let r = c
        .post(format!("{}/portal/cases/{my_id}/close", t.url))
        .form(&[("_csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Signed out (no session), the portal shows nothing.
    let anon = t.client();
    let (s, body) = text(&anon, format!("{}/portal/cases/{my_id}", t.url)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(!body.contains("kettle"));
}

#[tokio::test]
async fn a_customer_follows_replies_closes_and_submits_in_the_portal() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let v = new_case(&api, "Broken lid", "The lid cracked", "carol@example.com").await;
    let id = v["id"].as_i64().unwrap();
    let customer = v["customer_id"].as_i64().unwrap();
    let (c, csrf) = portal_client(&t, customer).await;
    let (_, page) = text(&c, format!("{}/portal/cases/{id}", t.url)).await;
    assert!(page.contains("data-step=\"received\""), "{page}");
    // The customer replies with a file.
    let r = c
        .post(format!("{}/portal/cases/{id}/reply", t.url))
        .multipart(multipart(&csrf, "Photo attached"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = text(&c, format!("{}/portal/cases/{id}", t.url)).await;
    assert!(page.contains("Photo attached") && page.contains("receipt.txt"));
    let d = t.app.case_detail(tenant, CaseId(id), false).await.unwrap();
    let att = d.messages.last().unwrap().attachments[0].id;
    let r = c
        .get(format!("{}/portal/cases/{id}/attachments/{att}", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"receipt bytes");
    // An empty reply is refused with a message, and nothing is added.
    let r = c
        .post(format!("{}/portal/cases/{id}/reply", t.url))
        .multipart(
            reqwest::multipart::Form::new()
                .text("_csrf", csrf.clone())
                .text("body", "   "),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let d2 = t.app.case_detail(tenant, CaseId(id), false).await.unwrap();
    assert_eq!(d2.messages.len(), d.messages.len());
    // The agent asks a question: the step changes to waiting for the customer.
    let (s, _) = api
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            json!({"body": "Which model is it?", "status": "pending"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, page) = text(&c, format!("{}/portal/cases/{id}", t.url)).await;
    assert!(page.contains("data-step=\"waiting\"") && page.contains("Which model is it?"));
    // The customer closes it: solved by the customer.
    let r = c
        .post(format!("{}/portal/cases/{id}/close", t.url))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let d = t.app.case_detail(tenant, CaseId(id), false).await.unwrap();
    assert_eq!(d.case.status, "solved");
    // And rates it in the portal; a second rating is refused.
    let r = c
        .post(format!("{}/portal/cases/{id}/rate", t.url))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("score", "4"),
            ("comment", "quick"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = c
        .post(format!("{}/portal/cases/{id}/rate", t.url))
        .form(&[("_csrf", csrf.as_str()), ("score", "1"), ("comment", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let s = t
        .app
        .store
        .survey_for_case(tenant, CaseId(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.score, s.via.as_deref()), (Some(4), Some("portal")));
    // A new request from the portal.
    let form = reqwest::multipart::Form::new()
        .text("_csrf", csrf.clone())
        .text("subject", "Second question")
        .text("body", "Do you ship to Jeju?");
    let r = c
        .post(format!("{}/portal/cases", t.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, home) = text(&c, format!("{}/portal", t.url)).await;
    assert!(home.contains("Second question") && home.contains("Broken lid"));
    let (s, list) = api.get("/api/v1/cases?view=open").await;
    assert_eq!(s, StatusCode::OK);
    let new_one = list["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "Second question")
        .cloned()
        .unwrap();
    assert_eq!(new_one["channel"], "portal");
    assert_eq!(new_one["customer_id"], customer);
    // Pages render in the other languages.
    let r = c
        .post(format!("{}/lang", t.url))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("lang", "ko"),
            ("back", &format!("/portal/cases/{id}")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = text(&c, format!("{}/portal/cases/{id}", t.url)).await;
    assert!(page.contains("진행 상황"), "{page}");
}

#[tokio::test]
async fn internal_notes_and_events_never_reach_the_portal_or_the_mails() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let token = t
        .user_with_token(tenant, "lead@example.com", Role::Admin)
        .await;
    let api = Api::new(&t, token);
    let (s, team) = api.post("/api/v1/teams", json!({"name": "Billing"})).await;
    assert_eq!(s, StatusCode::CREATED, "{team}");
    let v = new_case(&api, "Double charge", "Charged twice", "dan@example.com").await;
    let id = v["id"].as_i64().unwrap();
    let customer = v["customer_id"].as_i64().unwrap();
    deliver(&t).await; // the "received" notice
    let (s, r) = api
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            json!({"body": "SECRET-NOTE customer seems to be gaming refunds", "internal": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let (s, r) = api
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            json!({"team_id": team["id"], "reason": "SECRET-REASON fraud check"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, r) = api
        .patch(
            &format!("/api/v1/cases/{id}"),
            json!({"priority": "urgent"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, r) = api
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            json!({"body": "We refunded one charge.", "status": "solved"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    deliver(&t).await;
    let mails = outbox(&t);
    assert!(
        mails.len() >= 3,
        "received, handed off, replied/solved: {}",
        mails.len()
    );
    for m in &mails {
        for secret in ["SECRET-NOTE", "SECRET-REASON", "gaming", "fraud", "urgent"] {
            assert!(!m.contains(secret), "a notice leaked {secret}: {m}");
        }
    }
    let all = mails.join("\n");
    assert!(all.contains("Billing"), "the hand-off names the team");
    assert!(all.contains("/portal/auth/") && all.contains("/survey/"));
    let notices = t.app.store.case_notices(tenant, CaseId(id)).await.unwrap();
    let steps: Vec<&str> = notices.iter().map(|n| n.step.as_str()).collect();
    assert!(
        steps.contains(&"received") && steps.contains(&"handed_off"),
        "{steps:?}"
    );
    assert!(steps.contains(&"solved"), "{steps:?}");
    assert!(notices.iter().all(|n| n.state == "sent"), "{notices:?}");
    // Running the feed again queues nothing twice.
    assert_eq!(t.app.queue_customer_notices().await.unwrap(), 0);
    // The portal page shows the steps and none of the staff matters.
    let (c, _) = portal_client(&t, customer).await;
    let (_, page) = text(&c, format!("{}/portal/cases/{id}", t.url)).await;
    for secret in [
        "SECRET-NOTE",
        "SECRET-REASON",
        "gaming",
        "fraud",
        "urgent",
        "transferred",
    ] {
        assert!(!page.contains(secret), "the portal leaked {secret}");
    }
    assert!(page.contains("data-step=\"handed_off\"") && page.contains("Billing"));
    assert!(page.contains("data-step=\"solved\"") && page.contains("We refunded one charge."));
}

#[tokio::test]
async fn survey_links_work_once_and_refuse_guesses_expiry_and_bad_ratings() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let manager = t
        .app
        .add_user(
            tenant,
            "manager@example.com",
            None,
            Role::Manager,
            "password-123",
        )
        .await
        .unwrap();
    let token = t
        .user_with_token(tenant, "lead@example.com", Role::Admin)
        .await;
    let api = Api::new(&t, token);
    let (s, team) = api
        .post(
            "/api/v1/teams",
            json!({"name": "Care", "manager_id": manager.id.0}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{team}");
    let v = new_case(&api, "Late parcel", "Where is it?", "erin@example.com").await;
    let id = v["id"].as_i64().unwrap();
    let customer = v["customer_id"].as_i64().unwrap();
    let (s, r) = api
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            json!({"team_id": team["id"], "reason": "parcel desk"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, _) = api
        .patch(&format!("/api/v1/cases/{id}"), json!({"status": "solved"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    deliver(&t).await;
    let survey_links = links(&outbox(&t), "/survey/");
    assert_eq!(survey_links.len(), 1, "one survey link");
    let link = &survey_links[0];
    // Only the hash is stored.
    let stored = t
        .app
        .store
        .survey_for_case(tenant, CaseId(id))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.answered_at.is_none());

    let c = t.client();
    let page = c
        .get(format!("{}/survey/{link}", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = csrf_in(&page.text().await.unwrap());
    // Off the scale, not a number: refused, nothing recorded.
    for bad in ["0", "6", "-3", "abc", "4.5", ""] {
        let r = c
            .post(format!("{}/survey/{link}", t.url))
            .form(&[("_csrf", csrf.as_str()), ("score", bad), ("comment", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let s = t
        .app
        .store
        .survey_for_case(tenant, CaseId(id))
        .await
        .unwrap()
        .unwrap();
    assert!(s.answered_at.is_none());
    // A guessed link is refused.
    let r = c
        .get(format!("{}/survey/{}", t.url, "A".repeat(43)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A low rating with hostile HTML: recorded as text, shown escaped, a task for the manager.
    let hostile = "<script>alert('x')</script><img src=x onerror=alert(1)> too slow";
    let r = c
        .post(format!("{}/survey/{link}", t.url))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("score", "2"),
            ("comment", hostile),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("survey-thanks"));
    let s = t
        .app
        .store
        .survey_for_case(tenant, CaseId(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.score, Some(2));
    assert_eq!(s.comment.as_deref(), Some(hostile));
    assert_eq!(s.via.as_deref(), Some("mail"));
    assert_eq!(s.team_id, team["id"].as_i64());
    let tasks = t
        .app
        .open_tasks(tenant, Some("csat_low"), None)
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].assignee_id, Some(manager.id.0));
    assert_eq!(tasks[0].case_id, Some(id));
    // The link is used up.
    let r = c
        .post(format!("{}/survey/{link}", t.url))
        .form(&[("_csrf", csrf.as_str()), ("score", "5"), ("comment", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c
        .get(format!("{}/survey/{link}", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The portal shows the comment escaped.
    let (pc, _) = portal_client(&t, customer).await;
    let (_, page) = text(&pc, format!("{}/portal/cases/{id}", t.url)).await;
    assert!(!page.contains("<script>alert"), "comment must be escaped");
    assert!(page.contains("&lt;script&gt;") || page.contains("&#60;script&#62;"));

    // A second solved case: its link expires unanswered; the reminder sends a link of its own
    // and the first one keeps working beside it.
    let v2 = new_case(&api, "Another", "More", "erin@example.com").await;
    let id2 = v2["id"].as_i64().unwrap();
    let (s, _) = api
        .patch(&format!("/api/v1/cases/{id2}"), json!({"status": "solved"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    deliver(&t).await;
    let first = links(&outbox(&t), "/survey/");
    assert_eq!(first.len(), 2);
    let link2 = first.iter().find(|l| *l != link).unwrap().clone();
    t.app
        .clock
        .advance_ms(concierge_app::portal::REMIND_AFTER_MS + 1000);
    assert_eq!(t.app.remind_surveys().await.unwrap(), 1);
    assert_eq!(
        t.app.remind_surveys().await.unwrap(),
        0,
        "one reminder only"
    );
    t.app.deliver_customer_notices().await.unwrap();
    let after = links(&outbox(&t), "/survey/");
    assert_eq!(after.len(), 3, "the reminder carries a link");
    let link3 = after.iter().find(|l| **l != *link && **l != link2).unwrap();
    // Both links work, until they expire.
    let r = c
        .get(format!("{}/survey/{link2}", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the first link survives the reminder"
    );
    let r = c
        .get(format!("{}/survey/{link3}", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    t.app
        .clock
        .advance_ms(concierge_app::portal::SURVEY_VALID_MS);
    let r = c
        .get(format!("{}/survey/{link3}", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    let r = c
        .get(format!("{}/survey/{link2}", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    let r = c
        .post(format!("{}/survey/{link3}", t.url))
        .form(&[("_csrf", csrf.as_str()), ("score", "5"), ("comment", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    let s = t
        .app
        .store
        .survey_for_case(tenant, CaseId(id2))
        .await
        .unwrap()
        .unwrap();
    assert!(s.answered_at.is_none());
}

#[tokio::test]
async fn customers_choose_what_they_are_told_and_who_in_the_household_sees_it() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let v = new_case(
        &api,
        "Quiet please",
        "Only tell me when solved",
        "fay@example.com",
    )
    .await;
    let id = v["id"].as_i64().unwrap();
    let fay = v["customer_id"].as_i64().unwrap();
    let (c, csrf) = portal_client(&t, fay).await;
    // Fay wants mail only when solved, and no surveys.
    let r = c
        .post(format!("{}/portal/settings", t.url))
        .form(&[("_csrf", csrf.as_str()), ("notify", "solved")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let prefs = t
        .app
        .preferences(tenant, CustomerId(fay), false)
        .await
        .unwrap();
    let notify = prefs.iter().find(|p| p.key == "portal.notify").unwrap();
    assert_eq!(
        (notify.value.as_str(), notify.source.as_str()),
        ("solved", "customer")
    );
    assert!(
        prefs
            .iter()
            .any(|p| p.key == "portal.surveys" && p.value == "no")
    );
    // Events before the choice were already read; from here on only "solved" is told.
    t.app.queue_customer_notices().await.unwrap();
    let before = t
        .app
        .store
        .case_notices(tenant, CaseId(id))
        .await
        .unwrap()
        .len();
    let (s, _) = api
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            json!({"body": "Tell me more", "status": "pending"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = api
        .patch(&format!("/api/v1/cases/{id}"), json!({"status": "solved"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    deliver(&t).await;
    let notices = t.app.store.case_notices(tenant, CaseId(id)).await.unwrap();
    let new: Vec<&str> = notices[before..].iter().map(|n| n.step.as_str()).collect();
    assert_eq!(new, vec!["solved"]);
    // Opted out of surveys: no survey, no link.
    assert!(
        t.app
            .store
            .survey_for_case(tenant, CaseId(id))
            .await
            .unwrap()
            .is_none()
    );
    assert!(links(&outbox(&t), "/survey/").is_empty());

    // A household: Gil heads it, Hana is a member. Gil sees Hana's case only once she allows.
    let hana_case = new_case(&api, "Hana's order", "HANA-TEXT", "hana@example.com").await;
    let gil_case = new_case(&api, "Gil's order", "Gil text", "gil@example.com").await;
    let hana = hana_case["customer_id"].as_i64().unwrap();
    let gil = gil_case["customer_id"].as_i64().unwrap();
    let now = t.app.now();
    let hh = t
        .app
        .store
        .create_household(tenant, "Park", &[(gil, "head"), (hana, "member")], now)
        .await
        .unwrap();
    assert!(hh > 0);
    let hana_id = hana_case["id"].as_i64().unwrap();
    let (gc, _) = portal_client(&t, gil).await;
    let (s, _) = text(&gc, format!("{}/portal/cases/{hana_id}", t.url)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (hc, hcsrf) = portal_client(&t, hana).await;
    let (_, settings) = text(&hc, format!("{}/portal/settings", t.url)).await;
    assert!(settings.contains("share_household"));
    let r = hc
        .post(format!("{}/portal/settings", t.url))
        .form(&[
            ("_csrf", hcsrf.as_str()),
            ("notify", "solved"),
            ("surveys", "yes"),
            ("share_household", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, home) = text(&gc, format!("{}/portal", t.url)).await;
    assert!(
        home.contains("Hana&#39;s order") || home.contains("Hana's order"),
        "{home}"
    );
    let (s, page) = text(&gc, format!("{}/portal/cases/{hana_id}", t.url)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("HANA-TEXT") && !page.contains("portal-reply"));
    // Read only: the head cannot write on it, close or rate it.
    let gcsrf = csrf_in(&page);
    let r = gc
        .post(format!("{}/portal/cases/{hana_id}/close", t.url))
        .form(&[("_csrf", gcsrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The member does not see the head's cases.
    let gil_id = gil_case["id"].as_i64().unwrap();
    let (s, _) = text(&hc, format!("{}/portal/cases/{gil_id}", t.url)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
