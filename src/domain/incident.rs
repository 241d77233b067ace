//! Incidents: which channels are incident channels (requests typed there are decided there),
//! and incident and ticket references in free text, so the audit log can be searched by incident:
//! `INC-123`, `CHG-42`, `OPS-7` (a Jira-style key), or a PagerDuty, Opsgenie, Jira or
//! ServiceNow link.

use std::sync::LazyLock;

use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The policy's incident channels: by ID, or by a name pattern such as `inc-*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentChannels {
    /// Channel IDs (Slack `C…`, Teams conversation IDs).
    #[serde(default)]
    pub channels: Vec<String>,
    /// Channel names, `*` and `?` as wildcards, e.g. `inc-*` (Slack only: the name is looked up).
    #[serde(default)]
    pub name_patterns: Vec<String>,
}

impl IncidentChannels {
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.name_patterns.is_empty()
    }

    /// Whether knowing the channel's name could change the answer for `channel`.
    pub fn needs_name(&self, channel: &str) -> bool {
        !self.name_patterns.is_empty() && !self.channels.iter().any(|c| c == channel)
    }

    /// Whether the channel with this ID (and name, when known) is an incident channel.
    pub fn matches(&self, channel: &str, name: Option<&str>) -> bool {
        self.channels.iter().any(|c| c == channel)
            || name.is_some_and(|name| {
                let name = name.trim_start_matches('#').to_lowercase();
                self.name_patterns
                    .iter()
                    .any(|p| wildmatch::WildMatch::new(&p.to_lowercase()).matches(&name))
            })
    }
}

/// Where a request typed in an incident channel belongs: that channel, and the incident it is
/// about (from the reason, else the channel's topic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentContext {
    pub channel: String,
    #[serde(default)]
    pub reference: Option<String>,
}

impl IncidentContext {
    /// The context of a request with `reason` typed in incident channel `channel`, whose topic
    /// (and purpose) is `topic`.
    pub fn of(channel: &str, reason: &str, topic: Option<&str>) -> IncidentContext {
        IncidentContext {
            channel: channel.to_string(),
            reference: incident_reference(reason).or_else(|| incident_reference(topic?)),
        }
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
    REFERENCE.find(text).map(|m| {
        m.as_str()
            .trim_end_matches(['.', ',', ')', ';'])
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::{IncidentChannels, IncidentContext, incident_reference};

    #[test]
    fn incident_channels_are_named_by_id_or_by_a_name_pattern() {
        let channels = IncidentChannels {
            channels: vec!["C0WARROOM".into()],
            name_patterns: vec!["inc-*".into(), "sev?-*".into()],
        };
        assert!(channels.matches("C0WARROOM", None));
        assert!(!channels.needs_name("C0WARROOM"));
        assert!(channels.needs_name("C0OTHER"));
        assert!(channels.matches("C0OTHER", Some("inc-42-payments-down")));
        assert!(channels.matches("C0OTHER", Some("#INC-7")));
        assert!(channels.matches("C0OTHER", Some("sev1-db")));
        assert!(!channels.matches("C0OTHER", Some("incidents-chat")));
        assert!(!channels.matches("C0OTHER", Some("dev")));
        assert!(!channels.matches("C0OTHER", None));
        let none = IncidentChannels::default();
        assert!(none.is_empty() && !none.needs_name("C0X") && !none.matches("C0X", Some("inc-1")));
    }

    #[test]
    fn the_incident_comes_from_the_reason_else_the_topic() {
        let topic = "Paged: https://acme.pagerduty.com/incidents/Q1ABC | IC: @dana";
        assert_eq!(
            IncidentContext::of("C0INC", "INC-9 restart worker", Some(topic)).reference,
            Some("INC-9".into())
        );
        assert_eq!(
            IncidentContext::of("C0INC", "restart worker", Some(topic)).reference,
            Some("https://acme.pagerduty.com/incidents/Q1ABC".into())
        );
        assert_eq!(
            IncidentContext::of("C0INC", "restart worker", None),
            IncidentContext {
                channel: "C0INC".into(),
                reference: None
            }
        );
    }

    #[test]
    fn a_ticket_key_anywhere_in_the_reason_is_the_reference() {
        assert_eq!(
            incident_reference("fixing stuck queue INC-123, see thread").as_deref(),
            Some("INC-123")
        );
        assert_eq!(
            incident_reference("CHG-42 rollout").as_deref(),
            Some("CHG-42")
        );
    }

    #[test]
    fn incident_links_are_kept_whole() {
        assert_eq!(
            incident_reference("paged: https://acme.pagerduty.com/incidents/Q1ABC2DEF.").as_deref(),
            Some("https://acme.pagerduty.com/incidents/Q1ABC2DEF")
        );
        assert_eq!(
            incident_reference("https://acme.atlassian.net/browse/OPS-7 is the ticket").as_deref(),
            Some("https://acme.atlassian.net/browse/OPS-7")
        );
    }

    #[test]
    fn words_that_only_look_like_keys_are_not_references() {
        for text in [
            "fixing stuck queue",
            "utf-8 issue",
            "A-1 lowercase-12",
            "",
            "K8S-",
        ] {
            assert_eq!(incident_reference(text), None, "{text}");
        }
    }
}
