//! Who may get which role where, for how long, approved by whom.

mod approvers;

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::command::RequestArgs;
use super::grant::Scope;
pub use approvers::ApproverRef;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Slack user IDs that may approve any role that does not name its own approvers.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// People who may see every grant's details with `status` (Slack user IDs, user groups or
    /// emails); others see only their own requests and those they may decide.
    #[serde(default)]
    pub auditors: Vec<String>,
    #[serde(default)]
    pub requests: RequestRules,
    /// Channels where a request is answered, approved and followed in the channel itself.
    #[serde(
        default,
        skip_serializing_if = "super::incident::IncidentChannels::is_empty"
    )]
    pub incidents: super::incident::IncidentChannels,
    /// Namespaces no role may grant, whatever its namespace patterns match; `kube-system` is
    /// always one of them.
    #[serde(default)]
    pub never_namespaces: super::never_namespaces::NeverNamespaces,
    pub roles: BTreeMap<String, RolePolicy>,
}

/// Timing rules that apply to every request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestRules {
    /// How long a request may wait for its approvals before it times out.
    #[serde(
        default = "default_review_timeout",
        with = "super::duration_serde::required"
    )]
    #[schemars(with = "String", example = "2h")]
    pub review_timeout: Duration,
    /// How long before expiry the requester is reminded (with Extend / Drop now buttons).
    #[serde(
        default = "default_reminder_before",
        with = "super::duration_serde::required"
    )]
    #[schemars(with = "String", example = "10m")]
    pub reminder_before: Duration,
    /// How many requests one person may make in a window (10 an hour unless set).
    #[serde(default)]
    pub rate_limit: super::rate_limit::RateLimit,
}

impl Default for RequestRules {
    fn default() -> Self {
        RequestRules {
            review_timeout: default_review_timeout(),
            reminder_before: default_reminder_before(),
            rate_limit: Default::default(),
        }
    }
}

fn default_review_timeout() -> Duration {
    Duration::from_secs(2 * 3600)
}

fn default_reminder_before() -> Duration {
    Duration::from_secs(10 * 60)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleScope {
    #[default]
    Namespaced,
    Cluster,
}

/// What a request names as its namespace to mean the whole cluster.
pub const CLUSTER_WORD: &str = "cluster";

/// How many namespaces one request may name.
pub const MAX_NAMESPACES: usize = 10;

/// Whether, and with how many approvals, an active grant may be extended. The total never exceeds
/// the role's `max_duration` either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionRule {
    #[serde(default = "yes")]
    pub allowed: bool,
    /// Distinct approvals an extension needs; defaults to the role's `approvals`.
    #[serde(default)]
    pub approvals: Option<u32>,
}

impl Default for ExtensionRule {
    fn default() -> Self {
        ExtensionRule {
            allowed: true,
            approvals: None,
        }
    }
}

/// What a request's reason must contain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRule {
    #[serde(default = "yes")]
    pub required: bool,
    /// A regular expression the reason must contain a match of, e.g. `(INC|CHG)-[0-9]+`.
    #[serde(default)]
    pub ticket: Option<String>,
}

