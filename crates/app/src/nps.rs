//! Net Promoter Score surveys (issue 7 item 4): "how likely are you to recommend us, 0-10",
//! asked periodically when the tenant turns it on (setting `nps.every_days`, see
//! `domain::portal::NpsPolicy`).
//!
//! The `nps.send` schedule (hourly, one node per slot) queues one survey per customer per
//! period (unique by tenant, customer and period start) for customers who had a case solved
//! within the last period, have an email address, are neither merged away nor erased, did
//! not say no to surveys (`portal.surveys` = `no`) and were not asked within the last N days;
//! then it mails the queued ones under a lease, retried with backoff like customer notices.
//! The link's token is made when the mail is written and only its SHA-256 is stored; it works
//! once and until it expires, with no sign-in. Answers count in scorecards for the owner and
//! team of the customer's last solved case, and for the tenant as a whole.

use crate::App;
use crate::mail::DeliveryError as Delivery;
use crate::portal::{PortalError, SURVEY_VALID_MS};
use concierge_domain::portal::{self as rules, NPS_SETTING, NpsPolicy};
use concierge_domain::{CustomerId, Locale, TenantId};
use concierge_mail::MailAddress;
use concierge_store::portal::NpsRow;

type Result<T, E = PortalError> = std::result::Result<T, E>;

const NPS_LEASE_MS: i64 = 60_000;
const MAX_NPS_ATTEMPTS: i64 = 8;

impl App {
    /// The tenant's NPS policy (`None`: off).
    pub async fn nps_policy(&self, tenant: TenantId) -> Result<Option<NpsPolicy>> {
        Ok(NpsPolicy::from_setting(
            self.store.setting(tenant, NPS_SETTING).await?.as_deref(),
        ))
    }

    /// Turns periodic NPS surveys on (every 1-365 days) or off (0).
    pub async fn set_nps_every_days(&self, tenant: TenantId, every_days: i64) -> Result<()> {
        NpsPolicy::check(every_days).map_err(|e| PortalError::Invalid(e.to_string()))?;
        self.store
            .set_setting(tenant, NPS_SETTING, &every_days.to_string(), self.now())
            .await?;
        Ok(())
    }

    /// Queues the NPS surveys due in every tenant that has them on, then mails the due ones
    /// (the `nps.send` job). Returns how many were queued.
    pub async fn run_nps(&self) -> Result<usize> {
        let mut queued = 0;
        for t in self.store.list_tenants().await? {
            queued += self.queue_nps_for(t.id, self.now()).await?;
        }
        self.deliver_nps().await?;
        Ok(queued)
    }

    /// Queues one tenant's NPS surveys due at `now`. Returns how many.
    pub async fn queue_nps_for(&self, tenant: TenantId, now: i64) -> Result<usize> {
        let Some(policy) = self.nps_policy(tenant).await? else {
            return Ok(0);
        };
        let period = policy.period_start(now);
        let mut n = 0;
        loop {
            let batch = self
                .store
                .nps_candidates(
                    tenant,
                    policy.active_since(now),
                    policy.asked_after(now),
                    500,
                )
                .await?;
            let mut progressed = false;
            for (customer, agent, team) in &batch {
                if self
                    .store
                    .queue_nps(
                        tenant,
                        *customer,
                        period,
                        *agent,
                        *team,
                        now + SURVEY_VALID_MS,
                        now,
                    )
                    .await?
                {
                    n += 1;
                    progressed = true;
                }
            }
            // A candidate that already has this period's survey (asked before `asked_after`
            // in the same period is impossible, but be safe) ends the loop.
            if batch.len() < 500 || !progressed {
                break;
            }
        }
        Ok(n)
    }

    /// Mails the queued NPS surveys that are due. Returns how many were attempted.
    pub async fn deliver_nps(&self) -> Result<usize> {
        let due = self.store.due_nps(self.now(), 50).await?;
        let mut attempted = 0;
        for s in due {
            let now = self.now();
            if !self.store.claim_nps(s.id, now, now + NPS_LEASE_MS).await? {
                continue;
            }
            attempted += 1;
            let result = self.send_nps(&s).await;
            let (state, error, retry) = Delivery::outcome(
                result,
                s.attempts + 1,
                MAX_NPS_ATTEMPTS,
                "queued",
                self.now(),
            );
            if let Some(e) = &error {
                tracing::warn!(nps = s.id, state, error = %e, "NPS survey not sent");
            }
            self.store
                .finish_nps(s.id, state, error.as_deref(), retry, self.now())
                .await?;
        }
        Ok(attempted)
    }

