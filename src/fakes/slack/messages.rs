//! The fake Slack's messages: `chat.postMessage`, `chat.update`, `chat.postEphemeral` and
//! `chat.getPermalink`, refused for the reasons Slack refuses them.

use serde_json::{Value, json};

use super::blocks::blocks_within_limits;
use super::{Reply, State_, ok, param, slack_error};

/// One of the three writing methods, after the checks they share.
pub(super) fn write(state: &mut State_, method: &str, params: &Value) -> Reply {
    if let Some(refusal) = refusal(state, params) {
        return refusal;
    }
    match method {
        "chat.postMessage" => post(state, params),
        "chat.update" => update(state, params),
        _ => ephemeral(state, params),
    }
}

/// Why Slack would refuse to write this message anywhere.
fn refusal(state: &State_, params: &Value) -> Option<Reply> {
    let channel = param(params, "channel");
    let text = param(params, "text");
    let code = if channel.is_empty() || state.missing_channels.contains(&channel) {
        "channel_not_found"
    } else if !channel.starts_with('D')
        && state
            .member_of
            .as_ref()
            .is_some_and(|m| !m.contains(&channel))
    {
        "not_in_channel"
    } else if text.is_empty() && params.get("blocks").is_none() {
        "no_text"
    } else if text.len() > 40_000 {
        "msg_too_long"
    } else if !blocks_within_limits(params.get("blocks")) {
        "invalid_blocks"
    } else {
        return None;
    };
    Some(slack_error(code))
}

fn post(state: &mut State_, params: &Value) -> Reply {
    let channel = param(params, "channel");
    state.next_ts += 1;
    let ts = format!(
        "{}.{:06}",
        state.next_ts / 1_000_000,
        state.next_ts % 1_000_000
    );
    let mut message = json!({
        "type": "message", "subtype": "bot_message", "ts": ts, "bot_id": "B0FAKE",
        "text": params.get("text"), "blocks": params.get("blocks"),
    });
    if let Some(parent) = params.get("thread_ts") {
        let parent_key = (channel.clone(), param(params, "thread_ts"));
        if !state.messages.contains_key(&parent_key) {
            return slack_error("thread_not_found");
        }
        message["thread_ts"] = parent.clone();
    }
    state
        .messages
        .insert((channel.clone(), ts.clone()), message.clone());
    ok(json!({ "ok": true, "channel": channel, "ts": ts, "message": message }))
}

fn update(state: &mut State_, params: &Value) -> Reply {
    let channel = param(params, "channel");
    let ts = param(params, "ts");
    let key = (channel.clone(), ts.clone());
    if !state.messages.contains_key(&key) {
        return slack_error("message_not_found");
    }
    let message = json!({
        "type": "message", "bot_id": "B0FAKE",
        "text": params.get("text"), "blocks": params.get("blocks"),
    });
    let mut stored = message.clone();
    stored["ts"] = json!(ts);
    state.messages.insert(key, stored);
    ok(json!({
        "ok": true, "channel": channel, "ts": ts, "text": params.get("text"),
        "message": message,
    }))
}

fn ephemeral(state: &State_, params: &Value) -> Reply {
    if !state.users.contains_key(&param(params, "user")) {
        return slack_error("user_not_in_channel");
    }
    ok(json!({ "ok": true, "message_ts": "1700000000.999999" }))
}

pub(super) fn permalink(state: &State_, params: &Value) -> Reply {
    let channel = param(params, "channel");
    let ts = param(params, "message_ts");
    if state.missing_channels.contains(&channel) {
        return slack_error("channel_not_found");
    }
    if !state.messages.contains_key(&(channel.clone(), ts.clone())) {
        return slack_error("message_not_found");
    }
    let permalink = format!(
        "https://acme.slack.com/archives/{channel}/p{}",
        ts.replace('.', "")
    );
    ok(json!({ "ok": true, "channel": channel, "permalink": permalink }))
}
