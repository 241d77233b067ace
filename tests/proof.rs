//! Proof of revocation, told on Slack and Teams: once a grant's binding is gone the cluster is
//! asked whether its subject can still do what the role allowed; access kept through a team's
//! binding is called out with that binding, a review the cluster refuses leaves the end
//! unverified, and an exec still open when the access ended is named with how to end it.

use crate::support;

use chrono::Duration;
use prod_access::clock::Clock;
use prod_access::fakes::kube::KubeFault;
use serde_json::json;
use support::driver::*;
use support::session_activity::*;
use support::*;

const REVIEWS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

async fn access_kept_through_a_team_binding_is_called_out_with_that_binding<D: Driver>(mut d: D) {
    let grant = d.approved_grant("edit payments 1h INC-4 hotfix").await;
    // During the grant the payments team's RoleBinding gains alice, with view: removing the
    // grant's edit leaves her what view allows, and only that.
    let alice = json!([{ "kind": "User", "name": ALICE_SUBJECT }]);
    d.kube().add_team_binding(
        Some("payments"),
        "payments-team",
        "ClusterRole",
        "view",
        alice,
    );
    d.clock().advance(Duration::hours(1));
    d.audit_says(&grant, "expired and was removed").await;
    let not_ended = d.audit_says(&grant, "Access not ended").await;
    assert_says_each(
        &not_ended,
        &[
            "still allowed: get pods in payments; list pods in payments; get pods/log in \
             payments; list deployments in payments, through RoleBinding \
             payments/payments-team (ClusterRole view, User oidc:alice@example.com)",
        ],
    );
    for edit_only in ["pods/exec", "delete pods", "secrets"] {
        assert!(!not_ended.contains(edit_only), "{edit_only}: {not_ended}");
    }
    d.reply_says(&grant, "Access not ended").await;
    let status = d.status_text(&grant).await;
    assert!(
        status.contains("After the end, the cluster says:") && status.contains("still allowed"),
        "{status}"
    );
    assert!(d.kube().grant_binding("payments", &grant).is_none());
    let log = d.stopped_audit_log().await;
    let last = log.last().unwrap();
    assert_eq!(last.event.kind.as_str(), "access_not_ended");
    let detail = last.event.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("RoleBinding payments/payments-team"),
        "{detail}"
    );
}

async fn standing_access_from_before_the_grant_is_not_taken_for_access_the_grant_left<D: Driver>(
    mut d: D,
) {
    // alice could view payments before she asked: the grant's end does not take that away.
    let alice = json!([{ "kind": "User", "name": ALICE_SUBJECT }]);
    d.kube()
        .add_team_binding(Some("payments"), "engineers", "ClusterRole", "view", alice);
    let grant = d.approved_grant("edit payments 1h INC-8 hotfix").await;
    d.clock().advance(Duration::hours(1));
    d.audit_says(&grant, "expired and was removed").await;
    let verified = d.audit_says(&grant, "verified").await;
    assert!(
        verified.contains(
            "verified: no longer allowed (9 checks; 4 of them allowed before the grant too, by standing access, and still)"
        ),
        "{verified}"
    );
    let log = d.stopped_audit_log().await;
    assert_eq!(
        log.last().unwrap().event.kind.as_str(),
        "revocation_verified"
    );
}

async fn a_review_the_cluster_refuses_leaves_the_end_unverified<D: Driver>(mut d: D) {
    d.kube()
        .on_path(REVIEWS, KubeFault::Forbidden, std::time::Duration::ZERO);
    let grant = d.approved_grant("edit payments 1h INC-5 hotfix").await;
    d.asks(Alice, &format!("revoke {grant}")).await;
    d.audit_says(&grant, "revoked the access").await;
    let unverified = d.audit_says(&grant, "not verified").await;
    assert!(unverified.contains("forbidden"), "{unverified}");
    let log = d.stopped_audit_log().await;
    assert_eq!(
        log.last().unwrap().event.kind.as_str(),
        "revocation_unverified"
    );
}

