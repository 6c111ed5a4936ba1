//! Identity and privacy storage (issue 3): finding a customer by a normalised contact,
//! creating one with its contacts, candidate duplicate pairs, remembered "not a duplicate"
//! decisions, merging one customer into another in one transaction with a record of exactly
//! what moved (so an undo moves precisely those rows back), everything stored about a
//! customer for an export, and erasure.
//!
//! Every function takes the tenant and filters by it. Merges and erasures append the
//! customers and cases they touch to `change_log`, so every node's search index follows.

use crate::memory::NewContact;
use crate::{Result, Store};
use concierge_domain::{CustomerId, TenantId};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

/// Most ids in one `IN (...)` list.
const IDS_PER_QUERY: usize = 500;

/// Ids as an SQL list (`1, 2, 3`); they are integers, so nothing needs quoting.
fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A pair of customers that may be the same person, by one reason (`email`, `phone` or
/// `address`), with both names. `low < high`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateCandidate {
    pub low: i64,
    pub high: i64,
    /// `email`, `phone` (shared contact) or `address` (shared postal address).
    pub kind: String,
    pub low_name: String,
    pub high_name: String,
}

/// A household membership dropped by a merge because the target was already a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedMembership {
    pub household_id: i64,
    pub role: String,
}

/// A contact dropped by a merge because the target already had the same one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedContact {
    pub id: i64,
    pub kind: String,
    pub value: String,
    pub normalized: String,
    pub primary: bool,
    pub verified: bool,
    pub created_at: i64,
}

/// A tag dropped by a merge because the target already had it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedTag {
    pub tag: String,
    pub created_at: i64,
}

/// Exactly what a merge moved and changed; stored as JSON on the merge record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovedRows {
    pub contacts: Vec<i64>,
    /// Moved contacts that were primary and were demoted (the target had a primary).
    pub demoted_contacts: Vec<i64>,
    /// The source's contacts the target already had (same kind and normalised value):
    /// deleted, kept whole here so an undo puts them back as they were.
    #[serde(default)]
    pub dropped_contacts: Vec<DroppedContact>,
    /// The target's copies of dropped contacts that became primary because the dropped one
    /// was primary and the target had no primary of that kind.
    #[serde(default)]
    pub promoted_contacts: Vec<i64>,
    /// The target's copies of dropped contacts that became verified because the dropped one
    /// was.
    #[serde(default)]
    pub verified_contacts: Vec<i64>,
    pub preferences: Vec<i64>,
    /// Preferences (of either customer) that were current and were superseded by the other
    /// customer's more recently confirmed value.
    pub superseded_preferences: Vec<i64>,
    pub notes: Vec<i64>,
    pub flags: Vec<i64>,
    /// The source's flags that were set and were cleared because the target had them set.
    pub cleared_flags: Vec<i64>,
    pub tags: Vec<String>,
    pub dropped_tags: Vec<DroppedTag>,
    pub timeline_events: Vec<i64>,
    pub orders: Vec<i64>,
    pub order_lines: Vec<i64>,
    pub cases: Vec<i64>,
    /// Messages the source wrote (they keep their author).
    pub messages: Vec<i64>,
    pub tasks: Vec<i64>,
    pub households: Vec<i64>,
    pub dropped_households: Vec<DroppedMembership>,
}

impl MovedRows {
    /// How many rows of each kind moved, for people.
    pub fn counts(&self) -> serde_json::Value {
        serde_json::json!({
            "contacts": self.contacts.len() + self.dropped_contacts.len(),
            "preferences": self.preferences.len(),
            "notes": self.notes.len(),
            "flags": self.flags.len(),
            "tags": self.tags.len() + self.dropped_tags.len(),
            "timeline_events": self.timeline_events.len(),
            "orders": self.orders.len(),
            "cases": self.cases.len(),
            "tasks": self.tasks.len(),
            "households": self.households.len() + self.dropped_households.len(),
        })
    }
}

/// A merge record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeRow {
    pub id: i64,
    pub source_id: i64,
    pub target_id: i64,
    pub moved: MovedRows,
    pub merged_by: Option<i64>,
    pub merged_at: i64,
    pub undone_by: Option<i64>,
    pub undone_at: Option<i64>,
}

/// The state of a customer row as identity operations see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerState {
    pub merged_into: Option<i64>,
    pub erased_at: Option<i64>,
}

/// What a merge did, or why it did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    Merged(Box<MergeRow>),
    /// One of the two is not a customer of this tenant.
    NotFound,
    /// The source (or the target) was already merged into another customer.
    SourceMerged(i64),
    TargetMerged(i64),
    /// One of the two is erased.
    Erased,
}

/// What an undo did, or why it did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndoOutcome {
    Undone(Box<MergeRow>),
    NotFound,
    AlreadyUndone,
    /// The target has since been merged into another customer: undo that merge first.
    TargetMerged(i64),
}

/// What an erasure did, or why it did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EraseOutcome {
    Erased {
        cases: i64,
        messages: i64,
    },
    AlreadyErased,
    /// A merged customer has nothing left to erase: erase the one it was merged into.
    Merged(i64),
    NotFound,
}

/// Everything stored about a customer that the memory module does not already read:
/// timeline rows, orders with lines, cases with every message, tasks, scores, tier, merges.
#[derive(Debug, Clone, Serialize)]
pub struct ExportParts {
    pub timeline_events: Vec<serde_json::Value>,
    pub orders: Vec<serde_json::Value>,
    pub cases: Vec<serde_json::Value>,
    pub tasks: Vec<serde_json::Value>,
    pub score: Option<serde_json::Value>,
    pub tier: Option<serde_json::Value>,
    pub tier_history: Vec<serde_json::Value>,
    pub merges: Vec<serde_json::Value>,
}

/// Column types for [`row_json`].
#[derive(Clone, Copy)]
enum Ty {
    I,
    OI,
    S,
    OS,
    OF,
}

/// Reads the named columns of a row into a JSON object (same on both engines).
fn row_json(r: &AnyRow, cols: &[(&str, Ty)]) -> Result<serde_json::Value> {
    let mut m = serde_json::Map::new();
    for (name, ty) in cols {
        let v = match ty {
            Ty::I => serde_json::json!(r.try_get::<i64, _>(*name)?),
            Ty::OI => serde_json::json!(r.try_get::<Option<i64>, _>(*name)?),
            Ty::S => serde_json::json!(r.try_get::<String, _>(*name)?),
            Ty::OS => serde_json::json!(r.try_get::<Option<String>, _>(*name)?),
            Ty::OF => serde_json::json!(r.try_get::<Option<f64>, _>(*name)?),
        };
        m.insert((*name).to_string(), v);
    }
    Ok(serde_json::Value::Object(m))
}

async fn ids_where(
    tx: &mut AnyConnection,
    sql: &str,
    tenant: TenantId,
    customer: i64,
) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(tenant.0)
        .bind(customer)
        .fetch_all(&mut *tx)
        .await?)
}

