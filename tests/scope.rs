//! Grants across several namespaces, and cluster-wide grants.

use crate::support;

use chrono::Duration;
use support::*;

async fn approved(h: &Harness, text: &str) -> String {
    let grant = h.request(ALICE, text).await;
    h.next_audit().await; // requested
    h.click(BOB, "approve", &grant).await;
    grant
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_grant_binds_every_namespace_it_names_and_removes_them_all_at_expiry() {
    let h = Harness::start().await;
    let grant = approved(&h, "edit payments,orders 1h INC-20 migrate both").await;
    let activated = h.next_audit().await;
    assert_says(&activated, "edit in `orders`, `payments` for 1h");
    let name = format!("prod-access-{grant}");
    for ns in ["orders", "payments"] {
        let binding = h
            .kube
            .binding(ns, &name)
            .unwrap_or_else(|| panic!("no binding in {ns}"));
        assert_eq!(
            binding["metadata"]["labels"]["prod-access/grant"],
            grant.as_str()
        );
    }

    h.clock.advance(Duration::hours(1));
    assert_says(&h.next_audit().await, "expired and was removed");
    assert_eq!(h.kube.binding_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_that_fails_rolls_back_the_others() {
    let h = Harness::start().await;
    h.kube.remove_namespace("payments");
    let grant = approved(&h, "edit payments,orders 1h INC-21").await;
    let failed = h.next_audit().await;
    assert_says(&failed, "could not be created");
    assert_says(&failed, "namespaces \"payments\" not found");
    // orders was created before payments failed; the grant's clean-up removes it.
    h.kube.until_unbound().await;
    assert!(h.kube.grant_binding("orders", &grant).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_scoped_role_gets_a_cluster_role_binding() {
    let h = Harness::start().await;
    h.answer_saying(
        ALICE,
        "nodes payments 30m INC-22",
        "cannot be granted in `payments`. Allowed namespaces: cluster.",
    )
    .await;

    let grant = approved(&h, "nodes cluster 30m INC-22 node pressure").await;
    assert_says(
        &h.next_audit().await,
        "nodes across the whole cluster for 30m",
    );
    let name = format!("prod-access-{grant}");
    let binding = h.kube.cluster_binding(&name).expect("a ClusterRoleBinding");
    assert_eq!(binding["kind"], "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], "node-reader");
    assert_eq!(binding["subjects"][0]["name"], "oidc:alice@example.com");
    assert!(binding["metadata"].get("namespace").is_none());
    assert_eq!(h.kube.binding_count(), 1);

    h.clock.advance(Duration::minutes(30));
    assert_says(&h.next_audit().await, "expired and was removed");
    assert!(h.kube.cluster_binding(&name).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_also_watches_cluster_role_bindings() {
    let h = Harness::start().await;
    let grant = approved(&h, "nodes cluster 30m INC-23").await;
    h.next_audit().await; // activated
    let name = format!("prod-access-{grant}");
    h.kube.lock_remove("", &name);
    h.clock.advance(Duration::seconds(61));
    let drift = h.next_audit().await;
    assert_says(&drift, &format!("the binding `ClusterRoleBinding {name}`"));
    assert!(h.kube.cluster_binding(&name).is_some(), "re-created");
}
