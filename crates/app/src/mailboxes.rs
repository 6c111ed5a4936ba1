//! Mailboxes polled over IMAP (issue 5): admins configure them as tenant data; the background
//! worker polls each one under its own lease, so two nodes never poll the same mailbox at once.
//!
//! A poll signs in, selects the folder and compares its UIDVALIDITY with the checkpoint: the
//! same value continues after the last committed UID; a new one (or none yet) re-scans the
//! folder's unseen messages (moved ones are gone anyway), which is safe because the pipeline
//! deduplicates. Each message is fetched without `\Seen` and goes through
//! [`App::ingest_raw`] with the mailbox's name — the same pipeline as the pipe command. Only
//! after its commit is it marked `\Seen` (or moved) and the checkpoint advanced. A poison
//! message is quarantined by the pipeline (raw kept) and marked like any other, so the rest of
//! the mailbox keeps flowing; a database failure stops the round before anything is marked and
//! the next round retries. Connection, TLS, sign-in and folder errors are recorded on the
//! mailbox (`last_error`) for admins to see.
//!
//! TLS trusts the webpki roots plus `[mail] tls_ca_file`. The password is stored encrypted
//! with this node's [`crate::secrets::SecretKey`]; a row still holding a plain password (written
//! before encryption) is used as it is and re-encrypted by its next poll or save. A password
//! the key cannot open stops the poll with a clear `last_error` before anything is sent.

use crate::App;
use crate::cases::CaseError;
use crate::mail::{IngestError, IngestState};
use concierge_domain::{EmailAddress, TenantId};
use concierge_mail::{ImapConfig, ImapError, ImapMailbox, TlsMode};
use concierge_store::StoreError;
use concierge_store::mailboxes::{MailboxRow, MailboxSettings, PollEnd};
use serde::Serialize;
use std::time::Duration;

/// Shortest and longest poll interval.
pub const POLL_INTERVAL_SECS: std::ops::RangeInclusive<i64> = 10..=86_400;
/// The poll interval when none is given.
pub const DEFAULT_POLL_INTERVAL_SECS: i64 = 60;
/// How long a poll may hold its mailbox before another node may take over; every committed
/// message extends it.
pub const POLL_LEASE_MS: i64 = 10 * 60 * 1000;
/// Most messages taken in one round; the rest follow in the next one, at once.
pub const MAX_MESSAGES_PER_ROUND: usize = 500;
/// Limit for each IMAP network step.
const IMAP_TIMEOUT: Duration = Duration::from_secs(60);

/// A mailbox as an admin writes it. On update, a missing password keeps the stored one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxInput {
    pub name: String,
    pub address: String,
    pub imap_host: String,
    pub imap_port: i64,
    /// `tls` (default), `starttls`, or `plain` (only for a server on this machine: tests).
    pub tls_mode: Option<String>,
    pub username: String,
    pub password: Option<String>,
    /// Default `INBOX`.
    pub folder: Option<String>,
    /// `seen` (default) or `move`.
    pub after_commit: Option<String>,
    pub move_to: Option<String>,
    pub poll_interval_secs: Option<i64>,
    /// Default on.
    pub enabled: Option<bool>,
    /// The automatic acknowledgement for mail to this mailbox: `None` follows the tenant's
    /// setting.
    pub acknowledge: Option<bool>,
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PollReport {
    pub mailbox_id: i64,
    /// False when another poller held the mailbox (or it is disabled or gone).
    pub polled: bool,
    /// The folder's UIDVALIDITY differed from the checkpoint (or there was none).
    pub rescanned: bool,
    pub processed: i64,
    pub duplicates: i64,
    pub ignored: i64,
    pub quarantined: i64,
    /// The checkpoint after the poll.
    pub last_uid: i64,
    /// Why the poll stopped early (also recorded on the mailbox).
    pub error: Option<String>,
}

impl PollReport {
    fn taken(&self) -> i64 {
        self.processed + self.duplicates + self.ignored + self.quarantined
    }
}

/// Why a round stopped.
enum Stop {
    Imap(ImapError),
    Store(StoreError),
    Ingest(IngestError),
    /// The poll cannot start: the password cannot be decrypted, the CA file is unreadable.
    Setup(String),
    LeaseLost,
}

impl Stop {
    fn message(&self) -> String {
        match self {
            Stop::Imap(e) => e.to_string(),
            Stop::Store(e) => format!(
                "the database failed ({e}); nothing after the last committed message was \
                 marked, the next round retries"
            ),
            Stop::Ingest(e) => format!("{e}; the message stays unmarked and is retried next round"),
            Stop::Setup(e) => e.clone(),
            Stop::LeaseLost => "another poller took this mailbox over (this poll ran past its \
                                lease); it continues from the checkpoint"
                .to_string(),
        }
    }
}

