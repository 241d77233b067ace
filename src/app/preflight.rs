//! The pre-flight: whether the bot may do, in every cluster, everything the policy needs;
//! `/readyz` answers from its last result.

use std::sync::Arc;

use minijinja::context;
use tracing::{error, warn};

use super::App;
use crate::domain::grant::DEFAULT_CLUSTER;
use crate::domain::permissions::{self, Permission};
use crate::templates::{last_resort_text, operator_says};

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

    /// `Ok` when the last pre-flight found every permission; otherwise what is missing, a line
    /// each.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let say = |line, values| {
            operator_says(line, values).unwrap_or_else(|_| last_resort_text().to_string())
        };
        match &*self
            .missing_permissions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
        {
            None => Err(vec![say("not_checked", context! {})]),
            Some(missing) if missing.is_empty() => Ok(()),
            Some(missing) => Err(missing
                .iter()
                .map(|(cluster, permission)| {
                    let cluster = (cluster != DEFAULT_CLUSTER).then_some(cluster);
                    let permission = permission.to_string();
                    say("missing_permission", context! { cluster, permission })
                })
                .collect()),
        }
    }
}
