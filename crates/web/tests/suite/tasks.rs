//! Follow-ups, task queues and scorecards over HTTP (issue 7 items 3 and 5): the queues, the
//! outcome that lands on the timeline, follow-up rules, tenant isolation, roles, and the
//! console pages.

use crate::harness::{Api, code, csrf_in, signed_in, spawn_app};
use concierge_domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

async fn me(api: &Api<'_>) -> i64 {
    let (s, v) = api.get("/api/v1/me").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["id"].as_i64().unwrap()
}

/// Opens a complaint for a customer found by email, assigns it to `owner` and solves it.
async fn solved_complaint(api: &Api<'_>, email: &str, owner: i64) -> Value {
    let (s, v) = api
        .post(
            "/api/v1/cases",
            json!({"subject": "The parcel arrived broken", "body": "Broken vase", "channel": "email",
                   "kind": "complaint", "customer": {"email": email, "name": "Lee Seo-yeon"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (s, v) = api
        .patch(
            &format!("/api/v1/cases/{id}"),
            json!({"owner_id": owner, "status": "solved"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_follow_up_is_due_after_the_solve_and_its_outcome_lands_on_the_timeline() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let agent = me(&api).await;
    let case = solved_complaint(&api, "lee@example.com", agent).await;
    let customer = case["customer_id"].as_i64().unwrap();

    // Not due yet; it is in "mine" and in the case's list.
    let (s, due) = api.get("/api/v1/tasks?queue=followups_due").await;
    assert_eq!(s, StatusCode::OK);
    assert!(due.as_array().unwrap().is_empty(), "{due}");
    let (_, mine) = api.get("/api/v1/tasks?queue=mine").await;
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    let task = mine[0].clone();
    assert_eq!(task["kind"], "follow_up");
    assert_eq!(task["customer_id"], customer);
    assert_eq!(task["customer_name"], "Lee Seo-yeon");
    assert_eq!(task["case_number"], case["number"]);
    let task_id = task["id"].as_i64().unwrap();
    // The existing filters still work.
    let (_, by_case) = api
        .get(&format!("/api/v1/tasks?case_id={}", case["id"]))
        .await;
    assert_eq!(ids(&by_case), vec![task_id]);
    let (_, by_kind) = api.get("/api/v1/tasks?kind=follow_up").await;
    assert_eq!(ids(&by_kind), vec![task_id]);
    let (s, v) = api.get("/api/v1/tasks?queue=someday").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_fields")
    );

    // A week later (no tier: 7 days) it is due.
    t.app.clock.advance_ms(7 * DAY + 60_000);
    let (_, due) = api.get("/api/v1/tasks?queue=followups_due").await;
    assert_eq!(ids(&due), vec![task_id]);

    // Another tenant neither sees nor completes it.
    let other = t.tenant("other").await;
    let stranger = Api::new(
        &t,
        t.user_with_token(other, "agent@other.example", Role::Agent)
            .await,
    );
    let (_, theirs) = stranger.get("/api/v1/tasks").await;
    assert!(theirs.as_array().unwrap().is_empty());
    let (s, v) = stranger
        .post(
            &format!("/api/v1/tasks/{task_id}/complete"),
            json!({"result": "reached"}),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));

    // A bad result is refused and changes nothing.
    let (s, v) = api
        .post(
            &format!("/api/v1/tasks/{task_id}/complete"),
            json!({"result": "fine I guess"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, done) = api
        .post(
            &format!("/api/v1/tasks/{task_id}/complete"),
            json!({"result": "reached", "note": "새 꽃병 잘 받았어요 <3"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "done");
    assert_eq!(done["outcome"]["result"], "reached");
    let (s, v) = api
        .post(
            &format!("/api/v1/tasks/{task_id}/complete"),
            json!({"result": "no_answer"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (_, due) = api.get("/api/v1/tasks?queue=followups_due").await;
    assert!(due.as_array().unwrap().is_empty());

    let (_, tl) = api
        .get(&format!(
            "/api/v1/customers/{customer}/timeline?kind=task_done"
        ))
        .await;
    let items = tl["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{tl}");
    assert_eq!(items[0]["summary"]["result"], "reached");
    assert_eq!(items[0]["summary"]["note"], "새 꽃병 잘 받았어요 <3");

    // The customer page shows the outcome, escaped.
    let c = signed_in(&t, "agent@example.com").await;
    let page = c
        .get(format!("{}/customers/{customer}", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("새 꽃병 잘 받았어요 &lt;3") || page.contains("새 꽃병 잘 받았어요 &#60;3"),
        "outcome on the page: {}",
        page.find("꽃병")
            .map(|i| &page[i.saturating_sub(200)..(i + 100).min(page.len())])
            .unwrap_or("absent")
    );
    assert!(!page.contains("받았어요 <3"));
}

#[tokio::test]
async fn the_tasks_page_completes_a_follow_up_with_its_outcome() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let agent = me(&api).await;
    let case = solved_complaint(&api, "lee@example.com", agent).await;
    let customer = case["customer_id"].as_i64().unwrap();
    t.app.clock.advance_ms(8 * DAY);
    let c = signed_in(&t, "agent@example.com").await;
    let page = c
        .get(format!("{}/tasks", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-kind=\"follow_up\""), "{page}");
    assert!(page.contains("Follow-ups due"));
    let (_, list) = api.get("/api/v1/tasks?queue=followups_due").await;
    let task_id = list[0]["id"].as_i64().unwrap();
    let csrf = csrf_in(&page);
    // Without the CSRF token nothing happens.
    let r = c
        .post(format!("{}/tasks/{task_id}/complete", t.url))
        .form(&[("result", "reached"), ("note", "x")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = c
        .post(format!("{}/tasks/{task_id}/complete", t.url))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("result", "resolved_issue"),
            ("note", "Sent a replacement vase"),
            ("queue", "followups_due"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let after = c
        .get(format!("{}/tasks?queue=followups_due&done=1", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(after.contains("data-testid=\"no-tasks\""));
    let profile = c
        .get(format!("{}/customers/{customer}", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(profile.contains("Sent a replacement vase"));
    assert!(profile.contains("Task done"));
}

#[tokio::test]
async fn follow_up_rules_are_definitions_managers_edit() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let manager = Api::new(
        &t,
        t.user_with_token(tenant, "boss@example.com", Role::Manager)
            .await,
    );
    let agent = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let rule = json!({"kind": "followup", "spec": {"name": "Complaints: next day",
        "kinds": ["complaint"], "days": 1, "channel": "message"}});
    let (s, _) = agent.post("/api/v1/rules", rule.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = manager
        .post(
            "/api/v1/rules",
            json!({"kind": "followup", "spec": {"name": "x", "days": 0, "channel": "call"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("days"));
    let (s, v) = manager.post("/api/v1/rules", rule).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = manager
        .post(
            "/api/v1/rules",
            json!({"kind": "checkin", "spec": {"name": "Gold monthly", "tier": "Gold",
                "every_days": 30, "channel": "call"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, list) = manager.get("/api/v1/rules?kind=followup").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let me = me(&agent).await;
    let solved_at = t.app.now();
    solved_complaint(&agent, "kim@example.com", me).await;
    let (_, mine) = agent.get("/api/v1/tasks?queue=mine").await;
    let due = mine[0]["due_at"].as_i64().unwrap();
    assert!(
        (due - (solved_at + DAY)).abs() < 60_000,
        "next day, per the rule"
    );
    assert!(mine[0]["title"].as_str().unwrap().contains("message"));
    // A tier_changed trigger that tests a case is refused with a reason.
    let (s, v) = manager
        .post(
            "/api/v1/rules",
            json!({"kind": "trigger", "spec": {"name": "bad", "event": "tier_changed",
                "conditions": [{"op": "status_is", "value": "new"}],
                "actions": [{"action": "add_tag", "value": "x"}], "position": 0, "active": true}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tier_changed")
    );
}

#[tokio::test]
async fn scorecards_show_managers_everyone_and_agents_themselves() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let manager = Api::new(
        &t,
        t.user_with_token(tenant, "boss@example.com", Role::Manager)
            .await,
    );
    let ann = Api::new(
        &t,
        t.user_with_token(tenant, "ann@example.com", Role::Agent)
            .await,
    );
    let bo = Api::new(
        &t,
        t.user_with_token(tenant, "bo@example.com", Role::Agent)
            .await,
    );
    let ann_id = me(&ann).await;
    solved_complaint(&ann, "one@example.com", ann_id).await;
    solved_complaint(&ann, "two@example.com", ann_id).await;

    let (s, v) = manager
        .get("/api/v1/scorecards?by=agent&period=month")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["by"], "agent");
    let rows = v["rows"].as_array().unwrap();
    let ann_row = rows.iter().find(|r| r["id"] == ann_id).unwrap();
    assert_eq!(ann_row["cases_handled"], 2);
    let (_, ann_me) = ann.get("/api/v1/me").await;
    assert_eq!(ann_row["name"], ann_me["display_name"]);
    assert_eq!(ann_row["reopen_rate"], 0.0);
    assert!(ann_row["csat_avg"].is_null());
    let (s, _) = manager.get("/api/v1/scorecards?by=team&period=week").await;
    assert_eq!(s, StatusCode::OK);
    for bad in [
        "/api/v1/scorecards?period=day",
        "/api/v1/scorecards?by=customer",
        "/api/v1/scorecards?from=2026-13-01",
        "/api/v1/scorecards?from=2026-11-10&to=2026-11-01",
    ] {
        let (s, v) = manager.get(bad).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
    }

    // Agents see their own row only, and no team figures.
    let (s, v) = ann.get("/api/v1/scorecards?period=month").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["rows"].as_array().unwrap().len(), 1);
    let (_, v) = bo.get("/api/v1/scorecards?period=month").await;
    assert!(v["rows"].as_array().unwrap().is_empty(), "{v}");
    let (s, _) = bo.get("/api/v1/scorecards?by=team").await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Another tenant's manager sees nothing of this one.
    let other = t.tenant("other").await;
    let stranger = Api::new(
        &t,
        t.user_with_token(other, "boss@other.example", Role::Manager)
            .await,
    );
    let (_, v) = stranger.get("/api/v1/scorecards?period=month").await;
    assert!(v["rows"].as_array().unwrap().is_empty());

    // The manager page draws the chart and the table.
    let c = signed_in(&t, "boss@example.com").await;
    let page = c
        .get(format!("{}/scorecards?period=month", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-testid=\"scorecard-handled\""));
    assert!(html.contains("data-testid=\"scorecard\""));
    assert!(html.contains(ann_me["display_name"].as_str().unwrap()));
}
