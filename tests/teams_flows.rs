//! What only Teams has: answers to a channel go to the asker's own chat, and the directory
//! decides who is a person of ours.

use crate::support;

use support::*;

async fn wait_for_card(h: &TeamsHarness) {
    for _ in 0..500 {
        if !h.teams.conversation(T_APPROVALS).is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no approval card");
}

/// Teams has no ephemeral answers: what the bot tells one person about a request typed in a
/// channel goes to their 1:1 chat with it. (The denial and refusals are stories run on both
/// platforms: story.rs, refusals.rs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_typed_in_a_channel_is_confirmed_in_the_requesters_own_chat() {
    let h = TeamsHarness::start().await;
    let status = h
        .say(
            T_ALICE,
            T_APPROVALS,
            "<at>prod-access</at> edit orders 1h checking a refund",
        )
        .await;
    assert_eq!(status, 200);
    wait_for_card(&h).await;
    let confirmation = h.next_in(&personal_chat(T_ALICE), 0).await;
    assert!(confirmation.contains("sent for approval"), "{confirmation}");
    assert!(
        h.teams
            .conversation(T_APPROVALS)
            .iter()
            .all(|(_, a)| !activity_text(a).contains("sent for approval")),
        "nothing private in the channel"
    );
}

/// Slack opens a form for the bare command; Teams has none, so the bot says how to ask.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bare_command_explains_how_to_ask() {
    let h = TeamsHarness::start().await;
    assert_eq!(
        h.say(T_ALICE, ALICE_CHAT, "<at>prod-access</at>").await,
        200
    );
    let bare = h.next_in(ALICE_CHAT, 0).await;
    for says in [
        "Teams has no request form",
        "Usage:",
        "Allowed: edit in payments",
    ] {
        assert!(bare.contains(says), "{says:?} in {bare}");
    }
    assert!(h.teams.conversation(T_APPROVALS).is_empty());
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
