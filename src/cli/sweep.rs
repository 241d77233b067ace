//! `prod-access sweep`: the safety net that needs neither the bot nor its store. One pass over
//! every configured cluster deletes each binding labelled as prod-access's whose
//! `prod-access/expires-at` annotation has passed, then exits. Run every minute as a CronJob with
//! its own identity (deploy/sweeper/), it ends access on time even while every replica of the
//! bot, or its database, is down. A token's ServiceAccount has no rights once its binding is
//! gone (and the token itself expires with the grant); the bot removes the account.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::cluster::Cluster;
use crate::domain::reconcile::{ObservedBinding, overdue};

/// What one pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Bindings deleted now.
    pub deleted: usize,
    /// Overdue bindings that were already gone when deleted (the bot was quicker).
    pub already_gone: usize,
    /// Clusters that could not be listed, or bindings that could not be deleted.
    pub failures: usize,
}

/// Deletes every overdue binding on every cluster, saying each on `out`.
pub async fn sweep(
    clusters: &BTreeMap<String, Arc<dyn Cluster>>,
    now: DateTime<Utc>,
    out: &mut impl Write,
) -> anyhow::Result<Swept> {
    let mut swept = Swept::default();
    for (name, cluster) in clusters {
        let observed = match cluster.list_managed(true).await {
            Ok(observed) => observed,
            Err(e) => {
                writeln!(out, "cluster {name}: cannot list the bindings: {e}")?;
                swept.failures += 1;
                continue;
            }
        };
        for binding in overdue(&observed, now) {
            match cluster.delete_binding(binding).await {
                Ok(true) => {
                    writeln!(out, "cluster {name}: deleted {}", described(binding))?;
                    swept.deleted += 1;
                }
                Ok(false) => swept.already_gone += 1,
                Err(e) => {
                    writeln!(
                        out,
                        "cluster {name}: cannot delete {}: {e}",
                        described(binding)
                    )?;
                    swept.failures += 1;
                }
            }
        }
    }
    writeln!(
        out,
        "swept: {} deleted, {} already gone, {} failed",
        swept.deleted, swept.already_gone, swept.failures
    )?;
    Ok(swept)
}

fn described(binding: &ObservedBinding) -> String {
    let (kind, place) = match &binding.namespace {
        Some(namespace) => ("RoleBinding", format!("{namespace}/{}", binding.name)),
        None => ("ClusterRoleBinding", binding.name.clone()),
    };
    let grant = binding.grant_id.as_deref().unwrap_or("?");
    let expired = binding
        .expires_at
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default();
    format!("{kind} {place} (grant {grant}, expired {expired})")
}
