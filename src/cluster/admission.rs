//! Defence in depth in the cluster: a ValidatingAdmissionPolicy (CEL, Kubernetes 1.30 or later)
//! that lets the bot's own ServiceAccount write only the bindings its configuration can make.
//! RBAC alone cannot say which subjects or namespaces a binding the bot writes may name; this
//! policy can, so a compromised or buggy bot still cannot bind anyone to anything anywhere.
//! Rendered from the configuration (`policy render-admission`), so the two cannot drift.

use std::collections::BTreeSet;

use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
    ValidatingAdmissionPolicySpec, Validation,
};
use kube::api::ObjectMeta;

use crate::cluster::{DEFAULT_SERVICE_ACCOUNT_NAMESPACE, GRANT_LABEL, MANAGED_BY_LABEL};
use crate::cluster::{MANAGED_BY_VALUE, RBAC_GROUP};
use crate::config::Config;
use crate::domain::policy::RoleScope;

/// The name of the policy and of its binding.
pub const POLICY_NAME: &str = "prod-access-bindings";

/// The ServiceAccount the bot runs as (deploy/base/serviceaccount.yaml in the prod-access namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotAccount {
    pub namespace: String,
    pub name: String,
}

impl Default for BotAccount {
    fn default() -> Self {
        BotAccount {
            namespace: "prod-access".to_string(),
            name: "prod-access".to_string(),
        }
    }
}

impl BotAccount {
    /// The user name the apiserver gives a ServiceAccount's requests.
    pub fn username(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }
}

/// The policy and its binding, as YAML to apply (`---` between them).
pub fn render_yaml(config: &Config, bot: &BotAccount) -> anyhow::Result<String> {
    let (policy, binding) = admission_policy(config, bot);
    Ok(format!(
        "{HEADER}{}---\n{}",
        serde_saphyr::to_string(&policy)?,
        serde_saphyr::to_string(&binding)?
    ))
}

const HEADER: &str = "\
# Made by `prod-access policy render-admission --config <file>` from the configuration: change
# the configuration and render it again rather than editing this file. Kubernetes 1.30 or later.
";

/// What the bot's bindings may contain, read from the configuration.
struct Allowed {
    subject_prefix: String,
    /// `identity.allowed_email_domains`: the only domains a user name made of an email may end in.
    email_domains: Vec<String>,
    /// Kubernetes users named in `kubernetes.identities` (used as they are, without the prefix).
    mapped_users: BTreeSet<String>,
    /// Their groups, with `group_prefix`.
    mapped_groups: BTreeSet<String>,
    /// Where token-issuing grants keep their ServiceAccounts; empty when no role issues tokens.
    service_account_namespaces: BTreeSet<String>,
    namespaced_cluster_roles: BTreeSet<String>,
    cluster_wide_cluster_roles: BTreeSet<String>,
    never_namespaces: Vec<String>,
}

impl Allowed {
    fn from_config(config: &Config) -> Allowed {
        let kubernetes = &config.kubernetes;
        let identities = kubernetes.identities.values();
        let cluster_roles = |scope: RoleScope| {
            config
                .policy
                .roles
                .values()
                .filter(|role| role.scope == scope)
                .map(|role| role.cluster_role.clone())
                .collect()
        };
        Allowed {
            subject_prefix: kubernetes.subject_prefix.clone(),
            email_domains: config.identity.allowed_email_domains.clone(),
            mapped_users: identities.clone().map(|i| i.user.clone()).collect(),
            mapped_groups: identities
                .flat_map(|i| i.groups.iter())
                .map(|group| format!("{}{group}", kubernetes.group_prefix))
                .collect(),
            service_account_namespaces: service_account_namespaces(config),
            namespaced_cluster_roles: cluster_roles(RoleScope::Namespaced),
            cluster_wide_cluster_roles: cluster_roles(RoleScope::Cluster),
            never_namespaces: config
                .policy
                .never_namespaces
                .names()
                .into_iter()
                .map(String::from)
                .collect(),
        }
    }
}

