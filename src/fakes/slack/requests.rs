//! What Slack sends an app, built the way Slack builds it: the v0 signature, slash-command bodies
//! and button clicks (`block_actions`), form-encoded as Slack posts them; and the buttons of a
//! message the app posted, as Slack would show them.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// Slack's `x-slack-signature` for `body` sent at `unix_ts`.
pub fn sign(secret: &str, unix_ts: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("v0:{unix_ts}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn form(pairs: &[(impl AsRef<str>, impl AsRef<str>)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k.as_ref(), v.as_ref());
    }
    serializer.finish()
}

/// What Slack puts before a trigger id; the rest differs for every command and click.
pub const TRIGGER_ID_PREFIX: &str = "13345224609.738474920.";

/// A new trigger id: Slack makes one for every command and click, so no two requests it sends
/// have the same body.
pub fn trigger_id() -> String {
    format!("{TRIGGER_ID_PREFIX}{:032x}", fastrand::u128(..))
}

/// Every field of a slash command typed by `user` in `channel`.
pub fn command_fields(user: &str, channel: &str, text: &str) -> Vec<(&'static str, String)> {
    [
        ("token", "gIkuvaNzQIHg97ATvDxqgjtO"),
        ("team_id", "T0FAKE"),
        ("team_domain", "acme"),
        ("channel_id", channel),
        ("channel_name", "dev"),
        ("user_id", user),
        ("user_name", "someone"),
        ("command", "/prod-access"),
        ("text", text),
        ("api_app_id", "A0PRODACCESS"),
        ("is_enterprise_install", "false"),
        (
            "response_url",
            "https://hooks.slack.com/commands/T0FAKE/1/abc",
        ),
        ("trigger_id", &trigger_id()),
    ]
    .map(|(name, value)| (name, value.to_string()))
    .into()
}

/// The `block_actions` payload of `user` clicking button `action` for `grant` on a message in
/// `channel`.
pub fn interaction_payload_in(user: &str, channel: &str, action: &str, grant: &str) -> Value {
    click_payload(user, channel, "1700000000.000101", action, grant)
}

/// The `block_actions` payload of `user` clicking button `action`, whose value is `value`, on
/// the message `ts` in `channel`.
pub fn click_payload(user: &str, channel: &str, ts: &str, action: &str, value: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": { "id": user, "username": "someone", "name": "someone", "team_id": "T0FAKE" },
        "api_app_id": "A0PRODACCESS",
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "container": {
            "type": "message", "message_ts": ts,
            "channel_id": channel, "is_ephemeral": false
        },
        "trigger_id": trigger_id(),
        "team": { "id": "T0FAKE", "domain": "acme" },
        "is_enterprise_install": false,
        "channel": { "id": channel, "name": "prod-access-approvals" },
        "message": {
            "type": "message", "subtype": "bot_message", "text": "approval request",
            "ts": ts, "bot_id": "B0FAKE"
        },
        "state": { "values": {} },
        "response_url": "https://hooks.slack.com/actions/T0FAKE/1/xyz",
        "actions": [{
            "action_id": action, "block_id": "decision",
            "text": { "type": "plain_text", "text": action, "emoji": true },
            "value": value, "style": "primary", "type": "button",
            "action_ts": format!("1700000001.{:06}", fastrand::u32(..1_000_000))
        }]
    })
}

/// The `value` of the button with `action_id` in a message's blocks.
pub fn button_value(message: &Value, action_id: &str) -> Option<String> {
    let blocks = match &message["blocks"] {
        Value::String(s) => serde_json::from_str(s).ok()?,
        other => other.clone(),
    };
    let value_of =
        |e: &Value| (e["action_id"] == action_id).then(|| e["value"].as_str().map(String::from))?;
    blocks.as_array()?.iter().find_map(|block| {
        value_of(&block["accessory"])
            .or_else(|| block["elements"].as_array()?.iter().find_map(value_of))
    })
}
