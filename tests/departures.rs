//! People who leave take no access with them: alice holds edit on payments; her Slack account is
//! deactivated (or turned guest, or she is removed from the Teams team) and the binding is gone,
//! her open requests withdrawn, and the audit log says why — from the platform's event, or from
//! the periodic check when the event was missed.

use crate::support;

use chrono::Duration;
use serde_json::json;
use support::*;

/// alice's active grant of edit on payments, approved by bob; returns its id.
async fn alice_holds_edit(h: &Harness) -> String {
    let grant = h.request(ALICE, "edit payments 2h INC-3 stuck queue").await;
    h.click(BOB, "approve", &grant).await;
    h.kube.until_bound().await;
    grant
}

async fn the_audit_log_says_why(h: &mut Harness, grant: &str, why: &str) {
    let entries = h.stopped_audit_log().await;
    let gone = entries
        .iter()
        .find(|e| {
            e.event.kind.as_str() == "requester_gone" && e.event.grant.as_deref() == Some(grant)
        })
        .unwrap_or_else(|| panic!("no requester_gone entry for {grant}"));
    assert_eq!(gone.event.detail.as_deref(), Some(why));
    assert!(
        gone.event.actor.is_none(),
        "prod-access ended it, nobody revoked it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_slack_account_loses_its_access_at_once() {
    let mut h = Harness::start().await;
    let active = alice_holds_edit(&h).await;
    let waiting = h.request(ALICE, "view payments 1h INC-3 look around").await;

    h.slack.update_user(ALICE, json!({ "deleted": true }));
    assert_eq!(h.send_event(user_change(h.slack.user(ALICE))).await, 200);
    h.kube.until_unbound().await;
    let told = h
        .audit_saying(&active, "account was deactivated: access ended")
        .await;
    assert_says(&told, "The binding was removed.");
    h.audit_saying(&waiting, "account was deactivated: request withdrawn")
        .await;
    let message = all_text(&h.approval_message(&active));
    assert!(message.contains("account was deactivated."), "{message}");
    assert_eq!(button_value(&h.approval_message(&waiting), "approve"), None);
    the_audit_log_says_why(
        &mut h,
        &active,
        "the requester's chat account was deactivated",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_turned_guest_over_socket_mode_is_told_its_access_ended() {
    let h = Harness::start_in(Mode::Socket).await;
    let grant = alice_holds_edit(&h).await;
    h.slack.update_user(ALICE, json!({ "is_restricted": true }));
    h.send_event(user_change(h.slack.user(ALICE))).await;
    h.kube.until_unbound().await;
    h.audit_saying(&grant, "account became a guest account")
        .await;
    let dm = h
        .slack
        .next_matching("the guest's DM", |c| {
            c.is_dm() && c.text().contains("Your account became a guest account")
        })
        .await;
    assert_eq!(dm.param("channel"), format!("D{ALICE}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_change_of_a_member_changes_nothing() {
    let h = Harness::start().await;
    let grant = alice_holds_edit(&h).await;
    h.slack
        .update_user(ALICE, json!({ "profile": { "title": "SRE" } }));
    h.send_event(user_change(h.slack.user(ALICE))).await;
    h.settle().await;
    assert!(h.kube.grant_binding("payments", &grant).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_check_ends_access_of_an_account_deactivated_without_an_event() {
    let mut h = Harness::start().await;
    let grant = alice_holds_edit(&h).await;
    // The event was lost (the bot was down, Slack gave up retrying).
    h.slack.update_user(ALICE, json!({ "deleted": true }));
    h.clock.advance(Duration::seconds(61));
    h.kube.until_unbound().await;
    h.audit_saying(&grant, "account was deactivated: access ended")
        .await;
    let lookups = h.slack.calls("users.info");
    assert!(lookups.iter().any(|c| c.param("user") == ALICE));
    the_audit_log_says_why(
        &mut h,
        &grant,
        "the requester's chat account was deactivated",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_check_leaves_access_alone_when_slack_cannot_answer() {
    let h = Harness::start().await;
    let grant = alice_holds_edit(&h).await;
    h.slack.fail_always("users.info", "internal_error");
    h.clock.advance(Duration::seconds(61));
    h.slack
        .next_matching("the periodic lookup", |c| c.method == "users.info")
        .await;
    h.settle().await;
    assert!(
        h.kube.grant_binding("payments", &grant).is_some(),
        "an outage is not a departure"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_removed_from_the_teams_team_loses_their_access() {
    let mut h = TeamsHarness::start().await;
    h.say(
        T_ALICE,
        ALICE_CHAT,
        "<at>prod-access</at> edit payments 2h fixing stuck queue",
    )
    .await;
    let card = h.showing(T_APPROVALS, "fixing stuck queue").await;
    let grant = card_actions(&card)[0].1.clone();
    h.click(T_BOB, "approve", &grant).await;
    h.kube.until_bound().await;

    h.teams.remove_member(T_ALICE);
    let mut removed = h.activity(T_BOB, T_TEAM, "conversationUpdate");
    removed["membersRemoved"] = json!([{ "id": T_ALICE, "aadObjectId": "aad-Alice" }]);
    removed["channelData"]["eventType"] = json!("teamMemberRemoved");
    assert_eq!(h.deliver(&removed, None).await.status(), 200);
    h.kube.until_unbound().await;
    h.showing(T_AUDIT, "was removed from the team: access ended")
        .await;
    let entries = h.stopped_audit_log().await;
    assert!(
        entries
            .iter()
            .any(|e| e.event.kind.as_str() == "requester_gone"
                && e.event.detail.as_deref()
                    == Some("the requester was removed from the team the bot serves"))
    );
}