/// Every namespace a cluster of the configuration keeps grant ServiceAccounts in (as `serve`
/// chooses them), when any role issues tokens.
fn service_account_namespaces(config: &Config) -> BTreeSet<String> {
    if !config.policy.issues_kubeconfigs() {
        return BTreeSet::new();
    }
    let global = config.kubernetes.kubeconfig.as_ref();
    let namespace_of = |settings: Option<&crate::config::KubeconfigSettings>| {
        settings
            .or(global)
            .map(|k| k.namespace.clone())
            .unwrap_or_else(|| DEFAULT_SERVICE_ACCOUNT_NAMESPACE.to_string())
    };
    if config.clusters.is_empty() {
        return BTreeSet::from([namespace_of(None)]);
    }
    config
        .clusters
        .values()
        .map(|cluster| namespace_of(cluster.kubeconfig.as_ref()))
        .collect()
}

/// The policy and the binding that applies it to every RoleBinding and ClusterRoleBinding the
/// bot creates or updates.
pub fn admission_policy(
    config: &Config,
    bot: &BotAccount,
) -> (ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding) {
    let allowed = Allowed::from_config(config);
    let metadata = ObjectMeta {
        name: Some(POLICY_NAME.to_string()),
        ..ObjectMeta::default()
    };
    let policy = ValidatingAdmissionPolicy {
        metadata: metadata.clone(),
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".to_string()),
            match_constraints: Some(MatchResources {
                resource_rules: Some(vec![NamedRuleWithOperations {
                    api_groups: Some(vec![RBAC_GROUP.to_string()]),
                    api_versions: Some(vec!["*".to_string()]),
                    operations: Some(vec!["CREATE".to_string(), "UPDATE".to_string()]),
                    resources: Some(vec![
                        "rolebindings".to_string(),
                        "clusterrolebindings".to_string(),
                    ]),
                    ..NamedRuleWithOperations::default()
                }]),
                ..MatchResources::default()
            }),
            match_conditions: Some(vec![MatchCondition {
                name: "prod-access-bot".to_string(),
                expression: format!(
                    "request.userInfo.username == {}",
                    cel_string(&bot.username())
                ),
            }]),
            validations: Some(validations(&allowed)),
            ..ValidatingAdmissionPolicySpec::default()
        }),
        status: None,
    };
    let binding = ValidatingAdmissionPolicyBinding {
        metadata,
        spec: Some(ValidatingAdmissionPolicyBindingSpec {
            policy_name: Some(POLICY_NAME.to_string()),
            validation_actions: Some(vec!["Deny".to_string()]),
            ..ValidatingAdmissionPolicyBindingSpec::default()
        }),
    };
    (policy, binding)
}

fn validations(allowed: &Allowed) -> Vec<Validation> {
    let labels = "object.metadata.labels";
    let has_label = |key: &str| format!("has({labels}) && {} in {labels}", cel_string(key));
    let label = |key: &str| format!("{labels}[{}]", cel_string(key));
    vec![
        validation(
            format!(
                "{} && {} == {}",
                has_label(MANAGED_BY_LABEL),
                label(MANAGED_BY_LABEL),
                cel_string(MANAGED_BY_VALUE)
            ),
            "prod-access may only write bindings labelled app.kubernetes.io/managed-by=prod-access",
        ),
        validation(
            format!(
                "{} && object.metadata.name == 'prod-access-' + {}",
                has_label(GRANT_LABEL),
                label(GRANT_LABEL)
            ),
            "prod-access may only write bindings named prod-access-<grant id> after their \
             prod-access/grant label",
        ),
        validation(
            format!(
                "object.roleRef.kind == 'ClusterRole' && (request.kind.kind == \
                 'ClusterRoleBinding' ? {} : {})",
                is_one_of("object.roleRef.name", &allowed.cluster_wide_cluster_roles),
                is_one_of("object.roleRef.name", &allowed.namespaced_cluster_roles)
            ),
            "prod-access may only bind the ClusterRoles its policy names, each with the binding \
             kind of its role's scope",
        ),
        validation(
            format!(
                "has(object.subjects) && size(object.subjects) > 0 && object.subjects.all(s, {})",
                subject_rule(allowed)
            ),
            "prod-access may only bind User subjects with its subject prefix or from its \
             identity table, that table's groups, and each grant's own ServiceAccount",
        ),
        validation(
            format!(
                "!has(object.metadata.namespace) || !{}",
                is_one_of("object.metadata.namespace", &allowed.never_namespaces)
            ),
            "prod-access may never bind in kube-system or the policy's never_namespaces",
        ),
    ]
}

