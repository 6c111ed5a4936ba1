//! Full-text search over cases, messages, notes and customers: where the index lives, how
//! database rows become index documents, the rebuild (`concierge search reindex`) and the
//! follower that keeps each node's index up to date with the change log.
//!
//! The rebuild streams rows page by page from the store on the async side and feeds them to
//! the index writer on a blocking thread through a bounded channel, so memory stays flat at
//! millions of messages. The rows are read on one connection of their own that does not
//! memory-map the SQLite file (see `Store::bulk_reader`), and the index being rebuilt reads its
//! own files with positioned reads rather than memory maps (`ReadMode::Pread`), so the
//! segments its merges read do not stay resident.
//!
//! ## Following the change log
//! Every write appends `change_log` rows (entity and id) in its own transaction. Each node
//! runs one [`run_follower`] loop: [`follow_once`] reads the entries after the index's applied
//! sequence, re-reads the entities they name, upserts their documents (or deletes those of
//! entities that are gone) and commits with the last sequence applied, durably with the
//! documents. On PostgreSQL a sequence number is taken when a row is inserted but becomes
//! visible when its transaction commits, so entry 11 may be visible before entry 10: the
//! follower stops before such a gap and waits until it is filled, or until the first entry
//! after it is [`GAP_GRACE_MS`] old (a rolled-back transaction leaves a gap that is never
//! filled). SQLite has one writer at a time and never shows a gap.

use crate::App;
use concierge_search::{
    DocKind, IndexOptions, ReadMode, RebuildProgress, SearchDoc, SearchError, SearchIndex,
    TenantId, Visibility,
};
use concierge_store::search_feed::{CaseDocRow, ChangeRow, CustomerDocRow, MessageDocRow};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

/// Where this node keeps its index.
pub fn index_dir(app: &App) -> PathBuf {
    app.config.storage.data_dir.join("search-index")
}

fn case_doc(c: &CaseDocRow) -> SearchDoc {
    let mut d = SearchDoc::new(
        c.tenant_id,
        DocKind::Case,
        c.id,
        format!("[#{}] {}", c.number, c.subject),
        c.subject.clone(),
        c.created_at,
    );
    d.case_id = Some(c.id);
    d.customer_id = Some(c.customer_id);
    d.subtitle = Some(c.customer_name.clone());
    d.status = Some(c.status.clone());
    d.owner_id = c.owner_id;
    d.team_id = c.team_id;
    d.channel = Some(c.channel.clone());
    d.tier = c.tier.clone();
    d.tags = c.tags.clone();
    d.updated_at = c.updated_at;
    d
}

fn message_doc(m: &MessageDocRow) -> SearchDoc {
    let kind = if m.internal {
        DocKind::Note
    } else {
        DocKind::Message
    };
    let mut d = SearchDoc::new(
        m.tenant_id,
        kind,
        m.id,
        format!("[#{}] {}", m.case.number, m.case.subject),
        m.body.clone(),
        m.created_at,
    );
    d.visibility = if m.internal {
        Visibility::Internal
    } else {
        Visibility::Public
    };
    d.case_id = Some(m.case_id);
    d.customer_id = Some(m.case.customer_id);
    d.subtitle = Some(m.case.customer_name.clone());
    d.status = Some(m.case.status.clone());
    d.owner_id = m.case.owner_id;
    d.team_id = m.case.team_id;
    d.channel = Some(m.case.channel.clone());
    d.tier = m.case.tier.clone();
    d.tags = m.case.tags.clone();
    d.updated_at = m.created_at;
    d
}

fn customer_doc(c: &CustomerDocRow) -> SearchDoc {
    let body = match &c.external_id {
        Some(x) => format!("{} {x}", c.contacts),
        None => c.contacts.clone(),
    };
    let mut d = SearchDoc::new(
        c.tenant_id,
        DocKind::Customer,
        c.id,
        c.name.clone(),
        body,
        c.created_at,
    );
    d.customer_id = Some(c.id);
    d.updated_at = c.updated_at;
    d
}

