//! SQLite's one writer, with group commit. SQLite lets one connection write at a time, so
//! every write transaction of this process goes through one connection, taken in turn (in
//! memory, in order of arrival, instead of in SQLite's busy handler, which sleeps 1 to 100 ms
//! between tries). Its page cache stays warm: SQLite drops a connection's whole cache when it
//! finds the database changed by another connection.
//!
//! Writers that arrive while one is writing share its transaction: each runs in a savepoint
//! of one open transaction and, when done, waits for the commit — one commit, one disk flush,
//! and each page written once for all of them. The writer that opens the transaction takes no
//! savepoint (what it wrote is all there is; SQLite would copy each page it changes into the
//! savepoint's journal for nothing): when it fails, the whole transaction is rolled back. The
//! commit is made by a task of its own ([`Writer::new`] starts it) once the writers that were
//! waiting have had their turn; a writer is told it is committed only after that commit, and a
//! joining writer that fails (or is dropped, as a cancelled request is) is rolled back to its
//! savepoint without touching the others. If the commit itself fails, every writer of the
//! group is told so.

use crate::bulk::AnyQuery;
use crate::{Result, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Executor};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard, watch};

/// The write connection's page cache: 8 MiB instead of the 32 MiB of the others. At every
/// commit SQLite drops the cached pages past the end of the database, and a transaction that
/// rebalanced a b-tree has parked a page there for a moment (at the page just past 1 GiB,
/// while the database is smaller), so that commit walks the whole cache: at 40,000 mails
/// 5 % of the intake's CPU with 32 MiB, 2 % with 8 MiB, for a few more page reads (issue 5's
/// `concierge bench ingest`). 8 MiB still holds the inner pages of the indexes a write
/// walks down.
const WRITER_CACHE: &str = "PRAGMA cache_size = -8192";

/// What a group's members learn when it ends: committed, or why not.
type Outcome = Option<std::result::Result<(), String>>;

/// The write connection and the transaction its writers share.
#[derive(Default)]
pub(crate) struct WriterState {
    conn: Option<PoolConnection<Any>>,
    /// The open shared transaction (`None`: none is open), and how its members learn its end.
    group: Option<watch::Sender<Outcome>>,
    /// The last writer left without releasing its savepoint: it is rolled back first.
    dirty: bool,
    /// A writer's own commit was cancelled while under way: the transaction may still be
    /// open (the statement runs to its end all the same), so it is rolled back first.
    unsure: bool,
}

/// SQLite's one writer: see the module documentation.
pub(crate) struct Writer {
    pool: AnyPool,
    state: Arc<Mutex<WriterState>>,
    signals: Arc<Signals>,
}

/// What the writers, their turns and the committing task share besides the state.
#[derive(Default)]
struct Signals {
    /// Wakes the committing task.
    flush: Notify,
    closed: AtomicBool,
    /// Shared transactions committed so far.
    commits: AtomicU64,
    /// Writers waiting for their turn.
    waiting: AtomicUsize,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

/// This process's turn to write: the write connection, with no savepoint left open.
pub(crate) struct Turn {
    guard: OwnedMutexGuard<WriterState>,
    signals: Arc<Signals>,
}

impl std::ops::Deref for Turn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match &self.guard.conn {
            Some(c) => c,
            None => unreachable!("a turn always holds the write connection"),
        }
    }
}

impl std::ops::DerefMut for Turn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.guard.conn {
            Some(c) => c,
            None => unreachable!("a turn always holds the write connection"),
        }
    }
}

impl Turn {
    /// Ends the turn after a statement that may have left the connection in a state no other
    /// writer may inherit: the connection is closed and a new one taken next time.
    pub(crate) fn discard_connection(mut self) {
        if let Some(mut c) = self.guard.conn.take() {
            c.close_on_drop();
        }
    }
}

