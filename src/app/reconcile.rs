//! The reconcile pass: list what prod-access manages in the cluster, compare it with the grants,
//! repair every difference, record each in the audit log as it is made and tell the audit
//! channel in the background, so a slow or hanging chat never holds up the next repair.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::{error, info, warn};

use super::{App, AppError, EffectError};
use crate::domain::audit::{AuditEvent, AuditKind};
use crate::domain::grant::{Grant, GrantState};
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
        let mut report = ReconcileReport::default();
        for name in self.cluster_names() {
            self.reconcile_cluster(&name, &mut report).await?;
        }
        Ok(report)
    }

    async fn reconcile_cluster(
        self: &Arc<Self>,
        cluster_name: &str,
        report: &mut ReconcileReport,
    ) -> Result<(), AppError> {
        let Ok(cluster) = self.cluster(cluster_name) else {
            return Ok(());
        };
        // The grants are read before the cluster is listed: a binding made after this read
        // belongs to a grant read below, and each repair is decided again under its grant's lock.
        // Grants of other clusters do not own bindings here.
        let mut grants = HashMap::new();
        for grant in self.adapters.store.open_grants().await? {
            if grant.cluster == cluster_name {
                grants.insert(grant.id.clone(), grant);
            }
        }
        let include_cluster = self.policy.has_cluster_roles();
        let observed = match cluster.list_managed(include_cluster).await {
            Ok(observed) => observed,
            Err(e) => {
                warn!(cluster = cluster_name, error = %e, "reconcile: cannot list managed bindings; will try at the next run");
                report.failed += 1;
                return Ok(());
            }
        };
        for id in observed.iter().filter_map(|b| b.grant_id.as_ref()) {
            if !grants.contains_key(id)
                && let Some(grant) = self.adapters.store.get(id).await?
                && grant.cluster == cluster_name
            {
                grants.insert(id.clone(), grant);
            }
        }
        report.observed += observed.len();
        let mut repaired = Vec::new();
        for repair in reconcile(&observed, &grants, self.now()) {
            match self.repair(cluster_name, &repair).await {
                Ok(None) => {}
                Ok(Some(fresh)) => {
                    match &repair {
                        Repair::Delete { .. } => report.deleted += 1,
                        Repair::Rebind { .. } => report.rebound += 1,
                    }
                    info!(cluster = cluster_name, ?repair, "reconcile: repaired drift");
                    self.record_drift(&repair, &fresh).await;
                    repaired.push((repair, fresh));
                }
                Err(e) => {
                    report.failed += 1;
                    warn!(cluster = cluster_name, ?repair, error = %e, "reconcile: repair failed; will try at the next run");
                }
            }
        }
        if !repaired.is_empty() {
            let app = Arc::clone(self);
            self.tasks.spawn(async move {
                for (repair, fresh) in repaired {
                    app.report_drift(&repair, &fresh).await;
                }
            });
        }
        Ok(())
    }

    /// Carries out one repair in `cluster_name` if it is still needed: under the grant's lock,
    /// with the grant as it is now (the outbox may have acted since the pass began). Returns the
    /// grants it was decided on when it changed something.
    async fn repair(
        &self,
        cluster_name: &str,
        repair: &Repair,
    ) -> Result<Option<HashMap<String, Grant>>, EffectError> {
        let grant_id = match repair {
            Repair::Delete { binding, .. } => binding.grant_id.clone(),
            Repair::Rebind { grant_id } => Some(grant_id.clone()),
        };
        let lock = grant_id.as_deref().map(|id| self.state_locks.get(id));
        let _held = match &lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let mut fresh = HashMap::new();
        if let Some(id) = &grant_id
            && let Ok(Some(grant)) = self.adapters.store.get(id).await
            && grant.cluster == cluster_name
        {
            fresh.insert(id.clone(), grant);
        }
        let cluster = self.cluster(cluster_name)?;
        match repair {
            Repair::Delete { binding, .. } => {
                let still = reconcile(std::slice::from_ref(binding), &fresh, self.now());
                if !still.iter().any(|r| matches!(r, Repair::Delete { .. })) {
                    return Ok(None);
                }
                // Only a binding that was still there counts as drift.
                Ok(cluster.delete_binding(binding).await?.then_some(fresh))
            }
            Repair::Rebind { grant_id } => {
                let Some(grant) = fresh.get(grant_id) else {
                    return Ok(None);
                };
                let live = grant.state == GrantState::Active
                    && grant.expires_at.is_some_and(|at| self.now() < at);
                match (live, grant.identity(), grant.expires_at) {
                    (true, Some(identity), Some(expires_at)) => {
                        cluster.bind(grant, &identity, expires_at).await?;
                        Ok(Some(fresh))
                    }
                    _ => Ok(None),
                }
            }
        }
    }

    /// Records the repair in the audit log; durable when this returns.
    async fn record_drift(&self, repair: &Repair, grants: &HashMap<String, Grant>) {
        let detail = self.templates.drift_record(repair).unwrap_or_else(|e| {
            error!(error = %e, "cannot word a repair for the audit log; stored as data");
            format!("{repair:?}")
        });
        let event = drift_event(repair, detail, grants, self.now());
        match self.adapters.audit.append(vec![event.clone()]).await {
            Ok(_) => self.metrics().written(&[event]),
            Err(e) => {
                self.metrics().store_failed();
                error!(?repair, error = %e, "reconcile: could not record a repair in the audit log");
            }
        }
    }

    /// Tells the audit channel about a repair.
    async fn report_drift(&self, repair: &Repair, grants: &HashMap<String, Grant>) {
        match self.templates.drift(repair, grants) {
            Ok(message) => {
                let audit = &self.settings.audit_channel;
                if let Err(e) = self.adapters.chat.post(audit, &message).await {
                    warn!(error = %e, "reconcile: could not report drift");
                }
            }
            Err(e) => error!(error = %e, "could not render a drift report"),
        }
    }
}

/// The audit log's record of a repair, `detail` saying what was done: about its grant when
/// there is one.
fn drift_event(
    repair: &Repair,
    detail: String,
    grants: &HashMap<String, Grant>,
    now: chrono::DateTime<chrono::Utc>,
) -> AuditEvent {
    let grant_id = match repair {
        Repair::Delete { binding, .. } => binding.grant_id.as_deref(),
        Repair::Rebind { grant_id } => Some(grant_id.as_str()),
    };
    let mut event = match grant_id.and_then(|id| grants.get(id)) {
        Some(grant) => AuditEvent::about(grant, AuditKind::DriftRepaired, None, now),
        None => AuditEvent::standalone(AuditKind::DriftRepaired, String::new(), now),
    };
    event.grant = grant_id.map(str::to_string).or(event.grant);
    // A repair changes the cluster, not the grant.
    event.grant_version = None;
    event.detail = Some(detail);
    event
}
