//! The application layer: turns chat input into domain events, persists every decision before
//! acting on it, and carries out the grant's outbox of effects through the adapters.

mod activity;
mod actors;
mod clicks;
mod cluster_effects;
mod commands;
mod departures;
mod digest;
mod effects;
mod home;
mod identity;
mod incidents;
mod locks;
mod on_call;
mod reconcile;
mod review;

pub use activity::{SUMMARY_DELAY, run as report_activity_until_stopped};
pub use reconcile::ReconcileReport;

pub use commands::RequestForm;
pub use effects::RETRY_POLICY;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::chat::{Chat, ChatError};
use crate::clock::SharedClock;
use crate::cluster::{Cluster, ClusterError};
use crate::domain::departure::Departure;
use crate::domain::grant::{DEFAULT_CLUSTER, Event, Grant, Rejection, SubjectDrift};
use crate::domain::identity::{IdentityPolicy, IdentityRules, MappedIdentity};
use crate::domain::permissions::{self, Permission};
use crate::domain::policy::{ApproverRef, Policy};
use crate::domain::rate_limit::RequestLog;
use crate::store::{ActivityStore, AuditLog, GrantStore, StoreError};
use crate::templates::{TemplateError, Templates};
use locks::GrantLocks;

/// Where the bot posts and how it names Kubernetes subjects.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The chat platform, whose templates the bot renders.
    pub platform: crate::chat::Platform,
    pub approvals_channel: String,
    pub audit_channel: String,
    pub subject_prefix: String,
    pub group_prefix: String,
    pub identities: BTreeMap<String, MappedIdentity>,
    /// Who may become a Kubernetes user at all.
    pub identity: IdentityPolicy,
    pub kubeconfig: Option<crate::config::KubeconfigSettings>,
    /// Per-cluster kubeconfig settings, where they differ from `kubeconfig`.
    pub cluster_kubeconfigs: BTreeMap<String, crate::config::KubeconfigSettings>,
    /// The apiserver's audit webhook is configured: requests are matched to grants.
    pub session_activity: bool,
}

pub struct Adapters {
    pub store: Arc<dyn GrantStore>,
    /// What grants' subjects did in the cluster (for sled, the same store).
    pub activity: Arc<dyn ActivityStore>,
    /// The audit log (for sled, the same store: grant changes append to it in their write).
    pub audit: Arc<dyn AuditLog>,
    pub chat: Arc<dyn Chat>,
    /// One adapter per configured cluster, by name.
    pub clusters: BTreeMap<String, Arc<dyn Cluster>>,
    pub clock: SharedClock,
    /// PagerDuty and Opsgenie, for roles that approve whoever is on call.
    pub on_call: Arc<dyn crate::on_call::OnCallDirectory>,
}

pub struct App {
    adapters: Adapters,
    policy: Policy,
    settings: Settings,
    templates: Templates,
    /// Held to decide and write a grant, and around its Kubernetes calls; never across a chat
    /// call (see `locks`).
    state_locks: GrantLocks,
    /// Held by the one task carrying out a grant's outbox, across its chat calls.
    outbox_locks: GrantLocks,
    /// Wakes the scheduler when the set of deadlines may have changed.
    pub(crate) scheduler_wake: Notify,
    /// The permissions the last pre-flight found missing, by cluster; `None` before the first.
    missing_permissions: Mutex<Option<Vec<(String, Permission)>>>,
    /// Accepted requests by requester, for the rate limit (kept in memory: a restart forgives).
    request_log: Mutex<RequestLog>,
    /// Actors' emails for the audit log, as Slack last gave them.
    emails: actors::EmailCache,
    /// Which grant a Kubernetes username acts with, and what is due to be posted of it.
    activity: activity::Tracker,
    tasks: TaskTracker,
    /// Held while the check for requesters who left runs, so passes never pile up.
    requester_check: tokio::sync::Mutex<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// Why an effect could not be carried out now.
#[derive(Debug, thiserror::Error)]
enum EffectError {
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// Chat effects are carried out by the outbox run, Kubernetes effects under the grant's
    /// state lock; one that reached the other is left in the outbox.
    #[error(
        "`{0}` was sent to the wrong path (chat effects run in the outbox run, Kubernetes effects under the state lock)"
    )]
    Misrouted(&'static str),
}

/// A button on one of the bot's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Approve,
    Deny,
    ApproveExtension,
    DenyExtension,
    /// From the reminder: ask to extend by the role's default duration.
    Extend,
    /// From the reminder: revoke my own access now.
    Drop,
    /// On the post-incident review request of a break-glass use.
    Review,
}

impl Action {
    pub fn from_id(action_id: &str) -> Option<Action> {
        Some(match action_id {
            "approve" => Action::Approve,
            "deny" => Action::Deny,
            "approve_extension" => Action::ApproveExtension,
            "deny_extension" => Action::DenyExtension,
            "extend" => Action::Extend,
            "drop" => Action::Drop,
            "review" => Action::Review,
            _ => return None,
        })
    }
}