/// A writer's part of the shared transaction: its savepoint (none for the writer that
/// opened the transaction), open until released.
pub(crate) struct Member {
    turn: Turn,
    done: watch::Receiver<Outcome>,
    open: bool,
    /// It opened the transaction and took no savepoint: its part is the whole transaction.
    first: bool,
    /// Committing on its own (see [`Member::commit`]).
    committing: bool,
}

impl Drop for Member {
    fn drop(&mut self) {
        if self.committing {
            self.turn.guard.unsure = true;
        }
        if self.open {
            if self.first {
                // Dropped with the transaction it opened (an error, a cancelled request):
                // the transaction is rolled back before the next writer's turn, and its group
                // (no one else's: the others join after its turn) ends.
                self.turn.guard.unsure = true;
                end_group_rolled_back(&mut self.turn.guard);
            } else {
                // Dropped with its savepoint open: it is rolled back before the next
                // writer's turn, and the group is committed without it.
                self.turn.guard.dirty = true;
            }
            self.turn.signals.flush.notify_one();
        }
    }
}

/// Ends the open group, rolled back: what its members wrote is gone.
fn end_group_rolled_back(g: &mut WriterState) {
    if let Some(group) = g.group.take() {
        let _ = group.send(Some(Err("the write was rolled back".into())));
    }
}

impl std::ops::Deref for Member {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.turn
    }
}

impl std::ops::DerefMut for Member {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.turn
    }
}

impl Member {
    /// Waits for the group's commit. The savepoint is left in place (a round trip saved):
    /// the next writer's savepoint nests in it, a rollback goes back to the latest one only,
    /// and the commit ends them all.
    ///
    /// A writer alone in its transaction, with no other writer waiting for a turn, commits
    /// it itself: handing the commit to the committing task and being told by it would only
    /// add two task switches.
    pub(crate) async fn commit(self) -> Result<()> {
        let alone = self.alone();
        self.end(alone, None).await
    }

    /// Runs `batch` (statements that answer nothing but success), then commits as
    /// [`Member::commit`] does. A writer alone sends the batch and its `COMMIT` as one
    /// query: one hand-off to the connection's worker thread less.
    pub(crate) async fn commit_with(mut self, batch: crate::bulk::Batch) -> Result<()> {
        if !self.alone() {
            batch.run(&mut self).await?;
            return self.end(false, None).await;
        }
        let mut queries = batch.sqlite_queries()?;
        let tail = queries.pop();
        for (sql, vals) in queries {
            crate::bulk::query_with(sql, &vals)
                .execute(&mut *self)
                .await?;
        }
        self.end(true, tail).await
    }

    /// Ends this writer's part: `alone`, it commits the transaction itself, sending `tail`
    /// (the rest of its statements) with the `COMMIT`; otherwise it hands the commit to the
    /// committing task (`tail` is then `None`) and waits for it.
    async fn end(
        mut self,
        alone: bool,
        tail: Option<(String, Vec<crate::bulk::Val>)>,
    ) -> Result<()> {
        self.open = false;
        if !alone {
            let done = self.done.clone();
            self.turn.signals.flush.notify_one();
            drop(self);
            return wait(done).await;
        }
        // Cancelled while under way, the commit runs to its end all the same: whether it
        // committed is unknown, and the next turn rolls back what may be left open.
        self.committing = true;
        let signals = self.turn.signals.clone();
        let outcome = commit_group(&mut self.turn.guard, &signals.commits, tail).await;
        self.committing = false;
        outcome
    }

    /// Alone in its transaction, with no other writer waiting for a turn: it may commit
    /// the transaction itself.
    fn alone(&self) -> bool {
        self.turn
            .guard
            .group
            .as_ref()
            .is_some_and(|g| g.receiver_count() == 1)
            && self.turn.signals.waiting.load(Ordering::Acquire) == 0
    }

