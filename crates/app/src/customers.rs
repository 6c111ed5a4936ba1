//! Customer memory use cases (issue 3, principles P1/P2): search, profile changes,
//! "remember this" (preferences with provenance), notes, flags, the timeline, and rendering
//! a personalised message from what the profile knows.
//!
//! Input is validated here with the domain's rules before anything is stored, so the web
//! API, the console and the CLI refuse the same things with the same messages. Every call is
//! scoped to the acting user's tenant; a customer of another tenant is [`CustomerError::NotFound`].

use crate::App;
use concierge_domain::customer::{
    Channel, ContactKind, CustomerFlag, Date, MemoryError, PhoneRegion, PrefKey, PrefSource,
    bounded_text, name_key, normalize_phone, pref_value,
};
use concierge_domain::personalize::{Context, Escape, Rendered, Template, TemplateError};
use concierge_domain::{CustomerId, EmailAddress, TenantId};
use concierge_store::memory::{
    CustomerChange, CustomerProfile, FlagRow, NewContact, NewPreference, NoteRow, PrefChange,
    PreferenceRow, TimelineCursor, TimelineItem,
};
use concierge_store::{AuditEntry, CustomerRow, StoreError, UserRow};

/// Why a customer-memory action was refused.
#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    /// The input is wrong; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// No such customer in this tenant.
    #[error("customer not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<MemoryError> for CustomerError {
    fn from(e: MemoryError) -> Self {
        CustomerError::Invalid(e.to_string())
    }
}

impl From<TemplateError> for CustomerError {
    fn from(e: TemplateError) -> Self {
        CustomerError::Invalid(e.to_string())
    }
}

type Result<T, E = CustomerError> = std::result::Result<T, E>;

/// A contact point as sent by a client.
#[derive(Debug, Clone)]
pub struct ContactInput {
    pub kind: String,
    pub value: String,
    pub primary: bool,
    pub verified: bool,
}

/// A change to a profile as sent by a client: `None` leaves a field alone, an empty string
/// clears it. `contacts` and `tags`, when given, replace the whole list.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub birthday: Option<String>,
    pub language: Option<String>,
    pub time_zone: Option<String>,
    pub preferred_channel: Option<String>,
    pub contacts: Option<Vec<ContactInput>>,
    pub tags: Option<Vec<String>>,
}

/// "Remember this": a preference to record.
#[derive(Debug, Clone)]
pub struct Remember {
    pub key: String,
    pub value: String,
    pub standing: bool,
    /// Defaults to `agent` when a staff member records it.
    pub source: Option<String>,
    /// Where it was learned, in words or as a reference ("check-in call", "case #12").
    pub learned_from: Option<String>,
}

/// A page of the timeline and where the next one starts.
#[derive(Debug, Clone)]
pub struct TimelinePage {
    pub items: Vec<TimelineItem>,
    pub next_cursor: Option<String>,
}

/// Most items on one timeline page.
pub const TIMELINE_PAGE_MAX: i64 = 200;
const MAX_CONTACTS: usize = 50;
const MAX_TAGS: usize = 50;

fn opt_text(field: &'static str, v: &Option<String>, max: usize) -> Result<Option<Option<String>>> {
    match v {
        None => Ok(None),
        Some(s) => {
            let t = bounded_text(field, s, max, false)?;
            Ok(Some(if t.is_empty() { None } else { Some(t) }))
        }
    }
}

fn language_tag(s: &str) -> Result<String> {
    let ok = (2..=35).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-');
    if ok {
        Ok(s.to_string())
    } else {
        Err(CustomerError::Invalid(format!(
            "{} is not a language tag (e.g. en, zh-CN, ko)",
            concierge_domain::customer::preview(s, 30)
        )))
    }
}

