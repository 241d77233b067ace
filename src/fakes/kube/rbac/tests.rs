//! The RBAC evaluator, rule by rule, against what the apiserver decides and says.

use serde_json::{Value, json};

use super::*;

mod bindings;

/// The Roles, ClusterRoles and bindings a test decides over.
#[derive(Default)]
pub(crate) struct World {
    pub(crate) roles: BTreeMap<(String, String), Value>,
    pub(crate) cluster_roles: BTreeMap<String, Value>,
    pub(crate) bindings: BTreeMap<(String, String), Value>,
}

impl World {
    pub(crate) fn with_cluster_role(mut self, name: &str, rules: Value) -> World {
        let role = json!({ "kind": "ClusterRole", "metadata": { "name": name }, "rules": rules });
        self.cluster_roles.insert(name.into(), role);
        self
    }

    pub(crate) fn with_role(mut self, namespace: &str, name: &str, rules: Value) -> World {
        let role = json!({ "kind": "Role", "metadata": { "name": name, "namespace": namespace }, "rules": rules });
        self.roles.insert((namespace.into(), name.into()), role);
        self
    }

    /// A RoleBinding in `namespace`, or a ClusterRoleBinding when `namespace` is empty.
    pub(crate) fn with_binding(
        mut self,
        namespace: &str,
        name: &str,
        role: (&str, &str),
        subjects: Value,
    ) -> World {
        let binding = json!({
            "metadata": { "name": name, "namespace": namespace },
            "roleRef": { "apiGroup": GROUP, "kind": role.0, "name": role.1 },
            "subjects": subjects,
        });
        self.bindings
            .insert((namespace.into(), name.into()), binding);
        self
    }

    pub(crate) fn decide(&self, request: &Request) -> Decision {
        let objects = Objects {
            roles: &self.roles,
            cluster_roles: &self.cluster_roles,
            bindings: &self.bindings,
        };
        authorize(&objects, request)
    }

    pub(crate) fn allows(&self, request: &Request) -> bool {
        self.decide(request).allowed
    }
}

pub(crate) fn user(name: &str) -> Value {
    json!([{ "kind": "User", "apiGroup": GROUP, "name": name }])
}

pub(crate) fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    json!({ "verbs": verbs, "apiGroups": groups, "resources": resources })
}

/// `who` (with `groups`) asks to `verb` `resource` (`pods/exec` names a subresource) of the API
/// `group` in `namespace` ("" for cluster-scoped).
pub(crate) fn asks(
    who: &str,
    groups: &[&str],
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
) -> Request {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    Request {
        requester: Requester {
            user: who.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        },
        action: Action::Resource(ResourceAction {
            namespace: namespace.into(),
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            name: String::new(),
        }),
    }
}

pub(crate) fn alice(verb: &str, resource: &str, namespace: &str) -> Request {
    asks("alice", &[], verb, "", resource, namespace)
}

pub(crate) fn named(mut request: Request, name: &str) -> Request {
    if let Action::Resource(action) = &mut request.action {
        action.name = name.into();
    }
    request
}

pub(crate) fn url(who: &str, verb: &str, path: &str) -> Request {
    Request {
        requester: Requester {
            user: who.into(),
            groups: vec![],
        },
        action: Action::NonResource {
            path: path.into(),
            verb: verb.into(),
        },
    }
}

/// alice holds the ClusterRole `rules` in payments through the RoleBinding payments/team.
pub(crate) fn alice_in_payments_with(rules: Value) -> World {
    World::default()
        .with_cluster_role("team", rules)
        .with_binding("payments", "team", ("ClusterRole", "team"), user("alice"))
}

#[test]
fn a_listed_verb_allows_it_and_no_other() {
    let world = alice_in_payments_with(json!([rule(&["get", "list"], &[""], &["pods"])]));
    assert!(world.allows(&alice("get", "pods", "payments")));
    assert!(world.allows(&alice("list", "pods", "payments")));
    assert!(!world.allows(&alice("delete", "pods", "payments")));
}

#[test]
fn the_verb_star_allows_every_verb() {
    let world = alice_in_payments_with(json!([rule(&["*"], &[""], &["pods"])]));
    assert!(world.allows(&alice("delete", "pods", "payments")));
    assert!(world.allows(&alice("escalate", "pods", "payments")));
    assert!(!world.allows(&alice("delete", "services", "payments")));
}

#[test]
fn the_api_group_must_be_listed_or_star() {
    let core = alice_in_payments_with(json!([rule(&["get"], &[""], &["deployments"])]));
    let apps = asks("alice", &[], "get", "apps", "deployments", "payments");
    assert!(
        !core.allows(&apps),
        "deployments of the core group are not those of apps"
    );
    assert!(core.allows(&alice("get", "deployments", "payments")));

    let any = alice_in_payments_with(json!([rule(&["get"], &["*"], &["deployments"])]));
    assert!(any.allows(&apps));
    assert!(any.allows(&asks(
        "alice",
        &[],
        "get",
        "extensions",
        "deployments",
        "payments"
    )));
}

#[test]
fn the_resource_star_allows_every_resource_and_subresource() {
    let world = alice_in_payments_with(json!([rule(&["get"], &[""], &["*"])]));
    assert!(world.allows(&alice("get", "secrets", "payments")));
    assert!(world.allows(&alice("get", "pods/log", "payments")));
    assert!(!world.allows(&asks(
        "alice",
        &[],
        "get",
        "apps",
        "deployments",
        "payments"
    )));
}

