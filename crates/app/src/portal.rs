//! The customer portal's use cases (issue 7 items 1, 2, 4; principles P6/P7).
//!
//! - **What a customer sees.** A signed-in customer sees their own cases, and — when they
//!   head a household — the cases of members who allowed it (preference
//!   `portal.share_household` = `yes`), read only. Anything else is "not found", so an id
//!   never tells whether someone else's case exists. Only public messages and
//!   customer-visible events are read (`case_detail`'s customer view rules).
//! - **What a customer is told.** A feed reads the customer-visible case events (after a
//!   cursor, with a look-back for late commits), turns each into a customer step
//!   (`domain::portal::step_of`), and queues one notice per event the customer chose to hear
//!   about (`portal.notify`); the `portal.notify` job mails them (outbox folder or SMTP,
//!   retried with backoff) in the customer's language, with a one-time portal link. Internal
//!   notes, transfers and other internal events never become notices.
//! - **Satisfaction.** A case solved by a person (not spam, merged or closed by a rule; the
//!   customer did not opt out with `portal.surveys` = `no`) gets one survey. Its link token is
//!   made when the mail is written and only its SHA-256 is kept; it works once and until it
//!   expires. One reminder goes out after [`REMIND_AFTER_MS`] with a link of its own; the
//!   first link keeps working until either is used. A rating of 2 or less opens a task for
//!   the team's manager.

use crate::App;
use crate::cases::{Actor, CaseError, CustomerRef, NewCaseInput};
use concierge_domain::case::{Category, Workflow};
use concierge_domain::portal::{self as rules, NotifyChoice, Step, SurveyFacts};
use concierge_domain::{CaseId, CustomerId, Locale, TenantId};
use concierge_mail::{
    MailAddress, MailSender, OutboundMail, OutboxSender, SendError, SmtpSender, build_message,
};
use concierge_store::StoreError;
use concierge_store::cases::{AttachmentRow, CaseRow, MessageRow, NewAttachment, NewTask};
use concierge_store::memory::NewPreference;
use concierge_store::portal::{NewSurvey, NoticeRow, SHARE_PREF, SurveyRow, VisibleEvent};
use std::collections::HashMap;

/// Which steps a customer is told about by mail (`none` or step names, comma-separated).
pub const NOTIFY_PREF: &str = "portal.notify";
/// `no`: the customer does not want satisfaction surveys.
pub const SURVEY_PREF: &str = "portal.surveys";
/// The feed cursor of the notice scanner.
pub const NOTICE_FEED: &str = "customer_notices";
/// How far back the scanner looks again for events that committed late.
const LOOK_BACK_MS: i64 = 60_000;
/// How long a survey link works.
pub const SURVEY_VALID_MS: i64 = 14 * 24 * 3600 * 1000;
/// When an unanswered survey gets its one reminder.
pub const REMIND_AFTER_MS: i64 = 3 * 24 * 3600 * 1000;
/// Most cases listed in the portal.
pub const PORTAL_CASES_MAX: i64 = 200;
const NOTICE_LEASE_MS: i64 = 60_000;
const MAX_NOTICE_ATTEMPTS: i64 = 8;

/// Why a portal action was refused.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// Not there, or not this customer's (the same answer, on purpose).
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    /// Not possible in the case's current state (or done already).
    #[error("{0}")]
    State(String),
    /// A survey link that expired.
    #[error("this link has expired")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<CaseError> for PortalError {
    fn from(e: CaseError) -> Self {
        match e {
            CaseError::NotFound(_) => PortalError::NotFound,
            CaseError::Invalid(m) => PortalError::Invalid(m),
            CaseError::State(m) => PortalError::State(m),
            CaseError::Store(s) => PortalError::Store(s),
        }
    }
}

impl From<rules::SurveyError> for PortalError {
    fn from(e: rules::SurveyError) -> Self {
        PortalError::Invalid(e.to_string())
    }
}

type Result<T, E = PortalError> = std::result::Result<T, E>;

/// One step on a case's progress view.
#[derive(Debug, Clone)]
pub struct StepView {
    pub step: Step,
    pub at: i64,
    /// The named person (assigned) or team (handed off).
    pub who: Option<String>,
}

