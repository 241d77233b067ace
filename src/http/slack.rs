//! `POST /slack/commands` and `POST /slack/interactions`. slack-morphism's events layer verifies
//! the v0 signature and its age before a handler runs; handlers answer Slack at once and leave
//! slow work to background tasks.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use slack_morphism::listener::SlackClientEventsListenerEnvironment;
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::{
    SlackEventAbsentSignatureError, SlackEventSignatureVerifierError,
};
use tracing::{debug, warn};

use crate::app::{Action, App};
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
) -> Json<Value> {
    let text = event.text.as_deref().unwrap_or("");
    let reply = app
        .handle_command(event.user_id.as_ref(), event.channel_id.as_ref(), text)
        .await;
    let mut body = reply.0;
    if let Value::Object(fields) = &mut body {
        fields.insert("response_type".into(), json!("ephemeral"));
    }
    Json(body)
}

async fn interaction(
    State(app): State<Arc<App>>,
    Extension(event): Extension<SlackInteractionEvent>,
) -> StatusCode {
    let SlackInteractionEvent::BlockActions(actions) = event else {
        debug!("ignored an interaction that is not a button click");
        return StatusCode::OK;
    };
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
