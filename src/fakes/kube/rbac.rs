//! Kubernetes RBAC as the apiserver evaluates it: which rule of which Role or ClusterRole,
//! reached through which RoleBinding or ClusterRoleBinding, allows a request, and the reason the
//! apiserver gives. Pure: it reads the objects the fake holds and decides.
//!
//! Follows `plugin/pkg/auth/authorizer/rbac/rbac.go` and `pkg/registry/rbac/validation/rule.go`:
//! ClusterRoleBindings are visited first, then the RoleBindings of the request's namespace (none
//! for a cluster-scoped or non-resource request); the first rule that allows wins. Nothing is
//! ever denied explicitly: no rule allowing means not allowed.

use std::collections::BTreeMap;

use serde_json::Value;

use super::GROUP;

/// Who asks, as a SubjectAccessReview's `spec.user` and `spec.groups` name them.
#[derive(Debug, Clone, Default)]
pub struct Requester {
    pub user: String,
    pub groups: Vec<String>,
}

/// What is asked for on a resource: `spec.resourceAttributes`. `group` is the API group ("" for
/// the core group); empty strings stand for fields not given.
#[derive(Debug, Clone, Default)]
pub struct ResourceAction {
    pub namespace: String,
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

/// What is asked: on a resource, or on a URL that names none (`/healthz`, `/metrics`).
#[derive(Debug, Clone)]
pub enum Action {
    Resource(ResourceAction),
    NonResource { path: String, verb: String },
}

#[derive(Debug, Clone)]
pub struct Request {
    pub requester: Requester,
    pub action: Action,
}

impl Request {
    /// The request a SubjectAccessReview's `spec` describes; `None` when it gives neither
    /// `resourceAttributes` nor `nonResourceAttributes`.
    pub fn from_review_spec(spec: &Value) -> Option<Request> {
        let requester = Requester {
            user: text(spec, "user").to_string(),
            groups: strings(spec, "groups").map(String::from).collect(),
        };
        let resource = &spec["resourceAttributes"];
        let non_resource = &spec["nonResourceAttributes"];
        let action = if resource.is_object() {
            Action::Resource(ResourceAction {
                namespace: text(resource, "namespace").into(),
                verb: text(resource, "verb").into(),
                group: text(resource, "group").into(),
                resource: text(resource, "resource").into(),
                subresource: text(resource, "subresource").into(),
                name: text(resource, "name").into(),
            })
        } else if non_resource.is_object() {
            Action::NonResource {
                path: text(non_resource, "path").into(),
                verb: text(non_resource, "verb").into(),
            }
        } else {
            return None;
        };
        Some(Request { requester, action })
    }

    /// The namespace whose RoleBindings count: none for cluster-scoped and non-resource requests.
    fn namespace(&self) -> &str {
        match &self.action {
            Action::Resource(action) => &action.namespace,
            Action::NonResource { .. } => "",
        }
    }
}

/// The RBAC objects (`rbac.authorization.k8s.io/v1` JSON), keyed as the fake keeps them.
pub struct Objects<'a> {
    /// Roles by (namespace, name).
    pub roles: &'a BTreeMap<(String, String), Value>,
    /// ClusterRoles by name.
    pub cluster_roles: &'a BTreeMap<String, Value>,
    /// RoleBindings by (namespace, name) and ClusterRoleBindings by ("", name).
    pub bindings: &'a BTreeMap<(String, String), Value>,
}

/// The answer: `status.allowed` and `status.reason` of a SubjectAccessReview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Empty when the apiserver gives none.
    pub reason: String,
}

/// Whether RBAC allows `request`, and why (or, when a binding that applies names a role that
/// does not exist, why it might not have).
pub fn authorize(objects: &Objects, request: &Request) -> Decision {
    let mut unresolved = Vec::new();
    for binding in objects.bindings_visited_for(request.namespace()) {
        let Some(subject) = binding.subject_for(&request.requester) else {
            continue;
        };
        match objects.rules_of(&binding) {
            Ok(rules) if rules.iter().any(|rule| rule_allows(rule, &request.action)) => {
                return Decision {
                    allowed: true,
                    reason: format!("RBAC: allowed by {}", binding.describe(subject)),
                };
            }
            Ok(_) => {}
            Err(error) => unresolved.push(error),
        }
    }
    Decision {
        allowed: false,
        reason: denial_reason(unresolved),
    }
}

/// A RoleBinding (namespace not empty) or ClusterRoleBinding (namespace empty) as stored.
struct Binding<'a> {
    namespace: &'a str,
    name: &'a str,
    object: &'a Value,
}

