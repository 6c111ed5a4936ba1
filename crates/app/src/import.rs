//! CSV imports of orders and customers (issue 3, item 5), shared by `concierge import` and
//! `POST /api/v1/imports/...`.
//!
//! An import reads its input twice. The first pass checks every row (columns, encoding,
//! dates, amounts, sizes) and decides which orders cannot be imported whole; nothing is
//! written. The second pass writes the good orders in transactional batches of
//! [`ORDERS_PER_BATCH`] orders (customers: [`CUSTOMERS_PER_BATCH`] rows), so an order is
//! never half imported: its lines land together or not at all.
//!
//! What the report says:
//! - **Orders.** One row per order line; the lines of an order are adjacent and agree on
//!   `customer_id`, `ordered_at`, `currency` and `status`. An order with any bad line is
//!   rejected whole: each bad line is listed with its reason and every other line of the order
//!   as "not imported". Orders are keyed by their `order_id`: one already stored with the same
//!   lines is *unchanged*, one stored with other lines or status is *updated* (its lines are
//!   replaced), one stored for another customer is rejected. Unknown customers (by external
//!   id) are created with the `customer_name` and `customer_email` of their rows; known ones
//!   are not changed by an orders import. Products are created or updated by SKU. Orders
//!   appear on the customer's timeline (read from the orders table, so exactly once) and
//!   feed analytics like any other order; returned orders do not count as purchases.
//! - **Customers.** One row per customer, keyed by `customer_id` (the external id); a
//!   repeated id rejects every row with it. Known customers get the non-empty fields of their
//!   row (a change is recorded on their timeline); identical rows are *unchanged*. The id
//!   of a customer merged into another updates the surviving customer (never the merged
//!   tombstone); one that leads to an erased customer is rejected.
//!
//! Importing the same file again changes nothing and reports everything as unchanged.

use crate::App;
use concierge_domain::TenantId;
use concierge_domain::customer::preview;
use concierge_domain::import::{
    CUSTOMER_OPTIONAL, CUSTOMER_REQUIRED, CsvSource, CustomerRecord, FileError, KeyScan,
    ORDER_OPTIONAL, ORDER_REQUIRED, OrderDefaults, OrderLine, OrderScan, OrderStatus, RawRow,
    Rejected, currency_code, parse_customer, parse_order_line,
};
use concierge_store::imports::{CustomerRef, LineSpec, OrderBatchOutcome, OrderSpec, ProductSpec};
use concierge_store::{AuditEntry, StoreError};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// Orders written per transaction (about 10,000 lines: a commit per batch is a sync to disk,
/// so fewer, larger transactions keep the import near the speed of a bare bulk insert).
pub const ORDERS_PER_BATCH: usize = 5_000;
/// Customers written per transaction.
pub const CUSTOMERS_PER_BATCH: usize = 1_000;
/// Currency of rows without one, unless the caller names another.
pub const DEFAULT_CURRENCY: &str = "USD";

/// Where the CSV comes from. It is read twice (check, then write).
#[derive(Debug, Clone, Copy)]
pub enum ImportInput<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

impl<'a> ImportInput<'a> {
    fn open(&self) -> Result<Box<dyn Read + Send + 'a>, ImportError> {
        match *self {
            ImportInput::Bytes(b) => Ok(Box::new(b)),
            ImportInput::File(p) => {
                let f = std::fs::File::open(p).map_err(|e| {
                    ImportError::Invalid(format!("cannot open {}: {e}", p.display()))
                })?;
                Ok(Box::new(std::io::BufReader::with_capacity(1 << 16, f)))
            }
        }
    }

    /// Size in bytes, for progress.
    pub fn len(&self) -> u64 {
        match *self {
            ImportInput::Bytes(b) => b.len() as u64,
            ImportInput::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Currency of order rows without one (ISO 4217); default [`DEFAULT_CURRENCY`].
    pub currency: Option<String>,
    /// Decide everything, report it, and write nothing.
    pub dry_run: bool,
    /// Who imports (for the audit trail); `None` for the command line.
    pub actor: Option<i64>,
}

/// The pass an import is in, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Checking,
    Writing,
}

