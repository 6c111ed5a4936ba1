//! Mail (issue 5): raw inbound deliveries kept before parsing, their mailboxes (the first on
//! the delivery's row, any other in `inbound_mail_mailboxes`), the
//! Message-IDs of stored messages (for threading by In-Reply-To/References), the lookups the
//! threading decision needs, and the outbound delivery queue over `messages`.
//!
//! The raw bytes are committed first ([`Store::receive_mail`]); the same raw delivery twice is
//! one row (unique on tenant × SHA-256). A second key, Message-ID + content fingerprint, is
//! claimed with the mail's outcome ([`Store::mail_key_holder`]), so the same mail reaching
//! the tenant by two mailboxes (different trace headers, same mail) becomes one message.

use crate::{Result, Store};
use concierge_domain::TenantId;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Column, Row};

/// An inbound mail as stored (without its raw bytes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboundMailRow {
    pub id: i64,
    pub tenant_id: i64,
    pub mailbox: String,
    pub raw_sha256: String,
    pub raw_size: i64,
    pub header_message_id: Option<String>,
    pub dedupe_key: Option<String>,
    /// `received`, `processed`, `duplicate`, `ignored` or `quarantined`.
    pub state: String,
    pub error: Option<String>,
    pub case_id: Option<i64>,
    pub message_id: Option<i64>,
    pub duplicate_of: Option<i64>,
    pub detail: serde_json::Value,
    pub received_at: i64,
    pub processed_at: Option<i64>,
}

/// How processing of an inbound mail ended.
#[derive(Debug, Clone, Default)]
pub struct InboundResult {
    /// `processed`, `duplicate`, `ignored` or `quarantined`.
    pub state: String,
    pub error: Option<String>,
    pub case_id: Option<i64>,
    pub message_id: Option<i64>,
    pub duplicate_of: Option<i64>,
    pub detail: serde_json::Value,
    /// Already recorded on the inbound row (with the message, in its transaction): nothing
    /// more to write.
    pub recorded: bool,
    /// The number of the case it landed on, when known (else it is read by `case_id`).
    pub case_number: Option<i64>,
    /// The deduplication key and Message-ID header to claim with the outcome (a key
    /// another mail holds refuses it with [`crate::StoreError::AlreadyLinked`]).
    pub dedupe: Option<(String, Option<String>)>,
}

/// A case as the threading decision sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailCaseRow {
    pub id: i64,
    pub number: i64,
    pub customer_id: i64,
    pub subject: String,
    pub status: String,
    pub merged_into: Option<i64>,
}

/// A public email reply waiting for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundRow {
    pub tenant_id: TenantId,
    pub id: i64,
    pub case_id: i64,
    pub body_text: String,
    pub delivery_state: String,
    pub delivery_attempts: i64,
    pub mail_message_id: Option<String>,
    pub author_user_id: Option<i64>,
    /// `staff`, or `system` for automatic mail (acknowledgements).
    pub author_kind: String,
}

const INBOUND_COLS: &str = "id, tenant_id, mailbox, raw_sha256, raw_size, header_message_id, \
    dedupe_key, state, error, case_id, message_id, duplicate_of, detail, received_at, processed_at";

fn inbound_from(r: &AnyRow) -> Result<InboundMailRow> {
    let detail: String = r.try_get("detail")?;
    Ok(InboundMailRow {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        mailbox: r.try_get("mailbox")?,
        raw_sha256: r.try_get("raw_sha256")?,
        raw_size: r.try_get("raw_size")?,
        header_message_id: r.try_get("header_message_id")?,
        dedupe_key: r.try_get("dedupe_key")?,
        state: r.try_get("state")?,
        error: r.try_get("error")?,
        case_id: r.try_get("case_id")?,
        message_id: r.try_get("message_id")?,
        duplicate_of: r.try_get("duplicate_of")?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
        received_at: r.try_get("received_at")?,
        processed_at: r.try_get("processed_at")?,
    })
}

fn mail_case_from(r: &AnyRow) -> Result<MailCaseRow> {
    Ok(MailCaseRow {
        id: r.try_get("id")?,
        number: r.try_get("number")?,
        customer_id: r.try_get("customer_id")?,
        subject: r.try_get("subject")?,
        status: r.try_get("status")?,
        merged_into: r.try_get("merged_into")?,
    })
}

/// What [`Store::mail_context`] answers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MailContext {
    /// The tenant's settings among those asked for, as (key, value).
    pub settings: Vec<(String, String)>,
    /// The mailbox's acknowledgement switch: `None` no such mailbox, `Some(None)` it
    /// follows the tenant's setting.
    pub mailbox_ack: Option<Option<bool>>,
    /// The inbound mail holding the deduplication key.
    pub key_holder: Option<i64>,
    /// The staff member with the sender's address.
    pub sender_user: Option<i64>,
    /// The customer with the sender's address.
    pub sender_customer: Option<concierge_domain::CustomerId>,
    /// That customer's tier, if they have one.
    pub sender_tier: Option<String>,
    /// That customer's flags set now.
    pub sender_flags: Vec<String>,
    /// The tenant's definitions of the kinds asked for, each with its kind, by kind then
    /// position then id.
    pub definitions: Vec<(String, crate::cases::SpecRow)>,
    /// The case holding the newest message with any of the Message-IDs asked for, with its
    /// targets and tier ([`Store::case_with_targets_by_mail_ids`]): `Some` when it was read
    /// (with Message-IDs to look up), else the caller reads it when it needs it.
    pub thread_case: Option<Option<crate::cases::CaseWithTargets>>,
}

