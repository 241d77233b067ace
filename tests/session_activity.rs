//! Session activity, on Slack and on Teams: the apiserver's audit webhook posts batches of every
//! request in the cluster; those made with an active grant are counted, the notable ones kept and
//! logged, and said under the approval message at most once a minute, with a summary when the
//! grant ends.

use crate::support;

use chrono::Duration;
use prod_access::clock::Clock;
use prod_access::domain::audit::AuditKind;
use serde_json::json;
use support::session_activity::*;
use support::*;

/// What `status` tells alice, without the bold Teams writes its labels in (Slack's have none).
async fn status_of(d: &impl Driver, grant: &str) -> String {
    d.status_text(grant).await.replace("**", "")
}

/// Hundreds of requests of the cluster's own components and of bob, who has no grant.
fn background_noise(at: chrono::DateTime<chrono::Utc>) -> Vec<KubeCall> {
    let mut calls = Vec::new();
    for i in 0..120 {
        calls.push(
            kube_call(
                "system:serviceaccount:kube-system:replicaset-controller",
                "update",
                "replicasets/status",
                at,
            )
            .in_ns("payments")
            .named(&format!("api-{i}")),
        );
        calls.push(
            kube_call("system:node:ip-10-0-1-5.ec2.internal", "get", "pods", at)
                .in_ns("payments")
                .named("api-7f9c"),
        );
        calls.push(
            kube_call("system:kube-scheduler", "create", "pods/binding", at)
                .in_ns("orders")
                .named("worker"),
        );
    }
    calls.extend(vec![
        kube_call("oidc:bob@example.com", "get", "secrets", at)
            .in_ns("payments")
            .named("db");
        20
    ]);
    calls
}

async fn what_alice_does_with_her_grant_is_counted_said_in_its_thread_and_summarised_at_the_end<
    D: Driver,
>(
    mut d: D,
) {
    let grant = d
        .approved_grant("edit payments 2h fixing stuck queue")
        .await;
    d.reply_says(&grant, "Access granted").await;
    let start = d.clock().now();

    // One batch of 400 events: alice's requests among the cluster's own and bob's.
    let at = start + Duration::minutes(5);
    d.move_clock_to(at);
    let mut calls = background_noise(at);
    calls.extend(vec![by_alice("get", "pods", at); 14]);
    calls.extend(vec![by_alice("list", "deployments", at); 3]);
    calls.extend(vec![
        by_alice("create", "pods/exec", at).named("api-7f9c");
        2
    ]);
    calls.push(by_alice("delete", "deployments", at).named("worker"));
    calls.push(by_alice("get", "secrets", at).named("db"));
    calls.push(
        kube_call(ALICE_SUBJECT, "get", "secrets", at)
            .in_ns("billing")
            .named("ledger")
            .answered(403),
    );
    // Before the grant: alice's own standing access is not the grant's.
    calls.extend(vec![
        by_alice("get", "pods", start - Duration::minutes(10));
        5
    ]);
    let events: usize = calls.iter().map(|c| c.events().len()).sum();
    assert!(events > 800, "{events} events");
    d.send_audit(&calls).await;

    let first = next_activity_reply(&d, &grant).await;
    assert!(
        first.contains(&format!(
            "Kubernetes activity of {} with grant `{grant}`: 22 requests: 2 {}, 1 {}, 1 {}, 1 {}, 14 get pods, 3 list deployments.",
            d.name(Alice),
            d.bold("exec into payments/api-7f9c"),
            d.bold("delete deployments/worker in payments"),
            d.bold("get secrets/db in payments"),
            d.bold("refused (403): get secrets ledger in billing"),
        )),
        "{first}"
    );

    // More within the minute: counted, but said only once the minute is over.
    let later = start + Duration::minutes(5) + Duration::seconds(30);
    d.move_clock_to(later);
    let more = vec![by_alice("get", "pods", later); 4];
    d.send_audit(&more).await;
    d.settle().await;
    assert_eq!(
        activity_replies(&d, &grant).len(),
        1,
        "at most one reply a minute"
    );
    d.move_clock_to(start + Duration::minutes(6));
    let second = next_activity_reply(&d, &grant).await;
    assert!(second.ends_with(": 4 requests: 4 get pods."), "{second}");

    // status shows the whole grant's activity.
    let status = status_of(&d, &grant).await;
    assert_says_each(
        &status,
        &[
            "Kubernetes activity: 26 requests: 2 exec into payments/api-7f9c",
            "18 get pods",
            "Latest notable actions (5 in all):",
            "2026-11-23 09:05:00 UTC: refused (403): get secrets ledger in billing",
        ],
    );

    // The grant expires; a late batch still counts what was done before the end.
    let expiry = start + Duration::hours(2);
    d.move_clock_to(expiry);
    d.audit_says(&grant, "expired").await;
    d.reply_says(&grant, "expired").await;
    d.move_clock_to(expiry + Duration::seconds(20));
    d.send_audit(&[
        by_alice("get", "pods", expiry - Duration::seconds(10)),
        // After the end: not the grant's.
        by_alice("get", "pods", expiry + Duration::seconds(15)),
    ])
    .await;
    d.settle().await;
    assert_eq!(
        activity_replies(&d, &grant).len(),
        2,
        "no reply after the grant ended"
    );
    d.move_clock_to(expiry + Duration::minutes(3));
    let summary = next_activity_reply(&d, &grant).await;
    assert!(
        summary.contains(&format!(
            "{} of grant `{grant}` (edit in `payments`): 27 Kubernetes requests while the access lasted: 2 {}",
            d.bold("Session summary"),
            d.bold("exec into payments/api-7f9c")
        )),
        "{summary}"
    );
    assert!(
        summary.contains("19 get pods, 3 list deployments."),
        "{summary}"
    );
    d.move_clock_to(expiry + Duration::minutes(5));
    d.settle().await;
    assert_eq!(activity_replies(&d, &grant).len(), 3, "one summary");

    let entries = d.stopped_audit_log().await;
    let notable: Vec<String> = entries
        .iter()
        .filter(|e| e.event.kind == AuditKind::SessionActivity)
        .map(|e| e.event.detail.clone().unwrap())
        .collect();
    assert_eq!(notable.len(), 5, "{notable:?}");
    assert!(
        notable[0].starts_with("exec into payments/api-7f9c (HTTP 101, audit ID "),
        "{notable:?}"
    );
    assert!(
        entries
            .iter()
            .filter(|e| e.event.kind == AuditKind::SessionActivity)
            .all(|e| e.event.grant.as_deref() == Some(grant.as_str())
                && e.event.requester.as_deref() == Some(d.recorded_as(Alice).as_str()))
    );
    let summaries: Vec<_> = entries
        .iter()
        .filter(|e| e.event.kind == AuditKind::SessionSummary)
        .collect();
    assert_eq!(summaries.len(), 1);
    assert!(
        summaries[0]
            .event
            .detail
            .as_deref()
            .unwrap()
            .starts_with("27 Kubernetes requests: 2 exec into payments/api-7f9c"),
        "{:?}",
        summaries[0].event.detail
    );
    let (ok, out, err) = audit_command(d.store_path(), &["verify"]);
    assert!(ok, "{out}{err}");
}

