//! `concierge bench cases`, `concierge bench search` and `concierge bench import` (`bench
//! ingest` is in `bench_ingest`): time the
//! case work, search and the orders CSV import on a workspace's database, generating data
//! first. Figures are printed as rates and percentiles; nothing here asserts a speed (that is
//! for people to read).

use crate::Global;
use anyhow::{Context, anyhow};
use concierge_app::App;
use concierge_app::cases::{Actor, CustomerRef, NewCaseInput, View};
use concierge_domain::{CaseId, Role, TenantId};
use concierge_search::SearchRequest;
use std::time::Instant;

/// A small deterministic generator, so runs pick the same cases.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Sorted samples in milliseconds.
pub(crate) struct Samples(pub(crate) Vec<f64>);

impl Samples {
    fn pct(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let i = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        self.0[i.min(self.0.len() - 1)]
    }
    pub(crate) fn line(&self, what: &str) {
        println!(
            "  {what:<28} n={:<6} p50 {:>8.2} ms   p95 {:>8.2} ms   p99 {:>8.2} ms",
            self.0.len(),
            self.pct(50.0),
            self.pct(95.0),
            self.pct(99.0)
        );
    }
}

async fn timed<F, Fut, T>(n: usize, mut f: F) -> anyhow::Result<Samples>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f(i).await?;
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    v.sort_by(f64::total_cmp);
    Ok(Samples(v))
}