/// Most Message-IDs looked up at once (In-Reply-To plus References).
pub const MAX_THREAD_IDS: usize = 50;

/// The Message-IDs of `ids` to look up (at most [`MAX_THREAD_IDS`]), the last repeated up to
/// the next power of two (or the most): the statements reading them then come in seven
/// texts instead of fifty, which stay prepared (and on PostgreSQL are planned once each,
/// not afresh for every length of a References chain).
pub(crate) fn thread_id_list(ids: &[String]) -> Vec<&String> {
    let mut list: Vec<&String> = ids.iter().take(MAX_THREAD_IDS).collect();
    if let Some(last) = list.last().copied() {
        let size = list.len().next_power_of_two().min(MAX_THREAD_IDS);
        list.resize(size, last);
    }
    list
}

/// `sql` taking in a raw delivery, with its parameters bound: `$1` tenant, `$2` mailbox, `$3`
/// the raw bytes, `$4` their SHA-256, `$5` their size, `$6` now.
fn receipt<'q>(
    sql: String,
    tenant: TenantId,
    mailbox: &'q str,
    raw: &[u8],
    raw_sha256: &'q str,
    now: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    bind_receipt(
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .bind(mailbox),
        raw,
        raw_sha256,
        now,
    )
}

/// Binds a delivery's own values to `q`, in order: the raw bytes, their SHA-256, their size,
/// now.
fn bind_receipt<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    raw: &[u8],
    raw_sha256: &'q str,
    now: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(raw.to_vec())
        .bind(raw_sha256)
        .bind(i64::try_from(raw.len()).unwrap_or(i64::MAX))
        .bind(now)
}

/// [`Store::receive_mail`] on SQLite: the whole exchange — unflushed commits on, the
/// transaction, the raw row, its mailbox when the row was there with another one, the row
/// read back, commits flushed again — is one multi-statement query, so one hand-off to the
/// connection's worker thread instead of seven (the statements run one after another, as
/// written; when one fails the rest do not run, and the connection is not used again). When
/// other writers share an open transaction (see [`crate::writer`]), the mail joins it
/// instead, and is committed, flushed, with them.
///
/// With `context`, what processing the mail needs ([`Store::mail_context`]) is read by the
/// same query once the mail is committed, on the write connection, whose page cache holds
/// what the last writes touched (a connection that only reads finds its whole cache dropped
/// after every commit of another, and reads each page again). Its rows are returned after
/// the mail's row.
async fn receive_mail_sqlite(
    store: &Store,
    writer: &crate::writer::Writer,
    delivery: &Delivery<'_>,
    context: Option<&MailContextRequest<'_>>,
) -> Result<(InboundMailRow, bool, Vec<AnyRow>)> {
    use crate::writer::Joined;
    let joined = writer.join_or_turn().await?;
    let (begin, end) = match joined {
        Joined::Shared(_) => ("", ""),
        Joined::Alone(_) => (
            "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE;",
            "COMMIT; PRAGMA synchronous = FULL;",
        ),
    };
    // The context's parameters come first (`$1` tenant and `$2` mailbox are shared), the
    // delivery's own after them.
    let (context_sql, taken) = match context {
        Some(c) => {
            let (sql, n) = store.mail_context_sql(c);
            (format!("\n{sql}"), n)
        }
        None => (String::new(), 2),
    };
    let (raw, sha, size, now) = (taken + 1, taken + 2, taken + 3, taken + 4);
    // A new row answers its insert with a row of its own (`inserted`).
    let sql = format!(
        "{begin} \
         INSERT INTO inbound_mail (tenant_id, mailbox, raw, raw_sha256, raw_size, state, \
         received_at, processed_at) VALUES ($1, $2, ${raw}, ${sha}, ${size}, 'processing', \
         ${now}, ${now}) ON CONFLICT (tenant_id, raw_sha256) DO NOTHING RETURNING 1 AS inserted; \
         INSERT INTO inbound_mail_mailboxes (tenant_id, inbound_id, mailbox, received_at) \
         SELECT $1, id, $2, ${now} FROM inbound_mail WHERE tenant_id = $1 AND raw_sha256 = ${sha} \
         AND mailbox <> $2 ON CONFLICT (inbound_id, mailbox) DO NOTHING; \
         SELECT {INBOUND_COLS} FROM inbound_mail WHERE tenant_id = $1 AND raw_sha256 = ${sha}; \
         {end}{context_sql}"
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(delivery.tenant.0)
        .bind(delivery.mailbox);
    let q = match context {
        Some(c) => bind_mail_context(q, c),
        None => q,
    };
    let query = bind_receipt(q, delivery.raw, delivery.raw_sha256, delivery.now);
    let mut rows = match joined {
        // Dropped on error: rolled back to its savepoint.
        Joined::Shared(mut m) => {
            let rows = query.fetch_all(&mut *m).await?;
            m.commit().await?;
            rows
        }
        Joined::Alone(mut turn) => match query.fetch_all(&mut *turn).await {
            Ok(rows) => rows,
            Err(e) => {
                // It may be left inside the transaction, or with unflushed commits.
                turn.discard_connection();
                return Err(e.into());
            }
        },
    };
    let inserted = rows
        .first()
        .is_some_and(|r| r.columns().iter().any(|c| c.name() == "inserted"));
    let rest = rows.split_off(usize::from(inserted));
    let mut rest = rest.into_iter();
    let row = rest.next().ok_or_else(|| {
        crate::StoreError::Other("the received mail was not found after its insert".into())
    })?;
    Ok((inbound_from(&row)?, inserted, rest.collect()))
}

/// Binds the values of [`Store::mail_context`]'s query from `$3` on (after the tenant and
/// the mailbox): the deduplication key, the sender, the setting keys, the definition kinds,
/// the Message-IDs.
fn bind_mail_context<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    req: &MailContextRequest<'q>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q = q.bind(req.dedupe_key).bind(req.sender);
    for k in req.keys.iter().chain(req.definition_kinds) {
        q = q.bind(*k);
    }
    for id in thread_id_list(req.thread_ids) {
        q = q.bind(id.clone());
    }
    q
}

