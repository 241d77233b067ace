//! Break-glass, on Slack and on Teams: a role its requester may approve themself, only in an
//! incident channel and for a short time, announced at once, and reviewed after the incident
//! (asked for daily until done).

use crate::support;

use chrono::Duration;
use support::*;

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
    let ok = h
        .answer_in(ALICE, DEV_CHANNEL, "edit payments 30m INC-9 database down")
        .await;
    assert!(ok.contains("was sent for approval"));
    let entries = h.stopped_audit_log().await;
    assert!(
        entries
            .iter()
            .all(|e| e.event.role.as_deref() == Some("edit"))
    );
}

/// Outside an incident channel alice is refused; in one she approves her own request, it is
/// announced, and after the access ends bob reviews it (reminded daily until then). (In Teams
/// this was `break_glass_in_teams_is_self_approved_in_the_incident_and_reviewed_afterwards`.)
async fn the_requester_breaks_glass_in_an_incident_and_an_approver_reviews_it_afterwards<
    D: Driver,
>(
    mut d: D,
) -> D {
    let (alice, bob) = (d.name(Alice), d.name(Bob));
    let emergency = d.bold("emergency");
    let text = "emergency payments 30m INC-9 database down";
    let refused = d.asks(Alice, text).await;
    let says = format!(
        "{emergency} is break-glass access: request it in {}",
        d.incident_channels_described()
    );
    assert!(refused.contains(&says), "{refused}");

    let confirmation = d.asks_in(Alice, Channel::Incident, text).await;
    assert!(
        confirmation.contains(
            "Break-glass: you may approve it yourself with Approve on the request (up to 1h)"
        ),
        "{confirmation}"
    );
    let grant = d.next_request().await;
    assert!(d.approval_in_incident_channel(&grant));
    d.approval_shows(&grant, "may approve this themself (up to 1h)")
        .await;

    // 3 a.m.: nobody else is awake. alice approves her own request.
    d.clock().advance(Duration::minutes(1));
    d.clicks(Alice, "approve", &grant).await;
    let announced = d.audit_says(&grant, "Break-glass").await;
    let (alarm, ping) = (d.emoji("rotating_light"), d.channel_ping());
    let opening = format!(
        "{alarm} {ping}{}: {alice} approved their own request",
        d.bold("Break-glass")
    );
    assert!(announced.starts_with(&opening), "{announced}");
    let incident = format!("in {} (INC-9): INC-9 database down", d.incident_channel());
    assert!(announced.contains(&incident), "{announced}");
    let granted = d.audit_says(&grant, "Access granted").await;
    let says = format!("approved by {alice} themself (break-glass)");
    assert!(granted.contains(&says), "{granted}");
    assert!(d.kube().grant_binding("payments", &grant).is_some());
    assert_eq!(d.kube().binding_count(), 1);
    let thread = d.reply_says(&grant, "Break-glass").await;
    if !ping.is_empty() {
        assert!(
            !thread.contains(ping.trim()),
            "no channel-wide ping in a thread"
        );
    }

    // The access ends; the review is asked for in the audit channel.
    d.clock().advance(Duration::minutes(30));
    d.kube()
        .wait_until("the access removed", |k| k.binding_count() == 0)
        .await;
    d.audit_says(&grant, "Post-incident review").await;
    assert!(d.buttons_on_review(&grant).contains(&"review".to_string()));
    let waiting = format!("Waiting for a review by an approver of {emergency}");
    d.review_shows(&grant, &waiting).await;

    let refusal = d.refused_on_click(Alice, "review", &grant).await;
    assert!(
        refusal.contains("You cannot review your own break-glass use"),
        "{refusal}"
    );

    // Unreviewed the next morning: the digest lists it, then the reminder comes.
    d.clock()
        .advance(Duration::hours(23) + Duration::minutes(29));
    let digest = d.audit_says(&grant, "Access digest").await;
    assert!(digest.contains("Break-glass uses not reviewed"), "{digest}");
    let listed = format!("{alice} {emergency}");
    assert!(digest.contains(&listed), "{digest}");
    // A day after the access ended (09:31).
    d.clock().advance(Duration::minutes(31));
    let reminder = d.review_reply_says(&grant, "Still not reviewed").await;
    let says = format!("{}: please check what was done", d.approvers());
    assert!(reminder.contains(&says), "{reminder}");

    d.clicks(Bob, "review", &grant).await;
    let reviewed = d.audit_says(&grant, "reviewed the break-glass use").await;
    let says = format!("{bob} reviewed the break-glass use by {alice}");
    assert!(reviewed.contains(&says), "{reviewed}");
    d.review_shows(&grant, &format!("Reviewed by {bob}")).await;
    assert_eq!(
        d.buttons_on_review(&grant),
        Vec::<String>::new(),
        "nothing left to review"
    );

    // No more reminders, and the next digest does not list it.
    d.clock().advance(Duration::hours(24));
    let digest = d.next_audit_where(|t| t.contains("Access digest")).await;
    assert!(!digest.contains("not reviewed"), "{digest}");
    d.settle().await;
    assert_eq!(d.count_posts_saying("Still not reviewed"), 1);

    let entries = d.stopped_audit_log().await;
    let kinds = audit_kinds(&entries);
    assert_eq!(
        kinds,
        [
            "requested",
            "approval",
            "break_glass",
            "granted",
            "expired",
            "revocation_verified",
            "break_glass_reviewed"
        ]
    );
    assert_eq!(
        entries[2].event.actor.as_ref().unwrap().user,
        d.recorded_as(Alice)
    );
    assert_eq!(
        entries[6].event.actor.as_ref().unwrap().user,
        d.recorded_as(Bob)
    );
    assert!(
        entries
            .iter()
            .all(|e| e.event.incident.as_deref() == Some("INC-9"))
    );
    d
}

