//! What the bot itself must be allowed to do in the cluster for the policy to work.

use super::policy::Policy;

/// One `SelfSubjectAccessReview` resource attribute set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    /// A single object's name (for `bind` on one ClusterRole).
    pub name: Option<String>,
    /// For namespaced permissions (ServiceAccounts in their namespace).
    pub namespace: Option<String>,
    pub subresource: Option<&'static str>,
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(sub) = self.subresource {
            write!(f, "/{sub}")?;
        }
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if let Some(name) = &self.name {
            write!(f, " \"{name}\"")?;
        }
        if let Some(namespace) = &self.namespace {
            write!(f, " in namespace {namespace}")?;
        }
        Ok(())
    }
}

const RBAC: &str = "rbac.authorization.k8s.io";

/// Cluster-wide (every namespace): manage RoleBindings (and ClusterRoleBindings when the policy
/// has cluster-scoped roles), and bind exactly the policy's ClusterRoles.
pub fn required(policy: &Policy) -> Vec<Permission> {
    let verbs = ["create", "get", "list", "patch", "delete"];
    let manage = |resource: &'static str| {
        verbs.into_iter().map(move |verb| Permission {
            verb,
            group: RBAC,
            resource,
            name: None,
            namespace: None,
            subresource: None,
        })
    };
    let mut needed: Vec<Permission> = manage("rolebindings").collect();
    if policy.has_cluster_roles() {
        needed.extend(manage("clusterrolebindings"));
    } else {
        // Read-only, to name the bindings through which access outlived its grant.
        needed.extend(manage("clusterrolebindings").filter(|p| p.verb == "list"));
    }
    // Whether a grant's subject can still do what its role allowed, once its bindings are gone.
    needed.push(Permission {
        verb: "create",
        group: "authorization.k8s.io",
        resource: "subjectaccessreviews",
        name: None,
        namespace: None,
        subresource: None,
    });
    let mut roles: Vec<&String> = policy.roles.values().map(|r| &r.cluster_role).collect();
    roles.sort();
    roles.dedup();
    needed.extend(roles.into_iter().map(|role| Permission {
        verb: "bind",
        group: RBAC,
        resource: "clusterroles",
        name: Some(role.clone()),
        namespace: None,
        subresource: None,
    }));
    needed
}

/// ServiceAccounts and their tokens, in the namespace where token-issuing grants keep them.
pub fn for_kubeconfigs(namespace: &str) -> Vec<Permission> {
    let core = |verb, subresource| Permission {
        verb,
        group: "",
        resource: "serviceaccounts",
        name: None,
        namespace: Some(namespace.to_string()),
        subresource,
    };
    vec![
        core("create", None),
        core("get", None),
        core("delete", None),
        core("create", Some("token")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::example_policy as example;

    #[test]
    fn every_cluster_role_of_the_policy_must_be_bindable_once() {
        let needed = required(&example());
        let shown: Vec<String> = needed.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            vec![
                "create rolebindings.rbac.authorization.k8s.io",
                "get rolebindings.rbac.authorization.k8s.io",
                "list rolebindings.rbac.authorization.k8s.io",
                "patch rolebindings.rbac.authorization.k8s.io",
                "delete rolebindings.rbac.authorization.k8s.io",
                "create clusterrolebindings.rbac.authorization.k8s.io",
                "get clusterrolebindings.rbac.authorization.k8s.io",
                "list clusterrolebindings.rbac.authorization.k8s.io",
                "patch clusterrolebindings.rbac.authorization.k8s.io",
                "delete clusterrolebindings.rbac.authorization.k8s.io",
                "create subjectaccessreviews.authorization.k8s.io",
                "bind clusterroles.rbac.authorization.k8s.io \"admin\"",
                "bind clusterroles.rbac.authorization.k8s.io \"edit\"",
                "bind clusterroles.rbac.authorization.k8s.io \"node-reader\"",
                "bind clusterroles.rbac.authorization.k8s.io \"view\"",
            ]
        );
    }
}
