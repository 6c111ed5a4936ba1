//! Follow-ups, task queues, tier-change triggers and scorecards (issue 7 items 3 and 5,
//! issue 6): the use cases around work people owe customers after the case, and how well
//! agents and teams serve.
//!
//! - **Follow-ups.** When a write solves a case, [`App::plan_followup`] adds the follow-up
//!   task the tenant's rules ask for (kind `follow_up`, due `days` after the solve, assigned
//!   to the owner) to the same [`CaseWrite`], so the solve and its follow-up commit together;
//!   the key `followup:{case}:{solved_at}` makes it once per solve. Spam (kind or tag `spam`)
//!   and merged cases get none.
//! - **Check-ins.** The `followups.check_ins` schedule (hourly, one node per slot) gives every
//!   customer of a check-in rule's tier one `check_in` task per period of `every_days`
//!   (keyed by tier, customer and period, so reruns add nothing).
//! - **Queues.** `followups_due` (follow-ups and check-ins due now), `due_soon` (refill
//!   offers due within 7 days), `winback`, `mine` (assigned to the caller), `all`.
//! - **Outcomes.** Completing a task records a result (reached, no answer, ...) and a note on
//!   the task and, in the same transaction, on the customer's timeline (`task_done`).
//! - **Tier changes.** After an analytics run stores its tier changes, the tenant's
//!   `tier_changed` triggers run once per change ([`App::fire_tier_triggers`]); tasks they
//!   create are keyed by trigger, run and customer.
//! - **Scorecards.** [`App::scorecard`] loads per-case facts for the window and hands them to
//!   [`concierge_domain::scorecard::compute`] with the tenant's business-hours calendar.

use crate::App;
use crate::cases::CaseError;
use concierge_domain::followup::{
    self, CheckInRule, FollowUpRule, Outcome, default_check_ins, default_followups,
};
use concierge_domain::rules::{self, Action, Event, Recipient, TierChange, Trigger};
use concierge_domain::scorecard::{
    self, CaseFact, GroupBy, NpsFact, NpsPeriodRow, Period, ScoreRow, SurveyFact,
};
use concierge_domain::{CustomerId, Role, TenantId, UserId};
use concierge_store::UserRow;
use concierge_store::cases::{CaseRow, CaseWrite, NewTask, TaskRow};
use concierge_store::followups::{TaskItem, TaskQuery};
use std::collections::{BTreeSet, HashMap};

type Result<T, E = CaseError> = std::result::Result<T, E>;

pub use concierge_domain::followup::DAY_MS;

/// How far ahead the "refills due soon" queue looks.
pub const DUE_SOON_DAYS: i64 = 7;
/// Most tasks a queue shows.
pub const QUEUE_LIMIT: i64 = 200;

/// A task queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskQueue {
    /// Follow-ups and check-ins that are due.
    FollowupsDue,
    /// Refill (replenishment) offers due within [`DUE_SOON_DAYS`].
    DueSoon,
    /// Win-back calls for valuable customers at risk.
    Winback,
    /// Open tasks assigned to the caller.
    Mine,
    /// Every open task.
    All,
}

impl TaskQueue {
    pub const ALL: [TaskQueue; 5] = [
        TaskQueue::FollowupsDue,
        TaskQueue::DueSoon,
        TaskQueue::Winback,
        TaskQueue::Mine,
        TaskQueue::All,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskQueue::FollowupsDue => "followups_due",
            TaskQueue::DueSoon => "due_soon",
            TaskQueue::Winback => "winback",
            TaskQueue::Mine => "mine",
            TaskQueue::All => "all",
        }
    }

    pub fn parse(s: &str) -> Result<TaskQueue> {
        TaskQueue::ALL
            .into_iter()
            .find(|q| q.as_str() == s.trim())
            .ok_or_else(|| {
                CaseError::Invalid(format!(
                    "{} is not a task queue (use followups_due, due_soon, winback, mine or all)",
                    concierge_domain::customer::preview(s, 30)
                ))
            })
    }
}

/// Extra filters on a queue.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub kind: Option<String>,
    pub customer: Option<i64>,
    pub case: Option<i64>,
}

fn invalid(e: impl std::fmt::Display) -> CaseError {
    CaseError::Invalid(e.to_string())
}

