//! `POST /slack/commands` and `POST /slack/interactions`. slack-morphism's events layer verifies
//! the v0 signature and its age before a handler runs; handlers answer Slack at once and leave
//! slow work to background tasks.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use slack_morphism::listener::SlackClientEventsListenerEnvironment;
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::{
    SlackEventAbsentSignatureError, SlackEventSignatureVerifierError,
};
use tracing::{debug, warn};

use crate::app::{Action, App, RequestForm};

/// The `callback_id` of the request form (templates/slack/request_modal.json).
const REQUEST_FORM: &str = "prod-access-request";
use crate::chat::slack::{SlackApiClient, SlackConnector};

pub fn router(client: Arc<SlackApiClient>, signing_secret: &str) -> Router<Arc<App>> {
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(client).with_error_handler(rejection_status),
    );
    let listener = SlackEventsAxumListener::new(environment);
    let secret: SlackSigningSecret = signing_secret.to_string().into();
    Router::new()
        .route(
            "/slack/commands",
            post(command).layer(
                listener
                    .events_layer(&secret)
                    .with_event_extractor(SlackEventsExtractors::command_event()),
            ),
        )
        .route(
            "/slack/interactions",
            post(interaction).layer(
                listener
                    .events_layer(&secret)
                    .with_event_extractor(SlackEventsExtractors::interaction_event()),
            ),
        )
}

/// A missing, wrong or stale signature is 401; a signed body we cannot read is 400.
fn rejection_status(
    err: Box<dyn std::error::Error + Send + Sync + 'static>,
    _client: Arc<SlackClient<SlackConnector>>,
    _state: slack_morphism::listener::SlackClientEventsUserState,
) -> StatusCode {
    if err
        .downcast_ref::<SlackEventSignatureVerifierError>()
        .is_some()
        || err
            .downcast_ref::<SlackEventAbsentSignatureError>()
            .is_some()
    {
        warn!(error = %err, "refused a Slack request with a bad signature");
        StatusCode::UNAUTHORIZED
    } else {
        warn!(error = %err, "refused a malformed Slack request");
        StatusCode::BAD_REQUEST
    }
}

async fn command(
    State(app): State<Arc<App>>,
    Extension(event): Extension<SlackCommandEvent>,
) -> Response {
    let text = event.text.as_deref().unwrap_or("");
    let reply = app
        .handle_command(
            event.user_id.as_ref(),
            event.channel_id.as_ref(),
            text,
            event.trigger_id.as_ref(),
        )
        .await;
    let Some(reply) = reply else {
        // A form was opened; an empty 200 tells Slack to show nothing else.
        return StatusCode::OK.into_response();
    };
    let mut body = reply.0;
    if let Value::Object(fields) = &mut body {
        fields.insert("response_type".into(), json!("ephemeral"));
    }
    Json(body).into_response()
}

async fn interaction(
    State(app): State<Arc<App>>,
    Extension(event): Extension<SlackInteractionEvent>,
) -> Response {
    match event {
        SlackInteractionEvent::BlockActions(actions) => button(&app, actions).into_response(),
        SlackInteractionEvent::ViewSubmission(submission) => form(&app, submission).await,
        _ => {
            debug!("ignored an interaction that is neither a click nor a form");
            StatusCode::OK.into_response()
        }
    }
}

async fn form(app: &Arc<App>, submission: SlackInteractionViewSubmissionEvent) -> Response {
    let view = &submission.view;
    let SlackView::Modal(modal) = &view.view else {
        return StatusCode::OK.into_response();
    };
    if modal.callback_id.as_ref().map(|c| c.as_ref()) != Some(REQUEST_FORM) {
        debug!("ignored a form that is not the request form");
        return StatusCode::OK.into_response();
    }
    let values = view.state_params.state.as_ref().map(|s| &s.values);
    let field = |block: &str| -> String {
        let value = values.and_then(|v| {
            v.iter()
                .find(|(id, _)| id.as_ref() == block)
                .and_then(|(_, actions)| actions.values().next())
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
    let request = RequestForm {
        role: field("role"),
        namespace: field("namespace"),
        duration: field("duration"),
        reason: field("reason"),
        channel: modal.private_metadata.clone().unwrap_or_default(),
    };
    let errors = app.handle_form(submission.user.id.as_ref(), request).await;
    if errors.is_empty() {
        StatusCode::OK.into_response()
    } else {
        Json(json!({ "response_action": "errors", "errors": errors })).into_response()
    }
}

fn button(app: &Arc<App>, actions: SlackInteractionBlockActionsEvent) -> StatusCode {
    let Some(user) = actions.user.as_ref().map(|u| u.id.to_string()) else {
        return StatusCode::BAD_REQUEST;
    };
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
    let Some(channel) = channel else {
        return StatusCode::BAD_REQUEST;
    };
    for action in actions.actions.unwrap_or_default() {
        let Some(kind) = Action::from_id(action.action_id.as_ref()) else {
            debug!(action = %action.action_id, "ignored an unknown action");
            continue;
        };
        let Some(grant_id) = action.value else {
            return StatusCode::BAD_REQUEST;
        };
        app.spawn_click(grant_id, user.clone(), channel.clone(), kind);
    }
    StatusCode::OK
}
