//! Tenants, staff users, browser sessions, API tokens, sign-in attempts and customers'
//! one-time sign-in links. Secrets are never stored: sessions and tokens are kept as SHA-256
//! hashes of the value the client holds.

use crate::{Result, Store};
use concierge_domain::{CustomerId, Role, TenantId, TokenId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A tenant (workspace).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TenantRow {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub created_at: i64,
}

/// A staff user. The password hash stays inside the store and the app layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
    pub password_changed_at: i64,
    pub locale: String,
    pub active: bool,
    pub created_at: i64,
}

/// A browser session, for a staff user or a portal customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id_hash: String,
    pub tenant_id: TenantId,
    pub user_id: Option<UserId>,
    pub customer_id: Option<CustomerId>,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// An API token's record (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiTokenRow {
    pub id: TokenId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn tenant_from(r: &AnyRow) -> Result<TenantRow> {
    Ok(TenantRow {
        id: TenantId(r.try_get("id")?),
        slug: r.try_get("slug")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
    })
}

const USER_COLS: &str = "id, tenant_id, email, display_name, role, password_hash, \
     password_changed_at, locale, active, created_at";

fn user_from(r: &AnyRow) -> Result<UserRow> {
    let role: String = r.try_get("role")?;
    Ok(UserRow {
        id: UserId(r.try_get("id")?),
        tenant_id: TenantId(r.try_get("tenant_id")?),
        email: r.try_get("email")?,
        display_name: r.try_get("display_name")?,
        role: Role::parse(&role).map_err(|e| crate::StoreError::Other(e.to_string()))?,
        password_hash: r.try_get("password_hash")?,
        password_changed_at: r.try_get("password_changed_at")?,
        locale: r.try_get("locale")?,
        active: r.try_get::<i64, _>("active")? != 0,
        created_at: r.try_get("created_at")?,
    })
}

