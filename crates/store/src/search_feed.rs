//! Rows the search index is built from: cases, messages and notes, customers — read in id
//! order, page by page, across tenants (each row carries its tenant). Used by
//! `concierge search reindex`; the per-node follower of the change log reads the same shapes,
//! by id, for the entities named by [`ChangeRow`]s.

use crate::{Result, Store};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Executor, Row};

/// A case as the index sees it.
#[derive(Debug, Clone)]
pub struct CaseDocRow {
    pub id: i64,
    pub tenant_id: i64,
    pub number: i64,
    pub subject: String,
    pub status: String,
    pub channel: String,
    pub owner_id: Option<i64>,
    pub team_id: Option<i64>,
    pub customer_id: i64,
    pub customer_name: String,
    /// The customer's current tier, if any.
    pub tier: Option<String>,
    pub tags: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A message or internal note, with its case's fields.
#[derive(Debug, Clone)]
pub struct MessageDocRow {
    pub id: i64,
    pub tenant_id: i64,
    pub case_id: i64,
    pub internal: bool,
    pub body: String,
    pub created_at: i64,
    pub case: CaseDocRow,
}

/// A customer with contact points.
#[derive(Debug, Clone)]
pub struct CustomerDocRow {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub external_id: Option<String>,
    pub contacts: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One entry of the change log: `entity` (`case`, `message`, `customer`) `entity_id` of
/// `tenant_id` was written at `at` (epoch ms, the writer's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub seq: i64,
    pub tenant_id: i64,
    pub entity: String,
    pub entity_id: i64,
    pub op: String,
    pub at: i64,
}

/// Ids as an SQL list (`1, 2, 3`); they are integers, so nothing needs quoting.
fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Most ids in one `IN (...)` list.
const IDS_PER_QUERY: usize = 500;

const CASE_COLS: &str = "c.id AS c_id, c.tenant_id AS c_tenant, c.number, c.subject, c.status, \
    c.channel, c.owner_id, c.team_id, c.customer_id, cu.display_name AS customer_name, \
    ct.tier AS c_tier, c.created_at AS c_created, c.updated_at AS c_updated";

/// The joins [`CASE_COLS`] needs after `cases c`.
const CASE_JOINS: &str = "JOIN customers cu ON cu.id = c.customer_id \
    LEFT JOIN customer_tiers ct ON ct.tenant_id = c.tenant_id AND ct.customer_id = c.customer_id";

const MESSAGE_COLS: &str = "m.id AS m_id, m.visibility, m.body_text, m.created_at AS m_created";

fn case_from(r: &sqlx::any::AnyRow) -> Result<CaseDocRow> {
    Ok(CaseDocRow {
        id: r.try_get("c_id")?,
        tenant_id: r.try_get("c_tenant")?,
        number: r.try_get("number")?,
        subject: r.try_get("subject")?,
        status: r.try_get("status")?,
        channel: r.try_get("channel")?,
        owner_id: r.try_get("owner_id")?,
        team_id: r.try_get("team_id")?,
        customer_id: r.try_get("customer_id")?,
        customer_name: r.try_get("customer_name")?,
        tier: r
            .try_get::<Option<String>, _>("c_tier")?
            .filter(|t| !t.trim().is_empty()),
        tags: Vec::new(),
        created_at: r.try_get("c_created")?,
        updated_at: r.try_get("c_updated")?,
    })
}

fn message_from(r: &sqlx::any::AnyRow) -> Result<MessageDocRow> {
    let case = case_from(r)?;
    let vis: String = r.try_get("visibility")?;
    Ok(MessageDocRow {
        id: r.try_get("m_id")?,
        tenant_id: case.tenant_id,
        case_id: case.id,
        internal: vis != "public",
        body: r.try_get("body_text")?,
        created_at: r.try_get("m_created")?,
        case,
    })
}

impl Store {
    /// Fills in the tags of `cases` (each case's tags in name order).
    async fn fill_tags<'a>(
        &self,
        cases: impl IntoIterator<Item = &'a mut CaseDocRow>,
    ) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        fill_tags(&mut conn, cases).await
    }

    /// Cases with id greater than `after`, in id order.
    pub async fn case_docs_after(&self, after: i64, limit: i64) -> Result<Vec<CaseDocRow>> {
        let mut conn = self.pool.acquire().await?;
        case_docs_after(&mut conn, after, limit).await
    }

    /// Messages with id greater than `after`, in id order, with their case.
    pub async fn message_docs_after(&self, after: i64, limit: i64) -> Result<Vec<MessageDocRow>> {
        let mut conn = self.pool.acquire().await?;
        message_docs_after(&mut conn, after, limit).await
    }

    /// The change log after `after`, in sequence order, at most `limit` entries.
    pub async fn changes_after(&self, after: i64, limit: i64) -> Result<Vec<ChangeRow>> {
        let rows = sqlx::query(
            "SELECT seq, tenant_id, entity, entity_id, op, at FROM change_log WHERE seq > $1 \
             ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ChangeRow {
                    seq: r.try_get("seq")?,
                    tenant_id: r.try_get("tenant_id")?,
                    entity: r.try_get("entity")?,
                    entity_id: r.try_get("entity_id")?,
                    op: r.try_get("op")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// The cases with these ids (any tenant; each row carries its own). Missing ids are
    /// simply absent.
    pub async fn case_docs_by_ids(&self, ids: &[i64]) -> Result<Vec<CaseDocRow>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let sql = format!(
                "SELECT {CASE_COLS} FROM cases c {CASE_JOINS} WHERE c.id IN ({}) ORDER BY c.id",
                id_list(chunk)
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(self.db())
                .await?;
            for r in &rows {
                out.push(case_from(r)?);
            }
        }
        self.fill_tags(out.iter_mut()).await?;
        Ok(out)
    }

    /// The messages and notes with these ids, with their case. Missing ids are absent.
    pub async fn message_docs_by_ids(&self, ids: &[i64]) -> Result<Vec<MessageDocRow>> {
        self.message_docs_where("m.id", ids).await
    }

    /// Every message and note of these cases (their documents carry the case's facets, so
    /// they are re-indexed when the case changes).
    pub async fn message_docs_of_cases(&self, case_ids: &[i64]) -> Result<Vec<MessageDocRow>> {
        self.message_docs_where("m.case_id", case_ids).await
    }

    async fn message_docs_where(&self, column: &str, ids: &[i64]) -> Result<Vec<MessageDocRow>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let sql = format!(
                "SELECT {MESSAGE_COLS}, {CASE_COLS} FROM messages m JOIN cases c ON c.id = m.case_id \
                 {CASE_JOINS} WHERE {column} IN ({}) ORDER BY m.id",
                id_list(chunk)
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(self.db())
                .await?;
            for r in &rows {
                out.push(message_from(r)?);
            }
        }
        self.fill_tags(out.iter_mut().map(|m| &mut m.case)).await?;
        Ok(out)
    }

    /// The customers with these ids, with their contact points. Missing ids are absent.
    pub async fn customer_docs_by_ids(&self, ids: &[i64]) -> Result<Vec<CustomerDocRow>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT id, tenant_id, display_name, external_id, created_at, updated_at \
                 FROM customers WHERE id IN ({}) AND merged_into IS NULL ORDER BY id",
                id_list(chunk)
            )))
            .fetch_all(self.db())
            .await?;
            let mut part: Vec<CustomerDocRow> =
                rows.iter().map(customer_from).collect::<Result<_>>()?;
            let contacts = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT customer_id, value FROM customer_contacts WHERE customer_id IN ({}) \
                 AND kind IN ('email', 'phone') ORDER BY customer_id, id",
                id_list(chunk)
            )))
            .fetch_all(self.db())
            .await?;
            attach_contacts(&mut part, &contacts)?;
            out.extend(part);
        }
        Ok(out)
    }

    /// Customers with id greater than `after`, in id order, with their contact points.
    pub async fn customer_docs_after(&self, after: i64, limit: i64) -> Result<Vec<CustomerDocRow>> {
        let mut conn = self.pool.acquire().await?;
        customer_docs_after(&mut conn, after, limit).await
    }

    /// A connection of its own for reading every case, message and customer once, page by
    /// page (the search rebuild). On SQLite it reads the file with plain reads instead of the
    /// pool's memory map: mapped pages count in the process's resident memory for as long as
    /// the connection lives, and a pass over a database of gigabytes would fill the whole map
    /// of each connection it used. That connection is closed, not returned to the pool, when
    /// the reader is dropped.
    pub async fn bulk_reader(&self) -> Result<BulkReader> {
        let mut conn = self.pool.acquire().await?;
        if self.backend() == crate::Backend::Sqlite {
            conn.close_on_drop();
            conn.execute("PRAGMA mmap_size = 0").await?;
        }
        Ok(BulkReader { conn })
    }

    /// The newest change-log sequence number (0 when empty).
    pub async fn change_log_head(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM change_log")
                .fetch_one(self.db())
                .await?,
        )
    }
}