    /// Rolls back what this writer did; the rest of the group is committed as it is.
    pub(crate) async fn rollback(mut self) -> Result<()> {
        if self.first {
            // Its part is the whole transaction.
            self.execute("ROLLBACK").await?;
            self.open = false;
            end_group_rolled_back(&mut self.turn.guard);
            return Ok(());
        }
        self.execute("ROLLBACK TO w; RELEASE w").await?;
        self.open = false;
        self.turn.signals.flush.notify_one();
        Ok(())
    }
}

/// See [`Writer::join_or_turn`].
pub(crate) enum Joined {
    Alone(Turn),
    Shared(Member),
}

/// A writer's part of the shared transaction, once its savepoint is taken (the transaction
/// is open); `first`: it opened the transaction, without a savepoint.
fn member(mut turn: Turn, first: bool) -> Member {
    let done = turn
        .guard
        .group
        .get_or_insert_with(|| watch::channel(None).0)
        .subscribe();
    Member {
        turn,
        done,
        open: true,
        first,
        committing: false,
    }
}

/// Waits until a group ends; its commit's error when it failed.
async fn wait(mut done: watch::Receiver<Outcome>) -> Result<()> {
    loop {
        if let Some(outcome) = done.borrow_and_update().clone() {
            return outcome.map_err(StoreError::Unavailable);
        }
        if done.changed().await.is_err() {
            return Err(StoreError::Unavailable(
                "the database writer stopped before the write was committed".into(),
            ));
        }
    }
}

impl Writer {
    /// The writer on `pool` (the write connection comes from it; it needs room for two: the
    /// one in use and its replacement), and the task that commits its groups.
    pub(crate) fn new(pool: AnyPool) -> Writer {
        let w = Writer {
            pool,
            state: Arc::new(Mutex::new(WriterState::default())),
            signals: Arc::default(),
        };
        let (state, signals) = (Arc::downgrade(&w.state), w.signals.clone());
        tokio::spawn(async move {
            loop {
                signals.flush.notified().await;
                let Some(state) = state.upgrade() else { break };
                // Queued behind every writer already waiting for its turn: they join the
                // group before it is committed.
                let mut g = state.lock().await;
                settle(&mut g).await;
                let _ = commit_group(&mut g, &signals.commits, None).await;
                if signals.closed.load(Ordering::Acquire) {
                    break;
                }
            }
        });
        w
    }

    /// Waits for this process's turn to write.
    pub(crate) async fn turn(&self) -> Result<Turn> {
        let mut guard = {
            let _waiting = Waiting::new(&self.signals.waiting);
            self.state.clone().lock_owned().await
        };
        settle(&mut guard).await;
        if guard.conn.is_none() {
            let mut c = self.pool.acquire().await?;
            c.execute(WRITER_CACHE).await?;
            guard.conn = Some(c);
        }
        Ok(self.turn_of(guard))
    }

    fn turn_of(&self, guard: OwnedMutexGuard<WriterState>) -> Turn {
        Turn {
            guard,
            signals: self.signals.clone(),
        }
    }

    /// The write connection for a read, when no one is writing and no group is open (its
    /// cache holds what was just written); `None` otherwise.
    pub(crate) fn try_read(&self) -> Option<Turn> {
        let guard = self.state.clone().try_lock_owned().ok()?;
        if guard.group.is_some() || guard.dirty || guard.unsure || guard.conn.is_none() {
            return None;
        }
        Some(self.turn_of(guard))
    }

    /// This process's turn to write when no shared transaction is open (`Alone`), else a
    /// part of the open one (`Shared`): for a write that is cheaper on its own than as a new
    /// group (the raw-mail receipt).
    pub(crate) async fn join_or_turn(&self) -> Result<Joined> {
        let mut turn = self.turn().await?;
        if turn.guard.group.is_none() {
            return Ok(Joined::Alone(turn));
        }
        turn.execute("SAVEPOINT w").await?;
        Ok(Joined::Shared(member(turn, false)))
    }

