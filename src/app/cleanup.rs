//! What the end of a grant did not end, reported and cleaned up. When the summary is posted the
//! bot asks the cluster whether each leftover still exists (a metadata-only GET) and whether it
//! may delete it or the pod a stream is still open into; approvers then mark each leftover
//! reviewed, or have the bot delete it or restart the pod, as the role's policy allows. Each is
//! claimed in the store before the cluster is asked, and recorded in the audit log with who did
//! it once done.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::{info, warn};

use super::App;
use crate::chat::Message;
use crate::cluster::{Cluster, ClusterError};
use crate::domain::activity::{
    Cleanup, CleanupRefusal, CleanupStep, EndReport, Handled, Item, Leftover, ObjectRef, Observed,
    OpenStream, ReportedLeftover, ReportedStream, SessionActivity, may_clean_up,
};
use crate::domain::audit::{AuditEvent, AuditKind};
use crate::domain::grant::Grant;
use crate::domain::permissions::Permission;
use crate::domain::policy::CleanupRule;

/// Why a cleanup click changed nothing, as the clicker is told.
pub enum NotCleaned {
    Refused(CleanupRefusal),
    /// The cluster would not delete it: why, and the object.
    ClusterRefused(String, Box<ObjectRef>),
    UnknownGrant,
    Failed(anyhow::Error),
}

impl From<CleanupRefusal> for NotCleaned {
    fn from(refusal: CleanupRefusal) -> Self {
        NotCleaned::Refused(refusal)
    }
}

impl App {
    /// What `record`'s summary reports the end did not end: streams into pods still open, and
    /// leftovers with whether each still exists; each offered for cleanup as the role's policy
    /// and the bot's own rights allow.
    pub(super) async fn end_report(&self, grant: &Grant, record: &SessionActivity) -> EndReport {
        let rule = self.cleanup_rule(&grant.role);
        let Ok(cluster) = self.cluster(&grant.cluster) else {
            return EndReport::unchecked(record);
        };
        let mut asking = Asking {
            cluster: cluster.as_ref(),
            grant: &grant.id,
            rights: HashMap::new(),
        };
        let mut streams = Vec::new();
        for stream in record.open_into_pods() {
            streams.push(asking.stream(stream, rule.restart_pods).await);
        }
        let mut leftovers = Vec::new();
        for leftover in &record.leftovers {
            leftovers.push(asking.leftover(leftover, rule.delete_leftovers).await);
        }
        EndReport { streams, leftovers }
    }

