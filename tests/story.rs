//! The user's story, end to end over real HTTP: request → approval → RoleBinding → expiry.

mod support;

use chrono::Duration;
use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_gets_edit_on_payments_for_two_hours_and_loses_it_at_expiry() {
    alice_story(Harness::start_in(Mode::Http).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_story_in_socket_mode() {
    let h = Harness::start_in(Mode::Socket).await;
    alice_story(h).await;
}

/// alice requests edit on payments for 2h, bob approves, the binding exists and goes at expiry;
/// then she gets it again and revokes it herself. Every step is told in the audit channel.
async fn alice_story(h: Harness) {
    // alice requests edit on payments for 2h
    let grant = h
        .request(ALICE, "edit payments 2h fixing stuck queue")
        .await;
    let binding_name = format!("prod-access-{grant}");
    let requested = h.next_audit().await;
    assert_says(&requested, "<@U0ALICE> requested edit in `payments` for 2h");
    let waiting = all_text(&h.approval_message(&grant));
    assert!(
        waiting.contains("Waiting for approval: 0 of 1 approvals"),
        "{waiting}"
    );
    assert_eq!(
        h.kube.binding_count(),
        0,
        "nothing is bound before approval"
    );

    // bob approves ten minutes later
    h.clock.advance(Duration::minutes(10));
    assert_eq!(h.click(BOB, "approve", &grant).await, 200);
    let lookup = h.slack.next_call("users.info").await;
    assert_eq!(lookup.param("user"), ALICE);
    let activated = h.next_audit().await;
    assert_says(
        &activated,
        "Access granted to <@U0ALICE> as `oidc:alice@example.com`",
    );
    assert_says(&activated, "approved by <@U0BOB>");

    // the RoleBinding exists with the right subject, role, labels and annotations
    let binding = h
        .kube
        .binding("payments", &binding_name)
        .expect("RoleBinding created");
    assert_eq!(
        binding["roleRef"],
        json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit" })
    );
    assert_eq!(
        binding["subjects"],
        json!([{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "oidc:alice@example.com" }])
    );
    let labels = &binding["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "prod-access");
    assert_eq!(labels["prod-access/grant"], grant.as_str());
    let annotations = &binding["metadata"]["annotations"];
    assert_eq!(
        annotations["prod-access/expires-at"],
        "2026-11-23T11:10:00Z"
    );
    assert_eq!(annotations["prod-access/requester"], ALICE);
    assert_eq!(annotations["prod-access/approvers"], BOB);
    assert_eq!(annotations["prod-access/reason"], "fixing stuck queue");

    // alice is told by DM, with the exact expiry; the thread under the request says it too
    let approved = h.next_dm(ALICE).await;
    assert_says(&approved, "is active until <!date^1795432200^");
    assert_says(&approved, "2026-11-23T11:10:00Z");
    let reply = h.next_thread_reply().await;
    assert_says(&reply, "Access granted");

    // the approval message is updated in place: who approved, until when, no more buttons
    h.slack.next_call("chat.update").await;
    let message = h.approval_message(&grant);
    let text = all_text(&message);
    assert!(
        text.contains("Approved by <@U0BOB>. Active until <!date^1795432200^"),
        "{text}"
    );
    assert_eq!(button_value(&message, "approve"), None, "buttons are gone");

    // one second before expiry nothing happens
    h.clock.advance(Duration::hours(2) - Duration::seconds(1));
    let reminder = h.next_dm(ALICE).await;
    assert!(
        reminder.text().contains("expires"),
        "the reminder came first: {}",
        reminder.text()
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(h.kube.binding("payments", &binding_name).is_some());

    // the clock passes expiry: the binding is gone, the message and the audit channel say so
    h.clock.advance(Duration::seconds(1));
    let expired = h.next_audit().await;
    assert_says(&expired, "expired and was removed");
    assert!(h.kube.binding("payments", &binding_name).is_none());
    assert_eq!(h.kube.calls_of("DELETE").len(), 1);
    let told = h.next_dm(ALICE).await;
    assert_says(&told, "has expired and was removed");
    h.slack.next_call("chat.update").await;
    let text = all_text(&h.approval_message(&grant));
    assert!(text.contains(":lock: Expired"), "{text}");

    let audit = h.slack.channel_texts(AUDIT);
    assert_eq!(audit.len(), 3, "requested, granted, expired: {audit:#?}");

    // the next day she needs it again, gets it, and gives it back early
    h.clock.advance(Duration::hours(20));
    let again = h.request(ALICE, "edit payments 1h INC-9 follow-up").await;
    assert_says(&h.next_audit().await, "requested edit in `payments` for 1h");
    h.click(BOB, "approve", &again).await;
    assert_says(&h.next_audit().await, "Access granted");
    assert!(
        h.kube
            .binding("payments", &format!("prod-access-{again}"))
            .is_some()
    );
    let (status, done) = h.slash(ALICE, &format!("revoke {again}")).await;
    assert_eq!(status, 200);
    assert!(all_text(&done).contains(&again), "{done}");
    let revoked = h.next_audit().await;
    assert_says(&revoked, "<@U0ALICE> revoked the access of <@U0ALICE>");
    assert!(
        h.kube
            .binding("payments", &format!("prod-access-{again}"))
            .is_none()
    );
    assert_eq!(h.slack.channel_texts(AUDIT).len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_leaves_no_binding_and_tells_alice_who_denied() {
    let h = Harness::start().await;
    let grant = h.request(ALICE, "view payments 1h looking at logs").await;
    h.next_audit().await; // requested

    assert_eq!(h.click(CAROL, "deny", &grant).await, 200);
    let denied = h.next_audit().await;
    assert_says(&denied, "<@U0CAROL> denied <@U0ALICE>'s request");
    let told = h.next_dm(ALICE).await;
    assert_says(&told, "<@U0CAROL> denied your request");
    h.slack.next_call("chat.update").await;
    let message = h.approval_message(&grant);
    assert!(all_text(&message).contains("Denied by <@U0CAROL>"));
    assert_eq!(button_value(&message, "approve"), None);
    assert_eq!(h.kube.binding_count(), 0);
    assert!(
        h.kube.calls().is_empty(),
        "a denied request never touches the cluster"
    );
    // Slack is asked only for the emails the audit log records: the requester's and the denier's.
    let looked_up: std::collections::BTreeSet<String> = h
        .slack
        .calls("users.info")
        .iter()
        .map(|c| c.param("user").to_string())
        .collect();
    assert_eq!(looked_up, [ALICE.to_string(), CAROL.to_string()].into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_the_cluster_refuses_fails_visibly_and_leaves_nothing_behind() {
    let h = Harness::start().await;
    h.kube.set_failing(true);
    let grant = h.request(ALICE, "edit orders 30m deploy hotfix").await;
    h.next_audit().await; // requested
    assert_eq!(h.click(BOB, "approve", &grant).await, 200);

    // Retried with backoff until the budget is spent; the access clock has not started.
    for failures in 1..RETRY_POLICY.bind_attempts {
        h.let_retry_fall_due(&grant, failures).await;
    }
    let failed = h.next_audit().await;
    assert_says(&failed, "could not be created");
    assert_says(&failed, "after 6 attempts over");
    assert_eq!(h.kube.calls_of("POST").len(), 6);
    let told = h.next_dm(ALICE).await;
    assert_says(&told, "could not be created");
    h.slack.next_call("chat.update").await;
    assert!(all_text(&h.approval_message(&grant)).contains("access could not be created"));

    // The clean-up delete is refused too while the cluster is down; it is retried until it works.
    h.kube
        .wait_until("the clean-up delete was tried", |k| {
            !k.calls_of("DELETE").is_empty()
        })
        .await;
    h.kube.set_failing(false);
    h.let_retry_fall_due(&grant, 1).await;
    h.kube
        .wait_until("the clean-up delete succeeded", |k| {
            k.calls_of("DELETE").len() >= 2
        })
        .await;
    assert_eq!(h.kube.binding_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_worked_but_answered_with_an_error_are_recognised_on_retry() {
    let h = Harness::start().await;
    h.kube.set_fault(KubeFault::FailAfter);
    let grant = h.request(ALICE, "edit orders 30m deploy hotfix").await;
    h.next_audit().await;
    h.click(BOB, "approve", &grant).await;

    // The first create worked but answered 500; the retry meets this grant's own binding.
    h.let_retry_fall_due(&grant, 1).await;
    let activated = h.next_audit().await;
    assert_says(&activated, "Access granted");
    assert_eq!(h.kube.calls_of("POST").len(), 2);
    assert_eq!(h.kube.binding_count(), 1);

    // At expiry the delete works but answers 500; the retry finds it gone and counts it done.
    h.clock.advance(Duration::minutes(30));
    h.kube
        .wait_until("the delete was tried", |k| !k.calls_of("DELETE").is_empty())
        .await;
    assert_eq!(h.kube.binding_count(), 0);
    h.kube.set_fault(KubeFault::None);
    h.let_retry_fall_due(&grant, 1).await;
    let expired = h.next_audit().await;
    assert_says(&expired, "expired and was removed");
    assert_eq!(h.kube.calls_of("DELETE").len(), 2);
}