    /// Begins this writer's part of the shared transaction (opening it, `IMMEDIATE`, when
    /// none is open).
    pub(crate) async fn begin(&self) -> Result<Member> {
        match self.join_or_turn().await? {
            Joined::Shared(m) => Ok(m),
            Joined::Alone(mut turn) => {
                turn.execute("BEGIN IMMEDIATE").await?;
                Ok(member(turn, true))
            }
        }
    }

    /// [`Writer::begin`] and the writer's first statement, `query` (numbered parameters), with
    /// its rows: opening the transaction, the `BEGIN` goes in the same query (one hand-off to
    /// the connection's worker thread less). When that query fails, or is cancelled while
    /// under way, the transaction it may have opened is rolled back before anyone else uses
    /// the connection.
    pub(crate) async fn begin_with(
        &self,
        sql: &str,
        bind: impl FnOnce(AnyQuery<'_>) -> AnyQuery<'_>,
    ) -> Result<(Member, Vec<sqlx::any::AnyRow>)> {
        match self.join_or_turn().await? {
            Joined::Shared(mut m) => {
                let rows = bind(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())))
                    .fetch_all(&mut *m)
                    .await?;
                Ok((m, rows))
            }
            Joined::Alone(mut turn) => {
                // Until the group is registered, the transaction may be open unseen.
                turn.guard.unsure = true;
                let query = bind(sqlx::query(sqlx::AssertSqlSafe(format!(
                    "BEGIN IMMEDIATE; {sql}"
                ))));
                match query.fetch_all(&mut *turn).await {
                    Ok(rows) => {
                        turn.guard.unsure = false;
                        Ok((member(turn, true), rows))
                    }
                    Err(e) => {
                        // BEGIN may have succeeded and what follows not.
                        let _ = turn.execute("ROLLBACK").await;
                        turn.guard.unsure = false;
                        Err(e.into())
                    }
                }
            }
        }
    }

    /// Commits what is open and gives the connection back (before its pool is closed).
    pub(crate) async fn close(&self) {
        self.signals.closed.store(true, Ordering::Release);
        let mut g = self.state.lock().await;
        settle(&mut g).await;
        let _ = commit_group(&mut g, &self.signals.commits, None).await;
        g.conn = None;
        self.signals.flush.notify_one();
        drop(g);
        self.pool.close().await;
    }
}

/// Rolls back the savepoint a writer left open. When that fails, SQLite has already rolled
/// back the whole transaction (it does on some errors): the group ends, failed.
async fn settle(g: &mut WriterState) {
    if g.unsure {
        g.unsure = false;
        if let Some(conn) = g.conn.as_mut() {
            // An error here only says that the commit went through.
            let _ = conn.execute("ROLLBACK").await;
        }
    }
    if !g.dirty {
        return;
    }
    g.dirty = false;
    let Some(conn) = g.conn.as_mut() else { return };
    if let Err(e) = conn.execute("ROLLBACK TO w; RELEASE w").await {
        let _ = conn.execute("ROLLBACK").await;
        if let Some(group) = g.group.take() {
            let _ = group.send(Some(Err(format!(
                "the write was lost with another that failed ({e}); try again"
            ))));
        }
    }
}

/// A writer counted in [`Signals::waiting`] while it waits for its turn.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::AcqRel);
        Waiting(n)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Commits the open group, if any, and tells its members; the outcome. `tail`: the last
