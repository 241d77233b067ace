//! What Slack sends the bot, as Slack sends it: signed slash commands, button clicks and
//! Events API callbacks over HTTP, or the same as Socket Mode envelopes.

use chrono::Utc;
use serde_json::{Value, json};

use super::*;

impl Harness {
    /// Sends a body with Slack's v0 signature made at `unix_ts` with `secret`.
    pub async fn post_signed(
        &self,
        path: &str,
        body: String,
        secret: &str,
        unix_ts: i64,
    ) -> reqwest::Response {
        let request = self.http.post(self.url(path));
        let form = "application/x-www-form-urlencoded";
        let request = slack_signed(request, form, body, (secret, unix_ts));
        request.send().await.unwrap()
    }

    /// Sends a body signed now with the signing secret; returns the status and the JSON answer.
    pub async fn post_signed_now(&self, path: &str, body: String) -> (u16, Value) {
        let now = Utc::now().timestamp();
        let response = self.post_signed(path, body, SIGNING_SECRET, now).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `user` opens the bot's App Home tab (`app_home_opened`, by HTTP or Socket Mode).
    pub async fn open_home(&self, user: &str) -> u16 {
        self.send_event(app_home_opened(user)).await
    }

    /// Slack delivers an Events API callback (by HTTP, signed, or by Socket Mode).
    pub async fn send_event(&self, callback: Value) -> u16 {
        if self.mode == Mode::Socket {
            self.slack.socket.send("events_api", callback, false).await;
            return 200;
        }
        let request = self.http.post(self.url("/slack/events"));
        let now = (SIGNING_SECRET, Utc::now().timestamp());
        slack_signed(request, "application/json", callback.to_string(), now)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Waits until `user`'s Home tab satisfies `test`, and returns its text.
    pub async fn home_showing(&self, user: &str, test: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        for _ in 0..500 {
            if let Some(home) = self.slack.home(user) {
                last = all_text(&home);
                if test(&last) {
                    return last;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("{user}'s Home tab never showed what was expected; last: {last}");
    }

    /// `user` clicks `action` on their App Home (a view: no channel).
    pub async fn click_on_home(&self, user: &str, action: &str, grant: &str) -> u16 {
        let mut payload = interaction_payload(user, action, grant);
        payload["container"] = json!({ "type": "view", "view_id": format!("VHOME{user}") });
        payload.as_object_mut().unwrap().remove("channel");
        payload.as_object_mut().unwrap().remove("message");
        payload["view"] = json!({ "id": format!("VHOME{user}"), "type": "home", "blocks": [] });
        if self.mode == Mode::Socket {
            self.slack.socket.send("interactive", payload, false).await;
            return 200;
        }
        self.post_signed(
            "/slack/interactions",
            form(&[("payload", &payload.to_string())]),
            SIGNING_SECRET,
            Utc::now().timestamp(),
        )
        .await
        .status()
        .as_u16()
    }

    /// `/prod-access <text>` typed by `user`; returns the HTTP status and the JSON reply.
    pub async fn slash(&self, user: &str, text: &str) -> (u16, Value) {
        if self.mode == Mode::Socket {
            let ack = self
                .slack
                .socket
                .send("slash_commands", command_payload(user, text), true)
                .await;
            return (200, ack.get("payload").cloned().unwrap_or(Value::Null));
        }
        self.post_signed_now("/slack/commands", command_body(user, text))
            .await
    }

    /// The text of the bot's reply to `user` typing `/prod-access <text>`.
    pub async fn answer(&self, user: &str, text: &str) -> String {
        let (_, reply) = self.slash(user, text).await;
        let text = reply["text"].as_str().expect("the reply has a text");
        text.to_string()
    }

    /// The text of the bot's reply to `user` typing `/prod-access <text>` in `channel`.
    pub async fn answer_in(&self, user: &str, channel: &str, text: &str) -> String {
        let (_, reply) = self.slash_in(user, channel, text).await;
        let text = reply["text"].as_str().expect("the reply has a text");
        text.to_string()
    }

    /// The text of the bot's reply to `user` typing `/prod-access <text>`, which must say
    /// `phrase`.
    pub async fn answer_saying(&self, user: &str, text: &str, phrase: &str) -> String {
        let answer = self.answer(user, text).await;
        assert!(answer.contains(phrase), "expected {phrase:?} in: {answer}");
        answer
    }

    /// `/prod-access <text>` typed by `user` in `channel` (HTTP mode).
    pub async fn slash_in(&self, user: &str, channel: &str, text: &str) -> (u16, Value) {
        let body = command_body_in(user, channel, text);
        self.post_signed_now("/slack/commands", body).await
    }

    /// `user` clicks `action` ("approve" or "deny") on the approval message of `grant`.
    /// `user` clicks the button `action`, whose value is `value`, on message `ts` in `channel`.
    pub async fn click_on(
        &self,
        user: &str,
        (channel, ts): (&str, &str),
        action: &str,
        value: &str,
    ) -> u16 {
        let payload =
            prod_access::fakes::slack::requests::click_payload(user, channel, ts, action, value);
        if self.mode == Mode::Socket {
            self.slack.socket.send("interactive", payload, false).await;
            return 200;
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        self.post_signed(
            "/slack/interactions",
            body,
            SIGNING_SECRET,
            Utc::now().timestamp(),
        )
        .await
        .status()
        .as_u16()
    }

    pub async fn click(&self, user: &str, action: &str, grant: &str) -> u16 {
        if self.mode == Mode::Socket {
            let payload = interaction_payload(user, action, grant);
            self.slack.socket.send("interactive", payload, false).await;
            return 200;
        }
        self.post_signed(
            "/slack/interactions",
            interaction_body(user, action, grant),
            SIGNING_SECRET,
            Utc::now().timestamp(),
        )
        .await
        .status()
        .as_u16()
    }
}