impl Default for ReasonRule {
    fn default() -> Self {
        ReasonRule {
            required: true,
            ticket: None,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolePolicy {
    /// The ClusterRole a grant of this role binds.
    pub cluster_role: String,
    /// `namespaced` (the default: RoleBindings in `namespaces`) or `cluster` (one
    /// ClusterRoleBinding; requested with `cluster` as the namespace).
    #[serde(default)]
    pub scope: RoleScope,
    /// Namespaces this role may be granted in; `*` and `?` are wildcards (`team-*`).
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(with = "super::duration_serde::required")]
    #[schemars(with = "String", example = "4h")]
    pub max_duration: Duration,
    /// Used when the request names no duration; defaults to the shorter of 1h and the maximum.
    #[serde(default, with = "super::duration_serde::optional")]
    #[schemars(with = "Option<String>", example = "1h")]
    pub default_duration: Option<Duration>,
    /// Where this role's approval requests go, instead of the configured approvals channel.
    #[serde(default)]
    pub approvals_channel: Option<String>,
    #[serde(default)]
    pub reason: ReasonRule,
    #[serde(default)]
    pub extensions: ExtensionRule,
    /// Also issue a short-lived ServiceAccount token, sent to the requester as a kubeconfig file.
    #[serde(default)]
    pub kubeconfig: bool,
    /// The clusters (names from the configuration's `clusters`) this role applies to; empty: all.
    #[serde(default)]
    pub clusters: Vec<String>,
    /// Overrides the top-level approvers for this role.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// How many distinct approvers must approve.
    #[serde(default = "one")]
    pub approvals: u32,
    /// Makes this a break-glass role: requested only in incident channels, self-approvable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<super::break_glass::BreakGlassRule>,
    /// Approves requests by whoever is on call now, without waiting for an approver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_call: Option<super::on_call::OnCallRule>,
    /// Lets guests of the workspace (Slack single- and multi-channel guests) request this role;
    /// they are refused otherwise. Teams guests are never served.
    #[serde(default)]
    pub allow_guests: bool,
    /// What approvers may have the bot do, after a grant of this role ends, about what the
    /// end did not end.
    #[serde(default)]
    pub cleanup: CleanupRule,
}

/// Actions on what a grant's end left in place, each also needing the bot's own RBAC (see
/// README "Proof of revocation"). Marking a leftover reviewed needs neither.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CleanupRule {
    /// A **Restart pod** button for each exec, attach or port-forward still open at the end:
    /// the bot deletes the pod (its controller makes a new one), which ends the stream. Needs
    /// `delete pods` in the grant's namespaces.
    #[serde(default)]
    pub restart_pods: bool,
    /// A **Delete** button for each object the grant left behind (not tokens and Secrets, which
    /// may be in use by others). Needs `delete` on those resources.
    #[serde(default)]
    pub delete_leftovers: bool,
}

/// Long enough for any ticket and sentence; short enough that every message quoting it stays
/// well inside Slack's 3000-character block limit after escaping.
pub const MAX_REASON_CHARS: usize = 300;

fn one() -> u32 {
    1
}

/// Something that makes a policy unsafe or unusable, at a key path such as `roles.edit.approvals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: Vec<String>,
    pub message: String,
}

impl Problem {
    pub(crate) fn at(path: &[&str], message: impl Into<String>) -> Problem {
        Problem {
            path: path.iter().map(|p| p.to_string()).collect(),
            message: message.into(),
        }
    }

    pub fn dotted_path(&self) -> String {
        self.path.join(".")
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.dotted_path(), self.message)
    }
}

/// What the policy allows for one accepted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantTerms {
    pub role: String,
    pub cluster_role: String,
    pub scope: Scope,
    pub kubeconfig: bool,
    pub cluster: String,
    pub duration: Duration,
    pub required_approvals: u32,
    /// The requester's on-call status is looked up first and may approve the request.
    pub on_call: bool,
    /// For a break-glass role (only in incident channels): the longest the requester may
    /// approve themself.
    pub break_glass: Option<Duration>,
}

#[cfg(test)]
impl GrantTerms {
    /// `role`, binding the ClusterRole of the same name, in `namespace` of the default cluster,
    /// with one approval; tests change what they are about.
    pub(crate) fn example(role: &str, namespace: &str, duration: Duration) -> GrantTerms {
        GrantTerms {
            role: role.into(),
            cluster_role: role.into(),
            scope: Scope::namespace(namespace),
            duration,
            required_approvals: 1,
            kubeconfig: false,
            cluster: super::grant::DEFAULT_CLUSTER.into(),
            on_call: false,
            break_glass: None,
        }
    }
}

pub use super::policy_refusal::RequestRefusal;

impl RolePolicy {
    /// The cluster a request gets: the one it names, or the only one the role applies to.
    fn cluster_for(
        &self,
        role: &str,
        asked: Option<&str>,
        clusters: &[String],
    ) -> Result<String, RequestRefusal> {
        let allowed: Vec<String> = clusters
            .iter()
            .filter(|c| self.clusters.is_empty() || self.clusters.contains(c))
            .cloned()
            .collect();
        let refusal = || RequestRefusal::ClusterNotChosen {
            role: role.to_string(),
            asked: asked.map(String::from),
            allowed: allowed.clone(),
        };
        match asked {
            Some(cluster) if allowed.iter().any(|c| c == cluster) => Ok(cluster.to_string()),
            Some(_) => Err(refusal()),
            None if allowed.len() == 1 => Ok(allowed[0].clone()),
            None => Err(refusal()),
        }
    }