    async fn send_nps(&self, s: &NpsRow) -> Result<(), Delivery> {
        let tenant = s.tenant_id;
        let profile = self
            .store
            .customer_profile(tenant, CustomerId(s.customer_id))
            .await?
            .filter(|p| p.merged_into.is_none() && p.erased_at.is_none())
            .ok_or_else(|| Delivery::Fail("the customer no longer exists".into()))?;
        let Some(to) = profile
            .contacts
            .iter()
            .filter(|c| c.kind == "email")
            .max_by_key(|c| c.primary)
            .map(|c| c.value.clone())
        else {
            return Err(Delivery::Fail(
                "the customer has no email address to ask at".into(),
            ));
        };
        if s.answered_at.is_some() || s.expires_at <= self.now() {
            return Err(Delivery::Fail("the survey was answered or expired".into()));
        }
        let token = crate::secrets::random_secret();
        self.store
            .set_nps_token(s.id, &crate::secrets::hash_secret(&token))
            .await?;
        let locale = profile
            .language
            .as_deref()
            .and_then(Locale::parse)
            .unwrap_or_default();
        let tenant_name = self
            .store
            .tenant_by_id(tenant)
            .await?
            .map(|t| t.name)
            .unwrap_or_default();
        let link = format!("{}/nps/{token}", self.public_base_url());
        let (subject, text) = nps_mail_text(locale, &profile.display_name, &tenant_name, &link);
        self.send_automatic_mail(
            MailAddress::new(to, Some(profile.display_name.clone())),
            subject,
            text,
            &format!("nps.{}", s.id),
            None,
        )
        .await
    }

    /// The NPS survey behind a link (no sign-in): unknown or used links are not found;
    /// expired ones say so.
    pub async fn nps_by_link(&self, token: &str) -> Result<(NpsRow, String)> {
        if token.is_empty() || token.len() > 100 {
            return Err(PortalError::NotFound);
        }
        let s = self
            .store
            .nps_by_token_hash(&crate::secrets::hash_secret(token))
            .await?
            .ok_or(PortalError::NotFound)?;
        if s.answered_at.is_some() {
            return Err(PortalError::NotFound);
        }
        if self.now() >= s.expires_at {
            return Err(PortalError::Expired);
        }
        let name = self
            .store
            .tenant_by_id(s.tenant_id)
            .await?
            .map(|t| t.name)
            .unwrap_or_default();
        Ok((s, name))
    }

    /// Answers an NPS survey by its link, once: a 0-10 score and an optional comment (plain
    /// text, escaped wherever shown).
    pub async fn answer_nps_link(&self, token: &str, score: &str, comment: &str) -> Result<()> {
        let (s, _) = self.nps_by_link(token).await?;
        let score = rules::nps_score(score)?;
        let comment = rules::comment(comment)?;
        if self
            .store
            .answer_nps(s.tenant_id, s.id, score, comment.as_deref(), self.now())
            .await?
        {
            Ok(())
        } else {
            Err(PortalError::State(
                "this survey was answered already".into(),
            ))
        }
    }
}

/// The subject and text of an NPS mail in the customer's language.
pub fn nps_mail_text(locale: Locale, name: &str, company: &str, link: &str) -> (String, String) {
    let company = if company.trim().is_empty() {
        "us"
    } else {
        company
    };
    match locale {
        Locale::En => (
            format!("How likely are you to recommend {company}?"),
            format!(
                "Hello {name},\n\nOn a scale from 0 to 10, how likely are you to recommend \
                 {company} to a friend or colleague? One click is enough (no sign-in needed; \
                 the link works once):\n\n{link}\n\nYou can turn these questions off in your \
                 portal, under Settings.\n"
            ),
        ),
        Locale::ZhCn => (
            format!("您有多大可能向他人推荐 {company}？"),
            format!(
                "{name}，您好：\n\n从 0 到 10 分，您有多大可能向朋友或同事推荐 {company}？\
                 （无需登录；链接只能使用一次）\n\n{link}\n\n您可以在门户的“设置”中关闭此类调查。\n"
            ),
        ),
        Locale::Ko => (
            format!("{company}을(를) 추천하실 의향이 있으신가요?"),
            format!(
                "{name} 님, 안녕하세요.\n\n0점부터 10점까지, {company}을(를) 친구나 동료에게 \
                 추천하실 가능성은 얼마나 되나요? (로그인 불필요, 링크는 한 번만 사용 가능)\n\n\
                 {link}\n\n포털의 설정에서 이런 설문을 끌 수 있습니다.\n"
            ),
        ),
    }
}