mod the_requester_breaks_glass_in_an_incident_and_an_approver_reviews_it_afterwards {
    use super::the_requester_breaks_glass_in_an_incident_and_an_approver_reviews_it_afterwards as story;
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slack() {
        let h = Harness::start_for_incidents().await;
        let h = story(h).await;
        let posts = h.slack.calls("chat.postMessage");
        let grant = posts
            .iter()
            .find_map(|c| button_value(&c.params, "approve"));
        let digest = posts.iter().find(|c| c.text().contains("Access digest"));
        let digest = all_text(&digest.unwrap().params);
        assert!(
            digest.contains("*Break-glass uses not reviewed*"),
            "{digest}"
        );
        let listed = format!("`{}` <@U0ALICE> *emergency*", grant.unwrap());
        assert!(digest.contains(&listed), "{digest}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn teams() {
        let h = TeamsHarness::start().await;
        let h = story(h).await;
        // bob's review click was answered with the review card as it now stands
        let reviewed = h.last_click_answer.lock().unwrap().to_string();
        assert!(
            reviewed.contains("Reviewed by bob@example.com"),
            "{reviewed}"
        );
        assert!(
            !reviewed.contains("\"verb\":\"review\""),
            "nothing left to review: {reviewed}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_break_glass_cap_the_requester_needs_an_approver() {
    let h = Harness::start_for_incidents().await;
    let reply = h
        .answer_in(ALICE, WAR_ROOM, "emergency orders 2h INC-9 database down")
        .await;
    assert!(reply.contains("over the 1h you may approve yourself, so it needs an approver"));
    let grant = h.request_posted().await;
    h.click(ALICE, "approve", &grant).await;
    let refusal = h.slack.next_call("chat.postEphemeral").await;
    assert_says(
        &refusal,
        "Break-glass self-approval of *emergency* is for at most 1h",
    );
    h.settle().await;
    assert_eq!(h.kube.binding_count(), 0);
    assert!(h.review_post(&grant).is_none());
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
    assert!(h.kube.grant_binding("payments", &dana).is_none());
}
