//! The application layer: turns chat input into domain events, persists every decision before
//! acting on it, and carries out the grant's outbox of effects through the adapters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::chat::{Chat, ChatError, Message};
use crate::clock::SharedClock;
use crate::cluster::{Cluster, ClusterError};
use crate::domain::command::{self, Command};
use crate::domain::grant::{Effect, Event, Grant, NewRequest, Rejection};
use crate::domain::policy::Policy;
use crate::store::{GrantStore, StoreError};
use crate::templates::{TemplateError, Templates};

/// Where the bot posts and how it names Kubernetes subjects.
#[derive(Debug, Clone)]
pub struct Settings {
    pub approvals_channel: String,
    pub audit_channel: String,
    pub subject_prefix: String,
}

pub struct Adapters {
    pub store: Arc<dyn GrantStore>,
    pub chat: Arc<dyn Chat>,
    pub cluster: Arc<dyn Cluster>,
    pub clock: SharedClock,
}

/// How often, and how far apart, a binding is attempted before the grant is reported Failed.
const BIND_ATTEMPTS: u32 = 3;
const BIND_BACKOFF: Duration = Duration::from_millis(200);

pub struct App {
    adapters: Adapters,
    policy: Policy,
    settings: Settings,
    templates: Templates,
    locks: GrantLocks,
    /// Wakes the scheduler when the set of deadlines may have changed.
    pub(crate) scheduler_wake: Notify,
    tasks: TaskTracker,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// Why an effect could not be carried out now; it stays in the outbox and is tried again later.
#[derive(Debug, thiserror::Error)]
enum EffectError {
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

impl App {
    pub fn new(
        adapters: Adapters,
        policy: Policy,
        settings: Settings,
    ) -> Result<Arc<App>, AppError> {
        Ok(Arc::new(App {
            adapters,
            policy,
            settings,
            templates: Templates::new()?,
            locks: GrantLocks::default(),
            scheduler_wake: Notify::new(),
            tasks: TaskTracker::new(),
        }))
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.adapters.clock.now()
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.adapters.clock
    }

    /// Handles `/prod-access …` and returns the ephemeral reply for the person who typed it.
    pub async fn handle_command(
        self: &Arc<Self>,
        user: &str,
        channel: &str,
        text: &str,
    ) -> Message {
        match self.try_command(user, channel, text).await {
            Ok(reply) => reply,
            Err(e) => {
                error!(error = %e, user, "request failed; nothing was stored");
                self.templates
                    .internal_error_on_request(&self.policy)
                    .unwrap_or_else(|_| fallback("Something went wrong; nothing was requested."))
            }
        }
    }

    async fn try_command(
        self: &Arc<Self>,
        user: &str,
        channel: &str,
        text: &str,
    ) -> Result<Message, AppError> {
        let args = match command::parse(text) {
            Ok(Command::Help) => return Ok(self.templates.help(&self.policy)?),
            Ok(Command::Request(args)) => args,
            Err(e) => return Ok(self.templates.parse_refused(&e, &self.policy)?),
        };
        let terms = match self.policy.evaluate(&args) {
            Ok(terms) => terms,
            Err(refusal) => return Ok(self.templates.policy_refused(&refusal, &self.policy)?),
        };
        let grant = Grant::request(
            NewRequest {
                id: new_grant_id(),
                requester: user,
                requested_in: channel,
                reason: &args.reason,
                terms,
            },
            self.now(),
        );
        let reply = self
            .templates
            .request_received(&grant, self.policy.approvers_for(&grant.role))?;
        self.adapters.store.insert(&grant).await?;
        info!(grant = %grant.id, user, role = %grant.role, namespace = %grant.namespace, "access requested");
        self.spawn_drive(grant.id);
        Ok(reply)
    }

    /// Takes an Approve or Deny click in the background (Slack wants its answer within 3
    /// seconds); shutdown waits for it to finish.
    pub fn spawn_decision(
        self: &Arc<Self>,
        grant_id: String,
        user: String,
        channel: String,
        decision: Decision,
    ) {
        let app = Arc::clone(self);
        self.tasks.spawn(async move {
            app.handle_decision(&grant_id, &user, &channel, decision)
                .await;
        });
    }

    /// Handles an Approve or Deny click; a refused click is answered ephemerally and changes nothing.
    pub async fn handle_decision(
        &self,
        grant_id: &str,
        user: &str,
        channel: &str,
        decision: Decision,
    ) {
        let event = match decision {
            Decision::Approve => Event::Approve {
                approver: user.to_string(),
            },
            Decision::Deny => Event::Deny {
                approver: user.to_string(),
            },
        };
        let refusal = match self.apply_event(grant_id, &event).await {
            Ok(Applied::Done(_)) => return,
            Ok(Applied::Rejected(grant, rejection)) => {
                info!(
                    grant = grant_id,
                    user,
                    reason = rejection.kind(),
                    "click refused"
                );
                self.templates
                    .action_refused(&rejection, &grant, &self.policy)
            }
            Ok(Applied::Unknown) => self.templates.unknown_grant(grant_id),
            Err(e) => {
                error!(grant = grant_id, user, error = %e, "decision failed");
                self.templates.internal_error_on_action(grant_id)
            }
        };
        match refusal {
            Ok(message) => {
                if let Err(e) = self
                    .adapters
                    .chat
                    .post_ephemeral(channel, user, &message)
                    .await
                {
                    warn!(grant = grant_id, user, error = %e, "could not tell the user why their click was refused");
                }
            }
            Err(e) => error!(error = %e, "could not render a refusal"),
        }
    }