async fn an_impersonated_request_is_the_impersonated_users<D: Driver>(d: D) {
    let grant = d
        .approved_grant("edit payments 1h fixing stuck queue")
        .await;
    let at = d.clock().now() + Duration::minutes(1);
    let mut event = kube_call("oidc:mallory@example.com", "delete", "pods", at)
        .in_ns("payments")
        .named("api-7f9c")
        .event("ResponseComplete");
    event["impersonatedUser"] = json!({ "username": ALICE_SUBJECT });
    let alice_as_nobody = {
        let mut e = by_alice("get", "pods", at).event("ResponseComplete");
        e["impersonatedUser"] = json!({ "username": "oidc:nobody@example.com" });
        e
    };
    d.send_audit_events(vec![event, alice_as_nobody]).await;
    let reply = next_activity_reply(&d, &grant).await;
    // mallory acting as alice is alice's grant at work; alice acting as nobody is still alice.
    assert!(
        reply.ends_with(&format!(
            ": 2 requests: 1 {}, 1 {}.",
            d.bold("delete pods/api-7f9c in payments"),
            d.bold("get pods in payments as oidc:nobody@example.com")
        )),
        "{reply}"
    );
}

async fn a_summary_due_while_the_bot_was_down_is_posted_when_it_is_back<D: Driver>(mut d: D) {
    let grant = d
        .approved_grant("edit payments 1h fixing stuck queue")
        .await;
    let at = d.clock().now() + Duration::minutes(1);
    d.move_clock_to(at);
    d.send_audit(&[by_alice("create", "pods/exec", at).named("api-7f9c")])
        .await;
    next_activity_reply(&d, &grant).await;
    d.clock().advance(Duration::hours(1));
    d.audit_says(&grant, "expired").await;
    // Stopped before the summary was due, started again after.
    d.stop().await;
    d.clock().advance(Duration::minutes(5));
    d.restart().await;
    let summary = next_activity_reply(&d, &grant).await;
    assert!(
        summary.contains(&format!(
            "1 Kubernetes request while the access lasted: 1 {}.",
            d.bold("exec into payments/api-7f9c")
        )),
        "{summary}"
    );
}

