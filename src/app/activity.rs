//! Session activity: which grant a Kubernetes request was made with, and the thread replies
//! and final summary that say what was done. The apiserver's audit webhook sends every request
//! in the cluster; the index answers "whose grant?" from memory, so the many requests of no
//! grant cost one map lookup each.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use tracing::{error, warn};

use super::{App, AppError};
use crate::chat::{ChatError, Message};
use crate::domain::activity::{KubeRequest, NotableAction, SessionActivity, Tally};
use crate::domain::audit::{AuditEvent, AuditKind};
use crate::domain::grant::{Grant, GrantState, Scope};
use crate::store::GrantRequests;

/// The apiserver's clock and the bot's differ a little; requests this close outside a grant's
/// window still count as made with it.
const CLOCK_SKEW: Duration = Duration::seconds(5);
/// How long after a grant ends its subject's requests are still matched: the apiserver sends
/// its audit events in batches, up to 30 s late by default.
const LATE_EVENTS: Duration = Duration::minutes(10);
/// The final summary waits this long after the grant ends, so the apiserver's last batches of
/// the session (30 s apart by default, and retried with backoff) are in it.
pub const SUMMARY_DELAY: Duration = Duration::minutes(3);
/// How many kinds of request a reply lists; the rest are counted.
pub(super) const LINES_PER_REPLY: usize = 12;
/// After a failed post or store read, the reporter tries again this much later.
const REPORT_RETRY: Duration = Duration::seconds(30);
/// A reply that failed this many times in a row (about 5 minutes) is given up.
const MAX_POST_ATTEMPTS: u32 = 10;

/// When a finished grant's access ended: its recorded end, else its expiry, else `now`.
fn ended_at(grant: &Grant, now: DateTime<Utc>) -> DateTime<Utc> {
    grant.ended_at.or(grant.expires_at).unwrap_or(now)
}

/// Where and when one grant's subject acts with it.
#[derive(Debug, Clone)]
struct Window {
    grant: String,
    cluster: String,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    namespaces: Option<Vec<String>>,
}

impl Window {
    fn covers(&self, at: DateTime<Utc>) -> bool {
        self.from - CLOCK_SKEW <= at && at <= self.until + CLOCK_SKEW
    }

    /// Prefer the grant whose scope holds the request's namespace, then a cluster-wide one.
    fn fit(&self, namespace: Option<&str>) -> u8 {
        match (&self.namespaces, namespace) {
            (Some(names), Some(ns)) if names.iter().any(|n| n == ns) => 2,
            (None, _) => 1,
            _ => 0,
        }
    }
}

/// What session activity keeps in memory: the index, and when each grant has something to post.
#[derive(Default)]
pub(crate) struct Tracker {
    pub(crate) index: ActivityIndex,
    /// Grant id → when the reporter should look at it next (only grants with something coming).
    due: std::sync::Mutex<HashMap<String, DateTime<Utc>>>,
    /// Wakes the reporter when something may have fallen due earlier than it sleeps.
    pub(super) wake: tokio::sync::Notify,
    /// Failed posts in a row, by grant.
    failures: std::sync::Mutex<HashMap<String, u32>>,
}

impl Tracker {
    /// Counts a failed post about `grant`; how many in a row there are now.
    fn post_failed(&self, grant: &str) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let count = failures.entry(grant.to_string()).or_default();
        *count += 1;
        *count
    }

    /// A post about `grant` went out (or was given up): its failures are forgotten.
    fn post_done(&self, grant: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(grant);
    }

    /// The reporter looks at `grant` at `at` (or earlier, if it already would).
    pub(super) fn schedule(&self, grant: &str, at: DateTime<Utc>) {
        let mut due = self.due.lock().unwrap_or_else(|p| p.into_inner());
        let slot = due.entry(grant.to_string()).or_insert(at);
        *slot = (*slot).min(at);
        drop(due);
        self.wake.notify_one();
    }

    /// Takes the grants due at `now`.
    fn take_due(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut due = self.due.lock().unwrap_or_else(|p| p.into_inner());
        let ready: Vec<String> = due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(grant, _)| grant.clone())
            .collect();
        for grant in &ready {
            due.remove(grant);
        }
        ready
    }

    fn next_due(&self) -> Option<DateTime<Utc>> {
        let due = self.due.lock().unwrap_or_else(|p| p.into_inner());
        due.values().min().copied()
    }
}

