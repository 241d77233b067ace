//! Access never outlives its grant, across stops and restarts.

use crate::support;

use chrono::Duration;
use support::*;

async fn active_grant(h: &Harness) -> String {
    let grant = h
        .request(ALICE, "edit payments 2h fixing stuck queue")
        .await;
    h.slack.next_call("chat.postMessage").await; // audit: requested
    h.click(BOB, "approve", &grant).await;
    let activated = h.slack.next_call("chat.postMessage").await;
    assert_says(&activated, "Access granted");
    h.slack.next_call("chat.update").await;
    assert!(is_bound(h, &grant));
    grant
}

fn is_bound(h: &Harness, grant: &str) -> bool {
    h.kube.grant_binding("payments", grant).is_some()
}

/// Waits for the audit post that announces the revocation, then checks the cluster and message.
async fn expect_revoked(h: &Harness, grant: &str) {
    let expired = h.next_audit().await;
    assert_says(&expired, "expired and was removed");
    assert!(
        !is_bound(h, grant),
        "the audit post comes after the binding is gone"
    );
    assert!(all_text(&h.approval_message(grant)).contains(":lock: Expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_grant_survives_a_restart_and_is_revoked_when_due() {
    let mut h = Harness::start().await;
    let grant = active_grant(&h).await;

    h.restart().await;
    assert!(is_bound(&h, &grant), "a restart does not revoke early");

    h.clock.advance(Duration::hours(2));
    expect_revoked(&h, &grant).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_that_fell_due_while_the_bot_was_down_is_revoked_at_start_up() {
    let mut h = Harness::start().await;
    let grant = active_grant(&h).await;

    h.stop().await;
    h.clock.advance(Duration::hours(3));
    assert!(is_bound(&h, &grant));
    h.restart().await;

    // No further time passes: start-up alone revokes it.
    expect_revoked(&h, &grant).await;
    assert_eq!(h.slack.channel_texts(AUDIT).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_that_failed_before_a_restart_is_finished_after_it() {
    let mut h = Harness::start().await;
    let grant = active_grant(&h).await;

    h.kube.set_failing(true);
    h.clock.advance(Duration::hours(2));
    h.kube
        .wait_until("the revocation was tried", |k| {
            !k.calls_of("DELETE").is_empty()
        })
        .await;
    assert!(is_bound(&h, &grant));

    h.stop().await;
    h.kube.set_failing(false);
    h.restart().await;
    // The retry's time was kept across the restart.
    h.let_retry_fall_due(&grant, 1).await;
    expect_revoked(&h, &grant).await;
}