/// What an import did. Counts are orders (or customers); `rejected` lists every row that was
/// not imported, by line.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// Data rows read (the header not counted).
    pub rows: u64,
    pub imported: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Order lines written (new and replaced orders).
    pub lines_written: u64,
    pub customers_created: u64,
    pub products_created: u64,
    pub products_updated: u64,
    pub rejected: Vec<Rejected>,
    pub dry_run: bool,
}

/// Why an import did not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file as a whole is unusable; nothing was imported.
    #[error("{0}")]
    File(#[from] FileError),
    #[error("{0}")]
    Invalid(String),
    /// The database failed before anything was written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database failed part-way: the batches before `line` are stored.
    #[error(
        "the import stopped at line {line} ({committed} committed before; importing the file \
         again finishes it, what is stored counts as unchanged): {source}"
    )]
    Interrupted {
        line: u64,
        committed: u64,
        #[source]
        source: StoreError,
    },
}

fn reject(rejected: &mut Vec<Rejected>, line: u64, what: &str, reason: String) {
    rejected.push(Rejected {
        line,
        reason: format!("{what}: {reason}"),
    });
}

/// One order gathered from adjacent lines.
struct Pending {
    key: u64,
    lines: Vec<(u64, OrderLine)>,
}

/// Orders waiting to be written.
#[derive(Default)]
struct Batch {
    orders: Vec<Pending>,
}

impl App {
    /// Imports an orders CSV into `tenant`. See the module documentation for the rules.
    pub async fn import_orders(
        &self,
        tenant: TenantId,
        input: ImportInput<'_>,
        opts: &ImportOptions,
        progress: &(dyn Fn(Stage, u64, u64) + Sync),
    ) -> Result<ImportReport, ImportError> {
        let currency = match &opts.currency {
            Some(c) => currency_code(c).map_err(ImportError::Invalid)?,
            None => DEFAULT_CURRENCY.to_string(),
        };
        let d = OrderDefaults {
            currency,
            status: OrderStatus::Paid,
            now_ms: self.now(),
        };
        let total = input.len();
        let mut report = ImportReport {
            dry_run: opts.dry_run,
            ..ImportReport::default()
        };

        // Pass 1: check everything.
        let mut src = CsvSource::new(input.open()?, ORDER_REQUIRED, ORDER_OPTIONAL)?;
        let layout = src.layout().clone();
        let mut scan = OrderScan::new();
        let mut row = RawRow::default();
        while src.next_row(&mut row)? {
            report.rows += 1;
            let parsed = parse_order_line(&row, &layout, &d);
            if let Some(why) = scan.row(row.line, row.key(&layout, "order_id"), &parsed) {
                let what = format!("order {}", row.shown(&layout, "order_id"));
                reject(&mut report.rejected, row.line, &what, why);
            }
            if report.rows.is_multiple_of(4096) {
                progress(Stage::Checking, src.bytes_read(), total);
            }
        }
        progress(Stage::Checking, total, total);
        let checked: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();

        // Pass 2: write the good orders in batches.
        let mut src = CsvSource::new(input.open()?, ORDER_REQUIRED, ORDER_OPTIONAL)?;
        let mut batch = Batch::default();
        let mut current: Option<Pending> = None;
        let mut inflight: Option<InFlight> = None;
        let mut batches = 0u32;
        let mut n = 0u64;
        while src.next_row(&mut row)? {
            n += 1;
            let Some(key) = row.key(&layout, "order_id") else {
                continue;
            };
            if let Some(bad) = scan.bad_line(key) {
                if checked.binary_search(&row.line).is_err() {
                    reject(
                        &mut report.rejected,
                        row.line,
                        &format!("order {}", row.shown(&layout, "order_id")),
                        format!("not imported because the order has a bad line (line {bad})"),
                    );
                }
                continue;
            }
            let Ok(line) = parse_order_line(&row, &layout, &d) else {
                continue;
            };
            match &mut current {
                Some(p) if p.key == key => p.lines.push((row.line, line)),
                _ => {
                    if let Some(p) = current.take() {
                        batch.orders.push(p);
                        if batch.orders.len() >= ORDERS_PER_BATCH {
                            // One batch is written while the next one is read: the previous
                            // write must have finished (batches commit in file order).
                            if let Some(w) = inflight.take() {
                                finish_write(w.await, &mut report)?;
                                self.after_batch(&mut batches).await;
                            }
                            inflight = Some(self.start_write(tenant, &mut batch, &scan, opts));
                        }
                    }
                    current = Some(Pending {
                        key,
                        lines: vec![(row.line, line)],
                    });
                }
            }
            if n.is_multiple_of(4096) {
                progress(Stage::Writing, src.bytes_read(), total);
            }
        }
        if let Some(p) = current.take() {
            batch.orders.push(p);
        }
        if let Some(w) = inflight.take() {
            finish_write(w.await, &mut report)?;
        }
        let last = self.start_write(tenant, &mut batch, &scan, opts);
        finish_write(last.await, &mut report)?;
        progress(Stage::Writing, total, total);
        report.rejected.sort_by_key(|r| r.line);
        self.audit_import(tenant, "import.orders", opts, &report)
            .await?;
        Ok(report)
    }

