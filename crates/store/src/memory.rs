//! Customer memory (issue 3): the full profile (contacts, households, tags), preferences with
//! provenance and history, notes, flags, search, and the per-customer timeline.
//!
//! Every function takes the tenant and filters by it; a customer id of another tenant finds
//! nothing (`Ok(None)`), exactly as a missing one. Values arrive validated by the domain
//! layer; this module only stores and reads them. Writes that change what is known about a
//! customer append a `timeline_events` row in the same transaction, so the timeline never
//! misses a change. Orders and cases are not copied into the timeline: they are read from
//! their own tables and merged when the timeline is read.

use crate::{Result, Store};
use concierge_domain::{CustomerId, TenantId};
use serde::Serialize;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A contact point of a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactRow {
    pub id: i64,
    pub kind: String,
    pub value: String,
    pub normalized: String,
    pub primary: bool,
    pub verified: bool,
}

/// A household the customer belongs to, with their role in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HouseholdLink {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub address: Option<String>,
    pub size: Option<i64>,
}

/// Everything on the customer row itself, plus contacts, households and tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerProfile {
    pub id: CustomerId,
    pub external_id: Option<String>,
    pub display_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub birthday: Option<String>,
    pub language: Option<String>,
    pub time_zone: Option<String>,
    pub preferred_channel: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub contacts: Vec<ContactRow>,
    pub households: Vec<HouseholdLink>,
    pub tags: Vec<String>,
    /// Set when this customer was merged into another (a tombstone).
    pub merged_into: Option<i64>,
    /// Set when this customer's personal data was erased.
    pub erased_at: Option<i64>,
}

/// A contact point to store (already normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    pub kind: String,
    pub value: String,
    pub normalized: String,
    pub primary: bool,
    pub verified: bool,
}

/// A change to a customer. `None` leaves a field as it is; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct CustomerChange {
    pub display_name: Option<String>,
    pub given_name: Option<Option<String>>,
    pub family_name: Option<Option<String>>,
    pub birthday: Option<Option<String>>,
    pub language: Option<Option<String>>,
    pub time_zone: Option<Option<String>>,
    pub preferred_channel: Option<Option<String>>,
    /// Replaces every contact point (verification is kept for a value that stays).
    pub contacts: Option<Vec<NewContact>>,
    /// Replaces every tag.
    pub tags: Option<Vec<String>>,
    /// Who made the change when not a staff member (`customer`: the customer in the
    /// portal); recorded on the timeline.
    pub source: Option<String>,
}

/// One preference row: the current value, or (with history) a superseded one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreferenceRow {
    pub id: i64,
    pub key: String,
    pub value: String,
    pub source: String,
    pub learned_from: Option<String>,
    pub recorded_by: Option<i64>,
    pub recorded_by_name: Option<String>,
    pub learned_at: i64,
    pub confirmed_at: i64,
    pub standing: bool,
    pub active: bool,
    pub superseded_at: Option<i64>,
    pub superseded_by: Option<i64>,
}

/// A preference to record.
#[derive(Debug, Clone)]
pub struct NewPreference<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub source: &'a str,
    pub learned_from: Option<&'a str>,
    pub recorded_by: Option<i64>,
    pub standing: bool,
}

/// What recording a preference did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrefChange {
    /// The key was not known before.
    Created,
    /// The key had another value; the old row is kept as history.
    Changed,
    /// The same value again: only `confirmed_at` (and the standing flag) changed.
    Confirmed,
}

/// A note about a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteRow {
    pub id: i64,
    pub body: String,
    pub pinned: bool,
    pub author_id: Option<i64>,
    pub author_name: Option<String>,
    pub created_at: i64,
}

/// A flag on a customer (current when `cleared_at` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagRow {
    pub id: i64,
    pub flag: String,
    pub reason: String,
    pub set_by: Option<i64>,
    pub set_by_name: Option<String>,
    pub set_at: i64,
    pub cleared_by: Option<i64>,
    pub cleared_at: Option<i64>,
}

/// Where a timeline page starts: strictly older than this item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineCursor {
    pub at: i64,
    /// Which stream the item came from (0 events, 1 orders, 2 cases).
    pub src: i64,
    pub id: i64,
}

