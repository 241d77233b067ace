//! `POST /teams/messages`: Bot Framework activities. Each is authenticated (the JWT the Bot
//! Connector signs) and must come from the configured tenant. Messages are requests and
//! subcommands (`prod-access edit payments 2h reason`); Adaptive Card `Action.Execute` clicks
//! are answered with the card as it now stands, or with the refusal as a message to the clicker.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::app::{App, Asks, Click};
use crate::chat::{Chat, Message};
use crate::http::refusal::Refusal;
use crate::teams::auth::BotAuth;
use crate::teams::client::TeamsChat;
use crate::teams::connector::ActivityRef;

pub struct TeamsEndpoint {
    pub auth: BotAuth,
    pub chat: Arc<TeamsChat>,
}

pub fn router(endpoint: Arc<TeamsEndpoint>) -> Router<Arc<App>> {
    Router::new().route("/teams/messages", post(messages).layer(Extension(endpoint)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Activity {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
    service_url: String,
    channel_id: String,
    from: Account,
    conversation: Conversation,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    channel_data: Option<Value>,
    /// `conversationUpdate`: who left the team or conversation.
    #[serde(default)]
    members_removed: Vec<Account>,
}

#[derive(Debug, Deserialize)]
struct Account {
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Conversation {
    id: String,
    #[serde(default)]
    conversation_type: Option<String>,
    #[serde(default)]
    tenant_id: Option<String>,
}

impl Activity {
    /// The tenant as the Bot Connector states it (not `channelData`, which the client writes).
    fn tenant(&self) -> Option<&str> {
        self.conversation.tenant_id.as_deref()
    }

    /// The conversation without a channel thread's `;messageid=…`: the channel itself.
    fn base_conversation(&self) -> &str {
        self.conversation
            .id
            .split(';')
            .next()
            .unwrap_or(&self.conversation.id)
    }

    /// Where the sender is looked up: in a channel its team (member calls on a channel thread
    /// fail), otherwise the conversation.
    fn member_conversation(&self) -> &str {
        self.channel_data
            .as_ref()
            .and_then(|d| d.pointer("/team/id"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| self.base_conversation())
    }
}

async fn messages(
    State(app): State<Arc<App>>,
    Extension(teams): Extension<Arc<TeamsEndpoint>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if authorization.is_none() {
        return Refusal::Unauthenticated("no bearer token".into()).into_response();
    }
    let activity: Activity = match serde_json::from_slice(&body) {
        Ok(activity) => activity,
        Err(e) => {
            return Refusal::Malformed(format!("not an activity: {e}")).into_response();
        }
    };
    if let Err(e) = teams
        .auth
        .verify(authorization, &activity.channel_id, &activity.service_url)
        .await
    {
        warn!(error = %e, "refused a Teams request");
        return Refusal::Unauthenticated(e.to_string()).into_response();
    }
    // Only Teams: other channels of the same Azure Bot (Web Chat, Direct Line) let the client
    // say who it is.
    if activity.channel_id != "msteams" {
        warn!(channel = %activity.channel_id, "refused an activity from another channel than Teams");
        return Refusal::NotServed("this bot serves Microsoft Teams only".into()).into_response();
    }
    if activity.tenant() != Some(teams.chat.tenant_id()) {
        warn!(tenant = ?activity.tenant(), "refused an activity from another tenant");
        return Refusal::NotServed("this bot serves another tenant".into()).into_response();
    }
    match (activity.kind.as_str(), activity.name.as_deref()) {
        ("message", _) => message(&app, &teams.chat, &activity).await,
        ("invoke", Some("adaptiveCard/action")) => card_action(&app, &teams.chat, &activity).await,
        // Someone left: only a look-up in the bot's own team says whether they are gone from
        // it, and who they were to prod-access (the activity names only their Teams id).
        ("conversationUpdate", _) if !activity.members_removed.is_empty() => {
            app.spawn_check_requesters();
            StatusCode::OK.into_response()
        }
        // Installs, members joining, reactions: nothing to do.
        _ => StatusCode::OK.into_response(),
    }
}

/// The sender's email (their name to prod-access), or why there is none.
async fn sender(chat: &TeamsChat, activity: &Activity) -> Result<String, Refusal> {
    match chat
        .identify(
            &activity.service_url,
            activity.member_conversation(),
            &activity.from.id,
        )
        .await
    {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(Refusal::NotServed("the sender has no email address".into())),
        Err(e) => {
            warn!(error = %e, "cannot tell who sent a Teams activity");
            Err(Refusal::Unavailable("cannot tell who sent this".into()))
        }
    }
}

async fn message(app: &Arc<App>, chat: &TeamsChat, activity: &Activity) -> Response {
    let user = match sender(chat, activity).await {
        Ok(user) => user,
        Err(Refusal::NotServed(_)) => {
            let reply = app.unidentified_sender();
            if let Err(e) = chat
                .connector()
                .reply(&activity_ref(activity), &reply.0)
                .await
            {
                warn!(error = %e, "could not answer a sender without an email");
            }
            return StatusCode::OK.into_response();
        }
        Err(refusal) => return refusal.into_response(),
    };
    let text = command_text(activity.text.as_deref().unwrap_or(""));
    let Some(reply) = app
        .handle_command(&user, activity.base_conversation(), &text, "")
        .await
    else {
        return StatusCode::OK.into_response();
    };
    // Answers are for the person who asked: in their chat with the bot, not in a channel.
    let sent = match (
        activity.conversation.conversation_type.as_deref(),
        &activity.id,
    ) {
        (Some("personal"), Some(_)) => chat
            .connector()
            .reply(&activity_ref(activity), &reply.0)
            .await
            .map(|_| ()),
        _ => chat.dm(&user, &reply).await.map(|_| ()),
    };
    if let Err(e) = sent {
        warn!(error = %e, user, "could not answer a Teams message");
    }
    StatusCode::OK.into_response()
}

async fn card_action(app: &Arc<App>, chat: &TeamsChat, activity: &Activity) -> Response {
    let value = activity.value.as_ref();
    let verb = value
        .and_then(|v| v.pointer("/action/verb"))
        .and_then(Value::as_str);
    let data = |key: &str| {
        value
            .and_then(|v| v.pointer(&format!("/action/data/{key}")))
            .and_then(Value::as_str)
    };
    let (grant, item) = (data("grant"), data("item"));
    let asks = verb.and_then(|verb| Asks::of(verb, item));
    let (Some(asks), Some(grant)) = (asks, grant) else {
        return invoke_answer(json!({
            "statusCode": 400,
            "type": "application/vnd.microsoft.error",
            "value": { "code": "BadRequest", "message": "unknown action" }
        }));
    };
    let user = match sender(chat, activity).await {
        Ok(user) => user,
        Err(Refusal::NotServed(_)) => {
            return invoke_answer(json!({
                "statusCode": 200,
                "type": "application/vnd.microsoft.activity.message",
                "value": app.unidentified_sender().text(),
            }));
        }
        Err(refusal) => return refusal.into_response(),
    };
    info!(grant, user, verb, "card action");
    // The clicker's card is replaced by the invoke's answer. The message it names
    // (`replyToId`) is not updated: that id comes with the click, so an approver could have
    // any card the bot can update replaced with this grant's summary.
    let click = Click {
        grant_id: grant.to_string(),
        asks,
        message: None,
    };
    invoke_answer(match app.click_for_card(&click, &user).await {
        Ok(card) => json!({
            "statusCode": 200,
            "type": "application/vnd.microsoft.card.adaptive",
            "value": adaptive_card(&card),
        }),
        Err(refusal) => json!({
            "statusCode": 200,
            "type": "application/vnd.microsoft.activity.message",
            "value": refusal.text(),
        }),
    })
}

/// Where a reply to `activity` goes.
fn activity_ref(activity: &Activity) -> ActivityRef {
    ActivityRef {
        service_url: activity.service_url.clone(),
        conversation_id: activity.conversation.id.clone(),
        activity_id: activity.id.clone().unwrap_or_default(),
    }
}

/// An invoke is answered in the HTTP response: always 200, the outcome in the body.
fn invoke_answer(body: Value) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

/// The message's Adaptive Card, or its text as one.
fn adaptive_card(message: &Message) -> Value {
    let attached = message.0["attachments"].as_array().and_then(|a| {
        a.iter()
            .find(|a| a["contentType"] == "application/vnd.microsoft.card.adaptive")
    });
    match attached {
        Some(attachment) => attachment["content"].clone(),
        None => json!({
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.4",
            "body": [ { "type": "TextBlock", "wrap": true, "text": message.text() } ]
        }),
    }
}

/// What the person typed, as the slash command's text: the bot's @mention (`<at>…</at>`) and a
/// leading `prod-access` (or `/prod-access`) removed, HTML entities Teams adds decoded.
pub fn command_text(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<at>") {
        plain.push_str(&rest[..start]);
        match rest[start..].find("</at>") {
            Some(end) => rest = &rest[start + end + "</at>".len()..],
            None => {
                rest = "";
            }
        }
    }
    plain.push_str(rest);
    let plain = plain
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let words: Vec<&str> = plain.split_whitespace().collect();
    let words = match words.first() {
        Some(first)
            if first
                .trim_start_matches('/')
                .eq_ignore_ascii_case("prod-access") =>
        {
            &words[1..]
        }
        _ => &words[..],
    };
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::command_text;

    #[test]
    fn the_mention_and_the_bot_name_are_not_part_of_the_command() {
        assert_eq!(
            command_text("<at>prod-access</at> edit payments 2h fix &amp; check\n"),
            "edit payments 2h fix & check"
        );
        assert_eq!(
            command_text("prod-access edit payments 2h"),
            "edit payments 2h"
        );
        assert_eq!(command_text("/Prod-Access list"), "list");
        assert_eq!(command_text("status abc123"), "status abc123");
        assert_eq!(command_text("<at>prod-access</at>"), "");
        assert_eq!(command_text("edit <at>unclosed"), "edit");
    }

    #[test]
    fn a_name_inside_the_reason_stays() {
        assert_eq!(
            command_text("edit payments 2h prod-access docs said so"),
            "edit payments 2h prod-access docs said so"
        );
    }
}