    /// The scope a request's namespace argument asks for: `payments`, `payments,orders`, or
    /// `cluster` for a cluster-scoped role.
    fn scope_for(&self, role: &str, asked: &str) -> Result<Scope, RequestRefusal> {
        let not_allowed = || RequestRefusal::NamespaceNotAllowed {
            role: role.to_string(),
            namespace: asked.to_string(),
            allowed: match self.scope {
                RoleScope::Cluster => vec![CLUSTER_WORD.to_string()],
                RoleScope::Namespaced => self.namespaces.clone(),
            },
        };
        match self.scope {
            RoleScope::Cluster if asked == CLUSTER_WORD => Ok(Scope::Cluster),
            RoleScope::Cluster => Err(not_allowed()),
            RoleScope::Namespaced => {
                let mut names: Vec<String> = asked
                    .split(',')
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .collect();
                names.sort();
                names.dedup();
                let fits = !names.is_empty()
                    && names.len() <= MAX_NAMESPACES
                    && names
                        .iter()
                        .all(|n| is_dns_label(n) && self.allows_namespace(n));
                if fits {
                    Ok(Scope::Namespaces { names })
                } else {
                    Err(not_allowed())
                }
            }
        }
    }

    pub fn allows_namespace(&self, namespace: &str) -> bool {
        self.namespaces
            .iter()
            .any(|pattern| wildmatch::WildMatch::new(pattern).matches(namespace))
    }

    pub fn extension_approvals(&self) -> u32 {
        self.extensions.approvals.unwrap_or(self.approvals)
    }

    pub fn default_duration(&self) -> Duration {
        self.default_duration
            .unwrap_or_else(|| self.max_duration.min(Duration::from_secs(3600)))
    }

    fn check_reason(&self, role: &str, reason: &str) -> Result<(), RequestRefusal> {
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(RequestRefusal::ReasonTooLong {
                max_chars: MAX_REASON_CHARS,
            });
        }
        // Break-glass is justified in writing, whatever the role's reason rule says.
        let required = self.reason.required || self.break_glass.is_some();
        if required && reason.trim().is_empty() {
            return Err(RequestRefusal::ReasonRequired { role: role.into() });
        }
        if let Some(pattern) = &self.reason.ticket {
            // An invalid pattern is refused at load time (`problems`); refusing here keeps it safe.
            let found = regex::Regex::new(pattern).is_ok_and(|re| re.is_match(reason));
            if !found {
                return Err(RequestRefusal::TicketRequired {
                    role: role.into(),
                    pattern: pattern.clone(),
                });
            }
        }
        Ok(())
    }
}

impl Policy {
    /// Whether any role issues kubeconfigs (and so needs ServiceAccounts and tokens).
    pub fn issues_kubeconfigs(&self) -> bool {
        self.roles.values().any(|r| r.kubeconfig)
    }

    /// Whether any role is bound cluster-wide (with ClusterRoleBindings).
    pub fn has_cluster_roles(&self) -> bool {
        self.roles.values().any(|r| r.scope == RoleScope::Cluster)
    }

    pub fn role_names(&self) -> Vec<String> {
        self.roles.keys().cloned().collect()
    }

    /// Checks a request against the policy; `clusters` are the configured cluster names.
    pub fn evaluate(
        &self,
        args: &RequestArgs,
        clusters: &[String],
    ) -> Result<GrantTerms, RequestRefusal> {
        let role = self
            .roles
            .get(&args.role)
            .ok_or_else(|| RequestRefusal::UnknownRole {
                role: args.role.clone(),
                allowed: self.role_names(),
            })?;
        let (namespace, asked_cluster) = match args.namespace.split_once('@') {
            Some((namespace, cluster)) => (namespace, Some(cluster)),
            None => (args.namespace.as_str(), None),
        };
        let cluster = role.cluster_for(&args.role, asked_cluster, clusters)?;
        let scope = role.scope_for(&args.role, namespace)?;
        self.refuse_never_granted(&args.role, &scope)?;
        let duration = args.duration.unwrap_or_else(|| role.default_duration());
        if duration > role.max_duration {
            return Err(RequestRefusal::TooLong {
                role: args.role.clone(),
                requested: duration,
                max: role.max_duration,
            });
        }
        role.check_reason(&args.role, &args.reason)?;
        Ok(GrantTerms {
            role: args.role.clone(),
            cluster_role: role.cluster_role.clone(),
            scope,
            kubeconfig: role.kubeconfig,
            cluster,
            duration,
            required_approvals: role.approvals,
            on_call: role.on_call.is_some(),
            break_glass: role.break_glass.as_ref().map(|b| b.max_duration),
        })
    }

    fn refuse_never_granted(&self, role: &str, scope: &Scope) -> Result<(), RequestRefusal> {
        let Scope::Namespaces { names } = scope else {
            return Ok(());
        };
        match names.iter().find(|n| self.never_namespaces.contains(n)) {
            Some(namespace) => Err(RequestRefusal::NamespaceNeverGranted {
                role: role.to_string(),
                namespace: namespace.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// An RFC 1123 label, as Kubernetes requires of namespace names.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
pub(crate) mod tests;
