//! Proof that access ended. Deleting a binding is not the same as ending access: the subject may
//! hold the same rights through another binding (a team's RoleBinding, a group's). Once a
//! grant's bindings are gone, the cluster is asked with a SubjectAccessReview, probe by probe,
//! whether the subject can still do what the role allowed in the grant's scope; the verdict names
//! what is still allowed and the bindings that name the subject.

use serde::{Deserialize, Serialize};

use super::failure::Failure;
use super::grant::Grant;
use super::permissions::Permission;

/// One thing a role allows, asked of the cluster for the subject: a verb on a resource (and
/// subresource) of an API group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
}

const fn probe(verb: &'static str, group: &'static str, resource: &'static str) -> Probe {
    Probe {
        verb,
        group,
        resource,
        subresource: None,
    }
}

const fn sub(verb: &'static str, resource: &'static str, subresource: &'static str) -> Probe {
    Probe {
        verb,
        group: "",
        resource,
        subresource: Some(subresource),
    }
}

const READ: &[Probe] = &[
    probe("get", "", "pods"),
    probe("list", "", "pods"),
    sub("get", "pods", "log"),
    probe("list", "apps", "deployments"),
];

const WRITE: &[Probe] = &[
    sub("create", "pods", "exec"),
    sub("create", "pods", "portforward"),
    probe("delete", "", "pods"),
    probe("patch", "apps", "deployments"),
    probe("get", "", "secrets"),
];

const GRANT_RIGHTS: &[Probe] = &[probe("create", "rbac.authorization.k8s.io", "rolebindings")];

/// What is asked after a grant of each ClusterRole ends: a few of the role's own rules, the ones
/// that matter most, verb by verb. A role not listed is asked what `view` is.
const PROBES: &[(&str, &[&[Probe]])] = &[
    ("view", &[READ]),
    ("edit", &[READ, WRITE]),
    ("admin", &[READ, WRITE, GRANT_RIGHTS]),
    ("cluster-admin", &[READ, WRITE, GRANT_RIGHTS]),
];

/// The probes for a grant of `cluster_role`.
pub fn probes(cluster_role: &str) -> Vec<Probe> {
    let sets = PROBES
        .iter()
        .find(|(role, _)| *role == cluster_role)
        .map_or(&[READ][..], |(_, sets)| sets);
    sets.iter().flat_map(|set| set.iter().copied()).collect()
}

/// Every question asked after `grant` ends: each probe of its role, in each of its namespaces
/// (once, cluster-wide, for a cluster-scoped grant).
pub fn questions(grant: &Grant) -> Vec<Permission> {
    let namespaces: Vec<Option<String>> = if grant.scope.is_cluster() {
        vec![None]
    } else {
        grant.scope.namespaces().iter().cloned().map(Some).collect()
    };
    let probes = probes(&grant.cluster_role);
    namespaces
        .iter()
        .flat_map(|namespace| {
            probes.iter().map(|p| Permission {
                verb: p.verb,
                group: p.group,
                resource: p.resource,
                name: None,
                namespace: namespace.clone(),
                subresource: p.subresource,
            })
        })
        .collect()
}

/// What the cluster answered one question: whether it is allowed, and the authorizer's reason
/// (RBAC names the binding that allowed it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub allowed: bool,
    pub reason: String,
}

impl Answer {
    /// Allowed through the grant's own binding (`own_name`): the apiserver's RBAC cache has not
    /// yet seen it deleted, so the question must be asked again, not answered "still allowed".
    pub fn through_own_binding(&self, own_name: &str) -> bool {
        let role_binding = format!("RoleBinding \"{own_name}/");
        let cluster_binding = format!("ClusterRoleBinding \"{own_name}\"");
        self.allowed
            && (self.reason.contains(&role_binding) || self.reason.contains(&cluster_binding))
    }
}

