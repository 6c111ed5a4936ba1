//! What customers do for themselves in the portal, and what staff are told (issue 7): a
//! customer edits their own contact details and preferences (recorded with source
//! "customer", on the timeline, validated, escaped, never someone else's); asks for a sign-in
//! link by email (the same answer for unknown addresses, no mail for them, throttled per
//! address and per client); portal times follow the customer's time zone; the first CSAT
//! link survives the reminder; @mentions in internal notes notify staff, who mark them read;
//! periodic NPS surveys go once per period to the right customers and show in scorecards.

use crate::harness::*;
use crate::portal::{deliver, links, new_case, outbox, portal_client, text};
use concierge_domain::{CaseId, CustomerId, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn profile_form(
    c: &reqwest::Client,
    url: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut form: Vec<(&str, &str)> = vec![("_csrf", csrf)];
    form.extend_from_slice(fields);
    let r = c
        .post(format!("{url}/portal/profile"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.text().await.unwrap())
}

#[tokio::test]
async fn customers_edit_their_own_details_and_preferences() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let mine = new_case(&api, "My kettle", "It leaks", "alice@example.com").await;
    let theirs = new_case(&api, "Bob's", "Hello", "bob@example.com").await;
    let alice = mine["customer_id"].as_i64().unwrap();
    let bob = theirs["customer_id"].as_i64().unwrap();
    let case_id = mine["id"].as_i64().unwrap();
    let bob_before = t
        .app
        .store
        .customer_profile(tenant, CustomerId(bob))
        .await
        .unwrap()
        .unwrap();

    let (c, csrf) = portal_client(&t, alice).await;
    // Times show in the tenant's zone (UTC by default) until the customer has their own.
    let (_, page) = text(&c, format!("{}/portal/cases/{case_id}", t.url)).await;
    assert!(page.contains(" UTC"), "{page}");
    let (s, page) = text(&c, format!("{}/portal/profile", t.url)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("alice@example.com"));
    assert!(!page.contains("bob@example.com"));

    // Bad values: refused with a reason that names them; nothing changes.
    for (fields, reason) in [
        (
            vec![("name", "Alice"), ("email", "not-an-address")],
            "not-an-address",
        ),
        (
            vec![
                ("name", "Alice"),
                ("email", "alice@example.com"),
                ("time_zone", "Mars/Olympus"),
            ],
            "time zone",
        ),
        (
            vec![
                ("name", "Alice"),
                ("email", "alice@example.com"),
                ("phone", "call me maybe"),
            ],
            "phone number",
        ),
        (
            vec![("name", "   "), ("email", "alice@example.com")],
            "name",
        ),
        (vec![("name", "Alice"), ("email", "")], "at least one email"),
        // Someone else's address would route their mail here.
        (
            vec![("name", "Alice"), ("email", "bob@example.com")],
            "cannot be added",
        ),
    ] {
        let (s, page) = profile_form(&c, &t.url, &csrf, &fields).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{reason}: {page}");
        assert!(page.contains(reason), "{reason}: {page}");
    }
    let p = t
        .app
        .store
        .customer_profile(tenant, CustomerId(alice))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.display_name, "alice");
    assert!(p.time_zone.is_none());

    // A good change, with hostile markup in the name and an attempt to name another
    // customer in the form: the session decides whose profile it is.
    let hostile = "<script>alert(1)</script> Alice Kim";
    let (s, body) = profile_form(
        &c,
        &t.url,
        &csrf,
        &[
            ("name", hostile),
            ("customer_id", &bob.to_string()),
            ("id", &bob.to_string()),
            ("email", "alice@example.com"),
            ("email", "alice.kim@example.com"),
            ("email", ""),
            ("phone", "+82 10-1234-5678"),
            ("address", "1 Main St, Seoul"),
            ("language", "ko"),
            ("time_zone", "Asia/Seoul"),
            ("preferred_channel", "sms"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let p = t
        .app
        .store
        .customer_profile(tenant, CustomerId(alice))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.display_name, hostile);
    assert_eq!(p.time_zone.as_deref(), Some("Asia/Seoul"));
    assert_eq!(p.language.as_deref(), Some("ko"));
    assert_eq!(p.preferred_channel.as_deref(), Some("sms"));
    let contacts: Vec<(&str, &str, bool)> = p
        .contacts
        .iter()
        .map(|c| (c.kind.as_str(), c.normalized.as_str(), c.primary))
        .collect();
    assert!(contacts.contains(&("email", "alice@example.com", true)));
    assert!(contacts.contains(&("email", "alice.kim@example.com", false)));
    assert!(contacts.contains(&("phone", "+821012345678", true)));
    assert!(contacts.iter().any(|c| c.0 == "address"));
    let bob_after = t
        .app
        .store
        .customer_profile(tenant, CustomerId(bob))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob_before, bob_after, "another customer is never touched");
    // Shown back escaped.
    let (_, page) = text(&c, format!("{}/portal/profile", t.url)).await;
    assert!(!page.contains("<script>alert(1)"), "{page}");
    assert!(page.contains("&lt;script&gt;") || page.contains("&#60;script&#62;"));
    // Portal times now follow the customer's zone.
    let (_, page) = text(&c, format!("{}/portal/cases/{case_id}", t.url)).await;
    assert!(page.contains(" KST"), "{page}");
    assert!(!page.contains(" UTC"));

    // Preferences: recorded with source "customer", learned from the portal.
    let r = c
        .post(format!("{}/portal/preferences", t.url))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("key", "Drink"),
            ("value", "green <b>tea</b>"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The settings page's own keys cannot be set here; a bad key is refused; nothing stored.
    for (k, v, why) in [
        ("portal.surveys", "no", "settings page"),
        ("drink!", "x", "preference key"),
        ("snack", "", "value"),
    ] {
        let r = c
            .post(format!("{}/portal/preferences", t.url))
            .form(&[("_csrf", csrf.as_str()), ("key", k), ("value", v)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{k}");
        assert!(r.text().await.unwrap().contains(why), "{k}");
    }
    let (s, prefs) = api
        .get(&format!("/api/v1/customers/{alice}/preferences"))
        .await;
    assert_eq!(s, StatusCode::OK, "{prefs}");
    let prefs = prefs
        .as_array()
        .cloned()
        .or_else(|| prefs["items"].as_array().cloned())
        .unwrap_or_default();
    let drink = prefs.iter().find(|p| p["key"] == "drink").unwrap();
    assert_eq!(drink["source"], "customer");
    assert_eq!(drink["value"], "green <b>tea</b>");
    assert_eq!(drink["learned_from"], "portal");
    assert!(!prefs.iter().any(|p| p["key"] == "snack"));
    let (_, page) = text(&c, format!("{}/portal/profile", t.url)).await;
    assert!(page.contains("green &lt;b&gt;tea") || page.contains("green &#60;b&#62;tea"));

    // Both changes are on the customer's timeline as the customer's.
    let (s, tl) = api
        .get(&format!("/api/v1/customers/{alice}/timeline"))
        .await;
    assert_eq!(s, StatusCode::OK, "{tl}");
    let items = tl["items"].as_array().unwrap();
    let profile = items.iter().find(|i| i["kind"] == "profile").unwrap();
    assert_eq!(profile["summary"]["source"], "customer");
    assert!(profile["actor_id"].is_null());
    let pref = items.iter().find(|i| i["kind"] == "preference").unwrap();
    assert_eq!(pref["summary"]["source"], "customer");
    // The console's timeline says who made them.
    let staff = signed_in(&t, "agent@example.com").await;
    let (_, page) = text(&staff, format!("{}/customers/{alice}", t.url)).await;
    assert!(page.contains("customer (portal)"), "{page}");

    // Without a portal session the profile routes refuse; a staff session is no customer.
    let anon = t.client();
    let r = anon
        .post(format!("{}/portal/profile", t.url))
        .form(&[("_csrf", csrf.as_str()), ("name", "Mallory")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (s, _) = text(&staff, format!("{}/portal/profile", t.url)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A forged form (wrong CSRF token) changes nothing.
    let (s, _) = profile_form(
        &c,
        &t.url,
        "forged",
        &[("name", "Forged"), ("email", "alice@example.com")],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let p = t
        .app
        .store
        .customer_profile(tenant, CustomerId(alice))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.display_name, hostile);
}

async fn ask_link(c: &reqwest::Client, url: &str, email: &str) -> (StatusCode, String) {
    let page = c.get(format!("{url}/portal/sign-in")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = csrf_in(&page.text().await.unwrap());
    let r = c
        .post(format!("{url}/portal/sign-in"))
        .form(&[("_csrf", csrf.as_str()), ("email", email)])
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.text().await.unwrap())
}

#[tokio::test]
async fn customers_ask_for_a_sign_in_link_without_revealing_who_exists() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let v = new_case(
        &api,
        "Where is my order",
        "Still waiting",
        "alice@example.com",
    )
    .await;
    let case_id = v["id"].as_i64().unwrap();
    let before = outbox(&t).len();

    let c = t.client();
    let (s_known, known) = ask_link(&c, &t.url, "Alice@Example.com").await;
    assert_eq!(s_known, StatusCode::OK);
    assert!(known.contains("link-sent"));
    let (s_unknown, unknown) = ask_link(&c, &t.url, "nobody@example.com").await;
    assert_eq!(s_unknown, s_known);
    assert_eq!(
        unknown, known,
        "the same answer whether or not the address exists"
    );
    let mails = outbox(&t);
    assert_eq!(mails.len(), before + 1, "no mail for an unknown address");
    assert!(!mails.iter().any(|m| m.contains("nobody@example.com")));
    let tokens = links(&mails[before..], "/portal/auth/");
    assert_eq!(tokens.len(), 1);

    // The mailed link signs in, once.
    let p = t.client();
    let page = p
        .get(format!("{}/portal/auth/{}", t.url, tokens[0]))
        .send()
        .await
        .unwrap();
    let csrf = csrf_in(&page.text().await.unwrap());
    let r = p
        .post(format!("{}/portal/auth/{}", t.url, tokens[0]))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (s, page) = text(&p, format!("{}/portal/cases/{case_id}", t.url)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Where is my order"));
    let again = t.client();
    let page = again
        .get(format!("{}/portal/auth/{}", t.url, tokens[0]))
        .send()
        .await
        .unwrap();
    let csrf = csrf_in(&page.text().await.unwrap());
    let r = again
        .post(format!("{}/portal/auth/{}", t.url, tokens[0]))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a used link is refused"
    );

    // Not an address: said so, nothing sent.
    let (s, page) = ask_link(&c, &t.url, "<b>not an address</b>").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("link-invalid-email") && !page.contains("<b>not"));

    // Per address: 3 requests in the window, known address or not.
    assert_eq!(
        ask_link(&c, &t.url, "alice@example.com").await.0,
        StatusCode::OK
    );
    assert_eq!(
        ask_link(&c, &t.url, "alice@example.com").await.0,
        StatusCode::OK
    );
    let (s, page) = ask_link(&c, &t.url, "alice@example.com").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("link-throttled"));
    assert_eq!(
        outbox(&t).len(),
        before + 3,
        "throttled requests send nothing"
    );
    for _ in 0..2 {
        assert_eq!(
            ask_link(&c, &t.url, "nobody@example.com").await.0,
            StatusCode::OK
        );
    }
    assert_eq!(
        ask_link(&c, &t.url, "nobody@example.com").await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "unknown addresses are throttled alike"
    );
    // Per client address: 10 requests in the window from 127.0.0.1 (6 so far).
    for i in 0..4 {
        let (s, _) = ask_link(&c, &t.url, &format!("other{i}@example.com")).await;
        assert_eq!(s, StatusCode::OK, "{i}");
    }
    assert_eq!(
        ask_link(&c, &t.url, "fresh@example.com").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The window passes.
    t.app.clock.advance_ms(16 * 60 * 1000);
    assert_eq!(
        ask_link(&c, &t.url, "alice@example.com").await.0,
        StatusCode::OK
    );
    assert_eq!(outbox(&t).len(), before + 4);
}

#[tokio::test]
async fn the_first_survey_link_survives_the_reminder() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let api = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let v = new_case(&api, "Kettle", "Broken", "carol@example.com").await;
    let id = v["id"].as_i64().unwrap();
    let (s, _) = api
        .patch(&format!("/api/v1/cases/{id}"), json!({"status": "solved"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    deliver(&t).await;
    let first = links(&outbox(&t), "/survey/");
    assert_eq!(first.len(), 1);
    t.app
        .clock
        .advance_ms(concierge_app::portal::REMIND_AFTER_MS + 1000);
    assert_eq!(t.app.remind_surveys().await.unwrap(), 1);
    t.app.deliver_customer_notices().await.unwrap();
    let all = links(&outbox(&t), "/survey/");
    assert_eq!(all.len(), 2);
    let reminder = all.iter().find(|l| **l != first[0]).unwrap().clone();
    let c = t.client();
    let page = c
        .get(format!("{}/survey/{}", t.url, first[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the first link still works");
    let csrf = csrf_in(&page.text().await.unwrap());
    let r = c
        .post(format!("{}/survey/{}", t.url, first[0]))
        .form(&[("_csrf", csrf.as_str()), ("score", "4"), ("comment", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Answered: both links are used up.
    for l in [&first[0], &reminder] {
        let r = c.get(format!("{}/survey/{l}", t.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let s = t
        .app
        .store
        .survey_for_case(tenant, CaseId(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.score, Some(4));
}

async fn user_id(api: &Api<'_>) -> i64 {
    let (s, me) = api.get("/api/v1/me").await;
    assert_eq!(s, StatusCode::OK, "{me}");
    me["id"].as_i64().unwrap()
}

#[tokio::test]
async fn mentions_in_internal_notes_notify_staff_who_mark_them_read() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let author = Api::new(
        &t,
        t.user_with_token(tenant, "sam@example.com", Role::Agent)
            .await,
    );
    let dana = Api::new(
        &t,
        t.user_with_token(tenant, "dana@example.com", Role::Agent)
            .await,
    );
    let lee = Api::new(
        &t,
        t.user_with_token(tenant, "lee@example.com", Role::Agent)
            .await,
    );
    let v = new_case(&author, "Refund", "Please refund", "erin@example.com").await;
    let id = v["id"].as_i64().unwrap();
    let number = v["number"].as_i64().unwrap();
    // A public reply that mentions Lee notifies nobody; an internal note that mentions Dana
    // (and Sam, the author, and an address) notifies Dana only.
    let (s, _) = author
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            json!({"body": "Hi, @lee will call you"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = author
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            json!({"body": "@Dana can you check <b>this</b>? cc @sam, erin@example.com",
                   "internal": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, n) = lee.get("/api/v1/notifications").await;
    assert_eq!(n["unread"], 0, "{n}");
    let (_, n) = author.get("/api/v1/notifications").await;
    assert!(
        !n["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["kind"] == "mention"),
        "{n}"
    );
    let (s, n) = dana.get("/api/v1/notifications").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(n["unread"], 1, "{n}");
    let item = &n["items"][0];
    assert_eq!(item["kind"], "mention");
    assert_eq!(item["case_id"], id);
    let body = item["body"].as_str().unwrap();
    assert!(
        body.contains(&format!("#{number}")) && body.contains("sam"),
        "{body}"
    );
    let dana_note = item["id"].as_i64().unwrap();

    // The console shows the unread count and the list, escaped.
    let c = signed_in(&t, "dana@example.com").await;
    let (s, frag) = text(&c, format!("{}/notifications/count", t.url)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        frag.contains("unread-count") && frag.contains(">1<"),
        "{frag}"
    );
    let (s, page) = text(&c, format!("{}/notifications", t.url)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("data-kind=\"mention\""));
    assert!(!page.contains("<b>this</b>"), "note text is escaped");
    assert!(page.contains(&format!("/cases/{id}")));

    // Someone else's notification is "not found" and stays unread.
    let (s, _) = lee
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            json!({"body": "@sam see above", "internal": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, n) = author.get("/api/v1/notifications").await;
    let sams = n["items"][0]["id"].as_i64().unwrap();
    assert_eq!(n["unread"], 1, "{n}");
    let (s, _) = dana
        .post(&format!("/api/v1/notifications/{sams}/read"), json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let page = c
        .get(format!("{}/notifications", t.url))
        .send()
        .await
        .unwrap();
    let csrf = csrf_in(&page.text().await.unwrap());
    let r = c
        .post(format!("{}/notifications/{sams}/read", t.url))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (_, n) = author.get("/api/v1/notifications").await;
    assert_eq!(n["unread"], 1);

    // Mark one read in the console, then all read through the API.
    let r = c
        .post(format!("{}/notifications/{dana_note}/read", t.url))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, n) = dana.get("/api/v1/notifications").await;
    assert_eq!(n["unread"], 0);
    assert!(n["items"][0]["read_at"].is_i64());
    let (_, frag) = text(&c, format!("{}/notifications/count", t.url)).await;
    assert!(!frag.contains("unread-count"), "{frag}");
    for _ in 0..2 {
        let (s, _) = author
            .post(
                &format!("/api/v1/cases/{id}/messages"),
                json!({"body": "@dana again", "internal": true}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (_, n) = dana.get("/api/v1/notifications").await;
    assert_eq!(n["unread"], 2);
    let (s, n) = dana.post("/api/v1/notifications/read-all", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{n}");
    assert_eq!(n["unread"], 0);
    let (_, n) = author.get("/api/v1/notifications").await;
    assert_eq!(n["unread"], 1, "another user's stay unread");
}

fn nps_links(t: &TestApp) -> Vec<String> {
    links(&outbox(t), "/nps/")
}

async fn answer_nps(c: &reqwest::Client, url: &str, link: &str, score: &str) -> StatusCode {
    let page = c.get(format!("{url}/nps/{link}")).send().await.unwrap();
    if page.status() != StatusCode::OK {
        return page.status();
    }
    let csrf = csrf_in(&page.text().await.unwrap());
    c.post(format!("{url}/nps/{link}"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("score", score),
            ("comment", "<script>x</script>"),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn nps_goes_once_per_period_to_active_customers_and_shows_in_scorecards() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let admin = Api::new(
        &t,
        t.user_with_token(tenant, "admin@example.com", Role::Admin)
            .await,
    );
    let agent = Api::new(
        &t,
        t.user_with_token(tenant, "agent@example.com", Role::Agent)
            .await,
    );
    let agent_id = user_id(&agent).await;
    // Only admins set it; bad values are refused.
    let (s, _) = agent
        .send(
            reqwest::Method::PUT,
            "/api/v1/surveys/nps",
            Some(json!({"every_days": 30})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = admin
        .send(
            reqwest::Method::PUT,
            "/api/v1/surveys/nps",
            Some(json!({"every_days": 400})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Off by default: nothing is asked.
    let v = new_case(&agent, "One", "x", "p1@example.com").await;
    let (s, _) = agent
        .patch(
            &format!("/api/v1/cases/{}", v["id"]),
            json!({"status": "solved", "owner_id": agent_id}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t.app.run_nps().await.unwrap(), 0);
    let (s, v) = admin
        .send(
            reqwest::Method::PUT,
            "/api/v1/surveys/nps",
            Some(json!({"every_days": 30})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = admin.get("/api/v1/surveys/nps").await;
    assert_eq!(v["every_days"], 30);

    // Four more customers with a solved case, one who said no to surveys, one whose case is
    // still open (not active in the sense of a solved case), one erased.
    let mut customers: Vec<i64> = Vec::new();
    for email in [
        "p2@example.com",
        "p3@example.com",
        "optout@example.com",
        "erased@example.com",
    ] {
        let v: Value = new_case(&agent, "Case", "x", email).await;
        let (s, _) = agent
            .patch(
                &format!("/api/v1/cases/{}", v["id"]),
                json!({"status": "solved", "owner_id": agent_id}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        customers.push(v["customer_id"].as_i64().unwrap());
    }
    new_case(&agent, "Open", "x", "open@example.com").await;
    t.app
        .save_portal_settings(
            tenant,
            CustomerId(customers[2]),
            &concierge_app::portal::PortalSettings {
                notify: Default::default(),
                surveys: false,
                share_household: false,
                in_household: false,
            },
        )
        .await
        .unwrap();
    let (s, v) = admin
        .post(
            &format!("/api/v1/customers/{}/erase", customers[3]),
            json!({"confirm": true}),
        )
        .await;
    assert!(s.is_success(), "{s} {v}");

    let before = nps_links(&t).len();
    assert_eq!(t.app.run_nps().await.unwrap(), 3, "p1, p2, p3");
    let sent = nps_links(&t);
    assert_eq!(sent.len() - before, 3);
    let mails = outbox(&t);
    assert!(
        !mails
            .iter()
            .any(|m| m.contains("optout@") && m.contains("/nps/"))
    );
    // Once per period, however often the schedule runs.
    assert_eq!(t.app.run_nps().await.unwrap(), 0);
    t.app.clock.advance_ms(3 * 24 * 3600 * 1000);
    assert_eq!(t.app.run_nps().await.unwrap(), 0);
    assert_eq!(nps_links(&t).len(), sent.len());

    // Answers: 10, 9, 3 → 2 promoters, 1 detractor of 3: NPS (2 − 1) / 3 = 33.3.
    let c = t.client();
    let links = &sent[before..];
    assert_eq!(
        answer_nps(&c, &t.url, &links[0], "11").await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        answer_nps(&c, &t.url, &links[0], "10").await,
        StatusCode::OK
    );
    assert_eq!(answer_nps(&c, &t.url, &links[1], "9").await, StatusCode::OK);
    assert_eq!(answer_nps(&c, &t.url, &links[2], "3").await, StatusCode::OK);
    // Used and guessed links are refused.
    assert_eq!(
        answer_nps(&c, &t.url, &links[0], "0").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        answer_nps(&c, &t.url, &"A".repeat(43), "0").await,
        StatusCode::NOT_FOUND
    );
    // The comment is kept as text.
    let rows = t
        .app
        .store
        .nps_of_customer(tenant, customers[0])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(matches!(rows[0].score, Some(10 | 9 | 3)));
    assert_eq!(rows[0].comment.as_deref(), Some("<script>x</script>"));

    let (s, card) = admin.get("/api/v1/scorecards?by=agent&period=month").await;
    assert_eq!(s, StatusCode::OK, "{card}");
    let nps = card["tenant_nps"].as_array().unwrap();
    assert_eq!(nps.len(), 1, "{card}");
    assert_eq!(nps[0]["answers"], 3);
    assert_eq!(nps[0]["promoters"], 2);
    assert_eq!(nps[0]["detractors"], 1);
    assert!((nps[0]["nps"].as_f64().unwrap() - 100.0 / 3.0).abs() < 1e-9);
    let row = card["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == agent_id && r["nps"].is_number())
        .unwrap();
    assert!((row["nps"].as_f64().unwrap() - 100.0 / 3.0).abs() < 1e-9);
    // The console page shows it too.
    let staff = signed_in(&t, "admin@example.com").await;
    let (_, page) = text(&staff, format!("{}/scorecards?period=month", t.url)).await;
    assert!(
        page.contains("tenant-nps") && page.contains("33.3"),
        "{page}"
    );

    // A new period: asked again, only those with a case solved within the last 30 days.
    t.app.clock.advance_ms(31 * 24 * 3600 * 1000);
    assert_eq!(t.app.run_nps().await.unwrap(), 0, "no case solved lately");
}

#[tokio::test]
async fn administrators_set_the_nps_survey_on_the_scorecards_page() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    t.user_with_token(tenant, "admin@example.com", Role::Admin)
        .await;
    t.user_with_token(tenant, "agent@example.com", Role::Agent)
        .await;
    let admin = signed_in(&t, "admin@example.com").await;
    let (s, page) = text(&admin, format!("{}/scorecards", t.url)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("id=\"nps-settings\"")
            && page.contains("name=\"every_days\" min=\"0\" max=\"365\" value=\"0\""),
        "{page}"
    );
    let csrf = csrf_in(&page);
    let post = |c: &reqwest::Client, csrf: String, days: &'static str| {
        c.post(format!("{}/scorecards/nps", t.url))
            .form(&[("_csrf", csrf), ("every_days", days.to_string())])
            .send()
    };
    // Out of range or not a number: refused on the page with the reason; nothing stored.
    for bad in ["400", "soon"] {
        let r = post(&admin, csrf.clone(), bad).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let body = r.text().await.unwrap();
        assert!(body.contains("data-testid=\"nps-error\""), "{body}");
        assert!(t.app.nps_policy(tenant).await.unwrap().is_none());
    }
    // Saved: the page says so and shows the new period; the survey is on.
    let r = post(&admin, csrf.clone(), "30").await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/scorecards?nps=saved")
    );
    let (_, body) = text(&admin, format!("{}/scorecards?nps=saved", t.url)).await;
    assert!(
        body.contains("data-testid=\"nps-saved\"") && body.contains("value=\"30\""),
        "{body}"
    );
    assert_eq!(
        t.app
            .nps_policy(tenant)
            .await
            .unwrap()
            .map(|p| p.every_days),
        Some(30)
    );
    // A forged token is refused; an agent sees no form and cannot change it.
    let r = post(&admin, "forged".into(), "0").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let agent = signed_in(&t, "agent@example.com").await;
    let (_, page) = text(&agent, format!("{}/scorecards", t.url)).await;
    assert!(!page.contains("nps-settings"), "{page}");
    let r = post(&agent, csrf_in(&page), "0").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        t.app
            .nps_policy(tenant)
            .await
            .unwrap()
            .map(|p| p.every_days),
        Some(30)
    );
}