/// Today's date in `tz` (an IANA name), or in UTC when it is unknown.
fn today(now_ms: i64, tz: Option<&str>) -> Option<Date> {
    let ts = jiff::Timestamp::from_millisecond(now_ms).ok()?;
    let zone = tz
        .and_then(|z| jiff::tz::TimeZone::get(z).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let d = ts.to_zoned(zone).date();
    Some(Date {
        year: i32::from(d.year()),
        month: u8::try_from(d.month()).ok()?,
        day: u8::try_from(d.day()).ok()?,
    })
}

/// Checks a profile change against the current profile with the domain's rules: the
/// change to store and the new sort name when the name changes.
pub(crate) fn profile_change(
    current: &CustomerProfile,
    patch: &ProfilePatch,
) -> Result<(CustomerChange, Option<String>)> {
    let mut change = CustomerChange::default();
    let mut sort_name = None;
    if let Some(n) = &patch.name {
        let n = bounded_text("name", n, 200, true)?;
        sort_name = Some(name_key(&n));
        change.display_name = Some(n);
    }
    change.given_name = opt_text("given_name", &patch.given_name, 100)?;
    change.family_name = opt_text("family_name", &patch.family_name, 100)?;
    change.birthday = match opt_text("birthday", &patch.birthday, 20)? {
        Some(Some(b)) => Some(Some(Date::parse(&b)?.to_string())),
        other => other,
    };
    change.language = match opt_text("language", &patch.language, 35)? {
        Some(Some(l)) => Some(Some(language_tag(&l)?)),
        other => other,
    };
    change.time_zone = match opt_text("time_zone", &patch.time_zone, 64)? {
        Some(Some(z)) => {
            if jiff::tz::TimeZone::get(&z).is_err() {
                return Err(CustomerError::Invalid(format!(
                    "{} is not a time zone (use an IANA name such as Asia/Seoul)",
                    concierge_domain::customer::preview(&z, 40)
                )));
            }
            Some(Some(z))
        }
        other => other,
    };
    change.preferred_channel = match opt_text("preferred_channel", &patch.preferred_channel, 20)? {
        Some(Some(c)) => Some(Some(Channel::parse(&c)?.as_str().to_string())),
        other => other,
    };
    if let Some(contacts) = &patch.contacts {
        if contacts.len() > MAX_CONTACTS {
            return Err(CustomerError::Invalid(format!(
                "a customer has at most {MAX_CONTACTS} contact points"
            )));
        }
        let language = match &change.language {
            Some(l) => l.clone(),
            None => current.language.clone(),
        };
        let region = language.as_deref().and_then(PhoneRegion::from_language);
        let mut out: Vec<NewContact> = Vec::new();
        for (i, c) in contacts.iter().enumerate() {
            let at = |e: String| CustomerError::Invalid(format!("contacts[{i}]: {e}"));
            let kind = ContactKind::parse(&c.kind).map_err(|e| at(e.to_string()))?;
            let (value, normalized) = match kind {
                ContactKind::Email => {
                    let e = EmailAddress::parse(&c.value).map_err(|e| at(e.to_string()))?;
                    (c.value.trim().to_string(), e.as_str().to_string())
                }
                ContactKind::Phone => {
                    let p = normalize_phone(&c.value, region).map_err(|e| at(e.to_string()))?;
                    (c.value.trim().to_string(), p)
                }
                ContactKind::Address => {
                    let a = bounded_text("address", &c.value, 500, true)
                        .map_err(|e| at(e.to_string()))?;
                    let n = name_key(&a);
                    (a, n)
                }
            };
            if out
                .iter()
                .any(|o| o.kind == kind.as_str() && o.normalized == normalized)
            {
                continue;
            }
            out.push(NewContact {
                kind: kind.as_str().to_string(),
                value,
                normalized,
                primary: c.primary,
                verified: c.verified,
            });
        }
        // Exactly one primary per kind: the first one marked, else the first one.
        for kind in ContactKind::ALL {
            let mut seen = false;
            for c in out.iter_mut().filter(|c| c.kind == kind.as_str()) {
                c.primary = c.primary && !seen;
                seen |= c.primary;
            }
            if !seen && let Some(c) = out.iter_mut().find(|c| c.kind == kind.as_str()) {
                c.primary = true;
            }
        }
        change.contacts = Some(out);
    }
    if let Some(tags) = &patch.tags {
        if tags.len() > MAX_TAGS {
            return Err(CustomerError::Invalid(format!(
                "a customer has at most {MAX_TAGS} tags"
            )));
        }
        let mut out = Vec::new();
        for t in tags {
            let t = bounded_text("a tag", t, 40, true)?.to_lowercase();
            if !out.contains(&t) {
                out.push(t);
            }
        }
        change.tags = Some(out);
    }
    Ok((change, sort_name))
}

impl App {
    fn audit_customer(
        &self,
        user: &UserRow,
        action: &'static str,
        customer: CustomerId,
        detail: serde_json::Value,
    ) -> impl std::future::Future<Output = std::result::Result<(), StoreError>> + '_ {
        let tenant = user.tenant_id;
        let actor = user.id.0;
        let now = self.now();
        async move {
            self.store
                .audit(
                    tenant,
                    &AuditEntry {
                        actor_kind: "user",
                        actor_id: Some(actor),
                        action,
                        subject_kind: "customer",
                        subject_id: Some(customer.0),
                        customer_id: Some(customer.0),
                        detail: detail.to_string(),
                        ..Default::default()
                    },
                    now,
                )
                .await
        }
    }

    /// Finds customers by name (any script; case- and accent-insensitive for Latin), email,
    /// phone (national numbers are tried in every supported region) or external id.
    pub async fn search_customers(
        &self,
        tenant: TenantId,
        q: &str,
        limit: i64,
    ) -> Result<Vec<CustomerRow>> {
        let q = bounded_text("q", q, 200, true)?;
        let mut keys: Vec<String> = Vec::new();
        match EmailAddress::parse(&q) {
            Ok(e) => keys.push(e.as_str().to_string()),
            Err(_) => keys.push(q.to_lowercase()),
        }
        if let Ok(p) = normalize_phone(&q, None) {
            keys.push(p);
        }
        for r in PhoneRegion::ALL {
            if let Ok(p) = normalize_phone(&q, Some(r)) {
                keys.push(p);
            }
        }
        keys.sort();
        keys.dedup();
        Ok(self
            .store
            .search_customers(tenant, &q, &name_key(&q), &keys, limit.clamp(1, 200))
            .await?)
    }

    /// The full profile of a customer.
    pub async fn customer_profile(
        &self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<CustomerProfile> {
        self.store
            .customer_profile(tenant, id)
            .await?
            .ok_or(CustomerError::NotFound)
    }

    /// Validates and applies a profile change; answers the new profile.
    pub async fn update_customer(
        &self,
        user: &UserRow,
        id: CustomerId,
        patch: &ProfilePatch,
    ) -> Result<CustomerProfile> {
        let tenant = user.tenant_id;
        self.refuse_tombstone(tenant, id).await?;
        let current = self.customer_profile(tenant, id).await?;
        let (change, sort_name) = profile_change(&current, patch)?;
        let now = self.now();
        if !self
            .store
            .update_customer(
                tenant,
                id,
                &change,
                sort_name.as_deref(),
                Some(user.id.0),
                now,
            )
            .await?
        {
            return Err(CustomerError::NotFound);
        }
        self.audit_customer(user, "customer.updated", id, serde_json::json!({}))
            .await?;
        self.customer_profile(tenant, id).await
    }

    /// "Remember this": records a preference with its provenance (who, when, source, where).
    /// A new value for a known key supersedes the old one, which is kept as history.
    pub async fn remember(
        &self,
        user: &UserRow,
        id: CustomerId,
        r: &Remember,
    ) -> Result<(PreferenceRow, PrefChange)> {
        self.refuse_tombstone(user.tenant_id, id).await?;
        let key = PrefKey::parse(&r.key)?;
        let value = pref_value(&r.value)?;
        let source = match &r.source {
            Some(s) => PrefSource::parse(s)?,
            None => PrefSource::Agent,
        };
        let learned_from = match &r.learned_from {
            Some(w) => Some(bounded_text("learned_from", w, 200, false)?).filter(|w| !w.is_empty()),
            None => None,
        };
        let (row, change) = self
            .store
            .record_preference(
                user.tenant_id,
                id,
                &NewPreference {
                    key: key.as_str(),
                    value: &value,
                    source: source.as_str(),
                    learned_from: learned_from.as_deref(),
                    recorded_by: Some(user.id.0),
                    standing: r.standing,
                },
                self.now(),
            )
            .await?
            .ok_or(CustomerError::NotFound)?;
        self.audit_customer(
            user,
            "customer.preference_recorded",
            id,
            serde_json::json!({"key": key.as_str(), "change": change}),
        )
        .await?;
        Ok((row, change))
    }

    pub async fn preferences(
        &self,
        tenant: TenantId,
        id: CustomerId,
        history: bool,
    ) -> Result<Vec<PreferenceRow>> {
        self.store
            .preferences(tenant, id, history)
            .await?
            .ok_or(CustomerError::NotFound)
    }

    /// Adds a note (1-10,000 characters), optionally pinned.
    pub async fn add_customer_note(
        &self,
        user: &UserRow,
        id: CustomerId,
        body: &str,
        pinned: bool,
    ) -> Result<NoteRow> {
        self.refuse_tombstone(user.tenant_id, id).await?;
        let body = bounded_text("the note", body, 10_000, true)?;
        let note = self
            .store
            .add_note(
                user.tenant_id,
                id,
                &body,
                pinned,
                Some(user.id.0),
                self.now(),
            )
            .await?
            .ok_or(CustomerError::NotFound)?;
        self.audit_customer(
            user,
            "customer.note_added",
            id,
            serde_json::json!({"note": note.id}),
        )
        .await?;
        Ok(note)
    }

    pub async fn customer_notes(&self, tenant: TenantId, id: CustomerId) -> Result<Vec<NoteRow>> {
        self.store
            .notes(tenant, id)
            .await?
            .ok_or(CustomerError::NotFound)
    }

    /// Sets a flag (a reason is required) or clears it. Answers the flag's row; `None` when
    /// clearing a flag that was not set.
    pub async fn set_customer_flag(
        &self,
        user: &UserRow,
        id: CustomerId,
        flag: &str,
        set: bool,
        reason: Option<&str>,
    ) -> Result<Option<FlagRow>> {
        self.refuse_tombstone(user.tenant_id, id).await?;
        let flag = CustomerFlag::parse(flag)?;
        let reason = if set {
            Some(bounded_text("reason", reason.unwrap_or(""), 1_000, true)?)
        } else {
            None
        };
        let row = self
            .store
            .set_flag(
                user.tenant_id,
                id,
                flag.as_str(),
                reason.as_deref(),
                Some(user.id.0),
                self.now(),
            )
            .await?
            .ok_or(CustomerError::NotFound)?;
        self.audit_customer(
            user,
            if set {
                "customer.flag_set"
            } else {
                "customer.flag_cleared"
            },
            id,
            serde_json::json!({"flag": flag.as_str()}),
        )
        .await?;
        Ok(row)
    }

    pub async fn customer_flags(
        &self,
        tenant: TenantId,
        id: CustomerId,
        history: bool,
    ) -> Result<Vec<FlagRow>> {
        self.store
            .flags(tenant, id, history)
            .await?
            .ok_or(CustomerError::NotFound)
    }

    /// A page of the timeline, newest first. `cursor` is the `next_cursor` of the page
    /// before; `kind` filters (e.g. `preference`, `note`, `flag`, `profile`, `order`, `case`).
    pub async fn customer_timeline(
        &self,
        tenant: TenantId,
        id: CustomerId,
        kind: Option<&str>,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<TimelinePage> {
        let limit = limit.unwrap_or(50);
        if !(1..=TIMELINE_PAGE_MAX).contains(&limit) {
            return Err(CustomerError::Invalid(format!(
                "limit must be 1-{TIMELINE_PAGE_MAX}"
            )));
        }
        let before = match cursor.filter(|c| !c.is_empty()) {
            Some(c) => Some(TimelineCursor::decode(c).ok_or_else(|| {
                CustomerError::Invalid(
                    "the cursor is not one this server gave out; start without it".into(),
                )
            })?),
            None => None,
        };
        let kind = kind.map(str::trim).filter(|k| !k.is_empty());
        if let Some(k) = kind
            && (k.len() > 40 || !k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        {
            return Err(CustomerError::Invalid(
                "kind must be a timeline kind such as preference, note, flag, order or case".into(),
            ));
        }
        let items = self
            .store
            .timeline(tenant, id, kind, before, limit)
            .await?
            .ok_or(CustomerError::NotFound)?;
        let next_cursor = if items.len() as i64 == limit {
            items.last().map(|i| i.cursor.encode())
        } else {
            None
        };
        Ok(TimelinePage { items, next_cursor })
    }

    /// What a template can fill in for this customer: names, age (from the birthday, in the
    /// customer's time zone), language, first household, and every current preference.
    /// `customer.tier` is filled once tiers are stored; until then templates use its fallback.
    pub async fn personalisation_context(
        &self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Context> {
        let p = self.customer_profile(tenant, id).await?;
        let prefs = self.preferences(tenant, id, false).await?;
        let mut ctx = Context::new();
        let first = p
            .given_name
            .clone()
            .or_else(|| p.display_name.split_whitespace().next().map(str::to_string));
        if let Some(f) = first {
            ctx.insert("customer.first_name".into(), f);
        }
        let last = p.family_name.clone().or_else(|| {
            let words: Vec<&str> = p.display_name.split_whitespace().collect();
            (words.len() > 1).then(|| words[words.len() - 1].to_string())
        });
        if let Some(l) = last {
            ctx.insert("customer.last_name".into(), l);
        }
        ctx.insert("customer.name".into(), p.display_name.clone());
        if let Some(b) = p.birthday.as_deref().and_then(|b| Date::parse(b).ok()) {
            ctx.insert("customer.birthday".into(), b.to_string());
            if let Some(age) = today(self.now(), p.time_zone.as_deref()).and_then(|t| b.age_on(t)) {
                ctx.insert("customer.age".into(), age.to_string());
            }
        }
        if let Some(l) = &p.language {
            ctx.insert("customer.language".into(), l.clone());
        }
        if let Some(h) = p.households.first() {
            ctx.insert("household.name".into(), h.name.clone());
        }
        for pref in prefs {
            ctx.insert(format!("pref.{}", pref.key), pref.value);
        }
        Ok(ctx)
    }

    /// Renders a personalisation template for a customer.
    pub async fn render_for_customer(
        &self,
        tenant: TenantId,
        id: CustomerId,
        template: &str,
        escape: Escape,
    ) -> Result<Rendered> {
        let t = Template::parse(template)?;
        let ctx = self.personalisation_context(tenant, id).await?;
        Ok(t.render(&ctx, escape))
    }
}