/// A binding that names the subject (as a user, or one of its groups), read from the cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NamedBinding {
    /// `None` for a ClusterRoleBinding.
    pub namespace: Option<String>,
    pub name: String,
    /// `ClusterRole` or `Role`.
    pub role_kind: String,
    pub role: String,
    /// The user or group it names (`User alice@example.com`, `Group payments-oncall`).
    pub subject_kind: String,
    pub subject: String,
}

/// One permission the subject still has after the grant ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StillAllowed {
    pub verb: String,
    /// `pods` or `pods/exec`, as kubectl names it.
    pub resource: String,
    pub group: String,
    /// `None`: cluster-wide.
    pub namespace: Option<String>,
}

impl StillAllowed {
    pub fn of(permission: &Permission) -> Self {
        let resource = match permission.subresource {
            Some(sub) => format!("{}/{sub}", permission.resource),
            None => permission.resource.to_string(),
        };
        StillAllowed {
            verb: permission.verb.to_string(),
            resource,
            group: permission.group.to_string(),
            namespace: permission.namespace.clone(),
        }
    }
}

/// What the cluster said once a grant's bindings were gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verification {
    /// No probe is allowed any more, beyond what the subject could do before the grant:
    /// access really ended.
    NoLongerAllowed {
        probes: usize,
        /// Probes allowed before the grant as well (standing access), and still.
        #[serde(default, skip_serializing_if = "is_zero")]
        standing: usize,
    },
    /// These are still allowed, through other bindings; `bindings` are those that name the
    /// subject or its groups (empty when none names them: the access comes from elsewhere, e.g.
    /// a group the bot was not told of).
    StillAllowed {
        allowed: Vec<StillAllowed>,
        /// Probes allowed before the grant as well, left out of `allowed`.
        #[serde(default, skip_serializing_if = "is_zero")]
        standing: usize,
        bindings: Vec<NamedBinding>,
        /// Why the bindings could not be listed, when they could not (`bindings` is then empty).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unlisted: Option<String>,
    },
    /// The cluster could not be asked; the revocation is not verified.
    Unverified { failure: Failure },
}

/// Whether any answer allows what the subject could not do before the grant: only then are the
/// bindings that name it worth listing.
pub fn allowed_beyond(answers: &[(Permission, bool)], standing: Option<&[StillAllowed]>) -> bool {
    answers.iter().any(|(permission, allowed)| {
        *allowed && !standing.is_some_and(|before| before.contains(&StillAllowed::of(permission)))
    })
}

impl Verification {
    /// The verdict on the answers to `questions` (allowed or not, in order), with the bindings
    /// that name the subject, of which the grant's own (named `own_name`) are left out: they were
    /// just deleted, and a list may still show them for a moment.
    pub fn of(
        answers: &[(Permission, bool)],
        standing: Option<&[StillAllowed]>,
        bindings: Result<Vec<NamedBinding>, String>,
        own_name: &str,
    ) -> Verification {
        let (kept, allowed): (Vec<StillAllowed>, Vec<StillAllowed>) = answers
            .iter()
            .filter(|(_, allowed)| *allowed)
            .map(|(permission, _)| StillAllowed::of(permission))
            .partition(|a| standing.is_some_and(|before| before.contains(a)));
        let standing = kept.len();
        if allowed.is_empty() {
            return Verification::NoLongerAllowed {
                probes: answers.len(),
                standing,
            };
        }
        let (bindings, unlisted) = match bindings {
            Ok(bindings) => (bindings, None),
            Err(why) => (Vec::new(), Some(why)),
        };
        let mut bindings: Vec<NamedBinding> = bindings
            .into_iter()
            .filter(|b| b.name != own_name)
            .collect();
        bindings.sort();
        bindings.dedup();
        Verification::StillAllowed {
            allowed,
            standing,
            bindings,
            unlisted,
        }
    }

    /// Whether the revocation was proven: nothing is allowed any more.
    pub fn verified(&self) -> bool {
        matches!(self, Verification::NoLongerAllowed { .. })
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests;