pub(crate) fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU time this process has used so far (user and system, all threads), in seconds, read
/// from `/proc/self/stat` (Linux; `None` elsewhere). In clock ticks of 10 ms.
pub(crate) fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = s.get(s.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

async fn ensure_data(app: &App, tenant: TenantId, cases: u64, seed: u64) -> anyhow::Result<i64> {
    let have: i64 = sqlx_count(app, tenant).await?;
    if have == 0 {
        let args = crate::commands::GenArgs {
            seed,
            customers: (cases / 2).max(10),
            households: None,
            orders_per_customer: 2.0,
            cases,
            messages_per_case: 5.0,
        };
        crate::commands::generate(app, tenant, &args, true).await?;
    }
    sqlx_count(app, tenant).await
}

async fn sqlx_count(app: &App, tenant: TenantId) -> anyhow::Result<i64> {
    let n = app
        .store
        .count_cases(
            tenant,
            &concierge_store::cases::CaseFilter::default(),
            i64::MAX,
        )
        .await?;
    Ok(n)
}

async fn bench_user(app: &App, tenant: TenantId) -> anyhow::Result<concierge_store::UserRow> {
    let email = "bench-agent@bench.test";
    if let Some(u) = app.store.user_by_email(tenant, email).await? {
        return Ok(u);
    }
    Ok(app
        .add_user(tenant, email, None, Role::Agent, "bench-password-123")
        .await?)
}

/// `concierge bench cases`.
pub async fn cases(g: &Global, cases: u64, seed: u64, samples: usize) -> anyhow::Result<()> {
    let (app, tenant) = crate::analytics::open_workspace(g).await?;
    let total = ensure_data(&app, tenant, cases, seed).await?;
    let user = bench_user(&app, tenant).await?;
    println!("cases bench on {total} cases ({:?}):", app.store.backend());
    let max_id = total.max(1) as u64;
    let mut rng = Lcg(seed);
    let created = timed(samples, |i| {
        let app = app.clone();
        let user = user.clone();
        async move {
            app.create_case(
                tenant,
                Actor::User(&user),
                &NewCaseInput {
                    subject: format!("Bench case {i}: 我的订单损坏了"),
                    body: "The parcel arrived damaged; 배송이 너무 늦어요.".into(),
                    channel: "email".into(),
                    kind: Some("complaint".into()),
                    priority: None,
                    customer: CustomerRef::Email {
                        email: format!("bench{}@bench.test", i % 50),
                        name: None,
                    },
                    team_id: None,
                    owner_id: None,
                    tags: vec![],
                    order_id: None,
                    parent_case_id: None,
                    attachments: vec![],
                },
            )
            .await
            .map_err(|e| anyhow!("{e}"))
        }
    })
    .await?;
    created.line("create case");
    let ids: Vec<u64> = (0..samples).map(|_| 1 + rng.next(max_id)).collect();
    let page = timed(samples, |i| {
        let app = app.clone();
        let id = ids[i] as i64;
        async move {
            // Ids are dense from 1 in a generated workspace; a gap is simply skipped.
            match app.case_detail(tenant, CaseId(id), true).await {
                Ok(_) | Err(concierge_app::cases::CaseError::NotFound(_)) => Ok(()),
                Err(e) => Err(anyhow!("{e}")),
            }
        }
    })
    .await?;
    page.line("case page (detail)");
    let views = [View::Open, View::Unassigned, View::Mine, View::Breaching];
    let queue = timed(samples, |i| {
        let app = app.clone();
        let user = user.clone();
        async move {
            app.queue(tenant, &user, views[i % views.len()], None, 50)
                .await
                .map_err(|e| anyhow!("{e}"))
        }
    })
    .await?;
    queue.line("queue page + capped count");
    if let Some(m) = peak_rss_mib() {
        println!("  peak RSS                     {m:.0} MiB");
    }
    app.store.close().await;
    Ok(())
}

/// `concierge bench search`.
pub async fn search(
    g: &Global,
    cases: u64,
    seed: u64,
    samples: usize,
    skip_reindex: bool,
) -> anyhow::Result<()> {
    let (app, tenant) = crate::analytics::open_workspace(g).await?;
    let total = ensure_data(&app, tenant, cases, seed).await?;
    println!("search bench on {total} cases ({:?}):", app.store.backend());
    if skip_reindex {
        println!("  (searching the index as it is: no rebuild)");
    } else {
        let t = Instant::now();
        let docs = concierge_app::search::reindex(&app, |_| {})
            .await
            .context("rebuilding the search index (stop any server on this data directory)")?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "  reindex                      {docs} documents in {secs:.1} s ({:.0} docs/s)",
            docs as f64 / secs.max(1e-9)
        );
    }
    let index =
        std::sync::Arc::new(concierge_app::search::open_index(&app).map_err(|e| anyhow!("{e}"))?);
    for (label, words) in [
        (
            "English",
            &[
                "damaged", "refund", "delivery", "invoice", "broken", "order",
            ][..],
        ),
        (
            "Chinese/Korean",
            &["订单", "退款", "损坏", "배송", "환불", "주문"][..],
        ),
    ] {
        let idx = index.clone();
        let s = timed(samples, |i| {
            let idx = idx.clone();
            let q = words[i % words.len()].to_string();
            async move {
                tokio::task::spawn_blocking(move || {
                    idx.search(tenant.0.into(), &SearchRequest::new(q).staff())
                })
                .await?
                .map_err(|e| anyhow!("{e}"))
            }
        })
        .await?;
        s.line(&format!("search {label}"));
    }
    if let Some(m) = peak_rss_mib() {
        println!("  peak RSS                     {m:.0} MiB");
    }
    app.store.close().await;
    Ok(())
}

/// Sizes and options of `concierge bench import`.
#[derive(Debug, Clone)]
pub struct ImportBench {
    pub customers: u64,
    pub lines: u64,
    pub seed: u64,
    pub samples: usize,
    /// Keep the generated CSV at this path instead of deleting it.
    pub keep_csv: Option<std::path::PathBuf>,
}

