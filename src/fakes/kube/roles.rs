//! Roles and ClusterRoles the fake holds: the default user-facing ClusterRoles from the start,
//! and the test helpers that add roles and a team's own bindings.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::status::validate;
use super::{FakeKube, GROUP};

const READ: &str = "get list watch";
const WRITE: &str = "create delete deletecollection patch update";
const READ_WRITE: &str = "create delete deletecollection get list patch update watch";

/// One rule: (verbs, API group, resources), lists separated by spaces.
type Rule = (&'static str, &'static str, &'static str);

/// `system:aggregate-to-view`, without the `extensions` group no cluster serves any more.
const VIEW: &[Rule] = &[
    (
        READ,
        "",
        "configmaps endpoints persistentvolumeclaims persistentvolumeclaims/status pods \
         replicationcontrollers replicationcontrollers/scale serviceaccounts services \
         services/status",
    ),
    (
        READ,
        "",
        "bindings events limitranges namespaces/status pods/log pods/status \
         replicationcontrollers/status resourcequotas resourcequotas/status",
    ),
    (READ, "", "namespaces"),
    (READ, "discovery.k8s.io", "endpointslices"),
    (
        READ,
        "apps",
        "controllerrevisions daemonsets daemonsets/status deployments deployments/scale \
         deployments/status replicasets replicasets/scale replicasets/status statefulsets \
         statefulsets/scale statefulsets/status",
    ),
    (
        READ,
        "autoscaling",
        "horizontalpodautoscalers horizontalpodautoscalers/status",
    ),
    (READ, "batch", "cronjobs cronjobs/status jobs jobs/status"),
    (
        READ,
        "policy",
        "poddisruptionbudgets poddisruptionbudgets/status",
    ),
    (
        READ,
        "networking.k8s.io",
        "ingresses ingresses/status networkpolicies",
    ),
];

/// `system:aggregate-to-edit` (what `edit` adds to `view`), without `extensions`. Secrets are
/// here, not in `view`.
const EDIT: &[Rule] = &[
    (
        READ,
        "",
        "pods/attach pods/exec pods/portforward pods/proxy secrets services/proxy",
    ),
    ("impersonate", "", "serviceaccounts"),
    (
        WRITE,
        "",
        "pods pods/attach pods/exec pods/portforward pods/proxy",
    ),
    ("create", "", "pods/eviction"),
    (
        WRITE,
        "",
        "configmaps events persistentvolumeclaims replicationcontrollers \
         replicationcontrollers/scale secrets serviceaccounts services services/proxy",
    ),
    ("create", "", "serviceaccounts/token"),
    (
        WRITE,
        "apps",
        "daemonsets deployments deployments/rollback deployments/scale replicasets \
         replicasets/scale statefulsets statefulsets/scale",
    ),
    (WRITE, "autoscaling", "horizontalpodautoscalers"),
    (WRITE, "batch", "cronjobs jobs"),
    (WRITE, "policy", "poddisruptionbudgets"),
    (WRITE, "networking.k8s.io", "ingresses networkpolicies"),
    (READ_WRITE, "coordination.k8s.io", "leases"),
];

/// `system:aggregate-to-admin` (what `admin` adds to `edit`).
const ADMIN: &[Rule] = &[
    (
        "create",
        "authorization.k8s.io",
        "localsubjectaccessreviews",
    ),
    (READ_WRITE, GROUP, "rolebindings roles"),
];

/// The default user-facing ClusterRoles, with the rules the aggregation controller gives them
/// (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy`): `view`; `edit` = view + EDIT;
/// `admin` = edit + ADMIN; `cluster-admin` = everything.
pub(super) fn default_cluster_roles() -> BTreeMap<String, Value> {
    let view = rules(&[VIEW]);
    let edit = rules(&[EDIT, VIEW]);
    let admin = rules(&[EDIT, VIEW, ADMIN]);
    let cluster_admin = json!([
        { "apiGroups": ["*"], "resources": ["*"], "verbs": ["*"] },
        { "nonResourceURLs": ["*"], "verbs": ["*"] },
    ]);
    [
        ("view", view, Some("view")),
        ("edit", edit, Some("edit")),
        ("admin", admin, Some("admin")),
        ("cluster-admin", cluster_admin, None),
    ]
    .into_iter()
    .map(|(name, rules, aggregated)| {
        let mut role = cluster_role(name, rules);
        role["metadata"]["labels"] = json!({ "kubernetes.io/bootstrapping": "rbac-defaults" });
        if let Some(aggregated) = aggregated {
            let label = format!("{GROUP}/aggregate-to-{aggregated}");
            role["aggregationRule"] =
                json!({ "clusterRoleSelectors": [{ "matchLabels": { label: "true" } }] });
        }
        (name.to_string(), role)
    })
    .collect()
}

fn rules(tables: &[&[Rule]]) -> Value {
    tables
        .iter()
        .flat_map(|table| table.iter())
        .map(|(verbs, group, resources)| {
            let list = |words: &'static str| words.split_whitespace().collect::<Vec<_>>();
            json!({ "apiGroups": [group], "resources": list(resources), "verbs": list(verbs) })
        })
        .collect()
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/v1"), "kind": "ClusterRole",
        "metadata": { "name": name, "uid": uuid::Uuid::new_v4().to_string() },
        "rules": rules,
    })
}