impl TimelineCursor {
    /// The opaque text form used in URLs: `at.src.id`.
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.at, self.src, self.id)
    }

    pub fn decode(s: &str) -> Option<TimelineCursor> {
        let mut it = s.split('.');
        let at = it.next()?.parse().ok()?;
        let src = it.next()?.parse().ok()?;
        let id = it.next()?.parse().ok()?;
        if it.next().is_some() || !(0..=2).contains(&src) {
            return None;
        }
        Some(TimelineCursor { at, src, id })
    }
}

/// One item of a customer's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineItem {
    pub kind: String,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub ref_kind: Option<String>,
    pub ref_id: Option<i64>,
    pub summary: serde_json::Value,
    #[serde(skip)]
    pub cursor: TimelineCursor,
}

/// Kinds that live in other tables and are merged into the timeline when read.
pub const TIMELINE_MERGED_KINDS: &[&str] = &["order", "case"];

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Store {
    async fn customer_exists(&self, tenant: TenantId, id: CustomerId) -> Result<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(id.0)
                .fetch_one(self.db())
                .await?;
        Ok(n > 0)
    }

    /// The full profile of a customer of `tenant`.
    pub async fn customer_profile(
        &self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<CustomerProfile>> {
        let Some(r) = sqlx::query(
            "SELECT id, external_id, display_name, given_name, family_name, birthday, language, \
             time_zone, preferred_channel, created_at, updated_at, merged_into, erased_at \
             FROM customers WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(id.0)
        .fetch_optional(self.db())
        .await?
        else {
            return Ok(None);
        };
        let contacts = sqlx::query(
            "SELECT id, kind, value, normalized, is_primary, verified FROM customer_contacts \
             WHERE tenant_id = $1 AND customer_id = $2 ORDER BY kind, is_primary DESC, id",
        )
        .bind(tenant.0)
        .bind(id.0)
        .fetch_all(self.db())
        .await?
        .iter()
        .map(|c| {
            Ok(ContactRow {
                id: c.try_get("id")?,
                kind: c.try_get("kind")?,
                value: c.try_get("value")?,
                normalized: c.try_get("normalized")?,
                primary: c.try_get::<i16, _>("is_primary")? != 0,
                verified: c.try_get::<i16, _>("verified")? != 0,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let households = sqlx::query(
            "SELECT h.id, h.name, m.role, h.address, h.size FROM household_members m \
             JOIN households h ON h.id = m.household_id AND h.tenant_id = m.tenant_id \
             WHERE m.tenant_id = $1 AND m.customer_id = $2 ORDER BY h.name, h.id",
        )
        .bind(tenant.0)
        .bind(id.0)
        .fetch_all(self.db())
        .await?
        .iter()
        .map(|h| {
            Ok(HouseholdLink {
                id: h.try_get("id")?,
                name: h.try_get("name")?,
                role: h.try_get("role")?,
                address: h.try_get("address")?,
                size: h.try_get("size")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let tags: Vec<String> = sqlx::query_scalar(
            "SELECT tag FROM customer_tags WHERE tenant_id = $1 AND customer_id = $2 ORDER BY tag",
        )
        .bind(tenant.0)
        .bind(id.0)
        .fetch_all(self.db())
        .await?;
        Ok(Some(CustomerProfile {
            id,
            external_id: r.try_get("external_id")?,
            display_name: r.try_get("display_name")?,
            given_name: r.try_get("given_name")?,
            family_name: r.try_get("family_name")?,
            birthday: r.try_get("birthday")?,
            language: r.try_get("language")?,
            time_zone: r.try_get("time_zone")?,
            preferred_channel: r.try_get("preferred_channel")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
            contacts,
            households,
            tags,
            merged_into: r.try_get("merged_into")?,
            erased_at: r.try_get("erased_at")?,
        }))
    }

    /// Applies `change` to a customer of `tenant` and records it on the timeline with the
    /// names of the fields that changed. `Ok(false)`: no such customer.
    pub async fn update_customer(
        &self,
        tenant: TenantId,
        id: CustomerId,
        change: &CustomerChange,
        sort_name: Option<&str>,
        actor: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let exists: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?;
        if exists == 0 {
            return Ok(false);
        }
        let mut fields: Vec<&str> = Vec::new();
        if let Some(name) = &change.display_name {
            sqlx::query(
                "UPDATE customers SET display_name = $3, sort_name = $4 \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.0)
            .bind(id.0)
            .bind(name)
            .bind(sort_name.unwrap_or(name))
            .execute(&mut *tx)
            .await?;
            fields.push("name");
        }
        let optional: [(&str, &Option<Option<String>>); 6] = [
            ("given_name", &change.given_name),
            ("family_name", &change.family_name),
            ("birthday", &change.birthday),
            ("language", &change.language),
            ("time_zone", &change.time_zone),
            ("preferred_channel", &change.preferred_channel),
        ];
        for (column, value) in optional {
            if let Some(v) = value {
                // `column` comes from the fixed list above, never from input.
                let sql =
                    format!("UPDATE customers SET {column} = $3 WHERE tenant_id = $1 AND id = $2");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(v.as_deref())
                    .execute(&mut *tx)
                    .await?;
                fields.push(column);
            }
        }
        if let Some(contacts) = &change.contacts {
            let verified: Vec<String> = sqlx::query_scalar(
                "SELECT kind || ':' || normalized FROM customer_contacts \
                 WHERE tenant_id = $1 AND customer_id = $2 AND verified = 1",
            )
            .bind(tenant.0)
            .bind(id.0)
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM customer_contacts WHERE tenant_id = $1 AND customer_id = $2")
                .bind(tenant.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            for c in contacts {
                let was_verified = verified.contains(&format!("{}:{}", c.kind, c.normalized));
                sqlx::query(
                    "INSERT INTO customer_contacts (tenant_id, customer_id, kind, value, \
                     normalized, is_primary, verified, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(tenant.0)
                .bind(id.0)
                .bind(&c.kind)
                .bind(&c.value)
                .bind(&c.normalized)
                .bind(i16::from(c.primary))
                .bind(i16::from(c.verified || was_verified))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            fields.push("contacts");
        }
        if let Some(tags) = &change.tags {
            sqlx::query("DELETE FROM customer_tags WHERE tenant_id = $1 AND customer_id = $2")
                .bind(tenant.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            for t in tags {
                sqlx::query(
                    "INSERT INTO customer_tags (tenant_id, customer_id, tag, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id, tag) DO NOTHING",
                )
                .bind(tenant.0)
                .bind(id.0)
                .bind(t)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            fields.push("tags");
        }
        sqlx::query("UPDATE customers SET updated_at = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0)
            .bind(id.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if !fields.is_empty() {
            let mut summary = serde_json::json!({ "fields": fields });
            if let Some(source) = &change.source {
                summary["source"] = serde_json::json!(source);
            }
            let summary = summary.to_string();
            insert_event(
                &mut tx, tenant, id, "profile", actor, None, None, &summary, now,
            )
            .await?;
            // Every node's search index follows the change log: a renamed customer, or one
            // with a new email, is found by the new words on every node.
            sqlx::query(
                "INSERT INTO change_log (tenant_id, entity, entity_id, op, at) \
                 VALUES ($1, 'customer', $2, 'upsert', $3)",
            )
            .bind(tenant.0)
            .bind(id.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Finds customers of `tenant` whose name key contains `name_part`, whose external id is
    /// `text`, or who have a contact whose normalised value is one of `contact_keys`.
    /// Ordered by name; at most `limit`.
    pub async fn search_customers(
        &self,
        tenant: TenantId,
        text: &str,
        name_part: &str,
        contact_keys: &[String],
        limit: i64,
    ) -> Result<Vec<crate::CustomerRow>> {
        let mut sql = String::from(
            "SELECT c.id FROM customers c WHERE c.tenant_id = $1 AND c.merged_into IS NULL AND \
             (c.sort_name LIKE $2 ESCAPE '\\' OR c.external_id = $3",
        );
        for i in 0..contact_keys.len() {
            sql.push_str(&format!(
                " OR EXISTS (SELECT 1 FROM customer_contacts k WHERE k.tenant_id = $1 \
                 AND k.customer_id = c.id AND k.normalized = ${})",
                i + 5
            ));
        }
        sql.push_str(") ORDER BY c.sort_name, c.id LIMIT $4");
        let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .bind(format!("%{}%", like_escape(name_part)))
            .bind(text)
            .bind(limit);
        for k in contact_keys {
            q = q.bind(k);
        }
        let ids = q.fetch_all(self.db()).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.customer(tenant, CustomerId(id)).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// The first customers of `tenant` by name (the console's list).
    pub async fn list_customers(
        &self,
        tenant: TenantId,
        limit: i64,
    ) -> Result<Vec<crate::CustomerRow>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM customers WHERE tenant_id = $1 AND merged_into IS NULL \
             ORDER BY sort_name, id LIMIT $2",
        )
        .bind(tenant.0)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.customer(tenant, CustomerId(id)).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Records a preference: new, changed (the old row is kept, marked superseded) or
    /// confirmed (same value). `Ok(None)`: no such customer in `tenant`.
    pub async fn record_preference(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        p: &NewPreference<'_>,
        now: i64,
    ) -> Result<Option<(PreferenceRow, PrefChange)>> {
        let mut tx = self.begin_write().await?;
        let exists: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(customer.0)
                .fetch_one(&mut *tx)
                .await?;
        if exists == 0 {
            return Ok(None);
        }
        let current = sqlx::query(
            "SELECT id, value FROM customer_preferences WHERE tenant_id = $1 AND customer_id = $2 \
             AND pref_key = $3 AND active = 1",
        )
        .bind(tenant.0)
        .bind(customer.0)
        .bind(p.key)
        .fetch_optional(&mut *tx)
        .await?;
        let mut previous: Option<String> = None;
        let (id, change) = match current {
            Some(row) if row.try_get::<String, _>("value")? == p.value => {
                let id: i64 = row.try_get("id")?;
                sqlx::query(
                    "UPDATE customer_preferences SET confirmed_at = $2, standing = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .bind(i16::from(p.standing))
                .execute(&mut *tx)
                .await?;
                (id, PrefChange::Confirmed)
            }
            other => {
                let old_id: Option<i64> = match &other {
                    Some(row) => {
                        previous = Some(row.try_get("value")?);
                        let old: i64 = row.try_get("id")?;
                        sqlx::query(
                            "UPDATE customer_preferences SET active = 0, superseded_at = $2 \
                             WHERE id = $1",
                        )
                        .bind(old)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        Some(old)
                    }
                    None => None,
                };
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO customer_preferences (tenant_id, customer_id, pref_key, value, \
                     source, learned_from, recorded_by, learned_at, confirmed_at, standing, \
                     active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, 1) RETURNING id",
                )
                .bind(tenant.0)
                .bind(customer.0)
                .bind(p.key)
                .bind(p.value)
                .bind(p.source)
                .bind(p.learned_from)
                .bind(p.recorded_by)
                .bind(now)
                .bind(i16::from(p.standing))
                .fetch_one(&mut *tx)
                .await?;
                if let Some(old) = old_id {
                    sqlx::query("UPDATE customer_preferences SET superseded_by = $2 WHERE id = $1")
                        .bind(old)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    (id, PrefChange::Changed)
                } else {
                    (id, PrefChange::Created)
                }
            }
        };
        let summary = serde_json::json!({
            "key": p.key,
            "value": p.value,
            "previous": previous,
            "source": p.source,
            "learned_from": p.learned_from,
            "standing": p.standing,
            "change": change,
        })
        .to_string();
        insert_event(
            &mut tx,
            tenant,
            customer,
            "preference",
            p.recorded_by,
            Some("preference"),
            Some(id),
            &summary,
            now,
        )
        .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{PREF_COLUMNS} WHERE p.id = $1"
        )))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let pref = pref_row(&row)?;
        tx.commit().await?;
        Ok(Some((pref, change)))
    }

    /// A customer's preferences: the current ones by key, or with `history` every row (each
    /// key's current value first, then older ones newest first). `Ok(None)`: no such customer.
    pub async fn preferences(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        history: bool,
    ) -> Result<Option<Vec<PreferenceRow>>> {
        if !self.customer_exists(tenant, customer).await? {
            return Ok(None);
        }
        let sql = format!(
            "{PREF_COLUMNS} WHERE p.tenant_id = $1 AND p.customer_id = $2 {} \
             ORDER BY p.pref_key, p.active DESC, p.learned_at DESC, p.id DESC",
            if history { "" } else { "AND p.active = 1" }
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .bind(customer.0)
            .fetch_all(self.db())
            .await?;
        rows.iter()
            .map(pref_row)
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// Adds a note. `Ok(None)`: no such customer.
    pub async fn add_note(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        body: &str,
        pinned: bool,
        author: Option<i64>,
        now: i64,
    ) -> Result<Option<NoteRow>> {
        let mut tx = self.begin_write().await?;
        let exists: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(customer.0)
                .fetch_one(&mut *tx)
                .await?;
        if exists == 0 {
            return Ok(None);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO customer_notes (tenant_id, customer_id, author_id, body, pinned, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(tenant.0)
        .bind(customer.0)
        .bind(author)
        .bind(body)
        .bind(i16::from(pinned))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let excerpt: String = body.chars().take(200).collect();
        let summary = serde_json::json!({"excerpt": excerpt, "pinned": pinned}).to_string();
        insert_event(
            &mut tx,
            tenant,
            customer,
            "note",
            author,
            Some("note"),
            Some(id),
            &summary,
            now,
        )
        .await?;
        tx.commit().await?;
        let notes = self.notes(tenant, customer).await?.unwrap_or_default();
        Ok(notes.into_iter().find(|n| n.id == id))
    }

    /// A customer's notes, pinned first, then newest first. `Ok(None)`: no such customer.
    pub async fn notes(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Option<Vec<NoteRow>>> {
        if !self.customer_exists(tenant, customer).await? {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT n.id, n.body, n.pinned, n.author_id, u.display_name AS author_name, \
             n.created_at FROM customer_notes n LEFT JOIN users u ON u.id = n.author_id \
             WHERE n.tenant_id = $1 AND n.customer_id = $2 \
             ORDER BY n.pinned DESC, n.created_at DESC, n.id DESC",
        )
        .bind(tenant.0)
        .bind(customer.0)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NoteRow {
                    id: r.try_get("id")?,
                    body: r.try_get("body")?,
                    pinned: r.try_get::<i16, _>("pinned")? != 0,
                    author_id: r.try_get("author_id")?,
                    author_name: r.try_get("author_name")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// Sets (`reason = Some`) or clears (`None`) a flag. Setting a flag that is already set
    /// keeps the existing row. `Ok(None)`: no such customer. Returns the flag's row, or `None`
    /// inside when clearing a flag that was not set.
    pub async fn set_flag(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        flag: &str,
        reason: Option<&str>,
        actor: Option<i64>,
        now: i64,
    ) -> Result<Option<Option<FlagRow>>> {
        let mut tx = self.begin_write().await?;
        let exists: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(customer.0)
                .fetch_one(&mut *tx)
                .await?;
        if exists == 0 {
            return Ok(None);
        }
        let current: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM customer_flags WHERE tenant_id = $1 AND customer_id = $2 \
             AND flag = $3 AND cleared_at IS NULL",
        )
        .bind(tenant.0)
        .bind(customer.0)
        .bind(flag)
        .fetch_optional(&mut *tx)
        .await?;
        let (id, action) = match (reason, current) {
            (Some(_), Some(id)) => (Some(id), None),
            (Some(reason), None) => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO customer_flags (tenant_id, customer_id, flag, reason, set_by, \
                     set_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(tenant.0)
                .bind(customer.0)
                .bind(flag)
                .bind(reason)
                .bind(actor)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                (Some(id), Some("set"))
            }
            (None, Some(id)) => {
                sqlx::query(
                    "UPDATE customer_flags SET cleared_at = $2, cleared_by = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .bind(actor)
                .execute(&mut *tx)
                .await?;
                (Some(id), Some("cleared"))
            }
            (None, None) => (None, None),
        };
        if let Some(action) = action {
            let summary =
                serde_json::json!({"flag": flag, "action": action, "reason": reason}).to_string();
            insert_event(
                &mut tx,
                tenant,
                customer,
                "flag",
                actor,
                Some("flag"),
                id,
                &summary,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        let Some(id) = id else {
            return Ok(Some(None));
        };
        let flags = self
            .flags(tenant, customer, true)
            .await?
            .unwrap_or_default();
        Ok(Some(flags.into_iter().find(|f| f.id == id)))
    }

    /// What case rules need of a customer, in one statement: the flags set now and the
    /// current tier. A customer of another tenant (or none) has neither.
    pub async fn customer_flags_and_tier(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<(Vec<String>, Option<String>)> {
        let rows = self
            .warm_fetch_all(
                sqlx::query(
                    "SELECT 'tier' AS k, tier AS v FROM customer_tiers \
             WHERE tenant_id = $1 AND customer_id = $2 \
             UNION ALL SELECT 'flag' AS k, flag AS v FROM customer_flags \
             WHERE tenant_id = $1 AND customer_id = $2 AND cleared_at IS NULL",
                )
                .bind(tenant.0)
                .bind(customer.0),
            )
            .await?;
        let (mut flags, mut tier) = (Vec::new(), None);
        for r in &rows {
            let k: String = r.try_get("k")?;
            let v: String = r.try_get("v")?;
            if k == "tier" {
                tier = Some(v);
            } else {
                flags.push(v);
            }
        }
        Ok((flags, tier))
    }

    /// A customer's flags: the ones set now, or with `history` every one. `Ok(None)`: no
    /// such customer.
    pub async fn flags(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        history: bool,
    ) -> Result<Option<Vec<FlagRow>>> {
        if !self.customer_exists(tenant, customer).await? {
            return Ok(None);
        }
        let sql = format!(
            "SELECT f.id, f.flag, f.reason, f.set_by, u.display_name AS set_by_name, f.set_at, \
             f.cleared_by, f.cleared_at FROM customer_flags f LEFT JOIN users u ON u.id = f.set_by \
             WHERE f.tenant_id = $1 AND f.customer_id = $2 {} ORDER BY f.set_at DESC, f.id DESC",
            if history {
                ""
            } else {
                "AND f.cleared_at IS NULL"
            }
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .bind(customer.0)
            .fetch_all(self.db())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(FlagRow {
                    id: r.try_get("id")?,
                    flag: r.try_get("flag")?,
                    reason: r.try_get("reason")?,
                    set_by: r.try_get("set_by")?,
                    set_by_name: r.try_get("set_by_name")?,
                    set_at: r.try_get("set_at")?,
                    cleared_by: r.try_get("cleared_by")?,
                    cleared_at: r.try_get("cleared_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// Appends an event to a customer's timeline (for kinds recorded elsewhere: calls,
    /// visits, letters, outreach). `Ok(false)`: no such customer.
    pub async fn add_timeline_event(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        kind: &str,
        actor: Option<i64>,
        summary: &serde_json::Value,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let exists: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(customer.0)
                .fetch_one(&mut *tx)
                .await?;
        if exists == 0 {
            return Ok(false);
        }
        insert_event(
            &mut tx,
            tenant,
            customer,
            kind,
            actor,
            None,
            None,
            &summary.to_string(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A page of a customer's timeline, newest first: its own events merged with its orders
    /// and cases. `kind` filters (`order` and `case` read only those tables); `before` starts
    /// after an item of an earlier page. `Ok(None)`: no such customer.
    pub async fn timeline(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        kind: Option<&str>,
        before: Option<TimelineCursor>,
        limit: i64,
    ) -> Result<Option<Vec<TimelineItem>>> {
        if !self.customer_exists(tenant, customer).await? {
            return Ok(None);
        }
        // The cursor comparison for a stream whose `src` is the constant `S`.
        let after = |s: i64, at: &str, id: &str| {
            format!("AND ({at} < $3 OR ({at} = $3 AND ($4 > {s} OR ($4 = {s} AND {id} < $5))))")
        };
        let mut parts: Vec<String> = Vec::new();
        let events_kind = kind.filter(|k| !TIMELINE_MERGED_KINDS.contains(k));
        if kind.is_none() || events_kind.is_some() {
            parts.push(format!(
                "SELECT * FROM (SELECT CAST(0 AS BIGINT) AS src, e.id AS id, e.kind AS kind, \
                 e.at AS at, e.actor_id AS actor_id, e.ref_kind AS ref_kind, e.ref_id AS ref_id, \
                 e.summary AS summary, '' AS label, '' AS extra, CAST(0 AS BIGINT) AS amount \
                 FROM timeline_events e WHERE e.tenant_id = $1 AND e.customer_id = $2 {} {} \
                 ORDER BY e.at DESC, e.id DESC LIMIT $6) t0",
                if events_kind.is_some() {
                    "AND e.kind = $7"
                } else {
                    ""
                },
                after(0, "e.at", "e.id")
            ));
        }
        if kind.is_none() || kind == Some("order") {
            parts.push(format!(
                "SELECT * FROM (SELECT CAST(1 AS BIGINT) AS src, o.id AS id, 'order' AS kind, \
                 o.ordered_at AS at, CAST(NULL AS BIGINT) AS actor_id, 'order' AS ref_kind, \
                 o.id AS ref_id, '{{}}' AS summary, o.external_id AS label, \
                 o.status || ' ' || o.currency AS extra, o.total_minor AS amount \
                 FROM orders o WHERE o.tenant_id = $1 AND o.customer_id = $2 {} \
                 ORDER BY o.ordered_at DESC, o.id DESC LIMIT $6) t1",
                after(1, "o.ordered_at", "o.id")
            ));
        }
        if kind.is_none() || kind == Some("case") {
            parts.push(format!(
                "SELECT * FROM (SELECT CAST(2 AS BIGINT) AS src, c.id AS id, 'case' AS kind, \
                 c.created_at AS at, CAST(NULL AS BIGINT) AS actor_id, 'case' AS ref_kind, \
                 c.id AS ref_id, '{{}}' AS summary, c.subject AS label, c.status AS extra, \
                 c.number AS amount FROM cases c WHERE c.tenant_id = $1 AND c.customer_id = $2 {} \
                 ORDER BY c.created_at DESC, c.id DESC LIMIT $6) t2",
                after(2, "c.created_at", "c.id")
            ));
        }
        let sql = format!(
            "{} ORDER BY at DESC, src DESC, id DESC LIMIT $6",
            parts.join(" UNION ALL ")
        );
        let c = before.unwrap_or(TimelineCursor {
            at: i64::MAX,
            src: 3,
            id: i64::MAX,
        });
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .bind(customer.0)
            .bind(c.at)
            .bind(c.src)
            .bind(c.id)
            .bind(limit);
        if let Some(k) = events_kind {
            q = q.bind(k.to_string());
        }
        let rows = q.fetch_all(self.db()).await?;
        rows.iter()
            .map(timeline_item)
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

fn timeline_item(r: &AnyRow) -> Result<TimelineItem> {
    let src: i64 = r.try_get("src")?;
    let id: i64 = r.try_get("id")?;
    let at: i64 = r.try_get("at")?;
    let kind: String = r.try_get("kind")?;
    let summary = match src {
        1 => serde_json::json!({
            "order": r.try_get::<String, _>("label")?,
            "status": r.try_get::<String, _>("extra")?.split(' ').next().unwrap_or(""),
            "currency": r.try_get::<String, _>("extra")?.split(' ').nth(1).unwrap_or(""),
            "total_minor": r.try_get::<i64, _>("amount")?,
        }),
        2 => serde_json::json!({
            "subject": r.try_get::<String, _>("label")?,
            "status": r.try_get::<String, _>("extra")?,
            "number": r.try_get::<i64, _>("amount")?,
        }),
        _ => serde_json::from_str(&r.try_get::<String, _>("summary")?)
            .unwrap_or(serde_json::Value::Null),
    };
    Ok(TimelineItem {
        kind,
        at,
        actor_id: r.try_get("actor_id")?,
        ref_kind: r.try_get("ref_kind")?,
        ref_id: r.try_get("ref_id")?,
        summary,
        cursor: TimelineCursor { at, src, id },
    })
}

#[allow(clippy::too_many_arguments)]
async fn insert_event(
    tx: &mut AnyConnection,
    tenant: TenantId,
    customer: CustomerId,
    kind: &str,
    actor: Option<i64>,
    ref_kind: Option<&str>,
    ref_id: Option<i64>,
    summary: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO timeline_events (tenant_id, customer_id, kind, at, actor_id, ref_kind, \
         ref_id, summary) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(tenant.0)
    .bind(customer.0)
    .bind(kind)
    .bind(now)
    .bind(actor)
    .bind(ref_kind)
    .bind(ref_id)
    .bind(summary)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

const PREF_COLUMNS: &str = "SELECT p.id, p.pref_key, p.value, p.source, p.learned_from, \
     p.recorded_by, u.display_name AS recorded_by_name, p.learned_at, p.confirmed_at, \
     p.standing, p.active, p.superseded_at, p.superseded_by FROM customer_preferences p \
     LEFT JOIN users u ON u.id = p.recorded_by";

fn pref_row(r: &AnyRow) -> Result<PreferenceRow> {
    Ok(PreferenceRow {
        id: r.try_get("id")?,
        key: r.try_get("pref_key")?,
        value: r.try_get("value")?,
        source: r.try_get("source")?,
        learned_from: r.try_get("learned_from")?,
        recorded_by: r.try_get("recorded_by")?,
        recorded_by_name: r.try_get("recorded_by_name")?,
        learned_at: r.try_get("learned_at")?,
        confirmed_at: r.try_get("confirmed_at")?,
        standing: r.try_get::<i16, _>("standing")? != 0,
        active: r.try_get::<i16, _>("active")? != 0,
        superseded_at: r.try_get("superseded_at")?,
        superseded_by: r.try_get("superseded_by")?,
    })
}