impl App {
    /// The tenant's follow-up rules in order (the defaults when it has none).
    pub async fn followup_rules(&self, tenant: TenantId) -> Result<Vec<FollowUpRule>> {
        let mut out = Vec::new();
        for row in self.store.definitions(tenant, "followup").await? {
            if !row.active {
                continue;
            }
            if let Ok(mut r) = serde_json::from_str::<FollowUpRule>(&row.spec) {
                r.id = row.id;
                out.push(r);
            }
        }
        if out.is_empty() {
            out = default_followups();
        }
        Ok(out)
    }

    /// The tenant's check-in rules (the defaults when it has none).
    pub async fn check_in_rules(&self, tenant: TenantId) -> Result<Vec<CheckInRule>> {
        let mut out = Vec::new();
        for row in self.store.definitions(tenant, "checkin").await? {
            if !row.active {
                continue;
            }
            if let Ok(mut r) = serde_json::from_str::<CheckInRule>(&row.spec) {
                r.id = row.id;
                out.push(r);
            }
        }
        if out.is_empty() {
            out = default_check_ins();
        }
        Ok(out)
    }

    /// Adds to `w` the follow-up a solve asks for, when `w` solves `case` at `now`.
    pub async fn plan_followup(
        &self,
        tenant: TenantId,
        case: &CaseRow,
        w: &mut CaseWrite,
        now: i64,
    ) -> Result<()> {
        if w.change.solved_at != Some(Some(now)) {
            return Ok(());
        }
        let kind = w.change.kind.as_deref().unwrap_or(&case.kind);
        let spam = kind == "spam"
            || (case.tags.iter().any(|t| t == "spam")
                && !w.remove_tags.iter().any(|t| t == "spam"))
            || w.add_tags.iter().any(|t| t == "spam");
        let merged = case.merged_into.is_some() || w.change.merged_into.is_some();
        if spam || merged {
            return Ok(());
        }
        let rules = self.followup_rules(tenant).await?;
        let tier = self
            .store
            .customer_tier(tenant, case.customer_id)
            .await?
            .map(|(t, _, _)| t);
        let Some(rule) = followup::followup_for(&rules, kind, tier.as_deref(), false) else {
            return Ok(());
        };
        let owner = match w.change.owner_id {
            Some(o) => o,
            None => case.owner_id,
        };
        w.tasks.push(NewTask {
            kind: "follow_up".into(),
            customer_id: Some(case.customer_id),
            case_id: Some(case.id),
            title: format!(
                "Follow-up {} on #{}: {}",
                rule.channel.as_str(),
                case.number,
                case.subject
            ),
            assignee_id: owner,
            due_at: followup::due_after(now, rule.days),
            unique_key: Some(format!("followup:{}:{now}", case.id)),
        });
        Ok(())
    }

    /// One round of check-ins for every tenant: a `check_in` task per customer of each rule's
    /// tier per period. Returns how many tasks were new.
    pub async fn run_check_ins(&self) -> Result<u64> {
        let now = self.now();
        let mut created = 0;
        for t in self.store.list_tenants().await? {
            created += self.run_check_ins_for(t.id, now).await?;
        }
        Ok(created)
    }

    /// Check-ins of one tenant at `now`.
    pub async fn run_check_ins_for(&self, tenant: TenantId, now: i64) -> Result<u64> {
        let mut created = 0;
        for rule in self.check_in_rules(tenant).await? {
            let period = rule.period(now);
            let customers = self.store.customers_in_tier(tenant, &rule.tier).await?;
            let tasks: Vec<NewTask> = customers
                .into_iter()
                .map(|c| NewTask {
                    kind: "check_in".into(),
                    customer_id: Some(c),
                    case_id: None,
                    title: format!(
                        "Check-in {} ({}, every {} days)",
                        rule.channel.as_str(),
                        rule.tier,
                        rule.every_days
                    ),
                    assignee_id: None,
                    due_at: now,
                    unique_key: Some(format!(
                        "checkin:{}:{}:{c}:{period}",
                        rule.tier, rule.every_days
                    )),
                })
                .collect();
            for chunk in tasks.chunks(500) {
                created += self.store.create_tasks(tenant, chunk, now).await?;
            }
        }
        Ok(created)
    }

