//! Slack hangs (every call read and held open with no answer) while access is due to end: the
//! binding is removed at its deadline all the same, while Slack still holds the bot's calls, and
//! the chat work follows once Slack answers again. The clock is not moved past the deadline, so
//! "gone" means gone at the deadline on the bot's clock.

use crate::support;

use chrono::Duration;
use support::*;

/// Alice's grant of edit in payments for `duration`, approved and bound, with Slack quiet.
async fn bound_grant(h: &Harness, duration: &str) -> String {
    let grant = h
        .request(ALICE, &format!("edit payments {duration} stuck queue"))
        .await;
    h.click(BOB, "approve", &grant).await;
    h.kube.until_bound().await;
    h.settle().await;
    grant
}

/// The binding is gone while Slack still holds the bot's `method` call; once Slack answers
/// again, the audit channel says `phrase` of `grant`.
async fn gone_while_slack_holds_then_told(h: &Harness, method: &str, grant: &str, phrase: &str) {
    h.kube.until_unbound().await;
    assert!(
        h.slack.held(method) > 0,
        "the binding was only removed after the bot gave up waiting for Slack's {method}"
    );
    h.slack.stop_hanging();
    let told = h
        .slack
        .next_matching(phrase, |c| {
            c.param("channel") == AUDIT && c.text().contains(grant) && c.text().contains(phrase)
        })
        .await;
    assert_says(&told, phrase);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_expires_on_time_while_slack_hangs_on_its_extension_request() {
    let h = Harness::start().await;
    let grant = bound_grant(&h, "1m").await;

    h.slack.hang();
    h.clock.advance(Duration::seconds(57));
    h.asks(Alice, &format!("extend {grant} 5m")).await;
    h.slack.wait_until_held("chat.postMessage").await;

    h.clock.advance(Duration::seconds(3));
    gone_while_slack_holds_then_told(&h, "chat.postMessage", &grant, "expired and was removed")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_expires_on_time_while_slack_hangs_on_its_reminder() {
    let h = Harness::start().await;
    let grant = bound_grant(&h, "15m").await;

    h.slack.hang();
    // The reminder is due 10 minutes before expiry; its DM never gets an answer.
    h.clock.advance(Duration::minutes(5));
    h.slack.wait_until_held("conversations.open").await;

    h.clock.advance(Duration::minutes(10));
    gone_while_slack_holds_then_told(&h, "conversations.open", &grant, "expired and was removed")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_takes_effect_while_slack_hangs_on_the_grants_messages() {
    let h = Harness::start().await;
    let grant = bound_grant(&h, "1h").await;

    h.slack.hang();
    h.asks(Alice, &format!("extend {grant} 30m")).await;
    h.slack.wait_until_held("chat.postMessage").await;

    h.asks(Bob, &format!("revoke {grant}")).await;
    gone_while_slack_holds_then_told(&h, "chat.postMessage", &grant, "revoked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requester_revokes_their_access_at_once_while_slack_hangs_on_who_they_are() {
    let h = Harness::start().await;
    let grant = bound_grant(&h, "2h").await;
    // The email the bot remembers of alice for the audit log is an hour old: Slack is asked again.
    h.clock.advance(Duration::minutes(61));
    h.settle().await;

    h.slack.hang();
    h.asks(Alice, &format!("revoke {grant}")).await;
    gone_while_slack_holds_then_told(&h, "users.info", &grant, "revoked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_bind_is_cleaned_up_at_once_while_slack_hangs_on_its_announcement() {
    let h = Harness::start().await;
    // orders is bound first; payments, a moment later, does not exist: the grant fails and
    // the orders binding must go. Dana's identity is mapped, so binding asks Slack nothing.
    h.kube.remove_namespace("payments");
    h.kube.on_path(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/payments",
        KubeFault::None,
        std::time::Duration::from_millis(300),
    );
    let grant = h.request(DANA, "edit payments,orders 1h INC-21").await;
    h.click(BOB, "approve", &grant).await;
    h.kube.until_bound().await;

    h.slack.hang();
    h.slack.wait_until_held("chat.update").await;
    gone_while_slack_holds_then_told(&h, "chat.update", &grant, "could not be created").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_deletes_every_expired_binding_while_slack_hangs_on_its_reports() {
    let h = Harness::start().await;
    for lost in ["lost1", "lost2", "lost3"] {
        h.kube.insert_binding(
            "payments",
            lost,
            managed_binding(lost, lost, "2026-11-23T08:00:00Z"),
        );
    }

    h.slack.hang();
    h.clock.advance(Duration::seconds(61));
    h.slack.wait_until_held("chat.postMessage").await;
    assert_eq!(
        h.kube.binding_count(),
        0,
        "a deletion waited for the drift report before it"
    );

    h.slack.stop_hanging();
    for lost in ["lost1", "lost2", "lost3"] {
        h.audit_call_saying(&format!("payments/{lost}")).await;
    }
}