/// An error crossing from the reading side to the index writer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FeedError(String);

struct ChannelIter(Receiver<Result<SearchDoc, FeedError>>);

impl Iterator for ChannelIter {
    type Item = Result<SearchDoc, FeedError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.recv().ok()
    }
}

/// Rebuilds this node's index from the database; `progress` is called as it goes (documents
/// indexed, then once when the segments are being merged, then at the end). Returns the
/// number of documents indexed.
pub async fn reindex(
    app: &App,
    progress: impl Fn(RebuildProgress) + Send + 'static,
) -> anyhow::Result<u64> {
    let dir = index_dir(app);
    let head = app.store.change_log_head().await?;
    let index = tokio::task::spawn_blocking(move || {
        SearchIndex::recreate(
            &dir,
            IndexOptions {
                writer_threads: 2,
                read_mode: ReadMode::Pread,
                ..IndexOptions::default()
            },
        )
    })
    .await??;
    let (tx, rx): (SyncSender<Result<SearchDoc, FeedError>>, _) = sync_channel(4096);
    let writer = tokio::task::spawn_blocking(move || {
        index.rebuild(ChannelIter(rx), head.max(0) as u64, progress)
    });
    let feed = feed_all(app, &tx).await;
    if let Err(e) = &feed {
        let _ = tx.send(Err(FeedError(e.to_string())));
    }
    drop(tx);
    let n = writer.await??;
    feed?;
    Ok(n)
}

