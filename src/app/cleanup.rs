//! What the end of a grant did not end, reported and cleaned up. When the summary is posted the
//! bot asks the cluster whether each leftover still exists (a metadata-only GET) and whether it
//! may delete it or the pod a stream is still open into; approvers then mark each leftover
//! reviewed, or have the bot delete it or restart the pod, as the role's policy allows. Each is
//! recorded in the audit log with who did it.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::{info, warn};

use super::App;
use crate::chat::Message;
use crate::cluster::{Cluster, ClusterError};
use crate::domain::activity::{
    Cleanup, CleanupRefusal, EndReport, Handled, Item, ObjectRef, ReportedLeftover, ReportedStream,
    SessionActivity, may_clean_up,
};
use crate::domain::audit::{AuditEvent, AuditKind};
use crate::domain::grant::Grant;
use crate::domain::permissions::Permission;
use crate::domain::policy::CleanupRule;

/// Why a cleanup click changed nothing, as the clicker is told.
pub enum NotCleaned {
    Refused(CleanupRefusal),
    /// The cluster would not delete it: why, and the object.
    ClusterRefused(String, ObjectRef),
    UnknownGrant,
    Failed(anyhow::Error),
}

impl App {
    /// What `record`'s summary reports the end did not end: streams into pods still open, and
    /// leftovers with whether each still exists; each offered for cleanup as the role's policy
    /// and the bot's own rights allow.
    pub(super) async fn end_report(&self, grant: &Grant, record: &SessionActivity) -> EndReport {
        let rule = self
            .policy
            .roles
            .get(&grant.role)
            .map(|r| r.cleanup.clone())
            .unwrap_or_default();
        let Ok(cluster) = self.cluster(&grant.cluster) else {
            return EndReport::unchecked(record);
        };
        let mut rights = Rights::new(cluster.as_ref());
        let mut streams = Vec::new();
        for stream in record.open_into_pods() {
            let pod = stream.pod_object();
            let restartable = rule.restart_pods && rights.may_delete(pod.as_ref()).await;
            streams.push(ReportedStream {
                stream: stream.clone(),
                restartable,
                handled: None,
            });
        }
        let mut leftovers = Vec::new();
        for leftover in &record.leftovers {
            let exists = match leftover.object() {
                Some(object) => exists(cluster.as_ref(), &object, &grant.id).await,
                None => None,
            };
            let deletable = offered_deletion(&rule, exists)
                && rights.may_delete(leftover.deletable().as_ref()).await;
            leftovers.push(ReportedLeftover {
                leftover: leftover.clone(),
                exists,
                deletable,
                handled: None,
            });
        }
        EndReport { streams, leftovers }
    }

    /// Carries out an approver's cleanup click on `item` of the grant's end report, and records
    /// it: the grant and its activity as they now are, or why nothing changed.
    pub(super) async fn clean_up(
        self: &Arc<Self>,
        grant_id: &str,
        item: &str,
        user: &str,
        how: Cleanup,
    ) -> Result<(Grant, SessionActivity), NotCleaned> {
        let store = &self.adapters.store;
        let grant = match store.get(grant_id).await {
            Ok(Some(grant)) => grant,
            Ok(None) => return Err(NotCleaned::UnknownGrant),
            Err(e) => return Err(NotCleaned::Failed(e.into())),
        };
        let policy = self.policy_for(&grant.role).await;
        may_clean_up(&grant, user, &policy).map_err(NotCleaned::Refused)?;
        // One cleanup of a grant at a time in this process: a second click waits, then finds
        // the item handled.
        let lock = self.state_locks.get(grant_id);
        let _held = lock.lock().await;
        let target = self.report_item(grant_id, item, how).await?;
        if let Some(object) = object_to_delete(&target, how) {
            let cluster = self
                .cluster(&grant.cluster)
                .map_err(|e| NotCleaned::ClusterRefused(e.to_string(), object.clone()))?;
            match cluster.delete_object(&object).await {
                Ok(_) => {}
                Err(ClusterError::Refused(why)) => {
                    return Err(NotCleaned::ClusterRefused(why, object));
                }
                Err(e) => return Err(NotCleaned::Failed(e.into())),
            }
        }
        let handled = Handled {
            by: user.to_string(),
            at: self.now(),
            how,
        };
        let words = self
            .templates
            .cleanup_record(&target, &handled)
            .map_err(|e| NotCleaned::Failed(e.into()))?;
        let kind = AuditKind::of_cleanup(how);
        let mut entry = AuditEvent::about(&grant, kind, Some(user), handled.at);
        entry.detail = Some(words);
        let recorded = self
            .adapters
            .activity
            .activity_cleaned_up(grant_id, item, &handled, &entry)
            .await
            .map_err(|e| NotCleaned::Failed(e.into()))?;
        if !recorded {
            // Another replica recorded it first: say what it found.
            self.report_item(grant_id, item, how).await?;
        }
        info!(
            grant = grant_id,
            user,
            item,
            how = how.as_str(),
            "cleanup done"
        );
        let record = self.activity_after_cleanup(grant_id).await?;
        if let Some(report) = &record.end_report {
            self.show_end_on_review(&grant, report).await;
        }
        Ok((grant, record))
    }

