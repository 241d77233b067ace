//! Checking a configuration: every problem that would make the bot unsafe or unable to work,
//! each at its key path, and `policy check` of a configuration or a standalone policy file.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use serde::de::IgnoredAny;

use super::locate::locate;
use super::{Config, ConfigFile, schedule};
use crate::domain::policy::{Policy, Problem};

/// What `policy check` was given.
pub enum CheckedFile {
    Config(Box<Config>),
    Policy(Box<Policy>),
}

impl Config {
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
