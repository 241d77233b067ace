//! The reconcile pass: list what prod-access manages in the cluster, compare it with the grants,
//! repair every difference and report each one to the audit channel.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::{error, info, warn};

use super::{App, AppError};
use crate::domain::identity::Identity;
use crate::domain::reconcile::{Repair, reconcile};

/// What one pass found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    pub observed: usize,
    pub deleted: usize,
    pub rebound: usize,
    pub failed: usize,
}

impl App {
    pub async fn reconcile_once(self: &Arc<Self>) -> Result<ReconcileReport, AppError> {
        // Permissions can be granted or taken away while the bot runs; readiness follows.
        self.preflight().await;
        let observed = match self
            .adapters
            .cluster
            .list_managed(self.policy.has_cluster_roles())
            .await
        {
            Ok(observed) => observed,
            Err(e) => {
                warn!(error = %e, "reconcile: cannot list managed bindings; will try at the next run");
                return Ok(ReconcileReport {
                    failed: 1,
                    ..Default::default()
                });
            }
        };
        let mut grants = HashMap::new();
        for grant in self.adapters.store.open_grants().await? {
            grants.insert(grant.id.clone(), grant);
        }
        for id in observed.iter().filter_map(|b| b.grant_id.as_ref()) {
            if !grants.contains_key(id)
                && let Some(grant) = self.adapters.store.get(id).await?
            {
                grants.insert(id.clone(), grant);
            }
        }
        let mut report = ReconcileReport {
            observed: observed.len(),
            ..Default::default()
        };
        for repair in reconcile(&observed, &grants, self.now()) {
            let done = match &repair {
                Repair::Delete { binding, .. } => self
                    .adapters
                    .cluster
                    .delete_binding(binding)
                    .await
                    .map(|_| &mut report.deleted),
                Repair::Rebind { grant_id } => {
                    let grant = &grants[grant_id];
                    match (&grant.subject, grant.expires_at) {
                        (Some(user), Some(expires_at)) => self
                            .adapters
                            .cluster
                            .bind(
                                grant,
                                &Identity {
                                    user: user.clone(),
                                    groups: grant.groups.clone(),
                                },
                                expires_at,
                            )
                            .await
                            .map(|_| &mut report.rebound),
                        _ => continue,
                    }
                }
            };
            match done {
                Ok(count) => {
                    *count += 1;
                    info!(?repair, "reconcile: repaired drift");
                    let message = self.templates.drift(&repair, &grants);
                    match message {
                        Ok(message) => {
                            let audit = &self.settings.audit_channel;
                            if let Err(e) = self.adapters.chat.post(audit, &message).await {
                                warn!(error = %e, "reconcile: could not report drift");
                            }
                        }
                        Err(e) => error!(error = %e, "could not render a drift report"),
                    }
                }
                Err(e) => {
                    report.failed += 1;
                    warn!(?repair, error = %e, "reconcile: repair failed; will try at the next run");
                }
            }
        }
        Ok(report)
    }
}
