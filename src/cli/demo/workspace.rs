//! The demo's Slack workspace: alice, bob and carol typing commands and clicking buttons (signed
//! as Slack signs them, sent to the server), and what the fake Slack was asked to post, made
//! readable.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::fakes::slack::requests::{
    button_value, command_fields, form, interaction_payload_in, sign,
};
use crate::fakes::slack::{Call, FakeSlack};

pub const BOT_TOKEN: &str = "xoxb-demo-token";
pub const SIGNING_SECRET: &str = "demo-signing-secret";
pub const ALICE: &str = "U0ALICE";
pub const BOB: &str = "U0BOB";
pub const CAROL: &str = "U0CAROL";
pub const DEV: &str = "C0DEV";
pub const APPROVALS: &str = "C0APPROVALS";
pub const AUDIT: &str = "C0AUDIT";

const PEOPLE: [(&str, &str); 3] = [(ALICE, "alice"), (BOB, "bob"), (CAROL, "carol")];
const CHANNELS: [(&str, &str); 3] = [(DEV, "dev"), (APPROVALS, "approvals"), (AUDIT, "audit")];

/// The name of a workspace member, for the transcript.
pub fn name_of(user: &str) -> &str {
    PEOPLE
        .iter()
        .find(|(id, _)| *id == user)
        .map_or(user, |(_, name)| name)
}

/// A message the bot posted, as a reader sees it.
pub struct Post {
    pub text: String,
    /// The grant its Approve button is for.
    pub grant: Option<String>,
}

pub struct Workspace {
    slack: FakeSlack,
    server: String,
    http: reqwest::Client,
    /// Posts already shown (by channel and ts).
    shown: Mutex<HashSet<(String, String)>>,
}

impl Workspace {
    pub fn new(slack: FakeSlack, server: String) -> Workspace {
        for (id, name) in PEOPLE {
            slack.add_user(id, name, Some(&format!("{name}@example.com")));
        }
        for (id, name) in CHANNELS {
            slack.add_channel(id, name, "");
        }
        slack.bot_member_of(&[DEV, APPROVALS, AUDIT]);
        Workspace {
            slack,
            server,
            http: reqwest::Client::new(),
            shown: Mutex::new(HashSet::new()),
        }
    }

