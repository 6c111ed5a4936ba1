//! Opening the database: engine selection from the URL, SQLite pragmas, pool sizing, and the
//! embedded migrations of each engine.

use crate::held::{Held, HeldConn};
use crate::writer::{Member, Turn, Writer};
use crate::{Result, StoreError};
use sqlx::AnyConnection;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long a pooled PostgreSQL connection may sit idle before it is pinged on acquire.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(30);

/// Which SQL engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database handle shared by every part of the process. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    /// SQLite: the one connection this process writes through, with group commit (see
    /// [`crate::writer`]); `None` on PostgreSQL.
    writer: Option<Arc<Writer>>,
    /// Connections of `pool` kept between statements (see [`crate::held`]).
    held: Arc<Held>,
}

/// A transaction that writes, begun by [`Store::begin_write`]: on SQLite a part of the
/// writer's shared transaction, on PostgreSQL a transaction of its own on a kept connection
/// (see [`crate::held`]); [`Store::begin_pool_tx`] gives one of its own on either engine.
/// Dropped without commit, it is rolled back.
pub(crate) enum WriteTx {
    Own(HeldConn),
    Shared(Member),
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            WriteTx::Own(c) => c,
            WriteTx::Shared(m) => m,
        }
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            WriteTx::Own(c) => c,
            WriteTx::Shared(m) => m,
        }
    }
}

/// Ends a transaction of its own ([`WriteTx::Own`]) with `sql` (`COMMIT` or `ROLLBACK`): the
/// connection is kept once it is over, and closed when whether it is over is unknown.
async fn end_own(mut c: HeldConn, sql: &'static str) -> Result<()> {
    match c.execute(sql).await {
        Ok(_) => {
            c.keep();
            Ok(())
        }
        Err(e) => {
            c.close_on_drop();
            Err(e.into())
        }
    }
}

impl WriteTx {
    /// Commits; on SQLite returns once the shared transaction holding this write is.
    pub async fn commit(self) -> Result<()> {
        match self {
            WriteTx::Own(c) => end_own(c, "COMMIT").await,
            WriteTx::Shared(m) => m.commit().await,
        }
    }

    /// Runs `batch` (statements that answer nothing but success) and commits; on SQLite, a
    /// writer alone sends both as one query.
    pub(crate) async fn commit_with(self, batch: crate::bulk::Batch) -> Result<()> {
        match self {
            WriteTx::Own(mut c) => {
                batch.run(&mut c).await?;
                end_own(c, "COMMIT").await
            }
            WriteTx::Shared(m) => m.commit_with(batch).await,
        }
    }

    pub async fn rollback(self) -> Result<()> {
        match self {
            WriteTx::Own(c) => end_own(c, "ROLLBACK").await,
            WriteTx::Shared(m) => m.rollback().await,
        }
    }
}

/// A connection for a read that comes before a write: see [`Store::warm_conn`].
pub(crate) enum WarmConn {
    Held(HeldConn),
    Writer(Turn),
}

impl std::ops::Deref for WarmConn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            WarmConn::Held(c) => c,
            WarmConn::Writer(t) => t,
        }
    }
}

impl std::ops::DerefMut for WarmConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            WarmConn::Held(c) => c,
            WarmConn::Writer(t) => t,
        }
    }
}

