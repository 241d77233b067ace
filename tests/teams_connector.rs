//! How the bot talks to Teams: a client-credentials token, kept and renewed; activities sent,
//! updated in place and replied to on the conversation's service URL; a 1:1 conversation opened
//! for a direct message; failures told apart as Slack's are.

use crate::support;

use axum::http::StatusCode;
use prod_access::chat::ChatError;
use prod_access::clock::ManualClock;
use prod_access::teams::connector::{Connector, Credentials};
use serde_json::json;
use support::fake_teams::*;
use support::*;

const CHANNEL: &str = "19:approvals@thread.tacv2";

async fn setup(password: &str) -> (FakeTeams, std::sync::Arc<ManualClock>, Connector) {
    init();
    let teams = FakeTeams::start().await;
    teams.add_conversation(CHANNEL);
    let clock = ManualClock::new(t0());
    let credentials = Credentials {
        app_id: TEAMS_APP_ID.into(),
        app_password: password.into(),
        token_url: teams.token_url(),
    };
    let connector = Connector::new(credentials, clock.clone()).unwrap();
    (teams, clock, connector)
}

fn card(text: &str) -> serde_json::Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": { "type": "AdaptiveCard", "version": "1.4", "body": [{ "type": "TextBlock", "text": text }] }
        }]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_is_posted_edited_in_place_and_replied_to_with_one_token() {
    let (teams, _, connector) = setup(TEAMS_APP_PASSWORD).await;
    let posted = connector
        .send(&teams.service_url(), CHANNEL, &card("alice requests edit"))
        .await
        .unwrap();
    assert_eq!(posted.conversation_id, CHANNEL);
    connector
        .update(&posted, &card("approved by bob"))
        .await
        .unwrap();
    let stored = teams.activity(CHANNEL, &posted.activity_id).unwrap();
    assert_eq!(
        stored["attachments"][0]["content"]["body"][0]["text"],
        "approved by bob"
    );
    assert_eq!(stored["id"], posted.activity_id.as_str());
    let reply = connector
        .reply(&posted, &card("access granted"))
        .await
        .unwrap();
    assert_ne!(reply.activity_id, posted.activity_id);
    let methods: Vec<_> = teams.activities().iter().map(|a| a.method).collect();
    assert_eq!(methods, ["send", "update", "reply"]);
    assert_eq!(
        teams.activities()[2].body["replyToId"],
        posted.activity_id.as_str()
    );
    assert_eq!(teams.tokens_issued(), 1, "the token is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_renewed_before_it_expires_and_when_teams_stops_taking_it() {
    let (teams, clock, connector) = setup(TEAMS_APP_PASSWORD).await;
    let service = teams.service_url();
    connector.send(&service, CHANNEL, &card("1")).await.unwrap();
    clock.advance(chrono::Duration::minutes(50));
    connector.send(&service, CHANNEL, &card("2")).await.unwrap();
    assert_eq!(teams.tokens_issued(), 1);
    clock.advance(chrono::Duration::minutes(5));
    connector.send(&service, CHANNEL, &card("3")).await.unwrap();
    assert_eq!(
        teams.tokens_issued(),
        2,
        "renewed five minutes before its hour is up"
    );
    teams.revoke_tokens();
    connector.send(&service, CHANNEL, &card("4")).await.unwrap();
    assert_eq!(teams.tokens_issued(), 3, "a 401 fetches a fresh token once");
    assert_eq!(teams.activities().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_opens_the_personal_conversation_first() {
    let (teams, _, connector) = setup(TEAMS_APP_PASSWORD).await;
    let service = teams.service_url();
    let user = "29:1alice-aad-object";
    let conversation = connector
        .open_personal(&service, TENANT, user)
        .await
        .unwrap();
    let sent = connector
        .send(&service, &conversation, &card("your access is active"))
        .await
        .unwrap();
    assert!(teams.activity(&conversation, &sent.activity_id).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_that_may_pass_are_told_from_those_that_will_not() {
    let (teams, _, connector) = setup(TEAMS_APP_PASSWORD).await;
    let service = teams.service_url();
    teams.fail_next(StatusCode::TOO_MANY_REQUESTS);
    assert!(matches!(
        connector.send(&service, CHANNEL, &card("x")).await,
        Err(ChatError::Unavailable(_))
    ));
    teams.fail_next(StatusCode::BAD_GATEWAY);
    assert!(matches!(
        connector.send(&service, CHANNEL, &card("x")).await,
        Err(ChatError::Unavailable(_))
    ));
    let missing = connector
        .send(&service, "19:gone@thread.tacv2", &card("x"))
        .await;
    assert!(
        matches!(&missing, Err(ChatError::Refused(e)) if e.contains("404")),
        "{missing:?}"
    );
    assert!(teams.activities().is_empty());

    let (teams, _, wrong) = setup("not the password").await;
    let refused = wrong.send(&teams.service_url(), CHANNEL, &card("x")).await;
    let Err(ChatError::Refused(text)) = refused else {
        panic!("{refused:?}");
    };
    assert!(
        !text.contains("not the password"),
        "the secret never appears: {text}"
    );
}
