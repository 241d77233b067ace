//! The user's story in Microsoft Teams, end to end over real HTTP: a request typed to the bot →
//! an Adaptive Card approval → RoleBinding → expiry → a second grant revoked → the audit log.

mod support;

use chrono::Duration;
use serde_json::json;
use support::*;

/// The grant id on the newest approval card.
fn newest_card_grant(h: &TeamsHarness) -> String {
    let cards = h.teams.conversation(T_APPROVALS);
    let (_, card) = cards
        .iter()
        .rev()
        .find(|(_, a)| !card_actions(a).is_empty())
        .expect("an approval card with buttons");
    card_actions(card)[0].1.clone()
}

async fn wait_for_card_with_buttons(h: &TeamsHarness, cards_before: usize) -> String {
    for _ in 0..500 {
        let cards = h.teams.conversation(T_APPROVALS);
        if cards.len() > cards_before && cards.iter().any(|(_, a)| !card_actions(a).is_empty()) {
            return newest_card_grant(h);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no approval card was posted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_gets_edit_on_payments_in_teams_and_loses_it_at_expiry() {
    let mut h = TeamsHarness::start().await;

    // alice asks the bot in her chat with it, @mention and all
    let status = h
        .say(
            T_ALICE,
            ALICE_CHAT,
            "<at>prod-access</at> edit payments 2h fixing stuck queue",
        )
        .await;
    assert_eq!(status, 200);
    let received = h.next_in(ALICE_CHAT, 0).await;
    assert!(received.contains("sent for approval"), "{received}");
    let grant = wait_for_card_with_buttons(&h, 0).await;
    let binding_name = format!("prod-access-{grant}");
    let card = h.teams.conversation(T_APPROVALS)[0].1.clone();
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let verbs: Vec<String> = card_actions(&card).into_iter().map(|(v, _)| v).collect();
    assert_eq!(verbs, ["approve", "deny"]);
    let text = activity_text(&card);
    assert!(text.contains("alice@example.com"), "{text}");
    assert!(text.contains("fixing stuck queue"), "{text}");
    let requested = h.next_in(T_AUDIT, 0).await;
    assert!(
        requested.contains("alice@example.com requested"),
        "{requested}"
    );
    assert_eq!(
        h.kube.binding_count(),
        0,
        "nothing is bound before approval"
    );

    // alice cannot approve her own request: the refusal is a message to her, nothing changes
    let (status, answer) = h.click(T_ALICE, "approve", &grant).await;
    assert_eq!(status, 200);
    assert_eq!(answer["type"], "application/vnd.microsoft.activity.message");
    assert!(
        answer["value"].as_str().unwrap().contains("own"),
        "{answer}"
    );

    // bob approves ten minutes later: the card he sees is the refreshed one
    h.clock.advance(Duration::minutes(10));
    let (status, answer) = h.click(T_BOB, "approve", &grant).await;
    assert_eq!(status, 200);
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["type"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(answer["value"]["type"], "AdaptiveCard");
    assert!(
        card_actions(&answer["value"]).is_empty(),
        "no buttons once approved: {answer}"
    );
    assert!(
        activity_text(&json!({ "attachments": [answer["value"]] })).contains("bob@example.com"),
        "{answer}"
    );

    // the RoleBinding names alice by her email, with the prefix
    h.kube
        .wait_until("binding created", |k| {
            k.binding("payments", &binding_name).is_some()
        })
        .await;
    let binding = h.kube.binding("payments", &binding_name).unwrap();
    assert_eq!(
        binding["subjects"],
        json!([{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "oidc:alice@example.com" }])
    );
    assert_eq!(binding["roleRef"]["name"], "edit");
    assert_eq!(
        binding["metadata"]["annotations"]["prod-access/expires-at"],
        "2026-11-23T11:10:00Z"
    );

    // everyone sees the card updated in place; alice is told in her 1:1 chat with the bot
    let card = h
        .card_showing(&grant, |t| t.contains("Active until 2026-11-23 11:10 UTC"))
        .await;
    assert!(card_actions(&card).is_empty());
    let alice_dm = personal_chat(T_ALICE);
    let told = h.next_in(&alice_dm, 0).await;
    assert!(told.contains("active until 2026-11-23 11:10 UTC"), "{told}");
    let granted = h.next_in(T_AUDIT, 1).await;
    assert!(
        granted.contains("Access granted to alice@example.com as `oidc:alice@example.com`"),
        "{granted}"
    );
    assert!(granted.contains("approved by bob@example.com"), "{granted}");

    // the clock passes expiry: the binding is gone, the card and the audit channel say so
    let reminder = {
        h.clock.advance(Duration::hours(2) - Duration::minutes(10));
        h.next_in(&alice_dm, 1).await
    };
    assert!(reminder.contains("expires"), "{reminder}");
    let reminder_card = &h.teams.conversation(&alice_dm)[1].1;
    let verbs: Vec<String> = card_actions(reminder_card)
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert!(verbs.contains(&"drop".to_string()), "{verbs:?}");
    h.clock.advance(Duration::minutes(10));
    h.kube
        .wait_until("binding removed", |k| {
            k.binding("payments", &binding_name).is_none()
        })
        .await;
    assert_eq!(h.kube.calls_of("DELETE").len(), 1);
    let expired = h.next_in(T_AUDIT, 2).await;
    assert!(expired.contains("expired and was removed"), "{expired}");
    h.card_showing(&grant, |t| t.contains("Expired")).await;

    // the next day she gets it again and gives it back early with a typed subcommand
    h.clock.advance(Duration::hours(20));
    let cards_before = h.teams.conversation(T_APPROVALS).len();
    h.say(
        T_ALICE,
        ALICE_CHAT,
        "prod-access edit payments 1h follow-up",
    )
    .await;
    let again = wait_for_card_with_buttons(&h, cards_before).await;
    assert_ne!(again, grant);
    h.next_in(T_AUDIT, 3).await;
    let (_, answer) = h.click(T_CAROL, "approve", &again).await;
    assert_eq!(
        answer["type"], "application/vnd.microsoft.card.adaptive",
        "{answer}"
    );
    let again_binding = format!("prod-access-{again}");
    h.kube
        .wait_until("second binding", |k| {
            k.binding("payments", &again_binding).is_some()
        })
        .await;
    h.next_in(T_AUDIT, 4).await;
    let replies_before = h.teams.conversation(ALICE_CHAT).len();
    assert_eq!(
        h.say(T_ALICE, ALICE_CHAT, &format!("revoke {again}")).await,
        200
    );
    let done = h.next_in(ALICE_CHAT, replies_before).await;
    assert!(done.contains(&again), "{done}");
    h.kube
        .wait_until("second binding removed", |k| {
            k.binding("payments", &again_binding).is_none()
        })
        .await;
    let revoked = h.next_in(T_AUDIT, 5).await;
    assert!(
        revoked.contains("alice@example.com revoked the access of alice@example.com"),
        "{revoked}"
    );

    // the audit log holds every step of both grants, chained
    h.stop().await;
    let entries = audit_entries(h.store_path()).await;
    let kinds: Vec<&str> = entries.iter().map(|e| e.event.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "requested",
            "approval",
            "granted",
            "expired",
            "requested",
            "approval",
            "granted",
            "revoked"
        ]
    );
    let first = &entries[0].event;
    assert_eq!(
        first.actor.as_ref().map(|a| a.user.as_str()),
        Some("alice@example.com")
    );
    let (ok, out, err) = audit_command(h.store_path(), &["verify"]);
    assert!(ok, "{out}{err}");
}
