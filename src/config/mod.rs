//! The YAML configuration file, the policy (inline or in its own file), and the secrets that
//! only ever come from the environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::domain::identity::{IdentityPolicy, MappedIdentity};
use crate::domain::policy::Policy;

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

/// The environment variable holding the audit webhook's signing secret.
pub const WEBHOOK_SECRET_VAR: &str = "PROD_ACCESS_AUDIT_WEBHOOK_SECRET";
/// The bearer token of the apiserver's audit webhook (session activity).
pub const K8S_AUDIT_TOKEN_VAR: &str = "PROD_ACCESS_K8S_AUDIT_TOKEN";
/// Shorter tokens are refused: the webhook URL is reachable by whatever reaches the bot.
pub const K8S_AUDIT_TOKEN_MIN_LEN: usize = 32;

/// The configuration file as written.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Address the HTTP server listens on.
    #[serde(default = "default_listen")]
    #[schemars(with = "String")]
    pub listen: SocketAddr,
    /// Serve `GET /metrics` on this address instead of `listen` (e.g. `0.0.0.0:9090`), so the
    /// address an Ingress exposes to Slack or Teams never answers it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub metrics_listen: Option<SocketAddr>,
    /// Directory of the embedded store (sled); created if missing. Give this or `store`.
    #[serde(default)]
    pub store_path: Option<PathBuf>,
    /// A shared store for several replicas instead: `{ postgres: { url_env: DATABASE_URL } }`.
    #[serde(default)]
    pub store: Option<StoreSettings>,
    /// Serve Slack. Give either this or `teams`.
    #[serde(default)]
    pub slack: Option<SlackSettings>,
    /// Serve Microsoft Teams. Give either this or `slack`.
    #[serde(default)]
    pub teams: Option<TeamsSettings>,
    #[serde(default)]
    pub kubernetes: KubernetesSettings,
    /// Who may become a Kubernetes user: allowed email domains, how the user name is spelled,
    /// tagged and unconfirmed addresses.
    #[serde(default)]
    pub identity: IdentityPolicy,
    /// The policy, inline. Give either this or `policy_file`.
    #[serde(default)]
    pub policy: Option<Policy>,
    /// A policy file, relative to this file. Give either this or `policy`.
    #[serde(default)]
    pub policy_file: Option<PathBuf>,
    /// Several clusters, by name: each from a kubeconfig context. Without this, one cluster
    /// called `default` from the kubeconfig's current context or in-cluster.
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterSettings>,
    /// The audit log's digest and webhook.
    #[serde(default)]
    pub audit: AuditSettings,
    /// PagerDuty and Opsgenie, for roles that approve whoever is on call.
    #[serde(default)]
    pub on_call: crate::on_call::OnCallSettings,
    /// The HTTP server's timeouts, connection limit and shutdown grace period.
    #[serde(default)]
    pub http: crate::http::serve::HttpSettings,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// When the digest (the day's grants, active grants, the chain's state) is posted to the
    /// audit channel: a cron expression with seconds first, in UTC (default 09:00 daily), or `off`.
    #[serde(default = "default_digest_schedule")]
    pub digest_schedule: String,
    /// Send every audit entry to this webhook (a SIEM), signed with
    /// PROD_ACCESS_AUDIT_WEBHOOK_SECRET.
    #[serde(default)]
    pub webhook: Option<WebhookSettings>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where each entry is POSTed as JSON; https, or plain http to this machine.
    pub url: String,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            digest_schedule: default_digest_schedule(),
            webhook: None,
        }
    }
}

fn default_digest_schedule() -> String {
    schedule::DEFAULT_DIGEST.to_string()
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// The kubeconfig context that reaches this cluster; none: the current context.
    #[serde(default)]
    pub context: Option<String>,
    /// Reach this cluster through the pod's own service account (the cluster the bot runs in).
    #[serde(default)]
    pub in_cluster: bool,
    /// What kubeconfig files for this cluster say, instead of `kubernetes.kubeconfig`.
    #[serde(default)]
    pub kubeconfig: Option<KubeconfigSettings>,
}

