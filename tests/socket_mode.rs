//! Socket Mode (`SLACK_APP_TOKEN` set): the bot connects to Slack with the app-level token,
//! answers every envelope within Slack's time with what the HTTP endpoints would answer, and
//! serves nothing to Slack over HTTP.

use crate::support;

use chrono::Utc;
use serde_json::{Value, json};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_connects_with_the_app_token_and_serves_no_slack_endpoint() {
    let h = Harness::start_in(Mode::Socket).await;
    let (status, help) = h.slash(ALICE, "help").await;
    assert_eq!(status, 200);
    assert_eq!(help["response_type"], "ephemeral");
    assert!(all_text(&help).contains("edit"), "{help}");
    let opened = h.slack.calls("apps.connections.open");
    assert!(!opened.is_empty());
    assert!(
        opened.iter().all(|c| c.response["ok"] == true
            && c.response["url"]
                .as_str()
                .unwrap()
                .starts_with("ws://127.0.0.1")),
        "{opened:?}"
    );
    assert!(h.slack.socket.open_connections() >= 1);

    // Nothing answers Slack's HTTP requests: there is no signing secret to check them with.
    let response = h
        .post_signed(
            "/slack/commands",
            command_body(ALICE, "help"),
            SIGNING_SECRET,
            Utc::now().timestamp(),
        )
        .await;
    assert_eq!(response.status().as_u16(), 404);
    let health = reqwest::get(h.url("/healthz")).await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_is_answered_in_the_acknowledgement_and_changes_nothing() {
    let h = Harness::start_in(Mode::Socket).await;
    let (_, refused) = h.slash(ALICE, "edit kube-system 2h INC-1 curious").await;
    let text = all_text(&refused);
    assert!(text.contains("kube-system"), "{text}");
    assert!(text.contains("payments"), "says what is allowed: {text}");
    h.settle().await;
    assert!(h.slack.calls("chat.postMessage").is_empty());
    assert!(h.kube.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_form_opens_with_a_bare_acknowledgement_and_its_errors_come_back_in_one() {
    let h = Harness::start_in(Mode::Socket).await;
    let (_, reply) = h.slash(ALICE, "").await;
    assert_eq!(reply, Value::Null, "the form opened; nothing else is said");
    let view = h.slack.next_call("views.open").await.params["view"].clone();

    let bad = form_submission_payload(
        ALICE,
        &view,
        &[
            ("role", "edit"),
            ("namespace", "payments"),
            ("duration", "9h"),
            ("reason", "INC-1 x"),
        ],
    );
    let ack = h.slack.socket.send("interactive", bad, true).await;
    assert_eq!(ack["payload"]["response_action"], "errors", "{ack}");
    let duration_error = ack["payload"]["errors"]["duration"].as_str().unwrap_or("");
    assert!(duration_error.contains("4h"), "{ack}");

    let good = form_submission_payload(
        ALICE,
        &view,
        &[
            ("role", "edit"),
            ("namespace", "payments"),
            ("duration", "1h"),
            ("reason", "INC-1 fix"),
        ],
    );
    let ack = h.slack.socket.send("interactive", good, true).await;
    assert_eq!(ack.get("payload"), None, "accepted: the form closes: {ack}");
    let grant = h.request_posted().await;
    assert_eq!(h.click(BOB, "approve", &grant).await, 200);
    assert_says(&h.next_audit().await, "requested edit");
    assert_says(&h.next_audit().await, "Access granted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_it_cannot_read_is_still_acknowledged() {
    let h = Harness::start_in(Mode::Socket).await;
    let ack = h
        .slack
        .socket
        .send(
            "interactive",
            json!({ "type": "block_actions", "nonsense": true }),
            false,
        )
        .await;
    assert!(ack["envelope_id"].as_str().is_some(), "{ack}");
    assert_eq!(h.kube.calls().len(), 0);
}
