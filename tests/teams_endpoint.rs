//! `POST /teams/messages` refuses what the Bot Framework did not send, or sent for another
//! tenant, and changes nothing for it.

use crate::support;

use prod_access::clock::Clock;
use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_bot_framework_token_are_401_and_change_nothing() {
    let h = TeamsHarness::start().await;
    let mut activity = h.activity(T_ALICE, ALICE_CHAT, "message");
    activity["text"] = json!("edit payments 2h sneaky");

    let none = reqwest::Client::new()
        .post(h.url("/teams/messages"))
        .json(&activity)
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    let garbage = h.deliver(&activity, Some("Bearer not.a.jwt".into())).await;
    assert_eq!(garbage.status(), 401);
    // A token the fake signed for another bot.
    let other_bot = h
        .teams
        .authorization_for(h.clock.now(), "11111111-2222-3333-4444-555555555555");
    assert_eq!(h.deliver(&activity, Some(other_bot)).await.status(), 401);
    // A genuine token, but the activity claims another service URL than the token was for.
    let mut elsewhere = activity.clone();
    elsewhere["serviceUrl"] = json!("https://smba.trafficmanager.net/emea/");
    assert_eq!(h.deliver(&elsewhere, None).await.status(), 401);

    assert!(h.teams.activities().is_empty(), "nothing was sent");
    assert_eq!(h.teams.member_lookups(), 0, "nobody was looked up");
    assert_eq!(h.kube.binding_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_no_activity_is_400_and_another_tenant_is_403() {
    let h = TeamsHarness::start().await;
    let client = reqwest::Client::new();
    let malformed = client
        .post(h.url("/teams/messages"))
        .header("authorization", h.teams.authorization(h.clock.now()))
        .header("content-type", "application/json")
        .body("{\"type\": \"message\", \"from\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);

    let mut foreign = h.activity(T_ALICE, ALICE_CHAT, "message");
    foreign["text"] = json!("edit payments 2h from another company");
    foreign["conversation"]["tenantId"] = json!("00000000-0000-0000-0000-0000000e71e5");
    foreign["channelData"]["tenant"]["id"] = json!("00000000-0000-0000-0000-0000000e71e5");
    assert_eq!(h.deliver(&foreign, None).await.status(), 403);
    assert!(h.teams.activities().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_activities_are_acknowledged_and_ignored() {
    let h = TeamsHarness::start().await;
    let update = h.activity(T_ALICE, T_APPROVALS, "conversationUpdate");
    assert_eq!(h.deliver(&update, None).await.status(), 200);
    let (status, answer) = h.click(T_BOB, "launch_missiles", "abc123").await;
    assert_eq!(status, 200);
    assert_eq!(answer["statusCode"], 400);
    assert_eq!(answer["type"], "application/vnd.microsoft.error");
    assert!(h.teams.activities().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_teams_may_speak_and_guests_of_other_tenants_are_nobody() {
    let h = TeamsHarness::start().await;
    // Web Chat / Direct Line activities carry a genuine token but let the client say who it is.
    let mut webchat = h.activity(T_BOB, ALICE_CHAT, "message");
    webchat["channelId"] = json!("webchat");
    webchat["text"] = json!("list");
    // (Refused by the key's endorsements already, and by the channel check if a key were
    // endorsed for both.)
    let status = h.deliver(&webchat, None).await.status().as_u16();
    assert!([401, 403].contains(&status), "{status}");
    assert!(h.teams.activities().is_empty());

    // A guest whose address is an approver's cannot approve as them.
    h.teams
        .add_guest("29:1guest-bob", "Not Bob", "bob@example.com");
    h.say(T_ALICE, ALICE_CHAT, "edit payments 1h INC-5 restart")
        .await;
    let grant = loop {
        if let Some((_, card)) = h.teams.conversation(T_APPROVALS).first() {
            break card_actions(card)[0].1.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let (_, answer) = h.click("29:1guest-bob", "approve", &grant).await;
    assert_eq!(
        answer["type"], "application/vnd.microsoft.activity.message",
        "{answer}"
    );
    assert_eq!(h.kube.binding_count(), 0);
}
