//! What a grant's subject created or changed during the grant that can carry access beyond it:
//! a ServiceAccount and a token for it, a binding, a role, a workload running under some
//! ServiceAccount, a webhook, a certificate signing request. Deleting the grant's binding
//! leaves all of them in place. Which requests count, and how risky each is, are the rules
//! below: data, tested one by one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::KubeRequest;

/// How much access a leftover can carry on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Access by itself: a token, a binding, a webhook that sees or changes every request, a
    /// certificate that authenticates.
    High,
    /// Access once combined with something else, or code that runs as someone: a
    /// ServiceAccount, a role, a workload, a Secret.
    Medium,
}

/// What kind of object was left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftoverKind {
    ServiceAccount,
    /// A TokenRequest: a token for a ServiceAccount, valid for as long as was asked.
    Token,
    /// A Secret, which may be a `kubernetes.io/service-account-token` one.
    Secret,
    Binding,
    Role,
    /// A workload: it runs under a ServiceAccount, with that account's rights.
    Workload,
    Webhook,
    CertificateSigningRequest,
}

/// Which requests leave which kind of object behind.
pub struct Rule {
    pub resources: &'static [&'static str],
    /// `None`: the object itself, not a subresource of it.
    pub subresource: Option<&'static str>,
    pub verbs: &'static [&'static str],
    pub kind: LeftoverKind,
    pub risk: Risk,
}

const WRITE: &[&str] = &["create", "update", "patch"];

pub const RULES: &[Rule] = &[
    Rule {
        resources: &["serviceaccounts"],
        subresource: Some("token"),
        verbs: &["create"],
        kind: LeftoverKind::Token,
        risk: Risk::High,
    },
    Rule {
        resources: &["rolebindings", "clusterrolebindings"],
        subresource: None,
        verbs: WRITE,
        kind: LeftoverKind::Binding,
        risk: Risk::High,
    },
    Rule {
        resources: &[
            "mutatingwebhookconfigurations",
            "validatingwebhookconfigurations",
        ],
        subresource: None,
        verbs: WRITE,
        kind: LeftoverKind::Webhook,
        risk: Risk::High,
    },
    Rule {
        resources: &["certificatesigningrequests"],
        subresource: None,
        verbs: &["create"],
        kind: LeftoverKind::CertificateSigningRequest,
        risk: Risk::High,
    },
    Rule {
        resources: &["certificatesigningrequests"],
        subresource: Some("approval"),
        verbs: &["update", "patch"],
        kind: LeftoverKind::CertificateSigningRequest,
        risk: Risk::High,
    },
    Rule {
        resources: &["serviceaccounts"],
        subresource: None,
        verbs: &["create"],
        kind: LeftoverKind::ServiceAccount,
        risk: Risk::Medium,
    },
    Rule {
        resources: &["secrets"],
        subresource: None,
        verbs: WRITE,
        kind: LeftoverKind::Secret,
        risk: Risk::Medium,
    },
    Rule {
        resources: &["roles", "clusterroles"],
        subresource: None,
        verbs: WRITE,
        kind: LeftoverKind::Role,
        risk: Risk::Medium,
    },
    Rule {
        resources: &[
            "cronjobs",
            "jobs",
            "deployments",
            "daemonsets",
            "statefulsets",
            "replicasets",
            "replicationcontrollers",
            "pods",
        ],
        subresource: None,
        verbs: WRITE,
        kind: LeftoverKind::Workload,
        risk: Risk::Medium,
    },
];

/// One object the grant's subject created or changed that can carry access beyond the grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leftover {
    pub kind: LeftoverKind,
    pub risk: Risk,
    /// What was done, as the request says it: `create`, `patch`.
    pub verb: String,
    /// `serviceaccounts`, or `serviceaccounts/token` for a subresource.
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub at: DateTime<Utc>,
    pub audit_id: String,
    /// The subject created it during the grant (rather than only changed it): only then may
    /// approvers have the bot delete it.
    #[serde(default)]
    pub created: bool,
}

impl Leftover {
    /// What `request` left behind, if it matches a rule and the apiserver carried it out.
    pub fn of(request: &KubeRequest) -> Option<Leftover> {
        if !request.code.is_some_and(|code| (200..300).contains(&code)) {
            return None;
        }
        let resource = request.resource.as_deref()?;
        let subresource = request.subresource.as_deref();
        let rule = RULES.iter().find(|rule| {
            rule.resources.contains(&resource)
                && rule.subresource == subresource
                && rule.verbs.contains(&request.verb.as_str())
        })?;
        Some(Leftover {
            kind: rule.kind,
            risk: rule.risk,
            verb: request.verb.clone(),
            resource: match subresource {
                Some(sub) => format!("{resource}/{sub}"),
                None => resource.to_string(),
            },
            namespace: request.namespace.clone(),
            name: request.name.clone(),
            at: request.at,
            audit_id: request.audit_id.clone(),
            created: request.verb == "create",
        })
    }

    /// The same object (a later change of it replaces the earlier entry).
    fn same_object(&self, other: &Leftover) -> bool {
        (self.kind, &self.resource, &self.namespace, &self.name)
            == (other.kind, &other.resource, &other.namespace, &other.name)
    }
}

/// Objects kept per grant, highest risk first.
pub const MAX_LEFTOVERS: usize = 100;

/// Adds `found` to `kept`: once per object, the latest request about it, highest risk first.
/// When the list is full a riskier object takes the place of the newest least risky one, so a
/// flood of workload changes cannot hide a binding made after them.
pub(super) fn keep(kept: &mut Vec<Leftover>, mut found: Leftover) {
    // Created, then changed: still one the subject created.
    let created_before = kept.iter().any(|k| k.same_object(&found) && k.created);
    found.created |= created_before && found.name.is_some();
    kept.retain(|k| !k.same_object(&found) || found.name.is_none());
    if kept.len() >= MAX_LEFTOVERS {
        match kept.last() {
            Some(least) if least.risk > found.risk => {
                kept.pop();
            }
            _ => return,
        }
    }
    kept.push(found);
    kept.sort_by_key(|l| l.risk);
}

#[cfg(test)]
mod tests;
