//! The YAML configuration file, the policy (inline or in its own file), and the secrets that
//! only ever come from the environment.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::domain::identity::{IdentityPolicy, MappedIdentity};
use crate::domain::policy::{Policy, Problem};

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
    /// Directory of the embedded store; created if missing.
    pub store_path: PathBuf,
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
    pub store_path: PathBuf,
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

/// What `policy check` was given.
pub enum CheckedFile {
    Config(Box<Config>),
    Policy(Box<Policy>),
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
            store_path: file.store_path,
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

    /// Everything that would make the bot unsafe or unable to work, with its key path.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems: Vec<Problem> = self
            .policy
            .problems()
            .into_iter()
            .map(|mut p| {
                p.path.insert(0, "policy".into());
                p
            })
            .collect();
        let at = |path: &[&str], message: String| Problem {
            path: path.iter().map(|p| p.to_string()).collect(),
            message,
        };
        if let Err(e) = schedule::parse_reconcile(&self.kubernetes.reconcile_schedule) {
            problems.push(at(&["kubernetes", "reconcile_schedule"], e));
        }
        if self.identity.allowed_email_domains.is_empty() {
            problems.push(at(
                &["identity", "allowed_email_domains"],
                "list the email domains whose addresses may become Kubernetes users (e.g. [example.com]): without it, anyone whose chat profile has an address — a guest's gmail.com included — could be bound".into(),
            ));
        }
        for (i, domain) in self.identity.allowed_email_domains.iter().enumerate() {
            let domain = domain.trim();
            if domain.is_empty() || domain.contains('@') || domain.contains(char::is_whitespace) {
                problems.push(at(
                    &["identity", "allowed_email_domains", &i.to_string()],
                    format!("`{domain}` is not a domain: write it as example.com"),
                ));
            }
        }
        for (name, cluster) in &self.clusters {
            if cluster.in_cluster && cluster.context.is_some() {
                problems.push(at(
                    &["clusters", name],
                    "give either `context` or `in_cluster: true`, not both".into(),
                ));
            }
        }
        if self.clusters.values().filter(|c| c.in_cluster).count() > 1 {
            problems.push(at(
                &["clusters"],
                "only one cluster can be the one the bot runs in".into(),
            ));
        }
        let known = self.cluster_names();
        for (name, role) in &self.policy.roles {
            for cluster in &role.clusters {
                if !known.contains(cluster) {
                    problems.push(at(
                        &["policy", "roles", name, "clusters"],
                        format!(
                            "`{cluster}` is not a configured cluster (clusters: {})",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        let without_kubeconfig =
            self.clusters.values().any(|c| c.kubeconfig.is_none()) || self.clusters.is_empty();
        if self.policy.issues_kubeconfigs()
            && self.kubernetes.kubeconfig.is_none()
            && without_kubeconfig
        {
            problems.push(at(
                &["kubernetes"],
                "a role has `kubeconfig: true`: set kubernetes.kubeconfig.server (and its CA) so the files can reach the cluster".into(),
            ));
        }
        problems.extend(self.chat_problems());
        problems.extend(self.on_call_problems());
        if let Err(e) = schedule::parse_digest(&self.audit.digest_schedule) {
            problems.push(at(&["audit", "digest_schedule"], e));
        }
        if let Some(webhook) = &self.audit.webhook
            && let Err(e) = check_api_url(&webhook.url)
        {
            problems.push(at(&["audit", "webhook", "url"], e));
        }
        problems
    }
}

impl Config {
    /// On-call rules need their provider configured, at a URL the token may be sent to.
    fn on_call_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (key, provider) in [
            ("pagerduty", &self.on_call.pagerduty),
            ("opsgenie", &self.on_call.opsgenie),
        ] {
            if let Some(settings) = provider
                && let Err(e) = check_api_url(&settings.api_url)
            {
                problems.push(Problem::at(&["on_call", key, "api_url"], e));
            }
        }
        for (name, role) in &self.policy.roles {
            let Some(rule) = &role.on_call else { continue };
            let provider = rule.provider();
            if self.on_call.of(provider).is_none() {
                let key = match provider {
                    crate::domain::on_call::OnCallProvider::Pagerduty => "pagerduty",
                    crate::domain::on_call::OnCallProvider::Opsgenie => "opsgenie",
                };
                problems.push(Problem::at(
                    &["policy", "roles", name, "on_call"],
                    format!(
                        "{} is not configured: add on_call.{key}.api_url",
                        provider.name()
                    ),
                ));
            }
        }
        problems
    }

    /// The on-call providers the policy uses, whose tokens must be in the environment.
    pub fn on_call_providers_used(&self) -> Vec<crate::domain::on_call::OnCallProvider> {
        let mut used: Vec<_> = self
            .policy
            .roles
            .values()
            .filter_map(|r| r.on_call.as_ref().map(|rule| rule.provider()))
            .collect();
        used.sort_by_key(|p| p.name());
        used.dedup();
        used
    }
}

/// Checks a configuration file or a policy file, telling them apart by their keys.
pub fn check_file(path: &Path) -> anyhow::Result<CheckedFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let shown = path.display().to_string();
    let top: BTreeMap<String, IgnoredAny> =
        serde_saphyr::from_str(&text).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let (checked, problems, policy_text, policy_shown) = if top.contains_key("roles") {
        let policy: Policy =
            serde_saphyr::from_str(&text).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        let problems = policy.problems();
        (
            CheckedFile::Policy(Box::new(policy)),
            problems,
            text.clone(),
            shown.clone(),
        )
    } else {
        let base = path.parent().unwrap_or(Path::new("."));
        let config = Config::parse_in(&text, base).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        // Policy problems point into the policy file when it is separate.
        let file: ConfigFile = serde_saphyr::from_str(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut problems = config.problems();
        let (policy_text, policy_shown) = match &file.policy_file {
            Some(p) => {
                for problem in &mut problems {
                    if problem.path.first().map(String::as_str) == Some("policy") {
                        problem.path.remove(0);
                    }
                }
                let policy_path = base.join(p);
                (
                    std::fs::read_to_string(&policy_path)?,
                    policy_path.display().to_string(),
                )
            }
            None => (text.clone(), shown.clone()),
        };
        (
            CheckedFile::Config(Box::new(config)),
            problems,
            policy_text,
            policy_shown,
        )
    };
    if problems.is_empty() {
        return Ok(checked);
    }
    let lines: Vec<String> = problems
        .iter()
        .map(|problem| {
            let top = problem.path.first().map(String::as_str);
            let in_policy_file =
                policy_shown != shown && matches!(top, Some("roles" | "requests" | "approvers"));
            let (file, source) = if in_policy_file {
                (&policy_shown, &policy_text)
            } else {
                (&shown, &text)
            };
            match locate(source, &problem.path) {
                Some((line, column)) => format!("{file}:{line}:{column}: {problem}"),
                None => format!("{file}: {problem}"),
            }
        })
        .collect();
    anyhow::bail!("{}", lines.join("\n"))
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

/// HTTPS anywhere; plain HTTP only to this machine, so the bot token never crosses a network in
/// clear text.
pub(crate) fn check_api_url(url: &str) -> Result<(), String> {
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL ({e})"))?;
    let host = uri.host().ok_or_else(|| format!("`{url}` has no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        Some("http") => Err(format!(
            "`{url}` is plain HTTP to another machine; use https (plain HTTP is only for 127.0.0.1/localhost)"
        )),
        _ => Err(format!("`{url}` must start with https://")),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

mod chat;

pub use chat::{ChatSettings, Secrets, TeamsSettings};

mod locate;

pub mod schedule;

use locate::locate;

#[cfg(test)]
mod tests;
