//! The Kubernetes objects a grant's end can leave in place: a pod a stream is still open into,
//! and what the subject created or changed. Named by API group, version and resource, as the
//! API's paths name them, so the bot can ask whether each still exists and delete it when an
//! approver asks.

use serde::{Deserialize, Serialize};

use super::{Leftover, LeftoverKind, OpenStream};
use crate::domain::permissions::Permission;

/// One object in the Kubernetes API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// The API group: `""` for the core group.
    pub group: String,
    pub version: String,
    /// The resource, plural as in the API's paths: `serviceaccounts`.
    pub resource: String,
    /// `None` for a cluster-wide object.
    pub namespace: Option<String>,
    pub name: String,
    /// The object as it was seen (its metadata's `uid`): deleting it then deletes that object
    /// or nothing, never one made since under the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// What a metadata-only read of an object says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub uid: Option<String>,
    /// A controller owns it (a pod's ReplicaSet, StatefulSet…): deleted, it is made again.
    pub controlled: bool,
}

/// The API group and version of each resource a leftover can be.
const APIS: &[(&str, &str, &str)] = &[
    ("serviceaccounts", "", "v1"),
    ("secrets", "", "v1"),
    ("pods", "", "v1"),
    ("replicationcontrollers", "", "v1"),
    ("rolebindings", "rbac.authorization.k8s.io", "v1"),
    ("clusterrolebindings", "rbac.authorization.k8s.io", "v1"),
    ("roles", "rbac.authorization.k8s.io", "v1"),
    ("clusterroles", "rbac.authorization.k8s.io", "v1"),
    ("deployments", "apps", "v1"),
    ("daemonsets", "apps", "v1"),
    ("statefulsets", "apps", "v1"),
    ("replicasets", "apps", "v1"),
    ("jobs", "batch", "v1"),
    ("cronjobs", "batch", "v1"),
    (
        "mutatingwebhookconfigurations",
        "admissionregistration.k8s.io",
        "v1",
    ),
    (
        "validatingwebhookconfigurations",
        "admissionregistration.k8s.io",
        "v1",
    ),
    ("certificatesigningrequests", "certificates.k8s.io", "v1"),
];

/// Every resource a leftover can be, with its API group: (resource, group).
pub fn leftover_resources() -> impl Iterator<Item = (&'static str, &'static str)> {
    APIS.iter().map(|(resource, group, _)| (*resource, *group))
}

impl ObjectRef {
    /// `resource` in `namespace` named `name`, for a resource of the table above.
    pub fn of(resource: &str, namespace: Option<&str>, name: &str) -> Option<ObjectRef> {
        let (_, group, version) = APIS.iter().find(|(r, _, _)| *r == resource)?;
        Some(ObjectRef {
            group: group.to_string(),
            version: version.to_string(),
            resource: resource.to_string(),
            namespace: namespace.map(String::from),
            name: name.to_string(),
            uid: None,
        })
    }

    /// What the bot needs to delete it (asked before a Delete or Restart pod button is offered).
    pub fn delete_permission(&self) -> Option<Permission> {
        let (resource, group, _) = APIS.iter().find(|(r, _, _)| *r == self.resource)?;
        Some(Permission {
            verb: "delete",
            group,
            resource,
            name: None,
            namespace: self.namespace.clone(),
            subresource: None,
        })
    }

    /// The object's API path: `/api/v1/namespaces/payments/pods/api-7f9c`.
    pub fn path(&self) -> String {
        let api = match self.group.as_str() {
            "" => format!("/api/{}", self.version),
            group => format!("/apis/{group}/{}", self.version),
        };
        match &self.namespace {
            Some(ns) => format!("{api}/namespaces/{ns}/{}/{}", self.resource, self.name),
            None => format!("{api}/{}/{}", self.resource, self.name),
        }
    }
}

impl Leftover {
    /// The object whose existence says whether this leftover still carries access: the object
    /// itself, or for a token its ServiceAccount (a token ends with it). `None` when the request
    /// named no object.
    pub fn object(&self) -> Option<ObjectRef> {
        let name = self.name.as_deref()?;
        let resource = self.resource.split('/').next().unwrap_or(&self.resource);
        ObjectRef::of(resource, self.namespace.as_deref(), name)
    }

    /// The object an approver may delete: one the subject created during the grant, not one it
    /// only changed (that was there before, and may be production's own); not a token's
    /// ServiceAccount, which others may use, nor a Secret, which may be a workload's.
    pub fn deletable(&self) -> Option<ObjectRef> {
        match self.kind {
            LeftoverKind::Token | LeftoverKind::Secret => None,
            _ if !self.created => None,
            _ => self.object(),
        }
    }
}

impl OpenStream {
    /// The pod the stream is open into; deleting it ends the stream.
    pub fn pod_object(&self) -> Option<ObjectRef> {
        if !self.into_pod() {
            return None;
        }
        ObjectRef::of(
            "pods",
            Some(self.namespace.as_deref()?),
            self.pod.as_deref()?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_apis_own() {
        let pod = ObjectRef::of("pods", Some("payments"), "api-7f9c").unwrap();
        assert_eq!(pod.path(), "/api/v1/namespaces/payments/pods/api-7f9c");
        let crb = ObjectRef::of("clusterrolebindings", None, "backdoor").unwrap();
        assert_eq!(
            crb.path(),
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/backdoor"
        );
        let cron = ObjectRef::of("cronjobs", Some("payments"), "exfil").unwrap();
        assert_eq!(
            cron.path(),
            "/apis/batch/v1/namespaces/payments/cronjobs/exfil"
        );
        assert_eq!(ObjectRef::of("widgets", None, "w"), None);
    }

    #[test]
    fn every_rule_names_a_resource_the_api_table_knows() {
        for rule in super::super::RULES {
            for resource in rule.resources {
                assert!(
                    ObjectRef::of(resource, None, "x").is_some(),
                    "{resource} has no API group"
                );
            }
        }
    }
}
