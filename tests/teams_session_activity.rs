//! Session activity in Teams: what alice did with her grant is said in a reply to the approval
//! card, and summarised there when the grant ends.

mod support;

use chrono::Duration;
use prod_access::clock::Clock;
use support::*;

/// Waits for a post in the approvals conversation (the card, or a reply to it) saying `phrase`.
async fn reply_saying(h: &TeamsHarness, phrase: &str) -> String {
    activity_text(&h.showing(T_APPROVALS, phrase).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alices_session_is_told_under_her_approval_card_and_summarised_when_it_ends() {
    let h = TeamsHarness::start().await;
    h.say(
        T_ALICE,
        ALICE_CHAT,
        "<at>prod-access</at> edit payments 1h fixing stuck queue",
    )
    .await;
    let card = reply_saying(&h, "fixing stuck queue").await;
    assert!(card.contains("alice@example.com"), "{card}");
    let grant = h
        .teams
        .conversation(T_APPROVALS)
        .iter()
        .find_map(|(_, a)| card_actions(a).first().map(|(_, g)| g.clone()))
        .expect("an approval card");
    let (status, _) = h.click(T_BOB, "approve", &grant).await;
    assert_eq!(status, 200);
    reply_saying(&h, "Access granted").await;

    let at = h.clock.now() + Duration::minutes(2);
    h.clock.advance(Duration::minutes(2));
    let mut calls = vec![
        kube_call("oidc:alice@example.com", "create", "pods/exec", at)
            .in_ns("payments")
            .named("api-7f9c"),
        kube_call("system:kube-scheduler", "create", "pods/binding", at)
            .in_ns("payments")
            .named("api-7f9d"),
    ];
    calls.extend(
        (0..3).map(|_| kube_call("oidc:alice@example.com", "get", "pods", at).in_ns("payments")),
    );
    let items = calls.iter().flat_map(KubeCall::events).collect();
    let response = reqwest::Client::new()
        .post(h.url("/k8s/audit"))
        .bearer_auth(K8S_AUDIT_TOKEN)
        .json(&event_list(items))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply = reply_saying(&h, "Kubernetes activity of").await;
    assert!(
        reply.contains(&format!(
            "with grant `{grant}`: 4 requests: 1 **exec into payments/api-7f9c**, 3 get pods."
        )),
        "{reply}"
    );

    h.clock.advance(Duration::hours(1));
    reply_saying(&h, "expired").await;
    h.clock.advance(Duration::minutes(3));
    let summary = reply_saying(&h, "Session summary").await;
    assert!(
        summary.contains("4 Kubernetes requests while the access lasted"),
        "{summary}"
    );
}
