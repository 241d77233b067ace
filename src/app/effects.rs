//! Carrying out a grant's outbox. A Kubernetes effect that fails stops the run, because what
//! follows may announce its result ("access removed"). A chat effect never holds up the others:
//! a transient failure stays in the outbox for the next retry, a permanent refusal (deleted
//! message, archived channel) is logged and dropped, so revocation can never be stuck behind it.

use std::time::Duration;

use tracing::{error, info, warn};

use super::{App, EffectError};
use crate::chat::ChatError;
use crate::cluster::ClusterError;
use crate::domain::grant::{Effect, Event, Grant, GrantState, Note};

/// How often, and how far apart, a binding is attempted before the grant is reported Failed.
const BIND_ATTEMPTS: u32 = 3;
const BIND_BACKOFF: Duration = Duration::from_millis(200);

/// The shortest token the API server issues.
const MIN_TOKEN_SECONDS: i64 = 600;

enum Outcome {
    Done(Option<Event>),
    /// Try this effect again later; nothing after it may run first.
    Blocked,
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
            let next = match self.attempt(&grant, &effect).await {
                Outcome::Done(follow_up) => {
                    let mut next = grant.complete_effect(index);
                    if let Some(event) = follow_up {
                        match next.apply(&event, self.now(), &self.policy) {
                            Ok(applied) => next = applied,
                            Err(rejection) => {
                                error!(
                                    grant = grant_id,
                                    ?event,
                                    ?rejection,
                                    "follow-up event refused"
                                )
                            }
                        }
                    }
                    next
                }
                Outcome::Dropped => grant.complete_effect(index),
                Outcome::Deferred => {
                    index += 1;
                    continue;
                }
                Outcome::Blocked => return,
            };
            if let Err(e) = self.adapters.store.replace(grant.version, &next).await {
                error!(grant = grant_id, error = %e, "cannot record a carried-out effect");
                return;
            }
            self.scheduler_wake.notify_one();
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
                Outcome::Blocked
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

    fn approvals_channel_for(&self, grant: &Grant) -> String {
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
                let posted = chat
                    .post(&self.approvals_channel_for(grant), &message)
                    .await?;
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
                chat.post(&self.settings.audit_channel, &templates.step(grant, *step)?)
                    .await?;
                Ok(None)
            }
            Effect::ThreadReply { step } => {
                if let Some(at) = &grant.approval_message {
                    chat.reply_in_thread(at, &templates.step(grant, *step)?)
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
        let rules = self.identity_rules();
        let email = if rules.is_mapped(&grant.requester) {
            None
        } else {
            match self.adapters.chat.user_email(&grant.requester).await {
                Ok(email) => email,
                Err(ChatError::Refused(code)) => {
                    return failed(format!("Slack could not look up the requester ({code})"));
                }
                Err(e) => return Err(e.into()),
            }
        };
        let Some(identity) = rules.resolve(&grant.requester, email.as_deref()) else {
            return failed(
                "the requester's Slack profile has no email address and kubernetes.identities \
                 does not name them"
                    .into(),
            );
        };
        let mut attempt = 1;
        loop {
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
                    return Ok(Some(Event::Bound {
                        subject: identity.user,
                        groups: identity.groups,
                        expires_at,
                    }));
                }
                Err(ClusterError::Refused(reason)) => return failed(reason),
                Err(ClusterError::Unavailable(reason)) if attempt >= BIND_ATTEMPTS => {
                    return failed(format!("{reason} (after {attempt} attempts)"));
                }
                Err(ClusterError::Unavailable(reason)) => {
                    warn!(grant = %grant.id, attempt, %reason, "binding failed; retrying");
                    tokio::time::sleep(BIND_BACKOFF * attempt).await;
                    attempt += 1;
                }
            }
        }
    }

    /// A token valid until the grant expires, as a kubeconfig file by DM. The token only lives in
    /// this function: it is not stored, logged or put in any message text.
    async fn send_kubeconfig(&self, grant: &Grant) -> Result<Option<Event>, EffectError> {
        let (Some(cluster), Some(expires_at)) = (&self.settings.kubeconfig, grant.expires_at)
        else {
            return Ok(None);
        };
        let remaining = (expires_at - self.now()).num_seconds();
        if grant.state != GrantState::Active || remaining <= 0 {
            return Ok(None);
        }
        // The API server refuses tokens shorter than ten minutes; a longer one is still cut off
        // at expiry, when the ServiceAccount is deleted.
        let seconds = remaining.max(MIN_TOKEN_SECONDS);
        let token = self
            .cluster(&grant.cluster)?
            .issue_token(grant, seconds)
            .await?;
        let file = self.templates.kubeconfig(grant, cluster, &token)?;
        let comment = self.templates.note(grant, Note::Kubeconfig, None)?;
        let filename = format!("{}.kubeconfig", grant.binding_name());
        self.adapters
            .chat
            .send_file_dm(&grant.requester, &filename, file.as_bytes(), &comment)
            .await?;
        info!(grant = %grant.id, seconds, "kubeconfig sent");
        Ok(None)
    }
}