/// The grant a request was made with.
pub(crate) struct Found {
    pub(crate) grant: String,
    /// After the grant ended, allowed by its binding all the same.
    pub(crate) after_end: bool,
}

/// Kubernetes usernames → the windows of the grants bound to them.
#[derive(Default)]
pub(crate) struct ActivityIndex {
    inner: RwLock<IndexInner>,
}

#[derive(Default)]
struct IndexInner {
    by_user: HashMap<String, Vec<Window>>,
    /// Ended grants' usernames, in the order they stop being matched.
    forget: VecDeque<(DateTime<Utc>, String, String)>,
}

impl ActivityIndex {
    /// The grant `username` made a request with at `at` in `cluster`, if any: one whose
    /// window holds `at`, or one that had ended whose own binding still allowed the request
    /// (`allowed_by`, the apiserver's `authorization.k8s.io/reason`).
    pub(crate) fn grant_for(
        &self,
        cluster: &str,
        username: &str,
        at: DateTime<Utc>,
        namespace: Option<&str>,
        allowed_by: Option<&str>,
    ) -> Option<Found> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let windows = inner.by_user.get(username)?;
        let mine = windows.iter().filter(|w| w.cluster == cluster);
        if let Some(w) = mine
            .clone()
            .filter(|w| w.covers(at))
            .max_by_key(|w| (w.fit(namespace), std::cmp::Reverse(w.from)))
        {
            return Some(Found {
                grant: w.grant.clone(),
                after_end: false,
            });
        }
        let reason = allowed_by?;
        mine.filter(|w| at > w.until && at <= w.until + LATE_EVENTS)
            .find(|w| reason.contains(&format!("\"prod-access-{}", w.grant)))
            .map(|w| Found {
                grant: w.grant.clone(),
                after_end: true,
            })
    }

    /// Brings the index in line with `grant` as just stored; true when a matched grant ended.
    fn observe(&self, grant: &Grant, usernames: Vec<String>, now: DateTime<Utc>) -> bool {
        let window = match (grant.state, grant.expires_at) {
            (GrantState::Active, Some(expires_at)) => Window {
                grant: grant.id.clone(),
                cluster: grant.cluster.clone(),
                from: expires_at - Duration::seconds(grant.duration_secs as i64),
                until: expires_at,
                namespaces: match &grant.scope {
                    Scope::Namespaces { names } => Some(names.clone()),
                    Scope::Cluster => None,
                },
            },
            (GrantState::Expired | GrantState::Revoked, _) => {
                return self.end(grant, &usernames, now);
            }
            _ => return false,
        };
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        for username in usernames {
            let windows = inner.by_user.entry(username).or_default();
            windows.retain(|w| w.grant != window.grant);
            windows.push(window.clone());
        }
        false
    }

    fn end(&self, grant: &Grant, usernames: &[String], now: DateTime<Utc>) -> bool {
        let ended = ended_at(grant, now);
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let mut found = false;
        for username in usernames {
            let Some(windows) = inner.by_user.get_mut(username) else {
                continue;
            };
            for w in windows.iter_mut().filter(|w| w.grant == grant.id) {
                w.until = w.until.min(ended);
                found = true;
            }
        }
        if found {
            for username in usernames {
                inner
                    .forget
                    .push_back((ended + LATE_EVENTS, username.clone(), grant.id.clone()));
            }
        }
        while inner.forget.front().is_some_and(|(at, _, _)| *at <= now) {
            let Some((_, username, id)) = inner.forget.pop_front() else {
                break;
            };
            if let Some(windows) = inner.by_user.get_mut(&username) {
                windows.retain(|w| w.grant != id);
                if windows.is_empty() {
                    inner.by_user.remove(&username);
                }
            }
        }
        found
    }
}

