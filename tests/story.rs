//! The user's story, end to end over real HTTP, on Slack and on Teams: request → approval →
//! RoleBinding → expiry → a second grant revoked → the audit log.

use crate::support;

use chrono::Duration;
use serde_json::json;
use support::*;

/// How long after alice's request bob approves it. Not a whole number of minutes: a reconcile
/// pass runs on every minute, and one that lists the binding just before the expiry removes it
/// deletes it a second time (a race in the reconcile pass, reported; the story counts the
/// deletes).
const APPROVED_AFTER: Duration = Duration::seconds(10 * 60 + 30);

/// alice requests edit on payments for 2h, bob approves, the binding exists and goes at expiry;
/// then she gets it again and revokes it herself. Every step is told in the audit channel and
/// kept in the audit log. (In Teams this was `alice_gets_edit_on_payments_in_teams_and_loses_it_at_expiry`.)
async fn alice_gets_edit_on_payments_for_two_hours_and_loses_it_at_expiry<D: Driver>(
    mut d: D,
) -> D {
    let (alice, bob) = (d.name(Alice), d.name(Bob));
    // alice requests edit on payments for 2h
    let grant = d
        .requests(Alice, "edit payments 2h fixing stuck queue")
        .await;
    let binding_name = format!("prod-access-{grant}");
    let requested = d.next_audit().await;
    let says = format!("{alice} requested edit in `payments` for 2h");
    assert!(requested.contains(&says), "{requested}");
    let waiting = d
        .approval_shows(&grant, "Waiting for approval: 0 of 1 approvals")
        .await;
    assert!(waiting.contains(&alice), "{waiting}");
    assert!(waiting.contains("fixing stuck queue"), "{waiting}");
    assert_eq!(d.buttons_on(&grant), ["approve", "deny"]);
    assert_eq!(
        d.kube().binding_count(),
        0,
        "nothing is bound before approval"
    );

    // alice cannot approve her own request: she is told so, and nothing changes
    let refusal = d.refused_on_click(Alice, "approve", &grant).await;
    assert!(refusal.contains("own"), "{refusal}");

    // bob approves ten and a half minutes later
    d.clock().advance(APPROVED_AFTER);
    d.clicks(Bob, "approve", &grant).await;
    let activated = d.next_audit().await;
    let says = format!("Access granted to {alice} as `oidc:alice@example.com`");
    assert!(activated.contains(&says), "{activated}");
    assert!(
        activated.contains(&format!("approved by {bob}")),
        "{activated}"
    );

    // the RoleBinding exists with the right subject, role, labels and annotations
    let binding = d
        .kube()
        .binding("payments", &binding_name)
        .expect("RoleBinding created");
    assert_eq!(
        binding["roleRef"],
        json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit" })
    );
    assert_eq!(
        binding["subjects"],
        json!([{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "oidc:alice@example.com" }])
    );
    let labels = &binding["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "prod-access");
    assert_eq!(labels["prod-access/grant"], grant.as_str());
    let annotations = &binding["metadata"]["annotations"];
    assert_eq!(
        annotations["prod-access/expires-at"],
        "2026-11-23T11:10:30Z"
    );
    assert_eq!(annotations["prod-access/requester"], d.recorded_as(Alice));
    assert_eq!(annotations["prod-access/approvers"], d.recorded_as(Bob));
    assert_eq!(annotations["prod-access/reason"], "fixing stuck queue");

    // alice is told by DM, with the exact expiry; the thread under the request says it too
    let expiry = d.time(t0() + APPROVED_AFTER + Duration::hours(2));
    let approved = d.next_dm(Alice).await;
    assert!(
        approved.contains(&format!("is active until {expiry}")),
        "{approved}"
    );
    let reply = d.next_reply_where(&grant, |_| true).await;
    assert!(reply.contains("Access granted"), "{reply}");

    // the approval message is updated in place: who approved, until when, no more buttons
    d.approval_shows(&grant, &format!("Approved by {bob}. Active until {expiry}"))
        .await;
    assert!(d.buttons_on(&grant).is_empty(), "buttons are gone");

    // one second before expiry nothing has happened but the reminder, with a button to give
    // the access back now
    d.clock().advance(Duration::hours(2) - Duration::seconds(1));
    let reminder = d.next_dm(Alice).await;
    assert!(
        reminder.contains("expires"),
        "the reminder came first: {reminder}"
    );
    assert!(d.buttons_on_last_dm(Alice).contains(&"drop".to_string()));
    d.settle().await;
    assert!(d.kube().binding("payments", &binding_name).is_some());

    // the clock passes expiry: the binding is gone, the message and the audit channel say so
    d.clock().advance(Duration::seconds(1));
    let expired = d.next_audit().await;
    assert!(expired.contains("expired and was removed"), "{expired}");
    assert!(d.kube().binding("payments", &binding_name).is_none());
    assert_eq!(d.kube().calls_of("DELETE").len(), 1);
    let told = d.next_dm(Alice).await;
    assert!(told.contains("has expired and was removed"), "{told}");
    d.approval_shows(&grant, &format!("{} Expired", d.emoji("lock")))
        .await;
    // the cluster is asked whether alice can still do what edit allowed: she cannot
    let proven = d.next_audit().await;
    assert!(proven.contains("verified: no longer allowed"), "{proven}");
    let asked = d.kube().subject_access_reviews();
    let exec = asked.iter().find(|r| {
        let asked = &r["spec"]["resourceAttributes"];
        asked["subresource"] == "exec" && asked["namespace"] == "payments"
    });
    assert!(exec.is_some(), "edit is asked about exec: {asked:#?}");
    assert!(
        asked
            .iter()
            .all(|r| r["spec"]["user"] == "oidc:alice@example.com"),
        "the subject the binding named: {asked:#?}"
    );
    let audit = d.audit_channel();
    assert_eq!(
        audit.len(),
        4,
        "requested, granted, expired, verified: {audit:#?}"
    );

    // the next day she needs it again, gets it, and gives it back early
    d.clock().advance(Duration::hours(20));
    let again = d.requests(Alice, "edit payments 1h INC-9 follow-up").await;
    assert_ne!(again, grant);
    let requested = d.next_audit().await;
    assert!(
        requested.contains("requested edit in `payments` for 1h"),
        "{requested}"
    );
    d.clicks(Carol, "approve", &again).await;
    let granted = d.next_audit().await;
    assert!(granted.contains("Access granted"), "{granted}");
    let again_binding = format!("prod-access-{again}");
    assert!(d.kube().binding("payments", &again_binding).is_some());
    let done = d.asks(Alice, &format!("revoke {again}")).await;
    assert!(done.contains(&again), "{done}");
    let revoked = d.next_audit().await;
    let says = format!("{alice} revoked the access of {alice}");
    assert!(revoked.contains(&says), "{revoked}");
    assert!(d.kube().binding("payments", &again_binding).is_none());
    let proven = d.next_audit().await;
    assert!(proven.contains("verified: no longer allowed"), "{proven}");
    assert_eq!(d.audit_channel().len(), 8);

    // the audit log holds every step of both grants, chained
    let entries = d.stopped_audit_log().await;
    let kinds = audit_kinds(&entries);
    let (first_grant, second_grant) = kinds.split_at(5);
    assert_eq!(
        first_grant,
        [
            "requested",
            "approval",
            "granted",
            "expired",
            "revocation_verified"
        ]
    );
    assert_eq!(
        second_grant,
        [
            "requested",
            "approval",
            "granted",
            "revoked",
            "revocation_verified"
        ]
    );
    let first = &entries[0].event;
    assert_eq!(
        first.actor.as_ref().map(|a| a.user.clone()),
        Some(d.recorded_as(Alice))
    );
    let (ok, out, err) = audit_command(d.store_path(), &["verify"]);
    assert!(ok, "{out}{err}");
    d
}

mod alice_gets_edit_on_payments_for_two_hours_and_loses_it_at_expiry {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slack() {
        let h = Harness::start_in(Mode::Http).await;
        let h = super::alice_gets_edit_on_payments_for_two_hours_and_loses_it_at_expiry(h).await;
        let first_lookup = &h.slack.calls("users.info")[0];
        assert_eq!(first_lookup.param("user"), ALICE);
    }

    /// The same story in Slack's Socket Mode (`the_same_story_in_socket_mode`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slack_in_socket_mode() {
        let h = Harness::start_in(Mode::Socket).await;
        super::alice_gets_edit_on_payments_for_two_hours_and_loses_it_at_expiry(h).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn teams() {
        let h = TeamsHarness::start().await;
        super::alice_gets_edit_on_payments_for_two_hours_and_loses_it_at_expiry(h).await;
    }
}

/// In Teams a request may start with an @mention of the bot or with its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_teams_alice_may_address_the_bot_by_mention_or_by_name() {
    let h = TeamsHarness::start().await;
    for text in [
        "<at>prod-access</at> edit payments 2h fixing stuck queue",
        "prod-access edit payments 1h follow-up",
    ] {
        let grant = h.requests(Alice, text).await;
        h.clicks(Bob, "approve", &grant).await;
        h.audit_says(&grant, "Access granted").await;
    }
}