/// What happens next on a case, as the customer is told.
#[derive(Debug, Clone, PartialEq)]
pub enum NextStep {
    /// We will answer by this time (a response target), or soon when no target runs.
    Reply(Option<i64>),
    /// We aim to solve it by this time (the resolution target).
    Resolve(i64),
    /// We wait for the customer.
    WaitingForYou,
    /// Solved: the customer may rate it or reply to reopen it.
    Solved,
    /// Final.
    Closed,
}

/// A case as its customer sees it.
#[derive(Debug, Clone)]
pub struct PortalCase {
    pub case: CaseRow,
    /// The signed-in customer's own case (a household member's otherwise: read only).
    pub own: bool,
    pub status_label: String,
    pub category: Option<Category>,
    pub steps: Vec<StepView>,
    pub messages: Vec<MessageRow>,
    pub next: NextStep,
    pub survey: Option<SurveyRow>,
    pub can_close: bool,
    pub can_rate: bool,
}

/// A case in the portal's list.
#[derive(Debug, Clone)]
pub struct PortalListItem {
    pub case: CaseRow,
    pub own: bool,
    pub status_label: String,
}

/// A customer's portal settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PortalSettings {
    pub notify: NotifyChoice,
    pub surveys: bool,
    pub share_household: bool,
    pub in_household: bool,
}

/// A survey link's page data.
#[derive(Debug, Clone)]
pub struct SurveyView {
    pub survey: SurveyRow,
    pub case_number: i64,
    pub case_subject: String,
}

fn is_spam(c: &CaseRow) -> bool {
    c.kind == "spam" || c.tags.iter().any(|t| t == "spam")
}

fn pref<'a>(prefs: &'a [concierge_store::memory::PreferenceRow], key: &str) -> Option<&'a str> {
    prefs
        .iter()
        .find(|p| p.key == key && p.active)
        .map(|p| p.value.as_str())
}

/// The customer's language for mail (their profile's, else English).
fn locale_of(language: Option<&str>) -> Locale {
    language.and_then(Locale::parse).unwrap_or_default()
}

impl App {
    /// The address people reach this server at, for links in mail.
    pub fn public_base_url(&self) -> String {
        let u = self.config.server.public_url.trim().trim_end_matches('/');
        if u.is_empty() {
            format!("http://{}", self.config.server.listen.trim())
        } else {
            u.to_string()
        }
    }

