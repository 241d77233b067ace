//! What Slack sends, built the way Slack builds it: signatures, slash-command bodies, button
//! clicks, form submissions and events (form-encoded for HTTP, JSON for Socket Mode), and
//! helpers that read messages back.

use serde_json::{Value, json};

use super::APPROVALS;
use super::DEV_CHANNEL;

use prod_access::fakes::slack::requests::trigger_id;
pub use prod_access::fakes::slack::requests::{TRIGGER_ID_PREFIX, button_value, form, sign};
use prod_access::fakes::slack::requests::{command_fields, interaction_payload_in};

/// `request` carrying `body` of `content_type`, signed the way Slack signs: v0, with `secret`,
/// at `unix_ts`.
pub fn slack_signed(
    request: reqwest::RequestBuilder,
    content_type: &str,
    body: String,
    (secret, unix_ts): (&str, i64),
) -> reqwest::RequestBuilder {
    let signature = sign(secret, unix_ts, &body);
    request
        .header("content-type", content_type)
        .header("x-slack-request-timestamp", unix_ts.to_string())
        .header("x-slack-signature", signature)
        .body(body)
}

/// A slash-command body with every field Slack sends.
pub fn command_body(user: &str, text: &str) -> String {
    form(&command_fields(user, DEV_CHANNEL, text))
}

/// The slash command typed in `channel`.
pub fn command_body_in(user: &str, channel: &str, text: &str) -> String {
    form(&command_fields(user, channel, text))
}

/// The same fields as Socket Mode's `slash_commands` envelope carries them: a JSON object.
pub fn command_payload(user: &str, text: &str) -> Value {
    let fields = command_fields(user, DEV_CHANNEL, text);
    Value::Object(
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
    )
}

/// The Events API callback Slack sends when `user` opens the Home tab.
pub fn app_home_opened(user: &str) -> Value {
    json!({
        "token": "gIkuvaNzQIHg97ATvDxqgjtO", "team_id": "T0FAKE", "api_app_id": "A0PRODACCESS",
        "event": {
            "type": "app_home_opened", "user": user, "channel": format!("D{user}"),
            "tab": "home", "event_ts": "1700000000.000300"
        },
        "type": "event_callback", "event_id": format!("Ev0PRODACCESS{:08}", fastrand::u32(..)),
        "event_time": 1700000000,
        "authorizations": [{ "team_id": "T0FAKE", "user_id": "U0BOT", "is_bot": true, "is_enterprise_install": false }]
    })
}

/// The Events API callback Slack sends when a user's account changes (`user_change`), with the
/// user as `users.info` shows them.
pub fn user_change(user: Value) -> Value {
    json!({
        "token": "gIkuvaNzQIHg97ATvDxqgjtO", "team_id": "T0FAKE", "api_app_id": "A0PRODACCESS",
        "event": {
            "type": "user_change", "user": user, "cache_ts": 1700000000,
            "event_ts": "1700000000.000400"
        },
        "type": "event_callback", "event_id": "Ev0PRODACCESS2", "event_time": 1700000000,
        "authorizations": [{ "team_id": "T0FAKE", "user_id": "U0BOT", "is_bot": true, "is_enterprise_install": false }]
    })
}

/// A `block_actions` body as Slack sends it for a button click on the approval message.
pub fn interaction_body(user: &str, action: &str, grant: &str) -> String {
    form(&[(
        "payload",
        &interaction_payload(user, action, grant).to_string(),
    )])
}

/// The `block_actions` payload of a button click (Socket Mode sends it as is).
pub fn interaction_payload(user: &str, action: &str, grant: &str) -> Value {
    interaction_payload_in(user, APPROVALS, action, grant)
}

/// A `view_submission` body for the request form, as Slack sends it when the user submits.
pub fn form_submission_body(user: &str, view: &Value, fields: &[(&str, &str)]) -> String {
    form(&[(
        "payload",
        &form_submission_payload(user, view, fields).to_string(),
    )])
}

/// The `view_submission` payload itself (Socket Mode sends it as is).
pub fn form_submission_payload(user: &str, view: &Value, fields: &[(&str, &str)]) -> Value {
    let mut values = serde_json::Map::new();
    for (block, value) in fields {
        let element = view["blocks"]
            .as_array()
            .and_then(|blocks| blocks.iter().find(|b| b["block_id"] == *block))
            .map(|b| b["element"].clone())
            .unwrap_or(Value::Null);
        let state = if element["type"] == "static_select" {
            json!({ "type": "static_select", "selected_option": {
                "text": { "type": "plain_text", "text": value, "emoji": true }, "value": value } })
        } else {
            json!({ "type": "plain_text_input", "value": value })
        };
        values.insert(block.to_string(), json!({ "value": state }));
    }
    let mut submitted = view.clone();
    submitted["id"] = json!("V0FAKEVIEW");
    submitted["team_id"] = json!("T0FAKE");
    submitted["hash"] = json!("1700000000.abcdef");
    submitted["state"] = json!({ "values": values });
    submitted["app_id"] = json!("A0PRODACCESS");
    submitted["bot_id"] = json!("B0FAKE");
    submitted["root_view_id"] = json!("V0FAKEVIEW");
    json!({
        "type": "view_submission",
        "team": { "id": "T0FAKE", "domain": "acme" },
        "user": { "id": user, "username": "someone", "name": "someone", "team_id": "T0FAKE" },
        "api_app_id": "A0PRODACCESS",
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "trigger_id": trigger_id(),
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": false
    })
}

/// Every piece of text in a message (its `text` and all block texts), for assertions.
pub fn all_text(message: &Value) -> String {
    fn collect(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
            Value::Object(fields) => fields.values().for_each(|f| collect(f, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    collect(message, &mut out);
    out
}