impl From<ImapError> for Stop {
    fn from(e: ImapError) -> Self {
        Stop::Imap(e)
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

fn invalid(msg: impl Into<String>) -> CaseError {
    CaseError::Invalid(msg.into())
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

fn clean_folder(what: &str, f: &str) -> Result<String, CaseError> {
    let f = f.trim();
    if f.is_empty() || f.chars().count() > 200 || f.chars().any(|c| c.is_control() || c == '"') {
        return Err(invalid(format!(
            "{what} must be 1 to 200 characters without quotes or control characters"
        )));
    }
    Ok(f.to_string())
}

/// Checks an admin's input and gives the settings to store, with defaults filled in.
pub fn validate(input: &MailboxInput) -> Result<MailboxSettings, CaseError> {
    let name = input.name.trim();
    if name.is_empty()
        || name.chars().count() > 100
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(invalid(
            "name must be 1 to 100 letters, digits, '-', '_' or '.' (e.g. support)",
        ));
    }
    let address = EmailAddress::parse(&input.address)
        .map_err(|e| invalid(format!("address: {e}")))?
        .as_str()
        .to_string();
    let host = input.imap_host.trim();
    if host.is_empty() || host.len() > 253 || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(invalid("imap_host must be a host name or IP address"));
    }
    if !(1..=65_535).contains(&input.imap_port) {
        return Err(invalid("imap_port must be between 1 and 65535"));
    }
    let tls_mode = input
        .tls_mode
        .as_deref()
        .unwrap_or("tls")
        .trim()
        .to_string();
    match tls_mode.as_str() {
        "tls" | "starttls" => {}
        "plain" if is_loopback(host) => {}
        "plain" => {
            return Err(invalid(
                "tls_mode plain sends the password unencrypted; it is allowed only for a \
                 server on this machine (localhost). Use tls or starttls",
            ));
        }
        _ => return Err(invalid("tls_mode must be tls, starttls or plain")),
    }
    let username = input.username.trim();
    if username.is_empty() || username.chars().count() > 320 {
        return Err(invalid("username must be 1 to 320 characters"));
    }
    if let Some(p) = &input.password
        && (p.is_empty() || p.chars().count() > 1000 || p.contains(['\r', '\n']))
    {
        return Err(invalid("password must be 1 to 1000 characters on one line"));
    }
    let folder = clean_folder("folder", input.folder.as_deref().unwrap_or("INBOX"))?;
    let after_commit = input
        .after_commit
        .as_deref()
        .unwrap_or("seen")
        .trim()
        .to_string();
    let move_to = match after_commit.as_str() {
        "seen" => None,
        "move" => {
            let m = clean_folder("move_to", input.move_to.as_deref().unwrap_or_default())?;
            if m == folder {
                return Err(invalid("move_to must be another folder than folder"));
            }
            Some(m)
        }
        _ => return Err(invalid("after_commit must be seen or move")),
    };
    let poll_interval_secs = input
        .poll_interval_secs
        .unwrap_or(DEFAULT_POLL_INTERVAL_SECS);
    if !POLL_INTERVAL_SECS.contains(&poll_interval_secs) {
        return Err(invalid(format!(
            "poll_interval_secs must be between {} and {}",
            POLL_INTERVAL_SECS.start(),
            POLL_INTERVAL_SECS.end()
        )));
    }
    Ok(MailboxSettings {
        name: name.to_string(),
        address,
        imap_host: host.to_string(),
        imap_port: input.imap_port,
        tls_mode,
        username: username.to_string(),
        folder,
        after_commit,
        move_to,
        poll_interval_secs,
        enabled: input.enabled.unwrap_or(true),
        acknowledge: input.acknowledge,
    })
}

fn imap_config(
    mb: &MailboxRow,
    password: String,
    extra_roots: concierge_mail::ExtraRoots,
) -> ImapConfig {
    ImapConfig {
        host: mb.settings.imap_host.clone(),
        port: u16::try_from(mb.settings.imap_port).unwrap_or(993),
        tls: match mb.settings.tls_mode.as_str() {
            "plain" => TlsMode::None,
            "starttls" => TlsMode::StartTls,
            _ => TlsMode::Tls,
        },
        username: mb.settings.username.clone(),
        password,
        folder: mb.settings.folder.clone(),
        timeout: IMAP_TIMEOUT,
        extra_roots,
    }
}

impl App {
    /// A password as it is stored: encrypted with this node's secret key.
    fn seal_password(&self, plain: &str) -> Result<String, CaseError> {
        let key = self.secret_key().map_err(|e| {
            CaseError::State(format!(
                "the password cannot be stored encrypted, this node has no usable secret key: {e}"
            ))
        })?;
        Ok(key.encrypt(plain))
    }

