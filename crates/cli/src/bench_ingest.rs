//! `concierge bench ingest`: time mail intake. Generated inbound mail (Chinese, Korean,
//! Japanese and English; legacy charsets; replies and new cases; some attachments and
//! auto-replies) goes through the whole pipeline — raw bytes committed, parsed, deduplicated,
//! classified, threaded, stored, acknowledged, and indexed for search — next to a bare insert
//! of the same raw bytes into the same engine. Then the pipe command (`concierge mail
//! ingest`, a new process per message as an MTA runs it) is timed per message. The threading
//! is checked on the way: every reply must land on its case.

use crate::Global;
use crate::bench::{Samples, cpu_seconds, peak_rss_mib};
use anyhow::anyhow;
use concierge_app::mail::{IngestState, sha256_hex};
use concierge_gen::{GenMail, GenMailKind};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// Sizes of `concierge bench ingest`.
#[derive(Debug, Clone)]
pub struct IngestBench {
    pub messages: u64,
    pub seed: u64,
    /// Messages sent through the pipe command, one process each.
    pub pipe_samples: usize,
    /// Deliveries in flight at once (1: one after another).
    pub concurrency: usize,
}

/// The mailbox the generated mail is delivered to.
const MAILBOX: &str = "support";

/// The tables mail intake grows, whose planner statistics are renewed after each chunk on
/// PostgreSQL.
const GROWING_TABLES: [&str; 12] = [
    "inbound_mail",
    "inbound_mail_mailboxes",
    "messages",
    "attachments",
    "cases",
    "case_events",
    "case_targets",
    "timeline_events",
    "change_log",
    "customers",
    "customer_contacts",
    "counters",
];

/// How many mails go through the pipeline before the bare insert takes its turn with them.
/// Each turn ends with the pipeline idle while the index follower indexes what came since
/// its last round (at most half a second's mail, about 70 ms of work at 100,000 mails); in
/// service it keeps up on the other core, so that wait is counted once per 5,000 mails, not
/// once per 1,000 (7 s of a 117 s run at 100,000 mails).
const CHUNK: usize = 5_000;

/// The first turn's size: short, so that PostgreSQL's planner statistics are renewed once the
/// tables hold some mail (see [`GROWING_TABLES`]).
const FIRST_CHUNK: usize = 1_000;

