//! Incidents: when a channel counts as an incident channel and break-glass is admitted.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    ChannelBasis, ChannelInfo, IncidentChannels, IncidentContext, NotAnIncident, incident_reference,
};
use crate::domain::break_glass::admit;
use crate::domain::policy::RequestRefusal;
use crate::domain::testing::t0;

fn minutes_ago(m: i64) -> Option<DateTime<Utc>> {
    Some(t0() - chrono::Duration::minutes(m))
}

fn incidents() -> IncidentChannels {
    IncidentChannels {
        channels: vec!["C0WARROOM".into()],
        name_patterns: vec!["inc-*".into(), "sev?-*".into()],
        created_by: vec!["U0INCIDENTIO".into()],
        min_channel_age: Duration::from_secs(30 * 60),
        reference_pattern: Some(r"INC-[0-9]+|https://acme\.pagerduty\.com/incidents/\S+".into()),
    }
}

/// A channel called `name`, made `age_mins` ago by `creator`.
fn channel(name: &str, age_mins: i64, creator: &str) -> ChannelInfo {
    ChannelInfo {
        name: Some(name.into()),
        topic: None,
        creator: Some(creator.into()),
        created: minutes_ago(age_mins),
    }
}

fn basis(name: &str, age_mins: i64, creator: &str) -> Result<ChannelBasis, NotAnIncident> {
    incidents().basis("C0OTHER", &channel(name, age_mins, creator), t0())
}

const TOO_NEW: Result<ChannelBasis, NotAnIncident> = Err(NotAnIncident::TooNew {
    min_age: Duration::from_secs(30 * 60),
});

#[test]
fn incident_channels_are_named_by_id_by_their_incident_tool_or_by_a_name_pattern() {
    let unknown = ChannelInfo::default();
    assert_eq!(
        incidents().basis("C0WARROOM", &unknown, t0()),
        Ok(ChannelBasis::Listed)
    );
    assert_eq!(
        basis("dev", 1, "U0INCIDENTIO"),
        Ok(ChannelBasis::CreatedByIncidentTool)
    );
    assert_eq!(
        basis("inc-42-payments-down", 60, "U0ALICE"),
        Ok(ChannelBasis::NamePattern)
    );
    assert_eq!(
        basis("#INC-7", 60, "U0ALICE"),
        Ok(ChannelBasis::NamePattern)
    );
    assert_eq!(
        basis("sev1-db", 60, "U0ALICE"),
        Ok(ChannelBasis::NamePattern)
    );
    for ordinary in ["incidents-chat", "dev"] {
        assert_eq!(basis(ordinary, 60, "U0ALICE"), Err(NotAnIncident::Ordinary));
    }
    assert_eq!(
        incidents().basis("C0OTHER", &unknown, t0()),
        Err(NotAnIncident::Ordinary)
    );
    let none = IncidentChannels::default();
    assert!(none.is_empty());
    assert_eq!(
        none.basis("C0X", &channel("inc-1", 60, "U0ALICE"), t0()),
        Err(NotAnIncident::Ordinary)
    );
}

#[test]
fn a_channel_matched_only_by_name_counts_once_it_is_old_enough() {
    assert_eq!(basis("inc-1-totally-real", 1, "U0MALLORY"), TOO_NEW);
    assert_eq!(basis("inc-1-totally-real", 29, "U0MALLORY"), TOO_NEW);
    assert_eq!(
        basis("inc-1-totally-real", 30, "U0MALLORY"),
        Ok(ChannelBasis::NamePattern)
    );
    let mut unknown_age = channel("inc-1", 60, "U0MALLORY");
    unknown_age.created = None;
    assert_eq!(incidents().basis("C0OTHER", &unknown_age, t0()), TOO_NEW);
    // An incident tool's channel is needed at once; a listed one is the operator's word.
    assert_eq!(
        basis("inc-1", 1, "U0INCIDENTIO"),
        Ok(ChannelBasis::CreatedByIncidentTool)
    );
    assert_eq!(
        incidents().basis("C0WARROOM", &channel("inc-1", 1, "U0MALLORY"), t0()),
        Ok(ChannelBasis::Listed)
    );
}

