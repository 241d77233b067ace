//! The application layer: turns chat input into domain events, persists every decision before
//! acting on it, and carries out the grant's outbox of effects through the adapters.
//!
//! One file per use case. A request reads `commands` (parse, check, create the grant) →
//! `decide` (the state machine's decision, written first) → `effects` (the outbox, in the
//! background) → `cluster_effects` (bind, unbind, kubeconfig). Clicks start in `clicks`,
//! deadlines in `deadlines`; `reconcile`, `activity`, `departures`, `review`, `home`, `digest`
//! and `preflight` are the rest of what the bot does on its own.

mod activity;
mod actors;
mod claims;
mod cleanup;
mod clicks;
mod cluster_effects;
mod commands;
mod deadlines;
mod decide;
mod departures;
mod digest;
mod effects;
mod home;
mod identity;
mod incidents;
mod locks;
mod measured;
mod on_call;
mod preflight;
mod reconcile;
mod replicas;
mod review;
mod summary;

pub use activity::{SUMMARY_DELAY, run as report_activity_until_stopped};
pub use reconcile::ReconcileReport;

pub use commands::RequestForm;
use decide::Applied;
pub use effects::RETRY_POLICY;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

use crate::chat::{Chat, ChatError};
use crate::clock::SharedClock;
use crate::cluster::{Cluster, ClusterError};
use crate::domain::activity::Cleanup;
use crate::domain::identity::{IdentityPolicy, IdentityRules, MappedIdentity};
use crate::domain::permissions::Permission;
use crate::domain::policy::Policy;
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
    /// Whether an audit webhook (SIEM) takes the log: its backlog is measured.
    pub audit_webhook: bool,
    /// Whether metrics are recorded and served (`GET /metrics`).
    pub metrics: bool,
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
    metrics: Arc<crate::metrics::Metrics>,
    /// The audit chain as the scrapes have checked it so far (see `measured`).
    chain_watch: tokio::sync::Mutex<measured::ChainWatch>,
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

/// A click on one of the bot's buttons: what it asks, about which grant, and the message
/// clicked (a cleanup updates it in place; `None` on the App Home or where the platform does not
/// say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub grant_id: String,
    pub asks: Asks,
    pub message: Option<crate::domain::grant::MessageRef>,
}

/// What a button asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asks {
    /// A decision on the grant itself.
    Grant(Action),
    /// On the session summary: a cleanup of one item of the grant's end report, named by the
    /// audit ID of the request that made it.
    Cleanup { how: Cleanup, item: String },
}

impl Asks {
    /// The button `action_id` names, with the item its value carries after the grant id
    /// (cleanup buttons only); `None` for a button the bot does not know.
    pub fn of(action_id: &str, item: Option<&str>) -> Option<Asks> {
        if let Some(action) = Action::from_id(action_id) {
            return Some(Asks::Grant(action));
        }
        let how = match action_id {
            "mark_reviewed" => Cleanup::Reviewed,
            "delete_leftover" => Cleanup::Deleted,
            "restart_pod" => Cleanup::Restarted,
            _ => return None,
        };
        Some(Asks::Cleanup {
            how,
            item: item?.to_string(),
        })
    }
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

impl App {
    pub fn new(
        mut adapters: Adapters,
        policy: Policy,
        settings: Settings,
    ) -> Result<Arc<App>, AppError> {
        let templates = Templates::for_platform(settings.platform)?;
        let metrics = Arc::new(if settings.metrics {
            crate::metrics::Metrics::new()
        } else {
            crate::metrics::Metrics::off()
        });
        metered(&mut adapters, &metrics);
        let clusters: Vec<&str> = adapters.clusters.keys().map(String::as_str).collect();
        metrics.start_at_zero(policy.roles.keys().map(String::as_str), &clusters);
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
            metrics,
            chain_watch: Default::default(),
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

    /// Waits for work started by requests, clicks and deadlines (used at shutdown).
    pub async fn wait_for_background_work(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Every call to the clusters, the chat platform and the store counted and timed
/// (`crate::metrics`).
fn metered(adapters: &mut Adapters, metrics: &Arc<crate::metrics::Metrics>) {
    use crate::metrics::{MeteredChat, MeteredCluster, MeteredStore};
    if !metrics.is_on() {
        return;
    }
    let store = Arc::clone(&adapters.store);
    adapters.store = Arc::new(MeteredStore::new(store, Arc::clone(metrics)));
    let audit = Arc::clone(&adapters.audit);
    adapters.audit = Arc::new(MeteredStore::new(audit, Arc::clone(metrics)));
    let activity = Arc::clone(&adapters.activity);
    adapters.activity = Arc::new(MeteredStore::new(activity, Arc::clone(metrics)));
    for (name, cluster) in adapters.clusters.iter_mut() {
        let inner = Arc::clone(cluster);
        *cluster = Arc::new(MeteredCluster::new(inner, Arc::clone(metrics), name));
    }
    let chat = Arc::clone(&adapters.chat);
    adapters.chat = Arc::new(MeteredChat::new(chat, Arc::clone(metrics)));
}