/// Approving in Teams answers the click with the card as it now stands: approved, no buttons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_teams_an_approval_is_answered_with_the_refreshed_card() {
    let h = TeamsHarness::start().await;
    let grant = h
        .requests(Alice, "edit payments 2h fixing stuck queue")
        .await;
    let (status, answer) = h.click(T_BOB, "approve", &grant).await;
    assert_eq!(status, 200);
    assert_eq!(answer["type"], "application/vnd.microsoft.card.adaptive");
    assert!(
        card_actions(&answer["value"]).is_empty(),
        "no buttons once approved: {answer}"
    );
    assert!(
        activity_text(&json!({ "attachments": [answer["value"]] })).contains("bob@example.com"),
        "{answer}"
    );
}

/// carol denies: no binding, nothing asked of the cluster, and alice is told who denied.
async fn a_deny_leaves_no_binding_and_tells_alice_who_denied<D: Driver>(d: D) -> D {
    let (alice, carol) = (d.name(Alice), d.name(Carol));
    let grant = d.requests(Alice, "view payments 1h looking at logs").await;
    d.next_audit().await; // requested

    d.clicks(Carol, "deny", &grant).await;
    let denied = d.next_audit().await;
    let says = format!("{carol} denied {alice}'s request");
    assert!(denied.contains(&says), "{denied}");
    let told = d.next_dm(Alice).await;
    let says = format!("{carol} denied your request");
    assert!(told.contains(&says), "{told}");
    d.approval_shows(&grant, &format!("Denied by {carol}"))
        .await;
    assert!(d.buttons_on(&grant).is_empty(), "no buttons once denied");
    assert_eq!(d.kube().binding_count(), 0);
    assert!(
        d.kube().calls().is_empty(),
        "a denied request never touches the cluster"
    );

    // A late click on the decided request is refused, and says why.
    let late = d.refused_on_click(Bob, "approve", &grant).await;
    assert_says_each(&late, &[&grant, "is denied; nothing was changed"]);
    assert_eq!(d.kube().binding_count(), 0);
    d
}

