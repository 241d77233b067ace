//! What the session-activity tests share: alice's active grant and what the bot says of it.

use super::*;
use prod_access::clock::Clock;

pub const ALICE_SUBJECT: &str = "oidc:alice@example.com";

/// alice asks for `text`, bob approves, and the grant is active.
pub async fn active_grant(h: &Harness, text: &str) -> String {
    let grant = h.request(ALICE, text).await;
    assert_eq!(h.click(BOB, "approve", &grant).await, 200);
    h.audit_saying(&grant, "Access granted").await;
    grant
}

/// What `/prod-access status <grant>` tells alice.
pub async fn status_text(h: &Harness, grant: &str) -> String {
    let (_, status) = h.slash(ALICE, &format!("status {grant}")).await;
    status["text"].as_str().unwrap_or_default().to_string()
}

/// Moves the manual clock forward to `at`.
pub fn move_clock(h: &Harness, at: chrono::DateTime<chrono::Utc>) {
    h.clock.advance(at - h.clock.now());
}

/// The replies in `grant`'s approval thread that are about Kubernetes activity, oldest first.
pub fn activity_replies(h: &Harness, grant: &str) -> Vec<String> {
    let ts = h.approval_post(grant).response["ts"]
        .as_str()
        .unwrap()
        .to_string();
    h.slack
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.thread_ts() == Some(ts.as_str()))
        .map(|c| c.text().to_string())
        .filter(|t| t.contains("Kubernetes activity") || t.contains("Session summary"))
        .collect()
}

pub async fn next_activity_reply(h: &Harness, grant: &str) -> String {
    let ts = h.approval_post(grant).response["ts"]
        .as_str()
        .unwrap()
        .to_string();
    h.slack
        .next_matching("activity reply", move |c| {
            c.thread_ts() == Some(ts.as_str())
                && (c.text().contains("Kubernetes activity")
                    || c.text().contains("Session summary"))
        })
        .await
        .text()
        .to_string()
}
