//! `concierge bench cases` and `concierge bench search`: time the case work and search on a
//! workspace's database, generating cases and messages first when it has none. Figures are
//! printed as percentiles; nothing here asserts a speed (that is for people to read).

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
struct Samples(Vec<f64>);

impl Samples {
    fn pct(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let i = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        self.0[i.min(self.0.len() - 1)]
    }
    fn line(&self, what: &str) {
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

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
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
pub async fn search(g: &Global, cases: u64, seed: u64, samples: usize) -> anyhow::Result<()> {
    let (app, tenant) = crate::analytics::open_workspace(g).await?;
    let total = ensure_data(&app, tenant, cases, seed).await?;
    println!("search bench on {total} cases ({:?}):", app.store.backend());
    let t = Instant::now();
    let docs = concierge_app::search::reindex(&app, |_| {})
        .await
        .context("rebuilding the search index (stop any server on this data directory)")?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "  reindex                      {docs} documents in {secs:.1} s ({:.0} docs/s)",
        docs as f64 / secs.max(1e-9)
    );
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
