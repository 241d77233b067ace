//! The stories' driver for Slack: signed slash commands and button clicks (or Socket Mode
//! envelopes), read back from the fake Slack's posts, DMs, threads and messages as they stand.

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use prod_access::clock::ManualClock;
use serde_json::Value;

use super::{Channel, Driver, Person, Shown, harness_parts};
use crate::support::{
    ALICE, AUDIT, BOB, CAROL, FakeKube, Harness, INCIDENT_CHANNEL, MALLORY, RunningBot, WAR_ROOM,
    all_text, button_value, fake_slack,
};

/// Each person's Slack user id.
pub fn slack_id(who: Person) -> &'static str {
    match who {
        Person::Alice => ALICE,
        Person::Bob => BOB,
        Person::Carol => CAROL,
        Person::Mallory => MALLORY,
    }
}

/// The `action_id` of every button in a message's blocks.
pub fn button_actions(message: &Value) -> Vec<String> {
    let blocks = match &message["blocks"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or_default(),
        other => other.clone(),
    };
    let mut actions = Vec::new();
    for block in blocks.as_array().into_iter().flatten() {
        let elements = block["elements"].as_array().into_iter().flatten();
        for element in std::iter::once(&block["accessory"]).chain(elements) {
            if element["type"] == "button" {
                actions.push(element["action_id"].as_str().unwrap_or("").to_string());
            }
        }
    }
    actions
}

/// A Slack message's text and buttons.
fn shown(message: &Value) -> Shown {
    let (text, buttons) = (all_text(message), button_actions(message));
    Shown { text, buttons }
}

/// A post's text first, then every text in it.
fn post_text(post: &fake_slack::Call) -> String {
    format!("{}\n{}", post.text(), all_text(&post.params))
}

impl Harness {
    /// The post-incident review request of `grant` (the post with its Reviewed button).
    pub fn review_post(&self, grant: &str) -> Option<fake_slack::Call> {
        self.slack.calls("chat.postMessage").into_iter().find(|c| {
            c.param("channel") == AUDIT
                && button_value(&c.params, "review").as_deref() == Some(grant)
        })
    }

    /// The review request of `grant` as it stands now in the fake Slack.
    fn review_message(&self, grant: &str) -> Option<Value> {
        let post = self.review_post(grant)?;
        self.slack.message(AUDIT, post.response["ts"].as_str()?)
    }

    /// Where the session summary of `grant` is: its channel and ts.
    fn summary_at(&self, grant: &str) -> Option<(String, String)> {
        let under_approval = self.under_approval(grant);
        let posts = self.slack.calls("chat.postMessage").into_iter();
        let post = posts
            .filter(under_approval)
            .find(|c| c.text().contains("Session summary"))?;
        let ts = post.response["ts"].as_str()?.to_string();
        Some((post.param("channel").to_string(), ts))
    }

    /// Whether `call` replies under the approval message of `grant`.
    fn under_approval(&self, grant: &str) -> impl Fn(&fake_slack::Call) -> bool + use<> {
        let post = self.approval_post(grant);
        let ts = post.response["ts"].as_str().unwrap().to_string();
        let channel = post.param("channel").to_string();
        move |c| c.thread_ts() == Some(ts.as_str()) && c.param("channel") == channel
    }
}

impl Driver for Harness {
    harness_parts!();

    async fn start_bot(&mut self) {
        Harness::start_server(self).await;
    }

    fn chat_calls(&self) -> usize {
        self.slack.call_count()
    }

    fn name(&self, who: Person) -> String {
        format!("<@{}>", slack_id(who))
    }

    fn recorded_as(&self, who: Person) -> String {
        slack_id(who).to_string()
    }

    fn bold(&self, text: &str) -> String {
        format!("*{text}*")
    }

    fn code(&self, text: &str) -> String {
        format!("`{text}`")
    }

    fn time(&self, at: DateTime<Utc>) -> String {
        format!(
            "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
            at.timestamp(),
            at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }

    fn incident_channel(&self) -> String {
        format!("<#{INCIDENT_CHANNEL}>")
    }

    fn incident_channels_described(&self) -> String {
        format!("an incident channel (<#{WAR_ROOM}>, or one named inc-*)")
    }

    fn emoji(&self, name: &str) -> String {
        format!(":{name}:")
    }

    fn channel_ping(&self) -> &'static str {
        "<!here> "
    }

