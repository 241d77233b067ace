//! Stores and clusters that already hold many grants: active grants written straight into a
//! sled store (as the bot itself would have left them) and their RoleBindings in the fake API.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::cluster::{EXPIRES_AT_ANNOTATION, GRANT_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use crate::domain::grant::{DEFAULT_CLUSTER, Event, Grant, MessageRef, Scope};
use crate::domain::lifecycle::NewRequest;
use crate::domain::policy::{GrantTerms, Policy};
use crate::fakes::kube::FakeKube;
use crate::store::SledStore;
use crate::templates::Templates;

use super::child::APPROVER;

fn policy() -> Policy {
    serde_saphyr::from_str(&format!(
        "approvers: [{APPROVER}]\nroles: {{edit: {{cluster_role: edit, namespaces: [payments], max_duration: 48h}}}}"
    ))
    .expect("the bench policy is valid")
}

/// Grant `n`, approved and bound at `now`, expiring at `expires_at`; nothing left to do.
fn active_grant(n: usize, now: DateTime<Utc>, expires_at: DateTime<Utc>, policy: &Policy) -> Grant {
    let requester = format!("U0R{n}");
    let terms = GrantTerms {
        role: "edit".into(),
        cluster_role: "edit".into(),
        scope: Scope::namespace("payments"),
        kubeconfig: false,
        cluster: DEFAULT_CLUSTER.into(),
        duration: (expires_at - now).to_std().unwrap_or_default(),
        required_approvals: 1,
        on_call: false,
        break_glass: None,
    };
    let new = NewRequest {
        id: format!("b{n:011}"),
        requester: &requester,
        requested_in: "C0DEV",
        identity: crate::domain::identity::Identity::user(&format!("oidc:user{n}@example.com")),
        incident: None,
        reason: "benchmark",
        terms,
    };
    let requested = Grant::request(new, now, policy);
    let approve = Event::Approve {
        approver: APPROVER.into(),
    };
    let bound = Event::Bound {
        subject: format!("oidc:user{n}@example.com"),
        groups: vec![],
        expires_at,
        before: None,
    };
    let mut grant = requested
        .apply(&approve, now, policy)
        .and_then(|g| g.apply(&bound, now, policy))
        .expect("the bench grants follow the lifecycle");
    grant.outbox.clear();
    grant
}

/// What each seeded grant's outbox still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbox {
    /// Nothing: the bot left it settled.
    Empty,
    /// The requester has just asked for an hour more: the extension message, the audit post
    /// and the thread reply are still to be posted.
    ExtensionToPost,
}

/// Where seeded grants are written.
#[derive(Debug, Clone, Copy)]
pub enum SeedInto<'a> {
    /// A sled store's directory.
    Sled(&'a std::path::Path),
    /// A PostgreSQL database's URL.
    Postgres(&'a str),
}

/// Writes `count` active grants, grant `n` expiring at `expiry(n)`, and their RoleBindings.
pub async fn seed(
    store: SeedInto<'_>,
    kube: &FakeKube,
    count: usize,
    now: DateTime<Utc>,
    expiry: impl Fn(usize) -> DateTime<Utc>,
    outbox: Outbox,
) -> anyhow::Result<Vec<(String, DateTime<Utc>)>> {
    let policy = policy();
    let grants = (0..count)
        .map(|n| {
            let grant = active_grant(n, now, expiry(n), &policy);
            match outbox {
                Outbox::Empty => grant,
                Outbox::ExtensionToPost => asking_for_an_hour_more(n, grant, now, &policy),
            }
        })
        .collect();
    write(store, kube, grants, now).await
}

/// Grant `n`, its approval message posted, with its requester's extension request applied.
fn asking_for_an_hour_more(
    n: usize,
    mut grant: Grant,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Grant {
    grant.approval_message = Some(MessageRef {
        channel: "C0APPROVALS".into(),
        ts: format!("1700000000.{n:06}"),
        permalink: None,
    });
    let extend = Event::RequestExtension {
        by: grant.requester.clone(),
        secs: 3600,
    };
    grant
        .apply(&extend, now, policy)
        .expect("the bench role allows a one-hour extension")
}

/// Writes `grants` (their audit entries worded as the bot words them) and their RoleBindings.
async fn write(
    store: SeedInto<'_>,
    kube: &FakeKube,
    mut grants: Vec<Grant>,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, DateTime<Utc>)>> {
    for grant in &grants {
        kube.seed_binding(
            "payments",
            json!({
                "metadata": {
                    "name": grant.binding_name(),
                    "labels": { MANAGED_BY_LABEL: MANAGED_BY_VALUE, GRANT_LABEL: grant.id },
                    "annotations": { EXPIRES_AT_ANNOTATION: grant.expires_at.map(|t| t.to_rfc3339()) },
                },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit" },
                "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": grant.subject }],
            }),
        );
    }
    let templates = Templates::new()?;
    for grant in &mut grants {
        templates.word_journal(&mut grant.journal);
    }
    match store {
        SeedInto::Sled(path) => {
            let opened = SledStore::open(path)?;
            opened.insert_all(&grants).await?;
        }
        SeedInto::Postgres(url) => {
            let opened = crate::store::PostgresStore::connect(url).await?;
            opened.insert_all(&grants).await?;
        }
    }
    Ok(grants
        .into_iter()
        .map(|g| (g.binding_name(), g.expires_at.unwrap_or(now)))
        .collect())
}
