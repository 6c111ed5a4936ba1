//! Connections kept between statements. sqlx 0.9 tests every connection its pool takes back
//! with a ping: one more round trip to the server (PostgreSQL) or to the connection's worker
//! thread (SQLite) after every statement or transaction run on the pool. On a two-core
//! machine those extra wake-ups cost the mail pipeline about a third of its throughput
//! (issue 5's `concierge bench ingest`). The store keeps a few connections checked out
//! instead, and hands them to one statement or transaction after another.
//!
//! A kept connection goes back to the pool (and gets its ping) when a statement on it
//! failed, or when more connections come back than are kept. One left inside a transaction
//! (its writer dropped it before the end) is rolled back before it is kept again; if that
//! fails, it is closed. One that sat unused longer than the pool's own idle limit is pinged
//! before it is used again, as the pool does.
//!
//! [`Held`] is an [`Executor`]: `query.fetch_all(store.db())` runs on a kept connection.
//! Streams (`fetch`, `fetch_many`) run on the pool as before: they may be dropped half-read.

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Either, Execute, Executor, SqlStr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Connections kept out of the pool at most (the pool's own limit bounds the
/// total: a kept connection counts as one in use).
const KEEP: usize = 4;

/// The pool and the connections kept out of it.
pub(crate) struct Held {
    pool: AnyPool,
    kept: Arc<Kept>,
}

/// The connections kept, each with when it was last used.
struct Kept {
    idle: Mutex<Vec<(PoolConnection<Any>, Instant)>>,
    /// A connection unused longer than this is pinged before it is used again.
    ping_after: Duration,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held")
    }
}

/// What becomes of a connection when its [`HeldConn`] is dropped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum After {
    /// Kept for the next statement (the last one on it succeeded).
    Keep,
    /// Given back to the pool, which pings it (a statement on it failed, or it was dropped
    /// while one was under way).
    Release,
    /// A transaction may be open on it: rolled back, then kept.
    RollBack,
}

/// A kept connection, lent for one statement or transaction.
pub(crate) struct HeldConn {
    conn: Option<PoolConnection<Any>>,
    kept: Arc<Kept>,
    after: After,
}

impl Held {
    pub(crate) fn new(pool: AnyPool, ping_after: Duration) -> Held {
        Held {
            pool,
            kept: Arc::new(Kept {
                idle: Mutex::new(Vec::new()),
                ping_after,
            }),
        }
    }

    /// A kept connection, else one from the pool. It is given back to the pool when dropped,
    /// unless [`HeldConn::keep`] was called.
    pub(crate) async fn conn(&self) -> Result<HeldConn, sqlx::Error> {
        loop {
            let taken = match self.kept.idle.lock() {
                Ok(mut idle) => idle.pop(),
                Err(_) => None,
            };
            let Some((mut conn, since)) = taken else {
                break;
            };
            // As the pool does before lending a connection that sat idle a while: a restarted
            // server or a broken network path shows there.
            if since.elapsed() > self.kept.ping_after && conn.ping().await.is_err() {
                conn.close_on_drop();
                continue;
            }
            return Ok(self.lend(conn));
        }
        let conn = self.pool.acquire().await?;
        Ok(self.lend(conn))
    }

    fn lend(&self, conn: PoolConnection<Any>) -> HeldConn {
        HeldConn {
            conn: Some(conn),
            kept: self.kept.clone(),
            after: After::Release,
        }
    }

    /// Gives the kept connections back to the pool (before it is closed).
    pub(crate) fn release_all(&self) {
        let all = match self.kept.idle.lock() {
            Ok(mut idle) => std::mem::take(&mut *idle),
            Err(_) => Vec::new(),
        };
        drop(all);
    }
}

impl HeldConn {
    /// The statement run on it succeeded: it is kept for the next one when dropped.
    pub(crate) fn keep(&mut self) {
        self.after = After::Keep;
    }

    /// A transaction is being opened on it: until [`HeldConn::keep`], dropping it rolls the
    /// transaction back first.
    pub(crate) fn in_transaction(&mut self) {
        self.after = After::RollBack;
    }

    /// The connection's state is unknown (a commit failed half-way): it is closed when dropped.
    pub(crate) fn close_on_drop(&mut self) {
        if let Some(c) = self.conn.as_mut() {
            c.close_on_drop();
        }
        self.after = After::Release;
    }
}

impl Kept {
    fn put(&self, conn: PoolConnection<Any>) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP
        {
            idle.push((conn, Instant::now()));
        }
        // Otherwise dropped here: back to the pool.
    }
}