impl WarmConn {
    /// The statement run on it succeeded (see [`HeldConn::keep`]).
    fn keep(&mut self) {
        if let WarmConn::Held(c) = self {
            c.keep();
        }
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// The default embedded database URL for a data directory.
    pub fn sqlite_url_for(data_dir: &Path) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("concierge.db").display()
        )
    }

    /// Opens a pool on `url` (`sqlite://...` or `postgres://...`). Does not migrate.
    pub async fn connect(url: &str) -> Result<Store> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "unsupported database URL '{}': use sqlite://PATH or postgres://...",
                redact(url)
            )));
        };
        if backend == Backend::Sqlite
            && let Some(path) = sqlite_path(url)
            && let Some(parent) = Path::new(&path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Config(format!(
                    "cannot create the data directory {}: {e}",
                    parent.display()
                ))
            })?;
        }
        // A connection is not pinged on every acquire (a round trip to SQLite's worker
        // thread or to the server, once per statement run on the pool): a SQLite connection
        // cannot go stale, and a PostgreSQL one is checked only after it sat idle a while (a
        // restarted server or a dropped network path shows there first).
        let opts = AnyPoolOptions::new()
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                Box::pin(async move {
                    if backend == Backend::Postgres && meta.idle_for > IDLE_BEFORE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .acquire_timeout(Duration::from_secs(15))
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            });
        let opts = if backend == Backend::Sqlite {
            opts.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // SQLite's default page cache is 2 MiB per connection: at a million
                    // cases every read beyond it is a system call. 32 MiB per connection
                    // keeps hot pages close. `optimize` (with a bounded sample) keeps the
                    // planner's table statistics current, so it knows that `tenant_id = ?`
                    // matches most of a table. The write-ahead log is copied back into the
                    // database every 10,000 pages (40 MiB) instead of SQLite's 1,000: a page
                    // written by many commits in between (the right-hand leaves of the busy
                    // tables and indexes) is copied back once, and a mail's commit runs a
                    // checkpoint ten times less often (issue 5's ingest benchmark: +25 %
                    // messages/s; a bare insert gains little).
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                         PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 10000; \
                         PRAGMA cache_size = -32768; PRAGMA mmap_size = 0; \
                         PRAGMA temp_store = MEMORY; PRAGMA analysis_limit = 400; \
                         PRAGMA busy_timeout = 0;",
                    )
                    .await?;
                    // `optimize` may write its statistics: while another connection holds a
                    // long write (a bulk load) it would wait, and a connection opened then
                    // would miss the pool's acquire timeout. It is skipped instead; a later
                    // connection does it.
                    if let Err(e) = conn.execute("PRAGMA optimize = 0x10002;").await {
                        tracing::debug!(error = %e, "PRAGMA optimize skipped");
                    }
                    conn.execute("PRAGMA busy_timeout = 10000;").await?;
                    Ok(())
                })
            })
        } else {
            opts
        };
        let unavailable = |e: sqlx::Error| match StoreError::from(e) {
            StoreError::Other(m) => {
                StoreError::Unavailable(format!("cannot open database {}: {m}", redact(url)))
            }
            other => other,
        };
        // SQLite: every write goes through one connection (room for a replacement).
        let writer = match backend {
            // Opened on the first write: a process that only reads never opens it.
            Backend::Sqlite => Some(Arc::new(Writer::new(
                opts.clone()
                    .max_connections(2)
                    .connect_lazy(url)
                    .map_err(unavailable)?,
            ))),
            Backend::Postgres => None,
        };
        let pool = opts.connect(url).await.map_err(unavailable)?;
        Ok(Store {
            held: Arc::new(Held::new(pool.clone(), IDLE_BEFORE_PING)),
            pool,
            backend,
            writer,
        })
    }

    /// Opens and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Store> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies every embedded migration not yet applied. Safe to run concurrently from several
    /// nodes (sqlx takes a lock on PostgreSQL; SQLite serialises writers).
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a transaction that writes. On SQLite the writers of this process take turns on
    /// one connection and share transactions (see [`crate::writer`]); the shared transaction
    /// begins `IMMEDIATE`, holding the write lock from its start, so it never fails to
    /// upgrade a read lock after another process wrote. Writers in other processes (the pipe
    /// command) meet in SQLite's busy handler. PostgreSQL: a plain transaction.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx> {
        Ok(match &self.writer {
            Some(w) => WriteTx::Shared(w.begin().await?),
            None => WriteTx::Own(self.begin_own().await?),
        })
    }

    /// A transaction of its own on a kept connection, on either engine (on SQLite a
    /// deferred one beside the writer's, as the pool's own `begin` gives): for work that does
    /// not go through SQLite's writer (imports, analytics scores, identity merges, job claims).
    pub(crate) async fn begin_pool_tx(&self) -> Result<WriteTx> {
        Ok(WriteTx::Own(self.begin_own().await?))
    }

    /// A transaction of its own, on a kept connection.
    async fn begin_own(&self) -> Result<HeldConn> {
        let mut c = self.held.conn().await?;
        // Until it is committed or rolled back, dropping it rolls it back.
        c.in_transaction();
        c.execute("BEGIN").await?;
        Ok(c)
    }

    /// [`Store::begin_write`] and the transaction's first statement, `sql` (numbered
    /// parameters bound by `bind`), with its rows: on SQLite a writer opening the shared
    /// transaction sends its `BEGIN` with it (one round trip).
    pub(crate) async fn begin_write_with(
        &self,
        sql: &str,
        bind: impl FnOnce(crate::bulk::AnyQuery<'_>) -> crate::bulk::AnyQuery<'_>,
    ) -> Result<(WriteTx, Vec<sqlx::any::AnyRow>)> {
        Ok(match &self.writer {
            Some(w) => {
                let (m, rows) = w.begin_with(sql, bind).await?;
                (WriteTx::Shared(m), rows)
            }
            None => {
                let mut c = self.begin_own().await?;
                let rows = bind(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())))
                    .fetch_all(&mut *c)
                    .await?;
                (WriteTx::Own(c), rows)
            }
        })
    }

    /// SQLite's writer (`None` on PostgreSQL), for a write that is not a [`WriteTx`].
    pub(crate) fn sqlite_writer(&self) -> Option<&Writer> {
        self.writer.as_deref()
    }

    /// A connection for a read that comes just before a write: on SQLite the write
    /// connection when it is free (its page cache holds what was just written), else a kept
    /// one (see [`crate::held`]).
    async fn warm_conn(&self) -> Result<WarmConn> {
        if let Some(t) = self.writer.as_ref().and_then(|w| w.try_read()) {
            return Ok(WarmConn::Writer(t));
        }
        Ok(WarmConn::Held(self.held.conn().await?))
    }

    /// Runs `q` on [`Store::warm_conn`]'s connection.
    pub(crate) async fn warm_fetch_all(
        &self,
        q: crate::bulk::AnyQuery<'_>,
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        let mut c = self.warm_conn().await?;
        let rows = q.fetch_all(&mut *c).await?;
        c.keep();
        Ok(rows)
    }

    /// Runs `q`, a query that answers one row at most (by key, or `LIMIT 1`), on
    /// [`Store::warm_conn`]'s connection.
    pub(crate) async fn warm_fetch_optional(
        &self,
        q: crate::bulk::AnyQuery<'_>,
    ) -> Result<Option<sqlx::any::AnyRow>> {
        Ok(self.warm_fetch_all(q).await?.into_iter().next())
    }

    /// Gives the connections kept between statements (see [`crate::held`]) back to the pool,
    /// for a caller that needs every connection of the pool at once.
    pub fn release_kept(&self) {
        self.held.release_all();
    }

    /// The pool for single statements, on kept connections (see [`crate::held`]):
    /// `query.fetch_all(self.db())`.
    pub(crate) fn db(&self) -> &Held {
        &self.held
    }

    /// The underlying pool, for adapters that need raw SQL (benchmarks, bulk import).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Checks that the database answers (used by `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(self.db())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(())
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        if let Some(w) = &self.writer {
            w.close().await;
        }
        self.release_kept();
        self.pool.close().await;
    }
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path.to_string())
    }
}