/// What each subject `s` of a binding must be.
fn subject_rule(allowed: &Allowed) -> String {
    // A user made of an email: the prefix, then an address on an allowed domain (in any case, as
    // `identity` compares domains); never a `system:` identity, which an empty prefix would allow.
    let on_allowed_domain = format!("s.name.matches({})", cel_string(&domain_pattern(allowed)));
    let from_email = if allowed.subject_prefix.is_empty() {
        format!("!s.name.startsWith('system:') && {on_allowed_domain}")
    } else {
        format!(
            "s.name.startsWith({}) && {on_allowed_domain}",
            cel_string(&allowed.subject_prefix)
        )
    };
    let user_name = match allowed.mapped_users.is_empty() {
        true => from_email,
        false => format!(
            "({from_email}) || {}",
            is_one_of("s.name", &allowed.mapped_users)
        ),
    };
    let mut kinds = vec![format!("(s.kind == 'User' && ({user_name}))")];
    if !allowed.mapped_groups.is_empty() {
        kinds.push(format!(
            "(s.kind == 'Group' && {})",
            is_one_of("s.name", &allowed.mapped_groups)
        ));
    }
    if !allowed.service_account_namespaces.is_empty() {
        kinds.push(format!(
            "(s.kind == 'ServiceAccount' && has(s.namespace) && {} && s.name == object.metadata.name)",
            is_one_of("s.namespace", &allowed.service_account_namespaces)
        ));
    }
    kinds.join(" || ")
}

fn validation(expression: String, message: &str) -> Validation {
    Validation {
        expression,
        message: Some(message.to_string()),
        reason: Some("Forbidden".to_string()),
        message_expression: None,
    }
}

/// `value in [...]`; `false` for no names (an empty list literal has no element type for the
/// apiserver's type checker to agree on).
fn is_one_of<'a>(value: &str, names: impl IntoIterator<Item = &'a String>) -> String {
    let names: Vec<String> = names.into_iter().map(|n| cel_string(n)).collect();
    if names.is_empty() {
        return "false".to_string();
    }
    format!("({value} in [{}])", names.join(", "))
}

/// An RE2 pattern (CEL's `matches`) for a name ending in `@` and one of the allowed domains,
/// compared without case.
fn domain_pattern(allowed: &Allowed) -> String {
    let domains: Vec<String> = allowed
        .email_domains
        .iter()
        .map(|d| {
            d.trim()
                .chars()
                .map(|c| match c.is_ascii_alphanumeric() {
                    true => c.to_string(),
                    false => format!("\\{c}"),
                })
                .collect()
        })
        .collect();
    format!("(?i)@({})$", domains.join("|"))
}

/// A CEL string literal that means exactly `text`.
fn cel_string(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('\'');
    for c in text.chars() {
        match c {
            '\\' => literal.push_str("\\\\"),
            '\'' => literal.push_str("\\'"),
            '\n' => literal.push_str("\\n"),
            '\r' => literal.push_str("\\r"),
            _ => literal.push(c),
        }
    }
    literal.push('\'');
    literal
}
