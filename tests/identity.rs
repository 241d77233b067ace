//! Who gets bound: only people of the workspace whose confirmed address is on an allowed domain,
//! exactly as resolved when they asked and shown to the approvers; approvals count only while
//! their approver still may approve; grants' details only for those concerned.

use crate::support;

use serde_json::{Value, json};
use support::*;

/// `user`'s request is refused with `phrase`, and nothing reaches approvers or the store.
async fn refused(h: &Harness, user: &str, text: &str, phrase: &str) {
    let (status, reply) = h.slash(user, text).await;
    assert_eq!(status, 200, "{reply}");
    let said = reply["text"].as_str().unwrap_or_default();
    assert!(said.contains(phrase), "expected {phrase:?} in: {said}");
    assert!(
        !said.contains("was sent for approval"),
        "refused requests are not sent: {said}"
    );
}

fn approval_posts(h: &Harness) -> usize {
    h.slack
        .calls("chat.postMessage")
        .iter()
        .filter(|c| c.param("channel") == APPROVALS)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_guests_deactivated_unconfirmed_foreign_and_tagged_profiles_are_refused() {
    let h = Harness::start().await;
    let cases: [(Value, &str); 9] = [
        (
            json!({ "is_stranger": true }),
            "Accounts of another organisation",
        ),
        (
            json!({ "is_bot": true }),
            "Bots and apps cannot be given access",
        ),
        (json!({ "deleted": true }), "Your account is deactivated"),
        (
            json!({ "is_restricted": true }),
            "Guest accounts cannot request this role",
        ),
        (
            json!({ "is_ultra_restricted": true }),
            "Guest accounts cannot request this role",
        ),
        (
            json!({ "is_email_confirmed": false }),
            "is not confirmed yet",
        ),
        (
            json!({ "profile": { "email": "mallory@gmail.com" } }),
            "only addresses on example.com can be given access",
        ),
        (
            json!({ "profile": { "email": "Mallory.Admin+prod@Example.COM" } }),
            "has a `+` tag",
        ),
        (
            json!({ "profile": { "email": null } }),
            "no usable email address",
        ),
    ];
    for (change, phrase) in cases {
        h.slack
            .add_user(MALLORY, "mallory", Some("mallory@example.com"));
        h.slack.update_user(MALLORY, change.clone());
        refused(
            &h,
            MALLORY,
            "edit payments 1h INC-60 looking around",
            phrase,
        )
        .await;
    }
    h.settle().await;
    assert_eq!(approval_posts(&h), 0, "no request reached the approvers");
    let (_, list) = h.slash(MALLORY, "list").await;
    assert!(
        !list.to_string().contains("payments"),
        "nothing was stored for mallory: {list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_that_cannot_be_looked_up_refuses_the_request() {
    let h = Harness::start().await;
    h.slack.fail_always("users.info", "ratelimited");
    refused(
        &h,
        ALICE,
        "edit payments 1h INC-61",
        "could not confirm who you are",
    )
    .await;
    assert_eq!(approval_posts(&h), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_may_request_only_roles_that_allow_guests() {
    let h = Harness::start_with_roles(
        "    contractor:\n      cluster_role: view\n      namespaces: [orders]\n      max_duration: 1h\n      allow_guests: true\n",
    )
    .await;
    h.slack
        .update_user(MALLORY, json!({ "is_restricted": true }));
    refused(
        &h,
        MALLORY,
        "edit payments 1h INC-62",
        "Guest accounts cannot",
    )
    .await;
    // Someone of another organisation is no guest of ours, whatever the role allows.
    h.slack.update_user(CAROL, json!({ "is_stranger": true }));
    refused(
        &h,
        CAROL,
        "contractor orders 1h INC-62",
        "another organisation",
    )
    .await;
    let grant = h.request(MALLORY, "contractor orders 1h INC-62").await;
    h.next_audit().await;
    h.click(BOB, "approve", &grant).await;
    assert_says(&h.next_audit().await, "Access granted");
    let binding = h.kube.grant_binding("orders", &grant).unwrap();
    assert_eq!(binding["subjects"][0]["name"], "oidc:mallory@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subject_shown_to_the_approvers_is_bound_even_if_the_profile_changes() {
    let mut h = Harness::start().await;
    let grant = h
        .requested_grant("admin payments 1h INC-63 fix ledger")
        .await;
    let shown = h.approval_message(&grant).to_string();
    assert!(
        shown.contains("Will be bound as") && shown.contains("oidc:alice@example.com"),
        "{shown}"
    );

    h.slack
        .update_user(ALICE, json!({ "profile": { "email": "eve@example.com" } }));
    h.click(BOB, "approve", &grant).await;
    h.next_audit().await;
    h.settle().await;
    let warned = h.approval_message(&grant).to_string();
    assert!(
        warned.contains("profile has changed since the request")
            && warned.contains("oidc:eve@example.com")
            && warned.contains("still binds `oidc:alice@example.com`"),
        "{warned}"
    );

    h.click(CAROL, "approve", &grant).await;
    assert_says(&h.next_audit().await, "Access granted");
    let binding = h.kube.grant_binding("payments", &grant).unwrap();
    assert_eq!(
        binding["subjects"],
        json!([{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "oidc:alice@example.com" }]),
        "exactly the subject approved, not the one the profile gives now"
    );

    h.settle().await;
    let log = h.stopped_audit_log().await;
    for kind in ["requested", "granted"] {
        let entry = log
            .iter()
            .find(|e| e.event.kind.as_str() == kind)
            .unwrap_or_else(|| panic!("no {kind} entry"));
        assert_eq!(
            entry.event.subject.as_deref(),
            Some("oidc:alice@example.com"),
            "{kind}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_whose_approver_lost_the_right_no_longer_counts() {
    let h = Harness::start_with_roles(
        "    pair:\n      cluster_role: edit\n      namespaces: [orders]\n      max_duration: 1h\n      approvals: 2\n      approvers: [S0ONCALL]\n",
    )
    .await;
    h.slack.set_usergroup(ONCALL, &[ERIN, CAROL, DANA]);
    let grant = h.requested_grant("pair orders 1h INC-64").await;
    h.click(ERIN, "approve", &grant).await;
    assert_says(&h.next_audit().await, "approv");

    // Erin leaves the on-call group before the second approval.
    h.slack.set_usergroup(ONCALL, &[CAROL, DANA]);
    h.click(CAROL, "approve", &grant).await;
    h.next_audit().await;
    h.settle().await;
    assert!(
        h.kube.grant_binding("orders", &grant).is_none(),
        "one approval that still counts is not two"
    );
    let message = h.approval_message(&grant).to_string();
    assert!(
        message.contains("No longer counted") && message.contains(ERIN),
        "{message}"
    );
    assert!(message.contains("1 of 2 approvals"), "{message}");

    h.click(DANA, "approve", &grant).await;
    assert_says(&h.next_audit().await, "Access granted");
    assert!(h.kube.grant_binding("orders", &grant).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_a_grant_only_to_its_requester_approvers_and_auditors() {
    let h = Harness::start().await;
    let grant = h
        .requested_grant("edit payments 1h INC-65 secret plans")
        .await;
    let status = format!("status {grant}");
    for (user, sees) in [(ALICE, true), (BOB, true), (ERIN, true), (MALLORY, false)] {
        let (_, reply) = h.slash(user, &status).await;
        let said = reply.to_string();
        assert_eq!(said.contains("secret plans"), sees, "{user}: {said}");
        if !sees {
            assert!(said.contains("There is no request"), "{said}");
        }
    }
    // Nor do the refusals of acting on it tell a stranger whose it is.
    for command in ["cancel", "revoke", "extend"] {
        let text = match command {
            "extend" => format!("extend {grant} 30m"),
            _ => format!("{command} {grant}"),
        };
        let (_, reply) = h.slash(MALLORY, &text).await;
        let said = reply.to_string();
        assert!(said.contains("There is no request"), "{command}: {said}");
        assert!(
            !said.contains(ALICE) && !said.contains("edit"),
            "{command}: {said}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_finding_the_requester_deactivated_binds_nobody() {
    let h = Harness::start().await;
    let grant = h.requested_grant("edit payments 1h INC-66").await;
    // Deactivated, and the user_change event was missed.
    h.slack.update_user(ALICE, json!({ "deleted": true }));
    h.click(BOB, "approve", &grant).await;
    assert_says(&h.next_audit().await, "deactivated");
    h.settle().await;
    assert!(
        h.kube.grant_binding("payments", &grant).is_none(),
        "nobody is bound for a deactivated account"
    );
}
