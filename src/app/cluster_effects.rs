//! Kubernetes effects: each is carried out under the grant's state lock, on the grant read again
//! under it, and its result recorded before the lock is let go (see `locks`). What they need
//! from chat (the requester's email before a bind, the DM carrying a kubeconfig) is done outside
//! that lock, so a chat call can never hold up a decision or the removal of access.

use std::sync::Arc;

use tracing::info;

use super::effects::{Next, Outcome, locate, outcome};
use super::{App, EffectError};
use crate::chat::ChatError;
use crate::cluster::ClusterError;
use crate::domain::grant::{Effect, Event, Grant, GrantState, Note};
use crate::domain::identity::Identity;

/// The shortest token the API server issues.
const MIN_TOKEN_SECONDS: i64 = 600;

/// A kubeconfig made for the requester, to be sent by DM once the state lock is let go.
struct Kubeconfig {
    file: String,
    comment: crate::chat::Message,
}

impl App {
    /// Removes the grant's access now if its outbox holds an `Unbind`, without waiting for an
    /// outbox run that may be stuck in a chat call.
    pub(super) async fn remove_access(self: &Arc<Self>, grant_id: &str) {
        let Some(grant) = self.load(grant_id).await else {
            return;
        };
        if let Some(at) = grant.outbox.iter().position(|e| *e == Effect::Unbind) {
            self.carry_out_cluster_effect(&grant, &Effect::Unbind, at)
                .await;
        }
    }

    /// Runs `remove_access` in the background (shutdown waits for it).
    pub(super) fn spawn_remove_access(self: &Arc<Self>, grant_id: String) {
        let app = Arc::clone(self);
        self.tasks
            .spawn(async move { app.remove_access(&grant_id).await });
    }

    /// Carries out the Kubernetes effect `effect`, read at `hint` in `read`'s outbox.
    pub(super) async fn carry_out_cluster_effect(
        self: &Arc<Self>,
        read: &Grant,
        effect: &Effect,
        hint: usize,
    ) -> Next {
        let identity = match effect {
            Effect::Bind => match self.identity_to_bind(read).await {
                Ok(identity) => Some(identity),
                Err(outcome) => return self.record(&read.id, effect, hint, outcome).await,
            },
            _ => None,
        };
        let lock = self.state_locks.get(&read.id);
        let held = lock.lock().await;
        let Some(grant) = self.load(&read.id).await else {
            return Next::Stop;
        };
        let Some(at) = locate(&grant.outbox, effect, hint) else {
            // Carried out or dropped meanwhile: look at the outbox again.
            return Next::At(hint.min(grant.outbox.len()));
        };
        if grant.waits_for_retry(effect, self.now()) {
            return Next::Stop;
        }
        let result = match (effect, identity) {
            (Effect::Bind, Some(identity)) => self.bind(&grant, identity).await,
            (Effect::IssueKubeconfig, _) => match self.make_kubeconfig(&grant).await {
                Ok(Some(kubeconfig)) => {
                    // The DM is a chat call: it is made once the state lock is let go.
                    drop(held);
                    let sent = self.send_kubeconfig(&grant, kubeconfig).await;
                    let outcome = outcome(&grant, effect, sent);
                    return self.record(&grant.id, effect, at, outcome).await;
                }
                nothing_to_send => nothing_to_send.map(|_| None),
            },
            (Effect::UpdateBindingExpiry, _) => self.update_binding_expiry(&grant).await,
            (Effect::Unbind, _) => self.unbind(&grant).await,
            (other, _) => Err(EffectError::Misrouted(other.kind())),
        };
        self.commit(&grant, at, outcome(&grant, effect, result))
            .await
    }

    /// The Kubernetes identity to bind the requester as, or the outcome that ends the attempt.
    async fn identity_to_bind(&self, grant: &Grant) -> Result<Identity, Outcome> {
        let failed = |reason: String| Outcome::Done(Some(Event::BindFailed { reason }));
        let rules = self.identity_rules();
        let email = if rules.is_mapped(&grant.requester) {
            None
        } else {
            match self.adapters.chat.user_email(&grant.requester).await {
                Ok(email) => email,
                Err(ChatError::Refused(code)) => {
                    return Err(failed(format!(
                        "Slack could not look up the requester ({code})"
                    )));
                }
                Err(e) => return Err(outcome(grant, &Effect::Bind, Err(e.into()))),
            }
        };
        rules
            .resolve(&grant.requester, email.as_deref())
            .ok_or_else(|| {
                failed(
                    "the requester's Slack profile has no email address and \
                     kubernetes.identities does not name them"
                        .into(),
                )
            })
    }

    async fn bind(&self, grant: &Grant, identity: Identity) -> Result<Option<Event>, EffectError> {
        let failed = |reason: String| Ok(Some(Event::BindFailed { reason }));
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

    async fn update_binding_expiry(&self, grant: &Grant) -> Result<Option<Event>, EffectError> {
        self.cluster(&grant.cluster)?.update_expiry(grant).await?;
        Ok(None)
    }

    async fn unbind(&self, grant: &Grant) -> Result<Option<Event>, EffectError> {
        self.cluster(&grant.cluster)?.unbind(grant).await?;
        info!(grant = %grant.id, scope = ?grant.scope, "binding removed");
        Ok(None)
    }

    /// A kubeconfig with a token valid until the grant expires; `None` when none is due. The
    /// token only lives in the file, which is not stored, logged or put in any message text.
    async fn make_kubeconfig(&self, grant: &Grant) -> Result<Option<Kubeconfig>, EffectError> {
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
        info!(grant = %grant.id, seconds, "token issued");
        Ok(Some(Kubeconfig {
            file: self.templates.kubeconfig(grant, cluster, &token)?,
            comment: self.templates.note(grant, Note::Kubeconfig, None)?,
        }))
    }

    async fn send_kubeconfig(
        &self,
        grant: &Grant,
        kubeconfig: Kubeconfig,
    ) -> Result<Option<Event>, EffectError> {
        let filename = format!("{}.kubeconfig", grant.binding_name());
        self.adapters
            .chat
            .send_file_dm(
                &grant.requester,
                &filename,
                kubeconfig.file.as_bytes(),
                &kubeconfig.comment,
            )
            .await?;
        info!(grant = %grant.id, "kubeconfig sent");
        Ok(None)
    }
}