impl FakeKube {
    /// Puts the ClusterRole `name` with these rules in place (replacing one of that name), as
    /// if someone had created it.
    pub fn add_cluster_role(&self, name: &str, rules: Value) {
        let mut role = cluster_role(name, rules);
        role["metadata"]["resourceVersion"] = json!(self.next_version());
        self.lock().cluster_roles.insert(name.to_string(), role);
    }

    /// Puts the Role `namespace`/`name` with these rules in place (replacing one of that name).
    pub fn add_role(&self, namespace: &str, name: &str, rules: Value) {
        let mut role = cluster_role(name, rules);
        role["kind"] = json!("Role");
        role["metadata"]["namespace"] = json!(namespace);
        role["metadata"]["resourceVersion"] = json!(self.next_version());
        let key = (namespace.to_string(), name.to_string());
        self.lock().roles.insert(key, role);
    }

    /// Puts a binding that is not prod-access's in place, as a team would have made it: a
    /// RoleBinding in `namespace`, or a ClusterRoleBinding when it is `None`. User and Group
    /// subjects without an `apiGroup` get the RBAC one, as the apiserver defaults them; the
    /// binding must be valid (panics otherwise: a test's mistake).
    pub fn add_team_binding(
        &self,
        namespace: Option<&str>,
        name: &str,
        role_ref_kind: &str,
        role_ref_name: &str,
        mut subjects: Value,
    ) {
        for subject in subjects.as_array_mut().into_iter().flatten() {
            if subject["kind"] != "ServiceAccount" && subject["apiGroup"].is_null() {
                subject["apiGroup"] = json!(GROUP);
            }
        }
        let (kind, key) = match namespace {
            Some(namespace) => ("RoleBinding", namespace),
            None => ("ClusterRoleBinding", ""),
        };
        let mut binding = json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": kind,
            "metadata": { "name": name, "creationTimestamp": "2026-11-01T09:00:00Z" },
            "roleRef": { "apiGroup": GROUP, "kind": role_ref_kind, "name": role_ref_name },
            "subjects": subjects,
        });
        if let Some(namespace) = namespace {
            binding["metadata"]["namespace"] = json!(namespace);
        }
        let causes = validate(&binding);
        assert!(causes.is_empty(), "an invalid {kind}: {causes:?}");
        self.insert_binding(key, name, binding);
    }

    /// Every SubjectAccessReview asked, as it was sent.
    pub fn subject_access_reviews(&self) -> Vec<Value> {
        self.lock().subject_reviews.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::rbac::tests::{World, asks, user};
    use super::*;

    /// Whether `role`, bound to alice in payments, lets her `verb` `resource` of `group`.
    fn lets(role: &str, verb: &str, group: &str, resource: &str) -> bool {
        let world = World {
            cluster_roles: default_cluster_roles(),
            ..World::default()
        };
        world
            .with_binding("payments", "b", ("ClusterRole", role), user("alice"))
            .allows(&asks("alice", &[], verb, group, resource, "payments"))
    }

    #[test]
    fn view_reads_workloads_and_logs_but_not_secrets_and_changes_nothing() {
        assert!(lets("view", "get", "", "pods/log"));
        assert!(lets("view", "watch", "apps", "deployments"));
        assert!(lets("view", "list", "batch", "cronjobs"));
        assert!(!lets("view", "get", "", "secrets"));
        assert!(!lets("view", "delete", "", "pods"));
        assert!(!lets("view", "create", "", "pods/exec"));
    }

    #[test]
    fn edit_adds_changes_secrets_and_exec_but_not_rbac() {
        assert!(lets("edit", "get", "", "pods"));
        assert!(lets("edit", "create", "", "pods/exec"));
        assert!(lets("edit", "get", "", "secrets"));
        assert!(lets("edit", "patch", "apps", "deployments/scale"));
        assert!(lets("edit", "impersonate", "", "serviceaccounts"));
        assert!(lets("edit", "create", "", "serviceaccounts/token"));
        assert!(!lets("edit", "create", GROUP, "rolebindings"));
        assert!(!lets("edit", "update", "", "pods/status"));
    }

    #[test]
    fn admin_adds_roles_and_role_bindings_and_cluster_admin_has_everything() {
        assert!(lets("admin", "create", GROUP, "rolebindings"));
        assert!(lets("admin", "create", "", "pods/exec"));
        assert!(!lets("admin", "create", GROUP, "clusterrolebindings"));
        assert!(lets("cluster-admin", "escalate", GROUP, "clusterroles"));
        assert!(lets("cluster-admin", "delete", "", "namespaces"));
    }
}
