#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `concierge import orders|customers FILE.csv` as a user runs it (issue 3, item 5): the
//! summary, every rejected row as `line N: reason`, exit 0 when everything landed or was
//! already there, 65 when rows were rejected or the file is unusable, 66 for a missing file.
//! On SQLite, or PostgreSQL when `CONCIERGE_TEST_DATABASE_URL` is set.

use concierge_store::testing::TestDb;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_concierge");

fn concierge(db: &TestDb, data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .arg("--database-url")
        .arg(&db.url)
        .args(args)
        .env_remove("CONCIERGE_CONFIG")
        .current_dir(data)
        .output()
        .expect("run concierge")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn import_orders_reports_rows_and_exit_codes() {
    let db = TestDb::new().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let good = data.path().join("good.csv");
    std::fs::write(
        &good,
        "\u{feff}order_id,customer_id,ordered_at,sku,quantity,unit_price,customer_name\n\
         A-1,C-1,2026-01-05,RICE,1,10.00,Wang Fang\n\
         A-1,C-1,2026-01-05,TEA,2,3.50,\n\
         A-2,C-2,2026-01-06 09:30,RICE,1,10.00,Kim\n",
    )
    .unwrap();
    let p = good.to_str().unwrap();

    // A dry run counts and writes nothing.
    let out = concierge(&db, data.path(), &["import", "orders", p, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 would be imported"),
        "{}",
        text(&out.stdout)
    );

    let out = concierge(&db, data.path(), &["import", "orders", p]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.contains("orders: 2 imported, 0 updated, 0 unchanged; 0 row(s) rejected (of 3 rows)"),
        "{s}"
    );
    assert!(
        s.contains("3 order lines written, 2 customers created"),
        "{s}"
    );

    let out = concierge(&db, data.path(), &["import", "orders", p]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("orders: 0 imported, 0 updated, 2 unchanged"),
        "{}",
        text(&out.stdout)
    );

    // Bad rows: each reported with its line; exit 65; the good order lands.
    let bad = data.path().join("bad.csv");
    std::fs::write(
        &bad,
        "order_id,customer_id,ordered_at,sku,quantity,unit_price\n\
         B-1,C-3,2026-01-07,RICE,0,10.00\n\
         B-2,C-3,2026-13-01,RICE,1,10.00\n\
         B-3,C-3,2026-01-07,RICE,1,10.00\n",
    )
    .unwrap();
    let out = concierge(
        &db,
        data.path(),
        &["import", "orders", bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(65), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("1 imported"), "{s}");
    assert!(
        s.contains("line 2: order 'B-1': quantity '0' must be above zero"),
        "{s}"
    );
    assert!(
        s.contains("line 3: order 'B-2': ordered_at '2026-13-01' is not a date"),
        "{s}"
    );

    // JSON for scripts.
    let out = concierge(
        &db,
        data.path(),
        &["import", "orders", bad.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(65));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["unchanged"], 1);
    assert_eq!(v["rejected"][1]["line"], 3);

    // An unusable file: a clear message, exit 65, nothing imported.
    let wrong = data.path().join("wrong.csv");
    std::fs::write(&wrong, "id,customer,date\n1,2,3\n").unwrap();
    let out = concierge(
        &db,
        data.path(),
        &["import", "orders", wrong.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(65));
    let e = text(&out.stderr);
    assert!(e.contains("missing column(s) order_id, customer_id"), "{e}");
    assert!(e.contains("unknown column(s) 'id'"), "{e}");
    let latin1 = data.path().join("latin1.csv");
    std::fs::write(&latin1, b"customer_id,name\nC-1,Jos\xe9\n").unwrap();
    let out = concierge(
        &db,
        data.path(),
        &["import", "customers", latin1.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(65));
    assert!(
        text(&out.stdout).contains("line 2: customer 'C-1': name is not UTF-8 text"),
        "{}",
        text(&out.stdout)
    );

    let out = concierge(&db, data.path(), &["import", "orders", "missing.csv"]);
    assert_eq!(out.status.code(), Some(66));

    // The help text documents the batches and the columns.
    let out = concierge(&db, data.path(), &["import", "orders", "--help"]);
    let h = text(&out.stdout);
    assert!(
        h.contains("order_id,customer_id,ordered_at,sku,quantity,unit_price"),
        "{h}"
    );
    assert!(h.contains("transactions of 1,000 orders"), "{h}");
}