/// Writes the generated orders of `g` as an orders CSV, stopping at the first order boundary
/// at or after `max_lines` lines. Answers the lines written.
fn write_orders_csv(
    g: &concierge_gen::Generator,
    path: &std::path::Path,
    max_lines: u64,
) -> anyhow::Result<u64> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    w.write_record([
        "order_id",
        "customer_id",
        "ordered_at",
        "sku",
        "quantity",
        "unit_price",
        "currency",
        "status",
        "product_name",
        "customer_email",
        "customer_name",
    ])?;
    let products = g.products();
    let total = g.customer_count();
    let mut written = 0u64;
    let mut start = 0;
    'outer: while start < total {
        let end = (start + 1_000).min(total);
        let custs: Vec<_> = g.customers_range(start..end).collect();
        for o in g.orders_range(start..end) {
            let Some(c) = custs.get((o.customer_index - start) as usize) else {
                continue;
            };
            let at = jiff::Timestamp::from_millisecond(o.ordered_at)
                .map_err(|e| anyhow!("generated time: {e}"))?
                .to_string();
            let digits = o.currency.minor_digits();
            for l in &o.lines {
                let Some(p) = products.get(l.product_index as usize) else {
                    continue;
                };
                let price = if digits == 0 {
                    l.unit_price_minor.to_string()
                } else {
                    let m = 10i64.pow(digits);
                    format!(
                        "{}.{:0width$}",
                        l.unit_price_minor / m,
                        l.unit_price_minor % m,
                        width = digits as usize
                    )
                };
                w.write_record([
                    o.order_no.as_str(),
                    c.external_id.as_str(),
                    at.as_str(),
                    p.sku.as_str(),
                    &l.quantity.to_string(),
                    &price,
                    o.currency.code(),
                    o.status.as_str(),
                    p.name.en.as_str(),
                    c.email.as_deref().unwrap_or(""),
                    c.name.full.as_str(),
                ])?;
                written += 1;
            }
            if written >= max_lines {
                break 'outer;
            }
        }
        start = end;
    }
    w.flush()?;
    Ok(written)
}

