//! Who may post to the session-activity webhook: a bearer token of the cluster it reports for,
//! checked before the body is read; malformed, oversized and foreign batches change nothing.

use crate::support;

use chrono::Duration;
use prod_access::clock::Clock;
use serde_json::json;
use support::session_activity::*;
use support::*;

#[tokio::test]
async fn bad_tokens_malformed_batches_and_oversized_bodies_are_refused_and_change_nothing() {
    let h = Harness::start().await;
    let grant = h
        .approved_grant("edit payments 1h fixing stuck queue")
        .await;
    let at = h.clock.now() + Duration::minutes(1);
    let good = serde_json::to_vec(&event_list(by_alice("get", "pods", at).events())).unwrap();

    assert_eq!(h.post_audit_raw("", None, good.clone()).await.0, 401);
    assert_eq!(
        h.post_audit_raw("", Some("not-the-token"), good.clone())
            .await
            .0,
        401
    );
    let basic = reqwest::Client::new()
        .post(h.url("/k8s/audit"))
        .basic_auth("apiserver", Some(K8S_AUDIT_TOKEN))
        .body(good.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status().as_u16(), 401);

    let (status, why) = h
        .post_audit_raw(
            "",
            Some(K8S_AUDIT_TOKEN),
            "{\"kind\": \"EventList\", \"items\": [",
        )
        .await;
    assert_eq!(status, 400);
    assert!(why.contains("not an audit.k8s.io/v1 EventList"), "{why}");
    let pod_list = json!({ "kind": "PodList", "apiVersion": "v1", "items": [] }).to_string();
    let (status, why) = h.post_audit_raw("", Some(K8S_AUDIT_TOKEN), pod_list).await;
    assert_eq!(status, 400);
    assert!(
        why.contains("expected kind EventList of apiVersion audit.k8s.io/v1, got PodList of v1"),
        "{why}"
    );
    let mut missing_user = kube_call(ALICE_SUBJECT, "get", "pods", at).event("ResponseComplete");
    missing_user.as_object_mut().unwrap().remove("user");
    let (status, _) = h
        .post_audit_raw(
            "",
            Some(K8S_AUDIT_TOKEN),
            event_list(vec![missing_user]).to_string(),
        )
        .await;
    assert_eq!(status, 400);
    // A token speaks for its own cluster only: an unknown one is not its.
    let (status, why) = h
        .post_audit_raw("/us", Some(K8S_AUDIT_TOKEN), good.clone())
        .await;
    assert_eq!(status, 401);
    assert!(why.contains("not the named cluster's"), "{why}");

    let huge = vec![b' '; prod_access::http::apiserver_audit::MAX_AUDIT_BODY_BYTES + 1];
    assert_eq!(
        h.post_audit_raw("", Some(K8S_AUDIT_TOKEN), huge).await.0,
        413
    );

    h.settle().await;
    assert!(activity_replies(&h, &grant).is_empty());
    let status = h.status_text(&grant).await;
    assert!(!status.contains("Kubernetes activity"), "{status}");

    // The same batch with the token is taken.
    assert_eq!(
        h.post_audit_raw("/default", Some(K8S_AUDIT_TOKEN), good)
            .await
            .0,
        200
    );
    let reply = next_activity_reply(&h, &grant).await;
    assert!(reply.ends_with(": 1 request: 1 get pods."), "{reply}");
}

/// alice's request for the `us` cluster.
const IN_US: &str = "edit payments@us 1h fixing stuck queue";

#[tokio::test]
async fn with_several_clusters_the_webhook_names_its_cluster() {
    let h = Harness::start_multi_cluster().await;
    let grant = h.approved_grant(IN_US).await;
    let at = h.clock.now() + Duration::minutes(1);
    let calls = [by_alice("get", "pods", at)];
    let (status, why) = h.post_audit("", K8S_AUDIT_TOKEN, &calls).await;
    assert_eq!(status, 400);
    assert!(
        why.contains("add the cluster to the webhook URL, as in …/k8s/audit/eu (one of: eu, us)"),
        "{why}"
    );
    // The eu apiserver's events are not the us grant's.
    assert_eq!(h.post_audit("/eu", K8S_AUDIT_TOKEN, &calls).await.0, 200);
    h.settle().await;
    assert!(activity_replies(&h, &grant).is_empty());
    assert_eq!(h.post_audit("/us", K8S_AUDIT_TOKEN_US, &calls).await.0, 200);
    let reply = next_activity_reply(&h, &grant).await;
    assert!(reply.ends_with(": 1 request: 1 get pods."), "{reply}");
}

/// Whoever holds one cluster's webhook token (its apiserver, or whoever reads its webhook
/// kubeconfig) cannot report activity as another cluster.
#[tokio::test]
async fn a_clusters_token_reports_for_that_cluster_only() {
    let h = Harness::start_multi_cluster().await;
    let grant = h.approved_grant(IN_US).await;
    let at = h.clock.now() + Duration::minutes(1);
    let calls = [by_alice("delete", "pods", at)];
    for (cluster, token) in [("/us", K8S_AUDIT_TOKEN), ("/eu", K8S_AUDIT_TOKEN_US)] {
        let (status, why) = h.post_audit(cluster, token, &calls).await;
        assert_eq!(status, 401, "{cluster}: {why}");
    }
    // Percent-encoding the name does not make it another cluster's.
    let (status, _) = h.post_audit("/%75s", K8S_AUDIT_TOKEN, &calls).await;
    assert_eq!(status, 401);
    h.settle().await;
    assert!(activity_replies(&h, &grant).is_empty());

    assert_eq!(h.post_audit("/us", K8S_AUDIT_TOKEN_US, &calls).await.0, 200);
    let reply = next_activity_reply(&h, &grant).await;
    assert!(
        reply.ends_with(": 1 request: 1 *delete pods in payments*."),
        "{reply}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clusters_token_is_refused_for_a_cluster_that_has_none() {
    let mut h = Harness::start_multi_cluster().await;
    h.us_without_audit_token = true;
    h.restart().await;
    let grant = h.approved_grant(IN_US).await;
    let at = h.clock.now() + Duration::minutes(1);
    let calls = [by_alice("delete", "pods", at)];
    let (status, why) = h.post_audit("/us", K8S_AUDIT_TOKEN, &calls).await;
    assert_eq!(status, 401, "eu's token reported for us: {why}");
    h.settle().await;
    assert!(activity_replies(&h, &grant).is_empty());
}

#[tokio::test]
async fn without_the_token_even_a_huge_body_is_refused_before_it_is_read() {
    let h = Harness::start().await;
    let huge = vec![b' '; prod_access::http::apiserver_audit::MAX_AUDIT_BODY_BYTES + 1];
    assert_eq!(h.post_audit_raw("", None, huge.clone()).await.0, 401);
    assert_eq!(
        h.post_audit_raw("/default", Some("wrong"), huge).await.0,
        401
    );
}

#[tokio::test]
async fn the_webhooks_token_guards_only_the_webhook() {
    let h = Harness::start().await;
    let other = reqwest::Client::new()
        .post(h.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 404);
    let health = reqwest::get(h.url("/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}