/// `concierge bench ingest`.
pub async fn ingest(g: &Global, b: &IngestBench) -> anyhow::Result<()> {
    let (app, _) = crate::analytics::open_workspace(g).await?;
    let stamp = app.now();
    let slug = format!("bench-ingest-{stamp}");
    let tenant = app
        .store
        .ensure_tenant(&slug, "bench ingest", stamp)
        .await?
        .id;
    let t_bare_each = app
        .store
        .ensure_tenant(&format!("bench-bare1-{stamp}"), "bench bare insert", stamp)
        .await?
        .id;
    let t_bare_bulk = app
        .store
        .ensure_tenant(&format!("bench-bulk-{stamp}"), "bench bare insert", stamp)
        .await?
        .id;

    let total = b.messages + b.pipe_samples as u64;
    let mut spec = concierge_gen::GenSpec::default().with_seed(b.seed);
    spec.customers = (total / 3).max(10);
    spec.cases = total.max(10);
    spec.orders_per_customer = 0.5;
    let generator = concierge_gen::Generator::new(spec).map_err(|e| anyhow!("{e}"))?;
    let t = Instant::now();
    let mut mails = generator.inbound_mails(total);
    let pipe_mails = mails.split_off(mails.len().saturating_sub(b.pipe_samples));
    let bytes: usize = mails.iter().map(|m| m.raw.len()).sum();
    println!(
        "ingest bench ({:?}, {} at a time): {} messages ({:.1} MiB; {} new, {} replies, {} auto-replies, \
         {} with attachments, {} in legacy charsets), generated in {:.1} s",
        app.store.backend(),
        b.concurrency.max(1),
        mails.len(),
        bytes as f64 / 1_048_576.0,
        count(&mails, |m| m.kind == GenMailKind::New),
        count(&mails, |m| m.kind == GenMailKind::Reply),
        count(&mails, |m| m.kind == GenMailKind::AutoReply),
        count(&mails, |m| m.has_attachment),
        count(&mails, |m| m.charset != "UTF-8"),
        t.elapsed().as_secs_f64()
    );

    // The index follows the change log; bring it up to date before the clock starts.
    let index = concierge_app::search::open_index(&app).map_err(|e| anyhow!("{e}"))?;
    while concierge_app::search::follow_once(&app, &index).await? > 0 {}

    // The whole pipeline, one message at a time, as the pipe command and the poller do.
    let bar = indicatif::ProgressBar::new(mails.len() as u64)
        .with_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>8} [{bar:40}] {pos}/{len} {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        )
        .with_prefix("ingest");
    let mut lat = Vec::with_capacity(mails.len());
    let mut case_of: HashMap<u64, i64> = HashMap::new();
    let mut states: HashMap<&'static str, u64> = HashMap::new();
    let mut misthreaded = 0u64;
    // A customer answers a mail after it arrived: with several deliveries in flight, a mail
    // waits until the previous mail of its case is taken in (the generator packs a case's
    // messages closer together than real time does).
    let mut last_of_case: HashMap<u64, usize> = HashMap::new();
    let after: Arc<Vec<Option<usize>>> = Arc::new(
        mails
            .iter()
            .enumerate()
            .map(|(i, m)| last_of_case.insert(m.case_index, i))
            .collect(),
    );
    let finished: Arc<Vec<AtomicBool>> =
        Arc::new(mails.iter().map(|_| AtomicBool::new(false)).collect());
    let mails = Arc::new(mails);
    let shas: Arc<Vec<String>> = Arc::new(mails.iter().map(|m| sha256_hex(&m.raw)).collect());
    let workers = b.concurrency.max(1);
    let index = Arc::new(index);
    // The pipeline and the bare insert take turns, chunk by chunk, so that both see the disk
    // as it is at that moment (its flush times drift by a third from minute to minute here).
    let (mut pipeline_s, mut index_s, mut each_s) = (0.0, 0.0, 0.0);
    // CPU seconds the process used in each (all threads: the SQLite workers too).
    let (mut pipeline_cpu, mut each_cpu) = (0.0, 0.0);
    let mut start = 0;
    while start < mails.len() {
        let size = if start == 0 { FIRST_CHUNK } else { CHUNK };
        let end = (start + size).min(mails.len());
        let t = Instant::now();
        let cpu = cpu_seconds();
        // The index follows the change log beside the deliveries: the server's follower.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let follower = tokio::spawn(concierge_app::search::run_follower(
            app.clone(),
            index.clone(),
            stopped,
        ));
        // `workers` deliveries at a time (as parallel MTA deliveries or webhook calls).
        let deliver = {
            let (app, mails, bar) = (app.clone(), mails.clone(), bar.clone());
            let (after, finished) = (after.clone(), finished.clone());
            move |i: usize| {
                let (app, mails, bar) = (app.clone(), mails.clone(), bar.clone());
                let (after, finished) = (after.clone(), finished.clone());
                async move {
                    if let Some(prev) = after.get(i).copied().flatten() {
                        while !finished[prev].load(Ordering::Acquire) {
                            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        }
                    }
                    let t = Instant::now();
                    let out = app
                        .ingest_raw(tenant, MAILBOX, &mails[i].raw)
                        .await
                        .map_err(|e| anyhow!("message {i}: {e}"))?;
                    finished[i].store(true, Ordering::Release);
                    bar.inc(1);
                    Ok((i, out, t.elapsed().as_secs_f64() * 1000.0))
                }
            }
        };
        let mut outcomes = spread(start..end, workers, deliver).await?;
        // The chunk is through once the index has caught up with its last mail.
        let t_index = Instant::now();
        let _ = stop.send(true);
        follower
            .await
            .map_err(|e| anyhow!("the index follower stopped: {e}"))?;
        while concierge_app::search::follow_once(&app, &index).await? > 0 {}
        index_s += t_index.elapsed().as_secs_f64();
        pipeline_s += t.elapsed().as_secs_f64();
        pipeline_cpu += cpu_seconds().zip(cpu).map_or(0.0, |(b, a)| b - a);

        // The bare inserts of the same raw bytes, nothing else.
        let t = Instant::now();
        let cpu = cpu_seconds();
        let insert = {
            let (app, mails, shas) = (app.clone(), mails.clone(), shas.clone());
            move |i: usize| {
                let (app, mails, shas) = (app.clone(), mails.clone(), shas.clone());
                async move {
                    app.store
                        .insert_raw_mails_bare(
                            t_bare_each,
                            MAILBOX,
                            &[(&mails[i].raw, &shas[i])],
                            stamp,
                        )
                        .await?;
                    Ok(())
                }
            }
        };
        spread(start..end, workers, insert).await?;
        each_s += t.elapsed().as_secs_f64();
        each_cpu += cpu_seconds().zip(cpu).map_or(0.0, |(b, a)| b - a);
        // What PostgreSQL's autovacuum does as tables grow (it is off on some servers, such
        // as these test machines): without fresh statistics a lookup by address is planned
        // as if the tables were empty and scans the tenant's contacts. Outside the clock.
        if app.store.backend() == concierge_store::Backend::Postgres {
            app.store.refresh_statistics(&GROWING_TABLES).await?;
        }

        outcomes.sort_by_key(|o| o.0);
        for (i, out, ms) in outcomes {
            let m = &mails[i];
            lat.push(ms);
            *states.entry(out.state.as_str()).or_default() += 1;
            match (m.kind, out.case_id) {
                (GenMailKind::New, Some(c)) => {
                    case_of.insert(m.case_index, c);
                }
                (GenMailKind::Reply, c)
                    if out.state == IngestState::Processed
                        && case_of.get(&m.case_index).copied() != c =>
                {
                    misthreaded += 1;
                }
                _ => {}
            }
        }
        start = end;
    }
    bar.finish_and_clear();
    lat.sort_by(f64::total_cmp);
    let rate = mails.len() as f64 / pipeline_s.max(1e-9);
    let mut states: Vec<_> = states.into_iter().collect();
    states.sort();
    println!(
        "  full pipeline                {rate:>10.0} msg/s  ({} in {pipeline_s:.1} s, indexed as \
         they came by the server's index follower; waiting for it to catch up at the end of \
         each chunk: {index_s:.1} s)",
        mails.len()
    );
    println!(
        "  outcomes                     {}",
        states
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  cases opened                 {} of {} new-case mails; replies on the wrong case: {misthreaded}",
        case_of.len(),
        count(&mails, |m| m.kind == GenMailKind::New)
    );
    Samples(lat).line("one message (in process)");
    let n = mails.len().max(1) as f64;
    println!(
        "  CPU per message              {:>10.2} ms  (all threads; the bare insert: {:.2} ms)",
        1000.0 * pipeline_cpu / n,
        1000.0 * each_cpu / n
    );

    let each_rate = mails.len() as f64 / each_s.max(1e-9);
    println!(
        "  bare insert, one tx each     {each_rate:>10.0} msg/s  (as mail is acknowledged: \
         committed before the sender is told; through the same writer as the pipeline, so \
         concurrent ones share commits; chunk by chunk after the pipeline's)"
    );
    let t = Instant::now();
    let rows: Vec<(&[u8], &str)> = mails
        .iter()
        .zip(shas.iter())
        .map(|(m, s)| (m.raw.as_slice(), s.as_str()))
        .collect();
    for chunk in rows.chunks(1_000) {
        app.store
            .insert_raw_mails_bare(t_bare_bulk, MAILBOX, chunk, stamp)
            .await?;
    }
    let bulk_s = t.elapsed().as_secs_f64();
    let bulk_rate = mails.len() as f64 / bulk_s.max(1e-9);
    println!("  bare insert, 1,000 a commit  {bulk_rate:>10.0} msg/s");
    println!(
        "  pipeline / bare              {:>9.0} %   (one transaction each; {:.0} % of 1,000 a \
         commit; goal: at least 30 %)",
        100.0 * rate / each_rate.max(1e-9),
        100.0 * rate / bulk_rate.max(1e-9)
    );
    if let Some(m) = peak_rss_mib() {
        println!("  peak RSS                     {m:.0} MiB");
    }
    drop(index);
    app.store.close().await;

    if !pipe_mails.is_empty() {
        pipe_latency(g, &slug, &pipe_mails)?;
    }
    Ok(())
}

