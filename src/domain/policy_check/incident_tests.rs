//! Policy checks of the incident and break-glass settings.

use crate::domain::policy::Policy;
use crate::domain::testing::{policy_from, policy_problems as problems};

const ROLE: &str =
    "cluster_role: admin, namespaces: [payments], max_duration: 1h, approvers: [UBOB]";

#[test]
fn a_break_glass_cap_is_shorter_than_the_role_and_needs_incident_channels() {
    let fine = format!(
        "incidents: {{channels: [CWAR]}}\nroles: {{bg: {{{ROLE}, break_glass: {{max_duration: 30m, requesters: [UALICE]}}}}}}"
    );
    assert_eq!(problems(&fine), Vec::<String>::new());
    let defaulted = policy_from(&format!(
        "incidents: {{name_patterns: [inc-*]}}\nroles: {{bg: {{{ROLE}, break_glass: {{}}}}}}"
    ));
    assert_eq!(
        defaulted.roles["bg"]
            .break_glass
            .as_ref()
            .unwrap()
            .max_duration,
        std::time::Duration::from_secs(3600)
    );
    let too_long = format!(
        "incidents: {{channels: [CWAR]}}\nroles: {{bg: {{{ROLE}, break_glass: {{max_duration: 2h, requesters: [UALICE]}}}}}}"
    );
    assert_eq!(
        problems(&too_long),
        [
            "roles.bg.break_glass.max_duration: must be longer than zero and at most max_duration (1h)"
        ]
    );
    let by_name = format!(
        "incidents: {{name_patterns: [inc-*], reference_pattern: 'INC-[0-9]+'}}\nroles: {{bg: {{{ROLE}, break_glass: {{}}}}}}"
    );
    let found = problems(&by_name);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("roles.bg.break_glass: name who may break glass"),
        "{found:?}"
    );
    let named = format!(
        "incidents: {{name_patterns: [inc-*], reference_pattern: 'INC-[0-9]+'}}\nroles: {{bg: {{{ROLE}, break_glass: {{requesters: [S0SRE, dana@example.com]}}}}}}"
    );
    assert_eq!(problems(&named), Vec::<String>::new());
    let bad = format!(
        "incidents: {{channels: [CWAR]}}\nroles: {{bg: {{{ROLE}, break_glass: {{requesters: [alice]}}}}}}"
    );
    assert_eq!(problems(&bad).len(), 1, "{:?}", problems(&bad));
    let nowhere = format!(
        "roles: {{bg: {{{ROLE}, break_glass: {{max_duration: 30m, requesters: [UALICE]}}}}}}"
    );
    let found = problems(&nowhere);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with(
            "roles.bg.break_glass: a break-glass role is only allowed in incident channels"
        ),
        "{found:?}"
    );
}

#[test]
fn an_on_call_rule_names_where_to_look() {
    let pagerduty = format!(
        "roles: {{oc: {{{ROLE}, on_call: {{pagerduty: {{escalation_policies: [PEP1]}}}}}}}}"
    );
    assert_eq!(problems(&pagerduty), Vec::<String>::new());
    let opsgenie =
        format!("roles: {{oc: {{{ROLE}, on_call: {{opsgenie: {{schedules: [Payments]}}}}}}}}");
    assert_eq!(problems(&opsgenie), Vec::<String>::new());
    let empty = format!("roles: {{oc: {{{ROLE}, on_call: {{pagerduty: {{}}}}}}}}");
    assert_eq!(
        problems(&empty),
        ["roles.oc.on_call: names no schedule (or escalation policy) to look up"]
    );
    let level = format!(
        "roles: {{oc: {{{ROLE}, on_call: {{pagerduty: {{schedules: [P1], max_escalation_level: 0}}}}}}}}"
    );
    assert_eq!(
        problems(&level),
        ["roles.oc.on_call.max_escalation_level: escalation levels start at 1"]
    );
    let unknown = format!("roles: {{oc: {{{ROLE}, on_call: {{victorops: {{}}}}}}}}");
    assert!(serde_saphyr::from_str::<Policy>(&unknown).is_err());
}

#[test]
fn break_glass_names_its_requesters_even_when_incident_channels_are_listed_by_id() {
    // A guest in a listed war room could otherwise approve their own admin access.
    let by_id =
        format!("incidents: {{channels: [CWAR]}}\nroles: {{bg: {{{ROLE}, break_glass: {{}}}}}}");
    let found = problems(&by_id);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "roles.bg.break_glass: name who may break glass in break_glass.requesters"
        ),
        "{found:?}"
    );
}

#[test]
fn by_name_alone_break_glass_needs_a_reference_pattern_and_incident_settings_are_checked() {
    let bg = format!("roles: {{bg: {{{ROLE}, break_glass: {{requesters: [UALICE]}}}}}}");
    let found = problems(&format!("incidents: {{name_patterns: [inc-*]}}\n{bg}"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "roles.bg.break_glass: in channels matched only by name, break-glass needs a reference"
        ),
        "{found:?}"
    );
    for enough in [
        "incidents: {name_patterns: [inc-*], created_by: [U0INCIDENTIO]}",
        "incidents: {name_patterns: [inc-*], channels: [CWAR]}",
        "incidents: {name_patterns: [inc-*], reference_pattern: 'INC-[0-9]+', min_channel_age: 2h}",
    ] {
        assert_eq!(
            problems(&format!("{enough}\n{bg}")),
            Vec::<String>::new(),
            "{enough}"
        );
    }
    let bad = format!(
        "incidents: {{channels: [CWAR], created_by: [incident.io], reference_pattern: 'INC-(['}}\n{bg}"
    );
    let found = problems(&bad);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("incidents.created_by: `incident.io` is not a Slack user ID"));
    assert!(found[1].starts_with("incidents.reference_pattern: not a regular expression"));
}
