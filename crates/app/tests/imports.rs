#![allow(clippy::unwrap_used, clippy::expect_used)]
//! CSV imports of orders and customers (issue 3, item 5) on both engines: the same file twice
//! gives the same state; bad rows are each reported with their line and only whole good
//! orders land; unusable files change nothing; imported orders reach the timeline and
//! analytics; re-imports update what changed and refuse to move orders between customers.

use concierge_app::import::{ImportError, ImportInput, ImportOptions, ImportReport};
use concierge_app::{App, Config};
use concierge_domain::{CustomerId, TenantId};
use concierge_store::testing::TestDb;

async fn app(db: &TestDb) -> App {
    let mut cfg = Config::default();
    cfg.storage.database_url = db.url.clone();
    App::new(db.store().await.unwrap(), cfg)
}

async fn tenant(app: &App, slug: &str) -> TenantId {
    app.store
        .ensure_tenant(slug, slug, app.now())
        .await
        .unwrap()
        .id
}

async fn orders(app: &App, t: TenantId, csv: &str) -> Result<ImportReport, ImportError> {
    app.import_orders(
        t,
        ImportInput::Bytes(csv.as_bytes()),
        &ImportOptions::default(),
        &|_, _, _| {},
    )
    .await
}

async fn customers(app: &App, t: TenantId, csv: &str, dry_run: bool) -> ImportReport {
    app.import_customers(
        t,
        ImportInput::Bytes(csv.as_bytes()),
        &ImportOptions {
            dry_run,
            ..ImportOptions::default()
        },
        &|_, _, _| {},
    )
    .await
    .unwrap()
}

/// Row counts of every table an import touches, for one tenant.
async fn state(app: &App, t: TenantId) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in [
        "customers",
        "customer_contacts",
        "customer_tags",
        "products",
        "orders",
        "order_lines",
        "timeline_events",
        "change_log",
        "audit_events",
    ] {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE tenant_id = $1"
        )))
        .bind(t.0)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
        out.push((table, n));
    }
    let sums: (i64, f64) = {
        let r: (i64, f64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT), \
             CAST(COALESCE(SUM(quantity), 0) AS DOUBLE PRECISION) \
             FROM order_lines WHERE tenant_id = $1",
        )
        .bind(t.0)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
        r
    };
    out.push(("amount", sums.0));
    out.push(("quantity", sums.1 as i64));
    out
}

async fn customer_id(app: &App, t: TenantId, external: &str) -> CustomerId {
    let id: i64 =
        sqlx::query_scalar("SELECT id FROM customers WHERE tenant_id = $1 AND external_id = $2")
            .bind(t.0)
            .bind(external)
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    CustomerId(id)
}

const GOOD: &str = "order_id,customer_id,ordered_at,sku,quantity,unit_price,currency,product_name,customer_email,customer_name\n\
A-1,C-1,2026-01-05 10:00,RICE-10,1,25.90,CNY,Rice 10 kg,wang@example.com,王芳\n\
A-1,C-1,2026-01-05 10:00,TEA-1,2,8.50,CNY,Green tea,,\n\
A-2,C-2,2026-02-01T09:00:00+09:00,RICE-10,1,25900,KRW,,kim@example.com,김민수\n\
A-3,C-1,2026-03-01,RICE-10,0.5,25.90,CNY,,,\n";