async fn a_batch_sent_again_is_counted_once_and_an_impersonating_holder_is_still_theirs<
    D: Driver,
>(
    d: D,
) {
    let grant = d
        .approved_grant("edit payments 1h fixing stuck queue")
        .await;
    let at = d.clock().now() + Duration::minutes(1);
    d.move_clock_to(at);
    let mut as_bob = by_alice("patch", "deployments", at)
        .named("api")
        .event("ResponseComplete");
    as_bob["impersonatedUser"] = json!({ "username": "oidc:bob@example.com" });
    for _ in 0..2 {
        // The apiserver sends a batch again when it did not see the answer.
        d.send_audit_events(vec![as_bob.clone()]).await;
    }
    let reply = next_activity_reply(&d, &grant).await;
    assert!(
        reply.ends_with(&format!(
            ": 1 request: 1 {}.",
            d.bold("patch deployments/api in payments as oidc:bob@example.com")
        )),
        "{reply}"
    );
    d.settle().await;
    let status = status_of(&d, &grant).await;
    assert!(
        status.contains("Kubernetes activity: 1 request"),
        "{status}"
    );
}

async fn a_request_still_allowed_by_the_grants_binding_after_it_ended_is_called_out<D: Driver>(
    d: D,
) {
    let grant = d
        .approved_grant("edit payments 1h fixing stuck queue")
        .await;
    let binding = format!("prod-access-{grant}");
    let start = d.clock().now();
    d.move_clock_to(start + Duration::hours(1));
    d.audit_says(&grant, "expired").await;
    let after = start + Duration::hours(1) + Duration::seconds(20);
    d.move_clock_to(after);
    d.send_audit(&[
        // The binding's removal had not reached this apiserver yet.
        by_alice("delete", "pods", after)
            .named("api-1")
            .allowed_by(&binding),
        // Allowed by alice's own standing access: not the grant's.
        by_alice("get", "pods", after),
    ])
    .await;
    d.move_clock_to(start + Duration::hours(1) + Duration::minutes(3));
    let summary = next_activity_reply(&d, &grant).await;
    assert!(
        summary.contains(&format!(
            ": 1 Kubernetes request while the access lasted: 1 {}.",
            d.bold("after the access ended, still allowed: delete pods api-1 in payments")
        )),
        "{summary}"
    );
}

#[tokio::test]
async fn a_token_grant_is_matched_by_its_service_account_and_survives_a_restart() {
    let mut h = Harness::start().await;
    let grant = h
        .approved_grant("view payments 1h checking the ledger")
        .await;
    let service_account = format!("system:serviceaccount:prod-access:prod-access-{grant}");
    let at = h.clock.now() + Duration::minutes(1);
    h.send_audit(&[
        kube_call(&service_account, "get", "pods/log", at)
            .in_ns("payments")
            .named("api-7f9c"),
        kube_call(&service_account, "list", "pods", at).in_ns("payments"),
        // Another grant's ServiceAccount, and one that only looks like it.
        kube_call(
            "system:serviceaccount:prod-access:prod-access-000000",
            "list",
            "pods",
            at,
        )
        .in_ns("payments"),
        kube_call(
            &format!("system:serviceaccount:default:prod-access-{grant}"),
            "list",
            "pods",
            at,
        )
        .in_ns("payments"),
    ])
    .await;
    let reply = next_activity_reply(&h, &grant).await;
    assert!(
        reply.ends_with(": 2 requests: 1 get pods/log, 1 list pods."),
        "{reply}"
    );

    // After a restart the grant is still matched, and what it did is still there.
    h.restart().await;
    h.clock.advance(Duration::minutes(2));
    let at = h.clock.now();
    h.send_audit(&[kube_call(&service_account, "get", "secrets", at)
        .in_ns("payments")
        .named("api-key")])
        .await;
    let reply = next_activity_reply(&h, &grant).await;
    assert!(
        reply.ends_with(": 1 request: 1 *get secrets/api-key in payments*."),
        "{reply}"
    );
    let status = h.status_text(&grant).await;
    assert!(
        status.contains("Kubernetes activity: 3 requests"),
        "{status}"
    );
}

crate::on_both_platforms!(
    what_alice_does_with_her_grant_is_counted_said_in_its_thread_and_summarised_at_the_end,
    an_impersonated_request_is_the_impersonated_users,
    a_summary_due_while_the_bot_was_down_is_posted_when_it_is_back,
    a_batch_sent_again_is_counted_once_and_an_impersonating_holder_is_still_theirs,
    a_request_still_allowed_by_the_grants_binding_after_it_ended_is_called_out,
);
