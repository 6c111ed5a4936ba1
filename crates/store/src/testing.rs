//! Test support: a fresh, empty database per test on the engine the environment names.
//!
//! `CONCIERGE_TEST_DATABASE_URL` unset or `sqlite` → a SQLite file in a temporary directory;
//! a `postgres://` URL → a new database `concierge_t_*` created on that server (dropped when
//! the guard is dropped). The same test suites thus run against both engines.

use crate::{Result, Store, StoreError};
use sqlx::any::AnyPoolOptions;
use std::sync::atomic::{AtomicU64, Ordering};

/// Keeps the temporary database alive; drops it at the end of the test.
pub struct TestDb {
    pub url: String,
    pub dir: Option<tempfile_dir::TempDir>,
    admin_url: Option<String>,
    name: Option<String>,
}

/// A minimal temporary-directory guard (avoids a dependency in the library).
pub mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(prefix: &str) -> std::io::Result<TempDir> {
            let base = std::env::temp_dir();
            for attempt in 0..100u32 {
                let p = base.join(format!(
                    "{prefix}-{}-{}-{attempt}",
                    std::process::id(),
                    super::unique()
                ));
                if std::fs::create_dir(&p).is_ok() {
                    return Ok(TempDir(p));
                }
            }
            Err(std::io::Error::other("cannot create a temporary directory"))
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn unique() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    N.fetch_add(1, Ordering::Relaxed) * 1_000_000_000 + t
}

/// Gives a customer of `tenant` a tier the way the analytics run stores it (the customer
/// must not have one yet).
pub async fn set_customer_tier(
    store: &Store,
    tenant: concierge_domain::TenantId,
    customer: i64,
    tier: &str,
    now: i64,
) -> Result<()> {
    use crate::bulk::{Val, insert_rows};
    let mut tx = store.begin().await?;
    insert_rows(
        &mut tx,
        "customer_tiers",
        crate::bulk::CUSTOMER_TIERS_COLUMNS,
        &[vec![
            Val::Int(tenant.0),
            Val::Int(customer),
            Val::Text(tier.into()),
            Val::Text(format!("set by a test: {tier}")),
            Val::Int(now),
            Val::Int(now),
        ]],
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The engine the tests run on: `sqlite` or `postgres`.
pub fn engine() -> &'static str {
    match std::env::var("CONCIERGE_TEST_DATABASE_URL") {
        Ok(u) if u.starts_with("postgres") => "postgres",
        _ => "sqlite",
    }
}

impl TestDb {
    /// Creates a fresh database and returns its guard.
    pub async fn new() -> Result<TestDb> {
        match std::env::var("CONCIERGE_TEST_DATABASE_URL") {
            Ok(base) if base.starts_with("postgres") => {
                sqlx::any::install_default_drivers();
                let name = format!("concierge_t_{}_{}", std::process::id(), unique());
                let pool = AnyPoolOptions::new()
                    .max_connections(1)
                    .connect(&base)
                    .await
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&pool)
                    .await?;
                pool.close().await;
                let url = match base.rfind('/') {
                    Some(i) if i > "postgres://".len() => format!("{}/{name}", &base[..i]),
                    _ => format!("{base}/{name}"),
                };
                Ok(TestDb {
                    url,
                    dir: None,
                    admin_url: Some(base),
                    name: Some(name),
                })
            }
            _ => {
                let dir = tempfile_dir::TempDir::new("concierge-test")
                    .map_err(|e| StoreError::Config(e.to_string()))?;
                let url = Store::sqlite_url_for(dir.path());
                Ok(TestDb {
                    url,
                    dir: Some(dir),
                    admin_url: None,
                    name: None,
                })
            }
        }
    }

    /// Opens (and migrates) a store on this database.
    pub async fn store(&self) -> Result<Store> {
        Store::open(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let (Some(admin), Some(name)) = (self.admin_url.take(), self.name.take()) {
            // Drop the database from a separate thread with its own runtime, since Drop
            // cannot await.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(pool) = AnyPoolOptions::new()
                        .max_connections(1)
                        .connect(&admin)
                        .await
                    {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&pool)
                        .await;
                        pool.close().await;
                    }
                });
            })
            .join();
        }
    }
}
