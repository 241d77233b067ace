//! A signed Slack request is taken once. Sent again within Slack's five minutes (by whoever
//! captured it on its way), it is refused with 401 and changes nothing, also after a restart.

use crate::support;

use chrono::Utc;
use support::*;

const REQUEST: &str = "edit payments 2h fixing stuck queue";

fn approval_messages(h: &Harness) -> usize {
    h.slack
        .calls("chat.postMessage")
        .iter()
        .filter(|c| button_value(&c.params, "approve").is_some())
        .count()
}

async fn send(h: &Harness, path: &str, body: &str, signed_at: i64) -> u16 {
    h.post_signed(path, body.to_string(), SIGNING_SECRET, signed_at)
        .await
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_signed_slash_command_sent_twice_creates_one_grant() {
    let h = Harness::start().await;
    let body = command_body(ALICE, REQUEST);
    let signed_at = Utc::now().timestamp();
    assert_eq!(send(&h, "/slack/commands", &body, signed_at).await, 200);
    h.request_posted().await;

    assert_eq!(send(&h, "/slack/commands", &body, signed_at).await, 401);
    h.settle().await;
    assert_eq!(approval_messages(&h), 1);
    // The same words typed again are a new request, with a signature of their own.
    h.request(ALICE, REQUEST).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_approve_click_is_not_acted_on_again() {
    let h = Harness::start().await;
    let grant = h.request(ALICE, REQUEST).await;
    let click = interaction_body(BOB, "approve", &grant);
    let signed_at = Utc::now().timestamp();
    assert_eq!(
        send(&h, "/slack/interactions", &click, signed_at).await,
        200
    );
    h.kube.until_bound().await;
    h.settle().await;
    let (slack_calls, kube_calls) = (h.slack.call_count(), h.kube.calls().len());

    assert_eq!(
        send(&h, "/slack/interactions", &click, signed_at).await,
        401
    );
    h.settle().await;
    assert_eq!(h.slack.call_count(), slack_calls, "nothing was said");
    assert_eq!(h.kube.calls().len(), kube_calls, "nothing was asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_replayed_after_a_restart_is_still_refused() {
    let mut h = Harness::start().await;
    let body = command_body(ALICE, REQUEST);
    let signed_at = Utc::now().timestamp();
    assert_eq!(send(&h, "/slack/commands", &body, signed_at).await, 200);
    h.request_posted().await;
    h.settle().await;

    h.restart().await;
    assert_eq!(send(&h, "/slack/commands", &body, signed_at).await, 401);
    h.settle().await;
    assert_eq!(approval_messages(&h), 1);
}

/// What is older than the signature's five minutes needs no memory: it is refused as stale,
/// which is why the store forgets a signature once its five minutes are over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_signed_more_than_five_minutes_ago_is_refused_as_stale() {
    let h = Harness::start().await;
    let body = command_body(ALICE, REQUEST);
    let signed_at = Utc::now().timestamp() - 301;
    assert_eq!(send(&h, "/slack/commands", &body, signed_at).await, 401);
    h.settle().await;
    assert_eq!(approval_messages(&h), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_event_is_refused() {
    let h = Harness::start().await;
    let body = app_home_opened(ALICE).to_string();
    let signed_at = Utc::now().timestamp();
    let send = || {
        reqwest::Client::new()
            .post(h.url("/slack/events"))
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", signed_at.to_string())
            .header("x-slack-signature", sign(SIGNING_SECRET, signed_at, &body))
            .body(body.clone())
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    h.home_showing(ALICE, |_| true).await;
    assert_eq!(send().await.unwrap().status(), 401);
}