#[tokio::test]
async fn the_same_file_twice_gives_the_same_state() {
    let db = TestDb::new().await.unwrap();
    let app = app(&db).await;
    let t = tenant(&app, "shop").await;
    let first = orders(&app, t, GOOD).await.unwrap();
    assert!(first.rejected.is_empty(), "{:?}", first.rejected);
    assert_eq!(
        (
            first.rows,
            first.imported,
            first.unchanged,
            first.lines_written
        ),
        (4, 3, 0, 4)
    );
    assert_eq!((first.customers_created, first.products_created), (2, 2));
    let after_first = state(&app, t).await;

    let second = orders(&app, t, GOOD).await.unwrap();
    assert!(second.rejected.is_empty(), "{:?}", second.rejected);
    assert_eq!(
        (second.imported, second.updated, second.unchanged),
        (0, 0, 3)
    );
    assert_eq!(
        (
            second.customers_created,
            second.products_created,
            second.products_updated,
            second.lines_written
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(state(&app, t).await, after_first);

    // The new customer has the name and email of the file; money is in minor units of each
    // currency; the orders are on the timeline once each.
    let c1 = customer_id(&app, t, "C-1").await;
    let profile = app.customer_profile(t, c1).await.unwrap();
    assert_eq!(profile.display_name, "王芳");
    assert_eq!(profile.contacts[0].normalized, "wang@example.com");
    let page = app
        .customer_timeline(t, c1, Some("order"), None, Some(50))
        .await
        .unwrap();
    let totals: Vec<(String, i64)> = page
        .items
        .iter()
        .map(|i| {
            (
                i.summary["order"].as_str().unwrap().to_string(),
                i.summary["total_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        totals,
        vec![("A-3".to_string(), 1295), ("A-1".to_string(), 2590 + 1700)]
    );
    let c2 = customer_id(&app, t, "C-2").await;
    let page = app
        .customer_timeline(t, c2, None, None, Some(50))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].summary["total_minor"], 25900);
    assert_eq!(page.items[0].summary["currency"], "KRW");
    // 2026-02-01T09:00:00+09:00 is midnight UTC.
    assert_eq!(page.items[0].at, 1_769_904_000_000);

    // Analytics reads the imported orders like any others.
    let facts = app.store.order_facts(t, &|_, _| {}).await.unwrap();
    assert_eq!(facts.len(), 3);
    let lines = app.store.line_facts(t, &|_, _| {}).await.unwrap();
    let half: Vec<f64> = lines
        .iter()
        .filter(|l| l.customer_id == c1.0)
        .map(|l| l.quantity)
        .collect();
    assert!(half.contains(&0.5), "{half:?}");

    // Another tenant importing the same file gets its own customers and orders.
    let other = tenant(&app, "other").await;
    let r = orders(&app, other, GOOD).await.unwrap();
    assert_eq!((r.imported, r.customers_created), (3, 2));
    assert_eq!(state(&app, t).await, after_first);
}

#[tokio::test]
async fn bad_rows_are_reported_and_only_whole_good_orders_land() {
    let db = TestDb::new().await.unwrap();
    let app = app(&db).await;
    let t = tenant(&app, "shop").await;
    let mut csv = String::from(
        "order_id,customer_id,ordered_at,sku,quantity,unit_price\n\
         G-1,C-1,2026-01-05,RICE,1,10.00\n\
         G-1,C-1,2026-01-05,TEA,2,3.00\n\
         B-1,C-2,2026-01-06,RICE,1,10.00\n\
         B-1,C-2,2026-01-06,TEA,-2,3.00\n\
         B-2,C-3,31/01/2026,RICE,1,10.00\n\
         B-3,C-4,2026-01-07,RICE,1,10.00\n\
         B-3,C-5,2026-01-07,TEA,1,3.00\n\
         G-2,C-6,2026-01-08,TEA,3,3.00\n\
         B-4,C-7,2026-01-08,TEA,1,-3.00\n",
    );
    csv.push_str(&format!("B-5,C-8,2026-01-08,{},1,1.00\n", "S".repeat(5000)));
    let r = orders(&app, t, &csv).await.unwrap();
    let lines: Vec<u64> = r.rejected.iter().map(|x| x.line).collect();
    assert_eq!(lines, vec![4, 5, 6, 7, 8, 10, 11], "{:?}", r.rejected);
    let reason = |line: u64| {
        r.rejected
            .iter()
            .find(|x| x.line == line)
            .unwrap()
            .reason
            .clone()
    };
    assert!(reason(4).contains("not imported") && reason(4).contains("line 5"));
    assert!(reason(5).contains("quantity '-2' must be above zero"));
    assert!(reason(6).contains("is not a date"));
    assert!(reason(7).contains("not imported"));
    assert!(reason(8).contains("customer_id 'C-5' differs from 'C-4'"));
    assert!(reason(10).contains("must not be negative"));
    assert!(reason(11).contains("sku is 5000 bytes long"));
    assert_eq!(
        (r.imported, r.lines_written, r.customers_created),
        (2, 3, 2)
    );
    let s = state(&app, t).await;
    assert!(
        s.contains(&("orders", 2)) && s.contains(&("order_lines", 3)),
        "{s:?}"
    );
    assert!(s.contains(&("customers", 2)), "{s:?}");

    // Importing the fixed orders later adds them; what was there is unchanged.
    let fixed = "order_id,customer_id,ordered_at,sku,quantity,unit_price\n\
         G-1,C-1,2026-01-05,RICE,1,10.00\n\
         G-1,C-1,2026-01-05,TEA,2,3.00\n\
         B-1,C-2,2026-01-06,RICE,1,10.00\n\
         B-1,C-2,2026-01-06,TEA,2,3.00\n";
    let r = orders(&app, t, fixed).await.unwrap();
    assert_eq!((r.imported, r.unchanged, r.rejected.len()), (1, 1, 0));
}

#[tokio::test]
async fn unusable_files_change_nothing() {
    let db = TestDb::new().await.unwrap();
    let app = app(&db).await;
    let t = tenant(&app, "shop").await;
    orders(&app, t, GOOD).await.unwrap();
    let before = state(&app, t).await;

    let e = orders(
        &app,
        t,
        "order_id,customer,ordered_at,sku,qty,unit_price,colour\n1,2\n",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("missing column(s) customer_id, quantity"), "{e}");
    assert!(
        e.contains("unknown column(s) 'customer', 'qty', 'colour'"),
        "{e}"
    );

    let mut utf16 = vec![0xFF, 0xFE];
    for u in GOOD.encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let e = app
        .import_orders(
            t,
            ImportInput::Bytes(&utf16),
            &ImportOptions::default(),
            &|_, _, _| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ImportError::File(_)), "{e}");
    assert!(e.to_string().contains("UTF-16"), "{e}");

    // GBK-encoded names: each row is reported, nothing half-imported.
    let mut gbk =
        b"order_id,customer_id,ordered_at,sku,quantity,unit_price,customer_name\n".to_vec();
    gbk.extend_from_slice(b"N-1,C-9,2026-01-05,RICE,1,10.00,\xcd\xf5\xb7\xbc\n");
    let r = app
        .import_orders(
            t,
            ImportInput::Bytes(&gbk),
            &ImportOptions::default(),
            &|_, _, _| {},
        )
        .await
        .unwrap();
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].line, 2);
    assert!(
        r.rejected[0].reason.contains("not UTF-8"),
        "{:?}",
        r.rejected
    );

    assert!(orders(&app, t, "").await.is_err());
    let e = app
        .import_orders(
            t,
            ImportInput::Bytes(GOOD.as_bytes()),
            &ImportOptions {
                currency: Some("dollars".into()),
                ..ImportOptions::default()
            },
            &|_, _, _| {},
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ISO 4217"), "{e}");
    assert_eq!(state(&app, t).await, before);
}

#[tokio::test]
async fn changed_orders_are_updated_and_orders_never_move_between_customers() {
    let db = TestDb::new().await.unwrap();
    let app = app(&db).await;
    let t = tenant(&app, "shop").await;
    orders(&app, t, GOOD).await.unwrap();
    let changed = "order_id,customer_id,ordered_at,sku,quantity,unit_price,currency,status\n\
        A-1,C-1,2026-01-05 10:00,RICE-10,1,25.90,CNY,returned\n\
        A-1,C-1,2026-01-05 10:00,TEA-1,2,8.50,CNY,returned\n\
        A-2,C-9,2026-02-01,RICE-10,1,25900,KRW,paid\n\
        A-3,C-1,2026-03-01,RICE-10,2,25.90,CNY,paid\n";
    let r = orders(&app, t, changed).await.unwrap();
    assert_eq!((r.imported, r.updated, r.unchanged), (0, 2, 0), "{r:?}");
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].line, 4);
    assert!(r.rejected[0].reason.contains("another customer"), "{r:?}");
    // No customer was created for the refused order; the returned order left analytics.
    assert_eq!(r.customers_created, 0);
    let facts = app.store.order_facts(t, &|_, _| {}).await.unwrap();
    assert_eq!(facts.len(), 2);
    let c1 = customer_id(&app, t, "C-1").await;
    let page = app
        .customer_timeline(t, c1, Some("order"), None, Some(50))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0].summary["total_minor"], 5180);
    assert_eq!(page.items[1].summary["status"], "returned");
    // The dry run of the original decides the same and writes nothing.
    let before = state(&app, t).await;
    let dry = app
        .import_orders(
            t,
            ImportInput::Bytes(GOOD.as_bytes()),
            &ImportOptions {
                dry_run: true,
                ..ImportOptions::default()
            },
            &|_, _, _| {},
        )
        .await
        .unwrap();
    assert_eq!((dry.updated, dry.unchanged, dry.dry_run), (2, 1, true));
    assert_eq!(state(&app, t).await, before);
}

