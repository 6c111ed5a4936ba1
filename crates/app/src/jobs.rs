//! The background worker: every node runs one; jobs and schedules live in the database, so a
//! job runs on exactly one node and a restart loses nothing.
//!
//! Handlers are registered by kind. Built in: `maintenance.prune` (expired sessions and old
//! sign-in attempts, hourly), `cases.escalate` (service-level escalations, every 30 s),
//! `mail.deliver` (outbound email replies, every 5 s), `mail.poll` (every 5 s: one
//! `mail.poll_mailbox` job per IMAP mailbox that is due), `followups.check_ins` (periodic
//! check-in tasks per tier, hourly), `portal.notify` (customer notices of case steps, every
//! 5 s), `csat.remind` (survey reminders, hourly), `nps.send` (periodic NPS surveys,
//! hourly) and `noop` (does nothing; used to prove exactly-once execution across nodes).

use crate::App;
use concierge_store::{Job, JobOutcome};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What a job handler returns: `Err` retries later with backoff.
pub type JobResult = Result<(), String>;

type BoxFut = Pin<Box<dyn Future<Output = JobResult> + Send>>;
type Handler = Arc<dyn Fn(App, Job) -> BoxFut + Send + Sync>;

/// The registry of job handlers and recurring schedules.
#[derive(Clone, Default)]
pub struct Worker {
    handlers: HashMap<String, Handler>,
    schedules: Vec<(String, i64)>,
}

