#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The binary as a user and an operator meet it: subcommands, exit codes, and several
//! `concierge serve` processes on one database (PostgreSQL when
//! `CONCIERGE_TEST_DATABASE_URL` is set, otherwise one SQLite file).

use concierge_store::testing::TestDb;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_concierge");

fn concierge(db: &TestDb, data: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir")
        .arg(data)
        .arg("--database-url")
        .arg(&db.url);
    c.env_remove("CONCIERGE_CONFIG");
    c.current_dir(data);
    c
}

/// A running `concierge serve`; killed on drop.
struct Node {
    child: Child,
    url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(db: &TestDb, data: &std::path::Path, name: &str) -> Node {
    let mut child = concierge(db, data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("CONCIERGE_JOBS__NODE_NAME", name)
        .env("CONCIERGE_JOBS__POLL_INTERVAL_MS", "50")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start concierge serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the address");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    Node { child, url }
}

#[tokio::test]
async fn user_add_token_create_and_config() {
    let db = TestDb::new().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    // Without --password-stdin a password is generated and printed.
    let out = concierge(&db, data.path())
        .args([
            "user",
            "add",
            "--email",
            "Boss@Example.com",
            "--role",
            "admin",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let pw = text.trim().rsplit(' ').next().unwrap();
    assert!(pw.len() >= 16, "{text}");
    // With --password-stdin the password comes from standard input.
    let mut child = concierge(&db, data.path())
        .args([
            "user",
            "add",
            "--email",
            "ann@example.com",
            "--role",
            "agent",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"ann-password-1\n")
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    // A short password is refused with a clear message.
    let mut child = concierge(&db, data.path())
        .args([
            "user",
            "add",
            "--email",
            "x@example.com",
            "--role",
            "agent",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10"));
    // An unknown role is refused.
    let out = concierge(&db, data.path())
        .args(["user", "add", "--email", "y@example.com", "--role", "root"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a role"));
    // token create prints only the token.
    let out = concierge(&db, data.path())
        .args(["token", "create", "--email", "boss@example.com"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(token.lines().count(), 1);
    assert!(token.starts_with("cnc_"));
    // The token works against a server.
    let node = start_node(&db, data.path(), "n1");
    let me: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/me", node.url))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "boss@example.com");
    assert_eq!(me["role"], "admin");
    // config --print-defaults prints the documented defaults.
    let out = Command::new(BIN)
        .args(["config", "--print-defaults"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[server]") && text.contains("listen = \"127.0.0.1:8080\""));
}

#[test]
fn config_never_prints_secrets() {
    let out = Command::new(BIN)
        .args([
            "--database-url",
            "postgres://app:hunter2@db.example:5432/concierge",
            "config",
        ])
        .env("CONCIERGE_MAIL__SMTP_PASSWORD", "correct-horse")
        .env(
            "CONCIERGE_SECRET_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("correct-horse"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("\"smtp_password\": \"(set)\""), "{text}");
    assert!(
        !text.contains("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        "{text}"
    );
    assert!(text.contains("\"key\": \"(set)\""), "{text}");
    assert!(
        text.contains("postgres://app:***@db.example:5432/concierge"),
        "{text}"
    );
}

#[tokio::test]
async fn migrate_is_idempotent_and_a_bad_url_is_a_clear_error() {
    let db = TestDb::new().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = concierge(&db, data.path()).arg("migrate").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new(BIN)
        .args(["--database-url", "mysql://x", "migrate"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
    // An unreachable database is a temporary failure (exit 75), so callers may retry.
    let out = Command::new(BIN)
        .args([
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "migrate",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn gen_fills_the_store_deterministically() {
    let db = TestDb::new().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = concierge(&db, data.path())
        .args(["gen", "--seed", "3", "--customers", "120", "--cases", "40"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(report.contains("generated 120 customers"), "{report}");
    let store = db.store().await.unwrap();
    let t = store.tenant_by_slug("default").await.unwrap().unwrap().id;
    assert_eq!(store.count_customers(t).await.unwrap(), 120);
    let scripts: Vec<String> = sqlx_names(&store, t).await;
    // Names in several scripts: Han, Hangul and Latin at least.
    assert!(
        scripts
            .iter()
            .any(|n| n.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c)))
    );
    assert!(
        scripts
            .iter()
            .any(|n| n.chars().any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c)))
    );
    assert!(scripts.iter().any(|n| n.is_ascii()));
    // The same seed gives the same data in another database.
    let db2 = TestDb::new().await.unwrap();
    let data2 = tempfile::tempdir().unwrap();
    let out = concierge(&db2, data2.path())
        .args(["gen", "--seed", "3", "--customers", "120", "--cases", "40"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let store2 = db2.store().await.unwrap();
    let t2 = store2.tenant_by_slug("default").await.unwrap().unwrap().id;
    assert_eq!(sqlx_names(&store2, t2).await, scripts);
    // Generating again into the same workspace is refused, not duplicated.
    let out = concierge(&db, data.path())
        .args(["gen", "--seed", "3", "--customers", "120", "--cases", "40"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(store.count_customers(t).await.unwrap(), 120);
}

async fn sqlx_names(store: &concierge_store::Store, t: concierge_domain::TenantId) -> Vec<String> {
    let mut names = Vec::new();
    for id in 1..=200 {
        if let Some(c) = store
            .customer(t, concierge_domain::CustomerId(id))
            .await
            .unwrap()
        {
            names.push(c.display_name);
        }
    }
    names
}

#[tokio::test]
async fn two_nodes_share_sessions_and_run_each_job_once() {
    let db = TestDb::new().await.unwrap();
    let data_a = tempfile::tempdir().unwrap();
    let data_b = tempfile::tempdir().unwrap();
    let mut child = concierge(&db, data_a.path())
        .args([
            "user",
            "add",
            "--email",
            "ann@example.com",
            "--role",
            "agent",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"ann-password-1\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let a = start_node(&db, data_a.path(), "node-a");
    let b = start_node(&db, data_b.path(), "node-b");

    // Sign in on node A, use the session on node B.
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = c.get(format!("{}/sign-in", a.url)).send().await.unwrap();
    let pre = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let html = page.text().await.unwrap();
    let marker = "name=\"_csrf\" value=\"";
    let i = html.find(marker).unwrap() + marker.len();
    let csrf = html[i..].split('"').next().unwrap().to_string();
    let r = c
        .post(format!("{}/sign-in", a.url))
        .header("cookie", &pre)
        .form(&[
            ("email", "ann@example.com"),
            ("password", "ann-password-1"),
            ("_csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|v| v.starts_with("concierge_session="))
        .unwrap();
    let on_b = c
        .get(format!("{}/", b.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        on_b.status(),
        reqwest::StatusCode::OK,
        "node B honours node A's session"
    );
    assert!(on_b.text().await.unwrap().contains("ann@example.com"));

    // Jobs enqueued into the shared database run once each, on one node or the other.
    let store = db.store().await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(
            store
                .enqueue_job(None, "noop", "{}", now, None, now + i)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut done = 0;
        for id in &ids {
            if store.job_status(*id).await.unwrap().as_deref() == Some("done") {
                done += 1;
            }
        }
        if done == ids.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {} jobs done",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut nodes = std::collections::HashSet::new();
    for id in &ids {
        let runs = store.job_runs(*id).await.unwrap();
        assert_eq!(runs.len(), 1, "job {id:?} ran {runs:?}");
        nodes.insert(runs[0].clone());
    }
    assert!(
        nodes.iter().all(|n| n == "node-a" || n == "node-b"),
        "{nodes:?}"
    );
    drop(a);
    drop(b);
}