impl Drop for HeldConn {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        match self.after {
            After::Keep => self.kept.put(conn),
            After::Release => drop(conn),
            After::RollBack => {
                // Rolled back on a task of its own (a drop cannot wait); without a runtime to
                // run it on, the connection is closed, which ends the transaction too.
                let kept = self.kept.clone();
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => {
                        rt.spawn(async move {
                            if conn.execute("ROLLBACK").await.is_ok() {
                                kept.put(conn);
                            } else {
                                conn.close_on_drop();
                            }
                        });
                    }
                    Err(_) => conn.close_on_drop(),
                }
            }
        }
    }
}

impl std::ops::Deref for HeldConn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match &self.conn {
            Some(c) => c,
            None => unreachable!("a lent connection is only taken when dropped"),
        }
    }
}

impl std::ops::DerefMut for HeldConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.conn {
            Some(c) => c,
            None => unreachable!("a lent connection is only taken when dropped"),
        }
    }
}

/// Runs `$method` with `$query` on a connection of `$held` ([`Held::conn`]), keeping the
/// connection again when the statement succeeds.
macro_rules! on_kept {
    ($held:expr, $query:expr, $method:ident) => {
        Box::pin(async move {
            let mut conn = $held.conn().await?;
            let out = (&mut *conn).$method($query).await;
            if out.is_ok() {
                conn.keep();
            }
            out
        })
    };
}

impl<'h> Executor<'h> for &'h Held {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'h: 'e,
        E: 'q + Execute<'q, Any>,
    {
        (&self.pool).fetch_many(query)
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'h: 'e,
        E: 'q + Execute<'q, Any>,
    {
        on_kept!(self, query, fetch_optional)
    }

    fn fetch_all<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Vec<AnyRow>, sqlx::Error>>
    where
        'h: 'e,
        E: 'q + Execute<'q, Any>,
    {
        on_kept!(self, query, fetch_all)
    }

    fn execute<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<AnyQueryResult, sqlx::Error>>
    where
        'h: 'e,
        E: 'q + Execute<'q, Any>,
    {
        on_kept!(self, query, execute)
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>>
    where
        'h: 'e,
    {
        (&self.pool).prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<Any>, sqlx::Error>>
    where
        'h: 'e,
    {
        (&self.pool).describe(sql)
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;
    use crate::testing::TestDb;
    use sqlx::Executor;

    async fn scratch(store: &Store) {
        store
            .db()
            .execute("CREATE TABLE held_t (x BIGINT NOT NULL UNIQUE)")
            .await
            .unwrap();
    }

    async fn insert(store: &Store, x: i64) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO held_t (x) VALUES ($1)")
            .bind(x)
            .execute(store.db())
            .await
            .map(|_| ())
    }

    /// Inserts `x` inside transaction `tx`.
    async fn insert_in(tx: &mut crate::store::WriteTx, x: i64) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO held_t (x) VALUES ($1)")
            .bind(x)
            .execute(&mut **tx)
            .await
            .map(|_| ())
    }

    /// What another connection sees: committed rows only.
    async fn committed(db: &TestDb) -> Vec<i64> {
        let other = db.store().await.unwrap();
        let xs = sqlx::query_scalar("SELECT x FROM held_t ORDER BY x")
            .fetch_all(other.pool())
            .await
            .unwrap();
        other.close().await;
        xs
    }

    #[tokio::test]
    async fn a_write_dropped_half_way_leaves_nothing_and_what_runs_next_is_committed() {
        let db = TestDb::new().await.unwrap();
        let store = db.store().await.unwrap();
        scratch(&store).await;
        for i in 1..=12 {
            // A write given up half-way (an error, a cancelled request): dropped uncommitted.
            let mut tx = store.begin_write().await.unwrap();
            insert_in(&mut tx, -i).await.unwrap();
            drop(tx);
            // The next statements may get the same connection: they must not run inside
            // the abandoned transaction.
            insert(&store, i).await.unwrap();
            let mut tx = store.begin_write().await.unwrap();
            insert_in(&mut tx, 100 + i).await.unwrap();
            tx.commit().await.unwrap();
        }
        let mut want: Vec<i64> = (1..=12).collect();
        want.extend(101..=112);
        assert_eq!(committed(&db).await, want);
        store.close().await;
    }

    #[tokio::test]
    async fn a_statement_that_fails_leaves_the_connections_usable() {
        let db = TestDb::new().await.unwrap();
        let store = db.store().await.unwrap();
        scratch(&store).await;
        insert(&store, 1).await.unwrap();
        for i in 2..=20 {
            // A duplicate: refused by the database, on whichever connection it ran.
            let dup = insert(&store, 1).await;
            assert!(dup.is_err(), "the duplicate was accepted");
            insert(&store, i).await.unwrap();
            // A transaction that fails inside and is rolled back.
            let mut tx = store.begin_write().await.unwrap();
            assert!(insert_in(&mut tx, 1).await.is_err());
            drop(tx);
        }
        assert_eq!(committed(&db).await, (1..=20).collect::<Vec<i64>>());
        store.close().await;
    }
}
