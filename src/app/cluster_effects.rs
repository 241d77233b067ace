//! Kubernetes effects: each is carried out under the grant's state lock, on the grant read again
//! under it, and its result recorded before the lock is let go (see `locks`). What they need
//! from chat (the requester's email before a bind, the DM carrying a kubeconfig) is done outside
//! that lock, so a chat call can never hold up a decision or the removal of access.

use std::sync::Arc;
use std::time::Instant;

use tracing::{info, warn};

use super::effects::{Next, Outcome, locate, outcome};
use super::{App, EffectError};
use crate::cluster::{Cluster, ClusterError, Unbound};
use crate::domain::failure::Failure;
use crate::domain::grant::{Effect, Event, Grant, GrantState, Note};
use crate::domain::identity::Identity;
use crate::domain::reconcile::found_removed;
use crate::domain::revocation::{self, Verification};

/// The shortest token the API server issues.
const MIN_TOKEN_SECONDS: i64 = 600;

/// What making a grant's kubeconfig came to.
enum Made {
    /// The grant is not active (any more): nothing to send.
    NothingDue,
    Kubeconfig(Kubeconfig),
    /// It cannot be made, for this reason; the requester is told and the audit log records it.
    Impossible(Failure),
}

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
            self.carry_out_cluster_effect(&grant, &Effect::Unbind, at, Instant::now())
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
        started: Instant,
    ) -> Next {
        let identity = match effect {
            Effect::Bind => match self.identity_to_bind(read).await {
                Ok(identity) => Some(identity),
                Err(outcome) => {
                    outcome.log(read, effect, started);
                    return self.record(&read.id, effect, hint, outcome).await;
                }
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
                Ok(Made::Kubeconfig(kubeconfig)) => {
                    // The DM is a chat call: it is made once the state lock is let go.
                    drop(held);
                    let sent = self.send_kubeconfig(&grant, kubeconfig).await;
                    let outcome = outcome(&grant, effect, sent);
                    outcome.log(&grant, effect, started);
                    return self.record(&grant.id, effect, at, outcome).await;
                }
                Ok(Made::Impossible(reason)) => {
                    warn!(grant = %grant.id, cluster = %grant.cluster, ?reason, "no kubeconfig could be made");
                    Ok(Some(Event::KubeconfigFailed { reason }))
                }
                Ok(Made::NothingDue) => Ok(None),
                Err(e) => Err(e),
            },
            (Effect::UpdateBindingExpiry, _) => self.update_binding_expiry(&grant).await,
            (Effect::Unbind, _) => self.unbind(&grant).await,
            (Effect::VerifyRevocation, _) => self.verify_revocation(&grant).await,
            (other, _) => Err(EffectError::Misrouted(other.kind())),
        };
        let outcome = outcome(&grant, effect, result);
        outcome.log(&grant, effect, started);
        self.commit(&grant, at, outcome).await
    }

    /// Exactly the subject resolved at the request and shown to the approvers (a profile changed
    /// since must not change who is bound), or the outcome that ends the attempt.
    async fn identity_to_bind(&self, grant: &Grant) -> Result<Identity, Outcome> {
        grant
            .identity()
            .ok_or(Outcome::Done(Some(Event::BindFailed {
                reason: Failure::NoSubjectRecorded,
            })))
    }

    async fn bind(&self, grant: &Grant, identity: Identity) -> Result<Option<Event>, EffectError> {
        let failed = |reason: Failure| Ok(Some(Event::BindFailed { reason }));
        // The access clock starts now, when the binding is created.
        let expires_at = self.now() + grant.duration();
        let Ok(cluster) = self.cluster(&grant.cluster) else {
            return failed(Failure::UnknownCluster {
                cluster: grant.cluster.clone(),
            });
        };
        let before = standing_access(cluster.as_ref(), grant, &identity).await;
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
                    before,
                }))
            }
            Err(ClusterError::Refused(error)) => failed(Failure::Refused { error }),
            // Retried with backoff by the outbox run, within the binding's budget.
            Err(e) => Err(e.into()),
        }
    }

    async fn update_binding_expiry(&self, grant: &Grant) -> Result<Option<Event>, EffectError> {
        self.cluster(&grant.cluster)?.update_expiry(grant).await?;
        Ok(None)
    }

    async fn unbind(&self, grant: &Grant) -> Result<Option<Event>, EffectError> {
        let unbound = self.cluster(&grant.cluster)?.unbind(grant).await?;
        self.note_revoked(grant);
        info!(grant = %grant.id, scope = ?grant.scope, ?unbound, "binding removed");
        Ok(found_removed(grant, unbound == Unbound::AlreadyGone))
    }

    /// Asks the cluster, once the bindings are gone, whether the subject can still do what the
    /// role allowed, and if so which bindings name it. A refused question ends with the
    /// revocation unverified; an unavailable cluster is retried, within a budget.
    async fn verify_revocation(&self, grant: &Grant) -> Result<Option<Event>, EffectError> {
        let Some(subject) = grant.identity() else {
            return Ok(None);
        };
        let cluster = self.cluster(&grant.cluster)?;
        let unverified = |error| {
            let failure = Failure::Refused { error };
            let verification = Verification::Unverified { failure };
            Ok(Some(Event::RevocationVerified { verification }))
        };
        let own = grant.binding_name();
        let mut answers = Vec::new();
        for (question, answer) in ask_all(cluster.as_ref(), grant, &subject).await {
            match answer {
                // Asked again after the retry's wait: by then the deletion has reached the
                // apiserver's RBAC cache.
                Ok(answer) if answer.through_own_binding(&own) => {
                    let lag = "still allowed through the grant's own binding: the apiserver has not yet seen its deletion";
                    return Err(ClusterError::Unavailable(lag.into()).into());
                }
                Ok(answer) => answers.push((question, answer.allowed)),
                Err(ClusterError::Refused(error)) => return unverified(error),
                Err(e) => return Err(e.into()),
            }
        }
        let standing = grant.standing.as_deref();
        let bindings = if revocation::allowed_beyond(&answers, standing) {
            match cluster.bindings_naming(&subject).await {
                Ok(bindings) => Ok(bindings),
                Err(ClusterError::Refused(error)) => Err(error),
                Err(e) => return Err(e.into()),
            }
        } else {
            Ok(Vec::new())
        };
        let verification = Verification::of(&answers, standing, bindings, &own);
        if verification.verified() {
            info!(grant = %grant.id, user = %subject.user, "revocation verified: no longer allowed");
        } else {
            warn!(grant = %grant.id, user = %subject.user, ?verification, "access not ended: still allowed after the binding was removed");
        }
        Ok(Some(Event::RevocationVerified { verification }))
    }

    /// A kubeconfig for the grant's own cluster (its server, CA and name) with a token from it,
    /// valid until the grant expires. The token only lives in the file, which is not stored,
    /// logged or put in any message text.
    async fn make_kubeconfig(&self, grant: &Grant) -> Result<Made, EffectError> {
        let Some(expires_at) = grant.expires_at else {
            return Ok(Made::NothingDue);
        };
        let remaining = (expires_at - self.now()).num_seconds();
        if grant.state != GrantState::Active || remaining <= 0 {
            return Ok(Made::NothingDue);
        }
        let Some(settings) = self.kubeconfig_for(&grant.cluster) else {
            return Ok(Made::Impossible(Failure::NoKubeconfigSettings {
                cluster: grant.cluster.clone(),
            }));
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
            Err(ClusterError::Refused(error)) => {
                return Ok(Made::Impossible(Failure::Refused { error }));
            }
            // Retried with backoff by the outbox run.
            Err(e) => return Err(e.into()),
        };
        info!(grant = %grant.id, cluster = %grant.cluster, seconds, "token issued");
        Ok(Made::Kubeconfig(Kubeconfig {
            file: self.templates.kubeconfig(grant, settings, &token)?,
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

/// What `subject` may already do of what the grant's role allows, asked before the binding
/// exists: access the grant's end does not take away. `None` when the cluster could not answer,
/// or answered through the grant's own binding (a bind repeated after a crash): the end is then
/// judged on everything still allowed.
async fn standing_access(
    cluster: &dyn Cluster,
    grant: &Grant,
    subject: &Identity,
) -> Option<Vec<revocation::StillAllowed>> {
    let own = grant.binding_name();
    let mut allowed = Vec::new();
    for (question, answer) in ask_all(cluster, grant, subject).await {
        let answer = answer.ok()?;
        if answer.through_own_binding(&own) {
            return None;
        }
        if answer.allowed {
            allowed.push(revocation::StillAllowed::of(&question));
        }
    }
    Some(allowed)
}

/// How many of a grant's questions are asked of the apiserver at once.
const QUESTIONS_AT_ONCE: usize = 8;

/// Every question about `grant`'s scope asked for `subject`, several at a time (they are on the
/// path from approval to binding, and each is a round trip to the apiserver), answered in the
/// order asked.
async fn ask_all(
    cluster: &dyn Cluster,
    grant: &Grant,
    subject: &Identity,
) -> Vec<(
    crate::domain::permissions::Permission,
    Result<revocation::Answer, ClusterError>,
)> {
    use futures::stream::{self, StreamExt};
    stream::iter(revocation::questions(grant))
        .map(|question| async move {
            let answer = cluster.subject_may(subject, &question).await;
            (question, answer)
        })
        .buffered(QUESTIONS_AT_ONCE)
        .collect()
        .await
}
