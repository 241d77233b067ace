//! Incident channels: a request typed in one is decided and followed there, and the grant and its
//! audit entries carry the incident it is about.

use crate::support;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_an_inc_channel_is_approved_and_followed_there_with_the_topics_incident() {
    let mut h = Harness::start().await;
    let (status, reply) = h
        .slash_in(
            ALICE,
            INCIDENT_CHANNEL,
            "edit payments 1h restart the stuck worker",
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let grant = h.request_posted().await;
    let posted = h.approval_post(&grant);
    assert_eq!(
        posted.param("channel"),
        INCIDENT_CHANNEL,
        "approved where the incident is"
    );
    let lookup = h.slack.next_call("conversations.info").await;
    assert_eq!(lookup.param("channel"), INCIDENT_CHANNEL);

    h.click(BOB, "approve", &grant).await;
    let reply = h.next_thread_reply().await;
    assert_eq!(
        reply.param("channel"),
        INCIDENT_CHANNEL,
        "the thread is in the incident channel"
    );
    assert_says(&h.next_audit().await, "requested edit");
    assert_says(&h.next_audit().await, "Access granted");
    assert!(h.kube.grant_binding("payments", &grant).is_some());

    let entries = h.stopped_audit_log().await;
    let requested = &entries[0].event;
    assert_eq!(requested.channel.as_deref(), Some(INCIDENT_CHANNEL));
    assert_eq!(
        requested.incident.as_deref(),
        Some("https://acme.pagerduty.com/incidents/Q1ABC2DEF"),
        "the reason names none, so the channel topic's link is the incident"
    );
    assert!(
        entries
            .iter()
            .all(|e| e.event.incident == requested.incident)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_war_room_counts_and_the_reasons_ticket_comes_first() {
    let mut h = Harness::start().await;
    // The war room is listed by ID; Slack knows nothing about it (no name, no topic).
    let (status, _) = h
        .slash_in(ALICE, WAR_ROOM, "edit orders 30m INC-77 database failover")
        .await;
    assert_eq!(status, 200);
    let grant = h.request_posted().await;
    assert_eq!(h.approval_post(&grant).param("channel"), WAR_ROOM);
    let entries = h.stopped_audit_log().await;
    assert_eq!(entries[0].event.incident.as_deref(), Some("INC-77"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_channels_and_failed_lookups_go_to_the_approvals_channel() {
    let h = Harness::start().await;
    let (status, _) = h
        .slash_in(ALICE, DEV_CHANNEL, "edit payments 1h routine")
        .await;
    assert_eq!(status, 200);
    let grant = h.request_posted().await;
    assert_eq!(h.approval_post(&grant).param("channel"), APPROVALS);

    // Slack cannot say what the incident channel is called: it is treated as an ordinary one.
    h.slack
        .fail_next("conversations.info", Fault::Error("internal_error"));
    let (status, _) = h
        .slash_in(ALICE, INCIDENT_CHANNEL, "edit orders 1h still stuck")
        .await;
    assert_eq!(status, 200);
    let second = h.request_posted().await;
    assert_eq!(h.approval_post(&second).param("channel"), APPROVALS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_channel_the_bot_is_not_in_still_gets_the_request_to_approvers() {
    let h = Harness::start().await;
    let (status, _) = h
        .slash_in(
            ALICE,
            UNINVITED_INCIDENT,
            "edit payments 1h INC-99 db is slow",
        )
        .await;
    assert_eq!(status, 200);
    let grant = h.request_posted().await;
    assert_eq!(h.approval_post(&grant).param("channel"), APPROVALS);
    let refused = h.slack.calls("chat.postMessage");
    assert_eq!(refused[0].param("channel"), UNINVITED_INCIDENT);
    assert_eq!(refused[0].response["error"], "not_in_channel");
    h.click(BOB, "approve", &grant).await;
    assert_says(&h.next_thread_reply().await, "approved");
}
