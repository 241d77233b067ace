//! Several clusters: a request says which when its role fits more than one; everything that
//! follows happens in that cluster only.

use crate::support;

use chrono::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_names_the_cluster_and_the_binding_lives_only_there() {
    let h = Harness::start_multi_cluster().await;
    let us = h.second_kube.clone().unwrap();

    h.answer_saying(
        ALICE,
        "edit payments 1h INC-40",
        "applies to several clusters; say which. Clusters: eu, us",
    )
    .await;

    let grant = h.request(ALICE, "edit payments@us 1h INC-40").await;
    assert_says(&h.next_audit().await, "edit in `payments` on `us` for 1h");
    h.click(BOB, "approve", &grant).await;
    assert_says(&h.next_audit().await, "Access granted");
    let name = format!("prod-access-{grant}");
    assert!(us.binding("payments", &name).is_some(), "bound in us");
    assert!(h.kube.binding("payments", &name).is_none(), "not in eu");

    h.clock.advance(Duration::hours(1));
    assert_says(&h.next_audit().await, "expired and was removed");
    assert!(us.binding("payments", &name).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_limited_to_one_cluster_needs_no_cluster_name() {
    let h = Harness::start_multi_cluster().await;
    let grant = h.requested_grant("view payments 1h INC-41").await;
    h.click(BOB, "approve", &grant).await;
    assert_says(&h.next_audit().await, "on `eu`");
    assert!(h.kube.grant_binding("payments", &grant).is_some());
    h.answer_saying(
        ALICE,
        "view payments@us 1h INC-41",
        "does not apply to cluster `us`",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cluster_is_reconciled_and_checked_on_its_own() {
    let h = Harness::start_multi_cluster().await;
    let us = h.second_kube.clone().unwrap();
    // A binding of an eu grant copied into us belongs to no grant there.
    let grant = h.requested_grant("edit payments@eu 1h INC-42").await;
    h.click(BOB, "approve", &grant).await;
    h.next_audit().await;
    let name = format!("prod-access-{grant}");
    us.insert_binding(
        "payments",
        &name,
        h.kube.binding("payments", &name).unwrap(),
    );

    us.deny_permission("delete", "rolebindings", "");
    h.clock.advance(Duration::seconds(61));
    for _ in 0..500 {
        let body = reqwest::get(h.url("/readyz"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if body.contains("missing permission in cluster us: delete rolebindings") {
            assert!(!body.contains("cluster eu"), "{body}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    us.allow_everything();
    h.clock.advance(Duration::seconds(60));
    us.wait_until("the copy in us is removed", |k| k.binding_count() == 0)
        .await;
    assert!(
        h.kube.binding("payments", &name).is_some(),
        "the real one in eu stays"
    );
}