    async fn post_signed(&self, path: &str, body: String) -> anyhow::Result<Value> {
        let ts = chrono::Utc::now().timestamp();
        let request = self
            .http
            .post(format!("{}{path}", self.server))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign(SIGNING_SECRET, ts, &body))
            .body(body);
        let response = succeeded(path, request).await?;
        Ok(response.json().await.unwrap_or(Value::Null))
    }

    /// `user` types `/prod-access <text>` in `channel`; returns what the bot answered them.
    pub async fn slash(&self, user: &str, channel: &str, text: &str) -> anyhow::Result<String> {
        let reply = self
            .post_signed(
                "/slack/commands",
                form(&command_fields(user, channel, text)),
            )
            .await?;
        Ok(readable(reply["text"].as_str().unwrap_or_default()))
    }

    /// `user` clicks `action` on the approval message of `grant`.
    pub async fn click(&self, user: &str, action: &str, grant: &str) -> anyhow::Result<()> {
        let payload = interaction_payload_in(user, APPROVALS, action, grant);
        self.post_signed(
            "/slack/interactions",
            form(&[("payload", &payload.to_string())]),
        )
        .await?;
        Ok(())
    }

    /// Waits for the next post in `channel` not shown yet (up to a minute of real time).
    pub async fn next_post(&self, what: &str, channel: &str) -> anyhow::Result<Post> {
        for _ in 0..3000 {
            let fresh = self.slack.calls("chat.postMessage").into_iter().find(|c| {
                c.param("channel") == channel
                    && c.response["ok"] == true
                    && c.params.get("thread_ts").is_none()
                    && !self.was_shown(c)
            });
            if let Some(call) = fresh {
                self.mark_shown(&call);
                return Ok(Post {
                    text: readable(call.text()),
                    grant: button_value(&call.params, "approve"),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(anyhow::anyhow!("{what} never came")).context(format!("waiting in {channel}"))
    }

    /// The next reply in a thread of `channel` that says `phrase`, not shown yet.
    pub async fn next_reply_saying(
        &self,
        what: &str,
        channel: &str,
        phrase: &str,
    ) -> anyhow::Result<String> {
        for _ in 0..3000 {
            let fresh = self.slack.calls("chat.postMessage").into_iter().find(|c| {
                c.param("channel") == channel
                    && c.response["ok"] == true
                    && c.params.get("thread_ts").is_some()
                    && c.text().contains(phrase)
                    && !self.was_shown(c)
            });
            if let Some(call) = fresh {
                self.mark_shown(&call);
                return Ok(readable(call.text()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(anyhow::anyhow!("{what} never came")).context(format!("waiting in {channel}"))
    }

    /// The apiserver's audit webhook posts `batch` to the bot.
    pub async fn audit_webhook(&self, batch: &Value) -> anyhow::Result<()> {
        let path = "/k8s/audit";
        let request = self
            .http
            .post(format!("{}{path}", self.server))
            .bearer_auth(super::activity::TOKEN)
            .json(batch);
        succeeded(path, request).await?;
        Ok(())
    }

    /// The next direct message to `user` not shown yet.
    pub async fn next_dm(&self, what: &str, user: &str) -> anyhow::Result<Post> {
        self.next_post(what, &format!("D{user}")).await
    }

    /// Every post in `channel` so far, oldest first.
    pub fn posts_in(&self, channel: &str) -> Vec<String> {
        self.slack
            .calls("chat.postMessage")
            .iter()
            .filter(|c| c.param("channel") == channel && c.response["ok"] == true)
            .map(|c| readable(c.text()))
            .collect()
    }

    fn key(call: &Call) -> (String, String) {
        let ts = call.response["ts"].as_str().unwrap_or_default();
        (call.param("channel").to_string(), ts.to_string())
    }

    fn was_shown(&self, call: &Call) -> bool {
        let shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        shown.contains(&Self::key(call))
    }

    fn mark_shown(&self, call: &Call) {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        shown.insert(Self::key(call));
    }
}

/// Sends `request` to the bot's `path`; an answer other than a success is an error.
async fn succeeded(
    path: &str,
    request: reqwest::RequestBuilder,
) -> anyhow::Result<reqwest::Response> {
    let response = request.send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "{path} answered {}",
        response.status()
    );
    Ok(response)
}

/// Slack's markup as a reader sees it: `<@U…>` as @name, `<#C…>` as #channel, a date token as its
/// fallback, `<url|label>` as label, and the escapes undone.
pub fn readable(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let token = &rest[start + 1..start + end];
        let shown = match token.split_once('|') {
            _ if token.starts_with('@') => format!("@{}", name_of(&token[1..])),
            _ if token.starts_with('#') => {
                let id = &token[1..];
                let name = CHANNELS
                    .iter()
                    .find(|(c, _)| *c == id)
                    .map_or(id, |(_, n)| n);
                format!("#{name}")
            }
            Some((_, label)) => label.to_string(),
            None => token.to_string(),
        };
        out.push_str(&shown);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    for (code, emoji) in EMOJI {
        out = out.replace(code, emoji);
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The emoji the templates use, as a terminal shows them.
const EMOJI: [(&str, &str); 17] = [
    (":inbox_tray:", "📥"),
    (":hourglass_flowing_sand:", "⏳"),
    (":hourglass:", "⌛"),
    (":white_check_mark:", "✅"),
    (":alarm_clock:", "⏰"),
    (":lock:", "🔒"),
    (":unlock:", "🔓"),
    (":key:", "🔑"),
    (":no_entry:", "⛔"),
    (":warning:", "⚠️"),
    (":gear:", "⚙️"),
    (":stopwatch:", "⏱️"),
    (":ballot_box_with_check:", "☑️"),
    (":rotating_light:", "🚨"),
    (":x:", "❌"),
    (":mag:", "🔎"),
    (":memo:", "📝"),
];

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn slack_markup_reads_as_a_person_sees_it() {
        let text = ":key: <@U0ALICE> requests *edit* until <!date^1795426260^{time}|2026-11-23T09:31:00Z> in <#C0DEV> <https://x.example/p1|View> a &lt;b&gt;";
        assert_eq!(
            readable(text),
            "🔑 @alice requests *edit* until 2026-11-23T09:31:00Z in #dev View a <b>"
        );
    }
}