impl App {
    /// Whether the audit webhook is configured (the index and the reporter then run).
    pub fn session_activity_enabled(&self) -> bool {
        self.settings.session_activity
    }

    /// The cluster whose apiserver calls the webhook: `named` (`/k8s/audit/<cluster>`), or the
    /// only one.
    pub(crate) fn cluster_of_audit_webhook(&self, named: Option<&str>) -> Result<String, String> {
        let clusters = self.cluster_names();
        match named {
            Some(name) if clusters.iter().any(|c| c == name) => Ok(name.to_string()),
            Some(name) => Err(format!(
                "unknown cluster `{name}`; the configured ones are: {}",
                clusters.join(", ")
            )),
            None if clusters.len() == 1 => Ok(clusters[0].clone()),
            None => Err(format!(
                "several clusters are configured: add the cluster to the webhook URL, as in …/k8s/audit/{} (one of: {})",
                clusters[0],
                clusters.join(", ")
            )),
        }
    }

    pub(crate) fn activity_index(&self) -> &ActivityIndex {
        &self.activity.index
    }

    /// The Kubernetes usernames `grant`'s subject acts as: the bound user, and the grant's
    /// ServiceAccount when it issues a token.
    fn usernames(&self, grant: &Grant) -> Vec<String> {
        let mut names: Vec<String> = grant.subject.iter().cloned().collect();
        if grant.kubeconfig
            && let Some(kubeconfig) = self.kubeconfig_for(&grant.cluster)
        {
            names.push(format!(
                "system:serviceaccount:{}:{}",
                kubeconfig.namespace,
                grant.binding_name()
            ));
        }
        names
    }

    /// Called after every stored change of a grant.
    pub(super) fn observe_for_activity(&self, grant: &Grant) {
        if !self.settings.session_activity {
            return;
        }
        let now = self.now();
        if self
            .activity
            .index
            .observe(grant, self.usernames(grant), now)
        {
            self.activity
                .schedule(&grant.id, ended_at(grant, now) + SUMMARY_DELAY);
        }
    }

    /// Fills the index with every active grant, and has the reporter look at every grant with
    /// something still to post (at start-up, before the webhook is served).
    pub async fn index_active_grants(&self) -> Result<usize, AppError> {
        let mut count = 0;
        for grant in self.adapters.store.open_grants().await? {
            if grant.state == GrantState::Active {
                self.activity
                    .index
                    .observe(&grant, self.usernames(&grant), self.now());
                count += 1;
            }
        }
        for record in self.adapters.activity.unsummarised_activity().await? {
            self.activity.schedule(&record.grant, self.now());
        }
        Ok(count)
    }

    /// Stores the requests of a webhook batch that were made with grants (by grant id); durable
    /// when this returns.
    pub async fn record_activity(
        &self,
        by_grant: BTreeMap<String, Vec<KubeRequest>>,
    ) -> Result<(), AppError> {
        let mut batch = Vec::with_capacity(by_grant.len());
        for (id, requests) in by_grant {
            let Some(grant) = self.adapters.store.get(&id).await? else {
                continue;
            };
            batch.push(GrantRequests {
                about: AuditEvent::about(&grant, AuditKind::SessionActivity, None, self.now()),
                grant: id,
                requests,
            });
        }
        let words = |action: &NotableAction| {
            self.templates.notable_record(action).unwrap_or_else(|e| {
                error!(error = %e, "cannot word a notable action for the audit log; stored as data");
                serde_json::to_string(action).unwrap_or_default()
            })
        };
        for (grant, due) in self
            .adapters
            .activity
            .record_activity(batch, &words)
            .await?
        {
            self.activity.schedule(&grant, due);
        }
        Ok(())
    }