async fn an_exec_still_open_when_the_access_ends_is_named_with_how_to_end_it<D: Driver>(mut d: D) {
    let grant = d.approved_grant("edit payments 1h INC-6 debugging").await;
    d.reply_says(&grant, "Access granted").await;
    let at = d.clock().now() + Duration::minutes(5);
    d.move_clock_to(at);
    // An exec whose response started and never completed: the shell is still open.
    let exec = by_alice("create", "pods/exec", at).named("api-7f9c");
    let mut started = exec.clone();
    started.code = 101;
    d.send_audit_events(vec![
        exec.event("RequestReceived"),
        started.event("ResponseStarted"),
    ])
    .await;
    // One that ended: not named.
    let closed = by_alice("create", "pods/exec", at).named("worker-1");
    d.send_audit(&[closed]).await;
    d.move_clock_to(at + Duration::hours(1));
    d.audit_says(&grant, "expired and was removed").await;
    d.move_clock_to(at + Duration::hours(2));
    let summary = d.reply_says(&grant, "Session summary").await;
    assert_says_each(
        &summary,
        &[
            "Still open",
            "exec into payments/api-7f9c (container api) since",
            "kubectl delete pod api-7f9c -n payments",
        ],
    );
    assert!(!summary.contains("delete pod worker-1"), "{summary}");
    d.audit_says(&grant, "Still open").await;
    d.settle().await;
    let log = d.stopped_audit_log().await;
    let open = log
        .iter()
        .find(|e| e.event.kind.as_str() == "streams_still_open")
        .expect("a streams_still_open entry");
    let detail = open.event.detail.as_deref().unwrap_or_default();
    assert!(
        detail.starts_with("exec into payments/api-7f9c (container api) since 20"),
        "{detail}"
    );
}

async fn what_the_grant_left_behind_is_listed_by_risk_and_recorded<D: Driver>(mut d: D) {
    let grant = d.approved_grant("edit payments 1h INC-7 deploy fix").await;
    let at = d.clock().now() + Duration::minutes(10);
    d.move_clock_to(at);
    d.send_audit(&[
        by_alice("create", "serviceaccounts", at).named("deployer"),
        by_alice("create", "serviceaccounts/token", at).named("deployer"),
        by_alice("create", "rolebindings", at).named("deployer-edit"),
        // Refused: nothing was made.
        by_alice("create", "clusterrolebindings", at)
            .named("deployer-admin")
            .answered(403),
    ])
    .await;
    d.move_clock_to(at + Duration::hours(1));
    d.audit_says(&grant, "expired and was removed").await;
    d.move_clock_to(at + Duration::hours(2));
    let summary = d.reply_says(&grant, "Session summary").await;
    assert_says_each(
        &summary,
        &[
            "Left behind",
            // By risk; none of them is in the cluster any more: each was checked at the end.
            "high risk: token for ServiceAccount payments/deployer (create serviceaccounts/token, \
             gone)",
            "binding payments/deployer-edit (create rolebindings, gone)",
            "medium risk: ServiceAccount payments/deployer (create serviceaccounts, gone)",
        ],
    );
    let status = d.status_text(&grant).await;
    assert!(
        status.contains("Left behind") && status.contains("token for ServiceAccount"),
        "{status}"
    );
    let in_audit_channel = d.audit_says(&grant, "Left behind").await;
    assert!(
        in_audit_channel.contains("token for ServiceAccount payments/deployer"),
        "{in_audit_channel}"
    );
    let left_behind = summary.split("Left behind").nth(1).unwrap();
    assert!(
        !left_behind.contains("deployer-admin"),
        "refused, so nothing was made: {summary}"
    );
    d.settle().await;
    let log = d.stopped_audit_log().await;
    let left = log
        .iter()
        .find(|e| e.event.kind.as_str() == "leftovers")
        .expect("a leftovers entry");
    assert_eq!(left.event.grant.as_deref(), Some(grant.as_str()));
    let detail = left.event.detail.as_deref().unwrap_or_default();
    assert!(
        detail.starts_with("high risk: token for ServiceAccount"),
        "{detail}"
    );
}

crate::on_both_platforms!(
    standing_access_from_before_the_grant_is_not_taken_for_access_the_grant_left,
    what_the_grant_left_behind_is_listed_by_risk_and_recorded,
    access_kept_through_a_team_binding_is_called_out_with_that_binding,
    a_review_the_cluster_refuses_leaves_the_end_unverified,
    an_exec_still_open_when_the_access_ends_is_named_with_how_to_end_it,
);
