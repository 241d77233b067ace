//! One story, two platforms: what a user story does and reads in chat, said once, and carried
//! out by the Slack harness (`slack.rs`) or the Teams harness (`teams.rs`).

mod slack;
mod teams;

use std::path::Path;

use chrono::{DateTime, Utc};
use prod_access::clock::{Clock, ManualClock};
use serde_json::Value;

use prod_access::domain::audit::AuditEntry;

use super::{
    FakeKube, K8S_AUDIT_TOKEN, KubeCall, RETRY_POLICY, RunningBot, audit_entries, event_list,
    until_quiet,
};

/// The people every story has, known to both platforms: alice asks, bob and carol approve,
/// mallory is in the company but approves nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Person {
    Alice,
    Bob,
    Carol,
    Mallory,
}
pub use Person::*;

/// A message as it stands now: all its text, and the actions of its buttons.
pub struct Shown {
    pub text: String,
    pub buttons: Vec<String>,
}

/// Where a person types to the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Where requests are usually made (Slack: `#dev`; Teams: the person's chat with the bot).
    Ordinary,
    /// A channel the policy takes for an incident's.
    Incident,
}

/// A chat platform as a story sees it. Each `next_*` returns the oldest message of its kind
/// that no `next_*` or `*_says` returned before, waiting for it if need be.
// Stories are generic functions on one task, never trait objects, so no `Send` bound is needed.
#[allow(async_fn_in_trait)]
pub trait Driver {
    fn clock(&self) -> &ManualClock;
    fn kube(&self) -> &FakeKube;
    fn bot(&self) -> &RunningBot;
    fn bot_mut(&mut self) -> &mut RunningBot;
    /// Starts the bot on the harness's store.
    async fn start_bot(&mut self);
    /// How many calls the bot has made to the fake chat platform.
    fn chat_calls(&self) -> usize;

    /// How the bot names `who` in what it posts.
    fn name(&self, who: Person) -> String;
    /// Who `who` is in the audit log and on the RoleBinding's annotations.
    fn recorded_as(&self, who: Person) -> String;
    /// `text` in bold, as the bot writes it on this platform.
    fn bold(&self, text: &str) -> String;
    /// A name (a role, a namespace) as the bot marks it in what it answers: Slack writes it as
    /// code; Teams, whose Adaptive Cards have no inline code, in bold.
    fn code(&self, text: &str) -> String;
    /// A time as the bot shows it on this platform.
    fn time(&self, at: DateTime<Utc>) -> String;
    /// How the bot names the incident channel.
    fn incident_channel(&self) -> String;
    /// How the bot tells a requester where the policy's incident channels are.
    fn incident_channels_described(&self) -> String;
    /// The emoji Slack calls `:name:`, as the bot writes it on this platform.
    fn emoji(&self, name: &str) -> String;
    /// What starts a post that should reach everyone in the channel ("" where there is none).
    fn channel_ping(&self) -> &'static str;
    /// The roles of the harness's policy, as the bot lists them.
    fn roles(&self) -> &'static str;
    /// How the bot lists the policy's approvers, as the policy names them.
    fn approvers(&self) -> String;

    /// `who` types `text` to the bot in `channel`; returns what the bot answers them there.
    async fn asks_in(&self, who: Person, channel: Channel, text: &str) -> String;
    /// The grant id on the next approval message.
    async fn next_request(&self) -> String;
    /// `who` clicks `action` for `grant`, and the click is taken.
    async fn clicks(&self, who: Person, action: &str, grant: &str);
    /// `who` clicks `action` for `grant` and is told no; returns what they are told.
    async fn refused_on_click(&self, who: Person, action: &str, grant: &str) -> String;

    /// The next post to the audit channel whose text passes `test`: its text first, then every
    /// text in it.
    async fn next_audit_where(&self, test: impl Fn(&str) -> bool) -> String;
    /// The text of every post in the audit channel, oldest first.
    fn audit_channel(&self) -> Vec<String>;
    async fn next_dm(&self, who: Person) -> String;
    /// The actions of the buttons on the latest direct message to `who`.
    fn buttons_on_last_dm(&self, who: Person) -> Vec<String>;
    /// The next reply under the approval message of `grant` whose text passes `test`.
    async fn next_reply_where(&self, grant: &str, test: impl Fn(&str) -> bool) -> String;
    /// Every reply under the approval message of `grant`, oldest first.
    fn replies(&self, grant: &str) -> Vec<String>;
    /// Whether the approval message of `grant` went to the incident channel it was asked in.
    fn approval_in_incident_channel(&self, grant: &str) -> bool;
    /// The approval message of `grant` as it stands now, once posted.
    fn approval(&self, grant: &str) -> Option<Shown>;
    /// The post-incident review request of `grant` as it stands now, once posted.
    fn review(&self, grant: &str) -> Option<Shown>;
    /// The next reply under the review request of `grant` that says `phrase`.
    async fn review_reply_says(&self, grant: &str, phrase: &str) -> String;
    /// How many posts and replies, anywhere, say `phrase`.
    fn count_posts_saying(&self, phrase: &str) -> usize;
    /// The session summary of `grant` as it stands now, once posted (under the approval
    /// message): all its text, and its message as the platform holds it.
    fn summary(&self, grant: &str) -> Option<(String, Value)>;
    /// `who` clicks the `action` button of `item` on the session summary of `grant`; returns
    /// all the text of the summary as it then stands.
    async fn cleans_up(&self, who: Person, action: &str, grant: &str, item: &str) -> String;
    /// `who` clicks the `action` button of `item` on the summary of `grant` and is told no;
    /// returns what they are told.
    async fn refused_cleanup(&self, who: Person, action: &str, grant: &str, item: &str) -> String;

