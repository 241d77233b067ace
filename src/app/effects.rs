//! Carrying out a grant's outbox. A Kubernetes effect that fails stops the run, because what
//! follows may announce its result ("access removed"); it is retried with backoff and jitter as
//! `domain::retry` decides, the scheduler waking at its retry time. A chat effect never holds up
//! the others:
//! a transient failure stays in the outbox for the next retry, a permanent refusal (deleted
//! message, archived channel) is logged and dropped, so revocation can never be stuck behind it.

use tracing::{error, info, warn};

use super::{App, EffectError};
use crate::chat::ChatError;
use crate::cluster::ClusterError;
use crate::domain::grant::{Effect, Event, Grant, GrantState, Note};
use crate::domain::retry::{AfterFailure, RetryPolicy};

/// How failed Kubernetes effects are retried.
pub const RETRY_POLICY: RetryPolicy = RetryPolicy::DEFAULT;

/// The shortest token the API server issues.
const MIN_TOKEN_SECONDS: i64 = 600;

enum Outcome {
    Done(Option<Event>),
    /// Try this effect again later, for this reason; nothing after it may run first.
    Blocked(String),
    /// Try this effect again later; the rest may run meanwhile.
    Deferred,
    /// It can never succeed; drop it.
    Dropped,
}

impl App {
    /// Runs the outbox in order; the caller holds the grant's lock.
    pub(super) async fn drive_locked(&self, grant_id: &str) {
        let mut index = 0;
        loop {
            let grant = match self.adapters.store.get(grant_id).await {
                Ok(Some(grant)) => grant,
                Ok(None) => return,
                Err(e) => {
                    error!(grant = grant_id, error = %e, "cannot load grant");
                    return;
                }
            };
            let Some(effect) = grant.outbox.get(index).cloned() else {
                return;
            };
            if grant.waits_for_retry(&effect, self.now()) {
                return;
            }
            let next = match self.attempt(&grant, &effect).await {
                Outcome::Done(follow_up) => {
                    self.follow_up(grant.effect_done(index, self.now()), follow_up)
                }
                Outcome::Dropped => grant.complete_effect(index),
                Outcome::Deferred => {
                    index += 1;
                    continue;
                }
                Outcome::Blocked(error) => {
                    match grant.effect_failed(
                        index,
                        &error,
                        self.now(),
                        fastrand::f64(),
                        &RETRY_POLICY,
                    ) {
                        AfterFailure::RetryLater(next) => *next,
                        AfterFailure::GiveUp { reason } => {
                            warn!(grant = grant_id, %reason, "binding given up");
                            self.follow_up(
                                grant.complete_effect(index),
                                Some(Event::BindFailed { reason }),
                            )
                        }
                    }
                }
            };
            if let Err(e) = self.adapters.store.replace(grant.version, &next).await {
                error!(grant = grant_id, error = %e, "cannot record a carried-out effect");
                return;
            }
            self.observe_for_activity(&next);
            self.scheduler_wake.notify_one();
        }
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
        match self.execute(grant, effect).await {
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
                warn!(grant = %grant.id, ?effect, error = %e, "Slack unavailable; will retry");
                Outcome::Deferred
            }
            Err(e) => {
                error!(grant = %grant.id, ?effect, error = %e, "effect cannot succeed; dropped");
                Outcome::Dropped
            }
        }
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
            Effect::Bind => self.bind(grant).await,
            Effect::IssueKubeconfig => self.send_kubeconfig(grant).await,
            Effect::UpdateBindingExpiry => {
                self.cluster(&grant.cluster)?.update_expiry(grant).await?;
                Ok(None)
            }
            Effect::Unbind => {
                self.cluster(&grant.cluster)?.unbind(grant).await?;
                info!(grant = %grant.id, scope = ?grant.scope, "binding removed");
                Ok(None)
            }
        }
    }

    async fn bind(&self, grant: &Grant) -> Result<Option<Event>, EffectError> {
        let failed = |reason: String| Ok(Some(Event::BindFailed { reason }));
        // Exactly the subject resolved at the request and shown to the approvers: a profile
        // changed since must not change who is bound.
        let Some(identity) = grant.identity() else {
            return failed(
                "the request was made before prod-access recorded whom to bind; request it again"
                    .into(),
            );
        };
        // The access clock starts now, when the binding is created.
        let expires_at = self.now() + grant.duration();
        let cluster = match self.cluster(&grant.cluster) {
            Ok(cluster) => cluster,
            Err(e) => return failed(e.to_string()),
        };
        match cluster.bind(grant, &identity, expires_at).await {
            Ok(expires_at) => {
                info!(
                    grant = %grant.id,
                    scope = ?grant.scope,
                    user = %identity.user,
                    groups = ?identity.groups,
                    %expires_at,
                    "binding created"
                );
                Ok(Some(Event::Bound {
                    subject: identity.user,
                    groups: identity.groups,
                    expires_at,
                }))
            }
            Err(ClusterError::Refused(reason)) => failed(reason),
            // Retried with backoff by the outbox run, within the binding's budget.
            Err(e) => Err(e.into()),
        }
    }

    /// A token valid until the grant expires, as a kubeconfig file by DM. The token only lives in
    /// this function: it is not stored, logged or put in any message text.
    async fn send_kubeconfig(&self, grant: &Grant) -> Result<Option<Event>, EffectError> {
        let Some(expires_at) = grant.expires_at else {
            return Ok(None);
        };
        let remaining = (expires_at - self.now()).num_seconds();
        if grant.state != GrantState::Active || remaining <= 0 {
            return Ok(None);
        }
        let failed = |reason: String| {
            warn!(grant = %grant.id, cluster = %grant.cluster, %reason, "no kubeconfig could be made");
            Ok(Some(Event::KubeconfigFailed { reason }))
        };
        // The file must reach the grant's own cluster: its server and CA, not the default's.
        let Some(settings) = self.kubeconfig_for(&grant.cluster) else {
            return failed(format!(
                "cluster `{}` has no kubeconfig settings (clusters.{}.kubeconfig or kubernetes.kubeconfig)",
                grant.cluster, grant.cluster
            ));
        };
        // The API server refuses tokens shorter than ten minutes; a longer one is still cut off
        // at expiry, when the ServiceAccount is deleted.
        let seconds = remaining.max(MIN_TOKEN_SECONDS);
        let token = match self
            .cluster(&grant.cluster)?
            .issue_token(grant, seconds)
            .await
        {
            Ok(token) => token,
            Err(ClusterError::Refused(reason)) => return failed(reason),
            // Retried with backoff by the outbox run.
            Err(e) => return Err(e.into()),
        };
        let file = self.templates.kubeconfig(grant, settings, &token)?;
        let comment = self.templates.note(grant, Note::Kubeconfig, None)?;
        let filename = format!("{}.kubeconfig", grant.binding_name());
        self.adapters
            .chat
            .send_file_dm(&grant.requester, &filename, file.as_bytes(), &comment)
            .await?;
        info!(grant = %grant.id, cluster = %grant.cluster, seconds, "kubeconfig sent");
        Ok(None)
    }
}
