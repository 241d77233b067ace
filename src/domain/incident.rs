//! Incident and ticket references in free text, so the audit log can be searched by incident:
//! `INC-123`, `CHG-42`, `OPS-7` (a Jira-style key), or a PagerDuty, Opsgenie, Jira or
//! ServiceNow link.

use std::sync::LazyLock;

use regex::Regex;

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
    use super::incident_reference;

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