    fn cleanup_rule(&self, role: &str) -> CleanupRule {
        let rule = self.policy.roles.get(role).map(|r| r.cleanup.clone());
        rule.unwrap_or_default()
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
        let grant = match self.adapters.store.get(grant_id).await {
            Ok(Some(grant)) => grant,
            Ok(None) => return Err(NotCleaned::UnknownGrant),
            Err(e) => return Err(NotCleaned::Failed(e.into())),
        };
        may_clean_up(&grant, user, &self.policy_for(&grant.role).await)?;
        // The policy as it is now: a flag turned off since the summary takes its button away.
        let rule = self.cleanup_rule(&grant.role);
        let allowed = match how {
            Cleanup::Reviewed => true,
            Cleanup::Deleted => rule.delete_leftovers,
            Cleanup::Restarted => rule.restart_pods,
        };
        if !allowed {
            return Err(CleanupRefusal::NotOffered.into());
        }
        // One cleanup of a grant at a time in this process; other replicas meet the claim.
        let lock = self.state_locks.get(grant_id);
        let _held = lock.lock().await;
        let target = self.report_item(grant_id, item, how).await?;
        let handled = Handled {
            by: user.to_string(),
            at: self.now(),
            how,
            pending: how != Cleanup::Reviewed,
        };
        let entry = self.cleanup_entry(&grant, &target, &handled)?;
        match object_to_delete(&target) {
            None => {
                self.step(&grant, item, CleanupStep::Claim(handled), Some(&entry))
                    .await?
            }
            Some(object) => {
                self.step(&grant, item, CleanupStep::Claim(handled), None)
                    .await?;
                self.delete_claimed(&grant, item, how, &object).await?;
                self.step(&grant, item, CleanupStep::Finish(how), Some(&entry))
                    .await?;
            }
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

    /// Has the cluster delete the object of a claimed item; the claim is released when it will
    /// not (or cannot now), so the item can be tried again.
    async fn delete_claimed(
        &self,
        grant: &Grant,
        item: &str,
        how: Cleanup,
        object: &ObjectRef,
    ) -> Result<(), NotCleaned> {
        let deleted = match self.cluster(&grant.cluster) {
            Ok(cluster) => cluster.delete_object(object).await,
            Err(e) => Err(e),
        };
        let failed = match deleted {
            Ok(_) => return Ok(()),
            Err(ClusterError::Refused(why)) => {
                NotCleaned::ClusterRefused(why, Box::new(object.clone()))
            }
            Err(e) => NotCleaned::Failed(e.into()),
        };
        let release = CleanupStep::Release(how);
        if self.step(grant, item, release, None).await.is_err() {
            warn!(grant = %grant.id, item, "could not release a cleanup claim; the next click takes it over");
        }
        Err(failed)
    }

    /// The audit entry a cleanup is recorded with, worded now (before anything is done).
    fn cleanup_entry(
        &self,
        grant: &Grant,
        target: &Item,
        handled: &Handled,
    ) -> Result<AuditEvent, NotCleaned> {
        let words = (self.templates.cleanup_record(target, handled))
            .map_err(|e| NotCleaned::Failed(e.into()))?;
        let kind = AuditKind::of_cleanup(handled.how);
        let mut entry = AuditEvent::about(grant, kind, Some(&handled.by), handled.at);
        entry.detail = Some(words);
        Ok(entry)
    }

    /// Takes a step in the store; refused as the report now stands when it does not apply
    /// (another replica's click came first).
    async fn step(
        &self,
        grant: &Grant,
        item: &str,
        step: CleanupStep,
        entry: Option<&AuditEvent>,
    ) -> Result<(), NotCleaned> {
        let activity = &self.adapters.activity;
        let taken = (activity
            .activity_cleaned_up(&grant.id, item, &step, entry)
            .await)
            .map_err(|e| NotCleaned::Failed(e.into()))?;
        if taken {
            return Ok(());
        }
        let how = match &step {
            CleanupStep::Claim(handled) => handled.how,
            CleanupStep::Finish(how) | CleanupStep::Release(how) => *how,
        };
        self.report_item(&grant.id, item, how).await?;
        Err(CleanupRefusal::NoSuchItem.into())
    }

    async fn report_item(&self, grant: &str, item: &str, how: Cleanup) -> Result<Item, NotCleaned> {
        let record = self.activity_after_cleanup(grant).await?;
        let report = (record.end_report.as_ref()).ok_or(CleanupRefusal::NoSuchItem)?;
        Ok(report.target(item, how)?)
    }

    async fn activity_after_cleanup(&self, grant: &str) -> Result<SessionActivity, NotCleaned> {
        match self.adapters.activity.activity(grant).await {
            Ok(Some(record)) => Ok(record),
            Ok(None) => Err(CleanupRefusal::NoSuchItem.into()),
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

/// The object a cleanup deletes, as it was seen when the end was reported: a leftover's, or the
/// pod a stream is open into; none to mark a leftover reviewed.
fn object_to_delete(target: &Item) -> Option<ObjectRef> {
    let (object, uid) = match target {
        Item::Stream(s) if s.restartable => (s.stream.pod_object(), &s.pod_uid),
        Item::Leftover(l) if l.deletable => (l.leftover.deletable(), &l.uid),
        Item::Stream(_) | Item::Leftover(_) => return None,
    };
    object.map(|object| ObjectRef {
        uid: uid.clone(),
        ..object
    })
}

/// Asking the cluster, once per grant's end, what it holds of each item and what the bot may
/// do about it.
struct Asking<'a> {
    cluster: &'a dyn Cluster,
    grant: &'a str,
    /// The bot's own right to delete, by permission and namespace: asked once each.
    rights: HashMap<String, bool>,
}

impl Asking<'_> {
    /// A stream still open; restartable where the policy allows it, a controller owns its pod
    /// (it is made again; a bare pod would be gone for good) and the bot may delete it.
    async fn stream(&mut self, stream: &OpenStream, allowed: bool) -> ReportedStream {
        let pod = stream.pod_object();
        let observed = match (&pod, allowed) {
            (Some(pod), true) => self.observe(pod).await.flatten(),
            _ => None,
        };
        let controlled = observed.as_ref().is_some_and(|o| o.controlled);
        let restartable = controlled && self.may_delete(pod.as_ref()).await;
        ReportedStream {
            stream: stream.clone(),
            restartable,
            pod_uid: observed.and_then(|o| o.uid),
            handled: None,
        }
    }

    /// A leftover, with whether it still exists; deletable where the policy allows it, the
    /// subject created it, it is still there and the bot may delete it.
    async fn leftover(&mut self, leftover: &Leftover, allowed: bool) -> ReportedLeftover {
        let observed = match leftover.object() {
            Some(object) => self.observe(&object).await,
            None => None,
        };
        // Unknown when it names no object or the cluster would not say; else there or gone.
        let exists = observed.as_ref().map(Option::is_some);
        let deletable =
            allowed && exists == Some(true) && self.may_delete(leftover.deletable().as_ref()).await;
        let uid = observed.flatten().and_then(|o| o.uid);
        ReportedLeftover {
            leftover: leftover.clone(),
            exists,
            deletable,
            uid,
            handled: None,
        }
    }

    /// The object as the cluster has it now: `Some(None)` when it is not there, `None` when the
    /// cluster would not say (the bot may not read it, or it was unreachable).
    async fn observe(&self, object: &ObjectRef) -> Option<Option<Observed>> {
        match self.cluster.observe(object).await {
            Ok(observed) => Some(observed),
            Err(e) => {
                info!(grant = self.grant, object = %object.path(), error = %e, "could not check whether an object still exists");
                None
            }
        }
    }

    async fn may_delete(&mut self, object: Option<&ObjectRef>) -> bool {
        let Some(permission) = object.and_then(ObjectRef::delete_permission) else {
            return false;
        };
        let key = permission.to_string();
        if let Some(known) = self.rights.get(&key) {
            return *known;
        }
        let may = may(self.cluster, &permission).await;
        self.rights.insert(key, may);
        may
    }
}

async fn may(cluster: &dyn Cluster, permission: &Permission) -> bool {
    cluster.may(permission).await.unwrap_or_else(|e| {
        warn!(%permission, error = %e, "could not ask the cluster whether the bot may delete");
        false
    })
}