    pub(crate) async fn activity_of(
        &self,
        grant: &str,
    ) -> Result<Option<SessionActivity>, AppError> {
        Ok(self.adapters.activity.activity(grant).await?)
    }

    /// Posts what is due (replies at most once a minute per grant, final summaries
    /// `SUMMARY_DELAY` after the grant ended); when something is due next.
    pub async fn report_activity(&self) -> Option<DateTime<Utc>> {
        let now = self.now();
        for grant in self.activity.take_due(now) {
            let record = match self.adapters.activity.activity(&grant).await {
                Ok(Some(record)) if !record.summarised => record,
                Ok(_) => continue,
                Err(e) => {
                    error!(%grant, error = %e, "cannot read session activity; trying again");
                    self.activity.schedule(&grant, now + REPORT_RETRY);
                    continue;
                }
            };
            match self.report_one(&record, now).await {
                Ok(Some(at)) => self.activity.schedule(&grant, at),
                Ok(None) => {}
                Err(e) => {
                    warn!(%grant, error = %e, "cannot post session activity; trying again");
                    self.activity.schedule(&grant, now + REPORT_RETRY);
                }
            }
        }
        self.activity.next_due()
    }

    /// Posts `record`'s due reply or summary; when it next has something due.
    async fn report_one(
        &self,
        record: &SessionActivity,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let Some(grant) = self.adapters.store.get(&record.grant).await? else {
            return Ok(None);
        };
        let ended = grant.state.is_final().then(|| ended_at(&grant, now));
        if let Some(ended) = ended {
            let summary_at = ended + SUMMARY_DELAY;
            if now < summary_at {
                return Ok(Some(summary_at));
            }
            self.summarise(&grant, record, now).await?;
            return Ok(None);
        }
        match record.reply_due() {
            Some(due) if due <= now => {
                let posted: Tally = record.unposted.clone();
                let lines = posted.lines(LINES_PER_REPLY);
                self.post_in_thread(&grant, self.templates.activity(&grant, &lines, false)?)
                    .await?;
                self.adapters
                    .activity
                    .activity_replied(&grant.id, &posted, now)
                    .await?;
                // Requests that arrived while this was posted wait for the next reply.
                Ok(Some(now + crate::domain::activity::REPLY_INTERVAL))
            }
            Some(due) => Ok(Some(due)),
            None => Ok(None),
        }
    }

    /// Replies under the grant's approval message. A post the platform refuses (the channel
    /// archived, the message deleted), or one that failed `MAX_POST_ATTEMPTS` times, is given
    /// up so the activity is still recorded as said; the store and the audit log keep it.
    pub(super) async fn post_in_thread(
        &self,
        grant: &Grant,
        message: Message,
    ) -> anyhow::Result<()> {
        let Some(at) = &grant.approval_message else {
            return Ok(());
        };
        let failed = match self.adapters.chat.reply_in_thread(at, &message).await {
            Ok(()) => {
                self.activity.post_done(&grant.id);
                return Ok(());
            }
            Err(ChatError::Refused(why)) => {
                warn!(grant = %grant.id, %why, "the chat platform refused a session activity reply; it stays in the store and the audit log");
                return Ok(());
            }
            Err(e) => e,
        };
        if self.activity.post_failed(&grant.id) >= MAX_POST_ATTEMPTS {
            warn!(grant = %grant.id, error = %failed, "giving up a session activity reply; it stays in the store and the audit log");
            self.activity.post_done(&grant.id);
            return Ok(());
        }
        Err(failed.into())
    }
}

/// Posts session activity as it becomes due, until the server stops.
pub async fn run(app: Arc<App>) {
    loop {
        let next = app.report_activity().await;
        let sleep = async {
            match next {
                Some(at) => app.clock().sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = app.activity.wake.notified() => {}
        }
    }
}