#[tokio::test]
async fn customers_import_creates_updates_and_repeats_nothing() {
    let db = TestDb::new().await.unwrap();
    let app = app(&db).await;
    let t = tenant(&app, "shop").await;
    let file = "customer_id,name,email,phone,language,birthday,tags,time_zone\n\
        C-1,王芳,wang@example.com,138 0013 8000,zh-CN,1980-02-29,vip;rice,Asia/Shanghai\n\
        C-2,Kim Minsu,kim@example.com,010-1234-5678,ko,,,\n\
        C-3,Twice,a@example.com,,,,,\n\
        C-4,Bad,not-an-email,,,1980-13-01,,Mars/Base\n\
        C-3,Again,b@example.com,,,,,\n";
    let dry = customers(&app, t, file, true).await;
    assert_eq!(dry.imported, 2);
    assert_eq!(app.store.count_customers(t).await.unwrap(), 0);
    let r = customers(&app, t, file, false).await;
    assert_eq!((r.imported, r.updated, r.unchanged), (2, 0, 0));
    let lines: Vec<u64> = r.rejected.iter().map(|x| x.line).collect();
    assert_eq!(lines, vec![4, 5, 6], "{:?}", r.rejected);
    assert!(
        r.rejected[0].reason.contains("repeated"),
        "{:?}",
        r.rejected
    );
    assert!(r.rejected[1].reason.contains("email"), "{:?}", r.rejected);
    assert!(
        r.rejected[1].reason.contains("birthday"),
        "{:?}",
        r.rejected
    );
    assert!(
        r.rejected[1].reason.contains("Mars/Base"),
        "{:?}",
        r.rejected
    );
    let c1 = customer_id(&app, t, "C-1").await;
    let p = app.customer_profile(t, c1).await.unwrap();
    assert_eq!(p.birthday.as_deref(), Some("1980-02-29"));
    assert_eq!(p.tags, vec!["rice", "vip"]);
    assert!(p.contacts.iter().any(|c| c.normalized == "+8613800138000"));
    let before = state(&app, t).await;
    let again = customers(&app, t, file, false).await;
    assert_eq!((again.imported, again.updated, again.unchanged), (0, 0, 2));
    assert_eq!(state(&app, t).await, before);

    // A changed email becomes primary, the old one stays; the change is on the timeline.
    let change = "customer_id,name,email\nC-1,王芳,fang@example.com\n";
    let r = customers(&app, t, change, false).await;
    assert_eq!((r.updated, r.unchanged), (1, 0));
    let p = app.customer_profile(t, c1).await.unwrap();
    let emails: Vec<(&str, bool)> = p
        .contacts
        .iter()
        .filter(|c| c.kind == "email")
        .map(|c| (c.normalized.as_str(), c.primary))
        .collect();
    assert_eq!(
        emails,
        vec![("fang@example.com", true), ("wang@example.com", false)]
    );
    assert_eq!(
        p.birthday.as_deref(),
        Some("1980-02-29"),
        "empty fields keep values"
    );
    let page = app
        .customer_timeline(t, c1, Some("profile"), None, Some(50))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].summary["fields"][0], "email");
    // Orders then find the imported customer by external id instead of creating one.
    let r = orders(
        &app,
        t,
        "order_id,customer_id,ordered_at,sku,quantity,unit_price\nO-1,C-1,2026-01-01,X,1,1\n",
    )
    .await
    .unwrap();
    assert_eq!((r.imported, r.customers_created), (1, 0));
}
