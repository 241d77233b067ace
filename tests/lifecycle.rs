//! The rest of a grant's life: N-of-M approvals, timeouts, subcommands, reminders, extensions,
//! and revocation that nothing in chat can hold up.

use crate::support;

use chrono::Duration;
use support::*;

/// alice's grant, approved by bob, active, and alice told so.
async fn active_grant(h: &Harness, text: &str) -> String {
    let grant = h.approved_grant(text).await;
    h.next_dm(ALICE).await; // approved
    grant
}

fn binding(h: &Harness, grant: &str) -> Option<serde_json::Value> {
    h.kube.grant_binding("payments", grant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_two_approvals_are_counted_on_the_message_before_access_is_granted() {
    let h = Harness::start().await;
    h.answer_saying(
        ALICE,
        "admin payments 30m restart pods",
        "needs a ticket in the reason, matching `INC-[0-9]+`",
    )
    .await;

    let grant = h
        .requested_grant("admin payments 30m INC-9 restart pods")
        .await;

    h.click(BOB, "approve", &grant).await;
    let recorded = h.next_audit().await;
    assert_says(&recorded, "<@U0BOB> approved admin");
    assert_says(&recorded, "(1 of 2)");
    h.slack.next_call("chat.update").await;
    let text = all_text(&h.approval_message(&grant));
    assert!(text.contains("1 of 2 approvals: <@U0BOB>"), "{text}");
    assert!(button_value(&h.approval_message(&grant), "approve").is_some());
    assert_eq!(h.kube.binding_count(), 0, "one approval is not enough");

    h.click(BOB, "approve", &grant).await;
    let again = h.slack.next_call("chat.postEphemeral").await;
    assert_says(&again, "already approved");

    h.click(CAROL, "approve", &grant).await;
    let activated = h.next_audit().await;
    assert_says(&activated, "approved by <@U0BOB>, <@U0CAROL>");
    assert_eq!(
        binding(&h, &grant).unwrap()["metadata"]["annotations"]["prod-access/approvers"],
        "U0BOB,U0CAROL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreviewed_request_times_out_and_the_requester_is_told() {
    let h = Harness::start().await;
    let grant = h.requested_grant("edit payments 1h INC-1").await;
    h.clock.advance(Duration::minutes(60));
    let timed_out = h.next_audit().await;
    assert_says(&timed_out, "timed out unreviewed");
    let told = h.next_dm(ALICE).await;
    assert_says(&told, "Nobody reviewed your request");
    h.slack.next_call("chat.update").await;
    let message = h.approval_message(&grant);
    assert!(all_text(&message).contains("Timed out"));
    assert_eq!(button_value(&message, "approve"), None);

    h.click(BOB, "approve", &grant).await;
    let late = h.slack.next_call("chat.postEphemeral").await;
    assert_says(&late, "is timed out; nothing was changed");
    assert!(
        h.kube.calls().iter().all(|c| c.method == "GET"),
        "nothing was written to the cluster (the reconciler only lists)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_duration_is_the_roles_default() {
    let h = Harness::start().await;
    let grant = active_grant(&h, "edit payments INC-7 look at the queue").await;
    let annotations = &binding(&h, &grant).unwrap()["metadata"]["annotations"];
    assert_eq!(
        annotations["prod-access/expires-at"],
        "2026-11-23T10:00:00Z"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_status_and_cancel_answer_the_requester_and_the_approvers() {
    let h = Harness::start().await;
    let pending = h.requested_grant("edit orders 1h INC-2 reindex").await;
    let active = active_grant(&h, "view payments 2h INC-3 read logs").await;

    let text = h
        .answer_saying(
            ALICE,
            "list",
            &format!("`{active}` *view* in `payments` — active until"),
        )
        .await;
    assert!(
        text.contains(&format!(
            "`{pending}` *edit* in `orders` — waiting for approval (0 of 1)"
        )),
        "{text}"
    );
    assert!(!text.contains("Waiting for you"), "{text}");

    let text = h
        .answer_saying(
            BOB,
            "list",
            &format!("*Waiting for you*\n• `{pending}` <@U0ALICE> wants *edit*"),
        )
        .await;
    assert!(!text.contains(&active), "{text}");

    let (_, status) = h.slash(BOB, &format!("status {active}")).await;
    assert!(
        status["text"]
            .as_str()
            .unwrap()
            .contains("State: *active*, until"),
        "{status}"
    );

    h.answer_saying(BOB, &format!("cancel {pending}"), "Only <@U0ALICE>")
        .await;
    let (_, cancelled) = h.slash(ALICE, &format!("cancel {pending}")).await;
    assert!(
        cancelled["text"].as_str().unwrap().contains("cancelled"),
        "{cancelled}"
    );
    let audit = h.next_audit().await;
    assert_says(&audit, "cancelled their request");
    h.answer_saying(
        ALICE,
        &format!("cancel {pending}"),
        "is cancelled; nothing was changed",
    )
    .await;
    h.answer_saying(ALICE, "status nope", "There is no request `nope`")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_revokes_at_once_and_the_requester_is_told() {
    let h = Harness::start().await;
    let grant = active_grant(&h, "edit payments 2h INC-4").await;

    // Mallory is neither requester, approver nor auditor: to her the grant does not exist.
    h.answer_saying(MALLORY, &format!("revoke {grant}"), "There is no request")
        .await;
    assert!(binding(&h, &grant).is_some());

    let (_, revoked) = h.slash(CAROL, &format!("revoke {grant}")).await;
    assert!(
        revoked["text"]
            .as_str()
            .unwrap()
            .contains("Revoking access"),
        "{revoked}"
    );
    let audit = h.next_audit().await;
    assert_says(&audit, "<@U0CAROL> revoked the access of <@U0ALICE>");
    assert!(binding(&h, &grant).is_none(), "gone before it is announced");
    let told = h.next_dm(ALICE).await;
    assert_says(&told, "<@U0CAROL> revoked your access");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reminder_offers_an_extension_that_needs_approval_again() {
    let h = Harness::start().await;
    let grant = active_grant(&h, "edit payments 2h INC-5").await;

    // Ten minutes before expiry alice gets Extend and Drop now buttons.
    h.clock.advance(Duration::minutes(110));
    let reminder = h.next_dm(ALICE).await;
    assert_eq!(
        button_value(&reminder.params, "extend").as_deref(),
        Some(grant.as_str())
    );
    assert_eq!(
        button_value(&reminder.params, "drop").as_deref(),
        Some(grant.as_str())
    );

    h.click(ALICE, "extend", &grant).await;
    let asked = h
        .slack
        .next_matching("extension message", |c| {
            c.method == "chat.postMessage" && button_value(&c.params, "approve_extension").is_some()
        })
        .await;
    assert_says(&asked, "asks to extend *edit* in `payments` by *1h*");

    h.click(ALICE, "approve_extension", &grant).await;
    let own = h.slack.next_call("chat.postEphemeral").await;
    assert_says(&own, "your own request");

    h.click(BOB, "approve_extension", &grant).await;
    let extended = h.next_dm(ALICE).await;
    assert_says(&extended, "was extended by 1h");
    assert_says(&extended, "2026-11-23T12:00:00Z");
    let annotations = &binding(&h, &grant).unwrap()["metadata"]["annotations"];
    assert_eq!(
        annotations["prod-access/expires-at"],
        "2026-11-23T12:00:00Z"
    );
    assert_eq!(h.kube.calls_of("PATCH").len(), 1);

    // The old expiry passes and nothing happens; the new one revokes.
    h.clock.advance(Duration::minutes(15));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(binding(&h, &grant).is_some());
    h.clock.advance(Duration::minutes(45));
    let second_reminder = h.next_dm(ALICE).await;
    assert_says(&second_reminder, "2026-11-23T12:00:00Z");
    h.clock.advance(Duration::minutes(10));
    h.audit_call_saying("expired and was removed").await;
    assert!(binding(&h, &grant).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extensions_never_go_past_the_roles_maximum() {
    let h = Harness::start().await;
    let grant = active_grant(&h, "edit payments 3h INC-6").await;
    let text = h
        .answer_saying(ALICE, &format!("extend {grant} 2h"), "at most 4h in all")
        .await;
    assert!(text.contains("can be extended by at most 1h"), "{text}");
    h.answer_saying(ALICE, &format!("extend {grant} 1h"), "Asked to extend")
        .await;
    h.answer_saying(ALICE, &format!("extend {grant} 30m"), "already waiting")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_now_from_the_reminder_revokes_without_a_dm_to_oneself() {
    let h = Harness::start().await;
    let grant = active_grant(&h, "edit payments 1h INC-8").await;
    h.click(ALICE, "drop", &grant).await;
    let audit = h.next_audit().await;
    assert_says(&audit, "<@U0ALICE> revoked the access of <@U0ALICE>");
    assert!(binding(&h, &grant).is_none());
    assert_eq!(
        h.slack
            .calls("chat.postMessage")
            .iter()
            .filter(|c| c.is_dm())
            .count(),
        1,
        "only the approval DM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_is_never_held_up_by_chat_that_keeps_failing() {
    let h = Harness::start().await;
    let grant = active_grant(&h, "edit payments 1h INC-10").await;
    // Someone deleted the approval message and removed the bot from the audit channel.
    h.slack.fail_always("chat.update", "message_not_found");
    h.slack.leave_channel(AUDIT);
    h.slack.fail_always("conversations.open", "internal_error");

    h.clock.advance(Duration::hours(1));
    h.kube.until_unbound().await;
    assert!(binding(&h, &grant).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvers_named_by_user_group_or_email_are_looked_up_at_each_click() {
    let h = Harness::start().await;
    let grant = h.requested_grant("debug orders 30m").await;
    assert_eq!(
        h.approval_post(&grant).param("channel"),
        ONCALL_CHANNEL,
        "the role's own channel"
    );

    // Bob is a default approver, but this role names its own: the on-call group and dana.
    h.click(BOB, "approve", &grant).await;
    let refused = h.slack.next_call("chat.postEphemeral").await;
    assert_says(&refused, "Approvers: <!subteam^S0ONCALL>, dana@example.com");

    // Erin leaves the on-call group before she clicks: the group is looked up at the click.
    h.slack.set_usergroup(ONCALL, &[MALLORY]);
    h.click(ERIN, "approve", &grant).await;
    let refused = h.slack.next_call("chat.postEphemeral").await;
    assert_eq!(refused.param("user"), ERIN);
    assert_says(&refused, "not an approver");

    // dana is found by her email.
    h.click(DANA, "approve", &grant).await;
    let activated = h.next_audit().await;
    assert_says(&activated, "approved by <@U0DANA>");
    assert!(!h.slack.calls("users.lookupByEmail").is_empty());
    assert!(!h.slack.calls("usergroups.users.list").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_slack_cannot_say_who_is_in_the_group_nobody_from_it_may_approve() {
    let h = Harness::start().await;
    let grant = h.requested_grant("debug orders 30m").await;
    h.slack
        .fail_always("usergroups.users.list", "internal_error");
    h.click(ERIN, "approve", &grant).await;
    let refused = h.slack.next_call("chat.postEphemeral").await;
    assert_says(&refused, "not an approver");
    assert!(h.kube.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_extensions_offers_only_drop_now() {
    let h = Harness::start().await;
    let grant = active_grant(&h, "view payments 1h INC-11").await;
    h.answer_saying(
        ALICE,
        &format!("extend {grant} 30m"),
        "Role *view* cannot be extended",
    )
    .await;
    h.clock.advance(Duration::minutes(50));
    let reminder = h.next_dm(ALICE).await;
    assert_eq!(button_value(&reminder.params, "extend"), None);
    assert!(button_value(&reminder.params, "drop").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_refuses_to_move_the_expiry_annotation_still_gets_the_binding_removed() {
    let h = Harness::start().await;
    h.kube.forbid("PATCH");
    let grant = active_grant(&h, "edit payments 1h INC-12").await;
    h.answer_saying(ALICE, &format!("extend {grant} 30m"), "Asked to extend")
        .await;
    h.click(BOB, "approve_extension", &grant).await;
    let extended = h.next_dm(ALICE).await;
    assert_says(&extended, "was extended by 30m");
    assert_eq!(
        h.kube.calls_of("PATCH").len(),
        1,
        "refused once, then dropped"
    );

    h.clock.advance(Duration::minutes(90));
    h.kube.until_unbound().await;
    assert!(binding(&h, &grant).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_table_names_the_user_and_groups_without_an_email() {
    let h = Harness::start().await;
    // Dana's profile has no email: the table alone must be enough for the binding (her profile
    // is still read, to refuse a bot, guest or deactivated account).
    h.slack
        .update_user(DANA, serde_json::json!({ "profile": { "email": null } }));
    let grant = h.request(DANA, "edit orders 30m INC-13").await;
    h.next_audit().await;
    h.click(BOB, "approve", &grant).await;
    assert_says(
        &h.next_audit().await,
        "Access granted to <@U0DANA> as `dana`",
    );
    let binding = h.kube.grant_binding("orders", &grant).unwrap();
    assert_eq!(
        binding["subjects"],
        serde_json::json!([
            { "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dana" },
            { "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "oidc:orders-oncall" }
        ])
    );
}
