//! Reading a Slack interaction (a button click or a form submission) from its signed body. Pure,
//! so the code the interactions endpoint runs is the code `fuzz/` feeds arbitrary bytes to.

use slack_morphism::prelude::*;
use tracing::debug;

use crate::app::{Asks, Click, RequestForm};
use crate::domain::grant::MessageRef;

/// The `callback_id` of the request form (templates/slack/request_modal.json).
pub const REQUEST_FORM: &str = "prod-access-request";

/// The `action_id` of every input of the request form, each in a block named after its field.
const FIELD: &str = "value";

/// What an interaction asks the bot to do.
#[derive(Debug, Clone)]
pub enum Interaction {
    /// A button clicked by `user` on a message in `channel`, or (no channel) on their App Home.
    /// A click on a button the bot does not know is `Ignored`.
    Click {
        user: String,
        channel: Option<String>,
        click: Click,
    },
    /// The request form, submitted by `user`.
    Form { user: String, form: RequestForm },
    /// Anything else Slack may send (another form, a shortcut, a closed view): nothing to do.
    Ignored,
}

/// Why a signed body is not an interaction the bot can act on; answered with 400.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the body is not UTF-8")]
    NotUtf8,
    #[error("the body has no `payload` field")]
    NoPayload,
    #[error("the payload is not an interaction: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the click names no user")]
    NoUser,
    #[error("the `{action_id}` button carries no grant id")]
    NoValue { action_id: String },
    /// Slack sends exactly one action per click; acting on part of a payload that carries
    /// more would act on input no click produced.
    #[error("one click carries {} actions ({}); Slack sends one", .0.len(), .0.join(", "))]
    SeveralActions(Vec<String>),
}

/// Decodes a verified body: form-urlencoded with the interaction as JSON in its `payload` field,
/// read exactly as slack-morphism's interaction extractor reads it.
pub fn decode(body: &[u8]) -> Result<Interaction, DecodeError> {
    from_event(event(body)?)
}

/// The interaction event in a verified body.
pub fn event(body: &[u8]) -> Result<SlackInteractionEvent, DecodeError> {
    // slack-morphism turns the body into a String before verifying it, so a body that is not
    // UTF-8 never reaches its extractor either.
    let body = std::str::from_utf8(body).map_err(|_| DecodeError::NotUtf8)?;
    // Collected into a map, as slack-morphism does: of repeated `payload` fields the last counts.
    let payload = url::form_urlencoded::parse(body.as_bytes())
        .filter(|(key, _)| key == "payload")
        .map(|(_, value)| value)
        .last()
        .ok_or(DecodeError::NoPayload)?;
    Ok(serde_json::from_str::<SlackInteractionEvent>(&payload)?)
}

/// What an interaction event asks for.
pub fn from_event(event: SlackInteractionEvent) -> Result<Interaction, DecodeError> {
    match event {
        SlackInteractionEvent::BlockActions(actions) => click(actions),
        SlackInteractionEvent::ViewSubmission(submission) => Ok(form(submission)),
        _ => {
            debug!("ignored an interaction that is neither a click nor a form");
            Ok(Interaction::Ignored)
        }
    }
}

