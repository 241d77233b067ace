//! Break-glass: a role its requester may approve themself, only in an incident channel and for
//! a short time, announced at once, and reviewed after the incident (asked for daily until done).

mod support;

use chrono::Duration;
use support::*;

fn review_request(h: &Harness, grant: &str) -> Option<fake_slack::Call> {
    h.slack.calls("chat.postMessage").into_iter().find(|c| {
        c.param("channel") == AUDIT && button_value(&c.params, "review").as_deref() == Some(grant)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_outside_an_incident_channel_is_refused_and_nothing_is_stored() {
    let mut h = Harness::start_for_incidents().await;
    let (status, reply) = h
        .slash_in(
            ALICE,
            DEV_CHANNEL,
            "emergency payments 30m INC-9 database down",
        )
        .await;
    assert_eq!(status, 200);
    let text = reply["text"].as_str().unwrap();
    assert_eq!(reply["response_type"], "ephemeral", "{reply}");
    assert!(
        text.contains("*emergency* is break-glass access: request it in an incident channel (<#C0WARROOM>, or one named inc-*)"),
        "{text}"
    );
    h.settle().await;
    assert!(
        h.slack.calls("chat.postMessage").is_empty(),
        "no approval message, no audit post"
    );
    // Asked for in an ordinary channel the request is not even counted against the rate limit.
    let (_, ok) = h
        .slash_in(ALICE, DEV_CHANNEL, "edit payments 30m INC-9 database down")
        .await;
    assert!(
        ok["text"]
            .as_str()
            .unwrap()
            .contains("was sent for approval")
    );
    h.stop().await;
    let entries = audit_entries(h.store_path()).await;
    assert!(
        entries
            .iter()
            .all(|e| e.event.role.as_deref() == Some("edit"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_breaks_glass_in_an_incident_and_an_approver_reviews_it_afterwards() {
    let mut h = Harness::start_for_incidents().await;
    let (_, reply) = h
        .slash_in(
            ALICE,
            INCIDENT_CHANNEL,
            "emergency payments 30m INC-9 database down",
        )
        .await;
    let confirmation = reply["text"].as_str().unwrap();
    assert!(
        confirmation.contains(
            "Break-glass: you may approve it yourself with Approve on the request (up to 1h)"
        ),
        "{confirmation}"
    );
    let grant = h.request_posted().await;
    let posted = h.approval_post(&grant);
    assert_eq!(posted.param("channel"), INCIDENT_CHANNEL);
    assert!(all_text(&posted.params).contains("may approve this themself (up to 1h)"));

    // 3 a.m.: nobody else is awake. alice approves her own request.
    h.clock.advance(Duration::minutes(1));
    h.click(ALICE, "approve", &grant).await;
    let announced = h.audit_saying(&grant, "Break-glass").await;
    assert!(
        announced.text().starts_with(
            ":rotating_light: <!here> *Break-glass*: <@U0ALICE> approved their own request"
        ),
        "{}",
        announced.text()
    );
    assert_says(&announced, "in <#C0INC42> (INC-9): INC-9 database down");
    let granted = h.audit_saying(&grant, "Access granted").await;
    assert_says(&granted, "approved by <@U0ALICE> themself (break-glass)");
    assert!(
        h.kube
            .binding("payments", &format!("prod-access-{grant}"))
            .is_some()
    );
    let thread = h
        .slack
        .calls("chat.postMessage")
        .into_iter()
        .find(|c| c.thread_ts().is_some() && c.text().contains("Break-glass"))
        .expect("the incident channel's thread is told too");
    assert_eq!(thread.param("channel"), INCIDENT_CHANNEL);
    assert!(
        !thread.text().contains("<!here>"),
        "no channel-wide ping in a thread"
    );

    // The access ends; the review is asked for in the audit channel.
    h.clock.advance(Duration::minutes(30));
    h.kube
        .wait_until("the access removed", |k| k.binding_count() == 0)
        .await;
    h.audit_saying(&grant, "Post-incident review").await;
    let review = review_request(&h, &grant).expect("the review request has Reviewed");
    assert!(
        all_text(&review.params).contains("Waiting for a review by an approver of *emergency*")
    );

    h.click(ALICE, "review", &grant).await;
    let refusal = h.slack.next_call("chat.postEphemeral").await;
    assert_eq!(refusal.param("user"), ALICE);
    assert_says(&refusal, "You cannot review your own break-glass use");

    // Unreviewed the next morning: the digest lists it, then the reminder comes.
    h.clock.advance(Duration::hours(23) + Duration::minutes(29));
    let digest = h
        .slack
        .next_matching("digest", |c| {
            c.param("channel") == AUDIT && c.text().contains("Access digest")
        })
        .await;
    let digest_text = all_text(&digest.params);
    assert!(
        digest_text.contains("*Break-glass uses not reviewed*"),
        "{digest_text}"
    );
    assert!(
        digest_text.contains(&format!("`{grant}` <@U0ALICE> *emergency*")),
        "{digest_text}"
    );
    // A day after the access ended (09:31).
    h.clock.advance(Duration::minutes(31));
    let reminder = h
        .slack
        .next_matching("review reminder", |c| {
            c.text().contains("Still not reviewed")
        })
        .await;
    assert_eq!(
        reminder.thread_ts(),
        review.response["ts"].as_str(),
        "in the review request's thread"
    );
    assert_says(
        &reminder,
        &format!("<@{BOB}>, <@{CAROL}>: please check what was done"),
    );

    h.click(BOB, "review", &grant).await;
    let reviewed = h.audit_saying(&grant, "reviewed the break-glass use").await;
    assert_says(
        &reviewed,
        "<@U0BOB> reviewed the break-glass use by <@U0ALICE>",
    );
    let ts = review.response["ts"].as_str().unwrap();
    let updated = h.slack.message(AUDIT, ts).unwrap();
    assert_eq!(
        button_value(&updated, "review"),
        None,
        "nothing left to review"
    );
    assert!(all_text(&updated).contains("Reviewed by <@U0BOB>"));

    // No more reminders, and the next digest does not list it.
    h.clock.advance(Duration::hours(24));
    let digest = h
        .slack
        .next_matching("next digest", |c| {
            c.param("channel") == AUDIT && c.text().contains("Access digest")
        })
        .await;
    assert!(!all_text(&digest.params).contains("not reviewed"));
    h.settle().await;
    let reminders = h
        .slack
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.text().contains("Still not reviewed"))
        .count();
    assert_eq!(reminders, 1);

    h.stop().await;
    let entries = audit_entries(h.store_path()).await;
    let kinds: Vec<&str> = entries.iter().map(|e| e.event.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "requested",
            "approval",
            "break_glass",
            "granted",
            "expired",
            "break_glass_reviewed"
        ]
    );
    assert_eq!(entries[2].event.actor.as_ref().unwrap().user, ALICE);
    assert_eq!(entries[5].event.actor.as_ref().unwrap().user, BOB);
    assert!(
        entries
            .iter()
            .all(|e| e.event.incident.as_deref() == Some("INC-9"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_break_glass_cap_the_requester_needs_an_approver() {
    let h = Harness::start_for_incidents().await;
    let (_, reply) = h
        .slash_in(ALICE, WAR_ROOM, "emergency orders 2h INC-9 database down")
        .await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("over the 1h you may approve yourself, so it needs an approver")
    );
    let grant = h.request_posted().await;
    h.click(ALICE, "approve", &grant).await;
    let refusal = h.slack.next_call("chat.postEphemeral").await;
    assert_says(
        &refusal,
        "Break-glass self-approval of *emergency* is for at most 1h",
    );
    h.settle().await;
    assert_eq!(h.kube.binding_count(), 0);
    assert!(review_request(&h, &grant).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_named_requesters_may_break_glass_a_group_looked_up_at_the_click() {
    let h = Harness::start_for_incidents().await;
    h.slash_in(
        DANA,
        INCIDENT_CHANNEL,
        "emergency payments 30m INC-9 db down",
    )
    .await;
    let dana = h.request_posted().await;
    h.click(DANA, "approve", &dana).await;
    let refusal = h.slack.next_call("chat.postEphemeral").await;
    assert_says(
        &refusal,
        "You are not one of the people who may break glass for *emergency*",
    );
    // erin is in the on-call user group the rule names.
    h.slash_in(
        ERIN,
        INCIDENT_CHANNEL,
        "emergency payments 30m INC-9 db down",
    )
    .await;
    let erin = h.request_posted().await;
    h.click(ERIN, "approve", &erin).await;
    h.audit_saying(&erin, "Break-glass").await;
    h.audit_saying(&erin, "Access granted").await;
    assert!(
        h.kube
            .binding("payments", &format!("prod-access-{dana}"))
            .is_none()
    );
}
