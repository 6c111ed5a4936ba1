//! Authentication use cases: staff sign-in with Argon2id passwords and database-backed
//! throttling, browser sessions, password changes that end every session, API tokens, and
//! customers' one-time sign-in links for the portal.

use crate::App;
use crate::secrets::{hash_secret, random_secret};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use concierge_domain::{
    CustomerId, EmailAddress, Role, SignInPolicy, TenantId, TokenId, UserId, check_password,
};
use concierge_store::{ApiTokenRow, SessionRow, StoreError, UserRow};

/// Who is making a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A staff member, signed in by session or API token.
    Staff(UserRow),
    /// A customer signed in to the portal.
    Customer {
        tenant_id: TenantId,
        customer_id: CustomerId,
    },
}

impl Principal {
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Principal::Staff(u) => u.tenant_id,
            Principal::Customer { tenant_id, .. } => *tenant_id,
        }
    }
}

/// Why an authentication step failed. Messages are safe to show: they never say whether an
/// account exists.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("too many failed sign-in attempts; wait {retry_after_secs} seconds and try again")]
    Throttled { retry_after_secs: i64 },
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// A session just created: the cookie value goes to the client, once.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub cookie_value: String,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// A session looked up from its cookie.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub session: SessionRow,
    pub principal: Principal,
}

/// Hashes a password with Argon2id (the crate's default parameters: m=19 MiB, t=2, p=1).
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A valid hash of a random password, verified against when the account does not exist so
/// that response times do not reveal which emails have accounts.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_secret()).unwrap_or_default())
}

impl App {
    fn sign_in_policy(&self) -> SignInPolicy {
        SignInPolicy {
            window_secs: self.config.auth.sign_in_window_secs,
            max_failures_per_account: self.config.auth.max_failures_per_account,
            max_failures_per_address: self.config.auth.max_failures_per_address,
        }
    }

    fn session_ttl_ms(&self) -> i64 {
        self.config.auth.session_idle_minutes.max(1) * 60_000
    }

    /// The tenant a request addresses: the first label of its host if that names a tenant,
    /// else the configured default tenant (created on first use).
    pub async fn resolve_tenant(&self, host: Option<&str>) -> Result<TenantId, AuthError> {
        if let Some(host) = host {
            let name = host.split(':').next().unwrap_or("");
            if let Some(label) = name.split('.').next()
                && name.contains('.')
                && concierge_domain::TenantSlug::parse(label).is_ok()
                && let Some(t) = self
                    .store
                    .tenant_by_slug(&label.to_ascii_lowercase())
                    .await?
            {
                return Ok(t.id);
            }
        }
        let t = self
            .store
            .ensure_tenant(
                &self.config.tenant.default_slug,
                &self.config.tenant.default_name,
                self.now(),
            )
            .await?;
        Ok(t.id)
    }

