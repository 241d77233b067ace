//! Carrying out a grant's outbox (see `locks` for who may do what at the same time). A
//! Kubernetes effect that fails stops the run, because what follows may announce its result
//! ("access removed"); it is retried with backoff and jitter as `domain::retry` decides, the
//! scheduler waking at its retry time. A chat effect never holds up the others: a transient
//! failure stays in the outbox for the next retry, a permanent refusal (deleted message,
//! archived channel) is logged and dropped, and a slow or hanging one holds only the outbox
//! lock, which removing access never takes.

use std::sync::Arc;
use std::time::Instant;

use tracing::{error, info, warn};

use super::{App, AppError, EffectError};
use crate::chat::ChatError;
use crate::cluster::ClusterError;
use crate::domain::grant::{Effect, Event, Grant, Note};
use crate::domain::retry::{AfterFailure, RetryPolicy};
use crate::domain::revocation::Verification;
use crate::store::StoreError;

/// How often a write is decided again on the grant as it is now, when another replica changed
/// it first.
pub(super) const CONFLICT_RETRIES: usize = 10;

/// How failed Kubernetes effects are retried.
pub const RETRY_POLICY: RetryPolicy = RetryPolicy::DEFAULT;

#[derive(Clone)]
pub(super) enum Outcome {
    Done(Option<Event>),
    /// Try this effect again later, for this reason; nothing after it may run first.
    Blocked(String),
    /// Try this effect again later; the rest may run meanwhile.
    Deferred,
    /// It can never succeed; drop it.
    Dropped,
}

impl Outcome {
    /// The `outcome` field of the log line each attempt writes.
    fn label(&self) -> &'static str {
        match self {
            Outcome::Done(Some(Event::BindFailed { .. } | Event::KubeconfigFailed { .. })) => {
                "given_up"
            }
            Outcome::Done(_) => "done",
            Outcome::Blocked(_) => "retrying",
            Outcome::Deferred => "deferred",
            Outcome::Dropped => "dropped",
        }
    }

    /// Logs one attempt at `effect` of `grant`, under the field names the JSON logs keep
    /// stable: grant, role, cluster, event (the effect), outcome and duration_ms.
    pub(super) fn log(&self, grant: &Grant, effect: &Effect, started: Instant) {
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        info!(
            grant = %grant.id,
            role = %grant.role,
            cluster = %grant.cluster,
            event = effect.kind(),
            outcome = self.label(),
            duration_ms,
            "effect attempted"
        );
    }
}

/// Where the outbox run goes on after an effect.
pub(super) enum Next {
    /// At this position of the outbox as it is now.
    At(usize),
    Stop,
}

impl App {
    /// Carries out every effect left over from a crash or an earlier failure, in the background:
    /// the retry pass, and what the leader does when it takes the lead. The leader before may
    /// have died in the middle of them (its binding created, its expiry not yet stored); grants
    /// whose outbox another replica is carrying out are left to it (see `claims`).
    pub async fn resume(self: &Arc<Self>) -> Result<(), AppError> {
        for grant in self.adapters.store.with_pending_effects().await? {
            self.spawn_drive(grant.id);
        }
        Ok(())
    }

    /// Carries out the grant's outbox in the background: an `Unbind` in it first, at once, then
    /// the rest in order, once no other run of this grant's outbox is busy (see `locks` and
    /// `claims`).
    pub(super) fn spawn_drive(self: &Arc<Self>, grant_id: String) {
        let app = Arc::clone(self);
        // In the span of what caused it (an HTTP request, say): its logs carry that request's id.
        let run = async move {
            app.remove_access(&grant_id).await;
            let lock = app.outbox_locks.get(&grant_id);
            let _held = lock.lock().await;
            app.drive(&grant_id).await;
        };
        self.tasks.spawn(tracing::Instrument::in_current_span(run));
    }

