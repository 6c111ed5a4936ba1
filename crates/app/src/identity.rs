//! Identity and privacy use cases (issue 3): the one find-or-create of a customer by email or
//! phone (used by mail ingest, case creation and the API), duplicate candidates for review
//! and remembered "not a duplicate" decisions, merging a customer into another with an undo,
//! exporting everything stored about a customer, and erasing one.
//!
//! Every call is scoped to one tenant; a customer of another tenant is not found. Merges,
//! undos, exports and erasures are audited (an erasure records who and when, never what was
//! erased).

use crate::App;
use concierge_domain::customer::{PhoneRegion, name_key};
use concierge_domain::identity::{
    DuplicateReason, ERASED_TEXT, erased_name, names_close, phone_key, target_preference_wins,
};
use concierge_domain::{CustomerId, EmailAddress, Permission, TenantId};
use concierge_store::identity::{EraseOutcome, MergeOutcome, MergeRow, UndoOutcome};
use concierge_store::memory::NewContact;
use concierge_store::{AuditEntry, StoreError, UserRow};
use serde::Serialize;

/// Why an identity action was refused.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The input is wrong; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// A customer merged into itself.
    #[error("a customer cannot be merged into itself; choose another customer to merge into")]
    SameCustomer,
    /// No such customer (or merge) in this tenant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The action conflicts with the current state (already merged, erased, undone).
    #[error("{1}")]
    Conflict(&'static str, String),
    /// The user's role does not allow it.
    #[error("your role does not allow this action")]
    Forbidden,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::customers::CustomerError> for IdentityError {
    fn from(e: crate::customers::CustomerError) -> Self {
        use crate::customers::CustomerError as C;
        match e {
            C::Invalid(m) => IdentityError::Invalid(m),
            C::NotFound => IdentityError::NotFound("customer"),
            C::Store(s) => IdentityError::Store(s),
        }
    }
}

type Result<T, E = IdentityError> = std::result::Result<T, E>;

/// An inbound contact, normalised: the keys customers are matched by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactKeys {
    /// Lower-cased, plus-addressing kept.
    pub email: Option<EmailAddress>,
    /// E.164.
    pub phone: Option<String>,
    /// The phone as it was written (kept on the contact).
    pub phone_written: Option<String>,
}

impl ContactKeys {
    /// Normalises an email address and/or a phone number (national numbers need `region`).
    pub fn parse(
        email: Option<&str>,
        phone: Option<&str>,
        region: Option<PhoneRegion>,
    ) -> Result<ContactKeys> {
        let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => {
                Some(EmailAddress::parse(e).map_err(|e| IdentityError::Invalid(e.to_string()))?)
            }
            None => None,
        };
        let (phone, phone_written) = match phone.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => (
                Some(phone_key(p, region).map_err(|e| IdentityError::Invalid(e.to_string()))?),
                Some(p.to_string()),
            ),
            None => (None, None),
        };
        if email.is_none() && phone.is_none() {
            return Err(IdentityError::Invalid(
                "give an email address or a phone number to find the customer by".into(),
            ));
        }
        Ok(ContactKeys {
            email,
            phone,
            phone_written,
        })
    }

    /// Keys for an address that is already an [`EmailAddress`].
    pub fn email(e: &EmailAddress) -> ContactKeys {
        ContactKeys {
            email: Some(e.clone()),
            ..ContactKeys::default()
        }
    }
}

/// One side of a duplicate pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairSide {
    pub id: i64,
    pub name: String,
}

/// Two customers that may be the same person, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicatePair {
    pub a: PairSide,
    pub b: PairSide,
    pub reasons: Vec<DuplicateReason>,
}

/// A page of duplicate pairs and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicatePage {
    pub pairs: Vec<DuplicatePair>,
    pub next_cursor: Option<String>,
}

/// A merge as clients see it: who went into whom, when, and how much moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeSummary {
    pub id: i64,
    pub source_id: i64,
    pub target_id: i64,
    pub merged_at: i64,
    pub merged_by: Option<i64>,
    pub undone_at: Option<i64>,
    /// Rows moved per kind.
    pub moved: serde_json::Value,
}

impl From<MergeRow> for MergeSummary {
    fn from(m: MergeRow) -> Self {
        MergeSummary {
            id: m.id,
            source_id: m.source_id,
            target_id: m.target_id,
            merged_at: m.merged_at,
            merged_by: m.merged_by,
            undone_at: m.undone_at,
            moved: m.moved.counts(),
        }
    }
}