/// `UPDATE {table} SET customer_id = to WHERE id IN ids AND customer_id = from`, in chunks.
async fn move_ids(
    tx: &mut AnyConnection,
    table: &str,
    column: &str,
    tenant: TenantId,
    ids: &[i64],
    from: i64,
    to: i64,
) -> Result<()> {
    for chunk in ids.chunks(IDS_PER_QUERY) {
        // `table` and `column` are fixed names from this module, never input.
        let sql = format!(
            "UPDATE {table} SET {column} = $3 WHERE tenant_id = $1 AND {column} = $2 \
             AND id IN ({})",
            id_list(chunk)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn log_change(
    tx: &mut AnyConnection,
    tenant: TenantId,
    entity: &str,
    id: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO change_log (tenant_id, entity, entity_id, op, at) \
         VALUES ($1, $2, $3, 'upsert', $4)",
    )
    .bind(tenant.0)
    .bind(entity)
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn timeline_event(
    tx: &mut AnyConnection,
    tenant: TenantId,
    customer: i64,
    kind: &str,
    actor: Option<i64>,
    merge_id: i64,
    summary: &serde_json::Value,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO timeline_events (tenant_id, customer_id, kind, at, actor_id, ref_kind, \
         ref_id, summary) VALUES ($1, $2, $3, $4, $5, 'merge', $6, $7)",
    )
    .bind(tenant.0)
    .bind(customer)
    .bind(kind)
    .bind(now)
    .bind(actor)
    .bind(merge_id)
    .bind(summary.to_string())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn state_in(
    tx: &mut AnyConnection,
    tenant: TenantId,
    id: i64,
) -> Result<Option<CustomerState>> {
    let row = sqlx::query(
        "SELECT merged_into, erased_at FROM customers WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.0)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    row.map(|r| {
        Ok(CustomerState {
            merged_into: r.try_get("merged_into")?,
            erased_at: r.try_get("erased_at")?,
        })
    })
    .transpose()
}

fn merge_from(r: &AnyRow) -> Result<MergeRow> {
    let moved: String = r.try_get("moved")?;
    Ok(MergeRow {
        id: r.try_get("id")?,
        source_id: r.try_get("source_id")?,
        target_id: r.try_get("target_id")?,
        moved: serde_json::from_str(&moved).unwrap_or_default(),
        merged_by: r.try_get("merged_by")?,
        merged_at: r.try_get("merged_at")?,
        undone_by: r.try_get("undone_by")?,
        undone_at: r.try_get("undone_at")?,
    })
}

const MERGE_COLS: &str = "id, source_id, target_id, moved, merged_by, merged_at, undone_by, \
    undone_at";

/// A customer to create with its contact points (already normalised), claiming
/// `identity_key` (see migration 0014) when given.
#[derive(Debug, Clone, Copy)]
pub struct FirstContact<'a> {
    pub display_name: &'a str,
    pub sort_name: &'a str,
    pub contacts: &'a [NewContact],
    pub identity_key: Option<&'a str>,
}

/// Inserts a customer and its contacts inside `tx` (no change log row: the caller writes
/// it). `Ok(None)` when a live customer of the tenant already holds the identity key; then
/// nothing was written (on PostgreSQL the insert waits for a concurrent claim to commit or
/// roll back first) and the caller rolls back.
/// A query for the id of the customer (not merged away) of tenant `tenant` with a contact
/// of kind `kind` and normalised value `normalized` (each a parameter or a literal), the
/// lowest id when several have it. `+` keeps the order from choosing the index by customer,
/// which reads every contact of the tenant: without table statistics SQLite took it, and
/// each mail from a known sender read more the more customers there were. The lookup by
/// value finds the one or two rows; they are sorted.
pub(crate) fn customer_by_contact_sql(tenant: &str, kind: &str, normalized: &str) -> String {
    format!(
        "SELECT k.customer_id FROM customer_contacts k JOIN customers c \
         ON c.id = k.customer_id AND c.tenant_id = k.tenant_id \
         WHERE k.tenant_id = {tenant} AND k.kind = {kind} AND k.normalized = {normalized} \
         AND c.merged_into IS NULL ORDER BY +k.customer_id LIMIT 1"
    )
}

pub(crate) async fn insert_customer_in(
    tx: &mut sqlx::AnyConnection,
    tenant: TenantId,
    first: &FirstContact<'_>,
    now: i64,
) -> Result<Option<i64>> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO customers (tenant_id, display_name, sort_name, identity_key, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(tenant.0)
    .bind(first.display_name)
    .bind(first.sort_name)
    .bind(first.identity_key)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    for c in first.contacts {
        sqlx::query(
            "INSERT INTO customer_contacts (tenant_id, customer_id, kind, value, normalized, \
             is_primary, verified, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(&c.kind)
        .bind(&c.value)
        .bind(&c.normalized)
        .bind(i16::from(c.primary))
        .bind(i16::from(c.verified))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(Some(id))
}

impl Store {
    /// Whether a customer of `tenant` was merged or erased; `None` when there is no such one.
    pub async fn customer_state(
        &self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<CustomerState>> {
        let mut tx = self.begin_pool_tx().await?;
        let s = state_in(&mut tx, tenant, id.0).await?;
        tx.commit().await?;
        Ok(s)
    }

    /// The customer (not merged away) that has a contact of `kind` whose normalised value is
    /// `normalized`; the lowest id when several do.
    pub async fn customer_by_contact(
        &self,
        tenant: TenantId,
        kind: &str,
        normalized: &str,
    ) -> Result<Option<CustomerId>> {
        let id: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(customer_by_contact_sql(
            "$1", "$2", "$3",
        )))
        .bind(tenant.0)
        .bind(kind)
        .bind(normalized)
        .fetch_optional(self.db())
        .await?;
        Ok(id.map(CustomerId))
    }

    /// Creates a customer with its contact points (already normalised) in one transaction.
    /// With `identity_key` (see migration 0014), the customer claims that key: `Ok(None)`
    /// when a live customer of the tenant already holds it (on PostgreSQL the insert waits
    /// for a concurrent claim to commit or roll back first), and nothing is written.
    pub async fn create_customer_with_contacts(
        &self,
        tenant: TenantId,
        display_name: &str,
        sort_name: &str,
        contacts: &[NewContact],
        identity_key: Option<&str>,
        now: i64,
    ) -> Result<Option<CustomerId>> {
        let mut tx = self.begin_pool_tx().await?;
        let first = FirstContact {
            display_name,
            sort_name,
            contacts,
            identity_key,
        };
        let Some(id) = insert_customer_in(&mut tx, tenant, &first, now).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
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
        Ok(Some(CustomerId(id)))
    }

    /// Lets go of an identity key whose holder no longer has that contact (it was edited or
    /// removed since), so the next find-or-create can claim it. Answers whether a customer
    /// held it.
    pub async fn release_identity_key(&self, tenant: TenantId, key: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE customers SET identity_key = NULL WHERE tenant_id = $1 AND identity_key = $2",
        )
        .bind(tenant.0)
        .bind(key)
        .execute(self.db())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Duplicate blocking, step 1: the lowest live customers with id `>= from` that share a
    /// key (normalised email, phone or postal address, or a household address) with a live
    /// customer of a higher id, in id order, at most `limit`. Each side is read in customer
    /// order and stops at `limit`, so a page never computes pairs of customers it does not
    /// show.
    pub async fn duplicate_anchors(
        &self,
        tenant: TenantId,
        from: i64,
        limit: i64,
    ) -> Result<Vec<i64>> {
        let by_contact: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT a.customer_id FROM customer_contacts a \
             JOIN customers ca ON ca.id = a.customer_id AND ca.tenant_id = a.tenant_id \
             AND ca.merged_into IS NULL AND ca.erased_at IS NULL \
             WHERE a.tenant_id = $1 AND a.customer_id >= $2 \
             AND a.kind IN ('email', 'phone', 'address') \
             AND EXISTS (SELECT 1 FROM customer_contacts b JOIN customers cb \
               ON cb.id = b.customer_id AND cb.tenant_id = b.tenant_id \
               AND cb.merged_into IS NULL AND cb.erased_at IS NULL \
               WHERE b.tenant_id = a.tenant_id AND b.kind = a.kind \
               AND b.normalized = a.normalized AND b.customer_id > a.customer_id) \
             ORDER BY a.customer_id LIMIT $3",
        )
        .bind(tenant.0)
        .bind(from)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        let by_household: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT ma.customer_id FROM household_members ma \
             JOIN households ha ON ha.id = ma.household_id AND ha.tenant_id = ma.tenant_id \
             JOIN customers ca ON ca.id = ma.customer_id AND ca.tenant_id = ma.tenant_id \
             AND ca.merged_into IS NULL AND ca.erased_at IS NULL \
             WHERE ma.tenant_id = $1 AND ma.customer_id >= $2 \
             AND ha.address IS NOT NULL AND ha.address <> '' \
             AND EXISTS (SELECT 1 FROM households hb \
               JOIN household_members mb ON mb.household_id = hb.id \
               JOIN customers cb ON cb.id = mb.customer_id AND cb.tenant_id = hb.tenant_id \
               AND cb.merged_into IS NULL AND cb.erased_at IS NULL \
               WHERE hb.tenant_id = ha.tenant_id AND hb.address = ha.address \
               AND mb.customer_id > ma.customer_id) \
             ORDER BY ma.customer_id LIMIT $3",
        )
        .bind(tenant.0)
        .bind(from)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        let mut all = by_contact;
        all.extend(by_household);
        all.sort_unstable();
        all.dedup();
        all.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(all)
    }

    /// Duplicate blocking, step 2: the candidate pairs of one live customer with the live
    /// customers whose id lies strictly between `above` and `below` and that share one of its
    /// keys — one row per pair and reason (`email`, `phone`, `address`), in (other id,
    /// reason) order, dismissed pairs left out, at most `limit` rows. Only the customers in
    /// the anchor's blocks (same key) are looked at.
    pub async fn duplicate_partners(
        &self,
        tenant: TenantId,
        anchor: CustomerId,
        above: i64,
        below: i64,
        limit: i64,
    ) -> Result<Vec<DuplicateCandidate>> {
        let rows = sqlx::query(
            "SELECT DISTINCT x.other, x.kind, co.display_name AS other_name, \
             ca.display_name AS anchor_name FROM ( \
               SELECT b.customer_id AS other, a.kind AS kind FROM customer_contacts a \
               JOIN customer_contacts b ON b.tenant_id = a.tenant_id AND b.kind = a.kind \
               AND b.normalized = a.normalized AND b.customer_id > $3 AND b.customer_id < $4 \
               AND b.customer_id <> a.customer_id \
               WHERE a.tenant_id = $1 AND a.customer_id = $2 \
               AND a.kind IN ('email', 'phone', 'address') \
               UNION ALL \
               SELECT mb.customer_id AS other, 'address' AS kind FROM household_members ma \
               JOIN households ha ON ha.id = ma.household_id AND ha.tenant_id = ma.tenant_id \
               JOIN households hb ON hb.tenant_id = ha.tenant_id AND hb.address = ha.address \
               JOIN household_members mb ON mb.household_id = hb.id \
               AND mb.customer_id > $3 AND mb.customer_id < $4 \
               AND mb.customer_id <> ma.customer_id \
               WHERE ma.tenant_id = $1 AND ma.customer_id = $2 \
               AND ha.address IS NOT NULL AND ha.address <> '' \
             ) x \
             JOIN customers ca ON ca.id = $2 AND ca.tenant_id = $1 \
             AND ca.merged_into IS NULL AND ca.erased_at IS NULL \
             JOIN customers co ON co.id = x.other AND co.tenant_id = $1 \
             AND co.merged_into IS NULL AND co.erased_at IS NULL \
             WHERE NOT EXISTS (SELECT 1 FROM customer_duplicate_dismissals d \
               WHERE d.tenant_id = $1 AND ((d.low_id = $2 AND d.high_id = x.other) \
               OR (d.low_id = x.other AND d.high_id = $2))) \
             ORDER BY x.other, x.kind LIMIT $5",
        )
        .bind(tenant.0)
        .bind(anchor.0)
        .bind(above)
        .bind(below)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                let other: i64 = r.try_get("other")?;
                let other_name: String = r.try_get("other_name")?;
                let anchor_name: String = r.try_get("anchor_name")?;
                let (low, high, low_name, high_name) = if other > anchor.0 {
                    (anchor.0, other, anchor_name, other_name)
                } else {
                    (other, anchor.0, other_name, anchor_name)
                };
                Ok(DuplicateCandidate {
                    low,
                    high,
                    kind: r.try_get("kind")?,
                    low_name,
                    high_name,
                })
            })
            .collect()
    }

    /// Remembers that two customers are not the same person. `Ok(false)`: one of them is not
    /// a customer of `tenant`.
    pub async fn dismiss_duplicate(
        &self,
        tenant: TenantId,
        a: CustomerId,
        b: CustomerId,
        actor: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        let (low, high) = if a.0 < b.0 { (a.0, b.0) } else { (b.0, a.0) };
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM customers WHERE tenant_id = $1 AND id IN ($2, $3)",
        )
        .bind(tenant.0)
        .bind(low)
        .bind(high)
        .fetch_one(self.db())
        .await?;
        if n != 2 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO customer_duplicate_dismissals (tenant_id, low_id, high_id, \
             dismissed_by, dismissed_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, low_id, high_id) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(low)
        .bind(high)
        .bind(actor)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(true)
    }

    /// Merges `source` into `target` in one transaction: every contact, preference (both
    /// histories; a conflicting current value is resolved by `target_wins(target_confirmed,
    /// source_confirmed)`, the loser kept as history), note, flag, tag, timeline event,
    /// order (with lines), case, authored message, task and household membership of the
    /// source moves to the target; the source becomes a tombstone pointing to the target; a
    /// merge record keeps exactly what moved; both timelines get a `merged` event.
    pub async fn merge_customers(
        &self,
        tenant: TenantId,
        source: CustomerId,
        target: CustomerId,
        target_wins: fn(i64, i64) -> bool,
        actor: Option<i64>,
        now: i64,
    ) -> Result<MergeOutcome> {
        let (s, t) = (source.0, target.0);
        let mut tx = self.begin_pool_tx().await?;
        // Claim both rows in id order (row locks on PostgreSQL; the write lock on SQLite), so
        // two concurrent merges touching the same customers serialise.
        let mut ids = [s, t];
        ids.sort_unstable();
        for id in ids {
            let claimed = sqlx::query(
                "UPDATE customers SET updated_at = $3 WHERE tenant_id = $1 AND id = $2 \
                 AND merged_into IS NULL AND erased_at IS NULL",
            )
            .bind(tenant.0)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                let state = state_in(&mut tx, tenant, id).await?;
                return Ok(match state {
                    None => MergeOutcome::NotFound,
                    Some(CustomerState {
                        merged_into: Some(into),
                        ..
                    }) => {
                        if id == s {
                            MergeOutcome::SourceMerged(into)
                        } else {
                            MergeOutcome::TargetMerged(into)
                        }
                    }
                    Some(_) => MergeOutcome::Erased,
                });
            }
        }
        let mut m = MovedRows::default();

        // Contacts: one the target already has (same kind and normalised value) is not
        // moved but dropped and kept whole on the merge record (so the survivor does not list
        // the address twice); the target's copy takes over its primary and verified marks.
        // A moved primary is demoted where the target has a primary of that kind.
        let contacts = sqlx::query(
            "SELECT id, kind, value, normalized, is_primary, verified, created_at \
             FROM customer_contacts WHERE tenant_id = $1 AND customer_id = $2 ORDER BY id",
        )
        .bind(tenant.0)
        .bind(s)
        .fetch_all(&mut *tx)
        .await?;
        let target_contacts = sqlx::query(
            "SELECT id, kind, normalized, is_primary, verified FROM customer_contacts \
             WHERE tenant_id = $1 AND customer_id = $2 ORDER BY id",
        )
        .bind(tenant.0)
        .bind(t)
        .fetch_all(&mut *tx)
        .await?;
        // (kind, normalized) → (id, primary, verified) of the target's copy.
        let mut on_target: std::collections::HashMap<(String, String), (i64, bool, bool)> =
            std::collections::HashMap::new();
        let mut target_primary: Vec<String> = Vec::new();
        for c in &target_contacts {
            let kind: String = c.try_get("kind")?;
            let primary = c.try_get::<i16, _>("is_primary")? != 0;
            if primary && !target_primary.contains(&kind) {
                target_primary.push(kind.clone());
            }
            on_target
                .entry((kind, c.try_get("normalized")?))
                .or_insert((
                    c.try_get("id")?,
                    primary,
                    c.try_get::<i16, _>("verified")? != 0,
                ));
        }
        for c in &contacts {
            let id: i64 = c.try_get("id")?;
            let kind: String = c.try_get("kind")?;
            let normalized: String = c.try_get("normalized")?;
            let primary = c.try_get::<i16, _>("is_primary")? != 0;
            let verified = c.try_get::<i16, _>("verified")? != 0;
            if let Some(copy) = on_target.get_mut(&(kind.clone(), normalized.clone())) {
                if primary && !copy.1 && !target_primary.contains(&kind) {
                    m.promoted_contacts.push(copy.0);
                    copy.1 = true;
                    target_primary.push(kind.clone());
                }
                if verified && !copy.2 {
                    m.verified_contacts.push(copy.0);
                    copy.2 = true;
                }
                m.dropped_contacts.push(DroppedContact {
                    id,
                    kind,
                    value: c.try_get("value")?,
                    normalized,
                    primary,
                    verified,
                    created_at: c.try_get("created_at")?,
                });
                continue;
            }
            m.contacts.push(id);
            if primary && target_primary.contains(&kind) {
                m.demoted_contacts.push(id);
            }
        }
        for (sql, ids) in [
            (
                "UPDATE customer_contacts SET is_primary = 0 WHERE tenant_id = $1 AND id IN",
                &m.demoted_contacts,
            ),
            (
                "UPDATE customer_contacts SET is_primary = 1 WHERE tenant_id = $1 AND id IN",
                &m.promoted_contacts,
            ),
            (
                "UPDATE customer_contacts SET verified = 1 WHERE tenant_id = $1 AND id IN",
                &m.verified_contacts,
            ),
        ] {
            for chunk in ids.chunks(IDS_PER_QUERY) {
                sqlx::query(sqlx::AssertSqlSafe(format!("{sql} ({})", id_list(chunk))))
                    .bind(tenant.0)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let dropped: Vec<i64> = m.dropped_contacts.iter().map(|d| d.id).collect();
        for chunk in dropped.chunks(IDS_PER_QUERY) {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM customer_contacts WHERE tenant_id = $1 AND customer_id = $2 \
                 AND id IN ({})",
                id_list(chunk)
            )))
            .bind(tenant.0)
            .bind(s)
            .execute(&mut *tx)
            .await?;
        }
        move_ids(
            &mut tx,
            "customer_contacts",
            "customer_id",
            tenant,
            &m.contacts,
            s,
            t,
        )
        .await?;

        // Preferences: both histories move; a key current on both keeps the value confirmed
        // most recently, the other is superseded by it (and kept).
        m.preferences = ids_where(
            &mut tx,
            "SELECT id FROM customer_preferences WHERE tenant_id = $1 AND customer_id = $2 \
             ORDER BY id",
            tenant,
            s,
        )
        .await?;
        let conflicts = sqlx::query(
            "SELECT sp.id AS s_id, sp.confirmed_at AS s_conf, tp.id AS t_id, \
             tp.confirmed_at AS t_conf FROM customer_preferences sp \
             JOIN customer_preferences tp ON tp.tenant_id = sp.tenant_id \
             AND tp.customer_id = $3 AND tp.pref_key = sp.pref_key AND tp.active = 1 \
             WHERE sp.tenant_id = $1 AND sp.customer_id = $2 AND sp.active = 1",
        )
        .bind(tenant.0)
        .bind(s)
        .bind(t)
        .fetch_all(&mut *tx)
        .await?;
        for c in &conflicts {
            let (s_id, t_id): (i64, i64) = (c.try_get("s_id")?, c.try_get("t_id")?);
            let (loser, winner) = if target_wins(c.try_get("t_conf")?, c.try_get("s_conf")?) {
                (s_id, t_id)
            } else {
                (t_id, s_id)
            };
            sqlx::query(
                "UPDATE customer_preferences SET active = 0, superseded_at = $3, \
                 superseded_by = $4 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.0)
            .bind(loser)
            .bind(now)
            .bind(winner)
            .execute(&mut *tx)
            .await?;
            m.superseded_preferences.push(loser);
        }
        move_ids(
            &mut tx,
            "customer_preferences",
            "customer_id",
            tenant,
            &m.preferences,
            s,
            t,
        )
        .await?;

        // Flags: a flag set on both stays set once (the target's); the source's is cleared.
        m.flags = ids_where(
            &mut tx,
            "SELECT id FROM customer_flags WHERE tenant_id = $1 AND customer_id = $2 ORDER BY id",
            tenant,
            s,
        )
        .await?;
        m.cleared_flags = sqlx::query_scalar(
            "SELECT sf.id FROM customer_flags sf JOIN customer_flags tf \
             ON tf.tenant_id = sf.tenant_id AND tf.customer_id = $3 AND tf.flag = sf.flag \
             AND tf.cleared_at IS NULL \
             WHERE sf.tenant_id = $1 AND sf.customer_id = $2 AND sf.cleared_at IS NULL",
        )
        .bind(tenant.0)
        .bind(s)
        .bind(t)
        .fetch_all(&mut *tx)
        .await?;
        for id in &m.cleared_flags {
            sqlx::query(
                "UPDATE customer_flags SET cleared_at = $3, cleared_by = $4 \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.0)
            .bind(id)
            .bind(now)
            .bind(actor)
            .execute(&mut *tx)
            .await?;
        }
        move_ids(
            &mut tx,
            "customer_flags",
            "customer_id",
            tenant,
            &m.flags,
            s,
            t,
        )
        .await?;

        // Tags: moved, or dropped where the target has the same tag.
        let tags = sqlx::query(
            "SELECT tag, created_at, (SELECT COUNT(*) FROM customer_tags o WHERE \
             o.customer_id = $3 AND o.tag = g.tag) AS on_target FROM customer_tags g \
             WHERE g.tenant_id = $1 AND g.customer_id = $2 ORDER BY tag",
        )
        .bind(tenant.0)
        .bind(s)
        .bind(t)
        .fetch_all(&mut *tx)
        .await?;
        for g in &tags {
            let tag: String = g.try_get("tag")?;
            if g.try_get::<i64, _>("on_target")? > 0 {
                sqlx::query(
                    "DELETE FROM customer_tags WHERE tenant_id = $1 AND customer_id = $2 \
                     AND tag = $3",
                )
                .bind(tenant.0)
                .bind(s)
                .bind(&tag)
                .execute(&mut *tx)
                .await?;
                m.dropped_tags.push(DroppedTag {
                    tag,
                    created_at: g.try_get("created_at")?,
                });
            } else {
                sqlx::query(
                    "UPDATE customer_tags SET customer_id = $3 WHERE tenant_id = $1 \
                     AND customer_id = $2 AND tag = $4",
                )
                .bind(tenant.0)
                .bind(s)
                .bind(t)
                .bind(&tag)
                .execute(&mut *tx)
                .await?;
                m.tags.push(tag);
            }
        }

        // Household memberships: moved, or dropped where the target is already a member.
        let members = sqlx::query(
            "SELECT household_id, role, (SELECT COUNT(*) FROM household_members o WHERE \
             o.household_id = h.household_id AND o.customer_id = $3) AS on_target \
             FROM household_members h WHERE h.tenant_id = $1 AND h.customer_id = $2 \
             ORDER BY household_id",
        )
        .bind(tenant.0)
        .bind(s)
        .bind(t)
        .fetch_all(&mut *tx)
        .await?;
        for h in &members {
            let household_id: i64 = h.try_get("household_id")?;
            if h.try_get::<i64, _>("on_target")? > 0 {
                sqlx::query(
                    "DELETE FROM household_members WHERE tenant_id = $1 AND customer_id = $2 \
                     AND household_id = $3",
                )
                .bind(tenant.0)
                .bind(s)
                .bind(household_id)
                .execute(&mut *tx)
                .await?;
                m.dropped_households.push(DroppedMembership {
                    household_id,
                    role: h.try_get("role")?,
                });
            } else {
                sqlx::query(
                    "UPDATE household_members SET customer_id = $3 WHERE tenant_id = $1 \
                     AND customer_id = $2 AND household_id = $4",
                )
                .bind(tenant.0)
                .bind(s)
                .bind(t)
                .bind(household_id)
                .execute(&mut *tx)
                .await?;
                m.households.push(household_id);
            }
        }

        // Everything else moves as it is.
        let plain: [(&str, &str, &mut Vec<i64>); 7] = [
            ("customer_notes", "customer_id", &mut m.notes),
            ("timeline_events", "customer_id", &mut m.timeline_events),
            ("orders", "customer_id", &mut m.orders),
            ("order_lines", "customer_id", &mut m.order_lines),
            ("cases", "customer_id", &mut m.cases),
            ("messages", "author_customer_id", &mut m.messages),
            ("tasks", "customer_id", &mut m.tasks),
        ];
        for (table, column, ids) in plain {
            *ids = ids_where(
                &mut tx,
                &format!(
                    "SELECT id FROM {table} WHERE tenant_id = $1 AND {column} = $2 ORDER BY id"
                ),
                tenant,
                s,
            )
            .await?;
            move_ids(&mut tx, table, column, tenant, ids, s, t).await?;
        }

        // A tombstone holds no identity key (the target has its contacts now).
        sqlx::query(
            "UPDATE customers SET merged_into = $3, merged_at = $4, updated_at = $4, \
             identity_key = NULL WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(s)
        .bind(t)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let moved =
            serde_json::to_string(&m).map_err(|e| crate::StoreError::Other(e.to_string()))?;
        let merge_id: i64 = sqlx::query_scalar(
            "INSERT INTO customer_merges (tenant_id, source_id, target_id, moved, merged_by, \
             merged_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(tenant.0)
        .bind(s)
        .bind(t)
        .bind(&moved)
        .bind(actor)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let summary = serde_json::json!({
            "merge": merge_id, "source": s, "target": t, "moved": m.counts(),
        });
        for who in [t, s] {
            timeline_event(
                &mut tx, tenant, who, "merged", actor, merge_id, &summary, now,
            )
            .await?;
        }
        for who in [s, t] {
            log_change(&mut tx, tenant, "customer", who, now).await?;
        }
        for case in &m.cases {
            log_change(&mut tx, tenant, "case", *case, now).await?;
        }
        tx.commit().await?;
        Ok(MergeOutcome::Merged(Box::new(MergeRow {
            id: merge_id,
            source_id: s,
            target_id: t,
            moved: m,
            merged_by: actor,
            merged_at: now,
            undone_by: None,
            undone_at: None,
        })))
    }

    /// A merge record of `tenant`.
    pub async fn merge_record(&self, tenant: TenantId, id: i64) -> Result<Option<MergeRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MERGE_COLS} FROM customer_merges WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(self.db())
        .await?;
        row.as_ref().map(merge_from).transpose()
    }

    /// The merges a customer took part in (as source or target), newest first.
    pub async fn merges_of(&self, tenant: TenantId, customer: CustomerId) -> Result<Vec<MergeRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MERGE_COLS} FROM customer_merges WHERE tenant_id = $1 \
             AND (source_id = $2 OR target_id = $2) ORDER BY merged_at DESC, id DESC"
        )))
        .bind(tenant.0)
        .bind(customer.0)
        .fetch_all(self.db())
        .await?;
        rows.iter().map(merge_from).collect()
    }

    /// Undoes a merge: moves precisely the recorded rows back to the source (those still on
    /// the target), restores what was changed to make room (primary contacts, superseded
    /// preferences, cleared flags, dropped tags and memberships — unless the owner has since
    /// got a current one of its own) and restores the source. `unmerged` events on both.
    pub async fn undo_merge(
        &self,
        tenant: TenantId,
        merge_id: i64,
        actor: Option<i64>,
        now: i64,
    ) -> Result<UndoOutcome> {
        let mut tx = self.begin_pool_tx().await?;
        let claimed = sqlx::query(
            "UPDATE customer_merges SET undone_at = $3, undone_by = $4 \
             WHERE tenant_id = $1 AND id = $2 AND undone_at IS NULL",
        )
        .bind(tenant.0)
        .bind(merge_id)
        .bind(now)
        .bind(actor)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MERGE_COLS} FROM customer_merges WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.0)
        .bind(merge_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(UndoOutcome::NotFound);
        };
        if claimed == 0 {
            return Ok(UndoOutcome::AlreadyUndone);
        }
        let rec = merge_from(&row)?;
        let (s, t, m) = (rec.source_id, rec.target_id, &rec.moved);
        if let Some(CustomerState {
            merged_into: Some(into),
            ..
        }) = state_in(&mut tx, tenant, t).await?
        {
            return Ok(UndoOutcome::TargetMerged(into));
        }
        let plain: [(&str, &str, &Vec<i64>); 10] = [
            ("customer_contacts", "customer_id", &m.contacts),
            ("customer_preferences", "customer_id", &m.preferences),
            ("customer_flags", "customer_id", &m.flags),
            ("customer_notes", "customer_id", &m.notes),
            ("timeline_events", "customer_id", &m.timeline_events),
            ("orders", "customer_id", &m.orders),
            ("order_lines", "customer_id", &m.order_lines),
            ("cases", "customer_id", &m.cases),
            ("messages", "author_customer_id", &m.messages),
            ("tasks", "customer_id", &m.tasks),
        ];
        for (table, column, ids) in plain {
            move_ids(&mut tx, table, column, tenant, ids, t, s).await?;
        }
        for chunk in m.demoted_contacts.chunks(IDS_PER_QUERY) {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE customer_contacts SET is_primary = 1 WHERE tenant_id = $1 \
                 AND customer_id = $2 AND id IN ({})",
                id_list(chunk)
            )))
            .bind(tenant.0)
            .bind(s)
            .execute(&mut *tx)
            .await?;
        }
        for (sql, ids) in [
            (
                "UPDATE customer_contacts SET is_primary = 0 WHERE tenant_id = $1 \
                 AND customer_id = $2 AND id IN",
                &m.promoted_contacts,
            ),
            (
                "UPDATE customer_contacts SET verified = 0 WHERE tenant_id = $1 \
                 AND customer_id = $2 AND id IN",
                &m.verified_contacts,
            ),
        ] {
            for chunk in ids.chunks(IDS_PER_QUERY) {
                sqlx::query(sqlx::AssertSqlSafe(format!("{sql} ({})", id_list(chunk))))
                    .bind(tenant.0)
                    .bind(t)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for d in &m.dropped_contacts {
            sqlx::query(
                "INSERT INTO customer_contacts (id, tenant_id, customer_id, kind, value, \
                 normalized, is_primary, verified, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
            )
            .bind(d.id)
            .bind(tenant.0)
            .bind(s)
            .bind(&d.kind)
            .bind(&d.value)
            .bind(&d.normalized)
            .bind(i16::from(d.primary))
            .bind(i16::from(d.verified))
            .bind(d.created_at)
            .execute(&mut *tx)
            .await?;
        }
        for id in &m.superseded_preferences {
            sqlx::query(
                "UPDATE customer_preferences SET active = 1, superseded_at = NULL, \
                 superseded_by = NULL WHERE tenant_id = $1 AND id = $2 AND active = 0 \
                 AND NOT EXISTS (SELECT 1 FROM customer_preferences o \
                   WHERE o.tenant_id = customer_preferences.tenant_id \
                   AND o.customer_id = customer_preferences.customer_id \
                   AND o.pref_key = customer_preferences.pref_key AND o.active = 1)",
            )
            .bind(tenant.0)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        for id in &m.cleared_flags {
            sqlx::query(
                "UPDATE customer_flags SET cleared_at = NULL, cleared_by = NULL \
                 WHERE tenant_id = $1 AND id = $2 \
                 AND NOT EXISTS (SELECT 1 FROM customer_flags o \
                   WHERE o.tenant_id = customer_flags.tenant_id \
                   AND o.customer_id = customer_flags.customer_id \
                   AND o.flag = customer_flags.flag AND o.cleared_at IS NULL)",
            )
            .bind(tenant.0)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        for tag in &m.tags {
            sqlx::query(
                "UPDATE customer_tags SET customer_id = $3 WHERE tenant_id = $1 \
                 AND customer_id = $2 AND tag = $4",
            )
            .bind(tenant.0)
            .bind(t)
            .bind(s)
            .bind(tag)
            .execute(&mut *tx)
            .await?;
        }
        for g in &m.dropped_tags {
            sqlx::query(
                "INSERT INTO customer_tags (tenant_id, customer_id, tag, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id, tag) DO NOTHING",
            )
            .bind(tenant.0)
            .bind(s)
            .bind(&g.tag)
            .bind(g.created_at)
            .execute(&mut *tx)
            .await?;
        }
        for h in &m.households {
            sqlx::query(
                "UPDATE household_members SET customer_id = $3 WHERE tenant_id = $1 \
                 AND customer_id = $2 AND household_id = $4",
            )
            .bind(tenant.0)
            .bind(t)
            .bind(s)
            .bind(h)
            .execute(&mut *tx)
            .await?;
        }
        for h in &m.dropped_households {
            sqlx::query(
                "INSERT INTO household_members (tenant_id, household_id, customer_id, role) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (household_id, customer_id) DO NOTHING",
            )
            .bind(tenant.0)
            .bind(h.household_id)
            .bind(s)
            .bind(&h.role)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE customers SET merged_into = NULL, merged_at = NULL, updated_at = $3 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(s)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let summary = serde_json::json!({"merge": merge_id, "source": s, "target": t});
        for who in [t, s] {
            timeline_event(
                &mut tx, tenant, who, "unmerged", actor, merge_id, &summary, now,
            )
            .await?;
        }
        for who in [s, t] {
            log_change(&mut tx, tenant, "customer", who, now).await?;
        }
        for case in &m.cases {
            log_change(&mut tx, tenant, "case", *case, now).await?;
        }
        tx.commit().await?;
        let mut rec = rec;
        rec.undone_at = Some(now);
        rec.undone_by = actor;
        Ok(UndoOutcome::Undone(Box::new(rec)))
    }

    /// Everything stored about a customer besides what the memory module reads.
    pub async fn export_parts(&self, tenant: TenantId, id: CustomerId) -> Result<ExportParts> {
        let (tn, c) = (tenant.0, id.0);
        let events = sqlx::query(
            "SELECT id, kind, at, actor_id, ref_kind, ref_id, summary FROM timeline_events \
             WHERE tenant_id = $1 AND customer_id = $2 ORDER BY at, id",
        )
        .bind(tn)
        .bind(c)
        .fetch_all(self.db())
        .await?
        .iter()
        .map(|r| {
            let mut v = row_json(
                r,
                &[
                    ("id", Ty::I),
                    ("kind", Ty::S),
                    ("at", Ty::I),
                    ("actor_id", Ty::OI),
                    ("ref_kind", Ty::OS),
                    ("ref_id", Ty::OI),
                ],
            )?;
            let summary: String = r.try_get("summary")?;
            v["summary"] = serde_json::from_str(&summary).unwrap_or(serde_json::Value::Null);
            Ok(v)
        })
        .collect::<Result<Vec<_>>>()?;
        let mut orders = Vec::new();
        for o in sqlx::query(
            "SELECT id, external_id, ordered_at, status, currency, total_minor FROM orders \
             WHERE tenant_id = $1 AND customer_id = $2 ORDER BY ordered_at, id",
        )
        .bind(tn)
        .bind(c)
        .fetch_all(self.db())
        .await?
        {
            let mut v = row_json(
                &o,
                &[
                    ("id", Ty::I),
                    ("external_id", Ty::S),
                    ("ordered_at", Ty::I),
                    ("status", Ty::S),
                    ("currency", Ty::S),
                    ("total_minor", Ty::I),
                ],
            )?;
            let lines = sqlx::query(
                "SELECT l.id, p.sku, p.name, l.quantity, l.unit_price_minor, l.amount_minor \
                 FROM order_lines l JOIN products p ON p.id = l.product_id \
                 WHERE l.tenant_id = $1 AND l.order_id = $2 ORDER BY l.id",
            )
            .bind(tn)
            .bind(o.try_get::<i64, _>("id")?)
            .fetch_all(self.db())
            .await?
            .iter()
            .map(|l| {
                row_json(
                    l,
                    &[
                        ("id", Ty::I),
                        ("sku", Ty::S),
                        ("name", Ty::S),
                        ("quantity", Ty::OF),
                        ("unit_price_minor", Ty::I),
                        ("amount_minor", Ty::I),
                    ],
                )
            })
            .collect::<Result<Vec<_>>>()?;
            v["lines"] = serde_json::Value::Array(lines);
            orders.push(v);
        }
        let mut cases = Vec::new();
        for k in sqlx::query(
            "SELECT id, number, subject, kind, channel, priority, status, created_at, \
             updated_at, solved_at, closed_at FROM cases WHERE tenant_id = $1 \
             AND customer_id = $2 ORDER BY created_at, id",
        )
        .bind(tn)
        .bind(c)
        .fetch_all(self.db())
        .await?
        {
            let mut v = row_json(
                &k,
                &[
                    ("id", Ty::I),
                    ("number", Ty::I),
                    ("subject", Ty::S),
                    ("kind", Ty::S),
                    ("channel", Ty::S),
                    ("priority", Ty::S),
                    ("status", Ty::S),
                    ("created_at", Ty::I),
                    ("updated_at", Ty::I),
                    ("solved_at", Ty::OI),
                    ("closed_at", Ty::OI),
                ],
            )?;
            let messages = sqlx::query(
                "SELECT id, author_kind, author_email, visibility, channel, body_text, \
                 created_at FROM messages WHERE tenant_id = $1 AND case_id = $2 \
                 ORDER BY created_at, id",
            )
            .bind(tn)
            .bind(k.try_get::<i64, _>("id")?)
            .fetch_all(self.db())
            .await?
            .iter()
            .map(|m| {
                row_json(
                    m,
                    &[
                        ("id", Ty::I),
                        ("author_kind", Ty::S),
                        ("author_email", Ty::OS),
                        ("visibility", Ty::S),
                        ("channel", Ty::S),
                        ("body_text", Ty::S),
                        ("created_at", Ty::I),
                    ],
                )
            })
            .collect::<Result<Vec<_>>>()?;
            v["messages"] = serde_json::Value::Array(messages);
            cases.push(v);
        }
        let tasks = sqlx::query(
            "SELECT id, kind, title, status, due_at, outcome, created_at, done_at FROM tasks \
             WHERE tenant_id = $1 AND customer_id = $2 ORDER BY id",
        )
        .bind(tn)
        .bind(c)
        .fetch_all(self.db())
        .await?
        .iter()
        .map(|r| {
            row_json(
                r,
                &[
                    ("id", Ty::I),
                    ("kind", Ty::S),
                    ("title", Ty::S),
                    ("status", Ty::S),
                    ("due_at", Ty::I),
                    ("outcome", Ty::OS),
                    ("created_at", Ty::I),
                    ("done_at", Ty::OI),
                ],
            )
        })
        .collect::<Result<Vec<_>>>()?;
        let score = sqlx::query(
            "SELECT as_of, purchases, total_spend_minor, segment, rfm_r, rfm_f, rfm_m, \
             p_alive, expected_purchases, clv, churn_risk, at_risk FROM customer_scores \
             WHERE tenant_id = $1 AND customer_id = $2",
        )
        .bind(tn)
        .bind(c)
        .fetch_optional(self.db())
        .await?
        .map(|r| {
            let mut v = row_json(
                &r,
                &[
                    ("as_of", Ty::I),
                    ("purchases", Ty::I),
                    ("total_spend_minor", Ty::I),
                    ("segment", Ty::S),
                    ("rfm_r", Ty::I),
                    ("rfm_f", Ty::I),
                    ("rfm_m", Ty::I),
                    ("p_alive", Ty::OF),
                    ("expected_purchases", Ty::OF),
                    ("clv", Ty::OF),
                    ("churn_risk", Ty::OF),
                ],
            )?;
            v["at_risk"] = serde_json::json!(r.try_get::<i16, _>("at_risk")? != 0);
            Ok::<_, crate::StoreError>(v)
        })
        .transpose()?;
        let tier = sqlx::query(
            "SELECT tier, reason, since, evaluated_at FROM customer_tiers \
             WHERE tenant_id = $1 AND customer_id = $2",
        )
        .bind(tn)
        .bind(c)
        .fetch_optional(self.db())
        .await?
        .map(|r| {
            row_json(
                &r,
                &[
                    ("tier", Ty::S),
                    ("reason", Ty::S),
                    ("since", Ty::I),
                    ("evaluated_at", Ty::I),
                ],
            )
        })
        .transpose()?;
        let tier_history = sqlx::query(
            "SELECT from_tier, to_tier, direction, reason, at FROM tier_history \
             WHERE tenant_id = $1 AND customer_id = $2 ORDER BY at, id",
        )
        .bind(tn)
        .bind(c)
        .fetch_all(self.db())
        .await?
        .iter()
        .map(|r| {
            row_json(
                r,
                &[
                    ("from_tier", Ty::OS),
                    ("to_tier", Ty::OS),
                    ("direction", Ty::S),
                    ("reason", Ty::S),
                    ("at", Ty::I),
                ],
            )
        })
        .collect::<Result<Vec<_>>>()?;
        let merges = self
            .merges_of(tenant, id)
            .await?
            .into_iter()
            .map(|m| {
                serde_json::json!({
                    "id": m.id, "source_id": m.source_id, "target_id": m.target_id,
                    "merged_at": m.merged_at, "undone_at": m.undone_at,
                    "moved": m.moved.counts(),
                })
            })
            .collect();
        Ok(ExportParts {
            timeline_events: events,
            orders,
            cases,
            tasks,
            score,
            tier,
            tier_history,
            merges,
        })
    }

    /// Erases a customer's personal data in one transaction: names, birthday, language, time
    /// zone, external id, contacts, tags, household memberships (a household left with no
    /// member loses its name and address), portal sign-in links and sessions are removed;
    /// note bodies, preference values, flag reasons, timeline summaries, the subjects of
    /// their cases and task titles, the bodies of messages the customer wrote (and the raw
    /// mail they came in) are replaced. Orders, amounts, dates and case/message counts and
    /// timestamps stay for statistics. The row stays as `display_name`.
    pub async fn erase_customer(
        &self,
        tenant: TenantId,
        id: CustomerId,
        display_name: &str,
        erased_text: &str,
        now: i64,
    ) -> Result<EraseOutcome> {
        let (tn, c) = (tenant.0, id.0);
        let mut tx = self.begin_pool_tx().await?;
        let claimed = sqlx::query(
            "UPDATE customers SET display_name = $3, sort_name = $4, given_name = NULL, \
             family_name = NULL, birthday = NULL, language = NULL, time_zone = NULL, \
             preferred_channel = NULL, external_id = NULL, identity_key = NULL, \
             erased_at = $5, updated_at = $5 \
             WHERE tenant_id = $1 AND id = $2 AND erased_at IS NULL AND merged_into IS NULL",
        )
        .bind(tn)
        .bind(c)
        .bind(display_name)
        .bind(concierge_domain::customer::name_key(display_name))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(match state_in(&mut tx, tenant, c).await? {
                None => EraseOutcome::NotFound,
                Some(CustomerState {
                    merged_into: Some(into),
                    ..
                }) => EraseOutcome::Merged(into),
                Some(_) => EraseOutcome::AlreadyErased,
            });
        }
        let households: Vec<i64> = ids_where(
            &mut tx,
            "SELECT household_id FROM household_members WHERE tenant_id = $1 AND customer_id = $2",
            tenant,
            c,
        )
        .await?;
        for sql in [
            "DELETE FROM customer_contacts WHERE tenant_id = $1 AND customer_id = $2",
            "DELETE FROM customer_tags WHERE tenant_id = $1 AND customer_id = $2",
            "DELETE FROM household_members WHERE tenant_id = $1 AND customer_id = $2",
            "DELETE FROM customer_login_tokens WHERE tenant_id = $1 AND customer_id = $2",
            "DELETE FROM sessions WHERE tenant_id = $1 AND customer_id = $2",
            "UPDATE timeline_events SET summary = '{\"erased\":true}' \
             WHERE tenant_id = $1 AND customer_id = $2",
            // Survey comments are customer-written text; unsent survey mails are dropped.
            "UPDATE csat_surveys SET comment = NULL, token_hash = NULL, \
             reminder_token_hash = NULL WHERE tenant_id = $1 AND customer_id = $2",
            "UPDATE nps_surveys SET comment = NULL, token_hash = NULL, \
             state = CASE WHEN state = 'queued' THEN 'failed' ELSE state END \
             WHERE tenant_id = $1 AND customer_id = $2",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .bind(tn)
                .bind(c)
                .execute(&mut *tx)
                .await?;
        }
        for sql in [
            "UPDATE customer_notes SET body = $3 WHERE tenant_id = $1 AND customer_id = $2",
            "UPDATE customer_preferences SET value = $3, learned_from = NULL \
             WHERE tenant_id = $1 AND customer_id = $2",
            "UPDATE customer_flags SET reason = $3 WHERE tenant_id = $1 AND customer_id = $2",
            "UPDATE cases SET subject = $3 WHERE tenant_id = $1 AND customer_id = $2",
            "UPDATE tasks SET title = $3, outcome = NULL WHERE tenant_id = $1 AND customer_id = $2",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .bind(tn)
                .bind(c)
                .bind(erased_text)
                .execute(&mut *tx)
                .await?;
        }
        for h in &households {
            sqlx::query(
                "UPDATE households SET name = $3, address = NULL, notes = NULL \
                 WHERE tenant_id = $1 AND id = $2 AND NOT EXISTS \
                 (SELECT 1 FROM household_members m WHERE m.household_id = households.id)",
            )
            .bind(tn)
            .bind(h)
            .bind(erased_text)
            .execute(&mut *tx)
            .await?;
        }
        let case_ids = ids_where(
            &mut tx,
            "SELECT id FROM cases WHERE tenant_id = $1 AND customer_id = $2 ORDER BY id",
            tenant,
            c,
        )
        .await?;
        // Messages the customer wrote: on their own cases, and anywhere else as the author.
        let message_ids = ids_where(
            &mut tx,
            "SELECT m.id FROM messages m WHERE m.tenant_id = $1 AND (m.author_customer_id = $2 \
             OR (m.author_kind = 'customer' AND m.case_id IN \
             (SELECT k.id FROM cases k WHERE k.tenant_id = $1 AND k.customer_id = $2))) \
             ORDER BY m.id",
            tenant,
            c,
        )
        .await?;
        for chunk in message_ids.chunks(IDS_PER_QUERY) {
            let list = id_list(chunk);
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE messages SET body_text = $2, body_html = NULL, author_email = NULL \
                 WHERE tenant_id = $1 AND id IN ({list})"
            )))
            .bind(tn)
            .bind(erased_text)
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE attachments SET filename = $2 WHERE tenant_id = $1 \
                 AND message_id IN ({list})"
            )))
            .bind(tn)
            .bind(erased_text)
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE inbound_mail SET raw = $2, detail = '{{}}', error = NULL \
                 WHERE tenant_id = $1 AND message_id IN ({list})"
            )))
            .bind(tn)
            .bind(Vec::<u8>::new())
            .execute(&mut *tx)
            .await?;
        }
        for chunk in case_ids.chunks(IDS_PER_QUERY) {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE inbound_mail SET raw = $2, detail = '{{}}', error = NULL \
                 WHERE tenant_id = $1 AND case_id IN ({})",
                id_list(chunk)
            )))
            .bind(tn)
            .bind(Vec::<u8>::new())
            .execute(&mut *tx)
            .await?;
        }
        log_change(&mut tx, tenant, "customer", c, now).await?;
        for k in &case_ids {
            log_change(&mut tx, tenant, "case", *k, now).await?;
        }
        for m in &message_ids {
            log_change(&mut tx, tenant, "message", *m, now).await?;
        }
        tx.commit().await?;
        Ok(EraseOutcome::Erased {
            cases: case_ids.len() as i64,
            messages: message_ids.len() as i64,
        })
    }
}
