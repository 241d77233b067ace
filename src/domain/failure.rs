//! Why access could not be created, or a grant's kubeconfig file made: kinds with their
//! particulars, which the templates word, in messages and in the audit log alike (the `failure`
//! macro of `templates/reasons.jinja`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// Requested before prod-access recorded whom to bind: nobody to bind.
    NoSubjectRecorded,
    /// The grant's cluster is not (or no longer) in the configuration.
    UnknownCluster { cluster: String },
    /// The grant's cluster has no kubeconfig settings to make a file from.
    NoKubeconfigSettings { cluster: String },
    /// The Kubernetes API refused; `error` is what it said.
    Refused { error: String },
    /// Creating the binding kept failing until its budget was spent.
    GaveUp {
        error: String,
        attempts: u32,
        waited_secs: u64,
    },
    /// Stored before failures had a kind: the words said then.
    #[serde(untagged)]
    Said(String),
}

/// Failures built in tests from what the apiserver would say.
#[cfg(test)]
impl From<&str> for Failure {
    fn from(error: &str) -> Self {
        Failure::Refused {
            error: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
