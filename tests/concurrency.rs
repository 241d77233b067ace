//! Clicks that arrive together: exactly the needed approvals count, and exactly one binding is
//! made, however many approvers click and however often.

use crate::support;

use support::*;

/// Every user clicks Approve on `grant` at the same moment; the HTTP statuses, in order.
async fn click_together(h: &Harness, users: &[&str], grant: &str) -> Vec<u16> {
    let now = chrono::Utc::now().timestamp();
    let clicks = users.iter().map(|user| async move {
        let body = interaction_body(user, "approve", grant);
        let response = h
            .post_signed("/slack/interactions", body, SIGNING_SECRET, now)
            .await;
        response.status().as_u16()
    });
    futures::future::join_all(clicks).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_clicks_makes_one_binding() {
    let h = Harness::start().await;
    let grant = h.requested_grant("edit payments 1h INC-60").await;

    // Bob and Carol each click Approve five times at once; Mallory and Alice join in.
    let users = [
        BOB, CAROL, BOB, CAROL, BOB, CAROL, MALLORY, ALICE, BOB, CAROL, BOB, CAROL,
    ];
    for status in click_together(&h, &users, &grant).await {
        assert_eq!(status, 200);
    }
    assert_says(&h.next_audit().await, "Access granted");
    // Every click but the one that approved is refused with an explanation.
    for _ in 0..11 {
        h.slack.next_call("chat.postEphemeral").await;
    }
    assert_eq!(h.kube.calls_of("POST").len(), 1, "one create");
    assert_eq!(h.kube.binding_count(), 1);
    let binding = h.kube.grant_binding("payments", &grant).unwrap();
    let approvers = binding["metadata"]["annotations"]["prod-access/approvers"]
        .as_str()
        .unwrap();
    assert!(
        approvers == BOB || approvers == CAROL,
        "exactly one approver: {approvers}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_two_counts_two_distinct_approvers_even_when_clicks_race() {
    let h = Harness::start().await;
    let grant = h.requested_grant("admin payments 30m INC-61").await;
    click_together(&h, &[BOB, BOB, BOB, CAROL, CAROL, CAROL], &grant).await;
    h.audit_call_saying("Access granted").await;
    let binding = h.kube.grant_binding("payments", &grant).unwrap();
    let mut approvers: Vec<&str> = binding["metadata"]["annotations"]["prod-access/approvers"]
        .as_str()
        .unwrap()
        .split(',')
        .collect();
    approvers.sort();
    assert_eq!(approvers, vec![BOB, CAROL]);
    assert_eq!(h.kube.calls_of("POST").len(), 1);
}