    /// The cleanup buttons on the session summary of `grant`: (action, item).
    fn cleanup_buttons(&self, grant: &str) -> Vec<(String, String)> {
        self.summary(grant)
            .map(|(_, message)| cleanup_buttons_in(&message))
            .unwrap_or_default()
    }

    async fn next_audit(&self) -> String {
        self.next_audit_where(|_| true).await
    }

    /// The next post to the audit channel about `grant` that says `phrase`.
    async fn audit_says(&self, grant: &str, phrase: &str) -> String {
        self.next_audit_where(|text| text.contains(grant) && text.contains(phrase))
            .await
    }

    fn url(&self, path: &str) -> String {
        self.bot().url(path)
    }

    /// The bot's store directory (open it only while the bot is stopped).
    fn store_path(&self) -> &Path {
        self.bot().store_path()
    }

    /// Stops the bot (the fakes and the clock keep their state).
    async fn stop(&mut self) {
        self.bot_mut().stop().await;
    }

    /// A new bot process on the same store directory.
    async fn restart(&mut self) {
        self.stop().await;
        self.start_bot().await;
    }

    /// Waits until neither fake has been called for a while: the bot has done what is due now.
    async fn settle(&self) {
        until_quiet(|| (self.kube().calls().len(), self.chat_calls())).await;
    }

    /// `who` types `text` where requests are usually made.
    async fn asks(&self, who: Person, text: &str) -> String {
        self.asks_in(who, Channel::Ordinary, text).await
    }

    /// `who` asks for access with `text`; returns the new grant's id.
    async fn requests(&self, who: Person, text: &str) -> String {
        let answer = self.asks(who, text).await;
        assert!(answer.contains("was sent for approval"), "{answer}");
        self.next_request().await
    }

    /// alice asks for `text`; the request waits for approval and the audit channel says so.
    async fn requested_grant(&self, text: &str) -> String {
        let grant = self.requests(Alice, text).await;
        let requested = self.next_audit().await;
        assert!(requested.contains("requested"), "{requested}");
        grant
    }

    /// alice asks for `text`, bob approves, and the grant is active: the audit channel says so
    /// right after the request.
    async fn approved_grant(&self, text: &str) -> String {
        let grant = self.requested_grant(text).await;
        self.clicks(Bob, "approve", &grant).await;
        let granted = self.next_audit().await;
        assert!(granted.contains("Access granted"), "{granted}");
        grant
    }

    /// What `/prod-access status <grant>` tells alice.
    async fn status_text(&self, grant: &str) -> String {
        self.asks(Alice, &format!("status {grant}")).await
    }