fn click(actions: SlackInteractionBlockActionsEvent) -> Result<Interaction, DecodeError> {
    let user = actions
        .user
        .as_ref()
        .map(|u| u.id.to_string())
        .ok_or(DecodeError::NoUser)?;
    let channel = actions
        .channel
        .as_ref()
        .map(|c| c.id.to_string())
        .or_else(|| match &actions.container {
            SlackInteractionActionContainer::Message(m) => {
                m.channel_id.as_ref().map(|c| c.to_string())
            }
            _ => None,
        });
    let message = match &actions.container {
        SlackInteractionActionContainer::Message(m) => m.channel_id.as_ref().map(|c| MessageRef {
            channel: c.to_string(),
            ts: m.message_ts.to_string(),
            permalink: None,
        }),
        _ => None,
    };
    let mut actions = actions.actions.unwrap_or_default();
    if actions.len() > 1 {
        let ids = actions.iter().map(|a| a.action_id.to_string()).collect();
        return Err(DecodeError::SeveralActions(ids));
    }
    let Some(action) = actions.pop() else {
        debug!("ignored a click without an action");
        return Ok(Interaction::Ignored);
    };
    if Asks::of(action.action_id.as_ref(), Some("")).is_none() {
        debug!(action = %action.action_id, "ignored an unknown action");
        return Ok(Interaction::Ignored);
    }
    let value = action.value.ok_or_else(|| DecodeError::NoValue {
        action_id: action.action_id.to_string(),
    })?;
    // A cleanup button's value is the grant id, a space, and the item's audit ID.
    let (grant_id, item) = match value.split_once(' ') {
        Some((grant, item)) => (grant.to_string(), Some(item)),
        None => (value.clone(), None),
    };
    let Some(asks) = Asks::of(action.action_id.as_ref(), item) else {
        debug!(action = %action.action_id, "ignored a cleanup button that names no item");
        return Ok(Interaction::Ignored);
    };
    Ok(Interaction::Click {
        user,
        channel,
        click: Click {
            grant_id,
            asks,
            message,
        },
    })
}

