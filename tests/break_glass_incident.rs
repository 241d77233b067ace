//! Break-glass needs an incident: a channel merely named like an incident's, made a moment ago or
//! naming no incident, is not enough to approve your own access; a channel an incident tool made
//! is; and no channel name takes a request away from its role's own approvals channel.

use crate::support;

use support::*;

/// A channel alice made a minute before the tests' clock starts, named like an incident's.
const FRESH_INC: &str = "C0INCFRESH";
/// A channel named like an incident's for days, whose topic names no incident.
const QUIET_INC: &str = "C0INCQUIET";
/// A channel the incident tool's bot created two minutes ago, named its own way.
const TOOL_MADE: &str = "C0MAJOR7";

fn add_channels(h: &Harness) {
    let t0 = t0().timestamp();
    h.slack
        .add_channel_created(FRESH_INC, "inc-1-totally-real", "", ALICE, t0 - 60);
    h.slack
        .add_channel(QUIET_INC, "inc-old-chatter", "general chatter");
    h.slack.add_channel_created(
        TOOL_MADE,
        "major-2026-11-23-db-down",
        "",
        INCIDENT_BOT,
        t0 - 120,
    );
    h.slack.bot_member_of(&[
        APPROVALS,
        AUDIT,
        ONCALL_CHANNEL,
        INCIDENT_CHANNEL,
        WAR_ROOM,
        FRESH_INC,
        QUIET_INC,
        TOOL_MADE,
    ]);
}

/// The ephemeral answer to a request alice types in `channel`.
async fn alice_asks_in(h: &Harness, channel: &str, text: &str) -> String {
    let (status, reply) = h.slash_in(ALICE, channel, text).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["response_type"], "ephemeral", "{reply}");
    reply["text"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_named_like_an_incident_a_minute_ago_cannot_break_glass() {
    let mut h = Harness::start_for_incidents().await;
    add_channels(&h);
    let text = alice_asks_in(&h, FRESH_INC, "emergency payments 30m INC-9 database down").await;
    assert!(
        text.contains(
            "*emergency* is break-glass access, and this channel was created less than 30m ago"
        ),
        "{text}"
    );
    assert!(text.contains("Nothing was requested."), "{text}");
    h.settle().await;
    assert!(
        h.slack.calls("chat.postMessage").is_empty(),
        "nothing posted"
    );
    h.stop().await;
    assert!(
        audit_entries(h.store_path()).await.is_empty(),
        "nothing stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_in_a_channel_matched_only_by_name_must_name_the_incident() {
    let mut h = Harness::start_for_incidents().await;
    add_channels(&h);
    // CHG-42 looks like a ticket, but not like one of the policy's incidents.
    let text = alice_asks_in(&h, QUIET_INC, "emergency payments 30m CHG-42 database down").await;
    assert!(
        text.contains("*emergency* is break-glass access: name the incident in the reason (matching `INC-[0-9]+`)"),
        "{text}"
    );
    h.settle().await;
    assert!(
        h.slack.calls("chat.postMessage").is_empty(),
        "nothing posted"
    );

    // Named, it goes ahead and alice may approve it herself.
    alice_asks_in(&h, QUIET_INC, "emergency payments 30m INC-9 database down").await;
    let grant = h.request_posted().await;
    h.click(ALICE, "approve", &grant).await;
    h.audit_saying(&grant, "Access granted").await;
    let entries = h.stopped_audit_log().await;
    assert!(
        entries
            .iter()
            .all(|e| e.event.incident.as_deref() == Some("INC-9"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_the_incident_tool_made_is_an_incident_even_new_and_unnamed() {
    let h = Harness::start_for_incidents().await;
    add_channels(&h);
    let text = alice_asks_in(&h, TOOL_MADE, "emergency payments 30m database down").await;
    assert!(text.contains("you may approve it yourself"), "{text}");
    let grant = h.request_posted().await;
    assert_eq!(h.approval_post(&grant).param("channel"), TOOL_MADE);
    h.click(ALICE, "approve", &grant).await;
    h.audit_saying(&grant, "Break-glass").await;
    h.audit_saying(&grant, "Access granted").await;
    assert!(h.kube.grant_binding("payments", &grant).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roles_own_approvals_channel_is_not_escaped_by_naming_a_channel_inc() {
    let mut h = Harness::start_for_incidents().await;
    add_channels(&h);
    // debug is decided in its own approvals channel, even when asked for in an inc-* channel.
    alice_asks_in(&h, INCIDENT_CHANNEL, "debug orders 30m queue stuck").await;
    let renamed = h.request_posted().await;
    assert_eq!(h.approval_post(&renamed).param("channel"), ONCALL_CHANNEL);
    // A channel the operator listed by ID is their choice, and the request is decided there.
    alice_asks_in(&h, WAR_ROOM, "debug orders 30m queue stuck").await;
    let listed = h.request_posted().await;
    assert_eq!(h.approval_post(&listed).param("channel"), WAR_ROOM);
    h.stop().await;
    // The grant still knows which incident it was for.
    let entries = audit_entries(h.store_path()).await;
    assert_eq!(entries[0].event.channel.as_deref(), Some(INCIDENT_CHANNEL));
    assert_eq!(
        entries[0].event.incident.as_deref(),
        Some("https://acme.pagerduty.com/incidents/Q1ABC2DEF")
    );
}