    /// Creates a staff user; validates email, password and role.
    pub async fn add_user(
        &self,
        tenant: TenantId,
        email: &str,
        display_name: Option<&str>,
        role: Role,
        password: &str,
    ) -> Result<UserRow, AuthError> {
        let email = EmailAddress::parse(email).map_err(|e| AuthError::Invalid(e.to_string()))?;
        check_password(password).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let hash = hash_password(password)?;
        let name = display_name
            .map(str::to_string)
            .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("").to_string());
        let user = self
            .store
            .create_user(tenant, email.as_str(), &name, role, &hash, "en", self.now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    AuthError::Invalid(format!("a user with the email {email} already exists"))
                }
                other => AuthError::Store(other),
            })?;
        self.store
            .audit(
                tenant,
                &concierge_store::AuditEntry {
                    actor_kind: "system",
                    action: "user.created",
                    subject_kind: "user",
                    subject_id: Some(user.id.0),
                    detail: serde_json::json!({"email": user.email, "role": role.as_str()})
                        .to_string(),
                    ..Default::default()
                },
                self.now(),
            )
            .await?;
        Ok(user)
    }

    /// Signs a staff member in. Throttled per account and per client address; every attempt
    /// is recorded in the database so all nodes share the counts.
    pub async fn sign_in(
        &self,
        tenant: TenantId,
        email: &str,
        password: &str,
        client_ip: &str,
    ) -> Result<(UserRow, NewSession), AuthError> {
        let now = self.now();
        let policy = self.sign_in_policy();
        let email_norm = EmailAddress::parse(email)
            .map(|e| e.as_str().to_string())
            .unwrap_or_else(|_| email.trim().to_lowercase());
        let since = now - policy.window_secs * 1000;
        let (acct, addr) = self
            .store
            .recent_sign_in_failures(tenant, &email_norm, client_ip, since)
            .await?;
        if !policy.allows(acct, addr) {
            return Err(AuthError::Throttled {
                retry_after_secs: policy.window_secs,
            });
        }
        let user = self.store.user_by_email(tenant, &email_norm).await?;
        let ok = match &user {
            Some(u) if u.active => verify_password(password, &u.password_hash),
            _ => {
                let _ = verify_password(password, dummy_hash());
                false
            }
        };
        self.store
            .record_sign_in_attempt(tenant, &email_norm, client_ip, ok, now)
            .await?;
        let (true, Some(user)) = (ok, user) else {
            return Err(AuthError::InvalidCredentials);
        };
        let session = self.new_session(tenant, Some(user.id), None).await?;
        Ok((user, session))
    }

    async fn new_session(
        &self,
        tenant: TenantId,
        user: Option<UserId>,
        customer: Option<CustomerId>,
    ) -> Result<NewSession, AuthError> {
        let now = self.now();
        let cookie_value = random_secret();
        let csrf_token = random_secret();
        let expires_at = now + self.session_ttl_ms();
        self.store
            .insert_session(&SessionRow {
                id_hash: hash_secret(&cookie_value),
                tenant_id: tenant,
                user_id: user,
                customer_id: customer,
                csrf_token: csrf_token.clone(),
                created_at: now,
                last_seen_at: now,
                expires_at,
            })
            .await?;
        Ok(NewSession {
            cookie_value,
            csrf_token,
            expires_at,
        })
    }

    /// Looks a session up by its cookie value; slides its expiry. Sessions of deactivated
    /// users are not live.
    pub async fn session(&self, cookie_value: &str) -> Result<Option<LiveSession>, AuthError> {
        let now = self.now();
        let id_hash = hash_secret(cookie_value);
        let Some(session) = self.store.session(&id_hash, now).await? else {
            return Ok(None);
        };
        let principal = if let Some(uid) = session.user_id {
            match self.store.user_by_id(session.tenant_id, uid).await? {
                Some(u) if u.active => Principal::Staff(u),
                _ => return Ok(None),
            }
        } else if let Some(cid) = session.customer_id {
            Principal::Customer {
                tenant_id: session.tenant_id,
                customer_id: cid,
            }
        } else {
            return Ok(None);
        };
        // Refresh at most once a minute.
        if now - session.last_seen_at > 60_000 {
            self.store
                .touch_session(&id_hash, now, now + self.session_ttl_ms())
                .await?;
        }
        Ok(Some(LiveSession { session, principal }))
    }

    /// Ends one session (server-side: the cookie becomes worthless).
    pub async fn sign_out(&self, cookie_value: &str) -> Result<(), AuthError> {
        self.store
            .delete_session(&hash_secret(cookie_value))
            .await?;
        Ok(())
    }

    /// Changes a password after checking the current one; ends every session of the user and
    /// returns a fresh one for the browser that made the change.
    pub async fn change_password(
        &self,
        user: &UserRow,
        current: &str,
        new: &str,
    ) -> Result<NewSession, AuthError> {
        if !verify_password(current, &user.password_hash) {
            return Err(AuthError::InvalidCredentials);
        }
        check_password(new).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let hash = hash_password(new)?;
        self.store
            .set_password(user.tenant_id, user.id, &hash, self.now())
            .await?;
        self.store
            .audit(
                user.tenant_id,
                &concierge_store::AuditEntry {
                    actor_kind: "user",
                    actor_id: Some(user.id.0),
                    action: "user.password_changed",
                    subject_kind: "user",
                    subject_id: Some(user.id.0),
                    detail: "{}".into(),
                    ..Default::default()
                },
                self.now(),
            )
            .await?;
        self.new_session(user.tenant_id, Some(user.id), None).await
    }

    /// Creates an API token for a user. The token is returned once and stored only as a hash.
    pub async fn create_api_token(
        &self,
        user: &UserRow,
        name: &str,
    ) -> Result<(String, ApiTokenRow), AuthError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AuthError::Invalid(
                "a token name must be 1-100 characters".into(),
            ));
        }
        let secret = random_secret();
        let token = format!("cnc_{secret}");
        let prefix: String = token.chars().take(10).collect();
        let row = self
            .store
            .insert_api_token(
                user.tenant_id,
                user.id,
                name,
                &hash_secret(&token),
                &prefix,
                self.now(),
            )
            .await?;
        Ok((token, row))
    }

    /// The user behind a bearer token, if the token is live.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<UserRow>, AuthError> {
        if !token.starts_with("cnc_") || token.len() > 200 {
            return Ok(None);
        }
        Ok(self
            .store
            .api_token_by_hash(&hash_secret(token), self.now())
            .await?
            .map(|(_, u)| u))
    }

    /// Revokes a token. Admins may revoke anyone's token in their tenant; others only theirs.
    pub async fn revoke_api_token(&self, actor: &UserRow, id: TokenId) -> Result<(), AuthError> {
        let scope = if actor.role == Role::Admin {
            None
        } else {
            Some(actor.id)
        };
        if self
            .store
            .revoke_api_token(actor.tenant_id, scope, id, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }

    /// Creates a one-time portal sign-in link token for a customer (the caller mails it).
    pub async fn create_customer_link(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<String, AuthError> {
        if self.store.customer(tenant, customer).await?.is_none() {
            return Err(AuthError::NotFound);
        }
        let token = random_secret();
        let now = self.now();
        self.store
            .insert_customer_login_token(
                tenant,
                customer,
                &hash_secret(&token),
                now,
                now + self.config.auth.customer_link_minutes.max(1) * 60_000,
            )
            .await?;
        Ok(token)
    }

    /// Uses a customer's sign-in link: valid once, before it expires. Returns a portal session.
    pub async fn redeem_customer_link(
        &self,
        token: &str,
    ) -> Result<(TenantId, CustomerId, NewSession), AuthError> {
        if token.len() > 100 {
            return Err(AuthError::InvalidCredentials);
        }
        let Some((tenant, customer)) = self
            .store
            .consume_customer_login_token(&hash_secret(token), self.now())
            .await?
        else {
            return Err(AuthError::InvalidCredentials);
        };
        let s = self.new_session(tenant, None, Some(customer)).await?;
        Ok((tenant, customer, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
