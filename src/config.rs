//! The YAML configuration file and the secrets that only ever come from the environment.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::domain::policy::Policy;

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Directory of the embedded store; created if missing.
    pub store_path: PathBuf,
    pub slack: SlackSettings,
    #[serde(default)]
    pub kubernetes: KubernetesSettings,
    pub policy: Policy,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Channel ID where approval requests are posted.
    pub approvals_channel: String,
    /// Channel ID that receives one post per lifecycle step.
    pub audit_channel: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSettings {
    /// Put before the requester's email to form the Kubernetes `User` name, e.g. `oidc:`.
    #[serde(default)]
    pub subject_prefix: String,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 3000))
}

fn default_api_url() -> String {
    DEFAULT_SLACK_API_URL.to_string()
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration {}", path.display()))?;
        let config =
            Config::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let problems = config.problems();
        if !problems.is_empty() {
            anyhow::bail!(
                "{} is not a usable configuration:\n  {}",
                path.display(),
                problems.join("\n  ")
            );
        }
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    /// Everything that would make the bot unsafe or unable to work, as readable sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.policy.problems();
        if let Err(e) = check_api_url(&self.slack.api_url) {
            problems.push(format!("slack.api_url: {e}"));
        }
        for (key, value) in [
            ("slack.approvals_channel", &self.slack.approvals_channel),
            ("slack.audit_channel", &self.slack.audit_channel),
        ] {
            if value.trim().is_empty() {
                problems.push(format!(
                    "{key}: must be a Slack channel ID such as C0123ABCD"
                ));
            }
        }
        problems
    }
}

/// HTTPS anywhere; plain HTTP only to this machine, so the bot token never crosses a network in
/// clear text.
fn check_api_url(url: &str) -> Result<(), String> {
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

/// Secrets, read from the environment only and never printed.
#[derive(Clone)]
pub struct Secrets {
    pub slack_bot_token: String,
    pub slack_signing_secret: String,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

impl Secrets {
    pub fn from_env() -> anyhow::Result<Secrets> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| anyhow::anyhow!("the environment variable {name} must be set"))
        };
        Ok(Secrets {
            slack_bot_token: var("SLACK_BOT_TOKEN")?,
            slack_signing_secret: var("SLACK_SIGNING_SECRET")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../config.example.yaml");

    #[test]
    fn the_shipped_example_is_valid() {
        let config = Config::parse(EXAMPLE).unwrap();
        assert_eq!(config.problems(), Vec::<String>::new());
        assert_eq!(config.slack.api_url, DEFAULT_SLACK_API_URL);
        assert!(config.policy.roles.contains_key("edit"));
    }

    #[test]
    fn unknown_keys_are_errors_not_silently_ignored() {
        let text = EXAMPLE.replace("audit_channel:", "audit_chanel:");
        let error = Config::parse(&text).unwrap_err();
        assert!(error.contains("audit_chanel"), "{error}");
    }

    #[test]
    fn bad_durations_say_how_to_write_them() {
        let text = EXAMPLE.replace("max_duration: 4h", "max_duration: forever");
        let error = Config::parse(&text).unwrap_err();
        assert!(error.contains("write e.g. 30m, 2h, 1d"), "{error}");
    }

    #[test]
    fn plain_http_is_only_allowed_to_loopback() {
        assert!(check_api_url("https://slack.com/api").is_ok());
        assert!(check_api_url("http://127.0.0.1:9999/api").is_ok());
        assert!(check_api_url("http://localhost:9999/api").is_ok());
        assert!(check_api_url("http://[::1]:9999/api").is_ok());
        assert!(check_api_url("http://10.0.0.5/api").is_err());
        assert!(check_api_url("ftp://slack.com/api").is_err());
        assert!(check_api_url("not a url").is_err());
    }

    #[test]
    fn secrets_never_print() {
        let secrets = Secrets {
            slack_bot_token: "xoxb-secret".into(),
            slack_signing_secret: "shh".into(),
        };
        let printed = format!("{secrets:?}");
        assert!(!printed.contains("xoxb") && !printed.contains("shh"));
    }
}
