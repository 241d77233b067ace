//! Hostile input beyond bad signatures: clicks that lie about what they approve, and floods of
//! requests. Each is answered clearly and changes nothing it should not.

use crate::support;

use chrono::{Duration, Utc};
use serde_json::json;
use support::*;

/// A signed click whose payload claims more than its grant id: a message saying `admin`, a
/// button value with a role tacked on.
fn forged_click(user: &str, value: &str) -> String {
    let body = interaction_body(user, "approve", value);
    let payload: String = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "payload")
        .unwrap()
        .1
        .into_owned();
    let mut payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    payload["message"]["text"] = json!("alice requests admin on payments, cluster-wide");
    payload["actions"][0]["text"]["text"] = json!("Approve admin");
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

async fn post_click(h: &Harness, body: String) -> u16 {
    h.post_signed(
        "/slack/interactions",
        body,
        SIGNING_SECRET,
        Utc::now().timestamp(),
    )
    .await
    .status()
    .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_is_decided_from_the_stored_grant_never_from_what_the_payload_claims() {
    let h = Harness::start().await;
    let grant = h.requested_grant("view payments 1h read the logs").await;

    // A value naming a grant that does not exist (here: the real id with a role appended).
    assert_eq!(
        post_click(&h, forged_click(BOB, &format!("{grant}:admin"))).await,
        200
    );
    let refusal = h.slack.next_call("chat.postEphemeral").await;
    assert_eq!(refusal.param("user"), BOB);
    assert!(h.kube.calls().is_empty(), "nothing was bound");

    // The real id with a message that claims admin: bound exactly as stored (view).
    assert_eq!(post_click(&h, forged_click(BOB, &grant)).await, 200);
    h.kube.until_bound().await;
    let binding = h.kube.grant_binding("payments", &grant).unwrap();
    assert_eq!(binding["roleRef"]["name"], "view");
    assert_eq!(h.kube.binding_count(), 1);

    // Someone who may not approve gets nowhere with a well-formed click either.
    let other = h.request(DANA, "edit orders 1h deploy").await;
    assert_eq!(post_click(&h, forged_click(MALLORY, &other)).await, 200);
    let refused = h
        .slack
        .next_matching("mallory's refusal", |c| {
            c.method == "chat.postEphemeral" && c.param("user") == MALLORY
        })
        .await;
    assert!(refused.text().contains("not"), "{}", refused.text());
    assert!(h.kube.grant_binding("orders", &other).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_requests_is_cut_off_per_person_and_says_when_to_try_again() {
    let h = Harness::start().await;
    for n in 0..10 {
        h.request(ALICE, &format!("view payments 1h look {n}"))
            .await;
    }
    let posted = h.slack.calls("chat.postMessage").len();

    let (status, reply) = h.slash(ALICE, "view payments 1h one more").await;
    assert_eq!(status, 200);
    let text = reply["text"].as_str().unwrap();
    assert!(
        text.contains("You have made 10 requests in the last 1h, the most allowed; you can request again <!date^"),
        "{text}"
    );
    assert_eq!(reply["response_type"], "ephemeral");

    // Someone else is not held back; nothing was stored or posted for alice's extra request.
    h.request(DANA, "view payments 1h my own look").await;
    let posts = h.slack.calls("chat.postMessage");
    assert!(posts.len() > posted);
    assert!(
        !posts
            .iter()
            .any(|c| c.params.to_string().contains("one more"))
    );
    let (_, list) = h.slash(ALICE, "list").await;
    assert!(!list.to_string().contains("one more"), "{list}");

    // An hour after the first, alice may ask again.
    h.clock.advance(Duration::hours(1));
    h.request(ALICE, "view payments 1h next hour").await;
}

/// Slack sends one action per click; a signed payload carrying several is not a click.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_with_two_approve_actions_approves_nothing() {
    let h = Harness::start().await;
    let first = h.request(ALICE, "view payments 1h read the logs").await;
    let second = h.request(DANA, "view payments 1h read the logs too").await;
    let mut payload = interaction_payload(BOB, "approve", &first);
    let mut another = payload["actions"][0].clone();
    another["value"] = json!(second);
    payload["actions"].as_array_mut().unwrap().push(another);
    let body = form(&[("payload", &payload.to_string())]);

    assert_eq!(post_click(&h, body).await, 400);
    h.settle().await;
    assert_eq!(h.kube.binding_count(), 0, "nothing was bound");
    for grant in [&first, &second] {
        let (_, status) = h.slash(BOB, &format!("status {grant}")).await;
        let text = status["text"].as_str().unwrap_or_default();
        assert!(text.contains("State: *requested*"), "{text}");
    }
}
