//! Which chat platform a deployment serves (Slack or Teams), its settings, and the secrets each
//! needs from the environment.

use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Config, SlackSettings, check_api_url};
use crate::chat::Platform;
use crate::domain::policy::{ApproverRef, Problem};
use crate::teams::auth;

/// The Bot Connector's global `serviceUrl` for Teams in the public cloud.
pub const DEFAULT_TEAMS_SERVICE_URL: &str = "https://smba.trafficmanager.net/teams/";

#[derive(Debug, Clone)]
pub enum ChatSettings {
    Slack(SlackSettings),
    Teams(TeamsSettings),
}

impl ChatSettings {
    pub fn platform(&self) -> Platform {
        match self {
            ChatSettings::Slack(_) => Platform::Slack,
            ChatSettings::Teams(_) => Platform::Teams,
        }
    }

    pub fn approvals_channel(&self) -> &str {
        match self {
            ChatSettings::Slack(s) => &s.approvals_channel,
            ChatSettings::Teams(t) => &t.approvals_channel,
        }
    }

    pub fn audit_channel(&self) -> &str {
        match self {
            ChatSettings::Slack(s) => &s.audit_channel,
            ChatSettings::Teams(t) => &t.audit_channel,
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamsSettings {
    /// The bot's Microsoft App ID (its Entra app registration); its password is TEAMS_APP_PASSWORD.
    pub app_id: String,
    /// The Entra tenant the bot serves; activities from other tenants are refused.
    pub tenant_id: String,
    /// Conversation ID of the channel where approval cards are posted (`19:…@thread.tacv2`).
    /// Everyone who requests or approves must be a member of its team: people are looked up
    /// there by email.
    pub approvals_channel: String,
    /// Conversation ID of the channel that receives one post per lifecycle step.
    pub audit_channel: String,
    /// The Bot Connector URL for messages the bot starts.
    #[serde(default = "default_service_url")]
    pub service_url: String,
    /// Where the Bot Framework publishes the keys that sign its requests.
    #[serde(default = "default_metadata_url")]
    pub openid_metadata_url: String,
    /// Where the bot gets its own token (client credentials); by default the tenant's own
    /// endpoint, as single-tenant bots need.
    #[serde(default)]
    pub token_url: Option<String>,
}

impl TeamsSettings {
    pub fn token_url(&self) -> String {
        self.token_url.clone().unwrap_or_else(|| {
            format!(
                "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                self.tenant_id.trim()
            )
        })
    }
}

fn default_service_url() -> String {
    DEFAULT_TEAMS_SERVICE_URL.into()
}

fn default_metadata_url() -> String {
    auth::DEFAULT_METADATA_URL.into()
}

impl Config {
    pub fn platform(&self) -> Platform {
        self.chat.platform()
    }

    pub(super) fn chat_problems(&self) -> Vec<Problem> {
        let at = |path: &[&str], message: String| Problem {
            path: path.iter().map(|p| p.to_string()).collect(),
            message,
        };
        let mut problems = Vec::new();
        match &self.chat {
            ChatSettings::Slack(slack) => {
                if let Err(e) = check_api_url(&slack.api_url) {
                    problems.push(at(&["slack", "api_url"], e));
                }
                for (key, value) in [
                    ("approvals_channel", &slack.approvals_channel),
                    ("audit_channel", &slack.audit_channel),
                ] {
                    if value.trim().is_empty() {
                        problems.push(at(
                            &["slack", key],
                            "must be a Slack channel ID such as C0123ABCD".into(),
                        ));
                    }
                }
            }
            ChatSettings::Teams(teams) => {
                for (key, url) in [
                    ("service_url", &teams.service_url),
                    ("openid_metadata_url", &teams.openid_metadata_url),
                    ("token_url", &teams.token_url()),
                ] {
                    if let Err(e) = check_api_url(url) {
                        problems.push(at(&["teams", key], e));
                    }
                }
                for (key, value, what) in [
                    ("app_id", &teams.app_id, "the bot's Microsoft App ID"),
                    ("tenant_id", &teams.tenant_id, "your Entra tenant ID"),
                    (
                        "approvals_channel",
                        &teams.approvals_channel,
                        "a channel's conversation ID such as 19:abc…@thread.tacv2",
                    ),
                    (
                        "audit_channel",
                        &teams.audit_channel,
                        "a channel's conversation ID such as 19:abc…@thread.tacv2",
                    ),
                ] {
                    if value.trim().is_empty() {
                        problems.push(at(&["teams", key], format!("must be {what}")));
                    }
                }
                problems.extend(self.teams_policy_problems());
            }
        }
        problems
    }

    /// In Teams people are known by email: Slack IDs and user groups name nobody there, and a
    /// kubeconfig file cannot be sent by message.
    fn teams_policy_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if !self.policy.incidents.name_patterns.is_empty() {
            problems.push(Problem {
                path: vec!["policy".into(), "incidents".into(), "name_patterns".into()],
                message: "Teams channels are not looked up by name: list incident channels by conversation ID in `channels`".into(),
            });
        }
        let not_email = |refs: &[String], path: Vec<String>, problems: &mut Vec<Problem>| {
            for approver in refs {
                if !matches!(ApproverRef::parse(approver), ApproverRef::Email(_)) {
                    problems.push(Problem {
                        path: path.clone(),
                        message: format!(
                            "`{approver}` is not an email: in Teams, name approvers by their email or UPN"
                        ),
                    });
                }
            }
        };
        not_email(
            &self.policy.approvers,
            vec!["policy".into(), "approvers".into()],
            &mut problems,
        );
        for (name, role) in &self.policy.roles {
            let path = vec!["policy".into(), "roles".into(), name.clone()];
            let mut approvers = path.clone();
            approvers.push("approvers".into());
            not_email(&role.approvers, approvers, &mut problems);
            if role.kubeconfig {
                let mut kubeconfig = path;
                kubeconfig.push("kubeconfig".into());
                problems.push(Problem {
                    path: kubeconfig,
                    message: "Teams cannot deliver kubeconfig files: bind the requester's own identity instead".into(),
                });
            }
        }
        problems
    }
}

/// Secrets, read from the environment only and never printed.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Slack's bot token (`SLACK_BOT_TOKEN`).
    pub slack_bot_token: Option<String>,
    /// Verifies Slack's HTTP requests; not needed in Socket Mode.
    pub slack_signing_secret: Option<String>,
    /// The app-level token (`xapp-…`, scope `connections:write`): set, the bot runs in Socket
    /// Mode and needs no public URL.
    pub slack_app_token: Option<String>,
    /// The Teams bot's client secret (`TEAMS_APP_PASSWORD`).
    pub teams_app_password: Option<String>,
    /// Signs what the audit webhook sends (`PROD_ACCESS_AUDIT_WEBHOOK_SECRET`).
    pub audit_webhook_secret: Option<String>,
    /// PagerDuty's REST API token (`PAGERDUTY_API_TOKEN`), for on-call roles.
    pub pagerduty_token: Option<String>,
    /// An Opsgenie API key (`OPSGENIE_API_KEY`), for on-call roles.
    pub opsgenie_api_key: Option<String>,
    /// The bearer token the apiserver's audit webhook presents (`PROD_ACCESS_K8S_AUDIT_TOKEN`),
    /// for a one-cluster configuration; set, `POST /k8s/audit` records session activity.
    pub k8s_audit_token: Option<String>,
    /// Each cluster's own webhook token, by variable (`PROD_ACCESS_K8S_AUDIT_TOKEN_<CLUSTER>`).
    pub k8s_audit_cluster_tokens: std::collections::BTreeMap<String, String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

impl Secrets {
    /// What `platform` needs, from the environment.
    pub fn from_env(platform: Platform) -> anyhow::Result<Secrets> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| anyhow::anyhow!("the environment variable {name} must be set"))
        };
        let audit_webhook_secret = var(super::WEBHOOK_SECRET_VAR).ok();
        let pagerduty_token = var(crate::on_call::PAGERDUTY_TOKEN_VAR).ok();
        let opsgenie_api_key = var(crate::on_call::OPSGENIE_KEY_VAR).ok();
        let k8s_audit_token = var(super::K8S_AUDIT_TOKEN_VAR).ok();
        let per_cluster_prefix = format!("{}_", super::K8S_AUDIT_TOKEN_VAR);
        let k8s_audit_cluster_tokens = std::env::vars()
            .filter(|(name, value)| {
                name.starts_with(&per_cluster_prefix) && !value.trim().is_empty()
            })
            .collect();
        if platform == Platform::Teams {
            return Ok(Secrets {
                teams_app_password: Some(var("TEAMS_APP_PASSWORD")?),
                audit_webhook_secret,
                pagerduty_token,
                opsgenie_api_key,
                k8s_audit_token,
                k8s_audit_cluster_tokens,
                ..Secrets::default()
            });
        }
        let slack_app_token = var("SLACK_APP_TOKEN").ok();
        let slack_signing_secret = match (&slack_app_token, var("SLACK_SIGNING_SECRET")) {
            (_, Ok(secret)) => Some(secret),
            (Some(_), Err(_)) => None,
            (None, Err(e)) => {
                return Err(
                    e.context("HTTP mode needs it (or set SLACK_APP_TOKEN to run in Socket Mode)")
                );
            }
        };
        Ok(Secrets {
            slack_bot_token: Some(var("SLACK_BOT_TOKEN")?),
            slack_signing_secret,
            slack_app_token,
            teams_app_password: None,
            audit_webhook_secret,
            pagerduty_token,
            opsgenie_api_key,
            k8s_audit_token,
            k8s_audit_cluster_tokens,
        })
    }
}