/// Most pairs on one page.
pub const DUPLICATES_PAGE_MAX: i64 = 200;

/// What an erasure answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Erased {
    pub id: i64,
    /// false when the customer had already been erased (nothing changed).
    pub erased_now: bool,
    pub cases: i64,
    pub messages: i64,
}

/// Folds candidate rows (one per pair and reason, in pair order) into pairs with their
/// reasons, at most `room` of them. A pair sharing only an address is kept when the names are
/// close. When `full` (the read hit its limit) the last pair may continue on the next read and
/// is left for it. Answers the pairs, the `high` of the last pair looked at, and whether the
/// rows are used up (nothing more to read after them).
fn pairs_of(
    rows: Vec<concierge_store::identity::DuplicateCandidate>,
    full: bool,
    room: i64,
) -> (Vec<DuplicatePair>, Option<i64>, bool) {
    let mut groups: Vec<Vec<concierge_store::identity::DuplicateCandidate>> = Vec::new();
    for r in rows {
        match groups.last_mut() {
            Some(g) if g[0].low == r.low && g[0].high == r.high => g.push(r),
            _ => groups.push(vec![r]),
        }
    }
    if full && groups.len() > 1 {
        groups.pop();
    }
    let n_groups = groups.len();
    let mut out = Vec::new();
    let mut last_high = None;
    for (i, g) in groups.into_iter().enumerate() {
        if out.len() as i64 >= room {
            return (out, last_high, false);
        }
        let mut reasons = Vec::new();
        for r in &g {
            match r.kind.as_str() {
                "email" => reasons.push(DuplicateReason::SharedEmail),
                "phone" => reasons.push(DuplicateReason::SharedPhone),
                _ if names_close(&r.low_name, &r.high_name) => {
                    reasons.push(DuplicateReason::CloseNameSameAddress)
                }
                _ => {}
            }
        }
        reasons.sort_unstable();
        reasons.dedup();
        last_high = Some(g[0].high);
        if !reasons.is_empty() {
            out.push(DuplicatePair {
                a: PairSide {
                    id: g[0].low,
                    name: g[0].low_name.clone(),
                },
                b: PairSide {
                    id: g[0].high,
                    name: g[0].high_name.clone(),
                },
                reasons,
            });
        }
        if i + 1 == n_groups {
            return (out, last_high, !full);
        }
    }
    (out, last_high, !full)
}

/// What a first contact creates: the customer's name (`name` trimmed and bounded; else the
/// email's local part, the phone, or "customer") and their contact points.
pub(crate) fn first_contact_parts(
    keys: &ContactKeys,
    name: Option<&str>,
) -> (String, Vec<NewContact>) {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().take(200).collect::<String>())
        .or_else(|| {
            keys.email
                .as_ref()
                .and_then(|e| e.as_str().split('@').next().map(str::to_string))
        })
        .or_else(|| keys.phone.clone())
        .unwrap_or_else(|| "customer".to_string());
    let mut contacts = Vec::new();
    if let Some(e) = &keys.email {
        contacts.push(NewContact {
            kind: "email".into(),
            value: e.as_str().to_string(),
            normalized: e.as_str().to_string(),
            primary: true,
            verified: false,
        });
    }
    if let Some(p) = &keys.phone {
        contacts.push(NewContact {
            kind: "phone".into(),
            value: keys.phone_written.clone().unwrap_or_else(|| p.clone()),
            normalized: p.clone(),
            primary: true,
            verified: false,
        });
    }
    (name, contacts)
}

/// The identity key a first contact with `keys` claims (see migration 0014): the email when
/// there is one, otherwise the phone.
pub(crate) fn identity_key(keys: &ContactKeys) -> Option<String> {
    match (&keys.email, &keys.phone) {
        (Some(e), _) => Some(format!("email:{}", e.as_str())),
        (None, Some(p)) => Some(format!("phone:{p}")),
        (None, None) => None,
    }
}

