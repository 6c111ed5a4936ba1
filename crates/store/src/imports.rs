//! CSV imports (issue 3, item 5): one batch of orders or customers written in one
//! transaction, idempotently.
//!
//! Orders are keyed by `(tenant, external order id)`, customers by `(tenant, external id)`,
//! products by `(tenant, sku)` (the schema's unique keys). An order already stored with the
//! same customer, time, status, currency and lines (product, quantity, unit price, in file
//! order) is left alone and counted as unchanged; one that differs has its row and lines
//! replaced; one stored for another customer is refused (orders do not move between
//! customers by import). A dry run makes the same decisions and rolls the transaction back.
//! Created and changed customers go to the change log, so search indexes follow.

use crate::bulk::{Val, insert_rows, positional};
use crate::{Result, Store};
use concierge_domain::TenantId;
use concierge_domain::customer::name_key;
use concierge_domain::import::{CustomerRecord, ProductInfo};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::{HashMap, HashSet};

/// A customer an order refers to, with what the file says about them (used only to create
/// one that does not exist yet).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRef {
    pub external_id: String,
    pub name: Option<String>,
    /// As written and normalised.
    pub email: Option<(String, String)>,
}

/// A product an order line refers to, with what the file says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductSpec {
    pub sku: String,
    pub info: ProductInfo,
    /// Stored as the list price when the product is created.
    pub price_minor: i64,
    pub currency: String,
}

/// One line of an order to import.
#[derive(Debug, Clone, PartialEq)]
pub struct LineSpec {
    pub sku: String,
    pub quantity: f64,
    pub unit_price_minor: i64,
    pub amount_minor: i64,
}

/// An order to import.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderSpec {
    pub external_id: String,
    pub customer: String,
    pub ordered_at: i64,
    pub status: String,
    pub currency: String,
    pub total_minor: i64,
    pub lines: Vec<LineSpec>,
}

/// What one batch of orders did. `refused` holds the index of each refused order and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderBatchOutcome {
    pub imported: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub lines_written: u64,
    pub customers_created: u64,
    pub products_created: u64,
    pub products_updated: u64,
    pub refused: Vec<(usize, String)>,
}

/// What one batch of customers did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerBatchOutcome {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// External ids not imported because they lead to an erased customer.
    pub erased: Vec<String>,
}

/// The rows of `select` (a `SELECT ... FROM table` without WHERE) of `tenant` whose `column`
/// is one of `keys`, in lookups of at most 5,000 keys. Numbered parameters become anonymous on
/// SQLite ([`positional`]); the statements are not kept prepared, because PostgreSQL would
/// reuse a generic plan made while the table was still small (a sequential scan testing
/// thousands of values per row: 43 s a batch at a million orders).
async fn rows_by_keys(
    tx: &mut AnyConnection,
    tenant: TenantId,
    select: &str,
    column: &str,
    keys: &[&str],
) -> Result<Vec<AnyRow>> {
    let mut out = Vec::new();
    let sqlite = crate::bulk::is_sqlite(tx);
    for chunk in keys.chunks(5_000) {
        let sql = format!(
            "{select} WHERE tenant_id = $1 AND {column} IN ({})",
            crate::bulk::params(2, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(positional(sql, sqlite)))
            .persistent(false)
            .bind(tenant.0);
        for k in chunk {
            q = q.bind(*k);
        }
        out.extend(q.fetch_all(&mut *tx).await?);
    }
    Ok(out)
}

/// Customer ids by external id; a merged customer answers the customer it was merged into
/// (its orders and profile live there now), following merges of merges to the survivor.
async fn customer_ids_by_external(
    tx: &mut AnyConnection,
    tenant: TenantId,
    keys: &[&str],
) -> Result<HashMap<String, i64>> {
    let mut out = HashMap::with_capacity(keys.len());
    let mut merged_any = false;
    let rows = rows_by_keys(
        tx,
        tenant,
        "SELECT COALESCE(merged_into, id), external_id, merged_into FROM customers",
        "external_id",
        keys,
    )
    .await?;
    for r in rows {
        out.insert(r.try_get::<String, _>(1)?, r.try_get::<i64, _>(0)?);
        merged_any |= r.try_get::<Option<i64>, _>(2)?.is_some();
    }
    // Only a customer reached through `merged_into` can lead further (a live one is its own
    // end): most batches name no merged customer and skip the walk.
    if !merged_any {
        return Ok(out);
    }
    // A customer merged into one that was merged again since: follow to the survivor. A
    // merge refuses a target that is itself merged, so chains are short and acyclic; the
    // bound only guards against a damaged database.
    for _ in 0..32 {
        let mut ids: Vec<i64> = out.values().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        let mut next: HashMap<i64, i64> = HashMap::new();
        for chunk in ids.chunks(5_000) {
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            // Integer ids read from the database: nothing to quote.
            let sql = format!(
                "SELECT id, merged_into FROM customers WHERE id IN ({list}) \
                 AND +tenant_id = $1 AND merged_into IS NOT NULL"
            );
            for r in sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant.0)
                .fetch_all(&mut *tx)
                .await?
            {
                next.insert(r.try_get(0)?, r.try_get(1)?);
            }
        }
        if next.is_empty() {
            break;
        }
        for v in out.values_mut() {
            if let Some(n) = next.get(v) {
                *v = *n;
            }
        }
    }
    Ok(out)
}