mod a_deny_leaves_no_binding_and_tells_alice_who_denied {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slack() {
        let h = super::a_deny_leaves_no_binding_and_tells_alice_who_denied(Harness::start().await)
            .await;
        // Slack is asked only about the people who acted: the requester, the denier and bob,
        // whose late click is checked like any other.
        let looked_up: std::collections::BTreeSet<String> = h
            .slack
            .calls("users.info")
            .iter()
            .map(|c| c.param("user").to_string())
            .collect();
        assert_eq!(looked_up, [ALICE, BOB, CAROL].map(String::from).into());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn teams() {
        super::a_deny_leaves_no_binding_and_tells_alice_who_denied(TeamsHarness::start().await)
            .await;
    }
}

async fn a_binding_the_cluster_refuses_fails_visibly_and_leaves_nothing_behind<D: Driver>(d: D) {
    d.kube().set_failing(true);
    let grant = d.requests(Alice, "edit orders 30m deploy hotfix").await;
    d.next_audit().await; // requested
    d.clicks(Bob, "approve", &grant).await;

    // Retried with backoff until the budget is spent; the access clock has not started.
    for failures in 1..RETRY_POLICY.bind_attempts {
        d.let_retry_fall_due(&grant, failures).await;
    }
    let failed = d.next_audit().await;
    assert_says_each(&failed, &["could not be created", "after 6 attempts over"]);
    assert_eq!(d.kube().calls_of("POST").len(), 6);
    let told = d.next_dm(Alice).await;
    assert!(told.contains("could not be created"), "{told}");
    d.approval_shows(&grant, "access could not be created")
        .await;

    // The clean-up delete is refused too while the cluster is down; it is retried until it works.
    d.kube()
        .wait_until("the clean-up delete was tried", |k| {
            !k.calls_of("DELETE").is_empty()
        })
        .await;
    d.kube().set_failing(false);
    d.let_retry_fall_due(&grant, 1).await;
    d.kube()
        .wait_until("the clean-up delete succeeded", |k| {
            k.calls_of("DELETE").len() >= 2
        })
        .await;
    assert_eq!(d.kube().binding_count(), 0);
}

async fn writes_that_worked_but_answered_with_an_error_are_recognised_on_retry<D: Driver>(d: D) {
    d.kube().set_fault(KubeFault::FailAfter);
    let grant = d.requests(Alice, "edit orders 30m deploy hotfix").await;
    d.next_audit().await;
    d.clicks(Bob, "approve", &grant).await;

    // The first create worked but answered 500; the retry meets this grant's own binding.
    d.let_retry_fall_due(&grant, 1).await;
    let activated = d.next_audit().await;
    assert!(activated.contains("Access granted"), "{activated}");
    assert_eq!(d.kube().calls_of("POST").len(), 2);
    assert_eq!(d.kube().binding_count(), 1);

    // At expiry the delete works but answers 500; the retry finds it gone and counts it done.
    d.clock().advance(Duration::minutes(30));
    d.kube()
        .wait_until("the delete was tried", |k| !k.calls_of("DELETE").is_empty())
        .await;
    assert_eq!(d.kube().binding_count(), 0);
    d.kube().set_fault(KubeFault::None);
    d.let_retry_fall_due(&grant, 1).await;
    let expired = d.next_audit().await;
    assert!(expired.contains("expired and was removed"), "{expired}");
    assert_eq!(d.kube().calls_of("DELETE").len(), 2);
}

crate::on_both_platforms!(
    a_binding_the_cluster_refuses_fails_visibly_and_leaves_nothing_behind,
    writes_that_worked_but_answered_with_an_error_are_recognised_on_retry,
);
