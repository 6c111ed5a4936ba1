//! Full-text search over cases, messages, notes and customers: where the index lives, how
//! database rows become index documents, and the rebuild (`concierge search reindex`).
//!
//! The rebuild streams rows page by page from the store on the async side and feeds them to
//! the index writer on a blocking thread through a bounded channel, so memory stays flat at
//! millions of messages.

use crate::App;
use concierge_search::{DocKind, IndexOptions, SearchDoc, SearchIndex, Visibility};
use concierge_store::search_feed::{CaseDocRow, CustomerDocRow, MessageDocRow};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

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

/// Rebuilds this node's index from the database; `progress(indexed)` is called as it goes.
/// Returns the number of documents indexed.
pub async fn reindex(app: &App, progress: impl Fn(u64) + Send + 'static) -> anyhow::Result<u64> {
    let dir = index_dir(app);
    let head = app.store.change_log_head().await?;
    let index = tokio::task::spawn_blocking(move || {
        SearchIndex::recreate(
            &dir,
            IndexOptions {
                writer_threads: 2,
                ..IndexOptions::default()
            },
        )
    })
    .await??;
    let (tx, rx): (SyncSender<Result<SearchDoc, FeedError>>, _) = sync_channel(4096);
    let writer = tokio::task::spawn_blocking(move || {
        index.rebuild(ChannelIter(rx), head.max(0) as u64, |p| progress(p.indexed))
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
    let mut after = 0;
    loop {
        let rows = app.store.case_docs_after(after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for r in &rows {
            send(case_doc(r))?;
        }
    }
    let mut after = 0;
    loop {
        let rows = app.store.message_docs_after(after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for r in &rows {
            send(message_doc(r))?;
        }
    }
    let mut after = 0;
    loop {
        let rows = app.store.customer_docs_after(after, PAGE).await?;
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
