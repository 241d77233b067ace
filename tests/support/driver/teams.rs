//! The stories' driver for Teams: messages typed to the bot and Adaptive Card actions as the Bot
//! Connector delivers them, read back from the fake Teams' conversations as they stand.

use std::path::Path;

use chrono::{DateTime, Utc};
use prod_access::clock::ManualClock;
use serde_json::Value;

use super::{Channel, Driver, Person, Shown, harness_parts, wait_for};
use crate::support::{
    FakeKube, RunningBot, T_ALICE, T_APPROVALS, T_AUDIT, T_BOB, T_CAROL, T_INCIDENT, T_MALLORY,
    TeamsHarness, activity_text, card_actions, chat_with_bot, personal_chat,
};

/// Each person's Teams user id.
pub fn teams_id(who: Person) -> &'static str {
    match who {
        Person::Alice => T_ALICE,
        Person::Bob => T_BOB,
        Person::Carol => T_CAROL,
        Person::Mallory => T_MALLORY,
    }
}

fn email(who: Person) -> String {
    format!("{who:?}@example.com").to_lowercase()
}

/// Where approval cards are posted: the approvals channel, or the incident channel a
/// break-glass request was made in.
const CARD_CHANNELS: [&str; 2] = [T_APPROVALS, T_INCIDENT];

/// A Teams activity's text and card buttons.
fn shown(activity: &Value) -> Shown {
    let (text, buttons) = (activity_text(activity), card_verbs(activity));
    Shown { text, buttons }
}

/// The verbs of an activity's card buttons.
pub fn card_verbs(activity: &Value) -> Vec<String> {
    card_actions(activity).into_iter().map(|(v, _)| v).collect()
}