#[test]
fn the_incident_comes_from_the_reason_else_the_topic_the_policys_pattern_first() {
    let mut info = channel("inc-42", 60, "U0ALICE");
    info.topic = Some("Paged: https://acme.pagerduty.com/incidents/Q1ABC | IC: @dana".into());
    let context = |reason: &str, info: &ChannelInfo| {
        incidents().context("C0INC", info, reason, t0()).unwrap()
    };
    let named = context("INC-9 restart worker", &info);
    assert_eq!(named.reference.as_deref(), Some("INC-9"));
    assert!(named.reference_matches_policy && named.shows_incident());
    let from_topic = context("CHG-3 restart worker", &info);
    assert_eq!(
        from_topic.reference.as_deref(),
        Some("https://acme.pagerduty.com/incidents/Q1ABC"),
        "the policy's pattern in the topic beats any ticket-like word in the reason"
    );
    assert!(from_topic.shows_incident());
    info.topic = None;
    let ticket_only = context("CHG-3 restart worker", &info);
    assert_eq!(
        ticket_only.reference.as_deref(),
        Some("CHG-3"),
        "kept for the audit log"
    );
    assert!(!ticket_only.reference_matches_policy && !ticket_only.shows_incident());
    assert_eq!(
        context("restart worker", &info),
        IncidentContext {
            channel: "C0INC".into(),
            reference: None,
            basis: ChannelBasis::NamePattern,
            reference_matches_policy: false,
        }
    );
}

#[test]
fn without_a_reference_pattern_only_listed_and_tool_made_channels_show_an_incident() {
    let mut policy = incidents();
    policy.reference_pattern = None;
    let listed = policy
        .context("C0WARROOM", &ChannelInfo::default(), "db down", t0())
        .unwrap();
    assert!(listed.shows_incident());
    let tool_made = policy
        .context(
            "C0X",
            &channel("major-db", 1, "U0INCIDENTIO"),
            "db down",
            t0(),
        )
        .unwrap();
    assert!(tool_made.shows_incident());
    let named = policy
        .context(
            "C0X",
            &channel("inc-9", 60, "U0ALICE"),
            "INC-9 db down",
            t0(),
        )
        .unwrap();
    assert!(!named.shows_incident());
}

#[test]
fn break_glass_is_admitted_only_where_an_incident_is_shown_and_the_refusal_says_why() {
    let policy = incidents();
    let place = |info: &ChannelInfo, reason: &str| policy.context("C0X", info, reason, t0());
    let admitted =
        |info: &ChannelInfo, reason: &str| admit("emergency", &place(info, reason), &policy);
    assert_eq!(
        admitted(&channel("inc-9", 60, "U0ALICE"), "INC-9 db down"),
        Ok(())
    );
    assert_eq!(
        admitted(&channel("major", 1, "U0INCIDENTIO"), "db down"),
        Ok(())
    );
    assert_eq!(
        admitted(&channel("inc-9", 60, "U0ALICE"), "db down"),
        Err(RequestRefusal::BreakGlassWithoutIncident {
            role: "emergency".into(),
            pattern: policy.reference_pattern.clone(),
        })
    );
    assert_eq!(
        admitted(&channel("inc-9", 1, "U0ALICE"), "INC-9 db down"),
        Err(RequestRefusal::BreakGlassChannelTooNew {
            role: "emergency".into(),
            min_age: Duration::from_secs(1800),
        })
    );
    assert_eq!(
        admitted(&channel("dev", 600, "U0ALICE"), "INC-9 db down"),
        Err(RequestRefusal::BreakGlassOutsideIncident {
            role: "emergency".into()
        })
    );
}

#[test]
fn only_a_listed_channel_takes_a_request_from_its_roles_own_approvals_channel() {
    let context = |basis| IncidentContext {
        channel: "C0INC".into(),
        reference: Some("INC-1".into()),
        basis,
        reference_matches_policy: true,
    };
    for basis in [
        ChannelBasis::NamePattern,
        ChannelBasis::CreatedByIncidentTool,
    ] {
        assert!(!context(basis).decided_here(true), "{basis:?}");
        assert!(context(basis).decided_here(false), "{basis:?}");
    }
    assert!(context(ChannelBasis::Listed).decided_here(true));
}

#[test]
fn a_context_stored_before_the_basis_was_recorded_is_the_least_trusted() {
    let stored: IncidentContext =
        serde_json::from_str(r#"{"channel": "C0INC", "reference": "INC-1"}"#).unwrap();
    assert_eq!(stored.basis, ChannelBasis::NamePattern);
    assert!(!stored.shows_incident());
    assert!(!stored.decided_here(true));
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