    /// Starts writing `batch` (emptying it) in a task of its own, so that the caller can read
    /// the next batch meanwhile; [`finish_write`] takes the outcome into the report.
    fn start_write(
        &self,
        tenant: TenantId,
        batch: &mut Batch,
        scan: &OrderScan,
        opts: &ImportOptions,
    ) -> InFlight {
        let pending = std::mem::take(&mut batch.orders);
        let mut customers: Vec<CustomerRef> = Vec::new();
        let mut customer_at: HashMap<String, usize> = HashMap::new();
        let mut products: Vec<ProductSpec> = Vec::new();
        let mut product_at: HashMap<String, usize> = HashMap::new();
        let mut orders = Vec::with_capacity(pending.len());
        for p in &pending {
            let Some((_, first)) = p.lines.first() else {
                continue;
            };
            for (_, l) in &p.lines {
                let i = *customer_at.entry(l.customer_id.clone()).or_insert_with(|| {
                    customers.push(CustomerRef {
                        external_id: l.customer_id.clone(),
                        name: None,
                        email: None,
                    });
                    customers.len() - 1
                });
                if let Some(c) = customers.get_mut(i) {
                    if c.name.is_none() {
                        c.name.clone_from(&l.customer_name);
                    }
                    if c.email.is_none() {
                        c.email.clone_from(&l.customer_email);
                    }
                }
                product_at.entry(l.sku.clone()).or_insert_with(|| {
                    products.push(ProductSpec {
                        sku: l.sku.clone(),
                        info: scan.product(&l.sku).cloned().unwrap_or_default(),
                        price_minor: l.unit_price_minor,
                        currency: l.currency.clone(),
                    });
                    products.len() - 1
                });
            }
            orders.push(OrderSpec {
                external_id: first.order_id.clone(),
                customer: first.customer_id.clone(),
                ordered_at: first.ordered_at,
                status: first.status.as_str().to_string(),
                currency: first.currency.clone(),
                total_minor: p
                    .lines
                    .iter()
                    .fold(0i64, |t, (_, l)| t.saturating_add(l.amount_minor)),
                lines: p
                    .lines
                    .iter()
                    .map(|(_, l)| LineSpec {
                        sku: l.sku.clone(),
                        quantity: l.quantity,
                        unit_price_minor: l.unit_price_minor,
                        amount_minor: l.amount_minor,
                    })
                    .collect(),
            });
        }
        let store = self.store.clone();
        let dry_run = opts.dry_run;
        let now = self.now();
        tokio::spawn(async move {
            let out = if orders.is_empty() {
                Ok(OrderBatchOutcome::default())
            } else {
                store
                    .import_order_batch(tenant, &customers, &products, &orders, dry_run, now)
                    .await
            };
            (out, pending)
        })
    }

