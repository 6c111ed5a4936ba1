//! Rows the search index is built from: cases, messages and notes, customers — read in id
//! order, page by page, across tenants (each row carries its tenant). Used by
//! `concierge search reindex`; the per-node follower of the change log reads the same shapes.

use crate::{Result, Store};
use sqlx::Row;

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

const CASE_COLS: &str = "c.id AS c_id, c.tenant_id AS c_tenant, c.number, c.subject, c.status, \
    c.channel, c.owner_id, c.team_id, c.customer_id, cu.display_name AS customer_name, \
    c.created_at AS c_created, c.updated_at AS c_updated";

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
        created_at: r.try_get("c_created")?,
        updated_at: r.try_get("c_updated")?,
    })
}

impl Store {
    /// Cases with id greater than `after`, in id order.
    pub async fn case_docs_after(&self, after: i64, limit: i64) -> Result<Vec<CaseDocRow>> {
        let sql = format!(
            "SELECT {CASE_COLS} FROM cases c JOIN customers cu ON cu.id = c.customer_id \
             WHERE c.id > $1 ORDER BY c.id LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(case_from).collect()
    }

    /// Messages with id greater than `after`, in id order, with their case.
    pub async fn message_docs_after(&self, after: i64, limit: i64) -> Result<Vec<MessageDocRow>> {
        let sql = format!(
            "SELECT m.id AS m_id, m.visibility, m.body_text, m.created_at AS m_created, \
             {CASE_COLS} FROM messages m JOIN cases c ON c.id = m.case_id \
             JOIN customers cu ON cu.id = c.customer_id WHERE m.id > $1 ORDER BY m.id LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
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
            })
            .collect()
    }

    /// Customers with id greater than `after`, in id order, with their contact points.
    pub async fn customer_docs_after(&self, after: i64, limit: i64) -> Result<Vec<CustomerDocRow>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, display_name, external_id, created_at, updated_at \
             FROM customers WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<CustomerDocRow> = rows
            .iter()
            .map(|r| {
                Ok(CustomerDocRow {
                    id: r.try_get("id")?,
                    tenant_id: r.try_get("tenant_id")?,
                    name: r.try_get("display_name")?,
                    external_id: r.try_get("external_id")?,
                    contacts: String::new(),
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect::<Result<_>>()?;
        if let (Some(first), Some(last)) = (out.first(), out.last()) {
            let contacts = sqlx::query(
                "SELECT customer_id, value FROM customer_contacts WHERE customer_id >= $1 \
                 AND customer_id <= $2 AND kind IN ('email', 'phone') ORDER BY customer_id, id",
            )
            .bind(first.id)
            .bind(last.id)
            .fetch_all(&self.pool)
            .await?;
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
        }
        Ok(out)
    }

    /// The newest change-log sequence number (0 when empty).
    pub async fn change_log_head(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM change_log")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