/// The bare bulk insert the import is compared with: the same customers (those with an
/// order in the file), products, orders and lines, written with multi-row INSERTs in
/// transactions of 1,000 customers' orders, without any lookups. Answers (rows, seconds of
/// database work).
async fn bare_insert(
    app: &App,
    tenant: TenantId,
    g: &concierge_gen::Generator,
    max_lines: u64,
) -> anyhow::Result<(u64, f64)> {
    use concierge_store::bulk::{Val, id_and_key, insert_rows};
    use std::collections::HashMap;
    let now = app.now();
    let mut busy = 0.0;
    let t = Instant::now();
    let mut tx = app.store.begin().await?;
    let rows: Vec<Vec<Val>> = g
        .products()
        .iter()
        .map(|p| {
            vec![
                tenant.0.into(),
                p.sku.clone().into(),
                p.name.en.clone().into(),
                p.prices
                    .first()
                    .map(|pr| pr.amount_minor)
                    .unwrap_or(0)
                    .into(),
                p.prices
                    .first()
                    .map(|pr| pr.currency.code())
                    .unwrap_or("USD")
                    .into(),
            ]
        })
        .collect();
    let ret = insert_rows(
        &mut tx,
        "products",
        &["tenant_id", "sku", "name", "price_minor", "currency"],
        &rows,
        Some("id, sku"),
    )
    .await?;
    tx.commit().await?;
    busy += t.elapsed().as_secs_f64();
    let mut by_sku = HashMap::new();
    for r in &ret {
        let (id, sku) = id_and_key(r)?;
        by_sku.insert(sku, id);
    }
    let product_ids: Vec<i64> = g
        .products()
        .iter()
        .map(|p| by_sku.get(&p.sku).copied().unwrap_or(0))
        .collect();
    let total = g.customer_count();
    let mut written = 0u64;
    let mut start = 0;
    while start < total && written < max_lines {
        let end = (start + 1_000).min(total);
        let custs: Vec<_> = g.customers_range(start..end).collect();
        let mut orders = Vec::new();
        for o in g.orders_range(start..end) {
            if written >= max_lines {
                break;
            }
            written += o.lines.len() as u64;
            orders.push(o);
        }
        let mut with_orders: Vec<bool> = vec![false; custs.len()];
        for o in &orders {
            if let Some(f) = with_orders.get_mut((o.customer_index - start) as usize) {
                *f = true;
            }
        }
        let buyers: Vec<_> = custs
            .iter()
            .zip(&with_orders)
            .filter(|(_, f)| **f)
            .map(|(c, _)| c)
            .collect();
        let crow: Vec<Vec<Val>> = buyers
            .iter()
            .map(|c| {
                vec![
                    tenant.0.into(),
                    c.external_id.clone().into(),
                    concierge_domain::customer::name_key(&c.name.full).into(),
                    c.name.full.clone().into(),
                    now.into(),
                    now.into(),
                ]
            })
            .collect();
        let t = Instant::now();
        let mut tx = app.store.begin().await?;
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
            &crow,
            Some("id, external_id"),
        )
        .await?;
        busy += t.elapsed().as_secs_f64();
        let mut cid: HashMap<String, i64> = HashMap::new();
        for r in &ret {
            let (id, k) = id_and_key(r)?;
            cid.insert(k, id);
        }
        let contacts: Vec<Vec<Val>> = buyers
            .iter()
            .filter_map(|c| {
                let e = c.email.clone()?;
                Some(vec![
                    tenant.0.into(),
                    cid.get(&c.external_id).copied().unwrap_or(0).into(),
                    "email".into(),
                    e.clone().into(),
                    e.to_lowercase().into(),
                    true.into(),
                    false.into(),
                    now.into(),
                ])
            })
            .collect();
        let orow: Vec<Vec<Val>> = orders
            .iter()
            .map(|o| {
                let c = custs
                    .get((o.customer_index - start) as usize)
                    .and_then(|c| cid.get(&c.external_id))
                    .copied()
                    .unwrap_or(0);
                vec![
                    tenant.0.into(),
                    o.order_no.clone().into(),
                    c.into(),
                    o.ordered_at.into(),
                    o.status.as_str().into(),
                    o.currency.code().into(),
                    o.total_minor.into(),
                ]
            })
            .collect();
        let t = Instant::now();
        insert_rows(
            &mut tx,
            "customer_contacts",
            concierge_store::bulk::CUSTOMER_CONTACTS_COLUMNS,
            &contacts,
            None,
        )
        .await?;
        let ret = insert_rows(
            &mut tx,
            "orders",
            concierge_store::bulk::ORDERS_COLUMNS,
            &orow,
            Some("id, external_id"),
        )
        .await?;
        busy += t.elapsed().as_secs_f64();
        let mut oid: HashMap<String, i64> = HashMap::new();
        for r in &ret {
            let (id, k) = id_and_key(r)?;
            oid.insert(k, id);
        }
        let mut lrows = Vec::new();
        for (o, row) in orders.iter().zip(&orow) {
            let order_id = oid.get(&o.order_no).copied().unwrap_or(0);
            let customer = row.get(2).cloned().unwrap_or(Val::Int(0));
            for l in &o.lines {
                lrows.push(vec![
                    tenant.0.into(),
                    order_id.into(),
                    customer.clone(),
                    product_ids
                        .get(l.product_index as usize)
                        .copied()
                        .unwrap_or(0)
                        .into(),
                    f64::from(l.quantity).into(),
                    l.unit_price_minor.into(),
                    (l.unit_price_minor * i64::from(l.quantity)).into(),
                    o.ordered_at.into(),
                ]);
            }
        }
        let t = Instant::now();
        insert_rows(
            &mut tx,
            "order_lines",
            concierge_store::bulk::ORDER_LINES_COLUMNS,
            &lrows,
            None,
        )
        .await?;
        tx.commit().await?;
        busy += t.elapsed().as_secs_f64();
        start = end;
    }
    Ok((written, busy))
}

