//! Who may get which role where, for how long, approved by whom.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::command::RequestArgs;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Slack user IDs that may approve any role that does not name its own approvers.
    #[serde(default)]
    pub approvers: Vec<String>,
    pub roles: BTreeMap<String, RolePolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolePolicy {
    /// The ClusterRole a grant of this role binds.
    pub cluster_role: String,
    /// Namespaces this role may be granted in.
    pub namespaces: Vec<String>,
    #[serde(with = "humantime_serde_compat")]
    pub max_duration: Duration,
    /// Overrides the top-level approvers for this role.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// How many distinct approvers must approve.
    #[serde(default = "one")]
    pub approvals: u32,
}

fn one() -> u32 {
    1
}

/// What the policy allows for one accepted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantTerms {
    pub role: String,
    pub cluster_role: String,
    pub namespace: String,
    pub duration: Duration,
    pub required_approvals: u32,
}

/// Why a request is refused; each carries what would have been allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestRefusal {
    UnknownRole {
        role: String,
        allowed: Vec<String>,
    },
    NamespaceNotAllowed {
        role: String,
        namespace: String,
        allowed: Vec<String>,
    },
    TooLong {
        role: String,
        requested: Duration,
        max: Duration,
    },
}

impl Policy {
    pub fn role_names(&self) -> Vec<String> {
        self.roles.keys().cloned().collect()
    }

    pub fn evaluate(&self, args: &RequestArgs) -> Result<GrantTerms, RequestRefusal> {
        let role = self
            .roles
            .get(&args.role)
            .ok_or_else(|| RequestRefusal::UnknownRole {
                role: args.role.clone(),
                allowed: self.role_names(),
            })?;
        if !role.namespaces.iter().any(|ns| ns == &args.namespace) {
            return Err(RequestRefusal::NamespaceNotAllowed {
                role: args.role.clone(),
                namespace: args.namespace.clone(),
                allowed: role.namespaces.clone(),
            });
        }
        if args.duration > role.max_duration {
            return Err(RequestRefusal::TooLong {
                role: args.role.clone(),
                requested: args.duration,
                max: role.max_duration,
            });
        }
        Ok(GrantTerms {
            role: args.role.clone(),
            cluster_role: role.cluster_role.clone(),
            namespace: args.namespace.clone(),
            duration: args.duration,
            required_approvals: role.approvals,
        })
    }

    /// The approvers of a role as the policy stands now; empty for a role the policy no longer has.
    pub fn approvers_for(&self, role: &str) -> &[String] {
        match self.roles.get(role) {
            Some(r) if !r.approvers.is_empty() => &r.approvers,
            Some(_) => &self.approvers,
            None => &[],
        }
    }

    pub fn may_approve(&self, role: &str, user: &str) -> bool {
        self.approvers_for(role).iter().any(|a| a == user)
    }

    /// Every problem that would make the policy unsafe or unusable, as readable sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.roles.is_empty() {
            problems.push("policy.roles: at least one role is needed".to_string());
        }
        for (name, role) in &self.roles {
            let at = format!("policy.roles.{name}");
            if !is_dns_label(name) {
                problems.push(format!(
                    "{at}: a role name must be lowercase letters, digits and '-'"
                ));
            }
            if role.cluster_role.trim().is_empty() {
                problems.push(format!("{at}.cluster_role: must name a ClusterRole"));
            }
            if role.namespaces.is_empty() {
                problems.push(format!("{at}.namespaces: at least one namespace is needed"));
            }
            for ns in &role.namespaces {
                if !is_dns_label(ns) {
                    problems.push(format!(
                        "{at}.namespaces: `{ns}` is not a valid namespace name (RFC 1123 label)"
                    ));
                }
            }
            if role.max_duration.is_zero() {
                problems.push(format!("{at}.max_duration: must be longer than zero"));
            }
            if role.approvals == 0 {
                problems.push(format!("{at}.approvals: at least one approval is needed"));
            }
            let approvers = self.approvers_for(name);
            if approvers.is_empty() {
                problems.push(format!(
                    "{at}.approvers: no approvers (set policy.approvers or the role's approvers)"
                ));
            } else if (approvers.len() as u64) < u64::from(role.approvals) {
                problems.push(format!(
                    "{at}.approvals: needs {} approvals but only {} approvers are listed",
                    role.approvals,
                    approvers.len()
                ));
            }
        }
        problems
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

mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration ({e}); write e.g. 30m, 2h, 1d"
            ))
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn example() -> Policy {
        let mut roles = BTreeMap::new();
        roles.insert(
            "edit".to_string(),
            RolePolicy {
                cluster_role: "edit".into(),
                namespaces: vec!["payments".into(), "orders".into()],
                max_duration: Duration::from_secs(4 * 3600),
                approvers: vec![],
                approvals: 1,
            },
        );
        roles.insert(
            "admin".to_string(),
            RolePolicy {
                cluster_role: "admin".into(),
                namespaces: vec!["payments".into()],
                max_duration: Duration::from_secs(3600),
                approvers: vec!["USRE1".into(), "USRE2".into()],
                approvals: 2,
            },
        );
        Policy {
            approvers: vec!["UBOB".into(), "UCAROL".into()],
            roles,
        }
    }

    fn args(role: &str, ns: &str, secs: u64) -> RequestArgs {
        RequestArgs {
            role: role.into(),
            namespace: ns.into(),
            duration: Duration::from_secs(secs),
            reason: "r".into(),
        }
    }

    #[test]
    fn an_allowed_request_gets_the_roles_terms() {
        let terms = example().evaluate(&args("edit", "payments", 7200)).unwrap();
        assert_eq!(terms.cluster_role, "edit");
        assert_eq!(terms.namespace, "payments");
        assert_eq!(terms.duration, Duration::from_secs(7200));
        assert_eq!(terms.required_approvals, 1);
    }

    #[test]
    fn the_maximum_itself_is_allowed() {
        assert!(
            example()
                .evaluate(&args("edit", "orders", 4 * 3600))
                .is_ok()
        );
    }

    #[test]
    fn an_unknown_role_lists_the_roles() {
        assert_eq!(
            example().evaluate(&args("root", "payments", 60)),
            Err(RequestRefusal::UnknownRole {
                role: "root".into(),
                allowed: vec!["admin".into(), "edit".into()],
            })
        );
    }

    #[test]
    fn a_namespace_outside_the_role_lists_the_namespaces() {
        assert_eq!(
            example().evaluate(&args("admin", "orders", 60)),
            Err(RequestRefusal::NamespaceNotAllowed {
                role: "admin".into(),
                namespace: "orders".into(),
                allowed: vec!["payments".into()],
            })
        );
    }

    #[test]
    fn a_duration_over_the_max_names_the_max() {
        assert_eq!(
            example().evaluate(&args("admin", "payments", 3601)),
            Err(RequestRefusal::TooLong {
                role: "admin".into(),
                requested: Duration::from_secs(3601),
                max: Duration::from_secs(3600),
            })
        );
    }

    #[test]
    fn role_approvers_override_the_default_approvers() {
        let policy = example();
        assert!(policy.may_approve("edit", "UBOB"));
        assert!(!policy.may_approve("admin", "UBOB"));
        assert!(policy.may_approve("admin", "USRE1"));
        assert!(!policy.may_approve("gone", "UBOB"));
    }

    #[test]
    fn the_example_has_no_problems() {
        assert_eq!(example().problems(), Vec::<String>::new());
    }

    #[test]
    fn unsafe_policies_are_reported() {
        let mut policy = example();
        policy.approvers.clear();
        let edit = policy.roles.get_mut("edit").unwrap();
        edit.namespaces.push("Bad_NS".into());
        edit.approvals = 0;
        let admin = policy.roles.get_mut("admin").unwrap();
        admin.approvals = 3;
        let problems = policy.problems();
        assert!(
            problems.iter().any(|p| p.contains("`Bad_NS`")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("edit.approvals")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("edit.approvers")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("needs 3 approvals but only 2")),
            "{problems:?}"
        );
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("payments-2"));
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }
}
