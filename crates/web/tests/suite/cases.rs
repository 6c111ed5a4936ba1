//! Cases over HTTP (issue 4): creating a case for a customer by email, reading it with its
//! thread, replies on the channel of origin, internal notes that never reach a customer,
//! status moves by the workflow, hand-offs, queues with counts and pages, rules, attachments
//! served safely, roles, and tenant isolation route by route.

use crate::harness::*;
use concierge_domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn new_case(api: &Api<'_>, subject: &str, body: &str, channel: &str, email: &str) -> Value {
    let (s, v) = api
        .post(
            "/api/v1/cases",
            json!({"subject": subject, "body": body, "channel": channel,
                   "customer": {"email": email, "name": "Kim Minji"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

fn event_kinds(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_case_is_created_for_a_customer_by_email_and_read_back_with_its_thread() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let v = new_case(
        &api,
        "Broken kettle",
        "My kettle arrived damaged.",
        "web",
        "minji@example.com",
    )
    .await;
    let id = v["id"].as_i64().unwrap();
    assert_eq!(v["status"], "new");
    assert_eq!(v["customer_label"], "Received");
    assert!(v["number"].as_i64().unwrap() >= 1);
    // The customer was created from the email and is found again by it.
    let customer = v["customer_id"].as_i64().unwrap();
    let again = new_case(
        &api,
        "Still broken",
        "Any news?",
        "email",
        "MINJI@example.com",
    )
    .await;
    assert_eq!(again["customer_id"].as_i64(), Some(customer));
    assert_ne!(again["number"], v["number"]);
    // Targets were started from the default policy: first response and resolution.
    let kinds: Vec<&str> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"first_response") && kinds.contains(&"resolution"),
        "{v}"
    );

    let (s, got) = api.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(got["subject"], "Broken kettle");
    let msgs = got["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["body_text"], "My kettle arrived damaged.");
    assert_eq!(msgs[0]["author_kind"], "customer");
    assert!(event_kinds(&got).contains(&"created".to_string()));

    // An existing customer by id works too; a customer of nobody is a 404.
    let (s, by_id) = api
        .post(
            "/api/v1/cases",
            json!({"subject": "Third", "body": "b", "customer_id": customer}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{by_id}");
    assert_eq!(by_id["channel"], "api");
    let (s, v) = api
        .post(
            "/api/v1/cases",
            json!({"subject": "x", "body": "b", "customer_id": 999_999}),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn replies_go_out_on_the_channel_of_origin_and_meet_the_first_response_target() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let cases = [
        ("email", "email", "queued"),
        ("phone", "call_task", "call_task"),
        ("letter", "letter_page", "ready_to_print"),
        ("portal", "portal", "published"),
    ];
    for (channel, route, state) in cases {
        let v = new_case(
            &api,
            &format!("Via {channel}"),
            "Hello",
            channel,
            "a@example.com",
        )
        .await;
        let id = v["id"].as_i64().unwrap();
        let (s, r) = api
            .post(
                &format!("/api/v1/cases/{id}/messages"),
                json!({"body": "We are on it."}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let reply = r["messages"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(reply["route"], route, "{channel}");
        assert_eq!(reply["delivery_state"], state, "{channel}");
        // The first public reply opens the case and meets the first-response target.
        assert_eq!(r["status"], "open");
        assert!(r["first_response_at"].as_i64().is_some());
        let first = r["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["kind"] == "first_response")
            .unwrap();
        assert_eq!(first["state"]["state"], "met", "{first}");
    }
    // A phone case's reply leaves a call task for a person.
    let (s, tasks) = api.get("/api/v1/tasks?kind=call").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(tasks.as_array().unwrap().len(), 1, "{tasks}");
    // The agent may pick another route.
    let v = new_case(&api, "Email me a letter", "Hi", "email", "b@example.com").await;
    let id = v["id"].as_i64().unwrap();
    let (s, r) = api
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            json!({"body": "Dear customer", "route": "letter_page"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["messages"][1]["route"], "letter_page");
    let (s, v) = api
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            json!({"body": "x", "route": "pigeon"}),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_fields")
    );
}

#[tokio::test]
async fn internal_notes_never_reach_the_customer() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let v = new_case(&api, "Refund", "Please refund", "portal", "c@example.com").await;
    let id = v["id"].as_i64().unwrap();
    let secret = "customer is probably lying SECRET-NOTE-42";
    let (s, r) = api
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            json!({"body": secret, "internal": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let note = r["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(note["visibility"], "internal");
    // A note is not a reply: the first-response target still runs and the case stays new.
    assert_eq!(r["status"], "new");
    assert!(r["first_response_at"].is_null());
    // The customer's view of the case (what the portal and notifications are built from)
    // has neither the note nor internal events.
    let detail = t
        .app
        .case_detail(tenant, concierge_domain::CaseId(id), false)
        .await
        .unwrap();
    assert!(detail.messages.iter().all(|m| m.visibility == "public"));
    assert!(detail.events.iter().all(|e| e.visibility == "customer"));
    assert!(
        !serde_json::to_string(&detail.messages)
            .unwrap()
            .contains("SECRET-NOTE-42")
    );
    // A customer signed in to the portal reaches no staff route with their session.
    let customer = v["customer_id"].as_i64().unwrap();
    let link = t
        .app
        .create_customer_link(tenant, concierge_domain::CustomerId(customer))
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
    for path in [
        format!("/api/v1/cases/{id}"),
        "/api/v1/cases".to_string(),
        "/api/v1/search?q=SECRET".to_string(),
        "/api/v1/tasks".to_string(),
    ] {
        let r = c.get(format!("{}{path}", t.url)).send().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
            "{path}: {status}"
        );
        assert!(!body.contains("SECRET-NOTE-42"), "{path}");
    }
    let home = c
        .get(format!("{}/portal", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!home.contains("SECRET-NOTE-42"));
}

#[tokio::test]
async fn status_moves_follow_the_workflow_and_closed_is_final() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let v = new_case(&api, "Question", "How?", "email", "d@example.com").await;
    let id = v["id"].as_i64().unwrap();
    let path = format!("/api/v1/cases/{id}");
    // new → closed is not a move the default workflow allows.
    let (s, e) = api.patch(&path, json!({"status": "closed"})).await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_fields"),
        "{e}"
    );
    assert!(message(&e).contains("closed"), "{e}");
    let (s, r) = api.patch(&path, json!({"status": "pending"})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["customer_label"], "Waiting for your reply");
    // In every interface language, for a shop's own pages in the customer's language.
    assert_eq!(
        r["customer_labels"],
        json!({"en": "Waiting for your reply", "zh-CN": "等待您的回复", "ko": "회신 대기 중"})
    );
    // Waiting on the customer pauses the clocks.
    assert!(
        r["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"]["state"] == "paused"),
        "{r}"
    );
    // A stale version is refused.
    let stale = r["version"].as_i64().unwrap() - 1;
    let (s, e) = api
        .patch(&path, json!({"priority": "high", "version": stale}))
        .await;
    assert_eq!((s, code(&e)), (StatusCode::CONFLICT, "conflict"), "{e}");
    let (s, r) = api
        .patch(
            &path,
            json!({"custom_fields": {"store": "서울 강남점", "order_value": 129.5}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["custom_fields"]["store"], "서울 강남점");
    let (s, e) = api
        .patch(
            &path,
            json!({"custom_fields": {"Bad Key": {"nested": true}}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (s, r) = api
        .patch(
            &path,
            json!({"status": "solved", "priority": "high", "add_tags": ["Kettle"],
            "custom_fields": {"order_value": null}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["priority"], "high");
    assert_eq!(r["tags"], json!(["kettle"]));
    assert_eq!(r["custom_fields"], json!({"store": "서울 강남점"}));
    assert!(r["solved_at"].as_i64().is_some());
    let (s, r) = api.patch(&path, json!({"status": "closed"})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, e) = api
        .post(&format!("{path}/messages"), json!({"body": "late"}))
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::CONFLICT, "invalid_state"),
        "{e}"
    );
    let (s, e) = api.patch(&path, json!({"status": "open"})).await;
    assert!(
        s == StatusCode::CONFLICT || s == StatusCode::UNPROCESSABLE_ENTITY,
        "{e}"
    );
    // Every change is on the case's event stream with who did it.
    let (_, got) = api.get(&path).await;
    let kinds = event_kinds(&got);
    for k in ["created", "status", "priority", "tags"] {
        assert!(kinds.contains(&k.to_string()), "{k} missing in {kinds:?}");
    }
    assert!(
        got["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "status")
            .all(|e| e["actor_name"].as_str().is_some())
    );
}

#[tokio::test]
async fn hand_offs_between_teams_are_events_with_their_own_target_and_path() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let admin = Api::new(
        &t,
        t.user_with_token(tenant, "admin@example.com", Role::Admin)
            .await,
    );
    let agent_token = t
        .user_with_token(tenant, "agent@example.com", Role::Agent)
        .await;
    let agent = Api::new(&t, agent_token);
    let (s, billing) = admin
        .post(
            "/api/v1/teams",
            json!({"name": "Billing", "assignment": "round_robin", "handoff_mins": 30}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{billing}");
    let (_, support) = admin
        .post("/api/v1/teams", json!({"name": "Support"}))
        .await;
    let b2 = t
        .app
        .store
        .user_by_email(tenant, "agent@example.com")
        .await
        .unwrap()
        .unwrap();
    let billing_id = billing["id"].as_i64().unwrap();
    let (s, members) = admin
        .post(
            &format!("/api/v1/teams/{billing_id}/members"),
            json!({"user_id": b2.id.0, "cap": 5}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{members}");
    // Agents cannot create teams.
    let (s, _) = agent.post("/api/v1/teams", json!({"name": "Nope"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let v = new_case(
        &agent,
        "Double charge",
        "I was charged twice",
        "email",
        "e@example.com",
    )
    .await;
    let id = v["id"].as_i64().unwrap();
    let (s, r) = agent
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            json!({"team_id": billing_id, "reason": "Billing handles refunds"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["team_name"], "Billing");
    // Round robin in Billing gave it to its only member.
    assert_eq!(r["owner_id"].as_i64(), Some(b2.id.0));
    let handoff = r["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "handoff")
        .cloned()
        .unwrap();
    assert_eq!(handoff["team_id"].as_i64(), Some(billing_id));
    assert_eq!(handoff["business_ms"].as_i64(), Some(30 * 60_000));
    let (_, q) = agent.get("/api/v1/cases?view=handoff").await;
    assert_eq!(q["count"], 1, "{q}");
    // Back to Support.
    let (s, r) = agent
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            json!({"team_id": support["id"], "reason": "Refund done; customer has a product question"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let path = r["handoffs"].as_array().unwrap();
    assert_eq!(path.len(), 2);
    assert_eq!(path[0]["to_team_name"], "Billing");
    assert_eq!(path[1]["from_team_name"], "Billing");
    assert_eq!(path[1]["to_team_name"], "Support");
    assert_eq!(path[0]["reason"], "Billing handles refunds");
    assert_eq!(
        event_kinds(&r)
            .iter()
            .filter(|k| *k == "transferred")
            .count(),
        2
    );
    // The same team again, an empty reason, an unknown team: refused.
    let (s, _) = agent
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            json!({"team_id": support["id"], "reason": "again"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = agent
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            json!({"team_id": billing_id, "reason": "  "}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = agent
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            json!({"team_id": 424242, "reason": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The customer's timeline shows the hand-offs too.
    let customer = r["customer_id"].as_i64().unwrap();
    let (_, tl) = agent
        .get(&format!(
            "/api/v1/customers/{customer}/timeline?kind=case_event"
        ))
        .await;
    let text = tl.to_string();
    assert!(text.contains("transferred"), "{tl}");
}

#[tokio::test]
async fn queues_count_and_page_without_losing_a_case() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let me = t
        .app
        .store
        .user_by_email(tenant, "agent@example.com")
        .await
        .unwrap()
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        let v = new_case(&api, &format!("Case {i}"), "b", "web", "q@example.com").await;
        ids.push(v["id"].as_i64().unwrap());
    }
    // Take three.
    for id in &ids[..3] {
        let (s, r) = api
            .post(
                &format!("/api/v1/cases/{id}/assign"),
                json!({"owner_id": me.id.0}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{r}");
    }
    let (s, counts) = api.get("/api/v1/queues").await;
    assert_eq!(s, StatusCode::OK);
    let count = |view: &str| {
        counts
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["view"] == view)
            .unwrap()["count"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(
        (count("mine"), count("unassigned"), count("open")),
        (3, 4, 7)
    );
    // Pages of two return every open case exactly once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/cases?view=open&limit=2&cursor={c}"),
            None => "/api/v1/cases?view=open&limit=2".into(),
        };
        let (s, page) = api.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert_eq!(page["count"], 7);
        for c in page["cases"].as_array().unwrap() {
            seen.push(c["id"].as_i64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ids);
    // Parameters outside the allowed set are refused.
    for bad in [
        "/api/v1/cases?view=everything",
        "/api/v1/cases?limit=1000",
        "/api/v1/cases?cursor=DROP%20TABLE",
    ] {
        let (s, e) = api.get(bad).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {e}");
    }
}

#[tokio::test]
async fn rules_are_validated_and_change_what_happens() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let manager = Api::new(
        &t,
        t.user_with_token(tenant, "m@example.com", Role::Manager)
            .await,
    );
    let agent = Api::new(
        &t,
        t.user_with_token(tenant, "a@example.com", Role::Agent)
            .await,
    );
    // A trigger: refunds in any language are tagged and raised.
    let trigger = json!({"kind": "trigger", "spec": {
        "name": "Refunds first", "event": "created",
        "conditions": [{"op": "subject_contains", "value": "退款"}],
        "actions": [{"action": "add_tag", "value": "refund"}, {"action": "raise_priority"}],
        "position": 1, "active": true}});
    let (s, _) = agent.post("/api/v1/rules", trigger.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, r) = manager.post("/api/v1/rules", trigger).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let v = new_case(&agent, "申请退款", "商品有问题", "web", "f@example.com").await;
    assert_eq!(v["tags"], json!(["refund"]), "{v}");
    assert_eq!(v["priority"], "high");
    let other = new_case(&agent, "Question", "hi", "web", "f@example.com").await;
    assert_eq!(other["priority"], "normal");
    // A policy: web cases get a 15-minute first response.
    let (s, r) = manager
        .post(
            "/api/v1/rules",
            json!({"kind": "sla_policy", "spec": {"name": "Web fast", "channel": "web",
                "first_response_mins": 15, "resolution_mins": 600}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let v = new_case(&agent, "Fast", "hi", "web", "g@example.com").await;
    let first = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "first_response")
        .cloned()
        .unwrap();
    assert_eq!(first["business_ms"], 15 * 60_000);
    // Malformed and invalid rules are refused with a reason.
    for bad in [
        json!({"kind": "trigger", "spec": {"name": "x", "event": "exploded", "conditions": [], "actions": []}}),
        json!({"kind": "calendar", "spec": {"time_zone": "Mars/Olympus", "hours": {}}}),
        json!({"kind": "calendar", "spec": {"time_zone": "Asia/Seoul", "hours": {"mon": ["18:00-09:00"]}}}),
        json!({"kind": "sla_policy", "spec": {"name": "x", "first_response_mins": 0}}),
        json!({"kind": "nonsense", "spec": {}}),
    ] {
        let (s, e) = manager.post("/api/v1/rules", bad.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad} → {e}");
        assert!(!message(&e).is_empty());
    }
    // A template fills in from the profile when replying.
    let (s, tpl) = manager
        .post(
            "/api/v1/templates",
            json!({"name": "Thanks", "body": "Dear {{customer.first_name | \"customer\"}}, thank you."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{tpl}");
    let id = v["id"].as_i64().unwrap();
    let (s, r) = agent
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            json!({"template_id": tpl["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(
        r["messages"].as_array().unwrap().last().unwrap()["body_text"],
        "Dear Kim, thank you."
    );
}

#[tokio::test]
async fn attachments_are_stored_once_and_served_only_as_downloads() {
    use base64::Engine;
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let token = t
        .user_with_token(tenant, "agent@example.com", Role::Agent)
        .await;
    let api = Api::new(&t, token.clone());
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let svg = "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
    let (s, v) = api
        .post(
            "/api/v1/cases",
            json!({"subject": "Files", "body": "see attached", "channel": "web",
                "customer": {"email": "h@example.com"},
                "attachments": [
                    {"filename": "../../etc/passwd", "content_type": "text/plain", "data_base64": b64("root")},
                    {"filename": ".htaccess\u{200b}", "data_base64": b64("Options +ExecCGI")},
                    {"filename": "logo.svg", "content_type": "image/svg+xml", "data_base64": b64(svg)},
                    {"filename": "copy.svg", "content_type": "image/svg+xml", "data_base64": b64(svg)}
                ]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let atts = v["messages"][0]["attachments"].as_array().unwrap().clone();
    let names: Vec<&str> = atts
        .iter()
        .map(|a| a["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "passwd");
    assert!(
        !names[1].contains('\u{200b}') && names[1].contains("htaccess"),
        "{names:?}"
    );
    assert!(names.iter().all(|n| !n.contains('/') && !n.contains("..")));
    // Content-addressed: the same bytes are one file on disk.
    let files = walk(&t.data.path().join("attachments"));
    assert_eq!(files, 3, "two identical SVGs are stored once");
    for a in &atts {
        let r = api
            .c
            .get(format!("{}/api/v1/attachments/{}", t.url, a["id"]))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert!(
            h["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment"),
            "{h:?}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        let ct = h["content-type"].to_str().unwrap();
        assert!(!ct.contains("svg") && !ct.contains("html"), "{ct}");
    }
    // Bad base64 and too many files are refused, and nothing is created.
    let before = api.get("/api/v1/cases?view=open").await.1["count"].clone();
    let (s, _) = api
        .post(
            "/api/v1/cases",
            json!({"subject": "x", "body": "y", "customer": {"email": "h@example.com"},
                "attachments": [{"filename": "a", "data_base64": "%%%"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"filename": format!("f{i}"), "data_base64": b64("x")}))
        .collect();
    let (s, _) = api
        .post(
            "/api/v1/cases",
            json!({"subject": "x", "body": "y", "customer": {"email": "h@example.com"},
                "attachments": many}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(api.get("/api/v1/cases?view=open").await.1["count"], before);
}

fn walk(dir: &std::path::Path) -> usize {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                n += walk(&p);
            } else {
                n += 1;
            }
        }
    }
    n
}

#[tokio::test]
async fn hostile_text_is_stored_as_text_and_bad_fields_are_refused() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let hostile = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    let v = new_case(&api, hostile, hostile, "web", "i@example.com").await;
    assert_eq!(v["subject"], hostile);
    for (body, why) in [
        (
            json!({"subject": "", "body": "b", "customer": {"email": "i@example.com"}}),
            "empty subject",
        ),
        (
            json!({"subject": "s".repeat(301), "body": "b", "customer": {"email": "i@example.com"}}),
            "long subject",
        ),
        (
            json!({"subject": "s", "body": "b", "channel": "fax", "customer": {"email": "i@example.com"}}),
            "channel",
        ),
        (
            json!({"subject": "s", "body": "b", "priority": "extreme", "customer": {"email": "i@example.com"}}),
            "priority",
        ),
        (
            json!({"subject": "s", "body": "b", "customer": {"email": "not-an-email"}}),
            "email",
        ),
        (json!({"subject": "s", "body": "b"}), "no customer"),
        (
            json!({"subject": "s", "body": "b", "customer_id": 1, "customer": {"email": "i@example.com"}}),
            "both",
        ),
        (
            json!({"subject": "s", "body": "b", "customer": {"email": "i@example.com"}, "sneaky": 1}),
            "unknown field",
        ),
    ] {
        let (s, e) = api.post("/api/v1/cases", body).await;
        assert!(
            s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::BAD_REQUEST,
            "{why}: {s} {e}"
        );
    }
}

#[tokio::test]
async fn tenants_never_see_each_others_cases_on_any_route() {
    let t = spawn_app().await;
    let a = t.default_tenant().await;
    let b = t.tenant("other").await;
    let api_a = Api::new(
        &t,
        t.user_with_token(a, "admin@a.example", Role::Admin).await,
    );
    let api_b = Api::new(
        &t,
        t.user_with_token(b, "admin@b.example", Role::Admin).await,
    );
    let v = new_case(&api_a, "Tenant A's case", "private", "web", "j@example.com").await;
    let id = v["id"].as_i64().unwrap();
    let own = new_case(&api_b, "Tenant B's case", "b", "web", "k@example.com").await;
    let own_id = own["id"].as_i64().unwrap();
    let (_, teams) = api_a.post("/api/v1/teams", json!({"name": "A team"})).await;
    let att = {
        use base64::Engine;
        let (_, r) = api_a
            .post(
                &format!("/api/v1/cases/{id}/messages"),
                json!({"body": "file", "attachments": [{"filename": "a.txt",
                    "data_base64": base64::engine::general_purpose::STANDARD.encode("x")}]}),
            )
            .await;
        r["messages"].as_array().unwrap().last().unwrap()["attachments"][0]["id"].clone()
    };
    let checks: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (reqwest::Method::GET, format!("/api/v1/cases/{id}"), None),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/cases/{id}"),
            Some(json!({"priority": "low"})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/cases/{id}/messages"),
            Some(json!({"body": "hi"})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/cases/{id}/transfer"),
            Some(json!({"team_id": teams["id"], "reason": "r"})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/cases/{id}/assign"),
            Some(json!({"auto": true})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/cases/{id}/merge"),
            Some(json!({"into": own_id})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/cases/{own_id}/merge"),
            Some(json!({"into": id})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/cases/{id}/presence"),
            Some(json!({})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/cases/{id}/macros/1"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/attachments/{att}"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/teams/{}/members", teams["id"]),
            Some(json!({"user_id": 1})),
        ),
    ];
    for (m, path, body) in checks {
        let (s, e) = api_b.send(m.clone(), &path, body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path}: {e}");
        assert!(!e.to_string().contains("private"), "{path}");
    }
    let (_, q) = api_b.get("/api/v1/cases?view=open").await;
    assert_eq!(q["count"], 1);
    assert_eq!(q["cases"][0]["id"].as_i64(), Some(own_id));
    let (_, teams_b) = api_b.get("/api/v1/teams").await;
    assert_eq!(teams_b, json!([]));
    // Tenant A's case is untouched.
    let (_, still) = api_a.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(still["priority"], "normal");
    assert!(still["merged_into"].is_null());
}

#[tokio::test]
async fn agents_take_cases_but_only_managers_move_others_cases() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let a1 = Api::new(
        &t,
        t.user_with_token(tenant, "a1@example.com", Role::Agent)
            .await,
    );
    let a2 = Api::new(
        &t,
        t.user_with_token(tenant, "a2@example.com", Role::Agent)
            .await,
    );
    let m = Api::new(
        &t,
        t.user_with_token(tenant, "m@example.com", Role::Manager)
            .await,
    );
    let id_of = |e: &str| {
        let app = t.app.clone();
        let e = e.to_string();
        async move {
            app.store
                .user_by_email(tenant, &e)
                .await
                .unwrap()
                .unwrap()
                .id
                .0
        }
    };
    let a1_id = id_of("a1@example.com").await;
    let a2_id = id_of("a2@example.com").await;
    let v = new_case(&a1, "Mine", "b", "web", "l@example.com").await;
    let path = format!("/api/v1/cases/{}", v["id"]);
    // Taking an unassigned case is fine.
    let (s, r) = a1.patch(&path, json!({"owner_id": a1_id})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    // Another agent cannot grab or give it away.
    let (s, _) = a2.patch(&path, json!({"owner_id": a2_id})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The owner may hand it on; a manager may move it anywhere.
    let (s, r) = m.patch(&path, json!({"owner_id": a2_id})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["owner_id"].as_i64(), Some(a2_id));
    let (s, r) = a2.patch(&path, json!({"owner_id": null})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(r["owner_id"].is_null());
}

#[tokio::test]
async fn merging_keeps_both_histories() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let a = new_case(&api, "Dup one", "first", "email", "m@example.com").await;
    let b = new_case(&api, "Dup two", "second", "email", "m@example.com").await;
    let (a_id, b_id) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    let (s, e) = api
        .post(
            &format!("/api/v1/cases/{a_id}/merge"),
            json!({"into": a_id}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (s, r) = api
        .post(
            &format!("/api/v1/cases/{a_id}/merge"),
            json!({"into": b_id}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["id"].as_i64(), Some(b_id));
    assert!(event_kinds(&r).contains(&"merged".to_string()));
    let (_, src) = api.get(&format!("/api/v1/cases/{a_id}")).await;
    assert_eq!(src["merged_into"].as_i64(), Some(b_id));
    assert_eq!(src["status"], "closed");
    assert_eq!(src["messages"][0]["body_text"], "first");
    // A merged case leaves the queues.
    let (_, q) = api.get("/api/v1/cases?view=open").await;
    assert_eq!(q["count"], 1);
    let (s, _) = api
        .post(
            &format!("/api/v1/cases/{a_id}/merge"),
            json!({"into": b_id}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test]
async fn cases_written_through_the_api_are_found_by_search_on_this_node() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let zh = new_case(
        &api,
        "订单问题",
        "我的订单损坏了，请尽快处理",
        "email",
        "zh@example.com",
    )
    .await;
    let ko = new_case(
        &api,
        "배송 문의",
        "배송이 너무 늦어요. 언제 도착하나요?",
        "web",
        "ko@example.com",
    )
    .await;
    let en = new_case(
        &api,
        "Kettle",
        "My kettle arrived dented and leaks",
        "web",
        "en@example.com",
    )
    .await;
    let note_case = en["id"].as_i64().unwrap();
    api.post(
        &format!("/api/v1/cases/{note_case}/messages"),
        json!({"body": "warehouse confirmed the dent", "internal": true}),
    )
    .await;
    // The index follows the change log in the background: wait until it has caught up.
    let find = |q: &'static str| {
        let api = &api;
        async move {
            for _ in 0..200 {
                let (s, v) = api
                    .get(&format!("/api/v1/search?q={}", url_escape(q)))
                    .await;
                assert_eq!(s, StatusCode::OK, "{v}");
                if v["total"].as_u64().unwrap_or(0) > 0 {
                    return v;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("{q} was never found");
        }
    };
    for (q, case) in [
        ("订单", &zh),
        ("배송", &ko),
        ("leaks", &en),
        ("warehouse", &en),
    ] {
        let v = find(q).await;
        let ids: Vec<i64> = v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|h| h["case_id"].as_i64())
            .collect();
        assert!(ids.contains(&case["id"].as_i64().unwrap()), "{q}: {v}");
    }
    // Filters narrow the hits: the English case is not in status "solved".
    let (_, v) = api.get("/api/v1/search?q=leaks&status=solved").await;
    assert_eq!(v["total"], 0, "{v}");
    let (s, _) = api.get("/api/v1/search?q=leaks&from=yesterday").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn a_letter_reply_is_a_printable_letter_to_the_customers_address() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let v = new_case(
        &api,
        "Warranty",
        "I wrote you a letter.",
        "letter",
        "n@example.com",
    )
    .await;
    let id = v["id"].as_i64().unwrap();
    let customer = v["customer_id"].as_i64().unwrap();
    let (s, p) = api
        .patch(
            &format!("/api/v1/customers/{customer}"),
            json!({"contacts": [
                {"kind": "email", "value": "n@example.com", "primary": true},
                {"kind": "address", "value": "12 Garden Road\nSeoul 04524", "primary": true}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (s, r) = api
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            json!({"body": "Dear Kim,\n\nyour kettle is under warranty <b>until 2027</b>."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let reply = r["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(reply["route"], "letter_page");
    let letter = format!("{}/cases/{id}/letters/{}", t.url, reply["id"]);
    let c = signed_in(&t, "agent@example.com").await;
    let page = c.get(&letter).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("12 Garden Road") && html.contains("Seoul 04524"),
        "{html}"
    );
    assert!(html.contains("Kim Minji"));
    assert!(
        !html.contains("<b>until") && html.contains("until 2027"),
        "the reply is text, never markup: {html}"
    );
    // The case page links to it.
    let case_page = c
        .get(format!("{}/cases/{id}", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(case_page.contains(&format!("/cases/{id}/letters/{}", reply["id"])));
    // The customer's own message is not a letter; another tenant sees nothing.
    let first = r["messages"][0]["id"].clone();
    let r = c
        .get(format!("{}/cases/{id}/letters/{first}", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let other = t.tenant("other").await;
    t.user_with_token(other, "x@other.example", Role::Admin)
        .await;
    let (c2, _) = sign_in(&t, "x@other.example", "password-123").await;
    let r = c2.get(&letter).send().await.unwrap();
    assert_ne!(r.status(), StatusCode::OK);
}