/// One connection reading the search documents in id order (see [`Store::bulk_reader`]).
#[derive(Debug)]
pub struct BulkReader {
    conn: PoolConnection<Any>,
}

impl BulkReader {
    /// Cases with id greater than `after`, in id order.
    pub async fn case_docs_after(&mut self, after: i64, limit: i64) -> Result<Vec<CaseDocRow>> {
        case_docs_after(&mut self.conn, after, limit).await
    }

    /// Messages with id greater than `after`, in id order, with their case.
    pub async fn message_docs_after(
        &mut self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<MessageDocRow>> {
        message_docs_after(&mut self.conn, after, limit).await
    }

    /// Customers with id greater than `after`, in id order, with their contact points.
    pub async fn customer_docs_after(
        &mut self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<CustomerDocRow>> {
        customer_docs_after(&mut self.conn, after, limit).await
    }
}

fn customer_from(r: &sqlx::any::AnyRow) -> Result<CustomerDocRow> {
    Ok(CustomerDocRow {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("display_name")?,
        external_id: r.try_get("external_id")?,
        contacts: String::new(),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Appends each contact value to its customer's `contacts`; both lists in customer id order.
fn attach_contacts(out: &mut [CustomerDocRow], contacts: &[sqlx::any::AnyRow]) -> Result<()> {
    let mut i = 0;
    for r in contacts {
        let cid: i64 = r.try_get("customer_id")?;
        let v: String = r.try_get("value")?;
        while i < out.len() && out[i].id < cid {
            i += 1;
        }
        if let Some(c) = out.get_mut(i).filter(|c| c.id == cid) {
            if !c.contacts.is_empty() {
                c.contacts.push(' ');
            }
            c.contacts.push_str(&v);
        }
    }
    Ok(())
}

/// Fills in the tags of `cases` (each case's tags in name order).
async fn fill_tags<'a>(
    conn: &mut AnyConnection,
    cases: impl IntoIterator<Item = &'a mut CaseDocRow>,
) -> Result<()> {
    let mut by_id: std::collections::HashMap<i64, Vec<&'a mut CaseDocRow>> =
        std::collections::HashMap::new();
    for c in cases {
        by_id.entry(c.id).or_default().push(c);
    }
    let ids: Vec<i64> = by_id.keys().copied().collect();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT case_id, tag FROM case_tags WHERE case_id IN ({}) ORDER BY case_id, tag",
            id_list(chunk)
        )))
        .fetch_all(&mut *conn)
        .await?;
        for r in &rows {
            let id: i64 = r.try_get("case_id")?;
            let tag: String = r.try_get("tag")?;
            if let Some(list) = by_id.get_mut(&id) {
                for c in list.iter_mut() {
                    c.tags.push(tag.clone());
                }
            }
        }
    }
    Ok(())
}

