//! The test kit: the real server on 127.0.0.1:0 over a fresh database (SQLite, or PostgreSQL
//! when `CONCIERGE_TEST_DATABASE_URL` is set), and small helpers to drive it over HTTP.

use concierge_app::{App, Config};
use concierge_domain::{Role, TenantId};
use concierge_store::testing::TestDb;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

pub struct TestApp {
    pub url: String,
    pub app: App,
    pub _db: TestDb,
    pub data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Starts the real server with `f` adjusting the configuration, and waits until it answers.
pub async fn spawn_app_with(f: impl FnOnce(&mut Config)) -> TestApp {
    let db = TestDb::new().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.storage.data_dir = data.path().to_path_buf();
    cfg.storage.database_url = db.url.clone();
    cfg.jobs.enabled = false;
    f(&mut cfg);
    let store = db.store().await.unwrap();
    let app = App::new(store, cfg);
    let (url, stop) = serve(&app).await;
    TestApp {
        url,
        app,
        _db: db,
        data,
        stop: Some(stop),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Serves `app` on a free port until the returned sender fires (or is dropped). Returns once
/// the server answers `/healthz`; a server that stopped while starting fails the test with
/// its error instead of a later "connection refused".
pub async fn serve(app: &App) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let a = app.clone();
    let server = tokio::spawn(async move {
        concierge_web::serve(a, listener, async {
            let _ = rx.await;
        })
        .await
    });
    for _ in 0..1500 {
        if server.is_finished() {
            match server.await {
                Ok(Ok(())) => panic!("the test server stopped while starting"),
                Ok(Err(e)) => panic!("the test server failed to start: {e:#}"),
                Err(e) => panic!("the test server panicked: {e}"),
            }
        }
        if reqwest::get(format!("{url}/healthz")).await.is_ok() {
            return (url, tx);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the test server did not answer within 30 s");
}

impl TestApp {
    pub async fn tenant(&self, slug: &str) -> TenantId {
        self.app
            .store
            .ensure_tenant(slug, slug, self.app.now())
            .await
            .unwrap()
            .id
    }

    pub async fn default_tenant(&self) -> TenantId {
        self.tenant("default").await
    }

    /// A user with the password `password-123` and an API token for it.
    pub async fn user_with_token(&self, tenant: TenantId, email: &str, role: Role) -> String {
        let u = self
            .app
            .add_user(tenant, email, None, role, "password-123")
            .await
            .unwrap();
        self.app.create_api_token(&u, "test").await.unwrap().0
    }

    /// A client that keeps cookies and does not follow redirects.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap()
    }
}

/// The CSRF token of the first form on a page.
pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let i = html.find(marker).expect("form has a CSRF field") + marker.len();
    html[i..].split('"').next().unwrap().to_string()
}

/// The status and error code of an error answer, checking its shape.
pub async fn error_code(resp: reqwest::Response) -> (StatusCode, String) {
    let status = resp.status();
    let body: Value = resp.json().await.expect("error body is JSON");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

/// Signs in through the real form; returns the client (holding the session cookie).
pub async fn sign_in(
    t: &TestApp,
    email: &str,
    password: &str,
) -> (reqwest::Client, reqwest::Response) {
    let c = t.client();
    let page = c.get(format!("{}/sign-in", t.url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = csrf_in(&page.text().await.unwrap());
    let resp = c
        .post(format!("{}/sign-in", t.url))
        .form(&[("email", email), ("password", password), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    (c, resp)
}

/// Signs in with `password-123` and expects success.
pub async fn signed_in(t: &TestApp, email: &str) -> reqwest::Client {
    let (c, r) = sign_in(t, email, "password-123").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    c
}

/// An API client bound to one token.
pub struct Api<'a> {
    pub t: &'a TestApp,
    pub c: reqwest::Client,
    pub token: String,
}

impl<'a> Api<'a> {
    pub fn new(t: &'a TestApp, token: String) -> Api<'a> {
        Api {
            t,
            c: t.client(),
            token,
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .c
            .request(method, format!("{}{}", self.t.url, path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    /// Creates a customer and returns its id.
    pub async fn create(&self, name: &str, email: Option<&str>) -> i64 {
        let mut body = json!({ "name": name });
        if let Some(e) = email {
            body["email"] = json!(e);
        }
        let (s, v) = self.post("/api/v1/customers", body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_i64().unwrap()
    }
}

/// The `error.code` of an error body.
pub fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// The `error.message` of an error body.
pub fn message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or("")
}
