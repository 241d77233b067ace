//! The pre-flight: whether the bot may do, in every cluster, everything the policy needs;
//! `/readyz` answers from its last result.

use std::sync::Arc;

use tracing::{error, warn};

use super::App;
use crate::domain::grant::DEFAULT_CLUSTER;
use crate::domain::permissions::{self, Permission};

impl App {
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
}