    /// Carries out the outbox in order; the caller holds the grant's outbox lock and `claim`.
    /// Every result is recorded on the grant as it is then (see `record`), so work done
    /// meanwhile by a decision or by the removal of access is never undone. Returns the version
    /// it last read when it ran out of effects to carry out now.
    pub(super) async fn run_outbox(
        self: &Arc<Self>,
        grant_id: &str,
        claim: &super::claims::Claim,
    ) -> Option<u64> {
        let mut index = 0;
        loop {
            let grant = self.load(grant_id).await?;
            let Some(effect) = grant.outbox.get(index).cloned() else {
                return Some(grant.version);
            };
            if grant.waits_for_retry(&effect, self.now()) {
                return Some(grant.version);
            }
            if claim.lost() {
                return None;
            }
            let started = Instant::now();
            let next = if effect.is_cluster_effect() {
                self.carry_out_cluster_effect(&grant, &effect, index, started)
                    .await
            } else {
                let outcome = self.attempt(&grant, &effect).await;
                outcome.log(&grant, &effect, started);
                match outcome {
                    Outcome::Deferred => self.metrics.chat_failed("unavailable"),
                    Outcome::Dropped => {
                        self.metrics.chat_failed("refused");
                        self.metrics.effect_given_up(effect.kind());
                    }
                    _ => {}
                }
                self.record(grant_id, &effect, index, outcome).await
            };
            match next {
                Next::At(at) => index = at,
                Next::Stop => return None,
            }
        }
    }

    pub(super) async fn load(&self, grant_id: &str) -> Option<Grant> {
        match self.adapters.store.get(grant_id).await {
            Ok(grant) => grant,
            Err(e) => {
                self.metrics.store_failed();
                error!(grant = grant_id, error = %e, "cannot load grant");
                None
            }
        }
    }

    /// Records what became of `effect`, read at `hint` in the outbox, on the grant as it is now.
    pub(super) async fn record(
        self: &Arc<Self>,
        grant_id: &str,
        effect: &Effect,
        hint: usize,
        outcome: Outcome,
    ) -> Next {
        if matches!(outcome, Outcome::Deferred) {
            return Next::At(hint + 1);
        }
        let lock = self.state_locks.get(grant_id);
        let _held = lock.lock().await;
        let Some(grant) = self.load(grant_id).await else {
            return Next::Stop;
        };
        match locate(&grant.outbox, effect, hint) {
            Some(at) => self.commit(&grant, at, outcome).await,
            // Ended meanwhile by a decision that dropped it: its result no longer matters.
            None => Next::At(hint.min(grant.outbox.len())),
        }
    }

    /// Writes the grant with the outcome of its outbox effect at `at`; the caller holds its
    /// state lock. Another replica may have changed the grant meanwhile (this lock is only this
    /// process's): then the outcome is written onto the grant as it is now.
    pub(super) async fn commit(
        self: &Arc<Self>,
        grant: &Grant,
        at: usize,
        outcome: Outcome,
    ) -> Next {
        let Some(effect) = grant.outbox.get(at).cloned() else {
            return Next::At(at.min(grant.outbox.len()));
        };
        let (mut grant, mut at) = (grant.clone(), at);
        for _ in 0..CONFLICT_RETRIES {
            match self.commit_once(&grant, at, outcome.clone()).await {
                Some(next) => return next,
                None => {
                    let Some(fresh) = self.load(&grant.id).await else {
                        return Next::Stop;
                    };
                    match locate(&fresh.outbox, &effect, at) {
                        Some(found) => (grant, at) = (fresh, found),
                        // Ended meanwhile by a decision that dropped it.
                        None => return Next::At(at.min(fresh.outbox.len())),
                    }
                }
            }
        }
        error!(grant = %grant.id, "cannot record a carried-out effect: the grant keeps changing");
        Next::Stop
    }

    /// One attempt of `commit`; `None` when another replica changed the grant first.
    async fn commit_once(
        self: &Arc<Self>,
        grant: &Grant,
        at: usize,
        outcome: Outcome,
    ) -> Option<Next> {
        let now = self.now();
        if let (Outcome::Done(Some(Event::BindFailed { .. })), Some(effect)) =
            (&outcome, grant.outbox.get(at))
        {
            self.metrics.effect_given_up(effect.kind());
        }
        let mut next = match outcome {
            Outcome::Deferred => return Some(Next::At(at + 1)),
            Outcome::Done(follow_up) => self.follow_up(grant.effect_done(at, now), follow_up),
            Outcome::Dropped => grant.complete_effect(at),
            Outcome::Blocked(error) => {
                if let Some(effect) = grant.outbox.get(at) {
                    self.metrics.effect_failed(effect.kind());
                }
                match grant.effect_failed(at, &error, now, fastrand::f64(), &RETRY_POLICY) {
                    AfterFailure::RetryLater(next) => *next,
                    AfterFailure::GiveUp { reason } => {
                        let effect = grant.outbox.get(at);
                        if let Some(effect) = effect {
                            self.metrics.effect_given_up(effect.kind());
                        }
                        warn!(grant = %grant.id, ?effect, ?reason, "given up");
                        let gave_up = match effect {
                            Some(Effect::VerifyRevocation) => Event::RevocationVerified {
                                verification: Verification::Unverified { failure: reason },
                            },
                            _ => Event::BindFailed { reason },
                        };
                        self.follow_up(grant.complete_effect(at), Some(gave_up))
                    }
                }
            }
        };
        self.templates.word_journal(&mut next.journal);
        match self.adapters.store.replace(grant.version, &next).await {
            Ok(()) => self.note_written(&next),
            Err(StoreError::Conflict { .. }) => return None,
            Err(e) => {
                self.metrics.store_failed();
                error!(grant = %grant.id, error = %e, "cannot record a carried-out effect");
                return Some(Next::Stop);
            }
        }
        self.observe_for_activity(&next);
        self.scheduler_wake.notify_one();
        if !grant.outbox.contains(&Effect::Unbind) && next.outbox.contains(&Effect::Unbind) {
            // A failed bind's clean-up must not wait behind the chat effects told before it.
            self.spawn_remove_access(next.id.clone());
        }
        Some(Next::At(at))
    }