    /// Open tasks of a queue, soonest due first.
    pub async fn task_queue(
        &self,
        tenant: TenantId,
        user: &UserRow,
        queue: TaskQueue,
        filter: &TaskFilter,
    ) -> Result<Vec<TaskItem>> {
        let now = self.now();
        let mut q = TaskQuery {
            customer: filter.customer,
            case: filter.case,
            kinds: filter.kind.iter().cloned().collect(),
            ..TaskQuery::default()
        };
        let only = |q: &mut TaskQuery, kinds: &[&str]| {
            // A kind filter narrows the queue; one outside it leaves nothing.
            let wanted: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
            q.kinds = if q.kinds.is_empty() {
                wanted
            } else {
                q.kinds
                    .iter()
                    .filter(|k| wanted.contains(k))
                    .cloned()
                    .chain(std::iter::once(String::new()))
                    .collect()
            };
        };
        match queue {
            TaskQueue::FollowupsDue => {
                only(&mut q, &["follow_up", "check_in"]);
                q.due_before = Some(now);
            }
            TaskQueue::DueSoon => {
                only(&mut q, &["replenish"]);
                q.due_before = Some(now + DUE_SOON_DAYS * DAY_MS);
            }
            TaskQueue::Winback => only(&mut q, &["winback"]),
            TaskQueue::Mine => q.assignee = Some(user.id.0),
            TaskQueue::All => {}
        }
        Ok(self.store.task_queue(tenant, &q, QUEUE_LIMIT).await?)
    }

    /// Completes an open task with its outcome; the outcome goes on the customer's timeline.
    pub async fn complete_task(
        &self,
        tenant: TenantId,
        user: &UserRow,
        id: i64,
        result: &str,
        note: &str,
    ) -> Result<TaskRow> {
        let outcome = Outcome::new(result, note).map_err(invalid)?;
        let task = self
            .store
            .task(tenant, id)
            .await?
            .ok_or(CaseError::NotFound("task"))?;
        if task.status != "open" {
            return Err(CaseError::State(format!(
                "task {id} is already done; its outcome stays as recorded"
            )));
        }
        let stored = serde_json::json!({"result": outcome.result.as_str(), "note": outcome.note});
        let summary = serde_json::json!({
            "task_id": task.id,
            "task_kind": task.kind,
            "title": task.title,
            "case_id": task.case_id,
            "result": outcome.result.as_str(),
            "note": outcome.note,
            "by": user.display_name,
        });
        self.store
            .finish_task(
                tenant,
                id,
                Some(user.id.0),
                &stored.to_string(),
                &summary,
                self.now(),
            )
            .await?
            .ok_or_else(|| CaseError::State(format!("task {id} was completed meanwhile")))
    }

