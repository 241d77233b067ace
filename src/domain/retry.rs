//! Retrying a Kubernetes effect the API server did not take: exponential backoff with jitter, so
//! many grants failing together do not retry in lock-step. Creating a binding has a budget, after
//! which the grant fails and says why; removing one has none (access must never be left behind)
//! but raises an alert in the audit channel while it keeps failing, and another when it recovers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit::{AuditEvent, AuditKind};
use super::audit_detail::Particulars;
use super::failure::Failure;
use super::grant::{Effect, Grant};

/// How the Kubernetes effect at the head of the outbox is being retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    pub effect: Effect,
    /// Failed attempts in a row.
    pub failures: u32,
    /// When the first of them failed.
    pub since: DateTime<Utc>,
    pub next_at: DateTime<Utc>,
    pub last_error: String,
    /// When the audit channel was last told that this effect keeps failing.
    pub alerted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The effect has failed `alert_after` times in a row and is still being retried.
    Failing,
    /// It worked after an alert said it was failing.
    Recovered,
}

/// What the audit channel is told about an effect that kept failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    /// The effect's `type`, e.g. `unbind`.
    pub effect: String,
    pub failures: u32,
    pub since: DateTime<Utc>,
    pub error: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Attempts at creating a binding before the grant fails.
    pub bind_attempts: u32,
    /// Failures in a row before the audit channel is alerted.
    pub alert_after: u32,
    /// How often the alert is repeated while the effect keeps failing.
    pub realert_every: Duration,
}

impl RetryPolicy {
    /// Six bind attempts span about a minute; a revocation is retried at least every five.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        first_delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(300),
        bind_attempts: 6,
        alert_after: 3,
        realert_every: Duration::from_secs(3600),
    };

    /// The longest wait after the `failures`-th failure in a row: `first_delay` doubled each
    /// time, capped at `max_delay`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    /// The wait after the `failures`-th failure: half the ceiling plus `jitter` (a sample in
    /// [0, 1)) of the other half, so the wait never shrinks to nothing yet retries spread out.
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let ceiling = self.ceiling(failures);
        let half = ceiling / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// What follows a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// The grant with the failure recorded (and an alert queued, when one is due).
    RetryLater(Box<Grant>),
    /// The binding's budget is spent; the grant should fail for this reason.
    GiveUp { reason: Failure },
}

impl Effect {
    /// Effects that call the Kubernetes API; these block the outbox while they fail.
    pub fn is_cluster_effect(&self) -> bool {
        matches!(
            self,
            Effect::Bind
                | Effect::UpdateBindingExpiry
                | Effect::Unbind
                | Effect::IssueKubeconfig
                | Effect::VerifyRevocation
        )
    }

    /// Effects given up after `bind_attempts` failures rather than retried for ever (and so
    /// never alerted on): creating a binding, and verifying that access ended. Removing one is
    /// never given up.
    pub fn has_attempt_budget(&self) -> bool {
        matches!(self, Effect::Bind | Effect::VerifyRevocation)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Effect::PostApprovalMessage => "post_approval_message",
            Effect::UpdateApprovalMessage => "update_approval_message",
            Effect::Bind => "bind",
            Effect::UpdateBindingExpiry => "update_binding_expiry",
            Effect::Unbind => "unbind",
            Effect::IssueKubeconfig => "issue_kubeconfig",
            Effect::Audit { .. } => "audit",
            Effect::ThreadReply { .. } => "thread_reply",
            Effect::Notify { .. } => "notify",
            Effect::PostExtensionMessage => "post_extension_message",
            Effect::UpdateExtensionMessage => "update_extension_message",
            Effect::Alert { .. } => "alert",
            Effect::CheckOnCall => "check_on_call",
            Effect::PostReviewMessage => "post_review_message",
            Effect::UpdateReviewMessage => "update_review_message",
            Effect::RemindReview => "remind_review",
            Effect::VerifyRevocation => "verify_revocation",
        }
    }
}