/// A raw delivery, as [`Store::receive_mail`] takes it in.
#[derive(Debug, Clone, Copy)]
struct Delivery<'a> {
    tenant: TenantId,
    mailbox: &'a str,
    raw: &'a [u8],
    /// The SHA-256 of `raw`, in hex.
    raw_sha256: &'a str,
    now: i64,
}

/// What [`Store::mail_context`] reads for one mail.
#[derive(Debug, Clone, Copy)]
pub struct MailContextRequest<'a> {
    pub tenant: TenantId,
    /// The tenant settings wanted.
    pub keys: &'a [&'a str],
    /// The mailbox the mail came to.
    pub mailbox: &'a str,
    /// The mail's deduplication key.
    pub dedupe_key: &'a str,
    /// The sender's address.
    pub sender: Option<&'a str>,
    /// The kinds of definitions wanted (what the case rules are built from).
    pub definition_kinds: &'a [&'a str],
    /// The Message-IDs the mail answers (In-Reply-To, References).
    pub thread_ids: &'a [String],
}

impl Store {
    /// Commits a raw delivery and records its mailbox, before anything is parsed. A new row
    /// is committed already leased for processing by the caller (state `processing` since
    /// `now`; one commit instead of two), so the caller goes on to process it; the same raw
    /// bytes again return the existing row (`false`: it was there already, and the caller
    /// must take the lease with [`Store::lease_inbound_mail`]).
    ///
    /// The commit is visible to every connection and survives the process being killed, but
    /// it is not flushed to disk on its own (SQLite `synchronous = NORMAL` for this
    /// transaction, PostgreSQL `synchronous_commit = off`): the commit that records what
    /// became of the mail — always made before a delivery is acknowledged — is flushed, and
    /// with it everything written before it (one write-ahead log). A power cut between the
    /// two loses a delivery that was never acknowledged, so the sender delivers it again.
    /// This saves one disk flush per mail.
    pub async fn receive_mail(
        &self,
        tenant: TenantId,
        mailbox: &str,
        raw: &[u8],
        raw_sha256: &str,
        now: i64,
    ) -> Result<(InboundMailRow, bool)> {
        if let Some(writer) = self.sqlite_writer() {
            let delivery = Delivery {
                tenant,
                mailbox,
                raw,
                raw_sha256,
                now,
            };
            let (row, inserted, _) = receive_mail_sqlite(self, writer, &delivery, None).await?;
            return Ok((row, inserted));
        }
        // One statement, its own transaction: `set_config(..., true)` turns the flush off for
        // that transaction only (read when it commits); the mailbox row is inserted with the
        // mail row, whether new or there already.
        let cols = INBOUND_COLS;
        let rows = receipt(
            format!(
                "WITH cfg AS (SELECT set_config('synchronous_commit', 'off', true) AS s), \
             ins AS (INSERT INTO inbound_mail (tenant_id, mailbox, raw, raw_sha256, raw_size, \
             state, received_at, processed_at) SELECT $1, $2, $3, $4, $5, 'processing', $6, $6 \
             FROM cfg ON CONFLICT (tenant_id, raw_sha256) DO NOTHING RETURNING {cols}), \
             got AS (SELECT {cols}, CAST(1 AS BIGINT) AS inserted FROM ins UNION ALL \
             SELECT {cols}, CAST(0 AS BIGINT) AS inserted FROM inbound_mail \
             WHERE tenant_id = $1 AND raw_sha256 = $4), \
             mb AS (INSERT INTO inbound_mail_mailboxes (tenant_id, inbound_id, mailbox, \
             received_at) SELECT $1, id, $2, $6 FROM got WHERE mailbox <> $2 \
             ON CONFLICT (inbound_id, mailbox) DO NOTHING) SELECT * FROM got"
            ),
            tenant,
            mailbox,
            raw,
            raw_sha256,
            now,
        )
        .fetch_all(self.db())
        .await?;
        if let Some(r) = rows.first() {
            return Ok((inbound_from(r)?, r.try_get::<i64, _>("inserted")? == 1));
        }
        // The same bytes were being inserted by another delivery when this statement began
        // (it waited for that one's commit, then could not see the row): again, in steps.
        let mut conn = self.pool.acquire().await?;
        Self::receive_mail_on(&mut conn, tenant, mailbox, raw, raw_sha256, now).await
    }