/// Hides a password in a database URL before it is shown or logged.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Migration 0017 rebuilds SQLite's `inbound_mail`, which `inbound_mail_mailboxes` refers
    /// to: a database with mail in it comes through whole, and new mail gets new ids.
    #[tokio::test]
    async fn the_inbound_mail_rebuild_keeps_every_mail_and_mailbox() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
        let store = Store::connect(&url).await.unwrap();
        let mut before = sqlx::migrate::Migrator {
            migrations: std::borrow::Cow::Owned(
                SQLITE_MIGRATIONS
                    .migrations
                    .iter()
                    .filter(|m| m.version < 17)
                    .cloned()
                    .collect(),
            ),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        before.set_locking(false);
        before.run(&store.pool).await.unwrap();
        store
            .pool
            .execute(
                "INSERT INTO tenants (id, slug, name, created_at) VALUES (1, 't', 'T', 0); \
                 INSERT INTO inbound_mail (tenant_id, mailbox, raw, raw_sha256, raw_size, \
                 dedupe_key, state, received_at) VALUES \
                 (1, 'support', x'41', 'a', 1, 'k1', 'processed', 1), \
                 (1, 'support', x'42', 'b', 1, NULL, 'quarantined', 2); \
                 INSERT INTO inbound_mail_mailboxes (tenant_id, inbound_id, mailbox, \
                 received_at) VALUES (1, 1, 'support', 1), (1, 1, 'billing', 3), \
                 (1, 2, 'support', 2)",
            )
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let t = concierge_domain::TenantId(1);
        assert_eq!(
            store.inbound_mailboxes(t, 1).await.unwrap(),
            vec!["billing".to_string(), "support".to_string()]
        );
        assert_eq!(
            store.inbound_mailboxes(t, 2).await.unwrap(),
            vec!["support"]
        );
        assert_eq!(
            store.inbound_mail_raw(t, 2).await.unwrap(),
            Some(b"B".to_vec())
        );
        assert_eq!(store.mail_key_holder(t, "k1").await.unwrap(), Some(1));
        // The key stays unique where set; unset keys do not collide.
        let dup = store
            .pool
            .execute(
                "INSERT INTO inbound_mail (tenant_id, mailbox, raw, raw_sha256, raw_size, \
                 dedupe_key, state, received_at) VALUES (1, 'x', x'43', 'c', 1, 'k1', 'processed', 4)",
            )
            .await;
        assert!(dup.is_err(), "a second mail with key k1 is refused");
        let (row, inserted) = store
            .receive_mail(t, "support", b"C", "c", 5)
            .await
            .unwrap();
        assert!(inserted);
        assert_eq!(row.id, 3, "new mail continues the ids");
        let (again, inserted) = store
            .receive_mail(t, "billing", b"C", "c", 6)
            .await
            .unwrap();
        assert!(!inserted);
        assert_eq!(again.id, 3);
        assert_eq!(
            store.inbound_mailboxes(t, 3).await.unwrap(),
            vec!["billing".to_string(), "support".to_string()]
        );
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            sqlite_path("sqlite:///tmp/x/c.db?mode=rwc").as_deref(),
            Some("/tmp/x/c.db")
        );
    }
}