    /// Imports a customers CSV into `tenant`. See the module documentation for the rules.
    pub async fn import_customers(
        &self,
        tenant: TenantId,
        input: ImportInput<'_>,
        opts: &ImportOptions,
        progress: &(dyn Fn(Stage, u64, u64) + Sync),
    ) -> Result<ImportReport, ImportError> {
        let total = input.len();
        let mut report = ImportReport {
            dry_run: opts.dry_run,
            ..ImportReport::default()
        };
        let check = |row: &RawRow, layout| {
            let zone = match row.text(layout, "time_zone") {
                Ok(Some(z)) if z.len() <= 64 && jiff::tz::TimeZone::get(z).is_err() => {
                    Some(format!(
                        "time_zone {} is not a time zone (use an IANA name such as Asia/Seoul)",
                        preview(z, 40)
                    ))
                }
                _ => None,
            };
            match (parse_customer(row, layout), zone) {
                (Ok(c), None) => Ok(c),
                (Ok(_), Some(z)) => Err(z),
                (Err(e), None) => Err(e),
                (Err(e), Some(z)) => Err(format!("{e}; {z}")),
            }
        };

        // Pass 1: check every row and find repeated ids.
        let mut src = CsvSource::new(input.open()?, CUSTOMER_REQUIRED, CUSTOMER_OPTIONAL)?;
        let layout = src.layout().clone();
        let mut scan = KeyScan::new();
        let mut row = RawRow::default();
        while src.next_row(&mut row)? {
            report.rows += 1;
            let what = format!("customer {}", row.shown(&layout, "customer_id"));
            let repeated = scan.row(row.line, row.key(&layout, "customer_id"));
            let reason = match (check(&row, &layout), repeated) {
                (Ok(_), None) => None,
                (Err(e), None) => Some(e),
                (Ok(_), Some(r)) => Some(r),
                (Err(e), Some(r)) => Some(format!("{e}; {r}")),
            };
            if let Some(why) = reason {
                reject(&mut report.rejected, row.line, &what, why);
            }
            if report.rows.is_multiple_of(4096) {
                progress(Stage::Checking, src.bytes_read(), total);
            }
        }
        progress(Stage::Checking, total, total);
        let checked: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();

        // Pass 2: write in batches.
        let mut src = CsvSource::new(input.open()?, CUSTOMER_REQUIRED, CUSTOMER_OPTIONAL)?;
        let mut batch: Vec<CustomerRecord> = Vec::new();
        let mut lines: Vec<u64> = Vec::new();
        let mut batches = 0u32;
        let mut n = 0u64;
        while src.next_row(&mut row)? {
            n += 1;
            if checked.binary_search(&row.line).is_ok() {
                continue;
            }
            let key = row.key(&layout, "customer_id");
            if let Some(again) = key.and_then(|k| scan.repeated(k)) {
                reject(
                    &mut report.rejected,
                    row.line,
                    &format!("customer {}", row.shown(&layout, "customer_id")),
                    format!(
                        "not imported because its customer_id is repeated on line {again}; \
                         each customer must appear once"
                    ),
                );
                continue;
            }
            let Ok(c) = check(&row, &layout) else {
                continue;
            };
            batch.push(c);
            lines.push(row.line);
            if batch.len() >= CUSTOMERS_PER_BATCH {
                self.write_customers(tenant, &mut batch, &mut lines, opts, &mut report)
                    .await
                    .map_err(|e| interrupted(e, row.line, &report))?;
                self.after_batch(&mut batches).await;
            }
            if n.is_multiple_of(4096) {
                progress(Stage::Writing, src.bytes_read(), total);
            }
        }
        self.write_customers(tenant, &mut batch, &mut lines, opts, &mut report)
            .await
            .map_err(|e| interrupted(e, row.line, &report))?;
        progress(Stage::Writing, total, total);
        report.rejected.sort_by_key(|r| r.line);
        self.audit_import(tenant, "import.customers", opts, &report)
            .await?;
        Ok(report)
    }