/// The configuration with its policy loaded.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub store: StoreLocation,
    pub chat: ChatSettings,
    pub kubernetes: KubernetesSettings,
    pub identity: IdentityPolicy,
    pub clusters: BTreeMap<String, ClusterSettings>,
    pub audit: AuditSettings,
    pub on_call: crate::on_call::OnCallSettings,
    pub http: crate::http::serve::HttpSettings,
    pub policy: Policy,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    /// Slack Web API base URL; plain http only for loopback addresses.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Channel ID where approval requests are posted.
    pub approvals_channel: String,
    /// Channel ID that receives one post per lifecycle step.
    pub audit_channel: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSettings {
    /// Put before the requester's email to form the Kubernetes `User` name, e.g. `oidc:`.
    #[serde(default)]
    pub subject_prefix: String,
    /// When to compare the cluster with the grants and repair drift: a cron expression with
    /// seconds first (default every minute).
    #[serde(default = "default_reconcile_schedule")]
    pub reconcile_schedule: String,
    /// Put before each group name of `identities`, e.g. `oidc:`.
    #[serde(default)]
    pub group_prefix: String,
    /// Slack user ID → Kubernetes user (used as is) and groups; checked before the email.
    #[serde(default)]
    pub identities: BTreeMap<String, MappedIdentity>,
    /// How requesters reach the cluster with the kubeconfigs of roles with `kubeconfig: true`.
    #[serde(default)]
    pub kubeconfig: Option<KubeconfigSettings>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeconfigSettings {
    /// The API server URL as requesters reach it, e.g. `https://api.prod.example.com:6443`.
    pub server: String,
    /// The cluster's CA certificate, base64 (as in a kubeconfig); omit for a publicly trusted one.
    #[serde(default)]
    pub certificate_authority_data: Option<String>,
    /// The name of the cluster in the kubeconfig.
    #[serde(default = "default_cluster_name")]
    pub cluster_name: String,
    /// Where the grants' ServiceAccounts live.
    #[serde(default = "default_service_account_namespace")]
    pub namespace: String,
}

fn default_cluster_name() -> String {
    "production".to_string()
}

fn default_service_account_namespace() -> String {
    crate::cluster::DEFAULT_SERVICE_ACCOUNT_NAMESPACE.to_string()
}

impl Default for KubernetesSettings {
    fn default() -> Self {
        KubernetesSettings {
            subject_prefix: String::new(),
            reconcile_schedule: default_reconcile_schedule(),
            group_prefix: String::new(),
            identities: BTreeMap::new(),
            kubeconfig: None,
        }
    }
}

fn default_reconcile_schedule() -> String {
    schedule::DEFAULT_RECONCILE.to_string()
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 3000))
}

fn default_api_url() -> String {
    DEFAULT_SLACK_API_URL.to_string()
}

impl Config {
    /// Loads, validates and locates every problem; the error lists them as `file:line:column`.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        match check_file(path)? {
            CheckedFile::Config(config) => Ok(*config),
            CheckedFile::Policy(_) => anyhow::bail!(
                "{} is a policy file; `serve` needs a configuration file (see config.example.yaml)",
                path.display()
            ),
        }
    }

    /// Parses a configuration whose policy is inline.
    pub fn parse(text: &str) -> Result<Config, String> {
        Config::parse_in(text, Path::new("."))
    }

    /// Parses a configuration; a `policy_file` is read relative to `base`.
    pub fn parse_in(text: &str, base: &Path) -> Result<Config, String> {
        let file: ConfigFile = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        let policy = match (file.policy, &file.policy_file) {
            (Some(policy), None) => policy,
            (None, Some(policy_file)) => {
                let path = base.join(policy_file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read the policy file {}: {e}", path.display()))?;
                serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            (Some(_), Some(_)) => {
                return Err("give either `policy` or `policy_file`, not both".into());
            }
            (None, None) => return Err("missing `policy` (or `policy_file`)".into()),
        };
        let chat = match (file.slack, file.teams) {
            (Some(slack), None) => ChatSettings::Slack(slack),
            (None, Some(teams)) => ChatSettings::Teams(teams),
            (Some(_), Some(_)) => {
                return Err(
                    "give either `slack` or `teams`, not both (run one prod-access per platform)"
                        .into(),
                );
            }
            (None, None) => return Err("missing `slack` (or `teams`)".into()),
        };
        Ok(Config {
            listen: file.listen,
            metrics_listen: file.metrics_listen,
            store: StoreLocation::of(file.store_path, file.store)?,
            chat,
            kubernetes: file.kubernetes,
            identity: file.identity,
            clusters: file.clusters,
            audit: file.audit,
            on_call: file.on_call,
            http: file.http,
            policy,
        })
    }

    /// The clusters' names: those configured, or `default` alone.
    pub fn cluster_names(&self) -> Vec<String> {
        if self.clusters.is_empty() {
            vec![crate::domain::grant::DEFAULT_CLUSTER.to_string()]
        } else {
            self.clusters.keys().cloned().collect()
        }
    }
}

/// The JSON Schema of the configuration file (with `--policy`: of a policy file), for editors.
pub fn schema(policy_only: bool) -> serde_json::Value {
    let schema = if policy_only {
        schemars::schema_for!(Policy)
    } else {
        schemars::schema_for!(ConfigFile)
    };
    serde_json::to_value(schema).unwrap_or_default()
}

mod chat;

pub use chat::{ChatSettings, Secrets, TeamsSettings};
pub(crate) use check::check_api_url;
pub use check::{CheckedFile, check_file};
pub use store::{PostgresSettings, StoreLocation, StoreSettings};

mod check;
mod locate;

pub mod schedule;
mod store;

#[cfg(test)]
mod tests;
