//! Teams beyond the happy path: answers go to the person who asked, refusals change nothing,
//! a denial ends the request.

mod support;

use support::*;

async fn wait_for_card(h: &TeamsHarness) -> String {
    for _ in 0..500 {
        if let Some((_, card)) = h.teams.conversation(T_APPROVALS).first() {
            return card_actions(card)[0].1.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no approval card");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_typed_in_a_channel_is_answered_privately_and_a_denial_ends_it() {
    let h = TeamsHarness::start().await;
    let status = h
        .say(
            T_ALICE,
            T_APPROVALS,
            "<at>prod-access</at> edit orders 1h checking a refund",
        )
        .await;
    assert_eq!(status, 200);
    let grant = wait_for_card(&h).await;
    // The confirmation is in alice's chat with the bot, not in the channel.
    let alice_dm = personal_chat(T_ALICE);
    let confirmation = h.next_in(&alice_dm, 0).await;
    assert!(confirmation.contains("sent for approval"), "{confirmation}");
    assert!(
        h.teams
            .conversation(T_APPROVALS)
            .iter()
            .all(|(_, a)| !activity_text(a).contains("sent for approval")),
        "nothing private in the channel"
    );

    let (_, answer) = h.click(T_BOB, "deny", &grant).await;
    assert_eq!(answer["type"], "application/vnd.microsoft.card.adaptive");
    let card = h
        .card_showing(&grant, |t| t.contains("Denied by bob@example.com"))
        .await;
    assert!(card_actions(&card).is_empty(), "no buttons after a denial");
    let told = h.next_in(&alice_dm, 1).await;
    assert!(told.contains("bob@example.com denied"), "{told}");
    assert_eq!(h.kube.binding_count(), 0);

    // A second click on the decided request is refused, and says why.
    let (_, late) = h.click(T_CAROL, "approve", &grant).await;
    assert_eq!(late["type"], "application/vnd.microsoft.activity.message");
    assert_eq!(h.kube.binding_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_role_is_answered_with_what_is_allowed_and_nothing_is_stored() {
    let h = TeamsHarness::start().await;
    assert_eq!(
        h.say(T_ALICE, ALICE_CHAT, "prod-access admin payments 1h please")
            .await,
        200
    );
    let answer = h.next_in(ALICE_CHAT, 0).await;
    assert!(answer.contains("edit"), "lists the roles: {answer}");
    assert!(!answer.contains("<@"), "no Slack syntax: {answer}");
    assert!(h.teams.conversation(T_APPROVALS).is_empty());
    assert!(h.teams.conversation(T_AUDIT).is_empty());

    // The bare command, and help, explain how to ask.
    h.say(T_ALICE, ALICE_CHAT, "<at>prod-access</at>").await;
    let bare = h.next_in(ALICE_CHAT, 1).await;
    assert!(bare.contains("prod-access"), "{bare}");
    h.say(T_ALICE, ALICE_CHAT, "help").await;
    let help = h.next_in(ALICE_CHAT, 2).await;
    assert!(help.contains("edit") && help.contains("payments"), "{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_teams_knows_no_email_for_is_told_why_and_nothing_is_requested() {
    let h = TeamsHarness::start().await;
    h.teams.add_member_without_email("29:1guest", "Guest");
    assert_eq!(
        h.say("29:1guest", ALICE_CHAT, "edit payments 1h let me in")
            .await,
        200
    );
    let answer = h.next_in(ALICE_CHAT, 0).await;
    assert!(answer.contains("email"), "{answer}");
    assert!(h.teams.conversation(T_APPROVALS).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_listed_in_our_own_tenant_cannot_request() {
    let h = TeamsHarness::start().await;
    // Teams says guest, though the address is on our domain.
    h.teams.add_tenant_guest(
        "29:1b2b",
        "Mallory",
        "mallory@example.com",
        "mallory@example.com",
    );
    // A B2B guest's UPN, whatever Teams says of its role.
    h.teams
        .add_member("29:1ext", "Eve", "eve_gmail.com#EXT#@example.com");
    for (n, sender) in ["29:1b2b", "29:1ext"].into_iter().enumerate() {
        assert_eq!(
            h.say(sender, ALICE_CHAT, "edit payments 1h let me in")
                .await,
            200
        );
        let answer = h.next_in(ALICE_CHAT, n).await;
        assert!(answer.contains("guests"), "{answer}");
    }
    assert!(h.teams.conversation(T_APPROVALS).is_empty());
}