    /// Counts a written batch and, after batches 1, 2, 4, 8, ..., renews the planner's
    /// statistics of the tables the import grows (a few seconds in all at 10 million rows),
    /// so lookups keep using the right index as the tables grow. A failure (e.g. no
    /// permission to ANALYZE) is logged, not fatal.
    async fn after_batch(&self, batches: &mut u32) {
        *batches = batches.saturating_add(1);
        if batches.is_power_of_two()
            && let Err(e) = self
                .store
                .refresh_statistics(concierge_store::imports::IMPORT_TABLES)
                .await
        {
            tracing::warn!(error = %e, "could not renew the planner statistics during an import");
        }
    }

    async fn write_customers(
        &self,
        tenant: TenantId,
        batch: &mut Vec<CustomerRecord>,
        lines: &mut Vec<u64>,
        opts: &ImportOptions,
        report: &mut ImportReport,
    ) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let out = self
            .store
            .import_customer_batch(tenant, batch, opts.dry_run, self.now())
            .await?;
        report.imported += out.created;
        report.customers_created += out.created;
        report.updated += out.updated;
        report.unchanged += out.unchanged;
        for (c, line) in batch.iter().zip(lines.iter()) {
            if out.erased.contains(&c.external_id) {
                reject(
                    &mut report.rejected,
                    *line,
                    &format!("customer {}", preview(&c.external_id, 40)),
                    "this customer's personal data was erased; an import does not bring it \
                     back"
                        .into(),
                );
            }
        }
        batch.clear();
        lines.clear();
        Ok(())
    }

    async fn audit_import(
        &self,
        tenant: TenantId,
        action: &str,
        opts: &ImportOptions,
        report: &ImportReport,
    ) -> Result<(), StoreError> {
        if opts.dry_run || report.imported + report.updated == 0 {
            return Ok(());
        }
        let detail = serde_json::json!({
            "rows": report.rows,
            "imported": report.imported,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected": report.rejected.len(),
        });
        self.store
            .audit(
                tenant,
                &AuditEntry {
                    actor_kind: if opts.actor.is_some() {
                        "user"
                    } else {
                        "system"
                    },
                    actor_id: opts.actor,
                    action,
                    subject_kind: "import",
                    detail: detail.to_string(),
                    ..Default::default()
                },
                self.now(),
            )
            .await
    }
}

/// A batch being written, and its orders (for the line numbers of refused ones).
type InFlight = tokio::task::JoinHandle<(Result<OrderBatchOutcome, StoreError>, Vec<Pending>)>;

/// Takes a finished batch write into the report; a failed write stops the import at the
/// batch's first line.
fn finish_write(
    joined: Result<(Result<OrderBatchOutcome, StoreError>, Vec<Pending>), tokio::task::JoinError>,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let (out, pending) = joined.map_err(|e| {
        ImportError::Store(StoreError::Other(format!("the batch writer failed: {e}")))
    })?;
    let first_line = pending
        .first()
        .and_then(|p| p.lines.first())
        .map_or(0, |(line, _)| *line);
    let out = out.map_err(|e| interrupted(e, first_line, report))?;
    report.imported += out.imported;
    report.updated += out.updated;
    report.unchanged += out.unchanged;
    report.lines_written += out.lines_written;
    report.customers_created += out.customers_created;
    report.products_created += out.products_created;
    report.products_updated += out.products_updated;
    for (i, why) in out.refused {
        if let Some(p) = pending.get(i) {
            for (line, l) in &p.lines {
                reject(
                    &mut report.rejected,
                    *line,
                    &format!("order {}", preview(&l.order_id, 40)),
                    why.clone(),
                );
            }
        }
    }
    Ok(())
}

fn interrupted(e: StoreError, line: u64, report: &ImportReport) -> ImportError {
    let committed = if report.dry_run {
        0
    } else {
        report.imported + report.updated
    };
    if committed == 0 {
        ImportError::Store(e)
    } else {
        ImportError::Interrupted {
            line,
            committed,
            source: e,
        }
    }
}
