//! `concierge import orders|customers FILE.csv`: the CSV imports with a progress bar, a
//! summary and every rejected row as `line N: reason`. Exit codes: 0 when every row was
//! imported (or was already there), 65 when any row was rejected or the file is unusable,
//! 75 when the database is unavailable. The rules live in `concierge_app::import`.

use crate::Global;
use anyhow::anyhow;
use clap::{Args, Subcommand};
use concierge_app::import::{ImportError, ImportInput, ImportOptions, ImportReport, Stage};
use std::path::PathBuf;

const ORDERS_HELP: &str = "\
Import orders from a CSV file: one row per order line.

Columns (a header row is required; names in any order, case-insensitive):
  required  order_id,customer_id,ordered_at,sku,quantity,unit_price
  optional  currency,status,product_name,category,unit,pack_size,customer_email,customer_name

  customer_id   the customer's external id; unknown customers are created (named by
                customer_name, else customer_email, else the id; with customer_email as
                their email). An orders import never changes a known customer.
  ordered_at    RFC 3339 (2026-03-01T09:30:00+09:00) or YYYY-MM-DD[ HH:MM[:SS]] in UTC
  quantity      a number above zero (2, 0.5)
  unit_price    a non-negative amount in major units with '.' for decimals (12.50);
                at most as many decimals as the currency has (KRW/JPY: none)
  currency      ISO 4217 code (default: --currency, else USD)
  status        placed, paid (default) or returned; returned orders are not purchases

The file must be UTF-8 (a byte-order mark is fine). Batches: the whole file is checked
first; then good orders are written in transactions of 1,000 orders. The lines of an order
must be adjacent and agree on customer_id, ordered_at, currency and status. An order with any
bad line is rejected whole: each bad line is reported with its reason, and the order's other
lines as not imported. Orders are keyed by order_id and products by sku: importing the same
file again changes nothing (orders count as unchanged); an order imported again with other
lines or status is updated (its lines are replaced); an order stored for another customer is
rejected. Imported orders appear on the customer's timeline and in analytics.

Exit status: 0 all rows imported or unchanged; 65 some rows rejected (the good orders are
imported) or the file is unusable (nothing imported); 75 database unavailable.";

const CUSTOMERS_HELP: &str = "\
Import customers from a CSV file: one row per customer.

Columns (a header row is required; names in any order, case-insensitive):
  required  customer_id,name
  optional  email,phone,given_name,family_name,language,time_zone,birthday,
            preferred_channel,tags

  customer_id        the external id (the same one orders files use)
  birthday           YYYY-MM-DD
  language           a language tag (en, zh-CN, ko); national phone numbers are read in
                     the country it implies
  time_zone          an IANA name (Asia/Seoul)
  preferred_channel  email, phone, sms, letter, portal or visit
  tags               separated by ';' or '|'

The file must be UTF-8 (a byte-order mark is fine). The whole file is checked first; then
customers are written in transactions of 1,000. A customer_id that appears twice rejects
every row with it. Known customers get the non-empty fields of their row (an empty field
leaves a value as it is); a new email or phone becomes the primary one and the old one is
kept; tags are added. Importing the same file again changes nothing.

Exit status: 0 all rows imported or unchanged; 65 some rows rejected or the file unusable;
75 database unavailable.";

#[derive(Subcommand, Debug)]
pub enum ImportWhat {
    /// Import orders (one row per order line) from a CSV file.
    #[command(long_about = ORDERS_HELP)]
    Orders {
        #[command(flatten)]
        common: ImportArgs,
        /// Currency of rows without a currency column or value (ISO 4217).
        #[arg(long)]
        currency: Option<String>,
    },
    /// Import customers from a CSV file.
    #[command(long_about = CUSTOMERS_HELP)]
    Customers {
        #[command(flatten)]
        common: ImportArgs,
    },
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The CSV file (UTF-8).
    pub file: PathBuf,
    /// Check and count everything, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// Runs an import; answers the exit code.
pub async fn run(g: &Global, what: ImportWhat) -> anyhow::Result<u8> {
    let (orders, common, currency) = match what {
        ImportWhat::Orders { common, currency } => (true, common, currency),
        ImportWhat::Customers { common } => (false, common, None),
    };
    if !common.file.is_file() {
        eprintln!("error: {} is not a readable file", common.file.display());
        return Ok(66);
    }
    let (app, tenant) = crate::analytics::open_workspace(g).await?;
    let bar = progress_bar(!common.no_progress && !common.json);
    let b = bar.clone();
    let progress = move |stage: Stage, done: u64, total: u64| {
        b.set_prefix(match stage {
            Stage::Checking => "checking",
            Stage::Writing => "importing",
        });
        b.set_length(total);
        b.set_position(done);
    };
    let opts = ImportOptions {
        currency,
        dry_run: common.dry_run,
        actor: None,
    };
    let input = ImportInput::File(&common.file);
    let result = if orders {
        app.import_orders(tenant, input, &opts, &progress).await
    } else {
        app.import_customers(tenant, input, &opts, &progress).await
    };
    bar.finish_and_clear();
    app.store.close().await;
    let report = match result {
        Ok(r) => r,
        Err(ImportError::File(e)) => {
            eprintln!("error: {}: {e}", common.file.display());
            return Ok(65);
        }
        Err(ImportError::Invalid(m)) => {
            eprintln!("error: {m}");
            return Ok(65);
        }
        Err(ImportError::Store(e)) => return Err(anyhow::Error::new(e)),
        Err(e @ ImportError::Interrupted { .. }) => return Err(anyhow!(e)),
    };
    if common.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, if orders { "orders" } else { "customers" });
    }
    Ok(if report.rejected.is_empty() { 0 } else { 65 })
}

fn progress_bar(visible: bool) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let bar = ProgressBar::with_draw_target(
        Some(0),
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

fn print_report(r: &ImportReport, what: &str) {
    let verb = if r.dry_run { "would be " } else { "" };
    println!(
        "{what}: {} {verb}imported, {} {verb}updated, {} unchanged; {} row(s) rejected \
         (of {} rows)",
        r.imported,
        r.updated,
        r.unchanged,
        r.rejected.len(),
        r.rows
    );
    if what == "orders" {
        println!(
            "  {} order lines {verb}written, {} customers {verb}created, {} products {verb}created, \
             {} products {verb}updated",
            r.lines_written, r.customers_created, r.products_created, r.products_updated
        );
    }
    if r.dry_run {
        println!("  dry run: nothing was written");
    }
    for x in &r.rejected {
        println!("line {}: {}", x.line, x.reason);
    }
}
