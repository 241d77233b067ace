//! What the session-activity tests share: the replies the bot gives about what a grant did.

use super::*;

pub const ALICE_SUBJECT: &str = "oidc:alice@example.com";

/// alice's request to `verb` `resource` in payments at `at`.
pub fn by_alice(verb: &str, resource: &str, at: chrono::DateTime<chrono::Utc>) -> KubeCall {
    kube_call(ALICE_SUBJECT, verb, resource, at).in_ns("payments")
}

fn is_activity(text: &str) -> bool {
    text.contains("Kubernetes activity") || text.contains("Session summary")
}

/// The replies under `grant`'s approval message that are about Kubernetes activity, oldest first.
pub fn activity_replies(d: &impl Driver, grant: &str) -> Vec<String> {
    let replies = d.replies(grant).into_iter();
    replies.filter(|text| is_activity(text)).collect()
}

/// The next reply under `grant`'s approval message about Kubernetes activity.
pub async fn next_activity_reply(d: &impl Driver, grant: &str) -> String {
    d.next_reply_where(grant, is_activity).await
}