    async fn report_item(&self, grant: &str, item: &str, how: Cleanup) -> Result<Item, NotCleaned> {
        let record = self.activity_after_cleanup(grant).await?;
        let report = record
            .end_report
            .as_ref()
            .ok_or(NotCleaned::Refused(CleanupRefusal::NoSuchItem))?;
        report.target(item, how).map_err(NotCleaned::Refused)
    }

    async fn activity_after_cleanup(&self, grant: &str) -> Result<SessionActivity, NotCleaned> {
        match self.adapters.activity.activity(grant).await {
            Ok(Some(record)) => Ok(record),
            Ok(None) => Err(NotCleaned::Refused(CleanupRefusal::NoSuchItem)),
            Err(e) => Err(NotCleaned::Failed(e.into())),
        }
    }

    /// The summary as it stands after a cleanup (buttons of handled items replaced by who
    /// handled them), or what to tell the clicker.
    pub(super) fn cleanup_answer(
        &self,
        outcome: Result<(Grant, SessionActivity), NotCleaned>,
        grant_id: &str,
    ) -> Result<Message, Message> {
        let refusal = match outcome {
            Ok((grant, record)) => {
                return self.summary_of(&grant, &record).map_err(|e| {
                    warn!(grant = grant_id, error = %e, "could not render the summary after a cleanup");
                    crate::templates::last_resort()
                });
            }
            Err(NotCleaned::UnknownGrant) => self.templates.unknown_grant(grant_id),
            Err(NotCleaned::Refused(refusal)) => self.templates.cleanup_refused(&refusal, grant_id),
            Err(NotCleaned::ClusterRefused(why, object)) => {
                self.templates.cleanup_not_done(&why, &object, grant_id)
            }
            Err(NotCleaned::Failed(e)) => {
                warn!(grant = grant_id, error = %e, "cleanup failed");
                self.templates.internal_error_on_action(grant_id)
            }
        };
        Err(refusal.unwrap_or_else(|e| {
            warn!(error = %e, "could not render a cleanup refusal");
            crate::templates::last_resort()
        }))
    }
}

/// Whether approvers are offered to delete a leftover: the policy lets them, and it was not
/// found gone.
fn offered_deletion(rule: &CleanupRule, exists: Option<bool>) -> bool {
    rule.delete_leftovers && exists != Some(false)
}

/// The object a cleanup deletes: a leftover's, or the pod a stream is open into; none to mark
/// a leftover reviewed.
fn object_to_delete(target: &Item, how: Cleanup) -> Option<ObjectRef> {
    match (target, how) {
        (Item::Stream(stream), Cleanup::Restarted) => stream.stream.pod_object(),
        (Item::Leftover(left), Cleanup::Deleted) => left.leftover.deletable(),
        _ => None,
    }
}

/// Whether `object` exists, `None` when the cluster would not say (the bot may not read it,
/// or it was unreachable: the report says "not checked").
async fn exists(cluster: &dyn Cluster, object: &ObjectRef, grant: &str) -> Option<bool> {
    match cluster.exists(object).await {
        Ok(exists) => Some(exists),
        Err(e) => {
            info!(grant, object = %object.path(), error = %e, "could not check whether a leftover still exists");
            None
        }
    }
}

/// The bot's own right to delete, asked once per resource and namespace.
struct Rights<'a> {
    cluster: &'a dyn Cluster,
    asked: HashMap<String, bool>,
}

impl<'a> Rights<'a> {
    fn new(cluster: &'a dyn Cluster) -> Self {
        Rights {
            cluster,
            asked: HashMap::new(),
        }
    }

    async fn may_delete(&mut self, object: Option<&ObjectRef>) -> bool {
        let Some(permission) = object.and_then(ObjectRef::delete_permission) else {
            return false;
        };
        let key = permission.to_string() + permission.namespace.as_deref().unwrap_or("");
        if let Some(known) = self.asked.get(&key) {
            return *known;
        }
        let may = may(self.cluster, &permission).await;
        self.asked.insert(key, may);
        may
    }
}

async fn may(cluster: &dyn Cluster, permission: &Permission) -> bool {
    cluster.may(permission).await.unwrap_or_else(|e| {
        warn!(%permission, error = %e, "could not ask the cluster whether the bot may delete");
        false
    })
}