#[test]
fn a_subresource_is_allowed_only_by_its_own_name_or_star_slash_it() {
    let pods = alice_in_payments_with(json!([rule(&["create", "get"], &[""], &["pods"])]));
    assert!(pods.allows(&alice("create", "pods", "payments")));
    assert!(
        !pods.allows(&alice("create", "pods/exec", "payments")),
        "pods is not pods/exec"
    );

    let exec = alice_in_payments_with(json!([rule(&["create"], &[""], &["pods/exec"])]));
    assert!(exec.allows(&alice("create", "pods/exec", "payments")));
    assert!(
        !exec.allows(&alice("create", "pods", "payments")),
        "pods/exec is not pods"
    );
    assert!(!exec.allows(&alice("create", "pods/attach", "payments")));

    let any_exec = alice_in_payments_with(json!([rule(&["create"], &[""], &["*/exec"])]));
    assert!(any_exec.allows(&alice("create", "pods/exec", "payments")));
    assert!(any_exec.allows(&alice("create", "nodes/exec", "payments")));
    assert!(!any_exec.allows(&alice("create", "pods", "payments")));
    assert!(!any_exec.allows(&alice("create", "pods/execute", "payments")));
}

#[test]
fn resource_names_confine_a_rule_to_those_names_and_star_is_no_wildcard_there() {
    let mut only_web = rule(&["get"], &[""], &["configmaps"]);
    only_web["resourceNames"] = json!(["web"]);
    let world = alice_in_payments_with(json!([only_web]));
    assert!(world.allows(&named(alice("get", "configmaps", "payments"), "web")));
    assert!(!world.allows(&named(alice("get", "configmaps", "payments"), "db")));
    assert!(
        !world.allows(&alice("get", "configmaps", "payments")),
        "a list names none"
    );

    let mut star = rule(&["get"], &[""], &["configmaps"]);
    star["resourceNames"] = json!(["*"]);
    let world = alice_in_payments_with(json!([star]));
    assert!(!world.allows(&named(alice("get", "configmaps", "payments"), "web")));
}

#[test]
fn non_resource_urls_match_exactly_by_star_suffix_or_star_and_only_through_cluster_role_bindings() {
    let urls = json!([
        { "verbs": ["get"], "nonResourceURLs": ["/healthz", "/metrics/*", "/api*"] },
    ]);
    let world = World::default()
        .with_cluster_role("prober", urls.clone())
        .with_binding("", "probers", ("ClusterRole", "prober"), user("alice"));
    assert!(world.allows(&url("alice", "get", "/healthz")));
    assert!(!world.allows(&url("alice", "get", "/healthz/etcd")));
    assert!(world.allows(&url("alice", "get", "/metrics/cadvisor")));
    assert!(
        !world.allows(&url("alice", "get", "/metrics")),
        "/metrics/* needs the slash"
    );
    assert!(world.allows(&url("alice", "get", "/apis/apps")));
    assert!(!world.allows(&url("alice", "post", "/healthz")));
    assert_eq!(
        world.decide(&url("alice", "get", "/healthz")).reason,
        "RBAC: allowed by ClusterRoleBinding \"probers\" of ClusterRole \"prober\" to User \"alice\""
    );

    let everything = World::default()
        .with_cluster_role(
            "root",
            json!([{ "verbs": ["*"], "nonResourceURLs": ["*"] }]),
        )
        .with_binding("", "roots", ("ClusterRole", "root"), user("alice"));
    assert!(everything.allows(&url("alice", "put", "/anything/at/all")));

    let through_role_binding = World::default()
        .with_cluster_role("prober", urls)
        .with_binding(
            "payments",
            "probers",
            ("ClusterRole", "prober"),
            user("alice"),
        );
    assert!(!through_role_binding.allows(&url("alice", "get", "/healthz")));
}

#[test]
fn resource_rules_and_url_rules_do_not_stand_in_for_each_other() {
    let world = World::default()
        .with_cluster_role(
            "mixed",
            json!([
                { "verbs": ["*"], "nonResourceURLs": ["*"] },
                rule(&["*"], &["*"], &["*"]),
            ]),
        )
        .with_cluster_role(
            "urls",
            json!([{ "verbs": ["*"], "nonResourceURLs": ["*"] }]),
        )
        .with_cluster_role("resources", json!([rule(&["*"], &["*"], &["*"])]))
        .with_binding("", "urls", ("ClusterRole", "urls"), user("url-only"))
        .with_binding(
            "",
            "resources",
            ("ClusterRole", "resources"),
            user("resource-only"),
        );
    assert!(!world.allows(&asks("url-only", &[], "get", "", "pods", "payments")));
    assert!(!world.allows(&url("resource-only", "get", "/healthz")));
}

#[test]
fn a_review_spec_reads_as_the_request_it_describes() {
    let spec = json!({
        "user": "alice", "groups": ["payments-oncall"],
        "resourceAttributes": { "namespace": "payments", "verb": "create", "resource": "pods", "subresource": "exec", "name": "web-0" },
    });
    let request = Request::from_review_spec(&spec).unwrap();
    assert_eq!(request.requester.groups, ["payments-oncall"]);
    let Action::Resource(action) = request.action else {
        panic!("a resource request")
    };
    assert_eq!(
        (
            action.group.as_str(),
            action.resource.as_str(),
            action.subresource.as_str(),
            action.name.as_str()
        ),
        ("", "pods", "exec", "web-0")
    );
    assert!(Request::from_review_spec(&json!({ "user": "alice" })).is_none());
}
