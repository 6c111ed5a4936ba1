//! `concierge analytics ...`: run the customer analytics (RFM, CLV, churn, tiers, the rice
//! jar) over a workspace's orders, fit the models, backtest the replenishment predictions and
//! manage tier rules. The work happens in `concierge_app::analytics`.

use crate::Global;
use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use concierge_app::analytics::{self as uc, AnalyticsRunError, RunOptions, Stage};
use concierge_app::analytics::{TierDefinition, TimeUnit};
use concierge_app::config::Overrides;
use concierge_app::{App, Config};
use concierge_domain::TenantId;
use concierge_store::Store;
use std::io::Read;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum AnalyticsAction {
    /// Compute everything (segments, CLV, churn, tiers, replenishment) and store it.
    Run(RunArgs),
    /// Fit the BG/NBD and Gamma-Gamma models and print their parameters.
    Fit(FitArgs),
    /// Hold out each customer's last purchase of each product and compare the run-out
    /// prediction with "last purchase + mean gap".
    Backtest {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the tier rules, or replace them from a JSON file (best tier first).
    Tiers {
        /// JSON file with the rules (`-` reads standard input), e.g.
        /// [{"name":"Gold","rule":{"rule":"top_clv_percent","percent":20}},
        ///  {"name":"Base","rule":{"rule":"everyone"}}]
        #[arg(long)]
        set: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Last day of the observation (YYYY-MM-DD, UTC). Default: today.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Unit of recency, age and the models: day or week.
    #[arg(long, default_value = "week")]
    pub time_unit: String,
    /// Only customers worth at least this much (CLV or past spend, in minor units) are listed
    /// as at risk.
    #[arg(long, default_value_t = 0.0)]
    pub at_risk_min_value: f64,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Args, Debug)]
pub struct FitArgs {
    /// Fit on purchases up to this day (YYYY-MM-DD, UTC). Default: today.
    #[arg(long)]
    pub calibration_end: Option<String>,
    /// Model time unit: day or week.
    #[arg(long, default_value = "week")]
    pub time_unit: String,
    /// Print `{"customers":N,"bgnbd":{...},"gamma_gamma":{...}}`.
    #[arg(long)]
    pub json: bool,
}

/// Opens the workspace's database and resolves the tenant (`--tenant` or the default).
pub async fn open_workspace(g: &Global) -> anyhow::Result<(App, TenantId)> {
    open(g).await
}

async fn open(g: &Global) -> anyhow::Result<(App, TenantId)> {
    let cfg = Config::load(
        g.config.as_deref(),
        &Overrides {
            data_dir: g.data_dir.clone(),
            database_url: g.database_url.clone(),
            listen: None,
        },
    )
    .map_err(|e| anyhow!(e))?;
    let url = cfg.database_url();
    let store = Store::open(&url)
        .await
        .with_context(|| format!("opening the database {}", concierge_store::redact(&url)))?;
    let app = App::new(store, cfg);
    let now = app.now();
    let tenant = match &g.tenant {
        Some(slug) => {
            let slug = concierge_domain::TenantSlug::parse(slug)?;
            app.store
                .ensure_tenant(slug.as_str(), slug.as_str(), now)
                .await?
        }
        None => {
            app.store
                .ensure_tenant(
                    &app.config.tenant.default_slug,
                    &app.config.tenant.default_name,
                    now,
                )
                .await?
        }
    };
    Ok((app, tenant.id))
}

/// Keeps a store error visible to the exit-code logic (75 when the database is unavailable).
fn lift(e: AnalyticsRunError) -> anyhow::Error {
    match e {
        AnalyticsRunError::Store(s) => anyhow::Error::new(s),
        other => anyhow::Error::new(other),
    }
}

fn unit(s: &str) -> anyhow::Result<TimeUnit> {
    s.parse::<TimeUnit>()
        .map_err(|e| anyhow!("--time-unit: {e}"))
}

fn money(minor: f64) -> String {
    format!("{:.2}", minor / 100.0)
}

pub async fn run(g: Global, action: AnalyticsAction) -> anyhow::Result<()> {
    let (app, tenant) = open(&g).await?;
    let result = dispatch(&app, tenant, action).await;
    app.store.close().await;
    result
}

async fn dispatch(app: &App, tenant: TenantId, action: AnalyticsAction) -> anyhow::Result<()> {
    match action {
        AnalyticsAction::Run(a) => run_all(app, tenant, a).await,
        AnalyticsAction::Fit(a) => {
            let end = a
                .calibration_end
                .as_deref()
                .map(uc::parse_day)
                .transpose()
                .map_err(lift)?;
            let r = uc::fit(app, tenant, end, unit(&a.time_unit)?)
                .await
                .map_err(lift)?;
            if a.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!("customers: {}", r.customers);
                println!(
                    "BG/NBD: r = {:.4}, alpha = {:.4}, a = {:.4}, b = {:.4}, log-likelihood = {:.2}",
                    r.bgnbd.r, r.bgnbd.alpha, r.bgnbd.a, r.bgnbd.b, r.bgnbd.log_likelihood
                );
                println!(
                    "Gamma-Gamma: p = {:.4}, q = {:.4}, v = {:.4}",
                    r.gamma_gamma.p, r.gamma_gamma.q, r.gamma_gamma.v
                );
            }
            Ok(())
        }
        AnalyticsAction::Backtest { json } => {
            let r = uc::backtest(app, tenant).await.map_err(lift)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "{} customer x product pairs: mean absolute error {:.1} days (model) vs \
                     {:.1} days (last purchase + mean gap); model closer in {:.0}% of pairs; \
                     actual purchase inside the model's interval in {:.0}%",
                    r.pairs,
                    r.mae_model_days,
                    r.mae_naive_days,
                    r.model_closer_share * 100.0,
                    r.interval_coverage * 100.0
                );
            }
            Ok(())
        }
        AnalyticsAction::Tiers { set } => {
            if let Some(path) = set {
                let mut text = String::new();
                if path.as_os_str() == "-" {
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .context("reading tier rules from standard input")?;
                } else {
                    text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                }
                let defs: Vec<TierDefinition> = serde_json::from_str(&text).map_err(|e| {
                    anyhow!(
                        "the tier rules are not valid ({e}); write a JSON list, best tier \
                         first, e.g. [{{\"name\":\"Gold\",\"rule\":{{\"rule\":\"top_clv_percent\",\
                         \"percent\":20}}}},{{\"name\":\"Base\",\"rule\":{{\"rule\":\"everyone\"}}}}]; \
                         rules: top_clv_percent, min_total_spend, min_clv, segments, everyone"
                    )
                })?;
                uc::set_tier_rules(app, tenant, &defs).await.map_err(lift)?;
                eprintln!(
                    "{} tier rules saved; `concierge analytics run` applies them",
                    defs.len()
                );
            }
            let defs = uc::tier_rules(app, tenant).await.map_err(lift)?;
            println!("{}", serde_json::to_string_pretty(&defs)?);
            Ok(())
        }
    }
}