impl Binding<'_> {
    fn role_kind(&self) -> &str {
        text(&self.object["roleRef"], "kind")
    }

    fn role_name(&self) -> &str {
        text(&self.object["roleRef"], "name")
    }

    /// The first subject that names the requester, as `appliesTo` picks it.
    fn subject_for(&self, requester: &Requester) -> Option<&Value> {
        self.object["subjects"]
            .as_array()?
            .iter()
            .find(|subject| self.names(subject, requester))
    }

    fn names(&self, subject: &Value, requester: &Requester) -> bool {
        let name = text(subject, "name");
        match text(subject, "kind") {
            "User" => requester.user == name,
            "Group" => requester.groups.iter().any(|group| group == name),
            "ServiceAccount" => {
                let namespace = self.service_account_namespace(subject);
                !namespace.is_empty()
                    && requester.user == format!("system:serviceaccount:{namespace}:{name}")
            }
            _ => false,
        }
    }

    /// A ServiceAccount subject without a namespace is one of the binding's own namespace.
    fn service_account_namespace<'s>(&'s self, subject: &'s Value) -> &'s str {
        match text(subject, "namespace") {
            "" => self.namespace,
            namespace => namespace,
        }
    }

    /// As `roleBindingDescriber` and `clusterRoleBindingDescriber` print it.
    fn describe(&self, subject: &Value) -> String {
        let binding = if self.namespace.is_empty() {
            format!("ClusterRoleBinding {}", quote(self.name))
        } else {
            format!(
                "RoleBinding {}",
                quote(&format!("{}/{}", self.name, self.namespace))
            )
        };
        let kind = text(subject, "kind");
        let mut name = text(subject, "name").to_string();
        if kind == "ServiceAccount" {
            name = format!("{name}/{}", self.service_account_namespace(subject));
        }
        format!(
            "{binding} of {} {} to {kind} {}",
            self.role_kind(),
            quote(self.role_name()),
            quote(&name)
        )
    }
}

impl Objects<'_> {
    /// ClusterRoleBindings, then the RoleBindings of `namespace` if there is one.
    fn bindings_visited_for<'s>(&'s self, namespace: &'s str) -> impl Iterator<Item = Binding<'s>> {
        let cluster_wide = self.bindings_in("");
        let namespaced = self
            .bindings_in(namespace)
            .filter(move |_| !namespace.is_empty());
        cluster_wide.chain(namespaced)
    }

    fn bindings_in<'s>(&'s self, namespace: &'s str) -> impl Iterator<Item = Binding<'s>> {
        self.bindings
            .iter()
            .filter(move |((ns, _), _)| ns == namespace)
            .map(|((namespace, name), object)| Binding {
                namespace,
                name,
                object,
            })
    }

    /// The rules of the role a binding refers to; a Role is looked up in the binding's namespace.
    /// The error is the lister's NotFound, as the apiserver reports it.
    fn rules_of(&self, binding: &Binding) -> Result<Vec<&Value>, String> {
        let name = binding.role_name();
        let role = match binding.role_kind() {
            "Role" => self
                .roles
                .get(&(binding.namespace.to_string(), name.to_string())),
            "ClusterRole" => self.cluster_roles.get(name),
            other => return Err(format!("unsupported role reference kind: {}", quote(other))),
        };
        let Some(role) = role else {
            let resource = binding.role_kind().to_lowercase();
            return Err(format!("{resource}.{GROUP} {} not found", quote(name)));
        };
        Ok(role["rules"].as_array().into_iter().flatten().collect())
    }
}

/// `RuleAllows`: the verb, then the API group, resource and name, or the URL.
fn rule_allows(rule: &Value, action: &Action) -> bool {
    match action {
        Action::Resource(action) => {
            lists(rule, "verbs", &action.verb)
                && lists(rule, "apiGroups", &action.group)
                && resource_matches(rule, action)
                && name_matches(rule, &action.name)
        }
        Action::NonResource { path, verb } => lists(rule, "verbs", verb) && url_matches(rule, path),
    }
}

/// Whether the rule's `field` holds `wanted` or `*`.
fn lists(rule: &Value, field: &str, wanted: &str) -> bool {
    strings(rule, field).any(|value| value == "*" || value == wanted)
}

/// `*`, the resource itself (`pods/exec` when a subresource is asked), or `*/exec`.
fn resource_matches(rule: &Value, action: &ResourceAction) -> bool {
    let asked = if action.subresource.is_empty() {
        action.resource.clone()
    } else {
        format!("{}/{}", action.resource, action.subresource)
    };
    strings(rule, "resources").any(|resource| {
        resource == "*"
            || resource == asked
            || (!action.subresource.is_empty()
                && resource.strip_prefix("*/") == Some(action.subresource.as_str()))
    })
}

/// No `resourceNames` means every name; `*` is no wildcard there.
fn name_matches(rule: &Value, name: &str) -> bool {
    let mut names = strings(rule, "resourceNames").peekable();
    names.peek().is_none() || names.any(|listed| listed == name)
}

/// `*`, the path itself, or a prefix ending in `*` (`/healthz/*`, `/api*`).
fn url_matches(rule: &Value, path: &str) -> bool {
    strings(rule, "nonResourceURLs").any(|url| {
        url == "*"
            || url == path
            || url
                .strip_suffix('*')
                .is_some_and(|_| path.starts_with(url.trim_end_matches('*')))
    })
}

/// What the apiserver says when nothing allowed: nothing, unless bindings that applied could not
/// be resolved (an aggregate of their errors, each once, bracketed when more than one).
fn denial_reason(mut errors: Vec<String>) -> String {
    let mut seen = std::collections::BTreeSet::new();
    errors.retain(|error| seen.insert(error.clone()));
    match errors.as_slice() {
        [] => String::new(),
        [one] => format!("RBAC: {one}"),
        many => format!("RBAC: [{}]", many.join(", ")),
    }
}

/// Go's `%q` for the names Kubernetes allows (Rust's debug quoting differs only for control
/// characters and non-printable code points, which no such name holds).
fn quote(s: &str) -> String {
    format!("{s:?}")
}

fn text<'v>(object: &'v Value, field: &str) -> &'v str {
    object[field].as_str().unwrap_or_default()
}

fn strings<'v>(object: &'v Value, field: &str) -> impl Iterator<Item = &'v str> {
    object[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// The evaluator's tests, and the worlds other tests of the fake decide over.
#[cfg(test)]
pub(super) mod tests;