fn form(submission: SlackInteractionViewSubmissionEvent) -> Interaction {
    let view = &submission.view;
    let SlackView::Modal(modal) = &view.view else {
        return Interaction::Ignored;
    };
    if modal.callback_id.as_ref().map(|c| c.as_ref()) != Some(REQUEST_FORM) {
        debug!("ignored a form that is not the request form");
        return Interaction::Ignored;
    }
    let values = view.state_params.state.as_ref().map(|s| &s.values);
    let field = |block: &str| -> String {
        // By action id, not "the block's first action": the actions are a map, so with more than
        // one the first would change from run to run (found by fuzz/, see the test below).
        let value = values.and_then(|v| {
            v.iter()
                .find(|(id, _)| id.as_ref() == block)
                .and_then(|(_, actions)| actions.iter().find(|(id, _)| id.as_ref() == FIELD))
                .map(|(_, value)| value)
        });
        value
            .and_then(|v| {
                v.selected_option
                    .as_ref()
                    .map(|o| o.value.clone())
                    .or_else(|| v.value.clone())
            })
            .unwrap_or_default()
    };
    Interaction::Form {
        user: submission.user.id.to_string(),
        form: RequestForm {
            role: field("role"),
            namespace: field("namespace"),
            duration: field("duration"),
            reason: field("reason"),
            channel: modal.private_metadata.clone().unwrap_or_default(),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::app::Action;

    fn body(payload: &Value) -> Vec<u8> {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
            .into_bytes()
    }

    /// A `block_actions` payload as Slack sends it for a click on an approval message.
    fn click(action_id: &str, value: Option<&str>) -> Value {
        let mut action = json!({
            "action_id": action_id, "block_id": "decision",
            "text": { "type": "plain_text", "text": "Approve", "emoji": true },
            "style": "primary", "type": "button", "action_ts": "1700000001.000200"
        });
        if let Some(value) = value {
            action["value"] = json!(value);
        }
        json!({
            "type": "block_actions",
            "user": { "id": "U0BOB", "username": "bob", "name": "bob", "team_id": "T0FAKE" },
            "api_app_id": "A0PRODACCESS",
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",
            "container": {
                "type": "message", "message_ts": "1700000000.000101",
                "channel_id": "C0APPROVALS", "is_ephemeral": false
            },
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "team": { "id": "T0FAKE", "domain": "acme" },
            "channel": { "id": "C0APPROVALS", "name": "prod-access-approvals" },
            "message": {
                "type": "message", "subtype": "bot_message", "text": "approval request",
                "ts": "1700000000.000101", "bot_id": "B0FAKE"
            },
            "state": { "values": {} },
            "response_url": "https://hooks.slack.com/actions/T0FAKE/1/xyz",
            "actions": [action]
        })
    }

    /// A `view_submission` of the request form with a select for the role and text inputs.
    fn submission(callback_id: &str) -> Value {
        json!({
            "type": "view_submission",
            "team": { "id": "T0FAKE", "domain": "acme" },
            "user": { "id": "U0ALICE", "username": "alice", "name": "alice", "team_id": "T0FAKE" },
            "api_app_id": "A0PRODACCESS",
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "view": {
                "id": "V0FAKEVIEW", "team_id": "T0FAKE", "hash": "1700000000.abcdef",
                "type": "modal", "callback_id": callback_id, "private_metadata": "C0DEV",
                "title": { "type": "plain_text", "text": "Request access" },
                "blocks": [],
                "state": { "values": {
                    "role": { "value": { "type": "static_select", "selected_option": {
                        "text": { "type": "plain_text", "text": "edit" }, "value": "edit" } } },
                    "namespace": { "value": { "type": "plain_text_input", "value": "payments" } },
                    "duration": { "value": { "type": "plain_text_input", "value": "2h" } },
                    "reason": { "value": { "type": "plain_text_input", "value": "INC-1 stuck queue" } }
                } }
            }
        })
    }

    #[test]
    fn a_click_names_its_user_channel_action_and_grant() {
        let Ok(Interaction::Click {
            user,
            channel,
            click,
        }) = decode(&body(&self::click("approve", Some("g-1"))))
        else {
            panic!("not read as a click");
        };
        assert_eq!(
            (user.as_str(), channel.as_deref().unwrap_or("")),
            ("U0BOB", "C0APPROVALS")
        );
        assert_eq!(
            click,
            Click {
                grant_id: "g-1".into(),
                asks: Asks::Grant(Action::Approve),
                message: Some(MessageRef {
                    channel: "C0APPROVALS".into(),
                    ts: "1700000000.000101".into(),
                    permalink: None,
                }),
            }
        );
    }

    #[test]
    fn a_cleanup_button_names_the_grant_and_the_item_of_its_end_report() {
        let Ok(Interaction::Click { click, .. }) =
            decode(&body(&self::click("restart_pod", Some("g-1 audit-7"))))
        else {
            panic!("not read as a click");
        };
        assert_eq!(click.grant_id, "g-1");
        assert_eq!(
            click.asks,
            Asks::Cleanup {
                how: crate::domain::activity::Cleanup::Restarted,
                item: "audit-7".into()
            }
        );
        // Without the item it is no cleanup the bot knows.
        let bare = decode(&body(&self::click("mark_reviewed", Some("g-1"))));
        assert!(matches!(bare, Ok(Interaction::Ignored)));
    }

    #[test]
    fn without_a_channel_the_message_container_names_it_and_the_home_tab_has_none() {
        let mut payload = click("deny", Some("g-1"));
        payload.as_object_mut().unwrap().remove("channel");
        let Ok(Interaction::Click { channel, .. }) = decode(&body(&payload)) else {
            panic!("not read as a click");
        };
        assert_eq!(channel.as_deref(), Some("C0APPROVALS"));
        // A click on the App Home is in no channel.
        payload["container"] = json!({ "type": "view", "view_id": "V0FAKEVIEW" });
        let Ok(Interaction::Click { channel, .. }) = decode(&body(&payload)) else {
            panic!("not read as a click");
        };
        assert_eq!(channel, None);
    }

    #[test]
    fn the_request_form_yields_its_fields() {
        let Ok(Interaction::Form { user, form }) = decode(&body(&submission(REQUEST_FORM))) else {
            panic!("not read as the request form");
        };
        assert_eq!(user, "U0ALICE");
        assert_eq!(
            [
                form.role,
                form.namespace,
                form.duration,
                form.reason,
                form.channel
            ],
            ["edit", "payments", "2h", "INC-1 stuck queue", "C0DEV"]
        );
    }

    #[test]
    fn a_field_is_read_from_its_own_input_whatever_else_its_block_holds() {
        let mut payload = submission(REQUEST_FORM);
        payload["view"]["state"]["values"]["namespace"]["other"] =
            json!({ "type": "plain_text_input", "value": "kube-system" });
        // The block's actions are a map in a random order; several decodings would meet both.
        for _ in 0..32 {
            let Ok(Interaction::Form { form, .. }) = decode(&body(&payload)) else {
                panic!("not read as the request form");
            };
            assert_eq!(form.namespace, "payments");
        }
    }

    /// The input fuzz/ found: a namespace block with a second action that has a value, next to
    /// the form's own input without one.
    #[test]
    fn regression_form_block_with_two_actions() {
        let crash = include_bytes!(
            "../../fuzz/regressions/interaction_payload/form-block-with-two-actions"
        );
        for _ in 0..32 {
            let Ok(Interaction::Form { form, .. }) = decode(crash) else {
                panic!("not read as the request form");
            };
            assert_eq!((form.role.as_str(), form.namespace.as_str()), ("", ""));
        }
    }

    #[test]
    fn another_form_or_event_is_ignored() {
        assert!(matches!(
            decode(&body(&submission("someone-elses-form"))),
            Ok(Interaction::Ignored)
        ));
        let mut closed = submission(REQUEST_FORM);
        closed["type"] = json!("view_closed");
        assert!(matches!(decode(&body(&closed)), Ok(Interaction::Ignored)));
    }

    #[test]
    fn a_click_without_a_user_is_refused() {
        let mut payload = click("approve", Some("g-1"));
        payload.as_object_mut().unwrap().remove("user");
        assert!(matches!(decode(&body(&payload)), Err(DecodeError::NoUser)));
    }

    #[test]
    fn an_unknown_button_is_ignored_even_without_a_value() {
        let mut payload = click("approve", Some("g-1"));
        payload["actions"][0] = json!({
            "action_id": "open_docs", "block_id": "decision", "type": "button",
            "action_ts": "1700000001.000200"
        });
        assert!(matches!(decode(&body(&payload)), Ok(Interaction::Ignored)));
    }

    #[test]
    fn a_known_button_without_a_grant_id_is_refused() {
        assert!(matches!(
            decode(&body(&click("deny", None))),
            Err(DecodeError::NoValue { action_id }) if action_id == "deny"
        ));
    }

    #[test]
    fn a_payload_with_two_actions_is_refused_whole() {
        let mut payload = click("approve", Some("g-1"));
        let second = click("approve", Some("g-2"))["actions"][0].clone();
        payload["actions"].as_array_mut().unwrap().push(second);
        assert!(matches!(
            decode(&body(&payload)),
            Err(DecodeError::SeveralActions(ids)) if ids == ["approve", "approve"]
        ));
        // Whatever the other action is: nothing in the payload is acted on.
        let mut payload = click("approve", Some("g-1"));
        let unknown = json!({ "action_id": "open_docs", "block_id": "decision", "type": "button" });
        payload["actions"]
            .as_array_mut()
            .unwrap()
            .insert(0, unknown);
        assert!(matches!(
            decode(&body(&payload)),
            Err(DecodeError::SeveralActions(_))
        ));
    }

    #[test]
    fn bodies_that_are_not_interactions_are_refused() {
        assert!(matches!(decode(b"token=abc"), Err(DecodeError::NoPayload)));
        assert!(matches!(decode(b"payload=%7B"), Err(DecodeError::Json(_))));
        assert!(matches!(decode(b"payload=%FF"), Err(DecodeError::Json(_))));
        assert!(matches!(decode(&[0xff, 0xfe]), Err(DecodeError::NotUtf8)));
    }

    #[test]
    fn the_last_payload_field_counts() {
        let mut body = b"payload=%7B&".to_vec();
        body.extend(self::body(&click("drop", Some("g-2"))));
        let Ok(Interaction::Click { click, .. }) = decode(&body) else {
            panic!("the last payload was not read");
        };
        assert_eq!(click.asks, Asks::Grant(Action::Drop));
    }
}
