//! The App Home tab: the user's access with time left and a Drop button, the requests waiting
//! for their decision with Approve and Deny, and what they decided lately (from the audit log).
//! Published when they open the tab and again after each click on it.

use std::sync::Arc;

use tracing::warn;

use super::{App, AppError};
use crate::domain::audit::{AuditEntry, AuditKind};

/// How far back "recent decisions" go, and how many are shown.
const DECISIONS_SINCE: chrono::Duration = chrono::Duration::days(7);
const DECISIONS_SHOWN: usize = 10;

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
        let decisions = self.recent_decisions(user).await?;
        let view = self
            .templates
            .home(&mine, &waiting, &decisions, self.now())?;
        if let Err(e) = self.adapters.chat.publish_home(user, &view).await {
            warn!(user, error = %e, "Slack did not take the App Home");
        }
        Ok(())
    }

    /// The user's approvals, denials and revocations of the last week, newest first.
    async fn recent_decisions(&self, user: &str) -> Result<Vec<AuditEntry>, AppError> {
        let since = self.now() - DECISIONS_SINCE;
        let mut decisions: Vec<AuditEntry> = self
            .adapters
            .audit
            .entries_since(since)
            .await?
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
        Ok(decisions)
    }
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