fn session_from(r: &AnyRow) -> Result<SessionRow> {
    Ok(SessionRow {
        id_hash: r.try_get("id_hash")?,
        tenant_id: TenantId(r.try_get("tenant_id")?),
        user_id: r.try_get::<Option<i64>, _>("user_id")?.map(UserId),
        customer_id: r.try_get::<Option<i64>, _>("customer_id")?.map(CustomerId),
        csrf_token: r.try_get("csrf_token")?,
        created_at: r.try_get("created_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

fn token_from(r: &AnyRow) -> Result<ApiTokenRow> {
    Ok(ApiTokenRow {
        id: TokenId(r.try_get("id")?),
        tenant_id: TenantId(r.try_get("tenant_id")?),
        user_id: UserId(r.try_get("user_id")?),
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl Store {
    // ---- tenants ----

    /// Creates a tenant, or returns the existing one with that slug.
    pub async fn ensure_tenant(&self, slug: &str, name: &str, now: i64) -> Result<TenantRow> {
        sqlx::query(
            "INSERT INTO tenants (slug, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (slug) DO NOTHING",
        )
        .bind(slug)
        .bind(name)
        .bind(now)
        .execute(self.db())
        .await?;
        self.tenant_by_slug(slug)
            .await?
            .ok_or_else(|| crate::StoreError::Other(format!("tenant {slug} vanished")))
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<TenantRow>> {
        let row = sqlx::query("SELECT id, slug, name, created_at FROM tenants WHERE slug = $1")
            .bind(slug)
            .fetch_optional(self.db())
            .await?;
        row.as_ref().map(tenant_from).transpose()
    }

    pub async fn tenant_by_id(&self, id: TenantId) -> Result<Option<TenantRow>> {
        let row = sqlx::query("SELECT id, slug, name, created_at FROM tenants WHERE id = $1")
            .bind(id.0)
            .fetch_optional(self.db())
            .await?;
        row.as_ref().map(tenant_from).transpose()
    }

    pub async fn list_tenants(&self) -> Result<Vec<TenantRow>> {
        let rows = sqlx::query("SELECT id, slug, name, created_at FROM tenants ORDER BY id")
            .fetch_all(self.db())
            .await?;
        rows.iter().map(tenant_from).collect()
    }

    // ---- users ----

    /// Creates a staff user. A second user with the same email in the tenant is a conflict.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_user(
        &self,
        tenant: TenantId,
        email: &str,
        display_name: &str,
        role: Role,
        password_hash: &str,
        locale: &str,
        now: i64,
    ) -> Result<UserRow> {
        let row = sqlx::query(
            "INSERT INTO users (tenant_id, email, display_name, role, password_hash, \
             password_changed_at, locale, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $6) \
             RETURNING id, tenant_id, email, display_name, role, password_hash, \
             password_changed_at, locale, active, created_at",
        )
        .bind(tenant.0)
        .bind(email)
        .bind(display_name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now)
        .bind(locale)
        .fetch_one(self.db())
        .await?;
        user_from(&row)
    }

    pub async fn user_by_email(&self, tenant: TenantId, email: &str) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND email = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .bind(email)
            .fetch_optional(self.db())
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    pub async fn user_by_id(&self, tenant: TenantId, id: UserId) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .bind(id.0)
            .fetch_optional(self.db())
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    pub async fn list_users(&self, tenant: TenantId) -> Result<Vec<UserRow>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .fetch_all(self.db())
            .await?;
        rows.iter().map(user_from).collect()
    }

    /// Sets a new password hash and ends every session of that user, in one transaction.
    pub async fn set_password(
        &self,
        tenant: TenantId,
        user: UserId,
        hash: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE users SET password_hash = $1, password_changed_at = $2 \
             WHERE tenant_id = $3 AND id = $4",
        )
        .bind(hash)
        .bind(now)
        .bind(tenant.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant.0)
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    pub async fn set_user_locale(
        &self,
        tenant: TenantId,
        user: UserId,
        locale: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE users SET locale = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(locale)
            .bind(tenant.0)
            .bind(user.0)
            .execute(self.db())
            .await?;
        Ok(())
    }

    // ---- sessions ----

    pub async fn insert_session(&self, s: &SessionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, tenant_id, user_id, customer_id, csrf_token, \
             created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&s.id_hash)
        .bind(s.tenant_id.0)
        .bind(s.user_id.map(|u| u.0))
        .bind(s.customer_id.map(|c| c.0))
        .bind(&s.csrf_token)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// A live session by the hash of its cookie value (expired sessions are not returned).
    pub async fn session(&self, id_hash: &str, now: i64) -> Result<Option<SessionRow>> {
        let row = sqlx::query(
            "SELECT id_hash, tenant_id, user_id, customer_id, csrf_token, created_at, \
             last_seen_at, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(self.db())
        .await?;
        row.as_ref().map(session_from).transpose()
    }

    /// Slides a session's expiry forward.
    pub async fn touch_session(&self, id_hash: &str, now: i64, expires_at: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id_hash = $3")
            .bind(now)
            .bind(expires_at)
            .bind(id_hash)
            .execute(self.db())
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.db())
            .await?;
        Ok(())
    }

    pub async fn delete_expired_sessions(&self, now: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(self.db())
            .await?
            .rows_affected())
    }

    // ---- API tokens ----

    pub async fn insert_api_token(
        &self,
        tenant: TenantId,
        user: UserId,
        name: &str,
        token_hash: &str,
        prefix: &str,
        now: i64,
    ) -> Result<ApiTokenRow> {
        let row = sqlx::query(
            "INSERT INTO api_tokens (tenant_id, user_id, name, token_hash, prefix, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, tenant_id, user_id, name, prefix, \
             created_at, last_used_at, revoked_at",
        )
        .bind(tenant.0)
        .bind(user.0)
        .bind(name)
        .bind(token_hash)
        .bind(prefix)
        .bind(now)
        .fetch_one(self.db())
        .await?;
        token_from(&row)
    }

    /// The active token with this hash and its user, if neither is revoked or deactivated.
    pub async fn api_token_by_hash(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(ApiTokenRow, UserRow)>> {
        let row = sqlx::query(
            "SELECT id, tenant_id, user_id, name, prefix, created_at, last_used_at, revoked_at \
             FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(self.db())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token = token_from(&row)?;
        let Some(user) = self.user_by_id(token.tenant_id, token.user_id).await? else {
            return Ok(None);
        };
        if !user.active {
            return Ok(None);
        }
        // Record use at most once a minute per token to keep reads cheap.
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 \
             AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(token.id.0)
        .bind(now - 60_000)
        .execute(self.db())
        .await?;
        Ok(Some((token, user)))
    }

    pub async fn list_api_tokens(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Vec<ApiTokenRow>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, user_id, name, prefix, created_at, last_used_at, revoked_at \
             FROM api_tokens WHERE tenant_id = $1 AND user_id = $2 ORDER BY id",
        )
        .bind(tenant.0)
        .bind(user.0)
        .fetch_all(self.db())
        .await?;
        rows.iter().map(token_from).collect()
    }

    /// Revokes a token of `user` (or of anyone in the tenant when `user` is `None`, for
    /// admins). Returns whether a live token was revoked.
    pub async fn revoke_api_token(
        &self,
        tenant: TenantId,
        user: Option<UserId>,
        id: TokenId,
        now: i64,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 \
             AND revoked_at IS NULL AND ($4 < 0 OR user_id = $4)",
        )
        .bind(now)
        .bind(tenant.0)
        .bind(id.0)
        .bind(user.map(|u| u.0).unwrap_or(-1))
        .execute(self.db())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    // ---- sign-in attempts ----

    pub async fn record_sign_in_attempt(
        &self,
        tenant: TenantId,
        email: &str,
        ip: &str,
        success: bool,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sign_in_attempts (tenant_id, email, ip, success, at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant.0)
        .bind(email)
        .bind(ip)
        .bind(i16::from(success))
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Failed attempts since `since` for an account (after its last success) and for an
    /// address (across tenants and accounts).
    pub async fn recent_sign_in_failures(
        &self,
        tenant: TenantId,
        email: &str,
        ip: &str,
        since: i64,
    ) -> Result<(i64, i64)> {
        let account: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sign_in_attempts WHERE tenant_id = $1 AND email = $2 \
             AND success = 0 AND at > $3 AND at > COALESCE((SELECT MAX(at) FROM \
             sign_in_attempts WHERE tenant_id = $1 AND email = $2 AND success = 1), 0)",
        )
        .bind(tenant.0)
        .bind(email)
        .bind(since)
        .fetch_one(self.db())
        .await?;
        let address: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sign_in_attempts WHERE ip = $1 AND success = 0 AND at > $2",
        )
        .bind(ip)
        .bind(since)
        .fetch_one(self.db())
        .await?;
        Ok((account, address))
    }

    pub async fn prune_sign_in_attempts(&self, before: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM sign_in_attempts WHERE at < $1")
            .bind(before)
            .execute(self.db())
            .await?
            .rows_affected())
    }

    // ---- customers' one-time sign-in links ----

    pub async fn insert_customer_login_token(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO customer_login_tokens (tenant_id, customer_id, token_hash, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant.0)
        .bind(customer.0)
        .bind(token_hash)
        .bind(now)
        .bind(expires_at)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Uses a sign-in link: succeeds once, before expiry; atomically marks it used.
    pub async fn consume_customer_login_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(TenantId, CustomerId)>> {
        let row = sqlx::query(
            "UPDATE customer_login_tokens SET used_at = $1 WHERE token_hash = $2 \
             AND used_at IS NULL AND expires_at > $1 RETURNING tenant_id, customer_id",
        )
        .bind(now)
        .bind(token_hash)
        .fetch_optional(self.db())
        .await?;
        match row {
            Some(r) => Ok(Some((
                TenantId(r.try_get("tenant_id")?),
                CustomerId(r.try_get("customer_id")?),
            ))),
            None => Ok(None),
        }
    }
}