    fn roles(&self) -> &'static str {
        "admin, debug, edit, nodes, view"
    }

    fn approvers(&self) -> String {
        format!("<@{BOB}>, <@{CAROL}>")
    }

    async fn asks_in(&self, who: Person, channel: Channel, text: &str) -> String {
        let (status, reply) = match channel {
            Channel::Ordinary => self.slash(slack_id(who), text).await,
            Channel::Incident => self.slash_in(slack_id(who), INCIDENT_CHANNEL, text).await,
        };
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["response_type"], "ephemeral", "{reply}");
        all_text(&reply)
    }

    async fn next_request(&self) -> String {
        self.request_posted().await
    }

    async fn clicks(&self, who: Person, action: &str, grant: &str) {
        assert_eq!(self.click(slack_id(who), action, grant).await, 200);
    }

    async fn refused_on_click(&self, who: Person, action: &str, grant: &str) -> String {
        self.clicks(who, action, grant).await;
        let refusal = self.slack.next_call("chat.postEphemeral").await;
        assert_eq!(refusal.param("user"), slack_id(who));
        refusal.text().to_string()
    }

    async fn next_audit_where(&self, test: impl Fn(&str) -> bool) -> String {
        let post = self
            .slack
            .next_matching("audit post", |c| {
                c.method == "chat.postMessage" && c.param("channel") == AUDIT && test(&post_text(c))
            })
            .await;
        post_text(&post)
    }

    fn audit_channel(&self) -> Vec<String> {
        self.slack.channel_texts(AUDIT)
    }

    async fn next_dm(&self, who: Person) -> String {
        Harness::next_dm(self, slack_id(who))
            .await
            .text()
            .to_string()
    }

    fn buttons_on_last_dm(&self, who: Person) -> Vec<String> {
        let dm = format!("D{}", slack_id(who));
        let posts = self.slack.calls("chat.postMessage");
        let last = posts.iter().rfind(|c| c.param("channel") == dm);
        last.map(|c| button_actions(&c.params)).unwrap_or_default()
    }

    async fn next_reply_where(&self, grant: &str, test: impl Fn(&str) -> bool) -> String {
        let under_approval = self.under_approval(grant);
        self.slack
            .next_matching("reply under the approval message", |c| {
                under_approval(c) && test(c.text())
            })
            .await
            .text()
            .to_string()
    }

    fn replies(&self, grant: &str) -> Vec<String> {
        let calls = self.slack.calls("chat.postMessage").into_iter();
        calls
            .filter(self.under_approval(grant))
            .map(|c| c.text().to_string())
            .collect()
    }

    fn approval_in_incident_channel(&self, grant: &str) -> bool {
        self.approval_post(grant).param("channel") == INCIDENT_CHANNEL
    }

    fn approval(&self, grant: &str) -> Option<Shown> {
        Some(shown(&self.approval_message(grant)))
    }

    fn review(&self, grant: &str) -> Option<Shown> {
        self.review_message(grant).map(|m| shown(&m))
    }

    async fn review_reply_says(&self, grant: &str, phrase: &str) -> String {
        let review = self.review_post(grant).expect("the review was asked for");
        let ts = review.response["ts"].as_str().unwrap().to_string();
        let reply = self
            .slack
            .next_matching("reply under the review request", |c| {
                c.thread_ts() == Some(ts.as_str()) && c.text().contains(phrase)
            })
            .await;
        reply.text().to_string()
    }

    fn count_posts_saying(&self, phrase: &str) -> usize {
        let posts = self.slack.calls("chat.postMessage").into_iter();
        posts.filter(|c| c.text().contains(phrase)).count()
    }

    fn summary(&self, grant: &str) -> Option<(String, Value)> {
        let (channel, ts) = self.summary_at(grant)?;
        let message = self.slack.message(&channel, &ts)?;
        Some((all_text(&message), message))
    }

    async fn cleans_up(&self, who: Person, action: &str, grant: &str, item: &str) -> String {
        let (channel, ts) = self.summary_at(grant).expect("the summary was posted");
        let value = format!("{grant} {item}");
        let status = self.click_on(slack_id(who), (&channel, &ts), action, &value);
        assert_eq!(status.await, 200);
        self.slack
            .next_matching("the summary updated", |c| {
                c.method == "chat.update" && c.param("ts") == ts
            })
            .await;
        self.summary(grant).unwrap().0
    }

    async fn refused_cleanup(&self, who: Person, action: &str, grant: &str, item: &str) -> String {
        let (channel, ts) = self.summary_at(grant).expect("the summary was posted");
        let value = format!("{grant} {item}");
        let status = self.click_on(slack_id(who), (&channel, &ts), action, &value);
        assert_eq!(status.await, 200);
        let refusal = self.slack.next_call("chat.postEphemeral").await;
        assert_eq!(refusal.param("user"), slack_id(who));
        refusal.text().to_string()
    }
}