    /// Expires every active grant whose deadline has passed.
    pub async fn expire_due(&self) -> Result<(), AppError> {
        let now = self.now();
        for grant in self.adapters.store.due(now).await? {
            match self.apply_event(&grant.id, &Event::Expire).await {
                Ok(Applied::Done(g)) => info!(grant = %g.id, "access expired"),
                Ok(_) => {}
                Err(e) => error!(grant = %grant.id, error = %e, "could not expire"),
            }
        }
        Ok(())
    }

    pub(crate) async fn next_expiry(&self) -> Result<Option<DateTime<Utc>>, AppError> {
        Ok(self.adapters.store.next_expiry().await?)
    }

    /// Carries out every effect left over from a crash or an earlier failure.
    pub async fn resume(&self) -> Result<(), AppError> {
        for grant in self.adapters.store.with_pending_effects().await? {
            let lock = self.locks.get(&grant.id);
            let _held = lock.lock().await;
            self.drive_locked(&grant.id).await;
        }
        Ok(())
    }

    /// Waits for work started by requests and clicks (used at shutdown).
    pub async fn wait_for_background_work(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    fn spawn_drive(self: &Arc<Self>, grant_id: String) {
        let app = Arc::clone(self);
        self.tasks.spawn(async move {
            let lock = app.locks.get(&grant_id);
            let _held = lock.lock().await;
            app.drive_locked(&grant_id).await;
        });
    }

    async fn apply_event(&self, grant_id: &str, event: &Event) -> Result<Applied, AppError> {
        let lock = self.locks.get(grant_id);
        let _held = lock.lock().await;
        let Some(grant) = self.adapters.store.get(grant_id).await? else {
            return Ok(Applied::Unknown);
        };
        let next = match grant.apply(event, self.now(), &self.policy) {
            Ok(next) => next,
            Err(rejection) => return Ok(Applied::Rejected(grant, rejection)),
        };
        self.adapters.store.replace(grant.version, &next).await?;
        self.drive_locked(grant_id).await;
        Ok(Applied::Done(next))
    }

    /// Runs the outbox in order; the caller holds the grant's lock. An effect that fails stays
    /// first in the outbox, so nothing after it runs out of order.
    async fn drive_locked(&self, grant_id: &str) {
        loop {
            let grant = match self.adapters.store.get(grant_id).await {
                Ok(Some(grant)) => grant,
                Ok(None) => return,
                Err(e) => {
                    error!(grant = grant_id, error = %e, "cannot load grant");
                    return;
                }
            };
            let Some(effect) = grant.outbox.first().cloned() else {
                return;
            };
            let follow_up = match self.execute(&grant, &effect).await {
                Ok(follow_up) => follow_up,
                Err(e) => {
                    warn!(grant = grant_id, ?effect, error = %e, "effect failed; will retry");
                    return;
                }
            };
            let mut next = grant.complete_first_effect();
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
            if let Err(e) = self.adapters.store.replace(grant.version, &next).await {
                error!(grant = grant_id, error = %e, "cannot record a carried-out effect");
                return;
            }
            self.scheduler_wake.notify_one();
        }
    }

    async fn execute(&self, grant: &Grant, effect: &Effect) -> Result<Option<Event>, EffectError> {
        let chat = &self.adapters.chat;
        match effect {
            Effect::PostApprovalMessage => {
                let message = self.templates.approval_message(grant)?;
                let posted = chat
                    .post(&self.settings.approvals_channel, &message)
                    .await?;
                Ok(Some(Event::ApprovalMessagePosted { message: posted }))
            }
            Effect::UpdateApprovalMessage => {
                if let Some(at) = &grant.approval_message {
                    chat.update(at, &self.templates.approval_message(grant)?)
                        .await?;
                }
                Ok(None)
            }
            Effect::Audit { step } => {
                chat.post(
                    &self.settings.audit_channel,
                    &self.templates.audit(grant, *step)?,
                )
                .await?;
                Ok(None)
            }
            Effect::Bind => self.bind(grant).await,
            Effect::Unbind => {
                self.adapters.cluster.unbind(grant).await?;
                info!(grant = %grant.id, namespace = %grant.namespace, "binding removed");
                Ok(None)
            }
        }
    }

    async fn bind(&self, grant: &Grant) -> Result<Option<Event>, EffectError> {
        let failed = |reason: String| Ok(Some(Event::BindFailed { reason }));
        let email = match self.adapters.chat.user_email(&grant.requester).await {
            Ok(Some(email)) => email,
            Ok(None) => return failed("the requester's Slack profile has no email address".into()),
            Err(ChatError::Refused(code)) => {
                return failed(format!("Slack could not look up the requester ({code})"));
            }
            Err(e) => return Err(e.into()),
        };
        let subject = format!("{}{}", self.settings.subject_prefix, email);
        let mut attempt = 1;
        loop {
            match self.adapters.cluster.bind(grant, &subject).await {
                Ok(()) => {
                    info!(grant = %grant.id, namespace = %grant.namespace, %subject, "binding created");
                    return Ok(Some(Event::Bound { subject }));
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
}

enum Applied {
    Done(Grant),
    Rejected(Grant, Rejection),
    Unknown,
}

fn fallback(text: &str) -> Message {
    Message(serde_json::json!({ "text": text }))
}

/// Short, lowercase and label-safe, so it fits Kubernetes names and labels.
fn new_grant_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// One async lock per grant, so clicks, expiry and outbox runs on the same grant never interleave.
#[derive(Default)]
struct GrantLocks(Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>);

impl GrantLocks {
    fn get(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = locks.get(id).and_then(Weak::upgrade) {
            return lock;
        }
        locks.retain(|_, weak| weak.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(id.to_string(), Arc::downgrade(&lock));
        lock
    }
}
