//! `concierge mail ingest`: one RFC 5322 message on standard input, for an MTA's pipe
//! delivery (Postfix `pipe`, an aliases entry), like Request Tracker's `rt-mailgate`.
//!
//! Exit codes follow sysexits so the MTA does the right thing: 0 once the message is
//! committed (stored, a duplicate, ignored or kept); 75 (EX_TEMPFAIL) when it could not be
//! stored — database down, disk full, bad configuration — so the MTA keeps it and retries;
//! 65 (EX_DATAERR) only for input that can never be accepted, and even then its raw bytes
//! are kept in quarantine.

use crate::Global;
use clap::Subcommand;
use concierge_app::config::Overrides;
use concierge_app::mail::{IngestError, IngestState};
use concierge_app::{App, Config};
use concierge_store::Store;
use std::io::Read;

/// Committed.
pub const EX_OK: u8 = 0;
/// Never acceptable (kept in quarantine).
pub const EX_DATAERR: u8 = 65;
/// Not stored; retry later.
pub const EX_TEMPFAIL: u8 = 75;

#[derive(Subcommand, Debug)]
pub enum MailAction {
    /// Read one message on standard input and take it in (exit 0 committed, 75 retry later,
    /// 65 never acceptable — kept in quarantine).
    Ingest {
        /// The mailbox the message was delivered to (e.g. support, billing).
        #[arg(long, default_value = "default")]
        mailbox: String,
        /// Print what became of the message as JSON on standard output.
        #[arg(long)]
        json: bool,
    },
    /// Deliver queued outbound replies once (what the background worker does every few
    /// seconds), and print how many were attempted.
    Deliver,
    /// Poll the tenant's IMAP mailboxes once now (what the background worker does at each
    /// mailbox's interval) and print one JSON report per mailbox; exit 75 if any poll failed
    /// (the reason is also shown on the mailbox).
    Poll {
        /// Only the mailbox of this name.
        #[arg(long)]
        mailbox: Option<String>,
    },
}

/// Runs a mail subcommand and returns its exit code; errors are printed to stderr.
pub async fn run(g: &Global, action: &MailAction) -> u8 {
    match action {
        MailAction::Ingest { mailbox, json } => ingest(g, mailbox, *json).await,
        MailAction::Poll { mailbox } => poll(g, mailbox.as_deref()).await,
        MailAction::Deliver => match open(g).await {
            Ok(app) => match app.deliver_outbound_mail().await {
                Ok(n) => {
                    println!("{n}");
                    EX_OK
                }
                Err(e) => {
                    eprintln!("error: delivering outbound mail: {e}");
                    EX_TEMPFAIL
                }
            },
            Err(e) => {
                eprintln!("error: {e:#}");
                EX_TEMPFAIL
            }
        },
    }
}

async fn open(g: &Global) -> anyhow::Result<App> {
    let cfg = Config::load(
        g.config.as_deref(),
        &Overrides {
            data_dir: g.data_dir.clone(),
            database_url: g.database_url.clone(),
            listen: None,
        },
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let url = cfg.database_url();
    let store = Store::open(&url).await.map_err(|e| {
        anyhow::anyhow!(
            "opening the database {}: {e}",
            concierge_store::redact(&url)
        )
    })?;
    Ok(App::new(store, cfg))
}

async fn tenant_of(g: &Global, app: &App) -> anyhow::Result<concierge_domain::TenantId> {
    let (slug, name) = match &g.tenant {
        Some(s) => {
            let slug = concierge_domain::TenantSlug::parse(s)
                .map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
            (slug.as_str().to_string(), slug.as_str().to_string())
        }
        None => (
            app.config.tenant.default_slug.clone(),
            app.config.tenant.default_name.clone(),
        ),
    };
    Ok(app.store.ensure_tenant(&slug, &name, app.now()).await?.id)
}

async fn poll(g: &Global, only: Option<&str>) -> u8 {
    let app = match open(g).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return EX_TEMPFAIL;
        }
    };
    let code = match poll_all(g, &app, only).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            EX_TEMPFAIL
        }
    };
    app.store.close().await;
    code
}

async fn poll_all(g: &Global, app: &App, only: Option<&str>) -> anyhow::Result<u8> {
    let tenant = tenant_of(g, app).await?;
    let boxes: Vec<_> = app
        .store
        .mailboxes(tenant)
        .await?
        .into_iter()
        .filter(|m| only.is_none_or(|n| m.settings.name == n))
        .collect();
    if let Some(n) = only
        && boxes.is_empty()
    {
        anyhow::bail!("no mailbox named '{n}' (add one with POST /api/v1/mailboxes)");
    }
    let node = format!("{}#cli", app.config.node_name());
    let mut code = EX_OK;
    for m in boxes {
        let report = app.poll_mailbox(tenant, m.id, &node).await?;
        if let Some(e) = &report.error {
            eprintln!("error: mailbox {}: {e}", m.settings.name);
            code = EX_TEMPFAIL;
        }
        println!(
            "{}",
            serde_json::json!({"mailbox": m.settings.name, "report": report})
        );
    }
    Ok(code)
}

async fn ingest(g: &Global, mailbox: &str, json: bool) -> u8 {
    // Read everything first: the MTA must not see a half-read pipe.
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut raw) {
        eprintln!("error: cannot read the message from standard input: {e}; retry later");
        return EX_TEMPFAIL;
    }
    let app = match open(g).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}; the message was not stored, retry later");
            return EX_TEMPFAIL;
        }
    };
    let tenant = {
        let (slug, name) = match &g.tenant {
            Some(s) => match concierge_domain::TenantSlug::parse(s) {
                Ok(slug) => (slug.as_str().to_string(), slug.as_str().to_string()),
                Err(e) => {
                    eprintln!("error: --tenant: {e}; the message was not stored");
                    return EX_TEMPFAIL;
                }
            },
            None => (
                app.config.tenant.default_slug.clone(),
                app.config.tenant.default_name.clone(),
            ),
        };
        match app.store.ensure_tenant(&slug, &name, app.now()).await {
            Ok(t) => t.id,
            Err(e) => {
                eprintln!("error: {e}; the message was not stored, retry later");
                return EX_TEMPFAIL;
            }
        }
    };
    let code = match app.ingest_raw(tenant, mailbox, &raw).await {
        Ok(o) => {
            if json {
                match serde_json::to_string(&o) {
                    Ok(s) => println!("{s}"),
                    Err(e) => eprintln!("warning: cannot print the outcome: {e}"),
                }
            }
            match o.state {
                IngestState::Quarantined => {
                    eprintln!(
                        "error: the message can never be accepted ({}); its raw bytes are kept \
                         in quarantine as inbound mail {}",
                        o.reason.as_deref().unwrap_or("unusable"),
                        o.inbound_id
                    );
                    EX_DATAERR
                }
                _ => EX_OK,
            }
        }
        Err(e @ IngestError::Busy) | Err(e @ IngestError::Unavailable(_)) => {
            eprintln!("error: {e}");
            EX_TEMPFAIL
        }
    };
    app.store.close().await;
    code
}