fn parse_pair_cursor(c: &str) -> Option<(i64, i64)> {
    let (a, b) = c.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

impl App {
    async fn audit_identity(
        &self,
        user: &UserRow,
        action: &str,
        customer: i64,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.store
            .audit(
                user.tenant_id,
                &AuditEntry {
                    actor_kind: "user",
                    actor_id: Some(user.id.0),
                    action,
                    subject_kind: "customer",
                    subject_id: Some(customer),
                    customer_id: Some(customer),
                    detail: detail.to_string(),
                    ..Default::default()
                },
                self.now(),
            )
            .await
    }

    /// The customer an inbound email address or phone number belongs to (email first), never
    /// a merged-away one.
    pub async fn find_customer(
        &self,
        tenant: TenantId,
        keys: &ContactKeys,
    ) -> Result<Option<CustomerId>, StoreError> {
        if let Some(e) = &keys.email
            && let Some(id) = self
                .store
                .customer_by_contact(tenant, "email", e.as_str())
                .await?
        {
            return Ok(Some(id));
        }
        if let Some(p) = &keys.phone
            && let Some(id) = self.store.customer_by_contact(tenant, "phone", p).await?
        {
            return Ok(Some(id));
        }
        Ok(None)
    }

    /// The one find-or-create for inbound contacts: finds the customer by email or phone
    /// (normalised), or creates one with those contacts. `name` defaults to the email's local
    /// part or the phone number. Answers the customer and whether it was created.
    ///
    /// Safe under concurrency on both engines: the new customer claims its identity key (the
    /// email, or the phone without one) under a unique index of live customers, so of two
    /// concurrent first contacts from one new address one creates the customer and the other
    /// finds it. A key still held by a customer that no longer has that contact is released.
    pub async fn find_or_create_customer(
        &self,
        tenant: TenantId,
        keys: &ContactKeys,
        name: Option<&str>,
    ) -> Result<(CustomerId, bool), StoreError> {
        let (name, contacts) = first_contact_parts(keys, name);
        let key = identity_key(keys);
        for attempt in 0..4 {
            if let Some(id) = self.find_customer(tenant, keys).await? {
                return Ok((id, false));
            }
            if attempt > 0
                && let Some(k) = &key
            {
                // The key was taken, yet nobody has the contact: its holder's contact was
                // changed since. Let go of the key and claim it.
                self.store.release_identity_key(tenant, k).await?;
            }
            if let Some(id) = self
                .store
                .create_customer_with_contacts(
                    tenant,
                    &name,
                    &name_key(&name),
                    &contacts,
                    key.as_deref(),
                    self.now(),
                )
                .await?
            {
                return Ok((id, true));
            }
            // Taken by a concurrent first contact that has committed by now: find it.
        }
        Err(StoreError::Conflict(
            "a new customer for this address could not be created: its identity key is taken; \
             try again"
                .into(),
        ))
    }

    /// Refuses writes to a customer that was merged into another one.
    pub(crate) async fn refuse_tombstone(
        &self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<(), crate::customers::CustomerError> {
        if let Some(s) = self.store.customer_state(tenant, id).await?
            && let Some(into) = s.merged_into
        {
            return Err(crate::customers::CustomerError::Invalid(format!(
                "this customer was merged into customer #{into}; change that customer instead"
            )));
        }
        Ok(())
    }

    /// A page of possible duplicates: customers sharing an email or phone, or with the same
    /// or nearly the same name at the same postal address. Dismissed pairs, merged and erased
    /// customers are left out. `cursor` is the `next_cursor` of the page before.
    pub async fn duplicates(
        &self,
        tenant: TenantId,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<DuplicatePage> {
        self.duplicate_page(tenant, cursor, limit, None).await
    }

    async fn duplicate_page(
        &self,
        tenant: TenantId,
        cursor: Option<&str>,
        limit: Option<i64>,
        only: Option<CustomerId>,
    ) -> Result<DuplicatePage> {
        let limit = limit.unwrap_or(50);
        if !(1..=DUPLICATES_PAGE_MAX).contains(&limit) {
            return Err(IdentityError::Invalid(format!(
                "limit must be 1-{DUPLICATES_PAGE_MAX}"
            )));
        }
        let after = match cursor.filter(|c| !c.is_empty()) {
            Some(c) => parse_pair_cursor(c).ok_or_else(|| {
                IdentityError::Invalid(
                    "the cursor is not one this server gave out; start without it".into(),
                )
            })?,
            None => (0, 0),
        };
        let mut pairs: Vec<DuplicatePair> = Vec::new();
        if let Some(id) = only {
            // One customer's pairs: the customers in its blocks below it, then above it.
            for (above, below) in [(0, id.0), (id.0, i64::MAX)] {
                let rows = self
                    .store
                    .duplicate_partners(tenant, id, above, below, limit * 3 + 3)
                    .await?;
                let full = rows.len() as i64 == limit * 3 + 3;
                let (found, _, _) = pairs_of(rows, full, limit - pairs.len() as i64);
                pairs.extend(found);
            }
            return Ok(DuplicatePage {
                pairs,
                next_cursor: None,
            });
        }
        // Blocking: walk the customers that share a key with a higher one (anchors) in id
        // order from the cursor, and pair each only with the customers of its own blocks, so
        // a page costs what it shows, never all pairs of the tenant.
        let fetch = limit * 3 + 3;
        let mut from = after.0.max(0);
        loop {
            let anchors = self
                .store
                .duplicate_anchors(tenant, from, limit + 1)
                .await?;
            let Some(&last) = anchors.last() else {
                return Ok(DuplicatePage {
                    pairs,
                    next_cursor: None,
                });
            };
            for anchor in anchors {
                let mut above = if anchor == after.0 {
                    after.1.max(anchor)
                } else {
                    anchor
                };
                loop {
                    let rows = self
                        .store
                        .duplicate_partners(tenant, CustomerId(anchor), above, i64::MAX, fetch)
                        .await?;
                    let full = rows.len() as i64 == fetch;
                    let (found, last_high, ended) =
                        pairs_of(rows, full, limit - pairs.len() as i64);
                    pairs.extend(found);
                    if let Some(h) = last_high {
                        above = h;
                    }
                    if pairs.len() as i64 == limit {
                        // Full: the next page starts after the last pair looked at. It may
                        // turn out empty (the list does not read ahead to find out).
                        return Ok(DuplicatePage {
                            pairs,
                            next_cursor: Some(format!("{anchor}.{above}")),
                        });
                    }
                    if ended {
                        break;
                    }
                }
            }
            from = last + 1;
        }
    }

    /// The duplicate candidates of one customer (the merge suggestions on its page), at
    /// most 50.
    pub async fn duplicates_of(
        &self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Vec<DuplicatePair>> {
        Ok(self
            .duplicate_page(tenant, None, Some(50), Some(id))
            .await?
            .pairs)
    }

    /// Remembers that two customers are not the same person; the pair is no longer listed.
    pub async fn dismiss_duplicate(
        &self,
        user: &UserRow,
        a: CustomerId,
        b: CustomerId,
    ) -> Result<()> {
        if a == b {
            return Err(IdentityError::Invalid(
                "a pair needs two different customers".into(),
            ));
        }
        if !self
            .store
            .dismiss_duplicate(user.tenant_id, a, b, Some(user.id.0), self.now())
            .await?
        {
            return Err(IdentityError::NotFound("customer"));
        }
        self.audit_identity(
            user,
            "customer.duplicate_dismissed",
            a.0.min(b.0),
            serde_json::json!({"pair": [a.0.min(b.0), a.0.max(b.0)]}),
        )
        .await?;
        Ok(())
    }

    /// Merges `source` into `into` in one transaction (see
    /// [`concierge_store::Store::merge_customers`]); a conflicting preference keeps the most
    /// recently confirmed value. Analytics scores are not moved: the next analytics run
    /// recomputes both customers from their orders.
    pub async fn merge_customers(
        &self,
        user: &UserRow,
        source: CustomerId,
        into: CustomerId,
    ) -> Result<MergeRow> {
        if !user.role.can(Permission::WriteCustomers) {
            return Err(IdentityError::Forbidden);
        }
        if source == into {
            return Err(IdentityError::SameCustomer);
        }
        let outcome = self
            .store
            .merge_customers(
                user.tenant_id,
                source,
                into,
                target_preference_wins,
                Some(user.id.0),
                self.now(),
            )
            .await?;
        let m = match outcome {
            MergeOutcome::Merged(m) => *m,
            MergeOutcome::NotFound => return Err(IdentityError::NotFound("customer")),
            MergeOutcome::SourceMerged(x) => {
                return Err(IdentityError::Conflict(
                    "already_merged",
                    format!(
                        "customer #{} was already merged into customer #{x}",
                        source.0
                    ),
                ));
            }
            MergeOutcome::TargetMerged(x) => {
                return Err(IdentityError::Conflict(
                    "already_merged",
                    format!(
                        "customer #{} was itself merged into customer #{x}; merge into #{x} instead",
                        into.0
                    ),
                ));
            }
            MergeOutcome::Erased => {
                return Err(IdentityError::Conflict(
                    "erased",
                    "an erased customer cannot be merged".into(),
                ));
            }
        };
        let detail = serde_json::json!({
            "merge": m.id, "source": m.source_id, "target": m.target_id,
            "moved": m.moved.counts(),
        });
        self.audit_identity(user, "customer.merged", m.source_id, detail.clone())
            .await?;
        self.audit_identity(user, "customer.merged", m.target_id, detail)
            .await?;
        Ok(m)
    }

    /// Undoes a merge: exactly the rows it moved go back and the source is restored.
    pub async fn undo_merge(&self, user: &UserRow, merge_id: i64) -> Result<MergeRow> {
        if !user.role.can(Permission::WriteCustomers) {
            return Err(IdentityError::Forbidden);
        }
        let m = match self
            .store
            .undo_merge(user.tenant_id, merge_id, Some(user.id.0), self.now())
            .await?
        {
            UndoOutcome::Undone(m) => *m,
            UndoOutcome::NotFound => return Err(IdentityError::NotFound("merge")),
            UndoOutcome::AlreadyUndone => {
                return Err(IdentityError::Conflict(
                    "already_undone",
                    format!("merge #{merge_id} was already undone"),
                ));
            }
            UndoOutcome::TargetMerged(x) => {
                return Err(IdentityError::Conflict(
                    "already_merged",
                    format!(
                        "the customer this merge went into was since merged into customer #{x}; \
                         undo that merge first"
                    ),
                ));
            }
        };
        let detail =
            serde_json::json!({"merge": m.id, "source": m.source_id, "target": m.target_id});
        self.audit_identity(user, "customer.unmerged", m.source_id, detail.clone())
            .await?;
        self.audit_identity(user, "customer.unmerged", m.target_id, detail)
            .await?;
        Ok(m)
    }

    /// The merges a customer took part in, newest first.
    pub async fn customer_merges(&self, tenant: TenantId, id: CustomerId) -> Result<Vec<MergeRow>> {
        if self.store.customer_state(tenant, id).await?.is_none() {
            return Err(IdentityError::NotFound("customer"));
        }
        Ok(self.store.merges_of(tenant, id).await?)
    }

    /// Everything stored about a customer, as one JSON document: profile, contacts,
    /// households, tags, preferences with their history, notes, flags with history, the
    /// timeline's own events, orders with lines, cases with every message (customer-visible
    /// and internal notes: everything stored about them), tasks, analytics score and tier,
    /// and merges. Audited.
    pub async fn export_customer(
        &self,
        user: &UserRow,
        id: CustomerId,
    ) -> Result<serde_json::Value> {
        if !user.role.can(Permission::ReadCustomers) {
            return Err(IdentityError::Forbidden);
        }
        let tenant = user.tenant_id;
        let profile = self.customer_profile(tenant, id).await?;
        let preferences = self.preferences(tenant, id, true).await?;
        let notes = self.customer_notes(tenant, id).await?;
        let flags = self.customer_flags(tenant, id, true).await?;
        let parts = self.store.export_parts(tenant, id).await?;
        let now = self.now();
        self.audit_identity(user, "customer.exported", id.0, serde_json::json!({}))
            .await?;
        Ok(serde_json::json!({
            "format": "concierge.customer-export/1",
            "exported_at": now,
            "customer": profile,
            "preferences": preferences,
            "notes": notes,
            "flags": flags,
            "timeline_events": parts.timeline_events,
            "orders": parts.orders,
            "cases": parts.cases,
            "tasks": parts.tasks,
            "analytics": { "score": parts.score, "tier": parts.tier, "tier_history": parts.tier_history },
            "merges": parts.merges,
        }))
    }

    /// Erases a customer's personal data (admins only; see
    /// [`concierge_store::Store::erase_customer`] for what goes and what stays). Idempotent:
    /// erasing again changes nothing. Audited with who and when, nothing of what was erased.
    pub async fn erase_customer(&self, user: &UserRow, id: CustomerId) -> Result<Erased> {
        if !user.role.can(Permission::EraseCustomers) {
            return Err(IdentityError::Forbidden);
        }
        let outcome = self
            .store
            .erase_customer(
                user.tenant_id,
                id,
                &erased_name(id.0),
                ERASED_TEXT,
                self.now(),
            )
            .await?;
        match outcome {
            EraseOutcome::Erased { cases, messages } => {
                self.audit_identity(user, "customer.erased", id.0, serde_json::json!({}))
                    .await?;
                Ok(Erased {
                    id: id.0,
                    erased_now: true,
                    cases,
                    messages,
                })
            }
            EraseOutcome::AlreadyErased => Ok(Erased {
                id: id.0,
                erased_now: false,
                cases: 0,
                messages: 0,
            }),
            EraseOutcome::Merged(x) => Err(IdentityError::Conflict(
                "already_merged",
                format!(
                    "customer #{} was merged into customer #{x}; erase that customer instead",
                    id.0
                ),
            )),
            EraseOutcome::NotFound => Err(IdentityError::NotFound("customer")),
        }
    }
}