/// `concierge bench import`.
pub async fn import(g: &Global, b: &ImportBench) -> anyhow::Result<()> {
    use concierge_app::import::{ImportInput, ImportOptions};
    let (app, _) = crate::analytics::open_workspace(g).await?;
    let stamp = app.now();
    let t_import = app
        .store
        .ensure_tenant(&format!("bench-import-{stamp}"), "bench import", stamp)
        .await?
        .id;
    let t_bare = app
        .store
        .ensure_tenant(&format!("bench-bare-{stamp}"), "bench bare insert", stamp)
        .await?
        .id;
    let mut spec = concierge_gen::GenSpec::default().with_seed(b.seed);
    spec.customers = b.customers.max(1);
    spec.cases = 0;
    spec.orders_per_customer =
        (1.1 * b.lines as f64 / spec.customers as f64 / spec.lines_per_order).max(0.1);
    spec.end_ms = stamp;
    spec.start_ms = stamp - 730 * concierge_gen::DAY_MS;
    let gen_ = concierge_gen::Generator::new(spec).map_err(|e| anyhow!("{e}"))?;
    let path = b.keep_csv.clone().unwrap_or_else(|| {
        app.config
            .storage
            .data_dir
            .join(format!("bench-import-{stamp}.csv"))
    });
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).ok();
    }
    println!(
        "import bench ({:?}), {} customers, up to {} order lines:",
        app.store.backend(),
        b.customers,
        b.lines
    );
    let t = Instant::now();
    let lines = write_orders_csv(&gen_, &path, b.lines)?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "  generated CSV                {lines} lines, {:.1} MiB in {:.1} s",
        size as f64 / 1_048_576.0,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let report = app
        .import_orders(
            t_import,
            ImportInput::File(&path),
            &ImportOptions::default(),
            &|_, _, _| {},
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let import_s = t.elapsed().as_secs_f64();
    if !report.rejected.is_empty() {
        bail_rejected(&report)?;
    }
    let import_rate = lines as f64 / import_s.max(1e-9);
    println!(
        "  import (check + write)       {import_rate:>10.0} rows/s  ({lines} rows, {} orders, {} customers in {import_s:.1} s)",
        report.imported, report.customers_created
    );
    let (bare_rows, bare_s) = bare_insert(&app, t_bare, &gen_, b.lines).await?;
    let bare_rate = bare_rows as f64 / bare_s.max(1e-9);
    println!(
        "  bare bulk insert             {bare_rate:>10.0} rows/s  ({bare_rows} rows in {bare_s:.1} s of database work)"
    );
    println!(
        "  import / bare                {:>9.0} %   (goal: at least 50 %)",
        100.0 * import_rate / bare_rate.max(1e-9)
    );
    // Re-import: everything unchanged.
    let t = Instant::now();
    let again = app
        .import_orders(
            t_import,
            ImportInput::File(&path),
            &ImportOptions::default(),
            &|_, _, _| {},
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    println!(
        "  re-import (all unchanged)    {:>10.0} rows/s  ({} unchanged, {} imported, {} updated)",
        lines as f64 / t.elapsed().as_secs_f64().max(1e-9),
        again.unchanged,
        again.imported,
        again.updated
    );
    if b.keep_csv.is_none() {
        let _ = std::fs::remove_file(&path);
    }
    // Reading a profile with its first timeline page.
    let Some((lo, hi)) = app.store.customer_id_range(t_import).await? else {
        println!("  (no customers imported: no profile reads)");
        return Ok(());
    };
    let mut rng = Lcg(b.seed);
    let ids: Vec<i64> = (0..b.samples)
        .map(|_| lo + rng.next((hi - lo + 1) as u64) as i64)
        .collect();
    let reads = timed(b.samples, |i| {
        let app = app.clone();
        let id = concierge_domain::CustomerId(ids[i]);
        async move {
            let p = app.customer_profile(t_import, id).await;
            let tl = app
                .customer_timeline(t_import, id, None, None, Some(50))
                .await;
            match (p, tl) {
                (Ok(_), Ok(_)) | (Err(concierge_app::customers::CustomerError::NotFound), _) => {
                    Ok(())
                }
                (Err(e), _) | (_, Err(e)) => Err(anyhow!("{e}")),
            }
        }
    })
    .await?;
    reads.line("profile + timeline page");
    println!("  (goal: p99 under 5 ms on SQLite at 1,000,000 customers / 10,000,000 lines)");
    if let Some(m) = peak_rss_mib() {
        println!("  peak RSS                     {m:.0} MiB");
    }
    app.store.close().await;
    Ok(())
}

fn bail_rejected(r: &concierge_app::import::ImportReport) -> anyhow::Result<()> {
    for x in r.rejected.iter().take(5) {
        eprintln!("line {}: {}", x.line, x.reason);
    }
    Err(anyhow!(
        "the generated file had {} rejected rows; the benchmark needs a clean file",
        r.rejected.len()
    ))
}
