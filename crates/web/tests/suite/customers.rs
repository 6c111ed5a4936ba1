//! Customer memory over HTTP (issue 3): search, the profile, preferences with provenance and
//! history, notes, flags, the timeline, personalisation, the console's customer page, tenant
//! isolation route by route, hostile input, and the hotel story end to end. Runs on SQLite, or
//! on PostgreSQL when `CONCIERGE_TEST_DATABASE_URL` is set.

use crate::harness::*;
use concierge_domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
#[tokio::test]
async fn hotel_story_the_guest_is_never_asked_again() {
    let t = spawn_app().await;
    let tenant = t.tenant("grand-hotel").await;
    let token = t
        .user_with_token(tenant, "night.desk@hotel.test", Role::Agent)
        .await;
    let api = Api::new(&t, token);
    let guest = api.create("Ann Lee", Some("ann@example.com")).await;
    let offer = "Good morning {{customer.first_name}}, your {{pref.drink | \"coffee\"}} and \
                 {{pref.newspaper | \"New York Times\"}} are on the way.";
    let render = |id: i64| {
        let api = &api;
        async move {
            let (s, v) = api
                .post(
                    &format!("/api/v1/customers/{id}/render"),
                    json!({ "template": offer }),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v
        }
    };
    // Before anyone asked, the offer falls back to the house default, and says what is missing.
    let before = render(guest).await;
    assert_eq!(
        before["output"],
        "Good morning Ann, your coffee and New York Times are on the way."
    );
    assert_eq!(before["missing"], json!(["pref.drink", "pref.newspaper"]));

    // Night 1: the guest says "tea, and the Wall Street Journal"; the agent remembers both.
    let night1 = t.app.now();
    for (key, value) in [("drink", "tea"), ("newspaper", "The Wall Street Journal")] {
        let (s, v) = api
            .post(
                &format!("/api/v1/customers/{guest}/preferences"),
                json!({"key": key, "value": value, "standing": true,
                       "learned_from": "night 1 wake-up call"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["change"], "created");
    }

    // Nights 2-4: the wake-up offer is generated from the profile and never asks again.
    for night in 2..=4 {
        t.app.clock.advance_ms(DAY_MS);
        let v = render(guest).await;
        let out = v["output"].as_str().unwrap();
        assert_eq!(
            out, "Good morning Ann, your tea and The Wall Street Journal are on the way.",
            "night {night}"
        );
        assert!(!out.contains("coffee") && !out.contains("New York Times") && !out.contains('?'));
        assert_eq!(v["missing"], json!([]));
    }

    // Nothing was asked or recorded again: two preferences, no history, two timeline events.
    let (_, history) = api
        .get(&format!(
            "/api/v1/customers/{guest}/preferences?history=true"
        ))
        .await;
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");
    let (_, tl) = api
        .get(&format!(
            "/api/v1/customers/{guest}/timeline?kind=preference"
        ))
        .await;
    assert_eq!(tl["items"].as_array().unwrap().len(), 2);

    // The profile shows where and when each preference was learned, and who recorded it.
    let (s, profile) = api.get(&format!("/api/v1/customers/{guest}")).await;
    assert_eq!(s, StatusCode::OK);
    let prefs = profile["preferences"].as_array().unwrap();
    assert_eq!(prefs.len(), 2);
    for p in prefs {
        assert_eq!(p["source"], "agent");
        assert_eq!(p["learned_from"], "night 1 wake-up call");
        assert_eq!(p["recorded_by_name"], "night.desk");
        assert!(p["standing"].as_bool().unwrap());
        let at = p["learned_at"].as_i64().unwrap();
        assert!(
            (night1..night1 + 60_000).contains(&at),
            "learned on night 1: {at}"
        );
    }
    let drink = prefs.iter().find(|p| p["key"] == "drink").unwrap();
    assert_eq!(drink["value"], "tea");
}

#[tokio::test]
async fn preferences_keep_provenance_and_history() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let token = t.user_with_token(tenant, "agent@x.test", Role::Agent).await;
    let api = Api::new(&t, token);
    let id = api.create("王伟", None).await;
    let path = format!("/api/v1/customers/{id}/preferences");
    let (s, v) = api
        .post(
            &path,
            json!({"key": " Drink ", "value": "coffee", "standing": false}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["preference"]["key"], "drink", "keys are normalised");
    let first_id = v["preference"]["id"].as_i64().unwrap();
    t.app.clock.advance_ms(1000);
    // The same value again confirms it (200), without a new row.
    let (s, v) = api
        .post(
            &path,
            json!({"key": "drink", "value": "coffee", "standing": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["change"], "confirmed");
    assert_eq!(v["preference"]["id"].as_i64().unwrap(), first_id);
    assert!(v["preference"]["confirmed_at"].as_i64() > v["preference"]["learned_at"].as_i64());
    assert_eq!(v["preference"]["standing"], true);
    t.app.clock.advance_ms(1000);
    // A new value supersedes the old one; the old one is kept.
    let (s, v) = api
        .post(
            &path,
            json!({"key": "drink", "value": "green tea", "source": "email"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["change"], "changed");
    assert_eq!(v["preference"]["source"], "email");
    let new_id = v["preference"]["id"].as_i64().unwrap();
    let (_, current) = api.get(&path).await;
    let current = current.as_array().unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["value"], "green tea");
    let (_, all) = api.get(&format!("{path}?history=true")).await;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["value"], "green tea");
    assert_eq!(all[0]["active"], true);
    assert_eq!(all[1]["value"], "coffee");
    assert_eq!(all[1]["active"], false);
    assert_eq!(all[1]["superseded_by"].as_i64().unwrap(), new_id);
    assert!(all[1]["superseded_at"].as_i64().is_some());
    // The timeline tells the story, newest first, with the previous value.
    let (_, tl) = api
        .get(&format!("/api/v1/customers/{id}/timeline?kind=preference"))
        .await;
    let items = tl["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["summary"]["value"], "green tea");
    assert_eq!(items[0]["summary"]["previous"], "coffee");
    assert_eq!(items[1]["summary"]["change"], "confirmed");
}

#[tokio::test]
async fn search_finds_by_name_email_phone_and_external_id() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let token = t.user_with_token(tenant, "agent@x.test", Role::Agent).await;
    let api = Api::new(&t, token);
    let muller = api.create("Anna Müller", Some("anna@example.com")).await;
    let wang = api.create("王伟", None).await;
    let kim = api.create("김민준", None).await;
    let (s, v) = api
        .post(
            "/api/v1/customers",
            json!({"name": "Ext Person", "external_id": "SHOP-42"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let ext = v["id"].as_i64().unwrap();
    let (s, v) = api
        .patch(
            &format!("/api/v1/customers/{kim}"),
            json!({"language": "ko", "contacts": [{"kind": "phone", "value": "010-1234-5678"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["phone"], "+821012345678");
    let ids = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect()
    };
    for (q, want) in [
        ("muller", muller),
        ("MÜLLER", muller),
        ("anna", muller),
        ("ANNA@EXAMPLE.COM", muller),
        ("王", wang),
        ("민준", kim),
        ("+82 10 1234 5678", kim),
        ("010-1234-5678", kim),
        ("SHOP-42", ext),
    ] {
        let (s, v) = api
            .get(&format!("/api/v1/customers?q={}", url_escape(q)))
            .await;
        assert_eq!(s, StatusCode::OK, "{q}: {v}");
        assert_eq!(ids(&v), vec![want], "q={q}");
    }
    // LIKE wildcards are literal.
    let (_, v) = api.get("/api/v1/customers?q=%25").await;
    assert!(ids(&v).is_empty(), "{v}");
    // The email parameter still works.
    let (_, v) = api.get("/api/v1/customers?email=anna@example.com").await;
    assert_eq!(ids(&v), vec![muller]);
    // Without a query: everyone, by name.
    let (_, v) = api.get("/api/v1/customers").await;
    assert_eq!(ids(&v).len(), 4);
}

fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn profile_changes_are_validated_recorded_and_shown() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let token = t.user_with_token(tenant, "agent@x.test", Role::Agent).await;
    let api = Api::new(&t, token);
    let id = api.create("Ann Lee", Some("ann@example.com")).await;
    let path = format!("/api/v1/customers/{id}");
    let (s, v) = api
        .patch(
            &path,
            json!({
                "name": "Ann B. Lee", "given_name": "Ann", "family_name": "Lee",
                "birthday": "1980-02-29", "language": "en-US", "time_zone": "America/New_York",
                "preferred_channel": "SMS",
                "contacts": [
                    {"kind": "email", "value": "Ann@Example.com", "primary": true},
                    {"kind": "email", "value": "ann+shop@example.com"},
                    {"kind": "phone", "value": "(415) 555-0100"},
                    {"kind": "address", "value": "1 Main St, Springfield"}
                ],
                "tags": ["Gold", "gold", "newsletter"]
            }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"], "Ann B. Lee");
    assert_eq!(v["birthday"], "1980-02-29");
    assert_eq!(v["preferred_channel"], "sms");
    assert_eq!(v["phone"], "+14155550100");
    assert_eq!(v["email"], "Ann@Example.com");
    assert_eq!(v["contacts"].as_array().unwrap().len(), 4);
    assert_eq!(v["tags"], json!(["gold", "newsletter"]));
    // An empty string clears a field; absent fields stay.
    let (s, v) = api.patch(&path, json!({"time_zone": ""})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["time_zone"], Value::Null);
    assert_eq!(v["language"], "en-US");
    // Age is computed for templates.
    let (_, r) = api
        .post(
            &format!("{path}/render"),
            json!({"template": "{{customer.first_name}} {{customer.last_name}} {{customer.age}} {{customer.tier | \"member\"}}"}),
        )
        .await;
    let out = r["output"].as_str().unwrap();
    assert!(out.starts_with("Ann Lee "), "{out}");
    assert!(out.ends_with(" member"), "{out}");
    // Bad values are refused with the field named, and nothing changes.
    for (body, needle) in [
        (json!({"birthday": "1981-02-29"}), "YYYY-MM-DD"),
        (json!({"time_zone": "Mars/Olympus"}), "time zone"),
        (json!({"preferred_channel": "pigeon"}), "channel"),
        (json!({"name": ""}), "name"),
        (
            json!({"contacts": [{"kind": "phone", "value": "call me"}]}),
            "contacts[0]",
        ),
        (
            json!({"contacts": [{"kind": "fax", "value": "1"}]}),
            "contacts[0]",
        ),
        (json!({"language": "<script>"}), "language"),
    ] {
        let (s, v) = api.patch(&path, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert!(message(&v).contains(needle), "{body}: {v}");
    }
    let (_, after) = api.get(&path).await;
    assert_eq!(after["birthday"], "1980-02-29");
    assert_eq!(after["contacts"].as_array().unwrap().len(), 4);
    // The changes are on the timeline.
    let (_, tl) = api.get(&format!("{path}/timeline?kind=profile")).await;
    assert_eq!(tl["items"].as_array().unwrap().len(), 2);
    assert_eq!(tl["items"][1]["summary"]["fields"][0], "name");
}

#[tokio::test]
async fn notes_and_flags_are_kept_with_who_and_why() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let token = t.user_with_token(tenant, "agent@x.test", Role::Agent).await;
    let api = Api::new(&t, token);
    let id = api.create("Bob", None).await;
    let (s, n) = api
        .post(
            &format!("/api/v1/customers/{id}/notes"),
            json!({"body": "Prefers calls after 6pm"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    let (s, _) = api
        .post(
            &format!("/api/v1/customers/{id}/notes"),
            json!({"body": "<b>Allergic</b> to nuts", "pinned": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, notes) = api.get(&format!("/api/v1/customers/{id}/notes")).await;
    assert_eq!(notes[0]["pinned"], true, "pinned first");
    assert_eq!(notes[0]["body"], "<b>Allergic</b> to nuts");
    assert_eq!(notes[1]["author_name"], "agent");
    let (s, f) = api
        .post(
            &format!("/api/v1/customers/{id}/flags"),
            json!({"flag": "abusive", "reason": "shouted at staff"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{f}");
    assert_eq!(f["flag"], "abusive");
    assert_eq!(f["set_by_name"], "agent");
    // Setting it again keeps the same flag.
    let (_, again) = api
        .post(
            &format!("/api/v1/customers/{id}/flags"),
            json!({"flag": "abusive", "reason": "again"}),
        )
        .await;
    assert_eq!(again["id"], f["id"]);
    let (s, v) = api
        .post(
            &format!("/api/v1/customers/{id}/flags"),
            json!({"flag": "vip"}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is required: {v}"
    );
    let (_, profile) = api.get(&format!("/api/v1/customers/{id}")).await;
    assert_eq!(profile["flags"].as_array().unwrap().len(), 1);
    assert_eq!(profile["pinned_notes"].as_array().unwrap().len(), 1);
    let (s, cleared) = api
        .post(
            &format!("/api/v1/customers/{id}/flags"),
            json!({"flag": "abusive", "set": false}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(cleared["cleared_at"].as_i64().is_some());
    let (_, now) = api.get(&format!("/api/v1/customers/{id}/flags")).await;
    assert_eq!(now.as_array().unwrap().len(), 0);
    let (_, all) = api
        .get(&format!("/api/v1/customers/{id}/flags?history=true"))
        .await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    let (_, tl) = api
        .get(&format!("/api/v1/customers/{id}/timeline?kind=flag"))
        .await;
    assert_eq!(tl["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_timeline_merges_orders_and_cases_and_pages_by_cursor() {
    use concierge_store::bulk::{Val, insert_rows};
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let token = t.user_with_token(tenant, "agent@x.test", Role::Agent).await;
    let api = Api::new(&t, token);
    let id = api.create("Carol", None).await;
    let other = api.create("Dave", None).await;
    let base = t.app.now();
    for i in 0..12 {
        let (s, _) = api
            .post(
                &format!("/api/v1/customers/{id}/notes"),
                json!({"body": format!("note {i}")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        t.app.clock.advance_ms(1000);
    }
    let mut tx = t.app.store.begin().await.unwrap();
    let order_rows: Vec<Vec<Val>> = [
        (id, "O-1", base + 2500),
        (id, "O-2", base + 2500),
        (other, "O-3", base),
    ]
    .iter()
    .map(|(c, x, at)| {
        vec![
            tenant.0.into(),
            (*x).into(),
            (*c).into(),
            (*at).into(),
            "paid".into(),
            "KRW".into(),
            12_000i64.into(),
        ]
    })
    .collect();
    insert_rows(
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
        &order_rows,
        None,
    )
    .await
    .unwrap();
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
        &[vec![
            tenant.0.into(),
            1i64.into(),
            "Rice arrived late".into(),
            "complaint".into(),
            "email".into(),
            id.into(),
            "normal".into(),
            "open".into(),
            (base + 5000).into(),
            (base + 5000).into(),
        ]],
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // Page through 4 at a time: 12 notes + 2 orders + 1 case, newest first, none twice.
    let mut seen: Vec<(i64, String, Value)> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/customers/{id}/timeline?limit=4&cursor={c}"),
            None => format!("/api/v1/customers/{id}/timeline?limit=4"),
        };
        let (s, v) = api.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        for i in v["items"].as_array().unwrap() {
            seen.push((
                i["at"].as_i64().unwrap(),
                i["kind"].as_str().unwrap().to_string(),
                i["summary"].clone(),
            ));
        }
        pages += 1;
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(seen.len(), 15, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 >= w[1].0), "newest first");
    assert_eq!(seen.iter().filter(|s| s.1 == "order").count(), 2);
    assert_eq!(seen.iter().filter(|s| s.1 == "case").count(), 1);
    let case = seen.iter().find(|s| s.1 == "case").unwrap();
    assert_eq!(case.2["subject"], "Rice arrived late");
    let mut orders: Vec<&str> = seen
        .iter()
        .filter(|s| s.1 == "order")
        .map(|s| s.2["order"].as_str().unwrap())
        .collect();
    orders.sort();
    assert_eq!(
        orders,
        vec!["O-1", "O-2"],
        "another customer's order is not here"
    );
    // Filters.
    let (_, v) = api
        .get(&format!("/api/v1/customers/{id}/timeline?kind=order"))
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let (_, v) = api
        .get(&format!(
            "/api/v1/customers/{id}/timeline?kind=note&limit=200"
        ))
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 12);
    assert_eq!(v["next_cursor"], Value::Null);
    // Bad paging input is refused clearly.
    for q in [
        "cursor=garbage",
        "limit=0",
        "limit=201",
        "kind=DROP%20TABLE",
    ] {
        let (s, v) = api
            .get(&format!("/api/v1/customers/{id}/timeline?{q}"))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {v}");
    }
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_changes_nothing() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    let token = t.user_with_token(tenant, "agent@x.test", Role::Agent).await;
    let api = Api::new(&t, token);
    let id = api.create("Eve", None).await;
    let prefs = format!("/api/v1/customers/{id}/preferences");
    // A 10 MB key: the body is over the server's limit.
    let huge = "k".repeat(10 * 1024 * 1024);
    let (s, v) = api.post(&prefs, json!({"key": huge, "value": "tea"})).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(code(&v), "payload_too_large");
    // Under the body limit but over the field limits: 422 with the rule, not the input.
    let (s, v) = api
        .post(&prefs, json!({"key": "k".repeat(100_000), "value": "tea"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        message(&v).contains("1-64") && message(&v).len() < 300,
        "{v}"
    );
    let (s, v) = api
        .post(&prefs, json!({"key": "drink", "value": "v".repeat(1001)}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message(&v).contains("1-1000"), "{v}");
    for (body, what) in [
        (json!({"key": "drink!", "value": "tea"}), "bad key"),
        (json!({"key": "drink", "value": "   "}), "empty value"),
        (
            json!({"key": "drink", "value": "tea", "source": "rumour"}),
            "bad source",
        ),
        (
            json!({"key": "drink", "value": "tea", "colour": "red"}),
            "unknown field",
        ),
        (json!({"key": "drink"}), "missing value"),
        (json!({"key": "drink", "value": 5}), "wrong type"),
    ] {
        let (s, v) = api.post(&prefs, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {v}");
        assert!(!message(&v).is_empty());
    }
    let (_, all) = api.get(&format!("{prefs}?history=true")).await;
    assert_eq!(all.as_array().unwrap().len(), 0, "nothing was stored");
    // Other routes refuse unknown fields and bad values too.
    for (path, body) in [
        (format!("/api/v1/customers/{id}"), json!({"nickname": "x"})),
        (format!("/api/v1/customers/{id}/notes"), json!({"body": ""})),
        (
            format!("/api/v1/customers/{id}/notes"),
            json!({"body": "x", "secret": 1}),
        ),
        (
            format!("/api/v1/customers/{id}/flags"),
            json!({"flag": "gold", "reason": "x"}),
        ),
        (
            format!("/api/v1/customers/{id}/render"),
            json!({"template": "{{customer.password}}"}),
        ),
        (
            format!("/api/v1/customers/{id}/render"),
            json!({"template": "Hi {{customer.name"}),
        ),
        (
            format!("/api/v1/customers/{id}/render"),
            json!({"template": "x", "format": "pdf"}),
        ),
    ] {
        let method = if path.ends_with(&id.to_string()) {
            reqwest::Method::PATCH
        } else {
            reqwest::Method::POST
        };
        let (s, v) = api.send(method, &path, Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path} {body}: {v}");
    }
    // HTML rendering escapes what customers wrote.
    let (s, _) = api
        .patch(
            &format!("/api/v1/customers/{id}"),
            json!({"given_name": "<img src=x onerror=alert(1)>"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, r) = api
        .post(
            &format!("/api/v1/customers/{id}/render"),
            json!({"template": "<p>Hi {{customer.first_name}}</p>", "format": "html"}),
        )
        .await;
    assert_eq!(r["output"], "<p>Hi &lt;img src=x onerror=alert(1)&gt;</p>");
    // Unknown ids are 404; non-numeric ids are 400.
    let (s, _) = api.get("/api/v1/customers/999999").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api.get("/api/v1/customers/abc/preferences").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tenant_isolation_holds_for_every_customer_route() {
    let t = spawn_app().await;
    let ta = t.tenant("alpha").await;
    let tb = t.tenant("beta").await;
    let a = Api::new(
        &t,
        t.user_with_token(ta, "admin@alpha.test", Role::Admin).await,
    );
    let b = Api::new(
        &t,
        t.user_with_token(tb, "admin@beta.test", Role::Admin).await,
    );
    let id = a.create("Alpha Customer", Some("cust@alpha.test")).await;
    let (s, _) = a
        .post(
            &format!("/api/v1/customers/{id}/preferences"),
            json!({"key": "drink", "value": "tea"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = a
        .post(
            &format!("/api/v1/customers/{id}/notes"),
            json!({"body": "secret note"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    use reqwest::Method as M;
    let routes: Vec<(M, String, Option<Value>)> = vec![
        (M::GET, format!("/api/v1/customers/{id}"), None),
        (
            M::PATCH,
            format!("/api/v1/customers/{id}"),
            Some(json!({"name": "Hijacked"})),
        ),
        (M::GET, format!("/api/v1/customers/{id}/preferences"), None),
        (
            M::GET,
            format!("/api/v1/customers/{id}/preferences?history=true"),
            None,
        ),
        (
            M::POST,
            format!("/api/v1/customers/{id}/preferences"),
            Some(json!({"key": "drink", "value": "poison"})),
        ),
        (M::GET, format!("/api/v1/customers/{id}/notes"), None),
        (
            M::POST,
            format!("/api/v1/customers/{id}/notes"),
            Some(json!({"body": "x"})),
        ),
        (M::GET, format!("/api/v1/customers/{id}/flags"), None),
        (
            M::POST,
            format!("/api/v1/customers/{id}/flags"),
            Some(json!({"flag": "fraud_suspect", "reason": "x"})),
        ),
        (M::GET, format!("/api/v1/customers/{id}/timeline"), None),
        (
            M::GET,
            format!("/api/v1/customers/{id}/timeline?kind=order"),
            None,
        ),
        (
            M::POST,
            format!("/api/v1/customers/{id}/render"),
            Some(json!({"template": "{{customer.name}}"})),
        ),
        (M::POST, format!("/api/v1/customers/{id}/portal-link"), None),
    ];
    for (m, path, body) in &routes {
        let (s, v) = b.send(m.clone(), path, body.clone()).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path}: {v}");
        assert_eq!(code(&v), "not_found");
    }
    // Search from the other tenant finds nothing, by any key.
    for q in ["Alpha", "cust@alpha.test", &id.to_string()] {
        let (_, v) = b
            .get(&format!("/api/v1/customers?q={}", url_escape(q)))
            .await;
        assert_eq!(v.as_array().unwrap().len(), 0, "{q}");
    }
    let (_, v) = b.get("/api/v1/customers").await;
    assert_eq!(v.as_array().unwrap().len(), 0);
    // And nothing changed for tenant A.
    let (s, v) = a.get(&format!("/api/v1/customers/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["name"], "Alpha Customer");
    assert_eq!(v["preferences"][0]["value"], "tea");
    assert_eq!(v["flags"].as_array().unwrap().len(), 0);
    let (_, tl) = a.get(&format!("/api/v1/customers/{id}/timeline")).await;
    assert_eq!(tl["items"].as_array().unwrap().len(), 2);
    // The console page too.
    let home = t.default_tenant().await;
    t.app
        .add_user(home, "desk@default.test", None, Role::Admin, "password-123")
        .await
        .unwrap();
    let (c, _) = sign_in(&t, "desk@default.test", "password-123").await;
    let r = c
        .get(format!("{}/customers/{id}", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn openapi_lists_the_customer_memory_routes() {
    let t = spawn_app().await;
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", t.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (p, m) in [
        ("/api/v1/customers", "get"),
        ("/api/v1/customers/{id}", "get"),
        ("/api/v1/customers/{id}", "patch"),
        ("/api/v1/customers/{id}/preferences", "get"),
        ("/api/v1/customers/{id}/preferences", "post"),
        ("/api/v1/customers/{id}/notes", "get"),
        ("/api/v1/customers/{id}/notes", "post"),
        ("/api/v1/customers/{id}/flags", "get"),
        ("/api/v1/customers/{id}/flags", "post"),
        ("/api/v1/customers/{id}/timeline", "get"),
        ("/api/v1/customers/{id}/render", "post"),
    ] {
        assert!(
            paths.get(p).and_then(|x| x.get(m)).is_some(),
            "{m} {p} missing"
        );
    }
}

#[tokio::test]
async fn console_customer_page_remembers_a_preference_with_provenance() {
    let t = spawn_app().await;
    let tenant = t.default_tenant().await;
    t.app
        .add_user(tenant, "desk@hotel.test", None, Role::Agent, "password-123")
        .await
        .unwrap();
    let (c, r) = sign_in(&t, "desk@hotel.test", "password-123").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let list = c.get(format!("{}/customers", t.url)).send().await.unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let html = list.text().await.unwrap();
    let csrf = csrf_in(&html);
    // Create a customer whose name is hostile markup.
    let r = c
        .post(format!("{}/customers", t.url))
        .form(&[
            ("name", "<script>alert(1)</script> Ann"),
            ("email", "ann@example.com"),
            ("_csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page_url = format!("{}{}", t.url, r.headers()["location"].to_str().unwrap());
    let page = c.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("<script>alert(1)"), "escaped");
    let h1 = page
        .lines()
        .find(|l| l.contains("customer-name"))
        .unwrap_or("");
    assert!(
        h1.contains("alert(1)") && !h1.contains("<script"),
        "shown escaped: {h1}"
    );
    let id: i64 = page_url.rsplit('/').next().unwrap().parse().unwrap();
    // Remember this.
    let r = c
        .post(format!("{page_url}/preferences"))
        .form(&[
            ("key", "newspaper"),
            ("value", "The Wall Street Journal"),
            ("standing", "1"),
            ("learned_from", "check-in desk"),
            ("_csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("The Wall Street Journal"));
    assert!(page.contains("check-in desk"));
    assert!(page.contains("desk</td>"), "who recorded it");
    assert!(page.contains(" UTC"), "when");
    let prefs = t
        .app
        .preferences(tenant, concierge_domain::CustomerId(id), false)
        .await
        .unwrap();
    assert_eq!(prefs.len(), 1);
    assert!(prefs[0].standing);
    // A bad key is shown as an error on the page, not stored.
    let r = c
        .post(format!("{page_url}/preferences"))
        .form(&[("key", "no way!"), ("value", "x"), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("flash-error"));
    // Without the CSRF token nothing happens.
    let r = c
        .post(format!("{page_url}/preferences"))
        .form(&[("key", "drink"), ("value", "x"), ("_csrf", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Notes and flags from the page; search from the list.
    let r = c
        .post(format!("{page_url}/notes"))
        .form(&[
            ("body", "<i>likes</i> quiet rooms"),
            ("pinned", "1"),
            ("_csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = c
        .post(format!("{page_url}/flags"))
        .form(&[
            ("flag", "vip"),
            ("reason", "platinum member"),
            ("_csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("likes") && !page.contains("<i>likes"),
        "notes are escaped"
    );
    assert!(page.contains("platinum member"));
    let found = c
        .get(format!("{}/customers?q=ann%40example.com", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(found.contains(&format!("/customers/{id}")));
    // In Chinese and Korean too.
    for (lang, word) in [("zh-CN", "偏好"), ("ko", "선호 사항")] {
        let r = c
            .post(format!("{}/lang", t.url))
            .form(&[("lang", lang), ("_csrf", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let html = c.get(&page_url).send().await.unwrap().text().await.unwrap();
        assert!(html.contains(word), "{lang}");
    }
}
