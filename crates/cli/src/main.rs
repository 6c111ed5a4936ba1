//! The `concierge` binary: command-line parsing and configuration, then a call into the
//! application layer for each subcommand. No business rule lives here.

mod analytics;
mod bench;
mod bench_ingest;
mod commands;
mod import;
mod mail;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "concierge",
    version,
    about = "Customer service that remembers: helpdesk cases, customer memory, mail, targets, analytics."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand that touches data accepts.
#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// Configuration file (default: ./concierge.toml when present).
    #[arg(long, global = true, env = "CONCIERGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (embedded database, attachments, index, outbox).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://user@host/db. Default: SQLite in the data dir.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Workspace (tenant) to act on. Default: the configured default tenant.
    #[arg(long, global = true)]
    pub tenant: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web server (and the background worker).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Create or reuse a demo data directory (default ./concierge-demo, or --data-dir) with
    /// generated data and demo users, and serve it.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Number of generated customers on first start.
        #[arg(long, default_value_t = 300)]
        customers: u64,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage staff users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Generate synthetic data (deterministic by seed).
    Gen(commands::GenArgs),
    /// Full-text search index.
    Search {
        #[command(subcommand)]
        action: SearchAction,
    },
    /// Customer analytics: segments, lifetime value, churn, tiers, replenishment.
    Analytics {
        #[command(subcommand)]
        action: analytics::AnalyticsAction,
    },
    /// Import orders or customers from a CSV file (progress bar, every bad row reported).
    Import {
        #[command(subcommand)]
        what: import::ImportWhat,
    },
    /// Time parts of the system on generated data.
    Bench {
        #[command(subcommand)]
        target: analytics::BenchTarget,
    },
    /// Email: take in a message from an MTA pipe, deliver queued replies.
    Mail {
        #[command(subcommand)]
        action: mail::MailAction,
    },
    /// Show configuration.
    Config {
        /// Print every setting with its default and documentation.
        #[arg(long)]
        print_defaults: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// Add a staff user. Without --password-stdin a password is generated and printed.
    Add {
        #[arg(long)]
        email: String,
        /// admin, manager or agent
        #[arg(long)]
        role: String,
        /// Display name (default: the part of the email before @).
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum SearchAction {
    /// Rebuild this node's search index from the database (progress bar).
    Reindex,
}

#[derive(Subcommand, Debug)]
pub enum TokenAction {
    /// Create an API token for a user; prints only the token.
    Create {
        #[arg(long)]
        email: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(70);
        }
    };
    match rt.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(commands::exit_code(&e))
        }
    }
}