    /// [`Store::receive_mail`] of mail to `context.mailbox`, and what processing it needs
    /// ([`Store::mail_context`]; it is about other mail, the sender and the settings, never
    /// this mail's own row). On SQLite both are one query on the write connection, the
    /// context read after the commit (see `receive_mail_sqlite`); on PostgreSQL they run side
    /// by side on two connections.
    pub async fn receive_mail_with_context(
        &self,
        context: &MailContextRequest<'_>,
        raw: &[u8],
        raw_sha256: &str,
        now: i64,
    ) -> Result<(InboundMailRow, bool, MailContext)> {
        let Some(writer) = self.sqlite_writer() else {
            let (received, ctx) = tokio::join!(
                self.receive_mail(context.tenant, context.mailbox, raw, raw_sha256, now),
                self.mail_context(context),
            );
            let (row, inserted) = received?;
            return Ok((row, inserted, ctx?));
        };
        let delivery = Delivery {
            tenant: context.tenant,
            mailbox: context.mailbox,
            raw,
            raw_sha256,
            now,
        };
        let (row, inserted, rows) =
            receive_mail_sqlite(self, writer, &delivery, Some(context)).await?;
        Ok((row, inserted, self.mail_context_from(context, &rows)?))
    }

    /// [`Store::receive_mail`] on PostgreSQL, statement by statement.
    async fn receive_mail_on(
        conn: &mut sqlx::AnyConnection,
        tenant: TenantId,
        mailbox: &str,
        raw: &[u8],
        raw_sha256: &str,
        now: i64,
    ) -> Result<(InboundMailRow, bool)> {
        let mut tx = sqlx::Connection::begin(conn).await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        // A new row comes back from the insert itself; the same bytes again read the row there.
        let new_row = receipt(
            format!(
                "INSERT INTO inbound_mail (tenant_id, mailbox, raw, raw_sha256, raw_size, state, \
                 received_at, processed_at) VALUES ($1, $2, $3, $4, $5, 'processing', $6, $6) \
                 ON CONFLICT (tenant_id, raw_sha256) DO NOTHING RETURNING {INBOUND_COLS}"
            ),
            tenant,
            mailbox,
            raw,
            raw_sha256,
            now,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let inserted = new_row.is_some();
        let row = match new_row {
            Some(r) => r,
            None => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {INBOUND_COLS} FROM inbound_mail WHERE tenant_id = $1 AND raw_sha256 = $2"
            )))
            .bind(tenant.0)
            .bind(raw_sha256)
            .fetch_one(&mut *tx)
            .await?,
        };
        let row = inbound_from(&row)?;
        if row.mailbox != mailbox {
            sqlx::query(
                "INSERT INTO inbound_mail_mailboxes (tenant_id, inbound_id, mailbox, received_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (inbound_id, mailbox) DO NOTHING",
            )
            .bind(tenant.0)
            .bind(row.id)
            .bind(mailbox)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok((row, inserted))
    }

    /// Inserts raw deliveries `(raw bytes, their SHA-256 in hex)` in one transaction and does
    /// nothing else: no parsing, no mailbox record, no case. This is the bare insert
    /// `concierge bench ingest` compares the whole pipeline with; nothing else uses it.
    pub async fn insert_raw_mails_bare(
        &self,
        tenant: TenantId,
        mailbox: &str,
        mails: &[(&[u8], &str)],
        now: i64,
    ) -> Result<u64> {
        // The same turn-taking as the pipeline's writes.
        let mut tx = self.begin_write().await?;
        let mut n = 0;
        for (raw, sha) in mails {
            n += sqlx::query(
                "INSERT INTO inbound_mail (tenant_id, mailbox, raw, raw_sha256, raw_size, state, \
                 received_at) VALUES ($1, $2, $3, $4, $5, 'received', $6)",
            )
            .bind(tenant.0)
            .bind(mailbox)
            .bind(raw.to_vec())
            .bind(*sha)
            .bind(i64::try_from(raw.len()).unwrap_or(i64::MAX))
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// An inbound mail of `tenant` (without its raw bytes).
    pub async fn inbound_mail(&self, tenant: TenantId, id: i64) -> Result<Option<InboundMailRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INBOUND_COLS} FROM inbound_mail WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(self.db())
        .await?;
        row.as_ref().map(inbound_from).transpose()
    }

    /// An inbound mail of `tenant` (without its raw bytes) with the number of the case it
    /// landed on, in one statement.
    pub async fn inbound_mail_with_case_number(
        &self,
        tenant: TenantId,
        id: i64,
    ) -> Result<Option<(InboundMailRow, Option<i64>)>> {
        let cols: Vec<String> = INBOUND_COLS.split(", ").map(|c| format!("i.{c}")).collect();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {}, c.number AS case_number FROM inbound_mail i \
             LEFT JOIN cases c ON c.tenant_id = i.tenant_id AND c.id = i.case_id \
             WHERE i.tenant_id = $1 AND i.id = $2",
            cols.join(", ")
        )))
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(self.db())
        .await?;
        row.as_ref()
            .map(|r| Ok((inbound_from(r)?, r.try_get("case_number")?)))
            .transpose()
    }

    /// The inbound mails of `tenant`, oldest first (for inspection and tests).
    pub async fn inbound_mails(&self, tenant: TenantId, limit: i64) -> Result<Vec<InboundMailRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INBOUND_COLS} FROM inbound_mail WHERE tenant_id = $1 ORDER BY id LIMIT $2"
        )))
        .bind(tenant.0)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        rows.iter().map(inbound_from).collect()
    }

    /// The raw bytes of an inbound mail, exactly as received.
    pub async fn inbound_mail_raw(&self, tenant: TenantId, id: i64) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT raw FROM inbound_mail WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(id)
                .fetch_optional(self.db())
                .await?,
        )
    }

    /// Takes the processing lease of an inbound mail: `false` when it is finished, or another
    /// worker is processing it and its lease (`lease_ms`) has not run out.
    pub async fn lease_inbound_mail(
        &self,
        tenant: TenantId,
        id: i64,
        now: i64,
        lease_ms: i64,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE inbound_mail SET state = 'processing', processed_at = $3 \
             WHERE tenant_id = $1 AND id = $2 AND (state = 'received' \
             OR (state = 'processing' AND processed_at < $4))",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(now)
        .bind(now - lease_ms)
        .execute(self.db())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// The inbound mail of `tenant` that holds deduplication key `key` (Message-ID +
    /// content), if any. A read: the key is claimed in the transaction that records the
    /// mail's outcome (with its message, or by [`Store::finish_inbound_mail`]), so a copy
    /// racing another is refused there.
    pub async fn mail_key_holder(&self, tenant: TenantId, key: &str) -> Result<Option<i64>> {
        let q = sqlx::query_scalar(
            "SELECT id FROM inbound_mail WHERE tenant_id = $1 AND dedupe_key = $2",
        )
        .bind(tenant.0)
        .bind(key);
        if self.sqlite_writer().is_none() {
            return Ok(q.fetch_optional(self.db()).await?);
        }
        // On SQLite the holder's write may be in the writer's shared transaction, not yet
        // committed (the key was found taken inside it): read it there, and return once that
        // transaction is committed.
        let mut tx = self.begin_write().await?;
        let holder = q.fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok(holder)
    }

    /// Records how processing of an inbound mail ended.
    pub async fn finish_inbound_mail(
        &self,
        tenant: TenantId,
        id: i64,
        r: &InboundResult,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if let Some((key, header_id)) = &r.dedupe {
            crate::cases::claim_dedupe_key(&mut tx, tenant, id, key, header_id.as_deref()).await?;
        }
        sqlx::query(
            "UPDATE inbound_mail SET state = $3, error = $4, case_id = $5, message_id = $6, \
             duplicate_of = $7, detail = $8, processed_at = $9 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(&r.state)
        .bind(r.error.as_deref())
        .bind(r.case_id)
        .bind(r.message_id)
        .bind(r.duplicate_of)
        .bind(r.detail.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that inbound mail `id` (also) came through `mailbox`. Its own mailbox (the
    /// first it came through) is on its row, so only another one is added.
    pub async fn add_inbound_mailbox(
        &self,
        tenant: TenantId,
        id: i64,
        mailbox: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO inbound_mail_mailboxes (tenant_id, inbound_id, mailbox, received_at) \
             SELECT $1, id, $3, $4 FROM inbound_mail WHERE tenant_id = $1 AND id = $2 \
             AND mailbox <> $3 ON CONFLICT (inbound_id, mailbox) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(mailbox)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Every mailbox inbound mail `id` came through, by name: its own (the first) and the
    /// others recorded beside it.
    pub async fn inbound_mailboxes(&self, tenant: TenantId, id: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT mailbox FROM inbound_mail WHERE tenant_id = $1 AND id = $2 UNION \
             SELECT mailbox FROM inbound_mail_mailboxes WHERE tenant_id = $1 AND inbound_id = $2 \
             ORDER BY mailbox",
        )
        .bind(tenant.0)
        .bind(id)
        .fetch_all(self.db())
        .await?)
    }

    /// Sets a message's mail Message-ID (and the sender address it came from, when given).
    pub async fn set_message_mail_id(
        &self,
        tenant: TenantId,
        message_id: i64,
        mail_message_id: &str,
        author_email: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE messages SET mail_message_id = $3, \
             author_email = COALESCE($4, author_email) WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(message_id)
        .bind(mail_message_id)
        .bind(author_email)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// The mail Message-ID of a message, if it has one.
    pub async fn message_mail_id(
        &self,
        tenant: TenantId,
        message_id: i64,
    ) -> Result<Option<String>> {
        let id: Option<Option<String>> = sqlx::query_scalar(
            "SELECT mail_message_id FROM messages WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(message_id)
        .fetch_optional(self.db())
        .await?;
        Ok(id.flatten())
    }

    /// A case by number, as threading sees it.
    pub async fn mail_case_by_number(
        &self,
        tenant: TenantId,
        number: i64,
    ) -> Result<Option<MailCaseRow>> {
        let row = sqlx::query(
            "SELECT id, number, customer_id, subject, status, merged_into FROM cases \
             WHERE tenant_id = $1 AND number = $2",
        )
        .bind(tenant.0)
        .bind(number)
        .fetch_optional(self.db())
        .await?;
        row.as_ref().map(mail_case_from).transpose()
    }

    /// A case by id, as threading sees it.
    pub async fn mail_case_by_id(&self, tenant: TenantId, id: i64) -> Result<Option<MailCaseRow>> {
        let row = self
            .warm_fetch_optional(
                sqlx::query(
                    "SELECT id, number, customer_id, subject, status, merged_into FROM cases \
             WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.0)
                .bind(id),
            )
            .await?;
        row.as_ref().map(mail_case_from).transpose()
    }

    /// The number of the case holding the newest message with any of these Message-IDs
    /// (inbound or outbound). At most [`MAX_THREAD_IDS`] ids are looked at.
    pub async fn case_number_by_mail_ids(
        &self,
        tenant: TenantId,
        ids: &[String],
    ) -> Result<Option<i64>> {
        Ok(self
            .mail_case_by_mail_ids(tenant, ids)
            .await?
            .map(|c| c.number))
    }

    /// The case holding the newest message with any of these Message-IDs (inbound or
    /// outbound), as threading sees it. At most [`MAX_THREAD_IDS`] ids are looked at.
    pub async fn mail_case_by_mail_ids(
        &self,
        tenant: TenantId,
        ids: &[String],
    ) -> Result<Option<MailCaseRow>> {
        let ids: Vec<&String> = ids.iter().take(MAX_THREAD_IDS).collect();
        if ids.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT c.id, c.number, c.customer_id, c.subject, c.status, c.merged_into \
             FROM messages m JOIN cases c ON c.id = m.case_id \
             WHERE m.tenant_id = $1 AND m.mail_message_id IN ({}) ORDER BY m.id DESC LIMIT 1",
            crate::bulk::params(2, ids.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.0);
        for id in ids {
            q = q.bind(id.clone());
        }
        let row = self.warm_fetch_optional(q).await?;
        row.as_ref().map(mail_case_from).transpose()
    }

    /// A customer's cases that are not closed or merged, most recently active first (at most
    /// `limit`), for the subject rule of threading.
    pub async fn unclosed_cases_of_customer(
        &self,
        tenant: TenantId,
        customer_id: i64,
        limit: i64,
    ) -> Result<Vec<MailCaseRow>> {
        let rows = sqlx::query(
            "SELECT id, number, customer_id, subject, status, merged_into FROM cases \
             WHERE tenant_id = $1 AND customer_id = $2 AND closed_at IS NULL \
             AND merged_into IS NULL ORDER BY updated_at DESC, id DESC LIMIT $3",
        )
        .bind(tenant.0)
        .bind(customer_id)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        rows.iter().map(mail_case_from).collect()
    }

    /// The mail Message-IDs of a case's messages before `before_id`, oldest first (to chain
    /// In-Reply-To and References of a reply).
    pub async fn case_mail_ids(
        &self,
        tenant: TenantId,
        case_id: i64,
        before_id: i64,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT mail_message_id FROM messages WHERE tenant_id = $1 AND case_id = $2 \
             AND id < $3 AND mail_message_id IS NOT NULL ORDER BY id",
        )
        .bind(tenant.0)
        .bind(case_id)
        .bind(before_id)
        .fetch_all(self.db())
        .await?)
    }

    /// Public email replies due for delivery, across tenants, oldest first: queued, deferred
    /// and due again, or left `sending` by a node whose claim ran out.
    pub async fn due_outbound_mail(&self, now: i64, limit: i64) -> Result<Vec<OutboundRow>> {
        let rows = sqlx::query(
            "SELECT tenant_id, id, case_id, body_text, delivery_state, delivery_attempts, \
             mail_message_id, author_user_id, author_kind FROM messages \
             WHERE delivery_state IN ('queued', 'deferred', 'sending') AND route = 'email' \
             AND visibility = 'public' AND (next_attempt_at IS NULL OR next_attempt_at <= $1) \
             ORDER BY id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboundRow {
                    tenant_id: TenantId(r.try_get("tenant_id")?),
                    id: r.try_get("id")?,
                    case_id: r.try_get("case_id")?,
                    body_text: r.try_get("body_text")?,
                    delivery_state: r.try_get("delivery_state")?,
                    delivery_attempts: r.try_get("delivery_attempts")?,
                    mail_message_id: r.try_get("mail_message_id")?,
                    author_user_id: r.try_get("author_user_id")?,
                    author_kind: r.try_get("author_kind")?,
                })
            })
            .collect()
    }

    /// Claims a due outbound message for one delivery attempt until `until`; `false` when
    /// another node took it first.
    pub async fn claim_outbound_mail(&self, m: &OutboundRow, now: i64, until: i64) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE messages SET delivery_state = 'sending', next_attempt_at = $5, \
             delivery_attempts = delivery_attempts + 1 \
             WHERE tenant_id = $1 AND id = $2 AND delivery_state = $3 \
             AND delivery_attempts = $4 AND (next_attempt_at IS NULL OR next_attempt_at <= $6)",
        )
        .bind(m.tenant_id.0)
        .bind(m.id)
        .bind(&m.delivery_state)
        .bind(m.delivery_attempts)
        .bind(until)
        .bind(now)
        .execute(self.db())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Records the end of a delivery attempt: `sent`, `deferred` (again at `retry_at`) or
    /// `failed`, with the reason.
    pub async fn finish_outbound_mail(
        &self,
        tenant: TenantId,
        id: i64,
        state: &str,
        error: Option<&str>,
        retry_at: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE messages SET delivery_state = $3, delivery_error = $4, next_attempt_at = $5 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(state)
        .bind(error)
        .bind(retry_at)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// The newest message we sent (staff or automatic, public) with any of these
    /// Message-IDs: (message id, case id). For matching a bounce to what bounced.
    pub async fn outbound_by_mail_ids(
        &self,
        tenant: TenantId,
        ids: &[String],
    ) -> Result<Option<(i64, i64)>> {
        let ids: Vec<&String> = ids.iter().take(MAX_THREAD_IDS).collect();
        if ids.is_empty() {
            return Ok(None);
        }
        let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT id, case_id FROM messages WHERE tenant_id = $1 AND author_kind <> 'customer' \
             AND visibility = 'public' AND mail_message_id IN ({}) ORDER BY id DESC LIMIT 1",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.0);
        for id in ids {
            q = q.bind(id.clone());
        }
        let row = q.fetch_optional(self.db()).await?;
        row.map(|r| Ok((r.try_get("id")?, r.try_get("case_id")?)))
            .transpose()
    }

    /// Claims the right to send an automatic answer to `address` now: `true` (and recorded)
    /// when none went to it within `window_ms`, `false` otherwise. One conditional upsert, so
    /// two nodes cannot both claim it.
    pub async fn claim_auto_reply(
        &self,
        tenant: TenantId,
        address: &str,
        now: i64,
        window_ms: i64,
    ) -> Result<bool> {
        let n = sqlx::query(
            "INSERT INTO mail_auto_replies (tenant_id, address, last_sent_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, address) DO UPDATE SET last_sent_at = excluded.last_sent_at \
             WHERE mail_auto_replies.last_sent_at <= $4",
        )
        .bind(tenant.0)
        .bind(address.trim().to_lowercase())
        .bind(now)
        .bind(now - window_ms)
        .execute(self.db())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// What taking in a parsed mail needs to know, in one query (fields of `req`): the
    /// tenant's settings among `keys` (as key, value), the acknowledgement switch of its
    /// mailbox named `mailbox` (`None`: no such mailbox; `Some(None)`: the mailbox follows the
    /// tenant's setting), the inbound mail holding deduplication key `dedupe_key`, for a
    /// `sender` address the staff member and the (unmerged) customer with that address with
    /// their tier and flags, the tenant's definitions of `definition_kinds` (what the case
    /// rules are built from), and the case the `thread_ids` answer.
    pub async fn mail_context(&self, req: &MailContextRequest<'_>) -> Result<MailContext> {
        let (sql, _) = self.mail_context_sql(req);
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(req.tenant.0)
            .bind(req.mailbox);
        let rows = self.warm_fetch_all(bind_mail_context(q, req)).await?;
        self.mail_context_from(req, &rows)
    }

    /// The query of [`Store::mail_context`], and how many parameters it takes: `$1` the
    /// tenant, `$2` the mailbox, then the rest as [`bind_mail_context`] binds them.
    fn mail_context_sql(&self, req: &MailContextRequest<'_>) -> (String, usize) {
        use crate::bulk::params;
        let (keys, definition_kinds) = (req.keys, req.definition_kinds);
        let in_keys = if keys.is_empty() {
            "1 = 0".to_string()
        } else {
            format!("key IN ({})", params(5, keys.len()))
        };
        let in_kinds = if definition_kinds.is_empty() {
            "1 = 0".to_string()
        } else {
            format!(
                "kind IN ({})",
                params(5 + keys.len(), definition_kinds.len())
            )
        };
        // The definitions' own columns, NULL in every other row.
        let thread_ids = thread_id_list(req.thread_ids);
        let sqlite = self.backend() == crate::Backend::Sqlite;
        let with_thread = !thread_ids.is_empty();
        // On PostgreSQL the case the mail answers is a row of the same query, with the case's
        // columns, which every other row has as NULLs (see below for SQLite).
        let case_nulls = if with_thread && !sqlite {
            crate::cases::case_with_targets_nulls()
        } else {
            String::new()
        };
        let def_nulls = "CAST(NULL AS TEXT) AS d_name, CAST(NULL AS TEXT) AS d_event, \
            CAST(NULL AS BIGINT) AS d_position, CAST(NULL AS SMALLINT) AS d_active";
        let none = format!("{def_nulls}{case_nulls}");
        let customer = crate::identity::customer_by_contact_sql("$1", "'email'", "$4");
        // One row per answer, told apart by `k`: a setting's key, '' for the mailbox, and
        // '#…' for the rest (no setting key starts with '#'). The sender's customer is looked
        // up once (a CTE used three times is computed once on both engines).
        let sql = format!(
            "WITH sender (id) AS (SELECT ({customer})) \
             SELECT key AS k, value AS v, CAST(NULL AS BIGINT) AS n, {none} FROM tenant_settings \
             WHERE tenant_id = $1 AND {in_keys} \
             UNION ALL SELECT '' AS k, CASE WHEN acknowledge IS NULL THEN '' \
             WHEN acknowledge <> 0 THEN 'true' ELSE 'false' END AS v, CAST(NULL AS BIGINT) AS n, \
             {none} FROM mailboxes WHERE tenant_id = $1 AND name = $2 \
             UNION ALL SELECT '#dedupe' AS k, CAST(NULL AS TEXT) AS v, id AS n, {none} \
             FROM inbound_mail WHERE tenant_id = $1 AND dedupe_key = $3 \
             UNION ALL SELECT '#user' AS k, CAST(NULL AS TEXT) AS v, id AS n, {none} FROM users \
             WHERE tenant_id = $1 AND email = $4 \
             UNION ALL SELECT '#customer' AS k, CAST(NULL AS TEXT) AS v, id AS n, {none} \
             FROM sender \
             UNION ALL SELECT '#tier' AS k, t.tier AS v, CAST(NULL AS BIGINT) AS n, {none} \
             FROM customer_tiers t JOIN sender s ON t.customer_id = s.id WHERE t.tenant_id = $1 \
             UNION ALL SELECT '#flag' AS k, f.flag AS v, CAST(NULL AS BIGINT) AS n, {none} \
             FROM customer_flags f JOIN sender s ON f.customer_id = s.id \
             WHERE f.tenant_id = $1 AND f.cleared_at IS NULL \
             UNION ALL SELECT '#def:' || kind AS k, spec AS v, id AS n, name AS d_name, \
             event AS d_event, position AS d_position, active AS d_active{case_nulls} \
             FROM definitions WHERE tenant_id = $1 AND {in_kinds}"
        );
        // On SQLite the case the mail answers is read by the same query (a second statement,
        // its rows told apart by their columns): one hand-off to the worker thread less.
        // PostgreSQL takes one statement at a time: there it is one more row of the first.
        let first = 5 + keys.len() + definition_kinds.len();
        let sql = match (with_thread, sqlite) {
            (false, _) => sql,
            (true, true) => format!(
                "{sql};\n{}",
                self.case_by_mail_ids_sql(first, thread_ids.len())
            ),
            (true, false) => format!(
                "{sql} UNION ALL SELECT '#thread' AS k, CAST(NULL AS TEXT) AS v, \
                 CAST(NULL AS BIGINT) AS n, {def_nulls}, x.* FROM ({}) x",
                self.case_by_mail_ids_sql(first, thread_ids.len())
            ),
        };
        (sql, first - 1 + thread_ids.len())
    }

    /// [`Store::mail_context`]'s answer from the rows of its query.
    fn mail_context_from(
        &self,
        req: &MailContextRequest<'_>,
        rows: &[AnyRow],
    ) -> Result<MailContext> {
        let sqlite = self.backend() == crate::Backend::Sqlite;
        let mut ctx = MailContext {
            thread_case: (!req.thread_ids.is_empty()).then_some(None),
            ..MailContext::default()
        };
        for r in rows {
            let thread = if sqlite {
                r.columns().iter().any(|c| c.name() == "targets")
            } else {
                r.try_get::<String, _>("k")? == "#thread"
            };
            if thread {
                ctx.thread_case = Some(Some(self.case_with_targets_from(r)?));
                continue;
            }
            let k: String = r.try_get("k")?;
            let v: Option<String> = r.try_get("v")?;
            let n: Option<i64> = r.try_get("n")?;
            match k.as_str() {
                "" => {
                    ctx.mailbox_ack = Some(match v.as_deref() {
                        Some("true") => Some(true),
                        Some("false") => Some(false),
                        _ => None,
                    })
                }
                "#dedupe" => ctx.key_holder = n,
                "#user" => ctx.sender_user = n,
                "#customer" => ctx.sender_customer = n.map(concierge_domain::CustomerId),
                "#tier" => ctx.sender_tier = v,
                "#flag" => ctx.sender_flags.extend(v),
                _ => match k.strip_prefix("#def:") {
                    Some(kind) => ctx.definitions.push((
                        kind.to_string(),
                        crate::cases::SpecRow {
                            id: n.unwrap_or_default(),
                            name: r
                                .try_get::<Option<String>, _>("d_name")?
                                .unwrap_or_default(),
                            event: r.try_get("d_event")?,
                            spec: v.unwrap_or_default(),
                            position: r.try_get::<Option<i64>, _>("d_position")?.unwrap_or(0),
                            active: r.try_get::<Option<i16>, _>("d_active")?.unwrap_or(0) != 0,
                        },
                    )),
                    None => ctx.settings.push((k, v.unwrap_or_default())),
                },
            }
        }
        // In the order `Store::definitions_of_kinds` gives them.
        ctx.definitions
            .sort_by(|a, b| (&a.0, a.1.position, a.1.id).cmp(&(&b.0, b.1.position, b.1.id)));
        Ok(ctx)
    }

    /// A tenant's mail token key, created once (the first writer wins, so every node shares
    /// one key).
    pub async fn mail_token_key(&self, tenant: TenantId, fresh: &str, now: i64) -> Result<String> {
        // Read first: the key exists after the first mail, and a write per mail would cost a
        // write lock (and on some engines a commit) for nothing.
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT value FROM tenant_settings WHERE tenant_id = $1 AND key = 'mail.token_key'",
        )
        .bind(tenant.0)
        .fetch_optional(self.db())
        .await?;
        if let Some(v) = existing {
            return Ok(v);
        }
        sqlx::query(
            "INSERT INTO tenant_settings (tenant_id, key, value, updated_at) \
             VALUES ($1, 'mail.token_key', $2, $3) ON CONFLICT (tenant_id, key) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(fresh)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(sqlx::query_scalar(
            "SELECT value FROM tenant_settings WHERE tenant_id = $1 AND key = 'mail.token_key'",
        )
        .bind(tenant.0)
        .fetch_one(self.db())
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_THREAD_IDS, thread_id_list};

    #[test]
    fn message_ids_to_look_up_come_in_a_few_lengths_and_keep_every_id() {
        let ids: Vec<String> = (0..60).map(|i| format!("<{i}@x>")).collect();
        let mut lengths = std::collections::BTreeSet::new();
        for n in 0..=60 {
            let list = thread_id_list(&ids[..n]);
            lengths.insert(list.len());
            let kept = n.min(MAX_THREAD_IDS);
            assert!(list.len() >= kept);
            assert_eq!(
                list[..kept].iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                ids[..kept].iter().map(|s| s.as_str()).collect::<Vec<_>>()
            );
            assert!(list[kept..].iter().all(|s| Some(*s) == ids[..kept].last()));
        }
        assert_eq!(
            lengths.into_iter().collect::<Vec<_>>(),
            vec![0, 1, 2, 4, 8, 16, 32, 50]
        );
    }
}
