//! On-call auto-approval: a role may let whoever is on call right now (in a PagerDuty schedule
//! or escalation policy, or an Opsgenie schedule) have access without waiting for an approver.
//! A lookup that fails leaves the request to the approvers; it never grants.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `roles.<name>.on_call`: whom the role approves by policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OnCallRule {
    /// People on call (`GET /oncalls`) in any of these schedules or escalation policies (IDs).
    Pagerduty {
        #[serde(default)]
        schedules: Vec<String>,
        #[serde(default)]
        escalation_policies: Vec<String>,
        /// The deepest escalation level that counts as on call (1: the first responder).
        #[serde(default = "first_level")]
        max_escalation_level: u32,
    },
    /// People on call now in any of these Opsgenie schedules (by name).
    Opsgenie { schedules: Vec<String> },
}

fn first_level() -> u32 {
    1
}

impl OnCallRule {
    pub fn provider(&self) -> OnCallProvider {
        match self {
            OnCallRule::Pagerduty { .. } => OnCallProvider::Pagerduty,
            OnCallRule::Opsgenie { .. } => OnCallProvider::Opsgenie,
        }
    }

    /// Whether the rule names nothing to look in.
    pub fn is_empty(&self) -> bool {
        match self {
            OnCallRule::Pagerduty {
                schedules,
                escalation_policies,
                ..
            } => schedules.is_empty() && escalation_policies.is_empty(),
            OnCallRule::Opsgenie { schedules } => schedules.is_empty(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnCallProvider {
    Pagerduty,
    Opsgenie,
}

impl OnCallProvider {
    pub fn name(self) -> &'static str {
        match self {
            OnCallProvider::Pagerduty => "PagerDuty",
            OnCallProvider::Opsgenie => "Opsgenie",
        }
    }
}

/// What the on-call lookup for a request found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OnCallCheck {
    /// The requester is on call; `via` is where, as the provider names it.
    OnCall {
        via: OnCallPlace,
    },
    NotOnCall,
    /// The lookup failed: the request waits for approvers as any other.
    Unavailable {
        why: OnCallFailure,
    },
}

/// Where a requester was found on call, in the provider's own terms; the templates word it
/// (`PagerDuty schedule Primary (PABC123)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OnCallPlace {
    /// A schedule: PagerDuty's by id (with its name when the answer gave one), Opsgenie's by
    /// name (`id`).
    Schedule {
        provider: OnCallProvider,
        id: String,
        name: Option<String>,
    },
    /// A PagerDuty escalation policy, at `level` (1: the first responder).
    EscalationPolicy {
        provider: OnCallProvider,
        id: String,
        name: Option<String>,
        level: u32,
    },
    /// The provider said so without naming a schedule or policy.
    Provider { provider: OnCallProvider },
    /// Stored before places had a kind: the words said then.
    #[serde(untagged)]
    Said(String),
}

impl OnCallPlace {
    /// The place as a stable key for machines (`pagerduty/schedule/PABC123`), e.g. a binding's
    /// annotation: ids, not names, which can change.
    pub fn key(&self) -> String {
        let provider = |p: &OnCallProvider| p.name().to_lowercase();
        match self {
            OnCallPlace::Schedule {
                provider: p, id, ..
            } => {
                format!("{}/schedule/{id}", provider(p))
            }
            OnCallPlace::EscalationPolicy {
                provider: p,
                id,
                level,
                ..
            } => format!("{}/escalation_policy/{id}/level/{level}", provider(p)),
            OnCallPlace::Provider { provider: p } => provider(p),
            OnCallPlace::Said(said) => said.clone(),
        }
    }
}

/// Why an on-call lookup found no answer; each platform's templates word it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OnCallFailure {
    /// The whole lookup took longer than its budget.
    TooSlow {
        budget_secs: u64,
    },
    /// The chat platform gave no profile for the requester.
    NoProfile {
        error: String,
    },
    EmailNotConfirmed,
    /// The identity rules refuse the requester's address (`rule`: the refusal's kind).
    EmailUntrusted {
        rule: String,
    },
    ProviderNotConfigured {
        provider: String,
    },
    /// The provider did not answer (an outage, an unreadable answer).
    ProviderUnavailable {
        provider: String,
        detail: String,
    },
    /// The provider refused the lookup (a wrong token, an unknown schedule).
    ProviderRefused {
        provider: String,
        status: u16,
    },
    /// Stored before lookups failed with a kind: the words said then.
    #[serde(untagged)]
    Said(String),
}

#[cfg(test)]
mod tests;