impl Worker {
    /// A worker with the built-in handlers and schedules.
    pub fn standard() -> Worker {
        let mut w = Worker::default();
        w.register("noop", |_app, _job| async { Ok(()) });
        w.register("maintenance.prune", |app, _job| async move {
            let now = app.now();
            app.store
                .delete_expired_sessions(now)
                .await
                .map_err(|e| e.to_string())?;
            app.store
                .prune_sign_in_attempts(now - 7 * 24 * 3600 * 1000)
                .await
                .map_err(|e| e.to_string())?;
            app.store
                .prune_link_requests(now - 7 * 24 * 3600 * 1000)
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        });
        w.schedule("maintenance.prune", 3600 * 1000);
        // Service-level escalations: each round fires the steps that came due, each once.
        w.register("cases.escalate", |app, job| async move {
            let node = format!("{}#job{}", app.config.node_name(), job.id.0);
            app.run_escalations(&node)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        w.schedule("cases.escalate", 30 * 1000);
        // Outbound mail: public email replies committed as `queued` are delivered (outbox
        // folder or SMTP), deferred with backoff, or failed with the reason.
        w.register("mail.deliver", |app, _job| async move {
            app.deliver_outbound_mail().await.map(|_| ())
        });
        w.schedule("mail.deliver", 5 * 1000);
        // IMAP mailboxes: the schedule enqueues one job per due mailbox; each job polls its
        // mailbox under the mailbox's own lease (one poller per mailbox across nodes).
        w.register("mail.poll", |app, _job| async move {
            app.enqueue_mailbox_polls()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        w.schedule("mail.poll", 5 * 1000);
        w.register("mail.poll_mailbox", |app, job| async move {
            let (Some(tenant), Some(id)) = (
                job.tenant_id,
                serde_json::from_str::<serde_json::Value>(&job.payload)
                    .ok()
                    .and_then(|v| v.get("mailbox").and_then(|m| m.as_i64())),
            ) else {
                return Err(format!(
                    "mail.poll_mailbox job {} names no mailbox",
                    job.id.0
                ));
            };
            let node = format!("{}#job{}", app.config.node_name(), job.id.0);
            app.poll_mailbox(tenant, id, &node)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        // Periodic check-ins per tier: one task per customer per period, whichever node runs.
        w.register("followups.check_ins", |app, _job| async move {
            app.run_check_ins()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        w.schedule("followups.check_ins", 3600 * 1000);
        // Customer notices: customer-visible case steps become mails (portal link, survey
        // link when solved), then the due ones are sent.
        w.register("portal.notify", |app, _job| async move {
            app.queue_customer_notices()
                .await
                .map_err(|e| e.to_string())?;
            app.deliver_customer_notices()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        w.schedule("portal.notify", 5 * 1000);
        // Satisfaction surveys left unanswered get their one reminder.
        w.register("csat.remind", |app, _job| async move {
            app.remind_surveys()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        w.schedule("csat.remind", 3600 * 1000);
        // Periodic NPS surveys where the tenant turned them on: queued once per customer and
        // period, then mailed.
        w.register("nps.send", |app, _job| async move {
            app.run_nps().await.map(|_| ()).map_err(|e| e.to_string())
        });
        w.schedule("nps.send", 3600 * 1000);
        w
    }

    /// Registers a handler for a job kind.
    pub fn register<F, Fut>(&mut self, kind: &str, f: F)
    where
        F: Fn(App, Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult> + Send + 'static,
    {
        self.handlers
            .insert(kind.to_string(), Arc::new(move |a, j| Box::pin(f(a, j))));
    }

    /// Declares a recurring job: every `interval_ms`, one node enqueues one job of `kind`.
    pub fn schedule(&mut self, kind: &str, interval_ms: i64) {
        self.schedules.push((kind.to_string(), interval_ms));
    }

    /// Runs one round: fires due schedules, then runs due jobs until none is left.
    /// Returns how many jobs ran.
    pub async fn tick(&self, app: &App, node: &str) -> Result<usize, String> {
        let now = app.now();
        for (name, slot) in app
            .store
            .claim_due_schedules(node, now)
            .await
            .map_err(|e| e.to_string())?
        {
            let key = format!("schedule:{name}:{slot}");
            app.store
                .enqueue_job(None, &name, "{}", now, Some(&key), now)
                .await
                .map_err(|e| e.to_string())?;
        }
        let lease = app.config.jobs.lease_secs.max(1) * 1000;
        let mut ran = 0;
        while let Some(job) = app
            .store
            .claim_job(node, app.now(), lease)
            .await
            .map_err(|e| e.to_string())?
        {
            ran += 1;
            let outcome = match self.handlers.get(&job.kind) {
                Some(h) => match h(app.clone(), job.clone()).await {
                    Ok(()) => JobOutcome::Done,
                    Err(error) => JobOutcome::Failed {
                        error,
                        retry_at: app.now() + backoff_ms(job.attempts),
                    },
                },
                None => JobOutcome::Failed {
                    error: format!("no handler for job kind '{}'", job.kind),
                    retry_at: app.now() + backoff_ms(job.attempts),
                },
            };
            if let JobOutcome::Failed { error, .. } = &outcome {
                tracing::warn!(job = job.id.0, kind = %job.kind, %error, "job failed");
            }
            let kept = app
                .store
                .finish_job(job.id, node, &outcome, app.now())
                .await
                .map_err(|e| e.to_string())?;
            if !kept {
                tracing::warn!(job = job.id.0, "lease lost before the job finished");
            }
        }
        Ok(ran)
    }

    /// Registers the schedules and loops until `shutdown` turns true.
    pub async fn run(self, app: App, mut shutdown: watch::Receiver<bool>) {
        let node = app.config.node_name();
        let now = app.now();
        for (name, interval) in &self.schedules {
            if let Err(e) = app
                .store
                .ensure_schedule(name, *interval, now + interval, now)
                .await
            {
                tracing::warn!(%e, schedule = %name, "could not register schedule");
            }
        }
        let poll = Duration::from_millis(app.config.jobs.poll_interval_ms.max(50));
        tracing::info!(%node, "background worker started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.tick(&app, &node).await {
                tracing::warn!(error = %e, "worker round failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(%node, "background worker stopped");
    }
}

/// Exponential backoff: 2 s, 4 s, 8 s ... capped at one hour.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 12) as u32;
    (1000i64 << exp).min(3_600_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(1), 2000);
        assert_eq!(backoff_ms(2), 4000);
        assert_eq!(backoff_ms(100), 3_600_000);
    }
}
