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

use minijinja::{Value, context};

use crate::cluster::Cluster;
use crate::domain::reconcile::{ObservedBinding, overdue};
use crate::templates::operator_says;

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
                let error = e.to_string();
                say(
                    out,
                    "sweep_cannot_list",
                    context! { cluster => name, error },
                )?;
                swept.failures += 1;
                continue;
            }
        };
        for binding in overdue(&observed, now) {
            let b = described(binding);
            match cluster.delete_binding(binding).await {
                Ok(true) => {
                    say(out, "sweep_deleted", context! { cluster => name, b })?;
                    swept.deleted += 1;
                }
                Ok(false) => swept.already_gone += 1,
                Err(e) => {
                    let error = e.to_string();
                    let values = context! { cluster => name, b, error };
                    say(out, "sweep_cannot_delete", values)?;
                    swept.failures += 1;
                }
            }
        }
    }
    let total = context! {
        deleted => swept.deleted,
        already_gone => swept.already_gone,
        failed => swept.failures,
    };
    say(out, "sweep_total", total)?;
    Ok(swept)
}

fn say(out: &mut impl Write, line: &str, values: Value) -> anyhow::Result<()> {
    writeln!(out, "{}", operator_says(line, values)?)?;
    Ok(())
}

/// A binding as the sweep's report names it.
fn described(binding: &ObservedBinding) -> Value {
    let expired = binding
        .expires_at
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true));
    context! {
        namespace => &binding.namespace,
        name => &binding.name,
        grant => &binding.grant_id,
        expired => expired.unwrap_or_default(),
    }
}