    fn follow_up(&self, grant: Grant, event: Option<Event>) -> Grant {
        let Some(event) = event else {
            return grant;
        };
        match grant.apply(&event, self.now(), &self.policy) {
            Ok(applied) => applied,
            Err(rejection) => {
                error!(grant = %grant.id, ?event, ?rejection, "follow-up event refused");
                grant
            }
        }
    }

    async fn attempt(&self, grant: &Grant, effect: &Effect) -> Outcome {
        outcome(grant, effect, self.execute(grant, effect).await)
    }

    /// A request from an incident channel is decided there, unless its role has its own
    /// approvals channel that only a listed incident channel overrides; others in the role's
    /// approvals channel, else the bot's.
    fn approvals_channel_for(&self, grant: &Grant) -> String {
        let role_has_channel = self
            .policy
            .roles
            .get(&grant.role)
            .is_some_and(|r| r.approvals_channel.is_some());
        match &grant.incident {
            Some(incident) if incident.decided_here(role_has_channel) => incident.channel.clone(),
            _ => self.ordinary_approvals_channel(grant),
        }
    }

    /// The role's approvals channel, else the bot's.
    fn ordinary_approvals_channel(&self, grant: &Grant) -> String {
        self.policy
            .roles
            .get(&grant.role)
            .and_then(|r| r.approvals_channel.clone())
            .unwrap_or_else(|| self.settings.approvals_channel.clone())
    }

    async fn execute(&self, grant: &Grant, effect: &Effect) -> Result<Option<Event>, EffectError> {
        let chat = &self.adapters.chat;
        let templates = &self.templates;
        match effect {
            Effect::PostApprovalMessage => {
                let message = templates.approval_message(grant)?;
                let mut posted = match chat
                    .post(&self.approvals_channel_for(grant), &message)
                    .await
                {
                    // The bot was not invited to the incident channel (or it is archived): the
                    // request must still reach approvers.
                    Err(ChatError::Refused(e)) if grant.incident.is_some() => {
                        warn!(grant = %grant.id, error = %e, "cannot post in the incident channel; posting in the approvals channel");
                        chat.post(&self.ordinary_approvals_channel(grant), &message)
                            .await?
                    }
                    posted => posted?,
                };
                // Only for the audit posts' link: the grant must not wait for it.
                match chat.permalink(&posted).await {
                    Ok(link) => posted.permalink = Some(link),
                    Err(e) => {
                        warn!(grant = %grant.id, error = %e, "no link to the approval message")
                    }
                }
                Ok(Some(Event::ApprovalMessagePosted { message: posted }))
            }
            Effect::UpdateApprovalMessage => {
                if let Some(at) = &grant.approval_message {
                    chat.update(at, &templates.approval_message(grant)?).await?;
                }
                Ok(None)
            }
            Effect::PostExtensionMessage => {
                let channel = grant
                    .approval_message
                    .as_ref()
                    .map(|m| m.channel.clone())
                    .unwrap_or_else(|| self.approvals_channel_for(grant));
                let posted = chat
                    .post(&channel, &templates.extension_message(grant)?)
                    .await?;
                Ok(Some(Event::ExtensionMessagePosted { message: posted }))
            }
            Effect::UpdateExtensionMessage => {
                if let Some(at) = grant.extension.as_ref().and_then(|x| x.message.as_ref()) {
                    chat.update(at, &templates.extension_message(grant)?)
                        .await?;
                }
                Ok(None)
            }
            Effect::Audit { step } => {
                let message = templates.step(grant, *step, false)?;
                chat.post(&self.settings.audit_channel, &message).await?;
                Ok(None)
            }
            Effect::Alert { alert } => {
                chat.post(
                    &self.settings.audit_channel,
                    &templates.alert(grant, alert)?,
                )
                .await?;
                Ok(None)
            }
            Effect::ThreadReply { step } => {
                if let Some(at) = &grant.approval_message {
                    chat.reply_in_thread(at, &templates.step(grant, *step, true)?)
                        .await?;
                }
                Ok(None)
            }
            Effect::Notify { note } => {
                let extend_by = match note {
                    Note::Reminder => self.reminder_extension(grant),
                    _ => None,
                };
                let message = templates.note(grant, *note, extend_by)?;
                chat.dm(&grant.requester, &message).await?;
                Ok(None)
            }
            Effect::CheckOnCall => self.check_on_call(grant).await,
            Effect::PostReviewMessage | Effect::UpdateReviewMessage | Effect::RemindReview => {
                self.review_effect(grant, effect).await
            }
            // Carried out under the grant's state lock by `carry_out_cluster_effect`, which
            // keeps their chat calls out of it; never by this chat path.
            Effect::Bind
            | Effect::IssueKubeconfig
            | Effect::UpdateBindingExpiry
            | Effect::Unbind
            | Effect::VerifyRevocation => Err(EffectError::Misrouted(effect.kind())),
        }
    }
}