    /// The plain IMAP password of a stored mailbox (legacy plain rows as they are). The error
    /// is what the mailbox shows.
    pub fn mailbox_password(&self, mb: &MailboxRow) -> Result<String, String> {
        if !crate::secrets::is_encrypted(&mb.password) {
            return Ok(mb.password.clone());
        }
        let key = self.secret_key().map_err(|e| {
            format!(
                "the stored password cannot be decrypted, this node has no usable secret key: {e}"
            )
        })?;
        key.decrypt(&mb.password).map_err(|e| {
            format!(
                "the stored password cannot be decrypted with this node's secret key: {e}; \
                 give this node the key the password was saved with, or enter the password again"
            )
        })
    }

    /// Adds a mailbox (a password is required).
    pub async fn create_mailbox(
        &self,
        tenant: TenantId,
        input: &MailboxInput,
    ) -> Result<MailboxRow, CaseError> {
        let s = validate(input)?;
        let Some(password) = input.password.as_deref() else {
            return Err(invalid("password is required"));
        };
        if self.store.mailbox_by_name(tenant, &s.name).await?.is_some() {
            return Err(invalid(format!(
                "a mailbox named '{}' exists already",
                s.name
            )));
        }
        let sealed = self.seal_password(password)?;
        Ok(self
            .store
            .create_mailbox(tenant, &s, &sealed, self.now())
            .await?)
    }

    /// Replaces a mailbox's settings; without a password the stored one stays. Another
    /// server, user or folder starts the UID checkpoint over.
    pub async fn update_mailbox(
        &self,
        tenant: TenantId,
        id: i64,
        input: &MailboxInput,
    ) -> Result<MailboxRow, CaseError> {
        let s = validate(input)?;
        let Some(old) = self.store.mailbox(tenant, id).await? else {
            return Err(CaseError::NotFound("mailbox"));
        };
        if s.name != old.settings.name
            && self.store.mailbox_by_name(tenant, &s.name).await?.is_some()
        {
            return Err(invalid(format!(
                "a mailbox named '{}' exists already",
                s.name
            )));
        }
        let reset = s.imap_host != old.settings.imap_host
            || s.imap_port != old.settings.imap_port
            || s.username != old.settings.username
            || s.folder != old.settings.folder;
        // A new password is encrypted; a kept one that is still plain text is encrypted now.
        let sealed = match input.password.as_deref() {
            Some(p) => Some(self.seal_password(p)?),
            None if !crate::secrets::is_encrypted(&old.password) => {
                Some(self.seal_password(&old.password)?)
            }
            None => None,
        };
        self.store
            .update_mailbox(tenant, id, &s, sealed.as_deref(), reset, self.now())
            .await?
            .ok_or(CaseError::NotFound("mailbox"))
    }

