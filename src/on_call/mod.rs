//! Who is on call now, asked of PagerDuty or Opsgenie over their REST APIs. The application sees
//! the `OnCallDirectory` trait; a lookup that fails is an error, never a "yes".

mod opsgenie;
mod pagerduty;

use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::domain::on_call::{OnCallFailure, OnCallPlace, OnCallProvider, OnCallRule};

pub use opsgenie::Opsgenie;
pub use pagerduty::PagerDuty;

/// The environment variable with PagerDuty's REST API token (read-only is enough).
pub const PAGERDUTY_TOKEN_VAR: &str = "PAGERDUTY_API_TOKEN";
/// The environment variable with an Opsgenie API integration's key.
pub const OPSGENIE_KEY_VAR: &str = "OPSGENIE_API_KEY";

/// How long one lookup may take before the request is left to the approvers.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// `on_call` in the configuration: where the on-call services are (tokens come from the
/// environment).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnCallSettings {
    #[serde(default)]
    pub pagerduty: Option<ProviderSettings>,
    #[serde(default)]
    pub opsgenie: Option<ProviderSettings>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// The REST API's base URL: `https://api.pagerduty.com`, `https://api.opsgenie.com` (or
    /// `https://api.eu.opsgenie.com`); plain http only for loopback addresses.
    pub api_url: String,
}

impl OnCallSettings {
    /// The settings of `provider`, if it is configured.
    pub fn of(&self, provider: OnCallProvider) -> Option<&ProviderSettings> {
        match provider {
            OnCallProvider::Pagerduty => self.pagerduty.as_ref(),
            OnCallProvider::Opsgenie => self.opsgenie.as_ref(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OnCallError {
    #[error("{0} is not configured")]
    NotConfigured(&'static str),
    #[error("{provider} did not answer: {detail}")]
    Unavailable {
        provider: &'static str,
        detail: String,
    },
    #[error("{provider} refused the lookup: HTTP {status}")]
    Refused { provider: &'static str, status: u16 },
}

impl From<OnCallError> for OnCallFailure {
    fn from(e: OnCallError) -> Self {
        match e {
            OnCallError::NotConfigured(provider) => OnCallFailure::ProviderNotConfigured {
                provider: provider.into(),
            },
            OnCallError::Unavailable { provider, detail } => OnCallFailure::ProviderUnavailable {
                provider: provider.into(),
                detail,
            },
            OnCallError::Refused { provider, status } => OnCallFailure::ProviderRefused {
                provider: provider.into(),
                status,
            },
        }
    }
}

#[async_trait]
pub trait OnCallDirectory: Send + Sync {
    /// Where the person with `email` is on call now under `rule`, or `None` when they are not.
    async fn on_call_via(
        &self,
        rule: &OnCallRule,
        email: &str,
    ) -> Result<Option<OnCallPlace>, OnCallError>;
}

/// The configured providers.
#[derive(Default)]
pub struct OnCallProviders {
    pub pagerduty: Option<PagerDuty>,
    pub opsgenie: Option<Opsgenie>,
}

impl OnCallProviders {
    /// The providers `settings` names, with their tokens. A provider without its token is left
    /// out (startup refuses a policy that needs it).
    pub fn new(
        settings: &OnCallSettings,
        pagerduty_token: Option<&str>,
        opsgenie_key: Option<&str>,
    ) -> anyhow::Result<OnCallProviders> {
        let http = reqwest::Client::builder().timeout(LOOKUP_TIMEOUT).build()?;
        Ok(OnCallProviders {
            pagerduty: match (&settings.pagerduty, pagerduty_token) {
                (Some(s), Some(token)) => Some(PagerDuty::new(http.clone(), &s.api_url, token)),
                _ => None,
            },
            opsgenie: match (&settings.opsgenie, opsgenie_key) {
                (Some(s), Some(key)) => Some(Opsgenie::new(http, &s.api_url, key)),
                _ => None,
            },
        })
    }
}

#[async_trait]
impl OnCallDirectory for OnCallProviders {
    async fn on_call_via(
        &self,
        rule: &OnCallRule,
        email: &str,
    ) -> Result<Option<OnCallPlace>, OnCallError> {
        let provider = rule.provider().name();
        match rule {
            OnCallRule::Pagerduty {
                schedules,
                escalation_policies,
                max_escalation_level,
            } => {
                let pagerduty = self
                    .pagerduty
                    .as_ref()
                    .ok_or(OnCallError::NotConfigured(provider))?;
                pagerduty
                    .on_call_via(schedules, escalation_policies, *max_escalation_level, email)
                    .await
            }
            OnCallRule::Opsgenie { schedules } => {
                let opsgenie = self
                    .opsgenie
                    .as_ref()
                    .ok_or(OnCallError::NotConfigured(provider))?;
                opsgenie.on_call_via(schedules, email).await
            }
        }
    }
}

/// Reads a provider's JSON answer, telling a refusal (4xx: wrong token, unknown schedule) from
/// an outage.
async fn json_of<T: serde::de::DeserializeOwned>(
    provider: &'static str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, OnCallError> {
    let unavailable = |detail: String| OnCallError::Unavailable { provider, detail };
    let response = sent.map_err(|e| unavailable(e.without_url().to_string()))?;
    let status = response.status();
    if status.is_client_error() {
        return Err(OnCallError::Refused {
            provider,
            status: status.as_u16(),
        });
    }
    if !status.is_success() {
        return Err(unavailable(format!("HTTP {status}")));
    }
    response
        .json()
        .await
        .map_err(|e| unavailable(format!("unreadable answer: {}", e.without_url())))
}
