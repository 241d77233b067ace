//! Driving a bot in Socket Mode through the fake Slack's connections: a request and its approval
//! as envelopes, and waiting for the bot's connections to open.

use std::time::{Duration, Instant};

use super::*;

/// alice's slash command and bob's click, each as an envelope to whichever Socket Mode
/// connection's turn it is; returns the grant id once its binding exists.
pub async fn granted_over_sockets(slack: &FakeSlack, kube: &FakeKube, text: &str) -> String {
    let ack = slack
        .socket
        .send("slash_commands", command_payload(ALICE, text), true)
        .await;
    let reply = ack["payload"]["text"].as_str().unwrap_or_default();
    assert!(reply.contains("was sent for approval"), "{ack}");
    let grant = reply.split('`').nth(1).unwrap().to_string();
    slack
        .next_matching("the approval message", |c| {
            c.method == "chat.postMessage"
                && button_value(&c.params, "approve").as_deref() == Some(grant.as_str())
        })
        .await;
    let click = interaction_payload(BOB, "approve", &grant);
    slack.socket.send("interactive", click, false).await;
    kube.wait_until("the grant is bound", |k| {
        k.grant_binding("payments", &grant).is_some()
    })
    .await;
    grant
}

pub async fn until_connections(slack: &FakeSlack, count: usize) {
    let started = Instant::now();
    while slack.socket.open_connections() != count {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} Socket Mode connections open, not {count}",
            slack.socket.open_connections()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