    /// Enqueues one poll job for every due mailbox (the `mail.poll` schedule). The job key
    /// names the mailbox, its due time and the minute, so a slot is polled once and a poll
    /// job lost to a crash is replaced within a minute.
    pub async fn enqueue_mailbox_polls(&self) -> Result<usize, StoreError> {
        let now = self.now();
        let mut n = 0;
        for (tenant, id, due) in self.store.due_mailboxes(now, 200).await? {
            let key = format!("mail.poll:{id}:{due}:{}", now / 60_000);
            let payload = serde_json::json!({ "mailbox": id }).to_string();
            if self
                .store
                .enqueue_job(
                    Some(tenant),
                    "mail.poll_mailbox",
                    &payload,
                    now,
                    Some(&key),
                    now,
                )
                .await?
                .is_some()
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Polls one mailbox now if no one else is polling it. IMAP failures are recorded on the
    /// mailbox (and in the report); `Err` only when the database failed before the lease was
    /// taken or while giving it back.
    pub async fn poll_mailbox(
        &self,
        tenant: TenantId,
        id: i64,
        poller: &str,
    ) -> Result<PollReport, StoreError> {
        let owner = format!("{poller}#{}", &crate::secrets::random_secret()[..8]);
        let mut report = PollReport {
            mailbox_id: id,
            ..PollReport::default()
        };
        let Some(mb) = self
            .store
            .lease_mailbox(tenant, id, &owner, self.now(), POLL_LEASE_MS)
            .await?
        else {
            return Ok(report);
        };
        report.polled = true;
        report.last_uid = mb.last_uid;
        let stop = self.poll_leased(&mb, &owner, &mut report).await.err();
        let interval_ms = mb.settings.poll_interval_secs.max(1) * 1000;
        let more_waiting = stop.is_none() && report.taken() >= MAX_MESSAGES_PER_ROUND as i64;
        let end = PollEnd {
            error: stop.as_ref().map(Stop::message),
            taken: report.taken(),
            next_poll_at: if more_waiting {
                self.now()
            } else {
                self.now() + interval_ms
            },
        };
        if let Some(e) = &end.error {
            tracing::warn!(tenant = tenant.0, mailbox = %mb.settings.name, error = %e, "mailbox poll failed");
        }
        report.error = end.error.clone();
        if !matches!(stop, Some(Stop::LeaseLost)) {
            self.store
                .finish_mailbox_poll(tenant, id, &owner, &end, self.now())
                .await?;
        }
        Ok(report)
    }

    async fn poll_leased(
        &self,
        mb: &MailboxRow,
        owner: &str,
        report: &mut PollReport,
    ) -> Result<(), Stop> {
        let password = self.mailbox_password(mb).map_err(Stop::Setup)?;
        let extra_roots = match mb.settings.tls_mode.as_str() {
            "plain" => concierge_mail::ExtraRoots::none(),
            _ => self.config.tls_extra_roots().map_err(Stop::Setup)?,
        };
        if !crate::secrets::is_encrypted(&mb.password) {
            // Written before passwords were encrypted: store it encrypted from now on.
            if let Ok(key) = self.secret_key() {
                self.store
                    .reseal_mailbox_password(
                        mb.tenant_id,
                        mb.id,
                        &mb.password,
                        &key.encrypt(&password),
                    )
                    .await?;
            }
        }
        let mut imap = ImapMailbox::open(&imap_config(mb, password, extra_roots)).await?;
        let result = self.take_messages(mb, owner, &mut imap, report).await;
        imap.logout().await;
        result
    }

    async fn take_messages(
        &self,
        mb: &MailboxRow,
        owner: &str,
        imap: &mut ImapMailbox,
        report: &mut PollReport,
    ) -> Result<(), Stop> {
        let tenant = mb.tenant_id;
        let validity = i64::from(imap.uid_validity());
        let rescan = mb.uid_validity != Some(validity);
        let mut last = if rescan { 0 } else { mb.last_uid };
        report.rescanned = rescan;
        let checkpoint = |last: i64| {
            self.store.checkpoint_mailbox(
                tenant,
                mb.id,
                owner,
                validity,
                last,
                self.now() + POLL_LEASE_MS,
            )
        };
        if rescan && !checkpoint(0).await? {
            return Err(Stop::LeaseLost);
        }
        report.last_uid = last;
        // A re-scan takes the unseen messages (those marked were committed before); after
        // it, every message past the checkpoint, so mail read in another client is not lost.
        let unseen_only = rescan && mb.settings.after_commit == "seen";
        let highest_at_start = imap.uid_next().map(|n| i64::from(n) - 1);
        let uids = imap
            .uids_after(u32::try_from(last).unwrap_or(0), unseen_only)
            .await?;
        let complete = uids.len() <= MAX_MESSAGES_PER_ROUND;
        for uid in uids.into_iter().take(MAX_MESSAGES_PER_ROUND) {
            if let Some(raw) = imap.fetch_raw(uid).await? {
                let outcome = self
                    .ingest_raw(tenant, &mb.settings.name, &raw)
                    .await
                    .map_err(Stop::Ingest)?;
                match outcome.state {
                    IngestState::Processed => report.processed += 1,
                    IngestState::Duplicate => report.duplicates += 1,
                    IngestState::Ignored => report.ignored += 1,
                    IngestState::Quarantined => {
                        tracing::warn!(
                            mailbox = %mb.settings.name,
                            uid,
                            inbound = outcome.inbound_id,
                            reason = outcome.reason.as_deref().unwrap_or(""),
                            "a message from the mailbox was quarantined"
                        );
                        report.quarantined += 1
                    }
                }
                // Committed: now, and only now, mark or move it.
                match mb.settings.move_to.as_deref() {
                    Some(folder) if mb.settings.after_commit == "move" => {
                        imap.move_to(uid, folder).await?
                    }
                    _ => imap.mark_seen(uid).await?,
                }
            }
            last = i64::from(uid);
            if !checkpoint(last).await? {
                return Err(Stop::LeaseLost);
            }
            report.last_uid = last;
        }
        // After a complete re-scan, the seen messages that were there already are old mail.
        if unseen_only
            && complete
            && let Some(h) = highest_at_start
            && h > last
        {
            last = h;
            if !checkpoint(last).await? {
                return Err(Stop::LeaseLost);
            }
            report.last_uid = last;
        }
        Ok(())
    }
}
