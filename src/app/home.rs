//! The App Home tab: the user's access with time left and a Drop button, the requests waiting
//! for their decision with Approve and Deny, what ended access left that they may clean up,
//! and what they decided lately (from the audit log).
//! Published when they open the tab and again after each click on it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tracing::warn;

use super::{App, AppError};
use crate::domain::activity::{EndReport, may_clean_up};
use crate::domain::audit::{AuditEntry, AuditKind};
use crate::domain::grant::Grant;
use crate::domain::policy::Policy;

/// How far back "recent decisions" go, and how many are shown.
const DECISIONS_SINCE: chrono::Duration = chrono::Duration::days(7);
const DECISIONS_SHOWN: usize = 10;
/// Ended grants whose leftovers the Home tab offers to clean up, at most.
const CLEANUPS_SHOWN: usize = 3;

impl App {
    /// Publishes `user`'s Home tab; a failure is logged (the tab keeps what it showed).
    pub async fn publish_home(&self, user: &str) {
        if let Err(e) = self.try_publish_home(user).await {
            warn!(user, error = %e, "could not publish the App Home");
        }
    }

    /// Publishes in the background (Slack wants events acknowledged at once).
    pub fn spawn_publish_home(self: &Arc<Self>, user: String) {
        let app = Arc::clone(self);
        self.tasks
            .spawn(async move { app.publish_home(&user).await });
    }

    async fn try_publish_home(&self, user: &str) -> Result<(), AppError> {
        let (mine, waiting) = self.mine_and_waiting(user).await?;
        let since = self.now() - DECISIONS_SINCE;
        let entries = self.adapters.audit.entries_since(since).await?;
        let cleanup = self.left_for(user, &entries).await?;
        let decisions = recent_decisions(user, entries);
        let view = self
            .templates
            .home(&mine, &waiting, &cleanup, &decisions, self.now())?;
        if let Err(e) = self.adapters.chat.publish_home(user, &view).await {
            warn!(user, error = %e, "Slack did not take the App Home");
        }
        Ok(())
    }

    /// Grants that ended in the last week (their summaries among `entries`) with items of
    /// their end report nobody has handled yet, that `user` may clean up: most recent first.
    async fn left_for(
        &self,
        user: &str,
        entries: &[AuditEntry],
    ) -> Result<Vec<(Grant, EndReport)>, AppError> {
        let ids = (entries.iter().rev())
            .filter(|e| {
                matches!(
                    e.event.kind,
                    AuditKind::Leftovers | AuditKind::StreamsStillOpen
                )
            })
            .filter(|e| e.event.requester.as_deref() != Some(user))
            .filter_map(|e| e.event.grant.as_deref());
        let mut seen = HashSet::new();
        // One approver lookup per role, not per grant: group lookups are rate-limited by Slack.
        let mut policies: HashMap<String, Policy> = HashMap::new();
        let mut left = Vec::new();
        for id in ids.filter(|id| seen.insert(*id)) {
            if left.len() >= CLEANUPS_SHOWN {
                break;
            }
            let Some(grant) = self.adapters.store.get(id).await? else {
                continue;
            };
            if !policies.contains_key(&grant.role) {
                let policy = self.policy_for(&grant.role).await;
                policies.insert(grant.role.clone(), policy);
            }
            if may_clean_up(&grant, user, &policies[&grant.role]).is_err() {
                continue;
            }
            let report = self.adapters.activity.activity(id).await?;
            if let Some(report) = report.and_then(|r| r.end_report)
                && report.open_items() > 0
            {
                left.push((grant, report));
            }
        }
        Ok(left)
    }
}

/// The user's approvals, denials and revocations among `entries`, newest first.
fn recent_decisions(user: &str, entries: Vec<AuditEntry>) -> Vec<AuditEntry> {
    let mut decisions: Vec<AuditEntry> = entries
        .into_iter()
        .filter(|e| e.event.actor.as_ref().is_some_and(|a| a.user == user))
        .filter(|e| is_decision(e.event.kind))
        // Revoking one's own access, or approving it under break-glass, is not a decision
        // about someone else's.
        .filter(|e| {
            !matches!(e.event.kind, AuditKind::Revoked | AuditKind::Approval)
                || e.event.requester.as_deref() != Some(user)
        })
        .collect();
    decisions.reverse();
    decisions.truncate(DECISIONS_SHOWN);
    decisions
}

fn is_decision(kind: AuditKind) -> bool {
    matches!(
        kind,
        AuditKind::Approval
            | AuditKind::Denied
            | AuditKind::ExtensionApproval
            | AuditKind::ExtensionDenied
            | AuditKind::Revoked
            | AuditKind::BreakGlassReviewed
    )
}