/// What a reader sees of an activity, in reading order: its text, then its cards' text blocks
/// and facts.
pub fn shown_text(activity: &Value) -> String {
    fn collect(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            Value::Object(map) if map.get("type") == Some(&"TextBlock".into()) => {
                out.push(map["text"].as_str().unwrap_or("").to_string());
            }
            Value::Object(map) if map.contains_key("facts") => {
                let facts = map["facts"].as_array().into_iter().flatten();
                out.extend(facts.map(|f| format!("{}: {}", f["title"], f["value"])));
            }
            Value::Object(map) => map.values().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut out = vec![activity["text"].as_str().unwrap_or("").to_string()];
    collect(&activity["attachments"], &mut out);
    out.retain(|line| !line.is_empty());
    out.join("\n")
}

impl TeamsHarness {
    /// The oldest activity in `conversation` not yet taken whose text passes `test`, taken now.
    pub async fn take_next(
        &self,
        conversation: &str,
        test: impl Fn(&str, &Value) -> bool,
    ) -> Value {
        wait_for(&format!("a new post in {conversation}"), || {
            let activities = self.teams.conversation(conversation);
            let mut taken = self.taken.lock().unwrap();
            let next = activities.iter().find(|(id, activity)| {
                !taken.contains(&(conversation.to_string(), id.clone())) && test(id, activity)
            });
            match next {
                Some((id, activity)) => {
                    taken.insert((conversation.to_string(), id.clone()));
                    Ok(activity.clone())
                }
                None => Err(format!("{activities:#?}")),
            }
        })
        .await
    }

    /// Where the approval card of `grant` is: (conversation, activity id), once posted.
    /// Where the session summary of `grant` is: its channel and activity id.
    fn summary_card(&self, grant: &str) -> Option<(String, String)> {
        let (channel, card) = self.approval_card(grant)?;
        let posts = self.teams.conversation(&channel).into_iter();
        let (id, _) = posts
            .filter(|(id, _)| self.teams.replied_to(&channel, id).as_deref() == Some(&card))
            .find(|(_, a)| shown_text(a).contains("Session summary"))?;
        Some((channel, id))
    }

    fn approval_card(&self, grant: &str) -> Option<(String, String)> {
        let button = format!("\"grant\":\"{grant}\"");
        CARD_CHANNELS.iter().find_map(|channel| {
            let cards = self.teams.conversation(channel).into_iter();
            cards
                .filter(|(id, _)| self.teams.replied_to(channel, id).is_none())
                .find(|(_, a)| a.to_string().contains(&button) || activity_text(a).contains(grant))
                .map(|(id, _)| (channel.to_string(), id))
        })
    }

    /// The id of the review request of `grant` in the audit channel.
    fn review_card_id(&self, grant: &str) -> Option<String> {
        let posts = self.teams.conversation(T_AUDIT).into_iter();
        posts
            .filter(|(id, _)| self.teams.replied_to(T_AUDIT, id).is_none())
            .find(|(_, a)| {
                let text = activity_text(a);
                text.contains("Post-incident review") && text.contains(grant)
            })
            .map(|(id, _)| id)
    }

    /// The review request of `grant`, as it stands now.
    fn review_card(&self, grant: &str) -> Option<Value> {
        self.teams.activity(T_AUDIT, &self.review_card_id(grant)?)
    }
}

impl Driver for TeamsHarness {
    harness_parts!();

    async fn start_bot(&mut self) {
        TeamsHarness::start_server(self).await;
    }

    fn chat_calls(&self) -> usize {
        self.teams.activities().len()
    }

    fn name(&self, who: Person) -> String {
        email(who)
    }

    fn recorded_as(&self, who: Person) -> String {
        email(who)
    }

    fn bold(&self, text: &str) -> String {
        format!("**{text}**")
    }

    fn code(&self, text: &str) -> String {
        self.bold(text)
    }

    fn time(&self, at: DateTime<Utc>) -> String {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    }

    fn incident_channel(&self) -> String {
        "an incident channel".into()
    }

    fn incident_channels_described(&self) -> String {
        "one of the policy's incident channels".into()
    }

    fn emoji(&self, name: &str) -> String {
        let emoji = match name {
            "lock" => "🔒",
            "rotating_light" => "🚨",
            "no_entry" => "⛔",
            other => panic!("no Teams emoji for :{other}: yet"),
        };
        emoji.into()
    }

    fn channel_ping(&self) -> &'static str {
        ""
    }

    fn roles(&self) -> &'static str {
        "edit, emergency, view"
    }

    fn approvers(&self) -> String {
        "bob@example.com, Carol@Example.com".into()
    }

    async fn asks_in(&self, who: Person, channel: Channel, text: &str) -> String {
        // Asked in a channel, the bot answers in the asker's 1:1 chat, for them alone.
        let (typed_in, answered_in) = match channel {
            Channel::Ordinary => (chat_with_bot(teams_id(who)), chat_with_bot(teams_id(who))),
            Channel::Incident => (T_INCIDENT.into(), personal_chat(teams_id(who))),
        };
        // In a channel Teams passes a message on to the bot only when it is @mentioned; in a
        // chat, the bare command is the mention alone (Teams sends no empty message).
        let text = match channel {
            Channel::Ordinary if !text.is_empty() => text.to_string(),
            _ => format!("<at>prod-access</at> {text}"),
        };
        let status = self.say(teams_id(who), &typed_in, &text).await;
        assert_eq!(status, 200);
        shown_text(&self.take_next(&answered_in, |_, _| true).await)
    }

    async fn next_request(&self) -> String {
        let is_request = |a: &Value| card_verbs(a).contains(&"approve".to_string());
        let card = wait_for("an approval card with buttons", || {
            let cards = CARD_CHANNELS.iter().flat_map(|c| {
                let posts = self.teams.conversation(c).into_iter();
                posts.map(move |(id, a)| (c.to_string(), id, a))
            });
            let taken = self.taken.lock().unwrap();
            let mut cards = cards
                .filter(|(c, id, a)| is_request(a) && !taken.contains(&(c.clone(), id.clone())));
            cards.next().ok_or_else(String::new)
        })
        .await;
        let (channel, id, card) = card;
        let kind = &card["attachments"][0]["contentType"];
        assert_eq!(kind, "application/vnd.microsoft.card.adaptive");
        self.taken.lock().unwrap().insert((channel, id));
        card_actions(&card)[0].1.clone()
    }

    async fn clicks(&self, who: Person, action: &str, grant: &str) {
        let (status, answer) = self.click(teams_id(who), action, grant).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["statusCode"], 200, "{answer}");
        assert_eq!(
            answer["type"], "application/vnd.microsoft.card.adaptive",
            "the refreshed card: {answer}"
        );
        assert_eq!(answer["value"]["type"], "AdaptiveCard", "{answer}");
        *self.last_click_answer.lock().unwrap() = answer;
    }

    async fn refused_on_click(&self, who: Person, action: &str, grant: &str) -> String {
        let (status, answer) = self.click(teams_id(who), action, grant).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["type"], "application/vnd.microsoft.activity.message");
        answer["value"].as_str().unwrap().to_string()
    }

    async fn next_audit_where(&self, test: impl Fn(&str) -> bool) -> String {
        let post = self
            .take_next(T_AUDIT, |_, a| test(&activity_text(a)))
            .await;
        activity_text(&post)
    }

    fn audit_channel(&self) -> Vec<String> {
        let posts = self.teams.conversation(T_AUDIT).into_iter();
        posts.map(|(_, a)| activity_text(&a)).collect()
    }

    async fn next_dm(&self, who: Person) -> String {
        let chat = personal_chat(teams_id(who));
        activity_text(&self.take_next(&chat, |_, _| true).await)
    }

    fn buttons_on_last_dm(&self, who: Person) -> Vec<String> {
        let chat = self.teams.conversation(&personal_chat(teams_id(who)));
        chat.last().map(|(_, a)| card_verbs(a)).unwrap_or_default()
    }

    async fn next_reply_where(&self, grant: &str, test: impl Fn(&str) -> bool) -> String {
        let (channel, card) = wait_for("the approval card", || {
            self.approval_card(grant).ok_or_else(String::new)
        })
        .await;
        let reply = self
            .take_next(&channel, |id, a| {
                let replied_to = self.teams.replied_to(&channel, id);
                replied_to.as_deref() == Some(card.as_str()) && test(&shown_text(a))
            })
            .await;
        shown_text(&reply)
    }

    fn replies(&self, grant: &str) -> Vec<String> {
        let Some((channel, card)) = self.approval_card(grant) else {
            return Vec::new();
        };
        let posts = self.teams.conversation(&channel).into_iter();
        posts
            .filter(|(id, _)| self.teams.replied_to(&channel, id).as_deref() == Some(&card))
            .map(|(_, a)| shown_text(&a))
            .collect()
    }

    fn approval_in_incident_channel(&self, grant: &str) -> bool {
        self.approval_card(grant)
            .is_some_and(|(channel, _)| channel == T_INCIDENT)
    }

    fn approval(&self, grant: &str) -> Option<Shown> {
        let (channel, id) = self.approval_card(grant)?;
        self.teams.activity(&channel, &id).map(|card| shown(&card))
    }

    fn review(&self, grant: &str) -> Option<Shown> {
        self.review_card(grant).map(|card| shown(&card))
    }

    async fn review_reply_says(&self, grant: &str, phrase: &str) -> String {
        let review = wait_for("the review request", || {
            self.review_card_id(grant).ok_or_else(String::new)
        })
        .await;
        let reply = self
            .take_next(T_AUDIT, |id, a| {
                let replied_to = self.teams.replied_to(T_AUDIT, id);
                replied_to.as_deref() == Some(review.as_str()) && activity_text(a).contains(phrase)
            })
            .await;
        activity_text(&reply)
    }

    fn count_posts_saying(&self, phrase: &str) -> usize {
        let sent = self.teams.activities().into_iter();
        let posts = sent.filter(|a| a.method != "update");
        posts
            .filter(|a| activity_text(&a.body).contains(phrase))
            .count()
    }

    fn summary(&self, grant: &str) -> Option<(String, Value)> {
        let (channel, id) = self.summary_card(grant)?;
        let summary = self.teams.activity(&channel, &id)?;
        Some((shown_text(&summary), summary))
    }

    async fn cleans_up(&self, who: Person, action: &str, grant: &str, item: &str) -> String {
        let data = serde_json::json!({ "grant": grant, "item": item });
        let (channel, card) = self.summary_card(grant).expect("the summary was posted");
        let on = (channel.as_str(), Some(card.as_str()));
        let (status, answer) = self.click_on_card(teams_id(who), on, action, data).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer["type"], "application/vnd.microsoft.card.adaptive",
            "the summary as it now stands: {answer}"
        );
        let card = serde_json::json!({ "attachments": [{ "content": answer["value"] }] });
        shown_text(&card)
    }

    async fn refused_cleanup(&self, who: Person, action: &str, grant: &str, item: &str) -> String {
        let data = serde_json::json!({ "grant": grant, "item": item });
        let (status, answer) = self.click_with(teams_id(who), action, data).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["type"], "application/vnd.microsoft.activity.message");
        answer["value"].as_str().unwrap().to_string()
    }
}
