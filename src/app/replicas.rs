//! What a replica keeps in memory, kept in step with what the other replicas sharing its store
//! commit: the scheduler is woken for deadlines they set, the session-activity index learns of
//! grants they changed and the reporter of activity they stored, and the rate limit counts the
//! requests they admitted. After a gap in what was heard, all of it is read again. (Who carries
//! out a grant's outbox is settled in the store: see `claims`.)

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tracing::warn;

use super::App;
use crate::store::ChangedElsewhere;

impl App {
    /// Follows the other replicas' changes until the store stops; returns at once for a store
    /// this process owns alone.
    pub async fn follow_other_replicas(self: Arc<Self>) {
        let Some(mut changes) = self.adapters.store.changes_elsewhere() else {
            return;
        };
        loop {
            match changes.recv().await {
                Ok(ChangedElsewhere::Grant { id, new }) => {
                    self.grant_changed_elsewhere(&id, new).await
                }
                Ok(ChangedElsewhere::Activity(id)) => {
                    if self.settings.session_activity {
                        self.activity.schedule(&id, self.now());
                    }
                }
                Ok(ChangedElsewhere::Unknown) | Err(RecvError::Lagged(_)) => {
                    self.reread_after_missed_changes().await;
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    async fn grant_changed_elsewhere(&self, id: &str, new: bool) {
        self.scheduler_wake.notify_one();
        if !new && !self.settings.session_activity {
            return;
        }
        let grant = match self.adapters.store.get(id).await {
            Ok(Some(grant)) => grant,
            Ok(None) => return,
            Err(e) => {
                warn!(grant = %id, error = %e, "cannot read a grant another replica changed");
                return;
            }
        };
        if new {
            let mut log = self.request_log.lock().unwrap_or_else(|p| p.into_inner());
            log.note(&grant.requester, grant.requested_at);
        }
        self.observe_for_activity(&grant);
    }

    async fn reread_after_missed_changes(&self) {
        self.scheduler_wake.notify_one();
        if self.settings.session_activity
            && let Err(e) = self.index_active_grants().await
        {
            warn!(error = %e, "cannot read the active grants again after missed changes");
        }
    }
}
