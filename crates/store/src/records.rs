//! Tenant-owned records shared by several features: customers (the minimal core the
//! customer-memory work builds on), per-tenant counters, the audit trail and the ordered
//! change log that search indexes follow.

use crate::{Result, Store};
use concierge_domain::{CustomerId, TenantId};
use sqlx::Row;

/// A customer's core identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CustomerRow {
    pub id: CustomerId,
    pub tenant_id: TenantId,
    pub external_id: Option<String>,
    pub display_name: String,
    pub email: Option<String>,
    pub created_at: i64,
}

/// An entry for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry<'a> {
    pub actor_kind: &'a str,
    pub actor_id: Option<i64>,
    pub action: &'a str,
    pub subject_kind: &'a str,
    pub subject_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub case_id: Option<i64>,
    pub detail: String,
}

impl Store {
    /// Creates a customer with a primary email contact.
    pub async fn create_customer(
        &self,
        tenant: TenantId,
        display_name: &str,
        email: Option<&str>,
        external_id: Option<&str>,
        now: i64,
    ) -> Result<CustomerRow> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO customers (tenant_id, external_id, display_name, sort_name, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(tenant.0)
        .bind(external_id)
        .bind(display_name)
        .bind(concierge_domain::customer::name_key(display_name))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get("id")?;
        if let Some(email) = email {
            sqlx::query(
                "INSERT INTO customer_contacts (tenant_id, customer_id, kind, value, normalized, \
                 is_primary, verified, created_at) VALUES ($1, $2, 'email', $3, $4, 1, 0, $5)",
            )
            .bind(tenant.0)
            .bind(id)
            .bind(email)
            .bind(email.to_lowercase())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // Every node's search index follows the change log: a new customer is findable
        // before any case names them.
        sqlx::query(
            "INSERT INTO change_log (tenant_id, entity, entity_id, op, at) \
             VALUES ($1, 'customer', $2, 'upsert', $3)",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(CustomerRow {
            id: CustomerId(id),
            tenant_id: tenant,
            external_id: external_id.map(str::to_string),
            display_name: display_name.to_string(),
            email: email.map(str::to_string),
            created_at: now,
        })
    }

    /// A customer of `tenant`; another tenant's id finds nothing.
    pub async fn customer(&self, tenant: TenantId, id: CustomerId) -> Result<Option<CustomerRow>> {
        let row = sqlx::query(
            "SELECT c.id, c.tenant_id, c.external_id, c.display_name, c.created_at, \
             (SELECT value FROM customer_contacts k WHERE k.customer_id = c.id AND \
              k.kind = 'email' ORDER BY k.is_primary DESC, k.id LIMIT 1) AS email \
             FROM customers c WHERE c.tenant_id = $1 AND c.id = $2",
        )
        .bind(tenant.0)
        .bind(id.0)
        .fetch_optional(self.db())
        .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(CustomerRow {
                id: CustomerId(r.try_get("id")?),
                tenant_id: TenantId(r.try_get("tenant_id")?),
                external_id: r.try_get("external_id")?,
                display_name: r.try_get("display_name")?,
                email: r.try_get("email")?,
                created_at: r.try_get("created_at")?,
            })),
        }
    }

    /// Finds a customer of `tenant` by a normalised email address.
    pub async fn customer_by_email(
        &self,
        tenant: TenantId,
        email: &str,
    ) -> Result<Option<CustomerRow>> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT customer_id FROM customer_contacts WHERE tenant_id = $1 AND kind = 'email' \
             AND normalized = $2 ORDER BY is_primary DESC, id LIMIT 1",
        )
        .bind(tenant.0)
        .bind(email.to_lowercase())
        .fetch_optional(self.db())
        .await?;
        match id {
            Some(id) => self.customer(tenant, CustomerId(id)).await,
            None => Ok(None),
        }
    }

    pub async fn count_customers(&self, tenant: TenantId) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE tenant_id = $1")
                .bind(tenant.0)
                .fetch_one(self.db())
                .await?,
        )
    }

    /// Increments and returns a per-tenant counter (e.g. case numbers). Lives in the database,
    /// so every node draws from the same sequence.
    pub async fn next_counter(&self, tenant: TenantId, name: &str) -> Result<i64> {
        let v: i64 = sqlx::query_scalar(
            "INSERT INTO counters (tenant_id, name, value) VALUES ($1, $2, 1) \
             ON CONFLICT (tenant_id, name) DO UPDATE SET value = counters.value + 1 \
             RETURNING value",
        )
        .bind(tenant.0)
        .bind(name)
        .fetch_one(self.db())
        .await?;
        Ok(v)
    }

    /// Appends to the audit trail.
    pub async fn audit(&self, tenant: TenantId, e: &AuditEntry<'_>, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_events (tenant_id, actor_kind, actor_id, action, subject_kind, \
             subject_id, customer_id, case_id, detail, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(tenant.0)
        .bind(e.actor_kind)
        .bind(e.actor_id)
        .bind(e.action)
        .bind(e.subject_kind)
        .bind(e.subject_id)
        .bind(e.customer_id)
        .bind(e.case_id)
        .bind(&e.detail)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Recent audit actions of a tenant, newest first: `(action, subject_kind, subject_id)`.
    pub async fn recent_audit(
        &self,
        tenant: TenantId,
        limit: i64,
    ) -> Result<Vec<(String, String, Option<i64>)>> {
        let rows = sqlx::query(
            "SELECT action, subject_kind, subject_id FROM audit_events WHERE tenant_id = $1 \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(tenant.0)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("action")?,
                    r.try_get("subject_kind")?,
                    r.try_get("subject_id")?,
                ))
            })
            .collect()
    }
}