    /// Waits until `status` reports the `failures`-th failed attempt at a Kubernetes step of
    /// `grant`.
    async fn wait_for_failures(&self, grant: &str, failures: u32) {
        let phrase = format!(" failed {failures} time");
        let mut last = String::new();
        for _ in 0..1000 {
            last = self.status_text(grant).await;
            if last.contains(&phrase) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("status never said{phrase}: {last}");
    }

    /// Waits until `status` reports the `failures`-th failed attempt at a Kubernetes step of
    /// `grant` (so its retry time is stored), then moves the clock by the longest wait after it.
    async fn let_retry_fall_due(&self, grant: &str, failures: u32) {
        self.wait_for_failures(grant, failures).await;
        let wait = RETRY_POLICY.ceiling(failures);
        self.clock()
            .advance(chrono::Duration::from_std(wait).unwrap());
    }

    /// Stops the bot and reads its audit log.
    async fn stopped_audit_log(&mut self) -> Vec<AuditEntry> {
        self.stop().await;
        audit_entries(self.store_path()).await
    }

    /// All the text of the approval message of `grant` as it stands now, once posted.
    fn approval_text(&self, grant: &str) -> Option<String> {
        self.approval(grant).map(|shown| shown.text)
    }

    /// The actions of the buttons on the approval message of `grant` now.
    fn buttons_on(&self, grant: &str) -> Vec<String> {
        let shown = self
            .approval(grant)
            .expect("the approval message was posted");
        shown.buttons
    }

    /// All the text of the review request of `grant` as it stands now, once posted.
    fn review_text(&self, grant: &str) -> Option<String> {
        self.review(grant).map(|shown| shown.text)
    }

    /// The actions of the buttons on the review request of `grant` now.
    fn buttons_on_review(&self, grant: &str) -> Vec<String> {
        self.review(grant)
            .map(|shown| shown.buttons)
            .unwrap_or_default()
    }

    /// Waits until the approval message of `grant` says `phrase`; returns all its text.
    async fn approval_shows(&self, grant: &str, phrase: &str) -> String {
        let what = format!("the approval message saying {phrase}");
        wait_until_says(&what, phrase, || self.approval_text(grant)).await
    }

    /// Waits until the review request of `grant` says `phrase`; returns all its text.
    async fn review_shows(&self, grant: &str, phrase: &str) -> String {
        let what = format!("the review request saying {phrase}");
        wait_until_says(&what, phrase, || self.review_text(grant)).await
    }

    /// The next reply under the approval message of `grant` that says `phrase`.
    async fn reply_says(&self, grant: &str, phrase: &str) -> String {
        self.next_reply_where(grant, |text| text.contains(phrase))
            .await
    }

    /// Moves the manual clock forward to `at`.
    fn move_clock_to(&self, at: DateTime<Utc>) {
        self.clock().advance(at - self.clock().now());
    }

    /// Sends the events of `calls` as one batch, as the apiserver does; panics unless 200.
    async fn send_audit(&self, calls: &[KubeCall]) {
        self.send_audit_events(calls.iter().flat_map(KubeCall::events).collect())
            .await;
    }

    /// Sends `events` as one batch to `/k8s/audit`; panics unless 200.
    async fn send_audit_events(&self, events: Vec<Value>) {
        let response = reqwest::Client::new()
            .post(self.url("/k8s/audit"))
            .bearer_auth(K8S_AUDIT_TOKEN)
            .json(&event_list(events))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
    }
}

/// The parts every harness keeps by the same names: its fake cluster, its clock and its bot.
macro_rules! harness_parts {
    () => {
        fn clock(&self) -> &ManualClock {
            &self.clock
        }

        fn kube(&self) -> &FakeKube {
            &self.kube
        }

        fn bot(&self) -> &RunningBot {
            &self.bot
        }

        fn bot_mut(&mut self) -> &mut RunningBot {
            &mut self.bot
        }
    };
}
use harness_parts;

/// Polls `find` every 20 ms for ten seconds; panics with `what` and the last state seen.
pub async fn wait_for<T>(what: &str, mut find: impl FnMut() -> Result<T, String>) -> T {
    let mut last = String::new();
    for _ in 0..500 {
        match find() {
            Ok(found) => return found,
            Err(seen) => last = seen,
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{what} never came; last seen: {last}");
}

/// Waits until `text` (a message as it stands now, once posted) says `phrase`; returns it.
async fn wait_until_says(what: &str, phrase: &str, text: impl Fn() -> Option<String>) -> String {
    wait_for(what, || {
        let text = text().unwrap_or_default();
        if text.contains(phrase) {
            Ok(text)
        } else {
            Err(text)
        }
    })
    .await
}

/// Runs each story on both platforms: `on_both_platforms!(name)` makes `name::slack` and `name::teams`,
/// each starting its harness and calling `name` with it.
#[macro_export]
macro_rules! on_both_platforms {
    ($($story:ident),+ $(,)?) => {$(
        mod $story {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn slack() {
                super::$story($crate::support::Harness::start().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn teams() {
                super::$story($crate::support::TeamsHarness::start().await).await;
            }
        }
    )+};
}

/// The cleanup buttons in a message, a Slack one or a Teams card: (action, item).
pub fn cleanup_buttons_in(message: &Value) -> Vec<(String, String)> {
    const CLEANUPS: [&str; 3] = ["restart_pod", "mark_reviewed", "delete_leftover"];
    fn walk(v: &Value, found: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) if s.starts_with('[') || s.starts_with('{') => {
                if let Ok(inner) = serde_json::from_str::<Value>(s) {
                    walk(&inner, found);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, found)),
            Value::Object(fields) => {
                let action = fields.get("action_id").or_else(|| fields.get("verb"));
                let action = action.and_then(Value::as_str).unwrap_or_default();
                if CLEANUPS.contains(&action) {
                    let slack_item = fields.get("value").and_then(Value::as_str);
                    let slack_item = slack_item.and_then(|v| v.split_once(' ')).map(|(_, i)| i);
                    let teams_item = v.pointer("/data/item").and_then(Value::as_str);
                    let item = slack_item.or(teams_item).unwrap_or_default();
                    found.push((action.to_string(), item.to_string()));
                }
                fields.values().for_each(|f| walk(f, found));
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(message, &mut found);
    found
}