impl Alert {
    /// The audit log's record of this alert.
    fn audit_event(&self, grant: &Grant, now: DateTime<Utc>) -> AuditEvent {
        let kind = match self.kind {
            AlertKind::Failing => AuditKind::KubernetesFailing,
            AlertKind::Recovered => AuditKind::KubernetesRecovered,
        };
        let mut event = AuditEvent::about(grant, kind, None, now);
        event.particulars = Some(Particulars::of_alert(self));
        event
    }
}

impl Grant {
    /// Whether the outbox effect `effect` must still wait for its retry time.
    pub fn waits_for_retry(&self, effect: &Effect, now: DateTime<Utc>) -> bool {
        self.retry
            .as_ref()
            .is_some_and(|r| r.effect == *effect && now < r.next_at)
    }

    /// Records that the Kubernetes effect at `index` failed with `error`.
    pub fn effect_failed(
        &self,
        index: usize,
        error: &str,
        now: DateTime<Utc>,
        jitter: f64,
        policy: &RetryPolicy,
    ) -> AfterFailure {
        let Some(effect) = self.outbox.get(index).cloned() else {
            return AfterFailure::RetryLater(Box::new(self.clone()));
        };
        let (failures, since, alerted_at) = match &self.retry {
            Some(r) if r.effect == effect => (r.failures + 1, r.since, r.alerted_at),
            _ => (1, now, None),
        };
        if effect.has_attempt_budget() && failures >= policy.bind_attempts {
            return AfterFailure::GiveUp {
                reason: Failure::GaveUp {
                    error: error.to_string(),
                    attempts: failures,
                    waited_secs: (now - since).num_seconds().max(0).unsigned_abs(),
                },
            };
        }
        let mut next = self.clone();
        next.version += 1;
        let delay = chrono::Duration::from_std(policy.delay(failures, jitter))
            .unwrap_or(chrono::Duration::MAX);
        let alert_due = !effect.has_attempt_budget()
            && failures >= policy.alert_after
            && alerted_at.is_none_or(|at| {
                chrono::Duration::from_std(policy.realert_every)
                    .is_ok_and(|every| now - at >= every)
            });
        next.retry = Some(Retry {
            effect: effect.clone(),
            failures,
            since,
            next_at: now.checked_add_signed(delay).unwrap_or(now),
            last_error: error.to_string(),
            alerted_at: if alert_due { Some(now) } else { alerted_at },
        });
        if alert_due {
            let alert = Alert {
                kind: AlertKind::Failing,
                effect: effect.kind().to_string(),
                failures,
                since,
                error: error.to_string(),
            };
            next.journal.push(alert.audit_event(&next, now));
            // Ahead of the failing effect, so it is posted now rather than after the retry.
            next.outbox.insert(index, Effect::Alert { alert });
        }
        AfterFailure::RetryLater(Box::new(next))
    }

    /// Marks the outbox effect at `index` as carried out. A Kubernetes effect that was being
    /// retried ends its retry, and announces its recovery where its failure was announced.
    pub fn effect_done(&self, index: usize, now: DateTime<Utc>) -> Grant {
        let mut next = self.complete_effect(index);
        let Some(done) = self.outbox.get(index) else {
            return next;
        };
        // `complete_effect` has ended the retry; only its announcement is left to decide.
        if let Some(retry) = self.retry.as_ref().filter(|r| r.effect == *done)
            && retry.alerted_at.is_some()
        {
            let alert = Alert {
                kind: AlertKind::Recovered,
                effect: done.kind().to_string(),
                failures: retry.failures,
                since: retry.since,
                error: retry.last_error.clone(),
            };
            next.journal.push(alert.audit_event(&next, now));
            next.outbox
                .insert(index.min(next.outbox.len()), Effect::Alert { alert });
        }
        next
    }
}

#[cfg(test)]
mod tests;