async fn log_changes(
    tx: &mut AnyConnection,
    tenant: TenantId,
    customer_ids: &[i64],
    now: i64,
) -> Result<()> {
    let rows: Vec<Vec<Val>> = customer_ids
        .iter()
        .map(|id| {
            vec![
                tenant.0.into(),
                "customer".into(),
                (*id).into(),
                "upsert".into(),
                now.into(),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "change_log",
        &["tenant_id", "entity", "entity_id", "op", "at"],
        &rows,
        None,
    )
    .await?;
    Ok(())
}

/// A stored order as compared with an imported one.
struct StoredOrder {
    id: i64,
    customer_id: i64,
    ordered_at: i64,
    status: String,
    currency: String,
    total_minor: i64,
    lines: Vec<(i64, f64, i64)>,
}

/// The tables a bulk import grows, whose planner statistics [`Store::refresh_statistics`]
/// renews.
pub const IMPORT_TABLES: &[&str] = &[
    "customers",
    "customer_contacts",
    "products",
    "orders",
    "order_lines",
    "timeline_events",
];

impl Store {
    /// Renews the query planner's statistics of `tables` (names from a fixed list in the
    /// code, never from input). On PostgreSQL an `ANALYZE`: without it, a table that grew from
    /// empty to millions of rows within one import is planned as if it were still empty
    /// (PostgreSQL's autovacuum may be off, or late), and a lookup by 5,000 external ids
    /// scanned the tenant's whole index (1.3 s a batch at 5 million orders instead of 23 ms).
    /// On SQLite, `PRAGMA optimize`, which renews what it finds stale.
    pub async fn refresh_statistics(&self, tables: &[&str]) -> Result<()> {
        let sql = if self.backend() == crate::Backend::Postgres {
            format!("ANALYZE {}", tables.join(", "))
        } else {
            "PRAGMA optimize".to_string()
        };
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(self.db())
            .await?;
        Ok(())
    }

    /// The lowest and highest customer id of `tenant` (for benchmarks that sample customers).
    pub async fn customer_id_range(&self, tenant: TenantId) -> Result<Option<(i64, i64)>> {
        let r = sqlx::query("SELECT MIN(id), MAX(id) FROM customers WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_one(self.db())
            .await?;
        let lo: Option<i64> = r.try_get(0)?;
        let hi: Option<i64> = r.try_get(1)?;
        Ok(lo.zip(hi))
    }

    /// Writes one batch of orders (with the customers and products they name) in one
    /// transaction; with `dry_run` decides the same and rolls back.
    pub async fn import_order_batch(
        &self,
        tenant: TenantId,
        customers: &[CustomerRef],
        products: &[ProductSpec],
        orders: &[OrderSpec],
        dry_run: bool,
        now: i64,
    ) -> Result<OrderBatchOutcome> {
        let mut out = OrderBatchOutcome::default();
        let mut tx = self.begin_pool_tx().await?;

        // Which customers and orders exist.
        let ext: Vec<&str> = customers.iter().map(|c| c.external_id.as_str()).collect();
        let mut customer_ids = customer_ids_by_external(&mut tx, tenant, &ext).await?;
        let order_keys: Vec<&str> = orders.iter().map(|o| o.external_id.as_str()).collect();
        let stored = self.stored_orders(&mut tx, tenant, &order_keys).await?;

        // Orders stored for another customer are refused before anything is created for them.
        let mut refused: HashSet<usize> = HashSet::new();
        for (i, o) in orders.iter().enumerate() {
            if let Some(s) = stored.get(&o.external_id)
                && customer_ids.get(&o.customer) != Some(&s.customer_id)
            {
                refused.insert(i);
                out.refused.push((
                    i,
                    format!(
                        "order {} is already stored for another customer; an import does not \
                         move orders between customers",
                        concierge_domain::customer::preview(&o.external_id, 40)
                    ),
                ));
            }
        }

        // Create the customers that are missing (and still needed).
        let needed: HashSet<&str> = orders
            .iter()
            .enumerate()
            .filter(|(i, _)| !refused.contains(i))
            .map(|(_, o)| o.customer.as_str())
            .collect();
        let new_customers: Vec<&CustomerRef> = customers
            .iter()
            .filter(|c| needed.contains(c.external_id.as_str()))
            .filter(|c| !customer_ids.contains_key(&c.external_id))
            .collect();
        if !new_customers.is_empty() {
            let rows: Vec<Vec<Val>> = new_customers
                .iter()
                .map(|c| {
                    let name = c
                        .name
                        .clone()
                        .or_else(|| c.email.as_ref().map(|e| e.0.clone()))
                        .unwrap_or_else(|| c.external_id.clone());
                    vec![
                        tenant.0.into(),
                        c.external_id.clone().into(),
                        name_key(&name).into(),
                        name.into(),
                        now.into(),
                        now.into(),
                    ]
                })
                .collect();
            let ret = insert_rows(
                &mut tx,
                "customers",
                &[
                    "tenant_id",
                    "external_id",
                    "sort_name",
                    "display_name",
                    "created_at",
                    "updated_at",
                ],
                &rows,
                Some("id, external_id"),
            )
            .await?;
            let mut created = Vec::with_capacity(ret.len());
            for r in &ret {
                let (id, key) = crate::bulk::id_and_key(r)?;
                customer_ids.insert(key, id);
                created.push(id);
            }
            let contacts: Vec<Vec<Val>> = new_customers
                .iter()
                .filter_map(|c| {
                    let (value, normalized) = c.email.clone()?;
                    let id = *customer_ids.get(&c.external_id)?;
                    Some(vec![
                        tenant.0.into(),
                        id.into(),
                        "email".into(),
                        value.into(),
                        normalized.into(),
                        true.into(),
                        false.into(),
                        now.into(),
                    ])
                })
                .collect();
            insert_rows(
                &mut tx,
                "customer_contacts",
                crate::bulk::CUSTOMER_CONTACTS_COLUMNS,
                &contacts,
                None,
            )
            .await?;
            log_changes(&mut tx, tenant, &created, now).await?;
            out.customers_created = created.len() as u64;
        }

        // Products: create the missing, update what the file describes differently.
        let product_ids = self
            .upsert_products(&mut tx, tenant, products, &mut out)
            .await?;

        // Orders: unchanged, replaced or new.
        let mut new_orders = Vec::new();
        for (i, o) in orders.iter().enumerate() {
            if refused.contains(&i) {
                continue;
            }
            let Some(&cid) = customer_ids.get(&o.customer) else {
                out.refused
                    .push((i, "its customer could not be created".into()));
                continue;
            };
            let lines: Vec<(i64, f64, i64)> = o
                .lines
                .iter()
                .map(|l| {
                    (
                        product_ids.get(&l.sku).copied().unwrap_or(0),
                        l.quantity,
                        l.unit_price_minor,
                    )
                })
                .collect();
            match stored.get(&o.external_id) {
                Some(s)
                    if s.ordered_at == o.ordered_at
                        && s.status == o.status
                        && s.currency == o.currency
                        && s.total_minor == o.total_minor
                        && s.lines == lines =>
                {
                    out.unchanged += 1;
                }
                Some(s) => {
                    sqlx::query(
                        "UPDATE orders SET ordered_at = $3, status = $4, currency = $5, \
                         total_minor = $6 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(s.id)
                    .bind(o.ordered_at)
                    .bind(&o.status)
                    .bind(&o.currency)
                    .bind(o.total_minor)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM order_lines WHERE tenant_id = $1 AND order_id = $2")
                        .bind(tenant.0)
                        .bind(s.id)
                        .execute(&mut *tx)
                        .await?;
                    let rows = line_rows(tenant, s.id, cid, o, &product_ids);
                    out.lines_written += rows.len() as u64;
                    insert_rows(&mut tx, "order_lines", LINE_COLUMNS, &rows, None).await?;
                    out.updated += 1;
                }
                None => new_orders.push((o, cid)),
            }
        }
        if !new_orders.is_empty() {
            let rows: Vec<Vec<Val>> = new_orders
                .iter()
                .map(|(o, cid)| {
                    vec![
                        tenant.0.into(),
                        o.external_id.clone().into(),
                        (*cid).into(),
                        o.ordered_at.into(),
                        o.status.clone().into(),
                        o.currency.clone().into(),
                        o.total_minor.into(),
                    ]
                })
                .collect();
            let ret = insert_rows(
                &mut tx,
                "orders",
                crate::bulk::ORDERS_COLUMNS,
                &rows,
                Some("id, external_id"),
            )
            .await?;
            let mut ids = HashMap::with_capacity(ret.len());
            for r in &ret {
                let (id, key) = crate::bulk::id_and_key(r)?;
                ids.insert(key, id);
            }
            let mut lines = Vec::new();
            for (o, cid) in &new_orders {
                let oid = ids.get(&o.external_id).copied().unwrap_or(0);
                lines.extend(line_rows(tenant, oid, *cid, o, &product_ids));
            }
            out.lines_written += lines.len() as u64;
            insert_rows(&mut tx, "order_lines", LINE_COLUMNS, &lines, None).await?;
            out.imported = new_orders.len() as u64;
        }
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(out)
    }

    async fn stored_orders(
        &self,
        tx: &mut AnyConnection,
        tenant: TenantId,
        keys: &[&str],
    ) -> Result<HashMap<String, StoredOrder>> {
        let mut out: HashMap<String, StoredOrder> = HashMap::new();
        let rows = rows_by_keys(
            tx,
            tenant,
            "SELECT id, external_id, customer_id, ordered_at, status, currency, total_minor \
             FROM orders",
            "external_id",
            keys,
        )
        .await?;
        for r in rows {
            out.insert(
                r.try_get("external_id")?,
                StoredOrder {
                    id: r.try_get("id")?,
                    customer_id: r.try_get("customer_id")?,
                    ordered_at: r.try_get("ordered_at")?,
                    status: r.try_get("status")?,
                    currency: r.try_get("currency")?,
                    total_minor: r.try_get("total_minor")?,
                    lines: Vec::new(),
                },
            );
        }
        if out.is_empty() {
            return Ok(out);
        }
        let by_id: HashMap<i64, String> = out.iter().map(|(k, o)| (o.id, k.clone())).collect();
        let ids: Vec<i64> = by_id.keys().copied().collect();
        for chunk in ids.chunks(5_000) {
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            // Ids are integers read from the database, so the list needs no quoting.
            // `+tenant_id` keeps SQLite on the order-id index instead of reading the tenant's
            // whole range of another index (the ids already come from a tenant-scoped read).
            let sql = format!(
                "SELECT order_id, product_id, quantity, unit_price_minor FROM order_lines \
                 WHERE order_id IN ({list}) AND +tenant_id = $1 ORDER BY order_id, id"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant.0)
                .fetch_all(&mut *tx)
                .await?;
            for r in rows {
                let oid: i64 = r.try_get(0)?;
                if let Some(o) = by_id.get(&oid).and_then(|k| out.get_mut(k)) {
                    o.lines.push((r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
                }
            }
        }
        Ok(out)
    }

    async fn upsert_products(
        &self,
        tx: &mut AnyConnection,
        tenant: TenantId,
        products: &[ProductSpec],
        out: &mut OrderBatchOutcome,
    ) -> Result<HashMap<String, i64>> {
        let mut ids = HashMap::with_capacity(products.len());
        let mut stored: HashMap<String, (i64, ProductInfo)> = HashMap::new();
        let skus: Vec<&str> = products.iter().map(|p| p.sku.as_str()).collect();
        let rows = rows_by_keys(
            tx,
            tenant,
            "SELECT id, sku, name, category, unit, pack_size FROM products",
            "sku",
            &skus,
        )
        .await?;
        for r in rows {
            stored.insert(
                r.try_get("sku")?,
                (
                    r.try_get("id")?,
                    ProductInfo {
                        name: r.try_get("name")?,
                        category: r.try_get("category")?,
                        unit: r.try_get("unit")?,
                        pack_size: r.try_get("pack_size")?,
                    },
                ),
            );
        }
        let mut new = Vec::new();
        for p in products {
            match stored.get(&p.sku) {
                Some((id, have)) => {
                    ids.insert(p.sku.clone(), *id);
                    let want = ProductInfo {
                        name: p.info.name.clone().or_else(|| have.name.clone()),
                        category: p.info.category.clone().or_else(|| have.category.clone()),
                        unit: p.info.unit.clone().or_else(|| have.unit.clone()),
                        pack_size: p.info.pack_size.or(have.pack_size),
                    };
                    if &want != have {
                        sqlx::query(
                            "UPDATE products SET name = $3, category = $4, unit = $5, \
                             pack_size = $6 WHERE tenant_id = $1 AND id = $2",
                        )
                        .bind(tenant.0)
                        .bind(*id)
                        .bind(want.name.as_deref().unwrap_or(&p.sku))
                        .bind(want.category.as_deref())
                        .bind(want.unit.as_deref())
                        .bind(want.pack_size)
                        .execute(&mut *tx)
                        .await?;
                        out.products_updated += 1;
                    }
                }
                None => new.push(p),
            }
        }
        if !new.is_empty() {
            let rows: Vec<Vec<Val>> = new
                .iter()
                .map(|p| {
                    vec![
                        tenant.0.into(),
                        p.sku.clone().into(),
                        p.info.name.clone().unwrap_or_else(|| p.sku.clone()).into(),
                        p.info.category.clone().into(),
                        p.info.unit.clone().into(),
                        p.info.pack_size.into(),
                        p.price_minor.into(),
                        p.currency.clone().into(),
                    ]
                })
                .collect();
            let ret = insert_rows(
                tx,
                "products",
                &[
                    "tenant_id",
                    "sku",
                    "name",
                    "category",
                    "unit",
                    "pack_size",
                    "price_minor",
                    "currency",
                ],
                &rows,
                Some("id, sku"),
            )
            .await?;
            for r in &ret {
                let (id, sku) = crate::bulk::id_and_key(r)?;
                ids.insert(sku, id);
            }
            out.products_created += new.len() as u64;
        }
        Ok(ids)
    }

    /// Writes one batch of customers in one transaction: new external ids are created, known
    /// ones get the fields the file gives (empty fields leave a value alone; the email and
    /// phone become the primary ones, earlier ones stay as secondary; tags are added).
    /// A changed customer gets a `profile` timeline event naming the fields.
    pub async fn import_customer_batch(
        &self,
        tenant: TenantId,
        rows: &[CustomerRecord],
        dry_run: bool,
        now: i64,
    ) -> Result<CustomerBatchOutcome> {
        let mut out = CustomerBatchOutcome::default();
        let mut tx = self.begin_pool_tx().await?;
        let ext: Vec<&str> = rows.iter().map(|c| c.external_id.as_str()).collect();
        // A known external id leads to its customer, or — when that customer was merged into
        // another — to the surviving customer, which is the one the row updates (a merged
        // customer is a tombstone: nothing is written to it).
        let resolved = customer_ids_by_external(&mut tx, tenant, &ext).await?;
        let mut survivors: Vec<i64> = resolved.values().copied().collect();
        survivors.sort_unstable();
        survivors.dedup();
        let mut fields_of: HashMap<i64, [Option<String>; 7]> = HashMap::new();
        let mut erased: HashSet<i64> = HashSet::new();
        for chunk in survivors.chunks(5_000) {
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            // Integer ids read from the database: nothing to quote.
            let sql = format!(
                "SELECT id, display_name, given_name, family_name, birthday, language, \
                 time_zone, preferred_channel, erased_at FROM customers \
                 WHERE id IN ({list}) AND +tenant_id = $1"
            );
            for r in sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant.0)
                .fetch_all(&mut *tx)
                .await?
            {
                let id: i64 = r.try_get("id")?;
                if r.try_get::<Option<i64>, _>("erased_at")?.is_some() {
                    erased.insert(id);
                }
                fields_of.insert(
                    id,
                    [
                        Some(r.try_get("display_name")?),
                        r.try_get("given_name")?,
                        r.try_get("family_name")?,
                        r.try_get("birthday")?,
                        r.try_get("language")?,
                        r.try_get("time_zone")?,
                        r.try_get("preferred_channel")?,
                    ],
                );
            }
        }
        let mut stored: HashMap<String, (i64, [Option<String>; 7])> = HashMap::new();
        for (key, id) in &resolved {
            if erased.contains(id) {
                // Personal data never goes back onto an erased customer.
                out.erased.push(key.clone());
            } else if let Some(f) = fields_of.get(id) {
                stored.insert(key.clone(), (*id, f.clone()));
            }
        }
        // Contacts (email, phone) and tags of the known customers.
        let known: Vec<i64> = stored.values().map(|s| s.0).collect();
        let mut contacts: HashMap<i64, Vec<(String, String, bool)>> = HashMap::new();
        let mut tags: HashMap<i64, HashSet<String>> = HashMap::new();
        for chunk in known.chunks(5_000) {
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            // Integer ids read from the database: nothing to quote.
            let sql = format!(
                "SELECT customer_id, kind, normalized, is_primary FROM customer_contacts \
                 WHERE customer_id IN ({list}) AND +tenant_id = $1 AND kind IN ('email', 'phone')"
            );
            for r in sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant.0)
                .fetch_all(&mut *tx)
                .await?
            {
                contacts.entry(r.try_get(0)?).or_default().push((
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get::<i16, _>(3)? != 0,
                ));
            }
            let sql = format!(
                "SELECT customer_id, tag FROM customer_tags \
                 WHERE customer_id IN ({list}) AND +tenant_id = $1"
            );
            for r in sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant.0)
                .fetch_all(&mut *tx)
                .await?
            {
                tags.entry(r.try_get(0)?).or_default().insert(r.try_get(1)?);
            }
        }

        // New customers, in bulk.
        let new: Vec<&CustomerRecord> = rows
            .iter()
            .filter(|c| !resolved.contains_key(&c.external_id))
            .collect();
        let mut changed_ids = Vec::new();
        if !new.is_empty() {
            let crow: Vec<Vec<Val>> = new
                .iter()
                .map(|c| {
                    vec![
                        tenant.0.into(),
                        c.external_id.clone().into(),
                        c.name.clone().into(),
                        name_key(&c.name).into(),
                        c.given_name.clone().into(),
                        c.family_name.clone().into(),
                        c.birthday.clone().into(),
                        c.language.clone().into(),
                        c.time_zone.clone().into(),
                        c.preferred_channel.clone().into(),
                        now.into(),
                        now.into(),
                    ]
                })
                .collect();
            let ret = insert_rows(
                &mut tx,
                "customers",
                &[
                    "tenant_id",
                    "external_id",
                    "display_name",
                    "sort_name",
                    "given_name",
                    "family_name",
                    "birthday",
                    "language",
                    "time_zone",
                    "preferred_channel",
                    "created_at",
                    "updated_at",
                ],
                &crow,
                Some("id, external_id"),
            )
            .await?;
            let mut ids = HashMap::new();
            for r in &ret {
                let (id, key) = crate::bulk::id_and_key(r)?;
                ids.insert(key, id);
                changed_ids.push(id);
            }
            let mut contact_rows = Vec::new();
            let mut tag_rows = Vec::new();
            for c in &new {
                let Some(&id) = ids.get(&c.external_id) else {
                    continue;
                };
                for (kind, v) in [("email", &c.email), ("phone", &c.phone)] {
                    if let Some((value, normalized)) = v {
                        contact_rows.push(vec![
                            tenant.0.into(),
                            id.into(),
                            kind.into(),
                            value.clone().into(),
                            normalized.clone().into(),
                            true.into(),
                            false.into(),
                            now.into(),
                        ]);
                    }
                }
                for t in &c.tags {
                    tag_rows.push(vec![
                        tenant.0.into(),
                        id.into(),
                        t.clone().into(),
                        now.into(),
                    ]);
                }
            }
            insert_rows(
                &mut tx,
                "customer_contacts",
                CONTACT_COLUMNS,
                &contact_rows,
                None,
            )
            .await?;
            insert_rows(
                &mut tx,
                "customer_tags",
                &["tenant_id", "customer_id", "tag", "created_at"],
                &tag_rows,
                None,
            )
            .await?;
            out.created = new.len() as u64;
        }

        // Known customers: only what differs.
        const COLUMNS: [&str; 7] = [
            "display_name",
            "given_name",
            "family_name",
            "birthday",
            "language",
            "time_zone",
            "preferred_channel",
        ];
        const FIELDS: [&str; 7] = [
            "name",
            "given_name",
            "family_name",
            "birthday",
            "language",
            "time_zone",
            "preferred_channel",
        ];
        for c in rows {
            let Some((id, have)) = stored.get(&c.external_id) else {
                continue;
            };
            let id = *id;
            let want: [Option<&String>; 7] = [
                Some(&c.name),
                c.given_name.as_ref(),
                c.family_name.as_ref(),
                c.birthday.as_ref(),
                c.language.as_ref(),
                c.time_zone.as_ref(),
                c.preferred_channel.as_ref(),
            ];
            let mut fields: Vec<&str> = Vec::new();
            for i in 0..7 {
                let Some(v) = want[i] else { continue };
                if have[i].as_ref() == Some(v) {
                    continue;
                }
                // `COLUMNS` is a fixed list, never input.
                let sql = format!(
                    "UPDATE customers SET {} = $3 WHERE tenant_id = $1 AND id = $2",
                    COLUMNS[i]
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(tenant.0)
                    .bind(id)
                    .bind(v)
                    .execute(&mut *tx)
                    .await?;
                if i == 0 {
                    sqlx::query(
                        "UPDATE customers SET sort_name = $3 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(id)
                    .bind(name_key(v))
                    .execute(&mut *tx)
                    .await?;
                }
                fields.push(FIELDS[i]);
            }
            let have_contacts = contacts.get(&id).cloned().unwrap_or_default();
            for (kind, v) in [("email", &c.email), ("phone", &c.phone)] {
                let Some((value, normalized)) = v else {
                    continue;
                };
                let current = have_contacts
                    .iter()
                    .find(|(k, n, _)| k == kind && n == normalized);
                if matches!(current, Some((_, _, true))) {
                    continue;
                }
                sqlx::query(
                    "UPDATE customer_contacts SET is_primary = 0 \
                     WHERE tenant_id = $1 AND customer_id = $2 AND kind = $3",
                )
                .bind(tenant.0)
                .bind(id)
                .bind(kind)
                .execute(&mut *tx)
                .await?;
                if current.is_some() {
                    sqlx::query(
                        "UPDATE customer_contacts SET is_primary = 1 WHERE tenant_id = $1 \
                         AND customer_id = $2 AND kind = $3 AND normalized = $4",
                    )
                    .bind(tenant.0)
                    .bind(id)
                    .bind(kind)
                    .bind(normalized)
                    .execute(&mut *tx)
                    .await?;
                } else {
                    insert_rows(
                        &mut tx,
                        "customer_contacts",
                        CONTACT_COLUMNS,
                        &[vec![
                            tenant.0.into(),
                            id.into(),
                            kind.into(),
                            value.clone().into(),
                            normalized.clone().into(),
                            true.into(),
                            false.into(),
                            now.into(),
                        ]],
                        None,
                    )
                    .await?;
                }
                fields.push(if kind == "email" { "email" } else { "phone" });
            }
            let have_tags = tags.get(&id);
            let mut added = false;
            for t in &c.tags {
                if have_tags.is_some_and(|h| h.contains(t)) {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO customer_tags (tenant_id, customer_id, tag, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id, tag) DO NOTHING",
                )
                .bind(tenant.0)
                .bind(id)
                .bind(t)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                added = true;
            }
            if added {
                fields.push("tags");
            }
            if fields.is_empty() {
                out.unchanged += 1;
                continue;
            }
            sqlx::query("UPDATE customers SET updated_at = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let summary = serde_json::json!({ "fields": fields, "source": "import" }).to_string();
            sqlx::query(
                "INSERT INTO timeline_events (tenant_id, customer_id, kind, at, summary) \
                 VALUES ($1, $2, 'profile', $3, $4)",
            )
            .bind(tenant.0)
            .bind(id)
            .bind(now)
            .bind(summary)
            .execute(&mut *tx)
            .await?;
            changed_ids.push(id);
            out.updated += 1;
        }
        log_changes(&mut tx, tenant, &changed_ids, now).await?;
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(out)
    }
}

const LINE_COLUMNS: &[&str] = &[
    "tenant_id",
    "order_id",
    "customer_id",
    "product_id",
    "quantity",
    "unit_price_minor",
    "amount_minor",
    "ordered_at",
];

const CONTACT_COLUMNS: &[&str] = &[
    "tenant_id",
    "customer_id",
    "kind",
    "value",
    "normalized",
    "is_primary",
    "verified",
    "created_at",
];

fn line_rows(
    tenant: TenantId,
    order_id: i64,
    customer_id: i64,
    o: &OrderSpec,
    product_ids: &HashMap<String, i64>,
) -> Vec<Vec<Val>> {
    o.lines
        .iter()
        .map(|l| {
            vec![
                tenant.0.into(),
                order_id.into(),
                customer_id.into(),
                product_ids.get(&l.sku).copied().unwrap_or(0).into(),
                l.quantity.into(),
                l.unit_price_minor.into(),
                l.amount_minor.into(),
                o.ordered_at.into(),
            ]
        })
        .collect()
}