/// writer's remaining statements (SQL and values), sent with the `COMMIT` as one query; an
/// error of theirs is returned as it is (the whole transaction is rolled back either way).
async fn commit_group(
    g: &mut WriterState,
    commits: &AtomicU64,
    tail: Option<(String, Vec<crate::bulk::Val>)>,
) -> Result<()> {
    // Taken first: a commit cancelled while under way leaves no group behind.
    let Some(group) = g.group.take() else {
        return Ok(());
    };
    let outcome = match g.conn.as_mut() {
        Some(conn) => {
            let done = match &tail {
                Some((sql, vals)) => {
                    crate::bulk::query_with(format!("{sql};\nCOMMIT"), vals)
                        .execute(&mut **conn)
                        .await
                }
                None => conn.execute("COMMIT").await,
            };
            match done {
                Ok(_) => {
                    commits.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Err(e) => {
                    // An error here says it was rolled back already.
                    let _ = conn.execute("ROLLBACK").await;
                    Err(match tail {
                        Some(_) => StoreError::from(e),
                        None => StoreError::Unavailable(format!(
                            "the database did not commit the write ({e}); try again"
                        )),
                    })
                }
            }
        }
        None => Err(StoreError::Unavailable(
            "the write connection was lost before the commit; try again".into(),
        )),
    };
    let _ = group.send(Some(outcome.as_ref().map(|_| ()).map_err(|e| match e {
        StoreError::Unavailable(m) => m.clone(),
        other => other.to_string(),
    })));
    outcome
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::time::Duration;

    /// A writer on a fresh SQLite file with table `t (x UNIQUE)`, and a pool to read it
    /// from another connection.
    async fn writer() -> (tempfile::TempDir, Writer, AnyPool) {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap();
        pool.execute("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER UNIQUE)")
            .await
            .unwrap();
        let w = Writer::new(
            sqlx::any::AnyPoolOptions::new()
                .max_connections(2)
                .connect(&url)
                .await
                .unwrap(),
        );
        (dir, w, pool)
    }

    async fn rows(pool: &AnyPool) -> Vec<i64> {
        sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(pool)
            .await
            .unwrap()
    }

    async fn insert(m: &mut Member, x: i64) -> std::result::Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO t (x) VALUES ($1)")
            .bind(x)
            .execute(&mut **m)
            .await
            .map(|_| ())
    }

    #[tokio::test]
    async fn writers_waiting_for_their_turn_share_one_commit_and_see_it_before_returning() {
        let (_dir, w, pool) = writer().await;
        let w = Arc::new(w);
        let mut first = w.begin().await.unwrap();
        insert(&mut first, 1).await.unwrap();
        // Two more writers queue up while the first holds the turn.
        let mut later = Vec::new();
        for x in [2, 3] {
            let (w, pool) = (w.clone(), pool.clone());
            later.push(tokio::spawn(async move {
                let mut m = w.begin().await.unwrap();
                insert(&mut m, x).await.unwrap();
                m.commit().await.unwrap();
                // Committed means visible to every other connection.
                rows(&pool).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            rows(&pool).await.is_empty(),
            "nothing is visible before the commit"
        );
        first.commit().await.unwrap();
        assert_eq!(rows(&pool).await, vec![1, 2, 3]);
        for l in later {
            assert_eq!(l.await.unwrap(), vec![1, 2, 3]);
        }
        assert_eq!(
            w.signals.commits.load(Ordering::Relaxed),
            1,
            "one commit for three writers"
        );
        // Alone, a writer commits on its own.
        let mut m = w.begin().await.unwrap();
        insert(&mut m, 4).await.unwrap();
        m.commit().await.unwrap();
        assert_eq!(rows(&pool).await, vec![1, 2, 3, 4]);
        assert_eq!(w.signals.commits.load(Ordering::Relaxed), 2);
    }

    /// A batch of `INSERT INTO t` rows.
    fn batch_of(xs: &[i64]) -> crate::bulk::Batch {
        let mut b = crate::bulk::Batch::default();
        for x in xs {
            b.push(
                "INSERT INTO t (x) VALUES ($1)",
                vec![crate::bulk::Val::Int(*x)],
            );
        }
        b
    }

    #[tokio::test]
    async fn a_batch_is_committed_with_the_write_or_not_at_all() {
        let (_dir, w, pool) = writer().await;
        let w = Arc::new(w);
        // Alone: the batch and the commit go as one query.
        let mut m = w.begin().await.unwrap();
        insert(&mut m, 1).await.unwrap();
        m.commit_with(batch_of(&[2, 3])).await.unwrap();
        assert_eq!(rows(&pool).await, vec![1, 2, 3]);
        assert_eq!(w.signals.commits.load(Ordering::Relaxed), 1);
        // A batch that fails half-way (3 is taken) takes the whole write with it, and the
        // next writer starts clean.
        let mut m = w.begin().await.unwrap();
        insert(&mut m, 4).await.unwrap();
        m.commit_with(batch_of(&[5, 3]))
            .await
            .expect_err("3 is taken");
        assert_eq!(rows(&pool).await, vec![1, 2, 3]);
        let mut m = w.begin().await.unwrap();
        insert(&mut m, 6).await.unwrap();
        m.commit_with(batch_of(&[])).await.unwrap();
        assert_eq!(rows(&pool).await, vec![1, 2, 3, 6]);
        // Shared: a writer queued behind another runs its batch in the group, and a failing
        // batch of one member leaves the others' writes.
        let mut first = w.begin().await.unwrap();
        insert(&mut first, 7).await.unwrap();
        let later = {
            let w = w.clone();
            tokio::spawn(async move {
                let mut m = w.begin().await.unwrap();
                insert(&mut m, 8).await.unwrap();
                m.commit_with(batch_of(&[9])).await
            })
        };
        let failing = {
            let w = w.clone();
            tokio::spawn(async move {
                let mut m = w.begin().await.unwrap();
                insert(&mut m, 10).await.unwrap();
                m.commit_with(batch_of(&[11, 1])).await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        first.commit_with(batch_of(&[12])).await.unwrap();
        later.await.unwrap().unwrap();
        failing.await.unwrap().expect_err("1 is taken");
        assert_eq!(rows(&pool).await, vec![1, 2, 3, 6, 7, 8, 9, 12]);
    }

    #[tokio::test]
    async fn a_first_statement_sent_with_begin_leaves_no_transaction_behind() {
        let (_dir, w, pool) = writer().await;
        let w = Arc::new(w);
        let first = "INSERT INTO t (x) VALUES ($1) RETURNING x";
        // Opening the transaction: its rows come back, and the write commits as any other.
        let (m, got) = w.begin_with(first, |q| q.bind(1_i64)).await.unwrap();
        assert_eq!(got.len(), 1);
        m.commit().await.unwrap();
        assert_eq!(rows(&pool).await, vec![1]);
        // A first statement that fails (1 is taken): nothing stays open.
        assert!(
            w.begin_with(first, |q| q.bind(1_i64)).await.is_err(),
            "1 is taken"
        );
        // Cancelled while under way (a slow statement, abandoned): whatever it opened is
        // rolled back before the next writer, and reads on the write connection see what
        // other connections commit meanwhile (no transaction left open with an old view).
        let slow = {
            let w = w.clone();
            tokio::spawn(async move {
                let _ = w
                    .begin_with(
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                         WHERE i < 3000000) SELECT COUNT(*) FROM n",
                        |q| q,
                    )
                    .await;
            })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        slow.abort();
        let _ = slow.await;
        let mut m = w.begin().await.unwrap();
        insert(&mut m, 2).await.unwrap();
        m.commit().await.unwrap();
        sqlx::query("INSERT INTO t (x) VALUES (3)")
            .execute(&pool)
            .await
            .unwrap();
        let mut read = loop {
            if let Some(t) = w.try_read() {
                break t;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let seen: Vec<i64> = sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(&mut *read)
            .await
            .unwrap();
        assert_eq!(seen, vec![1, 2, 3]);
    }

    /// A writer on a task of its own that waits for its turn, inserts `x` and commits.
    fn insert_and_commit(w: &Arc<Writer>, x: i64) -> tokio::task::JoinHandle<Result<()>> {
        let w = w.clone();
        tokio::spawn(async move {
            let mut m = w.begin().await?;
            insert(&mut m, x).await?;
            m.commit().await
        })
    }

    #[tokio::test]
    async fn a_failed_or_abandoned_writer_is_rolled_back_alone() {
        let (_dir, w, pool) = writer().await;
        let w = Arc::new(w);
        let mut first = w.begin().await.unwrap();
        insert(&mut first, 1).await.unwrap();
        // Queued behind the first: one that fails half-way (its first row must go too), one
        // dropped half-way (as a cancelled request is), and one that succeeds.
        let failing = {
            let w = w.clone();
            tokio::spawn(async move {
                let mut m = w.begin().await.unwrap();
                insert(&mut m, 10).await.unwrap();
                insert(&mut m, 1).await.expect_err("1 is taken");
                // Returns the error: `m` is dropped without commit.
            })
        };
        let dropped = {
            let w = w.clone();
            tokio::spawn(async move {
                let mut m = w.begin().await.unwrap();
                insert(&mut m, 20).await.unwrap();
                drop(m);
            })
        };
        let fine = insert_and_commit(&w, 30);
        tokio::time::sleep(Duration::from_millis(100)).await;
        first.commit().await.unwrap();
        failing.await.unwrap();
        dropped.await.unwrap();
        fine.await.unwrap().unwrap();
        assert_eq!(rows(&pool).await, vec![1, 30]);
        // An explicit rollback, then the writer goes on as before.
        let mut m = w.begin().await.unwrap();
        insert(&mut m, 40).await.unwrap();
        m.rollback().await.unwrap();
        let mut m = w.begin().await.unwrap();
        insert(&mut m, 50).await.unwrap();
        m.commit().await.unwrap();
        assert_eq!(rows(&pool).await, vec![1, 30, 50]);
        // The writer that opened the transaction (it takes no savepoint) fails half-way with
        // another queued behind it: the whole transaction goes, the next one starts clean.
        let mut m = w.begin().await.unwrap();
        insert(&mut m, 60).await.unwrap();
        let queued = insert_and_commit(&w, 70);
        tokio::time::sleep(Duration::from_millis(50)).await;
        insert(&mut m, 1).await.expect_err("1 is taken");
        drop(m);
        queued.await.unwrap().unwrap();
        assert_eq!(rows(&pool).await, vec![1, 30, 50, 70]);
        w.close().await;
    }

    #[tokio::test]
    async fn a_writer_cancelled_while_committing_alone_leaves_a_clean_connection() {
        let (_dir, w, pool) = writer().await;
        let mut m = w.begin().await.unwrap();
        insert(&mut m, 1).await.unwrap();
        // Alone, it commits itself; cut short (as a request whose client went away) after
        // it took the group and before its COMMIT ran: exactly where `commit` leaves it.
        m.open = false;
        m.committing = true;
        m.turn.guard.group = None;
        drop(m);
        // The next writer starts a transaction of its own: no error, no write nested in a
        // transaction nobody commits, and the half-committed row is not there.
        let mut m = w.begin().await.unwrap();
        insert(&mut m, 2).await.unwrap();
        m.commit().await.unwrap();
        assert_eq!(rows(&pool).await, vec![2]);
        // Should the COMMIT have run to its end, the rollback before the next turn finds
        // nothing to undo and the writer goes on as well.
        let mut m = w.begin().await.unwrap();
        insert(&mut m, 3).await.unwrap();
        m.commit().await.unwrap();
        let mut m = w.begin().await.unwrap();
        insert(&mut m, 4).await.unwrap();
        m.open = false;
        m.committing = true;
        let signals = m.turn.signals.clone();
        commit_group(&mut m.turn.guard, &signals.commits, None)
            .await
            .unwrap();
        drop(m);
        let mut m = w.begin().await.unwrap();
        insert(&mut m, 5).await.unwrap();
        m.commit().await.unwrap();
        assert_eq!(rows(&pool).await, vec![2, 3, 4, 5]);
        w.close().await;
    }
}
