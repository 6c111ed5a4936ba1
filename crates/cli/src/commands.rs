//! What each subcommand does, in terms of the application layer.

use crate::{Cli, Command, Global, SearchAction, TokenAction, UserAction};
use anyhow::{Context, anyhow, bail};
use clap::Args;
use concierge_app::config::{DEFAULTS_TOML, Overrides};
use concierge_app::{App, Config};
use concierge_domain::{Role, TenantId};
use concierge_store::{Store, StoreError};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// Options of `concierge gen`.
#[derive(Args, Debug, Clone)]
pub struct GenArgs {
    /// Random seed: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value_t = 1000)]
    pub customers: u64,
    /// Households (groups of customers).
    #[arg(long)]
    pub households: Option<u64>,
    /// Mean orders per customer.
    #[arg(long, default_value_t = 6.0)]
    pub orders_per_customer: f64,
    #[arg(long, default_value_t = 500)]
    pub cases: u64,
    /// Mean messages per case.
    #[arg(long, default_value_t = 4.0)]
    pub messages_per_case: f64,
}

/// The exit code for an error: 75 (EX_TEMPFAIL) when the database is unavailable, else 1.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(s) = cause.downcast_ref::<StoreError>()
            && s.is_transient()
        {
            return 75;
        }
    }
    1
}