async fn run_all(app: &App, tenant: TenantId, a: RunArgs) -> anyhow::Result<()> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let opts = RunOptions {
        as_of_day: a
            .as_of
            .as_deref()
            .map(uc::parse_day)
            .transpose()
            .map_err(lift)?,
        time_unit: unit(&a.time_unit)?,
        at_risk_min_value: a.at_risk_min_value,
        ..RunOptions::default()
    };
    if !opts.at_risk_min_value.is_finite() {
        return Err(anyhow!("--at-risk-min-value must be a number"));
    }
    let bar = ProgressBar::with_draw_target(
        Some(1),
        if a.no_progress {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:40}] {percent:>3}% {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let report = uc::run(app, tenant, &opts, &|stage, done, total| {
        bar.set_prefix(match stage {
            Stage::Orders => "orders",
            Stage::Lines => "lines",
            Stage::Models => "models",
            Stage::Store => "store",
        });
        bar.set_length(total.max(1));
        bar.set_position(done);
    })
    .await
    .map_err(lift);
    bar.finish_and_clear();
    let r = report?;
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    println!(
        "analysed {} customers ({} repeat buyers, {} orders) as of {}, in {}s",
        r.customers, r.repeat_buyers, r.orders, r.as_of, r.time_unit
    );
    let ex = r.excluded;
    if ex.future_dated + ex.negative + ex.zero > 0 {
        println!(
            "left out: {} orders after the as-of date, {} refunds, {} free orders",
            ex.future_dated, ex.negative, ex.zero
        );
    }
    if let Some(bg) = r.bgnbd {
        println!(
            "BG/NBD: r = {:.4}, alpha = {:.4}, a = {:.4}, b = {:.4} (log-likelihood {:.2})",
            bg.r, bg.alpha, bg.a, bg.b, bg.log_likelihood
        );
    }
    if let Some(gg) = r.gamma_gamma {
        println!(
            "Gamma-Gamma: p = {:.4}, q = {:.4}, v = {:.4}{}",
            gg.p,
            gg.q,
            gg.v,
            r.frequency_spend_correlation
                .map(|c| format!(" (frequency-spend correlation {c:.3})"))
                .unwrap_or_default()
        );
    }
    for n in &r.model_notes {
        println!("note: {n}");
    }
    println!(
        "Pareto: top 20% of customers bring {:.1}% of revenue; Gini {:.3}",
        r.pareto.top_20_percent_share * 100.0,
        r.pareto.gini
    );
    if r.total_clv > 0.0 {
        println!("12-month CLV, all customers: {}", money(r.total_clv));
    }
    let segs: Vec<String> = r.segments.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("segments: {}", segs.join(", "));
    let tiers: Vec<String> = r.tiers.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!(
        "tiers: {} ({} changes: {} up, {} down)",
        tiers.join(", "),
        r.tier_changes,
        r.upgrades,
        r.downgrades
    );
    println!(
        "at risk: {}; replenishment predictions: {} ({} due within a week)",
        r.at_risk, r.predictions, r.due_soon
    );
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum BenchTarget {
    /// Time the analytics: the pure pipeline (summary, fit, scoring with CLV) on simulated
    /// customers, then a full `analytics run` (load, summary, fit, score, replenishment,
    /// tiers, store) on the workspace's database, generating customers first if it is empty.
    Analytics {
        /// Customers to simulate and, in an empty workspace, to generate.
        #[arg(long, default_value_t = 100_000)]
        customers: u64,
        /// Random seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Model time unit: day or week.
        #[arg(long, default_value = "week")]
        time_unit: String,
        /// Skip the database part (generation, run and store).
        #[arg(long)]
        no_store: bool,
        /// Write the simulated customers' summary (frequency, recency, T, monetary_value) as
        /// CSV to this path, and the fits and timings beside it as PATH.json, for
        /// `scripts/bench-lifetimes.py` to run the `lifetimes` package on the same data.
        #[arg(long)]
        export_summary: Option<PathBuf>,
    },
    /// Time case work on the workspace's database (generating cases first if it has none):
    /// creating a case, the case page, a queue page with its count; and peak memory.
    Cases {
        /// Cases to generate in an empty workspace (5 messages each).
        #[arg(long, default_value_t = 100_000)]
        cases: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Measurements per operation.
        #[arg(long, default_value_t = 500)]
        samples: usize,
    },
    /// Time the orders CSV import: generate a file, import it (rows/s) next to a bare bulk
    /// insert of the same rows into the same engine, import it again (all unchanged), then
    /// read profiles with their first timeline page (p50/p99). Writes into two new
    /// workspaces named bench-import-* and bench-bare-*.
    Import {
        /// Customers to generate.
        #[arg(long, default_value_t = 1_000_000)]
        customers: u64,
        /// Order lines to generate (at most; the file ends at an order boundary).
        #[arg(long, default_value_t = 10_000_000)]
        lines: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Profile reads to time.
        #[arg(long, default_value_t = 2000)]
        samples: usize,
        /// Keep the generated CSV at this path.
        #[arg(long)]
        keep_csv: Option<PathBuf>,
    },
    /// Time mail intake: generated inbound mail (mixed languages and charsets, replies and
    /// new cases, some attachments) through the whole pipeline (raw committed, parsed,
    /// deduplicated, threaded, stored, indexed) next to a bare insert of the same raw bytes
    /// into the same engine, then the pipe command (`mail ingest`) per message. Writes into
    /// new workspaces named bench-ingest-*, bench-bare1-* and bench-bulk-*.
    Ingest {
        /// Messages through the pipeline.
        #[arg(long, default_value_t = 100_000)]
        messages: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Messages sent through the pipe command, one process each.
        #[arg(long, default_value_t = 200)]
        pipe_samples: usize,
        /// Deliveries in flight at once, for the pipeline and the bare insert alike (as
        /// parallel MTA deliveries or webhook calls); 1 takes them one after another.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// Time search: rebuilding the index, then English and Chinese/Korean queries.
    Search {
        /// Cases to generate in an empty workspace (5 messages each).
        #[arg(long, default_value_t = 100_000)]
        cases: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Queries per language.
        #[arg(long, default_value_t = 500)]
        samples: usize,
        /// Search the index as it is instead of rebuilding it first (so the peak memory is
        /// that of searching alone).
        #[arg(long)]
        skip_reindex: bool,
    },
}

pub async fn bench(g: Global, target: BenchTarget) -> anyhow::Result<()> {
    let (customers, seed, time_unit, no_store, export_summary) = match target {
        BenchTarget::Analytics {
            customers,
            seed,
            time_unit,
            no_store,
            export_summary,
        } => (customers, seed, time_unit, no_store, export_summary),
        BenchTarget::Cases {
            cases,
            seed,
            samples,
        } => return crate::bench::cases(&g, cases, seed, samples).await,
        BenchTarget::Search {
            cases,
            seed,
            samples,
            skip_reindex,
        } => return crate::bench::search(&g, cases, seed, samples, skip_reindex).await,
        BenchTarget::Ingest {
            messages,
            seed,
            pipe_samples,
            concurrency,
        } => {
            let b = crate::bench_ingest::IngestBench {
                messages,
                seed,
                pipe_samples,
                concurrency,
            };
            return crate::bench_ingest::ingest(&g, &b).await;
        }
        BenchTarget::Import {
            customers,
            lines,
            seed,
            samples,
            keep_csv,
        } => {
            let b = crate::bench::ImportBench {
                customers,
                lines,
                seed,
                samples,
                keep_csv,
            };
            return crate::bench::import(&g, &b).await;
        }
    };
    let unit = unit(&time_unit)?;
    let n = usize::try_from(customers).context("--customers is too large")?;
    let run = tokio::task::spawn_blocking(move || {
        uc::run_pipeline(&uc::BenchOptions {
            customers: n,
            seed,
            time_unit: unit,
        })
    })
    .await
    .context("the benchmark thread failed")?
    .map_err(|e| anyhow!("the simulated pipeline failed: {e}"))?;
    let r = &run.report;
    println!(
        "pure pipeline, {} simulated customers ({} transactions):",
        r.customers, r.transactions
    );
    println!("  summary        {:>9.1} ms", r.summary_ms);
    println!("  BG/NBD fit     {:>9.1} ms", r.fit_bgnbd_ms);
    println!("  Gamma-Gamma    {:>9.1} ms", r.fit_gamma_gamma_ms);
    println!("  scoring + CLV  {:>9.1} ms", r.score_ms);
    println!("  fit + scoring  {:>9.1} ms", r.fit_and_score_ms);
    if let Some(path) = &export_summary {
        export_bench_summary(path, &run, unit)?;
        println!(
            "  summary written to {} (fits and timings in {}.json)",
            path.display(),
            path.display()
        );
    }
    if no_store {
        return Ok(());
    }
    let (app, tenant) = open(&g).await?;
    let result = async {
        if app.store.count_customers(tenant).await? == 0 {
            let args = crate::commands::GenArgs {
                seed,
                customers,
                households: None,
                orders_per_customer: 6.0,
                cases: 0,
                messages_per_case: 1.0,
            };
            crate::commands::generate(&app, tenant, &args, true).await?;
        }
        let rep = uc::run(
            &app,
            tenant,
            &RunOptions {
                time_unit: unit,
                ..RunOptions::default()
            },
            &|_, _, _| {},
        )
        .await
        .map_err(lift)?;
        println!(
            "analytics run on the database ({} customers, {} orders):",
            rep.customers, rep.orders
        );
        for (step, ms) in &rep.timings_ms {
            println!("  {step:<14} {ms:>9.1} ms");
        }
        anyhow::Ok(())
    }
    .await;
    app.store.close().await;
    result
}

/// Writes the simulated summary as CSV in the `lifetimes` column names, and the fits, timings and
/// scoring options beside it as JSON, so the same data can be fitted by `lifetimes`.
fn export_bench_summary(
    path: &std::path::Path,
    run: &uc::BenchRun,
    unit: TimeUnit,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let file = std::fs::File::create(path)
        .with_context(|| format!("creating the summary file {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    writeln!(w, "frequency,recency,T,monetary_value")?;
    for h in run.summary.histories() {
        writeln!(
            w,
            "{},{},{},{}",
            h.frequency, h.recency, h.age, h.monetary_value
        )?;
    }
    w.flush()
        .with_context(|| format!("writing the summary file {}", path.display()))?;
    let r = &run.report;
    let json = serde_json::json!({
        "customers": r.customers,
        "transactions": r.transactions,
        "time_unit": unit.as_str(),
        "timings_ms": {
            "summary": r.summary_ms,
            "fit_bgnbd": r.fit_bgnbd_ms,
            "fit_gamma_gamma": r.fit_gamma_gamma_ms,
            "score": r.score_ms,
            "fit_and_score": r.fit_and_score_ms,
        },
        "bgnbd": {
            "r": r.bgnbd.params.r,
            "alpha": r.bgnbd.params.alpha,
            "a": r.bgnbd.params.a,
            "b": r.bgnbd.params.b,
            "log_likelihood": r.bgnbd.log_likelihood,
        },
        "gamma_gamma": {
            "p": r.gamma_gamma.params.p,
            "q": r.gamma_gamma.params.q,
            "v": r.gamma_gamma.params.v,
        },
        "scoring": {"horizon": 90.0 / unit.days(), "clv_months": 12, "monthly_discount_rate": 0.01},
        "total_clv": r.total_clv,
        "mean_prob_alive": run.scores.iter().map(|s| s.prob_alive).sum::<f64>() / run.scores.len().max(1) as f64,
        "mean_expected_purchases": run.scores.iter().map(|s| s.expected_purchases).sum::<f64>() / run.scores.len().max(1) as f64,
    });
    let mut json_path = path.as_os_str().to_owned();
    json_path.push(".json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", std::path::Path::new(&json_path).display()))?;
    Ok(())
}
