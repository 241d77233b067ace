//! On-call auto-approval: a role approves whoever is on call now in PagerDuty or Opsgenie; the
//! lookup failing leaves the request to the approvers and never grants.

use crate::support;

use support::*;

fn binding(h: &Harness, namespace: &str, grant: &str) -> bool {
    h.kube.grant_binding(namespace, grant).is_some()
}

/// alice's request typed in #dev; its grant id.
async fn alice_asks(h: &Harness, text: &str) -> String {
    h.request_in(ALICE, DEV_CHANNEL, text).await
}

/// alice's request, granted at once for who is on call: its grant id and the audit post.
async fn granted_on_call(h: &Harness, text: &str) -> (String, fake_slack::Call) {
    let grant = alice_asks(h, text).await;
    let granted = h.audit_saying(&grant, "Access granted").await;
    (grant, granted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoever_is_on_call_in_pagerduty_gets_access_without_an_approver() {
    let mut h = Harness::start_for_incidents().await;
    h.fake_on_call()
        .pagerduty_on_call("bob@example.com", Some(PD_SCHEDULE), PD_POLICY, 1);
    h.fake_on_call()
        .pagerduty_on_call("alice@example.com", Some(PD_SCHEDULE), PD_POLICY, 1);

    let (grant, granted) = granted_on_call(&h, "oncall-edit payments 1h INC-5 failover").await;
    assert_says(
        &granted,
        "approved by policy (on call in PagerDuty schedule Payments Primary (PPRIMARY))",
    );
    let bound = h.kube.grant_binding("payments", &grant).unwrap();
    assert_eq!(
        bound["metadata"]["annotations"]["prod-access/approved-on-call"],
        "pagerduty/schedule/PPRIMARY"
    );
    let shown = h
        .slack
        .calls("chat.postMessage")
        .into_iter()
        .find(|c| c.param("channel") == APPROVALS && all_text(&c.params).contains(&grant))
        .expect("the request is still shown to approvers");
    assert_eq!(
        button_value(&shown.params, "approve"),
        None,
        "nothing left to approve"
    );
    assert!(all_text(&shown.params).contains("Approved by policy (on call in"));

    let lookup = &h.fake_on_call().calls()[0];
    assert_eq!(lookup.path, "/oncalls");
    assert_eq!(
        lookup.authorization.as_deref(),
        Some("Token token=pd-test-token")
    );
    assert_eq!(
        lookup.accept.as_deref(),
        Some("application/vnd.pagerduty+json;version=2")
    );
    for pair in [("schedule_ids[]", "PPRIMARY"), ("include[]", "users")] {
        assert!(
            lookup.query.contains(&(pair.0.into(), pair.1.into())),
            "{:?}",
            lookup.query
        );
    }

    let entries = h.stopped_audit_log().await;
    let kinds = audit_kinds(&entries);
    assert_eq!(kinds, ["requested", "approved_by_policy", "granted"]);
    let by_policy = &entries[1].event;
    assert!(by_policy.actor.is_none(), "no person approved it");
    assert_eq!(
        by_policy.detail.as_deref(),
        Some(
            "approved by policy: the requester is on call in PagerDuty schedule Payments Primary (PPRIMARY)"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_not_on_call_waits_for_an_approver_and_opsgenie_approves_who_is() {
    let h = Harness::start_for_incidents().await;
    h.fake_on_call()
        .opsgenie_on_call(OPSGENIE_SCHEDULE, &["carol@example.com"]);

    let waiting = alice_asks(&h, "oncall-view orders 1h").await;
    let posted = h.request_posted().await;
    assert_eq!(posted, waiting, "the request waits with its buttons");
    let message = all_text(&h.approval_message(&waiting));
    assert!(message.contains("is not on call now"), "{message}");
    h.settle().await;
    assert!(!binding(&h, "orders", &waiting));
    h.click(BOB, "approve", &waiting).await;
    h.audit_saying(&waiting, "Access granted").await;

    h.fake_on_call()
        .opsgenie_on_call(OPSGENIE_SCHEDULE, &["Alice@Example.com"]);
    let (_, granted) = granted_on_call(&h, "oncall-view orders 1h").await;
    assert_says(
        &granted,
        "approved by policy (on call in Opsgenie schedule Orders On-Call)",
    );
    let lookup = h.fake_on_call().calls().pop().unwrap();
    assert_eq!(lookup.path, "/v2/schedules/Orders On-Call/on-calls");
    assert_eq!(
        lookup.authorization.as_deref(),
        Some("GenieKey genie-test-key")
    );
    assert!(lookup.query.contains(&("flat".into(), "true".into())));
    assert!(
        lookup
            .query
            .contains(&("scheduleIdentifierType".into(), "name".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_lookup_falls_back_to_the_approvers_never_to_access() {
    let mut h = Harness::start_for_incidents().await;
    h.fake_on_call()
        .pagerduty_on_call("alice@example.com", Some(PD_SCHEDULE), PD_POLICY, 1);
    h.fake_on_call().fail_with(Some(503));

    let grant = alice_asks(&h, "oncall-edit payments 1h INC-5 failover").await;
    assert_eq!(h.request_posted().await, grant);
    let message = all_text(&h.approval_message(&grant));
    assert!(
        message.contains("The on-call check failed (PagerDuty did not answer: HTTP 503"),
        "{message}"
    );
    h.settle().await;
    assert!(!binding(&h, "payments", &grant), "an outage grants nothing");

    // A refused lookup (a revoked token, say) is no better than an outage.
    h.fake_on_call().fail_with(Some(401));
    let refused = alice_asks(&h, "oncall-edit payments 1h INC-6 failover").await;
    assert_eq!(h.request_posted().await, refused);
    h.settle().await;
    assert!(!binding(&h, "payments", &refused));

    h.click(BOB, "approve", &grant).await;
    let granted = h.audit_saying(&grant, "Access granted").await;
    assert_says(&granted, &format!("approved by <@{BOB}>"));

    let entries = h.stopped_audit_log().await;
    let failed: Vec<_> = entries
        .iter()
        .filter(|e| e.event.kind.as_str() == "on_call_unavailable")
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(
        failed[1]
            .event
            .detail
            .as_deref()
            .unwrap()
            .contains("PagerDuty refused the lookup: HTTP 401"),
        "{:?}",
        failed[1].event.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_at_a_deeper_escalation_level_is_not_on_call() {
    let h = Harness::start_for_incidents().await;
    // alice is the manager at level 2: that is not on call.
    h.fake_on_call()
        .pagerduty_on_call("alice@example.com", Some(PD_SCHEDULE), PD_POLICY, 2);
    let grant = alice_asks(&h, "oncall-edit payments 1h INC-5 failover").await;
    assert_eq!(h.request_posted().await, grant);
    h.settle().await;
    assert!(!binding(&h, "payments", &grant));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_is_found_on_a_later_page_of_on_calls() {
    let h = Harness::start_for_incidents().await;
    for n in 0..150 {
        let email = format!("responder{n}@example.com");
        h.fake_on_call()
            .pagerduty_on_call(&email, Some(PD_SCHEDULE), PD_POLICY, 1);
    }
    h.fake_on_call()
        .pagerduty_on_call("alice@example.com", Some(PD_SCHEDULE), PD_POLICY, 1);
    let grant = alice_asks(&h, "oncall-edit payments 1h INC-5 failover").await;
    h.audit_saying(&grant, "Access granted").await;
    let offsets: Vec<String> = h
        .fake_on_call()
        .calls()
        .iter()
        .flat_map(|c| {
            c.query
                .iter()
                .filter(|(k, _)| k == "offset")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(offsets, ["0", "100"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_the_identity_rules_do_not_trust_is_never_matched_with_the_on_call_schedule() {
    let h = Harness::start_for_incidents().await;
    h.fake_on_call()
        .pagerduty_on_call("bob@example.com", Some(PD_SCHEDULE), PD_POLICY, 1);
    // Dana is bound by the identities table, which needs no address: she puts the on-call
    // engineer's on her profile, unconfirmed.
    h.slack.update_user(
        DANA,
        serde_json::json!({ "is_email_confirmed": false, "profile": { "email": "bob@example.com" } }),
    );
    let grant = h
        .request_in(DANA, DEV_CHANNEL, "oncall-edit payments 1h INC-7 failover")
        .await;
    assert_eq!(h.request_posted().await, grant);
    let message = all_text(&h.approval_message(&grant));
    assert!(
        message
            .contains("The on-call check failed (the requester's email address cannot be trusted"),
        "{message}"
    );
    h.settle().await;
    assert!(!binding(&h, "payments", &grant), "no person approved it");
}
