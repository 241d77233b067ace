//! Namespaces no grant may ever reach, whatever a role's namespace patterns match: `kube-system`
//! always, and whatever the policy's `never_namespaces` adds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::policy::{Problem, is_dns_label};

/// The one namespace that is never granted, listed or not: the cluster's own control plane.
pub const KUBE_SYSTEM: &str = "kube-system";

/// The policy's `never_namespaces`, as written (`[kube-system]` when left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct NeverNamespaces(Vec<String>);

impl Default for NeverNamespaces {
    fn default() -> Self {
        NeverNamespaces(vec![KUBE_SYSTEM.to_string()])
    }
}

impl NeverNamespaces {
    /// Every namespace never granted: `kube-system` first, then the listed ones.
    pub fn names(&self) -> Vec<&str> {
        let mut names = vec![KUBE_SYSTEM];
        for name in &self.0 {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        names
    }

    pub fn contains(&self, namespace: &str) -> bool {
        self.names().contains(&namespace)
    }

    /// The never-granted namespace a role's namespace entry names. A pattern of wildcards alone
    /// (`*`) names nothing in particular: requests through it are refused one by one instead.
    pub fn named_by(&self, pattern: &str) -> Option<&str> {
        if pattern.chars().all(|c| c == '*' || c == '?') {
            return None;
        }
        let pattern = wildmatch::WildMatch::new(pattern);
        self.names().into_iter().find(|name| pattern.matches(name))
    }

    pub fn problems(&self) -> Vec<Problem> {
        self.0
            .iter()
            .filter(|name| !is_dns_label(name))
            .map(|name| {
                Problem::at(
                    &["never_namespaces"],
                    format!("`{name}` is not a namespace name (RFC 1123 label)"),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
