//! Why access could not be created, or a grant's kubeconfig file made: kinds with their
//! particulars, which each platform's templates word (see the `failure` macros).

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

impl std::fmt::Display for Failure {
    /// The audit log's fixed words for it (its stored form since before the kinds); messages
    /// word it in the templates.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NoSubjectRecorded => f.write_str(
                "the request was made before prod-access recorded whom to bind; request it again",
            ),
            Failure::UnknownCluster { cluster } => {
                write!(f, "cluster `{cluster}` is not in the configuration")
            }
            Failure::NoKubeconfigSettings { cluster } => write!(
                f,
                "cluster `{cluster}` has no kubeconfig settings \
                 (clusters.{cluster}.kubeconfig or kubernetes.kubeconfig)"
            ),
            Failure::Refused { error } | Failure::Said(error) => f.write_str(error),
            Failure::GaveUp {
                error,
                attempts,
                waited_secs,
            } => {
                let waited =
                    humantime::format_duration(std::time::Duration::from_secs(*waited_secs));
                write!(f, "{error} (after {attempts} attempts over {waited})")
            }
        }
    }
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