    /// The tenant's active `tier_changed` triggers.
    async fn tier_triggers(&self, tenant: TenantId) -> Result<Vec<Trigger>> {
        let mut out = Vec::new();
        for row in self.store.definitions(tenant, "trigger").await? {
            if row.event.as_deref() != Some(Event::TierChanged.as_str()) || !row.active {
                continue;
            }
            if let Ok(mut t) = serde_json::from_str::<Trigger>(&row.spec) {
                t.id = row.id;
                t.active = row.active;
                t.position = i32::try_from(row.position).unwrap_or(i32::MAX);
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Runs the tenant's `tier_changed` triggers once for each change of run `run_id`:
    /// `(customer, from, to, upgrade)`. Returns how many triggers fired in all.
    pub async fn fire_tier_triggers(
        &self,
        tenant: TenantId,
        run_id: i64,
        changes: &[(i64, Option<String>, Option<String>, bool)],
    ) -> Result<u64> {
        let triggers = self.tier_triggers(tenant).await?;
        if triggers.is_empty() || changes.is_empty() {
            return Ok(0);
        }
        let now = self.now();
        let managers: Vec<i64> = self
            .store
            .list_users(tenant)
            .await?
            .into_iter()
            .filter(|u| u.active && u.role == Role::Manager)
            .map(|u| u.id.0)
            .collect();
        let mut fired_n = 0;
        for (customer, from, to, upgrade) in changes {
            let flags: BTreeSet<String> = self
                .store
                .flags(tenant, CustomerId(*customer), false)
                .await?
                .unwrap_or_default()
                .into_iter()
                .filter(|f| f.cleared_at.is_none())
                .map(|f| f.flag)
                .collect();
            let change = TierChange {
                from: from.clone(),
                to: to.clone(),
                upgrade: *upgrade,
                customer_flags: flags,
            };
            let (fired, actions) = rules::run_tier_triggers(&triggers, &change);
            fired_n += fired.len() as u64;
            let what = format!(
                "{} → {}",
                from.as_deref().unwrap_or("—"),
                to.as_deref().unwrap_or("—")
            );
            let mut tasks = Vec::new();
            for (i, a) in actions.iter().enumerate() {
                match a {
                    Action::AddTag { value } => {
                        self.store
                            .add_customer_tag(tenant, *customer, value, now)
                            .await?;
                    }
                    Action::Notify { to, message } => {
                        let users = match to {
                            Recipient::User(u) => vec![u.0],
                            _ => managers.clone(),
                        };
                        for u in users {
                            if self.store.user_by_id(tenant, UserId(u)).await?.is_some() {
                                self.store
                                    .notify_user(
                                        tenant,
                                        u,
                                        "tier_changed",
                                        &format!("Customer {customer} ({what}): {message}"),
                                        now,
                                    )
                                    .await?;
                            }
                        }
                    }
                    Action::CreateTask { title, due_in_days } => tasks.push(NewTask {
                        kind: "tier_change".into(),
                        customer_id: Some(*customer),
                        case_id: None,
                        title: format!("{title} ({what})"),
                        assignee_id: None,
                        due_at: now + i64::from(*due_in_days) * DAY_MS,
                        unique_key: Some(format!("tier:{run_id}:{customer}:{i}")),
                    }),
                    _ => {}
                }
            }
            if !tasks.is_empty() {
                self.store.create_tasks(tenant, &tasks, now).await?;
            }
        }
        Ok(fired_n)
    }

    /// A scorecard by agent or team per week or month, for periods starting within
    /// `[from, to]` (days in the tenant calendar's zone).
    pub async fn scorecard(
        &self,
        tenant: TenantId,
        by: GroupBy,
        period: Period,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
    ) -> Result<Vec<ScoreRow>> {
        if to < from {
            return Err(invalid("`to` is before `from`"));
        }
        let rules = self.case_rules(tenant).await?;
        let cal = &rules.calendar;
        let tz = cal.time_zone().clone();
        let start_day = period.start_of(cal, day_start(from, &tz)?);
        let start = day_start(start_day, &tz)?;
        let end_day = match period {
            Period::Week => to.checked_add(jiff::Span::new().days(7)),
            Period::Month => to.first_of_month().checked_add(jiff::Span::new().months(1)),
        }
        .map_err(|_| invalid("`to` is too far in the future"))?;
        let end = day_start(end_day, &tz)?;
        let cases = self.store.score_cases(tenant, start, end).await?;
        let targets = self.store.score_targets(tenant, start, end).await?;
        let moves = self.store.score_status_moves(tenant, start, end).await?;
        let surveys = self.store.score_surveys(tenant, start, end).await?;
        let now = self.now();
        let mut met: HashMap<i64, (u32, u32)> = HashMap::new();
        for t in &targets {
            match scorecard::target_outcome(t.met_at, t.cancelled_at, t.due_at, now) {
                Some(true) => met.entry(t.case_id).or_default().0 += 1,
                Some(false) => met.entry(t.case_id).or_default().1 += 1,
                None => {}
            }
        }
        let wf = &rules.workflow;
        let reopened: BTreeSet<i64> = moves
            .iter()
            .filter(|(_, detail)| {
                let d: serde_json::Value = serde_json::from_str(detail).unwrap_or_default();
                let from = d.get("from").and_then(|v| v.as_str()).unwrap_or("");
                let to = d.get("to").and_then(|v| v.as_str()).unwrap_or("");
                wf.is_solved(from) && !wf.is_solved(to) && !is_closed(wf, to)
            })
            .map(|(c, _)| *c)
            .collect();
        let facts: Vec<CaseFact> = cases
            .iter()
            .map(|c| {
                let (m, x) = met.get(&c.case_id).copied().unwrap_or_default();
                CaseFact {
                    case_id: c.case_id,
                    agent: c.owner_id,
                    team: c.team_id,
                    created_at: c.created_at,
                    first_response_at: c.first_response_at,
                    solved_at: c.solved_at,
                    reopened: reopened.contains(&c.case_id),
                    targets_met: m,
                    targets_missed: x,
                }
            })
            .collect();
        let surveys: Vec<SurveyFact> = surveys
            .into_iter()
            .map(|(case_id, csat, _)| SurveyFact {
                case_id,
                csat: csat.and_then(|v| u8::try_from(v).ok()),
            })
            .collect();
        let nps = self.nps_facts(tenant, start, end).await?;
        Ok(scorecard::compute(
            &facts,
            &surveys,
            &nps,
            cal,
            by,
            period,
            Some((start_day, to)),
        ))
    }
}

impl App {
    /// The NPS answers of `tenant` given in `[from, to)`.
    async fn nps_facts(&self, tenant: TenantId, from: i64, to: i64) -> Result<Vec<NpsFact>> {
        Ok(self
            .store
            .score_nps(tenant, from, to)
            .await?
            .into_iter()
            .filter_map(|a| {
                Some(NpsFact {
                    at: a.answered_at,
                    agent: a.agent_id,
                    team: a.team_id,
                    score: u8::try_from(a.score).ok()?,
                })
            })
            .collect())
    }

    /// The whole tenant's NPS per week or month, for periods starting within `[from, to]`.
    pub async fn tenant_nps(
        &self,
        tenant: TenantId,
        period: Period,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
    ) -> Result<Vec<NpsPeriodRow>> {
        if to < from {
            return Err(invalid("`to` is before `from`"));
        }
        let rules = self.case_rules(tenant).await?;
        let cal = &rules.calendar;
        let tz = cal.time_zone().clone();
        let start_day = period.start_of(cal, day_start(from, &tz)?);
        let start = day_start(start_day, &tz)?;
        let end_day = match period {
            Period::Week => to.checked_add(jiff::Span::new().days(7)),
            Period::Month => to.first_of_month().checked_add(jiff::Span::new().months(1)),
        }
        .map_err(|_| invalid("`to` is too far in the future"))?;
        let end = day_start(end_day, &tz)?;
        let nps = self.nps_facts(tenant, start, end).await?;
        Ok(scorecard::tenant_nps(
            &nps,
            cal,
            period,
            Some((start_day, to)),
        ))
    }
}

/// A scorecard window from optional `YYYY-MM-DD` bounds: `to` defaults to today (UTC),
/// `from` to 12 periods before `to`.
pub fn scorecard_window(
    from: Option<&str>,
    to: Option<&str>,
    period: Period,
    now_ms: i64,
) -> Result<(jiff::civil::Date, jiff::civil::Date)> {
    let parse = |name: &str, s: &str| {
        let t = s.trim();
        match t.parse::<jiff::civil::Date>() {
            Ok(d) if t.len() == 10 => Ok(d),
            _ => Err(invalid(format!(
                "{name} must be a day as YYYY-MM-DD (got {})",
                concierge_domain::customer::preview(s, 20)
            ))),
        }
    };
    let to = match to.filter(|s| !s.trim().is_empty()) {
        Some(s) => parse("to", s)?,
        None => jiff::Timestamp::from_millisecond(now_ms)
            .map_err(invalid)?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date(),
    };
    let from = match from.filter(|s| !s.trim().is_empty()) {
        Some(s) => parse("from", s)?,
        None => {
            let back = match period {
                Period::Week => jiff::Span::new().weeks(11),
                Period::Month => jiff::Span::new().months(11),
            };
            to.checked_sub(back).map_err(invalid)?
        }
    };
    if to < from {
        return Err(invalid("`to` is before `from`"));
    }
    if to.since(from).map(|s| s.get_days()).unwrap_or(0) > 3 * 366 {
        return Err(invalid(
            "a scorecard covers at most three years; narrow from/to",
        ));
    }
    Ok((from, to))
}

fn is_closed(wf: &concierge_domain::case::Workflow, status: &str) -> bool {
    matches!(
        wf.category(status),
        Some(concierge_domain::case::Category::Closed)
    )
}

/// Midnight starting `day` in `tz`, in epoch ms.
fn day_start(day: jiff::civil::Date, tz: &jiff::tz::TimeZone) -> Result<i64> {
    day.to_zoned(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|_| invalid(format!("{day} is out of range")))
}