fn init_logging(cfg: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CONCIERGE_LOG")
        .or_else(|_| EnvFilter::try_new(&cfg.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if cfg.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

fn load_config(
    g: &Global,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<Config> {
    Config::load(
        g.config.as_deref(),
        &Overrides {
            data_dir: data_dir.or_else(|| g.data_dir.clone()),
            database_url: g.database_url.clone(),
            listen,
        },
    )
    .map_err(|e| anyhow!(e))
}

async fn open_app(cfg: Config) -> anyhow::Result<App> {
    let url = cfg.database_url();
    let store = Store::open(&url)
        .await
        .with_context(|| format!("opening the database {}", concierge_store::redact(&url)))?;
    Ok(App::new(store, cfg))
}

async fn tenant_of(app: &App, g: &Global) -> anyhow::Result<TenantId> {
    let now = app.now();
    let t = match &g.tenant {
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
    Ok(t.id)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

async fn serve(app: App) -> anyhow::Result<()> {
    let listen = app.config.server.listen.clone();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    concierge_web::serve(app, listener, shutdown_signal()).await
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let g = cli.global.clone();
    match cli.command {
        // Exit codes for the MTA (0 / 65 / 75) are decided by the mail module.
        Command::Mail { action } => match crate::mail::run(&g, &action).await {
            0 => Ok(()),
            code => std::process::exit(i32::from(code)),
        },
        Command::Config { print_defaults } => {
            if print_defaults {
                print!("{DEFAULTS_TOML}");
            } else {
                let cfg = load_config(&g, None, None)?;
                print!("{}", toml_string(&cfg)?);
            }
            Ok(())
        }
        Command::Migrate => {
            let cfg = load_config(&g, None, None)?;
            init_logging(&cfg);
            let app = open_app(cfg).await?;
            app.store.close().await;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Serve { listen } => {
            let cfg = load_config(&g, listen, None)?;
            init_logging(&cfg);
            let app = open_app(cfg).await?;
            serve(app).await
        }
        Command::User { action } => match action {
            UserAction::Add {
                email,
                role,
                name,
                password_stdin,
            } => {
                let cfg = load_config(&g, None, None)?;
                let app = open_app(cfg).await?;
                let tenant = tenant_of(&app, &g).await?;
                let role = Role::parse(&role)?;
                let (password, generated) = if password_stdin {
                    let mut line = String::new();
                    std::io::stdin()
                        .lock()
                        .read_line(&mut line)
                        .context("reading the password from standard input")?;
                    (line.trim_end_matches(['\r', '\n']).to_string(), false)
                } else {
                    (concierge_app::secrets::generate_password(), true)
                };
                let user = app
                    .add_user(tenant, &email, name.as_deref(), role, &password)
                    .await?;
                if generated {
                    println!(
                        "created {} ({}) with password: {password}",
                        user.email,
                        role.as_str()
                    );
                } else {
                    println!("created {} ({})", user.email, role.as_str());
                }
                app.store.close().await;
                Ok(())
            }
        },
        Command::Token { action } => match action {
            TokenAction::Create { email, name } => {
                let cfg = load_config(&g, None, None)?;
                let app = open_app(cfg).await?;
                let tenant = tenant_of(&app, &g).await?;
                let email_n = concierge_domain::EmailAddress::parse(&email)?;
                let Some(user) = app.store.user_by_email(tenant, email_n.as_str()).await? else {
                    bail!("no user with the email {email} in this workspace");
                };
                let (token, _) = app.create_api_token(&user, &name).await?;
                println!("{token}");
                app.store.close().await;
                Ok(())
            }
        },
        Command::Search {
            action: SearchAction::Reindex,
        } => {
            let cfg = load_config(&g, None, None)?;
            init_logging(&cfg);
            let app = open_app(cfg).await?;
            reindex(&app, true).await?;
            app.store.close().await;
            Ok(())
        }
        Command::Analytics { action } => crate::analytics::run(g, action).await,
        // Exit codes (0 / 65 / 66) are decided by the import module.
        Command::Import { what } => match crate::import::run(&g, what).await? {
            0 => Ok(()),
            code => std::process::exit(i32::from(code)),
        },
        Command::Bench { target } => {
            // Quiet unless asked for (CONCIERGE_LOG=sqlx::query=debug counts statements).
            if std::env::var_os("CONCIERGE_LOG").is_some() {
                init_logging(&load_config(&g, None, None)?);
            }
            crate::analytics::bench(g, target).await
        }
        Command::Gen(args) => {
            let cfg = load_config(&g, None, None)?;
            init_logging(&cfg);
            let app = open_app(cfg).await?;
            let tenant = tenant_of(&app, &g).await?;
            crate::commands::generate(&app, tenant, &args, true).await?;
            app.store.close().await;
            Ok(())
        }
        Command::Demo { listen, customers } => {
            let dir = g
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("./concierge-demo"));
            let cfg = load_config(&g, Some(listen), Some(dir.clone()))?;
            init_logging(&cfg);
            let app = open_app(cfg).await?;
            let tenant = tenant_of(&app, &g).await?;
            let mut created = Vec::new();
            for (email, role) in [
                ("admin@demo.test", Role::Admin),
                ("manager@demo.test", Role::Manager),
                ("agent@demo.test", Role::Agent),
            ] {
                if app.store.user_by_email(tenant, email).await?.is_none() {
                    app.add_user(tenant, email, None, role, "concierge-demo")
                        .await?;
                    created.push(email);
                }
            }
            if app.store.count_customers(tenant).await? == 0 {
                let args = GenArgs {
                    seed: 7,
                    customers,
                    households: None,
                    orders_per_customer: 6.0,
                    cases: customers / 2,
                    messages_per_case: 4.0,
                };
                generate(&app, tenant, &args, true).await?;
            }
            app.seed_demo_cases(tenant).await?;
            println!("Concierge demo data in {}", dir.display());
            println!("Sign in as admin@demo.test, manager@demo.test or agent@demo.test");
            println!("with the password: concierge-demo");
            serve(app).await
        }
    }
}

fn toml_string(cfg: &Config) -> anyhow::Result<String> {
    let mut v = serde_json::to_value(cfg).context("rendering the configuration")?;
    redact_secrets(&mut v);
    Ok(format!("{v:#}\n"))
}

/// Hides secrets from `concierge config`: a set password, secret or key (`[secrets] key`)
/// shows as `"(set)"`, and the password inside a database URL (`postgres://user:pw@host`) as
/// `***`.
fn redact_secrets(v: &mut serde_json::Value) {
    use serde_json::Value;
    if let Value::Object(map) = v {
        for (key, val) in map.iter_mut() {
            let secret = key.contains("password") || key.contains("secret") || key == "key";
            match val {
                Value::String(s) if secret && !s.is_empty() => *s = "(set)".to_string(),
                Value::String(s) if key.ends_with("url") => *s = redact_url_password(s),
                other => redact_secrets(other),
            }
        }
    }
}

fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

/// Fills the store with generated data, with a progress bar per stage.
pub async fn generate(
    app: &App,
    tenant: TenantId,
    args: &GenArgs,
    progress: bool,
) -> anyhow::Result<()> {
    use concierge_app::generate::{GenOptions, Stage};
    use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
    let opts = GenOptions {
        seed: args.seed,
        customers: args.customers,
        households: args.households,
        orders_per_customer: args.orders_per_customer,
        cases: args.cases,
        messages_per_case: args.messages_per_case,
        end_ms: app.now(),
    };
    let multi = MultiProgress::with_draw_target(if progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style =
        ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    let customers = multi.add(
        ProgressBar::new(args.customers)
            .with_style(style.clone())
            .with_prefix("customers"),
    );
    let cases = multi.add(
        ProgressBar::new(args.cases)
            .with_style(style)
            .with_prefix("cases"),
    );
    let report = concierge_app::generate::generate(app, tenant, &opts, &|stage, done, total| {
        let bar = match stage {
            Stage::Customers => &customers,
            Stage::Cases => &cases,
        };
        bar.set_length(total);
        bar.set_position(done);
    })
    .await
    .context("generating data")?;
    customers.finish();
    cases.finish();
    reindex(app, progress).await?;
    eprintln!(
        "generated {} customers, {} households, {} products, {} orders ({} lines), {} agents, {} cases, {} messages",
        report.customers,
        report.households,
        report.products,
        report.orders,
        report.order_lines,
        report.agents,
        report.cases,
        report.messages
    );
    Ok(())
}

/// Rebuilds the search index with a spinner counting documents.
pub async fn reindex(app: &App, progress: bool) -> anyhow::Result<()> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let bar = ProgressBar::with_draw_target(
        None,
        if progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} {spinner} {pos} documents {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix("indexing");
    let b = bar.clone();
    let segments = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = segments.clone();
    let n = concierge_app::search::reindex(app, move |p| {
        b.set_position(p.indexed);
        if p.merging {
            b.set_prefix("merging");
            b.set_message("segments");
        }
        if p.done {
            seen.store(p.segments, std::sync::atomic::Ordering::Relaxed);
        }
    })
    .await
    .context(
        "rebuilding the search index (is a server on this data directory running? stop it first)",
    )?;
    bar.finish();
    let segments = segments.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("indexed {n} documents ({segments} segments)");
    Ok(())
}