/// Cases with id greater than `after`, in id order.
async fn case_docs_after(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<CaseDocRow>> {
    let sql = format!(
        "SELECT {CASE_COLS} FROM cases c {CASE_JOINS} WHERE c.id > $1 ORDER BY c.id LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let mut out: Vec<CaseDocRow> = rows.iter().map(case_from).collect::<Result<_>>()?;
    fill_tags(&mut *conn, out.iter_mut()).await?;
    Ok(out)
}

/// Messages with id greater than `after`, in id order, with their case.
async fn message_docs_after(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<MessageDocRow>> {
    let sql = format!(
        "SELECT {MESSAGE_COLS}, {CASE_COLS} FROM messages m JOIN cases c ON c.id = m.case_id \
         {CASE_JOINS} WHERE m.id > $1 ORDER BY m.id LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let mut out: Vec<MessageDocRow> = rows.iter().map(message_from).collect::<Result<_>>()?;
    fill_tags(&mut *conn, out.iter_mut().map(|m| &mut m.case)).await?;
    Ok(out)
}

/// Customers with id greater than `after`, in id order, with their contact points.
async fn customer_docs_after(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<CustomerDocRow>> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, display_name, external_id, created_at, updated_at \
         FROM customers WHERE id > $1 AND merged_into IS NULL ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<CustomerDocRow> = rows.iter().map(customer_from).collect::<Result<_>>()?;
    if let (Some(first), Some(last)) = (out.first(), out.last()) {
        let contacts = sqlx::query(
            "SELECT customer_id, value FROM customer_contacts WHERE customer_id >= $1 \
             AND customer_id <= $2 AND kind IN ('email', 'phone') ORDER BY customer_id, id",
        )
        .bind(first.id)
        .bind(last.id)
        .fetch_all(&mut *conn)
        .await?;
        attach_contacts(&mut out, &contacts)?;
    }
    Ok(out)
}
