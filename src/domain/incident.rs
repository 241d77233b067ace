//! Incidents: which channels are incident channels (requests typed there are decided there),
//! and incident and ticket references in free text, so the audit log can be searched by incident:
//! `INC-123`, `CHG-42`, `OPS-7` (a Jira-style key), or a PagerDuty, Opsgenie, Jira or
//! ServiceNow link.
//!
//! Anyone can create a channel and give it any name and topic, so how a channel came to count
//! as an incident's is kept: only a channel the policy lists, one an incident tool's bot created,
//! or a reference matching the policy's own pattern shows an incident strongly enough to break
//! glass, and only a listed channel takes a request away from a role's own approvals channel.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The policy's incident channels: by ID, by the incident tool that created them, or by a name
/// pattern such as `inc-*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentChannels {
    /// Channel IDs (Slack `C…`, Teams conversation IDs).
    #[serde(default)]
    pub channels: Vec<String>,
    /// Channel names, `*` and `?` as wildcards, e.g. `inc-*` (Slack only: the name is looked up).
    #[serde(default)]
    pub name_patterns: Vec<String>,
    /// User IDs of incident tools' bots (incident.io, FireHydrant, PagerDuty, …): a channel one
    /// of them created is an incident channel, whatever its name or age (Slack only).
    #[serde(default)]
    pub created_by: Vec<String>,
    /// How old a channel matched only by its name must be: one made a moment ago to look like
    /// an incident's is not one.
    #[serde(
        default = "default_min_channel_age",
        with = "super::duration_serde::required"
    )]
    #[schemars(with = "String", example = "30m")]
    pub min_channel_age: Duration,
    /// A regular expression for your incidents' references (`INC-[0-9]+`, your incident tool's
    /// links): in a channel matched only by its name, a break-glass request must name one in its
    /// reason, or the channel's topic must.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_pattern: Option<String>,
}

fn default_min_channel_age() -> Duration {
    Duration::from_secs(30 * 60)
}

impl Default for IncidentChannels {
    fn default() -> Self {
        IncidentChannels {
            channels: Vec::new(),
            name_patterns: Vec::new(),
            created_by: Vec::new(),
            min_channel_age: default_min_channel_age(),
            reference_pattern: None,
        }
    }
}

/// What a channel says about itself, where the platform says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelInfo {
    pub name: Option<String>,
    /// Its topic and purpose, where incident tools put the incident's link.
    pub topic: Option<String>,
    /// The user (or bot user) who created it.
    pub creator: Option<String>,
    pub created: Option<DateTime<Utc>>,
}

/// How a channel came to count as an incident's, most trusted first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelBasis {
    /// Listed by ID in `incidents.channels`.
    Listed,
    /// Created by one of `incidents.created_by`.
    CreatedByIncidentTool,
    /// Only its name matches `incidents.name_patterns`. Grants stored before the basis was
    /// recorded count as this, the least trusted.
    #[default]
    NamePattern,
}

/// Why the channel a request was typed in is no incident channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAnIncident {
    Ordinary,
    /// Named like an incident channel, but younger than `min_channel_age` (or of unknown age).
    TooNew {
        min_age: Duration,
    },
}

impl IncidentChannels {
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.name_patterns.is_empty() && self.created_by.is_empty()
    }

    /// Whether `channel`, described by `info` at `now`, is an incident channel, and how.
    pub fn basis(
        &self,
        channel: &str,
        info: &ChannelInfo,
        now: DateTime<Utc>,
    ) -> Result<ChannelBasis, NotAnIncident> {
        if self.channels.iter().any(|c| c == channel) {
            return Ok(ChannelBasis::Listed);
        }
        if info
            .creator
            .as_ref()
            .is_some_and(|creator| self.created_by.contains(creator))
        {
            return Ok(ChannelBasis::CreatedByIncidentTool);
        }
        if !info.name.as_deref().is_some_and(|n| self.name_matches(n)) {
            return Err(NotAnIncident::Ordinary);
        }
        let min_age = self.min_channel_age;
        let old_enough = info.created.is_some_and(|created| {
            now - created >= chrono::Duration::from_std(min_age).unwrap_or(chrono::Duration::MAX)
        });
        if old_enough {
            Ok(ChannelBasis::NamePattern)
        } else {
            Err(NotAnIncident::TooNew { min_age })
        }
    }

    fn name_matches(&self, name: &str) -> bool {
        let name = name.trim_start_matches('#').to_lowercase();
        self.name_patterns
            .iter()
            .any(|p| wildmatch::WildMatch::new(&p.to_lowercase()).matches(&name))
    }

    /// The incident context of a request with `reason` typed in `channel`, or why the channel is
    /// no incident's.
    pub fn context(
        &self,
        channel: &str,
        info: &ChannelInfo,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<IncidentContext, NotAnIncident> {
        let basis = self.basis(channel, info, now)?;
        let topic = info.topic.as_deref().unwrap_or_default();
        let matching = self
            .reference_regex()
            .and_then(|re| re.find(reason).or_else(|| re.find(topic)))
            .map(|m| trim_reference(m.as_str()));
        Ok(IncidentContext {
            channel: channel.to_string(),
            reference_matches_policy: matching.is_some(),
            reference: matching
                .or_else(|| incident_reference(reason))
                .or_else(|| incident_reference(topic)),
            basis,
        })
    }

    /// `reference_pattern` compiled; `policy check` refuses one that does not compile, so such a
    /// pattern matches nothing here.
    fn reference_regex(&self) -> Option<Regex> {
        self.reference_pattern
            .as_deref()
            .and_then(|p| Regex::new(p).ok())
    }
}

/// Where a request typed in an incident channel belongs: that channel, and the incident it is
/// about (from the reason, else the channel's topic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentContext {
    pub channel: String,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub basis: ChannelBasis,
    /// Whether `reference` matches the policy's `incidents.reference_pattern`.
    #[serde(default)]
    pub reference_matches_policy: bool,
}

impl IncidentContext {
    /// Whether this shows an incident strongly enough to break glass: a listed channel, one an
    /// incident tool created, or a reference in the policy's own form.
    pub fn shows_incident(&self) -> bool {
        self.basis != ChannelBasis::NamePattern || self.reference_matches_policy
    }

    /// Whether the request is decided in the incident channel rather than the role's approvals
    /// channel. A name, a topic, even an incident tool's channel can be had by anyone; a role's
    /// own approvals channel is the operator's choice, and only a channel they listed by ID
    /// overrides it.
    pub fn decided_here(&self, role_has_approvals_channel: bool) -> bool {
        !role_has_approvals_channel || self.basis == ChannelBasis::Listed
    }
}

static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"https?://[^\s<>|]*(?:pagerduty\.com/incidents/|opsgenie\.com/[^\s<>|]*incident|",
        r"atlassian\.net/browse/|service-now\.com/)[^\s<>|]*",
        r"|\b[A-Z][A-Z0-9]{1,9}-[0-9]{1,9}\b",
    ))
    .expect("the incident pattern is valid")
});

/// The first incident or ticket reference in `text`, if any.
pub fn incident_reference(text: &str) -> Option<String> {
    REFERENCE.find(text).map(|m| trim_reference(m.as_str()))
}

fn trim_reference(found: &str) -> String {
    found.trim_end_matches(['.', ',', ')', ';']).to_string()
}

#[cfg(test)]
mod tests;