/// The position of `effect`, read at `hint`, in the outbox as it is now. Effects ahead of it can
/// only have been removed (never inserted) meanwhile, so it is at `hint` or before; equal effects
/// render the grant as it is when carried out, so any of them stands for it.
pub(super) fn locate(outbox: &[Effect], effect: &Effect, hint: usize) -> Option<usize> {
    let last = hint.min(outbox.len().checked_sub(1)?);
    (0..=last).rev().find(|at| outbox[*at] == *effect)
}

/// How an attempt at `effect` turned out.
pub(super) fn outcome(
    grant: &Grant,
    effect: &Effect,
    result: Result<Option<Event>, EffectError>,
) -> Outcome {
    match result {
        Ok(follow_up) => Outcome::Done(follow_up),
        // The expiry annotation is informational (the store decides when access ends), so a
        // cluster that refuses to move it must not hold up anything behind it.
        Err(EffectError::Cluster(ClusterError::Refused(e)))
            if *effect == Effect::UpdateBindingExpiry =>
        {
            error!(grant = %grant.id, error = %e, "the binding's expiry annotation could not be updated; dropped");
            Outcome::Dropped
        }
        Err(EffectError::Cluster(e)) => {
            warn!(grant = %grant.id, ?effect, error = %e, "Kubernetes effect failed; will retry");
            Outcome::Blocked(e.to_string())
        }
        Err(EffectError::Chat(ChatError::Unavailable(e))) => {
            warn!(grant = %grant.id, ?effect, error = %e, "the chat platform is unavailable; will retry");
            Outcome::Deferred
        }
        Err(e @ EffectError::Misrouted(_)) => {
            error!(grant = %grant.id, ?effect, error = %e, "left in the outbox");
            Outcome::Deferred
        }
        Err(e) => {
            error!(grant = %grant.id, ?effect, error = %e, "effect cannot succeed; dropped");
            Outcome::Dropped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::locate;
    use crate::domain::grant::{Effect, Step};

    const UPDATE: Effect = Effect::UpdateApprovalMessage;
    const EXPIRED: Effect = Effect::Audit {
        step: Step::Expired,
    };

    #[test]
    fn an_effect_is_found_where_it_was_read() {
        assert_eq!(locate(&[UPDATE, EXPIRED], &EXPIRED, 1), Some(1));
    }

    #[test]
    fn an_effect_is_found_after_effects_ahead_of_it_were_removed() {
        assert_eq!(locate(&[EXPIRED, Effect::Unbind], &EXPIRED, 2), Some(0));
    }

    #[test]
    fn of_equal_effects_the_nearest_one_at_or_before_where_it_was_read_is_taken() {
        let outbox = [UPDATE, EXPIRED, UPDATE, UPDATE];
        assert_eq!(locate(&outbox, &UPDATE, 2), Some(2));
    }

    #[test]
    fn an_effect_dropped_meanwhile_is_not_found() {
        assert_eq!(locate(&[UPDATE], &EXPIRED, 0), None);
        assert_eq!(locate(&[], &EXPIRED, 3), None);
        // One appended after it was read is not it.
        assert_eq!(locate(&[UPDATE, EXPIRED], &EXPIRED, 0), None);
    }
}