async fn feed_all(app: &App, tx: &SyncSender<Result<SearchDoc, FeedError>>) -> anyhow::Result<()> {
    const PAGE: i64 = 2000;
    let send = |d: SearchDoc| -> anyhow::Result<()> {
        tx.send(Ok(d))
            .map_err(|_| anyhow::anyhow!("the index writer stopped"))
    };
    let mut reader = app.store.bulk_reader().await?;
    let mut after = 0;
    loop {
        let rows = reader.case_docs_after(after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for r in &rows {
            send(case_doc(r))?;
        }
    }
    let mut after = 0;
    loop {
        let rows = reader.message_docs_after(after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for r in &rows {
            send(message_doc(r))?;
        }
    }
    let mut after = 0;
    loop {
        let rows = reader.customer_docs_after(after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for r in &rows {
            send(customer_doc(r))?;
        }
    }
    Ok(())
}

/// Opens this node's index for searching (creating an empty one if there is none).
pub fn open_index(app: &App) -> Result<SearchIndex, concierge_search::SearchError> {
    SearchIndex::open_or_create(index_dir(app), IndexOptions::default())
}

/// How long the follower waits for a gap in the change log to fill before it moves past it.
pub const GAP_GRACE_MS: i64 = 60_000;
/// Most change-log entries one [`follow_once`] applies.
pub const FOLLOW_BATCH: i64 = 1000;
/// Pause between rounds of [`run_follower`] once it has caught up.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(500);

/// A document to remove from the index.
#[derive(Debug, Clone, Copy)]
enum Removal {
    Doc(TenantId, DocKind, i64),
    /// A case and everything indexed under it.
    Case(TenantId, i64),
}

/// What one round read from the database, ready for the index writer.
#[derive(Debug, Default)]
struct Batch {
    removals: Vec<Removal>,
    docs: Vec<SearchDoc>,
    /// The change-log entry to commit with.
    seq: u64,
    /// Entries applied.
    entries: u64,
}

/// The entries after `applied` that may be applied now: up to the first gap, unless the entry
/// after the gap is at least [`GAP_GRACE_MS`] old by `now`.
fn contiguous(rows: &[ChangeRow], applied: i64, now: i64) -> &[ChangeRow] {
    let mut last = applied;
    for (i, r) in rows.iter().enumerate() {
        if r.seq != last + 1 && now.saturating_sub(r.at) < GAP_GRACE_MS {
            return &rows[..i];
        }
        last = r.seq;
    }
    rows
}

/// Reads the next batch: the entries after `applied` and the rows they name.
async fn read_batch(app: &App, applied: u64) -> anyhow::Result<Option<Batch>> {
    let applied = i64::try_from(applied)?;
    let rows = app.store.changes_after(applied, FOLLOW_BATCH).await?;
    let ready = contiguous(&rows, applied, app.now());
    let Some(last) = ready.last() else {
        return Ok(None);
    };
    let mut cases = BTreeSet::new();
    let mut messages = BTreeSet::new();
    let mut customers = BTreeSet::new();
    let mut tenant_of = std::collections::HashMap::new();
    for r in ready {
        let set = match r.entity.as_str() {
            "case" => &mut cases,
            "message" => &mut messages,
            "customer" => &mut customers,
            other => {
                tracing::debug!(
                    entity = other,
                    seq = r.seq,
                    "search follower: entity not indexed"
                );
                continue;
            }
        };
        set.insert(r.entity_id);
        tenant_of.insert((r.entity.clone(), r.entity_id), r.tenant_id);
    }
    let mut batch = Batch {
        seq: u64::try_from(last.seq)?,
        entries: ready.len() as u64,
        ..Batch::default()
    };
    let case_ids: Vec<i64> = cases.iter().copied().collect();
    let case_rows = app.store.case_docs_by_ids(&case_ids).await?;
    let found: BTreeSet<i64> = case_rows.iter().map(|c| c.id).collect();
    for id in cases.difference(&found) {
        let tenant = tenant_of
            .get(&("case".to_string(), *id))
            .copied()
            .unwrap_or_default();
        batch.removals.push(Removal::Case(TenantId(tenant), *id));
    }
    // A case's messages carry its facets (status, owner, team, tags...): re-index them with it.
    // Its customer too, so one created with the case is found by name.
    for c in &case_rows {
        customers.insert(c.customer_id);
    }
    let mut message_rows = app.store.message_docs_of_cases(&case_ids).await?;
    let of_cases: BTreeSet<i64> = message_rows.iter().map(|m| m.id).collect();
    let others: Vec<i64> = messages.difference(&of_cases).copied().collect();
    let more = app.store.message_docs_by_ids(&others).await?;
    let found: BTreeSet<i64> = more.iter().map(|m| m.id).collect();
    for id in others.iter().filter(|id| !found.contains(id)) {
        let tenant = TenantId(
            tenant_of
                .get(&("message".to_string(), *id))
                .copied()
                .unwrap_or_default(),
        );
        batch
            .removals
            .push(Removal::Doc(tenant, DocKind::Message, *id));
        batch
            .removals
            .push(Removal::Doc(tenant, DocKind::Note, *id));
    }
    message_rows.extend(more);
    let customer_ids: Vec<i64> = customers.iter().copied().collect();
    let customer_rows = app.store.customer_docs_by_ids(&customer_ids).await?;
    let found: BTreeSet<i64> = customer_rows.iter().map(|c| c.id).collect();
    for id in customers.difference(&found) {
        if let Some(t) = tenant_of.get(&("customer".to_string(), *id)) {
            batch
                .removals
                .push(Removal::Doc(TenantId(*t), DocKind::Customer, *id));
        }
    }
    batch.docs.extend(case_rows.iter().map(case_doc));
    for m in &message_rows {
        // A message that became a note (or the other way) leaves no document of its old kind.
        let old = if m.internal {
            DocKind::Message
        } else {
            DocKind::Note
        };
        batch
            .removals
            .push(Removal::Doc(TenantId(m.tenant_id), old, m.id));
        batch.docs.push(message_doc(m));
    }
    batch.docs.extend(customer_rows.iter().map(customer_doc));
    Ok(Some(batch))
}

/// Writes a batch to the index and commits it with its sequence number. A document the index
/// refuses is logged and skipped (it must not stop the follower for good); any other failure
/// drops the staged changes and is returned.
fn write_batch(index: &SearchIndex, batch: &Batch) -> Result<(), SearchError> {
    let staged = (|| {
        for r in &batch.removals {
            match *r {
                Removal::Doc(t, kind, id) => index.delete(t, kind, id)?,
                Removal::Case(t, id) => index.delete_case(t, id)?,
            }
        }
        for d in &batch.docs {
            match index.upsert(std::iter::once(d.clone())) {
                Ok(_) => {}
                Err(SearchError::InvalidDocument { kind, id, reason }) => {
                    tracing::warn!(kind, id, reason, "search follower: document skipped");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })();
    match staged.and_then(|()| index.commit(batch.seq)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = index.rollback();
            Err(e)
        }
    }
}

/// Applies the change-log entries after the index's applied sequence (at most
/// [`FOLLOW_BATCH`]): re-reads the cases, messages, notes and customers they name, upserts
/// their documents (deletes those of entities that no longer exist) and commits with the last
/// sequence applied. Never moves past a gap in the sequence until it is filled or
/// [`GAP_GRACE_MS`] old. Returns the number of entries applied (0: nothing new, or waiting on
/// a gap).
///
/// The index writes run on the calling thread; [`run_follower`] moves them off the runtime.
pub async fn follow_once(app: &App, index: &SearchIndex) -> anyhow::Result<u64> {
    let Some(batch) = read_batch(app, index.applied_seq()).await? else {
        return Ok(0);
    };
    write_batch(index, &batch)?;
    Ok(batch.entries)
}

/// [`follow_once`] with the index writes on a blocking thread.
async fn follow_step(app: &App, index: &Arc<SearchIndex>) -> anyhow::Result<u64> {
    let Some(batch) = read_batch(app, index.applied_seq()).await? else {
        return Ok(0);
    };
    let index = Arc::clone(index);
    let entries = batch.entries;
    tokio::task::spawn_blocking(move || write_batch(&index, &batch)).await??;
    Ok(entries)
}

/// Keeps this node's index following the change log until `stop` turns true (or its sender
/// is dropped — keep the sender for as long as the node serves): a round every
/// [`FOLLOW_INTERVAL`], back to back while there is a backlog. Failures (database unavailable,
/// disk full) are logged and retried on the next round.
pub async fn run_follower(
    app: App,
    index: Arc<SearchIndex>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    tracing::info!(applied_seq = index.applied_seq(), "search follower started");
    loop {
        if *stop.borrow_and_update() {
            tracing::info!(applied_seq = index.applied_seq(), "search follower stopped");
            return;
        }
        let backlog = match follow_step(&app, &index).await {
            Ok(n) => n >= FOLLOW_BATCH as u64,
            Err(e) => {
                tracing::warn!(error = %e, "search follower: round failed; retrying");
                false
            }
        };
        if backlog {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(FOLLOW_INTERVAL) => {}
            changed = stop.changed() => {
                if changed.is_err() {
                    tracing::info!("search follower stopped: its stop sender was dropped");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, at: i64) -> ChangeRow {
        ChangeRow {
            seq,
            tenant_id: 1,
            entity: "case".into(),
            entity_id: seq,
            op: "upsert".into(),
            at,
        }
    }

    #[test]
    fn the_follower_stops_at_a_fresh_gap_and_passes_an_old_one() {
        let now = 1_000_000;
        let rows = [row(11, now), row(12, now), row(14, now), row(15, now)];
        assert_eq!(contiguous(&rows, 10, now).len(), 2);
        // The entry after the gap at 13 is older than the grace period: 13 is never coming.
        let rows = [
            row(11, now),
            row(12, now),
            row(14, now - GAP_GRACE_MS),
            row(15, now),
        ];
        assert_eq!(contiguous(&rows, 10, now).len(), 4);
        // A gap right after the applied sequence holds everything back.
        let rows = [row(12, now), row(13, now)];
        assert!(contiguous(&rows, 10, now).is_empty());
        assert!(contiguous(&[], 10, now).is_empty());
    }
}
