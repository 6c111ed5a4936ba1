//! What a customer does for themselves in the portal (issue 7 item 1): edit their own contact
//! details (name, email addresses, phone numbers, address, language, time zone, preferred
//! channel) and their own preferences, and ask for a sign-in link by email.
//!
//! - Every change is the signed-in customer's own (the session names the customer; no id
//!   comes from the form) and is recorded with source `customer`: profile changes as a
//!   `profile` timeline event carrying `"source": "customer"`, preferences as rows with source
//!   `customer` learned from `portal` (history kept as the customer memory keeps it). Both
//!   are audited with actor kind `customer`.
//! - Values go through the same domain rules as staff edits (`customers::profile_change`),
//!   with messages that name the offending value. An email address another customer already
//!   has is refused (it would route that person's mail here).
//! - Asking for a link: every request is recorded and throttled per address and per client
//!   address (`domain::auth::LinkRequestPolicy`), known address or not, and the answer is the
//!   same either way. A known, live customer gets a one-time link mailed through the outbound
//!   channel; an unknown address gets nothing.

use crate::App;
use crate::auth::AuthError;
use crate::customers::{ContactInput, CustomerError, ProfilePatch, profile_change};
use crate::portal::{NOTIFY_PREF, PortalError, SURVEY_PREF};
use concierge_domain::customer::{
    Channel, MemoryError, PhoneRegion, PrefKey, normalize_phone, pref_value, preview,
};
use concierge_domain::{CustomerId, EmailAddress, LinkRequestPolicy, Locale, TenantId};
use concierge_mail::MailAddress;
use concierge_store::AuditEntry;
use concierge_store::memory::{NewPreference, PreferenceRow};
use concierge_store::portal::SHARE_PREF;

type Result<T, E = PortalError> = std::result::Result<T, E>;

/// Most email addresses or phone numbers a customer keeps in the portal.
pub const PORTAL_CONTACTS_MAX: usize = 5;
/// Preference keys the portal's settings page owns (not shown among "my preferences").
const SETTINGS_KEYS: [&str; 3] = [NOTIFY_PREF, SURVEY_PREF, SHARE_PREF];

impl From<CustomerError> for PortalError {
    fn from(e: CustomerError) -> Self {
        match e {
            CustomerError::NotFound => PortalError::NotFound,
            CustomerError::Invalid(m) => PortalError::Invalid(m),
            CustomerError::Store(s) => PortalError::Store(s),
        }
    }
}

impl From<MemoryError> for PortalError {
    fn from(e: MemoryError) -> Self {
        PortalError::Invalid(e.to_string())
    }
}

/// The contact details a customer edits in the portal, as the form sends them (blank rows
/// are ignored; an empty language, time zone or channel clears it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortalContactDetails {
    pub name: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub addresses: Vec<String>,
    pub language: String,
    pub time_zone: String,
    pub preferred_channel: String,
}

/// A preference as the customer sees and edits it.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnPreference {
    pub key: String,
    pub value: String,
    /// Who recorded the current value (agent, customer, email, order, import).
    pub source: String,
}