    async fn prefs_of(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<concierge_store::memory::PreferenceRow>> {
        Ok(self
            .store
            .preferences(tenant, customer, false)
            .await?
            .unwrap_or_default())
    }

    /// The customers whose cases `customer` sees: themselves first, then household members
    /// who share theirs.
    async fn visible_customers(&self, tenant: TenantId, customer: CustomerId) -> Result<Vec<i64>> {
        let mut ids = vec![customer.0];
        ids.extend(self.store.household_sharers(tenant, customer).await?);
        Ok(ids)
    }

    /// The cases the signed-in customer may see, most recently updated first.
    pub async fn portal_cases(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        locale: Locale,
    ) -> Result<Vec<PortalListItem>> {
        let ids = self.visible_customers(tenant, customer).await?;
        let wf = self.workflow(tenant).await?;
        let cases = self
            .store
            .cases_of_customers(tenant, &ids, PORTAL_CASES_MAX)
            .await?;
        Ok(cases
            .into_iter()
            .map(|c| PortalListItem {
                own: c.customer_id == customer.0,
                status_label: wf.customer_label(&c.status, locale).to_string(),
                case: c,
            })
            .collect())
    }

    /// A case the customer may see, or `NotFound`; with whether it is their own.
    async fn visible_case(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        id: CaseId,
    ) -> Result<(CaseRow, bool)> {
        let case = self
            .store
            .case(tenant, id)
            .await?
            .ok_or(PortalError::NotFound)?;
        if case.customer_id == customer.0 {
            return Ok((case, true));
        }
        let shared = self.store.household_sharers(tenant, customer).await?;
        if shared.contains(&case.customer_id) {
            Ok((case, false))
        } else {
            Err(PortalError::NotFound)
        }
    }

    /// A case as its customer sees it: the progress steps from customer-visible events, the
    /// public thread, who has it, and what happens next (from the running targets).
    pub async fn portal_case(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        id: CaseId,
        locale: Locale,
    ) -> Result<PortalCase> {
        let (case, own) = self.visible_case(tenant, customer, id).await?;
        // The customer view: public messages and customer-visible events only.
        let detail = self.case_detail(tenant, id, false).await?;
        let wf = self.workflow(tenant).await?;
        let steps = steps_of(&detail.events, &wf);
        let category = wf.category(&case.status);
        let running: Vec<_> = detail
            .targets
            .iter()
            .filter(|t| t.row.met_at.is_none() && t.row.paused_since.is_none())
            .collect();
        let due = |kinds: &[&str]| {
            running
                .iter()
                .filter(|t| kinds.contains(&t.row.kind.as_str()))
                .map(|t| t.row.due_at)
                .min()
        };
        let next = match category {
            Some(Category::Pending) => NextStep::WaitingForYou,
            Some(Category::Solved) => NextStep::Solved,
            Some(Category::Closed) => NextStep::Closed,
            _ => match (
                due(&["first_response", "next_response"]),
                due(&["resolution"]),
            ) {
                (Some(at), _) => NextStep::Reply(Some(at)),
                (None, Some(at)) => NextStep::Resolve(at),
                (None, None) => NextStep::Reply(None),
            },
        };
        let survey = self.store.survey_for_case(tenant, id).await?;
        let done = matches!(category, Some(Category::Solved | Category::Closed));
        let can_rate = own
            && done
            && case.merged_into.is_none()
            && !is_spam(&case)
            && survey.as_ref().is_none_or(|s| s.answered_at.is_none());
        let can_close = own && !matches!(category, Some(Category::Closed)) && {
            let want = if category == Some(Category::Solved) {
                Category::Closed
            } else {
                Category::Solved
            };
            wf.allowed_from(&case.status)
                .into_iter()
                .any(|s| wf.category(s) == Some(want))
        };
        Ok(PortalCase {
            status_label: wf.customer_label(&case.status, locale).to_string(),
            category,
            steps,
            messages: detail.messages,
            next,
            survey,
            can_close,
            can_rate,
            own,
            case,
        })
    }

    /// An attachment of a public message on a case the customer may see.
    pub async fn portal_attachment(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        case: CaseId,
        attachment: i64,
    ) -> Result<AttachmentRow> {
        self.visible_case(tenant, customer, case).await?;
        match self.store.attachment(tenant, attachment).await? {
            Some((a, visibility)) if a.case_id == case.0 && visibility == "public" => Ok(a),
            _ => Err(PortalError::NotFound),
        }
    }

    /// A new request from the portal (channel `portal`).
    pub async fn portal_new_case(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        subject: &str,
        body: &str,
        attachments: Vec<NewAttachment>,
    ) -> Result<CaseId> {
        let d = self
            .create_case(
                tenant,
                Actor::Customer(customer),
                &NewCaseInput {
                    attachments,
                    ..NewCaseInput::new(CustomerRef::Id(customer.0), subject, body, "portal")
                },
            )
            .await?;
        Ok(CaseId(d.case.id))
    }

    /// The customer's reply on their own case (a household member's case is read only).
    /// Returns the case it landed on (a closed case gets a linked follow-up).
    pub async fn portal_reply(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        id: CaseId,
        body: &str,
        attachments: Vec<NewAttachment>,
    ) -> Result<CaseId> {
        let (_, own) = self.visible_case(tenant, customer, id).await?;
        if !own {
            return Err(PortalError::State(
                "only the person who asked can write on this request".into(),
            ));
        }
        Ok(self
            .customer_reply(tenant, customer, id, body, attachments)
            .await?)
    }

    /// The customer closes their own case (solved, or closed when it was solved).
    pub async fn portal_close(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        id: CaseId,
    ) -> Result<()> {
        let (_, own) = self.visible_case(tenant, customer, id).await?;
        if !own {
            return Err(PortalError::NotFound);
        }
        Ok(self.customer_close(tenant, customer, id).await?)
    }

    /// The customer rates their own solved case in the portal.
    pub async fn portal_rate(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        id: CaseId,
        score: &str,
        comment: &str,
    ) -> Result<SurveyRow> {
        let (case, own) = self.visible_case(tenant, customer, id).await?;
        if !own {
            return Err(PortalError::NotFound);
        }
        let score = rules::score(score)?;
        let comment = rules::comment(comment)?;
        let wf = self.workflow(tenant).await?;
        let done = matches!(
            wf.category(&case.status),
            Some(Category::Solved | Category::Closed)
        );
        if !done || case.merged_into.is_some() || is_spam(&case) {
            return Err(PortalError::State(
                "a request can be rated once it is solved".into(),
            ));
        }
        let now = self.now();
        let survey = self
            .store
            .ensure_survey(
                tenant,
                &NewSurvey {
                    case_id: case.id,
                    customer_id: case.customer_id,
                    agent_id: case.owner_id,
                    team_id: case.team_id,
                    expires_at: now + SURVEY_VALID_MS,
                },
                now,
            )
            .await?;
        self.record_answer(tenant, &survey, score, comment, "portal")
            .await
    }

    async fn record_answer(
        &self,
        tenant: TenantId,
        survey: &SurveyRow,
        score: i64,
        comment: Option<String>,
        via: &str,
    ) -> Result<SurveyRow> {
        let now = self.now();
        if !self
            .store
            .answer_survey(tenant, survey.id, score, comment.as_deref(), via, now)
            .await?
        {
            return Err(PortalError::State("this request was rated already".into()));
        }
        if score <= rules::LOW_SCORE {
            let case = self.store.case(tenant, CaseId(survey.case_id)).await?;
            let manager = match survey.team_id {
                Some(t) => self.store.team(tenant, t).await?.and_then(|t| t.manager_id),
                None => None,
            };
            let number = case.as_ref().map_or(0, |c| c.number);
            self.store
                .create_task(
                    tenant,
                    &NewTask {
                        kind: "csat_low".into(),
                        customer_id: Some(survey.customer_id),
                        case_id: Some(survey.case_id),
                        title: format!(
                            "Low satisfaction ({score}/5) on case #{number}: call the customer"
                        ),
                        assignee_id: manager,
                        due_at: now + 24 * 3600 * 1000,
                        unique_key: Some(format!("csat_low:{}", survey.case_id)),
                    },
                    now,
                )
                .await?;
        }
        self.store
            .survey_for_case(tenant, CaseId(survey.case_id))
            .await?
            .ok_or(PortalError::NotFound)
    }

    /// The survey behind a link (no sign-in): unknown, used or replaced links are not found;
    /// expired ones say so.
    pub async fn survey_by_link(&self, token: &str) -> Result<(TenantId, SurveyView)> {
        if token.is_empty() || token.len() > 100 {
            return Err(PortalError::NotFound);
        }
        let survey = self
            .store
            .survey_by_token_hash(&crate::secrets::hash_secret(token))
            .await?
            .ok_or(PortalError::NotFound)?;
        if survey.answered_at.is_some() {
            return Err(PortalError::NotFound);
        }
        if self.now() >= survey.expires_at {
            return Err(PortalError::Expired);
        }
        let tenant = survey.tenant_id;
        let case = self
            .store
            .case(tenant, CaseId(survey.case_id))
            .await?
            .ok_or(PortalError::NotFound)?;
        Ok((
            tenant,
            SurveyView {
                survey,
                case_number: case.number,
                case_subject: case.subject,
            },
        ))
    }

    /// Answers a survey by its link, once.
    pub async fn answer_survey_link(
        &self,
        token: &str,
        score: &str,
        comment: &str,
    ) -> Result<SurveyRow> {
        let (tenant, view) = self.survey_by_link(token).await?;
        let score = rules::score(score)?;
        let comment = rules::comment(comment)?;
        self.record_answer(tenant, &view.survey, score, comment, "mail")
            .await
    }

    /// The customer's portal settings.
    pub async fn portal_settings(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<PortalSettings> {
        let prefs = self.prefs_of(tenant, customer).await?;
        let profile = self
            .store
            .customer_profile(tenant, customer)
            .await?
            .ok_or(PortalError::NotFound)?;
        Ok(PortalSettings {
            notify: NotifyChoice::parse(pref(&prefs, NOTIFY_PREF)),
            surveys: pref(&prefs, SURVEY_PREF) != Some("no"),
            share_household: pref(&prefs, SHARE_PREF) == Some("yes"),
            in_household: !profile.households.is_empty(),
        })
    }

    /// Saves the customer's choices as preferences with source `customer` (learned from the
    /// portal), keeping the history the customer memory keeps.
    pub async fn save_portal_settings(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        s: &PortalSettings,
    ) -> Result<()> {
        let now = self.now();
        let notify = s.notify.to_pref();
        for (key, value) in [
            (NOTIFY_PREF, notify.as_str()),
            (SURVEY_PREF, if s.surveys { "yes" } else { "no" }),
            (SHARE_PREF, if s.share_household { "yes" } else { "no" }),
        ] {
            self.store
                .record_preference(
                    tenant,
                    customer,
                    &NewPreference {
                        key,
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
        }
        Ok(())
    }

    /// One round of the notice feed: reads the customer-visible events since the cursor
    /// (and the last minute again), queues the notices customers want and offers surveys on
    /// solved cases. Returns how many notices were queued.
    pub async fn queue_customer_notices(&self) -> Result<usize> {
        let cursor = self.store.feed_cursor(NOTICE_FEED).await?;
        let now = self.now();
        let events = self
            .store
            .visible_events_after(cursor, now - LOOK_BACK_MS, 500)
            .await?;
        let mut workflows: HashMap<TenantId, Workflow> = HashMap::new();
        let mut queued = 0;
        let mut max = cursor;
        for e in &events {
            max = max.max(e.id);
            let wf = match workflows.get(&e.tenant_id) {
                Some(w) => w.clone(),
                None => {
                    let w = self.workflow(e.tenant_id).await?;
                    workflows.insert(e.tenant_id, w.clone());
                    w
                }
            };
            if self.consider_event(e, &wf, now).await? {
                queued += 1;
            }
        }
        self.store.set_feed_cursor(NOTICE_FEED, max).await?;
        Ok(queued)
    }

    async fn consider_event(&self, e: &VisibleEvent, wf: &Workflow, now: i64) -> Result<bool> {
        let Some(step) = rules::step_of(
            &e.kind,
            e.detail["to"].as_str(),
            e.detail["route"].as_str(),
            wf,
        ) else {
            return Ok(false);
        };
        let tenant = e.tenant_id;
        let customer = CustomerId(e.customer_id);
        let prefs = self.prefs_of(tenant, customer).await?;
        let mut survey = false;
        if step == Step::Solved && e.actor_kind != "customer" {
            let Some(case) = self.store.case(tenant, CaseId(e.case_id)).await? else {
                return Ok(false);
            };
            let facts = SurveyFacts {
                spam: is_spam(&case),
                merged: case.merged_into.is_some(),
                auto_closed: e.actor_kind == "system",
                opted_out: pref(&prefs, SURVEY_PREF) == Some("no"),
            };
            if rules::survey_wanted(facts) {
                let s = self
                    .store
                    .ensure_survey(
                        tenant,
                        &NewSurvey {
                            case_id: case.id,
                            customer_id: case.customer_id,
                            agent_id: case.owner_id,
                            team_id: case.team_id,
                            expires_at: now + SURVEY_VALID_MS,
                        },
                        now,
                    )
                    .await?;
                survey = s.answered_at.is_none();
            }
        }
        let choice = NotifyChoice::parse(pref(&prefs, NOTIFY_PREF));
        if !(rules::should_notify(step, &e.actor_kind, &choice) || survey) {
            return Ok(false);
        }
        let detail = serde_json::json!({
            "owner_name": e.detail["owner_name"],
            "team_name": e.detail["to_team_name"],
            "survey": survey,
        });
        Ok(self
            .store
            .queue_notice(e, step.as_str(), &detail, now)
            .await?)
    }

    /// Queues the one reminder of surveys unanswered for [`REMIND_AFTER_MS`] (the
    /// `csat.remind` job). Returns how many.
    pub async fn remind_surveys(&self) -> Result<usize> {
        let now = self.now();
        let due = self
            .store
            .surveys_to_remind(now - REMIND_AFTER_MS, now, 200)
            .await?;
        let mut n = 0;
        for s in due {
            if !self
                .store
                .mark_survey_reminded(s.tenant_id, s.id, now)
                .await?
            {
                continue;
            }
            // A reminder is a notice of its own: keyed by minus the survey id (case events
            // have positive ids), so it is queued once.
            let e = VisibleEvent {
                id: -s.id,
                tenant_id: s.tenant_id,
                case_id: s.case_id,
                customer_id: s.customer_id,
                kind: "survey_reminder".into(),
                actor_kind: "system".into(),
                detail: serde_json::json!({}),
                at: now,
            };
            if self
                .store
                .queue_notice(
                    &e,
                    "survey_reminder",
                    &serde_json::json!({"survey": true}),
                    now,
                )
                .await?
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Mails the queued notices that are due (the `portal.notify` job, after queueing).
    /// Returns how many were attempted.
    pub async fn deliver_customer_notices(&self) -> Result<usize> {
        let due = self.store.due_notices(self.now(), 50).await?;
        let mut attempted = 0;
        for n in due {
            let now = self.now();
            if !self
                .store
                .claim_notice(n.id, now, now + NOTICE_LEASE_MS)
                .await?
            {
                continue;
            }
            attempted += 1;
            let attempts = n.attempts + 1;
            let result = self.send_notice(&n).await;
            let (state, error, retry) =
                Delivery::outcome(result, attempts, MAX_NOTICE_ATTEMPTS, "queued", self.now());
            if let Some(e) = &error {
                tracing::warn!(notice = n.id, state, error = %e, "customer notice not sent");
            }
            self.store
                .finish_notice(n.id, state, error.as_deref(), retry, self.now())
                .await?;
        }
        Ok(attempted)
    }

    /// Writes and sends one notice.
    async fn send_notice(&self, n: &NoticeRow) -> Result<(), Delivery> {
        let tenant = n.tenant_id;
        let case = self
            .store
            .case(tenant, CaseId(n.case_id))
            .await?
            .ok_or_else(|| Delivery::Fail("the case no longer exists".into()))?;
        let customer = self
            .store
            .customer(tenant, CustomerId(n.customer_id))
            .await?
            .ok_or_else(|| Delivery::Fail("the customer no longer exists".into()))?;
        let Some(to) = customer.email.clone().filter(|e| !e.trim().is_empty()) else {
            return Err(Delivery::Fail(
                "the customer has no email address to tell them at".into(),
            ));
        };
        let profile = self
            .store
            .customer_profile(tenant, CustomerId(n.customer_id))
            .await?;
        let locale = locale_of(profile.as_ref().and_then(|p| p.language.as_deref()));
        let base = self.public_base_url();
        let sign_in = self
            .create_customer_link(tenant, CustomerId(n.customer_id))
            .await
            .map_err(|e| Delivery::Retry(e.to_string()))?;
        let portal_link = format!("{base}/portal/auth/{sign_in}");
        // A survey link is made now; only its hash is stored. The reminder gets a link of
        // its own, so the first one keeps working.
        let mut survey_link = None;
        if n.detail["survey"].as_bool() == Some(true)
            && let Some(s) = self.store.survey_for_case(tenant, CaseId(case.id)).await?
            && s.answered_at.is_none()
            && s.expires_at > self.now()
        {
            let token = crate::secrets::random_secret();
            let hash = crate::secrets::hash_secret(&token);
            let set = if n.step == "survey_reminder" {
                self.store
                    .set_survey_reminder_token(tenant, s.id, &hash)
                    .await?
            } else {
                self.store.set_survey_token(tenant, s.id, &hash).await?
            };
            if set {
                survey_link = Some(format!("{base}/survey/{token}"));
            }
        }
        if n.step == "survey_reminder" && survey_link.is_none() {
            // Answered (or expired) meanwhile: nothing to remind of.
            return Ok(());
        }
        let wf = self
            .workflow(tenant)
            .await
            .map_err(|e| Delivery::Retry(e.to_string()))?;
        let text = notice_text(&NoticeFacts {
            locale,
            step: &n.step,
            name: &customer.display_name,
            number: case.number,
            subject: &case.subject,
            owner: n.detail["owner_name"].as_str(),
            team: n.detail["team_name"].as_str(),
            status_label: wf.customer_label(&case.status, locale),
            portal_link: &portal_link,
            survey_link: survey_link.as_deref(),
            link_minutes: self.config.auth.customer_link_minutes,
        });
        self.send_automatic_mail(
            MailAddress::new(to, Some(customer.display_name.clone())),
            text.0,
            text.1,
            &format!("notice.{}", n.id),
            Some(case.number),
        )
        .await
    }

    /// Sends one automatic plain-text mail from the configured sender, through the outbound
    /// channel (the outbox folder, or SMTP when a host is configured). `tag` starts the
    /// Message-ID.
    pub(crate) async fn send_automatic_mail(
        &self,
        to: MailAddress,
        subject: String,
        text: String,
        tag: &str,
        case_number: Option<i64>,
    ) -> Result<(), Delivery> {
        let from = self.mail_from();
        let domain = from
            .address
            .rsplit_once('@')
            .map_or("localhost".to_string(), |(_, d)| d.to_string());
        let mail = OutboundMail {
            from,
            to: vec![to],
            cc: Vec::new(),
            reply_to: None,
            message_id: format!("{tag}.{}@{domain}", crate::secrets::random_secret()),
            in_reply_to: None,
            references: Vec::new(),
            subject,
            case_id: case_number,
            automatic: true,
            text,
            html: None,
            attachments: Vec::new(),
            date: None,
        };
        let message = build_message(&mail).map_err(|e| Delivery::Fail(e.to_string()))?;
        let sent = if self.config.mail.smtp_host.trim().is_empty() {
            OutboxSender::new(self.config.outbox_dir())
                .send(&message)
                .await
        } else {
            let smtp = self.smtp_config()?;
            match SmtpSender::new(&smtp) {
                Ok(s) => s.send(&message).await,
                Err(e) => Err(e),
            }
        };
        match sent {
            Ok(_) => Ok(()),
            Err(SendError::Transient(e)) => Err(Delivery::Retry(e)),
            Err(SendError::Permanent(e)) => Err(Delivery::Fail(e)),
        }
    }
}

// A notice fails the way a reply does (retry later or give up).
use crate::mail::DeliveryError as Delivery;

/// The progress steps of a case from its customer-visible events (oldest first); steps that
/// repeat the one before (the same status twice) are dropped.
pub fn steps_of(events: &[concierge_store::cases::CaseEventRow], wf: &Workflow) -> Vec<StepView> {
    let mut out: Vec<StepView> = Vec::new();
    for e in events {
        if e.visibility != "customer" {
            continue;
        }
        let to = e.detail["to"].as_str();
        let Some(step) = rules::step_of(&e.kind, to, e.detail["route"].as_str(), wf)
            .or_else(|| (e.kind == "replied").then_some(Step::Replied))
        else {
            continue;
        };
        let who = match step {
            Step::Assigned => e.detail["owner_name"].as_str().map(str::to_string),
            Step::HandedOff => e.detail["to_team_name"].as_str().map(str::to_string),
            // The current status's own label is shown beside the case, not on each step.
            _ => None,
        };
        if out
            .last()
            .is_some_and(|l| l.step == step && l.who == who && step != Step::Replied)
        {
            continue;
        }
        out.push(StepView {
            step,
            at: e.at,
            who,
        });
    }
    out
}

/// What a notice mail says.
pub struct NoticeFacts<'a> {
    pub locale: Locale,
    pub step: &'a str,
    pub name: &'a str,
    pub number: i64,
    pub subject: &'a str,
    pub owner: Option<&'a str>,
    pub team: Option<&'a str>,
    pub status_label: &'a str,
    pub portal_link: &'a str,
    pub survey_link: Option<&'a str>,
    pub link_minutes: i64,
}

/// The subject and plain text of a notice, in the customer's language. Only customer-facing
/// facts go in: the step, the named owner or team, the status label, links.
pub fn notice_text(f: &NoticeFacts<'_>) -> (String, String) {
    let l = f.locale;
    let pick = |en: &str, zh: &str, ko: &str| -> String {
        match l {
            Locale::En => en.to_string(),
            Locale::ZhCn => zh.to_string(),
            Locale::Ko => ko.to_string(),
        }
    };
    let owner = f.owner.unwrap_or("");
    let team = f.team.unwrap_or("");
    let line = match f.step {
        "received" => pick(
            "We have received your request.",
            "我们已收到您的请求。",
            "요청을 접수했습니다.",
        ),
        "assigned" => match l {
            Locale::En => format!("{owner} is now taking care of your request."),
            Locale::ZhCn => format!("{owner} 正在处理您的请求。"),
            Locale::Ko => format!("{owner} 님이 요청을 담당합니다."),
        },
        "handed_off" => match l {
            Locale::En => format!("Your request was handed to our {team} team."),
            Locale::ZhCn => format!("您的请求已转交给 {team} 团队。"),
            Locale::Ko => format!("요청이 {team} 팀으로 전달되었습니다."),
        },
        "waiting" => pick(
            "We are waiting for your reply.",
            "我们正在等待您的回复。",
            "회신을 기다리고 있습니다.",
        ),
        "solved" => pick(
            "Your request is solved. If something is still wrong, reply in the portal and we \
             will pick it up again.",
            "您的请求已解决。如仍有问题，请在门户中回复，我们会继续处理。",
            "요청이 해결되었습니다. 문제가 남아 있다면 포털에서 회신해 주세요.",
        ),
        "replied" => pick(
            "We have replied to your request.",
            "我们已回复您的请求。",
            "요청에 답변을 드렸습니다.",
        ),
        "survey_reminder" => pick(
            "A reminder: we would like to know how we did.",
            "提醒：我们想了解您对服务的评价。",
            "다시 한번 여쭙니다: 서비스는 어떠셨나요?",
        ),
        _ => pick(
            "Your request has changed.",
            "您的请求有更新。",
            "요청에 변경 사항이 있습니다.",
        ),
    };
    let subject = format!("[#{}] {} — {}", f.number, f.subject, f.status_label);
    let hello = match l {
        Locale::En => format!("Hello {},", f.name),
        Locale::ZhCn => format!("{}，您好：", f.name),
        Locale::Ko => format!("{} 님, 안녕하세요.", f.name),
    };
    let see = match l {
        Locale::En => format!(
            "See its progress in your portal (this link signs you in once and expires in {} \
             minutes):",
            f.link_minutes
        ),
        Locale::ZhCn => format!(
            "在门户中查看进度（此链接只能登录一次，{} 分钟后失效）：",
            f.link_minutes
        ),
        Locale::Ko => format!(
            "포털에서 진행 상황을 확인하세요(이 링크는 한 번만 로그인되며 {}분 후 만료됩니다):",
            f.link_minutes
        ),
    };
    let mut body = format!(
        "{hello}\n\n#{} {}\n{line}\n\n{see}\n{}\n",
        f.number, f.subject, f.portal_link
    );
    if let Some(s) = f.survey_link {
        let ask = pick(
            "How did we do? Rate us from 1 to 5 (no sign-in needed; the link works once):",
            "我们的服务如何？请打 1 到 5 分（无需登录；链接只能使用一次）：",
            "서비스는 어떠셨나요? 1~5점으로 평가해 주세요(로그인 불필요, 링크는 한 번만 사용 가능):",
        );
        body.push_str(&format!("\n{ask}\n{s}\n"));
    }
    body.push_str(&format!(
        "\n{}\n",
        pick(
            "You can choose which updates you get in the portal, under Settings.",
            "您可以在门户的“设置”中选择接收哪些通知。",
            "포털의 설정에서 받을 알림을 고를 수 있습니다.",
        )
    ));
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_text_speaks_the_customer_language_and_carries_links() {
        let mut f = NoticeFacts {
            locale: Locale::Ko,
            step: "assigned",
            name: "김민지",
            number: 7,
            subject: "주전자",
            owner: Some("Dana"),
            team: None,
            status_label: "처리 중",
            portal_link: "http://x/portal/auth/abc",
            survey_link: None,
            link_minutes: 30,
        };
        let (s, b) = notice_text(&f);
        assert!(s.contains("#7") && s.contains("처리 중"), "{s}");
        assert!(
            b.contains("Dana 님이") && b.contains("http://x/portal/auth/abc"),
            "{b}"
        );
        f.locale = Locale::En;
        f.step = "solved";
        f.survey_link = Some("http://x/survey/t");
        let (_, b) = notice_text(&f);
        assert!(
            b.contains("solved") && b.contains("http://x/survey/t"),
            "{b}"
        );
    }
}