enum Applied {
    Done(Grant),
    Rejected(Grant, Rejection),
    Unknown,
}

impl App {
    pub fn new(
        adapters: Adapters,
        policy: Policy,
        settings: Settings,
    ) -> Result<Arc<App>, AppError> {
        let templates = Templates::for_platform(settings.platform)?;
        Ok(Arc::new(App {
            adapters,
            policy,
            settings,
            templates,
            state_locks: GrantLocks::default(),
            outbox_locks: GrantLocks::default(),
            scheduler_wake: Notify::new(),
            missing_permissions: Mutex::new(None),
            request_log: Mutex::new(RequestLog::default()),
            emails: actors::EmailCache::default(),
            activity: activity::Tracker::default(),
            tasks: TaskTracker::new(),
            requester_check: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.adapters.clock.now()
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.adapters.clock
    }

    pub(crate) fn identity_rules(&self) -> IdentityRules<'_> {
        IdentityRules {
            subject_prefix: &self.settings.subject_prefix,
            group_prefix: &self.settings.group_prefix,
            table: Some(&self.settings.identities),
            policy: self.settings.identity.clone(),
        }
    }

    /// Sends `Tick` to every grant whose next deadline has passed (timeouts, reminders, expiry)
    /// and runs the outbox of every grant whose retry is due, each in its own task, so a grant
    /// that is busy (its lock held by slow I/O) delays no other.
    pub async fn tick_due(self: &Arc<Self>) -> Result<(), AppError> {
        let now = self.now();
        for grant in self.adapters.store.due(now).await? {
            let state_due = grant.state_deadline().is_some_and(|at| at <= now);
            let retry_due = grant.retry.as_ref().is_some_and(|r| r.next_at <= now);
            if state_due {
                let app = Arc::clone(self);
                self.tasks.spawn(async move {
                    match app.apply_event(&grant.id, &Event::Tick).await {
                        Ok(Applied::Done(g)) => {
                            info!(grant = %g.id, state = g.state.as_str(), "deadline reached");
                            return;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            error!(grant = %grant.id, error = %e, "could not handle a deadline")
                        }
                    }
                    if retry_due {
                        app.spawn_drive(grant.id);
                    }
                });
            } else if retry_due {
                self.spawn_drive(grant.id);
            }
        }
        Ok(())
    }

    /// The adapter of the cluster named `name`, or why there is none.
    pub(crate) fn cluster(&self, name: &str) -> Result<&Arc<dyn Cluster>, ClusterError> {
        self.adapters.clusters.get(name).ok_or_else(|| {
            ClusterError::Refused(format!("cluster `{name}` is not in the configuration"))
        })
    }

    pub(crate) fn cluster_names(&self) -> Vec<String> {
        self.adapters.clusters.keys().cloned().collect()
    }

    /// The kubeconfig settings for grants in `cluster`.
    pub(crate) fn kubeconfig_for(
        &self,
        cluster: &str,
    ) -> Option<&crate::config::KubeconfigSettings> {
        self.settings
            .cluster_kubeconfigs
            .get(cluster)
            .or(self.settings.kubeconfig.as_ref())
    }

    /// Asks every cluster whether the bot may do everything the policy needs there, logs exactly
    /// what is missing, and records it for `/readyz`. An unreachable cluster counts as not ready.
    pub async fn preflight(&self) -> Vec<(String, Permission)> {
        let mut missing = Vec::new();
        for (name, cluster) in &self.adapters.clusters {
            let mut needed = permissions::required(&self.policy);
            if let Some(kubeconfig) = self.kubeconfig_for(name)
                && self.policy.issues_kubeconfigs()
            {
                needed.extend(permissions::for_kubeconfigs(&kubeconfig.namespace));
            }
            for permission in needed {
                match cluster.may(&permission).await {
                    Ok(true) => {}
                    Ok(false) => {
                        error!(cluster = %name, %permission, "the bot's Kubernetes identity lacks a permission the policy needs");
                        missing.push((name.clone(), permission));
                    }
                    Err(e) => {
                        warn!(cluster = %name, %permission, error = %e, "cannot check a permission; not ready");
                        missing.push((name.clone(), permission));
                    }
                }
            }
        }
        *self
            .missing_permissions
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(missing.clone());
        missing
    }

    /// Runs the pre-flight in the background (shutdown waits for it).
    pub fn spawn_preflight(self: &Arc<Self>) {
        let app = Arc::clone(self);
        self.tasks.spawn(async move {
            let missing = app.preflight().await;
            if !missing.is_empty() {
                error!(
                    count = missing.len(),
                    "not ready: grant the bot the missing permissions (see deploy/); /readyz says which"
                );
            }
        });
    }

    /// `Ok` when the last pre-flight found every permission; otherwise what is missing.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        match &*self
            .missing_permissions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
        {
            None => Err(vec!["the permission check has not run yet".into()]),
            Some(missing) if missing.is_empty() => Ok(()),
            Some(missing) => Err(missing
                .iter()
                .map(|(cluster, p)| {
                    if cluster == DEFAULT_CLUSTER {
                        format!("missing permission: {p}")
                    } else {
                        format!("missing permission in cluster {cluster}: {p}")
                    }
                })
                .collect()),
        }
    }

    pub(crate) async fn next_deadline(&self) -> Result<Option<DateTime<Utc>>, AppError> {
        Ok(self.adapters.store.next_deadline().await?)
    }

    /// Carries out every effect left over from a crash or an earlier failure, in the background.
    pub async fn resume(self: &Arc<Self>) -> Result<(), AppError> {
        for grant in self.adapters.store.with_pending_effects().await? {
            self.spawn_drive(grant.id);
        }
        Ok(())
    }

    /// Waits for work started by requests, clicks and deadlines (used at shutdown).
    pub async fn wait_for_background_work(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Carries out the grant's outbox in the background: an `Unbind` in it first, at once, then
    /// the rest in order, once no other run of this grant's outbox is busy (see `locks`).
    fn spawn_drive(self: &Arc<Self>, grant_id: String) {
        let app = Arc::clone(self);
        self.tasks.spawn(async move {
            app.remove_access(&grant_id).await;
            let lock = app.outbox_locks.get(&grant_id);
            let _held = lock.lock().await;
            app.run_outbox(&grant_id).await;
        });
    }

    /// The policy with `role`'s user-group and email approvers looked up now, so every decision
    /// sees group membership as it is. A lookup that fails stands for nobody (fail closed).
    pub(crate) async fn policy_for(&self, role: &str) -> Policy {
        let refs = self.policy.unresolved_approvers(role);
        if refs.is_empty() {
            return self.policy.clone();
        }
        let chat = &self.adapters.chat;
        let mut resolved = HashMap::new();
        for reference in refs {
            let users = match ApproverRef::parse(reference) {
                ApproverRef::Group(group) => chat.usergroup_members(group).await,
                ApproverRef::Email(email) => chat
                    .user_by_email(email)
                    .await
                    .map(|u| u.into_iter().collect()),
                ApproverRef::User(_) | ApproverRef::Invalid(_) => continue,
            };
            match users {
                Ok(users) => {
                    resolved.insert(reference.to_string(), users);
                }
                Err(e) => warn!(
                    approver = reference,
                    error = %e,
                    "cannot look up approvers; they cannot approve now"
                ),
            }
        }
        self.policy.resolved(&resolved)
    }

    /// Decides and persists `event`; its effects are carried out in the background.
    async fn apply_event(
        self: &Arc<Self>,
        grant_id: &str,
        event: &Event,
    ) -> Result<Applied, AppError> {
        // Approver and email lookups call Slack; do them before taking the grant's lock.
        let actor_email = match event {
            // Ending access never waits for Slack.
            Event::Revoke { by } => self.email_without_waiting(by),
            _ => match event.actor() {
                Some(user) => self.email_of(user).await,
                None => None,
            },
        };
        let (policy, drift) = match event {
            Event::Approve { .. }
            | Event::Deny { .. }
            | Event::ApproveExtension { .. }
            | Event::DenyExtension { .. }
            | Event::Review { .. }
            | Event::Revoke { .. } => match self.adapters.store.get(grant_id).await? {
                // Requesters may end their own access: no approver needs looking up.
                Some(grant) if matches!(event, Event::Revoke { by } if *by == grant.requester) => {
                    (self.policy.clone(), None)
                }
                Some(grant) => {
                    let drift = match event {
                        Event::Approve { .. } => self.subject_drift(&grant).await,
                        _ => None,
                    };
                    (self.policy_for(&grant.role).await, drift)
                }
                None => return Ok(Applied::Unknown),
            },
            _ => (self.policy.clone(), None),
        };
        // An approval finding the requester deactivated or no longer one of us binds nobody:
        // their request is withdrawn as if the platform had told us they left.
        let gone = match (event, &drift) {
            (Event::Approve { .. }, Some(SubjectDrift::Refused { rule })) => {
                Departure::of_identity_rule(rule).map(|why| Event::RequesterGone { why })
            }
            _ => None,
        };
        let event = gone.as_ref().unwrap_or(event);
        let next = {
            let lock = self.state_locks.get(grant_id);
            let _held = lock.lock().await;
            let Some(grant) = self.adapters.store.get(grant_id).await? else {
                return Ok(Applied::Unknown);
            };
            let mut next = match grant.apply(event, self.now(), &policy) {
                Ok(next) => next,
                Err(rejection) => return Ok(Applied::Rejected(grant, rejection)),
            };
            if let Some(user) = event.actor() {
                actors::record_email(&mut next.journal, user, actor_email.as_deref());
            }
            if drift.is_some() {
                next.subject_drift = drift;
            }
            self.adapters.store.replace(grant.version, &next).await?;
            self.observe_for_activity(&next);
            next
        };
        self.scheduler_wake.notify_one();
        self.spawn_drive(grant_id.to_string());
        Ok(Applied::Done(next))
    }
}