/// Runs `work(i)` for every `i` of `range`, `workers` at a time (each worker takes the next
/// index when it is done), and gathers what the runs give back (in no particular order).
async fn spread<T, Fut>(
    range: std::ops::Range<usize>,
    workers: usize,
    work: impl Fn(usize) -> Fut + Clone + Send + 'static,
) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send,
{
    let end = range.end;
    let next = Arc::new(AtomicUsize::new(range.start));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let (next, work) = (next.clone(), work.clone());
        set.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                done.push(work(i).await?);
            }
            anyhow::Ok(done)
        });
    }
    let mut all = Vec::with_capacity(range.len());
    while let Some(r) = set.join_next().await {
        all.extend(r??);
    }
    Ok(all)
}

fn count(mails: &[GenMail], f: impl Fn(&GenMail) -> bool) -> usize {
    mails.iter().filter(|m| f(m)).count()
}

/// Runs `concierge mail ingest` once per message, as an MTA's pipe delivery does (a new
/// process each: start, open the database, take the message in, exit), and prints the
/// per-message wall time.
fn pipe_latency(g: &Global, slug: &str, mails: &[GenMail]) -> anyhow::Result<()> {
    let exe = std::env::current_exe().map_err(|e| anyhow!("finding this program: {e}"))?;
    let mut lat = Vec::with_capacity(mails.len());
    for (i, m) in mails.iter().enumerate() {
        let mut cmd = Command::new(&exe);
        if let Some(c) = &g.config {
            cmd.arg("--config").arg(c);
        }
        if let Some(d) = &g.data_dir {
            cmd.arg("--data-dir").arg(d);
        }
        if let Some(u) = &g.database_url {
            cmd.arg("--database-url").arg(u);
        }
        cmd.args(["--tenant", slug, "mail", "ingest", "--mailbox", MAILBOX])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let t = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| anyhow!("starting {}: {e}", exe.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(&m.raw)?;
        }
        let out = child.wait_with_output()?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        if !out.status.success() {
            return Err(anyhow!(
                "the pipe command failed on message {i} ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    lat.sort_by(f64::total_cmp);
    Samples(lat).line("pipe command, per message");
    Ok(())
}