fn nonblank(v: &[String]) -> Vec<String> {
    v.iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl App {
    /// The customer's own contact details (a merged-away or erased customer is not found).
    pub async fn portal_contact_details(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<PortalContactDetails> {
        let p = self
            .store
            .customer_profile(tenant, customer)
            .await?
            .filter(|p| p.merged_into.is_none() && p.erased_at.is_none())
            .ok_or(PortalError::NotFound)?;
        let of = |kind: &str| -> Vec<String> {
            p.contacts
                .iter()
                .filter(|c| c.kind == kind)
                .map(|c| c.value.clone())
                .collect()
        };
        Ok(PortalContactDetails {
            emails: of("email"),
            phones: of("phone"),
            addresses: of("address"),
            name: p.display_name.clone(),
            language: p.language.clone().unwrap_or_default(),
            time_zone: p.time_zone.clone().unwrap_or_default(),
            preferred_channel: p.preferred_channel.clone().unwrap_or_default(),
        })
    }

    /// Saves the customer's own contact details (source `customer`). The first email address
    /// (and phone, and address) is the primary one; verification of a kept value stays.
    pub async fn save_portal_contact_details(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        d: &PortalContactDetails,
    ) -> Result<()> {
        let current = self
            .store
            .customer_profile(tenant, customer)
            .await?
            .filter(|p| p.merged_into.is_none() && p.erased_at.is_none())
            .ok_or(PortalError::NotFound)?;
        let emails = nonblank(&d.emails);
        let phones = nonblank(&d.phones);
        let addresses = nonblank(&d.addresses);
        if emails.len() > PORTAL_CONTACTS_MAX || phones.len() > PORTAL_CONTACTS_MAX {
            return Err(PortalError::Invalid(format!(
                "keep at most {PORTAL_CONTACTS_MAX} email addresses and {PORTAL_CONTACTS_MAX} \
                 phone numbers"
            )));
        }
        if addresses.len() > PORTAL_CONTACTS_MAX {
            return Err(PortalError::Invalid(format!(
                "keep at most {PORTAL_CONTACTS_MAX} postal addresses"
            )));
        }
        if emails.is_empty() && current.contacts.iter().any(|c| c.kind == "email") {
            return Err(PortalError::Invalid(
                "keep at least one email address: your sign-in links and updates go there".into(),
            ));
        }
        // Clear messages that name the value, before the shared checks.
        for e in &emails {
            let parsed = EmailAddress::parse(e).map_err(|err| {
                PortalError::Invalid(format!(
                    "the email address {} is not valid: {err}",
                    preview(e, 60)
                ))
            })?;
            if self
                .store
                .email_used_by_other(tenant, customer, parsed.as_str())
                .await?
            {
                return Err(PortalError::Invalid(format!(
                    "the email address {} cannot be added here; if it is yours, write to us \
                     and we will add it",
                    preview(e, 60)
                )));
            }
        }
        let language = d.language.trim();
        if !language.is_empty() && Locale::parse(language).is_none() {
            return Err(PortalError::Invalid(format!(
                "{} is not a language we offer (English, 简体中文 or 한국어)",
                preview(language, 30)
            )));
        }
        let language = Locale::parse(language).map(|l| l.tag().to_string());
        let region = language
            .as_deref()
            .or(current.language.as_deref())
            .and_then(PhoneRegion::from_language);
        for p in &phones {
            normalize_phone(p, region).map_err(|err| {
                PortalError::Invalid(format!("the phone number is not valid: {err}"))
            })?;
        }
        if !d.preferred_channel.trim().is_empty() {
            Channel::parse(&d.preferred_channel)?;
        }
        let mut contacts = Vec::new();
        for (kind, values) in [
            ("email", &emails),
            ("phone", &phones),
            ("address", &addresses),
        ] {
            for (i, v) in values.iter().enumerate() {
                contacts.push(ContactInput {
                    kind: kind.into(),
                    value: v.clone(),
                    primary: i == 0,
                    verified: false,
                });
            }
        }
        let patch = ProfilePatch {
            name: Some(d.name.clone()),
            language: Some(language.unwrap_or_default()),
            time_zone: Some(d.time_zone.trim().to_string()),
            preferred_channel: Some(d.preferred_channel.trim().to_string()),
            contacts: Some(contacts),
            ..ProfilePatch::default()
        };
        let (mut change, sort_name) = profile_change(&current, &patch)?;
        change.source = Some("customer".into());
        let now = self.now();
        if !self
            .store
            .update_customer(tenant, customer, &change, sort_name.as_deref(), None, now)
            .await?
        {
            return Err(PortalError::NotFound);
        }
        self.audit_by_customer(tenant, customer, "customer.updated", serde_json::json!({}))
            .await?;
        Ok(())
    }

    async fn audit_by_customer(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        self.store
            .audit(
                tenant,
                &AuditEntry {
                    actor_kind: "customer",
                    actor_id: Some(customer.0),
                    action,
                    subject_kind: "customer",
                    subject_id: Some(customer.0),
                    customer_id: Some(customer.0),
                    detail: detail.to_string(),
                    ..Default::default()
                },
                self.now(),
            )
            .await?;
        Ok(())
    }

    /// The customer's own current preferences (those the settings page owns left out).
    pub async fn portal_preferences(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<OwnPreference>> {
        let rows: Vec<PreferenceRow> = self
            .store
            .preferences(tenant, customer, false)
            .await?
            .ok_or(PortalError::NotFound)?;
        Ok(rows
            .into_iter()
            .filter(|p| p.active && !SETTINGS_KEYS.contains(&p.key.as_str()))
            .map(|p| OwnPreference {
                key: p.key,
                value: p.value,
                source: p.source,
            })
            .collect())
    }

    /// Records the customer's own preferences (`key`, `value`) with source `customer`,
    /// learned from the portal: a new value supersedes the old one (kept as history); the
    /// same value again confirms it. Keys the settings page owns are refused here.
    pub async fn save_portal_preferences(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        changes: &[(String, String)],
    ) -> Result<usize> {
        let profile = self
            .store
            .customer_profile(tenant, customer)
            .await?
            .filter(|p| p.merged_into.is_none() && p.erased_at.is_none())
            .ok_or(PortalError::NotFound)?;
        if changes.len() > 100 {
            return Err(PortalError::Invalid(
                "send at most 100 preferences at once".into(),
            ));
        }
        // Check everything first, so a bad row stores nothing.
        let mut checked = Vec::new();
        for (k, v) in changes {
            if k.trim().is_empty() && v.trim().is_empty() {
                continue;
            }
            let key = PrefKey::parse(k)?;
            if SETTINGS_KEYS.contains(&key.as_str()) || key.as_str().starts_with("portal.") {
                return Err(PortalError::Invalid(format!(
                    "{} is set on the settings page",
                    preview(k, 40)
                )));
            }
            let value = pref_value(v)
                .map_err(|e| PortalError::Invalid(format!("the value of {}: {e}", key.as_str())))?;
            checked.push((key, value));
        }
        let mut n = 0;
        let now = self.now();
        for (key, value) in &checked {
            self.store
                .record_preference(
                    tenant,
                    profile.id,
                    &NewPreference {
                        key: key.as_str(),
                        value,
                        source: "customer",
                        learned_from: Some("portal"),
                        recorded_by: None,
                        standing: true,
                    },
                    now,
                )
                .await?
                .ok_or(PortalError::NotFound)?;
            n += 1;
        }
        if n > 0 {
            let keys: Vec<&str> = checked.iter().map(|(k, _)| k.as_str()).collect();
            self.audit_by_customer(
                tenant,
                customer,
                "customer.preference_recorded",
                serde_json::json!({ "keys": keys }),
            )
            .await?;
        }
        Ok(n)
    }

    /// A customer asks for a sign-in link by email on the portal's sign-in page. The answer
    /// is the same whether the address is known or not; only [`AuthError::Throttled`] (too
    /// many requests for this address or from this client address, counted for every
    /// request) and store errors differ. A known customer gets a one-time link by mail.
    pub async fn request_customer_link(
        &self,
        tenant: TenantId,
        email: &str,
        client_ip: &str,
    ) -> Result<(), AuthError> {
        let policy = LinkRequestPolicy::default();
        let now = self.now();
        let normalized = match EmailAddress::parse(email) {
            Ok(e) => e.as_str().to_string(),
            Err(e) => return Err(AuthError::Invalid(e.to_string())),
        };
        let (for_address, from_client) = self
            .store
            .recent_link_requests(
                tenant,
                &normalized,
                client_ip,
                now - policy.window_secs * 1000,
            )
            .await?;
        if !policy.allows(for_address, from_client) {
            return Err(AuthError::Throttled {
                retry_after_secs: policy.window_secs,
            });
        }
        self.store
            .record_link_request(tenant, &normalized, client_ip, now)
            .await?;
        let Some(customer) = self
            .store
            .customer_by_contact(tenant, "email", &normalized)
            .await?
        else {
            return Ok(());
        };
        let Some(profile) = self
            .store
            .customer_profile(tenant, customer)
            .await?
            .filter(|p| p.merged_into.is_none() && p.erased_at.is_none())
        else {
            return Ok(());
        };
        let token = self.create_customer_link(tenant, customer).await?;
        let locale = profile
            .language
            .as_deref()
            .and_then(Locale::parse)
            .unwrap_or_default();
        let (subject, text) = link_mail_text(
            locale,
            &profile.display_name,
            &format!("{}/portal/auth/{token}", self.public_base_url()),
            self.config.auth.customer_link_minutes,
        );
        // The link goes to the address that was typed (it is one of the customer's own).
        if let Err(e) = self
            .send_automatic_mail(
                MailAddress::new(normalized, Some(profile.display_name.clone())),
                subject,
                text,
                "portal",
                None,
            )
            .await
        {
            let msg = match e {
                crate::mail::DeliveryError::Retry(m) | crate::mail::DeliveryError::Fail(m) => m,
            };
            // The answer stays the same; the customer may ask again.
            tracing::warn!(customer = customer.0, error = %msg, "sign-in link not sent");
        }
        Ok(())
    }
}

/// The subject and text of a sign-in link mail in the customer's language.
pub fn link_mail_text(locale: Locale, name: &str, link: &str, minutes: i64) -> (String, String) {
    match locale {
        Locale::En => (
            "Your sign-in link".into(),
            format!(
                "Hello {name},\n\nOpen this link to see your requests:\n\n{link}\n\nIt works \
                 once and expires in {minutes} minutes. If you did not ask for it, ignore this \
                 mail.\n"
            ),
        ),
        Locale::ZhCn => (
            "您的登录链接".into(),
            format!(
                "{name}，您好：\n\n打开此链接查看您的请求：\n\n{link}\n\n此链接只能使用一次，\
                 {minutes} 分钟后失效。如果不是您本人申请，请忽略此邮件。\n"
            ),
        ),
        Locale::Ko => (
            "로그인 링크".into(),
            format!(
                "{name} 님, 안녕하세요.\n\n아래 링크를 열어 요청을 확인하세요:\n\n{link}\n\n\
                 이 링크는 한 번만 사용할 수 있으며 {minutes}분 후 만료됩니다. 요청하지 않으셨다면 \
                 이 메일을 무시하세요.\n"
            ),
        ),
    }
}
