//! The reconciler: whatever happens to the cluster behind the bot's back, no binding outlives its
//! grant and no active grant goes without its binding for more than a minute.

use crate::support;

use chrono::Duration;
use support::*;

/// A binding as prod-access labels and annotates it, put in place behind the bot's back.
/// A binding as the bot makes them for `grant`, expiring at `expires_at`, put in the cluster
/// behind the bot's back; the reconciler's report on it, a minute later.
async fn planted_and_reported(h: &Harness, grant: &str, expires_at: &str) -> fake_slack::Call {
    let name = format!("prod-access-{grant}");
    let binding = managed_binding(&name, grant, expires_at);
    h.kube.insert_binding("payments", &name, binding);
    next_minute(h).await;
    h.next_audit().await
}

async fn next_minute(h: &Harness) {
    h.clock.advance(Duration::seconds(61));
    tokio::task::yield_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_past_its_expiry_is_deleted_even_when_no_grant_knows_it() {
    let h = Harness::start().await;
    let drift = planted_and_reported(&h, "lostgrant", "2026-11-23T08:00:00Z").await;
    assert_says(
        &drift,
        "`payments/prod-access-lostgrant` outlived its expiry and was deleted",
    );
    assert_eq!(h.kube.binding_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_of_no_known_grant_is_deleted_as_if_the_store_were_lost() {
    let h = Harness::start().await;
    let drift = planted_and_reported(&h, "forged", "2026-11-24T09:00:00Z").await;
    assert_says(&drift, "belongs to no known grant (`forged`); deleted");
    assert_eq!(h.kube.binding_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_grants_binding_deleted_by_hand_comes_back_within_a_minute() {
    let h = Harness::start().await;
    let grant = h.approved_grant("edit payments 2h INC-1").await;
    let name = format!("prod-access-{grant}");
    let original = h.kube.binding("payments", &name).unwrap();

    h.kube.lock_remove("payments", &name);
    next_minute(&h).await;
    let drift = h.next_audit().await;
    assert_says(
        &drift,
        &format!("the binding `payments/{name}` of active grant `{grant}`"),
    );
    assert_says(&drift, "was missing and has been created again");
    let again = h.kube.binding("payments", &name).expect("re-created");
    assert_eq!(again["subjects"], original["subjects"]);
    assert_eq!(
        again["metadata"]["annotations"]["prod-access/expires-at"],
        original["metadata"]["annotations"]["prod-access/expires-at"],
        "the same expiry, not a new two hours"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_recreated_after_its_grant_ended_is_removed_again() {
    let h = Harness::start().await;
    let grant = h.requested_grant("edit payments 2h INC-2").await;
    h.click(BOB, "approve", &grant).await;
    h.next_audit().await;
    let name = format!("prod-access-{grant}");
    let copy = h.kube.binding("payments", &name).unwrap();
    let (_, revoked) = h.slash(ALICE, &format!("revoke {grant}")).await;
    assert!(
        revoked["text"].as_str().unwrap().contains("Revoking"),
        "{revoked}"
    );
    h.kube.until_unbound().await;

    // Someone restores the binding from a backup.
    h.kube.insert_binding("payments", &name, copy);
    next_minute(&h).await;
    h.audit_call_saying("is revoked; deleted").await;
    assert_eq!(h.kube.binding_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_cluster_produces_no_drift_reports() {
    let h = Harness::start().await;
    let grant = h.requested_grant("edit payments 2h INC-3").await;
    h.click(BOB, "approve", &grant).await;
    h.next_audit().await;
    let passes = |k: &FakeKube| {
        k.calls()
            .iter()
            .filter(|c| c.path == "/apis/rbac.authorization.k8s.io/v1/rolebindings")
            .count()
    };
    for pass in 1..=3 {
        next_minute(&h).await;
        h.kube
            .wait_until("the next reconcile pass", |k| passes(k) >= pass)
            .await;
    }
    let drift: Vec<_> = h
        .slack
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.text().contains("Drift"))
        .collect();
    assert!(drift.is_empty(), "{drift:?}");
    assert_eq!(h.kube.binding_count(), 1);
}
